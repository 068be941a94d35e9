/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_private.h
 * @brief What the httpd-layer units of mod_profiler share: the module
 *        declaration and our log message tags.
 */

#ifndef MOD_PROFILER_PRIVATE_H
#define MOD_PROFILER_PRIVATE_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

/* The one symbol httpd looks up (LoadModule): everything else in the
 * module is built with -fvisibility=hidden, so that its calls and globals
 * need no PLT or GOT indirection on the request path. */
#if defined(__GNUC__)
extern module AP_MODULE_DECLARE_DATA profiler_module
    __attribute__((visibility("default")));
#else
extern module AP_MODULE_DECLARE_DATA profiler_module;
#endif

/* profiler_module.module_index, copied by our register_hooks (httpd gives
 * the module its index just before it calls that): the module's
 * configuration in a vector is then one load away, where the exported
 * module structure is reached through the GOT. The request path's getters
 * use it; written while httpd adds the module, read-only after. */
extern int prof_module_index
#if defined(__GNUC__)
    __attribute__((visibility("hidden")))
#endif
    ;

/* ap_get_module_config() and ap_set_module_config() of ours. */
#define prof_module_conf(cv)        (((void **)(cv))[prof_module_index])
#define prof_module_conf_set(cv, v) (((void **)(cv))[prof_module_index] = (v))

/* mod_profiler.c declares the module (AP_DECLARE_MODULE does this there). */
#if defined(APLOG_USE_MODULE) && !defined(PROF_MODULE_GLUE)
APLOG_USE_MODULE(profiler);
#endif

/**
 * Our own message tags. httpd's AHnnnnn numbers belong to httpd's modules;
 * ours read "PROF00001: ...". One number per call site at debug level and
 * above, never reused; the next free one is noted here.
 * Next free: 00005
 */
#define PROFLOGNO(n) "PROF" #n ": "

#endif /* MOD_PROFILER_PRIVATE_H */
