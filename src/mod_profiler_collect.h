/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_collect.h
 * @brief The request's side of the measurement store: whether a finished
 *        request is stored (ProfilerStore, ProfilerIgnore, sampling), what
 *        its row holds (route, path, query string), and the hand-off to the
 *        writer's queue. No database here: see mod_profiler_store.h.
 */

#ifndef MOD_PROFILER_COLLECT_H
#define MOD_PROFILER_COLLECT_H

#include "httpd.h"

#include "prof_agg.h"
#include "mod_profiler_req.h"
#include "mod_profiler_config.h"

/** Is r's end of interest: the profiler is on for r and the live metrics
 * count it, or the store runs in this process and r's configuration stores
 * requests? Cheap; asked when the output filter is inserted, so that such
 * a request gets its body and ttfb timings. */
int prof_collect_wanted(request_rec *r);

/** The name the first ProfilerRoute rule of sconf that matches path gives
 * it (in p), or NULL when none matches. */
const char *prof_collect_named_route(apr_pool_t *p,
                                     const prof_srv_conf_t *sconf,
                                     const char *path);

/** prof_collect_wanted() where the profiler is known to be on for r. */
int prof_collect_wanted_enabled(request_rec *r);

/**
 * At the end of logging, with rq's durations folded, for the last request
 * r of rq's chain of internal redirects, for which prof_collect_wanted() is
 * true: count the request and its spans in the live metrics
 * (mod_profiler_metrics.h), then decide whether it is stored and, if so,
 * build its row and hand it to the writer. The route is the same for both:
 * ProfilerRoute's name, else "(not found)" for a 404, else the folded path;
 * then ProfilerMaxRoutes' budget. Never waits and never fails the request:
 * a full key table folds the key, a full queue counts the row and drops it.
 * The profiler's own handlers (report, metrics) count nowhere.
 */
void prof_collect_request(request_rec *r, prof_req_t *rq);

/**
 * prof_collect_request() where only the live metrics (agg) want the
 * request: rq's durations need not be folded first (the common key's way
 * counts them from the ticks, and the rest folds them itself).
 */
void prof_collect_count(request_rec *r, prof_req_t *rq, prof_agg_t *agg);

/** In each child: the memo of keys (prof_collect_count()) starts anew. */
void prof_collect_child_init(apr_pool_t *pchild);

/** The route r is counted and stored under (the initial request's path,
 * the final status), for other readers such as the OTLP exporter. */
const char *prof_collect_route(request_rec *r, prof_req_t *rq);

#endif /* MOD_PROFILER_COLLECT_H */
