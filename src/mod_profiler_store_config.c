/* Licensed under the Apache License, Version 2.0. */

/* The directives of the measurement store: which requests are stored, how
 * (sampling, routes, query strings), and the server-wide settings of the
 * writer and of retention. Create and merge live in mod_profiler_config.c
 * with the rest. */

#include <errno.h>

#include "apr_strings.h"
#include "apr_lib.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "prof_route.h"
#include "prof_rate.h"
#include "prof_sample.h"
#include "prof_sql.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_store_rollup.h"

static prof_srv_conf_t *srv_conf(cmd_parms *cmd)
{
    return ap_get_module_config(cmd->server->module_config, &profiler_module);
}

const char *prof_config_set_store(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    int v = prof_config_parse_flag(arg);

    if (v < 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use On or Off",
                            cmd->cmd->name, arg);
    }
    conf->store = v;
    if (v) {
        srv_conf(cmd)->store_maybe_on = 1;
    }
    return NULL;
}

const char *prof_config_set_sample(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(arg, &end);
    /* strtod() reads "nan", "inf" and hex floats too: refuse all that. */
    if (errno || end == arg || *end != '\0' || !(v >= 0.0 && v <= 1.0)
        || (v > 0.0 && v < PROF_SAMPLE_MIN_FRACTION)
        || apr_isalpha(arg[0]) || strchr(arg, 'x') || strchr(arg, 'X')) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a fraction "
                            "from 0 to 1 (0.01 stores one request in a "
                            "hundred; 0 only slow and 5xx ones), at least "
                            "0.000001 when not 0", cmd->cmd->name, arg);
    }
    conf->sample = v;
    return NULL;
}

/* A non-negative decimal integer that fits, or -1. */
static apr_int64_t parse_count(const char *arg, apr_int64_t max)
{
    char *end = NULL;
    apr_int64_t v;

    if (!apr_isdigit(arg[0])) {
        return -1;
    }
    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno || *end != '\0' || v < 0 || v > max) {
        return -1;
    }
    return v;
}

const char *prof_config_set_sample_slow(cmd_parms *cmd, void *dconf,
                                        const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    apr_int64_t ms;

    if (!strcasecmp(arg, "off")) {
        conf->sample_slow_us = 0;
        return NULL;
    }
    ms = parse_count(arg, APR_INT64_C(86400000));
    if (ms <= 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a number "
                            "of milliseconds from 1 to 86400000, or Off",
                            cmd->cmd->name, arg);
    }
    conf->sample_slow_us = ms * 1000;
    return NULL;
}

/* Query parameters whose values are never stored, whatever the
 * configuration adds: the usual names of credentials, signatures and
 * session ids. Names compare case-insensitively with '-' and '_' alike
 * (prof_query_redact()), so "api_key" also covers "api-key" and "API-Key".
 * client_id is not here: OAuth makes it public, and it tells requests
 * apart usefully; ProfilerStoreQuery On client_id hides it. */
static const char *const builtin_redact[] = {
    "password", "passwd", "pwd", "pass", "passphrase", "secret", "token",
    "access_token", "refresh_token", "id_token", "auth_token", "oauth_token",
    "private_token", "oauth_signature", "oauth_verifier", "code_verifier",
    "client_secret", "client_assertion", "api_key", "apikey", "x_api_key",
    "key", "access_key", "secret_key", "awsaccesskeyid", "auth",
    "authorization", "credential", "credentials", "session", "sessionid",
    "session_id", "sid", "jsessionid", "phpsessid", "code", "otp",
    "signature", "sig", "hmac", "jwt", "x_amz_signature", "x_amz_credential",
    "x_amz_security_token", "x_goog_signature", "x_goog_credential",
    "csrf_token", "xsrf_token", "authenticity_token"
};

#define N_BUILTIN ((int)(sizeof(builtin_redact) / sizeof(builtin_redact[0])))

const char *prof_config_set_store_query(cmd_parms *cmd, void *dconf,
                                        int argc, char *const argv[])
{
    prof_dir_conf_t *conf = dconf;
    int v, i;

    if (argc < 1 || (v = prof_config_parse_flag(argv[0])) < 0
        || (v == 0 && argc > 1)) {
        return apr_psprintf(cmd->pool, "%s: use Off, or On followed by the "
                            "names of further parameters whose values to "
                            "hide", cmd->cmd->name);
    }
    conf->store_query = v;
    /* The whole list, built-in names first, made here once rather than on
     * every request; the merge adds an outer section's names (those after
     * the built-in ones) to an inner one's. Repeated in one section, the
     * names add up too. */
    if (conf->query_redact == NULL) {
        conf->query_redact = apr_array_make(cmd->pool, N_BUILTIN + argc,
                                            sizeof(char *));
        for (i = 0; i < N_BUILTIN; ++i) {
            APR_ARRAY_PUSH(conf->query_redact, const char *) =
                builtin_redact[i];
        }
    }
    for (i = 1; i < argc; ++i) {
        if (argv[i][0] == '\0' || ap_strchr_c(argv[i], '&')
            || ap_strchr_c(argv[i], ';') || ap_strchr_c(argv[i], '=')) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not a parameter name "
                                "(it holds none of & ; =)", cmd->cmd->name,
                                argv[i]);
        }
        APR_ARRAY_PUSH(conf->query_redact, const char *) = argv[i];
    }
    conf->query_extras = conf->query_redact->nelts - N_BUILTIN;
    return NULL;
}

static const char *not_in_dir(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, NOT_IN_DIR_CONTEXT);
}

const char *prof_config_set_ignore(cmd_parms *cmd, void *dconf,
                                   const char *arg)
{
    prof_srv_conf_t *conf = srv_conf(cmd);
    const char *err = not_in_dir(cmd);
    ap_regex_t *re;

    (void)dconf;
    if (err) {
        return err;
    }
    re = ap_pregcomp(cmd->pool, arg, AP_REG_EXTENDED | AP_REG_NOSUB);
    if (re == NULL) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid regular "
                            "expression", cmd->cmd->name, arg);
    }
    if (conf->ignore == NULL) {
        conf->ignore = apr_array_make(cmd->pool, 4, sizeof(ap_regex_t *));
    }
    *(ap_regex_t **)apr_array_push(conf->ignore) = re;
    return NULL;
}

const char *prof_config_set_route(cmd_parms *cmd, void *dconf,
                                  const char *regex, const char *name)
{
    prof_srv_conf_t *conf = srv_conf(cmd);
    const char *err = not_in_dir(cmd), *c;
    prof_route_rule_t *rule;
    ap_regex_t *re;

    (void)dconf;
    if (err) {
        return err;
    }
    re = ap_pregcomp(cmd->pool, regex, AP_REG_EXTENDED);
    if (re == NULL) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid regular "
                            "expression", cmd->cmd->name, regex);
    }
    /* The report must take back every name the store keeps: one rule. */
    if ((c = prof_route_name_check(name)) != NULL) {
        return apr_psprintf(cmd->pool, "%s: the route name '%s' %s; use %s",
                            cmd->cmd->name,
                            ap_escape_logitem(cmd->pool, name), c,
                            PROF_ROUTE_NAME_RULE);
    }
    /* $n must name a group the regex has. */
    for (c = name; *c; ++c) {
        if (c[0] == '$' && apr_isdigit(c[1])
            && (apr_size_t)(c[1] - '0') > (apr_size_t)re->re_nsub) {
            return apr_psprintf(cmd->pool, "%s: '%s' uses $%c, but '%s' has "
                                "only %d group(s)", cmd->cmd->name, name,
                                c[1], regex, (int)re->re_nsub);
        }
    }
    if (conf->routes == NULL) {
        conf->routes = apr_array_make(cmd->pool, 4, sizeof(prof_route_rule_t));
    }
    rule = apr_array_push(conf->routes);
    rule->re = re;
    rule->pattern = regex;
    rule->name = name;
    return NULL;
}

/* "<n><unit>" with unit s, m, h, d or w; "Off" (or 0) is 0. -1 if not. */
static apr_interval_time_t parse_age(const char *arg)
{
    static const struct { char unit; apr_int64_t sec; } units[] = {
        { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 },
        { 'w', 7 * 86400 }
    };
    apr_size_t len = strlen(arg), i;
    apr_int64_t n;
    char num[16];

    if (!strcasecmp(arg, "off") || !strcmp(arg, "0")) {
        return 0;
    }
    if (len < 2 || len > 12) {
        return -1;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); ++i) {
        if (apr_tolower(arg[len - 1]) == units[i].unit) {
            memcpy(num, arg, len - 1);
            num[len - 1] = '\0';
            n = parse_count(num, APR_INT64_C(3650) * 86400);
            if (n <= 0 || n > APR_INT64_C(3650) * 86400 / units[i].sec) {
                return -1;
            }
            return apr_time_from_sec(n * units[i].sec);
        }
    }
    return -1;
}

/* The server-wide settings share one setter; cmd->info says which. */
typedef enum {
    G_PREFIX, G_SERVER_NAME, G_QUEUE, G_RETENTION, G_ROLLUP_RETENTION,
    G_RETENTION_ROWS, G_RETENTION_INTERVAL, G_STORE_RATE
} global_t;

const char *prof_config_set_store_global(cmd_parms *cmd, void *dconf,
                                         const char *arg)
{
    prof_store_conf_t *st = &srv_conf(cmd)->store;
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *name = cmd->cmd->name;
    apr_interval_time_t age;
    apr_int64_t n;

    (void)dconf;
    if (err) {
        return err;
    }
    switch ((global_t)(apr_uintptr_t)cmd->info) {
    case G_PREFIX:
        if ((err = prof_sql_prefix_error(arg)) != NULL) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid: %s",
                                name, arg, err);
        }
        st->prefix = arg;
        return NULL;
    case G_SERVER_NAME:
        if (arg[0] == '\0' || strlen(arg) > 255) {
            return apr_psprintf(cmd->pool, "%s: use a name of 1 to 255 bytes",
                                name);
        }
        st->server_name = arg;
        return NULL;
    case G_QUEUE:
        n = parse_count(arg, PROF_QUEUE_SIZE_MAX);
        if (n < 1) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a "
                                "number of requests from 1 to %d", name, arg,
                                PROF_QUEUE_SIZE_MAX);
        }
        st->queue_size = (int)n;
        return NULL;
    case G_RETENTION:
    case G_ROLLUP_RETENTION:
        age = parse_age(arg);
        if (age < 0) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use an age "
                                "such as 90m, 12h, 7d or 4w (at most 10 "
                                "years), or Off to keep everything",
                                name, arg);
        }
        if ((global_t)(apr_uintptr_t)cmd->info == G_RETENTION) {
            st->retention_us = age;
        }
        else {
            st->rollup_retention_us = age;
        }
        return NULL;
    case G_RETENTION_ROWS:
        n = !strcasecmp(arg, "off") ? 0
            : parse_count(arg, APR_INT64_C(1000000000000));
        if (n < 0) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use the "
                                "most requests to keep, or Off", name, arg);
        }
        st->retention_rows = n;
        return NULL;
    case G_RETENTION_INTERVAL:
        n = parse_count(arg, 86400);
        if (n < 1) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a "
                                "number of seconds from 1 to 86400",
                                name, arg);
        }
        st->retention_interval_us = apr_time_from_sec(n);
        return NULL;
    case G_STORE_RATE:
        if (!strcasecmp(arg, "off")) {
            st->store_rate = -1;
            return NULL;
        }
        n = parse_count(arg, PROF_RATE_MAX);
        if (n < PROF_RATE_MIN) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use the "
                                "most raw rows stored per second by the "
                                "whole server (%d to %d, default %d), or Off "
                                "to store every request", name, arg,
                                PROF_RATE_MIN, PROF_RATE_MAX,
                                PROF_DEFAULT_STORE_RATE);
        }
        st->store_rate = n;
        return NULL;
    }
    return apr_psprintf(cmd->pool, "%s: unknown setting", name);
}

const char *prof_config_set_batch(cmd_parms *cmd, void *dconf,
                                  const char *rows, const char *ms)
{
    prof_store_conf_t *st = &srv_conf(cmd)->store;
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    apr_int64_t n, t = 100;

    (void)dconf;
    if (err) {
        return err;
    }
    n = parse_count(rows, PROF_BATCH_ROWS_MAX);
    if (ms) {
        apr_size_t len = strlen(ms);
        char buf[16];

        /* "250ms" or "250" */
        if (len > 2 && len < sizeof(buf) && !strcasecmp(ms + len - 2, "ms")) {
            memcpy(buf, ms, len - 2);
            buf[len - 2] = '\0';
            t = parse_count(buf, 10000);
        }
        else {
            t = parse_count(ms, 10000);
        }
    }
    if (n < 1 || t < 10) {
        return apr_psprintf(cmd->pool, "%s: use the most rows per transaction "
                            "(1 to %d), then optionally the longest wait for "
                            "them in milliseconds (10 to 10000), e.g. "
                            "\"%s 500 100ms\"", cmd->cmd->name,
                            PROF_BATCH_ROWS_MAX, cmd->cmd->name);
    }
    st->batch_rows = (int)n;
    st->batch_interval_us = apr_time_from_msec(t);
    return NULL;
}

void prof_config_store_get(server_rec *s, prof_store_conf_t *out)
{
    const prof_store_conf_t *st = &prof_config_srv(s)->store;

    out->prefix = st->prefix ? st->prefix : PROF_SQL_DEFAULT_PREFIX;
    out->server_name = st->server_name;     /* NULL: the host name */
    out->queue_size = st->queue_size != PROF_UNSET
                      ? st->queue_size : PROF_DEFAULT_QUEUE_SIZE;
    out->batch_rows = st->batch_rows != PROF_UNSET
                      ? st->batch_rows : PROF_DEFAULT_BATCH_ROWS;
    out->batch_interval_us = st->batch_interval_us >= 0
                             ? st->batch_interval_us
                             : PROF_DEFAULT_BATCH_INTERVAL_US;
    out->retention_us = st->retention_us >= 0
                        ? st->retention_us : PROF_DEFAULT_RETENTION_US;
    out->rollup_retention_us = st->rollup_retention_us >= 0
                               ? st->rollup_retention_us
                               : PROF_DEFAULT_ROLLUP_RETENTION_US;
    out->retention_rows = st->retention_rows >= 0
                          ? st->retention_rows : PROF_DEFAULT_RETENTION_ROWS;
    out->store_rate = st->store_rate != 0 ? st->store_rate
                                          : PROF_DEFAULT_STORE_RATE;
    out->retention_interval_us = st->retention_interval_us > 0
                                 ? st->retention_interval_us
                                 : PROF_DEFAULT_RETENTION_INTERVAL_US;
}
