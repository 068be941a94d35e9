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
 *   calling process: setitimer(ITIMER_PROF) at hz, so SIGPROF arrives on
 *   the thread that was running when the process had used 1/hz seconds of
 *   CPU (as gperftools does). One at a time per process.
 * - A *thread* session samples the calling thread in wall-clock time: a
 *   timer_create(CLOCK_MONOTONIC) timer whose SIGPROF goes to that thread
 *   only (SIGEV_THREAD_ID). Each sample is marked PROF_STACK_ONCPU when the
 *   thread's CPU clock advanced by at least half the wall time since its
 *   previous sample, PROF_STACK_WAITING otherwise, and weighs the wall time
 *   since the previous sample. Any number at once, one per thread.
 *
 * Both kinds can run at the same time in one process; one SIGPROF handler
 * tells them apart by si_code (SI_TIMER: a thread session's timer).
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

/** Frames kept per sample (the deepest, i.e. outermost, are cut). */
#define PROF_CPU_DEPTH_MAX      64

/** Bytes of a label's route and phase kept per sample (longer ones are
 *  cut, never at the cost of the sample). */
#define PROF_CPU_ROUTE_MAX      63
#define PROF_CPU_PHASE_MAX      15

/** Smallest max_bytes accepted; 0 means the default below. */
#define PROF_CPU_BYTES_MIN      4096
/** Default buffer of a process session (~10,000 deep samples). */
#define PROF_CPU_PROCESS_BYTES  (8 * 1024 * 1024)
/** Default buffer of a thread session (~2,000 deep samples). */
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
    apr_uint64_t samples;       /**< samples kept */
    apr_uint64_t dropped;       /**< samples lost: buffer full, or a
                                     signal that arrived inside the
                                     handler on the same thread */
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
 *         APR_EBUSY when a process session already runs (or another user of
 *         ITIMER_PROF is found armed); APR_ENOMEM; an errno from
 *         sigaction/setitimer. Thread-safe (a mutex); callable from any
 *         thread, stoppable from any other.
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

/* ----------------------------------------------------------------------
 * Thread sessions: one thread's wall-clock time, on-CPU vs waiting.
 */
typedef struct prof_cpu_thread_t prof_cpu_thread_t;

/**
 * Start sampling the calling thread at hz in wall-clock time, into a
 * buffer of max_bytes (0: PROF_CPU_THREAD_BYTES) allocated in p. A cleanup
 * on p stops the session if prof_cpu_thread_stop() was not called, from
 * whatever thread destroys p. The calling thread may have one session at
 * a time.
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
