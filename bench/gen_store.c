/* Licensed under the Apache License, Version 2.0. */

/*
 * A measurement store full of made-up requests, for the report's benchmark
 * (bench/report.py; the target: the summary over 10 million requests
 * answers within a second on SQLite).
 *
 *   make -f Makefile.apxs bench-gen
 *   build/gen_store [-n rows] [-r routes] [-H hours] [-s seed]
 *                   [--end epoch_s] [-f] FILE.db
 *
 * The file is what two servers' writers would have left there: the schema
 * made by every migration of prof_sql.c and recorded with
 * prof_sql_schema_set() (so the module takes the file as its own), two
 * writer rows ("web-1", "web-2"), the requests and their spans inserted
 * with the store's own multi-row statements, and the per-minute and
 * per-hour rollups built with prof_rollup_add() (per server, a minute and
 * an hourly aggregator per batch) and merged into their rows with the
 * PROF_STMT_ROLLUP_* and PROF_STMT_HOUR_* statements, one transaction per
 * batch of rows, as write_rows() in mod_profiler_store.c does. Only the
 * batches are bigger (some 50,000 rows instead of 500) and SQLite does not
 * sync. The hourly rollups cover all the generated time, so the report
 * reads them for every whole hour after the first (see make_schema()).
 *
 * The traffic: N requests spread evenly over H hours ending at --end, over
 * R routes of an API, static files and pages with Zipf-like popularity;
 * each route has its own median latency (200 us to 300 ms) and totals are
 * log-normal around it (sigma 0.8). Everything comes from one xoshiro256**
 * stream seeded with -s, so a seed and an --end give the same requests,
 * rollups and spans every time (the schema's updated_us is the real time).
 *
 * A generator that fails has nothing worth keeping: every error ends the
 * program with SQLite's message and removes the unfinished file.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "apr_general.h"
#include "apr_file_info.h"
#include "apr_file_io.h"
#include "apr_getopt.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_tables.h"
#include "apr_time.h"

#include "prof_hist.h"
#include "prof_phase.h"
#include "prof_rollup.h"
#include "prof_row.h"
#include "prof_sql.h"

#define TWO_PI 6.283185307179586

/* Rows per transaction: a batch ends at the first new minute after this
 * many rows (so that most keys are written once), and in any case at four
 * times as many (so that the aggregators stay small whatever -n and -H). */
#define BATCH_ROWS 50000
#define BATCH_ROWS_MAX (4 * BATCH_ROWS)

#define SERVERS 2
#define HOUR_US APR_INT64_C(3600000000)
#define MAX_SPANS 4
#define ROUTES_MAX 10000

/* Multi-row inserts of 1, 2, 4 ... PROF_SQL_ROWS_MAX rows, as the store
 * prepares them. */
#define ROW_SIZES 6
#if (1 << (ROW_SIZES - 1)) != PROF_SQL_ROWS_MAX
#error ROW_SIZES does not match PROF_SQL_ROWS_MAX
#endif
#define REQUEST_PARAMS (13 + PROF_SQL_PHASE_COLUMNS + 3)
#define SPAN_PARAMS 8

static const char *const server_names[SERVERS] = { "web-1", "web-2" };
static const char *const vhost_api = "api.example.com";
static const char *const vhost_www = "www.example.com";

/* ---- failing ----------------------------------------------------------- */

static const char *out_path;    /* removed when we fail */
static apr_pool_t *gpool;

static void remove_output(void)
{
    static const char *const tails[] = { "", "-wal", "-shm", "-journal" };
    int i;

    for (i = 0; out_path && i < 4; ++i) {
        apr_file_remove(apr_pstrcat(gpool, out_path, tails[i], NULL), gpool);
    }
}

static void fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "gen_store: %s%s%s\n", what, db ? ": " : "",
            db ? sqlite3_errmsg(db) : "");
    if (db) {
        sqlite3_close_v2(db);
    }
    if (out_path) {
        fprintf(stderr, "gen_store: removing the unfinished %s\n", out_path);
        remove_output();
    }
    exit(1);
}

/* ---- random numbers: xoshiro256**, seeded with splitmix64 ------------- */

typedef struct {
    apr_uint64_t s[4];
    int have_normal;
    double normal;
} rng_t;

static apr_uint64_t splitmix64(apr_uint64_t *x)
{
    apr_uint64_t z = (*x += APR_UINT64_C(0x9E3779B97F4A7C15));

    z = (z ^ (z >> 30)) * APR_UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * APR_UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static void rng_seed(rng_t *r, apr_uint64_t seed)
{
    int i;

    for (i = 0; i < 4; ++i) {
        r->s[i] = splitmix64(&seed);
    }
    r->have_normal = 0;
}

static apr_uint64_t rotl(apr_uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static apr_uint64_t rng_next(rng_t *r)
{
    apr_uint64_t *s = r->s;
    apr_uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, 1), 53 bits. */
static double rng_unit(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in 0 .. n-1 (n < 2^32; the bias of the multiply is < 2^-32). */
static apr_uint32_t rng_below(rng_t *r, apr_uint32_t n)
{
    return (apr_uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* Standard normal: Box-Muller, the second value of a pair kept. */
static double rng_normal(rng_t *r)
{
    double u1, u2, m;

    if (r->have_normal) {
        r->have_normal = 0;
        return r->normal;
    }
    u1 = 1.0 - rng_unit(r);     /* (0, 1]: log() stays finite */
    u2 = rng_unit(r);
    m = sqrt(-2.0 * log(u1));
    r->normal = m * sin(TWO_PI * u2);
    r->have_normal = 1;
    return m * cos(TWO_PI * u2);
}

/* lo .. hi, evenly on a log scale. */
static double rng_logrange(rng_t *r, double lo, double hi)
{
    return lo * pow(hi / lo, rng_unit(r));
}

/* ---- routes ------------------------------------------------------------ */

typedef enum {
    K_STATIC, K_PAGE, K_SEARCH, K_LIST, K_ITEM, K_SUB
} kind_t;

typedef struct {
    const char *name;           /* "/api/v1/items/:id" */
    const char *vhost;
    kind_t kind;
    int auth;                   /* authentication does real work */
    int posts;                  /* a page that takes forms */
    double median_us;           /* of the total, for a 200 */
    double err;                 /* share of 5xx */
    double bytes;               /* typical body of a 200 */
    double cum;                 /* popularity of this and all before */
} route_t;

static const char *const resources[] = {
    "items", "users", "orders", "carts", "products", "reviews", "sessions",
    "payments", "invoices", "shipments", "categories", "tags", "comments",
    "notifications", "accounts", "teams", "projects", "files", "events",
    "reports"
};
#define NRES ((int)(sizeof(resources) / sizeof(resources[0])))

static const char *const subs[] = {
    "history", "comments", "attachments", "members", "status", "export"
};
#define NSUB ((int)(sizeof(subs) / sizeof(subs[0])))

static const char *const pages[] = {
    "/", "/login", "/products/:id", "/category/:id", "/cart", "/checkout",
    "/account", "/blog/:id", "/help/:id", "/about"
};
#define NPAGES ((int)(sizeof(pages) / sizeof(pages[0])))

/* Which kind route i is: API routes most, then static files and pages;
 * route 3 is the slow "/search". */
static const kind_t kind_cycle[10] = {
    K_ITEM, K_STATIC, K_LIST, K_PAGE, K_ITEM, K_SUB, K_STATIC, K_ITEM,
    K_LIST, K_PAGE
};

static route_t *make_routes(apr_pool_t *p, rng_t *rng, int n)
{
    route_t *rt = apr_pcalloc(p, sizeof(*rt) * (apr_size_t)n);
    apr_hash_t *seen = apr_hash_make(p);
    int *rank = apr_palloc(p, sizeof(int) * (apr_size_t)n);
    int count[K_SUB + 1] = { 0 };
    double sum = 0;
    int i;

    for (i = 0; i < n; ++i) {
        route_t *r = &rt[i];
        kind_t k = i == 3 ? K_SEARCH : kind_cycle[i % 10];
        int j = count[k]++;

        r->kind = k;
        r->vhost = vhost_www;
        switch (k) {
        case K_STATIC:
            if (j % 3 == 0) {
                r->name = apr_psprintf(p, "/static/app-%d.js", j / 3 + 1);
                r->bytes = rng_logrange(rng, 20000, 400000);
            }
            else if (j % 3 == 1) {
                r->name = apr_psprintf(p, "/static/site-%d.css", j / 3 + 1);
                r->bytes = rng_logrange(rng, 5000, 80000);
            }
            else {
                r->name = apr_psprintf(p, "/static/img/banner-%d.png",
                                       j / 3 + 1);
                r->bytes = rng_logrange(rng, 2000, 200000);
            }
            r->median_us = rng_logrange(rng, 200, 1500);
            break;
        case K_PAGE:
            r->name = j < NPAGES ? pages[j]
                      : apr_psprintf(p, "/docs/section-%d/:id",
                                     j - NPAGES + 1);
            r->auth = !strcmp(r->name, "/login")
                      || !strcmp(r->name, "/checkout")
                      || !strcmp(r->name, "/account");
            r->posts = r->auth;
            r->median_us = rng_logrange(rng, 8000, 150000);
            r->bytes = rng_logrange(rng, 8000, 60000);
            break;
        case K_SEARCH:
            r->name = "/search";
            r->median_us = 300000;
            r->bytes = 30000;
            break;
        case K_LIST:
            r->name = apr_psprintf(p, "/api/v%d/%s", 1 + j / NRES,
                                   resources[j % NRES]);
            r->median_us = rng_logrange(rng, 4000, 80000);
            r->bytes = rng_logrange(rng, 2000, 50000);
            break;
        case K_ITEM:
            r->name = apr_psprintf(p, "/api/v%d/%s/:id", 1 + j / NRES,
                                   resources[j % NRES]);
            r->median_us = rng_logrange(rng, 1000, 25000);
            r->bytes = rng_logrange(rng, 300, 5000);
            break;
        case K_SUB:
            r->name = apr_psprintf(p, "/api/v%d/%s/:id/%s",
                                   1 + j / (NRES * NSUB), resources[j % NRES],
                                   subs[(j / NRES) % NSUB]);
            r->median_us = rng_logrange(rng, 2000, 60000);
            r->bytes = rng_logrange(rng, 500, 20000);
            break;
        }
        if (k == K_LIST || k == K_ITEM || k == K_SUB) {
            r->vhost = vhost_api;
            r->auth = 1;
        }
        /* 5xx: rare for files; for the rest about 1.2 % on average, some
         * routes much worse than others (log-normal, mean 1). */
        r->err = k == K_STATIC ? 0.0005
                 : 0.012 * exp(0.8 * rng_normal(rng) - 0.32);
        if (r->err > 0.2) {
            r->err = 0.2;
        }
        if (apr_hash_get(seen, r->name, APR_HASH_KEY_STRING)) {
            fprintf(stderr, "gen_store: route %s twice\n", r->name);
            exit(1);
        }
        apr_hash_set(seen, r->name, APR_HASH_KEY_STRING, r);
    }
    /* Popularity: Zipf-like weights 1/(rank+1)^0.9 over a shuffled order,
     * so that no kind of route is always the popular one. */
    for (i = 0; i < n; ++i) {
        rank[i] = i;
    }
    for (i = n - 1; i > 0; --i) {
        int j = (int)rng_below(rng, (apr_uint32_t)i + 1), t = rank[i];

        rank[i] = rank[j];
        rank[j] = t;
    }
    for (i = 0; i < n; ++i) {
        sum += 1.0 / pow(rank[i] + 1.0, 0.9);
        rt[i].cum = sum;
    }
    for (i = 0; i < n; ++i) {
        rt[i].cum /= sum;
    }
    rt[n - 1].cum = 1.0;
    return rt;
}

static const route_t *pick_route(rng_t *rng, const route_t *rt, int n)
{
    double u = rng_unit(rng);
    int lo = 0, hi = n - 1;

    while (lo < hi) {
        int mid = (lo + hi) / 2;

        if (rt[mid].cum > u) {
            hi = mid;
        }
        else {
            lo = mid + 1;
        }
    }
    return &rt[lo];
}

/* ---- one request ------------------------------------------------------- */

typedef struct {
    prof_row_t row;             /* strings: the routes' and path[] */
    int server;
    apr_int64_t id;
    char path[PROF_ROW_ROUTE_MAX + 64];
    prof_row_span_t spans[MAX_SPANS];
} gen_t;

/* The route with a number in place of every ":id". */
static void make_path(rng_t *rng, const route_t *rt, char *out,
                      apr_size_t size)
{
    const char *c = rt->name, *id;
    apr_size_t o = 0;

    while ((id = strstr(c, ":id")) != NULL && o < size) {
        apr_size_t len = (apr_size_t)(id - c);

        if (len >= size - o) {
            break;
        }
        memcpy(out + o, c, len);
        o += len;
        o += (apr_size_t)apr_snprintf(out + o, size - o, "%u",
                                      1 + rng_below(rng, 200000));
        c = id + 3;
    }
    apr_cpystrn(out + (o < size ? o : size - 1), c,
                size - (o < size ? o : size - 1));
}

static const char *pick_method(rng_t *rng, const route_t *rt)
{
    double u = rng_unit(rng);

    switch (rt->kind) {
    case K_PAGE:
        return u < (rt->posts ? 0.15 : 0.01) ? "POST" : "GET";
    case K_LIST:
        return u < 0.20 ? "POST" : "GET";
    case K_ITEM:
        return u < 0.80 ? "GET" : u < 0.95 ? "PUT" : "DELETE";
    case K_SUB:
        return u < 0.12 ? "POST" : "GET";
    default:
        return "GET";
    }
}

/* The status, and how much slower (> 1) or faster than a 200 it is. */
static int pick_status(rng_t *rng, const route_t *rt, const char *method,
                       double *factor)
{
    double u = rng_unit(rng), v;
    int api = rt->kind == K_LIST || rt->kind == K_ITEM || rt->kind == K_SUB;

    *factor = 1.0;
    if (u < rt->err) {
        v = rng_unit(rng);
        if (v < 0.7) {
            return 500;
        }
        *factor = v < 0.85 ? 3.0 : 0.05;    /* gateway timeout, shed load */
        return v < 0.85 ? 502 : 503;
    }
    v = rng_unit(rng);
    if (rt->kind == K_STATIC) {
        *factor = v < 0.21 ? 0.5 : 1.0;
        return v < 0.20 ? 304 : v < 0.21 ? 404 : 200;
    }
    if (!api) {
        *factor = v < 0.06 ? 0.6 : 1.0;
        return v < 0.04 ? 304 : v < 0.06 ? 404 : 200;
    }
    if (method[0] == 'G') {
        *factor = v < 0.05 ? 0.3 : 1.0;
        return v < 0.03 ? 404 : v < 0.04 ? 304 : v < 0.05 ? 401 : 200;
    }
    if (v < 0.05) {
        *factor = 0.3;
        return 400;
    }
    return method[0] == 'D' ? 204 : 200;
}

static apr_int64_t scaled(apr_int64_t v, apr_int64_t num, apr_int64_t den)
{
    return den ? v * num / den : 0;
}

static void gen_request(rng_t *rng, const route_t *routes, int nroutes,
                        apr_int64_t start_us, gen_t *g)
{
    const route_t *rt = pick_route(rng, routes, nroutes);
    prof_row_t *row = &g->row;
    apr_int64_t *d = row->dur_us;
    apr_int64_t total, small = 0, rest, gap, max_small;
    double factor, read_frac, body_frac;
    int k, post;

    memset(row, 0, sizeof(*row));
    g->server = (int)rng_below(rng, SERVERS);
    row->start_us = start_us;
    row->vhost = rt->vhost;
    row->route = rt->name;
    row->method = pick_method(rng, rt);
    row->protocol = rng_unit(rng) < 0.6 ? "HTTP/2.0" : "HTTP/1.1";
    row->status = pick_status(rng, rt, row->method, &factor);
    row->weight = 1;
    make_path(rng, rt, g->path, sizeof(g->path));
    row->path = g->path;
    post = row->method[0] == 'P';

    total = (apr_int64_t)(rt->median_us * factor * exp(0.8 * rng_normal(rng)));
    total = total < 30 ? 30 : total > 600000000 ? 600000000 : total;

    /* The phases before the handler and the log: a few microseconds each,
     * more for authentication on routes that have it. */
    d[PROF_PHASE_POSTREAD] = 1 + rng_below(rng, 4);
    d[PROF_PHASE_QUICK] = rng_below(rng, 2);
    d[PROF_PHASE_TRANSLATE] = 2 + rng_below(rng, 8);
    d[PROF_PHASE_STORAGE] = (rt->kind == K_STATIC ? 10 : 3)
                            + rng_below(rng, 25);
    d[PROF_PHASE_HEADERS] = rng_below(rng, 3);
    d[PROF_PHASE_ACCESS] = 1 + rng_below(rng, 5);
    d[PROF_PHASE_AUTHN] = rt->auth
        ? (apr_int64_t)(40 * exp(0.7 * rng_normal(rng))) : rng_below(rng, 2);
    d[PROF_PHASE_AUTHZ] = rt->auth ? 5 + rng_below(rng, 40)
                                   : rng_below(rng, 3);
    d[PROF_PHASE_TYPE] = 1 + rng_below(rng, 4);
    d[PROF_PHASE_FIXUPS] = 1 + rng_below(rng, 5);
    d[PROF_PHASE_LOG] = 5 + rng_below(rng, 30);
    for (k = PROF_PHASE_POSTREAD; k < PROF_PHASE_TOTAL; ++k) {
        small += d[k];
    }
    /* Never more than a quarter of a short request. */
    max_small = total / 4;
    if (small > max_small) {
        apr_int64_t s2 = 0;

        for (k = PROF_PHASE_POSTREAD; k < PROF_PHASE_TOTAL; ++k) {
            d[k] = scaled(d[k], max_small, small);
            s2 += d[k];
        }
        small = s2;
    }
    /* The rest is reading the request, the handler and the body, and a
     * little time between phases that no phase accounts for. */
    rest = total - small;
    gap = (apr_int64_t)((double)rest * 0.01 * rng_unit(rng));
    rest -= gap;
    read_frac = post ? 0.10 + 0.30 * rng_unit(rng)
                     : 0.02 + 0.08 * rng_unit(rng);
    body_frac = rt->kind == K_STATIC ? 0.20 + 0.40 * rng_unit(rng)
                                     : 0.02 + 0.13 * rng_unit(rng);
    d[PROF_PHASE_READ] = (apr_int64_t)((double)rest * read_frac);
    d[PROF_PHASE_BODY] = (apr_int64_t)((double)rest * body_frac);
    d[PROF_PHASE_HANDLER] = rest - d[PROF_PHASE_READ] - d[PROF_PHASE_BODY];
    d[PROF_PHASE_TOTAL] = total;
    /* Phase starts (schema 4): one after the other, the unaccounted gap
     * before the body; a phase of 0 us ran but took no time. */
    {
        apr_int64_t at = 0;

        for (k = 0; k < PROF_PHASE_TOTAL; ++k) {
            if (k == PROF_PHASE_BODY) {
                at += gap;
            }
            row->first_us[k] = at;
            at += d[k];
        }
        row->first_us[PROF_PHASE_TOTAL] = -1;
    }
    /* The headers leave before the body and the log. */
    row->ttfb_us = total - d[PROF_PHASE_BODY] - d[PROF_PHASE_LOG] - gap / 2;
    if (row->ttfb_us < 0) {
        row->ttfb_us = 0;
    }

    if (row->status == 304 || row->status == 204) {
        row->bytes_sent = 0;
    }
    else if (row->status >= 400) {
        row->bytes_sent = 150 + rng_below(rng, 400);
    }
    else if (rt->kind == K_STATIC) {
        row->bytes_sent = (apr_int64_t)rt->bytes;
    }
    else {
        row->bytes_sent = (apr_int64_t)(rt->bytes
                                        * exp(0.3 * rng_normal(rng)));
    }

    /* A few spans on one request in twenty: what a module or application
     * measured inside the handler. */
    if (rng_unit(rng) < 0.05) {
        static const char *const names[MAX_SPANS] = {
            "db", "cache", "upstream", "render"
        };
        static const char *const descs[MAX_SPANS] = {
            "SELECT", "redis GET", "backend:8080", NULL
        };
        apr_int64_t h0 = d[PROF_PHASE_READ] + small - d[PROF_PHASE_LOG];
        apr_int64_t hlen = d[PROF_PHASE_HANDLER];
        apr_uint32_t n = 1 + rng_below(rng, MAX_SPANS), j;

        for (j = 0; j < n; ++j) {
            prof_row_span_t *sp = &g->spans[j];

            sp->name = names[j];
            sp->desc = descs[j];
            sp->index = (apr_int32_t)j;
            sp->parent = j > 0 && rng_unit(rng) < 0.3 ? 0 : -1;
            sp->metric = j == 1;
            sp->start_us = h0 + (apr_int64_t)((double)hlen * 0.5
                                              * rng_unit(rng));
            sp->dur_us = (apr_int64_t)((double)hlen * 0.5 * rng_unit(rng));
        }
        row->nspans = n;
        row->spans = g->spans;
    }
}

/* ---- statements -------------------------------------------------------- */

/* An apr_dbd format as SQLite takes it: '?' for each %s, %d and %lld, the
 * parameter types kept in order ('s', 'd', 'L'); "%%" is a '%'. */
typedef struct {
    sqlite3_stmt *st;
    int n;
    char *types;
} stmt_t;

static void stmt_prepare(sqlite3 *db, apr_pool_t *p, const char *fmt,
                         stmt_t *out)
{
    apr_size_t len = strlen(fmt);
    char *sql = apr_palloc(p, len + 1), *o = sql;
    const char *c = fmt;

    out->types = apr_palloc(p, len / 2 + 1);
    out->n = 0;
    while (*c) {
        if (*c != '%') {
            *o++ = *c++;
        }
        else if (c[1] == '%') {
            *o++ = '%';
            c += 2;
        }
        else {
            if (!strncmp(c, "%lld", 4)) {
                out->types[out->n] = 'L';
                c += 4;
            }
            else if (c[1] == 'd' || c[1] == 's') {
                out->types[out->n] = c[1];
                c += 2;
            }
            else {
                fail(NULL, apr_psprintf(p, "unknown format in: %s", fmt));
            }
            ++out->n;
            *o++ = '?';
        }
    }
    *o = '\0';
    out->types[out->n] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &out->st, NULL) != SQLITE_OK) {
        fail(db, apr_psprintf(p, "cannot prepare %.200s", sql));
    }
    if (sqlite3_bind_parameter_count(out->st) != out->n) {
        fail(NULL, apr_psprintf(p, "parameters do not match in %.200s", sql));
    }
}

/* Bind args as apr_dbd_pbquery() does: pointers by the format's types,
 * NULL for SQL NULL. Strings must live until the statement is reset. */
static void stmt_bind(sqlite3 *db, stmt_t *s, const void *const *args)
{
    int i, rc = SQLITE_OK;

    for (i = 0; i < s->n && rc == SQLITE_OK; ++i) {
        if (args[i] == NULL) {
            rc = sqlite3_bind_null(s->st, i + 1);
        }
        else if (s->types[i] == 's') {
            rc = sqlite3_bind_text(s->st, i + 1, args[i], -1, SQLITE_STATIC);
        }
        else if (s->types[i] == 'd') {
            rc = sqlite3_bind_int(s->st, i + 1, *(const int *)args[i]);
        }
        else {
            rc = sqlite3_bind_int64(s->st, i + 1,
                                    *(const apr_int64_t *)args[i]);
        }
    }
    if (rc != SQLITE_OK) {
        fail(db, "cannot bind");
    }
}

/* Run a statement that returns no rows. */
static void stmt_run(sqlite3 *db, stmt_t *s, const void *const *args)
{
    stmt_bind(db, s, args);
    if (sqlite3_step(s->st) != SQLITE_DONE) {
        fail(db, "statement failed");
    }
    sqlite3_reset(s->st);
}

static void exec(sqlite3 *db, const char *sql)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
        fail(db, sql);
    }
}

static apr_int64_t one_value(sqlite3 *db, const char *sql, int col)
{
    sqlite3_stmt *st = NULL;
    apr_int64_t v;

    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK
        || sqlite3_step(st) != SQLITE_ROW) {
        fail(db, sql);
    }
    v = sqlite3_column_int64(st, col);
    sqlite3_finalize(st);
    return v;
}

/* ---- the generator ----------------------------------------------------- */

typedef struct {
    sqlite3 *db;
    apr_pool_t *pool;           /* statements, for the whole run */
    apr_pool_t *batch;          /* cleared after every transaction */
    stmt_t stmt[PROF_STMT_COUNT];
    stmt_t rows[2][ROW_SIZES];  /* [requests, spans][2^k rows] */
    apr_int64_t writer_id[SERVERS];
    apr_uint32_t seq[SERVERS];
    apr_uint64_t written[SERVERS];
    prof_rollup_t *agg[SERVERS];    /* per minute */
    prof_rollup_t *hour[SERVERS];   /* per hour */
    /* The multi-row inserts being filled. */
    gen_t req[PROF_SQL_ROWS_MAX];
    int nreq;
    const void *req_args[PROF_SQL_ROWS_MAX * REQUEST_PARAMS];
    int req_int[PROF_SQL_ROWS_MAX][3];  /* status, weight, spans_dropped */
    char req_starts[PROF_SQL_ROWS_MAX][PROF_ROW_STARTS_MAX];
    prof_row_span_t span[PROF_SQL_ROWS_MAX];
    apr_int64_t span_id[PROF_SQL_ROWS_MAX];
    int span_int[PROF_SQL_ROWS_MAX][3]; /* seq, parent, metric */
    int nspan;
    const void *span_args[PROF_SQL_ROWS_MAX * SPAN_PARAMS];
    /* What was written. */
    apr_uint64_t nspans_total, rollup_merges, hour_merges;
    apr_uint64_t by_class[6], by_method[4];
    apr_int64_t last_us;
} gen_db_t;

/* Insert nrows rows whose parameters are in args, in as few statements as
 * the sizes allow (21 rows: 16 + 4 + 1), as insert_rows() in the store. */
static void insert_rows(gen_db_t *g, int span, const void **args,
                        int nparams, int nrows)
{
    int k;

    for (k = ROW_SIZES - 1; nrows > 0; --k) {
        if (nrows < (1 << k)) {
            continue;
        }
        stmt_run(g->db, &g->rows[span][k], args);
        args += nparams << k;
        nrows -= 1 << k;
    }
}

static void flush_requests(gen_db_t *g)
{
    int i, k;

    for (i = 0; i < g->nreq; ++i) {
        const gen_t *q = &g->req[i];
        const void **a = g->req_args + i * REQUEST_PARAMS;

        g->req_int[i][0] = q->row.status;
        g->req_int[i][1] = (int)q->row.weight;
        g->req_int[i][2] = (int)q->row.spans_dropped;
        a[0] = &q->id;
        a[1] = server_names[q->server];
        a[2] = q->row.vhost;
        a[3] = &q->row.start_us;
        a[4] = q->row.method;
        a[5] = q->row.route;
        a[6] = q->row.path;
        a[7] = q->row.query;
        a[8] = &g->req_int[i][0];
        a[9] = q->row.protocol;
        a[10] = &q->row.bytes_sent;
        a[11] = &q->row.dur_us[PROF_PHASE_TOTAL];
        a[12] = &q->row.ttfb_us;
        for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
            a[13 + k] = &q->row.dur_us[k];
        }
        a[13 + PROF_SQL_PHASE_COLUMNS] = &g->req_int[i][1];
        a[14 + PROF_SQL_PHASE_COLUMNS] = &g->req_int[i][2];
        a[15 + PROF_SQL_PHASE_COLUMNS] = prof_row_phase_starts(
            &q->row, g->req_starts[i], sizeof(g->req_starts[i]));
    }
    insert_rows(g, 0, g->req_args, REQUEST_PARAMS, g->nreq);
    g->nreq = 0;
}

static void flush_spans(gen_db_t *g)
{
    int i;

    for (i = 0; i < g->nspan; ++i) {
        const prof_row_span_t *sp = &g->span[i];
        const void **a = g->span_args + i * SPAN_PARAMS;

        g->span_int[i][0] = sp->index;
        g->span_int[i][1] = sp->parent;
        g->span_int[i][2] = sp->metric;
        a[0] = &g->span_id[i];
        a[1] = &g->span_int[i][0];
        a[2] = sp->name;
        a[3] = sp->desc;
        a[4] = sp->parent >= 0 ? (const void *)&g->span_int[i][1] : NULL;
        a[5] = &sp->start_us;
        a[6] = &sp->dur_us;
        a[7] = &g->span_int[i][2];
    }
    insert_rows(g, 1, g->span_args, SPAN_PARAMS, g->nspan);
    g->nspan = 0;
}

/* Merge one aggregate into its database row, as merge_rollup() in the
 * store: make sure the row exists, read it, add, write it back; into the
 * minute table, or with hourly the hour table (the same columns, keyed by
 * hour_us, which the entry's minute_us then holds). */
static void merge_rollup(gen_db_t *g, const char *server,
                         prof_rollup_entry_t *e, int hourly)
{
    const int ensure = hourly ? PROF_STMT_HOUR_ENSURE
                              : PROF_STMT_ROLLUP_ENSURE;
    const int select = hourly ? PROF_STMT_HOUR_SELECT
                              : PROF_STMT_ROLLUP_SELECT;
    const int update = hourly ? PROF_STMT_HOUR_UPDATE
                              : PROF_STMT_ROLLUP_UPDATE;
    sqlite3_stmt *sel = g->stmt[select].st;
    prof_rollup_entry_t old;
    const void *key[6], *args[22 + 6];
    apr_int64_t v[21];
    int k, rc;

    key[0] = &e->minute_us;
    key[1] = server;
    key[2] = e->vhost;
    key[3] = e->route;
    key[4] = e->method;
    key[5] = &e->status_class;
    stmt_run(g->db, &g->stmt[ensure], key);
    stmt_bind(g->db, &g->stmt[select], key);
    if ((rc = sqlite3_step(sel)) != SQLITE_ROW) {
        fail(g->db, "a rollup row is missing after its ensure");
    }
    memset(&old, 0, sizeof(old));
    if (sqlite3_column_int64(sel, 0) > 0) {
        const char *hist = (const char *)sqlite3_column_text(sel, 21);
        apr_size_t len = (apr_size_t)sqlite3_column_bytes(sel, 21);

        if (prof_hist_decode(hist, len, &old.hist) != APR_SUCCESS
            || old.hist.count != (apr_uint64_t)sqlite3_column_int64(sel, 0)) {
            fail(NULL, "a rollup row has a damaged histogram");
        }
        old.samples = (apr_uint64_t)sqlite3_column_int64(sel, 1);
        old.hist.sum = (apr_uint64_t)sqlite3_column_int64(sel, 2);
        old.hist.min = sqlite3_column_int64(sel, 3);
        old.hist.max = sqlite3_column_int64(sel, 4);
        old.ttfb_sum_us = (apr_uint64_t)sqlite3_column_int64(sel, 5);
        old.bytes_sum = (apr_uint64_t)sqlite3_column_int64(sel, 6);
        for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
            old.phase_sum_us[k] = (apr_uint64_t)sqlite3_column_int64(sel,
                                                                     7 + k);
        }
        old.phase_sum_us[PROF_PHASE_TOTAL] = old.hist.sum;
        if (hourly) {
            ++g->hour_merges;
        }
        else {
            ++g->rollup_merges;
        }
    }
    sqlite3_reset(sel);
    prof_rollup_entry_merge(e, &old);

    /* Whole-run sums stay far below 2^63: no clamping needed here. */
    v[0] = (apr_int64_t)e->hist.count;
    v[1] = (apr_int64_t)e->samples;
    v[2] = (apr_int64_t)e->hist.sum;
    v[3] = e->hist.min;
    v[4] = e->hist.max;
    v[5] = (apr_int64_t)e->ttfb_sum_us;
    v[6] = (apr_int64_t)e->bytes_sum;
    for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
        v[7 + k] = (apr_int64_t)e->phase_sum_us[k];
    }
    for (k = 0; k < 21; ++k) {
        args[k] = &v[k];
    }
    args[21] = prof_hist_encode(g->batch, &e->hist);
    for (k = 0; k < 6; ++k) {
        args[22 + k] = key[k];
    }
    stmt_run(g->db, &g->stmt[update], args);
}

/* The end of a batch: the rest of its rows, its rollups and the writers'
 * counters, then COMMIT; a fresh transaction and aggregators follow. Each
 * server's rollups as its writer merges them: per minute, then per hour. */
static void end_batch(gen_db_t *g, int more)
{
    int s, k, hourly;

    flush_requests(g);
    flush_spans(g);
    for (s = 0; s < SERVERS; ++s) {
        for (hourly = 0; hourly < 2; ++hourly) {
            apr_array_header_t *entries =
                prof_rollup_sorted(hourly ? g->hour[s] : g->agg[s]);

            for (k = 0; k < entries->nelts; ++k) {
                merge_rollup(g, server_names[s],
                             APR_ARRAY_IDX(entries, k, prof_rollup_entry_t *),
                             hourly);
            }
        }
    }
    for (s = 0; s < SERVERS; ++s) {
        apr_int64_t written = (apr_int64_t)g->written[s], zero = 0;
        const void *args[5];

        args[0] = &g->last_us;
        args[1] = &written;
        args[2] = &zero;
        args[3] = &zero;
        args[4] = &g->writer_id[s];
        stmt_run(g->db, &g->stmt[PROF_STMT_WRITER_UPDATE], args);
    }
    exec(g->db, "COMMIT");
    apr_pool_clear(g->batch);
    if (more) {
        exec(g->db, "BEGIN IMMEDIATE");
        for (s = 0; s < SERVERS; ++s) {
            g->agg[s] = prof_rollup_create(g->batch);
            g->hour[s] = prof_rollup_create_period(g->batch, HOUR_US);
        }
    }
}

/* A writer row, as register_writer() in the store: its id is what the
 * request ids of its rows start with. */
static void register_writer(gen_db_t *g, int s, apr_int64_t now_us,
                            rng_t *rng)
{
    sqlite3_stmt *sel = g->stmt[PROF_STMT_WRITER_SELECT].st;
    apr_int64_t nonce = (apr_int64_t)(rng_next(rng) >> 1);
    int pid = 10000 + s;        /* no real process: a fixed number */
    const void *args[5];

    args[0] = server_names[s];
    args[1] = &pid;
    args[2] = &nonce;
    args[3] = &now_us;
    args[4] = &now_us;
    stmt_run(g->db, &g->stmt[PROF_STMT_WRITER_INSERT], args);
    args[0] = &nonce;
    args[1] = server_names[s];
    args[2] = &pid;
    stmt_bind(g->db, &g->stmt[PROF_STMT_WRITER_SELECT], args);
    if (sqlite3_step(sel) != SQLITE_ROW) {
        fail(g->db, "cannot read the writer's id back");
    }
    g->writer_id[s] = sqlite3_column_int64(sel, 0);
    sqlite3_reset(sel);
    g->seq[s] = 0;
}

/* The schema as ensure_schema() in the store makes it on a new file: the
 * connection settings, every migration from version 0 in one transaction,
 * the version recorded.
 *
 * The report takes the first hour in rollups_hour as possibly partial
 * (prof_sql_hourly_first()) and whole hours after it from that table. Here
 * every request goes into the hourly rollups from the first one on, so
 * that holds with nothing more written. */
static void make_schema(gen_db_t *g, const char *prefix)
{
    const char *const *setup;
    apr_int64_t now = apr_time_now();
    const void *args[1];
    stmt_t set;
    int from;

    for (setup = prof_sql_connection_setup(PROF_SQL_SQLITE); *setup;
         ++setup) {
        exec(g->db, *setup);
    }
    exec(g->db, "BEGIN IMMEDIATE");
    for (from = 0; from < PROF_SQL_SCHEMA_VERSION; ++from) {
        const char **stmt = prof_sql_migration(g->pool, PROF_SQL_SQLITE,
                                               prefix, from);

        for (; stmt && *stmt; ++stmt) {
            exec(g->db, *stmt);
        }
    }
    stmt_prepare(g->db, g->pool,
                 prof_sql_schema_set(g->pool, PROF_SQL_SQLITE, prefix,
                                     PROF_SQL_SCHEMA_VERSION), &set);
    args[0] = &now;
    stmt_run(g->db, &set, args);
    sqlite3_finalize(set.st);
    exec(g->db, "COMMIT");
}

static void prepare_all(gen_db_t *g, const char *prefix)
{
    int w, k;

    for (w = 0; w < PROF_STMT_COUNT; ++w) {
        stmt_prepare(g->db, g->pool,
                     prof_sql_stmt(g->pool, PROF_SQL_SQLITE, prefix,
                                   (prof_sql_stmt_t)w), &g->stmt[w]);
    }
    for (w = 0; w < 2; ++w) {
        for (k = 0; k < ROW_SIZES; ++k) {
            stmt_prepare(g->db, g->pool,
                         prof_sql_insert_rows(g->pool, PROF_SQL_SQLITE,
                                              prefix,
                                              w ? PROF_STMT_SPAN_INSERT
                                                : PROF_STMT_REQUEST_INSERT,
                                              1 << k), &g->rows[w][k]);
        }
    }
}

static void finalize_all(gen_db_t *g)
{
    int w, k;

    for (w = 0; w < PROF_STMT_COUNT; ++w) {
        sqlite3_finalize(g->stmt[w].st);
    }
    for (w = 0; w < 2; ++w) {
        for (k = 0; k < ROW_SIZES; ++k) {
            sqlite3_finalize(g->rows[w][k].st);
        }
    }
}

/* ---- the check --------------------------------------------------------- */

typedef struct {
    apr_int64_t hour;           /* its start, us since the epoch */
    apr_int64_t minutes;        /* sum(count) of its minute rollups */
    apr_int64_t hourly;         /* sum(count) of its hourly rollups */
} hour_sums_t;

typedef struct {
    apr_int64_t minute_sum;     /* sum(count) of all minute rollups */
    apr_int64_t hour_sum;       /* ... of all hourly rollups */
    apr_int64_t hour_rows;      /* count(*) of the hourly rollups */
    apr_int64_t hours;          /* hours in either table */
    apr_int64_t bad;            /* hours whose two sums differ */
    hour_sums_t first_bad;      /* the earliest of those */
} hour_check_t;

static hour_sums_t *hour_sums(apr_hash_t *h, apr_int64_t hour)
{
    hour_sums_t *e = apr_hash_get(h, &hour, sizeof(hour));

    if (e == NULL) {
        e = apr_pcalloc(apr_hash_pool_get(h), sizeof(*e));
        e->hour = hour;
        apr_hash_set(h, &e->hour, sizeof(e->hour), e);
    }
    return e;
}

/* The sums of count per hour in both rollup tables, compared: one pass
 * over each table. The minute table's (a million rows and more) are added
 * up per hour here, in the order the rows come, rather than by a GROUP BY
 * on a computed hour that SQLite would sort; there are only as many hours
 * as -H. An hourly row off a whole hour has no minutes: it shows too. */
static void check_hours(gen_db_t *g, const char *prefix, hour_check_t *c)
{
    apr_hash_t *h = apr_hash_make(g->batch);
    apr_hash_index_t *hi;
    sqlite3_stmt *st = NULL;
    const char *sql;
    int pass, rc;

    memset(c, 0, sizeof(*c));
    for (pass = 0; pass < 2; ++pass) {
        sql = pass ? apr_pstrcat(g->batch, "SELECT hour_us, sum(count), "
                                 "count(*) FROM ", prefix, "rollups_hour "
                                 "GROUP BY hour_us", NULL)
                   : apr_pstrcat(g->batch, "SELECT minute_us, count FROM ",
                                 prefix, "rollups", NULL);
        if (sqlite3_prepare_v2(g->db, sql, -1, &st, NULL) != SQLITE_OK) {
            fail(g->db, sql);
        }
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            apr_int64_t t = sqlite3_column_int64(st, 0);
            apr_int64_t n = sqlite3_column_int64(st, 1);

            if (pass) {
                hour_sums(h, t)->hourly += n;
                c->hour_sum += n;
                c->hour_rows += sqlite3_column_int64(st, 2);
            }
            else {
                t -= ((t % HOUR_US) + HOUR_US) % HOUR_US;
                hour_sums(h, t)->minutes += n;
                c->minute_sum += n;
            }
        }
        if (rc != SQLITE_DONE) {
            fail(g->db, sql);
        }
        sqlite3_finalize(st);
    }
    for (hi = apr_hash_first(g->batch, h); hi; hi = apr_hash_next(hi)) {
        const hour_sums_t *e = apr_hash_this_val(hi);

        ++c->hours;
        if (e->minutes != e->hourly) {
            if (!c->bad++ || e->hour < c->first_bad.hour) {
                c->first_bad = *e;
            }
        }
    }
}

/* ---- main -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: gen_store [-n rows] [-r routes] [-H hours] [-s seed]\n"
        "                 [--end epoch_s] [-f] FILE.db\n"
        "  -n, --rows N     requests to generate (10000000; k and M suffixes)\n"
        "  -r, --routes R   distinct routes (200, at most %d)\n"
        "  -H, --hours H    hours the requests spread over (24)\n"
        "  -s, --seed S     random seed (1)\n"
        "      --end T      the end of that time, in seconds since the epoch\n"
        "                   (now)\n"
        "  -f, --force      replace FILE.db if it exists\n", ROUTES_MAX);
}

/* A count with an optional k or M suffix; -1 if malformed. */
static apr_int64_t parse_count(const char *s)
{
    char *end;
    apr_int64_t v = apr_strtoi64(s, &end, 10);

    if (end == s || v < 0) {
        return -1;
    }
    if (*end == 'k' || *end == 'K') {
        v *= 1000;
        ++end;
    }
    else if (*end == 'M' || *end == 'm') {
        v *= 1000000;
        ++end;
    }
    return *end ? -1 : v;
}

int main(int argc, char **argv_in)
{
    static const apr_getopt_option_t opts[] = {
        { "rows", 'n', 1, "requests" },
        { "routes", 'r', 1, "routes" },
        { "hours", 'H', 1, "hours" },
        { "seed", 's', 1, "seed" },
        { "end", 256, 1, "end" },
        { "force", 'f', 0, "replace" },
        { "help", 'h', 0, "help" },
        { NULL, 0, 0, NULL }
    };
    const char *const *argv = (const char *const *)argv_in;
    const char *prefix = PROF_SQL_DEFAULT_PREFIX, *arg, *path;
    apr_int64_t nrows = 10000000, nroutes = 200, end_s, seed = 1;
    apr_int64_t begin_us, span_us, i, batch_rows = 0, last_minute = -1;
    apr_int64_t count, rollups, rollup_count, spans;
    hour_check_t hc;
    double hours = 24, secs;
    apr_time_t t0, t1;
    clock_t c0;
    int force = 0, optch, s;
    apr_getopt_t *os;
    apr_finfo_t fi;
    apr_status_t rv;
    route_t *routes;
    gen_db_t *g;
    rng_t rng;
    char *end;

    apr_app_initialize(&argc, &argv, NULL);
    atexit(apr_terminate);
    apr_pool_create(&gpool, NULL);
    end_s = apr_time_sec(apr_time_now());

    apr_getopt_init(&os, gpool, argc, argv);
    while ((rv = apr_getopt_long(os, opts, &optch, &arg)) == APR_SUCCESS) {
        switch (optch) {
        case 'n':
            nrows = parse_count(arg);
            break;
        case 'r':
            nroutes = parse_count(arg);
            break;
        case 'H':
            hours = strtod(arg, &end);
            if (*end || !(hours > 0 && hours <= 24 * 3660)) {
                hours = -1;
            }
            break;
        case 's':
            seed = apr_strtoi64(arg, &end, 10);
            if (*end) {
                seed = -1;
            }
            break;
        case 256:
            end_s = apr_strtoi64(arg, &end, 10);
            if (*end || end_s <= 0) {
                end_s = -1;
            }
            break;
        case 'f':
            force = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        }
    }
    if (rv != APR_EOF || os->ind != argc - 1) {
        usage(stderr);
        return 2;
    }
    if (nrows < 1 || nrows > APR_INT64_C(0xFFFFFFFF) || nroutes < 1
        || nroutes > ROUTES_MAX || hours <= 0 || seed < 0 || end_s <= 0) {
        fprintf(stderr, "gen_store: -n must be 1..4294967295, -r 1..%d, "
                "-H a positive number of hours, -s a whole number >= 0, "
                "--end seconds since the epoch\n", ROUTES_MAX);
        return 2;
    }
    path = argv[os->ind];
    if (apr_stat(&fi, path, APR_FINFO_TYPE, gpool) == APR_SUCCESS) {
        if (!force) {
            fprintf(stderr, "gen_store: %s exists (-f replaces it)\n", path);
            return 2;
        }
        out_path = path;
        remove_output();
    }
    out_path = path;

    g = calloc(1, sizeof(*g));
    if (g == NULL) {
        fail(NULL, "out of memory");
    }
    g->pool = gpool;
    apr_pool_create(&g->batch, gpool);
    if (sqlite3_open_v2(path, &g->db, SQLITE_OPEN_READWRITE
                        | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fail(g->db, apr_psprintf(gpool, "cannot create %s", path));
    }
    make_schema(g, prefix);
    /* While generating: no syncing (a crash loses a benchmark file, which
     * is made again), and a cache that holds the indexes' working set. */
    exec(g->db, "PRAGMA synchronous = OFF");
    exec(g->db, "PRAGMA cache_size = -65536");
    prepare_all(g, prefix);

    rng_seed(&rng, (apr_uint64_t)seed);
    routes = make_routes(gpool, &rng, (int)nroutes);
    span_us = (apr_int64_t)(hours * 3600.0 * 1e6);
    begin_us = end_s * APR_USEC_PER_SEC - span_us;

    t0 = apr_time_now();
    c0 = clock();
    exec(g->db, "BEGIN IMMEDIATE");
    for (s = 0; s < SERVERS; ++s) {
        register_writer(g, s, begin_us, &rng);
        g->agg[s] = prof_rollup_create(g->batch);
        g->hour[s] = prof_rollup_create_period(g->batch, HOUR_US);
    }
    for (i = 0; i < nrows; ++i) {
        /* Evenly spread and in order: row i falls somewhere in the i-th
         * of nrows equal slices of the time. */
        apr_int64_t start = begin_us
            + (apr_int64_t)(((double)i + rng_unit(&rng)) * (double)span_us
                            / (double)nrows);
        apr_int64_t minute = prof_row_minute_us(start);
        gen_t *q;
        apr_uint32_t j;

        if ((batch_rows >= BATCH_ROWS && minute != last_minute)
            || batch_rows >= BATCH_ROWS_MAX) {
            end_batch(g, 1);
            batch_rows = 0;
        }
        last_minute = minute;
        q = &g->req[g->nreq];
        gen_request(&rng, routes, (int)nroutes, start, q);
        q->id = (g->writer_id[q->server] << 32)
                | (apr_int64_t)(++g->seq[q->server]);
        ++g->written[q->server];
        g->last_us = start;
        prof_rollup_add(g->agg[q->server], &q->row);
        prof_rollup_add(g->hour[q->server], &q->row);
        ++g->by_class[prof_row_status_class(q->row.status)];
        ++g->by_method[q->row.method[0] == 'G' ? 0 : q->row.method[1] == 'O'
                       ? 1 : q->row.method[0] == 'P' ? 2 : 3];
        for (j = 0; j < q->row.nspans; ++j) {
            g->span[g->nspan] = q->row.spans[j];
            g->span_id[g->nspan] = q->id;
            if (++g->nspan == PROF_SQL_ROWS_MAX) {
                flush_spans(g);
            }
        }
        g->nspans_total += q->row.nspans;
        /* The spans were copied: the row may go with the next insert. */
        if (++g->nreq == PROF_SQL_ROWS_MAX) {
            flush_requests(g);
        }
        ++batch_rows;
    }
    end_batch(g, 0);
    t1 = apr_time_now();
    secs = (double)(t1 - t0) / 1e6;

    /* What the report will rely on: every row there, both rollup tables
     * counting exactly the raw rows, and hour by hour the same. */
    count = one_value(g->db, apr_pstrcat(gpool, "SELECT count(*) FROM ",
                                         prefix, "requests", NULL), 0);
    check_hours(g, prefix, &hc);
    rollup_count = hc.minute_sum;
    rollups = one_value(g->db, apr_pstrcat(gpool, "SELECT count(*) FROM ",
                                           prefix, "rollups", NULL), 0);
    spans = one_value(g->db, apr_pstrcat(gpool, "SELECT count(*) FROM ",
                                         prefix, "spans", NULL), 0);
    finalize_all(g);
    exec(g->db, "PRAGMA wal_checkpoint(TRUNCATE)");
    if (sqlite3_close(g->db) != SQLITE_OK) {
        fail(g->db, "cannot close");
    }
    g->db = NULL;

    printf("gen_store: %s: %" APR_INT64_T_FMT " requests over %g h ending "
           "%" APR_INT64_T_FMT ", %" APR_INT64_T_FMT " routes, seed %"
           APR_INT64_T_FMT "\n", path, nrows, hours, end_s, nroutes, seed);
    printf("gen_store: status 2xx %.2f %%, 3xx %.2f %%, 4xx %.2f %%, "
           "5xx %.2f %%; GET %.1f %%, POST %.1f %%, PUT %.1f %%, "
           "DELETE %.1f %%\n",
           100.0 * (double)g->by_class[2] / (double)nrows,
           100.0 * (double)g->by_class[3] / (double)nrows,
           100.0 * (double)g->by_class[4] / (double)nrows,
           100.0 * (double)g->by_class[5] / (double)nrows,
           100.0 * (double)g->by_method[0] / (double)nrows,
           100.0 * (double)g->by_method[1] / (double)nrows,
           100.0 * (double)g->by_method[2] / (double)nrows,
           100.0 * (double)g->by_method[3] / (double)nrows);
    printf("rows %" APR_INT64_T_FMT "\n", count);
    printf("spans %" APR_INT64_T_FMT "\n", spans);
    printf("rollup rows %" APR_INT64_T_FMT " (%" APR_UINT64_T_FMT
           " merged across batches)\n", rollups, g->rollup_merges);
    printf("rollup_hour rows %" APR_INT64_T_FMT " (%" APR_UINT64_T_FMT
           " merged across batches), %" APR_INT64_T_FMT " hours\n",
           hc.hour_rows, g->hour_merges, hc.hours);
    printf("seconds %.1f (cpu %.1f)\n", secs,
           (double)(clock() - c0) / CLOCKS_PER_SEC);
    printf("rows/s %.0f\n", (double)nrows / secs);
    if (apr_stat(&fi, path, APR_FINFO_SIZE, gpool) == APR_SUCCESS) {
        printf("bytes %" APR_OFF_T_FMT " (%.2f GB)\n", fi.size,
               (double)fi.size / 1e9);
    }
    if (count != nrows || rollup_count != count || hc.hour_sum != count
        || hc.bad || (apr_uint64_t)spans != g->nspans_total) {
        fprintf(stderr, "gen_store: CHECK FAILED: %" APR_INT64_T_FMT
                " requests for -n %" APR_INT64_T_FMT ", rollups count %"
                APR_INT64_T_FMT ", rollups_hour count %" APR_INT64_T_FMT
                ", %" APR_INT64_T_FMT " spans of %" APR_UINT64_T_FMT "\n",
                count, nrows, rollup_count, hc.hour_sum, spans,
                g->nspans_total);
        if (hc.bad) {
            fprintf(stderr, "gen_store: CHECK FAILED: %" APR_INT64_T_FMT
                    " of %" APR_INT64_T_FMT " hours differ between the "
                    "tables; the first, hour_us %" APR_INT64_T_FMT ": %"
                    APR_INT64_T_FMT " in rollups_hour, %" APR_INT64_T_FMT
                    " in its minutes\n", hc.bad, hc.hours,
                    hc.first_bad.hour, hc.first_bad.hourly,
                    hc.first_bad.minutes);
        }
        return 1;
    }
    printf("check ok: count(*) = %" APR_INT64_T_FMT " = -n, sum(rollups.count)"
           " = %" APR_INT64_T_FMT ", sum(rollups_hour.count) = %"
           APR_INT64_T_FMT ", the same in each of %" APR_INT64_T_FMT
           " hours\n", count, rollup_count, hc.hour_sum, hc.hours);
    free(g);
    return 0;
}
