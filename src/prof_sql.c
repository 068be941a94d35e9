/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_strings.h"
#include "apr_tables.h"

#include "prof_sql.h"

int prof_sql_dialect(const char *driver_name)
{
    if (driver_name == NULL) {
        return -1;
    }
    if (!strcmp(driver_name, "sqlite3")) {
        return PROF_SQL_SQLITE;
    }
    if (!strcmp(driver_name, "pgsql")) {
        return PROF_SQL_PGSQL;
    }
    return -1;
}

const char *prof_sql_prefix_error(const char *prefix)
{
    const char *c;

    if (prefix == NULL) {
        return "no prefix";
    }
    if (strlen(prefix) > PROF_SQL_PREFIX_MAX) {
        return "longer than 32 bytes";
    }
    for (c = prefix; *c; ++c) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
                 || *c == '_' || (c > prefix && *c >= '0' && *c <= '9');
        if (!ok) {
            return "only letters, digits and '_', not starting with a digit";
        }
    }
    return NULL;
}

/* Statement templates: "@" stands for the table prefix, so that SQL keeps
 * its '%' for apr_dbd's parameters. Per dialect where they differ. */

#define PHASE_COLS "read_us, postread_us, quick_us, translate_us, " \
    "storage_us, headers_us, access_us, authn_us, authz_us, type_us, " \
    "fixups_us, handler_us, body_us, log_us"
#define PHASE_SUM_COLS "read_sum_us, postread_sum_us, quick_sum_us, " \
    "translate_sum_us, storage_sum_us, headers_sum_us, access_sum_us, " \
    "authn_sum_us, authz_sum_us, type_sum_us, fixups_sum_us, " \
    "handler_sum_us, body_sum_us, log_sum_us"
#define P14 "%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, " \
    "%lld, %lld, %lld, %lld"
#define ROLLUP_KEY "minute_us = %lld AND server = %s AND vhost = %s " \
    "AND route = %s AND method = %s AND status_class = %d"

static const char *const stmt_common[PROF_STMT_COUNT] = {
    /* PROF_STMT_WRITER_INSERT */
    "INSERT INTO @writers (server, pid, nonce, started_us, last_write_us, "
    "rows_written, rows_dropped, rows_failed) "
    "VALUES (%s, %d, %lld, %lld, %lld, 0, 0, 0)",
    /* PROF_STMT_WRITER_SELECT */
    "SELECT id FROM @writers WHERE nonce = %lld AND server = %s AND pid = %d",
    /* PROF_STMT_WRITER_UPDATE */
    "UPDATE @writers SET last_write_us = %lld, rows_written = %lld, "
    "rows_dropped = %lld, rows_failed = %lld WHERE id = %lld",
    /* PROF_STMT_REQUEST_INSERT */
    "INSERT INTO @requests (id, server, vhost, start_us, method, route, "
    "path, query, status, protocol, bytes_sent, total_us, ttfb_us, "
    PHASE_COLS ", weight, spans_dropped, phase_starts) VALUES (%lld, %s, "
    "%s, %lld, %s, %s, %s, %s, %d, %s, %lld, %lld, %lld, " P14 ", %d, %d, "
    "%s)",
    /* PROF_STMT_SPAN_INSERT */
    "INSERT INTO @spans (request_id, seq, name, description, parent, "
    "start_us, dur_us, metric) VALUES (%lld, %d, %s, %s, %d, %lld, %lld, %d)",
    /* PROF_STMT_PROFILE_INSERT */
    "INSERT INTO @profiles (request_id, format, data) VALUES (%lld, %s, %s)",
    /* PROF_STMT_MODULE_INSERT */
    "INSERT INTO @modules (request_id, phase, module, calls, dur_us) "
    "VALUES (%lld, %s, %s, %d, %lld)",
    /* PROF_STMT_ROLLUP_ENSURE */
    "INSERT INTO @rollups (minute_us, server, vhost, route, method, "
    "status_class, count, samples, sum_us, min_us, max_us, ttfb_sum_us, "
    "bytes_sum, " PHASE_SUM_COLS ", hist) VALUES (%lld, %s, %s, %s, %s, %d, "
    "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '') "
    "ON CONFLICT (minute_us, server, vhost, route, method, status_class) "
    "DO NOTHING",
    /* PROF_STMT_ROLLUP_SELECT (the dialects differ: see below) */
    NULL,
    /* PROF_STMT_ROLLUP_UPDATE */
    "UPDATE @rollups SET count = %lld, samples = %lld, sum_us = %lld, "
    "min_us = %lld, max_us = %lld, ttfb_sum_us = %lld, bytes_sum = %lld, "
    "read_sum_us = %lld, postread_sum_us = %lld, quick_sum_us = %lld, "
    "translate_sum_us = %lld, storage_sum_us = %lld, headers_sum_us = %lld, "
    "access_sum_us = %lld, authn_sum_us = %lld, authz_sum_us = %lld, "
    "type_sum_us = %lld, fixups_sum_us = %lld, handler_sum_us = %lld, "
    "body_sum_us = %lld, log_sum_us = %lld, hist = %s WHERE " ROLLUP_KEY
};

#define ROLLUP_SELECT "SELECT count, samples, sum_us, min_us, max_us, " \
    "ttfb_sum_us, bytes_sum, " PHASE_SUM_COLS ", hist FROM @rollups " \
    "WHERE " ROLLUP_KEY

/* Replace every '@' of tmpl by prefix. */
static const char *expand(apr_pool_t *p, const char *tmpl, const char *prefix)
{
    apr_size_t n = 0, plen = strlen(prefix), len = strlen(tmpl);
    const char *c;
    char *out, *o;

    for (c = tmpl; *c; ++c) {
        n += *c == '@';
    }
    o = out = apr_palloc(p, len + n * plen + 1);
    for (c = tmpl; *c; ++c) {
        if (*c == '@') {
            memcpy(o, prefix, plen);
            o += plen;
        }
        else {
            *o++ = *c;
        }
    }
    *o = '\0';
    return out;
}

/* s with every "from" replaced by "to". */
static const char *replace_all(apr_pool_t *p, const char *s, const char *from,
                               const char *to)
{
    const char *at;
    char *out = "";

    while ((at = strstr(s, from)) != NULL) {
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, s, (apr_size_t)(at - s)),
                          to, NULL);
        s = at + strlen(from);
    }
    return apr_pstrcat(p, out, s, NULL);
}

const char *prof_sql_stmt(apr_pool_t *p, prof_sql_dialect_t d,
                          const char *prefix, prof_sql_stmt_t which)
{
    if ((int)which < 0 || which >= PROF_STMT_COUNT) {
        return NULL;
    }
    if (which >= PROF_STMT_HOUR_ENSURE) {
        /* The hourly table has the minute table's columns, but for the
         * first one's name. */
        const char *m = prof_sql_stmt(p, d, "@", which - PROF_STMT_HOUR_ENSURE
                                              + PROF_STMT_ROLLUP_ENSURE);

        m = replace_all(p, m, "minute_us", "hour_us");
        m = replace_all(p, m, "@rollups ", "@rollups_hour ");
        return expand(p, m, prefix);
    }
    if (which == PROF_STMT_ROLLUP_SELECT) {
        /* PostgreSQL: lock the row, so that two servers merging into one
         * minute take turns. SQLite's writer holds the database lock. */
        return expand(p, d == PROF_SQL_PGSQL ? ROLLUP_SELECT " FOR UPDATE"
                                             : ROLLUP_SELECT, prefix);
    }
    return expand(p, stmt_common[which], prefix);
}

const char *prof_sql_insert_rows(apr_pool_t *p, prof_sql_dialect_t d,
                                 const char *prefix, prof_sql_stmt_t which,
                                 int nrows)
{
    const char *one, *tuple;
    apr_size_t head, tlen;
    char *out, *o;
    int i;

    if ((which != PROF_STMT_REQUEST_INSERT && which != PROF_STMT_SPAN_INSERT)
        || nrows < 1 || nrows > PROF_SQL_ROWS_MAX) {
        return NULL;
    }
    one = prof_sql_stmt(p, d, prefix, which);
    if (nrows == 1) {
        return one;
    }
    /* "INSERT INTO t (...) VALUES " then "(...)" once per row. */
    tuple = strstr(one, "VALUES (") + strlen("VALUES ");
    head = (apr_size_t)(tuple - one);
    tlen = strlen(tuple);
    o = out = apr_palloc(p, head + (apr_size_t)nrows * (tlen + 2) + 1);
    memcpy(o, one, head);
    o += head;
    for (i = 0; i < nrows; ++i) {
        if (i) {
            *o++ = ',';
            *o++ = ' ';
        }
        memcpy(o, tuple, tlen);
        o += tlen;
    }
    *o = '\0';
    return out;
}

/* Migrations. Types: BIGINT is 64-bit in both dialects; SQLite's INTEGER
 * PRIMARY KEY is its rowid, PostgreSQL's BIGSERIAL a sequence. */

static const char *const v1_sqlite[] = {
    "CREATE TABLE IF NOT EXISTS @schema (id INTEGER PRIMARY KEY "
    "CHECK (id = 1), version INTEGER NOT NULL, hist_layout INTEGER NOT NULL, "
    "updated_us BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS @writers (id INTEGER PRIMARY KEY "
    "AUTOINCREMENT, server TEXT NOT NULL, pid INTEGER NOT NULL, "
    "nonce BIGINT NOT NULL, started_us BIGINT NOT NULL, "
    "last_write_us BIGINT NOT NULL, rows_written BIGINT NOT NULL, "
    "rows_dropped BIGINT NOT NULL, rows_failed BIGINT NOT NULL)",
    NULL
};

static const char *const v1_pgsql[] = {
    "CREATE TABLE IF NOT EXISTS @schema (id INTEGER PRIMARY KEY "
    "CHECK (id = 1), version INTEGER NOT NULL, hist_layout INTEGER NOT NULL, "
    "updated_us BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS @writers (id BIGSERIAL PRIMARY KEY, "
    "server TEXT NOT NULL, pid INTEGER NOT NULL, nonce BIGINT NOT NULL, "
    "started_us BIGINT NOT NULL, last_write_us BIGINT NOT NULL, "
    "rows_written BIGINT NOT NULL, rows_dropped BIGINT NOT NULL, "
    "rows_failed BIGINT NOT NULL)",
    NULL
};

/* The same in both dialects from here on, but for the first words of two
 * tables: in SQLite, "INTEGER PRIMARY KEY" makes the id the table's own
 * 64-bit rowid (BIGINT PRIMARY KEY would add an index to every insert),
 * and the spans need no rowid beside their key. "@ID" and "@NOROWID" stand
 * for the dialect's words. */
static const char *const v1_common[] = {
    "CREATE TABLE IF NOT EXISTS @requests (id @ID PRIMARY KEY, "
    "server TEXT NOT NULL, vhost TEXT NOT NULL, start_us BIGINT NOT NULL, "
    "method TEXT NOT NULL, route TEXT NOT NULL, path TEXT NOT NULL, "
    "query TEXT, status INTEGER NOT NULL, protocol TEXT NOT NULL, "
    "bytes_sent BIGINT NOT NULL, total_us BIGINT NOT NULL, "
    "ttfb_us BIGINT NOT NULL, read_us BIGINT NOT NULL, "
    "postread_us BIGINT NOT NULL, quick_us BIGINT NOT NULL, "
    "translate_us BIGINT NOT NULL, storage_us BIGINT NOT NULL, "
    "headers_us BIGINT NOT NULL, access_us BIGINT NOT NULL, "
    "authn_us BIGINT NOT NULL, authz_us BIGINT NOT NULL, "
    "type_us BIGINT NOT NULL, fixups_us BIGINT NOT NULL, "
    "handler_us BIGINT NOT NULL, body_us BIGINT NOT NULL, "
    "log_us BIGINT NOT NULL, weight INTEGER NOT NULL, "
    "spans_dropped INTEGER NOT NULL)",
    /* Time ranges and retention; a route's requests. Every index is work
     * for each insert, so there are no more: lists sorted otherwise sort
     * the rows of their time range. */
    "CREATE INDEX IF NOT EXISTS @requests_start ON @requests (start_us)",
    "CREATE INDEX IF NOT EXISTS @requests_route ON @requests (route, start_us)",
    "CREATE TABLE IF NOT EXISTS @spans (request_id BIGINT NOT NULL, "
    "seq INTEGER NOT NULL, name TEXT NOT NULL, description TEXT, "
    "parent INTEGER, start_us BIGINT NOT NULL, dur_us BIGINT NOT NULL, "
    "metric INTEGER NOT NULL, PRIMARY KEY (request_id, seq))@NOROWID",
    NULL
};

static const char *const v2_common[] = {
    "CREATE TABLE IF NOT EXISTS @rollups (minute_us BIGINT NOT NULL, "
    "server TEXT NOT NULL, vhost TEXT NOT NULL, route TEXT NOT NULL, "
    "method TEXT NOT NULL, status_class INTEGER NOT NULL, "
    "count BIGINT NOT NULL, samples BIGINT NOT NULL, sum_us BIGINT NOT NULL, "
    "min_us BIGINT NOT NULL, max_us BIGINT NOT NULL, "
    "ttfb_sum_us BIGINT NOT NULL, bytes_sum BIGINT NOT NULL, "
    "read_sum_us BIGINT NOT NULL, postread_sum_us BIGINT NOT NULL, "
    "quick_sum_us BIGINT NOT NULL, translate_sum_us BIGINT NOT NULL, "
    "storage_sum_us BIGINT NOT NULL, headers_sum_us BIGINT NOT NULL, "
    "access_sum_us BIGINT NOT NULL, authn_sum_us BIGINT NOT NULL, "
    "authz_sum_us BIGINT NOT NULL, type_sum_us BIGINT NOT NULL, "
    "fixups_sum_us BIGINT NOT NULL, handler_sum_us BIGINT NOT NULL, "
    "body_sum_us BIGINT NOT NULL, log_sum_us BIGINT NOT NULL, "
    "hist TEXT NOT NULL, "
    "PRIMARY KEY (minute_us, server, vhost, route, method, status_class))",
    /* Summaries by route over a time range. */
    "CREATE INDEX IF NOT EXISTS @rollups_route ON @rollups (route, minute_us)",
    NULL
};

/* Schema 3: the hourly rollups. */
#define HOUR_TABLE \
    "CREATE TABLE IF NOT EXISTS @rollups_hour (hour_us BIGINT NOT NULL, " \
    "server TEXT NOT NULL, vhost TEXT NOT NULL, route TEXT NOT NULL, " \
    "method TEXT NOT NULL, status_class INTEGER NOT NULL, " \
    "count BIGINT NOT NULL, samples BIGINT NOT NULL, sum_us BIGINT NOT NULL, " \
    "min_us BIGINT NOT NULL, max_us BIGINT NOT NULL, " \
    "ttfb_sum_us BIGINT NOT NULL, bytes_sum BIGINT NOT NULL, " \
    "read_sum_us BIGINT NOT NULL, postread_sum_us BIGINT NOT NULL, " \
    "quick_sum_us BIGINT NOT NULL, translate_sum_us BIGINT NOT NULL, " \
    "storage_sum_us BIGINT NOT NULL, headers_sum_us BIGINT NOT NULL, " \
    "access_sum_us BIGINT NOT NULL, authn_sum_us BIGINT NOT NULL, " \
    "authz_sum_us BIGINT NOT NULL, type_sum_us BIGINT NOT NULL, " \
    "fixups_sum_us BIGINT NOT NULL, handler_sum_us BIGINT NOT NULL, " \
    "body_sum_us BIGINT NOT NULL, log_sum_us BIGINT NOT NULL, " \
    "hist TEXT NOT NULL, " \
    "PRIMARY KEY (hour_us, server, vhost, route, method, status_class))", \
    "CREATE INDEX IF NOT EXISTS @rollups_hour_route ON @rollups_hour " \
    "(route, hour_us)"

static const char *const v3_common[] = {
    HOUR_TABLE,
    NULL
};

/* Schema 4: when each phase started (prof_row_phase_starts()). */
static const char *const v4_common[] = {
    "ALTER TABLE @requests ADD COLUMN phase_starts TEXT",
    NULL
};

/* Schema 5: profiles of requests (issue 12). A request has at most one;
 * its data is text of up to PROF_ROW_PROFILE_MAX bytes, so in SQLite the
 * key is the rowid (a WITHOUT ROWID table suits small rows only). */
static const char *const v5_common[] = {
    "CREATE TABLE IF NOT EXISTS @profiles (request_id @ID PRIMARY KEY, "
    "format TEXT NOT NULL, data TEXT NOT NULL)",
    NULL
};

/* Schema 6: module times of stored requests (issue 14). A few rows per
 * request, looked up by request: keyed by it, no rowid in SQLite. */
static const char *const v6_common[] = {
    "CREATE TABLE IF NOT EXISTS @modules (request_id BIGINT NOT NULL, "
    "phase TEXT NOT NULL, module TEXT NOT NULL, calls INTEGER NOT NULL, "
    "dur_us BIGINT NOT NULL, PRIMARY KEY (request_id, phase, module))"
    "@NOROWID",
    NULL
};

/* Replace each @ID and @NOROWID of s (already prefixed) for dialect d. */
static const char *dialect_words(apr_pool_t *p, const char *s,
                                 prof_sql_dialect_t d)
{
    const char *id = d == PROF_SQL_PGSQL ? "BIGINT" : "INTEGER";
    const char *norowid = d == PROF_SQL_PGSQL ? "" : " WITHOUT ROWID";
    const char *at;

    while ((at = strstr(s, "@ID")) != NULL) {
        s = apr_pstrcat(p, apr_pstrmemdup(p, s, (apr_size_t)(at - s)), id,
                        at + 3, NULL);
    }
    while ((at = strstr(s, "@NOROWID")) != NULL) {
        s = apr_pstrcat(p, apr_pstrmemdup(p, s, (apr_size_t)(at - s)),
                        norowid, at + 8, NULL);
    }
    return s;
}

static void append(apr_array_header_t *out, apr_pool_t *p,
                   const char *const *list, const char *prefix,
                   prof_sql_dialect_t d)
{
    for (; *list; ++list) {
        /* The dialect's words first: expand() would take "@ID" for a
         * prefixed name. */
        *(const char **)apr_array_push(out) =
            expand(p, dialect_words(p, *list, d), prefix);
    }
}

const char **prof_sql_migration(apr_pool_t *p, prof_sql_dialect_t d,
                                const char *prefix, int from)
{
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(const char *));

    switch (from) {
    case 0:
        append(out, p, d == PROF_SQL_PGSQL ? v1_pgsql : v1_sqlite, prefix, d);
        append(out, p, v1_common, prefix, d);
        break;
    case 1:
        append(out, p, v2_common, prefix, d);
        break;
    case 2:
        append(out, p, v3_common, prefix, d);
        break;
    case 3:
        append(out, p, v4_common, prefix, d);
        break;
    case 4:
        append(out, p, v5_common, prefix, d);
        break;
    case 5:
        append(out, p, v6_common, prefix, d);
        break;
    default:
        return NULL;
    }
    *(const char **)apr_array_push(out) = NULL;
    return (const char **)out->elts;
}

const char *prof_sql_schema_exists(apr_pool_t *p, prof_sql_dialect_t d,
                                   const char *prefix)
{
    if (d == PROF_SQL_PGSQL) {
        return apr_pstrcat(p, "SELECT CASE WHEN to_regclass('", prefix,
                           "schema') IS NULL THEN 0 ELSE 1 END", NULL);
    }
    return apr_pstrcat(p, "SELECT count(*) FROM sqlite_master WHERE "
                       "type = 'table' AND name = '", prefix, "schema'", NULL);
}

/* Retention. The oldest requests go first, in batches chosen through the
 * start_us index; spans before their requests, by the same choice. */
#define OLDEST "SELECT id FROM @requests WHERE start_us < %lld " \
    "ORDER BY start_us LIMIT %d"

static const char *const retention[PROF_RET_COUNT] = {
    /* PROF_RET_OLDEST_REQUEST: the first entry of the start_us index */
    "SELECT min(start_us) FROM @requests",
    /* PROF_RET_DELETE_SPANS */
    "DELETE FROM @spans WHERE request_id IN (" OLDEST ")",
    /* PROF_RET_DELETE_PROFILES */
    "DELETE FROM @profiles WHERE request_id IN (" OLDEST ")",
    /* PROF_RET_DELETE_MODULES */
    "DELETE FROM @modules WHERE request_id IN (" OLDEST ")",
    /* PROF_RET_DELETE_REQUESTS */
    "DELETE FROM @requests WHERE id IN (" OLDEST ")",
    /* PROF_RET_COUNT_REQUESTS */
    "SELECT count(*) FROM @requests",
    /* PROF_RET_ROWS_WRITTEN */
    "SELECT sum(rows_written) FROM @writers",
    /* PROF_RET_OLDEST_MINUTE: the first entry of the primary key */
    "SELECT min(minute_us) FROM @rollups",
    /* PROF_RET_DELETE_MINUTES */
    "DELETE FROM @rollups WHERE minute_us < %lld",
    /* PROF_RET_OLDEST_HOUR */
    "SELECT min(hour_us) FROM @rollups_hour",
    /* PROF_RET_DELETE_HOURS */
    "DELETE FROM @rollups_hour WHERE hour_us < %lld",
    /* PROF_RET_OLDEST_WRITE: a few rows */
    "SELECT min(last_write_us) FROM @writers",
    /* PROF_RET_DELETE_WRITERS */
    "DELETE FROM @writers WHERE last_write_us < %lld"
};

const char *prof_sql_retention(apr_pool_t *p, const char *prefix,
                               prof_sql_retention_t which)
{
    if ((int)which < 0 || which >= PROF_RET_COUNT) {
        return NULL;
    }
    return expand(p, retention[which], prefix);
}

const char *prof_sql_hourly_first(apr_pool_t *p, const char *prefix)
{
    return apr_pstrcat(p, "SELECT min(hour_us) FROM ", prefix,
                       "rollups_hour", NULL);
}

const char *prof_sql_schema_get(apr_pool_t *p, prof_sql_dialect_t d,
                                const char *prefix)
{
    (void)d;
    return apr_pstrcat(p, "SELECT version, hist_layout FROM ", prefix,
                       "schema WHERE id = 1", NULL);
}

const char *prof_sql_schema_set(apr_pool_t *p, prof_sql_dialect_t d,
                                const char *prefix, int to)
{
    (void)d;
    return apr_psprintf(p, "INSERT INTO %sschema (id, version, hist_layout, "
                        "updated_us) VALUES (1, %d, %d, %%lld) "
                        "ON CONFLICT (id) DO UPDATE SET version = "
                        "excluded.version, hist_layout = excluded.hist_layout, "
                        "updated_us = excluded.updated_us",
                        prefix, to, PROF_SQL_HIST_LAYOUT);
}

const char *prof_sql_migration_lock(apr_pool_t *p, prof_sql_dialect_t d,
                                    const char *prefix)
{
    if (d != PROF_SQL_PGSQL) {
        return NULL;
    }
    return apr_pstrcat(p, "SELECT pg_advisory_xact_lock(hashtext('",
                       prefix, "schema'))", NULL);
}

const char *prof_sql_begin(prof_sql_dialect_t d)
{
    return d == PROF_SQL_SQLITE ? "BEGIN IMMEDIATE" : "BEGIN";
}

const char *prof_sql_end(int commit)
{
    return commit ? "COMMIT" : "ROLLBACK";
}

const char *const *prof_sql_connection_setup(prof_sql_dialect_t d)
{
    /* WAL lets readers (the report) work while a writer writes, and
     * several processes write one file; NORMAL syncs at checkpoints, not
     * at every commit, which WAL makes safe against corruption (a power
     * cut can lose the last batches, never the file). The busy timeout
     * makes a writer wait for another instead of failing at once; it is
     * short because apr_dbd's SQLite driver retries a busy statement 15
     * times itself, 100 ms apart: together some 5 s, far longer than any
     * batch of another writer holds the lock. */
    static const char *const sqlite[] = {
        "PRAGMA busy_timeout = 200",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        NULL
    };
    static const char *const none[] = { NULL };

    return d == PROF_SQL_SQLITE ? sqlite : none;
}
