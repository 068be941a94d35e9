/* Licensed under the Apache License, Version 2.0. */

/* The report handler: where a request goes (page, API, asset, action),
 * in what order its work happens, and the headers every answer carries.
 * The parameters, the reads, the bodies, the actions, the token and the
 * configuration scan each have their own unit (mod_profiler_report_*.c). */

#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include "prof_report_text.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_db.h"
#include "mod_profiler_report.h"
#include "mod_profiler_report_actions.h"
#include "mod_profiler_report_auth.h"
#include "mod_profiler_report_format.h"
#include "mod_profiler_report_lint.h"
#include "mod_profiler_report_page.h"
#include "mod_profiler_report_params.h"
#include "mod_profiler_report_profile.h"
#include "mod_profiler_report_query.h"

/* Every response of the report. The dashboard's own script and style
 * sheet are the only things it loads; no inline script or style. */
#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; " \
            "img-src 'self'; connect-src 'self'; form-action 'self'; " \
            "frame-ancestors 'none'; base-uri 'none'"

/* In err_headers_out only: httpd sends those with every response, its
 * own error pages included, and adds them to headers_out, so a header set
 * in both would be sent twice. */
static void security_headers(request_rec *r)
{
    apr_table_setn(r->err_headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->err_headers_out, "X-Content-Type-Options", "nosniff");
    apr_table_setn(r->err_headers_out, "Content-Security-Policy", CSP);
    apr_table_setn(r->err_headers_out, "Referrer-Policy", "no-referrer");
    apr_table_setn(r->err_headers_out, "X-Frame-Options", "DENY");
}

/* Does the URI lie under base (a path without trailing '/')? */
static int under(const char *uri, const char *base, apr_size_t n)
{
    return !strncmp(uri, base, n) && (uri[n] == '/' || uri[n] == '\0');
}

/* Where the report is: ProfilerReportBase; else the <Location> that sets
 * the handler (found in the configuration at startup); else, for a report
 * in a <Directory> or a regex section, what the URI has before the
 * report's own names. Never the innermost section with a profiler
 * directive: "<Location /> Profiler On" is no report's base. */
static const char *report_base(request_rec *r, const char **rel)
{
    static const char *const marks[] = {
        "/api/v1/", "/api/v1", "/api/", "/requests", "/assets/", "/actions/",
        "/cpu", NULL
    };
    const prof_dir_conf_t *dc =
        ap_get_module_config(r->per_dir_config, &profiler_module);
    const char *uri = r->uri, *base = dc ? dc->report_base : NULL;
    apr_size_t n;
    int i;

    if (base == NULL || !under(uri, base, strlen(base))) {
        base = prof_report_found_base(r);
    }
    if (base) {
        n = strlen(base);
        *rel = uri + n;
        return base;
    }
    for (i = 0; marks[i]; ++i) {
        const char *m = strstr(uri, marks[i]);

        if (m) {
            *rel = m;
            return apr_pstrndup(r->pool, uri, (apr_size_t)(m - uri));
        }
    }
    n = strlen(uri);
    while (n > 0 && uri[n - 1] == '/') {
        --n;
    }
    *rel = uri + n;
    return apr_pstrndup(r->pool, uri, n);
}

/* Whether the main server has a database (a DBDriver) for the report to
 * read: without one, the report answers from the live aggregates. Set in
 * post_config, in the parent before any child exists; read-only after. */
static int report_has_db = 1;

/* What a part of the report that needs the database says without one. */
#define NEEDS_DB "needs ProfilerStore's database: configure mod_dbd " \
    "(DBDriver sqlite3 or pgsql, with DBDParams) in the main server. " \
    "Without a database the report shows only the summary, from the live " \
    "metrics since the server started"

static int parse_id(const char *s, apr_int64_t *id)
{
    return prof_report_int_parse(s, 1, APR_INT64_MAX, id) == APR_SUCCESS;
}

static apr_int64_t rollup_retention(void)
{
    return prof_db_conf()->rollup_retention_us;
}

/* ---- the API ------------------------------------------------------------ */

static const struct {
    const char *name;
    prof_report_ep_t ep;
} api_names[] = {
    { "summary", PROF_EP_SUMMARY }, { "timeseries", PROF_EP_TIMESERIES },
    { "histogram", PROF_EP_HISTOGRAM }, { "requests", PROF_EP_REQUESTS },
    { "health", PROF_EP_HEALTH }, { "route", PROF_EP_ROUTE }, { NULL, 0 }
};

/* api/v1/requests/<id>/profile: read the profile, give the connection
 * back, then answer it in the format asked for. */
static int api_profile(request_rec *r, const char *what)
{
    prof_report_conn_t c;
    prof_report_params_t pa;
    prof_report_bad_t b;
    apr_int64_t id = 0;
    const char *text = NULL;
    int got;

    if (!prof_report_params_parse(r, PROF_EP_PROFILE, apr_time_now(),
                                  rollup_retention(), &pa, &b)) {
        return prof_report_json_error(r, HTTP_BAD_REQUEST, b.param, b.msg);
    }
    if (!parse_id(apr_pstrndup(r->pool, what, strcspn(what, "/")), &id)) {
        return prof_report_json_error(r, HTTP_BAD_REQUEST, "id", "is not a "
                                      "request id");
    }
    if (!report_has_db) {
        return prof_report_json_error(r, HTTP_NOT_FOUND, NULL, "api/v1/"
                                      "requests/<id>/profile " NEEDS_DB);
    }
    memset(&c, 0, sizeof(c));
    if (!prof_report_conn_open(r, &c)) {
        return prof_report_json_error(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                      "the store cannot be read now");
    }
    got = prof_report_query_profile(r, &c, &id, &text);
    prof_report_conn_close(&c);
    if (got < 0) {
        return prof_report_json_error(r, HTTP_NOT_FOUND, NULL, "no such "
                                      "request, or it has no profile (it "
                                      "may have been deleted by retention)");
    }
    if (got == 0) {
        return prof_report_json_error(r, HTTP_INTERNAL_SERVER_ERROR, NULL,
                                      "reading the store failed; see the "
                                      "error log");
    }
    return prof_report_profile_answer(r, id, text, pa.profile_format);
}

/* Does what ("requests/<id>/profile") name a request's profile? */
static int is_profile(const char *what)
{
    apr_size_t n = strlen(what);

    return !strncmp(what, "requests/", 9) && n > 17
           && !strcmp(what + n - 8, "/profile");
}

/* Read everything the answer needs, give the connection back, then
 * write: a client that reads slowly holds no database connection. */
static int api(request_rec *r, const char *what)
{
    prof_report_conn_t c;
    prof_report_params_t pa;
    prof_report_data_t d;
    prof_report_bad_t b;
    prof_report_ep_t ep;
    apr_int64_t id = 0;
    int i, got = 1;

    if (is_profile(what)) {
        return api_profile(r, what + 9);
    }
    for (i = 0; api_names[i].name && strcmp(what, api_names[i].name); ++i) {
    }
    if (api_names[i].name) {
        ep = api_names[i].ep;
    }
    else if (!strncmp(what, "requests/", 9)) {
        ep = PROF_EP_REQUEST;
    }
    else {
        return prof_report_json_error(r, HTTP_NOT_FOUND, NULL, "no such API: "
                                      "see summary, timeseries, histogram, "
                                      "requests, route, health");
    }
    if (!prof_report_params_parse(r, ep, apr_time_now(), rollup_retention(),
                                  &pa, &b)) {
        return prof_report_json_error(r, HTTP_BAD_REQUEST, b.param, b.msg);
    }
    if (ep == PROF_EP_REQUEST && !parse_id(what + 9, &id)) {
        return prof_report_json_error(r, HTTP_BAD_REQUEST, "id", "is not a "
                                      "request id");
    }
    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    if (!report_has_db) {
        /* The live aggregates hold one range (since the segment began) and
         * no time: what needs rows or time needs the database. */
        if (ep == PROF_EP_SUMMARY) {
            prof_report_query_live(r, &pa.f, PROF_REPORT_WANT_SUMMARY,
                                   pa.summary_sort, &d);
        }
        else if (ep == PROF_EP_HISTOGRAM) {
            prof_report_query_live(r, &pa.f, PROF_REPORT_WANT_ALL, 0, &d);
        }
        else {
            return prof_report_json_error(r, HTTP_NOT_FOUND, NULL,
                                          apr_pstrcat(r->pool, "api/v1/",
                                                      api_names[i].name
                                                      ? api_names[i].name
                                                      : "requests/<id>",
                                                      " " NEEDS_DB, NULL));
        }
        goto write;
    }
    if (!prof_report_conn_open(r, &c)) {
        return prof_report_json_error(r, HTTP_SERVICE_UNAVAILABLE, NULL,
                                      "the store cannot be read now");
    }
    switch (ep) {
    case PROF_EP_SUMMARY:
        got = prof_report_query_rollups(r, &c, &pa.f, PROF_REPORT_WANT_SUMMARY,
                                        pa.summary_sort, &d);
        break;
    case PROF_EP_TIMESERIES:
        got = prof_report_query_rollups(r, &c, &pa.f, PROF_REPORT_WANT_SERIES,
                                        0, &d);
        break;
    case PROF_EP_HISTOGRAM:
        got = prof_report_query_rollups(r, &c, &pa.f, PROF_REPORT_WANT_ALL,
                                        0, &d);
        break;
    case PROF_EP_ROUTE:
        /* What the request list of a route shows above its rows. */
        got = prof_report_query_route(r, &c, &pa.f, &d.all);
        break;
    case PROF_EP_REQUESTS:
        got = prof_report_query_requests(r, &c, &pa.f, &d);
        break;
    case PROF_EP_REQUEST:
        got = prof_report_query_request(r, &c, &id, &d);
        break;
    default:
        prof_report_query_health(r, &c, &d);
        got = d.health.ok;
        break;
    }
    prof_report_conn_close(&c);
    if (got < 0) {
        return prof_report_json_error(r, HTTP_NOT_FOUND, NULL, "no such "
                                      "request (it may have been deleted by "
                                      "retention)");
    }
    if (got == 0) {
        return prof_report_json_error(r, HTTP_INTERNAL_SERVER_ERROR, NULL,
                                      "reading the store failed; see the "
                                      "error log");
    }
write:
    ap_set_content_type(r, pa.csv ? "text/csv; charset=utf-8"
                                  : "application/json");
    if (pa.csv) {
        apr_table_setn(r->headers_out, "Content-Disposition",
                       apr_psprintf(r->pool, "attachment; filename="
                                    "\"profiler-%s.csv\"", what));
    }
    switch (ep) {
    case PROF_EP_SUMMARY:
        prof_report_json_summary(r, &pa.f, d.summary, pa.csv,
                                 report_has_db ? "rollups" : "live");
        break;
    case PROF_EP_TIMESERIES:
        prof_report_json_series(r, &pa.f, d.series, d.bucket_us, pa.csv);
        break;
    case PROF_EP_HISTOGRAM:
        prof_report_json_histogram(r, &pa.f, d.all, pa.csv,
                                   report_has_db ? "rollups" : "live");
        break;
    case PROF_EP_ROUTE:
        prof_report_json_route(r, &pa.f, d.all);
        break;
    case PROF_EP_REQUESTS:
        prof_report_json_requests(r, &pa.f, d.reqs, d.next, pa.csv);
        break;
    case PROF_EP_REQUEST:
        prof_report_json_request(r, d.req, d.spans, d.modules,
                                 d.profile != NULL);
        break;
    default:
        prof_report_json_health(r, &d.health);
        break;
    }
    return OK;
}

/* ---- the pages -------------------------------------------------------- */

static int page_error(request_rec *r, const prof_report_view_t *v,
                      int status, const char *msg)
{
    r->status = status;
    ap_set_content_type(r, "text/html; charset=utf-8");
    prof_report_page_error(r, v, msg);
    return OK;
}

static int page(request_rec *r, const char *base, const char *rel)
{
    prof_report_conn_t c;
    prof_report_params_t pa;
    prof_report_data_t d;
    prof_report_view_t v;
    prof_report_bad_t b;
    prof_report_ep_t ep;
    apr_int64_t id = 0;
    int got;

    memset(&v, 0, sizeof(v));
    memset(&d, 0, sizeof(d));
    v.base = base;
    if (!*rel || !strcmp(rel, "/")) {
        ep = PROF_EP_PAGE_DASHBOARD;
    }
    else if (!strcmp(rel, "/requests")) {
        ep = PROF_EP_PAGE_REQUESTS;
    }
    else if (!strncmp(rel, "/requests/", 10)) {
        ep = PROF_EP_PAGE_REQUEST;
    }
    else if (!strcmp(rel, "/cpu")) {
        ep = PROF_EP_PAGE_CPU;
    }
    else {
        return page_error(r, &v, HTTP_NOT_FOUND, "There is no such page in "
                          "the report.");
    }
    if (!prof_report_params_parse(r, ep, apr_time_now(), rollup_retention(),
                                  &pa, &b)) {
        return page_error(r, &v, HTTP_BAD_REQUEST, apr_pstrcat(r->pool,
                          "The parameter ", b.param, " ", b.msg, ".", NULL));
    }
    v.f = &pa.f;
    v.sort = pa.sort;
    if (ep == PROF_EP_PAGE_REQUEST && !parse_id(rel + 10, &id)) {
        return page_error(r, &v, HTTP_NOT_FOUND, "That is not a request id.");
    }
    if (ep == PROF_EP_PAGE_CPU) {
        /* No database: the profile is the profiler-profile handler's. */
        prof_report_cpu_t cpu;

        v.live = !report_has_db;
        if (pa.seconds > 0) {
            prof_report_cpu_take(r, pa.seconds, pa.hz, &cpu);
            if (r->connection->aborted) {
                return OK;
            }
        }
        ap_set_content_type(r, "text/html; charset=utf-8");
        if (pa.seconds > 0 && cpu.status != HTTP_OK) {
            /* What the handler said, as this page's status: 409 while
             * another profile runs, 403 when its access control says no. */
            r->status = cpu.status >= 400 ? cpu.status
                                          : HTTP_INTERNAL_SERVER_ERROR;
        }
        prof_report_page_cpu(r, &v, pa.seconds, pa.hz,
                             pa.seconds > 0 ? &cpu : NULL);
        return OK;
    }
    memset(&c, 0, sizeof(c));
    if (!report_has_db) {
        if (ep != PROF_EP_PAGE_DASHBOARD) {
            return page_error(r, &v, HTTP_NOT_FOUND, "The request list and "
                              "single requests " NEEDS_DB ".");
        }
        v.live = 1;
        prof_report_query_live(r, &pa.f, PROF_REPORT_WANT_SUMMARY
                               | PROF_REPORT_WANT_SERIES
                               | PROF_REPORT_WANT_ALL, pa.summary_sort, &d);
        ap_set_content_type(r, "text/html; charset=utf-8");
        prof_report_page_dashboard(r, &v, d.summary, d.series, d.bucket_us,
                                   d.all, NULL);
        return OK;
    }
    if (!prof_report_conn_open(r, &c)) {
        return page_error(r, &v, HTTP_SERVICE_UNAVAILABLE, "The store cannot "
                          "be read now; the error log says why.");
    }
    if (ep == PROF_EP_PAGE_DASHBOARD) {
        got = prof_report_query_rollups(r, &c, &pa.f, PROF_REPORT_WANT_SUMMARY
                                        | PROF_REPORT_WANT_SERIES
                                        | PROF_REPORT_WANT_ALL,
                                        pa.summary_sort, &d);
        if (got) {
            prof_report_query_health(r, &c, &d);
        }
    }
    else if (ep == PROF_EP_PAGE_REQUESTS) {
        got = prof_report_query_requests(r, &c, &pa.f, &d);
        /* A route's page has the route's own statistics. */
        if (got && pa.f.route) {
            got = prof_report_query_route(r, &c, &pa.f, &d.route_stats);
            if (got) {
                got = prof_report_query_route_modules(r, &c, &pa.f,
                                                      &d.route_mods);
            }
        }
    }
    else {
        got = prof_report_query_request(r, &c, &id, &d);
    }
    prof_report_conn_close(&c);
    if (got <= 0) {
        return page_error(r, &v, got < 0 ? HTTP_NOT_FOUND
                                         : HTTP_INTERNAL_SERVER_ERROR,
                          got < 0 ? "There is no such request (retention "
                                    "may have deleted it)."
                                  : "Reading the store failed; the error "
                                    "log says why.");
    }
    ap_set_content_type(r, "text/html; charset=utf-8");
    if (ep == PROF_EP_PAGE_DASHBOARD) {
        prof_report_page_dashboard(r, &v, d.summary, d.series, d.bucket_us,
                                   d.all, &d.health);
    }
    else if (ep == PROF_EP_PAGE_REQUESTS) {
        prof_report_page_requests(r, &v, d.reqs, d.next, d.route_stats,
                                  d.route_mods);
    }
    else {
        const prof_stacks_t *profile = NULL;
        const char *err = NULL;

        if (d.profile
            && (profile = prof_stacks_text_parse(d.profile, r->pool, &err))
               == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00404)
                          "report: the stored profile of request %"
                          APR_INT64_T_FMT " cannot be read: %s", id, err);
        }
        prof_report_page_request(r, &v, d.req, d.spans, d.modules, profile);
    }
    return OK;
}

/* ---- the handler --------------------------------------------------------- */

/* SetHandler profiler-report: called by mod_profiler.c's handler hook,
 * which turns every other request away. */
int prof_report_handle(request_rec *r)
{
    const char *base, *rel;
    int is_api;

    security_headers(r);
    base = report_base(r, &rel);
    if (!strncmp(rel, "/assets/", 8)) {
        r->allowed |= (AP_METHOD_BIT << M_GET);
        if (r->method_number != M_GET) {
            return HTTP_METHOD_NOT_ALLOWED;
        }
        return prof_report_asset(r, rel + 8) ? OK : HTTP_NOT_FOUND;
    }
    if (!strncmp(rel, "/actions/", 9)) {
        if (!report_has_db) {
            return prof_report_json_error(r, HTTP_NOT_FOUND, NULL,
                                          "the report's actions " NEEDS_DB);
        }
        return prof_report_action(r, base, rel + 9);
    }
    is_api = !strncmp(rel, "/api/", 5) || !strcmp(rel, "/api");
    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        if (is_api) {
            apr_table_setn(r->err_headers_out, "Allow", "GET, HEAD");
            return prof_report_json_error(r, HTTP_METHOD_NOT_ALLOWED, NULL,
                                          "the API answers GET and HEAD");
        }
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (!strncmp(rel, "/api/v1/", 8)) {
        return api(r, rel + 8);
    }
    if (is_api) {
        return prof_report_json_error(r, HTTP_NOT_FOUND, NULL, "the API is at "
                                      "api/v1/");
    }
    return page(r, base, rel);
}

const char *prof_report_set_base(cmd_parms *cmd, void *dconf,
                                 const char *path)
{
    prof_dir_conf_t *conf = dconf;
    apr_size_t n = strlen(path);
    const char *c;

    if (*path != '/') {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use the URL "
                            "path the report is at, such as /profiler",
                            cmd->cmd->name, path);
    }
    for (c = path; *c; ++c) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f || *c == '?'
            || *c == '#') {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a URL "
                                "path without spaces, '?' or '#'",
                                cmd->cmd->name, path);
        }
    }
    while (n > 0 && path[n - 1] == '/') {
        --n;
    }
    conf->report_base = apr_pstrndup(cmd->pool, path, n);
    return NULL;
}

static int any_profiler_on(server_rec *s)
{
    for (; s; s = s->next) {
        if (prof_config_maybe_on(s)) {
            return 1;
        }
    }
    return 0;
}

/* A report without a database is valid (its live mode); say what it will
 * show, where "apachectl -t" shows it too. */
static int report_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog;
    /* As profiler_check_config: the first reading has no error log. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        && ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST) {
        return OK;
    }
    if (prof_db_any_driver() || prof_report_lint(ptemp, s) <= 0) {
        return OK;
    }
    if (!any_profiler_on(s)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PROFLOGNO(00250)
                     "SetHandler profiler-report: there is no database "
                     "(no DBDriver) and no Profiler On, "
                     "so the report has nothing to show; set Profiler On "
                     "for its live summary, or configure ProfilerStore's "
                     "database");
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PROFLOGNO(00251)
                     "report: no DBDriver anywhere: the report's "
                     "summary answers from the live metrics, the request "
                     "list needs ProfilerStore's database");
    }
    return OK;
}

static int report_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog; (void)ptemp; (void)s;
    report_has_db = prof_db_any_driver();
    return OK;
}

void prof_report_register_hooks(apr_pool_t *p)
{
    /* Reads the configuration tree only; order does not matter. */
    ap_hook_post_config(report_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* Messages only; order does not matter. */
    ap_hook_check_config(report_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* A content handler like any other: it only answers its own handler
     * name, so it can run in the middle. */
    prof_report_auth_register(p);
    prof_report_lint_register_hooks(p);
    prof_report_profile_register_hooks(p);
}
