/* Licensed under the Apache License, Version 2.0. */

/* prof_flame: flame graphs as SVG and the top functions. A frame's width
 * is its share; its hover title says its total and self; hostile names
 * are escaped; a profile of thousands of tiny stacks stays bounded; the
 * same name has the same colour everywhere; waiting is told apart. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "prof_flame.h"
#include "unit.h"

/* The frames by name, of the profile being built (the last empty()). */
static apr_hash_t *names;
static prof_stacks_t *names_of;

static prof_stacks_t *empty(apr_pool_t *p, int wall)
{
    prof_stacks_t *s = apr_pcalloc(p, sizeof(*s));

    s->pool = p;
    s->frames = apr_array_make(p, 4, sizeof(prof_frame_t));
    s->mappings = apr_array_make(p, 4, sizeof(prof_mapping_t));
    s->stacks = apr_array_make(p, 4, sizeof(prof_stack_t));
    s->wall = wall;
    s->period_ns = 10000000;
    names = apr_hash_make(p);
    names_of = s;
    return s;
}

static apr_uint32_t frame_of(prof_stacks_t *s, const char *name)
{
    prof_frame_t *f;
    void *at;

    ck_assert_ptr_eq(names_of, s);
    if ((at = apr_hash_get(names, name, APR_HASH_KEY_STRING)) != NULL) {
        return (apr_uint32_t)((apr_uintptr_t)at - 1);
    }
    apr_hash_set(names, name, APR_HASH_KEY_STRING,
                 (void *)(apr_uintptr_t)(s->frames->nelts + 1));
    f = apr_array_push(s->frames);
    memset(f, 0, sizeof(*f));
    f->name = name;
    return (apr_uint32_t)(s->frames->nelts - 1);
}

/* A stack from "root;mid;leaf" (folded order), n samples of 10 ms. */
static void add(prof_stacks_t *s, const char *folded, apr_int64_t n,
                int state)
{
    char *copy = apr_pstrdup(s->pool, folded), *last, *tok;
    apr_uint32_t fr[64], rev[64], k = 0, i;
    prof_stack_t *st;

    for (tok = apr_strtok(copy, ";", &last); tok;
         tok = apr_strtok(NULL, ";", &last)) {
        fr[k++] = frame_of(s, tok);
    }
    for (i = 0; i < k; ++i) {
        rev[i] = fr[k - 1 - i];     /* leaf first */
    }
    st = apr_array_push(s->stacks);
    memset(st, 0, sizeof(*st));
    st->nframes = k;
    st->frames = apr_pmemdup(s->pool, rev, k * sizeof(*rev));
    st->samples = n;
    st->nanos = n * s->period_ns;
    st->state = state;
}

/* The <g> of the frame whose title starts with name and a newline. */
static const char *frame_g(const char *svg, const char *name)
{
    const char *t = apr_pstrcat(unit_pool, "<title>", name, "\n", NULL);
    const char *at = strstr(svg, t);

    ck_assert_msg(at != NULL, "no frame %s in\n%s", name, svg);
    return at;
}

static double attr(const char *from, const char *name)
{
    const char *a = strstr(from, apr_pstrcat(unit_pool, " ", name, "=\"",
                                             NULL));

    ck_assert_ptr_nonnull(a);
    return atof(a + strlen(name) + 3);
}

static int count(const char *s, const char *what)
{
    int n = 0;

    for (; (s = strstr(s, what)) != NULL; s += strlen(what)) {
        ++n;
    }
    return n;
}

START_TEST(flame_widths_and_titles)
{
    prof_stacks_t *s = empty(unit_pool, 0);
    prof_flame_opts_t o = { 1020, -1, "CPU", "g1" };
    const char *svg, *g;

    add(s, "main;ap_run_handler;burn_cpu", 90, PROF_STACK_ONCPU);
    add(s, "main;ap_run_handler;other", 6, PROF_STACK_ONCPU);
    add(s, "main;idle", 4, PROF_STACK_ONCPU);
    svg = prof_flame_svg(s, &o, unit_pool);
    {
        static const char head[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                                   "id=\"g1\" ";

        ck_assert(!strncmp(svg, head, strlen(head)));
    }
    ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
    ck_assert_ptr_null(strstr(svg, "<script"));
    /* 1000 px for 100 samples: 10 px each. */
    g = frame_g(svg, "burn_cpu");
    ck_assert_ptr_nonnull(strstr(g, "total: 900.0 ms, 90 samples (90.00%)\n"
                                    "self: 900.0 ms, 90 samples (90.00%)"));
    ck_assert(abs((int)(attr(g, "width") * 10) - 9000) <= 1);
    g = frame_g(svg, "ap_run_handler");
    ck_assert_ptr_nonnull(strstr(g, "total: 960.0 ms, 96 samples (96.00%)\n"
                                    "self: 0 us, 0 samples (0.00%)"));
    ck_assert(abs((int)(attr(g, "width") * 10) - 9600) <= 1);
    g = frame_g(svg, "all");
    ck_assert(abs((int)(attr(g, "width") * 10) - 10000) <= 1);
    /* Roots at the bottom: main below ap_run_handler below burn_cpu. */
    ck_assert(attr(frame_g(svg, "main"), "y")
              > attr(frame_g(svg, "ap_run_handler"), "y"));
    ck_assert(attr(frame_g(svg, "ap_run_handler"), "y")
              > attr(frame_g(svg, "burn_cpu"), "y"));
    /* Siblings side by side, in name order: burn_cpu, then other. */
    ck_assert(attr(frame_g(svg, "other"), "x")
              >= attr(frame_g(svg, "burn_cpu"), "x") + 899);
    /* Frames are labelled where the name fits: idle's 40 px do. */
    ck_assert_ptr_nonnull(strstr(svg, ">burn_cpu</text>"));
    ck_assert_ptr_nonnull(strstr(svg, ">idle</text>"));
    /* 5 frames and the root, each once. */
    ck_assert_int_eq(count(svg, "<rect"), 6);
}
END_TEST

START_TEST(flame_escapes_names)
{
    prof_stacks_t *s = empty(unit_pool, 0);
    const char *svg;

    add(s, "main;<script>alert(1)</script>;a&b\"c'd", 5, PROF_STACK_ONCPU);
    add(s, "main;bad\x01\xff utf8 \xc3\xa9", 5, PROF_STACK_ONCPU);
    svg = prof_flame_svg(s, NULL, unit_pool);
    ck_assert_ptr_null(strstr(svg, "<script"));
    ck_assert_ptr_nonnull(strstr(svg, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    ck_assert_ptr_nonnull(strstr(svg, "a&amp;b&quot;c&#39;d"));
    ck_assert_ptr_nonnull(strstr(svg, "bad?? utf8 \xc3\xa9"));
    ck_assert_ptr_null(strstr(svg, "\x01"));
    ck_assert_ptr_null(strstr(svg, "\xff"));
}
END_TEST

static const struct {
    const char *in, *out;
} esc[] = {
    { "plain", "plain" },
    { "", "" },
    { "<>&\"'", "&lt;&gt;&amp;&quot;&#39;" },
    { "\t\n\x7f", "???" },
    { "\xe2\x82\xac", "\xe2\x82\xac" },             /* a whole euro sign */
    { "\xe2\x82", "??" },                           /* cut short */
    { "\xc0\xaf", "??" },                           /* overlong */
    { "\xed\xa0\x80", "???" },                      /* a surrogate */
    { "\xf4\x90\x80\x80", "????" },                 /* past U+10FFFF */
    { "\xf0\x9f\x94\xa5!", "\xf0\x9f\x94\xa5!" },
};

START_TEST(flame_escape_table)
{
    ck_assert_str_eq(prof_flame_escape(unit_pool, esc[_i].in), esc[_i].out);
}
END_TEST

/* Thousands of one-sample stacks beside a big one: the narrow ones merge
 * into one grey frame per row, and the SVG stays small. */
START_TEST(flame_bounded)
{
    prof_stacks_t *s = empty(unit_pool, 0);
    prof_flame_opts_t o = { 400, -1, NULL, NULL };
    const char *svg;
    int i;

    add(s, "main;big", 100000, PROF_STACK_ONCPU);
    for (i = 0; i < 20000; ++i) {
        add(s, apr_psprintf(unit_pool, "main;f%d;g%d;h%d", i, i, i), 1,
            PROF_STACK_ONCPU);
    }
    svg = prof_flame_svg(s, &o, unit_pool);
    ck_assert_ptr_nonnull(strstr(svg, "20000 narrow frames: total 200.00 s, 20000 "
                                      "samples"));
    ck_assert_ptr_null(strstr(svg, ">f1<"));
    ck_assert_int_le(count(svg, "<rect"), 4);
    ck_assert_uint_lt(strlen(svg), 4000);
}
END_TEST

/* Deep stacks stop at the depth cap. */
START_TEST(flame_depth_cap)
{
    prof_stacks_t *s = empty(unit_pool, 0);
    prof_stack_t *st;
    apr_uint32_t *fr = apr_palloc(unit_pool, 1000 * sizeof(*fr));
    const char *svg;
    int i;

    for (i = 0; i < 1000; ++i) {
        fr[i] = frame_of(s, apr_psprintf(unit_pool, "d%d", i));
    }
    st = apr_array_push(s->stacks);
    memset(st, 0, sizeof(*st));
    st->nframes = 1000;
    st->frames = fr;
    st->samples = 1;
    st->nanos = 1;
    svg = prof_flame_svg(s, NULL, unit_pool);
    ck_assert_int_eq(count(svg, "<rect"), PROF_FLAME_DEPTH_MAX + 1);
}
END_TEST

static const char *fill_of(const char *svg, const char *name)
{
    const char *g = frame_g(svg, name), *f = strstr(g, "fill=\"");

    ck_assert_ptr_nonnull(f);
    return apr_pstrndup(unit_pool, f + 6, (apr_size_t)(strchr(f + 6, '"')
                                                       - (f + 6)));
}

START_TEST(flame_colours_deterministic)
{
    prof_stacks_t *a = empty(unit_pool, 0), *b;
    const char *sa, *sb;

    add(a, "main;x;burn_cpu", 3, PROF_STACK_ONCPU);
    b = empty(unit_pool, 0);
    add(b, "other;burn_cpu", 70, PROF_STACK_ONCPU);
    add(b, "other;y", 1, PROF_STACK_ONCPU);
    sa = prof_flame_svg(a, NULL, unit_pool);
    sb = prof_flame_svg(b, NULL, unit_pool);
    ck_assert_str_eq(fill_of(sa, "burn_cpu"), fill_of(sb, "burn_cpu"));
    ck_assert_str_ne(fill_of(sa, "burn_cpu"), fill_of(sa, "x"));
    /* And the same graph twice is the same text. */
    ck_assert_str_eq(sa, prof_flame_svg(a, NULL, unit_pool));
}
END_TEST

/* A request's wall-clock profile: waiting frames are blue, their share is
 * in the title; the state filter draws only one kind. */
START_TEST(flame_wall_waiting)
{
    prof_stacks_t *s = empty(unit_pool, 1);
    prof_flame_opts_t only = { 0, PROF_STACK_ONCPU, NULL, NULL };
    const char *svg, *g, *fill;
    unsigned r, gr, b;

    add(s, "main;handler;read_backend", 75, PROF_STACK_WAITING);
    add(s, "main;handler;render", 25, PROF_STACK_ONCPU);
    svg = prof_flame_svg(s, NULL, unit_pool);
    g = frame_g(svg, "handler");
    ck_assert_ptr_nonnull(strstr(g, "waiting 75.0% of it"));
    fill = fill_of(svg, "read_backend");
    ck_assert_int_eq(sscanf(fill, "rgb(%u,%u,%u)", &r, &gr, &b), 3);
    ck_assert_uint_gt(b, r);
    fill = fill_of(svg, "render");
    ck_assert_int_eq(sscanf(fill, "rgb(%u,%u,%u)", &r, &gr, &b), 3);
    ck_assert_uint_gt(r, b);
    svg = prof_flame_svg(s, &only, unit_pool);
    ck_assert_ptr_null(strstr(svg, "read_backend"));
    ck_assert_ptr_nonnull(strstr(svg, "render"));
}
END_TEST

START_TEST(flame_empty)
{
    prof_stacks_t *s = empty(unit_pool, 0);
    const char *svg = prof_flame_svg(s, NULL, unit_pool);

    ck_assert_ptr_nonnull(strstr(svg, "No samples."));
    ck_assert_ptr_nonnull(strstr(svg, "</svg>"));
    ck_assert_ptr_nonnull(strstr(prof_flame_svg(NULL, NULL, unit_pool),
                                 "No samples."));
}
END_TEST

START_TEST(flame_top_functions)
{
    prof_stacks_t *s = empty(unit_pool, 0);
    apr_array_header_t *top;
    apr_int64_t all_s, all_ns;
    const prof_flame_fn_t *f;

    add(s, "main;handler;burn", 60, PROF_STACK_ONCPU);
    add(s, "main;handler;rec;rec;rec", 30, PROF_STACK_ONCPU);
    add(s, "main;handler", 10, PROF_STACK_ONCPU);
    top = prof_flame_top(s, 0, &all_s, &all_ns, unit_pool);
    ck_assert_int_eq(all_s, 100);
    ck_assert_int_eq(all_ns, 100 * s->period_ns);
    ck_assert_int_eq(top->nelts, 4);
    f = &APR_ARRAY_IDX(top, 0, prof_flame_fn_t);
    ck_assert_str_eq(f->name, "burn");
    ck_assert_int_eq(f->self_samples, 60);
    ck_assert_int_eq(f->total_samples, 60);
    f = &APR_ARRAY_IDX(top, 1, prof_flame_fn_t);
    ck_assert_str_eq(f->name, "rec");
    ck_assert_int_eq(f->self_samples, 30);
    /* Recursion counts the stack once. */
    ck_assert_int_eq(f->total_samples, 30);
    ck_assert_int_eq(f->total_ns, 30 * s->period_ns);
    f = &APR_ARRAY_IDX(top, 2, prof_flame_fn_t);
    ck_assert_str_eq(f->name, "handler");
    ck_assert_int_eq(f->self_samples, 10);
    ck_assert_int_eq(f->total_samples, 100);
    f = &APR_ARRAY_IDX(top, 3, prof_flame_fn_t);
    ck_assert_str_eq(f->name, "main");
    ck_assert_int_eq(f->self_samples, 0);
    top = prof_flame_top(s, 2, NULL, NULL, unit_pool);
    ck_assert_int_eq(top->nelts, 2);
}
END_TEST

/* Folded stacks as the profiler-profile handler answers: read back into
 * the same stacks; damage refused. */
START_TEST(flame_folded_parse)
{
    const char *err = NULL;
    prof_stacks_t *s = prof_flame_folded_parse(
        "main;ap_run_handler;burn 90\n"
        "main;operator new(unsigned long) 7\r\n"
        "\n"
        "main;;idle 3", 5000000, unit_pool, &err);
    apr_array_header_t *top;
    const prof_stack_t *st;

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(s->stacks->nelts, 3);
    ck_assert_int_eq(s->frames->nelts, 5);
    st = &APR_ARRAY_IDX(s->stacks, 0, prof_stack_t);
    ck_assert_uint_eq(st->nframes, 3);
    ck_assert_str_eq(APR_ARRAY_IDX(s->frames, st->frames[0],
                                   prof_frame_t).name, "burn");
    ck_assert_int_eq(st->samples, 90);
    ck_assert_int_eq(st->nanos, 90 * 5000000);
    st = &APR_ARRAY_IDX(s->stacks, 1, prof_stack_t);
    ck_assert_str_eq(APR_ARRAY_IDX(s->frames, st->frames[0],
                                   prof_frame_t).name,
                     "operator new(unsigned long)");
    ck_assert_int_eq(st->samples, 7);
    st = &APR_ARRAY_IDX(s->stacks, 2, prof_stack_t);
    ck_assert_uint_eq(st->nframes, 2);      /* the empty frame skipped */
    top = prof_flame_top(s, 1, NULL, NULL, unit_pool);
    ck_assert_str_eq(APR_ARRAY_IDX(top, 0, prof_flame_fn_t).name, "burn");
    ck_assert_ptr_nonnull(strstr(prof_flame_svg(s, NULL, unit_pool),
                                 "<title>burn\ntotal: 450.0 ms, 90 samples "
                                 "(90.00%)"));
    s = prof_flame_folded_parse("", 1, unit_pool, &err);
    ck_assert(s != NULL && s->stacks->nelts == 0);
    ck_assert_ptr_null(prof_flame_folded_parse("a;b\n", 1, unit_pool, &err));
    ck_assert_ptr_null(prof_flame_folded_parse("a;b x\n", 1, unit_pool,
                                               &err));
    ck_assert_ptr_null(prof_flame_folded_parse("a;b -1\n", 1, unit_pool,
                                               &err));
    ck_assert_ptr_null(prof_flame_folded_parse(
        "a 99999999999999999999\n", 1, unit_pool, &err));
    ck_assert_ptr_null(prof_flame_folded_parse("a;b \n", 1, unit_pool,
                                               &err));
}
END_TEST

Suite *prof_flame_suite(void)
{
    Suite *s = suite_create("prof_flame");
    TCase *tc = tcase_create("flame");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, flame_widths_and_titles);
    tcase_add_test(tc, flame_escapes_names);
    tcase_add_loop_test(tc, flame_escape_table, 0,
                        (int)(sizeof(esc) / sizeof(esc[0])));
    tcase_add_test(tc, flame_bounded);
    tcase_add_test(tc, flame_depth_cap);
    tcase_add_test(tc, flame_colours_deterministic);
    tcase_add_test(tc, flame_wall_waiting);
    tcase_add_test(tc, flame_empty);
    tcase_add_test(tc, flame_top_functions);
    tcase_add_test(tc, flame_folded_parse);
    suite_add_tcase(s, tc);
    return s;
}
