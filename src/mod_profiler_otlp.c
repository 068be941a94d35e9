/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "apr_thread_mutex.h"
#include "apr_date.h"
#include "apr_signal.h"
#include "apr_lib.h"
#include "apr_file_info.h"
#include "apr_strings.h"
#include "apr_uri.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_mpm.h"

#include "prof_otlp.h"
#include "prof_otlp_rec.h"
#include "prof_phase.h"
#include "prof_queue.h"
#include "prof_span.h"
#include "prof_trace.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_collect.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_req.h"
#include "mod_profiler_span.h"
#include "mod_profiler_trace.h"
#include "mod_profiler_otlp.h"

#define DEFAULT_SERVICE     "httpd"
#define DEFAULT_QUEUE       2048
#define DEFAULT_BATCH       512
#define DEFAULT_DELAY_US    apr_time_from_msec(1000)
#define DEFAULT_TIMEOUT_US  apr_time_from_msec(500)
/* While the collector is away: a new attempt at least this often. */
#define RETRY_MAX_US        apr_time_from_sec(5)
#define RETRY_FIRST_US      apr_time_from_msec(250)

/* The main server's settings (the directives are refused in a vhost). */
typedef struct {
    const char *endpoint;           /* NULL: no export */
    const char *service;
    int json;                       /* PROF_UNSET: protobuf */
    int gzip;                       /* PROF_UNSET: none */
    apr_array_header_t *headers;    /* "Name: value" */
    apr_array_header_t *resource;   /* prof_otlp_attr_t */
    double sample;                  /* < 0: unset (1) */
    int queue;                      /* PROF_UNSET */
    int batch;                      /* PROF_UNSET */
    apr_interval_time_t delay_us;   /* < 0: unset */
    apr_interval_time_t timeout_us; /* < 0: unset */
    const char *ca_file;            /* NULL: the system's */
    int any;                        /* some ProfilerOTLP* directive */
} otlp_conf_t;

/* This generation's, set by post_config in the parent before any child
 * exists and read-only afterwards (children inherit them). */
static otlp_conf_t *active;
static prof_otlp_resource_t resource;
static double sample_share = 1.0;

/* The child's exporter: its queue, and what its thread alone uses. */
typedef struct {
    prof_queue_t *q;
    prof_writer_t *w;
    CURL *curl;
    struct curl_slist *hdrs;
    apr_pool_t *bp;                 /* per batch; unmanaged, own allocator */
    server_rec *s;
    apr_interval_time_t retry_after_us;   /* from the last answer */
    int down;                       /* an outage is on (request threads
                                       read it: atomic) */
    int giving_up;                  /* stopping, and the collector failed */
    apr_uint64_t dropped;           /* requests dropped (atomic) */
    apr_uint64_t dropped_at_down;   /* ... when the outage began */
    apr_thread_mutex_t *free_lock;  /* the records' blocks to reuse */
    struct item_t **free;           /* a stack of free_max; the top the
                                       block last read by the exporter */
    apr_size_t nfree, free_max;
    char err[CURL_ERROR_SIZE];
} exporter_t;

static exporter_t *exporter;        /* child_init; NULL: none */

/* prefork kills a child with a handler that destroys its pool inside the
 * signal handler (see otlp_child_exit()): ours, in front, notes it. */
static volatile sig_atomic_t killed;
static void (*prev_term)(int), (*prev_hup)(int);

/* A queue item: one request's record (prof_otlp_rec_put()). */
typedef struct item_t {
    int block;                      /* BLOCK_DATA bytes: one of the stack's */
    apr_uint64_t data[1];
} item_t;

/* Room for a usual request's record: its phases' ticks (some 370 bytes
 * with the head), a few hundred bytes of strings, some spans of the span
 * API. */
#define BLOCK_DATA 1024

int prof_otlp_on(void)
{
    return active != NULL;
}

double prof_otlp_sample(void)
{
    return sample_share;
}

/* ---- configuration ------------------------------------------------------ */

static otlp_conf_t *conf_of(server_rec *s)
{
    prof_srv_conf_t *sc = ap_get_module_config(s->module_config,
                                               &profiler_module);

    if (sc->otlp == NULL) {
        otlp_conf_t *c = apr_pcalloc(s->process->pconf, sizeof(*c));

        c->json = PROF_UNSET;
        c->gzip = PROF_UNSET;
        c->sample = -1;
        c->queue = PROF_UNSET;
        c->batch = PROF_UNSET;
        c->delay_us = -1;
        c->timeout_us = -1;
        sc->otlp = c;
    }
    return sc->otlp;
}

static const char *number(cmd_parms *cmd, const char *arg, apr_int64_t lo,
                          apr_int64_t hi, const char *what, apr_int64_t *out)
{
    char *end = NULL;

    errno = 0;
    *out = apr_strtoi64(arg, &end, 10);
    if (errno || end == arg || *end || *out < lo || *out > hi) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a number "
                            "of %s from %" APR_INT64_T_FMT " to %"
                            APR_INT64_T_FMT, cmd->cmd->name, arg, what, lo,
                            hi);
    }
    return NULL;
}

static int is_token(const char *s)
{
    if (!*s) {
        return 0;
    }
    for (; *s; ++s) {
        if (!apr_isalnum(*s) && !strchr("!#$%&'*+-.^_`|~", *s)) {
            return 0;
        }
    }
    return 1;
}

const char *prof_otlp_set(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *name = cmd->cmd->name;
    otlp_conf_t *c;
    apr_int64_t v;

    (void)dconf;
    if (err) {
        return err;
    }
    c = conf_of(cmd->server);
    c->any = 1;
    if (!strcasecmp(name, "ProfilerOTLPEndpoint")) {
        apr_uri_t u;

        if (apr_uri_parse(cmd->pool, arg, &u) != APR_SUCCESS || !u.scheme
            || (strcasecmp(u.scheme, "http") && strcasecmp(u.scheme, "https"))
            || !u.hostname || !*u.hostname || u.fragment) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use an "
                                "http:// or https:// URL such as "
                                "http://otel-collector:4318/v1/traces",
                                name, arg);
        }
        c->endpoint = apr_pstrdup(cmd->pool, arg);
    }
    else if (!strcasecmp(name, "ProfilerOTLPServiceName")) {
        if (!*arg || strlen(arg) > 255) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a "
                                "name of 1 to 255 bytes", name, arg);
        }
        c->service = prof_otlp_utf8(arg, 255, cmd->pool);
    }
    else if (!strcasecmp(name, "ProfilerOTLPProtocol")) {
        if (!strcasecmp(arg, "http/protobuf")) {
            c->json = 0;
        }
        else if (!strcasecmp(arg, "http/json")) {
            c->json = 1;
        }
        else {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use "
                                "http/protobuf or http/json", name, arg);
        }
    }
    else if (!strcasecmp(name, "ProfilerOTLPCompression")) {
        if (!strcasecmp(arg, "gzip")) {
            c->gzip = 1;
        }
        else if (!strcasecmp(arg, "none")) {
            c->gzip = 0;
        }
        else {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use gzip "
                                "or none", name, arg);
        }
    }
    else if (!strcasecmp(name, "ProfilerOTLPSample")) {
        char *end = NULL;
        double d;

        errno = 0;
        d = strtod(arg, &end);
        if (errno || end == arg || *end || !(d >= 0 && d <= 1)) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use a "
                                "fraction from 0 to 1", name, arg);
        }
        c->sample = d;
    }
    else if (!strcasecmp(name, "ProfilerOTLPQueue")) {
        if ((err = number(cmd, arg, 1, 1000000, "requests", &v))) {
            return err;
        }
        c->queue = (int)v;
    }
    else if (!strcasecmp(name, "ProfilerOTLPTimeout")) {
        if ((err = number(cmd, arg, 1, 60000, "milliseconds", &v))) {
            return err;
        }
        c->timeout_us = apr_time_from_msec(v);
    }
    else if (!strcasecmp(name, "ProfilerOTLPCACertificateFile")) {
        const char *path = ap_server_root_relative(cmd->pool, arg);
        apr_finfo_t fi;

        if (!path || apr_stat(&fi, path, APR_FINFO_TYPE, cmd->pool)
                         != APR_SUCCESS || fi.filetype != APR_REG) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not a readable "
                                "file", name, arg);
        }
        c->ca_file = path;
    }
    return NULL;
}

const char *prof_otlp_set2(cmd_parms *cmd, void *dconf, const char *a,
                           const char *b)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *name = cmd->cmd->name;
    otlp_conf_t *c;

    (void)dconf;
    if (err) {
        return err;
    }
    c = conf_of(cmd->server);
    c->any = 1;
    if (!strcasecmp(name, "ProfilerOTLPHeader")) {
        if (!is_token(a)) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not a valid header "
                                "name", name, a);
        }
        if (!strcasecmp(a, "Content-Type") || !strcasecmp(a, "Content-Length")
            || !strcasecmp(a, "Content-Encoding") || !strcasecmp(a, "Host")) {
            return apr_psprintf(cmd->pool, "%s: %s is the exporter's own "
                                "header; it cannot be set", name, a);
        }
        if (strpbrk(b, "\r\n")) {
            return apr_psprintf(cmd->pool, "%s: the value of %s must be one "
                                "line", name, a);
        }
        if (c->headers == NULL) {
            c->headers = apr_array_make(cmd->pool, 4, sizeof(const char *));
        }
        APR_ARRAY_PUSH(c->headers, const char *) =
            apr_pstrcat(cmd->pool, a, ": ", b, NULL);
    }
    else {      /* ProfilerOTLPResource */
        prof_otlp_attr_t *at;

        if (!*a || strlen(a) > 255) {
            return apr_psprintf(cmd->pool, "%s: '%s' is not a valid "
                                "attribute name", name, a);
        }
        if (c->resource == NULL) {
            c->resource = apr_array_make(cmd->pool, 4, sizeof(*at));
        }
        at = apr_array_push(c->resource);
        at->key = prof_otlp_utf8(a, 255, cmd->pool);
        at->s = prof_otlp_utf8(b, 4096, cmd->pool);
        at->i = 0;
    }
    return NULL;
}

const char *prof_otlp_set_batch(cmd_parms *cmd, void *dconf, const char *a,
                                const char *b)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    otlp_conf_t *c;
    apr_int64_t v;

    (void)dconf;
    if (err) {
        return err;
    }
    c = conf_of(cmd->server);
    c->any = 1;
    if ((err = number(cmd, a, 1, 10000, "requests", &v))) {
        return err;
    }
    c->batch = (int)v;
    if (b) {
        if ((err = number(cmd, b, 1, 60000, "milliseconds", &v))) {
            return err;
        }
        c->delay_us = apr_time_from_msec(v);
    }
    return NULL;
}

/* ---- a request's record ------------------------------------------------- */

static const char *protocol_version(const request_rec *r)
{
    switch (r->proto_num) {
    case HTTP_VERSION(1, 1): return "1.1";
    case HTTP_VERSION(1, 0): return "1.0";
    case HTTP_VERSION(2, 0): return "2";
    case HTTP_VERSION(0, 9): return "0.9";
    default:
        return apr_psprintf(r->pool, "%d.%d", HTTP_VERSION_MAJOR(r->proto_num),
                            HTTP_VERSION_MINOR(r->proto_num));
    }
}

static void drop(exporter_t *x)
{
    __atomic_add_fetch(&x->dropped, 1, __ATOMIC_RELAXED);
    prof_metrics_count_otlp(PROF_METRICS_OTLP_DROPPED, 1);
}

/* Blocks for the records: most fit in one, which goes back to a stack of
 * the child's when its batch is sent (a malloc a request, freed on another
 * thread, cost more than the rest of the copy). The stack is an array, not
 * a list through the blocks: taking one reads no cold block, and the one
 * taken is the one the exporter read last (the likeliest still cached). A
 * larger record (long strings, many spans) is malloc'd for itself. */
static item_t *item_get(exporter_t *x, apr_size_t size)
{
    item_t *it = NULL;

    if (size <= BLOCK_DATA) {
        apr_thread_mutex_lock(x->free_lock);
        if (x->nfree) {
            it = x->free[--x->nfree];
        }
        apr_thread_mutex_unlock(x->free_lock);
        if (it == NULL && (it = malloc(sizeof(*it) + BLOCK_DATA)) != NULL) {
            it->block = 1;
        }
        return it;
    }
    if ((it = malloc(sizeof(*it) + size)) != NULL) {
        it->block = 0;
    }
    return it;
}

/* Back after a batch, in the order read (the last on top): blocks kept
 * up to two batches' worth. */
static void items_put(exporter_t *x, void **items, apr_size_t n)
{
    apr_size_t i;

    apr_thread_mutex_lock(x->free_lock);
    for (i = 0; i < n; ++i) {
        item_t *it = items[i];

        if (it->block && x->nfree < x->free_max) {
            x->free[x->nfree++] = it;
            items[i] = NULL;
        }
    }
    apr_thread_mutex_unlock(x->free_lock);
    for (i = 0; i < n; ++i) {
        free(items[i]);             /* (what was not kept; free(NULL)) */
    }
}

void prof_otlp_capture(request_rec *r, prof_req_t *rq)
{
    prof_trace_req_t *t = rq->trace;
    request_rec *first = rq->r, *last = prof_req_final(r);
    const prof_srv_conf_t *sconf;
    prof_otlp_rec_in_t in;
    prof_span_info_t *api = NULL;
    apr_size_t size;
    const char *path;
    item_t *item;

    if (exporter == NULL || t == NULL || !(t->ctx.flags & PROF_TRACE_SAMPLED)) {
        return;
    }
    /* While the collector is away and the queue is full, the request
     * would be dropped after its record was made: drop it before. */
    if (__atomic_load_n(&exporter->down, __ATOMIC_RELAXED)
        && prof_queue_length(exporter->q) >= (apr_size_t)active->queue) {
        drop(exporter);
        return;
    }
    /* What only this thread can know, copied as it is: the spans are made
     * by the exporter (prof_otlp_rec_trace()). */
    in.napi = prof_req_spans(rq) ? prof_req_finished_spans(r, rq, &api) : 0;
    in.api = api;
    path = first->parsed_uri.path ? first->parsed_uri.path : first->uri;
    in.s[PROF_OTLP_REC_METHOD] = first->method;
    in.s[PROF_OTLP_REC_PATH] = path;
    in.s[PROF_OTLP_REC_SCHEME] = ap_http_scheme(first);
    /* A route named here (ProfilerRoute) or a 404's label; else the
     * exporter folds the path, unless it is too long to be kept whole. */
    sconf = prof_config_srv(first->server);
    in.s[PROF_OTLP_REC_ROUTE] =
        sconf->routes || last->status == 404
        || (path && strlen(path) > PROF_OTLP_PATH_MAX)
        ? prof_collect_route(r, rq) : NULL;
    in.s[PROF_OTLP_REC_HOST] = first->hostname ? first->hostname
                                               : first->server->server_hostname;
    in.s[PROF_OTLP_REC_CLIENT] = first->useragent_ip;
    in.s[PROF_OTLP_REC_PROTO] = protocol_version(first);
    in.s[PROF_OTLP_REC_UA] = apr_table_get(first->headers_in, "User-Agent");
    in.s[PROF_OTLP_REC_STATE] = t->has_parent
                                ? apr_table_get(first->headers_in,
                                                "tracestate")
                                : NULL;
    in.ph = &rq->phases;
    in.request_time = first->request_time;
    in.status = last->status;
    in.port = ap_get_server_port(first);
    memcpy(in.trace_id, t->ctx.trace_id, 16);
    memcpy(in.span_id, t->ctx.span_id, 8);
    memcpy(in.parent_id, t->parent, 8);
    memcpy(in.upstream_id, t->upstream, 8);
    in.flags = t->ctx.flags;
    in.has_parent = t->has_parent;
    in.has_upstream = t->has_upstream;
    /* Into a block; a record too large for one gets its own. */
    if ((item = item_get(exporter, BLOCK_DATA)) == NULL) {
        drop(exporter);
        return;
    }
    size = prof_otlp_rec_put(item->data, BLOCK_DATA, &in);
    if (size > BLOCK_DATA) {
        items_put(exporter, (void **)&item, 1);
        if ((item = item_get(exporter, size)) == NULL) {
            drop(exporter);
            return;
        }
        prof_otlp_rec_put(item->data, size, &in);
    }
    if (!prof_queue_push(exporter->q, item)) {
        items_put(exporter, (void **)&item, 1);
        drop(exporter);
    }
}

/* ---- the exporter thread ---------------------------------------------- */

static size_t sink(char *ptr, size_t size, size_t nmemb, void *baton)
{
    (void)ptr; (void)baton;
    return size * nmemb;
}

/* Retry-After: delta-seconds or an HTTP-date. */
static size_t header_cb(char *buf, size_t size, size_t nitems, void *baton)
{
    exporter_t *x = baton;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";

    if (n > sizeof(name) - 1 && !strncasecmp(buf, name, sizeof(name) - 1)) {
        char *v = apr_pstrmemdup(x->bp, buf + sizeof(name) - 1,
                                 n - (sizeof(name) - 1));
        char *end;
        apr_int64_t secs;
        apr_time_t when;

        apr_collapse_spaces(v, v);  /* (returns the end, not v) */
        secs = apr_strtoi64(v, &end, 10);
        if (end != v && *end == '\0' && secs >= 0) {
            x->retry_after_us = apr_time_from_sec(secs);
        }
        else if ((when = apr_date_parse_http(v)) != APR_DATE_BAD) {
            x->retry_after_us = when - apr_time_now();
        }
    }
    return n;
}

static const char *gzipped(apr_pool_t *p, const char *in, apr_size_t len,
                           apr_size_t *out_len)
{
    z_stream zs;
    char *out;
    apr_size_t cap = len + len / 1000 + 64;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY)
        != Z_OK) {
        return NULL;
    }
    cap = deflateBound(&zs, (uLong)len);
    out = apr_palloc(p, cap);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&zs);
        return NULL;
    }
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}

/* One POST; the HTTP status, or 0 when there was none (no connection, a
 * timeout: x->err says which). */
static long post(exporter_t *x, const char *body, apr_size_t len)
{
    long code = 0;
    CURLcode rc;

    x->retry_after_us = -1;
    x->err[0] = '\0';
    curl_easy_setopt(x->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(x->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    rc = curl_easy_perform(x->curl);
    if (rc != CURLE_OK) {
        if (!x->err[0]) {
            apr_cpystrn(x->err, curl_easy_strerror(rc), sizeof(x->err));
        }
        return 0;
    }
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    return code;
}

/* Sleeps us, in steps, until then or until the queue is closed. */
static void pause_unless_closed(exporter_t *x, apr_interval_time_t us)
{
    apr_time_t until = apr_time_now() + us;

    while (!prof_queue_closed(x->q)) {
        apr_time_t now = apr_time_now();

        if (now >= until) {
            break;
        }
        apr_sleep(until - now < apr_time_from_msec(50)
                  ? until - now : apr_time_from_msec(50));
    }
}

/* Asks for len bytes at p to be brought into the cache, without waiting. */
static APR_INLINE void prefetch(const void *p, apr_size_t len)
{
#if defined(__GNUC__)
    const char *c = p;
    apr_size_t i;

    for (i = 0; i < len; i += 64) {
        __builtin_prefetch(c + i);
    }
#else
    (void)p;
    (void)len;
#endif
}

static apr_status_t export_batch(void *baton, void **items, apr_size_t n)
{
    exporter_t *x = baton;
    prof_otlp_batch_t *b;
    apr_size_t i, len, zlen;
    const char *body, *z;
    apr_interval_time_t backoff = RETRY_FIRST_US, wait;
    long code;
    int json = active->json == 1;

    apr_pool_clear(x->bp);
    /* Each record's spans made and encoded into the batch, one after
     * another (a request's take about 1.5 KB in protobuf). */
    b = prof_otlp_batch_begin(&resource, json, n * (json ? 4096 : 1536),
                              x->bp);
    for (i = 0; i < n; ++i) {
        prof_otlp_trace_t tr;

        /* The records were written a batch ago by the request threads and
         * are read cold: the next one's head and first strings are asked
         * for while this one is made into spans. */
        if (i + 1 < n) {
            prefetch(((item_t *)items[i + 1])->data, 512);
        }
        prof_otlp_rec_trace(((item_t *)items[i])->data, x->bp, &tr);
        prof_otlp_batch_add(b, &tr);
    }
    body = prof_otlp_batch_end(b, &len);
    if (active->gzip == 1 && (z = gzipped(x->bp, body, len, &zlen))) {
        body = z;
        len = zlen;
    }
    for (;;) {
        if (x->giving_up) {
            code = -1;
            break;
        }
        code = post(x, body, len);
        if (code >= 200 && code < 300) {
            prof_metrics_count_otlp(PROF_METRICS_OTLP_EXPORTED, n);
            if (x->down) {
                ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, x->s,
                             PROFLOGNO(00394) "OTLP export to %s works "
                             "again; %" APR_UINT64_T_FMT " requests were "
                             "dropped while it did not", active->endpoint,
                             __atomic_load_n(&x->dropped, __ATOMIC_RELAXED)
                             - x->dropped_at_down);
                __atomic_store_n(&x->down, 0, __ATOMIC_RELAXED);
            }
            break;
        }
        if (!x->down) {
            /* Once per outage, not per request or per attempt. */
            if (code) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s,
                             PROFLOGNO(00395) "OTLP export to %s answered "
                             "%ld; %s", active->endpoint, code,
                             code == 429 || code == 502 || code == 503
                             || code == 504
                             ? "trying again at least every 5 s, requests "
                               "are dropped while the queue is full"
                             : "that batch is dropped");
            }
            else {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, x->s,
                             PROFLOGNO(00396) "OTLP export to %s failed "
                             "(%s); trying again at least every 5 s, "
                             "requests are dropped while the queue is full",
                             active->endpoint, x->err);
            }
            __atomic_store_n(&x->down, 1, __ATOMIC_RELAXED);
            x->dropped_at_down = __atomic_load_n(&x->dropped,
                                                 __ATOMIC_RELAXED);
        }
        if (code && code != 429 && code != 502 && code != 503
            && code != 504) {
            break;                  /* refused for good: not retried */
        }
        if (prof_queue_closed(x->q)) {
            /* Stopping: what is left goes without waiting for it. */
            x->giving_up = 1;
            break;
        }
        wait = x->retry_after_us >= 0 ? x->retry_after_us : backoff;
        if (wait > RETRY_MAX_US) {
            wait = RETRY_MAX_US;
        }
        pause_unless_closed(x, wait);
        backoff = backoff * 2 > RETRY_MAX_US ? RETRY_MAX_US : backoff * 2;
    }
    if (!(code >= 200 && code < 300)) {
        prof_metrics_count_otlp(PROF_METRICS_OTLP_FAILED, n);
    }
    items_put(x, items, n);
    return APR_SUCCESS;
}

static void otlp_killed(int sig)
{
    void (*prev)(int) = sig == SIGTERM ? prev_term : prev_hup;

    killed = 1;
    if (prev != SIG_DFL && prev != SIG_IGN && prev != SIG_ERR && prev) {
        prev(sig);
    }
    else if (prev != SIG_IGN) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
}

/*
 * The child's pool goes, before the writer's own pre-cleanup (which sends
 * what is queued). Killed by prefork, this runs inside the signal handler
 * on the thread it interrupted, which may hold the queue's lock: the
 * exporter is told to stop without sending more and given a moment; if it
 * has not left by then (a POST under way, a lock it waits for), the child
 * leaves at once. Queued requests are lost either way: it is being killed.
 */
static apr_status_t otlp_child_exit(void *data)
{
    exporter_t *x = data;
    int i;

    if (killed) {
        prof_writer_abandon(x->w);
        for (i = 0; i < 100 && !prof_writer_exited(x->w); ++i) {
            apr_sleep(apr_time_from_msec(10));
        }
        if (!prof_writer_exited(x->w)) {
            _exit(0);
        }
    }
    return APR_SUCCESS;
}

static apr_status_t exporter_cleanup(void *data)
{
    exporter_t *x = data;

    /* After the writer's pre-cleanup stopped it (it drained the queue). */
    exporter = NULL;
    if (x->curl) {
        curl_easy_cleanup(x->curl);
        x->curl = NULL;
    }
    if (x->hdrs) {
        curl_slist_free_all(x->hdrs);
        x->hdrs = NULL;
    }
    if (x->bp) {
        apr_pool_destroy(x->bp);
        x->bp = NULL;
    }
    while (x->nfree) {
        free(x->free[--x->nfree]);
    }
    return APR_SUCCESS;
}

static void otlp_child_init(apr_pool_t *pchild, server_rec *s)
{
    exporter_t *x;
    apr_allocator_t *al = NULL;
    apr_status_t rv;
    int i;

    if (active == NULL) {
        return;
    }
    x = apr_pcalloc(pchild, sizeof(*x));
    x->s = s;
    /* The batches' pool: only the exporter thread uses it, with an
     * allocator of its own (prefork's child pools share one without a
     * lock, which the request's thread goes on using). */
    if ((rv = apr_allocator_create(&al)) != APR_SUCCESS
        || (rv = apr_pool_create_unmanaged_ex(&x->bp, NULL, al))
           != APR_SUCCESS) {
        if (al) {
            apr_allocator_destroy(al);
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00397)
                     "OTLP export: no memory for the exporter; this child "
                     "exports nothing");
        return;
    }
    apr_allocator_owner_set(al, x->bp);
    x->curl = curl_easy_init();
    if (x->curl == NULL) {
        apr_pool_destroy(x->bp);
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PROFLOGNO(00398)
                     "OTLP export: libcurl could not start; this child "
                     "exports nothing");
        return;
    }
    x->hdrs = curl_slist_append(NULL, active->json == 1
                                      ? "Content-Type: application/json"
                                      : "Content-Type: application/x-protobuf");
    if (active->gzip == 1) {
        x->hdrs = curl_slist_append(x->hdrs, "Content-Encoding: gzip");
    }
    x->hdrs = curl_slist_append(x->hdrs, "Expect:");
    for (i = 0; active->headers && i < active->headers->nelts; ++i) {
        x->hdrs = curl_slist_append(x->hdrs, APR_ARRAY_IDX(active->headers,
                                                           i, const char *));
    }
    curl_easy_setopt(x->curl, CURLOPT_URL, active->endpoint);
    curl_easy_setopt(x->curl, CURLOPT_POST, 1L);
    curl_easy_setopt(x->curl, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->curl, CURLOPT_TIMEOUT_MS,
                     (long)apr_time_as_msec(active->timeout_us));
    curl_easy_setopt(x->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)apr_time_as_msec(active->timeout_us));
    curl_easy_setopt(x->curl, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(x->curl, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(x->curl, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->curl, CURLOPT_ERRORBUFFER, x->err);
    curl_easy_setopt(x->curl, CURLOPT_USERAGENT, "mod_profiler");
    curl_easy_setopt(x->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(x->curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(x->curl, CURLOPT_SSL_VERIFYHOST, 2L);
    if (active->ca_file) {
        curl_easy_setopt(x->curl, CURLOPT_CAINFO, active->ca_file);
    }
    if ((rv = apr_thread_mutex_create(&x->free_lock,
                                      APR_THREAD_MUTEX_DEFAULT, pchild))
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00399)
                     "OTLP export: cannot start the exporter thread; this "
                     "child exports nothing");
        return;
    }
    x->free_max = 2 * (apr_size_t)active->batch;
    x->free = apr_palloc(pchild, x->free_max * sizeof(*x->free));
    /* Registered before the writer starts, so it runs after the writer's
     * pre-cleanup has drained the queue. */
    apr_pool_cleanup_register(pchild, x, exporter_cleanup,
                              apr_pool_cleanup_null);
    if ((rv = prof_queue_create(&x->q, (apr_size_t)active->queue, pchild))
            != APR_SUCCESS
        || (rv = prof_writer_start(&x->w, x->q, (apr_size_t)active->batch,
                                   active->delay_us, export_batch, NULL, x,
                                   pchild)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, PROFLOGNO(00399)
                     "OTLP export: cannot start the exporter thread; this "
                     "child exports nothing");
        return;
    }
    apr_pool_pre_cleanup_register(pchild, x, otlp_child_exit);
    killed = 0;
    {
        int threaded = 0;

        /* (httpd -X keeps the parent's handlers, and exits the ordinary
         * way.) */
        if (ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) == APR_SUCCESS
            && threaded == AP_MPMQ_NOT_SUPPORTED
            && !ap_exists_config_define("ONE_PROCESS")) {
            prev_term = apr_signal(SIGTERM, otlp_killed);
            prev_hup = apr_signal(SIGHUP, otlp_killed);
        }
    }
    exporter = x;
}

/* ---- startup ------------------------------------------------------------ */

static const char *instance_id(server_rec *s)
{
    /* One per server instance: made at the first start, kept across
     * restarts in the process pool. */
    static const char key[] = "mod_profiler_otlp_instance";
    void *v = NULL;
    unsigned char b[16];
    char hex[33];

    apr_pool_userdata_get(&v, key, s->process->pool);
    if (v == NULL) {
        prof_trace_random(b, sizeof(b));
        b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);      /* UUID v4 */
        b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
        prof_trace_hex(b, sizeof(b), hex);
        v = apr_psprintf(s->process->pool, "%.8s-%.4s-%.4s-%.4s-%.12s", hex,
                         hex + 8, hex + 12, hex + 16, hex + 20);
        apr_pool_userdata_set(v, key, apr_pool_cleanup_null,
                              s->process->pool);
    }
    return v;
}

static int otlp_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    prof_srv_conf_t *sc = ap_get_module_config(s->module_config,
                                               &profiler_module);
    otlp_conf_t *c = sc->otlp;
    apr_array_header_t *attrs;
    prof_otlp_attr_t *a;
    char host[APRMAXHOSTLEN + 1];
    server_rec *v;
    static int curl_ready;
    int i;

    (void)plog; (void)ptemp;
    active = NULL;
    sample_share = 1.0;
    if (c == NULL || c->endpoint == NULL) {
        if (c && c->any) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PROFLOGNO(00393)
                         "ProfilerOTLP settings without "
                         "ProfilerOTLPEndpoint: nothing is exported");
        }
        return OK;
    }
    if (!curl_ready) {
        /* Once per process, before any thread: not thread-safe. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PROFLOGNO(00400)
                         "OTLP export: libcurl could not start");
            return OK;
        }
        curl_ready = 1;
    }
    if (c->service == NULL) {
        c->service = DEFAULT_SERVICE;
    }
    if (c->queue == PROF_UNSET) {
        c->queue = DEFAULT_QUEUE;
    }
    if (c->batch == PROF_UNSET) {
        c->batch = DEFAULT_BATCH;
    }
    if (c->delay_us < 0) {
        c->delay_us = DEFAULT_DELAY_US;
    }
    if (c->timeout_us < 0) {
        c->timeout_us = DEFAULT_TIMEOUT_US;
    }
    sample_share = c->sample >= 0 ? c->sample : 1.0;
    /* Exporting needs each request's trace context: On wherever it was
     * not turned Off. */
    for (v = s; v; v = v->next) {
        prof_srv_conf_t *vc = ap_get_module_config(v->module_config,
                                                   &profiler_module);

        if (vc->trace_ctx == PROF_UNSET) {
            vc->trace_ctx = 1;
        }
    }
    attrs = apr_array_make(pconf, 8, sizeof(prof_otlp_attr_t));
    a = apr_array_push(attrs);
    a->key = "service.name";
    a->s = c->service;
    a = apr_array_push(attrs);
    a->key = "service.instance.id";
    a->s = instance_id(s);
    if (apr_gethostname(host, sizeof(host), pconf) == APR_SUCCESS) {
        a = apr_array_push(attrs);
        a->key = "host.name";
        a->s = prof_otlp_utf8(apr_pstrdup(pconf, host), 255, pconf);
    }
    a = apr_array_push(attrs);
    a->key = "telemetry.sdk.name";
    a->s = "mod_profiler";
    for (i = 0; c->resource && i < c->resource->nelts; ++i) {
        *(prof_otlp_attr_t *)apr_array_push(attrs) =
            APR_ARRAY_IDX(c->resource, i, prof_otlp_attr_t);
    }
    resource.attrs = (const prof_otlp_attr_t *)attrs->elts;
    resource.nattrs = attrs->nelts;
    resource.scope = "mod_profiler";
    resource.scope_version = NULL;
    active = c;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, PROFLOGNO(00392)
                     "exporting traces to %s (%s%s), service %s",
                     c->endpoint, c->json == 1 ? "http/json"
                                               : "http/protobuf",
                     c->gzip == 1 ? ", gzip" : "", c->service);
    }
    return OK;
}

void prof_otlp_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(otlp_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(otlp_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
