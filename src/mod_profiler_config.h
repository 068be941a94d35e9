/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_config.h
 * @brief Configuration: per-directory and per-server records, their merging,
 *        the directive setters and the typed getters the other units read.
 *
 * Every setting is per directory (server config, virtual host, <Directory>,
 * <Location>), so the ordinary per-dir merge gives both inheritance paths
 * operators expect: a vhost inherits the main server, and a <Location> can
 * switch off what its vhost switched on. Unset values carry a sentinel and
 * merge explicitly; defaults live in prof_config_dir_defaults().
 */

#ifndef MOD_PROFILER_CONFIG_H
#define MOD_PROFILER_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "ap_expr.h"
#include "ap_regex.h"

#include "prof_agg.h"
#include "prof_prom.h"
#include "mod_profiler_private.h"

#define PROF_UNSET (-1)

/** ProfilerServerTiming */
typedef enum {
    PROF_ST_OFF = 0,
    PROF_ST_ON = 1,
    PROF_ST_EXPR = 2    /**< on where the expression is true */
} prof_st_mode_t;

/** ProfilerUpstreamTiming */
typedef enum {
    PROF_UP_MERGE = 0,  /**< parse, clean, re-emit before our entries */
    PROF_UP_PASS = 1,   /**< leave them as they came; ours in a field of its own */
    PROF_UP_DROP = 2    /**< remove them */
} prof_up_mode_t;

/** Per-directory configuration. */
typedef struct {
    int enabled;                /**< Profiler On|Off; PROF_UNSET */
    int st_mode;                /**< prof_st_mode_t; PROF_UNSET */
    ap_expr_info_t *st_expr;    /**< with PROF_ST_EXPR */
    int st_max_size;            /**< ProfilerServerTimingMaxSize; PROF_UNSET */
    int up_mode;                /**< ProfilerUpstreamTiming; PROF_UNSET */
    const char *up_prefix;      /**< ProfilerUpstreamPrefix; NULL: unset */
    int store;                  /**< ProfilerStore On|Off; PROF_UNSET */
    double sample;              /**< ProfilerSample; < 0: unset */
    apr_int64_t sample_slow_us; /**< ProfilerSampleSlow; 0: off, < 0 unset */
    int store_query;            /**< ProfilerStoreQuery; PROF_UNSET */
    apr_array_header_t *query_redact; /**< with it: the names to redact,
                                       *   built-in ones first */
    int query_extras;           /**< how many of them the configuration
                                 *   added (the last ones) */
    const char *section;        /**< the innermost section's path */
    const char *report_token;   /**< ProfilerReportToken's secret; NULL */
    const char *report_base;    /**< ProfilerReportBase, no trailing '/';
                                 *   NULL: unset */
    /* CPU profiles of chosen requests (mod_profiler_profile.c). */
    int reqprof_mode;           /**< ProfilerRequestProfile; PROF_UNSET */
    ap_expr_info_t *reqprof_expr; /**< with its expr= */
    int reqprof_hz;             /**< ProfilerRequestProfileHz; PROF_UNSET */
    /** ProfilerServerTimingTraceparent; PROF_UNSET */
    int st_traceparent;
} prof_dir_conf_t;

/** ProfilerRoute */
typedef struct {
    ap_regex_t *re;
    const char *pattern;
    const char *name;           /**< may hold $1..$9 */
} prof_route_rule_t;

/**
 * Settings of the store that hold for the whole server: they are read from
 * the main server only (the directives are refused inside a vhost), since
 * each child has one writer and one database.
 */
typedef struct {
    const char *prefix;         /**< ProfilerStoreTablePrefix; NULL: unset */
    const char *server_name;    /**< ProfilerServerName; NULL: unset */
    int queue_size;             /**< ProfilerStoreQueue; PROF_UNSET */
    int batch_rows;             /**< ProfilerStoreBatch; PROF_UNSET */
    apr_interval_time_t batch_interval_us; /**< its second value; < 0 unset */
    apr_interval_time_t retention_us;      /**< ProfilerRetention; 0 off */
    apr_interval_time_t rollup_retention_us; /**< ProfilerRollupRetention */
    apr_int64_t retention_rows; /**< ProfilerRetentionRows; 0 off; < 0 unset */
    apr_interval_time_t retention_interval_us; /**< ProfilerRetentionInterval */
    apr_int64_t store_rate;     /**< ProfilerStoreRate, rows/s; -1 Off;
                                     0 unset (pcalloc) */
} prof_store_conf_t;

/** Per-server configuration. */
typedef struct {
    int max_spans;              /**< ProfilerMaxSpans; PROF_UNSET */
    /* Set when "Profiler On" appears anywhere in this server's configuration
     * (or the main server's, which a vhost inherits). Requests start being
     * timed before their <Location> is known, so this is what lets a server
     * that never enables the profiler skip even that. */
    int maybe_on;
    /** ProfilerServerTiming On/expr= or ProfilerUpstreamTiming drop appear
     * in this server's configuration (or the main server's) */
    int rfilter_maybe;
    /* Set when "ProfilerStore On" appears in this server's configuration
     * or the main server's: the store is started only if some server
     * stores something. */
    int store_maybe_on;
    apr_array_header_t *ignore;     /**< ProfilerIgnore: ap_regex_t * */
    apr_array_header_t *routes;     /**< ProfilerRoute: prof_route_rule_t */
    prof_store_conf_t store;        /**< meaningful in the main server */
    /* Live metrics (mod_profiler_metrics.c). */
    int metrics_keys;           /**< ProfilerMetricsKeys; main server only;
                                 *   PROF_UNSET */
    int max_routes;             /**< ProfilerMaxRoutes; PROF_UNSET */
    prof_prom_bounds_t *buckets; /**< ProfilerMetricsBuckets; NULL: unset */
    /* Set by the metrics unit in post_config for this generation (read
     * only afterwards): the vhost label of the metrics and the handle of
     * the segment with this server's route budget. */
    const char *metrics_vhost;
    prof_agg_str_t metrics_vhost_key;   /**< metrics_vhost, hashed */
    void *metrics_agg;          /**< prof_agg_t *; NULL: metrics off */
    int trace_ctx;              /**< ProfilerTraceContext; PROF_UNSET */
    int modtime;                /**< ProfilerModuleTiming; PROF_UNSET */
    apr_interval_time_t modtime_min_us; /**< ProfilerModuleTimingMin;
                                             PROF_UNSET */
    void *otlp;                 /**< ProfilerOTLP* settings (main server
                                     only; mod_profiler_otlp.c); NULL */
} prof_srv_conf_t;

/** Defaults, in one place. */
#define PROF_DEFAULT_ENABLED      0
#define PROF_DEFAULT_ST_MODE      PROF_ST_OFF
#define PROF_DEFAULT_ST_MAX_SIZE  4096
#define PROF_ST_MAX_SIZE_MIN      32
#define PROF_ST_MAX_SIZE_MAX      65536
#define PROF_DEFAULT_MAX_SPANS    64
#define PROF_DEFAULT_UP_MODE      PROF_UP_MERGE
#define PROF_MAX_SPANS_MAX        4096
#define PROF_DEFAULT_STORE        0
#define PROF_DEFAULT_SAMPLE       1.0
#define PROF_DEFAULT_QUEUE_SIZE   10000
#define PROF_QUEUE_SIZE_MAX       1000000
#define PROF_DEFAULT_BATCH_ROWS   500
#define PROF_BATCH_ROWS_MAX       10000
#define PROF_DEFAULT_BATCH_INTERVAL_US      apr_time_from_msec(100)
#define PROF_DEFAULT_RETENTION_US           apr_time_from_sec(7 * 86400)
#define PROF_DEFAULT_ROLLUP_RETENTION_US    apr_time_from_sec(400 * 86400)
#define PROF_DEFAULT_RETENTION_ROWS         APR_INT64_C(10000000)
#define PROF_DEFAULT_RETENTION_INTERVAL_US  apr_time_from_sec(60)
/* ProfilerMetricsKeys and ProfilerMaxRoutes: prof_agg.h's. */
#define PROF_DEFAULT_METRICS_KEYS  PROF_AGG_KEYS_DEFAULT
#define PROF_DEFAULT_MAX_ROUTES    PROF_AGG_MAX_ROUTES_DEFAULT
/** The most ProfilerMetricsKeys: the route table takes twice as many. */
#define PROF_METRICS_KEYS_MAX      (PROF_AGG_CAPACITY_MAX / 2)
#define PROF_MAX_ROUTES_MAX        PROF_AGG_CAPACITY_MAX
/** The handler of the report (next to the store, so the store can leave
 * the report's own requests out). */
#define PROF_REPORT_HANDLER       "profiler-report"
/** The handler of the Prometheus endpoint (not counted either). */
#define PROF_METRICS_HANDLER      "profiler-metrics"

/**
 * 1 the first time it is asked for key during one reading of the
 * configuration (pconf's life), 0 after: what a directive that registers
 * hooks of its own uses, since httpd sorts the hooks again after reading
 * the configuration and forgets them all before reading it anew.
 */
int prof_config_first_in_reading(apr_pool_t *pconf, const char *key);

/** On/Off, case-insensitively: 1 or 0; -1 for anything else. */
int prof_config_parse_flag(const char *arg);

void *prof_config_dir_create(apr_pool_t *p, char *dir);
void *prof_config_dir_merge(apr_pool_t *p, void *basev, void *addv);
void *prof_config_srv_create(apr_pool_t *p, server_rec *s);
void *prof_config_srv_merge(apr_pool_t *p, void *basev, void *addv);

const char *prof_config_set_enabled(cmd_parms *cmd, void *dconf,
                                    const char *arg);
const char *prof_config_set_st(cmd_parms *cmd, void *dconf, const char *arg);
const char *prof_config_set_st_max_size(cmd_parms *cmd, void *dconf,
                                        const char *arg);
const char *prof_config_set_max_spans(cmd_parms *cmd, void *dconf,
                                      const char *arg);
const char *prof_config_set_up_mode(cmd_parms *cmd, void *dconf,
                                    const char *arg);
const char *prof_config_set_up_prefix(cmd_parms *cmd, void *dconf,
                                      const char *arg);

const char *prof_config_set_store(cmd_parms *cmd, void *dconf,
                                  const char *arg);
const char *prof_config_set_sample(cmd_parms *cmd, void *dconf,
                                   const char *arg);
const char *prof_config_set_sample_slow(cmd_parms *cmd, void *dconf,
                                        const char *arg);
const char *prof_config_set_store_query(cmd_parms *cmd, void *dconf,
                                        int argc, char *const argv[]);
const char *prof_config_set_ignore(cmd_parms *cmd, void *dconf,
                                   const char *arg);
const char *prof_config_set_route(cmd_parms *cmd, void *dconf,
                                  const char *regex, const char *name);
const char *prof_config_set_store_global(cmd_parms *cmd, void *dconf,
                                         const char *arg);
const char *prof_config_set_batch(cmd_parms *cmd, void *dconf,
                                  const char *rows, const char *ms);
const char *prof_config_set_metrics_keys(cmd_parms *cmd, void *dconf,
                                         const char *arg);
const char *prof_config_set_max_routes(cmd_parms *cmd, void *dconf,
                                       const char *arg);
const char *prof_config_set_metrics_buckets(cmd_parms *cmd, void *dconf,
                                            int argc, char *const argv[]);

/**
 * Check what the directive setters cannot see alone, for check_config (so
 * that apachectl -t reports it): warn about ProfilerServerTiming where
 * Profiler is Off, with the file and line of the directive and of its
 * section. Reads the directive tree; never fails the configuration.
 */
void prof_config_check(apr_pool_t *ptemp, server_rec *s);

/** The store settings of the server (the main server's, with defaults
 * filled in), for post_config and child_init. */
void prof_config_store_get(server_rec *main_server, prof_store_conf_t *out);

/** Would a request to r be stored, going by r's configuration (not by
 * whether the store runs)? */
static APR_INLINE int prof_config_store(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        prof_module_conf(r->per_dir_config);
    return conf->store == PROF_UNSET ? PROF_DEFAULT_STORE : conf->store;
}

static APR_INLINE double prof_config_sample(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        prof_module_conf(r->per_dir_config);
    return conf->sample < 0 ? PROF_DEFAULT_SAMPLE : conf->sample;
}

/** ProfilerSampleSlow for r, in us; 0 when off. */
static APR_INLINE apr_int64_t prof_config_sample_slow_us(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        prof_module_conf(r->per_dir_config);
    return conf->sample_slow_us < 0 ? 0 : conf->sample_slow_us;
}

/** ProfilerStoreQuery for r: NULL when off, else the names whose values
 * are redacted (the built-in ones and those the directive added). */
static APR_INLINE const apr_array_header_t *
prof_config_store_query(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        prof_module_conf(r->per_dir_config);
    return conf->store_query == 1 ? conf->query_redact : NULL;
}

static APR_INLINE const prof_srv_conf_t *prof_config_srv(const server_rec *s)
{
    return prof_module_conf(s->module_config);
}

/** ProfilerUpstreamTiming for r (a prof_up_mode_t). */
static APR_INLINE int prof_config_up_mode(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        prof_module_conf(r->per_dir_config);
    return conf->up_mode == PROF_UNSET ? PROF_DEFAULT_UP_MODE : conf->up_mode;
}

/** ProfilerUpstreamPrefix for r: "" when none. */
static APR_INLINE const char *prof_config_up_prefix(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        prof_module_conf(r->per_dir_config);
    return conf->up_prefix ? conf->up_prefix : "";
}

/** ProfilerMaxSpans for requests to server s. */
static APR_INLINE apr_uint32_t prof_config_max_spans(const server_rec *s)
{
    const prof_srv_conf_t *conf =
        prof_module_conf(s->module_config);
    return (apr_uint32_t)(conf->max_spans == PROF_UNSET
                          ? PROF_DEFAULT_MAX_SPANS : conf->max_spans);
}

/** ProfilerMetricsKeys of the server (the main server's). */
static APR_INLINE apr_uint32_t prof_config_metrics_keys(const server_rec *main_s)
{
    const prof_srv_conf_t *conf =
        prof_module_conf(main_s->module_config);
    return (apr_uint32_t)(conf->metrics_keys == PROF_UNSET
                          ? PROF_DEFAULT_METRICS_KEYS : conf->metrics_keys);
}

/** ProfilerMaxRoutes for server s. */
static APR_INLINE apr_uint32_t prof_config_max_routes(const server_rec *s)
{
    const prof_srv_conf_t *conf =
        prof_module_conf(s->module_config);
    return (apr_uint32_t)(conf->max_routes == PROF_UNSET
                          ? PROF_DEFAULT_MAX_ROUTES : conf->max_routes);
}

/* The getters run on every request: inline, and no function calls. */

/** Is the profiler on anywhere in server s? For the first hooks. */
static APR_INLINE int prof_config_maybe_on(const server_rec *s)
{
    const prof_srv_conf_t *conf =
        prof_module_conf(s->module_config);
    return conf->maybe_on;
}

/** Is the profiler on for r, with r's final per-directory configuration? */
static APR_INLINE int prof_config_enabled(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        prof_module_conf(r->per_dir_config);
    return conf->enabled == PROF_UNSET ? PROF_DEFAULT_ENABLED : conf->enabled;
}

/** ProfilerServerTiming for r, as set or defaulted (a prof_st_mode_t). */
static APR_INLINE int prof_config_st_mode(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        prof_module_conf(r->per_dir_config);
    return conf->st_mode == PROF_UNSET ? PROF_DEFAULT_ST_MODE : conf->st_mode;
}

/**
 * May r's response carry Server-Timing? Evaluates the expr= gate (an error
 * in it is logged and counts as "no").
 */
int prof_config_st_expr_allows(request_rec *r);

static APR_INLINE int prof_config_st_allowed(request_rec *r)
{
    int mode = prof_config_st_mode(r);
    return mode == PROF_ST_EXPR ? prof_config_st_expr_allows(r)
                                : mode == PROF_ST_ON;
}

/** The cap on our Server-Timing value for r, in bytes. */
apr_size_t prof_config_st_max_size(const request_rec *r);

#endif /* MOD_PROFILER_CONFIG_H */
