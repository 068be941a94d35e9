/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "httpd.h"
#include "http_protocol.h"
#include "util_script.h"

#include "prof_report_text.h"
#include "prof_route.h"
#include "mod_profiler_report_params.h"

/* A range with no from: the day before to. */
#define DEFAULT_RANGE_US apr_time_from_sec(86400)
/* Ranges longer than this read the hourly rollups, in whole hours. */
#define HOURLY_FROM_US  apr_time_from_sec(6 * 3600)

#define EP(x)       (1u << (x))
#define ROLLUPS     (EP(PROF_EP_SUMMARY) | EP(PROF_EP_TIMESERIES) \
                     | EP(PROF_EP_HISTOGRAM) | EP(PROF_EP_ROUTE) \
                     | EP(PROF_EP_PAGE_DASHBOARD))
#define API         (EP(PROF_EP_SUMMARY) | EP(PROF_EP_TIMESERIES) \
                     | EP(PROF_EP_HISTOGRAM) | EP(PROF_EP_REQUESTS) \
                     | EP(PROF_EP_REQUEST) | EP(PROF_EP_HEALTH) \
                     | EP(PROF_EP_ROUTE))
#define LISTS       (EP(PROF_EP_REQUESTS) | EP(PROF_EP_PAGE_REQUESTS) \
                     | EP(PROF_EP_PAGE_REQUEST))
/* The profiles' endpoints take only their own parameters. */
#define PROFILES    (EP(PROF_EP_PROFILE) | EP(PROF_EP_PAGE_CPU))
#define ALL         ((EP(PROF_EP_COUNT) - 1) & ~PROFILES)

typedef enum {
    P_TIME, P_TEXT, P_STATUS, P_MS, P_GROUP, P_SORT, P_ORDER, P_LIMIT,
    P_CURSOR, P_FORMAT, P_SECONDS, P_HZ
} ptype_t;

/* Every parameter of the report: its type, where it is taken (a bit per
 * prof_report_ep_t), and what a client is told where it is not. */
typedef struct {
    const char *name;
    ptype_t type;
    unsigned where;
    const char *elsewhere;
    const char *chars;          /* P_TEXT: the punctuation it may hold;
                                 * NULL: anything but control bytes */
} param_t;

static const param_t params[] = {
    { "from",   P_TIME,   ALL, NULL, NULL },
    { "to",     P_TIME,   ALL, NULL, NULL },
    { "route",  P_TEXT,   ALL, NULL, NULL },
    { "path",   P_TEXT,   ALL & ~ROLLUPS, "applies to request lists only; "
                          "summaries group by route", NULL },
    { "method", P_TEXT,   ALL, NULL, "-_" },
    { "vhost",  P_TEXT,   ALL, NULL, ".-_:[]" },
    { "server", P_TEXT,   ALL, NULL, ".-_:" },
    { "status", P_STATUS, ALL, NULL, NULL },
    { "min_ms", P_MS,     ALL & ~ROLLUPS, "applies to request lists only",
                          NULL },
    { "max_ms", P_MS,     ALL & ~ROLLUPS, "applies to request lists only",
                          NULL },
    { "group",  P_GROUP,  EP(PROF_EP_SUMMARY) | EP(PROF_EP_PAGE_DASHBOARD),
                          "applies to the summary only", NULL },
    { "sort",   P_SORT,   EP(PROF_EP_SUMMARY) | EP(PROF_EP_PAGE_DASHBOARD)
                          | LISTS, "applies to the summary and the request "
                          "list only", NULL },
    { "order",  P_ORDER,  ALL, NULL, NULL },
    { "limit",  P_LIMIT,  ALL, NULL, NULL },
    { "cursor", P_CURSOR, LISTS, "applies to the request list only", NULL },
    { "format", P_FORMAT, API | EP(PROF_EP_PROFILE),
                          "is for the API (api/v1/...)", NULL },
    { "seconds", P_SECONDS, EP(PROF_EP_PAGE_CPU), "is for the CPU page "
                          "only", NULL },
    { "hz",     P_HZ,     EP(PROF_EP_PAGE_CPU), "is for the CPU page only",
                          NULL },
    { NULL, P_TEXT, 0, NULL, NULL }
};

const char *const prof_report_summary_sorts[] = {
    "total", "count", "mean", "p50", "p95", "p99", "max", "errors", "route",
    NULL
};

static const struct {
    const char *name;
    unsigned bit;
} groups[] = {
    { "route", 0 }, { "method", PROF_GROUP_METHOD },
    { "status", PROF_GROUP_STATUS }, { "vhost", PROF_GROUP_VHOST },
    { "server", PROF_GROUP_SERVER }, { NULL, 0 }
};

int prof_report_ep_rollups(prof_report_ep_t ep)
{
    return (ROLLUPS & EP(ep)) != 0;
}

static int bad(prof_report_bad_t *b, const char *param, const char *msg)
{
    b->param = param;
    b->msg = msg;
    return 0;
}

/* The query string as a table; 0 for an unknown or repeated parameter. */
static int args_table(request_rec *r, apr_table_t *t, prof_report_bad_t *b)
{
    char *args, *pair, *last;

    if (r->args == NULL || !*r->args) {
        return 1;
    }
    args = apr_pstrdup(r->pool, r->args);
    for (pair = apr_strtok(args, "&", &last); pair;
         pair = apr_strtok(NULL, "&", &last)) {
        char *eq = strchr(pair, '=');
        char *name = pair, *value = eq ? eq + 1 : (char *)"";
        const param_t *pm;

        if (eq) {
            *eq = '\0';
        }
        /* As a form sends them: '+' is a space, %2F a slash. */
        if (ap_unescape_urlencoded(name) != OK
            || ap_unescape_urlencoded(value) != OK) {
            return bad(b, name, "is not correctly %-encoded");
        }
        for (pm = params; pm->name && strcmp(pm->name, name); ++pm) {
        }
        if (pm->name == NULL) {
            return bad(b, name, "is not a parameter of the report");
        }
        if (apr_table_get(t, name)) {
            return bad(b, pm->name, "is given more than once");
        }
        /* An empty value is as if not given (forms send empty fields). */
        if (*value) {
            apr_table_setn(t, pm->name, value);
        }
    }
    return 1;
}

/* At most 1024 bytes, no control bytes, and only what such values hold.
 * The SQL is parameterized whatever comes in; this turns probing (quotes,
 * semicolons where no such value has them) into a 400 that names the
 * parameter, rather than an empty answer. */
static int text_ok(apr_pool_t *p, const param_t *pm, const char *v,
                   prof_report_bad_t *b)
{
    const char *c;

    if (strlen(v) > 1024) {
        return bad(b, pm->name, "is longer than 1024 bytes");
    }
    for (c = v; *c; ++c) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return bad(b, pm->name, "holds a control character");
        }
        if (pm->chars && !(apr_isalnum(*c) || strchr(pm->chars, *c))) {
            return bad(b, pm->name, apr_psprintf(p, "holds '%c', which it "
                                                 "cannot have", *c));
        }
    }
    return 1;
}

static int parse_one(request_rec *r, prof_report_ep_t ep, const param_t *pm,
                     const char *v, prof_report_params_t *out,
                     prof_report_bad_t *b)
{
    prof_report_filter_t *f = &out->f;
    apr_int64_t n;
    int k;

    switch (pm->type) {
    case P_TIME:
        return 1;               /* read before the others: see below */
    case P_TEXT:
        if (!text_ok(r->pool, pm, v, b)) {
            return 0;
        }
        if (!strcmp(pm->name, "route")) {
            if (!prof_report_route_param_ok(v)) {
                return bad(b, "route", "is a path (/item/:id) or a "
                           "ProfilerRoute name (" PROF_ROUTE_NAME_RULE ")");
            }
            f->route = v;
        }
        else if (!strcmp(pm->name, "path")) {
            if (*v != '/') {
                return bad(b, "path", "is a path prefix: it starts with /");
            }
            f->path = v;
        }
        else if (!strcmp(pm->name, "method")) {
            const char *s;

            for (s = v; *s; ++s) {
                if (!apr_isupper(*s) && *s != '-' && *s != '_') {
                    return bad(b, "method", "is not a method (GET, POST, "
                               "...)");
                }
            }
            f->method = v;
        }
        else if (!strcmp(pm->name, "vhost")) {
            f->vhost = v;
        }
        else {
            f->server = v;
        }
        return 1;
    case P_STATUS:
        if (!prof_report_status_parse(v, &f->status_lo, &f->status_hi)) {
            return bad(b, "status", "is not a status: use a code (404) or a "
                       "class (5xx)");
        }
        if (prof_report_ep_rollups(ep)
            && f->status_lo != f->status_hi - 99) {
            return bad(b, "status", "summaries read per-minute rollups, "
                       "which keep the status class: use 2xx .. 5xx");
        }
        return 1;
    case P_MS:
        if (prof_report_ms_parse(v, !strcmp(pm->name, "min_ms")
                                    ? &f->min_us : &f->max_us)
            != APR_SUCCESS) {
            return bad(b, pm->name, "is not a duration in milliseconds");
        }
        return 1;
    case P_GROUP: {
        char *list = apr_pstrdup(r->pool, v), *g, *last;

        for (g = apr_strtok(list, ",", &last); g;
             g = apr_strtok(NULL, ",", &last)) {
            for (k = 0; groups[k].name && strcmp(groups[k].name, g); ++k) {
            }
            if (groups[k].name == NULL) {
                return bad(b, "group", "takes route, method, status, vhost "
                           "and server, separated by commas");
            }
            f->group |= groups[k].bit;
        }
        return 1;
    }
    case P_SORT:
        out->sort = v;
        if (ep == PROF_EP_SUMMARY || ep == PROF_EP_PAGE_DASHBOARD) {
            for (k = 0; prof_report_summary_sorts[k]
                        && strcmp(prof_report_summary_sorts[k], v); ++k) {
            }
            if (prof_report_summary_sorts[k] == NULL) {
                return bad(b, "sort", "is one of total, count, mean, p50, "
                           "p95, p99, max, errors, route");
            }
            out->summary_sort = k;
            return 1;
        }
        for (k = 0; k < PROF_SORT_COUNT; ++k) {
            if (!strcmp(v, prof_report_sort_name((prof_sort_t)k))) {
                break;
            }
        }
        if (k == PROF_SORT_COUNT) {
            return bad(b, "sort", "is one of start, total, ttfb, status, "
                       "bytes");
        }
        f->sort = (prof_sort_t)k;
        return 1;
    case P_ORDER:
        if (strcmp(v, "asc") && strcmp(v, "desc")) {
            return bad(b, "order", "is asc or desc");
        }
        f->desc = !strcmp(v, "desc");
        return 1;
    case P_LIMIT:
        if (prof_report_int_parse(v, 1, PROF_REPORT_LIMIT_MAX, &n)
            != APR_SUCCESS) {
            return bad(b, "limit", "is a number from 1 to 1000");
        }
        f->limit = (int)n;
        return 1;
    case P_CURSOR:
        if (prof_report_cursor_decode(v, &f->cursor_key, &f->cursor_id)
            != APR_SUCCESS) {
            return bad(b, "cursor", "is not a cursor this report gave");
        }
        f->has_cursor = 1;
        return 1;
    case P_SECONDS:
        if (prof_report_int_parse(v, 1, PROF_REPORT_CPU_SECONDS_MAX, &n)
            != APR_SUCCESS) {
            return bad(b, "seconds", "is a number from 1 to 300");
        }
        out->seconds = (int)n;
        return 1;
    case P_HZ:
        if (prof_report_int_parse(v, 1, PROF_REPORT_CPU_HZ_MAX, &n)
            != APR_SUCCESS) {
            return bad(b, "hz", "is a number from 1 to 1000");
        }
        out->hz = (int)n;
        return 1;
    case P_FORMAT:
        if (ep == PROF_EP_PROFILE) {
            static const char *const fmts[] = { "pprof", "folded", "json",
                                                NULL };

            for (k = 0; fmts[k] && strcmp(fmts[k], v); ++k) {
            }
            if (fmts[k] == NULL) {
                return bad(b, "format", "is pprof, folded or json");
            }
            out->profile_format = k;
            return 1;
        }
        if (strcmp(v, "csv") && strcmp(v, "json")) {
            return bad(b, "format", "is json or csv");
        }
        out->csv = !strcmp(v, "csv");
        if (out->csv && (ep == PROF_EP_REQUEST || ep == PROF_EP_HEALTH
                         || ep == PROF_EP_ROUTE)) {
            return bad(b, "format", "csv is for lists: summary, timeseries, "
                       "histogram, requests");
        }
        return 1;
    }
    return 1;
}

static const char *const time_help = "is not a time: use epoch seconds, ISO "
    "8601 (2026-11-21T08:00:00Z) or a relative time such as -1h";

int prof_report_params_parse(request_rec *r, prof_report_ep_t ep,
                             apr_int64_t now, apr_int64_t retention_us,
                             prof_report_params_t *out, prof_report_bad_t *b)
{
    prof_report_filter_t *f = &out->f;
    apr_table_t *t = apr_table_make(r->pool, 16);
    const param_t *pm;
    const char *s;

    memset(out, 0, sizeof(*out));
    f->min_us = f->max_us = -1;
    f->to_us = now;
    f->desc = 1;
    f->limit = PROF_REPORT_LIMIT_DEFAULT;
    out->hz = PROF_REPORT_CPU_HZ_DEFAULT;
    if (!args_table(r, t, b)) {
        return 0;
    }
    for (pm = params; pm->name; ++pm) {
        if ((s = apr_table_get(t, pm->name)) == NULL) {
            continue;
        }
        if (!(pm->where & EP(ep))) {
            return bad(b, pm->name, pm->elsewhere ? pm->elsewhere
                       : "is not taken here");
        }
        if (!parse_one(r, ep, pm, s, out, b)) {
            return 0;
        }
    }
    if ((s = apr_table_get(t, "to"))
        && prof_report_time_parse(s, now, &f->to_us) != APR_SUCCESS) {
        return bad(b, "to", time_help);
    }
    f->from_us = f->to_us - DEFAULT_RANGE_US;
    if ((s = apr_table_get(t, "from"))
        && prof_report_time_parse(s, now, &f->from_us) != APR_SUCCESS) {
        return bad(b, "from", time_help);
    }
    if (f->from_us >= f->to_us) {
        return bad(b, "from", "must be before to");
    }
    if (ep == PROF_EP_ROUTE && f->route == NULL) {
        return bad(b, "route", "is the route to describe: give one");
    }
    if (prof_report_ep_rollups(ep)) {
        apr_int64_t m;

        /* The work of a rollup request is bounded by what exists: nothing
         * is older than the rollups' retention, nothing is in the future.
         * (The time series' points are capped on top of this.) */
        if (retention_us > 0 && f->from_us < now - retention_us) {
            f->from_us = now - retention_us;
        }
        if (f->to_us > now) {
            f->to_us = now;
        }
        if (f->from_us >= f->to_us) {
            return bad(b, "from", "is after the newest data (now)");
        }
        /* Rollups know whole minutes, and for long ranges whole hours:
         * the range grows to them. */
        f->hourly = f->to_us - f->from_us > HOURLY_FROM_US;
        m = f->hourly ? apr_time_from_sec(3600) : apr_time_from_sec(60);
        f->from_us -= ((f->from_us % m) + m) % m;
        if (f->to_us % m) {
            f->to_us += m - ((f->to_us % m) + m) % m;
        }
    }
    return 1;
}
