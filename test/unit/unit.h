/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  unit.h
 * @brief Shared declarations of the check unit tests of the APR-only core.
 *
 * One suite per core unit; unit_main.c runs them all. The tests link the core
 * sources directly and no httpd: that is the point of keeping the core
 * APR-only.
 */

#ifndef PROF_UNIT_H
#define PROF_UNIT_H

#include <check.h>

#include "apr_general.h"
#include "apr_pools.h"
#include <stdint.h>

/** src/prof_clock.h: the monotonic clock. */
/* A pool for the tests that need one, with APR initialised around it:
 * tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown). */
extern apr_pool_t *unit_pool;
void unit_pool_setup(void);
void unit_pool_teardown(void);

/* len bytes that end where an inaccessible page begins: reading one byte
 * further faults, in the plain run as much as under ASan. For hot loops:
 * check hears only of a failure. */
typedef struct {
    void *map;
    size_t maplen;
} unit_guard_t;
char *unit_guard_alloc(unit_guard_t *g, size_t len);
void unit_guard_free(unit_guard_t *g);

Suite *prof_clock_suite(void);

/** src/prof_phase.c: the phase record. */
Suite *prof_phase_suite(void);

/** src/prof_st.c: the Server-Timing writer. */
Suite *prof_st_suite(void);

/** src/prof_st_parse.c: the Server-Timing parser. */
Suite *prof_st_parse_suite(void);

/* test_span.c: span sets, also from many threads at once */
Suite *prof_span_suite(void);

/* test_queue.c: the hand-off from request threads to the store's writer */
Suite *prof_queue_suite(void);

/* test_hist.c: log-scale latency histograms for the store's rollups */
Suite *prof_hist_suite(void);

/* test_route.c: route folding, path truncation, query redaction, sampling */
Suite *prof_route_suite(void);

/* test_report_text.c: the report's escapers (JSON, HTML, CSV) and the
 * parsers of its parameters (times, status, cursors, numbers) */
Suite *prof_report_text_suite(void);

/**
 * A deterministic PRNG (splitmix64) for the randomised tests: a failing
 * iteration reruns identically from its loop index, on every platform and
 * without touching rand()'s global state.
 */
static inline uint64_t unit_rand(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/** A seed for loop iteration i of a randomised test. */
static inline uint64_t unit_seed(int i)
{
    return UINT64_C(0x6d6f645f70726f66) ^ (uint64_t)(unsigned)i;
}

#endif /* PROF_UNIT_H */
