/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_strings.h"

#include "prof_otlp_rec.h"
#include "prof_route.h"
#include "prof_row.h"
#include "prof_trace.h"

/* A string's length when absent. */
#define ABSENT 0xffffu

/* The record: this head, the span API's spans, then every string
 * NUL-terminated (the request's, then each span's name and description). */
typedef struct {
    apr_uint32_t size;
    apr_uint32_t napi;
    apr_uint16_t slen[PROF_OTLP_REC_NSTR];
    apr_int32_t status, port;
    unsigned char flags, has_parent, has_upstream;
    unsigned char trace_id[16], span_id[8], parent_id[8], upstream_id[8];
    apr_time_t request_time;
    /* Of the phase record, only what the spans are made of (its ticks):
     * less than half of it, fewer cache lines written by the request and
     * read cold by the exporter. */
    apr_interval_time_t read_us;
    prof_tick_t start_tick, last_tick;
    apr_uint32_t seen;
    prof_tick_t acc[PROF_PHASE_COUNT + 1];
    prof_tick_t first_tick[PROF_PHASE_COUNT];
} head_t;

typedef struct {
    apr_int64_t start_us, dur_us;
    apr_int32_t parent;
    apr_uint16_t name_len, desc_len;    /* desc_len ABSENT: none */
} api_t;

/* What is kept of each string: a few bytes over what reaches a span, so
 * that prof_otlp_utf8() cuts it where it would have cut the whole (a
 * character is at most four bytes). */
static const apr_size_t keep[PROF_OTLP_REC_NSTR] = {
    [PROF_OTLP_REC_METHOD] = PROF_OTLP_METHOD_MAX + 4,
    [PROF_OTLP_REC_PATH] = PROF_OTLP_PATH_MAX + 4,
    [PROF_OTLP_REC_SCHEME] = 64,
    [PROF_OTLP_REC_ROUTE] = PROF_OTLP_ROUTE_MAX + 4,
    [PROF_OTLP_REC_HOST] = PROF_OTLP_HOST_MAX + 4,
    [PROF_OTLP_REC_CLIENT] = 64,
    [PROF_OTLP_REC_PROTO] = 16,
    [PROF_OTLP_REC_UA] = PROF_OTLP_UA_MAX + 4,
    [PROF_OTLP_REC_STATE] = PROF_OTLP_STATE_MAX + 4,
};

static APR_INLINE apr_size_t cut(const char *s, apr_size_t max)
{
    return s ? strnlen(s, max) : 0;
}

static APR_INLINE char *put(char *at, const char *s, apr_size_t n)
{
    prof_otlp_copy(at, s, n);
    at[n] = '\0';
    return at + n + 1;
}

static APR_INLINE apr_size_t align8(apr_size_t n)
{
    return (n + 7) & ~(apr_size_t)7;
}

apr_size_t prof_otlp_rec_put(void *buf, apr_size_t cap,
                             const prof_otlp_rec_in_t *in)
{
    head_t *h = buf;
    api_t *a = (api_t *)(h + 1);
    char *at = (char *)(a + in->napi);
    apr_size_t size = sizeof(head_t) + in->napi * sizeof(api_t), i, n;
    /* Measured as they are copied: once the room runs out, only
     * measured. */
    int fits = buf != NULL && size <= cap;
    apr_uint16_t slen[PROF_OTLP_REC_NSTR];

    for (i = 0; i < PROF_OTLP_REC_NSTR; ++i) {
        if (!in->s[i]) {
            slen[i] = ABSENT;
            continue;
        }
        n = cut(in->s[i], keep[i]);
        slen[i] = (apr_uint16_t)n;
        size += n + 1;
        if (fits && size <= cap) {
            at = put(at, in->s[i], n);
        }
        else {
            fits = 0;
        }
    }
    for (i = 0; i < in->napi; ++i) {
        const prof_span_info_t *s = &in->api[i];

        n = cut(s->name, PROF_SPAN_NAME_MAX);
        size += n + 1;
        if (fits && size <= cap) {
            a[i].name_len = (apr_uint16_t)n;
            at = put(at, s->name ? s->name : "", n);
        }
        else {
            fits = 0;
        }
        if (s->desc) {
            n = cut(s->desc, PROF_SPAN_DESC_MAX);
            size += n + 1;
            if (fits && size <= cap) {
                a[i].desc_len = (apr_uint16_t)n;
                at = put(at, s->desc, n);
            }
            else {
                fits = 0;
            }
        }
        else if (fits) {
            a[i].desc_len = ABSENT;
        }
        if (fits) {
            a[i].start_us = s->start_us;
            a[i].dur_us = s->dur_us;
            a[i].parent = s->parent;
        }
    }
    size = align8(size);
    if (!fits || size > cap) {
        return size;
    }
    h->size = (apr_uint32_t)size;
    h->napi = (apr_uint32_t)in->napi;
    memcpy(h->slen, slen, sizeof(slen));
    h->status = in->status;
    h->port = in->port;
    h->flags = in->flags;
    h->has_parent = (unsigned char)in->has_parent;
    h->has_upstream = (unsigned char)in->has_upstream;
    memcpy(h->trace_id, in->trace_id, 16);
    memcpy(h->span_id, in->span_id, 8);
    memcpy(h->parent_id, in->parent_id, 8);
    memcpy(h->upstream_id, in->upstream_id, 8);
    h->request_time = in->request_time;
    h->read_us = in->ph->read_us;
    h->start_tick = in->ph->start_tick;
    h->last_tick = in->ph->last_tick;
    h->seen = in->ph->seen;
    memcpy(h->acc, in->ph->acc, sizeof(h->acc));
    memcpy(h->first_tick, in->ph->first_tick, sizeof(h->first_tick));
    return size;
}

/* ---- the exporter's side ------------------------------------------------ */

/* A string attribute of the server span: an empty string when absent. */
static APR_INLINE void http_set(prof_otlp_http_t *http, int a,
                                const char *v, apr_size_t len)
{
    http->s[a] = v ? v : "";
    http->len[a] = v ? len : 0;
}

/* The record's string i made valid UTF-8 and at most max bytes, its length
 * in *len; NULL stays NULL. */
static APR_INLINE const char *str(const head_t *h, const char *const *s,
                                  int i, apr_size_t max, apr_pool_t *p,
                                  apr_size_t *len)
{
    *len = 0;
    return s[i] ? prof_otlp_utf8n(s[i], h->slen[i], max, p, len) : NULL;
}

void prof_otlp_rec_trace(const void *rec, apr_pool_t *p,
                         prof_otlp_trace_t *out)
{
    const head_t *h = rec;
    const api_t *a = (const api_t *)(h + 1);
    const char *at = (const char *)(a + h->napi);
    const char *s[PROF_OTLP_REC_NSTR], *route, *method, *v;
    prof_phase_rec_t phr;
    const prof_phase_rec_t *ph = &phr;
    prof_otlp_span_t *sp;
    prof_otlp_http_t *http;
    unsigned char (*ids)[8], (*api_ids)[8];
    apr_uint64_t start_ns, us;
    apr_interval_time_t total;
    apr_size_t i, napi = h->napi, route_len, method_len, vlen;
    int n, phase, nkids = 0;
    prof_otlp_child_t *kids;

    for (i = 0; i < PROF_OTLP_REC_NSTR; ++i) {
        if (h->slen[i] == ABSENT) {
            s[i] = NULL;
        }
        else {
            s[i] = at;
            at += h->slen[i] + 1;
        }
    }
    /* The phase record again, as far as prof_phase.h's readers of ticks
     * (elapsed, seen, entered) look at it: the rest is not read. */
    phr.read_us = h->read_us;
    phr.start_tick = h->start_tick;
    phr.last_tick = h->last_tick;
    phr.seen = h->seen;
    memcpy(phr.acc, h->acc, sizeof(phr.acc));
    memcpy(phr.first_tick, h->first_tick, sizeof(phr.first_tick));
    /* Only the phases that ran are turned into microseconds (what
     * prof_phase_fold() and prof_phase_firsts() would give them). */
    total = prof_phase_elapsed(ph);
    start_ns = (apr_uint64_t)h->request_time * 1000u;
    sp = apr_pcalloc(p, (1 + napi) * sizeof(*sp));

    /* The server span. */
    if (s[PROF_OTLP_REC_ROUTE]) {
        route = str(h, s, PROF_OTLP_REC_ROUTE, PROF_OTLP_ROUTE_MAX, p,
                    &route_len);
    }
    else {
        route = prof_route_fold_len(p, s[PROF_OTLP_REC_PATH]
                                       ? s[PROF_OTLP_REC_PATH] : "",
                                    PROF_ROW_ROUTE_MAX, &route_len);
        route = prof_otlp_utf8n(route, route_len, PROF_OTLP_ROUTE_MAX, p,
                                &route_len);
    }
    method = str(h, s, PROF_OTLP_REC_METHOD, PROF_OTLP_METHOD_MAX, p,
                 &method_len);
    /* The name `{method} {route}` and the attributes, by value (absent,
     * an empty string; the user agent, left out). */
    http = apr_palloc(p, sizeof(*http));
    http_set(http, PROF_OTLP_HTTP_METHOD, method, method_len);
    v = str(h, s, PROF_OTLP_REC_PATH, PROF_OTLP_PATH_MAX, p, &vlen);
    http_set(http, PROF_OTLP_HTTP_PATH, v, vlen);
    http_set(http, PROF_OTLP_HTTP_SCHEME, s[PROF_OTLP_REC_SCHEME],
             h->slen[PROF_OTLP_REC_SCHEME]);
    http_set(http, PROF_OTLP_HTTP_ROUTE, route, route_len);
    http->status = h->status;
    v = str(h, s, PROF_OTLP_REC_HOST, PROF_OTLP_HOST_MAX, p, &vlen);
    http_set(http, PROF_OTLP_HTTP_HOST, v, vlen);
    http->port = h->port;
    http_set(http, PROF_OTLP_HTTP_CLIENT, s[PROF_OTLP_REC_CLIENT],
             h->slen[PROF_OTLP_REC_CLIENT]);
    http_set(http, PROF_OTLP_HTTP_PROTO, s[PROF_OTLP_REC_PROTO],
             h->slen[PROF_OTLP_REC_PROTO]);
    http->s[PROF_OTLP_HTTP_UA] = str(h, s, PROF_OTLP_REC_UA,
                                     PROF_OTLP_UA_MAX, p,
                                     &http->len[PROF_OTLP_HTTP_UA]);
    memcpy(sp[0].span_id, h->span_id, 8);
    if (h->has_parent) {
        memcpy(sp[0].parent_id, h->parent_id, 8);
        sp[0].trace_state = str(h, s, PROF_OTLP_REC_STATE,
                                PROF_OTLP_STATE_MAX, p, &vlen);
    }
    sp[0].http = http;
    sp[0].kind = PROF_OTLP_KIND_SERVER;
    sp[0].status = h->status >= 500 ? PROF_OTLP_STATUS_ERROR
                                    : PROF_OTLP_STATUS_UNSET;
    sp[0].flags = h->flags;
    sp[0].start_ns = start_ns;
    sp[0].end_ns = start_ns + (apr_uint64_t)(total > 0 ? total : 0) * 1000u;
    n = 1;

    /* A span for each phase that ran: from its first entry, as long as it
     * took (a phase entered again after an internal redirect is one span of
     * its whole time); children of the server span. */
    kids = apr_palloc(p, PROF_PHASE_TOTAL * sizeof(*kids));
    for (phase = PROF_PHASE_READ; phase < PROF_PHASE_TOTAL; ++phase) {
        apr_interval_time_t first, dur;

        if (!prof_phase_seen(ph, phase)) {
            continue;
        }
        if (phase == PROF_PHASE_READ) {
            first = 0;
            dur = ph->read_us;
        }
        else {
            first = prof_phase_entered_us(ph, phase);
            dur = prof_clock_ticks_us(ph->acc[phase]);
        }
        kids[nkids].name = prof_phase_names_[phase];
        kids[nkids].name_len = prof_phase_name_lens_[phase];
        kids[nkids].start_ns = start_ns
                               + (apr_uint64_t)first * 1000u;
        us = dur > 0 ? (apr_uint64_t)dur : 0;
        kids[nkids].end_ns = kids[nkids].start_ns + us * 1000u;
        nkids++;
    }
    /* Every span id this request needs, at once. */
    ids = apr_palloc(p, (nkids + napi + 1) * sizeof(*ids));
    prof_trace_span_ids(ids, nkids + napi);
    for (i = 0; i < (apr_size_t)nkids; ++i) {
        memcpy(kids[i].span_id, ids[i], 8);
    }

    /* The span API's spans, nested as they were; the wait for a proxied
     * backend is the client span whose id the backend got as parent. */
    if (napi) {
        const char **names = apr_palloc(p, napi * sizeof(*names));
        const char **descs = apr_palloc(p, napi * sizeof(*descs));

        api_ids = ids + nkids;
        for (i = 0; i < napi; ++i) {
            names[i] = at;
            at += a[i].name_len + 1;
            descs[i] = NULL;
            if (a[i].desc_len != ABSENT) {
                descs[i] = at;
                at += a[i].desc_len + 1;
            }
            if (h->has_upstream && !strcmp(names[i], PROF_OTLP_UPSTREAM_SPAN)) {
                memcpy(api_ids[i], h->upstream_id, 8);
            }
        }
        for (i = 0; i < napi; ++i) {
            int up = a[i].parent;

            memcpy(sp[n].span_id, api_ids[i], 8);
            memcpy(sp[n].parent_id,
                   up >= 0 && (apr_size_t)up < napi ? api_ids[up]
                                                    : h->span_id, 8);
            sp[n].name = prof_otlp_utf8n(names[i], a[i].name_len,
                                         PROF_SPAN_NAME_MAX, p,
                                         &sp[n].name_len);
            sp[n].kind = h->has_upstream
                         && memcmp(api_ids[i], h->upstream_id, 8) == 0
                         ? PROF_OTLP_KIND_CLIENT : PROF_OTLP_KIND_INTERNAL;
            sp[n].flags = h->flags;
            sp[n].start_ns = start_ns
                             + (apr_uint64_t)(ph->read_us + a[i].start_us)
                               * 1000u;
            sp[n].end_ns = sp[n].start_ns + (apr_uint64_t)a[i].dur_us * 1000u;
            if (descs[i]) {
                prof_otlp_attr_t *d = apr_palloc(p, sizeof(*d));

                d->key = "mod_profiler.desc";
                d->klen = sizeof("mod_profiler.desc") - 1;
                d->s = prof_otlp_utf8n(descs[i], a[i].desc_len,
                                       PROF_SPAN_DESC_MAX, p, &d->slen);
                d->i = 0;
                sp[n].attrs = d;
                sp[n].nattrs = 1;
            }
            n++;
        }
    }
    memcpy(out->trace_id, h->trace_id, 16);
    out->spans = sp;
    out->nspans = n;
    out->children = kids;
    out->nchildren = nkids;
}
