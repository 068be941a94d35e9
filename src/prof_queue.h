/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_queue.h
 * @brief The hand-off of finished records from request threads to the
 *        background writer of a child process.
 *
 * Request threads must never wait for the measurement store. They hand a
 * finished record to a bounded queue: the push takes the queue's mutex for
 * a pointer store and an index update, nothing else, and when the queue is
 * full the record is counted and refused at once, never waited for. One
 * writer thread per child takes records out in batches, so that the store
 * writes one transaction per batch (every interval, or as soon as a batch
 * is full), and it does its I/O with no lock held.
 *
 * Nothing that was accepted is lost: prof_writer_stop(), and the cleanup
 * of the writer's pool that a graceful restart or stop runs, close the
 * queue and let the writer drain it before they return.
 *
 * Items are opaque pointers; the queue never looks at them, copies them or
 * frees them. Whoever holds an item owns it: the producer until a push
 * returns 1, then the queue, then the consumer that popped it.
 *
 * Threads: any number of producers; one consumer (the writer, or a caller
 * of prof_queue_pop_batch()) at a time. No global state: every queue and
 * writer stands alone. Threads do not survive fork(): in httpd, create
 * both in child_init, in the child's pool.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_QUEUE_H
#define PROF_QUEUE_H

#include "apr.h"
#include "apr_errno.h"
#include "apr_pools.h"
#include "apr_time.h"

typedef struct prof_queue_t prof_queue_t;
typedef struct prof_writer_t prof_writer_t;

/**
 * A new open, empty queue for at most capacity items, allocated in p, with
 * its mutex and condition variable (which p's cleanups destroy). The batch
 * threshold starts at capacity: a waiting pop returns when it could fill
 * its output completely (see prof_queue_pop_batch()).
 *
 * @return APR_SUCCESS; APR_EINVAL for a capacity of 0 or one whose array
 *         would not fit in memory; APR_ENOMEM, or what APR returned for the
 *         mutex or condition variable. *q is NULL on any error.
 *
 * Not thread-safe against other use of p (APR pools are not); the queue
 * itself is thread-safe as described in the file comment. Items still in
 * the queue when p goes are not freed: drain it first (prof_writer_stop()
 * does).
 */
apr_status_t prof_queue_create(prof_queue_t **q, apr_size_t capacity,
                               apr_pool_t *p);

/**
 * Set how many items a waiting prof_queue_pop_batch() waits for: it returns
 * as soon as min(batch_at, its max) items are there. 0 restores the
 * default (capacity); larger values are cut to capacity, since no more can
 * ever be there. 1 makes a pop return at the first item. Takes effect at
 * the next pop. Thread-safe. Ignored for a NULL q.
 */
void prof_queue_set_batch_at(prof_queue_t *q, apr_size_t batch_at);

/**
 * Hand item to the queue, from any thread. Never waits for the consumer:
 * the mutex is held for storing the pointer and updating two indexes.
 *
 * @return 1 if the queue took item (it owns it now); 0 if not, and the
 *         caller still owns it: the queue was full (counted in
 *         prof_queue_dropped()), or closed (counted in
 *         prof_queue_refused(), whether it was full or not), or q is NULL
 *         (counted nowhere).
 */
int prof_queue_push(prof_queue_t *q, void *item);

/**
 * For the one consumer: move up to max items, oldest first, into out.
 *
 * Waits on a condition variable, with the mutex released, until
 * min(batch_at, max) items are there, or the queue is closed, or wait_us
 * have passed on the monotonic clock; then takes whatever is there, up to
 * max, so after a timeout that may be fewer, or none. wait_us 0 never
 * waits; a negative wait_us waits with no time limit. A closed queue never
 * makes it wait. The copy of at most max pointers is the only work done
 * under the mutex.
 *
 * Waiting for the threshold, not for the first item, is what makes
 * batches: under light load the consumer wakes once per wait_us, not once
 * per item. A queue whose batch threshold is 1 wakes at the first item.
 *
 * @return the number of items moved to out; 0 also for a NULL q or out or a
 *         max of 0, at once.
 *
 * Thread-safe against producers and prof_queue_close(). Two consumers at
 * once lose nothing, but each may sleep until its wait_us passes.
 */
apr_size_t prof_queue_pop_batch(prof_queue_t *q, void **out, apr_size_t max,
                                apr_interval_time_t wait_us);

/**
 * Close the queue: from now on every push is refused (and counted), and a
 * waiting consumer is woken to take what is left. Items already in the
 * queue stay there for the consumer. A second close does nothing.
 * Thread-safe. Ignored for a NULL q.
 */
void prof_queue_close(prof_queue_t *q);

/** 1 once the queue is closed and empty: nothing will ever come out of it
 * again. 0 otherwise, and for a NULL q. Thread-safe. */
int prof_queue_drained(prof_queue_t *q);

/** 1 once the queue is closed (it may still hold items), 0 otherwise and
 * for a NULL q: a consumer that would wait or retry can tell that it is
 * being stopped. Thread-safe. */
int prof_queue_closed(prof_queue_t *q);

/** Items in the queue now. Thread-safe; 0 for a NULL q. */
apr_size_t prof_queue_length(prof_queue_t *q);

/** Pushes the queue took, since it was created. Thread-safe; 0 for NULL. */
apr_uint64_t prof_queue_pushed(prof_queue_t *q);

/** Pushes refused because the queue was full. Thread-safe; 0 for NULL. */
apr_uint64_t prof_queue_dropped(prof_queue_t *q);

/** Pushes refused because the queue was closed. Thread-safe; 0 for NULL. */
apr_uint64_t prof_queue_refused(prof_queue_t *q);

/**
 * Write one batch of items to the store, on the writer thread, with no
 * lock of the queue held. items[0..n-1] are oldest first, n >= 1.
 *
 * The callee owns the items whatever it returns: it frees them, or keeps
 * them for a retry of its own. The writer only counts the outcome
 * (APR_SUCCESS or not) and goes on with the next batch; it never retries
 * and never stops because of a failure. The items array itself belongs to
 * the writer and is reused for the next batch.
 */
typedef apr_status_t prof_write_batch_fn(void *baton, void **items,
                                         apr_size_t n);

/**
 * Called on the writer thread when a wait for items timed out with none
 * (once per interval while the queue is idle and open), so that the
 * consumer can look after itself: e.g. find out that a store that was
 * down works again, though nothing came to be written. Optional.
 */
typedef void prof_writer_idle_fn(void *baton);

/**
 * Start the writer of q: a thread that, until the queue is closed and
 * drained, pops up to batch_max items (waiting at most interval_us for
 * min(batch_at, batch_max) of them, see prof_queue_pop_batch()) and hands
 * them to write_batch with baton. So a batch is written when it is full or
 * interval_us after the previous one ended, whichever comes first; an idle
 * writer wakes once per interval_us.
 *
 * The writer lives in p. A pre-cleanup of p stops it (prof_writer_stop())
 * before p's subpools and cleanups go, so destroying or clearing p, as
 * httpd does with the child's pool on a graceful restart or stop, writes
 * out everything that was pushed. Whatever write_batch uses must still be
 * there then. q must outlive the writer: create it in p or in an ancestor
 * of p.
 *
 * The thread runs with every signal blocked: a process-directed signal
 * (prefork's SIGTERM) must reach the thread that expects it, never the
 * writer, whose handler could then wait for the writer itself.
 *
 * @param batch_max  the most items per batch, >= 1; cut to q's capacity.
 * @param interval_us  how long the writer waits for a full batch, > 0.
 * @param idle  called when a wait ended with nothing to write; NULL: none.
 * @return APR_SUCCESS; APR_EINVAL for a NULL q or write_batch, a batch_max
 *         of 0 or an interval_us <= 0; or what apr_thread_create()
 *         returned. *w is NULL on any error, and no thread runs.
 *
 * One writer per queue. Not thread-safe against other use of p.
 */
apr_status_t prof_writer_start(prof_writer_t **w, prof_queue_t *q,
                               apr_size_t batch_max,
                               apr_interval_time_t interval_us,
                               prof_write_batch_fn *write_batch,
                               prof_writer_idle_fn *idle, void *baton,
                               apr_pool_t *p);

/**
 * Stop the writer: close its queue, wait until the writer thread has
 * handed every item in it to write_batch, join the thread. Returns when
 * that is done; how long that takes is up to write_batch.
 *
 * @return APR_SUCCESS, also for a NULL w and for a writer already stopped;
 *         or what apr_thread_join() returned.
 *
 * Call it from one thread, never from write_batch (the writer would wait
 * for itself).
 */
apr_status_t prof_writer_stop(prof_writer_t *w);

/**
 * For a process that is being killed: make the writer stop as soon as its
 * current wait or batch ends, without writing anything more, and make
 * prof_writer_stop() (and the pool's pre-cleanup) return at once, with no
 * lock taken and no join. Items left in the queue, or taken for a batch
 * that had not begun, are neither written nor freed. Async-signal-safe (one atomic store): for a signal handler such
 * as prefork's, which destroys the child's pool in the handler. Ignored
 * for NULL.
 */
void prof_writer_abandon(prof_writer_t *w);

/** 1 once the writer thread has left its loop (it touches neither queue
 * nor baton any more); 1 for NULL. Async-signal-safe. */
int prof_writer_exited(prof_writer_t *w);

#endif /* PROF_QUEUE_H */
