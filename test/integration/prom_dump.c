/* Licensed under the Apache License, Version 2.0. */

/*
 * Writes the exposition text of a block of aggregates fed with a fixed,
 * hostile set of requests and spans, for test_prom_format.py, which has a
 * real Prometheus server scrape it and compares what Prometheus stored with
 * the counts below. Built by `make -f Makefile.apxs build/prom_dump`.
 *
 *   build/prom_dump text|openmetrics
 *
 * The counts: request i of the table is recorded n times, with `total`
 * us microseconds; span j n times with d us. The block is small
 * (8 keys), so a tail of the table folds into (other) and status classes.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"

#include "prof_agg.h"
#include "prof_prom.h"

static const struct {
    const char *vhost, *route, *method;
    int status, n;
    apr_interval_time_t us;
} reqs[] = {
    { "www.example.com", "/", "GET", 200, 7, 1200 },
    { "evil\"host\\\n", "/a\"b", "GET", 200, 3, 4000 },
    { "\xff\xfe.example", "/\xc0\xaf\xed\xa0\x80", "POST", 201, 2, 90000 },
    { "caf\xc3\xa9.example", "/caf\xc3\xa9", "GET", 404, 5, 300 },
    { "www.example.com", PROF_AGG_NOT_FOUND, "GET", 404, 11, 150 },
    { "www.example.com", "/ctl\r\t\x01", "GET", 302, 1, 2000000 },
    { "www.example.com", "/{le=\"+Inf\"} 1\n# EOF", "GET", 500, 2, 7000 },
    { "www.example.com", "/x", "GET", 200, 4, 100 },
    /* the table is full from here */
    { "www.example.com", "/y", "GET", 200, 6, 100 },
    { "www.example.com", "/z", "GET", 503, 3, 100 },
};

static const struct {
    const char *name;
    int n;
    apr_interval_time_t us;
} spans[] = {
    { "db", 10, 2500 }, { "a\"b\\c\nd", 2, 40 }, { "\xff", 1, 5 },
    { "cache", 3, 700 }, { "e", 1, 1 }, { "f", 2, 2 },
};

int main(int argc, char **argv)
{
    prof_agg_layout_t l = { 8, 4, 32 };
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    apr_size_t size = prof_agg_size(&l), len, i;
    void *mem = malloc(size);
    const char *text;
    apr_pool_t *p;
    prof_agg_t *agg;
    prof_prom_t *w;
    int k;

    if (argc != 2 || (strcmp(argv[1], "text") && strcmp(argv[1], "openmetrics"))) {
        fprintf(stderr, "usage: prof_dump text|openmetrics\n");
        return 2;
    }
    apr_initialize();
    apr_pool_create(&p, NULL);
    if (mem == NULL
        || prof_agg_init(&agg, p, mem, size, &l, 1) != APR_SUCCESS) {
        return 1;
    }
    for (i = 0; i < sizeof(reqs) / sizeof(reqs[0]); ++i) {
        memset(ph, 0, sizeof(ph));
        ph[PROF_PHASE_HANDLER] = reqs[i].us / 2;
        ph[PROF_PHASE_TOTAL] = reqs[i].us;
        for (k = 0; k < reqs[i].n; ++k) {
            prof_agg_record(agg, reqs[i].vhost, reqs[i].route, reqs[i].method,
                            reqs[i].status, ph, reqs[i].us / 4, 100);
        }
    }
    for (i = 0; i < sizeof(spans) / sizeof(spans[0]); ++i) {
        for (k = 0; k < spans[i].n; ++k) {
            prof_agg_span(agg, spans[i].name, spans[i].us);
        }
    }
    w = prof_prom_create(p, strcmp(argv[1], "text") == 0
                            ? PROF_PROM_TEXT : PROF_PROM_OPENMETRICS);
    prof_prom_write_agg(w, prof_agg_snapshot(agg, p), NULL);
    text = prof_prom_finish(w, &len);
    fwrite(text, 1, len, stdout);
    apr_pool_destroy(p);
    apr_terminate();
    free(mem);
    return 0;
}
