/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report_params.h
 * @brief The report's query parameters: one table names each parameter,
 *        its type and the endpoints that take it; every check is written
 *        once, in mod_profiler_report_params.c.
 *
 * A parameter is either understood exactly or refused: an unknown,
 * repeated, malformed or misplaced one gives a 400 that names it.
 */

#ifndef MOD_PROFILER_REPORT_PARAMS_H
#define MOD_PROFILER_REPORT_PARAMS_H

#include "httpd.h"

#include "prof_report_sql.h"

/** What a report request asks for: an API endpoint or a page. */
typedef enum {
    PROF_EP_SUMMARY = 0,        /**< api/v1/summary */
    PROF_EP_TIMESERIES,         /**< api/v1/timeseries */
    PROF_EP_HISTOGRAM,          /**< api/v1/histogram */
    PROF_EP_REQUESTS,           /**< api/v1/requests */
    PROF_EP_REQUEST,            /**< api/v1/requests/<id> */
    PROF_EP_HEALTH,             /**< api/v1/health */
    PROF_EP_ROUTE,              /**< api/v1/route: one route's statistics */
    PROF_EP_PAGE_DASHBOARD,     /**< / */
    PROF_EP_PAGE_REQUESTS,      /**< /requests */
    PROF_EP_PAGE_REQUEST,       /**< /requests/<id> */
    PROF_EP_PROFILE,            /**< api/v1/requests/<id>/profile */
    PROF_EP_PAGE_CPU,           /**< /cpu: a whole-server CPU profile */
    PROF_EP_COUNT
} prof_report_ep_t;

/** The default and largest rows of a list. */
#define PROF_REPORT_LIMIT_DEFAULT 100
#define PROF_REPORT_LIMIT_MAX     1000

/** A refused parameter: its name and what is wrong ("<param> <msg>"). */
typedef struct {
    const char *param;
    const char *msg;
} prof_report_bad_t;

/** The parameters of one request, checked. */
typedef struct {
    prof_report_filter_t f;
    int csv;                    /**< format=csv */
    const char *sort;           /**< as given (the summary's sort name) */
    int summary_sort;           /**< index into the summary's sort fields */
    int profile_format;         /**< PROF_EP_PROFILE: PROF_PROFILE_FMT_* */
    int seconds;                /**< PROF_EP_PAGE_CPU: 0 (just the form),
                                     or 1..300 */
    int hz;                     /**< PROF_EP_PAGE_CPU: 1..1000, default 99 */
} prof_report_params_t;

/** What api/v1/requests/<id>/profile answers (format=...). */
#define PROF_PROFILE_FMT_PPROF  0   /**< the default: go tool pprof <url> */
#define PROF_PROFILE_FMT_FOLDED 1
#define PROF_PROFILE_FMT_JSON   2

/** The bounds of the CPU page's profile, as the profiler-profile
 * handler's own. */
#define PROF_REPORT_CPU_SECONDS_MAX 300
#define PROF_REPORT_CPU_HZ_MAX      1000
#define PROF_REPORT_CPU_HZ_DEFAULT  99

/** Does the endpoint read the rollups (whole minutes or hours)? */
int prof_report_ep_rollups(prof_report_ep_t ep);

/**
 * Read r->args for ep into out. now_us is the time "now" and relative
 * times count from; retention_us (0: none) is how far back the rollups
 * reach: a rollup range is clamped to it and to now.
 * @return 1, or 0 with *bad set.
 */
int prof_report_params_parse(request_rec *r, prof_report_ep_t ep,
                             apr_int64_t now_us, apr_int64_t retention_us,
                             prof_report_params_t *out,
                             prof_report_bad_t *bad);

/** The summary's sort fields, in order; the first is the default. */
extern const char *const prof_report_summary_sorts[];

#endif /* MOD_PROFILER_REPORT_PARAMS_H */
