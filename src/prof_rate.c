/* Licensed under the Apache License, Version 2.0. */

#include "prof_rate.h"

#if !defined(__GNUC__) || !defined(__ATOMIC_RELAXED)
#error "prof_rate needs the GCC/C11 __atomic builtins"
#endif

#define LOAD(p)       __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v)   __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define CAS(p, e, v)  __atomic_compare_exchange_n((p), (e), (v), 0, \
                                                  __ATOMIC_RELAXED, \
                                                  __ATOMIC_RELAXED)

#define SEC(w)   ((apr_uint32_t)((w) >> 32))
#define CNT(w)   ((apr_uint32_t)((w) & 0xFFFFFFFFu))

/* Count one arrival in a (second, count) word: *n gets the count with it,
 * *before the count of the second before when the word turned over now
 * (else it is left alone); returns 1 when this call turned it over. */
static int arrive(apr_uint64_t *word, apr_uint32_t sec, apr_uint32_t *n,
                  apr_uint32_t *before)
{
    apr_uint64_t w = LOAD(word);

    for (;;) {
        if (SEC(w) == sec) {
            if (CNT(w) == 0xFFFFFFFFu) {        /* saturate */
                *n = CNT(w);
                return 0;
            }
            if (CAS(word, &w, w + 1)) {
                *n = CNT(w) + 1;
                return 0;
            }
        }
        else if (CAS(word, &w, ((apr_uint64_t)sec << 32) | 1u)) {
            *before = SEC(w) == sec - 1 ? CNT(w) : 0;
            *n = 1;
            return 1;
        }
        /* w holds the newer value: try again. */
    }
}

double prof_rate_probability(prof_rate_t *rt, apr_uint64_t hash,
                             apr_time_t now_us, double rate)
{
    prof_rate_slot_t *slot = &rt->slot[hash & (PROF_RATE_SLOTS - 1)];
    /* +1: second 0 of the epoch must not look like an empty word. */
    apr_uint32_t sec = (apr_uint32_t)(now_us / APR_USEC_PER_SEC) + 1u;
    double frac = (double)(now_us % APR_USEC_PER_SEC) / APR_USEC_PER_SEC;
    apr_uint32_t n = 0, prev = 0, routes = 0, routes_prev = 0;
    apr_uint64_t rw;
    double share, est, p;

    if (!(rate > 0.0)) {
        return 1.0;
    }
    if (arrive(&slot->cur, sec, &n, &prev)) {
        STORE(&slot->prev, prev);
        /* A slot active in a new second: one more route this second. */
        if (arrive(&rt->routes_cur, sec, &routes, &routes_prev)) {
            STORE(&rt->routes_prev, routes_prev);
        }
    }
    else {
        prev = (apr_uint32_t)LOAD(&slot->prev);
    }
    rw = LOAD(&rt->routes_cur);
    routes = SEC(rw) == sec ? CNT(rw) : 0;
    routes_prev = (apr_uint32_t)LOAD(&rt->routes_prev);
    if (routes < routes_prev) {
        routes = routes_prev;
    }
    share = rate / (double)(routes ? routes : 1);
    if (frac < 0.1) {
        frac = 0.1;
    }
    est = (double)n / frac;
    if (est < (double)prev) {
        est = (double)prev;
    }
    p = est > 0.0 ? share / est : 1.0;
    return p >= 1.0 ? 1.0 : p;
}

apr_uint64_t prof_rate_hash(const char *vhost, const char *route)
{
    apr_uint64_t h = APR_UINT64_C(0xcbf29ce484222325);
    const unsigned char *c;

    for (c = (const unsigned char *)(vhost ? vhost : ""); *c; ++c) {
        h = (h ^ *c) * APR_UINT64_C(0x100000001b3);
    }
    h = (h ^ 0xFFu) * APR_UINT64_C(0x100000001b3);
    for (c = (const unsigned char *)(route ? route : ""); *c; ++c) {
        h = (h ^ *c) * APR_UINT64_C(0x100000001b3);
    }
    /* Mix the low bits, which pick the slot. */
    h ^= h >> 29;
    h *= APR_UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 32;
    return h;
}
