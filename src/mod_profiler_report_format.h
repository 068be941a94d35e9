/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report_format.h
 * @brief The report's API bodies: JSON, and CSV for the lists. Every
 *        string from a request is escaped for where it goes
 *        (prof_report_text.h); 64-bit ids are JSON strings.
 *
 * They only write what mod_profiler_report_query.c read: no database call
 * happens while a body is written.
 */

#ifndef MOD_PROFILER_REPORT_FORMAT_H
#define MOD_PROFILER_REPORT_FORMAT_H

#include "httpd.h"

#include "prof_report_sql.h"
#include "mod_profiler_report_page.h"

/** The summary: groups (prof_report_group_t *) with the keys f->group
 * names; csv: one line per group. source is what the JSON's "source"
 * says the numbers come from: "rollups" (the store) or "live" (the live
 * metrics, since f->from_us: no database). */
void prof_report_json_summary(request_rec *r, const prof_report_filter_t *f,
                              const apr_array_header_t *arr, int csv,
                              const char *source);

/** The time series in buckets of bucket_us. */
void prof_report_json_series(request_rec *r, const prof_report_filter_t *f,
                             const apr_array_header_t *arr,
                             apr_int64_t bucket, int csv);

/** The latency histogram of everything in g; source as for the
 * summary. */
void prof_report_json_histogram(request_rec *r, const prof_report_filter_t *f,
                                const prof_report_group_t *g, int csv,
                                const char *source);

/** A page of requests and the cursor of the next one (or NULL). */
void prof_report_json_requests(request_rec *r, const prof_report_filter_t *f,
                               const apr_array_header_t *arr,
                               const char *next, int csv);

/** One request, its phases (with their starts, and the module times
 * of each: prof_report_module_t *), its output filters' times and spans. */
void prof_report_json_request(request_rec *r, const prof_report_req_t *q,
                              const apr_array_header_t *spans,
                              const apr_array_header_t *modules,
                              int has_profile);

/** The store's health. */
void prof_report_json_health(request_rec *r, const prof_report_health_t *h);

/** One route's statistics: the summary's fields, its minimum, and its
 * histogram's buckets. */
void prof_report_json_route(request_rec *r, const prof_report_filter_t *f,
                            const prof_report_group_t *g);

/**
 * An error as JSON, {"error":{"status":..,"parameter":..,"message":..}}
 * (no parameter when param is NULL), with r->status set.
 * @return OK: the body is the answer (the handler returns it).
 */
int prof_report_json_error(request_rec *r, int status, const char *param,
                           const char *msg);

#endif /* MOD_PROFILER_REPORT_FORMAT_H */
