/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the OTLP encoder's building blocks (src/prof_otlp.c):
 * UTF-8 repair against a decoder written here from RFC 3629's table, and
 * protobuf length prefixes at the sizes where a varint grows (walked by a
 * reader written here). The whole encoding is decoded by protoc in the
 * integration tests (test_otlp.py).
 */

#include <string.h>

#include "apr_pools.h"

#include "prof_otlp.h"
#include "unit.h"

static const struct {
    const char *in, *out;
} utf8_cases[] = {
    { "plain", "plain" },
    { "caf\xc3\xa9", "caf\xc3\xa9" },
    { "caf\xe9", "caf\xef\xbf\xbd" },                 /* Latin-1 byte */
    { "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },       /* overlong */
    { "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* surrogate */
    { "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "\xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80!" },     /* 4 bytes, valid */
    { "a\xe2\x82", "a\xef\xbf\xbd\xef\xbf\xbd" },     /* cut short */
    { "", "" },
};

START_TEST(otlp_utf8)
{
    const char *in = utf8_cases[_i].in;
    const char *out = prof_otlp_utf8(in, 4096, unit_pool);

    ck_assert_str_eq(out, utf8_cases[_i].out);
    /* valid input comes back as it is, not copied */
    if (!strcmp(utf8_cases[_i].in, utf8_cases[_i].out)) {
        ck_assert_ptr_eq(out, in);
    }
}
END_TEST

START_TEST(otlp_utf8_cut)
{
    /* never more than max bytes, never half a character */
    ck_assert_str_eq(prof_otlp_utf8("ab\xc3\xa9z", 3, unit_pool), "ab");
    ck_assert_str_eq(prof_otlp_utf8("ab\xc3\xa9z", 4, unit_pool),
                     "ab\xc3\xa9");
    ck_assert_str_eq(prof_otlp_utf8("\xe9\xe9", 4, unit_pool),
                     "\xef\xbf\xbd");
    ck_assert_ptr_null(prof_otlp_utf8(NULL, 10, unit_pool));
}
END_TEST

/* A protobuf reader of our own: the value of a varint at *p. */
static unsigned long long rd_varint(const unsigned char **p)
{
    unsigned long long v = 0;
    int shift = 0;

    while (**p & 0x80) {
        v |= (unsigned long long)(**p & 0x7f) << shift;
        shift += 7;
        (*p)++;
    }
    v |= (unsigned long long)**p << shift;
    (*p)++;
    return v;
}

/* Finds field `field` (length-delimited) in [p, end): its bytes. */
static const unsigned char *rd_field(const unsigned char *p,
                                     const unsigned char *end, int field,
                                     apr_size_t *len)
{
    while (p < end) {
        unsigned long long key = rd_varint(&p), n;

        switch (key & 7) {
        case 0: rd_varint(&p); break;
        case 1: p += 8; break;
        case 5: p += 4; break;
        case 2:
            n = rd_varint(&p);
            if ((int)(key >> 3) == field) {
                *len = (apr_size_t)n;
                return p;
            }
            p += n;
            break;
        default:
            ck_abort_msg("wire type %llu", key & 7);
        }
    }
    ck_abort_msg("field %d not found", field);
    return NULL;
}

/* Lengths of 127/128 and 16383/16384 bytes: the length prefix grows from
 * one to two and from two to three bytes, and every enclosing message's
 * with it. */
static const apr_size_t sizes[] = { 0, 1, 100, 127, 128, 300, 16383, 16384,
                                    70000 };

START_TEST(otlp_pb_lengths)
{
    apr_size_t vlen = sizes[_i], len, n;
    char *value = apr_palloc(unit_pool, vlen + 1);
    prof_otlp_attr_t attr = { "k", NULL, 0, 0, 0 };
    prof_otlp_span_t span;
    prof_otlp_trace_t tr, *trp = &tr;
    prof_otlp_resource_t res = { NULL, 0, "scope", NULL };
    const unsigned char *b, *end, *p;

    memset(value, 'v', vlen);
    value[vlen] = '\0';
    attr.s = value;
    memset(&span, 0, sizeof(span));
    memset(span.span_id, 0x11, 8);
    span.name = "s";
    span.kind = PROF_OTLP_KIND_SERVER;
    span.start_ns = 1;
    span.end_ns = 2;
    span.attrs = &attr;
    span.nattrs = 1;
    memset(tr.trace_id, 0x22, 16);
    tr.spans = &span;
    tr.nspans = 1;
    tr.children = NULL;
    tr.nchildren = 0;
    b = (const unsigned char *)prof_otlp_encode(&res,
                                                (const prof_otlp_trace_t *const *)&trp,
                                                1, 0, unit_pool, &len);
    end = b + len;
    /* request.resource_spans(1).scope_spans(2).spans(2).attributes(9)
     * .value(2).string_value(1) */
    p = rd_field(b, end, 1, &n);
    ck_assert(p + n == end);
    p = rd_field(p, p + n, 2, &n);
    p = rd_field(p, p + n, 2, &n);
    p = rd_field(p, p + n, 9, &n);
    p = rd_field(p, p + n, 2, &n);
    p = rd_field(p, p + n, 1, &n);
    ck_assert_uint_eq(n, vlen);
    ck_assert(memcmp(p, value, vlen) == 0);
}
END_TEST

/* ---- every field of a span, read back ----------------------------------- */

typedef struct {
    unsigned char trace_id[16], span_id[8], parent_id[8];
    int has_parent;
    char name[256];
    char state[64];
    unsigned long long kind, start, end, status;
    unsigned long flags;
    int has_flags, nattrs;
} rd_span_t;

static unsigned long long rd_fixed(const unsigned char **p, int n)
{
    unsigned long long v = 0;
    int i;

    for (i = 0; i < n; ++i) {
        v |= (unsigned long long)(*p)[i] << (8 * i);
    }
    *p += n;
    return v;
}

/* One Span message's fields, each as protobuf puts it on the wire. */
static void rd_span(const unsigned char *p, const unsigned char *end,
                    rd_span_t *s)
{
    memset(s, 0, sizeof(*s));
    while (p < end) {
        unsigned long long key = rd_varint(&p), n;
        int field = (int)(key >> 3);

        switch (key & 7) {
        case 0:
            n = rd_varint(&p);
            ck_assert_int_eq(field, 6);
            s->kind = n;
            break;
        case 1:
            ck_assert(field == 7 || field == 8);
            *(field == 7 ? &s->start : &s->end) = rd_fixed(&p, 8);
            break;
        case 5:
            ck_assert_int_eq(field, 16);
            s->flags = (unsigned long)rd_fixed(&p, 4);
            s->has_flags = 1;
            break;
        case 2:
            n = rd_varint(&p);
            ck_assert(p + n <= end);
            switch (field) {
            case 1: ck_assert_uint_eq(n, 16); memcpy(s->trace_id, p, 16); break;
            case 2: ck_assert_uint_eq(n, 8); memcpy(s->span_id, p, 8); break;
            case 3: ck_assert_uint_lt(n, sizeof(s->state));
                    memcpy(s->state, p, n); break;
            case 4: ck_assert_uint_eq(n, 8); memcpy(s->parent_id, p, 8);
                    s->has_parent = 1; break;
            case 5: ck_assert_uint_lt(n, sizeof(s->name));
                    memcpy(s->name, p, n); break;
            case 9: s->nattrs++; break;
            case 15: {
                const unsigned char *q = p;

                ck_assert_uint_eq(rd_varint(&q), 0x18);
                s->status = rd_varint(&q);
                ck_assert(q == p + n);
                break;
            }
            default: ck_abort_msg("span field %d", field);
            }
            p += n;
            break;
        default:
            ck_abort_msg("wire type %llu", key & 7);
        }
    }
    ck_assert(p == end);
}

/* tr encoded alone, in protobuf: where its spans begin (*end: where they
 * end), the envelope read on the way. */
static const unsigned char *encoded_spans(const prof_otlp_trace_t *tr,
                                          const unsigned char **end)
{
    prof_otlp_resource_t res = { NULL, 0, "scope", NULL };
    const unsigned char *b, *p;
    apr_size_t len, n;

    b = (const unsigned char *)prof_otlp_encode(&res, &tr, 1, 0, unit_pool,
                                                &len);
    p = rd_field(b, b + len, 1, &n);        /* resource_spans */
    ck_assert(p + n == b + len);
    p = rd_field(p, p + n, 2, &n);          /* scope_spans */
    *end = p + n;
    p = rd_field(p, *end, 1, &n);           /* scope: skipped */
    return p + n;
}

/* The span at *p (ScopeSpans.spans) read into got, *p moved past it. */
static void next_span(const unsigned char **p, rd_span_t *got)
{
    apr_size_t n;

    ck_assert_uint_eq(rd_varint(p), 0x12);  /* spans = 2 */
    n = (apr_size_t)rd_varint(p);
    rd_span(*p, *p + n, got);
    *p += n;
}

/* Spans of every shape a request makes: without attributes (the span
 * API's), names of several lengths, error status, no flags, a trace state,
 * no parent, attributes (the server span's), each written in one pass with
 * room for the most it could take. */
static const struct {
    const char *name;
    int kind, status, flags, parent, state, attrs;
} span_shapes[] = {
    { "translate", PROF_OTLP_KIND_INTERNAL, 0, 1, 1, 0, 0 },
    { "r", PROF_OTLP_KIND_INTERNAL, 0, 1, 1, 0, 0 },
    { "abcdefghijklmnop", PROF_OTLP_KIND_INTERNAL, 0, 0, 1, 0, 0 },
    { "abcdefghijklmnopq", PROF_OTLP_KIND_CLIENT, 2, 1, 1, 0, 0 },
    { "abcdefghijklmnopqrstuvwxyz012345", PROF_OTLP_KIND_INTERNAL, 0, 1, 1,
      0, 0 },
    { "abcdefghijklmnopqrstuvwxyz0123456", PROF_OTLP_KIND_INTERNAL, 0, 1, 1,
      0, 0 },
    { "GET /a", PROF_OTLP_KIND_SERVER, 2, 1, 0, 0, 3 },
    { "GET /b", PROF_OTLP_KIND_SERVER, 0, 1, 1, 1, 2 },
    { "log", PROF_OTLP_KIND_INTERNAL, 0, 1, 1, 1, 0 },
};

START_TEST(otlp_pb_span_fields)
{
    prof_otlp_attr_t attrs[3];
    prof_otlp_span_t span[2];
    prof_otlp_trace_t tr;
    const unsigned char *p, *spans_end;
    rd_span_t got;
    int k;

    memset(attrs, 0, sizeof(attrs));
    attrs[0].key = "k";
    attrs[0].s = "v";
    attrs[1].key = "n";
    attrs[1].i = 300;
    attrs[2].key = "long.key";
    attrs[2].s = "";
    memset(span, 0, sizeof(span));
    for (k = 0; k < 2; ++k) {
        memset(span[k].span_id, 0x31 + k, 8);
        if (span_shapes[_i].parent) {
            memset(span[k].parent_id, 0x41, 8);
        }
        span[k].name = span_shapes[_i].name;
        /* the length given, or measured by the encoder */
        span[k].name_len = k ? strlen(span_shapes[_i].name) : 0;
        span[k].trace_state = span_shapes[_i].state ? "v=1" : NULL;
        span[k].kind = span_shapes[_i].kind;
        span[k].status = span_shapes[_i].status;
        span[k].flags = (apr_uint32_t)span_shapes[_i].flags;
        span[k].start_ns = APR_UINT64_C(1700000000123456789) + (apr_uint64_t)k;
        span[k].end_ns = APR_UINT64_C(1700000000223456789);
        span[k].attrs = attrs;
        span[k].nattrs = span_shapes[_i].attrs;
    }
    memset(tr.trace_id, 0x22, 16);
    tr.spans = span;
    tr.nspans = 2;
    tr.children = NULL;
    tr.nchildren = 0;
    p = encoded_spans(&tr, &spans_end);
    for (k = 0; k < 2; ++k) {
        next_span(&p, &got);
        ck_assert(memcmp(got.trace_id, tr.trace_id, 16) == 0);
        ck_assert(memcmp(got.span_id, span[k].span_id, 8) == 0);
        ck_assert_int_eq(got.has_parent, span_shapes[_i].parent);
        if (got.has_parent) {
            ck_assert(memcmp(got.parent_id, span[k].parent_id, 8) == 0);
        }
        ck_assert_str_eq(got.name, span_shapes[_i].name);
        ck_assert_str_eq(got.state, span_shapes[_i].state ? "v=1" : "");
        ck_assert_uint_eq(got.kind, (unsigned long long)span_shapes[_i].kind);
        ck_assert_uint_eq(got.start, span[k].start_ns);
        ck_assert_uint_eq(got.end, span[k].end_ns);
        ck_assert_uint_eq(got.status,
                          (unsigned long long)span_shapes[_i].status);
        ck_assert_int_eq(got.has_flags, span_shapes[_i].flags != 0);
        ck_assert_uint_eq(got.flags, (unsigned long)span_shapes[_i].flags);
        ck_assert_int_eq(got.nattrs, span_shapes[_i].attrs);
    }
    ck_assert(p == spans_end);
}
END_TEST

/* Attributes whose KeyValue fits one-byte lengths and those that do not
 * (a key and a string value of 112 bytes together, 113, long values,
 * integers of every size), each read back whole: key, type, value. */
static const struct {
    apr_size_t klen, slen;      /* slen (apr_size_t)-1: an integer */
    apr_int64_t i;
} attr_shapes[] = {
    { 1, 0, 0 }, { 1, 1, 0 }, { 19, 3, 0 }, { 56, 56, 0 }, { 56, 57, 0 },
    { 1, 111, 0 }, { 1, 112, 0 }, { 100, 12, 0 }, { 100, 13, 0 },
    { 8, 300, 0 }, { 24, 2048, 0 }, { 130, 0, 0 }, { 200, 200, 0 },
    { 25, (apr_size_t)-1, 200 }, { 11, (apr_size_t)-1, 65535 },
    { 110, (apr_size_t)-1, -1 }, { 120, (apr_size_t)-1, APR_INT64_MAX },
    { 1, (apr_size_t)-1, 0 },
};
#define NSHAPES (sizeof(attr_shapes) / sizeof(attr_shapes[0]))

START_TEST(otlp_pb_attrs)
{
    prof_otlp_attr_t attrs[NSHAPES];
    prof_otlp_span_t span;
    prof_otlp_trace_t tr;
    const unsigned char *p, *end, *sp, *send;
    apr_size_t i, n, seen = 0;

    memset(attrs, 0, sizeof(attrs));
    for (i = 0; i < NSHAPES; ++i) {
        char *k = apr_palloc(unit_pool, attr_shapes[i].klen + 1);

        memset(k, 'a' + (int)(i % 26), attr_shapes[i].klen);
        k[attr_shapes[i].klen] = '\0';
        attrs[i].key = k;
        /* the key's length given for half of them, measured for the
         * others */
        attrs[i].klen = i % 2 ? attr_shapes[i].klen : 0;
        if (attr_shapes[i].slen == (apr_size_t)-1) {
            attrs[i].i = attr_shapes[i].i;
        }
        else {
            char *v = apr_palloc(unit_pool, attr_shapes[i].slen + 1);

            memset(v, 'A' + (int)(i % 26), attr_shapes[i].slen);
            v[attr_shapes[i].slen] = '\0';
            attrs[i].s = v;
            attrs[i].slen = i % 3 ? attr_shapes[i].slen : 0;
        }
    }
    memset(&span, 0, sizeof(span));
    memset(span.span_id, 0x31, 8);
    span.name = "GET /attrs";
    span.kind = PROF_OTLP_KIND_SERVER;
    span.attrs = attrs;
    span.nattrs = (int)NSHAPES;
    memset(tr.trace_id, 0x22, 16);
    tr.spans = &span;
    tr.nspans = 1;
    tr.children = NULL;
    tr.nchildren = 0;
    p = encoded_spans(&tr, &end);
    ck_assert_uint_eq(rd_varint(&p), 0x12);  /* spans = 2 */
    n = (apr_size_t)rd_varint(&p);
    ck_assert(p + n == end);
    sp = p;
    send = p + n;
    while (sp < send) {
        unsigned long long key = rd_varint(&sp), len;
        const unsigned char *kv, *kvend, *k, *any, *v;
        apr_size_t klen, alen, vlen;

        if ((key & 7) == 0) {
            rd_varint(&sp);
            continue;
        }
        if ((key & 7) == 1) {
            sp += 8;
            continue;
        }
        ck_assert_uint_eq(key & 7, 2);
        len = rd_varint(&sp);
        if ((key >> 3) != 9) {
            sp += len;
            continue;
        }
        /* KeyValue { key = 1; value = 2 } */
        ck_assert_uint_lt(seen, NSHAPES);
        i = seen++;
        kv = sp;
        kvend = sp + len;
        sp = kvend;
        k = rd_field(kv, kvend, 1, &klen);
        ck_assert_uint_eq(klen, attr_shapes[i].klen);
        ck_assert(memcmp(k, attrs[i].key, klen) == 0);
        any = rd_field(k + klen, kvend, 2, &alen);
        ck_assert(any + alen == kvend);
        if (attr_shapes[i].slen == (apr_size_t)-1) {
            v = any;
            ck_assert_uint_eq(rd_varint(&v), 0x18);      /* int_value = 3 */
            ck_assert_uint_eq(rd_varint(&v),
                              (unsigned long long)attr_shapes[i].i);
            ck_assert(v == kvend);
        }
        else {
            v = rd_field(any, kvend, 1, &vlen);         /* string_value */
            ck_assert_uint_eq(vlen, attr_shapes[i].slen);
            ck_assert(memcmp(v, attrs[i].s, vlen) == 0);
            ck_assert(v + vlen == kvend);
        }
    }
    ck_assert(sp == send);
    ck_assert_uint_eq(seen, NSHAPES);
}
END_TEST

/* Children of the first span (a request's phases), written from a
 * template: every field read back, in order (the first span, its
 * children, the other spans), with and without flags, names of every
 * length the template takes and of one it does not. */
START_TEST(otlp_pb_children)
{
    static const char *const names[] = {
        "r", "translate", "abcdefghijklmnopqrstuvwxyz012345",
        "abcdefghijklmnopqrstuvwxyz0123456", ""
    };
    enum { NK = sizeof(names) / sizeof(names[0]) };
    prof_otlp_span_t span[2];
    prof_otlp_child_t kids[NK];
    prof_otlp_trace_t tr;
    const unsigned char *p, *spans_end;
    rd_span_t got;
    int k;

    memset(span, 0, sizeof(span));
    for (k = 0; k < 2; ++k) {
        memset(span[k].span_id, 0x51 + k, 8);
        span[k].name = k ? "other" : "GET /";
        span[k].kind = k ? PROF_OTLP_KIND_INTERNAL : PROF_OTLP_KIND_SERVER;
        span[k].flags = (apr_uint32_t)_i;
        span[k].start_ns = 5;
        span[k].end_ns = 6;
    }
    memset(span[1].parent_id, 0x51, 8);
    for (k = 0; k < NK; ++k) {
        memset(kids[k].span_id, 0x61 + k, 8);
        kids[k].name = names[k];
        kids[k].name_len = strlen(names[k]);
        kids[k].start_ns = APR_UINT64_C(1700000000000000000) + (apr_uint64_t)k;
        kids[k].end_ns = APR_UINT64_C(1700000000000001000) + (apr_uint64_t)k;
    }
    memset(tr.trace_id, 0x22, 16);
    tr.spans = span;
    tr.nspans = 2;
    tr.children = kids;
    tr.nchildren = NK;
    p = encoded_spans(&tr, &spans_end);
    for (k = 0; k < 2 + NK; ++k) {
        next_span(&p, &got);
        ck_assert(memcmp(got.trace_id, tr.trace_id, 16) == 0);
        ck_assert_int_eq(got.has_flags, _i != 0);
        ck_assert_uint_eq(got.flags, (unsigned long)_i);
        ck_assert_int_eq(got.nattrs, 0);
        if (k == 0 || k == 1 + NK) {
            const prof_otlp_span_t *sp = &span[k ? 1 : 0];

            ck_assert(memcmp(got.span_id, sp->span_id, 8) == 0);
            ck_assert_str_eq(got.name, sp->name);
            continue;
        }
        ck_assert(memcmp(got.span_id, kids[k - 1].span_id, 8) == 0);
        ck_assert_int_eq(got.has_parent, 1);
        ck_assert(memcmp(got.parent_id, span[0].span_id, 8) == 0);
        ck_assert_str_eq(got.name, names[k - 1]);
        ck_assert_uint_eq(got.kind, PROF_OTLP_KIND_INTERNAL);
        ck_assert_uint_eq(got.start, kids[k - 1].start_ns);
        ck_assert_uint_eq(got.end, kids[k - 1].end_ns);
        ck_assert_uint_eq(got.status, 0);
    }
    ck_assert(p == spans_end);
}
END_TEST

/* prof_otlp_utf8n() against prof_otlp_utf8()'s byte-by-byte answer: ASCII
 * of every length around the word steps, one byte in it made non-ASCII
 * (valid or not) at every position, under and over max. */
START_TEST(otlp_utf8n_words)
{
    char in[48], ref[160];
    apr_size_t n, at, max, len;
    const char *out;
    static const char *const bad[] = { "\xc3\xa9", "\xe9", "\xf0\x9f\x98\x80" };
    int b;

    for (n = 0; n <= 40; ++n) {
        for (at = 0; at <= n; ++at) {
            for (b = -1; b < 3; ++b) {
                apr_size_t blen = b < 0 ? 0 : strlen(bad[b]), k;

                if (b >= 0 && at == n) {
                    continue;
                }
                for (k = 0; k < n; ++k) {
                    in[k] = (char)('a' + k % 26);
                }
                in[n] = '\0';
                if (b >= 0) {
                    memmove(in + at + blen, in + at + 1, n - at);
                    memcpy(in + at, bad[b], blen);
                }
                for (max = n > 3 ? n - 3 : 0; max <= n + 4; ++max) {
                    const char *r;
                    apr_size_t i = 0, o = 0;
                    const unsigned char *u = (const unsigned char *)in;

                    out = prof_otlp_utf8n(in, strlen(in), max, unit_pool,
                                          &len);
                    ck_assert_uint_eq(len, strlen(out));
                    ck_assert_uint_le(len, max);
                    /* the reference: ASCII kept, the one sequence kept
                     * when valid, else each of its bytes U+FFFD, cut
                     * before what does not fit */
                    while (u[i]) {
                        apr_size_t step = 1;

                        if (u[i] < 0x80) {
                            r = (const char *)u + i;
                        }
                        else if (b == 1) {
                            r = "\xef\xbf\xbd";
                        }
                        else {
                            r = bad[b];
                            step = blen;
                        }
                        if (o + (u[i] < 0x80 ? 1 : strlen(r)) > max) {
                            break;
                        }
                        memcpy(ref + o, r, u[i] < 0x80 ? 1 : strlen(r));
                        o += u[i] < 0x80 ? 1 : strlen(r);
                        i += step;
                    }
                    ref[o] = '\0';
                    ck_assert_msg(!strcmp(out, ref), "n %u at %u bad %d max %u",
                                  (unsigned)n, (unsigned)at, b,
                                  (unsigned)max);
                    if (!strcmp(out, in)) {
                        ck_assert_ptr_eq(out, in);
                    }
                }
            }
        }
    }
}
END_TEST

Suite *prof_otlp_suite(void)
{
    Suite *s = suite_create("prof_otlp");
    TCase *tc = tcase_create("otlp");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, otlp_utf8, 0,
                        (int)(sizeof(utf8_cases) / sizeof(utf8_cases[0])));
    tcase_add_test(tc, otlp_utf8_cut);
    tcase_add_loop_test(tc, otlp_pb_lengths, 0,
                        (int)(sizeof(sizes) / sizeof(sizes[0])));
    tcase_add_loop_test(tc, otlp_pb_span_fields, 0,
                        (int)(sizeof(span_shapes) / sizeof(span_shapes[0])));
    tcase_add_loop_test(tc, otlp_pb_children, 0, 2);
    tcase_add_test(tc, otlp_pb_attrs);
    tcase_add_test(tc, otlp_utf8n_words);
    suite_add_tcase(s, tc);
    return s;
}
