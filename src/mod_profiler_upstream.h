/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_upstream.h
 * @brief Server-Timing that arrives with the response (from a mod_proxy
 *        backend, CGI/FastCGI, mod_headers), and the `upstream` span of
 *        proxied requests.
 */

#ifndef MOD_PROFILER_UPSTREAM_H
#define MOD_PROFILER_UPSTREAM_H

#include "httpd.h"
#include "prof_st.h"
#include "mod_profiler_req.h"

/**
 * Apply ProfilerUpstreamTiming to the Server-Timing fields r's response
 * already has: merge (the default) takes them out and writes their entries,
 * parsed and cleaned, into st, in order, before ours; drop takes them out;
 * pass leaves them. present: what prof_upstream_present(r) said. Returns
 * whether any field was taken out.
 */
int prof_upstream_write_st(request_rec *r, prof_st_buf_t *st, int present);

/**
 * ProfilerUpstreamTiming drop where our own field is not written (no
 * ProfilerServerTiming, an expr= that is false, Profiler Off): take out the
 * Server-Timing fields r's response carries. Nothing for merge and pass.
 */
void prof_upstream_drop(request_rec *r);

/** Does r's response already carry Server-Timing? (Sizes the buffer.) */
int prof_upstream_present(request_rec *r);

/** End the `upstream` span of rq, if one is running: the response reached
 * our filter. */
void prof_upstream_end(prof_req_t *rq);

/** profiler_st_parse of include/mod_profiler.h. */
apr_status_t prof_api_st_parse(apr_pool_t *p, const char *value,
                               apr_array_header_t **entries);

/** Hook into mod_proxy (if loaded) for the `upstream` span. */
void prof_upstream_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_UPSTREAM_H */
