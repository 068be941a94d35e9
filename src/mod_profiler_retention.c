/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_watchdog.h"

#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_db.h"
#include "mod_profiler_retention.h"


#define WATCHDOG_NAME "profiler-retention"

/* Only the watchdog thread of the one child that runs the singleton
 * touches this (the report's "prune now" has its own). */
typedef struct {
    server_rec *s;
    int down;                   /* the last run could not reach the store */
    /* What the last run knew of the number of requests, so that the next
     * one need not count them: the count then, and the writers' sum of
     * rows written then. The sum only grows, by what was inserted since;
     * deletions elsewhere (another server, the report) make the estimate
     * too high, which only costs a count. */
    int have_count;
    apr_int64_t count;
    apr_int64_t written;
} retention_t;

/* One run: how much it did, for the debug line. */
typedef struct {
    int statements;
    apr_int64_t requests, rollups, writers;
} tally_t;

static int run(prof_db_t *db, apr_pool_t *p, tally_t *t,
               prof_sql_retention_t which, const void **args, int *nrows)
{
    ++t->statements;
    return prof_db_run(db, p, prof_sql_retention(p, db->prefix, which), args,
                       nrows);
}

/* A query of one number; *v is 0 and *null 1 when it gives NULL. */
static int number(prof_db_t *db, apr_pool_t *p, tally_t *t,
                  prof_sql_retention_t which, apr_int64_t *v, int *null)
{
    const char *first = NULL;
    int ret;

    ++t->statements;
    ret = prof_db_select_first(db, p, prof_sql_retention(p, db->prefix, which),
                               &first);
    *v = first ? apr_atoi64(first) : 0;
    if (null) {
        *null = first == NULL;
    }
    return ret;
}

/* Delete up to `limit` of the oldest requests older than cutoff (or any
 * age, with cutoff APR_INT64_MAX), spans first, in one transaction. */
static int delete_oldest(prof_db_t *db, apr_pool_t *p, tally_t *t,
                         apr_int64_t cutoff, int limit, int *deleted)
{
    const void *args[2];
    int ret, end, nspans, nprofiles, nmodules;

    args[0] = &cutoff;
    args[1] = &limit;
    *deleted = 0;
    ++t->statements;
    ret = prof_db_begin(db);
    if (ret) {
        return ret;
    }
    /* Spans, profiles and module times first: they are chosen by their
     * requests. */
    ret = run(db, p, t, PROF_RET_DELETE_SPANS, args, &nspans);
    if (!ret) {
        ret = run(db, p, t, PROF_RET_DELETE_PROFILES, args, &nprofiles);
    }
    if (!ret) {
        ret = run(db, p, t, PROF_RET_DELETE_MODULES, args, &nmodules);
    }
    if (!ret) {
        ret = run(db, p, t, PROF_RET_DELETE_REQUESTS, args, deleted);
    }
    if (ret) {
        *deleted = 0;
    }
    ++t->statements;
    end = prof_db_end(db, !ret);
    return ret ? ret : end;
}

/* Requests older than the retention, oldest first, a batch at a time,
 * until a batch finds fewer than it could take. */
static int prune_by_age(prof_db_t *db, apr_pool_t *p, tally_t *t,
                        apr_int64_t cutoff, int *batches)
{
    apr_int64_t oldest;
    int ret, n, null;

    if ((ret = number(db, p, t, PROF_RET_OLDEST_REQUEST, &oldest, &null))
        || null || oldest >= cutoff) {
        return ret;
    }
    do {
        ret = delete_oldest(db, p, t, cutoff, PROF_RETENTION_BATCH, &n);
        t->requests += n;
    } while (!ret && n == PROF_RETENTION_BATCH
             && ++*batches < PROF_RETENTION_MAX_BATCHES);
    return ret;
}

/* The oldest requests beyond ProfilerRetentionRows. Counting a large
 * table is a scan of an index: only when the estimate says the limit may
 * be passed. */
static int prune_by_count(retention_t *rt, prof_db_t *db, apr_pool_t *p,
                          tally_t *t, apr_int64_t limit, int *batches)
{
    apr_int64_t written, total, excess;
    int ret, n;

    if ((ret = number(db, p, t, PROF_RET_ROWS_WRITTEN, &written, NULL))) {
        return ret;
    }
    total = rt->count + (written - rt->written) - t->requests;
    if (!rt->have_count || written < rt->written || total > limit) {
        /* The writers' rows were pruned, or the limit may be passed. */
        if ((ret = number(db, p, t, PROF_RET_COUNT_REQUESTS, &total, NULL))) {
            rt->have_count = 0;
            return ret;
        }
    }
    excess = total - limit;
    while (!ret && excess > 0 && (*batches)++ < PROF_RETENTION_MAX_BATCHES) {
        int take = excess > PROF_RETENTION_BATCH ? PROF_RETENTION_BATCH
                                                 : (int)excess;

        ret = delete_oldest(db, p, t, APR_INT64_MAX, take, &n);
        t->requests += n;
        total -= n;
        excess = n ? excess - n : 0;
    }
    rt->have_count = !ret;
    rt->count = total;
    rt->written = written;
    return ret;
}

/* Rollups older than their retention: a day of minutes per statement (a
 * day holds at most 1440 rows per key and server), from the oldest there
 * is; the hours, 60 times fewer, at once, when all of an hour is past. */
static int prune_rollups(prof_db_t *db, apr_pool_t *p, tally_t *t,
                         apr_int64_t cutoff, int *batches)
{
    apr_int64_t oldest, upto, hour_cutoff = cutoff - apr_time_from_sec(3600);
    const void *args[1];
    int ret, n, null;

    args[0] = &upto;
    while (!(ret = number(db, p, t, PROF_RET_OLDEST_MINUTE, &oldest, &null))
           && !null && oldest < cutoff
           && (*batches)++ < PROF_RETENTION_MAX_BATCHES) {
        upto = oldest > cutoff - apr_time_from_sec(86400)
               ? cutoff : oldest + apr_time_from_sec(86400);
        ret = run(db, p, t, PROF_RET_DELETE_MINUTES, args, &n);
        t->rollups += n;
        if (ret || n == 0) {
            break;
        }
    }
    if (ret || (ret = number(db, p, t, PROF_RET_OLDEST_HOUR, &oldest, &null))
        || null || oldest >= hour_cutoff) {
        return ret;
    }
    args[0] = &hour_cutoff;
    ret = run(db, p, t, PROF_RET_DELETE_HOURS, args, &n);
    t->rollups += n;
    return ret;
}

static apr_status_t prune(retention_t *rt, apr_pool_t *p, const char **err)
{
    const prof_store_conf_t *conf = prof_db_conf();
    apr_int64_t now = apr_time_now();
    int ret = 0, batches = 0, n;
    tally_t t = { 0, 0, 0, 0 };
    prof_db_t db;
    apr_status_t rv;

    rv = prof_db_open(&db, rt->s, p, err);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (conf->retention_us > 0) {
        ret = prune_by_age(&db, p, &t, now - conf->retention_us, &batches);
    }
    if (!ret && conf->retention_rows > 0) {
        ret = prune_by_count(rt, &db, p, &t, conf->retention_rows, &batches);
    }
    if (!ret && conf->rollup_retention_us > 0) {
        ret = prune_rollups(&db, p, &t, now - conf->rollup_retention_us,
                            &batches);
    }
    /* Writers that wrote nothing for as long as requests are kept: their
     * children are long gone (a writer idle for half that registers
     * anew before it writes again). */
    if (!ret && conf->retention_us > 0) {
        apr_int64_t cutoff = now - conf->retention_us, oldest;
        const void *args[1];
        int null;

        args[0] = &cutoff;
        if (!(ret = number(&db, p, &t, PROF_RET_OLDEST_WRITE, &oldest, &null))
            && !null && oldest < cutoff) {
            ret = run(&db, p, &t, PROF_RET_DELETE_WRITERS, args, &n);
            t.writers = n;
        }
    }
    if (ret) {
        *err = prof_db_error(&db, p, ret, "deleting old rows");
        rv = APR_EGENERAL;
    }
    prof_db_close(&db, rt->s);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, rt->s, PROFLOGNO(00013)
                 "retention: %d statements; deleted %" APR_INT64_T_FMT
                 " requests, %" APR_INT64_T_FMT " rollup rows and %"
                 APR_INT64_T_FMT " writers", t.statements, t.requests,
                 t.rollups, t.writers);
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

    memset(&rt, 0, sizeof(rt));
    rt.s = s;
    return prune(&rt, p, err);
}

static int retention_wanted(const prof_store_conf_t *conf)
{
    return conf->retention_us != 0 || conf->rollup_retention_us != 0
           || conf->retention_rows != 0;
}

int prof_retention_check_config(server_rec *s)
{
    prof_store_conf_t conf;

    prof_config_store_get(s, &conf);
    if (retention_wanted(&conf)
        && (APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance) == NULL
            || APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback)
               == NULL)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, PROFLOGNO(00015)
                     "ProfilerRetention needs mod_watchdog (part of httpd; "
                     "LoadModule watchdog_module where it is not built in), "
                     "or ProfilerRetention Off, ProfilerRollupRetention Off "
                     "and ProfilerRetentionRows Off");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

int prof_retention_post_config(apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    const prof_store_conf_t *conf = prof_db_conf();
    ap_watchdog_t *wd = NULL;
    retention_t *rt;
    apr_status_t rv;

    if (!retention_wanted(conf)) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (get_instance == NULL || register_callback == NULL) {
        return HTTP_INTERNAL_SERVER_ERROR;  /* check_config said why */
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
