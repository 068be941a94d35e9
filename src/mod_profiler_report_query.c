/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>
#include <string.h>

#include "apr_dbd.h"
#include "apr_hash.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_log.h"
#include "http_main.h"

#include "prof_agg.h"
#include "prof_hist.h"
#include "prof_phase.h"
#include "prof_report_sql.h"
#include "prof_report_text.h"
#include "mod_profiler_private.h"
#include "mod_profiler_db.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_report_query.h"

/* ---- the database ------------------------------------------------------ */

typedef struct {
    prof_db_t db;
    int open;
    const char *err;
} conn_t;

int prof_report_conn_open(request_rec *r, prof_report_conn_t *c)
{
    apr_status_t rv;

    if (c->open) {
        return 1;
    }
    /* The main server's: the store's database (DBDriver/DBDParams are
     * read there; a vhost inherits them). */
    rv = prof_db_open(&c->db, ap_server_conf, r->pool, &c->err);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PROFLOGNO(00017)
                      "report: cannot read the store: %s", c->err);
        return 0;
    }
    c->open = 1;
    return 1;
}

void prof_report_conn_close(prof_report_conn_t *c)
{
    if (c->open) {
        prof_db_close(&c->db, ap_server_conf);
        c->open = 0;
    }
}

/* Run a select: every row is handed to fn (which returns 0 to go on),
 * and every row is read, so that the statement is finished. */
typedef int row_fn(void *baton, apr_dbd_row_t *row, const apr_dbd_driver_t *d);

static int db_select(request_rec *r, prof_report_conn_t *c, const prof_report_stmt_t *st,
                     row_fn *fn, void *baton)
{
    const apr_dbd_driver_t *d = c->db.dbd->driver;
    apr_dbd_prepared_t *prep = NULL;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int ret, stop = 0;

    ret = prof_db_prepare(&c->db, r->pool, st->sql, &prep);
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

static int select_ints(request_rec *r, prof_report_conn_t *c, const char *sql, int n,
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
    else if (x->status_class == 4) {
        g->client_errors += (apr_uint64_t)x->count;
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

/* The summary group of a row or a live cell (by route and the keys
 * f->group names), made on first use. */
static prof_report_group_t *group_of(agg_t *a, const char *server,
                                     const char *vhost, const char *route,
                                     const char *method, int cls)
{
    prof_report_group_t *g;
    const char *key;
    unsigned gr = a->f->group;

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
    return g;
}

static int summary_row(void *baton, apr_dbd_row_t *row,
                       const apr_dbd_driver_t *d)
{
    agg_t *a = baton;
    prof_report_group_t *g;
    apr_int64_t minute = col_i64(d, row, 0);
    const char *server, *vhost, *route, *method;

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
    g = group_of(a, server, vhost, route, method, a->row.status_class);
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
static int read_part(request_rec *r, prof_report_conn_t *c, agg_t *a, int hourly,
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
static int read_rollups(request_rec *r, prof_report_conn_t *c, agg_t *a)
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

/* The bucket of a time series for a range: at most PROF_REPORT_POINTS_MAX
 * points whatever the range, and whole hours where the hourly rollups are
 * read. */
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
        /* One more point where the range does not start on a bucket. */
        if (range_us / apr_time_from_sec(steps_s[i])
            < PROF_REPORT_POINTS_MAX) {
            return apr_time_from_sec(steps_s[i]);
        }
    }
    /* Longer than the largest step allows: whole weeks, as many as it
     * takes (a range is clamped to the rollups' retention, but retention
     * may be off). */
    {
        apr_int64_t week = apr_time_from_sec(7 * 86400);
        apr_int64_t n = range_us / week / (PROF_REPORT_POINTS_MAX - 1) + 1;

        return n * week;
    }
}

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

/* Start a pass: want (PROF_REPORT_WANT_*) says what it builds. */
static void agg_init(agg_t *a, request_rec *r, prof_report_filter_t *f,
                     int want)
{
    memset(a, 0, sizeof(*a));
    a->p = r->pool;
    a->f = f;
    if (want & PROF_REPORT_WANT_SUMMARY) {
        a->groups = apr_hash_make(r->pool);
    }
    if (want & PROF_REPORT_WANT_SERIES) {
        a->buckets = apr_hash_make(r->pool);
        a->bucket_us = bucket_for(f->to_us - f->from_us, f->hourly);
    }
    if (want & PROF_REPORT_WANT_ALL) {
        a->all = group_new(r->pool);
        a->all->route = "";
    }
    a->slim = !(want & (PROF_REPORT_WANT_SUMMARY | PROF_REPORT_WANT_PHASES));
}

/* The summary: groups, sorted, at most f->limit. */
static apr_array_header_t *summary_of(request_rec *r, agg_t *a, int sort)
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
                sort, a->f->desc);
    if (arr->nelts > a->f->limit) {
        arr->nelts = a->f->limit;
    }
    return arr;
}

/* The time series: every bucket of the range, empty ones included, in
 * time order; at most PROF_REPORT_POINTS_MAX of them (bucket_for()), and
 * the loop is capped as well, whatever the range. */
static apr_array_header_t *series_of(request_rec *r, agg_t *a)
{
    apr_array_header_t *arr;
    apr_int64_t t;
    int n = 0;

    arr = apr_array_make(r->pool, 64, sizeof(prof_report_group_t *));
    for (t = bucket_start(a->f->from_us, a->bucket_us);
         t < a->f->to_us && n <= PROF_REPORT_POINTS_MAX;
         t += a->bucket_us, ++n) {
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
    int with_starts;            /* the row has phase_starts after the rest */
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
        q->start_offset_us[k] = -1;
    }
    q->weight = (int)col_i64(d, row, 27);
    q->spans_dropped = (int)col_i64(d, row, 28);
    if (rs->with_starts) {
        /* NULL for rows written before schema 4; a damaged value is as
         * good as none: the page then shows the approximate layout. */
        const char *starts = apr_dbd_get_entry(d, row, 29);

        q->has_starts = starts && prof_report_phase_starts_parse(
                            starts, q->start_offset_us, PROF_REPORT_PHASES)
                          == APR_SUCCESS;
    }
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

int prof_report_query_requests(request_rec *r, prof_report_conn_t *c,
                               prof_report_filter_t *f,
                               prof_report_data_t *out)
{
    prof_report_stmt_t st;
    reqs_t rs;

    memset(&rs, 0, sizeof(rs));
    rs.p = r->pool;
    rs.reqs = apr_array_make(r->pool, f->limit + 1,
                             sizeof(prof_report_req_t *));
    prof_report_sql_requests(r->pool, c->db.dialect, c->db.prefix, f, &st);
    if (!db_select(r, c, &st, request_row, &rs)) {
        return 0;
    }
    out->next = NULL;
    if (rs.reqs->nelts > f->limit) {
        const prof_report_req_t *last =
            APR_ARRAY_IDX(rs.reqs, f->limit - 1, prof_report_req_t *);

        rs.reqs->nelts = f->limit;
        out->next = prof_report_cursor_encode(r->pool,
                                              sort_key(last, f->sort),
                                              last->id);
    }
    out->reqs = rs.reqs;
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

static int module_row(void *baton, apr_dbd_row_t *row,
                      const apr_dbd_driver_t *d)
{
    reqs_t *rs = baton;
    prof_report_module_t *m = apr_pcalloc(rs->p, sizeof(*m));

    m->phase = col_str(rs->p, d, row, 0);
    m->module = col_str(rs->p, d, row, 1);
    m->calls = col_i64(d, row, 2);
    m->dur_us = col_i64(d, row, 3);
    APR_ARRAY_PUSH(rs->reqs, prof_report_module_t *) = m;
    return 0;
}

/* Does the store have what `SELECT <what> FROM <prefix><table> WHERE
 * 1 = 0` names (a column, a table)? Asked of the database itself, so that
 * the report reads a store written by an older module, and one written by
 * a newer one, as they are. What was once seen stays (schemas only grow:
 * *seen, the same answer whichever thread writes it); its absence is asked
 * again each time (a migration may add it while this process runs), one
 * query that reads no row. A query that names a missing column or table
 * fails: that is the answer, not an error to log. (Not a prepare:
 * PostgreSQL's unnamed ones reach the server only when run; and a
 * random-access select, which apr_dbd's PostgreSQL driver runs to its end
 * at once, so no result of the failed query is left pending on the
 * connection.) */
static int store_has(request_rec *r, prof_report_conn_t *c,
                     const char *what, const char *table,
                     volatile int *seen)
{
    const apr_dbd_driver_t *d = c->db.dbd->driver;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int ret;

    if (*seen) {
        return 1;
    }
    ret = apr_dbd_select(d, r->pool, c->db.dbd->handle, &res,
                         apr_pstrcat(r->pool, "SELECT ", what, " FROM ",
                                     c->db.prefix, table, " WHERE 1 = 0",
                                     NULL), 1);
    if (ret == 0) {
        while (apr_dbd_get_row(d, r->pool, res, &row, -1) == 0) {
        }
        *seen = 1;
    }
    return ret == 0;
}

/* The requests table's phase_starts column (schema 4). */
static int has_phase_starts(request_rec *r, prof_report_conn_t *c)
{
    static volatile int seen = 0;

    return store_has(r, c, "phase_starts", "requests", &seen);
}

/* The profiles table (schema 5). */
static int has_profiles(request_rec *r, prof_report_conn_t *c)
{
    static volatile int seen = 0;

    return store_has(r, c, "request_id", "profiles", &seen);
}

/* The modules table (schema 6). */
static int has_modules(request_rec *r, prof_report_conn_t *c)
{
    static volatile int seen = 0;

    return store_has(r, c, "request_id", "modules", &seen);
}

typedef struct {
    apr_pool_t *p;
    const char *text;
} profile_t;

static int profile_row(void *baton, apr_dbd_row_t *row,
                       const apr_dbd_driver_t *d)
{
    profile_t *pr = baton;
    const char *format = apr_dbd_get_entry(d, row, 0);

    /* A format this code does not know (a newer module's) is as good as
     * none. */
    if (format && !strcmp(format, PROF_SQL_PROFILE_FORMAT)) {
        pr->text = col_str(pr->p, d, row, 1);
    }
    return 1;
}

int prof_report_query_profile(request_rec *r, prof_report_conn_t *c,
                              const apr_int64_t *id, const char **text)
{
    prof_report_stmt_t st;
    profile_t pr;

    *text = NULL;
    if (!has_profiles(r, c)) {
        return -1;
    }
    pr.p = r->pool;
    pr.text = NULL;
    prof_report_sql_profile(r->pool, c->db.prefix, id, &st);
    if (!db_select(r, c, &st, profile_row, &pr)) {
        return 0;
    }
    *text = pr.text;
    return pr.text ? 1 : -1;
}

int prof_report_query_request(request_rec *r, prof_report_conn_t *c,
                              const apr_int64_t *id, prof_report_data_t *out)
{
    prof_report_stmt_t st;
    reqs_t rs;

    memset(&rs, 0, sizeof(rs));
    rs.p = r->pool;
    rs.reqs = apr_array_make(r->pool, 1, sizeof(prof_report_req_t *));
    rs.with_starts = has_phase_starts(r, c);
    prof_report_sql_request(r->pool, c->db.prefix, rs.with_starts, id, &st);
    if (!db_select(r, c, &st, request_row, &rs)) {
        return 0;
    }
    if (rs.reqs->nelts == 0) {
        return -1;
    }
    out->req = APR_ARRAY_IDX(rs.reqs, 0, prof_report_req_t *);
    rs.reqs = apr_array_make(r->pool, 8, sizeof(prof_report_span_t *));
    prof_report_sql_spans(r->pool, c->db.prefix, id, &st);
    if (!db_select(r, c, &st, span_row, &rs)) {
        return 0;
    }
    out->spans = rs.reqs;
    rs.reqs = apr_array_make(r->pool, 8, sizeof(prof_report_module_t *));
    if (has_modules(r, c)) {
        prof_report_sql_modules(r->pool, c->db.prefix, id, &st);
        if (!db_select(r, c, &st, module_row, &rs)) {
            return 0;
        }
    }
    out->modules = rs.reqs;
    return prof_report_query_profile(r, c, id, &out->profile) != 0;
}

/* ---- health ---------------------------------------------------------- */

void prof_report_query_health(request_rec *r, prof_report_conn_t *c,
                              prof_report_data_t *out)
{
    const prof_store_conf_t *conf = prof_db_conf();
    prof_report_health_t *h = &out->health;
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

/* ---- the passes --------------------------------------------------------- */

int prof_report_query_rollups(request_rec *r, prof_report_conn_t *c,
                              prof_report_filter_t *f, int want,
                              int summary_sort, prof_report_data_t *out)
{
    agg_t *a = apr_palloc(r->pool, sizeof(*a)), *series = a;

    agg_init(a, r, f, want);
    /* One pass over the rollups for everything; two when a series is in
     * minutes: it must read every minute, the rest only the edges of the
     * hours (read_rollups()). */
    if ((want & PROF_REPORT_WANT_SERIES) && (want & ~PROF_REPORT_WANT_SERIES)
        && a->bucket_us < apr_time_from_sec(3600)) {
        series = apr_palloc(r->pool, sizeof(*series));
        agg_init(a, r, f, want & ~PROF_REPORT_WANT_SERIES);
        agg_init(series, r, f, PROF_REPORT_WANT_SERIES);
    }
    if (!read_rollups(r, c, a) || (series != a && !read_rollups(r, c, series))) {
        return 0;
    }
    if (a->all) {
        group_finish(a->all);
        out->all = a->all;
    }
    if (a->groups) {
        out->summary = summary_of(r, a, summary_sort);
    }
    if (series->buckets) {
        out->series = series_of(r, series);
        out->bucket_us = series->bucket_us;
    }
    return 1;
}

/* ---- the live aggregates, without a database ---------------------------- */

/* This server's name as the store would write it: ProfilerServerName,
 * else the host name. */
static const char *live_server(apr_pool_t *p)
{
    const char *name = prof_db_conf()->server_name;
    char host[APRMAXHOSTLEN + 1];

    if (name == NULL) {
        name = apr_gethostname(host, sizeof(host), p) == APR_SUCCESS
               ? apr_pstrdup(p, host) : "localhost";
    }
    return name;
}

/* A live cell's counters into a group, as group_add() adds a rollup row. */
static void group_add_cell(prof_report_group_t *g, const prof_agg_cell_t *c,
                           int cls)
{
    int k;

    g->count += c->hist.count;
    g->samples += c->hist.count;
    g->sum_us += c->hist.sum;
    g->ttfb_sum_us += c->ttfb_us;
    g->bytes_sum += c->bytes;
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        g->phase_sum_us[k] += c->phase_us[k];
    }
    if (cls == 5) {
        g->errors += c->hist.count;
    }
    else if (cls == 4) {
        g->client_errors += c->hist.count;
    }
    if (c->hist.count > 0) {
        g->min_us = c->hist.min < g->min_us ? c->hist.min : g->min_us;
        g->max_us = c->hist.max > g->max_us ? c->hist.max : g->max_us;
    }
    prof_hist_merge(&g->hist, &c->hist);
}

static int live_match(const prof_report_filter_t *f, const char *server,
                      const prof_agg_key_t *k, int cls)
{
    return (f->route == NULL || !strcmp(f->route, k->route))
           && (f->method == NULL || !strcmp(f->method, k->method))
           && (f->vhost == NULL || !strcmp(f->vhost, k->vhost))
           && (f->server == NULL || !strcmp(f->server, server))
           && (f->status_lo == 0 || cls == f->status_lo / 100);
}

int prof_report_query_live(request_rec *r, prof_report_filter_t *f,
                           int want, int summary_sort,
                           prof_report_data_t *out)
{
    prof_agg_t *live = prof_metrics_agg();
    prof_agg_snap_t *snap = NULL;
    const char *server = live_server(r->pool);
    agg_t *a = apr_palloc(r->pool, sizeof(*a));
    apr_size_t i;

    f->to_us = apr_time_now();
    f->from_us = f->to_us;
    agg_init(a, r, f, want & ~PROF_REPORT_WANT_SERIES);
    if (live) {
        snap = prof_agg_snapshot(live, r->pool);
        /* mod_profiler_metrics.c formats the segment with apr_time_now()
         * as its generation: when counting began. */
        if (snap->generation > 0
            && (apr_int64_t)snap->generation <= f->to_us) {
            f->from_us = (apr_int64_t)snap->generation;
        }
    }
    for (i = 0; snap && i < snap->nreq; ++i) {
        const prof_agg_cell_t *c = &snap->req[i];
        int cls = c->key.status / 100;

        if (!live_match(f, server, &c->key, cls)) {
            continue;
        }
        if (a->all) {
            group_add_cell(a->all, c, cls);
        }
        if (a->groups) {
            group_add_cell(group_of(a, server, c->key.vhost, c->key.route,
                                    c->key.method, cls), c, cls);
        }
    }
    if (a->all) {
        group_finish(a->all);
        out->all = a->all;
    }
    if (a->groups) {
        out->summary = summary_of(r, a, summary_sort);
    }
    if (want & PROF_REPORT_WANT_SERIES) {
        /* One snapshot has no time in it: no series. */
        out->series = apr_array_make(r->pool, 1,
                                     sizeof(prof_report_group_t *));
        out->bucket_us = apr_time_from_sec(60);
    }
    return 1;
}

int prof_report_query_route(request_rec *r, prof_report_conn_t *c,
                            const prof_report_filter_t *f,
                            prof_report_group_t **out)
{
    const apr_int64_t m = apr_time_from_sec(60);
    prof_report_filter_t *rf = apr_pmemdup(r->pool, f, sizeof(*f));
    prof_report_data_t d;

    /* The rollups' view of the list's filters: whole minutes, the status
     * class only when the list asks for a class; path and durations are
     * not in the rollups. */
    memset(&d, 0, sizeof(d));
    rf->path = NULL;
    rf->min_us = rf->max_us = -1;
    rf->hourly = 0;
    rf->from_us -= ((rf->from_us % m) + m) % m;
    if (rf->to_us % m) {
        rf->to_us += m - ((rf->to_us % m) + m) % m;
    }
    if (rf->status_lo && rf->status_lo != rf->status_hi - 99) {
        rf->status_lo = rf->status_hi = 0;
    }
    if (!prof_report_query_rollups(r, c, rf, PROF_REPORT_WANT_ALL
                                   | PROF_REPORT_WANT_PHASES, 0, &d)) {
        return 0;
    }
    d.all->route = f->route;
    *out = d.all;
    return 1;
}

int prof_report_query_route_modules(request_rec *r, prof_report_conn_t *c,
                                    const prof_report_filter_t *f,
                                    prof_report_route_modules_t **out)
{
    apr_int64_t v[1 + PROF_PHASE_TOTAL];
    prof_report_route_modules_t *rm;
    prof_report_stmt_t st;
    reqs_t rs;
    ints_t iv;
    int k;

    *out = NULL;
    if (f->route == NULL || !has_modules(r, c)) {
        return 1;
    }
    rm = apr_pcalloc(r->pool, sizeof(*rm));
    rm->modules = apr_array_make(r->pool, 16, sizeof(prof_report_module_t *));
    memset(&rs, 0, sizeof(rs));
    rs.p = r->pool;
    rs.reqs = rm->modules;
    prof_report_sql_route_modules(r->pool, c->db.prefix, f, &st);
    if (!db_select(r, c, &st, module_row, &rs)) {
        return 0;
    }
    if (rm->modules->nelts == 0) {
        return 1;
    }
    memset(v, 0, sizeof(v));
    iv.n = 1 + PROF_PHASE_TOTAL;
    iv.out = v;
    prof_report_sql_route_module_phases(r->pool, c->db.prefix, f, &st);
    if (!db_select(r, c, &st, ints_row, &iv)) {
        return 0;
    }
    rm->requests = v[0];
    for (k = 0; k < PROF_PHASE_TOTAL && k < PROF_REPORT_PHASES; ++k) {
        rm->phase_us[k] = v[1 + k];
    }
    *out = rm;
    return 1;
}
