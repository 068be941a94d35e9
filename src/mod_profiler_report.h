/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report.h
 * @brief The report handler ("SetHandler profiler-report"): the JSON API,
 *        CSV exports, the HTML dashboard and its actions.
 *
 * Under the handler's location L:
 *
 *   L/                    the dashboard (summary, charts, store health)
 *   L/requests            the request list; L/requests/<id> one request
 *   L/api/v1/summary      JSON (or ?format=csv): per route, from rollups
 *   L/api/v1/timeseries   JSON (CSV): requests and percentiles over time
 *   L/api/v1/histogram    JSON (CSV): the latency distribution
 *   L/api/v1/requests     JSON (CSV): recorded requests, keyset paging
 *   L/api/v1/requests/<id> JSON: one request, its phases and spans
 *   L/api/v1/route?route=R JSON: one route's statistics and histogram
 *   L/api/v1/health       JSON: the store's own state
 *   L/actions/prune       POST, same origin: one retention pass now
 *   L/actions/clear       POST, same origin: delete every recorded row
 *   L/assets/app.css, L/assets/app.js   the dashboard's own files
 *
 * L is ProfilerReportBase, else the <Location> whose SetHandler names the
 * report, else guessed from the URI (mod_profiler_report_lint.h).
 *
 * Every response carries Cache-Control: no-store, nosniff and a strict
 * Content-Security-Policy, once each; every string from a request is escaped for
 * where it goes; SQL is parameterized (prof_report_sql.h).
 *
 * The report reads the database mod_dbd gives the main server, whether or
 * not this server stores requests itself (a reporting server can read a
 * fleet's PostgreSQL database).
 *
 * Without a database (no DBDriver anywhere in the configuration) the
 * report runs from the live metrics (mod_profiler_metrics.h): L/ and
 * L/api/v1/summary (and L/api/v1/histogram) show every request counted
 * since the server started, exactly, marked "source":"live" in JSON and by
 * a note on the page, from/to being the segment's start and now; what
 * needs rows or time (the request list, one request, the time series, a
 * route's statistics, health, the actions) answers 404 with a message
 * saying it needs ProfilerStore's database.
 */

#ifndef MOD_PROFILER_REPORT_H
#define MOD_PROFILER_REPORT_H

#include "httpd.h"
#include "http_config.h"

/* The store asks whether any section sets the report (then it opens the
 * database for the report even if nothing is stored): the scan lives in
 * its own unit. */
#include "mod_profiler_report_lint.h"
/* ProfilerReportToken, set in mod_profiler.c's table. */
#include "mod_profiler_report_auth.h"

/** ProfilerReportBase <path>: the URL path of the report, where it cannot
 * be derived from the <Location> that sets the handler (a <Directory>
 * with an Alias, a regex section, a RewriteRule). */
const char *prof_report_set_base(cmd_parms *cmd, void *dconf,
                                 const char *path);

void prof_report_register_hooks(apr_pool_t *p);

/** Answer a request whose handler is PROF_REPORT_HANDLER. */
int prof_report_handle(request_rec *r);

#endif /* MOD_PROFILER_REPORT_H */
