/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_otlp.h
 * @brief Each request exported as a trace to an OpenTelemetry collector
 *        over OTLP/HTTP (ProfilerOTLPEndpoint): its server span, a span per
 *        phase that ran, the span API's spans, nested as they were.
 *
 * A request thread encodes its spans at logging and hands them to a
 * bounded queue (never waits: a full queue drops and counts); one exporter
 * thread per child sends them in batches with libcurl, with a timeout per
 * export and retries with backoff while the collector is away. Nothing
 * about the collector's state reaches the requests.
 */

#ifndef MOD_PROFILER_OTLP_H
#define MOD_PROFILER_OTLP_H

#include "httpd.h"
#include "http_config.h"

#include "mod_profiler_req.h"

/** Is export configured (ProfilerOTLPEndpoint)? Read-only after
 * post_config. */
int prof_otlp_on(void);

/** ProfilerOTLPSample: the share of new traces that are sampled. */
double prof_otlp_sample(void);

/** r's trace, to the exporter's queue (hook_log_last; phases folded). */
void prof_otlp_capture(request_rec *r, prof_req_t *rq);

const char *prof_otlp_set(cmd_parms *cmd, void *dconf, const char *arg);
const char *prof_otlp_set2(cmd_parms *cmd, void *dconf, const char *a,
                           const char *b);
const char *prof_otlp_set_batch(cmd_parms *cmd, void *dconf, const char *a,
                                const char *b);

void prof_otlp_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_OTLP_H */
