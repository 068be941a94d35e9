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
} prof_dir_conf_t;

/** Per-server configuration. */
typedef struct {
    int max_spans;              /**< ProfilerMaxSpans; PROF_UNSET */
    /* Set when "Profiler On" appears anywhere in this server's configuration
     * (or the main server's, which a vhost inherits). Requests start being
     * timed before their <Location> is known, so this is what lets a server
     * that never enables the profiler skip even that. */
    int maybe_on;
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

/** ProfilerUpstreamTiming for r (a prof_up_mode_t). */
static APR_INLINE int prof_config_up_mode(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        ap_get_module_config(r->per_dir_config, &profiler_module);
    return conf->up_mode == PROF_UNSET ? PROF_DEFAULT_UP_MODE : conf->up_mode;
}

/** ProfilerUpstreamPrefix for r: "" when none. */
static APR_INLINE const char *prof_config_up_prefix(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        ap_get_module_config(r->per_dir_config, &profiler_module);
    return conf->up_prefix ? conf->up_prefix : "";
}

/** ProfilerMaxSpans for requests to server s. */
static APR_INLINE apr_uint32_t prof_config_max_spans(const server_rec *s)
{
    const prof_srv_conf_t *conf =
        ap_get_module_config(s->module_config, &profiler_module);
    return (apr_uint32_t)(conf->max_spans == PROF_UNSET
                          ? PROF_DEFAULT_MAX_SPANS : conf->max_spans);
}

/* The getters run on every request: inline, and no function calls. */

/** Is the profiler on anywhere in server s? For the first hooks. */
static APR_INLINE int prof_config_maybe_on(const server_rec *s)
{
    const prof_srv_conf_t *conf =
        ap_get_module_config(s->module_config, &profiler_module);
    return conf->maybe_on;
}

/** Is the profiler on for r, with r's final per-directory configuration? */
static APR_INLINE int prof_config_enabled(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        ap_get_module_config(r->per_dir_config, &profiler_module);
    return conf->enabled == PROF_UNSET ? PROF_DEFAULT_ENABLED : conf->enabled;
}

/** ProfilerServerTiming for r, as set or defaulted (a prof_st_mode_t). */
static APR_INLINE int prof_config_st_mode(const request_rec *r)
{
    const prof_dir_conf_t *conf =
        ap_get_module_config(r->per_dir_config, &profiler_module);
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
