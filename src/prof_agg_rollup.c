/* Licensed under the Apache License, Version 2.0. */

/*
 * Rollup entries from a delta of the live aggregates; the contract is in
 * prof_agg_rollup.h.
 */

#include <stdlib.h>
#include <string.h>

#include "prof_agg_rollup.h"
#include "prof_row.h"

static int class_of(const prof_agg_key_t *k)
{
    return prof_row_status_class(k->status);
}

/* The order of prof_rollup_sorted() within one period. */
static int cmp_key(const void *a, const void *b)
{
    const prof_agg_cell_t *x = *(const prof_agg_cell_t *const *)a;
    const prof_agg_cell_t *y = *(const prof_agg_cell_t *const *)b;
    int c;

    if ((c = strcmp(x->key.vhost, y->key.vhost)) != 0
        || (c = strcmp(x->key.route, y->key.route)) != 0
        || (c = strcmp(x->key.method, y->key.method)) != 0) {
        return c;
    }
    return class_of(&x->key) - class_of(&y->key);
}

apr_array_header_t *prof_agg_rollup_entries(apr_pool_t *p,
                                            const prof_agg_snap_t *delta,
                                            apr_int64_t period_us)
{
    apr_size_t n = delta->nreq, i, j;
    const prof_agg_cell_t **v = apr_palloc(p, sizeof(*v) * (n ? n : 1));
    apr_array_header_t *out = apr_array_make(p, (int)n + 1,
                                             sizeof(prof_rollup_entry_t *));
    int ph;

    for (i = 0; i < n; ++i) {
        v[i] = &delta->req[i];
    }
    qsort(v, n, sizeof(*v), cmp_key);
    for (i = 0; i < n; i = j) {
        prof_rollup_entry_t *e = apr_pcalloc(p, sizeof(*e));

        e->minute_us = period_us;
        e->vhost = v[i]->key.vhost;
        e->route = v[i]->key.route;
        e->method = v[i]->key.method;
        e->status_class = class_of(&v[i]->key);
        prof_hist_init(&e->hist);
        for (j = i; j < n && cmp_key(&v[i], &v[j]) == 0; ++j) {
            const prof_agg_cell_t *c = v[j];

            prof_hist_merge(&e->hist, &c->hist);
            for (ph = 0; ph < PROF_PHASE_TOTAL; ++ph) {
                e->phase_sum_us[ph] += c->phase_us[ph];
            }
            e->ttfb_sum_us += c->ttfb_us;
            e->bytes_sum += c->bytes;
        }
        e->phase_sum_us[PROF_PHASE_TOTAL] = e->hist.sum;
        *(prof_rollup_entry_t **)apr_array_push(out) = e;
    }
    return out;
}
