/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_sample.h
 * @brief Sampling for the measurement store (ProfilerSample,
 *        ProfilerSampleSlow): whether a finished request is stored, and with
 *        which weight, so that weighted counts estimate the real ones without
 *        bias; and the cheap per-thread random number that needs.
 *
 * No global state: callable from any thread.
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_SAMPLE_H
#define PROF_SAMPLE_H

#include "apr.h"

/** The smallest sampling fraction honoured; smaller positive ones are
 *  raised to it, so that a weight is at most 1/PROF_SAMPLE_MIN_FRACTION and
 *  never infinite. The ProfilerSample setter should refuse them. */
#define PROF_SAMPLE_MIN_FRACTION 1e-6

/**
 * Whether a finished request is stored, and with which weight.
 *
 * @param fraction    ProfilerSample: the probability with which an ordinary
 *                    request is kept. >= 1 keeps every request with weight
 *                    1; <= 0 (or NaN) keeps only always_keep requests;
 *                    values below PROF_SAMPLE_MIN_FRACTION are raised to it.
 * @param u           a uniform random number in [0, 1), drawn afresh for
 *                    this request (prof_sample_u01()); the request is kept
 *                    when u < fraction. NaN is never below.
 * @param always_keep non-zero when the request must be kept whatever the
 *                    sampling: it was slower than ProfilerSampleSlow, or
 *                    answered 5xx. It must not depend on u.
 * @return 0 when the request is not stored; 1 when always_keep or fraction
 *         >= 1; 1/fraction when kept by sampling.
 *
 * Why the weights keep counts unbiased (the Horvitz-Thompson estimator):
 * request i is stored with probability pi_i, which is 1 for always_keep
 * requests and fraction for the others, and then carries weight 1/pi_i.
 * Its expected weight is pi_i * (1/pi_i) + (1 - pi_i) * 0 = 1, so the
 * expected sum of the weights over any set of requests (a route, a status,
 * an hour, a histogram bucket) is the number of requests in it, and the
 * expected sum of weight * x is the sum of x (durations: totals). Keeping
 * slow and 5xx requests with weight 1 changes which requests are seen, not
 * what the sums estimate, as long as always_keep is a property of the
 * request and not of u. Means (sum of w*x / sum of w) are ratio estimators:
 * consistent, with a bias that vanishes as the counts grow.
 */
double prof_sample_weight(double fraction, double u, int always_keep);

/**
 * The next number of a splitmix64 sequence, as a double uniform in [0, 1):
 * the top 53 bits of the 64-bit output times 2^-53, so every value is a
 * multiple of 2^-53 and 1 never comes out.
 *
 * @param state the generator's state, which the caller keeps per thread (a
 *              thread-local variable) or per request, and seeds once with
 *              any value (0 is fine); every call advances it. Sequences are
 *              deterministic from the seed, so seed each thread differently
 *              (from apr_generate_random_bytes(), or time and thread id).
 *
 * Not cryptographic: the output is predictable from a few earlier outputs.
 * That suits sampling, where a client who can guess u can only make its own
 * requests more or less likely to be profiled. No locks and no global
 * state: two threads must not share a state.
 */
double prof_sample_u01(apr_uint64_t *state);

#endif /* PROF_SAMPLE_H */
