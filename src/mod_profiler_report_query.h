/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report_query.h
 * @brief The report's reads of the store: rollups aggregated into
 *        summaries, time series and histograms; request lists, one
 *        request and its spans; the store's health.
 *
 * Every result is copied into the request's pool, so that the handler can
 * give the connection back to mod_dbd before it writes a byte: a slow
 * client must not hold a pooled connection the writer waits for.
 *
 * Work is bounded by what a request can ask: a time series has at most
 * PROF_REPORT_POINTS_MAX points, whatever its range; ranges are clamped to
 * what the rollups keep (mod_profiler_report_params.c); a request list
 * sorted by anything but time sorts only the newest
 * PROF_REPORT_SORT_WINDOW rows of its range (prof_report_sql.h).
 */

#ifndef MOD_PROFILER_REPORT_QUERY_H
#define MOD_PROFILER_REPORT_QUERY_H

#include "httpd.h"

#include "prof_report_sql.h"
#include "mod_profiler_store.h"
#include "mod_profiler_report_page.h"

/** The most points of a time series. */
#define PROF_REPORT_POINTS_MAX 360

/** A connection to the store, taken when first needed. */
typedef struct {
    prof_db_t db;
    int open;
    const char *err;
} prof_report_conn_t;

/** Take a connection (logs why not). @return 1, or 0. */
int prof_report_conn_open(request_rec *r, prof_report_conn_t *c);

/** Give it back to mod_dbd, if taken. */
void prof_report_conn_close(prof_report_conn_t *c);

/** What one pass over the rollups builds. */
#define PROF_REPORT_WANT_SUMMARY 1  /**< groups by route and f->group */
#define PROF_REPORT_WANT_SERIES  2  /**< time buckets */
#define PROF_REPORT_WANT_ALL     4  /**< everything in one group */
#define PROF_REPORT_WANT_PHASES  8  /**< with WANT_ALL: phase sums too */

/** Everything a report response shows, read before it is written. */
typedef struct {
    apr_array_header_t *summary;    /**< prof_report_group_t *, sorted */
    apr_array_header_t *series;     /**< prof_report_group_t *, by time */
    apr_int64_t bucket_us;          /**< the series' bucket */
    prof_report_group_t *all;       /**< WANT_ALL */
    apr_array_header_t *reqs;       /**< prof_report_req_t * */
    const char *next;               /**< the list's next cursor, or NULL */
    prof_report_req_t *req;         /**< one request */
    apr_array_header_t *spans;      /**< its prof_report_span_t * */
    apr_array_header_t *modules;    /**< its prof_report_module_t * (empty
                                         before schema 6) */
    const char *profile;            /**< its profile (prof_stacks_text_write()
                                         form), NULL: none */
    prof_report_health_t health;
    prof_report_group_t *route_stats; /**< the requests page of a route */
    prof_report_route_modules_t *route_mods; /**< and its module times:
                                         NULL when none are stored */
} prof_report_data_t;

/**
 * Read the rollups of f: want is PROF_REPORT_WANT_*; the summary is sorted
 * by summary_sort (an index into prof_report_summary_sorts) and cut to
 * f->limit. A time series in minutes and a summary need two passes; this
 * makes them. @return 1, or 0 (logged).
 */
int prof_report_query_rollups(request_rec *r, prof_report_conn_t *c,
                              prof_report_filter_t *f, int want,
                              int summary_sort, prof_report_data_t *out);

/** A page of requests into out->reqs and out->next. @return 1, or 0. */
int prof_report_query_requests(request_rec *r, prof_report_conn_t *c,
                               prof_report_filter_t *f,
                               prof_report_data_t *out);

/** One request, its spans, its module times and its profile into
 * out->req, out->spans, out->modules, out->profile (NULL when it has
 * none).
 * @return 1 found, 0 error, -1 no such request. */
int prof_report_query_request(request_rec *r, prof_report_conn_t *c,
                              const apr_int64_t *id, prof_report_data_t *out);

/** Only the profile of a request into *text (in r->pool): what
 * api/v1/requests/<id>/profile answers.
 * @return 1 found, 0 error, -1 no such request or it has no profile
 *         (also when the store is older than schema 5). */
int prof_report_query_profile(request_rec *r, prof_report_conn_t *c,
                              const apr_int64_t *id, const char **text);

/** The store's health into out->health (out->health.ok: it worked). */
void prof_report_query_health(request_rec *r, prof_report_conn_t *c,
                              prof_report_data_t *out);

/**
 * What prof_report_query_rollups() reads, from the live aggregates instead
 * (mod_profiler_metrics.h): the report without a database. The summary
 * groups and the group of everything as want asks; a time series is empty
 * (one snapshot has no time in it). The range is what the segment holds:
 * f->from_us becomes when it began, f->to_us now; the route, method,
 * vhost, server and status class filters apply as to the rollups. Counts
 * are exact (every request, no sampling); percentiles come from the same
 * histogram as the store's. Without live metrics (no Profiler On), empty.
 * @return 1.
 */
int prof_report_query_live(request_rec *r, prof_report_filter_t *f,
                           int want, int summary_sort,
                           prof_report_data_t *out);

/** One route's statistics over f's range, from the rollups (count,
 * percentiles, histogram, phase sums, errors): the time, route, method,
 * vhost, server and status class of f apply. @return 1, or 0. */
int prof_report_query_route(request_rec *r, prof_report_conn_t *c,
                            const prof_report_filter_t *f,
                            prof_report_group_t **out);

/** The module times of f's route (its page), into *out; *out NULL when
 * the store has none there (no modules table, or ProfilerModuleTiming was
 * off). @return 1, or 0 (logged). */
int prof_report_query_route_modules(request_rec *r, prof_report_conn_t *c,
                                    const prof_report_filter_t *f,
                                    prof_report_route_modules_t **out);

#endif /* MOD_PROFILER_REPORT_QUERY_H */
