/*
 * mod_profiler_example: how a module puts its own timings into
 * mod_profiler's picture (Server-Timing in DevTools, and the record).
 *
 * Build and load it like any module:
 *   apxs -c -I/path/to/mod_profiler/include mod_profiler_example.c
 *   LoadModule profiler_example_module .../mod_profiler_example.so
 *   <Location /example>
 *       SetHandler profiler-example
 *   </Location>
 *
 * It works the same whether mod_profiler is loaded or not: the functions
 * are APR optional functions, fetched once all modules are loaded and
 * checked for NULL before each use.
 */

#include "apr_time.h"

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"

#include "mod_profiler.h"       /* the only header of mod_profiler you need */

/* 1. Pointers to the optional functions: NULL until retrieved, and NULL
 *    afterwards too when mod_profiler is not loaded. */
static APR_OPTIONAL_FN_TYPE(profiler_span_start) *span_start;
static APR_OPTIONAL_FN_TYPE(profiler_span_end) *span_end;
static APR_OPTIONAL_FN_TYPE(profiler_metric_add) *metric_add;

/* 2. Fetch them when every module is loaded. */
static void retrieve_optional_fns(void)
{
    span_start = APR_RETRIEVE_OPTIONAL_FN(profiler_span_start);
    span_end = APR_RETRIEVE_OPTIONAL_FN(profiler_span_end);
    metric_add = APR_RETRIEVE_OPTIONAL_FN(profiler_metric_add);
}

static void render(request_rec *r)
{
    apr_sleep(3000);    /* stands for real work: 3 ms */
    ap_rputs("<p>rendered</p>\n", r);
}

static int example_handler(request_rec *r)
{
    profiler_span_t *span = NULL;
    apr_time_t t0;

    if (!r->handler || strcmp(r->handler, "profiler-example")) {
        return DECLINED;
    }
    ap_set_content_type(r, "text/html");

    /* 3. A span around work: shows as "render;dur=3.0xx;desc=template" in
     *    Server-Timing. span_start returns NULL when profiling is off for
     *    r; span_end accepts NULL. */
    if (span_start) {
        span = span_start(r, "render", "template");
    }
    render(r);
    if (span_end) {
        span_end(span);
    }

    /* 4. A duration measured some other way (here: by hand, in µs). */
    t0 = apr_time_now();
    apr_sleep(1000);
    if (metric_add) {
        metric_add(r, "backend", apr_time_now() - t0, "simulated");
    }
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(retrieve_optional_fns, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_handler(example_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(profiler_example) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL, NULL,
    register_hooks
#if defined(AP_MODULE_HAS_FLAGS)
    , 0
#endif
};
