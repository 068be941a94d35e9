/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_span.h
 * @brief The span API of include/mod_profiler.h on top of the core's span
 *        sets, and the finished record handed to the record_complete hook.
 */

#ifndef MOD_PROFILER_SPAN_H
#define MOD_PROFILER_SPAN_H

#include "httpd.h"
#include "mod_profiler.h"
#include "prof_span.h"
#include "prof_st.h"
#include "mod_profiler_req.h"

/* The optional functions of include/mod_profiler.h; registered by the glue. */
profiler_span_t *prof_api_span_start(request_rec *r, const char *name,
                                     const char *desc);
void prof_api_span_end(profiler_span_t *span);
void prof_api_metric_add(request_rec *r, const char *name,
                         apr_interval_time_t dur_us, const char *desc);
void prof_api_span_set_desc(profiler_span_t *span, const char *desc);
int prof_api_enabled(request_rec *r);
apr_interval_time_t prof_api_record_phase_us(const profiler_record_t *rec,
                                             const char *phase);
int prof_api_record_spans(const profiler_record_t *rec,
                          int (*fn)(void *baton,
                                    const profiler_span_info_t *span),
                          void *baton);
unsigned prof_api_record_spans_dropped(const profiler_record_t *rec);
int prof_api_record_modules(const profiler_record_t *rec,
                            int (*fn)(void *baton,
                                      const profiler_module_time_t *m),
                            void *baton);

/** Start a span of our own (e.g. `upstream`) on rq; NULL if the budget is
 * spent. Thread-safe like the API. */
prof_span_t *prof_req_span_start(prof_req_t *rq, const char *name);

/**
 * Make sure the span set of rq, if there is one, is freed with the pool of
 * rq's request.
 * Call only on the thread processing r (our filter and log hooks): a set
 * created by another thread could not register its cleanup itself.
 */
void prof_span_own_cleanup(prof_req_t *rq);

/** The profile's span set, or NULL if no span was ever added. */
static APR_INLINE prof_span_set_t *prof_req_spans(prof_req_t *rq)
{
    return (prof_span_set_t *)rq->spans;
}

/** The finished spans of rq, in start order, in an array from r's pool
 * sized by the spans claimed, not by ProfilerMaxSpans (r's own thread
 * only); 0 and NULL when there are none. */
apr_size_t prof_req_finished_spans(request_rec *r, prof_req_t *rq,
                                   prof_span_info_t **out);

/** Append the finished spans of rq to st in start order (the header). */
void prof_span_write_st(request_rec *r, prof_req_t *rq, prof_st_buf_t *st);

/** Look up, once, whether any module wants finished records. For
 * post_config. */
void prof_record_hooks_init(void);

/** Does any module want finished records? */
int prof_record_wanted(void);

/** Build rq's finished record and run the record_complete hook. The phases
 * must be folded. */
void prof_record_complete(request_rec *r, prof_req_t *rq);

#endif /* MOD_PROFILER_SPAN_H */
