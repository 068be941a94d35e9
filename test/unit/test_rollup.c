/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the per-minute rollups (src/prof_rollup.c), against
 * prof_rollup.h.
 *
 * Every row is built with prof_row_create() and freed right after
 * prof_rollup_add(): an entry that kept a pointer into a row is then a
 * use after free, which ASan reports.
 *
 * The expected entries are recomputed here naively, one row at a time, in
 * plain integers (the values are small enough never to saturate), with
 * prof_hist_add() for the histogram: the rollup promises to hold exactly
 * the histogram of the weighted totals, so the buckets must match to the
 * last count, and the percentiles with them. The sort order is checked
 * against a table written out by hand and against a comparator written
 * here from the header's words; keys that share bytes across field
 * boundaries ("a" + "bc" and "ab" + "c") must stay apart.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "prof_hist.h"
#include "prof_rollup.h"
#include "prof_row.h"
#include "unit.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MINUTE  APR_INT64_C(60000000)

/* The random tests compare tens of thousands of values: the condition is
 * tested first, and check only hears of a failure (see test_hist.c). */
#define HOT_ASSERT(cond, ...) \
    do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

/* What a test row is made of. */
typedef struct {
    apr_int64_t t;              /* start, us since the epoch */
    const char *vhost, *route, *method;
    int status;
    apr_uint32_t weight;
    apr_int64_t total, bytes, ttfb;
} rspec_t;

/* The phases of a row: distinct values derived from its total, so that a
 * sum taken from the wrong phase shows. */
static void phases_of(const rspec_t *r, apr_int64_t *dur)
{
    int k;

    for (k = 0; k < PROF_PHASE_TOTAL; ++k) {
        dur[k] = r->total / (k + 2) + k;
    }
    dur[PROF_PHASE_TOTAL] = r->total;
}

/* Add the row r describes, built the real way and freed at once. */
static void add(prof_rollup_t *agg, const rspec_t *r)
{
    apr_int64_t dur[PROF_PHASE_COUNT];
    prof_row_in_t in;
    prof_row_t *row;

    phases_of(r, dur);
    memset(&in, 0, sizeof(in));
    in.start_us = r->t;
    in.dur_us = dur;
    in.ttfb_us = r->ttfb;
    in.bytes_sent = r->bytes;
    in.status = r->status;
    in.weight = r->weight;
    in.vhost = r->vhost;
    in.method = r->method;
    in.protocol = "HTTP/1.1";
    in.route = r->route;
    in.path = r->route;
    row = prof_row_create(&in);
    HOT_ASSERT(row != NULL, "no row");
    prof_rollup_add(agg, row);
    prof_row_free(row);
}

/* An empty entry with r's key; from the heap (it is 2.5 KB). */
static prof_rollup_entry_t *entry_new(const rspec_t *r)
{
    prof_rollup_entry_t *e = calloc(1, sizeof(*e));

    HOT_ASSERT(e != NULL, "out of memory");
    prof_hist_init(&e->hist);
    if (r) {
        e->minute_us = prof_row_minute_us(r->t);
        e->vhost = r->vhost;
        e->route = r->route;
        e->method = r->method;
        e->status_class = prof_row_status_class(r->status);
    }
    return e;
}

/* The naive aggregate: what adding r must do to its entry. */
static void want_add(prof_rollup_entry_t *w, const rspec_t *r)
{
    apr_int64_t dur[PROF_PHASE_COUNT];
    int k;

    phases_of(r, dur);
    w->samples += 1;
    w->bytes_sum += (apr_uint64_t)r->bytes * r->weight;
    w->ttfb_sum_us += (apr_uint64_t)r->ttfb * r->weight;
    for (k = 0; k < PROF_PHASE_COUNT; ++k) {
        w->phase_sum_us[k] += (apr_uint64_t)dur[k] * r->weight;
    }
    prof_hist_add(&w->hist, r->total, r->weight);
}

/* got and want are the same entry: key, every sum, every bucket. */
static void check_entry(const prof_rollup_entry_t *got,
                        const prof_rollup_entry_t *want, const char *ctx)
{
    int k;

    HOT_ASSERT(got->minute_us == want->minute_us
               && strcmp(got->vhost, want->vhost) == 0
               && strcmp(got->route, want->route) == 0
               && strcmp(got->method, want->method) == 0
               && got->status_class == want->status_class,
               "%s: key (%lld, %s, %s, %s, %d), want (%lld, %s, %s, %s, %d)",
               ctx, (long long)got->minute_us, got->vhost, got->route,
               got->method, got->status_class, (long long)want->minute_us,
               want->vhost, want->route, want->method, want->status_class);
    HOT_ASSERT(got->samples == want->samples, "%s: samples %llu, want %llu",
               ctx, (unsigned long long)got->samples,
               (unsigned long long)want->samples);
    HOT_ASSERT(got->bytes_sum == want->bytes_sum, "%s: bytes %llu, want %llu",
               ctx, (unsigned long long)got->bytes_sum,
               (unsigned long long)want->bytes_sum);
    HOT_ASSERT(got->ttfb_sum_us == want->ttfb_sum_us,
               "%s: ttfb %llu, want %llu", ctx,
               (unsigned long long)got->ttfb_sum_us,
               (unsigned long long)want->ttfb_sum_us);
    for (k = 0; k < PROF_PHASE_COUNT; ++k) {
        HOT_ASSERT(got->phase_sum_us[k] == want->phase_sum_us[k],
                   "%s: phase %d sum %llu, want %llu", ctx, k,
                   (unsigned long long)got->phase_sum_us[k],
                   (unsigned long long)want->phase_sum_us[k]);
    }
    HOT_ASSERT(got->hist.count == want->hist.count
               && got->hist.sum == want->hist.sum
               && got->hist.min == want->hist.min
               && got->hist.max == want->hist.max,
               "%s: count %llu/%llu, sum %llu/%llu, min %lld/%lld, "
               "max %lld/%lld", ctx, (unsigned long long)got->hist.count,
               (unsigned long long)want->hist.count,
               (unsigned long long)got->hist.sum,
               (unsigned long long)want->hist.sum, (long long)got->hist.min,
               (long long)want->hist.min, (long long)got->hist.max,
               (long long)want->hist.max);
    for (k = 0; k < PROF_HIST_BUCKETS; ++k) {
        HOT_ASSERT(got->hist.n[k] == want->hist.n[k],
                   "%s: bucket %d: %llu, want %llu", ctx, k,
                   (unsigned long long)got->hist.n[k],
                   (unsigned long long)want->hist.n[k]);
    }
}

/* The entry of r's key in a sorted array, or NULL. */
static prof_rollup_entry_t *find(apr_array_header_t *arr, const rspec_t *r)
{
    apr_int64_t m = prof_row_minute_us(r->t);
    int cls = prof_row_status_class(r->status), i;

    for (i = 0; i < arr->nelts; ++i) {
        prof_rollup_entry_t *e = APR_ARRAY_IDX(arr, i, prof_rollup_entry_t *);

        if (e->minute_us == m && !strcmp(e->vhost, r->vhost)
            && !strcmp(e->route, r->route) && !strcmp(e->method, r->method)
            && e->status_class == cls) {
            return e;
        }
    }
    return NULL;
}

/* The header's order, written out: minute, then the strings as unsigned
 * bytes, then the class. */
static int bytes_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;

    for (; *x && *x == *y; ++x, ++y) {
    }
    return *x < *y ? -1 : *x > *y;
}

static int key_cmp(const prof_rollup_entry_t *a, const prof_rollup_entry_t *b)
{
    int c;

    if (a->minute_us != b->minute_us) {
        return a->minute_us < b->minute_us ? -1 : 1;
    }
    if ((c = bytes_cmp(a->vhost, b->vhost)) || (c = bytes_cmp(a->route, b->route))
        || (c = bytes_cmp(a->method, b->method))) {
        return c;
    }
    return a->status_class < b->status_class ? -1
           : a->status_class > b->status_class;
}

/* ----------------------------------------------------------- one key */

/* The weighted nearest-rank percentile of the samples themselves. */
static apr_int64_t exact_percentile(const rspec_t *r, int n, double p)
{
    apr_uint64_t count = 0, rank, seen = 0;
    int order[16], i, j;

    for (i = 0; i < n; ++i) {
        count += r[i].weight;
        /* insertion sort by total: n is small */
        for (j = i; j > 0 && r[order[j - 1]].total > r[i].total; --j) {
            order[j] = order[j - 1];
        }
        order[j] = i;
    }
    /* ceil(p/100 * count), for the whole p of the tests */
    rank = ((apr_uint64_t)p * count + 99) / 100;
    if (rank < 1) {
        rank = 1;
    }
    for (i = 0; i < n; ++i) {
        seen += r[order[i]].weight;
        if (seen >= rank) {
            return r[order[i]].total;
        }
    }
    return r[order[n - 1]].total;
}

/* Rows of one key all over its minute, with statuses of one class. */
static const rspec_t one_key[] = {
    { 1700000040000000, "h", "/item/:id", "GET", 200, 1, 5, 100, 2 },
    { 1700000040000001, "h", "/item/:id", "GET", 204, 3, 17, 0, 9 },
    { 1700000065000000, "h", "/item/:id", "GET", 201, 2, 1000, 5000, 300 },
    { 1700000099999999, "h", "/item/:id", "GET", 299, 10, 250000, 1, 1000 },
    { 1700000070000000, "h", "/item/:id", "GET", 200, 1, 0, 0, 0 },
    { 1700000050000000, "h", "/item/:id", "GET", 206, 7, 3, 64, 1 },
};

START_TEST(rollup_one_key)
{
    prof_rollup_t *agg = prof_rollup_create(unit_pool);
    prof_rollup_entry_t *want = entry_new(&one_key[0]), *e;
    static const double ps[] = { 0, 10, 25, 50, 75, 90, 99, 100 };
    apr_array_header_t *arr;
    int i;

    for (i = 0; i < N_OF(one_key); ++i) {
        add(agg, &one_key[i]);
        want_add(want, &one_key[i]);
    }
    ck_assert_uint_eq(prof_rollup_count(agg), 1);
    arr = prof_rollup_sorted(agg);
    ck_assert_int_eq(arr->nelts, 1);
    e = APR_ARRAY_IDX(arr, 0, prof_rollup_entry_t *);
    check_entry(e, want, "one key");

    /* The same, spelled out. */
    ck_assert_int_eq(e->minute_us, APR_INT64_C(1700000040000000));
    ck_assert_str_eq(e->vhost, "h");
    ck_assert_str_eq(e->route, "/item/:id");
    ck_assert_str_eq(e->method, "GET");
    ck_assert_int_eq(e->status_class, 2);
    ck_assert_uint_eq(e->hist.count, 1 + 3 + 2 + 10 + 1 + 7);
    ck_assert_uint_eq(e->samples, 6);
    ck_assert_uint_eq(e->hist.sum, 5 + 3 * 17 + 2 * 1000 + 10 * 250000 + 7 * 3);
    ck_assert_uint_eq(e->phase_sum_us[PROF_PHASE_TOTAL], e->hist.sum);
    ck_assert_uint_eq(e->bytes_sum, 100 + 2 * 5000 + 10 + 7 * 64);
    ck_assert_uint_eq(e->ttfb_sum_us, 2 + 3 * 9 + 2 * 300 + 10 * 1000 + 7);
    ck_assert_int_eq(e->hist.min, 0);
    ck_assert_int_eq(e->hist.max, 250000);

    /* The percentiles: those of the histogram prof_hist builds from the
     * same samples, and within its bound of the exact ones. */
    for (i = 0; i < N_OF(ps); ++i) {
        apr_int64_t got = prof_hist_percentile(&e->hist, ps[i]);
        apr_int64_t exact = exact_percentile(one_key, N_OF(one_key), ps[i]);
        double err = (double)(got > exact ? got - exact : exact - got);

        ck_assert_int_eq(got, prof_hist_percentile(&want->hist, ps[i]));
        ck_assert_msg(err <= PROF_HIST_MAX_REL_ERR * (double)exact + 0.5,
                      "p%g: %lld, exact %lld", ps[i], (long long)got,
                      (long long)exact);
    }
    free(want);
}
END_TEST

START_TEST(rollup_empty)
{
    prof_rollup_t *agg = prof_rollup_create(unit_pool);
    apr_array_header_t *arr = prof_rollup_sorted(agg);

    ck_assert_uint_eq(prof_rollup_count(agg), 0);
    ck_assert_int_eq(arr->nelts, 0);
}
END_TEST

/* ---------------------------------------------------------------- keys */

typedef struct {
    rspec_t a, b;
    int same;
} key_case_t;

#define T0 APR_INT64_C(1700000040000000)         /* a minute's start */
#define ROW(t, v, r, m, s) { (t), (v), (r), (m), (s), 1, 10, 1, 1 }

static const key_case_t key_cases[] = {
    /* the same key */
    { ROW(T0, "v", "/r", "GET", 200), ROW(T0, "v", "/r", "GET", 200), 1 },
    { ROW(T0, "v", "/r", "GET", 200), ROW(T0, "v", "/r", "GET", 204), 1 },
    { ROW(T0, "v", "/r", "GET", 200), ROW(T0, "v", "/r", "GET", 299), 1 },
    { ROW(T0, "v", "/r", "GET", 99), ROW(T0, "v", "/r", "GET", 600), 1 },
    { ROW(T0, "v", "/r", "GET", 0), ROW(T0, "v", "/r", "GET", -1), 1 },
    { ROW(T0, "v", "/r", "GET", 200),
      ROW(T0 + MINUTE - 1, "v", "/r", "GET", 200), 1 },
    { ROW(-1, "v", "/r", "GET", 200), ROW(-MINUTE, "v", "/r", "GET", 200), 1 },
    { ROW(T0, "", "", "", 200), ROW(T0, "", "", "", 200), 1 },
    /* the minute */
    { ROW(T0, "v", "/r", "GET", 200),
      ROW(T0 + MINUTE, "v", "/r", "GET", 200), 0 },
    { ROW(T0 - 1, "v", "/r", "GET", 200), ROW(T0, "v", "/r", "GET", 200), 0 },
    { ROW(-1, "v", "/r", "GET", 200), ROW(0, "v", "/r", "GET", 200), 0 },
    /* the status class */
    { ROW(T0, "v", "/r", "GET", 200), ROW(T0, "v", "/r", "GET", 300), 0 },
    { ROW(T0, "v", "/r", "GET", 199), ROW(T0, "v", "/r", "GET", 200), 0 },
    { ROW(T0, "v", "/r", "GET", 404), ROW(T0, "v", "/r", "GET", 500), 0 },
    { ROW(T0, "v", "/r", "GET", 599), ROW(T0, "v", "/r", "GET", 600), 0 },
    { ROW(T0, "v", "/r", "GET", 99), ROW(T0, "v", "/r", "GET", 100), 0 },
    /* each string */
    { ROW(T0, "v", "/r", "GET", 200), ROW(T0, "w", "/r", "GET", 200), 0 },
    { ROW(T0, "v", "/r", "GET", 200), ROW(T0, "v", "/s", "GET", 200), 0 },
    { ROW(T0, "v", "/r", "GET", 200), ROW(T0, "v", "/r", "HEAD", 200), 0 },
    { ROW(T0, "v", "/r", "GET", 200), ROW(T0, "v", "/r", "get", 200), 0 },
    { ROW(T0, "V", "/r", "GET", 200), ROW(T0, "v", "/r", "GET", 200), 0 },
    /* prefixes of each other */
    { ROW(T0, "v", "/a", "GET", 200), ROW(T0, "v", "/a/b", "GET", 200), 0 },
    { ROW(T0, "v", "/a", "GET", 200), ROW(T0, "v", "/a/", "GET", 200), 0 },
    { ROW(T0, "v", "", "GET", 200), ROW(T0, "v", "/", "GET", 200), 0 },
    { ROW(T0, "", "/r", "GET", 200), ROW(T0, "v", "/r", "GET", 200), 0 },
    { ROW(T0, "v", "/r", "", 200), ROW(T0, "v", "/r", "G", 200), 0 },
    /* the same bytes, split differently between the fields */
    { ROW(T0, "a", "bc", "GET", 200), ROW(T0, "ab", "c", "GET", 200), 0 },
    { ROW(T0, "v", "ab", "c", 200), ROW(T0, "v", "a", "bc", 200), 0 },
    { ROW(T0, "", "a", "GET", 200), ROW(T0, "a", "", "GET", 200), 0 },
    { ROW(T0, "a", "", "b", 200), ROW(T0, "a", "b", "", 200), 0 },
    { ROW(T0, "ab", "", "", 200), ROW(T0, "", "", "ab", 200), 0 },
    { ROW(T0, "v", "/r", "GET2", 200), ROW(T0, "v", "/r", "GET", 200), 0 },
};

START_TEST(rollup_key_table)
{
    const key_case_t *c = &key_cases[_i];
    prof_rollup_t *agg = prof_rollup_create(unit_pool);
    prof_rollup_entry_t *wa = entry_new(&c->a), *wb = entry_new(&c->b);
    apr_array_header_t *arr;

    add(agg, &c->a);
    add(agg, &c->b);
    want_add(wa, &c->a);
    want_add(c->same ? wa : wb, &c->b);
    arr = prof_rollup_sorted(agg);
    ck_assert_uint_eq(prof_rollup_count(agg), c->same ? 1 : 2);
    ck_assert_int_eq(arr->nelts, c->same ? 1 : 2);
    ck_assert_ptr_nonnull(find(arr, &c->a));
    check_entry(find(arr, &c->a), wa, "a");
    if (!c->same) {
        ck_assert_ptr_nonnull(find(arr, &c->b));
        check_entry(find(arr, &c->b), wb, "b");
        ck_assert_int_lt(key_cmp(APR_ARRAY_IDX(arr, 0, prof_rollup_entry_t *),
                                 APR_ARRAY_IDX(arr, 1, prof_rollup_entry_t *)),
                         0);
    }
    free(wa);
    free(wb);
}
END_TEST

/* Keys in the order prof_rollup_sorted() must give, written out. */
static const rspec_t sorted_keys[] = {
    ROW(-2 * MINUTE, "z", "/z", "POST", 500),
    ROW(-1, "a", "/", "GET", 200),                  /* minute -1 */
    ROW(0, "", "", "", 200),
    ROW(0, "", "/", "GET", 200),
    ROW(0, "a", "", "GET", 200),
    ROW(0, "a", "bc", "GET", 200),                  /* before "ab" + "c" */
    ROW(0, "ab", "c", "GET", 200),
    ROW(0, "b", "/A", "GET", 200),                  /* 'A' < 'a' */
    ROW(0, "b", "/a", "GET", 99),                   /* class 0 */
    ROW(0, "b", "/a", "GET", 100),
    ROW(0, "b", "/a", "GET", 204),
    ROW(0, "b", "/a", "GET", 302),
    ROW(0, "b", "/a", "GET", 404),
    ROW(0, "b", "/a", "GET", 599),
    ROW(0, "b", "/a", "GETX", 100),                 /* a longer method */
    ROW(0, "b", "/a", "POST", 600),
    ROW(0, "b", "/a/b", "GET", 200),                /* "/a" is a prefix */
    ROW(0, "b", "/a0", "GET", 200),                 /* '/' < '0' */
    ROW(0, "b", "/az", "GET", 200),
    ROW(0, "b", "/a\xc3\xa9", "GET", 200),          /* bytes are unsigned */
    ROW(0, "b\xc3\xa9", "/", "GET", 200),
    ROW(MINUTE, "", "", "", 0),
    ROW(APR_INT64_C(1700000040000000), "a", "/", "GET", 200),
    ROW(APR_INT64_C(1700000100000000), "a", "/", "GET", 200),
};

START_TEST(rollup_sorted_order)
{
    enum { N = N_OF(sorted_keys) };
    prof_rollup_t *agg = prof_rollup_create(unit_pool);
    uint64_t rs = unit_seed(_i);
    apr_array_header_t *arr;
    int order[2 * N], i, j;

    /* Every key twice, in a random order, at random times of its minute. */
    for (i = 0; i < 2 * N; ++i) {
        order[i] = i % N;
    }
    for (i = 2 * N - 1; i > 0; --i) {
        int t;

        j = (int)(unit_rand(&rs) % (uint64_t)(i + 1));
        t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (i = 0; i < 2 * N; ++i) {
        rspec_t r = sorted_keys[order[i]];

        r.t = prof_row_minute_us(r.t)
              + (apr_int64_t)(unit_rand(&rs) % (uint64_t)MINUTE);
        add(agg, &r);
    }
    ck_assert_uint_eq(prof_rollup_count(agg), N);
    arr = prof_rollup_sorted(agg);
    ck_assert_int_eq(arr->nelts, N);
    for (i = 0; i < N; ++i) {
        const prof_rollup_entry_t *e =
            APR_ARRAY_IDX(arr, i, prof_rollup_entry_t *);
        const rspec_t *k = &sorted_keys[i];

        ck_assert_msg(e->minute_us == prof_row_minute_us(k->t)
                      && !strcmp(e->vhost, k->vhost)
                      && !strcmp(e->route, k->route)
                      && !strcmp(e->method, k->method)
                      && e->status_class == prof_row_status_class(k->status),
                      "entry %d is (%lld, %s, %s, %s, %d), want key %d", i,
                      (long long)e->minute_us, e->vhost, e->route, e->method,
                      e->status_class, i);
        ck_assert_uint_eq(e->samples, 2);
        if (i > 0) {
            ck_assert_int_lt(
                key_cmp(APR_ARRAY_IDX(arr, i - 1, prof_rollup_entry_t *), e),
                0);
        }
    }
}
END_TEST

/* -------------------------------------------------------- random rows */

static const char *const r_vhosts[] = { "a.example", "b.example", "a" };
static const char *const r_routes[] = { "/", "/item/:id", "/item/:id/x",
                                        "example/item" };
static const char *const r_methods[] = { "GET", "POST" };
static const int r_statuses[] = { 200, 204, 301, 404, 503, 0, 600 };
static const apr_int64_t r_minutes[] = {
    -MINUTE, 0, APR_INT64_C(1700000040000000)
};

#define R_KEYS (N_OF(r_minutes) * N_OF(r_vhosts) * N_OF(r_routes) \
                * N_OF(r_methods) * N_OF(r_statuses))

/* A random row; *key is the index of the key the test chose for it (two
 * statuses of one class get two indices: the test merges them itself). */
static rspec_t random_row(uint64_t *rs, int nkeys, int *key)
{
    uint64_t r = unit_rand(rs), r2 = unit_rand(rs);
    int k = (int)(r % (uint64_t)nkeys), x = k;
    rspec_t s;

    *key = k;
    s.status = r_statuses[x % N_OF(r_statuses)];
    x /= N_OF(r_statuses);
    s.method = r_methods[x % N_OF(r_methods)];
    x /= N_OF(r_methods);
    s.route = r_routes[x % N_OF(r_routes)];
    x /= N_OF(r_routes);
    s.vhost = r_vhosts[x % N_OF(r_vhosts)];
    x /= N_OF(r_vhosts);
    s.t = r_minutes[x % N_OF(r_minutes)]
          + (apr_int64_t)((r >> 16) % (uint64_t)MINUTE);
    /* Weights as sampling gives them: mostly 1, some large. */
    s.weight = (r2 & 3) ? 1 : 1 + (apr_uint32_t)((r2 >> 2) % 1000);
    /* Totals over six decades, bytes up to 10 MB. */
    s.total = (apr_int64_t)((r2 >> 12) % 1000) << ((r2 >> 22) % 20);
    s.ttfb = s.total / 3;
    s.bytes = (apr_int64_t)((r2 >> 27) % 10000000);
    return s;
}

/* The key index of an entry, by the same numbering as random_row(), with
 * the status replaced by the first status of its class. */
static int class_key(int k)
{
    int st = k % N_OF(r_statuses), i;

    for (i = 0; i < N_OF(r_statuses); ++i) {
        if (prof_row_status_class(r_statuses[i])
            == prof_row_status_class(r_statuses[st])) {
            return k - st + i;
        }
    }
    return k;
}

/* How many keys each run draws from: all of them (a few rows each), or
 * the first few (hundreds of rows each, dense histograms). */
static const int random_nkeys[] = { R_KEYS, R_KEYS, 60, 14, 1 };

/* A few thousand rows over many keys: each entry against its naive
 * recomputation, the totals over all entries, and the order. */
START_TEST(rollup_random_totals)
{
    prof_rollup_t *agg = prof_rollup_create(unit_pool);
    prof_rollup_entry_t **want = calloc(R_KEYS, sizeof(*want));
    uint64_t rs = unit_seed(_i), weight = 0, count = 0, samples = 0;
    apr_array_header_t *arr;
    int i, k, keys = 0, nrows = 3000 + _i * 500;

    ck_assert_ptr_nonnull(want);
    for (i = 0; i < nrows; ++i) {
        rspec_t s = random_row(&rs, random_nkeys[_i], &k);

        k = class_key(k);
        if (want[k] == NULL) {
            want[k] = entry_new(&s);
            ++keys;
        }
        want_add(want[k], &s);
        weight += s.weight;
        add(agg, &s);
    }
    ck_assert_uint_eq(prof_rollup_count(agg), keys);
    arr = prof_rollup_sorted(agg);
    ck_assert_int_eq(arr->nelts, keys);
    for (k = 0; k < R_KEYS; ++k) {
        rspec_t s;
        char ctx[32];

        if (want[k] == NULL) {
            continue;
        }
        s.t = want[k]->minute_us;
        s.vhost = want[k]->vhost;
        s.route = want[k]->route;
        s.method = want[k]->method;
        s.status = r_statuses[k % N_OF(r_statuses)];
        snprintf(ctx, sizeof(ctx), "key %d", k);
        HOT_ASSERT(find(arr, &s) != NULL, "%s: no entry", ctx);
        check_entry(find(arr, &s), want[k], ctx);
    }
    for (i = 0; i < arr->nelts; ++i) {
        const prof_rollup_entry_t *e =
            APR_ARRAY_IDX(arr, i, prof_rollup_entry_t *);

        count += e->hist.count;
        samples += e->samples;
        if (i > 0) {
            HOT_ASSERT(key_cmp(APR_ARRAY_IDX(arr, i - 1,
                                             prof_rollup_entry_t *), e) < 0,
                       "entries %d and %d out of order", i - 1, i);
        }
    }
    ck_assert_uint_eq(count, weight);
    ck_assert_uint_eq(samples, (uint64_t)nrows);
    for (k = 0; k < R_KEYS; ++k) {
        free(want[k]);
    }
    free(want);
}
END_TEST

/* ---------------------------------------------------------------- merge */

/* A copy of e from the heap, to merge into. */
static prof_rollup_entry_t *entry_dup(const prof_rollup_entry_t *e)
{
    prof_rollup_entry_t *d = malloc(sizeof(*d));

    HOT_ASSERT(d != NULL, "out of memory");
    memcpy(d, e, sizeof(*d));
    return d;
}

/* Rows split at random into A and B: A's entry merged with B's is the
 * entry of A and B aggregated together, in either order, histogram buckets
 * included; as the writer does, a key only one side has merges with an
 * empty entry (what a new database row holds). */
START_TEST(rollup_merge_equals_direct)
{
    enum { NKEYS = 6 };         /* the first keys only: most hold both */
    prof_rollup_t *a = prof_rollup_create(unit_pool);
    prof_rollup_t *b = prof_rollup_create(unit_pool);
    prof_rollup_t *ab = prof_rollup_create(unit_pool);
    apr_array_header_t *ea, *eb, *eab;
    uint64_t rs = unit_seed(_i);
    int i, k, nrows = 1 + (int)(unit_rand(&rs) % 400);

    for (i = 0; i < nrows; ++i) {
        rspec_t s = random_row(&rs, NKEYS, &k);

        add(unit_rand(&rs) % 3 ? a : b, &s);
        add(ab, &s);
    }
    ea = prof_rollup_sorted(a);
    eb = prof_rollup_sorted(b);
    eab = prof_rollup_sorted(ab);
    ck_assert_int_le(ea->nelts, eab->nelts);
    ck_assert_int_le(eb->nelts, eab->nelts);
    for (i = 0; i < eab->nelts; ++i) {
        const prof_rollup_entry_t *e =
            APR_ARRAY_IDX(eab, i, prof_rollup_entry_t *);
        const prof_rollup_entry_t *x, *y;
        prof_rollup_entry_t *d1, *d2;
        rspec_t key;

        key.t = e->minute_us;
        key.vhost = e->vhost;
        key.route = e->route;
        key.method = e->method;
        key.status = e->status_class * 100;     /* 0: 0, else its class */
        x = find(ea, &key);
        y = find(eb, &key);
        ck_assert(x != NULL || y != NULL);
        d1 = x ? entry_dup(x) : entry_new(&key);
        d2 = y ? entry_dup(y) : entry_new(&key);
        if (y) {
            prof_rollup_entry_merge(d1, y);
        }
        if (x) {
            prof_rollup_entry_merge(d2, x);
        }
        check_entry(d1, e, "A + B");
        check_entry(d2, e, "B + A");
        free(d1);
        free(d2);
    }
}
END_TEST

/* Merging an empty entry changes nothing; merging into one gives the
 * other. */
START_TEST(rollup_merge_empty)
{
    prof_rollup_t *agg = prof_rollup_create(unit_pool);
    prof_rollup_entry_t *empty = entry_new(&one_key[0]), *d;
    const prof_rollup_entry_t *e;
    int i;

    for (i = 0; i < N_OF(one_key); ++i) {
        add(agg, &one_key[i]);
    }
    e = APR_ARRAY_IDX(prof_rollup_sorted(agg), 0, prof_rollup_entry_t *);
    d = entry_dup(e);
    prof_rollup_entry_merge(d, empty);
    check_entry(d, e, "e + empty");
    prof_rollup_entry_merge(empty, e);
    check_entry(empty, e, "empty + e");
    free(d);
    free(empty);
}
END_TEST

/* Sums saturate rather than wrap, adding rows and merging entries. */
START_TEST(rollup_saturates)
{
    rspec_t big = { 0, "v", "/", "GET", 200, 3, 5, APR_INT64_MAX,
                    APR_INT64_MAX };
    prof_rollup_t *agg = prof_rollup_create(unit_pool);
    prof_rollup_entry_t *e, *d;

    add(agg, &big);
    e = APR_ARRAY_IDX(prof_rollup_sorted(agg), 0, prof_rollup_entry_t *);
    ck_assert(e->bytes_sum == APR_UINT64_MAX);
    ck_assert(e->ttfb_sum_us == APR_UINT64_MAX);
    big.weight = 1;
    add(agg, &big);
    e = APR_ARRAY_IDX(prof_rollup_sorted(agg), 0, prof_rollup_entry_t *);
    ck_assert(e->bytes_sum == APR_UINT64_MAX);
    ck_assert_uint_eq(e->samples, 2);
    ck_assert_uint_eq(e->hist.count, 4);

    d = entry_dup(e);
    d->bytes_sum = APR_UINT64_MAX - 1;
    d->phase_sum_us[0] = APR_UINT64_MAX - 2;
    e->bytes_sum = 5;
    e->phase_sum_us[0] = 3;
    prof_rollup_entry_merge(d, e);
    ck_assert(d->bytes_sum == APR_UINT64_MAX);
    ck_assert(d->phase_sum_us[0] == APR_UINT64_MAX);
    ck_assert(d->ttfb_sum_us == APR_UINT64_MAX);
    ck_assert_uint_eq(d->samples, 4);
    ck_assert_uint_eq(d->hist.count, 8);
    free(d);
}
END_TEST

Suite *prof_rollup_suite(void)
{
    Suite *s = suite_create("prof_rollup");
    TCase *tc;

    tc = tcase_create("aggregate");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, rollup_one_key);
    tcase_add_test(tc, rollup_empty);
    tcase_add_loop_test(tc, rollup_key_table, 0, N_OF(key_cases));
    tcase_add_loop_test(tc, rollup_sorted_order, 0, 20);
    tcase_add_loop_test(tc, rollup_random_totals, 0, N_OF(random_nkeys));
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("merge");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, rollup_merge_equals_direct, 0, 30);
    tcase_add_test(tc, rollup_merge_empty);
    tcase_add_test(tc, rollup_saturates);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
