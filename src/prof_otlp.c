/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_strings.h"

#include "prof_otlp.h"

/* ---- a growing buffer in a pool ----------------------------------------- */

typedef struct {
    char *b;
    apr_size_t len, cap;
    apr_pool_t *p;
} buf_t;

static void grow(buf_t *o, apr_size_t more)
{
    apr_size_t cap = o->cap ? o->cap : 1024;
    char *nb;

    while (cap - o->len < more) {
        cap *= 2;
    }
    if (cap != o->cap) {
        nb = apr_palloc(o->p, cap);
        if (o->len) {
            memcpy(nb, o->b, o->len);
        }
        o->b = nb;
        o->cap = cap;
    }
}

static void put(buf_t *o, const void *s, apr_size_t n)
{
    if (o->cap - o->len < n) {
        grow(o, n);
    }
    memcpy(o->b + o->len, s, n);
    o->len += n;
}

static void put_s(buf_t *o, const char *s)
{
    put(o, s, strlen(s));
}

/* ---- protobuf ---------------------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static void varint(buf_t *o, apr_uint64_t v)
{
    unsigned char b[10];
    int n = 0;

    do {
        b[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) {
            b[n] |= 0x80;
        }
        n++;
    } while (v);
    put(o, b, (apr_size_t)n);
}

static void tag(buf_t *o, int field, int wt)
{
    varint(o, (apr_uint64_t)field << 3 | (apr_uint64_t)wt);
}

static void pb_bytes(buf_t *o, int field, const void *s, apr_size_t n)
{
    tag(o, field, WT_LEN);
    varint(o, n);
    put(o, s, n);
}

/* proto3: an empty string is the default, and is not written. */
static void pb_string(buf_t *o, int field, const char *s)
{
    if (s && *s) {
        pb_bytes(o, field, s, strlen(s));
    }
}

static void pb_varint(buf_t *o, int field, apr_uint64_t v)
{
    if (v) {
        tag(o, field, WT_VARINT);
        varint(o, v);
    }
}

static void pb_fixed64(buf_t *o, int field, apr_uint64_t v)
{
    unsigned char b[8];
    int i;

    if (v) {
        tag(o, field, WT_I64);
        for (i = 0; i < 8; ++i) {
            b[i] = (unsigned char)(v >> (8 * i));
        }
        put(o, b, 8);
    }
}

static void pb_fixed32(buf_t *o, int field, apr_uint32_t v)
{
    unsigned char b[4];
    int i;

    if (v) {
        tag(o, field, WT_I32);
        for (i = 0; i < 4; ++i) {
            b[i] = (unsigned char)(v >> (8 * i));
        }
        put(o, b, 4);
    }
}

/* A nested message: its tag, room for its length (up to 5 bytes: a
 * message here is far below 4 GiB), then its fields; pb_end() writes the
 * length and closes the gap. */
static apr_size_t pb_begin(buf_t *o, int field)
{
    tag(o, field, WT_LEN);
    if (o->cap - o->len < 5) {
        grow(o, 5);
    }
    o->len += 5;
    return o->len;
}

static void pb_end(buf_t *o, apr_size_t at)
{
    apr_size_t n = o->len - at, k = 0;
    unsigned char b[5];
    apr_uint64_t v = n;

    do {
        b[k] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) {
            b[k] |= 0x80;
        }
        k++;
    } while (v);
    memmove(o->b + at - 5 + k, o->b + at, n);
    memcpy(o->b + at - 5, b, k);
    o->len -= 5 - k;
}

/* KeyValue { key = 1; AnyValue value = 2 { string_value = 1;
 * int_value = 3 } } */
static void pb_attr(buf_t *o, int field, const prof_otlp_attr_t *a)
{
    apr_size_t kv = pb_begin(o, field), v;

    pb_string(o, 1, a->key);
    v = pb_begin(o, 2);
    if (a->s) {
        /* An empty string is still a string value: written. */
        pb_bytes(o, 1, a->s, strlen(a->s));
    }
    else {
        tag(o, 3, WT_VARINT);
        varint(o, (apr_uint64_t)a->i);
    }
    pb_end(o, v);
    pb_end(o, kv);
}

static void pb_span(buf_t *o, const unsigned char *trace_id,
                    const prof_otlp_span_t *s)
{
    static const unsigned char zero[8];
    apr_size_t at = pb_begin(o, 2), st;      /* ScopeSpans.spans = 2 */
    int i;

    pb_bytes(o, 1, trace_id, 16);
    pb_bytes(o, 2, s->span_id, 8);
    pb_string(o, 3, s->trace_state);
    if (memcmp(s->parent_id, zero, 8) != 0) {
        pb_bytes(o, 4, s->parent_id, 8);
    }
    pb_string(o, 5, s->name);
    pb_varint(o, 6, (apr_uint64_t)s->kind);
    pb_fixed64(o, 7, s->start_ns);
    pb_fixed64(o, 8, s->end_ns);
    for (i = 0; i < s->nattrs; ++i) {
        pb_attr(o, 9, &s->attrs[i]);
    }
    if (s->status) {
        st = pb_begin(o, 15);
        pb_varint(o, 3, (apr_uint64_t)s->status);
        pb_end(o, st);
    }
    pb_fixed32(o, 16, s->flags);
    pb_end(o, at);
}

/* The spans of ScopeSpans (field 2, repeated) are consecutive fields:
 * the fragments of several traces are simply written one after another. */
static void encode_pb(buf_t *o, const prof_otlp_resource_t *res,
                      const char *const *frags, const apr_size_t *lens, int n)
{
    apr_size_t rs, r, ss, sc;
    int i;

    rs = pb_begin(o, 1);                /* resource_spans */
    r = pb_begin(o, 1);                 /* resource */
    for (i = 0; i < res->nattrs; ++i) {
        pb_attr(o, 1, &res->attrs[i]);
    }
    pb_end(o, r);
    ss = pb_begin(o, 2);                /* scope_spans */
    sc = pb_begin(o, 1);                /* scope */
    pb_string(o, 1, res->scope);
    pb_string(o, 2, res->scope_version);
    pb_end(o, sc);
    for (i = 0; i < n; ++i) {
        put(o, frags[i], lens[i]);
    }
    pb_end(o, ss);
    pb_end(o, rs);
}

/* ---- OTLP/JSON --------------------------------------------------------- */

static void js_str(buf_t *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)(s ? s : "");
    char esc[6] = { '\\', 'u', '0', '0', 0, 0 };

    put(o, "\"", 1);
    for (; *u; ++u) {
        const unsigned char *run = u;

        while (*u >= 0x20 && *u != '"' && *u != '\\') {
            ++u;
        }
        if (u > run) {
            put(o, run, (apr_size_t)(u - run));
        }
        if (!*u) {
            break;
        }
        if (*u == '"' || *u == '\\') {
            esc[1] = (char)*u;
            put(o, esc, 2);
            esc[1] = 'u';
        }
        else {
            esc[4] = hex[*u >> 4];
            esc[5] = hex[*u & 15];
            put(o, esc, 6);
        }
    }
    put(o, "\"", 1);
}

static void js_hex(buf_t *o, const unsigned char *b, apr_size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[34];
    apr_size_t i;

    tmp[0] = '"';
    for (i = 0; i < n; ++i) {
        tmp[1 + 2 * i] = hex[b[i] >> 4];
        tmp[2 + 2 * i] = hex[b[i] & 15];
    }
    tmp[1 + 2 * n] = '"';
    put(o, tmp, 2 * n + 2);
}

static void js_u64(buf_t *o, apr_uint64_t v)
{
    char tmp[24];

    /* 64-bit integers as strings, as OTLP/JSON (proto3 JSON) writes
     * them: a JavaScript number cannot hold them. */
    put(o, tmp, (apr_size_t)apr_snprintf(tmp, sizeof(tmp),
                                          "\"%" APR_UINT64_T_FMT "\"", v));
}

static void js_attrs(buf_t *o, const prof_otlp_attr_t *a, int n)
{
    int i;

    put_s(o, "[");
    for (i = 0; i < n; ++i) {
        put_s(o, i ? ",{\"key\":" : "{\"key\":");
        js_str(o, a[i].key);
        if (a[i].s) {
            put_s(o, ",\"value\":{\"stringValue\":");
            js_str(o, a[i].s);
        }
        else {
            put_s(o, ",\"value\":{\"intValue\":");
            js_u64(o, (apr_uint64_t)a[i].i);
        }
        put_s(o, "}}");
    }
    put_s(o, "]");
}

static void js_span(buf_t *o, const unsigned char *trace_id,
                    const prof_otlp_span_t *s)
{
    static const unsigned char zero[8];
    char tmp[64];

    put_s(o, "{\"traceId\":");
    js_hex(o, trace_id, 16);
    put_s(o, ",\"spanId\":");
    js_hex(o, s->span_id, 8);
    if (s->trace_state && *s->trace_state) {
        put_s(o, ",\"traceState\":");
        js_str(o, s->trace_state);
    }
    if (memcmp(s->parent_id, zero, 8) != 0) {
        put_s(o, ",\"parentSpanId\":");
        js_hex(o, s->parent_id, 8);
    }
    put(o, tmp, (apr_size_t)apr_snprintf(tmp, sizeof(tmp),
                                          ",\"flags\":%u,\"name\":",
                                          (unsigned)s->flags));
    js_str(o, s->name);
    put(o, tmp, (apr_size_t)apr_snprintf(tmp, sizeof(tmp), ",\"kind\":%d",
                                          s->kind));
    put_s(o, ",\"startTimeUnixNano\":");
    js_u64(o, s->start_ns);
    put_s(o, ",\"endTimeUnixNano\":");
    js_u64(o, s->end_ns);
    put_s(o, ",\"attributes\":");
    js_attrs(o, s->attrs, s->nattrs);
    put(o, tmp, (apr_size_t)apr_snprintf(tmp, sizeof(tmp),
                                          ",\"status\":{\"code\":%d}}",
                                          s->status));
}

static void encode_json(buf_t *o, const prof_otlp_resource_t *res,
                        const char *const *frags, const apr_size_t *lens,
                        int n)
{
    int i, first = 1;

    put_s(o, "{\"resourceSpans\":[{\"resource\":{\"attributes\":");
    js_attrs(o, res->attrs, res->nattrs);
    put_s(o, "},\"scopeSpans\":[{\"scope\":{\"name\":");
    js_str(o, res->scope);
    if (res->scope_version) {
        put_s(o, ",\"version\":");
        js_str(o, res->scope_version);
    }
    put_s(o, "},\"spans\":[");
    for (i = 0; i < n; ++i) {
        if (lens[i] == 0) {
            continue;
        }
        if (!first) {
            put_s(o, ",");
        }
        first = 0;
        put(o, frags[i], lens[i]);
    }
    put_s(o, "]}]}]}");
}

const char *prof_otlp_spans(const prof_otlp_trace_t *t, int json,
                            apr_pool_t *p, apr_size_t *len)
{
    buf_t o = { NULL, 0, 0, p };
    int j;

    grow(&o, 2048);
    for (j = 0; j < t->nspans; ++j) {
        if (json) {
            if (j) {
                put_s(&o, ",");
            }
            js_span(&o, t->trace_id, &t->spans[j]);
        }
        else {
            pb_span(&o, t->trace_id, &t->spans[j]);
        }
    }
    *len = o.len;
    return o.b;
}

const char *prof_otlp_request(const prof_otlp_resource_t *res,
                              const char *const *frags,
                              const apr_size_t *lens, int n, int json,
                              apr_pool_t *p, apr_size_t *len)
{
    buf_t o = { NULL, 0, 0, p };

    grow(&o, 4096);
    if (json) {
        encode_json(&o, res, frags, lens, n);
    }
    else {
        encode_pb(&o, res, frags, lens, n);
    }
    *len = o.len;
    return o.b;
}

const char *prof_otlp_encode(const prof_otlp_resource_t *res,
                             const prof_otlp_trace_t *const *traces, int n,
                             int json, apr_pool_t *p, apr_size_t *len)
{
    const char **frags = apr_palloc(p, (n ? n : 1) * sizeof(*frags));
    apr_size_t *lens = apr_palloc(p, (n ? n : 1) * sizeof(*lens));
    int i;

    for (i = 0; i < n; ++i) {
        frags[i] = prof_otlp_spans(traces[i], json, p, &lens[i]);
    }
    return prof_otlp_request(res, frags, lens, n, json, p, len);
}

/* ---- UTF-8 ------------------------------------------------------------- */

/* The length of the valid character at s (at most n bytes there), or 0. */
static apr_size_t utf8_char(const unsigned char *s, apr_size_t n)
{
    unsigned char c = s[0];
    apr_size_t need, i;
    unsigned char lo = 0x80, hi = 0xbf;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    }
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0) {
            lo = 0xa0;
        }
        else if (c == 0xed) {
            hi = 0x9f;          /* no surrogates */
        }
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0) {
            lo = 0x90;
        }
        else if (c == 0xf4) {
            hi = 0x8f;
        }
    }
    else {
        return 0;
    }
    if (n < need || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < need; ++i) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }
    return need;
}

const char *prof_otlp_utf8(const char *s, apr_size_t max, apr_pool_t *p)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t n, i = 0, k, out_len = 0;
    char *out;

    if (s == NULL) {
        return NULL;
    }
    n = strlen(s);
    /* Valid and short enough: as it is. */
    while (i < n && (k = utf8_char(u + i, n - i)) > 0 && i + k <= max) {
        i += k;
    }
    if (i == n) {
        return s;
    }
    /* Each bad byte may become three. */
    out = apr_palloc(p, (max < 3 * n ? max : 3 * n) + 1);
    for (i = 0; i < n; ) {
        k = utf8_char(u + i, n - i);
        if (k == 0) {
            if (out_len + 3 > max) {
                break;
            }
            memcpy(out + out_len, "\xef\xbf\xbd", 3);
            out_len += 3;
            i++;
            continue;
        }
        if (out_len + k > max) {
            break;
        }
        memcpy(out + out_len, s + i, k);
        out_len += k;
        i += k;
    }
    out[out_len] = '\0';
    return out;
}
