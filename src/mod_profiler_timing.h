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

#endif /* MOD_PROFILER_TIMING_H */
