/* Licensed under the Apache License, Version 2.0. */

/* prof_stacks_text: the store's text form of a profile. Profiles with
 * hostile names (spaces, semicolons, escapes, newlines, UTF-8, the
 * format's own markers) and extreme numbers come back exactly; random
 * ones too; and every kind of damage is refused with a reason, never
 * read past or trusted. */

#include <string.h>

#include "apr_strings.h"

#include "prof_stacks.h"
#include "unit.h"

/* A profile in p with no content; the tests add to it. (Not
 * prof_stacks_make(): the sampler's unit, tested on its own.) */
static prof_stacks_t *empty(apr_pool_t *p, int wall)
{
    prof_stacks_t *s = apr_pcalloc(p, sizeof(*s));

    s->pool = p;
    s->frames = apr_array_make(p, 4, sizeof(prof_frame_t));
    s->mappings = apr_array_make(p, 4, sizeof(prof_mapping_t));
    s->stacks = apr_array_make(p, 4, sizeof(prof_stack_t));
    s->wall = wall;
    s->period_ns = wall ? 1000000 : 10101010;
    s->start = APR_INT64_C(1764667000123456);
    s->duration_ns = APR_INT64_C(30000000000);
    return s;
}

static apr_uint32_t add_frame(prof_stacks_t *s, const char *name,
                              const char *file, apr_uint32_t line,
                              apr_uint64_t addr, apr_uint32_t mapping)
{
    prof_frame_t *f = apr_array_push(s->frames);

    f->name = name;
    f->file = file;
    f->line = line;
    f->addr = addr;
    f->mapping = mapping;
    return (apr_uint32_t)(s->frames->nelts - 1);
}

static void add_stack(prof_stacks_t *s, const apr_uint32_t *frames,
                      apr_uint32_t n, apr_int64_t samples, apr_int64_t nanos,
                      int state, apr_int64_t pid, const char *route,
                      const char *phase)
{
    prof_stack_t *st = apr_array_push(s->stacks);

    st->nframes = n;
    st->frames = n ? apr_pmemdup(s->pool, frames, n * sizeof(*frames)) : NULL;
    st->samples = samples;
    st->nanos = nanos;
    st->state = state;
    st->pid = pid;
    st->route = route;
    st->phase = phase;
}

static void str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        ck_assert_ptr_eq(a, b);
    }
    else {
        ck_assert_str_eq(a, b);
    }
}

/* a and b hold the same profile. */
static void same(const prof_stacks_t *a, const prof_stacks_t *b)
{
    int i;
    apr_uint32_t k;

    ck_assert_int_eq(a->wall, b->wall);
    ck_assert_int_eq(a->period_ns, b->period_ns);
    ck_assert_int_eq(a->start, b->start);
    ck_assert_int_eq(a->duration_ns, b->duration_ns);
    ck_assert_int_eq(a->mappings->nelts, b->mappings->nelts);
    for (i = 0; i < a->mappings->nelts; ++i) {
        const prof_mapping_t *x = &APR_ARRAY_IDX(a->mappings, i,
                                                 prof_mapping_t);
        const prof_mapping_t *y = &APR_ARRAY_IDX(b->mappings, i,
                                                 prof_mapping_t);

        ck_assert(x->start == y->start && x->limit == y->limit
                  && x->offset == y->offset);
        str_eq(x->file, y->file);
        str_eq(x->build_id, y->build_id);
    }
    ck_assert_int_eq(a->frames->nelts, b->frames->nelts);
    for (i = 0; i < a->frames->nelts; ++i) {
        const prof_frame_t *x = &APR_ARRAY_IDX(a->frames, i, prof_frame_t);
        const prof_frame_t *y = &APR_ARRAY_IDX(b->frames, i, prof_frame_t);

        str_eq(x->name, y->name);
        str_eq(x->file, y->file);
        ck_assert_uint_eq(x->line, y->line);
        ck_assert(x->addr == y->addr);
        ck_assert_uint_eq(x->mapping, y->mapping);
    }
    ck_assert_int_eq(a->stacks->nelts, b->stacks->nelts);
    for (i = 0; i < a->stacks->nelts; ++i) {
        const prof_stack_t *x = &APR_ARRAY_IDX(a->stacks, i, prof_stack_t);
        const prof_stack_t *y = &APR_ARRAY_IDX(b->stacks, i, prof_stack_t);

        ck_assert_uint_eq(x->nframes, y->nframes);
        for (k = 0; k < x->nframes; ++k) {
            ck_assert_uint_eq(x->frames[k], y->frames[k]);
        }
        ck_assert(x->samples == y->samples && x->nanos == y->nanos);
        ck_assert_int_eq(x->state, y->state);
        ck_assert(x->pid == y->pid);
        str_eq(x->route, y->route);
        str_eq(x->phase, y->phase);
    }
}

static const prof_stacks_t *round_trip(const prof_stacks_t *s)
{
    const char *text = prof_stacks_text_write(s, unit_pool), *err = NULL;
    prof_stacks_t *back;

    ck_assert_ptr_nonnull(text);
    back = prof_stacks_text_parse(text, unit_pool, &err);
    ck_assert_msg(back != NULL, "did not parse back (%s):\n%s", err, text);
    same(s, back);
    /* Writing what was read gives the same text again. */
    ck_assert_str_eq(prof_stacks_text_write(back, unit_pool), text);
    return back;
}

/* Names a symbol table, a route or a file name could hold, each one that
 * would break a line, a field or an escape if it were written as it is. */
static const char *const hostile[] = {
    "ap_run_handler", "", "-", "'", "''", "%", "%41", "%zz", "a b", " ",
    "a;b;c", "operator<<(std::ostream&, int)", "tab\there", "new\nline",
    "cr\rlf", "\x01\x1f\x7f", "caf\xc3\xa9", "\xe2\x9c\x93 \xf0\x9f\x94\xa5",
    "\xff\xfe broken utf-8", "mod_x.so+0x1a2b", "s 1 2 3 -1 0 - - 0",
    "stacks1 0 0 0 0", "f 0 0 0 'x -", "/usr/lib/apache2/modules/mod x.so",
    "\"quoted\"", "<tag>&amp;"
};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

START_TEST(text_round_trip_hostile)
{
    prof_stacks_t *s = empty(unit_pool, _i % 2);
    apr_uint32_t fr[NHOSTILE], k;
    prof_mapping_t *m;

    m = apr_array_push(s->mappings);
    m->start = APR_UINT64_C(0x55d0c0de0000);
    m->limit = APR_UINT64_MAX;
    m->offset = 0;
    m->file = "/usr/sbin/apache2";
    m->build_id = "3f1a";
    m = apr_array_push(s->mappings);
    m->start = 0;
    m->limit = 1;
    m->offset = APR_UINT64_MAX;
    m->file = hostile[_i % NHOSTILE];
    m->build_id = NULL;
    for (k = 0; k < NHOSTILE; ++k) {
        fr[k] = add_frame(s, hostile[(k + (apr_uint32_t)_i) % NHOSTILE],
                          k % 3 ? hostile[k] : NULL, k * 1000u,
                          k ? APR_UINT64_MAX - k : 0, k % 3);
    }
    add_stack(s, fr, NHOSTILE, 7, 70000000, PROF_STACK_ONCPU, 4242,
              "/api/{id}", "handler");
    add_stack(s, fr + 3, 2, APR_INT64_MAX, APR_INT64_MAX, PROF_STACK_WAITING,
              APR_INT64_MAX, hostile[_i % NHOSTILE], NULL);
    add_stack(s, NULL, 0, 0, 0, PROF_STACK_UNKNOWN, 0, NULL,
              hostile[(_i + 1) % NHOSTILE]);
    round_trip(s);
}
END_TEST

/* Random profiles: random names of any bytes but NUL, random shapes. */
START_TEST(text_round_trip_random)
{
    uint64_t rng = unit_seed(_i);
    prof_stacks_t *s = empty(unit_pool, (int)(unit_rand(&rng) & 1));
    int nframes = 1 + (int)(unit_rand(&rng) % 40), i, nstacks;
    apr_uint32_t fr[64];

    s->start = (apr_int64_t)(unit_rand(&rng) >> 1) * (_i % 2 ? -1 : 1);
    for (i = 0; i < (int)(unit_rand(&rng) % 4); ++i) {
        prof_mapping_t *m = apr_array_push(s->mappings);

        m->start = unit_rand(&rng);
        m->limit = unit_rand(&rng);
        m->offset = unit_rand(&rng);
        m->file = apr_psprintf(unit_pool, "/lib/%d name.so", i);
        m->build_id = i % 2 ? "abcdef" : NULL;
    }
    for (i = 0; i < nframes; ++i) {
        int len = (int)(unit_rand(&rng) % 24), k;
        char *name = apr_palloc(unit_pool, (apr_size_t)len + 1);

        for (k = 0; k < len; ++k) {
            name[k] = (char)(1 + unit_rand(&rng) % 255);
        }
        name[len] = '\0';
        add_frame(s, name, unit_rand(&rng) % 2 ? name : NULL,
                  (apr_uint32_t)unit_rand(&rng), unit_rand(&rng),
                  (apr_uint32_t)(unit_rand(&rng)
                                 % (apr_uint64_t)(s->mappings->nelts + 1)));
    }
    nstacks = (int)(unit_rand(&rng) % 30);
    for (i = 0; i < nstacks; ++i) {
        apr_uint32_t n = (apr_uint32_t)(unit_rand(&rng) % 64), k;

        for (k = 0; k < n; ++k) {
            fr[k] = (apr_uint32_t)(unit_rand(&rng) % (apr_uint64_t)nframes);
        }
        add_stack(s, fr, n, (apr_int64_t)(unit_rand(&rng) >> 1),
                  (apr_int64_t)(unit_rand(&rng) >> 1),
                  (int)(unit_rand(&rng) % 3) - 1,
                  (apr_int64_t)(unit_rand(&rng) % 100000),
                  unit_rand(&rng) % 2 ? "/r;o u%te" : NULL,
                  unit_rand(&rng) % 2 ? "handler" : NULL);
    }
    round_trip(s);
}
END_TEST

/* Damaged or foreign text: refused, with a reason. */
static const char *const bad[] = {
    "",
    "stacks2 0 1 2 3\n",
    "stacks1 0 1 2 3",                  /* no newline */
    "stacks1 2 1 2 3\n",                /* wall is 0 or 1 */
    "stacks1 0 -1 2 3\n",               /* negative period */
    "stacks1 0  1 2 3\n",               /* two spaces */
    "stacks1 0 1 2 99999999999999999999\n",
    "stacks1 0 1 2 3\nx\n",
    "stacks1 0 1 2 3\nf 0 0 0 'a -\nf 0 0 0 'b -\ns 1 1 0 0 - - 2\n",
    "stacks1 0 1 2 3\nf 1 0 0 'a -\n",  /* mapping 1 of none */
    "stacks1 0 1 2 3\nf 0 0 0 - -\n",   /* a frame without a name */
    "stacks1 0 1 2 3\nf 0 0 0 a -\n",   /* unquoted */
    "stacks1 0 1 2 3\nf 0 0 0 'a%2 -\n",
    "stacks1 0 1 2 3\nf 0 0 0 'a%2g -\n",
    "stacks1 0 1 2 3\nf 0 0 0 'a%2f -\n", /* lower-case hex */
    "stacks1 0 1 2 3\nf 0 0 0 'a%00b -\n",
    "stacks1 0 1 2 3\nf 0 4294967296 0 'a -\n",
    "stacks1 0 1 2 3\nf 0 0 18446744073709551616 'a -\n",
    "stacks1 0 1 2 3\nf 0 0 0 'a -\ns 1 1 2 0 - - 0\n",   /* state 2 */
    "stacks1 0 1 2 3\nf 0 0 0 'a -\ns -1 1 0 0 - - 0\n",  /* samples < 0 */
    "stacks1 0 1 2 3\nf 0 0 0 'a -\ns 1 1 0 0 - - 0,\n",
    "stacks1 0 1 2 3\nf 0 0 0 'a -\ns 1 1 0 0 - - ,0\n",
    "stacks1 0 1 2 3\nf 0 0 0 'a -\ns 1 1 0 0 - -\n",
    "stacks1 0 1 2 3\ns 1 1 0 0 - - 0\n",  /* no frames at all */
    "stacks1 0 1 2 3\nf 0 0 0 'a -\ns 1 1 0 0 - - 0\nf 0 0 0 'b -\n",
    "stacks1 0 1 2 3\nm 1 2 3 - -\nm 1 2\n",
    "stacks1 0 1 2 3\nf 0 0 0 'a -\ns 1 1 0 0 - - 0\n\n",
    "stacks1 0 1 2 3\nf 0 0 0 'a -\ns 1 1 0 0 -x - 0\n",
};

START_TEST(text_refuses_damage)
{
    const char *err = NULL;

    ck_assert_msg(prof_stacks_text_parse(bad[_i], unit_pool, &err) == NULL,
                  "accepted: %s", bad[_i]);
    ck_assert_ptr_nonnull(err);
    ck_assert(strlen(err) > 0);
}
END_TEST

/* Every prefix of a good text but the whole: refused too, and never read
 * past its end (the guard page faults on a byte too far). */
START_TEST(text_refuses_truncation)
{
    prof_stacks_t *s = empty(unit_pool, 1);
    apr_uint32_t fr[3];
    const char *text, *err;
    apr_size_t len, cut;

    fr[0] = add_frame(s, "leaf fn", "a.c", 3, 1, 0);
    fr[1] = add_frame(s, "mid;fn", NULL, 0, 2, 0);
    fr[2] = add_frame(s, "root", NULL, 0, 3, 0);
    add_stack(s, fr, 3, 2, 2000000, PROF_STACK_WAITING, 1, "/x", "handler");
    text = prof_stacks_text_write(s, unit_pool);
    len = strlen(text);
    for (cut = 0; cut < len; ++cut) {
        unit_guard_t g;
        char *copy = unit_guard_alloc(&g, cut + 1);

        memcpy(copy, text, cut);
        copy[cut] = '\0';
        err = NULL;
        /* A cut right after a whole line is a valid, smaller profile. */
        if (prof_stacks_text_parse(copy, unit_pool, &err) == NULL) {
            ck_assert_ptr_nonnull(err);
        }
        else {
            ck_assert_msg(cut > 0 && text[cut - 1] == '\n',
                          "a cut inside a line parsed, at %d",
                          (int)cut);
        }
        unit_guard_free(&g);
    }
}
END_TEST

START_TEST(text_format_is_as_documented)
{
    prof_stacks_t *s = empty(unit_pool, 0);
    apr_uint32_t fr[2];
    prof_mapping_t *m = apr_array_push(s->mappings);

    s->period_ns = 10;
    s->start = 20;
    s->duration_ns = 30;
    m->start = 4096;
    m->limit = 8192;
    m->offset = 0;
    m->file = "/a b";
    m->build_id = NULL;
    fr[0] = add_frame(s, "leaf;x", "f.c", 7, 4100, 1);
    fr[1] = add_frame(s, "", NULL, 0, 0, 0);
    add_stack(s, fr, 2, 3, 30, PROF_STACK_ONCPU, 99, "/r", NULL);
    ck_assert_str_eq(prof_stacks_text_write(s, unit_pool),
                     "stacks1 0 10 20 30\n"
                     "m 4096 8192 0 '/a%20b -\n"
                     "f 1 7 4100 'leaf;x 'f.c\n"
                     "f 0 0 0 ' -\n"
                     "s 3 30 0 99 '/r - 0,1\n");
}
END_TEST

Suite *prof_stacks_text_suite(void)
{
    Suite *s = suite_create("prof_stacks_text");
    TCase *tc = tcase_create("text");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, text_round_trip_hostile, 0, (int)NHOSTILE);
    tcase_add_loop_test(tc, text_round_trip_random, 0, 200);
    tcase_add_loop_test(tc, text_refuses_damage, 0,
                        (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(tc, text_refuses_truncation);
    tcase_add_test(tc, text_format_is_as_documented);
    suite_add_tcase(s, tc);
    return s;
}
