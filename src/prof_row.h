/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_row.h
 * @brief One finished request as the measurement store keeps it: a flat,
 *        self-contained copy that outlives the request.
 *
 * The request thread builds a row when the request has been logged and
 * hands it to the writer's queue (prof_queue.h); the writer thread stores
 * it and frees it. A request's pool is gone by then, so a row is one
 * malloc'd block holding its strings and spans: building it is one
 * allocation and a few copies, freeing it one free(), and nothing in it
 * points anywhere else.
 *
 * Size is bounded: every string is cut to its maximum (PROF_ROW_*_MAX,
 * never inside a UTF-8 character) and spans are at most what the span set
 * held (ProfilerMaxSpans, at most 4096, with bounded names and
 * descriptions), so one row is at most a few megabytes in the worst case
 * and some hundreds of bytes in the usual one.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_ROW_H
#define PROF_ROW_H

#include "apr.h"
#include "apr_time.h"

#include "prof_phase.h"
#include "prof_span.h"

/* The longest strings a row keeps, in bytes without the NUL. Callers cut
 * routes, paths and query strings themselves (prof_route.h, on whole
 * segments or parameters); these bounds are the row's own guarantee. */
#define PROF_ROW_VHOST_MAX     255
#define PROF_ROW_METHOD_MAX    32
#define PROF_ROW_PROTOCOL_MAX  16
#define PROF_ROW_ROUTE_MAX     256
#define PROF_ROW_PATH_MAX      1024
#define PROF_ROW_QUERY_MAX     1024

/** Room for prof_row_phase_starts(): 14 values of at most 20 characters,
 * 13 commas and the NUL. */
#define PROF_ROW_STARTS_MAX    (14 * 20 + 13 + 1)

/** A span of a stored request. */
typedef struct {
    const char *name;           /**< a token */
    const char *desc;           /**< NULL: none */
    apr_int64_t start_us;       /**< from the start of the request */
    apr_int64_t dur_us;         /**< >= 0 */
    apr_int32_t index;          /**< its number in the request: start order */
    apr_int32_t parent;         /**< index of the parent span, or -1 */
    apr_int32_t metric;         /**< 1: added as a measured duration */
} prof_row_span_t;

/** A module's own time in a phase of a stored request (ProfilerModuleTiming:
 * each hook function of each module, and each output filter). */
typedef struct {
    const char *name;           /**< "mod_rewrite", or the filter's name */
    apr_int32_t phase;          /**< PROF_PHASE_*; -1: an output filter */
    apr_uint32_t calls;         /**< calls that ended */
    apr_int64_t dur_us;         /**< >= 0 */
} prof_row_module_t;

/** The longest module or filter name a row keeps; the most entries. */
#define PROF_ROW_MODULE_NAME_MAX  64
#define PROF_ROW_MODULES_MAX      256

/** The largest profile a row carries (prof_stacks_text_write() form):
 * a profile longer than this is not stored (the row is, without it). */
#define PROF_ROW_PROFILE_MAX   (4 * 1024 * 1024)

/** A stored request. Everything it points to is inside its own block. */
typedef struct {
    apr_int64_t id;             /**< assigned in advance (prof_store_new_id()),
                                     0: the writer assigns one */
    apr_int64_t start_us;       /**< wall clock, us since the epoch */
    apr_int64_t dur_us[PROF_PHASE_COUNT]; /**< per phase, and the total */
    /** When each phase was first entered, us from the start of the request
     * (read = 0); -1: it did not run, or unknown. [PROF_PHASE_TOTAL]
     * unused. */
    apr_int64_t first_us[PROF_PHASE_COUNT];
    apr_int64_t ttfb_us;        /**< until the headers left; 0: unknown */
    apr_int64_t bytes_sent;     /**< body bytes */
    apr_int32_t status;         /**< HTTP status */
    apr_uint32_t weight;        /**< how many requests this row stands for */
    apr_uint32_t spans_dropped; /**< spans that did not fit */
    apr_uint32_t nspans;        /**< entries in spans */
    const char *vhost;
    const char *method;
    const char *protocol;       /**< "HTTP/1.1", "HTTP/2.0", ... */
    const char *route;
    const char *path;
    const char *query;          /**< NULL: not kept */
    const char *profile;        /**< the request's profile as text
                                     (prof_stacks_text_write()), NULL: none */
    prof_row_span_t *spans;     /**< nspans entries, start order */
    apr_uint32_t nmodules;      /**< entries in modules */
    prof_row_module_t *modules; /**< in phase order, as given */
} prof_row_t;

/** What a row is built from. The strings and spans are copied; NULL
 * strings become "" (query stays NULL). */
typedef struct {
    apr_int64_t id;                     /**< the row's id when it was given
                                         * one in advance (a profiled
                                         * request's, whose Server-Timing
                                         * names it); 0: the writer assigns
                                         * one */
    apr_int64_t start_us;
    const apr_int64_t *dur_us;          /**< PROF_PHASE_COUNT entries */
    const apr_int64_t *first_us;        /**< PROF_PHASE_COUNT entries, as
                                         * prof_phase_rec_t's; NULL: unknown */
    apr_int64_t ttfb_us;
    apr_int64_t bytes_sent;
    int status;
    apr_uint32_t weight;
    apr_uint32_t spans_dropped;
    const char *vhost, *method, *protocol, *route, *path, *query;
    const prof_span_info_t *spans;      /**< as prof_span_finished() gives */
    apr_size_t nspans;
    apr_int64_t span_base_us;           /**< added to every span start */
    const char *profile;                /**< the request's profile,
                                         * prof_stacks_text_write()'s text,
                                         * copied; NULL: none. Longer than
                                         * PROF_ROW_PROFILE_MAX: dropped */
    const prof_row_module_t *modules;   /**< copied, names cut to
                                         * PROF_ROW_MODULE_NAME_MAX; at most
                                         * PROF_ROW_MODULES_MAX kept */
    apr_size_t nmodules;
} prof_row_in_t;

/**
 * A new row from in: one malloc'd block. Strings longer than their
 * PROF_ROW_*_MAX are cut there (not inside a UTF-8 character); span names
 * and descriptions to PROF_SPAN_NAME_MAX and PROF_SPAN_DESC_MAX.
 *
 * @return the row, to be freed with prof_row_free(); NULL when memory is
 *         short or in is NULL.
 *
 * No global state; callable from any thread.
 */
prof_row_t *prof_row_create(const prof_row_in_t *in);

/**
 * The row's phase starts as the store's column phase_starts keeps them:
 * the 14 phases read .. log in prof_phase.h's order, each the decimal us
 * from the start of the request, comma-separated, empty for a phase that
 * did not run ("0,41,,,60,..."). Written to buf (size bytes, at least
 * PROF_ROW_STARTS_MAX for any row).
 * @return buf, or NULL when no phase start is known (a row built without
 *         first_us: the column stays NULL) or buf is too small.
 */
const char *prof_row_phase_starts(const prof_row_t *row, char *buf,
                                  apr_size_t size);

/** Free a row built by prof_row_create(). NULL is ignored. */
void prof_row_free(prof_row_t *row);

/** The status class of a status code: 1 for 1xx ... 5 for 5xx; 0 for
 * anything outside 100..599. */
int prof_row_status_class(int status);

/** The start of the minute that t_us (us since the epoch) falls into.
 * Times before the epoch round down too. */
apr_int64_t prof_row_minute_us(apr_int64_t t_us);

#endif /* PROF_ROW_H */
