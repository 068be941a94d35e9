/* Licensed under the Apache License, Version 2.0. */

#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "apr_atomic.h"
#include "apr_dbd.h"
#include "apr_signal.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "unixd.h"

#include "prof_queue.h"
#include "prof_rollup.h"
#include "mod_profiler_store_rollup.h"
#include "prof_sql.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_db.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_store.h"
#include "mod_profiler_retention.h"
#include "mod_profiler_report_lint.h"


/* Written in post_config (in the parent, before any child exists) and in
 * child_init (before the child serves a request or starts a thread of its
 * own); only read afterwards, so they need no lock. */
static int store_active;                /* post_config: some server stores */
static const char *server_name;
static prof_queue_t *store_queue;       /* child_init */

static volatile apr_uint64_t rows_lost;  /* before they reached the queue */

/* Request ids. A row's id is its writer's id (a row of the writers table:
 * unique in the database, never reused, also across servers that share
 * one) * 2^32 + a sequence number. The writer's current range is published
 * here once its registration is committed, as the next id to give out;
 * the writer takes the ids of its rows from it, and so do request threads
 * that need their id before the row is written (prof_store_new_id()), both
 * by compare-and-swap, never past the range's end. 0: no range yet (no
 * writer in this process, or it has not reached the database yet). */
static volatile apr_uint64_t id_next;
/* Someone in this process wants ids in advance: the writer registers
 * when idle rather than at its first batch (1: wanted). */
static volatile apr_uint32_t ids_wanted;

/* The last sequence number of a range: one short of 2^32, so that the
 * next id of a range used up never reads as the start of another's. */
#define ID_SEQ_LAST APR_UINT64_C(0xFFFFFFFF)

/* How long a failed batch waits for its one retry, and how the writer
 * backs off during an outage. */
#define RETRY_WAIT_US     apr_time_from_msec(250)
#define BACKOFF_FIRST_US  apr_time_from_sec(1)
#define BACKOFF_MAX_US    apr_time_from_sec(5)

/* How long a stopping child may go on writing what is queued. A child
 * that stops is waited for: by a graceful stop (with no limit unless
 * GracefulShutdownTimeout) and by "-k stop", which kills it after some
 * 9 s. Rows the writer cannot write by then are counted as lost. A batch
 * begun before the deadline still ends (on SQLite, a locked database
 * makes it wait for up to some 5 s: apr_dbd's own retries). */
#define DRAIN_US          apr_time_from_sec(3)

/* prefork's SIGTERM (and SIGHUP) handler destroys the child's pool right
 * in the signal handler: our cleanups must then take no lock and wait for
 * no thread. Set by our handler in front of prefork's. */
static volatile sig_atomic_t killed;
static void (*prev_term)(int);
static void (*prev_hup)(int);
/* The lock child_init gives a prefork child's allocator (NULL: none). */
static apr_thread_mutex_t *alloc_lock;

/* Multi-row inserts come in sizes 1, 2, 4 ... PROF_SQL_ROWS_MAX rows, so
 * that any number of rows is a few statements: 500 are 15 x 32 + 16 + 4. */
#define ROW_SIZES 6

/* Parameters per row of the two multi-row inserts. */
#define REQUEST_PARAMS (13 + PROF_SQL_PHASE_COLUMNS + 3)
#define SPAN_PARAMS    8

int prof_store_running(void)
{
    return store_queue != NULL;
}

/* n consecutive ids from the published range; 0 when there is none or
 * fewer than n are left in it. */
static apr_int64_t take_ids(apr_uint64_t n)
{
    apr_uint64_t v;

    do {
        v = apr_atomic_read64(&id_next);
        if (v == 0 || n == 0 || (v & ID_SEQ_LAST) + n > ID_SEQ_LAST) {
            return 0;
        }
    } while (apr_atomic_cas64(&id_next, v + n, v) != v);
    return (apr_int64_t)v;
}

apr_int64_t prof_store_new_id(void)
{
    apr_int64_t id = take_ids(1);

    if (id == 0 && !apr_atomic_read32(&ids_wanted)) {
        apr_atomic_set32(&ids_wanted, 1);
    }
    return id;
}

void prof_store_want_ids(void)
{
    apr_atomic_set32(&ids_wanted, 1);
}

int prof_store_submit(prof_row_t *row)
{
    if (prof_queue_push(store_queue, row)) {
        return 1;
    }
    prof_metrics_count_rows(PROF_METRICS_ROWS_DROPPED, 1);
    return 0;
}

void prof_store_count_lost(apr_uint32_t n)
{
    apr_atomic_add64(&rows_lost, n);
    prof_metrics_count_rows(PROF_METRICS_ROWS_FAILED, n);
}

/* ---- the writer -------------------------------------------------------- */

/* Parameters of up to PROF_SQL_ROWS_MAX rows of one multi-row insert, and
 * the values that are not in the rows themselves. */
typedef struct {
    const void *args[PROF_SQL_ROWS_MAX * REQUEST_PARAMS];
    apr_int64_t id[PROF_SQL_ROWS_MAX];
    int status[PROF_SQL_ROWS_MAX];
    int weight[PROF_SQL_ROWS_MAX];
    int dropped[PROF_SQL_ROWS_MAX];
    char starts[PROF_SQL_ROWS_MAX][PROF_ROW_STARTS_MAX];
    int n;
} request_buf_t;

typedef struct {
    const void *args[PROF_SQL_ROWS_MAX * SPAN_PARAMS];
    apr_int64_t id[PROF_SQL_ROWS_MAX];
    int seq[PROF_SQL_ROWS_MAX];
    int parent[PROF_SQL_ROWS_MAX];
    int metric[PROF_SQL_ROWS_MAX];
    int n;
} span_buf_t;

typedef struct {
    server_rec *s;
    apr_pool_t *pool;           /* cleared after every attempt */
    apr_int64_t nonce;          /* tells this writer's row from others */
    apr_int64_t writer_id;      /* 0: not registered in this database */
    apr_uint64_t written;       /* rows committed */
    apr_uint64_t failed;        /* rows lost to database errors */
    apr_time_t last_write_us;   /* the last commit */
    int named;                  /* the thread has its name */
    int down;                   /* in an outage */
    apr_time_t down_since;
    apr_time_t retry_at;
    apr_interval_time_t backoff;
    apr_uint64_t lost_in_outage;
    apr_uint64_t dropped_at_down; /* queue drops when the outage began */
    int closing;                /* the queue is closed: draining */
    apr_time_t drain_until;     /* the drain's deadline */
    apr_uint64_t lost_at_stop;  /* rows the drain gave up on */
    request_buf_t requests;     /* the multi-row insert being filled */
    span_buf_t spans;
} writer_t;

static apr_int64_t to_i64(const char *s)
{
    return s ? apr_atoi64(s) : 0;
}

static apr_int64_t clamp64(apr_uint64_t v)
{
    return v > (apr_uint64_t)APR_INT64_MAX ? APR_INT64_MAX : (apr_int64_t)v;
}

static int register_writer(writer_t *w, prof_db_t *db, prof_db_stmts_t *cs,
                           apr_pool_t *p)
{
    apr_int64_t now = apr_time_now();
    int pid = (int)getpid(), ret;
    const char *id = NULL;
    const void *args[5];

    args[0] = server_name;
    args[1] = &pid;
    args[2] = &w->nonce;
    args[3] = &now;
    args[4] = &now;
    if ((ret = prof_db_pquery(db, p, prof_db_stmt(cs, PROF_STMT_WRITER_INSERT),
                              args, NULL))) {
        return ret;
    }
    args[0] = &w->nonce;
    args[1] = server_name;
    args[2] = &pid;
    ret = prof_db_pselect_first(db, p, prof_db_stmt(cs,
                                                    PROF_STMT_WRITER_SELECT),
                                args, &id);
    if (ret) {
        return ret;
    }
    w->writer_id = to_i64(id);
    return w->writer_id > 0 ? 0 : -1;
}

/* Insert nrows rows (at most PROF_SQL_ROWS_MAX) whose parameters are in
 * args, nparams per row, row after row: in as few statements as the sizes
 * allow (21 rows: 16 + 4 + 1). */
static int insert_rows(prof_db_t *db, prof_db_stmts_t *cs, apr_pool_t *p,
                       int span, const void **args, int nparams, int nrows)
{
    apr_dbd_prepared_t *st;
    int k, ret;

    for (k = ROW_SIZES - 1; nrows > 0; --k) {
        if (nrows < (1 << k)) {
            continue;
        }
        if ((ret = prof_db_insert_stmt(db, cs, span ? PROF_STMT_SPAN_INSERT
                                                    : PROF_STMT_REQUEST_INSERT,
                                       1 << k, &st)) != 0) {
            return ret;
        }
        if ((ret = prof_db_pquery(db, p, st, args, NULL)) != 0) {
            return ret;
        }
        args += nparams << k;
        nrows -= 1 << k;
    }
    return 0;
}

static void request_params(request_buf_t *b, apr_int64_t id,
                           const prof_row_t *row)
{
    const void **a = b->args + b->n * REQUEST_PARAMS;
    int k;

    b->id[b->n] = id;
    b->status[b->n] = row->status;
    b->weight[b->n] = (int)row->weight;
    b->dropped[b->n] = (int)row->spans_dropped;
    a[0] = &b->id[b->n];
    a[1] = server_name;
    a[2] = row->vhost;
    a[3] = &row->start_us;
    a[4] = row->method;
    a[5] = row->route;
    a[6] = row->path;
    a[7] = row->query;          /* NULL: not kept */
    a[8] = &b->status[b->n];
    a[9] = row->protocol;
    a[10] = &row->bytes_sent;
    a[11] = &row->dur_us[PROF_PHASE_TOTAL];
    a[12] = &row->ttfb_us;
    for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
        a[13 + k] = &row->dur_us[k];
    }
    a[13 + PROF_SQL_PHASE_COLUMNS] = &b->weight[b->n];
    a[14 + PROF_SQL_PHASE_COLUMNS] = &b->dropped[b->n];
    a[15 + PROF_SQL_PHASE_COLUMNS] = prof_row_phase_starts(
        row, b->starts[b->n], sizeof(b->starts[b->n]));  /* NULL: none */
    ++b->n;
}

static void span_params(span_buf_t *b, apr_int64_t id,
                        const prof_row_span_t *sp)
{
    const void **a = b->args + b->n * SPAN_PARAMS;

    b->id[b->n] = id;
    b->seq[b->n] = sp->index;
    b->parent[b->n] = sp->parent;
    b->metric[b->n] = sp->metric;
    a[0] = &b->id[b->n];
    a[1] = &b->seq[b->n];
    a[2] = sp->name;
    a[3] = sp->desc;
    a[4] = sp->parent >= 0 ? (const void *)&b->parent[b->n] : NULL;
    a[5] = &sp->start_us;
    a[6] = &sp->dur_us;
    a[7] = &b->metric[b->n];
    ++b->n;
}

/* The profile of a stored request: rare (profiled requests only), one
 * statement each. */
static int insert_profile(prof_db_t *db, prof_db_stmts_t *cs, apr_pool_t *p,
                          apr_int64_t id, const prof_row_t *row)
{
    const void *args[3];

    args[0] = &id;
    args[1] = PROF_SQL_PROFILE_FORMAT;
    args[2] = row->profile;
    return prof_db_pquery(db, p, prof_db_stmt(cs, PROF_STMT_PROFILE_INSERT),
                          args, NULL);
}

/* The module times of a stored request (ProfilerModuleTiming: off by
 * default, and rows are a sample): one statement each. */
static int insert_modules(prof_db_t *db, prof_db_stmts_t *cs, apr_pool_t *p,
                          apr_int64_t id, const prof_row_t *row)
{
    apr_uint32_t i;
    int ret;

    for (i = 0; i < row->nmodules; ++i) {
        const prof_row_module_t *m = &row->modules[i];
        const char *phase = m->phase >= 0 ? prof_phase_name(m->phase)
                                          : "filter";
        int calls = m->calls > (apr_uint32_t)APR_INT32_MAX ? APR_INT32_MAX
                                                           : (int)m->calls;
        const void *args[5];

        args[0] = &id;
        args[1] = phase;
        args[2] = m->name;
        args[3] = &calls;
        args[4] = &m->dur_us;
        if ((ret = prof_db_pquery(db, p,
                                  prof_db_stmt(cs, PROF_STMT_MODULE_INSERT),
                                  args, NULL)) != 0) {
            return ret;
        }
    }
    return 0;
}

/* The rows of a batch and their spans, PROF_SQL_ROWS_MAX at a time, in
 * the writer's own buffers (some kilobytes: kept off the thread's stack).
 * Rows without an id of their own take the next of first_id's. */
static int insert_requests(writer_t *w, prof_db_t *db, prof_db_stmts_t *cs,
                           apr_pool_t *p, prof_row_t **rows, apr_size_t n,
                           apr_int64_t first_id)
{
    request_buf_t *rb = &w->requests;
    span_buf_t *sb = &w->spans;
    apr_size_t i;
    apr_uint32_t j;
    int ret;

    rb->n = sb->n = 0;
    for (i = 0; i < n; ++i) {
        apr_int64_t id = rows[i]->id ? rows[i]->id : first_id++;

        if (rows[i]->profile
            && (ret = insert_profile(db, cs, p, id, rows[i])) != 0) {
            return ret;
        }
        if (rows[i]->nmodules
            && (ret = insert_modules(db, cs, p, id, rows[i])) != 0) {
            return ret;
        }
        request_params(rb, id, rows[i]);
        if (rb->n == PROF_SQL_ROWS_MAX || i + 1 == n) {
            if ((ret = insert_rows(db, cs, p, 0, rb->args, REQUEST_PARAMS,
                                   rb->n)) != 0) {
                return ret;
            }
            rb->n = 0;
        }
        for (j = 0; j < rows[i]->nspans; ++j) {
            span_params(sb, id, &rows[i]->spans[j]);
            if (sb->n == PROF_SQL_ROWS_MAX) {
                if ((ret = insert_rows(db, cs, p, 1, sb->args, SPAN_PARAMS,
                                       sb->n)) != 0) {
                    return ret;
                }
                sb->n = 0;
            }
        }
    }
    return insert_rows(db, cs, p, 1, sb->args, SPAN_PARAMS, sb->n);
}

/* Merge one aggregate into its database row: make sure the row exists,
 * read it (locked, on PostgreSQL), add, write it back. */
static int merge_rollup(prof_db_t *db, prof_db_stmts_t *cs, apr_pool_t *p,
                        prof_rollup_entry_t *e, int hourly, const char **err)
{
    /* The minute table's statements, or the hourly table's. */
    const int ensure = hourly ? PROF_STMT_HOUR_ENSURE : PROF_STMT_ROLLUP_ENSURE;
    const int sel = hourly ? PROF_STMT_HOUR_SELECT : PROF_STMT_ROLLUP_SELECT;
    const int update = hourly ? PROF_STMT_HOUR_UPDATE : PROF_STMT_ROLLUP_UPDATE;
    const apr_dbd_driver_t *drv = db->dbd->driver;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    prof_rollup_entry_t old;
    const void *key[6], *args[22 + 6];
    apr_int64_t v[21];
    int ret, k, found = 0;

    key[0] = &e->minute_us;
    key[1] = server_name;
    key[2] = e->vhost;
    key[3] = e->route;
    key[4] = e->method;
    key[5] = &e->status_class;
    if ((ret = prof_db_pquery(db, p, prof_db_stmt(cs, ensure), key, NULL))) {
        return ret;
    }
    ret = apr_dbd_pbselect(drv, p, db->dbd->handle, &res,
                           prof_db_stmt(cs, sel), 1, key);
    if (ret) {
        return ret;
    }
    memset(&old, 0, sizeof(old));
    while (apr_dbd_get_row(drv, p, res, &row, -1) == 0) {
        const char *hist = apr_dbd_get_entry(drv, row, 21);
        apr_uint64_t count = (apr_uint64_t)to_i64(apr_dbd_get_entry(drv, row, 0));

        found = 1;
        old.samples = (apr_uint64_t)to_i64(apr_dbd_get_entry(drv, row, 1));
        old.ttfb_sum_us = (apr_uint64_t)to_i64(apr_dbd_get_entry(drv, row, 5));
        old.bytes_sum = (apr_uint64_t)to_i64(apr_dbd_get_entry(drv, row, 6));
        for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
            old.phase_sum_us[k] =
                (apr_uint64_t)to_i64(apr_dbd_get_entry(drv, row, 7 + k));
        }
        if (count > 0) {
            if (prof_hist_decode(hist, hist ? strlen(hist) : 0, &old.hist)
                != APR_SUCCESS || old.hist.count != count) {
                /* Never merge into what cannot be read back exactly. */
                *err = apr_psprintf(p, "rollup row of %s %s has a damaged "
                                    "histogram", e->method, e->route);
                return -1;
            }
            old.hist.sum = (apr_uint64_t)to_i64(apr_dbd_get_entry(drv, row, 2));
            old.hist.min = to_i64(apr_dbd_get_entry(drv, row, 3));
            old.hist.max = to_i64(apr_dbd_get_entry(drv, row, 4));
            old.phase_sum_us[PROF_PHASE_TOTAL] = old.hist.sum;
        }
    }
    if (!found) {
        *err = "a rollup row vanished while it was merged";
        return -1;
    }
    prof_rollup_entry_merge(e, &old);

    v[0] = clamp64(e->hist.count);
    v[1] = clamp64(e->samples);
    v[2] = clamp64(e->hist.sum);
    v[3] = e->hist.min;
    v[4] = e->hist.max;
    v[5] = clamp64(e->ttfb_sum_us);
    v[6] = clamp64(e->bytes_sum);
    for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
        v[7 + k] = clamp64(e->phase_sum_us[k]);
    }
    for (k = 0; k < 21; ++k) {
        args[k] = &v[k];
    }
    args[21] = prof_hist_encode(p, &e->hist);
    for (k = 0; k < 6; ++k) {
        args[22 + k] = key[k];
    }
    return prof_db_pquery(db, p, prof_db_stmt(cs, update), args, NULL);
}

/* Merge entries (sorted: writers lock rows in one order) into the minute
 * or the hour table; on failure *err says why. */
static int merge_entries(prof_db_t *db, prof_db_stmts_t *cs, apr_pool_t *p,
                         const apr_array_header_t *entries, int hourly,
                         const char **err)
{
    int k, ret;

    for (k = 0; k < entries->nelts; ++k) {
        *err = NULL;
        ret = merge_rollup(db, cs, p,
                           APR_ARRAY_IDX(entries, k, prof_rollup_entry_t *),
                           hourly, err);
        if (ret) {
            if (*err == NULL) {
                *err = prof_db_error(db, p, ret, "cannot update a rollup");
            }
            return ret;
        }
    }
    return 0;
}

apr_status_t prof_store_write_rollups(prof_db_t *db, apr_pool_t *p,
                                      const apr_array_header_t *minutes,
                                      const apr_array_header_t *hours,
                                      const char **err)
{
    prof_db_stmts_t *cs;
    apr_status_t rv;
    int ret, end;

    if ((rv = prof_db_statements(db, p, &cs, err)) != APR_SUCCESS) {
        return rv;
    }
    if ((ret = prof_db_begin(db)) != 0) {
        *err = prof_db_error(db, p, ret, "cannot start a transaction");
        return APR_EGENERAL;
    }
    ret = merge_entries(db, cs, p, minutes, 0, err);
    if (!ret) {
        ret = merge_entries(db, cs, p, hours, 1, err);
    }
    end = prof_db_end(db, !ret);
    if (!ret && end) {
        ret = end;
        *err = prof_db_error(db, p, end, "cannot commit");
    }
    return ret ? APR_EGENERAL : APR_SUCCESS;
}

static apr_status_t write_rows(writer_t *w, prof_row_t **rows, apr_size_t n,
                               const char **err)
{
    apr_pool_t *p = w->pool;
    apr_array_header_t *entries;
    prof_rollup_t *agg;
    prof_db_stmts_t *cs;
    prof_db_t db;
    apr_status_t rv;
    apr_size_t i;
    int ret = 0, k, hourly;
    apr_int64_t registered_before = w->writer_id, first_id = 0;
    apr_uint64_t need = 0;

    rv = prof_db_open(&db, w->s, p, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if ((rv = prof_db_statements(&db, p, &cs, err)) != APR_SUCCESS) {
        prof_db_close(&db, w->s);
        return rv;
    }
    ret = prof_db_begin(&db);
    if (ret) {
        *err = prof_db_error(&db, p, ret, "cannot start a transaction");
        prof_db_close(&db, w->s);
        return APR_EGENERAL;
    }
    for (i = 0; i < n; ++i) {
        need += rows[i]->id == 0;
    }
    /* A new id range when this writer is new to the database, or its
     * 2^32 sequence numbers are used up, or it has been idle for so long
     * that retention may have taken its row of the writers table (it
     * prunes writers idle for longer than ProfilerRetention). Ids taken
     * from the published range by a batch that then fails are skipped,
     * never given twice. */
    if (w->writer_id == 0
        || (prof_db_conf()->retention_us > 0
            && apr_time_now() - w->last_write_us
               > prof_db_conf()->retention_us / 2)
        || (need && (first_id = take_ids(need)) == 0)) {
        if ((ret = register_writer(w, &db, cs, p)) != 0) {
            *err = ret > 0 ? prof_db_error(&db, p, ret,
                                           "cannot register the writer")
                           : "cannot read the writer's id back";
            goto leave;
        }
        first_id = (w->writer_id << 32) | 1;
    }
    if ((ret = insert_requests(w, &db, cs, p, rows, n, first_id)) != 0) {
        *err = prof_db_error(&db, p, ret, "cannot insert requests");
        goto leave;
    }
    /* The rollups come from the live aggregates, which count every
     * request whatever rows are kept (mod_profiler_store_rollup.c); only
     * without them (no shared memory, no mod_watchdog) does the writer fold
     * its rows in. Per minute, then per hour: summaries of long ranges
     * read the hours. */
    for (hourly = 0; !prof_store_rollup_active() && hourly < 2; ++hourly) {
        agg = hourly ? prof_rollup_create_period(p, APR_INT64_C(3600000000))
                     : prof_rollup_create(p);
        for (i = 0; i < n; ++i) {
            prof_rollup_add(agg, rows[i]);
        }
        entries = prof_rollup_sorted(agg);
        if ((ret = merge_entries(&db, cs, p, entries, hourly, err)) != 0) {
            goto leave;
        }
    }
    {
        apr_int64_t now = apr_time_now();
        apr_int64_t written = clamp64(w->written + n);
        apr_int64_t dropped = clamp64(prof_queue_dropped(store_queue)
                                      + prof_queue_refused(store_queue));
        apr_int64_t failed = clamp64(w->failed + apr_atomic_read64(&rows_lost));
        const void *args[5];

        args[0] = &now;
        args[1] = &written;
        args[2] = &dropped;
        args[3] = &failed;
        args[4] = &w->writer_id;
        if ((ret = prof_db_pquery(&db, p,
                                  prof_db_stmt(cs, PROF_STMT_WRITER_UPDATE),
                                  args, NULL))) {
            *err = prof_db_error(&db, p, ret,
                                 "cannot update the writer's counters");
            goto leave;
        }
    }

leave:
    k = prof_db_end(&db, !ret);
    if (!ret && k) {
        ret = k;
        *err = prof_db_error(&db, p, k, "cannot commit");
    }
    prof_db_close(&db, w->s);
    if (ret) {
        /* Nothing of it is in the database: neither the registration nor
         * the ids. */
        w->writer_id = registered_before;
        return APR_EGENERAL;
    }
    if (w->writer_id != registered_before) {
        /* Committed: the new range is the one to give ids from, after
         * those this batch took. */
        apr_atomic_set64(&id_next, ((apr_uint64_t)w->writer_id << 32)
                                   | (need + 1));
    }
    w->written += n;
    prof_metrics_count_rows(PROF_METRICS_ROWS_WRITTEN, n);
    w->last_write_us = apr_time_now();
    return APR_SUCCESS;
}

/* The one notice that ends an outage of this writer. */
static void outage_over(writer_t *w, apr_time_t now)
{
    apr_uint64_t dropped;

    if (!w->down) {
        return;
    }
    dropped = prof_queue_dropped(store_queue) - w->dropped_at_down;
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, w->s, PROFLOGNO(00007)
                 "store: writing again after %" APR_TIME_T_FMT " s; "
                 "%" APR_UINT64_T_FMT " rows were lost to the outage "
                 "and %" APR_UINT64_T_FMT " dropped by the full queue",
                 apr_time_sec(now - w->down_since), w->lost_in_outage,
                 dropped);
    w->down = 0;
}

/* Nothing came to be written for an interval. A writer in an outage
 * looks, when its back-off has passed, whether the database works again,
 * so that the notice that ends the outage comes when the database is
 * back, not only once this child gets a request again (which, with
 * several children, may be never). */
static void writer_idle(void *baton)
{
    writer_t *w = baton;
    apr_time_t now = apr_time_now();
    const char *err = NULL;

    if (w->writer_id == 0 && !w->down && now >= w->retry_at
        && apr_atomic_read32(&ids_wanted) && !prof_queue_closed(store_queue)) {
        /* Not registered yet, and ids are wanted in advance (profiled
         * requests): register now, not at the first batch, so that they
         * find a range soon after the child starts. Quietly: a database
         * that is down is reported by the first batch that cannot be
         * written. Other configurations register at their first batch, as
         * before. */
        if (write_rows(w, NULL, 0, &err) != APR_SUCCESS) {
            w->retry_at = now + BACKOFF_MAX_US;
        }
        apr_pool_clear(w->pool);
        return;
    }
    if (!w->down || now < w->retry_at || prof_queue_closed(store_queue)) {
        return;
    }
    /* No rows: the writer's registration and counters only, so that what
     * the outage cost is in the database too. */
    if (write_rows(w, NULL, 0, &err) == APR_SUCCESS) {
        outage_over(w, apr_time_now());
    }
    else {
        w->backoff = w->backoff * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US
                                                     : w->backoff * 2;
        w->retry_at = apr_time_now() + w->backoff;
        prof_db_schema_recheck();
    }
    apr_pool_clear(w->pool);
}

static apr_status_t write_batch(void *baton, void **items, apr_size_t n)
{
    writer_t *w = baton;
    prof_row_t **rows = (prof_row_t **)items;
    apr_time_t now = apr_time_now();
    const char *err = NULL;
    apr_status_t rv = APR_EGENERAL;
    apr_size_t i;

#ifdef __linux__
    /* "top -H" and "ps -L" show which thread is the store's. */
    if (!w->named) {
        prctl(PR_SET_NAME, "prof-writer", 0, 0, 0);
        w->named = 1;
    }
#endif
    if (prof_queue_closed(store_queue)) {
        /* The child stops: write what can be written by the deadline;
         * after it, or in an outage before its next try, count the rest
         * as lost at once, never wait. */
        if (!w->closing) {
            w->closing = 1;
            w->drain_until = now + DRAIN_US;
        }
        if (now >= w->drain_until || (w->down && now < w->retry_at)) {
            for (i = 0; i < n; ++i) {
                prof_row_free(rows[i]);
            }
            w->failed += n;
            prof_metrics_count_rows(PROF_METRICS_ROWS_FAILED, n);
            w->lost_at_stop += n;
            return APR_EGENERAL;
        }
    }
    if (!w->down || now >= w->retry_at) {
        rv = write_rows(w, rows, n, &err);
        apr_pool_clear(w->pool);
        /* One quick retry: a locked database or a connection that went
         * stale since the last batch is usually fine a moment later. */
        if (rv != APR_SUCCESS && !w->down && !prof_queue_closed(store_queue)) {
            prof_db_schema_recheck();
            apr_sleep(RETRY_WAIT_US);
            err = NULL;
            rv = write_rows(w, rows, n, &err);
            apr_pool_clear(w->pool);
        }
    }
    for (i = 0; i < n; ++i) {
        prof_row_free(rows[i]);
    }
    now = apr_time_now();
    if (rv == APR_SUCCESS) {
        outage_over(w, now);
        return APR_SUCCESS;
    }
    w->failed += n;
    prof_metrics_count_rows(PROF_METRICS_ROWS_FAILED, n);
    if (!w->down) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, w->s, PROFLOGNO(00006)
                     "store: cannot write to the database (%s); requests are "
                     "not affected, their rows are counted and dropped until "
                     "it works again", err ? err : "unknown error");
        w->down = 1;
        w->down_since = now;
        w->lost_in_outage = 0;
        w->dropped_at_down = prof_queue_dropped(store_queue);
        w->backoff = BACKOFF_FIRST_US;
    }
    else if (err) {
        /* Tried and failed again: wait longer before the next try. */
        w->backoff = w->backoff * 2 > BACKOFF_MAX_US ? BACKOFF_MAX_US
                                                     : w->backoff * 2;
    }
    if (err) {
        w->retry_at = now + w->backoff;
        prof_db_schema_recheck();
    }
    w->lost_in_outage += n;
    return rv;
}

/* ---- process setup ----------------------------------------------------- */

/* May user uid (primary group gid, further groups in groups) write to
 * what st describes? As the kernel decides it, but for ACLs. */
static int may_write(const struct stat *st, uid_t uid, gid_t gid,
                     const gid_t *groups, int ngroups)
{
    int i;

    if (uid == 0) {
        return 1;
    }
    if (st->st_uid == uid) {
        return (st->st_mode & S_IWUSR) != 0;
    }
    for (i = -1; i < ngroups; ++i) {
        if (st->st_gid == (i < 0 ? gid : groups[i])) {
            return (st->st_mode & S_IWGRP) != 0;
        }
    }
    return (st->st_mode & S_IWOTH) != 0;
}

/*
 * A SQLite database must be writable, and so must its directory (SQLite
 * creates the file and its -wal and -shm files beside it), by the user the
 * children run as: not the root that reads the configuration. Debian's
 * /var/lib/apache2 is root's, so the first "DBDParams
 * /var/lib/apache2/profiler.db" fails in every child with mod_dbd's "unable
 * to open database file". Say once, at startup, which path and which user,
 * and what to do; the server runs on, and requests are not affected.
 */
static void sqlite_access_check(server_rec *s, apr_pool_t *ptemp)
{
    const char *driver = prof_db_driver(ptemp);
    const char *path = prof_db_params(ptemp), *dir, *bad = NULL;
    const char *user, *group = NULL;
    struct stat st;
    gid_t groups[64];
    int ngroups = 64;
    uid_t uid;
    gid_t gid;
    char *slash;

    if (driver == NULL || strcmp(driver, "sqlite3") || path == NULL
        || path[0] != '/') {
        return;                 /* relative or special (":memory:") names */
    }
    if (geteuid() == 0) {
        uid = ap_unixd_config.user_id;
        gid = ap_unixd_config.group_id;
        user = ap_unixd_config.user_name;
    }
    else {
        uid = geteuid();
        gid = getegid();
        user = NULL;
    }
    if (user == NULL) {
        struct passwd *pw = getpwuid(uid);
        user = pw ? apr_pstrdup(ptemp, pw->pw_name) : "?";
    }
    {
        struct group *gr = getgrgid(gid);
        group = gr ? apr_pstrdup(ptemp, gr->gr_name) : apr_psprintf(
                                            ptemp, "%ld", (long)gid);
    }
    if (uid == 0 || getgrouplist(user, gid, groups, &ngroups) < 0) {
        ngroups = 0;
    }
    dir = apr_pstrdup(ptemp, path);
    slash = strrchr((char *)dir, '/');
    *slash = '\0';
    if (dir[0] == '\0') {
        dir = "/";
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PROFLOGNO(00170)
                     "ProfilerStore: the directory %s of the SQLite database "
                     "%s (DBDParams) does not exist: create it for user %s "
                     "(uid %ld), whom the server's children run as, e.g. "
                     "\"install -d -o %s -g %s %s\"; until then nothing is "
                     "stored", dir, path, user, (long)uid, user, group, dir);
        return;
    }
    if (!may_write(&st, uid, gid, groups, ngroups)) {
        bad = dir;
    }
    else if (stat(path, &st) == 0
             && !may_write(&st, uid, gid, groups, ngroups)) {
        bad = path;
    }
    if (bad) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PROFLOGNO(00171)
                     "ProfilerStore: user %s (uid %ld), whom the server's "
                     "children run as, cannot write the SQLite database %s "
                     "(DBDParams): %s is owned by uid %ld, mode %04o. Give "
                     "the database a directory of its own owned by %s, e.g. "
                     "\"install -d -o %s -g %s %s/profiler\" and DBDParams "
                     "%s/profiler/%s (or chown the file and its directory "
                     "to %s); until then nothing is stored", user, (long)uid,
                     path, bad, (long)st.st_uid,
                     (unsigned)(st.st_mode & 07777),
                     user, user, group, dir, dir, slash + 1, user);
    }
}

/* Some server of the configuration stores requests. */
static int store_wanted(server_rec *s)
{
    int wanted = 0;

    for (; s; s = s->next) {
        wanted |= prof_config_srv(s)->store_maybe_on;
    }
    return wanted;
}

/* Every check that can refuse the configuration, here rather than in
 * post_config: "apachectl -t" runs check_config, so a configuration that
 * passes the test cannot stop a running server on a graceful restart. */
static int store_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    prof_store_conf_t conf;
    int wanted, report;

    (void)pconf; (void)plog;
    wanted = store_wanted(s);
    /* The report reads the database even where nothing is stored (a
     * reporting server in front of a fleet's PostgreSQL database). */
    report = prof_report_lint(ptemp, s) > 0;
    if (!wanted && !report) {
        return OK;
    }
    /* A report without a database (no DBDriver at all) is valid: it
     * answers from the live metrics (mod_profiler_report.c says so). */
    if (!wanted && !prof_db_any_driver()) {
        return OK;
    }
    if (prof_db_check_config(s, ptemp,
                             wanted ? "ProfilerStore On"
                                    : "SetHandler profiler-report") != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    prof_config_store_get(s, &conf);
    if (conf.rollup_retention_us != 0
        && (conf.retention_us == 0
            || conf.rollup_retention_us < conf.retention_us)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PROFLOGNO(00010)
                     "ProfilerRollupRetention must keep rollups at least as "
                     "long as ProfilerRetention keeps requests");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return wanted ? prof_retention_check_config(s) : OK;
}

static int store_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    const prof_store_conf_t *conf;
    char host[APRMAXHOSTLEN + 1];
    int wanted;

    (void)plog;
    store_active = 0;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    /* check_config has seen to it that what is needed is there. */
    wanted = store_wanted(s);
    prof_db_setup(s);
    conf = prof_db_conf();
    server_name = conf->server_name;
    if (server_name == NULL) {
        server_name = apr_gethostname(host, sizeof(host), pconf) == APR_SUCCESS
                      ? apr_pstrdup(pconf, host) : "localhost";
    }
    if (!wanted) {
        /* Reading only: no writer, no retention task in this server. */
        return OK;
    }
    sqlite_access_check(s, ptemp);
    if (prof_retention_post_config(pconf, s) != OK
        || prof_store_rollup_post_config(pconf, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    store_active = 1;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00011)
                 "store: %s database, tables %s*, server name %s",
                 prof_db_driver(ptemp), conf->prefix, server_name);
    return OK;
}

static void store_killed(int sig)
{
    void (*prev)(int) = sig == SIGTERM ? prev_term : prev_hup;

    killed = 1;
    if (prev != SIG_DFL && prev != SIG_IGN && prev != SIG_ERR && prev) {
        prev(sig);
    }
    else if (prev != SIG_IGN) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

typedef struct {
    writer_t *w;
    prof_writer_t *wr;
} stop_t;

/*
 * The child's pool goes: before the writer's own pre-cleanup (cleanups run
 * last registered first), drain the queue by the deadline and say once
 * how many rows were lost.
 *
 * Killed by prefork (SIGTERM, SIGHUP), this runs inside the signal
 * handler, on the thread the signal interrupted, which may hold the
 * queue's lock or be inside malloc: then wait for no lock, log nothing,
 * allocate nothing. The writer is told to stop and given a moment to
 * leave the database alone; if it has not by then, the child leaves at
 * once, since the rest of this cleanup would close the connection it is
 * using. So it does too if the interrupted thread holds the allocator
 * lock we gave prefork's child (a non-blocking try tells): the pool's
 * destruction that follows would wait for it forever. Queued rows are
 * lost either way: the child is being killed.
 */
static apr_status_t store_child_exit(void *data)
{
    stop_t *st = data;
    int i;

    if (killed) {
        prof_writer_abandon(st->wr);
        for (i = 0; i < 100 && !prof_writer_exited(st->wr); ++i) {
            apr_sleep(apr_time_from_msec(10));
        }
        if (!prof_writer_exited(st->wr)
            || (alloc_lock
                && apr_thread_mutex_trylock(alloc_lock) != APR_SUCCESS)) {
            _exit(0);
        }
        if (alloc_lock) {
            apr_thread_mutex_unlock(alloc_lock);
        }
        return APR_SUCCESS;
    }
    prof_writer_stop(st->wr);
    if (st->w->lost_at_stop) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, st->w->s, PROFLOGNO(00172)
                     "store: stopping; %" APR_UINT64_T_FMT " rows could not "
                     "be written within %d s and are lost",
                     st->w->lost_at_stop, (int)apr_time_sec(DRAIN_US));
    }
    return APR_SUCCESS;
}

static void store_child_init(apr_pool_t *pchild, server_rec *s)
{
    stop_t *stop;
    int threaded = 0;
    prof_writer_t *wr = NULL;
    prof_queue_t *q = NULL;
    writer_t *w;
    apr_status_t rv;

    store_queue = NULL;
    if (!store_active) {
        return;
    }
    /* prefork gives the child's pool and every request pool one allocator
     * without a lock, since its children have one thread. Ours has two
     * more (the writer, and mod_watchdog's for retention), which allocate
     * from that tree too, as does mod_dbd when they open a connection:
     * give the allocator the lock threaded MPMs give it. Uncontended, it
     * costs a request a few atomic operations. */
    {
        apr_allocator_t *a = apr_pool_allocator_get(pchild);
        apr_thread_mutex_t *m = NULL;

        alloc_lock = NULL;
        if (a && apr_allocator_mutex_get(a) == NULL
            && apr_thread_mutex_create(&m, APR_THREAD_MUTEX_DEFAULT,
                                       pchild) == APR_SUCCESS) {
            apr_allocator_mutex_set(a, m);
            alloc_lock = m;
        }
    }
    w = apr_pcalloc(pchild, sizeof(*w));
    w->s = s;
    if (apr_generate_random_bytes((unsigned char *)&w->nonce,
                                  sizeof(w->nonce)) != APR_SUCCESS) {
        w->nonce = apr_time_now() ^ ((apr_int64_t)getpid() << 40);
    }
    w->nonce &= APR_INT64_MAX;
    rv = apr_pool_create(&w->pool, pchild);
    if (rv == APR_SUCCESS) {
        apr_pool_tag(w->pool, "profiler_writer");
        rv = prof_queue_create(&q, (apr_size_t)prof_db_conf()->queue_size,
                               pchild);
    }
    if (rv == APR_SUCCESS) {
        prof_queue_set_batch_at(q, (apr_size_t)prof_db_conf()->batch_rows);
        /* The writer's pre-cleanup on pchild stops it, and so writes out
         * the queue, before pchild's subpools go: mod_dbd's connections
         * live in one of those. */
        rv = prof_writer_start(&wr, q, (apr_size_t)prof_db_conf()->batch_rows,
                               prof_db_conf()->batch_interval_us, write_batch,
                               writer_idle, w, pchild);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00012)
                     "store: cannot start the writer; requests of this "
                     "process are not stored");
        return;
    }
    store_queue = q;
    stop = apr_palloc(pchild, sizeof(*stop));
    stop->w = w;
    stop->wr = wr;
    apr_pool_pre_cleanup_register(pchild, stop, store_child_exit);
    /* prefork kills its children with a handler that destroys the pool in
     * the signal handler; the threaded MPMs take signals on a thread of
     * their own and exit in the ordinary way. Our handler goes in front,
     * to note that it happened. */
    killed = 0;
    /* (httpd -X, ONE_PROCESS, keeps the parent's handlers: they only set
     * a flag, and the process exits in the ordinary way.) */
    if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) == APR_SUCCESS
        && threaded == AP_MPMQ_NOT_SUPPORTED
        && !ap_exists_config_define("ONE_PROCESS")) {
        prev_term = apr_signal(SIGTERM, store_killed);
        prev_hup = apr_signal(SIGHUP, store_killed);
    }
    /* Last: its pre-cleanup runs first, so a flush of the rollups ends
     * before anything of the store goes. */
    prof_store_rollup_child_init(pchild);
}

void prof_store_register_hooks(apr_pool_t *p)
{
    /* Before mod_watchdog's post_config, which starts the watchdogs that
     * have callbacks (the retention task registers one). */
    static const char *const succ[] = { "mod_watchdog.c", NULL };
    /* After mod_dbd's child_init, which sets up its connection pool. */
    static const char *const pred[] = { "mod_dbd.c", NULL };

    (void)p;
    ap_hook_check_config(store_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(store_post_config, NULL, succ, APR_HOOK_MIDDLE);
    ap_hook_child_init(store_child_init, pred, NULL, APR_HOOK_MIDDLE);
}
