/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_timing.h
 * @brief The hooks that create a request's profile (mod_profiler_req.h) and
 *        mark its phase edges, and the end of the record at logging.
 */

#ifndef MOD_PROFILER_TIMING_H
#define MOD_PROFILER_TIMING_H

#include "httpd.h"
#include "mod_profiler_req.h"

/** Register the phase hooks. */
void prof_timing_register_hooks(apr_pool_t *p);

/**
 * Take fn's entries out of a sorted hook array a (ap_hook_get_<hook>()),
 * whose entries hold their function at func_at (APR_OFFSETOF of pFunc in
 * ap_LINK_<hook>_t): for a hook of ours that post_config finds has nothing
 * to do in this configuration. A second post_config over the same arrays
 * finds none left to take.
 */
void prof_timing_unhook(apr_array_header_t *a, apr_size_t func_at, void *fn);

#endif /* MOD_PROFILER_TIMING_H */
