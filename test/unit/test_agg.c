/* Licensed under the Apache License, Version 2.0. */

/*
 * The shared-memory aggregates (src/prof_agg.c): what a block counts is
 * compared with what prof_hist_add() and plain sums give for the same
 * requests (so percentiles agree with the store's), keys are cut as
 * documented, a full table folds without losing a request, the route budget
 * holds, threads and forked processes that claim the same keys at once end
 * up with one cell per key and exact counts, deltas add up exactly, and
 * prof_agg_attach() refuses foreign and corrupt blocks.
 *
 * Blocks are malloc()ed (ASan sees every byte past the end), or apr_shm
 * segments for the processes.
 */

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_shm.h"

#include "prof_agg.h"
#include "prof_agg_rollup.h"
#include "prof_clock.h"
#include "unit.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define HOT_ASSERT(cond, ...) \
    do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

typedef struct {
    void *mem;
    apr_size_t size;
    prof_agg_t *agg;
    prof_agg_layout_t layout;
} blk_t;

static void blk_new(blk_t *b, apr_uint32_t keys, apr_uint32_t spans,
                    apr_uint32_t routes)
{
    b->layout.keys = keys;
    b->layout.spans = spans;
    b->layout.routes = routes;
    b->size = prof_agg_size(&b->layout);
    ck_assert_uint_gt(b->size, 0);
    b->mem = malloc(b->size);
    ck_assert_ptr_nonnull(b->mem);
    memset(b->mem, 0xa5, b->size);      /* init must not rely on zeroes */
    ck_assert_int_eq(prof_agg_init(&b->agg, unit_pool, b->mem, b->size,
                                   &b->layout, 42), APR_SUCCESS);
}

static void blk_free(blk_t *b)
{
    free(b->mem);
}

/* The cell of (vhost, route, method, status) in a snapshot, or NULL. */
static const prof_agg_cell_t *find_cell(const prof_agg_snap_t *s,
                                        const char *vhost, const char *route,
                                        const char *method, int status)
{
    apr_size_t i;

    for (i = 0; i < s->nreq; ++i) {
        const prof_agg_key_t *k = &s->req[i].key;

        if (strcmp(k->vhost, vhost) == 0 && strcmp(k->route, route) == 0
            && strcmp(k->method, method) == 0 && k->status == status) {
            return &s->req[i];
        }
    }
    return NULL;
}

static const prof_agg_cell_t *find_span(const prof_agg_snap_t *s,
                                        const char *name)
{
    apr_size_t i;

    for (i = 0; i < s->nspan; ++i) {
        if (strcmp(s->span[i].key.route, name) == 0) {
            return &s->span[i];
        }
    }
    return NULL;
}

static apr_uint64_t total_count(const prof_agg_snap_t *s)
{
    apr_uint64_t n = 0;
    apr_size_t i;

    for (i = 0; i < s->nreq; ++i) {
        n += s->req[i].hist.count;
    }
    return n;
}

static void phases_of(apr_interval_time_t *ph, apr_interval_time_t total)
{
    int i;

    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        ph[i] = 0;
    }
    ph[PROF_PHASE_READ] = total / 4;
    ph[PROF_PHASE_HANDLER] = total / 2;
    ph[PROF_PHASE_LOG] = total > 0 ? 1 : 0;
    ph[PROF_PHASE_TOTAL] = total;
}

static apr_uint64_t count_of(const prof_agg_snap_t *s, const char *vhost,
                             const char *route, const char *method, int st)
{
    const prof_agg_cell_t *c = find_cell(s, vhost, route, method, st);

    return c ? c->hist.count : 0;
}

/* ---- what a cell holds ----------------------------------------------- */

#define NKEYS 5
static const char *const vh[NKEYS] = { "a.example", "a.example", "b.example",
                                       "", "a.example" };
static const char *const rt[NKEYS] = { "/", "/item/:id", "/", "/x", "/" };
static const char *const me[NKEYS] = { "GET", "GET", "POST", "GET", "GET" };
static const int stc[NKEYS] = { 200, 200, 201, 404, 500 };

typedef struct {
    prof_hist_t hist;
    apr_uint64_t phase[PROF_PHASE_TOTAL], ttfb, ttfb_n, bytes;
} ref_t;

START_TEST(cells_equal_the_store_histogram)
{
    static ref_t ref[NKEYS];
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    uint64_t st = unit_seed(_i);
    prof_agg_snap_t *s;
    blk_t b;
    int i, k, n = 2000 + 1000 * _i;

    blk_new(&b, 64, 8, 64);
    memset(ref, 0, sizeof(ref));
    for (k = 0; k < NKEYS; ++k) {
        prof_hist_init(&ref[k].hist);
    }
    for (i = 0; i < n; ++i) {
        uint64_t r = unit_rand(&st);
        /* over five decades, and 0, negative and the overflow bucket */
        apr_interval_time_t t = (apr_interval_time_t)(r % 7 == 0 ? r % 3
                                 : (r >> 8) % (1 + (1ull << ((r >> 40) % 30))));
        apr_interval_time_t ttfb = (r >> 20) % 5 == 0 ? -1 : t / 3;
        apr_uint64_t bytes = (r >> 30) % 100000;
        int j;

        if (i == 7) {
            t = -5;
        }
        if (i == 11) {
            t = APR_INT64_C(1) << 41;
        }
        k = (int)((r >> 50) % NKEYS);
        phases_of(ph, t);
        ck_assert_int_eq(prof_agg_record(b.agg, vh[k], rt[k], me[k], stc[k],
                                         ph, ttfb, bytes), PROF_AGG_COUNTED);
        prof_hist_add(&ref[k].hist, t, 1);
        for (j = 0; j < PROF_PHASE_TOTAL; ++j) {
            ref[k].phase[j] += ph[j] > 0 ? (apr_uint64_t)ph[j] : 0;
        }
        if (ttfb >= 0) {
            ref[k].ttfb += (apr_uint64_t)ttfb;
            ref[k].ttfb_n++;
        }
        ref[k].bytes += bytes;
    }
    s = prof_agg_snapshot(b.agg, unit_pool);
    ck_assert_uint_eq(s->generation, 42);
    ck_assert_uint_eq(s->nreq, NKEYS);
    ck_assert_uint_eq(total_count(s), (apr_uint64_t)n);
    for (k = 0; k < NKEYS; ++k) {
        const prof_agg_cell_t *c = find_cell(s, vh[k], rt[k], me[k], stc[k]);
        double p;
        int j;

        ck_assert_ptr_nonnull(c);
        ck_assert_int_eq(memcmp(c->hist.n, ref[k].hist.n,
                                sizeof(c->hist.n)), 0);
        ck_assert_uint_eq(c->hist.count, ref[k].hist.count);
        ck_assert_uint_eq(c->hist.sum, ref[k].hist.sum);
        ck_assert_int_eq(c->hist.min, ref[k].hist.min);
        ck_assert_int_eq(c->hist.max, ref[k].hist.max);
        for (p = 0; p <= 100; p += 0.5) {
            ck_assert_int_eq(prof_hist_percentile(&c->hist, p),
                             prof_hist_percentile(&ref[k].hist, p));
        }
        for (j = 0; j < PROF_PHASE_TOTAL; ++j) {
            ck_assert_uint_eq(c->phase_us[j], ref[k].phase[j]);
        }
        ck_assert_uint_eq(c->ttfb_us, ref[k].ttfb);
        ck_assert_uint_eq(c->ttfb_count, ref[k].ttfb_n);
        ck_assert_uint_eq(c->bytes, ref[k].bytes);
    }
    blk_free(&b);
}
END_TEST

START_TEST(null_and_odd_input)
{
    prof_agg_counters_t cn;
    prof_agg_snap_t *s;
    blk_t b;

    /* No handle: nothing, cheaply. */
    ck_assert_int_eq(prof_agg_record(NULL, "v", "/", "GET", 200, NULL, 0, 0),
                     PROF_AGG_COUNTED);
    ck_assert_int_eq(prof_agg_span(NULL, "x", 5), 0);
    ck_assert_str_eq(prof_agg_route_admit(NULL, "v", "/r"), "/r");
    ck_assert_uint_eq(prof_agg_routes_of(NULL, "v"), 0);
    prof_agg_set_max_routes(NULL, 3);
    prof_agg_counters(NULL, &cn);
    ck_assert_uint_eq(cn.key_overflow, 0);
    s = prof_agg_snapshot(NULL, unit_pool);
    ck_assert_uint_eq(s->nreq + s->nspan, 0);

    blk_new(&b, 16, 4, 16);
    /* NULL strings are "", NULL phases count with total 0, odd statuses
     * are 0. */
    prof_agg_record(b.agg, NULL, NULL, NULL, 200, NULL, -1, 0);
    prof_agg_record(b.agg, "", "", "", 200, NULL, -1, 0);
    prof_agg_record(b.agg, "v", "/", "GET", 42, NULL, -1, 0);
    prof_agg_record(b.agg, "v", "/", "GET", 1000, NULL, -1, 0);
    prof_agg_record(b.agg, "v", "/", "GET", -1, NULL, -1, 0);
    s = prof_agg_snapshot(b.agg, unit_pool);
    ck_assert_uint_eq(s->nreq, 2);
    ck_assert_uint_eq(count_of(s, "", "", "", 200), 2);
    ck_assert_uint_eq(count_of(s, "v", "/", "GET", 0), 3);
    ck_assert_uint_eq(find_cell(s, "", "", "", 200)->hist.n[0], 2);
    ck_assert_uint_eq(find_cell(s, "", "", "", 200)->ttfb_count, 0);
    blk_free(&b);
}
END_TEST

/* A route of 300 bytes whose bytes 255..256 are a two-byte character: the
 * cut keeps 255 bytes. */
START_TEST(keys_are_cut_on_characters)
{
    char vhost[200], route[300], route2[300], method[20];
    prof_agg_snap_t *s;
    const prof_agg_cell_t *c;
    blk_t b;

    memset(vhost, 'v', sizeof(vhost) - 1);
    vhost[sizeof(vhost) - 1] = '\0';
    vhost[127] = '\xe2';                /* a 3-byte char across 128 */
    vhost[128] = '\x82';
    vhost[129] = '\xac';
    memset(route, 'r', sizeof(route) - 1);
    route[sizeof(route) - 1] = '\0';
    route[255] = '\xc3';
    route[256] = '\xa9';
    memcpy(route2, route, sizeof(route));
    route2[280] = 'X';                  /* differs only past the cut */
    memset(method, 'M', sizeof(method) - 1);
    method[sizeof(method) - 1] = '\0';

    blk_new(&b, 16, 4, 16);
    prof_agg_record(b.agg, vhost, route, method, 200, NULL, -1, 0);
    prof_agg_record(b.agg, vhost, route2, method, 200, NULL, -1, 0);
    s = prof_agg_snapshot(b.agg, unit_pool);
    ck_assert_uint_eq(s->nreq, 1);
    c = &s->req[0];
    ck_assert_uint_eq(c->hist.count, 2);
    ck_assert_uint_eq(c->key.vhost_len, 127);
    ck_assert_uint_eq(strlen(c->key.vhost), 127);
    ck_assert_uint_eq(c->key.route_len, 255);
    ck_assert_uint_eq(strlen(c->key.route), 255);
    ck_assert_uint_eq(c->key.method_len, PROF_AGG_METHOD_MAX);
    ck_assert_int_eq(memcmp(c->key.route, route, 255), 0);
    /* The same key, spelt the long way, is found again. */
    ck_assert_uint_eq(prof_agg_routes_of(b.agg, vhost), 1);
    blk_free(&b);
}
END_TEST

/* Every length of every key string, from its own exact-size malloc()
 * (ASan sees a byte read past it): the same key found again from another
 * copy (one cell, count 2), and a key that differs in its first, middle or
 * last byte gets a cell of its own. The compare reads words that overlap
 * (prof_agg.c's bytes_eq()); this is every case of its lengths. */
static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    ck_assert_ptr_nonnull(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

START_TEST(keys_of_every_length_compare_exactly)
{
    static const size_t maxes[3] = { PROF_AGG_VHOST_MAX, PROF_AGG_ROUTE_MAX,
                                     PROF_AGG_METHOD_MAX };
    int field = _i;
    size_t max = maxes[field], n, pos;
    char src[PROF_AGG_ROUTE_MAX + 1];
    blk_t b;

    for (n = 0; n <= max; ++n) {
        char *a, *c, *d[3];
        const char *key[3];
        size_t k;
        prof_agg_snap_t *s;

        blk_new(&b, 8, 4, 16);
        memset(src, 0, sizeof(src));
        for (k = 0; k < n; ++k) {
            src[k] = (char)('a' + (k * 7 + n) % 26);
        }
        a = dup_n(src, n);
        c = dup_n(src, n);
        key[0] = "h";
        key[1] = "/r";
        key[2] = "GET";
        key[field] = a;
        prof_agg_record(b.agg, key[0], key[1], key[2], 200, NULL, -1, 0);
        key[field] = c;
        prof_agg_record(b.agg, key[0], key[1], key[2], 200, NULL, -1, 0);
        /* one byte changed at the start, middle and end */
        for (k = 0; k < 3 && n > 0; ++k) {
            pos = k == 0 ? 0 : k == 1 ? n / 2 : n - 1;
            d[k] = dup_n(src, n);
            d[k][pos] = d[k][pos] == 'Z' ? 'Y' : 'Z';
        }
        for (k = 0; k < 3 && n > 0; ++k) {
            key[field] = d[k];
            prof_agg_record(b.agg, key[0], key[1], key[2], 200, NULL, -1, 0);
        }
        s = prof_agg_snapshot(b.agg, unit_pool);
        /* positions that coincide (n <= 2) make one key of two */
        HOT_ASSERT(s->req[0].hist.count == 2, "field %d len %zu: count %lu",
                   field, n, (unsigned long)s->req[0].hist.count);
        HOT_ASSERT(s->nreq == 1 + (n == 0 ? 0 : n == 1 ? 1 : n == 2 ? 2 : 3),
                   "field %d len %zu: %zu cells", field, n, (size_t)s->nreq);
        for (k = 0; k < 3 && n > 0; ++k) {
            free(d[k]);
        }
        free(a);
        free(c);
        blk_free(&b);
    }
}
END_TEST

/* ---- prof_agg_record_k(): the same cells as prof_agg_record() -------- */

/* Two snapshots hold the same cells: ids, keys and every counter. */
static void snaps_equal(const prof_agg_snap_t *a, const prof_agg_snap_t *b)
{
    apr_size_t i;
    int j;

    ck_assert_uint_eq(a->nreq, b->nreq);
    ck_assert_uint_eq(a->counters.key_overflow, b->counters.key_overflow);
    ck_assert_uint_eq(a->counters.route_folded, b->counters.route_folded);
    for (i = 0; i < a->nreq; ++i) {
        const prof_agg_cell_t *x = &a->req[i], *y = &b->req[i];

        HOT_ASSERT(x->id == y->id && x->key.hash == y->key.hash
                   && x->key.status == y->key.status
                   && x->key.flags == y->key.flags
                   && strcmp(x->key.vhost, y->key.vhost) == 0
                   && strcmp(x->key.route, y->key.route) == 0
                   && strcmp(x->key.method, y->key.method) == 0,
                   "cell %zu: (%s, %s, %s, %d) vs (%s, %s, %s, %d)", (size_t)i,
                   x->key.vhost, x->key.route, x->key.method, x->key.status,
                   y->key.vhost, y->key.route, y->key.method, y->key.status);
        HOT_ASSERT(x->hist.count == y->hist.count && x->hist.sum == y->hist.sum
                   && x->hist.min == y->hist.min && x->hist.max == y->hist.max
                   && memcmp(x->hist.n, y->hist.n, sizeof(x->hist.n)) == 0
                   && x->ttfb_us == y->ttfb_us
                   && x->ttfb_count == y->ttfb_count && x->bytes == y->bytes,
                   "cell %zu: counters differ", (size_t)i);
        for (j = 0; j < PROF_PHASE_TOTAL; ++j) {
            ck_assert_uint_eq(x->phase_us[j], y->phase_us[j]);
        }
    }
}

/* Key parts that exercise every branch of the keyed path: empty, NULL,
 * cut inside a UTF-8 character, methods around 8 bytes (one word or the
 * long way) and past PROF_AGG_METHOD_MAX, routes around the cut, the
 * special routes, statuses outside 100..999. */
#define KR_VHOSTS  6
#define KR_ROUTES  9
static char kr_vhost[KR_VHOSTS][260];
static char kr_route[KR_ROUTES][300];
static const char *const kr_methods[] = {
    "GET", "POST", "", NULL, "OPTIONS", "PROPFIND", "PROPPATCH",
    "VERSION-CONTROL", "A-METHOD-OF-20-BYTES", "\xc3\xa9", "G"
};
static const int kr_status[] = { 200, 404, 500, 99, 1000, 0, -1, 302, 999 };

static void kr_setup(void)
{
    int i;

    strcpy(kr_vhost[0], "");
    strcpy(kr_vhost[1], "a.example:80");
    strcpy(kr_vhost[2], "www.example.com:443");
    memset(kr_vhost[3], 'v', 200);              /* cut at 127: a 3-byte */
    kr_vhost[3][200] = '\0';                    /* char across 128 */
    memcpy(kr_vhost[3] + 127, "\xe2\x82\xac", 3);
    memcpy(kr_vhost[4], kr_vhost[3], 201);
    kr_vhost[4][190] = 'W';                     /* differs past the cut */
    strcpy(kr_vhost[5], "\xff\xfe\x01 host");
    strcpy(kr_route[0], "");
    strcpy(kr_route[1], "/1k.html");
    strcpy(kr_route[2], "/api/v1/items/:id");
    strcpy(kr_route[3], PROF_AGG_NOT_FOUND);
    strcpy(kr_route[4], PROF_AGG_OTHER);
    memset(kr_route[5], 'r', 290);
    kr_route[5][290] = '\0';
    memcpy(kr_route[5] + 255, "\xc3\xa9", 2);  /* cut at 255 */
    memcpy(kr_route[6], kr_route[5], 291);
    kr_route[6][280] = 'X';                     /* differs past the cut */
    for (i = 7; i < KR_ROUTES; ++i) {
        snprintf(kr_route[i], sizeof(kr_route[i]), "/r%d", i);
    }
}

/* The same requests through prof_agg_record() into one block and
 * prof_agg_record_k() into another, each result compared, and a third
 * block where the two take turns on the same keys: three equal blocks,
 * folds, overflow and route budget included (small tables on purpose).
 * _i picks the max the vhost is made with (PROF_AGG_VHOST_MAX, or
 * PROF_AGG_STR_MAX so that prof_agg_record_k() cuts it itself) and how
 * the route is made (prof_agg_str_set() or _setn()). */
START_TEST(record_k_counts_as_record)
{
    uint64_t rs = unit_seed(_i);
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    blk_t a, b, c;
    int n;

    kr_setup();
    blk_new(&a, 24, 4, 24);
    blk_new(&b, 24, 4, 24);
    blk_new(&c, 24, 4, 24);
    prof_agg_set_max_routes(a.agg, 5);
    prof_agg_set_max_routes(b.agg, 5);
    prof_agg_set_max_routes(c.agg, 5);
    for (n = 0; n < 3000; ++n) {
        const char *v = kr_vhost[unit_rand(&rs) % KR_VHOSTS];
        const char *r = kr_route[unit_rand(&rs) % KR_ROUTES];
        const char *m = kr_methods[unit_rand(&rs) % N_OF(kr_methods)];
        int st = kr_status[unit_rand(&rs) % N_OF(kr_status)];
        apr_interval_time_t ttfb = (apr_interval_time_t)(unit_rand(&rs) % 50)
                                   - 1;
        apr_uint64_t bytes = unit_rand(&rs) % 3000;
        prof_agg_str_t vk, rk;
        prof_agg_result_t ra, rb, rc;

        phases_of(ph, (apr_interval_time_t)(unit_rand(&rs) % 100000));
        prof_agg_str_set(&vk, v, _i & 1 ? PROF_AGG_STR_MAX
                                        : PROF_AGG_VHOST_MAX);
        if (_i & 2) {
            prof_agg_str_setn(&rk, r, strlen(r), PROF_AGG_ROUTE_MAX);
        }
        else {
            prof_agg_str_set(&rk, r, PROF_AGG_ROUTE_MAX);
        }
        ra = prof_agg_record(a.agg, v, r, m, st, ph, ttfb, bytes);
        rb = prof_agg_record_k(b.agg, &vk, &rk, m, st, ph, ttfb, bytes);
        rc = n % 2 ? prof_agg_record(c.agg, v, r, m, st, ph, ttfb, bytes)
                   : prof_agg_record_k(c.agg, &vk, &rk, m, st, ph, ttfb,
                                       bytes);
        HOT_ASSERT(ra == rb && ra == rc, "request %d (%s, %s, %s, %d): "
                   "record %d, record_k %d, both %d", n, v, r,
                   m ? m : "(null)", st, (int)ra, (int)rb, (int)rc);
    }
    snaps_equal(prof_agg_snapshot(a.agg, unit_pool),
                prof_agg_snapshot(b.agg, unit_pool));
    snaps_equal(prof_agg_snapshot(a.agg, unit_pool),
                prof_agg_snapshot(c.agg, unit_pool));
    /* The keys the keyed path wrote carry the hashes attach checks. */
    ck_assert_int_eq(prof_agg_attach(&b.agg, unit_pool, b.mem, b.size,
                                     &b.layout), APR_SUCCESS);
    blk_free(&a);
    blk_free(&b);
    blk_free(&c);
}
END_TEST

/* The same requests into two blocks: prof_agg_record_k() of the folded
 * durations into one; into the other, prof_agg_record_kc() the first time
 * a key comes, and prof_agg_count_ticks() in the cell it gave (as the
 * request path's memo does) every time after. The two blocks are equal:
 * the ticks are turned into the same microseconds, a fold (full table,
 * route budget, class cells) gives no cell and goes the whole way again.
 * Each record has random phases entered at random ticks; _i & 1: with the
 * TSC's scale, else nanosecond ticks. */
START_TEST(count_ticks_counts_as_record_k)
{
    uint64_t rs = unit_seed(_i);
    char desc[64];
    blk_t a, b;
    prof_agg_rcell_t *memo[KR_VHOSTS][KR_ROUTES][4][N_OF(kr_status)];
    static const char *const methods[4] = { "GET", "HEAD", "POST", "" };
    int n, cells = 0, folds = 0;

    memset(memo, 0, sizeof(memo));
    prof_clock_ticks_init(_i & 1, desc, sizeof(desc));
    kr_setup();
    blk_new(&a, 24, 4, 24);
    blk_new(&b, 24, 4, 24);
    prof_agg_set_max_routes(a.agg, 5);
    prof_agg_set_max_routes(b.agg, 5);
    for (n = 0; n < 4000; ++n) {
        int vi = (int)(unit_rand(&rs) % KR_VHOSTS);
        int ri = (int)(unit_rand(&rs) % KR_ROUTES);
        int mi = (int)(unit_rand(&rs) % 4);
        int si = (int)(unit_rand(&rs) % N_OF(kr_status));
        apr_interval_time_t ttfb = (apr_interval_time_t)(unit_rand(&rs) % 50)
                                   - 1;
        apr_uint64_t bytes = unit_rand(&rs) % 3000;
        prof_tick_t t = 1000 + unit_rand(&rs) % (UINT64_C(1) << 50);
        prof_phase_rec_t rec;
        apr_interval_time_t total;
        prof_agg_str_t vk, rk;
        prof_agg_rcell_t **cell = &memo[vi][ri][mi][si];
        prof_agg_result_t ra, rb;
        int ph;

        prof_phase_rec_start(&rec, t,
                             (apr_interval_time_t)(unit_rand(&rs) % 3000)
                             - 100);
        for (ph = PROF_PHASE_POSTREAD; ph <= PROF_PHASE_LOG; ++ph) {
            if (unit_rand(&rs) % 3) {
                t += unit_rand(&rs) % 4000000;
                prof_phase_edge(&rec, ph, t);
            }
        }
        t += unit_rand(&rs) % 4000;
        prof_phase_edge(&rec, PROF_MARK_LEAVE | PROF_PHASE_LOG, t);
        total = prof_phase_elapsed(&rec);
        prof_agg_str_set(&vk, kr_vhost[vi], PROF_AGG_VHOST_MAX);
        prof_agg_str_set(&rk, kr_route[ri], PROF_AGG_ROUTE_MAX);
        if (*cell) {
            prof_agg_count_ticks(*cell, &rec, total, ttfb, bytes);
        }
        /* (the record folded only now: count_ticks must not need it) */
        HOT_ASSERT(prof_phase_total(&rec, prof_phase_fold(&rec)) == total,
                   "request %d: elapsed", n);
        ra = prof_agg_record_k(a.agg, &vk, &rk, methods[mi],
                               kr_status[si], rec.dur_us, ttfb, bytes);
        if (*cell) {
            HOT_ASSERT(ra == PROF_AGG_COUNTED, "request %d: a cell kept "
                       "for a key that folds (%d)", n, (int)ra);
            continue;
        }
        rb = prof_agg_record_kc(b.agg, &vk, &rk, methods[mi], kr_status[si],
                                rec.dur_us, ttfb, bytes, cell);
        HOT_ASSERT(ra == rb, "request %d: record_k %d, record_kc %d", n,
                   (int)ra, (int)rb);
        HOT_ASSERT((rb == PROF_AGG_COUNTED) == (*cell != NULL),
                   "request %d: result %d, cell %p", n, (int)rb,
                   (void *)*cell);
        if (*cell) {
            ++cells;
        }
        else {
            ++folds;
        }
    }
    /* Both ways were taken: keys with cells, and folds. */
    ck_assert_int_gt(cells, 10);
    ck_assert_int_gt(folds, 10);
    snaps_equal(prof_agg_snapshot(a.agg, unit_pool),
                prof_agg_snapshot(b.agg, unit_pool));
    blk_free(&a);
    blk_free(&b);
}
END_TEST

/* A string of every length, in a block of exactly its length without a
 * NUL (prof_agg_str_setn() promises to read len bytes and no more; ASan
 * sees one more), finds the cell that prof_agg_record() made from a
 * NUL-terminated copy; a byte changed at its start, middle or end is
 * another key. _i: the vhost or the route; methods of every length come
 * through the keyed path too. */
START_TEST(record_k_strings_of_every_length)
{
    size_t max = _i == 0 ? PROF_AGG_VHOST_MAX
                 : _i == 1 ? PROF_AGG_ROUTE_MAX : PROF_AGG_METHOD_MAX;
    size_t n, k, pos;
    char src[PROF_AGG_ROUTE_MAX + 8];
    blk_t b;

    for (n = 0; n <= max + 3; ++n) {
        char *raw = malloc(n ? n : 1), *term;
        prof_agg_str_t vk, rk;
        prof_agg_snap_t *s;
        size_t cells = 1;

        ck_assert_ptr_nonnull(raw);
        blk_new(&b, 8, 4, 16);
        for (k = 0; k < n; ++k) {
            src[k] = (char)('a' + (k * 7 + n) % 26);
        }
        src[n] = '\0';
        memcpy(raw, src, n);
        term = dup_n(src, n);
        prof_agg_str_set(&vk, "h", PROF_AGG_VHOST_MAX);
        prof_agg_str_set(&rk, "/r", PROF_AGG_ROUTE_MAX);
        if (_i == 0) {
            prof_agg_record(b.agg, term, "/r", "GET", 200, NULL, -1, 0);
            prof_agg_str_setn(&vk, raw, n, PROF_AGG_STR_MAX);
            prof_agg_record_k(b.agg, &vk, &rk, "GET", 200, NULL, -1, 0);
        }
        else if (_i == 1) {
            prof_agg_record(b.agg, "h", term, "GET", 200, NULL, -1, 0);
            prof_agg_str_setn(&rk, raw, n, PROF_AGG_ROUTE_MAX);
            prof_agg_record_k(b.agg, &vk, &rk, "GET", 200, NULL, -1, 0);
        }
        else {
            prof_agg_record(b.agg, "h", "/r", term, 200, NULL, -1, 0);
            prof_agg_record_k(b.agg, &vk, &rk, term, 200, NULL, -1, 0);
        }
        /* one byte changed at the start, middle and end, within the cut */
        for (k = 0; k < 3 && n > 0 && n <= max; ++k) {
            char *d;

            pos = k == 0 ? 0 : k == 1 ? n / 2 : n - 1;
            if ((k == 1 && pos == 0) || (k == 2 && (pos == 0 || pos == n / 2))) {
                continue;       /* positions that coincide: one key */
            }
            d = malloc(n + 1);
            ck_assert_ptr_nonnull(d);
            memcpy(d, src, n + 1);
            d[pos] = 'Z';
            if (_i == 0) {
                prof_agg_str_setn(&vk, d, n, PROF_AGG_VHOST_MAX);
            }
            else if (_i == 1) {
                prof_agg_str_setn(&rk, d, n, PROF_AGG_ROUTE_MAX);
            }
            prof_agg_record_k(b.agg, &vk, &rk, _i == 2 ? d : "GET", 200,
                              NULL, -1, 0);
            free(d);
            ++cells;
        }
        s = prof_agg_snapshot(b.agg, unit_pool);
        HOT_ASSERT(s->nreq == cells && s->req[0].hist.count == 2,
                   "field %d len %zu: %zu cells, the first counts %lu", _i, n,
                   (size_t)s->nreq, (unsigned long)s->req[0].hist.count);
        HOT_ASSERT((size_t)s->req[0].key.vhost_len + s->req[0].key.route_len
                   + s->req[0].key.method_len
                   == (size_t)(1 + 2 + 3 - (_i == 0 ? 1 : _i == 1 ? 2 : 3))
                      + (n > max ? max : n),
                   "field %d len %zu: cut wrong", _i, n);
        free(raw);
        free(term);
        blk_free(&b);
    }
}
END_TEST

START_TEST(str_set_cuts_like_the_key)
{
    char v[200];
    prof_agg_str_t a, b;

    prof_agg_str_set(&a, NULL, PROF_AGG_VHOST_MAX);
    ck_assert_str_eq(a.s, "");
    ck_assert_uint_eq(a.len, 0);
    prof_agg_str_setn(&b, NULL, 5, PROF_AGG_VHOST_MAX);
    ck_assert_uint_eq(b.len, 0);
    ck_assert(a.hash == b.hash);
    prof_agg_str_set(&b, "", PROF_AGG_VHOST_MAX);
    ck_assert(a.hash == b.hash);
    memset(v, 'v', sizeof(v) - 1);
    v[sizeof(v) - 1] = '\0';
    memcpy(v + 127, "\xe2\x82\xac", 3);
    prof_agg_str_set(&a, v, PROF_AGG_VHOST_MAX);
    ck_assert_uint_eq(a.len, 127);
    prof_agg_str_setn(&b, v, sizeof(v) - 1, PROF_AGG_VHOST_MAX);
    ck_assert_uint_eq(b.len, 127);
    ck_assert(a.hash == b.hash);
    prof_agg_str_setn(&b, v, 127, 1000);        /* max past the longest */
    ck_assert(a.hash == b.hash);
    prof_agg_str_set(&b, v, 1000);
    ck_assert_uint_eq(b.len, PROF_AGG_STR_MAX > 199 ? 199 : PROF_AGG_STR_MAX);
    prof_agg_str_setn(&b, v, 126, PROF_AGG_VHOST_MAX);
    ck_assert(a.hash != b.hash);
}
END_TEST

/* ---- full tables ----------------------------------------------------- */

START_TEST(full_table_folds_and_counts)
{
    prof_agg_counters_t cn;
    prof_agg_snap_t *s;
    const prof_agg_cell_t *c;
    char r[32];
    blk_t b;
    int i;

    blk_new(&b, 8, 4, 64);
    /* (v, (other), GET, 200) first, then 7 routes: the table is full. */
    ck_assert_int_eq(prof_agg_record(b.agg, "v", PROF_AGG_OTHER, "GET", 200,
                                     NULL, -1, 0), PROF_AGG_COUNTED);
    for (i = 0; i < 7; ++i) {
        snprintf(r, sizeof(r), "/r%d", i);
        ck_assert_int_eq(prof_agg_record(b.agg, "v", r, "GET", 200, NULL, -1,
                                         0), PROF_AGG_COUNTED);
    }
    /* A new route with a class that has an (other) cell: folds there. */
    for (i = 7; i < 20; ++i) {
        snprintf(r, sizeof(r), "/r%d", i);
        ck_assert_int_eq(prof_agg_record(b.agg, "v", r, "GET", 200, NULL, -1,
                                         0), PROF_AGG_KEY_FOLDED);
    }
    /* Without one: the status class's overflow cell. */
    ck_assert_int_eq(prof_agg_record(b.agg, "v", "/r1", "GET", 503, NULL, -1,
                                     0), PROF_AGG_CLASS_FOLDED);
    ck_assert_int_eq(prof_agg_record(b.agg, "w", "/", "GET", 200, NULL, -1,
                                     0), PROF_AGG_CLASS_FOLDED);
    ck_assert_int_eq(prof_agg_record(b.agg, "w", "/", "GET", 99, NULL, -1,
                                     0), PROF_AGG_CLASS_FOLDED);
    /* Known keys still count in their own cells. */
    ck_assert_int_eq(prof_agg_record(b.agg, "v", "/r3", "GET", 200, NULL, -1,
                                     0), PROF_AGG_COUNTED);
    prof_agg_counters(b.agg, &cn);
    ck_assert_uint_eq(cn.key_overflow, 16);
    ck_assert_uint_eq(cn.claim_stalls, 0);
    s = prof_agg_snapshot(b.agg, unit_pool);
    ck_assert_uint_eq(total_count(s), 1 + 7 + 13 + 3 + 1);
    ck_assert_uint_eq(count_of(s, "v", PROF_AGG_OTHER, "GET", 200), 14);
    ck_assert_uint_eq(count_of(s, "v", "/r3", "GET", 200), 2);
    c = find_cell(s, PROF_AGG_OTHER, PROF_AGG_OTHER, PROF_AGG_OTHER, 500);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->key.flags, PROF_AGG_KEY_CLASS);
    ck_assert_uint_eq(c->hist.count, 1);
    ck_assert_uint_eq(count_of(s, PROF_AGG_OTHER, PROF_AGG_OTHER,
                               PROF_AGG_OTHER, 200), 1);
    ck_assert_uint_eq(count_of(s, PROF_AGG_OTHER, PROF_AGG_OTHER,
                               PROF_AGG_OTHER, 0), 1);
    /* Classes come after the table's cells, in id order. */
    ck_assert_uint_eq(s->req[s->nreq - 1].id, 8 + 5);
    blk_free(&b);
}
END_TEST

START_TEST(route_budget_per_vhost)
{
    static const char *const routes[] = { "/a", "/b", "/c", "/d", "/e" };
    prof_agg_counters_t cn;
    prof_agg_snap_t *s;
    blk_t b;
    int i;

    blk_new(&b, 64, 4, 64);
    prof_agg_set_max_routes(b.agg, 3);
    for (i = 0; i < 5; ++i) {
        ck_assert_int_eq(prof_agg_record(b.agg, "A", routes[i], "GET", 200,
                                         NULL, -1, 0),
                         i < 3 ? PROF_AGG_COUNTED : PROF_AGG_ROUTE_FOLDED);
        ck_assert_int_eq(prof_agg_record(b.agg, "B", routes[4 - i], "GET",
                                         200, NULL, -1, 0),
                         i < 3 ? PROF_AGG_COUNTED : PROF_AGG_ROUTE_FOLDED);
    }
    /* An admitted route takes new keys (method, status) freely; the
     * special routes never count against the budget. */
    ck_assert_int_eq(prof_agg_record(b.agg, "A", "/a", "POST", 500, NULL, -1,
                                     0), PROF_AGG_COUNTED);
    ck_assert_int_eq(prof_agg_record(b.agg, "A", PROF_AGG_NOT_FOUND, "GET",
                                     404, NULL, -1, 0), PROF_AGG_COUNTED);
    ck_assert_int_eq(prof_agg_record(b.agg, "A", "/d", "HEAD", 200, NULL, -1,
                                     0), PROF_AGG_ROUTE_FOLDED);
    ck_assert_uint_eq(prof_agg_routes_of(b.agg, "A"), 3);
    ck_assert_uint_eq(prof_agg_routes_of(b.agg, "B"), 3);
    ck_assert_uint_eq(prof_agg_routes_of(b.agg, "C"), 0);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "A", "/a"), "/a");
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "A", "/e"), PROF_AGG_OTHER);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "A", PROF_AGG_OTHER),
                     PROF_AGG_OTHER);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "B", "/e"), "/e");
    /* A budget raised later admits new routes; a lowered one keeps what
     * was admitted. */
    prof_agg_set_max_routes(b.agg, 4);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "A", "/f"), "/f");
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "A", "/d"), PROF_AGG_OTHER);
    prof_agg_set_max_routes(b.agg, 0);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "C", "/x"), PROF_AGG_OTHER);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "A", "/b"), "/b");
    prof_agg_counters(b.agg, &cn);
    ck_assert_uint_eq(cn.route_folded, 5);
    ck_assert_uint_eq(cn.key_overflow, 0);
    s = prof_agg_snapshot(b.agg, unit_pool);
    ck_assert_uint_eq(count_of(s, "A", PROF_AGG_OTHER, "GET", 200), 2);
    ck_assert_uint_eq(count_of(s, "A", PROF_AGG_OTHER, "HEAD", 200), 1);
    ck_assert_uint_eq(count_of(s, "B", PROF_AGG_OTHER, "GET", 200), 2);
    ck_assert_uint_eq(count_of(s, "A", "/d", "GET", 200), 0);
    ck_assert_uint_eq(total_count(s), 13);
    /* (not found) */
    ck_assert_str_eq(prof_agg_route_label("/favicon.ico", 404, 0),
                     PROF_AGG_NOT_FOUND);
    ck_assert_str_eq(prof_agg_route_label("/api/:id", 404, 1), "/api/:id");
    ck_assert_str_eq(prof_agg_route_label("/x", 200, 0), "/x");
    blk_free(&b);
}
END_TEST

/* A scanner's thousands of routes beyond the budget take no room in the
 * route table: another vhost still gets its routes in a small one. */
START_TEST(refused_routes_take_no_room)
{
    char r[32];
    blk_t b;
    int i;

    blk_new(&b, 64, 4, 8);
    prof_agg_set_max_routes(b.agg, 2);
    for (i = 0; i < 2000; ++i) {
        snprintf(r, sizeof(r), "/scan%d", i);
        ck_assert_str_eq(prof_agg_route_admit(b.agg, "v", r),
                         i < 2 ? r : PROF_AGG_OTHER);
    }
    ck_assert_uint_eq(prof_agg_routes_of(b.agg, "v"), 2);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "w", "/a"), "/a");
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "w", "/b"), "/b");
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "w", "/c"), PROF_AGG_OTHER);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "v", "/scan1"), "/scan1");
    blk_free(&b);
}
END_TEST

START_TEST(route_table_full_folds)
{
    char r[32];
    blk_t b;
    int i, other = 0;

    /* 4 route entries: the vhost's and 3 routes. */
    blk_new(&b, 64, 4, 4);
    for (i = 0; i < 10; ++i) {
        snprintf(r, sizeof(r), "/r%d", i);
        other += strcmp(prof_agg_route_admit(b.agg, "v", r), PROF_AGG_OTHER)
                 == 0;
    }
    ck_assert_int_eq(other, 7);
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "v", "/r0"), "/r0");
    /* A vhost that finds no entry of its own admits nothing. */
    ck_assert_str_eq(prof_agg_route_admit(b.agg, "w", "/r0"), PROF_AGG_OTHER);
    blk_free(&b);
}
END_TEST

START_TEST(spans_and_their_overflow)
{
    static const char *const names[] = { "db", "cache.get", "a\"b\\c\n",
                                         "\xff\xfe", "e", "f" };
    prof_agg_counters_t cn;
    prof_agg_snap_t *s;
    prof_hist_t ref;
    const prof_agg_cell_t *c;
    blk_t b;
    int i;

    blk_new(&b, 8, 4, 8);
    prof_hist_init(&ref);
    for (i = 0; i < 6; ++i) {
        ck_assert_int_eq(prof_agg_span(b.agg, names[i], 100 * i), i < 4);
    }
    for (i = 0; i < 500; ++i) {
        ck_assert_int_eq(prof_agg_span(b.agg, "db", i * 37 - 3), 1);
        prof_hist_add(&ref, i * 37 - 3, 1);
    }
    prof_hist_add(&ref, 0, 1);
    prof_agg_counters(b.agg, &cn);
    ck_assert_uint_eq(cn.span_overflow, 2);
    s = prof_agg_snapshot(b.agg, unit_pool);
    ck_assert_uint_eq(s->nspan, 5);
    ck_assert_uint_eq(s->nreq, 0);
    c = find_span(s, "db");
    ck_assert_int_eq(memcmp(c->hist.n, ref.n, sizeof(ref.n)), 0);
    ck_assert_uint_eq(c->hist.count, 501);
    ck_assert_uint_eq(c->hist.sum, ref.sum);
    ck_assert_int_eq(c->hist.min, 0);
    ck_assert_int_eq(c->hist.max, ref.max);
    ck_assert_uint_eq(find_span(s, "a\"b\\c\n")->hist.count, 1);
    ck_assert_uint_eq(find_span(s, "\xff\xfe")->hist.count, 1);
    c = find_span(s, PROF_AGG_OTHER);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->key.flags, PROF_AGG_KEY_CLASS);
    ck_assert_uint_eq(c->hist.count, 2);
    ck_assert_uint_eq(c->hist.sum, 900);
    blk_free(&b);
}
END_TEST

/* ---- deltas ---------------------------------------------------------- */

START_TEST(deltas_add_up_exactly)
{
    uint64_t st = unit_seed(100 + _i);
    prof_agg_snap_t *snap[5], *d, *sum_check;
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    static apr_uint64_t cnt[NKEYS], n_b[NKEYS][PROF_HIST_BUCKETS], bytes[NKEYS];
    blk_t b;
    int round, i, k;
    apr_size_t j;

    blk_new(&b, 64, 8, 64);
    memset(cnt, 0, sizeof(cnt));
    memset(n_b, 0, sizeof(n_b));
    memset(bytes, 0, sizeof(bytes));
    snap[0] = NULL;
    for (round = 1; round < 5; ++round) {
        /* Round 3 records nothing: its delta is empty. */
        int n = round == 3 ? 0 : (int)(unit_rand(&st) % 500);

        for (i = 0; i < n; ++i) {
            uint64_t r = unit_rand(&st);
            apr_interval_time_t t = (apr_interval_time_t)(r % 1000000);

            k = (int)((r >> 40) % (round == 1 ? 2 : NKEYS));
            phases_of(ph, t);
            prof_agg_record(b.agg, vh[k], rt[k], me[k], stc[k], ph, -1, 7);
            prof_agg_span(b.agg, "db", t / 2);
        }
        snap[round] = prof_agg_snapshot(b.agg, unit_pool);
        d = prof_agg_delta(unit_pool, snap[round - 1], snap[round]);
        if (round == 3) {
            ck_assert_uint_eq(d->nreq, 0);
            ck_assert_uint_eq(d->nspan, 0);
        }
        for (j = 0; j < d->nreq; ++j) {
            const prof_agg_cell_t *c = &d->req[j];
            apr_uint64_t sum = 0;
            apr_interval_time_t lo, hi;
            int bk, first = -1, last = -1;

            for (k = 0; k < NKEYS; ++k) {
                if (find_cell(snap[round], vh[k], rt[k], me[k], stc[k])->id
                    == c->id) {
                    break;
                }
            }
            ck_assert_int_lt(k, NKEYS);
            ck_assert_uint_gt(c->hist.count, 0);
            cnt[k] += c->hist.count;
            bytes[k] += c->bytes;
            for (bk = 0; bk < PROF_HIST_BUCKETS; ++bk) {
                n_b[k][bk] += c->hist.n[bk];
                sum += c->hist.n[bk];
                if (c->hist.n[bk]) {
                    last = bk;
                    first = first < 0 ? bk : first;
                }
            }
            ck_assert_uint_eq(sum, c->hist.count);
            /* min and max lie in the delta's own first and last bucket */
            prof_hist_bounds((apr_uint32_t)first, &lo, &hi);
            ck_assert(c->hist.min >= lo && c->hist.min < hi);
            prof_hist_bounds((apr_uint32_t)last, &lo, &hi);
            ck_assert(c->hist.max >= lo && c->hist.max < hi);
        }
    }
    /* The deltas add up to the last snapshot, cell by cell, bucket by
     * bucket. */
    for (k = 0; k < NKEYS; ++k) {
        const prof_agg_cell_t *c = find_cell(snap[4], vh[k], rt[k], me[k],
                                             stc[k]);

        ck_assert_uint_eq(cnt[k], c ? c->hist.count : 0);
        if (c) {
            ck_assert_int_eq(memcmp(n_b[k], c->hist.n, sizeof(c->hist.n)), 0);
            ck_assert_uint_eq(bytes[k], c->bytes);
        }
    }
    /* A snapshot of another generation (a re-created block) is not
     * subtracted: the delta is all of now. */
    snap[3]->generation = 7;
    sum_check = prof_agg_delta(unit_pool, snap[3], snap[4]);
    ck_assert_uint_eq(sum_check->nreq, snap[4]->nreq);
    ck_assert_uint_eq(total_count(sum_check), total_count(snap[4]));
    sum_check = prof_agg_delta(unit_pool, NULL, snap[4]);
    ck_assert_uint_eq(total_count(sum_check), total_count(snap[4]));
    ck_assert_uint_eq(sum_check->nspan, 1);
    blk_free(&b);
}
END_TEST

START_TEST(groups_by_route_busiest_first)
{
    static const struct {
        const char *vhost, *route, *method;
        int status, n;
        apr_interval_time_t us;
    } reqs[] = {
        { "a", "/x", "GET", 200, 5, 1000 }, { "a", "/x", "POST", 503, 2, 9000 },
        { "a", "/x", "GET", 404, 3, 50 },   { "a", "/y", "GET", 200, 9, 300 },
        { "b", "/x", "GET", 200, 4, 700 },  { "b", "/x", "GET", 500, 1, 8000 },
        { "a", "/z", "GET", 200, 4, 10 },
    };
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    prof_hist_t *ref = malloc(sizeof(*ref));
    prof_agg_group_t *g;
    prof_agg_snap_t *s;
    apr_size_t n, i;
    apr_uint64_t want;
    blk_t b;
    int k;
    double p;

    blk_new(&b, 32, 4, 32);
    for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); ++i) {
        for (k = 0; k < reqs[i].n; ++k) {
            phases_of(ph, reqs[i].us + k);
            prof_agg_record(b.agg, reqs[i].vhost, reqs[i].route,
                            reqs[i].method, reqs[i].status, ph, 1, 2);
        }
    }
    s = prof_agg_snapshot(b.agg, unit_pool);
    g = prof_agg_groups(unit_pool, s, 0, &n);
    ck_assert_uint_eq(n, 4);
    /* a /x 10, a /y 9, b /x 5, a /z 4 */
    ck_assert_str_eq(g[0].vhost, "a");
    ck_assert_str_eq(g[0].route, "/x");
    ck_assert_uint_eq(g[0].hist.count, 10);
    ck_assert_uint_eq(g[0].errors, 2);
    ck_assert_uint_eq(g[0].client_errors, 3);
    ck_assert_uint_eq(g[0].ttfb_count, 10);
    ck_assert_uint_eq(g[0].bytes, 20);
    ck_assert_str_eq(g[1].route, "/y");
    ck_assert_uint_eq(g[1].errors + g[1].client_errors, 0);
    ck_assert_str_eq(g[2].vhost, "b");
    ck_assert_uint_eq(g[2].hist.count, 5);
    ck_assert_uint_eq(g[2].errors, 1);
    ck_assert_str_eq(g[3].route, "/z");
    /* percentiles: those of the same requests in one histogram */
    prof_hist_init(ref);
    for (i = 0; i < 3; ++i) {
        for (k = 0; k < reqs[i].n; ++k) {
            prof_hist_add(ref, reqs[i].us + k, 1);
        }
    }
    for (p = 0; p <= 100; p += 5) {
        ck_assert_int_eq(prof_hist_percentile(&g[0].hist, p),
                         prof_hist_percentile(ref, p));
    }
    for (i = 0, want = 0; i < 3; ++i) {
        for (k = 0; k < reqs[i].n; ++k) {
            want += (apr_uint64_t)(reqs[i].us + k) / 2;   /* phases_of() */
        }
    }
    ck_assert_uint_eq(g[0].phase_us[PROF_PHASE_HANDLER], want);
    g = prof_agg_groups(unit_pool, s, 2, &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(g[1].route, "/y");
    free(ref);
    blk_free(&b);
}
END_TEST

/* ---- many at once ---------------------------------------------------- */

#define T_THREADS 4
#define T_KEYS    200
#define T_REPS    50

typedef struct {
    prof_agg_t *agg;
    int seed;
} tjob_t;

static void *thread_run(void *data)
{
    tjob_t *j = data;
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    char route[32];
    int rep, i;

    for (rep = 0; rep < T_REPS; ++rep) {
        for (i = 0; i < T_KEYS; ++i) {
            /* every thread walks the keys in its own order, all start at
             * once: claims of one key meet */
            int k = (i * (2 * j->seed + 1) + rep) % T_KEYS;

            snprintf(route, sizeof(route), "/r%d", k);
            phases_of(ph, k * 10 + j->seed);
            prof_agg_record(j->agg, "v", route, k % 2 ? "GET" : "POST",
                            200 + k % 3, ph, 5, 100);
            prof_agg_span(j->agg, k % 2 ? "db" : "cache", k);
        }
    }
    return NULL;
}

static void check_converged(prof_agg_t *agg, apr_uint64_t per_key)
{
    prof_agg_snap_t *s = prof_agg_snapshot(agg, unit_pool);
    prof_agg_counters_t cn;
    char route[32];
    int k;

    prof_agg_counters(agg, &cn);
    ck_assert_uint_eq(cn.key_overflow, 0);
    ck_assert_uint_eq(cn.span_overflow, 0);
    ck_assert_uint_eq(cn.claim_stalls, 0);
    ck_assert_uint_eq(cn.route_folded, 0);
    ck_assert_uint_eq(s->nreq, T_KEYS);
    ck_assert_uint_eq(s->nspan, 2);
    for (k = 0; k < T_KEYS; ++k) {
        const prof_agg_cell_t *c;

        snprintf(route, sizeof(route), "/r%d", k);
        c = find_cell(s, "v", route, k % 2 ? "GET" : "POST", 200 + k % 3);
        HOT_ASSERT(c != NULL, "no cell for %s", route);
        HOT_ASSERT(c->hist.count == per_key, "%s: %llu", route,
                   (unsigned long long)c->hist.count);
        HOT_ASSERT(c->bytes == 100 * per_key && c->ttfb_count == per_key,
                   "%s: bytes", route);
    }
    ck_assert_uint_eq(find_span(s, "db")->hist.count, per_key * T_KEYS / 2);
    ck_assert_uint_eq(find_span(s, "cache")->hist.count, per_key * T_KEYS / 2);
    ck_assert_uint_eq(prof_agg_routes_of(agg, "v"), T_KEYS);
}

START_TEST(threads_claim_one_cell_per_key)
{
    pthread_t tid[T_THREADS];
    tjob_t job[T_THREADS];
    blk_t b;
    int i;

    blk_new(&b, 256, 4, 512);
    prof_agg_set_max_routes(b.agg, T_KEYS);
    for (i = 0; i < T_THREADS; ++i) {
        job[i].agg = b.agg;
        job[i].seed = i + _i * T_THREADS;
        ck_assert_int_eq(pthread_create(&tid[i], NULL, thread_run, &job[i]),
                         0);
    }
    for (i = 0; i < T_THREADS; ++i) {
        pthread_join(tid[i], NULL);
    }
    check_converged(b.agg, T_THREADS * T_REPS);
    blk_free(&b);
}
END_TEST

/* The same with a route budget of 50: exactly 50 routes get in, however
 * the threads race for the last places, and nothing is lost. */
START_TEST(threads_share_the_route_budget)
{
    pthread_t tid[T_THREADS];
    tjob_t job[T_THREADS];
    prof_agg_counters_t cn;
    prof_agg_snap_t *s;
    apr_uint64_t other = 0, own = 0;
    apr_size_t i, routes = 0;
    blk_t b;

    blk_new(&b, 256, 4, 512);
    prof_agg_set_max_routes(b.agg, 50);
    for (i = 0; i < T_THREADS; ++i) {
        job[i].agg = b.agg;
        job[i].seed = (int)i + _i * T_THREADS;
        ck_assert_int_eq(pthread_create(&tid[i], NULL, thread_run, &job[i]),
                         0);
    }
    for (i = 0; i < T_THREADS; ++i) {
        pthread_join(tid[i], NULL);
    }
    prof_agg_counters(b.agg, &cn);
    s = prof_agg_snapshot(b.agg, unit_pool);
    for (i = 0; i < s->nreq; ++i) {
        if (strcmp(s->req[i].key.route, PROF_AGG_OTHER) == 0) {
            other += s->req[i].hist.count;
        }
        else {
            own += s->req[i].hist.count;
            routes++;
            /* an admitted route has all its requests */
            if (cn.claim_stalls == 0) {
                ck_assert_uint_eq(s->req[i].hist.count, T_THREADS * T_REPS);
            }
        }
    }
    /* Nothing is ever lost. */
    ck_assert_uint_eq(own + other, (apr_uint64_t)T_THREADS * T_REPS * T_KEYS);
    ck_assert_uint_eq(cn.key_overflow, 0);
    /* A claimer preempted for longer than STALL_US (a loaded machine: seen
     * with a load average of 11 on 2 CPUs) is taken for dead; the others
     * skip its slot, so its key may get a second cell or fold: the
     * conservation above still holds, the exact split is the unloaded
     * case's. */
    if (cn.claim_stalls == 0) {
        ck_assert_uint_eq(prof_agg_routes_of(b.agg, "v"), 50);
        ck_assert_uint_eq(routes, 50);
        ck_assert_uint_eq(cn.route_folded, other);
    }
    blk_free(&b);
}
END_TEST

/* Forked children attach to an apr_shm segment (as httpd's children
 * inherit the one made in post_config) and count into it at once. */
START_TEST(processes_count_into_one_block)
{
    prof_agg_layout_t l = { 256, 4, 512 };
    apr_size_t size = prof_agg_size(&l);
    apr_shm_t *shm;
    prof_agg_t *agg;
    pid_t pid[T_THREADS];
    int i, status;

    ck_assert_int_eq(apr_shm_create(&shm, size, NULL, unit_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(prof_agg_init(&agg, unit_pool, apr_shm_baseaddr_get(shm),
                                   apr_shm_size_get(shm), &l, 9), APR_SUCCESS);
    for (i = 0; i < T_THREADS; ++i) {
        pid[i] = fork();
        ck_assert_int_ge(pid[i], 0);
        if (pid[i] == 0) {
            apr_pool_t *p;
            prof_agg_t *mine;
            tjob_t job;

            if (apr_pool_create(&p, NULL) != APR_SUCCESS
                || prof_agg_attach(&mine, p, apr_shm_baseaddr_get(shm),
                                   apr_shm_size_get(shm), &l) != APR_SUCCESS) {
                _exit(3);
            }
            prof_agg_set_max_routes(mine, T_KEYS);
            job.agg = mine;
            job.seed = i;
            thread_run(&job);
            _exit(0);
        }
    }
    for (i = 0; i < T_THREADS; ++i) {
        ck_assert_int_eq(waitpid(pid[i], &status, 0), pid[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "child %d: status 0x%x", i, status);
    }
    check_converged(agg, T_THREADS * T_REPS);
    ck_assert_int_eq(apr_shm_destroy(shm), APR_SUCCESS);
}
END_TEST

/* ---- attach ---------------------------------------------------------- */

START_TEST(attach_takes_over_a_valid_block)
{
    prof_agg_layout_t got, other;
    prof_agg_snap_t *s;
    prof_agg_t *again;
    blk_t b;

    blk_new(&b, 32, 4, 32);
    prof_agg_record(b.agg, "v", "/", "GET", 200, NULL, -1, 0);
    prof_agg_span(b.agg, "db", 3);
    ck_assert_int_eq(prof_agg_attach(&again, unit_pool, b.mem, b.size,
                                     &b.layout), APR_SUCCESS);
    prof_agg_record(again, "v", "/", "GET", 200, NULL, -1, 0);
    s = prof_agg_snapshot(again, unit_pool);
    ck_assert_uint_eq(s->generation, 42);
    ck_assert_uint_eq(count_of(s, "v", "/", "GET", 200), 2);
    ck_assert_uint_eq(s->nspan, 1);
    ck_assert_int_eq(prof_agg_layout_of(b.mem, b.size, &got), APR_SUCCESS);
    ck_assert_uint_eq(got.keys, 32);
    ck_assert_uint_eq(got.spans, 4);
    ck_assert_uint_eq(got.routes, 32);
    /* Another layout: valid, but not this one. */
    other = b.layout;
    other.keys = 16;
    ck_assert_int_eq(prof_agg_attach(&again, unit_pool, b.mem, b.size,
                                     &other), APR_EMISMATCH);
    ck_assert_ptr_null(again);
    /* Bad layouts and blocks. */
    other.keys = 0;
    ck_assert_uint_eq(prof_agg_size(&other), 0);
    other.keys = PROF_AGG_CAPACITY_MAX + 1;
    ck_assert_uint_eq(prof_agg_size(&other), 0);
    ck_assert_int_eq(prof_agg_init(&again, unit_pool, b.mem, b.size - 1,
                                   &b.layout, 1), APR_EINVAL);
    ck_assert_int_eq(prof_agg_init(&again, unit_pool, (char *)b.mem + 4,
                                   b.size - 8, &b.layout, 1), APR_EINVAL);
    ck_assert_int_eq(prof_agg_attach(&again, unit_pool, b.mem, b.size - 1,
                                     &b.layout), APR_EINVAL);
    ck_assert_int_eq(prof_agg_attach(&again, unit_pool, NULL, b.size,
                                     &b.layout), APR_EINVAL);
    /* Still intact after all that. */
    ck_assert_int_eq(prof_agg_attach(&again, unit_pool, b.mem, b.size,
                                     &b.layout), APR_SUCCESS);
    blk_free(&b);
}
END_TEST

/* Where needle first occurs in the block. */
static char *block_find(blk_t *b, const char *needle)
{
    apr_size_t n = strlen(needle), i;

    for (i = 0; i + n <= b->size; ++i) {
        if (memcmp((char *)b->mem + i, needle, n) == 0) {
            return (char *)b->mem + i;
        }
    }
    ck_abort_msg("%s not in the block", needle);
    return NULL;
}

/* Each corruption, on a block that has counted something. */
START_TEST(attach_refuses_foreign_and_corrupt_blocks)
{
    prof_agg_t *again;
    blk_t b;
    char *at;
    apr_size_t i;

    blk_new(&b, 32, 4, 32);
    prof_agg_record(b.agg, "vhost-one", "/route-one", "GET", 200, NULL, -1, 0);
    prof_agg_span(b.agg, "span-one", 3);
    switch (_i) {
    case 0:                             /* never formatted */
        memset(b.mem, 0, b.size);
        break;
    case 1:                             /* something else's memory */
        memset(b.mem, 'x', b.size);
        break;
    case 2:                             /* magic */
        ((unsigned char *)b.mem)[0] ^= 1;
        break;
    case 3:                             /* a capacity, checksum not fixed */
        ((unsigned char *)b.mem)[8] ^= 0x40;
        break;
    case 4:                             /* the checksum itself */
        ((unsigned char *)b.mem)[sizeof(apr_uint32_t) * 16 + 16] ^= 1;
        break;
    case 5:                             /* a key's bytes: hash mismatch */
        at = block_find(&b, "/route-one");
        at[1] = 'R';
        break;
    case 6:                             /* a key's NUL */
        at = block_find(&b, "vhost-one");
        at[9] = '!';
        break;
    case 7:                             /* a span name */
        at = block_find(&b, "span-one");
        at[0] = 'S';
        break;
    case 8:                             /* everything after the header */
        memset((char *)b.mem + 256, 0xff, b.size - 256);
        break;
    case 9:                             /* a class cell's key */
        at = block_find(&b, "(other)");
        at[1] = 'O';
        break;
    case 10:                            /* a short method's padding, which
                                           the keyed path compares */
        at = block_find(&b, "GET");
        at[5] = 'x';
        break;
    default:                            /* every word of the indices and
                                           counters, one bad cell index */
        for (i = 136; i + 8 <= b.size; i += 8) {
            apr_uint64_t w;

            memcpy(&w, (char *)b.mem + i, 8);
            if ((w >> 30 & 3) == 2 && (w & 0x3fffffff) == 0) {
                w |= 0x1000;            /* a READY slot: point elsewhere */
                memcpy((char *)b.mem + i, &w, 8);
                break;
            }
        }
        ck_assert_uint_lt(i + 8, b.size);
    }
    ck_assert_int_eq(prof_agg_attach(&again, unit_pool, b.mem, b.size,
                                     &b.layout), APR_EINVAL);
    ck_assert_ptr_null(again);
    /* Re-created, it works. */
    ck_assert_int_eq(prof_agg_init(&again, unit_pool, b.mem, b.size,
                                   &b.layout, 43), APR_SUCCESS);
    ck_assert_int_eq(prof_agg_attach(&again, unit_pool, b.mem, b.size,
                                     &b.layout), APR_SUCCESS);
    blk_free(&b);
}
END_TEST

/* A claimer killed between its CAS and publishing the cell leaves its slot
 * CLAIMING for ever. Made here from a published key: its READY slot turned
 * back into CLAIMING and its cell's ready flag cleared (the flag follows
 * the key in the cell: white-box, as prof_agg.c lays it out). The next
 * request of that key waits a bounded time, marks the slot DEAD and gets a
 * new cell; later ones do not wait; attach still takes the block. */
START_TEST(dead_claimer_costs_one_bounded_wait)
{
    prof_agg_counters_t cn;
    prof_agg_snap_t *s;
    prof_agg_t *again;
    prof_mono_us_t t0, waited;
    apr_uint32_t id, zero = 0;
    apr_size_t i;
    char *route;
    blk_t b;

    blk_new(&b, 32, 4, 32);
    prof_agg_record(b.agg, "v", "/first", "GET", 200, NULL, -1, 0);
    prof_agg_record(b.agg, "v", "/dead", "GET", 200, NULL, -1, 0);
    s = prof_agg_snapshot(b.agg, unit_pool);
    id = find_cell(s, "v", "/dead", "GET", 200)->id;
    ck_assert_uint_eq(id, 1);
    /* The request index is the first thing after the header. */
    for (i = 136; i + 8 <= b.size; i += 8) {
        apr_uint64_t w;

        memcpy(&w, (char *)b.mem + i, 8);
        if ((w >> 30 & 3) == 2 && (w & 0x3fffffff) == id) {
            w = (w & ~(apr_uint64_t)0xffffffff) | (APR_UINT64_C(1) << 30);
            memcpy((char *)b.mem + i, &w, 8);
            break;
        }
    }
    ck_assert_uint_lt(i + 8, b.size);
    route = block_find(&b, "/dead");
    memcpy(route - offsetof(prof_agg_key_t, route) + sizeof(prof_agg_key_t),
           &zero, sizeof(zero));

    t0 = prof_clock_now_us();
    ck_assert_int_eq(prof_agg_record(b.agg, "v", "/dead", "GET", 200, NULL,
                                     -1, 0), PROF_AGG_COUNTED);
    waited = prof_clock_now_us() - t0;
    ck_assert_int_ge(waited, 50000);             /* STALL_US */
    ck_assert_int_lt(waited, 5000000);
    t0 = prof_clock_now_us();
    for (i = 0; i < 10; ++i) {
        ck_assert_int_eq(prof_agg_record(b.agg, "v", "/dead", "GET", 200,
                                         NULL, -1, 0), PROF_AGG_COUNTED);
    }
    /* not waited for again: ten records in less than one STALL_US */
    ck_assert_int_lt(prof_clock_now_us() - t0, 50000);
    ck_assert_int_eq(prof_agg_record(b.agg, "v", "/first", "GET", 200, NULL,
                                     -1, 0), PROF_AGG_COUNTED);
    prof_agg_counters(b.agg, &cn);
    ck_assert_uint_eq(cn.claim_stalls, 1);
    ck_assert_uint_eq(cn.key_overflow, 0);
    s = prof_agg_snapshot(b.agg, unit_pool);
    /* the dead claim's cell is out of sight, with the request it had */
    ck_assert_uint_eq(s->nreq, 2);
    ck_assert_uint_eq(count_of(s, "v", "/dead", "GET", 200), 11);
    ck_assert_uint_eq(count_of(s, "v", "/first", "GET", 200), 2);
    ck_assert_int_eq(prof_agg_attach(&again, unit_pool, b.mem, b.size,
                                     &b.layout), APR_SUCCESS);
    blk_free(&b);
}
END_TEST

/* ---- rollups from the aggregates ------------------------------------ */

/* The entries of a delta are the entries the store's writer builds from
 * rows of the same requests (prof_rollup_add() at weight 1): same keys,
 * same order, same counts, sums and buckets. Only samples differs (rows
 * behind an entry: 0 here). */
START_TEST(rollup_entries_equal_the_writers)
{
    static const char *const vhosts[] = { "a", "b" };
    static const char *const routes[] = { "/x", "/y", "/caf\xc3\xa9" };
    static const char *const methods[] = { "GET", "POST" };
    static const int statuses[] = { 200, 204, 301, 404, 410, 500, 503, 0 };
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    apr_int64_t dur[PROF_PHASE_COUNT];
    apr_int64_t minute = APR_INT64_C(1733100000) * 1000000;
    uint64_t st = unit_seed(_i);
    prof_rollup_t *ref = prof_rollup_create(unit_pool);
    apr_array_header_t *want, *got;
    prof_agg_snap_t *snap;
    blk_t b;
    int i, k;

    blk_new(&b, 256, 4, 64);
    for (i = 0; i < 3000; ++i) {
        uint64_t r = unit_rand(&st);
        prof_row_t row;

        memset(&row, 0, sizeof(row));
        for (k = 0; k < PROF_PHASE_COUNT; ++k) {
            ph[k] = (apr_interval_time_t)((r >> k) % 3000);
        }
        ph[PROF_PHASE_TOTAL] = (apr_interval_time_t)((r >> 16) % 5000000);
        for (k = 0; k < PROF_PHASE_COUNT; ++k) {
            dur[k] = ph[k];
        }
        row.start_us = minute + (apr_int64_t)(r % 60000000);
        memcpy(row.dur_us, dur, sizeof(dur));
        row.ttfb_us = ph[PROF_PHASE_TOTAL] / 3;
        row.bytes_sent = (apr_int64_t)((r >> 40) % 20000);
        row.status = statuses[(r >> 44) % 8];
        row.weight = 1;
        row.vhost = vhosts[(r >> 48) % 2];
        row.route = routes[(r >> 50) % 3];
        row.method = methods[(r >> 53) % 2];
        prof_rollup_add(ref, &row);
        prof_agg_record(b.agg, row.vhost, row.route, row.method, row.status,
                        ph, row.ttfb_us, (apr_uint64_t)row.bytes_sent);
    }
    snap = prof_agg_snapshot(b.agg, unit_pool);
    got = prof_agg_rollup_entries(unit_pool,
                                  prof_agg_delta(unit_pool, NULL, snap),
                                  minute);
    want = prof_rollup_sorted(ref);
    ck_assert_int_eq(got->nelts, want->nelts);
    for (i = 0; i < want->nelts; ++i) {
        const prof_rollup_entry_t *w = APR_ARRAY_IDX(want, i,
                                                     prof_rollup_entry_t *);
        const prof_rollup_entry_t *g = APR_ARRAY_IDX(got, i,
                                                     prof_rollup_entry_t *);

        ck_assert_int_eq(g->minute_us, w->minute_us);
        ck_assert_str_eq(g->vhost, w->vhost);
        ck_assert_str_eq(g->route, w->route);
        ck_assert_str_eq(g->method, w->method);
        ck_assert_int_eq(g->status_class, w->status_class);
        ck_assert_uint_eq(g->samples, 0);
        ck_assert_uint_eq(g->bytes_sum, w->bytes_sum);
        ck_assert_uint_eq(g->ttfb_sum_us, w->ttfb_sum_us);
        ck_assert_int_eq(memcmp(g->phase_sum_us, w->phase_sum_us,
                                sizeof(g->phase_sum_us)), 0);
        ck_assert_int_eq(memcmp(g->hist.n, w->hist.n, sizeof(g->hist.n)), 0);
        ck_assert_uint_eq(g->hist.count, w->hist.count);
        ck_assert_uint_eq(g->hist.sum, w->hist.sum);
        ck_assert_int_eq(g->hist.min, w->hist.min);
        ck_assert_int_eq(g->hist.max, w->hist.max);
    }
    blk_free(&b);
}
END_TEST

/* Minute after minute, the entries of successive deltas add up to every
 * request recorded, whatever the interleaving. */
START_TEST(rollup_deltas_count_every_request)
{
    uint64_t st = unit_seed(50 + _i);
    prof_agg_snap_t *prev = NULL, *now;
    apr_uint64_t recorded = 0, booked = 0;
    blk_t b;
    int minute, i, j;

    blk_new(&b, 64, 4, 64);
    for (minute = 0; minute < 20; ++minute) {
        apr_array_header_t *e;
        int n = (int)(unit_rand(&st) % 300);

        for (i = 0; i < n; ++i) {
            uint64_t r = unit_rand(&st);
            char route[16];

            snprintf(route, sizeof(route), "/r%d", (int)(r % 100));
            prof_agg_record(b.agg, "v", route, "GET",
                            (int)(100 + (r >> 8) % 500), NULL, -1, 0);
        }
        recorded += (apr_uint64_t)n;
        now = prof_agg_snapshot(b.agg, unit_pool);
        e = prof_agg_rollup_entries(unit_pool,
                                    prof_agg_delta(unit_pool, prev, now),
                                    (apr_int64_t)minute * 60000000);
        for (j = 0; j < e->nelts; ++j) {
            booked += APR_ARRAY_IDX(e, j, prof_rollup_entry_t *)->hist.count;
        }
        prev = now;
        ck_assert_uint_eq(booked, recorded);
    }
    blk_free(&b);
}
END_TEST

Suite *prof_agg_suite(void)
{
    Suite *s = suite_create("prof_agg");
    TCase *tc = tcase_create("agg");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, cells_equal_the_store_histogram, 0, 3);
    tcase_add_test(tc, null_and_odd_input);
    tcase_add_test(tc, keys_are_cut_on_characters);
    tcase_add_loop_test(tc, keys_of_every_length_compare_exactly, 0, 3);
    tcase_add_loop_test(tc, record_k_counts_as_record, 0, 4);
    tcase_add_loop_test(tc, record_k_strings_of_every_length, 0, 3);
    tcase_add_loop_test(tc, count_ticks_counts_as_record_k, 0, 4);
    tcase_add_test(tc, str_set_cuts_like_the_key);
    tcase_add_test(tc, full_table_folds_and_counts);
    tcase_add_test(tc, route_budget_per_vhost);
    tcase_add_test(tc, route_table_full_folds);
    tcase_add_test(tc, refused_routes_take_no_room);
    tcase_add_test(tc, spans_and_their_overflow);
    tcase_add_loop_test(tc, deltas_add_up_exactly, 0, 4);
    tcase_add_test(tc, groups_by_route_busiest_first);
    tcase_add_loop_test(tc, threads_claim_one_cell_per_key, 0, 3);
    tcase_add_loop_test(tc, threads_share_the_route_budget, 0, 3);
    tcase_add_test(tc, processes_count_into_one_block);
    tcase_add_test(tc, dead_claimer_costs_one_bounded_wait);
    tcase_add_test(tc, attach_takes_over_a_valid_block);
    tcase_add_loop_test(tc, attach_refuses_foreign_and_corrupt_blocks, 0, 12);
    suite_add_tcase(s, tc);
    tc = tcase_create("rollup");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, rollup_entries_equal_the_writers, 0, 3);
    tcase_add_loop_test(tc, rollup_deltas_count_every_request, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
