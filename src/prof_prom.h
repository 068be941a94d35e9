/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_prom.h
 * @brief The live aggregates (prof_agg.h) as Prometheus text exposition
 *        format 0.0.4 or OpenMetrics 1.0.0, built in a pool string.
 *
 * The handler of `SetHandler profiler-metrics` negotiates the format from
 * the scraper's Accept header (prof_prom_negotiate()), takes a snapshot,
 * writes it with prof_prom_write_agg(), adds the families only it knows
 * (the store's rows) with prof_prom_family() and prof_prom_sample_*(), and
 * sends prof_prom_finish()'s bytes with prof_prom_content_type().
 *
 * Metric names (ISSUE 11; dashboards and alerts rely on them):
 *
 *   mod_profiler_requests_total{vhost,route,method,code}        counter
 *   mod_profiler_request_duration_seconds{vhost,route,method}   histogram
 *   mod_profiler_phase_seconds_total{vhost,route,phase}         counter
 *   mod_profiler_ttfb_seconds_total{vhost,route,method}         counter
 *   mod_profiler_ttfb_responses_total{vhost,route,method}       counter
 *   mod_profiler_response_bytes_total{vhost,route,method}       counter
 *   mod_profiler_span_duration_seconds{name}                    histogram
 *   mod_profiler_metrics_key_overflow_total                     counter
 *   mod_profiler_metrics_route_folded_total                     counter
 *   mod_profiler_metrics_span_overflow_total                    counter
 *
 * `code` is the three-digit status, "000" for none, and "1xx".."5xx" for
 * the status-class overflow cells of a full key table (prof_agg.h). Phase
 * names are prof_phase_name()'s; phases that never took time in a group
 * are left out (a counter appears once it is above 0, then stays).
 * Durations are exact: whole microseconds printed as seconds with six
 * decimals.
 *
 * Histogram buckets: rounded to the histogram's own edges. Each cell keeps
 * the store's log-scale histogram (prof_hist.h), not counters per
 * configured bound: a `le` inside a log bucket could not be counted
 * exactly from it. So every configured bound is moved to the nearest edge
 * of the log histogram (at most half a bucket away, under 4.5 %), and the
 * `le` printed is that edge: the count under it is then exact, and the
 * label says truthfully what was counted. Not keeping extra counters per
 * bound means no extra work per request, no block layout that depends on
 * ProfilerMetricsBuckets (changing the buckets on a graceful restart keeps
 * every counter), and percentiles from Prometheus, the status page and the
 * store that agree, from the same buckets. The price is that `le` values
 * are not the round numbers configured (0.005 becomes 0.00487, 1 becomes 0.961548): queries
 * should use histogram_quantile(), not a literal `le`.
 *
 * Label values: backslash, double quote and newline are escaped as both
 * formats require; every byte sequence that is not valid UTF-8 (stray
 * continuation bytes, overlong forms, surrogates, beyond U+10FFFF, cut
 * sequences) and every other control character (U+0000..U+001F but
 * newline, and U+007F) becomes U+FFFD. So hostile paths, hosts and span
 * names always give valid exposition text. HELP text is escaped too.
 *
 * OpenMetrics differences handled here: TYPE, UNIT and HELP name the
 * family (a counter's without `_total`), `# UNIT` for families in seconds
 * and bytes, and `# EOF` at the end.
 *
 * Memory: everything in the writer's pool; the output grows by doubling,
 * so the pool holds at most about twice the final text. Not thread-safe:
 * one writer per request. Part of the APR-only core.
 */

#ifndef PROF_PROM_H
#define PROF_PROM_H

#include "apr.h"
#include "apr_errno.h"
#include "apr_pools.h"

#include "prof_agg.h"
#include "prof_hist.h"

typedef enum {
    PROF_PROM_TEXT = 0,         /**< text/plain; version=0.0.4 */
    PROF_PROM_OPENMETRICS       /**< application/openmetrics-text 1.0.0 */
} prof_prom_format_t;

#define PROF_PROM_CT_TEXT \
    "text/plain; version=0.0.4; charset=utf-8"
#define PROF_PROM_CT_OPENMETRICS \
    "application/openmetrics-text; version=1.0.0; charset=utf-8"

/** Most bucket bounds of ProfilerMetricsBuckets. */
#define PROF_PROM_BOUNDS_MAX 64

/** The default bounds, in seconds (Prometheus client libraries' own). */
#define PROF_PROM_BOUNDS_DEFAULT \
    "0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10"

/** The largest bound accepted, in seconds: below the histogram's overflow
 *  bucket (2^40 us, 12.7 days). */
#define PROF_PROM_BOUND_MAX_S 1000000.0

/** Histogram bounds, rounded to the log histogram's edges. */
typedef struct {
    apr_size_t n;
    /** Increasing: a bucket counts the durations <= le_us. */
    apr_interval_time_t le_us[PROF_PROM_BOUNDS_MAX];
    /** The log buckets below le_us + 1 (an edge): their sum is the count. */
    apr_uint32_t upto[PROF_PROM_BOUNDS_MAX];
} prof_prom_bounds_t;

/**
 * The format a scraper asks for: OpenMetrics when the Accept header names
 * application/openmetrics-text with a q above 0 and not below that of
 * text/plain (or a wildcard) — Prometheus sends it first; the 0.0.4 text
 * otherwise, also for NULL, "" and anything unparsable.
 */
prof_prom_format_t prof_prom_negotiate(const char *accept);

/** The Content-Type of a format. */
const char *prof_prom_content_type(prof_prom_format_t f);

/**
 * The le (in us) a bound of us microseconds rounds to: e - 1 for the edge
 * e of the log histogram nearest to us + 1 (the lower one on a tie).
 * us < 0 counts as 0.
 */
apr_interval_time_t prof_prom_round_us(apr_interval_time_t us);

/**
 * Set b from bounds in seconds: each rounded (prof_prom_round_us()), then
 * sorted; bounds that round to the same edge become one.
 * @return APR_SUCCESS; APR_EINVAL for n 0 or above PROF_PROM_BOUNDS_MAX,
 *         or a bound not finite, not above 0 or above
 *         PROF_PROM_BOUND_MAX_S (b is then the default).
 */
apr_status_t prof_prom_bounds_set(prof_prom_bounds_t *b,
                                  const double *seconds, apr_size_t n);

/**
 * Parse ProfilerMetricsBuckets' arguments (decimal seconds, "0.005", "1",
 * "2.5e-1") into b. On failure *bad is the argument that is not a number
 * (or NULL when the list as a whole is wrong: too many or none), b is the
 * default, and the result is APR_EINVAL.
 */
apr_status_t prof_prom_bounds_parse(prof_prom_bounds_t *b, int argc,
                                    const char *const *argv,
                                    const char **bad);

/** b = PROF_PROM_BOUNDS_DEFAULT. */
void prof_prom_bounds_default(prof_prom_bounds_t *b);

/** A writer. */
typedef struct prof_prom_t prof_prom_t;

/** A new writer of format f, allocating in p. */
prof_prom_t *prof_prom_create(apr_pool_t *p, prof_prom_format_t f);

/**
 * Start a family: HELP and TYPE (and UNIT in OpenMetrics).
 * @param name the name as the 0.0.4 format shows it, a counter's with its
 *             `_total`; a valid metric name (not checked: callers pass
 *             constants)
 * @param type "counter", "gauge" or "histogram"
 * @param unit "seconds", "bytes" or NULL; OpenMetrics' UNIT, whose name
 *             must end in it
 * @param help one line of text; escaped here
 */
void prof_prom_family(prof_prom_t *w, const char *name, const char *type,
                      const char *unit, const char *help);

/**
 * One sample: name{labels} value. labels holds name, value, name, value,
 * ..., NULL (NULL itself for none); values are escaped here. value is an
 * unsigned integer, or us printed as seconds with six decimals.
 */
void prof_prom_sample_u64(prof_prom_t *w, const char *name,
                          const char *const *labels, apr_uint64_t value);
void prof_prom_sample_us(prof_prom_t *w, const char *name,
                         const char *const *labels, apr_uint64_t us);

/**
 * The samples of one histogram: name_bucket{labels,le} for every bound and
 * +Inf (cumulative), name_sum (h->sum us, in seconds), name_count.
 */
void prof_prom_histogram(prof_prom_t *w, const char *name,
                         const char *const *labels, const prof_hist_t *h,
                         const prof_prom_bounds_t *b);

/**
 * Every family of the aggregates (the list above), from a snapshot: cells
 * sorted by their labels, those that share a histogram's labels merged.
 * b NULL is the default bounds.
 */
void prof_prom_write_agg(prof_prom_t *w, const prof_agg_snap_t *s,
                         const prof_prom_bounds_t *b);

/** The text so far, NUL-terminated, with `# EOF` appended in
 *  OpenMetrics; *len (if not NULL) its length. Write nothing after. */
const char *prof_prom_finish(prof_prom_t *w, apr_size_t *len);

/** A label value as the formats want it (see the file comment), in p. */
const char *prof_prom_escape(apr_pool_t *p, const char *s);

#endif /* PROF_PROM_H */
