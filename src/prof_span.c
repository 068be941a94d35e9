/* Licensed under the Apache License, Version 2.0. */

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "apr_atomic.h"

#include "prof_span.h"
#include "prof_st.h"

enum { SPAN_OPEN = 0, SPAN_ENDING = 1, SPAN_ENDED = 2 };

struct prof_span_t {
    prof_span_set_t *set;
    prof_mono_us_t start_us;
    prof_mono_us_t end_us;          /* valid once state is SPAN_ENDED */
    volatile apr_uint32_t state;
    volatile void *desc;            /* char *, or NULL; replaced atomically */
    int parent;
    int index;
    int metric;
    char name[1];                   /* name, then the first desc */
};

/* A description that replaced an earlier one: kept until the set is freed,
 * because a reader may still hold the earlier one. */
typedef struct desc_block_t {
    struct desc_block_t *next;
    char text[1];
} desc_block_t;

/* Slots come in chunks, made when a span first needs one: a set sized by
 * a ProfilerMaxSpans of 4096 costs, for a request with a few spans, the
 * chunk array and one chunk (about 1 KB), not 4096 slots (32 KB). */
#define SLOT_CHUNK 64

struct prof_span_set_t {
    apr_uint32_t id;
    apr_uint32_t max;
    volatile apr_uint32_t claimed;
    volatile apr_uint32_t dropped;
    prof_mono_us_t base_us;
    volatile void *retired;         /* desc_block_t list */
    apr_uint32_t nchunks;
    /* nchunks pointers to arrays of SLOT_CHUNK slots (prof_span_t *),
     * NULL until made; the first chunk follows them in the same block. */
    volatile void *chunks[1];
};

/* Set ids tell a thread's remembered open span apart from one of an earlier
 * request whose set has been freed. Shared by all threads, changed only by
 * an atomic increment. */
static volatile apr_uint32_t next_set_id;

#if defined(__GNUC__)
/* The open span of this thread, as (set id, slot): never dereferenced
 * unless the id matches the set in hand. */
static __thread apr_uint32_t tls_set_id;
static __thread int tls_slot = PROF_SPAN_NO_PARENT;
#define HAVE_TLS 1
#endif

/* The description a span was started with lives in the span's own block;
 * any later one in a desc_block_t of its own. */
static int is_own_desc(const prof_span_t *sp, const void *desc)
{
    return (const char *)desc == sp->name + strlen(sp->name) + 1;
}

static desc_block_t *block_of(void *desc)
{
    return (desc_block_t *)((char *)desc - offsetof(desc_block_t, text));
}

static void free_desc_block(const prof_span_t *sp, void *desc)
{
    if (desc && !is_own_desc(sp, desc)) {
        free(block_of(desc));
    }
}

prof_span_set_t *prof_span_set_create(apr_uint32_t max, prof_mono_us_t base_us)
{
    prof_span_set_t *set;
    apr_size_t nchunks = max ? (max + SLOT_CHUNK - 1) / SLOT_CHUNK : 1;
    apr_size_t first = max < SLOT_CHUNK ? (max ? max : 1) : SLOT_CHUNK;

    set = calloc(1, sizeof(*set) + (nchunks - 1 + first)
                    * sizeof(set->chunks[0]));
    if (set) {
        set->id = apr_atomic_inc32(&next_set_id) + 1;
        set->max = max;
        set->base_us = base_us;
        set->nchunks = (apr_uint32_t)nchunks;
        set->chunks[0] = (void *)&set->chunks[nchunks];
    }
    return set;
}

/* An acquire load of a pointer that only ever goes from NULL to its final
 * value: on every span start, so not a locked CAS (which would also take
 * the cache line from the other threads of the request). */
#if defined(__GNUC__)
#define LOAD_PTR(p) ((void *)__atomic_load_n((p), __ATOMIC_ACQUIRE))
#else
#define LOAD_PTR(p) apr_atomic_casptr((p), NULL, NULL)
#endif

/* The chunk of slot i, made now if create and it is missing (the first
 * caller's wins; NULL only when out of memory), else NULL if missing. */
static volatile void **slot_chunk(prof_span_set_t *set, apr_uint32_t i,
                                  int create)
{
    volatile void **ch, **fresh;

    ch = LOAD_PTR(&set->chunks[i / SLOT_CHUNK]);
    if (ch == NULL && create) {
        fresh = calloc(SLOT_CHUNK, sizeof(*fresh));
        if (fresh == NULL) {
            return NULL;
        }
        ch = apr_atomic_casptr(&set->chunks[i / SLOT_CHUNK], fresh, NULL);
        if (ch) {
            free(fresh);        /* another thread's came first */
        }
        else {
            ch = fresh;
        }
    }
    return ch;
}

/* The span in slot i, if it was published. */
static prof_span_t *slot_get(prof_span_set_t *set, apr_uint32_t i)
{
    volatile void **ch = slot_chunk(set, i, 0);

    return ch ? apr_atomic_casptr(&ch[i % SLOT_CHUNK], NULL, NULL) : NULL;
}

void prof_span_set_free(prof_span_set_t *set)
{
    desc_block_t *d, *next;
    apr_uint32_t i, n;

    if (set == NULL) {
        return;
    }
    /* No other call runs now: plain reads. */
    n = set->claimed < set->max ? set->claimed : set->max;
    for (i = 0; i < n; ++i) {
        volatile void **ch = (volatile void **)set->chunks[i / SLOT_CHUNK];
        prof_span_t *sp = ch ? (prof_span_t *)ch[i % SLOT_CHUNK] : NULL;

        if (sp) {
            free_desc_block(sp, (void *)sp->desc);  /* a replaced one */
            free(sp);
        }
    }
    for (i = 1; i < set->nchunks; ++i) {
        free((void *)set->chunks[i]);   /* the first is part of the set */
    }
    for (d = (desc_block_t *)set->retired; d; d = next) {
        next = d->next;
        free(d);
    }
    free(set);
}

static apr_size_t bounded_len(const char *s, apr_size_t max)
{
    apr_size_t n = 0;

    while (n <= max && s[n]) {
        n++;
    }
    return n;       /* > max: too long */
}

static void drop(prof_span_set_t *set)
{
    apr_atomic_inc32(&set->dropped);
}

apr_uint32_t prof_span_dropped(const prof_span_set_t *set)
{
    return apr_atomic_read32((volatile apr_uint32_t *)&set->dropped);
}

/* Claim a slot, build the span, publish it. */
static prof_span_t *new_span(prof_span_set_t *set, const char *name,
                             const char *desc, prof_mono_us_t start_us,
                             int metric)
{
    apr_size_t nlen, dlen = 0, i;
    apr_uint32_t slot;
    volatile void **chunk;
    prof_span_t *sp;

    if (set == NULL) {
        return NULL;
    }
    if (name == NULL || (nlen = bounded_len(name, PROF_SPAN_NAME_MAX)) == 0
        || nlen > PROF_SPAN_NAME_MAX
        || (desc && (dlen = bounded_len(desc, PROF_SPAN_DESC_MAX))
                    > PROF_SPAN_DESC_MAX)) {
        drop(set);
        return NULL;
    }
    /* Once full, stay full: claimed never runs on to wrap around. */
    if (apr_atomic_read32(&set->claimed) >= set->max
        || (slot = apr_atomic_inc32(&set->claimed)) >= set->max) {
        drop(set);
        return NULL;
    }
    sp = malloc(sizeof(*sp) + nlen + 1 + (desc ? dlen + 1 : 0));
    if (sp == NULL || (chunk = slot_chunk(set, slot, 1)) == NULL) {
        free(sp);
        drop(set);      /* the slot stays empty; readers skip it */
        return NULL;
    }
    sp->set = set;
    sp->start_us = start_us;
    sp->end_us = start_us;
    sp->state = SPAN_OPEN;
    sp->index = (int)slot;
    sp->metric = metric;
    sp->parent = PROF_SPAN_NO_PARENT;
    for (i = 0; i < nlen; ++i) {
        unsigned char c = (unsigned char)name[i];
        sp->name[i] = prof_st_is_tchar(c) ? (char)c : '_';
    }
    sp->name[nlen] = '\0';
    if (desc) {
        char *d = sp->name + nlen + 1;
        memcpy(d, desc, dlen + 1);
        sp->desc = d;
    }
    else {
        sp->desc = NULL;
    }
#ifdef HAVE_TLS
    if (!metric) {
        if (tls_set_id == set->id && tls_slot != PROF_SPAN_NO_PARENT) {
            sp->parent = tls_slot;
        }
        tls_set_id = set->id;
        tls_slot = sp->index;
    }
    else if (tls_set_id == set->id) {
        sp->parent = tls_slot;
    }
#endif
    apr_atomic_casptr(&chunk[slot % SLOT_CHUNK], sp, NULL);   /* publish */
    return sp;
}

prof_span_t *prof_span_start(prof_span_set_t *set, const char *name,
                             const char *desc)
{
    return new_span(set, name, desc, prof_clock_now_us(), 0);
}

void prof_span_end(prof_span_t *span)
{
    prof_mono_us_t now;

    if (span == NULL
        || apr_atomic_cas32(&span->state, SPAN_ENDING, SPAN_OPEN) != SPAN_OPEN) {
        return;
    }
    now = prof_clock_now_us();
    span->end_us = now > span->start_us ? now : span->start_us;
    apr_atomic_set32(&span->state, SPAN_ENDED);
#ifdef HAVE_TLS
    if (tls_set_id == span->set->id && tls_slot == span->index) {
        tls_slot = span->parent;
    }
#endif
}

void prof_span_set_desc(prof_span_t *span, const char *desc)
{
    desc_block_t *blk = NULL;
    void *old;
    apr_size_t dlen;

    if (span == NULL) {
        return;
    }
    if (desc) {
        if ((dlen = bounded_len(desc, PROF_SPAN_DESC_MAX)) > PROF_SPAN_DESC_MAX
            || (blk = malloc(sizeof(*blk) + dlen)) == NULL) {
            return;
        }
        memcpy(blk->text, desc, dlen + 1);
    }
    old = apr_atomic_xchgptr(&span->desc, blk ? blk->text : NULL);
    if (old && !is_own_desc(span, old)) {
        /* It came from an earlier call: retire it, do not free it, for a
         * reader may hold it. */
        desc_block_t *ob = block_of(old);
        void *head;
        do {
            head = apr_atomic_casptr(&span->set->retired, NULL, NULL);
            ob->next = head;
        } while (apr_atomic_casptr(&span->set->retired, ob, head) != head);
    }
}

void prof_span_metric(prof_span_set_t *set, const char *name,
                      apr_interval_time_t dur_us, const char *desc)
{
    prof_mono_us_t now = prof_clock_now_us();
    prof_span_t *sp;

    if (dur_us < 0) {
        dur_us = 0;
    }
    sp = new_span(set, name, desc, now - dur_us, 1);
    if (sp) {
        sp->end_us = now;
        apr_atomic_set32(&sp->state, SPAN_ENDED);
    }
}

apr_size_t prof_span_claimed(const prof_span_set_t *set)
{
    apr_uint32_t claimed;

    if (set == NULL) {
        return 0;
    }
    /* claimed runs past max by the claims that failed once full */
    claimed = apr_atomic_read32((volatile apr_uint32_t *)&set->claimed);
    return claimed < set->max ? claimed : set->max;
}

apr_size_t prof_span_finished(prof_span_set_t *set, prof_span_info_t *out,
                              apr_size_t n)
{
    apr_uint32_t i, claimed;
    apr_size_t k = 0, j;

    if (set == NULL) {
        return 0;
    }
    claimed = apr_atomic_read32(&set->claimed);
    if (claimed > set->max) {
        claimed = set->max;
    }
    for (i = 0; i < claimed && k < n; ++i) {
        prof_span_t *sp = slot_get(set, i);
        prof_span_info_t info;

        if (sp == NULL || apr_atomic_read32(&sp->state) != SPAN_ENDED) {
            continue;
        }
        info.name = sp->name;
        info.desc = apr_atomic_casptr(&sp->desc, NULL, NULL);
        info.start_us = sp->start_us - set->base_us;
        info.dur_us = sp->end_us - sp->start_us;
        info.parent = sp->parent;
        info.index = sp->index;
        info.metric = sp->metric;
        /* insertion sort by (start, index): a few dozen at most */
        for (j = k; j > 0 && (out[j - 1].start_us > info.start_us
                              || (out[j - 1].start_us == info.start_us
                                  && out[j - 1].index > info.index)); --j) {
            out[j] = out[j - 1];
        }
        out[j] = info;
        k++;
    }
    return k;
}
