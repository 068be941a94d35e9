/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_req.h
 * @brief The per-request profile, which the phase hooks (timing), the span
 *        API (span), the filter, the upstream unit and the store's collector
 *        all read: a header of its own below all of them, so that none of
 *        those units has to include another just for the record.
 *
 * A request's profile is allocated in the pool of its *initial* request and
 * shared by the internal redirects that follow it, so an internal redirect
 * adds to the same profile; a subrequest has none, so its time stays in the
 * phase that ran it. httpd runs one request's phases on one thread at a
 * time, so the profile needs no lock (its span set is the exception: see
 * mod_profiler_span.c).
 */

#ifndef MOD_PROFILER_REQ_H
#define MOD_PROFILER_REQ_H

#include "apr_portable.h"

#include "httpd.h"
#include "http_config.h"
#include "prof_phase.h"
#include "mod_profiler_private.h"

/** The profile of one request. */
typedef struct {
    prof_phase_rec_t phases;
    request_rec *r;                 /**< the initial request */
    /* Spans of other modules: created on first use by whichever thread
     * comes first (see mod_profiler_span.c), freed by a cleanup of r->pool
     * registered with the profile. */
    volatile void *spans;           /**< prof_span_set_t * */
    apr_os_thread_t owner;          /**< the thread that read the request */
    int spans_cleanup;              /**< the set's cleanup is registered */
    void *upstream;                 /**< the running `upstream` prof_span_t */
    apr_interval_time_t ttfb_us;    /**< request start until headers left */
    void *trace;                    /**< prof_trace_req_t * (W3C trace
                                         context, mod_profiler_trace.c);
                                         NULL without ProfilerTraceContext */
    void *modt;                     /**< prof_modt_t * (module timing,
                                         mod_profiler_modtime.c); NULL */
    void *cpuprof;                  /**< CPU profile state (sample label,
                                         ProfilerRequestProfile's session):
                                         mod_profiler_profile.c's; NULL */
    unsigned headers_sent:1;        /**< our filter has seen the response */
    unsigned send_header:1;         /**< ProfilerServerTiming allows it */
    unsigned conn_timed:1;          /**< the connection's filter times it */
    unsigned own:1;                 /**< answered by the report or the
                                         metrics: counted nowhere */
} prof_req_t;

/**
 * What the profiler keeps per connection: the request whose response the
 * connection's output filter is timing (mod_profiler_filter.c), set when
 * the request is read and cleared when it is logged. Absent on a
 * connection that started before the profiler could be on for any server
 * (then the requests fall back to a filter of their own).
 */
typedef struct {
    prof_req_t *cur;
} prof_conn_t;

/**
 * The profile r belongs to: NULL for subrequests (their time belongs to the
 * phase that ran them) and for requests that are not being profiled.
 *
 * Every request of a chain of internal redirects carries the pointer in its
 * own request_config (post_read_request copies it along), and a subrequest
 * gets a fresh request_config from httpd, so this is one array load: it runs
 * at every phase edge.
 */
static APR_INLINE prof_req_t *prof_req_get(const request_rec *r)
{
    return prof_module_conf(r->request_config);
}

/**
 * The last request of r's chain of internal redirects (r itself when there
 * was none): the one whose configuration and status the record follows, as
 * mod_log_config's %>s does.
 */
static APR_INLINE prof_conn_t *prof_conn_get(const conn_rec *c)
{
    return prof_module_conf(c->conn_config);
}

static APR_INLINE request_rec *prof_req_final(request_rec *r)
{
    while (r->next) {
        r = r->next;
    }
    return r;
}

#endif /* MOD_PROFILER_REQ_H */
