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

#include <string.h>

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
    apr_size_t klen, slen;          /**< lengths if known; 0: measured */
} prof_otlp_attr_t;

/** A server span's HTTP attributes (OpenTelemetry's semantic
 * conventions), in the order they are written. */
enum {
    PROF_OTLP_HTTP_METHOD,      /**< http.request.method */
    PROF_OTLP_HTTP_PATH,        /**< url.path */
    PROF_OTLP_HTTP_SCHEME,      /**< url.scheme */
    PROF_OTLP_HTTP_ROUTE,       /**< http.route */
    PROF_OTLP_HTTP_STATUS,      /**< http.response.status_code: integer */
    PROF_OTLP_HTTP_HOST,        /**< server.address */
    PROF_OTLP_HTTP_PORT,        /**< server.port: integer */
    PROF_OTLP_HTTP_CLIENT,      /**< client.address */
    PROF_OTLP_HTTP_PROTO,       /**< network.protocol.version */
    PROF_OTLP_HTTP_UA,          /**< user_agent.original */
    PROF_OTLP_HTTP_NATTR
};

/** A server span's name and attributes by value: written with keys known
 * beforehand (protobuf), no list of attributes made. The span is named
 * `{method} {route}`. */
typedef struct {
    /** The strings, NUL-terminated at their lengths; NULL: not written
     * (the two integers' are unused). */
    const char *s[PROF_OTLP_HTTP_NATTR];
    apr_size_t len[PROF_OTLP_HTTP_NATTR];
    apr_int64_t status, port;
} prof_otlp_http_t;

typedef struct {
    unsigned char span_id[8];
    unsigned char parent_id[8];     /**< all zero: a root span */
    const char *name;
    apr_size_t name_len;            /**< if known; 0: measured */
    const char *trace_state;        /**< NULL: none */
    int kind;                       /**< PROF_OTLP_KIND_* */
    int status;                     /**< PROF_OTLP_STATUS_* */
    apr_uint32_t flags;             /**< W3C trace flags (sampled) */
    apr_uint64_t start_ns, end_ns;  /**< since the epoch */
    const prof_otlp_attr_t *attrs;
    int nattrs;
    /** Set: the span's name (name NULL) and its attributes (attrs
     * unused) are these. */
    const prof_otlp_http_t *http;
} prof_otlp_span_t;

/** in as a span of a name and a list of attributes (its http made into
 * them, in p); in itself when it has no http. */
const prof_otlp_span_t *prof_otlp_span_flat(const prof_otlp_span_t *in,
                                            apr_pool_t *p,
                                            prof_otlp_span_t *out);

/** A span that is a child of its trace's first span, of kind INTERNAL,
 * with that span's flags and no attributes: what a request's phases are.
 * Only its id, name and times vary, so it is written from a template of
 * the trace's. */
typedef struct {
    unsigned char span_id[8];
    const char *name;               /**< 1 to 32 bytes */
    apr_size_t name_len;
    apr_uint64_t start_ns, end_ns;
} prof_otlp_child_t;

/** The spans of one request: one trace, the server span first. */
typedef struct {
    unsigned char trace_id[16];
    const prof_otlp_span_t *spans;
    int nspans;
    /** Children of spans[0] (nspans >= 1), written after it. */
    const prof_otlp_child_t *children;
    int nchildren;
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

/** A batch being encoded: traces added one after another, each written
 * once, in place. */
typedef struct prof_otlp_batch_t prof_otlp_batch_t;

/** A new batch for res (json: 0 protobuf, 1 OTLP/JSON); size_hint: the
 * bytes its spans are expected to take (0: unknown). */
prof_otlp_batch_t *prof_otlp_batch_begin(const prof_otlp_resource_t *res,
                                         int json, apr_size_t size_hint,
                                         apr_pool_t *p);

/** Encodes t's spans into the batch. */
void prof_otlp_batch_add(prof_otlp_batch_t *b, const prof_otlp_trace_t *t);

/** The batch's ExportTraceServiceRequest, and its length in *len. */
const char *prof_otlp_batch_end(prof_otlp_batch_t *b, apr_size_t *len);

/**
 * s made valid UTF-8 and at most max bytes (a cut never splits a
 * character): s itself when it already is, else a copy in p where every
 * byte that starts no valid character became U+FFFD. NULL stays NULL.
 */
const char *prof_otlp_utf8(const char *s, apr_size_t max, apr_pool_t *p);

/** prof_otlp_utf8() of the n bytes at s (NUL-terminated there), its
 * length in *len (if len is not NULL). */
const char *prof_otlp_utf8n(const char *s, apr_size_t n, apr_size_t max,
                            apr_pool_t *p, apr_size_t *len);

/** n bytes from src to dst, without a call for the short strings most fields
 * are: two overlapping word copies (neither side touched outside its n
 * bytes), memcpy() for the long ones (the encoder's and the records'). */
static APR_INLINE void prof_otlp_copy(void *dst, const void *src,
                                      apr_size_t n)
{
    const unsigned char *s = src;
    unsigned char *d = dst;

    if (n >= 8 && n <= 16) {
        apr_uint64_t a, b;

        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    }
    else if (n >= 4 && n < 8) {
        apr_uint32_t a, b;

        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    }
    else if (n > 16 && n <= 32) {
        apr_uint64_t a[2], b[2];

        memcpy(a, s, 16);
        memcpy(b, s + n - 16, 16);
        memcpy(d, a, 16);
        memcpy(d + n - 16, b, 16);
    }
    else if (n > 0 && n < 4) {
        d[0] = s[0];
        d[n / 2] = s[n / 2];
        d[n - 1] = s[n - 1];
    }
    else if (n) {
        memcpy(d, s, n);
    }
}

#endif /* PROF_OTLP_H */
