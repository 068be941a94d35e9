/* Licensed under the Apache License, Version 2.0. */

/*
 * What a whole-server CPU profile takes from the work it samples, without
 * the noise of a shared machine: a fixed amount of work (a call chain a few
 * frames deep, as a request's is) timed in CPU time, alternately with no
 * session and with a process session at HZ (the signal, libunwind's walk of
 * the stack, the copy into the buffer: all of it counted in the thread's
 * CPU time). bench/cpuprof.sh builds and runs it.
 *
 *   cpuprof_cost [hz ...]       default: 99 1000
 */

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "apr_general.h"
#include "prof_cpuprof.h"

#define ROUNDS 7

static volatile unsigned long sink;

static __attribute__((noinline)) unsigned long leaf(unsigned long x)
{
    int i;

    for (i = 0; i < 1000; ++i) {
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    }
    return x;
}

static __attribute__((noinline)) unsigned long mid(unsigned long x, int d)
{
    return d ? mid(x + 1, d - 1) + 1 : leaf(x);
}

static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU seconds for a fixed amount of work (about 1 s on one core). */
static double work(long n)
{
    double t0 = cpu_s();
    long i;

    for (i = 0; i < n; ++i) {
        sink += mid((unsigned long)i, 20);
    }
    return cpu_s() - t0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const char *dflt[] = { "99", "1000" };
    apr_pool_t *p;
    long n = 1;
    int a, nhz = argc > 1 ? argc - 1 : 2;

    apr_initialize();
    apr_pool_create(&p, NULL);
    /* calibrate: about 0.5 s of work */
    while (work(n) < 0.5) {
        n *= 2;
    }
    for (a = 0; a < nhz; ++a) {
        int hz = atoi(argc > 1 ? argv[a + 1] : dflt[a]);
        double off[ROUNDS], on[ROUNDS];
        unsigned long samples = 0;
        int r;

        for (r = 0; r < ROUNDS; ++r) {
            prof_cpu_raw_t *raw = NULL;
            prof_cpu_raw_info_t info;

            off[r] = work(n);
            if (prof_cpu_process_start(hz, 0) != APR_SUCCESS) {
                fprintf(stderr, "cannot start a session at %d Hz\n", hz);
                return 1;
            }
            on[r] = work(n);
            prof_cpu_process_stop(p, &raw);
            prof_cpu_raw_info(raw, &info);
            samples += info.samples;
        }
        qsort(off, ROUNDS, sizeof(double), cmp);
        qsort(on, ROUNDS, sizeof(double), cmp);
        printf("%4d Hz: work %.4f s CPU without, %.4f s with a session "
               "(medians of %d); ratio %.4f; %.0f samples/s; "
               "%.1f us per sample\n", hz, off[ROUNDS / 2], on[ROUNDS / 2],
               ROUNDS, off[ROUNDS / 2] / on[ROUNDS / 2],
               samples / (ROUNDS * on[ROUNDS / 2]),
               (on[ROUNDS / 2] - off[ROUNDS / 2]) * 1e6
               / (samples / (double)ROUNDS));
    }
    return 0;
}
