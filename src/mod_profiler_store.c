/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "apr_atomic.h"
#include "apr_dbd.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "apr_thread_proc.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "mod_dbd.h"
#include "mod_watchdog.h"

#include "prof_queue.h"
#include "prof_rollup.h"
#include "prof_sql.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_store.h"
#include "mod_profiler_retention.h"
#include "mod_profiler_report.h"


/* Written in post_config (in the parent, before any child exists) and in
 * child_init (before the child serves a request or starts a thread of its
 * own); only read afterwards, so they need no lock. */
static int store_active;                /* post_config: some server stores */
static prof_store_conf_t store_conf;
static const char *server_name;
static prof_queue_t *store_queue;       /* child_init */
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

/* Shared by the writer, the retention task and report threads. */
static volatile apr_uint32_t schema_ok;
static volatile apr_uint64_t rows_lost;  /* before they reached the queue */

/* Where each connection keeps our prepared statements: in mod_dbd's
 * per-connection hash of them, so they live and die with the connection. */
#define CONN_KEY "mod_profiler:statements"
#define SETUP_KEY "mod_profiler:setup"

/* How long a failed batch waits for its one retry, and how the writer
 * backs off during an outage. */
#define RETRY_WAIT_US     apr_time_from_msec(250)
#define BACKOFF_FIRST_US  apr_time_from_sec(1)
#define BACKOFF_MAX_US    apr_time_from_sec(5)

/* Multi-row inserts come in sizes 1, 2, 4 ... PROF_SQL_ROWS_MAX rows, so
 * that any number of rows is a few statements: 500 are 15 x 32 + 16 + 4. */
#define ROW_SIZES 6
#if (1 << (ROW_SIZES - 1)) != PROF_SQL_ROWS_MAX
#error ROW_SIZES does not match PROF_SQL_ROWS_MAX
#endif

/* Parameters per row of the two multi-row inserts. */
#define REQUEST_PARAMS (13 + PROF_SQL_PHASE_COLUMNS + 2)
#define SPAN_PARAMS    8

typedef struct {
    apr_dbd_prepared_t *stmt[PROF_STMT_COUNT];
    /* Multi-row inserts, prepared when first used: [0] requests, [1] spans;
     * [.][k] writes 2^k rows. */
    apr_dbd_prepared_t *rows[2][ROW_SIZES];
    apr_uint32_t gen;           /* this connection's statement names */
} conn_stmts_t;

int prof_store_running(void)
{
    return store_queue != NULL;
}

int prof_store_submit(prof_row_t *row)
{
    return prof_queue_push(store_queue, row);
}

void prof_store_count_lost(apr_uint32_t n)
{
    apr_atomic_add64(&rows_lost, n);
}

const prof_store_conf_t *prof_store_conf(void)
{
    return &store_conf;
}

const char *prof_store_server_name(void)
{
    return server_name;
}

void prof_store_schema_recheck(void)
{
    apr_atomic_set32(&schema_ok, 0);
}

/* ---- small apr_dbd helpers -------------------------------------------- */

static const char *dbd_err(prof_db_t *db, apr_pool_t *p, int ret,
                           const char *what)
{
    const char *msg = apr_dbd_error(db->dbd->driver, db->dbd->handle, ret);

    return apr_psprintf(p, "%s: %s", what, msg ? msg : "unknown error");
}

/* Run a query that may return rows; the first column of the first row
 * goes to *first (NULL if none). Every row is read, so that the statement
 * is finished before the next one. */
static int run_select(prof_db_t *db, apr_pool_t *p, const char *sql,
                      const char **first)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int ret;

    if (first) {
        *first = NULL;
    }
    ret = apr_dbd_select(db->dbd->driver, p, db->dbd->handle, &res, sql, 1);
    if (ret) {
        return ret;
    }
    while (apr_dbd_get_row(db->dbd->driver, p, res, &row, -1) == 0) {
        if (first && *first == NULL) {
            const char *v = apr_dbd_get_entry(db->dbd->driver, row, 0);
            *first = apr_pstrdup(p, v ? v : "");
        }
    }
    return 0;
}

static apr_int64_t to_i64(const char *s)
{
    return s ? apr_atoi64(s) : 0;
}

int prof_store_db_begin(prof_db_t *db)
{
    int nrows;

    return apr_dbd_query(db->dbd->driver, db->dbd->handle, &nrows,
                         db->dialect == PROF_SQL_SQLITE ? "BEGIN IMMEDIATE"
                                                        : "BEGIN");
}

int prof_store_db_end(prof_db_t *db, int commit)
{
    int nrows;

    return apr_dbd_query(db->dbd->driver, db->dbd->handle, &nrows,
                         commit ? "COMMIT" : "ROLLBACK");
}

/* ---- schema ------------------------------------------------------------ */

static apr_status_t ensure_schema(prof_db_t *db, apr_pool_t *p,
                                  const char **err)
{
    const apr_dbd_driver_t *drv = db->dbd->driver;
    const char *v = NULL, *sql;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int ret, version = 0, layout = PROF_SQL_HIST_LAYOUT, from;
    apr_status_t rv = APR_SUCCESS;

    if (apr_atomic_read32(&schema_ok)) {
        return APR_SUCCESS;
    }
    ret = prof_store_db_begin(db);
    if (ret) {
        *err = dbd_err(db, p, ret, "cannot start a transaction");
        return APR_EGENERAL;
    }
    /* Servers starting at once take turns; the loser finds it all done. */
    sql = prof_sql_migration_lock(p, db->dialect, db->prefix);
    if (sql && (ret = run_select(db, p, sql, NULL)) != 0) {
        *err = dbd_err(db, p, ret, "cannot lock the schema");
        rv = APR_EGENERAL;
        goto leave;
    }
    ret = run_select(db, p, prof_sql_schema_exists(p, db->dialect,
                                                   db->prefix), &v);
    if (ret) {
        *err = dbd_err(db, p, ret, "cannot read the schema");
        rv = APR_EGENERAL;
        goto leave;
    }
    if (v && strcmp(v, "0")) {
        ret = apr_dbd_select(drv, p, db->dbd->handle, &res,
                             prof_sql_schema_get(p, db->dialect, db->prefix),
                             1);
        if (ret) {
            *err = dbd_err(db, p, ret, "cannot read the schema version");
            rv = APR_EGENERAL;
            goto leave;
        }
        while (apr_dbd_get_row(drv, p, res, &row, -1) == 0) {
            version = (int)to_i64(apr_dbd_get_entry(drv, row, 0));
            layout = (int)to_i64(apr_dbd_get_entry(drv, row, 1));
        }
    }
    if (version > PROF_SQL_SCHEMA_VERSION) {
        *err = apr_psprintf(p, "the tables %s* have schema version %d, newer "
                            "than this mod_profiler's %d: not writing to "
                            "them", db->prefix, version,
                            PROF_SQL_SCHEMA_VERSION);
        rv = APR_EINVAL;
        goto leave;
    }
    if (layout != PROF_SQL_HIST_LAYOUT) {
        *err = apr_psprintf(p, "the tables %s* use histogram layout %d, this "
                            "mod_profiler knows only %d: not writing to them",
                            db->prefix, layout, PROF_SQL_HIST_LAYOUT);
        rv = APR_EINVAL;
        goto leave;
    }
    for (from = version; from < PROF_SQL_SCHEMA_VERSION; ++from) {
        const char **stmt = prof_sql_migration(p, db->dialect, db->prefix,
                                               from);
        int nrows;

        for (; stmt && *stmt; ++stmt) {
            ret = apr_dbd_query(drv, db->dbd->handle, &nrows, *stmt);
            if (ret) {
                *err = dbd_err(db, p, ret, apr_psprintf(
                                   p, "cannot migrate the schema from "
                                   "version %d", from));
                rv = APR_EGENERAL;
                goto leave;
            }
        }
    }
    if (version < PROF_SQL_SCHEMA_VERSION) {
        apr_dbd_prepared_t *set = NULL;
        apr_int64_t now = apr_time_now();
        const void *args[1];
        int nrows;

        args[0] = &now;
        sql = prof_sql_schema_set(p, db->dialect, db->prefix,
                                  PROF_SQL_SCHEMA_VERSION);
        ret = apr_dbd_prepare(drv, p, db->dbd->handle, sql, NULL, &set);
        if (!ret) {
            ret = apr_dbd_pbquery(drv, p, db->dbd->handle, &nrows, set, args);
        }
        if (ret) {
            *err = dbd_err(db, p, ret, "cannot record the schema version");
            rv = APR_EGENERAL;
            goto leave;
        }
    }

leave:
    ret = prof_store_db_end(db, rv == APR_SUCCESS);
    if (rv == APR_SUCCESS && ret) {
        *err = dbd_err(db, p, ret, "cannot commit the schema");
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        if (version < PROF_SQL_SCHEMA_VERSION) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, db->s, PROFLOGNO(00005)
                         "store: tables %s* %s at schema version %d",
                         db->prefix, version ? "migrated" : "created",
                         PROF_SQL_SCHEMA_VERSION);
        }
        apr_atomic_set32(&schema_ok, 1);
    }
    return rv;
}

/* ---- connections ------------------------------------------------------- */

/* A new connection gets our statements once; they stay in mod_dbd's
 * per-connection hash until the connection closes. */
static apr_status_t prepare_conn(prof_db_t *db, apr_pool_t *p,
                                 conn_stmts_t **out, const char **err)
{
    static volatile apr_uint32_t generation;
    apr_pool_t *cp = apr_hash_pool_get(db->dbd->prepared);
    conn_stmts_t *cs;
    apr_uint32_t gen;
    int i, ret;

    cs = apr_hash_get(db->dbd->prepared, CONN_KEY, APR_HASH_KEY_STRING);
    if (cs) {
        *out = cs;
        return APR_SUCCESS;
    }
    /* PostgreSQL names prepared statements on the server: a fresh name
     * each time, so that a half-prepared connection can try again. */
    gen = apr_atomic_inc32(&generation);
    cs = apr_pcalloc(cp, sizeof(*cs));
    cs->gen = gen;
    for (i = 0; i < PROF_STMT_COUNT; ++i) {
        const char *label = apr_psprintf(cp, "profiler_%u_%u_%d",
                                         (unsigned)getpid(), gen, i);
        const char *sql = prof_sql_stmt(cp, db->dialect, db->prefix, i);

        ret = apr_dbd_prepare(db->dbd->driver, cp, db->dbd->handle, sql,
                              label, &cs->stmt[i]);
        if (ret) {
            *err = dbd_err(db, p, ret, "cannot prepare the statements");
            return APR_EGENERAL;
        }
    }
    apr_hash_set(db->dbd->prepared, CONN_KEY, APR_HASH_KEY_STRING, cs);
    *out = cs;
    return APR_SUCCESS;
}

int prof_store_db_prepare(prof_db_t *db, apr_pool_t *p, const char *sql,
                          apr_dbd_prepared_t **st)
{
    apr_hash_t *cache = db->dbd->prepared;
    apr_pool_t *cp = apr_hash_pool_get(cache);
    const char *key;
    int ret;

    *st = NULL;
    if (db->dialect != PROF_SQL_SQLITE) {
        /* PostgreSQL: no label, no server-side statement to keep: apr_dbd
         * sends it with its parameters each time. */
        return apr_dbd_prepare(db->dbd->driver, p, db->dbd->handle, sql, NULL,
                               st);
    }
    /* apr-util's SQLite driver keeps every statement it prepares until the
     * connection closes, and mod_dbd keeps connections: prepared once per
     * connection and text, and reused. The texts are few: they differ only
     * by which filters are set. */
    key = apr_pstrcat(p, "mod_profiler:sql:", sql, NULL);
    *st = apr_hash_get(cache, key, APR_HASH_KEY_STRING);
    if (*st) {
        return 0;
    }
    ret = apr_dbd_prepare(db->dbd->driver, cp, db->dbd->handle, sql, NULL, st);
    if (ret == 0) {
        apr_hash_set(cache, apr_pstrdup(cp, key), APR_HASH_KEY_STRING, *st);
    }
    return ret;
}

apr_status_t prof_store_db_open(prof_db_t *db, server_rec *s, apr_pool_t *p,
                                const char **err)
{
    const char *const *setup;
    apr_status_t rv;
    int d, ret;

    memset(db, 0, sizeof(*db));
    db->s = s;
    if (dbd_open == NULL) {
        *err = "mod_dbd is not loaded";
        return APR_ENOTIMPL;
    }
    db->dbd = dbd_open(p, s);
    if (db->dbd == NULL) {
        *err = "mod_dbd has no connection to the database";
        return APR_EGENERAL;
    }
    d = prof_sql_dialect(apr_dbd_name(db->dbd->driver));
    if (d < 0) {
        *err = apr_psprintf(p, "DBDriver %s is not supported (use sqlite3 or "
                            "pgsql)", apr_dbd_name(db->dbd->driver));
        prof_store_db_close(db, s);
        return APR_ENOTIMPL;
    }
    db->dialect = (prof_sql_dialect_t)d;
    db->prefix = store_conf.prefix;
    /* Once per connection, before the schema: SQLite's journal mode cannot
     * change inside a transaction. */
    if (!apr_hash_get(db->dbd->prepared, SETUP_KEY, APR_HASH_KEY_STRING)) {
        for (setup = prof_sql_connection_setup(db->dialect); *setup;
             ++setup) {
            if ((ret = run_select(db, p, *setup, NULL)) != 0) {
                *err = dbd_err(db, p, ret, *setup);
                prof_store_db_close(db, s);
                return APR_EGENERAL;
            }
        }
        apr_hash_set(db->dbd->prepared, SETUP_KEY, APR_HASH_KEY_STRING,
                     SETUP_KEY);
    }
    rv = ensure_schema(db, p, err);
    if (rv != APR_SUCCESS) {
        prof_store_db_close(db, s);
    }
    return rv;
}

void prof_store_db_close(prof_db_t *db, server_rec *s)
{
    if (db->dbd) {
        dbd_close(s, db->dbd);
        db->dbd = NULL;
    }
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
    apr_uint32_t seq;           /* the last request id's low half */
    apr_uint64_t written;       /* rows committed */
    apr_uint64_t failed;        /* rows lost to database errors */
    int named;                  /* the thread has its name */
    int down;                   /* in an outage */
    apr_time_t down_since;
    apr_time_t retry_at;
    apr_interval_time_t backoff;
    apr_uint64_t lost_in_outage;
    apr_uint64_t dropped_at_down; /* queue drops when the outage began */
    request_buf_t requests;     /* the multi-row insert being filled */
    span_buf_t spans;
} writer_t;

static apr_int64_t clamp64(apr_uint64_t v)
{
    return v > (apr_uint64_t)APR_INT64_MAX ? APR_INT64_MAX : (apr_int64_t)v;
}

static int pbquery(prof_db_t *db, apr_pool_t *p, apr_dbd_prepared_t *st,
                   const void **args)
{
    int nrows;

    return apr_dbd_pbquery(db->dbd->driver, p, db->dbd->handle, &nrows, st,
                           args);
}

static int register_writer(writer_t *w, prof_db_t *db, conn_stmts_t *cs,
                           apr_pool_t *p)
{
    apr_int64_t now = apr_time_now();
    int pid = (int)getpid(), ret;
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    const void *args[5];

    args[0] = server_name;
    args[1] = &pid;
    args[2] = &w->nonce;
    args[3] = &now;
    args[4] = &now;
    if ((ret = pbquery(db, p, cs->stmt[PROF_STMT_WRITER_INSERT], args))) {
        return ret;
    }
    args[0] = &w->nonce;
    args[1] = server_name;
    args[2] = &pid;
    ret = apr_dbd_pbselect(db->dbd->driver, p, db->dbd->handle, &res,
                           cs->stmt[PROF_STMT_WRITER_SELECT], 1, args);
    if (ret) {
        return ret;
    }
    while (apr_dbd_get_row(db->dbd->driver, p, res, &row, -1) == 0) {
        w->writer_id = to_i64(apr_dbd_get_entry(db->dbd->driver, row, 0));
    }
    w->seq = 0;
    return w->writer_id > 0 ? 0 : -1;
}

/* The statement that inserts 2^k rows of requests (span 0) or spans
 * (span 1), prepared on this connection the first time it is needed. */
static int rows_stmt(prof_db_t *db, conn_stmts_t *cs, int span, int k,
                     apr_dbd_prepared_t **st)
{
    apr_pool_t *cp;
    const char *label, *sql;
    int ret;

    if (cs->rows[span][k]) {
        *st = cs->rows[span][k];
        return 0;
    }
    cp = apr_hash_pool_get(db->dbd->prepared);
    label = apr_psprintf(cp, "profiler_%u_%u_%s%d", (unsigned)getpid(),
                         cs->gen, span ? "s" : "r", 1 << k);
    sql = prof_sql_insert_rows(cp, db->dialect, db->prefix,
                               span ? PROF_STMT_SPAN_INSERT
                                    : PROF_STMT_REQUEST_INSERT, 1 << k);
    ret = apr_dbd_prepare(db->dbd->driver, cp, db->dbd->handle, sql, label,
                          &cs->rows[span][k]);
    *st = ret ? NULL : cs->rows[span][k];
    return ret;
}

/* Insert nrows rows (at most PROF_SQL_ROWS_MAX) whose parameters are in
 * args, nparams per row, row after row: in as few statements as the sizes
 * allow (21 rows: 16 + 4 + 1). */
static int insert_rows(prof_db_t *db, conn_stmts_t *cs, apr_pool_t *p,
                       int span, const void **args, int nparams, int nrows)
{
    apr_dbd_prepared_t *st;
    int k, ret;

    for (k = ROW_SIZES - 1; nrows > 0; --k) {
        if (nrows < (1 << k)) {
            continue;
        }
        if ((ret = rows_stmt(db, cs, span, k, &st)) != 0) {
            return ret;
        }
        if ((ret = pbquery(db, p, st, args)) != 0) {
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

/* The rows of a batch and their spans, PROF_SQL_ROWS_MAX at a time, in
 * the writer's own buffers (some kilobytes: kept off the thread's stack). */
static int insert_requests(writer_t *w, prof_db_t *db, conn_stmts_t *cs,
                           apr_pool_t *p, prof_row_t **rows, apr_size_t n)
{
    request_buf_t *rb = &w->requests;
    span_buf_t *sb = &w->spans;
    apr_size_t i;
    apr_uint32_t j;
    int ret;

    rb->n = sb->n = 0;
    for (i = 0; i < n; ++i) {
        apr_int64_t id = (w->writer_id << 32) | (apr_int64_t)(++w->seq);

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
static int merge_rollup(prof_db_t *db, conn_stmts_t *cs, apr_pool_t *p,
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
    if ((ret = pbquery(db, p, cs->stmt[ensure], key))) {
        return ret;
    }
    ret = apr_dbd_pbselect(drv, p, db->dbd->handle, &res, cs->stmt[sel], 1,
                           key);
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
    return pbquery(db, p, cs->stmt[update], args);
}

static apr_status_t write_rows(writer_t *w, prof_row_t **rows, apr_size_t n,
                               const char **err)
{
    apr_pool_t *p = w->pool;
    apr_array_header_t *entries;
    prof_rollup_t *agg;
    conn_stmts_t *cs;
    prof_db_t db;
    apr_status_t rv;
    apr_size_t i;
    int ret = 0, k, hourly;
    apr_int64_t registered_before = w->writer_id;
    apr_uint32_t seq_before = w->seq;

    rv = prof_store_db_open(&db, w->s, p, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if ((rv = prepare_conn(&db, p, &cs, err)) != APR_SUCCESS) {
        prof_store_db_close(&db, w->s);
        return rv;
    }
    ret = prof_store_db_begin(&db);
    if (ret) {
        *err = dbd_err(&db, p, ret, "cannot start a transaction");
        prof_store_db_close(&db, w->s);
        return APR_EGENERAL;
    }
    /* A new id range when this writer is new to the database, or its
     * 2^32 sequence numbers are used up. */
    if (w->writer_id == 0 || w->seq > 0xFFFFFFFFu - n) {
        if ((ret = register_writer(w, &db, cs, p)) != 0) {
            *err = ret > 0 ? dbd_err(&db, p, ret, "cannot register the writer")
                           : "cannot read the writer's id back";
            goto leave;
        }
    }
    if ((ret = insert_requests(w, &db, cs, p, rows, n)) != 0) {
        *err = dbd_err(&db, p, ret, "cannot insert requests");
        goto leave;
    }
    /* Per minute, then per hour: summaries of long ranges read the hours. */
    for (hourly = 0; hourly < 2; ++hourly) {
        agg = hourly ? prof_rollup_create_period(p, APR_INT64_C(3600000000))
                     : prof_rollup_create(p);
        for (i = 0; i < n; ++i) {
            prof_rollup_add(agg, rows[i]);
        }
        entries = prof_rollup_sorted(agg);
        for (k = 0; k < entries->nelts; ++k) {
            *err = NULL;
            ret = merge_rollup(&db, cs, p,
                               APR_ARRAY_IDX(entries, k,
                                             prof_rollup_entry_t *),
                               hourly, err);
            if (ret) {
                if (*err == NULL) {
                    *err = dbd_err(&db, p, ret, "cannot update a rollup");
                }
                goto leave;
            }
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
        if ((ret = pbquery(&db, p, cs->stmt[PROF_STMT_WRITER_UPDATE], args))) {
            *err = dbd_err(&db, p, ret, "cannot update the writer's counters");
            goto leave;
        }
    }

leave:
    k = prof_store_db_end(&db, !ret);
    if (!ret && k) {
        ret = k;
        *err = dbd_err(&db, p, k, "cannot commit");
    }
    prof_store_db_close(&db, w->s);
    if (ret) {
        /* Nothing of it is in the database: neither the registration nor
         * the ids. */
        if (registered_before == 0 || w->writer_id != registered_before) {
            w->writer_id = registered_before;
            w->seq = seq_before;
        }
        return APR_EGENERAL;
    }
    w->written += n;
    return APR_SUCCESS;
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
    if (!w->down || now >= w->retry_at) {
        rv = write_rows(w, rows, n, &err);
        apr_pool_clear(w->pool);
        /* One quick retry: a locked database or a connection that went
         * stale since the last batch is usually fine a moment later. */
        if (rv != APR_SUCCESS && !w->down && !prof_queue_closed(store_queue)) {
            prof_store_schema_recheck();
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
        if (w->down) {
            apr_uint64_t dropped = prof_queue_dropped(store_queue)
                                   - w->dropped_at_down;
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, w->s, PROFLOGNO(00007)
                         "store: writing again after %" APR_TIME_T_FMT " s; "
                         "%" APR_UINT64_T_FMT " rows were lost to the outage "
                         "and %" APR_UINT64_T_FMT " dropped by the full queue",
                         apr_time_sec(now - w->down_since), w->lost_in_outage,
                         dropped);
            w->down = 0;
        }
        return APR_SUCCESS;
    }
    w->failed += n;
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
        prof_store_schema_recheck();
    }
    w->lost_in_outage += n;
    return rv;
}

/* ---- process setup ----------------------------------------------------- */

/* The DBDriver of the main server, from the configuration tree (mod_dbd
 * keeps its settings to itself): NULL when there is none. Sections other
 * than <VirtualHost> may hold it too (<IfModule>, <IfDefine>). */
static const char *find_dbdriver(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (!strcasecmp(d->directive, "DBDriver")) {
            return d->args;
        }
        if (d->first_child && strcasecmp(d->directive, "<VirtualHost")) {
            const char *v = find_dbdriver(d->first_child);
            if (v) {
                return v;
            }
        }
    }
    return NULL;
}

static int store_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    const char *driver;
    server_rec *vs;
    char host[APRMAXHOSTLEN + 1];
    int wanted = 0, report;

    (void)plog;
    store_active = 0;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    for (vs = s; vs; vs = vs->next) {
        wanted |= prof_config_srv(vs)->store_maybe_on;
    }
    /* The report reads the database even where nothing is stored (a
     * reporting server in front of a fleet's PostgreSQL database). */
    report = prof_report_post_config(ptemp, s) > 0;
    if (!wanted && !report) {
        return OK;
    }
    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    if (dbd_open == NULL || dbd_close == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PROFLOGNO(00008)
                     "%s needs mod_dbd: LoadModule dbd_module and set "
                     "DBDriver and DBDParams in the main server",
                     wanted ? "ProfilerStore On" : "The profiler report");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    driver = find_dbdriver(ap_conftree);
    if (driver == NULL || prof_sql_dialect(driver) < 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PROFLOGNO(00009)
                     "%s needs DBDriver sqlite3 or DBDriver pgsql (with "
                     "DBDParams) in the main server; %s",
                     wanted ? "ProfilerStore On" : "The profiler report",
                     driver ? apr_psprintf(ptemp, "'%s' is not supported",
                                           driver)
                            : "there is none");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    prof_config_store_get(s, &store_conf);
    if (store_conf.rollup_retention_us != 0
        && (store_conf.retention_us == 0
            || store_conf.rollup_retention_us < store_conf.retention_us)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PROFLOGNO(00010)
                     "ProfilerRollupRetention must keep rollups at least as "
                     "long as ProfilerRetention keeps requests");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    server_name = store_conf.server_name;
    if (server_name == NULL) {
        server_name = apr_gethostname(host, sizeof(host), pconf) == APR_SUCCESS
                      ? apr_pstrdup(pconf, host) : "localhost";
    }
    if (!wanted) {
        /* Reading only: no writer, no retention task in this server. */
        return OK;
    }
    if (prof_retention_post_config(pconf, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    store_active = 1;
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00011)
                 "store: %s database, tables %s*, server name %s",
                 driver, store_conf.prefix, server_name);
    return OK;
}

static void store_child_init(apr_pool_t *pchild, server_rec *s)
{
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

        if (a && apr_allocator_mutex_get(a) == NULL
            && apr_thread_mutex_create(&m, APR_THREAD_MUTEX_DEFAULT,
                                       pchild) == APR_SUCCESS) {
            apr_allocator_mutex_set(a, m);
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
        rv = prof_queue_create(&q, (apr_size_t)store_conf.queue_size, pchild);
    }
    if (rv == APR_SUCCESS) {
        prof_queue_set_batch_at(q, (apr_size_t)store_conf.batch_rows);
        /* The writer's pre-cleanup on pchild stops it, and so writes out
         * the queue, before pchild's subpools go: mod_dbd's connections
         * live in one of those. */
        rv = prof_writer_start(&wr, q, (apr_size_t)store_conf.batch_rows,
                               store_conf.batch_interval_us, write_batch, w,
                               pchild);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00012)
                     "store: cannot start the writer; requests of this "
                     "process are not stored");
        return;
    }
    store_queue = q;
}

void prof_store_register_hooks(apr_pool_t *p)
{
    /* Before mod_watchdog's post_config, which starts the watchdogs that
     * have callbacks (the retention task registers one). */
    static const char *const succ[] = { "mod_watchdog.c", NULL };
    /* After mod_dbd's child_init, which sets up its connection pool. */
    static const char *const pred[] = { "mod_dbd.c", NULL };

    (void)p;
    ap_hook_post_config(store_post_config, NULL, succ, APR_HOOK_MIDDLE);
    ap_hook_child_init(store_child_init, pred, NULL, APR_HOOK_MIDDLE);
}
