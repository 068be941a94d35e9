/* Licensed under the Apache License, Version 2.0. */

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE             /* sched_getaffinity(), for the TSC check */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__) && defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <sched.h>
#endif

#include "prof_phase.h"

const char *const prof_phase_names_[PROF_PHASE_COUNT] = {
    "read", "postread", "quick", "translate", "storage", "headers", "access",
    "authn", "authz", "type", "fixups", "handler", "body", "log", "total"
};

/* ", name;dur=" of each phase, in rows of 24 so that one 16-byte copy from
 * the row's start (an entry after another) or from its third byte (the
 * value's first entry) stays inside the row; the longest, translate's, is
 * 16 bytes with its separator. */
static const char phase_st_prefix[PROF_PHASE_COUNT][24] = {
    ", read;dur=", ", postread;dur=", ", quick;dur=", ", translate;dur=",
    ", storage;dur=", ", headers;dur=", ", access;dur=", ", authn;dur=",
    ", authz;dur=", ", type;dur=", ", fixups;dur=", ", handler;dur=",
    ", body;dur=", ", log;dur=", ", total;dur="
};

/* ".000" to ".999": the fraction of a millisecond in one 4-byte copy, the
 * table built by the compiler. */
#define FRAC1(n) { '.', (char)('0' + (n) / 100), \
                   (char)('0' + (n) / 10 % 10), (char)('0' + (n) % 10) }
#define FRAC10(n) FRAC1(n), FRAC1(n + 1), FRAC1(n + 2), FRAC1(n + 3), \
    FRAC1(n + 4), FRAC1(n + 5), FRAC1(n + 6), FRAC1(n + 7), FRAC1(n + 8), \
    FRAC1(n + 9)
#define FRAC100(n) FRAC10(n), FRAC10(n + 10), FRAC10(n + 20), \
    FRAC10(n + 30), FRAC10(n + 40), FRAC10(n + 50), FRAC10(n + 60), \
    FRAC10(n + 70), FRAC10(n + 80), FRAC10(n + 90)
static const char st_frac[1000][4] = {
    FRAC100(0), FRAC100(100), FRAC100(200), FRAC100(300), FRAC100(400),
    FRAC100(500), FRAC100(600), FRAC100(700), FRAC100(800), FRAC100(900)
};

const apr_size_t prof_phase_name_lens_[PROF_PHASE_COUNT] = {
    4, 8, 5, 9, 7, 7, 6, 5, 5, 4, 6, 7, 4, 3, 5
};

/* strlen() of each phase_st_prefix row: ", " + name + ";dur=". */
static const apr_size_t phase_st_prefix_lens[PROF_PHASE_COUNT] = {
    11, 15, 12, 16, 14, 14, 13, 12, 12, 11, 13, 14, 11, 10, 12
};

const char *prof_phase_name(int phase)
{
    return phase >= 0 && phase < PROF_PHASE_COUNT ? prof_phase_names_[phase]
                                                  : NULL;
}

apr_size_t prof_phase_name_len(int phase)
{
    return phase >= 0 && phase < PROF_PHASE_COUNT
           ? prof_phase_name_lens_[phase] : 0;
}

void prof_clock_read_wall_ts(struct timespec *ts)
{
    apr_time_t t = apr_time_now();

    ts->tv_sec = (time_t)apr_time_sec(t);
    ts->tv_nsec = (long)apr_time_usec(t) * 1000;
}

/* Each phase's ticks in microseconds: read once per request that is
 * read (the live aggregates read every one). */
apr_interval_time_t prof_phase_fold(prof_phase_rec_t *rec)
{
    int i;

    /* Unrolled, the scale in a register: a multiply and a shift each. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__SIZEOF_INT128__)
    if (prof_clock_ticks_conf.tsc) {
        const apr_uint64_t mult = prof_clock_ticks_conf.mult;

#if !defined(__clang__) && __GNUC__ >= 8
#pragma GCC unroll 16
#endif
        for (i = PROF_PHASE_READ + 1; i < PROF_PHASE_TOTAL; ++i) {
            rec->dur_us[i] = (apr_interval_time_t)
                (((unsigned __int128)rec->acc[i] * mult) >> 52);
        }
        rec->dur_us[PROF_PHASE_READ] = rec->read_us;
        return prof_phase_elapsed(rec);
    }
#endif
    for (i = PROF_PHASE_READ + 1; i < PROF_PHASE_TOTAL; ++i) {
        rec->dur_us[i] = prof_clock_ticks_us(rec->acc[i]);
    }
    rec->dur_us[PROF_PHASE_READ] = rec->read_us;
    return prof_phase_elapsed(rec);
}

void prof_phase_firsts(prof_phase_rec_t *rec)
{
    int i;

    rec->first_us[PROF_PHASE_READ] = 0;
    for (i = PROF_PHASE_READ + 1; i < PROF_PHASE_COUNT; ++i) {
        rec->first_us[i] =
            i < PROF_PHASE_TOTAL && prof_phase_seen(rec, i)
            ? rec->read_us + prof_clock_ticks_us(rec->first_tick[i]
                                                 - rec->start_tick)
            : -1;
    }
}

prof_mono_us_t prof_phase_start_us(prof_phase_rec_t *rec)
{
    /* Spans may be started by threads other than the request's (see
     * mod_profiler_span.c): the first to get here sets it, the others use
     * its value. */
    prof_mono_us_t cur = __atomic_load_n(&rec->start_us, __ATOMIC_ACQUIRE);

    if (cur == 0) {
        prof_tick_t t = prof_clock_tick();
        prof_mono_us_t v = prof_clock_now_us()
                           - prof_clock_ticks_us(t - rec->start_tick);

        if (v == 0) {
            v = -1;             /* 0 means "not yet" */
        }
        if (__atomic_compare_exchange_n(&rec->start_us, &cur, v, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            cur = v;
        }
    }
    return cur;
}

/* Room the fast path may touch for one entry: a 16-byte prefix copy
 * (", " included), 20 digits, ".fff" and the NUL. */
#define ST_ENTRY_ROOM (16 + 20 + 4 + 1)

/* The milliseconds of a duration of 10 ms or more, at p; returns the end.
 * Out of line: the loop that calls put_dur() keeps its registers. */
static char *put_ms(char *p, apr_uint64_t ms)
{
    apr_uint64_t m;
    char *q;

    for (m = ms, q = p; m; m /= 10) {
        q++;
    }
    p = q;
    do {
        *--q = (char)('0' + ms % 10);
        ms /= 10;
    } while (ms);
    return p;
}

/* dur_us as prof_st_put_dur() writes it ("ms.fff", or "0" when not
 * positive), at p; returns the end. Under 10 ms, the common case, the
 * milliseconds are one digit. */
static APR_INLINE char *put_dur(char *p, apr_interval_time_t d)
{
    apr_uint64_t ms;
    unsigned frac;

    if (d <= 0) {
        *p = '0';
        return p + 1;
    }
    ms = (apr_uint64_t)d / 1000;
    frac = (unsigned)((apr_uint64_t)d - ms * 1000);
    if (ms < 10) {
        *p++ = (char)('0' + ms);
    }
    else {
        p = put_ms(p, ms);
    }
    memcpy(p, st_frac[frac], 4);
    return p + 4;
}

/* The rest of the entries from phase i on, checked one by one: near the
 * cap, the exact path decides what fits. */
static void write_st_checked(const prof_phase_rec_t *rec, int i,
                             apr_interval_time_t total_us, prof_st_buf_t *st)
{
    for (; i < PROF_PHASE_BODY; ++i) {
        if (rec->dur_us[i] > 0) {
            prof_st_add_token_dur(st, prof_phase_names_[i],
                                  prof_phase_name_lens_[i], rec->dur_us[i]);
        }
    }
    prof_st_add_token_dur(st, prof_phase_names_[PROF_PHASE_TOTAL],
                          prof_phase_name_lens_[PROF_PHASE_TOTAL], total_us);
}

/* One entry at p, where there is room for it: ", " (unless skip is 2),
 * "name;dur=", the duration. Returns the end. */
static APR_INLINE char *put_entry(char *p, int phase, apr_size_t skip,
                                  apr_interval_time_t d)
{
    memcpy(p, phase_st_prefix[phase] + skip, 16);
    return put_dur(p + phase_st_prefix_lens[phase] - skip, d);
}

void prof_phase_write_st(const prof_phase_rec_t *rec,
                         apr_interval_time_t total_us, prof_st_buf_t *st)
{
    /* The value goes out on every response that carries the header: one
     * pass with the write position in a register, the prefix and the
     * fraction copied from tables, and st updated once at the end. */
    char *p, *end;
    apr_size_t skip;
    unsigned n = 0;
    int i;

    if (st->buf == NULL) {
        write_st_checked(rec, 0, total_us, st);
        return;
    }
    p = st->buf + st->len;
    end = st->buf + st->cap;
    skip = st->entries ? 0 : 2;     /* no ", " before the value's first */
    for (i = 0; i < PROF_PHASE_BODY; ++i) {
        if (rec->dur_us[i] > 0) {
            if ((apr_size_t)(end - p) < ST_ENTRY_ROOM) {
                goto near_cap;
            }
            p = put_entry(p, i, skip, rec->dur_us[i]);
            skip = 0;
            n++;
        }
    }
    i = PROF_PHASE_TOTAL;
    if ((apr_size_t)(end - p) < ST_ENTRY_ROOM) {
        goto near_cap;
    }
    p = put_entry(p, i, skip, total_us);
    n++;
    *p = '\0';
    st->len = (apr_size_t)(p - st->buf);
    st->entries += n;
    return;

near_cap:
    *p = '\0';
    st->len = (apr_size_t)(p - st->buf);
    st->entries += n;
    write_st_checked(rec, i, total_us, st);
}

/* ---- ticks ------------------------------------------------------------ */

prof_clock_ticks_t prof_clock_ticks_conf = { 0, 0, 1e9 };

/* The edges' fast path and its hook. prof_phase_fast is 1 exactly when
 * ticks are the TSC and no hook is set. The hook is set and cleared under
 * hook_lock, a spin on an int: that happens when a profile starts or
 * stops, never on the request path, which only reads both words. */
int prof_phase_fast;
static prof_phase_edge_hook_fn *edge_hook;
static int hook_lock;

static void fast_update(void)
{
    __atomic_store_n(&prof_phase_fast,
                     prof_clock_ticks_conf.tsc
                     && __atomic_load_n(&edge_hook, __ATOMIC_ACQUIRE) == NULL,
                     __ATOMIC_RELEASE);
}

void prof_phase_edge_hook_set(prof_phase_edge_hook_fn *fn)
{
    while (__atomic_exchange_n(&hook_lock, 1, __ATOMIC_ACQUIRE)) {
    }
    __atomic_store_n(&edge_hook, fn, __ATOMIC_RELEASE);
    fast_update();
    __atomic_store_n(&hook_lock, 0, __ATOMIC_RELEASE);
}

void prof_phase_mark_slow(prof_phase_rec_t *rec, int what)
{
    prof_phase_edge_hook_fn *fn;

    prof_phase_edge(rec, what, prof_clock_tick());
    fn = __atomic_load_n(&edge_hook, __ATOMIC_ACQUIRE);
    if (fn) {
        fn(rec, what);
    }
}

prof_tick_t prof_clock_tick_ns(void)
{
    struct timespec ts;

    prof_clock_read_ts(&ts);
    return (prof_tick_t)ts.tv_sec * APR_UINT64_C(1000000000)
           + (prof_tick_t)ts.tv_nsec;
}

#if defined(__x86_64__) && defined(__GNUC__) && defined(__SIZEOF_INT128__)
/* Whether the kernel keeps time with the TSC: then it has found it
 * invariant and synchronised across CPUs, and so may we. */
static int kernel_uses_tsc(void)
{
    char buf[32];
    size_t n;
    FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/"
                    "current_clocksource", "r");

    if (f == NULL) {
        return 0;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strncmp(buf, "tsc", 3) == 0 && (buf[3] == '\n' || buf[3] == '\0');
}

static apr_uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_uint64_t)ts.tv_sec * APR_UINT64_C(1000000000)
           + (apr_uint64_t)ts.tv_nsec;
}

/* A TSC read set against CLOCK_MONOTONIC: the read between two clock
 * reads, put at their midpoint. Returns the two clock reads' distance. */
static apr_uint64_t tsc_at(apr_uint64_t *tsc, apr_uint64_t *ns)
{
    apr_uint64_t a = mono_ns(), b;

    *tsc = __builtin_ia32_rdtsc();
    b = mono_ns();
    *ns = a + (b - a) / 2;
    return b - a;
}

#if defined(__linux__)
/* Whether the CPU says its TSC is invariant (CPUID 0x80000007, EDX bit 8:
 * a constant rate in every P-, C- and T-state). */
static int cpu_tsc_invariant(void)
{
    unsigned int a, b, c, d;

    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u) {
        return 0;
    }
    __cpuid(0x80000007u, a, b, c, d);
    return (d >> 8) & 1u;
}

/* Where the kernel keeps time with something else (kvm-clock in a virtual
 * machine, typically, whose own reads scale the TSC), the TSC is still
 * good for the edges if it is invariant and the same on every CPU this
 * process may run on: checked here by reading it on each of them against
 * CLOCK_MONOTONIC. Each CPU's offset (TSC minus the clock in ticks) must
 * agree with the first one's within 2 us plus the reads' own spread.
 * Returns the CPUs checked, 0 when the TSC will not do. The calling
 * thread's CPU affinity is put back as it was. */
/* The TSC's offset from CLOCK_MONOTONIC on the calling thread's CPU, from
 * the tightest of a few reads (an interrupt may come between), and when. */
static double tsc_offset(double hz, apr_uint64_t *when, apr_uint64_t *spread)
{
    apr_uint64_t tsc = 0, ns = 0;
    int i;

    *spread = ~APR_UINT64_C(0);
    for (i = 0; i < 5; i++) {
        apr_uint64_t t, c, d = tsc_at(&t, &c);

        if (d < *spread) {
            *spread = d;
            tsc = t;
            ns = c;
        }
    }
    *when = ns;
    return (double)tsc - (double)ns * hz / 1e9;
}

/* One pass: every CPU of the mask in turn, then the first one again. The
 * offsets of a TSC that is the same everywhere lie on the line between the
 * first CPU's two (a rate calibrated a little off makes the offset drift
 * with time, the same on every CPU: the line takes that out, however long
 * the moves between CPUs took on a busy machine). */
static int tsc_same_pass(const cpu_set_t *was, double hz)
{
    cpu_set_t one;
    double *off, slack = hz * 2e-6, line, d;
    apr_uint64_t *when, *spread;
    int cpu, first = -1, n = 0, i, same = 0;

    /* Startup only, and no pool here: from the heap, not 24 KiB of
     * stack. */
    off = malloc((CPU_SETSIZE + 1) * (sizeof(*off) + 2 * sizeof(*when)));
    if (off == NULL) {
        return 0;
    }
    when = (apr_uint64_t *)(off + CPU_SETSIZE + 1);
    spread = when + CPU_SETSIZE + 1;
    for (cpu = 0; cpu <= CPU_SETSIZE; cpu++) {
        int c = cpu < CPU_SETSIZE ? cpu : first;

        if (c < 0 || (cpu < CPU_SETSIZE && !CPU_ISSET(c, was))) {
            continue;
        }
        if (first < 0) {
            first = c;
        }
        CPU_ZERO(&one);
        CPU_SET(c, &one);
        if (sched_setaffinity(0, sizeof(one), &one) != 0) {
            free(off);
            return 0;
        }
        off[n] = tsc_offset(hz, &when[n], &spread[n]);
        n++;
    }
    if (n >= 2 && when[n - 1] > when[0]) {
        same = n - 1;
        for (i = 1; i < n - 1 && same; i++) {
            line = off[0] + (off[n - 1] - off[0])
                            * (double)(when[i] - when[0])
                            / (double)(when[n - 1] - when[0]);
            d = off[i] > line ? off[i] - line : line - off[i];
            if (d > slack + (double)(spread[i] + spread[0] + spread[n - 1])
                            * hz / 1e9) {
                same = 0;
            }
        }
    }
    free(off);
    return same;
}

static int tsc_same_everywhere(double hz)
{
    cpu_set_t was;
    int tries, cpus = 0;

    if (!cpu_tsc_invariant()
        || sched_getaffinity(0, sizeof(was), &was) != 0) {
        return 0;
    }
    /* A busy machine can still preempt a pass at the wrong moment: a TSC
     * that differs between CPUs fails every pass, one that does not passes
     * one of three. */
    for (tries = 0; tries < 3 && cpus == 0; tries++) {
        cpus = tsc_same_pass(&was, hz);
    }
    sched_setaffinity(0, sizeof(was), &was);
    return cpus;
}
#endif
#endif

const char *prof_clock_ticks_init(int allow_tsc, char *desc, apr_size_t len)
{

    prof_clock_ticks_conf.tsc = 0;
    prof_clock_ticks_conf.hz = 1e9;
    prof_clock_ticks_conf.mult = 0;
#if defined(__x86_64__) && defined(__GNUC__) && defined(__SIZEOF_INT128__)
    if (allow_tsc) {
        /* Calibrate: ticks against CLOCK_MONOTONIC over ~5 ms, each end
         * read between two clock reads and set at their midpoint (over
         * 200 calibrations on a loaded machine the rate varied by
         * 0.0044 %). */
        apr_uint64_t t0, t1, n0, n1;
        struct timespec pause = { 0, 5000000 };
        double hz = 0;
        int kernel = kernel_uses_tsc(), cpus = 0;

        tsc_at(&t0, &n0);
        nanosleep(&pause, NULL);
        tsc_at(&t1, &n1);
        if (n1 > n0 && t1 > t0) {
            hz = (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
        }
        if (!(hz > 1e8 && hz < 1e11)) {
            kernel = 0;         /* a rate no TSC has: not the TSC */
        }
#if defined(__linux__)
        else if (!kernel) {
            cpus = tsc_same_everywhere(hz);
        }
#endif
        if (kernel || cpus > 0) {
            prof_clock_ticks_conf.hz = hz;
            prof_clock_ticks_conf.mult =
                (apr_uint64_t)(4503599627370496.0 * 1e6 / hz + 0.5);
            prof_clock_ticks_conf.tsc = 1;
            fast_update();
            if (kernel) {
                snprintf(desc, len, "tsc %.3f GHz", hz / 1e9);
            }
            else {
                snprintf(desc, len, "tsc %.3f GHz, invariant, same on %d "
                         "CPUs", hz / 1e9, cpus);
            }
            return desc;
        }
    }
#else
    (void)allow_tsc;
    (void)desc;
    (void)len;
#endif
    fast_update();
    return "clock_gettime";
}
