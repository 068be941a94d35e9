/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report_profile.h
 * @brief CPU profiles in the report (issue 12): a stored request's profile
 *        as the API serves it (pprof, folded stacks, JSON), and the
 *        whole-server profile that the CPU page shows.
 *
 * The CPU page takes its profile through the profiler-profile handler
 * itself, as a subrequest to that handler's <Location> (found in the
 * configuration, mod_profiler_report_lint.h) with format=folded, whose
 * body is captured instead of sent. So the page is exactly as allowed as
 * the endpoint (the subrequest passes the endpoint's own access control
 * with the client's address and credentials), one profile at a time holds
 * for both (the handler's 409), and the report needs nothing of the
 * sampler but its documented answer.
 */

#ifndef MOD_PROFILER_REPORT_PROFILE_H
#define MOD_PROFILER_REPORT_PROFILE_H

#include "httpd.h"

#include "prof_stacks.h"

/**
 * Answer api/v1/requests/<id>/profile from the stored text of the
 * profile: format is PROF_PROFILE_FMT_* (mod_profiler_report_params.h).
 * @return OK, or an error already answered as JSON (a profile that does
 *         not parse: 500, logged).
 */
int prof_report_profile_answer(request_rec *r, apr_int64_t id,
                               const char *text, int format);

/** A whole-server profile taken for the CPU page. */
typedef struct {
    int status;             /**< the profile handler's answer: 200, 409
                                 (another runs), 403, 400 ...; 404 when
                                 the configuration has no such handler */
    const char *msg;        /**< what went wrong, for the page; NULL */
    const char *url;        /**< where it was asked (the handler's path) */
    prof_stacks_t *stacks;  /**< status 200: the profile */
    int processes;          /**< child processes that sampled; -1 unknown */
} prof_report_cpu_t;

/** The most bytes of folded stacks the CPU page reads back. */
#define PROF_REPORT_CPU_BODY_MAX (32 * 1024 * 1024)

/**
 * Take a whole-server profile of seconds at hz through the profiler-profile
 * handler, into out (everything in r->pool). Blocks for seconds and a
 * little more, as the handler does.
 */
void prof_report_cpu_take(request_rec *r, int seconds, int hz,
                          prof_report_cpu_t *out);

void prof_report_profile_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_REPORT_PROFILE_H */
