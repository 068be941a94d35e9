/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the Server-Timing parser (src/prof_st_parse.c).
 *
 * The table starts with the inputs of the web-platform-tests cases
 * server-timing/resources/parsing/0..84 (the number is in each comment),
 * with the result a browser exposes written out again here as {name, dur,
 * desc} plus whether dur and desc were present, which the WPT cases do not
 * show but the parser reports. Our own cases follow: the corners the WPT
 * cases leave open (numbers, NUL and 8-bit bytes, quotes in junk), each
 * decided as prof_st_parse.h documents.
 *
 * Every input is handed to the parser in a malloc()ed block of exactly its
 * length, with no NUL after it, and freed before the entries are looked at:
 * ASan then catches a read past the end and an entry that points into the
 * input instead of the pool. The bounds are also checked with a guard page,
 * so that the plain run catches a read past PROF_ST_PARSE_MAX_INPUT as well.
 *
 * Linear time is checked by counting, not by a clock: the parser reports how
 * many times it looked at an input byte, and that must stay within a small
 * multiple of the input length, for inputs built to be worst cases.
 */

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "prof_st.h"
#include "prof_st_parse.h"
#include "unit.h"

/* Reads per input byte the parser may not exceed, plus a constant for the
 * empty input. A quadratic parser exceeds it by orders of magnitude on the
 * worst cases below (16 KB: thousands of reads per byte). */
#define READS_PER_BYTE 6
#define READS_CONST    16


/* RFC 9110 5.6.2 tchar, written out again rather than taken from the core. */
static int ref_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
        || (c >= 'a' && c <= 'z')) {
        return 1;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_finite(double d)
{
    return d == d && d - d == 0.0;
}

static apr_array_header_t *new_out(void)
{
    return apr_array_make(unit_pool, 4, sizeof(prof_st_entry_t));
}

static const prof_st_entry_t *entry(const apr_array_header_t *a, int i)
{
    return &APR_ARRAY_IDX(a, i, prof_st_entry_t);
}

/* What must hold for every entry the parser returns. */
static void check_entries(const apr_array_header_t *a, int from)
{
    int i;

    ck_assert_int_le(a->nelts - from, PROF_ST_PARSE_MAX_ENTRIES);
    for (i = from; i < a->nelts; ++i) {
        const prof_st_entry_t *e = entry(a, i);
        const char *s;

        ck_assert_ptr_nonnull(e->name);
        ck_assert_msg(e->name[0] != '\0', "entry %d has an empty name", i);
        for (s = e->name; *s; ++s) {
            ck_assert_msg(ref_tchar((unsigned char)*s), "entry %d: name "
                          "byte 0x%02x is no tchar", i, (unsigned char)*s);
        }
        ck_assert(e->has_dur == 0 || e->has_dur == 1);
        ck_assert(e->has_desc == 0 || e->has_desc == 1);
        ck_assert_msg(is_finite(e->dur_ms), "entry %d: dur not finite", i);
        if (!e->has_dur) {
            ck_assert(e->dur_ms == 0.0);
        }
        ck_assert_ptr_nonnull(e->desc);
        if (!e->has_desc) {
            ck_assert_str_eq(e->desc, "");
        }
    }
}

/*
 * Parse s[0..len) from a block of exactly len bytes, freed again before the
 * caller sees the entries. Checks the invariants and the read count.
 */
static apr_status_t parse_exact(const char *s, size_t len,
                                apr_array_header_t *out, apr_size_t *reads)
{
    char *mem = malloc(len ? len : 1);
    apr_size_t n = 0, looked;
    apr_status_t rv;
    int before = out->nelts;

    ck_assert_ptr_nonnull(mem);
    if (len) {
        memcpy(mem, s, len);
    }
    rv = prof_st_parse_counted(unit_pool, len ? mem : NULL, len, out, &n);
    free(mem);
    ck_assert_msg(rv == APR_SUCCESS || rv == APR_INCOMPLETE, "rv %d", rv);
    if (len > PROF_ST_PARSE_MAX_INPUT) {
        ck_assert_int_eq(rv, APR_INCOMPLETE);
    }
    else if (rv == APR_INCOMPLETE) {    /* only the entry cap can say so */
        ck_assert_int_eq(out->nelts - before, PROF_ST_PARSE_MAX_ENTRIES);
    }
    looked = len > PROF_ST_PARSE_MAX_INPUT ? PROF_ST_PARSE_MAX_INPUT : len;
    ck_assert_msg(n <= READS_PER_BYTE * looked + READS_CONST, "%zu reads "
                  "for %zu bytes", (size_t)n, (size_t)looked);
    check_entries(out, before);
    if (reads) {
        *reads = n;
    }
    return rv;
}

/* ---------------------------------------------------------- round trip */

/* got is want with every byte a quoted-string cannot hold (a control byte
 * other than HTAB) a space, as prof_st_add() maps: a round trip keeps every
 * valid quoted-string byte for byte, tabs included. */
static int desc_maps(const char *got, const char *want)
{
    for (; *want; ++want, ++got) {
        unsigned char c = (unsigned char)*want;
        char m = ((c < 0x20 && c != '\t') || c == 0x7f) ? ' ' : *want;

        if (*got != m) {
            return 0;
        }
    }
    return *got == '\0';
}

/* Big enough for what any window of input can parse into, written back:
 * names and descs at most doubled by escaping, plus 128 entries' worth of
 * ";dur=...;desc=\"\"" and separators. */
#define RT_SIZE (4 * PROF_ST_PARSE_MAX_INPUT + 64 * PROF_ST_PARSE_MAX_ENTRIES)

/* Write a's entries with prof_st_add(), parse that, and compare. */
static void check_round_trip(const apr_array_header_t *a)
{
    static char buf[RT_SIZE];
    apr_array_header_t *b2 = new_out();
    prof_st_buf_t b;
    apr_status_t rv;
    int i;

    prof_st_init(&b, buf, sizeof(buf));
    for (i = 0; i < a->nelts; ++i) {
        const prof_st_entry_t *e = entry(a, i);

        ck_assert(prof_st_add(&b, e->name, e->has_dur
                              ? prof_st_entry_dur_us(e) : PROF_ST_NO_DUR,
                              e->has_desc ? e->desc : NULL));
    }
    rv = parse_exact(buf, b.len, b2, NULL);
    if (b.len <= PROF_ST_PARSE_MAX_INPUT
        && a->nelts <= PROF_ST_PARSE_MAX_ENTRIES) {
        ck_assert_int_eq(rv, APR_SUCCESS);
        ck_assert_int_eq(b2->nelts, a->nelts);
    }
    else {
        ck_assert_int_eq(rv, APR_INCOMPLETE);
        ck_assert_int_le(b2->nelts, a->nelts);
    }
    for (i = 0; i < b2->nelts; ++i) {
        const prof_st_entry_t *x = entry(a, i), *y = entry(b2, i);

        ck_assert_str_eq(y->name, x->name);
        ck_assert_int_eq(y->has_dur, x->has_dur);
        ck_assert_int_eq(y->has_desc, x->has_desc);
        ck_assert_msg(desc_maps(y->desc, x->desc), "desc \"%.80s\" came "
                      "back as \"%.80s\"", x->desc, y->desc);
        ck_assert_int_eq(prof_st_entry_dur_us(y), prof_st_entry_dur_us(x));
    }
}

/* --------------------------------------------------------------- table */

typedef struct {
    const char *name;       /* NULL ends the list */
    int has_dur;
    double dur;
    int has_desc;
    const char *desc;
} want_t;

#define MAX_WANT 6

typedef struct {
    const char *in;
    size_t len;
    want_t e[MAX_WANT + 1];
} pcase_t;

/* A literal and its length, NUL bytes inside it included. */
#define IN(s) s, sizeof(s) - 1
#define N(nm)         { nm, 0, 0, 0, NULL }
#define D(nm, d)      { nm, 1, d, 0, NULL }
#define S(nm, s)      { nm, 0, 0, 1, s }
#define DS(nm, d, s)  { nm, 1, d, 1, s }

static const pcase_t cases[] = {
    /* ---- web-platform-tests server-timing/resources/parsing/N */
    /* 0 */  { IN(""), { { NULL } } },
    /* 1 */  { IN("metric"), { N("metric") } },
    /* 2 */  { IN("metric;dur=123.4"), { D("metric", 123.4) } },
    /* 3 */  { IN("metric;dur=\"123.4\""), { D("metric", 123.4) } },
    /* 4 */  { IN("metric;desc=description"),
               { S("metric", "description") } },
    /* 5 */  { IN("metric;desc=\"description\""),
               { S("metric", "description") } },
    /* 6 */  { IN("metric;dur=123.4;desc=description"),
               { DS("metric", 123.4, "description") } },
    /* 7 */  { IN("metric;desc=description;dur=123.4"),
               { DS("metric", 123.4, "description") } },
    /* 8 */  { IN("aB3!#$%&'*+-.^_`|~"), { N("aB3!#$%&'*+-.^_`|~") } },
    /* 9 */  { IN("metric;desc=\"descr;,=iption\";dur=123.4"),
               { DS("metric", 123.4, "descr;,=iption") } },
    /* 10 */ { IN("metric ; "), { N("metric") } },
    /* 11 */ { IN("metric , "), { N("metric") } },
    /* 12 */ { IN("metric ; dur = 123.4 ; desc = description"),
               { DS("metric", 123.4, "description") } },
    /* 13 */ { IN("metric ; desc = description ; dur = 123.4"),
               { DS("metric", 123.4, "description") } },
    /* 14 */ { IN("metric;desc = \"description\""),
               { S("metric", "description") } },
    /* 15 */ { IN("metric1;dur=12.3;desc=description1,metric2;dur=45.6;"
                  "desc=description2,metric3;dur=78.9;desc=description3"),
               { DS("metric1", 12.3, "description1"),
                 DS("metric2", 45.6, "description2"),
                 DS("metric3", 78.9, "description3") } },
    /* 16 */ { IN("metric1,metric2 ,metric3, metric4 , metric5"),
               { N("metric1"), N("metric2"), N("metric3"), N("metric4"),
                 N("metric5") } },
    /* 17 is 5 again */
    /* 18 */ { IN("metric;desc=\"\t description \t\""),
               { S("metric", "\t description \t") } },
    /* 19 */ { IN("metric;desc=\"descr\\\"iption\""),
               { S("metric", "descr\"iption") } },
    /* 20-49: every string of one to four '\' and '"' after "desc=" */
    /* 20 */ { IN("metric;desc=\\"), { S("metric", "") } },
    /* 21 */ { IN("metric;desc=\""), { S("metric", "") } },
    /* 22 */ { IN("metric;desc=\\\\"), { S("metric", "") } },
    /* 23 */ { IN("metric;desc=\\\""), { S("metric", "") } },
    /* 24 */ { IN("metric;desc=\"\\"), { S("metric", "") } },
    /* 25 */ { IN("metric;desc=\"\""), { S("metric", "") } },
    /* 26 */ { IN("metric;desc=\\\\\\"), { S("metric", "") } },
    /* 27 */ { IN("metric;desc=\\\\\""), { S("metric", "") } },
    /* 28 */ { IN("metric;desc=\\\"\\"), { S("metric", "") } },
    /* 29 */ { IN("metric;desc=\\\"\""), { S("metric", "") } },
    /* 30 */ { IN("metric;desc=\"\\\\"), { S("metric", "") } },
    /* 31 */ { IN("metric;desc=\"\\\""), { S("metric", "") } },
    /* 32 */ { IN("metric;desc=\"\"\\"), { S("metric", "") } },
    /* 33 */ { IN("metric;desc=\"\"\""), { S("metric", "") } },
    /* 34 */ { IN("metric;desc=\\\\\\\\"), { S("metric", "") } },
    /* 35 */ { IN("metric;desc=\\\\\\\""), { S("metric", "") } },
    /* 36 */ { IN("metric;desc=\\\\\"\\"), { S("metric", "") } },
    /* 37 */ { IN("metric;desc=\\\\\"\""), { S("metric", "") } },
    /* 38 */ { IN("metric;desc=\\\"\\\\"), { S("metric", "") } },
    /* 39 */ { IN("metric;desc=\\\"\\\""), { S("metric", "") } },
    /* 40 */ { IN("metric;desc=\\\"\"\\"), { S("metric", "") } },
    /* 41 */ { IN("metric;desc=\\\"\"\""), { S("metric", "") } },
    /* 42 */ { IN("metric;desc=\"\\\\\\"), { S("metric", "") } },
    /* 43 */ { IN("metric;desc=\"\\\\\""), { S("metric", "\\") } },
    /* 44 */ { IN("metric;desc=\"\\\"\\"), { S("metric", "") } },
    /* 45 */ { IN("metric;desc=\"\\\"\""), { S("metric", "\"") } },
    /* 46 */ { IN("metric;desc=\"\"\\\\"), { S("metric", "") } },
    /* 47 */ { IN("metric;desc=\"\"\\\""), { S("metric", "") } },
    /* 48 */ { IN("metric;desc=\"\"\"\\"), { S("metric", "") } },
    /* 49 */ { IN("metric;desc=\"\"\"\""), { S("metric", "") } },
    /* 50 */ { IN("metric;dur=12.3;desc=description1,metric;dur=45.6;"
                  "desc=description2"),
               { DS("metric", 12.3, "description1"),
                 DS("metric", 45.6, "description2") } },
    /* 51 */ { IN("metric;DuR=123.4;DeSc=description"),
               { DS("metric", 123.4, "description") } },
    /* 52 */ { IN("MeTrIc;desc=DeScRiPtIoN"),
               { S("MeTrIc", "DeScRiPtIoN") } },
    /* 53 */ { IN("metric;dur=foo"), { D("metric", 0) } },
    /* 54 */ { IN("metric;dur=\"foo\""), { D("metric", 0) } },
    /* 55 */ { IN("metric1;foo=bar;desc=description;foo=bar;dur=123.4;"
                  "foo=bar,metric2"),
               { DS("metric1", 123.4, "description"), N("metric2") } },
    /* 56 */ { IN("metric;dur=123.4;dur=567.8"), { D("metric", 123.4) } },
    /* 57 */ { IN("metric;dur=foo;dur=567.8"), { D("metric", 0) } },
    /* 58 */ { IN("metric;desc=description1;desc=description2"),
               { S("metric", "description1") } },
    /* 59 */ { IN("metric;dur;dur=123.4;desc=description"),
               { DS("metric", 0, "description") } },
    /* 60 */ { IN("metric;dur=;dur=123.4;desc=description"),
               { DS("metric", 0, "description") } },
    /* 61 */ { IN("metric;desc;desc=description;dur=123.4"),
               { DS("metric", 123.4, "") } },
    /* 62 */ { IN("metric;desc=;desc=description;dur=123.4"),
               { DS("metric", 123.4, "") } },
    /* 63 */ { IN("metric;desc=d1 d2;dur=123.4"),
               { DS("metric", 123.4, "d1") } },
    /* 64 */ { IN("metric1;desc=d1 d2,metric2"),
               { S("metric1", "d1"), N("metric2") } },
    /* 65 */ { IN("metric;desc=\"d1\" d2;dur=123.4"),
               { DS("metric", 123.4, "d1") } },
    /* 66 */ { IN("metric1;desc=\"d1\" d2,metric2"),
               { S("metric1", "d1"), N("metric2") } },
    /* 67 */ { IN("metric==   \"\"foo;dur=123.4"), { D("metric", 123.4) } },
    /* 68 */ { IN("metric1==   \"\"foo,metric2"),
               { N("metric1"), N("metric2") } },
    /* 69 */ { IN("metric;dur foo=12"), { D("metric", 0) } },
    /* 70 */ { IN("metric;foo dur=12"), { N("metric") } },
    /* 71 */ { IN(" "), { { NULL } } },
    /* 72 */ { IN("="), { { NULL } } },
    /* 73 */ { IN("["), { { NULL } } },
    /* 74 */ { IN("]"), { { NULL } } },
    /* 75 */ { IN(";"), { { NULL } } },
    /* 76 */ { IN(","), { { NULL } } },
    /* 77 */ { IN("=;"), { { NULL } } },
    /* 78 */ { IN(";="), { { NULL } } },
    /* 79 */ { IN("=,"), { { NULL } } },
    /* 80 */ { IN(",="), { { NULL } } },
    /* 81 */ { IN(";,"), { { NULL } } },
    /* 82 */ { IN(",;"), { { NULL } } },
    /* 83 */ { IN("=;,"), { { NULL } } },
    /* 84 */ { IN("metric;\tdesc=\ttabs-should-get-trimmed\t;dur=\t42\t"),
               { DS("metric", 42, "tabs-should-get-trimmed") } },
    /* Chromium's own test lets '{' and '}' through as tchars and says it
     * should not: RFC 9110 has neither. */
    { IN("{"), { { NULL } } },
    { IN("{}"), { { NULL } } },
    { IN("{\"foo\":\"bar\"},metric"), { N("metric") } },

    /* ---- list elements */
    { IN("a,,b"), { N("a"), N("b") } },
    { IN(",a,"), { N("a") } },
    { IN(" , ,\t, a ,\t"), { N("a") } },
    { IN("  "), { { NULL } } },
    { IN("\t"), { { NULL } } },
    { IN("a b c"), { N("a") } },
    { IN("a=1,b"), { N("a"), N("b") } },
    { IN("a;dur=1 , b;dur=2,c"), { D("a", 1), D("b", 2), N("c") } },
    { IN("\t a \t;\t dur \t=\t 1 \t;\tdesc\t=\t\"q\"\t,\tb\t"),
      { DS("a", 1, "q"), N("b") } },
    { IN("a ;dur=1"), { D("a", 1) } },
    { IN("a; dur =1"), { D("a", 1) } },
    /* a quoted-string in a nameless element hides its ',' */
    { IN("\"x,y\",b"), { N("b") } },
    { IN("=\"x,y\";dur=1,b;dur=2"), { D("b", 2) } },

    /* ---- quotes: ',' and ';' inside them, unterminated ones */
    { IN("a;desc=\"x,y\",b"), { S("a", "x,y"), N("b") } },
    { IN("a;desc=\"x;y\";dur=1"), { DS("a", 1, "x;y") } },
    { IN("a;desc=\"x, b"), { S("a", "") } },
    { IN("a,b;desc=\"unterminated,c;dur=1"), { N("a"), S("b", "") } },
    { IN("a;dur=1;desc=\"\\"), { DS("a", 1, "") } },
    { IN("a\"b,c\",d"), { N("a"), N("d") } },
    { IN("a;unknown=\"x;dur=5\";dur=6"), { D("a", 6) } },
    { IN("a;unknown=\"x,b\";dur=6"), { D("a", 6) } },
    { IN("a;desc=x\"y;z\";dur=1"), { DS("a", 1, "x") } },
    { IN("a;desc=\"\\\\x\""), { S("a", "\\x") } },
    { IN("a;desc=\"a\\b\\c\""), { S("a", "abc") } },
    { IN("a;desc=\"\""), { S("a", "") } },

    /* ---- parameter names and values */
    { IN("a;DUR=3;Dur=4"), { D("a", 3) } },
    { IN("a;DESC=x;desc=y"), { S("a", "x") } },
    { IN("a;desc=\"\";desc=x"), { S("a", "") } },
    { IN("a;dur;desc"), { DS("a", 0, "") } },
    { IN("a;durr=5;dess=x;du=1;de=y"), { N("a") } },
    { IN("a;;dur=1"), { D("a", 1) } },
    { IN("a;=x;dur=1"), { D("a", 1) } },
    { IN("a;\"q\";dur=1"), { D("a", 1) } },
    { IN("a;dur\"x;y\"=5;desc=d"), { DS("a", 0, "d") } },
    { IN("a;dur==5"), { D("a", 0) } },
    { IN("a;desc=x=y"), { S("a", "x") } },
    { IN("a;desc=!#$%&'*+-.^_`|~"), { S("a", "!#$%&'*+-.^_`|~") } },

    /* ---- numbers */
    { IN("a;dur=.5"), { D("a", 0.5) } },
    { IN("a;dur=5."), { D("a", 5) } },
    { IN("a;dur="), { D("a", 0) } },
    { IN("a;dur=0"), { D("a", 0) } },
    { IN("a;dur=-1.5"), { D("a", -1.5) } },
    { IN("a;dur=+2"), { D("a", 2) } },
    { IN("a;dur=-.5"), { D("a", -0.5) } },
    { IN("a;dur=-0"), { D("a", 0) } },
    { IN("a;dur=-"), { D("a", 0) } },
    { IN("a;dur=+"), { D("a", 0) } },
    { IN("a;dur=."), { D("a", 0) } },
    { IN("a;dur=1e3"), { D("a", 1000) } },
    { IN("a;dur=1.5E-3"), { D("a", 0.0015) } },
    { IN("a;dur=2e+2"), { D("a", 200) } },
    { IN("a;dur=1e"), { D("a", 1) } },
    { IN("a;dur=1e+"), { D("a", 1) } },
    { IN("a;dur=.e1"), { D("a", 0) } },
    { IN("a;dur=123.4abc"), { D("a", 123.4) } },
    { IN("a;dur=1.2.3"), { D("a", 1.2) } },
    { IN("a;dur=0x10"), { D("a", 0) } },
    { IN("a;dur=00012.50"), { D("a", 12.5) } },
    { IN("a;dur=1,5"), { D("a", 1), N("5") } },
    { IN("a;dur=1e400"), { D("a", 0) } },
    { IN("a;dur=-1e400"), { D("a", 0) } },
    { IN("a;dur=1e-400"), { D("a", 0) } },
    { IN("a;dur=1e99999999999999999999"), { D("a", 0) } },
    { IN("a;dur=0e99999999999999999999"), { D("a", 0) } },
    { IN("a;dur=1e308"), { D("a", 1e308) } },
    { IN("a;dur=1.7976931348623157e308"),
      { D("a", 1.7976931348623157e308) } },
    { IN("a;dur=1.8e308"), { D("a", 0) } },
    { IN("a;dur=12345678901234567890123"),
      { D("a", 12345678901234567890123.0) } },
    { IN("a;dur=0.000000000000000000000000000001"), { D("a", 1e-30) } },
    { IN("a;dur=9007199254740993"), { D("a", 9007199254740993.0) } },
    { IN("a;dur=inf"), { D("a", 0) } },
    { IN("a;dur=Infinity"), { D("a", 0) } },
    { IN("a;dur=nan"), { D("a", 0) } },
    { IN("a;dur=\" 7 \""), { D("a", 7) } },
    { IN("a;dur=\"1\\2\""), { D("a", 12) } },
    { IN("a;dur=\"\""), { D("a", 0) } },
    { IN("a;dur=\"12"), { D("a", 0) } },
    { IN("a;dur=9223372036854775.807"), { D("a", 9223372036854775.807) } },

    /* ---- 8-bit, control and NUL bytes */
    { IN("caf\xc3\xa9;dur=1"), { D("caf", 1) } },
    { IN("\xc3\xa9,b"), { N("b") } },
    { IN("a;desc=\"caf\xc3\xa9\""), { S("a", "caf\xc3\xa9") } },
    { IN("a;desc=caf\xc3\xa9"), { S("a", "caf") } },
    { IN("a;desc=\"\xff\x80\""), { S("a", "\xff\x80") } },
    { IN("a\r\n;dur=1"), { D("a", 1) } },
    { IN("a\r\nb"), { N("a") } },
    { IN("a;desc=\"x\x01y\x7f\""), { S("a", "x\x01y\x7f") } },
    { IN("a\0b;dur=1,c"), { D("a", 1), N("c") } },
    { IN("\0,a"), { N("a") } },
    { IN("a;desc=\"x\0y\";dur=2"), { DS("a", 2, "x") } },
    { IN("a;dur=1\0"), { D("a", 1) } },
    { IN("a;dur\0=1"), { D("a", 0) } },
    { IN("a;desc=\"\\\0\";dur=3"), { DS("a", 3, "") } },
};

#define N_CASES ((int)(sizeof(cases) / sizeof(cases[0])))

static int want_count(const pcase_t *c)
{
    int n = 0;

    while (n < MAX_WANT && c->e[n].name) {
        n++;
    }
    return n;
}

/* Equal, or as close as 19 kept digits and a few roundings allow. */
static int dur_close(double got, double want)
{
    double diff = got > want ? got - want : want - got;
    double mag = want < 0 ? -want : want;

    return got == want || diff <= mag * 1e-15;
}

START_TEST(table)
{
    const pcase_t *c = &cases[_i];
    apr_array_header_t *a = new_out();
    int n = want_count(c), i;

    /* messages quote the input up to a NUL: enough to find the case */
    ck_assert_int_eq(parse_exact(c->in, c->len, a, NULL), APR_SUCCESS);
    ck_assert_msg(a->nelts == n, "[%s]: %d entries, want %d", c->in,
                  a->nelts, n);
    for (i = 0; i < n; ++i) {
        const prof_st_entry_t *e = entry(a, i);
        const want_t *w = &c->e[i];

        ck_assert_msg(strcmp(e->name, w->name) == 0, "[%s] entry %d: name "
                      "\"%s\", want \"%s\"", c->in, i, e->name, w->name);
        ck_assert_msg(e->has_dur == w->has_dur, "[%s] entry %d: has_dur %d",
                      c->in, i, e->has_dur);
        ck_assert_msg(dur_close(e->dur_ms, w->dur), "[%s] entry %d: dur "
                      "%.17g, want %.17g", c->in, i, e->dur_ms, w->dur);
        ck_assert_msg(e->has_desc == w->has_desc, "[%s] entry %d: has_desc "
                      "%d", c->in, i, e->has_desc);
        ck_assert_msg(strcmp(e->desc, w->desc ? w->desc : "") == 0, "[%s] "
                      "entry %d: desc \"%s\", want \"%s\"", c->in, i,
                      e->desc, w->desc ? w->desc : "");
    }
}
END_TEST

START_TEST(table_round_trip)
{
    apr_array_header_t *a = new_out();

    parse_exact(cases[_i].in, cases[_i].len, a, NULL);
    check_round_trip(a);
}
END_TEST

/* Entries are appended after what out holds, which stays as it was. */
START_TEST(appends)
{
    apr_array_header_t *a = new_out();

    parse_exact(IN("x;dur=1"), a, NULL);
    parse_exact(IN("y, z;desc=q"), a, NULL);
    ck_assert_int_eq(a->nelts, 3);
    ck_assert_str_eq(entry(a, 0)->name, "x");
    ck_assert(entry(a, 0)->dur_ms == 1.0);
    ck_assert_str_eq(entry(a, 1)->name, "y");
    ck_assert_str_eq(entry(a, 2)->desc, "q");
}
END_TEST

START_TEST(bad_arguments)
{
    apr_array_header_t *a = new_out(), *wrong;
    apr_size_t reads = 99;

    wrong = apr_array_make(unit_pool, 1, sizeof(int));
    ck_assert_int_eq(prof_st_parse(NULL, "a", 1, a), APR_EINVAL);
    ck_assert_int_eq(prof_st_parse(unit_pool, "a", 1, NULL), APR_EINVAL);
    ck_assert_int_eq(prof_st_parse(unit_pool, "a", 1, wrong), APR_EINVAL);
    ck_assert_int_eq(prof_st_parse_counted(unit_pool, NULL, 1, a, &reads),
                     APR_EINVAL);
    ck_assert_uint_eq(reads, 0);
    ck_assert_int_eq(prof_st_parse(unit_pool, NULL, 0, a), APR_SUCCESS);
    ck_assert_int_eq(a->nelts, 0);
    ck_assert_int_eq(wrong->nelts, 0);
}
END_TEST

/* The radix is '.' whatever LC_NUMERIC says; tried with every installed
 * ',' locale of a short list (test_st.c explains the environment knob). */
START_TEST(locale_independent)
{
    static const char *const comma_locales[] = {
        "de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", "fr_FR.utf8",
        "nl_NL.UTF-8", "ru_RU.UTF-8", "pt_BR.UTF-8", "es_ES.UTF-8",
    };
    char probe[16];
    size_t i;
    int tried = 0;

    for (i = 0; i < sizeof(comma_locales) / sizeof(comma_locales[0]); ++i) {
        apr_array_header_t *a = new_out();

        if (setlocale(LC_ALL, comma_locales[i]) == NULL) {
            continue;
        }
        snprintf(probe, sizeof(probe), "%.1f", 1.5);
        if (strcmp(probe, "1,5") != 0) {
            continue;
        }
        parse_exact(IN("a;dur=1.5, b;dur=2,5, c;DUR=1E3"), a, NULL);
        ck_assert_int_eq(a->nelts, 4);
        ck_assert(entry(a, 0)->dur_ms == 1.5);
        ck_assert(entry(a, 1)->dur_ms == 2.0);
        ck_assert_str_eq(entry(a, 2)->name, "5");
        ck_assert(entry(a, 3)->dur_ms == 1000.0);
        tried++;
    }
    setlocale(LC_ALL, "C");
    if (getenv("PROF_TEST_REQUIRE_COMMA_LOCALE")) {
        ck_assert_msg(tried > 0, "no ',' radix locale installed");
    }
}
END_TEST

/* ----------------------------------------------------- dur to microseconds */

static const struct {
    double ms;
    apr_interval_time_t us;
} us_cases[] = {
    { 0.0, 0 },
    { -0.0, 0 },
    { -1.0, 0 },
    { -1e300, 0 },
    { 0.0004, 0 },
    { 0.0006, 1 },
    { 0.001, 1 },
    { 1.0, 1000 },
    { 1.2344, 1234 },
    { 1.2346, 1235 },
    { 123.4, 123400 },
    { 0.0015, 2 },          /* 1.5 us: halves go up */
    { 2.5e-3, 3 },
    { 999999999999.999, 999999999999999 },
    { 1e12, PROF_ST_PARSE_MAX_DUR_US },
    { 1e13, PROF_ST_PARSE_MAX_DUR_US },
    { 1e300, PROF_ST_PARSE_MAX_DUR_US },
    { 1.7976931348623157e308, PROF_ST_PARSE_MAX_DUR_US },
    { 9223372036854775.807, PROF_ST_PARSE_MAX_DUR_US },
};

START_TEST(dur_us)
{
    prof_st_entry_t e;

    memset(&e, 0, sizeof(e));
    e.has_dur = 1;
    e.dur_ms = us_cases[_i].ms;
    ck_assert_int_eq(prof_st_entry_dur_us(&e), us_cases[_i].us);
}
END_TEST

START_TEST(dur_us_not_finite)
{
    prof_st_entry_t e;

    memset(&e, 0, sizeof(e));
    e.dur_ms = NAN;
    ck_assert_int_eq(prof_st_entry_dur_us(&e), 0);
    e.dur_ms = -NAN;
    ck_assert_int_eq(prof_st_entry_dur_us(&e), 0);
    e.dur_ms = INFINITY;
    ck_assert_int_eq(prof_st_entry_dur_us(&e), 0);
    e.dur_ms = -INFINITY;
    ck_assert_int_eq(prof_st_entry_dur_us(&e), 0);
}
END_TEST

/* Every duration the writer can write reads back as itself, to the us. */
START_TEST(dur_us_every_magnitude)
{
    uint64_t rs = unit_seed(_i);
    int k;

    for (k = 0; k < 2000; ++k) {
        apr_interval_time_t us = (apr_interval_time_t)
            (unit_rand(&rs) % (uint64_t)(PROF_ST_PARSE_MAX_DUR_US + 1)
             >> (unit_rand(&rs) % 50));
        char buf[64];
        prof_st_buf_t b;
        apr_array_header_t *a = new_out();

        prof_st_init(&b, buf, sizeof(buf));
        ck_assert(prof_st_add(&b, "x", us, NULL));
        parse_exact(buf, b.len, a, NULL);
        ck_assert_int_eq(a->nelts, 1);
        ck_assert_int_eq(prof_st_entry_dur_us(entry(a, 0)), us);
    }
}
END_TEST

/* ------------------------------------------------------ hostile bytes */

/* Each byte alone: a metric named by it if it is a tchar, else nothing. */
START_TEST(byte_alone)
{
    char c = (char)_i;
    apr_array_header_t *a = new_out();

    ck_assert_int_eq(parse_exact(&c, 1, a, NULL), APR_SUCCESS);
    if (ref_tchar((unsigned char)c)) {
        ck_assert_int_eq(a->nelts, 1);
        ck_assert_int_eq(entry(a, 0)->name[0], c);
        ck_assert_int_eq(entry(a, 0)->name[1], '\0');
    }
    else {
        ck_assert_int_eq(a->nelts, 0);
    }
    check_round_trip(a);
}
END_TEST

/* Compare a with the list want[0..n). */
static void expect(const apr_array_header_t *a, const want_t *want, int n,
                   int byte)
{
    int i;

    ck_assert_msg(a->nelts == n, "byte 0x%02x: %d entries, want %d", byte,
                  a->nelts, n);
    for (i = 0; i < n; ++i) {
        const prof_st_entry_t *e = entry(a, i);

        ck_assert_str_eq(e->name, want[i].name);
        ck_assert_msg(e->has_dur == want[i].has_dur && e->has_desc
                      == want[i].has_desc, "byte 0x%02x entry %d: dur %d "
                      "desc %d", byte, i, e->has_dur, e->has_desc);
        ck_assert_msg(dur_close(e->dur_ms, want[i].dur), "byte 0x%02x "
                      "entry %d: dur %.17g", byte, i, e->dur_ms);
        ck_assert_str_eq(e->desc, want[i].desc ? want[i].desc : "");
    }
}

/* Each byte after a metric name: "n<c>;dur=1,z". */
START_TEST(byte_after_name)
{
    unsigned char c = (unsigned char)_i;
    char in[] = "n?;dur=1,z", name[3] = { 'n', (char)c, '\0' };
    apr_array_header_t *a = new_out();

    in[1] = (char)c;
    parse_exact(in, sizeof(in) - 1, a, NULL);
    if (ref_tchar(c)) {
        want_t w[] = { D(name, 1), N("z") };
        expect(a, w, 2, c);
    }
    else if (c == ',') {            /* ";dur=1" is a nameless element */
        want_t w[] = { N("n"), N("z") };
        expect(a, w, 2, c);
    }
    else if (c == '"') {            /* an unterminated quote ends it all */
        want_t w[] = { N("n") };
        expect(a, w, 1, c);
    }
    else {                          /* OWS, ';', or junk up to the ';' */
        want_t w[] = { D("n", 1), N("z") };
        expect(a, w, 2, c);
    }
    check_round_trip(a);
}
END_TEST

/* Each byte as a quoted desc: "m;desc=\"<c>\";dur=2,z". */
START_TEST(byte_in_quoted_desc)
{
    unsigned char c = (unsigned char)_i;
    char in[] = "m;desc=\"?\";dur=2,z", one[2] = { (char)c, '\0' };
    apr_array_header_t *a = new_out();

    in[8] = (char)c;
    parse_exact(in, sizeof(in) - 1, a, NULL);
    if (c == '"' || c == '\\') {    /* "" then an open quote; or \" */
        want_t w[] = { S("m", "") };
        expect(a, w, 1, c);
    }
    else {                          /* NUL ends the desc: one is "" */
        want_t w[] = { DS("m", 2, one), N("z") };
        expect(a, w, 2, c);
    }
    check_round_trip(a);
}
END_TEST

/* Each byte as a token desc: "m;desc=<c>;dur=2,z". */
START_TEST(byte_as_token_desc)
{
    unsigned char c = (unsigned char)_i;
    char in[] = "m;desc=?;dur=2,z", one[2] = { (char)c, '\0' };
    apr_array_header_t *a = new_out();

    in[7] = (char)c;
    parse_exact(in, sizeof(in) - 1, a, NULL);
    if (ref_tchar(c)) {
        want_t w[] = { DS("m", 2, one), N("z") };
        expect(a, w, 2, c);
    }
    else if (c == '"') {
        want_t w[] = { S("m", "") };
        expect(a, w, 1, c);
    }
    else if (c == ',') {
        want_t w[] = { S("m", ""), N("z") };
        expect(a, w, 2, c);
    }
    else {                          /* not a token: empty, rest is junk */
        want_t w[] = { DS("m", 2, ""), N("z") };
        expect(a, w, 2, c);
    }
    check_round_trip(a);
}
END_TEST

/* Each byte inside a number: "m;dur=1<c>5;desc=x,z". */
START_TEST(byte_in_dur)
{
    unsigned char c = (unsigned char)_i;
    char in[] = "m;dur=1?5;desc=x,z";
    apr_array_header_t *a = new_out();

    in[7] = (char)c;
    parse_exact(in, sizeof(in) - 1, a, NULL);
    if (c >= '0' && c <= '9') {
        want_t w[] = { DS("m", 105 + 10 * (c - '0'), "x"), N("z") };
        expect(a, w, 2, c);
    }
    else if (c == '.' || c == 'e' || c == 'E') {
        want_t w[] = { DS("m", c == '.' ? 1.5 : 1e5, "x"), N("z") };
        expect(a, w, 2, c);
    }
    else if (c == '"') {
        want_t w[] = { D("m", 1) };
        expect(a, w, 1, c);
    }
    else if (c == ',') {            /* "5;desc=x" is a metric of its own */
        want_t w[] = { D("m", 1), S("5", "x"), N("z") };
        expect(a, w, 3, c);
    }
    else {                          /* the number is the prefix "1" */
        want_t w[] = { DS("m", 1, "x"), N("z") };
        expect(a, w, 2, c);
    }
    check_round_trip(a);
}
END_TEST

/* ------------------------------------------------------------ big runs */

#define BIG (64 * 1024)

static const struct {
    const char *prefix;
    char fill;
    int n;              /* entries expected */
} runs[] = {
    { "", '"', 0 }, { "", ',', 0 }, { "", ';', 0 }, { "", '\\', 0 },
    { "", ' ', 0 }, { "", '\0', 0 }, { "", '=', 0 }, { "", 'a', 0 },
    /* "a" then the fill: the cut falls in a, unless a ',' ended it */
    { "a", '"', 0 }, { "a", ',', 1 }, { "a", ';', 0 }, { "a", '\\', 0 },
    { "a;desc=\"", '\\', 0 }, { "a;desc=", '"', 0 }, { "a;dur=", '1', 0 },
};

START_TEST(big_run)
{
    size_t plen = strlen(runs[_i].prefix);
    char *in = malloc(BIG);
    apr_array_header_t *a = new_out();

    ck_assert_ptr_nonnull(in);
    memset(in, runs[_i].fill, BIG);
    memcpy(in, runs[_i].prefix, plen);
    ck_assert_int_eq(parse_exact(in, BIG, a, NULL), APR_INCOMPLETE);
    ck_assert_int_eq(a->nelts, runs[_i].n);
    free(in);
    check_round_trip(a);
}
END_TEST

/* ------------------------------------------------------------- random */

static const char *const pieces[] = {
    "a", "metric", "dur", "DuR", "desc", "DESC", "x", "=", ";", ",", "\"",
    "\\", " ", "\t", "0", "1", "9", ".", "e", "E", "-", "+", "123.4",
    "1e308", "1e400", ".5", "\r\n", "\0", "\xff", "\xc3\xa9", "{", "(",
    ";dur=", ";desc=", ";desc=\"", "\\\"", "=\"", "a;dur=1,", "inf",
};

#define N_PIECES (sizeof(pieces) / sizeof(pieces[0]))

/* Up to max bytes from pieces and random bytes; returns the length. */
static size_t random_value(uint64_t *rs, char *out, size_t max)
{
    size_t len = 0, want = (size_t)(unit_rand(rs) % max);

    while (len < want) {
        uint64_t r = unit_rand(rs);

        if (r % 4 == 0) {
            out[len++] = (char)(r >> 8);
        }
        else {
            const char *p = pieces[(r >> 8) % N_PIECES];
            size_t n = p[0] ? strlen(p) : 1;        /* "\0" is one byte */

            if (len + n > want) {
                break;
            }
            memcpy(out + len, p, n);
            len += n;
        }
    }
    return len;
}

START_TEST(random_values)
{
    static char in[PROF_ST_PARSE_MAX_INPUT + 4096];
    uint64_t rs = unit_seed(_i);
    int k;

    for (k = 0; k < 100; ++k) {
        apr_array_header_t *a = new_out();
        size_t max = k == 0 ? sizeof(in) : k % 10 == 0 ? 4096 : 300;
        size_t len = random_value(&rs, in, max);

        parse_exact(in, len, a, NULL);
        check_round_trip(a);
    }
}
END_TEST

/* --------------------------------------------------------------- bounds */

/* Only PROF_ST_PARSE_MAX_INPUT bytes are looked at, whatever len says. */
START_TEST(window_never_read_past)
{
    static const apr_size_t lens[] = {
        PROF_ST_PARSE_MAX_INPUT + 1, 2 * PROF_ST_PARSE_MAX_INPUT,
        (apr_size_t)-1,
    };
    static const char fills[] = { 'a', ',', '"', ';', ' ' };
    unit_guard_t g;
    char *in = unit_guard_alloc(&g, PROF_ST_PARSE_MAX_INPUT);
    size_t i, j;

    for (j = 0; j < sizeof(fills); ++j) {
        memset(in, fills[j], PROF_ST_PARSE_MAX_INPUT);
        for (i = 0; i < sizeof(lens) / sizeof(lens[0]); ++i) {
            apr_array_header_t *a = new_out();
            apr_size_t reads;

            ck_assert_int_eq(prof_st_parse_counted(unit_pool, in, lens[i], a,
                                                   &reads), APR_INCOMPLETE);
            ck_assert_uint_le(reads, READS_PER_BYTE * PROF_ST_PARSE_MAX_INPUT);
            check_entries(a, 0);
        }
    }
    /* exactly the window: the whole value, nothing cut */
    memset(in, ' ', PROF_ST_PARSE_MAX_INPUT);
    memcpy(in + PROF_ST_PARSE_MAX_INPUT - 7, "a;dur=5", 7);
    {
        apr_array_header_t *a = new_out();

        ck_assert_int_eq(prof_st_parse(unit_pool, in, PROF_ST_PARSE_MAX_INPUT, a),
                         APR_SUCCESS);
        ck_assert_int_eq(a->nelts, 1);
        ck_assert(entry(a, 0)->dur_ms == 5.0);
    }
    unit_guard_free(&g);
}
END_TEST

/* The metric the cut falls in is dropped: its dur may be "5" of "57". */
START_TEST(window_drops_cut_metric)
{
    char *in = malloc(PROF_ST_PARSE_MAX_INPUT + 1);
    apr_array_header_t *a = new_out();

    ck_assert_ptr_nonnull(in);
    memset(in, ' ', PROF_ST_PARSE_MAX_INPUT + 1);
    memcpy(in, "first;dur=1,", 12);
    memcpy(in + PROF_ST_PARSE_MAX_INPUT - 7, "a;dur=57", 8);
    ck_assert_int_eq(prof_st_parse(unit_pool, in, PROF_ST_PARSE_MAX_INPUT + 1, a),
                     APR_INCOMPLETE);
    ck_assert_int_eq(a->nelts, 1);
    ck_assert_str_eq(entry(a, 0)->name, "first");

    /* a ',' as the window's last byte ends the metric inside it */
    a = new_out();
    memcpy(in + PROF_ST_PARSE_MAX_INPUT - 8, "a;dur=5,b", 9);
    ck_assert_int_eq(prof_st_parse(unit_pool, in, PROF_ST_PARSE_MAX_INPUT + 1, a),
                     APR_INCOMPLETE);
    ck_assert_int_eq(a->nelts, 2);
    ck_assert_str_eq(entry(a, 1)->name, "a");
    ck_assert(entry(a, 1)->dur_ms == 5.0);
    free(in);
}
END_TEST

/* n metrics "a," in a row, then tail. */
static size_t metrics(char *buf, int n, const char *tail)
{
    size_t len = 0;
    int i;

    for (i = 0; i < n; ++i) {
        buf[len++] = 'a';
        buf[len++] = ',';
    }
    memcpy(buf + len, tail, strlen(tail));
    return len + strlen(tail);
}

START_TEST(entry_cap)
{
    static char in[2 * 1000 + 64];
    apr_array_header_t *a;
    apr_size_t reads;
    size_t len;

    a = new_out();
    len = metrics(in, PROF_ST_PARSE_MAX_ENTRIES, "");
    ck_assert_int_eq(parse_exact(in, len, a, NULL), APR_SUCCESS);
    ck_assert_int_eq(a->nelts, PROF_ST_PARSE_MAX_ENTRIES);

    /* nameless elements after the last metric are no metric */
    a = new_out();
    len = metrics(in, PROF_ST_PARSE_MAX_ENTRIES, ",=,;,\"x,y\", ,");
    ck_assert_int_eq(parse_exact(in, len, a, NULL), APR_SUCCESS);
    ck_assert_int_eq(a->nelts, PROF_ST_PARSE_MAX_ENTRIES);

    a = new_out();
    len = metrics(in, PROF_ST_PARSE_MAX_ENTRIES, "b");
    ck_assert_int_eq(parse_exact(in, len, a, NULL), APR_INCOMPLETE);
    ck_assert_int_eq(a->nelts, PROF_ST_PARSE_MAX_ENTRIES);

    /* the parse stops at the cap instead of reading on */
    a = new_out();
    len = metrics(in, 1000, "");
    ck_assert_int_eq(parse_exact(in, len, a, &reads), APR_INCOMPLETE);
    ck_assert_int_eq(a->nelts, PROF_ST_PARSE_MAX_ENTRIES);
    ck_assert_uint_lt(reads, 4 * (PROF_ST_PARSE_MAX_ENTRIES + 1) * 2);

    /* the cap counts this call's entries, not what out held before */
    a = new_out();
    parse_exact(IN("p,q,r"), a, NULL);
    len = metrics(in, PROF_ST_PARSE_MAX_ENTRIES, "");
    ck_assert_int_eq(parse_exact(in, len, a, NULL), APR_SUCCESS);
    ck_assert_int_eq(a->nelts, 3 + PROF_ST_PARSE_MAX_ENTRIES);
    ck_assert_str_eq(entry(a, 2)->name, "r");
    check_round_trip(a);
}
END_TEST

/* ---------------------------------------------------------- linear time */

/* Inputs built to make a careless parser go back over what it read: long
 * runs of separators, of parameters, of escapes, of unterminated quotes. */
static const struct {
    const char *prefix;
    const char *unit;   /* repeated to the length */
} worst[] = {
    { "a", ";b" },
    { "a", ";b=" },
    { "a", ";b=\"" },
    { "a", ";dur=1" },
    { "a", ";desc=x" },
    { "a", ";desc=\"x\"" },
    { "a", ";" },
    { "a", " " },
    { "a", "=" },
    { "a;desc=\"", "\\\"" },
    { "a;dur=\"", "1" },
    { "a;desc=", "x" },
    { "a;dur=", "9" },
    { "a;dur=0.", "0" },
    { "", "\"" },
    { "", "," },
    { "", ";" },
    { "", "a" },
    { "", "a," },
    { "", "a b " },
    { "", "=\"\"" },
    { "", "a\"" },
    { "", ",\"" },
};

static apr_size_t reads_for(int w, size_t len)
{
    char *in = malloc(len);
    size_t plen = strlen(worst[w].prefix), ulen = strlen(worst[w].unit), i;
    apr_array_header_t *a = new_out();
    apr_size_t reads;

    ck_assert_ptr_nonnull(in);
    memcpy(in, worst[w].prefix, plen);
    for (i = plen; i < len; ++i) {
        in[i] = worst[w].unit[(i - plen) % ulen];
    }
    parse_exact(in, len, a, &reads);    /* checks reads per byte */
    free(in);
    return reads;
}

START_TEST(linear_reads)
{
    apr_size_t small = reads_for(_i, 1024);
    apr_size_t large = reads_for(_i, PROF_ST_PARSE_MAX_INPUT);

    /* 16 times the input, at most 16 times the reads (and some slack for
     * the constant part); a quadratic parser would need 256 times. */
    ck_assert_msg(large <= 16 * small + 64, "%zu reads for 1 KB but %zu for "
                  "16 KB", (size_t)small, (size_t)large);
}
END_TEST

Suite *prof_st_parse_suite(void)
{
    Suite *s = suite_create("prof_st_parse");
    TCase *tc;

    tc = tcase_create("table");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, table, 0, N_CASES);
    tcase_add_loop_test(tc, table_round_trip, 0, N_CASES);
    tcase_add_test(tc, appends);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, locale_independent);
    suite_add_tcase(s, tc);

    tc = tcase_create("dur");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, dur_us, 0,
                        (int)(sizeof(us_cases) / sizeof(us_cases[0])));
    tcase_add_test(tc, dur_us_not_finite);
    tcase_add_loop_test(tc, dur_us_every_magnitude, 0, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, byte_alone, 0, 256);
    tcase_add_loop_test(tc, byte_after_name, 0, 256);
    tcase_add_loop_test(tc, byte_in_quoted_desc, 0, 256);
    tcase_add_loop_test(tc, byte_as_token_desc, 0, 256);
    tcase_add_loop_test(tc, byte_in_dur, 0, 256);
    tcase_add_loop_test(tc, big_run, 0, (int)(sizeof(runs) / sizeof(runs[0])));
    tcase_add_loop_test(tc, random_values, 0, 50);
    suite_add_tcase(s, tc);

    tc = tcase_create("bounds");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, window_never_read_past);
    tcase_add_test(tc, window_drops_cut_metric);
    tcase_add_test(tc, entry_cap);
    tcase_add_loop_test(tc, linear_reads, 0,
                        (int)(sizeof(worst) / sizeof(worst[0])));
    suite_add_tcase(s, tc);
    return s;
}
