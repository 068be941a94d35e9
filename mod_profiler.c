/* Licensed under the Apache License, Version 2.0. */

/**
 * mod_profiler: times every phase of every request with a monotonic clock
 * and sends the result in the W3C Server-Timing response header.
 *
 * This file is glue only: the module record, the directive table, the
 * post_config check and the calls to each unit's register_hooks. What a
 * directive does lives in src/mod_profiler_config.c; the phase hooks in
 * src/mod_profiler_timing.c; the output filter in src/mod_profiler_filter.c;
 * the APR-only core in src/prof_*.c.
 */

#define PROF_MODULE_GLUE

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"

#include "mod_profiler.h"
#include "mod_profiler_private.h"
#include "mod_profiler_req.h"
#include "prof_clock.h"
#include "mod_profiler_config.h"
#include "mod_profiler_timing.h"
#include "mod_profiler_filter.h"
#include "mod_profiler_span.h"
#include "mod_profiler_upstream.h"
#include "mod_profiler_store.h"
#include "mod_profiler_report.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_status.h"
#include "mod_profiler_profile.h"
#include "mod_profiler_modtime.h"
#include "mod_profiler_trace.h"
#include "mod_profiler_otlp.h"
#include "mod_profiler_collect.h"

/* APR_REGISTER_OPTIONAL_FN with the implementation under its own name,
 * still checked against the declared type of the optional function. */
#define PROF_REGISTER_OPTIONAL_FN(name, impl) do {                 \
        APR_OPTIONAL_FN_TYPE(name) *prof_fn__ = impl;               \
        apr_dynamic_fn_register(#name, (apr_opt_fn_t *)prof_fn__);  \
    } while (0)

static const command_rec profiler_cmds[] = {
    AP_INIT_TAKE1("Profiler", prof_config_set_enabled, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off: time the phases of requests here (default Off)"),
    AP_INIT_TAKE1("ProfilerServerTiming", prof_config_set_st, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off|expr=<expression>: send the timings in a "
                  "Server-Timing response header (default Off)"),
    AP_INIT_TAKE1("ProfilerServerTimingMaxSize", prof_config_set_st_max_size,
                  NULL, RSRC_CONF | ACCESS_CONF,
                  "Most bytes of our Server-Timing value; entries that do "
                  "not fit are dropped whole (default 4096)"),
    AP_INIT_TAKE1("ProfilerUpstreamTiming", prof_config_set_up_mode, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "merge|pass|drop: what becomes of Server-Timing that comes "
                  "with the response, from a backend or CGI (default merge)"),
    AP_INIT_TAKE1("ProfilerUpstreamPrefix", prof_config_set_up_prefix, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "A token put before the names of merged upstream entries, "
                  "or none (default none)"),
    AP_INIT_TAKE1("ProfilerMaxSpans", prof_config_set_max_spans, NULL,
                  RSRC_CONF,
                  "Most spans and metrics other modules may add to one "
                  "request, 0-4096 (default 64); further ones are counted"),

    /* The measurement store: which requests, and what of them. */
    AP_INIT_TAKE1("ProfilerStore", prof_config_set_store, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off: write profiled requests here to the database "
                  "mod_dbd is configured with (default Off)"),
    AP_INIT_TAKE1("ProfilerSample", prof_config_set_sample, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "The fraction of requests stored, 0-1 (default 1); slow "
                  "and 5xx ones are always stored"),
    AP_INIT_TAKE1("ProfilerSampleSlow", prof_config_set_sample_slow, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "<ms>|Off: always store requests that took this long "
                  "(default Off)"),
    AP_INIT_TAKE_ARGV("ProfilerStoreQuery", prof_config_set_store_query, NULL,
                      RSRC_CONF | ACCESS_CONF,
                      "Off|On [name ...]: store query strings, with the "
                      "values of credentials and of the named parameters "
                      "hidden (default Off)"),
    AP_INIT_TAKE1("ProfilerIgnore", prof_config_set_ignore, NULL, RSRC_CONF,
                  "A regular expression: requests whose path matches are "
                  "not stored (repeatable)"),
    AP_INIT_TAKE2("ProfilerRoute", prof_config_set_route, NULL, RSRC_CONF,
                  "<regex> <name>: requests whose path matches are grouped "
                  "under name ($1-$9 allowed); the first match wins"),
    /* The store's server-wide settings (main server only). */
    AP_INIT_TAKE1("ProfilerStoreTablePrefix", prof_config_set_store_global,
                  (void *)0, RSRC_CONF,
                  "Prefix of the store's table names (default profiler_)"),
    AP_INIT_TAKE1("ProfilerServerName", prof_config_set_store_global,
                  (void *)1, RSRC_CONF,
                  "This server's name in the store, for fleets writing one "
                  "database (default the host name)"),
    AP_INIT_TAKE1("ProfilerStoreQueue", prof_config_set_store_global,
                  (void *)2, RSRC_CONF,
                  "Most rows waiting for the writer in each child "
                  "(default 10000); more are counted and dropped"),
    AP_INIT_TAKE1("ProfilerRetention", prof_config_set_store_global,
                  (void *)3, RSRC_CONF,
                  "How long requests are kept: 90m, 12h, 7d, 4w or Off "
                  "(default 7d)"),
    AP_INIT_TAKE1("ProfilerRollupRetention", prof_config_set_store_global,
                  (void *)4, RSRC_CONF,
                  "How long per-minute rollups are kept (default 400d)"),
    AP_INIT_TAKE1("ProfilerRetentionRows", prof_config_set_store_global,
                  (void *)5, RSRC_CONF,
                  "Most requests kept; the oldest go first (default "
                  "10000000; Off for no limit)"),
    AP_INIT_TAKE1("ProfilerRetentionInterval", prof_config_set_store_global,
                  (void *)6, RSRC_CONF,
                  "Seconds between retention runs (default 60)"),
    AP_INIT_TAKE1("ProfilerStoreRate", prof_config_set_store_global,
                  (void *)7, RSRC_CONF,
                  "<rows/s>|Off: most raw rows stored per second by the whole "
                  "server, spread across routes; slow, 5xx and profiled first "
                  "(default 100). Rollups count every request anyway"),
    AP_INIT_TAKE1("ProfilerReportToken", prof_report_set_token, NULL,
                  ACCESS_CONF,
                  "A file holding the secret that \"Require profiler-token\" "
                  "accepts as \"Authorization: Bearer <secret>\""),
    AP_INIT_TAKE1("ProfilerReportBase", prof_report_set_base, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "The URL path of the report, where the <Location> that sets "
                  "the handler does not say it (<Directory>, Alias, regex)"),
    AP_INIT_TAKE12("ProfilerStoreBatch", prof_config_set_batch, NULL,
                   RSRC_CONF,
                   "<rows> [<ms>]: most rows per transaction and the longest "
                   "wait for them (default 500 100ms)"),

    /* Live metrics. */
    AP_INIT_TAKE1("ProfilerMetricsKeys", prof_config_set_metrics_keys, NULL,
                  RSRC_CONF,
                  "Most (vhost, route, method, status) keys counted in "
                  "shared memory (default 1024); further ones count under "
                  "route (other). Main server only"),
    AP_INIT_TAKE1("ProfilerMaxRoutes", prof_config_set_max_routes, NULL,
                  RSRC_CONF,
                  "Most distinct routes per virtual host, in the metrics "
                  "and the store (default 500); further ones are (other)"),
    AP_INIT_TAKE_ARGV("ProfilerMetricsBuckets",
                      prof_config_set_metrics_buckets, NULL, RSRC_CONF,
                      "<seconds> ...: the bounds of the Prometheus request "
                      "duration histogram (default 0.005 0.01 0.025 0.05 "
                      "0.1 0.25 0.5 1 2.5 5 10)"),

    /* CPU profiles (the whole server's is a handler: profiler-profile). */
    AP_INIT_TAKE1("ProfilerRequestProfile", prof_profile_set_request, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "On|Off|expr=<expression>: sample the thread of the "
                  "requests selected here in wall-clock time and store the "
                  "profile with the request (default Off)"),
    AP_INIT_TAKE1("ProfilerRequestProfileHz", prof_profile_set_request_hz,
                  NULL, RSRC_CONF | ACCESS_CONF,
                  "Samples per second of ProfilerRequestProfile, 1-1000 "
                  "(default 1000)"),

    /* Module timing. */
    AP_INIT_TAKE1("ProfilerModuleTiming", prof_modtime_set, NULL, RSRC_CONF,
                  "On|Off: time every module's hook functions per request, "
                  "as <phase>.<module> (default Off; Off installs nothing)"),
    AP_INIT_TAKE1("ProfilerModuleTimingMin", prof_modtime_set_min, NULL,
                  RSRC_CONF,
                  "Milliseconds: a module's time in a phase below this is "
                  "left out of Server-Timing (default 0.1)"),

    /* W3C Trace Context. */
    AP_INIT_FLAG("ProfilerTraceContext", prof_trace_set_ctx, NULL, RSRC_CONF,
                 "On|Off: continue the caller's W3C trace (traceparent) or "
                 "start one, set PROFILER_TRACE_ID and PROFILER_SPAN_ID, and "
                 "pass the trace on to proxied backends (default Off)"),
    AP_INIT_FLAG("ProfilerServerTimingTraceparent", prof_trace_set_st, NULL,
                 RSRC_CONF | ACCESS_CONF,
                 "On|Off: a traceparent entry naming the request's span in "
                 "Server-Timing, where ProfilerTraceContext is On "
                 "(default Off)"),

    /* OpenTelemetry export (main server only). */
    AP_INIT_TAKE1("ProfilerOTLPEndpoint", prof_otlp_set, NULL, RSRC_CONF,
                  "The collector's OTLP/HTTP traces URL, e.g. "
                  "http://otel-collector:4318/v1/traces: export every "
                  "request as a trace (default: no export)"),
    AP_INIT_TAKE1("ProfilerOTLPServiceName", prof_otlp_set, NULL, RSRC_CONF,
                  "service.name of the exported traces (default httpd)"),
    AP_INIT_TAKE1("ProfilerOTLPProtocol", prof_otlp_set, NULL, RSRC_CONF,
                  "http/protobuf|http/json (default http/protobuf)"),
    AP_INIT_TAKE1("ProfilerOTLPCompression", prof_otlp_set, NULL, RSRC_CONF,
                  "gzip|none (default none)"),
    AP_INIT_TAKE2("ProfilerOTLPHeader", prof_otlp_set2, NULL, RSRC_CONF,
                  "<name> <value>: a header on every export (a vendor's API "
                  "key); repeatable"),
    AP_INIT_TAKE2("ProfilerOTLPResource", prof_otlp_set2, NULL, RSRC_CONF,
                  "<key> <value>: a resource attribute of the exported "
                  "traces; repeatable"),
    AP_INIT_TAKE1("ProfilerOTLPSample", prof_otlp_set, NULL, RSRC_CONF,
                  "The share of new traces exported, 0-1 (default 1); a "
                  "caller's traceparent decides for its trace"),
    AP_INIT_TAKE1("ProfilerOTLPQueue", prof_otlp_set, NULL, RSRC_CONF,
                  "Requests waiting for export per child, 1-1000000 "
                  "(default 2048); more are dropped and counted"),
    AP_INIT_TAKE12("ProfilerOTLPBatch", prof_otlp_set_batch, NULL, RSRC_CONF,
                   "<requests> [<ms>]: the most requests per export, "
                   "1-10000 (default 512), and the longest wait for a full "
                   "batch, 1-60000 ms (default 1000)"),
    AP_INIT_TAKE1("ProfilerOTLPTimeout", prof_otlp_set, NULL, RSRC_CONF,
                  "The longest an export may take, 1-60000 ms "
                  "(default 500)"),
    AP_INIT_TAKE1("ProfilerOTLPCACertificateFile", prof_otlp_set, NULL,
                  RSRC_CONF,
                  "CA certificates (PEM) to check an https:// collector "
                  "against, instead of the system's"),
    { NULL }
};

static int profiler_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp, server_rec *s)
{
    char buf[80];
    const char *clock;

    (void)pconf; (void)plog; (void)ptemp;
    /* httpd reads its configuration twice at startup; say hello once. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    prof_record_hooks_init();
    /* The phase edges' clock, decided in the parent before any child
     * exists: the children inherit it, and it never changes under a
     * request. */
    clock = prof_clock_ticks_init(1, buf, sizeof(buf));
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PROFLOGNO(00003)
                 "mod_profiler/%s loaded", MOD_PROFILER_VERSION);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00290)
                 "phase edges timed with %s", clock);
    return OK;
}

/* Checks that need the whole configuration run here, not in post_config:
 * check_config also runs for apachectl -t, so what it finds is seen
 * before a graceful restart, not after. */
static int profiler_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog;
    /* httpd reads its configuration twice at startup, first before the
     * error log is open: warn there only for -t (on the console), else in
     * the reading that follows, and after each restart (in the log). */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        && ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST) {
        return OK;
    }
    prof_config_check(ptemp, s);
    return OK;
}

/*
 * The handlers of the report, the metrics and the CPU profile, in one hook: it runs for
 * every request of the server, and the first byte turns nearly all of
 * them away (a static file's handler is its content type) before any call.
 * A request one of them answers is the profiler's own: it counts nowhere.
 */
static int profiler_handler(request_rec *r)
{
    const char *h = r->handler;
    prof_req_t *rq;
    int (*handle)(request_rec *);

    if (h == NULL || h[0] != 'p' || strncmp(h, "profiler-", 9)) {
        return DECLINED;
    }
    if (!strcmp(h, PROF_REPORT_HANDLER)) {
        handle = prof_report_handle;
    }
    else if (!strcmp(h, PROF_METRICS_HANDLER)) {
        handle = prof_metrics_handle;
    }
    else if (!strcmp(h, PROF_PROFILE_HANDLER)) {
        handle = prof_profile_handle;
    }
    else {
        return DECLINED;
    }
    rq = prof_req_get(r);
    if (rq) {
        rq->own = 1;
    }
    return handle(r);
}

static void profiler_child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)s;
    prof_collect_child_init(pchild);
}

int prof_module_index = -1;

static void profiler_register_hooks(apr_pool_t *p)
{
    /* httpd has just given the module its index (ap_add_module()). */
    prof_module_index = profiler_module.module_index;
    /* The span API: stateless until a request has a profile, so it can be
     * offered before anything else is set up. */
    PROF_REGISTER_OPTIONAL_FN(profiler_span_start, prof_api_span_start);
    PROF_REGISTER_OPTIONAL_FN(profiler_span_end, prof_api_span_end);
    PROF_REGISTER_OPTIONAL_FN(profiler_metric_add, prof_api_metric_add);
    PROF_REGISTER_OPTIONAL_FN(profiler_span_set_desc, prof_api_span_set_desc);
    PROF_REGISTER_OPTIONAL_FN(profiler_enabled, prof_api_enabled);
    PROF_REGISTER_OPTIONAL_FN(profiler_record_phase_us,
                              prof_api_record_phase_us);
    PROF_REGISTER_OPTIONAL_FN(profiler_record_spans, prof_api_record_spans);
    PROF_REGISTER_OPTIONAL_FN(profiler_record_spans_dropped,
                              prof_api_record_spans_dropped);
    PROF_REGISTER_OPTIONAL_FN(profiler_record_modules,
                              prof_api_record_modules);
    PROF_REGISTER_OPTIONAL_FN(profiler_st_parse, prof_api_st_parse);

    /* Only says hello; order does not matter. */
    ap_hook_post_config(profiler_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* The collector's per-thread memo of keys; order does not matter. */
    ap_hook_child_init(profiler_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* Warnings only; order does not matter. */
    ap_hook_check_config(profiler_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    prof_timing_register_hooks(p);
    prof_filter_register_hooks(p);
    prof_upstream_register_hooks(p);
    prof_trace_register_hooks(p);
    prof_otlp_register_hooks(p);
    prof_store_register_hooks(p);
    prof_report_register_hooks(p);
    prof_metrics_register_hooks(p);
    prof_metrics_handler_register_hooks(p);
    prof_status_register_hooks(p);
    /* A handler like any content generator: the middle is where they go. */
    ap_hook_handler(profiler_handler, NULL, NULL, APR_HOOK_MIDDLE);
    prof_profile_register_hooks(p);
}

AP_DECLARE_MODULE(profiler) = {
    STANDARD20_MODULE_STUFF,
    prof_config_dir_create,
    prof_config_dir_merge,
    prof_config_srv_create,
    prof_config_srv_merge,
    profiler_cmds,
    profiler_register_hooks,
#if defined(AP_MODULE_HAS_FLAGS)
    0   /* no AP_MODULE_FLAG_ALWAYS_MERGE: our merge needs no forcing */
#endif
};
