/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>
#include <string.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "prof_flame.h"

/* A frame of the merged tree: every stack that passes through the same
 * names from the root shares it. Only frames at least a pixel wide are
 * made; the narrower children of a frame are summed into it (narrow_*),
 * so the tree holds at most what is drawn, whatever the profile's size. */
typedef struct {
    const char *name;
    int first_child, next;      /* -1: none */
    int depth;                  /* the root: 0 */
    apr_int64_t total, self;    /* weight: nanoseconds, or samples */
    apr_int64_t total_samples, self_samples;
    apr_int64_t waiting;        /* weight of waiting samples in total */
    int narrow_count;           /* children narrower than a pixel */
    apr_int64_t narrow_total, narrow_samples, narrow_waiting;
} node_t;

typedef struct {
    apr_array_header_t *nodes;  /* node_t; [0] is the root, "all" */
    const char **names;         /* name number -> name */
    double px_per;              /* pixels per unit of weight */
    apr_pool_t *p;
} tree_t;

/* A stack as the tree is built from it: its frames' name numbers, root
 * first, cut at PROF_FLAME_DEPTH_MAX. */
typedef struct {
    const int *names;
    int n;
    apr_int64_t w, samples;
    int waiting;
} flat_t;

/* The stacks of one child being made, and what they add up to. */
typedef struct {
    int name;
    apr_int64_t total, samples, waiting;
    apr_array_header_t *members;    /* const flat_t * */
} group_t;

/* The weight of a stack: its nanoseconds where the profile has them, so
 * that samples of different periods add up right; else its samples. */
static apr_int64_t weight(const prof_stack_t *st, int by_ns)
{
    return by_ns ? st->nanos : st->samples;
}

static int stack_counts(const prof_stack_t *st, int state)
{
    return state < 0 || st->state == state;
}

static int new_node(tree_t *t, const char *name, int depth)
{
    node_t *n = apr_array_push(t->nodes);

    memset(n, 0, sizeof(*n));
    n->name = name;
    n->depth = depth;
    n->first_child = n->next = -1;
    return t->nodes->nelts - 1;
}

/* Make the children of node at from the stacks that pass through it (in,
 * n of them): one per name at the next depth, if at least a pixel wide;
 * the rest summed into the node. Each level partitions its stacks, so the
 * work is the profile's frames, once. */
static void expand(tree_t *t, int at, const flat_t *const *in, int n)
{
    int depth = APR_ARRAY_IDX(t->nodes, at, node_t).depth, i;
    apr_hash_t *by_name;
    apr_array_header_t *groups;

    if (depth >= PROF_FLAME_DEPTH_MAX) {
        return;
    }
    by_name = apr_hash_make(t->p);
    groups = apr_array_make(t->p, 8, sizeof(group_t));
    for (i = 0; i < n; ++i) {
        const flat_t *f = in[i];
        group_t *g;
        int k;

        if (f->n <= depth) {
            continue;               /* ends here: the node's self */
        }
        k = (int)(apr_uintptr_t)apr_hash_get(by_name, &f->names[depth],
                                             sizeof(int));
        if (k == 0) {
            g = apr_array_push(groups);
            memset(g, 0, sizeof(*g));
            g->name = f->names[depth];
            g->members = apr_array_make(t->p, 4, sizeof(const flat_t *));
            k = groups->nelts;
            apr_hash_set(by_name, &g->name, sizeof(int),
                         (void *)(apr_uintptr_t)k);
        }
        g = &APR_ARRAY_IDX(groups, k - 1, group_t);
        g->total += f->w;
        g->samples += f->samples;
        g->waiting += f->waiting ? f->w : 0;
        APR_ARRAY_PUSH(g->members, const flat_t *) = f;
    }
    for (i = 0; i < groups->nelts; ++i) {
        group_t *g = &APR_ARRAY_IDX(groups, i, group_t);
        node_t *c, *par;
        int ci, k;

        if ((double)g->total * t->px_per < 1.0) {
            par = &APR_ARRAY_IDX(t->nodes, at, node_t);
            par->narrow_count++;
            par->narrow_total += g->total;
            par->narrow_samples += g->samples;
            par->narrow_waiting += g->waiting;
            continue;
        }
        ci = new_node(t, t->names[g->name], depth + 1);
        c = &APR_ARRAY_IDX(t->nodes, ci, node_t);
        par = &APR_ARRAY_IDX(t->nodes, at, node_t);
        c->total = g->total;
        c->total_samples = g->samples;
        c->waiting = g->waiting;
        for (k = 0; k < g->members->nelts; ++k) {
            const flat_t *f = APR_ARRAY_IDX(g->members, k, const flat_t *);

            if (f->n == depth + 1) {
                c->self += f->w;
                c->self_samples += f->samples;
            }
        }
        /* Children are drawn in name order (draw() sorts them). */
        c->next = par->first_child;
        par->first_child = ci;
        expand(t, ci, (const flat_t *const *)(void *)g->members->elts,
               g->members->nelts);
    }
}

static tree_t *build(const prof_stacks_t *s, int state, int by_ns,
                     int width_px, apr_pool_t *p)
{
    tree_t *t = apr_pcalloc(p, sizeof(*t));
    int nframes = s->frames ? s->frames->nelts : 0;
    int nstacks = s->stacks ? s->stacks->nelts : 0;
    apr_hash_t *by_name = apr_hash_make(p);
    int *name_of;
    const flat_t **flat;
    node_t *root;
    int i, k, nflat = 0, nnames = 0;

    t->p = p;
    t->nodes = apr_array_make(p, 256, sizeof(node_t));
    /* Frames merge by name (one function at several addresses or lines
     * is one frame of the graph): number the names once. */
    name_of = apr_palloc(p, sizeof(int) * (apr_size_t)(nframes + 1));
    t->names = apr_palloc(p, sizeof(char *) * (apr_size_t)(nframes + 1));
    for (i = 0; i < nframes; ++i) {
        const char *name = APR_ARRAY_IDX(s->frames, i, prof_frame_t).name;
        void *at;

        name = name ? name : "?";
        if ((at = apr_hash_get(by_name, name, APR_HASH_KEY_STRING)) == NULL) {
            t->names[nnames] = name;
            at = (void *)(apr_uintptr_t)++nnames;
            apr_hash_set(by_name, name, APR_HASH_KEY_STRING, at);
        }
        name_of[i] = (int)(apr_uintptr_t)at - 1;
    }
    new_node(t, "all", 0);
    flat = apr_palloc(p, sizeof(*flat) * (apr_size_t)(nstacks + 1));
    for (i = 0; i < nstacks; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);
        flat_t *f;
        int *names;

        if (!stack_counts(st, state) || weight(st, by_ns) <= 0) {
            continue;
        }
        f = apr_palloc(p, sizeof(*f));
        names = apr_palloc(p, sizeof(int) * (st->nframes + 1));
        f->n = 0;
        /* Root first: the frames are leaf first. */
        for (k = (int)st->nframes - 1; k >= 0 && f->n < PROF_FLAME_DEPTH_MAX;
             --k) {
            if (st->frames[k] < (apr_uint32_t)nframes) {
                names[f->n++] = name_of[st->frames[k]];
            }
        }
        f->names = names;
        f->w = weight(st, by_ns);
        f->samples = st->samples;
        f->waiting = st->state == PROF_STACK_WAITING;
        flat[nflat++] = f;
        root = &APR_ARRAY_IDX(t->nodes, 0, node_t);
        root->total += f->w;
        root->total_samples += f->samples;
        root->waiting += f->waiting ? f->w : 0;
        if (f->n == 0) {
            root->self += f->w;
            root->self_samples += f->samples;
        }
    }
    root = &APR_ARRAY_IDX(t->nodes, 0, node_t);
    if (root->total > 0) {
        t->px_per = (double)(width_px - 20) / (double)root->total;
        expand(t, 0, flat, nflat);
    }
    return t;
}

/* Does the profile carry nanoseconds for every stack that counts? */
static int has_ns(const prof_stacks_t *s, int state)
{
    int i, any = 0;

    for (i = 0; s->stacks && i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);

        if (!stack_counts(st, state) || st->samples <= 0) {
            continue;
        }
        if (st->nanos <= 0) {
            return 0;
        }
        any = 1;
    }
    return any;
}

/* ---- text --------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at c, 0 when there is none. */
static int utf8_len(const unsigned char *c)
{
    int n, k;

    if (*c < 0x80) {
        return 1;
    }
    if (*c >= 0xc2 && *c <= 0xdf) {
        n = 2;
    }
    else if (*c >= 0xe0 && *c <= 0xef) {
        n = 3;
    }
    else if (*c >= 0xf0 && *c <= 0xf4) {
        n = 4;
    }
    else {
        return 0;
    }
    for (k = 1; k < n; ++k) {
        if ((c[k] & 0xc0) != 0x80) {
            return 0;
        }
    }
    /* Overlong forms and surrogates. */
    if ((n == 3 && c[0] == 0xe0 && c[1] < 0xa0)
        || (n == 3 && c[0] == 0xed && c[1] >= 0xa0)
        || (n == 4 && c[0] == 0xf0 && c[1] < 0x90)
        || (n == 4 && c[0] == 0xf4 && c[1] >= 0x90)) {
        return 0;
    }
    return n;
}

const char *prof_flame_escape(apr_pool_t *p, const char *s)
{
    const unsigned char *c;
    apr_size_t extra = 0;
    int plain = 1;
    char *out, *o;

    if (s == NULL) {
        return "";
    }
    for (c = (const unsigned char *)s; *c; ++c) {
        if (*c == '&' || *c == '<' || *c == '>' || *c == '"' || *c == '\'') {
            extra += 5;
            plain = 0;
        }
        else if (*c < 0x20 || *c == 0x7f || *c >= 0x80) {
            plain = 0;
        }
    }
    if (plain) {
        return s;
    }
    o = out = apr_palloc(p, strlen(s) + extra + 1);
    for (c = (const unsigned char *)s; *c;) {
        int n;

        switch (*c) {
        case '&': memcpy(o, "&amp;", 5); o += 5; ++c; continue;
        case '<': memcpy(o, "&lt;", 4); o += 4; ++c; continue;
        case '>': memcpy(o, "&gt;", 4); o += 4; ++c; continue;
        case '"': memcpy(o, "&quot;", 6); o += 6; ++c; continue;
        case '\'': memcpy(o, "&#39;", 5); o += 5; ++c; continue;
        default: break;
        }
        if (*c < 0x20 || *c == 0x7f || (n = utf8_len(c)) == 0) {
            *o++ = '?';
            ++c;
            continue;
        }
        memcpy(o, c, (apr_size_t)n);
        o += n;
        c += n;
    }
    *o = '\0';
    return out;
}

/* The first n characters of s that fit, with ".." when cut; never inside
 * a UTF-8 sequence. NULL when not even three fit. */
static const char *fit(apr_pool_t *p, const char *s, double px)
{
    /* Verdana-ish at 12 px: some 7 px a character. */
    int room = (int)((px - 6) / 7), chars = 0;
    const unsigned char *c;

    if (room < 3) {
        return NULL;
    }
    for (c = (const unsigned char *)s; *c; ++c) {
        if ((*c & 0xc0) != 0x80) {
            ++chars;
        }
    }
    if (chars <= room) {
        return s;
    }
    chars = 0;
    for (c = (const unsigned char *)s; *c; ++c) {
        if ((*c & 0xc0) != 0x80 && ++chars > room - 2) {
            break;
        }
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, s, (apr_size_t)((const char *)c
                                                              - s)),
                       "..", NULL);
}

/* The same colour for a name in every graph: FNV-1a of the name. */
static apr_uint32_t hash(const char *s)
{
    apr_uint32_t h = 2166136261u;

    for (; *s; ++s) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

static const char *colour(apr_pool_t *p, const char *name, int waiting)
{
    apr_uint32_t h = hash(name);
    unsigned a = h & 0xff, b = (h >> 8) & 0xff, c = (h >> 16) & 0xff;

    if (waiting) {
        /* Blues, for time spent off the CPU. */
        return apr_psprintf(p, "rgb(%u,%u,%u)", 60 + a % 60, 120 + b % 80,
                            200 + c % 55);
    }
    /* flamegraph.pl's "hot": reds, oranges, yellows. */
    return apr_psprintf(p, "rgb(%u,%u,%u)", 205 + a % 50, b % 230, c % 55);
}

/* "12.3 ms", "1.23 s", "456 us" */
static const char *duration(apr_pool_t *p, apr_int64_t ns)
{
    if (ns >= APR_INT64_C(1000000000)) {
        return apr_psprintf(p, "%.2f s", (double)ns / 1e9);
    }
    if (ns >= 1000000) {
        return apr_psprintf(p, "%.1f ms", (double)ns / 1e6);
    }
    return apr_psprintf(p, "%.0f us", (double)ns / 1e3);
}

static double pct(apr_int64_t part, apr_int64_t whole)
{
    return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- drawing ------------------------------------------------------------ */

typedef struct {
    apr_array_header_t *out;    /* const char * pieces */
    apr_pool_t *p;
    tree_t *t;
    int by_ns;
    int wall;
    double px_per;              /* pixels per unit of weight */
    int height;                 /* of the graph area */
    int top;                    /* y of the graph area */
    apr_int64_t all;            /* the root's weight */
    apr_int64_t all_samples;
} draw_t;

static void emit(draw_t *d, const char *s)
{
    APR_ARRAY_PUSH(d->out, const char *) = s;
}

static int by_name(const void *a, const void *b)
{
    const node_t *x = *(node_t *const *)a, *y = *(node_t *const *)b;

    return strcmp(x->name, y->name);
}

static void frame(draw_t *d, const char *name, double x, double w, int depth,
                  apr_int64_t total, apr_int64_t self, apr_int64_t total_s,
                  apr_int64_t self_s, apr_int64_t waiting, int merged)
{
    apr_pool_t *p = d->p;
    double y = d->top + d->height - (depth + 1) * PROF_FLAME_ROW_PX;
    const char *title, *label, *wait = "", *raw = name;
    const char *tot, *slf;

    if (d->by_ns) {
        tot = apr_psprintf(p, "%s, %" APR_INT64_T_FMT " samples",
                           duration(p, total), total_s);
        slf = apr_psprintf(p, "%s, %" APR_INT64_T_FMT " samples",
                           duration(p, self), self_s);
    }
    else {
        tot = apr_psprintf(p, "%" APR_INT64_T_FMT " samples", total_s);
        slf = apr_psprintf(p, "%" APR_INT64_T_FMT " samples", self_s);
    }
    if (d->wall) {
        wait = apr_psprintf(p, "; waiting %.1f%% of it", pct(waiting, total));
    }
    /* Lines of the hover text: the name escaped on its own, so that only
     * the separators are newlines. */
    name = prof_flame_escape(p, name);
    title = merged
        ? apr_psprintf(p, "%s: total %s (%.2f%%)", name, tot,
                       pct(total, d->all))
        : apr_psprintf(p, "%s\ntotal: %s (%.2f%%)\nself: %s (%.2f%%)%s",
                       name, tot, pct(total, d->all), slf, pct(self, d->all),
                       wait);
    label = fit(p, raw, w);
    emit(d, apr_psprintf(p, "<g class=\"f\"><title>%s</title>"
                         "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" "
                         "height=\"%d\" rx=\"2\" fill=\"%s\"/>",
                         title, x, y, w,
                         PROF_FLAME_ROW_PX - 1,
                         merged ? "rgb(200,200,200)"
                                : colour(p, raw, 2 * waiting > total)));
    if (label) {
        emit(d, apr_psprintf(p, "<text x=\"%.1f\" y=\"%.0f\">%s</text>",
                             x + 3, y + PROF_FLAME_ROW_PX - 4,
                             prof_flame_escape(p, label)));
    }
    emit(d, "</g>\n");
}

/* Draw node at x, then its children left to right by name. */
static void draw(draw_t *d, int at, double x)
{
    node_t *n = &APR_ARRAY_IDX(d->t->nodes, at, node_t);
    apr_array_header_t *kids;
    int k;
    double cx = x;

    frame(d, n->name, x, (double)n->total * d->px_per, n->depth, n->total,
          n->self, n->total_samples, n->self_samples, n->waiting, 0);
    kids = apr_array_make(d->p, 8, sizeof(node_t *));
    for (k = n->first_child; k >= 0;
         k = APR_ARRAY_IDX(d->t->nodes, k, node_t).next) {
        APR_ARRAY_PUSH(kids, node_t *) = &APR_ARRAY_IDX(d->t->nodes, k,
                                                        node_t);
    }
    if (kids->nelts > 1) {
        qsort(kids->elts, (size_t)kids->nelts, sizeof(node_t *), by_name);
    }
    for (k = 0; k < kids->nelts; ++k) {
        node_t *c = APR_ARRAY_IDX(kids, k, node_t *);

        draw(d, (int)(c - (node_t *)d->t->nodes->elts), cx);
        cx += (double)c->total * d->px_per;
    }
    /* Children narrower than a pixel: one frame after the others, not
     * descended into. */
    if (n->narrow_count && (double)n->narrow_total * d->px_per >= 1.0) {
        frame(d, n->narrow_count == 1
                 ? "1 narrow frame"
                 : apr_psprintf(d->p, "%d narrow frames", n->narrow_count),
              cx, (double)n->narrow_total * d->px_per, n->depth + 1,
              n->narrow_total, 0, n->narrow_samples, 0, n->narrow_waiting, 1);
    }
}

/* The deepest row a drawing reaches. */
static int depth_drawn(tree_t *t, int at, double px_per)
{
    node_t *n = &APR_ARRAY_IDX(t->nodes, at, node_t);
    int k, deepest = n->depth;

    for (k = n->first_child; k >= 0;
         k = APR_ARRAY_IDX(t->nodes, k, node_t).next) {
        int dd = depth_drawn(t, k, px_per);

        deepest = dd > deepest ? dd : deepest;
    }
    if (n->narrow_count && (double)n->narrow_total * px_per >= 1.0
        && n->depth + 1 > deepest) {
        deepest = n->depth + 1;
    }
    return deepest;
}

const char *prof_flame_svg(const prof_stacks_t *s,
                           const prof_flame_opts_t *o, apr_pool_t *p)
{
    prof_flame_opts_t def = { 0, -1, NULL, NULL };
    draw_t d;
    node_t *root;
    const char *id, *head;
    int width, rows, height, title_px;

    if (o == NULL) {
        o = &def;
    }
    width = o->width == 0 ? PROF_FLAME_WIDTH_DEFAULT
          : o->width < PROF_FLAME_WIDTH_MIN ? PROF_FLAME_WIDTH_MIN
          : o->width > PROF_FLAME_WIDTH_MAX ? PROF_FLAME_WIDTH_MAX : o->width;
    id = o->id ? apr_psprintf(p, " id=\"%s\"", prof_flame_escape(p, o->id))
               : "";
    title_px = o->title ? 24 : 0;
    memset(&d, 0, sizeof(d));
    d.p = p;
    d.out = apr_array_make(p, 256, sizeof(const char *));
    d.by_ns = s ? has_ns(s, o->state) : 0;
    d.wall = s ? s->wall : 0;
    d.t = s ? build(s, o->state, d.by_ns, width, p) : NULL;
    root = d.t ? &APR_ARRAY_IDX(d.t->nodes, 0, node_t) : NULL;
    head = apr_psprintf(p, "<svg xmlns=\"http://www.w3.org/2000/svg\"%s "
                        "class=\"flame\" font-family=\"Verdana,sans-serif\" "
                        "font-size=\"12\" ", id);
    if (root == NULL || root->total <= 0) {
        return apr_pstrcat(p, head, apr_psprintf(p, "width=\"%d\" "
                           "height=\"%d\" viewBox=\"0 0 %d %d\">", width,
                           title_px + 40, width, title_px + 40),
                           o->title ? apr_psprintf(p, "<text x=\"4\" y=\"16\" "
                                                   "font-size=\"14\">%s</text>",
                                                   prof_flame_escape(p,
                                                                     o->title))
                                    : "",
                           apr_psprintf(p, "<text x=\"4\" y=\"%d\">"
                                        "No samples.</text></svg>",
                                        title_px + 24), NULL);
    }
    d.all = root->total;
    d.all_samples = root->total_samples;
    d.px_per = d.t->px_per;
    rows = depth_drawn(d.t, 0, d.px_per) + 1;
    d.top = title_px + 4;
    d.height = rows * PROF_FLAME_ROW_PX;
    height = d.top + d.height + 8;
    emit(&d, apr_pstrcat(p, head, apr_psprintf(p, "width=\"%d\" height=\"%d\" "
                         "viewBox=\"0 0 %d %d\">\n", width, height, width,
                         height), NULL));
    /* No <style>: the dashboard's CSP allows only its own style sheet,
     * which outlines the frame under the pointer. */
    if (o->title) {
        emit(&d, apr_psprintf(p, "<text x=\"10\" y=\"18\" font-size=\"14\">"
                              "%s</text>\n", prof_flame_escape(p, o->title)));
    }
    draw(&d, 0, 10);
    emit(&d, "</svg>\n");
    {
        apr_size_t len = 0;
        char *out, *w;
        int k;

        for (k = 0; k < d.out->nelts; ++k) {
            len += strlen(APR_ARRAY_IDX(d.out, k, const char *));
        }
        w = out = apr_palloc(p, len + 1);
        for (k = 0; k < d.out->nelts; ++k) {
            const char *piece = APR_ARRAY_IDX(d.out, k, const char *);
            apr_size_t n = strlen(piece);

            memcpy(w, piece, n);
            w += n;
        }
        *w = '\0';
        return out;
    }
}

/* ---- top functions ------------------------------------------------------ */

static int by_self(const void *a, const void *b)
{
    const prof_flame_fn_t *x = a, *y = b;

    if (x->self_samples != y->self_samples) {
        return x->self_samples > y->self_samples ? -1 : 1;
    }
    if (x->total_samples != y->total_samples) {
        return x->total_samples > y->total_samples ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

apr_array_header_t *prof_flame_top(const prof_stacks_t *s, int max,
                                   apr_int64_t *all_samples,
                                   apr_int64_t *all_ns, apr_pool_t *p)
{
    apr_array_header_t *fns = apr_array_make(p, 64, sizeof(prof_flame_fn_t));
    apr_hash_t *at = apr_hash_make(p);
    /* The last stack each function was counted in, so that recursion
     * counts a stack once in its total. */
    apr_array_header_t *seen = apr_array_make(p, 64, sizeof(int));
    apr_int64_t sum_s = 0, sum_ns = 0;
    int i;

    for (i = 0; s && s->stacks && i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);
        apr_uint32_t k;

        sum_s += st->samples;
        sum_ns += st->nanos;
        for (k = 0; k < st->nframes; ++k) {
            const prof_frame_t *f;
            const char *name;
            prof_flame_fn_t *fn;
            int x;

            if (st->frames[k] >= (apr_uint32_t)s->frames->nelts) {
                continue;
            }
            f = &APR_ARRAY_IDX(s->frames, st->frames[k], prof_frame_t);
            name = f->name ? f->name : "?";
            x = (int)(apr_uintptr_t)apr_hash_get(at, name,
                                                 APR_HASH_KEY_STRING);
            if (x == 0) {
                fn = apr_array_push(fns);
                memset(fn, 0, sizeof(*fn));
                fn->name = name;
                APR_ARRAY_PUSH(seen, int) = -1;
                x = fns->nelts;
                apr_hash_set(at, name, APR_HASH_KEY_STRING,
                             (void *)(apr_uintptr_t)x);
            }
            fn = &APR_ARRAY_IDX(fns, x - 1, prof_flame_fn_t);
            if (k == 0) {
                fn->self_samples += st->samples;
                fn->self_ns += st->nanos;
            }
            if (APR_ARRAY_IDX(seen, x - 1, int) != i) {
                APR_ARRAY_IDX(seen, x - 1, int) = i;
                fn->total_samples += st->samples;
                fn->total_ns += st->nanos;
            }
        }
    }
    if (fns->nelts > 1) {
        qsort(fns->elts, (size_t)fns->nelts, sizeof(prof_flame_fn_t),
              by_self);
    }
    if (max > 0 && fns->nelts > max) {
        fns->nelts = max;
    }
    if (all_samples) {
        *all_samples = sum_s;
    }
    if (all_ns) {
        *all_ns = sum_ns;
    }
    return fns;
}

/* ---- folded stacks ------------------------------------------------------ */

#define FOLDED_DEPTH_MAX 4096

prof_stacks_t *prof_flame_folded_parse(const char *text,
                                       apr_int64_t period_ns, apr_pool_t *p,
                                       const char **err)
{
    prof_stacks_t *s = apr_pcalloc(p, sizeof(*s));
    apr_hash_t *names = apr_hash_make(p);
    apr_array_header_t *idx = apr_array_make(p, 64, sizeof(apr_uint32_t));
    const char *line = text, *end;

    s->pool = p;
    s->frames = apr_array_make(p, 64, sizeof(prof_frame_t));
    s->mappings = apr_array_make(p, 1, sizeof(prof_mapping_t));
    s->stacks = apr_array_make(p, 64, sizeof(prof_stack_t));
    s->period_ns = period_ns;
    for (; line && *line; line = *end ? end + 1 : end) {
        const char *sp, *c, *from;
        apr_int64_t count = 0;
        prof_stack_t *st;
        apr_uint32_t *fr;
        int k, n;

        end = strchr(line, '\n');
        if (end == NULL) {
            end = line + strlen(line);
        }
        if (end == line || (end == line + 1 && *line == '\r')) {
            continue;
        }
        /* The count after the last space; names may hold spaces. */
        for (sp = end; sp > line && sp[-1] != ' '; --sp) {
        }
        if (sp == line || sp == end) {
            *err = "a line has no count";
            return NULL;
        }
        for (c = sp; c < end && *c != '\r'; ++c) {
            if (*c < '0' || *c > '9'
                || count > (APR_INT64_MAX - (*c - '0')) / 10) {
                *err = "a line's count is not a number";
                return NULL;
            }
            count = count * 10 + (*c - '0');
        }
        idx->nelts = 0;
        for (from = line; from < sp - 1; from = c + 1) {
            const char *name;
            void *at;

            for (c = from; c < sp - 1 && *c != ';'; ++c) {
            }
            if (c == from) {
                continue;
            }
            if (idx->nelts >= FOLDED_DEPTH_MAX) {
                *err = "a stack is deeper than 4096 frames";
                return NULL;
            }
            name = apr_pstrmemdup(p, from, (apr_size_t)(c - from));
            at = apr_hash_get(names, name, APR_HASH_KEY_STRING);
            if (at == NULL) {
                prof_frame_t *f = apr_array_push(s->frames);

                memset(f, 0, sizeof(*f));
                f->name = name;
                at = (void *)(apr_uintptr_t)s->frames->nelts;
                apr_hash_set(names, name, APR_HASH_KEY_STRING, at);
            }
            APR_ARRAY_PUSH(idx, apr_uint32_t) =
                (apr_uint32_t)((apr_uintptr_t)at - 1);
        }
        st = apr_array_push(s->stacks);
        memset(st, 0, sizeof(*st));
        n = idx->nelts;
        fr = apr_palloc(p, (apr_size_t)(n ? n : 1) * sizeof(*fr));
        for (k = 0; k < n; ++k) {
            fr[k] = APR_ARRAY_IDX(idx, n - 1 - k, apr_uint32_t); /* leaf 1st */
        }
        st->nframes = (apr_uint32_t)n;
        st->frames = fr;
        st->samples = count;
        st->nanos = period_ns > 0 && count <= APR_INT64_MAX / period_ns
                    ? count * period_ns : 0;
        st->state = PROF_STACK_UNKNOWN;
    }
    return s;
}
