/* Licensed under the Apache License, Version 2.0. */

/*
 * The store's text form of a profile (profiles.data, format "stacks1").
 *
 * Lines end in '\n'; fields are separated by one space. The first line:
 *
 *   stacks1 <wall> <period_ns> <start_us> <duration_ns>
 *
 * then, in this order, one line per mapping, frame and stack:
 *
 *   m <start> <limit> <offset> <file> <build_id>
 *   f <mapping> <line> <addr> <name> <file>
 *   s <samples> <nanos> <state> <pid> <route> <phase> <frames>
 *
 * Numbers are decimal (mapping addresses too); <mapping> is 1-based (0:
 * none), <state> -1, 0 or 1 (PROF_STACK_*), <frames> the stack's frame
 * indexes (0-based, in the order of the f lines), leaf first, separated
 * by ',' ("" for an empty stack is written as "-").
 *
 * A string field is "-" for NULL, else "'" followed by the string with
 * every byte that could end or split a field, or confuse a reader, as
 * %XX (upper-case hex): bytes up to 0x20 (space, tab, newline ...),
 * 0x7f, '%'. So names with spaces, semicolons ("operator;") or quotes
 * round-trip exactly, and an empty string ("'") differs from none ("-").
 *
 * The parser accepts exactly this and nothing else: it is what the
 * writer stored, but the database is outside the module, so it checks
 * every index and number and never trusts a count.
 */

#include <string.h>

#include "apr_strings.h"

#include "prof_stacks.h"

/* The most frames one stack may have when read back: far beyond the
 * sampler's depth cap, a bound on what a damaged row can make us do. */
#define TEXT_DEPTH_MAX 4096

static int needs_escape(unsigned char c)
{
    return c <= 0x20 || c == 0x7f || c == '%';
}

static void put_str(apr_array_header_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *c;

    if (s == NULL) {
        APR_ARRAY_PUSH(b, char) = '-';
        return;
    }
    APR_ARRAY_PUSH(b, char) = '\'';
    for (c = (const unsigned char *)s; *c; ++c) {
        if (needs_escape(*c)) {
            APR_ARRAY_PUSH(b, char) = '%';
            APR_ARRAY_PUSH(b, char) = hex[*c >> 4];
            APR_ARRAY_PUSH(b, char) = hex[*c & 15];
        }
        else {
            APR_ARRAY_PUSH(b, char) = (char)*c;
        }
    }
}

static void put_raw(apr_array_header_t *b, const char *s)
{
    for (; *s; ++s) {
        APR_ARRAY_PUSH(b, char) = *s;
    }
}

static void put_num(apr_array_header_t *b, apr_int64_t v, char sep)
{
    char num[32];

    apr_snprintf(num, sizeof(num), "%c%" APR_INT64_T_FMT, sep, v);
    put_raw(b, num);
}

static void put_unum(apr_array_header_t *b, apr_uint64_t v, char sep)
{
    char num[32];

    apr_snprintf(num, sizeof(num), "%c%" APR_UINT64_T_FMT, sep, v);
    put_raw(b, num);
}

const char *prof_stacks_text_write(const prof_stacks_t *s, apr_pool_t *p)
{
    apr_array_header_t *b;
    int i;
    apr_uint32_t k;

    if (s == NULL) {
        return NULL;
    }
    b = apr_array_make(p, 4096, 1);
    put_raw(b, "stacks1");
    put_num(b, s->wall ? 1 : 0, ' ');
    put_num(b, s->period_ns, ' ');
    put_num(b, s->start, ' ');
    put_num(b, s->duration_ns, ' ');
    APR_ARRAY_PUSH(b, char) = '\n';
    for (i = 0; s->mappings && i < s->mappings->nelts; ++i) {
        const prof_mapping_t *m = &APR_ARRAY_IDX(s->mappings, i,
                                                 prof_mapping_t);

        APR_ARRAY_PUSH(b, char) = 'm';
        put_unum(b, m->start, ' ');
        put_unum(b, m->limit, ' ');
        put_unum(b, m->offset, ' ');
        APR_ARRAY_PUSH(b, char) = ' ';
        put_str(b, m->file);
        APR_ARRAY_PUSH(b, char) = ' ';
        put_str(b, m->build_id);
        APR_ARRAY_PUSH(b, char) = '\n';
    }
    for (i = 0; s->frames && i < s->frames->nelts; ++i) {
        const prof_frame_t *f = &APR_ARRAY_IDX(s->frames, i, prof_frame_t);

        APR_ARRAY_PUSH(b, char) = 'f';
        put_unum(b, f->mapping, ' ');
        put_unum(b, f->line, ' ');
        put_unum(b, f->addr, ' ');
        APR_ARRAY_PUSH(b, char) = ' ';
        put_str(b, f->name);
        APR_ARRAY_PUSH(b, char) = ' ';
        put_str(b, f->file);
        APR_ARRAY_PUSH(b, char) = '\n';
    }
    for (i = 0; s->stacks && i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);

        APR_ARRAY_PUSH(b, char) = 's';
        put_num(b, st->samples, ' ');
        put_num(b, st->nanos, ' ');
        put_num(b, st->state, ' ');
        put_num(b, st->pid, ' ');
        APR_ARRAY_PUSH(b, char) = ' ';
        put_str(b, st->route);
        APR_ARRAY_PUSH(b, char) = ' ';
        put_str(b, st->phase);
        if (st->nframes == 0) {
            put_raw(b, " -");
        }
        for (k = 0; k < st->nframes; ++k) {
            put_unum(b, st->frames[k], k ? ',' : ' ');
        }
        APR_ARRAY_PUSH(b, char) = '\n';
    }
    APR_ARRAY_PUSH(b, char) = '\0';
    return b->elts;
}

/* ---- parsing ------------------------------------------------------------ */

typedef struct {
    const char *at;       /* the next byte */
    const char *err;
    apr_pool_t *p;
} reader_t;

static int fail(reader_t *r, const char *why)
{
    if (r->err == NULL) {
        r->err = why;
    }
    return 0;
}

/* One separator byte c. */
static int sep(reader_t *r, char c)
{
    if (*r->at != c) {
        return fail(r, c == '\n' ? "a line does not end where it should"
                                 : "fields are not separated by one space");
    }
    ++r->at;
    return 1;
}

/* A decimal number in [0, max]. */
static int unum(reader_t *r, apr_uint64_t max, apr_uint64_t *out)
{
    apr_uint64_t v = 0;
    const char *c = r->at;

    if (*c < '0' || *c > '9') {
        return fail(r, "a number is missing");
    }
    for (; *c >= '0' && *c <= '9'; ++c) {
        unsigned d = (unsigned)(*c - '0');

        if (d > max || v > (max - d) / 10) {
            return fail(r, "a number is out of range");
        }
        v = v * 10 + d;
    }
    r->at = c;
    *out = v;
    return 1;
}

static int snum(reader_t *r, apr_int64_t min, apr_int64_t max,
                apr_int64_t *out)
{
    apr_uint64_t v;
    int neg = *r->at == '-';

    if (neg) {
        ++r->at;
        if (!unum(r, (apr_uint64_t)APR_INT64_MAX + 1, &v)) {
            return 0;
        }
        *out = v == (apr_uint64_t)APR_INT64_MAX + 1 ? APR_INT64_MIN
                                                    : -(apr_int64_t)v;
    }
    else {
        if (!unum(r, (apr_uint64_t)APR_INT64_MAX, &v)) {
            return 0;
        }
        *out = (apr_int64_t)v;
    }
    if (*out < min || *out > max) {
        return fail(r, "a number is out of range");
    }
    return 1;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* A string field: "-" (NULL) or "'" and the escaped bytes. */
static int str(reader_t *r, const char **out)
{
    const char *c, *end;
    char *o;

    if (r->at[0] == '-' && (r->at[1] == ' ' || r->at[1] == '\n')) {
        ++r->at;
        *out = NULL;
        return 1;
    }
    if (*r->at != '\'') {
        return fail(r, "a string field is neither '-' nor quoted");
    }
    for (end = ++r->at; (unsigned char)*end > 0x20 && *end != 0x7f; ++end) {
    }
    o = apr_palloc(r->p, (apr_size_t)(end - r->at) + 1);
    *out = o;
    for (c = r->at; c < end; ++c) {
        if (*c == '%') {
            int hi, lo;

            /* Two upper-case hex digits, never a NUL. */
            if (end - c < 3 || (hi = hexval(c[1])) < 0
                || (lo = hexval(c[2])) < 0 || (hi | lo) == 0) {
                return fail(r, "a string field has a bad %-escape");
            }
            *o++ = (char)(hi * 16 + lo);
            c += 2;
        }
        else {
            *o++ = *c;
        }
    }
    *o = '\0';
    r->at = end;
    return 1;
}

prof_stacks_t *prof_stacks_text_parse(const char *text, apr_pool_t *p,
                                      const char **err)
{
    reader_t rd = { text, NULL, p };
    reader_t *r = &rd;
    prof_stacks_t *s;
    apr_int64_t wall, period, start, duration;
    apr_array_header_t *idx;

    if (text == NULL) {
        *err = "no text";
        return NULL;
    }
    s = apr_pcalloc(p, sizeof(*s));
    s->pool = p;
    s->frames = apr_array_make(p, 64, sizeof(prof_frame_t));
    s->mappings = apr_array_make(p, 8, sizeof(prof_mapping_t));
    s->stacks = apr_array_make(p, 64, sizeof(prof_stack_t));
    idx = apr_array_make(p, 64, sizeof(apr_uint32_t));

    if (strncmp(r->at, "stacks1 ", 8)) {
        *err = "not a stacks1 profile";
        return NULL;
    }
    r->at += 8;
    if (!snum(r, 0, 1, &wall) || !sep(r, ' ')
        || !snum(r, 0, APR_INT64_MAX, &period) || !sep(r, ' ')
        || !snum(r, APR_INT64_MIN, APR_INT64_MAX, &start) || !sep(r, ' ')
        || !snum(r, 0, APR_INT64_MAX, &duration) || !sep(r, '\n')) {
        goto bad;
    }
    s->wall = (int)wall;
    s->period_ns = period;
    s->start = start;
    s->duration_ns = duration;

    while (*r->at == 'm') {
        prof_mapping_t *m = apr_array_push(s->mappings);

        ++r->at;
        if (!sep(r, ' ') || !unum(r, APR_UINT64_MAX, &m->start)
            || !sep(r, ' ') || !unum(r, APR_UINT64_MAX, &m->limit)
            || !sep(r, ' ') || !unum(r, APR_UINT64_MAX, &m->offset)
            || !sep(r, ' ') || !str(r, &m->file)
            || !sep(r, ' ') || !str(r, &m->build_id) || !sep(r, '\n')) {
            goto bad;
        }
    }
    while (*r->at == 'f') {
        prof_frame_t *f = apr_array_push(s->frames);
        apr_uint64_t mapping, line;

        ++r->at;
        if (!sep(r, ' ')
            || !unum(r, (apr_uint64_t)s->mappings->nelts, &mapping)
            || !sep(r, ' ') || !unum(r, APR_UINT64_C(0xFFFFFFFF), &line)
            || !sep(r, ' ') || !unum(r, APR_UINT64_MAX, &f->addr)
            || !sep(r, ' ') || !str(r, &f->name)
            || !sep(r, ' ') || !str(r, &f->file) || !sep(r, '\n')) {
            goto bad;
        }
        if (f->name == NULL) {
            r->err = "a frame has no name";
            goto bad;
        }
        f->mapping = (apr_uint32_t)mapping;
        f->line = (apr_uint32_t)line;
    }
    while (*r->at == 's') {
        prof_stack_t *st = apr_array_push(s->stacks);
        apr_int64_t state;

        ++r->at;
        if (!sep(r, ' ') || !snum(r, 0, APR_INT64_MAX, &st->samples)
            || !sep(r, ' ') || !snum(r, 0, APR_INT64_MAX, &st->nanos)
            || !sep(r, ' ') || !snum(r, -1, 1, &state)
            || !sep(r, ' ') || !snum(r, 0, APR_INT64_MAX, &st->pid)
            || !sep(r, ' ') || !str(r, &st->route)
            || !sep(r, ' ') || !str(r, &st->phase) || !sep(r, ' ')) {
            goto bad;
        }
        st->state = (int)state;
        idx->nelts = 0;
        if (r->at[0] == '-' && r->at[1] == '\n') {
            ++r->at;
        }
        else {
            do {
                apr_uint64_t k;

                if (s->frames->nelts == 0
                    || !unum(r, (apr_uint64_t)s->frames->nelts - 1, &k)) {
                    fail(r, "a stack names a frame that is not there");
                    goto bad;
                }
                if (idx->nelts >= TEXT_DEPTH_MAX) {
                    r->err = "a stack is too deep";
                    goto bad;
                }
                APR_ARRAY_PUSH(idx, apr_uint32_t) = (apr_uint32_t)k;
            } while (*r->at == ',' && ++r->at);
        }
        if (!sep(r, '\n')) {
            goto bad;
        }
        st->nframes = (apr_uint32_t)idx->nelts;
        st->frames = idx->nelts
            ? apr_pmemdup(p, idx->elts, (apr_size_t)idx->nelts
                                        * sizeof(apr_uint32_t))
            : NULL;
    }
    if (*r->at != '\0') {
        r->err = "a line is not a mapping, frame or stack in its place";
        goto bad;
    }
    return s;

bad:
    *err = r->err ? r->err : "malformed profile text";
    return NULL;
}
