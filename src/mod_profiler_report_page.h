/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report_page.h
 * @brief The report's HTML: the dashboard, the request list and one
 *        request's waterfall, rendered on the server (tables and SVG
 *        charts: readable with scripts off, nothing loaded from outside),
 *        and the dashboard's own style sheet and script.
 *
 * The data comes from mod_profiler_report.c, which reads the store; this
 * unit only renders it. Every string from a request goes through
 * prof_report_html().
 */

#ifndef MOD_PROFILER_REPORT_PAGE_H
#define MOD_PROFILER_REPORT_PAGE_H

#include "httpd.h"

#include "prof_hist.h"
#include "prof_report_sql.h"
#include "prof_stacks.h"
#include "mod_profiler_report_profile.h"

/** Phase columns of the store, in prof_phase order (total apart). */
#define PROF_REPORT_PHASES 14

/** One group of rollups: a route (and the other keys asked for), a time
 * bucket, or everything. Counts are weighted (sampling). */
typedef struct {
    const char *route;
    const char *method;         /**< NULL unless grouped by it */
    int status_class;           /**< 0 unless grouped by it */
    const char *vhost;
    const char *server;
    apr_int64_t t_us;           /**< a time series' bucket start */
    apr_uint64_t count;
    apr_uint64_t samples;       /**< rows behind count */
    apr_uint64_t sum_us;
    apr_uint64_t ttfb_sum_us;
    apr_uint64_t bytes_sum;
    apr_uint64_t errors;        /**< 5xx */
    apr_uint64_t client_errors; /**< 4xx */
    apr_uint64_t phase_sum_us[PROF_REPORT_PHASES];
    apr_int64_t min_us, max_us;
    apr_int64_t p50_us, p95_us, p99_us;
    prof_hist_t hist;
} prof_report_group_t;

/** One recorded request. */
typedef struct {
    apr_int64_t id;
    const char *server, *vhost, *method, *route, *path, *query, *protocol;
    apr_int64_t start_us, bytes_sent, total_us, ttfb_us;
    apr_int64_t dur_us[PROF_REPORT_PHASES];
    /** When each phase began, µs from the start of the request (store
     * column phase_starts, schema 4); -1: did not run. Meaningful only
     * with has_starts: rows written before schema 4 have no starts. */
    apr_int64_t start_offset_us[PROF_REPORT_PHASES];
    int has_starts;
    int status, weight, spans_dropped;
} prof_report_req_t;

/** One span of a request. */
typedef struct {
    int seq, parent, metric;
    const char *name, *desc;
    apr_int64_t start_us, dur_us;
} prof_report_span_t;

/** A module's time in a phase of a request (store table modules, schema
 * 6: ProfilerModuleTiming). */
typedef struct {
    const char *phase;          /**< a canonical phase name, or "filter" */
    const char *module;         /**< "mod_rewrite", or a filter's name */
    apr_int64_t calls, dur_us;
} prof_report_module_t;

/** A route's module times (its page): over its stored requests that have
 * them, weighted. */
typedef struct {
    apr_int64_t requests;           /**< how many they stand for */
    apr_int64_t phase_us[PROF_REPORT_PHASES]; /**< each phase's sum */
    apr_array_header_t *modules;    /**< prof_report_module_t *: sums,
                                         the longest first */
} prof_report_route_modules_t;

/** The store's own state. */
typedef struct {
    int ok;                     /**< the queries below worked */
    const char *dialect;        /**< "sqlite3", "pgsql" */
    const char *prefix;
    apr_int64_t requests, spans, rollups;
    apr_int64_t oldest_us, newest_us;   /**< 0: no rows */
    apr_int64_t written, dropped, failed; /**< over the writers' rows */
    int writers;
    apr_int64_t retention_us, rollup_retention_us, retention_rows;
} prof_report_health_t;

/** What a page shows, and where it is. */
typedef struct {
    const char *base;           /**< the handler's location, no trailing / */
    prof_report_filter_t *f;
    const char *sort;           /**< the summary's sort field */
    /** No database: the numbers are the live metrics' since f->from_us
     * (the page says so, and links to nothing that needs the database). */
    int live;
} prof_report_view_t;

/** The dashboard: filters, the key numbers, charts (requests and p95 over
 * time, latency histogram with p50/p95/p99 marked, phases per route, each
 * route's bar normalised to its own mean), the summary table (5xx and 4xx
 * rates: client_errors, 0 while unknown), the store's health. With
 * v->live: a note that the numbers are the live metrics' since the
 * server started, no time series, routes not linked to the request list,
 * and no store box (health NULL). */
void prof_report_page_dashboard(request_rec *r, const prof_report_view_t *v,
                                const apr_array_header_t *summary,
                                const apr_array_header_t *series,
                                apr_int64_t bucket_us,
                                const prof_report_group_t *all,
                                const prof_report_health_t *health);

/** The request list (start times to the ms, protocol), with a link to the
 * next page when there is one. With route_stats (the page is filtered to
 * one route) the route's own numbers, latency histogram and phase
 * breakdown come first; NULL shows the list alone. */
void prof_report_page_requests(request_rec *r, const prof_report_view_t *v,
                               const apr_array_header_t *reqs,
                               const char *next_cursor,
                               const prof_report_group_t *route_stats,
                               const prof_report_route_modules_t *route_mods);

/** One request: its columns, and the waterfall of its phases, of the time
 * in no phase and of its spans, with every duration written out. With
 * has_starts the phases are drawn at start_offset_us[]; without, where
 * prof_report_phase_offsets() puts them, and the page says that this is
 * approximate. With a profile (NULL: none), its flame graph and top
 * functions, and links to it as pprof, folded stacks and JSON. */
void prof_report_page_request(request_rec *r, const prof_report_view_t *v,
                              const prof_report_req_t *req,
                              const apr_array_header_t *spans,
                              const apr_array_header_t *modules,
                              const prof_stacks_t *profile);

/** The CPU page: a form that takes a whole-server profile of seconds at
 * hz (1..300 s, 1..1000 Hz); with a result (cpu not NULL), its flame
 * graph and top functions, or what went wrong. */
void prof_report_page_cpu(request_rec *r, const prof_report_view_t *v,
                          int seconds, int hz,
                          const prof_report_cpu_t *cpu);

/** A page saying what went wrong (with status already set). */
void prof_report_page_error(request_rec *r, const prof_report_view_t *v,
                            const char *msg);

/** The dashboard's style sheet ("app.css") or script ("app.js"); 0 for
 * any other name. */
int prof_report_asset(request_rec *r, const char *name);

/** The start offsets of the phases in a request's waterfall: each phase
 * starts where the one before it in prof_phase order ended (the order in
 * which httpd runs them); out gets PROF_REPORT_PHASES offsets. */
void prof_report_phase_offsets(const prof_report_req_t *req,
                               apr_int64_t *out);

#endif /* MOD_PROFILER_REPORT_PAGE_H */
