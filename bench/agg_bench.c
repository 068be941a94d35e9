/* Licensed under the Apache License, Version 2.0. */

/*
 * What counting one request in the shared-memory aggregates costs:
 * prof_agg_record() on keys that already have their cells (every request
 * but a key's first), with a realistic key (vhost, a route of ~20 bytes,
 * method, status) and a phase record where 10 of the 14 phases took time;
 * on one thread, and on four at once into the same block (the cost of
 * sharing cache lines between cores: all four count into the same 64 keys).
 * Also prof_agg_span(), and (for callgrind only, see ir_only()) the
 * request path's entry point prof_agg_record_k() and the route's fold.
 *
 *   make -f Makefile.apxs bench-agg
 *
 * The figure is the median over rounds of the time per call.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"

#include "prof_agg.h"
#include "prof_clock.h"
#include "prof_route.h"

#define ROUNDS 41
#define KEYS   64
#define PER    20000

static char routes[KEYS][40];
static apr_size_t route_lens[KEYS];
static prof_agg_str_t vhost_key;

/* What --ir counts per call. */
enum { M_RECORD, M_SPAN, M_RECORD_K, M_FOLD, M_FOLD_LEN };
static apr_interval_time_t phases[KEYS][PROF_PHASE_COUNT];

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    prof_agg_t *agg;
    int spans;                  /* M_* */
    int off;
    apr_pool_t *pool;           /* M_FOLD, M_FOLD_LEN */
    const char *path;           /* M_FOLD, M_FOLD_LEN */
} job_t;

/* Keeps the compiler from dropping a result. */
static volatile apr_size_t sink;

static void *run(void *data)
{
    job_t *j = data;
    int k;

    for (k = 0; k < PER; ++k) {
        int i = (k * 7 + j->off) % KEYS;

        if (j->spans == M_SPAN) {
            prof_agg_span(j->agg, routes[i] + 5, phases[i][PROF_PHASE_TOTAL]);
        }
        else if (j->spans == M_RECORD_K) {
            /* As the request path does it: the vhost hashed at start-up,
             * the route's hash made per request from its known length. */
            prof_agg_str_t rk;

            prof_agg_str_setn(&rk, routes[i], route_lens[i],
                              PROF_AGG_ROUTE_MAX);
            prof_agg_record_k(j->agg, &vhost_key, &rk,
                              i % 5 ? "GET" : "POST", i % 9 ? 200 : 404,
                              phases[i], phases[i][PROF_PHASE_TOTAL] / 2,
                              1024 + (apr_uint64_t)i);
        }
        else if (j->spans == M_FOLD) {
            sink += (apr_size_t)prof_route_fold(j->pool, j->path, 256)[0];
        }
        else if (j->spans == M_FOLD_LEN) {
            apr_size_t len;

            sink += (apr_size_t)prof_route_fold_len(j->pool, j->path, 256,
                                                    &len)[0] + len;
        }
        else {
            prof_agg_record(j->agg, "www.example.com", routes[i],
                            i % 5 ? "GET" : "POST", i % 9 ? 200 : 404,
                            phases[i], phases[i][PROF_PHASE_TOTAL] / 2,
                            1024 + (apr_uint64_t)i);
        }
    }
    return NULL;
}

static double round_ns(prof_agg_t *agg, int threads, int spans)
{
    pthread_t tid[4];
    job_t job[4];
    prof_mono_us_t t0, t1;
    int i;

    for (i = 0; i < threads; ++i) {
        job[i].agg = agg;
        job[i].spans = spans;
        job[i].off = i * 13;
    }
    t0 = prof_clock_now_us();
    if (threads == 1) {
        run(&job[0]);
    }
    else {
        for (i = 0; i < threads; ++i) {
            pthread_create(&tid[i], NULL, run, &job[i]);
        }
        for (i = 0; i < threads; ++i) {
            pthread_join(tid[i], NULL);
        }
    }
    t1 = prof_clock_now_us();
    /* 4 threads: wall time per call of each thread, i.e. what one call
     * costs its thread while three others count at once. */
    return (double)(t1 - t0) * 1000.0 / PER;
}

/* `agg_bench --ir N [what]`: the keys' claims, then N calls on one
 * thread, and no timing: for callgrind, whose figure per call is the
 * difference between two N divided by their difference (the claims and
 * start-up cancel):
 *   valgrind --tool=callgrind --callgrind-out-file=a.out build/agg_bench --ir 32000
 *   valgrind --tool=callgrind --callgrind-out-file=b.out build/agg_bench --ir 64000
 * what: "record" (prof_agg_record(), the default), "record_k" (
 * prof_agg_str_setn() of the route and prof_agg_record_k()), "fold PATH"
 * (prof_route_fold()), "fold_len PATH" (prof_route_fold_len()). The folds
 * clear their pool every PER calls.
 */
static int ir_only(prof_agg_t *agg, apr_pool_t *p, int n, const char *what,
                   const char *path)
{
    int i, mode = M_RECORD;

    if (what && strcmp(what, "record_k") == 0) {
        mode = M_RECORD_K;
    }
    else if (what && strcmp(what, "fold") == 0) {
        mode = M_FOLD;
    }
    else if (what && strcmp(what, "fold_len") == 0) {
        mode = M_FOLD_LEN;
    }
    else if (what && strcmp(what, "record") != 0) {
        fprintf(stderr, "agg_bench: unknown --ir mode %s\n", what);
        return 1;
    }
    for (i = 0; i < n; i += PER) {
        job_t j = { agg, mode, i % KEYS, p, path ? path : "/1k.html" };

        run(&j);
        apr_pool_clear(p);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const int threads[] = { 1, 4 };
    prof_agg_layout_t l = { PROF_AGG_KEYS_DEFAULT, PROF_AGG_SPANS_DEFAULT,
                            2 * PROF_AGG_KEYS_DEFAULT };
    apr_pool_t *p;
    prof_agg_t *agg;
    apr_size_t size = prof_agg_size(&l);
    void *mem = malloc(size);
    double r[ROUNDS];
    int t, i, ph, spans;

    apr_initialize();
    apr_pool_create(&p, NULL);
    if (mem == NULL
        || prof_agg_init(&agg, p, mem, size, &l, 1) != APR_SUCCESS) {
        fprintf(stderr, "prof_agg_init failed\n");
        return 1;
    }
    for (i = 0; i < KEYS; ++i) {
        snprintf(routes[i], sizeof(routes[i]), "/api/v1/items%d/:id", i);
        for (ph = 0; ph < PROF_PHASE_TOTAL; ++ph) {
            phases[i][ph] = ph % 3 == 2 ? 0 : 3 + (i * 31 + ph * 7) % 400;
        }
        phases[i][PROF_PHASE_TOTAL] = 500 + i * 97;
        route_lens[i] = strlen(routes[i]);
    }
    prof_agg_str_set(&vhost_key, "www.example.com", PROF_AGG_VHOST_MAX);
    /* The keys' first requests: claims, not measured. */
    for (i = 0; i < KEYS; ++i) {
        job_t j = { agg, M_RECORD, i, NULL, NULL };

        run(&j);
        j.spans = M_SPAN;
        run(&j);
    }
    if (argc >= 3 && strcmp(argv[1], "--ir") == 0) {
        apr_pool_t *fp;

        apr_pool_create(&fp, p);
        return ir_only(agg, fp, atoi(argv[2]), argc > 3 ? argv[3] : NULL,
                       argc > 4 ? argv[4] : NULL);
    }
    printf("block of %lu bytes (ProfilerMetricsKeys %u); median of %d "
           "rounds of %d calls per thread on %d keys:\n",
           (unsigned long)size, l.keys, ROUNDS, PER, KEYS);
    for (spans = 0; spans < 2; ++spans) {
        for (t = 0; t < 2; ++t) {
            for (i = 0; i < ROUNDS; ++i) {
                r[i] = round_ns(agg, threads[t], spans);
            }
            qsort(r, ROUNDS, sizeof(r[0]), cmp);
            printf("  %s, %d thread%s: %.1f ns per call (min %.1f, max %.1f)"
                   "%s", spans ? "prof_agg_span  " : "prof_agg_record",
                   threads[t], threads[t] > 1 ? "s at once" : "",
                   r[ROUNDS / 2], r[0], r[ROUNDS - 1],
                   threads[t] > 1 ? "" : "\n");
            if (threads[t] > 1) {
                /* and what the machine does: all calls in the wall time */
                printf("; %.1f ns of wall time per call of all threads\n",
                       r[ROUNDS / 2] / threads[t]);
            }
        }
    }
    apr_pool_destroy(p);
    apr_terminate();
    free(mem);
    return 0;
}
