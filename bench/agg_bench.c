/* Licensed under the Apache License, Version 2.0. */

/*
 * What counting one request in the shared-memory aggregates costs:
 * prof_agg_record() on keys that already have their cells (every request
 * but a key's first), with a realistic key (vhost, a route of ~20 bytes,
 * method, status) and a phase record where 10 of the 14 phases took time;
 * on one thread, and on four at once into the same block (the cost of
 * sharing cache lines between cores: all four count into the same 64 keys).
 * Also prof_agg_span().
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

#define ROUNDS 41
#define KEYS   64
#define PER    20000

static char routes[KEYS][40];
static apr_interval_time_t phases[KEYS][PROF_PHASE_COUNT];

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    prof_agg_t *agg;
    int spans;
    int off;
} job_t;

static void *run(void *data)
{
    job_t *j = data;
    int k;

    for (k = 0; k < PER; ++k) {
        int i = (k * 7 + j->off) % KEYS;

        if (j->spans) {
            prof_agg_span(j->agg, routes[i] + 5, phases[i][PROF_PHASE_TOTAL]);
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

/* `agg_bench --ir N`: the keys' claims, then N calls of prof_agg_record()
 * on one thread, and no timing: for callgrind, whose figure per call is
 * the difference between two N divided by their difference (the claims
 * and start-up cancel):
 *   valgrind --tool=callgrind --callgrind-out-file=a.out build/agg_bench --ir 32000
 *   valgrind --tool=callgrind --callgrind-out-file=b.out build/agg_bench --ir 64000
 */
static int ir_only(prof_agg_t *agg, int n)
{
    int i;

    for (i = 0; i < n; i += PER) {
        job_t j = { agg, 0, i % KEYS };

        run(&j);
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
    }
    /* The keys' first requests: claims, not measured. */
    for (i = 0; i < KEYS; ++i) {
        job_t j = { agg, 0, i };

        run(&j);
        j.spans = 1;
        run(&j);
    }
    if (argc == 3 && strcmp(argv[1], "--ir") == 0) {
        return ir_only(agg, atoi(argv[2]));
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
