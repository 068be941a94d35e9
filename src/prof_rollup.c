/* Licensed under the Apache License, Version 2.0. */

#include <stdlib.h>
#include <string.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "prof_rollup.h"

struct prof_rollup_t {
    apr_pool_t *pool;
    apr_hash_t *entries;        /* key bytes -> prof_rollup_entry_t * */
    apr_int64_t period_us;
};

prof_rollup_t *prof_rollup_create_period(apr_pool_t *p, apr_int64_t period_us)
{
    prof_rollup_t *agg = apr_palloc(p, sizeof(*agg));

    agg->pool = p;
    agg->entries = apr_hash_make(p);
    agg->period_us = period_us > 0 ? period_us : APR_INT64_C(60000000);
    return agg;
}

prof_rollup_t *prof_rollup_create(apr_pool_t *p)
{
    return prof_rollup_create_period(p, APR_INT64_C(60000000));
}

static apr_uint64_t sat_add(apr_uint64_t a, apr_uint64_t b)
{
    return a > APR_UINT64_MAX - b ? APR_UINT64_MAX : a + b;
}

static apr_uint64_t sat_mul(apr_int64_t v, apr_uint64_t w)
{
    apr_uint64_t u = v < 0 ? 0 : (apr_uint64_t)v;

    return (w && u > APR_UINT64_MAX / w) ? APR_UINT64_MAX : u * w;
}

/* The key: the minute as 8 raw bytes, then the strings with their NULs,
 * then the class. Strings cannot hold a NUL, so no two keys collide. */
static char *make_key(apr_pool_t *p, const prof_row_t *row,
                      apr_int64_t minute, int cls, apr_size_t *klen)
{
    apr_size_t lv = strlen(row->vhost), lr = strlen(row->route);
    apr_size_t lm = strlen(row->method);
    char *k, *o;

    *klen = sizeof(minute) + lv + lr + lm + 3 + 1;
    o = k = apr_palloc(p, *klen);
    memcpy(o, &minute, sizeof(minute));
    o += sizeof(minute);
    memcpy(o, row->vhost, lv + 1);
    o += lv + 1;
    memcpy(o, row->route, lr + 1);
    o += lr + 1;
    memcpy(o, row->method, lm + 1);
    o += lm + 1;
    *o = (char)('0' + cls);
    return k;
}

void prof_rollup_add(prof_rollup_t *agg, const prof_row_t *row)
{
    apr_int64_t minute = row->start_us
                         - ((row->start_us % agg->period_us) + agg->period_us)
                           % agg->period_us;
    int cls = prof_row_status_class(row->status), i;
    apr_uint64_t w = row->weight;
    prof_rollup_entry_t *e;
    apr_size_t klen;
    char *key;

    /* The key is built in the pool even when found: a batch is bounded and
     * the pool is cleared after it, so this is a few bytes per row. */
    key = make_key(agg->pool, row, minute, cls, &klen);
    e = apr_hash_get(agg->entries, key, (apr_ssize_t)klen);
    if (e == NULL) {
        e = apr_pcalloc(agg->pool, sizeof(*e));
        e->minute_us = minute;
        /* The key holds copies of the strings already. */
        e->vhost = key + sizeof(minute);
        e->route = e->vhost + strlen(e->vhost) + 1;
        e->method = e->route + strlen(e->route) + 1;
        e->status_class = cls;
        prof_hist_init(&e->hist);
        apr_hash_set(agg->entries, key, (apr_ssize_t)klen, e);
    }
    e->samples = sat_add(e->samples, 1);
    e->bytes_sum = sat_add(e->bytes_sum, sat_mul(row->bytes_sent, w));
    e->ttfb_sum_us = sat_add(e->ttfb_sum_us, sat_mul(row->ttfb_us, w));
    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        e->phase_sum_us[i] = sat_add(e->phase_sum_us[i],
                                     sat_mul(row->dur_us[i], w));
    }
    prof_hist_add(&e->hist, row->dur_us[PROF_PHASE_TOTAL], w);
}

static int cmp_entry(const void *a, const void *b)
{
    const prof_rollup_entry_t *x = *(prof_rollup_entry_t *const *)a;
    const prof_rollup_entry_t *y = *(prof_rollup_entry_t *const *)b;
    int c;

    if (x->minute_us != y->minute_us) {
        return x->minute_us < y->minute_us ? -1 : 1;
    }
    if ((c = strcmp(x->vhost, y->vhost)) != 0
        || (c = strcmp(x->route, y->route)) != 0
        || (c = strcmp(x->method, y->method)) != 0) {
        return c;
    }
    return x->status_class - y->status_class;
}

apr_array_header_t *prof_rollup_sorted(prof_rollup_t *agg)
{
    apr_array_header_t *arr =
        apr_array_make(agg->pool, (int)apr_hash_count(agg->entries) + 1,
                       sizeof(prof_rollup_entry_t *));
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(agg->pool, agg->entries); hi;
         hi = apr_hash_next(hi)) {
        *(prof_rollup_entry_t **)apr_array_push(arr) = apr_hash_this_val(hi);
    }
    if (arr->nelts > 1) {
        qsort(arr->elts, (size_t)arr->nelts, sizeof(prof_rollup_entry_t *),
              cmp_entry);
    }
    return arr;
}

apr_size_t prof_rollup_count(const prof_rollup_t *agg)
{
    return apr_hash_count(agg->entries);
}

void prof_rollup_entry_merge(prof_rollup_entry_t *dst,
                             const prof_rollup_entry_t *src)
{
    int i;

    dst->samples = sat_add(dst->samples, src->samples);
    dst->bytes_sum = sat_add(dst->bytes_sum, src->bytes_sum);
    dst->ttfb_sum_us = sat_add(dst->ttfb_sum_us, src->ttfb_sum_us);
    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        dst->phase_sum_us[i] = sat_add(dst->phase_sum_us[i],
                                       src->phase_sum_us[i]);
    }
    prof_hist_merge(&dst->hist, &src->hist);
}
