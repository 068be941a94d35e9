/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_strings.h"
#include "apr_time.h"

#include "httpd.h"
#include "http_protocol.h"

#include "prof_hist.h"
#include "prof_phase.h"
#include "prof_report_sql.h"
#include "prof_report_text.h"
#include "mod_profiler_report_format.h"

/* ---- JSON and CSV ---------------------------------------------------- */

static const char *js(request_rec *r, const char *s)
{
    return prof_report_json_str(r->pool, s);
}

static const char *ms(apr_pool_t *p, apr_int64_t us)
{
    apr_uint64_t a = us < 0 ? 0 - (apr_uint64_t)us : (apr_uint64_t)us;

    return apr_psprintf(p, "%s%" APR_UINT64_T_FMT ".%03d", us < 0 ? "-" : "",
                        a / 1000, (int)(a % 1000));
}

static const char *ms_mean(apr_pool_t *p, apr_uint64_t sum, apr_uint64_t n)
{
    return n ? ms(p, (apr_int64_t)(sum / n)) : "0.000";
}

static const char *iso(apr_pool_t *p, apr_int64_t us)
{
    apr_time_exp_t t;

    if (apr_time_exp_gmt(&t, us) != APR_SUCCESS) {
        return "";
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                        t.tm_min, t.tm_sec, t.tm_usec);
}

static void json_range(request_rec *r, const prof_report_filter_t *f)
{
    ap_rprintf(r, "\"from\":%s,\"to\":%s,\"from_us\":%" APR_INT64_T_FMT
               ",\"to_us\":%" APR_INT64_T_FMT, js(r, iso(r->pool, f->from_us)),
               js(r, iso(r->pool, f->to_us)), f->from_us, f->to_us);
}

static void json_phases(request_rec *r, const prof_report_group_t *g)
{
    int k;

    ap_rputs("\"phases\":{", r);
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        ap_rprintf(r, "%s\"%s\":%.4f", k ? "," : "", prof_phase_name(k),
                   g->sum_us ? (double)g->phase_sum_us[k] / (double)g->sum_us
                             : 0.0);
    }
    ap_rputs("}", r);
}

static void json_group(request_rec *r, const prof_report_group_t *g,
                       unsigned group)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "{\"route\":%s", js(r, g->route));
    if (group & PROF_GROUP_METHOD) {
        ap_rprintf(r, ",\"method\":%s", js(r, g->method));
    }
    if (group & PROF_GROUP_STATUS) {
        ap_rprintf(r, ",\"status\":\"%dxx\"", g->status_class);
    }
    if (group & PROF_GROUP_VHOST) {
        ap_rprintf(r, ",\"vhost\":%s", js(r, g->vhost));
    }
    if (group & PROF_GROUP_SERVER) {
        ap_rprintf(r, ",\"server\":%s", js(r, g->server));
    }
    ap_rprintf(r, ",\"count\":%" APR_UINT64_T_FMT ",\"samples\":%"
               APR_UINT64_T_FMT ",\"total_ms\":%s,\"mean_ms\":%s,"
               "\"p50_ms\":%s,\"p95_ms\":%s,\"p99_ms\":%s,\"max_ms\":%s,"
               "\"errors\":%" APR_UINT64_T_FMT ",\"error_rate\":%.4f,"
               "\"client_errors\":%" APR_UINT64_T_FMT ",",
               g->count, g->samples, ms(p, (apr_int64_t)g->sum_us),
               ms_mean(p, g->sum_us, g->count), ms(p, g->p50_us),
               ms(p, g->p95_us), ms(p, g->p99_us), ms(p, g->max_us),
               g->errors, g->count ? (double)g->errors / (double)g->count
                                   : 0.0, g->client_errors);
    json_phases(r, g);
    ap_rputs("}", r);
}

static void csv_line(request_rec *r, const char *const *cells, int n)
{
    int i;

    for (i = 0; i < n; ++i) {
        ap_rputs(i ? "," : "", r);
        ap_rputs(prof_report_csv(r->pool, cells[i]), r);
    }
    ap_rputs("\r\n", r);
}

void prof_report_json_summary(request_rec *r, const prof_report_filter_t *f,
                        const apr_array_header_t *arr, int csv,
                        const char *source)
{
    apr_pool_t *p = r->pool;
    int i, k;

    if (csv) {
        const char *head[9 + 5 + PROF_REPORT_PHASES];
        int n = 0;

        head[n++] = "route";
        if (f->group & PROF_GROUP_METHOD) head[n++] = "method";
        if (f->group & PROF_GROUP_STATUS) head[n++] = "status";
        if (f->group & PROF_GROUP_VHOST) head[n++] = "vhost";
        if (f->group & PROF_GROUP_SERVER) head[n++] = "server";
        head[n++] = "count"; head[n++] = "total_ms"; head[n++] = "mean_ms";
        head[n++] = "p50_ms"; head[n++] = "p95_ms"; head[n++] = "p99_ms";
        head[n++] = "max_ms"; head[n++] = "error_rate";
        head[n++] = "client_errors";
        for (k = 0; k < PROF_REPORT_PHASES; ++k) {
            head[n++] = apr_pstrcat(p, prof_phase_name(k), "_share", NULL);
        }
        csv_line(r, head, n);
        for (i = 0; i < arr->nelts; ++i) {
            const prof_report_group_t *g =
                APR_ARRAY_IDX(arr, i, prof_report_group_t *);

            n = 0;
            head[n++] = g->route;
            if (f->group & PROF_GROUP_METHOD) head[n++] = g->method;
            if (f->group & PROF_GROUP_STATUS)
                head[n++] = apr_psprintf(p, "%dxx", g->status_class);
            if (f->group & PROF_GROUP_VHOST) head[n++] = g->vhost;
            if (f->group & PROF_GROUP_SERVER) head[n++] = g->server;
            head[n++] = apr_psprintf(p, "%" APR_UINT64_T_FMT, g->count);
            head[n++] = ms(p, (apr_int64_t)g->sum_us);
            head[n++] = ms_mean(p, g->sum_us, g->count);
            head[n++] = ms(p, g->p50_us);
            head[n++] = ms(p, g->p95_us);
            head[n++] = ms(p, g->p99_us);
            head[n++] = ms(p, g->max_us);
            head[n++] = apr_psprintf(p, "%.4f", g->count
                                     ? (double)g->errors / (double)g->count
                                     : 0.0);
            head[n++] = apr_psprintf(p, "%" APR_UINT64_T_FMT,
                                     g->client_errors);
            for (k = 0; k < PROF_REPORT_PHASES; ++k) {
                head[n++] = apr_psprintf(p, "%.4f", g->sum_us
                                         ? (double)g->phase_sum_us[k]
                                           / (double)g->sum_us : 0.0);
            }
            csv_line(r, head, n);
        }
        return;
    }
    ap_rputs("{", r);
    json_range(r, f);
    ap_rprintf(r, ",\"source\":\"%s\",\"group\":[\"route\"", source);
    if (f->group & PROF_GROUP_METHOD) ap_rputs(",\"method\"", r);
    if (f->group & PROF_GROUP_STATUS) ap_rputs(",\"status\"", r);
    if (f->group & PROF_GROUP_VHOST) ap_rputs(",\"vhost\"", r);
    if (f->group & PROF_GROUP_SERVER) ap_rputs(",\"server\"", r);
    ap_rputs("],\"rows\":[", r);
    for (i = 0; i < arr->nelts; ++i) {
        ap_rputs(i ? "," : "", r);
        json_group(r, APR_ARRAY_IDX(arr, i, prof_report_group_t *), f->group);
    }
    ap_rputs("]}\n", r);
}

void prof_report_json_series(request_rec *r, const prof_report_filter_t *f,
                       const apr_array_header_t *arr, apr_int64_t bucket,
                       int csv)
{
    apr_pool_t *p = r->pool;
    int i;

    if (csv) {
        static const char *const head[] = {
            "t", "time", "count", "errors", "mean_ms", "p50_ms", "p95_ms",
            "p99_ms", "client_errors"
        };
        csv_line(r, head, 9);
    }
    else {
        ap_rputs("{", r);
        json_range(r, f);
        ap_rprintf(r, ",\"source\":\"rollups\",\"bucket_s\":%"
                   APR_INT64_T_FMT ",\"points\":[", apr_time_sec(bucket));
    }
    for (i = 0; i < arr->nelts; ++i) {
        const prof_report_group_t *g =
            APR_ARRAY_IDX(arr, i, prof_report_group_t *);

        if (csv) {
            const char *cells[9];

            cells[0] = apr_psprintf(p, "%" APR_INT64_T_FMT,
                                    apr_time_sec(g->t_us));
            cells[1] = iso(p, g->t_us);
            cells[2] = apr_psprintf(p, "%" APR_UINT64_T_FMT, g->count);
            cells[3] = apr_psprintf(p, "%" APR_UINT64_T_FMT, g->errors);
            cells[4] = ms_mean(p, g->sum_us, g->count);
            cells[5] = ms(p, g->p50_us);
            cells[6] = ms(p, g->p95_us);
            cells[7] = ms(p, g->p99_us);
            cells[8] = apr_psprintf(p, "%" APR_UINT64_T_FMT,
                                    g->client_errors);
            csv_line(r, cells, 9);
            continue;
        }
        ap_rprintf(r, "%s{\"t\":%" APR_INT64_T_FMT ",\"count\":%"
                   APR_UINT64_T_FMT ",\"errors\":%" APR_UINT64_T_FMT
                   ",\"mean_ms\":%s,\"p50_ms\":%s,\"p95_ms\":%s,"
                   "\"p99_ms\":%s,\"client_errors\":%" APR_UINT64_T_FMT "}",
                   i ? "," : "", apr_time_sec(g->t_us), g->count, g->errors,
                   ms_mean(p, g->sum_us, g->count), ms(p, g->p50_us),
                   ms(p, g->p95_us), ms(p, g->p99_us), g->client_errors);
    }
    if (!csv) {
        ap_rputs("]}\n", r);
    }
}

void prof_report_json_histogram(request_rec *r, const prof_report_filter_t *f,
                          const prof_report_group_t *g, int csv,
                          const char *source)
{
    apr_pool_t *p = r->pool;
    apr_uint32_t b;
    int first = 1;

    if (csv) {
        static const char *const head[] = { "lo_ms", "hi_ms", "count" };
        csv_line(r, head, 3);
    }
    else {
        ap_rputs("{", r);
        json_range(r, f);
        ap_rprintf(r, ",\"source\":\"%s\",\"count\":%" APR_UINT64_T_FMT
                   ",\"mean_ms\":%s,\"p50_ms\":%s,\"p95_ms\":%s,"
                   "\"p99_ms\":%s,\"max_ms\":%s,\"max_rel_error\":%.4f,"
                   "\"buckets\":[", source, g->count, ms_mean(p, g->sum_us, g->count),
                   ms(p, g->p50_us), ms(p, g->p95_us), ms(p, g->p99_us),
                   ms(p, g->max_us), PROF_HIST_MAX_REL_ERR);
    }
    for (b = 0; b < PROF_HIST_BUCKETS; ++b) {
        apr_interval_time_t lo, hi;

        if (g->hist.n[b] == 0) {
            continue;
        }
        prof_hist_bounds(b, &lo, &hi);
        if (csv) {
            const char *cells[3];

            cells[0] = ms(p, lo);
            cells[1] = ms(p, hi);
            cells[2] = apr_psprintf(p, "%" APR_UINT64_T_FMT, g->hist.n[b]);
            csv_line(r, cells, 3);
        }
        else {
            ap_rprintf(r, "%s{\"lo_ms\":%s,\"hi_ms\":%s,\"count\":%"
                       APR_UINT64_T_FMT "}", first ? "" : ",", ms(p, lo),
                       ms(p, hi), g->hist.n[b]);
        }
        first = 0;
    }
    if (!csv) {
        ap_rputs("]}\n", r);
    }
}

static const char *id_str(apr_pool_t *p, apr_int64_t id)
{
    return apr_psprintf(p, "%" APR_INT64_T_FMT, id);
}

/* A request's columns as JSON members (no braces). 64-bit ids are
 * strings: JavaScript numbers stop being exact at 2^53. */
static void json_req(request_rec *r, const prof_report_req_t *q)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "\"id\":\"%s\",\"start\":%s,\"start_us\":%" APR_INT64_T_FMT
               ",\"server\":%s,\"vhost\":%s,\"method\":%s,\"route\":%s,"
               "\"path\":%s,\"query\":%s,\"status\":%d,\"protocol\":%s,"
               "\"bytes_sent\":%" APR_INT64_T_FMT ",\"total_ms\":%s,"
               "\"ttfb_ms\":%s,\"weight\":%d", id_str(p, q->id),
               js(r, iso(p, q->start_us)), q->start_us, js(r, q->server),
               js(r, q->vhost), js(r, q->method), js(r, q->route),
               js(r, q->path), js(r, q->query), q->status, js(r, q->protocol),
               q->bytes_sent, ms(p, q->total_us), ms(p, q->ttfb_us),
               q->weight);
}

void prof_report_json_requests(request_rec *r, const prof_report_filter_t *f,
                         const apr_array_header_t *arr, const char *next,
                         int csv)
{
    apr_pool_t *p = r->pool;
    int i;

    if (csv) {
        static const char *const head[] = {
            "id", "start", "server", "vhost", "method", "route", "path",
            "query", "status", "protocol", "bytes_sent", "total_ms",
            "ttfb_ms", "weight"
        };
        csv_line(r, head, 14);
        for (i = 0; i < arr->nelts; ++i) {
            const prof_report_req_t *q =
                APR_ARRAY_IDX(arr, i, prof_report_req_t *);
            const char *cells[14];

            cells[0] = id_str(p, q->id);
            cells[1] = iso(p, q->start_us);
            cells[2] = q->server;
            cells[3] = q->vhost;
            cells[4] = q->method;
            cells[5] = q->route;
            cells[6] = q->path;
            cells[7] = q->query;
            cells[8] = apr_itoa(p, q->status);
            cells[9] = q->protocol;
            cells[10] = apr_psprintf(p, "%" APR_INT64_T_FMT, q->bytes_sent);
            cells[11] = ms(p, q->total_us);
            cells[12] = ms(p, q->ttfb_us);
            cells[13] = apr_itoa(p, q->weight);
            csv_line(r, cells, 14);
        }
        return;
    }
    ap_rputs("{", r);
    json_range(r, f);
    /* sort_window: sorted among the newest this many rows of the range
     * (null: sorted by time, over the whole range). */
    ap_rprintf(r, ",\"source\":\"requests\",\"sort\":\"%s\",\"order\":\"%s\","
               "\"sort_window\":%s,\"limit\":%d,\"requests\":[",
               prof_report_sort_name(f->sort), f->desc ? "desc" : "asc",
               f->window ? apr_itoa(p, f->window) : "null", f->limit);
    for (i = 0; i < arr->nelts; ++i) {
        ap_rputs(i ? ",{" : "{", r);
        json_req(r, APR_ARRAY_IDX(arr, i, prof_report_req_t *));
        ap_rputs("}", r);
    }
    ap_rprintf(r, "],\"next_cursor\":%s}\n", next ? js(r, next) : "null");
}

/* The module times of phase `name` ("filter": the output filters), the
 * longest first, as a JSON array. */
static void json_modules(request_rec *r, const apr_array_header_t *modules,
                         const char *name)
{
    int i, n = 0;

    ap_rputs(",\"modules\":[", r);
    for (i = 0; modules && i < modules->nelts; ++i) {
        const prof_report_module_t *m =
            APR_ARRAY_IDX(modules, i, prof_report_module_t *);

        if (m->phase == NULL || strcmp(m->phase, name) != 0) {
            continue;
        }
        ap_rprintf(r, "%s{\"module\":%s,\"calls\":%" APR_INT64_T_FMT
                   ",\"dur_ms\":%s}", n++ ? "," : "", js(r, m->module),
                   m->calls, ms(r->pool, m->dur_us));
    }
    ap_rputs("]", r);
}

void prof_report_json_request(request_rec *r, const prof_report_req_t *q,
                              const apr_array_header_t *spans,
                              const apr_array_header_t *modules,
                              int has_profile)
{
    apr_pool_t *p = r->pool;
    apr_int64_t off[PROF_REPORT_PHASES];
    int i, k;

    /* Measured starts (schema 4), or for older rows each phase placed
     * where the one before it ended: "approximate". A phase that did not
     * run has a null start. */
    if (q->has_starts) {
        memcpy(off, q->start_offset_us, sizeof(off));
    }
    else {
        prof_report_phase_offsets(q, off);
    }
    ap_rputs("{\"request\":{", r);
    json_req(r, q);
    ap_rprintf(r, ",\"spans_dropped\":%d,\"phase_starts\":\"%s\","
               "\"phases\":[", q->spans_dropped,
               q->has_starts ? "measured" : "approximate");
    /* Each phase with the modules' own times in it (ProfilerModuleTiming;
     * [] without), and the output filters' apart. */
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        ap_rprintf(r, "%s{\"name\":\"%s\",\"start_ms\":%s,\"dur_ms\":%s",
                   k ? "," : "", prof_phase_name(k),
                   off[k] < 0 ? "null" : ms(p, off[k]), ms(p, q->dur_us[k]));
        json_modules(r, modules, prof_phase_name(k));
        ap_rputs("}", r);
    }
    ap_rputs("],\"filters\":[", r);
    for (i = 0, k = 0; modules && i < modules->nelts; ++i) {
        const prof_report_module_t *m =
            APR_ARRAY_IDX(modules, i, prof_report_module_t *);

        if (m->phase && strcmp(m->phase, "filter") == 0) {
            ap_rprintf(r, "%s{\"filter\":%s,\"calls\":%" APR_INT64_T_FMT
                       ",\"dur_ms\":%s}", k++ ? "," : "", js(r, m->module),
                       m->calls, ms(p, m->dur_us));
        }
    }
    ap_rputs("],\"spans\":[", r);
    for (i = 0; i < spans->nelts; ++i) {
        const prof_report_span_t *sp =
            APR_ARRAY_IDX(spans, i, prof_report_span_t *);

        ap_rprintf(r, "%s{\"seq\":%d,\"name\":%s,\"desc\":%s,\"parent\":%s,"
                   "\"start_ms\":%s,\"dur_ms\":%s,\"metric\":%s}",
                   i ? "," : "", sp->seq, js(r, sp->name), js(r, sp->desc),
                   sp->parent >= 0 ? apr_itoa(p, sp->parent) : "null",
                   ms(p, sp->start_us), ms(p, sp->dur_us),
                   sp->metric ? "true" : "false");
    }
    /* Where its profile is (api/v1/requests/<id>/profile), relative to
     * this answer; null: it has none. */
    ap_rprintf(r, "],\"profile\":%s}}\n", has_profile
               ? apr_psprintf(p, "\"%" APR_INT64_T_FMT "/profile\"", q->id)
               : "null");
}

void prof_report_json_health(request_rec *r, const prof_report_health_t *h)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "{\"dialect\":%s,\"prefix\":%s,\"schema_version\":%d,"
               "\"requests\":%" APR_INT64_T_FMT ",\"spans\":%" APR_INT64_T_FMT
               ",\"rollups\":%" APR_INT64_T_FMT ",\"oldest\":%s,"
               "\"newest\":%s,\"writers\":%d,\"rows_written\":%"
               APR_INT64_T_FMT ",\"rows_dropped\":%" APR_INT64_T_FMT
               ",\"rows_failed\":%" APR_INT64_T_FMT ",\"retention\":{"
               "\"requests_s\":%" APR_INT64_T_FMT ",\"rollups_s\":%"
               APR_INT64_T_FMT ",\"max_rows\":%" APR_INT64_T_FMT "}}\n",
               js(r, h->dialect), js(r, h->prefix), PROF_SQL_SCHEMA_VERSION,
               h->requests, h->spans, h->rollups,
               h->oldest_us ? js(r, iso(p, h->oldest_us)) : "null",
               h->newest_us ? js(r, iso(p, h->newest_us)) : "null",
               h->writers, h->written, h->dropped, h->failed,
               apr_time_sec(h->retention_us),
               apr_time_sec(h->rollup_retention_us), h->retention_rows);
}

int prof_report_json_error(request_rec *r, int status, const char *param,
                      const char *msg)
{
    r->status = status;
    ap_set_content_type(r, "application/json");
    if (param) {
        ap_rprintf(r, "{\"error\":{\"status\":%d,\"parameter\":%s,"
                   "\"message\":%s}}\n", status, js(r, param),
                   js(r, apr_pstrcat(r->pool, param, " ", msg, NULL)));
    }
    else {
        ap_rprintf(r, "{\"error\":{\"status\":%d,\"message\":%s}}\n", status,
                   js(r, msg));
    }
    return OK;
}


void prof_report_json_route(request_rec *r, const prof_report_filter_t *f,
                            const prof_report_group_t *g)
{
    apr_pool_t *p = r->pool;
    apr_uint32_t b;
    int first = 1;

    ap_rputs("{", r);
    json_range(r, f);
    ap_rputs(",\"source\":\"rollups\",\"route\":", r);
    json_group(r, g, 0);
    ap_rprintf(r, ",\"min_ms\":%s,\"ttfb_mean_ms\":%s,\"bytes_mean\":%"
               APR_UINT64_T_FMT ",\"buckets\":[", ms(p, g->min_us),
               ms_mean(p, g->ttfb_sum_us, g->count),
               g->count ? g->bytes_sum / g->count : 0);
    for (b = 0; b < PROF_HIST_BUCKETS; ++b) {
        apr_interval_time_t lo, hi;

        if (g->hist.n[b] == 0) {
            continue;
        }
        prof_hist_bounds(b, &lo, &hi);
        ap_rprintf(r, "%s{\"lo_ms\":%s,\"hi_ms\":%s,\"count\":%"
                   APR_UINT64_T_FMT "}", first ? "" : ",", ms(p, lo),
                   ms(p, hi), g->hist.n[b]);
        first = 0;
    }
    ap_rputs("]}\n", r);
}
