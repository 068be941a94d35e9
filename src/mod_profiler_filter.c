/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"
#include "apr_buckets.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "prof_clock.h"
#include "prof_phase.h"
#include "prof_st.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_timing.h"
#include "mod_profiler_filter.h"

/* The default cap, and a bit, fits on the stack: no pool allocation for the
 * common case. Larger caps take the buffer from the request pool. */
#define ST_STACK_BUF (PROF_DEFAULT_ST_MAX_SIZE + 1)

static ap_filter_rec_t *prof_out_filter_handle;

/* Our entries: the phases that ran before the headers left (body and log
 * come later and belong to the record only), then total. A phase that was
 * never entered or took less than a microsecond tells nothing and is left
 * out of the header, never out of the record. */
static void write_server_timing(request_rec *r, const prof_req_t *rq)
{
    char stackbuf[ST_STACK_BUF], *buf = stackbuf;
    apr_size_t cap = prof_config_st_max_size(r);
    prof_st_buf_t st;
    int i;

    if (cap + 1 > sizeof(stackbuf)) {
        buf = apr_palloc(r->pool, cap + 1);
    }
    prof_st_init(&st, buf, cap + 1);
    for (i = 0; i < PROF_PHASE_BODY; ++i) {
        if (prof_phase_seen(&rq->phases, i) && rq->phases.dur_us[i] > 0) {
            prof_st_add(&st, prof_phase_name(i), rq->phases.dur_us[i], NULL);
        }
    }
    prof_st_add(&st, prof_phase_name(PROF_PHASE_TOTAL), rq->ttfb_us, NULL);
    if (st.len) {
        /* addn, not set: a Server-Timing field a backend or another module
         * put there stays, and ours follows it. */
        apr_table_addn(r->headers_out, "Server-Timing",
                       apr_pstrmemdup(r->pool, st.buf, st.len));
    }
    if (st.dropped) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PROFLOGNO(00002)
                      "Server-Timing: %u entries did not fit in "
                      "ProfilerServerTimingMaxSize %" APR_SIZE_T_FMT,
                      st.dropped, cap);
    }
}

static apr_status_t prof_out_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    prof_req_t *rq = f->ctx;
    apr_status_t rv;

    if (APR_BRIGADE_EMPTY(bb)) {
        return ap_pass_brigade(f->next, bb);
    }
    if (!rq->headers_sent) {
        prof_mono_us_t now;
        apr_bucket *e;

        /* An error bucket makes the header filter answer with an error
         * response instead; that one comes through us again (we are
         * re-added from insert_error_filter) and gets the header. */
        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
             e = APR_BUCKET_NEXT(e)) {
            if (AP_BUCKET_IS_ERROR(e)) {
                return ap_pass_brigade(f->next, bb);
            }
        }
        now = prof_clock_now_us();
        prof_phase_enter(&rq->phases, PROF_PHASE_BODY, now);
        rq->ttfb_us = prof_phase_total(&rq->phases, now);
        rq->headers_sent = 1;
        if (prof_config_st_allowed(f->r)) {
            write_server_timing(f->r, rq);
        }
    }
    if (!APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb))) {
        return ap_pass_brigade(f->next, bb);
    }
    /* Done after this brigade: nothing more to cost the response. */
    ap_remove_output_filter(f);
    rv = ap_pass_brigade(f->next, bb);
    prof_phase_leave(&rq->phases, PROF_PHASE_BODY, prof_clock_now_us());
    rq->body_done = 1;
    return rv;
}

static void insert_filter(request_rec *r)
{
    prof_req_t *rq;

    if (r->main) {
        return;
    }
    rq = prof_req_get(r);
    if (rq && !rq->headers_sent && prof_config_enabled(r)) {
        ap_add_output_filter_handle(prof_out_filter_handle, rq, r,
                                    r->connection);
    }
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
    /* Inserted for normal responses ... */
    ap_hook_insert_filter(insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    /* ... and again for error responses, which start from the protocol
     * filters alone (ap_send_error_response drops ours). */
    ap_hook_insert_error_filter(insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
}
