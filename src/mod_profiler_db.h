/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_db.h
 * @brief Every access to the measurement store's database, behind one
 *        interface: connections through mod_dbd, the statements prepared
 *        on them, transactions, and what differs between SQLite and
 *        PostgreSQL. The writer, the retention task and the report call
 *        this unit; none of them talks to mod_dbd or apr_dbd's transaction
 *        calls itself. The SQL text comes from prof_sql.c. The schema is
 *        created or migrated here, once per process, on the first
 *        connection.
 *
 * Threads: every function may be called from any thread once post_config
 * has run (prof_db_setup()); each prof_db_t belongs to the thread that
 * opened it.
 */

#ifndef MOD_PROFILER_DB_H
#define MOD_PROFILER_DB_H

#include "apr_dbd.h"

#include "httpd.h"
#include "mod_dbd.h"

#include "prof_sql.h"
#include "mod_profiler_config.h"

/** A connection with the store's schema ready, for the writer, retention
 * and the report. */
typedef struct {
    server_rec *s;              /**< the main server, for logging */
    ap_dbd_t *dbd;
    prof_sql_dialect_t dialect;
    const char *prefix;
    int direct;                 /**< opened by prof_db_open_direct() */
} prof_db_t;

/**
 * The configuration checks of the database, for check_config (so that
 * "apachectl -t" sees them): mod_dbd is loaded and the main server's
 * DBDriver is one the store speaks. who names what needs the database
 * ("ProfilerStore On", "The profiler report") in the messages.
 * @return OK, or an error after logging why, naming the directive.
 */
int prof_db_check_config(server_rec *s, apr_pool_t *ptemp, const char *who);

/** Whether the configuration names a database at all: a DBDriver anywhere,
 * <VirtualHost> sections included. Without one a report runs without a
 * database (from the live metrics); with one it reads the main server's,
 * and prof_db_check_config() says what is wrong with it. */
int prof_db_any_driver(void);

/** The DBDriver of the main server from the configuration tree, unquoted
 * (NULL: none), in p. */
const char *prof_db_driver(apr_pool_t *p);

/** The DBDParams of the main server, unquoted (NULL: none), in p. */
const char *prof_db_params(apr_pool_t *p);

/**
 * From post_config, once the checks have passed: fetch mod_dbd's functions
 * and read the store's settings (prof_db_conf()). Before this, every open
 * fails.
 */
void prof_db_setup(server_rec *s);

/** The store's settings, filled in post_config (read-only afterwards). */
const prof_store_conf_t *prof_db_conf(void);

/**
 * Take a connection from mod_dbd for the main server s and make sure the
 * schema is there and current (creating or migrating it once per process,
 * again after an error). Logs nothing: the caller decides what a failure
 * is worth.
 *
 * @param err set to a message (in p) on failure
 * @return APR_SUCCESS, or an error; on error nothing needs closing.
 */
apr_status_t prof_db_open(prof_db_t *db, server_rec *s, apr_pool_t *p,
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
int prof_db_begin(prof_db_t *db);

/** End the transaction begun by prof_db_begin(): COMMIT when commit
 * is non-zero, else ROLLBACK. @return 0, or the driver's error number. */
int prof_db_end(prof_db_t *db, int commit);

/**
 * A statement (apr_dbd format) ready for pbquery/pbselect on db's
 * connection. SQLite: prepared once per connection and text and kept in
 * mod_dbd's per-connection hash (apr-util's driver would keep each
 * statement until the connection closes anyway, so preparing per call
 * would grow without bound on a persistent connection). PostgreSQL:
 * unnamed, in p. @return 0 or the driver's error number.
 */
int prof_db_prepare(prof_db_t *db, apr_pool_t *p, const char *sql,
                    apr_dbd_prepared_t **st);

/**
 * The same as prof_db_open(), on a connection of its own made with
 * apr_dbd from name and params (the main server's DBDriver and DBDParams,
 * read by prof_db_driver() and prof_db_params() while the configuration
 * is there), not mod_dbd's:
 * for the parent process, where mod_dbd has no connections (its pools are
 * made in child_init). Every statement is as on mod_dbd's connections;
 * prof_db_close() closes it. The connection lives in p.
 */
apr_status_t prof_db_open_direct(prof_db_t *db, server_rec *s, apr_pool_t *p,
                                 const char *name, const char *params,
                                 const char **err);

/** Give the connection back to mod_dbd (or close a direct one). */
void prof_db_close(prof_db_t *db, server_rec *s);

/** Forget that the schema was checked: the next prof_db_open() checks
 * again (after an error, the database may have been replaced). */
void prof_db_schema_recheck(void);

/** "what: the driver's message for ret", in p. */
const char *prof_db_error(prof_db_t *db, apr_pool_t *p, int ret,
                          const char *what);

/** Run a statement with no parameters; *nrows (if not NULL) gets the rows
 * it changed. @return 0 or the driver's error number. */
int prof_db_exec(prof_db_t *db, const char *sql, int *nrows);

/**
 * Run a query with no parameters that may return rows; the first column
 * of the first row goes to *first (in p; NULL when there is no row or the
 * value is NULL). Every row is read, so that the statement is finished
 * before the next one. @return 0 or the driver's error number.
 */
int prof_db_select_first(prof_db_t *db, apr_pool_t *p, const char *sql,
                         const char **first);

/** The same for a prepared statement with parameters args. */
int prof_db_pselect_first(prof_db_t *db, apr_pool_t *p,
                          apr_dbd_prepared_t *st, const void **args,
                          const char **first);

/** Run a prepared statement; *nrows (if not NULL) gets the rows changed. */
int prof_db_pquery(prof_db_t *db, apr_pool_t *p, apr_dbd_prepared_t *st,
                   const void **args, int *nrows);

/** prof_db_prepare() and prof_db_pquery() in one. */
int prof_db_run(prof_db_t *db, apr_pool_t *p, const char *sql,
                const void **args, int *nrows);

/** The writer's statements on one connection (prof_sql_stmt_t), prepared
 * once per connection and kept with it. */
typedef struct prof_db_stmts_t prof_db_stmts_t;

/** The writer's statements of db's connection, prepared the first time.
 * @return APR_SUCCESS, or an error with *err set. */
apr_status_t prof_db_statements(prof_db_t *db, apr_pool_t *p,
                                prof_db_stmts_t **out, const char **err);

/** Statement which of stmts. */
apr_dbd_prepared_t *prof_db_stmt(prof_db_stmts_t *stmts,
                                 prof_sql_stmt_t which);

/**
 * The multi-row insert of nrows (a power of two up to PROF_SQL_ROWS_MAX)
 * rows of which (PROF_STMT_REQUEST_INSERT or PROF_STMT_SPAN_INSERT),
 * prepared on db's connection the first time it is needed.
 * @return 0 or the driver's error number.
 */
int prof_db_insert_stmt(prof_db_t *db, prof_db_stmts_t *stmts,
                        prof_sql_stmt_t which, int nrows,
                        apr_dbd_prepared_t **st);

#endif /* MOD_PROFILER_DB_H */
