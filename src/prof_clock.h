/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_clock.h
 * @brief The monotonic clock every duration in mod_profiler is measured with.
 *
 * APR offers only wall-clock time (apr_time_now), which jumps when NTP or an
 * operator sets the clock; durations taken from it can come out negative. We
 * read CLOCK_MONOTONIC instead and keep wall time for the one thing it is
 * right for: the anchor r->request_time that the `read` phase starts from.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_CLOCK_H
#define PROF_CLOCK_H

#include <time.h>
#include "apr.h"
#include "apr_time.h"

/** Microseconds on the monotonic clock; only differences mean anything. */
typedef apr_int64_t prof_mono_us_t;

/**
 * Now, on the monotonic clock, in microseconds.
 * Inline because every phase edge calls it: it is the hottest function we have.
 */
static APR_INLINE prof_mono_us_t prof_clock_now_us(void)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) {
        return (prof_mono_us_t)ts.tv_sec * APR_USEC_PER_SEC
               + (prof_mono_us_t)(ts.tv_nsec / 1000);
    }
#endif
    /* No monotonic clock on this platform: wall time is the best we have. */
    return (prof_mono_us_t)apr_time_now();
}

#endif /* PROF_CLOCK_H */
