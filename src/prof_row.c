/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>
#include <string.h>

#include "prof_row.h"
#include "prof_route.h"

/* Strings go after the struct and the span array, each with its NUL. */
typedef struct {
    char *next;
} packer_t;

static const char *pack(packer_t *pk, const char *s, apr_size_t len)
{
    char *out = pk->next;

    if (len) {
        memcpy(out, s, len);
    }
    out[len] = '\0';
    pk->next += len + 1;
    return out;
}

prof_row_t *prof_row_create(const prof_row_in_t *in)
{
    /* The lengths each string will have, in the order they are packed. */
    enum { VHOST, METHOD, PROTOCOL, ROUTE, PATH, QUERY, PROFILE, NSTR };
    static const apr_size_t max[NSTR] = {
        PROF_ROW_VHOST_MAX, PROF_ROW_METHOD_MAX, PROF_ROW_PROTOCOL_MAX,
        PROF_ROW_ROUTE_MAX, PROF_ROW_PATH_MAX, PROF_ROW_QUERY_MAX,
        PROF_ROW_PROFILE_MAX
    };
    const char *str[NSTR];
    apr_size_t len[NSTR], i, size, *name_len = NULL, *desc_len = NULL;
    apr_size_t nspans, nmod;
    prof_row_t *row;
    packer_t pk;
    int k;

    if (in == NULL) {
        return NULL;
    }
    str[VHOST] = in->vhost ? in->vhost : "";
    str[METHOD] = in->method ? in->method : "";
    str[PROTOCOL] = in->protocol ? in->protocol : "";
    str[ROUTE] = in->route ? in->route : "";
    str[PATH] = in->path ? in->path : "";
    str[QUERY] = in->query;
    /* A profile is whole or not at all: a cut one would not parse. */
    str[PROFILE] = in->profile && strlen(in->profile) <= PROF_ROW_PROFILE_MAX
                   ? in->profile : NULL;
    nspans = in->spans ? in->nspans : 0;
    nmod = in->modules ? in->nmodules : 0;
    if (nmod > PROF_ROW_MODULES_MAX) {
        nmod = PROF_ROW_MODULES_MAX;
    }

    size = sizeof(*row) + nspans * sizeof(prof_row_span_t)
           + nmod * sizeof(prof_row_module_t);
    for (i = 0; i < nmod; ++i) {
        size += prof_utf8_prefix_len(in->modules[i].name,
                                     PROF_ROW_MODULE_NAME_MAX) + 1;
    }
    for (k = 0; k < NSTR; ++k) {
        len[k] = k == PROFILE ? (str[k] ? strlen(str[k]) : 0)
                              : prof_utf8_prefix_len(str[k], max[k]);
        size += str[k] ? len[k] + 1 : 0;
    }
    if (nspans) {
        /* Two passes over the spans: sizes first, so that one malloc does. */
        name_len = malloc(2 * nspans * sizeof(*name_len));
        if (name_len == NULL) {
            return NULL;
        }
        desc_len = name_len + nspans;
        for (i = 0; i < nspans; ++i) {
            name_len[i] = prof_utf8_prefix_len(in->spans[i].name,
                                               PROF_SPAN_NAME_MAX);
            size += name_len[i] + 1;
            if (in->spans[i].desc) {
                desc_len[i] = prof_utf8_prefix_len(in->spans[i].desc,
                                                   PROF_SPAN_DESC_MAX);
                size += desc_len[i] + 1;
            }
        }
    }

    row = malloc(size);
    if (row == NULL) {
        free(name_len);
        return NULL;
    }
    row->id = in->id > 0 ? in->id : 0;
    row->start_us = in->start_us;
    for (k = 0; k < PROF_PHASE_COUNT; ++k) {
        row->dur_us[k] = in->dur_us ? in->dur_us[k] : 0;
        row->first_us[k] = in->first_us && in->first_us[k] >= 0
                           ? in->first_us[k] : -1;
    }
    row->ttfb_us = in->ttfb_us;
    row->bytes_sent = in->bytes_sent;
    row->status = in->status;
    row->weight = in->weight;
    row->spans_dropped = in->spans_dropped;
    row->nspans = (apr_uint32_t)nspans;
    row->spans = (prof_row_span_t *)(row + 1);
    row->nmodules = (apr_uint32_t)nmod;
    row->modules = (prof_row_module_t *)(row->spans + nspans);
    pk.next = (char *)(row->modules + nmod);

    row->vhost = pack(&pk, str[VHOST], len[VHOST]);
    row->method = pack(&pk, str[METHOD], len[METHOD]);
    row->protocol = pack(&pk, str[PROTOCOL], len[PROTOCOL]);
    row->route = pack(&pk, str[ROUTE], len[ROUTE]);
    row->path = pack(&pk, str[PATH], len[PATH]);
    row->query = str[QUERY] ? pack(&pk, str[QUERY], len[QUERY]) : NULL;
    row->profile = str[PROFILE] ? pack(&pk, str[PROFILE], len[PROFILE])
                                : NULL;
    for (i = 0; i < nspans; ++i) {
        const prof_span_info_t *s = &in->spans[i];
        prof_row_span_t *d = &row->spans[i];

        d->name = pack(&pk, s->name ? s->name : "", name_len[i]);
        d->desc = s->desc ? pack(&pk, s->desc, desc_len[i]) : NULL;
        d->start_us = in->span_base_us + s->start_us;
        d->dur_us = s->dur_us < 0 ? 0 : s->dur_us;
        d->index = s->index;
        /* A parent always started earlier; anything else is dropped rather
         * than stored as a link to nothing. (A parent that had not ended
         * when the request did is not among the spans: the link stays, to
         * a span the store does not have.) */
        d->parent = (s->parent >= 0 && s->parent < s->index) ? s->parent : -1;
        d->metric = s->metric ? 1 : 0;
    }
    /* One entry per (phase, name): a module with two hooks in a phase
     * (access_checker and access_checker_ex), or two filters of one name,
     * add up, as the store's key has it. */
    row->nmodules = 0;
    for (i = 0; i < nmod; ++i) {
        const prof_row_module_t *m = &in->modules[i];
        const char *name = m->name ? m->name : "";
        apr_size_t nlen = prof_utf8_prefix_len(name, PROF_ROW_MODULE_NAME_MAX);
        apr_int32_t phase = m->phase >= 0 && m->phase < PROF_PHASE_TOTAL
                            ? m->phase : -1;
        apr_int64_t dur = m->dur_us < 0 ? 0 : m->dur_us;
        prof_row_module_t *d = NULL;
        apr_uint32_t j;

        for (j = 0; j < row->nmodules; ++j) {
            if (row->modules[j].phase == phase
                && strlen(row->modules[j].name) == nlen
                && memcmp(row->modules[j].name, name, nlen) == 0) {
                d = &row->modules[j];
                break;
            }
        }
        if (d) {
            d->calls += m->calls;
            d->dur_us += dur;
            continue;
        }
        d = &row->modules[row->nmodules++];
        d->name = pack(&pk, name, nlen);
        d->phase = phase;
        d->calls = m->calls;
        d->dur_us = dur;
    }
    free(name_len);
    return row;
}

const char *prof_row_phase_starts(const prof_row_t *row, char *buf,
                                  apr_size_t size)
{
    char *o = buf, *end = buf + size;
    int k, known = 0;

    if (row == NULL || buf == NULL) {
        return NULL;
    }
    for (k = 0; k < PROF_PHASE_TOTAL; ++k) {
        apr_int64_t v = row->first_us[k];
        char digits[24];
        int n = 0;

        if (k > 0) {
            if (o >= end) {
                return NULL;
            }
            *o++ = ',';
        }
        if (v < 0) {
            continue;
        }
        known = 1;
        /* By hand: snprintf() would follow no locale here, but costs the
         * writer more per row. */
        do {
            digits[n++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0);
        if (end - o < n) {
            return NULL;
        }
        while (n > 0) {
            *o++ = digits[--n];
        }
    }
    if (o >= end) {
        return NULL;
    }
    *o = '\0';
    return known ? buf : NULL;
}

void prof_row_free(prof_row_t *row)
{
    free(row);
}

int prof_row_status_class(int status)
{
    return status >= 100 && status <= 599 ? status / 100 : 0;
}

apr_int64_t prof_row_minute_us(apr_int64_t t_us)
{
    const apr_int64_t minute = APR_INT64_C(60000000);
    apr_int64_t m = t_us / minute;

    if (t_us < 0 && m * minute != t_us) {
        --m;
    }
    return m * minute;
}
