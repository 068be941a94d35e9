/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_report_sql.h
 * @brief The report's queries: SQL text and its parameters, built from a
 *        validated filter, for both dialects.
 *
 * Values never enter the text: every filter becomes an apr_dbd parameter
 * (%s, %d or %lld), and what does enter it comes from fixed lists (column
 * names, sort fields, the table prefix that ProfilerStoreTablePrefix
 * checked). A statement holds only the conditions of the filters that are
 * set, so it is prepared per report request (the report is rare; the store
 * keeps its prepared statements).
 *
 * Summaries, time series and histograms read the per-minute rollups; only
 * lists and single requests read raw rows.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_REPORT_SQL_H
#define PROF_REPORT_SQL_H

#include "apr.h"
#include "apr_pools.h"

#include "prof_sql.h"

/** Extra grouping of a summary, beside the route. */
#define PROF_GROUP_METHOD  0x1
#define PROF_GROUP_STATUS  0x2
#define PROF_GROUP_VHOST   0x4
#define PROF_GROUP_SERVER  0x8

/** Sort fields of the request list (fixed: the only column names a
 * request's sort may put into SQL). */
typedef enum {
    PROF_SORT_START = 0,        /* start_us */
    PROF_SORT_TOTAL,            /* total_us */
    PROF_SORT_TTFB,             /* ttfb_us */
    PROF_SORT_STATUS,           /* status */
    PROF_SORT_BYTES,            /* bytes_sent */
    PROF_SORT_COUNT
} prof_sort_t;

/** The filters of a report request, validated. */
typedef struct {
    apr_int64_t from_us;        /**< start time >= from */
    apr_int64_t to_us;          /**< start time < to */
    const char *route;          /**< NULL: any */
    const char *path;           /**< prefix; NULL: any (raw rows only) */
    const char *method;
    const char *vhost;
    const char *server;
    int status_lo, status_hi;   /**< 0, 0: any */
    apr_int64_t min_us;         /**< total >= min; < 0: any (raw only) */
    apr_int64_t max_us;         /**< total <= max; < 0: any (raw only) */
    unsigned group;             /**< PROF_GROUP_* */
    int hourly;                 /**< a long range: whole hours, hourly rollups */
    prof_sort_t sort;           /**< request lists */
    int desc;                   /**< descending */
    int limit;                  /**< rows of a list */
    int has_cursor;             /**< continue after (cursor_key, cursor_id) */
    apr_int64_t cursor_key;
    apr_int64_t cursor_id;
    /* Storage the parameters point to, filled by the builders. */
    int path_chars;             /**< characters in path */
    int status_class;           /**< status_lo / 100, for the rollups */
    int limit_plus;             /**< limit + 1: one more tells "there is more" */
    int window;                 /**< PROF_REPORT_SORT_WINDOW */
} prof_report_filter_t;

/** A statement and its parameters (pointers into the filter). */
typedef struct {
    const char *sql;
    const void **args;
    int nargs;
} prof_report_stmt_t;

/** The name of a sort field in the API ("start", "total", "ttfb",
 * "status", "bytes"). */
const char *prof_report_sort_name(prof_sort_t s);

/** The column name of a sort field. */
const char *prof_report_sort_column(prof_sort_t s);

/**
 * The rollup rows a summary, time series or histogram reads: key columns
 * (minute_us or hour_us, server, vhost, route, method, status_class), then
 * count, samples, sum_us, min_us, max_us, ttfb_sum_us, bytes_sum, the 14
 * phase sums in prof_phase order, hist. slim: only the period start,
 * status_class, count, samples, sum_us, min_us, max_us and hist (what a
 * time series or a histogram needs: each column costs apr_dbd a
 * conversion per row). Filters: time (*from_us <= period start < *to_us:
 * both must outlive the statement), route, method, status class, vhost,
 * server. hourly: from rollups_hour. The caller groups and merges.
 */
void prof_report_sql_rollups(apr_pool_t *p, prof_sql_dialect_t d,
                             const char *prefix, prof_report_filter_t *f,
                             int hourly, int slim, const apr_int64_t *from_us,
                             const apr_int64_t *to_us,
                             prof_report_stmt_t *out);

/** The column list of request rows, in the order the list and the single
 * request use. */
#define PROF_REPORT_REQUEST_COLS "id, server, vhost, start_us, method, " \
    "route, path, query, status, protocol, bytes_sent, total_us, ttfb_us, " \
    "read_us, postread_us, quick_us, translate_us, storage_us, headers_us, " \
    "access_us, authn_us, authz_us, type_us, fixups_us, handler_us, " \
    "body_us, log_us, weight, spans_dropped"

/** A request list sorted by anything but its start time sorts only the
 * newest this many rows of its range (and of its other filters): the
 * start_us index finds them, so such a page reads and sorts at most this
 * many rows however long the range, and no index per sort column costs
 * every insert. Sorting by start time has no such bound: the index
 * gives that order itself. */
#define PROF_REPORT_SORT_WINDOW 20000

/**
 * A page of the request list: every filter, sorted by f->sort then id,
 * after the cursor if any, f->limit + 1 rows (the extra one says that
 * there is a next page). Sorted by anything but start: within the newest
 * PROF_REPORT_SORT_WINDOW rows that match the filters.
 */
void prof_report_sql_requests(apr_pool_t *p, prof_sql_dialect_t d,
                              const char *prefix, prof_report_filter_t *f,
                              prof_report_stmt_t *out);

/** One request by id (*id must outlive the statement); with_starts: the
 * phase_starts column (schema 4) after PROF_REPORT_REQUEST_COLS. */
void prof_report_sql_request(apr_pool_t *p, const char *prefix,
                             int with_starts, const apr_int64_t *id,
                             prof_report_stmt_t *out);

/** The profile of one request (schema 5): format, data. */
void prof_report_sql_profile(apr_pool_t *p, const char *prefix,
                             const apr_int64_t *id, prof_report_stmt_t *out);

/** The spans of one request: seq, name, description, parent, start_us,
 * dur_us, metric, in seq order. */
void prof_report_sql_spans(apr_pool_t *p, const char *prefix,
                           const apr_int64_t *id, prof_report_stmt_t *out);

/** A route's module times (f->route, its time range, f->vhost when set),
 * over the stored requests that have them, weighted: phase, module,
 * sum of calls, sum of dur_us (the columns of prof_report_sql_modules()),
 * the longest first. */
void prof_report_sql_route_modules(apr_pool_t *p, const char *prefix,
                                   const prof_report_filter_t *f,
                                   prof_report_stmt_t *out);

/** Over the same requests: the sum of their weights, then each phase's
 * weighted sum of durations (read .. log). */
void prof_report_sql_route_module_phases(apr_pool_t *p, const char *prefix,
                                         const prof_report_filter_t *f,
                                         prof_report_stmt_t *out);

/** The module times of one request (table modules, schema 6): phase,
 * module, calls, dur_us, the longest first. */
void prof_report_sql_modules(apr_pool_t *p, const char *prefix,
                             const apr_int64_t *id, prof_report_stmt_t *out);

#endif /* PROF_REPORT_SQL_H */
