/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>

#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "prof_route.h"
#include "prof_row.h"
#include "prof_sample.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_collect.h"
#include "mod_profiler_modtime.h"
#include "mod_profiler_span.h"
#include "mod_profiler_store.h"
#include "mod_profiler_store_rollup.h"
#include "mod_profiler_metrics.h"
#include "mod_profiler_profile.h"


int prof_collect_wanted_enabled(request_rec *r)
{
    /* Every request the profiler times is counted in the live metrics;
     * only some are stored. */
    return prof_metrics_agg() != NULL
           || (prof_store_running() && prof_config_store(r));
}

int prof_collect_wanted(request_rec *r)
{
    return prof_config_enabled(r) && prof_collect_wanted_enabled(r);
}

/* The sampling draw: one splitmix64 state per thread, seeded on first use
 * from the time and the thread, so threads never share or lock one. */
static __thread apr_uint64_t rng_state;
static __thread int rng_seeded;

static double draw(void)
{
    if (!rng_seeded) {
        rng_state = (apr_uint64_t)apr_time_now()
                    ^ ((apr_uint64_t)(apr_uintptr_t)&rng_state << 16)
                    ^ (apr_uint64_t)apr_os_thread_current();
        rng_seeded = 1;
    }
    return prof_sample_u01(&rng_state);
}

/* The whole-number weight of a kept request: 1/fraction rounded down or
 * up at random, so that its mean stays 1/fraction. Whole weights keep the
 * rollups' counts and histogram buckets integers that add up exactly. */
static apr_uint32_t whole_weight(double w)
{
    double floor_w;

    if (w <= 1.0) {
        return 1;
    }
    if (w >= 4294967295.0) {
        return 4294967295u;
    }
    floor_w = (double)(apr_uint32_t)w;
    return (apr_uint32_t)floor_w + (draw() < w - floor_w ? 1u : 0u);
}

static int ignored(const prof_srv_conf_t *sconf, const char *path)
{
    int i;

    if (sconf->ignore == NULL) {
        return 0;
    }
    for (i = 0; i < sconf->ignore->nelts; ++i) {
        if (!ap_regexec(APR_ARRAY_IDX(sconf->ignore, i, ap_regex_t *), path,
                        0, NULL, 0)) {
            return 1;
        }
    }
    return 0;
}

/* The name ProfilerRoute gives path, or NULL when no rule matches. */
const char *prof_collect_named_route(apr_pool_t *p,
                                     const prof_srv_conf_t *sconf,
                                     const char *path)
{
    ap_regmatch_t m[AP_MAX_REG_MATCH];
    int i;

    if (sconf->routes) {
        for (i = 0; i < sconf->routes->nelts; ++i) {
            const prof_route_rule_t *rule =
                &APR_ARRAY_IDX(sconf->routes, i, prof_route_rule_t);

            if (!ap_regexec(rule->re, path, AP_MAX_REG_MATCH, m, 0)) {
                /* $n may copy a long part of the path: the row cuts it. */
                const char *name = ap_pregsub(p, rule->name, path,
                                              AP_MAX_REG_MATCH, m);
                return name ? name : rule->name;
            }
        }
    }
    return NULL;
}

/* The route a request counts under, in the metrics and in the store alike,
 * before the route budget: its ProfilerRoute name; else "(not found)" for
 * a 404, so that scanners and favicons make no routes; else the folded
 * path (the path itself when nothing folds: no copy). *key is the route
 * measured and hashed for prof_agg_record_k(). Inline in
 * prof_collect_request(), every request's path (prof_collect_route(), for
 * the exporter, has a copy of its own). */
#if defined(__GNUC__)
__attribute__((always_inline))
#endif
static APR_INLINE const char *route_of(request_rec *r,
                                       const prof_srv_conf_t *sconf,
                                       const char *path, int status,
                                       prof_agg_str_t *key)
{
    const char *name = sconf->routes
                       ? prof_collect_named_route(r->pool, sconf, path)
                       : NULL;
    apr_size_t len;

    if (name) {
        prof_agg_str_set(key, name, PROF_AGG_ROUTE_MAX);
        return name;
    }
    if (status == 404) {
        name = prof_agg_route_label(NULL, status, 0);
        prof_agg_str_setn(key, name, strlen(name), PROF_AGG_ROUTE_MAX);
        return name;
    }
    name = prof_route_fold_len(r->pool, path, PROF_ROW_ROUTE_MAX, &len);
    prof_agg_str_setn(key, name, len, PROF_AGG_ROUTE_MAX);
    return name;
}

const char *prof_collect_route(request_rec *r, prof_req_t *rq)
{
    request_rec *first = rq->r;
    const char *path = first->parsed_uri.path ? first->parsed_uri.path
                                              : first->uri;
    prof_agg_str_t key;

    return route_of(r, prof_config_srv(first->server), path ? path : "",
                    prof_req_final(r)->status, &key);
}

/* What a request brings to the store, decided and written out of line:
 * most requests are counted in the metrics and not stored (ProfilerStoreRate
 * keeps a few hundred a second), and the row's room on the stack would
 * cost every one of them a larger frame. */
typedef struct {
    request_rec *first, *last;
    const char *path, *route, *vhost;
    prof_agg_t *agg;
    prof_span_info_t *spans;
    apr_size_t nspans;
} collected_t;

#if defined(__GNUC__)
__attribute__((noinline))
#endif
static void collect_store(request_rec *r, prof_req_t *rq,
                          const collected_t *c)
{
    request_rec *first = c->first, *last = c->last;
    const prof_srv_conf_t *sconf = prof_config_srv(first->server);
    const apr_array_header_t *query_names;
    const apr_int64_t *dur = rq->phases.dur_us;
    const char *path = c->path, *route = c->route, *vhost = c->vhost;
    apr_int64_t slow_us;
    prof_row_in_t in;
    prof_row_t *row;
    double w;
    int always;
    apr_int64_t profile_id = prof_profile_request_id(rq);

    /* A profiled request (ProfilerRequestProfile) was asked for: it is
     * kept whatever ProfilerIgnore, ProfilerSample and the rate say, under
     * the id its Server-Timing named. */
    if (!profile_id && ignored(sconf, path)) {
        return;
    }
    slow_us = prof_config_sample_slow_us(r);
    always = last->status >= 500 || profile_id != 0
             || (slow_us > 0 && dur[PROF_PHASE_TOTAL] >= slow_us);
    w = prof_sample_weight(prof_config_sample(r), draw(), always);
    /* A profiled request (its Server-Timing sent because an
     * `ProfilerServerTiming expr=` gate let it: someone asked for this
     * one) is not limited by the rate either. */
    if (w > 0.0 && !always
        && !(rq->send_header && prof_config_st_mode(r) == PROF_ST_EXPR)) {
        /* ProfilerStoreRate, server-wide: kept with probability p, the
         * weight then 1/p times ProfilerSample's (prof_rate.h). */
        double p = prof_store_rate_probability(vhost, route,
                                               first->request_time
                                               + dur[PROF_PHASE_TOTAL]);

        w = p < 1.0 && draw() >= p ? 0.0 : w / p;
    }
    if (w <= 0.0) {
        prof_metrics_count_rows(PROF_METRICS_ROWS_SAMPLED_OUT, 1);
        return;
    }

    memset(&in, 0, sizeof(in));
    if (profile_id) {
        prof_stacks_t *stacks = prof_profile_request_stacks(r, rq, r->pool);

        in.id = profile_id;
        in.profile = stacks ? prof_stacks_text_write(stacks, r->pool) : NULL;
    }
    in.start_us = first->request_time;
    in.dur_us = dur;
    prof_phase_firsts(&rq->phases);
    in.first_us = rq->phases.first_us;
    in.ttfb_us = rq->ttfb_us;
    in.bytes_sent = last->bytes_sent;
    in.status = last->status;
    in.weight = whole_weight(w);
    in.vhost = first->server->server_hostname;
    in.method = first->method;
    in.protocol = first->protocol;
    /* The metrics' route budget holds for the stored rows too (decided
     * once, kept by the segment for every child). */
    in.route = prof_agg_route_admit(c->agg, vhost, route);
    in.path = prof_path_truncate(r->pool, path, PROF_ROW_PATH_MAX);
    query_names = prof_config_store_query(r);
    if (query_names && first->args) {
        in.query = prof_query_redact(r->pool, first->args, query_names,
                                     PROF_ROW_QUERY_MAX);
    }
    in.nspans = c->nspans;
    in.spans = c->spans;
    in.span_base_us = dur[PROF_PHASE_READ];
    if (rq->modt) {
        /* ProfilerModuleTiming: each module's time, under its phase. */
        int k, n = 0;
        prof_modt_entry_t *e = prof_modtime_entries(rq->modt, r->pool, &n);
        prof_row_module_t *mods = n > 0 ? apr_palloc(r->pool,
                                                     n * sizeof(*mods))
                                        : NULL;

        for (k = 0; k < n; ++k) {
            mods[k].name = e[k].module;
            mods[k].phase = e[k].phase;
            mods[k].calls = e[k].calls;
            mods[k].dur_us = e[k].dur_us;
        }
        in.modules = mods;
        in.nmodules = (apr_size_t)n;
    }
    in.spans_dropped = prof_req_spans(rq) ? prof_span_dropped(prof_req_spans(rq))
                                          : 0;
    row = prof_row_create(&in);
    if (row == NULL) {
        prof_store_count_lost(1);
        return;
    }
    if (!prof_store_submit(row)) {
        prof_row_free(row);
    }
}

/*
 * The cells of the keys a thread counted last, so that a key seen again
 * costs the copy of its path compared, not the route (ProfilerRoute's
 * rules, the fold), its hash and the look-up in the block: most requests
 * repeat a path that came before. What decides the key is all in the
 * memo's own key: the server (its name, its ProfilerRoute rules, its
 * budget), the initial request's path and method (by number, with HEAD
 * apart from GET; a method httpd does not know is not kept), and the
 * final status; a key's cell is its own as long as the block lives
 * (prof_agg_record_kc()). The generation of the configuration is checked
 * too: a one-process server (-X) that restarts may find a new server_rec
 * where the old one was, and a new block. Per thread, so no lock: the
 * thread's pointer is initial-exec TLS (one load), the memo itself
 * allocated on its first use and freed when the thread ends.
 */
#define MEMO_SLOTS      64u
#define MEMO_PATH_MAX   96u

typedef struct {
    const server_rec *s;        /* NULL: empty */
    prof_agg_rcell_t *cell;
    apr_uint32_t len;           /* of path */
    apr_int32_t status;
    apr_int32_t method;         /* method_number | header_only << 16 */
    char path[MEMO_PATH_MAX];
} memo_ent_t;

typedef struct {
    apr_uint64_t gen;
    memo_ent_t e[MEMO_SLOTS];
} memo_t;

static __thread __attribute__((tls_model("initial-exec"))) memo_t *tls_memo;
static apr_threadkey_t *memo_key;       /* frees a thread's memo */
static apr_uint64_t memo_gen;           /* written by child_init only */

static void memo_free(void *m)
{
    free(m);
}

void prof_collect_child_init(apr_pool_t *pchild)
{
    ++memo_gen;
    if (apr_threadkey_private_create(&memo_key, memo_free, pchild)
        != APR_SUCCESS) {
        memo_key = NULL;
    }
}

static APR_INLINE apr_uint64_t memo_word(const char *s)
{
    apr_uint64_t w;

    memcpy(&w, s, 8);
    return w;
}

/* n bytes of a and b equal: words, the last one overlapping. */
static APR_INLINE int memo_eq(const char *a, const char *b, apr_size_t n)
{
    if (n >= 8) {
        for (; n > 8; a += 8, b += 8, n -= 8) {
            if (memo_word(a) != memo_word(b)) {
                return 0;
            }
        }
        return memo_word(a + n - 8) == memo_word(b + n - 8);
    }
    return memcmp(a, b, n) == 0;
}

/* The slot of a path: its length, first and last words (where paths of
 * one application differ: the ids at their ends). */
static APR_INLINE memo_ent_t *memo_slot(memo_t *m, const char *path,
                                        apr_size_t n)
{
    apr_uint64_t h = n * APR_UINT64_C(0x9e3779b97f4a7c15);

    if (n >= 8) {
        h ^= memo_word(path) ^ memo_word(path + n - 8)
             * APR_UINT64_C(0xff51afd7ed558ccd);
    }
    else if (n > 0) {
        h ^= (apr_uint64_t)(unsigned char)path[0] << 8
             ^ (unsigned char)path[n - 1];
    }
    h *= APR_UINT64_C(0xc4ceb9fe1a85ec53);
    return &m->e[(h >> 58) & (MEMO_SLOTS - 1)];
}

static memo_t *memo_get(void)
{
    memo_t *m = tls_memo;

    if (m == NULL) {
        if (memo_key == NULL || (m = calloc(1, sizeof(*m))) == NULL) {
            return NULL;
        }
        if (apr_threadkey_private_set(m, memo_key) != APR_SUCCESS) {
            free(m);
            return NULL;
        }
        m->gen = memo_gen;
        tls_memo = m;
    }
    else if (m->gen != memo_gen) {
        memset(m->e, 0, sizeof(m->e));
        m->gen = memo_gen;
    }
    return m;
}

/* Only the live metrics want the request, and its durations are still
 * ticks: counted from them (prof_agg_count_ticks()), in the cell the memo
 * remembers for its key; else the whole way, which also fills the memo. */
void prof_collect_count(request_rec *r, prof_req_t *rq, prof_agg_t *agg)
{
    request_rec *first = rq->r;
    prof_phase_rec_t *ph = &rq->phases;
    const char *path;
    apr_interval_time_t total, ttfb = -1;
    apr_uint64_t bytes = r->bytes_sent > 0 ? (apr_uint64_t)r->bytes_sent : 0;
    apr_int32_t method;
    apr_size_t len;
    memo_t *m;
    memo_ent_t *e = NULL;
    prof_agg_rcell_t *cell;

    if (rq->own) {
        return;
    }
    total = prof_phase_elapsed(ph);
    if (rq->headers_sent) {
        ttfb = rq->ttfb_us ? rq->ttfb_us
                           : prof_phase_entered_us(ph, PROF_PHASE_BODY);
    }
    path = first->parsed_uri.path ? first->parsed_uri.path : first->uri;
    method = first->method_number | (first->header_only << 16);
    if (path && first->method_number != M_INVALID && (m = memo_get())) {
        len = strlen(path);
        if (len <= MEMO_PATH_MAX) {
            e = memo_slot(m, path, len);
            if (e->s == first->server && e->len == len
                && e->status == r->status && e->method == method
                && memo_eq(e->path, path, len)) {
                prof_agg_count_ticks(e->cell, ph, total, ttfb, bytes);
                goto counted;
            }
        }
    }
    /* The whole way: durations, route, key. */
    prof_phase_total(ph, prof_phase_fold(ph));
    {
        const prof_srv_conf_t *sconf = prof_config_srv(first->server);
        prof_agg_str_t route_key;

        route_of(r, sconf, path ? path : "", r->status, &route_key);
        cell = NULL;
        prof_agg_record_kc(agg, prof_metrics_vhost_key(first->server),
                           &route_key, first->method, r->status,
                           ph->dur_us, ttfb, bytes, &cell);
        if (e && cell) {
            e->s = first->server;
            e->cell = cell;
            e->len = (apr_uint32_t)len;
            e->status = r->status;
            e->method = method;
            memcpy(e->path, path, len);
        }
    }
counted:
    if (prof_req_spans(rq)) {
        prof_span_info_t *spans = NULL;
        apr_size_t i, n = prof_req_finished_spans(r, rq, &spans);

        for (i = 0; i < n; ++i) {
            prof_agg_span(agg, spans[i].name, spans[i].dur_us);
        }
    }
    if (rq->modt) {
        prof_modtime_count(rq->modt, agg);
    }
}

void prof_collect_request(request_rec *r, prof_req_t *rq)
{
    collected_t c;
    prof_agg_str_t route_key;
    const prof_srv_conf_t *sconf;
    int stored_path;
    apr_size_t i;

    /* The profiler's own handlers count nowhere: a scrape or a look at
     * the report is not traffic. */
    if (rq->own) {
        return;
    }
    /* What the client asked for is the initial request (its path and
     * route, as %U logs them, and its vhost); how it ended, and the
     * configuration that decides what is kept, the last one of its
     * internal redirects (r, as mod_log_config's %>s). */
    c.first = rq->r;
    c.last = prof_req_final(r);
    sconf = prof_config_srv(c.first->server);
    c.path = c.first->parsed_uri.path ? c.first->parsed_uri.path
                                      : c.first->uri;
    stored_path = c.path != NULL;
    if (c.path == NULL) {
        c.path = "";
    }
    c.route = route_of(r, sconf, c.path, c.last->status, &route_key);
    c.agg = prof_metrics_agg_of(c.first->server);
    c.spans = NULL;
    c.nspans = 0;
    if (prof_req_spans(rq)) {
        c.nspans = prof_req_finished_spans(r, rq, &c.spans);
    }
    if (c.agg) {
        /* The vhost hashed once per server, the route as it was folded. */
        prof_agg_record_k(c.agg, prof_metrics_vhost_key(c.first->server),
                          &route_key, c.first->method, c.last->status,
                          rq->phases.dur_us,
                          rq->headers_sent ? rq->ttfb_us : -1,
                          (apr_uint64_t)(c.last->bytes_sent > 0
                                         ? c.last->bytes_sent : 0));
        for (i = 0; i < c.nspans; ++i) {
            prof_agg_span(c.agg, c.spans[i].name, c.spans[i].dur_us);
        }
        if (rq->modt) {
            prof_modtime_count(rq->modt, c.agg);
        }
    }
    if (stored_path && prof_store_running()
        && (prof_config_store(r) || prof_profile_request_id(rq))) {
        c.vhost = prof_metrics_vhost(c.first->server);
        collect_store(r, rq, &c);
    }
}
