/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_span.h
 * @brief Spans and metrics that other modules add to a request, from any
 *        thread of it.
 *
 * A span set belongs to one request. Spans may be started, ended and
 * described from several threads of that request at once, so nothing here
 * uses the request's pool (APR pools are not thread-safe): each span is one
 * malloc'd block, published into a slot claimed with an atomic counter and
 * freed with the set (prof_span_set_free(), from a pool cleanup of the
 * request). The set is bounded: at most `max` spans; further calls are
 * counted, not stored. Its memory follows what was used, not max: slots
 * come in chunks made on first use, and readers size their arrays by
 * prof_span_claimed().
 *
 * A span started while another span of the same set is open on the same
 * thread is its child. The thread remembers its open span as (set id,
 * slot), never as a pointer, so a thread that served an earlier request
 * never touches that request's freed memory.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_SPAN_H
#define PROF_SPAN_H

#include "apr.h"
#include "apr_time.h"
#include "prof_clock.h"

/** No parent. */
#define PROF_SPAN_NO_PARENT (-1)

/** The longest name and description a span keeps, in bytes; longer ones
 * are not cut: the span is dropped (and counted), like a header entry. */
#define PROF_SPAN_NAME_MAX 256
#define PROF_SPAN_DESC_MAX 1024

typedef struct prof_span_t prof_span_t;
typedef struct prof_span_set_t prof_span_set_t;

/** A finished span, as readers see it. */
typedef struct {
    const char *name;           /**< a token (other bytes were replaced) */
    const char *desc;           /**< NULL: none */
    apr_interval_time_t start_us;   /**< offset from the set's base time */
    apr_interval_time_t dur_us;     /**< >= 0 */
    int parent;                 /**< index of the parent, or PROF_SPAN_NO_PARENT */
    int index;                  /**< its own index: start order */
    int metric;                 /**< added as a measured duration */
} prof_span_info_t;

/** A new empty set, malloc'd, for at most max spans; base_us is the time
 * offsets are measured from. NULL if out of memory. */
prof_span_set_t *prof_span_set_create(apr_uint32_t max, prof_mono_us_t base_us);

/** Free the set and every span in it. No other call may run on it then. */
void prof_span_set_free(prof_span_set_t *set);

/**
 * Start a span now. name is made a token; desc may be NULL. Returns NULL
 * (and counts a drop) when the set is full, a string is too long, or
 * memory is short. Thread-safe.
 */
prof_span_t *prof_span_start(prof_span_set_t *set, const char *name,
                             const char *desc);

/** End a span now. NULL and second ends are ignored. Thread-safe. */
void prof_span_end(prof_span_t *span);

/** Replace a span's description (NULL removes it). Ignored for NULL, after
 * the span's set was read for the last time, or if desc is too long.
 * Thread-safe; the last of concurrent calls wins. */
void prof_span_set_desc(prof_span_t *span, const char *desc);

/** Add a finished span of dur_us that ended now (a metric). Thread-safe. */
void prof_span_metric(prof_span_set_t *set, const char *name,
                      apr_interval_time_t dur_us, const char *desc);

/** Spans dropped so far (set full, strings too long, no memory). */
apr_uint32_t prof_span_dropped(const prof_span_set_t *set);

/**
 * How many spans were claimed in the set so far (started or added, ended or
 * not), never more than its max: what a reader must make room for to get
 * every span that exists now, so that reading costs what was used, not the
 * budget. NULL counts 0. Thread-safe; a snapshot, which only grows.
 */
apr_size_t prof_span_claimed(const prof_span_set_t *set);

/**
 * The spans that have ended, in start order (by start time, then by
 * index), into out (room for at most n); returns how many. Spans still open
 * are left out. Thread-safe against writers; the strings stay valid until
 * prof_span_set_free().
 */
apr_size_t prof_span_finished(prof_span_set_t *set, prof_span_info_t *out,
                              apr_size_t n);

#endif /* PROF_SPAN_H */
