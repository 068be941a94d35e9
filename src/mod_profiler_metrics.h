/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_metrics.h
 * @brief The live aggregates of every timed request, in one segment of
 *        shared memory per server (prof_agg.h is the table inside it).
 *
 * Life of the segment. Made in post_config by the main server process
 * (anonymous apr_shm, so every child inherits it) and kept in the process
 * pool's userdata, which outlives every configuration generation:
 *
 *   - a graceful restart (apachectl graceful, SIGUSR1) takes the segment
 *     over as it is, so the counters never go backwards, and the old
 *     generation's children go on counting into it until they finish;
 *   - a full restart (apachectl restart, SIGHUP) and the first start zero
 *     it: the MPMs run the pre_mpm hook only when the start is not a
 *     graceful one, and that is where it is formatted anew;
 *   - a segment whose layout no longer fits (ProfilerMetricsKeys changed
 *     across a graceful restart), or that does not pass prof_agg_attach()'s
 *     checks (corrupt, foreign), is made anew, with a log line saying so.
 *
 * The segment is anonymous shared memory: no other process can open it, so
 * "corrupt or foreign" means memory damaged in place (the integration test
 * writes into the parent's mapping through /proc/<pid>/mem); a file-backed
 * segment would add a name to manage and permissions to get right for no
 * gain in a segment that lives only as long as the server.
 *
 * Besides the table the segment holds the store's row counters, so that
 * `mod_profiler_store_rows_total` counts every child's writer.
 *
 * Metrics are on where `Profiler On` is: a request the profiler times is
 * counted at the end of logging by mod_profiler_collect.c.
 */

#ifndef MOD_PROFILER_METRICS_H
#define MOD_PROFILER_METRICS_H

#include "httpd.h"

#include "prof_agg.h"

/** This generation's segment (with the main server's route budget); NULL
 *  when metrics are off (no Profiler On anywhere) or the segment could not
 *  be made. Set in the parent before any child exists; read-only after. */
prof_agg_t *prof_metrics_agg(void);

/** The handle that applies s's ProfilerMaxRoutes (same segment); NULL as
 *  prof_metrics_agg(). */
static APR_INLINE prof_agg_t *prof_metrics_agg_of(const server_rec *s);

/** The vhost label of s: its ServerName and port from the configuration
 *  (never the Host header), e.g. "www.example.com:443". */
static APR_INLINE const char *prof_metrics_vhost(const server_rec *s);

/** The same label as prof_agg_record_k() takes it: measured and hashed
 *  once per server, in post_config, so a request pays for neither. Set
 *  whenever prof_metrics_agg_of(s) is not NULL (else ""). */
static APR_INLINE const prof_agg_str_t *prof_metrics_vhost_key(
    const server_rec *s);

/** The store's row counters, server-wide. */
typedef enum {
    PROF_METRICS_ROWS_WRITTEN = 0,  /**< committed to the database */
    PROF_METRICS_ROWS_DROPPED,      /**< refused by a full or closed queue */
    PROF_METRICS_ROWS_FAILED,       /**< lost to database errors or memory */
    PROF_METRICS_ROWS_SAMPLED_OUT,  /**< not stored by the sampling */
    PROF_METRICS_ROWS_KINDS
} prof_metrics_rows_t;

/** Count n rows of a kind, from any thread of any child; nothing when
 *  metrics are off. */
void prof_metrics_count_rows(prof_metrics_rows_t kind, apr_uint64_t n);

/** The row counters, read now (0 when metrics are off). */
void prof_metrics_rows(apr_uint64_t out[PROF_METRICS_ROWS_KINDS]);

/** The OTLP exporter's request counters, server-wide. */
typedef enum {
    PROF_METRICS_OTLP_EXPORTED = 0, /**< accepted by the collector */
    PROF_METRICS_OTLP_DROPPED,      /**< refused by a full or closed queue */
    PROF_METRICS_OTLP_FAILED,       /**< the collector refused them, or
                                         never answered before a stop */
    PROF_METRICS_OTLP_KINDS
} prof_metrics_otlp_t;

/** Count n requests of a kind, from any thread of any child; nothing when
 *  metrics are off. */
void prof_metrics_count_otlp(prof_metrics_otlp_t kind, apr_uint64_t n);

/** The OTLP counters, read now (0 when metrics are off). */
void prof_metrics_otlp(apr_uint64_t out[PROF_METRICS_OTLP_KINDS]);

void prof_metrics_register_hooks(apr_pool_t *p);

/** The Prometheus handler (mod_profiler_metrics_handler.c). */
void prof_metrics_handler_register_hooks(apr_pool_t *p);

/** Answer a request whose handler is PROF_METRICS_HANDLER. */
int prof_metrics_handle(request_rec *r);

/* ---- inline getters: they run on every request -------------------- */

#include "mod_profiler_config.h"

static APR_INLINE prof_agg_t *prof_metrics_agg_of(const server_rec *s)
{
    return (prof_agg_t *)prof_config_srv(s)->metrics_agg;
}

static APR_INLINE const char *prof_metrics_vhost(const server_rec *s)
{
    const char *v = prof_config_srv(s)->metrics_vhost;
    return v ? v : s->server_hostname;
}

static APR_INLINE const prof_agg_str_t *prof_metrics_vhost_key(
    const server_rec *s)
{
    return &prof_config_srv(s)->metrics_vhost_key;
}

#endif /* MOD_PROFILER_METRICS_H */
