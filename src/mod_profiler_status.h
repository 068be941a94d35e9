/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_status.h
 * @brief mod_profiler's section of mod_status's server-status page, from
 *        the live aggregates (mod_profiler_metrics.h): no database.
 *
 * mod_status offers an optional hook, status_hook (mod_status.h), that it
 * runs after its own tables; we add ours to it, so nothing happens where
 * mod_status is not loaded. What the section shows:
 *
 *   HTML      the requests counted since the live metrics' segment began,
 *             the busiest routes (PROF_STATUS_TOP_ROUTES) with their
 *             count, p50/p95/p99 (from the store's histogram, within
 *             PROF_HIST_MAX_REL_ERR) and 5xx and 4xx rates, the tables'
 *             overflow counters, and the store's state: on or off in this
 *             child, rows written, dropped, failed and sampled out across
 *             all children. Every vhost and route is HTML-escaped.
 *   ?auto     (AP_STATUS_SHORT) one "Profiler<Name>: value" line each:
 *             ProfilerMetrics (On|Off), ProfilerSince (Unix seconds),
 *             ProfilerRequests, ProfilerServerErrors (5xx),
 *             ProfilerClientErrors (4xx), ProfilerRoutes, ProfilerKeyOverflow,
 *             ProfilerSpanOverflow, ProfilerRouteFolded,
 *             ProfilerClaimStalls, ProfilerStore (On|Off),
 *             ProfilerStoreRowsWritten, ProfilerStoreRowsDropped,
 *             ProfilerStoreRowsFailed, ProfilerStoreRowsSampledOut.
 *             No vhost or route names: those are the HTML page's, and a
 *             name could hold ": " or a line break of its own.
 *
 * A read costs one snapshot of the segment (lock-free; about 2.6 KB of the
 * request's pool per key in use) and a sort of its routes.
 */

#ifndef MOD_PROFILER_STATUS_H
#define MOD_PROFILER_STATUS_H

#include "apr_pools.h"

/** How many routes the HTML section lists, the busiest first. */
#define PROF_STATUS_TOP_ROUTES 10

void prof_status_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_STATUS_H */
