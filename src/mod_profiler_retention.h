/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_retention.h
 * @brief Retention of the measurement store: one background task, in one
 *        child process of the server (a mod_watchdog singleton), deletes
 *        raw requests older than ProfilerRetention or beyond
 *        ProfilerRetentionRows, and rollups older than
 *        ProfilerRollupRetention, in small batches, each its own short
 *        transaction; never in a request.
 */

#ifndef MOD_PROFILER_RETENTION_H
#define MOD_PROFILER_RETENTION_H

#include "httpd.h"

/** From the store's check_config: what retention needs is there
 * (mod_watchdog). OK, or an error that refuses the configuration (the
 * message is logged). */
int prof_retention_check_config(server_rec *s);

/** From the store's post_config: register the task with mod_watchdog when
 * anything is to be deleted. OK, or an error that stops the server (the
 * message is logged). */
int prof_retention_post_config(apr_pool_t *pconf, server_rec *s);

/**
 * One retention pass now, in the calling thread (the report's "prune now"
 * action): the same deletions, in the same small transactions, as the
 * background task's. @param err set on failure. Logs nothing itself.
 */
apr_status_t prof_retention_prune(server_rec *s, apr_pool_t *p,
                                  const char **err);

/** Rows deleted in one statement: small, so that writers never wait long
 * for the lock (SQLite) or for row locks (PostgreSQL). */
#define PROF_RETENTION_BATCH 1000

/** The most batches one run deletes; the rest waits for the next run. */
#define PROF_RETENTION_MAX_BATCHES 200

#endif /* MOD_PROFILER_RETENTION_H */
