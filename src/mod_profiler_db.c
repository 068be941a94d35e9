/* Licensed under the Apache License, Version 2.0. */

#include <string.h>
#include <unistd.h>

#include "apr_atomic.h"
#include "apr_dbd.h"
#include "apr_hash.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_dbd.h"

#include "prof_sql.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_db.h"

/* Written in post_config (in the parent, before any child exists); only
 * read afterwards, so they need no lock. */
static prof_store_conf_t store_conf;
static APR_OPTIONAL_FN_TYPE(ap_dbd_open) *dbd_open;
static APR_OPTIONAL_FN_TYPE(ap_dbd_close) *dbd_close;

/* Shared by the writer, the retention task and report threads. */
static volatile apr_uint32_t schema_ok;

/* Where each connection keeps our prepared statements: in mod_dbd's
 * per-connection hash of them, so they live and die with the connection. */
#define CONN_KEY "mod_profiler:statements"
#define SETUP_KEY "mod_profiler:setup"

/* Multi-row inserts come in sizes 1, 2, 4 ... PROF_SQL_ROWS_MAX rows. */
#define ROW_SIZES 6
#if (1 << (ROW_SIZES - 1)) != PROF_SQL_ROWS_MAX
#error ROW_SIZES does not match PROF_SQL_ROWS_MAX
#endif

struct prof_db_stmts_t {
    apr_dbd_prepared_t *stmt[PROF_STMT_COUNT];
    /* Multi-row inserts, prepared when first used: [0] requests, [1] spans;
     * [.][k] writes 2^k rows. */
    apr_dbd_prepared_t *rows[2][ROW_SIZES];
    apr_uint32_t gen;           /* this connection's statement names */
};

/* ---- configuration ----------------------------------------------------- */

/* The first argument of a directive as httpd would read it: quotes
 * removed ("DBDriver \"sqlite3\""). */
static const char *first_arg(apr_pool_t *p, const char *args)
{
    const char *a = args ? args : "";

    return ap_getword_conf(p, &a);
}

/* The DBDriver of the main server, from the configuration tree (mod_dbd
 * keeps its settings to itself). Sections other than <VirtualHost> may
 * hold it too (<IfModule>, <IfDefine>); the last one counts, as in
 * mod_dbd. */
static const ap_directive_t *find_in(const ap_directive_t *d,
                                     const char *name, int vhosts)
{
    const ap_directive_t *found = NULL, *v;

    for (; d; d = d->next) {
        if (!strcasecmp(d->directive, name)) {
            found = d;
        }
        else if (d->first_child
                 && (vhosts || strcasecmp(d->directive, "<VirtualHost"))
                 && (v = find_in(d->first_child, name, vhosts)) != NULL) {
            found = v;
        }
    }
    return found;
}

static const ap_directive_t *find_directive(const ap_directive_t *d,
                                            const char *name)
{
    return find_in(d, name, 0);
}

int prof_db_any_driver(void)
{
    return find_in(ap_conftree, "DBDriver", 1) != NULL;
}

const char *prof_db_driver(apr_pool_t *p)
{
    const ap_directive_t *d = find_directive(ap_conftree, "DBDriver");

    return d ? first_arg(p, d->args) : NULL;
}

const char *prof_db_params(apr_pool_t *p)
{
    const ap_directive_t *d = find_directive(ap_conftree, "DBDParams");

    return d ? first_arg(p, d->args) : NULL;
}

int prof_db_check_config(server_rec *s, apr_pool_t *ptemp, const char *who)
{
    const char *driver;

    if (APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open) == NULL
        || APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close) == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PROFLOGNO(00008)
                     "%s needs mod_dbd: LoadModule dbd_module and set "
                     "DBDriver and DBDParams in the main server", who);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    driver = prof_db_driver(ptemp);
    if (driver == NULL || prof_sql_dialect(driver) < 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PROFLOGNO(00009)
                     "%s needs DBDriver sqlite3 or DBDriver pgsql (with "
                     "DBDParams) in the main server; %s", who,
                     driver ? apr_psprintf(ptemp, "DBDriver '%s' is not "
                                           "supported", driver)
                            : "there is no DBDriver");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void prof_db_setup(server_rec *s)
{
    dbd_open = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_open);
    dbd_close = APR_RETRIEVE_OPTIONAL_FN(ap_dbd_close);
    prof_config_store_get(s, &store_conf);
}

const prof_store_conf_t *prof_db_conf(void)
{
    return &store_conf;
}

/* ---- small apr_dbd helpers -------------------------------------------- */

const char *prof_db_error(prof_db_t *db, apr_pool_t *p, int ret,
                          const char *what)
{
    const char *msg = apr_dbd_error(db->dbd->driver, db->dbd->handle, ret);

    return apr_psprintf(p, "%s: %s", what, msg ? msg : "unknown error");
}

int prof_db_exec(prof_db_t *db, const char *sql, int *nrows)
{
    int n = 0, ret;

    ret = apr_dbd_query(db->dbd->driver, db->dbd->handle, &n, sql);
    if (nrows) {
        *nrows = n;
    }
    return ret;
}

/* Read every row of res; the first column of the first goes to *first. */
static void first_entry(prof_db_t *db, apr_pool_t *p, apr_dbd_results_t *res,
                        const char **first)
{
    apr_dbd_row_t *row = NULL;
    int seen = 0;

    while (apr_dbd_get_row(db->dbd->driver, p, res, &row, -1) == 0) {
        if (first && !seen) {
            const char *v = apr_dbd_get_entry(db->dbd->driver, row, 0);
            *first = v ? apr_pstrdup(p, v) : NULL;
        }
        seen = 1;
    }
}

int prof_db_select_first(prof_db_t *db, apr_pool_t *p, const char *sql,
                         const char **first)
{
    apr_dbd_results_t *res = NULL;
    int ret;

    if (first) {
        *first = NULL;
    }
    ret = apr_dbd_select(db->dbd->driver, p, db->dbd->handle, &res, sql, 1);
    if (ret == 0) {
        first_entry(db, p, res, first);
    }
    return ret;
}

int prof_db_pselect_first(prof_db_t *db, apr_pool_t *p,
                          apr_dbd_prepared_t *st, const void **args,
                          const char **first)
{
    apr_dbd_results_t *res = NULL;
    int ret;

    if (first) {
        *first = NULL;
    }
    ret = apr_dbd_pbselect(db->dbd->driver, p, db->dbd->handle, &res, st, 1,
                           args);
    if (ret == 0) {
        first_entry(db, p, res, first);
    }
    return ret;
}

int prof_db_pquery(prof_db_t *db, apr_pool_t *p, apr_dbd_prepared_t *st,
                   const void **args, int *nrows)
{
    int n = 0, ret;

    ret = apr_dbd_pbquery(db->dbd->driver, p, db->dbd->handle, &n, st, args);
    if (nrows) {
        *nrows = n;
    }
    return ret;
}

int prof_db_run(prof_db_t *db, apr_pool_t *p, const char *sql,
                const void **args, int *nrows)
{
    apr_dbd_prepared_t *st = NULL;
    int ret;

    if (nrows) {
        *nrows = 0;
    }
    ret = prof_db_prepare(db, p, sql, &st);
    return ret ? ret : prof_db_pquery(db, p, st, args, nrows);
}

int prof_db_begin(prof_db_t *db)
{
    return prof_db_exec(db, prof_sql_begin(db->dialect), NULL);
}

int prof_db_end(prof_db_t *db, int commit)
{
    return prof_db_exec(db, prof_sql_end(commit), NULL);
}

void prof_db_schema_recheck(void)
{
    apr_atomic_set32(&schema_ok, 0);
}

static apr_int64_t to_i64(const char *s)
{
    return s ? apr_atoi64(s) : 0;
}

/* ---- schema ------------------------------------------------------------ */

static apr_status_t schema_ensure_once(prof_db_t *db, apr_pool_t *p,
                                       const char **err, int *failed_ret)
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
    ret = prof_db_begin(db);
    if (ret) {
        *err = prof_db_error(db, p, ret, "cannot start a transaction");
        return APR_EGENERAL;
    }
    /* Servers starting at once take turns; the loser finds it all done. */
    sql = prof_sql_migration_lock(p, db->dialect, db->prefix);
    if (sql && (ret = prof_db_select_first(db, p, sql, NULL)) != 0) {
        *err = prof_db_error(db, p, ret, "cannot lock the schema");
        rv = APR_EGENERAL;
        goto leave;
    }
    ret = prof_db_select_first(db, p, prof_sql_schema_exists(p, db->dialect,
                                                             db->prefix),
                               &v);
    if (ret) {
        *err = prof_db_error(db, p, ret, "cannot read the schema");
        rv = APR_EGENERAL;
        goto leave;
    }
    if (v && strcmp(v, "0")) {
        ret = apr_dbd_select(drv, p, db->dbd->handle, &res,
                             prof_sql_schema_get(p, db->dialect, db->prefix),
                             1);
        if (ret) {
            *err = prof_db_error(db, p, ret, "cannot read the schema version");
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

        for (; stmt && *stmt; ++stmt) {
            ret = prof_db_exec(db, *stmt, NULL);
            if (ret) {
                *err = prof_db_error(db, p, ret, apr_psprintf(
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
            *err = prof_db_error(db, p, ret,
                                 "cannot record the schema version");
            rv = APR_EGENERAL;
            goto leave;
        }
    }

leave:
    *failed_ret = ret;
    ret = prof_db_end(db, rv == APR_SUCCESS);
    if (rv == APR_SUCCESS && ret) {
        *failed_ret = ret;
        *err = prof_db_error(db, p, ret, "cannot commit the schema");
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

/* SQLite's answers that another connection's moment explains: the schema
 * changed under the statement (SQLITE_SCHEMA: another process created the
 * tables just now), or the database is busy or locked. */
#define SQLITE_TRANSIENT_RET(r) ((r) == 17 || (r) == 5 || (r) == 6)

/* Several processes start writing at once, each checking the schema: with
 * SQLite one of them may find it changed under its statement while another
 * creates the tables (seen under load: "database schema has changed").
 * That is tried again a few times (this runs on the writer's or the
 * report's thread, and only until the schema is known good), any other
 * failure at once reported. */
static apr_status_t schema_ensure(prof_db_t *db, apr_pool_t *p,
                                  const char **err)
{
    apr_status_t rv;
    int tries = 0, ret = 0;

    for (;;) {
        rv = schema_ensure_once(db, p, err, &ret);
        if (rv == APR_SUCCESS || db->dialect != PROF_SQL_SQLITE
            || !SQLITE_TRANSIENT_RET(ret) || ++tries >= 5) {
            return rv;
        }
        apr_sleep(apr_time_from_msec(20 * tries));
    }
}

/* ---- prepared statements ----------------------------------------------- */

/* A new connection gets the writer's statements once; they stay in
 * mod_dbd's per-connection hash until the connection closes. */
apr_status_t prof_db_statements(prof_db_t *db, apr_pool_t *p,
                                prof_db_stmts_t **out, const char **err)
{
    static volatile apr_uint32_t generation;
    apr_pool_t *cp = apr_hash_pool_get(db->dbd->prepared);
    prof_db_stmts_t *cs;
    int i, ret;

    cs = apr_hash_get(db->dbd->prepared, CONN_KEY, APR_HASH_KEY_STRING);
    if (cs) {
        *out = cs;
        return APR_SUCCESS;
    }
    /* PostgreSQL names prepared statements on the server: a fresh name
     * each time, so that a half-prepared connection can try again. */
    cs = apr_pcalloc(cp, sizeof(*cs));
    cs->gen = apr_atomic_inc32(&generation);
    for (i = 0; i < PROF_STMT_COUNT; ++i) {
        const char *label = apr_psprintf(cp, "profiler_%u_%u_%d",
                                         (unsigned)getpid(), cs->gen, i);
        const char *sql = prof_sql_stmt(cp, db->dialect, db->prefix, i);

        ret = apr_dbd_prepare(db->dbd->driver, cp, db->dbd->handle, sql,
                              label, &cs->stmt[i]);
        if (ret) {
            *err = prof_db_error(db, p, ret, "cannot prepare the statements");
            return APR_EGENERAL;
        }
    }
    apr_hash_set(db->dbd->prepared, CONN_KEY, APR_HASH_KEY_STRING, cs);
    *out = cs;
    return APR_SUCCESS;
}

apr_dbd_prepared_t *prof_db_stmt(prof_db_stmts_t *stmts,
                                 prof_sql_stmt_t which)
{
    return stmts->stmt[which];
}

int prof_db_insert_stmt(prof_db_t *db, prof_db_stmts_t *cs,
                        prof_sql_stmt_t which, int nrows,
                        apr_dbd_prepared_t **st)
{
    int span = which == PROF_STMT_SPAN_INSERT, k = 0, ret;
    apr_pool_t *cp;
    const char *label, *sql;

    while (k < ROW_SIZES - 1 && (1 << k) < nrows) {
        ++k;
    }
    if ((1 << k) != nrows) {
        return -1;
    }
    if (cs->rows[span][k]) {
        *st = cs->rows[span][k];
        return 0;
    }
    cp = apr_hash_pool_get(db->dbd->prepared);
    label = apr_psprintf(cp, "profiler_%u_%u_%s%d", (unsigned)getpid(),
                         cs->gen, span ? "s" : "r", nrows);
    sql = prof_sql_insert_rows(cp, db->dialect, db->prefix, which, nrows);
    if (sql == NULL) {
        return -1;
    }
    ret = apr_dbd_prepare(db->dbd->driver, cp, db->dbd->handle, sql, label,
                          &cs->rows[span][k]);
    *st = ret ? NULL : cs->rows[span][k];
    return ret;
}

int prof_db_prepare(prof_db_t *db, apr_pool_t *p, const char *sql,
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

/* ---- connections ------------------------------------------------------- */

static apr_status_t connection_ready(prof_db_t *db, server_rec *s,
                                     apr_pool_t *p, const char **err);

apr_status_t prof_db_open(prof_db_t *db, server_rec *s, apr_pool_t *p,
                          const char **err)
{
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
    return connection_ready(db, s, p, err);
}

/* The store's checks and setup on a connection just taken. */
static apr_status_t connection_ready(prof_db_t *db, server_rec *s,
                                     apr_pool_t *p, const char **err)
{
    const char *const *setup;
    apr_status_t rv;
    int d, ret;

    d = prof_sql_dialect(apr_dbd_name(db->dbd->driver));
    if (d < 0) {
        *err = apr_psprintf(p, "DBDriver %s is not supported (use sqlite3 or "
                            "pgsql)", apr_dbd_name(db->dbd->driver));
        prof_db_close(db, s);
        return APR_ENOTIMPL;
    }
    db->dialect = (prof_sql_dialect_t)d;
    db->prefix = store_conf.prefix;
    /* Once per connection, before the schema: SQLite's journal mode cannot
     * change inside a transaction. */
    if (!apr_hash_get(db->dbd->prepared, SETUP_KEY, APR_HASH_KEY_STRING)) {
        for (setup = prof_sql_connection_setup(db->dialect); *setup;
             ++setup) {
            if ((ret = prof_db_select_first(db, p, *setup, NULL)) != 0) {
                *err = prof_db_error(db, p, ret, *setup);
                prof_db_close(db, s);
                return APR_EGENERAL;
            }
        }
        apr_hash_set(db->dbd->prepared, SETUP_KEY, APR_HASH_KEY_STRING,
                     SETUP_KEY);
    }
    rv = schema_ensure(db, p, err);
    if (rv != APR_SUCCESS) {
        prof_db_close(db, s);
    }
    return rv;
}

void prof_db_close(prof_db_t *db, server_rec *s)
{
    if (db->dbd && db->direct) {
        apr_dbd_close(db->dbd->driver, db->dbd->handle);
        db->dbd = NULL;
    }
    else if (db->dbd) {
        dbd_close(s, db->dbd);
        db->dbd = NULL;
    }
}

apr_status_t prof_db_open_direct(prof_db_t *db, server_rec *s, apr_pool_t *p,
                                 const char *name, const char *params,
                                 const char **err)
{
    const apr_dbd_driver_t *driver = NULL;
    const char *why = NULL;
    apr_dbd_t *handle = NULL;
    apr_status_t rv;

    memset(db, 0, sizeof(*db));
    db->s = s;
    if (name == NULL) {
        *err = "no DBDriver";
        return APR_EGENERAL;
    }
    rv = apr_dbd_get_driver(p, name, &driver);
    if (rv != APR_SUCCESS) {
        *err = apr_psprintf(p, "cannot load the %s driver of apr_dbd", name);
        return rv;
    }
    rv = apr_dbd_open_ex(driver, p, params ? params : "", &handle, &why);
    if (rv != APR_SUCCESS || handle == NULL) {
        *err = apr_psprintf(p, "cannot connect: %s", why ? why : "unknown");
        return rv != APR_SUCCESS ? rv : APR_EGENERAL;
    }
    db->dbd = apr_pcalloc(p, sizeof(*db->dbd));
    db->dbd->driver = driver;
    db->dbd->handle = handle;
    db->dbd->prepared = apr_hash_make(p);
    db->direct = 1;
    return connection_ready(db, s, p, err);
}
