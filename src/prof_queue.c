/* Licensed under the Apache License, Version 2.0. */

#include <string.h>
#if APR_HAVE_SIGNAL_H
#include <signal.h>
#endif

#include "apr_atomic.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"

#include "prof_clock.h"
#include "prof_queue.h"

#if !APR_HAS_THREADS
/* A writer thread per child is the whole point of this unit; every APR that
 * httpd 2.4's threaded MPMs build against has threads. */
#error "prof_queue needs an APR built with thread support"
#endif

/* Waits longer than this count as "no limit": now + wait_us must not
 * overflow. About 31 years. */
#define WAIT_FOREVER_US ((apr_interval_time_t)1000000 * 86400 * 365 * 31)

struct prof_queue_t {
    apr_thread_mutex_t *mutex;      /* guards everything below */
    apr_thread_cond_t *ready;       /* a waiting pop may go on */
    void **items;                   /* a ring of capacity slots */
    apr_size_t capacity;
    apr_size_t head;                /* the oldest item */
    apr_size_t count;
    apr_size_t batch_at;            /* 1 .. capacity */
    apr_size_t wake_at;             /* count that wakes the waiting pop;
                                     * 0: nobody waits, or already woken */
    int closed;
    apr_uint64_t pushed;
    apr_uint64_t dropped;
    apr_uint64_t refused;
};

apr_status_t prof_queue_create(prof_queue_t **pq, apr_size_t capacity,
                               apr_pool_t *p)
{
    prof_queue_t *q = NULL;
    apr_status_t rv = APR_SUCCESS;

    if (capacity == 0 || capacity > APR_SIZE_MAX / sizeof(void *)) {
        rv = APR_EINVAL;
        goto leave;
    }
    q = apr_pcalloc(p, sizeof(*q));
    if (q == NULL
        || (q->items = apr_palloc(p, capacity * sizeof(void *))) == NULL) {
        rv = APR_ENOMEM;
        goto leave;
    }
    q->capacity = capacity;
    q->batch_at = capacity;
    if ((rv = apr_thread_mutex_create(&q->mutex, APR_THREAD_MUTEX_DEFAULT,
                                      p)) != APR_SUCCESS
        || (rv = apr_thread_cond_create(&q->ready, p)) != APR_SUCCESS) {
        goto leave;
    }

leave:
    *pq = (rv == APR_SUCCESS) ? q : NULL;
    return rv;
}

void prof_queue_set_batch_at(prof_queue_t *q, apr_size_t batch_at)
{
    if (q == NULL || apr_thread_mutex_lock(q->mutex) != APR_SUCCESS) {
        return;
    }
    q->batch_at = (batch_at == 0 || batch_at > q->capacity) ? q->capacity
                                                           : batch_at;
    apr_thread_mutex_unlock(q->mutex);
}

int prof_queue_push(prof_queue_t *q, void *item)
{
    apr_size_t tail;
    int taken = 0, wake = 0;

    if (q == NULL || apr_thread_mutex_lock(q->mutex) != APR_SUCCESS) {
        return 0;
    }
    if (q->closed) {
        q->refused++;
    }
    else if (q->count == q->capacity) {
        q->dropped++;
    }
    else {
        tail = q->head + q->count;
        if (tail >= q->capacity) {
            tail -= q->capacity;
        }
        q->items[tail] = item;
        q->count++;
        q->pushed++;
        taken = 1;
        if (q->wake_at && q->count >= q->wake_at) {
            q->wake_at = 0;         /* one signal per wait is enough */
            wake = 1;
        }
    }
    apr_thread_mutex_unlock(q->mutex);
    /* Signalled after the unlock, so that the woken writer does not run
     * straight into our mutex. A signal that comes late can only wake a
     * later wait early, and the consumer checks again before it goes on. */
    if (wake) {
        apr_thread_cond_signal(q->ready);
    }
    return taken;
}

apr_size_t prof_queue_pop_batch(prof_queue_t *q, void **out, apr_size_t max,
                                apr_interval_time_t wait_us)
{
    prof_mono_us_t deadline = 0;
    apr_interval_time_t left;
    apr_size_t want, n, first;
    apr_status_t rv;
    int forever = (wait_us < 0 || wait_us > WAIT_FOREVER_US);

    if (q == NULL || out == NULL || max == 0
        || apr_thread_mutex_lock(q->mutex) != APR_SUCCESS) {
        return 0;
    }
    want = q->batch_at < max ? q->batch_at : max;
    if (wait_us != 0 && !forever) {
        deadline = prof_clock_now_us() + wait_us;
    }
    while (wait_us != 0 && !q->closed && q->count < want) {
        /* Set again on every round: a push clears it when it signals. */
        q->wake_at = want;
        if (forever) {
            rv = apr_thread_cond_wait(q->ready, q->mutex);
        }
        else {
            /* The monotonic clock decides when the time is up: the
             * condition variable's own timeout runs on wall time. */
            if ((left = deadline - prof_clock_now_us()) <= 0) {
                break;
            }
            rv = apr_thread_cond_timedwait(q->ready, q->mutex, left);
        }
        if (rv != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(rv)) {
            break;                  /* not seen on pthreads; never spin */
        }
    }
    q->wake_at = 0;
    n = q->count < max ? q->count : max;
    first = q->capacity - q->head;
    if (first > n) {
        first = n;
    }
    memcpy(out, q->items + q->head, first * sizeof(void *));
    memcpy(out + first, q->items, (n - first) * sizeof(void *));
    q->head += n;
    if (q->head >= q->capacity) {
        q->head -= q->capacity;
    }
    q->count -= n;
    apr_thread_mutex_unlock(q->mutex);
    return n;
}

void prof_queue_close(prof_queue_t *q)
{
    if (q == NULL || apr_thread_mutex_lock(q->mutex) != APR_SUCCESS) {
        return;
    }
    q->closed = 1;
    q->wake_at = 0;
    apr_thread_cond_broadcast(q->ready);
    apr_thread_mutex_unlock(q->mutex);
}

/* Which field a getter reads. */
enum { Q_DRAINED, Q_CLOSED, Q_LENGTH, Q_PUSHED, Q_DROPPED, Q_REFUSED };

static apr_uint64_t queue_read(prof_queue_t *q, int what)
{
    apr_uint64_t v = 0;

    if (q == NULL || apr_thread_mutex_lock(q->mutex) != APR_SUCCESS) {
        return 0;
    }
    switch (what) {
    case Q_DRAINED: v = (q->closed && q->count == 0); break;
    case Q_CLOSED:  v = (apr_uint64_t)q->closed; break;
    case Q_LENGTH:  v = q->count; break;
    case Q_PUSHED:  v = q->pushed; break;
    case Q_DROPPED: v = q->dropped; break;
    case Q_REFUSED: v = q->refused; break;
    }
    apr_thread_mutex_unlock(q->mutex);
    return v;
}

int prof_queue_drained(prof_queue_t *q)
{
    return (int)queue_read(q, Q_DRAINED);
}

int prof_queue_closed(prof_queue_t *q)
{
    return (int)queue_read(q, Q_CLOSED);
}

apr_size_t prof_queue_length(prof_queue_t *q)
{
    return (apr_size_t)queue_read(q, Q_LENGTH);
}

apr_uint64_t prof_queue_pushed(prof_queue_t *q)
{
    return queue_read(q, Q_PUSHED);
}

apr_uint64_t prof_queue_dropped(prof_queue_t *q)
{
    return queue_read(q, Q_DROPPED);
}

apr_uint64_t prof_queue_refused(prof_queue_t *q)
{
    return queue_read(q, Q_REFUSED);
}

struct prof_writer_t {
    prof_queue_t *q;
    apr_size_t batch_max;
    apr_interval_time_t interval_us;
    prof_write_batch_fn *write_batch;
    prof_writer_idle_fn *idle;
    void *baton;
    void **items;                   /* batch_max of them, reused */
    apr_thread_t *thread;
    int stopped;                    /* only the stopping thread looks */
    volatile apr_uint32_t abandoned;  /* prof_writer_abandon() was called */
    volatile apr_uint32_t exited;     /* the thread left its loop */
};

static void *APR_THREAD_FUNC writer_main(apr_thread_t *thd, void *data)
{
    prof_writer_t *w = data;
    apr_size_t n;

    (void)thd;
    for (;;) {
        n = prof_queue_pop_batch(w->q, w->items, w->batch_max,
                                 w->interval_us);
        if (apr_atomic_read32(&w->abandoned)) {
            break;                  /* nothing more is written */
        }
        if (n > 0) {
            /* Whatever it returns: the callee owns and counts the items. */
            (void)w->write_batch(w->baton, w->items, n);
        }
        else if (prof_queue_drained(w->q)) {
            break;                  /* closed, and nothing can come any more */
        }
        else if (w->idle) {
            w->idle(w->baton);
        }
    }
    apr_atomic_set32(&w->exited, 1);
    /* Returned, not apr_thread_exit(): that would destroy the thread's
     * pool, a subpool of the writer's, which may be going away already. */
    return NULL;
}

static apr_status_t writer_cleanup(void *data)
{
    prof_writer_stop(data);
    return APR_SUCCESS;
}

apr_status_t prof_writer_start(prof_writer_t **pw, prof_queue_t *q,
                               apr_size_t batch_max,
                               apr_interval_time_t interval_us,
                               prof_write_batch_fn *write_batch,
                               prof_writer_idle_fn *idle, void *baton,
                               apr_pool_t *p)
{
    prof_writer_t *w = NULL;
    apr_status_t rv = APR_SUCCESS;
#if APR_HAVE_SIGNAL_H
    sigset_t all, old;
#endif

    if (q == NULL || write_batch == NULL || batch_max == 0
        || interval_us <= 0) {
        rv = APR_EINVAL;
        goto leave;
    }
    w = apr_pcalloc(p, sizeof(*w));
    if (w == NULL) {
        rv = APR_ENOMEM;
        goto leave;
    }
    w->q = q;
    /* No pop returns more than the queue holds; this also bounds the
     * array by one the queue already has. */
    w->batch_max = batch_max < q->capacity ? batch_max : q->capacity;
    w->interval_us = interval_us;
    w->write_batch = write_batch;
    w->idle = idle;
    w->baton = baton;
    if ((w->items = apr_palloc(p, w->batch_max * sizeof(void *))) == NULL) {
        rv = APR_ENOMEM;
        goto leave;
    }
    /* A new thread starts with its creator's signal mask: block them all
     * for the creation, so that the writer is born with none, and give
     * this thread its own mask back. */
#if APR_HAVE_SIGNAL_H
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
#endif
    rv = apr_thread_create(&w->thread, NULL, writer_main, w, p);
#if APR_HAVE_SIGNAL_H
    pthread_sigmask(SIG_SETMASK, &old, NULL);
#endif
    if (rv != APR_SUCCESS) {
        goto leave;
    }
    /* A pre-cleanup, not a cleanup: it must join the thread before p's
     * subpools go (the thread's own pool is one) and before the regular
     * cleanups destroy the mutex and condition variable of a queue that
     * lives in p. */
    apr_pool_pre_cleanup_register(p, w, writer_cleanup);

leave:
    *pw = (rv == APR_SUCCESS) ? w : NULL;
    return rv;
}

apr_status_t prof_writer_stop(prof_writer_t *w)
{
    apr_status_t rv, exit_rv;

    if (w == NULL || w->stopped || apr_atomic_read32(&w->abandoned)) {
        return APR_SUCCESS;
    }
    w->stopped = 1;
    /* Close, then join: every push that was taken before the close is in
     * the queue, and the writer only ends once the queue is drained. */
    prof_queue_close(w->q);
    rv = apr_thread_join(&exit_rv, w->thread);
    return rv;
}

void prof_writer_abandon(prof_writer_t *w)
{
    if (w) {
        apr_atomic_set32(&w->abandoned, 1);
    }
}

int prof_writer_exited(prof_writer_t *w)
{
    return w ? (int)apr_atomic_read32(&w->exited) : 1;
}
