/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_agg.h
 * @brief Live aggregates of every request, in a block of shared memory:
 *        exact counts, the store's histogram of `total`, phase sums, time
 *        to first byte and bytes sent per (vhost, route, method, status),
 *        and the same (count, sum, histogram) per span name.
 *
 * Where it lives. The caller hands over one block of prof_agg_size() bytes
 * (the httpd layer: an apr_shm segment made in post_config and kept across
 * graceful restarts; the tests: malloc()ed or MAP_SHARED memory) and
 * formats it once with prof_agg_init(), or takes over a block formatted
 * before, by any process, with prof_agg_attach(). The block holds no
 * pointer, only offsets and indices, so every process may map it at its
 * own address. The prof_agg_t handle is process-local (from the caller's
 * pool) and only caches where the parts of the block are.
 *
 * Layout (PROF_AGG_LAYOUT_VERSION). A header; then three tables, each an
 * index of 64-bit slot words (a power of two, at least twice its cell
 * capacity, so that linear probing stays short) and an array of cells:
 *
 *   requests  `keys` cells keyed (vhost, route, method, status), plus
 *             PROF_AGG_CLASSES overflow cells (below)
 *   spans     `spans` cells keyed by name, plus one overflow cell "(other)"
 *   routes    `routes` small entries (vhost, route) -> admitted, and one
 *             entry per vhost with its count of admitted routes: the
 *             ProfilerMaxRoutes budget, exact across processes. A route
 *             refused because its vhost's budget is spent takes no entry
 *
 * The header carries a magic number, the layout version, the capacities,
 * the size, the sizes of the key fields and of a cell, and a checksum of
 * all of these: prof_agg_attach() tells a block of this very layout from a
 * foreign or corrupt one, and then the caller formats a new one.
 *
 * Keys. Strings are cut to PROF_AGG_VHOST_MAX, PROF_AGG_ROUTE_MAX and
 * PROF_AGG_METHOD_MAX bytes (span names to PROF_AGG_ROUTE_MAX), never
 * inside a UTF-8 character (prof_utf8_prefix_len()), before they are hashed:
 * two strings that differ only past the cut are one key. NULL is "". A
 * status outside 100..999 is 0. Bytes are kept as they are; the Prometheus
 * writer (prof_prom.h) makes them valid exposition text.
 *
 * Claiming a key, without a lock. A slot word is 0 (empty) or the key's
 * 32-bit hash tag, a state and a cell index. A new key is claimed by a
 * compare-and-swap of an empty slot to CLAIMING; the winner takes the next
 * free cell (an atomic counter), writes the key into it and publishes the
 * slot as READY (release). A reader or another claimer that probes into a
 * CLAIMING slot with the same tag waits for it (spins, then yields), so
 * that concurrent claimers of one key converge on one cell. Slots with
 * another tag are skipped; a READY slot matches only after the whole key
 * compares equal. Cells never move and a ready cell's key never changes:
 * a cell's index is its identity for as long as the block lives.
 *
 * A claimer that never publishes (a process killed within the few
 * instructions between its CAS and its publishing CAS) would make every
 * later request of that key wait. So a waiter gives up after 50 ms, marks
 * the slot DEAD (claim_stalls counts it) and goes on probing; the key gets
 * a new cell, and nobody waits for that slot again. Should the claimer
 * only have slept and come back, its publishing CAS fails and it withdraws
 * its cell, which stays unreachable and empty: a key never has two cells,
 * and readers never need to merge.
 *
 * When a table is full. No request ever fails here and nothing is
 * allocated. A request key that finds no cell (all `keys` cells taken,
 * PROF_AGG_PROBE_MAX slots probed, or its claim withdrawn as above) is
 * counted under (vhost, PROF_AGG_OTHER, method, status) if that key has or
 * can get a cell, else in the overflow cell of its status class
 * (vhost, route and method PROF_AGG_OTHER, code "1xx".."5xx", or "000").
 * Either way the request is counted once, and key_overflow counts it. A
 * span name without a cell goes to the span overflow cell and counts in
 * span_overflow. A route beyond the vhost's budget (prof_agg_set_max_routes,
 * default PROF_AGG_MAX_ROUTES_DEFAULT), or that finds the route table full,
 * becomes PROF_AGG_OTHER and counts in route_folded. So totals are always
 * exact; only the breakdown coarsens.
 *
 * Counting. prof_agg_record() costs a hash of the key, a probe (usually
 * one slot), and relaxed atomic adds: one histogram bucket, the sum of
 * `total`, one add per phase that took time, ttfb, bytes, and a compare for
 * min and max (a CAS only when they move). No lock, no allocation, no
 * system call (except the yields of a claim that waits for another). On
 * x86-64 a request of a known key takes about 420 instructions (callgrind)
 * through prof_agg_record(), which measures and hashes its strings, and
 * about 250 through prof_agg_record_k(), whose vhost was hashed at
 * start-up and whose route was hashed from its known length (counters
 * included: about 120 of either); bench/agg_ir.sh measures both.
 *
 * Atomics. The counters are 64-bit and updated with the GCC/C11 __atomic
 * builtins,
 * relaxed: apr_atomic_* offers 64-bit add only from APR 1.7, with a mutex
 * fallback on some platforms, and sequentially consistent ordering that
 * counters do not need. The builtins must be lock-free for 8 bytes (checked
 * at compile time), because the block is shared between processes. A
 * cell's count is not a counter of its own: it is the sum of its
 * histogram's buckets, so that every snapshot's count equals its
 * histogram's and a Prometheus `_count` equals its `+Inf` bucket. Sums
 * wrap only after 2^64 us (585,000 years of request time).
 *
 * Reading. prof_agg_snapshot() copies every ready cell's counters into
 * process-local memory (each counter read atomically, the cell as a whole
 * not: a request being recorded may show in some of its counters and not
 * yet in others; every counter only grows). prof_agg_delta() subtracts two
 * snapshots cell by cell, matched by cell index: since every counter only
 * grows, the deltas of successive snapshots add up exactly to the
 * difference between the first and the last, which is what a flusher of
 * exact minute rollups needs (a request counted during a snapshot may
 * show its bucket in one delta and its phase sums in the next; every
 * counter's total stays exact). prof_agg_groups() sums a snapshot per
 * route; prof_agg_rollup.h turns a delta into the store's rollup entries.
 *
 * Thread and process safety. prof_agg_record(), prof_agg_span(),
 * prof_agg_route_admit() and prof_agg_snapshot() may run at once in any
 * threads of any processes that map the block. prof_agg_init() must run
 * before any of them and while nobody else uses the block. A snapshot and
 * a delta belong to the thread that made them (pool rules).
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_AGG_H
#define PROF_AGG_H

#include "apr.h"
#include "apr_errno.h"
#include "apr_pools.h"
#include "apr_time.h"

#include "prof_hist.h"
#include "prof_phase.h"

/** Changes whenever the layout of the block does. */
#define PROF_AGG_LAYOUT_VERSION      2

/** Longest vhost, route (and span name) and method kept, in bytes. */
#define PROF_AGG_VHOST_MAX           128
#define PROF_AGG_ROUTE_MAX           256
#define PROF_AGG_METHOD_MAX          16

/** Defaults of ProfilerMetricsKeys and ProfilerMaxRoutes. */
#define PROF_AGG_KEYS_DEFAULT        1024
#define PROF_AGG_MAX_ROUTES_DEFAULT  500
/** Span names kept by default. */
#define PROF_AGG_SPANS_DEFAULT       256

/** The largest capacity of any table (cell indices have 30 bits; this
 *  keeps a block below some 3 GB). */
#define PROF_AGG_CAPACITY_MAX        (1u << 20)

/** Slots probed for one key before it is folded. */
#define PROF_AGG_PROBE_MAX           64

/** The route of folded requests, and of 404s that no ProfilerRoute names. */
#define PROF_AGG_OTHER               "(other)"
#define PROF_AGG_NOT_FOUND           "(not found)"

/** Overflow cells of the request table: status classes 0 (outside
 *  100..599), 1xx .. 5xx. */
#define PROF_AGG_CLASSES             6

/** Key flags. */
#define PROF_AGG_KEY_CLASS  0x1  /**< a class overflow cell: code is "Nxx" */
#define PROF_AGG_KEY_VHOST  0x2  /**< a route-table entry of a whole vhost */
/** A span-table cell of a module's time in a phase (ProfilerModuleTiming):
 * key.vhost is the phase ("filter" for an output filter), key.route the
 * module or filter. */
#define PROF_AGG_KEY_MODULE 0x4

/** A key as the block stores it (and snapshots copy it): NUL-terminated
 *  strings, cut as the file comment says. */
typedef struct {
    apr_uint64_t hash;
    apr_uint16_t status;        /**< 100..999, or 0 */
    apr_uint16_t flags;         /**< PROF_AGG_KEY_* */
    apr_uint16_t vhost_len, route_len, method_len;
    char vhost[PROF_AGG_VHOST_MAX + 1];
    char route[PROF_AGG_ROUTE_MAX + 1];  /**< or the span name */
    char method[PROF_AGG_METHOD_MAX + 1];
} prof_agg_key_t;

/** Capacities: the layout. Anything else is a runtime setting. */
typedef struct {
    apr_uint32_t keys;          /**< request cells (ProfilerMetricsKeys) */
    apr_uint32_t spans;         /**< span-name cells */
    /** route-table entries: one per admitted route and one per vhost
     *  (refused routes take none), so keys + the number of vhosts is
     *  enough; the httpd layer may use 2 * keys */
    apr_uint32_t routes;
} prof_agg_layout_t;

/** The process-local handle of a block. */
typedef struct prof_agg_t prof_agg_t;

/** One cell as a snapshot holds it. For a span, only key.route (the name),
 *  hist and id mean something. */
typedef struct {
    apr_uint32_t id;            /**< the cell's index: its identity */
    prof_agg_key_t key;
    /** count (the requests: the sum of the buckets), sum (of `total`, us),
     *  min, max, and the buckets of the store's histogram. */
    prof_hist_t hist;
    apr_uint64_t phase_us[PROF_PHASE_TOTAL];  /**< sums, read .. log */
    apr_uint64_t ttfb_us;       /**< sum over requests that had a ttfb */
    apr_uint64_t ttfb_count;    /**< how many had one */
    apr_uint64_t bytes;         /**< bytes sent, summed */
} prof_agg_cell_t;

/** The header's counters. */
typedef struct {
    apr_uint64_t key_overflow;  /**< requests folded for want of a cell */
    apr_uint64_t span_overflow; /**< spans counted in the overflow cell */
    apr_uint64_t route_folded;  /**< requests whose route became (other)
                                     by the route budget */
    apr_uint64_t claim_stalls;  /**< slots given up on after 50 ms: a claimer
                                     died or slept between its two steps */
} prof_agg_counters_t;

/** A process-local copy of the block's counters. */
typedef struct {
    apr_uint64_t generation;    /**< the block's, from prof_agg_init() */
    prof_agg_counters_t counters;
    apr_size_t nreq;            /**< request cells, in increasing id */
    prof_agg_cell_t *req;
    apr_size_t nspan;           /**< span cells, in increasing id */
    prof_agg_cell_t *span;
} prof_agg_snap_t;

/** What prof_agg_record() did with the request (for tests and tracing). */
typedef enum {
    PROF_AGG_COUNTED = 0,       /**< in its own cell (maybe just claimed) */
    PROF_AGG_ROUTE_FOLDED,      /**< route over budget: in (vhost, (other),
                                     method, status) */
    PROF_AGG_KEY_FOLDED,        /**< no cell for the key: in (vhost,
                                     (other), method, status) */
    PROF_AGG_CLASS_FOLDED       /**< in its status class's overflow cell */
} prof_agg_result_t;

/**
 * Bytes a block of this layout takes, or 0 when a capacity is 0 or above
 * PROF_AGG_CAPACITY_MAX. Aligned use: the block must start on an 8-byte
 * boundary (apr_shm and malloc give more).
 */
apr_size_t prof_agg_size(const prof_agg_layout_t *layout);

/**
 * Format mem as an empty block of this layout and return its handle.
 *
 * @param agg        the handle, allocated in p
 * @param mem, size  the block: at least prof_agg_size(layout) bytes
 * @param generation any value that tells this formatting from earlier ones
 *                   (apr_time_now() will do); snapshots carry it, and
 *                   prof_agg_delta() does not subtract across generations
 * @return APR_SUCCESS; APR_EINVAL for a bad layout, a NULL or misaligned
 *         block, or one too small (then the block is not touched)
 */
apr_status_t prof_agg_init(prof_agg_t **agg, apr_pool_t *p, void *mem,
                           apr_size_t size, const prof_agg_layout_t *layout,
                           apr_uint64_t generation);

/**
 * Take over a block that prof_agg_init() formatted, in this or another
 * process, and check it first: magic, version, capacities, size and
 * checksum of the header, the counters of used cells, and every slot word
 * of the three indices (a ready slot must name a ready cell of its own
 * tag). O(size of the indices and cells); run it once per process, at
 * start-up. Other processes may go on counting meanwhile (the children of
 * the previous generation during a graceful restart): what they add while
 * the check runs is never taken for corruption.
 *
 * @return APR_SUCCESS, and *agg set; APR_EMISMATCH for a valid block of
 *         another layout (ProfilerMetricsKeys changed) or another version;
 *         APR_EINVAL for anything else (not a block of ours, or corrupt).
 *         On failure *agg is NULL and the block is not written: the caller
 *         re-creates it with prof_agg_init() and says why in its log.
 */
apr_status_t prof_agg_attach(prof_agg_t **agg, apr_pool_t *p, void *mem,
                             apr_size_t size, const prof_agg_layout_t *layout);

/** The layout of a valid block, read from its header (to log what an
 *  APR_EMISMATCH block was). APR_EINVAL when mem is not a valid block. */
apr_status_t prof_agg_layout_of(const void *mem, apr_size_t size,
                                prof_agg_layout_t *layout);

/**
 * Set this process's route budget per vhost (ProfilerMaxRoutes): routes
 * admitted from now on. Routes admitted before stay admitted, whatever the
 * budget becomes; 0 admits no new route. Not in the block: a budget
 * changed on a graceful restart keeps the counters. Call before the
 * handle is shared between threads.
 */
void prof_agg_set_max_routes(prof_agg_t *agg, apr_uint32_t max_routes);

/**
 * Count one finished request.
 *
 * @param vhost, route, method  the key; NULL is "". route is used as
 *              given except for the budget (and must already be
 *              PROF_AGG_NOT_FOUND where that applies: prof_agg_route_label())
 * @param status the final status; outside 100..999 counts as 0
 * @param phase_us PROF_PHASE_COUNT durations in us (prof_phase_rec_t's
 *              dur_us), [PROF_PHASE_TOTAL] being `total`; negative is 0.
 *              NULL counts the request with every duration 0.
 * @param ttfb_us time to first byte, or negative when there was none
 * @param bytes  bytes sent
 * @return how it was counted. Never fails; agg NULL does nothing (and
 *         returns PROF_AGG_COUNTED).
 */
prof_agg_result_t prof_agg_record(prof_agg_t *agg, const char *vhost,
                                  const char *route, const char *method,
                                  int status,
                                  const apr_interval_time_t *phase_us,
                                  apr_interval_time_t ttfb_us,
                                  apr_uint64_t bytes);

/**
 * A string of a key, measured, cut and hashed once: the vhost of a server
 * at start-up, the route of a request as it is folded. What
 * prof_agg_record_k() takes instead of the strings prof_agg_record()
 * measures and hashes on every call. Make it only with prof_agg_str_set()
 * or prof_agg_str_setn(); s is not copied and must outlive every use (the
 * pool of the server's configuration, the request's pool).
 */
typedef struct {
    const char *s;          /**< the bytes (NUL-terminated or not) */
    apr_uint16_t len;       /**< bytes of s in the key, after the cut */
    apr_uint64_t hash;      /**< of those bytes, as the block hashes them */
} prof_agg_str_t;

/** The longest string prof_agg_str_t keeps (the longest key field). */
#define PROF_AGG_STR_MAX  PROF_AGG_ROUTE_MAX

/**
 * Set k to s (NULL is ""), cut to max bytes (PROF_AGG_VHOST_MAX for a
 * vhost, PROF_AGG_ROUTE_MAX for a route; at most PROF_AGG_STR_MAX) never
 * inside a UTF-8 character, as prof_agg_record() cuts it. Reads at most
 * max + 1 bytes of s. No allocation; any thread.
 */
void prof_agg_str_set(prof_agg_str_t *k, const char *s, apr_size_t max);

/**
 * prof_agg_str_set() of a string whose length the caller knows (len bytes
 * at s, NUL-terminated or not; prof_route_fold_len() gives it): no scan
 * for the end, only the hash (about 6 instructions per 8 bytes) and, when
 * len > max, the cut. A route of ProfilerRoute's, the static
 * PROF_AGG_NOT_FOUND or a folded path all go through here.
 */
void prof_agg_str_setn(prof_agg_str_t *k, const char *s, apr_size_t len,
                       apr_size_t max);

/**
 * prof_agg_record() with the vhost and the route already measured and
 * hashed (prof_agg_str_set*()): the request path's entry point. The same
 * key gives the same cell through either function (a unit test holds them
 * to it), the same folds and the same result. method is a string as in
 * prof_agg_record() (a method of up to 8 bytes is measured and hashed in
 * an unrolled loop, and compared as one word). A known key costs the
 * method, a combination of the three hashes, one slot, the whole key
 * compared, and the counters: about 250 instructions, 120 of them the
 * counters (bench/agg_ir.sh). vhost and route must not be NULL unless
 * agg is.
 */
prof_agg_result_t prof_agg_record_k(prof_agg_t *agg,
                                    const prof_agg_str_t *vhost,
                                    const prof_agg_str_t *route,
                                    const char *method, int status,
                                    const apr_interval_time_t *phase_us,
                                    apr_interval_time_t ttfb_us,
                                    apr_uint64_t bytes);

/** A request cell of the block, as prof_agg_record_kc() gives it. */
typedef struct prof_agg_rcell_t prof_agg_rcell_t;

/**
 * prof_agg_record_k() that also gives, in *cell, the cell the request was
 * counted in when that is its key's own (the result PROF_AGG_COUNTED),
 * else NULL (a fold counts the fold every time: it must come here again).
 * A key keeps its cell for the life of the block, in every process that
 * maps it (cells are never given back), so a caller may keep the cell for
 * the same key and count the next requests with prof_agg_count_ticks(),
 * without the look-up.
 */
prof_agg_result_t prof_agg_record_kc(prof_agg_t *agg,
                                     const prof_agg_str_t *vhost,
                                     const prof_agg_str_t *route,
                                     const char *method, int status,
                                     const apr_interval_time_t *phase_us,
                                     apr_interval_time_t ttfb_us,
                                     apr_uint64_t bytes,
                                     prof_agg_rcell_t **cell);

/**
 * Count one request in cell: what prof_agg_record_k() of its key counts,
 * the phases taken from the record's ticks (each turned into microseconds
 * as prof_phase_fold() turns it, so the sums are the same), total_us being
 * prof_phase_elapsed(ph). No fold of the record needed first.
 */
void prof_agg_count_ticks(prof_agg_rcell_t *cell, const prof_phase_rec_t *ph,
                          apr_interval_time_t total_us,
                          apr_interval_time_t ttfb_us, apr_uint64_t bytes);

/**
 * The span-table cell of (phase, module) that prof_agg_module() counts in,
 * found or claimed now, for a caller that counts the same pair often
 * (module timing keeps one per hook slot): NULL where there is none (the
 * table is full: prof_agg_module() then counts the overflow, every time).
 * A cell stays the pair's for the life of the block.
 */
prof_agg_rcell_t *prof_agg_module_cell(prof_agg_t *agg, const char *phase,
                                       const char *module);

/** prof_agg_module() into a cell prof_agg_module_cell() gave. */
void prof_agg_module_add(prof_agg_rcell_t *cell, apr_interval_time_t dur_us);

/**
 * Count a module's time in a phase (or an output filter's, phase
 * "filter"), as module timing measured it for one request: a cell of the
 * span table (PROF_AGG_KEY_MODULE), bounded with the spans' cells and
 * their overflow. Returns as prof_agg_span().
 */
int prof_agg_module(prof_agg_t *agg, const char *phase, const char *module,
                    apr_interval_time_t dur_us);

/**
 * Count one span (or metric) of name, that took dur_us (negative is 0).
 * Never fails; the overflow cell takes names beyond the capacity. Returns
 * 1 when the name had or got a cell, 0 when it went to the overflow cell.
 */
int prof_agg_span(prof_agg_t *agg, const char *name,
                  apr_interval_time_t dur_us);

/**
 * The route budget alone, as prof_agg_record() applies it, for the store
 * (its raw rows follow the same rule): route itself when it is admitted
 * for vhost (now, or earlier), PROF_AGG_OTHER when the vhost's budget is
 * spent or the route table is full. PROF_AGG_OTHER and PROF_AGG_NOT_FOUND
 * are always admitted and never count. An admission is decided once and
 * kept for all processes; a refusal is kept only when a race for the last
 * place decided it (a route refused for a spent budget is asked again,
 * and admitted should the budget have grown). Returns route or the static
 * string.
 */
const char *prof_agg_route_admit(prof_agg_t *agg, const char *vhost,
                                 const char *route);

/** The route a request counts under before the budget: PROF_AGG_NOT_FOUND
 *  for a 404 that no ProfilerRoute named (route_named 0), so that scanners
 *  and favicons create no routes; route otherwise. */
const char *prof_agg_route_label(const char *route, int status,
                                 int route_named);

/** Routes admitted so far for vhost (0 for an unknown one). */
apr_uint32_t prof_agg_routes_of(prof_agg_t *agg, const char *vhost);

/** The header's counters, read now. */
void prof_agg_counters(prof_agg_t *agg, prof_agg_counters_t *out);

/**
 * Copy every ready cell with a count above 0 into p (see the file comment
 * for what "copy" promises). About 2.6 KB of p per cell. Never fails
 * (memory is the pool's business, as everywhere in APR).
 */
prof_agg_snap_t *prof_agg_snapshot(prof_agg_t *agg, apr_pool_t *p);

/**
 * What happened between two snapshots of one block, in p: for every cell
 * of now, its counters minus prev's for the same id (a counter that seems
 * to have shrunk gives 0), and the same for the header's counters. Cells
 * with nothing new are left out. prev NULL, or of another generation (the
 * block was re-created in between), gives a copy of now.
 *
 * The delta's min and max are the cell's min and max since the block
 * began, narrowed to the range of the delta's own non-empty buckets: a
 * bound on the interval's true extremes, within one bucket (9 %), as the
 * store's decoded rollups have them.
 */
prof_agg_snap_t *prof_agg_delta(apr_pool_t *p, const prof_agg_snap_t *prev,
                                const prof_agg_snap_t *now);

/** A snapshot's cells summed per (vhost, route): what the status page's
 *  "top routes" and the report's live summary show. */
typedef struct {
    const char *vhost;          /**< the cells' strings, in the snapshot */
    const char *route;
    /** merged over methods and statuses: count, sum, min, max, buckets,
     *  so prof_hist_percentile() gives p50/p95/p99 */
    prof_hist_t hist;
    apr_uint64_t client_errors; /**< requests with a 4xx status */
    apr_uint64_t errors;        /**< requests with a 5xx status */
    apr_uint64_t phase_us[PROF_PHASE_TOTAL];
    apr_uint64_t ttfb_us, ttfb_count, bytes;
} prof_agg_group_t;

/**
 * The request cells of s grouped by (vhost, route), the busiest first
 * (ties in vhost, then route order), at most max of them (0: all). In p,
 * about 2.6 KB per group; *n is how many. The class overflow cells are
 * one group (vhost and route PROF_AGG_OTHER); their 4xx and 5xx count as
 * such. O(cells log cells).
 */
prof_agg_group_t *prof_agg_groups(apr_pool_t *p, const prof_agg_snap_t *s,
                                  apr_size_t max, apr_size_t *n);

#endif /* PROF_AGG_H */
