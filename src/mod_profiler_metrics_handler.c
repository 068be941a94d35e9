/* Licensed under the Apache License, Version 2.0. */

/*
 * `SetHandler profiler-metrics`: the live aggregates for Prometheus, in
 * the text format 0.0.4 or OpenMetrics as the scraper's Accept asks
 * (prof_prom.h writes both). Read-only and lock-free: a snapshot of the
 * segment, so a scrape never holds up a request.
 */

#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "prof_agg.h"
#include "prof_prom.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_otlp.h"

static void write_rows(prof_prom_t *w)
{
    static const char *const result[PROF_METRICS_ROWS_KINDS] = {
        "written", "dropped", "failed", "sampled_out"
    };
    apr_uint64_t rows[PROF_METRICS_ROWS_KINDS];
    int i;

    prof_metrics_rows(rows);
    prof_prom_family(w, "mod_profiler_store_rows_total", "counter", NULL,
                     "Requests the measurement store wrote, dropped "
                     "(queue full), failed to write, or left out by its "
                     "sampling, across all children");
    for (i = 0; i < PROF_METRICS_ROWS_KINDS; ++i) {
        const char *labels[] = { "result", result[i], NULL };
        prof_prom_sample_u64(w, "mod_profiler_store_rows_total", labels,
                             rows[i]);
    }
}

static void write_otlp(prof_prom_t *w)
{
    static const char *const result[PROF_METRICS_OTLP_KINDS] = {
        "exported", "dropped", "failed"
    };
    apr_uint64_t n[PROF_METRICS_OTLP_KINDS];
    int i;

    prof_metrics_otlp(n);
    prof_prom_family(w, "mod_profiler_otlp_requests_total", "counter", NULL,
                     "Requests whose traces the OTLP exporter got accepted "
                     "by the collector, dropped (queue full), or lost (the "
                     "collector refused them), across all children");
    for (i = 0; i < PROF_METRICS_OTLP_KINDS; ++i) {
        const char *labels[] = { "result", result[i], NULL };
        prof_prom_sample_u64(w, "mod_profiler_otlp_requests_total", labels,
                             n[i]);
    }
}

/* SetHandler profiler-metrics: called by mod_profiler.c's handler hook,
 * which turns every other request away. */
int prof_metrics_handle(request_rec *r)
{
    prof_agg_t *agg;
    prof_agg_snap_t *snap, empty;
    prof_prom_format_t f;
    prof_prom_t *w;
    const char *text;
    apr_size_t len;

    r->allowed |= (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    f = prof_prom_negotiate(apr_table_get(r->headers_in, "Accept"));
    agg = prof_metrics_agg();
    if (agg) {
        snap = prof_agg_snapshot(agg, r->pool);
    }
    else {
        /* Profiler On nowhere, or no segment: the families, empty. */
        memset(&empty, 0, sizeof(empty));
        snap = &empty;
    }
    w = prof_prom_create(r->pool, f);
    prof_prom_write_agg(w, snap, prof_config_srv(r->server)->buckets);
    write_rows(w);
    if (prof_otlp_on()) {
        write_otlp(w);
    }
    text = prof_prom_finish(w, &len);

    ap_set_content_type(r, prof_prom_content_type(f));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_mergen(r->headers_out, "Vary", "Accept");
    ap_set_content_length(r, (apr_off_t)len);
    if (!r->header_only) {
        ap_rwrite(text, (int)len, r);
    }
    return OK;
}

void prof_metrics_handler_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* The handler is mod_profiler.c's, shared with the report's. */
}
