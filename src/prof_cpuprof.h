/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_cpuprof.h
 * @brief The sampling engine of CPU profiles (issue 12): where the threads
 *        of this process spend their CPU time, or where one thread spends
 *        its wall-clock time, as raw program counters that are symbolized
 *        later, outside any signal handler, into a prof_stacks_t.
 *
 * Two kinds of session:
 *
 * - A *process* session samples the CPU time of every thread of the
 *   calling process: one timer_create() timer per thread on that thread's
 *   CPU clock, whose SIGPROF goes to that thread (SIGEV_THREAD_ID) each
 *   time it has used 1/hz s of CPU (as Go's runtime does since 1.18). Not
 *   setitimer(ITIMER_PROF), which sends its signal to whichever thread
 *   does not block it: in httpd's worker and event MPMs every thread
 *   blocks SIGPROF (apr_setup_signal_thread()), so a sample would be of the
 *   wrong thread or of none. One process session at a time per process.
 *
 * - A *thread* session samples the calling thread in wall-clock time: a
 *   timer_create(CLOCK_MONOTONIC) timer whose SIGPROF goes to that thread
 *   only (SIGEV_THREAD_ID). Each sample is marked PROF_STACK_ONCPU when the
 *   thread's CPU clock advanced by at least half the wall time since its
 *   previous sample, PROF_STACK_WAITING otherwise, and weighs the wall time
 *   since the previous sample. A waiting sample "parks" the session: the
 *   wall timer is replaced by one on the thread's CPU clock, so the thread
 *   is not signalled again until it has run 1/hz s; then the wall time it
 *   spent not running is recorded on the waiting stack, and the wall timer
 *   resumes. One interruption per wait, not hz per second (below); the
 *   cost: waits separated by less than 1/hz s of CPU are all put on the
 *   first one's stack. In the profile a wait counts as the periods it
 *   lasted (samples = nanos / period, rounded). Any number of sessions at
 *   once, one per thread.
 *
 * THE ONE THING A CALLER MUST DO: a thread that blocks SIGPROF (every
 * worker thread of the worker and event MPMs, mod_http2's workers) gives
 * no samples until it calls prof_cpu_thread_attach(), which unblocks
 * SIGPROF for it (once) and gives it a CPU timer in the running process
 * session if it has none. Call it at the start of each request while a
 * process session runs (cheap: two TLS loads after the first call), e.g.
 * from the first phase hook, behind the one "profile running" flag.
 * Threads that never call it (the listener, idle workers) are simply not
 * sampled; prefork children block nothing and need no call.
 *
 * WALL-CLOCK SAMPLING INTERRUPTS THE THREAD'S BLOCKING CALLS (as every
 * in-process wall-clock sampler does): read(), write(), recv()... are
 * restarted (SA_RESTART), but poll(), select(), epoll_wait(), nanosleep()
 * return EINTR whatever the flags. APR's socket and file waits
 * (apr_wait_for_io_or_timeout()) retry on EINTR, restarting their full
 * timeout; apr_sleep() returns early. Parking (above) limits this to one
 * interruption per sampled wait: a timeout is stretched by at most 1/hz,
 * an apr_sleep() is cut short once. And a thread session stops sampling
 * altogether (disarms its timers, from the handler) as soon as its buffer
 * is full. A process session's CPU timers only fire while a thread runs,
 * so they seldom hit a blocking call (only when the expiry falls inside a
 * system call that then blocks), as with any CPU profiler.
 *
 * Both kinds can run at the same time in one process; one SIGPROF handler
 * tells them apart by the timer's signal value (and ignores SIGPROFs that
 * no timer of ours sent). Posix CPU timers are checked at the kernel's
 * tick (CONFIG_HZ, 250 on Debian): a thread's CPU samples above that rate
 * come in bursts, each still weighing 1/hz s (more when expiries were
 * missed: si_overrun is counted).
 *
 * Nothing is installed before the first start: no handler, no timer. The
 * first start installs the SIGPROF handler (SA_RESTART | SA_SIGINFO) and
 * primes the unwinder; the handler then stays installed for the life of
 * the process and does nothing while no session is active.
 *
 * In the handler: a per-thread re-entrancy guard, a stack unwound with
 * libunwind from the signal's context (local-only, through -O2 code without
 * frame pointers, by the objects' .eh_frame) to at most PROF_CPU_DEPTH_MAX
 * frames, the thread's current label (prof_cpu_label_set()) copied, and
 * the whole appended to the session's buffer. The buffer is allocated at
 * start, max_bytes at most; a sample that does not fit is counted as
 * dropped, never allocated. errno is preserved.
 *
 * Caveat (as for every in-process sampler using libunwind): a sample taken
 * while another thread is inside dlopen()/dlclose() waits for the loader's
 * lock in dl_iterate_phdr(); httpd loads its modules before it serves.
 *
 * Part of the APR-only core: no httpd header may be included here.
 * Needs libunwind (libunwind-dev), libdw/libelf (libdw-dev, libelf-dev:
 * symbols, file:line, build ids) and zlib (prof_stacks.c's gzip).
 */

#ifndef PROF_CPUPROF_H
#define PROF_CPUPROF_H

#include "apr.h"
#include "apr_errno.h"
#include "apr_file_io.h"
#include "apr_pools.h"
#include "apr_time.h"

#include "prof_stacks.h"

/** Sampling rates accepted by both kinds of session, per second. The
 *  kernel's CPU timers tick at CONFIG_HZ (250 on Debian): a process
 *  session above that gets samples in bursts, each still worth 1/hz s. */
#define PROF_CPU_HZ_MIN         1
#define PROF_CPU_HZ_MAX         1000

/** Threads a process session can time (more are not sampled). */
#define PROF_CPU_THREADS_MAX    4096

/** Frames kept per sample (the deepest, i.e. outermost, are cut). */
#define PROF_CPU_DEPTH_MAX      64

/** Bytes of a label's route and phase kept per sample (longer ones are
 *  cut, never at the cost of the sample). */
#define PROF_CPU_ROUTE_MAX      63
#define PROF_CPU_PHASE_MAX      15

/** Smallest max_bytes accepted; 0 means the default below. */
#define PROF_CPU_BYTES_MIN      4096
/** Default buffer of a process session (~13,000 samples 64 deep). */
#define PROF_CPU_PROCESS_BYTES  (8 * 1024 * 1024)
/** Default buffer of a thread session (~1,700 samples 64 deep, ~3,500
 *  of a usual httpd depth of 30; a parked wait is one sample). */
#define PROF_CPU_THREAD_BYTES   (1024 * 1024)

/* ----------------------------------------------------------------------
 * Labels: what the calling thread is doing, for the samples taken on it.
 */

/** A thread's current work. Both strings may be NULL. */
typedef struct {
    const char *route;
    const char *phase;
} prof_cpu_label_t;

/**
 * Make *label the calling thread's current label (NULL: none). Only the
 * pointer is stored (in initial-exec TLS: safe to read in a signal
 * handler); the handler copies the strings of the label current when it
 * samples. So the caller must keep *label and its strings unchanged and
 * alive until it sets another label or NULL on this thread: set NULL
 * before the memory goes (e.g. before a request's pool is destroyed).
 * To change a label, fill a second struct and set it, never edit the
 * current one in place. Costs a TLS store; callable with no session.
 */
void prof_cpu_label_set(const prof_cpu_label_t *label);

/** The calling thread's current label, NULL: none. */
const prof_cpu_label_t *prof_cpu_label_get(void);

/* ----------------------------------------------------------------------
 * Raw samples: what a session gathered, before symbolization. Opaque.
 * Program counters are meaningful in the process that took them and in
 * every process with the same layout of loaded objects (children forked
 * from one httpd parent, before any of them dlopen()s something else).
 */
typedef struct prof_cpu_raw_t prof_cpu_raw_t;

typedef struct {
    apr_int64_t pid;            /**< process that sampled */
    int hz;
    int wall;                   /**< 1: a thread session's */
    apr_time_t start;           /**< wall time of the start */
    apr_int64_t duration_ns;    /**< start to stop */
    apr_uint64_t samples;       /**< samples kept (records: a parked
                                     wait is one) */
    apr_uint64_t dropped;       /**< samples lost: buffer full, or no
                                     stack could be unwound */
} prof_cpu_raw_info_t;

void prof_cpu_raw_info(const prof_cpu_raw_t *raw, prof_cpu_raw_info_t *info);

/**
 * A self-contained binary form of raw (native byte order: for sibling
 * processes of one machine, never for storage), in p, and back. parse
 * validates everything (sizes, depths, label lengths) and answers
 * APR_EGENERAL with *err set on malformed input; the result is in p and
 * does not point into buf.
 */
apr_status_t prof_cpu_raw_serialize(const prof_cpu_raw_t *raw, apr_pool_t *p,
                                    const char **buf, apr_size_t *len);
apr_status_t prof_cpu_raw_parse(const char *buf, apr_size_t len,
                                apr_pool_t *p, prof_cpu_raw_t **raw,
                                const char **err);

/** The same, to and from an open file (all of it written / read). */
apr_status_t prof_cpu_raw_write(const prof_cpu_raw_t *raw, apr_file_t *f);
apr_status_t prof_cpu_raw_read(apr_file_t *f, apr_pool_t *p,
                               prof_cpu_raw_t **raw, const char **err);

/* ----------------------------------------------------------------------
 * Process sessions: every thread's CPU time.
 */

/**
 * Start sampling every thread of the calling process at hz
 * (PROF_CPU_HZ_MIN..PROF_CPU_HZ_MAX) into a buffer of max_bytes (0: the
 * default, PROF_CPU_PROCESS_BYTES; at least PROF_CPU_BYTES_MIN), allocated
 * here with malloc and freed by stop.
 * @return APR_SUCCESS; APR_EINVAL for hz or max_bytes out of range;
 *         APR_EBUSY when a process session already runs, or another
 *         SIGPROF handler is installed (gperftools...); APR_ENOMEM; an
 *         errno from sigaction. Timers are put on every thread that
 *         exists now (/proc/self/task) and on each thread that calls
 *         prof_cpu_thread_attach() later. Thread-safe (a mutex); callable
 *         from any thread, stoppable from any other.
 */
apr_status_t prof_cpu_process_start(int hz, apr_size_t max_bytes);

/**
 * Stop the process session: the timer is disarmed, handlers still running
 * on other threads are waited for (they are bounded), the samples copied
 * into *raw (in p) and the buffer freed. raw may be NULL to just stop.
 * @return APR_SUCCESS, or APR_ENOENT when no process session runs.
 */
apr_status_t prof_cpu_process_stop(apr_pool_t *p, prof_cpu_raw_t **raw);

/** Whether a process session runs (a relaxed load: a hint). */
int prof_cpu_process_active(void);

/**
 * Let the calling thread be sampled: unblock SIGPROF in it (once per
 * thread; the handler must be installed, i.e. some session was started in
 * this process, for the signal to be anything but ignored -- unblocking
 * before that would let a stray SIGPROF kill the process, so this does
 * nothing until then) and, while a process session runs, give the thread
 * a CPU timer in it (once per thread and session, under the mutex).
 * After the first call per thread and session it costs two TLS loads and
 * one relaxed load. Async-signal-unsafe; thread-safe.
 */
void prof_cpu_thread_attach(void);

/* ----------------------------------------------------------------------
 * Thread sessions: one thread's wall-clock time, on-CPU vs waiting.
 */
typedef struct prof_cpu_thread_t prof_cpu_thread_t;

/**
 * Start sampling the calling thread at hz in wall-clock time, into a
 * buffer of max_bytes (0: PROF_CPU_THREAD_BYTES) allocated in p. A cleanup
 * on p stops the session if prof_cpu_thread_stop() was not called, from
 * whatever thread destroys p. The calling thread may have one session at
 * a time. SIGPROF is unblocked in the calling thread (see
 * prof_cpu_thread_attach()). Sampling stops by itself when the buffer is
 * full (see above: the thread's blocking calls are interrupted while it
 * runs); stop still has to be called.
 * @return APR_SUCCESS; APR_EINVAL (hz, max_bytes); APR_EBUSY when the
 *         thread already has a session; an errno from timer_create.
 */
apr_status_t prof_cpu_thread_start(int hz, apr_size_t max_bytes,
                                   apr_pool_t *p, prof_cpu_thread_t **t);

/**
 * Stop t and copy its samples into *raw (in rp, which may be t's pool or
 * another one). Callable once, from any thread (normally t's own, at the
 * end of its request); raw may be NULL. The buffer is released with t's
 * pool. @return APR_SUCCESS, or APR_ENOENT when t was already stopped.
 */
apr_status_t prof_cpu_thread_stop(prof_cpu_thread_t *t, apr_pool_t *rp,
                                  prof_cpu_raw_t **raw);

/**
 * Before the code goes (a module unloaded by httpd's restart, whose
 * parent dlclose()s and reloads every module): stop every session, set
 * SIGPROF to SIG_IGN (not SIG_DFL: a signal still on its way must not
 * kill the process) if the handler was installed, free the symbolizer's
 * cache. Register it as a cleanup of the pool the module lives as long as
 * (pconf), in every process that may have started a session. The next
 * start installs everything again. Thread-safe. @return APR_SUCCESS.
 */
apr_status_t prof_cpu_unload(void);

/* ----------------------------------------------------------------------
 * Symbolization, outside any handler.
 */

/**
 * Symbolize the samples of nraw raw sets (of one process or of siblings
 * with the same layout: see above) against the objects loaded in the
 * calling process (/proc/self/maps) into one profile in p: frames named
 * from each object's symbol tables (.symtab with static functions where
 * the file has one or /usr/lib/debug has it by build id, .dynsym
 * otherwise), with file:line where DWARF is found, and "object+0xoffset"
 * where no symbol covers a pc (object: the file's base name; offset: the
 * address in the object's own ELF addresses, what `addr2line -e object`
 * takes); one prof_mapping_t per loaded object, with its
 * build id; identical (stack, state, pid, route, phase) samples merged;
 * period, start and duration from the raws (wall and period of the first;
 * start the earliest, duration the longest). Non-leaf frames are looked
 * up at pc - 1 (inside the call instruction) and carry that address.
 *
 * Slow (reads the objects' symbol tables and DWARF: tens of milliseconds
 * or more): never call it on a request's critical path; a request's
 * profile is best symbolized by a background thread (the store's writer).
 * Thread-safe. @return APR_SUCCESS or APR_ENOMEM-like errors; a pc that
 * cannot be symbolized is never an error.
 */
apr_status_t prof_cpu_symbolize(prof_cpu_raw_t *const *raws, int nraw,
                                apr_pool_t *p, prof_stacks_t **out);

#endif /* PROF_CPUPROF_H */
