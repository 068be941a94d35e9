/* Licensed under the Apache License, Version 2.0. */

/*
 * The report handler's escapers and parsers. The rules are in
 * prof_report_text.h.
 *
 * The escapers walk their input twice with the same code: once to measure
 * the result (out == NULL), once to write it into a block allocated once
 * from the pool. Sharing the walk means the two can never disagree about a
 * length, so nothing is written past the block. No ctype.h: its answers
 * follow the locale, and these rules are about ASCII bytes.
 *
 * The parsers read digits by hand and compare against their bound before
 * every multiplication, so no input can overflow them: strtol() and
 * friends skip spaces, accept signs and "0x", and report overflow through
 * errno, which is three ways to accept more than the header says.
 */

#include <string.h>

#include "prof_report_text.h"
#include "prof_route.h"

#define US_PER_S        APR_INT64_C(1000000)
#define S_PER_DAY       86400
#define MAX_EPOCH_S     (PROF_REPORT_TIME_MAX_US / US_PER_S)

/* What utf8_next() returns for an ill-formed sequence: no code point. */
#define BAD_UTF8        0xffffffffu

/* U+FFFD REPLACEMENT CHARACTER, as UTF-8. */
#define FFFD            "\xef\xbf\xbd"

static const char hexdig[] = "0123456789abcdef";

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/*
 * The character that starts at s: its code point, or BAD_UTF8 for an
 * ill-formed sequence, and in *n how many bytes it or its maximal subpart
 * takes (at least 1). The allowed range of each continuation byte is that
 * of the Unicode standard's table 3-7: only the second byte's range
 * depends on the lead byte, and narrowing it there is what refuses
 * overlongs (0xe0, 0xf0), surrogates (0xed) and values past U+10FFFF
 * (0xf4) at the earliest byte that betrays them. The NUL is outside every
 * continuation range, so a sequence cut short by the end of the string
 * stops there and nothing past the NUL is read.
 */
static apr_uint32_t utf8_next(const unsigned char *s, apr_size_t *n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    apr_size_t need, i;
    apr_uint32_t cp;

    if (c < 0x80) {
        *n = 1;
        return c;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1;
        cp = c & 0x1f;
    }
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        cp = c & 0x0f;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        cp = c & 0x07;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    }
    else {
        *n = 1;     /* a continuation byte, 0xc0, 0xc1, 0xf5-0xff */
        return BAD_UTF8;
    }
    for (i = 1; i <= need; ++i) {
        if (s[i] < lo || s[i] > hi) {
            *n = i;
            return BAD_UTF8;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
        lo = 0x80;
        hi = 0xbf;
    }
    *n = need + 1;
    return cp;
}

/*
 * The escapers' writer. With buf NULL it only counts; len then says how
 * big the block must be. A count past APR_SIZE_MAX - 1 (an input of more
 * than a sixth of a 32-bit address space) sets overflow, which the callers
 * treat as a failed allocation.
 */
typedef struct {
    char *buf;
    apr_size_t len;
    int overflow;
} out_t;

static void put(out_t *o, const char *s, apr_size_t n)
{
    if (n > APR_SIZE_MAX - 1 - o->len) {
        o->overflow = 1;
        return;
    }
    if (o->buf) {
        memcpy(o->buf + o->len, s, n);
    }
    o->len += n;
}

static void put_u(out_t *o, apr_uint32_t cp)
{
    char e[6] = { '\\', 'u' };

    e[2] = hexdig[(cp >> 12) & 0xf];
    e[3] = hexdig[(cp >> 8) & 0xf];
    e[4] = hexdig[(cp >> 4) & 0xf];
    e[5] = hexdig[cp & 0xf];
    put(o, e, sizeof(e));
}

static void json_walk(out_t *o, const unsigned char *s)
{
    apr_size_t n;

    put(o, "\"", 1);
    while (*s) {
        apr_uint32_t cp = utf8_next(s, &n);

        switch (cp) {
        case BAD_UTF8:
            put(o, FFFD, 3);
            break;
        case '"':
            put(o, "\\\"", 2);
            break;
        case '\\':
            put(o, "\\\\", 2);
            break;
        case '\b':
            put(o, "\\b", 2);
            break;
        case '\t':
            put(o, "\\t", 2);
            break;
        case '\n':
            put(o, "\\n", 2);
            break;
        case '\f':
            put(o, "\\f", 2);
            break;
        case '\r':
            put(o, "\\r", 2);
            break;
        case '<':
        case '>':
        case '&':
        case 0x2028:
        case 0x2029:
            put_u(o, cp);
            break;
        default:
            if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
                put_u(o, cp);
            }
            else {
                put(o, (const char *)s, n);
            }
            break;
        }
        s += n;
    }
    put(o, "\"", 1);
}

const char *prof_report_json_str(apr_pool_t *p, const char *s)
{
    out_t o = { NULL, 0, 0 };

    if (s == NULL) {
        return "null";
    }
    json_walk(&o, (const unsigned char *)s);
    if (o.overflow || (o.buf = apr_palloc(p, o.len + 1)) == NULL) {
        return NULL;
    }
    o.len = 0;
    json_walk(&o, (const unsigned char *)s);
    o.buf[o.len] = '\0';
    return o.buf;
}

/* Returns whether anything differs from the input. */
static int html_walk(out_t *o, const unsigned char *s)
{
    apr_size_t n;
    int changed = 0;

    while (*s) {
        apr_uint32_t cp = utf8_next(s, &n);
        const char *rep;

        switch (cp) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        case '\t':
        case '\n':
            rep = NULL;
            break;
        default:
            rep = cp == BAD_UTF8 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)
                  ? FFFD : NULL;
            break;
        }
        if (rep) {
            put(o, rep, strlen(rep));
            changed = 1;
        }
        else {
            put(o, (const char *)s, n);
        }
        s += n;
    }
    return changed;
}

const char *prof_report_html(apr_pool_t *p, const char *s)
{
    out_t o = { NULL, 0, 0 };

    if (s == NULL) {
        return "";
    }
    if (!html_walk(&o, (const unsigned char *)s)) {
        return s;
    }
    if (o.overflow || (o.buf = apr_palloc(p, o.len + 1)) == NULL) {
        return NULL;
    }
    o.len = 0;
    html_walk(&o, (const unsigned char *)s);
    o.buf[o.len] = '\0';
    return o.buf;
}

/* [+-]?[0-9]+(\.[0-9]+)?, the whole string. */
static int csv_is_number(const unsigned char *s)
{
    if (*s == '+' || *s == '-') {
        ++s;
    }
    if (!is_digit(*s)) {
        return 0;
    }
    while (is_digit(*s)) {
        ++s;
    }
    if (*s == '.') {
        if (!is_digit(*++s)) {
            return 0;
        }
        while (is_digit(*s)) {
            ++s;
        }
    }
    return *s == '\0';
}

const char *prof_report_csv(apr_pool_t *p, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t len, quotes = 0, extra, i;
    int prefix, quote = 0;
    char *buf, *w;

    if (s == NULL) {
        return "";
    }
    prefix = (u[0] == '=' || u[0] == '+' || u[0] == '-' || u[0] == '@'
              || u[0] == '\t' || u[0] == '\r') && !csv_is_number(u);
    for (len = 0; u[len]; ++len) {
        switch (u[len]) {
        case '"':
            quotes++;
            /* fall through */
        case ',':
        case '\r':
        case '\n':
            quote = 1;
            break;
        default:
            break;
        }
    }
    if (!prefix && !quote) {
        return s;
    }
    /* quotes <= len, so extra <= len + 3: overflows only for a string of
     * half the address space, and then allocating fails anyway. */
    extra = (apr_size_t)prefix + (quote ? 2 + quotes : 0);
    if (len > APR_SIZE_MAX - 1 - extra
        || (buf = apr_palloc(p, len + extra + 1)) == NULL) {
        return NULL;
    }
    w = buf;
    if (quote) {
        *w++ = '"';
    }
    if (prefix) {
        *w++ = '\'';
    }
    for (i = 0; i < len; ++i) {
        if (s[i] == '"') {
            *w++ = '"';
        }
        *w++ = s[i];
    }
    if (quote) {
        *w++ = '"';
    }
    *w = '\0';
    return buf;
}

/* ---------------------------------------------------------------- times */

apr_int64_t prof_report_days_from_civil(int y, int m, int d)
{
    /* Hinnant: a year that starts in March puts the leap day last, and 400
     * Gregorian years ("an era") are exactly 146097 days. */
    apr_int64_t yy = (apr_int64_t)y - (m <= 2);
    apr_int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    apr_int64_t yoe = yy - era * 400;                       /* [0, 399] */
    apr_int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    apr_int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}

static int days_in_month(int y, int m)
{
    static const unsigned char mdays[12] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)) {
        return 29;
    }
    return mdays[m - 1];
}

/* Exactly n digits at *s, into *v; *s moves past them. */
static int digits_n(const unsigned char **s, int n, int *v)
{
    int i, r = 0;

    for (i = 0; i < n; ++i) {
        if (!is_digit((*s)[i])) {
            return 0;
        }
        r = r * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *v = r;
    return 1;
}

/* One or more digits at *s, at most max, into *v; *s moves past them. A
 * value past max fails as soon as it gets there, however many digits
 * follow. */
static int digits_max(const unsigned char **s, apr_int64_t max,
                      apr_int64_t *v)
{
    const unsigned char *t = *s;
    apr_int64_t r = 0;

    if (!is_digit(*t)) {
        return 0;
    }
    for (; is_digit(*t); ++t) {
        int d = *t - '0';

        if (r > (max - d) / 10) {
            return 0;
        }
        r = r * 10 + d;
    }
    *s = t;
    *v = r;
    return 1;
}

/* One or more digits at *s as a fraction of a second, in microseconds:
 * the first 6 count, the rest are read and dropped. */
static int fraction_us(const unsigned char **s, apr_int64_t *us)
{
    const unsigned char *t = *s;
    apr_int64_t r = 0;
    int n;

    if (!is_digit(*t)) {
        return 0;
    }
    for (n = 0; is_digit(*t); ++t, ++n) {
        if (n < 6) {
            r = r * 10 + (*t - '0');
        }
    }
    for (; n < 6; ++n) {
        r *= 10;
    }
    *s = t;
    *us = r;
    return 1;
}

static apr_status_t time_relative(const unsigned char *s, apr_int64_t now_us,
                                  apr_int64_t *out_us)
{
    apr_int64_t n, unit;

    /* now_us is in [0, MAX], so anything that is more than now_us is
     * refused, and n * unit never overflows. */
    if (!digits_max(&s, PROF_REPORT_TIME_MAX_US, &n)) {
        return APR_EINVAL;
    }
    switch (*s++) {
    case 's':
        unit = US_PER_S;
        break;
    case 'm':
        unit = 60 * US_PER_S;
        break;
    case 'h':
        unit = 3600 * US_PER_S;
        break;
    case 'd':
        unit = S_PER_DAY * US_PER_S;
        break;
    case 'w':
        unit = 7 * S_PER_DAY * US_PER_S;
        break;
    default:
        return APR_EINVAL;
    }
    if (*s != '\0' || n > now_us / unit) {
        return APR_EINVAL;
    }
    *out_us = now_us - n * unit;
    return APR_SUCCESS;
}

static apr_status_t time_epoch(const unsigned char *s, apr_int64_t *out_us)
{
    apr_int64_t sec, frac = 0;

    if (!digits_max(&s, MAX_EPOCH_S, &sec)) {
        return APR_EINVAL;
    }
    if (*s == '.') {
        ++s;
        if (!fraction_us(&s, &frac)) {
            return APR_EINVAL;
        }
    }
    if (*s != '\0') {
        return APR_EINVAL;
    }
    /* sec <= MAX_EPOCH_S, so this is at most PROF_REPORT_TIME_MAX_US. */
    *out_us = sec * US_PER_S + frac;
    return APR_SUCCESS;
}

static apr_status_t time_iso(const unsigned char *s, apr_int64_t *out_us)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, oh, om;
    apr_int64_t frac = 0, offset_s = 0, t;

    if (!digits_n(&s, 4, &y) || *s++ != '-' || !digits_n(&s, 2, &mo)
        || *s++ != '-' || !digits_n(&s, 2, &d)) {
        return APR_EINVAL;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) {
        return APR_EINVAL;
    }
    if (*s == 'T' || *s == 't' || *s == ' ') {
        ++s;
        if (!digits_n(&s, 2, &h) || *s++ != ':' || !digits_n(&s, 2, &mi)
            || h > 23 || mi > 59) {
            return APR_EINVAL;
        }
        if (*s == ':') {
            ++s;
            if (!digits_n(&s, 2, &sec) || sec > 60) {
                return APR_EINVAL;
            }
            if (*s == '.') {
                ++s;
                if (!fraction_us(&s, &frac)) {
                    return APR_EINVAL;
                }
            }
        }
        if (*s == 'Z' || *s == 'z') {
            ++s;
        }
        else if (*s == '+' || *s == '-') {
            int sign = *s++ == '-' ? -1 : 1;

            if (!digits_n(&s, 2, &oh) || *s++ != ':' || !digits_n(&s, 2, &om)
                || oh > 23 || om > 59) {
                return APR_EINVAL;
            }
            offset_s = sign * (oh * 3600 + om * 60);
        }
    }
    if (*s != '\0') {
        return APR_EINVAL;
    }
    /* Years 0000-9999 and an offset under a day keep all of this within
     * +-2^39 seconds, far from overflowing once in microseconds. */
    t = prof_report_days_from_civil(y, mo, d) * S_PER_DAY
        + h * 3600 + mi * 60 + sec - offset_s;
    if (t < 0 || t > MAX_EPOCH_S) {
        return APR_EINVAL;
    }
    *out_us = t * US_PER_S + frac;
    return APR_SUCCESS;
}

apr_status_t prof_report_time_parse(const char *s, apr_int64_t now_us,
                                    apr_int64_t *out_us)
{
    const unsigned char *u = (const unsigned char *)s;
    int now_ok = now_us >= 0 && now_us <= PROF_REPORT_TIME_MAX_US;
    apr_size_t n;

    if (s == NULL || out_us == NULL) {
        return APR_EINVAL;
    }
    if (strcmp(s, "now") == 0) {
        if (!now_ok) {
            return APR_EINVAL;
        }
        *out_us = now_us;
        return APR_SUCCESS;
    }
    if (u[0] == '-') {
        return now_ok ? time_relative(u + 1, now_us, out_us) : APR_EINVAL;
    }
    /* Four digits and a '-' make a date; any other run of digits is epoch
     * seconds. */
    for (n = 0; n < 4 && is_digit(u[n]); ++n) {
    }
    if (n == 4 && u[4] == '-') {
        return time_iso(u, out_us);
    }
    return time_epoch(u, out_us);
}

/* --------------------------------------------------------------- status */

int prof_report_status_parse(const char *s, int *lo, int *hi)
{
    const unsigned char *u = (const unsigned char *)s;
    int v;

    if (s == NULL || lo == NULL || hi == NULL
        || u[0] < '1' || u[0] > '5') {
        return 0;
    }
    if ((u[1] == 'x' || u[1] == 'X') && (u[2] == 'x' || u[2] == 'X')
        && u[3] == '\0') {
        *lo = (u[0] - '0') * 100;
        *hi = *lo + 99;
        return 1;
    }
    if (is_digit(u[1]) && is_digit(u[2]) && u[3] == '\0') {
        v = (u[0] - '0') * 100 + (u[1] - '0') * 10 + (u[2] - '0');
        *lo = *hi = v;
        return 1;
    }
    return 0;
}

/* --------------------------------------------------------------- cursor */

#define CURSOR_BYTES 18

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* CRC-16/CCITT-FALSE, MSB first: the check goes after the data, big-
 * endian, so that data and check form one codeword of the cyclic code,
 * and every burst of up to 16 bits anywhere in it is caught. */
static apr_uint16_t crc16(const unsigned char *b, apr_size_t n)
{
    apr_uint16_t crc = 0xffff;
    apr_size_t i;
    int k;

    for (i = 0; i < n; ++i) {
        crc ^= (apr_uint16_t)(b[i] << 8);
        for (k = 0; k < 8; ++k) {
            crc = (apr_uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021
                                              : crc << 1);
        }
    }
    return crc;
}

static void put_be64(unsigned char *b, apr_int64_t v)
{
    /* Through unsigned, where the two's complement bits are defined. */
    apr_uint64_t u = (apr_uint64_t)v;
    int i;

    for (i = 7; i >= 0; --i) {
        b[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static apr_int64_t get_be64(const unsigned char *b)
{
    apr_uint64_t u = 0;
    int i;

    for (i = 0; i < 8; ++i) {
        u = (u << 8) | b[i];
    }
    /* Converting an out-of-range unsigned to signed is implementation-
     * defined in C99; this is the two's complement reading without it. */
    if (u > (apr_uint64_t)APR_INT64_MAX) {
        return -(apr_int64_t)(~u) - 1;
    }
    return (apr_int64_t)u;
}

const char *prof_report_cursor_encode(apr_pool_t *p, apr_int64_t key,
                                      apr_int64_t id)
{
    unsigned char b[CURSOR_BYTES];
    apr_uint16_t crc;
    char *out, *w;
    int i;

    put_be64(b, key);
    put_be64(b + 8, id);
    crc = crc16(b, 16);
    b[16] = (unsigned char)(crc >> 8);
    b[17] = (unsigned char)(crc & 0xff);

    if ((out = apr_palloc(p, PROF_REPORT_CURSOR_LEN + 1)) == NULL) {
        return NULL;
    }
    /* 18 bytes are six groups of three: no padding, no spare bits, so
     * every string of 24 such characters is the encoding of exactly one
     * byte string, and decoding needs no canonical-form check. */
    for (i = 0, w = out; i < CURSOR_BYTES; i += 3) {
        apr_uint32_t g = ((apr_uint32_t)b[i] << 16)
                         | ((apr_uint32_t)b[i + 1] << 8) | b[i + 2];

        *w++ = b64url[(g >> 18) & 0x3f];
        *w++ = b64url[(g >> 12) & 0x3f];
        *w++ = b64url[(g >> 6) & 0x3f];
        *w++ = b64url[g & 0x3f];
    }
    *w = '\0';
    return out;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

apr_status_t prof_report_cursor_decode(const char *s, apr_int64_t *key,
                                       apr_int64_t *id)
{
    unsigned char b[CURSOR_BYTES];
    int i, j;

    if (s == NULL || key == NULL || id == NULL) {
        return APR_EINVAL;
    }
    /* Stops at a NUL within the first 24 bytes; never reads past it. */
    for (i = 0, j = 0; i < PROF_REPORT_CURSOR_LEN; i += 4, j += 3) {
        apr_uint32_t g = 0;
        int k;

        for (k = 0; k < 4; ++k) {
            int v = b64url_value((unsigned char)s[i + k]);

            if (v < 0) {
                return APR_EINVAL;
            }
            g = (g << 6) | (apr_uint32_t)v;
        }
        b[j] = (unsigned char)(g >> 16);
        b[j + 1] = (unsigned char)(g >> 8);
        b[j + 2] = (unsigned char)g;
    }
    if (s[PROF_REPORT_CURSOR_LEN] != '\0'
        || crc16(b, 16) != (apr_uint16_t)((b[16] << 8) | b[17])) {
        return APR_EINVAL;
    }
    *key = get_be64(b);
    *id = get_be64(b + 8);
    return APR_SUCCESS;
}

/* -------------------------------------------------------------- numbers */

apr_status_t prof_report_int_parse(const char *s, apr_int64_t min,
                                   apr_int64_t max, apr_int64_t *out)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_int64_t v = 0;
    int neg = 0;

    if (s == NULL || out == NULL) {
        return APR_EINVAL;
    }
    if (*u == '-') {
        neg = 1;
        ++u;
    }
    if (!is_digit(*u)) {
        return APR_EINVAL;
    }
    /* Accumulated as a negative number, whose range holds INT64_MIN. C99
     * division truncates towards zero, so (INT64_MIN + d) / 10 is the
     * smallest v for which v * 10 - d does not go below INT64_MIN. */
    for (; *u; ++u) {
        int d;

        if (!is_digit(*u)) {
            return APR_EINVAL;
        }
        d = *u - '0';
        if (v < (APR_INT64_MIN + d) / 10) {
            return APR_EINVAL;
        }
        v = v * 10 - d;
    }
    if (!neg) {
        if (v == APR_INT64_MIN) {
            return APR_EINVAL;
        }
        v = -v;
    }
    if (v < min || v > max) {
        return APR_EINVAL;
    }
    *out = v;
    return APR_SUCCESS;
}

apr_status_t prof_report_ms_parse(const char *s, apr_int64_t *out_us)
{
    static const int scale[4] = { 0, 100, 10, 1 };
    const unsigned char *u = (const unsigned char *)s;
    apr_int64_t ms, frac = 0;
    int n = 0;

    if (s == NULL || out_us == NULL
        || !digits_max(&u, PROF_REPORT_MS_MAX, &ms)) {
        return APR_EINVAL;
    }
    if (*u == '.') {
        for (++u; n < 4 && is_digit(*u); ++u, ++n) {
            frac = frac * 10 + (*u - '0');
        }
        if (n == 0 || n > 3) {
            return APR_EINVAL;
        }
        frac *= scale[n];
    }
    if (*u != '\0' || (ms == PROF_REPORT_MS_MAX && frac > 0)) {
        return APR_EINVAL;
    }
    *out_us = ms * 1000 + frac;
    return APR_SUCCESS;
}

int prof_report_route_param_ok(const char *s)
{
    if (s == NULL || !*s) {
        return 0;
    }
    return *s == '/' || prof_route_name_check(s) == NULL;
}

apr_status_t prof_report_phase_starts_parse(const char *s, apr_int64_t *out,
                                            int n)
{
    apr_int64_t v[64];
    int k = 0, digits;

    if (s == NULL || out == NULL || n < 1 || n > 64) {
        return APR_EINVAL;
    }
    for (;;) {
        apr_int64_t x = 0;

        if (k == n) {
            return APR_EINVAL;
        }
        for (digits = 0; *s >= '0' && *s <= '9'; ++s, ++digits) {
            if (digits == 15) {
                return APR_EINVAL;
            }
            x = x * 10 + (*s - '0');
        }
        v[k++] = digits ? x : -1;
        if (*s == '\0') {
            break;
        }
        if (*s != ',') {
            return APR_EINVAL;
        }
        ++s;
    }
    if (k != n) {
        return APR_EINVAL;
    }
    memcpy(out, v, sizeof(*out) * (apr_size_t)n);
    return APR_SUCCESS;
}
