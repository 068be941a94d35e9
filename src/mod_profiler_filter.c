/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"
#include "apr_buckets.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "http_connection.h"
#include "util_filter.h"

#include "prof_clock.h"
#include "prof_phase.h"
#include "prof_st.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_timing.h"
#include "mod_profiler_req.h"
#include "mod_profiler_filter.h"
#include "mod_profiler_span.h"
#include "mod_profiler_collect.h"
#include "mod_profiler_upstream.h"
#include "mod_profiler_trace.h"
#include "mod_profiler_modtime.h"

/* The most our phase entries can take: ", " + name + ";dur=" + 20 digits
 * + "." + 3 decimals each. The value is written straight into a request
 * pool buffer of the smaller of this and the cap: no copy afterwards. */
#define ST_PHASES_MAX (PROF_PHASE_COUNT * (2 + 9 + 5 + 24))

static ap_filter_rec_t *prof_out_filter_handle;
static ap_filter_rec_t *prof_conn_filter_handle;

/* One Server-Timing field: the entries that came with the response
 * (ProfilerUpstreamTiming merge), then the phases that ran before the
 * headers left (body and log come later and belong to the record only) and
 * total, then other modules' spans that have ended. A phase that was never
 * entered or took less than a microsecond tells nothing and is left out of
 * the header, never out of the record. */
static void write_server_timing(request_rec *r, prof_req_t *rq)
{
    apr_size_t cap = prof_config_st_max_size(r);
    int upstream = prof_upstream_present(r);
    /* Looked at once: a span set another thread creates after this has no
     * span that ended before now. */
    int spans = prof_req_spans(rq) != NULL;
    prof_st_buf_t st;

    if (cap > ST_PHASES_MAX && !spans && !upstream && !rq->modt) {
        cap = ST_PHASES_MAX;        /* only the phases can come */
    }
    prof_st_init(&st, apr_palloc(r->pool, cap + 1), cap + 1);
    /* What came with the response (a backend, CGI) first, cleaned ... */
    if (upstream) {
        prof_upstream_write_st(r, &st, upstream);
    }
    /* ... then ours. */
    prof_phase_write_st(&rq->phases, rq->ttfb_us, &st);
    /* Each module's hooks that have returned, after the phases. */
    if (rq->modt) {
        prof_modtime_write_st(r, rq->modt, &st);
    }
    if (rq->trace) {
        prof_trace_write_st(r, rq, &st);
    }
    /* Other modules' spans and metrics that ended before now, after ours
     * and in start order. */
    if (spans) {
        prof_span_write_st(r, rq, &st);
    }
    if (st.len) {
        /* addn: with ProfilerUpstreamTiming pass, the fields that came
         * with the response stay, and ours follows them. */
        apr_table_addn(r->headers_out, "Server-Timing", st.buf);
    }
    if (st.dropped) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PROFLOGNO(00002)
                      "Server-Timing: %u entries did not fit in "
                      "ProfilerServerTimingMaxSize %" APR_SIZE_T_FMT,
                      st.dropped, cap);
    }
}

/* An error bucket makes the header filter answer with an error response
 * instead; that one comes through us again (we are re-added from
 * insert_error_filter) and gets the header. */
static int has_error_bucket(apr_bucket_brigade *bb)
{
    apr_bucket *e;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (AP_BUCKET_IS_ERROR(e)) {
            return 1;
        }
    }
    return 0;
}

/* The response's first bytes: the handler phase ends, the body begins,
 * and the time to first byte is taken. */
static APR_INLINE void first_bytes(prof_req_t *rq)
{
    prof_phase_mark(&rq->phases, PROF_PHASE_BODY);
    if (rq->upstream) {
        prof_upstream_end(rq);
    }
    if (rq->spans) {
        prof_span_own_cleanup(rq);
    }
    rq->headers_sent = 1;
}

/* The request's own filter, where it has one: to write the Server-Timing
 * header (it must run before the HTTP header filter), on a connection
 * without the connection filter below, and (without a profile) for
 * ProfilerUpstreamTiming drop. */
static apr_status_t prof_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    prof_req_t *rq = f->ctx;

    if (APR_BRIGADE_EMPTY(bb)) {
        return ap_pass_brigade(f->next, bb);
    }
    if (rq == NULL) {
        /* Only ProfilerUpstreamTiming drop, for a response that gets no
         * field of ours: take theirs out, then get out of the way. */
        if (!has_error_bucket(bb)) {
            prof_upstream_drop(f->r);
            ap_remove_output_filter(f);
        }
        return ap_pass_brigade(f->next, bb);
    }
    if (!rq->headers_sent) {
        if (has_error_bucket(bb)) {
            return ap_pass_brigade(f->next, bb);
        }
        first_bytes(rq);
        if (rq->send_header) {
            rq->ttfb_us = prof_phase_total(&rq->phases,
                                           prof_phase_fold(&rq->phases));
            write_server_timing(f->r, rq);
        }
        else {
            /* Nothing reads the phases before logging: they are turned
             * into durations once, there (the time to first byte too,
             * prof_req_ttfb()). */
            prof_upstream_drop(f->r);
        }
    }
    /* Nothing more to do for the response: its body ends where logging
     * begins, as on the connection's filter. */
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/*
 * The connection's filter: added once per connection, it times the first
 * bytes and the end of every response on it, so that a request needs no
 * filter of its own (inserting one, and passing every brigade through it,
 * cost more than all the phase edges together). The request it times is
 * the one the connection last read (prof_conn_t), which is also how
 * httpd's own output works: a pipelined request's response is passed
 * after the one before it was. At the connection level the response is on
 * its way out (headers made, chunked), so the time to first byte is when
 * its first bytes leave httpd's request processing, as mod_logio counts
 * them; it runs before mod_ssl's filter.
 */
/* A brigade of the response being timed: the first bytes, or its end. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static apr_status_t conn_response(ap_filter_t *f, apr_bucket_brigade *bb)
{
    prof_conn_t *cc = f->ctx;
    prof_req_t *rq = cc->cur;

    if (!APR_BRIGADE_EMPTY(bb)) {
        if (!rq->headers_sent) {
            /* The time to first byte is this edge's: read from the
             * record when it is complete (prof_req_ttfb()). */
            first_bytes(rq);
        }
        /* Nothing more to time on this response: the body ends where
         * logging begins, once httpd has handed all of it to the
         * network (the EOR bucket's end). */
        cc->cur = NULL;
    }
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t prof_conn_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    /* Every brigade of the connection passes here, most of them after the
     * response was timed: two loads and a test, then on (the work is out
     * of line, so that this needs no stack frame). */
    if (((prof_conn_t *)f->ctx)->cur) {
        return conn_response(f, bb);
    }
    return ap_pass_brigade(f->next, bb);
}

/* Returns whether the filter was added. */
static int add_filter_if_read(request_rec *r, prof_req_t *rq)
{
    if (rq->headers_sent) {
        return 0;
    }
    /* Decided here, with the request's final configuration, before any
     * byte of the response: the expr= gate sees the request, not the
     * response. An internal redirect (ErrorDocument, a CGI's local
     * redirect, DirectoryIndex) comes through here again and decides anew,
     * so the last request's configuration holds, as for the record. */
    if (!prof_config_enabled(r)) {
        rq->send_header = 0;
        return 0;
    }
    rq->send_header = prof_config_st_allowed(r);
    /* The header needs a filter of the request's. Otherwise the
     * connection's filter ends the handler phase and measures the body;
     * without it (a connection the profiler did not see start) the
     * request's own filter does, where anything will read that (the
     * header, a module on the record hook, the metrics, the store, the
     * trace log): else the handler phase runs on until logging. */
    if (rq->send_header
        || (!rq->conn_timed
            && (prof_record_wanted() || prof_collect_wanted(r)
                || APLOGrtrace1(r)))) {
        ap_add_output_filter_handle(prof_out_filter_handle, rq, r,
                                    r->connection);
        return 1;
    }
    return 0;
}

/* ProfilerUpstreamTiming drop holds for every response, not only those that
 * get our field: without a profile, or where nothing of ours is written,
 * the filter comes without one (ctx NULL) just to take theirs out. Never on
 * a subrequest: its headers never reach the client. */
static void add_drop_filter(request_rec *r)
{
    if (r->main == NULL && prof_config_up_mode(r) == PROF_UP_DROP) {
        ap_add_output_filter_handle(prof_out_filter_handle, NULL, r,
                                    r->connection);
    }
}

/* ap_invoke_handler runs insert_filter right before the handlers: the
 * handler phase starts here, which spares a handler hook on every request.
 * mod_cache's quick handler runs insert_filter too, to serve a hit: that is
 * still the quick phase. */
static void insert_filter(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);  /* NULL for subrequests */

    if (rq) {
        if (prof_phase_current(&rq->phases) != PROF_PHASE_QUICK) {
            prof_phase_mark(&rq->phases, PROF_PHASE_HANDLER);
        }
        /* Where no header can be written, no upstream field dropped, and
         * the connection's filter times the response, that is all. */
        if (rq->conn_timed && !prof_config_srv(r->server)->rfilter_maybe) {
            return;
        }
        if (add_filter_if_read(r, rq)) {
            return;
        }
    }
    add_drop_filter(r);
}

/* Whether Profiler On appears anywhere in the configuration: written by
 * post_config in the parent before any connection, read-only in the
 * children, which inherit it. */
static int profiler_anywhere;
/* Whether any server's requests may need a filter of their own (the
 * header, ProfilerUpstreamTiming drop): the same life as the above. */
static int rfilter_anywhere;

static int filter_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog; (void)ptemp;
    profiler_anywhere = 0;
    rfilter_anywhere = 0;
    for (; s; s = s->next) {
        if (prof_config_maybe_on(s)) {
            profiler_anywhere = 1;
        }
        if (prof_config_srv(s)->rfilter_maybe) {
            rfilter_anywhere = 1;
        }
    }
    return OK;
}

int prof_filter_unhook_insert(void)
{
    /* Where no request can need a filter of ours, insert_filter would
     * only begin the handler phase: a call on every request that the
     * fused edge spares (mod_profiler_timing.c). Every connection has
     * our connection filter wherever a request can be timed. */
    if (rfilter_anywhere || !profiler_anywhere) {
        return 0;
    }
    prof_timing_unhook(ap_hook_get_insert_filter(),
                       APR_OFFSETOF(ap_LINK_insert_filter_t, pFunc),
                       (void *)insert_filter);
    return 1;
}

/* Every connection, where the profiler is on anywhere (a name-based
 * virtual host is known only once a request is read), gets the connection
 * filter and its state, once. */
static int pre_connection(conn_rec *c, void *csd)
{
    prof_conn_t *cc;

    (void)csd;
    if (!profiler_anywhere) {
        return DECLINED;
    }
    cc = apr_pcalloc(c->pool, sizeof(*cc));
    prof_module_conf_set(c->conn_config, cc);
    ap_add_output_filter_handle(prof_conn_filter_handle, cc, NULL, c);
    return DECLINED;
}

/* Error responses start again from the protocol filters. */
static void insert_error_filter(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);

    if (rq && add_filter_if_read(r, rq)) {
        return;
    }
    add_drop_filter(r);
}

void prof_filter_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* One below the HTTP header filter (AP_FTYPE_PROTOCOL): every content
     * filter has run on the brigade that reaches us, and the header filter,
     * which turns headers_out into bytes (or HTTP/2 frames), has not. */
    prof_out_filter_handle =
        ap_register_output_filter(PROF_FILTER_NAME, prof_out_filter, NULL,
                                  AP_FTYPE_PROTOCOL - 1);
    /* First among the connection filters, before mod_ssl's (CONNECTION
     * + 5): the bytes as the request made them. */
    prof_conn_filter_handle =
        ap_register_output_filter(PROF_CONN_FILTER_NAME, prof_conn_filter,
                                  NULL, AP_FTYPE_CONNECTION);
    ap_hook_post_config(filter_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_connection(pre_connection, NULL, NULL, APR_HOOK_MIDDLE);
    /* Inserted for normal responses, first of all insert_filter hooks: the
     * handler phase begins here ... */
    ap_hook_insert_filter(insert_filter, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* ... and again for error responses, which start from the protocol
     * filters alone (ap_send_error_response drops ours). */
    ap_hook_insert_error_filter(insert_error_filter, NULL, NULL,
                                APR_HOOK_MIDDLE);
}
