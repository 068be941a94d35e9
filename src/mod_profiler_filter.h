/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_filter.h
 * @brief PROFILER_OUT, the output filter that ends the handler phase, writes
 *        Server-Timing before the response headers leave, and notes the end
 *        of the body.
 */

#ifndef MOD_PROFILER_FILTER_H
#define MOD_PROFILER_FILTER_H

#include "httpd.h"

#define PROF_FILTER_NAME "PROFILER_OUT"
#define PROF_CONN_FILTER_NAME "PROFILER_CONN"

/** Register the filter and the hooks that insert it. */
void prof_filter_register_hooks(apr_pool_t *p);

/**
 * After the hooks are sorted (post_config, once this unit's own has run):
 * where no server's requests can need a filter of their own, take our
 * insert_filter hook out of its array and return 1: the handler phase's
 * edge is then to be fused into another module's hook. 0: our hook stays
 * and begins the handler phase itself.
 */
int prof_filter_unhook_insert(void);

#endif /* MOD_PROFILER_FILTER_H */
