/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for a request's OTLP record (src/prof_otlp_rec.c): what the
 * request's thread copies, and the trace the exporter's thread makes of it
 * — the server span's name and attributes, a span per phase with its real
 * start and length (checked against the phase record folded here), the
 * span API's spans nested as they were, the backend wait as the CLIENT span
 * with the id the backend got, strings repaired and cut as
 * prof_otlp_utf8() would have cut the whole string.
 */

#include <string.h>

#include "apr_pools.h"
#include "apr_strings.h"

#include "prof_clock.h"
#include "prof_otlp.h"
#include "prof_otlp_rec.h"
#include "prof_phase.h"
#include "prof_span.h"
#include "unit.h"

#define US(x) ((prof_tick_t)(x) * 1000u)
#define T0 ((prof_tick_t)1000000000000u)
#define REQUEST_TIME ((apr_time_t)1700000000000000)

static void ticks_ns(void)
{
    ck_assert_str_eq(prof_clock_ticks_init(0, NULL, 0), "clock_gettime");
}

/* A request: read 50 us, postread at 50, translate 60..90, map_to_storage
 * 90..100, handler 100..400 entered again at 500..600 (a redirect), body
 * 400..500, log 600..610; the record closed at 610. */
static void phases(prof_phase_rec_t *ph)
{
    prof_phase_rec_begin(ph, T0, 50, PROF_PHASE_POSTREAD);
    prof_phase_edge(ph, PROF_PHASE_TRANSLATE, T0 + US(10));
    prof_phase_edge(ph, PROF_PHASE_STORAGE, T0 + US(40));
    prof_phase_edge(ph, PROF_PHASE_HANDLER, T0 + US(50));
    prof_phase_edge(ph, PROF_PHASE_BODY, T0 + US(350));
    prof_phase_edge(ph, PROF_PHASE_HANDLER, T0 + US(450));
    prof_phase_edge(ph, PROF_PHASE_LOG, T0 + US(550));
    prof_phase_edge(ph, PROF_MARK_LEAVE | PROF_PHASE_LOG, T0 + US(560));
}

/* The record as the request writes it: into a block of 2 KiB first (as
 * mod_profiler_otlp.c does), and when it does not fit there into one of
 * the size it asked for. Both ways give the same bytes. */
static void *roundtrip(prof_otlp_rec_in_t *in)
{
    apr_size_t size = prof_otlp_rec_put(NULL, 0, in), got;
    void *buf = apr_palloc(unit_pool, 2048), *big;

    ck_assert_uint_eq(size % 8, 0);
    /* whatever was in the block before is not read */
    memset(buf, 0xa5, 2048);
    got = prof_otlp_rec_put(buf, 2048, in);
    ck_assert_uint_eq(got, size);
    if (size <= 2048) {
        return buf;
    }
    big = apr_palloc(unit_pool, size);
    memset(big, 0xa5, size);
    ck_assert_uint_eq(prof_otlp_rec_put(big, size, in), size);
    /* nor does a block one byte short hold it */
    ck_assert_uint_gt(prof_otlp_rec_put(big, size - 1, in), size - 1);
    return big;
}

static void base_in(prof_otlp_rec_in_t *in, prof_phase_rec_t *ph)
{
    memset(in, 0, sizeof(*in));
    phases(ph);
    in->ph = ph;
    in->s[PROF_OTLP_REC_METHOD] = "GET";
    in->s[PROF_OTLP_REC_PATH] = "/users/12345/orders";
    in->s[PROF_OTLP_REC_SCHEME] = "https";
    in->s[PROF_OTLP_REC_HOST] = "shop.example";
    in->s[PROF_OTLP_REC_CLIENT] = "192.0.2.7";
    in->s[PROF_OTLP_REC_PROTO] = "1.1";
    in->s[PROF_OTLP_REC_UA] = "curl/8.0";
    in->request_time = REQUEST_TIME;
    in->status = 503;
    in->port = 8443;
    memset(in->trace_id, 0x11, 16);
    memset(in->span_id, 0x22, 8);
    in->flags = 1;
}

static const prof_otlp_attr_t *attr(const prof_otlp_span_t *s,
                                    const char *key)
{
    int i;

    for (i = 0; i < s->nattrs; ++i) {
        if (!strcmp(s->attrs[i].key, key)) {
            /* a length given is the length there is */
            ck_assert(s->attrs[i].klen == 0
                      || s->attrs[i].klen == strlen(key));
            ck_assert(!s->attrs[i].s || s->attrs[i].slen == 0
                      || s->attrs[i].slen == strlen(s->attrs[i].s));
            return &s->attrs[i];
        }
    }
    return NULL;
}

/* The record's trace with its server span as a name and a list of
 * attributes (prof_otlp_span_flat()), which the checks read. */
static void flat_trace(const void *rec, prof_otlp_trace_t *t)
{
    prof_otlp_span_t *sp;
    int i;

    prof_otlp_rec_trace(rec, unit_pool, t);
    ck_assert_ptr_nonnull(t->spans[0].http);
    sp = apr_palloc(unit_pool, (apr_size_t)t->nspans * sizeof(*sp));
    for (i = 0; i < t->nspans; ++i) {
        sp[i] = *prof_otlp_span_flat(&t->spans[i], unit_pool, &sp[i]);
        ck_assert_ptr_null(sp[i].http);
    }
    t->spans = sp;
}

static const prof_otlp_span_t *named(const prof_otlp_trace_t *t,
                                     const char *name)
{
    int i;

    for (i = 0; i < t->nspans; ++i) {
        if (!strcmp(t->spans[i].name, name)) {
            return &t->spans[i];
        }
    }
    return NULL;
}

START_TEST(rec_server_span)
{
    prof_phase_rec_t ph;
    prof_otlp_rec_in_t in;
    prof_otlp_trace_t t;
    const prof_otlp_span_t *s;
    static const unsigned char zero[8];

    base_in(&in, &ph);
    flat_trace(roundtrip(&in), &t);
    ck_assert(memcmp(t.trace_id, in.trace_id, 16) == 0);
    s = &t.spans[0];
    /* no route named: the path folded, as the store folds it */
    ck_assert_str_eq(s->name, "GET /users/:id/orders");
    ck_assert(s->name_len == 0 || s->name_len == strlen(s->name));
    ck_assert_int_eq(s->kind, PROF_OTLP_KIND_SERVER);
    ck_assert_int_eq(s->status, PROF_OTLP_STATUS_ERROR);
    ck_assert(memcmp(s->span_id, in.span_id, 8) == 0);
    ck_assert(memcmp(s->parent_id, zero, 8) == 0);
    ck_assert_ptr_null(s->trace_state);
    ck_assert_uint_eq(s->start_ns, (apr_uint64_t)REQUEST_TIME * 1000);
    /* read 50 + 560 us of phases */
    ck_assert_uint_eq(s->end_ns - s->start_ns, 610000u);
    ck_assert_int_eq(s->nattrs, 10);
    ck_assert_str_eq(attr(s, "http.request.method")->s, "GET");
    ck_assert_str_eq(attr(s, "url.path")->s, "/users/12345/orders");
    ck_assert_str_eq(attr(s, "url.scheme")->s, "https");
    ck_assert_str_eq(attr(s, "http.route")->s, "/users/:id/orders");
    ck_assert_int_eq(attr(s, "http.response.status_code")->i, 503);
    ck_assert_ptr_null(attr(s, "http.response.status_code")->s);
    ck_assert_str_eq(attr(s, "server.address")->s, "shop.example");
    ck_assert_int_eq(attr(s, "server.port")->i, 8443);
    ck_assert_str_eq(attr(s, "client.address")->s, "192.0.2.7");
    ck_assert_str_eq(attr(s, "network.protocol.version")->s, "1.1");
    ck_assert_str_eq(attr(s, "user_agent.original")->s, "curl/8.0");
}
END_TEST

START_TEST(rec_continued_named_route)
{
    prof_phase_rec_t ph;
    prof_otlp_rec_in_t in;
    prof_otlp_trace_t t;
    const prof_otlp_span_t *s;

    base_in(&in, &ph);
    in.status = 200;
    in.s[PROF_OTLP_REC_ROUTE] = "orders";
    in.s[PROF_OTLP_REC_UA] = NULL;
    in.s[PROF_OTLP_REC_STATE] = "vendor=abc";
    in.has_parent = 1;
    memset(in.parent_id, 0x33, 8);
    flat_trace(roundtrip(&in), &t);
    s = &t.spans[0];
    ck_assert_str_eq(s->name, "GET orders");
    ck_assert_int_eq(s->status, PROF_OTLP_STATUS_UNSET);
    ck_assert(memcmp(s->parent_id, in.parent_id, 8) == 0);
    ck_assert_str_eq(s->trace_state, "vendor=abc");
    ck_assert_int_eq(s->nattrs, 9);
    ck_assert_ptr_null(attr(s, "user_agent.original"));
    ck_assert_str_eq(attr(s, "http.route")->s, "orders");
}
END_TEST

static const prof_otlp_child_t *child(const prof_otlp_trace_t *t,
                                      const char *name)
{
    int i;

    for (i = 0; i < t->nchildren; ++i) {
        if (!strcmp(t->children[i].name, name)) {
            return &t->children[i];
        }
    }
    return NULL;
}

/* A span per phase that ran, from its first entry, as long as all its
 * entries took, children of the server span; ids unique in the trace. */
START_TEST(rec_phase_spans)
{
    prof_phase_rec_t ph, ref;
    prof_otlp_rec_in_t in;
    prof_otlp_trace_t t;
    apr_uint64_t start_ns = (apr_uint64_t)REQUEST_TIME * 1000;
    int phase, n = 0, i, j;

    base_in(&in, &ph);
    ref = ph;
    prof_phase_fold(&ref);
    prof_phase_firsts(&ref);
    flat_trace(roundtrip(&in), &t);
    for (phase = PROF_PHASE_READ; phase < PROF_PHASE_TOTAL; ++phase) {
        const prof_otlp_child_t *c = child(&t, prof_phase_name(phase));

        ck_assert_ptr_null(named(&t, prof_phase_name(phase)));
        if (!prof_phase_seen(&ref, phase)) {
            ck_assert_msg(c == NULL, "%s", prof_phase_name(phase));
            continue;
        }
        ck_assert_msg(c != NULL, "%s", prof_phase_name(phase));
        n++;
        ck_assert_uint_eq(c->start_ns,
                          start_ns + (apr_uint64_t)ref.first_us[phase] * 1000);
        ck_assert_uint_eq(c->end_ns - c->start_ns,
                          (apr_uint64_t)ref.dur_us[phase] * 1000);
        ck_assert_uint_eq(c->name_len, strlen(c->name));
    }
    /* read, postread, translate, storage, handler, body, log */
    ck_assert_int_eq(n, 7);
    ck_assert_int_eq(t.nchildren, n);
    ck_assert_int_eq(t.nspans, 1);
    ck_assert_uint_eq(child(&t, "handler")->end_ns
                      - child(&t, "handler")->start_ns, 400000u);
    ck_assert_uint_eq(child(&t, "translate")->start_ns - start_ns, 60000u);
    for (i = 0; i < t.nchildren; ++i) {
        ck_assert(memcmp(t.children[i].span_id, t.spans[0].span_id, 8));
        for (j = i + 1; j < t.nchildren; ++j) {
            ck_assert(memcmp(t.children[i].span_id, t.children[j].span_id,
                             8));
        }
    }
}
END_TEST

/* The span API's spans: nested as they were, the upstream wait the CLIENT
 * span with the id the backend got, descriptions as attributes. */
START_TEST(rec_api_spans)
{
    prof_phase_rec_t ph;
    prof_otlp_rec_in_t in;
    prof_otlp_trace_t t;
    prof_span_info_t api[3];
    const prof_otlp_span_t *db, *q, *up;
    apr_uint64_t start_ns = (apr_uint64_t)REQUEST_TIME * 1000;

    base_in(&in, &ph);
    memset(api, 0, sizeof(api));
    api[0].name = "db";
    api[0].start_us = 100;
    api[0].dur_us = 200;
    api[0].parent = PROF_SPAN_NO_PARENT;
    api[1].name = "query";
    api[1].desc = "SELECT \"x\"";
    api[1].start_us = 120;
    api[1].dur_us = 30;
    api[1].parent = 0;
    api[2].name = PROF_OTLP_UPSTREAM_SPAN;
    api[2].start_us = 300;
    api[2].dur_us = 90;
    api[2].parent = PROF_SPAN_NO_PARENT;
    in.api = api;
    in.napi = 3;
    in.has_upstream = 1;
    memset(in.upstream_id, 0x44, 8);
    flat_trace(roundtrip(&in), &t);
    db = named(&t, "db");
    q = named(&t, "query");
    up = named(&t, PROF_OTLP_UPSTREAM_SPAN);
    ck_assert(db && q && up);
    ck_assert(memcmp(db->parent_id, in.span_id, 8) == 0);
    ck_assert(memcmp(q->parent_id, db->span_id, 8) == 0);
    ck_assert(memcmp(up->span_id, in.upstream_id, 8) == 0);
    ck_assert_int_eq(up->kind, PROF_OTLP_KIND_CLIENT);
    ck_assert_int_eq(db->kind, PROF_OTLP_KIND_INTERNAL);
    /* offsets from the record's start, which is read_us after the
     * request's */
    ck_assert_uint_eq(db->start_ns, start_ns + (50 + 100) * 1000u);
    ck_assert_uint_eq(db->end_ns - db->start_ns, 200000u);
    ck_assert_int_eq(q->nattrs, 1);
    ck_assert_str_eq(q->attrs[0].key, "mod_profiler.desc");
    ck_assert_str_eq(q->attrs[0].s, "SELECT \"x\"");
    ck_assert_int_eq(db->nattrs, 0);
    ck_assert_int_eq(t.nspans, 1 + 3);
    ck_assert_int_eq(t.nchildren, 7);
}
END_TEST

/* Strings cut in the record a little above their limit come out as
 * prof_otlp_utf8() makes the whole string: at most the limit, never half
 * a character, bad bytes U+FFFD. A character of every length, and a bad
 * byte, starts at each position just below and at every limit. */
static const struct {
    int which;
    apr_size_t max;
    const char *attr;           /* NULL: the trace state */
} limits[] = {
    { PROF_OTLP_REC_UA, PROF_OTLP_UA_MAX, "user_agent.original" },
    { PROF_OTLP_REC_PATH, PROF_OTLP_PATH_MAX, "url.path" },
    { PROF_OTLP_REC_ROUTE, PROF_OTLP_ROUTE_MAX, "http.route" },
    { PROF_OTLP_REC_METHOD, PROF_OTLP_METHOD_MAX, "http.request.method" },
    { PROF_OTLP_REC_HOST, PROF_OTLP_HOST_MAX, "server.address" },
    { PROF_OTLP_REC_STATE, PROF_OTLP_STATE_MAX, NULL },
};

START_TEST(rec_strings_cut_as_whole)
{
    static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", "\xff" };
    apr_size_t max = limits[_i].max, back, i, c;
    int which = limits[_i].which;

    for (back = 0; back <= 5; ++back) {
        for (c = 0; c < sizeof(chars) / sizeof(chars[0]); ++c) {
            prof_phase_rec_t ph;
            prof_otlp_rec_in_t in;
            prof_otlp_trace_t t;
            const char *got;
            char *v = apr_palloc(unit_pool, max + 64);

            for (i = 0; i < max - back; ++i) {
                v[i] = 'a';
            }
            memcpy(v + i, chars[c], strlen(chars[c]));
            i += strlen(chars[c]);
            memset(v + i, 'b', 40);
            v[i + 40] = '\0';
            base_in(&in, &ph);
            in.s[which] = v;
            in.has_parent = 1;
            flat_trace(roundtrip(&in), &t);
            got = limits[_i].attr ? attr(&t.spans[0], limits[_i].attr)->s
                                  : t.spans[0].trace_state;
            ck_assert_msg(!strcmp(got, prof_otlp_utf8(v, max, unit_pool)),
                          "limit %u, character %u at %u below it",
                          (unsigned)max, (unsigned)c, (unsigned)back);
        }
    }
}
END_TEST

/* The trace encodes: every span decodes, in order (the protobuf reader is
 * test_otlp.c's; here the lengths add up and each span starts with its
 * trace id). */
START_TEST(rec_encodes)
{
    prof_phase_rec_t ph;
    prof_otlp_rec_in_t in;
    prof_otlp_trace_t t;
    prof_otlp_resource_t res = { NULL, 0, "mod_profiler", NULL };
    prof_otlp_batch_t *b;
    const prof_otlp_trace_t *tp = &t;
    const char *body, *one;
    apr_size_t len, len1;
    int k;

    base_in(&in, &ph);
    b = prof_otlp_batch_begin(&res, _i, 0, unit_pool);
    for (k = 0; k < 3; ++k) {
        prof_otlp_rec_trace(roundtrip(&in), unit_pool, &t);
        prof_otlp_batch_add(b, &t);
    }
    body = prof_otlp_batch_end(b, &len);
    one = prof_otlp_encode(&res, &tp, 1, _i, unit_pool, &len1);
    ck_assert_ptr_nonnull(one);
    /* three traces take about three times one (ids differ, not sizes) */
    ck_assert_uint_gt(len, 2 * len1);
    ck_assert_uint_lt(len, 3 * len1);
    if (_i) {
        ck_assert(body[0] == '{' && body[len - 1] == '}');
        ck_assert_ptr_nonnull(strstr(body, "\"name\":\"GET /users/:id/orders\""));
        ck_assert_ptr_nonnull(strstr(body, "\"name\":\"translate\""));
    }
    else {
        ck_assert_int_eq((unsigned char)body[0], 0x0a);
    }
}
END_TEST

/* A server span written from its values (prof_otlp_http_t) is the bytes
 * of the same span written from a name and a list of attributes: short
 * strings and long ones (past one-byte lengths), absent ones, a user agent
 * or none, a caller's span and tracestate or none, integers small and
 * large. */
static const struct {
    apr_size_t path, ua, method;        /* lengths; ua 0: none */
    int status, port, parent;
} http_shapes[] = {
    { 19, 8, 3, 200, 80, 0 },
    { 100, 0, 3, 503, 8443, 1 },
    { 120, 200, 7, 404, 65535, 0 },
    { 2048, 512, 64, 599, 1, 1 },
    { 0, 1, 1, 100, 0, 0 },
};

START_TEST(rec_http_writes_as_flat)
{
    prof_phase_rec_t ph;
    prof_otlp_rec_in_t in;
    prof_otlp_trace_t t, ft;
    prof_otlp_span_t *sp;
    prof_otlp_resource_t res = { NULL, 0, "mod_profiler", NULL };
    const prof_otlp_trace_t *tp = &t, *ftp = &ft;
    const char *a, *b;
    char *path, *ua, *method;
    apr_size_t alen, blen;
    int i;

    base_in(&in, &ph);
    path = apr_palloc(unit_pool, http_shapes[_i].path + 2);
    path[0] = '/';
    memset(path + 1, 'p', http_shapes[_i].path);
    path[http_shapes[_i].path ? http_shapes[_i].path : 1] = '\0';
    in.s[PROF_OTLP_REC_PATH] = path;
    ua = apr_palloc(unit_pool, http_shapes[_i].ua + 1);
    memset(ua, 'u', http_shapes[_i].ua);
    ua[http_shapes[_i].ua] = '\0';
    in.s[PROF_OTLP_REC_UA] = http_shapes[_i].ua ? ua : NULL;
    method = apr_palloc(unit_pool, http_shapes[_i].method + 1);
    memset(method, 'M', http_shapes[_i].method);
    method[http_shapes[_i].method] = '\0';
    in.s[PROF_OTLP_REC_METHOD] = method;
    in.status = http_shapes[_i].status;
    in.port = http_shapes[_i].port;
    if (http_shapes[_i].parent) {
        in.has_parent = 1;
        memset(in.parent_id, 0x33, 8);
        in.s[PROF_OTLP_REC_STATE] = "vendor=abc";
    }
    prof_otlp_rec_trace(roundtrip(&in), unit_pool, &t);
    ck_assert_ptr_nonnull(t.spans[0].http);
    ft = t;
    sp = apr_palloc(unit_pool, (apr_size_t)t.nspans * sizeof(*sp));
    for (i = 0; i < t.nspans; ++i) {
        sp[i] = *prof_otlp_span_flat(&t.spans[i], unit_pool, &sp[i]);
    }
    ft.spans = sp;
    ck_assert_int_eq(sp[0].nattrs, http_shapes[_i].ua ? 10 : 9);
    a = prof_otlp_encode(&res, &tp, 1, 0, unit_pool, &alen);
    b = prof_otlp_encode(&res, &ftp, 1, 0, unit_pool, &blen);
    ck_assert_uint_eq(alen, blen);
    ck_assert(memcmp(a, b, alen) == 0);
}
END_TEST

Suite *prof_otlp_rec_suite(void)
{
    Suite *s = suite_create("prof_otlp_rec");
    TCase *tc = tcase_create("rec");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_checked_fixture(tc, ticks_ns, NULL);
    tcase_add_test(tc, rec_server_span);
    tcase_add_test(tc, rec_continued_named_route);
    tcase_add_test(tc, rec_phase_spans);
    tcase_add_test(tc, rec_api_spans);
    tcase_add_loop_test(tc, rec_strings_cut_as_whole, 0,
                        (int)(sizeof(limits) / sizeof(limits[0])));
    tcase_add_loop_test(tc, rec_encodes, 0, 2);
    tcase_add_loop_test(tc, rec_http_writes_as_flat, 0,
                        (int)(sizeof(http_shapes) / sizeof(http_shapes[0])));
    suite_add_tcase(s, tc);
    return s;
}
