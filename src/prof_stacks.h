/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_stacks.h
 * @brief A CPU or wall-clock profile as mod_profiler handles it once it is
 *        symbolized: distinct stacks with their sample counts.
 *
 * The one model every producer and consumer of profiles shares: the
 * sampler (prof_cpuprof.c) fills it, the encoders write it as pprof
 * (profile.proto, gzipped) or folded stacks, the store keeps it as text
 * (prof_stacks_text_write()/prof_stacks_text_parse()) and the dashboard
 * draws it (prof_flame.c). Part of the APR-only core: no httpd header.
 *
 * Everything lives in the pool given at creation.
 */

#ifndef PROF_STACKS_H
#define PROF_STACKS_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"

/** One frame: a function (or an unknown address) in an object. */
typedef struct {
    const char *name;       /**< function name; "object+0xoffset" when no
                                 symbol is known */
    const char *file;       /**< source file, NULL when not known */
    apr_uint32_t line;      /**< source line, 0 when not known */
    apr_uint64_t addr;      /**< program counter, 0 when not known (a
                                 profile read back from the store) */
    apr_uint32_t mapping;   /**< 1-based index into mappings, 0: none */
} prof_frame_t;

/** A loaded object (httpd, a library, a module). */
typedef struct {
    apr_uint64_t start, limit, offset;
    const char *file;
    const char *build_id;   /**< hex, NULL when not known */
} prof_mapping_t;

/** Whether a sample's thread was running. */
#define PROF_STACK_ONCPU    0
#define PROF_STACK_WAITING  1
#define PROF_STACK_UNKNOWN  (-1)

/** A distinct stack and what was counted on it. */
typedef struct {
    apr_uint32_t nframes;
    const apr_uint32_t *frames;   /**< 0-based indexes into frames, LEAF
                                       FIRST (pprof's order) */
    apr_int64_t samples;          /**< samples/count */
    apr_int64_t nanos;            /**< cpu/nanoseconds (wall-clock
                                       nanoseconds for a request's) */
    int state;                    /**< PROF_STACK_ONCPU/WAITING/UNKNOWN */
    apr_int64_t pid;              /**< label "pid", 0: none */
    const char *route;            /**< label "route", NULL: none */
    const char *phase;            /**< label "phase", NULL: none */
} prof_stack_t;

typedef struct {
    apr_pool_t *pool;
    apr_array_header_t *frames;     /**< prof_frame_t */
    apr_array_header_t *mappings;   /**< prof_mapping_t */
    apr_array_header_t *stacks;     /**< prof_stack_t */
    apr_time_t start;               /**< wall time the profile began */
    apr_int64_t duration_ns;
    apr_int64_t period_ns;          /**< 1e9 / hz */
    int wall;                       /**< 1: wall-clock (one request's),
                                         0: CPU time (whole server) */
} prof_stacks_t;

/** An empty profile in p. */
prof_stacks_t *prof_stacks_make(apr_pool_t *p, int wall,
                                apr_int64_t period_ns);

/** gzipped profile.proto, sample types samples/count and
 * cpu/nanoseconds (wall/nanoseconds when wall), into *out (pool memory). */
apr_status_t prof_stacks_pprof(const prof_stacks_t *s, apr_pool_t *p,
                               const char **out, apr_size_t *len);

/** Folded stacks: "root;...;leaf count\n" per distinct stack (root
 * first; identical stacks summed), the frame names as they are. With
 * state >= 0, only the stacks of that state. */
const char *prof_stacks_folded(const prof_stacks_t *s, apr_pool_t *p,
                               int state);

/** The store's text form (one line per stack; see prof_stacks.c) and
 * back. parse returns NULL and sets *err on malformed text. */
const char *prof_stacks_text_write(const prof_stacks_t *s, apr_pool_t *p);
prof_stacks_t *prof_stacks_text_parse(const char *text, apr_pool_t *p,
                                      const char **err);

#endif /* PROF_STACKS_H */
