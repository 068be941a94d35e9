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

#include "apr.h"
#include "prof_clock.h"

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

/** Timings of one request. Plain data: zero it, then prof_phase_rec_start(). */
typedef struct {
    apr_interval_time_t dur_us[PROF_PHASE_COUNT]; /**< accumulated, >= 0 */
    prof_mono_us_t start_us;    /**< monotonic time the record was started */
    prof_mono_us_t open_us;     /**< when the open phase was entered */
    apr_uint32_t seen;          /**< bit (1 << phase) for each phase entered */
    int open;                   /**< the open phase, or PROF_PHASE_NONE */
} prof_phase_rec_t;

/** The canonical name of a phase ("read", ..., "total"); NULL if out of range. */
const char *prof_phase_name(int phase);

/**
 * Start a record at monotonic time now_us. read_us is how long the request
 * took to arrive before that moment (measured by the caller from its wall
 * clock anchor); negative values are clamped to 0.
 */
void prof_phase_rec_start(prof_phase_rec_t *rec, prof_mono_us_t now_us,
                          apr_interval_time_t read_us);

/**
 * Close the open phase at now_us and open `phase`; re-entering adds up.
 * `read` (measured before the record starts) and `total` (computed) cannot
 * be entered: for them this only closes the open phase.
 */
void prof_phase_enter(prof_phase_rec_t *rec, prof_phase_t phase,
                      prof_mono_us_t now_us);

/** Close `phase` at now_us if it is the open one; otherwise do nothing. */
void prof_phase_leave(prof_phase_rec_t *rec, prof_phase_t phase,
                      prof_mono_us_t now_us);

/** Close whatever phase is open at now_us. */
void prof_phase_close(prof_phase_rec_t *rec, prof_mono_us_t now_us);

/**
 * The whole request so far: read time plus the monotonic time since the
 * record started, never negative. Also stored as dur_us[PROF_PHASE_TOTAL].
 */
apr_interval_time_t prof_phase_total(prof_phase_rec_t *rec,
                                     prof_mono_us_t now_us);

/** Was the phase entered at least once? */
#define prof_phase_seen(rec, phase) (((rec)->seen >> (phase)) & 1u)

#endif /* PROF_PHASE_H */
