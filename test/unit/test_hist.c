/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the latency histograms (src/prof_hist.c).
 *
 * The bucket boundaries are checked against their definition, not against
 * the code's fixed-point constants: lo = ceil(2^(j/8)) is the one integer
 * with lo^8 >= 2^j > (lo-1)^8, and both powers are computed here exactly in
 * multi-word integers. The table of single values was computed the same way,
 * outside C, with arbitrary-precision integers.
 *
 * Percentiles are compared with the exact nearest-rank percentile of the
 * samples themselves, sorted, for several distributions and sizes, and the
 * documented bound is checked at both ends of every bucket (where it is
 * nearly attained), so a layout or an estimate that is a little worse than
 * documented fails here.
 *
 * Every input to prof_hist_decode() is handed over in a malloc()ed block of
 * exactly its length, without a NUL, so that ASan catches a read past the
 * end; the hostile inputs are also put right before an inaccessible page,
 * so that the plain run catches it too.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"

#include "prof_hist.h"
#include "unit.h"

#define LAST_BUCKET  ((apr_uint32_t)(PROF_HIST_BUCKETS - 1))
#define TOP          (APR_INT64_C(1) << PROF_HIST_TOP_BITS)
#define N_OF(a)      ((int)(sizeof(a) / sizeof((a)[0])))

/* 2^(1/8), to more digits than a double holds. */
#define RATIO_8TH    1.0905077326652576592

/* ck_assert() records every check that passes, with a write() even when
 * not forking: in the loops that make millions of checks that is most of
 * the run time (seconds, and a minute under ASan). There the condition is
 * tested first, and check only hears of a failure. */
#define HOT_ASSERT(cond, ...) \
    do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)


/* The histograms are 2.5 KB each: from the heap, not the check stack. */
static prof_hist_t *hist_new(void)
{
    prof_hist_t *h = malloc(sizeof(*h));

    HOT_ASSERT(h != NULL, "out of memory");
    prof_hist_init(h);
    return h;
}

/* The same buckets and count; also the same min, max and sum if scalars. */
static void check_same(const prof_hist_t *a, const prof_hist_t *b,
                       int scalars)
{
    int i;

    /* One comparison, and bucket by bucket only to say where they differ:
     * the hostile tests call this tens of thousands of times. */
    for (i = 0; memcmp(a->n, b->n, sizeof(a->n)) && i < PROF_HIST_BUCKETS;
         ++i) {
        HOT_ASSERT(a->n[i] == b->n[i], "bucket %d: %llu != %llu", i,
                   (unsigned long long)a->n[i], (unsigned long long)b->n[i]);
    }
    HOT_ASSERT(a->count == b->count, "count %llu != %llu",
               (unsigned long long)a->count, (unsigned long long)b->count);
    if (scalars) {
        HOT_ASSERT(a->min == b->min && a->max == b->max && a->sum == b->sum,
                   "min %lld/%lld, max %lld/%lld, sum %llu/%llu",
                   (long long)a->min, (long long)b->min, (long long)a->max,
                   (long long)b->max, (unsigned long long)a->sum,
                   (unsigned long long)b->sum);
    }
}

/* What every histogram must satisfy: count is the sum of the buckets, and
 * min and max lie in the first and last non-empty bucket. */
static void check_invariants(const prof_hist_t *h)
{
    apr_uint64_t total = 0;
    int i, first = -1, last = -1;

    for (i = 0; i < PROF_HIST_BUCKETS; ++i) {
        if (h->n[i]) {
            HOT_ASSERT(total <= APR_UINT64_MAX - h->n[i], "total wraps");
            total += h->n[i];
            if (first < 0) {
                first = i;
            }
            last = i;
        }
    }
    HOT_ASSERT(total == h->count, "count %llu, buckets %llu",
               (unsigned long long)h->count, (unsigned long long)total);
    if (h->count == 0) {
        HOT_ASSERT(h->min == 0 && h->max == 0 && h->sum == 0,
                   "empty, with min %lld max %lld sum %llu", (long long)h->min,
                   (long long)h->max, (unsigned long long)h->sum);
        return;
    }
    HOT_ASSERT(prof_hist_bucket(h->min) == (apr_uint32_t)first
               && prof_hist_bucket(h->max) == (apr_uint32_t)last,
               "min %lld, max %lld outside buckets %d..%d", (long long)h->min,
               (long long)h->max, first, last);
}

/* ------------------------------------------- exact powers, multi-word */

#define BIG_LIMBS 18    /* 576 bits: x^8 for any x < 2^64 */

typedef struct {
    uint32_t w[BIG_LIMBS];      /* little-endian 32-bit limbs */
} big_t;

static void big_mul(big_t *out, const big_t *a, const big_t *b)
{
    big_t r;
    int i, j;

    memset(&r, 0, sizeof(r));
    for (i = 0; i < BIG_LIMBS; ++i) {
        uint64_t carry = 0;

        if (a->w[i] == 0) {
            continue;
        }
        for (j = 0; i + j < BIG_LIMBS; ++j) {
            uint64_t t = (uint64_t)a->w[i] * b->w[j] + r.w[i + j] + carry;

            r.w[i + j] = (uint32_t)t;
            carry = t >> 32;
        }
        HOT_ASSERT(carry == 0, "big_mul overflows");
    }
    *out = r;
}

/* x^8 >= 2^j, decided exactly. */
static int pow8_at_least_pow2(uint64_t x, unsigned j)
{
    big_t p;
    unsigned k;

    memset(&p, 0, sizeof(p));
    p.w[0] = (uint32_t)x;
    p.w[1] = (uint32_t)(x >> 32);
    big_mul(&p, &p, &p);
    big_mul(&p, &p, &p);
    big_mul(&p, &p, &p);
    /* x^8 >= 2^j iff it has a bit at position j or above */
    for (k = j / 32; k < BIG_LIMBS; ++k) {
        uint32_t w = p.w[k];

        if (k == j / 32) {
            w >>= j % 32;
        }
        if (w) {
            return 1;
        }
    }
    return 0;
}

/* -------------------------------------------------------------- buckets */

START_TEST(layout_constants)
{
    apr_interval_time_t lo = 1, hi = 1;

    ck_assert_int_eq(PROF_HIST_BUCKETS, 305);
    ck_assert_int_eq(prof_hist_bucket(TOP - 1), LAST_BUCKET - 1);
    ck_assert_int_eq(prof_hist_bucket(TOP), LAST_BUCKET);
    /* The documented bound is the exact one, rounded up, and tight. */
    ck_assert((RATIO_8TH - 1) / (RATIO_8TH + 1) <= PROF_HIST_MAX_REL_ERR);
    ck_assert((RATIO_8TH - 1) / (RATIO_8TH + 1) > PROF_HIST_MAX_REL_ERR
                                                    - 0.0001);
    prof_hist_bounds(PROF_HIST_BUCKETS, &lo, &hi);
    ck_assert_int_eq(lo, 0);
    ck_assert_int_eq(hi, 0);
    prof_hist_bounds(0xffffffffu, &lo, &hi);
    ck_assert_int_eq(lo, hi);
    prof_hist_bounds(3, NULL, NULL);            /* either may be NULL */
    prof_hist_bounds(3, &lo, NULL);
    ck_assert_int_eq(lo, 3);
    prof_hist_bounds(3, NULL, &hi);
    ck_assert_int_eq(hi, 4);
    ck_assert_uint_le(sizeof(prof_hist_t),
                      (PROF_HIST_BUCKETS + 4) * sizeof(apr_uint64_t));
}
END_TEST

/* One loop iteration per bucket: its bounds round-trip, it touches its
 * neighbours, and its lower bound is ceil(2^(j/8)), exactly. */
START_TEST(bucket_bounds)
{
    apr_uint32_t b = (apr_uint32_t)_i;
    apr_interval_time_t lo, hi, nlo, nhi, last;

    prof_hist_bounds(b, &lo, &hi);
    ck_assert_int_lt(lo, hi);
    last = b == LAST_BUCKET ? hi : hi - 1;
    ck_assert_int_eq(prof_hist_bucket(lo), b);
    ck_assert_int_eq(prof_hist_bucket(last), b);
    ck_assert_int_eq(prof_hist_bucket(lo + (last - lo) / 2), b);
    if (b > 0) {
        ck_assert_int_eq(prof_hist_bucket(lo - 1), b - 1);
        prof_hist_bounds(b - 1, &nlo, &nhi);
        ck_assert_int_eq(nhi, lo);              /* contiguous */
    }
    else {
        ck_assert_int_eq(lo, 0);
        ck_assert_int_eq(hi, 1);
    }
    if (b < LAST_BUCKET) {
        ck_assert_int_eq(prof_hist_bucket(hi), b + 1);
    }
    else {
        ck_assert_int_eq(lo, TOP);
        ck_assert_int_eq(hi, APR_INT64_MAX);
    }
    if (b < PROF_HIST_EXACT) {
        ck_assert_int_eq(lo, (apr_interval_time_t)b);
        ck_assert_int_eq(hi, (apr_interval_time_t)b + 1);
    }
    if (b >= 8) {
        /* lo = ceil(2^(j/8)) with j = b + 16: lo^8 >= 2^j > (lo-1)^8 */
        unsigned j = b + 16;

        ck_assert_msg(pow8_at_least_pow2((uint64_t)lo, j),
                      "bucket %u: %lld^8 < 2^%u", b, (long long)lo, j);
        ck_assert_msg(!pow8_at_least_pow2((uint64_t)lo - 1, j),
                      "bucket %u: %lld^8 >= 2^%u", b, (long long)lo - 1, j);
    }
    if (b >= 8 && b < LAST_BUCKET) {
        /* No bucket is wider than 2^(1/8), none is empty, and so none has
         * a worse estimate than documented. */
        ck_assert((double)last / (double)lo < RATIO_8TH);
        ck_assert((double)(last - lo) / (double)(last + lo)
                  <= PROF_HIST_MAX_REL_ERR);
    }
}
END_TEST

/* Single values; the bucket numbers were computed outside C, exactly, as
 * floor(log2(v^8)) - 16. */
static const struct {
    apr_interval_time_t us;
    apr_uint32_t b;
} one_cases[] = {
    { APR_INT64_MIN, 0 }, { -1000000, 0 }, { -1, 0 }, { 0, 0 }, { 1, 1 },
    { 2, 2 }, { 7, 7 }, { 8, 8 }, { 9, 9 }, { 15, 15 }, { 16, 16 },
    { 17, 16 }, { 18, 17 }, { 19, 17 }, { 20, 18 }, { 21, 19 }, { 22, 19 },
    { 23, 20 }, { 29, 22 }, { 30, 23 }, { 31, 23 }, { 32, 24 }, { 100, 37 },
    { 999, 63 }, { 1000, 63 }, { 1023, 63 }, { 1024, 64 }, { 1025, 64 },
    { 65535, 111 }, { 65536, 112 }, { 99999, 116 }, { 100000, 116 },
    { 1000000, 143 }, { 1000000000, 223 },
    { APR_INT64_C(549755813888), 296 }, { APR_INT64_C(1099511627775), 303 },
    { APR_INT64_C(1099511627776), 304 }, { APR_INT64_C(1099511627777), 304 },
    { APR_INT64_C(1) << 50, 304 }, { APR_INT64_MAX - 1, 304 },
    { APR_INT64_MAX, 304 },
};

static const struct {
    apr_uint32_t b;
    apr_interval_time_t lo, hi;
} bound_cases[] = {
    { 0, 0, 1 }, { 7, 7, 8 }, { 15, 15, 16 }, { 16, 16, 18 }, { 17, 18, 20 },
    { 18, 20, 21 }, { 23, 30, 32 }, { 24, 32, 35 }, { 37, 99, 108 },
    { 63, 940, 1024 }, { 64, 1024, 1117 }, { 116, 92682, 101071 },
    { 143, 961549, 1048576 }, { 223, 984625594, 1073741824 },
    { 296, APR_INT64_C(549755813888), APR_INT64_C(599512966123) },
    { 303, APR_INT64_C(1008256608222), APR_INT64_C(1099511627776) },
    { 304, APR_INT64_C(1099511627776), APR_INT64_MAX },
};

START_TEST(bucket_table)
{
    ck_assert_msg(prof_hist_bucket(one_cases[_i].us) == one_cases[_i].b,
                  "%lld: bucket %u, not %u", (long long)one_cases[_i].us,
                  prof_hist_bucket(one_cases[_i].us), one_cases[_i].b);
}
END_TEST

START_TEST(bounds_table)
{
    apr_interval_time_t lo, hi;

    prof_hist_bounds(bound_cases[_i].b, &lo, &hi);
    ck_assert_int_eq(lo, bound_cases[_i].lo);
    ck_assert_int_eq(hi, bound_cases[_i].hi);
}
END_TEST

/* Every value up to 2^20, and both sides of every power of two: monotonic,
 * in steps of at most one bucket, inside its bucket's bounds. */
START_TEST(bucket_monotonic)
{
    apr_interval_time_t v, lo, hi;
    apr_uint32_t prev = 0, b;
    int e, d;

    for (v = 0; v <= (1 << 20); ++v) {
        b = prof_hist_bucket(v);
        HOT_ASSERT(b == prev || b == prev + 1, "%lld: bucket %u after %u",
                   (long long)v, b, prev);
        prof_hist_bounds(b, &lo, &hi);
        HOT_ASSERT(lo <= v && v < hi, "%lld not in bucket %u", (long long)v,
                   b);
        prev = b;
    }
    for (e = 1; e < 63; ++e) {
        for (d = -2; d <= 2; ++d) {
            v = (APR_INT64_C(1) << e) + d;
            b = prof_hist_bucket(v);
            prof_hist_bounds(b, &lo, &hi);
            ck_assert(lo <= v && (v < hi || b == LAST_BUCKET));
            ck_assert_uint_le(prof_hist_bucket(v - 1), b);
        }
    }
}
END_TEST

/* A value of uniformly random bit length, then uniformly random bits. */
static apr_interval_time_t random_magnitude(uint64_t *rs, unsigned maxbits)
{
    unsigned bits = (unsigned)(unit_rand(rs) % (maxbits + 1));

    if (bits == 0) {
        return 0;
    }
    return (apr_interval_time_t)((unit_rand(rs) >> (64 - bits))
                                 | (APR_UINT64_C(1) << (bits - 1)));
}

START_TEST(bucket_random)
{
    uint64_t rs = unit_seed(_i);
    int k;

    for (k = 0; k < 20000; ++k) {
        apr_interval_time_t v = random_magnitude(&rs, 63), w, lo, hi;
        apr_uint32_t b = prof_hist_bucket(v);

        HOT_ASSERT(b < PROF_HIST_BUCKETS, "%lld: bucket %u", (long long)v, b);
        prof_hist_bounds(b, &lo, &hi);
        HOT_ASSERT(lo <= v && (v < hi || b == LAST_BUCKET),
                   "%lld not in bucket %u", (long long)v, b);
        w = random_magnitude(&rs, 63);
        HOT_ASSERT(v <= w ? b <= prof_hist_bucket(w)
                          : b >= prof_hist_bucket(w),
                   "buckets of %lld and %lld out of order", (long long)v,
                   (long long)w);
    }
}
END_TEST

/* ---------------------------------------------------------- percentiles */

typedef struct {
    apr_interval_time_t v;
    apr_uint64_t w;
    apr_uint64_t cum;   /* weight of this sample and all before it */
} sample_t;

static int sample_cmp(const void *a, const void *b)
{
    apr_interval_time_t x = ((const sample_t *)a)->v;
    apr_interval_time_t y = ((const sample_t *)b)->v;

    return x < y ? -1 : x > y;
}

typedef apr_interval_time_t (*gen_fn)(uint64_t *rs);

static apr_interval_time_t gen_uniform(uint64_t *rs)
{
    return (apr_interval_time_t)(unit_rand(rs) % 1000000);    /* 0-1 s */
}

/* log-normal-ish: an exponent that is a sum of four dice (bell-shaped
 * around 2^14 us), then a uniform mantissa */
static apr_interval_time_t gen_lognormal(uint64_t *rs)
{
    unsigned e = 6, i;

    for (i = 0; i < 4; ++i) {
        e += (unsigned)(unit_rand(rs) % 5);
    }
    return (apr_interval_time_t)((APR_UINT64_C(1) << e)
                                 + unit_rand(rs) % (APR_UINT64_C(1) << e));
}

/* fast cache hits and slow misses: 90 % near 200 us, 10 % near 2 s */
static apr_interval_time_t gen_bimodal(uint64_t *rs)
{
    uint64_t r = unit_rand(rs);

    if (r % 10 < 9) {
        return (apr_interval_time_t)(150 + (r >> 8) % 101);
    }
    return (apr_interval_time_t)(1800000 + (r >> 8) % 400001);
}

static apr_interval_time_t gen_single(uint64_t *rs)
{
    (void)rs;
    return 12345;
}

static apr_interval_time_t gen_two(uint64_t *rs)
{
    return unit_rand(rs) % 10 < 7 ? 100 : 5000000;
}

/* the exact buckets and the first narrow ones, where rounding to whole
 * microseconds is most of the error */
static apr_interval_time_t gen_tiny(uint64_t *rs)
{
    return (apr_interval_time_t)(unit_rand(rs) % 41);
}

/* any magnitude below the overflow bucket */
static apr_interval_time_t gen_wide(uint64_t *rs)
{
    return random_magnitude(rs, PROF_HIST_TOP_BITS);
}

static const struct {
    const char *name;
    gen_fn gen;
    int weighted;       /* random weights 1..8, else all 1 */
} dists[] = {
    { "uniform", gen_uniform, 0 },
    { "lognormal", gen_lognormal, 0 },
    { "bimodal", gen_bimodal, 0 },
    { "single", gen_single, 0 },
    { "two values", gen_two, 0 },
    { "tiny", gen_tiny, 0 },
    { "wide", gen_wide, 0 },
    { "lognormal weighted", gen_lognormal, 1 },
    { "wide weighted", gen_wide, 1 },
    { "bimodal weighted", gen_bimodal, 1 },
};

static const int sizes[] = { 100, 1000, 10000, 100000 };

/* p, and the same as millionths for the exact rank */
static const struct {
    double p;
    apr_uint64_t pm;
} pcts[] = {
    { 0, 0 }, { 50, 500000 }, { 90, 900000 }, { 95, 950000 },
    { 99, 990000 }, { 99.9, 999000 }, { 100, 1000000 },
};

/* The exact nearest-rank percentile of sorted samples whose cum is the
 * running weight: the first sample at which it reaches
 * ceil(W * pm / 10^6), at least 1. By bisection: the sweep over p below
 * asks 2000 times, of up to 100000 samples. */
static apr_interval_time_t exact_pct(const sample_t *s, int n,
                                     apr_uint64_t total, apr_uint64_t pm)
{
    apr_uint64_t rank = (total * pm + 999999) / 1000000;
    int lo = 0, hi = n - 1;

    if (rank == 0) {
        rank = 1;
    }
    ck_assert_uint_eq(s[n - 1].cum, total);
    while (lo < hi) {               /* the first i with cum >= rank */
        int mid = lo + (hi - lo) / 2;

        if (s[mid].cum >= rank) {
            hi = mid;
        }
        else {
            lo = mid + 1;
        }
    }
    return s[lo].v;
}

/* The documented bound: |estimate - exact| <= REL * exact + 0.5 us. */
static void check_bound(apr_interval_time_t est, apr_interval_time_t exact,
                        const char *what, double p)
{
    double err = (double)(est > exact ? est - exact : exact - est);

    HOT_ASSERT(err <= PROF_HIST_MAX_REL_ERR * (double)exact + 0.5,
                  "%s p%g: estimate %lld, exact %lld (%.3f %%)", what, p,
                  (long long)est, (long long)exact,
                  exact ? 100.0 * err / (double)exact : 0.0);
}

START_TEST(percentile_vs_exact)
{
    int di = _i / N_OF(sizes), n = sizes[_i % N_OF(sizes)], i, k;
    uint64_t rs = unit_seed(_i);
    sample_t *s = malloc((size_t)n * sizeof(*s));
    prof_hist_t *h = hist_new();
    apr_uint64_t total = 0, sum = 0;
    apr_interval_time_t prev = 0;
    char what[64];

    ck_assert_ptr_nonnull(s);
    snprintf(what, sizeof(what), "%s, %d samples", dists[di].name, n);
    for (i = 0; i < n; ++i) {
        s[i].v = dists[di].gen(&rs);
        s[i].w = dists[di].weighted ? 1 + unit_rand(&rs) % 8 : 1;
        prof_hist_add(h, s[i].v, s[i].w);
        total += s[i].w;
        sum += s[i].w * (apr_uint64_t)s[i].v;
    }
    qsort(s, (size_t)n, sizeof(*s), sample_cmp);
    for (i = 0; i < n; ++i) {
        s[i].cum = (i ? s[i - 1].cum : 0) + s[i].w;
    }
    check_invariants(h);
    ck_assert_uint_eq(h->count, total);
    ck_assert_uint_eq(h->sum, sum);
    ck_assert_int_eq(h->min, s[0].v);
    ck_assert_int_eq(h->max, s[n - 1].v);

    for (k = 0; k < N_OF(pcts); ++k) {
        apr_interval_time_t est = prof_hist_percentile(h, pcts[k].p);
        apr_interval_time_t exact = exact_pct(s, n, total, pcts[k].pm);

        check_bound(est, exact, what, pcts[k].p);
        ck_assert(est >= h->min && est <= h->max);
    }
    ck_assert_int_eq(prof_hist_percentile(h, 0), s[0].v);
    ck_assert_int_eq(prof_hist_percentile(h, 100), s[n - 1].v);

    /* Non-decreasing in p, and within the bound all the way. */
    for (k = 0; k <= 2000; ++k) {
        double p = k / 20.0;
        apr_interval_time_t est = prof_hist_percentile(h, p);

        HOT_ASSERT(est >= prev, "%s: p%g %lld < %lld", what, p,
                      (long long)est, (long long)prev);
        check_bound(est, exact_pct(s, n, total, (apr_uint64_t)k * 500), what,
                    p);
        prev = est;
    }
    free(h);
    free(s);
}
END_TEST

/* The bound at both ends of every bucket, where it is nearly attained:
 * samples 0 and 2^41 keep min and max from narrowing the bucket, so the
 * estimate is the one for the bucket's whole range. */
START_TEST(percentile_every_bucket)
{
    apr_uint32_t b = (apr_uint32_t)_i;
    apr_interval_time_t lo, hi, ends[2];
    prof_hist_t *h = hist_new();
    int k;

    prof_hist_bounds(b, &lo, &hi);
    ends[0] = lo;
    ends[1] = hi - 1;
    for (k = 0; k < 2; ++k) {
        apr_interval_time_t est;

        prof_hist_init(h);
        prof_hist_add(h, 0, 1);
        prof_hist_add(h, ends[k], 3);
        prof_hist_add(h, TOP * 2, 1);
        est = prof_hist_percentile(h, 50);     /* rank 3: ends[k] */
        ck_assert_int_eq(prof_hist_bucket(est), b);
        check_bound(est, ends[k], "bucket end", 50);
    }
    /* Every value of the narrower buckets. */
    if (hi - lo <= 64) {
        apr_interval_time_t v;

        for (v = lo; v < hi; ++v) {
            prof_hist_init(h);
            prof_hist_add(h, 0, 1);
            prof_hist_add(h, v, 3);
            prof_hist_add(h, TOP * 2, 1);
            check_bound(prof_hist_percentile(h, 50), v, "bucket value", 50);
        }
    }
    free(h);
}
END_TEST

START_TEST(percentile_edges)
{
    prof_hist_t *h = hist_new();
    double nan = 0.0;

    nan = nan / nan;
    /* empty */
    ck_assert_int_eq(prof_hist_percentile(h, 0), 0);
    ck_assert_int_eq(prof_hist_percentile(h, 50), 0);
    ck_assert_int_eq(prof_hist_percentile(h, 100), 0);
    ck_assert_int_eq(prof_hist_percentile(h, nan), 0);

    /* one sample: every p is it */
    prof_hist_add(h, 777777, 1);
    ck_assert_int_eq(prof_hist_percentile(h, 0), 777777);
    ck_assert_int_eq(prof_hist_percentile(h, 50), 777777);
    ck_assert_int_eq(prof_hist_percentile(h, 100), 777777);

    /* two: rank ceil(2 * p / 100); p out of range and NaN are clamped */
    prof_hist_init(h);
    prof_hist_add(h, 10, 1);
    prof_hist_add(h, 1000, 1);
    ck_assert_int_eq(prof_hist_percentile(h, 50), 10);
    ck_assert_int_eq(prof_hist_percentile(h, 50.0001), 1000);
    ck_assert_int_eq(prof_hist_percentile(h, 50.00004), 10);  /* 4 places */
    ck_assert_int_eq(prof_hist_percentile(h, -5), 10);
    ck_assert_int_eq(prof_hist_percentile(h, nan), 10);
    ck_assert_int_eq(prof_hist_percentile(h, 150), 1000);
    ck_assert_int_eq(prof_hist_percentile(h, 1e300), 1000);

    /* 99.99999 is 100: the maximum, not the one below */
    prof_hist_init(h);
    prof_hist_add(h, 5, 9999999);
    prof_hist_add(h, 99999, 1);
    ck_assert_int_eq(prof_hist_percentile(h, 99.99999), 99999);
    ck_assert_int_eq(prof_hist_percentile(h, 99.9999), 5);

    /* a rank exactly at a bucket's end, and one past it */
    prof_hist_init(h);
    prof_hist_add(h, 100, 90);
    prof_hist_add(h, 200, 10);
    ck_assert_int_eq(prof_hist_bucket(prof_hist_percentile(h, 90)),
                     prof_hist_bucket(100));
    ck_assert_int_eq(prof_hist_bucket(prof_hist_percentile(h, 90.0001)),
                     prof_hist_bucket(200));
    free(h);
}
END_TEST

/* Counts beyond any double's integers: the rank stays exact. */
START_TEST(percentile_huge_counts)
{
    prof_hist_t *h = hist_new();
    apr_uint64_t half = APR_UINT64_MAX / 2;

    prof_hist_add(h, 50, half);
    prof_hist_add(h, 5000, half + 1);           /* count = 2^64 - 1 */
    ck_assert_uint_eq(h->count, APR_UINT64_MAX);
    ck_assert_int_eq(prof_hist_percentile(h, 0), 50);
    check_bound(prof_hist_percentile(h, 49.9999), 50, "huge", 49.9999);
    check_bound(prof_hist_percentile(h, 50), 5000, "huge", 50);
    ck_assert_int_eq(prof_hist_percentile(h, 100), 5000);
    free(h);
}
END_TEST

/* In the overflow bucket the estimate is only known to lie in [2^40, max]. */
START_TEST(percentile_overflow)
{
    prof_hist_t *h = hist_new();
    apr_interval_time_t est;

    prof_hist_add(h, 1000, 1);
    prof_hist_add(h, TOP + 5, 1);
    prof_hist_add(h, APR_INT64_MAX / 3, 1);
    prof_hist_add(h, APR_INT64_MAX, 1);
    est = prof_hist_percentile(h, 60);
    ck_assert(est >= TOP && est <= APR_INT64_MAX);
    ck_assert_int_eq(prof_hist_percentile(h, 100), APR_INT64_MAX);

    prof_hist_init(h);
    prof_hist_add(h, APR_INT64_MAX, 3);
    ck_assert_int_eq(prof_hist_percentile(h, 50), APR_INT64_MAX);
    prof_hist_add(h, TOP, 3);
    est = prof_hist_percentile(h, 40);
    ck_assert(est >= TOP && est <= APR_INT64_MAX);
    free(h);
}
END_TEST

/* Whatever a caller sets min and max to, the estimate stays inside them. */
START_TEST(percentile_clamped)
{
    prof_hist_t *h = hist_new();
    apr_interval_time_t est;

    prof_hist_add(h, 1000, 10);
    prof_hist_add(h, 2000, 10);
    prof_hist_add(h, 3000, 10);
    h->min = 1995;
    h->max = 1996;
    est = prof_hist_percentile(h, 20);
    ck_assert(est >= 1995 && est <= 1996);
    est = prof_hist_percentile(h, 90);
    ck_assert(est >= 1995 && est <= 1996);
    h->min = 5000;
    h->max = 6000;          /* not even meeting a bucket */
    est = prof_hist_percentile(h, 50);
    ck_assert(est >= 5000 && est <= 6000);
    free(h);
}
END_TEST

/* -------------------------------------------------------------- weights */

START_TEST(weight_equals_repeats)
{
    uint64_t rs = unit_seed(_i);
    prof_hist_t *a = hist_new(), *b = hist_new();
    int k;

    for (k = 0; k < 40; ++k) {
        apr_interval_time_t v = random_magnitude(&rs, 45);
        apr_uint64_t w = 1 + unit_rand(&rs) % (k % 4 == 0 ? 1000 : 5), j;

        if (k % 7 == 3) {
            v = -v;
        }
        prof_hist_add(a, v, w);
        for (j = 0; j < w; ++j) {
            prof_hist_add(b, v, 1);
        }
        check_same(a, b, 1);
    }
    check_invariants(a);
    free(a);
    free(b);
}
END_TEST

START_TEST(weight_zero_and_negative)
{
    prof_hist_t *h = hist_new(), *empty = hist_new();

    prof_hist_add(h, 500, 0);
    check_same(h, empty, 1);
    prof_hist_add(h, 500, 1);
    prof_hist_add(h, 1, 0);
    prof_hist_add(h, 100000, 0);
    ck_assert_int_eq(h->min, 500);
    ck_assert_int_eq(h->max, 500);
    ck_assert_uint_eq(h->count, 1);

    prof_hist_init(h);
    prof_hist_add(h, -5, 2);
    prof_hist_add(h, APR_INT64_MIN, 1);
    ck_assert_uint_eq(h->n[0], 3);
    ck_assert_uint_eq(h->count, 3);
    ck_assert_int_eq(h->min, 0);
    ck_assert_int_eq(h->max, 0);
    ck_assert_uint_eq(h->sum, 0);
    check_invariants(h);
    free(h);
    free(empty);
}
END_TEST

START_TEST(weight_saturates)
{
    prof_hist_t *h = hist_new(), *copy = hist_new();
    apr_uint32_t b5 = prof_hist_bucket(5), b9 = prof_hist_bucket(9000);

    prof_hist_add(h, 5, APR_UINT64_MAX - 1);
    prof_hist_add(h, 9000, 7);          /* only 1 fits */
    ck_assert_uint_eq(h->count, APR_UINT64_MAX);
    ck_assert_uint_eq(h->n[b5], APR_UINT64_MAX - 1);
    ck_assert_uint_eq(h->n[b9], 1);
    ck_assert_int_eq(h->max, 9000);
    ck_assert_uint_eq(h->sum, APR_UINT64_MAX);
    check_invariants(h);

    /* nothing fits: dropped whole, min and max included */
    *copy = *h;
    prof_hist_add(h, 1, 3);
    prof_hist_add(h, APR_INT64_MAX, APR_UINT64_MAX);
    check_same(h, copy, 1);

    /* sum alone saturates */
    prof_hist_init(h);
    prof_hist_add(h, APR_INT64_C(1) << 62, 4);
    ck_assert_uint_eq(h->sum, APR_UINT64_MAX);
    prof_hist_init(h);
    prof_hist_add(h, APR_INT64_MAX, 2);
    ck_assert_uint_eq(h->sum, APR_UINT64_MAX - 1);
    prof_hist_add(h, 2, 1);
    ck_assert_uint_eq(h->sum, APR_UINT64_MAX);
    check_invariants(h);
    free(h);
    free(copy);
}
END_TEST

/* ---------------------------------------------------------------- merge */

START_TEST(merge_equals_adding_all)
{
    enum { PARTS = 8 };
    uint64_t rs = unit_seed(_i);
    prof_hist_t *all = hist_new(), *merged = hist_new(), *back = hist_new();
    prof_hist_t *part[PARTS];
    int nparts = 1 + (int)(unit_rand(&rs) % PARTS), i, k;
    int n = (int)(unit_rand(&rs) % 3000);

    for (i = 0; i < nparts; ++i) {
        part[i] = hist_new();
    }
    for (k = 0; k < n; ++k) {
        /* some parts stay empty: every third one gets nothing */
        int to = (int)(unit_rand(&rs) % (apr_uint64_t)nparts);
        apr_interval_time_t v = random_magnitude(&rs, 42);
        apr_uint64_t w = 1 + unit_rand(&rs) % 3;

        if (to % 3 == 2) {
            to = 0;
        }
        prof_hist_add(all, v, w);
        prof_hist_add(part[to], v, w);
    }
    for (i = 0; i < nparts; ++i) {
        prof_hist_merge(merged, part[i]);
        prof_hist_merge(back, part[nparts - 1 - i]);
    }
    check_same(merged, all, 1);
    check_same(back, all, 1);
    check_invariants(merged);
    for (i = 0; i < nparts; ++i) {
        free(part[i]);
    }
    free(all);
    free(merged);
    free(back);
}
END_TEST

START_TEST(merge_empty_and_self)
{
    prof_hist_t *h = hist_new(), *e = hist_new(), *t = hist_new();
    prof_hist_t *twice = hist_new();
    static const apr_interval_time_t vs[] = { 0, 3, 300, 30000, 3000000,
                                              APR_INT64_C(1) << 45 };
    int i;

    prof_hist_merge(e, t);
    check_same(e, t, 1);                        /* empty + empty */
    for (i = 0; i < N_OF(vs); ++i) {
        prof_hist_add(h, vs[i], (apr_uint64_t)i + 1);
        prof_hist_add(twice, vs[i], (apr_uint64_t)i + 1);
        prof_hist_add(twice, vs[i], (apr_uint64_t)i + 1);
    }
    *t = *h;
    prof_hist_merge(t, e);                      /* + empty */
    check_same(t, h, 1);
    prof_hist_merge(e, h);                      /* empty + */
    check_same(e, h, 1);
    prof_hist_merge(t, t);                      /* itself */
    check_same(t, twice, 1);
    check_invariants(t);
    free(h);
    free(e);
    free(t);
    free(twice);
}
END_TEST

START_TEST(merge_saturates)
{
    prof_hist_t *a = hist_new(), *b = hist_new();

    prof_hist_add(a, 10, APR_UINT64_MAX - 5);
    prof_hist_add(b, 1, 3);
    prof_hist_add(b, 100, 3);
    prof_hist_add(b, 10000, 3);
    prof_hist_merge(a, b);
    ck_assert_uint_eq(a->count, APR_UINT64_MAX);
    ck_assert_uint_eq(a->n[prof_hist_bucket(1)], 3);
    ck_assert_uint_eq(a->n[prof_hist_bucket(100)], 2);
    ck_assert_uint_eq(a->n[prof_hist_bucket(10000)], 0);
    check_invariants(a);
    /* a full histogram merged into itself stays full and consistent */
    prof_hist_merge(a, a);
    ck_assert_uint_eq(a->count, APR_UINT64_MAX);
    ck_assert_uint_eq(a->sum, APR_UINT64_MAX);
    free(a);
    free(b);
}
END_TEST

/* ------------------------------------------------------------- encoding */

/* Decode s[0..len) from a block of exactly len bytes, without a NUL. out
 * starts as garbage, so that a field decode forgets to set shows. */
static apr_status_t decode_exact(const char *s, size_t len, prof_hist_t *out)
{
    char *mem = malloc(len ? len : 1);
    apr_status_t rv;

    HOT_ASSERT(mem != NULL, "out of memory");
    if (len) {
        memcpy(mem, s, len);
    }
    memset(out, 0xa5, sizeof(*out));
    rv = prof_hist_decode(len ? mem : NULL, len, out);
    free(mem);
    return rv;
}

/* s is what prof_hist_encode() may write: "b:c" pairs, decimal without
 * leading zeros, b increasing, c > 0. Checked without the decoder. */
static void check_encoding_shape(const char *s)
{
    long prev = -1;
    const char *p = s;

    HOT_ASSERT(strlen(s) <= PROF_HIST_ENCODED_MAX, "too long: %s", s);
    while (*p) {
        char *end;
        long b;
        unsigned long long c;

        if (prev >= 0) {
            HOT_ASSERT(*p == ',', "',' expected: %s", p);
            p++;
        }
        HOT_ASSERT(*p >= '0' && *p <= '9', "digit expected: %s", p);
        HOT_ASSERT(p[0] != '0' || p[1] == ':', "leading 0: %s", p);
        b = strtol(p, &end, 10);
        HOT_ASSERT(b > prev && b < PROF_HIST_BUCKETS, "bucket %ld", b);
        HOT_ASSERT(*end == ':', "':' expected: %s", end);
        p = end + 1;
        HOT_ASSERT(*p >= '1' && *p <= '9', "count expected: %s", p);
        c = strtoull(p, &end, 10);
        HOT_ASSERT(c > 0, "count 0");
        p = end;
        prev = b;
    }
}

/* encode -> shape -> decode (exact length) -> same -> encode -> same bytes */
static void check_round_trip(const prof_hist_t *h)
{
    prof_hist_t *d = hist_new();
    const char *s = prof_hist_encode(unit_pool, h);
    apr_interval_time_t lo, hi;
    int i, first = -1, last = -1;

    check_encoding_shape(s);
    ck_assert_int_eq(decode_exact(s, strlen(s), d), APR_SUCCESS);
    check_same(d, h, 0);
    check_invariants(d);
    ck_assert_str_eq(prof_hist_encode(unit_pool, d), s);
    for (i = 0; i < PROF_HIST_BUCKETS; ++i) {
        if (h->n[i]) {
            first = first < 0 ? i : first;
            last = i;
        }
    }
    /* min and max: the widest the buckets allow; sum: 0 */
    ck_assert_uint_eq(d->sum, 0);
    if (first >= 0) {
        prof_hist_bounds((apr_uint32_t)first, &lo, &hi);
        ck_assert_int_eq(d->min, lo);
        prof_hist_bounds((apr_uint32_t)last, &lo, &hi);
        ck_assert_int_eq(d->max, last == (int)LAST_BUCKET ? hi : hi - 1);
    }
    free(d);
}

START_TEST(encode_table)
{
    prof_hist_t *h = hist_new();

    ck_assert_str_eq(prof_hist_encode(unit_pool, h), "");
    prof_hist_add(h, 0, 1);
    ck_assert_str_eq(prof_hist_encode(unit_pool, h), "0:1");
    prof_hist_init(h);
    prof_hist_add(h, 5, 3);
    prof_hist_add(h, 1000, 1);
    prof_hist_add(h, 1023, 1);
    prof_hist_add(h, 1024, 12);
    prof_hist_add(h, TOP * 2, 7);
    ck_assert_str_eq(prof_hist_encode(unit_pool, h), "5:3,63:2,64:12,304:7");
    check_round_trip(h);
    prof_hist_init(h);
    prof_hist_add(h, 100, APR_UINT64_MAX);
    ck_assert_str_eq(prof_hist_encode(unit_pool, h), "37:18446744073709551615");
    check_round_trip(h);
    free(h);
}
END_TEST

/* The longest encodings there can be: every bucket, with counts as large
 * as their total allows. */
START_TEST(encode_longest)
{
    prof_hist_t *h = hist_new();
    apr_uint64_t each = APR_UINT64_MAX / PROF_HIST_BUCKETS;
    const char *s;
    int i;

    for (i = 0; i < PROF_HIST_BUCKETS; ++i) {
        h->n[i] = each;
    }
    h->n[0] += APR_UINT64_MAX - each * PROF_HIST_BUCKETS;
    h->count = APR_UINT64_MAX;
    s = prof_hist_encode(unit_pool, h);
    ck_assert_uint_lt(strlen(s), 7300);
    check_round_trip(h);

    /* one 20-digit count, the rest 17 digits */
    prof_hist_init(h);
    h->n[LAST_BUCKET] = APR_UINT64_C(10000000000000000000);
    h->count = h->n[LAST_BUCKET];
    each = (APR_UINT64_MAX - h->count) / (PROF_HIST_BUCKETS - 1);
    for (i = 0; i < PROF_HIST_BUCKETS - 1; ++i) {
        h->n[i] = each;
        h->count += each;
    }
    s = prof_hist_encode(unit_pool, h);
    ck_assert_uint_lt(strlen(s), 7300);
    check_round_trip(h);
    free(h);
}
END_TEST

/* For buckets filled by hand: min and max somewhere in the first and the
 * last non-empty bucket, as prof_hist_add() would have left them. */
static void set_extremes(prof_hist_t *h)
{
    apr_interval_time_t lo, hi;
    int i, first = -1, last = -1;

    for (i = 0; i < PROF_HIST_BUCKETS; ++i) {
        if (h->n[i]) {
            first = first < 0 ? i : first;
            last = i;
        }
    }
    if (first >= 0) {
        prof_hist_bounds((apr_uint32_t)first, &lo, &hi);
        h->min = hi - 1;
        prof_hist_bounds((apr_uint32_t)last, &lo, &hi);
        h->max = lo;
    }
}

/* Random histograms of every shape. */
START_TEST(encode_round_trip)
{
    uint64_t rs = unit_seed(_i);
    prof_hist_t *h = hist_new();
    int shape = _i % 5, k, n;

    switch (shape) {
    case 0:                                     /* from samples */
        n = (int)(unit_rand(&rs) % 2000);
        for (k = 0; k < n; ++k) {
            prof_hist_add(h, random_magnitude(&rs, 45),
                          1 + unit_rand(&rs) % 4);
        }
        break;
    case 1:                                     /* a few buckets */
    case 2:                                     /* counts of any size */
        n = (int)(unit_rand(&rs) % 12);
        for (k = 0; k < n; ++k) {
            apr_uint32_t b = (apr_uint32_t)(unit_rand(&rs)
                                            % PROF_HIST_BUCKETS);
            apr_uint64_t c = shape == 1 ? 1 + unit_rand(&rs) % 100
                : (unit_rand(&rs) >> (unit_rand(&rs) % 64)) / 16 + 1;

            h->n[b] += c;
            h->count += c;
        }
        break;
    case 3:                                     /* every bucket */
        for (k = 0; k < PROF_HIST_BUCKETS; ++k) {
            h->n[k] = 1 + unit_rand(&rs) % 1000000;
            h->count += h->n[k];
        }
        break;
    default:                                    /* empty */
        break;
    }
    if (shape >= 1 && shape <= 3) {
        set_extremes(h);
    }
    check_invariants(h);
    check_round_trip(h);
    free(h);
}
END_TEST

/* After a decode, with min, max and sum set from their columns, the
 * histogram answers exactly as the one that was stored. */
START_TEST(decode_then_columns)
{
    uint64_t rs = unit_seed(_i);
    prof_hist_t *h = hist_new(), *d = hist_new();
    const char *s;
    int k;

    for (k = 0; k < 5000; ++k) {
        prof_hist_add(h, gen_lognormal(&rs), 1);
    }
    s = prof_hist_encode(unit_pool, h);
    ck_assert_int_eq(decode_exact(s, strlen(s), d), APR_SUCCESS);
    d->min = h->min;
    d->max = h->max;
    d->sum = h->sum;
    check_same(d, h, 1);
    for (k = 0; k <= 100; ++k) {
        ck_assert_int_eq(prof_hist_percentile(d, k),
                         prof_hist_percentile(h, k));
    }
    free(h);
    free(d);
}
END_TEST

#define S(lit) { lit, sizeof(lit) - 1 }

#define G(lit, count) { lit, sizeof(lit) - 1, count }

static const struct {
    const char *s;
    size_t len;
    apr_uint64_t count;
} decode_good[] = {
    G("", 0),
    G("0:1", 1),
    G("304:1", 1),
    G("0:18446744073709551615", APR_UINT64_MAX),
    G("1:1,2:1,304:18446744073709551613", APR_UINT64_MAX),
    G("0:1,1:1,2:1,3:1,4:1,5:1,6:1,7:1,8:1,9:1,10:1,99:1,100:1,303:1", 14),
    G("15:42,300:9", 51),
    { "3:17", 3, 1 },           /* only len bytes count: "3:1" */
};

START_TEST(decode_accepts)
{
    prof_hist_t *d = hist_new();
    char *again;

    ck_assert_int_eq(decode_exact(decode_good[_i].s, decode_good[_i].len, d),
                     APR_SUCCESS);
    ck_assert_uint_eq(d->count, decode_good[_i].count);
    check_invariants(d);
    again = prof_hist_encode(unit_pool, d);
    ck_assert_uint_eq(strlen(again), decode_good[_i].len);
    ck_assert(memcmp(again, decode_good[_i].s, decode_good[_i].len) == 0);
    free(d);
}
END_TEST

static const struct {
    const char *s;
    size_t len;
} decode_bad[] = {
    S(" "), S(","), S(":"), S("1"), S("1:"), S(":1"), S("1:1,"), S(",1:1"),
    S("1:0"),                               /* empty buckets are not written */
    S("0:0"),
    S("01:1"), S("00:1"), S("1:01"), S("1:00"),     /* leading zeros */
    S("305:1"),                             /* past the last bucket */
    S("4294967296:1"),
    S("99999999999999999999999999:1"),
    S("2:1,1:1"), S("1:1,1:1"),             /* not increasing */
    S("1:18446744073709551616"),            /* a count over 2^64 - 1 */
    S("1:99999999999999999999999"),
    S("0:18446744073709551615,1:1"),        /* a total over 2^64 - 1 */
    S("0:9223372036854775808,1:9223372036854775808"),
    S("1:1;2:1"), S("1:1, 2:1"), S(" 1:1"), S("1:1 "), S("1:1\n"),
    S("1:1\r\n"), S("\t1:1"),
    S("+1:1"), S("-1:1"), S("1:-1"), S("1:+1"),
    S("1::1"), S("1:1:1"), S("1:1,,2:1"), S("1:1,2"), S("1:1,2:"),
    S("1:1x"), S("a:1"), S("1:a"), S("0x1:1"), S("1:0x1"), S("1:1e3"),
    S("1:1.0"), S("1.0:1"),
    S("1:1\0"), S("1\0:1"), S("\0"), S("1:1,\0002:1"),  /* NUL bytes */
    S("\xef\xbc\x91:1"),                    /* a fullwidth digit one */
    S("\xff"), S("1:\xb9"),
};

START_TEST(decode_rejects)
{
    prof_hist_t *d = hist_new(), *empty = hist_new();

    ck_assert_msg(decode_exact(decode_bad[_i].s, decode_bad[_i].len, d)
                  == APR_EINVAL, "accepted bad case %d", _i);
    check_same(d, empty, 1);                /* left empty */
    free(d);
    free(empty);
}
END_TEST

/* ------------------------------------------------------- hostile inputs */

/* Decode s both ways, malloc()ed and against a guard page; the results
 * agree, and whatever is accepted is canonical: it encodes back to s. */
static apr_status_t decode_hostile(const char *s, size_t len)
{
    prof_hist_t *a = hist_new(), *b = hist_new();
    unit_guard_t g;
    apr_status_t rv, rv2;
    char *in = unit_guard_alloc(&g, len);

    memcpy(in, s, len);
    rv = decode_exact(s, len, a);
    rv2 = prof_hist_decode(in, len, b);
    unit_guard_free(&g);
    HOT_ASSERT(rv == rv2, "malloc()ed: %d, guarded: %d", rv, rv2);
    check_same(a, b, 1);
    if (rv == APR_SUCCESS) {
        const char *again = prof_hist_encode(unit_pool, a);

        HOT_ASSERT(len <= PROF_HIST_ENCODED_MAX, "accepted %zu bytes", len);
        HOT_ASSERT(strlen(again) == len && memcmp(again, s, len) == 0,
                   "accepted, but not canonical: %.*s", (int)len, s);
        check_invariants(a);
    }
    else {
        HOT_ASSERT(rv == APR_EINVAL && a->count == 0, "rv %d", rv);
    }
    free(a);
    free(b);
    return rv;
}

static char hostile_byte(uint64_t *rs)
{
    static const char special[] = "0123456789::,,,0019\0 -+\xff";
    uint64_t r = unit_rand(rs);

    if (r % 4 != 0) {
        return special[(r >> 8) % (sizeof(special) - 1)];
    }
    return (char)(r >> 8);
}

/* Random bytes, mostly the ones the grammar is made of. */
START_TEST(decode_random_bytes)
{
    static char in[PROF_HIST_ENCODED_MAX + 64];
    uint64_t rs = unit_seed(_i);
    int k;

    for (k = 0; k < 200; ++k) {
        size_t len = (size_t)(unit_rand(&rs)
                              % (k % 50 == 0 ? sizeof(in) : 40)), i;

        for (i = 0; i < len; ++i) {
            in[i] = hostile_byte(&rs);
        }
        decode_hostile(in, len);
    }
}
END_TEST

/* Valid encodings with one byte changed, inserted or deleted, and every
 * prefix of them. */
START_TEST(decode_mutations)
{
    static char in[PROF_HIST_ENCODED_MAX + 2];
    uint64_t rs = unit_seed(_i);
    prof_hist_t *h = hist_new();
    const char *s;
    size_t len, i, at;
    int k, n = 1 + (int)(unit_rand(&rs) % 20), accepted = 0;

    for (k = 0; k < n; ++k) {
        prof_hist_add(h, random_magnitude(&rs, 44),
                      1 + (unit_rand(&rs) >> (unit_rand(&rs) % 64)));
    }
    s = prof_hist_encode(unit_pool, h);
    len = strlen(s);
    ck_assert_uint_lt(len + 1, sizeof(in));
    for (i = 0; i <= len; ++i) {
        if (decode_hostile(s, i) == APR_SUCCESS) {
            accepted++;
        }
    }
    ck_assert_int_gt(accepted, 0);          /* the whole one, at least */
    for (k = 0; k < 300; ++k) {
        memcpy(in, s, len);
        at = (size_t)(unit_rand(&rs) % len);
        switch (k % 3) {
        case 0:
            in[at] = hostile_byte(&rs);
            decode_hostile(in, len);
            break;
        case 1:
            memmove(in + at + 1, in + at, len - at);
            in[at] = hostile_byte(&rs);
            decode_hostile(in, len + 1);
            break;
        default:
            memmove(in + at, in + at + 1, len - at - 1);
            decode_hostile(in, len - 1);
            break;
        }
    }
    free(h);
}
END_TEST

/* Huge numbers and megabyte strings: refused, never read past len. */
START_TEST(decode_huge)
{
    enum { MB = 1024 * 1024 };
    static const char fills[] = { '9', '0', '1', ',', ':' };
    static const char *const units[] = { "1:1,", "0:", "9", "303:1," };
    static const size_t lens[] = {
        PROF_HIST_ENCODED_MAX - 1, PROF_HIST_ENCODED_MAX,
        PROF_HIST_ENCODED_MAX + 1, MB,
    };
    char *in = malloc(MB);
    size_t f, i, j;

    ck_assert_ptr_nonnull(in);
    for (f = 0; f < sizeof(fills); ++f) {
        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); ++i) {
            memset(in, fills[f], lens[i]);
            ck_assert_int_eq(decode_hostile(in, lens[i]), APR_EINVAL);
        }
    }
    for (f = 0; f < sizeof(units) / sizeof(units[0]); ++f) {
        size_t ul = strlen(units[f]);

        for (j = 0; j + ul <= MB; j += ul) {
            memcpy(in + j, units[f], ul);
        }
        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); ++i) {
            ck_assert_int_eq(decode_hostile(in, lens[i]), APR_EINVAL);
        }
    }
    /* "1:" and then digits as long as decode will look at */
    memcpy(in, "1:", 2);
    memset(in + 2, '7', PROF_HIST_ENCODED_MAX - 2);
    ck_assert_int_eq(decode_hostile(in, PROF_HIST_ENCODED_MAX), APR_EINVAL);
    /* the largest count, then one digit more, then a byte past it */
    ck_assert_int_eq(decode_hostile("1:18446744073709551615", 22),
                     APR_SUCCESS);
    ck_assert_int_eq(decode_hostile("1:184467440737095516150", 23),
                     APR_EINVAL);
    free(in);
}
END_TEST

/* The length bound comes before any byte is read; NULL is the empty
 * string only with len 0; out NULL is an error. */
START_TEST(decode_arguments)
{
    prof_hist_t *d = hist_new(), *empty = hist_new();
    unit_guard_t g;
    char *none = unit_guard_alloc(&g, 0);        /* right at the guard page */

    memset(d, 0xa5, sizeof(*d));
    ck_assert_int_eq(prof_hist_decode(none, PROF_HIST_ENCODED_MAX + 1, d),
                     APR_EINVAL);
    check_same(d, empty, 1);
    ck_assert_int_eq(prof_hist_decode(none, (apr_size_t)-1, d), APR_EINVAL);
    ck_assert_int_eq(prof_hist_decode(none, 0, d), APR_SUCCESS);
    check_same(d, empty, 1);
    unit_guard_free(&g);

    memset(d, 0xa5, sizeof(*d));
    ck_assert_int_eq(prof_hist_decode(NULL, 0, d), APR_SUCCESS);
    check_same(d, empty, 1);
    memset(d, 0xa5, sizeof(*d));
    ck_assert_int_eq(prof_hist_decode(NULL, 3, d), APR_EINVAL);
    check_same(d, empty, 1);
    ck_assert_int_eq(prof_hist_decode("0:1", 3, NULL), APR_EINVAL);
    free(d);
    free(empty);
}
END_TEST

/* Parsing an encoded histogram and adding its pairs equals decoding it and
 * merging the buckets; what cannot be decoded parses to nothing. */
START_TEST(add_pairs_equals_decode_merge)
{
    prof_hist_t *a = hist_new(), *b = hist_new(), *x = hist_new();
    prof_hist_pairs_t *pairs = malloc(sizeof(*pairs));
    uint64_t rs = 0x5eed0000u + (uint64_t)_i;
    int round, k;

    for (round = 0; round < 20; ++round) {
        const char *enc;
        apr_uint64_t before;

        prof_hist_init(x);
        for (k = 0; k < (int)(unit_rand(&rs) % 200); ++k) {
            prof_hist_add(x, (apr_interval_time_t)(unit_rand(&rs)
                                                   % 100000000),
                          1 + unit_rand(&rs) % 5);
        }
        enc = prof_hist_encode(unit_pool, x);
        ck_assert_int_eq(prof_hist_parse(enc, strlen(enc), pairs),
                         APR_SUCCESS);
        prof_hist_add_pairs(a, pairs);
        ck_assert_int_eq(prof_hist_decode(enc, strlen(enc), x), APR_SUCCESS);
        prof_hist_merge(b, x);
        ck_assert_uint_eq(a->count, b->count);
        for (k = 0; k < PROF_HIST_BUCKETS; ++k) {
            ck_assert_uint_eq(a->n[k], b->n[k]);
        }
        /* Damaged: no pairs, so nothing added. */
        before = a->count;
        ck_assert_int_eq(prof_hist_parse("3:1,2:1", 7, pairs), APR_EINVAL);
        ck_assert_uint_eq(pairs->n, 0);
        prof_hist_add_pairs(a, pairs);
        ck_assert_int_eq(prof_hist_parse("3:1,", 4, pairs), APR_EINVAL);
        ck_assert_uint_eq(pairs->n, 0);
        ck_assert_int_eq(prof_hist_parse("3:1", 3, NULL), APR_EINVAL);
        ck_assert_uint_eq(a->count, before);
    }
    free(a);
    free(b);
    free(x);
    free(pairs);
}
END_TEST

Suite *prof_hist_suite(void)
{
    Suite *s = suite_create("prof_hist");
    TCase *tc;

    tc = tcase_create("buckets");
    tcase_add_test(tc, layout_constants);
    tcase_add_loop_test(tc, bucket_bounds, 0, PROF_HIST_BUCKETS);
    tcase_add_loop_test(tc, bucket_table, 0, N_OF(one_cases));
    tcase_add_loop_test(tc, bounds_table, 0, N_OF(bound_cases));
    tcase_add_test(tc, bucket_monotonic);
    tcase_add_loop_test(tc, bucket_random, 0, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("percentile");
    tcase_add_loop_test(tc, percentile_vs_exact, 0,
                        N_OF(dists) * N_OF(sizes));
    tcase_add_loop_test(tc, percentile_every_bucket, 0, PROF_HIST_BUCKETS - 1);
    tcase_add_test(tc, percentile_edges);
    tcase_add_test(tc, percentile_huge_counts);
    tcase_add_test(tc, percentile_overflow);
    tcase_add_test(tc, percentile_clamped);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("weights");
    tcase_add_loop_test(tc, weight_equals_repeats, 0, 20);
    tcase_add_test(tc, weight_zero_and_negative);
    tcase_add_test(tc, weight_saturates);
    suite_add_tcase(s, tc);

    tc = tcase_create("merge");
    tcase_add_loop_test(tc, merge_equals_adding_all, 0, 30);
    tcase_add_test(tc, merge_empty_and_self);
    tcase_add_test(tc, merge_saturates);
    suite_add_tcase(s, tc);

    tc = tcase_create("encoding");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, encode_table);
    tcase_add_loop_test(tc, add_pairs_equals_decode_merge, 0, 5);
    tcase_add_test(tc, encode_longest);
    tcase_add_loop_test(tc, encode_round_trip, 0, 200);
    tcase_add_loop_test(tc, decode_then_columns, 0, 5);
    tcase_add_loop_test(tc, decode_accepts, 0, N_OF(decode_good));
    tcase_add_loop_test(tc, decode_rejects, 0, N_OF(decode_bad));
    tcase_add_test(tc, decode_arguments);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, decode_random_bytes, 0, 50);
    tcase_add_loop_test(tc, decode_mutations, 0, 50);
    tcase_add_test(tc, decode_huge);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
