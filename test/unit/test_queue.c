/* Licensed under the Apache License, Version 2.0. */

/*
 * The hand-off queue and its writer: order, bounds, close and flush, and
 * many producers against one writer (run under ASan+UBSan in the sanitizer
 * build, which also sees every record that is not freed).
 *
 * Nothing here asserts that something happens within a short time: waits
 * are checked from below only, and "it woke early" is checked against
 * waits of 30 s with deadlines of 10 s, far from both ends.
 */

#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <pthread.h>

#include "apr_atomic.h"
#include "apr_pools.h"
#include "apr_thread_proc.h"

#include "prof_clock.h"
#include "prof_queue.h"
#include "unit.h"

/* Long enough that a test passing by timing out would fail its deadline. */
#define LONG_WAIT_US   (30 * APR_USEC_PER_SEC)
#define DEADLINE_US    (10 * APR_USEC_PER_SEC)


/* Small integers as items, for the tests that never free them. */
#define ITEM(k) ((void *)(uintptr_t)((k) + 1))
#define KEY(p)  ((apr_size_t)(uintptr_t)(p) - 1)

/* Poll *flag until it reaches want or DEADLINE_US passes. */
static int wait_for(volatile apr_uint32_t *flag, apr_uint32_t want)
{
    prof_mono_us_t end = prof_clock_now_us() + DEADLINE_US;

    while (apr_atomic_read32(flag) < want) {
        if (prof_clock_now_us() > end) {
            return 0;
        }
        apr_sleep(1000);
    }
    return 1;
}

/* A record as the store pushes them: malloc'd by the producer, freed by
 * whoever owns it last. */
typedef struct {
    apr_uint32_t producer;
    apr_uint32_t seq;
} rec_t;

static rec_t *rec_new(apr_uint32_t producer, apr_uint32_t seq)
{
    rec_t *r = malloc(sizeof(*r));

    ck_assert_ptr_nonnull(r);
    r->producer = producer;
    r->seq = seq;
    return r;
}

/* What write_batch saw. Only the writer thread writes it; the test reads
 * it after prof_writer_stop(), whose join orders the two, or through the
 * atomic counters while the writer runs. */
#define PRODUCERS 8
#define PER_PRODUCER 20000
#define TOTAL (PRODUCERS * PER_PRODUCER)

typedef struct {
    volatile apr_uint32_t calls;
    volatile apr_uint32_t delivered;
    apr_uint32_t errors;            /* duplicates, out of order, unknown */
    apr_uint64_t checksum;          /* sum of producer * PER + seq + 1 */
    apr_int64_t last_seq[PRODUCERS];
    unsigned char *seen;            /* TOTAL of them */
    int fail_odd_calls;             /* calls 1, 3, 5, ... return an error */
    volatile apr_uint32_t gone;     /* what write_batch needs was freed */
} sink_t;

static void sink_init(sink_t *s)
{
    int i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < PRODUCERS; ++i) {
        s->last_seq[i] = -1;
    }
    s->seen = calloc(TOTAL, 1);
    ck_assert_ptr_nonnull(s->seen);
}

static void sink_free(sink_t *s)
{
    free(s->seen);
    s->seen = NULL;
}

static apr_status_t sink_write(void *baton, void **items, apr_size_t n)
{
    sink_t *s = baton;
    apr_uint32_t call = apr_atomic_inc32(&s->calls) + 1;
    apr_size_t k;

    if (apr_atomic_read32(&s->gone)) {
        s->errors++;                /* a database handle would be gone */
    }
    for (k = 0; k < n; ++k) {
        rec_t *r = items[k];
        apr_size_t id;

        if (r == NULL || r->producer >= PRODUCERS || r->seq >= PER_PRODUCER) {
            s->errors++;
            continue;
        }
        id = (apr_size_t)r->producer * PER_PRODUCER + r->seq;
        if (s->seen[id] || (apr_int64_t)r->seq <= s->last_seq[r->producer]) {
            s->errors++;            /* twice, or a producer's order broken */
        }
        s->seen[id] = 1;
        s->last_seq[r->producer] = r->seq;
        s->checksum += id + 1;
        free(r);                    /* ours whatever we return */
    }
    apr_atomic_add32(&s->delivered, (apr_uint32_t)n);
    return (s->fail_odd_calls && call % 2 == 1) ? APR_EGENERAL : APR_SUCCESS;
}

START_TEST(bad_arguments_and_nulls)
{
    prof_queue_t *q = (prof_queue_t *)&q;
    prof_writer_t *w = (prof_writer_t *)&w;
    void *out[4];

    ck_assert_int_eq(prof_queue_create(&q, 0, unit_pool), APR_EINVAL);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(prof_queue_create(&q, APR_SIZE_MAX, unit_pool), APR_EINVAL);
    ck_assert_ptr_null(q);
    ck_assert_int_eq(prof_queue_push(NULL, ITEM(0)), 0);
    ck_assert_uint_eq(prof_queue_pop_batch(NULL, out, 4, 1000), 0);
    prof_queue_close(NULL);
    prof_queue_set_batch_at(NULL, 3);
    ck_assert_int_eq(prof_queue_drained(NULL), 0);
    ck_assert_uint_eq(prof_queue_length(NULL), 0);
    ck_assert_uint_eq(prof_queue_pushed(NULL), 0);
    ck_assert_uint_eq(prof_queue_dropped(NULL), 0);
    ck_assert_uint_eq(prof_queue_refused(NULL), 0);

    ck_assert_int_eq(prof_queue_create(&q, 4, unit_pool), APR_SUCCESS);
    ck_assert_ptr_nonnull(q);
    ck_assert_int_eq(prof_queue_push(q, ITEM(0)), 1);
    /* NULL out or a max of 0 take nothing, and do not wait. */
    ck_assert_uint_eq(prof_queue_pop_batch(q, NULL, 4, LONG_WAIT_US), 0);
    ck_assert_uint_eq(prof_queue_pop_batch(q, out, 0, LONG_WAIT_US), 0);
    ck_assert_uint_eq(prof_queue_length(q), 1);

    ck_assert_int_eq(prof_writer_start(&w, NULL, 1, 1000, sink_write, NULL,
                                       NULL,
                                       unit_pool), APR_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(prof_writer_start(&w, q, 0, 1000, sink_write, NULL, NULL,
                                       unit_pool), APR_EINVAL);
    ck_assert_int_eq(prof_writer_start(&w, q, 1, 0, sink_write, NULL, NULL,
                                       unit_pool), APR_EINVAL);
    ck_assert_int_eq(prof_writer_start(&w, q, 1, -5, sink_write, NULL, NULL,
                                       unit_pool), APR_EINVAL);
    ck_assert_int_eq(prof_writer_start(&w, q, 1, 1000, NULL, NULL, NULL,
                                       unit_pool), APR_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(prof_writer_stop(NULL), APR_SUCCESS);
}
END_TEST

/* Capacity and batch size: the ring must wrap at every offset. */
static const struct {
    apr_size_t capacity, max;
} fifo_cases[] = {
    { 1, 1 }, { 1, 4 }, { 2, 1 }, { 3, 2 }, { 5, 5 }, { 7, 3 },
    { 8, 16 }, { 64, 64 }, { 64, 100 }, { 100, 7 },
};

/* Random pushes and non-waiting pops against a model: items come out in
 * push order, the bound holds, and the counters add up. */
START_TEST(fifo_against_a_model)
{
    apr_size_t cap = fifo_cases[_i].capacity, max = fifo_cases[_i].max;
    apr_size_t next_in = 0, next_out = 0, n, k, dropped = 0;
    uint64_t seed = unit_seed(_i);
    prof_queue_t *q;
    void *out[128];
    int op;

    ck_assert_int_eq(prof_queue_create(&q, cap, unit_pool), APR_SUCCESS);
    for (op = 0; op < 5000; ++op) {
        if (unit_rand(&seed) % 3 != 0) {        /* pushes outnumber pops */
            int full = (next_in - next_out == cap);

            ck_assert_int_eq(prof_queue_push(q, ITEM(next_in)), !full);
            if (full) {
                dropped++;
            }
            else {
                next_in++;
            }
        }
        else {
            apr_size_t ask = 1 + (apr_size_t)(unit_rand(&seed) % max);

            n = prof_queue_pop_batch(q, out, ask, 0);
            ck_assert_uint_eq(n, next_in - next_out < ask ? next_in - next_out
                                                          : ask);
            for (k = 0; k < n; ++k) {
                ck_assert_uint_eq(KEY(out[k]), next_out);
                next_out++;
            }
        }
        ck_assert_uint_eq(prof_queue_length(q), next_in - next_out);
    }
    ck_assert_uint_eq(prof_queue_pushed(q), next_in);
    ck_assert_uint_eq(prof_queue_dropped(q), dropped);
    ck_assert_uint_eq(prof_queue_refused(q), 0);
    ck_assert_int_eq(prof_queue_drained(q), 0);
}
END_TEST

/* No consumer at all: a push that waited for room would never return. Each
 * one returns 0 at once and is counted; the average is checked only
 * against a bound a thousand times too large to be flaky (1 ms). */
START_TEST(full_queue_drops_without_blocking)
{
    enum { CAP = 8, EXTRA = 100000 };
    prof_queue_t *q;
    prof_mono_us_t t0, took;
    void *out[CAP + 1];
    apr_size_t k;

    ck_assert_int_eq(prof_queue_create(&q, CAP, unit_pool), APR_SUCCESS);
    for (k = 0; k < CAP; ++k) {
        ck_assert_int_eq(prof_queue_push(q, ITEM(k)), 1);
    }
    t0 = prof_clock_now_us();
    for (k = 0; k < EXTRA; ++k) {
        ck_assert_int_eq(prof_queue_push(q, ITEM(CAP + k)), 0);
    }
    took = prof_clock_now_us() - t0;
    ck_assert_int_lt(took, (prof_mono_us_t)EXTRA * 1000);
    ck_assert_uint_eq(prof_queue_dropped(q), EXTRA);
    ck_assert_uint_eq(prof_queue_pushed(q), CAP);
    ck_assert_uint_eq(prof_queue_length(q), CAP);
    /* the ones that were taken are still there, in order */
    ck_assert_uint_eq(prof_queue_pop_batch(q, out, CAP + 1, 0), CAP);
    for (k = 0; k < CAP; ++k) {
        ck_assert_uint_eq(KEY(out[k]), k);
    }
    /* room again */
    ck_assert_int_eq(prof_queue_push(q, ITEM(0)), 1);
}
END_TEST

typedef struct {
    prof_queue_t *q;
    apr_size_t max;
    apr_interval_time_t wait_us;
    void *out[64];
    apr_size_t n;
    prof_mono_us_t returned_us;
    volatile apr_uint32_t done;
} popper_t;

static void *APR_THREAD_FUNC popper_main(apr_thread_t *thd, void *data)
{
    popper_t *pp = data;

    (void)thd;
    pp->n = prof_queue_pop_batch(pp->q, pp->out, pp->max, pp->wait_us);
    pp->returned_us = prof_clock_now_us();
    apr_atomic_set32(&pp->done, 1);
    return NULL;
}

START_TEST(close_refuses_and_leaves_the_rest_to_drain)
{
    prof_queue_t *q;
    apr_thread_t *t;
    apr_status_t trv;
    prof_mono_us_t t0;
    popper_t pp;
    void *out[16];
    apr_size_t k;

    ck_assert_int_eq(prof_queue_create(&q, 4, unit_pool), APR_SUCCESS);
    for (k = 0; k < 4; ++k) {
        ck_assert_int_eq(prof_queue_push(q, ITEM(k)), 1);
    }
    ck_assert_int_eq(prof_queue_push(q, ITEM(4)), 0);        /* full */
    prof_queue_close(q);
    ck_assert_int_eq(prof_queue_drained(q), 0);              /* not yet */
    ck_assert_int_eq(prof_queue_push(q, ITEM(5)), 0);        /* full+closed */
    ck_assert_uint_eq(prof_queue_pop_batch(q, out, 1, 0), 1);
    ck_assert_int_eq(prof_queue_push(q, ITEM(6)), 0);        /* closed */
    ck_assert_uint_eq(prof_queue_dropped(q), 1);
    ck_assert_uint_eq(prof_queue_refused(q), 2);
    ck_assert_uint_eq(prof_queue_pushed(q), 4);
    /* A closed queue does not make a pop wait for its batch. */
    t0 = prof_clock_now_us();
    ck_assert_uint_eq(prof_queue_pop_batch(q, out + 1, 15, LONG_WAIT_US), 3);
    ck_assert_uint_eq(prof_queue_pop_batch(q, out + 4, 12, -1), 0);
    ck_assert_int_lt(prof_clock_now_us() - t0, DEADLINE_US);
    for (k = 0; k < 4; ++k) {
        ck_assert_uint_eq(KEY(out[k]), k);
    }
    ck_assert_int_eq(prof_queue_drained(q), 1);
    prof_queue_close(q);                                     /* again: no-op */
    ck_assert_int_eq(prof_queue_drained(q), 1);

    /* Close wakes a consumer that waits with no time limit. */
    ck_assert_int_eq(prof_queue_create(&q, 4, unit_pool), APR_SUCCESS);
    memset(&pp, 0, sizeof(pp));
    pp.q = q;
    pp.max = 4;
    pp.wait_us = -1;
    ck_assert_int_eq(apr_thread_create(&t, NULL, popper_main, &pp, unit_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(prof_queue_push(q, ITEM(0)), 1);        /* 1 of 4 */
    apr_sleep(20000);
    ck_assert_uint_eq(apr_atomic_read32(&pp.done), 0);
    prof_queue_close(q);
    ck_assert(wait_for(&pp.done, 1));
    ck_assert_int_eq(apr_thread_join(&trv, t), APR_SUCCESS);
    ck_assert_uint_eq(pp.n, 1);
    ck_assert_uint_eq(KEY(pp.out[0]), 0);
}
END_TEST

static const apr_interval_time_t empty_waits[] = { 0, 1, 20000, 50000 };

/* An empty queue: the pop returns nothing once the wait is over, and not
 * before (lower bound only, with slack for clock granularity). */
START_TEST(empty_pop_times_out)
{
    apr_interval_time_t wait_us = empty_waits[_i];
    prof_queue_t *q;
    prof_mono_us_t t0, took;
    void *out[8];

    ck_assert_int_eq(prof_queue_create(&q, 8, unit_pool), APR_SUCCESS);
    prof_queue_set_batch_at(q, 1);          /* even the first item would do */
    t0 = prof_clock_now_us();
    ck_assert_uint_eq(prof_queue_pop_batch(q, out, 8, wait_us), 0);
    took = prof_clock_now_us() - t0;
    ck_assert_int_ge(took, wait_us * 9 / 10);
}
END_TEST

/* Below the threshold a waiting pop keeps waiting; reaching it wakes the
 * pop long before its 30 s are over. Both checks hold for any scheduling:
 * a pop that returned early with fewer items would be a bug, not a race. */
START_TEST(batch_threshold_wakes_the_consumer)
{
    prof_queue_t *q;
    apr_thread_t *t;
    apr_status_t trv;
    prof_mono_us_t pushed_us;
    popper_t pp;
    apr_size_t k;

    ck_assert_int_eq(prof_queue_create(&q, 1000, unit_pool), APR_SUCCESS);
    prof_queue_set_batch_at(q, 10);
    memset(&pp, 0, sizeof(pp));
    pp.q = q;
    pp.max = 64;
    pp.wait_us = LONG_WAIT_US;
    ck_assert_int_eq(apr_thread_create(&t, NULL, popper_main, &pp, unit_pool),
                     APR_SUCCESS);
    for (k = 0; k < 9; ++k) {
        ck_assert_int_eq(prof_queue_push(q, ITEM(k)), 1);
    }
    apr_sleep(50000);
    ck_assert_uint_eq(apr_atomic_read32(&pp.done), 0);
    pushed_us = prof_clock_now_us();
    ck_assert_int_eq(prof_queue_push(q, ITEM(9)), 1);
    ck_assert(wait_for(&pp.done, 1));
    ck_assert_int_eq(apr_thread_join(&trv, t), APR_SUCCESS);
    ck_assert_int_lt(pp.returned_us - pushed_us, DEADLINE_US);
    ck_assert_uint_eq(pp.n, 10);
    for (k = 0; k < pp.n; ++k) {
        ck_assert_uint_eq(KEY(pp.out[k]), k);
    }

    /* A pop that can take only 3 does not wait for 10. */
    prof_queue_pop_batch(q, pp.out, 64, 0);
    for (k = 0; k < 3; ++k) {
        ck_assert_int_eq(prof_queue_push(q, ITEM(k)), 1);
    }
    ck_assert_uint_eq(prof_queue_pop_batch(q, pp.out, 3, LONG_WAIT_US), 3);
}
END_TEST

/* The same through the writer: a full batch is written at once, though the
 * interval is 30 s. */
START_TEST(writer_writes_a_full_batch_early)
{
    enum { BATCH = 50 };
    prof_queue_t *q;
    prof_writer_t *w;
    sink_t sink;
    apr_uint32_t k;

    sink_init(&sink);
    ck_assert_int_eq(prof_queue_create(&q, 1000, unit_pool), APR_SUCCESS);
    ck_assert_int_eq(prof_writer_start(&w, q, BATCH, LONG_WAIT_US, sink_write,
                                       NULL, &sink, unit_pool), APR_SUCCESS);
    for (k = 0; k < BATCH; ++k) {
        ck_assert_int_eq(prof_queue_push(q, rec_new(0, k)), 1);
    }
    ck_assert(wait_for(&sink.delivered, BATCH));
    ck_assert_uint_eq(apr_atomic_read32(&sink.calls), 1);
    ck_assert_int_eq(prof_writer_stop(w), APR_SUCCESS);
    ck_assert_uint_eq(apr_atomic_read32(&sink.calls), 1);
    ck_assert_uint_eq(sink.delivered, BATCH);
    ck_assert_int_eq(prof_writer_stop(w), APR_SUCCESS);      /* again: no-op */
    ck_assert_uint_eq(sink.errors, 0);
    sink_free(&sink);
}
END_TEST

/* Pops that time out on an empty queue do not end the writer: only a
 * closed and drained queue does. */
START_TEST(idle_writer_keeps_running)
{
    prof_queue_t *q;
    prof_writer_t *w;
    sink_t sink;
    apr_uint32_t k;

    sink_init(&sink);
    ck_assert_int_eq(prof_queue_create(&q, 100, unit_pool), APR_SUCCESS);
    ck_assert_int_eq(prof_writer_start(&w, q, 100, 1000, sink_write, NULL,
                                       &sink,
                                       unit_pool), APR_SUCCESS);
    apr_sleep(30000);                       /* a few dozen idle rounds */
    for (k = 0; k < 10; ++k) {
        ck_assert_int_eq(prof_queue_push(q, rec_new(0, k)), 1);
    }
    ck_assert(wait_for(&sink.delivered, 10));   /* written before the stop */
    ck_assert_int_eq(prof_writer_stop(w), APR_SUCCESS);
    ck_assert_uint_eq(sink.delivered, 10);
    ck_assert_uint_eq(sink.errors, 0);
    sink_free(&sink);
}
END_TEST

typedef struct {
    prof_queue_t *q;
    apr_uint32_t id;
    apr_uint64_t taken, refused_here, checksum;
} producer_t;

static void *APR_THREAD_FUNC producer_main(apr_thread_t *thd, void *data)
{
    producer_t *pr = data;
    apr_uint32_t k;

    (void)thd;
    for (k = 0; k < PER_PRODUCER; ++k) {
        rec_t *r = malloc(sizeof(*r));

        if (r == NULL) {
            pr->refused_here++;     /* counted as not taken; never seen */
            continue;
        }
        r->producer = pr->id;
        r->seq = k;
        if (prof_queue_push(pr->q, r)) {
            pr->taken++;
            pr->checksum += (apr_uint64_t)pr->id * PER_PRODUCER + k + 1;
        }
        else {
            free(r);                /* still ours */
            pr->refused_here++;
        }
    }
    return NULL;
}

/* Queue sizes: one small enough to overflow, one that never does. */
static const apr_size_t mp_capacity[] = { 256, TOTAL };

/* 8 producers, one writer: each item that was taken is written exactly
 * once and in its producer's order; taken + dropped == attempted. */
START_TEST(many_producers_one_writer)
{
    apr_size_t cap = mp_capacity[_i];
    apr_thread_t *t[PRODUCERS];
    producer_t pr[PRODUCERS];
    prof_queue_t *q;
    prof_writer_t *w;
    apr_uint64_t taken = 0, refused_here = 0, checksum = 0, seen = 0;
    apr_status_t trv;
    sink_t sink;
    apr_size_t k;
    int i;

    sink_init(&sink);
    ck_assert_int_eq(prof_queue_create(&q, cap, unit_pool), APR_SUCCESS);
    ck_assert_int_eq(prof_writer_start(&w, q, 500, 10000, sink_write, NULL,
                                       &sink,
                                       unit_pool), APR_SUCCESS);
    for (i = 0; i < PRODUCERS; ++i) {
        memset(&pr[i], 0, sizeof(pr[i]));
        pr[i].q = q;
        pr[i].id = (apr_uint32_t)i;
        ck_assert_int_eq(apr_thread_create(&t[i], NULL, producer_main, &pr[i],
                                           unit_pool), APR_SUCCESS);
    }
    for (i = 0; i < PRODUCERS; ++i) {
        ck_assert_int_eq(apr_thread_join(&trv, t[i]), APR_SUCCESS);
        taken += pr[i].taken;
        refused_here += pr[i].refused_here;
        checksum += pr[i].checksum;
    }
    ck_assert_int_eq(prof_writer_stop(w), APR_SUCCESS);

    ck_assert_uint_eq(sink.errors, 0);
    ck_assert_uint_eq(taken + refused_here, TOTAL);
    ck_assert_uint_eq(prof_queue_pushed(q), taken);
    ck_assert_uint_eq(prof_queue_dropped(q), refused_here);
    ck_assert_uint_eq(prof_queue_refused(q), 0);
    ck_assert_uint_eq(sink.delivered, taken);
    ck_assert_uint_eq(sink.checksum, checksum);
    for (k = 0; k < TOTAL; ++k) {
        seen += sink.seen[k];
    }
    ck_assert_uint_eq(seen, taken);
    ck_assert_int_eq(prof_queue_drained(q), 1);
    ck_assert_uint_ge(sink.calls, taken / 500);
    if (cap >= TOTAL) {
        ck_assert_uint_eq(refused_here, 0);
    }
    sink_free(&sink);
}
END_TEST

static const apr_uint32_t flush_counts[] = { 1, 63, 64, 1000, 10000 };

/* Push N, stop at once: the writer, asleep in a 30 s wait, writes all N,
 * in order, before stop returns, and stop does not wait out the 30 s. */
START_TEST(stop_flushes_everything)
{
    apr_uint32_t n = flush_counts[_i], k;
    prof_queue_t *q;
    prof_writer_t *w;
    prof_mono_us_t t0;
    sink_t sink;

    sink_init(&sink);
    ck_assert_int_eq(prof_queue_create(&q, 10000, unit_pool), APR_SUCCESS);
    ck_assert_int_eq(prof_writer_start(&w, q, 64, LONG_WAIT_US, sink_write,
                                       NULL, &sink, unit_pool), APR_SUCCESS);
    for (k = 0; k < n; ++k) {
        ck_assert_int_eq(prof_queue_push(q, rec_new(0, k)), 1);
    }
    t0 = prof_clock_now_us();
    ck_assert_int_eq(prof_writer_stop(w), APR_SUCCESS);
    ck_assert_int_lt(prof_clock_now_us() - t0, DEADLINE_US);
    ck_assert_uint_eq(sink.delivered, n);
    ck_assert_uint_eq(sink.errors, 0);          /* in order, each once */
    ck_assert_int_eq(sink.last_seq[0], (apr_int64_t)n - 1);
    ck_assert_uint_ge(sink.calls, (n + 63) / 64);
    /* after the stop, pushes are refused and the caller keeps the item */
    ck_assert_int_eq(prof_queue_push(q, ITEM(0)), 0);
    ck_assert_uint_eq(prof_queue_refused(q), 1);
    sink_free(&sink);
}
END_TEST

static apr_status_t sink_gone(void *data)
{
    apr_atomic_set32(&((sink_t *)data)->gone, 1);
    return APR_SUCCESS;
}

/* The graceful restart path: nobody calls stop, the pool that holds queue
 * and writer is destroyed, and its pre-cleanup flushes the queue while
 * everything write_batch may use is still there: things in a subpool (as
 * a connection pool would be), or with a cleanup registered after the
 * writer started. */
START_TEST(destroying_the_pool_flushes)
{
    apr_uint32_t n = flush_counts[_i], k;
    apr_pool_t *child;
    prof_queue_t *q;
    prof_writer_t *w;
    apr_pool_t *res;
    sink_t sink;

    sink_init(&sink);
    ck_assert_int_eq(apr_pool_create(&child, unit_pool), APR_SUCCESS);
    ck_assert_int_eq(apr_pool_create(&res, child), APR_SUCCESS);
    apr_pool_cleanup_register(res, &sink, sink_gone, apr_pool_cleanup_null);
    ck_assert_int_eq(prof_queue_create(&q, 10000, child), APR_SUCCESS);
    ck_assert_int_eq(prof_writer_start(&w, q, 64, LONG_WAIT_US, sink_write,
                                       NULL, &sink, child), APR_SUCCESS);
    apr_pool_cleanup_register(child, &sink, sink_gone, apr_pool_cleanup_null);
    for (k = 0; k < n; ++k) {
        ck_assert_int_eq(prof_queue_push(q, rec_new(0, k)), 1);
    }
    apr_pool_destroy(child);
    ck_assert_uint_eq(sink.delivered, n);
    ck_assert_uint_eq(sink.errors, 0);
    ck_assert_int_eq(sink.last_seq[0], (apr_int64_t)n - 1);
    sink_free(&sink);
}
END_TEST

typedef struct {
    volatile apr_uint32_t batches, idles, sigterm_blocked, checked;
} probe_t;

static int sigterm_blocked(void)
{
    sigset_t cur;

    return pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0
           && sigismember(&cur, SIGTERM) == 1
           && sigismember(&cur, SIGINT) == 1;
}

static apr_status_t probe_write(void *baton, void **items, apr_size_t n)
{
    probe_t *pb = baton;

    (void)items; (void)n;
    apr_atomic_set32(&pb->sigterm_blocked, (apr_uint32_t)sigterm_blocked());
    apr_atomic_set32(&pb->checked, 1);
    apr_atomic_inc32(&pb->batches);
    return APR_SUCCESS;
}

static void probe_idle(void *baton)
{
    apr_atomic_inc32(&((probe_t *)baton)->idles);
}

/* The writer thread runs with every signal blocked (prefork's SIGTERM
 * handler must never run on it), while the thread that started it keeps
 * its own mask; an idle writer calls idle once per interval, never
 * write_batch. */
START_TEST(writer_blocks_signals_and_ticks_when_idle)
{
    prof_queue_t *q;
    prof_writer_t *w;
    probe_t pb;
    int before = sigterm_blocked();

    memset(&pb, 0, sizeof(pb));
    ck_assert_int_eq(prof_queue_create(&q, 10, unit_pool), APR_SUCCESS);
    ck_assert_int_eq(prof_writer_start(&w, q, 10, 2000, probe_write,
                                       probe_idle, &pb, unit_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(sigterm_blocked(), before);
    ck_assert(wait_for(&pb.idles, 3));
    ck_assert_uint_eq(apr_atomic_read32(&pb.batches), 0);
    ck_assert_int_eq(prof_queue_push(q, ITEM(1)), 1);
    ck_assert(wait_for(&pb.checked, 1));
    ck_assert_uint_eq(apr_atomic_read32(&pb.sigterm_blocked), 1);
    ck_assert_int_eq(prof_writer_stop(w), APR_SUCCESS);
    ck_assert_uint_eq(apr_atomic_read32(&pb.batches), 1);
}
END_TEST

/* A killed process: abandon is one atomic store; the writer leaves at
 * the end of its wait without writing what is queued, and stop then
 * returns at once, with no lock and no join (the items stay the
 * caller's to leak or free). */
START_TEST(abandoned_writer_leaves_without_writing)
{
    prof_queue_t *q;
    prof_writer_t *w;
    probe_t pb;
    prof_mono_us_t t0;
    apr_uint32_t k;

    memset(&pb, 0, sizeof(pb));
    ck_assert_int_eq(prof_writer_exited(NULL), 1);
    prof_writer_abandon(NULL);
    ck_assert_int_eq(prof_queue_create(&q, 100, unit_pool), APR_SUCCESS);
    ck_assert_int_eq(prof_writer_start(&w, q, 100, 20000, probe_write,
                                       NULL, &pb, unit_pool), APR_SUCCESS);
    for (k = 0; k < 5; ++k) {
        ck_assert_int_eq(prof_queue_push(q, ITEM(k)), 1);
    }
    ck_assert_int_eq(prof_writer_exited(w), 0);
    prof_writer_abandon(w);
    t0 = prof_clock_now_us();
    while (!prof_writer_exited(w)) {
        ck_assert_int_lt(prof_clock_now_us() - t0, DEADLINE_US);
        apr_sleep(1000);
    }
    ck_assert_uint_eq(apr_atomic_read32(&pb.batches), 0);
    ck_assert_int_eq(prof_writer_stop(w), APR_SUCCESS);
    /* Stop neither closed the queue nor waited for anything. */
    ck_assert_int_eq(prof_queue_closed(q), 0);
}
END_TEST

/* write_batch fails on every other call, the first one included: the
 * writer goes on. 100 items waiting before the writer starts
 * make exactly ten batches of ten. */
START_TEST(failed_batches_do_not_stop_the_writer)
{
    prof_queue_t *q;
    prof_writer_t *w;
    sink_t sink;
    apr_uint32_t k;

    sink_init(&sink);
    sink.fail_odd_calls = 1;
    ck_assert_int_eq(prof_queue_create(&q, 100, unit_pool), APR_SUCCESS);
    for (k = 0; k < 100; ++k) {
        ck_assert_int_eq(prof_queue_push(q, rec_new(0, k)), 1);
    }
    ck_assert_int_eq(prof_writer_start(&w, q, 10, LONG_WAIT_US, sink_write,
                                       NULL, &sink, unit_pool), APR_SUCCESS);
    ck_assert(wait_for(&sink.delivered, 100));
    ck_assert_int_eq(prof_writer_stop(w), APR_SUCCESS);
    ck_assert_uint_eq(sink.calls, 10);
    ck_assert_uint_eq(sink.delivered, 100);
    ck_assert_uint_eq(sink.errors, 0);
    sink_free(&sink);
}
END_TEST

Suite *prof_queue_suite(void)
{
    Suite *s = suite_create("prof_queue");
    TCase *tc = tcase_create("queue");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_test(tc, bad_arguments_and_nulls);
    tcase_add_loop_test(tc, fifo_against_a_model, 0,
                        (int)(sizeof(fifo_cases) / sizeof(fifo_cases[0])));
    tcase_add_test(tc, full_queue_drops_without_blocking);
    tcase_add_test(tc, close_refuses_and_leaves_the_rest_to_drain);
    tcase_add_loop_test(tc, empty_pop_times_out, 0,
                        (int)(sizeof(empty_waits) / sizeof(empty_waits[0])));
    tcase_add_test(tc, batch_threshold_wakes_the_consumer);
    tcase_add_test(tc, writer_writes_a_full_batch_early);
    tcase_add_test(tc, idle_writer_keeps_running);
    tcase_add_loop_test(tc, many_producers_one_writer, 0,
                        (int)(sizeof(mp_capacity) / sizeof(mp_capacity[0])));
    tcase_add_loop_test(tc, stop_flushes_everything, 0,
                        (int)(sizeof(flush_counts) / sizeof(flush_counts[0])));
    tcase_add_loop_test(tc, destroying_the_pool_flushes, 0,
                        (int)(sizeof(flush_counts) / sizeof(flush_counts[0])));
    tcase_add_test(tc, failed_batches_do_not_stop_the_writer);
    tcase_add_test(tc, writer_blocks_signals_and_ticks_when_idle);
    tcase_add_test(tc, abandoned_writer_leaves_without_writing);
    suite_add_tcase(s, tc);
    return s;
}
