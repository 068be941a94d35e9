/* Licensed under the Apache License, Version 2.0. */

/*
 * Prometheus text 0.0.4 and OpenMetrics 1.0.0 from the live aggregates.
 * The names, the bucket rounding and the escaping rules are in prof_prom.h.
 */

#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"

#include "prof_phase.h"
#include "prof_prom.h"

struct prof_prom_t {
    apr_pool_t *p;
    prof_prom_format_t f;
    char *buf;
    apr_size_t len, cap;
};

/* ---- the buffer ------------------------------------------------------ */

static void grow(prof_prom_t *w, apr_size_t more)
{
    apr_size_t cap = w->cap;
    char *nb;

    while (cap - w->len < more + 1) {
        cap *= 2;
    }
    nb = apr_palloc(w->p, cap);
    memcpy(nb, w->buf, w->len);
    w->buf = nb;
    w->cap = cap;
}

static APR_INLINE void put(prof_prom_t *w, const char *s, apr_size_t n)
{
    if (w->cap - w->len < n + 1) {
        grow(w, n);
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void puts_(prof_prom_t *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_u64(prof_prom_t *w, apr_uint64_t v)
{
    char tmp[24], *q = tmp + sizeof(tmp);

    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(w, q, (apr_size_t)(tmp + sizeof(tmp) - q));
}

/* us as seconds: "12.000345"; with trim, trailing zeros go, keeping one
 * decimal ("1.0", "0.00487"), the form `le` labels take. */
static void put_seconds(prof_prom_t *w, apr_uint64_t us, int trim)
{
    char frac[8];
    apr_uint64_t f = us % 1000000;
    int i, n = 6;

    put_u64(w, us / 1000000);
    for (i = 5; i >= 0; --i) {
        frac[i] = (char)('0' + f % 10);
        f /= 10;
    }
    if (trim) {
        while (n > 1 && frac[n - 1] == '0') {
            --n;
        }
    }
    put(w, ".", 1);
    put(w, frac, (apr_size_t)n);
}

/* ---- escaping -------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static apr_size_t utf8_seq(const unsigned char *s, apr_size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    apr_size_t len, i;

    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    }
    else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;   /* overlong */
        hi = c == 0xed ? 0x9f : 0xbf;   /* surrogates */
    }
    else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;   /* overlong */
        hi = c == 0xf4 ? 0x8f : 0xbf;   /* beyond U+10FFFF */
    }
    else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; ++i) {
        if (s[i] < 0x80 || s[i] > 0xbf) {
            return 0;
        }
    }
    return len;
}

#define REPLACEMENT "\xef\xbf\xbd"

/* Writes s escaped: quote is 1 for label values (and OpenMetrics HELP),
 * where '"' is escaped too. */
static void put_escaped(prof_prom_t *w, const char *s, int quote)
{
    const unsigned char *u = (const unsigned char *)s;
    apr_size_t n = strlen(s), i = 0, run = 0;

    while (i < n) {
        unsigned char c = u[i];
        apr_size_t k;

        if (c >= 0x20 && c < 0x7f && c != '\\' && !(quote && c == '"')) {
            ++i;
            ++run;
            continue;
        }
        if (c >= 0x80 && (k = utf8_seq(u + i, n - i)) != 0) {
            i += k;
            run += k;
            continue;
        }
        /* Flush the plain bytes before c, then c's replacement. */
        put(w, (const char *)u + i - run, run);
        run = 0;
        if (c == '\\') {
            put(w, "\\\\", 2);
        }
        else if (c == '"') {
            put(w, "\\\"", 2);
        }
        else if (c == '\n') {
            put(w, "\\n", 2);
        }
        else {
            put(w, REPLACEMENT, 3);
        }
        ++i;
    }
    put(w, (const char *)u + n - run, run);
}

const char *prof_prom_escape(apr_pool_t *p, const char *s)
{
    prof_prom_t w;

    w.p = p;
    w.cap = 64;
    w.len = 0;
    w.buf = apr_palloc(p, w.cap);
    put_escaped(&w, s ? s : "", 1);
    w.buf[w.len] = '\0';
    return w.buf;
}

/* ---- negotiation ----------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Does [s, e) equal lit, ASCII case-insensitively? */
static int token_is(const char *s, const char *e, const char *lit)
{
    apr_size_t n = strlen(lit), i;

    if ((apr_size_t)(e - s) != n) {
        return 0;
    }
    for (i = 0; i < n; ++i) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] | 0x20) : s[i];

        if (c != lit[i]) {
            return 0;
        }
    }
    return 1;
}

prof_prom_format_t prof_prom_negotiate(const char *accept)
{
    double om = 0, text = 0;
    const char *s = accept;

    if (s == NULL) {
        return PROF_PROM_TEXT;
    }
    while (*s) {
        const char *end = strchr(s, ','), *t0, *t1, *pp;
        double q = 1;

        if (end == NULL) {
            end = s + strlen(s);
        }
        for (t0 = s; t0 < end && is_space(*t0); ++t0) {
        }
        for (t1 = t0; t1 < end && *t1 != ';' && !is_space(*t1); ++t1) {
        }
        /* Parameters: only q matters. */
        for (pp = t1; pp < end; ++pp) {
            if (*pp == ';') {
                const char *v = pp + 1;

                while (v < end && is_space(*v)) {
                    ++v;
                }
                if (end - v >= 2 && (v[0] == 'q' || v[0] == 'Q')
                    && v[1] == '=') {
                    char num[16];
                    apr_size_t k = 0;

                    for (v += 2; v < end && k < sizeof(num) - 1
                         && (*v == '.' || (*v >= '0' && *v <= '9')); ++v) {
                        num[k++] = *v;
                    }
                    num[k] = '\0';
                    q = k ? atof(num) : 0;
                }
            }
        }
        if (token_is(t0, t1, "application/openmetrics-text")) {
            om = q > om ? q : om;
        }
        else if (token_is(t0, t1, "text/plain") || token_is(t0, t1, "*/*")
                 || token_is(t0, t1, "text/*")) {
            text = q > text ? q : text;
        }
        s = *end ? end + 1 : end;
    }
    return om > 0 && om >= text ? PROF_PROM_OPENMETRICS : PROF_PROM_TEXT;
}

const char *prof_prom_content_type(prof_prom_format_t f)
{
    return f == PROF_PROM_OPENMETRICS ? PROF_PROM_CT_OPENMETRICS
                                      : PROF_PROM_CT_TEXT;
}

/* ---- bounds ---------------------------------------------------------- */

apr_interval_time_t prof_prom_round_us(apr_interval_time_t us)
{
    apr_interval_time_t e, lo, hi, top = APR_INT64_C(1) << PROF_HIST_TOP_BITS;
    apr_uint32_t b;

    if (us < 0) {
        us = 0;
    }
    e = us < top ? us + 1 : top;        /* the edge wanted */
    b = prof_hist_bucket(e);
    prof_hist_bounds(b, &lo, &hi);
    if (e != lo && b + 1 < PROF_HIST_BUCKETS && hi - e < e - lo) {
        lo = hi;
    }
    return lo - 1;
}

static int cmp_i64(const void *a, const void *b)
{
    apr_interval_time_t x = *(const apr_interval_time_t *)a;
    apr_interval_time_t y = *(const apr_interval_time_t *)b;

    return x < y ? -1 : x > y;
}

apr_status_t prof_prom_bounds_set(prof_prom_bounds_t *b,
                                  const double *seconds, apr_size_t n)
{
    apr_interval_time_t tmp[PROF_PROM_BOUNDS_MAX];
    apr_size_t i, k = 0;

    if (n == 0 || n > PROF_PROM_BOUNDS_MAX) {
        prof_prom_bounds_default(b);
        return APR_EINVAL;
    }
    for (i = 0; i < n; ++i) {
        double s = seconds[i];

        if (!(s > 0) || !(s <= PROF_PROM_BOUND_MAX_S)) {  /* NaN too */
            prof_prom_bounds_default(b);
            return APR_EINVAL;
        }
        tmp[i] = prof_prom_round_us((apr_interval_time_t)(s * 1e6 + 0.5));
    }
    qsort(tmp, n, sizeof(tmp[0]), cmp_i64);
    for (i = 0; i < n; ++i) {
        if (k == 0 || tmp[i] != b->le_us[k - 1]) {
            b->le_us[k] = tmp[i];
            b->upto[k] = prof_hist_bucket(tmp[i] + 1);
            ++k;
        }
    }
    b->n = k;
    return APR_SUCCESS;
}

apr_status_t prof_prom_bounds_parse(prof_prom_bounds_t *b, int argc,
                                    const char *const *argv,
                                    const char **bad)
{
    double s[PROF_PROM_BOUNDS_MAX];
    int i;

    *bad = NULL;
    if (argc <= 0 || argc > PROF_PROM_BOUNDS_MAX) {
        prof_prom_bounds_default(b);
        return APR_EINVAL;
    }
    for (i = 0; i < argc; ++i) {
        char *end;

        s[i] = strtod(argv[i], &end);
        if (end == argv[i] || *end != '\0' || !(s[i] > 0)
            || !(s[i] <= PROF_PROM_BOUND_MAX_S)) {
            *bad = argv[i];
            prof_prom_bounds_default(b);
            return APR_EINVAL;
        }
    }
    return prof_prom_bounds_set(b, s, (apr_size_t)argc);
}

void prof_prom_bounds_default(prof_prom_bounds_t *b)
{
    static const double def[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                  1, 2.5, 5, 10 };

    prof_prom_bounds_set(b, def, sizeof(def) / sizeof(def[0]));
}

/* ---- the writer ------------------------------------------------------ */

prof_prom_t *prof_prom_create(apr_pool_t *p, prof_prom_format_t f)
{
    prof_prom_t *w = apr_palloc(p, sizeof(*w));

    w->p = p;
    w->f = f;
    w->cap = 16384;
    w->len = 0;
    w->buf = apr_palloc(p, w->cap);
    return w;
}

static APR_INLINE int ends_with(const char *s, const char *suffix)
{
    apr_size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

void prof_prom_family(prof_prom_t *w, const char *name, const char *type,
                      const char *unit, const char *help)
{
    apr_size_t n = strlen(name);

    if (w->f == PROF_PROM_OPENMETRICS) {
        /* The family of counter x_total is x. */
        if (strcmp(type, "counter") == 0 && ends_with(name, "_total")) {
            n -= 6;
        }
        puts_(w, "# TYPE ");
        put(w, name, n);
        put(w, " ", 1);
        puts_(w, type);
        if (unit) {
            puts_(w, "\n# UNIT ");
            put(w, name, n);
            put(w, " ", 1);
            puts_(w, unit);
        }
        puts_(w, "\n# HELP ");
        put(w, name, n);
        put(w, " ", 1);
        put_escaped(w, help, 1);
        put(w, "\n", 1);
    }
    else {
        puts_(w, "# HELP ");
        put(w, name, n);
        put(w, " ", 1);
        put_escaped(w, help, 0);
        puts_(w, "\n# TYPE ");
        put(w, name, n);
        put(w, " ", 1);
        puts_(w, type);
        put(w, "\n", 1);
    }
}

/* name{labels[,extra_name="extra_value"]} and the space before the value.
 * extra_value is written as it is (an `le` we made). */
static void put_series(prof_prom_t *w, const char *name, const char *suffix,
                       const char *const *labels, const char *extra_name,
                       const char *extra_value)
{
    int first = 1;

    puts_(w, name);
    if (suffix) {
        puts_(w, suffix);
    }
    if ((labels && labels[0]) || extra_name) {
        put(w, "{", 1);
        for (; labels && labels[0]; labels += 2) {
            if (!first) {
                put(w, ",", 1);
            }
            first = 0;
            puts_(w, labels[0]);
            put(w, "=\"", 2);
            put_escaped(w, labels[1] ? labels[1] : "", 1);
            put(w, "\"", 1);
        }
        if (extra_name) {
            if (!first) {
                put(w, ",", 1);
            }
            puts_(w, extra_name);
            put(w, "=\"", 2);
            puts_(w, extra_value);
            put(w, "\"", 1);
        }
        put(w, "}", 1);
    }
    put(w, " ", 1);
}

void prof_prom_sample_u64(prof_prom_t *w, const char *name,
                          const char *const *labels, apr_uint64_t value)
{
    put_series(w, name, NULL, labels, NULL, NULL);
    put_u64(w, value);
    put(w, "\n", 1);
}

void prof_prom_sample_us(prof_prom_t *w, const char *name,
                         const char *const *labels, apr_uint64_t us)
{
    put_series(w, name, NULL, labels, NULL, NULL);
    put_seconds(w, us, 0);
    put(w, "\n", 1);
}

void prof_prom_histogram(prof_prom_t *w, const char *name,
                         const char *const *labels, const prof_hist_t *h,
                         const prof_prom_bounds_t *b)
{
    prof_prom_bounds_t def;
    apr_uint64_t cum = 0;
    apr_uint32_t k = 0;
    apr_size_t i;

    if (b == NULL) {
        prof_prom_bounds_default(&def);
        b = &def;
    }
    for (i = 0; i < b->n; ++i) {
        prof_prom_t le;
        char lebuf[32];

        /* Buckets below le + 1: exactly the durations <= le. */
        for (; k < b->upto[i] && k < PROF_HIST_BUCKETS; ++k) {
            cum += h->n[k];
        }
        le.p = w->p;
        le.buf = lebuf;
        le.cap = sizeof(lebuf);
        le.len = 0;
        put_seconds(&le, (apr_uint64_t)b->le_us[i], 1);
        lebuf[le.len] = '\0';
        put_series(w, name, "_bucket", labels, "le", lebuf);
        put_u64(w, cum);
        put(w, "\n", 1);
    }
    put_series(w, name, "_bucket", labels, "le", "+Inf");
    put_u64(w, h->count);
    put(w, "\n", 1);
    put_series(w, name, "_sum", labels, NULL, NULL);
    put_seconds(w, h->sum, 0);
    put(w, "\n", 1);
    put_series(w, name, "_count", labels, NULL, NULL);
    put_u64(w, h->count);
    put(w, "\n", 1);
}

/* ---- the aggregates -------------------------------------------------- */

static int cmp_cells(const void *a, const void *b)
{
    const prof_agg_key_t *x = &(*(const prof_agg_cell_t *const *)a)->key;
    const prof_agg_key_t *y = &(*(const prof_agg_cell_t *const *)b)->key;
    int c;

    if ((c = strcmp(x->vhost, y->vhost)) != 0
        || (c = strcmp(x->route, y->route)) != 0
        || (c = strcmp(x->method, y->method)) != 0) {
        return c;
    }
    if (x->status != y->status) {
        return x->status < y->status ? -1 : 1;
    }
    return x->flags < y->flags ? -1 : x->flags > y->flags;
}

/* What `code` says: "200", "000", or "5xx" for a class cell. */
static void code_of(const prof_agg_key_t *k, char code[4])
{
    code[0] = (char)('0' + k->status / 100 % 10);
    if (k->flags & PROF_AGG_KEY_CLASS) {
        code[1] = code[2] = 'x';
        if (k->status == 0) {
            code[0] = code[1] = code[2] = '0';
        }
    }
    else {
        code[1] = (char)('0' + k->status / 10 % 10);
        code[2] = (char)('0' + k->status % 10);
    }
    code[3] = '\0';
}

/* Do a and b share the labels of level: 1 vhost+route, 2 +method,
 * 3 +code? */
static int same(const prof_agg_cell_t *a, const prof_agg_cell_t *b, int level)
{
    char ca[4], cb[4];

    if (strcmp(a->key.vhost, b->key.vhost) != 0
        || strcmp(a->key.route, b->key.route) != 0) {
        return 0;
    }
    if (level >= 2 && strcmp(a->key.method, b->key.method) != 0) {
        return 0;
    }
    if (level >= 3) {
        code_of(&a->key, ca);
        code_of(&b->key, cb);
        return strcmp(ca, cb) == 0;
    }
    return 1;
}

static const prof_agg_cell_t **sorted(apr_pool_t *p,
                                      const prof_agg_cell_t *cells,
                                      apr_size_t n)
{
    const prof_agg_cell_t **v = apr_palloc(p, sizeof(*v) * (n ? n : 1));
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        v[i] = &cells[i];
    }
    qsort(v, n, sizeof(*v), cmp_cells);
    return v;
}

/* Per group of (vhost, route, method): the two ttfb counters and bytes. */
typedef enum { SUM_TTFB, SUM_TTFB_N, SUM_BYTES } sum_t;

static void write_sums(prof_prom_t *w, const prof_agg_cell_t **v,
                       apr_size_t n, sum_t what)
{
    static const char *const names[] = {
        "mod_profiler_ttfb_seconds_total", "mod_profiler_ttfb_responses_total",
        "mod_profiler_response_bytes_total"
    };
    apr_size_t i = 0, j;

    while (i < n) {
        apr_uint64_t sum = 0;
        const char *labels[] = { "vhost", v[i]->key.vhost, "route",
                                 v[i]->key.route, "method", v[i]->key.method,
                                 NULL };

        for (j = i; j < n && same(v[i], v[j], 2); ++j) {
            sum += what == SUM_TTFB ? v[j]->ttfb_us
                 : what == SUM_TTFB_N ? v[j]->ttfb_count : v[j]->bytes;
        }
        if (what == SUM_TTFB) {
            prof_prom_sample_us(w, names[what], labels, sum);
        }
        else {
            prof_prom_sample_u64(w, names[what], labels, sum);
        }
        i = j;
    }
}

void prof_prom_write_agg(prof_prom_t *w, const prof_agg_snap_t *s,
                         const prof_prom_bounds_t *b)
{
    const prof_agg_cell_t **v = sorted(w->p, s->req, s->nreq);
    const prof_agg_cell_t **sp = sorted(w->p, s->span, s->nspan);
    prof_hist_t *h = apr_palloc(w->p, sizeof(*h));
    prof_prom_bounds_t def;
    apr_size_t i, j;
    int ph;

    if (b == NULL) {
        prof_prom_bounds_default(&def);
        b = &def;
    }

    prof_prom_family(w, "mod_profiler_requests_total", "counter", NULL,
                     "Requests served, by virtual host, route, method and "
                     "status code.");
    for (i = 0; i < s->nreq; i = j) {
        apr_uint64_t count = 0;
        char code[4];
        const char *labels[] = { "vhost", v[i]->key.vhost, "route",
                                 v[i]->key.route, "method", v[i]->key.method,
                                 "code", code, NULL };

        code_of(&v[i]->key, code);
        for (j = i; j < s->nreq && same(v[i], v[j], 3); ++j) {
            count += v[j]->hist.count;
        }
        prof_prom_sample_u64(w, "mod_profiler_requests_total", labels, count);
    }

    prof_prom_family(w, "mod_profiler_request_duration_seconds", "histogram",
                     "seconds", "Time from the first byte of the request to "
                     "the end of logging, by virtual host, route and "
                     "method.");
    for (i = 0; i < s->nreq; i = j) {
        const char *labels[] = { "vhost", v[i]->key.vhost, "route",
                                 v[i]->key.route, "method", v[i]->key.method,
                                 NULL };

        prof_hist_init(h);
        for (j = i; j < s->nreq && same(v[i], v[j], 2); ++j) {
            prof_hist_merge(h, &v[j]->hist);
        }
        prof_prom_histogram(w, "mod_profiler_request_duration_seconds",
                            labels, h, b);
    }

    prof_prom_family(w, "mod_profiler_phase_seconds_total", "counter",
                     "seconds", "Time spent in each request phase, by "
                     "virtual host and route.");
    for (i = 0; i < s->nreq; i = j) {
        apr_uint64_t sum[PROF_PHASE_TOTAL];

        memset(sum, 0, sizeof(sum));
        for (j = i; j < s->nreq && same(v[i], v[j], 1); ++j) {
            for (ph = 0; ph < PROF_PHASE_TOTAL; ++ph) {
                sum[ph] += v[j]->phase_us[ph];
            }
        }
        for (ph = 0; ph < PROF_PHASE_TOTAL; ++ph) {
            const char *labels[] = { "vhost", v[i]->key.vhost, "route",
                                     v[i]->key.route, "phase",
                                     prof_phase_name(ph), NULL };

            if (sum[ph]) {
                prof_prom_sample_us(w, "mod_profiler_phase_seconds_total",
                                    labels, sum[ph]);
            }
        }
    }

    prof_prom_family(w, "mod_profiler_ttfb_seconds_total", "counter",
                     "seconds", "Time to first byte, summed over the "
                     "responses that had one.");
    write_sums(w, v, s->nreq, SUM_TTFB);
    prof_prom_family(w, "mod_profiler_ttfb_responses_total", "counter", NULL,
                     "Responses whose time to first byte was measured.");
    write_sums(w, v, s->nreq, SUM_TTFB_N);
    prof_prom_family(w, "mod_profiler_response_bytes_total", "counter",
                     "bytes", "Bytes sent, by virtual host, route and "
                     "method.");
    write_sums(w, v, s->nreq, SUM_BYTES);

    prof_prom_family(w, "mod_profiler_span_duration_seconds", "histogram",
                     "seconds", "Durations of the spans and metrics that "
                     "modules report through the span API, by name.");
    for (i = 0; i < s->nspan; i = j) {
        const char *labels[] = { "name", sp[i]->key.route, NULL };

        if (sp[i]->key.flags & PROF_AGG_KEY_MODULE) {
            j = i + 1;          /* module timing's: below */
            continue;
        }
        prof_hist_init(h);
        for (j = i; j < s->nspan
             && !(sp[j]->key.flags & PROF_AGG_KEY_MODULE)
             && strcmp(sp[i]->key.route, sp[j]->key.route) == 0; ++j) {
            prof_hist_merge(h, &sp[j]->hist);
        }
        prof_prom_histogram(w, "mod_profiler_span_duration_seconds", labels,
                            h, b);
    }

    prof_prom_family(w, "mod_profiler_module_seconds_total", "counter",
                     "seconds", "Time of each module's hook functions in "
                     "each phase, and of each output filter (phase "
                     "\"filter\"), where ProfilerModuleTiming is On.");
    for (i = 0; i < s->nspan; ++i) {
        const char *labels[] = { "phase", sp[i]->key.vhost, "module",
                                 sp[i]->key.route, NULL };

        if (sp[i]->key.flags & PROF_AGG_KEY_MODULE) {
            prof_prom_sample_us(w, "mod_profiler_module_seconds_total",
                                labels, sp[i]->hist.sum);
        }
    }

    prof_prom_family(w, "mod_profiler_metrics_key_overflow_total", "counter",
                     NULL, "Requests counted under route (other) or a "
                     "status class because ProfilerMetricsKeys was full.");
    prof_prom_sample_u64(w, "mod_profiler_metrics_key_overflow_total", NULL,
                         s->counters.key_overflow);
    prof_prom_family(w, "mod_profiler_metrics_route_folded_total", "counter",
                     NULL, "Requests counted under route (other) because "
                     "their virtual host had ProfilerMaxRoutes routes.");
    prof_prom_sample_u64(w, "mod_profiler_metrics_route_folded_total", NULL,
                         s->counters.route_folded);
    prof_prom_family(w, "mod_profiler_metrics_span_overflow_total", "counter",
                     NULL, "Spans counted under name (other) because the "
                     "span table was full.");
    prof_prom_sample_u64(w, "mod_profiler_metrics_span_overflow_total", NULL,
                         s->counters.span_overflow);
}

const char *prof_prom_finish(prof_prom_t *w, apr_size_t *len)
{
    if (w->f == PROF_PROM_OPENMETRICS) {
        puts_(w, "# EOF\n");
    }
    if (w->cap - w->len < 1) {
        grow(w, 0);
    }
    w->buf[w->len] = '\0';
    if (len) {
        *len = w->len;
    }
    return w->buf;
}
