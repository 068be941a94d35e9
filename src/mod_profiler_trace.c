/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"
#include "apr_optional.h"           /* before apr_optional_hooks.h: apu.h */
#include "apr_optional_hooks.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "prof_st.h"
#include "prof_trace.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_req.h"
#include "mod_profiler_trace.h"
#include "mod_profiler_otlp.h"

#define TRACEPARENT "traceparent"
#define TRACESTATE "tracestate"

static void set_env(request_rec *r, const prof_trace_req_t *t)
{
    apr_table_setn(r->subprocess_env, "PROFILER_TRACE_ID", t->trace_hex);
    apr_table_setn(r->subprocess_env, "PROFILER_SPAN_ID", t->span_hex);
}

void prof_trace_start(request_rec *r, prof_req_t *rq)
{
    prof_trace_req_t *t = apr_palloc(r->pool, sizeof(*t));
    prof_trace_ctx_t in;
    unsigned char ids[3][8];

    /* A new trace's id and our span's, in one draw (the first is unused
     * when the trace is continued). */
    prof_trace_span_ids(ids, 3);
    t->has_upstream = 0;
    if (prof_traceparent_parse(apr_table_get(r->headers_in, TRACEPARENT),
                               &in)) {
        /* Continued: the caller's trace and its sampling decision (the
         * other flags are the caller's business, not ours to pass on). */
        memcpy(t->ctx.trace_id, in.trace_id, sizeof(in.trace_id));
        memcpy(t->parent, in.span_id, sizeof(in.span_id));
        t->ctx.flags = in.flags & PROF_TRACE_SAMPLED;
        t->has_parent = 1;
    }
    else {
        /* A trace of our own. (A tracestate without a valid traceparent
         * belongs to no trace: proxy_fixups() does not pass it on.) */
        memcpy(t->ctx.trace_id, ids[0], 16);
        /* ProfilerOTLPSample decides for new traces (1 without export). */
        t->ctx.flags = !prof_otlp_on() || prof_trace_draw() < prof_otlp_sample()
                       ? PROF_TRACE_SAMPLED : 0;
        t->has_parent = 0;
    }
    memcpy(t->ctx.span_id, ids[2], 8);
    prof_trace_hex(t->ctx.trace_id, sizeof(t->ctx.trace_id), t->trace_hex);
    prof_trace_hex(t->ctx.span_id, sizeof(t->ctx.span_id), t->span_hex);
    rq->trace = t;
    set_env(r, t);
}

void prof_trace_join(request_rec *r, prof_req_t *rq)
{
    if (rq->trace) {
        set_env(r, rq->trace);
    }
}

void prof_trace_write_st(request_rec *r, prof_req_t *rq, prof_st_buf_t *st)
{
    const prof_dir_conf_t *d =
        ap_get_module_config(r->per_dir_config, &profiler_module);
    char tp[PROF_TRACEPARENT_LEN + 1];

    if (rq->trace && d->st_traceparent == 1) {
        /* Our span: what a browser's own spans of this page join. */
        prof_traceparent_format(&((prof_trace_req_t *)rq->trace)->ctx, tp);
        prof_st_add(st, "traceparent", PROF_ST_NO_DUR, tp);
    }
}

/* mod_proxy is about to copy headers_in into a backend's request
 * (ap_proxy_create_hdrbrgd(): mod_proxy_http, each attempt): the backend
 * continues our trace, with the span of the wait for it as parent (one per
 * request, whatever the retries); tracestate goes along as it came.
 * Applications behind mod_proxy_fcgi get PROFILER_TRACE_ID and
 * PROFILER_SPAN_ID in their environment instead. */
static int proxy_fixups(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);
    prof_trace_req_t *t = rq ? rq->trace : NULL;
    prof_trace_ctx_t out;
    char *tp;

    if (t == NULL) {
        return DECLINED;
    }
    if (!t->has_upstream) {
        prof_trace_random(t->upstream, sizeof(t->upstream));
        t->has_upstream = 1;
    }
    out = t->ctx;
    memcpy(out.span_id, t->upstream, sizeof(out.span_id));
    tp = apr_palloc(r->pool, PROF_TRACEPARENT_LEN + 1);
    prof_traceparent_format(&out, tp);
    apr_table_setn(r->headers_in, TRACEPARENT, tp);
    if (!t->has_parent) {
        /* A tracestate without a valid traceparent belongs to no trace
         * (unset here, not for every request: only a backend would read
         * it). */
        apr_table_unset(r->headers_in, TRACESTATE);
    }
    return DECLINED;
}

const char *prof_trace_set_ctx(cmd_parms *cmd, void *dconf, int flag)
{
    prof_srv_conf_t *conf =
        ap_get_module_config(cmd->server->module_config, &profiler_module);

    (void)dconf;
    conf->trace_ctx = flag ? 1 : 0;
    return NULL;
}

const char *prof_trace_set_st(cmd_parms *cmd, void *dconf, int flag)
{
    prof_dir_conf_t *d = dconf;

    (void)cmd;
    d->st_traceparent = flag ? 1 : 0;
    return NULL;
}

/* A new child inherits the parent's generators: each of its threads seeds
 * its own anew. */
static void trace_child_init(apr_pool_t *p, server_rec *s)
{
    (void)p; (void)s;
    prof_trace_forked();
}

void prof_trace_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_child_init(trace_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* An optional hook: never runs when mod_proxy is not loaded. */
    APR_OPTIONAL_HOOK(proxy, fixups, proxy_fixups, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
