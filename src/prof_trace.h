/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_trace.h
 * @brief W3C Trace Context (https://www.w3.org/TR/trace-context/): the
 *        `traceparent` header read and written, and new trace and span ids.
 *
 * A request continues the trace its caller sent in a valid `traceparent`
 * (same trace id, the caller's span as parent, its sampled flag), or starts
 * a new one; either way it gets a span id of its own. Parsing follows the
 * specification's rules: lower-case hex only, no all-zero trace or span id,
 * version `ff` refused, version `00` exactly 55 characters, a later version
 * at least that and, when longer, a `-` after the flags (its extra fields
 * are ignored, as the specification asks of a version-00 reader).
 *
 * Ids come from a generator per thread (xoshiro256**, seeded from the
 * system's random source the first time a thread asks): no lock, no system
 * call per request. They are not secrets, only unique.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_TRACE_H
#define PROF_TRACE_H

#include "apr.h"

/** `00-` + 32 + `-` + 16 + `-` + 2 */
#define PROF_TRACEPARENT_LEN 55

/** A trace context: the trace, a span in it, and the flags. */
typedef struct {
    unsigned char trace_id[16];
    unsigned char span_id[8];
    unsigned char flags;        /**< bit 0: sampled */
} prof_trace_ctx_t;

/** The sampled flag. */
#define PROF_TRACE_SAMPLED 0x01u

/**
 * Parses a traceparent value (NULL: none). Returns 1 and fills *out (the
 * caller's span in span_id) when it is valid, 0 otherwise (*out untouched).
 */
int prof_traceparent_parse(const char *value, prof_trace_ctx_t *out);

/**
 * Writes the version-00 traceparent of ctx into buf (at least
 * PROF_TRACEPARENT_LEN + 1 bytes), NUL-terminated.
 */
void prof_traceparent_format(const prof_trace_ctx_t *ctx, char *buf);

/** Lower-case hex of n bytes into out (2n + 1 bytes), NUL-terminated. */
void prof_trace_hex(const unsigned char *bytes, apr_size_t n, char *out);

/** n random bytes (n a multiple of 8), never all zero, from this thread's
 * generator. */
void prof_trace_random(unsigned char *out, apr_size_t n);

/** n span ids (never zero) at once: one look-up of the thread's state. */
void prof_trace_span_ids(unsigned char (*ids)[8], apr_size_t n);

/** A uniform draw in [0, 1) from this thread's generator. */
double prof_trace_draw(void);

/** Every thread's generator is seeded anew at its next use: called in each
 * new child process (a fork copies the parent's state). */
void prof_trace_forked(void);

#endif /* PROF_TRACE_H */
