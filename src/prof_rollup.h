/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_rollup.h
 * @brief Per-minute aggregates of stored requests: what summaries over
 *        months read instead of raw rows.
 *
 * The writer folds every batch of rows into one entry per key, the key
 * being (minute, vhost, route, method, status class) and the writer's
 * server name; each entry holds the weighted count, the number of rows
 * behind it, the weighted sums of every phase, time to first byte and
 * bytes, min and max, and a histogram of the totals (prof_hist.h). The
 * writer then merges each entry into the database row of its key in the
 * same transaction as the raw rows, so for any minute the rollups count
 * exactly the weights of the raw rows written for it.
 *
 * Weights are whole numbers (see the sampling in mod_profiler_collect.c),
 * so counts and histogram buckets stay integers and add up exactly.
 *
 * An aggregator lives in a pool the caller clears between batches; it
 * holds one dense histogram (2.4 KB) per key, so a batch of n rows needs
 * at most n of them. No global state; one aggregator per thread.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_ROLLUP_H
#define PROF_ROLLUP_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "prof_hist.h"
#include "prof_phase.h"
#include "prof_row.h"

/** The aggregate of one key. */
typedef struct {
    apr_int64_t minute_us;      /**< start of the minute, us since the epoch */
    const char *vhost;
    const char *route;
    const char *method;
    int status_class;           /**< 1..5, 0 for anything else */
    apr_uint64_t samples;       /**< rows */
    apr_uint64_t bytes_sum;     /**< weighted */
    apr_uint64_t ttfb_sum_us;   /**< weighted */
    apr_uint64_t phase_sum_us[PROF_PHASE_COUNT]; /**< weighted; [TOTAL] too */
    prof_hist_t hist;           /**< totals: count (weighted), sum, min, max */
} prof_rollup_entry_t;

typedef struct prof_rollup_t prof_rollup_t;

/** A new empty aggregator in p, per minute. Clearing p ends it. */
prof_rollup_t *prof_rollup_create(apr_pool_t *p);

/** The same per period_us (3600000000: the hourly rollups); the entries'
 * minute_us is then the start of their period, from the epoch on. */
prof_rollup_t *prof_rollup_create_period(apr_pool_t *p,
                                         apr_int64_t period_us);

/** Fold row into the entry of its key (created when new). Strings are
 * copied into the aggregator's pool. */
void prof_rollup_add(prof_rollup_t *agg, const prof_row_t *row);

/**
 * The entries, as an array of prof_rollup_entry_t * sorted by key
 * (minute, vhost, route, method, status class, each ascending; strings by
 * bytes): writers that lock database rows in this one order cannot
 * deadlock each other. Allocated in the aggregator's pool.
 */
apr_array_header_t *prof_rollup_sorted(prof_rollup_t *agg);

/** How many keys the aggregator holds. */
apr_size_t prof_rollup_count(const prof_rollup_t *agg);

/**
 * Add src's sums, counts and histogram to dst (same key assumed), as the
 * writer does with what the database row held before. Counts and sums
 * saturate like prof_hist_merge().
 */
void prof_rollup_entry_merge(prof_rollup_entry_t *dst,
                             const prof_rollup_entry_t *src);

#endif /* PROF_ROLLUP_H */
