/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_phase.h
 * @brief The phase record: which phase of a request is running, and how long
 *        each one took.
 *
 * A request passes through the phases in a fixed order, but internal
 * redirects run several of them again and RUN_FIRST hooks may end a phase
 * before our last hook in it runs. So the record does not assume an order:
 * it keeps one open phase and a start time; entering a phase closes the open
 * one, and durations add up when a phase runs more than once. Phases are
 * disjoint intervals on one monotonic clock, so their sum never exceeds the
 * total.
 *
 * Part of the APR-only core: no httpd header may be included here. Not
 * thread-safe: one record belongs to one request, and httpd runs the phases
 * of a request on one thread at a time.
 */

#ifndef PROF_PHASE_H
#define PROF_PHASE_H

#include <string.h>

#include "apr.h"
#include "prof_clock.h"
#include "prof_st.h"

/** The canonical phases, in the order a request passes through them. */
typedef enum {
    PROF_PHASE_READ = 0,    /**< r->request_time until post_read_request */
    PROF_PHASE_POSTREAD,    /**< post_read_request hooks */
    PROF_PHASE_QUICK,       /**< quick_handler (mod_cache hits) */
    PROF_PHASE_TRANSLATE,   /**< pre_translate_name + translate_name */
    PROF_PHASE_STORAGE,     /**< map_to_storage: directory walk, .htaccess */
    PROF_PHASE_HEADERS,     /**< header_parser */
    PROF_PHASE_ACCESS,      /**< access_checker + access_checker_ex */
    PROF_PHASE_AUTHN,       /**< check_user_id */
    PROF_PHASE_AUTHZ,       /**< auth_checker */
    PROF_PHASE_TYPE,        /**< type_checker */
    PROF_PHASE_FIXUPS,      /**< fixups */
    PROF_PHASE_HANDLER,     /**< handler until the response reaches our filter */
    PROF_PHASE_BODY,        /**< first body brigade until EOS */
    PROF_PHASE_LOG,         /**< log_transaction */
    PROF_PHASE_TOTAL,       /**< the whole request */
    PROF_PHASE_COUNT
} prof_phase_t;

/** No phase is open. */
#define PROF_PHASE_NONE (-1)

/** A mark that leaves a phase (or'ed to the phase) instead of entering it. */
#define PROF_MARK_LEAVE 0x100

/** Where the time between phases goes in the record's accumulators: it is
 * kept apart and belongs to no phase. */
#define PROF_PHASE_OUT PROF_PHASE_COUNT

/**
 * The phases of one request.
 *
 * Every phase edge runs on every request, a dozen of them, so an edge is
 * as little as it can be (prof_phase_mark()): one read of the tick clock
 * (prof_clock.h: one `rdtsc` where the kernel itself keeps time with the
 * TSC), the ticks since the previous edge added to the phase that was
 * open, the new phase opened and, on its first entry, the tick kept. No
 * call, no division, no list of marks to fold afterwards: everything is
 * inline and the hooks pass constants, so the compiler keeps one branch.
 * Turning ticks into microseconds is work for whoever reads the record:
 * prof_phase_fold() for the durations, prof_phase_firsts() for when each
 * phase first began (only the store's rows need those).
 */
typedef struct {
    /** Microseconds per phase, written by prof_phase_fold() (read: at
     * the start; total: prof_phase_total()). */
    apr_interval_time_t dur_us[PROF_PHASE_COUNT];
    /** When each phase was first entered, in µs from the start of the
     * request (the start of `read`, r->request_time, is 0); -1 for a phase
     * that has not run. Written by prof_phase_firsts(). What the waterfall
     * draws: the real offset, not the sum of the phases before. */
    apr_interval_time_t first_us[PROF_PHASE_COUNT];
    prof_tick_t start_tick;     /**< when the record was started */
    prof_tick_t last_tick;      /**< the latest edge (start_tick if none) */
    /** Ticks spent in each phase; [PROF_PHASE_OUT]: in none. */
    prof_tick_t acc[PROF_PHASE_COUNT + 1];
    /** The tick of each phase's first entry; 0 for a phase not entered
     * (no tick is 0: the clocks count from boot). Right after acc: one
     * memset clears both at the start. */
    prof_tick_t first_tick[PROF_PHASE_COUNT];
    /** Monotonic µs at start_tick, 0 until prof_phase_start_us() asks. */
    prof_mono_us_t start_us;
    apr_interval_time_t read_us;  /**< r->request_time until the start */
    /** Bits (1 << phase) of read and total, which are not entered but
     * are there once the record starts, or is complete; the others are
     * told by first_tick (prof_phase_seen()). */
    apr_uint32_t seen;
    int cur;                    /**< the open phase, or PROF_PHASE_OUT */
} prof_phase_rec_t;

/** The canonical names and their lengths, in phase order, for a loop
 * over the phases that would otherwise call the two functions below a
 * dozen times a request (the OTLP exporter's). */
extern const char *const prof_phase_names_[];
extern const apr_size_t prof_phase_name_lens_[];

/** Canonical name of a phase, or NULL when out of range. */
const char *prof_phase_name(int phase);

/** strlen(prof_phase_name(phase)), 0 when out of range. */
apr_size_t prof_phase_name_len(int phase);

/**
 * Start a record at tick `now` (prof_clock_tick()): `read` already took
 * read_us (negative counts as 0: the wall clock may have been set back),
 * nothing is open, no phase has ticks. dur_us (but read's), first_us and
 * first_tick are left as they are: prof_phase_fold(), prof_phase_total()
 * and prof_phase_firsts() write them, and nothing reads them before.
 */
static APR_INLINE void prof_phase_rec_start(prof_phase_rec_t *rec,
                                            prof_tick_t now,
                                            apr_interval_time_t read_us)
{
    memset(rec->acc, 0, APR_OFFSETOF(prof_phase_rec_t, first_tick)
                        + sizeof(rec->first_tick)
                        - APR_OFFSETOF(prof_phase_rec_t, acc));
    rec->read_us = read_us > 0 ? read_us : 0;
    rec->dur_us[PROF_PHASE_READ] = rec->read_us;
    rec->seen = 1u << PROF_PHASE_READ;
    rec->start_tick = now;
    rec->last_tick = now;
    rec->start_us = 0;
    rec->cur = PROF_PHASE_OUT;
}

/** prof_phase_rec_start() and, at the same tick, the first edge: phase
 * `enter` (postread .. log) opened. */
static APR_INLINE void prof_phase_rec_begin(prof_phase_rec_t *rec,
                                            prof_tick_t now,
                                            apr_interval_time_t read_us,
                                            int enter)
{
    prof_phase_rec_start(rec, now, read_us);
    if (enter > PROF_PHASE_READ && enter < PROF_PHASE_TOTAL) {
        rec->cur = enter;
        rec->first_tick[enter] = now;
    }
}

/**
 * A phase edge at tick t: `what` is a phase to enter (which closes the
 * open one, even when it is the same phase again: internal redirects run
 * phases again and the times add up), or PROF_MARK_LEAVE | phase to close
 * that phase if it is the open one (otherwise nothing happens). `read` and
 * `total` cannot be entered: entering them only closes the open phase. A
 * tick before the previous edge (a clock that went backwards; it must
 * not) adds nothing and counts as the previous edge's: last_tick never
 * goes back, so no difference of ticks here is ever negative.
 */
static APR_INLINE void prof_phase_edge(prof_phase_rec_t *rec, int what,
                                       prof_tick_t t)
{
    int cur = rec->cur;
    prof_tick_t d = t - rec->last_tick;

    if (what & PROF_MARK_LEAVE) {
        /* Only the open phase can be left; "no phase" (PROF_PHASE_OUT,
         * which is also cur's value when nothing is open) never is. */
        if ((what & ~PROF_MARK_LEAVE) >= PROF_PHASE_TOTAL
            || cur != (what & ~PROF_MARK_LEAVE)) {
            return;
        }
        what = PROF_PHASE_OUT;
    }
    else if (what <= PROF_PHASE_READ || what >= PROF_PHASE_TOTAL) {
        what = PROF_PHASE_OUT;
    }
    if ((apr_int64_t)d > 0) {
        rec->acc[cur] += d;
        rec->last_tick = t;
    }
    rec->cur = what;
    if (what != PROF_PHASE_OUT && rec->first_tick[what] == 0) {
        rec->first_tick[what] = rec->last_tick;
    }
}

/**
 * Something to be told of every phase edge, for a while: the CPU
 * profiler's sample labels while a profile runs. rec is the edge's record,
 * what its prof_phase_mark() argument. Called on the request's thread,
 * after the edge.
 */
typedef void prof_phase_edge_hook_fn(prof_phase_rec_t *rec, int what);

/**
 * Set (or, with NULL, clear) the edge hook. While one is set, and where
 * ticks are not the TSC, edges take prof_phase_mark_slow(); otherwise an
 * edge tests one word it reads anyway. Thread-safe.
 */
void prof_phase_edge_hook_set(prof_phase_edge_hook_fn *fn);

/** 1 while edges may read the TSC inline and nothing else is wanted of
 * them (prof_phase_edge_hook_set()); read relaxed. */
extern int prof_phase_fast PROF_HIDDEN;

/** prof_phase_mark() the long way: any tick source, and the edge hook. */
void prof_phase_mark_slow(prof_phase_rec_t *rec, int what);

/** A phase edge now: what every phase hook does. */
static APR_INLINE void prof_phase_mark(prof_phase_rec_t *rec, int what)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__atomic_load_n(&prof_phase_fast, __ATOMIC_RELAXED)) {
        prof_phase_edge(rec, what, (prof_tick_t)__builtin_ia32_rdtsc());
        return;
    }
#endif
    prof_phase_mark_slow(rec, what);
}

/** The open phase, or PROF_PHASE_NONE. */
static APR_INLINE int prof_phase_current(const prof_phase_rec_t *rec)
{
    return rec->cur == PROF_PHASE_OUT ? PROF_PHASE_NONE : rec->cur;
}

/** Microseconds from the start of the request (r->request_time) to the
 * latest edge. */
static APR_INLINE apr_interval_time_t
prof_phase_elapsed(const prof_phase_rec_t *rec)
{
    return rec->read_us + prof_clock_ticks_us(rec->last_tick
                                              - rec->start_tick);
}

/** Microseconds from the start of the request to the first entry of phase,
 * or -1 when it was never entered. */
static APR_INLINE apr_interval_time_t
prof_phase_entered_us(const prof_phase_rec_t *rec, int phase)
{
    if (phase <= PROF_PHASE_READ || phase >= PROF_PHASE_TOTAL
        || rec->first_tick[phase] == 0) {
        return phase == PROF_PHASE_READ ? 0 : -1;
    }
    return rec->read_us + prof_clock_ticks_us(rec->first_tick[phase]
                                              - rec->start_tick);
}

/**
 * Write dur_us from the ticks: every phase's time so far (an open phase's
 * up to the latest edge). Returns prof_phase_elapsed().
 */
apr_interval_time_t prof_phase_fold(prof_phase_rec_t *rec);

/**
 * Write first_us from the ticks (for the store's rows).
 */
void prof_phase_firsts(prof_phase_rec_t *rec);

/**
 * Set `total` to total_us (the request's time up to its last edge:
 * prof_phase_fold()'s result) and mark it seen. Returns total_us.
 */
static APR_INLINE apr_interval_time_t
prof_phase_total(prof_phase_rec_t *rec, apr_interval_time_t total_us)
{
    rec->dur_us[PROF_PHASE_TOTAL] = total_us;
    rec->seen |= 1u << PROF_PHASE_TOTAL;
    return total_us;
}

/**
 * The monotonic clock (prof_clock_now_us()) at the record's start: what
 * the span API measures against. Worked out on first use from the clock
 * and the ticks since the start, so that a request without spans never
 * reads it.
 */
prof_mono_us_t prof_phase_start_us(prof_phase_rec_t *rec);

/**
 * Append the header's phase entries to st: every phase before `body` that
 * took at least a microsecond (the others tell nothing and stay in the
 * record only), in canonical order, then `total` with total_us. The same
 * bytes prof_st_add() would write, and the same dropping; table-driven,
 * because it runs for every response that carries the header.
 */
void prof_phase_write_st(const prof_phase_rec_t *rec,
                         apr_interval_time_t total_us, prof_st_buf_t *st);

/** Was the phase entered at least once? (read: always; total: once
 * prof_phase_total() made the record complete) */
static APR_INLINE int prof_phase_seen(const prof_phase_rec_t *rec, int phase)
{
    if (phase <= PROF_PHASE_READ || phase >= PROF_PHASE_TOTAL) {
        return phase >= 0 && phase < 32 ? (int)((rec->seen >> phase) & 1u)
                                        : 0;
    }
    return rec->first_tick[phase] != 0;
}

#endif /* PROF_PHASE_H */
