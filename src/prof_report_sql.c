/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_strings.h"
#include "apr_tables.h"

#include "prof_phase.h"
#include "prof_report_sql.h"

static const char *const sort_columns[PROF_SORT_COUNT] = {
    "start_us", "total_us", "ttfb_us", "status", "bytes_sent"
};

static const char *const sort_names[PROF_SORT_COUNT] = {
    "start", "total", "ttfb", "status", "bytes"
};

const char *prof_report_sort_name(prof_sort_t s)
{
    return (int)s >= 0 && s < PROF_SORT_COUNT ? sort_names[s] : "start";
}

const char *prof_report_sort_column(prof_sort_t s)
{
    return (int)s >= 0 && s < PROF_SORT_COUNT ? sort_columns[s] : "start_us";
}

/* A statement being built: text pieces and parameter pointers. */
typedef struct {
    apr_pool_t *p;
    apr_array_header_t *text;   /* const char * */
    apr_array_header_t *args;   /* const void * */
} builder_t;

static void b_init(builder_t *b, apr_pool_t *p)
{
    b->p = p;
    b->text = apr_array_make(p, 16, sizeof(const char *));
    b->args = apr_array_make(p, 16, sizeof(const void *));
}

static void b_text(builder_t *b, const char *s)
{
    APR_ARRAY_PUSH(b->text, const char *) = s;
}

/* " AND <cond>" with one parameter. */
static void b_cond(builder_t *b, const char *cond, const void *arg)
{
    b_text(b, " AND ");
    b_text(b, cond);
    APR_ARRAY_PUSH(b->args, const void *) = arg;
}

static void b_done(builder_t *b, prof_report_stmt_t *out)
{
    out->sql = apr_array_pstrcat(b->p, b->text, 0);
    out->nargs = b->args->nelts;
    out->args = (const void **)b->args->elts;
}

static int utf8_chars(const char *s)
{
    int n = 0;

    for (; *s; ++s) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

/* The filters both tables have columns for. */
static void common_filters(builder_t *b, prof_report_filter_t *f)
{
    if (f->route) {
        b_cond(b, "route = %s", f->route);
    }
    if (f->method) {
        b_cond(b, "method = %s", f->method);
    }
    if (f->vhost) {
        b_cond(b, "vhost = %s", f->vhost);
    }
    if (f->server) {
        b_cond(b, "server = %s", f->server);
    }
}

void prof_report_sql_rollups(apr_pool_t *p, prof_sql_dialect_t d,
                             const char *prefix, prof_report_filter_t *f,
                             int hourly, int slim, const apr_int64_t *from_us,
                             const apr_int64_t *to_us,
                             prof_report_stmt_t *out)
{
    const char *col = hourly ? "hour_us" : "minute_us";
    builder_t b;

    (void)d;
    b_init(&b, p);
    b_text(&b, apr_pstrcat(p, "SELECT ", col, slim
                           ? ", status_class, count, samples, sum_us, "
                             "min_us, max_us, hist"
                           : ", server, vhost, route, "
                           "method, status_class, count, samples, sum_us, "
                           "min_us, max_us, ttfb_sum_us, bytes_sum, "
                           "read_sum_us, postread_sum_us, quick_sum_us, "
                           "translate_sum_us, storage_sum_us, "
                           "headers_sum_us, access_sum_us, authn_sum_us, "
                           "authz_sum_us, type_sum_us, fixups_sum_us, "
                           "handler_sum_us, body_sum_us, log_sum_us, hist",
                           " FROM ", prefix,
                           hourly ? "rollups_hour" : "rollups",
                           " WHERE ", col, " >= %lld", NULL));
    APR_ARRAY_PUSH(b.args, const void *) = from_us;
    b_cond(&b, apr_pstrcat(p, col, " < %lld", NULL), to_us);
    common_filters(&b, f);
    if (f->status_lo) {
        f->status_class = f->status_lo / 100;
        b_cond(&b, "status_class = %d", &f->status_class);
    }
    b_done(&b, out);
}

/* The conditions of a request list other than the cursor. */
static void request_filters(builder_t *b, prof_report_filter_t *f)
{
    common_filters(b, f);
    if (f->path) {
        /* A prefix by characters: the same in both dialects, whatever the
         * collation (PostgreSQL's need not order bytes). */
        f->path_chars = utf8_chars(f->path);
        b_cond(b, "substr(path, 1, %d)", &f->path_chars);
        b_text(b, " = %s");
        APR_ARRAY_PUSH(b->args, const void *) = f->path;
    }
    if (f->status_lo) {
        b_cond(b, "status >= %d", &f->status_lo);
        b_cond(b, "status <= %d", &f->status_hi);
    }
    if (f->min_us >= 0) {
        b_cond(b, "total_us >= %lld", &f->min_us);
    }
    if (f->max_us >= 0) {
        b_cond(b, "total_us <= %lld", &f->max_us);
    }
}

void prof_report_sql_requests(apr_pool_t *p, prof_sql_dialect_t d,
                              const char *prefix, prof_report_filter_t *f,
                              prof_report_stmt_t *out)
{
    const char *col = prof_report_sort_column(f->sort);
    const char *dir = f->desc ? "DESC" : "ASC";
    const char *cmp = f->desc ? "<" : ">";
    builder_t b;

    (void)d;
    b_init(&b, p);
    if (f->sort == PROF_SORT_START) {
        b_text(&b, apr_pstrcat(p, "SELECT " PROF_REPORT_REQUEST_COLS " FROM ",
                               prefix, "requests WHERE start_us >= %lld",
                               NULL));
        APR_ARRAY_PUSH(b.args, const void *) = &f->from_us;
        b_cond(&b, "start_us < %lld", &f->to_us);
        request_filters(&b, f);
    }
    else {
        /* The newest rows of the range first (the start_us index, read
         * backwards, stops after the window), then sorted: the same rows
         * on every page as long as the range holds no newer ones. */
        f->window = PROF_REPORT_SORT_WINDOW;
        b_text(&b, apr_pstrcat(p, "SELECT " PROF_REPORT_REQUEST_COLS
                               " FROM (SELECT " PROF_REPORT_REQUEST_COLS
                               " FROM ", prefix, "requests WHERE start_us "
                               ">= %lld", NULL));
        APR_ARRAY_PUSH(b.args, const void *) = &f->from_us;
        b_cond(&b, "start_us < %lld", &f->to_us);
        request_filters(&b, f);
        b_text(&b, " ORDER BY start_us DESC, id DESC LIMIT %d) w "
                   "WHERE 1 = 1");
        APR_ARRAY_PUSH(b.args, const void *) = &f->window;
    }
    if (f->has_cursor) {
        /* Keyset paging: strictly after the last row shown, in the order
         * of (sort column, id), so no row is skipped or shown twice. */
        b_text(&b, apr_pstrcat(p, " AND (", col, " ", cmp, " %lld OR (", col,
                               " = %lld AND id ", cmp, " %lld))", NULL));
        APR_ARRAY_PUSH(b.args, const void *) = &f->cursor_key;
        APR_ARRAY_PUSH(b.args, const void *) = &f->cursor_key;
        APR_ARRAY_PUSH(b.args, const void *) = &f->cursor_id;
    }
    f->limit_plus = f->limit + 1;
    b_text(&b, apr_pstrcat(p, " ORDER BY ", col, " ", dir, ", id ", dir,
                           " LIMIT %d", NULL));
    APR_ARRAY_PUSH(b.args, const void *) = &f->limit_plus;
    b_done(&b, out);
}

void prof_report_sql_request(apr_pool_t *p, const char *prefix,
                             int with_starts, const apr_int64_t *id,
                             prof_report_stmt_t *out)
{
    builder_t b;

    b_init(&b, p);
    b_text(&b, apr_pstrcat(p, "SELECT " PROF_REPORT_REQUEST_COLS,
                           with_starts ? ", phase_starts" : "", " FROM ",
                           prefix, "requests WHERE id = %lld", NULL));
    APR_ARRAY_PUSH(b.args, const void *) = id;
    b_done(&b, out);
}
void prof_report_sql_spans(apr_pool_t *p, const char *prefix,
                           const apr_int64_t *id, prof_report_stmt_t *out)
{
    builder_t b;

    b_init(&b, p);
    b_text(&b, apr_pstrcat(p, "SELECT seq, name, description, parent, "
                           "start_us, dur_us, metric FROM ", prefix,
                           "spans WHERE request_id = %lld ORDER BY seq",
                           NULL));
    APR_ARRAY_PUSH(b.args, const void *) = id;
    b_done(&b, out);
}

void prof_report_sql_modules(apr_pool_t *p, const char *prefix,
                             const apr_int64_t *id, prof_report_stmt_t *out)
{
    builder_t b;

    b_init(&b, p);
    b_text(&b, apr_pstrcat(p, "SELECT phase, module, calls, dur_us FROM ",
                           prefix, "modules WHERE request_id = %lld "
                           "ORDER BY dur_us DESC, phase, module", NULL));
    APR_ARRAY_PUSH(b.args, const void *) = id;
    b_done(&b, out);
}

/* The stored requests of f's route in f's time range (and vhost, when
 * set) that have module times: the condition both statements below share,
 * so that a module's share of a phase is taken over the same requests. */
static void route_module_where(builder_t *b, const char *prefix,
                               const prof_report_filter_t *f)
{
    b_text(b, " WHERE q.route = %s");
    APR_ARRAY_PUSH(b->args, const void *) = f->route;
    b_cond(b, "q.start_us >= %lld", &f->from_us);
    b_cond(b, "q.start_us < %lld", &f->to_us);
    if (f->vhost) {
        b_cond(b, "q.vhost = %s", f->vhost);
    }
    b_text(b, apr_pstrcat(b->p, " AND q.id IN (SELECT request_id FROM ",
                          prefix, "modules)", NULL));
}

void prof_report_sql_route_modules(apr_pool_t *p, const char *prefix,
                                   const prof_report_filter_t *f,
                                   prof_report_stmt_t *out)
{
    builder_t b;

    b_init(&b, p);
    b_text(&b, apr_pstrcat(p, "SELECT m.phase, m.module, "
                           "sum(m.calls * q.weight), "
                           "sum(m.dur_us * q.weight) FROM ", prefix,
                           "modules m JOIN ", prefix, "requests q ON q.id = "
                           "m.request_id", NULL));
    route_module_where(&b, prefix, f);
    b_text(&b, " GROUP BY m.phase, m.module ORDER BY 4 DESC, 1, 2");
    b_done(&b, out);
}

void prof_report_sql_route_module_phases(apr_pool_t *p, const char *prefix,
                                         const prof_report_filter_t *f,
                                         prof_report_stmt_t *out)
{
    builder_t b;
    int k;

    b_init(&b, p);
    b_text(&b, "SELECT sum(q.weight)");
    for (k = 0; k < PROF_PHASE_TOTAL; ++k) {
        b_text(&b, apr_psprintf(p, ", sum(q.%s_us * q.weight)",
                                prof_phase_name(k)));
    }
    b_text(&b, apr_pstrcat(p, " FROM ", prefix, "requests q", NULL));
    route_module_where(&b, prefix, f);
    b_done(&b, out);
}

void prof_report_sql_profile(apr_pool_t *p, const char *prefix,
                             const apr_int64_t *id, prof_report_stmt_t *out)
{
    builder_t b;

    b_init(&b, p);
    b_text(&b, apr_pstrcat(p, "SELECT format, data FROM ", prefix,
                           "profiles WHERE request_id = %lld", NULL));
    APR_ARRAY_PUSH(b.args, const void *) = id;
    b_done(&b, out);
}
