/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the phase record (src/prof_phase.h, src/prof_phase.c).
 *
 * The record is driven with made-up ticks, never with the real clock: in a
 * program that has not chosen TSC ticks (prof_clock_ticks_init(), see
 * test_clock.c) a tick is a nanosecond, so an edge at T0 + US(x) is x
 * microseconds after T0 and every expected duration below is exact. The
 * suite's fixture makes sure of that; the tests of prof_phase_mark() and
 * prof_phase_start_us(), which read the real clock, also run on TSC ticks.
 */

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "prof_clock.h"
#include "prof_phase.h"
#include "unit.h"

/* ------------------------------------------------------------------ names */

static const char *const canonical[PROF_PHASE_COUNT] = {
    "read", "postread", "quick", "translate", "storage", "headers", "access",
    "authn", "authz", "type", "fixups", "handler", "body", "log", "total"
};

START_TEST(phase_name_in_order)
{
    ck_assert_str_eq(prof_phase_name(_i), canonical[_i]);
}
END_TEST

static const int out_of_range[] = {
    -1, -2, PROF_PHASE_COUNT, PROF_PHASE_COUNT + 1, 32, 1000, INT_MIN, INT_MAX
};

START_TEST(phase_name_out_of_range)
{
    ck_assert_ptr_null(prof_phase_name(out_of_range[_i]));
}
END_TEST

/* Pins the enum to the names: the Server-Timing metric names are an
 * interface that dashboards depend on. */
START_TEST(phase_enum_matches_names)
{
    ck_assert_int_eq(PROF_PHASE_COUNT, 15);
    ck_assert_str_eq(prof_phase_name(PROF_PHASE_READ), "read");
    ck_assert_str_eq(prof_phase_name(PROF_PHASE_STORAGE), "storage");
    ck_assert_str_eq(prof_phase_name(PROF_PHASE_HANDLER), "handler");
    ck_assert_str_eq(prof_phase_name(PROF_PHASE_BODY), "body");
    ck_assert_str_eq(prof_phase_name(PROF_PHASE_TOTAL), "total");
}
END_TEST

/* ----------------------------------------------------------------- record */

/* Ticks are nanoseconds here (the fixture): x microseconds of ticks. */
#define US(x) ((prof_tick_t)(x) * 1000u)
#define T0 ((prof_tick_t)1000000000000u)

/* Nanosecond ticks for every test of the suite, whatever ran before it in
 * this process (the sanitizer run does not fork). */
static void ticks_ns(void)
{
    ck_assert_str_eq(prof_clock_ticks_init(0, NULL, 0), "clock_gettime");
}

/* What the hooks do, at T0 + us microseconds: enter a phase, leave it, or
 * close whatever is open (entering `read`, which cannot be entered). */
static void enter(prof_phase_rec_t *rec, int phase, apr_int64_t us)
{
    prof_phase_edge(rec, phase, T0 + (prof_tick_t)us * 1000u);
}

static void leave(prof_phase_rec_t *rec, int phase, apr_int64_t us)
{
    prof_phase_edge(rec, PROF_MARK_LEAVE | phase,
                    T0 + (prof_tick_t)us * 1000u);
}

static void close_at(prof_phase_rec_t *rec, apr_int64_t us)
{
    prof_phase_edge(rec, PROF_PHASE_READ, T0 + (prof_tick_t)us * 1000u);
}

/* A phase's duration as a reader gets it. */
static apr_interval_time_t dur(prof_phase_rec_t *rec, int phase)
{
    prof_phase_fold(rec);
    return rec->dur_us[phase];
}

/* A record as a caller would find it in freshly allocated, unzeroed memory
 * (apr_palloc): rec_start must not depend on the memory having been
 * cleared. */
static void start_dirty(prof_phase_rec_t *rec, prof_tick_t now,
                        apr_interval_time_t read_us)
{
    memset(rec, 0xa5, sizeof(*rec));
    prof_phase_rec_start(rec, now, read_us);
}

/* The phases entered, as bits (1 << phase): what prof_phase_seen() says
 * of each (read from `seen` for read and total, from first_tick for the
 * others). */
static apr_uint32_t seen_mask(const prof_phase_rec_t *rec)
{
    apr_uint32_t bits = 0;
    int i;

    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        if (prof_phase_seen(rec, i)) {
            bits |= 1u << i;
        }
    }
    return bits;
}

/* The ticks of every accumulator, phases and time in none, add up to the
 * ticks from the start to the latest edge: each tick is in exactly one. */
static void assert_ticks_add_up(const prof_phase_rec_t *rec)
{
    prof_tick_t sum = 0;
    int i;

    for (i = 0; i <= PROF_PHASE_OUT; ++i) {
        sum += rec->acc[i];
    }
    ck_assert_uint_eq(sum, rec->last_tick - rec->start_tick);
    ck_assert_uint_ge(rec->last_tick, rec->start_tick);
}

static const apr_interval_time_t read_in[] = {
    0, 1, 1500, -1, -1500, APR_INT64_MIN
};

START_TEST(rec_start_clamps_read)
{
    static const prof_tick_t zero[PROF_PHASE_COUNT + 1];
    prof_phase_rec_t rec;
    apr_interval_time_t in = read_in[_i], want = in > 0 ? in : 0;
    int i;

    start_dirty(&rec, T0, in);
    ck_assert_int_eq(rec.read_us, want);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_READ], want);
    ck_assert_mem_eq(rec.acc, zero, sizeof(zero));
    ck_assert_uint_eq(rec.start_tick, T0);
    ck_assert_uint_eq(rec.last_tick, T0);
    ck_assert_int_eq(rec.start_us, 0);
    ck_assert_int_eq(rec.cur, PROF_PHASE_OUT);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_NONE);
    ck_assert_uint_eq(seen_mask(&rec), 1u << PROF_PHASE_READ);
    ck_assert_int_eq(prof_phase_elapsed(&rec), want);

    /* Read back: nothing but `read` took any time. */
    ck_assert_int_eq(prof_phase_fold(&rec), want);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_READ], want);
    for (i = PROF_PHASE_READ + 1; i < PROF_PHASE_TOTAL; ++i) {
        ck_assert_int_eq(rec.dur_us[i], 0);
    }
    ck_assert_int_eq(prof_phase_total(&rec, prof_phase_fold(&rec)), want);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TOTAL], want);
    prof_phase_firsts(&rec);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_READ], 0);
    for (i = PROF_PHASE_READ + 1; i < PROF_PHASE_COUNT; ++i) {
        ck_assert_int_eq(rec.first_us[i], -1);
    }
}
END_TEST

START_TEST(edge_closes_previous)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    enter(&rec, PROF_PHASE_TRANSLATE, 10);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_TRANSLATE);
    enter(&rec, PROF_PHASE_STORAGE, 60);
    ck_assert_uint_eq(rec.acc[PROF_PHASE_TRANSLATE], US(50));
    ck_assert_int_eq(dur(&rec, PROF_PHASE_TRANSLATE), 50);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_STORAGE);
    /* An open phase has its time up to the latest edge, none yet. */
    ck_assert_int_eq(dur(&rec, PROF_PHASE_STORAGE), 0);
    close_at(&rec, 160);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_STORAGE), 100);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_TRANSLATE), 50);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_NONE);
    /* Before the first edge, nothing was open. */
    ck_assert_uint_eq(rec.acc[PROF_PHASE_OUT], US(10));
    assert_ticks_add_up(&rec);

    /* A leave closes too, and the time after it is in no phase. */
    enter(&rec, PROF_PHASE_HEADERS, 200);
    leave(&rec, PROF_PHASE_HEADERS, 207);
    enter(&rec, PROF_PHASE_ACCESS, 250);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_HEADERS), 7);
    ck_assert_uint_eq(rec.acc[PROF_PHASE_OUT], US(10 + 40 + 43));
    assert_ticks_add_up(&rec);
}
END_TEST

/* Internal redirects run phases again: the durations add up. */
START_TEST(reenter_accumulates)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    enter(&rec, PROF_PHASE_ACCESS, 100);
    leave(&rec, PROF_PHASE_ACCESS, 110);
    enter(&rec, PROF_PHASE_HANDLER, 150);
    enter(&rec, PROF_PHASE_ACCESS, 200);
    leave(&rec, PROF_PHASE_ACCESS, 230);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_ACCESS), 40);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_HANDLER), 50);
    assert_ticks_add_up(&rec);
}
END_TEST

/* Durations are the phase's ticks added up, then rounded down once: three
 * stays of 0.6 us are 1 us (1.8), not 0 (three times 0.6 rounded). */
START_TEST(durations_round_the_sum_of_ticks)
{
    prof_phase_rec_t rec;
    int k;

    start_dirty(&rec, T0, 0);
    for (k = 0; k < 3; ++k) {
        prof_phase_edge(&rec, PROF_PHASE_TYPE, T0 + US(10 * k));
        prof_phase_edge(&rec, PROF_MARK_LEAVE | PROF_PHASE_TYPE,
                        T0 + US(10 * k) + 600);
    }
    ck_assert_uint_eq(rec.acc[PROF_PHASE_TYPE], 1800);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_TYPE), 1);
    prof_phase_edge(&rec, PROF_PHASE_TYPE, T0 + US(40));
    prof_phase_edge(&rec, PROF_PHASE_LOG, T0 + US(40) + 199);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_TYPE), 1);    /* 1999 ns */
    prof_phase_edge(&rec, PROF_PHASE_TYPE, T0 + US(50));
    prof_phase_edge(&rec, PROF_PHASE_LOG, T0 + US(50) + 1);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_TYPE), 2);    /* 2000 ns */
    assert_ticks_add_up(&rec);
}
END_TEST

/* The waterfall draws each phase where it really began: the first entry,
 * as an offset from the start of `read`; a later entry (an internal
 * redirect) moves nothing; a phase that never ran stays -1. */
START_TEST(first_entry_offsets)
{
    prof_phase_rec_t rec;
    int i;

    start_dirty(&rec, T0, 40);
    prof_phase_firsts(&rec);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_READ], 0);
    for (i = 1; i < PROF_PHASE_COUNT; ++i) {
        ck_assert_int_eq(rec.first_us[i], -1);
    }
    enter(&rec, PROF_PHASE_POSTREAD, 5);
    leave(&rec, PROF_PHASE_POSTREAD, 7);
    enter(&rec, PROF_PHASE_ACCESS, 100);
    leave(&rec, PROF_PHASE_ACCESS, 110);
    enter(&rec, PROF_PHASE_ACCESS, 200);
    ck_assert_uint_eq(rec.first_tick[PROF_PHASE_ACCESS], T0 + US(100));
    /* rounded down, from the start of read */
    prof_phase_edge(&rec, PROF_PHASE_AUTHN, T0 + US(300) + 999);
    prof_phase_firsts(&rec);
    prof_phase_fold(&rec);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_READ], 0);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_POSTREAD], 45);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_ACCESS], 140);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_AUTHN], 340);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_TRANSLATE], -1);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_TOTAL], -1);
    /* The gap between postread and access is in no phase. */
    ck_assert_int_gt(rec.first_us[PROF_PHASE_ACCESS],
                     rec.first_us[PROF_PHASE_POSTREAD]
                     + rec.dur_us[PROF_PHASE_POSTREAD]);
    /* A total does not make `total` a phase that began somewhere. */
    prof_phase_total(&rec, prof_phase_fold(&rec));
    prof_phase_firsts(&rec);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_TOTAL], -1);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_ACCESS], 140);
}
END_TEST

/* Entering the open phase again closes and reopens it: nothing is counted
 * twice and nothing is lost, and it is not a first entry. */
START_TEST(enter_open_phase_again)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    enter(&rec, PROF_PHASE_FIXUPS, 100);
    enter(&rec, PROF_PHASE_FIXUPS, 130);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_FIXUPS), 30);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_FIXUPS);
    ck_assert_uint_eq(rec.last_tick, T0 + US(130));
    ck_assert_uint_eq(rec.first_tick[PROF_PHASE_FIXUPS], T0 + US(100));
    leave(&rec, PROF_PHASE_FIXUPS, 135);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_FIXUPS), 35);
    assert_ticks_add_up(&rec);
}
END_TEST

START_TEST(leave_only_the_open_phase)
{
    prof_phase_rec_t rec, copy;

    start_dirty(&rec, T0, 0);
    memcpy(&copy, &rec, sizeof(rec));
    leave(&rec, PROF_PHASE_AUTHN, 50);                  /* none open */
    /* Nothing happens: not even the latest edge moves. */
    ck_assert_mem_eq(&rec, &copy, sizeof(rec));
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_NONE);

    enter(&rec, PROF_PHASE_AUTHN, 100);
    memcpy(&copy, &rec, sizeof(rec));
    leave(&rec, PROF_PHASE_AUTHZ, 150);                 /* another one */
    ck_assert_mem_eq(&rec, &copy, sizeof(rec));
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_AUTHN);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_AUTHN), 0);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_AUTHZ), 0);
    ck_assert(!prof_phase_seen(&rec, PROF_PHASE_AUTHZ));

    leave(&rec, PROF_PHASE_AUTHN, 170);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_NONE);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_AUTHN), 70);

    memcpy(&copy, &rec, sizeof(rec));
    leave(&rec, PROF_PHASE_AUTHN, 900);                 /* twice */
    ck_assert_mem_eq(&rec, &copy, sizeof(rec));
    ck_assert_int_eq(dur(&rec, PROF_PHASE_AUTHN), 70);
    ck_assert_int_eq(prof_phase_elapsed(&rec), 170);
    assert_ticks_add_up(&rec);
}
END_TEST

/* A tick before the previous edge (a clock that went backwards; it must
 * not) adds nothing and counts as the previous edge's: last_tick never
 * goes back, and a first entry is never before the start. */
START_TEST(backwards_adds_nothing)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    enter(&rec, PROF_PHASE_TYPE, 100);
    close_at(&rec, 90);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_TYPE), 0);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_NONE);
    ck_assert_uint_eq(rec.last_tick, T0 + US(100));

    /* Equal ticks add nothing either, and the phase still closes. */
    enter(&rec, PROF_PHASE_TYPE, 200);
    close_at(&rec, 200);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_TYPE), 0);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_NONE);

    /* An earlier, good duration survives a later backwards step, and the
     * phase entered by it begins at the previous edge. */
    enter(&rec, PROF_PHASE_TYPE, 300);
    close_at(&rec, 340);
    enter(&rec, PROF_PHASE_TYPE, 400);
    enter(&rec, PROF_PHASE_FIXUPS, 10);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_TYPE), 40);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_FIXUPS);
    ck_assert_uint_eq(rec.last_tick, T0 + US(400));
    ck_assert_uint_eq(rec.first_tick[PROF_PHASE_FIXUPS], T0 + US(400));
    /* ... and time goes on from there, not from the tick that went back */
    enter(&rec, PROF_PHASE_HANDLER, 425);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_FIXUPS), 25);
    ck_assert_int_eq(prof_phase_elapsed(&rec), 425);
    assert_ticks_add_up(&rec);

    /* Before the start: the first entry is at the start, nothing is
     * added, the elapsed time is the read time. */
    start_dirty(&rec, T0, 30);
    enter(&rec, PROF_PHASE_HEADERS, -5000);
    ck_assert_uint_eq(rec.last_tick, T0);
    ck_assert_uint_eq(rec.first_tick[PROF_PHASE_HEADERS], T0);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_HEADERS);
    prof_phase_firsts(&rec);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_HEADERS], 30);
    ck_assert_int_eq(prof_phase_fold(&rec), 30);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_HEADERS], 0);
    assert_ticks_add_up(&rec);

    /* Far behind: a tick 2^62 before the start (half a counter's range
     * the other way would be a counter that wrapped). */
    start_dirty(&rec, T0 + (APR_UINT64_C(1) << 62), 0);
    prof_phase_edge(&rec, PROF_PHASE_BODY, T0);
    ck_assert_uint_eq(rec.last_tick, T0 + (APR_UINT64_C(1) << 62));
    ck_assert_int_eq(prof_phase_fold(&rec), 0);
    assert_ticks_add_up(&rec);
}
END_TEST

/* "read" is given at the start and "total" is computed: neither is ever
 * entered. Entering one (or the count of phases) only closes the open
 * phase, never writes past the arrays, and leaves total = read + elapsed:
 * time added to "read" after the start would be counted twice. */
static const int not_enterable[] = {
    PROF_PHASE_READ, PROF_PHASE_TOTAL, PROF_PHASE_COUNT
};

START_TEST(enter_not_enterable)
{
    prof_phase_rec_t rec;
    int what = not_enterable[_i];

    start_dirty(&rec, T0, 700);
    enter(&rec, PROF_PHASE_LOG, 100);
    enter(&rec, what, 130);
    ck_assert_int_eq(dur(&rec, PROF_PHASE_LOG), 30);
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_NONE);
    ck_assert_int_eq(rec.cur, PROF_PHASE_OUT);
    enter(&rec, what, 500);             /* and again, with nothing open */
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_NONE);
    ck_assert_uint_eq(rec.acc[PROF_PHASE_READ], 0);
    ck_assert_uint_eq(rec.acc[PROF_PHASE_TOTAL], 0);
    ck_assert_uint_eq(rec.acc[PROF_PHASE_OUT], US(100 + 370));
    ck_assert_uint_eq(seen_mask(&rec),
                      (1u << PROF_PHASE_READ) | (1u << PROF_PHASE_LOG));
    ck_assert_int_eq(prof_phase_fold(&rec), 1200);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_READ], 700);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_LOG], 30);
    ck_assert_int_eq(prof_phase_total(&rec, prof_phase_fold(&rec)), 1200);
    ck_assert_uint_eq(seen_mask(&rec), (1u << PROF_PHASE_READ)
                      | (1u << PROF_PHASE_LOG) | (1u << PROF_PHASE_TOTAL));
    assert_ticks_add_up(&rec);
}
END_TEST

/* Leaving a phase that is not open does nothing (prof_phase_edge()), also
 * for the values that are no phase one can be in: `read`, `total` and the
 * count of phases, with nothing open and with a phase open. The count of
 * phases is also where the record keeps the time in no phase
 * (PROF_PHASE_OUT): leaving it must not pass for leaving "nothing open". */
START_TEST(leave_not_enterable_does_nothing)
{
    prof_phase_rec_t rec, copy;
    int what = not_enterable[_i];

    start_dirty(&rec, T0, 700);
    enter(&rec, PROF_PHASE_LOG, 100);
    leave(&rec, PROF_PHASE_LOG, 130);
    memcpy(&copy, &rec, sizeof(rec));
    leave(&rec, what, 500);                             /* nothing open */
    ck_assert_msg(rec.last_tick == copy.last_tick,
                  "leave(%d) with nothing open moved the latest edge by "
                  "%lld us", what,
                  (long long)((rec.last_tick - copy.last_tick) / 1000));
    ck_assert_mem_eq(&rec, &copy, sizeof(rec));
    ck_assert_int_eq(prof_phase_elapsed(&rec), 830);

    enter(&rec, PROF_PHASE_LOG, 600);
    memcpy(&copy, &rec, sizeof(rec));
    leave(&rec, what, 900);                             /* log open */
    ck_assert_mem_eq(&rec, &copy, sizeof(rec));
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_LOG);
}
END_TEST

/* The total is read + the time from the start to the latest edge: what the
 * time to first byte and the logged total are. */
START_TEST(total_is_read_plus_elapsed)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 700);
    ck_assert_int_eq(prof_phase_total(&rec, prof_phase_fold(&rec)), 700);
    enter(&rec, PROF_PHASE_HANDLER, 100);
    ck_assert_int_eq(prof_phase_elapsed(&rec), 800);
    enter(&rec, PROF_PHASE_HANDLER, 1000);
    /* An open phase does not change the total: it is wall-to-wall time to
     * the latest edge. */
    ck_assert_int_eq(prof_phase_fold(&rec), 1700);
    ck_assert_int_eq(prof_phase_elapsed(&rec), 1700);
    ck_assert_int_eq(prof_phase_total(&rec, prof_phase_fold(&rec)), 1700);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TOTAL], 1700);
    ck_assert(prof_phase_seen(&rec, PROF_PHASE_TOTAL));
    ck_assert_int_eq(prof_phase_current(&rec), PROF_PHASE_HANDLER);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_HANDLER], 900);
    /* A tick before the start moves nothing. */
    enter(&rec, PROF_PHASE_HANDLER, -5000);
    ck_assert_int_eq(prof_phase_fold(&rec), 1700);
    /* Rounded down, once, from the start. */
    prof_phase_edge(&rec, PROF_PHASE_BODY, T0 + US(1000) + 999);
    ck_assert_int_eq(prof_phase_elapsed(&rec), 1700);
    prof_phase_edge(&rec, PROF_PHASE_BODY, T0 + US(1001));
    ck_assert_int_eq(prof_phase_elapsed(&rec), 1701);
    /* Folding twice changes nothing. */
    ck_assert_int_eq(prof_phase_fold(&rec), 1701);
    ck_assert_int_eq(prof_phase_fold(&rec), 1701);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_HANDLER], 900);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_BODY], 0);
    ck_assert_int_eq(prof_phase_total(&rec, 1701), 1701);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TOTAL], 1701);
}
END_TEST

START_TEST(seen_bits)
{
    prof_phase_rec_t rec;
    int i;

    start_dirty(&rec, T0, 0);
    ck_assert(prof_phase_seen(&rec, PROF_PHASE_READ));
    for (i = 1; i < PROF_PHASE_COUNT; ++i) {
        ck_assert(!prof_phase_seen(&rec, i));
    }
    enter(&rec, PROF_PHASE_QUICK, 1);
    enter(&rec, PROF_PHASE_BODY, 2);
    leave(&rec, PROF_PHASE_BODY, 3);
    /* leave of a phase never entered does not mark it */
    leave(&rec, PROF_PHASE_AUTHZ, 4);
    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        int want = i == PROF_PHASE_READ || i == PROF_PHASE_QUICK
                   || i == PROF_PHASE_BODY;
        ck_assert_msg((int)prof_phase_seen(&rec, i) == want,
                      "seen(%s) = %u", canonical[i],
                      (unsigned)prof_phase_seen(&rec, i));
    }
    /* A phase entered with zero duration is still seen, and has a first
     * entry. */
    enter(&rec, PROF_PHASE_AUTHZ, 5);
    close_at(&rec, 5);
    ck_assert(prof_phase_seen(&rec, PROF_PHASE_AUTHZ));
    ck_assert_int_eq(dur(&rec, PROF_PHASE_AUTHZ), 0);
    prof_phase_firsts(&rec);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_AUTHZ], 5);
    /* Only prof_phase_total() sets total's. */
    ck_assert(!prof_phase_seen(&rec, PROF_PHASE_TOTAL));
    prof_phase_total(&rec, prof_phase_fold(&rec));
    ck_assert(prof_phase_seen(&rec, PROF_PHASE_TOTAL));
}
END_TEST

/*
 * Random edge sequences, like the hooks of a request with internal
 * redirects and RUN_FIRST hooks that end phases early, on ticks that step
 * by sub-microsecond amounts and now and then go back. Checked two ways:
 *  - against a model written from the header's contract, in nanoseconds,
 *    turned into microseconds once, as a reader does;
 *  - against the accounting identity: every tick since the start is in
 *    exactly one phase or in none, so sum(phases) <= total at every step.
 */
typedef struct {
    apr_uint64_t ns[PROF_PHASE_COUNT];  /* ticks per phase */
    apr_uint64_t none;                  /* ticks with nothing open */
    prof_tick_t start, last, first[PROF_PHASE_COUNT];
    int open;                           /* a phase or PROF_PHASE_NONE */
    apr_uint32_t seen;
} phase_model_t;

/* An edge at t: close the open phase (if t is not before the last edge),
 * then open `open` (or nothing). */
static void model_edge(phase_model_t *m, prof_tick_t t, int open)
{
    if (t > m->last) {
        if (m->open == PROF_PHASE_NONE) {
            m->none += t - m->last;
        }
        else {
            m->ns[m->open] += t - m->last;
        }
        m->last = t;
    }
    m->open = open;
    if (open != PROF_PHASE_NONE && !(m->seen & (1u << open))) {
        m->seen |= 1u << open;
        m->first[open] = m->last;
    }
}

START_TEST(random_sequences)
{
    uint64_t rs = unit_seed(_i);
    prof_phase_rec_t rec;
    phase_model_t m;
    prof_tick_t now = (prof_tick_t)(unit_rand(&rs) % (UINT64_C(1) << 62));
    apr_interval_time_t read_us =
        (apr_interval_time_t)(unit_rand(&rs) % 2000000) - 500000;
    apr_interval_time_t sum, total, want_read = read_us > 0 ? read_us : 0;
    int steps = 1 + (int)(unit_rand(&rs) % 60), s, i;

    memset(&m, 0, sizeof(m));
    m.open = PROF_PHASE_NONE;
    m.seen = 1u << PROF_PHASE_READ;
    m.start = m.last = now;
    start_dirty(&rec, now, read_us);

    for (s = 0; s < steps; ++s) {
        uint64_t r = unit_rand(&rs);
        /* READ, TOTAL and COUNT included: they must only close. */
        int phase = (int)((r >> 8) % (PROF_PHASE_COUNT + 1));
        prof_tick_t step;
        prof_tick_t t;

        switch ((r >> 32) % 8) {
        case 0:
            step = 0;
            break;
        case 1:
            step = (r >> 16) % 1000;                /* under a microsecond */
            break;
        default:
            step = (r >> 16) % 5000000;             /* up to 5 ms */
            break;
        }
        now += step;
        /* Now and then a tick from before the previous edge (or the
         * start), which the clock must not give but the record takes. */
        t = (r >> 36) % 16 == 0 ? now - (r >> 40) % 3000000 : now;
        if ((r & 3) < 3) {
            prof_phase_edge(&rec, phase, t);
            model_edge(&m, t, phase > PROF_PHASE_READ
                              && phase < PROF_PHASE_TOTAL ? phase
                                                          : PROF_PHASE_NONE);
        }
        else {
            /* Mostly the open phase, so that leave does close things;
             * else any phase, `read` and `total` included. */
            if ((r >> 60) % 2 && prof_phase_current(&rec) != PROF_PHASE_NONE) {
                phase = prof_phase_current(&rec);
            }
            else {
                phase %= PROF_PHASE_COUNT;
            }
            prof_phase_edge(&rec, PROF_MARK_LEAVE | phase, t);
            if (m.open == phase) {
                model_edge(&m, t, PROF_PHASE_NONE);
            }
        }

        ck_assert_int_eq(prof_phase_current(&rec), m.open);
        ck_assert_uint_eq(rec.last_tick, m.last);
        /* (total's bit is set by prof_phase_total() below) */
        ck_assert_uint_eq(seen_mask(&rec) & ~(1u << PROF_PHASE_TOTAL), m.seen);
        ck_assert_uint_eq(rec.acc[PROF_PHASE_OUT], m.none);
        for (i = 0; i < PROF_PHASE_TOTAL; ++i) {
            ck_assert_msg(rec.acc[i] == m.ns[i], "step %d: %s has %llu "
                          "ticks, want %llu", s, canonical[i],
                          (unsigned long long)rec.acc[i],
                          (unsigned long long)m.ns[i]);
            if (m.seen & (1u << i) && i != PROF_PHASE_READ) {
                ck_assert_uint_eq(rec.first_tick[i], m.first[i]);
                ck_assert_uint_ge(rec.first_tick[i], m.start);
            }
        }
        assert_ticks_add_up(&rec);

        total = prof_phase_fold(&rec);
        ck_assert_int_eq(total, want_read
                         + (apr_interval_time_t)((m.last - m.start) / 1000));
        ck_assert_int_eq(prof_phase_elapsed(&rec), total);
        sum = 0;
        for (i = 0; i < PROF_PHASE_TOTAL; ++i) {
            apr_interval_time_t want = i == PROF_PHASE_READ ? want_read
                : (apr_interval_time_t)(m.ns[i] / 1000);

            ck_assert_msg(rec.dur_us[i] == want, "step %d: %s = %lld, "
                          "want %lld", s, canonical[i],
                          (long long)rec.dur_us[i], (long long)want);
            sum += rec.dur_us[i];
        }
        ck_assert_int_le(sum, total);
        ck_assert_int_eq(prof_phase_total(&rec, total), total);

        prof_phase_firsts(&rec);
        ck_assert_int_eq(rec.first_us[PROF_PHASE_READ], 0);
        for (i = PROF_PHASE_READ + 1; i < PROF_PHASE_COUNT; ++i) {
            apr_interval_time_t want =
                i < PROF_PHASE_TOTAL && (m.seen & (1u << i))
                ? want_read
                  + (apr_interval_time_t)((m.first[i] - m.start) / 1000)
                : -1;

            ck_assert_int_eq(rec.first_us[i], want);
            ck_assert_int_le(rec.first_us[i], total);
        }
    }
}
END_TEST

/* The table-driven header writer must write what the checked writer
 * writes, for random records and every cap up to past the whole value,
 * as the value's first entries and after one already there (an upstream
 * entry), with totals (never negative) of zero, under 10 ms and above. */
START_TEST(write_st_matches_checked_writer)
{
    uint64_t rng = 0xfeed;
    int round;

    for (round = 0; round < 600; ++round) {
        prof_phase_rec_t rec;
        apr_interval_time_t total =
            round % 7 == 0 ? 0
            : (apr_interval_time_t)(unit_rand(&rng) >> (1 + unit_rand(&rng) % 63));
        int after = round & 1;
        size_t cap;
        int i;

        prof_phase_rec_start(&rec, 1000, 0);
        for (i = 0; i < PROF_PHASE_COUNT; ++i) {
            uint64_t r = unit_rand(&rng);
            /* zeros, small, large and huge durations */
            rec.dur_us[i] = (r & 3) == 0 ? 0
                          : (apr_interval_time_t)(unit_rand(&rng) >> (r % 64));
        }
        for (cap = 1; cap < 720; cap += 1 + (round % 7)) {
            char a[1024], b[1024];
            prof_st_buf_t sa, sb;

            prof_st_init(&sa, a, cap);
            prof_st_init(&sb, b, cap);
            if (after) {
                prof_st_add(&sa, "up", 1234, NULL);
                prof_st_add(&sb, "up", 1234, NULL);
            }
            for (i = 0; i < PROF_PHASE_BODY; ++i) {
                if (rec.dur_us[i] > 0) {
                    prof_st_add(&sa, prof_phase_name(i), rec.dur_us[i], NULL);
                }
            }
            prof_st_add(&sa, "total", total, NULL);
            prof_phase_write_st(&rec, total, &sb);
            ck_assert_str_eq(a, b);
            ck_assert_uint_eq(sa.len, sb.len);
            ck_assert_uint_eq(sa.entries, sb.entries);
            ck_assert_uint_eq(sa.dropped, sb.dropped);
        }
    }
}
END_TEST

/* ------------------------------------------------- the real clock's ticks */

/* The tick source for loop iteration i: even nanoseconds, odd what
 * prof_clock_ticks_init(1, ...) picks on this machine (the TSC where the
 * kernel keeps time with it, or where it is invariant and the same on
 * every CPU). The fixture puts nanoseconds back. */
static void ticks_for(int i)
{
    char desc[64];

    if (i & 1) {
        prof_clock_ticks_init(1, desc, sizeof(desc));
    }
}

/* prof_phase_mark() is prof_phase_edge() at prof_clock_tick(): a record
 * marked on the real clock equals one given the same edges at the ticks
 * the marks took, whatever the edge did (entered, left, or nothing). */
START_TEST(mark_is_edge_now)
{
    uint64_t rng = 0xabc + (uint64_t)_i;
    prof_phase_rec_t marked, direct;
    prof_tick_t t0;
    int k, n = 1 + (int)(unit_rand(&rng) % 40);

    ticks_for(_i);
    t0 = prof_clock_tick();
    prof_phase_rec_start(&marked, t0, 17);
    prof_phase_rec_start(&direct, t0, 17);
    for (k = 0; k < n; ++k) {
        int phase = (int)(unit_rand(&rng) % PROF_PHASE_COUNT);
        int leave = (unit_rand(&rng) % 4) == 0;
        int what = leave ? (PROF_MARK_LEAVE | phase) : phase;
        int was = prof_phase_current(&marked);
        prof_tick_t before = marked.last_tick, a, b;

        a = prof_clock_tick();
        prof_phase_mark(&marked, what);
        b = prof_clock_tick();
        if (leave && was != phase) {
            ck_assert_uint_eq(marked.last_tick, before);
        }
        else {
            ck_assert_uint_ge(marked.last_tick, a);
            ck_assert_uint_le(marked.last_tick, b);
        }
        ck_assert_int_eq(prof_phase_current(&marked),
                         leave ? (was == phase ? PROF_PHASE_NONE : was)
                         : (phase > PROF_PHASE_READ
                            && phase < PROF_PHASE_TOTAL ? phase
                                                        : PROF_PHASE_NONE));
        prof_phase_edge(&direct, what, marked.last_tick);
        ck_assert_mem_eq(direct.acc, marked.acc, sizeof(marked.acc));
        ck_assert_uint_eq(direct.last_tick, marked.last_tick);
        ck_assert_int_eq(direct.cur, marked.cur);
        ck_assert_uint_eq(seen_mask(&direct), seen_mask(&marked));
        assert_ticks_add_up(&marked);
    }
    ck_assert_int_eq(prof_phase_fold(&marked), prof_phase_fold(&direct));
    ck_assert_mem_eq(marked.dur_us, direct.dur_us,
                     sizeof(marked.dur_us) - sizeof(marked.dur_us[0]));
    prof_phase_firsts(&marked);
    prof_phase_firsts(&direct);
    ck_assert_mem_eq(marked.first_us, direct.first_us,
                     sizeof(marked.first_us));
    /* The elapsed time is what the real clock took, read and all. */
    ck_assert_int_eq(prof_phase_elapsed(&marked),
                     17 + prof_clock_ticks_us(marked.last_tick - t0));
}
END_TEST

/* The span API measures against prof_phase_start_us(): the monotonic
 * clock (in microseconds) at the record's start, worked out later from the
 * ticks since. Here 5 ms later, on either tick source: within a
 * millisecond of the clock read at the start, and the same on every call
 * after the first. */
START_TEST(start_us_is_the_clock_at_the_start)
{
    struct timespec nap = { 0, 5 * 1000 * 1000 };
    prof_phase_rec_t rec;
    prof_mono_us_t before, after, got;

    ticks_for(_i);
    memset(&rec, 0xa5, sizeof(rec));
    before = prof_clock_now_us();
    prof_phase_rec_start(&rec, prof_clock_tick(), 250);
    after = prof_clock_now_us();
    ck_assert_int_eq(rec.start_us, 0);          /* not read until asked */
    while (nanosleep(&nap, &nap) != 0) {
        /* interrupted: sleep the rest */
    }
    got = prof_phase_start_us(&rec);
    ck_assert_msg(got >= before - 1000 && got <= after + 1000,
                  "start_us %lld, the clock said %lld..%lld at the start "
                  "(%s ticks)", (long long)got, (long long)before,
                  (long long)after, prof_clock_ticks_conf.tsc ? "TSC" : "ns");
    ck_assert_int_eq(rec.start_us, got);
    while (nanosleep(&nap, &nap) != 0) {
    }
    ck_assert_int_eq(prof_phase_start_us(&rec), got);
    /* Edges in between change nothing of it. */
    prof_phase_mark(&rec, PROF_PHASE_HANDLER);
    ck_assert_int_eq(prof_phase_start_us(&rec), got);
}
END_TEST

/* Spans may be started from threads other than the request's: the first
 * to ask sets start_us, and every thread gets the value it set, however
 * they race. Each thread computes a value of its own (it reads the tick
 * and the clock at its own moment, and they differ by a microsecond now
 * and then), so a loser that kept its own would show. The threads spin on
 * a shared generation number rather than sleep on a barrier, so that they
 * are let go within a cache line's transfer of one another. */
#define RACERS 4
#define RACES 20000

typedef struct {
    prof_phase_rec_t *rec;
    unsigned *go;               /* the race to run, 1..RACES */
    unsigned *done;             /* racers through the current race */
    prof_mono_us_t got[RACES];
} racer_t;

static void spin_until(unsigned *p, unsigned want)
{
    unsigned n = 0;

    while (__atomic_load_n(p, __ATOMIC_ACQUIRE) != want) {
        if (++n % 64 == 0) {
            sched_yield();      /* more threads than cores */
        }
    }
}

static void *racer(void *data)
{
    racer_t *me = data;
    unsigned k;

    for (k = 0; k < RACES; ++k) {
        spin_until(me->go, k + 1);
        me->got[k] = prof_phase_start_us(me->rec);
        __atomic_add_fetch(me->done, 1, __ATOMIC_ACQ_REL);
    }
    return NULL;
}

START_TEST(start_us_same_for_racing_threads)
{
    pthread_t tid[RACERS];
    static racer_t racers[RACERS];
    prof_phase_rec_t rec;
    prof_mono_us_t want;
    unsigned go = 0, done = 0, k;
    int i;

    ticks_for(_i);
    for (i = 0; i < RACERS; ++i) {
        racers[i].rec = &rec;
        racers[i].go = &go;
        racers[i].done = &done;
        ck_assert_int_eq(pthread_create(&tid[i], NULL, racer, &racers[i]),
                         0);
    }
    for (k = 0; k < RACES; ++k) {
        prof_phase_rec_start(&rec, prof_clock_tick() - (prof_tick_t)k * 7,
                             0);
        __atomic_store_n(&done, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&go, k + 1, __ATOMIC_RELEASE);
        spin_until(&done, RACERS);
        want = prof_phase_start_us(&rec);
        ck_assert_int_ne(want, 0);
        for (i = 0; i < RACERS; ++i) {
            ck_assert_msg(racers[i].got[k] == want, "race %u: thread %d got "
                          "%lld, the record has %lld", k, i,
                          (long long)racers[i].got[k], (long long)want);
        }
    }
    for (i = 0; i < RACERS; ++i) {
        pthread_join(tid[i], NULL);
    }
}
END_TEST

Suite *prof_phase_suite(void)
{
    Suite *s = suite_create("prof_phase");
    TCase *tc;

    tc = tcase_create("names");
    tcase_add_loop_test(tc, phase_name_in_order, 0, PROF_PHASE_COUNT);
    tcase_add_loop_test(tc, phase_name_out_of_range, 0,
                        (int)(sizeof(out_of_range) / sizeof(out_of_range[0])));
    tcase_add_test(tc, phase_enum_matches_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("record");
    tcase_add_checked_fixture(tc, ticks_ns, ticks_ns);
    tcase_add_loop_test(tc, rec_start_clamps_read, 0,
                        (int)(sizeof(read_in) / sizeof(read_in[0])));
    tcase_add_test(tc, edge_closes_previous);
    tcase_add_test(tc, reenter_accumulates);
    tcase_add_test(tc, durations_round_the_sum_of_ticks);
    tcase_add_test(tc, first_entry_offsets);
    tcase_add_test(tc, enter_open_phase_again);
    tcase_add_test(tc, leave_only_the_open_phase);
    tcase_add_test(tc, backwards_adds_nothing);
    tcase_add_loop_test(tc, enter_not_enterable, 0,
                        (int)(sizeof(not_enterable) / sizeof(not_enterable[0])));
    tcase_add_loop_test(tc, leave_not_enterable_does_nothing, 0,
                        (int)(sizeof(not_enterable) / sizeof(not_enterable[0])));
    tcase_add_test(tc, total_is_read_plus_elapsed);
    tcase_add_test(tc, seen_bits);
    tcase_add_test(tc, write_st_matches_checked_writer);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_add_checked_fixture(tc, ticks_ns, ticks_ns);
    tcase_add_loop_test(tc, random_sequences, 0, 1000);
    suite_add_tcase(s, tc);

    tc = tcase_create("clock");
    tcase_add_checked_fixture(tc, ticks_ns, ticks_ns);
    /* The racing threads spin: on a loaded 2-core machine 20,000 races
     * took longer than check's default 4 s (CI, 2026-12-02). */
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, mark_is_edge_now, 0, 200);
    tcase_add_loop_test(tc, start_us_is_the_clock_at_the_start, 0, 2);
    tcase_add_loop_test(tc, start_us_same_for_racing_threads, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
