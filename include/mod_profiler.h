/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.
 */

/**
 * @file  mod_profiler.h
 * @brief Public API of mod_profiler, the httpd request profiler.
 *
 * mod_profiler times every phase of every request with a monotonic clock and
 * sends the result in the W3C Server-Timing response header. This header is
 * the only part of the module that other modules may depend on.
 *
 * Everything offered to other modules is an APR optional function: a consumer
 * fetches it in its optional_fn_retrieve hook with APR_RETRIEVE_OPTIONAL_FN()
 * and checks it for NULL, so that it compiles, loads and runs whether or not
 * mod_profiler is loaded. Each later addition comes with a feature macro
 * (MOD_PROFILER_HAS_...) so that a consumer can test for it at compile time.
 *
 * Canonical phase names, the same in the header, the store, the API and the
 * docs: read, postread, quick, translate, storage, headers, access, authn,
 * authz, type, fixups, handler, body, log, total.
 */

#ifndef MOD_PROFILER_H
#define MOD_PROFILER_H

#include "apr_optional.h"
#include "apr_hooks.h"
#include "apr_optional_hooks.h"

/** The version of mod_profiler as a string, "major.minor.patch". */
#define MOD_PROFILER_VERSION "0.1.0"

/**
 * The version as one number, 0xMMmmpp: compare it to decide at compile time
 * what an API offers, e.g. `#if MOD_PROFILER_VERSION_NUM >= 0x000100`.
 */
#define MOD_PROFILER_VERSION_NUM 0x000100

/* ------------------------------------------------------------------------
 * Spans and metrics (MOD_PROFILER_HAS_SPANS)
 *
 * A module times its own work on a request and it appears in the request's
 * profile: in Server-Timing (spans and metrics finished before the response
 * headers leave, after the phase entries, in start order) and in the
 * request's record (all of them, with parent and start offset, for the
 * waterfall).
 *
 * Common contract of every function below:
 *  - Thread safety: any thread of the request may call them, several at
 *    once. They take no lock and allocate nothing from r's pools.
 *  - Subrequests and internal redirects: spans land on the initial request.
 *  - Off: when profiling is off for r (module not loaded: the optional
 *    function is NULL; `Profiler Off` where r is; r NULL), they do nothing,
 *    cheaply, and span_start returns NULL. Every function accepts NULL
 *    spans.
 *  - Lifetime: a span lives until r's main request pool is destroyed; no
 *    call may use it after that (end every span before the request ends;
 *    a span never ended is left out).
 *  - Bounds: at most ProfilerMaxSpans spans and metrics per request (default
 *    64); names of at most 256 and descriptions of at most 1024 bytes.
 *    Calls beyond are counted in the record, not stored.
 *  - Names should be RFC 9110 tokens ("db", "cache.lookup"); other bytes
 *    are replaced by '_', never passed through. A name used twice gives two
 *    entries.
 *  - Parents: a span started while another span of the same request is
 *    open on the same thread is its child.
 * ------------------------------------------------------------------------ */

#include "httpd.h"

#define MOD_PROFILER_HAS_SPANS 1

/** A span being timed. Opaque. */
typedef struct profiler_span_t profiler_span_t;

/**
 * Start a span named `name` on r, now. desc may be NULL.
 * @return the span, or NULL (and nothing else happens) when profiling is
 *         off for r or the request's span budget is spent.
 */
APR_DECLARE_OPTIONAL_FN(profiler_span_t *, profiler_span_start,
                        (request_rec *r, const char *name, const char *desc));

/** End a span, now. NULL is ignored; ending a span twice is ignored. */
APR_DECLARE_OPTIONAL_FN(void, profiler_span_end, (profiler_span_t *span));

/**
 * Record a duration the caller measured itself, in microseconds, as a
 * finished span that ends now (negative durations count as 0).
 */
APR_DECLARE_OPTIONAL_FN(void, profiler_metric_add,
                        (request_rec *r, const char *name,
                         apr_interval_time_t dur_us, const char *desc));

/**
 * Replace the description of a span, open or ended (NULL removes it): e.g.
 * a cache look-up that learns "hit" or "miss" only when done. The last of
 * concurrent calls wins. A span that already went out in the header keeps
 * its old description there; the record gets the new one.
 */
APR_DECLARE_OPTIONAL_FN(void, profiler_span_set_desc,
                        (profiler_span_t *span, const char *desc));

/**
 * Is profiling on for r? Lets a module skip work it would do only to
 * describe a span (formatting a desc, say). r NULL: 0.
 */
APR_DECLARE_OPTIONAL_FN(int, profiler_enabled, (request_rec *r));

/* ------------------------------------------------------------------------
 * The finished record (MOD_PROFILER_HAS_RECORD_HOOK)
 * ------------------------------------------------------------------------ */

#define MOD_PROFILER_HAS_RECORD_HOOK 1

/* Linkage of the optional hook, as mod_status.h does it for status_hook. */
#if !defined(WIN32)
#define PROFILER_DECLARE(type)            type
#define PROFILER_DECLARE_NONSTD(type)     type
#define PROFILER_DECLARE_DATA
#elif defined(PROFILER_DECLARE_EXPORT)
#define PROFILER_DECLARE(type)            __declspec(dllexport) type __stdcall
#define PROFILER_DECLARE_NONSTD(type)     __declspec(dllexport) type
#define PROFILER_DECLARE_DATA             __declspec(dllexport)
#else
#define PROFILER_DECLARE(type)            __declspec(dllimport) type __stdcall
#define PROFILER_DECLARE_NONSTD(type)     __declspec(dllimport) type
#define PROFILER_DECLARE_DATA             __declspec(dllimport)
#endif

/** A request's finished record. Opaque; read it with the functions below,
 * only inside a profiler_record_complete hook. */
typedef struct profiler_record_t profiler_record_t;

/** A span of a finished record, as profiler_record_spans() hands it out. */
typedef struct {
    const char *name;               /**< a token */
    const char *desc;               /**< NULL: none */
    apr_interval_time_t start_us;   /**< from the start of the request */
    apr_interval_time_t dur_us;
    int index;                      /**< start order, from 0 */
    int parent;                     /**< index of the parent span, or -1 */
    int metric;                     /**< added with profiler_metric_add() */
} profiler_span_info_t;

/**
 * Optional hook: the record of request r is complete (after logging, on
 * r's thread). Return OK or DECLINED. Register it from your register_hooks
 * with APR_OPTIONAL_HOOK(profiler, profiler_record_complete, fn, NULL, NULL,
 * APR_HOOK_MIDDLE); it simply never runs when mod_profiler is not loaded.
 * The record and everything read from it live until r's pool is destroyed.
 */
APR_DECLARE_EXTERNAL_HOOK(profiler, PROFILER, int, profiler_record_complete,
                          (request_rec *r, const profiler_record_t *rec))

/**
 * Duration of a phase of the record in microseconds: `phase` is a canonical
 * phase name ("read", ..., "log", "total"). -1 for an unknown name.
 */
APR_DECLARE_OPTIONAL_FN(apr_interval_time_t, profiler_record_phase_us,
                        (const profiler_record_t *rec, const char *phase));

/**
 * Call fn for every finished span of the record, in start order, until it
 * returns non-zero. @return the number of spans visited; the spans
 * dropped for the budget are in profiler_record_spans_dropped().
 */
APR_DECLARE_OPTIONAL_FN(int, profiler_record_spans,
                        (const profiler_record_t *rec,
                         int (*fn)(void *baton, const profiler_span_info_t *span),
                         void *baton));

/** Spans and metrics the request tried to add beyond its budget. */
APR_DECLARE_OPTIONAL_FN(unsigned, profiler_record_spans_dropped,
                        (const profiler_record_t *rec));

/* ------------------------------------------------------------------------
 * Module timing in the record (MOD_PROFILER_HAS_RECORD_MODULES)
 * ------------------------------------------------------------------------ */

#define MOD_PROFILER_HAS_RECORD_MODULES 1

/** One module's time in one phase of a finished record, or one output
 * filter's own time (phase "filter"), as ProfilerModuleTiming measured it. */
typedef struct {
    const char *phase;              /**< a canonical phase name, "filter" */
    const char *module;             /**< "mod_rewrite", or the filter's
                                         name ("deflate"): a token */
    apr_interval_time_t dur_us;     /**< all its calls in the request */
    unsigned calls;
} profiler_module_time_t;

/**
 * Call fn for every module time of the record, in phase order (filters
 * last), until it returns non-zero. Calls of a subrequest or an internal
 * redirect are in their main request's. @return the number visited: 0
 * where ProfilerModuleTiming is off for the request. The strings live as
 * the record does.
 */
APR_DECLARE_OPTIONAL_FN(int, profiler_record_modules,
                        (const profiler_record_t *rec,
                         int (*fn)(void *baton,
                                   const profiler_module_time_t *m),
                         void *baton));

/* ------------------------------------------------------------------------
 * Parsing Server-Timing (MOD_PROFILER_HAS_ST_PARSE)
 * ------------------------------------------------------------------------ */

#define MOD_PROFILER_HAS_ST_PARSE 1

/** One entry of a parsed Server-Timing value. */
typedef struct {
    const char *name;   /**< a non-empty RFC 9110 token, case kept */
    int has_dur;        /**< a dur parameter was present (the first counts) */
    double dur_ms;      /**< its value in ms; 0 if empty or not a number */
    int has_desc;       /**< a desc parameter was present (the first counts) */
    const char *desc;   /**< its value, unescaped; "" if empty */
} profiler_st_entry_t;

/**
 * Parse a Server-Timing field value the way browsers do (the
 * web-platform-tests parsing rules; join several fields with ", " first).
 * Bounded: at most 16 KiB of value are looked at and 128 entries returned.
 * @param p       pool for the array and the strings; the caller's
 * @param value   NUL-terminated field value
 * @param entries set to a new array of profiler_st_entry_t
 * @return APR_SUCCESS, or APR_INCOMPLETE when a bound cut the value short
 *         (the entries before it are there). Thread-safe (uses only p).
 */
APR_DECLARE_OPTIONAL_FN(apr_status_t, profiler_st_parse,
                        (apr_pool_t *p, const char *value,
                         apr_array_header_t **entries));

#endif /* MOD_PROFILER_H */
