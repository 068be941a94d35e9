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
