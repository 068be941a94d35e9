/* Licensed under the Apache License, Version 2.0. */

/*
 * Module timing (ProfilerModuleTiming): the time of every hook function of
 * every module in the request phases, per request, as `<phase>.<module>`.
 *
 * Where it is On in some server, post_config replaces each entry of the
 * request hooks' sorted arrays by a wrapper of ours that reads the clock
 * before and after the module's function (two reads a call) and adds the
 * difference to the request's slot for (phase, module). Where it is Off
 * everywhere nothing is replaced: no wrapper runs.
 */

#ifndef MOD_PROFILER_MODTIME_H
#define MOD_PROFILER_MODTIME_H

#include "httpd.h"
#include "http_config.h"

#include "prof_st.h"
#include "mod_profiler_private.h"
#include "mod_profiler_req.h"

/** A request's module times (opaque; in its pool). */
typedef struct prof_modt_s prof_modt_t;

/** One (phase, module) of a request: what the record and the API list. */
typedef struct {
    int phase;                  /**< PROF_PHASE_*; -1: an output filter */
    const char *module;         /**< "mod_rewrite", or the filter's name
                                     ("deflate"): a token */
    apr_interval_time_t dur_us;
    apr_uint32_t calls;
} prof_modt_entry_t;

/** Time the output filters of r's chain from now on, where module timing
 * is on for r (each filter's record once per child). */
void prof_modtime_wrap_filters(request_rec *r);

/** Directive setters (ProfilerModuleTiming, ProfilerModuleTimingMin). */
const char *prof_modtime_set(cmd_parms *cmd, void *dconf, const char *arg);
const char *prof_modtime_set_min(cmd_parms *cmd, void *dconf,
                                 const char *arg);

/**
 * Wrap the request hooks' entries, once httpd has sorted them (from the
 * timing's post_config, after the phase edges were fused): only where
 * ProfilerModuleTiming is On in some server. Returns the number of entries
 * wrapped.
 */
int prof_modtime_wrap(apr_pool_t *pconf, server_rec *s);

/** 1 when some server has ProfilerModuleTiming On (set by
 * prof_modtime_wrap(), read-only in the children). */
extern int prof_modtime_any PROF_HIDDEN;

/** A fresh set for a request of server s, or NULL where module timing is
 * off for it. From the request's first hook, in r->pool; called only when
 * prof_modtime_any is set. */
prof_modt_t *prof_modtime_start(request_rec *r);

/** The Server-Timing entries of the calls that have ended, at least
 * ProfilerModuleTimingMin each, in phase order. */
void prof_modtime_write_st(request_rec *r, const prof_modt_t *m,
                           prof_st_buf_t *st);

/** Count r's module times in the live metrics (agg is a prof_agg_t *):
 * mod_profiler_module_seconds_total. At logging, once per request. */
void prof_modtime_count(const prof_modt_t *m, void *agg);

/** The entries that took time, in phase order, allocated in p; their
 * count in *n. */
prof_modt_entry_t *prof_modtime_entries(const prof_modt_t *m, apr_pool_t *p,
                                        int *n);

#endif /* MOD_PROFILER_MODTIME_H */
