/* Licensed under the Apache License, Version 2.0. */

#include "apr_atomic.h"
#include "apr_portable.h"
#include "apr_hooks.h"
#include "apr_optional_hooks.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "mod_profiler.h"
#include "prof_phase.h"
#include "prof_span.h"
#include "prof_st.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_req.h"
#include "mod_profiler_span.h"
#include "mod_profiler_modtime.h"

struct profiler_record_t {
    request_rec *r;
    prof_req_t *rq;
    prof_span_info_t *spans;
    apr_size_t nspans;
};

/* An optional hook lives in APR's table of optional hooks, by name: no
 * APR_HOOK_STRUCT of ours. */
APR_IMPLEMENT_OPTIONAL_HOOK_RUN_ALL(profiler, PROFILER, int,
                                    profiler_record_complete,
                                    (request_rec *r,
                                     const profiler_record_t *rec),
                                    (r, rec), OK, DECLINED)

/* The profile spans of r go to: that of its main request. NULL when
 * profiling is off for r. */
static prof_req_t *api_profile(request_rec *r)
{
    request_rec *m;
    prof_req_t *rq;

    if (r == NULL) {
        return NULL;
    }
    for (m = r; m->main; m = m->main) {
        ;
    }
    rq = prof_req_get(m);
    if (rq == NULL || !prof_config_enabled(r)) {
        return NULL;
    }
    return rq;
}

static apr_status_t free_spans(void *data)
{
    prof_req_t *rq = data;

    prof_span_set_free((prof_span_set_t *)rq->spans);
    rq->spans = NULL;
    return APR_SUCCESS;
}

void prof_span_own_cleanup(prof_req_t *rq)
{
    if (!rq->spans_cleanup && apr_atomic_casptr(&rq->spans, NULL, NULL)) {
        rq->spans_cleanup = 1;
        /* the initial request's pool: internal redirects share it */
        apr_pool_cleanup_register(rq->r->pool, rq, free_spans,
                                  apr_pool_cleanup_null);
    }
}

/* rq's span set, created by the first caller from whatever thread; a
 * caller that loses the race frees its own. Most requests never get one,
 * so its cleanup is registered only when it exists: here if this is the
 * thread processing the request (r->pool is then ours to touch), else by
 * our filter or log hook, which run on that thread. */
static prof_span_set_t *api_set(prof_req_t *rq)
{
    prof_span_set_t *set = apr_atomic_casptr(&rq->spans, NULL, NULL), *old;

    if (set == NULL) {
        set = prof_span_set_create(prof_config_max_spans(rq->r->server),
                                   prof_phase_start_us(&rq->phases));
        if (set == NULL) {
            return NULL;
        }
        old = apr_atomic_casptr(&rq->spans, set, NULL);
        if (old) {
            prof_span_set_free(set);
            return old;
        }
        if (apr_os_thread_equal(apr_os_thread_current(), rq->owner)) {
            prof_span_own_cleanup(rq);
        }
    }
    return set;
}

prof_span_t *prof_req_span_start(prof_req_t *rq, const char *name)
{
    return prof_span_start(api_set(rq), name, NULL);
}

profiler_span_t *prof_api_span_start(request_rec *r, const char *name,
                                     const char *desc)
{
    prof_req_t *rq = api_profile(r);

    if (rq == NULL) {
        return NULL;
    }
    return (profiler_span_t *)prof_span_start(api_set(rq), name, desc);
}

void prof_api_span_end(profiler_span_t *span)
{
    prof_span_end((prof_span_t *)span);
}

void prof_api_metric_add(request_rec *r, const char *name,
                         apr_interval_time_t dur_us, const char *desc)
{
    prof_req_t *rq = api_profile(r);

    if (rq) {
        prof_span_metric(api_set(rq), name, dur_us, desc);
    }
}

void prof_api_span_set_desc(profiler_span_t *span, const char *desc)
{
    prof_span_set_desc((prof_span_t *)span, desc);
}

int prof_api_enabled(request_rec *r)
{
    return api_profile(r) != NULL;
}

apr_size_t prof_req_finished_spans(request_rec *r, prof_req_t *rq,
                                  prof_span_info_t **out)
{
    prof_span_set_t *set = prof_req_spans(rq);
    apr_size_t n = prof_span_claimed(set);

    /* Room for the spans claimed so far, not for ProfilerMaxSpans: this
     * runs up to three times a request (header, record hook, store), and
     * a budget of 4096 would cost 200 KB of r->pool each time for a
     * request with one span. A span claimed (by another thread) after this
     * look is left out, like one that has not ended yet. */
    *out = NULL;
    if (n == 0) {
        return 0;
    }
    *out = apr_palloc(r->pool, n * sizeof(**out));
    return prof_span_finished(set, *out, n);
}

void prof_span_write_st(request_rec *r, prof_req_t *rq, prof_st_buf_t *st)
{
    prof_span_info_t *spans;
    apr_size_t i, n = prof_req_finished_spans(r, rq, &spans);

    for (i = 0; i < n; ++i) {
        prof_st_add(st, spans[i].name, spans[i].dur_us, spans[i].desc);
    }
}

/* Whether any module registered for finished records is known once every
 * module's register_hooks ran. Asked on every request, so it is looked up
 * once, in post_config, before any child or thread exists, and only read
 * afterwards. */
static int record_wanted;

void prof_record_hooks_init(void)
{
    apr_array_header_t *hooks =
        apr_optional_hook_get("profiler_record_complete");
    record_wanted = hooks != NULL && hooks->nelts > 0;
}

int prof_record_wanted(void)
{
    return record_wanted;
}

void prof_record_complete(request_rec *r, prof_req_t *rq)
{
    profiler_record_t rec;

    rec.r = r;
    rec.rq = rq;
    rec.nspans = prof_req_finished_spans(r, rq, &rec.spans);
    profiler_run_profiler_record_complete(r, &rec);
}

apr_interval_time_t prof_api_record_phase_us(const profiler_record_t *rec,
                                             const char *phase)
{
    int i;

    if (rec == NULL || phase == NULL) {
        return -1;
    }
    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        if (!strcmp(phase, prof_phase_name(i))) {
            return rec->rq->phases.dur_us[i];
        }
    }
    return -1;
}

int prof_api_record_spans(const profiler_record_t *rec,
                          int (*fn)(void *baton,
                                    const profiler_span_info_t *span),
                          void *baton)
{
    apr_size_t i;
    int visited = 0;

    if (rec == NULL || fn == NULL) {
        return 0;
    }
    for (i = 0; i < rec->nspans; ++i) {
        const prof_span_info_t *s = &rec->spans[i];
        profiler_span_info_t info;

        info.name = s->name;
        info.desc = s->desc;
        /* from the start of the request: read came before the base */
        info.start_us = rec->rq->phases.dur_us[PROF_PHASE_READ] + s->start_us;
        info.dur_us = s->dur_us;
        info.index = s->index;
        info.parent = s->parent;
        info.metric = s->metric;
        visited++;
        if (fn(baton, &info)) {
            break;
        }
    }
    return visited;
}

int prof_api_record_modules(const profiler_record_t *rec,
                            int (*fn)(void *baton,
                                      const profiler_module_time_t *m),
                            void *baton)
{
    prof_modt_entry_t *e;
    int n, i;

    if (rec == NULL || fn == NULL || rec->rq->modt == NULL) {
        return 0;
    }
    e = prof_modtime_entries(rec->rq->modt, rec->r->pool, &n);
    for (i = 0; i < n; ++i) {
        profiler_module_time_t m;

        m.phase = e[i].phase < 0 ? "filter" : prof_phase_name(e[i].phase);
        m.module = e[i].module;
        m.dur_us = e[i].dur_us;
        m.calls = e[i].calls;
        if (fn(baton, &m)) {
            return i + 1;
        }
    }
    return n;
}

unsigned prof_api_record_spans_dropped(const profiler_record_t *rec)
{
    prof_span_set_t *set;

    if (rec == NULL || (set = prof_req_spans(rec->rq)) == NULL) {
        return 0;
    }
    return prof_span_dropped(set);
}
