/* Licensed under the Apache License, Version 2.0. */

/*
 * A symbolized profile (prof_stacks.h) and its two output forms: pprof's
 * profile.proto, gzipped, and folded stacks. (The store's text form is in
 * prof_stacks_text.c.)
 *
 * The protobuf encoder is written by hand: profile.proto needs only
 * varints, and length-delimited fields (strings, packed repeated varints,
 * sub-messages), so a library would bring more than it saves. The field
 * numbers are those of github.com/google/pprof/proto/profile.proto.
 */

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "prof_stacks.h"

prof_stacks_t *prof_stacks_make(apr_pool_t *p, int wall,
                                apr_int64_t period_ns)
{
    prof_stacks_t *s = apr_pcalloc(p, sizeof(*s));

    s->pool = p;
    s->frames = apr_array_make(p, 64, sizeof(prof_frame_t));
    s->mappings = apr_array_make(p, 16, sizeof(prof_mapping_t));
    s->stacks = apr_array_make(p, 64, sizeof(prof_stack_t));
    s->wall = wall ? 1 : 0;
    s->period_ns = period_ns;
    return s;
}

/* ------------------------------------------------------------------
 * Protobuf.
 */

typedef struct {
    apr_pool_t *p;
    unsigned char *b;
    apr_size_t len, cap;
} pb_t;

#define WT_VARINT   0
#define WT_LEN      2

static void pb_init(pb_t *pb, apr_pool_t *p, apr_size_t cap)
{
    pb->p = p;
    pb->cap = cap < 64 ? 64 : cap;
    pb->b = apr_palloc(p, pb->cap);
    pb->len = 0;
}

static void pb_need(pb_t *pb, apr_size_t n)
{
    if (pb->len + n > pb->cap) {
        apr_size_t cap = pb->cap * 2;
        unsigned char *nb;

        while (cap < pb->len + n) {
            cap *= 2;
        }
        nb = apr_palloc(pb->p, cap);
        memcpy(nb, pb->b, pb->len);
        pb->b = nb;
        pb->cap = cap;
    }
}

static void pb_varint(pb_t *pb, apr_uint64_t v)
{
    pb_need(pb, 10);
    while (v >= 0x80) {
        pb->b[pb->len++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    pb->b[pb->len++] = (unsigned char)v;
}

static void pb_key(pb_t *pb, unsigned field, unsigned wt)
{
    pb_varint(pb, ((apr_uint64_t)field << 3) | wt);
}

/* An int64/uint64 field; zero is the default and is left out. */
static void pb_int(pb_t *pb, unsigned field, apr_uint64_t v)
{
    if (v != 0) {
        pb_key(pb, field, WT_VARINT);
        pb_varint(pb, v);
    }
}

static void pb_bytes(pb_t *pb, unsigned field, const void *data,
                     apr_size_t n)
{
    pb_key(pb, field, WT_LEN);
    pb_varint(pb, n);
    pb_need(pb, n);
    memcpy(pb->b + pb->len, data, n);
    pb->len += n;
}

/* A sub-message built in sub, appended as field; sub is emptied. */
static void pb_msg(pb_t *pb, unsigned field, pb_t *sub)
{
    pb_bytes(pb, field, sub->b, sub->len);
    sub->len = 0;
}

/* The string table: index 0 is "". */
typedef struct {
    apr_hash_t *idx;
    apr_array_header_t *all;
} strtab_t;

static apr_uint64_t str_id(strtab_t *t, const char *s)
{
    apr_uint64_t *i;

    if (s == NULL || *s == '\0') {
        return 0;
    }
    i = apr_hash_get(t->idx, s, APR_HASH_KEY_STRING);
    if (i == NULL) {
        i = apr_palloc(t->all->pool, sizeof(*i));
        *i = (apr_uint64_t)t->all->nelts;
        APR_ARRAY_PUSH(t->all, const char *) = s;
        apr_hash_set(t->idx, s, APR_HASH_KEY_STRING, i);
    }
    return *i;
}

static void value_type(pb_t *pb, unsigned field, pb_t *sub, strtab_t *t,
                       const char *type, const char *unit)
{
    pb_int(sub, 1, str_id(t, type));
    pb_int(sub, 2, str_id(t, unit));
    pb_msg(pb, field, sub);
}

static void label_str(pb_t *pb, pb_t *sub, strtab_t *t, const char *key,
                      const char *val)
{
    pb_int(sub, 1, str_id(t, key));
    pb_int(sub, 2, str_id(t, val));
    pb_msg(pb, 3, sub);
}

static apr_status_t gzip(const unsigned char *in, apr_size_t len,
                         apr_pool_t *p, const char **out, apr_size_t *olen)
{
    z_stream zs;
    unsigned char *buf;
    uLong bound;
    int rc;

    memset(&zs, 0, sizeof(zs));
    /* 15 + 16: a gzip header and trailer, as pprof expects. */
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
        != Z_OK) {
        return APR_ENOMEM;
    }
    bound = deflateBound(&zs, (uLong)len) + 32;
    buf = apr_palloc(p, bound);
    zs.next_in = (Bytef *)(apr_uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = buf;
    zs.avail_out = (uInt)bound;
    rc = deflate(&zs, Z_FINISH);
    *olen = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        return APR_EGENERAL;
    }
    *out = (const char *)buf;
    return APR_SUCCESS;
}

apr_status_t prof_stacks_pprof(const prof_stacks_t *s, apr_pool_t *p,
                               const char **out, apr_size_t *len)
{
    apr_pool_t *tmp;
    pb_t pb, sub, sub2;
    strtab_t t;
    apr_hash_t *fn_of;
    apr_uint64_t *fn_id;
    apr_uint64_t nfn = 0;
    apr_status_t rv;
    int i;
    unsigned j;

    if ((rv = apr_pool_create(&tmp, p)) != APR_SUCCESS) {
        return rv;
    }
    t.idx = apr_hash_make(tmp);
    t.all = apr_array_make(tmp, 256, sizeof(const char *));
    APR_ARRAY_PUSH(t.all, const char *) = "";
    pb_init(&pb, tmp, 4096 + (apr_size_t)s->stacks->nelts * 64);
    pb_init(&sub, tmp, 256);
    pb_init(&sub2, tmp, 64);

    /* 1: sample types, 11/12: period; 14: the default is the time. */
    value_type(&pb, 1, &sub, &t, "samples", "count");
    value_type(&pb, 1, &sub, &t, s->wall ? "wall" : "cpu", "nanoseconds");

    /* 2: samples. */
    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);

        for (j = 0; j < st->nframes; ++j) {
            pb_varint(&sub2, (apr_uint64_t)st->frames[j] + 1);
        }
        pb_msg(&sub, 1, &sub2);
        pb_varint(&sub2, (apr_uint64_t)st->samples);
        pb_varint(&sub2, (apr_uint64_t)st->nanos);
        pb_msg(&sub, 2, &sub2);
        if (st->pid) {
            pb_int(&sub2, 1, str_id(&t, "pid"));
            pb_int(&sub2, 3, (apr_uint64_t)st->pid);
            pb_msg(&sub, 3, &sub2);
        }
        if (st->route) {
            label_str(&sub, &sub2, &t, "route", st->route);
        }
        if (st->phase) {
            label_str(&sub, &sub2, &t, "phase", st->phase);
        }
        if (s->wall && st->state >= 0) {
            label_str(&sub, &sub2, &t, "state",
                      st->state == PROF_STACK_ONCPU ? "oncpu" : "waiting");
        }
        pb_msg(&pb, 2, &sub);
    }

    /* 3: mappings, ids from 1 in array order (prof_frame_t.mapping). */
    for (i = 0; i < s->mappings->nelts; ++i) {
        const prof_mapping_t *m = &APR_ARRAY_IDX(s->mappings, i,
                                                 prof_mapping_t);

        pb_int(&sub, 1, (apr_uint64_t)i + 1);
        pb_int(&sub, 2, m->start);
        pb_int(&sub, 3, m->limit);
        pb_int(&sub, 4, m->offset);
        pb_int(&sub, 5, str_id(&t, m->file));
        pb_int(&sub, 6, str_id(&t, m->build_id));
        pb_int(&sub, 7, 1);     /* has_functions: we symbolized */
        pb_msg(&pb, 3, &sub);
    }

    /* 4: locations, one per frame (id = index + 1), each with one line;
     * 5: functions, one per distinct (name, file). */
    fn_of = apr_hash_make(tmp);
    fn_id = apr_palloc(tmp, sizeof(*fn_id) * (s->frames->nelts + 1));
    for (i = 0; i < s->frames->nelts; ++i) {
        const prof_frame_t *f = &APR_ARRAY_IDX(s->frames, i, prof_frame_t);
        const char *name = f->name ? f->name : "?";
        const char *key = apr_pstrcat(tmp, name, "\n",
                                      f->file ? f->file : "", NULL);
        apr_uint64_t *id = apr_hash_get(fn_of, key, APR_HASH_KEY_STRING);

        if (id == NULL) {
            id = apr_palloc(tmp, sizeof(*id));
            *id = ++nfn;
            apr_hash_set(fn_of, key, APR_HASH_KEY_STRING, id);
            pb_int(&sub, 1, *id);
            pb_int(&sub, 2, str_id(&t, name));
            pb_int(&sub, 3, str_id(&t, name));
            pb_int(&sub, 4, str_id(&t, f->file));
            pb_msg(&pb, 5, &sub);
        }
        fn_id[i] = *id;
        pb_int(&sub, 1, (apr_uint64_t)i + 1);
        if (f->mapping && (int)f->mapping <= s->mappings->nelts) {
            pb_int(&sub, 2, f->mapping);
        }
        pb_int(&sub, 3, f->addr);
        pb_int(&sub2, 1, fn_id[i]);
        pb_int(&sub2, 2, f->line);
        pb_msg(&sub, 4, &sub2);
        pb_msg(&pb, 4, &sub);
    }

    /* 9, 10: time and duration; 11, 12: period type and period. */
    pb_int(&pb, 9, (apr_uint64_t)(s->start * 1000));
    pb_int(&pb, 10, (apr_uint64_t)s->duration_ns);
    value_type(&pb, 11, &sub, &t, s->wall ? "wall" : "cpu", "nanoseconds");
    pb_int(&pb, 12, (apr_uint64_t)s->period_ns);
    pb_int(&pb, 14, str_id(&t, s->wall ? "wall" : "cpu"));

    /* 6: the string table, last: every string is known by now (field
     * order does not matter to a protobuf reader). */
    for (i = 0; i < t.all->nelts; ++i) {
        const char *str = APR_ARRAY_IDX(t.all, i, const char *);

        pb_bytes(&pb, 6, str, strlen(str));
    }

    rv = gzip(pb.b, pb.len, p, out, len);
    apr_pool_destroy(tmp);
    return rv;
}

/* ------------------------------------------------------------------
 * Folded stacks.
 */

typedef struct {
    const char *stack;
    apr_int64_t count;
} folded_t;

static int folded_cmp(const void *a, const void *b)
{
    return strcmp(((const folded_t *)a)->stack, ((const folded_t *)b)->stack);
}

/* A frame's name as one folded field: ';' separates frames and a line
 * ends the stack, so those become ':' and ' '. */
static const char *folded_name(const char *name, apr_pool_t *p)
{
    char *n, *c;

    if (name == NULL || *name == '\0') {
        return "?";
    }
    if (strpbrk(name, ";\n\r") == NULL) {
        return name;
    }
    n = apr_pstrdup(p, name);
    for (c = n; *c; ++c) {
        if (*c == ';') {
            *c = ':';
        }
        else if (*c == '\n' || *c == '\r') {
            *c = ' ';
        }
    }
    return n;
}

const char *prof_stacks_folded(const prof_stacks_t *s, apr_pool_t *p,
                               int state)
{
    apr_pool_t *tmp;
    apr_hash_t *sum;
    apr_hash_index_t *hi;
    apr_array_header_t *lines;
    const char **names;
    char *out, *w;
    apr_size_t total = 1;
    int i;

    if (apr_pool_create(&tmp, p) != APR_SUCCESS) {
        return "";
    }
    names = apr_palloc(tmp, sizeof(*names) * (s->frames->nelts + 1));
    for (i = 0; i < s->frames->nelts; ++i) {
        names[i] = folded_name(APR_ARRAY_IDX(s->frames, i, prof_frame_t).name,
                               tmp);
    }
    sum = apr_hash_make(tmp);
    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);
        apr_size_t n = 0;
        apr_int64_t *count;
        char *line, *c;
        unsigned j;

        if (st->nframes == 0 || (state >= 0 && st->state != state)) {
            continue;
        }
        for (j = 0; j < st->nframes; ++j) {
            n += strlen((int)st->frames[j] < s->frames->nelts
                        ? names[st->frames[j]] : "?") + 1;
        }
        line = c = apr_palloc(tmp, n);
        /* Root first: frames are stored leaf first. */
        for (j = st->nframes; j-- > 0;) {
            const char *nm = (int)st->frames[j] < s->frames->nelts
                ? names[st->frames[j]] : "?";
            apr_size_t l = strlen(nm);

            memcpy(c, nm, l);
            c += l;
            *c++ = j ? ';' : '\0';
        }
        count = apr_hash_get(sum, line, APR_HASH_KEY_STRING);
        if (count == NULL) {
            count = apr_pcalloc(tmp, sizeof(*count));
            apr_hash_set(sum, line, APR_HASH_KEY_STRING, count);
        }
        *count += st->samples;
    }
    lines = apr_array_make(tmp, (int)apr_hash_count(sum) + 1,
                           sizeof(folded_t));
    for (hi = apr_hash_first(tmp, sum); hi; hi = apr_hash_next(hi)) {
        folded_t *f = apr_array_push(lines);
        const void *k;
        void *v;

        apr_hash_this(hi, &k, NULL, &v);
        f->stack = k;
        f->count = *(apr_int64_t *)v;
        total += strlen(f->stack) + 24;
    }
    /* Sorted, so that the same profile always reads the same. */
    qsort(lines->elts, (size_t)lines->nelts, sizeof(folded_t), folded_cmp);
    out = w = apr_palloc(p, total);
    for (i = 0; i < lines->nelts; ++i) {
        const folded_t *f = &APR_ARRAY_IDX(lines, i, folded_t);

        w += apr_snprintf(w, total - (apr_size_t)(w - out),
                          "%s %" APR_INT64_T_FMT "\n", f->stack, f->count);
    }
    *w = '\0';
    apr_pool_destroy(tmp);
    return out;
}
