/* Licensed under the Apache License, Version 2.0. */

/*
 * Span sets: bounds, names, parents, descriptions, start order, and many
 * threads at once (run under ASan in the sanitizer build).
 */

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "prof_span.h"
#include "unit.h"

#define INFO_MAX 16384
static prof_span_info_t info[INFO_MAX];

START_TEST(start_end_and_nulls)
{
    prof_span_set_t *set = prof_span_set_create(8, prof_clock_now_us());
    prof_span_t *s;
    apr_size_t n;

    ck_assert_ptr_nonnull(set);
    s = prof_span_start(set, "db", "select");
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(prof_span_finished(set, info, INFO_MAX), 0); /* open */
    prof_span_end(s);
    prof_span_end(s);                       /* twice: ignored */
    prof_span_end(NULL);                    /* NULL: ignored */
    prof_span_set_desc(NULL, "x");
    ck_assert_ptr_null(prof_span_start(NULL, "x", NULL));
    prof_span_metric(NULL, "x", 5, NULL);
    n = prof_span_finished(set, info, INFO_MAX);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(info[0].name, "db");
    ck_assert_str_eq(info[0].desc, "select");
    ck_assert_int_ge(info[0].dur_us, 0);
    ck_assert_int_ge(info[0].start_us, 0);
    ck_assert_int_eq(info[0].metric, 0);
    ck_assert_uint_eq(prof_span_dropped(set), 0);
    prof_span_set_free(set);
    prof_span_set_free(NULL);
}
END_TEST

static const struct {
    const char *in, *out;
} names[] = {
    { "db", "db" }, { "cache.lookup", "cache.lookup" }, { "a b", "a_b" },
    { "x;y,z=\"w\"", "x_y_z__w_" }, { "\r\n", "__" }, { "\xc3\xa9t\xc3\xa9", "__t__" },
    { "tab\there", "tab_here" }, { "(x)", "_x_" },
};

START_TEST(names_become_tokens)
{
    prof_span_set_t *set = prof_span_set_create(4, 0);
    apr_size_t n;

    prof_span_end(prof_span_start(set, names[_i].in, NULL));
    n = prof_span_finished(set, info, INFO_MAX);
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(info[0].name, names[_i].out);
    prof_span_set_free(set);
}
END_TEST

START_TEST(too_long_or_empty_is_dropped_and_counted)
{
    static char big[PROF_SPAN_DESC_MAX + 2];
    prof_span_set_t *set = prof_span_set_create(16, 0);

    memset(big, 'a', sizeof(big) - 1);
    ck_assert_ptr_null(prof_span_start(set, "", NULL));
    ck_assert_ptr_null(prof_span_start(set, big, NULL));          /* name */
    ck_assert_ptr_null(prof_span_start(set, "ok", big));          /* desc */
    big[PROF_SPAN_NAME_MAX] = '\0';                               /* exactly max */
    ck_assert_ptr_nonnull(prof_span_start(set, big, NULL));
    ck_assert_uint_eq(prof_span_dropped(set), 3);
    prof_span_set_free(set);
}
END_TEST

START_TEST(budget_is_bounded)
{
    apr_uint32_t max = (apr_uint32_t)_i;        /* 0 .. 4 */
    prof_span_set_t *set = prof_span_set_create(max, 0);
    int k;

    for (k = 0; k < 10; ++k) {
        prof_span_end(prof_span_start(set, "s", NULL));
        prof_span_metric(set, "m", 3, NULL);
    }
    ck_assert_uint_eq(prof_span_finished(set, info, INFO_MAX), max);
    ck_assert_uint_eq(prof_span_dropped(set), 20 - max);
    prof_span_set_free(set);
}
END_TEST

/* A reader sizes its array by prof_span_claimed(): what was used, never
 * the budget, and always enough for every span there is. */
START_TEST(claimed_counts_what_was_used)
{
    static const apr_uint32_t budgets[] = { 0, 1, 3, 64, 4096 };
    apr_uint32_t max = budgets[_i];
    prof_span_set_t *set = prof_span_set_create(max, 0);
    prof_span_t *open;
    apr_size_t want = 0;
    int k;

    ck_assert_uint_eq(prof_span_claimed(NULL), 0);
    ck_assert_uint_eq(prof_span_claimed(set), 0);
    /* one span, as most requests that have any */
    prof_span_end(prof_span_start(set, "one", NULL));
    want = max ? 1 : 0;
    ck_assert_uint_eq(prof_span_claimed(set), want);
    /* an open span counts (its slot is taken), and so does a metric */
    open = prof_span_start(set, "open", NULL);
    prof_span_metric(set, "m", 3, NULL);
    want = max < 3 ? max : 3;
    ck_assert_uint_eq(prof_span_claimed(set), want);
    /* a dropped one does not */
    prof_span_start(set, "", NULL);
    ck_assert_uint_eq(prof_span_claimed(set), want);
    /* room for claimed is room for every finished span */
    ck_assert_uint_eq(prof_span_finished(set, info, prof_span_claimed(set)),
                      max == 0 ? 0 : max < 3 ? max : 2);
    prof_span_end(open);
    ck_assert_uint_eq(prof_span_finished(set, info, prof_span_claimed(set)),
                      want);
    /* past the budget: claims that fail push the counter on, the answer
     * stays at max */
    for (k = 0; k < 10; ++k) {
        prof_span_metric(set, "m", 1, NULL);
    }
    ck_assert_uint_eq(prof_span_claimed(set), max < 13 ? max : 13);
    prof_span_set_free(set);
}
END_TEST

/* Slots come in chunks of 64: budgets around the edges, filled to the
 * brim, keep every span exactly once and drop the rest. */
START_TEST(budgets_at_chunk_edges)
{
    static const apr_uint32_t budgets[] = { 1, 63, 64, 65, 127, 128, 129,
                                            4096 };
    apr_uint32_t max = budgets[_i], k, tries = max + 10;
    prof_span_set_t *set = prof_span_set_create(max, 0);
    static char seen[4096];
    apr_size_t n;

    for (k = 0; k < tries; ++k) {
        if (k % 2) {
            prof_span_metric(set, "m", 1, NULL);
        }
        else {
            prof_span_end(prof_span_start(set, "s", k % 4 ? NULL : "d"));
        }
    }
    ck_assert_uint_eq(prof_span_claimed(set), max);
    ck_assert_uint_eq(prof_span_dropped(set), tries - max);
    n = prof_span_finished(set, info, prof_span_claimed(set));
    ck_assert_uint_eq(n, max);
    memset(seen, 0, sizeof(seen));
    for (k = 0; k < n; ++k) {
        ck_assert_int_lt(info[k].index, (int)max);
        ck_assert(!seen[info[k].index]);
        seen[info[k].index] = 1;
    }
    prof_span_set_free(set);
}
END_TEST

START_TEST(parents_on_one_thread)
{
    prof_span_set_t *set = prof_span_set_create(16, 0);
    prof_span_t *a, *b, *c, *d;
    apr_size_t n, k;
    int pa = -9, pb = -9, pc = -9, pd = -9, pm = -9, ia = -1, ib = -1;

    a = prof_span_start(set, "a", NULL);
    b = prof_span_start(set, "b", NULL);        /* child of a */
    c = prof_span_start(set, "c", NULL);        /* child of b */
    prof_span_end(c);
    prof_span_metric(set, "m", 1, NULL);        /* inside b */
    prof_span_end(b);
    d = prof_span_start(set, "d", NULL);        /* child of a again */
    prof_span_end(d);
    prof_span_end(a);
    n = prof_span_finished(set, info, INFO_MAX);
    ck_assert_uint_eq(n, 5);
    for (k = 0; k < n; ++k) {
        const char *nm = info[k].name;
        if (!strcmp(nm, "a")) { pa = info[k].parent; ia = info[k].index; }
        if (!strcmp(nm, "b")) { pb = info[k].parent; ib = info[k].index; }
        if (!strcmp(nm, "c")) pc = info[k].parent;
        if (!strcmp(nm, "d")) pd = info[k].parent;
        if (!strcmp(nm, "m")) pm = info[k].parent;
    }
    ck_assert_int_eq(pa, PROF_SPAN_NO_PARENT);
    ck_assert_int_eq(pb, ia);
    ck_assert_int_eq(pc, ib);
    ck_assert_int_eq(pm, ib);
    ck_assert_int_eq(pd, ia);
    /* a new top-level span after everything ended has no parent */
    prof_span_end(prof_span_start(set, "e", NULL));
    n = prof_span_finished(set, info, INFO_MAX);
    ck_assert_str_eq(info[n - 1].name, "e");
    ck_assert_int_eq(info[n - 1].parent, PROF_SPAN_NO_PARENT);
    prof_span_set_free(set);
}
END_TEST

/* A thread that left a span open in a set that was then freed must not
 * make it the parent of a span in another set, nor touch freed memory
 * (ASan would see it). */
START_TEST(stale_open_span_of_a_freed_set)
{
    prof_span_set_t *old = prof_span_set_create(4, 0), *set;
    apr_size_t n;

    ck_assert_ptr_nonnull(prof_span_start(old, "left-open", NULL));
    prof_span_set_free(old);
    set = prof_span_set_create(4, 0);
    prof_span_end(prof_span_start(set, "fresh", NULL));
    n = prof_span_finished(set, info, INFO_MAX);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(info[0].parent, PROF_SPAN_NO_PARENT);
    prof_span_set_free(set);
}
END_TEST

START_TEST(descriptions_replace)
{
    prof_span_set_t *set = prof_span_set_create(4, 0);
    prof_span_t *s = prof_span_start(set, "cache", "lookup");
    int k;

    for (k = 0; k < 100; ++k) {
        prof_span_set_desc(s, k % 2 ? "hit" : "miss");
    }
    prof_span_end(s);
    prof_span_set_desc(s, "miss");             /* after the end: still ok */
    ck_assert_uint_eq(prof_span_finished(set, info, INFO_MAX), 1);
    ck_assert_str_eq(info[0].desc, "miss");
    prof_span_set_desc(s, NULL);
    prof_span_finished(set, info, INFO_MAX);
    ck_assert_ptr_null(info[0].desc);
    prof_span_set_free(set);                   /* frees every retired one */
}
END_TEST

START_TEST(metrics_and_start_order)
{
    prof_span_set_t *set = prof_span_set_create(8, 0);
    apr_size_t n, k;

    prof_span_end(prof_span_start(set, "first", NULL));
    prof_span_metric(set, "older", 5000000, NULL);    /* began 5 s ago */
    prof_span_metric(set, "neg", -7, NULL);            /* counts as 0 */
    n = prof_span_finished(set, info, INFO_MAX);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(info[0].name, "older");           /* by start time */
    ck_assert_int_eq(info[0].dur_us, 5000000);
    ck_assert_int_eq(info[0].metric, 1);
    for (k = 0; k + 1 < n; ++k) {
        ck_assert(info[k].start_us < info[k + 1].start_us
                  || (info[k].start_us == info[k + 1].start_us
                      && info[k].index < info[k + 1].index));
    }
    for (k = 0; k < n; ++k) {
        if (!strcmp(info[k].name, "neg")) {
            ck_assert_int_eq(info[k].dur_us, 0);
        }
    }
    prof_span_set_free(set);
}
END_TEST

#define THREADS 8
#define PER 1000

typedef struct {
    prof_span_set_t *set;
    int id;
} worker_t;

static void *worker(void *data)
{
    worker_t *w = data;
    char name[32];
    int k;

    for (k = 0; k < PER; ++k) {
        prof_span_t *s;

        snprintf(name, sizeof(name), "w%d.%d", w->id, k);
        s = prof_span_start(w->set, name, k % 3 ? NULL : "d");
        if (k % 7 == 0) {
            prof_span_set_desc(s, "changed");
        }
        if (k % 5 == 0) {
            prof_span_metric(w->set, "m", k, NULL);
        }
        prof_span_end(s);
    }
    return NULL;
}

/* Readers run while writers write: finished() must only ever see complete
 * spans, and when all is done every slot is there exactly once. */
START_TEST(many_threads_at_once)
{
    apr_uint32_t max = _i ? 4096 : 20000;     /* full, and room to spare */
    prof_span_set_t *set = prof_span_set_create(max, prof_clock_now_us());
    pthread_t tid[THREADS];
    worker_t w[THREADS];
    apr_size_t n, k, total = THREADS * (PER + PER / 5);
    static char seen[20000];
    int i;

    for (i = 0; i < THREADS; ++i) {
        w[i].set = set;
        w[i].id = i;
        ck_assert_int_eq(pthread_create(&tid[i], NULL, worker, &w[i]), 0);
    }
    for (i = 0; i < 20; ++i) {                 /* read while they write */
        n = prof_span_finished(set, info, INFO_MAX);
        for (k = 0; k < n; ++k) {
            ck_assert_int_ge(info[k].dur_us, 0);
            ck_assert(info[k].name[0] == 'w' || info[k].name[0] == 'm');
        }
    }
    for (i = 0; i < THREADS; ++i) {
        pthread_join(tid[i], NULL);
    }
    n = prof_span_finished(set, info, INFO_MAX);
    ck_assert_uint_eq(n, total < max ? total : max);
    ck_assert_uint_eq(prof_span_dropped(set), total > max ? total - max : 0);
    memset(seen, 0, sizeof(seen));
    for (k = 0; k < n; ++k) {
        ck_assert_int_lt(info[k].index, (int)max);
        ck_assert_int_eq(seen[info[k].index], 0);
        seen[info[k].index] = 1;
        /* spans of other threads are never parents across threads */
        if (info[k].parent != PROF_SPAN_NO_PARENT) {
            ck_assert_str_eq(info[k].name, "m");
        }
    }
    prof_span_set_free(set);
}
END_TEST

Suite *prof_span_suite(void)
{
    Suite *s = suite_create("prof_span");
    TCase *tc = tcase_create("spans");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, start_end_and_nulls);
    tcase_add_loop_test(tc, names_become_tokens, 0,
                        (int)(sizeof(names) / sizeof(names[0])));
    tcase_add_test(tc, too_long_or_empty_is_dropped_and_counted);
    tcase_add_loop_test(tc, budget_is_bounded, 0, 5);
    tcase_add_loop_test(tc, claimed_counts_what_was_used, 0, 5);
    tcase_add_loop_test(tc, budgets_at_chunk_edges, 0, 8);
    tcase_add_test(tc, parents_on_one_thread);
    tcase_add_test(tc, stale_open_span_of_a_freed_set);
    tcase_add_test(tc, descriptions_replace);
    tcase_add_test(tc, metrics_and_start_order);
    tcase_add_loop_test(tc, many_threads_at_once, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
