/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for stored rows (src/prof_row.c), against prof_row.h.
 *
 * A row must outlive everything it was built from: the request's pool and
 * the span set are gone when the writer thread stores it. So every row here
 * is built from an input whose strings, durations and spans are malloc()ed
 * copies; once the row exists, the test overwrites every byte of the input
 * and checks the row (the plain run sees a row that still points into the
 * input), then frees the input and checks again (ASan sees any pointer into
 * it, even one whose bytes happened to survive).
 *
 * The expected values come from the header's rules, written here again:
 * the UTF-8 cut decodes forwards from the start, which the code never does,
 * and the tables give the cases where the rules have edges (parents,
 * negative durations, status classes, minutes before the epoch).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"

#include "prof_row.h"
#include "unit.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MINUTE  APR_INT64_C(60000000)

/* ck_assert() writes a record for every check that passes; check_row()
 * makes some 40,000 checks per row of the span tests, three times. There
 * the condition is tested first, and check only hears of a failure. */
#define HOT_ASSERT(cond, ...) \
    do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

/* The string fields of a row, in one order for the tables. */
enum { F_VHOST, F_METHOD, F_PROTOCOL, F_ROUTE, F_PATH, F_QUERY,
       F_SPAN_NAME, F_SPAN_DESC, F_COUNT };

static const struct {
    const char *name;
    apr_size_t max;
} fields[F_COUNT] = {
    { "vhost", PROF_ROW_VHOST_MAX },
    { "method", PROF_ROW_METHOD_MAX },
    { "protocol", PROF_ROW_PROTOCOL_MAX },
    { "route", PROF_ROW_ROUTE_MAX },
    { "path", PROF_ROW_PATH_MAX },
    { "query", PROF_ROW_QUERY_MAX },
    { "span name", PROF_SPAN_NAME_MAX },
    { "span desc", PROF_SPAN_DESC_MAX },
};

/* ------------------------------------------------------------ helpers */

/* A copy of s in a block of exactly strlen(s) + 1 bytes; NULL stays NULL. */
static char *exact(const char *s)
{
    size_t n;
    char *c;

    if (s == NULL) {
        return NULL;
    }
    n = strlen(s) + 1;
    c = malloc(n);
    ck_assert_ptr_nonnull(c);
    memcpy(c, s, n);
    return c;
}

/* The length of the UTF-8 character that starts with c, for valid input. */
static size_t ref_char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* What the row keeps of valid UTF-8 s: all of it when it fits in m bytes,
 * else the longest run of whole characters from the start that does.
 * NULL counts as "". */
static size_t ref_cut(const char *s, size_t m)
{
    size_t len = s ? strlen(s) : 0, at = 0, next;

    if (len <= m) {
        return len;
    }
    for (;;) {
        next = at + ref_char_len((unsigned char)s[at]);
        if (next > m) {
            return at;
        }
        at = next;
    }
}

/* The input, deep-copied into blocks of its own, so that the test can
 * scribble over it and free it while the row lives on. */
typedef struct {
    prof_row_in_t in;
    apr_int64_t *dur;
    prof_span_info_t *spans;
    char *str[6];
} owned_in_t;

static void own(owned_in_t *o, const prof_row_in_t *t)
{
    apr_size_t i;

    o->in = *t;
    o->dur = NULL;
    if (t->dur_us) {
        o->dur = malloc(PROF_PHASE_COUNT * sizeof(*o->dur));
        ck_assert_ptr_nonnull(o->dur);
        memcpy(o->dur, t->dur_us, PROF_PHASE_COUNT * sizeof(*o->dur));
    }
    o->in.dur_us = o->dur;
    o->in.vhost = o->str[F_VHOST] = exact(t->vhost);
    o->in.method = o->str[F_METHOD] = exact(t->method);
    o->in.protocol = o->str[F_PROTOCOL] = exact(t->protocol);
    o->in.route = o->str[F_ROUTE] = exact(t->route);
    o->in.path = o->str[F_PATH] = exact(t->path);
    o->in.query = o->str[F_QUERY] = exact(t->query);
    o->spans = NULL;
    if (t->spans) {
        /* One more than needed, so that nspans 0 is a real array too. */
        o->spans = malloc((t->nspans + 1) * sizeof(*o->spans));
        ck_assert_ptr_nonnull(o->spans);
        for (i = 0; i < t->nspans; ++i) {
            o->spans[i] = t->spans[i];
            o->spans[i].name = exact(t->spans[i].name);
            o->spans[i].desc = exact(t->spans[i].desc);
        }
    }
    o->in.spans = o->spans;
}

static void scribble_str(char *s)
{
    if (s) {
        memset(s, '#', strlen(s));
    }
}

/* Every byte of the input changed: a row still pointing into it, or
 * reading it later, shows different values. */
static void scribble(owned_in_t *o)
{
    apr_size_t i;
    int k;

    if (o->dur) {
        for (k = 0; k < PROF_PHASE_COUNT; ++k) {
            o->dur[k] = -777;
        }
    }
    for (k = 0; k < 6; ++k) {
        scribble_str(o->str[k]);
    }
    for (i = 0; o->spans && i < o->in.nspans; ++i) {
        scribble_str((char *)o->spans[i].name);
        scribble_str((char *)o->spans[i].desc);
        o->spans[i].start_us = -555;
        o->spans[i].dur_us = 333;
        o->spans[i].parent = 12345;
        o->spans[i].index = -9;
        o->spans[i].metric = 42;
    }
    o->in.start_us = -1;
    o->in.status = -1;
}

static void disown(owned_in_t *o)
{
    apr_size_t i;
    int k;

    for (i = 0; o->spans && i < o->in.nspans; ++i) {
        free((char *)o->spans[i].name);
        free((char *)o->spans[i].desc);
    }
    free(o->spans);
    for (k = 0; k < 6; ++k) {
        free(o->str[k]);
    }
    free(o->dur);
}

/* got is what the row keeps of want: its cut to max bytes, a whole number
 * of characters, NUL-terminated. */
static void check_str(const char *what, const char *got, const char *want,
                      apr_size_t max)
{
    size_t n = ref_cut(want, max);

    HOT_ASSERT(got != NULL, "%s: NULL", what);
    HOT_ASSERT(strlen(got) == n, "%s: %zu bytes, want %zu", what,
               strlen(got), n);
    HOT_ASSERT(n == 0 || memcmp(got, want, n) == 0, "%s: other bytes", what);
    /* Never inside a character: what follows the cut starts one. */
    HOT_ASSERT(want == NULL || want[n] == '\0'
               || ((unsigned char)want[n] & 0xc0) != 0x80,
               "%s: cut inside a character at %zu", what, n);
}

#define CHECK_I64(what, got, want) \
    HOT_ASSERT((got) == (want), "%s: %lld, want %lld", what, \
               (long long)(got), (long long)(want))

/* The row is what t asks for, by the header's rules. */
static void check_row(const prof_row_t *row, const prof_row_in_t *t)
{
    apr_size_t nspans = t->spans ? t->nspans : 0, i;
    int k;

    HOT_ASSERT(row != NULL, "no row");
    CHECK_I64("start_us", row->start_us, t->start_us);
    for (k = 0; k < PROF_PHASE_COUNT; ++k) {
        CHECK_I64("dur_us", row->dur_us[k], t->dur_us[k]);
    }
    CHECK_I64("ttfb_us", row->ttfb_us, t->ttfb_us);
    CHECK_I64("bytes_sent", row->bytes_sent, t->bytes_sent);
    CHECK_I64("status", row->status, t->status);
    CHECK_I64("weight", row->weight, t->weight);
    CHECK_I64("spans_dropped", row->spans_dropped, t->spans_dropped);
    check_str("vhost", row->vhost, t->vhost, PROF_ROW_VHOST_MAX);
    check_str("method", row->method, t->method, PROF_ROW_METHOD_MAX);
    check_str("protocol", row->protocol, t->protocol, PROF_ROW_PROTOCOL_MAX);
    check_str("route", row->route, t->route, PROF_ROW_ROUTE_MAX);
    check_str("path", row->path, t->path, PROF_ROW_PATH_MAX);
    if (t->query == NULL) {
        HOT_ASSERT(row->query == NULL, "query kept: \"%s\"", row->query);
    }
    else {
        check_str("query", row->query, t->query, PROF_ROW_QUERY_MAX);
    }
    CHECK_I64("nspans", row->nspans, nspans);
    for (i = 0; i < nspans; ++i) {
        const prof_span_info_t *s = &t->spans[i];
        const prof_row_span_t *d = &row->spans[i];
        int parent = s->parent >= 0 && s->parent < s->index ? s->parent : -1;

        check_str("span name", d->name, s->name, PROF_SPAN_NAME_MAX);
        if (s->desc == NULL) {
            HOT_ASSERT(d->desc == NULL, "span %zu: desc kept", i);
        }
        else {
            check_str("span desc", d->desc, s->desc, PROF_SPAN_DESC_MAX);
        }
        CHECK_I64("span start_us", d->start_us, t->span_base_us + s->start_us);
        CHECK_I64("span dur_us", d->dur_us, s->dur_us < 0 ? 0 : s->dur_us);
        CHECK_I64("span index", d->index, s->index);
        HOT_ASSERT(d->parent == parent, "span %zu (index %d, parent %d): "
                   "parent %d, want %d", i, s->index, s->parent,
                   (int)d->parent, parent);
        CHECK_I64("span metric", d->metric, s->metric ? 1 : 0);
    }
}

/* Build the row from a private copy of t and check it three times: as
 * built, with the copy overwritten, and with the copy freed. The caller
 * frees the row. */
static prof_row_t *build(const prof_row_in_t *t)
{
    owned_in_t o;
    prof_row_t *row;

    own(&o, t);
    row = prof_row_create(&o.in);
    check_row(row, t);
    scribble(&o);
    check_row(row, t);
    disown(&o);
    check_row(row, t);
    return row;
}

static const apr_int64_t some_durs[PROF_PHASE_COUNT] = {
    11, 0, 3, 17, 250, 1, 2, 9000, 4, 5, 6, 120000, 70000, 8, 199999
};

/* A plain input: strings, no spans. */
static prof_row_in_t plain_in(void)
{
    prof_row_in_t t;

    memset(&t, 0, sizeof(t));
    t.start_us = APR_INT64_C(1700000000123456);
    t.dur_us = some_durs;
    t.ttfb_us = 1234;
    t.bytes_sent = 5678;
    t.status = 200;
    t.weight = 1;
    t.vhost = "www.example.com";
    t.method = "GET";
    t.protocol = "HTTP/1.1";
    t.route = "/item/:id";
    t.path = "/item/123";
    t.query = "a=1&b=2";
    return t;
}

/* ------------------------------------------------------------- fields */

/* Every field, with values that differ from each other, spelled out here
 * (not only through check_row()'s rules). */
START_TEST(row_copies_every_field)
{
    static const prof_span_info_t spans[] = {
        { "db", "SELECT 1", 100, 50, PROF_SPAN_NO_PARENT, 0, 0 },
        { "cache", NULL, 120, 10, 0, 1, 0 },
        { "tpl", "index.html", 200, 0, PROF_SPAN_NO_PARENT, 2, 2 },
    };
    static const apr_int64_t durs[PROF_PHASE_COUNT] = {
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 1000
    };
    prof_row_in_t t = plain_in();
    prof_row_t *row;
    int k;

    t.start_us = APR_INT64_C(1712345678901234);
    t.dur_us = durs;
    t.ttfb_us = 77;
    t.bytes_sent = APR_INT64_C(5000000000);     /* past 32 bits */
    t.status = 503;
    t.weight = 40;
    t.spans_dropped = 3;
    t.vhost = "h\xc3\xa9.example";
    t.method = "PROPFIND";
    t.protocol = "HTTP/2.0";
    t.route = "/r/:id";
    t.path = "/r/9";
    t.query = "q=%C3%A9";
    t.spans = spans;
    t.nspans = N_OF(spans);
    t.span_base_us = APR_INT64_C(1000000);
    row = build(&t);

    ck_assert_int_eq(row->start_us, APR_INT64_C(1712345678901234));
    for (k = 0; k < PROF_PHASE_COUNT; ++k) {
        ck_assert_int_eq(row->dur_us[k], durs[k]);
    }
    ck_assert_int_eq(row->ttfb_us, 77);
    ck_assert_int_eq(row->bytes_sent, APR_INT64_C(5000000000));
    ck_assert_int_eq(row->status, 503);
    ck_assert_uint_eq(row->weight, 40);
    ck_assert_uint_eq(row->spans_dropped, 3);
    ck_assert_str_eq(row->vhost, "h\xc3\xa9.example");
    ck_assert_str_eq(row->method, "PROPFIND");
    ck_assert_str_eq(row->protocol, "HTTP/2.0");
    ck_assert_str_eq(row->route, "/r/:id");
    ck_assert_str_eq(row->path, "/r/9");
    ck_assert_str_eq(row->query, "q=%C3%A9");
    ck_assert_uint_eq(row->nspans, 3);
    ck_assert_str_eq(row->spans[0].name, "db");
    ck_assert_str_eq(row->spans[0].desc, "SELECT 1");
    ck_assert_int_eq(row->spans[0].start_us, 1000100);
    ck_assert_int_eq(row->spans[0].dur_us, 50);
    ck_assert_int_eq(row->spans[0].index, 0);
    ck_assert_int_eq(row->spans[0].parent, -1);
    ck_assert_int_eq(row->spans[0].metric, 0);
    ck_assert_str_eq(row->spans[1].name, "cache");
    ck_assert_ptr_null(row->spans[1].desc);
    ck_assert_int_eq(row->spans[1].start_us, 1000120);
    ck_assert_int_eq(row->spans[1].dur_us, 10);
    ck_assert_int_eq(row->spans[1].index, 1);
    ck_assert_int_eq(row->spans[1].parent, 0);
    ck_assert_str_eq(row->spans[2].name, "tpl");
    ck_assert_str_eq(row->spans[2].desc, "index.html");
    ck_assert_int_eq(row->spans[2].dur_us, 0);
    ck_assert_int_eq(row->spans[2].metric, 1);         /* any true: 1 */
    prof_row_free(row);
}
END_TEST

/* NULL strings become "" (they are NOT NULL columns), except the query,
 * where NULL means "not kept" and differs from an empty query. */
START_TEST(row_null_strings)
{
    prof_row_in_t t = plain_in();
    prof_row_t *row;

    t.vhost = t.method = t.protocol = t.route = t.path = t.query = NULL;
    row = build(&t);
    ck_assert_str_eq(row->vhost, "");
    ck_assert_str_eq(row->method, "");
    ck_assert_str_eq(row->protocol, "");
    ck_assert_str_eq(row->route, "");
    ck_assert_str_eq(row->path, "");
    ck_assert_ptr_null(row->query);
    prof_row_free(row);

    /* An empty query is kept as such. */
    t.query = "";
    row = build(&t);
    ck_assert_ptr_nonnull(row->query);
    ck_assert_str_eq(row->query, "");
    prof_row_free(row);
}
END_TEST

START_TEST(row_null_arguments)
{
    ck_assert_ptr_null(prof_row_create(NULL));
    prof_row_free(NULL);                        /* ignored */
}
END_TEST

/* No spans: both with no array and with an array but a count of 0. */
START_TEST(row_no_spans)
{
    static const prof_span_info_t one[] = {
        { "x", NULL, 0, 1, PROF_SPAN_NO_PARENT, 0, 0 },
    };
    prof_row_in_t t = plain_in();
    prof_row_t *row;

    t.spans = NULL;
    t.nspans = 0;
    t.spans_dropped = 7;
    row = build(&t);
    ck_assert_uint_eq(row->nspans, 0);
    ck_assert_uint_eq(row->spans_dropped, 7);
    prof_row_free(row);

    t.spans = one;
    t.nspans = 0;
    row = build(&t);
    ck_assert_uint_eq(row->nspans, 0);
    prof_row_free(row);
}
END_TEST

/* Module times are copied: names cut to PROF_ROW_MODULE_NAME_MAX (not
 * inside a UTF-8 character), a phase out of range is a filter's (-1),
 * negative times 0, entries of the same (phase, name) added up (the
 * store's key), at most PROF_ROW_MODULES_MAX given entries, and the row
 * is one block (the input may go away). */
START_TEST(row_modules)
{
    char longname[200], *names[3];
    prof_row_module_t in[6], *many;
    prof_row_in_t t = plain_in();
    prof_row_t *row;
    int i;

    memset(longname, 'm', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    memcpy(longname + PROF_ROW_MODULE_NAME_MAX - 1, "\xc3\xa9", 2);
    for (i = 0; i < 3; ++i) {
        names[i] = strdup(i == 0 ? "mod_rewrite" : i == 1 ? "deflate"
                                                          : longname);
    }
    in[0] = (prof_row_module_t){ names[0], PROF_PHASE_TRANSLATE, 2, 300 };
    in[1] = (prof_row_module_t){ names[1], -1, 4, 50 };
    in[2] = (prof_row_module_t){ names[0], PROF_PHASE_TRANSLATE, 1, 20 };
    in[3] = (prof_row_module_t){ names[0], PROF_PHASE_FIXUPS, 1, -5 };
    in[4] = (prof_row_module_t){ names[2], 99, 1, 7 };
    in[5] = (prof_row_module_t){ NULL, PROF_PHASE_ACCESS, 1, 1 };
    t.modules = in;
    t.nmodules = 6;
    row = build(&t);
    for (i = 0; i < 3; ++i) {
        memset(names[i], 'x', strlen(names[i]));
        free(names[i]);
    }
    ck_assert_uint_eq(row->nmodules, 5);
    ck_assert_str_eq(row->modules[0].name, "mod_rewrite");
    ck_assert_int_eq(row->modules[0].phase, PROF_PHASE_TRANSLATE);
    ck_assert_uint_eq(row->modules[0].calls, 3);
    ck_assert_int_eq(row->modules[0].dur_us, 320);
    ck_assert_str_eq(row->modules[1].name, "deflate");
    ck_assert_int_eq(row->modules[1].phase, -1);
    ck_assert_int_eq(row->modules[2].phase, PROF_PHASE_FIXUPS);
    ck_assert_int_eq(row->modules[2].dur_us, 0);
    /* cut before the two-byte character that would cross the limit */
    ck_assert_uint_eq(strlen(row->modules[3].name),
                      PROF_ROW_MODULE_NAME_MAX - 1);
    ck_assert_int_eq(row->modules[3].phase, -1);
    ck_assert_str_eq(row->modules[4].name, "");
    prof_row_free(row);

    /* More entries than a row keeps: the first PROF_ROW_MODULES_MAX. */
    many = calloc(PROF_ROW_MODULES_MAX + 10, sizeof(*many));
    ck_assert_ptr_nonnull(many);
    for (i = 0; i < PROF_ROW_MODULES_MAX + 10; ++i) {
        char *n = malloc(16);

        snprintf(n, 16, "m%d", i);
        many[i] = (prof_row_module_t){ n, PROF_PHASE_HANDLER, 1, i };
    }
    t.modules = many;
    t.nmodules = PROF_ROW_MODULES_MAX + 10;
    row = build(&t);
    ck_assert_uint_eq(row->nmodules, PROF_ROW_MODULES_MAX);
    ck_assert_str_eq(row->modules[PROF_ROW_MODULES_MAX - 1].name, "m255");
    prof_row_free(row);
    for (i = 0; i < PROF_ROW_MODULES_MAX + 10; ++i) {
        free((char *)many[i].name);
    }
    free(many);
}
END_TEST

/* A row given its id in advance keeps it, and carries its profile as a
 * copy: whole, or (longer than PROF_ROW_PROFILE_MAX) not at all, never
 * cut. */
START_TEST(row_id_and_profile)
{
    static const apr_size_t lens[] = { 0, 1, 100, PROF_ROW_PROFILE_MAX,
                                       PROF_ROW_PROFILE_MAX + 1 };
    apr_size_t k;

    for (k = 0; k < sizeof(lens) / sizeof(lens[0]); ++k) {
        prof_row_in_t t = plain_in();
        char *text = malloc(lens[k] + 1);
        prof_row_t *row;
        apr_size_t i;

        ck_assert_ptr_nonnull(text);
        for (i = 0; i < lens[k]; ++i) {
            text[i] = (char)('a' + i % 26);
        }
        text[lens[k]] = '\0';
        t.id = (APR_INT64_C(7) << 32) | (apr_int64_t)k;
        t.profile = text;
        row = prof_row_create(&t);
        ck_assert_ptr_nonnull(row);
        memset(text, 'X', lens[k]);
        free(text);
        ck_assert(row->id == t.id);
        if (lens[k] > PROF_ROW_PROFILE_MAX) {
            ck_assert_ptr_null(row->profile);
        }
        else {
            ck_assert_ptr_nonnull(row->profile);
            ck_assert_uint_eq(strlen(row->profile), lens[k]);
            for (i = 0; i < lens[k]; ++i) {
                HOT_ASSERT(row->profile[i] == (char)('a' + i % 26),
                           "profile byte %zu", i);
            }
        }
        /* The other strings are where they were. */
        ck_assert_str_eq(row->path, "/item/123");
        ck_assert_str_eq(row->query, "a=1&b=2");
        prof_row_free(row);
    }
    {
        prof_row_in_t t = plain_in();
        prof_row_t *row;

        t.id = -5;                  /* not an id: the writer assigns one */
        row = prof_row_create(&t);
        ck_assert(row->id == 0 && row->profile == NULL);
        prof_row_free(row);
    }
}
END_TEST

/* ------------------------------------------------------------ strings */

/* Each string field at lengths around its maximum and far beyond it. */
static const size_t ascii_lens[] = { 0, 1, 15, 16, 17, 31, 32, 33, 254, 255,
                                     256, 257, 1023, 1024, 1025, 1026, 5000,
                                     100000 };

/* An input whose field f is s (one span for the span fields). */
static prof_row_in_t field_in(int f, const char *s, prof_span_info_t *span)
{
    prof_row_in_t t = plain_in();

    switch (f) {
    case F_VHOST:
        t.vhost = s;
        break;
    case F_METHOD:
        t.method = s;
        break;
    case F_PROTOCOL:
        t.protocol = s;
        break;
    case F_ROUTE:
        t.route = s;
        break;
    case F_PATH:
        t.path = s;
        break;
    case F_QUERY:
        t.query = s;
        break;
    default:
        memset(span, 0, sizeof(*span));
        span->name = f == F_SPAN_NAME ? s : "n";
        span->desc = f == F_SPAN_DESC ? s : NULL;
        span->parent = PROF_SPAN_NO_PARENT;
        t.spans = span;
        t.nspans = 1;
        break;
    }
    return t;
}

/* The field f of the row. */
static const char *field_of(const prof_row_t *row, int f)
{
    switch (f) {
    case F_VHOST:
        return row->vhost;
    case F_METHOD:
        return row->method;
    case F_PROTOCOL:
        return row->protocol;
    case F_ROUTE:
        return row->route;
    case F_PATH:
        return row->path;
    case F_QUERY:
        return row->query;
    case F_SPAN_NAME:
        return row->spans[0].name;
    default:
        return row->spans[0].desc;
    }
}

START_TEST(row_cut_ascii)
{
    int f = _i / N_OF(ascii_lens);
    size_t len = ascii_lens[_i % N_OF(ascii_lens)];
    size_t want = len < fields[f].max ? len : fields[f].max;
    char *s = malloc(len + 1);
    prof_span_info_t span;
    prof_row_in_t t;
    prof_row_t *row;
    size_t i;

    ck_assert_ptr_nonnull(s);
    for (i = 0; i < len; ++i) {
        s[i] = (char)('a' + i % 26);
    }
    s[len] = '\0';
    t = field_in(f, s, &span);
    row = build(&t);
    ck_assert_msg(strlen(field_of(row, f)) == want,
                  "%s of %zu bytes: kept %zu, want %zu", fields[f].name, len,
                  strlen(field_of(row, f)), want);
    ck_assert(memcmp(field_of(row, f), s, want) == 0);
    prof_row_free(row);
    free(s);
}
END_TEST

/* Characters of every UTF-8 length, shifted by 0..3 bytes of ASCII so
 * that the maximum falls on every byte of a character. */
static const char *const utf8_units[] = {
    "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "a\xc3\xa9\xe2\x82\xac"
};
#define UTF8_SHIFTS 4
#define UTF8_CASES  (N_OF(utf8_units) * UTF8_SHIFTS)

START_TEST(row_cut_utf8)
{
    int f = _i / UTF8_CASES, c = _i % UTF8_CASES;
    const char *unit = utf8_units[c / UTF8_SHIFTS];
    size_t shift = (size_t)(c % UTF8_SHIFTS), ul = strlen(unit);
    size_t len = fields[f].max + 2 * ul + shift, i;
    char *s = malloc(len + ul + 1);
    prof_span_info_t span;
    prof_row_in_t t;
    prof_row_t *row;
    size_t want;

    ck_assert_ptr_nonnull(s);
    memset(s, 'x', shift);
    for (i = shift; i < len; i += ul) {
        memcpy(s + i, unit, ul);
    }
    s[i] = '\0';
    want = ref_cut(s, fields[f].max);
    /* The cut is really inside a character for most cases here: else the
     * test would prove little. */
    ck_assert_uint_le(want, fields[f].max);
    ck_assert_uint_gt(want + 4, fields[f].max);
    t = field_in(f, s, &span);
    row = build(&t);
    ck_assert_msg(strlen(field_of(row, f)) == want,
                  "%s, unit %d, shift %zu: kept %zu, want %zu",
                  fields[f].name, c / UTF8_SHIFTS, shift,
                  strlen(field_of(row, f)), want);
    prof_row_free(row);
    free(s);
}
END_TEST

/* ---------------------------------------------------------------- spans */

typedef struct {
    int index;
    int parent;
    int want_parent;
} parent_case_t;

/* A parent is kept only when it is an earlier span of the same request. */
static const parent_case_t parent_cases[] = {
    { 0, PROF_SPAN_NO_PARENT, -1 },
    { 0, 0, -1 },               /* its own parent */
    { 1, 0, 0 },
    { 5, 4, 4 },
    { 5, 0, 0 },
    { 5, 5, -1 },
    { 5, 6, -1 },               /* a later span */
    { 5, 4096, -1 },
    { 3, -2, -1 },
    { 3, -1000000, -1 },
    { 4095, 4094, 4094 },
};

START_TEST(row_span_parent)
{
    const parent_case_t *c = &parent_cases[_i];
    prof_span_info_t span = { "s", NULL, 5, 6, 0, 0, 0 };
    prof_row_in_t t = plain_in();
    prof_row_t *row;

    span.index = c->index;
    span.parent = c->parent;
    t.spans = &span;
    t.nspans = 1;
    row = build(&t);
    ck_assert_int_eq(row->spans[0].index, c->index);
    ck_assert_int_eq(row->spans[0].parent, c->want_parent);
    prof_row_free(row);
}
END_TEST

typedef struct {
    apr_int64_t base, start, dur;
    apr_int64_t want_start, want_dur;
} span_time_case_t;

/* Starts are moved by the base (to wall clock); durations are never
 * negative. */
static const span_time_case_t span_time_cases[] = {
    { 0, 0, 0, 0, 0 },
    { 0, 10, 5, 10, 5 },
    { 1000, 10, -1, 1010, 0 },
    { 1000, 0, APR_INT64_C(-9000000000), 1000, 0 },
    { APR_INT64_C(1700000000000000), 250, 3, APR_INT64_C(1700000000000250), 3 },
    { 100, -30, 7, 70, 7 },
    { -100, 30, APR_INT64_C(86400000000), -70, APR_INT64_C(86400000000) },
};

START_TEST(row_span_times)
{
    const span_time_case_t *c = &span_time_cases[_i];
    prof_span_info_t span = { "s", "d", 0, 0, PROF_SPAN_NO_PARENT, 0, 1 };
    prof_row_in_t t = plain_in();
    prof_row_t *row;

    span.start_us = c->start;
    span.dur_us = c->dur;
    t.spans = &span;
    t.nspans = 1;
    t.span_base_us = c->base;
    row = build(&t);
    ck_assert_int_eq(row->spans[0].start_us, c->want_start);
    ck_assert_int_eq(row->spans[0].dur_us, c->want_dur);
    ck_assert_int_eq(row->spans[0].metric, 1);
    prof_row_free(row);
}
END_TEST

/* As many spans as a set may hold, with random names, descriptions (some
 * absent, some too long), parents and durations: all in one block. */
START_TEST(row_many_spans)
{
    enum { N = 4096 };
    prof_span_info_t *spans = malloc(N * sizeof(*spans));
    char *text = malloc(N * 2 * (PROF_SPAN_DESC_MAX + 8));
    uint64_t rs = unit_seed(_i);
    prof_row_in_t t = plain_in();
    prof_row_t *row;
    char *o = text;
    int i;

    ck_assert_ptr_nonnull(spans);
    ck_assert_ptr_nonnull(text);
    for (i = 0; i < N; ++i) {
        uint64_t r = unit_rand(&rs);
        size_t nl = 1 + r % (PROF_SPAN_NAME_MAX + 20);
        size_t dl = (r >> 12) % (PROF_SPAN_DESC_MAX + 20);

        spans[i].name = o;
        memset(o, 'a' + i % 26, nl);
        o += nl;
        *o++ = '\0';
        spans[i].desc = NULL;
        if ((r >> 24) % 3) {
            spans[i].desc = o;
            memset(o, 'A' + i % 26, dl);
            o += dl;
            *o++ = '\0';
        }
        spans[i].index = i;
        spans[i].parent = (int)((r >> 32) % (N + 2)) - 2;  /* -2 .. N-1 */
        spans[i].start_us = (apr_int64_t)((r >> 40) % 100000);
        spans[i].dur_us = (apr_int64_t)((r >> 20) % 20000) - 1000;
        spans[i].metric = (int)((r >> 50) % 3);
    }
    t.spans = spans;
    t.nspans = N;
    t.span_base_us = APR_INT64_C(1600000000000000);
    row = build(&t);
    ck_assert_uint_eq(row->nspans, N);
    prof_row_free(row);
    free(text);
    free(spans);
}
END_TEST

/* ------------------------------------------------------ status, minute */

static const struct {
    int status;
    int cls;
} class_cases[] = {
    { -1, 0 }, { 0, 0 }, { 1, 0 }, { 99, 0 }, { 100, 1 }, { 101, 1 },
    { 199, 1 }, { 200, 2 }, { 204, 2 }, { 299, 2 }, { 300, 3 }, { 304, 3 },
    { 400, 4 }, { 404, 4 }, { 499, 4 }, { 500, 5 }, { 503, 5 }, { 599, 5 },
    { 600, 0 }, { 999, 0 }, { 1000, 0 }, { 2000, 0 }, { -200, 0 },
    { 2147483647, 0 }, { -2147483647 - 1, 0 },
};

START_TEST(row_status_class)
{
    ck_assert_msg(prof_row_status_class(class_cases[_i].status)
                  == class_cases[_i].cls, "class of %d: %d, want %d",
                  class_cases[_i].status,
                  prof_row_status_class(class_cases[_i].status),
                  class_cases[_i].cls);
}
END_TEST

static const struct {
    apr_int64_t t;
    apr_int64_t minute;
} minute_cases[] = {
    { 0, 0 },
    { 1, 0 },
    { 59999999, 0 },
    { 60000000, 60000000 },
    { 60000001, 60000000 },
    { 119999999, 60000000 },
    { APR_INT64_C(1700000000123456), APR_INT64_C(1699999980000000) },
    { APR_INT64_C(1700000040000000), APR_INT64_C(1700000040000000) },
    /* before the epoch: down, not towards 0 */
    { -1, -60000000 },
    { -59999999, -60000000 },
    { -60000000, -60000000 },
    { -60000001, -120000000 },
    { APR_INT64_C(-1700000000123456), APR_INT64_C(-1700000040000000) },
    /* the ends of the range whose minute is representable */
    { APR_INT64_MAX, APR_INT64_MAX - APR_INT64_MAX % MINUTE },
    { APR_INT64_MIN + MINUTE, -(APR_INT64_MAX / MINUTE) * MINUTE },
};

START_TEST(row_minute_table)
{
    ck_assert_msg(prof_row_minute_us(minute_cases[_i].t)
                  == minute_cases[_i].minute, "minute of %lld: %lld, want "
                  "%lld", (long long)minute_cases[_i].t,
                  (long long)prof_row_minute_us(minute_cases[_i].t),
                  (long long)minute_cases[_i].minute);
}
END_TEST

/* The definition, for random times either side of the epoch: a multiple
 * of a minute, at most t, less than a minute before it. */
START_TEST(row_minute_random)
{
    uint64_t rs = unit_seed(_i);
    int i;

    for (i = 0; i < 100000; ++i) {
        /* up to 2^62 us (146,000 years) either side of the epoch, and
         * every other one within 1,000 minutes of it */
        apr_int64_t t = (apr_int64_t)(unit_rand(&rs) >> 1)
                        - APR_INT64_C(0x4000000000000000);
        apr_int64_t m;

        if (i % 2) {
            t %= MINUTE * 1000;
        }
        m = prof_row_minute_us(t);
        if (m % MINUTE != 0 || m > t || t - m >= MINUTE) {
            ck_abort_msg("minute of %lld: %lld", (long long)t, (long long)m);
        }
    }
}
END_TEST

/* Phase starts as the store's column keeps them: 14 fields read..log,
 * empty where the phase did not run; NULL when nothing is known. */
#define NR (-1)
static const struct {
    apr_int64_t first[PROF_PHASE_COUNT];
    const char *want;           /* NULL: the column stays NULL */
} starts_cases[] = {
    { { 0, 41, NR, NR, 60, 70, 80, NR, NR, 90, 100, 110, 5000, 5100, NR },
      "0,41,,,60,70,80,,,90,100,110,5000,5100" },
    /* only read ran (a request that ended in read) */
    { { 0, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR },
      "0,,,,,,,,,,,,," },
    /* the total's slot is not a phase: never written */
    { { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 999 },
      "0,1,2,3,4,5,6,7,8,9,10,11,12,13" },
    /* the widest values fit PROF_ROW_STARTS_MAX */
    { { APR_INT64_MAX, APR_INT64_MAX, APR_INT64_MAX, APR_INT64_MAX,
        APR_INT64_MAX, APR_INT64_MAX, APR_INT64_MAX, APR_INT64_MAX,
        APR_INT64_MAX, APR_INT64_MAX, APR_INT64_MAX, APR_INT64_MAX,
        APR_INT64_MAX, APR_INT64_MAX, NR },
      "9223372036854775807,9223372036854775807,9223372036854775807,"
      "9223372036854775807,9223372036854775807,9223372036854775807,"
      "9223372036854775807,9223372036854775807,9223372036854775807,"
      "9223372036854775807,9223372036854775807,9223372036854775807,"
      "9223372036854775807,9223372036854775807" },
    /* nothing known: NULL, not a row of empty fields */
    { { NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR, NR },
      NULL },
};

START_TEST(row_phase_starts_table)
{
    prof_row_in_t in;
    prof_row_t *row;
    char buf[PROF_ROW_STARTS_MAX];
    const char *got;

    memset(&in, 0, sizeof(in));
    in.first_us = starts_cases[_i].first;
    row = prof_row_create(&in);
    ck_assert_ptr_nonnull(row);
    got = prof_row_phase_starts(row, buf, sizeof(buf));
    if (starts_cases[_i].want) {
        ck_assert_ptr_nonnull(got);
        ck_assert_str_eq(got, starts_cases[_i].want);
        /* One byte short of what it needs: refused, never cut. */
        ck_assert_ptr_null(prof_row_phase_starts(row, buf, strlen(got)));
    }
    else {
        ck_assert_ptr_null(got);
    }
    prof_row_free(row);
}
END_TEST

/* A row built without phase starts has none: the column stays NULL. */
START_TEST(row_phase_starts_unknown)
{
    prof_row_in_t in;
    prof_row_t *row;
    char buf[PROF_ROW_STARTS_MAX];
    int k;

    memset(&in, 0, sizeof(in));
    row = prof_row_create(&in);
    ck_assert_ptr_nonnull(row);
    for (k = 0; k < PROF_PHASE_COUNT; ++k) {
        ck_assert_int_eq(row->first_us[k], -1);
    }
    ck_assert_ptr_null(prof_row_phase_starts(row, buf, sizeof(buf)));
    ck_assert_ptr_null(prof_row_phase_starts(NULL, buf, sizeof(buf)));
    prof_row_free(row);
}
END_TEST

Suite *prof_row_suite(void)
{
    Suite *s = suite_create("prof_row");
    TCase *tc;

    tc = tcase_create("copy");
    tcase_add_test(tc, row_copies_every_field);
    tcase_add_test(tc, row_null_strings);
    tcase_add_test(tc, row_null_arguments);
    tcase_add_test(tc, row_no_spans);
    tcase_add_test(tc, row_id_and_profile);
    tcase_add_test(tc, row_modules);
    tcase_add_loop_test(tc, row_cut_ascii, 0, F_COUNT * N_OF(ascii_lens));
    tcase_add_loop_test(tc, row_cut_utf8, 0, F_COUNT * UTF8_CASES);
    tcase_add_loop_test(tc, row_phase_starts_table, 0, N_OF(starts_cases));
    tcase_add_test(tc, row_phase_starts_unknown);
    suite_add_tcase(s, tc);

    tc = tcase_create("spans");
    tcase_add_loop_test(tc, row_span_parent, 0, N_OF(parent_cases));
    tcase_add_loop_test(tc, row_span_times, 0, N_OF(span_time_cases));
    tcase_add_loop_test(tc, row_many_spans, 0, 3);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("key");
    tcase_add_loop_test(tc, row_status_class, 0, N_OF(class_cases));
    tcase_add_loop_test(tc, row_minute_table, 0, N_OF(minute_cases));
    tcase_add_loop_test(tc, row_minute_random, 0, 4);
    suite_add_tcase(s, tc);
    return s;
}
