/* Licensed under the Apache License, Version 2.0. */

/*
 * mod_profiler's section of server-status (mod_status's status_hook): the
 * live aggregates of mod_profiler_metrics.h, read with one snapshot.
 */

#include <string.h>

#include "apr_strings.h"
#include "apr_time.h"

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "mod_status.h"

#include "prof_agg.h"
#include "prof_hist.h"
#include "prof_report_text.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_status.h"
#include "mod_profiler_store.h"

/* What one status request reads, once. */
typedef struct {
    int on;                     /* the live metrics exist */
    apr_int64_t since_us;       /* when the segment began (0: unknown) */
    apr_uint64_t requests, server_errors, client_errors;
    prof_agg_counters_t counters;
    apr_uint64_t rows[PROF_METRICS_ROWS_KINDS];
    prof_agg_group_t *groups;   /* by (vhost, route), the busiest first */
    apr_size_t ngroups;
} status_t;

static void status_read(request_rec *r, status_t *st)
{
    prof_agg_t *agg = prof_metrics_agg();
    apr_size_t i;

    memset(st, 0, sizeof(*st));
    prof_metrics_rows(st->rows);
    if (agg == NULL) {
        return;
    }
    {
        prof_agg_snap_t *snap = prof_agg_snapshot(agg, r->pool);

        st->on = 1;
        st->counters = snap->counters;
        /* mod_profiler_metrics.c formats the segment with apr_time_now()
         * as its generation: that is when counting began. */
        st->since_us = (apr_int64_t)snap->generation;
        st->groups = prof_agg_groups(r->pool, snap, 0, &st->ngroups);
    }
    for (i = 0; i < st->ngroups; ++i) {
        st->requests += st->groups[i].hist.count;
        st->server_errors += st->groups[i].errors;
        st->client_errors += st->groups[i].client_errors;
    }
}

static const char *rate(apr_pool_t *p, apr_uint64_t part, apr_uint64_t whole)
{
    return apr_psprintf(p, "%.2f %%", whole ? 100.0 * (double)part
                                              / (double)whole : 0.0);
}

static const char *ms(apr_pool_t *p, apr_int64_t us)
{
    return apr_psprintf(p, "%.3f", (double)us / 1e3);
}

static const char *time_txt(apr_pool_t *p, apr_int64_t us)
{
    char buf[APR_RFC822_DATE_LEN];

    return us > 0 && apr_rfc822_date(buf, us) == APR_SUCCESS
           ? apr_pstrdup(p, buf) : "-";
}

static void status_auto(request_rec *r, const status_t *st)
{
    ap_rprintf(r, "ProfilerMetrics: %s\n"
               "ProfilerSince: %" APR_INT64_T_FMT "\n"
               "ProfilerRequests: %" APR_UINT64_T_FMT "\n"
               "ProfilerServerErrors: %" APR_UINT64_T_FMT "\n"
               "ProfilerClientErrors: %" APR_UINT64_T_FMT "\n"
               "ProfilerRoutes: %" APR_SIZE_T_FMT "\n"
               "ProfilerKeyOverflow: %" APR_UINT64_T_FMT "\n"
               "ProfilerSpanOverflow: %" APR_UINT64_T_FMT "\n"
               "ProfilerRouteFolded: %" APR_UINT64_T_FMT "\n"
               "ProfilerClaimStalls: %" APR_UINT64_T_FMT "\n"
               "ProfilerStore: %s\n"
               "ProfilerStoreRowsWritten: %" APR_UINT64_T_FMT "\n"
               "ProfilerStoreRowsDropped: %" APR_UINT64_T_FMT "\n"
               "ProfilerStoreRowsFailed: %" APR_UINT64_T_FMT "\n"
               "ProfilerStoreRowsSampledOut: %" APR_UINT64_T_FMT "\n",
               st->on ? "On" : "Off", apr_time_sec(st->since_us),
               st->requests, st->server_errors, st->client_errors,
               st->ngroups, st->counters.key_overflow,
               st->counters.span_overflow, st->counters.route_folded,
               st->counters.claim_stalls,
               prof_store_running() ? "On" : "Off",
               st->rows[PROF_METRICS_ROWS_WRITTEN],
               st->rows[PROF_METRICS_ROWS_DROPPED],
               st->rows[PROF_METRICS_ROWS_FAILED],
               st->rows[PROF_METRICS_ROWS_SAMPLED_OUT]);
}

static void status_html(request_rec *r, const status_t *st, int notable)
{
    apr_pool_t *p = r->pool;
    apr_size_t i, top = st->ngroups < PROF_STATUS_TOP_ROUTES
                        ? st->ngroups : PROF_STATUS_TOP_ROUTES;

    ap_rputs("<hr />\n<h2 id=\"profiler\">mod_profiler</h2>\n", r);
    if (!st->on) {
        ap_rputs("<p id=\"profiler-off\">Live metrics are off: no "
                 "<code>Profiler On</code> in this configuration.</p>\n", r);
    }
    else {
        ap_rprintf(r, "<dl id=\"profiler-totals\">"
                   "<dt>Requests counted since %s</dt>"
                   "<dd id=\"profiler-requests\">%" APR_UINT64_T_FMT "</dd>"
                   "<dt>5xx, 4xx</dt><dd>%s, %s</dd>"
                   "<dt>Routes</dt><dd>%" APR_SIZE_T_FMT "</dd>"
                   "<dt>Overflow</dt><dd>%" APR_UINT64_T_FMT " requests "
                   "beyond the key table, %" APR_UINT64_T_FMT " beyond the "
                   "route budget, %" APR_UINT64_T_FMT " spans beyond the "
                   "span table</dd></dl>\n", time_txt(p, st->since_us),
                   st->requests, rate(p, st->server_errors, st->requests),
                   rate(p, st->client_errors, st->requests), st->ngroups,
                   st->counters.key_overflow, st->counters.route_folded,
                   st->counters.span_overflow);
        if (notable) {
            /* ?notable: the same facts, without a table. */
            for (i = 0; i < top; ++i) {
                const prof_agg_group_t *g = &st->groups[i];

                ap_rprintf(r, "<p class=\"profiler-route\">%s %s: %"
                           APR_UINT64_T_FMT " requests, p50 %s ms, p95 %s "
                           "ms, p99 %s ms, 5xx %s</p>\n",
                           prof_report_html(p, g->vhost),
                           prof_report_html(p, g->route), g->hist.count,
                           ms(p, prof_hist_percentile(&g->hist, 50)),
                           ms(p, prof_hist_percentile(&g->hist, 95)),
                           ms(p, prof_hist_percentile(&g->hist, 99)),
                           rate(p, g->errors, g->hist.count));
            }
        }
        else {
            ap_rprintf(r, "<table id=\"profiler-routes\" border=\"0\">"
                       "<caption>The %" APR_SIZE_T_FMT " busiest routes "
                       "(percentiles within %.1f %%)</caption><tr>"
                       "<th>Vhost</th><th>Route</th><th>Requests</th>"
                       "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>"
                       "<th>5xx</th><th>4xx</th></tr>\n", top,
                       PROF_HIST_MAX_REL_ERR * 100);
            for (i = 0; i < top; ++i) {
                const prof_agg_group_t *g = &st->groups[i];

                ap_rprintf(r, "<tr><td>%s</td><td>%s</td><td>%"
                           APR_UINT64_T_FMT "</td><td>%s</td><td>%s</td>"
                           "<td>%s</td><td>%s</td><td>%s</td></tr>\n",
                           prof_report_html(p, g->vhost),
                           prof_report_html(p, g->route), g->hist.count,
                           ms(p, prof_hist_percentile(&g->hist, 50)),
                           ms(p, prof_hist_percentile(&g->hist, 95)),
                           ms(p, prof_hist_percentile(&g->hist, 99)),
                           rate(p, g->errors, g->hist.count),
                           rate(p, g->client_errors, g->hist.count));
            }
            ap_rputs("</table>\n", r);
        }
    }
    ap_rprintf(r, "<dl id=\"profiler-store\"><dt>Store</dt><dd>%s</dd>"
               "<dt>Rows</dt><dd>%" APR_UINT64_T_FMT " written, %"
               APR_UINT64_T_FMT " dropped (queue full), %" APR_UINT64_T_FMT
               " failed, %" APR_UINT64_T_FMT " sampled out</dd></dl>\n",
               prof_store_running() ? "on" : "off",
               st->rows[PROF_METRICS_ROWS_WRITTEN],
               st->rows[PROF_METRICS_ROWS_DROPPED],
               st->rows[PROF_METRICS_ROWS_FAILED],
               st->rows[PROF_METRICS_ROWS_SAMPLED_OUT]);
}

static int status_hook(request_rec *r, int flags)
{
    status_t st;

    status_read(r, &st);
    if (flags & AP_STATUS_SHORT) {
        status_auto(r, &st);
    }
    else {
        status_html(r, &st, flags & AP_STATUS_NOTABLE);
    }
    return OK;
}

void prof_status_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* An optional hook: it costs nothing where mod_status is not loaded,
     * and our section comes after mod_status's own tables. */
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
