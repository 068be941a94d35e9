/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_store.h
 * @brief The measurement store's writer: one background thread per child
 *        process that takes finished rows from a bounded queue and writes
 *        them, with their spans and the per-minute rollups, in one
 *        transaction per batch through mod_dbd.
 *
 * Request threads only call prof_store_submit(): a push onto the queue
 * under a mutex held for a pointer store, never a database call. The
 * database is the one mod_dbd is configured with for the main server
 * (DBDriver/DBDParams outside any <VirtualHost>); the writer takes a
 * connection with ap_dbd_open() for each batch and gives it back after.
 *
 * Faults (database down, locked, full, read-only) never reach requests:
 * a failed batch is retried once, then its rows are counted as lost and
 * the writer backs off; one error line starts an outage and one notice
 * ends it, with the count of rows lost in between.
 */

#ifndef MOD_PROFILER_STORE_H
#define MOD_PROFILER_STORE_H

#include "apr_dbd.h"

#include "httpd.h"
#include "mod_dbd.h"

#include "prof_row.h"
#include "prof_sql.h"
#include "mod_profiler_config.h"

/** Does this process have a running writer? Set once in child_init,
 * before any request is served, and only read afterwards. */
int prof_store_running(void);

/**
 * Hand a finished row to the writer, from any thread. Never waits.
 * @return 1 when the writer owns the row now; 0 when it was refused (queue
 *         full or closed, or no writer; counted) and the caller still owns it.
 */
int prof_store_submit(prof_row_t *row);

/** Count n rows that were lost before they could be submitted (out of
 * memory). Thread-safe. */
void prof_store_count_lost(apr_uint32_t n);

/** A connection with the store's schema ready, for the writer, retention
 * and the report. */
typedef struct {
    server_rec *s;              /**< the main server, for logging */
    ap_dbd_t *dbd;
    prof_sql_dialect_t dialect;
    const char *prefix;
} prof_db_t;

/**
 * Take a connection from mod_dbd for the main server s and make sure the
 * schema is there and current (creating or migrating it once per process,
 * again after an error). Logs nothing: the caller decides what a failure
 * is worth.
 *
 * @param err set to a message (in p) on failure
 * @return APR_SUCCESS, or an error; on error nothing needs closing.
 */
apr_status_t prof_store_db_open(prof_db_t *db, server_rec *s, apr_pool_t *p,
                                const char **err);

/**
 * Begin a transaction on db: BEGIN IMMEDIATE on SQLite (take the write
 * lock now, so a busy database is met at the start), BEGIN on PostgreSQL.
 *
 * Not apr_dbd_transaction_start(): apr-util 1.6's PostgreSQL driver
 * dereferences a NULL transaction when BEGIN fails, which it does on the
 * first statement after the server went away, and crashed the child.
 * @return 0, or the driver's error number.
 */
int prof_store_db_begin(prof_db_t *db);

/** End the transaction begun by prof_store_db_begin(): COMMIT when commit
 * is non-zero, else ROLLBACK. @return 0, or the driver's error number. */
int prof_store_db_end(prof_db_t *db, int commit);

/**
 * A statement (apr_dbd format) ready for pbquery/pbselect on db's
 * connection. SQLite: prepared once per connection and text and kept in
 * mod_dbd's per-connection hash (apr-util's driver would keep each
 * statement until the connection closes anyway, so preparing per call
 * would grow without bound on a persistent connection). PostgreSQL:
 * unnamed, in p. @return 0 or the driver's error number.
 */
int prof_store_db_prepare(prof_db_t *db, apr_pool_t *p, const char *sql,
                          apr_dbd_prepared_t **st);

/** Give the connection back to mod_dbd. */
void prof_store_db_close(prof_db_t *db, server_rec *s);

/** Forget that the schema was checked: the next prof_store_db_open()
 * checks again (after an error, the database may have been replaced). */
void prof_store_schema_recheck(void);

/** The store's settings, filled in post_config (read-only afterwards). */
const prof_store_conf_t *prof_store_conf(void);

/** The server name rows are written with. */
const char *prof_store_server_name(void);

void prof_store_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_STORE_H */
