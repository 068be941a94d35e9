/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_store_rollup.h
 * @brief The store's minute and hour rollups written from the live
 *        aggregates (issue 11, item 6), and ProfilerStoreRate's shared
 *        budget of raw rows.
 *
 * Exactly once. One process at a time flushes: it takes a snapshot of the
 * aggregate table (prof_agg.h), subtracts the snapshot flushed last, turns
 * the difference into rollup entries (prof_agg_rollup.h) and merges them
 * into the database in one transaction; only after the commit does it
 * write its snapshot as "flushed". That last snapshot (the shadow) and the
 * flush lock live in a shared-memory area of their own, next to the
 * aggregates' segment and kept across graceful restarts the same way, so a
 * flusher of the next generation goes on from where the last one stopped.
 * The lock is a word in that area (the holder's pid), taken with a
 * compare-and-swap and never on the request path; two flushers that
 * overlap in a graceful restart (the old generation's watchdog child and
 * the new one's) cannot both subtract the same shadow. A holder that died
 * (no such pid) or has held it for PROF_ROLLUP_LOCK_STALE_US loses it.
 *
 * Why the shadow in shared memory and not the flushed counters in the
 * database: the counters of a cell are its whole histogram (some 2.4 KB),
 * which would cost a row per cell written in every flush, and be read back
 * by every flusher; the shadow costs a memcpy. The price: a flusher killed
 * between its commit and its memcpy (microseconds) would let the next one
 * count that delta again. Its counters are gone with a full restart
 * anyway, as are the aggregates'.
 *
 * Who flushes. mod_watchdog's singleton "profiler-rollups", every
 * PROF_ROLLUP_INTERVAL_US, in whichever child runs it. Not when that
 * child stops: on a graceful restart the next generation's singleton goes
 * on from the shadow (the old children go on counting into the same
 * aggregates), and at a stop the parent does it. At a graceful stop the
 * parent flushes last, after
 * every child has gone (the cleanup of its configuration pool, when
 * httpd exits), on a connection of its own (prof_db_open_direct()): so a
 * graceful stop loses nothing that was counted. So does a full stop
 * (SIGTERM), except requests the killed children were serving; a full
 * restart (SIGHUP) zeroes the aggregates without that last flush, and
 * loses up to PROF_ROLLUP_INTERVAL_US of counts.
 *
 * Each flush books its delta to the minute (and hour) in which it runs: a
 * request counts in a minute at most PROF_ROLLUP_INTERVAL_US after the
 * one it ended in.
 */

#ifndef MOD_PROFILER_STORE_ROLLUP_H
#define MOD_PROFILER_STORE_ROLLUP_H

#include "httpd.h"

/** How often the singleton flushes. */
#define PROF_ROLLUP_INTERVAL_US      apr_time_from_sec(5)
/** A flush lock held this long is taken for abandoned. */
#define PROF_ROLLUP_LOCK_STALE_US    apr_time_from_sec(300)
/** Longest wait for the lock in the parent's last flush. */
#define PROF_ROLLUP_LAST_WAIT_US     apr_time_from_sec(2)

/** Default of ProfilerStoreRate, rows per second per server. */
#define PROF_DEFAULT_STORE_RATE      100

/** Are the rollups written from the aggregates in this generation? (Else
 *  the writer folds its rows, as before.) Set in post_config, before any
 *  child exists. */
int prof_store_rollup_active(void);

/**
 * ProfilerStoreRate's decision for one ordinary request (not slow, not
 * 5xx) that ProfilerSample kept, of route in vhost, finished at now_us:
 * the probability of keeping it, in (0, 1]; 1 when the rate is Off or the
 * shared area is missing. The caller draws u and keeps the row when
 * u < p, with its weight divided by p. A few atomics, no lock.
 */
double prof_store_rate_probability(const char *vhost, const char *route,
                                   apr_time_t now_us);

/** From the store's post_config when it stores (before mod_watchdog's
 *  post_config): the shared area and the flusher. OK or an error. */
int prof_store_rollup_post_config(apr_pool_t *pconf, server_rec *s);

/** In each child: its exit waits for a flush of its under way (which
 * holds a mod_dbd connection of the child's pool). */
void prof_store_rollup_child_init(apr_pool_t *pchild);

#endif /* MOD_PROFILER_STORE_ROLLUP_H */
