/* Licensed under the Apache License, Version 2.0. */

/*
 * Log-scale latency histograms. The layout, the error bound and the encoding
 * are in prof_hist.h.
 *
 * Buckets and bounds are integer arithmetic: no libm, no table built at
 * start-up, nothing a rounding mode or a compiler's idea of floating point
 * could move. Doubles appear only where prof_hist_percentile() reads p and
 * takes the harmonic mean of a bucket's ends.
 */

#include <string.h>

#include "prof_hist.h"

#define OVERFLOW_BUCKET ((apr_uint32_t)(PROF_HIST_BUCKETS - 1))

/* 2^3: where the log scale starts. Below it an eighth of a power of two is
 * narrower than 1 us, and buckets 0..7 are the values 0..7. From it on,
 * 2^e <= v < 2^(e+1) falls into bucket 8 * (e - 2) + s, s = 0..7. */
#define LOG_FIRST       PROF_HIST_LOG_FIRST

/*
 * ceil(2^(s/8) * 2^63) for s = 0..7, that is the smallest K with
 * K^8 >= 2^(504 + s), computed with exact integer roots. For 2^e <= v <
 * 2^(e+1) and s > 0, 2^(s/8) * 2^63 is irrational, so the integer
 * v * 2^(63-e) is at least it exactly when it is at least K[s]: comparing
 * with these constants decides v >= 2^(e + s/8) without error.
 */
const apr_uint64_t prof_hist_sub_k[PROF_HIST_SUB] = {
    APR_UINT64_C(0x8000000000000000), APR_UINT64_C(0x8b95c1e3ea8bd6e7),
    APR_UINT64_C(0x9837f0518db8a970), APR_UINT64_C(0xa5fed6a9b15138eb),
    APR_UINT64_C(0xb504f333f9de6485), APR_UINT64_C(0xc5672a115506dade),
    APR_UINT64_C(0xd744fccad69d6af5), APR_UINT64_C(0xeac0c6e7dd24392f),
};

#define sub_k prof_hist_sub_k

apr_uint32_t prof_hist_bucket(apr_interval_time_t us)
{
    return prof_hist_bucket_inline(us);
}

/* The lower bound of log-scale bucket b (LOG_FIRST <= b <= the overflow
 * bucket): ceil(2^e * 2^(s/8)) = ceil(sub_k[s] / 2^(63-e)). */
static apr_interval_time_t bucket_lo(apr_uint32_t b)
{
    unsigned e = b / PROF_HIST_SUB + 2, s = b % PROF_HIST_SUB, sh = 63 - e;
    apr_uint64_t k = sub_k[s];

    return (apr_interval_time_t)((k >> sh)
                                 + ((k & ((APR_UINT64_C(1) << sh) - 1)) != 0));
}

void prof_hist_bounds(apr_uint32_t b, apr_interval_time_t *lo,
                      apr_interval_time_t *hi)
{
    apr_interval_time_t l, h;

    if (b >= PROF_HIST_BUCKETS) {
        l = h = 0;
    }
    else if (b < LOG_FIRST) {
        l = b;
        h = (apr_interval_time_t)b + 1;
    }
    else {
        l = bucket_lo(b);
        h = b == OVERFLOW_BUCKET ? APR_INT64_MAX : bucket_lo(b + 1);
    }
    if (lo) {
        *lo = l;
    }
    if (hi) {
        *hi = h;
    }
}

void prof_hist_init(prof_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

static APR_INLINE apr_uint64_t sat_add(apr_uint64_t a, apr_uint64_t b)
{
    return b > APR_UINT64_MAX - a ? APR_UINT64_MAX : a + b;
}

void prof_hist_add(prof_hist_t *h, apr_interval_time_t us,
                   apr_uint64_t weight)
{
    apr_uint64_t room = APR_UINT64_MAX - h->count;

    /* Saturate the count, and the bucket with it: count stays the sum of
     * n[], which prof_hist_encode() and the percentile walk rely on. A
     * sample none of whose weight fits is dropped whole, min and max
     * included. */
    if (weight > room) {
        weight = room;
    }
    if (weight == 0) {
        return;
    }
    if (us < 0) {
        us = 0;
    }
    if (h->count == 0) {
        h->min = h->max = us;
    }
    else if (us < h->min) {
        h->min = us;
    }
    else if (us > h->max) {
        h->max = us;
    }
    h->count += weight;
    h->n[prof_hist_bucket(us)] += weight;   /* n[b] <= count: no wrap */
    if (us != 0) {
        h->sum = weight > APR_UINT64_MAX / (apr_uint64_t)us
                 ? APR_UINT64_MAX
                 : sat_add(h->sum, weight * (apr_uint64_t)us);
    }
}

void prof_hist_merge(prof_hist_t *dst, const prof_hist_t *src)
{
    /* Read src's scalars first: src may be dst. */
    apr_uint64_t room = APR_UINT64_MAX - dst->count, src_sum = src->sum;
    apr_uint64_t src_count = src->count, added = 0;
    apr_interval_time_t src_min = src->min, src_max = src->max, lo, hi;
    int was_empty = dst->count == 0;
    apr_uint32_t b, top = 0;

    if (src_count == 0 || room == 0) {
        return;
    }
    for (b = 0; b < PROF_HIST_BUCKETS; ++b) {
        apr_uint64_t add = src->n[b] < room ? src->n[b] : room;

        if (add) {
            dst->n[b] += add;   /* n[b] <= count: no wrap */
            dst->count += add;
            added += add;
            room -= add;
            top = b;
        }
    }
    /* Saturation keeps the lowest buckets; if it dropped the one src_max
     * is in, the largest value added is at most the top of the highest
     * bucket that got weight. */
    if (added < src_count && prof_hist_bucket(src_max) > top) {
        prof_hist_bounds(top, &lo, &hi);
        src_max = hi - 1;
    }
    if (was_empty) {
        dst->min = src_min;
        dst->max = src_max;
    }
    else {
        if (src_min < dst->min) {
            dst->min = src_min;
        }
        if (src_max > dst->max) {
            dst->max = src_max;
        }
    }
    dst->sum = sat_add(dst->sum, src_sum);
}

/* The estimate for a sample known to lie in [a, b], 0 <= a <= b: the
 * harmonic mean 2ab/(a+b), which keeps the largest relative error
 * (b-a)/(b+a) as small as any single point can (prof_hist.h), rounded to
 * whole microseconds and kept inside [a, b]. */
static apr_interval_time_t estimate(apr_interval_time_t a,
                                    apr_interval_time_t b)
{
    double m;
    apr_interval_time_t r;

    if (a == b) {
        return a;               /* also a = b = 0: no division by zero */
    }
    m = 2.0 * (double)a * (double)b / ((double)a + (double)b);
    /* (double)b may round up to 2^63: converting m back is only defined
     * below that, so the ends are taken from the integers. */
    if (m >= (double)b) {
        return b;
    }
    if (m <= (double)a) {
        return a;
    }
    r = (apr_interval_time_t)(m + 0.5);
    return r < a ? a : r > b ? b : r;
}

/* p is read as millionths of the whole (percent to four decimals), so
 * that the rank is exact integer arithmetic: a rank in doubles would put
 * 99.9 % of 1000 at 999.0000000000001 and pick the next sample. */
#define PCT_SCALE APR_UINT64_C(1000000)

apr_interval_time_t prof_hist_percentile(const prof_hist_t *h, double p)
{
    apr_uint64_t pm, rank, cum = 0;
    apr_interval_time_t lo, hi, last, a, b;
    apr_uint32_t i;

    if (h->count == 0) {
        return 0;
    }
    if (!(p > 0.0)) {           /* NaN too */
        pm = 0;
    }
    else if (p >= 100.0) {
        pm = PCT_SCALE;
    }
    else {
        pm = (apr_uint64_t)(p * 10000.0 + 0.5);
    }
    /* rank = ceil(count * pm / PCT_SCALE), without overflow: count is
     * split into a multiple of PCT_SCALE and a remainder. */
    rank = h->count / PCT_SCALE * pm
           + (h->count % PCT_SCALE * pm + PCT_SCALE - 1) / PCT_SCALE;
    if (rank <= 1) {
        return h->min;
    }
    if (rank >= h->count) {
        return h->max;
    }
    for (i = 0; i < OVERFLOW_BUCKET; ++i) {
        cum += h->n[i];
        if (cum >= rank) {
            break;
        }
    }
    /* i is the bucket of the rank-th sample (the overflow bucket when the
     * walk ran through it), whose values min and max may narrow. */
    prof_hist_bounds(i, &lo, &hi);
    last = i == OVERFLOW_BUCKET ? h->max : hi - 1;
    a = lo > h->min ? lo : h->min;
    b = last < h->max ? last : h->max;
    if (a <= b) {
        return estimate(a, b);
    }
    /* min and max do not meet the bucket: a caller set them from
     * elsewhere, inconsistently. Estimate on the bucket, then clamp. */
    a = estimate(lo, last > lo ? last : lo);
    if (h->min <= h->max) {
        a = a < h->min ? h->min : a > h->max ? h->max : a;
    }
    return a;
}

/* Decimal digits of v. */
static apr_size_t u64_len(apr_uint64_t v)
{
    apr_size_t n = 1;

    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Writes v in decimal at p; returns the end. */
static char *u64_put(char *p, apr_uint64_t v)
{
    char *end = p + u64_len(v), *q = end;

    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

char *prof_hist_encode(apr_pool_t *p, const prof_hist_t *h)
{
    apr_size_t len = 0;
    apr_uint32_t b;
    char *out, *q;

    /* Two passes, measure then write: the pool gets the exact length,
     * not PROF_HIST_ENCODED_MAX for every row. */
    for (b = 0; b < PROF_HIST_BUCKETS; ++b) {
        if (h->n[b]) {
            len += (len ? 1 : 0) + u64_len(b) + 1 + u64_len(h->n[b]);
        }
    }
    out = q = apr_palloc(p, len + 1);
    for (b = 0; b < PROF_HIST_BUCKETS; ++b) {
        if (h->n[b]) {
            if (q != out) {
                *q++ = ',';
            }
            q = u64_put(q, b);
            *q++ = ':';
            q = u64_put(q, h->n[b]);
        }
    }
    *q = '\0';
    return out;
}

/*
 * Reads a canonical decimal at s[*pos..len): "0", or a non-zero digit and
 * more digits, no larger than max. Returns 1 with *pos after it and the
 * value in *v, or 0. Reads nothing at or past len, and stops at the first
 * digit that makes the value too large, so a megabyte of digits costs no
 * more than twenty.
 */
static int read_u64(const char *s, apr_size_t len, apr_size_t *pos,
                    apr_uint64_t max, apr_uint64_t *v)
{
    apr_size_t i = *pos;
    apr_uint64_t x;

    if (i >= len || s[i] < '0' || s[i] > '9') {
        return 0;
    }
    x = (apr_uint64_t)(s[i++] - '0');
    /* A leading 0 is the whole number: in "01" the 1 is left for the
     * caller, who wants a separator there and refuses it. */
    if (x != 0) {
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            apr_uint64_t d = (apr_uint64_t)(s[i++] - '0');

            if (d > max || x > (max - d) / 10) {
                return 0;
            }
            x = x * 10 + d;
        }
    }
    if (x > max) {
        return 0;
    }
    *pos = i;
    *v = x;
    return 1;
}

apr_status_t prof_hist_decode(const char *s, apr_size_t len,
                              prof_hist_t *out)
{
    apr_size_t pos = 0;
    apr_uint64_t b, c;
    apr_int64_t last = -1;
    apr_interval_time_t lo, hi;

    if (out == NULL) {
        return APR_EINVAL;
    }
    prof_hist_init(out);
    if (len > PROF_HIST_ENCODED_MAX || (s == NULL && len > 0)) {
        return APR_EINVAL;
    }
    while (pos < len) {
        if (last >= 0 && s[pos++] != ',') {
            goto bad;
        }
        if (!read_u64(s, len, &pos, OVERFLOW_BUCKET, &b)
            || (apr_int64_t)b <= last
            || pos >= len || s[pos++] != ':'
            || !read_u64(s, len, &pos, APR_UINT64_MAX, &c)
            || c == 0 || c > APR_UINT64_MAX - out->count) {
            goto bad;
        }
        out->n[b] = c;
        out->count += c;
        if (last < 0) {
            prof_hist_bounds((apr_uint32_t)b, &out->min, NULL);
        }
        last = (apr_int64_t)b;
    }
    if (last >= 0) {
        prof_hist_bounds((apr_uint32_t)last, &lo, &hi);
        out->max = last == OVERFLOW_BUCKET ? hi : hi - 1;
    }
    return APR_SUCCESS;

bad:
    prof_hist_init(out);
    return APR_EINVAL;
}

apr_status_t prof_hist_parse(const char *s, apr_size_t len,
                             prof_hist_pairs_t *out)
{
    apr_size_t pos = 0;
    apr_uint64_t b, c, total = 0;
    apr_int64_t last = -1;

    if (out == NULL) {
        return APR_EINVAL;
    }
    out->n = 0;
    if (len > PROF_HIST_ENCODED_MAX || (s == NULL && len > 0)) {
        return APR_EINVAL;
    }
    while (pos < len) {
        if (last >= 0 && s[pos++] != ',') {
            goto bad;
        }
        if (!read_u64(s, len, &pos, OVERFLOW_BUCKET, &b)
            || (apr_int64_t)b <= last
            || pos >= len || s[pos++] != ':'
            || !read_u64(s, len, &pos, APR_UINT64_MAX, &c)
            || c == 0 || c > APR_UINT64_MAX - total) {
            goto bad;
        }
        out->bucket[out->n] = (apr_uint32_t)b;
        out->count[out->n++] = c;
        total += c;
        last = (apr_int64_t)b;
    }
    return APR_SUCCESS;

bad:
    out->n = 0;
    return APR_EINVAL;
}

void prof_hist_add_pairs(prof_hist_t *dst, const prof_hist_pairs_t *pairs)
{
    apr_uint64_t room = APR_UINT64_MAX - dst->count;
    apr_size_t i;

    /* Saturating as prof_hist_merge() does: the lowest buckets keep their
     * weight. */
    for (i = 0; i < pairs->n && room > 0; ++i) {
        apr_uint64_t add = pairs->count[i] < room ? pairs->count[i] : room;

        dst->n[pairs->bucket[i]] += add;
        dst->count += add;
        room -= add;
    }
}
