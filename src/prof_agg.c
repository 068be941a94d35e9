/* Licensed under the Apache License, Version 2.0. */

/*
 * Live aggregates in a caller-given block of shared memory. The contract,
 * the layout and the claiming scheme are in prof_agg.h.
 *
 * Everything in the block is found from the header by offsets computed
 * from the layout, never from a stored pointer; a slot word is
 *
 *     bits 63..32  tag: the top half of the key's 64-bit hash
 *     bits 31..30  state: EMPTY (the whole word is 0), CLAIMING, READY, DEAD
 *     bits 29..0   the cell's index (READY only)
 *
 * and the cells hold their key, a ready flag, and the counters. Atomics are
 * the GCC/C11 __atomic builtins: relaxed for counters, acquire/release
 * where a cell's key is published.
 */

/* strnlen() is POSIX.1-2008, not C99. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "apr_thread_proc.h"

#include "prof_agg.h"
#include "prof_clock.h"
#include "prof_route.h"

/* A block is shared between processes: its 64-bit atomics must be real
 * instructions, not a lock inside one process's libatomic. */
#if defined(__GCC_ATOMIC_LLONG_LOCK_FREE) && __GCC_ATOMIC_LLONG_LOCK_FREE != 2
#error "prof_agg needs lock-free 64-bit atomics"
#endif

#define A_LOAD(p)        __atomic_load_n((p), __ATOMIC_RELAXED)
#define A_ACQ(p)         __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define A_REL(p, v)      __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define A_ADD(p, v)      ((void)__atomic_fetch_add((p), (v), __ATOMIC_RELAXED))
#define A_FADD(p, v)     __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define A_CAS(p, e, v)   __atomic_compare_exchange_n((p), (e), (v), 0, \
                             __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

#define MAGIC            0x50524147u     /* "PRAG" */

/* For the few helpers of the request path that the compiler would call. */
#if defined(__GNUC__)
#define ALWAYS_INLINE APR_INLINE __attribute__((always_inline))
#else
#define ALWAYS_INLINE APR_INLINE
#endif
#if defined(__GNUC__)
#define NOINLINE __attribute__((noinline))
#else
#define NOINLINE
#endif

#define ST_CLAIMING      1u
#define ST_READY         2u
#define ST_DEAD          3u
#define SLOT_STATE(w)    ((apr_uint32_t)((w) >> 30) & 3u)
#define SLOT_CELL(w)     ((apr_uint32_t)(w) & 0x3fffffffu)
#define SLOT_TAG(w)      ((apr_uint32_t)((w) >> 32))
#define SLOT_WORD(tag, st, cell) \
    (((apr_uint64_t)(tag) << 32) | ((apr_uint64_t)(st) << 30) | (cell))

/* Waiting for another claimer of the same key: it has a key to copy, a
 * microsecond. SPIN_RELAX pauses, then yields until STALL_US have passed;
 * a claimer that takes longer has died between its two atomic steps (or
 * sleeps there), and the waiter marks the slot DEAD so that nobody waits
 * for it again. Should the claimer wake up, its publishing CAS fails and
 * it withdraws its cell (tbl_publish()): one key never gets two cells. */
#define SPIN_RELAX       64
/* Not less: on a loaded machine a claimer preempted between its two steps
 * for 2 ms (the first value) was taken for dead now and then, and its key
 * counted under (other) (a unit test under CI load, 2026-12-02). A waiter
 * pays this only when a claimer really died there, once per key. */
#define STALL_US         50000

#define ALIGN64(x)       (((x) + 63) & ~(apr_uint64_t)63)

/* Fixed at prof_agg_init(); the checksum covers all of it. */
typedef struct {
    apr_uint32_t magic, version;
    apr_uint32_t keys, spans, routes;
    apr_uint32_t req_slots, span_slots, route_slots;
    apr_uint32_t key_size, cell_size, rent_size, hist_buckets, phases;
    apr_uint32_t vhost_max, route_max, method_max;
    apr_uint64_t size;
    apr_uint64_t generation;
} fixed_t;

typedef struct {
    fixed_t f;
    apr_uint64_t checksum;      /* of f */
    /* Mutable, atomics only. */
    apr_uint32_t req_used, span_used, route_used, unused;
    apr_uint64_t key_overflow, span_overflow, route_folded, claim_stalls;
} hdr_t;

/* What every kind of cell starts with: the generic table code sees only
 * this. */
typedef struct {
    prof_agg_key_t key;
    apr_uint32_t ready;         /* 1 once key is written (release) */
    apr_uint32_t aux;           /* route entry: admitted; vhost: routes */
} head_t;

typedef struct {
    head_t h;
    apr_uint64_t sum_us;
    apr_int64_t min_us, max_us;
    apr_uint64_t phase_us[PROF_PHASE_TOTAL];
    apr_uint64_t ttfb_us, ttfb_count, bytes;
    apr_uint64_t n[PROF_HIST_BUCKETS];
} cell_t;

typedef struct {
    apr_uint64_t *slots;
    apr_uint32_t mask;
    char *cells;
    apr_size_t stride;
    apr_uint32_t cap;
    apr_uint32_t *used;
    apr_uint64_t *stalls;       /* the header's claim_stalls */
} tbl_t;

struct prof_agg_t {
    hdr_t *hdr;
    tbl_t req, span, route;
    cell_t *classes;            /* PROF_AGG_CLASSES cells after req's */
    cell_t *span_other;         /* one cell after span's */
    apr_uint32_t max_routes;
};

enum { F_FOUND, F_NEW, F_NOTFOUND, F_FULL, F_LIMIT };

static APR_INLINE void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* ---- keys ------------------------------------------------------------ */

/* FNV-1a: the header's checksum, once per attach. */
static apr_uint64_t fnv(apr_uint64_t h, const char *s, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        h = (h ^ (unsigned char)s[i]) * APR_UINT64_C(0x100000001b3);
    }
    return h;
}

/*
 * A key as a request brings it: pointers to its strings (cut, but not
 * copied), their lengths and hashes. Every request builds one, so nothing
 * is copied until a key is claimed; the cell's key is compared with it
 * directly. hash, status, flags and the three lengths come first and in
 * prof_agg_key_t's order: key_eq() compares status .. route_len as one
 * word.
 */
typedef struct {
    apr_uint64_t hash;
    apr_uint16_t status, flags, vhost_len, route_len, method_len;
    const char *vhost, *route, *method;
    apr_uint64_t vhost_h, route_h, method_h;    /* str_hash() of each */
    /* A method of up to 8 bytes as one zero-padded word: what a cell's
     * method field (zero past its NUL) holds in its first 8 bytes. */
    apr_uint64_t method_w;
} probe_t;

/* key_eq()'s word: status, flags, vhost_len, route_len, in this order and
 * without padding, in both structs. */
#define SAME_RUN(T) (offsetof(T, flags) == offsetof(T, status) + 2 \
                     && offsetof(T, vhost_len) == offsetof(T, status) + 4 \
                     && offsetof(T, route_len) == offsetof(T, status) + 6)
typedef char probe_run_check[SAME_RUN(probe_t) ? 1 : -1];
typedef char key_run_check[SAME_RUN(prof_agg_key_t) ? 1 : -1];

/* The bytes of s kept: strnlen is a vector scan in glibc; the UTF-8 cut
 * is looked for only in a string that is too long. */
static APR_INLINE apr_uint16_t cut_len(const char *s, apr_size_t max)
{
    apr_size_t n;

    if (s == NULL) {
        return 0;
    }
    n = strnlen(s, max + 1);
    return (apr_uint16_t)(n > max ? prof_utf8_prefix_len(s, max) : n);
}

/*
 * Each string of a key is hashed on its own (str_hash()) and the key's
 * hash combines the three with the status (key_hash()), so that a string
 * known before the request (the vhost of a server, prof_agg_str_t) is
 * hashed once, at start-up. Which hash does not matter for correctness
 * (the whole key is compared), only for spreading: a multiply-xorshift
 * per word, and murmur3's finaliser at the end so that the low bits
 * (where probing starts) and the high ones (the tag) both depend on every
 * byte. The block is never shared across byte orders.
 */
#define STR_SEED  APR_UINT64_C(0xcbf29ce484222325)

static ALWAYS_INLINE apr_uint64_t mix(apr_uint64_t h, apr_uint64_t w)
{
    h = (h ^ w) * APR_UINT64_C(0x9e3779b97f4a7c15);
    return h ^ (h >> 32);
}

static APR_INLINE apr_uint64_t load8(const char *s)
{
    apr_uint64_t w;

    memcpy(&w, s, 8);
    return w;
}

static APR_INLINE apr_uint64_t load4(const char *s)
{
    apr_uint32_t w;

    memcpy(&w, s, 4);
    return w;
}

/* Eight bytes at a time (memcpy: no alignment assumed); the last 1..8 as
 * one word, zero-padded (overlapping loads, no loop: the same word that
 * str_hash_short() builds a byte at a time), mixed with the length, so
 * that "a\0" and "a" differ. */
static ALWAYS_INLINE apr_uint64_t str_hash(const char *s, apr_size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_uint64_t h = STR_SEED, w, len = (apr_uint64_t)n << 56;

    if (n > 8) {
        for (; n > 8; s += 8, n -= 8) {
            h = mix(h, load8(s));
        }
        w = load8(s + n - 8);   /* overlaps the last word: still exact */
    }
    else if (n == 8) {
        w = load8(s);
    }
    else if (n >= 4) {
        w = load4(s) | load4(s + n - 4) << (8 * (n - 4));
    }
    else if (n > 0) {
        w = (apr_uint64_t)u[0] | (n > 1 ? (apr_uint64_t)u[1] << 8 : 0)
            | (n > 2 ? (apr_uint64_t)u[2] << 16 : 0);
    }
    else {
        w = 0;
    }
    return mix(h, w ^ len);
}

/* A short string (the method) measured and hashed in one pass: its bytes
 * gathered into the zero-padded word that str_hash() reads, unrolled (a
 * loop's variable shift and counter cost twice as much). Returns 0 and
 * leaves the rest to cut_len() and str_hash() when s is longer than 8
 * bytes. */
static ALWAYS_INLINE int str_hash_short(const char *s, apr_uint16_t *len,
                                        apr_uint64_t *hash,
                                        apr_uint64_t *word)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_uint64_t w = 0;
    unsigned n;

#define GATHER(i) \
    if (u[i] == 0) { n = i; goto done; } \
    w |= (apr_uint64_t)u[i] << (8 * i);
    GATHER(0) GATHER(1) GATHER(2) GATHER(3)
    GATHER(4) GATHER(5) GATHER(6) GATHER(7)
#undef GATHER
    if (u[8]) {
        return 0;
    }
    n = 8;
done:
    *len = (apr_uint16_t)n;
    *word = w;
    *hash = mix(STR_SEED, w ^ ((apr_uint64_t)n << 56));
    return 1;
}

static ALWAYS_INLINE apr_uint64_t rotl(apr_uint64_t x, unsigned r)
{
    return (x << r) | (x >> (64 - r));
}

/* The parts are well mixed already: rotated apart (so that the
 * combination is not symmetric in them), xor-ed, and the finaliser. */
static ALWAYS_INLINE apr_uint64_t key_hash(apr_uint64_t vh, apr_uint64_t rh,
                                           apr_uint64_t mh,
                                           apr_uint32_t status,
                                           apr_uint32_t flags)
{
    apr_uint64_t h = vh ^ rotl(rh, 21) ^ rotl(mh, 42)
                     ^ ((((apr_uint64_t)status << 16) | flags)
                        * APR_UINT64_C(0x9e3779b97f4a7c15));

    h ^= h >> 33;
    h *= APR_UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= APR_UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

static ALWAYS_INLINE apr_uint64_t probe_hash(const probe_t *k)
{
    return key_hash(k->vhost_h, k->route_h, k->method_h, k->status, k->flags);
}

static APR_INLINE apr_uint16_t status_of(int status)
{
    return (apr_uint16_t)(status >= 100 && status <= 999 ? status : 0);
}

static ALWAYS_INLINE void method_set(probe_t *k, const char *method)
{
    k->method = method ? method : "";
    if (!str_hash_short(k->method, &k->method_len, &k->method_h,
                        &k->method_w)) {
        k->method_len = cut_len(k->method, PROF_AGG_METHOD_MAX);
        k->method_h = str_hash(k->method, k->method_len);
    }
}

static void key_make(probe_t *k, const char *vhost, const char *route,
                     const char *method, int status, apr_uint16_t flags)
{
    k->vhost = vhost ? vhost : "";
    k->route = route ? route : "";
    k->vhost_len = cut_len(vhost, PROF_AGG_VHOST_MAX);
    k->route_len = cut_len(route, PROF_AGG_ROUTE_MAX);
    k->vhost_h = str_hash(k->vhost, k->vhost_len);
    k->route_h = str_hash(k->route, k->route_len);
    method_set(k, method);
    k->status = status_of(status);
    k->flags = flags;
    k->hash = probe_hash(k);
}

/* route: a constant of ours, short. */
static void key_set_route(probe_t *k, const char *route)
{
    k->route = route;
    k->route_len = (apr_uint16_t)strlen(route);
    k->route_h = str_hash(route, k->route_len);
    k->hash = probe_hash(k);
}

/* memcmp(a, b, n) == 0 for the short strings of a key, inline: words
 * compared as str_hash() reads them (overlapping loads, never a byte
 * outside the n), where three calls to memcmp() cost a third of a known
 * key's look-up. */
static ALWAYS_INLINE int bytes_eq(const char *a, const char *b, apr_size_t n)
{
    if (n >= 8) {
        for (; n > 8; a += 8, b += 8, n -= 8) {
            if (load8(a) != load8(b)) {
                return 0;
            }
        }
        return load8(a + n - 8) == load8(b + n - 8);
    }
    if (n >= 4) {
        return load4(a) == load4(b) && load4(a + n - 4) == load4(b + n - 4);
    }
    /* 0 .. 3 bytes: the first, middle and last cover them all. */
    return n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2]
                      && a[n - 1] == b[n - 1]);
}

/* status, flags, vhost_len and route_len as one word. */
static ALWAYS_INLINE apr_uint64_t lens_word(const apr_uint16_t *status)
{
    apr_uint64_t w;

    memcpy(&w, status, 8);
    return w;
}

static ALWAYS_INLINE int key_eq(const prof_agg_key_t *a, const probe_t *b)
{
    return a->hash == b->hash
        && lens_word(&a->status) == lens_word(&b->status)
        && a->method_len == b->method_len
        && (a->method_len <= 8 ? load8(a->method) == b->method_w
                               : bytes_eq(a->method, b->method, a->method_len))
        && bytes_eq(a->vhost, b->vhost, a->vhost_len)
        && bytes_eq(a->route, b->route, a->route_len);
}

/* Writes k into a cell's key (zeroed memory). */
static void key_store(prof_agg_key_t *dst, const probe_t *k)
{
    dst->hash = k->hash;
    dst->status = k->status;
    dst->flags = k->flags;
    dst->vhost_len = k->vhost_len;
    dst->route_len = k->route_len;
    dst->method_len = k->method_len;
    memcpy(dst->vhost, k->vhost, k->vhost_len);
    dst->vhost[k->vhost_len] = '\0';
    memcpy(dst->route, k->route, k->route_len);
    dst->route[k->route_len] = '\0';
    memcpy(dst->method, k->method, k->method_len);
    dst->method[k->method_len] = '\0';
}

/* A stored key as a probe (its strings in place). */
static void key_probe(const prof_agg_key_t *s, probe_t *k)
{
    k->vhost = s->vhost;
    k->route = s->route;
    k->method = s->method;
    k->vhost_len = s->vhost_len;
    k->route_len = s->route_len;
    k->method_len = s->method_len;
    k->status = s->status;
    k->flags = s->flags;
    k->vhost_h = str_hash(k->vhost, k->vhost_len);
    k->route_h = str_hash(k->route, k->route_len);
    k->method_h = str_hash(k->method, k->method_len);
    k->method_w = load8(s->method);     /* zero past the NUL (key_valid) */
    k->hash = probe_hash(k);
}

/* A key read from the block: lengths in bounds, NUL where they say, the
 * hash what the bytes give. */
static int key_valid(const prof_agg_key_t *k)
{
    probe_t c;
    apr_size_t i;

    if (k->vhost_len > PROF_AGG_VHOST_MAX || k->route_len > PROF_AGG_ROUTE_MAX
        || k->method_len > PROF_AGG_METHOD_MAX
        || k->vhost[k->vhost_len] || k->route[k->route_len]
        || k->method[k->method_len]
        || memchr(k->vhost, 0, k->vhost_len)
        || memchr(k->route, 0, k->route_len)
        || memchr(k->method, 0, k->method_len)) {
        return 0;
    }
    /* key_eq() compares a short method as the field's first 8 bytes. */
    for (i = k->method_len; i < 8; ++i) {
        if (k->method[i]) {
            return 0;
        }
    }
    key_probe(k, &c);
    return c.hash == k->hash;
}

static int is_special(const char *route, apr_size_t len)
{
    return (len == sizeof(PROF_AGG_OTHER) - 1
            && memcmp(route, PROF_AGG_OTHER, len) == 0)
        || (len == sizeof(PROF_AGG_NOT_FOUND) - 1
            && memcmp(route, PROF_AGG_NOT_FOUND, len) == 0);
}

/* ---- the table: find, or claim -------------------------------------- */

static APR_INLINE head_t *tbl_head(const tbl_t *t, apr_uint32_t cell)
{
    return (head_t *)(t->cells + (apr_size_t)cell * t->stride);
}

/*
 * Looks for k. F_FOUND: *cell is its ready cell. With claim, an empty slot
 * on the way is claimed: F_NEW, *cell holds k (not yet ready) and the
 * caller initialises the rest and calls tbl_publish(*slot). Otherwise
 * F_NOTFOUND (without claim), F_FULL (no cell left) or F_LIMIT (probe
 * limit). A slot of k's tag that stays CLAIMING for STALL_US is marked
 * DEAD (and counted in claim_stalls), then skipped.
 */
static int tbl_find(tbl_t *t, const probe_t *k, int claim,
                    apr_uint32_t *cell, apr_uint32_t *slot)
{
    apr_uint32_t tag = (apr_uint32_t)(k->hash >> 32);
    apr_uint32_t pos = (apr_uint32_t)k->hash & t->mask, probes, spin;
    apr_uint32_t limit = t->mask < PROF_AGG_PROBE_MAX ? t->mask + 1
                                                      : PROF_AGG_PROBE_MAX;
    apr_uint64_t w;

    for (probes = 0; probes < limit; ) {
        w = A_ACQ(&t->slots[pos]);
        if (w == 0) {
            apr_uint64_t expect = 0;
            apr_uint32_t c;

            if (!claim) {
                return F_NOTFOUND;
            }
            /* Cheap check first, so that a full table does not fill its
             * index with dead slots; fetch_add below settles races. */
            if (A_LOAD(t->used) >= t->cap) {
                return F_FULL;
            }
            if (!A_CAS(&t->slots[pos], &expect,
                       SLOT_WORD(tag, ST_CLAIMING, 0))) {
                continue;       /* someone took it: look at what is there */
            }
            c = A_FADD(t->used, 1);
            if (c >= t->cap) {
                A_REL(&t->slots[pos], SLOT_WORD(tag, ST_DEAD, 0));
                return F_FULL;
            }
            key_store(&tbl_head(t, c)->key, k);
            *cell = c;
            *slot = pos;
            return F_NEW;
        }
        if (SLOT_TAG(w) == tag && SLOT_STATE(w) == ST_CLAIMING) {
            prof_mono_us_t since = 0;

            for (spin = 0; SLOT_STATE(w) == ST_CLAIMING; ++spin) {
                if (spin < SPIN_RELAX) {
                    cpu_relax();
                }
                else if (since == 0) {
                    since = prof_clock_now_us();
                }
                else if (prof_clock_now_us() - since > STALL_US) {
                    if (A_CAS(&t->slots[pos], &w,
                              SLOT_WORD(tag, ST_DEAD, 0))) {
                        A_ADD(t->stalls, 1);
                        w = SLOT_WORD(tag, ST_DEAD, 0);
                    }
                    continue;   /* w is what the slot holds now */
                }
                else {
                    apr_thread_yield();
                }
                w = A_ACQ(&t->slots[pos]);
            }
        }
        if (SLOT_TAG(w) == tag) {
            if (SLOT_STATE(w) == ST_READY && SLOT_CELL(w) < t->cap
                && key_eq(&tbl_head(t, SLOT_CELL(w))->key, k)) {
                *cell = SLOT_CELL(w);
                return F_FOUND;
            }
        }
        pos = (pos + 1) & t->mask;
        ++probes;
    }
    return F_LIMIT;
}

/* Makes a claimed cell k's: 1. Or 0 when a waiter gave up on this claim
 * meanwhile and marked the slot DEAD (the claimer slept for STALL_US
 * between its two steps): the cell is withdrawn, unreachable and never
 * counted in, and the caller folds its request. */
static int tbl_publish(tbl_t *t, apr_uint32_t slot, apr_uint32_t cell,
                       const probe_t *k)
{
    apr_uint32_t tag = (apr_uint32_t)(k->hash >> 32);
    apr_uint64_t expect = SLOT_WORD(tag, ST_CLAIMING, 0);
    head_t *h = tbl_head(t, cell);

    A_REL(&h->ready, 1u);
    if (A_CAS(&t->slots[slot], &expect, SLOT_WORD(tag, ST_READY, cell))) {
        return 1;
    }
    A_REL(&h->ready, 0u);
    return 0;
}

/* ---- layout ---------------------------------------------------------- */

static apr_uint32_t slots_for(apr_uint32_t cap)
{
    apr_uint32_t n = 8;

    while (n < 2 * cap) {
        n <<= 1;
    }
    return n;
}

typedef struct {
    apr_uint64_t req_slots, req_cells, span_slots, span_cells, route_slots,
                 route_cells, size;
} offsets_t;

static int layout_ok(const prof_agg_layout_t *l)
{
    return l && l->keys && l->spans && l->routes
        && l->keys <= PROF_AGG_CAPACITY_MAX && l->spans <= PROF_AGG_CAPACITY_MAX
        && l->routes <= PROF_AGG_CAPACITY_MAX;
}

static void offsets(const prof_agg_layout_t *l, offsets_t *o)
{
    apr_uint64_t x = ALIGN64(sizeof(hdr_t));

    o->req_slots = x;
    x = ALIGN64(x + 8 * (apr_uint64_t)slots_for(l->keys));
    o->req_cells = x;
    x = ALIGN64(x + sizeof(cell_t) * ((apr_uint64_t)l->keys + PROF_AGG_CLASSES));
    o->span_slots = x;
    x = ALIGN64(x + 8 * (apr_uint64_t)slots_for(l->spans));
    o->span_cells = x;
    x = ALIGN64(x + sizeof(cell_t) * ((apr_uint64_t)l->spans + 1));
    o->route_slots = x;
    x = ALIGN64(x + 8 * (apr_uint64_t)slots_for(l->routes));
    o->route_cells = x;
    x = ALIGN64(x + sizeof(head_t) * (apr_uint64_t)l->routes);
    o->size = x;
}

apr_size_t prof_agg_size(const prof_agg_layout_t *layout)
{
    offsets_t o;

    if (!layout_ok(layout)) {
        return 0;
    }
    offsets(layout, &o);
    return o.size > (apr_uint64_t)APR_SIZE_MAX ? 0 : (apr_size_t)o.size;
}

static void fixed_make(fixed_t *f, const prof_agg_layout_t *l,
                       apr_uint64_t size, apr_uint64_t generation)
{
    memset(f, 0, sizeof(*f));
    f->magic = MAGIC;
    f->version = PROF_AGG_LAYOUT_VERSION;
    f->keys = l->keys;
    f->spans = l->spans;
    f->routes = l->routes;
    f->req_slots = slots_for(l->keys);
    f->span_slots = slots_for(l->spans);
    f->route_slots = slots_for(l->routes);
    f->key_size = (apr_uint32_t)sizeof(prof_agg_key_t);
    f->cell_size = (apr_uint32_t)sizeof(cell_t);
    f->rent_size = (apr_uint32_t)sizeof(head_t);
    f->hist_buckets = PROF_HIST_BUCKETS;
    f->phases = PROF_PHASE_COUNT;
    f->vhost_max = PROF_AGG_VHOST_MAX;
    f->route_max = PROF_AGG_ROUTE_MAX;
    f->method_max = PROF_AGG_METHOD_MAX;
    f->size = size;
    f->generation = generation;
}

static apr_uint64_t checksum(const fixed_t *f)
{
    return fnv(APR_UINT64_C(0xcbf29ce484222325), (const char *)f, sizeof(*f));
}

static void tbl_bind(tbl_t *t, char *base, apr_uint64_t slots_off,
                     apr_uint32_t nslots, apr_uint64_t cells_off,
                     apr_size_t stride, apr_uint32_t cap, apr_uint32_t *used)
{
    t->stalls = &((hdr_t *)base)->claim_stalls;
    t->slots = (apr_uint64_t *)(base + slots_off);
    t->mask = nslots - 1;
    t->cells = base + cells_off;
    t->stride = stride;
    t->cap = cap;
    t->used = used;
}

static prof_agg_t *agg_bind(apr_pool_t *p, void *mem, const prof_agg_layout_t *l)
{
    prof_agg_t *agg = apr_pcalloc(p, sizeof(*agg));
    char *base = mem;
    offsets_t o;

    offsets(l, &o);
    agg->hdr = mem;
    tbl_bind(&agg->req, base, o.req_slots, slots_for(l->keys), o.req_cells,
             sizeof(cell_t), l->keys, &agg->hdr->req_used);
    tbl_bind(&agg->span, base, o.span_slots, slots_for(l->spans),
             o.span_cells, sizeof(cell_t), l->spans, &agg->hdr->span_used);
    tbl_bind(&agg->route, base, o.route_slots, slots_for(l->routes),
             o.route_cells, sizeof(head_t), l->routes, &agg->hdr->route_used);
    agg->classes = (cell_t *)tbl_head(&agg->req, l->keys);
    agg->span_other = (cell_t *)tbl_head(&agg->span, l->spans);
    agg->max_routes = PROF_AGG_MAX_ROUTES_DEFAULT;
    return agg;
}

static void class_key(probe_t *k, int cls)
{
    key_make(k, PROF_AGG_OTHER, PROF_AGG_OTHER, PROF_AGG_OTHER, cls * 100,
             PROF_AGG_KEY_CLASS);
}

static void cell_fresh(cell_t *c)
{
    c->min_us = APR_INT64_MAX;
    c->max_us = -1;
}

apr_status_t prof_agg_init(prof_agg_t **agg, apr_pool_t *p, void *mem,
                           apr_size_t size, const prof_agg_layout_t *layout,
                           apr_uint64_t generation)
{
    apr_size_t need = prof_agg_size(layout);
    hdr_t *h = mem;
    prof_agg_t *a;
    probe_t k;
    int i;

    *agg = NULL;
    if (need == 0 || mem == NULL || size < need
        || ((apr_uintptr_t)mem & 7) != 0) {
        return APR_EINVAL;
    }
    memset(mem, 0, need);
    fixed_make(&h->f, layout, need, generation);
    h->checksum = checksum(&h->f);
    a = agg_bind(p, mem, layout);
    for (i = 0; i < PROF_AGG_CLASSES; ++i) {
        class_key(&k, i);
        key_store(&a->classes[i].h.key, &k);
        cell_fresh(&a->classes[i]);
        a->classes[i].h.ready = 1;
    }
    key_make(&k, "", PROF_AGG_OTHER, "", 0, PROF_AGG_KEY_CLASS);
    key_store(&a->span_other->h.key, &k);
    cell_fresh(a->span_other);
    a->span_other->h.ready = 1;
    /* Everything above before any other process sees the block. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    *agg = a;
    return APR_SUCCESS;
}

static int header_valid(const void *mem, apr_size_t size)
{
    const hdr_t *h = mem;

    return mem != NULL && ((apr_uintptr_t)mem & 7) == 0
        && size >= sizeof(hdr_t) && h->f.magic == MAGIC
        && h->checksum == checksum(&h->f);
}

apr_status_t prof_agg_layout_of(const void *mem, apr_size_t size,
                                prof_agg_layout_t *layout)
{
    const hdr_t *h = mem;

    if (!header_valid(mem, size)) {
        return APR_EINVAL;
    }
    layout->keys = h->f.keys;
    layout->spans = h->f.spans;
    layout->routes = h->f.routes;
    return APR_SUCCESS;
}

/* Every slot word and every used cell of t is what prof_agg could have
 * written. */
static int tbl_valid(const tbl_t *t)
{
    apr_uint32_t used = A_ACQ(t->used), i;

    if (used > t->cap) {
        used = t->cap;          /* claims that lost the race: harmless */
    }
    for (i = 0; i <= t->mask; ++i) {
        apr_uint64_t w = A_LOAD(&t->slots[i]);
        const head_t *c;

        if (w == 0 || SLOT_STATE(w) == ST_DEAD
            || SLOT_STATE(w) == ST_CLAIMING) {
            /* A claimer killed half-way leaves CLAIMING behind: its key
             * folds (prof_agg.h), the block is still sound. */
            if (SLOT_STATE(w) != 0 && SLOT_CELL(w) != 0) {
                return 0;
            }
            if (w != 0 && SLOT_STATE(w) == 0) {
                return 0;
            }
            continue;
        }
        if (SLOT_CELL(w) >= used) {
            /* Claimed since used was read: other processes may be
             * counting while this one attaches (old children finishing
             * their requests during a graceful restart). */
            used = A_ACQ(t->used);
            used = used > t->cap ? t->cap : used;
        }
        c = tbl_head(t, SLOT_CELL(w));
        if (SLOT_CELL(w) >= used || A_ACQ(&c->ready) != 1
            || (apr_uint32_t)(c->key.hash >> 32) != SLOT_TAG(w)) {
            return 0;
        }
    }
    for (i = 0; i < used; ++i) {
        const head_t *c = tbl_head(t, i);
        apr_uint32_t r = A_LOAD(&c->ready);

        if (r > 1 || (r == 1 && !key_valid(&c->key))) {
            return 0;
        }
    }
    return 1;
}

apr_status_t prof_agg_attach(prof_agg_t **agg, apr_pool_t *p, void *mem,
                             apr_size_t size, const prof_agg_layout_t *layout)
{
    const hdr_t *h = mem;
    fixed_t want;
    prof_agg_t *a;
    probe_t k;
    apr_size_t need = prof_agg_size(layout);
    int i;

    *agg = NULL;
    if (need == 0 || !header_valid(mem, size)) {
        return APR_EINVAL;
    }
    fixed_make(&want, layout, need, h->f.generation);
    if (memcmp(&want, &h->f, sizeof(want)) != 0) {
        return APR_EMISMATCH;
    }
    if (size < need) {
        return APR_EINVAL;
    }
    a = agg_bind(p, mem, layout);
    if (!tbl_valid(&a->req) || !tbl_valid(&a->span) || !tbl_valid(&a->route)) {
        return APR_EINVAL;
    }
    for (i = 0; i < PROF_AGG_CLASSES; ++i) {
        class_key(&k, i);
        if (A_LOAD(&a->classes[i].h.ready) != 1
            || !key_eq(&a->classes[i].h.key, &k)) {
            return APR_EINVAL;
        }
    }
    key_make(&k, "", PROF_AGG_OTHER, "", 0, PROF_AGG_KEY_CLASS);
    if (A_LOAD(&a->span_other->h.ready) != 1
        || !key_eq(&a->span_other->h.key, &k)) {
        return APR_EINVAL;
    }
    *agg = a;
    return APR_SUCCESS;
}

void prof_agg_set_max_routes(prof_agg_t *agg, apr_uint32_t max_routes)
{
    if (agg) {
        agg->max_routes = max_routes;
    }
}

/* ---- routes ---------------------------------------------------------- */

/* The route-table entry of k's vhost (claimed if new), or NULL when the
 * table has no room for it. Its aux counts the routes admitted. */
static head_t *vhost_entry(prof_agg_t *agg, const probe_t *k)
{
    probe_t v = *k;
    apr_uint32_t cell, slot;

    v.route = v.method = "";
    v.route_len = v.method_len = 0;
    v.route_h = v.method_h = str_hash("", 0);
    v.method_w = 0;
    v.status = 0;
    v.flags = PROF_AGG_KEY_VHOST;
    v.hash = probe_hash(&v);
    switch (tbl_find(&agg->route, &v, 1, &cell, &slot)) {
    case F_NEW:
        if (!tbl_publish(&agg->route, slot, cell, &v)) {
            return NULL;
        }
        /* fall through */
    case F_FOUND:
        return tbl_head(&agg->route, cell);
    default:
        return NULL;
    }
}

/* Takes one route from a vhost's budget: 1 if there was room. */
static int budget_take(prof_agg_t *agg, head_t *v)
{
    apr_uint32_t cur = A_LOAD(&v->aux);

    while (cur < agg->max_routes) {
        if (A_CAS(&v->aux, &cur, cur + 1)) {
            return 1;
        }
    }
    return 0;
}

/*
 * Is k's (vhost, route) admitted? Decided once, by its first caller in any
 * process, and kept in the route's entry. A vhost whose budget is spent
 * refuses without making an entry: refused routes (a scanner's thousands)
 * take no room in the route table, which then holds only the admitted
 * routes and the vhosts (and the rare route refused in a race for the
 * last place).
 */
static int route_admitted(prof_agg_t *agg, const probe_t *k)
{
    probe_t r = *k;
    apr_uint32_t cell, slot;
    head_t *e, *v;

    r.method = "";
    r.method_len = 0;
    r.method_h = str_hash("", 0);
    r.method_w = 0;
    r.status = 0;
    r.flags = 0;
    r.hash = probe_hash(&r);
    if (tbl_find(&agg->route, &r, 0, &cell, &slot) == F_FOUND) {
        return (int)A_LOAD(&tbl_head(&agg->route, cell)->aux);
    }
    v = vhost_entry(agg, k);
    if (v == NULL) {
        return 0;
    }
    if (A_ACQ(&v->aux) >= agg->max_routes) {
        /* Spent, but perhaps by this very route: its first caller claims
         * the slot before it takes the budget, and publishes after. Seen
         * spent (acquire), the claim is seen too: one more look, which
         * waits for a claim in progress, counts this request where that
         * caller's went (a route admitted has all its requests). */
        if (tbl_find(&agg->route, &r, 0, &cell, &slot) == F_FOUND) {
            return (int)A_LOAD(&tbl_head(&agg->route, cell)->aux);
        }
        return 0;
    }
    switch (tbl_find(&agg->route, &r, 1, &cell, &slot)) {
    case F_FOUND:
        return (int)A_LOAD(&tbl_head(&agg->route, cell)->aux);
    case F_NEW:
        e = tbl_head(&agg->route, cell);
        e->aux = (apr_uint32_t)budget_take(agg, v);
        if (!tbl_publish(&agg->route, slot, cell, &r)) {
            if (e->aux) {
                A_ADD(&v->aux, (apr_uint32_t)-1);   /* not used after all */
            }
            return 0;
        }
        return (int)e->aux;
    default:
        return 0;
    }
}

const char *prof_agg_route_admit(prof_agg_t *agg, const char *vhost,
                                 const char *route)
{
    probe_t k;

    if (route == NULL) {
        route = "";
    }
    if (agg == NULL) {
        return route;
    }
    key_make(&k, vhost, route, "", 0, 0);
    if (is_special(k.route, k.route_len)) {
        return route;
    }
    return route_admitted(agg, &k) ? route : PROF_AGG_OTHER;
}

const char *prof_agg_route_label(const char *route, int status,
                                 int route_named)
{
    return status == 404 && !route_named ? PROF_AGG_NOT_FOUND : route;
}

apr_uint32_t prof_agg_routes_of(prof_agg_t *agg, const char *vhost)
{
    probe_t v;
    apr_uint32_t cell, slot;

    if (agg == NULL) {
        return 0;
    }
    key_make(&v, vhost, "", "", 0, PROF_AGG_KEY_VHOST);
    if (tbl_find(&agg->route, &v, 0, &cell, &slot) != F_FOUND) {
        return 0;
    }
    return A_LOAD(&tbl_head(&agg->route, cell)->aux);
}

/* ---- counting -------------------------------------------------------- */

static ALWAYS_INLINE void add_extremes(cell_t *c, apr_int64_t us)
{
    apr_int64_t cur = A_LOAD(&c->min_us);

    while (us < cur && !A_CAS(&c->min_us, &cur, us)) {
    }
    cur = A_LOAD(&c->max_us);
    while (us > cur && !A_CAS(&c->max_us, &cur, us)) {
    }
}

/* Everything of a request but its phases: total_us not negative. */
static ALWAYS_INLINE void cell_add_total(cell_t *c, apr_int64_t total,
                                         apr_interval_time_t ttfb_us,
                                         apr_uint64_t bytes)
{
    add_extremes(c, total);
    if (total) {
        A_ADD(&c->sum_us, (apr_uint64_t)total);
    }
    if (ttfb_us >= 0) {
        A_ADD(&c->ttfb_us, (apr_uint64_t)ttfb_us);
        A_ADD(&c->ttfb_count, 1);
    }
    if (bytes) {
        A_ADD(&c->bytes, bytes);
    }
    A_ADD(&c->n[prof_hist_bucket_inline(total)], 1);
}

static ALWAYS_INLINE void cell_add(cell_t *c,
                                  const apr_interval_time_t *phase_us,
                     apr_interval_time_t ttfb_us, apr_uint64_t bytes)
{
    apr_interval_time_t total = 0;
    int i;

    if (phase_us) {
        total = phase_us[PROF_PHASE_TOTAL] > 0 ? phase_us[PROF_PHASE_TOTAL] : 0;
        /* Unrolled: a loop's counter and test cost as much as the
         * phases' own tests. Only the phases that took time: an atomic
         * add of 0 is still a locked instruction. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#pragma GCC unroll 16
#endif
        for (i = 0; i < PROF_PHASE_TOTAL; ++i) {
            if (phase_us[i] > 0) {
                A_ADD(&c->phase_us[i], (apr_uint64_t)phase_us[i]);
            }
        }
    }
    cell_add_total(c, total, ttfb_us, bytes);
}

/* k's cell, claiming it if need be; NULL when there is none. */
static cell_t *req_cell(prof_agg_t *agg, const probe_t *k)
{
    apr_uint32_t cell, slot;

    switch (tbl_find(&agg->req, k, 1, &cell, &slot)) {
    case F_NEW:
        cell_fresh((cell_t *)tbl_head(&agg->req, cell));
        if (!tbl_publish(&agg->req, slot, cell, k)) {
            return NULL;
        }
        /* fall through */
    case F_FOUND:
        return (cell_t *)tbl_head(&agg->req, cell);
    default:
        return NULL;
    }
}

/* A request whose key is not in its own slot: found further on, claimed,
 * or folded (prof_agg.h). */
static prof_agg_result_t record_slow(prof_agg_t *agg, probe_t *k,
                                     const apr_interval_time_t *phase_us,
                                     apr_interval_time_t ttfb_us,
                                     apr_uint64_t bytes, cell_t **own)
{
    prof_agg_result_t res = PROF_AGG_COUNTED;
    apr_uint32_t cell, slot;
    cell_t *c;

    if (tbl_find(&agg->req, k, 0, &cell, &slot) == F_FOUND) {
        c = (cell_t *)tbl_head(&agg->req, cell);
        cell_add(c, phase_us, ttfb_us, bytes);
        if (own) {
            *own = c;
        }
        return res;
    }
    if (!is_special(k->route, k->route_len) && !route_admitted(agg, k)) {
        key_set_route(k, PROF_AGG_OTHER);
        A_ADD(&agg->hdr->route_folded, 1);
        res = PROF_AGG_ROUTE_FOLDED;
    }
    c = req_cell(agg, k);
    if (c == NULL) {
        A_ADD(&agg->hdr->key_overflow, 1);
        if (!(k->route_len == sizeof(PROF_AGG_OTHER) - 1
              && memcmp(k->route, PROF_AGG_OTHER, k->route_len) == 0)) {
            key_set_route(k, PROF_AGG_OTHER);
            c = req_cell(agg, k);
        }
        res = PROF_AGG_KEY_FOLDED;
        if (c == NULL) {
            int cls = k->status >= 100 && k->status < 600 ? k->status / 100
                                                           : 0;

            c = &agg->classes[cls];
            res = PROF_AGG_CLASS_FOLDED;
        }
    }
    cell_add(c, phase_us, ttfb_us, bytes);
    if (own && res == PROF_AGG_COUNTED) {
        *own = c;
    }
    return res;
}

/*
 * Counts a request of key k: the path of both entry points. The key's own
 * slot first, inline: ready and holding k (tables are at most half full,
 * so it mostly is), which is every request but a key's first; anything
 * else takes tbl_find()'s loop, then the claim and the folds.
 */
static ALWAYS_INLINE prof_agg_result_t record_probe(
    prof_agg_t *agg, probe_t *k, const apr_interval_time_t *phase_us,
    apr_interval_time_t ttfb_us, apr_uint64_t bytes, cell_t **own)
{
    apr_uint64_t w = A_ACQ(&agg->req.slots[(apr_uint32_t)k->hash
                                           & agg->req.mask]);
    cell_t *c;

    if (SLOT_TAG(w) == (apr_uint32_t)(k->hash >> 32)
        && SLOT_STATE(w) == ST_READY && SLOT_CELL(w) < agg->req.cap) {
        c = (cell_t *)tbl_head(&agg->req, SLOT_CELL(w));
        if (key_eq(&c->h.key, k)) {
            cell_add(c, phase_us, ttfb_us, bytes);
            if (own) {
                *own = c;
            }
            return PROF_AGG_COUNTED;
        }
    }
    return record_slow(agg, k, phase_us, ttfb_us, bytes, own);
}

prof_agg_result_t prof_agg_record(prof_agg_t *agg, const char *vhost,
                                  const char *route, const char *method,
                                  int status,
                                  const apr_interval_time_t *phase_us,
                                  apr_interval_time_t ttfb_us,
                                  apr_uint64_t bytes)
{
    probe_t k;

    if (agg == NULL) {
        return PROF_AGG_COUNTED;
    }
    key_make(&k, vhost, route, method, status, 0);
    return record_probe(agg, &k, phase_us, ttfb_us, bytes, NULL);
}

void prof_agg_str_setn(prof_agg_str_t *k, const char *s, apr_size_t len,
                       apr_size_t max)
{
    if (s == NULL) {
        s = "";
        len = 0;
    }
    if (max > PROF_AGG_STR_MAX) {
        max = PROF_AGG_STR_MAX;
    }
    if (len > max) {
        len = prof_utf8_prefix_len(s, max);
    }
    k->s = s;
    k->len = (apr_uint16_t)len;
    k->hash = str_hash(s, len);
}

void prof_agg_str_set(prof_agg_str_t *k, const char *s, apr_size_t max)
{
    if (max > PROF_AGG_STR_MAX) {
        max = PROF_AGG_STR_MAX;
    }
    prof_agg_str_setn(k, s, cut_len(s, max), max);
}

/* prof_agg_record_k() of a key that is not in its own slot, or whose
 * strings need a cut: the whole probe, and the path prof_agg_record()
 * takes. Out of line, so that the known key's path keeps a small frame. */
static NOINLINE prof_agg_result_t record_k_slow(
    prof_agg_t *agg, const prof_agg_str_t *vhost, const prof_agg_str_t *route,
    const char *method, int status, const apr_interval_time_t *phase_us,
    apr_interval_time_t ttfb_us, apr_uint64_t bytes, cell_t **own)
{
    probe_t k;

    /* The lengths were cut by prof_agg_str_set*() to at most the
     * caller's max: cut again only what exceeds the key's. */
    k.vhost = vhost->s;
    k.vhost_len = vhost->len;
    k.vhost_h = vhost->hash;
    k.route = route->s;
    k.route_len = route->len;
    k.route_h = route->hash;
    if (k.vhost_len > PROF_AGG_VHOST_MAX) {
        k.vhost_len = (apr_uint16_t)prof_utf8_prefix_len(k.vhost,
                                                         PROF_AGG_VHOST_MAX);
        k.vhost_h = str_hash(k.vhost, k.vhost_len);
    }
    if (k.route_len > PROF_AGG_ROUTE_MAX) {     /* not made by us */
        k.route_len = (apr_uint16_t)prof_utf8_prefix_len(k.route,
                                                         PROF_AGG_ROUTE_MAX);
        k.route_h = str_hash(k.route, k.route_len);
    }
    method_set(&k, method);
    k.status = status_of(status);
    k.flags = 0;
    k.hash = probe_hash(&k);
    return record_probe(agg, &k, phase_us, ttfb_us, bytes, own);
}

/* key_eq()'s word of (status, flags 0, vhost_len, route_len), as
 * lens_word() reads it from memory. */
static ALWAYS_INLINE apr_uint64_t lens_of(apr_uint16_t status,
                                          apr_uint16_t vhost_len,
                                          apr_uint16_t route_len)
{
#if APR_IS_BIGENDIAN
    return (apr_uint64_t)status << 48 | (apr_uint64_t)vhost_len << 16
           | route_len;
#else
    return status | (apr_uint64_t)vhost_len << 32
           | (apr_uint64_t)route_len << 48;
#endif
}

static ALWAYS_INLINE prof_agg_result_t record_k(
    prof_agg_t *agg, const prof_agg_str_t *vhost, const prof_agg_str_t *route,
    const char *method, int status, const apr_interval_time_t *phase_us,
    apr_interval_time_t ttfb_us, apr_uint64_t bytes, cell_t **own)
{
    apr_uint64_t hash, mh, mw, w;
    apr_uint16_t ml, st;
    const prof_agg_key_t *a;
    cell_t *c;

    if (agg == NULL) {
        return PROF_AGG_COUNTED;
    }
    /* The known key's path, on locals: key_eq() spelt out. */
    if (vhost->len <= PROF_AGG_VHOST_MAX && route->len <= PROF_AGG_ROUTE_MAX
        && method && str_hash_short(method, &ml, &mh, &mw)) {
        st = status_of(status);
        hash = key_hash(vhost->hash, route->hash, mh, st, 0);
        w = A_ACQ(&agg->req.slots[(apr_uint32_t)hash & agg->req.mask]);
        if (SLOT_TAG(w) == (apr_uint32_t)(hash >> 32)
            && SLOT_STATE(w) == ST_READY && SLOT_CELL(w) < agg->req.cap) {
            c = (cell_t *)tbl_head(&agg->req, SLOT_CELL(w));
            a = &c->h.key;
            if (a->hash == hash
                && lens_word(&a->status) == lens_of(st, vhost->len,
                                                    route->len)
                && a->method_len == ml && load8(a->method) == mw
                && bytes_eq(a->vhost, vhost->s, vhost->len)
                && bytes_eq(a->route, route->s, route->len)) {
                cell_add(c, phase_us, ttfb_us, bytes);
                if (own) {
                    *own = c;
                }
                return PROF_AGG_COUNTED;
            }
        }
    }
    return record_k_slow(agg, vhost, route, method, status, phase_us,
                         ttfb_us, bytes, own);
}

prof_agg_result_t prof_agg_record_k(prof_agg_t *agg,
                                    const prof_agg_str_t *vhost,
                                    const prof_agg_str_t *route,
                                    const char *method, int status,
                                    const apr_interval_time_t *phase_us,
                                    apr_interval_time_t ttfb_us,
                                    apr_uint64_t bytes)
{
    return record_k(agg, vhost, route, method, status, phase_us, ttfb_us,
                    bytes, NULL);
}

prof_agg_result_t prof_agg_record_kc(prof_agg_t *agg,
                                     const prof_agg_str_t *vhost,
                                     const prof_agg_str_t *route,
                                     const char *method, int status,
                                     const apr_interval_time_t *phase_us,
                                     apr_interval_time_t ttfb_us,
                                     apr_uint64_t bytes,
                                     prof_agg_rcell_t **cell)
{
    cell_t *own = NULL;
    prof_agg_result_t res = record_k(agg, vhost, route, method, status,
                                     phase_us, ttfb_us, bytes, &own);

    *cell = (prof_agg_rcell_t *)own;
    return res;
}

/* cell_add() of a record's ticks: each phase's ticks turned into
 * microseconds as prof_phase_fold() turns them (the scale in registers:
 * the counters' atomic adds would make the compiler load it again for
 * every phase), and added where not 0. */
void prof_agg_count_ticks(prof_agg_rcell_t *cell, const prof_phase_rec_t *ph,
                          apr_interval_time_t total_us,
                          apr_interval_time_t ttfb_us, apr_uint64_t bytes)
{
    cell_t *c = (cell_t *)cell;
    apr_int64_t us;
    int i;

    if (ph->read_us > 0) {
        A_ADD(&c->phase_us[PROF_PHASE_READ], (apr_uint64_t)ph->read_us);
    }
#if defined(__x86_64__) && defined(__GNUC__) && defined(__SIZEOF_INT128__)
    if (prof_clock_ticks_conf.tsc) {
        const apr_uint64_t mult = prof_clock_ticks_conf.mult;

#if !defined(__clang__) && __GNUC__ >= 8
#pragma GCC unroll 16
#endif
        for (i = PROF_PHASE_READ + 1; i < PROF_PHASE_TOTAL; ++i) {
            /* Phases that never ran (most of those without hooks) have
             * no ticks: no multiply. One that ran less than a
             * microsecond adds 0. */
            if (ph->acc[i]) {
                us = (apr_int64_t)(((unsigned __int128)ph->acc[i] * mult)
                                   >> 52);
                A_ADD(&c->phase_us[i], (apr_uint64_t)us);
            }
        }
    }
    else
#endif
    {
        for (i = PROF_PHASE_READ + 1; i < PROF_PHASE_TOTAL; ++i) {
            us = prof_clock_ticks_us(ph->acc[i]);
            if (us > 0) {
                A_ADD(&c->phase_us[i], (apr_uint64_t)us);
            }
        }
    }
    cell_add_total(c, total_us > 0 ? total_us : 0, ttfb_us, bytes);
}

/* What span_table_add() adds to a span cell. */
static ALWAYS_INLINE void span_cell_add(cell_t *c, apr_interval_time_t dur_us)
{
    if (dur_us < 0) {
        dur_us = 0;
    }
    add_extremes(c, dur_us);
    if (dur_us) {
        A_ADD(&c->sum_us, (apr_uint64_t)dur_us);
    }
    A_ADD(&c->n[prof_hist_bucket_inline(dur_us)], 1);
}

prof_agg_rcell_t *prof_agg_module_cell(prof_agg_t *agg, const char *phase,
                                       const char *module)
{
    apr_uint32_t cell, slot;
    probe_t k;

    if (agg == NULL) {
        return NULL;
    }
    key_make(&k, phase, module, "", 0, PROF_AGG_KEY_MODULE);
    switch (tbl_find(&agg->span, &k, 1, &cell, &slot)) {
    case F_NEW:
        cell_fresh((cell_t *)tbl_head(&agg->span, cell));
        if (!tbl_publish(&agg->span, slot, cell, &k)) {
            return NULL;
        }
        /* fall through */
    case F_FOUND:
        return (prof_agg_rcell_t *)tbl_head(&agg->span, cell);
    default:
        return NULL;
    }
}

void prof_agg_module_add(prof_agg_rcell_t *cell, apr_interval_time_t dur_us)
{
    span_cell_add((cell_t *)cell, dur_us);
}

/* A cell of the span table for k, counting dur_us. */
static int span_table_add(prof_agg_t *agg, const probe_t *k,
                          apr_interval_time_t dur_us)
{
    apr_uint32_t cell, slot;
    cell_t *c;
    int own = 1;

    if (dur_us < 0) {
        dur_us = 0;
    }
    switch (tbl_find(&agg->span, k, 1, &cell, &slot)) {
    case F_NEW:
        cell_fresh((cell_t *)tbl_head(&agg->span, cell));
        if (tbl_publish(&agg->span, slot, cell, k)) {
            c = (cell_t *)tbl_head(&agg->span, cell);
            break;
        }
        /* withdrawn: the overflow cell */
        A_ADD(&agg->hdr->span_overflow, 1);
        c = agg->span_other;
        own = 0;
        break;
    case F_FOUND:
        c = (cell_t *)tbl_head(&agg->span, cell);
        break;
    default:
        A_ADD(&agg->hdr->span_overflow, 1);
        c = agg->span_other;
        own = 0;
    }
    add_extremes(c, dur_us);
    if (dur_us) {
        A_ADD(&c->sum_us, (apr_uint64_t)dur_us);
    }
    A_ADD(&c->n[prof_hist_bucket_inline(dur_us)], 1);
    return own;
}

int prof_agg_span(prof_agg_t *agg, const char *name,
                  apr_interval_time_t dur_us)
{
    probe_t k;

    if (agg == NULL) {
        return 0;
    }
    key_make(&k, "", name, "", 0, 0);
    return span_table_add(agg, &k, dur_us);
}

int prof_agg_module(prof_agg_t *agg, const char *phase, const char *module,
                    apr_interval_time_t dur_us)
{
    probe_t k;

    if (agg == NULL) {
        return 0;
    }
    key_make(&k, phase, module, "", 0, PROF_AGG_KEY_MODULE);
    return span_table_add(agg, &k, dur_us);
}

void prof_agg_counters(prof_agg_t *agg, prof_agg_counters_t *out)
{
    memset(out, 0, sizeof(*out));
    if (agg) {
        out->key_overflow = A_LOAD(&agg->hdr->key_overflow);
        out->span_overflow = A_LOAD(&agg->hdr->span_overflow);
        out->route_folded = A_LOAD(&agg->hdr->route_folded);
        out->claim_stalls = A_LOAD(&agg->hdr->claim_stalls);
    }
}

/* ---- reading --------------------------------------------------------- */

/* min and max as the buckets allow: the true minimum is in the first
 * non-empty bucket, the maximum in the last; a recorded extreme outside
 * them (not yet written by a request in flight, or of an earlier interval
 * for a delta) gives way to the bucket's edge. */
static void fix_extremes(prof_hist_t *h)
{
    apr_uint32_t b0 = 0, b1 = 0, b;
    apr_interval_time_t lo, hi;

    if (h->count == 0) {
        h->min = h->max = 0;
        return;
    }
    for (b = 0; b < PROF_HIST_BUCKETS; ++b) {
        if (h->n[b]) {
            b1 = b;
        }
    }
    for (b0 = 0; h->n[b0] == 0; ++b0) {
    }
    prof_hist_bounds(b0, &lo, &hi);
    if (h->min < lo || (b0 != PROF_HIST_BUCKETS - 1 && h->min >= hi)) {
        h->min = lo;
    }
    prof_hist_bounds(b1, &lo, &hi);
    if (h->max < lo || (b1 != PROF_HIST_BUCKETS - 1 && h->max >= hi)) {
        h->max = b1 == PROF_HIST_BUCKETS - 1 ? lo : hi - 1;
    }
    if (h->max < h->min) {
        h->max = h->min;
    }
}

/* Copies c into out; 0 when it has counted nothing. */
static int cell_copy(const cell_t *c, apr_uint32_t id, prof_agg_cell_t *out)
{
    apr_uint64_t count = 0;
    int i;

    for (i = 0; i < PROF_HIST_BUCKETS; ++i) {
        out->hist.n[i] = A_LOAD(&c->n[i]);
        count += out->hist.n[i];
    }
    if (count == 0) {
        return 0;
    }
    out->id = id;
    out->key = c->h.key;
    out->hist.count = count;
    out->hist.sum = A_LOAD(&c->sum_us);
    out->hist.min = A_LOAD(&c->min_us);
    out->hist.max = A_LOAD(&c->max_us);
    fix_extremes(&out->hist);
    for (i = 0; i < PROF_PHASE_TOTAL; ++i) {
        out->phase_us[i] = A_LOAD(&c->phase_us[i]);
    }
    out->ttfb_us = A_LOAD(&c->ttfb_us);
    out->ttfb_count = A_LOAD(&c->ttfb_count);
    out->bytes = A_LOAD(&c->bytes);
    return 1;
}

/* The ready cells of t and the extra cells after them (nextra), counted. */
static prof_agg_cell_t *tbl_copy(const tbl_t *t, apr_uint32_t nextra,
                                 apr_pool_t *p, apr_size_t *n)
{
    apr_uint32_t used = A_LOAD(t->used), i;
    prof_agg_cell_t *out;
    apr_size_t k = 0;

    if (used > t->cap) {
        used = t->cap;
    }
    out = apr_palloc(p, sizeof(*out) * ((apr_size_t)used + nextra));
    for (i = 0; i < used; ++i) {
        const head_t *h = tbl_head(t, i);

        if (A_ACQ(&h->ready) == 1 && cell_copy((const cell_t *)h, i, &out[k])) {
            ++k;
        }
    }
    for (i = 0; i < nextra; ++i) {
        if (cell_copy((const cell_t *)tbl_head(t, t->cap + i), t->cap + i,
                      &out[k])) {
            ++k;
        }
    }
    *n = k;
    return out;
}

prof_agg_snap_t *prof_agg_snapshot(prof_agg_t *agg, apr_pool_t *p)
{
    prof_agg_snap_t *s = apr_pcalloc(p, sizeof(*s));

    if (agg == NULL) {
        return s;
    }
    s->generation = agg->hdr->f.generation;
    prof_agg_counters(agg, &s->counters);
    s->req = tbl_copy(&agg->req, PROF_AGG_CLASSES, p, &s->nreq);
    s->span = tbl_copy(&agg->span, 1, p, &s->nspan);
    return s;
}

static APR_INLINE apr_uint64_t sub0(apr_uint64_t a, apr_uint64_t b)
{
    return a > b ? a - b : 0;
}

/* d = now - prev (prev may be NULL); 0 when nothing is new. */
static int cell_sub(const prof_agg_cell_t *now, const prof_agg_cell_t *prev,
                    prof_agg_cell_t *d)
{
    apr_uint64_t count = 0, any;
    int i;

    *d = *now;
    if (prev == NULL) {
        return 1;
    }
    for (i = 0; i < PROF_HIST_BUCKETS; ++i) {
        d->hist.n[i] = sub0(now->hist.n[i], prev->hist.n[i]);
        count += d->hist.n[i];
    }
    d->hist.count = count;
    d->hist.sum = sub0(now->hist.sum, prev->hist.sum);
    any = count | d->hist.sum;
    for (i = 0; i < PROF_PHASE_TOTAL; ++i) {
        d->phase_us[i] = sub0(now->phase_us[i], prev->phase_us[i]);
        any |= d->phase_us[i];
    }
    d->ttfb_us = sub0(now->ttfb_us, prev->ttfb_us);
    d->ttfb_count = sub0(now->ttfb_count, prev->ttfb_count);
    d->bytes = sub0(now->bytes, prev->bytes);
    any |= d->ttfb_us | d->ttfb_count | d->bytes;
    fix_extremes(&d->hist);
    return any != 0;
}

static prof_agg_cell_t *cells_sub(apr_pool_t *p, const prof_agg_cell_t *now,
                                  apr_size_t nnow, const prof_agg_cell_t *prev,
                                  apr_size_t nprev, apr_size_t *n)
{
    prof_agg_cell_t *out = apr_palloc(p, sizeof(*out) * (nnow ? nnow : 1));
    apr_size_t i, j = 0, k = 0;

    /* Both in increasing id. */
    for (i = 0; i < nnow; ++i) {
        while (j < nprev && prev[j].id < now[i].id) {
            ++j;
        }
        if (cell_sub(&now[i], j < nprev && prev[j].id == now[i].id
                              ? &prev[j] : NULL, &out[k])) {
            ++k;
        }
    }
    *n = k;
    return out;
}

prof_agg_snap_t *prof_agg_delta(apr_pool_t *p, const prof_agg_snap_t *prev,
                                const prof_agg_snap_t *now)
{
    prof_agg_snap_t *d = apr_pcalloc(p, sizeof(*d));
    static const prof_agg_snap_t empty;

    if (prev == NULL || prev->generation != now->generation) {
        prev = &empty;
    }
    d->generation = now->generation;
    d->counters.key_overflow = sub0(now->counters.key_overflow,
                                    prev->counters.key_overflow);
    d->counters.span_overflow = sub0(now->counters.span_overflow,
                                     prev->counters.span_overflow);
    d->counters.route_folded = sub0(now->counters.route_folded,
                                    prev->counters.route_folded);
    d->counters.claim_stalls = sub0(now->counters.claim_stalls,
                                    prev->counters.claim_stalls);
    d->req = cells_sub(p, now->req, now->nreq, prev->req, prev->nreq,
                       &d->nreq);
    d->span = cells_sub(p, now->span, now->nspan, prev->span, prev->nspan,
                        &d->nspan);
    return d;
}

/* ---- groups ---------------------------------------------------------- */

static int cmp_route(const void *a, const void *b)
{
    const prof_agg_cell_t *x = *(const prof_agg_cell_t *const *)a;
    const prof_agg_cell_t *y = *(const prof_agg_cell_t *const *)b;
    int c = strcmp(x->key.vhost, y->key.vhost);

    return c ? c : strcmp(x->key.route, y->key.route);
}

static int cmp_busiest(const void *a, const void *b)
{
    const prof_agg_group_t *x = a, *y = b;
    int c;

    if (x->hist.count != y->hist.count) {
        return x->hist.count > y->hist.count ? -1 : 1;
    }
    c = strcmp(x->vhost, y->vhost);
    return c ? c : strcmp(x->route, y->route);
}

prof_agg_group_t *prof_agg_groups(apr_pool_t *p, const prof_agg_snap_t *s,
                                  apr_size_t max, apr_size_t *n)
{
    const prof_agg_cell_t **v;
    prof_agg_group_t *g;
    apr_size_t i, j, k = 0;
    int ph;

    v = apr_palloc(p, sizeof(*v) * (s->nreq ? s->nreq : 1));
    for (i = 0; i < s->nreq; ++i) {
        v[i] = &s->req[i];
    }
    qsort(v, s->nreq, sizeof(*v), cmp_route);
    g = apr_palloc(p, sizeof(*g) * (s->nreq ? s->nreq : 1));
    for (i = 0; i < s->nreq; i = j) {
        prof_agg_group_t *x = &g[k++];

        memset(x, 0, sizeof(*x));
        x->vhost = v[i]->key.vhost;
        x->route = v[i]->key.route;
        for (j = i; j < s->nreq && cmp_route(&v[i], &v[j]) == 0; ++j) {
            const prof_agg_cell_t *c = v[j];

            prof_hist_merge(&x->hist, &c->hist);
            if (c->key.status >= 400 && c->key.status < 500) {
                x->client_errors += c->hist.count;
            }
            else if (c->key.status >= 500 && c->key.status < 600) {
                x->errors += c->hist.count;
            }
            for (ph = 0; ph < PROF_PHASE_TOTAL; ++ph) {
                x->phase_us[ph] += c->phase_us[ph];
            }
            x->ttfb_us += c->ttfb_us;
            x->ttfb_count += c->ttfb_count;
            x->bytes += c->bytes;
        }
    }
    qsort(g, k, sizeof(*g), cmp_busiest);
    *n = max && max < k ? max : k;
    return g;
}
