/* Licensed under the Apache License, Version 2.0. */

/*
 * Module timing: every hook function of every module, per request.
 *
 * A hook function gets only the request: nothing tells a shared wrapper
 * which module's function it stands for. So each entry of a hook's sorted
 * array gets a wrapper of its own: MT_MAX small functions per hook, the
 * k-th calling the function that was at position k (kept in a static
 * array of the process) and adding the time to that position's slot, a
 * (phase, module) pair. The arrays and those statics are written by
 * post_config only (one thread, before any child exists; a child inherits
 * them and a graceful restart's new children get new ones, with the arrays
 * httpd rebuilt for that generation); requests only read them.
 *
 * The time is the call's, from our clock read before it to the one after
 * (two reads): what the module did, including what it called (a
 * subrequest it made, whose own hooks are also counted under theirs). The
 * start of the call is on the wrapper's stack: a call that does not come
 * back leaves nothing half-open for the thread's next request.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_thread_mutex.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "prof_clock.h"
#include "prof_phase.h"
#include "prof_st.h"
#include "prof_agg.h"
#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_req.h"
#include "mod_profiler_modtime.h"

/* Entries wrapped per hook; a hook with more has its further entries
 * untimed (PROF00402 says how many). */
#define MT_MAX 32
/* (phase, module) slots in all. */
#define MT_SLOTS_MAX 512

/* Output filters timed per child (each its own trampoline). */
#define MT_FILTERS 64
/* Filter calls nested in one another that are timed (a chain is a dozen
 * filters; subrequests' chains pass through their parent's). */
#define MT_DEPTH 48
#define MT_HDEPTH 16

struct prof_modt_s {
    /* Not zeroed: read only below depth and hdepth. */
    /* The filter calls in progress, outermost first: which filter, when it
     * was called, and how long the timed calls it made so far took. */
    struct {
        unsigned k;
        prof_tick_t t0, below;
    } frame[MT_DEPTH];
    /* Hook calls in progress (a handler while its response's headers
     * leave; the hooks of a subrequest it runs): their slot and start. */
    struct {
        unsigned slot;
        prof_tick_t t0;
    } hook[MT_HDEPTH];
    /* Zeroed at the start (from `zeroed` on). */
    int zeroed;
    int depth;                      /* frames in use; more are not timed */
    int hdepth;
    apr_uint32_t nslots;
    apr_uint32_t *calls;            /* [nslots], after ticks */
    /* Output filters, by trampoline: their own time (what they took minus
     * what the timed filters after them took) and their calls. */
    prof_tick_t fticks[MT_FILTERS];
    apr_uint32_t fcalls[MT_FILTERS];
    prof_tick_t ticks[1];           /* [nslots] */
};

/* The slots of this generation: written by post_config, read-only after. */
static int mt_nslots;
static const char *mt_name[MT_SLOTS_MAX];       /* module, a token */
static unsigned char mt_phase[MT_SLOTS_MAX];
/* Each slot's and each trampoline's cell in the live metrics (see
 * count_in()). */
static prof_agg_rcell_t *mt_cell[MT_SLOTS_MAX];
/* Whether any server has it On: what the request's first hook tests. */
int prof_modtime_any;
#define mt_any prof_modtime_any

static APR_INLINE prof_modt_t *modt_of(request_rec *r)
{
    prof_req_t *rq;

    while (r->main) {
        r = r->main;            /* a subrequest's hooks count for its main */
    }
    rq = prof_req_get(r);
    return rq ? rq->modt : NULL;
}

/* A hook call begins: its start, on the request's stack of calls in
 * progress (what the header shows of a handler still running). Returns
 * the start. */
static APR_INLINE prof_tick_t modt_enter(prof_modt_t *m, unsigned slot)
{
    prof_tick_t t0 = prof_clock_tick();

    if (m->hdepth < MT_HDEPTH) {
        m->hook[m->hdepth].slot = slot;
        m->hook[m->hdepth].t0 = t0;
    }
    m->hdepth++;
    return t0;
}

static APR_INLINE void modt_leave(prof_modt_t *m, unsigned slot,
                                  prof_tick_t t0)
{
    prof_tick_t d = prof_clock_tick() - t0;

    if ((apr_int64_t)d > 0) {
        m->ticks[slot] += d;
    }
    m->calls[slot]++;
    m->hdepth--;
}

typedef int mt_r_fn(request_rec *r);

static int mt_call_r(request_rec *r, mt_r_fn *fn, unsigned slot)
{
    prof_modt_t *m = modt_of(r);
    prof_tick_t t0;
    int rv;

    if (m == NULL) {
        return fn(r);
    }
    t0 = modt_enter(m, slot);
    rv = fn(r);
    modt_leave(m, slot, t0);
    return rv;
}

static int mt_call_quick(request_rec *r, int lookup,
                         ap_HOOK_quick_handler_t *fn, unsigned slot)
{
    prof_modt_t *m = lookup ? NULL : modt_of(r);
    prof_tick_t t0;
    int rv;

    if (m == NULL) {
        return fn(r, lookup);
    }
    t0 = modt_enter(m, slot);
    rv = fn(r, lookup);
    modt_leave(m, slot, t0);
    return rv;
}

static void mt_call_void(request_rec *r, ap_HOOK_insert_filter_t *fn,
                         unsigned slot)
{
    prof_modt_t *m = modt_of(r);
    prof_tick_t t0;

    if (m == NULL) {
        fn(r);
        return;
    }
    t0 = modt_enter(m, slot);
    fn(r);
    modt_leave(m, slot, t0);
}

#define MT_REP(M, h) \
    M(h, 0) \
    M(h, 1) \
    M(h, 2) \
    M(h, 3) \
    M(h, 4) \
    M(h, 5) \
    M(h, 6) \
    M(h, 7) \
    M(h, 8) \
    M(h, 9) \
    M(h, 10) \
    M(h, 11) \
    M(h, 12) \
    M(h, 13) \
    M(h, 14) \
    M(h, 15) \
    M(h, 16) \
    M(h, 17) \
    M(h, 18) \
    M(h, 19) \
    M(h, 20) \
    M(h, 21) \
    M(h, 22) \
    M(h, 23) \
    M(h, 24) \
    M(h, 25) \
    M(h, 26) \
    M(h, 27) \
    M(h, 28) \
    M(h, 29) \
    M(h, 30) \
    M(h, 31)

/* int hook(request_rec *r) */
#define MT_FN_R(h, k) \
    static int mt_##h##_##k(request_rec *r) \
    { \
        return mt_call_r(r, mt_orig_##h[k], mt_slot_##h[k]); \
    }
#define MT_FN_Q(h, k) \
    static int mt_##h##_##k(request_rec *r, int lookup) \
    { \
        return mt_call_quick(r, lookup, mt_orig_##h[k], mt_slot_##h[k]); \
    }
#define MT_FN_V(h, k) \
    static void mt_##h##_##k(request_rec *r) \
    { \
        mt_call_void(r, mt_orig_##h[k], mt_slot_##h[k]); \
    }
#define MT_PTR(h, k) mt_##h##_##k,

#define MT_DECLARE(h, FN) \
    static ap_HOOK_##h##_t *mt_orig_##h[MT_MAX]; \
    static apr_uint16_t mt_slot_##h[MT_MAX]; \
    MT_REP(FN, h) \
    static ap_HOOK_##h##_t *const mt_fns_##h[MT_MAX] = { MT_REP(MT_PTR, h) };

MT_DECLARE(post_read_request, MT_FN_R)
MT_DECLARE(quick_handler, MT_FN_Q)
MT_DECLARE(pre_translate_name, MT_FN_R)
MT_DECLARE(translate_name, MT_FN_R)
MT_DECLARE(map_to_storage, MT_FN_R)
MT_DECLARE(post_perdir_config, MT_FN_R)
MT_DECLARE(header_parser, MT_FN_R)
MT_DECLARE(access_checker, MT_FN_R)
MT_DECLARE(access_checker_ex, MT_FN_R)
MT_DECLARE(check_user_id, MT_FN_R)
MT_DECLARE(auth_checker, MT_FN_R)
MT_DECLARE(type_checker, MT_FN_R)
MT_DECLARE(fixups, MT_FN_R)
MT_DECLARE(insert_filter, MT_FN_V)
MT_DECLARE(handler, MT_FN_R)
MT_DECLARE(log_transaction, MT_FN_R)

/* ---- output filters ---------------------------------------------------- *
 *
 * A filter's function is found through its registration record (frec),
 * which every instance of the filter shares: ap_pass_brigade() calls
 * f->frec->filter_func.out_func. The first time module timing sees a
 * filter in a request's chain, that record's function is replaced by one
 * of MT_FILTERS trampolines of ours, bound to the original function (not
 * found again through f->frec: mod_filter calls its providers' functions
 * with its own filter as f). The replacement is for the child's life (the
 * records are the child's copy of the registry; a restart's new children
 * start from httpd's), made under a lock, once per filter; the trampoline
 * is set before the record points to it. Instances keep their frec, so
 * httpd's and modules' comparisons of f->frec with a handle still hold.
 *
 * Own time: a trampoline notes how long the filter's call took, minus what
 * the timed filters it passed the brigade to took (m->below), so
 * filter.deflate is deflate's work and not the network's. Connection
 * filters (f->r NULL) are charged to the request whose brigade they carry:
 * the innermost request filter running on the thread (mt_cur). */
typedef apr_status_t mt_filter_fn(ap_filter_t *f, apr_bucket_brigade *bb);

static mt_filter_fn *mt_forig[MT_FILTERS];
static apr_pool_t *mt_fpool;                   /* the child's, for names */
static const char *mt_fname[MT_FILTERS];       /* token, lower case */
static prof_agg_rcell_t *mt_fcell[MT_FILTERS];
static apr_uint32_t mt_nfilters;               /* published count */
static apr_thread_mutex_t *mt_flock;
static __thread __attribute__((tls_model("initial-exec"))) prof_modt_t *mt_cur;

static apr_status_t mt_filter_call(ap_filter_t *f, apr_bucket_brigade *bb,
                                   unsigned k)
{
    prof_modt_t *m = f->r ? modt_of(f->r) : mt_cur, *saved_cur;
    prof_tick_t d;
    apr_status_t rv;
    int at;

    if (m == NULL || m->depth >= MT_DEPTH) {
        return mt_forig[k](f, bb);
    }
    saved_cur = mt_cur;
    mt_cur = m;
    at = m->depth++;
    m->frame[at].k = k;
    m->frame[at].below = 0;
    m->frame[at].t0 = prof_clock_tick();
    rv = mt_forig[k](f, bb);
    d = prof_clock_tick() - m->frame[at].t0;
    if ((apr_int64_t)d < 0) {
        d = 0;
    }
    m->fticks[k] += d > m->frame[at].below ? d - m->frame[at].below : 0;
    m->fcalls[k]++;
    m->depth = at;
    if (at > 0) {
        m->frame[at - 1].below += d;
    }
    mt_cur = saved_cur;
    return rv;
}

#define MT_FREP(M) \
    M(0) \
    M(1) \
    M(2) \
    M(3) \
    M(4) \
    M(5) \
    M(6) \
    M(7) \
    M(8) \
    M(9) \
    M(10) \
    M(11) \
    M(12) \
    M(13) \
    M(14) \
    M(15) \
    M(16) \
    M(17) \
    M(18) \
    M(19) \
    M(20) \
    M(21) \
    M(22) \
    M(23) \
    M(24) \
    M(25) \
    M(26) \
    M(27) \
    M(28) \
    M(29) \
    M(30) \
    M(31) \
    M(32) \
    M(33) \
    M(34) \
    M(35) \
    M(36) \
    M(37) \
    M(38) \
    M(39) \
    M(40) \
    M(41) \
    M(42) \
    M(43) \
    M(44) \
    M(45) \
    M(46) \
    M(47) \
    M(48) \
    M(49) \
    M(50) \
    M(51) \
    M(52) \
    M(53) \
    M(54) \
    M(55) \
    M(56) \
    M(57) \
    M(58) \
    M(59) \
    M(60) \
    M(61) \
    M(62) \
    M(63)
#define MT_FFN(k) \
    static apr_status_t mt_f_##k(ap_filter_t *f, apr_bucket_brigade *bb) \
    { \
        return mt_filter_call(f, bb, k); \
    }
#define MT_FPTR(k) mt_f_##k,
MT_FREP(MT_FFN)
static mt_filter_fn *const mt_ffns[MT_FILTERS] = { MT_FREP(MT_FPTR) };

/* The trampolines' address range, when the compiler laid them out one
 * after another (as it does; checked at child_init): a filter whose
 * function lies in it is timed already, with two comparisons instead of a
 * look through all of them for every filter of every request. */
static apr_uintptr_t mt_flo, mt_fhi;

static void trampoline_range(void)
{
    apr_uintptr_t lo = (apr_uintptr_t)mt_ffns[0], hi = lo;
    int i;

    for (i = 1; i < MT_FILTERS; ++i) {
        apr_uintptr_t a = (apr_uintptr_t)mt_ffns[i];

        lo = a < lo ? a : lo;
        hi = a > hi ? a : hi;
    }
    /* Only when nothing else fits between them (64 bytes a trampoline at
     * most): otherwise the exact look. */
    if (hi - lo <= (apr_uintptr_t)MT_FILTERS * 64) {
        mt_flo = lo;
        mt_fhi = hi;
    }
}

static int is_trampoline(mt_filter_fn *fn)
{
    apr_uintptr_t a = (apr_uintptr_t)fn;
    int i;

    if (mt_fhi) {
        return a >= mt_flo && a <= mt_fhi;
    }
    for (i = 0; i < MT_FILTERS; ++i) {
        if (mt_ffns[i] == fn) {
            return 1;
        }
    }
    return 0;
}

/* n bytes of s (at most 64) as a token for an entry's name, in lower case
 * where asked: any byte outside a token becomes '_'. */
static const char *as_token(apr_pool_t *p, const char *s, apr_size_t n,
                            int lower)
{
    apr_size_t i;
    char *out;

    if (n == 0) {
        return "unknown";
    }
    if (n > 64) {
        n = 64;
    }
    out = apr_pstrmemdup(p, s, n);
    for (i = 0; i < n; ++i) {
        if (lower) {
            out[i] = (char)apr_tolower((unsigned char)out[i]);
        }
        if (!prof_st_is_tchar((unsigned char)out[i])) {
            out[i] = '_';
        }
    }
    return out;
}

/* The name of a filter as a token: httpd keeps it in lower case. */
static const char *filter_token(apr_pool_t *p, const char *name)
{
    return as_token(p, name, name ? strlen(name) : 0, 1);
}

static void wrap_filter(ap_filter_rec_t *frec, apr_pool_t *p)
{
    apr_uint32_t k;

    if (is_trampoline(frec->filter_func.out_func) || mt_flock == NULL) {
        return;
    }
    apr_thread_mutex_lock(mt_flock);
    k = mt_nfilters;
    if (!is_trampoline(frec->filter_func.out_func) && k < MT_FILTERS) {
        mt_forig[k] = frec->filter_func.out_func;
        mt_fname[k] = filter_token(p, frec->name);
        __atomic_store_n(&mt_nfilters, k + 1, __ATOMIC_RELEASE);
        __atomic_store_n(&frec->filter_func.out_func, mt_ffns[k],
                         __ATOMIC_RELEASE);
    }
    apr_thread_mutex_unlock(mt_flock);
}

void prof_modtime_wrap_filters(request_rec *r)
{
    ap_filter_t *f;

    if (!mt_any || modt_of(r) == NULL) {
        return;
    }
    for (f = r->output_filters; f; f = f->next) {
        const char *name;

        if (is_trampoline(f->frec->filter_func.out_func)) {
            continue;           /* timed already: most of them, soon */
        }
        /* Ours are not reported (PROFILER_OUT, PROFILER_CONN). */
        name = f->frec->name;
        if (name && !strncasecmp(name, "profiler_", 9)) {
            continue;
        }
        wrap_filter(f->frec, mt_fpool);
    }
}

/* ---- configuration ---------------------------------------------------- */

static void register_modtime_hooks(apr_pool_t *pconf);

const char *prof_modtime_set(cmd_parms *cmd, void *dconf, const char *arg)
{
    prof_srv_conf_t *conf =
        ap_get_module_config(cmd->server->module_config, &profiler_module);
    int flag = prof_config_parse_flag(arg);

    (void)dconf;
    if (flag < 0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use On or "
                            "Off", cmd->cmd->name, arg);
    }
    conf->modtime = flag;
    if (flag) {
        register_modtime_hooks(cmd->pool);
    }
    return NULL;
}

const char *prof_modtime_set_min(cmd_parms *cmd, void *dconf,
                                 const char *arg)
{
    prof_srv_conf_t *conf =
        ap_get_module_config(cmd->server->module_config, &profiler_module);
    char *end;
    double ms;

    (void)dconf;
    errno = 0;
    ms = strtod(arg, &end);
    if (end == arg || *end || errno || !(ms >= 0.0) || ms > 3600000.0) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not valid; use "
                            "milliseconds from 0 to 3600000 (e.g. 0.1)",
                            cmd->cmd->name, arg);
    }
    conf->modtime_min_us = (apr_interval_time_t)(ms * 1000.0 + 0.5);
    return NULL;
}

/* ---- wrapping ---------------------------------------------------------- */

/* The module's name as a token: the file httpd records for the hook
 * (mod_rewrite.c, or a path) without its directory and ".c", any byte
 * outside a token as '_'. */
static const char *module_token(apr_pool_t *p, const char *file)
{
    const char *base, *slash;
    apr_size_t n;

    if (file == NULL) {
        return "unknown";
    }
    slash = strrchr(file, '/');
    base = slash ? slash + 1 : file;
    n = strlen(base);
    if (n > 2 && base[n - 2] == '.' && base[n - 1] == 'c') {
        n -= 2;
    }
    return as_token(p, base, n, 0);
}

static int slot_of(apr_pool_t *p, int phase, const char *file)
{
    const char *name = module_token(p, file);
    int i;

    for (i = 0; i < mt_nslots; ++i) {
        if (mt_phase[i] == phase && strcmp(mt_name[i], name) == 0) {
            return i;
        }
    }
    if (mt_nslots == MT_SLOTS_MAX) {
        return -1;
    }
    mt_name[mt_nslots] = name;
    mt_phase[mt_nslots] = (unsigned char)phase;
    return mt_nslots++;
}

/* Wraps every entry of hook h that is not ours, up to MT_MAX; counts the
 * wrapped ones into *wrapped and the ones beyond MT_MAX into *beyond. */
#define MT_WRAP(h, phase) do { \
    apr_array_header_t *a_ = ap_hook_get_##h(); \
    ap_LINK_##h##_t *e_ = a_ ? (ap_LINK_##h##_t *)a_->elts : NULL; \
    int i_; \
    for (i_ = 0; e_ && i_ < a_->nelts; ++i_) { \
        int s_; \
        if (e_[i_].szName && !strcmp(e_[i_].szName, profiler_module.name)) { \
            continue;           /* ours: not reported */ \
        } \
        if (i_ >= MT_MAX) { \
            ++*beyond; \
            continue; \
        } \
        if (e_[i_].pFunc == mt_fns_##h[i_]) { \
            ++*wrapped;         /* a second pass over the same arrays */ \
            continue; \
        } \
        s_ = slot_of(pconf, (phase), e_[i_].szName); \
        if (s_ < 0) { \
            ++*beyond; \
            continue; \
        } \
        ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, mt_log_s, \
                     "module timing: %s[%d] of %s, slot %d", #h, i_, \
                     e_[i_].szName ? e_[i_].szName : "?", s_); \
        mt_orig_##h[i_] = e_[i_].pFunc; \
        mt_slot_##h[i_] = (apr_uint16_t)s_; \
        e_[i_].pFunc = mt_fns_##h[i_]; \
        ++*wrapped; \
    } \
} while (0)

static server_rec *mt_log_s;     /* post_config's, for its log lines */

static void wrap_all(apr_pool_t *pconf, int *wrapped, int *beyond)
{
    /* In phase order: the slots, and so the header's entries, follow it. */
    MT_WRAP(post_read_request, PROF_PHASE_POSTREAD);
    MT_WRAP(quick_handler, PROF_PHASE_QUICK);
    MT_WRAP(pre_translate_name, PROF_PHASE_TRANSLATE);
    MT_WRAP(translate_name, PROF_PHASE_TRANSLATE);
    MT_WRAP(map_to_storage, PROF_PHASE_STORAGE);
    MT_WRAP(post_perdir_config, PROF_PHASE_STORAGE);
    MT_WRAP(header_parser, PROF_PHASE_HEADERS);
    MT_WRAP(access_checker, PROF_PHASE_ACCESS);
    MT_WRAP(access_checker_ex, PROF_PHASE_ACCESS);
    MT_WRAP(check_user_id, PROF_PHASE_AUTHN);
    MT_WRAP(auth_checker, PROF_PHASE_AUTHZ);
    MT_WRAP(type_checker, PROF_PHASE_TYPE);
    MT_WRAP(fixups, PROF_PHASE_FIXUPS);
    MT_WRAP(insert_filter, PROF_PHASE_HANDLER);
    MT_WRAP(handler, PROF_PHASE_HANDLER);
    MT_WRAP(log_transaction, PROF_PHASE_LOG);
}

/* After every module inserted its filters: the request's chain as the
 * handler will see it. */
static void insert_filter_last(request_rec *r)
{
    prof_modtime_wrap_filters(r);
}

/* After the timing's post_read_request (REALLY_FIRST), which creates the
 * request's profile: its module times, where they are on. Other modules'
 * REALLY_FIRST post_read_request hooks that run before it are not
 * timed. */
static int modtime_post_read(request_rec *r)
{
    prof_req_t *rq;

    if (r->main || r->prev || !mt_any) {
        return DECLINED;        /* an internal redirect joins its first */
    }
    rq = prof_req_get(r);
    if (rq) {
        rq->modt = prof_modtime_start(r);
    }
    return DECLINED;
}

static void modtime_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (!mt_any) {
        return;
    }
    mt_fpool = pchild;
    mt_nfilters = 0;
    memset(mt_fcell, 0, sizeof(mt_fcell));
    trampoline_range();
    if (apr_thread_mutex_create(&mt_flock, APR_THREAD_MUTEX_DEFAULT,
                                pchild) != APR_SUCCESS) {
        mt_flock = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, PROFLOGNO(00403)
                     "ProfilerModuleTiming: no lock for the output "
                     "filters' timing: filters are not timed");
    }
}

/* Module timing's hooks cost every request a call or more: they are
 * registered only when the configuration turns it on (httpd sorts the
 * hooks again after reading the configuration, and forgets them all before
 * reading it anew), once per reading, as the request profiles' are. */
#define MODTIME_HOOKS_KEY "mod_profiler_modtime_hooks"

static void register_modtime_hooks(apr_pool_t *pconf)
{
    if (!prof_config_first_in_reading(pconf, MODTIME_HOOKS_KEY)) {
        return;
    }
    ap_hook_post_read_request(modtime_post_read, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_insert_filter(insert_filter_last, NULL, NULL,
                          APR_HOOK_REALLY_LAST);
    ap_hook_child_init(modtime_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}

int prof_modtime_wrap(apr_pool_t *pconf, server_rec *s)
{
    server_rec *v;
    int wrapped = 0, beyond = 0;

    mt_any = 0;
    mt_nslots = 0;
    memset(mt_cell, 0, sizeof(mt_cell));
    for (v = s; v; v = v->next) {
        if (prof_config_srv(v)->modtime == 1 && prof_config_maybe_on(v)) {
            mt_any = 1;
        }
    }
    if (!mt_any) {
        return 0;
    }
    mt_log_s = s;
    wrap_all(pconf, &wrapped, &beyond);
    if (beyond) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, PROFLOGNO(00402)
                     "ProfilerModuleTiming: %d hook functions not timed "
                     "(more than %d in one hook, or more than %d "
                     "phase-module pairs)", beyond, MT_MAX, MT_SLOTS_MAX);
    }
    return wrapped;
}

/* ---- per request --------------------------------------------------------- */

prof_modt_t *prof_modtime_start(request_rec *r)
{
    prof_modt_t *m;
    apr_size_t n, size;

    if (!mt_any || prof_config_srv(r->server)->modtime != 1) {
        return NULL;
    }
    /* No filter of ours runs between requests: a thread's pointer left by
     * a call that never came back must not reach this one's. */
    mt_cur = NULL;
    n = (apr_size_t)mt_nslots;
    size = APR_OFFSETOF(prof_modt_t, ticks) + n * sizeof(prof_tick_t);
    m = apr_palloc(r->pool, APR_ALIGN_DEFAULT(size)
                            + n * sizeof(apr_uint32_t));
    /* The stacks of calls in progress need no zeroing: only what lies
     * below their depths is read. */
    memset(&m->zeroed, 0, size - APR_OFFSETOF(prof_modt_t, zeroed)
                          + n * sizeof(apr_uint32_t)
                          + (APR_ALIGN_DEFAULT(size) - size));
    m->nslots = (apr_uint32_t)n;
    m->calls = (apr_uint32_t *)((char *)m + APR_ALIGN_DEFAULT(size));
    return m;
}

void prof_modtime_write_st(request_rec *r, const prof_modt_t *m,
                           prof_st_buf_t *st)
{
    apr_interval_time_t min_us = prof_config_srv(r->server)->modtime_min_us;
    apr_uint32_t i;
    char name[3 * 16 + 64 + 2];
    prof_tick_t own[MT_FILTERS] = { 0 };
    unsigned char seen[MT_FILTERS] = { 0 };
    prof_tick_t now = prof_clock_tick();
    prof_tick_t *running = apr_pcalloc(r->pool,
                                       (m->nslots ? m->nslots : 1)
                                       * sizeof(*running));
    int j;

    if (min_us < 0) {
        min_us = 100;                   /* default 0.1 ms */
    }

    /* The calls still running (the handler, while its headers leave)
     * count up to now. */
    for (j = 0; j < m->hdepth && j < MT_HDEPTH; ++j) {
        prof_tick_t d = now - m->hook[j].t0;

        if ((apr_int64_t)d > 0) {
            running[m->hook[j].slot] += d;
        }
    }
    for (i = 0; i < m->nslots; ++i) {
        apr_interval_time_t us;
        const char *ph;

        if (m->calls[i] == 0 && running[i] == 0) {
            continue;
        }
        us = prof_clock_ticks_us(m->ticks[i] + running[i]);
        if (us < min_us) {
            continue;
        }
        ph = prof_phase_name(mt_phase[i]);
        apr_snprintf(name, sizeof(name), "%s.%s", ph, mt_name[i]);
        prof_st_add(st, name, us, NULL);
    }
    /* Then each output filter's own time so far: the calls that ended,
     * and the ones in progress (the header is written while the filters
     * above ours are passing the first brigade on) up to the call they
     * made, which is where their own work on it ended. */
    {
        for (j = 0; j < m->depth && j < MT_DEPTH; ++j) {
            prof_tick_t next = j + 1 < m->depth ? m->frame[j + 1].t0 : now;
            prof_tick_t d = next - m->frame[j].t0;

            if ((apr_int64_t)d > 0 && d > m->frame[j].below) {
                own[m->frame[j].k] += d - m->frame[j].below;
            }
            seen[m->frame[j].k] = 1;
        }
    }
    for (i = 0; i < MT_FILTERS; ++i) {
        apr_interval_time_t us;

        if (m->fcalls[i] == 0 && !seen[i]) {
            continue;
        }
        us = prof_clock_ticks_us(m->fticks[i] + own[i]);
        if (us < min_us) {
            continue;
        }
        apr_snprintf(name, sizeof(name), "filter.%s", mt_fname[i]);
        prof_st_add(st, name, us, NULL);
    }
}

/* Each slot's and each trampoline's cell in the live metrics, found the
 * first time it counts (prof_agg_module_cell()), then kept: a (phase,
 * module) keeps its cell for the block's life, and its hash and look-up
 * cost more than the counting. Any thread may find it first; they find
 * the same cell. Cleared with the slots (post_config) and the trampolines
 * (child_init). NULL also where the table had no room: then the long way,
 * which counts the overflow. */

static void count_in(prof_agg_rcell_t **slot, prof_agg_t *agg,
                     const char *phase, const char *name,
                     apr_interval_time_t us)
{
    prof_agg_rcell_t *c = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

    if (c == NULL) {
        c = prof_agg_module_cell(agg, phase, name);
        if (c == NULL) {
            prof_agg_module(agg, phase, name, us);
            return;
        }
        __atomic_store_n(slot, c, __ATOMIC_RELEASE);
    }
    prof_agg_module_add(c, us);
}

void prof_modtime_count(const prof_modt_t *m, void *agg)
{
    apr_uint32_t i;

    for (i = 0; i < m->nslots; ++i) {
        if (m->calls[i]) {
            count_in(&mt_cell[i], agg, prof_phase_name(mt_phase[i]),
                     mt_name[i], prof_clock_ticks_us(m->ticks[i]));
        }
    }
    for (i = 0; i < MT_FILTERS; ++i) {
        if (m->fcalls[i]) {
            count_in(&mt_fcell[i], agg, "filter", mt_fname[i],
                     prof_clock_ticks_us(m->fticks[i]));
        }
    }
}

prof_modt_entry_t *prof_modtime_entries(const prof_modt_t *m, apr_pool_t *p,
                                        int *n)
{
    prof_modt_entry_t *out;
    apr_uint32_t i;
    int k = 0;

    out = apr_palloc(p, (m->nslots + MT_FILTERS) * sizeof(*out));
    for (i = 0; i < m->nslots; ++i) {
        if (m->calls[i] == 0) {
            continue;
        }
        out[k].phase = mt_phase[i];
        out[k].module = mt_name[i];
        out[k].dur_us = prof_clock_ticks_us(m->ticks[i]);
        out[k].calls = m->calls[i];
        ++k;
    }
    for (i = 0; i < MT_FILTERS; ++i) {
        if (m->fcalls[i] == 0) {
            continue;
        }
        out[k].phase = -1;
        out[k].module = mt_fname[i];
        out[k].dur_us = prof_clock_ticks_us(m->fticks[i]);
        out[k].calls = m->fcalls[i];
        ++k;
    }
    *n = k;
    return out;
}
