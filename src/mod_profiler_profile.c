/* Licensed under the Apache License, Version 2.0. */

/*
 * CPU profiles, the httpd side: see mod_profiler_profile.h for the design.
 * The parts, in order:
 *   labels       - the thread's sample label from the phase hooks
 *   control      - the shared block that says whether a whole-server
 *                  profile runs, and the children's side of it (watchdog)
 *   handler      - profiler-profile: parameters, claim, wait, gather, answer
 *   request      - ProfilerRequestProfile: directives, hooks, filter
 *   lint         - where the handler is set, and whether anyone may call it
 */

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apr_file_info.h"
#include "apr_hash.h"
#include "apr_file_io.h"
#include "apr_poll.h"
#include "apr_portable.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_expr.h"
#include "ap_mpm.h"
#include "mod_watchdog.h"
#include "unixd.h"
#include "util_filter.h"

#include "prof_cpuprof.h"
#include "prof_phase.h"
#include "prof_route.h"
#include "prof_row.h"
#include "prof_stacks.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_req.h"
#include "mod_profiler_profile.h"
#include "mod_profiler_report_lint.h"
#include "mod_profiler_collect.h"
#include "mod_profiler_store.h"

/* Whole-server profile parameters (issue 12). */
#define SECONDS_MIN      1
#define SECONDS_MAX      300
#define SECONDS_DEFAULT  30
#define HZ_DEFAULT       99
/* How often the children look at the control block. */
#define POLL_US          apr_time_from_msec(100)
/* How long the handler waits for the children's samples after the stop:
 * they look every POLL_US and write at most a few MB. */
#define GATHER_US        apr_time_from_sec(3)
/* A claim whose owner has not released it this long after its stop time
 * is taken over (its child died). */
#define STALE_US         apr_time_from_sec(30)
/* Most child dumps read, and bytes in all. */
#define DUMPS_MAX        1024

#define WATCHDOG_NAME    "mod_profiler_cpu"
/* pconf's note that ProfilerRequestProfile appears in the configuration
 * (its hooks are registered). */
#define REQPROF_HOOKS_KEY "mod_profiler_reqprof_hooks"
#define DUMP_PREFIX      "cpu."

/* How many sessions (process or thread) sample in this process now:
 * sampling_set() only. */
static int prof_profile_sampling;

/* ---------------------------------------------------------------------
 * Labels
 *
 * The core keeps a pointer to the thread's current label and copies the
 * label's strings in its signal handler; the label must not change while
 * it is current. Each thread has two slots here, in thread-local storage
 * that lives as long as the thread: the next label is written into the
 * slot that is not current, then made current. Nothing of a request's
 * memory is ever pointed at, so a request's pool may go on any thread.
 */

typedef struct {
    prof_cpu_label_t label[2];
    char route[2][PROF_CPU_ROUTE_MAX + 1];
    int cur;
} label_slots_t;

static __thread label_slots_t slots;

/* What this unit keeps of a request: in the initial request's pool,
 * pointed to by prof_req_t.cpuprof. */
typedef struct {
    const char *route;          /* the route label, once computed */
    prof_cpu_thread_t *thread;  /* the request's own session, or NULL */
    prof_cpu_raw_t *raw;        /* its samples, once stopped */
    apr_pool_t *pool;           /* the initial request's */
    apr_int64_t id;             /* the store id named in Server-Timing */
    int hz;
    int stopped;
    int header_sent;
    prof_stacks_t *stacks;      /* symbolized, once asked */
} req_prof_t;

static req_prof_t *req_prof(prof_req_t *rq, int create)
{
    req_prof_t *rp = rq->cpuprof;

    if (rp == NULL && create) {
        rp = apr_pcalloc(rq->r->pool, sizeof(*rp));
        rp->pool = rq->r->pool;
        rq->cpuprof = rp;
    }
    return rp;
}

/* The route label of the request: ProfilerRoute's name, else the folded
 * path (the status is not known yet: no "(not found)"). Computed once, and
 * only while something samples. */
static const char *route_label(prof_req_t *rq, req_prof_t *rp)
{
    request_rec *first = rq->r;
    const prof_srv_conf_t *sconf = prof_config_srv(first->server);
    const char *path;

    if (rp->route) {
        return rp->route;
    }
    path = first->parsed_uri.path ? first->parsed_uri.path : first->uri;
    if (path == NULL) {
        return rp->route = "";
    }
    rp->route = prof_collect_named_route(rp->pool, sconf, path);
    if (rp->route) {
        return rp->route;
    }
    return rp->route = prof_route_fold(rp->pool, path, PROF_ROW_ROUTE_MAX);
}

/*
 * The threaded MPMs block every asynchronous signal in their threads
 * (apr_setup_signal_thread()) and leave them to the main thread's
 * sigwait(): SIGPROF too, so a sampler would see nothing of the threads
 * that serve requests. A thread that works on a request while something
 * samples attaches itself (prof_cpu_thread_attach(): SIGPROF let through,
 * and a CPU timer of its own while a process session runs). Threads that
 * never run a phase hook during a profile (the event MPM's listener) are
 * not sampled.
 */
static APR_INLINE void attach_thread(void)
{
    prof_cpu_thread_attach();
}

static void label_set(const char *route, const char *phase)
{
    int next = !slots.cur;

    attach_thread();
    apr_cpystrn(slots.route[next], route ? route : "",
                sizeof(slots.route[next]));
    slots.label[next].route = route ? slots.route[next] : NULL;
    slots.label[next].phase = phase;    /* prof_phase_name(): static */
    prof_cpu_label_set(&slots.label[next]);
    slots.cur = next;
}

/* The phase record is the first member of prof_req_t: the edge hook is
 * given the record and finds the request from it. */
typedef char phases_first[offsetof(prof_req_t, phases) == 0 ? 1 : -1];

/* The phase record's edge hook, while something samples in this process
 * (sampling_add()): every edge of every request sets the thread's label. */
static void edge_label(prof_phase_rec_t *rec, int what)
{
    prof_req_t *rq = (prof_req_t *)(void *)rec;

    if (what & PROF_MARK_LEAVE) {
        /* The end of logging is the end of the request on this thread. */
        if ((what & ~PROF_MARK_LEAVE) == PROF_PHASE_LOG) {
            prof_cpu_label_set(NULL);
        }
        return;
    }
    label_set(route_label(rq, req_prof(rq, 1)), prof_phase_name(what));
}

/* The sessions sampling in this process, and whether the phase edges
 * label samples: changed together under sampling_lock (a spin: starts and
 * stops are rare and short), so the hook is set exactly while the count is
 * positive. */
static int sampling_lock;

static void sampling_set(int n, int add)
{
    int v;

    while (__atomic_exchange_n(&sampling_lock, 1, __ATOMIC_ACQUIRE)) {
    }
    v = add ? prof_profile_sampling + n : n;
    prof_profile_sampling = v;
    prof_phase_edge_hook_set(v > 0 ? edge_label : NULL);
    __atomic_store_n(&sampling_lock, 0, __ATOMIC_RELEASE);
}

static void sampling_add(int n)
{
    sampling_set(n, 1);
}

/* ---------------------------------------------------------------------
 * Control: the shared block, and the children's side.
 */

/* state: the low 2 bits of ctl_t.word; the rest is the profile's seq. */
#define ST_IDLE       0
#define ST_PREPARING  1     /* claimed, parameters being written */
#define ST_RUNNING    2     /* children sample */
#define ST_STOPPING   3     /* children write their samples */
#if ST_RUNNING != PROF_PROFILE_LAZY_RUNNING
#error "prof_profile_lazy_check() tests the word for ST_RUNNING"
#endif

typedef struct {
    apr_uint64_t magic;
    apr_uint64_t word;          /* seq << 2 | state, compare-and-swapped */
    apr_int64_t hz;
    apr_int64_t stop_at;        /* apr_time_t: children stop by then */
    apr_int64_t claimed_at;
    apr_uint32_t joined;        /* children that started for seq */
    apr_uint32_t dumped;        /* ... and wrote their samples */
    apr_uint32_t failed;        /* children that could not start */
} ctl_t;

#define CTL_MAGIC APR_UINT64_C(0x4d50524f46435055)   /* "MPROFCPU" */

/* Set in post_config, before any child exists; read-only afterwards. */
static ctl_t *ctl;
static const char *dump_dir;
static server_rec *main_server;

/* The child's own session: only its watchdog thread touches these. */
static apr_uint64_t child_seq;
static int child_active;         /* atomic: see child_stop() */

static APR_INLINE apr_uint64_t ctl_word(void)
{
    return __atomic_load_n(&ctl->word, __ATOMIC_ACQUIRE);
}

static const char *dump_path(apr_pool_t *p, apr_uint64_t seq, pid_t pid,
                             int tmp)
{
    return apr_psprintf(p, "%s/" DUMP_PREFIX "%" APR_UINT64_T_FMT ".%"
                        APR_PID_T_FMT "%s", dump_dir, seq, pid,
                        tmp ? ".tmp" : "");
}

/* Stop the child's session and write its samples where the handler looks
 * (written under a temporary name, then renamed: the handler reads only
 * whole files). */
static void child_stop(apr_pool_t *p)
{
    prof_cpu_raw_t *raw = NULL;
    apr_file_t *f = NULL;
    const char *tmp, *path;
    apr_status_t rv;

    /* The watchdog thread polls, and mod_watchdog's cleanup calls the
     * callback from the exiting child's main thread: one of them stops. */
    if (!__atomic_exchange_n(&child_active, 0, __ATOMIC_ACQ_REL)) {
        return;
    }
    rv = prof_cpu_process_stop(p, &raw);
    sampling_add(-1);
    if (rv != APR_SUCCESS || raw == NULL) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, main_server,
                     PROFLOGNO(00360) "CPU profile: stopping this child's "
                     "sampling failed; its samples are lost");
        goto leave;
    }
    tmp = dump_path(p, child_seq, getpid(), 1);
    path = dump_path(p, child_seq, getpid(), 0);
    rv = apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE, p);
    if (rv == APR_SUCCESS) {
        rv = prof_cpu_raw_write(raw, f);
        apr_file_close(f);
    }
    if (rv == APR_SUCCESS) {
        rv = apr_file_rename(tmp, path, p);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, main_server,
                     PROFLOGNO(00361) "CPU profile: cannot write this "
                     "child's samples to %s", tmp);
        apr_file_remove(tmp, p);
    }
leave:
    __atomic_add_fetch(&ctl->dumped, 1, __ATOMIC_RELEASE);
}

static void child_poll(apr_pool_t *p)
{
    apr_uint64_t w = ctl_word();
    apr_uint64_t seq = w >> 2;
    int state = (int)(w & 3);

    apr_time_t stop_at = __atomic_load_n(&ctl->stop_at, __ATOMIC_RELAXED);

    if (__atomic_load_n(&child_active, __ATOMIC_ACQUIRE)) {
        if (seq != child_seq || state != ST_RUNNING
            || apr_time_now() >= stop_at) {
            child_stop(p);
        }
        return;
    }
    if (state == ST_RUNNING && seq != child_seq
        && apr_time_now() < stop_at) {
        apr_status_t rv;

        child_seq = seq;
        /* Counted before the start, so that the handler, which waits for
         * as many dumps as joiners, never misses this one. */
        __atomic_add_fetch(&ctl->joined, 1, __ATOMIC_RELEASE);
        rv = prof_cpu_process_start((int)ctl->hz, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, main_server,
                         PROFLOGNO(00362) "CPU profile: cannot start "
                         "sampling in this child");
            __atomic_add_fetch(&ctl->failed, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&ctl->dumped, 1, __ATOMIC_RELEASE);
            return;
        }
        sampling_add(1);
        __atomic_store_n(&child_active, 1, __ATOMIC_RELEASE);
    }
}

/* prefork: no watchdog thread. mod_watchdog's thread in every child made
 * each prefork child multi-threaded, and glibc leaves its single-thread
 * shortcuts then: +471 Ir on every request with the handler merely
 * configured (bench/README.md, "CPU profiles"). Instead a child starts a
 * poller thread of its own at the first request that finds a profile
 * running (prof_profile_lazy_poll(), from the phase timing's
 * post_read_request hook), and keeps it until it exits: a child is
 * single-threaded until the first profile that finds it serving. */
const apr_uint64_t *prof_profile_lazy_word;  /* &ctl->word until the
                                               * child's poller starts */
static int lazy;                        /* post_config: prefork */
static apr_pool_t *poller_pool;         /* the poller's: unmanaged, own allocator */
static apr_thread_t *poller;
static int poller_quit;                 /* atomic */

static void *APR_THREAD_FUNC poller_main(apr_thread_t *t, void *data)
{
    apr_pool_t *p = data;

    (void)t;
    while (!__atomic_load_n(&poller_quit, __ATOMIC_ACQUIRE)) {
        apr_pool_t *iter = NULL;

        /* Each poll's own subpool: p (the thread's parent) is cleared by
         * nobody while the thread runs. */
        if (apr_pool_create(&iter, p) == APR_SUCCESS) {
            child_poll(iter);
            apr_pool_destroy(iter);
        }
        apr_sleep(POLL_US);
    }
    /* Returned, not apr_thread_exit(): the thread's pool goes with
     * poller_pool, destroyed by poller_cleanup() after the join. */
    return NULL;
}

/* pchild's pre-cleanup: the poller goes first, then what this child
 * sampled so far is written (as mod_watchdog's STOPPING state does). */
static apr_status_t poller_cleanup(void *data)
{
    apr_status_t rv;

    (void)data;
    prof_profile_lazy_word = NULL;
    if (poller) {
        __atomic_store_n(&poller_quit, 1, __ATOMIC_RELEASE);
        apr_thread_join(&rv, poller);
        poller = NULL;
        child_stop(poller_pool);
    }
    if (poller_pool) {
        apr_pool_destroy(poller_pool);
        poller_pool = NULL;
    }
    return APR_SUCCESS;
}

void prof_profile_lazy_poll(void)
{
    apr_uint64_t w;
    apr_status_t rv;

    if (ctl == NULL) {
        prof_profile_lazy_word = NULL;
        return;
    }
    w = ctl_word();
    if ((w & 3) != ST_RUNNING || (w >> 2) == child_seq) {
        return;
    }
    prof_profile_lazy_word = NULL;
    /* A pool of its own allocator: prefork gives the child's pools one
     * allocator without a lock (one thread), which the request's thread
     * goes on using. The thread's own pool comes from this one too. */
    {
        apr_allocator_t *a = NULL;

        rv = apr_allocator_create(&a);
        if (rv == APR_SUCCESS) {
            rv = apr_pool_create_unmanaged_ex(&poller_pool, NULL, a);
            if (rv == APR_SUCCESS) {
                apr_allocator_owner_set(a, poller_pool);
            }
            else {
                apr_allocator_destroy(a);
            }
        }
    }
    if (rv == APR_SUCCESS) {
        apr_pool_tag(poller_pool, "profiler_cpu_poller");
        rv = apr_thread_create(&poller, NULL, poller_main, poller_pool,
                               poller_pool);
    }
    if (rv != APR_SUCCESS) {
        poller = NULL;
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, main_server,
                     PROFLOGNO(00381) "CPU profile: cannot start this "
                     "child's poller thread; it is not sampled");
    }
}

static apr_status_t watchdog_callback(int state, void *data, apr_pool_t *p)
{
    (void)data;
    if (ctl == NULL) {
        return APR_SUCCESS;
    }
    if (state == AP_WATCHDOG_STATE_STOPPING) {
        /* The child goes (graceful restart, idle, MaxConnectionsPerChild):
         * what it sampled so far still counts. */
        child_stop(p);
        return APR_SUCCESS;
    }
    if (state == AP_WATCHDOG_STATE_RUNNING) {
        child_poll(p);
    }
    /* Never an error to mod_watchdog: that would stop the task for good. */
    return APR_SUCCESS;
}

/* ---------------------------------------------------------------------
 * Handler
 */

typedef struct {
    int seconds, hz, folded;
} params_t;

static int bad_param(request_rec *r, const char *name, const char *msg)
{
    r->status = HTTP_BAD_REQUEST;
    ap_set_content_type(r, "text/plain; charset=utf-8");
    ap_rprintf(r, "%s %s\n", ap_escape_html(r->pool, name), msg);
    return OK;
}

static int parse_params(request_rec *r, params_t *pm)
{
    char *args, *pair, *last;
    int seen_seconds = 0, seen_hz = 0, seen_format = 0;

    pm->seconds = SECONDS_DEFAULT;
    pm->hz = HZ_DEFAULT;
    pm->folded = 0;
    if (r->args == NULL) {
        return -1;
    }
    args = apr_pstrdup(r->pool, r->args);
    for (pair = apr_strtok(args, "&", &last); pair;
         pair = apr_strtok(NULL, "&", &last)) {
        char *eq = strchr(pair, '='), *name = pair, *end;
        char *value = eq ? eq + 1 : (char *)"";
        apr_int64_t v;
        int *seen, lo, hi, *out;

        if (eq) {
            *eq = '\0';
        }
        if (ap_unescape_urlencoded(name) != OK
            || ap_unescape_urlencoded(value) != OK) {
            return bad_param(r, name, "is not correctly %-encoded");
        }
        if (!strcmp(name, "format")) {
            if (seen_format++) {
                return bad_param(r, "format", "is given more than once");
            }
            if (!strcmp(value, "pprof")) {
                pm->folded = 0;
            }
            else if (!strcmp(value, "folded")) {
                pm->folded = 1;
            }
            else {
                return bad_param(r, "format", "must be pprof or folded");
            }
            continue;
        }
        if (!strcmp(name, "seconds")) {
            seen = &seen_seconds;
            lo = SECONDS_MIN;
            hi = SECONDS_MAX;
            out = &pm->seconds;
        }
        else if (!strcmp(name, "hz")) {
            seen = &seen_hz;
            lo = PROF_CPU_HZ_MIN;
            hi = PROF_CPU_HZ_MAX;
            out = &pm->hz;
        }
        else {
            return bad_param(r, name, "is not a parameter of the CPU "
                             "profile (seconds, hz, format)");
        }
        if ((*seen)++) {
            return bad_param(r, name, "is given more than once");
        }
        errno = 0;
        v = apr_strtoi64(value, &end, 10);
        if (errno || end == value || *end || v < lo || v > hi) {
            return bad_param(r, name, apr_psprintf(r->pool, "must be a whole "
                                                   "number from %d to %d",
                                                   lo, hi));
        }
        *out = (int)v;
    }
    return -1;
}

/* Has the client gone? HTTP/1: its socket is readable and at its end
 * (a pipelined request is data, not an end). HTTP/2: mod_http2 marks the
 * stream's connection aborted when it is reset. */
static int client_gone(request_rec *r, apr_interval_time_t wait)
{
    conn_rec *c = r->connection;
    apr_socket_t *sock;
    apr_pollfd_t pfd;
    apr_int32_t n = 0;
    apr_os_sock_t fd;
    char byte;

    if (c->aborted) {
        return 1;
    }
    sock = c->master ? NULL : ap_get_conn_socket(c);
    if (sock == NULL || apr_os_sock_get(&fd, sock) != APR_SUCCESS) {
        apr_sleep(wait);
        return c->aborted;
    }
    memset(&pfd, 0, sizeof(pfd));
    pfd.p = r->pool;
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.desc.s = sock;
    pfd.reqevents = APR_POLLIN;
    if (apr_poll(&pfd, 1, &n, wait) != APR_SUCCESS || n == 0) {
        return 0;
    }
    if (pfd.rtnevents & (APR_POLLHUP | APR_POLLERR | APR_POLLNVAL)) {
        return 1;
    }
    if (recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) {
        return 1;
    }
    /* Pipelined data: look again later, without spinning on it. */
    apr_sleep(wait);
    return 0;
}

static int mpm_stopping(void)
{
    int st = AP_MPMQ_RUNNING;

    return ap_mpm_query(AP_MPMQ_MPM_STATE, &st) == APR_SUCCESS
           && st == AP_MPMQ_STOPPING;
}

/* Claim the block for a new profile; 0 when another one runs. */
static int claim(const params_t *pm, apr_uint64_t *seq_out)
{
    apr_uint64_t w = ctl_word(), seq;
    apr_time_t now = apr_time_now();

    if ((w & 3) != ST_IDLE
        && now < __atomic_load_n(&ctl->stop_at, __ATOMIC_RELAXED)
                 + GATHER_US + STALE_US) {
        return 0;
    }
    /* Time-ordered, so that the dumps of a profile never match those of
     * one before it, in this generation or an earlier one. */
    seq = (apr_uint64_t)now;
    if (seq <= (w >> 2)) {
        seq = (w >> 2) + 1;
    }
    if (!__atomic_compare_exchange_n(&ctl->word, &w, seq << 2 | ST_PREPARING,
                                     0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    ctl->hz = pm->hz;
    ctl->claimed_at = now;
    __atomic_store_n(&ctl->stop_at, now + apr_time_from_sec(pm->seconds),
                     __ATOMIC_RELAXED);
    __atomic_store_n(&ctl->joined, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ctl->dumped, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ctl->failed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ctl->word, seq << 2 | ST_RUNNING, __ATOMIC_RELEASE);
    *seq_out = seq;
    return 1;
}

static void set_state(apr_uint64_t seq, int state)
{
    apr_uint64_t w = seq << 2 | ST_RUNNING;

    if (state == ST_IDLE) {
        w = seq << 2 | ST_STOPPING;
    }
    /* Only our own claim: a stale one taken over is no longer ours. */
    __atomic_compare_exchange_n(&ctl->word, &w, seq << 2 | (apr_uint64_t)state,
                                0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

/* Read the children's samples of profile seq (and remove them). */
static apr_array_header_t *gather(request_rec *r, apr_uint64_t seq)
{
    apr_array_header_t *raws = apr_array_make(r->pool, 8,
                                              sizeof(prof_cpu_raw_t *));
    const char *prefix = apr_psprintf(r->pool, DUMP_PREFIX "%"
                                      APR_UINT64_T_FMT ".", seq);
    apr_size_t plen = strlen(prefix);
    apr_dir_t *dir;
    apr_finfo_t fi;

    if (apr_dir_open(&dir, dump_dir, r->pool) != APR_SUCCESS) {
        return raws;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, dir)
           == APR_SUCCESS) {
        const char *path, *err = NULL;
        prof_cpu_raw_t *raw = NULL;
        apr_file_t *f;
        apr_size_t n;

        if (fi.filetype != APR_REG || strncmp(fi.name, prefix, plen)) {
            continue;
        }
        n = strlen(fi.name);
        if (n > 4 && !strcmp(fi.name + n - 4, ".tmp")) {
            continue;
        }
        path = apr_pstrcat(r->pool, dump_dir, "/", fi.name, NULL);
        if (raws->nelts < DUMPS_MAX
            && apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0,
                             r->pool) == APR_SUCCESS) {
            if (prof_cpu_raw_read(f, r->pool, &raw, &err) == APR_SUCCESS) {
                APR_ARRAY_PUSH(raws, prof_cpu_raw_t *) = raw;
            }
            else {
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                              PROFLOGNO(00363) "CPU profile: %s is not a "
                              "child's samples (%s); left out", path,
                              err ? err : "unreadable");
            }
            apr_file_close(f);
        }
        apr_file_remove(path, r->pool);
    }
    apr_dir_close(dir);
    return raws;
}

/* Remove what earlier profiles left behind (a child that wrote after its
 * handler gave up on it). */
static void sweep(apr_pool_t *p)
{
    apr_dir_t *dir;
    apr_finfo_t fi;

    if (apr_dir_open(&dir, dump_dir, p) != APR_SUCCESS) {
        return;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, dir)
           == APR_SUCCESS) {
        if (fi.filetype == APR_REG
            && !strncmp(fi.name, DUMP_PREFIX, sizeof(DUMP_PREFIX) - 1)) {
            apr_file_remove(apr_pstrcat(p, dump_dir, "/", fi.name, NULL), p);
        }
    }
    apr_dir_close(dir);
}

static int answer(request_rec *r, const params_t *pm, prof_stacks_t *s)
{
    if (pm->folded) {
        ap_set_content_type(r, "text/plain; charset=utf-8");
        ap_rputs(prof_stacks_folded(s, r->pool, -1), r);
    }
    else {
        const char *buf;
        apr_size_t len;
        apr_status_t rv = prof_stacks_pprof(s, r->pool, &buf, &len);

        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PROFLOGNO(00364)
                          "CPU profile: cannot encode the profile as pprof");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        ap_set_content_type(r, "application/octet-stream");
        apr_table_setn(r->headers_out, "Content-Disposition",
                       apr_psprintf(r->pool, "attachment; filename=\"cpu-%"
                                    APR_TIME_T_FMT ".pb.gz\"",
                                    apr_time_sec(s->start)));
        ap_set_content_length(r, (apr_off_t)len);
        ap_rwrite(buf, (int)len, r);
    }
    return OK;
}

/* The profile itself, out of line: every other request of the server
 * passes through profile_handler() and must not pay this one's frame. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
int prof_profile_handle(request_rec *r)
{
    params_t pm;
    apr_uint64_t seq = 0;
    apr_time_t stop_at, gather_until;
    apr_array_header_t *raws;
    prof_stacks_t *stacks = NULL;
    apr_status_t rv;
    int rc, gone = 0;

    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if ((rc = parse_params(r, &pm)) >= 0) {
        return rc;
    }
    if (ctl == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00365)
                      "CPU profile: no control block in this server "
                      "generation (see the startup log)");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (!claim(&pm, &seq)) {
        r->status = HTTP_CONFLICT;
        ap_set_content_type(r, "text/plain; charset=utf-8");
        ap_rputs("a CPU profile is already being taken; try again when it "
                 "is done\n", r);
        return OK;
    }
    sweep(r->pool);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PROFLOGNO(00366)
                  "CPU profile: %d s at %d Hz, for %s", pm.seconds, pm.hz,
                  r->useragent_ip);
    /* The children start within POLL_US; this child's watchdog too. */
    stop_at = __atomic_load_n(&ctl->stop_at, __ATOMIC_RELAXED);
    while (apr_time_now() < stop_at) {
        apr_interval_time_t left = stop_at - apr_time_now();

        if (client_gone(r, left < POLL_US ? (left > 0 ? left : 0)
                                          : POLL_US)) {
            gone = 1;
            break;
        }
        if (mpm_stopping()) {
            break;
        }
    }
    set_state(seq, ST_STOPPING);
    /* Every child that joined writes its samples within a poll. */
    gather_until = apr_time_now() + GATHER_US;
    while (__atomic_load_n(&ctl->dumped, __ATOMIC_ACQUIRE)
           < __atomic_load_n(&ctl->joined, __ATOMIC_ACQUIRE)
           && apr_time_now() < gather_until) {
        apr_sleep(apr_time_from_msec(20));
    }
    raws = gather(r, seq);
    set_state(seq, ST_IDLE);
    if (gone) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PROFLOGNO(00367)
                      "CPU profile: the client went away; stopped");
        r->connection->aborted = 1;
        return OK;
    }
    rv = prof_cpu_symbolize((prof_cpu_raw_t *const *)(void *)raws->elts,
                            raws->nelts, r->pool, &stacks);
    if (rv != APR_SUCCESS || stacks == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PROFLOGNO(00368)
                      "CPU profile: cannot symbolize the samples");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* A profile with no child (none sampled) still says how long and at
     * what rate it was taken. */
    if (raws->nelts == 0) {
        stacks->period_ns = APR_INT64_C(1000000000) / pm.hz;
        stacks->start = stop_at - apr_time_from_sec(pm.seconds);
        stacks->duration_ns = (apr_int64_t)pm.seconds * 1000000000;
    }
    apr_table_setn(r->headers_out, "X-Profiler-Processes",
                   apr_itoa(r->pool, raws->nelts));
    return answer(r, &pm, stacks);
}


/* ---------------------------------------------------------------------
 * Per-request profiles
 */

static ap_filter_rec_t *profile_filter_handle;

static APR_INLINE const prof_dir_conf_t *dir_conf(const request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &profiler_module);
}

/* Does r's configuration select it for a profile? */
static int selected(request_rec *r)
{
    const prof_dir_conf_t *conf = dir_conf(r);
    const char *err = NULL;
    int rc;

    if (conf->reqprof_mode != PROF_REQPROF_EXPR) {
        return conf->reqprof_mode == PROF_REQPROF_ON;
    }
    rc = ap_expr_exec(r, conf->reqprof_expr, &err);
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00369)
                      "ProfilerRequestProfile: evaluating the expression "
                      "failed, not profiling: %s", err);
        return 0;
    }
    return rc > 0;
}

/* The request's row id, known in advance (mod_profiler_store.c: the
 * writer's range): the one its Server-Timing names and the API serves. 0
 * where this process has no running store: then it is not profiled. */
static apr_int64_t new_id(void)
{
    return prof_store_new_id();
}

static apr_status_t request_cleanup(void *data);

static void request_start(request_rec *r, prof_req_t *rq)
{
    req_prof_t *rp = req_prof(rq, 1);
    const prof_dir_conf_t *conf = dir_conf(r);
    apr_status_t rv;

    if (rp->thread || rp->stopped) {
        return;
    }
    rp->id = new_id();
    if (rp->id <= 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PROFLOGNO(00370)
                      "ProfilerRequestProfile: the store gives no id here "
                      "(not running, or not yet connected): not profiled");
        rp->id = 0;
        return;
    }
    rp->hz = conf->reqprof_hz == PROF_UNSET ? PROF_DEFAULT_REQPROF_HZ
                                            : conf->reqprof_hz;
    rv = prof_cpu_thread_start(rp->hz, 0, rp->pool, &rp->thread);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r, PROFLOGNO(00371)
                      "ProfilerRequestProfile: cannot sample this request's "
                      "thread");
        rp->thread = NULL;
        rp->id = 0;
        return;
    }
    sampling_add(1);
    /* After the core's own cleanup of the session (cleanups run last
     * registered first): whatever thread destroys the pool stops the
     * session with the count of sampling sessions kept right. */
    apr_pool_cleanup_register(rp->pool, rp, request_cleanup,
                              apr_pool_cleanup_null);
    label_set(route_label(rq, rp),
              prof_phase_name(prof_phase_current(&rq->phases)));
}

static void request_stop(req_prof_t *rp)
{
    if (rp->thread && !rp->stopped) {
        rp->stopped = 1;
        if (prof_cpu_thread_stop(rp->thread, rp->pool, &rp->raw)
            != APR_SUCCESS) {
            rp->raw = NULL;
        }
        sampling_add(-1);
    }
}

static apr_status_t request_cleanup(void *data)
{
    req_prof_t *rp = data;

    /* The samples go with the pool: nothing to copy them into. */
    if (rp->thread && !rp->stopped) {
        rp->stopped = 1;
        prof_cpu_thread_stop(rp->thread, NULL, NULL);
        sampling_add(-1);
    }
    return APR_SUCCESS;
}

/* At debug level, what a request's profile holds, in one line: the
 * samples, the time on the CPU and waiting, and the function that was on
 * the CPU most. The profile is symbolized for this, on the request's
 * thread, which takes hundreds of milliseconds (logged): debugging only. */
static void log_summary(request_rec *r, prof_req_t *rq, req_prof_t *rp)
{
    prof_cpu_raw_info_t info;
    prof_stacks_t *s;
    apr_hash_t *self;
    apr_hash_index_t *hi;
    apr_int64_t oncpu = 0, waiting = 0, best = 0;
    apr_interval_time_t t0;
    const char *top = "-";
    int i;

    prof_cpu_raw_info(rp->raw, &info);
    t0 = apr_time_now();
    s = prof_profile_request_stacks(r, rq, rp->pool);
    t0 = apr_time_now() - t0;
    self = apr_hash_make(r->pool);
    for (i = 0; s && i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);
        apr_int64_t *sum;
        const char *leaf;

        if (st->state == PROF_STACK_WAITING) {
            waiting += st->nanos;
            continue;
        }
        oncpu += st->nanos;
        if (st->nframes == 0) {
            continue;
        }
        leaf = APR_ARRAY_IDX(s->frames, st->frames[0], prof_frame_t).name;
        sum = apr_hash_get(self, leaf, APR_HASH_KEY_STRING);
        if (sum == NULL) {
            sum = apr_pcalloc(r->pool, sizeof(*sum));
            apr_hash_set(self, leaf, APR_HASH_KEY_STRING, sum);
        }
        *sum += st->nanos;
    }
    for (hi = apr_hash_first(r->pool, self); hi; hi = apr_hash_next(hi)) {
        const void *k;
        void *v;

        apr_hash_this(hi, &k, NULL, &v);
        if (*(apr_int64_t *)v > best) {
            best = *(apr_int64_t *)v;
            top = k;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, PROFLOGNO(00379)
                  "request profile %" APR_INT64_T_FMT ": %" APR_UINT64_T_FMT
                  " samples, %" APR_UINT64_T_FMT " dropped, at %d Hz over %"
                  APR_INT64_T_FMT " ms; on CPU %" APR_INT64_T_FMT " ms (most "
                  "in %s: %" APR_INT64_T_FMT " ms), waiting %" APR_INT64_T_FMT
                  " ms; symbolized in %" APR_TIME_T_FMT " us", rp->id,
                  info.samples, info.dropped, info.hz,
                  info.duration_ns / 1000000, oncpu / 1000000, top,
                  best / 1000000, waiting / 1000000, t0);
}

/* The first phase: the server's (or virtual host's) configuration. */
static int reqprof_post_read(request_rec *r)
{
    prof_req_t *rq;

    if (r->prev || r->main || (rq = prof_req_get(r)) == NULL) {
        return DECLINED;
    }
    if (dir_conf(r)->reqprof_mode > PROF_REQPROF_OFF && selected(r)) {
        request_start(r, rq);
    }
    return DECLINED;
}

/* With the request's final per-directory configuration (<Location>,
 * <Directory>, <If>): start where only a section selects the request,
 * and forget the profile where a section says Off. */
static int reqprof_fixups(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);
    const prof_dir_conf_t *conf, *srv;
    req_prof_t *rp;
    int mode;

    if (rq == NULL || r->prev) {
        return DECLINED;
    }
    rp = req_prof(rq, 0);
    conf = dir_conf(r);
    mode = conf->reqprof_mode;
    srv = ap_get_module_config(r->server->lookup_defaults, &profiler_module);
    if (mode == srv->reqprof_mode && conf->reqprof_expr == srv->reqprof_expr) {
        /* No section changed what post_read_request decided with. */
        return DECLINED;
    }
    if (mode > PROF_REQPROF_OFF && selected(r)) {
        request_start(r, rq);
    }
    else if (rp && rp->thread && !rp->stopped) {
        request_stop(rp);
        rp->raw = NULL;
        rp->id = 0;
        prof_cpu_label_set(NULL);
    }
    return DECLINED;
}

/* Names the profile in Server-Timing, as a field of its own after ours
 * (whatever ProfilerServerTiming and ProfilerUpstreamTiming do with the
 * rest), and ends the sampling with the response body. */
static apr_status_t profile_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    req_prof_t *rp = f->ctx;

    if (APR_BRIGADE_EMPTY(bb)) {
        return ap_pass_brigade(f->next, bb);
    }
    if (!rp->header_sent) {
        apr_bucket *e;

        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
             e = APR_BUCKET_NEXT(e)) {
            if (AP_BUCKET_IS_ERROR(e)) {
                /* An error response comes through again. */
                return ap_pass_brigade(f->next, bb);
            }
        }
        rp->header_sent = 1;
        if (rp->id > 0) {
            apr_table_addn(f->r->headers_out, "Server-Timing",
                           apr_psprintf(f->r->pool, "profile;desc=\"%"
                                        APR_INT64_T_FMT "\"", rp->id));
        }
    }
    if (APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(bb))) {
        apr_status_t rv;

        ap_remove_output_filter(f);
        rv = ap_pass_brigade(f->next, bb);
        /* The body has left (or is with the MPM's write completion, on
         * some other thread): this thread's part is over. */
        request_stop(rp);
        prof_cpu_label_set(NULL);
        return rv;
    }
    return ap_pass_brigade(f->next, bb);
}

static void add_profile_filter(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);
    req_prof_t *rp = rq ? req_prof(rq, 0) : NULL;

    if (rp && rp->thread && !rp->header_sent) {
        ap_add_output_filter_handle(profile_filter_handle, rp, r,
                                    r->connection);
    }
}

/* The end of the request, if its body never reached our filter. */
static int reqprof_log(request_rec *r)
{
    prof_req_t *rq = prof_req_get(r);
    req_prof_t *rp = rq ? req_prof(rq, 0) : NULL;

    if (rp == NULL || rp->thread == NULL) {
        return DECLINED;
    }
    if (!rp->stopped) {
        request_stop(rp);
        prof_cpu_label_set(NULL);
    }
    if (rp->raw && rp->id > 0 && APLOGrdebug(r)) {
        log_summary(r, rq, rp);
    }
    return DECLINED;
}

apr_int64_t prof_profile_request_id(const prof_req_t *rq)
{
    const req_prof_t *rp = rq->cpuprof;

    return rp && rp->thread ? rp->id : 0;
}

const char *prof_profile_request_raw(request_rec *r, prof_req_t *rq,
                                     apr_pool_t *p, apr_size_t *len)
{
    req_prof_t *rp = rq->cpuprof;
    const char *buf = NULL;
    apr_status_t rv;

    *len = 0;
    if (rp == NULL || rp->thread == NULL || rp->id <= 0) {
        return NULL;
    }
    request_stop(rp);
    if (rp->raw == NULL) {
        return NULL;
    }
    rv = prof_cpu_raw_serialize(rp->raw, p, &buf, len);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PROFLOGNO(00380)
                      "ProfilerRequestProfile: cannot serialize the samples "
                      "of request %" APR_INT64_T_FMT, rp->id);
        *len = 0;
        return NULL;
    }
    return buf;
}

prof_stacks_t *prof_profile_request_stacks(request_rec *r, prof_req_t *rq,
                                           apr_pool_t *p)
{
    req_prof_t *rp = rq->cpuprof;
    apr_status_t rv;

    if (rp == NULL || rp->thread == NULL || rp->id <= 0) {
        return NULL;
    }
    request_stop(rp);
    if (rp->stacks) {
        return rp->stacks;
    }
    if (rp->raw == NULL) {
        return NULL;
    }
    rv = prof_cpu_symbolize(&rp->raw, 1, p, &rp->stacks);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, PROFLOGNO(00372)
                      "ProfilerRequestProfile: cannot symbolize the profile "
                      "of request %" APR_INT64_T_FMT, rp->id);
        rp->stacks = NULL;
    }
    return rp->stacks;
}

/* The hooks of per-request profiles cost every request a call or more:
 * they are registered only when the configuration has the directive
 * (httpd sorts the hooks again after reading the configuration, and
 * forgets them all before reading it anew). Once per reading. */
static void register_request_hooks(apr_pool_t *pconf)
{
    if (!prof_config_first_in_reading(pconf, REQPROF_HOOKS_KEY)) {
        return;
    }
    /* After the timing's post_read_request (REALLY_FIRST), which creates
     * the request's profile. */
    ap_hook_post_read_request(reqprof_post_read, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_fixups(reqprof_fixups, NULL, NULL, APR_HOOK_FIRST);
    /* After the profiler's own filter (REALLY_FIRST / MIDDLE), so that
     * ours comes after it in the chain and adds its field after ours. */
    ap_hook_insert_filter(add_profile_filter, NULL, NULL, APR_HOOK_LAST);
    ap_hook_insert_error_filter(add_profile_filter, NULL, NULL,
                                APR_HOOK_LAST);
    /* Before the timing's last log hook (REALLY_LAST), where the collector
     * takes the profile. */
    ap_hook_log_transaction(reqprof_log, NULL, NULL, APR_HOOK_MIDDLE);
}

const char *prof_profile_set_request(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    int v = prof_config_parse_flag(arg);

    if (v >= 0) {
        conf->reqprof_mode = v ? PROF_REQPROF_ON : PROF_REQPROF_OFF;
        conf->reqprof_expr = NULL;
    }
    else if (!strncasecmp(arg, "expr=", 5)) {
        const char *err = NULL;

        if (arg[5] == '\0') {
            return apr_psprintf(cmd->pool, "%s: expr= needs an expression, "
                                "e.g. expr=%%{HTTP:X-Profile} == 'secret'",
                                cmd->cmd->name);
        }
        /* No "Vary" for the headers it reads: the response is the same
         * but for the profile's Server-Timing field, and a Vary on every
         * response would split every cache's entries for a debugging
         * switch. */
        conf->reqprof_expr = ap_expr_parse_cmd(cmd, arg + 5,
                                               AP_EXPR_FLAG_DONT_VARY, &err,
                                               NULL);
        if (err) {
            return apr_psprintf(cmd->pool,
                                "%s: cannot parse expression '%s': %s",
                                cmd->cmd->name, arg + 5, err);
        }
        conf->reqprof_mode = PROF_REQPROF_EXPR;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use On, Off "
                            "or expr=<expression>", cmd->cmd->name, arg);
    }
    if (conf->reqprof_mode != PROF_REQPROF_OFF) {
        register_request_hooks(cmd->pool);
    }
    return NULL;
}

const char *prof_profile_set_request_hz(cmd_parms *cmd, void *dconf,
                                        const char *arg)
{
    prof_dir_conf_t *conf = dconf;
    char *end = NULL;
    apr_int64_t v;

    errno = 0;
    v = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end != '\0' || v < PROF_CPU_HZ_MIN
        || v > PROF_CPU_HZ_MAX) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a number "
                            "of samples per second from %d to %d",
                            cmd->cmd->name, arg, PROF_CPU_HZ_MIN,
                            PROF_CPU_HZ_MAX);
    }
    conf->reqprof_hz = (int)v;
    return NULL;
}

/* ---------------------------------------------------------------------
 * Lint: where the handler is set, and whether anyone may call it.
 */

static int is(const ap_directive_t *d, const char *name)
{
    return d->directive && !strcasecmp(d->directive, name);
}

static const char *word(apr_pool_t *p, const char *args, int n)
{
    const char *w = "";

    if (args == NULL) {
        return "";
    }
    while (n-- >= 0) {
        w = ap_getword_conf(p, &args);
    }
    return w;
}

/* SetHandler/AddHandler profiler-profile, or a RewriteRule [H=...]. */
static int sets_handler(apr_pool_t *p, const ap_directive_t *d)
{
    if (is(d, "SetHandler") || is(d, "AddHandler")) {
        return !strcasecmp(word(p, d->args, 0), PROF_PROFILE_HANDLER);
    }
    if (is(d, "RewriteRule")) {
        const char *flags = word(p, d->args, 2);

        return ap_strcasestr(flags, "H=" PROF_PROFILE_HANDLER) != NULL
               || ap_strcasestr(flags, "handler=" PROF_PROFILE_HANDLER)
                  != NULL;
    }
    return 0;
}

static int scan(apr_pool_t *p, server_rec *s, const ap_directive_t *d,
                int warn)
{
    int n = 0;

    for (; d; d = d->next) {
        if (sets_handler(p, d)) {
            const ap_directive_t *sec;
            int guarded = 0;

            ++n;
            for (sec = d->parent; sec && !is(sec, "<VirtualHost");
                 sec = sec->parent) {
                if (prof_lint_has_access_control(p, sec->first_child)) {
                    guarded = 1;
                    break;
                }
            }
            if (!guarded && warn) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             PROFLOGNO(00373) "the CPU profile handler set "
                             "by %s at %s:%d has no access control: anyone "
                             "who can reach it can make every process of "
                             "the server sample itself and read the code's "
                             "function names. Add \"Require ip ...\" or "
                             "authentication to its section", d->directive,
                             d->filename ? d->filename : "?", d->line_num);
            }
        }
        if (d->first_child) {
            n += scan(p, s, d->first_child, warn);
        }
    }
    return n;
}

static int profile_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog;
    /* Warn in the reading that serves, or under -t (see mod_profiler.c). */
    if (ap_conftree == NULL
        || (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
            && ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST)) {
        return OK;
    }
    scan(ptemp, s, ap_conftree, 1);
    return OK;
}

/* The directory the children write their samples to: theirs, under the
 * runtime directory, made by the parent (which may be root). */
static apr_status_t make_dump_dir(apr_pool_t *pconf, server_rec *s)
{
    const char *dir = ap_runtime_dir_relative(pconf, "profiler-cpu");
    apr_status_t rv;

    if (dir == NULL) {
        return APR_EINVAL;
    }
    rv = apr_dir_make(dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                      | APR_FPROT_UEXECUTE, pconf);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
        return rv;
    }
    if (geteuid() == 0 && chown(dir, ap_unixd_config.user_id,
                                ap_unixd_config.group_id) != 0) {
        rv = errno;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00374)
                     "CPU profile: cannot give %s to the children's user",
                     dir);
        return rv;
    }
    dump_dir = dir;
    return APR_SUCCESS;
}

/* Before httpd's restart unloads the module (the parent dlclose()s and
 * reloads every module; with -X the parent is where sessions ran): no
 * session, no handler of ours left behind. */
static apr_status_t unload_cleanup(void *data)
{
    (void)data;
    sampling_set(0, 0);
    return prof_cpu_unload();
}

static int profile_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    ap_watchdog_t *wd = NULL;
    apr_shm_t *shm = NULL;
    apr_status_t rv;
    int threaded;

    (void)plog;
    ctl = NULL;
    lazy = 0;
    dump_dir = NULL;
    main_server = s;
    /* Registered now, it runs before the module's unloading, which
     * LoadModule registered on pconf earlier. */
    apr_pool_cleanup_register(pconf, NULL, unload_cleanup,
                              apr_pool_cleanup_null);
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || ap_conftree == NULL || scan(ptemp, s, ap_conftree, 0) == 0) {
        return OK;
    }
    threaded = 0;
    if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) != APR_SUCCESS) {
        threaded = AP_MPMQ_STATIC;
    }
    lazy = threaded == AP_MPMQ_NOT_SUPPORTED;
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!lazy && (get_instance == NULL || register_callback == NULL)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PROFLOGNO(00375)
                     "CPU profile: the profiler-profile handler needs "
                     "mod_watchdog (LoadModule watchdog_module where it is "
                     "not built in); it answers 503 until then");
        return OK;
    }
    if ((rv = make_dump_dir(pconf, s)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00376)
                     "CPU profile: no directory for the children's samples "
                     "under the runtime directory; the handler answers 503");
        return OK;
    }
    /* Anonymous, per generation: a child keeps its mapping after a
     * graceful restart, while the new generation gets a block of its own. */
    rv = apr_shm_create(&shm, sizeof(ctl_t), NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00377)
                     "CPU profile: cannot create its shared memory; the "
                     "handler answers 503");
        return OK;
    }
    ctl = apr_shm_baseaddr_get(shm);
    memset(ctl, 0, sizeof(*ctl));
    ctl->magic = CTL_MAGIC;
    if (lazy) {
        return OK;              /* prof_profile_lazy_poll() */
    }
    /* One watchdog thread in every child (not a singleton): each samples
     * its own process. */
    rv = get_instance(&wd, WATCHDOG_NAME, 0, 0, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_callback(wd, POLL_US, NULL, watchdog_callback);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00378)
                     "CPU profile: cannot register with mod_watchdog; the "
                     "handler answers 503");
        ctl = NULL;
    }
    return OK;
}

static void profile_child_init(apr_pool_t *p, server_rec *s)
{
    void *reqprof = NULL;

    child_seq = 0;
    child_active = 0;
    sampling_set(0, 0);
    poller = NULL;
    poller_pool = NULL;
    poller_quit = 0;
    prof_profile_lazy_word = lazy && ctl != NULL ? &ctl->word : NULL;
    if (prof_profile_lazy_word) {
        apr_pool_pre_cleanup_register(p, NULL, poller_cleanup);
    }
    /* With ProfilerRequestProfile somewhere, the store's writer takes its
     * id range at once, so that the first profiled request has an id. */
    apr_pool_userdata_get(&reqprof, REQPROF_HOOKS_KEY, s->process->pconf);
    if (reqprof) {
        prof_store_want_ids();
    }
}

void prof_profile_register_hooks(apr_pool_t *p)
{
    /* Before mod_watchdog's post_config, which counts the child watchdogs
     * that have callbacks and starts them in every child. */
    static const char *const succ[] = { "mod_watchdog.c", NULL };

    (void)p;
    /* Warnings only; check_config so that apachectl -t shows them. */
    ap_hook_check_config(profile_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(profile_post_config, NULL, succ, APR_HOOK_MIDDLE);
    ap_hook_child_init(profile_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* The handler is mod_profiler.c's, shared with the report's and the
     * metrics'. */
    /* One below the HTTP header filter, as PROFILER_OUT (see
     * mod_profiler_filter.c), and inserted after it. */
    profile_filter_handle =
        ap_register_output_filter("PROFILER_CPU", profile_filter, NULL,
                                  AP_FTYPE_PROTOCOL - 1);
}
