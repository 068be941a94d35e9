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
    prof_otlp_attr_t attr = { "k", NULL, 0 };
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
    suite_add_tcase(s, tc);
    return s;
}
