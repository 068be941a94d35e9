/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "prof_flame.h"
#include "prof_report_text.h"
#include "mod_profiler_private.h"
#include "mod_profiler_report_format.h"
#include "mod_profiler_report_lint.h"
#include "mod_profiler_report_params.h"
#include "mod_profiler_report_profile.h"

/* ---- api/v1/requests/<id>/profile ---------------------------------------- */

static const char *js(request_rec *r, const char *s)
{
    return prof_report_json_str(r->pool, s);
}

static const char *state_name(int state)
{
    return state == PROF_STACK_ONCPU ? "oncpu"
         : state == PROF_STACK_WAITING ? "waiting" : "unknown";
}

/* The profile as JSON: what it is, its frames, its stacks (frame indexes
 * leaf first, as pprof has them) and its top functions. */
static void answer_json(request_rec *r, apr_int64_t id,
                        const prof_stacks_t *s)
{
    apr_pool_t *p = r->pool;
    apr_array_header_t *top;
    apr_int64_t all_s = 0, all_ns = 0;
    int i;
    apr_uint32_t k;

    top = prof_flame_top(s, 50, &all_s, &all_ns, p);
    ap_rprintf(r, "{\"id\":\"%" APR_INT64_T_FMT "\",\"clock\":\"%s\","
               "\"start_us\":%" APR_INT64_T_FMT ",\"duration_ns\":%"
               APR_INT64_T_FMT ",\"period_ns\":%" APR_INT64_T_FMT
               ",\"samples\":%" APR_INT64_T_FMT ",\"nanos\":%" APR_INT64_T_FMT
               ",\"frames\":[", id, s->wall ? "wall" : "cpu", s->start,
               s->duration_ns, s->period_ns, all_s, all_ns);
    for (i = 0; i < s->frames->nelts; ++i) {
        const prof_frame_t *f = &APR_ARRAY_IDX(s->frames, i, prof_frame_t);

        ap_rprintf(r, "%s{\"name\":%s,\"file\":%s,\"line\":%u}", i ? "," : "",
                   js(r, f->name), js(r, f->file), (unsigned)f->line);
    }
    ap_rputs("],\"stacks\":[", r);
    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);

        ap_rprintf(r, "%s{\"samples\":%" APR_INT64_T_FMT ",\"nanos\":%"
                   APR_INT64_T_FMT ",\"state\":\"%s\",\"route\":%s,"
                   "\"phase\":%s,\"frames\":[", i ? "," : "", st->samples,
                   st->nanos, state_name(st->state), js(r, st->route),
                   js(r, st->phase));
        for (k = 0; k < st->nframes; ++k) {
            ap_rprintf(r, "%s%u", k ? "," : "", (unsigned)st->frames[k]);
        }
        ap_rputs("]}", r);
    }
    ap_rputs("],\"top\":[", r);
    for (i = 0; i < top->nelts; ++i) {
        const prof_flame_fn_t *fn = &APR_ARRAY_IDX(top, i, prof_flame_fn_t);

        ap_rprintf(r, "%s{\"name\":%s,\"self_samples\":%" APR_INT64_T_FMT
                   ",\"total_samples\":%" APR_INT64_T_FMT ",\"self_ns\":%"
                   APR_INT64_T_FMT ",\"total_ns\":%" APR_INT64_T_FMT "}",
                   i ? "," : "", js(r, fn->name), fn->self_samples,
                   fn->total_samples, fn->self_ns, fn->total_ns);
    }
    ap_rputs("]}\n", r);
}

int prof_report_profile_answer(request_rec *r, apr_int64_t id,
                               const char *text, int format)
{
    const char *err = NULL, *buf;
    prof_stacks_t *s = prof_stacks_text_parse(text, r->pool, &err);
    apr_size_t len;
    apr_status_t rv;

    if (s == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00400)
                      "report: the stored profile of request %"
                      APR_INT64_T_FMT " cannot be read: %s", id, err);
        return prof_report_json_error(r, HTTP_INTERNAL_SERVER_ERROR, NULL,
                                      "the stored profile is damaged; see "
                                      "the error log");
    }
    switch (format) {
    case PROF_PROFILE_FMT_FOLDED:
        ap_set_content_type(r, "text/plain; charset=utf-8");
        ap_rputs(prof_stacks_folded(s, r->pool, -1), r);
        return OK;
    case PROF_PROFILE_FMT_JSON:
        ap_set_content_type(r, "application/json");
        answer_json(r, id, s);
        return OK;
    default:
        break;
    }
    rv = prof_stacks_pprof(s, r->pool, &buf, &len);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PROFLOGNO(00401)
                      "report: cannot encode the profile of request %"
                      APR_INT64_T_FMT " as pprof", id);
        return prof_report_json_error(r, HTTP_INTERNAL_SERVER_ERROR, NULL,
                                      "encoding the profile failed; see the "
                                      "error log");
    }
    ap_set_content_type(r, "application/octet-stream");
    apr_table_setn(r->headers_out, "Content-Disposition",
                   apr_psprintf(r->pool, "attachment; filename=\"request-%"
                                APR_INT64_T_FMT ".pb.gz\"", id));
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(buf, (int)len, r);
    }
    return OK;
}

/* ---- the CPU page's profile ---------------------------------------------- */

/* What the capture filter keeps of the subrequest's body. */
typedef struct {
    apr_pool_t *p;
    char *buf;                  /* len bytes and room for a NUL */
    apr_size_t len, size;
    int too_big;
} capture_t;

static ap_filter_rec_t *capture_handle;

/* The subrequest's body goes here, never on to the client: kept up to
 * PROF_REPORT_CPU_BODY_MAX bytes, the rest counted as too big. */
static apr_status_t capture_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    capture_t *cap = f->ctx;
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;
        apr_status_t rv;

        if (APR_BUCKET_IS_METADATA(b)) {
            continue;
        }
        rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (cap->too_big || cap->len + len > PROF_REPORT_CPU_BODY_MAX) {
            cap->too_big = 1;
            continue;
        }
        if (cap->len + len + 1 > cap->size) {
            /* Doubling: the pool holds at most twice the body. */
            apr_size_t size = cap->size ? cap->size : 64 * 1024;
            char *grown;

            while (size < cap->len + len + 1) {
                size *= 2;
            }
            grown = apr_palloc(cap->p, size);
            if (cap->len) {
                memcpy(grown, cap->buf, cap->len);
            }
            cap->buf = grown;
            cap->size = size;
        }
        memcpy(cap->buf + cap->len, data, len);
        cap->len += len;
    }
    apr_brigade_cleanup(bb);
    return APR_SUCCESS;
}

void prof_report_cpu_take(request_rec *r, int seconds, int hz,
                          prof_report_cpu_t *out)
{
    const char *url = prof_report_profile_url(r), *procs, *err = NULL;
    request_rec *rr;
    capture_t cap;
    int rc;

    memset(out, 0, sizeof(*out));
    out->processes = -1;
    if (url == NULL) {
        out->status = HTTP_NOT_FOUND;
        out->msg = "There is no profiler-profile handler in the "
                   "configuration: add <Location /profiler/cpu> SetHandler "
                   "profiler-profile </Location> (with access control).";
        return;
    }
    out->url = url;
    rr = ap_sub_req_lookup_uri(apr_psprintf(r->pool, "%s?seconds=%d&hz=%d"
                                            "&format=folded", url, seconds,
                                            hz), r, r->output_filters);
    if (rr->status != HTTP_OK) {
        /* Its access control said no (or it is not there): as the
         * endpoint itself would to this client. */
        out->status = rr->status;
        out->msg = apr_psprintf(r->pool, "The CPU profile at %s answers %d "
                                "to this request (its own access control "
                                "applies).", url, rr->status);
        ap_destroy_sub_req(rr);
        return;
    }
    memset(&cap, 0, sizeof(cap));
    cap.p = r->pool;
    ap_add_output_filter_handle(capture_handle, &cap, rr, r->connection);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PROFLOGNO(00402)
                  "report: CPU page: %d s at %d Hz through %s", seconds, hz,
                  url);
    rc = ap_run_sub_req(rr);
    out->status = rc != OK ? rc : rr->status;
    procs = apr_table_get(rr->headers_out, "X-Profiler-Processes");
    out->processes = procs ? atoi(procs) : -1;
    if (cap.buf == NULL) {
        cap.buf = "";
    }
    else {
        cap.buf[cap.len] = '\0';
    }
    ap_destroy_sub_req(rr);
    if (r->connection->aborted) {
        out->status = HTTP_REQUEST_TIME_OUT;
        out->msg = "The client went away.";
        return;
    }
    if (out->status != HTTP_OK) {
        out->msg = apr_psprintf(r->pool, "The CPU profile at %s answered "
                                "%d%s%s", url, out->status,
                                cap.len ? ": " : ".", cap.buf);
        return;
    }
    if (cap.too_big) {
        out->status = HTTP_INTERNAL_SERVER_ERROR;
        out->msg = "The profile is larger than the page reads back (32 MB).";
        return;
    }
    out->stacks = prof_flame_folded_parse(cap.buf,
                                          APR_INT64_C(1000000000) / hz,
                                          r->pool, &err);
    if (out->stacks == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00403)
                      "report: the CPU profile's folded stacks from %s "
                      "cannot be read: %s", url, err);
        out->status = HTTP_INTERNAL_SERVER_ERROR;
        out->msg = "The profile's answer cannot be read; see the error log.";
    }
}

void prof_report_profile_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* Added by hand to the CPU page's subrequest only: a resource filter,
     * so it comes before every content filter that could be added there
     * and nothing after it sees the body. */
    capture_handle = ap_register_output_filter("PROFILER_CAPTURE",
                                               capture_filter, NULL,
                                               AP_FTYPE_RESOURCE);
}
