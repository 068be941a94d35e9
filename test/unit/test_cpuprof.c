/* Licensed under the Apache License, Version 2.0. */

/* prof_cpuprof: the sampler, against real threads burning and sleeping in
 * known functions (static, noinline, compiled -O2 without frame pointers in
 * the plain run), real signals and timers, libunwind, the symbol tables of
 * this very test binary and Debian's libraries, and `go tool pprof`
 * (golang-go) reading the pprof output back. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "apr_file_io.h"
#include "apr_portable.h"
#include "apr_signal.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "prof_cpuprof.h"
#include "unit.h"

#define NOINLINE __attribute__((noinline, noclone))

static apr_int64_t now_ns(clockid_t c)
{
    struct timespec ts;

    clock_gettime(c, &ts);
    return (apr_int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static volatile apr_uint64_t sink;

/* Spends ms of this thread's CPU time, here and nowhere else. */
static NOINLINE void burn_known_function(int ms)
{
    apr_int64_t end = now_ns(CLOCK_THREAD_CPUTIME_ID)
                      + (apr_int64_t)ms * 1000000;
    apr_uint64_t x = sink;

    while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end) {
        int i;

        for (i = 0; i < 20000; ++i) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        }
    }
    sink = x;
}

/* A caller between the thread's start and the burner, so that a full
 * stack shows three of our frames in order. */
static NOINLINE void burn_caller(int ms)
{
    burn_known_function(ms);
    __asm__ volatile("" ::: "memory");  /* not a tail call */
}

/* Interruptions of sleep_known_function() by a signal, on any thread. */
static int sleep_eintr;

/* Sleeps ms of wall-clock time, restarting after the sampler's signals. */
static NOINLINE void sleep_known_function(int ms)
{
    struct timespec end;

    clock_gettime(CLOCK_MONOTONIC, &end);
    end.tv_sec += ms / 1000;
    end.tv_nsec += (long)(ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) {
        end.tv_sec += 1;
        end.tv_nsec -= 1000000000;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL)
           == EINTR) {
        __atomic_fetch_add(&sleep_eintr, 1, __ATOMIC_RELAXED);
    }
    __asm__ volatile("" ::: "memory");
}

/* The same, under another name: for a thread that must not be sampled. */
static NOINLINE void burn_unattached_function(int ms)
{
    apr_int64_t end = now_ns(CLOCK_THREAD_CPUTIME_ID)
                      + (apr_int64_t)ms * 1000000;
    apr_uint64_t x = sink;

    while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end) {
        int i;

        for (i = 0; i < 20000; ++i) {
            x = x * 2862933555777941757ULL + 3037000493ULL;
        }
    }
    sink = x;
}

typedef struct {
    int ms;
    const prof_cpu_label_t *label;
    int block;          /* block every signal first, as httpd's MPMs do */
    int attach;         /* call prof_cpu_thread_attach() */
} burn_arg_t;

static void *APR_THREAD_FUNC burn_thread_main(apr_thread_t *t, void *data)
{
    burn_arg_t *a = data;

    if (a->block) {
        ck_assert_int_eq(apr_setup_signal_thread(), APR_SUCCESS);
    }
    if (a->attach) {
        prof_cpu_thread_attach();
    }
    prof_cpu_label_set(a->label);
    if (a->attach) {
        burn_caller(a->ms);
    }
    else {
        burn_unattached_function(a->ms);
    }
    prof_cpu_label_set(NULL);
    /* Returned, not apr_thread_exit(): pthread_exit() would abandon
     * this frame's ASan redzones on the thread's stack. */
    (void)t;
    return NULL;
}

/* The samples of s whose stack has a frame named fn (and, with route, that
 * route), optionally only those where fn is the leaf. */
static apr_int64_t samples_in(const prof_stacks_t *s, const char *fn,
                              int leaf_only, const char *route, int state)
{
    apr_int64_t n = 0;
    int i;

    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);
        unsigned j;

        if (route && (st->route == NULL || strcmp(st->route, route) != 0)) {
            continue;
        }
        if (state != PROF_STACK_UNKNOWN && st->state != state) {
            continue;
        }
        for (j = 0; j < (leaf_only ? 1u : st->nframes); ++j) {
            const prof_frame_t *f = &APR_ARRAY_IDX(s->frames, st->frames[j],
                                                   prof_frame_t);

            if (f->name && strcmp(f->name, fn) == 0) {
                n += st->samples;
                break;
            }
        }
    }
    return n;
}

static apr_int64_t samples_all(const prof_stacks_t *s, int state)
{
    apr_int64_t n = 0;
    int i;

    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);

        if (state == PROF_STACK_UNKNOWN || st->state == state) {
            n += st->samples;
        }
    }
    return n;
}

/* A whole-process profile at hz while nthreads burn ms each. */
static prof_stacks_t *profile_burners(int hz, int nthreads, int ms,
                                      const prof_cpu_label_t *label,
                                      prof_cpu_raw_info_t *info)
{
    apr_thread_t *th[4];
    burn_arg_t arg = { ms, label, 0, 1 };
    prof_cpu_raw_t *raw;
    prof_stacks_t *s;
    apr_status_t rv;
    int i;

    ck_assert_int_le(nthreads, 4);
    ck_assert_int_eq(prof_cpu_process_start(hz, 0), APR_SUCCESS);
    ck_assert(prof_cpu_process_active());
    for (i = 0; i < nthreads; ++i) {
        ck_assert_int_eq(apr_thread_create(&th[i], NULL, burn_thread_main,
                                           &arg, unit_pool), APR_SUCCESS);
    }
    for (i = 0; i < nthreads; ++i) {
        apr_thread_join(&rv, th[i]);
    }
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_SUCCESS);
    ck_assert(!prof_cpu_process_active());
    prof_cpu_raw_info(raw, info);
    ck_assert_int_eq(prof_cpu_symbolize(&raw, 1, unit_pool, &s),
                     APR_SUCCESS);
    return s;
}

START_TEST(cpu_burner_dominates_with_full_stack_and_label)
{
    static const prof_cpu_label_t label = { "/burn/{id}", "handler" };
    prof_cpu_raw_info_t info;
    prof_stacks_t *s = profile_burners(250, 2, 600, &label, &info);
    apr_int64_t all = samples_all(s, PROF_STACK_UNKNOWN);
    apr_int64_t leaf = samples_in(s, "burn_known_function", 1, NULL,
                                  PROF_STACK_UNKNOWN);
    apr_int64_t labelled = samples_in(s, "burn_known_function", 0,
                                      "/burn/{id}", PROF_STACK_UNKNOWN);
    const char *folded = prof_stacks_folded(s, unit_pool, -1);
    apr_int64_t nanos = 0;
    int i, phased = 0;

    /* 1.2 s of CPU at 250 Hz: about 300 samples; the kernel's tick
     * accounting makes it approximate, never near zero. */
    ck_assert_msg(all >= 100, "only %" APR_INT64_T_FMT " samples", all);
    ck_assert_int_eq((apr_int64_t)info.samples, all);
    ck_assert_int_eq(info.hz, 250);
    ck_assert_int_eq(info.wall, 0);
    ck_assert_int_eq(info.pid, (apr_int64_t)getpid());
    ck_assert_uint_eq(info.dropped, 0);
    ck_assert(info.duration_ns >= APR_INT64_C(550000000));
    ck_assert_msg(leaf * 10 >= all * 8,
                  "burn_known_function is the leaf of %" APR_INT64_T_FMT
                  " of %" APR_INT64_T_FMT " samples:\n%s", leaf, all, folded);
    ck_assert_msg(labelled * 10 >= leaf * 9, "labels: %" APR_INT64_T_FMT
                  " of %" APR_INT64_T_FMT, labelled, leaf);
    /* Full stacks, root first: the thread's start (APR's, then ours),
     * the caller, the burner, through -O2 code without frame pointers. */
    ck_assert_msg(strstr(folded, ";burn_thread_main;burn_caller;"
                                 "burn_known_function ") != NULL,
                  "no full stack in:\n%s", folded);
    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);

        ck_assert_int_eq(st->pid, (apr_int64_t)getpid());
        ck_assert_int_eq(st->state, PROF_STACK_ONCPU);
        /* 1/hz each, and more for expiries missed while pending. */
        ck_assert(st->nanos >= st->samples * 4000000);
        nanos += st->nanos;
        if (st->phase && strcmp(st->phase, "handler") == 0) {
            ++phased;
        }
    }
    ck_assert_int_gt(phased, 0);
    /* The weights add up to the CPU time used: 2 x 0.6 s burning, and a
     * little more (thread starts, the handler's own time). */
    ck_assert_msg(nanos >= APR_INT64_C(1000000000)
                  && nanos <= APR_INT64_C(1600000000),
                  "CPU time %" APR_INT64_T_FMT " ns", nanos);
    ck_assert_int_eq(s->period_ns, 4000000);
    ck_assert_int_eq(s->wall, 0);
    ck_assert(s->mappings->nelts >= 2);     /* us and libc at least */
}
END_TEST

/* httpd's worker and event MPMs block every asynchronous signal in all
 * their threads: a thread that attaches is sampled all the same, one that
 * does not is left alone (and nothing is misattributed to others). */
START_TEST(cpu_threads_blocking_sigprof_sampled_once_attached)
{
    burn_arg_t attached = { 600, NULL, 1, 1 };
    burn_arg_t blocked = { 600, NULL, 1, 0 };
    apr_thread_t *th[2];
    apr_status_t rv;
    prof_cpu_raw_t *raw;
    prof_stacks_t *s;
    apr_int64_t all, mine, other;

    ck_assert_int_eq(prof_cpu_process_start(250, 0), APR_SUCCESS);
    ck_assert_int_eq(apr_thread_create(&th[0], NULL, burn_thread_main,
                                       &attached, unit_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_thread_create(&th[1], NULL, burn_thread_main,
                                       &blocked, unit_pool), APR_SUCCESS);
    apr_thread_join(&rv, th[0]);
    apr_thread_join(&rv, th[1]);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_symbolize(&raw, 1, unit_pool, &s),
                     APR_SUCCESS);
    all = samples_all(s, PROF_STACK_UNKNOWN);
    /* The attached thread's burn, its leaf or a call it makes (its clock
     * reads). Its start and its end are its own too: under ASan a thread's
     * end hands its memory back to the system (madvise), which took 9 %
     * of the samples once. The blocked thread is never sampled, so
     * nothing of it may appear anywhere. */
    mine = samples_in(s, "burn_known_function", 0, NULL, PROF_STACK_UNKNOWN);
    other = samples_in(s, "burn_unattached_function", 0, NULL,
                       PROF_STACK_UNKNOWN);
    ck_assert_msg(mine >= 60 && mine * 10 >= all * 8 && other == 0,
                  "attached %" APR_INT64_T_FMT ", blocked %" APR_INT64_T_FMT
                  " of %" APR_INT64_T_FMT ":\n%s", mine, other, all,
                  prof_stacks_folded(s, unit_pool, -1));
}
END_TEST

START_TEST(cpu_frames_have_mappings_files_and_lines)
{
    prof_cpu_raw_info_t info;
    prof_stacks_t *s = profile_burners(200, 1, 300, NULL, &info);
    int i, found = 0;

    for (i = 0; i < s->frames->nelts; ++i) {
        const prof_frame_t *f = &APR_ARRAY_IDX(s->frames, i, prof_frame_t);
        const prof_mapping_t *m;

        ck_assert(f->name != NULL && *f->name != '\0');
        ck_assert(f->addr != 0);
        ck_assert_int_le(f->mapping, s->mappings->nelts);
        if (f->mapping == 0) {
            /* Only what has no file: the vDSO's clock_gettime(), which
             * the burner calls (named by dladdr()). */
            ck_assert_msg(strstr(f->name, "clock_gettime") != NULL,
                          "%s has no mapping", f->name);
            continue;
        }
        m = &APR_ARRAY_IDX(s->mappings, f->mapping - 1, prof_mapping_t);
        ck_assert_msg(f->addr >= m->start && f->addr < m->limit,
                      "%s at 0x%" APR_UINT64_T_HEX_FMT " outside %s 0x%"
                      APR_UINT64_T_HEX_FMT "-0x%" APR_UINT64_T_HEX_FMT,
                      f->name, f->addr, m->file, m->start, m->limit);
        if (strcmp(f->name, "burn_known_function") == 0) {
            /* This test binary has DWARF (-g). */
            ck_assert_msg(f->file && strstr(f->file, "test_cpuprof.c"),
                          "file %s", f->file ? f->file : "(none)");
            ck_assert(f->line > 30 && f->line < 80);
            ck_assert(strstr(m->file, "unit") != NULL);
            ck_assert(m->build_id != NULL && strlen(m->build_id) >= 32);
            ++found;
        }
    }
    ck_assert_int_gt(found, 0);
    ck_assert_uint_eq(info.dropped, 0);
    (void)info;
}
END_TEST

START_TEST(cpu_bad_arguments_and_one_session_at_a_time)
{
    prof_cpu_raw_t *raw;

    ck_assert_int_eq(prof_cpu_process_start(0, 0), APR_EINVAL);
    ck_assert_int_eq(prof_cpu_process_start(1001, 0), APR_EINVAL);
    ck_assert_int_eq(prof_cpu_process_start(99, 100), APR_EINVAL);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_ENOENT);
    ck_assert_int_eq(prof_cpu_process_start(99, 0), APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_process_start(99, 0), APR_EBUSY);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, NULL), APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_ENOENT);
    /* Stopped means stopped: and startable again. */
    ck_assert_int_eq(prof_cpu_process_start(1, 0), APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_SUCCESS);
}
END_TEST

START_TEST(unload_stops_everything_and_ignores_sigprof)
{
    struct sigaction sa;
    prof_cpu_thread_t *t;
    prof_cpu_raw_t *raw;
    apr_pool_t *p;

    apr_pool_create(&p, unit_pool);
    ck_assert_int_eq(prof_cpu_process_start(500, 0), APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_thread_start(500, 0, p, &t), APR_SUCCESS);
    burn_caller(30);
    ck_assert_int_eq(prof_cpu_unload(), APR_SUCCESS);
    ck_assert(!prof_cpu_process_active());
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &sa), 0);
    ck_assert(!(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_IGN);
    /* A stray SIGPROF is harmless now. */
    ck_assert_int_eq(kill(getpid(), SIGPROF), 0);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_ENOENT);
    ck_assert_int_eq(prof_cpu_thread_stop(t, unit_pool, &raw), APR_ENOENT);
    apr_pool_destroy(p);
    /* And everything starts again. */
    ck_assert_int_eq(prof_cpu_process_start(500, 0), APR_SUCCESS);
    burn_caller(100);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_SUCCESS);
    ck_assert(raw != NULL);
    ck_assert_int_eq(sigaction(SIGPROF, NULL, &sa), 0);
    ck_assert(sa.sa_flags & SA_SIGINFO);
}
END_TEST

START_TEST(cpu_buffer_cap_drops_and_never_overflows)
{
    prof_cpu_raw_t *raw, *back;
    prof_cpu_raw_info_t info;
    prof_stacks_t *s;
    const char *buf, *err = NULL;
    apr_size_t len;

    ck_assert_int_eq(prof_cpu_process_start(1000, PROF_CPU_BYTES_MIN),
                     APR_SUCCESS);
    burn_caller(500);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_SUCCESS);
    prof_cpu_raw_info(raw, &info);
    ck_assert_msg(info.dropped > 0, "kept %" APR_UINT64_T_FMT ", dropped 0",
                  info.samples);
    ck_assert(info.samples > 0);
    /* What was kept fits the 4 KiB, and reads back whole. */
    prof_cpu_raw_serialize(raw, unit_pool, &buf, &len);
    ck_assert(len <= PROF_CPU_BYTES_MIN + 9 * 8);
    ck_assert_int_eq(prof_cpu_raw_parse(buf, len, unit_pool, &back, &err),
                     APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_symbolize(&back, 1, unit_pool, &s),
                     APR_SUCCESS);
    ck_assert_int_eq(samples_all(s, PROF_STACK_UNKNOWN),
                     (apr_int64_t)info.samples);
}
END_TEST

typedef struct {
    int hz;
    prof_cpu_raw_t *raw;
    apr_status_t start_rv, stop_rv;
} wall_arg_t;

/* A request's thread: profiled from start to end, first waiting on a
 * "backend", then computing. */
static void *APR_THREAD_FUNC wall_thread_main(apr_thread_t *t, void *data)
{
    wall_arg_t *a = data;
    prof_cpu_thread_t *ts;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    a->start_rv = prof_cpu_thread_start(a->hz, 0, p, &ts);
    if (a->start_rv == APR_SUCCESS) {
        sleep_known_function(400);
        burn_caller(400);
        a->stop_rv = prof_cpu_thread_stop(ts, unit_pool, &a->raw);
    }
    apr_pool_destroy(p);
    /* Returned, not apr_thread_exit(): pthread_exit() would abandon
     * this frame's ASan redzones on the thread's stack. */
    (void)t;
    return NULL;
}

START_TEST(wall_marks_waiting_and_oncpu)
{
    wall_arg_t a = { 500, NULL, -1, -1 };
    apr_thread_t *th;
    apr_status_t rv;
    prof_cpu_raw_info_t info;
    prof_stacks_t *s;
    apr_int64_t waiting, oncpu, sleep_w, burn_c, sleep_all, burn_all;
    apr_int64_t nanos = 0, sleep_ns = 0;
    int i;

    sleep_eintr = 0;
    ck_assert_int_eq(apr_thread_create(&th, NULL, wall_thread_main, &a,
                                       unit_pool), APR_SUCCESS);
    apr_thread_join(&rv, th);
    /* The 0.4 s sleep is interrupted once (then the session parks), not
     * 200 times. */
    ck_assert_msg(sleep_eintr >= 1 && sleep_eintr <= 3, "%d interruptions",
                  sleep_eintr);
    ck_assert_int_eq(a.start_rv, APR_SUCCESS);
    ck_assert_int_eq(a.stop_rv, APR_SUCCESS);
    prof_cpu_raw_info(a.raw, &info);
    ck_assert_int_eq(info.wall, 1);
    ck_assert_int_eq(info.hz, 500);
    ck_assert(info.duration_ns >= APR_INT64_C(790000000));
    ck_assert_int_eq(prof_cpu_symbolize(&a.raw, 1, unit_pool, &s),
                     APR_SUCCESS);
    ck_assert_int_eq(s->wall, 1);
    waiting = samples_all(s, PROF_STACK_WAITING);
    oncpu = samples_all(s, PROF_STACK_ONCPU);
    sleep_w = samples_in(s, "sleep_known_function", 0, NULL,
                         PROF_STACK_WAITING);
    burn_c = samples_in(s, "burn_known_function", 0, NULL, PROF_STACK_ONCPU);
    /* 0.4 s each at 500 Hz: about 200 of each; the timer is wall-clock,
     * so a sleeping thread is sampled as often as a running one. */
    ck_assert_msg(waiting >= 120 && oncpu >= 30,
                  "waiting %" APR_INT64_T_FMT ", on CPU %" APR_INT64_T_FMT,
                  waiting, oncpu);
    /* Sleeping is waiting. Burning is on CPU, but only while the thread
     * has a core: on a loaded machine a runnable thread waits for one,
     * and a fair part of the burner's samples are rightly marked waiting;
     * yet never as many as the sleeper's. */
    sleep_all = samples_in(s, "sleep_known_function", 0, NULL,
                           PROF_STACK_UNKNOWN);
    burn_all = samples_in(s, "burn_known_function", 0, NULL,
                          PROF_STACK_UNKNOWN);
    ck_assert_msg(sleep_all >= 120 && burn_all >= 120,
                  "sleep %" APR_INT64_T_FMT ", burn %" APR_INT64_T_FMT,
                  sleep_all, burn_all);
    /* The sleep's wall time is on its stack, waiting: 0.4 s. */
    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);
        unsigned j;

        for (j = 0; j < st->nframes; ++j) {
            if (strcmp(APR_ARRAY_IDX(s->frames, st->frames[j],
                                     prof_frame_t).name,
                       "sleep_known_function") == 0
                && st->state == PROF_STACK_WAITING) {
                sleep_ns += st->nanos;
                break;
            }
        }
    }
    ck_assert_msg(sleep_ns >= APR_INT64_C(370000000)
                  && sleep_ns <= APR_INT64_C(420000000),
                  "sleep %" APR_INT64_T_FMT " ns", sleep_ns);
    ck_assert_msg(sleep_w * 10 >= sleep_all * 9 && burn_c * 4 >= burn_all,
                  "sleep waiting %" APR_INT64_T_FMT " of %" APR_INT64_T_FMT
                  ", burn on CPU %" APR_INT64_T_FMT " of %" APR_INT64_T_FMT
                  ":\n%s", sleep_w, sleep_all, burn_c, burn_all,
                  prof_stacks_folded(s, unit_pool, -1));
    ck_assert_msg(burn_c * 10 >= oncpu * 9, "burn %" APR_INT64_T_FMT
                  " of %" APR_INT64_T_FMT " on CPU", burn_c, oncpu);
    /* The weights are the wall time between samples: they add up to the
     * time the session ran (less the part after the last sample). */
    for (i = 0; i < s->stacks->nelts; ++i) {
        nanos += APR_ARRAY_IDX(s->stacks, i, prof_stack_t).nanos;
    }
    ck_assert_msg(nanos <= info.duration_ns
                  && nanos >= info.duration_ns - 50000000,
                  "weights %" APR_INT64_T_FMT " of %" APR_INT64_T_FMT,
                  nanos, info.duration_ns);
    /* Only the profiled thread: the test's main thread is not in it. */
    ck_assert_int_eq(samples_in(s, "apr_thread_join", 0, NULL,
                                PROF_STACK_UNKNOWN), 0);
}
END_TEST

/* A full buffer stops a thread session's sampling, and with it the
 * interruptions of the thread's sleeps (nanosleep() returns EINTR). */
typedef struct {
    int eintr, cycles;
    prof_cpu_raw_t *raw;
    apr_status_t rv;
} eintr_arg_t;

static void *APR_THREAD_FUNC eintr_thread_main(apr_thread_t *t, void *data)
{
    eintr_arg_t *a = data;
    prof_cpu_thread_t *ts;
    apr_pool_t *p;
    apr_int64_t end = now_ns(CLOCK_MONOTONIC) + 600000000;

    (void)t;
    apr_pool_create(&p, NULL);
    a->rv = prof_cpu_thread_start(1000, PROF_CPU_BYTES_MIN, p, &ts);
    if (a->rv == APR_SUCCESS) {
        while (now_ns(CLOCK_MONOTONIC) < end) {
            struct timespec d = { 0, 3000000 };

            /* Enough CPU to unpark, then a wait to be interrupted in. */
            burn_caller(2);
            if (nanosleep(&d, NULL) != 0 && errno == EINTR) {
                ++a->eintr;
            }
            ++a->cycles;
        }
        a->rv = prof_cpu_thread_stop(ts, unit_pool, &a->raw);
    }
    apr_pool_destroy(p);
    return NULL;
}

START_TEST(wall_full_buffer_stops_interrupting)
{
    eintr_arg_t a = { 0, 0, NULL, -1 };
    prof_cpu_raw_info_t info;
    apr_thread_t *th;
    apr_status_t rv;

    ck_assert_int_eq(apr_thread_create(&th, NULL, eintr_thread_main, &a,
                                       unit_pool), APR_SUCCESS);
    apr_thread_join(&rv, th);
    ck_assert_int_eq(a.rv, APR_SUCCESS);
    prof_cpu_raw_info(a.raw, &info);
    /* 4 KiB hold a few dozen shallow samples; each cycle of burning and
     * sleeping gives two or three, and its sleep can be interrupted once:
     * the interruptions end with the buffer, long before the cycles. */
    ck_assert(info.samples >= 10);
    ck_assert_msg(info.dropped <= 3 && (apr_uint64_t)a.eintr
                  <= info.samples + info.dropped + 2
                  && a.eintr * 2 < a.cycles,
                  "%d interruptions in %d cycles, %" APR_UINT64_T_FMT
                  " samples, %" APR_UINT64_T_FMT " dropped", a.eintr,
                  a.cycles, info.samples, info.dropped);
}
END_TEST

START_TEST(wall_one_session_per_thread_and_pool_cleanup_stops)
{
    apr_pool_t *p;
    prof_cpu_thread_t *t1, *t2;
    prof_cpu_raw_t *raw;

    ck_assert_int_eq(prof_cpu_thread_start(0, 0, unit_pool, &t1),
                     APR_EINVAL);
    ck_assert_int_eq(prof_cpu_thread_start(1001, 0, unit_pool, &t1),
                     APR_EINVAL);
    apr_pool_create(&p, unit_pool);
    ck_assert_int_eq(prof_cpu_thread_start(1000, 0, p, &t1), APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_thread_start(1000, 0, p, &t2), APR_EBUSY);
    burn_caller(50);
    /* Destroying the pool stops the timer: a thread session can start
     * again on this thread, and no signal finds freed memory (ASan). */
    apr_pool_destroy(p);
    burn_caller(20);
    apr_pool_create(&p, unit_pool);
    ck_assert_int_eq(prof_cpu_thread_start(1000, 0, p, &t2), APR_SUCCESS);
    burn_caller(20);
    ck_assert_int_eq(prof_cpu_thread_stop(t2, unit_pool, &raw), APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_thread_stop(t2, unit_pool, &raw), APR_ENOENT);
    apr_pool_destroy(p);
}
END_TEST

/* Many threads sampled at once by both kinds of session, labels changing
 * under the handler, sessions started and stopped all the while: nothing
 * crashes and ASan/UBSan find nothing. */
typedef struct {
    int rounds;
    int errors;
} churn_arg_t;

static void *APR_THREAD_FUNC churn_thread_main(apr_thread_t *t, void *data)
{
    churn_arg_t *a = data;
    int i;

    for (i = 0; i < a->rounds; ++i) {
        apr_pool_t *p;
        prof_cpu_thread_t *ts;
        prof_cpu_raw_t *raw;
        prof_stacks_t *s;
        prof_cpu_label_t *l;

        apr_pool_create(&p, NULL);
        l = apr_palloc(p, sizeof(*l));
        l->route = apr_psprintf(p, "/churn/%d/%s", i,
                                "a-route-longer-than-the-sixty-three-bytes-"
                                "that-a-sample-keeps-of-it");
        l->phase = "handler";
        prof_cpu_label_set(l);
        if (prof_cpu_thread_start(1000, PROF_CPU_BYTES_MIN * 2, p, &ts)
            != APR_SUCCESS) {
            ++a->errors;
        }
        else {
            burn_caller(3);
            sleep_known_function(2);
            if (i % 2 == 0) {
                if (prof_cpu_thread_stop(ts, p, &raw) != APR_SUCCESS
                    || prof_cpu_symbolize(&raw, 1, p, &s) != APR_SUCCESS) {
                    ++a->errors;
                }
            }
            /* else the pool's cleanup stops it */
        }
        prof_cpu_label_set(NULL);
        apr_pool_destroy(p);
    }
    /* Returned, not apr_thread_exit(): pthread_exit() would abandon
     * this frame's ASan redzones on the thread's stack. */
    (void)t;
    return NULL;
}

START_TEST(sessions_churn_under_sampling)
{
    static const prof_cpu_label_t label = { "/x", "log" };
    churn_arg_t a[3] = { { 40, 0 }, { 40, 0 }, { 40, 0 } };
    burn_arg_t b = { 400, &label, 0, 1 };
    apr_thread_t *th[4];
    apr_status_t rv;
    prof_cpu_raw_t *raw;
    prof_stacks_t *s;
    int i, round;

    for (round = 0; round < 3; ++round) {
        ck_assert_int_eq(prof_cpu_process_start(1000, 64 * 1024),
                         APR_SUCCESS);
        for (i = 0; i < 3; ++i) {
            ck_assert_int_eq(apr_thread_create(&th[i], NULL,
                                               churn_thread_main, &a[i],
                                               unit_pool), APR_SUCCESS);
        }
        ck_assert_int_eq(apr_thread_create(&th[3], NULL, burn_thread_main,
                                           &b, unit_pool), APR_SUCCESS);
        for (i = 0; i < 4; ++i) {
            apr_thread_join(&rv, th[i]);
        }
        ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw),
                         APR_SUCCESS);
        ck_assert_int_eq(prof_cpu_symbolize(&raw, 1, unit_pool, &s),
                         APR_SUCCESS);
        ck_assert(samples_all(s, PROF_STACK_UNKNOWN) > 0);
        for (i = 0; i < s->stacks->nelts; ++i) {
            const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i,
                                                    prof_stack_t);

            ck_assert(st->route == NULL
                      || strlen(st->route) <= PROF_CPU_ROUTE_MAX);
        }
        for (i = 0; i < 3; ++i) {
            ck_assert_int_eq(a[i].errors, 0);
        }
    }
}
END_TEST

/* A child process (a sibling httpd child, forked with the same layout)
 * samples itself and writes its raw samples to a file; the parent reads
 * and symbolizes them: the child's burner, labelled with the child's pid. */
START_TEST(raw_from_a_forked_child_symbolizes_in_the_parent)
{
    char path[] = "/tmp/prof_cpuraw_XXXXXX";
    int fd = mkstemp(path), status;
    pid_t pid;
    apr_file_t *f;
    prof_cpu_raw_t *raw[2];
    prof_cpu_raw_info_t info;
    prof_stacks_t *s;
    const char *err = NULL;
    int i, child_stacks = 0;

    ck_assert_int_ge(fd, 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        apr_pool_t *p;
        apr_file_t *cf;
        prof_cpu_raw_t *r;
        int ok;

        apr_pool_create(&p, NULL);
        ok = prof_cpu_process_start(250, 0) == APR_SUCCESS;
        burn_caller(400);
        ok = ok && prof_cpu_process_stop(p, &r) == APR_SUCCESS;
        ok = ok && apr_os_file_put(&cf, &fd, APR_FOPEN_WRITE, p)
                   == APR_SUCCESS;
        ok = ok && prof_cpu_raw_write(r, cf) == APR_SUCCESS;
        _exit(ok ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_READ, 0, unit_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_raw_read(f, unit_pool, &raw[0], &err),
                     APR_SUCCESS);
    apr_file_close(f);
    close(fd);
    unlink(path);
    prof_cpu_raw_info(raw[0], &info);
    ck_assert_int_eq(info.pid, (apr_int64_t)pid);
    ck_assert(info.samples >= 30);
    /* And merged with the parent's own. */
    ck_assert_int_eq(prof_cpu_process_start(250, 0), APR_SUCCESS);
    burn_caller(200);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw[1]), APR_SUCCESS);
    ck_assert_int_eq(prof_cpu_symbolize(raw, 2, unit_pool, &s), APR_SUCCESS);
    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);

        ck_assert(st->pid == (apr_int64_t)pid
                  || st->pid == (apr_int64_t)getpid());
        if (st->pid == (apr_int64_t)pid) {
            ++child_stacks;
        }
    }
    ck_assert_int_gt(child_stacks, 0);
    ck_assert_msg(samples_in(s, "burn_known_function", 1, NULL,
                             PROF_STACK_UNKNOWN) * 10
                  >= samples_all(s, PROF_STACK_UNKNOWN) * 8,
                  "%s", prof_stacks_folded(s, unit_pool, -1));
}
END_TEST

START_TEST(raw_parse_rejects_malformed_input)
{
    prof_cpu_raw_t *raw, *back;
    const char *buf, *err;
    char *bad;
    apr_size_t len, cut;
    apr_uint64_t seed = 1;
    int i;

    ck_assert_int_eq(prof_cpu_process_start(500, 0), APR_SUCCESS);
    burn_caller(100);
    ck_assert_int_eq(prof_cpu_process_stop(unit_pool, &raw), APR_SUCCESS);
    prof_cpu_raw_serialize(raw, unit_pool, &buf, &len);
    ck_assert(len > 9 * 8);
    err = NULL;
    ck_assert_int_eq(prof_cpu_raw_parse(buf, len, unit_pool, &back, &err),
                     APR_SUCCESS);
    /* Every truncation is refused. */
    for (cut = 0; cut < len; cut += 1 + cut / 7) {
        err = NULL;
        ck_assert_int_eq(prof_cpu_raw_parse(buf, cut, unit_pool, &back,
                                            &err), APR_EGENERAL);
        ck_assert(err != NULL && back == NULL);
    }
    /* Random corruption is either refused or yields valid records: the
     * symbolizer never reads out of bounds (ASan). */
    bad = apr_pmemdup(unit_pool, buf, len);
    for (i = 0; i < 300; ++i) {
        apr_size_t at;
        prof_stacks_t *s;

        memcpy(bad, buf, len);
        at = (apr_size_t)(unit_rand(&seed) % len);
        bad[at] = (char)(bad[at] ^ (1 << (unit_rand(&seed) % 8)));
        err = NULL;
        if (prof_cpu_raw_parse(bad, len, unit_pool, &back, &err)
            == APR_SUCCESS) {
            ck_assert_int_eq(prof_cpu_symbolize(&back, 1, unit_pool, &s),
                             APR_SUCCESS);
        }
        else {
            ck_assert(err != NULL);
        }
    }
}
END_TEST

/* The pprof encoding of a real CPU profile, read by Go's pprof: the
 * burner tops the flat column. */
START_TEST(pprof_of_cpu_profile_read_by_go_tool_pprof)
{
    prof_cpu_raw_info_t info;
    prof_stacks_t *s = profile_burners(250, 1, 600, NULL, &info);
    const char *pb;
    apr_size_t len;
    char path[] = "/tmp/prof_cpu_pprof_XXXXXX";
    char line[512], cmd[1024];
    int fd = mkstemp(path), rows = 0, first_ok = 0;
    FILE *out;

    ck_assert_int_eq(prof_stacks_pprof(s, unit_pool, &pb, &len),
                     APR_SUCCESS);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, pb, len), (ssize_t)len);
    close(fd);
    ck_assert_msg(system("command -v go >/dev/null 2>&1") == 0,
                  "`go` is missing: install Debian's golang-go");
    snprintf(cmd, sizeof(cmd), "HOME=/tmp GOFLAGS= go tool pprof -top "
             "-nodecount=5 %s 2>&1", path);
    out = popen(cmd, "r");
    ck_assert(out != NULL);
    /* Header lines, then "flat flat% sum% cum cum% name" rows. */
    while (fgets(line, sizeof(line), out)) {
        double flat, flatp, sump, cum, cump;
        char u1[8], u2[8], name[256];

        if (sscanf(line, " %lf%7[a-z] %lf%% %lf%% %lf%7[a-z] %lf%% %255s",
                   &flat, u1, &flatp, &sump, &cum, u2, &cump, name) == 8) {
            if (rows++ == 0) {
                first_ok = strcmp(name, "burn_known_function") == 0
                           && flatp >= 80.0;
                ck_assert_msg(first_ok, "top row: %s", line);
            }
        }
    }
    ck_assert_int_eq(pclose(out), 0);
    unlink(path);
    ck_assert_int_gt(rows, 0);
    ck_assert(first_ok);
}
END_TEST

Suite *prof_cpuprof_suite(void)
{
    Suite *s = suite_create("cpuprof");
    TCase *tc = tcase_create("sampler");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cpu_burner_dominates_with_full_stack_and_label);
    tcase_add_test(tc, cpu_threads_blocking_sigprof_sampled_once_attached);
    tcase_add_test(tc, cpu_frames_have_mappings_files_and_lines);
    tcase_add_test(tc, cpu_bad_arguments_and_one_session_at_a_time);
    tcase_add_test(tc, unload_stops_everything_and_ignores_sigprof);
    tcase_add_test(tc, cpu_buffer_cap_drops_and_never_overflows);
    tcase_add_test(tc, wall_marks_waiting_and_oncpu);
    tcase_add_test(tc, wall_full_buffer_stops_interrupting);
    tcase_add_test(tc, wall_one_session_per_thread_and_pool_cleanup_stops);
    tcase_add_test(tc, sessions_churn_under_sampling);
    tcase_add_test(tc, raw_from_a_forked_child_symbolizes_in_the_parent);
    tcase_add_test(tc, raw_parse_rejects_malformed_input);
    tcase_add_test(tc, pprof_of_cpu_profile_read_by_go_tool_pprof);
    suite_add_tcase(s, tc);
    return s;
}
