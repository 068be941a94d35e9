/* Licensed under the Apache License, Version 2.0. */

/* The store's rollups from the live aggregates, and ProfilerStoreRate's
 * shared budget (mod_profiler_store_rollup.h says how and why). */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "apr_file_info.h"
#include "apr_hash.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "mod_watchdog.h"

#include "prof_agg.h"
#include "prof_agg_rollup.h"
#include "prof_rate.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_db.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_store.h"
#include "mod_profiler_store_rollup.h"

#define WATCHDOG_NAME "profiler-rollups"

/* The shared area: this header, then `cap` cells of the shadow (the
 * aggregates' request cells as the last committed flush saw them, in
 * increasing id). */
typedef struct {
    apr_uint64_t magic;
    apr_uint64_t cap;           /* shadow cells */
    /* The flush lock: 0 free, else holder's pid << 32 | the second it
     * took the lock (low 32 bits of the epoch second): one word, so a
     * waiter never sees a holder without its time. */
    apr_uint64_t lock;
    apr_uint64_t generation;    /* of the aggregates the shadow is of; 0 none */
    apr_uint64_t ncells;        /* cells in the shadow */
    apr_uint64_t flushes;       /* committed flushes, for the debug line */
    apr_uint64_t pad[2];
    prof_rate_t rate;           /* ProfilerStoreRate's counters */
} area_t;

#define AREA_MAGIC  APR_UINT64_C(0x4d50524f46524f4c)   /* "MPROFROL" */
#define AREA_HEAD   APR_ALIGN(sizeof(area_t), 64)

#define LOAD(p)       __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v)   __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define CAS(p, e, v)  __atomic_compare_exchange_n((p), (e), (v), 0, \
                                                  __ATOMIC_ACQ_REL, \
                                                  __ATOMIC_ACQUIRE)

/* What outlives a configuration generation: in the process pool. */
typedef struct {
    apr_shm_t *shm;
    area_t *area;
    apr_size_t size;
} kept_t;

static const char kept_key[] = "mod_profiler_store_rollup_area";

/* Set in the parent's post_config, before any child exists; read-only
 * afterwards. */
static area_t *area;
static int active;
static double store_rate;       /* rows/s; 0: Off */
static server_rec *main_server;
static pid_t parent_pid;
static const char *db_driver, *db_params;

/* The flusher's own (one singleton thread per process at a time, or the
 * parent at its exit). */
static int flush_down;

/* A child's flush runs on mod_watchdog's thread with a mod_dbd connection
 * of the child's pool: the child's exit must wait for it, or mod_dbd's
 * pool goes with a connection out (apr_reslist's assertion, an abort seen
 * when 20 prefork children stopped at once). Both atomic, and in this
 * order on each side: the flusher says it holds one, then looks whether
 * the child stops; the child says it stops, then waits while one is
 * held. */
static volatile apr_uint32_t child_flushing, child_stopping;
#define CHILD_FLUSH_WAIT_US apr_time_from_sec(5)

int prof_store_rollup_active(void)
{
    /* The aggregates too: without their segment nothing would flush. */
    return active && prof_metrics_agg() != NULL;
}

double prof_store_rate_probability(const char *vhost, const char *route,
                                   apr_time_t now_us)
{
    if (area == NULL || store_rate <= 0.0) {
        return 1.0;
    }
    return prof_rate_probability(&area->rate, prof_rate_hash(vhost, route),
                                 now_us, store_rate);
}

static prof_agg_cell_t *shadow(void)
{
    return (prof_agg_cell_t *)(void *)((char *)area + AREA_HEAD);
}

/* ---- the flush lock ---------------------------------------------------- */

/* Take the lock, waiting up to wait. 1: taken; 0: another holds it. *broke
 * is set to the pid of a dead (1) or stuck (2) holder whose lock was taken
 * over. */
static int lock_take(apr_interval_time_t wait, int *broke, int *how)
{
    apr_uint64_t me = (apr_uint64_t)getpid() << 32, cur;
    apr_time_t until = apr_time_now() + wait;

    *broke = 0;
    for (;;) {
        apr_time_t now = apr_time_now();
        apr_uint64_t mine = me | (apr_uint32_t)apr_time_sec(now);
        apr_uint32_t held_since;
        pid_t holder;

        cur = 0;
        if (CAS(&area->lock, &cur, mine)) {
            return 1;
        }
        holder = (pid_t)(cur >> 32);
        held_since = (apr_uint32_t)cur;
        *how = holder != getpid() && kill(holder, 0) != 0 && errno == ESRCH
               ? 1 : (apr_uint32_t)apr_time_sec(now) - held_since
                     > (apr_uint32_t)apr_time_sec(PROF_ROLLUP_LOCK_STALE_US)
                     ? 2 : 0;
        if (*how) {
            if (CAS(&area->lock, &cur, mine)) {
                *broke = (int)holder;
                return 1;
            }
            continue;
        }
        if (now >= until) {
            return 0;
        }
        apr_sleep(apr_time_from_msec(20));
    }
}

static void lock_give(void)
{
    STORE(&area->lock, (apr_uint64_t)0);
}

/* ---- one flush ----------------------------------------------------------- */

/* The shadow as a snapshot in p (the lock held). NULL when there is none. */
static prof_agg_snap_t *shadow_snap(apr_pool_t *p)
{
    prof_agg_snap_t *s;

    if (area->generation == 0) {
        return NULL;
    }
    s = apr_pcalloc(p, sizeof(*s));
    s->generation = area->generation;
    s->nreq = (apr_size_t)area->ncells;
    s->req = apr_pmemdup(p, shadow(), sizeof(*s->req) * (s->nreq ? s->nreq
                                                                 : 1));
    return s;
}

/* now becomes the shadow (the lock held, after the commit). */
static void shadow_store(const prof_agg_snap_t *now)
{
    memcpy(shadow(), now->req, sizeof(*now->req) * now->nreq);
    area->ncells = now->nreq;
    area->generation = now->generation;
    ++area->flushes;
}

/* The aggregates name a vhost by its label (name:port); the store's rows
 * by its ServerName, as the writer writes them. */
static void relabel(apr_pool_t *p, apr_array_header_t *entries)
{
    apr_hash_t *names = apr_hash_make(p);
    server_rec *v;
    int i;

    for (v = main_server; v; v = v->next) {
        apr_hash_set(names, prof_metrics_vhost(v), APR_HASH_KEY_STRING,
                     v->server_hostname ? v->server_hostname : "");
    }
    for (i = 0; i < entries->nelts; ++i) {
        prof_rollup_entry_t *e = APR_ARRAY_IDX(entries, i,
                                               prof_rollup_entry_t *);
        const char *name = apr_hash_get(names, e->vhost, APR_HASH_KEY_STRING);

        if (name) {
            e->vhost = name;
        }
    }
}

/* Flush what the aggregates counted since the last flush. direct: on a
 * connection of its own (the parent). APR_EBUSY when another flusher
 * holds the lock for longer than wait. */
static apr_status_t flush(apr_pool_t *p, int direct, apr_interval_time_t wait,
                          const char **err, apr_size_t *nentries)
{
    prof_agg_t *agg = prof_metrics_agg();
    prof_agg_snap_t *now, *delta;
    apr_array_header_t *minutes, *hours;
    apr_time_t t;
    prof_db_t db;
    apr_status_t rv;
    int broke, how = 0;

    *nentries = 0;
    if (agg == NULL || area == NULL) {
        return APR_SUCCESS;
    }
    if (!lock_take(wait, &broke, &how)) {
        return APR_EBUSY;
    }
    if (broke && how == 1) {
        /* A child that exited (or was killed) within its flush: what it
         * did not commit is flushed now. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, main_server,
                     PROFLOGNO(00268) "store: took over the rollups' flush "
                     "lock from process %d, which has exited", broke);
    }
    else if (broke) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_server,
                     PROFLOGNO(00260) "store: took over the rollups' flush "
                     "lock from process %d, which held it for more than %d s",
                     broke, (int)apr_time_sec(PROF_ROLLUP_LOCK_STALE_US));
    }
    now = prof_agg_snapshot(agg, p);
    delta = prof_agg_delta(p, shadow_snap(p), now);
    if (delta->nreq == 0) {
        rv = APR_SUCCESS;
        goto leave;
    }
    if (now->nreq > area->cap) {
        /* Cannot be: the area is made for the table's capacity. */
        *err = "the aggregates hold more cells than the shadow";
        rv = APR_EGENERAL;
        goto leave;
    }
    t = apr_time_now();
    minutes = prof_agg_rollup_entries(p, delta,
                                      t - t % apr_time_from_sec(60));
    hours = prof_agg_rollup_entries(p, delta,
                                    t - t % apr_time_from_sec(3600));
    relabel(p, minutes);
    relabel(p, hours);
    if (direct && db_driver && !strcmp(db_driver, "sqlite3")) {
        apr_finfo_t fi;

        /* The parent may run as root: never let it create the file (the
         * children could not write a root's file). The children's writer
         * and flusher make it within seconds of the first request. */
        if (db_params == NULL
            || apr_stat(&fi, db_params, APR_FINFO_TYPE, p) != APR_SUCCESS) {
            *err = "the SQLite file does not exist, and the parent process "
                   "does not create it";
            rv = APR_ENOENT;
            goto leave;
        }
    }
    if (!direct) {
        __atomic_store_n(&child_flushing, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&child_stopping, __ATOMIC_SEQ_CST)) {
            /* The child is going: its counts wait for the next flusher. */
            __atomic_store_n(&child_flushing, 0, __ATOMIC_SEQ_CST);
            *err = "the process is stopping";
            rv = APR_EINTR;
            goto leave;
        }
    }
    rv = direct ? prof_db_open_direct(&db, main_server, p, db_driver,
                                      db_params, err)
                : prof_db_open(&db, main_server, p, err);
    if (rv == APR_SUCCESS) {
        rv = prof_store_write_rollups(&db, p, minutes, hours, err);
        prof_db_close(&db, main_server);
    }
    if (!direct) {
        __atomic_store_n(&child_flushing, 0, __ATOMIC_SEQ_CST);
    }
    if (rv != APR_SUCCESS) {
        goto leave;
    }
    if (rv == APR_SUCCESS) {
        shadow_store(now);
        *nentries = (apr_size_t)minutes->nelts;
    }

leave:
    lock_give();
    return rv;
}

/* A flush with its log lines: one warning per outage, one notice when it
 * ends; what is not flushed stays counted for the next one. */
static void flush_logged(apr_pool_t *parent, int direct,
                         apr_interval_time_t wait, const char *who)
{
    apr_pool_t *p;
    const char *err = NULL;
    apr_size_t n = 0;
    apr_time_t t0 = apr_time_now();
    apr_status_t rv;

    if (apr_pool_create(&p, parent) != APR_SUCCESS) {
        return;
    }
    apr_pool_tag(p, "profiler_rollups");
    rv = flush(p, direct, wait, &err, &n);
    if (rv == APR_EBUSY) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, main_server,
                     PROFLOGNO(00261) "store: %s: another process is "
                     "flushing the rollups", who);
    }
    else if (rv != APR_SUCCESS) {
        if (!flush_down || direct) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, main_server,
                         PROFLOGNO(00262) "store: %s: cannot write the "
                         "rollups (%s); their counts wait for the next "
                         "flush", who, err ? err : "unknown error");
        }
        flush_down = 1;
    }
    else {
        if (flush_down) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, main_server,
                         PROFLOGNO(00263) "store: the rollups are written "
                         "again");
        }
        flush_down = 0;
        if (n) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, main_server,
                         PROFLOGNO(00264) "store: %s: flushed %"
                         APR_SIZE_T_FMT " minute rollups in %" APR_TIME_T_FMT
                         " us", who, n, apr_time_now() - t0);
        }
    }
    apr_pool_destroy(p);
}

static apr_status_t flush_callback(int state, void *data, apr_pool_t *p)
{
    (void)data;
    /* Nothing when this child stops: what it did not flush stays in the
     * shared area for the next generation's flusher (a graceful restart)
     * or for the parent's last flush (a stop). */
    if (state == AP_WATCHDOG_STATE_RUNNING) {
        flush_logged(p, 0, 0, "flush");
    }
    /* Never an error to mod_watchdog: that would stop the task for good. */
    return APR_SUCCESS;
}

/* The child's pool goes (a pre-cleanup: before mod_dbd's pool, a
 * subpool, is destroyed): no flush may begin, and one under way ends
 * first, for at most CHILD_FLUSH_WAIT_US. Past that the child leaves at
 * once: going on would abort it (and the flush lock it holds is taken
 * over by the next flusher, as after a crash). */
static apr_status_t child_exit(void *data)
{
    apr_time_t until = apr_time_now() + CHILD_FLUSH_WAIT_US;

    (void)data;
    __atomic_store_n(&child_stopping, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&child_flushing, __ATOMIC_SEQ_CST)) {
        if (apr_time_now() >= until) {
            _exit(0);
        }
        apr_sleep(apr_time_from_msec(10));
    }
    return APR_SUCCESS;
}

void prof_store_rollup_child_init(apr_pool_t *pchild)
{
    child_stopping = 0;
    child_flushing = 0;
    if (active) {
        apr_pool_pre_cleanup_register(pchild, NULL, child_exit);
    }
}

/* The parent, exiting (a stop, graceful or not): every child is gone,
 * so this flush sees all that was counted. Also runs, and does nothing,
 * when the configuration pool goes for a restart. */
static apr_status_t parent_exit(void *data)
{
    apr_pool_t *pool = data;

    if (getpid() != parent_pid
        || ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING) {
        return APR_SUCCESS;
    }
    (void)pool;
    /* pconf is going: work in the process pool, which outlives it. */
    flush_logged(main_server->process->pool, 1, PROF_ROLLUP_LAST_WAIT_US,
                 "last flush at stop");
    return APR_SUCCESS;
}

/* ---- setup --------------------------------------------------------------- */

static apr_status_t area_make(server_rec *s, apr_uint64_t cap)
{
    apr_pool_t *pp = s->process->pool;
    apr_size_t size = AREA_HEAD + (apr_size_t)cap * sizeof(prof_agg_cell_t);
    void *data = NULL;
    kept_t *kept;
    apr_status_t rv;

    apr_pool_userdata_get(&data, kept_key, pp);
    kept = data;
    if (kept == NULL) {
        kept = apr_pcalloc(pp, sizeof(*kept));
        apr_pool_userdata_set(kept, kept_key, apr_pool_cleanup_null, pp);
    }
    if (kept->shm && kept->area->magic == AREA_MAGIC
        && kept->area->cap == cap) {
        area = kept->area;          /* kept across the restart */
        return APR_SUCCESS;
    }
    if (kept->shm) {
        /* ProfilerMetricsKeys changed: the aggregates are made anew too.
         * Children of the previous generation keep their own mapping. */
        apr_shm_destroy(kept->shm);
        kept->shm = NULL;
    }
    rv = apr_shm_create(&kept->shm, size, NULL, pp);
    if (rv != APR_SUCCESS) {
        kept->shm = NULL;
        return rv;
    }
    kept->area = apr_shm_baseaddr_get(kept->shm);
    kept->size = size;
    memset(kept->area, 0, AREA_HEAD);
    kept->area->cap = cap;
    kept->area->magic = AREA_MAGIC;
    area = kept->area;
    return APR_SUCCESS;
}

int prof_store_rollup_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    apr_uint64_t cap = (apr_uint64_t)prof_config_metrics_keys(s)
                       + PROF_AGG_CLASSES;
    ap_watchdog_t *wd = NULL;
    apr_status_t rv;

    area = NULL;
    active = 0;
    main_server = s;
    parent_pid = getpid();
    store_rate = prof_db_conf()->store_rate > 0
                 ? (double)prof_db_conf()->store_rate : 0.0;
    db_driver = prof_db_driver(pconf);
    db_params = prof_db_params(pconf);
    rv = area_make(s, cap);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00265)
                     "store: cannot create the shared memory of the "
                     "rollups and of ProfilerStoreRate (%" APR_SIZE_T_FMT
                     " bytes); rows are stored without the rate, and the "
                     "rollups folded from them",
                     (apr_size_t)(AREA_HEAD + cap * sizeof(prof_agg_cell_t)));
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (get_instance == NULL || register_callback == NULL) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, PROFLOGNO(00266)
                     "store: without mod_watchdog the rollups are folded "
                     "from the stored rows, so they count only the rows "
                     "kept; LoadModule watchdog_module for exact ones");
        return OK;
    }
    /* A singleton: one process of the server flushes, whichever MPM. */
    rv = get_instance(&wd, WATCHDOG_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_callback(wd, PROF_ROLLUP_INTERVAL_US, NULL,
                               flush_callback);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PROFLOGNO(00267)
                     "store: cannot register the rollups' flush with "
                     "mod_watchdog");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* Registered now, it runs before the cleanups registered earlier
     * (mod_dbd's, the modules' unloading) when pconf goes. */
    apr_pool_cleanup_register(pconf, pconf, parent_exit,
                              apr_pool_cleanup_null);
    active = 1;
    return OK;
}
