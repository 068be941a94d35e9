/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"
#include "apr_tables.h"
#include "apr_optional.h"           /* before apr_optional_hooks.h: apu.h */
#include "apr_optional_hooks.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "mod_profiler.h"

#include "prof_span.h"
#include "prof_st.h"
#include "prof_st_parse.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_req.h"
#include "mod_profiler_span.h"
#include "mod_profiler_upstream.h"

#define ST_FIELD "Server-Timing"

static int collect(void *data, const char *key, const char *val)
{
    (void)key;
    *(const char **)apr_array_push(data) = val;
    return 1;
}

int prof_upstream_present(request_rec *r)
{
    return apr_table_get(r->headers_out, ST_FIELD) != NULL
           || apr_table_get(r->err_headers_out, ST_FIELD) != NULL;
}

int prof_upstream_write_st(request_rec *r, prof_st_buf_t *st, int present)
{
    apr_array_header_t *vals, *entries;
    const char *joined, *prefix;
    apr_status_t rv;
    int mode = prof_config_up_mode(r), i;

    if (mode == PROF_UP_PASS || !present) {
        return 0;
    }
    /* All fields, in the order the header filter would send them (it puts
     * err_headers_out first), joined as one list, as a browser joins them. */
    vals = apr_array_make(r->pool, 4, sizeof(const char *));
    if (mode != PROF_UP_DROP) {
        apr_table_do(collect, vals, r->err_headers_out, ST_FIELD, NULL);
        apr_table_do(collect, vals, r->headers_out, ST_FIELD, NULL);
    }
    apr_table_unset(r->err_headers_out, ST_FIELD);
    apr_table_unset(r->headers_out, ST_FIELD);
    if (mode == PROF_UP_DROP) {
        return 1;
    }
    joined = apr_array_pstrcat(r->pool, vals, ',');
    entries = apr_array_make(r->pool, 8, sizeof(prof_st_entry_t));
    rv = prof_st_parse(r->pool, joined, strlen(joined), entries);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, PROFLOGNO(00004)
                      "Server-Timing from upstream: %" APR_SIZE_T_FMT
                      " bytes, kept the first %d entries", strlen(joined),
                      entries->nelts);
    }
    prefix = prof_config_up_prefix(r);
    for (i = 0; i < entries->nelts; ++i) {
        const prof_st_entry_t *e = &APR_ARRAY_IDX(entries, i, prof_st_entry_t);

        /* Through our own writer: whatever the backend sent, the browser
         * gets the grammar. */
        prof_st_add(st, *prefix ? apr_pstrcat(r->pool, prefix, e->name, NULL)
                                : e->name,
                    e->has_dur ? prof_st_entry_dur_us(e) : PROF_ST_NO_DUR,
                    e->has_desc ? e->desc : NULL);
    }
    return 1;
}

void prof_upstream_drop(request_rec *r)
{
    if (prof_config_up_mode(r) == PROF_UP_DROP) {
        apr_table_unset(r->err_headers_out, ST_FIELD);
        apr_table_unset(r->headers_out, ST_FIELD);
    }
}

void prof_upstream_end(prof_req_t *rq)
{
    if (rq->upstream) {
        prof_span_end(rq->upstream);
        rq->upstream = NULL;
    }
}

/* mod_proxy_http creates the record of the backend's response right after
 * it sent the request, before it reads the response headers: the wait for
 * the backend starts here. The first attempt counts; retries add to it. */
static int proxy_create_req(request_rec *r, request_rec *pr)
{
    prof_req_t *rq = prof_req_get(r);

    (void)pr;
    if (rq && rq->upstream == NULL && !rq->headers_sent) {
        rq->upstream = prof_req_span_start(rq, "upstream");
    }
    return OK;
}

void prof_upstream_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* An optional hook: never runs when mod_proxy is not loaded. */
    APR_OPTIONAL_HOOK(proxy, create_req, proxy_create_req, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

apr_status_t prof_api_st_parse(apr_pool_t *p, const char *value,
                               apr_array_header_t **entries)
{
    apr_array_header_t *in = apr_array_make(p, 8, sizeof(prof_st_entry_t));
    apr_status_t rv = prof_st_parse(p, value ? value : "",
                                    value ? strlen(value) : 0, in);
    int i;

    /* The core's entry and the public one are kept apart on purpose: the
     * public struct is a promise, the core's may change. */
    *entries = apr_array_make(p, in->nelts ? in->nelts : 1,
                              sizeof(profiler_st_entry_t));
    for (i = 0; i < in->nelts; ++i) {
        const prof_st_entry_t *e = &APR_ARRAY_IDX(in, i, prof_st_entry_t);
        profiler_st_entry_t *o = apr_array_push(*entries);

        o->name = e->name;
        o->has_dur = e->has_dur;
        o->dur_ms = e->dur_ms;
        o->has_desc = e->has_desc;
        o->desc = e->desc;
    }
    return rv;
}
