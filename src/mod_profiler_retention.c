/* Licensed under the Apache License, Version 2.0. */

#include "apr_dbd.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_watchdog.h"

#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_store.h"
#include "mod_profiler_retention.h"


#define WATCHDOG_NAME "profiler-retention"

/* Only the watchdog thread of the one child that runs the singleton
 * touches this. */
typedef struct {
    server_rec *s;
    int down;                   /* the last run could not reach the store */
} retention_t;

/* Run a parameterized statement; *nrows gets the rows it changed. */
static int run(prof_db_t *db, apr_pool_t *p, const char *sql,
               const void **args, int *nrows)
{
    apr_dbd_prepared_t *st = NULL;
    int ret;

    *nrows = 0;
    ret = prof_store_db_prepare(db, p, sql, &st);
    if (ret == 0) {
        ret = apr_dbd_pbquery(db->dbd->driver, p, db->dbd->handle, nrows, st,
                              args);
    }
    return ret;
}

/* Delete up to `limit` of the oldest requests older than cutoff (or any
 * age, with cutoff APR_INT64_MAX), spans first, in one transaction. */
static int delete_oldest(prof_db_t *db, apr_pool_t *p, apr_int64_t cutoff,
                         int limit, int *deleted)
{
    const char *pre = db->prefix;
    const char *pick = apr_psprintf(p, "SELECT id FROM %srequests WHERE "
                                    "start_us < %%lld ORDER BY start_us "
                                    "LIMIT %%d", pre);
    const void *args[2];
    int ret, end, nspans;

    args[0] = &cutoff;
    args[1] = &limit;
    *deleted = 0;
    ret = prof_store_db_begin(db);
    if (ret) {
        return ret;
    }
    ret = run(db, p, apr_psprintf(p, "DELETE FROM %sspans WHERE request_id "
                                  "IN (%s)", pre, pick), args, &nspans);
    if (!ret) {
        ret = run(db, p, apr_psprintf(p, "DELETE FROM %srequests WHERE id "
                                      "IN (%s)", pre, pick), args, deleted);
    }
    if (ret) {
        *deleted = 0;
    }
    end = prof_store_db_end(db, !ret);
    return ret ? ret : end;
}

static int count_requests(prof_db_t *db, apr_pool_t *p, apr_int64_t *n)
{
    apr_dbd_results_t *res = NULL;
    apr_dbd_row_t *row = NULL;
    int ret;

    *n = 0;
    ret = apr_dbd_select(db->dbd->driver, p, db->dbd->handle, &res,
                         apr_psprintf(p, "SELECT count(*) FROM %srequests",
                                      db->prefix), 1);
    if (ret) {
        return ret;
    }
    while (apr_dbd_get_row(db->dbd->driver, p, res, &row, -1) == 0) {
        const char *v = apr_dbd_get_entry(db->dbd->driver, row, 0);
        *n = v ? apr_atoi64(v) : 0;
    }
    return 0;
}

static apr_status_t prune(retention_t *rt, apr_pool_t *p, const char **err)
{
    const prof_store_conf_t *conf = prof_store_conf();
    apr_int64_t now = apr_time_now(), total = 0, rows_del = 0, roll_del = 0;
    int ret = 0, n, batches = 0;
    prof_db_t db;
    apr_status_t rv;

    rv = prof_store_db_open(&db, rt->s, p, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* By age. */
    if (conf->retention_us > 0) {
        do {
            ret = delete_oldest(&db, p, now - conf->retention_us,
                                PROF_RETENTION_BATCH, &n);
            rows_del += n;
        } while (!ret && n == PROF_RETENTION_BATCH
                 && ++batches < PROF_RETENTION_MAX_BATCHES);
    }
    /* By count: the oldest beyond the maximum. */
    if (!ret && conf->retention_rows > 0
        && !(ret = count_requests(&db, p, &total))
        && total > conf->retention_rows) {
        apr_int64_t excess = total - conf->retention_rows;

        while (!ret && excess > 0 && batches++ < PROF_RETENTION_MAX_BATCHES) {
            int limit = excess > PROF_RETENTION_BATCH ? PROF_RETENTION_BATCH
                                                      : (int)excess;

            ret = delete_oldest(&db, p, APR_INT64_MAX, limit, &n);
            rows_del += n;
            excess = n ? excess - n : 0;
        }
    }
    /* Rollups, a day of minutes per statement: a day holds at most
     * 1440 rows per key and server. */
    if (!ret && conf->rollup_retention_us > 0) {
        apr_int64_t cutoff = now - conf->rollup_retention_us;
        apr_int64_t upto = cutoff - apr_time_from_sec(400 * 86400);
        const void *args[1];

        args[0] = &upto;
        while (!ret && upto < cutoff
               && batches++ < PROF_RETENTION_MAX_BATCHES) {
            upto += apr_time_from_sec(86400);
            if (upto > cutoff) {
                upto = cutoff;
            }
            ret = run(&db, p, apr_psprintf(p, "DELETE FROM %srollups WHERE "
                                           "minute_us < %%lld", db.prefix),
                      args, &n);
            roll_del += n;
        }
        /* Anything older than that was left by a longer setting before. */
        if (!ret) {
            args[0] = &cutoff;
            ret = run(&db, p, apr_psprintf(p, "DELETE FROM %srollups WHERE "
                                           "minute_us < %%lld", db.prefix),
                      args, &n);
            roll_del += n;
        }
        /* The hourly rollups: 60 times fewer rows, at once. An hour goes
         * when all of it is past the cutoff. */
        if (!ret) {
            apr_int64_t hour_cutoff = cutoff - apr_time_from_sec(3600);

            args[0] = &hour_cutoff;
            ret = run(&db, p, apr_psprintf(p, "DELETE FROM %srollups_hour "
                                           "WHERE hour_us < %%lld",
                                           db.prefix), args, &n);
            roll_del += n;
        }
    }
    if (ret) {
        const char *msg = apr_dbd_error(db.dbd->driver, db.dbd->handle, ret);
        *err = apr_psprintf(p, "deleting old rows: %s", msg ? msg : "error");
        rv = APR_EGENERAL;
    }
    prof_store_db_close(&db, rt->s);
    if (rows_del || roll_del) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, rt->s, PROFLOGNO(00013)
                     "retention: deleted %" APR_INT64_T_FMT " requests and %"
                     APR_INT64_T_FMT " rollup rows", rows_del, roll_del);
    }
    return rv;
}

static apr_status_t retention_callback(int state, void *data, apr_pool_t *p)
{
    retention_t *rt = data;
    const char *err = NULL;
    apr_status_t rv;

    if (state != AP_WATCHDOG_STATE_RUNNING) {
        return APR_SUCCESS;
    }
    rv = prune(rt, p, &err);
    if (rv != APR_SUCCESS && !rt->down) {
        /* Once per outage; the writer says more about the database. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, rt->s, PROFLOGNO(00014)
                     "retention: skipped while the store is unreachable (%s)",
                     err ? err : "unknown error");
    }
    rt->down = rv != APR_SUCCESS;
    /* Never an error to mod_watchdog: that would stop the task for good. */
    return APR_SUCCESS;
}

apr_status_t prof_retention_prune(server_rec *s, apr_pool_t *p,
                                  const char **err)
{
    retention_t rt;

    rt.s = s;
    rt.down = 0;
    return prune(&rt, p, err);
}

int prof_retention_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    const prof_store_conf_t *conf = prof_store_conf();
    ap_watchdog_t *wd = NULL;
    retention_t *rt;
    apr_status_t rv;

    if (conf->retention_us == 0 && conf->rollup_retention_us == 0
        && conf->retention_rows == 0) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (get_instance == NULL || register_callback == NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PROFLOGNO(00015)
                     "ProfilerRetention needs mod_watchdog (part of httpd; "
                     "LoadModule watchdog_module where it is not built in), "
                     "or ProfilerRetention Off, ProfilerRollupRetention Off "
                     "and ProfilerRetentionRows Off");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* A singleton: one process of the server runs it, whichever MPM. */
    rv = get_instance(&wd, WATCHDOG_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rt = apr_pcalloc(pconf, sizeof(*rt));
        rt->s = s;
        rv = register_callback(wd, conf->retention_interval_us, rt,
                               retention_callback);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, PROFLOGNO(00016)
                     "retention: cannot register with mod_watchdog");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}
