/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the Server-Timing writer (src/prof_st.c).
 *
 * Every value the writer leaves in its buffer goes through st_parse(), a
 * strict parser of the W3C Server-Timing grammar written here from the spec,
 * not from the writer, with its own tchar definition: a wrong byte class in
 * the writer cannot hide behind the same mistake in the check. The parser
 * unescapes quoted-strings, so names and descriptions are compared with what
 * the caller passed in, mapped the way the header promises.
 *
 *   Server-Timing        = #server-timing-metric
 *   server-timing-metric = metric-name *( OWS ";" OWS server-timing-param )
 *   server-timing-param  = param-name OWS "=" OWS ( token / quoted-string )
 *
 * Stricter than the grammar where the writer promises more: no control byte
 * anywhere but HTAB inside a quoted-string (so OWS is SP only), no empty list
 * element, no parameter twice in one metric.
 */

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prof_st.h"
#include "unit.h"

/* --------------------------------------------------- the test-side parser */

#define ST_MAX_ENTRIES 64
#define ST_MAX_PARAMS  8
#define ST_STORE_SIZE  (64 * 1024)

typedef struct {
    const char *name;   /* metric name */
    const char *dur;    /* dur value, NULL if absent */
    const char *desc;   /* desc value, unescaped, NULL if absent */
    int dur_quoted;     /* dur was a quoted-string */
    int other;          /* parameters other than dur and desc */
} st_entry_t;

typedef struct {
    st_entry_t e[ST_MAX_ENTRIES];
    int n;
    int ows;            /* whitespace the writer's canonical form has not */
    const char *err;    /* why the value is not valid ... */
    size_t at;          /* ... and at which byte */
    size_t used;
    char store[ST_STORE_SIZE];  /* NUL-terminated copies of names and values */
} st_parsed_t;

typedef struct {
    const char *s;
    const char *p;
    st_parsed_t *out;
} st_parser_t;

/* RFC 9110 5.6.2, written out again rather than taken from the writer. */
static int ref_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
        || (c >= 'a' && c <= 'z')) {
        return 1;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int ref_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* What RFC 9110 5.6.4 lets a quoted-string hold (qdtext, and the byte of a
 * quoted-pair, '"' and '\\' aside): HTAB, SP, VCHAR, obs-text. */
static int ref_qtext(unsigned char c)
{
    return c == '\t' || !ref_ctl(c);
}

/* Case-insensitive, ASCII only: param names are compared that way by the
 * spec, and the locale must not take part. */
static int ascii_caseeq(const char *a, const char *b)
{
    for (; *a && *b; ++a, ++b) {
        char x = *a, y = *b;

        if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
        if (x != y) {
            return 0;
        }
    }
    return *a == *b;
}

static int st_fail(st_parser_t *ps, const char *why)
{
    ps->out->err = why;
    ps->out->at = (size_t)(ps->p - ps->s);
    return 0;
}

static int store_put(st_parser_t *ps, char c)
{
    if (ps->out->used >= ST_STORE_SIZE) {
        return st_fail(ps, "value too large for the test parser");
    }
    ps->out->store[ps->out->used++] = c;
    return 1;
}

static int skip_ows(st_parser_t *ps)
{
    int n = 0;

    while (*ps->p == ' ') {
        ps->p++;
        n++;
    }
    return n;
}

/* token = 1*tchar */
static const char *parse_token(st_parser_t *ps)
{
    const char *start = ps->out->store + ps->out->used, *from = ps->p;

    while (ref_tchar((unsigned char)*ps->p)) {
        if (!store_put(ps, *ps->p++)) {
            return NULL;
        }
    }
    if (ps->p == from) {
        st_fail(ps, "token expected");
        return NULL;
    }
    return store_put(ps, '\0') ? start : NULL;
}

/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE, unescaped. RFC
 * 9110 allows HTAB in both, and no other control byte. */
static const char *parse_quoted(st_parser_t *ps)
{
    const char *start = ps->out->store + ps->out->used;

    ps->p++;
    for (;;) {
        unsigned char c = (unsigned char)*ps->p;

        if (c == '"') {
            ps->p++;
            break;
        }
        if (c == '\\') {
            c = (unsigned char)*++ps->p;
            if (c != '\0' && !ref_qtext(c)) {
                st_fail(ps, "control byte in quoted-pair");
                return NULL;
            }
        }
        if (c == '\0') {
            st_fail(ps, "unterminated quoted-string");
            return NULL;
        }
        if (!ref_qtext(c)) {
            st_fail(ps, "control byte in quoted-string");
            return NULL;
        }
        if (!store_put(ps, (char)c)) {
            return NULL;
        }
        ps->p++;
    }
    return store_put(ps, '\0') ? start : NULL;
}

static int parse_metric(st_parser_t *ps)
{
    st_parsed_t *out = ps->out;
    const char *pnames[ST_MAX_PARAMS];
    st_entry_t *e;
    int np = 0, i;

    if (out->n >= ST_MAX_ENTRIES) {
        return st_fail(ps, "more entries than the test parser holds");
    }
    e = &out->e[out->n];
    memset(e, 0, sizeof(*e));
    if ((e->name = parse_token(ps)) == NULL) {
        return 0;
    }
    for (;;) {
        const char *back = ps->p, *pname, *pval;
        int ws = skip_ows(ps), quoted;

        if (*ps->p != ';') {
            ps->p = back;           /* the OWS belongs to the list */
            break;
        }
        out->ows += ws;
        ps->p++;
        out->ows += skip_ows(ps);
        if ((pname = parse_token(ps)) == NULL) {
            return 0;
        }
        out->ows += skip_ows(ps);
        if (*ps->p != '=') {
            return st_fail(ps, "'=' expected");
        }
        ps->p++;
        out->ows += skip_ows(ps);
        quoted = *ps->p == '"';
        pval = quoted ? parse_quoted(ps) : parse_token(ps);
        if (pval == NULL) {
            return 0;
        }
        for (i = 0; i < np; ++i) {
            if (ascii_caseeq(pnames[i], pname)) {
                return st_fail(ps, "parameter repeated in one metric");
            }
        }
        if (np == ST_MAX_PARAMS) {
            return st_fail(ps, "more parameters than the test parser holds");
        }
        pnames[np++] = pname;
        if (ascii_caseeq(pname, "dur")) {
            e->dur = pval;
            e->dur_quoted = quoted;
        }
        else if (ascii_caseeq(pname, "desc")) {
            e->desc = pval;
        }
        else {
            e->other++;
        }
    }
    out->n++;
    return 1;
}

/* 1 if s is a Server-Timing value (or empty: no metric, no header). */
static int st_parse(const char *s, st_parsed_t *out)
{
    st_parser_t ps;
    int ws;

    ps.s = ps.p = s;
    ps.out = out;
    out->n = 0;
    out->ows = 0;
    out->err = NULL;
    out->at = 0;
    out->used = 0;
    if (*s == '\0') {
        return 1;
    }
    for (;;) {
        if (!parse_metric(&ps)) {
            return 0;
        }
        out->ows += skip_ows(&ps);
        if (*ps.p == '\0') {
            return 1;
        }
        if (*ps.p != ',') {
            return st_fail(&ps, "',' or end of value expected");
        }
        ps.p++;
        ws = skip_ows(&ps);
        out->ows += ws == 1 ? 0 : ws == 0 ? 1 : ws - 1;   /* canonical ", " */
        if (*ps.p == ',' || *ps.p == '\0') {
            return st_fail(&ps, "empty list element");
        }
    }
}

static st_parsed_t pv;  /* large; one is enough, tests do not nest */

/* The parser must be able to fail, or passing it proves nothing. */
static const char *const parse_bad[] = {
    ",", " ", "a,", ",a", "a,,b", "a, ,b", "a ,", " a", "a;", "a;;dur=1",
    "a;dur", "a;dur=", "a;=1", "a;dur=1;", "a;dur=1;;desc=x",
    "a;desc=\"x", "a;desc=\"x\\\"", "a;desc=\"x\"y", "a;dur=1;dur=2",
    "a;dur=1;DUR=2", "a;desc=x;Desc=\"y\"", "a;desc=\"\x01\"",
    "a;desc=\"\n\"", "a;desc=\"\\\x7f\"", "a;desc=\"\\\r\"", "a\r\n",
    "a\r\nb", "a b", "a\tb", "a;desc=x y", "a;desc=\xc3\xa9", "\xff",
    "a;dur=\"1", "a=1", "a\"b\"", "a;desc=\"x\"\"y\"",
};

START_TEST(parser_rejects)
{
    ck_assert_msg(!st_parse(parse_bad[_i], &pv),
                  "test parser accepted \"%s\"", parse_bad[_i]);
}
END_TEST

static const struct {
    const char *in;
    int n;
    const char *name0;
    const char *desc0;
} parse_good[] = {
    { "", 0, NULL, NULL },
    { "a", 1, "a", NULL },
    { "a;dur=1.000", 1, "a", NULL },
    { "a;desc=\"x\\\"y\\\\z\"", 1, "a", "x\"y\\z" },
    { "a ; dur = 1 ;desc= \"p q\" , b", 2, "a", "p q" },
    { "a;dur=0;desc=\"caf\xc3\xa9\"", 1, "a", "caf\xc3\xa9" },
    { "a;desc=\"\"", 1, "a", "" },
    { "a;desc=\"\t\"", 1, "a", "\t" },
    { "a;desc=\"x\\\ty\"", 1, "a", "x\ty" },
    { "a;foo=bar, b, c", 3, "a", NULL },
    { "!#$%&'*+-.^_`|~09AZaz;desc=!", 1, "!#$%&'*+-.^_`|~09AZaz", "!" },
};

START_TEST(parser_accepts)
{
    ck_assert_msg(st_parse(parse_good[_i].in, &pv), "test parser refused "
                  "\"%s\": %s at %zu", parse_good[_i].in, pv.err, pv.at);
    ck_assert_int_eq(pv.n, parse_good[_i].n);
    if (parse_good[_i].name0) {
        ck_assert_str_eq(pv.e[0].name, parse_good[_i].name0);
    }
    if (parse_good[_i].desc0) {
        ck_assert_str_eq(pv.e[0].desc, parse_good[_i].desc0);
    }
    else if (pv.n) {
        ck_assert_ptr_null(pv.e[0].desc);
    }
}
END_TEST

/* ------------------------------------------------------ expected values */

/* "0", or [1-9][0-9]* or 0, '.', exactly three digits. */
static int dur_shape_ok(const char *s)
{
    size_t n = strlen(s), i;

    if (strcmp(s, "0") == 0) {
        return 1;
    }
    if (n < 5 || s[n - 4] != '.' || (s[0] == '0' && n != 5)) {
        return 0;
    }
    for (i = 0; i < n; ++i) {
        if (i != n - 4 && !(s[i] >= '0' && s[i] <= '9')) {
            return 0;
        }
    }
    return 1;
}

/* What prof_st_format_dur() should write, by other means. */
static void ref_dur(char *out, size_t size, apr_interval_time_t us)
{
    if (us <= 0) {
        snprintf(out, size, "0");
    }
    else {
        snprintf(out, size, "%lld.%03lld", (long long)(us / 1000),
                 (long long)(us % 1000));
    }
}

/* got is in, every non-tchar byte replaced by '_'. */
static int name_maps(const char *got, const char *in)
{
    for (; *in; ++in, ++got) {
        char want = ref_tchar((unsigned char)*in) ? *in : '_';

        if (*got != want) {
            return 0;
        }
    }
    return *got == '\0';
}

/* got is in, every byte a quoted-string cannot hold replaced by a space. */
static int desc_maps(const char *got, const char *in)
{
    for (; *in; ++in, ++got) {
        char want = ref_qtext((unsigned char)*in) ? *in : ' ';

        if (*got != want) {
            return 0;
        }
    }
    return *got == '\0';
}

/* What must hold for every value the writer leaves behind. */
static void check_value(const prof_st_buf_t *b)
{
    int i;

    ck_assert_uint_le(b->len, b->cap);
    ck_assert_uint_eq(b->len, strlen(b->buf));
    ck_assert_msg(st_parse(b->buf, &pv), "not a Server-Timing value: %s at "
                  "byte %zu of \"%.300s\"", pv.err, pv.at, b->buf);
    ck_assert_msg(pv.ows == 0, "extra whitespace in \"%.300s\"", b->buf);
    ck_assert_uint_eq((unsigned)pv.n, b->entries);
    for (i = 0; i < pv.n; ++i) {
        ck_assert_int_eq(pv.e[i].other, 0);
        if (pv.e[i].dur) {
            ck_assert(!pv.e[i].dur_quoted);
            ck_assert_msg(dur_shape_ok(pv.e[i].dur), "bad dur \"%s\"",
                          pv.e[i].dur);
        }
    }
}

/* Entry e of the last parsed value is (name, dur, desc) as the caller
 * passed them, mapped as promised. */
static void check_entry(int e, const char *name, apr_interval_time_t dur,
                        const char *desc)
{
    const st_entry_t *en;

    ck_assert_int_lt(e, pv.n);
    en = &pv.e[e];
    ck_assert_msg(name_maps(en->name, name), "name \"%.100s\" is not the "
                  "input with non-tchars as '_'", en->name);
    if (dur >= 0) {
        char want[64];

        ref_dur(want, sizeof(want), dur);
        ck_assert_ptr_nonnull(en->dur);
        ck_assert_str_eq(en->dur, want);
    }
    else {
        ck_assert_ptr_null(en->dur);
    }
    if (desc) {
        ck_assert_ptr_nonnull(en->desc);
        ck_assert_msg(desc_maps(en->desc, desc), "desc \"%.100s\" does not "
                      "round-trip", en->desc);
    }
    else {
        ck_assert_ptr_null(en->desc);
    }
}

/* A buffer of exactly size bytes, so ASan sees a write past it; for the
 * plain run, a canary after it. */
#define CANARY 16

static char *buf_new(apr_size_t size)
{
    char *mem = malloc(size + CANARY);

    ck_assert_ptr_nonnull(mem);
    memset(mem, 'X', size);
    memset(mem + size, 0x5c, CANARY);
    return mem;
}

static void buf_free(char *mem, apr_size_t size)
{
    apr_size_t i;

    for (i = 0; i < CANARY; ++i) {
        ck_assert_msg((unsigned char)mem[size + i] == 0x5c,
                      "wrote %zu bytes past a %zu byte buffer", i + 1,
                      (size_t)size);
    }
    free(mem);
}

/* ------------------------------------------------------------- durations */

static const struct {
    apr_interval_time_t us;
    const char *want;
} dur_cases[] = {
    { 0, "0" },
    { -1, "0" },
    { -999, "0" },
    { -1000000, "0" },
    { APR_INT64_MIN, "0" },
    { 1, "0.001" },
    { 9, "0.009" },
    { 10, "0.010" },
    { 99, "0.099" },
    { 100, "0.100" },
    { 999, "0.999" },
    { 1000, "1.000" },
    { 1001, "1.001" },
    { 1204, "1.204" },
    { 10000, "10.000" },
    { 999999, "999.999" },
    { 1000000, "1000.000" },
    { 123456789, "123456.789" },
    { APR_INT64_MAX - 1, "9223372036854775.806" },
    { APR_INT64_MAX, "9223372036854775.807" },
};

#define N_DUR_CASES ((int)(sizeof(dur_cases) / sizeof(dur_cases[0])))

static void check_dur_cases(void)
{
    int i;

    for (i = 0; i < N_DUR_CASES; ++i) {
        char out[PROF_ST_DUR_MAX];
        apr_size_t n = prof_st_format_dur(out, dur_cases[i].us);

        ck_assert_str_eq(out, dur_cases[i].want);
        ck_assert_uint_eq(n, strlen(out));
    }
}

START_TEST(dur_table)
{
    char *out = buf_new(PROF_ST_DUR_MAX);
    apr_size_t n = prof_st_format_dur(out, dur_cases[_i].us);

    ck_assert_str_eq(out, dur_cases[_i].want);
    ck_assert_uint_eq(n, strlen(out));
    ck_assert_uint_lt(n, PROF_ST_DUR_MAX);
    ck_assert(dur_shape_ok(out));
    ck_assert_ptr_null(strpbrk(out, "eE,-+ "));
    buf_free(out, PROF_ST_DUR_MAX);
}
END_TEST

/* Across every magnitude, against a reference built with snprintf. */
START_TEST(dur_against_reference)
{
    uint64_t rs = unit_seed(_i);
    int k;

    for (k = 0; k < 200; ++k) {
        char out[PROF_ST_DUR_MAX], want[64];
        uint64_t r = unit_rand(&rs);
        /* uniform in the number of bits, then in the value */
        apr_interval_time_t us = (apr_interval_time_t)
            (unit_rand(&rs) >> (1 + r % 63));

        if (r & 0x100) {
            us = -us;
        }
        ref_dur(want, sizeof(want), us);
        ck_assert_uint_eq(prof_st_format_dur(out, us), strlen(want));
        ck_assert_str_eq(out, want);
        ck_assert(dur_shape_ok(out));
    }
}
END_TEST

/* printf("%f") would follow LC_NUMERIC; the writer must not. Only locales
 * with a ',' radix that are installed are tried; on a machine with none the
 * C-locale checks still run, unless PROF_TEST_REQUIRE_COMMA_LOCALE is set
 * (scripts/test.sh sets it after generating de_DE.UTF-8), which makes a
 * missing comma locale a failure rather than a silent skip. */
START_TEST(dur_locale_independent)
{
    static const char *const comma_locales[] = {
        "de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", "fr_FR.utf8",
        "nl_NL.UTF-8", "ru_RU.UTF-8", "pt_BR.UTF-8", "es_ES.UTF-8",
    };
    prof_st_buf_t b;
    char buf[128], probe[16];
    size_t i;
    int tried = 0;

    ck_assert_ptr_nonnull(setlocale(LC_ALL, "C"));
    check_dur_cases();
    for (i = 0; i < sizeof(comma_locales) / sizeof(comma_locales[0]); ++i) {
        if (setlocale(LC_ALL, comma_locales[i]) == NULL) {
            continue;
        }
        snprintf(probe, sizeof(probe), "%.1f", 1.5);
        if (strcmp(probe, "1,5") != 0) {
            continue;           /* not a comma radix after all */
        }
        check_dur_cases();
        prof_st_init(&b, buf, sizeof(buf));
        ck_assert(prof_st_add(&b, "db", 1204, "x"));
        ck_assert_str_eq(buf, "db;dur=1.204;desc=x");
        tried++;
    }
    setlocale(LC_ALL, "C");
    if (getenv("PROF_TEST_REQUIRE_COMMA_LOCALE")) {
        ck_assert_msg(tried > 0, "no ',' radix locale installed");
    }
}
END_TEST

/* -------------------------------------------------------------- tchars */

START_TEST(tchar_every_byte)
{
    unsigned char c = (unsigned char)_i;
    char s[2] = { (char)c, '\0' };

    ck_assert_int_eq(!!prof_st_is_tchar(c), ref_tchar(c));
    ck_assert_int_eq(!!prof_st_is_token(s, 1), ref_tchar(c));
}
END_TEST

static const struct {
    const char *s;
    apr_size_t len;
    int want;
} token_cases[] = {
    { "", 0, 0 },
    { "a", 0, 0 },
    { "a", 1, 1 },
    { "abc", 3, 1 },
    { "ab c", 2, 1 },           /* only len bytes count */
    { "ab c", 4, 0 },
    { "a\"", 2, 0 },
    { "\x80", 1, 0 },
    { "x;y", 3, 0 },
    { "x,y", 3, 0 },
    { "x=y", 3, 0 },
    { "!#$%&'*+-.^_`|~", 15, 1 },
    { "(a)", 3, 0 },
};

START_TEST(token_table)
{
    ck_assert_int_eq(!!prof_st_is_token(token_cases[_i].s,
                                        token_cases[_i].len),
                     token_cases[_i].want);
}
END_TEST

/* -------------------------------------------------------------- entries */

START_TEST(init_empty)
{
    prof_st_buf_t b;
    char *mem = buf_new(8);

    prof_st_init(&b, mem, 8);
    ck_assert_str_eq(mem, "");
    ck_assert_uint_eq(b.cap, 7);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_uint_eq(b.entries, 0);
    ck_assert_uint_eq(b.dropped, 0);
    check_value(&b);
    buf_free(mem, 8);
}
END_TEST

#define ND PROF_ST_NO_DUR

static const struct {
    const char *name;
    apr_interval_time_t dur;
    const char *desc;
    const char *want;
} add_cases[] = {
    { "cache", 1204, NULL, "cache;dur=1.204" },
    { "cache", ND, "hit", "cache;desc=hit" },
    { "cache", ND, NULL, "cache" },
    { "db", 0, "", "db;dur=0;desc=\"\"" },
    { "db", ND, "", "db;desc=\"\"" },
    { "db", 5, "two words", "db;dur=0.005;desc=\"two words\"" },
    { "db", -7, "x", "db;desc=x" },     /* every negative means "no dur" */
    { "a b", 1000, NULL, "a_b;dur=1.000" },
    { "a,b;c=d", ND, "e,f;g=h", "a_b_c_d;desc=\"e,f;g=h\"" },
    { "x", ND, "say \"hi\" \\o/", "x;desc=\"say \\\"hi\\\" \\\\o/\"" },
    { "x", ND, "\\", "x;desc=\"\\\\\"" },
    { "x", ND, "\"", "x;desc=\"\\\"\"" },
    { "x", ND, "\"\"", "x;desc=\"\\\"\\\"\"" },
    { "x", ND, "a\r\nb\tc\x7f", "x;desc=\"a  b\tc \"" },
    { "x", ND, "\t", "x;desc=\"\t\"" },
    { "x", ND, "a\tb\t\"\t", "x;desc=\"a\tb\t\\\"\t\"" },
    { "x", ND, "\x80\xff ~!", "x;desc=\"\x80\xff ~!\"" },
    { "x", ND, "\r\n", "x;desc=\"  \"" },
    { "x\r\nSet-Cookie: a=b", ND, NULL, "x__Set-Cookie__a_b" },
    { "x", ND, "caf\xc3\xa9", "x;desc=\"caf\xc3\xa9\"" },
    { "caf\xc3\xa9", 1, NULL, "caf__;dur=0.001" },
    { "\"", ND, NULL, "_" },
    { ";", 0, ";", "_;dur=0;desc=\";\"" },
    { ",", ND, ",", "_;desc=\",\"" },
    { "=", ND, "=", "_;desc=\"=\"" },
    { "(){}[]<>@:/?", ND, "(){}[]<>@:/?", "____________;desc=\"(){}[]<>@:/?\"" },
    { "!#$%&'*+-.^_`|~09AZaz", ND, "!#$%&'*+-.^_`|~09AZaz",
      "!#$%&'*+-.^_`|~09AZaz;desc=!#$%&'*+-.^_`|~09AZaz" },
    { "dur", 1, "desc", "dur;dur=0.001;desc=desc" },
    { "desc", ND, "dur=1", "desc;desc=\"dur=1\"" },
    { "x", ND, "a;;b", "x;desc=\"a;;b\"" },
    { "x", APR_INT64_MAX, NULL, "x;dur=9223372036854775.807" },
};

START_TEST(add_table)
{
    prof_st_buf_t b;
    char buf[256];

    prof_st_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(prof_st_add(&b, add_cases[_i].name, add_cases[_i].dur,
                                 add_cases[_i].desc), 1);
    ck_assert_str_eq(buf, add_cases[_i].want);
    ck_assert_uint_eq(b.entries, 1);
    ck_assert_uint_eq(b.dropped, 0);
    check_value(&b);
    check_entry(0, add_cases[_i].name, add_cases[_i].dur, add_cases[_i].desc);
}
END_TEST

START_TEST(add_list)
{
    prof_st_buf_t b;
    char buf[256];
    int i;

    prof_st_init(&b, buf, sizeof(buf));
    for (i = 0; i < 4; ++i) {
        ck_assert(prof_st_add(&b, add_cases[i].name, add_cases[i].dur,
                              add_cases[i].desc));
        check_value(&b);
    }
    ck_assert_str_eq(buf, "cache;dur=1.204, cache;desc=hit, cache, "
                          "db;dur=0;desc=\"\"");
    ck_assert_uint_eq(b.entries, 4);
    ck_assert_uint_eq(b.dropped, 0);
    for (i = 0; i < 4; ++i) {
        check_entry(i, add_cases[i].name, add_cases[i].dur, add_cases[i].desc);
    }
}
END_TEST

/* An entry with no name cannot be written: dropped, counted, and no trace
 * of it in the value (no empty list element). */
START_TEST(add_empty_name)
{
    prof_st_buf_t b;
    char buf[64];

    prof_st_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(prof_st_add(&b, "", 5, "x"), 0);
    ck_assert_int_eq(prof_st_add(&b, NULL, 5, "x"), 0);
    ck_assert_str_eq(buf, "");
    ck_assert_uint_eq(b.dropped, 2);
    ck_assert_uint_eq(b.entries, 0);
    ck_assert(prof_st_add(&b, "a", ND, NULL));
    ck_assert_int_eq(prof_st_add(&b, "", ND, NULL), 0);
    ck_assert(prof_st_add(&b, "b", ND, NULL));
    ck_assert_str_eq(buf, "a, b");
    ck_assert_uint_eq(b.dropped, 3);
    ck_assert_uint_eq(b.entries, 2);
    check_value(&b);
}
END_TEST

/* Every byte as a whole name, and inside one. */
START_TEST(name_every_byte)
{
    unsigned char c = (unsigned char)_i;
    char one[2] = { (char)c, '\0' };
    char mid[4] = { 'a', (char)c, 'b', '\0' };
    prof_st_buf_t b;
    char buf[64];

    prof_st_init(&b, buf, sizeof(buf));
    ck_assert_int_eq(prof_st_add(&b, one, 1, NULL), c != 0);
    ck_assert(prof_st_add(&b, mid, ND, NULL));
    check_value(&b);
    ck_assert_uint_eq(b.dropped, c == 0);
    if (c != 0) {
        check_entry(0, one, 1, NULL);
        ck_assert_str_eq(pv.e[0].name, ref_tchar(c) ? one : "_");
    }
    check_entry(c != 0, mid, ND, NULL);
}
END_TEST

/* Every byte as a whole description, and inside one. NUL as a whole one is
 * the empty description, which must still be written, as "". */
START_TEST(desc_every_byte)
{
    unsigned char c = (unsigned char)_i;
    char one[2] = { (char)c, '\0' };
    char mid[4] = { 'a', (char)c, 'b', '\0' };
    char three[4] = { (char)c, (char)c, (char)c, '\0' };
    prof_st_buf_t b;
    char buf[128];

    prof_st_init(&b, buf, sizeof(buf));
    ck_assert(prof_st_add(&b, "one", ND, one));
    ck_assert(prof_st_add(&b, "mid", 2, mid));
    ck_assert(prof_st_add(&b, "three", ND, three));
    check_value(&b);
    ck_assert_uint_eq(b.entries, 3);
    check_entry(0, "one", ND, one);
    check_entry(1, "mid", 2, mid);
    check_entry(2, "three", ND, three);
    if (c == 0) {
        /* mid is cut at the NUL: "a" */
        ck_assert_str_eq(buf, "one;desc=\"\", mid;dur=0.002;desc=a, "
                              "three;desc=\"\"");
    }
    else if (!ref_qtext(c)) {
        ck_assert_str_eq(pv.e[0].desc, " ");
    }
    else {
        ck_assert_mem_eq(pv.e[0].desc, one, 2);
    }
}
END_TEST

/* Hostile text of every non-NUL byte, over and over. */
static void fill_hostile(char *s, size_t len, unsigned start)
{
    size_t i;

    for (i = 0; i < len; ++i) {
        s[i] = (char)(1 + (start + i) % 255);
    }
    s[len] = '\0';
}

#define BIG (10 * 1024)

/* A 10 KB name and a 10 KB description: written whole when there is room,
 * dropped whole when there is one byte too little, and what was there
 * before survives, as does room for a small entry after. */
static const int big_room[] = { 0, -1, 1 };   /* exact, one short, spare */

START_TEST(add_big)
{
    static char name[BIG + 1], desc[BIG + 1];
    prof_st_buf_t b;
    apr_size_t need, size;
    char *mem;
    int fits = big_room[_i] >= 0;

    fill_hostile(name, BIG, 0);
    fill_hostile(desc, BIG, 7);

    /* How long the big entry is, on its own. */
    size = 4 * BIG;
    mem = buf_new(size);
    prof_st_init(&b, mem, size);
    ck_assert(prof_st_add(&b, name, 123456, desc));
    check_value(&b);
    check_entry(0, name, 123456, desc);
    need = b.len;
    ck_assert_uint_gt(need, 2 * BIG);
    buf_free(mem, size);

    /* "first, " + the big entry, in a cap of exactly that +/- one. */
    size = strlen("first, ") + need + 1 + (apr_size_t)big_room[_i];
    mem = buf_new(size);
    prof_st_init(&b, mem, size);
    ck_assert(prof_st_add(&b, "first", ND, NULL));
    ck_assert_int_eq(prof_st_add(&b, name, 123456, desc), fits);
    check_value(&b);
    if (fits) {
        ck_assert_uint_eq(b.len, strlen("first, ") + need);
        check_entry(1, name, 123456, desc);
        ck_assert_int_eq(prof_st_add(&b, "z", ND, NULL), big_room[_i] >= 3);
    }
    else {
        ck_assert_str_eq(mem, "first");
        ck_assert_uint_eq(b.dropped, 1);
        ck_assert(prof_st_add(&b, "last", ND, NULL));
        ck_assert_str_eq(mem, "first, last");
    }
    check_value(&b);
    buf_free(mem, size);
}
END_TEST

/* ------------------------------------------------------------------ cap */

START_TEST(cap_zero)
{
    prof_st_buf_t b;
    char *mem = buf_new(1);

    prof_st_init(&b, mem, 1);
    ck_assert_uint_eq(b.cap, 0);
    ck_assert_int_eq(prof_st_add(&b, "a", ND, NULL), 0);
    ck_assert_int_eq(prof_st_add(&b, "a", 0, ""), 0);
    ck_assert_str_eq(mem, "");
    ck_assert_uint_eq(b.dropped, 2);
    check_value(&b);
    buf_free(mem, 1);
}
END_TEST

START_TEST(cap_one)
{
    prof_st_buf_t b;
    char *mem = buf_new(2);

    prof_st_init(&b, mem, 2);
    ck_assert_int_eq(prof_st_add(&b, "ab", ND, NULL), 0);
    ck_assert_str_eq(mem, "");
    ck_assert(prof_st_add(&b, "a", ND, NULL));
    ck_assert_str_eq(mem, "a");
    ck_assert_int_eq(prof_st_add(&b, "b", ND, NULL), 0);  /* ", b" */
    ck_assert_str_eq(mem, "a");
    ck_assert_uint_eq(b.entries, 1);
    ck_assert_uint_eq(b.dropped, 2);
    check_value(&b);
    buf_free(mem, 2);
}
END_TEST

/* cap 10: a 10-byte entry fits exactly; 11 bytes do not. */
START_TEST(cap_ten)
{
    prof_st_buf_t b;
    char *mem = buf_new(11);

    prof_st_init(&b, mem, 11);
    ck_assert_int_eq(prof_st_add(&b, "abcde", 0, NULL), 0);   /* 11 */
    ck_assert_str_eq(mem, "");
    ck_assert_int_eq(prof_st_add(&b, "abcd", ND, "\"x"), 0);  /* 15 */
    ck_assert(prof_st_add(&b, "abcd", 0, NULL));              /* 10 */
    ck_assert_str_eq(mem, "abcd;dur=0");
    ck_assert_uint_eq(b.len, 10);
    ck_assert_int_eq(prof_st_add(&b, "a", ND, NULL), 0);
    ck_assert_uint_eq(b.dropped, 3);
    ck_assert_uint_eq(b.entries, 1);
    check_value(&b);
    buf_free(mem, 11);

    mem = buf_new(11);
    prof_st_init(&b, mem, 11);
    ck_assert(prof_st_add(&b, "abc", ND, NULL));
    ck_assert(prof_st_add(&b, "def", ND, NULL));             /* "abc, def" */
    ck_assert_int_eq(prof_st_add(&b, "g", ND, NULL), 0);     /* 11 */
    ck_assert_str_eq(mem, "abc, def");
    check_value(&b);
    buf_free(mem, 11);
}
END_TEST

/* A dropped entry leaves the buffer as it was, terminated where it was,
 * even after the writer had got as far as the separator. */
START_TEST(drop_restores_nul)
{
    prof_st_buf_t b;
    char *mem = buf_new(16);

    prof_st_init(&b, mem, 16);
    ck_assert(prof_st_add(&b, "a", ND, NULL));
    ck_assert_int_eq(prof_st_add(&b, "bbbbbbbbbbbbbbbbbbbbbbbb", ND, NULL),
                     0);
    ck_assert_int_eq(mem[1], '\0');
    ck_assert_uint_eq(b.len, 1);
    ck_assert_int_eq(prof_st_add(&b, "ccccc", ND, "dd dd dd"), 0);
    ck_assert_int_eq(mem[1], '\0');
    check_value(&b);
    buf_free(mem, 16);
}
END_TEST

/* A big entry that does not fit does not stop a small one after it. */
START_TEST(small_after_big)
{
    prof_st_buf_t b;
    char name[101];
    char *mem = buf_new(21);

    memset(name, 'n', 100);
    name[100] = '\0';
    prof_st_init(&b, mem, 21);
    ck_assert(prof_st_add(&b, "a", ND, NULL));
    ck_assert_int_eq(prof_st_add(&b, name, 5, NULL), 0);
    ck_assert(prof_st_add(&b, "b", 5, NULL));
    ck_assert_str_eq(mem, "a, b;dur=0.005");
    ck_assert_uint_eq(b.dropped, 1);
    ck_assert_uint_eq(b.entries, 2);
    check_value(&b);
    buf_free(mem, 21);
}
END_TEST

/*
 * The model of the cap: each entry, formatted alone, is written iff it fits
 * after what is there ("" or value ", "); otherwise it is dropped whole.
 * run_model() computes that from the entries formatted one by one (each
 * checked on its own), then writes them all into an exact-size buffer of
 * the given cap and compares byte for byte after every add.
 */
typedef struct {
    const char *name;
    apr_interval_time_t dur;
    const char *desc;
} st_in_t;

#define MODEL_MAX 16
#define ALONE_MAX 512

static void run_model(const st_in_t *in, int n, apr_size_t cap)
{
    static char alone[ALONE_MAX], want[MODEL_MAX * (ALONE_MAX + 2)];
    apr_size_t want_len = 0;
    unsigned want_entries = 0, want_dropped = 0;
    prof_st_buf_t one, b;
    char *mem = buf_new(cap + 1);
    int i, ok, want_ok;

    ck_assert_int_le(n, MODEL_MAX);
    want[0] = '\0';
    prof_st_init(&b, mem, cap + 1);
    for (i = 0; i < n; ++i) {
        prof_st_init(&one, alone, sizeof(alone));
        want_ok = prof_st_add(&one, in[i].name, in[i].dur, in[i].desc);
        ck_assert_int_eq(want_ok, in[i].name && in[i].name[0]);
        check_value(&one);
        if (want_ok) {
            check_entry(0, in[i].name, in[i].dur, in[i].desc);
            want_ok = want_len + (want_entries ? 2 : 0) + one.len <= cap;
        }
        if (want_ok) {
            if (want_entries) {
                memcpy(want + want_len, ", ", 2);
                want_len += 2;
            }
            memcpy(want + want_len, alone, one.len + 1);
            want_len += one.len;
            want_entries++;
        }
        else {
            want_dropped++;
        }

        ok = prof_st_add(&b, in[i].name, in[i].dur, in[i].desc);
        ck_assert_msg(ok == want_ok, "entry %d at cap %zu: add returned %d",
                      i, (size_t)cap, ok);
        ck_assert_str_eq(mem, want);
        ck_assert_uint_eq(b.entries, want_entries);
        ck_assert_uint_eq(b.dropped, want_dropped);
        check_value(&b);
    }
    buf_free(mem, cap + 1);
}

static const st_in_t sweep_in[] = {
    { "read", 12, NULL },
    { "a b", ND, "q\"d" },
    { "handler", 123456789, "x" },
    { "", 5, NULL },
    { "x", 0, "" },
    { "z", ND, NULL },
    { "body\r\n", 1, "\x01\xff" },
    { "y", ND, NULL },
};

/* Every cap from 0 to past the whole value: exact fits, one short, and
 * everything in between. */
START_TEST(cap_sweep)
{
    int n = (int)(sizeof(sweep_in) / sizeof(sweep_in[0]));
    prof_st_buf_t b;
    char buf[1024];
    apr_size_t cap;
    int i;

    prof_st_init(&b, buf, sizeof(buf));
    for (i = 0; i < n; ++i) {
        prof_st_add(&b, sweep_in[i].name, sweep_in[i].dur, sweep_in[i].desc);
    }
    ck_assert_uint_eq(b.entries, (unsigned)n - 1);
    for (cap = 0; cap <= b.len + 2; ++cap) {
        run_model(sweep_in, n, cap);
    }
}
END_TEST

/* Random entries of hostile bytes, at random caps, against the model. */
static char hostile_byte(uint64_t *rs)
{
    static const char special[] = "\"\\,;= \t\r\n\x7f\x01\x1f\x80\xff\xc3\xa9"
                                  "aZ0.-_";
    uint64_t r = unit_rand(rs);

    if (r % 3 == 0) {
        return special[(r >> 8) % (sizeof(special) - 1)];
    }
    return (char)(1 + (r >> 8) % 255);
}

static void random_text(uint64_t *rs, char *s, size_t max)
{
    size_t len = (size_t)(unit_rand(rs) % max), i;

    for (i = 0; i < len; ++i) {
        s[i] = hostile_byte(rs);
    }
    s[len] = '\0';
}

static apr_interval_time_t random_dur(uint64_t *rs)
{
    uint64_t r = unit_rand(rs);

    switch (r % 6) {
    case 0:  return PROF_ST_NO_DUR;
    case 1:  return -(apr_interval_time_t)((r >> 8) % 100000) - 1;
    case 2:  return 0;
    case 3:  return (apr_interval_time_t)((r >> 8) % 10000);
    case 4:  return APR_INT64_MAX;
    default: return (apr_interval_time_t)(unit_rand(rs) >> (1 + (r >> 8) % 63));
    }
}

START_TEST(random_entries)
{
    static char names[MODEL_MAX][40], descs[MODEL_MAX][40];
    uint64_t rs = unit_seed(_i);
    st_in_t in[MODEL_MAX];
    int n = 1 + (int)(unit_rand(&rs) % MODEL_MAX), i;
    apr_size_t cap = (apr_size_t)(unit_rand(&rs) % 400);

    for (i = 0; i < n; ++i) {
        uint64_t r = unit_rand(&rs);

        random_text(&rs, names[i], r % 5 == 0 ? 2 : sizeof(names[i]));
        random_text(&rs, descs[i], sizeof(descs[i]));
        in[i].name = names[i];
        in[i].dur = random_dur(&rs);
        in[i].desc = (r >> 8) % 4 == 0 ? NULL
                     : (r >> 8) % 4 == 1 ? "" : descs[i];
    }
    run_model(in, n, cap);
}
END_TEST

/* The fast path for our own entries must write exactly what the checked
 * path writes, for every cap, separator state and duration. */
START_TEST(token_dur_matches_checked_path)
{
    static const char *const names[] = { "read", "postread", "translate",
                                          "x", "total" };
    static const apr_interval_time_t fixed[] = {
        -5, 0, 1, 9, 10, 999, 1000, 1001, 9999, 10000, 123456789,
        INT64_MAX / 2, INT64_MAX
    };
    uint64_t rng = 0x5eed;
    int round;

    for (round = 0; round < 3000; ++round) {
        char a[96], bb[96];
        prof_st_buf_t sa, sb;
        const char *name = names[round % 5];
        apr_interval_time_t d;
        size_t cap = (size_t)(unit_rand(&rng) % 80) + 1;
        int pre = (int)(unit_rand(&rng) % 3), i, ra, rb;

        d = round < 13 * 5 ? fixed[round / 5]
                           : (apr_interval_time_t)(unit_rand(&rng) >> (unit_rand(&rng) % 64));
        prof_st_init(&sa, a, cap);
        prof_st_init(&sb, bb, cap);
        for (i = 0; i < pre; ++i) {       /* 0-2 entries already there */
            prof_st_add(&sa, "p", 1, NULL);
            prof_st_add(&sb, "p", 1, NULL);
        }
        ra = prof_st_add(&sa, name, d, NULL);
        rb = prof_st_add_token_dur(&sb, name, strlen(name), d);
        ck_assert_int_eq(ra, rb);
        ck_assert_str_eq(a, bb);
        ck_assert_uint_eq(sa.len, sb.len);
        ck_assert_uint_eq(sa.entries, sb.entries);
        ck_assert_uint_eq(sa.dropped, sb.dropped);
        ck_assert_uint_eq(strlen(bb), sb.len);
    }
}
END_TEST

/* A buffer with no room even for the NUL is never written to. */
START_TEST(init_size_zero_writes_nothing)
{
    prof_st_buf_t b;
    char guard[4] = { 'x', 'x', 'x', 'x' };

    prof_st_init(&b, guard, 0);
    ck_assert_int_eq(prof_st_add(&b, "a", 1, NULL), 0);
    ck_assert_int_eq(prof_st_add(&b, "b", PROF_ST_NO_DUR, "d"), 0);
    ck_assert_uint_eq(b.dropped, 2);
    ck_assert_uint_eq(b.entries, 0);
    ck_assert_uint_eq(b.len, 0);
    ck_assert(memcmp(guard, "xxxx", 4) == 0);
}
END_TEST

Suite *prof_st_suite(void)
{
    Suite *s = suite_create("prof_st");
    TCase *tc;

    tc = tcase_create("parser");
    tcase_add_loop_test(tc, parser_rejects, 0,
                        (int)(sizeof(parse_bad) / sizeof(parse_bad[0])));
    tcase_add_loop_test(tc, parser_accepts, 0,
                        (int)(sizeof(parse_good) / sizeof(parse_good[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("empty");
    tcase_add_test(tc, init_size_zero_writes_nothing);
    tcase_add_test(tc, token_dur_matches_checked_path);
    suite_add_tcase(s, tc);

    tc = tcase_create("dur");
    tcase_add_loop_test(tc, dur_table, 0, N_DUR_CASES);
    tcase_add_loop_test(tc, dur_against_reference, 0, 20);
    tcase_add_test(tc, dur_locale_independent);
    suite_add_tcase(s, tc);

    tc = tcase_create("token");
    tcase_add_loop_test(tc, tchar_every_byte, 0, 256);
    tcase_add_loop_test(tc, token_table, 0,
                        (int)(sizeof(token_cases) / sizeof(token_cases[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("entry");
    tcase_add_test(tc, init_empty);
    tcase_add_loop_test(tc, add_table, 0,
                        (int)(sizeof(add_cases) / sizeof(add_cases[0])));
    tcase_add_test(tc, add_list);
    tcase_add_test(tc, add_empty_name);
    tcase_add_loop_test(tc, name_every_byte, 0, 256);
    tcase_add_loop_test(tc, desc_every_byte, 0, 256);
    tcase_add_loop_test(tc, add_big, 0,
                        (int)(sizeof(big_room) / sizeof(big_room[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("cap");
    tcase_add_test(tc, cap_zero);
    tcase_add_test(tc, cap_one);
    tcase_add_test(tc, cap_ten);
    tcase_add_test(tc, drop_restores_nul);
    tcase_add_test(tc, small_after_big);
    tcase_add_test(tc, cap_sweep);
    tcase_add_loop_test(tc, random_entries, 0, 500);
    suite_add_tcase(s, tc);
    return s;
}
