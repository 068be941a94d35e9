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

#include "mod_profiler_req.h"

/** Could r be stored: the store runs in this process and r's
 * configuration stores requests? Cheap; asked when the output filter is
 * inserted, so that a stored request gets its body and ttfb timings. */
int prof_collect_wanted(request_rec *r);

/**
 * At the end of logging, with rq's durations folded, for the last request
 * r of rq's chain of internal redirects, for which prof_collect_wanted() is
 * true: decide whether the
 * request is stored and, if so, build its row and hand it to the writer.
 * Never waits and never fails the request: a full queue counts the row
 * and drops it.
 */
void prof_collect_request(request_rec *r, prof_req_t *rq);

#endif /* MOD_PROFILER_COLLECT_H */
