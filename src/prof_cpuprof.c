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

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
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
    timer_t timer;
    int slot;
    pid_t tid;
    int hz;
    int stopped;                /* under lock */
    apr_time_t start;
    apr_int64_t start_ns;
    /* The handler's, on the session's own thread only. */
    apr_int64_t last_wall_ns, last_cpu_ns;
};

typedef struct {
    prof_cpu_thread_t *ts;
    int inflight;
} tslot_t;

/* Everything below is process-wide: changed under lock only, read by the
 * handler with atomics. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int installed;
static struct {
    sbuf_t buf;
    int active;
    int inflight;
    int running;                /* under lock: started, not stopped */
    int hz;
    apr_int64_t period_ns;
    apr_time_t start;
    apr_int64_t start_ns;
} proc;
static tslot_t slots[THREAD_SLOTS];
static int nslots_used;         /* under lock */

/* initial-exec: allocated with the thread, so reading them in a signal
 * handler never calls into the dynamic TLS allocator (malloc), even in a
 * module that was dlopen()ed. */
#define TLS_IE __thread __attribute__((tls_model("initial-exec")))
static TLS_IE const prof_cpu_label_t *tls_label;
static TLS_IE int tls_in_handler;

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

static void record(sbuf_t *b, void *uc, int state, apr_int64_t weight)
{
    apr_uint64_t rec[REC_MAX_WORDS];
    const prof_cpu_label_t *l = tls_label;
    char label[PROF_CPU_ROUTE_MAX + PROF_CPU_PHASE_MAX];
    unsigned rl = 0, pl = 0, lw, nf, i;
    apr_size_t n, at;
    int depth;

    depth = unwind(uc, rec + 2);
    if (depth <= 0) {
        A_FADD(&b->dropped, 1);
        return;
    }
    nf = (unsigned)depth;
    if (l) {
        rl = copy_str(label, l->route, PROF_CPU_ROUTE_MAX);
        pl = copy_str(label + rl, l->phase, PROF_CPU_PHASE_MAX);
    }
    lw = LABEL_WORDS(rl, pl);
    n = 2 + lw + nf;
    at = A_FADD(&b->used, n);
    if (at + n > b->cap) {
        A_FADD(&b->dropped, 1);
        return;
    }
    b->words[at + 1] = (apr_uint64_t)weight;
    if (lw) {
        /* The last label word's padding is zeroed with the rest. */
        b->words[at + 1 + lw] = 0;
        memcpy(&b->words[at + 2], label, rl + pl);
    }
    for (i = 0; i < nf; ++i) {
        b->words[at + 2 + lw + i] = rec[2 + i];
    }
    A_STORE(&b->words[at], REC_HEAD(nf, rl, pl, state));
    A_FADD(&b->samples, 1);
}

static void sample_thread(int idx, void *uc)
{
    tslot_t *s = &slots[idx];
    prof_cpu_thread_t *ts;

    A_FADD(&s->inflight, 1);
    ts = A_LOAD(&s->ts);
    if (ts && ts->tid == (pid_t)syscall(SYS_gettid)) {
        apr_int64_t now = clock_ns(CLOCK_MONOTONIC);
        apr_int64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        apr_int64_t dwall = now - ts->last_wall_ns;
        apr_int64_t dcpu = cpu - ts->last_cpu_ns;

        ts->last_wall_ns = now;
        ts->last_cpu_ns = cpu;
        if (dwall > 0) {
            record(&ts->buf, uc, 2 * dcpu >= dwall ? PROF_STACK_ONCPU
                                                    : PROF_STACK_WAITING,
                   dwall);
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
    if (si && si->si_code == SI_TIMER) {
        int idx = si->si_value.sival_int - 1;

        if (idx >= 0 && idx < THREAD_SLOTS) {
            sample_thread(idx, uc);
        }
    }
    else {
        A_FADD(&proc.inflight, 1);
        if (A_LOAD(&proc.active)) {
            record(&proc.buf, uc, PROF_STACK_ONCPU, proc.period_ns);
        }
        A_FADD(&proc.inflight, -1);
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
    installed = 1;
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

apr_status_t prof_cpu_process_start(int hz, apr_size_t max_bytes)
{
    struct itimerval it;
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
    if (getitimer(ITIMER_PROF, &it) != 0) {
        rv = errno;
        goto leave;
    }
    if (it.it_value.tv_sec || it.it_value.tv_usec) {
        rv = APR_EBUSY;
        goto leave;
    }
    memset(&proc.buf, 0, sizeof(proc.buf));
    proc.buf.cap = max_bytes / sizeof(apr_uint64_t);
    proc.buf.words = calloc(proc.buf.cap, sizeof(apr_uint64_t));
    if (proc.buf.words == NULL) {
        rv = APR_ENOMEM;
        goto leave;
    }
    proc.hz = hz;
    proc.period_ns = 1000000000 / hz;
    proc.start = apr_time_now();
    proc.start_ns = clock_ns(CLOCK_MONOTONIC);
    proc.running = 1;
    A_STORE(&proc.active, 1);
    it.it_interval.tv_sec = 0;
    it.it_interval.tv_usec = 1000000 / hz;
    if (hz == 1) {
        it.it_interval.tv_sec = 1;
        it.it_interval.tv_usec = 0;
    }
    it.it_value = it.it_interval;
    if (setitimer(ITIMER_PROF, &it, NULL) != 0) {
        rv = errno;
        A_STORE(&proc.active, 0);
        wait_zero(&proc.inflight);
        free(proc.buf.words);
        proc.buf.words = NULL;
        proc.running = 0;
    }
leave:
    pthread_mutex_unlock(&lock);
    return rv;
}

apr_status_t prof_cpu_process_stop(apr_pool_t *p, prof_cpu_raw_t **raw)
{
    struct itimerval off;
    apr_int64_t end_ns;

    pthread_mutex_lock(&lock);
    if (!proc.running) {
        pthread_mutex_unlock(&lock);
        return APR_ENOENT;
    }
    memset(&off, 0, sizeof(off));
    (void)setitimer(ITIMER_PROF, &off, NULL);
    A_STORE(&proc.active, 0);
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
    memset(&proc.buf, 0, sizeof(proc.buf));
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
    ts->start = apr_time_now();
    ts->start_ns = ts->last_wall_ns = clock_ns(CLOCK_MONOTONIC);
    ts->last_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    A_STORE(&slots[slot].ts, ts);
    ++nslots_used;
    its.it_interval.tv_sec = hz == 1 ? 1 : 0;
    its.it_interval.tv_nsec = hz == 1 ? 0 : 1000000000L / hz;
    its.it_value = its.it_interval;
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
    if (raw) {
        *raw = raw_from(&ts->buf, rp);
        (*raw)->info.hz = ts->hz;
        (*raw)->info.wall = 1;
        (*raw)->info.start = ts->start;
        (*raw)->info.duration_ns = end_ns - ts->start_ns;
    }
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

typedef struct {
    apr_pool_t *p;
    prof_stacks_t *s;
    Dwfl *dwfl;
    apr_hash_t *frame_of;       /* lookup address -> index + 1 */
    apr_hash_t *mapping_of;     /* Dwfl_Module * -> mapping index + 1 */
    apr_hash_t *stack_of;       /* key -> index into s->stacks */
} symctx_t;

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');

    return b ? b + 1 : path;
}

static apr_uint32_t mapping_for(symctx_t *c, Dwfl_Module *m)
{
    apr_uint32_t *idx = apr_hash_get(c->mapping_of, &m, sizeof(m));
    prof_mapping_t *mp;
    Dwarf_Addr start = 0, end = 0;
    const unsigned char *bits;
    GElf_Addr vaddr;
    const char *name;
    int n;

    if (idx) {
        return *idx;
    }
    name = dwfl_module_info(m, NULL, &start, &end, NULL, NULL, NULL, NULL);
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
    apr_hash_set(c->mapping_of, apr_pmemdup(c->p, &m, sizeof(m)), sizeof(m),
                 idx);
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
    m = c->dwfl ? dwfl_addrmodule(c->dwfl, a) : NULL;
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
            f->name = apr_pstrdup(c->p, name);
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
                ? apr_pstrdup(c->p, di.dli_sname)
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
        st->samples += 1;
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
    /* dwfl is not thread-safe: one per call (not shared). */
    c.dwfl = dwfl_begin(&dwfl_callbacks);
    if (c.dwfl) {
        /* dwfl_linux_proc_report() also reads /proc/<pid>/auxv (for the
         * vDSO), which a process that changed its uid (an httpd child:
         * not dumpable) may not read: then the maps alone, through a FILE
         * of our own, rather than no symbol tables at all (every static
         * function would be dladdr's "object+0x.."). */
        int failed;

        dwfl_report_begin(c.dwfl);
        failed = dwfl_linux_proc_report(c.dwfl, getpid()) != 0;
        if (failed) {
            FILE *maps = fopen("/proc/self/maps", "r");

            dwfl_report_begin(c.dwfl);
            failed = maps == NULL
                     || dwfl_linux_proc_maps_report(c.dwfl, maps) != 0;
            if (maps) {
                fclose(maps);
            }
        }
        if (failed) {
            dwfl_end(c.dwfl);
            c.dwfl = NULL;
        }
        else {
            dwfl_report_end(c.dwfl, NULL, NULL);
        }
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
    if (c.dwfl) {
        dwfl_end(c.dwfl);
    }
    apr_pool_destroy(tmp);
    *out = c.s;
    return APR_SUCCESS;
}
