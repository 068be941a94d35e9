/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the clocks of src/prof_clock.h: the monotonic clock in
 * microseconds, and the tick clock of the phase edges (rdtsc where the
 * kernel's clocksource is the TSC, CLOCK_MONOTONIC nanoseconds elsewhere
 * and until prof_clock_ticks_init() says otherwise).
 *
 * The tick source is process-wide state. The sanitizer run does not fork
 * per test, so every test that switches it puts the nanosecond ticks back
 * in its teardown: the phase record's tests that follow drive edges with
 * nanosecond ticks.
 */

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE             /* sched_getaffinity(), CPU_COUNT() */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prof_clock.h"
#include "unit.h"

/* ------------------------------------------------------------------ clock */

START_TEST(clock_never_goes_back)
{
    prof_mono_us_t prev = prof_clock_now_us(), now;
    int i;

    for (i = 0; i < 1000000; ++i) {
        now = prof_clock_now_us();
        ck_assert_msg(now >= prev, "clock went back from %lld to %lld us",
                      (long long)prev, (long long)now);
        prev = now;
    }
}
END_TEST

/* The header promises CLOCK_MONOTONIC wherever the platform has it. Without
 * the feature macros that expose it the code would quietly fall back to the
 * wall clock, so compare against the monotonic clock read directly. */
START_TEST(clock_is_the_monotonic_clock)
{
#if defined(CLOCK_MONOTONIC)
    struct timespec ts;
    prof_mono_us_t before, ours, after;

    ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    before = (prof_mono_us_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    ours = prof_clock_now_us();
    ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    after = (prof_mono_us_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    ck_assert_msg(before <= ours && ours <= after,
                  "prof_clock_now_us() = %lld is not between %lld and %lld: "
                  "not CLOCK_MONOTONIC", (long long)ours, (long long)before,
                  (long long)after);
#else
    ck_abort_msg("CLOCK_MONOTONIC is not defined: prof_clock_now_us() "
                 "would measure with the wall clock");
#endif
}
END_TEST

START_TEST(clock_advances_in_microseconds)
{
    struct timespec nap = { 0, 3 * 1000 * 1000 };   /* 3 ms */
    prof_mono_us_t t0, t1;

    t0 = prof_clock_now_us();
    while (nanosleep(&nap, &nap) != 0) {
        /* interrupted: sleep the rest */
    }
    t1 = prof_clock_now_us();
    /* At least the 3 ms slept; a unit slip (ns or ms) would be off by 1000. */
    ck_assert_int_ge(t1 - t0, 3000);
    ck_assert_int_lt(t1 - t0, 3 * 1000 * 1000);
}
END_TEST

/* ------------------------------------------------------------------ ticks */

#if defined(__x86_64__) && defined(__GNUC__) && defined(__SIZEOF_INT128__)
#define HAVE_TSC_TICKS 1
#if defined(__linux__)
#include <cpuid.h>
#include <sched.h>
#endif
#endif

static apr_uint64_t mono_ns(void)
{
    struct timespec ts;

    ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    return (apr_uint64_t)ts.tv_sec * APR_UINT64_C(1000000000)
           + (apr_uint64_t)ts.tv_nsec;
}

/* Read here, not through the code under test: does the kernel keep time
 * with the TSC (then prof_clock_ticks_init(1, ...) must choose it)? */
static int kernel_clocksource_is_tsc(void)
{
    char buf[64] = "";
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/"
                    "current_clocksource", "r");

    if (f == NULL) {
        return 0;
    }
    if (fgets(buf, sizeof(buf), f) == NULL) {
        buf[0] = '\0';
    }
    fclose(f);
    buf[strcspn(buf, "\n")] = '\0';
    return strcmp(buf, "tsc") == 0;
}

#if defined(HAVE_TSC_TICKS) && defined(__linux__)
/* CPUID 0x80000007 EDX bit 8, read here too. */
static int cpu_tsc_invariant(void)
{
    unsigned int a, b, c, d;

    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) {
        return 0;
    }
    __cpuid(0x80000007u, a, b, c, d);
    return (d >> 8) & 1u;
}
#endif

/* 1: prof_clock_ticks_init(1, ...) must choose the TSC (the kernel keeps
 * time with it); 0: it must not (no TSC ticks here, or not invariant);
 * -1: it may, if it found the TSC the same on every CPU this process may
 * run on (assert_tsc_choice() checks what it says then). */
static int tsc_expected(void)
{
#ifdef HAVE_TSC_TICKS
    if (kernel_clocksource_is_tsc()) {
        return 1;
    }
#if defined(__linux__)
    return cpu_tsc_invariant() ? -1 : 0;
#else
    return 0;
#endif
#else
    return 0;
#endif
}

/* What prof_clock_ticks_init(1, desc, ...) chose is what tsc_expected()
 * allows, and its description says so: the TSC chosen without the
 * kernel's word names the number of CPUs it was checked on, all of this
 * process's. */
static void assert_tsc_choice(const char *desc)
{
    int want = tsc_expected();

    if (want >= 0) {
        ck_assert_int_eq(prof_clock_ticks_conf.tsc, want);
    }
#if defined(HAVE_TSC_TICKS) && defined(__linux__)
    if (want < 0 && prof_clock_ticks_conf.tsc && desc != NULL) {
        cpu_set_t set;
        int n = -1;

        ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
        ck_assert_msg(strstr(desc, ", invariant, same on ") != NULL
                      && sscanf(strstr(desc, "same on "), "same on %d CPUs",
                                &n) == 1 && n == CPU_COUNT(&set),
                      "\"%s\" (this process runs on %d CPUs)", desc,
                      CPU_COUNT(&set));
    }
#else
    (void)desc;
#endif
}

/* Back to nanosecond ticks, whatever a test did. */
static void ticks_ns(void)
{
    ck_assert_str_eq(prof_clock_ticks_init(0, NULL, 0), "clock_gettime");
}

/* The tick source for loop iteration i: 0 nanoseconds, 1 what
 * prof_clock_ticks_init(1, ...) picks on this machine. */
static void ticks_mode(int i)
{
    char desc[64];

    if (i) {
        prof_clock_ticks_init(1, desc, sizeof(desc));
        assert_tsc_choice(desc);
    }
    else {
        ticks_ns();
    }
}

/* Checks that ticks are CLOCK_MONOTONIC nanoseconds right now. */
static void assert_ns_ticks(void)
{
    apr_uint64_t a, b;
    prof_tick_t t;

    ck_assert_int_eq(prof_clock_ticks_conf.tsc, 0);
    a = mono_ns();
    t = prof_clock_tick();
    b = mono_ns();
    ck_assert_msg(a <= t && t <= b, "tick %llu not between the monotonic "
                  "clock's %llu and %llu ns", (unsigned long long)t,
                  (unsigned long long)a, (unsigned long long)b);
    ck_assert_int_eq(prof_clock_ticks_us(0), 0);
    ck_assert_int_eq(prof_clock_ticks_us(999), 0);
    ck_assert_int_eq(prof_clock_ticks_us(1000), 1);
    ck_assert_int_eq(prof_clock_ticks_us(1999), 1);
    ck_assert_int_eq(prof_clock_ticks_us(APR_UINT64_C(36000000000000)),
                     APR_INT64_C(36000000000));       /* 10 hours */
}

/* A program that never calls prof_clock_ticks_init() (as this one, up to
 * here: the sanitizer run does not fork) ticks in nanoseconds. */
START_TEST(ticks_are_ns_by_default)
{
    ck_assert_int_eq(prof_clock_ticks_conf.tsc, 0);
    ck_assert_uint_eq(prof_clock_ticks_conf.mult, 0);
    ck_assert(prof_clock_ticks_conf.hz == 1e9);
    assert_ns_ticks();
}
END_TEST

/* Where the kernel's clocksource is the TSC (this machine's), allowing it
 * gives TSC ticks, calibrated to a sane frequency; elsewhere, or on
 * another architecture, CLOCK_MONOTONIC. */
START_TEST(ticks_init_picks_tsc_where_the_kernel_does)
{
    char desc[64];
    const char *got;

    memset(desc, 'x', sizeof(desc));
    got = prof_clock_ticks_init(1, desc, sizeof(desc));
    ck_assert_ptr_nonnull(got);
    assert_tsc_choice(got);
    if (!prof_clock_ticks_conf.tsc) {
        ck_assert_str_eq(got, "clock_gettime");
        assert_ns_ticks();
        return;
    }
#ifdef HAVE_TSC_TICKS
    {
        double ghz = 0;
        apr_uint64_t a, b, want;
        prof_tick_t t;
        long double exact;

        ck_assert_int_eq(prof_clock_ticks_conf.tsc, 1);
        ck_assert_ptr_eq(got, desc);
        ck_assert_msg(sscanf(desc, "tsc %lf GHz", &ghz) == 1,
                      "description \"%s\"", desc);
        ck_assert_msg(ghz > 0.1 && ghz < 100.0, "%s", desc);
        /* What the log says is the frequency in use, to the MHz. */
        ck_assert_msg(ghz * 1e9 - prof_clock_ticks_conf.hz < 1e6
                      && prof_clock_ticks_conf.hz - ghz * 1e9 < 1e6,
                      "\"%s\" but hz = %f", desc, prof_clock_ticks_conf.hz);
        /* microseconds = ticks * mult >> 52, mult from hz */
        exact = 4503599627370496.0L * 1e6L / prof_clock_ticks_conf.hz;
        want = (apr_uint64_t)(exact + 0.5L);
        ck_assert_msg(prof_clock_ticks_conf.mult + 1 >= want
                      && prof_clock_ticks_conf.mult <= want + 1,
                      "mult %llu for %f Hz, want %llu",
                      (unsigned long long)prof_clock_ticks_conf.mult,
                      prof_clock_ticks_conf.hz, (unsigned long long)want);
        /* and a tick is the time-stamp counter */
        a = __builtin_ia32_rdtsc();
        t = prof_clock_tick();
        b = __builtin_ia32_rdtsc();
        ck_assert_msg(a <= t && t <= b, "tick %llu not between rdtsc's %llu "
                      "and %llu", (unsigned long long)t,
                      (unsigned long long)a, (unsigned long long)b);
    }
#endif
}
END_TEST

/* prof_clock_ticks_init(0, ...) keeps (or puts back) nanosecond ticks,
 * writes nothing into desc, and says so. */
START_TEST(ticks_init_0_keeps_ns)
{
    char desc[64], before[64];

    memset(desc, 'x', sizeof(desc));
    memcpy(before, desc, sizeof(desc));
    ck_assert_str_eq(prof_clock_ticks_init(0, desc, sizeof(desc)),
                     "clock_gettime");
    ck_assert_mem_eq(desc, before, sizeof(desc));
    assert_ns_ticks();
    /* after TSC ticks too */
    assert_tsc_choice(prof_clock_ticks_init(1, desc, sizeof(desc)));
    ck_assert_str_eq(prof_clock_ticks_init(0, desc, sizeof(desc)),
                     "clock_gettime");
    ck_assert_uint_eq(prof_clock_ticks_conf.mult, 0);
    ck_assert(prof_clock_ticks_conf.hz == 1e9);
    assert_ns_ticks();
}
END_TEST

/* One end of an interval: a tick and CLOCK_MONOTONIC at the same moment,
 * the tick read between two clock reads that are close together (a
 * preemption between them is retried, not measured). */
static void tick_and_ns(prof_tick_t *t, apr_uint64_t *ns)
{
    int tries;
    apr_uint64_t a, b;

    for (tries = 0; tries < 100; ++tries) {
        a = mono_ns();
        *t = prof_clock_tick();
        b = mono_ns();
        if (b - a < 20000) {
            break;
        }
    }
    *ns = a + (b - a) / 2;
}

/* Ticks turned into microseconds measure what CLOCK_MONOTONIC measures,
 * across a 20 ms sleep, to 2 % (the calibration's error shows here: the
 * durations of every request on this server are off by as much). */
START_TEST(ticks_us_agree_with_the_monotonic_clock)
{
    struct timespec nap = { 0, 20 * 1000 * 1000 };
    prof_tick_t t0, t1;
    apr_uint64_t n0, n1;
    double ours, mono;

    ticks_mode(_i);
    tick_and_ns(&t0, &n0);
    while (nanosleep(&nap, &nap) != 0) {
        /* interrupted: sleep the rest */
    }
    tick_and_ns(&t1, &n1);
    ck_assert_uint_gt(t1, t0);
    ours = (double)prof_clock_ticks_us(t1 - t0);
    mono = (double)(n1 - n0) / 1000.0;
    ck_assert_msg(mono >= 20000.0, "slept %f us", mono);
    ck_assert_msg(ours >= mono * 0.98 && ours <= mono * 1.02,
                  "%s ticks: %.0f us where CLOCK_MONOTONIC has %.0f us "
                  "(%.2f %%; %f Hz)", prof_clock_ticks_conf.tsc ? "TSC" : "ns",
                  ours, mono, (ours - mono) * 100.0 / mono,
                  prof_clock_ticks_conf.hz);
}
END_TEST

/* floor(d * mult / 2^52) in long double: 64 bits of mantissa, enough for
 * products up to 2^87 to within a fraction of a microsecond. */
static apr_int64_t ticks_us_long_double(prof_tick_t d, apr_uint64_t mult)
{
    long double us = (long double)d * (long double)mult
                     / 4503599627370496.0L;

    return (apr_int64_t)us;
}

static void assert_ticks_us_exact(prof_tick_t d)
{
    apr_int64_t ours = prof_clock_ticks_us(d);
    apr_int64_t want = ticks_us_long_double(d, prof_clock_ticks_conf.mult);
    long double by_hz = (long double)d * 1e6L
                        / (long double)prof_clock_ticks_conf.hz;

    /* The same formula, without its overflow: exact but where long
     * double's rounding lands on the other side of an integer. */
    ck_assert_msg(ours >= 0 && ours - want <= 1 && want - ours <= 1,
                  "%llu ticks: %lld us, want %lld (mult %llu)",
                  (unsigned long long)d, (long long)ours, (long long)want,
                  (unsigned long long)prof_clock_ticks_conf.mult);
    /* And what the ticks mean at the calibrated frequency: mult's
     * rounding is worth well under a microsecond in 10 hours. */
    ck_assert_msg((long double)ours > by_hz - 2.0L
                  && (long double)ours < by_hz + 1.0L,
                  "%llu ticks: %lld us, at %f Hz %Lf us",
                  (unsigned long long)d, (long long)ours,
                  prof_clock_ticks_conf.hz, by_hz);
}

/* Ten hours of TSC ticks (a request that slow is a stuck one, but its
 * time must still come out right): d * mult is ~2^87, far past 64 bits. */
START_TEST(tsc_ticks_us_10_hours_without_overflow)
{
    const double ten_hours = 36000.0;
    prof_tick_t d;
    uint64_t rng = 0x7c5;
    int k;

    ticks_mode(1);
    if (!prof_clock_ticks_conf.tsc) {
        /* nanoseconds (another machine): exact, and no overflow either */
        ck_assert_int_eq(prof_clock_ticks_us(APR_UINT64_C(36000000000000)),
                         APR_INT64_C(36000000000));
        return;
    }
    d = (prof_tick_t)(ten_hours * prof_clock_ticks_conf.hz);
    ck_assert_uint_gt(d, APR_UINT64_C(1) << 32);
    assert_ticks_us_exact(d);
    /* 10 hours to the microsecond, give or take the float of hz */
    ck_assert_int_ge(prof_clock_ticks_us(d), APR_INT64_C(36000000000) - 1);
    ck_assert_int_le(prof_clock_ticks_us(d), APR_INT64_C(36000000000) + 1);
    /* and everything up to it, never going back as ticks grow */
    for (k = 0; k < 20000; ++k) {
        prof_tick_t x = unit_rand(&rng) % (d + 1);

        assert_ticks_us_exact(x);
        ck_assert_int_le(prof_clock_ticks_us(x), prof_clock_ticks_us(x + 1));
    }
}
END_TEST

Suite *prof_clock_suite(void)
{
    Suite *s = suite_create("prof_clock");
    TCase *tc = tcase_create("now");

    tcase_add_test(tc, clock_never_goes_back);
    tcase_add_test(tc, clock_is_the_monotonic_clock);
    tcase_add_test(tc, clock_advances_in_microseconds);
    suite_add_tcase(s, tc);

    tc = tcase_create("ticks");
    /* Nanosecond ticks again after each test (see the top of the file). */
    tcase_add_checked_fixture(tc, NULL, ticks_ns);
    /* First: no test has called prof_clock_ticks_init() yet. */
    tcase_add_test(tc, ticks_are_ns_by_default);
    tcase_add_test(tc, ticks_init_picks_tsc_where_the_kernel_does);
    tcase_add_test(tc, ticks_init_0_keeps_ns);
    tcase_add_loop_test(tc, ticks_us_agree_with_the_monotonic_clock, 0, 2);
    tcase_add_test(tc, tsc_ticks_us_10_hours_without_overflow);
    suite_add_tcase(s, tc);
    return s;
}
