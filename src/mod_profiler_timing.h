/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_timing.h
 * @brief The per-request profile and the hooks that mark the phase edges.
 *
 * A request's profile lives in the request_config of its *initial* request,
 * in its pool: subrequests and internal redirects walk r->main and r->prev to
 * it (the way ap_dbd_acquire finds its connection), so an internal redirect
 * adds to the same profile and a subrequest's time stays in the phase that
 * ran it. httpd runs one request's phases on one thread at a time, so the
 * profile needs no lock.
 */

#ifndef MOD_PROFILER_TIMING_H
#define MOD_PROFILER_TIMING_H

#include "httpd.h"
#include "prof_phase.h"

/** The profile of one request. */
typedef struct {
    prof_phase_rec_t phases;
    request_rec *r;                 /**< the initial request */
    apr_interval_time_t ttfb_us;    /**< request start until headers left */
    unsigned headers_sent:1;        /**< our filter has seen the response */
    unsigned body_done:1;           /**< ... and its EOS */
} prof_req_t;

/**
 * The profile r belongs to: NULL for subrequests (their time belongs to the
 * phase that ran them) and for requests that are not being profiled.
 */
prof_req_t *prof_req_get(request_rec *r);

/** Register the phase hooks. */
void prof_timing_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_TIMING_H */
