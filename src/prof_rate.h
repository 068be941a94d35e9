/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_rate.h
 * @brief ProfilerStoreRate: at most about `rate` raw rows per second for a
 *        whole server (every child), spread fairly across routes, each kept
 *        row with its Horvitz-Thompson weight.
 *
 * The state is a block of shared memory that the caller zeroes once (all
 * zero is a valid, empty state) and every process maps: one slot per hash
 * of (vhost, route), and one word counting the slots active this second.
 * Each slot counts the requests that reached it this second and keeps the
 * count of the second before. A request's probability of being kept is
 *
 *     p = min(1, share / estimate)
 *
 * where share = rate / (routes active this second or the last, at least 1)
 * and estimate = the larger of last second's arrivals in its slot and this
 * second's so far, scaled to a whole second (n / fraction of the second
 * gone, the fraction at least 0.1). A route that sends fewer requests than
 * its share keeps them all; a busy one keeps about its share; the shares
 * add up to about `rate`. The first tenth of a second after a quiet
 * second can keep a few more (the estimate has not caught up yet): the
 * rows per second stay below about rate * 1.5 in a burst, and converge to
 * rate.
 *
 * Why the weights stay unbiased. p is decided from what came before the
 * request (counts of other requests), never from the request's own random
 * draw; the request is kept when its draw u < p and then carries weight
 * 1/p. Conditional on everything before it, its expected weight is
 * p * 1/p = 1, whatever p was: so the expected sum of the weights of any
 * set of requests is their number, as with a fixed fraction (prof_sample.h).
 * Combined with ProfilerSample's weight w, a row's weight is w / p.
 *
 * Two routes whose hashes share a slot share one budget: fairness is per
 * slot, PROF_RATE_SLOTS of them. No lock: relaxed 64-bit atomics and a
 * compare-and-swap when a slot enters a new second; races at the turn of a
 * second only blur the estimate, never the weights' unbiasedness.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_RATE_H
#define PROF_RATE_H

#include "apr.h"
#include "apr_time.h"

/** Slots of the table (a power of two). */
#define PROF_RATE_SLOTS 1024

/** Lowest and highest ProfilerStoreRate, rows per second. */
#define PROF_RATE_MIN   1
#define PROF_RATE_MAX   1000000

typedef struct {
    apr_uint64_t cur;           /**< second << 32 | arrivals this second */
    apr_uint64_t prev;          /**< arrivals of the second before */
} prof_rate_slot_t;

/** The shared state; all zero is empty. */
typedef struct {
    apr_uint64_t routes_cur;    /**< second << 32 | slots active this second */
    apr_uint64_t routes_prev;   /**< slots active the second before */
    prof_rate_slot_t slot[PROF_RATE_SLOTS];
} prof_rate_t;

/**
 * Count one request of the route whose hash is hash (any 64-bit hash of
 * vhost and route), arriving at now_us, and return the probability with
 * which it is to be kept, in (0, 1]. rate is rows per second for the
 * whole table (rate <= 0: 1, every request kept). Any thread of any
 * process.
 */
double prof_rate_probability(prof_rate_t *rt, apr_uint64_t hash,
                             apr_time_t now_us, double rate);

/** A 64-bit FNV-1a hash of vhost, a separator and route (NULL is ""). */
apr_uint64_t prof_rate_hash(const char *vhost, const char *route);

#endif /* PROF_RATE_H */
