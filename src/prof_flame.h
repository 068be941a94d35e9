/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_flame.h
 * @brief Flame graphs of a profile, drawn on the server as SVG, and the
 *        table of its top functions.
 *
 * The SVG needs no script: each frame is a <g> with a <title> (the hover
 * text: the function, its total and self samples and time and their share
 * of the whole, and for a wall-clock profile how much of it was waiting),
 * a <rect> as wide as its share of the samples and, where it fits, its
 * name. Roots at the bottom, one row per stack depth, as flamegraph.pl
 * draws them. Colours come from a hash of the name, so a function has the
 * same colour in every graph; frames that were mostly waiting (wall-clock
 * profiles) are drawn in blues, the rest in warm colours.
 *
 * Size is bounded by the width, not by the profile: siblings narrower than
 * a pixel are merged into one frame ("N narrow frames") and not descended
 * into, so a row holds at most width frames, and rows stop at
 * PROF_FLAME_DEPTH_MAX.
 *
 * Part of the APR-only core: no httpd header.
 */

#ifndef PROF_FLAME_H
#define PROF_FLAME_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "prof_stacks.h"

/** The deepest row drawn; deeper frames are left out. */
#define PROF_FLAME_DEPTH_MAX 256

/** The default and the bounds of the width, in pixels. */
#define PROF_FLAME_WIDTH_DEFAULT 1200
#define PROF_FLAME_WIDTH_MIN     200
#define PROF_FLAME_WIDTH_MAX     4000

/** The height of one row, in pixels. */
#define PROF_FLAME_ROW_PX 16

typedef struct {
    int width;              /**< pixels, clamped to MIN..MAX; 0: default */
    int state;              /**< -1: every stack; PROF_STACK_ONCPU or
                                 PROF_STACK_WAITING: only those */
    const char *title;      /**< drawn above the graph; NULL: none */
    const char *id;         /**< the id attribute of the <svg>; NULL: none */
} prof_flame_opts_t;

/**
 * The flame graph of s as a standalone SVG document (an <svg> element
 * with its namespace; no XML declaration, so that it can be inlined in
 * HTML as it is), in p. A profile without samples gives a small SVG that
 * says so. o may be NULL (the defaults).
 */
const char *prof_flame_svg(const prof_stacks_t *s,
                           const prof_flame_opts_t *o, apr_pool_t *p);

/** A function's share of a profile. */
typedef struct {
    const char *name;
    apr_int64_t self_samples;   /**< samples with it as the leaf */
    apr_int64_t total_samples;  /**< samples with it anywhere (once each) */
    apr_int64_t self_ns;
    apr_int64_t total_ns;
} prof_flame_fn_t;

/**
 * The functions of s (frames merged by name) by self samples, most first
 * (then by total, then by name), at most max of them (<= 0: all), as an
 * array of prof_flame_fn_t in p. *all_samples and *all_ns (when not NULL)
 * get the profile's totals.
 */
apr_array_header_t *prof_flame_top(const prof_stacks_t *s, int max,
                                   apr_int64_t *all_samples,
                                   apr_int64_t *all_ns, apr_pool_t *p);

/**
 * A profile from folded stacks ("root;...;leaf count" lines, as
 * prof_stacks_folded() and the profiler-profile handler write them): one
 * stack per line, frames by name (merged), samples the count, nanos the
 * count times period_ns; no mappings, addresses or labels. Blank lines are
 * skipped. NULL and *err set for a line without a count, a count that is
 * not a number >= 0, or a stack deeper than 4096 frames.
 */
prof_stacks_t *prof_flame_folded_parse(const char *text,
                                       apr_int64_t period_ns, apr_pool_t *p,
                                       const char **err);

/** Text escaped for XML/HTML character data and attribute values: & < >
 * " ' as references, control bytes and bytes that are not UTF-8 as '?'.
 * s itself when there is nothing to escape. */
const char *prof_flame_escape(apr_pool_t *p, const char *s);

#endif /* PROF_FLAME_H */
