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

/** Marks kept before they are folded into durations. A static file takes
 * about a dozen; more (internal redirects) fold early, which costs nothing
 * but a loop. */
#define PROF_PHASE_MARKS 16

/** One phase edge as the hooks see it: the clock, as read, and what. */
typedef struct {
    struct timespec ts;
    int what;                   /**< a phase, or PROF_MARK_LEAVE | phase */
} prof_phase_mark_t;

/**
 * Timings of one request. Start it with prof_phase_rec_start().
 *
 * Phase edges reach it two ways: prof_phase_enter()/leave() with a time the
 * caller read, or prof_phase_mark(), which only stores the clock reading;
 * prof_phase_fold() turns pending marks into durations, once, when someone
 * wants them. Every hook of every request marks, so marking does nothing
 * else; folding is for readers (the header, logging).
 */
typedef struct {
    apr_interval_time_t dur_us[PROF_PHASE_COUNT]; /**< accumulated, >= 0 */
    /** When each phase was first entered, in µs from the start of the
     * request (the start of `read`, r->request_time, is 0); -1 for a phase
     * that has not run. What the waterfall draws: the real offset, not the
     * sum of the phases before. */
    apr_interval_time_t first_us[PROF_PHASE_COUNT];
    prof_mono_us_t start_us;    /**< monotonic time the record was started */
    prof_mono_us_t open_us;     /**< when the open phase was entered */
    prof_mono_us_t last_us;     /**< time of the last mark folded, or start */
    apr_uint32_t seen;          /**< bit (1 << phase) for each phase entered */
    int open;                   /**< the open phase, or PROF_PHASE_NONE */
    unsigned nmarks;            /**< pending marks */
    prof_phase_mark_t marks[PROF_PHASE_MARKS];
} prof_phase_rec_t;

/** The canonical name of a phase ("read", ..., "total"); NULL if out of range. */
const char *prof_phase_name(int phase);


/**
 * Start a record at monotonic time now_us, with no phase open and no marks.
 * read_us is how long the request took to arrive before that moment
 * (measured by the caller from its wall clock anchor); negative values are
 * clamped to 0.
 */
static APR_INLINE void prof_phase_rec_start(prof_phase_rec_t *rec,
                                            prof_mono_us_t now_us,
                                            apr_interval_time_t read_us)
{
    int i;

    memset(rec->dur_us, 0, sizeof(rec->dur_us));
    rec->dur_us[PROF_PHASE_READ] = read_us > 0 ? read_us : 0;
    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        rec->first_us[i] = -1;
    }
    rec->first_us[PROF_PHASE_READ] = 0;
    rec->seen = 1u << PROF_PHASE_READ;
    rec->start_us = now_us;
    rec->open_us = now_us;
    rec->last_us = now_us;
    rec->open = PROF_PHASE_NONE;
    rec->nmarks = 0;
}

/* enter/leave/close run at every phase edge of every request: inline. */

/**
 * Apply the pending marks in order; returns the time of the last mark ever
 * folded (the start time if there was none).
 */
prof_mono_us_t prof_phase_fold(prof_phase_rec_t *rec);

/** Out of line, for prof_phase_mark(): fold the full record's marks,
 * then mark `what` as the first of the next batch. */
void prof_phase_mark_full(prof_phase_rec_t *rec, int what);

/**
 * Mark a phase edge now: `what` is a phase to enter, or PROF_MARK_LEAVE |
 * phase to leave it if it is open. Only reads the clock into the record;
 * prof_phase_fold() applies it.
 *
 * Every hook of every request runs this, so it is kept to a few stores
 * and the clock read, last: the rare paths (a full record, a clock that
 * fails) are calls out of line, and keep no register alive here.
 */
static APR_INLINE void prof_phase_mark(prof_phase_rec_t *rec, int what)
{
    unsigned n = rec->nmarks;

    if (n < PROF_PHASE_MARKS) {
        rec->nmarks = n + 1;
        rec->marks[n].what = what;
        prof_clock_read_ts(&rec->marks[n].ts);
    }
    else {
        prof_phase_mark_full(rec, what);
    }
}

/** The phase that is open once the pending marks are applied. */
static APR_INLINE int prof_phase_current(const prof_phase_rec_t *rec)
{
    if (rec->nmarks) {
        int w = rec->marks[rec->nmarks - 1].what;
        return (w & PROF_MARK_LEAVE) ? PROF_PHASE_NONE : w;
    }
    return rec->open;
}

/** Close whatever phase is open at now_us. */
static APR_INLINE void prof_phase_close(prof_phase_rec_t *rec,
                                        prof_mono_us_t now_us)
{
    if (rec->open != PROF_PHASE_NONE) {
        /* A clock that went backwards (it must not) adds nothing rather
         * than a negative duration. */
        if (now_us > rec->open_us) {
            rec->dur_us[rec->open] += now_us - rec->open_us;
        }
        rec->open = PROF_PHASE_NONE;
    }
}

/**
 * Close the open phase at now_us and open `phase`; re-entering adds up.
 * `read` (measured before the record starts) and `total` (computed) cannot
 * be entered: for them this only closes the open phase. Time added to
 * `read` after the start would be counted twice by prof_phase_total().
 */
static APR_INLINE void prof_phase_enter(prof_phase_rec_t *rec,
                                        prof_phase_t phase,
                                        prof_mono_us_t now_us)
{
    prof_phase_close(rec, now_us);
    if (phase != PROF_PHASE_READ && (unsigned)phase < PROF_PHASE_TOTAL) {
        rec->open = (int)phase;
        rec->open_us = now_us;
        rec->seen |= 1u << phase;
        if (rec->first_us[phase] < 0) {
            rec->first_us[phase] = rec->dur_us[PROF_PHASE_READ]
                + (now_us > rec->start_us ? now_us - rec->start_us : 0);
        }
    }
}

/** Close `phase` at now_us if it is the open one; otherwise do nothing. */
static APR_INLINE void prof_phase_leave(prof_phase_rec_t *rec,
                                        prof_phase_t phase,
                                        prof_mono_us_t now_us)
{
    if (rec->open == (int)phase) {
        prof_phase_close(rec, now_us);
    }
}

/**
 * The whole request so far: read time plus the monotonic time since the
 * record started, never negative. Also stored as dur_us[PROF_PHASE_TOTAL].
 */
apr_interval_time_t prof_phase_total(prof_phase_rec_t *rec,
                                     prof_mono_us_t now_us);

/**
 * Append the header's phase entries to st: every phase before `body` that
 * took at least a microsecond (the others tell nothing and stay in the
 * record only), in canonical order, then `total` with total_us. The same
 * bytes prof_st_add() would write, and the same dropping; table-driven,
 * because it runs for every response that carries the header.
 */
void prof_phase_write_st(const prof_phase_rec_t *rec,
                         apr_interval_time_t total_us, prof_st_buf_t *st);

/** When the latest mark was taken, pending or folded (the start time if
 * there was none). */
static APR_INLINE prof_mono_us_t
prof_phase_last_mark_us(const prof_phase_rec_t *rec)
{
    return rec->nmarks ? prof_clock_ts_us(&rec->marks[rec->nmarks - 1].ts)
                       : rec->last_us;
}

/** What prof_phase_total() returns at now_us, without folding or writing
 * anything: for the time to first byte when nothing reads the phases yet. */
static APR_INLINE apr_interval_time_t
prof_phase_elapsed(const prof_phase_rec_t *rec, prof_mono_us_t now_us)
{
    return rec->dur_us[PROF_PHASE_READ]
           + (now_us > rec->start_us ? now_us - rec->start_us : 0);
}

/** Was the phase entered at least once? */
#define prof_phase_seen(rec, phase) (((rec)->seen >> (phase)) & 1u)

#endif /* PROF_PHASE_H */
