/* Licensed under the Apache License, Version 2.0. */

/* prof_rate: ProfilerStoreRate's shared budget. Simulated arrivals at
 * known times, with the module's own random draws: the rows kept stay
 * near the rate, are shared fairly between routes, and their weights
 * (1/p) add up to the arrivals (Horvitz-Thompson). */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "prof_rate.h"
#include "prof_sample.h"
#include "unit.h"

typedef struct {
    double per_sec[3];          /* arrivals per second of up to 3 routes */
    int nroutes;
    double rate;
    double seconds;
} load_t;

typedef struct {
    apr_uint64_t arrivals[3], kept[3];
    double weight[3];
} outcome_t;

/* Arrivals of each route evenly spaced, merged in time order. */
static void simulate(const load_t *l, apr_uint64_t seed, outcome_t *o)
{
    static prof_rate_t rt;
    apr_time_t start = APR_INT64_C(1700000000) * APR_USEC_PER_SEC + 123457;
    apr_time_t next[3];
    apr_uint64_t rng = seed;
    int i;

    memset(&rt, 0, sizeof(rt));
    memset(o, 0, sizeof(*o));
    for (i = 0; i < l->nroutes; ++i) {
        next[i] = start;
    }
    for (;;) {
        int r = 0;
        double p;

        for (i = 1; i < l->nroutes; ++i) {
            if (next[i] < next[r]) {
                r = i;
            }
        }
        if (next[r] >= start + (apr_time_t)(l->seconds * APR_USEC_PER_SEC)) {
            break;
        }
        p = prof_rate_probability(&rt, prof_rate_hash("h:80",
                                                      r == 0 ? "/a"
                                                      : r == 1 ? "/b" : "/c"),
                                  next[r], l->rate);
        ck_assert(p > 0.0 && p <= 1.0);
        ++o->arrivals[r];
        if (prof_sample_u01(&rng) < p) {
            ++o->kept[r];
            o->weight[r] += 1.0 / p;
        }
        next[r] += (apr_time_t)(APR_USEC_PER_SEC / l->per_sec[r]);
    }
}

START_TEST(rate_bounds_rows_and_keeps_weights_unbiased)
{
    static const load_t loads[] = {
        { { 700 }, 1, 20, 3 },          /* one busy route, a burst */
        { { 700 }, 1, 20, 30 },         /* the same, steady */
        { { 5000 }, 1, 100, 10 },
        { { 10 }, 1, 100, 10 },         /* below the rate: every row */
        { { 900, 30 }, 2, 40, 20 },     /* fair: the small one kept whole */
        { { 300, 300, 300 }, 3, 30, 20 },
    };
    apr_size_t k;

    for (k = 0; k < sizeof(loads) / sizeof(loads[0]); ++k) {
        const load_t *l = &loads[k];
        double total_arr = 0, total_w = 0, total_kept = 0;
        int rep, i;

        /* Averaged over runs: the weights' mean is the arrivals. */
        for (rep = 0; rep < 40; ++rep) {
            outcome_t o;

            simulate(l, 1234 + rep * 7919 + k, &o);
            for (i = 0; i < l->nroutes; ++i) {
                total_arr += (double)o.arrivals[i];
                total_w += o.weight[i];
                total_kept += (double)o.kept[i];
                if (l->per_sec[i] * l->nroutes <= l->rate / 2) {
                    /* A route below its share keeps every row. */
                    ck_assert_uint_eq(o.kept[i], o.arrivals[i]);
                }
            }
            /* Rows of one run: the rate, plus the first second's burst,
             * plus chance. */
            {
                apr_uint64_t kept = 0;

                for (i = 0; i < l->nroutes; ++i) {
                    kept += o.kept[i];
                }
                ck_assert_msg((double)kept
                              <= 1.5 * l->rate * (l->seconds + 1),
                              "load %u: %llu rows in %.0f s at %.0f/s",
                              (unsigned)k, (unsigned long long)kept,
                              l->seconds, l->rate);
            }
        }
        /* On average: the rate, plus one second's for the burst. */
        ck_assert_msg(total_kept / 40 <= l->rate * (l->seconds + 1),
                      "load %u: %.1f rows on average", (unsigned)k,
                      total_kept / 40);
        ck_assert_msg(fabs(total_w - total_arr) < 0.03 * total_arr,
                      "load %u: weights %.0f for %.0f arrivals (%.0f kept)",
                      (unsigned)k, total_w, total_arr, total_kept);
    }
}
END_TEST

START_TEST(rate_shares_fairly)
{
    /* Two busy routes at 10:1: each keeps about half the rate. */
    load_t l = { { 2000, 200 }, 2, 40, 20 };
    outcome_t o;

    simulate(&l, 99, &o);
    ck_assert_msg(o.kept[1] > o.kept[0] / 2 && o.kept[0] > o.kept[1] / 2,
                  "%llu vs %llu", (unsigned long long)o.kept[0],
                  (unsigned long long)o.kept[1]);
}
END_TEST

START_TEST(rate_off_and_hash)
{
    static prof_rate_t rt;

    ck_assert(prof_rate_probability(&rt, 1, 5, 0.0) == 1.0);
    ck_assert(prof_rate_probability(&rt, 1, 5, -1.0) == 1.0);
    ck_assert(prof_rate_hash("a", "bc") != prof_rate_hash("ab", "c"));
    ck_assert(prof_rate_hash(NULL, NULL) == prof_rate_hash("", ""));
}
END_TEST

Suite *prof_rate_suite(void)
{
    Suite *s = suite_create("prof_rate");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rate_bounds_rows_and_keeps_weights_unbiased);
    tcase_add_test(tc, rate_shares_fairly);
    tcase_add_test(tc, rate_off_and_hash);
    suite_add_tcase(s, tc);
    return s;
}
