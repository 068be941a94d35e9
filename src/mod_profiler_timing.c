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

prof_req_t *prof_req_get(request_rec *r)
{
    if (r->main) {
        return NULL;
    }
    while (r->prev) {
        r = r->prev;
    }
    return ap_get_module_config(r->request_config, &profiler_module);
}

/* Close the open phase and open `phase` in r's profile, if it has one. */
static APR_INLINE void mark(request_rec *r, prof_phase_t phase)
{
    prof_req_t *rq = prof_req_get(r);

    if (rq) {
        prof_phase_enter(&rq->phases, phase, prof_clock_now_us());
    }
}

/* Close `phase` in r's profile, if it is the open one. */
static APR_INLINE void unmark(request_rec *r, prof_phase_t phase)
{
    prof_req_t *rq = prof_req_get(r);

    if (rq) {
        prof_phase_leave(&rq->phases, phase, prof_clock_now_us());
    }
}

static int hook_post_read_first(request_rec *r)
{
    prof_req_t *rq;
    prof_mono_us_t now;

    if (r->main) {
        return DECLINED;
    }
    if (r->prev) {
        /* An internal redirect runs post_read_request again: same profile. */
        mark(r, PROF_PHASE_POSTREAD);
        return DECLINED;
    }
    if (!prof_config_maybe_on(r->server)) {
        return DECLINED;
    }
    /* Wall clock once, for the anchor httpd gives us; monotonic from here. */
    now = prof_clock_now_us();
    rq = apr_pcalloc(r->pool, sizeof(*rq));
    rq->r = r;
    prof_phase_rec_start(&rq->phases, now, apr_time_now() - r->request_time);
    prof_phase_enter(&rq->phases, PROF_PHASE_POSTREAD, now);
    ap_set_module_config(r->request_config, &profiler_module, rq);
    return DECLINED;
}

static int hook_post_read_last(request_rec *r)
{
    unmark(r, PROF_PHASE_POSTREAD);
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

static int hook_header_parser_last(request_rec *r)
{
    unmark(r, PROF_PHASE_HEADERS);
    return DECLINED;
}

static int hook_access_first(request_rec *r)
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

static int hook_fixups_last(request_rec *r)
{
    unmark(r, PROF_PHASE_FIXUPS);
    return DECLINED;
}

static int hook_handler_first(request_rec *r)
{
    mark(r, PROF_PHASE_HANDLER);
    return DECLINED;
}

static int hook_log_first(request_rec *r)
{
    mark(r, PROF_PHASE_LOG);
    return DECLINED;
}

static int hook_log_last(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);
    prof_mono_us_t now;

    if (!rq) {
        return DECLINED;
    }
    now = prof_clock_now_us();
    prof_phase_leave(&rq->phases, PROF_PHASE_LOG, now);
    prof_phase_total(&rq->phases, now);
    if (APLOGrtrace1(r)) {
        const prof_phase_rec_t *ph = &rq->phases;
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "profile of %s: total=%" APR_INT64_T_FMT "us "
                      "ttfb=%" APR_INT64_T_FMT "us read=%" APR_INT64_T_FMT
                      " translate=%" APR_INT64_T_FMT " storage=%"
                      APR_INT64_T_FMT " access=%" APR_INT64_T_FMT
                      " handler=%" APR_INT64_T_FMT " body=%" APR_INT64_T_FMT
                      " log=%" APR_INT64_T_FMT,
                      r->uri, ph->dur_us[PROF_PHASE_TOTAL], rq->ttfb_us,
                      ph->dur_us[PROF_PHASE_READ],
                      ph->dur_us[PROF_PHASE_TRANSLATE],
                      ph->dur_us[PROF_PHASE_STORAGE],
                      ph->dur_us[PROF_PHASE_ACCESS],
                      ph->dur_us[PROF_PHASE_HANDLER],
                      ph->dur_us[PROF_PHASE_BODY],
                      ph->dur_us[PROF_PHASE_LOG]);
    }
    return DECLINED;
}

void prof_timing_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* Every phase is opened REALLY_FIRST so that every other module's hook
     * in it runs inside it. RUN_ALL phases are also closed REALLY_LAST, so
     * that httpd's own work between phases (config walks) is not charged to
     * them. RUN_FIRST phases may stop before a REALLY_LAST hook runs: there
     * the phase ends where the next one begins. */

    /* Creates the profile: the first point at which the vhost is known. */
    ap_hook_post_read_request(hook_post_read_first, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
    ap_hook_post_read_request(hook_post_read_last, NULL, NULL,
                              APR_HOOK_REALLY_LAST);
    /* quick_handler is RUN_FIRST: a cache hit ends it by answering. */
    ap_hook_quick_handler(hook_quick_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* Reached only when every quick handler declined: translation begins. */
    ap_hook_quick_handler(hook_quick_last, NULL, NULL, APR_HOOK_REALLY_LAST);
    /* map_to_storage is RUN_FIRST (core's directory walk answers it). */
    ap_hook_map_to_storage(hook_storage_first, NULL, NULL,
                           APR_HOOK_REALLY_FIRST);
    ap_hook_header_parser(hook_header_parser_first, NULL, NULL,
                          APR_HOOK_REALLY_FIRST);
    ap_hook_header_parser(hook_header_parser_last, NULL, NULL,
                          APR_HOOK_REALLY_LAST);
    /* Registered as PER_CONF like mod_authz_core's: a PER_URI hook would
     * make httpd rerun access control for every internal request. access
     * also spans access_checker_ex, which follows it directly and where
     * mod_authz_core decides Require rules that need no user. */
    ap_hook_check_access(hook_access_first, NULL, NULL, APR_HOOK_REALLY_FIRST,
                         AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(hook_authn_first, NULL, NULL, APR_HOOK_REALLY_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authz(hook_authz_first, NULL, NULL, APR_HOOK_REALLY_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_type_checker(hook_type_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(hook_fixups_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(hook_fixups_last, NULL, NULL, APR_HOOK_REALLY_LAST);
    /* The handler phase ends in our output filter, at the first brigade. */
    ap_hook_handler(hook_handler_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* Logging runs when the EOR bucket is destroyed, after the body left. */
    ap_hook_log_transaction(hook_log_first, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_log_transaction(hook_log_last, NULL, NULL, APR_HOOK_REALLY_LAST);
}
