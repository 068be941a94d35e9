/* Licensed under the Apache License, Version 2.0. */

/*
 * Routes, paths, query strings and sampling weights for the store. The rules
 * are in prof_route.h.
 *
 * The string functions make one pass to measure the input and one to write
 * the result into a block allocated once from the pool, sized by a bound of
 * the result (never more than max_len + 1 bytes), so nothing is reallocated
 * and nothing is written past the block. No ctype.h: its answers follow the
 * locale, and these rules are about ASCII bytes.
 */

/* strchrnul() is a GNU extension (prof_route_fold_len() uses it where
 * glibc has it). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>

#include "apr_lib.h"
#include "prof_route.h"

/* Hex digits: 1 for a decimal digit, 2 for a-f/A-F, 0 for any other byte. */
static const unsigned char hex_class[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['a'] = 2, ['b'] = 2, ['c'] = 2, ['d'] = 2, ['e'] = 2, ['f'] = 2,
    ['A'] = 2, ['B'] = 2, ['C'] = 2, ['D'] = 2, ['E'] = 2, ['F'] = 2,
};

/*
 * The size of a result block: min(max_len, len + units * unit), without
 * overflow. Never APR_SIZE_MAX, so that the NUL always has room; that clamp
 * could only matter for an input of a third of the address space, and the
 * result would still be at most max_len.
 */
static apr_size_t result_cap(apr_size_t max_len, apr_size_t len,
                             apr_size_t units, apr_size_t unit)
{
    apr_size_t cap = max_len;

    if (cap > len && units <= (cap - len) / unit) {
        cap = len + units * unit;
    }
    return cap == APR_SIZE_MAX ? cap - 1 : cap;
}

/*
 * Where to cut s, which has at least n readable bytes, at n or before so that
 * the kept bytes do not end inside a UTF-8 character: back to the lead byte
 * of the last character when it announces more bytes than are kept. Three
 * bytes back are enough: a lead byte four back announces at most the four
 * bytes that are there.
 */
static apr_size_t utf8_cut(const unsigned char *s, apr_size_t n)
{
    apr_size_t i = n, back;

    for (back = 1; back <= 3 && i > 0; ++back) {
        unsigned char c = s[--i];
        apr_size_t need;

        if ((c & 0xc0) == 0x80) {
            continue;               /* a continuation byte: look further */
        }
        if (c >= 0xf0 && c < 0xf8) {
            need = 4;
        }
        else if (c >= 0xe0 && c < 0xf0) {
            need = 3;
        }
        else if (c >= 0xc0 && c < 0xe0) {
            need = 2;
        }
        else {
            need = 1;   /* ASCII, or a byte that starts no character */
        }
        return back < need ? i : n;
    }
    return n;   /* a whole 4-byte character, or stray continuation bytes */
}

/* Does the segment s[0..n) fold to PROF_ROUTE_ID? */
static int segment_is_id(const unsigned char *s, apr_size_t n)
{
    apr_size_t i, digits = 0;

    if (n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-'
        && s[23] == '-') {
        for (i = 0; i < 36; ++i) {
            if (i != 8 && i != 13 && i != 18 && i != 23 && !hex_class[s[i]]) {
                return 0;
            }
        }
        return 1;
    }
    for (i = 0; i < n; ++i) {
        switch (hex_class[s[i]]) {
        case 0:
            return 0;
        case 1:
            digits++;
            break;
        default:
            break;
        }
    }
    return n > 0 && (digits == n || n >= 16 || (n >= 8 && digits > 0));
}

/* The length of the UTF-8 character at s (1 to 4), or 0 when s does not
 * start a valid one: overlong forms, surrogates, past U+10FFFF, a missing
 * continuation byte (a NUL is one) are all invalid. */
static apr_size_t utf8_char_len(const unsigned char *s)
{
    unsigned char c = s[0];

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    }
    if (c >= 0xe0 && c <= 0xef) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80
            || (c == 0xe0 && s[1] < 0xa0)           /* overlong */
            || (c == 0xed && s[1] >= 0xa0)) {       /* surrogates */
            return 0;
        }
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80
            || (s[3] & 0xc0) != 0x80
            || (c == 0xf0 && s[1] < 0x90)           /* overlong */
            || (c == 0xf4 && s[1] >= 0x90)) {       /* past U+10FFFF */
            return 0;
        }
        return 4;
    }
    return 0;   /* a continuation byte, 0xc0, 0xc1, 0xf5-0xff */
}

/* The punctuation a route name may hold besides letters, digits and the
 * bytes >= 0x80 (checked as UTF-8): PROF_ROUTE_NAME_RULE's. */
static const char name_punct[] = " !#$&()*+,-./:?@[]^_{|}~";

const char *prof_route_name_check(const char *name)
{
    const unsigned char *s = (const unsigned char *)name;
    apr_size_t len = 0, n;

    if (name == NULL || name[0] == '\0') {
        return "is empty";
    }
    if (name[0] == ' ') {
        return "starts with a space";
    }
    while (s[len]) {
        if (s[len] < 0x20 || s[len] == 0x7f) {
            return "holds a control character";
        }
        if (s[len] < 0x80 && !apr_isalnum(s[len])
            && !strchr(name_punct, s[len])) {
            return "holds a character a route name cannot have";
        }
        if ((n = utf8_char_len(s + len)) == 0) {
            return "is not valid UTF-8";
        }
        len += n;
        if (len > PROF_ROUTE_NAME_MAX) {
            return "is longer than 256 bytes";
        }
    }
    if (s[len - 1] == ' ') {
        return "ends with a space";
    }
    return NULL;
}

/* The fold's writer: bytes go into buf while they fit in cap; the first one
 * that does not sets full, and everything after it is ignored. */
typedef struct {
    char *buf;
    apr_size_t len;
    apr_size_t cap;
    apr_size_t last_slash;  /* index of the last '/' written or refused */
    int full;
} fold_out_t;

static void fold_put(fold_out_t *o, const char *s, apr_size_t n)
{
    if (o->full) {
        return;
    }
    if (n > o->cap - o->len) {
        memcpy(o->buf + o->len, s, o->cap - o->len);
        o->len = o->cap;
        o->full = 1;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void fold_slash(fold_out_t *o)
{
    if (o->full) {
        return;
    }
    /* A '/' that does not fit still marks a segment boundary at cap. */
    o->last_slash = o->len;
    if (o->len == o->cap) {
        o->full = 1;
        return;
    }
    o->buf[o->len++] = '/';
}

/*
 * The fold of path, whose segments before from (the start of a segment)
 * are known not to fold: prof_route_fold_len()'s scan found from's to be
 * the first that does. They are copied as they are, at once when they
 * fit. *len is the result's length.
 */
static const char *fold_from(apr_pool_t *p, const char *path,
                             const char *from, apr_size_t max_len,
                             apr_size_t *len)
{
    static const apr_size_t id_len = sizeof(PROF_ROUTE_ID) - 1;
    const char *s, *seg;
    apr_size_t head = (apr_size_t)(from - path), rest = strlen(from);
    fold_out_t o;

    /* Only a segment of one or two bytes grows (by two, or one), and rest
     * holds at most (rest + 1) / 2 segments that fold. */
    o.cap = result_cap(max_len, head + rest, (rest + 1) / 2, id_len - 1);
    o.buf = apr_palloc(p, o.cap + 1);
    o.len = 0;
    o.last_slash = 0;
    o.full = 0;
    s = path;
    if (head > 0 && head <= o.cap) {
        /* from follows a '/': the prefix ends with it */
        memcpy(o.buf, path, head);
        o.len = head;
        o.last_slash = head - 1;
        s = from;
    }
    for (; !o.full; ++s) {
        for (seg = s; *s && *s != '/'; ++s) {
        }
        if (seg >= from
            && segment_is_id((const unsigned char *)seg,
                             (apr_size_t)(s - seg))) {
            fold_put(&o, PROF_ROUTE_ID, id_len);
        }
        else {
            fold_put(&o, seg, (apr_size_t)(s - seg));
        }
        if (*s == '\0') {
            break;
        }
        fold_slash(&o);
    }
    /* full means the route is longer than cap, so cap is max_len. */
    if (o.full) {
        o.len = o.last_slash > 0 ? o.last_slash
                : utf8_cut((const unsigned char *)o.buf, o.len);
    }
    o.buf[o.len] = '\0';
    *len = o.len;
    return o.buf;
}

const char *prof_route_fold(apr_pool_t *p, const char *path,
                            apr_size_t max_len)
{
    apr_size_t len;

    if (path == NULL) {
        path = "";
    }
    return fold_from(p, path, path, max_len, &len);
}

/* For prof_route_fold_len()'s scan: 1 for a byte that may be part of an
 * identifier segment (a hex digit, or '-' of a UUID), 2 for the end of a
 * segment ('/' or the NUL), 0 for any other byte. */
static const unsigned char scan_class[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['-'] = 1, ['/'] = 2, [0] = 2,
};

const char *prof_route_fold_len(apr_pool_t *p, const char *path,
                                apr_size_t max_len, apr_size_t *len)
{
    const unsigned char *s, *seg;

    if (path == NULL) {
        path = "";
    }
    /* One pass: a segment whose bytes are all hex digits or '-' is looked
     * at by segment_is_id(); a segment with any other byte cannot fold,
     * and the rest of it is only scanned for its end. */
    for (s = (const unsigned char *)path;; ++s) {
        unsigned char c;

        for (seg = s; (c = scan_class[*s]) == 1; ++s) {
        }
        if (c == 0) {
            /* The rest of the segment: glibc's vector scan, a handful of
             * instructions for a whole segment, where a loop takes five a
             * byte. */
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
            s = (const unsigned char *)strchrnul((const char *)s, '/');
#else
            while (*++s != '/' && *s) {
            }
#endif
        }
        else if (s != seg && segment_is_id(seg, (apr_size_t)(s - seg))) {
            goto fold;
        }
        if (*s == '\0') {
            break;
        }
    }
    *len = (apr_size_t)(s - (const unsigned char *)path);
    if (*len <= max_len) {
        return path;            /* the path is its own route */
    }
    /* Nothing folds, but it must be cut: prof_route_fold() does that. */
    seg = (const unsigned char *)path;
fold:
    return fold_from(p, path, (const char *)seg, max_len, len);
}

apr_size_t prof_utf8_prefix_len(const char *s, apr_size_t max_len)
{
    apr_size_t len;

    if (s == NULL) {
        return 0;
    }
    /* Only up to max_len + 1 bytes: whether a cut is needed, not how long
     * a hostile string really is. */
    for (len = 0; len <= max_len && s[len]; ++len) {
    }
    return len > max_len ? utf8_cut((const unsigned char *)s, max_len) : len;
}

const char *prof_path_truncate(apr_pool_t *p, const char *path,
                               apr_size_t max_len)
{
    apr_size_t len;
    char *out;

    if (path == NULL) {
        path = "";
    }
    len = prof_utf8_prefix_len(path, max_len);
    out = apr_palloc(p, len + 1);
    memcpy(out, path, len);
    out[len] = '\0';
    return out;
}

static int hex_value(unsigned char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c | 0x20) : c;
}

/* Bytes as names compare: ASCII case-insensitively, '-' and '_' alike. */
static unsigned char name_fold(unsigned char c)
{
    return c == '-' ? '_' : ascii_lower(c);
}

/* Is n[0..len) want, as names compare? */
static int name_eq(const unsigned char *n, apr_size_t len,
                   const unsigned char *want)
{
    apr_size_t i;

    for (i = 0; i < len; ++i) {
        /* want ending first also rejects a decoded NUL ("%00") */
        if (want[i] == '\0' || name_fold(n[i]) != name_fold(want[i])) {
            return 0;
        }
    }
    return want[len] == '\0';
}

/* Decode n[0..len) ("%XX" and '+') into out, which has room for max bytes;
 * the decoded length, or max + 1 when it does not fit. */
static apr_size_t name_decode(const unsigned char *n, apr_size_t len,
                              unsigned char *out, apr_size_t max)
{
    apr_size_t i = 0, o = 0;

    while (i < len) {
        unsigned char c = n[i];

        if (c == '%' && len - i >= 3 && hex_class[n[i + 1]]
            && hex_class[n[i + 2]]) {
            c = (unsigned char)(hex_value(n[i + 1]) * 16
                                + hex_value(n[i + 2]));
            i += 3;
        }
        else {
            c = c == '+' ? ' ' : c;
            i++;
        }
        if (o == max) {
            return max + 1;
        }
        out[o++] = c;
    }
    return o;
}

/* Does want match the decoded name d[0..len) whole or any of its parts in
 * brackets notation: "a" of "a[b][c]", "b" and "c"? */
static int name_parts_match(const unsigned char *d, apr_size_t len,
                            const unsigned char *want)
{
    apr_size_t i = 0, start;

    if (name_eq(d, len, want)) {
        return 1;
    }
    while (i < len && d[i] != '[') {
        i++;
    }
    if (i == len) {
        return 0;               /* no brackets: compared whole above */
    }
    if (name_eq(d, i, want)) {
        return 1;
    }
    while (i < len) {           /* at a '[' */
        start = ++i;
        while (i < len && d[i] != ']') {
            i++;
        }
        if (name_eq(d + start, i - start, want)) {
            return 1;
        }
        while (i < len && d[i] != '[') {
            i++;
        }
    }
    return 0;
}

static int name_is_redacted(const char *name, apr_size_t len,
                            const apr_array_header_t *names)
{
    const unsigned char *n = (const unsigned char *)name;
    unsigned char dec[PROF_QUERY_NAME_MAX];
    apr_size_t dlen;
    int i;

    if (names == NULL) {
        return 0;
    }
    if (names->elt_size != (int)sizeof(const char *)) {
        return 1;   /* not an array of names: fail closed */
    }
    dlen = name_decode(n, len, dec, sizeof(dec));
    for (i = 0; i < names->nelts; ++i) {
        const char *entry = ((const char *const *)names->elts)[i];
        const unsigned char *want = (const unsigned char *)entry;

        if (want == NULL || want[0] == '\0') {
            continue;
        }
        if (dlen > sizeof(dec)) {
            return 1;   /* too long to read part by part: fail closed */
        }
        if (name_eq(n, len, want) || name_parts_match(dec, dlen, want)) {
            return 1;
        }
    }
    return 0;
}

/* Parameters are separated by '&' and ';'. */
static int is_sep(char c)
{
    return c == '&' || c == ';';
}

const char *prof_query_redact(apr_pool_t *p, const char *args,
                              const apr_array_header_t *redact_names,
                              apr_size_t max_len)
{
    static const apr_size_t red_len = sizeof(PROF_QUERY_REDACTED) - 1;
    apr_size_t len, amps = 0, cap, o = 0;
    const char *s, *param, *eq;
    char *out;

    if (args == NULL) {
        return NULL;
    }
    for (len = 0; args[len]; ++len) {
        amps += is_sep(args[len]);
    }
    /* An empty value becoming PROF_QUERY_REDACTED is the most one parameter
     * grows. */
    cap = result_cap(max_len, len, amps + 1, red_len);
    out = apr_palloc(p, cap + 1);

    for (s = args;; ++s) {
        apr_size_t keep, need, sep = s == args ? 0 : 1;
        int redact;

        eq = NULL;
        for (param = s; *s && !is_sep(*s); ++s) {
            if (eq == NULL && *s == '=') {
                eq = s;
            }
        }
        redact = eq != NULL
                 && name_is_redacted(param, (apr_size_t)(eq - param),
                                     redact_names);
        /* Bytes of the parameter kept as written: all, or name and '='. */
        keep = redact ? (apr_size_t)(eq - param) + 1 : (apr_size_t)(s - param);
        need = sep + keep + (redact ? red_len : 0);
        if (need > cap - o) {
            break;      /* whole parameters only */
        }
        if (sep) {
            out[o++] = param[-1];   /* the separator, as written */
        }
        memcpy(out + o, param, keep);
        o += keep;
        if (redact) {
            memcpy(out + o, PROF_QUERY_REDACTED, red_len);
            o += red_len;
        }
        if (*s == '\0') {
            break;
        }
    }
    out[o] = '\0';
    return out;
}
