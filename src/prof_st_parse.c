/* Licensed under the Apache License, Version 2.0. */

/*
 * The Server-Timing parser. The rules, and which web-platform-tests case
 * decided each, are in prof_st_parse.h.
 *
 * One forward pass over the value. Every byte of the input goes through
 * st_peek(), which never looks at or past the end of the window and counts
 * what it looks at; copies into the pool add their lengths to the same
 * count. No loop ever moves the cursor back, so the count, and the time, is
 * linear in the input: test/unit/test_st_parse.c holds it to that.
 */

#include <float.h>
#include <string.h>

#include "apr_strings.h"
#include "prof_st.h"
#include "prof_st_parse.h"

typedef struct {
    const unsigned char *s;
    apr_size_t pos;         /* next byte to look at */
    apr_size_t end;         /* the window: never looked at */
    apr_size_t reads;       /* bytes looked at, with repeats */
} st_cur_t;

/* The byte at the cursor, or -1 at the end of the window. */
static APR_INLINE int st_peek(st_cur_t *c)
{
    if (c->pos >= c->end) {
        return -1;
    }
    c->reads++;
    return c->s[c->pos];
}

static void st_skip_ows(st_cur_t *c)
{
    int ch;

    while ((ch = st_peek(c)) == ' ' || ch == '\t') {
        c->pos++;
    }
}

/* Consumes the longest run of tchars; returns its length. */
static apr_size_t st_take_token(st_cur_t *c)
{
    apr_size_t start = c->pos;
    int ch;

    while ((ch = st_peek(c)) >= 0 && prof_st_is_tchar((unsigned char)ch)) {
        c->pos++;
    }
    return c->pos - start;
}

/* At a '"': consumes the quoted-string. Returns 1 with the cursor after the
 * closing quote, or 0 with the cursor at the end of the window when there is
 * none (a '\' escapes whatever follows it, the end included). */
static int st_skip_quoted(st_cur_t *c)
{
    int ch;

    c->pos++;
    while ((ch = st_peek(c)) >= 0) {
        c->pos++;
        if (ch == '"') {
            return 1;
        }
        if (ch == '\\') {
            if (st_peek(c) < 0) {
                return 0;
            }
            c->pos++;
        }
    }
    return 0;
}

/* Skips junk up to the next ',' (and ';' if semi) outside quoted-strings,
 * and returns it, unconsumed; -1 at the end of the window. OWS is junk too
 * here, which is what skipping it means. */
static int st_skip_junk(st_cur_t *c, int semi)
{
    int ch;

    while ((ch = st_peek(c)) >= 0) {
        if (ch == ',' || (semi && ch == ';')) {
            return ch;
        }
        if (ch == '"') {
            st_skip_quoted(c);
        }
        else {
            c->pos++;
        }
    }
    return -1;
}

/* The content of a closed quoted-string, s[0..n) without its quotes,
 * unescaped into the pool. n never ends inside an escape: the closing quote
 * would have been escaped. A NUL byte ends the copy (see prof_st_entry_t).
 * *outlen gets the length copied. */
static char *st_unescape(apr_pool_t *p, st_cur_t *c, apr_size_t from,
                         apr_size_t n, apr_size_t *outlen)
{
    const unsigned char *s = c->s + from;
    char *d = apr_palloc(p, n + 1), *q = d;
    apr_size_t i;

    c->reads += n;
    for (i = 0; i < n; ++i) {
        if (s[i] == '\\') {
            ++i;
        }
        if (s[i] == '\0') {
            break;
        }
        *q++ = (char)s[i];
    }
    *q = '\0';
    *outlen = (apr_size_t)(q - d);
    return d;
}

/* Exact powers of ten: up to 1e22 every one is a double. */
static const double st_pow10[] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#define ST_POW10_MAX 22
#define ST_SIG_MAX   19     /* decimal digits that always fit a uint64 */
#define ST_EXP_SAT   100000 /* exponents beyond this all mean "too big" */

static int st_isdigit(int ch)
{
    return ch >= '0' && ch <= '9';
}

/*
 * The number at the start of s[0..n), by HTML's rules for parsing
 * floating-point number values: returns 1 and stores it, or 0 when there is
 * none or it does not fit a double. Hand-written because strtod() follows
 * LC_NUMERIC, which a module cannot count on being "C". At most 19
 * significant digits are kept (the rest are below a double's precision);
 * the result is correctly rounded when those fit 2^53 with an exponent
 * within 10^+-22, which covers every duration up to PROF_ST_PARSE_MAX_DUR_US
 * as prof_st_add() writes it, and within an ulp or so otherwise.
 */
static int st_parse_number(const unsigned char *s, apr_size_t n, double *out)
{
    apr_size_t i = 0;
    apr_uint64_t m = 0;
    long e10 = 0;
    int neg = 0, sig = 0, digits = 0;
    double v;

    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n'
                     || s[i] == '\f' || s[i] == '\r')) {
        ++i;
    }
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        ++i;
    }
    for (; i < n && st_isdigit(s[i]); ++i) {
        digits++;
        if (m == 0 && s[i] == '0') {
            continue;                   /* leading zero */
        }
        if (sig < ST_SIG_MAX) {
            m = m * 10 + (apr_uint64_t)(s[i] - '0');
            sig++;
        }
        else {
            e10++;                      /* dropped, but it counts */
        }
    }
    if (i < n && s[i] == '.') {
        for (++i; i < n && st_isdigit(s[i]); ++i) {
            digits++;
            if (m == 0 && s[i] == '0') {
                e10--;
            }
            else if (sig < ST_SIG_MAX) {
                m = m * 10 + (apr_uint64_t)(s[i] - '0');
                sig++;
                e10--;
            }
        }
    }
    if (digits == 0) {
        return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        apr_size_t j = i + 1;
        long ex = 0;
        int eneg = 0;

        if (j < n && (s[j] == '-' || s[j] == '+')) {
            eneg = s[j] == '-';
            ++j;
        }
        /* no digit: "1e" is 1 with junk after it */
        for (; j < n && st_isdigit(s[j]); ++j) {
            if (ex < ST_EXP_SAT) {
                ex = ex * 10 + (s[j] - '0');
            }
        }
        e10 += eneg ? -ex : ex;
    }
    if (m == 0) {
        *out = 0.0;                     /* "-0" too */
        return 1;
    }
    /* m has sig digits: the value is below 10^(sig + e10). */
    if (sig + e10 > DBL_MAX_10_EXP + 1) {
        return 0;
    }
    if (sig + e10 < DBL_MIN_10_EXP - DBL_DIG - 2) {
        *out = 0.0;
        return 1;
    }
    if (m <= (APR_UINT64_C(1) << 53) && e10 >= -ST_POW10_MAX
        && e10 <= ST_POW10_MAX) {
        /* Both operands exact: one rounding, the correct one. */
        v = e10 >= 0 ? (double)m * st_pow10[e10] : (double)m / st_pow10[-e10];
    }
    else {
        /* Several roundings: in long double, where there is one with more
         * precision than double, to keep them below double's. */
        long double lv = (long double)m;

        while (e10 > 0) {
            long k = e10 > ST_POW10_MAX ? ST_POW10_MAX : e10;

            lv *= st_pow10[k];
            e10 -= k;
        }
        while (e10 < 0) {
            long k = -e10 > ST_POW10_MAX ? ST_POW10_MAX : -e10;

            lv /= st_pow10[k];
            e10 += k;
        }
        if (lv > (long double)DBL_MAX) {
            /* Within half an ulp (2^970) it still rounds to DBL_MAX; where
             * long double is double, lv is infinite here and fails. */
            if (lv - (long double)DBL_MAX >= 0x1p970L) {
                return 0;
            }
            lv = DBL_MAX;
        }
        v = (double)lv;
    }
    *out = neg ? -v : v;
    return 1;
}

enum { ST_PARAM_OTHER, ST_PARAM_DUR, ST_PARAM_DESC };

/* ASCII only: the locale must not decide what "DESC" means. */
static int st_caseeq(const unsigned char *s, apr_size_t n, const char *lower)
{
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        unsigned char ch = s[i];

        if (ch >= 'A' && ch <= 'Z') {
            ch = (unsigned char)(ch - 'A' + 'a');
        }
        if (lower[i] == '\0' || ch != (unsigned char)lower[i]) {
            return 0;
        }
    }
    return lower[n] == '\0';
}

static int st_param_kind(st_cur_t *c, apr_size_t from, apr_size_t n)
{
    if (n != 3 && n != 4) {
        return ST_PARAM_OTHER;
    }
    c->reads += n;
    if (st_caseeq(c->s + from, n, "dur")) {
        return ST_PARAM_DUR;
    }
    if (st_caseeq(c->s + from, n, "desc")) {
        return ST_PARAM_DESC;
    }
    return ST_PARAM_OTHER;
}

/*
 * After the metric name: the parameters, up to the ',' that ends the
 * element. Returns that ',' (unconsumed), or -1 at the end of the window.
 */
static int st_parse_params(st_cur_t *c, apr_pool_t *p, prof_st_entry_t *e)
{
    for (;;) {
        apr_size_t from, n, vfrom, vlen;
        int kind, quoted = 0, ch;

        ch = st_skip_junk(c, 1);
        if (ch != ';') {
            return ch;
        }
        c->pos++;
        st_skip_ows(c);
        from = c->pos;
        n = st_take_token(c);
        if (n == 0) {
            continue;                   /* no name: junk up to the next ';' */
        }
        kind = st_param_kind(c, from, n);
        st_skip_ows(c);
        vfrom = c->pos;
        vlen = 0;
        if (st_peek(c) == '=') {
            c->pos++;
            st_skip_ows(c);
            if (st_peek(c) == '"') {
                vfrom = c->pos + 1;
                if (st_skip_quoted(c)) {
                    vlen = c->pos - 1 - vfrom;
                    quoted = 1;
                }
                else {
                    vfrom = c->pos;     /* unterminated: the empty value */
                }
            }
            else {
                vfrom = c->pos;
                vlen = st_take_token(c);
            }
        }
        /* The first dur and the first desc count, whatever they hold. */
        if (kind == ST_PARAM_DUR && !e->has_dur) {
            const unsigned char *num = c->s + vfrom;
            apr_size_t numlen = vlen;
            double v;

            if (quoted) {
                num = (const unsigned char *)st_unescape(p, c, vfrom, vlen,
                                                         &numlen);
            }
            c->reads += numlen;
            e->has_dur = 1;
            e->dur_ms = st_parse_number(num, numlen, &v) ? v : 0.0;
        }
        else if (kind == ST_PARAM_DESC && !e->has_desc) {
            e->has_desc = 1;
            if (quoted) {
                e->desc = st_unescape(p, c, vfrom, vlen, &vlen);
            }
            else {
                c->reads += vlen;
                e->desc = apr_pstrmemdup(p, (const char *)c->s + vfrom, vlen);
            }
        }
    }
}

apr_status_t prof_st_parse_counted(apr_pool_t *p, const char *value,
                                   apr_size_t len, apr_array_header_t *out,
                                   apr_size_t *reads)
{
    apr_status_t rv = APR_SUCCESS;
    st_cur_t c;
    int count = 0, truncated;

    if (reads) {
        *reads = 0;
    }
    if (p == NULL || out == NULL || out->elt_size != sizeof(prof_st_entry_t)
        || (value == NULL && len > 0)) {
        return APR_EINVAL;
    }
    truncated = len > PROF_ST_PARSE_MAX_INPUT;
    c.s = (const unsigned char *)value;
    c.pos = 0;
    c.end = truncated ? PROF_ST_PARSE_MAX_INPUT : len;
    c.reads = 0;

    for (;;) {
        prof_st_entry_t e;
        apr_size_t from, n;
        int ch;

        st_skip_ows(&c);
        if ((ch = st_peek(&c)) < 0) {
            break;
        }
        if (ch == ',') {
            c.pos++;                    /* an empty element */
            continue;
        }
        from = c.pos;
        if ((n = st_take_token(&c)) == 0) {
            /* No name: not a metric, skip all of it, quoted ',' included. */
            if (st_skip_junk(&c, 0) < 0) {
                break;
            }
            c.pos++;
            continue;
        }
        if (count == PROF_ST_PARSE_MAX_ENTRIES) {
            rv = APR_INCOMPLETE;
            goto leave;
        }
        c.reads += n;
        e.name = apr_pstrmemdup(p, value + from, n);
        e.has_dur = 0;
        e.dur_ms = 0.0;
        e.has_desc = 0;
        e.desc = "";
        ch = st_parse_params(&c, p, &e);
        if (ch < 0 && truncated) {
            /* The cut falls in this metric: its last value may be cut. */
            break;
        }
        *(prof_st_entry_t *)apr_array_push(out) = e;
        count++;
        if (ch < 0) {
            break;
        }
        c.pos++;                        /* the ',' */
    }
    if (truncated) {
        rv = APR_INCOMPLETE;
    }

leave:
    if (reads) {
        *reads = c.reads;
    }
    return rv;
}

apr_status_t prof_st_parse(apr_pool_t *p, const char *value, apr_size_t len,
                           apr_array_header_t *out)
{
    return prof_st_parse_counted(p, value, len, out, NULL);
}

apr_interval_time_t prof_st_entry_dur_us(const prof_st_entry_t *e)
{
    double us;
    apr_interval_time_t whole;

    /* The negation catches NaN as well: every comparison with it fails. */
    if (!(e->dur_ms > 0.0) || e->dur_ms > DBL_MAX) {
        return 0;
    }
    us = e->dur_ms * 1000.0;
    if (us >= (double)PROF_ST_PARSE_MAX_DUR_US) {
        return PROF_ST_PARSE_MAX_DUR_US;
    }
    /* Below 2^52 the fraction us - whole is exact: no libm round() needed,
     * and no us + 0.5 that rounds up what is just below one half. */
    whole = (apr_interval_time_t)us;
    return us - (double)whole >= 0.5 ? whole + 1 : whole;
}
