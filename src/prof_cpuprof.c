/* Licensed under the Apache License, Version 2.0. */

/*
 * The sampling engine of CPU profiles; the contract is in prof_cpuprof.h.
 *
 * A session's buffer is an array of 64-bit words holding variable-length
 * records, appended by the SIGPROF handler:
 *
 *     word 0   header: bits 63..48 REC_MAGIC, 39..32 state (0 on CPU,
 *              1 waiting), 31..24 phase length, 23..16 route length,
 *              7..0 number of frames (1..PROF_CPU_DEPTH_MAX)
 *     word 1   weight in nanoseconds (1/hz for CPU samples, the wall time
 *              since the thread's previous sample for wall samples)
 *     ...      the route's then the phase's bytes, padded to whole words
 *     ...      the program counters, leaf first
 *
 * A handler reserves its record's words with one atomic add on the
 * buffer's cursor (several threads take CPU samples at once); a record
 * that does not fit is not written and counts as dropped. The cursor only
 * grows, so the records written are the prefix before the first one that
 * did not fit, whose header word stays 0 (the buffer starts zeroed): a
 * reader stops there. Reading waits for the handlers still running: a
 * session has an "active" flag and an "inflight" count, both sequentially
 * consistent, so that either a handler sees the session stopped or the
 * stopper sees the handler (the two halves of Dekker's protocol).
 *
 * Thread sessions are reached from the handler through a static table of
 * slots, never through a pointer the signal carries: the timer's signal
 * carries a slot number, and a slot is cleared (and its in-flight handlers
 * waited for) before a session's memory can go. So a late signal finds an
 * empty slot, never freed memory.
 */

/* timer_create, SIGEV_THREAD_ID, gettid, dladdr: Linux and GNU. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <elfutils/libdwfl.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "prof_cpuprof.h"

#define A_LOAD(p)       __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define A_STORE(p, v)   __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define A_FADD(p, v)    __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define A_RLOAD(p)      __atomic_load_n((p), __ATOMIC_RELAXED)

#define REC_MAGIC       APR_UINT64_C(0xC9F1)
#define REC_HEAD(nf, rl, pl, st) \
    ((REC_MAGIC << 48) | ((apr_uint64_t)(st) << 32) \
     | ((apr_uint64_t)(pl) << 24) | ((apr_uint64_t)(rl) << 16) \
     | (apr_uint64_t)(nf))
#define REC_OK(h)       (((h) >> 48) == REC_MAGIC \
                         && ((h) & APR_UINT64_C(0x0000FF000000FF00)) == 0)
#define REC_NF(h)       ((unsigned)((h) & 0xff))
#define REC_RL(h)       ((unsigned)(((h) >> 16) & 0xff))
#define REC_PL(h)       ((unsigned)(((h) >> 24) & 0xff))
#define REC_ST(h)       ((unsigned)(((h) >> 32) & 0xff))
#define LABEL_WORDS(rl, pl) (((rl) + (pl) + 7) / 8)
#define REC_MAX_WORDS   (2 + LABEL_WORDS(PROF_CPU_ROUTE_MAX, \
                                         PROF_CPU_PHASE_MAX) \
                         + PROF_CPU_DEPTH_MAX)

/** Thread sessions that can run at once in one process. */
#define THREAD_SLOTS    1024

typedef struct {
    apr_uint64_t *words;
    apr_size_t cap;             /* words */
    apr_size_t used;            /* cursor, may pass cap */
    apr_uint64_t samples;
    apr_uint64_t dropped;
} sbuf_t;

struct prof_cpu_raw_t {
    prof_cpu_raw_info_t info;
    const apr_uint64_t *words;
    apr_size_t nwords;
};

struct prof_cpu_thread_t {
    apr_pool_t *pool;
    sbuf_t buf;
    timer_t timer;              /* wall clock */
    timer_t cpu_timer;          /* the thread's CPU clock, while parked */
    struct itimerspec period, off;
    int slot;
    pid_t tid;
    int hz;
    int stopped;                /* under lock */
    apr_time_t start;
    apr_int64_t start_ns;
    /* The handler's, on the session's own thread only. */
    apr_int64_t last_wall_ns, last_cpu_ns;
    int parked;                 /* waiting: the CPU timer is the armed one */
    unsigned wait_n;            /* words of wait_rec */
    apr_uint64_t wait_rec[REC_MAX_WORDS];   /* the waiting stack */
};

typedef struct {
    prof_cpu_thread_t *ts;
    int inflight;
} tslot_t;

/* Everything below is process-wide: changed under lock only, read by the
 * handler with atomics. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int installed;
typedef struct {
    pid_t tid;
    timer_t timer;
} ptimer_t;

static struct {
    sbuf_t buf;
    int active;
    int inflight;
    unsigned gen;               /* the running session's number, 0: none */
    int running;                /* under lock: started, not stopped */
    int hz;
    apr_int64_t period_ns;
    apr_time_t start;
    apr_int64_t start_ns;
    ptimer_t *timers;           /* under lock: one per sampled thread */
    int ntimers;
    apr_uint64_t untimed;       /* threads over PROF_CPU_THREADS_MAX */
} proc;
static unsigned proc_gens;      /* under lock */
static tslot_t slots[THREAD_SLOTS];
static int nslots_used;         /* under lock */

/* One Dwfl per process, kept between calls (reading the objects' symbol
 * tables and DWARF is the slow part), rebuilt when an address falls in no
 * object it knows (something was dlopen()ed since). Dwfl is not
 * thread-safe: used under sym_lock only. */
static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static Dwfl *sym_dwfl;

/* initial-exec: allocated with the thread, so reading them in a signal
 * handler never calls into the dynamic TLS allocator (malloc), even in a
 * module that was dlopen()ed. */
#define TLS_IE __thread __attribute__((tls_model("initial-exec")))
static TLS_IE const prof_cpu_label_t *tls_label;
static TLS_IE int tls_in_handler;
static TLS_IE int tls_unblocked;        /* SIGPROF unblocked here */
static TLS_IE unsigned tls_attached;    /* proc.gen this thread is in */

/* The signal value of a process session's timers (thread sessions' are
 * their slot + 1, at most THREAD_SLOTS). */
#define PROC_TAG        0x50524f43      /* "PROC" */

/* Linux's clock id of thread tid's CPU time (the kernel ABI that glibc's
 * pthread_getcpuclockid() uses too): any thread of the process may put a
 * timer on it. */
#define THREAD_CPUCLOCK(tid) ((clockid_t)((~(unsigned)(tid) << 3) | 6))

static apr_int64_t clock_ns(clockid_t c)
{
    struct timespec ts;

    if (clock_gettime(c, &ts) != 0) {
        return 0;
    }
    return (apr_int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void prof_cpu_label_set(const prof_cpu_label_t *label)
{
    /* The struct's fields are written before the pointer is, as the
     * handler interrupting this thread sees them. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    tls_label = label;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

const prof_cpu_label_t *prof_cpu_label_get(void)
{
    return tls_label;
}

/* ------------------------------------------------------------------
 * In the handler.
 */

static unsigned copy_str(char *dst, const char *src, unsigned max)
{
    unsigned n = 0;

    if (src) {
        while (n < max && src[n] != '\0') {
            dst[n] = src[n];
            ++n;
        }
    }
    return n;
}

/* The stack at the signal: libunwind from the interrupted context, the
 * first pc exact (UNW_INIT_SIGNAL_FRAME), the others return addresses. */
static int unwind(void *uc, apr_uint64_t *pcs)
{
    unw_cursor_t cur;
    unw_word_t ip;
    int n = 0;

    if (uc == NULL
        || unw_init_local2(&cur, (unw_context_t *)uc,
                           UNW_INIT_SIGNAL_FRAME) < 0) {
        return 0;
    }
    do {
        if (unw_get_reg(&cur, UNW_REG_IP, &ip) < 0 || ip == 0) {
            break;
        }
        pcs[n++] = (apr_uint64_t)ip;
    } while (n < PROF_CPU_DEPTH_MAX && unw_step(&cur) > 0);
    return n;
}

/* The record of the current stack, into rec: its length in words, 0 when
 * no stack could be unwound. */
static unsigned build(apr_uint64_t *rec, void *uc, int state,
                      apr_int64_t weight)
{
    apr_uint64_t pcs[PROF_CPU_DEPTH_MAX];
    const prof_cpu_label_t *l = tls_label;
    char label[PROF_CPU_ROUTE_MAX + PROF_CPU_PHASE_MAX];
    unsigned rl = 0, pl = 0, lw, nf, i;
    int depth;

    depth = unwind(uc, pcs);
    if (depth <= 0) {
        return 0;
    }
    nf = (unsigned)depth;
    if (l) {
        rl = copy_str(label, l->route, PROF_CPU_ROUTE_MAX);
        pl = copy_str(label + rl, l->phase, PROF_CPU_PHASE_MAX);
    }
    lw = LABEL_WORDS(rl, pl);
    rec[0] = REC_HEAD(nf, rl, pl, state);
    rec[1] = (apr_uint64_t)weight;
    if (lw) {
        /* The last label word's padding is zeroed with the rest. */
        rec[1 + lw] = 0;
        for (i = 0; i < rl + pl; ++i) {
            ((char *)&rec[2])[i] = label[i];
        }
    }
    for (i = 0; i < nf; ++i) {
        rec[2 + lw + i] = pcs[i];
    }
    return 2 + lw + nf;
}

/* Appends a record of n words to b: 1 stored, 0 dropped (b is full). */
static int append(sbuf_t *b, const apr_uint64_t *rec, unsigned n)
{
    apr_size_t at = A_FADD(&b->used, (apr_size_t)n);
    unsigned i;

    if (at + n > b->cap) {
        A_FADD(&b->dropped, 1);
        return 0;
    }
    for (i = 1; i < n; ++i) {
        b->words[at + i] = rec[i];
    }
    /* The header last: a reader never sees half a record (and waits for
     * the handlers in flight anyway). */
    A_STORE(&b->words[at], rec[0]);
    A_FADD(&b->samples, 1);
    return 1;
}

/* Appends a sample of the current stack: 1 stored, 0 dropped (b is full),
 * -1 dropped (no stack). */
static int record(sbuf_t *b, void *uc, int state, apr_int64_t weight)
{
    apr_uint64_t rec[REC_MAX_WORDS];
    unsigned n = build(rec, uc, state, weight);

    if (n == 0) {
        A_FADD(&b->dropped, 1);
        return -1;
    }
    return append(b, rec, n);
}

static void timer_arm(timer_t t, const struct itimerspec *its)
{
    /* timer_settime() is async-signal-safe. */
    (void)timer_settime(t, 0, its, NULL);
}

/*
 * A thread session's sample. The wall-clock timer samples the thread at hz
 * whether it runs or not; when a sample finds it waiting (less than half
 * of the wall time since the last sample on CPU), the session "parks": the
 * wall timer is disarmed and a timer on the thread's CPU clock armed
 * instead, and the waiting stack kept. The thread is then not signalled
 * again until it has run for 1/hz s of CPU: each signal cuts a blocking
 * poll() or sleep short (see prof_cpuprof.h), and while the thread waits
 * its stack cannot change anyway. When the CPU timer fires, the wall time
 * since the last sample less the CPU time used is the wait, recorded on
 * the kept stack, the CPU time on the current one, and the wall timer
 * takes over again. So a wait is interrupted once, not hz times a second.
 */
static void sample_thread(int idx, int cpu_timer, void *uc)
{
    tslot_t *s = &slots[idx];
    prof_cpu_thread_t *ts;

    A_FADD(&s->inflight, 1);
    ts = A_LOAD(&s->ts);
    if (ts && ts->tid == (pid_t)syscall(SYS_gettid)
        && cpu_timer == ts->parked) {
        apr_int64_t now = clock_ns(CLOCK_MONOTONIC);
        apr_int64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        apr_int64_t dwall = now - ts->last_wall_ns;
        apr_int64_t dcpu = cpu - ts->last_cpu_ns;
        int rc = 1;

        ts->last_wall_ns = now;
        ts->last_cpu_ns = cpu;
        if (!ts->parked) {
            if (dwall <= 0) {
                rc = 1;
            }
            else if (2 * dcpu >= dwall) {
                rc = record(&ts->buf, uc, PROF_STACK_ONCPU, dwall);
            }
            else if ((ts->wait_n = build(ts->wait_rec, uc,
                                         PROF_STACK_WAITING, dwall)) == 0) {
                A_FADD(&ts->buf.dropped, 1);
            }
            else if ((rc = append(&ts->buf, ts->wait_rec, ts->wait_n))
                     == 1) {
                timer_arm(ts->timer, &ts->off);
                timer_arm(ts->cpu_timer, &ts->period);
                ts->parked = 1;
            }
        }
        else {
            apr_int64_t wait = dwall - (dcpu > 0 ? dcpu : 0);

            if (wait > 0) {
                ts->wait_rec[1] = (apr_uint64_t)wait;
                rc = append(&ts->buf, ts->wait_rec, ts->wait_n);
            }
            if (rc != 0 && dcpu > 0) {
                rc = record(&ts->buf, uc, PROF_STACK_ONCPU, dcpu);
            }
            timer_arm(ts->cpu_timer, &ts->off);
            timer_arm(ts->timer, &ts->period);
            ts->parked = 0;
        }
        if (rc == 0) {
            /* Full: stop interrupting the thread altogether. */
            timer_arm(ts->timer, &ts->off);
            timer_arm(ts->cpu_timer, &ts->off);
        }
    }
    A_FADD(&s->inflight, -1);
}

static void on_sigprof(int sig, siginfo_t *si, void *uc)
{
    int saved = errno;

    (void)sig;
    if (tls_in_handler) {
        /* Cannot happen with SIGPROF masked during its handler; kept
         * should someone install us without that mask. */
        goto out;
    }
    tls_in_handler = 1;
    /* Only our timers' signals: a SIGPROF from kill() or from someone's
     * setitimer() is ignored. */
    if (si && si->si_code == SI_TIMER) {
        int v = si->si_value.sival_int;

        if (v == PROC_TAG) {
            A_FADD(&proc.inflight, 1);
            if (A_LOAD(&proc.active)) {
                /* Expiries while the signal was pending count too. */
                (void)record(&proc.buf, uc, PROF_STACK_ONCPU,
                             proc.period_ns * (1 + (si->si_overrun > 0
                                                    ? si->si_overrun : 0)));
            }
            A_FADD(&proc.inflight, -1);
        }
        else if (v >= 1 && v <= THREAD_SLOTS) {
            sample_thread(v - 1, 0, uc);
        }
        else if (v > THREAD_SLOTS && v <= 2 * THREAD_SLOTS) {
            sample_thread(v - 1 - THREAD_SLOTS, 1, uc);
        }
    }
    tls_in_handler = 0;
out:
    errno = saved;
}

/* ------------------------------------------------------------------
 * Starting and stopping, under lock.
 */

/* Once per process: the handler, and the unwinder primed outside any
 * handler (its first use initialises caches and may allocate). */
static apr_status_t install(void)
{
    struct sigaction sa, old;
    void *pcs[8];

    if (installed) {
        return APR_SUCCESS;
    }
    if (sigaction(SIGPROF, NULL, &old) != 0) {
        return errno;
    }
    if ((old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != NULL
        : (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
        /* Someone else's profiler (gperftools...). */
        return APR_EBUSY;
    }
    (void)unw_backtrace(pcs, 8);
    (void)clock_ns(CLOCK_THREAD_CPUTIME_ID);
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGPROF);
    if (sigaction(SIGPROF, &sa, NULL) != 0) {
        return errno;
    }
    A_STORE(&installed, 1);
    return APR_SUCCESS;
}

static void wait_zero(int *count)
{
    struct timespec ts = { 0, 100000 };

    /* A handler is bounded (at most PROF_CPU_DEPTH_MAX unwind steps). */
    while (A_LOAD(count) != 0) {
        nanosleep(&ts, NULL);
    }
}

static apr_status_t check_args(int hz, apr_size_t *max_bytes,
                               apr_size_t dflt)
{
    if (hz < PROF_CPU_HZ_MIN || hz > PROF_CPU_HZ_MAX) {
        return APR_EINVAL;
    }
    if (*max_bytes == 0) {
        *max_bytes = dflt;
    }
    if (*max_bytes < PROF_CPU_BYTES_MIN) {
        return APR_EINVAL;
    }
    return APR_SUCCESS;
}

/* The written prefix of b, copied into p. */
static prof_cpu_raw_t *raw_from(const sbuf_t *b, apr_pool_t *p)
{
    prof_cpu_raw_t *raw = apr_pcalloc(p, sizeof(*raw));
    apr_size_t end = b->used < b->cap ? b->used : b->cap, at = 0;

    while (at + 2 <= end && b->words[at] != 0) {
        apr_uint64_t h = b->words[at];

        at += 2 + LABEL_WORDS(REC_RL(h), REC_PL(h)) + REC_NF(h);
    }
    if (at > end) {
        at = end;       /* cannot happen: records are written whole */
    }
    raw->nwords = at;
    raw->words = at ? apr_pmemdup(p, b->words, at * sizeof(apr_uint64_t))
                    : NULL;
    raw->info.samples = b->samples;
    raw->info.dropped = b->dropped;
    raw->info.pid = (apr_int64_t)getpid();
    return raw;
}

/* SIGPROF is blocked in the threads of httpd's worker and event MPMs
 * (apr_setup_signal_thread() blocks every asynchronous signal before they
 * are created): a thread has to unblock it itself. */
static void unblock_here(void)
{
    sigset_t set;

    if (!tls_unblocked) {
        sigemptyset(&set);
        sigaddset(&set, SIGPROF);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        tls_unblocked = 1;
    }
}

/* A CPU timer on thread tid for the running process session, unless it
 * has one; under lock. */
static apr_status_t proc_timer_add(pid_t tid)
{
    struct sigevent sev;
    struct itimerspec its;
    ptimer_t *pt;
    int i;

    for (i = 0; i < proc.ntimers; ++i) {
        if (proc.timers[i].tid == tid) {
            return APR_SUCCESS;
        }
    }
    if (proc.ntimers >= PROF_CPU_THREADS_MAX) {
        ++proc.untimed;
        return APR_ENOSPC;
    }
    pt = &proc.timers[proc.ntimers];
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_int = PROC_TAG;
    sev._sigev_un._tid = tid;
    if (timer_create(THREAD_CPUCLOCK(tid), &sev, &pt->timer) != 0) {
        return errno;   /* e.g. the thread has just exited */
    }
    pt->tid = tid;
    its.it_interval.tv_sec = proc.hz == 1 ? 1 : 0;
    its.it_interval.tv_nsec = proc.hz == 1 ? 0 : 1000000000L / proc.hz;
    its.it_value = its.it_interval;
    if (timer_settime(pt->timer, 0, &its, NULL) != 0) {
        apr_status_t rv = errno;

        timer_delete(pt->timer);
        return rv;
    }
    ++proc.ntimers;
    return APR_SUCCESS;
}

/* Every thread of the process now; those that block SIGPROF give samples
 * once they call prof_cpu_thread_attach(). Under lock. */
static void proc_timers_all(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;

    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char *end;
        long tid = strtol(e->d_name, &end, 10);

        if (e->d_name[0] != '.' && *end == '\0' && tid > 0) {
            (void)proc_timer_add((pid_t)tid);
        }
    }
    closedir(d);
}

void prof_cpu_thread_attach(void)
{
    unsigned gen;

    if (!A_RLOAD(&installed)) {
        return;
    }
    unblock_here();
    gen = A_RLOAD(&proc.gen);
    if (gen == 0 || tls_attached == gen) {
        return;
    }
    pthread_mutex_lock(&lock);
    if (proc.running && proc.gen == gen) {
        (void)proc_timer_add((pid_t)syscall(SYS_gettid));
    }
    tls_attached = gen;
    pthread_mutex_unlock(&lock);
}

static void proc_timers_delete(void)
{
    int i;

    for (i = 0; i < proc.ntimers; ++i) {
        timer_delete(proc.timers[i].timer);
    }
    proc.ntimers = 0;
}

apr_status_t prof_cpu_process_start(int hz, apr_size_t max_bytes)
{
    apr_status_t rv;

    if ((rv = check_args(hz, &max_bytes, PROF_CPU_PROCESS_BYTES))) {
        return rv;
    }
    pthread_mutex_lock(&lock);
    if (proc.running) {
        rv = APR_EBUSY;
        goto leave;
    }
    if ((rv = install()) != APR_SUCCESS) {
        goto leave;
    }
    memset(&proc.buf, 0, sizeof(proc.buf));
    proc.buf.cap = max_bytes / sizeof(apr_uint64_t);
    proc.buf.words = calloc(proc.buf.cap, sizeof(apr_uint64_t));
    proc.timers = calloc(PROF_CPU_THREADS_MAX, sizeof(ptimer_t));
    if (proc.buf.words == NULL || proc.timers == NULL) {
        free(proc.buf.words);
        free(proc.timers);
        proc.buf.words = NULL;
        proc.timers = NULL;
        rv = APR_ENOMEM;
        goto leave;
    }
    proc.ntimers = 0;
    proc.untimed = 0;
    proc.hz = hz;
    proc.period_ns = 1000000000 / hz;
    proc.start = apr_time_now();
    proc.start_ns = clock_ns(CLOCK_MONOTONIC);
    proc.running = 1;
    if (++proc_gens == 0) {
        proc_gens = 1;
    }
    A_STORE(&proc.active, 1);
    A_STORE(&proc.gen, proc_gens);
    proc_timers_all();
    /* The starting thread is sampled too, if it blocked SIGPROF. */
    unblock_here();
    tls_attached = proc_gens;
leave:
    pthread_mutex_unlock(&lock);
    return rv;
}

apr_status_t prof_cpu_process_stop(apr_pool_t *p, prof_cpu_raw_t **raw)
{
    apr_int64_t end_ns;

    pthread_mutex_lock(&lock);
    if (!proc.running) {
        pthread_mutex_unlock(&lock);
        return APR_ENOENT;
    }
    A_STORE(&proc.gen, 0);
    A_STORE(&proc.active, 0);
    /* Deleting a timer also takes its signal back if still pending. */
    proc_timers_delete();
    wait_zero(&proc.inflight);
    end_ns = clock_ns(CLOCK_MONOTONIC);
    if (raw) {
        *raw = raw_from(&proc.buf, p);
        (*raw)->info.hz = proc.hz;
        (*raw)->info.wall = 0;
        (*raw)->info.start = proc.start;
        (*raw)->info.duration_ns = end_ns - proc.start_ns;
    }
    free(proc.buf.words);
    free(proc.timers);
    memset(&proc.buf, 0, sizeof(proc.buf));
    proc.timers = NULL;
    proc.running = 0;
    pthread_mutex_unlock(&lock);
    return APR_SUCCESS;
}

int prof_cpu_process_active(void)
{
    return A_RLOAD(&proc.active);
}

/* Stops ts; called under lock. */
static void thread_stop_locked(prof_cpu_thread_t *ts)
{
    tslot_t *s = &slots[ts->slot];

    /* The slot first: a signal still on its way finds it empty. */
    A_STORE(&s->ts, NULL);
    (void)timer_delete(ts->timer);
    (void)timer_delete(ts->cpu_timer);
    wait_zero(&s->inflight);
    ts->stopped = 1;
    --nslots_used;
}

static apr_status_t thread_cleanup(void *data)
{
    prof_cpu_thread_t *ts = data;

    pthread_mutex_lock(&lock);
    if (!ts->stopped) {
        thread_stop_locked(ts);
    }
    pthread_mutex_unlock(&lock);
    return APR_SUCCESS;
}

apr_status_t prof_cpu_thread_start(int hz, apr_size_t max_bytes,
                                   apr_pool_t *p, prof_cpu_thread_t **t)
{
    prof_cpu_thread_t *ts;
    struct sigevent sev;
    struct itimerspec its;
    apr_status_t rv;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    int i, slot = -1;

    *t = NULL;
    if ((rv = check_args(hz, &max_bytes, PROF_CPU_THREAD_BYTES))) {
        return rv;
    }
    ts = apr_pcalloc(p, sizeof(*ts));
    ts->pool = p;
    ts->tid = tid;
    ts->hz = hz;
    ts->buf.cap = max_bytes / sizeof(apr_uint64_t);
    ts->buf.words = apr_pcalloc(p, ts->buf.cap * sizeof(apr_uint64_t));

    pthread_mutex_lock(&lock);
    if ((rv = install()) != APR_SUCCESS) {
        goto leave;
    }
    unblock_here();
    for (i = 0; i < THREAD_SLOTS; ++i) {
        prof_cpu_thread_t *o = slots[i].ts;

        if (o == NULL) {
            if (slot < 0) {
                slot = i;
            }
        }
        else if (o->tid == tid) {
            rv = APR_EBUSY;
            goto leave;
        }
    }
    if (slot < 0) {
        rv = APR_EBUSY;
        goto leave;
    }
    ts->slot = slot;
    memset(&sev, 0, sizeof(sev));
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_value.sival_int = slot + 1;
    sev._sigev_un._tid = tid;
    if (timer_create(CLOCK_MONOTONIC, &sev, &ts->timer) != 0) {
        rv = errno;
        goto leave;
    }
    sev.sigev_value.sival_int = THREAD_SLOTS + slot + 1;
    if (timer_create(THREAD_CPUCLOCK(tid), &sev, &ts->cpu_timer) != 0) {
        rv = errno;
        timer_delete(ts->timer);
        goto leave;
    }
    ts->start = apr_time_now();
    ts->start_ns = ts->last_wall_ns = clock_ns(CLOCK_MONOTONIC);
    ts->last_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    A_STORE(&slots[slot].ts, ts);
    ++nslots_used;
    its.it_interval.tv_sec = hz == 1 ? 1 : 0;
    its.it_interval.tv_nsec = hz == 1 ? 0 : 1000000000L / hz;
    its.it_value = its.it_interval;
    ts->period = its;
    memset(&ts->off, 0, sizeof(ts->off));
    if (timer_settime(ts->timer, 0, &its, NULL) != 0) {
        rv = errno;
        thread_stop_locked(ts);
        goto leave;
    }
    apr_pool_cleanup_register(p, ts, thread_cleanup, apr_pool_cleanup_null);
    *t = ts;
leave:
    pthread_mutex_unlock(&lock);
    return rv;
}

apr_status_t prof_cpu_thread_stop(prof_cpu_thread_t *ts, apr_pool_t *rp,
                                  prof_cpu_raw_t **raw)
{
    apr_int64_t end_ns;

    pthread_mutex_lock(&lock);
    if (ts->stopped) {
        pthread_mutex_unlock(&lock);
        return APR_ENOENT;
    }
    thread_stop_locked(ts);
    pthread_mutex_unlock(&lock);
    apr_pool_cleanup_kill(ts->pool, ts, thread_cleanup);
    end_ns = clock_ns(CLOCK_MONOTONIC);
    if (ts->parked) {
        /* The wait since the last sample, on its stack (no handler can
         * run for ts any more). */
        apr_int64_t cpu = clock_ns(THREAD_CPUCLOCK(ts->tid));
        apr_int64_t wait = (end_ns - ts->last_wall_ns)
                           - (cpu > ts->last_cpu_ns ? cpu - ts->last_cpu_ns
                                                    : 0);

        if (cpu > 0 && wait > 0) {
            ts->wait_rec[1] = (apr_uint64_t)wait;
            (void)append(&ts->buf, ts->wait_rec, ts->wait_n);
        }
    }
    if (raw) {
        *raw = raw_from(&ts->buf, rp);
        (*raw)->info.hz = ts->hz;
        (*raw)->info.wall = 1;
        (*raw)->info.start = ts->start;
        (*raw)->info.duration_ns = end_ns - ts->start_ns;
    }
    return APR_SUCCESS;
}

apr_status_t prof_cpu_unload(void)
{
    struct sigaction sa;
    int i;

    pthread_mutex_lock(&lock);
    if (proc.running) {
        A_STORE(&proc.gen, 0);
        A_STORE(&proc.active, 0);
        proc_timers_delete();
        wait_zero(&proc.inflight);
        free(proc.buf.words);
        free(proc.timers);
        memset(&proc.buf, 0, sizeof(proc.buf));
        proc.timers = NULL;
        proc.running = 0;
    }
    for (i = 0; i < THREAD_SLOTS && nslots_used > 0; ++i) {
        prof_cpu_thread_t *ts = slots[i].ts;

        if (ts) {
            thread_stop_locked(ts);
        }
    }
    if (A_LOAD(&installed)) {
        /* Ignored, not SIG_DFL: a SIGPROF still on its way must not kill
         * the process once our code is gone. */
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_IGN;
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGPROF, &sa, NULL);
        A_STORE(&installed, 0);
    }
    pthread_mutex_unlock(&lock);
    pthread_mutex_lock(&sym_lock);
    if (sym_dwfl) {
        dwfl_end(sym_dwfl);
        sym_dwfl = NULL;
    }
    pthread_mutex_unlock(&sym_lock);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------
 * Raw sets: info, and the binary form.
 */

void prof_cpu_raw_info(const prof_cpu_raw_t *raw, prof_cpu_raw_info_t *info)
{
    *info = raw->info;
}

#define RAW_MAGIC       "PROFRAW1"
#define RAW_HEAD_WORDS  9       /* magic + 8 fields */

apr_status_t prof_cpu_raw_serialize(const prof_cpu_raw_t *raw, apr_pool_t *p,
                                    const char **buf, apr_size_t *len)
{
    apr_size_t n = RAW_HEAD_WORDS + raw->nwords;
    apr_uint64_t *w = apr_palloc(p, n * sizeof(*w));

    memcpy(w, RAW_MAGIC, 8);
    w[1] = (apr_uint64_t)raw->info.pid;
    w[2] = (apr_uint64_t)raw->info.hz;
    w[3] = (apr_uint64_t)raw->info.wall;
    w[4] = (apr_uint64_t)raw->info.start;
    w[5] = (apr_uint64_t)raw->info.duration_ns;
    w[6] = raw->info.samples;
    w[7] = raw->info.dropped;
    w[8] = (apr_uint64_t)raw->nwords;
    if (raw->nwords) {
        memcpy(w + RAW_HEAD_WORDS, raw->words,
               raw->nwords * sizeof(apr_uint64_t));
    }
    *buf = (const char *)w;
    *len = n * sizeof(*w);
    return APR_SUCCESS;
}

apr_status_t prof_cpu_raw_parse(const char *buf, apr_size_t len,
                                apr_pool_t *p, prof_cpu_raw_t **out,
                                const char **err)
{
    apr_uint64_t head[RAW_HEAD_WORDS], *w;
    prof_cpu_raw_t *raw;
    apr_size_t nwords, at = 0, nrec = 0;

    *out = NULL;
    if (len < sizeof(head) || memcmp(buf, RAW_MAGIC, 8) != 0) {
        *err = "not a raw profile (magic)";
        return APR_EGENERAL;
    }
    memcpy(head, buf, sizeof(head));
    nwords = (apr_size_t)head[8];
    if ((len - sizeof(head)) % 8 != 0
        || nwords != (len - sizeof(head)) / 8) {
        *err = "raw profile: length does not match its header";
        return APR_EGENERAL;
    }
    if (head[2] < PROF_CPU_HZ_MIN || head[2] > PROF_CPU_HZ_MAX
        || head[3] > 1) {
        *err = "raw profile: hz or kind out of range";
        return APR_EGENERAL;
    }
    w = apr_palloc(p, nwords ? nwords * 8 : 1);
    memcpy(w, buf + sizeof(head), nwords * 8);
    while (at < nwords) {
        apr_uint64_t h = w[at];
        unsigned nf = REC_NF(h);

        if (!REC_OK(h) || nf == 0 || nf > PROF_CPU_DEPTH_MAX
            || REC_RL(h) > PROF_CPU_ROUTE_MAX
            || REC_PL(h) > PROF_CPU_PHASE_MAX || REC_ST(h) > 1) {
            *err = "raw profile: malformed record header";
            return APR_EGENERAL;
        }
        at += 2 + LABEL_WORDS(REC_RL(h), REC_PL(h)) + nf;
        if (at > nwords) {
            *err = "raw profile: truncated record";
            return APR_EGENERAL;
        }
        ++nrec;
    }
    raw = apr_pcalloc(p, sizeof(*raw));
    raw->info.pid = (apr_int64_t)head[1];
    raw->info.hz = (int)head[2];
    raw->info.wall = (int)head[3];
    raw->info.start = (apr_time_t)head[4];
    raw->info.duration_ns = (apr_int64_t)head[5];
    raw->info.samples = nrec;
    raw->info.dropped = head[7];
    raw->words = w;
    raw->nwords = nwords;
    *out = raw;
    return APR_SUCCESS;
}

apr_status_t prof_cpu_raw_write(const prof_cpu_raw_t *raw, apr_file_t *f)
{
    apr_pool_t *p;
    const char *buf;
    apr_size_t len;
    apr_status_t rv;

    if ((rv = apr_pool_create(&p, NULL)) != APR_SUCCESS) {
        return rv;
    }
    prof_cpu_raw_serialize(raw, p, &buf, &len);
    rv = apr_file_write_full(f, buf, len, NULL);
    apr_pool_destroy(p);
    return rv;
}

apr_status_t prof_cpu_raw_read(apr_file_t *f, apr_pool_t *p,
                               prof_cpu_raw_t **raw, const char **err)
{
    apr_pool_t *tmp;
    char *buf;
    apr_size_t len = 0, size = 65536, got;
    apr_status_t rv;

    *raw = NULL;
    if ((rv = apr_pool_create(&tmp, p)) != APR_SUCCESS) {
        return rv;
    }
    buf = apr_palloc(tmp, size);
    for (;;) {
        if (len == size) {
            char *nb;

            /* The largest a session can gather, and a header. */
            if (size > (apr_size_t)PROF_CPU_PROCESS_BYTES * 16) {
                *err = "raw profile: too large";
                rv = APR_EGENERAL;
                goto leave;
            }
            nb = apr_palloc(tmp, size * 2);
            memcpy(nb, buf, len);
            buf = nb;
            size *= 2;
        }
        got = size - len;
        rv = apr_file_read(f, buf + len, &got);
        len += got;
        if (APR_STATUS_IS_EOF(rv)) {
            break;
        }
        if (rv != APR_SUCCESS) {
            *err = "raw profile: read error";
            goto leave;
        }
    }
    rv = prof_cpu_raw_parse(buf, len, p, raw, err);
leave:
    apr_pool_destroy(tmp);
    return rv;
}

/* ------------------------------------------------------------------
 * Symbolization.
 */

/* Debug files by build id only (/usr/lib/debug/.build-id/...): never
 * dwfl_standard_find_debuginfo, which asks debuginfod servers over the
 * network when DEBUGINFOD_URLS is set. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata,
                          const char *modname, Dwarf_Addr base,
                          const char *file_name,
                          const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
    return dwfl_build_id_find_debuginfo(mod, userdata, modname, base,
                                        file_name, debuglink_file,
                                        debuglink_crc, debuginfo_file_name);
}

static const Dwfl_Callbacks dwfl_callbacks = {
    dwfl_linux_proc_find_elf,
    find_debuginfo,
    NULL,
    NULL
};

static Dwfl *dwfl_fresh(void)
{
    Dwfl *d = dwfl_begin(&dwfl_callbacks);
    FILE *maps;
    int failed;

    if (d == NULL) {
        return NULL;
    }
    /* The maps through a FILE of our own, not dwfl_linux_proc_report():
     * that one also reads /proc/<pid>/auxv, which a process that changed
     * its uid (an httpd child: not dumpable) may not read, and then every
     * static function would be "object+0x..." (found by cpu-server). */
    dwfl_report_begin(d);
    maps = fopen("/proc/self/maps", "r");
    failed = maps == NULL || dwfl_linux_proc_maps_report(d, maps) != 0;
    if (maps) {
        fclose(maps);
    }
    if (failed) {
        dwfl_end(d);
        return NULL;
    }
    dwfl_report_end(d, NULL, NULL);
    return d;
}

typedef struct {
    apr_pool_t *p;
    prof_stacks_t *s;
    int refreshed;              /* sym_dwfl rebuilt during this call */
    apr_hash_t *frame_of;       /* lookup address -> index + 1 */
    apr_hash_t *mapping_of;     /* object's start -> mapping index + 1 */
    apr_hash_t *stack_of;       /* key -> index into s->stacks */
} symctx_t;

/* A symbol's name without its version ("memcpy@@GLIBC_2.14"). */
static const char *bare_name(const char *name, apr_pool_t *p)
{
    const char *at = strchr(name, '@');

    return at ? apr_pstrmemdup(p, name, (apr_size_t)(at - name))
              : apr_pstrdup(p, name);
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');

    return b ? b + 1 : path;
}

static apr_uint32_t mapping_for(symctx_t *c, Dwfl_Module *m)
{
    apr_uint32_t *idx;
    prof_mapping_t *mp;
    Dwarf_Addr start = 0, end = 0;
    const unsigned char *bits;
    GElf_Addr vaddr;
    const char *name;
    int n;

    name = dwfl_module_info(m, NULL, &start, &end, NULL, NULL, NULL, NULL);
    idx = apr_hash_get(c->mapping_of, &start, sizeof(start));
    if (idx) {
        return *idx;
    }
    mp = apr_array_push(c->s->mappings);
    mp->start = start;
    mp->limit = end;
    mp->offset = 0;
    mp->file = apr_pstrdup(c->p, name ? name : "");
    mp->build_id = NULL;
    /* The build id is read with the ELF file. */
    (void)dwfl_module_getelf(m, &vaddr);
    n = dwfl_module_build_id(m, &bits, &vaddr);
    if (n > 0) {
        char *hex = apr_palloc(c->p, (apr_size_t)n * 2 + 1);
        int i;

        for (i = 0; i < n; ++i) {
            static const char digits[] = "0123456789abcdef";

            hex[2 * i] = digits[bits[i] >> 4];
            hex[2 * i + 1] = digits[bits[i] & 15];
        }
        hex[2 * n] = '\0';
        mp->build_id = hex;
    }
    idx = apr_palloc(c->p, sizeof(*idx));
    *idx = (apr_uint32_t)c->s->mappings->nelts;
    apr_hash_set(c->mapping_of, apr_pmemdup(c->p, &start, sizeof(start)),
                 sizeof(start), idx);
    return *idx;
}

/* The frame of lookup address a (pc, or pc - 1 for a caller). */
static apr_uint32_t frame_for(symctx_t *c, apr_uint64_t a)
{
    apr_uint32_t *idx = apr_hash_get(c->frame_of, &a, sizeof(a));
    prof_frame_t *f;
    Dwfl_Module *m;

    if (idx) {
        return *idx - 1;
    }
    m = sym_dwfl ? dwfl_addrmodule(sym_dwfl, a) : NULL;
    if (m == NULL && !c->refreshed) {
        c->refreshed = 1;
        if (sym_dwfl) {
            dwfl_end(sym_dwfl);
        }
        sym_dwfl = dwfl_fresh();
        m = sym_dwfl ? dwfl_addrmodule(sym_dwfl, a) : NULL;
    }
    if (m) {
        Dwarf_Addr lo = 0, hi = 0;

        /* Without auxv, the maps' unnamed or special regions after an
         * object (the vDSO...) can be taken for part of it: only the
         * object's own range counts; dladdr() knows the rest. */
        (void)dwfl_module_info(m, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
        if (a < lo || a >= hi) {
            m = NULL;
        }
    }
    f = apr_array_push(c->s->frames);
    memset(f, 0, sizeof(*f));
    f->addr = a;
    if (m) {
        GElf_Off off = 0;
        GElf_Sym sym;
        GElf_Addr bias = 0;
        const char *name, *modname;
        Dwfl_Line *line;

        f->mapping = mapping_for(c, m);
        name = dwfl_module_addrinfo(m, a, &off, &sym, NULL, NULL, NULL);
        if (name && *name) {
            f->name = bare_name(name, c->p);
        }
        else {
            modname = dwfl_module_info(m, NULL, NULL, NULL, NULL, NULL,
                                       NULL, NULL);
            (void)dwfl_module_getelf(m, &bias);
            f->name = apr_psprintf(c->p, "%s+0x%" APR_UINT64_T_HEX_FMT,
                                   base_name(modname ? modname : "?"),
                                   (apr_uint64_t)(a - bias));
        }
        line = dwfl_module_getsrc(m, a);
        if (line) {
            int lineno = 0;
            const char *file = dwfl_lineinfo(line, NULL, &lineno, NULL,
                                             NULL, NULL);

            if (file) {
                f->file = apr_pstrdup(c->p, file);
                f->line = lineno > 0 ? (apr_uint32_t)lineno : 0;
            }
        }
    }
    else {
        Dl_info di;

        if (dladdr((void *)(apr_uintptr_t)a, &di) && di.dli_fname) {
            f->name = di.dli_sname
                ? bare_name(di.dli_sname, c->p)
                : apr_psprintf(c->p, "%s+0x%" APR_UINT64_T_HEX_FMT,
                               base_name(di.dli_fname),
                               (apr_uint64_t)(a - (apr_uintptr_t)di.dli_fbase));
        }
        else {
            f->name = apr_psprintf(c->p, "?+0x%" APR_UINT64_T_HEX_FMT, a);
        }
    }
    idx = apr_palloc(c->p, sizeof(*idx));
    *idx = (apr_uint32_t)c->s->frames->nelts;
    apr_hash_set(c->frame_of, apr_pmemdup(c->p, &a, sizeof(a)), sizeof(a),
                 idx);
    return *idx - 1;
}

static apr_int64_t samples_of(apr_int64_t weight, int hz)
{
    apr_int64_t period = 1000000000 / (hz > 0 ? hz : 1);
    apr_int64_t n = (weight + period / 2) / period;

    return n > 0 ? n : 1;
}

static void add_samples(symctx_t *c, const prof_cpu_raw_t *raw,
                        apr_pool_t *tmp)
{
    apr_size_t at = 0;
    apr_uint32_t fr[PROF_CPU_DEPTH_MAX];

    while (at < raw->nwords) {
        apr_uint64_t h = raw->words[at];
        unsigned nf = REC_NF(h), rl = REC_RL(h), pl = REC_PL(h), i;
        apr_int64_t weight = (apr_int64_t)raw->words[at + 1];
        const char *label = (const char *)&raw->words[at + 2];
        const apr_uint64_t *pcs = &raw->words[at + 2 + LABEL_WORDS(rl, pl)];
        int state = raw->info.wall ? (int)REC_ST(h) : PROF_STACK_ONCPU;
        char *key;
        apr_size_t klen;
        prof_stack_t *st;

        at += 2 + LABEL_WORDS(rl, pl) + nf;
        for (i = 0; i < nf; ++i) {
            fr[i] = frame_for(c, i == 0 ? pcs[i] : pcs[i] - 1);
        }
        /* Key: pid, state, lengths, label bytes, frames. */
        klen = sizeof(apr_int64_t) + 3 + rl + pl + nf * sizeof(fr[0]);
        key = apr_palloc(tmp, klen);
        memcpy(key, &raw->info.pid, sizeof(apr_int64_t));
        key[8] = (char)state;
        key[9] = (char)rl;
        key[10] = (char)pl;
        memcpy(key + 11, label, rl + pl);
        memcpy(key + 11 + rl + pl, fr, nf * sizeof(fr[0]));
        st = apr_hash_get(c->stack_of, key, (apr_ssize_t)klen);
        if (st == NULL) {
            apr_uint32_t *frames = apr_pmemdup(c->p, fr,
                                               nf * sizeof(fr[0]));
            apr_size_t idx = (apr_size_t)c->s->stacks->nelts;

            st = apr_array_push(c->s->stacks);
            memset(st, 0, sizeof(*st));
            st->nframes = nf;
            st->frames = frames;
            st->state = state;
            st->pid = raw->info.pid;
            st->route = rl ? apr_pstrmemdup(c->p, label, rl) : NULL;
            st->phase = pl ? apr_pstrmemdup(c->p, label + rl, pl) : NULL;
            /* The hash holds the index, as the array may move. */
            apr_hash_set(c->stack_of, apr_pmemdup(c->p, key, klen),
                         (apr_ssize_t)klen, (void *)(apr_uintptr_t)(idx + 1));
        }
        else {
            st = &APR_ARRAY_IDX(c->s->stacks,
                                (apr_uintptr_t)st - 1, prof_stack_t);
        }
        /* A wall-clock record can stand for a whole wait (see
         * sample_thread()): it counts as the periods it lasted. */
        st->samples += raw->info.wall ? samples_of(weight, raw->info.hz) : 1;
        st->nanos += weight;
    }
}

apr_status_t prof_cpu_symbolize(prof_cpu_raw_t *const *raws, int nraw,
                                apr_pool_t *p, prof_stacks_t **out)
{
    symctx_t c;
    apr_pool_t *tmp;
    apr_status_t rv;
    int i, wall = nraw > 0 ? raws[0]->info.wall : 0;
    int hz = nraw > 0 ? raws[0]->info.hz : 100;

    *out = NULL;
    if ((rv = apr_pool_create(&tmp, p)) != APR_SUCCESS) {
        return rv;
    }
    memset(&c, 0, sizeof(c));
    c.p = p;
    c.s = prof_stacks_make(p, wall, 1000000000 / (hz > 0 ? hz : 100));
    c.frame_of = apr_hash_make(tmp);
    c.mapping_of = apr_hash_make(tmp);
    c.stack_of = apr_hash_make(tmp);
    pthread_mutex_lock(&sym_lock);
    if (sym_dwfl == NULL) {
        sym_dwfl = dwfl_fresh();
        c.refreshed = 1;
    }
    for (i = 0; i < nraw; ++i) {
        const prof_cpu_raw_info_t *in = &raws[i]->info;

        if (c.s->start == 0 || (in->start && in->start < c.s->start)) {
            c.s->start = in->start;
        }
        if (in->duration_ns > c.s->duration_ns) {
            c.s->duration_ns = in->duration_ns;
        }
        add_samples(&c, raws[i], tmp);
    }
    pthread_mutex_unlock(&sym_lock);
    apr_pool_destroy(tmp);
    *out = c.s;
    return APR_SUCCESS;
}
