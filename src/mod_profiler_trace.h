/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_trace.h
 * @brief W3C Trace Context for requests (ProfilerTraceContext): each
 *        request continues its caller's trace or starts one, gets a span id,
 *        says both in its environment (PROFILER_TRACE_ID, PROFILER_SPAN_ID),
 *        passes the trace on to the backends mod_proxy sends it to, and
 *        names it in Server-Timing (ProfilerServerTimingTraceparent).
 */

#ifndef MOD_PROFILER_TRACE_H
#define MOD_PROFILER_TRACE_H

#include "httpd.h"
#include "http_config.h"

#include "prof_st.h"
#include "prof_trace.h"
#include "mod_profiler_req.h"

/** A request's trace context. */
typedef struct {
    prof_trace_ctx_t ctx;           /**< the trace, and our span's id */
    unsigned char parent[8];        /**< the caller's span (has_parent) */
    unsigned char upstream[8];      /**< the backend wait's span
                                         (has_upstream) */
    unsigned has_parent:1;
    unsigned has_upstream:1;
    char trace_hex[33];
    char span_hex[17];
} prof_trace_req_t;

/** Where ProfilerTraceContext is On for r's server: r's trace context,
 * from its traceparent or new (post_read_request). */
void prof_trace_start(request_rec *r, prof_req_t *rq);

/** An internal redirect joined rq: its environment says the trace too. */
void prof_trace_join(request_rec *r, prof_req_t *rq);

/** The traceparent entry of Server-Timing, where r's configuration asks for
 * it (ProfilerServerTimingTraceparent On). */
void prof_trace_write_st(request_rec *r, prof_req_t *rq, prof_st_buf_t *st);

const char *prof_trace_set_ctx(cmd_parms *cmd, void *dconf, int flag);
const char *prof_trace_set_st(cmd_parms *cmd, void *dconf, int flag);

void prof_trace_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_TRACE_H */
