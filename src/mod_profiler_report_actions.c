/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_dbd.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"

#include "mod_profiler_private.h"
#include "mod_profiler_db.h"
#include "mod_profiler_retention.h"
#include "mod_profiler_report_actions.h"
#include "mod_profiler_report_format.h"
#include "mod_profiler_report_query.h"

/* Same origin: the browser says where a POST came from (Origin, or
 * Sec-Fetch-Site); a cross-site form cannot delete anything. */
static int same_origin(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    const char *site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    const char *host = apr_table_get(r->headers_in, "Host");

    if (origin) {
        const char *mine;

        if (host == NULL) {
            return 0;
        }
        mine = apr_pstrcat(r->pool, ap_http_scheme(r), "://", host, NULL);
        return !strcasecmp(origin, mine);
    }
    return site && !strcmp(site, "same-origin");
}

int prof_report_action(request_rec *r, const char *base, const char *what)
{
    prof_report_conn_t conn, *c = &conn;
    const char *err = NULL;
    int ok = 1;

    memset(c, 0, sizeof(*c));
    if (strcmp(what, "prune") && strcmp(what, "clear")) {
        return prof_report_json_error(r, HTTP_NOT_FOUND, NULL,
                                      "no such action: prune or clear");
    }
    if (r->method_number != M_POST) {
        apr_table_setn(r->err_headers_out, "Allow", "POST");
        return prof_report_json_error(r, HTTP_METHOD_NOT_ALLOWED, NULL,
                                      "actions are POST only");
    }
    if (!same_origin(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, PROFLOGNO(00019)
                      "report: refused %s from another origin", what);
        return prof_report_json_error(r, HTTP_FORBIDDEN, NULL, "actions "
                                      "must come from the report's own pages "
                                      "(same origin)");
    }
    if (!strcmp(what, "prune")) {
        ok = prof_retention_prune(ap_server_conf, r->pool, &err)
             == APR_SUCCESS;
    }
    else if (prof_report_conn_open(r, c)) {
        static const char *const tables[] = { "spans", "profiles",
                                              "modules", "requests", "rollups",
                                              "rollups_hour",
                                              NULL };
        int i, n, ret = prof_db_begin(&c->db);

        for (i = 0; !ret && tables[i]; ++i) {
            ret = apr_dbd_query(c->db.dbd->driver, c->db.dbd->handle, &n,
                                apr_pstrcat(r->pool, "DELETE FROM ",
                                            c->db.prefix, tables[i], NULL));
        }
        ret = prof_db_end(&c->db, !ret) || ret;
        prof_report_conn_close(c);
        ok = !ret;
        err = ok ? NULL : "deleting failed";
    }
    else {
        ok = 0;
        err = c->err;
    }
    ap_log_rerror(APLOG_MARK, ok ? APLOG_NOTICE : APLOG_ERR, 0, r,
                  PROFLOGNO(00020) "report: %s %s%s%s", what,
                  ok ? "done" : "failed", err ? ": " : "", err ? err : "");
    if (!ok) {
        return prof_report_json_error(r, HTTP_INTERNAL_SERVER_ERROR, NULL,
                                      apr_pstrcat(r->pool, what, " failed",
                                                  NULL));
    }
    apr_table_setn(r->headers_out, "Location",
                   apr_pstrcat(r->pool, base, "/", NULL));
    return HTTP_SEE_OTHER;
}

