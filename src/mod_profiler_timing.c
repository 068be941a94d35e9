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
#include "mod_profiler_req.h"
#include "mod_profiler_profile.h"
#include "mod_profiler_trace.h"
#include "mod_profiler_otlp.h"

/* A phase edge in r's profile, if it has one: the clock and the phase go
 * into the record, nothing else happens here (see prof_phase_mark()). */
static APR_INLINE void mark(request_rec *r, int what)
{
    prof_req_t *rq = prof_req_get(r);

    if (rq) {
        prof_phase_mark(&rq->phases, what);
    }
}

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
            ap_set_module_config(r->request_config, &profiler_module, rq);
            prof_phase_mark(&rq->phases, PROF_PHASE_POSTREAD);
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
    prof_phase_rec_start(&rq->phases, now, apr_time_now() - r->request_time);
    prof_phase_edge(&rq->phases, PROF_PHASE_POSTREAD, now);
    rq->r = r;
    rq->ttfb_us = 0;
    rq->spans = NULL;
    rq->owner = apr_os_thread_current();
    rq->spans_cleanup = 0;
    rq->upstream = NULL;
    rq->cpuprof = NULL;
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
    ap_set_module_config(r->request_config, &profiler_module, rq);
    if (prof_config_srv(r->server)->trace_ctx > 0) {
        prof_trace_start(r, rq);
    }
    return DECLINED;
}

static int hook_quick_first(request_rec *r, int lookup)
{
    if (!lookup) {
        mark(r, PROF_PHASE_QUICK);
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

static int hook_storage_first(request_rec *r)
{
    mark(r, PROF_PHASE_STORAGE);
    return DECLINED;
}

static int hook_header_parser_first(request_rec *r)
{
    mark(r, PROF_PHASE_HEADERS);
    return DECLINED;
}

static int hook_access_first(request_rec *r)
{
    mark(r, PROF_PHASE_ACCESS);
    return DECLINED;
}

/* The same edge where access_checker has no other hook (as with
 * mod_authz_core alone): a function of its own, so that either can be
 * taken out of its array (timing_post_config()). */
static int hook_access_ex_first(request_rec *r)
{
    mark(r, PROF_PHASE_ACCESS);
    return DECLINED;
}

static int hook_authn_first(request_rec *r)
{
    mark(r, PROF_PHASE_AUTHN);
    return DECLINED;
}

static int hook_authz_first(request_rec *r)
{
    mark(r, PROF_PHASE_AUTHZ);
    return DECLINED;
}

static int hook_type_first(request_rec *r)
{
    mark(r, PROF_PHASE_TYPE);
    return DECLINED;
}

static int hook_fixups_first(request_rec *r)
{
    mark(r, PROF_PHASE_FIXUPS);
    return DECLINED;
}

static int hook_log_first(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);

    if (rq) {
        prof_conn_t *cc = prof_conn_get(r->connection);

        prof_phase_mark(&rq->phases, PROF_PHASE_LOG);
        /* Nothing of this request passes the connection's filter any
         * more (its pool goes after logging): forget it there. Here, not
         * in the last hook: a log hook that fails ends the others. */
        if (cc && cc->cur == rq) {
            cc->cur = NULL;
        }
    }
    return DECLINED;
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
    store = prof_collect_wanted_enabled(last);
    trace = APLOGrtrace1(last);
    otlp = rq->trace != NULL && prof_otlp_on();
    if (!wanted && !store && !trace && !otlp) {
        return DECLINED;
    }
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

/*
 * Edges where nothing happens. Once httpd has sorted the hooks (before
 * post_config, each generation anew), a phase in which no other module has
 * a hook does no work: the edge that opens it would cost every request a
 * call, and httpd's loop around it, to time a few instructions of httpd's
 * between two phases. Such an edge is taken out of the sorted array (the
 * arrays are httpd's, rebuilt from the modules' registrations at every
 * restart, and read only by their ap_run_*() in the children, which inherit
 * them). The phase is then never entered, as when no module answers it,
 * and those instructions go to the phase before. Our own hooks (the
 * request profile's, in mod_profiler_profile.c) are not work of a phase.
 */
/* How many hooks of other modules a sorted array holds: every entry
 * (ap_LINK_<hook>_t, apr_hooks.h) names the module that registered it. */
#define OTHERS(name) \
    others(ap_hook_get_##name(), APR_OFFSETOF(ap_LINK_##name##_t, szName))

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

/* Takes our edge fn out of the hook's sorted array. */
#define DROP(name, fn) do { \
    apr_array_header_t *a_ = ap_hook_get_##name(); \
    ap_LINK_##name##_t *e_ = a_ ? (ap_LINK_##name##_t *)a_->elts : NULL; \
    int i_; \
    for (i_ = 0; e_ && i_ < a_->nelts; ++i_) { \
        if (e_[i_].pFunc == (fn)) { \
            memmove(&e_[i_], &e_[i_ + 1], \
                    (a_->nelts - i_ - 1) * sizeof(*e_)); \
            --a_->nelts; \
            ++dropped; \
            break; \
        } \
    } \
} while (0)

static int timing_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    int dropped = 0;

    (void)pconf; (void)plog; (void)ptemp;
    /* quick: its last edge stays, it opens translation. */
    if (!OTHERS(quick_handler)) {
        DROP(quick_handler, hook_quick_first);
    }
    if (!OTHERS(header_parser)) {
        DROP(header_parser, hook_header_parser_first);
    }
    /* access spans access_checker and access_checker_ex: opened by the
     * first of them that has work. */
    if (OTHERS(access_checker)) {
        DROP(access_checker_ex, hook_access_ex_first);
    }
    else {
        DROP(access_checker, hook_access_first);
        if (!OTHERS(access_checker_ex)) {
            DROP(access_checker_ex, hook_access_ex_first);
        }
    }
    if (!OTHERS(check_user_id)) {
        DROP(check_user_id, hook_authn_first);
    }
    if (!OTHERS(auth_checker)) {
        DROP(auth_checker, hook_authz_first);
    }
    if (!OTHERS(type_checker)) {
        DROP(type_checker, hook_type_first);
    }
    if (!OTHERS(fixups)) {
        DROP(fixups, hook_fixups_first);
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00390)
                 "%d phase edges without work left out", dropped);
    return OK;
}

void prof_timing_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* After every other post_config: nothing registers hooks there, but
     * the edges are looked at once all is known. */
    ap_hook_post_config(timing_post_config, NULL, NULL, APR_HOOK_REALLY_LAST);
    /* Every phase is opened REALLY_FIRST so that every other module's hook
     * in it runs inside it, and ends where the next one begins (RUN_FIRST
     * phases stop at the first answer, so a REALLY_LAST hook would not
     * always run). REALLY_LAST hooks are used only where that end matters:
     * quick (what follows is translation) and log (nothing follows). Each
     * hook is one call on every request, so there are no others. */

    /* Creates the profile: the first point at which the vhost is known. */
    ap_hook_post_read_request(hook_post_read_first, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    /* quick_handler is RUN_FIRST: a cache hit ends it by answering. */
    ap_hook_quick_handler(hook_quick_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* Reached only when every quick handler declined: translation begins. */
    ap_hook_quick_handler(hook_quick_last, NULL, NULL, APR_HOOK_REALLY_LAST);
    /* map_to_storage is RUN_FIRST (core's directory walk answers it). */
    ap_hook_map_to_storage(hook_storage_first, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_header_parser(hook_header_parser_first, NULL, NULL,
                          APR_HOOK_REALLY_FIRST);
    /* Registered as PER_CONF like mod_authz_core's: a PER_URI hook would
     * make httpd rerun access control for every internal request. access
     * also spans access_checker_ex, which follows it directly and where
     * mod_authz_core decides Require rules that need no user. */
    ap_hook_check_access(hook_access_first, NULL, NULL, APR_HOOK_REALLY_FIRST,
                         AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_access_ex(hook_access_ex_first, NULL, NULL,
                            APR_HOOK_REALLY_FIRST, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(hook_authn_first, NULL, NULL, APR_HOOK_REALLY_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authz(hook_authz_first, NULL, NULL, APR_HOOK_REALLY_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_type_checker(hook_type_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(hook_fixups_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* The handler phase starts in our insert_filter hook, which httpd runs
     * right before the handlers (see mod_profiler_filter.c), and ends in
     * our output filter at the first brigade. */
    /* Logging runs when the EOR bucket is destroyed, after the body left. */
    ap_hook_log_transaction(hook_log_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_log_transaction(hook_log_last, NULL, NULL, APR_HOOK_REALLY_LAST);
}
