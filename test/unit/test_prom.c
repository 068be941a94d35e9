/* Licensed under the Apache License, Version 2.0. */

/*
 * The Prometheus/OpenMetrics writer (src/prof_prom.c): label escaping
 * against an independent UTF-8 check, Accept negotiation, the rounding of
 * bucket bounds to the log histogram's edges (and that the counts under
 * them are then exact, against the samples themselves), and whole outputs
 * of a block fed with hostile hosts, paths and span names, checked by
 * Prometheus's own `promtool check metrics` (Debian package prometheus):
 * the test fails when promtool is missing, complains, or prints anything.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_hash.h"
#include "apr_strings.h"

#include "prof_agg.h"
#include "prof_prom.h"
#include "unit.h"

#define HOT_ASSERT(cond, ...) \
    do { if (!(cond)) ck_abort_msg(__VA_ARGS__); } while (0)

#define FFFD "\xef\xbf\xbd"

/* ---- escaping -------------------------------------------------------- */

static const struct {
    const char *in, *out;
} esc[] = {
    { "plain /a/b?c=d", "plain /a/b?c=d" },
    { "", "" },
    { "a\\b", "a\\\\b" },
    { "a\"b", "a\\\"b" },
    { "a\nb", "a\\nb" },
    { "\\\"\n", "\\\\\\\"\\n" },
    { "a\rb\tc\x7f" "d\x01", "a" FFFD "b" FFFD "c" FFFD "d" FFFD },
    { "caf\xc3\xa9", "caf\xc3\xa9" },                   /* é */
    { "\xe2\x82\xac", "\xe2\x82\xac" },                 /* € */
    { "\xf0\x9d\x84\x9e", "\xf0\x9d\x84\x9e" },         /* U+1D11E */
    { "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },         /* U+10FFFF */
    { "\xed\x9f\xbf", "\xed\x9f\xbf" },                 /* U+D7FF */
    { "\x80", FFFD },                                   /* stray */
    { "a\xbf" "b", "a" FFFD "b" },
    { "\xc0\xaf", FFFD FFFD },                          /* overlong '/' */
    { "\xc1\xbf", FFFD FFFD },
    { "\xe0\x80\xaf", FFFD FFFD FFFD },                 /* overlong */
    { "\xf0\x80\x80\xaf", FFFD FFFD FFFD FFFD },        /* overlong */
    { "\xed\xa0\x80", FFFD FFFD FFFD },                 /* surrogate */
    { "\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD },        /* > U+10FFFF */
    { "\xf5\x80\x80\x80", FFFD FFFD FFFD FFFD },
    { "\xff\xfe", FFFD FFFD },
    { "x\xc3", "x" FFFD },                              /* cut at end */
    { "\xe2\x82", FFFD FFFD },
    { "\xe2\x82" "a", FFFD FFFD "a" },
    { "\xf0\x9d\x84", FFFD FFFD FFFD },
    { "\xc3\"", FFFD "\\\"" },                          /* lead + quote */
};

START_TEST(label_values_are_escaped)
{
    ck_assert_str_eq(prof_prom_escape(unit_pool, esc[_i].in), esc[_i].out);
}
END_TEST

/* An independent check: valid UTF-8 (by code point ranges, RFC 3629),
 * no control characters, every '\\' starting one of \\, \", \n, and no
 * bare '"'. */
static int valid_label_text(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;

    while (*u) {
        unsigned long cp;
        int n, i;

        if (*u == '\\') {
            if (u[1] != '\\' && u[1] != '"' && u[1] != 'n') {
                return 0;
            }
            u += 2;
            continue;
        }
        if (*u == '"' || *u < 0x20 || *u == 0x7f) {
            return 0;
        }
        if (*u < 0x80) {
            ++u;
            continue;
        }
        n = *u >= 0xf0 ? 4 : *u >= 0xe0 ? 3 : *u >= 0xc0 ? 2 : 0;
        if (n == 0 || *u >= 0xf8) {
            return 0;
        }
        cp = *u & (0x7f >> n);
        for (i = 1; i < n; ++i) {
            if ((u[i] & 0xc0) != 0x80) {
                return 0;
            }
            cp = cp << 6 | (u[i] & 0x3f);
        }
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800)
            || (n == 4 && cp < 0x10000) || cp > 0x10ffff
            || (cp >= 0xd800 && cp <= 0xdfff)) {
            return 0;
        }
        u += n;
    }
    return 1;
}

START_TEST(random_bytes_give_valid_labels)
{
    uint64_t st = unit_seed(_i);
    char in[64];
    int it, i;

    for (it = 0; it < 20000; ++it) {
        int n = (int)(unit_rand(&st) % (sizeof(in) - 1));
        const char *out;

        for (i = 0; i < n; ++i) {
            uint64_t r = unit_rand(&st);

            /* mostly the interesting bytes */
            in[i] = (char)(r % 4 == 0 ? 0x80 + (r >> 8) % 0x80
                         : r % 4 == 1 ? (uint64_t)(unsigned char)"\\\"\n\r/aé"[(r >> 8) % 8]
                         : 1 + (r >> 8) % 255);
        }
        in[n] = '\0';
        out = prof_prom_escape(unit_pool, in);
        HOT_ASSERT(valid_label_text(out), "iteration %d: invalid", it);
        /* Valid UTF-8 without specials comes out unchanged. */
        if (valid_label_text(in) && !strpbrk(in, "\\\"")) {
            HOT_ASSERT(strcmp(in, out) == 0, "iteration %d: changed", it);
        }
    }
}
END_TEST

/* ---- negotiation ----------------------------------------------------- */

static const struct {
    const char *accept;
    prof_prom_format_t f;
} neg[] = {
    { NULL, PROF_PROM_TEXT },
    { "", PROF_PROM_TEXT },
    { "*/*", PROF_PROM_TEXT },
    { "text/plain", PROF_PROM_TEXT },
    { "text/plain;version=0.0.4", PROF_PROM_TEXT },
    /* what Prometheus 2.x sends */
    { "application/openmetrics-text;version=1.0.0,application/openmetrics-"
      "text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      PROF_PROM_OPENMETRICS },
    { "application/openmetrics-text", PROF_PROM_OPENMETRICS },
    { "Application/OpenMetrics-Text; version=1.0.0", PROF_PROM_OPENMETRICS },
    { "text/plain, application/openmetrics-text;q=0.5", PROF_PROM_TEXT },
    { "application/openmetrics-text;q=0", PROF_PROM_TEXT },
    { "application/openmetrics-text;q=0.9, text/plain;q=0.9",
      PROF_PROM_OPENMETRICS },
    { "application/openmetrics-textx", PROF_PROM_TEXT },
    { ",,;;,", PROF_PROM_TEXT },
    { "application/json", PROF_PROM_TEXT },
};

START_TEST(accept_negotiation)
{
    ck_assert_int_eq(prof_prom_negotiate(neg[_i].accept), neg[_i].f);
    ck_assert_str_eq(prof_prom_content_type(neg[_i].f),
                     neg[_i].f == PROF_PROM_TEXT ? PROF_PROM_CT_TEXT
                                                 : PROF_PROM_CT_OPENMETRICS);
}
END_TEST

/* ---- bounds ---------------------------------------------------------- */

/* The edges of the log histogram around us + 1. */
static void edges_around(apr_interval_time_t us, apr_interval_time_t *below,
                         apr_interval_time_t *above)
{
    apr_interval_time_t lo, hi;

    prof_hist_bounds(prof_hist_bucket(us + 1), &lo, &hi);
    *below = lo;
    *above = hi;
}

START_TEST(bounds_round_to_the_nearest_edge)
{
    uint64_t st = unit_seed(_i);
    int it;

    for (it = 0; it < 200000; ++it) {
        uint64_t r = unit_rand(&st);
        apr_interval_time_t us = (apr_interval_time_t)
            ((r >> 8) % (1 + (UINT64_C(1) << (r % 40))));
        apr_interval_time_t le = prof_prom_round_us(us), e = le + 1, lo, hi;

        edges_around(us, &lo, &hi);
        /* le + 1 is an edge: the lower end of a bucket */
        prof_hist_bounds(prof_hist_bucket(e), &lo, NULL);
        HOT_ASSERT(lo == e, "%lld: %lld is no edge", (long long)us,
                   (long long)e);
        /* the nearer of the two around us + 1 */
        edges_around(us, &lo, &hi);
        HOT_ASSERT(e == lo || e == hi, "%lld: %lld not adjacent",
                   (long long)us, (long long)e);
        HOT_ASSERT(e == lo ? (us + 1) - lo <= hi - (us + 1)
                           : hi - (us + 1) < (us + 1) - lo,
                   "%lld: %lld not the nearest", (long long)us, (long long)e);
        /* so within half a bucket: under 4.5 % */
        HOT_ASSERT((double)(le > us ? le - us : us - le)
                   <= 0.045 * (double)us + 1.0,
                   "%lld: %lld too far", (long long)us, (long long)le);
    }
    /* Below 16 us every value is an edge: exact. */
    for (it = 0; it < 16; ++it) {
        ck_assert_int_eq(prof_prom_round_us(it), it);
    }
    ck_assert_int_eq(prof_prom_round_us(-3), 0);
}
END_TEST

START_TEST(bounds_are_set_sorted_and_merged)
{
    static const double unsorted[] = { 0.5, 0.1, 0.5, 0.0000001, 2 };
    static const double bad[][1] = { { 0 }, { -1 }, { 1e7 } };
    static const char *const args_ok[] = { "0.25", "1", "2.5e-1", "10" };
    static const char *const args_bad[] = { "0.1", "1x", "2" };
    static const char *const args_neg[] = { "-0.5" };
    static const char *const args_nan[] = { "nan" };
    static const char *const args_inf[] = { "inf" };
    static const char *const args_empty[] = { "" };
    const char *many[PROF_PROM_BOUNDS_MAX + 1];
    prof_prom_bounds_t b;
    const char *badarg;
    double nan_ = strtod("nan", NULL);
    apr_size_t i;

    prof_prom_bounds_default(&b);
    ck_assert_uint_eq(b.n, 11);
    for (i = 0; i < b.n; ++i) {
        apr_interval_time_t lo;

        prof_hist_bounds(b.upto[i], &lo, NULL);
        ck_assert_int_eq(lo, b.le_us[i] + 1);
        if (i) {
            ck_assert_int_gt(b.le_us[i], b.le_us[i - 1]);
        }
    }
    ck_assert_int_eq(b.le_us[0], prof_prom_round_us(5000));
    ck_assert_int_eq(b.le_us[10], prof_prom_round_us(10000000));

    ck_assert_int_eq(prof_prom_bounds_set(&b, unsorted, 5), APR_SUCCESS);
    ck_assert_uint_eq(b.n, 4);
    ck_assert_int_eq(b.le_us[0], 0);        /* 0.1 us rounds to 0 */
    ck_assert_int_eq(b.le_us[1], prof_prom_round_us(100000));
    ck_assert_int_eq(b.le_us[2], prof_prom_round_us(500000));
    ck_assert_int_eq(b.le_us[3], prof_prom_round_us(2000000));
    for (i = 0; i < 3; ++i) {
        ck_assert_int_eq(prof_prom_bounds_set(&b, bad[i], 1), APR_EINVAL);
        ck_assert_uint_eq(b.n, 11);         /* the default */
    }
    ck_assert_int_eq(prof_prom_bounds_set(&b, &nan_, 1), APR_EINVAL);
    ck_assert_int_eq(prof_prom_bounds_set(&b, unsorted, 0), APR_EINVAL);

    ck_assert_int_eq(prof_prom_bounds_parse(&b, 4, args_ok, &badarg),
                     APR_SUCCESS);
    ck_assert_ptr_null(badarg);
    ck_assert_uint_eq(b.n, 3);              /* 0.25 and 2.5e-1 are one */
    ck_assert_int_eq(prof_prom_bounds_parse(&b, 3, args_bad, &badarg),
                     APR_EINVAL);
    ck_assert_str_eq(badarg, "1x");
    ck_assert_uint_eq(b.n, 11);
    ck_assert_int_eq(prof_prom_bounds_parse(&b, 1, args_neg, &badarg),
                     APR_EINVAL);
    ck_assert_str_eq(badarg, "-0.5");
    ck_assert_int_eq(prof_prom_bounds_parse(&b, 1, args_nan, &badarg),
                     APR_EINVAL);
    ck_assert_int_eq(prof_prom_bounds_parse(&b, 1, args_inf, &badarg),
                     APR_EINVAL);
    ck_assert_int_eq(prof_prom_bounds_parse(&b, 1, args_empty, &badarg),
                     APR_EINVAL);
    ck_assert_str_eq(badarg, "");
    for (i = 0; i < PROF_PROM_BOUNDS_MAX + 1; ++i) {
        many[i] = "1";
    }
    ck_assert_int_eq(prof_prom_bounds_parse(&b, PROF_PROM_BOUNDS_MAX + 1,
                                            many, &badarg), APR_EINVAL);
    ck_assert_ptr_null(badarg);
    ck_assert_int_eq(prof_prom_bounds_parse(&b, PROF_PROM_BOUNDS_MAX, many,
                                            &badarg), APR_SUCCESS);
    ck_assert_uint_eq(b.n, 1);
    ck_assert_int_eq(prof_prom_bounds_parse(&b, 0, many, &badarg),
                     APR_EINVAL);
}
END_TEST

/* The le printed, as microseconds: "0.00487" is 4870. */
static apr_interval_time_t le_to_us(const char *s)
{
    apr_interval_time_t whole = 0, frac = 0;
    int digits = 0;

    while (*s >= '0' && *s <= '9') {
        whole = whole * 10 + (*s++ - '0');
    }
    ck_assert_int_eq(*s, '.');
    for (++s; *s >= '0' && *s <= '9'; ++s, ++digits) {
        frac = frac * 10 + (*s - '0');
    }
    ck_assert_int_le(digits, 6);
    while (digits++ < 6) {
        frac *= 10;
    }
    return whole * 1000000 + frac;
}

START_TEST(histogram_buckets_count_exactly)
{
    static apr_interval_time_t samples[5000];
    static const double secs[] = { 0.000001, 0.000015, 0.0001, 0.00025,
                                   0.001, 0.005, 0.01, 0.1, 1, 10 };
    uint64_t st = unit_seed(_i);
    prof_hist_t *h = malloc(sizeof(*h));
    prof_prom_bounds_t b;
    prof_prom_t *w = prof_prom_create(unit_pool, PROF_PROM_TEXT);
    const char *labels[] = { "vhost", "v", NULL };
    const char *text, *line;
    int i, n = 1000 + 1000 * _i, buckets = 0;
    apr_uint64_t sum = 0;
    char want[64];

    prof_hist_init(h);
    for (i = 0; i < n; ++i) {
        uint64_t r = unit_rand(&st);

        samples[i] = (apr_interval_time_t)((r >> 8)
                                           % (1 + (1u << (r % 25))));
        prof_hist_add(h, samples[i], 1);
        sum += (apr_uint64_t)samples[i];
    }
    ck_assert_int_eq(prof_prom_bounds_set(&b, secs, 10), APR_SUCCESS);
    prof_prom_histogram(w, "x_seconds", labels, h, &b);
    text = prof_prom_finish(w, NULL);
    for (line = text; *line; line = strchr(line, '\n') + 1) {
        const char *le = strstr(line, "le=\"");

        if (strncmp(line, "x_seconds_bucket{vhost=\"v\",le=\"", 31) == 0
            && strncmp(le + 4, "+Inf", 4) != 0) {
            apr_interval_time_t us = le_to_us(le + 4);
            apr_uint64_t below = 0, got;

            for (i = 0; i < n; ++i) {
                below += samples[i] <= us;
            }
            got = strtoull(strchr(line, '}') + 2, NULL, 10);
            ck_assert_msg(got == below, "%.60s: %llu, want %llu", line,
                          (unsigned long long)got,
                          (unsigned long long)below);
            ck_assert_int_eq(us, b.le_us[buckets]);
            buckets++;
        }
    }
    ck_assert_int_eq(buckets, (int)b.n);
    snprintf(want, sizeof(want), "x_seconds_bucket{vhost=\"v\",le=\"+Inf\"} %d\n",
             n);
    ck_assert_ptr_nonnull(strstr(text, want));
    snprintf(want, sizeof(want), "x_seconds_count{vhost=\"v\"} %d\n", n);
    ck_assert_ptr_nonnull(strstr(text, want));
    snprintf(want, sizeof(want), "x_seconds_sum{vhost=\"v\"} %llu.%06llu\n",
             (unsigned long long)(sum / 1000000),
             (unsigned long long)(sum % 1000000));
    ck_assert_ptr_nonnull(strstr(text, want));
    /* the 1 us bound is exact and prints as such */
    ck_assert_ptr_nonnull(strstr(text, "le=\"0.000001\""));
    ck_assert_ptr_nonnull(strstr(text, "le=\"0.000015\""));
    free(h);
}
END_TEST

/* ---- whole outputs, checked by promtool ------------------------------ */

/* A block with everything in it: hostile strings, folds, overflows. */
static prof_agg_snap_t *hostile_snapshot(void **mem)
{
    static const char *const vhosts[] = {
        "www.example.com", "evil\"host\\\n", "\xff\xfe\xc0\xaf",
        "caf\xc3\xa9.example", ""
    };
    static const char *const routes[] = {
        "/", "/item/:id", "/a\"b", "/back\\slash", "/new\nline",
        "/\xed\xa0\x80surrogate", "/cut\xe2\x82", "/ctl\r\t\x01", "/\x80",
        PROF_AGG_NOT_FOUND, PROF_AGG_OTHER, "/{le=\"+Inf\"} 1"
    };
    static const char *const methods[] = { "GET", "POST", "G\"T", "" };
    static const int statuses[] = { 200, 404, 503, 0, 302 };
    static const char *const spans[] = { "db", "a\"b", "\xff", "x\ny",
                                         "cache", "z" };
    prof_agg_layout_t l = { 48, 4, 96 };
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    apr_size_t size = prof_agg_size(&l);
    prof_agg_t *agg;
    uint64_t st = unit_seed(7);
    int i, k;

    *mem = malloc(size);
    ck_assert_int_eq(prof_agg_init(&agg, unit_pool, *mem, size, &l, 1),
                     APR_SUCCESS);
    prof_agg_set_max_routes(agg, 6);
    for (i = 0; i < 3000; ++i) {
        uint64_t r = unit_rand(&st);

        for (k = 0; k < PROF_PHASE_COUNT; ++k) {
            ph[k] = (apr_interval_time_t)((r >> k) % 5000);
        }
        ph[PROF_PHASE_TOTAL] = (apr_interval_time_t)((r >> 20) % 3000000);
        prof_agg_record(agg, vhosts[(r >> 30) % 5], routes[(r >> 33) % 12],
                        methods[(r >> 37) % 4], statuses[(r >> 40) % 5], ph,
                        (r >> 44) % 2 ? -1 : ph[PROF_PHASE_TOTAL] / 2,
                        (r >> 45) % 10000);
        prof_agg_span(agg, spans[(r >> 50) % 6], ph[PROF_PHASE_TOTAL] / 3);
    }
    return prof_agg_snapshot(agg, unit_pool);
}

/* Runs `promtool check metrics` on text; returns its exit status and
 * what it printed (stdout and stderr) in *out. */
static int promtool(const char *text, apr_size_t len, char **out)
{
    char in[] = "/tmp/prof_prom_in_XXXXXX", res[] = "/tmp/prof_prom_out_XXXXXX";
    int fi = mkstemp(in), fo = mkstemp(res), status;
    char *cmd;
    FILE *f;
    long n;

    ck_assert_int_ge(fi, 0);
    ck_assert_int_ge(fo, 0);
    ck_assert_int_eq(write(fi, text, len), (ssize_t)len);
    close(fi);
    close(fo);
    cmd = apr_psprintf(unit_pool, "promtool check metrics < %s > %s 2>&1",
                       in, res);
    status = system(cmd);
    f = fopen(res, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = apr_pcalloc(unit_pool, (apr_size_t)n + 1);
    ck_assert_int_eq(fread(*out, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    unlink(in);
    unlink(res);
    return status == -1 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Every sample line's series (all but the value) is unique, and each
 * line is a comment or "name{...} value". */
static void check_unique_series(const char *text, prof_prom_format_t f)
{
    apr_hash_t *seen = apr_hash_make(unit_pool);
    const char *line = text, *nl;
    int eof = 0;

    for (; *line; line = nl + 1) {
        const char *sp;
        apr_size_t n;

        nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        n = (apr_size_t)(nl - line);
        ck_assert_msg(!eof, "text after # EOF");
        if (line[0] == '#') {
            if (strncmp(line, "# EOF\n", 6) == 0) {
                eof = 1;
            }
            /* OpenMetrics names families, not counter samples */
            if (f == PROF_PROM_OPENMETRICS && strncmp(line, "# TYPE", 6) == 0) {
                ck_assert_msg(strstr(apr_pstrndup(unit_pool, line, n),
                                     "_total ") == NULL, "%.*s", (int)n, line);
            }
            continue;
        }
        for (sp = nl - 1; sp > line && *sp != ' '; --sp) {
        }
        ck_assert_msg(sp > line, "no value: %.*s", (int)n, line);
        ck_assert_msg(apr_hash_get(seen, line, sp - line) == NULL,
                      "duplicate series %.*s", (int)n, line);
        apr_hash_set(seen, line, sp - line, "");
    }
    ck_assert_int_eq(eof, f == PROF_PROM_OPENMETRICS);
}

/*
 * The OpenMetrics rules promtool (a 0.0.4 parser) cannot check: TYPE, UNIT
 * and HELP once per family and before its samples, a unit the family name
 * ends with, sample names that are the family's plus the suffixes its type
 * allows (a counter's _total), histogram buckets in increasing le ending
 * with +Inf, cumulative, and _count equal to the +Inf bucket; # EOF last.
 */
static void check_openmetrics(const char *text)
{
    apr_hash_t *families = apr_hash_make(unit_pool);
    const char *line, *nl, *fam = NULL, *type = NULL;
    const char *series = NULL;          /* a histogram's, le cut off */
    apr_size_t series_len = 0;
    apr_uint64_t last_count = 0, inf_count = 0;
    apr_interval_time_t last_le = -1;
    int eof = 0, seen_inf = 0;

    for (line = text; *line; line = nl + 1) {
        char *l;

        nl = strchr(line, '\n');
        ck_assert_ptr_nonnull(nl);
        l = apr_pstrndup(unit_pool, line, (apr_size_t)(nl - line));
        ck_assert_msg(!eof, "after # EOF: %s", l);
        if (strcmp(l, "# EOF") == 0) {
            eof = 1;
            continue;
        }
        if (strncmp(l, "# TYPE ", 7) == 0) {
            char *sp = strchr(l + 7, ' ');

            ck_assert_ptr_nonnull(sp);
            fam = apr_pstrndup(unit_pool, l + 7, (apr_size_t)(sp - l - 7));
            type = sp + 1;
            ck_assert_msg(apr_hash_get(families, fam, APR_HASH_KEY_STRING)
                          == NULL, "family %s twice", fam);
            apr_hash_set(families, fam, APR_HASH_KEY_STRING, fam);
            ck_assert_msg(strcmp(type, "counter") == 0
                          || strcmp(type, "histogram") == 0
                          || strcmp(type, "gauge") == 0, "type %s", type);
            if (strcmp(type, "counter") == 0) {
                apr_size_t n = strlen(fam);

                ck_assert_msg(n < 6 || strcmp(fam + n - 6, "_total") != 0,
                              "counter family %s", fam);
            }
            continue;
        }
        if (strncmp(l, "# UNIT ", 7) == 0 || strncmp(l, "# HELP ", 7) == 0) {
            apr_size_t n = strlen(fam);

            ck_assert_msg(fam && strncmp(l + 7, fam, n) == 0
                          && l[7 + n] == ' ', "%s outside its family", l);
            if (l[2] == 'U') {
                const char *unit = l + 8 + n;
                apr_size_t u = strlen(unit);

                ck_assert_msg(n > u + 1 && fam[n - u - 1] == '_'
                              && strcmp(fam + n - u, unit) == 0,
                              "unit %s of %s", unit, fam);
            }
            continue;
        }
        ck_assert_msg(l[0] != '#', "comment %s", l);
        ck_assert_ptr_nonnull(fam);
        {
            apr_size_t n = strlen(fam);
            const char *suffix = l + n, *end = suffix + strcspn(suffix, "{ ");
            const char *sfx = apr_pstrndup(unit_pool, suffix,
                                           (apr_size_t)(end - suffix));
            const char *value = strrchr(l, ' ') + 1;

            ck_assert_msg(strncmp(l, fam, n) == 0, "%s not of %s", l, fam);
            if (strcmp(type, "counter") == 0) {
                ck_assert_msg(strcmp(sfx, "_total") == 0, "%s", l);
            }
            else if (strcmp(type, "histogram") == 0) {
                const char *le = strstr(l, "le=\"");

                if (strcmp(sfx, "_bucket") == 0) {
                    apr_size_t plen = (apr_size_t)(le - l);
                    apr_uint64_t c = strtoull(value, NULL, 10);

                    ck_assert_ptr_nonnull(le);
                    if (!series || plen != series_len
                        || strncmp(series, l, plen) != 0 || seen_inf) {
                        ck_assert_msg(!series || seen_inf,
                                      "no +Inf before %s", l);
                        series = line;
                        series_len = plen;
                        last_le = -1;
                        last_count = 0;
                        seen_inf = 0;
                    }
                    ck_assert_msg(c >= last_count, "not cumulative: %s", l);
                    last_count = c;
                    if (strncmp(le + 4, "+Inf\"", 5) == 0) {
                        seen_inf = 1;
                        inf_count = c;
                    }
                    else {
                        apr_interval_time_t us = le_to_us(le + 4);

                        ck_assert_msg(us > last_le, "le not increasing: %s",
                                      l);
                        last_le = us;
                    }
                }
                else {
                    ck_assert_msg(strcmp(sfx, "_sum") == 0
                                  || strcmp(sfx, "_count") == 0, "%s", l);
                    ck_assert_msg(seen_inf, "no +Inf bucket before %s", l);
                    if (strcmp(sfx, "_count") == 0) {
                        ck_assert_uint_eq(strtoull(value, NULL, 10),
                                          inf_count);
                    }
                }
            }
            else {
                ck_assert_str_eq(sfx, "");
            }
        }
    }
    ck_assert_msg(eof, "no # EOF");
}

START_TEST(promtool_accepts_hostile_output)
{
    void *mem;
    prof_agg_snap_t *s = hostile_snapshot(&mem);
    prof_prom_t *w = prof_prom_create(unit_pool, PROF_PROM_TEXT);
    prof_prom_bounds_t b;
    const char *text;
    const char *labels[] = { "result", "written", NULL };
    apr_size_t len;
    char *out;
    int rc;

    ck_assert_uint_gt(s->counters.key_overflow, 0);
    ck_assert_uint_gt(s->counters.route_folded, 0);
    ck_assert_uint_gt(s->counters.span_overflow, 0);
    prof_prom_bounds_default(&b);
    prof_prom_write_agg(w, s, &b);
    /* as the httpd layer adds the store's family */
    prof_prom_family(w, "mod_profiler_store_rows_total", "counter", NULL,
                     "Rows of the measurement store, by what became of them.");
    prof_prom_sample_u64(w, "mod_profiler_store_rows_total", labels, 12);
    text = prof_prom_finish(w, &len);
    ck_assert_uint_eq(strlen(text), len);
    check_unique_series(text, PROF_PROM_TEXT);
    rc = promtool(text, len, &out);
    ck_assert_msg(rc == 0 && out[0] == '\0',
                  "promtool check metrics: exit %d: %s", rc, out);
    /* And it does fail on broken text, so the check above means
     * something. */
    text = "mod_profiler_requests_total{vhost=\"a\"b\"} 1\n";
    rc = promtool(text, strlen(text), &out);
    ck_assert_int_ne(rc, 0);
    free(mem);
}
END_TEST

START_TEST(openmetrics_output)
{
    void *mem;
    prof_agg_snap_t *s = hostile_snapshot(&mem);
    prof_prom_t *w = prof_prom_create(unit_pool, PROF_PROM_OPENMETRICS);
    const char *text;
    apr_size_t len;

    prof_prom_write_agg(w, s, NULL);
    text = prof_prom_finish(w, &len);
    check_unique_series(text, PROF_PROM_OPENMETRICS);
    check_openmetrics(text);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE mod_profiler_requests counter\n"
                                       "# HELP mod_profiler_requests "));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE mod_profiler_request_duration_"
                                       "seconds histogram\n# UNIT mod_profiler_"
                                       "request_duration_seconds seconds\n"));
    ck_assert_ptr_nonnull(strstr(text, "# TYPE mod_profiler_phase_seconds "
                                       "counter\n# UNIT mod_profiler_phase_"
                                       "seconds seconds\n"));
    ck_assert_ptr_nonnull(strstr(text, "\nmod_profiler_requests_total{"));
    ck_assert_str_eq(text + len - 6, "# EOF\n");
    free(mem);
}
END_TEST

/* The counts in the text are the block's: one line per key, code labels
 * for class cells, phases by name. */
START_TEST(output_counts_are_the_blocks)
{
    prof_agg_layout_t l = { 4, 4, 16 };
    apr_size_t size = prof_agg_size(&l);
    void *mem = malloc(size);
    apr_interval_time_t ph[PROF_PHASE_COUNT];
    prof_agg_t *agg;
    prof_prom_t *w = prof_prom_create(unit_pool, PROF_PROM_TEXT);
    const char *text;
    char *out;
    int i;

    memset(ph, 0, sizeof(ph));
    ph[PROF_PHASE_HANDLER] = 1500;
    ph[PROF_PHASE_TOTAL] = 2000;
    ck_assert_int_eq(prof_agg_init(&agg, unit_pool, mem, size, &l, 1),
                     APR_SUCCESS);
    for (i = 0; i < 7; ++i) {
        prof_agg_record(agg, "v", "/a", "GET", 200, ph, 100, 10);
    }
    prof_agg_record(agg, "v", "/a", "GET", 404, ph, -1, 0);
    prof_agg_record(agg, "v", "/b", "GET", 200, ph, -1, 0);
    prof_agg_record(agg, "v", "/c", "GET", 200, ph, -1, 0);
    /* the table (4 keys) is full now: */
    prof_agg_record(agg, "v", "/d", "GET", 502, ph, -1, 0);
    prof_agg_record(agg, "v", "/e", "GET", 503, ph, -1, 0);
    prof_agg_span(agg, "db", 2500000);
    /* module timing's cells: their own family, never the spans' */
    prof_agg_module(agg, "translate", "mod_rewrite", 1500);
    prof_agg_module(agg, "translate", "mod_rewrite", 2500);
    prof_agg_module(agg, "filter", "deflate", 700);
    prof_agg_module(agg, "translate", "db", 9);
    prof_prom_write_agg(w, prof_agg_snapshot(agg, unit_pool), NULL);
    text = prof_prom_finish(w, NULL);
#define HAS(s) ck_assert_msg(strstr(text, s) != NULL, "no %s in\n%.2000s", s, text)
    HAS("\nmod_profiler_requests_total{vhost=\"v\",route=\"/a\",method=\"GET\","
        "code=\"200\"} 7\n");
    HAS("\nmod_profiler_requests_total{vhost=\"v\",route=\"/a\",method=\"GET\","
        "code=\"404\"} 1\n");
    HAS("\nmod_profiler_requests_total{vhost=\"(other)\",route=\"(other)\","
        "method=\"(other)\",code=\"5xx\"} 2\n");
    HAS("\nmod_profiler_request_duration_seconds_count{vhost=\"v\",route="
        "\"/a\",method=\"GET\"} 8\n");
    HAS("\nmod_profiler_request_duration_seconds_sum{vhost=\"v\",route="
        "\"/a\",method=\"GET\"} 0.016000\n");
    HAS("\nmod_profiler_request_duration_seconds_bucket{vhost=\"v\",route="
        "\"/a\",method=\"GET\",le=\"0.00487\"} 8\n");
    HAS("\nmod_profiler_phase_seconds_total{vhost=\"v\",route=\"/a\","
        "phase=\"handler\"} 0.012000\n");
    HAS("\nmod_profiler_ttfb_seconds_total{vhost=\"v\",route=\"/a\","
        "method=\"GET\"} 0.000700\n");
    HAS("\nmod_profiler_ttfb_responses_total{vhost=\"v\",route=\"/a\","
        "method=\"GET\"} 7\n");
    HAS("\nmod_profiler_response_bytes_total{vhost=\"v\",route=\"/a\","
        "method=\"GET\"} 70\n");
    HAS("\nmod_profiler_span_duration_seconds_bucket{name=\"db\","
        "le=\"2.493948\"} 0\n");
    HAS("\nmod_profiler_span_duration_seconds_bucket{name=\"db\","
        "le=\"4.987896\"} 1\n");
    HAS("\nmod_profiler_metrics_key_overflow_total 2\n");
    HAS("\nmod_profiler_metrics_route_folded_total 0\n");
    HAS("\nmod_profiler_module_seconds_total{phase=\"translate\","
        "module=\"mod_rewrite\"} 0.004000\n");
    HAS("\nmod_profiler_module_seconds_total{phase=\"filter\","
        "module=\"deflate\"} 0.000700\n");
    HAS("\nmod_profiler_module_seconds_total{phase=\"translate\","
        "module=\"db\"} 0.000009\n");
    /* the span "db" keeps its one observation: the module cell named db
     * is not merged into it */
    HAS("\nmod_profiler_span_duration_seconds_count{name=\"db\"} 1\n");
    ck_assert_ptr_null(strstr(text, "span_duration_seconds_count{name="
                                    "\"mod_rewrite\"}"));
    /* no phase that never took time */
    ck_assert_ptr_null(strstr(text, "phase=\"read\""));
    ck_assert_int_eq(promtool(text, strlen(text), &out), 0);
    ck_assert_str_eq(out, "");
    free(mem);
}
END_TEST

Suite *prof_prom_suite(void)
{
    Suite *s = suite_create("prof_prom");
    TCase *tc = tcase_create("prom");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, label_values_are_escaped, 0,
                        (int)(sizeof(esc) / sizeof(esc[0])));
    tcase_add_loop_test(tc, random_bytes_give_valid_labels, 0, 3);
    tcase_add_loop_test(tc, accept_negotiation, 0,
                        (int)(sizeof(neg) / sizeof(neg[0])));
    tcase_add_loop_test(tc, bounds_round_to_the_nearest_edge, 0, 3);
    tcase_add_test(tc, bounds_are_set_sorted_and_merged);
    tcase_add_loop_test(tc, histogram_buckets_count_exactly, 0, 4);
    tcase_add_test(tc, promtool_accepts_hostile_output);
    tcase_add_test(tc, openmetrics_output);
    tcase_add_test(tc, output_counts_are_the_blocks);
    suite_add_tcase(s, tc);
    return s;
}
