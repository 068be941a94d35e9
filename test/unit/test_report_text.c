/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the report handler's escapers and parsers
 * (src/prof_report_text.c), against the rules written down in
 * prof_report_text.h.
 *
 * Two kinds of test for each function: tables of exact inputs and outputs,
 * and checks over many inputs (every byte, every pair of bytes, all short
 * strings over the bytes that matter, random strings, long strings, random
 * times and values) against references written here from the header's
 * rules, not from the code:
 *  - UTF-8: the well-formed sequences are found by encoding every Unicode
 *    scalar value with the textbook bit layout and recording each prefix;
 *    the code instead narrows byte ranges per lead byte. Maximal subparts
 *    then fall out of "the longest prefix of some character".
 *  - The escapers' results are parsed back (a JSON string literal parser,
 *    an HTML entity decoder, an RFC 4180 field parser) and compared with
 *    that reference decoding; CSV numbers are recognised by a POSIX regex.
 *  - Dates: a day-by-day counter from 1970-01-01, and the C library's
 *    gmtime_r() for random instants up to year 9999.
 *  - Cursors: known answers computed with Python (binascii.crc_hqx and
 *    base64.urlsafe_b64encode).
 *
 * Inputs of the table tests are handed over in malloc()ed blocks of exactly
 * their length plus the NUL, and the exhaustive ones end right before an
 * inaccessible page, so a read past the NUL faults in the plain run too.
 */

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apr_general.h"
#include "apr_pools.h"

#include "prof_report_text.h"
#include "unit.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define US APR_INT64_C(1000000)
#define TMAX PROF_REPORT_TIME_MAX_US
#define I64MIN APR_INT64_MIN
#define I64MAX APR_INT64_MAX
#define FFFD "\xef\xbf\xbd"
/* check's ck_assert*() report every success to the runner (a write() to
 * it each), which dominates loops of millions of checks: these tell it
 * only of a failure. */
#define EXPECT(c, ...) do { if (!(c)) ck_abort_msg(__VA_ARGS__); } while (0)
#define EXPECT1(c) EXPECT(c, "%s", #c)
/* The value a parser's output holds before the call: it must hold it
 * after a failed one. */
#define UNTOUCHED APR_INT64_C(-4242424242)

/* A copy of s in a block of exactly strlen(s) + 1 bytes. */
static char *exact(const char *s)
{
    size_t n = strlen(s) + 1;
    char *c = malloc(n);

    ck_assert_ptr_nonnull(c);
    memcpy(c, s, n);
    return c;
}

/* Bytes as C escapes, for failure messages about 8-bit strings. */
static const char *show(const char *s)
{
    static char buf[4][512];
    static int which;
    char *out = buf[which++ % 4];
    size_t o = 0;

    if (s == NULL) {
        return "(null)";
    }
    for (; *s && o + 5 < sizeof(buf[0]); ++s) {
        unsigned char c = (unsigned char)*s;

        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        }
        else {
            o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
        }
    }
    out[o] = '\0';
    return out;
}

/* ------------------------------------------------------ UTF-8 reference */

/* Prefixes of well-formed sequences: of length 1 and whole, by byte; of
 * lengths 2 and 3 as bit sets indexed by the big-endian bytes; whole
 * 4-byte sequences as a sorted array (UTF-8 sorts as its code points do). */
static unsigned char pre1[256], full1[256];
static unsigned char *pre2, *full2, *pre3, *full3;
static apr_uint32_t *four;
static size_t nfour;

static size_t ref_encode(apr_uint32_t cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | (cp >> 6));
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | (cp >> 12));
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (unsigned char)(0xf0 | (cp >> 18));
    b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
    b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
    b[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

static void set_bit(unsigned char *set, apr_uint32_t i)
{
    set[i >> 3] |= (unsigned char)(1u << (i & 7));
}

static int get_bit(const unsigned char *set, apr_uint32_t i)
{
    return (set[i >> 3] >> (i & 7)) & 1;
}

static void ref_init(void)
{
    apr_uint32_t cp;

    if (four != NULL) {
        return;
    }
    pre2 = calloc(1, 1 << 13);
    full2 = calloc(1, 1 << 13);
    pre3 = calloc(1, 1 << 21);
    full3 = calloc(1, 1 << 21);
    four = malloc(0x100000 * sizeof(*four));
    EXPECT1(pre2 && full2 && pre3 && full3 && four);
    for (cp = 0; cp <= 0x10ffff; ++cp) {
        unsigned char b[4];
        size_t n;

        if (cp >= 0xd800 && cp <= 0xdfff) {
            continue;           /* surrogates are not scalar values */
        }
        n = ref_encode(cp, b);
        pre1[b[0]] = 1;
        full1[b[0]] |= n == 1;
        if (n >= 2) {
            set_bit(pre2, (apr_uint32_t)b[0] << 8 | b[1]);
            if (n == 2) {
                set_bit(full2, (apr_uint32_t)b[0] << 8 | b[1]);
            }
        }
        if (n >= 3) {
            apr_uint32_t k = (apr_uint32_t)b[0] << 16 | b[1] << 8 | b[2];

            set_bit(pre3, k);
            if (n == 3) {
                set_bit(full3, k);
            }
        }
        if (n == 4) {
            four[nfour++] = (apr_uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8
                            | b[3];
        }
    }
    ck_assert_uint_eq(nfour, 0x100000);
}

static int cmp_u32(const void *a, const void *b)
{
    apr_uint32_t x = *(const apr_uint32_t *)a, y = *(const apr_uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* The longest k such that s[0..k) starts a well-formed sequence (0 when
 * s[0] starts none), and in *whole whether it is a whole one. s[0] != 0. */
static size_t ref_prefix(const unsigned char *s, int *whole)
{
    apr_uint32_t k;

    *whole = 0;
    if (!pre1[s[0]]) {
        return 0;
    }
    if (full1[s[0]]) {
        *whole = 1;
        return 1;
    }
    k = (apr_uint32_t)s[0] << 8 | s[1];
    if (s[1] == 0 || !get_bit(pre2, k)) {
        return 1;
    }
    if (get_bit(full2, k)) {
        *whole = 1;
        return 2;
    }
    k = k << 8 | s[2];
    if (s[2] == 0 || !get_bit(pre3, k)) {
        return 2;
    }
    if (get_bit(full3, k)) {
        *whole = 1;
        return 3;
    }
    k = k << 8 | s[3];
    if (s[3] == 0 || bsearch(&k, four, nfour, sizeof(*four), cmp_u32) == NULL) {
        return 3;
    }
    *whole = 1;
    return 4;
}

/* The code point of a whole sequence of n bytes. */
static apr_uint32_t ref_value(const unsigned char *s, size_t n)
{
    static const unsigned char lead_mask[5] = { 0, 0x7f, 0x1f, 0x0f, 0x07 };
    apr_uint32_t cp = s[0] & lead_mask[n];
    size_t i;

    for (i = 1; i < n; ++i) {
        cp = cp << 6 | (s[i] & 0x3f);
    }
    return cp;
}

/* s as code points, each maximal subpart of ill-formed bytes as U+FFFD;
 * cp has room for strlen(s) of them. */
static size_t ref_decode(const char *s, apr_uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = 0;

    ref_init();
    while (*u) {
        int whole;
        size_t k = ref_prefix(u, &whole);

        if (whole) {
            cp[n++] = ref_value(u, k);
            u += k;
        }
        else {
            cp[n++] = 0xfffd;
            u += k ? k : 1;
        }
    }
    return n;
}

/* Is s well-formed UTF-8 throughout? */
static int ref_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    ref_init();
    while (*u) {
        int whole;
        size_t k = ref_prefix(u, &whole);

        if (!whole) {
            return 0;
        }
        u += k;
    }
    return 1;
}

/* --------------------------------------------------- the escapers, back */

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;      /* the header promises lowercase */
}

/* The code points of j, which must be exactly one JSON string literal
 * (RFC 8259 section 7), into cp (room for strlen(j)); -1 if it is not. */
static long json_decode(const char *j, apr_uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)j;
    long n = 0;

    ref_init();
    if (*u++ != '"') {
        return -1;
    }
    for (;;) {
        unsigned char c = *u;

        if (c == '"') {
            return u[1] == '\0' ? n : -1;
        }
        if (c < 0x20) {
            return -1;                  /* the NUL too: unterminated */
        }
        if (c == '\\') {
            int i, h;
            apr_uint32_t v = 0;

            switch (u[1]) {
            case '"': case '\\': case '/':
                cp[n++] = u[1];
                break;
            case 'b': cp[n++] = '\b'; break;
            case 'f': cp[n++] = '\f'; break;
            case 'n': cp[n++] = '\n'; break;
            case 'r': cp[n++] = '\r'; break;
            case 't': cp[n++] = '\t'; break;
            case 'u':
                for (i = 2; i < 6; ++i) {
                    if ((h = hexval(u[i])) < 0) {
                        return -1;
                    }
                    v = v << 4 | (apr_uint32_t)h;
                }
                if (v >= 0xd800 && v <= 0xdfff) {
                    return -1;          /* never made: nothing needs one */
                }
                cp[n++] = v;
                u += 4;
                break;
            default:
                return -1;
            }
            u += 2;
        }
        else {
            int whole;
            size_t k = ref_prefix(u, &whole);

            if (!whole) {
                return -1;              /* the result must be UTF-8 */
            }
            cp[n++] = ref_value(u, k);
            u += k;
        }
    }
}

/* What the JSON escaper must make of s, checked every way the header
 * promises. */
static void check_json(apr_pool_t *p, const char *in)
{
    const char *out = prof_report_json_str(p, in);
    size_t len = strlen(in), i, n;
    apr_uint32_t *want = malloc((len + 1) * sizeof(*want));
    apr_uint32_t *got = malloc((6 * len + 3) * sizeof(*got));
    long m;

    EXPECT1(want && got);
    EXPECT(out != NULL && out != in, "json(%s): %p", show(in), (void *)out);
    for (i = 0; out[i]; ++i) {
        unsigned char c = (unsigned char)out[i];

        EXPECT(c >= 0x20 && c != '<' && c != '>' && c != '&'
                      && c != 0x7f,
                      "json(%s) = %s: raw byte 0x%02x", show(in), show(out), c);
        EXPECT(!(c == 0xc2 && (unsigned char)out[i + 1] >= 0x80
                        && (unsigned char)out[i + 1] <= 0x9f),
                      "json(%s) = %s: raw C1 control", show(in), show(out));
    }
    EXPECT(strstr(out, "\xe2\x80\xa8") == NULL
                  && strstr(out, "\xe2\x80\xa9") == NULL,
                  "json(%s) = %s: raw U+2028/9", show(in), show(out));
    m = json_decode(out, got);
    EXPECT(m >= 0, "json(%s) = %s: not a JSON string", show(in),
                  show(out));
    n = ref_decode(in, want);
    EXPECT((size_t)m == n
                  && memcmp(got, want, n * sizeof(*want)) == 0,
                  "json(%s) = %s: decodes to other characters", show(in),
                  show(out));
    free(want);
    free(got);
}

/* The code points of h, an escaped HTML string: the five entities, and
 * otherwise UTF-8 that has none of the characters they stand for and no
 * control other than tab and LF; -1 if it is not that. */
static long html_decode(const char *h, apr_uint32_t *cp)
{
    static const struct { const char *e; apr_uint32_t c; } ent[] = {
        { "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
        { "&quot;", '"' }, { "&#39;", '\'' },
    };
    const unsigned char *u = (const unsigned char *)h;
    long n = 0;

    ref_init();
    while (*u) {
        if (*u == '&') {
            int e;

            for (e = 0; e < N_OF(ent); ++e) {
                if (strncmp((const char *)u, ent[e].e, strlen(ent[e].e)) == 0) {
                    break;
                }
            }
            if (e == N_OF(ent)) {
                return -1;
            }
            cp[n++] = ent[e].c;
            u += strlen(ent[e].e);
        }
        else {
            int whole;
            size_t k = ref_prefix(u, &whole);
            apr_uint32_t c;

            if (!whole) {
                return -1;
            }
            c = ref_value(u, k);
            if (c == '<' || c == '>' || c == '"' || c == '\''
                || (c < 0x20 && c != '\t' && c != '\n')
                || (c >= 0x7f && c <= 0x9f)) {
                return -1;
            }
            cp[n++] = c;
            u += k;
        }
    }
    return n;
}

static void check_html(apr_pool_t *p, const char *in)
{
    const char *out = prof_report_html(p, in);
    size_t len = strlen(in), n, i;
    apr_uint32_t *want = malloc((len + 1) * sizeof(*want));
    apr_uint32_t *got = malloc((6 * len + 1) * sizeof(*got));
    long m;
    int same = 1;

    EXPECT1(want && got);
    EXPECT(out != NULL, "html(%s): NULL", show(in));
    m = html_decode(out, got);
    EXPECT(m >= 0, "html(%s) = %s: not escaped HTML", show(in),
                  show(out));
    n = ref_decode(in, want);
    for (i = 0; i < n; ++i) {
        apr_uint32_t c = want[i];

        if ((c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7f && c <= 0x9f)) {
            want[i] = 0xfffd;
        }
        same &= c != '&' && c != '<' && c != '>' && c != '"' && c != '\''
                && want[i] == c;
    }
    EXPECT((size_t)m == n
                  && memcmp(got, want, n * sizeof(*want)) == 0,
                  "html(%s) = %s: decodes to other characters", show(in),
                  show(out));
    /* s itself exactly when nothing had to change */
    same &= ref_valid(in);
    EXPECT(same ? out == in : out != in, "html(%s): %s, want %s",
                  show(in), out == in ? "s itself" : "a copy",
                  same ? "s itself" : "a copy");
    free(want);
    free(got);
}

static regex_t number_re;
static int number_re_ready;

/* The header's number, as a POSIX extended regex. */
static int ref_is_number(const char *s)
{
    if (!number_re_ready) {
        ck_assert_int_eq(regcomp(&number_re, "^[+-]?[0-9]+(\\.[0-9]+)?$",
                                 REG_EXTENDED | REG_NOSUB), 0);
        number_re_ready = 1;
    }
    return regexec(&number_re, s, 0, NULL, 0) == 0;
}

static void check_csv(apr_pool_t *p, const char *in)
{
    const char *out = prof_report_csv(p, in);
    size_t olen, i, c = 0;
    char *content, *want;
    int quoted, special = 0, prefix;

    EXPECT(out != NULL, "csv(%s): NULL", show(in));
    olen = strlen(out);
    content = malloc(olen + 1);
    want = malloc(strlen(in) + 2);
    EXPECT1(content && want);
    /* RFC 4180, one field: quoted with "" for '"', or without any of
     * , " CR LF. */
    quoted = out[0] == '"';
    if (quoted) {
        EXPECT(olen >= 2 && out[olen - 1] == '"', "csv(%s) = %s",
                      show(in), show(out));
        for (i = 1; i < olen - 1; ++i) {
            if (out[i] == '"') {
                EXPECT(out[i + 1] == '"' && i + 1 < olen - 1,
                              "csv(%s) = %s: lone quote", show(in), show(out));
                ++i;
            }
            content[c++] = out[i];
        }
    }
    else {
        for (i = 0; i < olen; ++i) {
            EXPECT(strchr(",\"\r\n", out[i]) == NULL,
                          "csv(%s) = %s: needs quotes", show(in), show(out));
            content[c++] = out[i];
        }
    }
    content[c] = '\0';
    prefix = in[0] != '\0' && strchr("=+-@\t\r", in[0]) != NULL
             && !ref_is_number(in);
    snprintf(want, strlen(in) + 2, "%s%s", prefix ? "'" : "", in);
    EXPECT(strcmp(content, want) == 0, "csv(%s) = %s, want %s",
                  show(in), show(out), show(want));
    for (i = 0; want[i]; ++i) {
        special |= strchr(",\"\r\n", want[i]) != NULL;
    }
    EXPECT(quoted == special, "csv(%s) = %s: quoted %d", show(in),
                  show(out), quoted);
    EXPECT((!prefix && !special) == (out == in),
                  "csv(%s): s itself %d", show(in), out == in);
    free(content);
    free(want);
}

static void check_all(apr_pool_t *p, const char *in)
{
    check_json(p, in);
    check_html(p, in);
    check_csv(p, in);
}

/* ------------------------------------------------------------------ JSON */

typedef struct {
    const char *in;
    const char *want;
} esc_case_t;

static const esc_case_t json_cases[] = {
    { "", "\"\"" },
    { "abc", "\"abc\"" },
    { "a\"b", "\"a\\\"b\"" },
    { "a\\b", "\"a\\\\b\"" },
    { "\\\"", "\"\\\\\\\"\"" },
    { "\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"" },
    { "\x01\x1f", "\"\\u0001\\u001f\"" },
    { "\x0b", "\"\\u000b\"" },
    { "\x1b[31mred", "\"\\u001b[31mred\"" },
    { "</script><script>alert(1)</script>",
      "\"\\u003c/script\\u003e\\u003cscript\\u003ealert(1)\\u003c/script"
      "\\u003e\"" },
    { "</SCRIPT", "\"\\u003c/SCRIPT\"" },
    { "<!--", "\"\\u003c!--\"" },
    { "-->", "\"--\\u003e\"" },
    { "a&amp;b", "\"a\\u0026amp;b\"" },
    { "/", "\"/\"" },
    { "'", "\"'\"" },
    { " ~", "\" ~\"" },
    { "\x7f", "\"\\u007f\"" },
    { "\xc2\x80\xc2\x9f\xc2\xa0", "\"\\u0080\\u009f\xc2\xa0\"" },
    { "\xe2\x80\xa8\xe2\x80\xa9", "\"\\u2028\\u2029\"" },
    { "\xe2\x80\xa7\xe2\x80\xaa", "\"\xe2\x80\xa7\xe2\x80\xaa\"" },
    { "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
    { "\xe0\xa0\x80", "\"\xe0\xa0\x80\"" },                 /* U+0800 */
    { "\xed\x9f\xbf", "\"\xed\x9f\xbf\"" },                 /* U+D7FF */
    { "\xee\x80\x80", "\"\xee\x80\x80\"" },                 /* U+E000 */
    { "\xef\xbf\xbd", "\"\xef\xbf\xbd\"" },                 /* U+FFFD */
    { "\xef\xbf\xbf", "\"\xef\xbf\xbf\"" },                 /* U+FFFF */
    { "\xf0\x90\x80\x80", "\"\xf0\x90\x80\x80\"" },         /* U+10000 */
    { "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },         /* an emoji */
    { "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"" },         /* U+10FFFF */
    /* ill-formed: one U+FFFD per maximal subpart */
    { "\xff", "\"" FFFD "\"" },
    { "\xfe\xff", "\"" FFFD FFFD "\"" },
    { "\x80", "\"" FFFD "\"" },
    { "\x80\xbf", "\"" FFFD FFFD "\"" },
    { "\xc0\xaf", "\"" FFFD FFFD "\"" },                    /* overlong / */
    { "\xc1\xbf", "\"" FFFD FFFD "\"" },
    { "\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\"" },
    { "\xe0\x9f\xbf", "\"" FFFD FFFD FFFD "\"" },
    { "\xf0\x80\x80\xaf", "\"" FFFD FFFD FFFD FFFD "\"" },
    { "\xf0\x8f\xbf\xbf", "\"" FFFD FFFD FFFD FFFD "\"" },
    { "\xed\xa0\x80", "\"" FFFD FFFD FFFD "\"" },           /* U+D800 */
    { "\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\"" },           /* U+DFFF */
    { "\xed\xa0\xbd\xed\xb8\x80", "\"" FFFD FFFD FFFD FFFD FFFD FFFD "\"" },
    { "\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"" },  /* U+110000 */
    { "\xf5\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD "\"" },
    { "\xf8\x88\x80\x80\x80", "\"" FFFD FFFD FFFD FFFD FFFD "\"" },
    { "\xc3", "\"" FFFD "\"" },
    { "\xc3" "a", "\"" FFFD "a\"" },
    { "\xc3\xc3\xa9", "\"" FFFD "\xc3\xa9\"" },
    { "\xe2\x82", "\"" FFFD "\"" },
    { "\xe2\x82" "a", "\"" FFFD "a\"" },
    { "\xe2\x82<", "\"" FFFD "\\u003c\"" },
    { "\xf0\x9f\x98", "\"" FFFD "\"" },
    { "\xf0\x9f\x98\xf0\x9f\x98\x80", "\"" FFFD "\xf0\x9f\x98\x80\"" },
    { "\xe2\x80\xa8\x80", "\"\\u2028" FFFD "\"" },
    /* the Unicode standard's example of maximal subparts (table 3-8) */
    { "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
      "\"a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d\"" },
};

START_TEST(json_table)
{
    const esc_case_t *c = &json_cases[_i];
    char *in = exact(c->in);
    const char *out = prof_report_json_str(unit_pool, in);

    free(in);
    EXPECT(out != NULL && strcmp(out, c->want) == 0,
                  "json(%s) = %s, want %s", show(c->in), show(out),
                  show(c->want));
    check_json(unit_pool, c->in);
}
END_TEST

START_TEST(json_null)
{
    ck_assert_str_eq(prof_report_json_str(unit_pool, NULL), "null");
}
END_TEST

/* ------------------------------------------------------------------ HTML */

typedef struct {
    const char *in;
    const char *want;
    int same;       /* the input itself comes back */
} html_case_t;

static const html_case_t html_cases[] = {
    { "", "", 1 },
    { "abc", "abc", 1 },
    { "/item/:id?x=1;y=2", "/item/:id?x=1;y=2", 1 },
    { "a\tb\nc", "a\tb\nc", 1 },
    { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac "
      "\xf0\x9f\x98\x80", 1 },
    { "\xc2\xa0", "\xc2\xa0", 1 },
    { "\xe2\x80\xa8", "\xe2\x80\xa8", 1 },
    { "\xef\xbf\xbd", "\xef\xbf\xbd", 1 },
    { "javascript:alert(1)", "javascript:alert(1)", 1 },
    { "<b>&\"'", "&lt;b&gt;&amp;&quot;&#39;", 0 },
    { "&amp;", "&amp;amp;", 0 },
    { "&#39;", "&amp;#39;", 0 },
    { "<script>alert('x')</script>",
      "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", 0 },
    { "\" onmouseover=\"x", "&quot; onmouseover=&quot;x", 0 },
    { "a\rb", "a" FFFD "b", 0 },
    { "\r\n", FFFD "\n", 0 },
    { "\x01", FFFD, 0 },
    { "\x0b\x0c", FFFD FFFD, 0 },
    { "\x1b[0m", FFFD "[0m", 0 },
    { "\x7f", FFFD, 0 },
    { "\xc2\x85", FFFD, 0 },                    /* NEL */
    { "\xc2\x9f\xc2\xa0", FFFD "\xc2\xa0", 0 },
    { "\xff", FFFD, 0 },
    { "caf\xe9", "caf" FFFD, 0 },               /* Latin-1 */
    { "\xed\xa0\x80", FFFD FFFD FFFD, 0 },
    { "\xe2\x82<", FFFD "&lt;", 0 },
    { "\x61\xf1\x80\x80\xe1\x80\xc2\x62\x80\x63\x80\xbf\x64",
      "a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d", 0 },
};

START_TEST(html_table)
{
    const html_case_t *c = &html_cases[_i];
    char *in = exact(c->in);
    const char *out = prof_report_html(unit_pool, in);

    EXPECT(c->same ? out == in : out != in, "html(%s): %s",
                  show(c->in), out == in ? "s itself" : "a copy");
    EXPECT(out != NULL && strcmp(out, c->want) == 0,
                  "html(%s) = %s, want %s", show(c->in), show(out),
                  show(c->want));
    free(in);
    check_html(unit_pool, c->in);
}
END_TEST

START_TEST(html_null)
{
    ck_assert_str_eq(prof_report_html(unit_pool, NULL), "");
}
END_TEST

/* ------------------------------------------------------------------- CSV */

static const html_case_t csv_cases[] = {
    { "", "", 1 },
    { "abc", "abc", 1 },
    { "12", "12", 1 },
    { "1.5", "1.5", 1 },
    { "a=b", "a=b", 1 },
    { " =1+1", " =1+1", 1 },                /* only the first byte counts */
    { "'=1+1", "'=1+1", 1 },
    { "\nx", "\"\nx\"", 0 },                /* LF: quoted, not prefixed */
    { "caf\xc3\xa9", "caf\xc3\xa9", 1 },
    { "\xff\x01", "\xff\x01", 1 },          /* bytes are not decoded */
    { "a,b", "\"a,b\"", 0 },
    { "a\"b", "\"a\"\"b\"", 0 },
    { "\"", "\"\"\"\"", 0 },
    { "\"\"", "\"\"\"\"\"\"", 0 },
    { "a\nb", "\"a\nb\"", 0 },
    { "a\rb", "\"a\rb\"", 0 },
    { "a\r\nb", "\"a\r\nb\"", 0 },
    { ",", "\",\"", 0 },
    /* formulas get a '\'' */
    { "=1+1", "'=1+1", 0 },
    { "=", "'=", 0 },
    { "+", "'+", 0 },
    { "-", "'-", 0 },
    { "@", "'@", 0 },
    { "@SUM(A1:A9)", "'@SUM(A1:A9)", 0 },
    { "\tx", "'\tx", 0 },
    { "\t", "'\t", 0 },
    { "\rx", "\"'\rx\"", 0 },
    { "+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0", 0 },
    { "-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0", 0 },
    { "=HYPERLINK(\"http://x/\",\"y\")",
      "\"'=HYPERLINK(\"\"http://x/\"\",\"\"y\"\")\"", 0 },
    { "=1,2", "\"'=1,2\"", 0 },
    /* numbers do not */
    { "-12", "-12", 1 },
    { "-0.5", "-0.5", 1 },
    { "+3", "+3", 1 },
    { "-007.10", "-007.10", 1 },
    { "-0", "-0", 1 },
    { "-9223372036854775808", "-9223372036854775808", 1 },
    { "-123456789012345678901234567890.5", "-123456789012345678901234567890.5",
      1 },
    /* and these are not numbers */
    { "-.5", "'-.5", 0 },
    { "-5.", "'-5.", 0 },
    { "-1e3", "'-1e3", 0 },
    { "-1E3", "'-1E3", 0 },
    { "-1,5", "\"'-1,5\"", 0 },
    { "- 1", "'- 1", 0 },
    { "-1 ", "'-1 ", 0 },
    { "-1+2", "'-1+2", 0 },
    { "-0x10", "'-0x10", 0 },
    { "--1", "'--1", 0 },
    { "+-1", "'+-1", 0 },
    { "-1.2.3", "'-1.2.3", 0 },
    { "-inf", "'-inf", 0 },
    { "-\xef\xbc\x91", "'-\xef\xbc\x91", 0 },   /* fullwidth 1 */
    { "-\xd9\xa1", "'-\xd9\xa1", 0 },           /* Arabic-Indic 1 */
};

START_TEST(csv_table)
{
    const html_case_t *c = &csv_cases[_i];
    char *in = exact(c->in);
    const char *out = prof_report_csv(unit_pool, in);

    EXPECT(c->same ? out == in : out != in, "csv(%s): %s",
                  show(c->in), out == in ? "s itself" : "a copy");
    EXPECT(out != NULL && strcmp(out, c->want) == 0,
                  "csv(%s) = %s, want %s", show(c->in), show(out),
                  show(c->want));
    free(in);
    check_csv(unit_pool, c->in);
}
END_TEST

START_TEST(csv_null)
{
    ck_assert_str_eq(prof_report_csv(unit_pool, NULL), "");
}
END_TEST

/* Strings over the bytes that make numbers, with a sign in front: each is
 * prefixed exactly when the regex says it is not a number. */
START_TEST(csv_number_strings)
{
    static const char alpha[] = "+-.0159e ,";
    apr_pool_t *p;
    char s[8];
    int len, k, idx[6];

    ck_assert_int_eq(apr_pool_create(&p, unit_pool), APR_SUCCESS);
    for (len = 1; len <= 6; ++len) {
        for (k = 0; k < len; ++k) {
            idx[k] = 0;
        }
        for (;;) {
            for (k = 0; k < len; ++k) {
                s[k] = alpha[idx[k]];
            }
            s[len] = '\0';
            check_csv(p, s);
            apr_pool_clear(p);
            for (k = len - 1; k >= 0 && ++idx[k] == (int)sizeof(alpha) - 1;
                 --k) {
                idx[k] = 0;
            }
            if (k < 0) {
                break;
            }
        }
    }
    apr_pool_destroy(p);
}
END_TEST

/* ------------------------------------------------- all escapers, hostile */

/* The bytes around which the rules change. */
static const unsigned char edges[] = {
    0x01, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1f, 0x20, '"', '&', '\'',
    '+', ',', '-', '.', '0', '<', '=', '>', '@', '\\', 0x7e, 0x7f, 0x80,
    0x85, 0x8f, 0x90, 0x9f, 0xa0, 0xa8, 0xa9, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf,
    0xe0, 0xe1, 0xe2, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5,
    0xf8, 0xfe, 0xff,
};

/* Bytes enough to make every kind of 4-byte sequence, good and bad. */
static const unsigned char edges4[] = {
    0x0a, '<', 'a', 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc2, 0xe0,
    0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff,
};

/* s and its NUL at the very end of g's block of 8 bytes. */
static char *at_end(char *block, const unsigned char *s, size_t n)
{
    char *at = block + 8 - (n + 1);

    memcpy(at, s, n);
    at[n] = '\0';
    return at;
}

/* Every byte alone, between letters, and doubled. */
START_TEST(escape_every_byte)
{
    unit_guard_t g;
    char *block = unit_guard_alloc(&g, 8);
    apr_pool_t *p;
    int b;

    ck_assert_int_eq(apr_pool_create(&p, unit_pool), APR_SUCCESS);
    for (b = 1; b < 256; ++b) {
        unsigned char one[1] = { (unsigned char)b };
        unsigned char mid[3] = { 'a', (unsigned char)b, 'z' };
        unsigned char two[2] = { (unsigned char)b, (unsigned char)b };

        check_all(p, at_end(block, one, 1));
        check_all(p, at_end(block, mid, 3));
        check_all(p, at_end(block, two, 2));
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
    unit_guard_free(&g);
}
END_TEST

/* Every string of two bytes. */
START_TEST(escape_every_pair)
{
    unit_guard_t g;
    char *block = unit_guard_alloc(&g, 8);
    apr_pool_t *p;
    int a, b;

    ck_assert_int_eq(apr_pool_create(&p, unit_pool), APR_SUCCESS);
    for (a = 1; a < 256; ++a) {
        for (b = 1; b < 256; ++b) {
            unsigned char s[2] = { (unsigned char)a, (unsigned char)b };

            check_all(p, at_end(block, s, 2));
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
    unit_guard_free(&g);
}
END_TEST

/* Every string of three bytes from edges[], and of four from edges4[]. */
START_TEST(escape_edge_strings)
{
    unit_guard_t g;
    char *block = unit_guard_alloc(&g, 8);
    apr_pool_t *p;
    int i, j, k, l;
    const int n3 = N_OF(edges), n4 = N_OF(edges4);

    ck_assert_int_eq(apr_pool_create(&p, unit_pool), APR_SUCCESS);
    for (i = 0; i < n3; ++i) {
        for (j = 0; j < n3; ++j) {
            for (k = 0; k < n3; ++k) {
                unsigned char s[3] = { edges[i], edges[j], edges[k] };

                check_all(p, at_end(block, s, 3));
                apr_pool_clear(p);
            }
        }
    }
    for (i = 0; i < n4; ++i) {
        for (j = 0; j < n4; ++j) {
            for (k = 0; k < n4; ++k) {
                for (l = 0; l < n4; ++l) {
                    unsigned char s[4] = { edges4[i], edges4[j], edges4[k],
                                           edges4[l] };

                    check_all(p, at_end(block, s, 4));
                    apr_pool_clear(p);
                }
            }
        }
    }
    apr_pool_destroy(p);
    unit_guard_free(&g);
}
END_TEST

/* Random strings up to 200 bytes: any byte, mostly the edges, and valid
 * characters of every length. */
START_TEST(escape_random)
{
    uint64_t rs = unit_seed(_i);
    apr_pool_t *p;
    char s[4 * 200 + 1];
    int t;

    ck_assert_int_eq(apr_pool_create(&p, unit_pool), APR_SUCCESS);
    for (t = 0; t < 200; ++t) {
        size_t len = 0, want = unit_rand(&rs) % 200;

        while (len < want) {
            uint64_t r = unit_rand(&rs);

            switch (r % 4) {
            case 0:
                s[len] = (char)(1 + (r >> 8) % 255);
                len++;
                break;
            case 1:
                s[len++] = (char)edges[(r >> 8) % sizeof(edges)];
                break;
            case 2:
                s[len++] = (char)(' ' + (r >> 8) % 95);
                break;
            default: {
                apr_uint32_t cp = (apr_uint32_t)((r >> 8) % 0x110000);

                if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
                    cp = 0x2028 + (cp & 1);
                }
                len += ref_encode(cp, (unsigned char *)s + len);
                break;
            }
            }
        }
        s[len] = '\0';
        check_all(p, s);
        apr_pool_clear(p);
    }
    apr_pool_destroy(p);
}
END_TEST

typedef struct {
    const char *unit;   /* repeated to 1 MiB-ish */
    size_t json_unit;   /* bytes each unit becomes */
    size_t html_unit;
} long_case_t;

static const long_case_t long_cases[] = {
    { "<", 6, 4 },
    { "a", 1, 1 },
    { "\x01", 6, 3 },
    { "\xed\xa0\x80", 9, 9 },
    { "\xe2\x80\xa8", 6, 3 },
    { "\xf0\x9f\x98\x80", 4, 4 },
    { "\xff", 3, 3 },
    { "</script>", 6 + 1 + 6 + 6, 4 + 7 + 4 },
    { "\"", 2, 6 },
};

/* Long strings, ending before an inaccessible page: exact lengths, and
 * the same checks as for short ones. */
START_TEST(escape_long)
{
    const long_case_t *c = &long_cases[_i];
    size_t ul = strlen(c->unit), n = (1u << 20) / ul, i;
    unit_guard_t g;
    char *s = unit_guard_alloc(&g, n * ul + 1);
    const char *out;

    for (i = 0; i < n; ++i) {
        memcpy(s + i * ul, c->unit, ul);
    }
    s[n * ul] = '\0';
    out = prof_report_json_str(unit_pool, s);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(strlen(out), n * c->json_unit + 2);
    out = prof_report_html(unit_pool, s);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(strlen(out), n * c->html_unit);
    check_all(unit_pool, s);
    unit_guard_free(&g);
}
END_TEST

/* ----------------------------------------------------------------- times */

typedef struct {
    const char *in;
    apr_int64_t now;
    apr_status_t rv;
    apr_int64_t want;
} time_case_t;

#define NOW APR_INT64_C(1700000000000000)   /* 2023-11-14T22:13:20Z */
#define OK APR_SUCCESS
#define BAD APR_EINVAL
#define S(x) ((apr_int64_t)(x) * US)

static const time_case_t time_cases[] = {
    { "now", NOW, OK, NOW },
    { "now", 0, OK, 0 },
    { "now", TMAX, OK, TMAX },
    { "now", -1, BAD, 0 },
    { "now", TMAX + 1, BAD, 0 },
    { "now", I64MIN, BAD, 0 },
    /* relative */
    { "-0s", NOW, OK, NOW },
    { "-30s", NOW, OK, NOW - S(30) },
    { "-15m", NOW, OK, NOW - S(900) },
    { "-0015m", NOW, OK, NOW - S(900) },
    { "-1h", NOW, OK, NOW - S(3600) },
    { "-7d", NOW, OK, NOW - S(7 * 86400) },
    { "-2w", NOW, OK, NOW - S(14 * 86400) },
    { "-1700000000s", NOW, OK, 0 },
    { "-1700000001s", NOW, BAD, 0 },
    { "-1s", 0, BAD, 0 },
    { "-0s", 0, OK, 0 },
    { "-1s", -1, BAD, 0 },
    { "-1s", TMAX + 1, BAD, 0 },
    { "-9223372036854775807s", NOW, BAD, 0 },
    { "-9223372036854775808s", NOW, BAD, 0 },
    { "-99999999999999999999w", NOW, BAD, 0 },
    { "-99999999999999999999999999999999999999s", TMAX, BAD, 0 },
    { "-15250284452w", TMAX, BAD, 0 },
    { "-418983w", TMAX, OK, TMAX - S(418983) * 7 * 86400 },
    /* epoch seconds */
    { "0", NOW, OK, 0 },
    { "1700000000", NOW, OK, NOW },
    { "0001700000000", NOW, OK, NOW },
    { "1700000000.5", NOW, OK, NOW + 500000 },
    { "1700000000.000001", NOW, OK, NOW + 1 },
    { "1700000000.123456789", NOW, OK, NOW + 123456 },
    { "0.0000009", NOW, OK, 0 },
    { "2024", NOW, OK, S(2024) },
    { "20240101", NOW, OK, S(20240101) },
    { "253402300799", NOW, OK, TMAX - 999999 },
    { "253402300799.999999", NOW, OK, TMAX },
    { "253402300799.9999999999999999999999", NOW, OK, TMAX },
    { "253402300800", NOW, BAD, 0 },
    { "1700000000000", NOW, BAD, 0 },               /* milliseconds */
    { "9223372036854775807", NOW, BAD, 0 },
    { "99999999999999999999999999999", NOW, BAD, 0 },
    /* ISO 8601 */
    { "1970-01-01", NOW, OK, 0 },
    { "1970-01-01T00:00:00Z", NOW, OK, 0 },
    { "2000-02-29T12:00:00Z", NOW, OK, S(951825600) },
    { "2024-12-31T23:59:59Z", NOW, OK, S(1735689599) },
    { "2024-06-15T12:00:00+05:30", NOW, OK, S(1718433000) },
    { "2024-06-15T12:00:00-08:00", NOW, OK, S(1718481600) },
    { "2024-06-15T12:00+05:30", NOW, OK, S(1718433000) },
    { "2024-06-15 12:00:00+05:30", NOW, OK, S(1718433000) },
    { "2024-06-15t12:00:00-08:00", NOW, OK, S(1718481600) },
    { "2024-06-15T12:34", NOW, OK, S(1718454840) },
    { "2024-06-15T12:34Z", NOW, OK, S(1718454840) },
    { "2024-06-15T12:34z", NOW, OK, S(1718454840) },
    { "2024-06-15T12:34+00:00", NOW, OK, S(1718454840) },
    { "2024-06-15T12:34-00:00", NOW, OK, S(1718454840) },
    { "2024-06-15T12:34:56.123456", NOW, OK, S(1718454896) + 123456 },
    { "2024-06-15T12:34:56.1", NOW, OK, S(1718454896) + 100000 },
    { "2024-06-15T12:34:56.1234569Z", NOW, OK, S(1718454896) + 123456 },
    { "2024-06-15T12:34:56.000001+00:00", NOW, OK, S(1718454896) + 1 },
    { "2023-11-14T22:13:20Z", NOW, OK, NOW },
    { "2016-12-31T23:59:60Z", NOW, OK, S(1483228800) },     /* leap second */
    { "2024-02-29", NOW, OK, S(1709164800) },
    { "2000-01-01", NOW, OK, S(946684800) },
    { "2100-03-01", NOW, OK, S(4107542400) },
    { "2038-01-19T03:14:07Z", NOW, OK, S(2147483647) },
    { "2038-01-19T03:14:08Z", NOW, OK, S(2147483648) },
    { "2024-01-01T00:00+23:59", NOW, OK, S(1703980860) },
    { "2024-01-01T00:00-23:59", NOW, OK, S(1704153540) },
    { "1969-12-31T23:00-01:00", NOW, OK, 0 },
    { "1970-01-01T23:59-23:59", NOW, OK, S(172680) },
    { "9999-12-31T23:59:59Z", NOW, OK, S(253402300799) },
    { "9999-12-31T23:59:59.999999Z", NOW, OK, TMAX },
    { "9999-12-31T23:59:59.99999999999Z", NOW, OK, TMAX },
    { "9999-12-31T23:59+00:01", NOW, OK, S(253402300680) },
    { "9999-12-31T23:59:59-00:01", NOW, BAD, 0 },
    { "9999-12-31T23:59:60Z", NOW, BAD, 0 },
    { "1970-01-01T00:00+00:01", NOW, BAD, 0 },
    { "1969-12-31T23:59:59Z", NOW, BAD, 0 },
    { "1969-12-31", NOW, BAD, 0 },
    { "0000-01-01", NOW, BAD, 0 },
    { "2024-06-15", -5, OK, S(1718409600) },    /* now_us only for now/- */
};

START_TEST(time_table)
{
    const time_case_t *c = &time_cases[_i];
    char *in = exact(c->in);
    apr_int64_t out = UNTOUCHED;
    apr_status_t rv = prof_report_time_parse(in, c->now, &out);

    free(in);
    EXPECT(rv == c->rv, "time(%s, %" APR_INT64_T_FMT ") = %d, want %d",
                  c->in, c->now, rv, c->rv);
    EXPECT(out == (rv == OK ? c->want : UNTOUCHED),
                  "time(%s) gave %" APR_INT64_T_FMT ", want %" APR_INT64_T_FMT,
                  c->in, out, c->want);
}
END_TEST

static const char *const time_bad[] = {
    "", " ", "now ", " now", "NOW", "Now", "no", "nowx", "-", "-s", "-1",
    "-1x", "-1M", "-1H", "-1S", "-1D", "-1W", "-1y", "-1mo", "-1.5h",
    "-1,5h", "+1h", "1h", "-1h ", " -1h", "--1h", "-+1h", "-1hh", "-1h1",
    "-h1", "- 1h", "-0x1h", "-1e3s",
    "1700000000.", ".5", "1.2.3", "1e9", "0x10", "+1700000000",
    "-1700000000", "1700000000 ", " 1700000000", "1700000000,5",
    "1700000000.5Z", "1700000000Z", "1700000000.-5", "17000000000000",
    "\xef\xbc\x91\xef\xbc\x97",
    "2024-1-01", "2024-01-1", "24-01-01", "02024-01-01", "20240101T1200",
    "2024-13-01", "2024-00-01", "2024-01-00", "2024-01-32", "2024-04-31",
    "2024-06-31", "2024-09-31", "2024-11-31", "2023-02-29", "2023-02-30",
    "2024-02-30", "1900-02-29", "2100-02-29", "2024-06-15T24:00",
    "2024-06-15T24:00:00Z", "2024-06-15T23:60", "2024-06-15T23:59:61",
    "2024-06-15T23:59:99", "2024-06-15T1:00", "2024-06-15T12",
    "2024-06-15T12:", "2024-06-15T12:0", "2024-06-15T12:00:",
    "2024-06-15T12:00:0", "2024-06-15T12:00:00.", "2024-06-15T12:00.5",
    "2024-06-15T12:00:00,5", "2024-06-15T", "2024-06-15 ", "2024-06-15Z",
    "2024-06-15z", "2024-06-15+05:30", "2024-06-15T12:00+05",
    "2024-06-15T12:00+0530", "2024-06-15T12:00+5:30", "2024-06-15T12:00+24:00",
    "2024-06-15T12:00+05:60", "2024-06-15T12:00+05:3", "2024-06-15T12:00+",
    "2024-06-15T12:00ZZ", "2024-06-15T12:00Z ", "2024-06-15T12:00Z+01:00",
    "2024-06-15T12:00 +05:30", "2024-06-15T12:00 05:30",
    "2024-06-15T12:00+05:30:00", "2024-06-15_12:00", "2024-06-15TT12:00",
    "2024-06-15  12:00", "2024-06-15\t12:00", "2024/06/15", "2024.06.15",
    "2024-06", "2024-", "2024-W24", "2024-167", "2024-06-15T12:00:00.-1",
    "2024-06-15T12:00:00.Z", "2024-06-15T12:00:00\xff", "2024-06-15\n",
    "2024-06-15T12:00:00UTC", "2024-06-15T12:00:00 GMT", "10000-01-01",
    "-2024-01-01", "+2024-01-01", "2024-06-15T-1:00", "2024-06-15T+1:00",
    "2024-+6-15", "2024--6-15", "2024-06-15T12:-1", "\xd9\xa2\xd9\xa0-01-01",
};

START_TEST(time_reject)
{
    char *in = exact(time_bad[_i]);
    apr_int64_t out = UNTOUCHED;

    EXPECT(prof_report_time_parse(in, NOW, &out) == APR_EINVAL,
                  "time(%s) accepted: %" APR_INT64_T_FMT, show(in), out);
    EXPECT1(out == UNTOUCHED);
    free(in);
}
END_TEST

START_TEST(time_null)
{
    apr_int64_t out = UNTOUCHED;

    ck_assert_int_eq(prof_report_time_parse(NULL, NOW, &out), APR_EINVAL);
    EXPECT1(out == UNTOUCHED);
    ck_assert_int_eq(prof_report_time_parse("now", NOW, NULL), APR_EINVAL);
    ck_assert_int_eq(prof_report_time_parse("0", NOW, NULL), APR_EINVAL);
}
END_TEST

static int ref_is_leap(int y)
{
    /* not the code's form: count the rules that apply */
    return (y % 4 == 0) - (y % 100 == 0) + (y % 400 == 0);
}

static int ref_month_days(int y, int m)
{
    static const int days[13] = { 0, 31, 28, 31, 30, 31, 30, 31, 31, 30,
                                  31, 30, 31 };

    return days[m] + (m == 2 && ref_is_leap(y));
}

/* Every day from 1970-01-01 to 2100-12-31, counted one by one; and every
 * date-shaped string of those years (days 00-32, months 00-13) accepted
 * exactly when it is such a day, at that day's midnight. */
START_TEST(time_days_brute_force)
{
    apr_int64_t n = 0, out;
    int y, m, d;
    char s[40];

    for (y = 1970; y <= 2100; ++y) {
        for (m = 0; m <= 13; ++m) {
            for (d = 0; d <= 32; ++d) {
                int real = m >= 1 && m <= 12 && d >= 1
                           && d <= ref_month_days(y, m);
                apr_status_t rv;

                snprintf(s, sizeof(s), "%04d-%02d-%02d", y, m, d);
                out = UNTOUCHED;
                rv = prof_report_time_parse(s, NOW, &out);
                if (!real) {
                    EXPECT(rv == APR_EINVAL, "%s accepted", s);
                    continue;
                }
                EXPECT(prof_report_days_from_civil(y, m, d) == n,
                              "days_from_civil(%s) = %" APR_INT64_T_FMT
                              ", want %" APR_INT64_T_FMT, s,
                              prof_report_days_from_civil(y, m, d), n);
                EXPECT(rv == APR_SUCCESS && out == n * 86400 * US,
                              "%s: %d, %" APR_INT64_T_FMT, s, rv, out);
                n++;
            }
        }
    }
    ck_assert_int_eq(n, prof_report_days_from_civil(2101, 1, 1));
    ck_assert_int_eq(n, 47847);     /* 131 years, 32 of them leap */
}
END_TEST

/* Far from 1970: 400 Gregorian years are 146097 days everywhere, and
 * 0000-03-01 is the start of Hinnant's era 0. */
START_TEST(time_days_far)
{
    int y, m, d;

    ck_assert_int_eq(prof_report_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(prof_report_days_from_civil(1969, 12, 31), -1);
    ck_assert_int_eq(prof_report_days_from_civil(0, 3, 1), -719468);
    ck_assert_int_eq(prof_report_days_from_civil(9999, 12, 31), 2932896);
    ck_assert_int_eq(prof_report_days_from_civil(1, 1, 1), -719162);
    for (y = -2000; y <= 12000; y += 7) {
        for (m = 1; m <= 12; ++m) {
            for (d = 1; d <= 28; d += 9) {
                EXPECT1(prof_report_days_from_civil(y + 400, m, d)
                          == prof_report_days_from_civil(y, m, d) + 146097);
            }
            /* the day after the month's last is the next month's first */
            EXPECT1(prof_report_days_from_civil(y, m, ref_month_days(y, m))
                      + 1
                      == (m == 12 ? prof_report_days_from_civil(y + 1, 1, 1)
                          : prof_report_days_from_civil(y, m + 1, 1)));
        }
    }
}
END_TEST

/* Random instants of the whole range, written with a random offset, with
 * and without seconds and fractions of up to 9 digits, checked against
 * gmtime_r() of the local time. */
START_TEST(time_random_iso)
{
    static const char *const seps = "Tt ";
    uint64_t rs = unit_seed(100 + _i);
    int k;

    for (k = 0; k < 20000; ++k) {
        apr_int64_t t = (apr_int64_t)(unit_rand(&rs) % 253402300800u);
        apr_int64_t frac = (apr_int64_t)(unit_rand(&rs) % 1000000);
        int off = (int)(unit_rand(&rs) % (2 * 1439 + 1)) - 1439;
        int ndig = (int)(unit_rand(&rs) % 10), secs, zone, i;
        time_t local;
        struct tm tm;
        char s[80];
        size_t o;
        apr_int64_t want, out = UNTOUCHED, kept;
        apr_status_t rv;

        if (unit_rand(&rs) % 4 == 0) {
            off = 0;
        }
        if (unit_rand(&rs) % 4 == 0) {
            frac = 0;
            ndig = 0;
            t -= t % 60;
        }
        local = (time_t)(t + off * 60);
        EXPECT1(gmtime_r(&local, &tm) != NULL);
        if (tm.tm_year + 1900 > 9999) {
            continue;
        }
        o = (size_t)snprintf(s, sizeof(s), "%04d-%02d-%02d%c%02d:%02d",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                             seps[unit_rand(&rs) % 3], tm.tm_hour, tm.tm_min);
        secs = tm.tm_sec != 0 || ndig > 0 || unit_rand(&rs) % 2;
        kept = 0;
        if (secs) {
            o += (size_t)snprintf(s + o, sizeof(s) - o, ":%02d", tm.tm_sec);
        }
        if (secs && ndig > 0) {
            char f[16];

            snprintf(f, sizeof(f), "%06d%03d", (int)frac,
                     (int)(unit_rand(&rs) % 1000));
            s[o++] = '.';
            for (i = 0; i < ndig; ++i) {
                s[o++] = f[i];
                if (i < 6) {
                    kept = kept * 10 + (f[i] - '0');
                }
            }
            for (i = ndig; i < 6; ++i) {
                kept *= 10;
            }
        }
        s[o] = '\0';
        zone = (int)(unit_rand(&rs) % 5);
        if (off != 0 || zone >= 3) {
            int a = off < 0 ? -off : off;

            snprintf(s + o, sizeof(s) - o, "%c%02d:%02d",
                     off < 0 || (off == 0 && zone == 4) ? '-' : '+',
                     a / 60, a % 60);
        }
        else if (zone >= 1) {
            snprintf(s + o, sizeof(s) - o, "%s", zone == 1 ? "Z" : "z");
        }
        want = t * US + kept;
        rv = prof_report_time_parse(s, NOW, &out);
        EXPECT(rv == APR_SUCCESS && out == want,
                      "%s: %d, %" APR_INT64_T_FMT ", want %" APR_INT64_T_FMT,
                      s, rv, out, want);
    }
}
END_TEST

/* Every unit, at its bounds: n units back to 0 is accepted, one more is
 * not, at several now_us. */
START_TEST(time_relative_bounds)
{
    static const struct { char c; apr_int64_t us; } units[] = {
        { 's', US }, { 'm', 60 * US }, { 'h', 3600 * US },
        { 'd', 86400 * US }, { 'w', 7 * 86400 * US },
    };
    static const apr_int64_t nows[] = { 0, 1, US - 1, NOW, TMAX - 1, TMAX };
    int u, k;
    char s[40];

    for (u = 0; u < N_OF(units); ++u) {
        for (k = 0; k < N_OF(nows); ++k) {
            apr_int64_t now = nows[k], n = now / units[u].us, out = UNTOUCHED;
            int j;

            snprintf(s, sizeof(s), "-%" APR_INT64_T_FMT "%c", n, units[u].c);
            ck_assert_int_eq(prof_report_time_parse(s, now, &out), APR_SUCCESS);
            EXPECT1(out == now - n * units[u].us);
            snprintf(s, sizeof(s), "-%" APR_INT64_T_FMT "%c", n + 1,
                     units[u].c);
            out = UNTOUCHED;
            EXPECT(prof_report_time_parse(s, now, &out) == APR_EINVAL,
                          "%s at %" APR_INT64_T_FMT, s, now);
            EXPECT1(out == UNTOUCHED);
            for (j = 0; j <= 3 && j <= n; ++j) {
                snprintf(s, sizeof(s), "-%d%c", j, units[u].c);
                ck_assert_int_eq(prof_report_time_parse(s, now, &out),
                                 APR_SUCCESS);
                EXPECT1(out == now - j * units[u].us);
            }
        }
    }
}
END_TEST

/* Every prefix of a full timestamp: accepted only where the prefix is
 * itself one of the forms. */
START_TEST(time_prefixes)
{
    static const char full[] = "2024-12-31T23:59:59.123456+05:30";
    static const struct { size_t len; apr_int64_t want; } valid[] = {
        { 1, S(2) }, { 2, S(20) }, { 3, S(202) }, { 4, S(2024) },
        { 10, S(1735603200) }, { 16, S(1735689540) }, { 19, S(1735689599) },
        { 21, S(1735689599) + 100000 }, { 22, S(1735689599) + 120000 },
        { 23, S(1735689599) + 123000 }, { 24, S(1735689599) + 123400 },
        { 25, S(1735689599) + 123450 }, { 26, S(1735689599) + 123456 },
        { 32, S(1735689599 - 19800) + 123456 },
    };
    size_t len;

    for (len = 0; len <= strlen(full); ++len) {
        char *s = malloc(len + 1);
        apr_int64_t out = UNTOUCHED;
        apr_status_t rv;
        int v;

        memcpy(s, full, len);
        s[len] = '\0';
        rv = prof_report_time_parse(s, NOW, &out);
        for (v = 0; v < N_OF(valid) && valid[v].len != len; ++v) {
        }
        if (v < N_OF(valid)) {
            EXPECT(rv == APR_SUCCESS && out == valid[v].want,
                          "%s: %d, %" APR_INT64_T_FMT, s, rv, out);
        }
        else {
            EXPECT(rv == APR_EINVAL, "%s accepted", s);
        }
        free(s);
    }
}
END_TEST

/* Any byte after a complete time: refused, but for the digits that
 * continue a number. */
START_TEST(time_trailing_byte)
{
    static const struct { const char *s; const char *more; } bases[] = {
        { "now", "" },
        { "-15m", "" },
        { "2024-12-31T23:59:59.123456+05:30", "" },
        { "2024-12-31T23:59:59Z", "" },
        { "2024-12-31T23:59Z", "" },
        { "2024-12-31T23:59:59.1", "0123456789Zz" },
        { "2024-12-31", "" },
        { "1700000000", "0123456789" },
        { "1700000000.5", "0123456789" },
    };
    int i, b;

    for (i = 0; i < N_OF(bases); ++i) {
        for (b = 1; b < 256; ++b) {
            char s[64];
            apr_int64_t out = UNTOUCHED;
            apr_status_t rv;

            snprintf(s, sizeof(s), "%s%c", bases[i].s, b);
            rv = prof_report_time_parse(s, NOW, &out);
            if (strchr(bases[i].more, b) != NULL) {
                EXPECT(rv == APR_SUCCESS, "%s refused", show(s));
            }
            else {
                EXPECT(rv == APR_EINVAL, "%s accepted", show(s));
            }
        }
    }
}
END_TEST

/* ---------------------------------------------------------------- status */

typedef struct {
    const char *in;
    int ok, lo, hi;
} status_case_t;

static const status_case_t status_cases[] = {
    { "100", 1, 100, 100 }, { "200", 1, 200, 200 }, { "404", 1, 404, 404 },
    { "499", 1, 499, 499 }, { "599", 1, 599, 599 },
    { "1xx", 1, 100, 199 }, { "2xx", 1, 200, 299 }, { "3XX", 1, 300, 399 },
    { "4xX", 1, 400, 499 }, { "5Xx", 1, 500, 599 }, { "5xx", 1, 500, 599 },
    { "", 0, 0, 0 }, { "099", 0, 0, 0 }, { "000", 0, 0, 0 },
    { "600", 0, 0, 0 }, { "999", 0, 0, 0 }, { "6xx", 0, 0, 0 },
    { "0xx", 0, 0, 0 }, { "9xx", 0, 0, 0 }, { "40x", 0, 0, 0 },
    { "4x0", 0, 0, 0 }, { "4x", 0, 0, 0 }, { "x", 0, 0, 0 },
    { "xx", 0, 0, 0 }, { "xxx", 0, 0, 0 }, { " 404", 0, 0, 0 },
    { "404 ", 0, 0, 0 }, { "+404", 0, 0, 0 }, { "-404", 0, 0, 0 },
    { "4044", 0, 0, 0 }, { "0404", 0, 0, 0 }, { "4xxx", 0, 0, 0 },
    { "404\n", 0, 0, 0 }, { "1", 0, 0, 0 }, { "10", 0, 0, 0 },
    { "5xx5", 0, 0, 0 }, { "5yy", 0, 0, 0 }, { "5**", 0, 0, 0 },
    { "4.0", 0, 0, 0 }, { "2e2", 0, 0, 0 }, { "\xd9\xa4\xd9\xa0\xd9\xa4", 0, 0, 0 },
};

START_TEST(status_table)
{
    const status_case_t *c = &status_cases[_i];
    char *in = exact(c->in);
    int lo = -7, hi = -7, ok = prof_report_status_parse(in, &lo, &hi);

    free(in);
    EXPECT(ok == c->ok, "status(%s) = %d", show(c->in), ok);
    ck_assert_int_eq(lo, c->ok ? c->lo : -7);
    ck_assert_int_eq(hi, c->ok ? c->hi : -7);
}
END_TEST

/* Every string of up to 4 bytes over an alphabet of the bytes that
 * matter, against the header's rule. */
START_TEST(status_exhaustive)
{
    static const char alpha[] = "0123456789xX +-a";
    const int na = (int)sizeof(alpha) - 1;
    int len, total, k, valid = 0;

    for (len = 0; len <= 4; ++len) {
        for (total = 1, k = 0; k < len; ++k) {
            total *= na;
        }
        for (k = 0; k < total; ++k) {
            char s[5];
            int j, r = k, lo = -7, hi = -7, ok, want, wlo = 0, whi = 0;

            for (j = 0; j < len; ++j) {
                s[j] = alpha[r % na];
                r /= na;
            }
            s[len] = '\0';
            want = 0;
            if (len == 3 && s[0] >= '1' && s[0] <= '5') {
                if (strchr("xX", s[1]) && strchr("xX", s[2])) {
                    want = 1;
                    wlo = (s[0] - '0') * 100;
                    whi = wlo + 99;
                }
                else if (s[1] >= '0' && s[1] <= '9' && s[2] >= '0'
                         && s[2] <= '9') {
                    want = 1;
                    wlo = whi = atoi(s);
                }
            }
            ok = prof_report_status_parse(s, &lo, &hi);
            EXPECT(ok == want, "status(%s) = %d", s, ok);
            if (ok) {
                EXPECT1(lo == wlo && hi == whi);
                valid++;
            }
            else {
                EXPECT1(lo == -7 && hi == -7);
            }
        }
    }
    ck_assert_int_eq(valid, 500 + 5 * 4);
}
END_TEST

START_TEST(status_null)
{
    int lo = -7, hi = -7;

    ck_assert_int_eq(prof_report_status_parse(NULL, &lo, &hi), 0);
    ck_assert_int_eq(prof_report_status_parse("404", NULL, &hi), 0);
    ck_assert_int_eq(prof_report_status_parse("404", &lo, NULL), 0);
    EXPECT1(lo == -7 && hi == -7);
}
END_TEST

/* ---------------------------------------------------------------- cursor */

typedef struct {
    apr_int64_t key, id;
    const char *token;
} cursor_case_t;

/* From Python: base64.urlsafe_b64encode(struct.pack('>qq', key, id)
 * + struct.pack('>H', binascii.crc_hqx(struct.pack('>qq', key, id),
 * 0xffff))). */
static const cursor_case_t cursor_cases[] = {
    { 0, 0, "AAAAAAAAAAAAAAAAAAAAAGoK" },
    { 1, 2, "AAAAAAAAAAEAAAAAAAAAAqFr" },
    { -1, -1, "_____________________2pL" },
    { I64MIN, I64MAX, "gAAAAAAAAAB__________zkb" },
    { I64MAX, I64MIN, "f_________-AAAAAAAAAADla" },
    { APR_INT64_C(1735689599000000), APR_INT64_C(4294967297),
      "AAYqmbn9HcAAAAABAAAAAWWo" },
    { -5, 7, "__________sAAAAAAAAAByCi" },
};

START_TEST(cursor_known)
{
    const cursor_case_t *c = &cursor_cases[_i];
    const char *t = prof_report_cursor_encode(unit_pool, c->key, c->id);
    apr_int64_t key = UNTOUCHED, id = UNTOUCHED;
    char *in;

    ck_assert_str_eq(t, c->token);
    in = exact(c->token);
    ck_assert_int_eq(prof_report_cursor_decode(in, &key, &id), APR_SUCCESS);
    free(in);
    EXPECT1(key == c->key && id == c->id);
}
END_TEST

static void roundtrip(apr_pool_t *p, apr_int64_t k, apr_int64_t i)
{
    const char *t = prof_report_cursor_encode(p, k, i);
    apr_int64_t key = UNTOUCHED, id = UNTOUCHED;
    size_t j;

    EXPECT1(t != NULL && strlen(t) == PROF_REPORT_CURSOR_LEN);
    for (j = 0; t[j]; ++j) {
        EXPECT1(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789-_", t[j]) != NULL);
    }
    EXPECT1(prof_report_cursor_decode(t, &key, &id) == APR_SUCCESS);
    EXPECT(key == k && id == i, "%" APR_INT64_T_FMT ",%"
                  APR_INT64_T_FMT " came back as %" APR_INT64_T_FMT ",%"
                  APR_INT64_T_FMT, k, i, key, id);
}

START_TEST(cursor_roundtrip)
{
    static const apr_int64_t v[] = {
        I64MIN, I64MIN + 1, -APR_INT64_C(4294967296), -256, -255, -2, -1, 0,
        1, 2, 255, 256, APR_INT64_C(4294967296), TMAX, I64MAX - 1, I64MAX,
    };
    uint64_t rs = unit_seed(7);
    apr_pool_t *p;
    int a, b;

    ck_assert_int_eq(apr_pool_create(&p, unit_pool), APR_SUCCESS);
    for (a = 0; a < N_OF(v); ++a) {
        for (b = 0; b < N_OF(v); ++b) {
            roundtrip(p, v[a], v[b]);
        }
    }
    for (a = 0; a < 100000; ++a) {
        /* through the unsigned value, to reach the negative ones too */
        uint64_t x = unit_rand(&rs), y = unit_rand(&rs) >> (a % 64);
        apr_int64_t k = x > (uint64_t)I64MAX ? -(apr_int64_t)(~x) - 1
                                             : (apr_int64_t)x;

        roundtrip(p, k, (apr_int64_t)y * (a % 2 ? -1 : 1));
        if (a % 1000 == 0) {
            apr_pool_clear(p);
        }
    }
    apr_pool_destroy(p);
}
END_TEST

static int cursor_rejects(const char *s)
{
    apr_int64_t key = UNTOUCHED, id = UNTOUCHED;

    return prof_report_cursor_decode(s, &key, &id) == APR_EINVAL
           && key == UNTOUCHED && id == UNTOUCHED;
}

/* Every change of one character, every swap of neighbours, every cut
 * and every extra byte of valid cursors is refused. */
START_TEST(cursor_tampered)
{
    uint64_t rs = unit_seed(8);
    int t, pos, c;

    for (t = 0; t < 40; ++t) {
        const char *tok = prof_report_cursor_encode(
            unit_pool, (apr_int64_t)(unit_rand(&rs) >> 1) * (t % 2 ? -1 : 1),
            (apr_int64_t)(unit_rand(&rs) >> (t % 63)));
        char s[PROF_REPORT_CURSOR_LEN + 2];

        for (pos = 0; pos < PROF_REPORT_CURSOR_LEN; ++pos) {
            for (c = 1; c < 256; ++c) {
                if (c == (unsigned char)tok[pos]) {
                    continue;
                }
                strcpy(s, tok);
                s[pos] = (char)c;
                EXPECT(cursor_rejects(s), "%s from %s", show(s), tok);
            }
            if (pos + 1 < PROF_REPORT_CURSOR_LEN && tok[pos] != tok[pos + 1]) {
                strcpy(s, tok);
                s[pos] = tok[pos + 1];
                s[pos + 1] = tok[pos];
                EXPECT(cursor_rejects(s), "%s from %s", s, tok);
            }
            strcpy(s, tok);
            s[pos] = '\0';
            EXPECT(cursor_rejects(s), "%s from %s", s, tok);
        }
        for (c = 1; c < 256; ++c) {
            snprintf(s, sizeof(s), "%s%c", tok, c);
            EXPECT1(cursor_rejects(s));
        }
    }
}
END_TEST

/* A million random strings of the right shape: those that pass are
 * exactly what encode makes of their values, and about 1 in 65536 pass. */
START_TEST(cursor_random_strings)
{
    static const char alpha[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t rs = unit_seed(9);
    int t, k, passed = 0;
    char s[PROF_REPORT_CURSOR_LEN + 1];

    for (t = 0; t < 1000000; ++t) {
        apr_int64_t key = UNTOUCHED, id = UNTOUCHED;
        uint64_t r = 0;

        for (k = 0; k < PROF_REPORT_CURSOR_LEN; ++k) {
            if (k % 10 == 0) {
                r = unit_rand(&rs);
            }
            s[k] = alpha[r & 63];
            r >>= 6;
        }
        s[k] = '\0';
        if (prof_report_cursor_decode(s, &key, &id) == APR_SUCCESS) {
            EXPECT1(strcmp(prof_report_cursor_encode(unit_pool, key, id),
                           s) == 0);
            passed++;
        }
        else {
            EXPECT1(key == UNTOUCHED && id == UNTOUCHED);
        }
    }
    /* expected 15.3; Poisson odds of 50 or more are below 1e-11 */
    EXPECT(passed < 50, "%d of 10^6 random strings passed", passed);
}
END_TEST

static const char *const cursor_bad[] = {
    "", "A", "AAAA", "AAAAAAAAAAAAAAAAAAAAAGo", "AAAAAAAAAAAAAAAAAAAAAGoKA",
    "AAAAAAAAAAAAAAAAAAAAAGoK=", "AAAAAAAAAAAAAAAAAAAAAGo=",
    "AAAAAAAAAAAAAAAAAAAAAGoL", "AAAAAAAAAAAAAAAAAAAAAAAA",
    "________________________", "+++++++++++++++++++++2pL",
    "/////////////////////2pL", "AAAAAAAAAAAAAAAAAAAAAGoK ",
    " AAAAAAAAAAAAAAAAAAAAAGoK", "aaaaaaaaaaaaaaaaaaaaagok",
    "AAAAAAAAAAAAAAAAAAAAAGo\xc3\x8a", "AAAAAAAAAAAAAAAAAAAA\nGoK",
    "AAAAAAAAAAAAAAAAAAAAAGoK\n", "0000000000000000000000000000000000000000",
};

START_TEST(cursor_reject)
{
    char *in = exact(cursor_bad[_i]);

    EXPECT(cursor_rejects(in), "%s accepted", show(in));
    free(in);
}
END_TEST

START_TEST(cursor_null_and_short)
{
    apr_int64_t key = UNTOUCHED, id = UNTOUCHED;
    unit_guard_t g;
    char *block = unit_guard_alloc(&g, 8);
    int n;

    EXPECT1(cursor_rejects(NULL));
    ck_assert_int_eq(prof_report_cursor_decode("AAAAAAAAAAAAAAAAAAAAAGoK",
                                               NULL, &id), APR_EINVAL);
    ck_assert_int_eq(prof_report_cursor_decode("AAAAAAAAAAAAAAAAAAAAAGoK",
                                               &key, NULL), APR_EINVAL);
    EXPECT1(key == UNTOUCHED && id == UNTOUCHED);
    /* short strings before a guard page: nothing past the NUL is read */
    for (n = 0; n < 8; ++n) {
        EXPECT1(cursor_rejects(at_end(block,
                                        (const unsigned char *)"AAAAAAA",
                                        (size_t)n)));
    }
    unit_guard_free(&g);
}
END_TEST

/* --------------------------------------------------------------- numbers */

typedef struct {
    const char *in;
    apr_int64_t min, max;
    apr_status_t rv;
    apr_int64_t want;
} int_case_t;

static const int_case_t int_cases[] = {
    { "0", I64MIN, I64MAX, OK, 0 },
    { "-0", I64MIN, I64MAX, OK, 0 },
    { "00", I64MIN, I64MAX, OK, 0 },
    { "7", I64MIN, I64MAX, OK, 7 },
    { "007", I64MIN, I64MAX, OK, 7 },
    { "-007", I64MIN, I64MAX, OK, -7 },
    { "123456789", I64MIN, I64MAX, OK, 123456789 },
    { "9223372036854775807", I64MIN, I64MAX, OK, I64MAX },
    { "-9223372036854775808", I64MIN, I64MAX, OK, I64MIN },
    { "-9223372036854775807", I64MIN, I64MAX, OK, I64MIN + 1 },
    { "9223372036854775806", I64MIN, I64MAX, OK, I64MAX - 1 },
    { "0000000000000000000000000009223372036854775807", I64MIN, I64MAX, OK,
      I64MAX },
    { "-0000000000000000000000000009223372036854775808", I64MIN, I64MAX, OK,
      I64MIN },
    { "9223372036854775808", I64MIN, I64MAX, BAD, 0 },
    { "9223372036854775809", I64MIN, I64MAX, BAD, 0 },
    { "9223372036854775810", I64MIN, I64MAX, BAD, 0 },
    { "-9223372036854775809", I64MIN, I64MAX, BAD, 0 },
    { "-9223372036854775810", I64MIN, I64MAX, BAD, 0 },
    { "18446744073709551615", I64MIN, I64MAX, BAD, 0 },
    { "18446744073709551616", I64MIN, I64MAX, BAD, 0 },
    { "92233720368547758070", I64MIN, I64MAX, BAD, 0 },
    { "99999999999999999999999999999999999", I64MIN, I64MAX, BAD, 0 },
    { "5", 1, 10, OK, 5 },
    { "1", 1, 10, OK, 1 },
    { "10", 1, 10, OK, 10 },
    { "0", 1, 10, BAD, 0 },
    { "11", 1, 10, BAD, 0 },
    { "-1", 1, 10, BAD, 0 },
    { "1", 1, 1, OK, 1 },
    { "1", 2, 1, BAD, 0 },
    { "-5", -10, -1, OK, -5 },
    { "-11", -10, -1, BAD, 0 },
    { "9223372036854775807", 0, I64MAX - 1, BAD, 0 },
    { "-9223372036854775808", I64MIN + 1, 0, BAD, 0 },
    { "", I64MIN, I64MAX, BAD, 0 },
    { "-", I64MIN, I64MAX, BAD, 0 },
    { "+1", I64MIN, I64MAX, BAD, 0 },
    { " 1", I64MIN, I64MAX, BAD, 0 },
    { "1 ", I64MIN, I64MAX, BAD, 0 },
    { "1a", I64MIN, I64MAX, BAD, 0 },
    { "a1", I64MIN, I64MAX, BAD, 0 },
    { "0x10", I64MIN, I64MAX, BAD, 0 },
    { "1.0", I64MIN, I64MAX, BAD, 0 },
    { "1e3", I64MIN, I64MAX, BAD, 0 },
    { "--1", I64MIN, I64MAX, BAD, 0 },
    { "- 1", I64MIN, I64MAX, BAD, 0 },
    { "-+1", I64MIN, I64MAX, BAD, 0 },
    { "1-", I64MIN, I64MAX, BAD, 0 },
    { "1,000", I64MIN, I64MAX, BAD, 0 },
    { "1_000", I64MIN, I64MAX, BAD, 0 },
    { "\t1", I64MIN, I64MAX, BAD, 0 },
    { "1\n", I64MIN, I64MAX, BAD, 0 },
    { "\xd9\xa1", I64MIN, I64MAX, BAD, 0 },
    { "\xef\xbc\x91", I64MIN, I64MAX, BAD, 0 },
    { "9223372036854775807x", I64MIN, I64MAX, BAD, 0 },
};

START_TEST(int_table)
{
    const int_case_t *c = &int_cases[_i];
    char *in = exact(c->in);
    apr_int64_t out = UNTOUCHED;
    apr_status_t rv = prof_report_int_parse(in, c->min, c->max, &out);

    free(in);
    EXPECT(rv == c->rv, "int(%s) = %d", show(c->in), rv);
    EXPECT(out == (rv == OK ? c->want : UNTOUCHED),
                  "int(%s) gave %" APR_INT64_T_FMT, show(c->in), out);
}
END_TEST

/* Random values of every magnitude, through printf and back, with random
 * bounds around them. */
START_TEST(int_random)
{
    uint64_t rs = unit_seed(10);
    int t;

    for (t = 0; t < 200000; ++t) {
        uint64_t x = unit_rand(&rs) >> (unit_rand(&rs) % 64);
        apr_int64_t v = x > (uint64_t)I64MAX ? -(apr_int64_t)(~x) - 1
                                             : (apr_int64_t)x;
        apr_int64_t lo = I64MIN, hi = I64MAX, out = UNTOUCHED;
        char s[32];
        apr_status_t rv;

        if (t % 2) {
            v = v == I64MIN ? v : -v;
        }
        if (t % 3 == 0) {
            lo = (apr_int64_t)(unit_rand(&rs) >> 2) - (I64MAX >> 1);
            hi = (apr_int64_t)(unit_rand(&rs) >> 2) - (I64MAX >> 1);
        }
        snprintf(s, sizeof(s), "%" APR_INT64_T_FMT, v);
        rv = prof_report_int_parse(s, lo, hi, &out);
        if (v >= lo && v <= hi) {
            EXPECT(rv == APR_SUCCESS && out == v, "%s", s);
        }
        else {
            EXPECT(rv == APR_EINVAL && out == UNTOUCHED, "%s", s);
        }
    }
}
END_TEST

/* Each power of ten and its neighbours, up to 10^25, both signs. */
START_TEST(int_powers)
{
    char s[40];
    int e, d;

    for (e = 0; e <= 25; ++e) {
        for (d = -1; d <= 1; ++d) {
            int neg;

            for (neg = 0; neg <= 1; ++neg) {
                /* 10^e + d as a decimal string, built by hand */
                char digits[32];
                int n = 0, i;
                apr_int64_t out = UNTOUCHED, want = 0;
                int fits;
                apr_status_t rv;

                if (e == 0) {
                    n = snprintf(digits, sizeof(digits), "%d", 1 + d);
                }
                else if (d == -1) {
                    for (i = 0; i < e; ++i) {
                        digits[n++] = '9';
                    }
                }
                else {
                    digits[n++] = '1';
                    for (i = 1; i < e; ++i) {
                        digits[n++] = '0';
                    }
                    digits[n++] = (char)('0' + d);
                }
                digits[n] = '\0';
                snprintf(s, sizeof(s), "%s%s", neg ? "-" : "", digits);
                fits = n < 19 || (n == 19 && strcmp(digits,
                                                    "9223372036854775807") <= 0);
                if (fits) {
                    for (i = 0; i < n; ++i) {
                        want = want * 10 + (digits[i] - '0');
                    }
                    want = neg ? -want : want;
                }
                rv = prof_report_int_parse(s, I64MIN, I64MAX, &out);
                EXPECT(fits ? rv == APR_SUCCESS && out == want
                              : rv == APR_EINVAL && out == UNTOUCHED,
                              "%s: %d %" APR_INT64_T_FMT, s, rv, out);
            }
        }
    }
}
END_TEST

START_TEST(int_null)
{
    apr_int64_t out = UNTOUCHED;

    ck_assert_int_eq(prof_report_int_parse(NULL, I64MIN, I64MAX, &out),
                     APR_EINVAL);
    EXPECT1(out == UNTOUCHED);
    ck_assert_int_eq(prof_report_int_parse("1", I64MIN, I64MAX, NULL),
                     APR_EINVAL);
}
END_TEST

typedef struct {
    const char *in;
    apr_status_t rv;
    apr_int64_t want;
} ms_case_t;

static const ms_case_t ms_cases[] = {
    { "0", OK, 0 },
    { "250", OK, 250000 },
    { "0.5", OK, 500 },
    { "12.125", OK, 12125 },
    { "12.12", OK, 12120 },
    { "12.1", OK, 12100 },
    { "12.0", OK, 12000 },
    { "007", OK, 7000 },
    { "0.001", OK, 1 },
    { "0.000", OK, 0 },
    { "999999999999.999", OK, APR_INT64_C(999999999999999) },
    { "1000000000000", OK, APR_INT64_C(1000000000000000) },
    { "1000000000000.0", OK, APR_INT64_C(1000000000000000) },
    { "1000000000000.000", OK, APR_INT64_C(1000000000000000) },
    { "0001000000000000", OK, APR_INT64_C(1000000000000000) },
    { "1000000000000.001", BAD, 0 },
    { "1000000000000.1", BAD, 0 },
    { "1000000000001", BAD, 0 },
    { "9223372036854775807", BAD, 0 },
    { "99999999999999999999999", BAD, 0 },
    { "-1", BAD, 0 },
    { "-0", BAD, 0 },
    { "+1", BAD, 0 },
    { ".5", BAD, 0 },
    { "5.", BAD, 0 },
    { "0.0005", BAD, 0 },
    { "1.0000", BAD, 0 },
    { "1.2345", BAD, 0 },
    { "1e3", BAD, 0 },
    { " 1", BAD, 0 },
    { "1 ", BAD, 0 },
    { "", BAD, 0 },
    { "1,5", BAD, 0 },
    { "1.5.", BAD, 0 },
    { "1..5", BAD, 0 },
    { "0x1", BAD, 0 },
    { "1.a", BAD, 0 },
    { "1ms", BAD, 0 },
    { "inf", BAD, 0 },
    { "nan", BAD, 0 },
    { "\xef\xbc\x91", BAD, 0 },
};

START_TEST(ms_table)
{
    const ms_case_t *c = &ms_cases[_i];
    char *in = exact(c->in);
    apr_int64_t out = UNTOUCHED;
    apr_status_t rv = prof_report_ms_parse(in, &out);

    free(in);
    EXPECT(rv == c->rv, "ms(%s) = %d", show(c->in), rv);
    EXPECT(out == (rv == OK ? c->want : UNTOUCHED),
                  "ms(%s) gave %" APR_INT64_T_FMT, show(c->in), out);
}
END_TEST

/* Random durations of every magnitude, written with 0 to 3 decimals. */
START_TEST(ms_random)
{
    uint64_t rs = unit_seed(11);
    int t;

    for (t = 0; t < 200000; ++t) {
        apr_int64_t us = (apr_int64_t)((unit_rand(&rs) >> (unit_rand(&rs) % 64))
                                       % (PROF_REPORT_MS_MAX * 1000 + 1));
        int dec = t % 4;
        apr_int64_t out = UNTOUCHED, ms = us / 1000, frac = us % 1000;
        char s[48];

        switch (dec) {
        case 0:
            us = ms * 1000;
            snprintf(s, sizeof(s), "%" APR_INT64_T_FMT, ms);
            break;
        case 1:
            frac -= frac % 100;
            snprintf(s, sizeof(s), "%" APR_INT64_T_FMT ".%d", ms,
                     (int)(frac / 100));
            break;
        case 2:
            frac -= frac % 10;
            snprintf(s, sizeof(s), "%" APR_INT64_T_FMT ".%02d", ms,
                     (int)(frac / 10));
            break;
        default:
            snprintf(s, sizeof(s), "%" APR_INT64_T_FMT ".%03d", ms,
                     (int)frac);
            break;
        }
        if (dec > 0) {
            us = ms * 1000 + frac;
        }
        EXPECT(prof_report_ms_parse(s, &out) == APR_SUCCESS
                      && out == us, "%s: %" APR_INT64_T_FMT, s, out);
    }
}
END_TEST

START_TEST(ms_null)
{
    apr_int64_t out = UNTOUCHED;

    ck_assert_int_eq(prof_report_ms_parse(NULL, &out), APR_EINVAL);
    EXPECT1(out == UNTOUCHED);
    ck_assert_int_eq(prof_report_ms_parse("1", NULL), APR_EINVAL);
}
END_TEST


/* ---- phase starts and route parameters --------------------------------- */

typedef struct {
    const char *in;
    apr_status_t rv;
    apr_int64_t want[14];
} starts_case_t;

#define NO (-1)
static const starts_case_t starts_cases[] = {
    { "0,41,,,60,70,80,90,100,110,120,130,500,900", OK,
      { 0, 41, NO, NO, 60, 70, 80, 90, 100, 110, 120, 130, 500, 900 } },
    { ",,,,,,,,,,,,,", OK,
      { NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO } },
    { "0,1,2,3,4,5,6,7,8,9,10,11,12,999999999999999", OK,
      { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        APR_INT64_C(999999999999999) } },
    { "007,,,,,,,,,,,,,", OK,
      { 7, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO, NO } },
    { "", BAD, { 0 } },                                /* one field */
    { "0,1,2,3,4,5,6,7,8,9,10,11,12", BAD, { 0 } },    /* 13 */
    { "0,1,2,3,4,5,6,7,8,9,10,11,12,13,", BAD, { 0 } }, /* 15 */
    { "0,1,2,3,4,5,6,7,8,9,10,11,12,-1", BAD, { 0 } },
    { "0,1,2,3,4,5,6,7,8,9,10,11,12,+1", BAD, { 0 } },
    { "0,1,2,3,4,5,6,7,8,9,10,11,12, 1", BAD, { 0 } },
    { "0,1,2,3,4,5,6,7,8,9,10,11,12,1 ", BAD, { 0 } },
    { "0;1,2,3,4,5,6,7,8,9,10,11,12,13", BAD, { 0 } },
    { "0,1,2,3,4,5,6,7,8,9,10,11,12,1000000000000000", BAD, { 0 } },
    { "0,1,2,3,4,5,6,7,8,9,10,11,12,1e3", BAD, { 0 } },
};

START_TEST(starts_table)
{
    const starts_case_t *c = &starts_cases[_i];
    apr_int64_t out[14];
    apr_status_t rv;
    int k;

    for (k = 0; k < 14; ++k) {
        out[k] = UNTOUCHED;
    }
    rv = prof_report_phase_starts_parse(c->in, out, 14);
    EXPECT(rv == c->rv, "starts(%s) = %d", show(c->in), rv);
    for (k = 0; k < 14; ++k) {
        EXPECT(out[k] == (rv == OK ? c->want[k] : UNTOUCHED),
               "starts(%s)[%d] gave %" APR_INT64_T_FMT, show(c->in), k,
               out[k]);
    }
}
END_TEST

START_TEST(starts_null)
{
    apr_int64_t out[14];

    ck_assert_int_eq(prof_report_phase_starts_parse(NULL, out, 14), BAD);
    ck_assert_int_eq(prof_report_phase_starts_parse("1", NULL, 1), BAD);
    ck_assert_int_eq(prof_report_phase_starts_parse("1", out, 0), BAD);
    ck_assert_int_eq(prof_report_phase_starts_parse("1", out, 1), OK);
    ck_assert(out[0] == 1);
}
END_TEST

static const struct {
    const char *in;
    int ok;
} route_cases[] = {
    { "/item/:id", 1 }, { "/", 1 }, { "/a b", 1 }, { "/<x>'\"", 1 },
    { "checkout", 1 }, { "api.v2", 1 }, { "a-b_c:d", 1 },
    /* Whatever ProfilerRoute accepts (prof_route_name_check()). */
    { "a b", 1 }, { "a/b", 1 }, { "\xc3\xa9t\xc3\xa9", 1 },
    { "", 0 }, { "a'b", 0 }, { "a;b", 0 }, { " a", 0 }, { "a\tb", 0 },
    { "\xc3", 0 },
};

START_TEST(route_param_table)
{
    EXPECT(prof_report_route_param_ok(route_cases[_i].in)
           == route_cases[_i].ok, "route(%s)", show(route_cases[_i].in));
}
END_TEST

START_TEST(route_param_null)
{
    ck_assert_int_eq(prof_report_route_param_ok(NULL), 0);
}
END_TEST

Suite *prof_report_text_suite(void)
{
    Suite *s = suite_create("prof_report_text");
    TCase *tc;

    tc = tcase_create("escape");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, json_table, 0, N_OF(json_cases));
    tcase_add_test(tc, json_null);
    tcase_add_loop_test(tc, html_table, 0, N_OF(html_cases));
    tcase_add_test(tc, html_null);
    tcase_add_loop_test(tc, csv_table, 0, N_OF(csv_cases));
    tcase_add_test(tc, csv_null);
    tcase_add_test(tc, csv_number_strings);
    suite_add_tcase(s, tc);

    tc = tcase_create("escape_hostile");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, escape_every_byte);
    tcase_add_test(tc, escape_every_pair);
    tcase_add_test(tc, escape_edge_strings);
    tcase_add_loop_test(tc, escape_random, 0, 50);
    tcase_add_loop_test(tc, escape_long, 0, N_OF(long_cases));
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);

    tc = tcase_create("time");
    tcase_add_loop_test(tc, time_table, 0, N_OF(time_cases));
    tcase_add_loop_test(tc, time_reject, 0, N_OF(time_bad));
    tcase_add_test(tc, time_null);
    tcase_add_test(tc, time_days_brute_force);
    tcase_add_test(tc, time_days_far);
    tcase_add_loop_test(tc, time_random_iso, 0, 5);
    tcase_add_test(tc, time_relative_bounds);
    tcase_add_test(tc, time_prefixes);
    tcase_add_test(tc, time_trailing_byte);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("status");
    tcase_add_loop_test(tc, status_table, 0, N_OF(status_cases));
    tcase_add_test(tc, status_exhaustive);
    tcase_add_test(tc, status_null);
    suite_add_tcase(s, tc);

    tc = tcase_create("cursor");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, cursor_known, 0, N_OF(cursor_cases));
    tcase_add_test(tc, cursor_roundtrip);
    tcase_add_test(tc, cursor_tampered);
    tcase_add_test(tc, cursor_random_strings);
    tcase_add_loop_test(tc, cursor_reject, 0, N_OF(cursor_bad));
    tcase_add_test(tc, cursor_null_and_short);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("numbers");
    tcase_add_loop_test(tc, int_table, 0, N_OF(int_cases));
    tcase_add_test(tc, int_random);
    tcase_add_test(tc, int_powers);
    tcase_add_test(tc, int_null);
    tcase_add_loop_test(tc, ms_table, 0, N_OF(ms_cases));
    tcase_add_test(tc, ms_random);
    tcase_add_test(tc, ms_null);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);

    tc = tcase_create("store_values");
    tcase_add_loop_test(tc, starts_table, 0, N_OF(starts_cases));
    tcase_add_test(tc, starts_null);
    tcase_add_loop_test(tc, route_param_table, 0, N_OF(route_cases));
    tcase_add_test(tc, route_param_null);
    suite_add_tcase(s, tc);
    return s;
}
