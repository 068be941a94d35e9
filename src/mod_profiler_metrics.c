/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_shm.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_listen.h"
#include "ap_mpm.h"
#include "scoreboard.h"

#include "prof_agg.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_metrics.h"

/* The segment: this header, then the prof_agg block. */
typedef struct {
    apr_uint64_t magic;
    apr_uint64_t agg_size;      /* bytes of the block that follows */
    apr_uint64_t rows[PROF_METRICS_ROWS_KINDS];
    apr_uint64_t otlp[PROF_METRICS_OTLP_KINDS];
    apr_uint64_t pad[7];        /* the block starts 128 bytes in */
} seg_head_t;

/* "MPROFME2": the OTLP counters made the header 128 bytes; a segment of
 * the 64-byte layout is foreign and made anew. */
#define SEG_MAGIC  APR_UINT64_C(0x4d50524f464d4532)
#define SEG_HEAD   128

/* What outlives a configuration generation: in the process pool. */
typedef struct {
    apr_shm_t *shm;
    void *base;
    apr_size_t size;
} kept_t;

static const char kept_key[] = "mod_profiler_metrics_segment";

/* This generation's, set in the parent (post_config, pre_mpm) before any
 * child exists, read-only afterwards. */
static prof_agg_t *main_agg;
static seg_head_t *seg;
static kept_t *kept;
static prof_agg_layout_t cur_layout;
static apr_pool_t *cur_pconf;
static server_rec *cur_main;

prof_agg_t *prof_metrics_agg(void)
{
    return main_agg;
}

void prof_metrics_count_rows(prof_metrics_rows_t kind, apr_uint64_t n)
{
    if (seg && n) {
        __atomic_fetch_add(&seg->rows[kind], n, __ATOMIC_RELAXED);
    }
}

void prof_metrics_count_otlp(prof_metrics_otlp_t kind, apr_uint64_t n)
{
    if (seg && n) {
        __atomic_fetch_add(&seg->otlp[kind], n, __ATOMIC_RELAXED);
    }
}

void prof_metrics_otlp(apr_uint64_t out[PROF_METRICS_OTLP_KINDS])
{
    int i;

    for (i = 0; i < PROF_METRICS_OTLP_KINDS; ++i) {
        out[i] = seg ? __atomic_load_n(&seg->otlp[i], __ATOMIC_RELAXED) : 0;
    }
}

void prof_metrics_rows(apr_uint64_t out[PROF_METRICS_ROWS_KINDS])
{
    int i;

    for (i = 0; i < PROF_METRICS_ROWS_KINDS; ++i) {
        out[i] = seg ? __atomic_load_n(&seg->rows[i], __ATOMIC_RELAXED) : 0;
    }
}

static int any_on(server_rec *s)
{
    for (; s; s = s->next) {
        if (prof_config_maybe_on(s)) {
            return 1;
        }
    }
    return 0;
}

/* "name:port" from the configuration: the port of ServerName, else of
 * the <VirtualHost> address, else of the first Listen. */
static const char *vhost_label(apr_pool_t *p, const server_rec *v)
{
    apr_port_t port = v->port;

    if (port == 0 && v->addrs) {
        port = v->addrs->host_port;
    }
    if (port == 0 && ap_listeners && ap_listeners->bind_addr) {
        port = ap_listeners->bind_addr->port;
    }
    return apr_psprintf(p, "%s:%u", v->server_hostname
                        ? v->server_hostname : "", (unsigned)port);
}

typedef struct {
    apr_uint32_t budget;
    prof_agg_t *agg;
} budget_t;

/* Give every server its label and a handle with its route budget (the
 * budget is the handle's, not the block's: one handle per budget). */
static void setup_servers(server_rec *s, apr_pool_t *pconf)
{
    apr_array_header_t *handles = apr_array_make(pconf, 2, sizeof(budget_t));
    apr_uint32_t main_budget = prof_config_max_routes(s);
    server_rec *v;

    prof_agg_set_max_routes(main_agg, main_budget);
    APR_ARRAY_PUSH(handles, budget_t).budget = main_budget;
    APR_ARRAY_IDX(handles, 0, budget_t).agg = main_agg;
    for (v = s; v; v = v->next) {
        prof_srv_conf_t *conf =
            ap_get_module_config(v->module_config, &profiler_module);
        apr_uint32_t budget = prof_config_max_routes(v);
        prof_agg_t *h = NULL;
        int i;

        /* A virtual host with none of our directives shares the main
         * server's record (httpd merges only what a section set): give it
         * its own, for its own label. */
        if (v != s && conf == ap_get_module_config(s->module_config,
                                                   &profiler_module)) {
            conf = apr_pmemdup(pconf, conf, sizeof(*conf));
            ap_set_module_config(v->module_config, &profiler_module, conf);
        }

        conf->metrics_vhost = vhost_label(pconf, v);
        /* Measured and hashed here, once, not on every request. */
        prof_agg_str_set(&conf->metrics_vhost_key, conf->metrics_vhost,
                         PROF_AGG_VHOST_MAX);
        for (i = 0; i < handles->nelts; ++i) {
            if (APR_ARRAY_IDX(handles, i, budget_t).budget == budget) {
                h = APR_ARRAY_IDX(handles, i, budget_t).agg;
            }
        }
        if (h == NULL) {
            /* Another view of the block just formatted or checked: its
             * check cannot fail. */
            if (prof_agg_attach(&h, pconf, (char *)seg + SEG_HEAD,
                                kept->size - SEG_HEAD, &cur_layout)
                != APR_SUCCESS) {
                h = main_agg;
            }
            else {
                budget_t *b = apr_array_push(handles);

                prof_agg_set_max_routes(h, budget);
                b->budget = budget;
                b->agg = h;
            }
        }
        conf->metrics_agg = h;
    }
}

static void clear_servers(server_rec *s)
{
    for (; s; s = s->next) {
        prof_srv_conf_t *conf =
            ap_get_module_config(s->module_config, &profiler_module);
        conf->metrics_agg = NULL;
        conf->metrics_vhost = NULL;
        prof_agg_str_set(&conf->metrics_vhost_key, NULL, 0);
    }
}

/* A new segment, formatted empty. */
static apr_status_t create(server_rec *s, apr_size_t agg_size)
{
    apr_status_t rv;

    rv = apr_shm_create(&kept->shm, SEG_HEAD + agg_size, NULL,
                        s->process->pool);
    if (rv != APR_SUCCESS) {
        kept->shm = NULL;
        return rv;
    }
    kept->base = apr_shm_baseaddr_get(kept->shm);
    kept->size = apr_shm_size_get(kept->shm);
    return APR_SUCCESS;
}

static void format(void)
{
    seg = kept->base;
    memset(seg, 0, SEG_HEAD);
    seg->agg_size = kept->size - SEG_HEAD;
    /* Formatted before anyone maps it: prof_agg_init() cannot fail for a
     * layout whose size we asked for. */
    prof_agg_init(&main_agg, cur_pconf, (char *)seg + SEG_HEAD,
                  kept->size - SEG_HEAD, &cur_layout,
                  (apr_uint64_t)apr_time_now());
    __atomic_store_n(&seg->magic, SEG_MAGIC, __ATOMIC_RELEASE);
}

/* Take over the segment kept from the previous generation; APR_SUCCESS,
 * or why it cannot be (logged by the caller). */
static apr_status_t take_over(const char **why, prof_agg_layout_t *was)
{
    seg_head_t *h = kept->base;
    apr_status_t rv;

    *why = NULL;
    if (kept->size < SEG_HEAD || h->magic != SEG_MAGIC
        || h->agg_size != kept->size - SEG_HEAD) {
        *why = "its header is not ours";
        return APR_EINVAL;
    }
    rv = prof_agg_attach(&main_agg, cur_pconf, (char *)h + SEG_HEAD,
                         kept->size - SEG_HEAD, &cur_layout);
    if (rv == APR_EMISMATCH) {
        prof_agg_layout_of((char *)h + SEG_HEAD, kept->size - SEG_HEAD, was);
    }
    else if (rv != APR_SUCCESS) {
        *why = "the aggregate table failed its checks";
    }
    if (rv == APR_SUCCESS) {
        seg = h;
    }
    return rv;
}

static int metrics_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    apr_size_t agg_size;
    apr_status_t rv;
    void *data = NULL;

    (void)plog; (void)ptemp;
    /* httpd reads its configuration twice at startup: the segment is made
     * in the reading that serves. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    main_agg = NULL;
    seg = NULL;
    cur_pconf = pconf;
    cur_main = s;
    clear_servers(s);
    if (!any_on(s)) {
        /* Off: nothing counts. A segment kept from before stays for a
         * generation that turns the profiler on again. */
        return OK;
    }
    cur_layout.keys = prof_config_metrics_keys(s);
    cur_layout.spans = PROF_AGG_SPANS_DEFAULT;
    cur_layout.routes = 2 * cur_layout.keys;
    agg_size = prof_agg_size(&cur_layout);

    apr_pool_userdata_get(&data, kept_key, s->process->pool);
    kept = data;
    if (kept == NULL) {
        kept = apr_pcalloc(s->process->pool, sizeof(*kept));
        apr_pool_userdata_set(kept, kept_key, apr_pool_cleanup_null,
                              s->process->pool);
    }
    if (kept->shm) {
        prof_agg_layout_t was;
        const char *why;

        memset(&was, 0, sizeof(was));
        rv = take_over(&why, &was);
        if (rv == APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, PROFLOGNO(00220)
                         "live metrics: kept the segment of %" APR_SIZE_T_FMT
                         " bytes across the restart", kept->size);
            setup_servers(s, pconf);
            return OK;
        }
        if (rv == APR_EMISMATCH && was.keys != cur_layout.keys) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, PROFLOGNO(00221)
                         "ProfilerMetricsKeys changed from %u to %u: the "
                         "live metrics segment is made anew and its counters "
                         "start again from zero", was.keys, cur_layout.keys);
        }
        else if (rv == APR_EMISMATCH) {
            /* A module of another layout version loaded by the restart. */
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, PROFLOGNO(00300)
                         "live metrics: the segment kept from before the "
                         "restart has the layout of another version of "
                         "mod_profiler; it is made anew and its counters "
                         "start again from zero");
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PROFLOGNO(00222)
                         "live metrics: the shared-memory segment kept from "
                         "before the restart is corrupt or foreign (%s); it "
                         "is made anew and its counters start again from "
                         "zero", why);
        }
        /* The children of the previous generation keep their own mapping
         * of it until they finish: this only unmaps the parent's. */
        apr_shm_destroy(kept->shm);
        kept->shm = NULL;
    }
    rv = create(s, agg_size);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00223)
                     "ProfilerMetricsKeys %u: cannot create the live "
                     "metrics' shared memory of %" APR_SIZE_T_FMT " bytes; "
                     "requests are timed but not counted", cur_layout.keys,
                     SEG_HEAD + agg_size);
        return OK;
    }
    format();
    setup_servers(s, pconf);
    return OK;
}

/* The MPMs run pre_mpm when they start without a graceful restart (the
 * first start and SIGHUP), after post_config and with no child running:
 * the counters start from zero there, and only there. */
static int metrics_pre_mpm(apr_pool_t *p, ap_scoreboard_e sb_type)
{
    (void)p; (void)sb_type;
    if (main_agg == NULL || kept == NULL || kept->shm == NULL) {
        return OK;
    }
    format();
    setup_servers(cur_main, cur_pconf);
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, cur_main, PROFLOGNO(00224)
                 "live metrics: a full start, the counters start from zero "
                 "(%u keys, %" APR_SIZE_T_FMT " bytes)", cur_layout.keys,
                 kept->size);
    return OK;
}

void prof_metrics_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* After the configuration is complete, in the parent, before any
     * child forks: the children inherit the segment's mapping. */
    ap_hook_post_config(metrics_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* Runs only on a start that is not graceful: the zeroing point. */
    ap_hook_pre_mpm(metrics_pre_mpm, NULL, NULL, APR_HOOK_MIDDLE);
}
