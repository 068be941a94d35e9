/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_sql.h
 * @brief The measurement store's schema and statements, for each SQL
 *        dialect: the one place where SQL text is written.
 *
 * Tables (prefix "profiler_" unless ProfilerStoreTablePrefix says
 * otherwise; the README documents every column):
 *
 *   schema    one row: the schema version and the histogram layout
 *   writers   one row per writer (a child process of a server): the id
 *             that request ids start with, and its counters
 *   requests  one row per stored request; id = writer id * 2^32 + sequence
 *   spans     the spans of stored requests, (request_id, seq)
 *   rollups   per-minute aggregates, one row per (minute, server, vhost,
 *             route, method, status class)
 *   rollups_hour  the same per hour (schema 3): summaries of long ranges
 *             read 60 times fewer rows. The first hour in the table may be
 *             partial (the table was created, or a writer began, within
 *             it); every hour after it is complete, since writers write
 *             both tables in one transaction. So readers take whole hours
 *             after the first one from here, the rest from the minutes
 *             (prof_sql_hourly_first()), and a database that had minute
 *             rollups before schema 3 needs no backfill.
 *
 * Schema 4 adds requests.phase_starts: when each phase was first entered
 * (prof_row_phase_starts()), NULL for rows written before.
 *
 * Schema 5 adds profiles: a request's CPU/wall-clock profile (issue 12),
 * (request_id, format, data), format "stacks1" for the text of
 * prof_stacks_text_write(). Written in the transaction of its request's
 * row, deleted with it by retention. Since schema 5 a request's id may
 * also be given out in advance (prof_store_new_id()), from the same range
 * of its writer: id = writer id * 2^32 + sequence still holds.
 *
 * Schema 6 adds modules: a stored request's time per module and phase
 * (ProfilerModuleTiming, issue 14), (request_id, phase, module, calls,
 * dur_us), phase a canonical name or "filter" for an output filter.
 * Written in the transaction of its request's row, deleted with it.
 *
 * Versions. The schema row says which of the migrations below have run;
 * a writer runs the missing ones, in order, in one transaction (under an
 * advisory lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), so any number
 * of children and servers can start against one database at once. A
 * database newer than this code is left alone and not written.
 *
 * Statements are apr_dbd format strings for apr_dbd_prepare(): %lld is an
 * apr_int64_t, %d an int, %s a string, each passed by pointer to
 * apr_dbd_pbquery()/pbselect(). Values are never written into the text.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_SQL_H
#define PROF_SQL_H

#include "apr.h"
#include "apr_pools.h"

/** The schema version this code writes. */
#define PROF_SQL_SCHEMA_VERSION 6

/** The histogram layout of the rollups' hist column (prof_hist.h). */
#define PROF_SQL_HIST_LAYOUT 1

/** The longest table prefix accepted. */
#define PROF_SQL_PREFIX_MAX 32

/** The default table prefix. */
#define PROF_SQL_DEFAULT_PREFIX "profiler_"

typedef enum {
    PROF_SQL_SQLITE = 0,
    PROF_SQL_PGSQL = 1
} prof_sql_dialect_t;

/** The dialect of an apr_dbd driver name ("sqlite3", "pgsql"); -1 for
 * drivers the store does not speak. */
int prof_sql_dialect(const char *driver_name);

/** NULL if prefix is a valid table prefix ([A-Za-z_][A-Za-z0-9_]*, at most
 * PROF_SQL_PREFIX_MAX bytes, "" allowed), else why not. */
const char *prof_sql_prefix_error(const char *prefix);

/** The statements of the store, by number. */
typedef enum {
    PROF_STMT_WRITER_INSERT = 0,    /* server, pid, nonce, now, now */
    PROF_STMT_WRITER_SELECT,        /* nonce, server, pid -> id */
    PROF_STMT_WRITER_UPDATE,        /* now, written, dropped, failed, id */
    PROF_STMT_REQUEST_INSERT,       /* see prof_sql.c */
    PROF_STMT_SPAN_INSERT,
    PROF_STMT_PROFILE_INSERT,       /* request_id, format, data */
    PROF_STMT_MODULE_INSERT,        /* request_id, phase, module, calls,
                                       dur_us */
    PROF_STMT_ROLLUP_ENSURE,        /* key */
    PROF_STMT_ROLLUP_SELECT,        /* key -> scalars, hist */
    PROF_STMT_ROLLUP_UPDATE,        /* scalars, hist, key */
    PROF_STMT_HOUR_ENSURE,          /* the same three for rollups_hour, */
    PROF_STMT_HOUR_SELECT,          /* keyed by hour_us */
    PROF_STMT_HOUR_UPDATE,
    PROF_STMT_COUNT
} prof_sql_stmt_t;

/** The text of statement which for dialect d and prefix, in p. */
const char *prof_sql_stmt(apr_pool_t *p, prof_sql_dialect_t d,
                          const char *prefix, prof_sql_stmt_t which);

/** The most rows one multi-row INSERT writes: 32 requests are 960
 * parameters, under the 999 that older SQLite builds allow. */
#define PROF_SQL_ROWS_MAX 32

/**
 * PROF_STMT_REQUEST_INSERT or PROF_STMT_SPAN_INSERT for nrows rows at once
 * (1..PROF_SQL_ROWS_MAX): one VALUES tuple per row, the parameters of each
 * row in the single-row order, row after row. A statement per row costs
 * SQLite about as much again as the row itself (opening the table and its
 * indexes, binding, halting); one per batch of rows does that once.
 * NULL for other statements or an nrows out of range.
 */
const char *prof_sql_insert_rows(apr_pool_t *p, prof_sql_dialect_t d,
                                 const char *prefix, prof_sql_stmt_t which,
                                 int nrows);

/**
 * The statements that migrate a database at schema version from to
 * version from + 1, as a NULL-terminated array in p; NULL when there is no
 * such migration (from >= PROF_SQL_SCHEMA_VERSION or < 0). Version 0 is an
 * empty database. The caller then writes the new version with
 * prof_sql_schema_set().
 */
const char **prof_sql_migration(apr_pool_t *p, prof_sql_dialect_t d,
                                const char *prefix, int from);

/** A query giving one row with one column: 1 when the schema table exists,
 * else 0. */
const char *prof_sql_schema_exists(apr_pool_t *p, prof_sql_dialect_t d,
                                   const char *prefix);

/** A query giving the first hour in the hourly rollups (NULL when there
 * is none): the hours after it are complete. */
const char *prof_sql_hourly_first(apr_pool_t *p, const char *prefix);

/** A query giving the schema row: version, hist_layout. */
const char *prof_sql_schema_get(apr_pool_t *p, prof_sql_dialect_t d,
                                const char *prefix);

/** A statement that records version to and the current histogram layout
 * (an upsert of the one row), with a %lld parameter for the time now. */
const char *prof_sql_schema_set(apr_pool_t *p, prof_sql_dialect_t d,
                                const char *prefix, int to);

/** What to run first in a migration transaction: PostgreSQL's advisory
 * lock, so that concurrent servers migrate one after the other; NULL for
 * SQLite (BEGIN IMMEDIATE serializes already). */
const char *prof_sql_migration_lock(apr_pool_t *p, prof_sql_dialect_t d,
                                    const char *prefix);

/** The statement that begins a transaction: BEGIN IMMEDIATE on SQLite
 * (take the write lock now, so that a busy database is met at the start,
 * not in the middle), BEGIN on PostgreSQL. */
const char *prof_sql_begin(prof_sql_dialect_t d);

/** The statement that ends one: COMMIT when commit is non-zero, else
 * ROLLBACK. */
const char *prof_sql_end(int commit);

/** Settings for each new connection, each a query that may return a row
 * (run them with a select); NULL-terminated; none for PostgreSQL. */
const char *const *prof_sql_connection_setup(prof_sql_dialect_t d);

/** The statements of retention (mod_profiler_retention.c), by number.
 * Each first asks cheaply (through an index) whether anything is due, so
 * that a store with nothing to delete costs a few reads, no write lock. */
typedef enum {
    PROF_RET_OLDEST_REQUEST = 0,  /* -> min(start_us) */
    PROF_RET_DELETE_SPANS,        /* cutoff, limit: spans of the oldest */
    PROF_RET_DELETE_PROFILES,     /* cutoff, limit: their profiles */
    PROF_RET_DELETE_MODULES,      /* cutoff, limit: their module times */
    PROF_RET_DELETE_REQUESTS,     /* cutoff, limit: the oldest requests */
    PROF_RET_COUNT_REQUESTS,      /* -> count(*) */
    PROF_RET_ROWS_WRITTEN,        /* -> sum(rows_written) of the writers */
    PROF_RET_OLDEST_MINUTE,       /* -> min(minute_us) */
    PROF_RET_DELETE_MINUTES,      /* cutoff */
    PROF_RET_OLDEST_HOUR,         /* -> min(hour_us) */
    PROF_RET_DELETE_HOURS,        /* cutoff */
    PROF_RET_OLDEST_WRITE,        /* -> min(last_write_us) of the writers */
    PROF_RET_DELETE_WRITERS,      /* cutoff: writers gone since */
    PROF_RET_COUNT
} prof_sql_retention_t;

/** The text of retention statement which for prefix, in p; NULL for a
 * which out of range. The same in both dialects. */
const char *prof_sql_retention(apr_pool_t *p, const char *prefix,
                               prof_sql_retention_t which);

/** The format name of a profile kept as prof_stacks_text_write()'s text,
 * in profiles.format. */
#define PROF_SQL_PROFILE_FORMAT "stacks1"

/** The canonical phase names in column order (the 14 phases, not total),
 * the same as prof_phase_name(); columns are "<name>_us". */
#define PROF_SQL_PHASE_COLUMNS 14

#endif /* PROF_SQL_H */
