/* Licensed under the Apache License, Version 2.0. */

/*
 * libFuzzer target for the Server-Timing parser (src/prof_st_parse.c).
 *
 *   make -f Makefile.apxs fuzz [FUZZ_RUNS=n]
 *
 * The input goes to the parser as it is: libFuzzer's copy has exactly size
 * bytes and no NUL after it, so ASan sees any read past the end. What comes
 * out must be well-formed; it is then written back with the writer
 * (prof_st_add(), as a consumer re-emitting upstream metrics would) and
 * parsed again, and the second parse must give the same metrics: names,
 * which parameters were present, descriptions as the writer maps them
 * (control bytes become spaces) and durations to the microsecond. Any
 * violation abort()s, which libFuzzer reports as a crash with its input.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_tables.h"

#include "prof_st.h"
#include "prof_st_parse.h"

/* Room for anything a window of input parses into, written back: names and
 * descs at most doubled by escaping, plus 128 entries' worth of
 * ";dur=...;desc=\"\"" and separators. The writer must never drop. */
#define OUT_SIZE (4 * PROF_ST_PARSE_MAX_INPUT + 64 * PROF_ST_PARSE_MAX_ENTRIES)

static apr_pool_t *pool;
static char out[OUT_SIZE];
static int written[PROF_ST_PARSE_MAX_ENTRIES];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *why, int i)
{
    fprintf(stderr, "fuzz_st_parse: %s (entry %d)\n", why, i);
    abort();
}

/* RFC 9110 tchar, written out here rather than taken from the core. */
static int tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
        || (c >= 'a' && c <= 'z')) {
        return 1;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static void check_entries(const apr_array_header_t *a)
{
    int i;

    if (a->nelts > PROF_ST_PARSE_MAX_ENTRIES) {
        fail("more entries than the cap", a->nelts);
    }
    for (i = 0; i < a->nelts; ++i) {
        const prof_st_entry_t *e = &APR_ARRAY_IDX(a, i, prof_st_entry_t);
        const char *s;

        if (e->name == NULL || e->name[0] == '\0') {
            fail("empty name", i);
        }
        for (s = e->name; *s; ++s) {
            if (!tchar((unsigned char)*s)) {
                fail("name is no token", i);
            }
        }
        if ((e->has_dur != 0 && e->has_dur != 1)
            || (e->has_desc != 0 && e->has_desc != 1)) {
            fail("flag neither 0 nor 1", i);
        }
        if (!(e->dur_ms == e->dur_ms) || e->dur_ms - e->dur_ms != 0.0) {
            fail("dur not finite", i);
        }
        if (!e->has_dur && e->dur_ms != 0.0) {
            fail("dur without a dur parameter", i);
        }
        if (e->desc == NULL || (!e->has_desc && e->desc[0] != '\0')) {
            fail("desc without a desc parameter", i);
        }
        if (prof_st_entry_dur_us(e) < 0
            || prof_st_entry_dur_us(e) > PROF_ST_PARSE_MAX_DUR_US) {
            fail("dur_us out of range", i);
        }
    }
}

/* got is want with every control byte but HTAB a space, as prof_st_add()
 * maps: HTAB is qdtext and kept. */
static int desc_maps(const char *got, const char *want)
{
    for (; *want; ++want, ++got) {
        unsigned char c = (unsigned char)*want;

        if (*got != (((c < 0x20 && c != '\t') || c == 0x7f) ? ' ' : *want)) {
            return 0;
        }
    }
    return *got == '\0';
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS
        || apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        fail("no APR", -1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_array_header_t *a, *b;
    prof_st_buf_t w;
    apr_status_t rv;
    int i, n = 0;

    a = apr_array_make(pool, 8, sizeof(prof_st_entry_t));
    rv = prof_st_parse(pool, (const char *)data, size, a);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        fail("neither APR_SUCCESS nor APR_INCOMPLETE", -1);
    }
    if (size > PROF_ST_PARSE_MAX_INPUT && rv != APR_INCOMPLETE) {
        fail("input over the bound, yet complete", -1);
    }
    if (size <= PROF_ST_PARSE_MAX_INPUT && rv == APR_INCOMPLETE
        && a->nelts != PROF_ST_PARSE_MAX_ENTRIES) {
        fail("incomplete below both bounds", a->nelts);
    }
    check_entries(a);

    prof_st_init(&w, out, sizeof(out));
    for (i = 0; i < a->nelts; ++i) {
        const prof_st_entry_t *e = &APR_ARRAY_IDX(a, i, prof_st_entry_t);

        if (prof_st_add(&w, e->name, e->has_dur ? prof_st_entry_dur_us(e)
                        : PROF_ST_NO_DUR, e->has_desc ? e->desc : NULL)) {
            written[n++] = i;
        }
    }
    if (w.dropped != 0) {
        fail("the writer dropped an entry from a buffer sized for all", -1);
    }

    b = apr_array_make(pool, 8, sizeof(prof_st_entry_t));
    rv = prof_st_parse(pool, out, w.len, b);
    check_entries(b);
    if (w.len <= PROF_ST_PARSE_MAX_INPUT) {
        if (rv != APR_SUCCESS || b->nelts != n) {
            fail("round trip: another number of entries", b->nelts);
        }
    }
    else if (rv != APR_INCOMPLETE || b->nelts > n) {
        /* Escaping can take the value past the bound: a prefix then. */
        fail("round trip: long value not cut as a prefix", b->nelts);
    }
    for (i = 0; i < b->nelts; ++i) {
        const prof_st_entry_t *x = &APR_ARRAY_IDX(a, written[i],
                                                  prof_st_entry_t);
        const prof_st_entry_t *y = &APR_ARRAY_IDX(b, i, prof_st_entry_t);

        if (strcmp(x->name, y->name) != 0) {
            fail("round trip: name", i);
        }
        if (x->has_dur != y->has_dur || x->has_desc != y->has_desc) {
            fail("round trip: parameters", i);
        }
        if (!desc_maps(y->desc, x->desc)) {
            fail("round trip: desc", i);
        }
        if (prof_st_entry_dur_us(x) != prof_st_entry_dur_us(y)) {
            fail("round trip: dur", i);
        }
    }
    apr_pool_clear(pool);
    return 0;
}
