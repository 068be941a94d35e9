/* Licensed under the Apache License, Version 2.0. */

#include <errno.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_expr.h"

#include "prof_st.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "prof_prom.h"

void *prof_config_dir_create(apr_pool_t *p, char *dir)
{
    prof_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    /* The section's path: under a <Location>, where the report's pages
     * are (NULL for the server's own configuration). */
    conf->section = dir ? apr_pstrdup(p, dir) : NULL;
    conf->enabled = PROF_UNSET;
    conf->st_mode = PROF_UNSET;
    conf->st_max_size = PROF_UNSET;
    conf->up_mode = PROF_UNSET;
    conf->store = PROF_UNSET;
    conf->sample = -1.0;
    conf->sample_slow_us = -1;
    conf->store_query = PROF_UNSET;
    conf->reqprof_mode = PROF_UNSET;
    conf->reqprof_hz = PROF_UNSET;
    conf->st_traceparent = PROF_UNSET;
    return conf;
}

#define MERGE_INT(field) \
    (add->field != PROF_UNSET ? add->field : base->field)

void *prof_config_dir_merge(apr_pool_t *p, void *basev, void *addv)
{
    const prof_dir_conf_t *base = basev, *add = addv;
    prof_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->section = add->section ? add->section : base->section;
    conf->report_token = add->report_token ? add->report_token
                                           : base->report_token;
    conf->report_base = add->report_base ? add->report_base
                                         : base->report_base;
    conf->enabled = MERGE_INT(enabled);
    /* The mode and its expression travel together: an inner "On" must not
     * inherit an outer expression. */
    if (add->st_mode != PROF_UNSET) {
        conf->st_mode = add->st_mode;
        conf->st_expr = add->st_expr;
    }
    else {
        conf->st_mode = base->st_mode;
        conf->st_expr = base->st_expr;
    }
    conf->st_max_size = MERGE_INT(st_max_size);
    /* The same for ProfilerRequestProfile's mode and expression. */
    if (add->reqprof_mode != PROF_UNSET) {
        conf->reqprof_mode = add->reqprof_mode;
        conf->reqprof_expr = add->reqprof_expr;
    }
    else {
        conf->reqprof_mode = base->reqprof_mode;
        conf->reqprof_expr = base->reqprof_expr;
    }
    conf->reqprof_hz = MERGE_INT(reqprof_hz);
    conf->st_traceparent = MERGE_INT(st_traceparent);
    conf->up_mode = MERGE_INT(up_mode);
    conf->up_prefix = add->up_prefix ? add->up_prefix : base->up_prefix;
    conf->store = MERGE_INT(store);
    conf->sample = add->sample >= 0 ? add->sample : base->sample;
    conf->sample_slow_us = MERGE_INT(sample_slow_us);
    /* On/Off is the inner section's; the names to hide add up, so that an
     * inner "ProfilerStoreQuery On x" never shows what an outer section
     * hid. Both lists start with the same built-in names: the merged one
     * is the inner list and the names the outer one added. */
    conf->store_query = MERGE_INT(store_query);
    if (add->query_redact == NULL || add->query_extras == 0) {
        conf->query_redact = base->query_redact ? base->query_redact
                                                : add->query_redact;
        conf->query_extras = base->query_redact ? base->query_extras
                                                : add->query_extras;
    }
    else if (base->query_redact == NULL || base->query_extras == 0) {
        conf->query_redact = add->query_redact;
        conf->query_extras = add->query_extras;
    }
    else {
        int i, nb = base->query_redact->nelts;

        conf->query_redact = apr_array_copy(p, add->query_redact);
        for (i = nb - base->query_extras; i < nb; ++i) {
            APR_ARRAY_PUSH(conf->query_redact, const char *) =
                APR_ARRAY_IDX(base->query_redact, i, const char *);
        }
        conf->query_extras = add->query_extras + base->query_extras;
    }
    return conf;
}

void *prof_config_srv_create(apr_pool_t *p, server_rec *s)
{
    prof_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    (void)s;
    conf->max_spans = PROF_UNSET;
    conf->metrics_keys = PROF_UNSET;
    conf->max_routes = PROF_UNSET;
    conf->trace_ctx = PROF_UNSET;
    conf->modtime = PROF_UNSET;
    conf->modtime_min_us = PROF_UNSET;
    conf->store.queue_size = PROF_UNSET;
    conf->store.batch_rows = PROF_UNSET;
    conf->store.batch_interval_us = -1;
    conf->store.retention_us = -1;
    conf->store.rollup_retention_us = -1;
    conf->store.retention_rows = -1;
    conf->store.retention_interval_us = -1;
    return conf;
}

void *prof_config_srv_merge(apr_pool_t *p, void *basev, void *addv)
{
    const prof_srv_conf_t *base = basev, *add = addv;
    prof_srv_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    /* The main server's <Location> sections apply inside every vhost too. */
    conf->maybe_on = base->maybe_on || add->maybe_on;
    conf->rfilter_maybe = base->rfilter_maybe || add->rfilter_maybe;
    conf->max_spans = MERGE_INT(max_spans);
    conf->store_maybe_on = base->store_maybe_on || add->store_maybe_on;
    /* A vhost's own rules come first, then the main server's. */
    conf->ignore = add->ignore && base->ignore
                   ? apr_array_append(p, add->ignore, base->ignore)
                   : (add->ignore ? add->ignore : base->ignore);
    conf->routes = add->routes && base->routes
                   ? apr_array_append(p, add->routes, base->routes)
                   : (add->routes ? add->routes : base->routes);
    conf->max_routes = MERGE_INT(max_routes);
    conf->trace_ctx = MERGE_INT(trace_ctx);
    conf->modtime = MERGE_INT(modtime);
    conf->modtime_min_us = MERGE_INT(modtime_min_us);
    conf->otlp = base->otlp;    /* global: the main server's */
    conf->buckets = add->buckets ? add->buckets : base->buckets;
    /* Global: only the main server's counts (the setters refuse vhosts). */
    conf->store = base->store;
    conf->metrics_keys = base->metrics_keys;
    return conf;
}

int prof_config_first_in_reading(apr_pool_t *pconf, const char *key)
{
    void *done = NULL;

    apr_pool_userdata_get(&done, key, pconf);
    if (done) {
        return 0;
    }
    apr_pool_userdata_setn((void *)1, key, apr_pool_cleanup_null, pconf);
    return 1;
}

int prof_config_parse_flag(const char *arg)
{
    if (!strcasecmp(arg, "on")) {
        return 1;
    }
    if (!strcasecmp(arg, "off")) {
        return 0;
    }
    return -1;
}

const char *prof_config_set_enabled(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    int v = prof_config_parse_flag(arg);

    if (v < 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use On or Off",
                            cmd->cmd->name, arg);
    }
    conf->enabled = v;
    if (v) {
        prof_srv_conf_t *sconf =
            ap_get_module_config(cmd->server->module_config, &profiler_module);
        sconf->maybe_on = 1;
    }
    return NULL;
}

/* The server's requests may need a filter of their own (the header, or
 * ProfilerUpstreamTiming drop): where none can, the handler phase's start
 * is all insert_filter does (mod_profiler_filter.c). */
static void request_filter_maybe(cmd_parms *cmd)
{
    prof_srv_conf_t *sconf =
        ap_get_module_config(cmd->server->module_config, &profiler_module);

    sconf->rfilter_maybe = 1;
}

const char *prof_config_set_st(cmd_parms *cmd, void *dconf, const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    int v = prof_config_parse_flag(arg);

    if (v > 0 || (v < 0 && !strncasecmp(arg, "expr=", 5))) {
        request_filter_maybe(cmd);
    }
    if (v >= 0) {
        conf->st_mode = v ? PROF_ST_ON : PROF_ST_OFF;
        conf->st_expr = NULL;
        return NULL;
    }
    if (!strncasecmp(arg, "expr=", 5)) {
        const char *err = NULL;

        if (arg[5] == '\0') {
            return apr_psprintf(cmd->pool, "%s: expr= needs an expression, "
                                "e.g. expr=-R '10.0.0.0/8'", cmd->cmd->name);
        }
        conf->st_expr = ap_expr_parse_cmd(cmd, arg + 5, 0, &err, NULL);
        if (err) {
            return apr_psprintf(cmd->pool,
                                "%s: cannot parse expression '%s': %s",
                                cmd->cmd->name, arg + 5, err);
        }
        conf->st_mode = PROF_ST_EXPR;
        return NULL;
    }
    return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use On, Off or "
                        "expr=<expression>", cmd->cmd->name, arg);
}

const char *prof_config_set_st_max_size(cmd_parms *cmd, void *dconf,
                                        const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    char *end = NULL;
    apr_int64_t v;

    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end != '\0'
        || v < PROF_ST_MAX_SIZE_MIN || v > PROF_ST_MAX_SIZE_MAX) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a number "
                            "of bytes from %d to %d", cmd->cmd->name, arg,
                            PROF_ST_MAX_SIZE_MIN, PROF_ST_MAX_SIZE_MAX);
    }
    conf->st_max_size = (int)v;
    return NULL;
}

const char *prof_config_set_max_spans(cmd_parms *cmd, void *dconf,
                                      const char *arg)
{
    prof_srv_conf_t *conf =
        ap_get_module_config(cmd->server->module_config, &profiler_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    char *end = NULL;
    apr_int64_t v;

    (void)dconf;
    if (err) {
        return err;
    }
    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < 0
        || v > PROF_MAX_SPANS_MAX) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a number "
                            "of spans from 0 to %d", cmd->cmd->name, arg,
                            PROF_MAX_SPANS_MAX);
    }
    conf->max_spans = (int)v;
    return NULL;
}

const char *prof_config_set_up_mode(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    prof_dir_conf_t *conf = dconf;

    if (!strcasecmp(arg, "merge")) {
        conf->up_mode = PROF_UP_MERGE;
    }
    else if (!strcasecmp(arg, "pass")) {
        conf->up_mode = PROF_UP_PASS;
    }
    else if (!strcasecmp(arg, "drop")) {
        conf->up_mode = PROF_UP_DROP;
        request_filter_maybe(cmd);
    }
    else {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use merge, "
                            "pass or drop", cmd->cmd->name, arg);
    }
    return NULL;
}

const char *prof_config_set_up_prefix(cmd_parms *cmd, void *dconf,
                                      const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    const char *c;

    /* "none" takes an inherited prefix away; anything else must be able
     * to start a token. */
    if (!strcasecmp(arg, "none")) {
        conf->up_prefix = "";
        return NULL;
    }
    for (c = arg; *c; ++c) {
        if (!prof_st_is_tchar((unsigned char)*c)) {
            break;
        }
    }
    if (!*arg || *c || strlen(arg) > 64) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use up to 64 "
                            "token characters (letters, digits, "
                            "!#$%%&'*+-.^_`|~) or none", cmd->cmd->name, arg);
    }
    conf->up_prefix = arg;
    return NULL;
}

static APR_INLINE const prof_dir_conf_t *dir_conf(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &profiler_module);
}

int prof_config_st_expr_allows(request_rec *r)
{
    const prof_dir_conf_t *conf = dir_conf(r);
    const char *err = NULL;
    int rc = ap_expr_exec(r, conf->st_expr, &err);

    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00001)
                      "ProfilerServerTiming: evaluating the expression "
                      "failed, sending no Server-Timing: %s", err);
        return 0;
    }
    return rc > 0;
}

apr_size_t prof_config_st_max_size(const request_rec *r)
{
    int v = dir_conf(r)->st_max_size;
    return (apr_size_t)(v == PROF_UNSET ? PROF_DEFAULT_ST_MAX_SIZE : v);
}

/* ---- The configuration check (check_config: apachectl -t sees it) ---- */

/* The first word of a directive's arguments, unquoted ("Off", "\"On\""). */
static const char *first_arg(apr_pool_t *p, const ap_directive_t *d)
{
    const char *args = d->args ? d->args : "";

    return ap_getword_conf(p, &args);
}

static int is_directive(const ap_directive_t *d, const char *name)
{
    return d->directive && !strcasecmp(d->directive, name);
}

/* Does "Profiler On" stand anywhere in the list from d on, sections
 * included, <VirtualHost> sections left out? */
static int list_turns_on(apr_pool_t *p, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (is_directive(d, "Profiler")
            && prof_config_parse_flag(first_arg(p, d)) == 1) {
            return 1;
        }
        if (d->first_child && !is_directive(d, "<VirtualHost")
            && list_turns_on(p, d->first_child)) {
            return 1;
        }
    }
    return 0;
}

/* Where the section that holds d begins, for a message. */
static const char *section_of(apr_pool_t *p, const ap_directive_t *d)
{
    const ap_directive_t *sec = d->parent;

    if (sec == NULL) {
        return "the server configuration";
    }
    return apr_psprintf(p, "%s %s (%s:%d)", sec->directive,
                        sec->args ? sec->args : "", sec->filename,
                        sec->line_num);
}

/*
 * Walk one scope of the directive tree (a server's top level, or a
 * section), knowing what "Profiler" is there by lexical inheritance: a
 * ProfilerServerTiming that can never send anything is a mistake worth a
 * warning at -t. Two cases are certain: Profiler is On nowhere in the
 * server (server_on 0), or this scope or one around it says Profiler Off
 * and nothing inside it says On. (A section elsewhere that matches the same
 * requests could still turn it on: the message says so.)
 */
static void check_scope(apr_pool_t *p, server_rec *s,
                        const ap_directive_t *first,
                        const ap_directive_t *off_at, int server_on)
{
    const ap_directive_t *d;
    int v, inner_on = -1;

    /* This scope's own Profiler: the last one holds. */
    for (d = first; d; d = d->next) {
        if (is_directive(d, "Profiler")
            && (v = prof_config_parse_flag(first_arg(p, d))) >= 0) {
            off_at = v ? NULL : d;
        }
    }
    for (d = first; d; d = d->next) {
        if (is_directive(d, "ProfilerServerTiming")
            && prof_config_parse_flag(first_arg(p, d)) != 0) {
            if (!server_on) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             PROFLOGNO(00120) "ProfilerServerTiming %s at "
                             "%s:%d, in %s, has no effect: Profiler is On "
                             "nowhere in this server", first_arg(p, d),
                             d->filename, d->line_num, section_of(p, d));
                continue;
            }
            if (off_at == NULL) {
                continue;
            }
            if (inner_on < 0) {
                inner_on = list_turns_on(p, first);
            }
            if (!inner_on) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             PROFLOGNO(00121) "ProfilerServerTiming %s at "
                             "%s:%d, in %s, has no effect: Profiler is Off "
                             "there (%s:%d), and no section inside turns it "
                             "On; sending Server-Timing needs Profiler On "
                             "for the same requests", first_arg(p, d),
                             d->filename, d->line_num, section_of(p, d),
                             off_at->filename, off_at->line_num);
            }
        }
        else if (is_directive(d, "ProfilerTraceContext")
                 && prof_config_parse_flag(first_arg(p, d)) == 1
                 && !server_on) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         PROFLOGNO(00391) "ProfilerTraceContext On at %s:%d, "
                         "in %s, has no effect: Profiler is On nowhere in "
                         "this server, and a request's trace context is "
                         "part of its profile", d->filename, d->line_num,
                         section_of(p, d));
        }
        else if (d->first_child && !is_directive(d, "<VirtualHost")) {
            check_scope(p, s, d->first_child, off_at, server_on);
        }
    }
}

void prof_config_check(apr_pool_t *ptemp, server_rec *s)
{
    const ap_directive_t *d, *main_off = NULL;
    int main_on, any_on, v;

    if (ap_conftree == NULL) {
        return;
    }
    /* The main server: everything outside <VirtualHost>; its top-level
     * Profiler is what every vhost inherits. What it sets, sections
     * included, applies in every vhost too: Profiler On in any of them
     * can make it count. */
    main_on = list_turns_on(ptemp, ap_conftree);
    any_on = main_on;
    for (d = ap_conftree; d; d = d->next) {
        if (is_directive(d, "Profiler")
            && (v = prof_config_parse_flag(first_arg(ptemp, d))) >= 0) {
            main_off = v ? NULL : d;
        }
        if (!any_on && is_directive(d, "<VirtualHost") && d->first_child) {
            any_on = list_turns_on(ptemp, d->first_child);
        }
    }
    check_scope(ptemp, s, ap_conftree, NULL, any_on);
    for (d = ap_conftree; d; d = d->next) {
        if (is_directive(d, "<VirtualHost") && d->first_child) {
            check_scope(ptemp, s, d->first_child, main_off,
                        main_on || list_turns_on(ptemp, d->first_child));
        }
    }
}

/* A whole number in lo..hi, or NULL with *err set. */
static const char *parse_count(cmd_parms *cmd, const char *arg,
                               apr_int64_t lo, apr_int64_t hi,
                               const char *what, apr_int64_t *out)
{
    char *end = NULL;

    errno = 0;
    *out = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || *out < lo || *out > hi) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a number "
                            "of %s from %" APR_INT64_T_FMT " to %"
                            APR_INT64_T_FMT, cmd->cmd->name, arg, what,
                            lo, hi);
    }
    return NULL;
}

const char *prof_config_set_metrics_keys(cmd_parms *cmd, void *dconf,
                                         const char *arg)
{
    prof_srv_conf_t *conf =
        ap_get_module_config(cmd->server->module_config, &profiler_module);
    /* One segment for the whole server: its size is the main server's. */
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_int64_t v;

    (void)dconf;
    if (err) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
    }
    if ((err = parse_count(cmd, arg, 1, PROF_METRICS_KEYS_MAX, "keys", &v))) {
        return err;
    }
    conf->metrics_keys = (int)v;
    return NULL;
}

const char *prof_config_set_max_routes(cmd_parms *cmd, void *dconf,
                                       const char *arg)
{
    prof_srv_conf_t *conf =
        ap_get_module_config(cmd->server->module_config, &profiler_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    apr_int64_t v;

    (void)dconf;
    if (err) {
        return err;
    }
    if ((err = parse_count(cmd, arg, 0, PROF_MAX_ROUTES_MAX, "routes", &v))) {
        return err;
    }
    conf->max_routes = (int)v;
    return NULL;
}

const char *prof_config_set_metrics_buckets(cmd_parms *cmd, void *dconf,
                                            int argc, char *const argv[])
{
    prof_srv_conf_t *conf =
        ap_get_module_config(cmd->server->module_config, &profiler_module);
    const char *err = ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
    prof_prom_bounds_t *b;
    const char *bad = NULL;

    (void)dconf;
    if (err) {
        return err;
    }
    b = apr_palloc(cmd->pool, sizeof(*b));
    if (prof_prom_bounds_parse(b, argc, (const char *const *)argv, &bad)
        != APR_SUCCESS) {
        if (bad) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use "
                                "bucket bounds in seconds above 0 and up to "
                                "%.0f, e.g. 0.005 0.05 0.5 5", cmd->cmd->name,
                                bad, PROF_PROM_BOUND_MAX_S);
        }
        return apr_psprintf(cmd->pool, "%s: give from 1 to %d bucket bounds "
                            "in seconds above 0 and up to %.0f, e.g. 0.005 "
                            "0.05 0.5 5", cmd->cmd->name, PROF_PROM_BOUNDS_MAX,
                            PROF_PROM_BOUND_MAX_S);
    }
    conf->buckets = b;
    return NULL;
}
