/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_profile.h
 * @brief CPU profiles, the httpd side (issue 12): the whole-server profile
 *        behind "SetHandler profiler-profile", and the profile of one chosen
 *        request (ProfilerRequestProfile). The sampling itself is the core's
 *        (prof_cpuprof.h); this unit decides when it runs, in which
 *        processes and threads, labels the samples with what the thread is
 *        doing, and answers.
 *
 * Whole-server profile: the handler claims a control block in shared
 * memory (one profile at a time: a second caller gets 409), and every
 * child's watchdog thread, which polls the block every 100 ms, starts a
 * process session (every thread's CPU time) in its child, stops it when
 * the block says so, and writes its raw samples to a file of its own under
 * the runtime directory. The handler's child gathers the files, symbolizes
 * them (same binary layout after fork) and answers pprof or folded stacks.
 * Nothing of this exists (no shared memory, no watchdog callback, no signal
 * handler, no timer) unless the configuration sets the handler somewhere,
 * and nothing is installed in a child until a profile is asked for.
 *
 * Per-request profile: a request that ProfilerRequestProfile selects gets
 * a thread session (its thread's wall-clock time, on-CPU vs waiting) from
 * its first phase until the end of its response body, an id from the store,
 * and "profile;desc=\"<id>\"" in Server-Timing. The hooks that do this are
 * registered only when the directive appears in the configuration.
 *
 * Labels: while a session runs in the process, this unit is the phase
 * record's edge hook (prof_phase_edge_hook_set()): every phase edge sets
 * the thread's sample label (route, phase). While none runs, the edges do
 * not call it, and cost what they cost without the CPU profiler.
 */

#ifndef MOD_PROFILER_PROFILE_H
#define MOD_PROFILER_PROFILE_H

#include "httpd.h"
#include "http_config.h"

#include "prof_stacks.h"
#include "mod_profiler_req.h"

/** The handler of the whole-server profile. */
#define PROF_PROFILE_HANDLER      "profiler-profile"

/** ProfilerRequestProfile */
#define PROF_REQPROF_OFF   0
#define PROF_REQPROF_ON    1
#define PROF_REQPROF_EXPR  2
#define PROF_DEFAULT_REQPROF_HZ   1000

/**
 * The id of rq's request profile (the store id its row must have, as sent
 * in Server-Timing), 0 when the request is not profiled. For the
 * collector: a request with an id is always stored (never sampled out),
 * under that id.
 */
apr_int64_t prof_profile_request_id(const prof_req_t *rq);

/**
 * Stop rq's request profile if it still runs and return its raw samples in
 * the core's binary form (prof_cpu_raw_serialize(), in p, *len bytes);
 * NULL when the request is not profiled. For the collector, at the end of
 * logging: the row carries these bytes, and the store's writer thread (same
 * process: same layout of loaded objects) turns them into the profile
 * (prof_cpu_raw_parse(), prof_cpu_symbolize(), prof_stacks_text_write())
 * off the request path. Cheap: a copy of the samples.
 */
const char *prof_profile_request_raw(request_rec *r, prof_req_t *rq,
                                     apr_pool_t *p, apr_size_t *len);

/**
 * Stop rq's request profile if it still runs, symbolize it and return it
 * (in p; the same on a second call), NULL when the request is not profiled
 * or its profile cannot be made (logged). Symbolization reads the loaded
 * objects' symbol tables and DWARF once per process and caches them (see
 * prof_cpuprof.h): measured in an httpd child (PROF00379's debug line),
 * ~100 ms for the first profile of a child, 2-3 ms for the next ones.
 * The collector may call it at the end of logging (the row then takes
 * prof_stacks_text_write() of it), or hand prof_profile_request_raw() to
 * the store's writer and keep even the first 100 ms off the request's
 * thread.
 */
prof_stacks_t *prof_profile_request_stacks(request_rec *r, prof_req_t *rq,
                                           apr_pool_t *p);

/* Directives (mod_profiler.c's table). */
const char *prof_profile_set_request(cmd_parms *cmd, void *dconf,
                                     const char *arg);
const char *prof_profile_set_request_hz(cmd_parms *cmd, void *dconf,
                                        const char *arg);

/** In a prefork child whose configuration has the profile handler, the
 * shared control word until the child's poller thread runs (NULL
 * otherwise): the phase timing's post_read_request hook reads it through
 * prof_profile_lazy_check(), and a profile running starts that thread
 * (threaded MPMs poll from mod_watchdog's thread instead). */
extern const apr_uint64_t *prof_profile_lazy_word PROF_HIDDEN;
void prof_profile_lazy_poll(void);

/** The control word's state while a whole-server profile runs. */
#define PROF_PROFILE_LAZY_RUNNING 2

/** A load and a test on every request of a prefork child until a profile
 * finds it (then a call that starts the child's poller). */
static APR_INLINE void prof_profile_lazy_check(void)
{
    const apr_uint64_t *w = prof_profile_lazy_word;

    if (w && (__atomic_load_n(w, __ATOMIC_ACQUIRE) & 3)
             == PROF_PROFILE_LAZY_RUNNING) {
        prof_profile_lazy_poll();
    }
}

void prof_profile_register_hooks(apr_pool_t *p);

/** Answer a request whose handler is PROF_PROFILE_HANDLER. */
int prof_profile_handle(request_rec *r);

#endif /* MOD_PROFILER_PROFILE_H */
