/* Licensed under the Apache License, Version 2.0. */

/*
 * What one span start+end costs, natively: the core span set as the API
 * uses it (two monotonic clock reads, the atomics, one malloc per span, the
 * thread's parent bookkeeping), on one thread and on four at once.
 *
 *   make -f Makefile.apxs bench-span
 *
 * Each round starts and ends `per` spans in a fresh set sized for them,
 * then frees the set; the figure is the median over rounds of the time per
 * start+end pair, set creation and freeing included.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "prof_clock.h"
#include "prof_span.h"

#define ROUNDS 41

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    prof_span_set_t *set;
    int per;
} job_t;

static void *run(void *data)
{
    job_t *j = data;
    int k;

    for (k = 0; k < j->per; ++k) {
        prof_span_end(prof_span_start(j->set, "db", NULL));
    }
    return NULL;
}

static double round_ns(int threads, int per)
{
    prof_span_set_t *set = prof_span_set_create((apr_uint32_t)(threads * per), 0);
    pthread_t tid[16];
    job_t job = { set, per };
    prof_mono_us_t t0, t1;
    int i;

    t0 = prof_clock_now_us();
    if (threads == 1) {
        run(&job);
    }
    else {
        for (i = 0; i < threads; ++i) {
            pthread_create(&tid[i], NULL, run, &job);
        }
        for (i = 0; i < threads; ++i) {
            pthread_join(tid[i], NULL);
        }
    }
    prof_span_set_free(set);
    t1 = prof_clock_now_us();
    return (double)(t1 - t0) * 1000.0 / (threads * per);
}

int main(void)
{
    static const int threads[] = { 1, 4 };
    double r[ROUNDS];
    int t, i, per = 64;

    printf("span start+end, median of %d rounds (1 thread: 2000 sets of %d "
           "spans; 4 threads: one set, 20000 spans each):\n", ROUNDS, per);
    for (t = 0; t < 2; ++t) {
        for (i = 0; i < ROUNDS; ++i) {
            double sum = 0;
            int k;
            if (threads[t] == 1) {
                for (k = 0; k < 2000; ++k) {
                    sum += round_ns(1, per);
                }
                r[i] = sum / 2000;
            }
            else {
                /* one big set that four threads fill at once: what
                 * contention on the shared counter costs (thread start-up
                 * amortised over 20000 spans each) */
                r[i] = round_ns(threads[t], 20000);
            }
        }
        qsort(r, ROUNDS, sizeof(r[0]), cmp);
        printf("  %d thread%s: %.1f ns per span (min %.1f, max %.1f)\n",
               threads[t], threads[t] > 1 ? "s at once" : "", r[ROUNDS / 2],
               r[0], r[ROUNDS - 1]);
    }
    return 0;
}
