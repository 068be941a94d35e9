/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the monotonic clock (src/prof_clock.h) and the phase record
 * (src/prof_phase.c).
 *
 * The clock is header-only and the phase record is its one consumer in the
 * core, so its suite lives here rather than in a file of its own.
 *
 * The phase record is driven with made-up timestamps, never with the real
 * clock: every expected duration below is then exact.
 */

#include <limits.h>
#include <string.h>
#include <time.h>

#include "prof_clock.h"
#include "prof_phase.h"
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

Suite *prof_clock_suite(void)
{
    Suite *s = suite_create("prof_clock");
    TCase *tc = tcase_create("now");

    tcase_add_test(tc, clock_never_goes_back);
    tcase_add_test(tc, clock_is_the_monotonic_clock);
    tcase_add_test(tc, clock_advances_in_microseconds);
    suite_add_tcase(s, tc);
    return s;
}

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

#define T0 ((prof_mono_us_t)1000000)

/* A record as a caller would find it in freshly allocated, unzeroed memory:
 * rec_start must not depend on the memory having been cleared. */
static void start_dirty(prof_phase_rec_t *rec, prof_mono_us_t now,
                        apr_interval_time_t read_us)
{
    memset(rec, 0xa5, sizeof(*rec));
    prof_phase_rec_start(rec, now, read_us);
}

static const apr_interval_time_t read_in[] = {
    0, 1, 1500, -1, -1500, APR_INT64_MIN
};

START_TEST(rec_start_clamps_read)
{
    prof_phase_rec_t rec;
    apr_interval_time_t in = read_in[_i];
    int i;

    start_dirty(&rec, T0, in);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_READ], in > 0 ? in : 0);
    for (i = 1; i < PROF_PHASE_COUNT; ++i) {
        ck_assert_int_eq(rec.dur_us[i], 0);
    }
    ck_assert_int_eq(rec.open, PROF_PHASE_NONE);
    ck_assert_int_eq(rec.start_us, T0);
    ck_assert_uint_eq(rec.seen, 1u << PROF_PHASE_READ);
    ck_assert_int_eq(prof_phase_total(&rec, T0), in > 0 ? in : 0);
}
END_TEST

START_TEST(enter_closes_previous)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    prof_phase_enter(&rec, PROF_PHASE_TRANSLATE, T0 + 10);
    ck_assert_int_eq(rec.open, PROF_PHASE_TRANSLATE);
    prof_phase_enter(&rec, PROF_PHASE_STORAGE, T0 + 60);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TRANSLATE], 50);
    ck_assert_int_eq(rec.open, PROF_PHASE_STORAGE);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_STORAGE], 0);
    prof_phase_close(&rec, T0 + 160);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_STORAGE], 100);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TRANSLATE], 50);
    ck_assert_int_eq(rec.open, PROF_PHASE_NONE);
}
END_TEST

/* Internal redirects run phases again: the durations add up. */
START_TEST(reenter_accumulates)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    prof_phase_enter(&rec, PROF_PHASE_ACCESS, T0 + 100);
    prof_phase_leave(&rec, PROF_PHASE_ACCESS, T0 + 110);
    prof_phase_enter(&rec, PROF_PHASE_HANDLER, T0 + 150);
    prof_phase_enter(&rec, PROF_PHASE_ACCESS, T0 + 200);
    prof_phase_leave(&rec, PROF_PHASE_ACCESS, T0 + 230);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_ACCESS], 40);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_HANDLER], 50);
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
    ck_assert_int_eq(rec.first_us[PROF_PHASE_READ], 0);
    for (i = 1; i < PROF_PHASE_COUNT; ++i) {
        ck_assert_int_eq(rec.first_us[i], -1);
    }
    prof_phase_enter(&rec, PROF_PHASE_POSTREAD, T0 + 5);
    prof_phase_leave(&rec, PROF_PHASE_POSTREAD, T0 + 7);
    prof_phase_enter(&rec, PROF_PHASE_ACCESS, T0 + 100);
    prof_phase_leave(&rec, PROF_PHASE_ACCESS, T0 + 110);
    prof_phase_enter(&rec, PROF_PHASE_ACCESS, T0 + 200);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_POSTREAD], 45);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_ACCESS], 140);
    ck_assert_int_eq(rec.first_us[PROF_PHASE_TRANSLATE], -1);
    /* The gap between postread and access is in no phase. */
    ck_assert_int_gt(rec.first_us[PROF_PHASE_ACCESS],
                     rec.first_us[PROF_PHASE_POSTREAD]
                     + rec.dur_us[PROF_PHASE_POSTREAD]);
}
END_TEST

/* Entering the open phase again closes and reopens it: nothing is counted
 * twice and nothing is lost. */
START_TEST(enter_open_phase_again)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    prof_phase_enter(&rec, PROF_PHASE_FIXUPS, T0 + 100);
    prof_phase_enter(&rec, PROF_PHASE_FIXUPS, T0 + 130);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_FIXUPS], 30);
    ck_assert_int_eq(rec.open, PROF_PHASE_FIXUPS);
    ck_assert_int_eq(rec.open_us, T0 + 130);
    prof_phase_leave(&rec, PROF_PHASE_FIXUPS, T0 + 135);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_FIXUPS], 35);
}
END_TEST

START_TEST(leave_only_the_open_phase)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    prof_phase_leave(&rec, PROF_PHASE_AUTHN, T0 + 50);     /* none open */
    ck_assert_int_eq(rec.open, PROF_PHASE_NONE);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_AUTHN], 0);

    prof_phase_enter(&rec, PROF_PHASE_AUTHN, T0 + 100);
    prof_phase_leave(&rec, PROF_PHASE_AUTHZ, T0 + 150);    /* another one */
    ck_assert_int_eq(rec.open, PROF_PHASE_AUTHN);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_AUTHN], 0);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_AUTHZ], 0);

    prof_phase_leave(&rec, PROF_PHASE_AUTHN, T0 + 170);
    ck_assert_int_eq(rec.open, PROF_PHASE_NONE);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_AUTHN], 70);

    prof_phase_leave(&rec, PROF_PHASE_AUTHN, T0 + 900);    /* twice */
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_AUTHN], 70);
}
END_TEST

START_TEST(close_backwards_adds_nothing)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 0);
    prof_phase_enter(&rec, PROF_PHASE_TYPE, T0 + 100);
    prof_phase_close(&rec, T0 + 90);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TYPE], 0);
    ck_assert_int_eq(rec.open, PROF_PHASE_NONE);

    /* Equal times add nothing either, and the phase still closes. */
    prof_phase_enter(&rec, PROF_PHASE_TYPE, T0 + 200);
    prof_phase_close(&rec, T0 + 200);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TYPE], 0);
    ck_assert_int_eq(rec.open, PROF_PHASE_NONE);

    /* An earlier, good duration survives a later backwards step. */
    prof_phase_enter(&rec, PROF_PHASE_TYPE, T0 + 300);
    prof_phase_close(&rec, T0 + 340);
    prof_phase_enter(&rec, PROF_PHASE_TYPE, T0 + 400);
    prof_phase_enter(&rec, PROF_PHASE_FIXUPS, T0 + 10);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TYPE], 40);
    ck_assert_int_eq(rec.open, PROF_PHASE_FIXUPS);
}
END_TEST

START_TEST(close_when_nothing_open)
{
    prof_phase_rec_t rec, copy;

    start_dirty(&rec, T0, 25);
    memcpy(&copy, &rec, sizeof(rec));
    prof_phase_close(&rec, T0 + 1000);
    ck_assert_mem_eq(&rec, &copy, sizeof(rec));
}
END_TEST

/* "read" is given at the start and "total" is computed: neither is ever
 * entered. Entering one (or an out-of-range phase) only closes the open
 * phase, never writes past the array, and leaves total = read + elapsed:
 * time added to "read" after the start would be counted twice. */
static const int not_enterable[] = {
    PROF_PHASE_READ, PROF_PHASE_TOTAL, PROF_PHASE_COUNT
};

START_TEST(enter_not_enterable)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 700);
    prof_phase_enter(&rec, PROF_PHASE_LOG, T0 + 100);
    prof_phase_enter(&rec, (prof_phase_t)not_enterable[_i], T0 + 130);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_LOG], 30);
    ck_assert_int_eq(rec.open, PROF_PHASE_NONE);
    prof_phase_close(&rec, T0 + 500);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_READ], 700);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TOTAL], 0);
    ck_assert_int_eq(prof_phase_total(&rec, T0 + 500), 1200);
    rec.seen &= ~(1u << PROF_PHASE_TOTAL);
    ck_assert_uint_eq(rec.seen,
                      (1u << PROF_PHASE_READ) | (1u << PROF_PHASE_LOG));
}
END_TEST

START_TEST(total_is_read_plus_elapsed)
{
    prof_phase_rec_t rec;

    start_dirty(&rec, T0, 700);
    ck_assert_int_eq(prof_phase_total(&rec, T0), 700);
    prof_phase_enter(&rec, PROF_PHASE_HANDLER, T0 + 100);
    /* An open phase does not change the total: it is wall-to-wall time. */
    ck_assert_int_eq(prof_phase_total(&rec, T0 + 1000), 1700);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TOTAL], 1700);
    ck_assert(prof_phase_seen(&rec, PROF_PHASE_TOTAL));
    ck_assert_int_eq(rec.open, PROF_PHASE_HANDLER);
    /* A clock before the start gives the read time, not less. */
    ck_assert_int_eq(prof_phase_total(&rec, T0 - 5000), 700);
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_TOTAL], 700);
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
    prof_phase_enter(&rec, PROF_PHASE_QUICK, T0 + 1);
    prof_phase_enter(&rec, PROF_PHASE_BODY, T0 + 2);
    prof_phase_leave(&rec, PROF_PHASE_BODY, T0 + 3);
    /* leave of a phase never entered does not mark it */
    prof_phase_leave(&rec, PROF_PHASE_AUTHZ, T0 + 4);
    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        int want = i == PROF_PHASE_READ || i == PROF_PHASE_QUICK
                   || i == PROF_PHASE_BODY;
        ck_assert_msg((int)prof_phase_seen(&rec, i) == want,
                      "seen(%s) = %u", canonical[i],
                      (unsigned)prof_phase_seen(&rec, i));
    }
    /* A phase entered with zero duration is still seen. */
    prof_phase_enter(&rec, PROF_PHASE_AUTHZ, T0 + 5);
    prof_phase_close(&rec, T0 + 5);
    ck_assert(prof_phase_seen(&rec, PROF_PHASE_AUTHZ));
    ck_assert_int_eq(rec.dur_us[PROF_PHASE_AUTHZ], 0);
}
END_TEST

/*
 * Random enter/leave/close sequences on a clock that never goes back, like
 * the hooks of a request with internal redirects and RUN_FIRST hooks that
 * end phases early. Checked two ways:
 *  - against a model written from the header's contract;
 *  - against the accounting identity: every microsecond since the start is
 *    in exactly one phase or in no phase, so
 *        total = sum(phases) + time open now + time with nothing open
 *    and hence sum(phases) <= total at every step.
 */
typedef struct {
    apr_interval_time_t dur[PROF_PHASE_COUNT];
    int open;
    prof_mono_us_t open_at;
    apr_uint32_t seen;
} phase_model_t;

static void model_close(phase_model_t *m, prof_mono_us_t now)
{
    if (m->open != PROF_PHASE_NONE) {
        if (now > m->open_at) {
            m->dur[m->open] += now - m->open_at;
        }
        m->open = PROF_PHASE_NONE;
    }
}

START_TEST(random_sequences)
{
    uint64_t rs = unit_seed(_i);
    prof_phase_rec_t rec;
    phase_model_t m;
    prof_mono_us_t now = (prof_mono_us_t)(unit_rand(&rs) % (UINT64_C(1) << 40));
    apr_interval_time_t read_us = (apr_interval_time_t)(unit_rand(&rs) % 2000000)
                                  - 500000;
    apr_interval_time_t idle = 0, sum, total;
    int steps = 1 + (int)(unit_rand(&rs) % 60), s, i;

    memset(&m, 0, sizeof(m));
    m.open = PROF_PHASE_NONE;
    m.dur[PROF_PHASE_READ] = read_us > 0 ? read_us : 0;
    m.seen = 1u << PROF_PHASE_READ;
    start_dirty(&rec, now, read_us);

    for (s = 0; s < steps; ++s) {
        uint64_t r = unit_rand(&rs);
        /* READ, TOTAL and COUNT included: they must only close. */
        int phase = (int)((r >> 8) % (PROF_PHASE_COUNT + 1));
        apr_interval_time_t step = (r >> 32) % 4 == 0 ? 0
                                   : (apr_interval_time_t)((r >> 16) % 5000);

        if (rec.open == PROF_PHASE_NONE) {
            idle += step;
        }
        now += step;
        switch (r % 4) {
        case 0:
        case 1:
            prof_phase_enter(&rec, (prof_phase_t)phase, now);
            model_close(&m, now);
            if (phase > PROF_PHASE_READ && phase < PROF_PHASE_TOTAL) {
                m.open = phase;
                m.open_at = now;
                m.seen |= 1u << phase;
            }
            break;
        case 2:
            /* Mostly the open phase, so that leave does close things. */
            if ((r >> 40) % 2 && rec.open != PROF_PHASE_NONE) {
                phase = rec.open;
            }
            prof_phase_leave(&rec, (prof_phase_t)phase, now);
            if (m.open == phase) {
                model_close(&m, now);
            }
            break;
        default:
            prof_phase_close(&rec, now);
            model_close(&m, now);
            break;
        }

        ck_assert_int_eq(rec.open, m.open);
        for (i = 0; i < PROF_PHASE_TOTAL; ++i) {
            ck_assert_msg(rec.dur_us[i] == m.dur[i],
                          "step %d: %s = %lld, want %lld", s, canonical[i],
                          (long long)rec.dur_us[i], (long long)m.dur[i]);
            ck_assert_int_ge(rec.dur_us[i], 0);
        }
        ck_assert_uint_eq(rec.seen & ~(1u << PROF_PHASE_TOTAL), m.seen);

        sum = 0;
        for (i = 0; i < PROF_PHASE_TOTAL; ++i) {
            sum += rec.dur_us[i];
        }
        total = prof_phase_total(&rec, now);
        ck_assert_int_le(sum, total);
        ck_assert_int_eq(total, sum + idle
                         + (rec.open != PROF_PHASE_NONE ? now - rec.open_us : 0));
    }

    now += (apr_interval_time_t)(unit_rand(&rs) % 1000);
    prof_phase_close(&rec, now);
    sum = 0;
    for (i = 0; i < PROF_PHASE_TOTAL; ++i) {
        sum += rec.dur_us[i];
    }
    ck_assert_int_le(sum, prof_phase_total(&rec, now));
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

/* Marks folded later give exactly what enter/leave at the marks' times give,
 * also past PROF_PHASE_MARKS, where marking folds early. */
START_TEST(marks_fold_like_enter_and_leave)
{
    uint64_t rng = 0xabc + (uint64_t)_i;
    prof_phase_rec_t marked, direct;
    prof_mono_us_t now = prof_clock_now_us(), last = now;
    int k, n = 1 + (int)(unit_rand(&rng) % (3 * PROF_PHASE_MARKS));

    prof_phase_rec_start(&marked, now, 17);
    prof_phase_rec_start(&direct, now, 17);
    for (k = 0; k < n; ++k) {
        int phase = (int)(unit_rand(&rng) % PROF_PHASE_COUNT);
        int leave = (unit_rand(&rng) % 4) == 0;
        int what = leave ? (PROF_MARK_LEAVE | phase) : phase;
        unsigned slot = marked.nmarks == PROF_PHASE_MARKS ? 0 : marked.nmarks;

        prof_phase_mark(&marked, what);
        ck_assert_int_eq(prof_phase_current(&marked),
                         leave ? PROF_PHASE_NONE : phase);
        last = prof_clock_ts_us(&marked.marks[slot].ts);
        if (leave) {
            prof_phase_leave(&direct, (prof_phase_t)phase, last);
        }
        else {
            prof_phase_enter(&direct, (prof_phase_t)phase, last);
        }
    }
    /* The time to first byte without folding is the total after it. */
    ck_assert_int_eq(prof_phase_last_mark_us(&marked), last);
    {
        apr_interval_time_t unfolded = prof_phase_elapsed(&marked, last);

        ck_assert_int_eq(prof_phase_fold(&marked), last);
        ck_assert_int_eq(prof_phase_total(&marked, last), unfolded);
        ck_assert_int_eq(prof_phase_total(&direct, last), unfolded);
        ck_assert_int_eq(prof_phase_last_mark_us(&marked), last);
    }
    ck_assert_uint_eq(marked.nmarks, 0);
    ck_assert_mem_eq(marked.dur_us, direct.dur_us, sizeof(direct.dur_us));
    ck_assert_mem_eq(marked.first_us, direct.first_us,
                     sizeof(direct.first_us));
    ck_assert_int_eq(marked.open, direct.open);
    ck_assert_uint_eq(marked.seen, direct.seen);
    /* Folding again changes nothing. */
    ck_assert_int_eq(prof_phase_fold(&marked), last);
    ck_assert_mem_eq(marked.dur_us, direct.dur_us, sizeof(direct.dur_us));
}
END_TEST

Suite *prof_phase_suite(void)
{
    Suite *s = suite_create("prof_phase");
    TCase *tc;

    tc = tcase_create("marks");
    tcase_add_loop_test(tc, marks_fold_like_enter_and_leave, 0, 200);
    tcase_add_test(tc, write_st_matches_checked_writer);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_loop_test(tc, phase_name_in_order, 0, PROF_PHASE_COUNT);
    tcase_add_loop_test(tc, phase_name_out_of_range, 0,
                        (int)(sizeof(out_of_range) / sizeof(out_of_range[0])));
    tcase_add_test(tc, phase_enum_matches_names);
    suite_add_tcase(s, tc);

    tc = tcase_create("record");
    tcase_add_loop_test(tc, rec_start_clamps_read, 0,
                        (int)(sizeof(read_in) / sizeof(read_in[0])));
    tcase_add_test(tc, enter_closes_previous);
    tcase_add_test(tc, reenter_accumulates);
    tcase_add_test(tc, first_entry_offsets);
    tcase_add_test(tc, enter_open_phase_again);
    tcase_add_test(tc, leave_only_the_open_phase);
    tcase_add_test(tc, close_backwards_adds_nothing);
    tcase_add_test(tc, close_when_nothing_open);
    tcase_add_loop_test(tc, enter_not_enterable, 0,
                        (int)(sizeof(not_enterable) / sizeof(not_enterable[0])));
    tcase_add_test(tc, total_is_read_plus_elapsed);
    tcase_add_test(tc, seen_bits);
    suite_add_tcase(s, tc);

    tc = tcase_create("random");
    tcase_add_loop_test(tc, random_sequences, 0, 1000);
    suite_add_tcase(s, tc);
    return s;
}
