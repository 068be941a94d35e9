/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_agg_rollup.h
 * @brief The store's rollup entries from the live aggregates: what makes
 *        the minute and hour rollups count every request exactly, however
 *        few raw rows are kept (issue 11, item 6).
 *
 * One process (the watchdog that runs retention) takes a snapshot of the
 * block every minute, subtracts the previous one (prof_agg_delta()) and
 * hands the delta here: the result is one prof_rollup_entry_t per
 * (vhost, route, method, status class), the same entries the writer builds
 * from raw rows today (prof_rollup.h), so the existing merge into the
 * database rows (prof_rollup_entry_merge() and the store's SQL) applies
 * unchanged. Since successive deltas add up exactly to the counters'
 * growth, the rollups then equal the requests served, across children and
 * graceful restarts of the block's lifetime.
 *
 * What each entry holds: count, sum, buckets, min and max of `total` (the
 * delta's: min and max within one bucket of the interval's true extremes,
 * see prof_agg_delta()), phase sums with [PROF_PHASE_TOTAL] the sum of
 * `total`, ttfb and bytes sums. Weights are 1: every request is counted
 * once. `samples` (the raw rows behind an entry) is 0: the aggregates do
 * not know which requests the store kept; a caller that wants it adds the
 * rows it wrote.
 *
 * Class overflow cells (a full key table) become entries of vhost, route
 * and method PROF_AGG_OTHER in their class. Nothing here touches the
 * block; no global state. Part of the APR-only core.
 */

#ifndef PROF_AGG_ROLLUP_H
#define PROF_AGG_ROLLUP_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "prof_agg.h"
#include "prof_rollup.h"

/**
 * The rollup entries of delta's request cells, for the period that starts
 * at period_us (the minute or the hour the delta is booked to).
 *
 * @return an array of prof_rollup_entry_t *, in p, sorted as
 *         prof_rollup_sorted() sorts (vhost, route, method, status class,
 *         by bytes); cells of one key (several codes of one class) are
 *         merged. The entries' strings point into delta, which must live
 *         as long.
 */
apr_array_header_t *prof_agg_rollup_entries(apr_pool_t *p,
                                            const prof_agg_snap_t *delta,
                                            apr_int64_t period_us);

#endif /* PROF_AGG_ROLLUP_H */
