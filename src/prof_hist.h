/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_hist.h
 * @brief Log-scale latency histograms: the buckets of the measurement store.
 *
 * The store keeps one row per minute and key with count, sum, min, max and
 * these buckets; a percentile over any span (a minute, a month) comes from
 * merging rows, never from raw samples, and is "within a few percent". This
 * unit is that promise, written down and tested.
 *
 * Buckets. Durations are whole microseconds (apr_interval_time_t); anything
 * negative counts as 0. The boundaries are the integers ceil(2^(j/8)): eight
 * buckets per power of two, each spanning a factor of 2^(1/8) ~ 1.0905 (less
 * rounding to whole microseconds), so the relative width is the same at
 * 20 us and at 20 s.
 *
 *   bucket 0..7       the single values 0..7 (below 8, eighths of a power
 *                     of two are narrower than 1 us and would collide)
 *   bucket 8 .. 303   [ceil(2^(j/8)), ceil(2^((j+1)/8))) with j = b + 16,
 *                     eight per power of two from 2^3 to 2^40 us; buckets
 *                     8..15 happen to hold one value each too, so every
 *                     value below 16 us is counted exactly
 *   bucket 304        the overflow bucket: 2^40 us (12.7 days) and above
 *
 * The boundaries are exact, not a floating-point approximation: the code
 * compares against ceil(2^(s/8) * 2^63) for s = 0..7 in integers, and
 * test/unit/test_hist.c checks every boundary b against the definition,
 * lo^8 >= 2^j > (lo-1)^8, in multi-word integers.
 *
 * Error bound. A percentile is the sample at rank ceil(p/100 * count)
 * (nearest rank; rank 1 for p = 0). The histogram knows only the bucket that
 * sample is in, [lo, last] with last = hi - 1, narrowed to [min, max] where
 * those cut into it. Because the bounds are ceilings, last/lo < 2^(1/8).
 * The estimate is the harmonic mean 2*lo*last/(lo + last) of the range: the
 * one point whose largest error relative to the true value, over every value
 * the range can hold, is smallest, namely (last - lo)/(last + lo) <=
 * (2^(1/8) - 1)/(2^(1/8) + 1) = 4.33 % (the geometric midpoint would give
 * 2^(1/16) - 1 = 4.43 %, the arithmetic one 4.53 %). Rounded to whole
 * microseconds:
 *
 *     |estimate - exact| <= PROF_HIST_MAX_REL_ERR * exact + 0.5 us
 *
 * for every p and every distribution, as long as the exact value is below
 * 2^40 us and min and max are the true extremes of the samples. p = 0 and
 * p = 100 then give min and max exactly. In the overflow bucket the estimate
 * only lies between 2^40 us and max.
 *
 * Counts. count is always the sum of the buckets. Weight beyond a total of
 * 2^64 - 1 is dropped (add and merge saturate, keeping that invariant); sum
 * saturates at 2^64 - 1 us, about 585,000 years of request time.
 *
 * Memory and storage. prof_hist_t is dense, PROF_HIST_BUCKETS counters
 * (2.4 KB): prof_hist_add() on the request path is then a few integer
 * operations and no allocation, and the struct can live in a fixed-size slot
 * of shared memory. What is stored is sparse: prof_hist_encode() writes the
 * non-empty buckets only, so a minute of a typical key (latencies over two
 * or three decades: at most some 80 buckets) takes well under a kilobyte,
 * and no row ever more than PROF_HIST_ENCODED_MAX bytes.
 *
 * Encoding: "b:c,b:c,...", the index b and count c of every non-empty bucket,
 * in increasing b, in decimal ASCII without signs, spaces or leading zeros;
 * "" is the empty histogram. It carries the buckets only (and so the count,
 * their sum): min, max and sum have their own columns.
 *
 * Nothing here allocates except prof_hist_encode(), in the caller's pool;
 * there is no global state. Functions on distinct histograms may run in
 * any threads at once; one histogram needs the caller's lock.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_HIST_H
#define PROF_HIST_H

#include "apr.h"
#include "apr_errno.h"
#include "apr_pools.h"
#include "apr_time.h"

/* The layout is part of the stored format: a row's bucket numbers mean
 * these boundaries. They are fixed (the code holds constants for eighths of
 * a power of two); another layout would need another column. */

/** Buckets 0..PROF_HIST_EXACT-1 hold exactly one value each. */
#define PROF_HIST_EXACT      16

/** Buckets per power of two in the log-scale part. */
#define PROF_HIST_SUB        8

/** The overflow bucket starts at 2^PROF_HIST_TOP_BITS us (12.7 days). */
#define PROF_HIST_TOP_BITS   40

/** How many buckets there are; the last one is the overflow bucket. */
#define PROF_HIST_BUCKETS    (PROF_HIST_SUB * (PROF_HIST_TOP_BITS - 2) + 1)

/** The largest relative error of a percentile estimate, rounded up from
 *  (2^(1/8) - 1)/(2^(1/8) + 1) = 0.0432946; see the file comment. */
#define PROF_HIST_MAX_REL_ERR 0.0433

/** The longest string prof_hist_decode() accepts, NUL not counted. Above
 *  every encoding prof_hist_encode() can write (those stay below 7300). */
#define PROF_HIST_ENCODED_MAX 8192

/** A histogram of durations, with the exact scalars kept beside it. */
typedef struct {
    apr_uint64_t count;         /**< total weight added: the sum of n[] */
    apr_uint64_t sum;           /**< sum of us * weight, saturating */
    apr_interval_time_t min;    /**< smallest duration (0 while empty) */
    apr_interval_time_t max;    /**< largest duration (0 while empty) */
    apr_uint64_t n[PROF_HIST_BUCKETS]; /**< weight per bucket */
} prof_hist_t;

/**
 * The bucket us falls into: 0 for us <= 0, PROF_HIST_BUCKETS - 1 for
 * us >= 2^PROF_HIST_TOP_BITS. Integer arithmetic only; monotonic in us.
 */
apr_uint32_t prof_hist_bucket(apr_interval_time_t us);

/* ---- prof_hist_bucket() inline, for the request path ----------------- */

/** Where the log scale starts: values below are buckets of their own. */
#define PROF_HIST_LOG_FIRST  8

/** ceil(2^(s/8) * 2^63) for s = 0..7 (prof_hist.c says why). */
extern const apr_uint64_t prof_hist_sub_k[PROF_HIST_SUB];

/** floor(log2(v)) for v > 0: one instruction where the compiler has it,
 *  the portable halving otherwise. */
static APR_INLINE unsigned prof_hist_ilog2(apr_uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
    return 63u - (unsigned)__builtin_clzll(v);
#else
    unsigned e = 0;

    if (v >> 32) { v >>= 32; e += 32; }
    if (v >> 16) { v >>= 16; e += 16; }
    if (v >> 8)  { v >>= 8;  e += 8; }
    if (v >> 4)  { v >>= 4;  e += 4; }
    if (v >> 2)  { v >>= 2;  e += 2; }
    if (v >> 1)  { e += 1; }
    return e;
#endif
}

/** prof_hist_bucket(), the same result, inline: prof_agg.c counts every
 *  request's `total` with it, and a call costs a third of the work. */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static APR_INLINE apr_uint32_t prof_hist_bucket_inline(apr_interval_time_t us)
{
    apr_uint64_t v, norm;
    unsigned e, s;

    if (us < PROF_HIST_LOG_FIRST) {
        return us <= 0 ? 0 : (apr_uint32_t)us;
    }
    if (us >= (APR_INT64_C(1) << PROF_HIST_TOP_BITS)) {
        return (apr_uint32_t)(PROF_HIST_BUCKETS - 1);
    }
    v = (apr_uint64_t)us;
    e = prof_hist_ilog2(v);         /* 3 .. PROF_HIST_TOP_BITS - 1 */
    norm = v << (63 - e);           /* top bit set: v scaled to [2^63, 2^64) */
    /* The largest s with norm >= prof_hist_sub_k[s]; three comparisons. */
    s = norm >= prof_hist_sub_k[4] ? 4 : 0;
    s += norm >= prof_hist_sub_k[s + 2] ? 2 : 0;
    s += norm >= prof_hist_sub_k[s + 1] ? 1 : 0;
    return (apr_uint32_t)(PROF_HIST_SUB * (e - 2) + s);
}

/**
 * The values bucket b holds: lo <= us < hi. Bucket 0 is [0, 1) (negative
 * durations are counted there too, as 0). For the overflow bucket hi is
 * APR_INT64_MAX and, as the one exception, that value is in the bucket
 * too. b >= PROF_HIST_BUCKETS gives the empty range lo = hi = 0. Either
 * pointer may be NULL.
 */
void prof_hist_bounds(apr_uint32_t b, apr_interval_time_t *lo,
                      apr_interval_time_t *hi);

/** Make h the empty histogram: everything 0. */
void prof_hist_init(prof_hist_t *h);

/**
 * Count the duration us with weight weight: as if it had been added weight
 * times (a sampled request standing for weight requests). weight 0 adds
 * nothing, not even to min and max. Negative us counts as 0. Saturates as
 * the file comment says.
 */
void prof_hist_add(prof_hist_t *h, apr_interval_time_t us,
                   apr_uint64_t weight);

/**
 * Add everything src holds to dst: afterwards dst is what adding all the
 * samples of both would have given. src may be dst, which doubles it. An
 * empty src changes nothing. Should the count saturate, what is dropped is
 * src's weight in its highest buckets, and max is lowered to match.
 */
void prof_hist_merge(prof_hist_t *dst, const prof_hist_t *src);

/**
 * The p-th percentile, within the bound of the file comment.
 *
 * @param h the histogram; min and max must be its true extremes for the
 *          bound to hold at the ends (after prof_hist_decode(), set them
 *          from their columns: with the bucket bounds it leaves there, p
 *          near 0 and 100 can be off by a whole bucket, 9 %)
 * @param p in [0, 100], taken to four decimals (99.9999 is the finest
 *          step; 99.99999 is 100). Below 0 and NaN count as 0, above 100
 *          as 100.
 * @return the estimate, within [min, max] whenever min <= max; min for
 *         p = 0 and max for p = 100; 0 for an empty histogram
 */
apr_interval_time_t prof_hist_percentile(const prof_hist_t *h, double p);

/**
 * The buckets of h as a string for a database column ("" when empty): see
 * the file comment. At most PROF_HIST_ENCODED_MAX bytes before the NUL,
 * allocated in p with exactly its own length. min, max and sum are not
 * encoded. Never fails; h must satisfy count == the sum of n[], as every
 * histogram built with these functions does.
 */
char *prof_hist_encode(apr_pool_t *p, const prof_hist_t *h);

/**
 * Read what prof_hist_encode() wrote back into out.
 *
 * Strict: exactly the strings prof_hist_encode() can write are accepted,
 * so that whatever is accepted encodes back to the same bytes. Indices
 * below PROF_HIST_BUCKETS and strictly increasing, every count at least 1
 * and their total at most 2^64 - 1, decimal without leading zeros, nothing
 * else between the ':' and ',' separators.
 *
 * @param s   the string, len bytes; it need NOT be NUL-terminated, and
 *            s[len] and beyond are never read. May be NULL when len is 0.
 * @param len its length; more than PROF_HIST_ENCODED_MAX is refused before
 *            a byte is read
 * @param out the histogram to fill: its buckets and count; min and max are
 *            set to the widest values the buckets allow (the first
 *            bucket's lo, the last one's hi - 1, APR_INT64_MAX for the
 *            overflow bucket) and sum to 0, until the caller sets them from
 *            their columns
 * @return APR_SUCCESS; APR_EINVAL for anything else, which leaves out the
 *         empty histogram (when out is not NULL)
 *
 * Linear in len, no allocation, no global state.
 */
apr_status_t prof_hist_decode(const char *s, apr_size_t len,
                              prof_hist_t *out);

/** The non-empty buckets of an encoded histogram, in bucket order. */
typedef struct {
    apr_size_t n;
    apr_uint32_t bucket[PROF_HIST_BUCKETS];
    apr_uint64_t count[PROF_HIST_BUCKETS];
} prof_hist_pairs_t;

/**
 * Read what prof_hist_encode() wrote into pairs, to add to one or more
 * histograms with prof_hist_add_pairs() (a report adds each rollup row to
 * its group, its time bucket and the total: one parse for the three).
 * @return APR_SUCCESS; APR_EINVAL for anything prof_hist_decode() refuses,
 *         and then out->n is 0
 */
apr_status_t prof_hist_parse(const char *s, apr_size_t len,
                             prof_hist_pairs_t *out);

/** Add parsed buckets to dst: its buckets and count (saturating as
 * prof_hist_merge() does); min, max and sum are the caller's. */
void prof_hist_add_pairs(prof_hist_t *dst, const prof_hist_pairs_t *pairs);

#endif /* PROF_HIST_H */
