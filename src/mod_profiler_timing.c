/* Licensed under the Apache License, Version 2.0. */

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "prof_clock.h"
#include "prof_phase.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_timing.h"
#include "mod_profiler_span.h"
#include "mod_profiler_collect.h"
#include "mod_profiler_filter.h"
#include "mod_profiler_req.h"
#include "mod_profiler_profile.h"
#include "mod_profiler_trace.h"
#include "mod_profiler_otlp.h"
#include "mod_profiler_modtime.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_store.h"

/* A phase edge in r's profile, if it has one: the clock and the phase go
 * into the record, nothing else happens here (see prof_phase_mark()). */
static APR_INLINE void mark(request_rec *r, int what)
{
    prof_req_t *rq = prof_req_get(r);

    if (rq) {
        prof_phase_mark(&rq->phases, what);
    }
}

/* The phase the start enters: postread, or translate where no module but
 * ours has a post_read_request hook and none a quick_handler (then
 * nothing of postread's or quick's can run: see timing_post_config()).
 * Written by post_config only, as the fused edges' functions are. */
static int start_enters = PROF_PHASE_POSTREAD;

static int hook_post_read_first(request_rec *r)
{
    prof_req_t *rq;
    prof_conn_t *cc;
    prof_tick_t now;

    prof_profile_lazy_check();          /* prefork: see there */
    if (r->prev) {
        /* An internal redirect runs post_read_request again: it joins the
         * profile of the request it came from. */
        rq = prof_req_get(r->prev);
        if (rq) {
            prof_module_conf_set(r->request_config, rq);
            prof_phase_mark(&rq->phases, start_enters);
            prof_trace_join(r, rq);
        }
        return DECLINED;
    }
    if (r->main || !prof_config_maybe_on(r->server)) {
        return DECLINED;
    }
    rq = apr_palloc(r->pool, sizeof(*rq));
    /* The tick first, then the wall clock for the anchor httpd gives us
     * (r->request_time): ticks from here on, postread from this one. */
    now = prof_clock_tick();
    prof_phase_rec_begin(&rq->phases, now, apr_time_now() - r->request_time,
                         start_enters);
    rq->r = r;
    rq->ttfb_us = 0;
    rq->spans = NULL;
    rq->owner = apr_os_thread_current();
    rq->spans_cleanup = 0;
    rq->upstream = NULL;
    rq->cpuprof = NULL;
    rq->modt = NULL;            /* module timing's, when on */
    rq->trace = NULL;
    rq->headers_sent = 0;
    rq->send_header = 0;
    rq->own = 0;
    /* The connection's filter (mod_profiler_filter.c) times the first
     * byte of this request's response, and its end. */
    cc = prof_conn_get(r->connection);
    rq->conn_timed = cc != NULL;
    if (cc) {
        cc->cur = rq;
    }
    prof_module_conf_set(r->request_config, rq);
    if (prof_config_srv(r->server)->trace_ctx > 0) {
        prof_trace_start(r, rq);
    }
    return DECLINED;
}

static int hook_quick_last(request_rec *r, int lookup)
{
    /* Every quick handler declined: what follows up to map_to_storage
     * (URI normalisation, <Location> walk, pre_translate_name,
     * translate_name) is translation. */
    if (!lookup) {
        mark(r, PROF_PHASE_TRANSLATE);
    }
    return DECLINED;
}

/* Logging begins: nothing of this request passes the connection's filter
 * any more (its pool goes after logging), so it is forgotten there. Before
 * the first log hook, not in the last: a log hook that fails ends the
 * others. */
static APR_INLINE void log_begins(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);

    if (rq) {
        prof_conn_t *cc = prof_conn_get(r->connection);

        prof_phase_mark(&rq->phases, PROF_PHASE_LOG);
        if (cc && cc->cur == rq) {
            cc->cur = NULL;
        }
    }
}

/*
 * Phase edges fused into each phase's first hook. A phase begins where its
 * first hook is called; an edge of our own there, REALLY_FIRST, would cost
 * every request a call and an iteration of httpd's loop around it. Instead,
 * once httpd has sorted the hooks (before post_config, each generation
 * anew), the first entry of the phase's sorted array is replaced by a
 * function of ours that marks the edge and calls the module's function with
 * the same arguments, returning what it returns: the module, the order and
 * RUN_FIRST's "first answer ends it" are unchanged. A phase in which no
 * module has a hook has no entry and no edge: it is never entered, as when
 * no module answers it, and httpd's few instructions between two phases go
 * to the phase before.
 *
 * The module's function is kept in a static of the process, written only by
 * post_config (one thread, before any child exists; a child inherits it,
 * and a graceful restart gives new children a new one, with the arrays that
 * httpd rebuilt for that generation), read by requests.
 */
#define FUSED_EDGE(hook, phase) \
    static ap_HOOK_##hook##_t *first_##hook; \
    static int fused_##hook(request_rec *r) \
    { \
        mark(r, phase); \
        return first_##hook(r); \
    }

FUSED_EDGE(map_to_storage, PROF_PHASE_STORAGE)
FUSED_EDGE(header_parser, PROF_PHASE_HEADERS)
/* access spans access_checker and access_checker_ex (which follows it
 * directly, and where mod_authz_core decides Require rules that need no
 * user): opened by the first of them that has hooks. */
FUSED_EDGE(access_checker, PROF_PHASE_ACCESS)
FUSED_EDGE(access_checker_ex, PROF_PHASE_ACCESS)
FUSED_EDGE(check_user_id, PROF_PHASE_AUTHN)
FUSED_EDGE(auth_checker, PROF_PHASE_AUTHZ)
FUSED_EDGE(type_checker, PROF_PHASE_TYPE)
FUSED_EDGE(fixups, PROF_PHASE_FIXUPS)

/* quick_handler is RUN_FIRST: a cache hit ends it by answering. Its
 * lookup calls (mod_cache's, for a subrequest's look-ahead) time nothing. */
static ap_HOOK_quick_handler_t *first_quick_handler;
static int fused_quick_handler(request_rec *r, int lookup)
{
    if (!lookup) {
        mark(r, PROF_PHASE_QUICK);
    }
    return first_quick_handler(r, lookup);
}

/* Where no module has a quick_handler, translation begins when the last
 * post_read_request hook returns: that hook's function is called from
 * here, and the edge follows it (post_read_request is RUN_ALL: the last
 * hook runs unless an earlier one failed the request). */
static ap_HOOK_post_read_request_t *last_post_read_request;
static int fused_post_read_last(request_rec *r)
{
    int rv = last_post_read_request(r);

    mark(r, PROF_PHASE_TRANSLATE);
    return rv;
}

/* The handler phase begins in our insert_filter hook where that is needed
 * anyway (mod_profiler_filter.c); elsewhere in the first insert_filter
 * hook of another module, or else in the first handler. mod_cache's quick
 * handler runs insert_filter too, to serve a hit: that is still quick. */
static APR_INLINE void handler_begins(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);

    if (rq && rq->phases.cur != PROF_PHASE_QUICK) {
        prof_phase_mark(&rq->phases, PROF_PHASE_HANDLER);
    }
}

static ap_HOOK_insert_filter_t *first_insert_filter;
static void fused_insert_filter(request_rec *r)
{
    handler_begins(r);
    first_insert_filter(r);
}

static ap_HOOK_handler_t *first_handler;
static int fused_handler(request_rec *r)
{
    handler_begins(r);
    return first_handler(r);
}

static ap_HOOK_log_transaction_t *first_log_transaction;
static int fused_log_transaction(request_rec *r)
{
    log_begins(r);
    return first_log_transaction(r);
}

/* The whole record in the error log (LogLevel profiler:trace1): out of
 * line, so that the log hook of every other request does not carry this
 * call's frame. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void trace_record(request_rec *r, prof_req_t *rq)
{
    prof_phase_rec_t *ph = &rq->phases;
    prof_span_set_t *set = prof_req_spans(rq);

    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "profile of %s: total=%" APR_INT64_T_FMT "us "
                  "ttfb=%" APR_INT64_T_FMT "us read=%" APR_INT64_T_FMT
                  " postread=%" APR_INT64_T_FMT " quick=%" APR_INT64_T_FMT
                  " translate=%" APR_INT64_T_FMT " storage=%"
                  APR_INT64_T_FMT " headers=%" APR_INT64_T_FMT
                  " access=%" APR_INT64_T_FMT " authn=%" APR_INT64_T_FMT
                  " authz=%" APR_INT64_T_FMT " type=%" APR_INT64_T_FMT
                  " fixups=%" APR_INT64_T_FMT " handler=%" APR_INT64_T_FMT
                  " body=%" APR_INT64_T_FMT " log=%" APR_INT64_T_FMT
                  " spans_dropped=%u",
                  r->uri, ph->dur_us[PROF_PHASE_TOTAL], rq->ttfb_us,
                  ph->dur_us[PROF_PHASE_READ],
                  ph->dur_us[PROF_PHASE_POSTREAD],
                  ph->dur_us[PROF_PHASE_QUICK],
                  ph->dur_us[PROF_PHASE_TRANSLATE],
                  ph->dur_us[PROF_PHASE_STORAGE],
                  ph->dur_us[PROF_PHASE_HEADERS],
                  ph->dur_us[PROF_PHASE_ACCESS],
                  ph->dur_us[PROF_PHASE_AUTHN],
                  ph->dur_us[PROF_PHASE_AUTHZ],
                  ph->dur_us[PROF_PHASE_TYPE],
                  ph->dur_us[PROF_PHASE_FIXUPS],
                  ph->dur_us[PROF_PHASE_HANDLER],
                  ph->dur_us[PROF_PHASE_BODY],
                  ph->dur_us[PROF_PHASE_LOG],
                  set ? prof_span_dropped(set) : 0u);
}

static int hook_log_last(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);
    request_rec *last;
    prof_phase_rec_t *ph;
    int wanted, store, trace, otlp;

    if (!rq) {
        return DECLINED;
    }
    ph = &rq->phases;
    prof_phase_mark(ph, PROF_MARK_LEAVE | PROF_PHASE_LOG);
    if (!first_log_transaction) {
        /* No other log hook, so no fused edge: forgotten here. */
        prof_conn_t *cc = prof_conn_get(r->connection);

        if (cc && cc->cur == rq) {
            cc->cur = NULL;
        }
    }
    if (rq->spans) {
        prof_span_own_cleanup(rq);
    }
    /* httpd logs the initial request; after an internal redirect
     * (ErrorDocument, a CGI's local redirect) the configuration that holds
     * is the last request's, as its status is (mod_log_config's %>s), and
     * as it was for the header. */
    last = prof_req_final(r);
    if (!prof_config_enabled(last)) {
        /* Timed from the start because its <Location> was not known yet,
         * but the profiler is off where the request ended up. */
        return DECLINED;
    }
    /* The record is complete. Turning its ticks into durations is work
     * for whoever reads it: the live metrics and the store, modules on the
     * record_complete hook, the trace log. */
    wanted = prof_record_wanted();
    store = prof_store_running()
            && (prof_config_store(last) || prof_profile_request_id(rq));
    trace = APLOGrtrace1(last);
    otlp = rq->trace != NULL && prof_otlp_on();
    if (!wanted && !store && !trace) {
        /* Most requests: counted in the live metrics from the ticks (no
         * durations needed), and handed to the OTLP exporter as ticks too
         * (its thread folds them). */
        prof_agg_t *agg = prof_metrics_agg_of(rq->r->server);

        if (agg) {
            prof_collect_count(last, rq, agg);
        }
        if (otlp && !rq->own) {
            prof_otlp_capture(r, rq);
        }
        return DECLINED;
    }
    store = store || prof_metrics_agg() != NULL;
    prof_phase_total(ph, prof_phase_fold(ph));
    if (rq->headers_sent && rq->ttfb_us == 0) {
        /* Timed by the connection's filter: its first bytes' edge. */
        rq->ttfb_us = prof_phase_entered_us(ph, PROF_PHASE_BODY);
    }
    if (wanted) {
        prof_record_complete(r, rq);
    }
    if (store) {
        prof_collect_request(last, rq);
    }
    if (trace) {
        trace_record(r, rq);
    }
    if (otlp && !rq->own) {
        prof_otlp_capture(r, rq);
    }
    return DECLINED;
}

/* How many hooks of other modules a sorted array holds: every entry
 * (ap_LINK_<hook>_t, apr_hooks.h) names the module that registered it. Our
 * own (the request profile's, in mod_profiler_profile.c) are not work of a
 * phase. */
#define OTHERS(hook) \
    others(ap_hook_get_##hook(), APR_OFFSETOF(ap_LINK_##hook##_t, szName))

static int others(const apr_array_header_t *a, apr_size_t name_at)
{
    int i, count = 0;

    for (i = 0; a && i < a->nelts; ++i) {
        const char *s = *(const char *const *)(a->elts + i * a->elt_size
                                               + name_at);

        if (s == NULL || strcmp(s, profiler_module.name) != 0) {
            ++count;
        }
    }
    return count;
}

/* Fuses the edge into the hook's first entry when other modules have work
 * there (see FUSED_EDGE); 1 when it did. The test against our own function
 * keeps a second post_config over the same arrays from wrapping twice. */
#define FUSE(hook) fuse_##hook()
#define DEFINE_FUSE(hook) \
    static int fuse_##hook(void) \
    { \
        apr_array_header_t *a = ap_hook_get_##hook(); \
        ap_LINK_##hook##_t *e; \
        if (!OTHERS(hook)) { \
            first_##hook = NULL; \
            return 0; \
        } \
        e = (ap_LINK_##hook##_t *)a->elts; \
        if (e[0].pFunc != fused_##hook) { \
            first_##hook = e[0].pFunc; \
            e[0].pFunc = fused_##hook; \
        } \
        return 1; \
    }

DEFINE_FUSE(quick_handler)
DEFINE_FUSE(map_to_storage)
DEFINE_FUSE(header_parser)
DEFINE_FUSE(access_checker)
DEFINE_FUSE(access_checker_ex)
DEFINE_FUSE(check_user_id)
DEFINE_FUSE(auth_checker)
DEFINE_FUSE(type_checker)
DEFINE_FUSE(fixups)
DEFINE_FUSE(log_transaction)
DEFINE_FUSE(insert_filter)
DEFINE_FUSE(handler)

void prof_timing_unhook(apr_array_header_t *a, apr_size_t func_at, void *fn)
{
    int i = 0;

    while (a && i < a->nelts) {
        char *e = a->elts + i * a->elt_size;
        void *f;

        memcpy(&f, e + func_at, sizeof(f));
        if (f == fn) {
            memmove(e, e + a->elt_size, (a->nelts - i - 1) * a->elt_size);
            --a->nelts;
        }
        else {
            ++i;
        }
    }
}

/* Where translation begins (see start_enters): the hook at the end of
 * quick_handler is needed only where a module has quick handlers;
 * otherwise it goes, and the edge moves to the end of post_read_request.
 * Returns what the log says. */
static const char *place_translate(void)
{
    apr_array_header_t *pr = ap_hook_get_post_read_request();
    ap_LINK_post_read_request_t *e;

    start_enters = PROF_PHASE_POSTREAD;
    if (OTHERS(quick_handler)) {
        /* Registered now, after the sort, at the end of the sorted array,
         * which is where REALLY_LAST puts it (a second post_config over
         * the same arrays finds it there). Registered earlier, it would
         * leave httpd an empty array to loop over where it goes. */
        apr_array_header_t *a = ap_hook_get_quick_handler();
        ap_LINK_quick_handler_t *q = (ap_LINK_quick_handler_t *)a->elts;

        if (q[a->nelts - 1].pFunc != hook_quick_last) {
            ap_hook_quick_handler(hook_quick_last, NULL, NULL,
                                  APR_HOOK_REALLY_LAST);
        }
        return "when every quick_handler declined";
    }
    if (!OTHERS(post_read_request)) {
        start_enters = PROF_PHASE_TRANSLATE;
        return "at the start (no post_read_request hook of another module)";
    }
    e = &((ap_LINK_post_read_request_t *)pr->elts)[pr->nelts - 1];
    /* (A second post_config over the same arrays finds it done.) */
    if (e->pFunc != fused_post_read_last) {
        last_post_read_request = e->pFunc;
        e->pFunc = fused_post_read_last;
    }
    return "after the last post_read_request hook";
}

static int timing_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    int fused = 0, phases = 0, wrapped;
    const char *translate;

    (void)plog; (void)ptemp;
    /* Before the fusing: the fused quick_handler entry is not ours. */
    translate = place_translate();
    fused += FUSE(quick_handler);
    fused += FUSE(map_to_storage);
    fused += FUSE(header_parser);
    if (FUSE(access_checker)) {
        ++fused;
        first_access_checker_ex = NULL;
    }
    else {
        fused += FUSE(access_checker_ex);
    }
    fused += FUSE(check_user_id);
    fused += FUSE(auth_checker);
    fused += FUSE(type_checker);
    fused += FUSE(fixups);
    fused += FUSE(log_transaction);
    if (prof_filter_unhook_insert()) {
        /* httpd's core has a handler hook in every server: there is always
         * one of the two. */
        if (FUSE(insert_filter)) {
            ++fused;
            first_handler = NULL;
        }
        else {
            fused += FUSE(handler);
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00405)
                     "the handler phase begins in the first %s hook",
                     first_insert_filter ? "insert_filter" : "handler");
    }
    /* quick, storage, headers, access, authn, authz, type, fixups, log */
    phases = 9;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00390)
                 "phase edges: %d fused into a module's first hook, "
                 "%d phases without hooks not timed", fused, phases - fused);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00404)
                 "translate begins %s", translate);
    /* Then, where ProfilerModuleTiming is On, every entry (the fused
     * ones included) gets its timing wrapper. */
    wrapped = prof_modtime_wrap(pconf, s);
    /* (Not inside the log call: ap_log_error() evaluates its arguments
     * only at a level that is logged.) */
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00401)
                 "module timing: %d hook functions wrapped", wrapped);
    return OK;
}

void prof_timing_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* After every other post_config: nothing registers hooks there, but
     * the edges are looked at once all is known. */
    ap_hook_post_config(timing_post_config, NULL, NULL, APR_HOOK_REALLY_LAST);
    /* Our own entries only where an edge cannot be fused into another
     * module's hook (see FUSED_EDGE): the start, the end of quick_handler
     * and the end of logging. Each is one call on every request. */
    /* Creates the profile: the first point at which the vhost is known. */
    ap_hook_post_read_request(hook_post_read_first, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    /* hook_quick_last, where translation begins when every quick handler
     * declined, is registered by post_config, and only where other
     * modules have quick handlers (place_translate()): quick_handler is
     * RUN_FIRST, so an edge fused into a hook would not be reached after
     * an answer. */
    /* quick (its beginning), storage, headers, access, authn, authz, type,
     * fixups and log begin in the first hook of each (timing_post_config()
     * fuses the edges into them). The handler phase starts in our
     * insert_filter hook, which httpd runs right before the handlers (see
     * mod_profiler_filter.c), and ends in our output filter at the first
     * brigade. */
    /* Logging runs when the EOR bucket is destroyed, after the body left. */
    ap_hook_log_transaction(hook_log_last, NULL, NULL, APR_HOOK_REALLY_LAST);
}
