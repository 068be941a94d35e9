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

/** Wall time into *ts: prof_clock_read_ts() where there is no monotonic
 * clock. Out of line (prof_phase.c): the marks' inline read stays a call
 * and a test. */
void prof_clock_read_wall_ts(struct timespec *ts);

/**
 * Read the monotonic clock into *ts, as it comes: the cheapest read there
 * is, for the marks taken at every phase edge (prof_phase_mark()).
 */
static APR_INLINE void prof_clock_read_ts(struct timespec *ts)
{
#if defined(CLOCK_MONOTONIC)
    if (clock_gettime(CLOCK_MONOTONIC, ts) == 0) {
        return;
    }
#endif
    /* No monotonic clock on this platform: wall time is the best we
     * have. */
    prof_clock_read_wall_ts(ts);
}

/** A reading of prof_clock_read_ts() in microseconds. */
static APR_INLINE prof_mono_us_t prof_clock_ts_us(const struct timespec *ts)
{
    /* tv_nsec is 0 .. 999,999,999: an unsigned division is shorter, and
     * every mark is converted once per request (prof_phase_fold()). */
    return (prof_mono_us_t)ts->tv_sec * APR_USEC_PER_SEC
           + (prof_mono_us_t)((unsigned long)ts->tv_nsec / 1000u);
}

/** Now, on the monotonic clock, in microseconds. */
static APR_INLINE prof_mono_us_t prof_clock_now_us(void)
{
    struct timespec ts;

    prof_clock_read_ts(&ts);
    return prof_clock_ts_us(&ts);
}

#endif /* PROF_CLOCK_H */
