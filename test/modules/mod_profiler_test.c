/* Licensed under the Apache License, Version 2.0. */

/*
 * mod_profiler_test: a consumer of mod_profiler's span API, for the
 * integration tests only. It uses the API the way a third-party module
 * would: optional functions fetched in optional_fn_retrieve, NULL-checked,
 * so it also loads and answers without mod_profiler.
 *
 *   SetHandler profiler-test
 *   GET ...?threads=4&per=10     4 threads add 10 spans each, at once
 *   GET ...?late=1               a span ends after the headers left
 *   GET ...?only_threads=1       no span but the threads' (the first span
 *                                of the request comes from another thread)
 *   GET ...?sub=1                (as a subrequest) adds "sub.work"
 *   GET ...?subreq=1             runs /t/sub?sub=1 as a subrequest first
 *   any request with a request header X-Parse: answers with what
 *   profiler_st_parse makes of it, one entry a line
 *
 *   SetHandler profiler-test-burn
 *   GET ...?ms=200&sleep_ms=300  burns the CPU for 200 ms in
 *                                proftest_burn_cpu(), then sleeps 300 ms
 *                                (for the CPU profiles' tests: that function
 *                                must lead both kinds of profile, and the
 *                                sleep show as waiting in a request's)
 *
 * It logs, at notice level, the record it is handed by the
 * profiler_record_complete hook: "proftest record <uri>: body=<us>
 * dropped=N spans=name/index/parent/metric/desc/dur;...".
 */

#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_time.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "mod_profiler.h"

module AP_MODULE_DECLARE_DATA profiler_test_module;

static APR_OPTIONAL_FN_TYPE(profiler_span_start) *span_start;
static APR_OPTIONAL_FN_TYPE(profiler_span_end) *span_end;
static APR_OPTIONAL_FN_TYPE(profiler_metric_add) *metric_add;
static APR_OPTIONAL_FN_TYPE(profiler_span_set_desc) *span_set_desc;
static APR_OPTIONAL_FN_TYPE(profiler_enabled) *enabled;
static APR_OPTIONAL_FN_TYPE(profiler_record_spans) *record_spans;
static APR_OPTIONAL_FN_TYPE(profiler_record_phase_us) *record_phase_us;
static APR_OPTIONAL_FN_TYPE(profiler_record_spans_dropped) *record_dropped;
#if defined(MOD_PROFILER_HAS_RECORD_MODULES)
static APR_OPTIONAL_FN_TYPE(profiler_record_modules) *record_modules;
#endif
static APR_OPTIONAL_FN_TYPE(profiler_st_parse) *st_parse;

static void retrieve(void)
{
    span_start = APR_RETRIEVE_OPTIONAL_FN(profiler_span_start);
    span_end = APR_RETRIEVE_OPTIONAL_FN(profiler_span_end);
    metric_add = APR_RETRIEVE_OPTIONAL_FN(profiler_metric_add);
    span_set_desc = APR_RETRIEVE_OPTIONAL_FN(profiler_span_set_desc);
    enabled = APR_RETRIEVE_OPTIONAL_FN(profiler_enabled);
    record_spans = APR_RETRIEVE_OPTIONAL_FN(profiler_record_spans);
    record_phase_us = APR_RETRIEVE_OPTIONAL_FN(profiler_record_phase_us);
    record_dropped = APR_RETRIEVE_OPTIONAL_FN(profiler_record_spans_dropped);
#if defined(MOD_PROFILER_HAS_RECORD_MODULES)
    record_modules = APR_RETRIEVE_OPTIONAL_FN(profiler_record_modules);
#endif
    st_parse = APR_RETRIEVE_OPTIONAL_FN(profiler_st_parse);
}

/* The module's own wrappers: no-ops without mod_profiler. */
static profiler_span_t *start(request_rec *r, const char *n, const char *d)
{
    return span_start ? span_start(r, n, d) : NULL;
}

static void end(profiler_span_t *s)
{
    if (span_end) {
        span_end(s);
    }
}

static int wants(request_rec *r)
{
    return r->handler && !strcmp(r->handler, "profiler-test");
}

static int arg_int(request_rec *r, const char *key, int dflt)
{
    const char *a = r->args, *p;
    size_t klen = strlen(key);

    for (p = a; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (!strncmp(p, key, klen) && p[klen] == '=') {
            return atoi(p + klen + 1);
        }
    }
    return dflt;
}

static int fixups(request_rec *r)
{
    if (wants(r) && !r->main && !arg_int(r, "only_threads", 0)) {
        profiler_span_t *s = start(r, "fixup.work", NULL);
        apr_sleep(1000);
        end(s);
    }
    return DECLINED;
}

/* A header_parser hook (a phase that only some modules use): sleeps
 * headers_us microseconds where the query asks for it (on any URL: the
 * handler is not known yet). */
static int header_parser(request_rec *r)
{
    int us = !r->main ? arg_int(r, "headers_us", 0) : 0;
    int status = !r->main ? arg_int(r, "headers_status", 0) : 0;

    if (us > 0) {
        apr_sleep(us);
    }
    /* An error from a RUN_ALL phase: the request ends there. */
    return status >= 400 ? status : DECLINED;
}

/* translate_name and type_checker hooks that sleep translate_us and
 * type_us where the query asks for it (module timing's known times). */
static int translate_name(request_rec *r)
{
    int us = !r->main ? arg_int(r, "translate_us", 0) : 0;

    if (us > 0) {
        apr_sleep(us);
    }
    /* translate_answer=1: answer the RUN_FIRST phase (the file is the
     * document root's index.html), so that no later translate_name hook
     * (core's, REALLY_LAST) runs. */
    if (!r->main && arg_int(r, "translate_answer", 0)) {
        r->filename = apr_pstrcat(r->pool, ap_document_root(r),
                                  "/index.html", NULL);
        return OK;
    }
    return DECLINED;
}

static int type_checker(request_rec *r)
{
    int us = !r->main ? arg_int(r, "type_us", 0) : 0;

    if (us > 0) {
        apr_sleep(us);
    }
    return DECLINED;
}

/* Two output filters with known costs (module timing's self time): A, a
 * resource filter, sleeps filter_a_us on its first brigade; B, after it in
 * the chain, sleeps filter_b_us on its first. A's own time must not
 * contain B's. */
static apr_status_t slow_filter(ap_filter_t *f, apr_bucket_brigade *bb,
                                const char *key)
{
    if (f->ctx == NULL) {
        int us = arg_int(f->r, key, 0);

        f->ctx = f;             /* once */
        if (us > 0) {
            apr_sleep(us);
        }
    }
    return ap_pass_brigade(f->next, bb);
}

static apr_status_t filter_a(ap_filter_t *f, apr_bucket_brigade *bb)
{
    return slow_filter(f, bb, "filter_a_us");
}

static apr_status_t filter_b(ap_filter_t *f, apr_bucket_brigade *bb)
{
    return slow_filter(f, bb, "filter_b_us");
}

/* A filter whose registered name is no token (filter names are any
 * string): module timing must still write a valid header. */
static apr_status_t filter_odd(ap_filter_t *f, apr_bucket_brigade *bb)
{
    return slow_filter(f, bb, "filter_odd_us");
}

static void insert_filter(request_rec *r)
{
    if (r->main == NULL && r->args && strstr(r->args, "filter_")) {
        ap_add_output_filter("PROFTEST_A", NULL, r, r->connection);
        ap_add_output_filter("PROFTEST_B", NULL, r, r->connection);
        if (strstr(r->args, "filter_odd_us")) {
            ap_add_output_filter("PROFTEST Odd;\"x\"", NULL, r,
                                 r->connection);
        }
    }
}

typedef struct {
    request_rec *r;
    int id, per;
} worker_t;

static void *APR_THREAD_FUNC worker(apr_thread_t *t, void *data)
{
    worker_t *w = data;
    char name[32];
    int i;

    for (i = 0; i < w->per; ++i) {
        profiler_span_t *s;

        apr_snprintf(name, sizeof(name), "t%d.%d", w->id, i);
        s = start(w->r, name, NULL);
        apr_sleep(50);
        end(s);
    }
    /* Return, not apr_thread_exit(): in APR 1.7 that destroys the thread's
     * pool, a child of r->pool, while the request thread may be creating
     * the next thread's pool under the same parent (pools are not
     * thread-safe): that corrupted r->pool and crashed the child at the end
     * of the request, about once in 400 requests. The pools go with
     * r->pool. */
    (void)t;
    return NULL;
}

static int handler(request_rec *r)
{
    profiler_span_t *outer, *inner, *cache;
    int threads, per, i;
    apr_thread_t *tids[16];
    worker_t w[16];

    if (!wants(r)) {
        return DECLINED;
    }
    if (arg_int(r, "abort", 0)) {
        /* A handler that gives up on the connection mid-request: nothing
         * is sent, the connection is closed. */
        r->connection->aborted = 1;
        r->connection->keepalive = AP_CONN_CLOSE;
        return DONE;
    }
    ap_set_content_type(r, "text/plain");
    if (apr_table_get(r->headers_in, "X-Parse")) {
        apr_array_header_t *e;
        int i;

        if (!st_parse) {
            ap_rputs("no parser\n", r);
            return OK;
        }
        ap_rprintf(r, "rv=%d\n", st_parse(r->pool,
                   apr_table_get(r->headers_in, "X-Parse"), &e));
        for (i = 0; i < e->nelts; ++i) {
            const profiler_st_entry_t *x = &APR_ARRAY_IDX(e, i,
                                                          profiler_st_entry_t);
            ap_rprintf(r, "%s|%d|%.3f|%d|%s\n", x->name, x->has_dur,
                       x->dur_ms, x->has_desc, x->desc);
        }
        return OK;
    }
    /* For the store's tests: a slow request, an error status. */
    if (arg_int(r, "sleep_ms", 0) > 0) {
        apr_sleep(apr_time_from_msec(arg_int(r, "sleep_ms", 0)));
    }
    if (arg_int(r, "status", 0) >= 400) {
        return arg_int(r, "status", 0);
    }
    if (r->main) {                      /* as a subrequest */
        profiler_span_t *s = start(r, "sub.work", NULL);
        apr_sleep(500);
        end(s);
        ap_rputs("sub\n", r);
        return OK;
    }
    if (arg_int(r, "subreq", 0)) {
        /* output into our own filter chain, as mod_include does */
        request_rec *rr = ap_sub_req_lookup_uri("/t/sub?sub=1", r,
                                                r->output_filters);

        if (rr->status == HTTP_OK) {
            ap_run_sub_req(rr);
        }
        ap_destroy_sub_req(rr);
    }
    if (arg_int(r, "only_threads", 0)) {
        goto threads;
    }
    outer = start(r, "outer", "handler work");
    inner = start(r, "inner", NULL);                /* child of outer */
    apr_sleep(2000);
    end(inner);
    end(outer);
    if (metric_add) {
        metric_add(r, "db", 1500, "query \"x\", 1 row");
    }
    cache = start(r, "cache", "lookup");
    if (span_set_desc) {
        span_set_desc(cache, "miss");
    }
    end(cache);
    end(cache);                                     /* twice: ignored */
    end(NULL);                                      /* NULL: ignored */

threads:
    threads = arg_int(r, "threads", 0);
    per = arg_int(r, "per", 10);
    if (threads > 16) {
        threads = 16;
    }
    for (i = 0; i < threads; ++i) {
        w[i].r = r;
        w[i].id = i;
        w[i].per = per;
        if (apr_thread_create(&tids[i], NULL, worker, &w[i], r->pool)
            != APR_SUCCESS) {
            threads = i;
            break;
        }
    }
    for (i = 0; i < threads; ++i) {
        apr_status_t rv;
        apr_thread_join(&rv, tids[i]);
    }
    ap_rprintf(r, "profiler: %s\n",
               enabled ? (enabled(r) ? "on" : "off") : "not loaded");
    if (arg_int(r, "late", 0)) {
        profiler_span_t *late;

        ap_rflush(r);                                /* headers leave */
        late = start(r, "late", NULL);
        apr_sleep(500);
        end(late);
    }
    return OK;
}

/* What the CPU profiles' tests look for by name. Static, so that only
 * the object's own symbol table (.symtab) knows it, as for most of a real
 * module's functions; never inlined, so that it is a frame of its own even
 * at -O2; the work is arithmetic on a local, so that the samples land in
 * it and not in a library function. */
static __attribute__((noinline)) apr_uint64_t proftest_burn_cpu(apr_time_t until)
{
    volatile apr_uint64_t x = 1;
    int i;

    while (apr_time_now() < until) {
        for (i = 0; i < 200000; ++i) {
            x = x * APR_UINT64_C(6364136223846793005)
                + APR_UINT64_C(1442695040888963407);
        }
    }
    return x;
}

static int burn_handler(request_rec *r)
{
    int ms, sleep_ms;
    apr_uint64_t x;

    if (!r->handler || strcmp(r->handler, "profiler-test-burn")) {
        return DECLINED;
    }
    ms = arg_int(r, "ms", 100);
    sleep_ms = arg_int(r, "sleep_ms", 0);
    if (ms < 0 || ms > 60000 || sleep_ms < 0 || sleep_ms > 60000) {
        return HTTP_BAD_REQUEST;
    }
    x = proftest_burn_cpu(apr_time_now() + apr_time_from_msec(ms));
    if (sleep_ms) {
        /* To the end, as code that waits must: a signal (a per-request
         * profile's sampling timer) cuts apr_sleep() short. */
        apr_time_t until = apr_time_now() + apr_time_from_msec(sleep_ms);
        apr_time_t now;

        while ((now = apr_time_now()) < until) {
            apr_sleep(until - now);
        }
    }
    ap_set_content_type(r, "text/plain");
    ap_rprintf(r, "burnt %d ms, slept %d ms (%" APR_UINT64_T_FMT ")\n", ms,
               sleep_ms, x & 0xff);
    return OK;
}

typedef struct {
    request_rec *r;
    char *out;
} dump_t;

static int dump_span(void *baton, const profiler_span_info_t *s)
{
    dump_t *d = baton;

    d->out = apr_psprintf(d->r->pool, "%s%s/%d/%d/%d/%s/%" APR_INT64_T_FMT ";",
                          d->out, s->name, s->index, s->parent, s->metric,
                          s->desc ? s->desc : "-", s->dur_us);
    return 0;
}

#if defined(MOD_PROFILER_HAS_RECORD_MODULES)
static int dump_module(void *baton, const profiler_module_time_t *m)
{
    dump_t *d = baton;

    d->out = apr_psprintf(d->r->pool, "%s%s.%s=%" APR_INT64_T_FMT "/%u ",
                          d->out, m->phase, m->module, m->dur_us, m->calls);
    return 0;
}
#endif

static int record_complete(request_rec *r, const profiler_record_t *rec)
{
    dump_t d;

    if (!record_spans) {
        return DECLINED;
    }
    d.r = r;
    d.out = "";
    record_spans(rec, dump_span, &d);
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                  "proftest record %s: body=%" APR_INT64_T_FMT
                  " dropped=%u spans=%s", r->uri,
                  record_phase_us ? record_phase_us(rec, "body") : -1,
                  record_dropped ? record_dropped(rec) : 0u, d.out);
#if defined(MOD_PROFILER_HAS_RECORD_MODULES)
    d.out = "";
    if (record_modules && record_modules(rec, dump_module, &d) > 0) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      "proftest modules %s: %s", r->uri, d.out);
    }
#endif
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(retrieve, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_fixups(fixups, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_header_parser(header_parser, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(translate_name, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_insert_filter(insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_output_filter("PROFTEST_A", filter_a, NULL,
                              AP_FTYPE_RESOURCE);
    ap_register_output_filter("PROFTEST_B", filter_b, NULL,
                              AP_FTYPE_CONTENT_SET);
    ap_register_output_filter("PROFTEST Odd;\"x\"", filter_odd, NULL,
                              AP_FTYPE_RESOURCE);
    ap_hook_type_checker(type_checker, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(burn_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(profiler, profiler_record_complete, record_complete,
                      NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(profiler_test) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks
#if defined(AP_MODULE_HAS_FLAGS)
    , 0
#endif
};
