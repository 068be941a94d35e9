/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_otlp.h
 * @brief OpenTelemetry traces as OTLP/HTTP sends them: a batch of requests'
 *        spans encoded as an ExportTraceServiceRequest, in protobuf
 *        (application/x-protobuf) or in OTLP/JSON (application/json).
 *
 * The protobuf encoder is our own, small and checked in the tests against
 * an independent decoder (`protoc --decode` with the message definitions
 * written from the specification, test/integration/otlp/). Field numbers
 * are those of opentelemetry-proto's trace/v1, resource/v1, common/v1 and
 * collector/trace/v1.
 *
 * Strings are written as given: the caller makes them valid UTF-8
 * (prof_otlp_utf8()), as both encodings require.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_OTLP_H
#define PROF_OTLP_H

#include "apr.h"
#include "apr_pools.h"

/** SpanKind */
#define PROF_OTLP_KIND_INTERNAL 1
#define PROF_OTLP_KIND_SERVER   2
#define PROF_OTLP_KIND_CLIENT   3

/** Status.code */
#define PROF_OTLP_STATUS_UNSET 0
#define PROF_OTLP_STATUS_ERROR 2

/** An attribute: a string, or (s NULL) an integer. */
typedef struct {
    const char *key;
    const char *s;
    apr_int64_t i;
} prof_otlp_attr_t;

typedef struct {
    unsigned char span_id[8];
    unsigned char parent_id[8];     /**< all zero: a root span */
    const char *name;
    const char *trace_state;        /**< NULL: none */
    int kind;                       /**< PROF_OTLP_KIND_* */
    int status;                     /**< PROF_OTLP_STATUS_* */
    apr_uint32_t flags;             /**< W3C trace flags (sampled) */
    apr_uint64_t start_ns, end_ns;  /**< since the epoch */
    const prof_otlp_attr_t *attrs;
    int nattrs;
} prof_otlp_span_t;

/** The spans of one request: one trace, the server span first. */
typedef struct {
    unsigned char trace_id[16];
    const prof_otlp_span_t *spans;
    int nspans;
} prof_otlp_trace_t;

/** What every batch says about where it comes from. */
typedef struct {
    const prof_otlp_attr_t *attrs;  /**< service.name, host.name, ... */
    int nattrs;
    const char *scope;              /**< the instrumentation scope's name */
    const char *scope_version;
} prof_otlp_resource_t;

/**
 * Encode the traces as one ExportTraceServiceRequest: one ResourceSpans
 * with res, one ScopeSpans, every span of every trace.
 * @param json  0: protobuf, 1: OTLP/JSON
 * @return the bytes, allocated in p, and their length in *len.
 */
const char *prof_otlp_encode(const prof_otlp_resource_t *res,
                             const prof_otlp_trace_t *const *traces, int n,
                             int json, apr_pool_t *p, apr_size_t *len);

/**
 * The spans of one trace, encoded as they go into a batch: protobuf
 * ScopeSpans.spans fields, or JSON span objects joined by commas. What a
 * request thread prepares (prof_otlp_request() only puts them together).
 */
const char *prof_otlp_spans(const prof_otlp_trace_t *t, int json,
                            apr_pool_t *p, apr_size_t *len);

/** The ExportTraceServiceRequest of n fragments from prof_otlp_spans(),
 * all encoded the same way (json), with res. */
const char *prof_otlp_request(const prof_otlp_resource_t *res,
                              const char *const *frags,
                              const apr_size_t *lens, int n, int json,
                              apr_pool_t *p, apr_size_t *len);

/**
 * s made valid UTF-8 and at most max bytes (a cut never splits a
 * character): s itself when it already is, else a copy in p where every
 * byte that starts no valid character became U+FFFD. NULL stays NULL.
 */
const char *prof_otlp_utf8(const char *s, apr_size_t max, apr_pool_t *p);

#endif /* PROF_OTLP_H */
