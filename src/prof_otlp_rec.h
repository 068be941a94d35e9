/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_otlp_rec.h
 * @brief What a request hands the OTLP exporter: one compact record, copied
 *        on the request's thread; its spans are made and encoded on the
 *        exporter's.
 *
 * A request's thread only copies its strings, its phase record (still in
 * ticks) and its span API's spans into one block (prof_otlp_rec_put()). The exporter thread
 * turns the block into the request's trace (prof_otlp_rec_trace()): the
 * phases folded to microseconds, span ids drawn, the route folded from the
 * path where the request did not name it, strings made valid UTF-8 and cut,
 * the server span's attributes. So a request pays a few copies; building and
 * encoding a dozen spans happens in batches, off the request path.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_OTLP_REC_H
#define PROF_OTLP_REC_H

#include "apr.h"
#include "apr_pools.h"

#include "prof_otlp.h"
#include "prof_phase.h"
#include "prof_span.h"

/** The strings of a request, in the record's order. */
enum {
    PROF_OTLP_REC_METHOD,       /**< the request line's method */
    PROF_OTLP_REC_PATH,         /**< url.path */
    PROF_OTLP_REC_SCHEME,       /**< url.scheme */
    PROF_OTLP_REC_ROUTE,        /**< http.route; NULL: folded from the path */
    PROF_OTLP_REC_HOST,         /**< server.address */
    PROF_OTLP_REC_CLIENT,       /**< client.address */
    PROF_OTLP_REC_PROTO,        /**< network.protocol.version */
    PROF_OTLP_REC_UA,           /**< user_agent.original; NULL: none */
    PROF_OTLP_REC_STATE,        /**< the caller's tracestate; NULL: none */
    PROF_OTLP_REC_NSTR
};

/** At most this many bytes of each string reach a span (cut at a
 * character's boundary, on the exporter's side). */
#define PROF_OTLP_METHOD_MAX   64
#define PROF_OTLP_PATH_MAX     2048
#define PROF_OTLP_ROUTE_MAX    256
#define PROF_OTLP_HOST_MAX     255
#define PROF_OTLP_UA_MAX       512
#define PROF_OTLP_STATE_MAX    512

/** The span API's span that is the wait for a proxied backend: a CLIENT
 * span whose id the backend got as its parent. */
#define PROF_OTLP_UPSTREAM_SPAN "upstream"

/** What a request gives, as its thread has it. */
typedef struct {
    const char *s[PROF_OTLP_REC_NSTR];  /**< NULL: absent */
    const prof_phase_rec_t *ph;     /**< ticks: folded by the reader */
    apr_time_t request_time;        /**< r->request_time: the trace's 0 */
    int status;                     /**< the final status */
    int port;                       /**< server.port */
    unsigned char trace_id[16];
    unsigned char span_id[8];       /**< the server span's */
    unsigned char parent_id[8];     /**< the caller's span (has_parent) */
    unsigned char upstream_id[8];   /**< the backend wait's (has_upstream) */
    unsigned char flags;            /**< W3C trace flags */
    int has_parent, has_upstream;
    const prof_span_info_t *api;    /**< finished spans, start order */
    apr_size_t napi;
} prof_otlp_rec_in_t;

/**
 * Writes in's record into buf when it fits in cap bytes (buf 8-byte
 * aligned; NULL: only measured). Returns the record's size either way:
 * more than cap, and nothing usable in buf, when it did not fit. Strings
 * are kept a little above their limits (so that the reader cuts them where
 * it would have cut the whole): up to about 4 KiB plus the span API's
 * spans.
 */
apr_size_t prof_otlp_rec_put(void *buf, apr_size_t cap,
                             const prof_otlp_rec_in_t *in);

/**
 * The trace of a record: the server span named `{method} {route}` with its
 * attributes, a span per phase that ran (from its first entry, as long as
 * it took), the span API's spans nested as they were. Made in p; strings
 * may point into the record, which must stay until the trace is encoded.
 * Span ids of the phases and of the span API's spans are drawn here.
 */
void prof_otlp_rec_trace(const void *rec, apr_pool_t *p,
                         prof_otlp_trace_t *out);

#endif /* PROF_OTLP_REC_H */
