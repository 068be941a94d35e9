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

/*
 * Ticks: the clock of the phase edges, read a dozen times on every request.
 *
 * Where the CPU's time-stamp counter is the kernel's own clocksource (an
 * invariant TSC, the same on every core: the kernel checked that before
 * choosing it), a tick is one `rdtsc`, a few cycles and one instruction,
 * where clock_gettime() through the vDSO takes 20-25 ns. Elsewhere a tick
 * is a nanosecond of CLOCK_MONOTONIC. prof_clock_ticks_init() decides once,
 * in the parent before any child exists (it calibrates the TSC against
 * CLOCK_MONOTONIC for a few milliseconds); until then, and in programs
 * that never call it, ticks are nanoseconds. Ticks mean something only as
 * differences, turned into microseconds by prof_clock_ticks_us().
 */
typedef apr_uint64_t prof_tick_t;

/* For the words every phase edge reads: hidden, so that code in the same
 * module reaches them in one RIP-relative load, without the GOT. */
#if defined(__GNUC__)
#define PROF_HIDDEN __attribute__((visibility("hidden")))
#else
#define PROF_HIDDEN
#endif

/** Set once by prof_clock_ticks_init() before any request runs, read-only
 * afterwards (children inherit it by fork). */
typedef struct {
    int tsc;                    /**< 1: ticks are rdtsc */
    apr_uint64_t mult;          /**< TSC: microseconds = ticks * mult >> 52 */
    double hz;                  /**< ticks per second */
} prof_clock_ticks_t;

extern prof_clock_ticks_t prof_clock_ticks_conf PROF_HIDDEN;

/**
 * Decide the tick source: the TSC when the kernel's current clocksource
 * is "tsc" on x86-64 (and allow is non-zero), CLOCK_MONOTONIC nanoseconds
 * otherwise. Returns a short description for the log ("tsc 2.450 GHz" in
 * desc, or "clock_gettime"). Not thread-safe: call it at startup only,
 * before any thread reads ticks.
 */
const char *prof_clock_ticks_init(int allow_tsc, char *desc,
                                  apr_size_t len);

/** A tick from CLOCK_MONOTONIC, in nanoseconds. Out of line, so that the
 * TSC read that is inlined into every phase edge needs no local (and no
 * stack guard) for the timespec of this path. */
prof_tick_t prof_clock_tick_ns(void);

static APR_INLINE prof_tick_t prof_clock_tick(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (prof_clock_ticks_conf.tsc) {
        return (prof_tick_t)__builtin_ia32_rdtsc();
    }
#endif
    return prof_clock_tick_ns();
}

/** A difference of ticks in microseconds (rounded down). */
static APR_INLINE apr_int64_t prof_clock_ticks_us(prof_tick_t d)
{
#if defined(__x86_64__) && defined(__GNUC__) && defined(__SIZEOF_INT128__)
    if (prof_clock_ticks_conf.tsc) {
        return (apr_int64_t)(((unsigned __int128)d
                              * prof_clock_ticks_conf.mult) >> 52);
    }
#endif
    return (apr_int64_t)(d / 1000u);
}

#endif /* PROF_CLOCK_H */
