/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for the store's SQL (src/prof_sql.c), run against a real
 * SQLite database (in memory), the way mod_profiler_store.c runs it
 * through apr_dbd.
 *
 * apr_dbd takes printf-like formats: %s, %d, %lld ... stand for a
 * parameter, %% for a literal percent. convert() below turns them into
 * SQLite's '?' and records each parameter's type; bind() then binds an
 * array of pointers the way apr_dbd_pbquery() does (NULL: SQL NULL). The
 * expected parameter types of every statement are those of the argument
 * arrays mod_profiler_store.c builds for it, so a statement whose text
 * and caller disagree (a missing column, a %d given an apr_int64_t) fails
 * here, not in production.
 *
 * Migrations and the schema queries are run with apr_dbd_query() and
 * apr_dbd_select(), which do not convert anything: their texts must hold
 * no '%' at all.
 *
 * The PostgreSQL texts cannot be run here; they are checked for what
 * differs (FOR UPDATE, BIGSERIAL, the advisory lock) and for having the
 * same parameters as SQLite's, since the store binds the same arrays.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "prof_hist.h"
#include "prof_phase.h"
#include "prof_rollup.h"
#include "prof_row.h"
#include "prof_sql.h"
#include "unit.h"

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_PARAMS (30 * PROF_SQL_ROWS_MAX)

/* The prefixes the SQLite tests run with: the default, a short one, and
 * none at all. */
static const char *const prefixes[] = { PROF_SQL_DEFAULT_PREFIX, "x_", "" };

/* ----------------------------------------------------- apr_dbd -> SQLite */

typedef struct {
    const char *sql;            /* '?' for each parameter */
    int n;                      /* how many */
    char types[MAX_PARAMS + 1]; /* s: string, d: int, L: apr_int64_t */
} conv_t;

/* fmt as SQLite wants it: "%<letters>" becomes '?', "%%" '%'. Only the
 * formats the store binds are accepted, and nothing may follow them
 * directly: apr_dbd would take "%sx" as %s and a stray 'x'. */
static conv_t convert(const char *fmt)
{
    char *out = apr_palloc(unit_pool, strlen(fmt) + 1), *o = out;
    const char *c = fmt;
    conv_t cv;

    cv.n = 0;
    while (*c) {
        if (*c != '%') {
            *o++ = *c++;
            continue;
        }
        if (c[1] == '%') {
            *o++ = '%';
            c += 2;
            continue;
        }
        {
            const char *l = ++c;
            size_t len;
            char t;

            while ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')) {
                ++c;
            }
            len = (size_t)(c - l);
            t = len == 1 && *l == 's' ? 's'
                : len == 1 && *l == 'd' ? 'd'
                : len == 3 && !strncmp(l, "lld", 3) ? 'L' : '\0';
            ck_assert_msg(t != '\0', "format %%%.*s in: %s", (int)len, l, fmt);
            ck_assert_msg(cv.n < MAX_PARAMS, "too many parameters: %s", fmt);
            cv.types[cv.n++] = t;
            *o++ = '?';
        }
    }
    *o = '\0';
    cv.types[cv.n] = '\0';
    cv.sql = out;
    return cv;
}

/* The statement fmt, prepared: one statement, with exactly the parameters
 * the format has. */
static sqlite3_stmt *prep(sqlite3 *db, const char *fmt, conv_t *cv)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc;

    *cv = convert(fmt);
    rc = sqlite3_prepare_v2(db, cv->sql, -1, &st, &tail);
    ck_assert_msg(rc == SQLITE_OK, "%s\n  in: %s", sqlite3_errmsg(db),
                  cv->sql);
    ck_assert_msg(st != NULL, "no statement in: %s", cv->sql);
    while (*tail == ' ' || *tail == '\n') {
        ++tail;
    }
    ck_assert_msg(*tail == '\0', "more than one statement in: %s", cv->sql);
    ck_assert_msg(sqlite3_bind_parameter_count(st) == cv->n,
                  "%d parameters for SQLite, %d in the format: %s",
                  sqlite3_bind_parameter_count(st), cv->n, fmt);
    return st;
}

/* Bind args as apr_dbd_pbquery() would: by the format's types. */
static void bind_args(sqlite3 *db, sqlite3_stmt *st, const conv_t *cv,
                      const void *const *args)
{
    int i, rc;

    for (i = 0; i < cv->n; ++i) {
        if (args[i] == NULL) {
            rc = sqlite3_bind_null(st, i + 1);
        }
        else if (cv->types[i] == 's') {
            rc = sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_STATIC);
        }
        else if (cv->types[i] == 'd') {
            rc = sqlite3_bind_int(st, i + 1, *(const int *)args[i]);
        }
        else {
            rc = sqlite3_bind_int64(st, i + 1,
                                    *(const apr_int64_t *)args[i]);
        }
        ck_assert_msg(rc == SQLITE_OK, "bind %d: %s", i + 1,
                      sqlite3_errmsg(db));
    }
}

/* Run fmt with args to its end; the rows it changed (for DML). */
static int run(sqlite3 *db, const char *fmt, const void *const *args)
{
    conv_t cv;
    sqlite3_stmt *st = prep(db, fmt, &cv);
    int rc;

    bind_args(db, st, &cv, args);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    ck_assert_msg(rc == SQLITE_DONE, "%s\n  in: %s", sqlite3_errmsg(db),
                  cv.sql);
    ck_assert_int_eq(sqlite3_finalize(st), SQLITE_OK);
    return sqlite3_changes(db);
}

/* A query with args, bound and ready to step. */
static sqlite3_stmt *query(sqlite3 *db, const char *fmt,
                           const void *const *args)
{
    conv_t cv;
    sqlite3_stmt *st = prep(db, fmt, &cv);

    bind_args(db, st, &cv, args);
    return st;
}

/* The first column of the one row of a query without parameters. */
static apr_int64_t one_value(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = query(db, sql, NULL);
    apr_int64_t v;

    ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "no row: %s", sql);
    v = sqlite3_column_int64(st, 0);
    ck_assert_msg(sqlite3_step(st) == SQLITE_DONE, "two rows: %s", sql);
    sqlite3_finalize(st);
    return v;
}

static sqlite3 *db_open(void)
{
    sqlite3 *db = NULL;

    ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    return db;
}

/* Closing fails while a statement is left unfinalized. */
static void db_close(sqlite3 *db)
{
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* Text that apr_dbd passes on without conversion: no parameters, and no
 * '%' it would leave doubled. */
static void check_raw(const char *sql)
{
    ck_assert_msg(strchr(sql, '%') == NULL, "'%%' in unprepared SQL: %s",
                  sql);
}

static apr_int64_t schema_exists(sqlite3 *db, const char *prefix);

/* What schema_ensure() in mod_profiler_db.c does, in one transaction: the
 * connection settings, the migrations from the recorded version (not all
 * of them are idempotent: ALTER TABLE ADD COLUMN is not), the version. */
static void migrate(sqlite3 *db, const char *prefix, apr_int64_t now)
{
    const char *const *setup;
    const void *args[1];
    int from = 0;

    for (setup = prof_sql_connection_setup(PROF_SQL_SQLITE); *setup;
         ++setup) {
        check_raw(*setup);
        run(db, *setup, NULL);
    }
    ck_assert_str_eq(prof_sql_begin(PROF_SQL_SQLITE), "BEGIN IMMEDIATE");
    ck_assert_str_eq(prof_sql_begin(PROF_SQL_PGSQL), "BEGIN");
    run(db, prof_sql_begin(PROF_SQL_SQLITE), NULL);
    if (schema_exists(db, prefix)) {
        from = (int)one_value(db, apr_pstrcat(unit_pool, "SELECT version "
                                              "FROM ", prefix, "schema",
                                              NULL));
    }
    for (; from < PROF_SQL_SCHEMA_VERSION; ++from) {
        const char **stmt = prof_sql_migration(unit_pool, PROF_SQL_SQLITE,
                                               prefix, from);

        ck_assert_ptr_nonnull(stmt);
        ck_assert_ptr_nonnull(stmt[0]);
        for (; *stmt; ++stmt) {
            check_raw(*stmt);
            run(db, *stmt, NULL);
        }
    }
    args[0] = &now;
    ck_assert_int_eq(run(db, prof_sql_schema_set(unit_pool, PROF_SQL_SQLITE,
                                                 prefix,
                                                 PROF_SQL_SCHEMA_VERSION),
                         args), 1);
    run(db, prof_sql_end(1), NULL);
}

static apr_int64_t schema_exists(sqlite3 *db, const char *prefix)
{
    const char *sql = prof_sql_schema_exists(unit_pool, PROF_SQL_SQLITE,
                                             prefix);

    check_raw(sql);
    return one_value(db, sql);
}

/* The schema row: version, hist_layout, and updated_us read directly. */
static void schema_row(sqlite3 *db, const char *prefix, int *version,
                       int *layout, apr_int64_t *updated)
{
    const char *sql = prof_sql_schema_get(unit_pool, PROF_SQL_SQLITE, prefix);
    sqlite3_stmt *st;

    check_raw(sql);
    st = query(db, sql, NULL);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_count(st), 2);
    *version = sqlite3_column_int(st, 0);
    *layout = sqlite3_column_int(st, 1);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    *updated = one_value(db, apr_pstrcat(unit_pool, "SELECT updated_us FROM ",
                                         prefix, "schema", NULL));
    ck_assert_int_eq(one_value(db, apr_pstrcat(unit_pool, "SELECT count(*) "
                                               "FROM ", prefix, "schema",
                                               NULL)), 1);
}

/* ------------------------------------------------------------- statements */

/* The parameters of each statement, as mod_profiler_store.c binds them
 * (s: const char *, d: int *, L: apr_int64_t *), and the columns it
 * returns. */
static const struct {
    const char *name;
    const char *types;
    int columns;
} stmt_spec[PROF_STMT_COUNT] = {
    /* server, pid, nonce, started_us, last_write_us */
    { "WRITER_INSERT", "sdLLL", 0 },
    /* nonce, server, pid -> id */
    { "WRITER_SELECT", "Lsd", 1 },
    /* last_write_us, written, dropped, failed, id */
    { "WRITER_UPDATE", "LLLLL", 0 },
    /* id, server, vhost, start_us, method, route, path, query, status,
     * protocol, bytes_sent, total_us, ttfb_us, 14 phases, weight,
     * spans_dropped, phase_starts */
    { "REQUEST_INSERT", "LssLssssdsLLL" "LLLLLLLLLLLLLL" "dds", 0 },
    /* request_id, seq, name, description, parent, start_us, dur_us,
     * metric */
    { "SPAN_INSERT", "LdssdLLd", 0 },
    /* request_id, format, data */
    { "PROFILE_INSERT", "Lss", 0 },
    /* request_id, phase, module, calls, dur_us */
    { "MODULE_INSERT", "LssdL", 0 },
    /* the key: minute, server, vhost, route, method, status class */
    { "ROLLUP_ENSURE", "Lssssd", 0 },
    /* the key -> count, samples, sum, min, max, ttfb, bytes, 14 phase
     * sums, hist */
    { "ROLLUP_SELECT", "Lssssd", 22 },
    /* those 21 integers, hist, the key */
    { "ROLLUP_UPDATE", "LLLLLLLLLLLLLLLLLLLLL" "s" "Lssssd", 0 },
    /* the same three for the hourly rollups */
    { "HOUR_ENSURE", "Lssssd", 0 },
    { "HOUR_SELECT", "Lssssd", 22 },
    { "HOUR_UPDATE", "LLLLLLLLLLLLLLLLLLLLL" "s" "Lssssd", 0 },
};

START_TEST(sql_migrate_and_prepare)
{
    const char *prefix = prefixes[_i];
    apr_int64_t now = APR_INT64_C(1700000000000000), updated;
    sqlite3 *db = db_open();
    int which, version, layout;

    ck_assert_int_eq(schema_exists(db, prefix), 0);
    migrate(db, prefix, now);
    ck_assert_int_eq(schema_exists(db, prefix), 1);
    schema_row(db, prefix, &version, &layout, &updated);
    ck_assert_int_eq(version, PROF_SQL_SCHEMA_VERSION);
    ck_assert_int_eq(layout, PROF_SQL_HIST_LAYOUT);
    ck_assert_int_eq(updated, now);

    /* Every statement compiles against the tables, with the parameters
     * and columns the store expects. */
    for (which = 0; which < PROF_STMT_COUNT; ++which) {
        const char *sql = prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                        (prof_sql_stmt_t)which);
        sqlite3_stmt *st;
        conv_t cv;

        ck_assert_ptr_nonnull(sql);
        st = prep(db, sql, &cv);
        ck_assert_msg(strcmp(cv.types, stmt_spec[which].types) == 0,
                      "%s: parameters \"%s\", the store binds \"%s\"",
                      stmt_spec[which].name, cv.types,
                      stmt_spec[which].types);
        ck_assert_msg(sqlite3_column_count(st) == stmt_spec[which].columns,
                      "%s: %d columns, want %d", stmt_spec[which].name,
                      sqlite3_column_count(st), stmt_spec[which].columns);
        sqlite3_finalize(st);
    }

    /* Again, as every child of every server does at its start: nothing
     * fails, nothing is duplicated, the time is new. */
    migrate(db, prefix, now + 1);
    schema_row(db, prefix, &version, &layout, &updated);
    ck_assert_int_eq(version, PROF_SQL_SCHEMA_VERSION);
    ck_assert_int_eq(updated, now + 1);
    ck_assert_int_eq(schema_exists(db, prefix), 1);
    db_close(db);
}
END_TEST

/* A database that is only partly migrated goes on from its version. */
START_TEST(sql_migrate_in_steps)
{
    const char *prefix = prefixes[_i];
    sqlite3 *db = db_open();
    apr_int64_t now = 5, updated;
    int from, version, layout;

    for (from = 0; from < PROF_SQL_SCHEMA_VERSION; ++from) {
        const char **stmt = prof_sql_migration(unit_pool, PROF_SQL_SQLITE,
                                               prefix, from);
        const void *args[1];

        for (; *stmt; ++stmt) {
            run(db, *stmt, NULL);
        }
        args[0] = &now;
        ck_assert_int_eq(run(db, prof_sql_schema_set(unit_pool,
                                                     PROF_SQL_SQLITE, prefix,
                                                     from + 1), args), 1);
        schema_row(db, prefix, &version, &layout, &updated);
        ck_assert_int_eq(version, from + 1);
        ck_assert_int_eq(layout, PROF_SQL_HIST_LAYOUT);
        ++now;
    }
    db_close(db);
}
END_TEST

/* Schema 4 on a database with rows of schema 3: they keep their values,
 * with phase_starts NULL, and new rows carry it. */
START_TEST(sql_migrate_3_to_4_keeps_rows)
{
    const char *prefix = prefixes[_i];
    sqlite3 *db = db_open();
    const char **stmt;
    int from;

    for (from = 0; from < 3; ++from) {
        for (stmt = prof_sql_migration(unit_pool, PROF_SQL_SQLITE, prefix,
                                       from); *stmt; ++stmt) {
            run(db, *stmt, NULL);
        }
    }
    run(db, apr_pstrcat(unit_pool, "INSERT INTO ", prefix, "requests (id, "
                        "server, vhost, start_us, method, route, path, "
                        "status, protocol, bytes_sent, total_us, ttfb_us, "
                        "read_us, postread_us, quick_us, translate_us, "
                        "storage_us, headers_us, access_us, authn_us, "
                        "authz_us, type_us, fixups_us, handler_us, body_us, "
                        "log_us, weight, spans_dropped) VALUES (7, 's', 'v', "
                        "1, 'GET', '/', '/', 200, 'HTTP/1.1', 0, 9, 0, 1, 1, "
                        "1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0)", NULL),
        NULL);
    stmt = prof_sql_migration(unit_pool, PROF_SQL_SQLITE, prefix, 3);
    ck_assert_ptr_nonnull(stmt);
    for (; *stmt; ++stmt) {
        run(db, *stmt, NULL);
    }
    ck_assert_int_eq(one_value(db, apr_pstrcat(unit_pool, "SELECT count(*) "
                                               "FROM ", prefix, "requests "
                                               "WHERE id = 7 AND total_us = 9 "
                                               "AND phase_starts IS NULL",
                                               NULL)), 1);
    /* Schema 5 adds the profiles beside the rows it keeps. */
    stmt = prof_sql_migration(unit_pool, PROF_SQL_SQLITE, prefix, 4);
    ck_assert_ptr_nonnull(stmt);
    for (; *stmt; ++stmt) {
        run(db, *stmt, NULL);
    }
    ck_assert_int_eq(one_value(db, apr_pstrcat(unit_pool, "SELECT count(*) "
                                               "FROM ", prefix, "requests "
                                               "WHERE id = 7", NULL)), 1);
    ck_assert_int_eq(one_value(db, apr_pstrcat(unit_pool, "SELECT count(*) "
                                               "FROM ", prefix, "profiles",
                                               NULL)), 0);
    ck_assert_ptr_null(prof_sql_migration(unit_pool, PROF_SQL_SQLITE, prefix,
                                          PROF_SQL_SCHEMA_VERSION));
    db_close(db);
}
END_TEST

/* Retention's statements on a real table: the oldest first, by the limit
 * and the cutoff, spans with their requests; the cheap questions answer
 * what there is. */
START_TEST(sql_retention_statements)
{
    const char *prefix = prefixes[_i];
    apr_int64_t now = APR_INT64_C(1700000000000000), cutoff, id;
    sqlite3 *db = db_open();
    const void *args[2];
    int limit, k;

    migrate(db, prefix, now);
    for (k = 0; k < PROF_RET_COUNT; ++k) {
        ck_assert_ptr_nonnull(prof_sql_retention(unit_pool, prefix, k));
    }
    ck_assert_ptr_null(prof_sql_retention(unit_pool, prefix, PROF_RET_COUNT));
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_COUNT_REQUESTS)), 0);
    /* min() of nothing is NULL: nothing is due. */
    {
        sqlite3_stmt *st = query(db, prof_sql_retention(
                                     unit_pool, prefix,
                                     PROF_RET_OLDEST_REQUEST), NULL);
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_eq(sqlite3_column_type(st, 0), SQLITE_NULL);
        sqlite3_finalize(st);
    }
    /* Ten requests, started 1..10, each with a span. */
    for (id = 1; id <= 10; ++id) {
        run(db, apr_psprintf(unit_pool, "INSERT INTO %srequests (id, server, "
                             "vhost, start_us, method, route, path, status, "
                             "protocol, bytes_sent, total_us, ttfb_us, "
                             "read_us, postread_us, quick_us, translate_us, "
                             "storage_us, headers_us, access_us, authn_us, "
                             "authz_us, type_us, fixups_us, handler_us, "
                             "body_us, log_us, weight, spans_dropped) VALUES "
                             "(%d, 's', 'v', %d, 'GET', '/', '/', 200, 'h', "
                             "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
                             "0, 1, 0)", prefix, (int)id, (int)id), NULL);
        run(db, apr_psprintf(unit_pool, "INSERT INTO %sspans (request_id, "
                             "seq, name, start_us, dur_us, metric) VALUES "
                             "(%d, 0, 'x', 0, 0, 0)", prefix, (int)id), NULL);
        if (id % 3 == 0) {
            /* requests 3, 6, 9 have module times, two rows each */
            run(db, apr_psprintf(unit_pool, "INSERT INTO %smodules "
                                 "(request_id, phase, module, calls, dur_us) "
                                 "VALUES (%d, 'translate', 'mod_rewrite', 1, "
                                 "5), (%d, 'filter', 'deflate', 2, 7)",
                                 prefix, (int)id, (int)id), NULL);
        }
        if (id % 2) {
            run(db, apr_psprintf(unit_pool, "INSERT INTO %sprofiles "
                                 "(request_id, format, data) VALUES "
                                 "(%d, 'stacks1', 'x')", prefix, (int)id),
                NULL);
        }
    }
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_OLDEST_REQUEST)), 1);
    /* Older than 5, at most 3: 1, 2, 3. */
    cutoff = 5;
    limit = 3;
    args[0] = &cutoff;
    args[1] = &limit;
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_SPANS),
                         args), 3);
    /* The profiles of 1 and 3, not of 5. */
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_PROFILES),
                         args), 2);
    /* The module times of 3 (two rows), not of 6 and 9. */
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_MODULES),
                         args), 2);
    ck_assert_int_eq(one_value(db, apr_psprintf(unit_pool, "SELECT count(*) "
                                                "FROM %smodules", prefix)),
                     4);
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_REQUESTS),
                         args), 3);
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_OLDEST_REQUEST)), 4);
    /* Then only 4 is older than 5. */
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_REQUESTS),
                         args), 1);
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_REQUESTS),
                         args), 0);
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_COUNT_REQUESTS)), 6);
    /* Writers: the sum of their counters; the idle ones go. */
    run(db, apr_pstrcat(unit_pool, "INSERT INTO ", prefix, "writers (server, "
                        "pid, nonce, started_us, last_write_us, "
                        "rows_written, rows_dropped, rows_failed) VALUES "
                        "('s', 1, 1, 0, 10, 4, 0, 0), "
                        "('s', 2, 2, 0, 20, 6, 0, 0)", NULL), NULL);
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_ROWS_WRITTEN)), 10);
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_OLDEST_WRITE)), 10);
    cutoff = 15;
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_WRITERS),
                         args), 1);
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_ROWS_WRITTEN)), 6);
    /* Rollups: the oldest minute and hour, and deletion before a cutoff. */
    run(db, apr_pstrcat(unit_pool, "INSERT INTO ", prefix, "rollups SELECT "
                        "m, 's', 'v', '/', 'GET', 2, 0, 0, 0, 0, 0, 0, 0, 0, "
                        "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '' FROM "
                        "(SELECT 60 AS m UNION SELECT 120 UNION SELECT 180)",
                        NULL), NULL);
    run(db, apr_pstrcat(unit_pool, "INSERT INTO ", prefix, "rollups_hour "
                        "SELECT hour_us, 's', 'v', '/', 'GET', 2, 0, 0, 0, 0, "
                        "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
                        "'' FROM (SELECT 3600 AS hour_us UNION SELECT 7200)",
                        NULL), NULL);
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_OLDEST_MINUTE)), 60);
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_OLDEST_HOUR)), 3600);
    cutoff = 121;
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_MINUTES),
                         args), 2);
    cutoff = 7200;
    ck_assert_int_eq(run(db, prof_sql_retention(unit_pool, prefix,
                                                PROF_RET_DELETE_HOURS),
                         args), 1);
    ck_assert_int_eq(one_value(db, prof_sql_retention(
                         unit_pool, prefix, PROF_RET_OLDEST_MINUTE)), 180);
    db_close(db);
}
END_TEST

/* ------------------------------------------------------------ round trip */

#define SERVER "srv.example:443"

/* Insert a writer as register_writer() does; its id. */
static apr_int64_t writer_register(sqlite3 *db, const char *prefix,
                                   apr_int64_t nonce, int pid,
                                   apr_int64_t now)
{
    const void *args[5];
    sqlite3_stmt *st;
    apr_int64_t id;

    args[0] = SERVER;
    args[1] = &pid;
    args[2] = &nonce;
    args[3] = &now;
    args[4] = &now;
    ck_assert_int_eq(run(db, prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                           PROF_STMT_WRITER_INSERT), args), 1);
    args[0] = &nonce;
    args[1] = SERVER;
    args[2] = &pid;
    st = query(db, prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                 PROF_STMT_WRITER_SELECT), args);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    id = sqlite3_column_int64(st, 0);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    ck_assert_int_gt(id, 0);
    return id;
}

static const apr_int64_t req_durs[PROF_PHASE_COUNT] = {
    101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114,
    9999
};

/* Phases that did not run (-1) leave their field empty. */
static const apr_int64_t req_starts[PROF_PHASE_COUNT] = {
    0, 101, -1, 203, 307, 412, 518, -1, -1, 625, 735, 846, 958, 1071, -1
};

static const prof_span_info_t req_spans[] = {
    { "db", "SELECT 1", 10, 20, PROF_SPAN_NO_PARENT, 0, 0 },
    { "cache", NULL, 15, 2, 0, 1, 1 },
};

/* A row as the writer gets it. */
static prof_row_t *request_row(const char *query_string)
{
    prof_row_in_t in;
    prof_row_t *row;

    memset(&in, 0, sizeof(in));
    in.start_us = APR_INT64_C(1700000012345678);
    in.dur_us = req_durs;
    in.first_us = req_starts;
    in.ttfb_us = 4321;
    in.bytes_sent = APR_INT64_C(6000000000);
    in.status = 404;
    in.weight = 7;
    in.spans_dropped = 3;
    in.vhost = "www.example";
    in.method = "GET";
    in.protocol = "HTTP/2.0";
    in.route = "/item/:id";
    in.path = "/item/42";
    in.query = query_string;
    in.spans = req_spans;
    in.nspans = N_OF(req_spans);
    in.span_base_us = in.start_us;
    row = prof_row_create(&in);
    ck_assert_ptr_nonnull(row);
    return row;
}

/* Insert row and its spans as insert_row() does, then read them back
 * column by column, by the columns' names. */
static void request_round_trip(sqlite3 *db, const char *prefix,
                               apr_int64_t id, const prof_row_t *row)
{
    const void *args[13 + PROF_SQL_PHASE_COLUMNS + 3];
    char starts[PROF_ROW_STARTS_MAX];
    const char *want_starts = prof_row_phase_starts(row, starts,
                                                    sizeof(starts));
    int status = row->status, weight = (int)row->weight;
    int dropped = (int)row->spans_dropped, k, col;
    const char *sql;
    sqlite3_stmt *st;
    apr_uint32_t i;

    args[0] = &id;
    args[1] = SERVER;
    args[2] = row->vhost;
    args[3] = &row->start_us;
    args[4] = row->method;
    args[5] = row->route;
    args[6] = row->path;
    args[7] = row->query;
    args[8] = &status;
    args[9] = row->protocol;
    args[10] = &row->bytes_sent;
    args[11] = &row->dur_us[PROF_PHASE_TOTAL];
    args[12] = &row->ttfb_us;
    for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
        args[13 + k] = &row->dur_us[k];
    }
    args[13 + PROF_SQL_PHASE_COLUMNS] = &weight;
    args[14 + PROF_SQL_PHASE_COLUMNS] = &dropped;
    args[15 + PROF_SQL_PHASE_COLUMNS] = want_starts;
    ck_assert_int_eq(run(db, prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                           PROF_STMT_REQUEST_INSERT), args), 1);
    for (i = 0; i < row->nspans; ++i) {
        const prof_row_span_t *sp = &row->spans[i];
        int seq = sp->index, parent = sp->parent, metric = sp->metric;
        const void *sargs[8];

        sargs[0] = &id;
        sargs[1] = &seq;
        sargs[2] = sp->name;
        sargs[3] = sp->desc;
        sargs[4] = parent >= 0 ? (const void *)&parent : NULL;
        sargs[5] = &sp->start_us;
        sargs[6] = &sp->dur_us;
        sargs[7] = &metric;
        ck_assert_int_eq(run(db, prof_sql_stmt(unit_pool, PROF_SQL_SQLITE,
                                               prefix, PROF_STMT_SPAN_INSERT),
                             sargs), 1);
    }

    /* Back, by name: the phase columns are named after prof_phase_name()
     * and hold the phases in that order. */
    sql = "SELECT server, vhost, start_us, method, route, path, query, "
          "status, protocol, bytes_sent, total_us, ttfb_us, weight, "
          "spans_dropped, phase_starts";
    for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
        sql = apr_pstrcat(unit_pool, sql, ", ", prof_phase_name(k), "_us",
                          NULL);
    }
    sql = apr_pstrcat(unit_pool, sql, " FROM ", prefix, "requests WHERE "
                      "id = %lld", NULL);
    args[0] = &id;
    st = query(db, sql, args);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), SERVER);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), row->vhost);
    ck_assert_int_eq(sqlite3_column_int64(st, 2), row->start_us);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 3), row->method);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 4), row->route);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 5), row->path);
    if (row->query) {
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 6),
                         row->query);
    }
    else {
        ck_assert_int_eq(sqlite3_column_type(st, 6), SQLITE_NULL);
    }
    ck_assert_int_eq(sqlite3_column_int(st, 7), row->status);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 8), row->protocol);
    ck_assert_int_eq(sqlite3_column_int64(st, 9), row->bytes_sent);
    ck_assert_int_eq(sqlite3_column_int64(st, 10),
                     row->dur_us[PROF_PHASE_TOTAL]);
    ck_assert_int_eq(sqlite3_column_int64(st, 11), row->ttfb_us);
    ck_assert_int_eq(sqlite3_column_int(st, 12), (int)row->weight);
    ck_assert_int_eq(sqlite3_column_int(st, 13), (int)row->spans_dropped);
    if (want_starts) {
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 14),
                         want_starts);
    }
    else {
        ck_assert_int_eq(sqlite3_column_type(st, 14), SQLITE_NULL);
    }
    for (k = 0, col = 15; k < PROF_SQL_PHASE_COLUMNS; ++k, ++col) {
        ck_assert_msg(sqlite3_column_int64(st, col) == row->dur_us[k],
                      "%s_us: %lld, want %lld", prof_phase_name(k),
                      (long long)sqlite3_column_int64(st, col),
                      (long long)row->dur_us[k]);
    }
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    sql = apr_pstrcat(unit_pool, "SELECT seq, name, description, parent, "
                      "start_us, dur_us, metric FROM ", prefix, "spans "
                      "WHERE request_id = %lld ORDER BY seq", NULL);
    st = query(db, sql, args);
    for (i = 0; i < row->nspans; ++i) {
        const prof_row_span_t *sp = &row->spans[i];

        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_eq(sqlite3_column_int(st, 0), sp->index);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), sp->name);
        if (sp->desc) {
            ck_assert_str_eq((const char *)sqlite3_column_text(st, 2),
                             sp->desc);
        }
        else {
            ck_assert_int_eq(sqlite3_column_type(st, 2), SQLITE_NULL);
        }
        if (sp->parent >= 0) {
            ck_assert_int_eq(sqlite3_column_int(st, 3), sp->parent);
        }
        else {
            ck_assert_int_eq(sqlite3_column_type(st, 3), SQLITE_NULL);
        }
        ck_assert_int_eq(sqlite3_column_int64(st, 4), sp->start_us);
        ck_assert_int_eq(sqlite3_column_int64(st, 5), sp->dur_us);
        ck_assert_int_eq(sqlite3_column_int(st, 6), sp->metric);
    }
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* The key of e, as merge_rollup() binds it. */
static void rollup_key(const void **key, prof_rollup_entry_t *e)
{
    key[0] = &e->minute_us;
    key[1] = SERVER;
    key[2] = e->vhost;
    key[3] = e->route;
    key[4] = e->method;
    key[5] = &e->status_class;
}

/* ROLLUP_SELECT for e's key: exactly one row of 22 columns, into v[21]
 * and the hist column. */
static const char *rollup_read(sqlite3 *db, const char *prefix,
                               prof_rollup_entry_t *e, apr_int64_t *v)
{
    const void *key[6];
    const char *hist;
    sqlite3_stmt *st;
    int k;

    rollup_key(key, e);
    st = query(db, prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                 PROF_STMT_ROLLUP_SELECT), key);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_count(st), 22);
    ck_assert_int_eq(sqlite3_column_type(st, 21), SQLITE_TEXT);
    for (k = 0; k < 21; ++k) {
        ck_assert_int_eq(sqlite3_column_type(st, k), SQLITE_INTEGER);
        v[k] = sqlite3_column_int64(st, k);
    }
    hist = apr_pstrdup(unit_pool, (const char *)sqlite3_column_text(st, 21));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    return hist;
}

START_TEST(sql_round_trip)
{
    const char *prefix = prefixes[_i];
    apr_int64_t now = APR_INT64_C(1700000000000000), id, id2, rid;
    apr_int64_t v[21], w[21], written = 10, dropped = 2, failed = 1;
    prof_rollup_t *agg = prof_rollup_create(unit_pool);
    prof_rollup_entry_t *e, other;
    prof_row_t *row, *row2;
    const void *args[28];
    const char *hist, *sql;
    prof_hist_t *h;
    sqlite3_stmt *st;
    sqlite3 *db = db_open();
    int k;

    migrate(db, prefix, now);

    /* Writers: two of them, told apart by their nonce. */
    id = writer_register(db, prefix, APR_INT64_C(0x123456789abcdef), 4242,
                         now);
    id2 = writer_register(db, prefix, APR_INT64_C(-5), 4242, now);
    ck_assert_int_ne(id, id2);
    args[0] = &now;
    args[1] = &written;
    args[2] = &dropped;
    args[3] = &failed;
    args[4] = &id;
    now += 1000;
    ck_assert_int_eq(run(db, prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                           PROF_STMT_WRITER_UPDATE), args), 1);
    sql = apr_pstrcat(unit_pool, "SELECT server, pid, nonce, started_us, "
                      "last_write_us, rows_written, rows_dropped, "
                      "rows_failed FROM ", prefix, "writers WHERE id = %lld",
                      NULL);
    args[0] = &id;
    st = query(db, sql, args);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), SERVER);
    ck_assert_int_eq(sqlite3_column_int(st, 1), 4242);
    ck_assert_int_eq(sqlite3_column_int64(st, 2),
                     APR_INT64_C(0x123456789abcdef));
    ck_assert_int_eq(sqlite3_column_int64(st, 3), now - 1000);
    ck_assert_int_eq(sqlite3_column_int64(st, 4), now);
    ck_assert_int_eq(sqlite3_column_int64(st, 5), 10);
    ck_assert_int_eq(sqlite3_column_int64(st, 6), 2);
    ck_assert_int_eq(sqlite3_column_int64(st, 7), 1);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);

    /* Requests and spans, one without a query string and one with. */
    row = request_row(NULL);
    row2 = request_row("a=1&b=%C3%A9");
    rid = id * (APR_INT64_C(1) << 32) + 1;
    request_round_trip(db, prefix, rid, row);
    request_round_trip(db, prefix, rid + 1, row2);
    ck_assert_int_eq(one_value(db, apr_pstrcat(unit_pool, "SELECT count(*) "
                                               "FROM ", prefix, "spans",
                                               NULL)),
                     2 * N_OF(req_spans));

    /* Rollups: the row's entry, merged as merge_rollup() does. */
    prof_rollup_add(agg, row);
    prof_rollup_add(agg, row2);
    e = APR_ARRAY_IDX(prof_rollup_sorted(agg), 0, prof_rollup_entry_t *);
    rollup_key(args, e);
    sql = prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                        PROF_STMT_ROLLUP_ENSURE);
    ck_assert_int_eq(run(db, sql, args), 1);
    ck_assert_int_eq(run(db, sql, args), 0);            /* there already */
    ck_assert_int_eq(one_value(db, apr_pstrcat(unit_pool, "SELECT count(*) "
                                               "FROM ", prefix, "rollups",
                                               NULL)), 1);
    hist = rollup_read(db, prefix, e, v);
    for (k = 0; k < 21; ++k) {
        ck_assert_int_eq(v[k], 0);
    }
    ck_assert_str_eq(hist, "");

    v[0] = (apr_int64_t)e->hist.count;
    v[1] = (apr_int64_t)e->samples;
    v[2] = (apr_int64_t)e->hist.sum;
    v[3] = e->hist.min;
    v[4] = e->hist.max;
    v[5] = (apr_int64_t)e->ttfb_sum_us;
    v[6] = (apr_int64_t)e->bytes_sum;
    for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
        v[7 + k] = (apr_int64_t)e->phase_sum_us[k];
    }
    for (k = 0; k < 21; ++k) {
        args[k] = &v[k];
    }
    args[21] = prof_hist_encode(unit_pool, &e->hist);
    rollup_key(args + 22, e);
    sql = prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                        PROF_STMT_ROLLUP_UPDATE);
    ck_assert_int_eq(run(db, sql, args), 1);
    hist = rollup_read(db, prefix, e, w);
    for (k = 0; k < 21; ++k) {
        ck_assert_int_eq(w[k], v[k]);
    }
    ck_assert_str_eq(hist, args[21]);
    h = malloc(sizeof(*h));
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(prof_hist_decode(hist, strlen(hist), h), APR_SUCCESS);
    ck_assert(memcmp(h->n, e->hist.n, sizeof(h->n)) == 0);
    free(h);

    /* The phase sums are in phase order, under the phases' names. */
    sql = "SELECT count";
    for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
        sql = apr_pstrcat(unit_pool, sql, ", ", prof_phase_name(k),
                          "_sum_us", NULL);
    }
    sql = apr_pstrcat(unit_pool, sql, " FROM ", prefix, "rollups", NULL);
    st = query(db, sql, NULL);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
        ck_assert_int_eq(sqlite3_column_int64(st, 1 + k), v[7 + k]);
    }
    sqlite3_finalize(st);

    /* Another key: an update does not touch the first row, and a row of
     * its own is made for it. */
    other = *e;
    other.status_class = 5;
    rollup_key(args + 22, &other);
    ck_assert_int_eq(run(db, prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                           PROF_STMT_ROLLUP_UPDATE), args), 0);
    ck_assert_int_eq(run(db, prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                           PROF_STMT_ROLLUP_ENSURE),
                         args + 22), 1);
    ck_assert_int_eq(one_value(db, apr_pstrcat(unit_pool, "SELECT count(*) "
                                               "FROM ", prefix, "rollups",
                                               NULL)), 2);
    hist = rollup_read(db, prefix, e, w);
    ck_assert_int_eq(w[0], v[0]);

    prof_row_free(row);
    prof_row_free(row2);
    db_close(db);
}
END_TEST

/* ----------------------------------------------------------------- names */

static const struct {
    const char *driver;
    int dialect;
} dialect_cases[] = {
    { "sqlite3", PROF_SQL_SQLITE },
    { "pgsql", PROF_SQL_PGSQL },
    { "mysql", -1 },
    { "odbc", -1 },
    { "oracle", -1 },
    { "freetds", -1 },
    { "sqlite2", -1 },
    { "sqlite", -1 },
    { "", -1 },
    { NULL, -1 },
};

START_TEST(sql_dialect_table)
{
    ck_assert_int_eq(prof_sql_dialect(dialect_cases[_i].driver),
                     dialect_cases[_i].dialect);
}
END_TEST

static const struct {
    const char *prefix;
    int valid;
} prefix_cases[] = {
    { "", 1 },
    { "a", 1 },
    { "_", 1 },
    { "_x1", 1 },
    { "x_", 1 },
    { "profiler_", 1 },
    { "Prof_2024_", 1 },
    { "abcdefghijklmnopqrstuvwxyz_01234", 1 },      /* 32 bytes */
    { "abcdefghijklmnopqrstuvwxyz_012345", 0 },     /* 33 */
    { "1a", 0 },
    { "0", 0 },
    { "a-b", 0 },
    { "a b", 0 },
    { " a", 0 },
    { "a.b", 0 },
    { "a;", 0 },
    { "a'", 0 },
    { "a\"", 0 },
    { "a%", 0 },                /* would be an apr_dbd format */
    { "a@", 0 },
    { "\xc3\xa9", 0 },          /* é */
    { "a\xc3\xa9", 0 },
    { NULL, 0 },
};

START_TEST(sql_prefix_table)
{
    const char *err = prof_sql_prefix_error(prefix_cases[_i].prefix);

    if (prefix_cases[_i].valid) {
        ck_assert_msg(err == NULL, "\"%s\": %s", prefix_cases[_i].prefix,
                      err);
    }
    else {
        ck_assert_msg(err != NULL && *err, "\"%s\" accepted",
                      prefix_cases[_i].prefix ? prefix_cases[_i].prefix
                                              : "(null)");
    }
}
END_TEST

START_TEST(sql_migration_bounds)
{
    static const int outside[] = { -1, INT_MIN, PROF_SQL_SCHEMA_VERSION,
                                   PROF_SQL_SCHEMA_VERSION + 1, INT_MAX };
    prof_sql_dialect_t d = _i ? PROF_SQL_PGSQL : PROF_SQL_SQLITE;
    int i;

    for (i = 0; i < N_OF(outside); ++i) {
        ck_assert_ptr_null(prof_sql_migration(unit_pool, d, "p_",
                                              outside[i]));
    }
    for (i = 0; i < PROF_SQL_SCHEMA_VERSION; ++i) {
        const char **m = prof_sql_migration(unit_pool, d, "p_", i);

        ck_assert_ptr_nonnull(m);
        ck_assert_ptr_nonnull(m[0]);
    }
}
END_TEST

/* ------------------------------------------------------------- dialects */

/* Does any statement of migration from contain s? */
static int migration_has(prof_sql_dialect_t d, const char *prefix, int from,
                         const char *s)
{
    const char **m = prof_sql_migration(unit_pool, d, prefix, from);

    for (; m && *m; ++m) {
        if (strstr(*m, s)) {
            return 1;
        }
    }
    return 0;
}

START_TEST(sql_dialect_texts)
{
    const char *prefix = prefixes[_i];
    const char *sq = prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                   PROF_STMT_ROLLUP_SELECT);
    const char *pg = prof_sql_stmt(unit_pool, PROF_SQL_PGSQL, prefix,
                                   PROF_STMT_ROLLUP_SELECT);
    const char *lock;
    int which, from;

    /* PostgreSQL locks the rollup row it merges into; SQLite has no such
     * clause (and holds the database lock anyway). */
    ck_assert_ptr_nonnull(strstr(pg, "FOR UPDATE"));
    ck_assert_ptr_null(strstr(sq, "FOR UPDATE"));
    ck_assert_int_eq(migration_has(PROF_SQL_PGSQL, prefix, 0, "BIGSERIAL"), 1);
    for (from = 0; from < PROF_SQL_SCHEMA_VERSION; ++from) {
        ck_assert_int_eq(migration_has(PROF_SQL_SQLITE, prefix, from,
                                       "BIGSERIAL"), 0);
        ck_assert_int_eq(migration_has(PROF_SQL_SQLITE, prefix, from,
                                       "FOR UPDATE"), 0);
    }

    /* The store binds the same arrays in both dialects. */
    for (which = 0; which < PROF_STMT_COUNT; ++which) {
        conv_t a = convert(prof_sql_stmt(unit_pool, PROF_SQL_SQLITE, prefix,
                                         (prof_sql_stmt_t)which));
        conv_t b = convert(prof_sql_stmt(unit_pool, PROF_SQL_PGSQL, prefix,
                                         (prof_sql_stmt_t)which));

        ck_assert_str_eq(a.types, stmt_spec[which].types);
        ck_assert_str_eq(b.types, stmt_spec[which].types);
    }
    ck_assert_str_eq(convert(prof_sql_schema_set(unit_pool, PROF_SQL_PGSQL,
                                                 prefix, 2)).types, "L");

    /* Only PostgreSQL takes the advisory lock, named after the tables. */
    ck_assert_ptr_null(prof_sql_migration_lock(unit_pool, PROF_SQL_SQLITE,
                                               prefix));
    lock = prof_sql_migration_lock(unit_pool, PROF_SQL_PGSQL, prefix);
    ck_assert_ptr_nonnull(lock);
    ck_assert_ptr_nonnull(strstr(lock, apr_pstrcat(unit_pool, "'", prefix,
                                                   "schema'", NULL)));
    check_raw(lock);
    ck_assert_ptr_null(prof_sql_connection_setup(PROF_SQL_PGSQL)[0]);
    ck_assert_ptr_nonnull(prof_sql_connection_setup(PROF_SQL_SQLITE)[0]);
}
END_TEST

/* Every text of both dialects has its prefix in place: no '@' left. */
START_TEST(sql_no_placeholder_left)
{
    const char *prefix = prefixes[_i / 2];
    prof_sql_dialect_t d = _i % 2 ? PROF_SQL_PGSQL : PROF_SQL_SQLITE;
    const char *texts[PROF_STMT_COUNT + 5];
    int n = 0, which, from, i;

    for (which = 0; which < PROF_STMT_COUNT; ++which) {
        texts[n++] = prof_sql_stmt(unit_pool, d, prefix,
                                   (prof_sql_stmt_t)which);
    }
    texts[n++] = prof_sql_schema_exists(unit_pool, d, prefix);
    texts[n++] = prof_sql_schema_get(unit_pool, d, prefix);
    texts[n++] = prof_sql_schema_set(unit_pool, d, prefix,
                                     PROF_SQL_SCHEMA_VERSION);
    texts[n++] = prof_sql_migration_lock(unit_pool, d, prefix);
    for (i = 0; i < n; ++i) {
        ck_assert_msg(texts[i] == NULL || strchr(texts[i], '@') == NULL,
                      "'@' in: %s", texts[i]);
    }
    for (from = 0; from < PROF_SQL_SCHEMA_VERSION; ++from) {
        const char **m = prof_sql_migration(unit_pool, d, prefix, from);

        for (; *m; ++m) {
            ck_assert_msg(strchr(*m, '@') == NULL, "'@' in: %s", *m);
            check_raw(*m);
        }
    }
}
END_TEST

/* Multi-row inserts: one statement writes n rows, each row's values
 * where they belong, and the statement has n times the parameters. */
START_TEST(sql_insert_rows)
{
    static const int sizes[] = { 1, 2, 3, 17, PROF_SQL_ROWS_MAX };
    const char *prefix = prefixes[_i];
    apr_int64_t now = APR_INT64_C(1700000000000000);
    apr_int64_t ids[PROF_SQL_ROWS_MAX], dur[PROF_SQL_ROWS_MAX][PROF_PHASE_COUNT];
    int status[PROF_SQL_ROWS_MAX], one = 1, zero = 0, seq[PROF_SQL_ROWS_MAX];
    const char *paths[PROF_SQL_ROWS_MAX];
    const void *args[PROF_SQL_ROWS_MAX * 30];
    sqlite3 *db = db_open();
    sqlite3_stmt *st;
    apr_int64_t next = 1;
    int z, i, k;

    migrate(db, prefix, now);
    for (z = 0; z < (int)N_OF(sizes); ++z) {
        int n = sizes[z];
        const char *sql = prof_sql_insert_rows(unit_pool, PROF_SQL_SQLITE,
                                               prefix,
                                               PROF_STMT_REQUEST_INSERT, n);

        ck_assert_ptr_nonnull(sql);
        for (i = 0; i < n; ++i) {
            const void **a = args + i * 30;

            ids[i] = next++;
            status[i] = 200 + i;
            paths[i] = apr_psprintf(unit_pool, "/p/%" APR_INT64_T_FMT,
                                    ids[i]);
            for (k = 0; k < PROF_PHASE_COUNT; ++k) {
                dur[i][k] = ids[i] * 100 + k;
            }
            a[0] = &ids[i];
            a[1] = SERVER;
            a[2] = "vh";
            a[3] = &now;
            a[4] = "GET";
            a[5] = "/p/:id";
            a[6] = paths[i];
            a[7] = NULL;
            a[8] = &status[i];
            a[9] = "HTTP/1.1";
            a[10] = &ids[i];
            a[11] = &dur[i][PROF_PHASE_TOTAL];
            a[12] = &ids[i];
            for (k = 0; k < PROF_SQL_PHASE_COLUMNS; ++k) {
                a[13 + k] = &dur[i][k];
            }
            a[13 + PROF_SQL_PHASE_COLUMNS] = &one;
            a[14 + PROF_SQL_PHASE_COLUMNS] = &zero;
            a[15 + PROF_SQL_PHASE_COLUMNS] = i % 2 ? "0,5" : NULL;
        }
        /* run() checks that SQLite sees exactly the format's parameters. */
        ck_assert_int_eq(run(db, sql, args), n);

        /* Spans: n of them for the first request of this statement. */
        sql = prof_sql_insert_rows(unit_pool, PROF_SQL_SQLITE, prefix,
                                   PROF_STMT_SPAN_INSERT, n);
        ck_assert_ptr_nonnull(sql);
        for (i = 0; i < n; ++i) {
            const void **a = args + i * 8;

            seq[i] = i;
            a[0] = &ids[0];
            a[1] = &seq[i];
            a[2] = paths[i];
            a[3] = NULL;
            a[4] = NULL;
            a[5] = &ids[i];
            a[6] = &dur[i][0];
            a[7] = &zero;
        }
        ck_assert_int_eq(run(db, sql, args), n);
    }
    /* Every row as written: path, status and phases from its own id. */
    st = query(db, apr_pstrcat(unit_pool, "SELECT id, path, status, "
                               "read_us, log_us, total_us FROM ", prefix,
                               "requests ORDER BY id", NULL), NULL);
    for (i = 1; i < next; ++i) {
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_eq(sqlite3_column_int64(st, 0), i);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 1),
                         apr_psprintf(unit_pool, "/p/%d", i));
        ck_assert_int_ge(sqlite3_column_int(st, 2), 200);
        ck_assert_int_eq(sqlite3_column_int64(st, 3),
                         (apr_int64_t)i * 100 + PROF_PHASE_READ);
        ck_assert_int_eq(sqlite3_column_int64(st, 4),
                         (apr_int64_t)i * 100 + PROF_PHASE_LOG);
        ck_assert_int_eq(sqlite3_column_int64(st, 5),
                         (apr_int64_t)i * 100 + PROF_PHASE_TOTAL);
    }
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    ck_assert_int_eq(one_value(db, apr_pstrcat(unit_pool, "SELECT count(*) "
                                               "FROM ", prefix, "spans",
                                               NULL)),
                     1 + 2 + 3 + 17 + PROF_SQL_ROWS_MAX);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}
END_TEST

/* The sizes and statements that have no multi-row form. */
START_TEST(sql_insert_rows_bounds)
{
    prof_sql_dialect_t d = _i ? PROF_SQL_PGSQL : PROF_SQL_SQLITE;
    const char *sql;
    int which, n, count;

    ck_assert_ptr_null(prof_sql_insert_rows(unit_pool, d, "p_",
                                            PROF_STMT_REQUEST_INSERT, 0));
    ck_assert_ptr_null(prof_sql_insert_rows(unit_pool, d, "p_",
                                            PROF_STMT_SPAN_INSERT,
                                            PROF_SQL_ROWS_MAX + 1));
    for (which = 0; which < PROF_STMT_COUNT; ++which) {
        if (which != PROF_STMT_REQUEST_INSERT
            && which != PROF_STMT_SPAN_INSERT) {
            ck_assert_ptr_null(prof_sql_insert_rows(unit_pool, d, "p_",
                                                    which, 2));
        }
    }
    /* One row is the single-row statement itself. */
    ck_assert_str_eq(prof_sql_insert_rows(unit_pool, d, "p_",
                                          PROF_STMT_SPAN_INSERT, 1),
                     prof_sql_stmt(unit_pool, d, "p_",
                                   PROF_STMT_SPAN_INSERT));
    /* n tuples, and 30 parameters each. */
    sql = prof_sql_insert_rows(unit_pool, d, "p_", PROF_STMT_REQUEST_INSERT,
                               PROF_SQL_ROWS_MAX);
    for (n = 0, count = 0; (sql = strstr(sql, "%")) != NULL; ++sql) {
        ++count;
    }
    ck_assert_int_eq(count, 30 * PROF_SQL_ROWS_MAX);
    sql = prof_sql_insert_rows(unit_pool, d, "p_", PROF_STMT_REQUEST_INSERT,
                               PROF_SQL_ROWS_MAX);
    for (; (sql = strstr(sql, "), (")) != NULL; ++sql) {
        ++n;
    }
    ck_assert_int_eq(n, PROF_SQL_ROWS_MAX - 1);
}
END_TEST

Suite *prof_sql_suite(void)
{
    Suite *s = suite_create("prof_sql");
    TCase *tc;

    tc = tcase_create("sqlite");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, sql_migrate_and_prepare, 0, N_OF(prefixes));
    tcase_add_loop_test(tc, sql_migrate_in_steps, 0, N_OF(prefixes));
    tcase_add_loop_test(tc, sql_migrate_3_to_4_keeps_rows, 0,
                        N_OF(prefixes));
    tcase_add_loop_test(tc, sql_retention_statements, 0, N_OF(prefixes));
    tcase_add_loop_test(tc, sql_round_trip, 0, N_OF(prefixes));
    tcase_add_loop_test(tc, sql_insert_rows, 0, N_OF(prefixes));
    suite_add_tcase(s, tc);

    tc = tcase_create("text");
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, sql_dialect_table, 0, N_OF(dialect_cases));
    tcase_add_loop_test(tc, sql_prefix_table, 0, N_OF(prefix_cases));
    tcase_add_loop_test(tc, sql_migration_bounds, 0, 2);
    tcase_add_loop_test(tc, sql_dialect_texts, 0, N_OF(prefixes));
    tcase_add_loop_test(tc, sql_no_placeholder_left, 0, 2 * N_OF(prefixes));
    tcase_add_loop_test(tc, sql_insert_rows_bounds, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
