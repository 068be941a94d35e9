/* Licensed under the Apache License, Version 2.0 (the "License"); you may not
 * use this file except in compliance with the License.
 */

/**
 * @file  mod_profiler.h
 * @brief Public API of mod_profiler, the httpd request profiler.
 *
 * mod_profiler times every phase of every request with a monotonic clock and
 * sends the result in the W3C Server-Timing response header. This header is
 * the only part of the module that other modules may depend on.
 *
 * Everything offered to other modules is an APR optional function: a consumer
 * fetches it in its optional_fn_retrieve hook with APR_RETRIEVE_OPTIONAL_FN()
 * and checks it for NULL, so that it compiles, loads and runs whether or not
 * mod_profiler is loaded. Each later addition comes with a feature macro
 * (MOD_PROFILER_HAS_...) so that a consumer can test for it at compile time.
 *
 * Canonical phase names, the same in the header, the store, the API and the
 * docs: read, postread, quick, translate, storage, headers, access, authn,
 * authz, type, fixups, handler, body, log, total.
 */

#ifndef MOD_PROFILER_H
#define MOD_PROFILER_H

#include "apr_optional.h"

/** The version of mod_profiler as a string, "major.minor.patch". */
#define MOD_PROFILER_VERSION "0.1.0"

/**
 * The version as one number, 0xMMmmpp: compare it to decide at compile time
 * what an API offers, e.g. `#if MOD_PROFILER_VERSION_NUM >= 0x000100`.
 */
#define MOD_PROFILER_VERSION_NUM 0x000100

#endif /* MOD_PROFILER_H */
