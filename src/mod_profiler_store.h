/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_store.h
 * @brief The measurement store's writer: one background thread per child
 *        process that takes finished rows from a bounded queue and writes
 *        them, with their spans, in one transaction per batch through
 *        mod_dbd. The minute and hour rollups are not folded from these
 *        rows but written from the live aggregates
 *        (mod_profiler_store_rollup.h), which count every request.
 *
 * Request threads only call prof_store_submit(): a push onto the queue
 * under a mutex held for a pointer store, never a database call. The
 * database is the one mod_dbd is configured with for the main server
 * (DBDriver/DBDParams outside any <VirtualHost>); the writer takes a
 * connection through mod_profiler_db.h for each batch and gives it back
 * after.
 *
 * Faults (database down, locked, full, read-only) never reach requests:
 * a failed batch is retried once, then its rows are counted as lost and
 * the writer backs off; one error line starts an outage and one notice
 * ends it, with the count of rows lost in between.
 */

#ifndef MOD_PROFILER_STORE_H
#define MOD_PROFILER_STORE_H

#include "httpd.h"

#include "apr_tables.h"

#include "prof_row.h"
#include "mod_profiler_db.h"

/** Does this process have a running writer? Set once in child_init,
 * before any request is served, and only read afterwards. */
int prof_store_running(void);

/**
 * An id for a request's row, given before the row is written: for a
 * request whose response names it (a profiled request's Server-Timing
 * "profile;desc=<id>", the id of api/v1/requests/<id>). Put it in
 * prof_row_in_t.id; the writer stores the row under it.
 *
 * Ids are the writer's: writer id * 2^32 + sequence, the writer id a row
 * of the database's writers table, so unique across the children of a
 * server and across servers sharing one database, and never reused.
 * Lock-free (one compare-and-swap), from any thread; no database call.
 *
 * @return the id, > 0; 0 when this process has none to give: no store
 *         (no writer in this process), or the writer has not reached the
 *         database yet (after prof_store_want_ids() it registers
 *         within ProfilerStoreBatch's wait of the child's start; without,
 *         at its first batch; or once the database is back after an
 *         outage). A row given no id gets one when it is written.
 */
apr_int64_t prof_store_new_id(void);

/**
 * Say that this process will ask for ids in advance (prof_store_new_id()):
 * its writer then registers with the database as soon as it is idle after
 * the child starts (within ProfilerStoreBatch's wait), not at its first
 * batch, so that the first profiled requests of a child find ids. Call
 * from child_init, after the store's (any thread, any time: a flag).
 * prof_store_new_id() sets it too when it had none to give.
 */
void prof_store_want_ids(void);

/**
 * Hand a finished row to the writer, from any thread. Never waits.
 * @return 1 when the writer owns the row now; 0 when it was refused (queue
 *         full or closed, or no writer; counted) and the caller still owns it.
 */
int prof_store_submit(prof_row_t *row);

/** Count n rows that were lost before they could be submitted (out of
 * memory). Thread-safe. */
void prof_store_count_lost(apr_uint32_t n);

/**
 * Merge rollup entries (prof_agg_rollup_entries(): minutes and hours) into
 * their rows under this server's name, in one transaction on db, for the
 * flusher of the live aggregates (mod_profiler_store_rollup.c).
 * @return APR_SUCCESS once committed; else nothing of it is written and
 *         *err says why.
 */
apr_status_t prof_store_write_rollups(prof_db_t *db, apr_pool_t *p,
                                      const apr_array_header_t *minutes,
                                      const apr_array_header_t *hours,
                                      const char **err);

void prof_store_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_STORE_H */
