/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>
#include <string.h>

#include "apr_dbd.h"
#include "apr_hash.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_auth.h"
#include "util_script.h"

#include "prof_hist.h"
#include "prof_phase.h"
#include "prof_report_sql.h"
#include "prof_report_text.h"
#include "prof_route.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_store.h"
#include "mod_profiler_retention.h"
#include "mod_profiler_report.h"
#include "mod_profiler_report_page.h"

#define LIMIT_DEFAULT   100
#define LIMIT_MAX       1000
#define DEFAULT_RANGE_US apr_time_from_sec(86400)
/* Ranges longer than this read the hourly rollups, in whole hours. */
#define HOURLY_FROM_US  apr_time_from_sec(6 * 3600)

/* Every response of the report. The dashboard's own script and style
 * sheet are the only things it loads; no inline script or style. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
            "img-src 'self'; connect-src 'self'; form-action 'self'; " \
            "frame-ancestors 'none'; base-uri 'none'"

/* ---- the request's parameters ----------------------------------------- */

static const char *const known_params[] = {
    "from", "to", "route", "path", "method", "status", "vhost", "server",
    "min_ms", "max_ms", "group", "sort", "order", "limit", "cursor", "format",
    NULL
};

/* A 400 with a JSON body naming the parameter. */
typedef struct {
    const char *param;
    const char *msg;
} bad_t;

static int bad(bad_t *b, const char *param, const char *msg)
{
    b->param = param;
    b->msg = msg;
    return 0;
}

/* The query string as a table; 0 (and *b set) for an unknown or repeated
 * parameter. */
static int args_table(request_rec *r, apr_table_t **out, bad_t *b)
{
    apr_table_t *t = apr_table_make(r->pool, 16);
    char *args, *pair, *last;

    *out = t;
    if (r->args == NULL || !*r->args) {
        return 1;
    }
    args = apr_pstrdup(r->pool, r->args);
    for (pair = apr_strtok(args, "&", &last); pair;
         pair = apr_strtok(NULL, "&", &last)) {
        char *eq = strchr(pair, '=');
        char *name = pair, *value = eq ? eq + 1 : (char *)"";
        int i, known = 0;

        if (eq) {
            *eq = '\0';
        }
        /* As a form sends them: '+' is a space, %2F a slash. */
        if (ap_unescape_urlencoded(name) != OK
            || ap_unescape_urlencoded(value) != OK) {
            return bad(b, name, "is not correctly %-encoded");
        }
        for (i = 0; known_params[i]; ++i) {
            known |= !strcmp(known_params[i], name);
        }
        if (!known) {
            return bad(b, apr_pstrdup(r->pool, name), "is not a parameter of "
                       "the report");
        }
        if (apr_table_get(t, name)) {
            return bad(b, name, "is given more than once");
        }
        if (*value) {
            apr_table_setn(t, name, value);
        }
    }
    return 1;
}

typedef enum {
    EP_SUMMARY, EP_TIMESERIES, EP_HISTOGRAM, EP_REQUESTS, EP_REQUEST,
    EP_HEALTH
} endpoint_t;

/* Text filters: at most 1024 bytes, no control bytes, and only what
 * their values can hold: host and server names their characters, routes
 * and paths a leading '/' (routes may also be a ProfilerRoute name, a
 * word). The SQL is parameterized whatever comes in; this turns probing
 * (quotes, semicolons, spaces where no such value has them) into a 400
 * that names the parameter, rather than an empty answer. A path may hold
 * quotes: one that a client sent is a route one can drill into. */
static int text_param(apr_pool_t *p, apr_table_t *t, const char *name,
                      const char **out, const char *allowed, bad_t *b)
{
    const char *v = apr_table_get(t, name), *c;

    *out = NULL;
    if (v == NULL) {
        return 1;
    }
    if (strlen(v) > 1024) {
        return bad(b, name, "is longer than 1024 bytes");
    }
    for (c = v; *c; ++c) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            return bad(b, name, "holds a control character");
        }
        if (allowed && !(apr_isalnum(*c) || strchr(allowed, *c))) {
            return bad(b, name, apr_psprintf(p, "holds '%c', which it "
                                             "cannot have", *c));
        }
    }
    *out = v;
    return 1;
}

/* Parse and check everything the endpoint ep accepts into f. */
static int parse_filter(request_rec *r, apr_table_t *t, endpoint_t ep,
                        prof_report_filter_t *f, bad_t *b)
{
    apr_int64_t now = apr_time_now(), v;
    const char *s;
    int rollups = ep == EP_SUMMARY || ep == EP_TIMESERIES
                  || ep == EP_HISTOGRAM;

    memset(f, 0, sizeof(*f));
    f->min_us = f->max_us = -1;
    f->to_us = now;
    f->desc = 1;
    f->limit = LIMIT_DEFAULT;
    if ((s = apr_table_get(t, "to"))
        && prof_report_time_parse(s, now, &f->to_us) != APR_SUCCESS) {
        return bad(b, "to", "is not a time: use epoch seconds, ISO 8601 "
                   "(2026-11-21T08:00:00Z) or a relative time such as -1h");
    }
    f->from_us = f->to_us - DEFAULT_RANGE_US;
    if ((s = apr_table_get(t, "from"))
        && prof_report_time_parse(s, now, &f->from_us) != APR_SUCCESS) {
        return bad(b, "from", "is not a time: use epoch seconds, ISO 8601 "
                   "(2026-11-21T08:00:00Z) or a relative time such as -1h");
    }
    if (f->from_us >= f->to_us) {
        return bad(b, "from", "must be before to");
    }
    if (rollups) {
        /* Rollups know whole minutes, and for long ranges whole hours:
         * the range grows to them. */
        apr_int64_t m;

        f->hourly = f->to_us - f->from_us > HOURLY_FROM_US;
        m = f->hourly ? apr_time_from_sec(3600) : apr_time_from_sec(60);

        f->from_us -= ((f->from_us % m) + m) % m;
        if (f->to_us % m) {
            f->to_us += m - ((f->to_us % m) + m) % m;
        }
    }
    if (!text_param(r->pool, t, "route", &f->route, NULL, b)
        || !text_param(r->pool, t, "path", &f->path, NULL, b)
        || !text_param(r->pool, t, "vhost", &f->vhost, ".-_:[]", b)
        || !text_param(r->pool, t, "server", &f->server, ".-_:", b)
        || !text_param(r->pool, t, "method", &f->method, "-_", b)) {
        return 0;
    }
    if (f->path && *f->path != '/') {
        return bad(b, "path", "is a path prefix: it starts with /");
    }
    /* A route is a folded path, or a ProfilerRoute name. */
    if (f->route && !prof_report_route_param_ok(f->route)) {
        return bad(b, "route", "is a path (/item/:id) or a ProfilerRoute "
                   "name (" PROF_ROUTE_NAME_RULE ")");
    }
    if (f->method) {
        for (s = f->method; *s; ++s) {
            if (!apr_isupper(*s) && *s != '-' && *s != '_') {
                return bad(b, "method", "is not a method (GET, POST, ...)");
            }
        }
    }
    if ((s = apr_table_get(t, "status"))) {
        if (!prof_report_status_parse(s, &f->status_lo, &f->status_hi)) {
            return bad(b, "status", "is not a status: use a code (404) or a "
                       "class (5xx)");
        }
        if (rollups && f->status_lo != f->status_hi - 99) {
            return bad(b, "status", "summaries read per-minute rollups, "
                       "which keep the status class: use 2xx .. 5xx");
        }
    }
    if ((s = apr_table_get(t, "min_ms"))) {
        if (rollups) {
            return bad(b, "min_ms", "applies to request lists only");
        }
        if (prof_report_ms_parse(s, &f->min_us) != APR_SUCCESS) {
            return bad(b, "min_ms", "is not a duration in milliseconds");
        }
    }
    if ((s = apr_table_get(t, "max_ms"))) {
        if (rollups) {
            return bad(b, "max_ms", "applies to request lists only");
        }
        if (prof_report_ms_parse(s, &f->max_us) != APR_SUCCESS) {
            return bad(b, "max_ms", "is not a duration in milliseconds");
        }
    }
    if (f->path && rollups) {
        return bad(b, "path", "applies to request lists only; summaries "
                   "group by route");
    }
    if ((s = apr_table_get(t, "group"))) {
        char *list = apr_pstrdup(r->pool, s), *g, *last;

        if (ep != EP_SUMMARY) {
            return bad(b, "group", "applies to the summary only");
        }
        for (g = apr_strtok(list, ",", &last); g;
             g = apr_strtok(NULL, ",", &last)) {
            if (!strcmp(g, "method")) {
                f->group |= PROF_GROUP_METHOD;
            }
            else if (!strcmp(g, "status")) {
                f->group |= PROF_GROUP_STATUS;
            }
            else if (!strcmp(g, "vhost")) {
                f->group |= PROF_GROUP_VHOST;
            }
            else if (!strcmp(g, "server")) {
                f->group |= PROF_GROUP_SERVER;
            }
            else if (strcmp(g, "route")) {
                return bad(b, "group", "takes route, method, status, vhost "
                           "and server, separated by commas");
            }
        }
    }
    if ((s = apr_table_get(t, "order"))) {
        if (!strcmp(s, "asc")) {
            f->desc = 0;
        }
        else if (strcmp(s, "desc")) {
            return bad(b, "order", "is asc or desc");
        }
    }
    if ((s = apr_table_get(t, "limit"))) {
        if (prof_report_int_parse(s, 1, LIMIT_MAX, &v) != APR_SUCCESS) {
            return bad(b, "limit", "is a number from 1 to 1000");
        }
        f->limit = (int)v;
    }
    if (ep == EP_REQUESTS) {
        if ((s = apr_table_get(t, "sort"))) {
            int k;

            for (k = 0; k < PROF_SORT_COUNT; ++k) {
                if (!strcmp(s, prof_report_sort_name((prof_sort_t)k))) {
                    break;
                }
            }
            if (k == PROF_SORT_COUNT) {
                return bad(b, "sort", "is one of start, total, ttfb, status, "
                           "bytes");
            }
            f->sort = (prof_sort_t)k;
        }
        if ((s = apr_table_get(t, "cursor"))) {
            if (prof_report_cursor_decode(s, &f->cursor_key, &f->cursor_id)
                != APR_SUCCESS) {
                return bad(b, "cursor", "is not a cursor this report gave");
            }
            f->has_cursor = 1;
        }
    }
    else if (apr_table_get(t, "cursor")) {
        return bad(b, "cursor", "applies to the request list only");
    }
    return 1;
}

/* ---- the database ------------------------------------------------------ */

typedef struct {
    prof_db_t db;
    int open;
    const char *err;
} conn_t;

static int db_open(request_rec *r, conn_t *c)
{
    apr_status_t rv;

    if (c->open) {
        return 1;
    }
    /* The main server's: the store's database (DBDriver/DBDParams are
     * read there; a vhost inherits them). */
    rv = prof_store_db_open(&c->db, ap_server_conf, r->pool, &c->err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PROFLOGNO(00017)
                      "report: cannot read the store: %s", c->err);
        return 0;
    }
    c->open = 1;
    return 1;
}

static void db_close(conn_t *c)
{
    if (c->open) {
        prof_store_db_close(&c->db, ap_server_conf);
        c->open = 0;
    }
}

/* Run a select: every row is handed to fn (which returns 0 to go on),
 * and every row is read, so that the statement is finished. */
typedef int row_fn(void *baton, apr_dbd_row_t *row, const apr_dbd_driver_t *d);

static int db_select(request_rec *r, conn_t *c, const prof_report_stmt_t *st,
                     row_fn *fn, void *baton)
{
    const apr_dbd_driver_t *d = c->db.dbd->driver;
    apr_dbd_prepared_t *prep = NULL;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int ret, stop = 0;

    ret = prof_store_db_prepare(&c->db, r->pool, st->sql, &prep);
    if (!ret) {
        ret = apr_dbd_pbselect(d, r->pool, c->db.dbd->handle, &res, prep, 0,
                               st->args);
    }
    if (ret) {
        const char *msg = apr_dbd_error(d, c->db.dbd->handle, ret);

        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00018)
                      "report: query failed: %s", msg ? msg : "unknown error");
        c->err = "the query failed";
        return 0;
    }
    while (apr_dbd_get_row(d, r->pool, res, &row, -1) == 0) {
        if (!stop) {
            stop = fn(baton, row, d);
        }
    }
    return 1;
}

static apr_int64_t col_i64(const apr_dbd_driver_t *d, apr_dbd_row_t *row,
                           int n)
{
    const char *v = apr_dbd_get_entry(d, row, n);

    return v ? apr_atoi64(v) : 0;
}

static const char *col_str(apr_pool_t *p, const apr_dbd_driver_t *d,
                           apr_dbd_row_t *row, int n)
{
    const char *v = apr_dbd_get_entry(d, row, n);

    return v ? apr_pstrdup(p, v) : NULL;
}

/* A query without parameters whose first row holds n integers: into
 * out[0..n-1], each left as it was where the column is NULL. */
typedef struct {
    int n;
    apr_int64_t *out;
} ints_t;

static int ints_row(void *baton, apr_dbd_row_t *row, const apr_dbd_driver_t *d)
{
    ints_t *x = baton;
    int k;

    for (k = 0; k < x->n; ++k) {
        const char *e = apr_dbd_get_entry(d, row, k);

        if (e && *e) {
            x->out[k] = apr_atoi64(e);
        }
    }
    return 1;
}

static int select_ints(request_rec *r, conn_t *c, const char *sql, int n,
                       apr_int64_t *out)
{
    prof_report_stmt_t st;
    ints_t x;

    st.sql = sql;
    st.args = NULL;
    st.nargs = 0;
    x.n = n;
    x.out = out;
    return db_select(r, c, &st, ints_row, &x);
}

/* ---- summaries, time series, histograms (rollups) --------------------- */

/* One rollup row, read once, added to up to three groups. */
typedef struct {
    apr_int64_t count, samples, sum_us, min_us, max_us, ttfb_sum_us;
    apr_int64_t bytes_sum, phase_sum_us[PROF_REPORT_PHASES];
    int status_class;
    int hist_ok;
    prof_hist_pairs_t hist;
} rollup_row_t;

/* What one pass over the rollups builds: any of the summary's groups,
 * the time series' buckets and the histogram of everything. */
typedef struct {
    apr_pool_t *p;
    prof_report_filter_t *f;
    apr_hash_t *groups;         /* summary: key -> prof_report_group_t */
    apr_hash_t *buckets;        /* time series: start -> group */
    apr_int64_t bucket_us;
    prof_report_group_t *all;   /* histogram: everything in one */
    int slim;                   /* no summary groups: fewer columns */
    char key[4 * 1100 + 2];     /* the group key being looked up */
    apr_size_t key_len;
    rollup_row_t row;           /* the row being added */
} agg_t;

static prof_report_group_t *group_new(apr_pool_t *p)
{
    prof_report_group_t *g = apr_pcalloc(p, sizeof(*g));

    prof_hist_init(&g->hist);
    g->min_us = APR_INT64_MAX;
    return g;
}

static void rollup_row_read(rollup_row_t *x, apr_dbd_row_t *row,
                            const apr_dbd_driver_t *d, int slim)
{
    const char *hist;
    int k;

    if (slim) {
        /* period, status_class, count, samples, sum, min, max, hist */
        hist = apr_dbd_get_entry(d, row, 7);
        x->status_class = (int)col_i64(d, row, 1);
        x->count = col_i64(d, row, 2);
        x->samples = col_i64(d, row, 3);
        x->sum_us = col_i64(d, row, 4);
        x->min_us = col_i64(d, row, 5);
        x->max_us = col_i64(d, row, 6);
        x->ttfb_sum_us = x->bytes_sum = 0;
        memset(x->phase_sum_us, 0, sizeof(x->phase_sum_us));
        x->hist_ok = hist && prof_hist_parse(hist, strlen(hist), &x->hist)
                             == APR_SUCCESS;
        return;
    }
    hist = apr_dbd_get_entry(d, row, 27);
    x->status_class = (int)col_i64(d, row, 5);
    x->count = col_i64(d, row, 6);
    x->samples = col_i64(d, row, 7);
    x->sum_us = col_i64(d, row, 8);
    x->min_us = col_i64(d, row, 9);
    x->max_us = col_i64(d, row, 10);
    x->ttfb_sum_us = col_i64(d, row, 11);
    x->bytes_sum = col_i64(d, row, 12);
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        x->phase_sum_us[k] = col_i64(d, row, 13 + k);
    }
    /* A damaged row adds its scalars but not its buckets. */
    x->hist_ok = hist && prof_hist_parse(hist, strlen(hist), &x->hist)
                         == APR_SUCCESS;
}

static void group_add(prof_report_group_t *g, const rollup_row_t *x)
{
    int k;

    g->count += (apr_uint64_t)x->count;
    g->samples += (apr_uint64_t)x->samples;
    g->sum_us += (apr_uint64_t)x->sum_us;
    g->ttfb_sum_us += (apr_uint64_t)x->ttfb_sum_us;
    g->bytes_sum += (apr_uint64_t)x->bytes_sum;
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        g->phase_sum_us[k] += (apr_uint64_t)x->phase_sum_us[k];
    }
    if (x->status_class == 5) {
        g->errors += (apr_uint64_t)x->count;
    }
    if (x->count > 0) {
        g->min_us = x->min_us < g->min_us ? x->min_us : g->min_us;
        g->max_us = x->max_us > g->max_us ? x->max_us : g->max_us;
    }
    if (x->hist_ok) {
        prof_hist_add_pairs(&g->hist, &x->hist);
    }
}

/* Buckets start at multiples of their size since the epoch (UTC), so that
 * 5-minute buckets start at :00, :05, ... */
static apr_int64_t bucket_start(apr_int64_t t, apr_int64_t bucket)
{
    return t - ((t % bucket) + bucket) % bucket;
}

static int summary_row(void *baton, apr_dbd_row_t *row,
                       const apr_dbd_driver_t *d)
{
    agg_t *a = baton;
    prof_report_group_t *g;
    const char *key;
    apr_int64_t minute = col_i64(d, row, 0);
    const char *server, *vhost, *route, *method;
    int cls;
    unsigned gr = a->f->group;

    rollup_row_read(&a->row, row, d, a->slim);
    if (a->all) {
        group_add(a->all, &a->row);
    }
    if (a->buckets) {
        apr_int64_t t = bucket_start(minute, a->bucket_us);

        g = apr_hash_get(a->buckets, &t, sizeof(t));
        if (g == NULL) {
            g = group_new(a->p);
            g->t_us = t;
            apr_hash_set(a->buckets, apr_pmemdup(a->p, &t, sizeof(t)),
                         sizeof(t), g);
        }
        group_add(g, &a->row);
    }
    if (a->groups == NULL) {
        return 0;
    }
    server = apr_dbd_get_entry(d, row, 1);
    vhost = apr_dbd_get_entry(d, row, 2);
    route = apr_dbd_get_entry(d, row, 3);
    method = apr_dbd_get_entry(d, row, 4);
    cls = a->row.status_class;
    /* The group's key, in a buffer of the pass (no allocation per row):
     * the strings with their NULs, then the class. */
    {
        const char *parts[4];
        apr_size_t len = 0, l;
        int i;

        parts[0] = route ? route : "";
        parts[1] = (gr & PROF_GROUP_METHOD) && method ? method : "";
        parts[2] = (gr & PROF_GROUP_VHOST) && vhost ? vhost : "";
        parts[3] = (gr & PROF_GROUP_SERVER) && server ? server : "";
        for (i = 0; i < 4; ++i) {
            l = strlen(parts[i]) + 1;
            if (len + l + 1 > sizeof(a->key)) {
                /* Longer than anything the store writes (its strings
                 * are bounded): cut, keeping the NUL. */
                l = sizeof(a->key) - len - 1;
                memcpy(a->key + len, parts[i], l - 1);
                a->key[len + l - 1] = '\0';
            }
            else {
                memcpy(a->key + len, parts[i], l);
            }
            len += l;
        }
        a->key[len++] = (char)((gr & PROF_GROUP_STATUS) ? '0' + cls : 0);
        key = a->key;
        a->key_len = len;
    }
    g = apr_hash_get(a->groups, key, (apr_ssize_t)a->key_len);
    if (g == NULL) {
        g = group_new(a->p);
        g->route = apr_pstrdup(a->p, route ? route : "");
        g->method = (gr & PROF_GROUP_METHOD) && method
                    ? apr_pstrdup(a->p, method) : NULL;
        g->status_class = (gr & PROF_GROUP_STATUS) ? cls : 0;
        g->vhost = (gr & PROF_GROUP_VHOST) && vhost
                   ? apr_pstrdup(a->p, vhost) : NULL;
        g->server = (gr & PROF_GROUP_SERVER) && server
                    ? apr_pstrdup(a->p, server) : NULL;
        apr_hash_set(a->groups, apr_pmemdup(a->p, key, a->key_len),
                     (apr_ssize_t)a->key_len, g);
    }
    group_add(g, &a->row);
    return 0;
}

static void group_finish(prof_report_group_t *g)
{
    if (g->count == 0) {
        g->min_us = 0;
        return;
    }
    g->hist.min = g->min_us;
    g->hist.max = g->max_us;
    g->p50_us = prof_hist_percentile(&g->hist, 50);
    g->p95_us = prof_hist_percentile(&g->hist, 95);
    g->p99_us = prof_hist_percentile(&g->hist, 99);
}

/* Read the rollup rows of [*from, *to) from one table into the pass. */
static int read_part(request_rec *r, conn_t *c, agg_t *a, int hourly,
                     const apr_int64_t *from, const apr_int64_t *to)
{
    prof_report_stmt_t st;

    if (*from >= *to) {
        return 1;
    }
    prof_report_sql_rollups(r->pool, c->db.dialect, c->db.prefix, a->f,
                            hourly, a->slim, from, to, &st);
    return db_select(r, c, &st, summary_row, a);
}

/* Rollup rows of f into groups (by key, by time bucket, or all in one).
 * Whole hours come from the hourly rollups, 60 times fewer rows, where
 * that table is complete (every hour after its first: prof_sql.h); the
 * minutes at the edges of the range, and all of it when a time series
 * wants buckets shorter than an hour, from the minute rollups. */
static int read_rollups(request_rec *r, conn_t *c, agg_t *a)
{
    const apr_int64_t hour = apr_time_from_sec(3600);
    prof_report_filter_t *f = a->f;
    apr_int64_t *hs = apr_palloc(r->pool, sizeof(*hs) * 2), *he = hs + 1;
    apr_int64_t first = -1;

    *hs = *he = f->to_us;
    if (a->buckets == NULL || a->bucket_us >= hour) {
        if (!select_ints(r, c, prof_sql_hourly_first(r->pool, c->db.prefix),
                         1, &first)) {
            return 0;
        }
        if (first > 0) {
            /* The whole hours of the range the hourly table has whole. */
            *hs = bucket_start(f->from_us + hour - 1, hour);
            if (*hs < first + hour) {
                *hs = first + hour;
            }
            *he = bucket_start(f->to_us, hour);
            if (*hs >= *he) {
                *hs = *he = f->to_us;
            }
        }
    }
    return read_part(r, c, a, 1, hs, he)
           && read_part(r, c, a, 0, &f->from_us, hs)
           && read_part(r, c, a, 0, he, &f->to_us);
}

/* The bucket of a time series for a range: at most 360 points, and whole
 * hours where the hourly rollups are read. */
static apr_int64_t bucket_for(apr_int64_t range_us, int hourly)
{
    static const apr_int64_t steps_s[] = {
        60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400
    };
    size_t i;

    for (i = 0; i < sizeof(steps_s) / sizeof(steps_s[0]); ++i) {
        if (hourly && steps_s[i] < 3600) {
            continue;
        }
        if (range_us / apr_time_from_sec(steps_s[i]) <= 360) {
            return apr_time_from_sec(steps_s[i]);
        }
    }
    return apr_time_from_sec(30 * 86400);
}

/* Summary sort fields; the first is the default. */
static const char *const summary_sorts[] = {
    "total", "count", "mean", "p50", "p95", "p99", "max", "errors", "route",
    NULL
};

static double summary_value(const prof_report_group_t *g, int field)
{
    switch (field) {
    case 1: return (double)g->count;
    case 2: return g->count ? (double)g->sum_us / (double)g->count : 0;
    case 3: return (double)g->p50_us;
    case 4: return (double)g->p95_us;
    case 5: return (double)g->p99_us;
    case 6: return (double)g->max_us;
    case 7: return g->count ? (double)g->errors / (double)g->count : 0;
    default: return (double)g->sum_us;
    }
}

static int cmp_groups(const prof_report_group_t *x,
                      const prof_report_group_t *y, int field, int desc)
{
    int c;

    if (field == 8) {
        c = strcmp(x->route, y->route);
    }
    else {
        double u = summary_value(x, field), v = summary_value(y, field);

        c = u < v ? -1 : u > v ? 1 : 0;
    }
    if (desc) {
        c = -c;
    }
    /* Ties in a stable order: by route, then the other keys. */
    if (c == 0 && (c = strcmp(x->route, y->route)) == 0) {
        c = x->status_class - y->status_class;
        if (c == 0) {
            c = strcmp(x->method ? x->method : "", y->method ? y->method : "");
        }
        if (c == 0) {
            c = strcmp(x->vhost ? x->vhost : "", y->vhost ? y->vhost : "");
        }
        if (c == 0) {
            c = strcmp(x->server ? x->server : "", y->server ? y->server : "");
        }
    }
    return c;
}

/* A merge sort with its settings passed along (qsort has no context
 * argument, and the handler runs in many threads at once). */
static void sort_groups(apr_pool_t *p, prof_report_group_t **a, int n,
                        int field, int desc)
{
    prof_report_group_t **tmp = apr_palloc(p, sizeof(*tmp) * (apr_size_t)n);
    int width, i;

    for (width = 1; width < n; width *= 2) {
        for (i = 0; i < n; i += 2 * width) {
            int lo = i, mid = i + width < n ? i + width : n;
            int hi = i + 2 * width < n ? i + 2 * width : n;
            int x = lo, y = mid, k = lo;

            while (x < mid && y < hi) {
                tmp[k++] = cmp_groups(a[x], a[y], field, desc) <= 0 ? a[x++]
                                                                    : a[y++];
            }
            while (x < mid) {
                tmp[k++] = a[x++];
            }
            while (y < hi) {
                tmp[k++] = a[y++];
            }
        }
        memcpy(a, tmp, sizeof(*a) * (apr_size_t)n);
    }
}

static int summary_sort_field(const char *sort)
{
    int k;

    for (k = 0; sort && summary_sorts[k]; ++k) {
        if (!strcmp(sort, summary_sorts[k])) {
            return k;
        }
    }
    return 0;
}

/* Start a pass: want says which of the three it builds. */
#define WANT_SUMMARY 1
#define WANT_SERIES  2
#define WANT_ALL     4

static void agg_init(agg_t *a, request_rec *r, prof_report_filter_t *f,
                     int want)
{
    memset(a, 0, sizeof(*a));
    a->p = r->pool;
    a->f = f;
    if (want & WANT_SUMMARY) {
        a->groups = apr_hash_make(r->pool);
    }
    if (want & WANT_SERIES) {
        a->buckets = apr_hash_make(r->pool);
        a->bucket_us = bucket_for(f->to_us - f->from_us, f->hourly);
    }
    if (want & WANT_ALL) {
        a->all = group_new(r->pool);
        a->all->route = "";
    }
    a->slim = !(want & WANT_SUMMARY);
}

/* The summary: groups, sorted, at most f->limit. */
static apr_array_header_t *summary_of(request_rec *r, agg_t *a,
                                      const char *sort)
{
    apr_hash_index_t *hi;
    apr_array_header_t *arr;

    arr = apr_array_make(r->pool, (int)apr_hash_count(a->groups) + 1,
                         sizeof(prof_report_group_t *));
    for (hi = apr_hash_first(r->pool, a->groups); hi; hi = apr_hash_next(hi)) {
        prof_report_group_t *g = apr_hash_this_val(hi);

        group_finish(g);
        APR_ARRAY_PUSH(arr, prof_report_group_t *) = g;
    }
    sort_groups(r->pool, (prof_report_group_t **)arr->elts, arr->nelts,
                summary_sort_field(sort), a->f->desc);
    if (arr->nelts > a->f->limit) {
        arr->nelts = a->f->limit;
    }
    return arr;
}

/* The time series: every bucket of the range, empty ones included, in
 * time order. */
static apr_array_header_t *series_of(request_rec *r, agg_t *a)
{
    apr_array_header_t *arr;
    apr_int64_t t;

    arr = apr_array_make(r->pool, 64, sizeof(prof_report_group_t *));
    for (t = bucket_start(a->f->from_us, a->bucket_us); t < a->f->to_us;
         t += a->bucket_us) {
        prof_report_group_t *g = apr_hash_get(a->buckets, &t, sizeof(t));

        if (g == NULL) {
            g = group_new(r->pool);
            g->t_us = t;
        }
        group_finish(g);
        APR_ARRAY_PUSH(arr, prof_report_group_t *) = g;
    }
    return arr;
}

/* ---- requests (raw rows) ------------------------------------------------ */

typedef struct {
    apr_pool_t *p;
    apr_array_header_t *reqs;
} reqs_t;

static int request_row(void *baton, apr_dbd_row_t *row,
                       const apr_dbd_driver_t *d)
{
    reqs_t *rs = baton;
    prof_report_req_t *q = apr_pcalloc(rs->p, sizeof(*q));
    int k;

    q->id = col_i64(d, row, 0);
    q->server = col_str(rs->p, d, row, 1);
    q->vhost = col_str(rs->p, d, row, 2);
    q->start_us = col_i64(d, row, 3);
    q->method = col_str(rs->p, d, row, 4);
    q->route = col_str(rs->p, d, row, 5);
    q->path = col_str(rs->p, d, row, 6);
    q->query = col_str(rs->p, d, row, 7);
    q->status = (int)col_i64(d, row, 8);
    q->protocol = col_str(rs->p, d, row, 9);
    q->bytes_sent = col_i64(d, row, 10);
    q->total_us = col_i64(d, row, 11);
    q->ttfb_us = col_i64(d, row, 12);
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        q->dur_us[k] = col_i64(d, row, 13 + k);
    }
    q->weight = (int)col_i64(d, row, 27);
    q->spans_dropped = (int)col_i64(d, row, 28);
    APR_ARRAY_PUSH(rs->reqs, prof_report_req_t *) = q;
    return 0;
}

static apr_int64_t sort_key(const prof_report_req_t *q, prof_sort_t s)
{
    switch (s) {
    case PROF_SORT_TOTAL: return q->total_us;
    case PROF_SORT_TTFB: return q->ttfb_us;
    case PROF_SORT_STATUS: return q->status;
    case PROF_SORT_BYTES: return q->bytes_sent;
    default: return q->start_us;
    }
}

/* A page of requests; *next the cursor of the page after it, or NULL. */
static int get_requests(request_rec *r, conn_t *c, prof_report_filter_t *f,
                        apr_array_header_t **out, const char **next)
{
    prof_report_stmt_t st;
    reqs_t rs;

    rs.p = r->pool;
    rs.reqs = apr_array_make(r->pool, f->limit + 1,
                             sizeof(prof_report_req_t *));
    prof_report_sql_requests(r->pool, c->db.dialect, c->db.prefix, f, &st);
    if (!db_select(r, c, &st, request_row, &rs)) {
        return 0;
    }
    *next = NULL;
    if (rs.reqs->nelts > f->limit) {
        const prof_report_req_t *last =
            APR_ARRAY_IDX(rs.reqs, f->limit - 1, prof_report_req_t *);

        rs.reqs->nelts = f->limit;
        *next = prof_report_cursor_encode(r->pool, sort_key(last, f->sort),
                                          last->id);
    }
    *out = rs.reqs;
    return 1;
}

static int span_row(void *baton, apr_dbd_row_t *row,
                    const apr_dbd_driver_t *d)
{
    reqs_t *rs = baton;
    prof_report_span_t *sp = apr_pcalloc(rs->p, sizeof(*sp));
    const char *parent = apr_dbd_get_entry(d, row, 3);

    sp->seq = (int)col_i64(d, row, 0);
    sp->name = col_str(rs->p, d, row, 1);
    sp->desc = col_str(rs->p, d, row, 2);
    sp->parent = parent && *parent ? atoi(parent) : -1;
    sp->start_us = col_i64(d, row, 4);
    sp->dur_us = col_i64(d, row, 5);
    sp->metric = (int)col_i64(d, row, 6);
    APR_ARRAY_PUSH(rs->reqs, prof_report_span_t *) = sp;
    return 0;
}

/* One request and its spans; 1 found, 0 error, -1 no such request. */
static int get_request(request_rec *r, conn_t *c, const apr_int64_t *id,
                       prof_report_req_t **req, apr_array_header_t **spans)
{
    prof_report_stmt_t st;
    reqs_t rs;

    rs.p = r->pool;
    rs.reqs = apr_array_make(r->pool, 1, sizeof(prof_report_req_t *));
    prof_report_sql_request(r->pool, c->db.prefix, id, &st);
    if (!db_select(r, c, &st, request_row, &rs)) {
        return 0;
    }
    if (rs.reqs->nelts == 0) {
        return -1;
    }
    *req = APR_ARRAY_IDX(rs.reqs, 0, prof_report_req_t *);
    rs.reqs = apr_array_make(r->pool, 8, sizeof(prof_report_span_t *));
    prof_report_sql_spans(r->pool, c->db.prefix, id, &st);
    if (!db_select(r, c, &st, span_row, &rs)) {
        return 0;
    }
    *spans = rs.reqs;
    return 1;
}

/* ---- health ---------------------------------------------------------- */

static void get_health(request_rec *r, conn_t *c, prof_report_health_t *h)
{
    const prof_store_conf_t *conf = prof_store_conf();
    apr_int64_t v[4] = { 0, 0, 0, 0 };
    const char *pre = c->db.prefix;
    apr_pool_t *p = r->pool;

    memset(h, 0, sizeof(*h));
    h->dialect = c->db.dialect == PROF_SQL_PGSQL ? "pgsql" : "sqlite3";
    h->prefix = pre;
    h->retention_us = conf->retention_us;
    h->rollup_retention_us = conf->rollup_retention_us;
    h->retention_rows = conf->retention_rows;
    /* count(*), min() and max() apart: alone, count(*) counts the pages of
     * the smallest index and min()/max() read one end of the start_us
     * index; in one statement they would read every row (1 s instead of
     * 0.1 s on 10 million rows). */
    if (!select_ints(r, c, apr_pstrcat(p, "SELECT count(*) FROM ", pre,
                                       "requests", NULL), 1, &h->requests)
        || !select_ints(r, c, apr_pstrcat(p, "SELECT min(start_us) FROM ",
                                          pre, "requests", NULL),
                        1, &h->oldest_us)
        || !select_ints(r, c, apr_pstrcat(p, "SELECT max(start_us) FROM ",
                                          pre, "requests", NULL),
                        1, &h->newest_us)
        || !select_ints(r, c, apr_pstrcat(p, "SELECT count(*) FROM ", pre,
                                          "spans", NULL), 1, &h->spans)
        || !select_ints(r, c, apr_pstrcat(p, "SELECT count(*) FROM ", pre,
                                          "rollups", NULL), 1, &h->rollups)
        || !select_ints(r, c, apr_pstrcat(p, "SELECT count(*), "
                                          "sum(rows_written), "
                                          "sum(rows_dropped), "
                                          "sum(rows_failed) FROM ", pre,
                                          "writers", NULL), 4, v)) {
        return;
    }
    h->writers = (int)v[0];
    h->written = v[1];
    h->dropped = v[2];
    h->failed = v[3];
    h->ok = 1;
}

/* ---- JSON and CSV ---------------------------------------------------- */

static const char *js(request_rec *r, const char *s)
{
    return prof_report_json_str(r->pool, s);
}

static const char *ms(apr_pool_t *p, apr_int64_t us)
{
    apr_uint64_t a = us < 0 ? 0 - (apr_uint64_t)us : (apr_uint64_t)us;

    return apr_psprintf(p, "%s%" APR_UINT64_T_FMT ".%03d", us < 0 ? "-" : "",
                        a / 1000, (int)(a % 1000));
}

static const char *ms_mean(apr_pool_t *p, apr_uint64_t sum, apr_uint64_t n)
{
    return n ? ms(p, (apr_int64_t)(sum / n)) : "0.000";
}

static const char *iso(apr_pool_t *p, apr_int64_t us)
{
    apr_time_exp_t t;

    if (apr_time_exp_gmt(&t, us) != APR_SUCCESS) {
        return "";
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                        t.tm_min, t.tm_sec, t.tm_usec);
}

static void json_range(request_rec *r, const prof_report_filter_t *f)
{
    ap_rprintf(r, "\"from\":%s,\"to\":%s,\"from_us\":%" APR_INT64_T_FMT
               ",\"to_us\":%" APR_INT64_T_FMT, js(r, iso(r->pool, f->from_us)),
               js(r, iso(r->pool, f->to_us)), f->from_us, f->to_us);
}

static void json_phases(request_rec *r, const prof_report_group_t *g)
{
    int k;

    ap_rputs("\"phases\":{", r);
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        ap_rprintf(r, "%s\"%s\":%.4f", k ? "," : "", prof_phase_name(k),
                   g->sum_us ? (double)g->phase_sum_us[k] / (double)g->sum_us
                             : 0.0);
    }
    ap_rputs("}", r);
}

static void json_group(request_rec *r, const prof_report_group_t *g,
                       unsigned group)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "{\"route\":%s", js(r, g->route));
    if (group & PROF_GROUP_METHOD) {
        ap_rprintf(r, ",\"method\":%s", js(r, g->method));
    }
    if (group & PROF_GROUP_STATUS) {
        ap_rprintf(r, ",\"status\":\"%dxx\"", g->status_class);
    }
    if (group & PROF_GROUP_VHOST) {
        ap_rprintf(r, ",\"vhost\":%s", js(r, g->vhost));
    }
    if (group & PROF_GROUP_SERVER) {
        ap_rprintf(r, ",\"server\":%s", js(r, g->server));
    }
    ap_rprintf(r, ",\"count\":%" APR_UINT64_T_FMT ",\"samples\":%"
               APR_UINT64_T_FMT ",\"total_ms\":%s,\"mean_ms\":%s,"
               "\"p50_ms\":%s,\"p95_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s,"
               "\"errors\":%" APR_UINT64_T_FMT ",\"error_rate\":%.4f,",
               g->count, g->samples, ms(p, (apr_int64_t)g->sum_us),
               ms_mean(p, g->sum_us, g->count), ms(p, g->p50_us),
               ms(p, g->p95_us), ms(p, g->p99_us), ms(p, g->max_us),
               g->errors, g->count ? (double)g->errors / (double)g->count
                                   : 0.0);
    json_phases(r, g);
    ap_rputs("}", r);
}

static void csv_line(request_rec *r, const char *const *cells, int n)
{
    int i;

    for (i = 0; i < n; ++i) {
        ap_rputs(i ? "," : "", r);
        ap_rputs(prof_report_csv(r->pool, cells[i]), r);
    }
    ap_rputs("\r\n", r);
}

static void out_summary(request_rec *r, prof_report_filter_t *f,
                        const apr_array_header_t *arr, int csv)
{
    apr_pool_t *p = r->pool;
    int i, k;

    if (csv) {
        const char *head[8 + 5 + PROF_REPORT_PHASES];
        int n = 0;

        head[n++] = "route";
        if (f->group & PROF_GROUP_METHOD) head[n++] = "method";
        if (f->group & PROF_GROUP_STATUS) head[n++] = "status";
        if (f->group & PROF_GROUP_VHOST) head[n++] = "vhost";
        if (f->group & PROF_GROUP_SERVER) head[n++] = "server";
        head[n++] = "count"; head[n++] = "total_ms"; head[n++] = "mean_ms";
        head[n++] = "p50_ms"; head[n++] = "p95_ms"; head[n++] = "p99_ms";
        head[n++] = "max_ms"; head[n++] = "error_rate";
        for (k = 0; k < PROF_REPORT_PHASES; ++k) {
            head[n++] = apr_pstrcat(p, prof_phase_name(k), "_share", NULL);
        }
        csv_line(r, head, n);
        for (i = 0; i < arr->nelts; ++i) {
            const prof_report_group_t *g =
                APR_ARRAY_IDX(arr, i, prof_report_group_t *);

            n = 0;
            head[n++] = g->route;
            if (f->group & PROF_GROUP_METHOD) head[n++] = g->method;
            if (f->group & PROF_GROUP_STATUS)
                head[n++] = apr_psprintf(p, "%dxx", g->status_class);
            if (f->group & PROF_GROUP_VHOST) head[n++] = g->vhost;
            if (f->group & PROF_GROUP_SERVER) head[n++] = g->server;
            head[n++] = apr_psprintf(p, "%" APR_UINT64_T_FMT, g->count);
            head[n++] = ms(p, (apr_int64_t)g->sum_us);
            head[n++] = ms_mean(p, g->sum_us, g->count);
            head[n++] = ms(p, g->p50_us);
            head[n++] = ms(p, g->p95_us);
            head[n++] = ms(p, g->p99_us);
            head[n++] = ms(p, g->max_us);
            head[n++] = apr_psprintf(p, "%.4f", g->count
                                     ? (double)g->errors / (double)g->count
                                     : 0.0);
            for (k = 0; k < PROF_REPORT_PHASES; ++k) {
                head[n++] = apr_psprintf(p, "%.4f", g->sum_us
                                         ? (double)g->phase_sum_us[k]
                                           / (double)g->sum_us : 0.0);
            }
            csv_line(r, head, n);
        }
        return;
    }
    ap_rputs("{", r);
    json_range(r, f);
    ap_rputs(",\"source\":\"rollups\",\"group\":[\"route\"", r);
    if (f->group & PROF_GROUP_METHOD) ap_rputs(",\"method\"", r);
    if (f->group & PROF_GROUP_STATUS) ap_rputs(",\"status\"", r);
    if (f->group & PROF_GROUP_VHOST) ap_rputs(",\"vhost\"", r);
    if (f->group & PROF_GROUP_SERVER) ap_rputs(",\"server\"", r);
    ap_rputs("],\"rows\":[", r);
    for (i = 0; i < arr->nelts; ++i) {
        ap_rputs(i ? "," : "", r);
        json_group(r, APR_ARRAY_IDX(arr, i, prof_report_group_t *), f->group);
    }
    ap_rputs("]}\n", r);
}

static void out_series(request_rec *r, prof_report_filter_t *f,
                       const apr_array_header_t *arr, apr_int64_t bucket,
                       int csv)
{
    apr_pool_t *p = r->pool;
    int i;

    if (csv) {
        static const char *const head[] = {
            "t", "time", "count", "errors", "mean_ms", "p50_ms", "p95_ms",
            "p99_ms"
        };
        csv_line(r, head, 8);
    }
    else {
        ap_rputs("{", r);
        json_range(r, f);
        ap_rprintf(r, ",\"source\":\"rollups\",\"bucket_s\":%"
                   APR_INT64_T_FMT ",\"points\":[", apr_time_sec(bucket));
    }
    for (i = 0; i < arr->nelts; ++i) {
        const prof_report_group_t *g =
            APR_ARRAY_IDX(arr, i, prof_report_group_t *);

        if (csv) {
            const char *cells[8];

            cells[0] = apr_psprintf(p, "%" APR_INT64_T_FMT,
                                    apr_time_sec(g->t_us));
            cells[1] = iso(p, g->t_us);
            cells[2] = apr_psprintf(p, "%" APR_UINT64_T_FMT, g->count);
            cells[3] = apr_psprintf(p, "%" APR_UINT64_T_FMT, g->errors);
            cells[4] = ms_mean(p, g->sum_us, g->count);
            cells[5] = ms(p, g->p50_us);
            cells[6] = ms(p, g->p95_us);
            cells[7] = ms(p, g->p99_us);
            csv_line(r, cells, 8);
            continue;
        }
        ap_rprintf(r, "%s{\"t\":%" APR_INT64_T_FMT ",\"count\":%"
                   APR_UINT64_T_FMT ",\"errors\":%" APR_UINT64_T_FMT
                   ",\"mean_ms\":%s,\"p50_ms\":%s,\"p95_ms\":%s,"
                   "\"p99_ms\":%s}", i ? "," : "", apr_time_sec(g->t_us),
                   g->count, g->errors, ms_mean(p, g->sum_us, g->count),
                   ms(p, g->p50_us), ms(p, g->p95_us), ms(p, g->p99_us));
    }
    if (!csv) {
        ap_rputs("]}\n", r);
    }
}

static void out_histogram(request_rec *r, prof_report_filter_t *f,
                          const prof_report_group_t *g, int csv)
{
    apr_pool_t *p = r->pool;
    apr_uint32_t b;
    int first = 1;

    if (csv) {
        static const char *const head[] = { "lo_ms", "hi_ms", "count" };
        csv_line(r, head, 3);
    }
    else {
        ap_rputs("{", r);
        json_range(r, f);
        ap_rprintf(r, ",\"source\":\"rollups\",\"count\":%" APR_UINT64_T_FMT
                   ",\"mean_ms\":%s,\"p50_ms\":%s,\"p95_ms\":%s,"
                   "\"p99_ms\":%s,\"max_ms\":%s,\"max_rel_error\":%.4f,"
                   "\"buckets\":[", g->count, ms_mean(p, g->sum_us, g->count),
                   ms(p, g->p50_us), ms(p, g->p95_us), ms(p, g->p99_us),
                   ms(p, g->max_us), PROF_HIST_MAX_REL_ERR);
    }
    for (b = 0; b < PROF_HIST_BUCKETS; ++b) {
        apr_interval_time_t lo, hi;

        if (g->hist.n[b] == 0) {
            continue;
        }
        prof_hist_bounds(b, &lo, &hi);
        if (csv) {
            const char *cells[3];

            cells[0] = ms(p, lo);
            cells[1] = ms(p, hi);
            cells[2] = apr_psprintf(p, "%" APR_UINT64_T_FMT, g->hist.n[b]);
            csv_line(r, cells, 3);
        }
        else {
            ap_rprintf(r, "%s{\"lo_ms\":%s,\"hi_ms\":%s,\"count\":%"
                       APR_UINT64_T_FMT "}", first ? "" : ",", ms(p, lo),
                       ms(p, hi), g->hist.n[b]);
        }
        first = 0;
    }
    if (!csv) {
        ap_rputs("]}\n", r);
    }
}

static const char *id_str(apr_pool_t *p, apr_int64_t id)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, id);
}

/* A request's columns as JSON members (no braces). 64-bit ids are
 * strings: JavaScript numbers stop being exact at 2^53. */
static void json_req(request_rec *r, const prof_report_req_t *q)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "\"id\":\"%s\",\"start\":%s,\"start_us\":%" APR_INT64_T_FMT
               ",\"server\":%s,\"vhost\":%s,\"method\":%s,\"route\":%s,"
               "\"path\":%s,\"query\":%s,\"status\":%d,\"protocol\":%s,"
               "\"bytes_sent\":%" APR_INT64_T_FMT ",\"total_ms\":%s,"
               "\"ttfb_ms\":%s,\"weight\":%d", id_str(p, q->id),
               js(r, iso(p, q->start_us)), q->start_us, js(r, q->server),
               js(r, q->vhost), js(r, q->method), js(r, q->route),
               js(r, q->path), js(r, q->query), q->status, js(r, q->protocol),
               q->bytes_sent, ms(p, q->total_us), ms(p, q->ttfb_us),
               q->weight);
}

static void out_requests(request_rec *r, prof_report_filter_t *f,
                         const apr_array_header_t *arr, const char *next,
                         int csv)
{
    apr_pool_t *p = r->pool;
    int i;

    if (csv) {
        static const char *const head[] = {
            "id", "start", "server", "vhost", "method", "route", "path",
            "query", "status", "protocol", "bytes_sent", "total_ms",
            "ttfb_ms", "weight"
        };
        csv_line(r, head, 14);
        for (i = 0; i < arr->nelts; ++i) {
            const prof_report_req_t *q =
                APR_ARRAY_IDX(arr, i, prof_report_req_t *);
            const char *cells[14];

            cells[0] = id_str(p, q->id);
            cells[1] = iso(p, q->start_us);
            cells[2] = q->server;
            cells[3] = q->vhost;
            cells[4] = q->method;
            cells[5] = q->route;
            cells[6] = q->path;
            cells[7] = q->query;
            cells[8] = apr_itoa(p, q->status);
            cells[9] = q->protocol;
            cells[10] = apr_psprintf(p, "%" APR_INT64_T_FMT, q->bytes_sent);
            cells[11] = ms(p, q->total_us);
            cells[12] = ms(p, q->ttfb_us);
            cells[13] = apr_itoa(p, q->weight);
            csv_line(r, cells, 14);
        }
        return;
    }
    ap_rputs("{", r);
    json_range(r, f);
    ap_rprintf(r, ",\"source\":\"requests\",\"sort\":\"%s\",\"order\":\"%s\","
               "\"limit\":%d,\"requests\":[",
               prof_report_sort_name(f->sort), f->desc ? "desc" : "asc",
               f->limit);
    for (i = 0; i < arr->nelts; ++i) {
        ap_rputs(i ? ",{" : "{", r);
        json_req(r, APR_ARRAY_IDX(arr, i, prof_report_req_t *));
        ap_rputs("}", r);
    }
    ap_rprintf(r, "],\"next_cursor\":%s}\n", next ? js(r, next) : "null");
}

static void out_request(request_rec *r, const prof_report_req_t *q,
                        const apr_array_header_t *spans)
{
    apr_pool_t *p = r->pool;
    apr_int64_t off[PROF_REPORT_PHASES];
    int i, k;

    prof_report_phase_offsets(q, off);
    ap_rputs("{\"request\":{", r);
    json_req(r, q);
    ap_rprintf(r, ",\"spans_dropped\":%d,\"phases\":[", q->spans_dropped);
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        ap_rprintf(r, "%s{\"name\":\"%s\",\"start_ms\":%s,\"dur_ms\":%s}",
                   k ? "," : "", prof_phase_name(k), ms(p, off[k]),
                   ms(p, q->dur_us[k]));
    }
    ap_rputs("],\"spans\":[", r);
    for (i = 0; i < spans->nelts; ++i) {
        const prof_report_span_t *sp =
            APR_ARRAY_IDX(spans, i, prof_report_span_t *);

        ap_rprintf(r, "%s{\"seq\":%d,\"name\":%s,\"desc\":%s,\"parent\":%s,"
                   "\"start_ms\":%s,\"dur_ms\":%s,\"metric\":%s}",
                   i ? "," : "", sp->seq, js(r, sp->name), js(r, sp->desc),
                   sp->parent >= 0 ? apr_itoa(p, sp->parent) : "null",
                   ms(p, sp->start_us), ms(p, sp->dur_us),
                   sp->metric ? "true" : "false");
    }
    ap_rputs("]}}\n", r);
}

static void out_health(request_rec *r, const prof_report_health_t *h)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "{\"dialect\":%s,\"prefix\":%s,\"schema_version\":%d,"
               "\"requests\":%" APR_INT64_T_FMT ",\"spans\":%" APR_INT64_T_FMT
               ",\"rollups\":%" APR_INT64_T_FMT ",\"oldest\":%s,"
               "\"newest\":%s,\"writers\":%d,\"rows_written\":%"
               APR_INT64_T_FMT ",\"rows_dropped\":%" APR_INT64_T_FMT
               ",\"rows_failed\":%" APR_INT64_T_FMT ",\"retention\":{"
               "\"requests_s\":%" APR_INT64_T_FMT ",\"rollups_s\":%"
               APR_INT64_T_FMT ",\"max_rows\":%" APR_INT64_T_FMT "}}\n",
               js(r, h->dialect), js(r, h->prefix), PROF_SQL_SCHEMA_VERSION,
               h->requests, h->spans, h->rollups,
               h->oldest_us ? js(r, iso(p, h->oldest_us)) : "null",
               h->newest_us ? js(r, iso(p, h->newest_us)) : "null",
               h->writers, h->written, h->dropped, h->failed,
               apr_time_sec(h->retention_us),
               apr_time_sec(h->rollup_retention_us), h->retention_rows);
}

/* ---- the handler --------------------------------------------------------- */

static void security_headers(request_rec *r)
{
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->headers_out, "Content-Security-Policy", CSP);
    apr_table_setn(r->headers_out, "Referrer-Policy", "no-referrer");
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    /* Error pages that httpd makes itself carry them too. */
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->err_headers_out, "Content-Security-Policy", CSP);
}

static int json_error(request_rec *r, int status, const char *param,
                      const char *msg)
{
    r->status = status;
    ap_set_content_type(r, "application/json");
    if (param) {
        ap_rprintf(r, "{\"error\":{\"status\":%d,\"parameter\":%s,"
                   "\"message\":%s}}\n", status, js(r, param),
                   js(r, apr_pstrcat(r->pool, param, " ", msg, NULL)));
    }
    else {
        ap_rprintf(r, "{\"error\":{\"status\":%d,\"message\":%s}}\n", status,
                   js(r, msg));
    }
    return OK;
}

/* The location the handler serves: the innermost section's path when it
 * is a prefix of the URI (a <Location>), else what the URI has before the
 * report's own names. */
static const char *report_base(request_rec *r, const char **rel)
{
    const prof_dir_conf_t *dc =
        ap_get_module_config(r->per_dir_config, &profiler_module);
    const char *uri = r->uri, *base = dc->section;
    apr_size_t n;

    if (base && *base == '/') {
        n = strlen(base);
        while (n > 1 && base[n - 1] == '/') {
            --n;
        }
        if (n == 1) {
            n = 0;
        }
        if (!strncmp(uri, base, n) && (uri[n] == '/' || uri[n] == '\0')) {
            *rel = uri + n;
            return apr_pstrndup(r->pool, uri, n);
        }
    }
    {
        static const char *const marks[] = {
            "/api/v1/", "/api/v1", "/requests", "/assets/", "/actions/", NULL
        };
        int i;

        for (i = 0; marks[i]; ++i) {
            const char *m = strstr(uri, marks[i]);

            if (m) {
                *rel = m;
                return apr_pstrndup(r->pool, uri, (apr_size_t)(m - uri));
            }
        }
    }
    n = strlen(uri);
    while (n > 0 && uri[n - 1] == '/') {
        --n;
    }
    *rel = uri + n;
    return apr_pstrndup(r->pool, uri, n);
}

/* Same origin: the browser says where a POST came from (Origin, or
 * Sec-Fetch-Site); a cross-site form cannot delete anything. */
static int same_origin(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *host = apr_table_get(r->headers_in, "Host");

    if (origin) {
        const char *mine;

        if (host == NULL) {
            return 0;
        }
        mine = apr_pstrcat(r->pool, ap_http_scheme(r), "://", host, NULL);
        return !strcasecmp(origin, mine);
    }
    return site && !strcmp(site, "same-origin");
}

static int do_action(request_rec *r, conn_t *c, const char *base,
                     const char *what)
{
    const char *err = NULL;
    int ok = 1;

    if (r->method_number != M_POST) {
        apr_table_setn(r->err_headers_out, "Allow", "POST");
        return json_error(r, HTTP_METHOD_NOT_ALLOWED, NULL,
                          "actions are POST only");
    }
    if (!same_origin(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PROFLOGNO(00019)
                      "report: refused %s from another origin", what);
        return json_error(r, HTTP_FORBIDDEN, NULL, "actions must come from "
                          "the report's own pages (same origin)");
    }
    if (!strcmp(what, "prune")) {
        ok = prof_retention_prune(ap_server_conf, r->pool, &err)
             == APR_SUCCESS;
    }
    else if (db_open(r, c)) {
        static const char *const tables[] = { "spans", "requests", "rollups",
                                              "rollups_hour",
                                              NULL };
        int i, n, ret = prof_store_db_begin(&c->db);

        for (i = 0; !ret && tables[i]; ++i) {
            ret = apr_dbd_query(c->db.dbd->driver, c->db.dbd->handle, &n,
                                apr_pstrcat(r->pool, "DELETE FROM ",
                                            c->db.prefix, tables[i], NULL));
        }
        ret = prof_store_db_end(&c->db, !ret) || ret;
        ok = !ret;
        err = ok ? NULL : "deleting failed";
    }
    else {
        ok = 0;
        err = c->err;
    }
    ap_log_rerror(APLOG_MARK, ok ? APLOG_NOTICE : APLOG_ERR, 0, r,
                  PROFLOGNO(00020) "report: %s %s%s%s", what,
                  ok ? "done" : "failed", err ? ": " : "", err ? err : "");
    if (!ok) {
        return json_error(r, HTTP_INTERNAL_SERVER_ERROR, NULL,
                          apr_pstrcat(r->pool, what, " failed", NULL));
    }
    apr_table_setn(r->headers_out, "Location",
                   apr_pstrcat(r->pool, base, "/", NULL));
    return HTTP_SEE_OTHER;
}

static int parse_id(const char *s, apr_int64_t *id)
{
    return prof_report_int_parse(s, 1, APR_INT64_MAX, id) == APR_SUCCESS;
}

static int api(request_rec *r, conn_t *c, const char *what, apr_table_t *t)
{
    prof_report_filter_t f;
    const char *format = apr_table_get(t, "format");
    int csv = 0;
    endpoint_t ep;
    bad_t b;

    if (format) {
        if (!strcmp(format, "csv")) {
            csv = 1;
        }
        else if (strcmp(format, "json")) {
            return json_error(r, HTTP_BAD_REQUEST, "format", "is json or csv");
        }
    }
    if (!strcmp(what, "summary")) ep = EP_SUMMARY;
    else if (!strcmp(what, "timeseries")) ep = EP_TIMESERIES;
    else if (!strcmp(what, "histogram")) ep = EP_HISTOGRAM;
    else if (!strcmp(what, "requests")) ep = EP_REQUESTS;
    else if (!strcmp(what, "health")) ep = EP_HEALTH;
    else if (!strncmp(what, "requests/", 9)) ep = EP_REQUEST;
    else {
        return json_error(r, HTTP_NOT_FOUND, NULL, "no such API: see "
                          "summary, timeseries, histogram, requests, health");
    }
    if (ep == EP_SUMMARY) {
        const char *sort = apr_table_get(t, "sort");

        if (sort && summary_sort_field(sort) == 0 && strcmp(sort, "total")) {
            return json_error(r, HTTP_BAD_REQUEST, "sort", "is one of total, "
                              "count, mean, p50, p95, p99, max, errors, "
                              "route");
        }
    }
    else if (ep != EP_REQUESTS && apr_table_get(t, "sort")) {
        return json_error(r, HTTP_BAD_REQUEST, "sort", "applies to the "
                          "summary and the request list only");
    }
    if (!parse_filter(r, t, ep, &f, &b)) {
        return json_error(r, HTTP_BAD_REQUEST, b.param, b.msg);
    }
    if (csv && (ep == EP_REQUEST || ep == EP_HEALTH)) {
        return json_error(r, HTTP_BAD_REQUEST, "format", "csv is for lists: "
                          "summary, timeseries, histogram, requests");
    }
    if (!db_open(r, c)) {
        return json_error(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                          "the store cannot be read now");
    }
    ap_set_content_type(r, csv ? "text/csv; charset=utf-8"
                               : "application/json");
    if (csv) {
        apr_table_setn(r->headers_out, "Content-Disposition",
                       apr_psprintf(r->pool, "attachment; filename="
                                    "\"profiler-%s.csv\"", what));
    }
    switch (ep) {
    case EP_SUMMARY:
    case EP_TIMESERIES:
    case EP_HISTOGRAM: {
        agg_t a;

        agg_init(&a, r, &f, ep == EP_SUMMARY ? WANT_SUMMARY
                            : ep == EP_TIMESERIES ? WANT_SERIES : WANT_ALL);
        if (!read_rollups(r, c, &a)) {
            break;
        }
        if (ep == EP_SUMMARY) {
            out_summary(r, &f, summary_of(r, &a, apr_table_get(t, "sort")),
                        csv);
        }
        else if (ep == EP_TIMESERIES) {
            out_series(r, &f, series_of(r, &a), a.bucket_us, csv);
        }
        else {
            group_finish(a.all);
            out_histogram(r, &f, a.all, csv);
        }
        return OK;
    }
    case EP_REQUESTS: {
        apr_array_header_t *arr;
        const char *next;

        if (!get_requests(r, c, &f, &arr, &next)) {
            break;
        }
        out_requests(r, &f, arr, next, csv);
        return OK;
    }
    case EP_REQUEST: {
        apr_array_header_t *spans = NULL;
        prof_report_req_t *q = NULL;
        apr_int64_t id;
        int got;

        if (!parse_id(what + 9, &id)) {
            return json_error(r, HTTP_BAD_REQUEST, "id", "is not a request "
                              "id");
        }
        got = get_request(r, c, &id, &q, &spans);
        if (got < 0) {
            return json_error(r, HTTP_NOT_FOUND, NULL, "no such request (it "
                              "may have been deleted by retention)");
        }
        if (got == 0) {
            break;
        }
        out_request(r, q, spans);
        return OK;
    }
    case EP_HEALTH: {
        prof_report_health_t h;

        get_health(r, c, &h);
        if (!h.ok) {
            break;
        }
        out_health(r, &h);
        return OK;
    }
    }
    return json_error(r, HTTP_INTERNAL_SERVER_ERROR, NULL,
                      "reading the store failed; see the error log");
}

static int page(request_rec *r, conn_t *c, const char *base,
                const char *rel, apr_table_t *t)
{
    prof_report_view_t v;
    prof_report_filter_t f;
    endpoint_t ep = EP_SUMMARY;
    bad_t b;

    memset(&v, 0, sizeof(v));
    v.base = base;
    v.f = &f;
    ap_set_content_type(r, "text/html; charset=utf-8");
    if (!strcmp(rel, "/requests")) {
        ep = EP_REQUESTS;
    }
    else if (!strncmp(rel, "/requests/", 10)) {
        ep = EP_REQUEST;
    }
    else if (*rel && strcmp(rel, "/")) {
        r->status = HTTP_NOT_FOUND;
        prof_report_page_error(r, &v, "There is no such page in the report.");
        return OK;
    }
    v.sort = apr_table_get(t, "sort");
    if (ep == EP_SUMMARY && v.sort && summary_sort_field(v.sort) == 0
        && strcmp(v.sort, "total")) {
        b.param = "sort";
        b.msg = "is one of total, count, mean, p50, p95, p99, max, errors, "
                "route";
        goto bad_param;
    }
    if (apr_table_get(t, "format")) {
        b.param = "format";
        b.msg = "is for the API (api/v1/...)";
        goto bad_param;
    }
    {
        /* The dashboard's own sort is not a request-list sort. */
        const char *sort = apr_table_get(t, "sort");

        if (ep == EP_SUMMARY && sort) {
            apr_table_unset(t, "sort");
        }
        if (!parse_filter(r, t, ep == EP_REQUEST ? EP_REQUESTS : ep, &f,
                          &b)) {
            goto bad_param;
        }
    }
    if (!db_open(r, c)) {
        r->status = HTTP_SERVICE_UNAVAILABLE;
        prof_report_page_error(r, &v, "The store cannot be read now; the "
                               "error log says why.");
        return OK;
    }
    if (ep == EP_SUMMARY) {
        prof_report_health_t h;
        agg_t a, b2, *series;
        int ok;

        /* One pass over the rollups for the table and the three charts;
         * two when the series is in minutes: it must read every minute,
         * the rest only the edges of the hours (read_rollups()). */
        agg_init(&a, r, &f, WANT_SUMMARY | WANT_SERIES | WANT_ALL);
        series = &a;
        if (a.bucket_us < apr_time_from_sec(3600)) {
            agg_init(&a, r, &f, WANT_SUMMARY | WANT_ALL);
            agg_init(&b2, r, &f, WANT_SERIES);
            series = &b2;
        }
        ok = read_rollups(r, c, &a)
             && (series == &a || read_rollups(r, c, series));
        if (!ok) {
            r->status = HTTP_INTERNAL_SERVER_ERROR;
            prof_report_page_error(r, &v, "Reading the store failed; the "
                                   "error log says why.");
            return OK;
        }
        group_finish(a.all);
        get_health(r, c, &h);
        prof_report_page_dashboard(r, &v, summary_of(r, &a, v.sort),
                                   series_of(r, series), series->bucket_us,
                                   a.all, &h);
    }
    else if (ep == EP_REQUESTS) {
        apr_array_header_t *arr;
        const char *next;

        if (!get_requests(r, c, &f, &arr, &next)) {
            r->status = HTTP_INTERNAL_SERVER_ERROR;
            prof_report_page_error(r, &v, "Reading the store failed; the "
                                   "error log says why.");
            return OK;
        }
        prof_report_page_requests(r, &v, arr, next, NULL);
    }
    else {
        apr_array_header_t *spans = NULL;
        prof_report_req_t *q = NULL;
        apr_int64_t id;
        int got;

        if (!parse_id(rel + 10, &id)) {
            r->status = HTTP_NOT_FOUND;
            prof_report_page_error(r, &v, "That is not a request id.");
            return OK;
        }
        got = get_request(r, c, &id, &q, &spans);
        if (got <= 0) {
            r->status = got < 0 ? HTTP_NOT_FOUND : HTTP_INTERNAL_SERVER_ERROR;
            prof_report_page_error(r, &v, got < 0
                                   ? "There is no such request (retention "
                                     "may have deleted it)."
                                   : "Reading the store failed; the error "
                                     "log says why.");
            return OK;
        }
        prof_report_page_request(r, &v, q, spans);
    }
    return OK;

bad_param:
    r->status = HTTP_BAD_REQUEST;
    prof_report_page_error(r, &v, apr_pstrcat(r->pool, "The parameter ",
                                              b.param, " ", b.msg, ".",
                                              NULL));
    return OK;
}

static int report_handler(request_rec *r)
{
    const char *base, *rel;
    apr_table_t *t;
    conn_t c;
    bad_t b;
    int rv;

    if (r->handler == NULL || strcmp(r->handler, PROF_REPORT_HANDLER)) {
        return DECLINED;
    }
    security_headers(r);
    base = report_base(r, &rel);
    if (!strncmp(rel, "/assets/", 8)) {
        if (r->method_number != M_GET) {
            return HTTP_METHOD_NOT_ALLOWED;
        }
        return prof_report_asset(r, rel + 8) ? OK : HTTP_NOT_FOUND;
    }
    memset(&c, 0, sizeof(c));
    if (!strncmp(rel, "/actions/", 9)) {
        if (strcmp(rel + 9, "prune") && strcmp(rel + 9, "clear")) {
            return HTTP_NOT_FOUND;
        }
        rv = do_action(r, &c, base, rel + 9);
        db_close(&c);
        return rv;
    }
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!args_table(r, &t, &b)) {
        if (!strncmp(rel, "/api/", 5)) {
            return json_error(r, HTTP_BAD_REQUEST, b.param, b.msg);
        }
        {
            prof_report_view_t v;

            memset(&v, 0, sizeof(v));
            v.base = base;
            r->status = HTTP_BAD_REQUEST;
            ap_set_content_type(r, "text/html; charset=utf-8");
            prof_report_page_error(r, &v, apr_pstrcat(r->pool,
                                   "The parameter ", b.param, " ", b.msg,
                                   ".", NULL));
            return OK;
        }
    }
    if (!strncmp(rel, "/api/v1/", 8)) {
        rv = api(r, &c, rel + 8, t);
    }
    else if (!strncmp(rel, "/api/", 5) || !strcmp(rel, "/api")) {
        rv = json_error(r, HTTP_NOT_FOUND, NULL, "the API is at api/v1/");
    }
    else {
        rv = page(r, &c, base, rel, t);
    }
    db_close(&c);
    return rv;
}

/* ---- access: Require profiler-token, and the startup warning ---------- */

/* Equal in time that does not depend on where the strings differ. */
static int equal_ct(const char *a, apr_size_t alen, const char *b,
                    apr_size_t blen)
{
    unsigned char d = alen != blen;
    apr_size_t i;

    for (i = 0; i < alen; ++i) {
        d |= (unsigned char)(a[i] ^ b[i < blen ? i : 0]);
    }
    return d == 0 && blen > 0;
}

static authz_status token_check(request_rec *r, const char *require_args,
                                const void *parsed)
{
    const prof_dir_conf_t *dc =
        ap_get_module_config(r->per_dir_config, &profiler_module);
    const char *auth = apr_table_get(r->headers_in, "Authorization");

    (void)require_args;
    (void)parsed;
    if (dc->report_token == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00021)
                      "Require profiler-token without ProfilerReportToken "
                      "for %s", r->uri);
        return AUTHZ_DENIED;
    }
    if (auth && !strncasecmp(auth, "Bearer ", 7)) {
        const char *tok = auth + 7;

        while (*tok == ' ') {
            ++tok;
        }
        if (equal_ct(tok, strlen(tok), dc->report_token,
                     strlen(dc->report_token))) {
            return AUTHZ_GRANTED;
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PROFLOGNO(00022)
                      "report: wrong bearer token");
    }
    return AUTHZ_DENIED;
}

static const authz_provider token_provider = {
    &token_check,
    NULL,
};

const char *prof_report_set_token(cmd_parms *cmd, void *dconf,
                                  const char *file)
{
    prof_dir_conf_t *conf = dconf;
    const char *path = ap_server_root_relative(cmd->pool, file);
    apr_file_t *f = NULL;
    char buf[1025];
    apr_size_t n = sizeof(buf) - 1;
    apr_status_t rv;

    if (path == NULL) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid path",
                            cmd->cmd->name, file);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_read(f, buf, &n);
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(cmd->pool, "%s: cannot read '%s' (%pm)",
                            cmd->cmd->name, path, &rv);
    }
    if (rv == APR_EOF) {
        n = 0;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                     || buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
        buf[--n] = '\0';
    }
    if (n < 16 || n == sizeof(buf) - 1 || strpbrk(buf, " \t\r\n")) {
        return apr_psprintf(cmd->pool, "%s: '%s' must hold one secret of 16 "
                            "to 1023 characters without spaces (it has %"
                            APR_SIZE_T_FMT ")", cmd->cmd->name, path, n);
    }
    conf->report_token = apr_pstrdup(cmd->pool, buf);
    return NULL;
}

/* Does this section, or one it is in, control access? */
static int has_access_control(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        const char *n = d->directive;

        if (!strcasecmp(n, "Require") || !strcasecmp(n, "Allow")
            || !strcasecmp(n, "Deny") || !strcasecmp(n, "AuthType")
            || !strcasecmp(n, "<RequireAll") || !strcasecmp(n, "<RequireAny")
            || !strcasecmp(n, "<RequireNone")) {
            /* "Require all granted" alone opens the report to anyone. */
            if (!strcasecmp(n, "Require") && d->args
                && !strcasecmp(d->args, "all granted")) {
                continue;
            }
            return 1;
        }
    }
    return 0;
}

static int sets_report(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (!strcasecmp(d->directive, "SetHandler") && d->args
            && !strcasecmp(d->args, PROF_REPORT_HANDLER)) {
            return 1;
        }
    }
    return 0;
}

/* Walk the configuration for sections that set the report handler. */
static int find_reports(const ap_directive_t *d, server_rec *s, int *n)
{
    for (; d; d = d->next) {
        if (d->first_child) {
            if (sets_report(d->first_child)) {
                ++*n;
                if (!has_access_control(d->first_child)) {
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                                 PROFLOGNO(00023) "the profiler report at "
                                 "%s %s (%s:%d) has no access control: "
                                 "anyone who can reach it sees every "
                                 "recorded URL. Add \"Require ip ...\", "
                                 "authentication, or \"Require "
                                 "profiler-token\" with ProfilerReportToken",
                                 d->directive, d->args ? d->args : "",
                                 d->filename ? d->filename : "?",
                                 d->line_num);
                }
            }
            find_reports(d->first_child, s, n);
        }
    }
    return *n;
}

int prof_report_post_config(apr_pool_t *ptemp, server_rec *s)
{
    int n = 0;

    (void)ptemp;
    if (sets_report(ap_conftree)) {
        ++n;
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PROFLOGNO(00024)
                     "the profiler report is set for the whole server, with "
                     "no section to control access to it");
    }
    return find_reports(ap_conftree, s, &n);
}

void prof_report_register_hooks(apr_pool_t *p)
{
    /* A content handler like any other: it only answers its own handler
     * name, so it can run in the middle. */
    ap_hook_handler(report_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "profiler-token",
                              AUTHZ_PROVIDER_VERSION, &token_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}
