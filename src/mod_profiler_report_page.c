/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_protocol.h"

#include "prof_flame.h"
#include "prof_phase.h"
#include "prof_report_text.h"
#include "mod_profiler_report_page.h"

/* ---- small helpers ------------------------------------------------------ */

static const char *h(request_rec *r, const char *s)
{
    return prof_report_html(r->pool, s);
}

/* A query value, percent-encoded (everything but the unreserved). */
static const char *qv(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, strlen(s) * 3 + 1), *o = out;

    for (; *s; ++s) {
        unsigned char c = (unsigned char)*s;

        if (apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

static const char *ms_txt(apr_pool_t *p, apr_int64_t us)
{
    if (us >= 10000000) {
        return apr_psprintf(p, "%.1f s", (double)us / 1e6);
    }
    if (us >= 10000) {
        return apr_psprintf(p, "%.0f ms", (double)us / 1e3);
    }
    if (us >= 1000) {
        return apr_psprintf(p, "%.1f ms", (double)us / 1e3);
    }
    if (us >= 100) {
        return apr_psprintf(p, "%.2f ms", (double)us / 1e3);
    }
    return apr_psprintf(p, "%.3f ms", (double)us / 1e3);
}

/* A group's mean, to the nearest µs (integer division cut 735.67 to 735,
 * which ms_txt() then wrote 0.73 ms: 5.67 µs off, more than the shown
 * digits allow). */
static apr_int64_t mean_us(const prof_report_group_t *g)
{
    return g->count ? (apr_int64_t)((double)g->sum_us / (double)g->count
                                    + 0.5)
                    : 0;
}

static const char *time_txt(apr_pool_t *p, apr_int64_t us)
{
    apr_time_exp_t t;

    if (apr_time_exp_gmt(&t, us) != APR_SUCCESS) {
        return "?";
    }
    return apr_psprintf(p, "%04d-%02d-%02d %02d:%02d:%02d", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min,
                        t.tm_sec);
}

/* A request's start, to the millisecond: requests a few ms apart must not
 * look simultaneous. */
static const char *time_ms_txt(apr_pool_t *p, apr_int64_t us)
{
    apr_time_exp_t t;

    if (apr_time_exp_gmt(&t, us) != APR_SUCCESS) {
        return "?";
    }
    return apr_psprintf(p, "%04d-%02d-%02d %02d:%02d:%02d.%03d",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                        t.tm_min, t.tm_sec, t.tm_usec / 1000);
}

static const char *pct_txt(apr_pool_t *p, apr_uint64_t part,
                           apr_uint64_t whole)
{
    return apr_psprintf(p, "%.2f %%", whole ? 100.0 * (double)part
                                              / (double)whole : 0.0);
}

static const char *iso_min(apr_pool_t *p, apr_int64_t us)
{
    apr_time_exp_t t;

    if (apr_time_exp_gmt(&t, us) != APR_SUCCESS) {
        return "";
    }
    return apr_psprintf(p, "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min,
                        t.tm_sec);
}

/* The current filters as a query string, with some replaced or dropped:
 * pairs of (name, value-or-NULL) in over, NULL-terminated. */
static const char *link_args(request_rec *r, const prof_report_view_t *v,
                             const char *const *over)
{
    const prof_report_filter_t *f = v->f;
    const char *names[] = { "from", "to", "route", "path", "method",
                            "status", "vhost", "server", "sort", "order",
                            "group", NULL };
    const char *vals[11];
    const char *out = "";
    int i, k;

    memset(vals, 0, sizeof(vals));
    /* Live numbers have one range, since the server started: no times. */
    if (f && !v->live) {
        vals[0] = iso_min(r->pool, f->from_us);
        vals[1] = iso_min(r->pool, f->to_us);
    }
    if (f) {
        vals[2] = f->route;
        vals[3] = f->path;
        vals[4] = f->method;
        if (f->status_lo) {
            vals[5] = f->status_hi - f->status_lo == 99
                      ? apr_psprintf(r->pool, "%dxx", f->status_lo / 100)
                      : apr_itoa(r->pool, f->status_lo);
        }
        vals[6] = f->vhost;
        vals[7] = f->server;
        if (f->group) {
            vals[10] = apr_pstrcat(r->pool,
                                   (f->group & PROF_GROUP_METHOD)
                                   ? ",method" : "",
                                   (f->group & PROF_GROUP_STATUS)
                                   ? ",status" : "",
                                   (f->group & PROF_GROUP_VHOST)
                                   ? ",vhost" : "",
                                   (f->group & PROF_GROUP_SERVER)
                                   ? ",server" : "", NULL) + 1;
        }
    }
    for (k = 0; over && over[k]; k += 2) {
        for (i = 0; names[i]; ++i) {
            if (!strcmp(names[i], over[k])) {
                vals[i] = over[k + 1];
            }
        }
    }
    for (i = 0; names[i]; ++i) {
        if (vals[i] && *vals[i]) {
            out = apr_pstrcat(r->pool, out, *out ? "&" : "?", names[i], "=",
                              qv(r->pool, vals[i]), NULL);
        }
    }
    return out;
}

static void head(request_rec *r, const prof_report_view_t *v,
                 const char *title)
{
    ap_rprintf(r, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
               "<meta charset=\"utf-8\"><meta name=\"viewport\" "
               "content=\"width=device-width\"><title>%s - mod_profiler"
               "</title><link rel=\"stylesheet\" href=\"%s/assets/app.css\">"
               "</head><body><header><a class=\"brand\" href=\"%s/\">"
               "mod_profiler</a><nav><a href=\"%s/\">Summary</a>",
               h(r, title), h(r, v->base), h(r, v->base), h(r, v->base));
    /* Without a database there is no list and no health to link to. */
    if (v->live) {
        ap_rprintf(r, "<a href=\"%s/cpu\">CPU</a>"
                   "<a href=\"%s/api/v1/summary\">API</a></nav></header>"
                   "<main>\n", h(r, v->base), h(r, v->base));
        return;
    }
    ap_rprintf(r, "<a href=\"%s/requests\">Requests</a>"
               "<a href=\"%s/cpu\">CPU</a>"
               "<a href=\"%s/api/v1/health\">API</a></nav></header><main>\n",
               h(r, v->base), h(r, v->base), h(r, v->base));
}

static void foot(request_rec *r, const prof_report_view_t *v)
{
    ap_rprintf(r, "</main><footer>Times in UTC. %s; percentiles are within "
               "%.1f %% of the exact value.</footer>"
               "<script src=\"%s/assets/app.js\"></script></body></html>\n",
               v->live ? "Counts, charts and percentiles come from the live "
                         "metrics in shared memory, every request since the "
                         "server started"
                       : "Summaries, charts and percentiles come from "
                         "per-minute rollups (hourly ones for ranges over "
                         "6 hours)",
               PROF_HIST_MAX_REL_ERR * 100, h(r, v->base));
}

static void input(request_rec *r, const char *name, const char *label,
                  const char *value, const char *hint)
{
    ap_rprintf(r, "<label>%s <input name=\"%s\" value=\"%s\" "
               "placeholder=\"%s\"></label>", label, name,
               h(r, value ? value : ""), h(r, hint));
}

static void filters(request_rec *r, const prof_report_view_t *v,
                    const char *action, int lists)
{
    const prof_report_filter_t *f = v->f;
    static const char *const ranges[] = { "-1h", "-6h", "-24h", "-7d",
                                          "-30d", NULL };
    const char *status = NULL;
    int i;

    if (f->status_lo) {
        status = f->status_hi - f->status_lo == 99
                 ? apr_psprintf(r->pool, "%dxx", f->status_lo / 100)
                 : apr_itoa(r->pool, f->status_lo);
    }
    ap_rprintf(r, "<form class=\"filters\" method=\"get\" action=\"%s%s\">",
               h(r, v->base), action);
    if (!v->live) {
        input(r, "from", "From", iso_min(r->pool, f->from_us), "-24h");
        input(r, "to", "To", iso_min(r->pool, f->to_us), "now");
    }
    input(r, "route", "Route", f->route, "/item/:id");
    if (lists) {
        input(r, "path", "Path prefix", f->path, "/api/");
    }
    input(r, "method", "Method", f->method, "GET");
    input(r, "status", "Status", status, lists ? "404 or 5xx" : "5xx");
    input(r, "vhost", "Vhost", f->vhost, "");
    input(r, "server", "Server", f->server, "");
    if (lists) {
        input(r, "min_ms", "Min ms",
              f->min_us >= 0 ? apr_psprintf(r->pool, "%.3f",
                                            (double)f->min_us / 1e3) : NULL,
              "");
        input(r, "max_ms", "Max ms",
              f->max_us >= 0 ? apr_psprintf(r->pool, "%.3f",
                                            (double)f->max_us / 1e3) : NULL,
              "");
    }
    ap_rputs("<button type=\"submit\">Apply</button></form>", r);
    if (v->live) {
        return;
    }
    ap_rputs("<p class=\"ranges\">Last ", r);
    for (i = 0; ranges[i]; ++i) {
        const char *over[] = { "from", ranges[i], "to", "now", NULL };

        ap_rprintf(r, "<a href=\"%s%s%s\">%s</a> ", h(r, v->base), action,
                   h(r, link_args(r, v, over)), ranges[i] + 1);
    }
    ap_rputs("</p>\n", r);
}

/* ---- SVG charts ------------------------------------------------------- */

#define CW 720      /* chart width */
#define CH 200      /* chart height */
#define ML 56       /* left margin: the axis labels */
#define MR 56
#define MT 12
#define MB 28

static apr_int64_t nice_max(apr_int64_t v)
{
    apr_int64_t m = 1;

    while (m < v) {
        if (m * 2 >= v) {
            return m * 2;
        }
        if (m * 5 >= v) {
            return m * 5;
        }
        m *= 10;
    }
    return m;
}

/* Requests per bucket (bars, left axis) and p95 (line and dots, right
 * axis). The line is drawn after the bars, thicker and in a colour the bars
 * do not use, with an axis of its own: the two scales have nothing in
 * common. A dot per bucket, because a range of one bucket has no line. */
static void chart_series(request_rec *r, const apr_array_header_t *series,
                         apr_int64_t bucket_us)
{
    apr_pool_t *p = r->pool;
    apr_int64_t cmax = 1, pmax = 1;
    int i, n = series->nelts, pw = CW - ML - MR, ph = CH - MT - MB;
    double bw;
    const char *line = "", *dots = "";

    for (i = 0; i < n; ++i) {
        const prof_report_group_t *g =
            APR_ARRAY_IDX(series, i, prof_report_group_t *);

        cmax = (apr_int64_t)g->count > cmax ? (apr_int64_t)g->count : cmax;
        pmax = g->p95_us > pmax ? g->p95_us : pmax;
    }
    cmax = nice_max(cmax);
    pmax = nice_max(pmax);
    bw = n ? (double)pw / n : pw;
    ap_rprintf(r, "<figure><figcaption>Requests per %s and p95 latency "
               "<span class=\"key\"><i class=\"key-bar\"></i>requests (left "
               "axis) <i class=\"key-p95\"></i>p95 (right axis)</span>"
               "</figcaption><svg class=\"chart\" id=\"chart-series\" "
               "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"requests and "
               "p95 over time\">",
               bucket_us >= APR_INT64_C(3600000000)
               ? apr_psprintf(p, "%" APR_INT64_T_FMT " h",
                              bucket_us / APR_INT64_C(3600000000))
               : apr_psprintf(p, "%" APR_INT64_T_FMT " min",
                              bucket_us / APR_INT64_C(60000000)), CW, CH);
    /* Both axes, each with its top, middle and 0. */
    ap_rprintf(r, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
               "y2=\"%d\"/><line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
               "y2=\"%d\"/><line class=\"axis p95-axis\" x1=\"%d\" y1=\"%d\" "
               "x2=\"%d\" y2=\"%d\"/>", ML, MT + ph, ML + pw, MT + ph, ML, MT,
               ML, MT + ph, ML + pw, MT, ML + pw, MT + ph);
    ap_rprintf(r, "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%"
               APR_INT64_T_FMT "</text><text class=\"lbl\" x=\"%d\" y=\"%d\" "
               "text-anchor=\"end\">%" APR_INT64_T_FMT "</text><text class=\""
               "lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>",
               ML - 4, MT + 10, cmax, ML - 4, MT + ph / 2 + 4, cmax / 2,
               ML - 4, MT + ph);
    ap_rprintf(r, "<text class=\"lbl p95\" x=\"%d\" y=\"%d\">%s</text>"
               "<text class=\"lbl p95\" x=\"%d\" y=\"%d\">%s</text>"
               "<text class=\"lbl p95\" x=\"%d\" y=\"%d\">0</text>",
               ML + pw + 4, MT + 10, h(r, ms_txt(p, pmax)), ML + pw + 4,
               MT + ph / 2 + 4, h(r, ms_txt(p, pmax / 2)), ML + pw + 4,
               MT + ph);
    for (i = 0; i < n; ++i) {
        const prof_report_group_t *g =
            APR_ARRAY_IDX(series, i, prof_report_group_t *);
        double x = ML + i * bw, bh = (double)ph * (double)g->count / cmax;
        double y = MT + ph - (double)ph * (double)g->p95_us / pmax;

        ap_rprintf(r, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
                   "width=\"%.1f\" height=\"%.1f\"><title>%s: %"
                   APR_UINT64_T_FMT " requests, p95 %s</title></rect>",
                   x + 0.5, MT + ph - bh, bw > 2 ? bw - 1 : bw, bh,
                   time_txt(p, g->t_us), g->count, ms_txt(p, g->p95_us));
        if (g->count) {
            line = apr_psprintf(p, "%s%.1f,%.1f ", line, x + bw / 2, y);
            dots = apr_psprintf(p, "%s<circle class=\"p95-dot\" cx=\"%.1f\" "
                                "cy=\"%.1f\" r=\"%.1f\"><title>%s: p95 %s"
                                "</title></circle>", dots, x + bw / 2, y,
                                n > 120 ? 1.5 : 3.0, time_txt(p, g->t_us),
                                ms_txt(p, g->p95_us));
        }
        if (n <= 12 || i % (n / 6) == 0) {
            ap_rprintf(r, "<text class=\"lbl\" x=\"%.1f\" y=\"%d\">%s</text>",
                       x, CH - 8, time_txt(p, g->t_us) + 11);
        }
    }
    if (*line) {
        ap_rprintf(r, "<polyline class=\"p95\" points=\"%s\"/>%s", line,
                   dots);
    }
    ap_rputs("</svg></figure>\n", r);
}

/* The latency distribution: one bar per histogram bucket between the
 * first and the last that hold anything, with p50, p95 and p99 marked and
 * written out. */
static void chart_hist(request_rec *r, const prof_report_group_t *all)
{
    apr_pool_t *p = r->pool;
    int first = -1, last = -1, b, k, pw = CW - ML - MR, ph = CH - MT - MB;
    apr_uint64_t top = 1;
    double bw;
    const struct { const char *name; apr_int64_t us; } marks[] = {
        { "p50", all->p50_us }, { "p95", all->p95_us },
        { "p99", all->p99_us }
    };

    for (b = 0; b < PROF_HIST_BUCKETS; ++b) {
        if (all->hist.n[b]) {
            first = first < 0 ? b : first;
            last = b;
            top = all->hist.n[b] > top ? all->hist.n[b] : top;
        }
    }
    ap_rprintf(r, "<figure><figcaption>Latency distribution (log scale: "
               "each bar is %.0f %% wider than the one before)</figcaption>"
               "<svg class=\"chart\" id=\"chart-hist\" viewBox=\"0 0 %d %d\" "
               "role=\"img\" aria-label=\"latency histogram\">",
               (1.0905 - 1) * 100, CW, CH);
    ap_rprintf(r, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
               "y2=\"%d\"/>", ML, MT + ph, ML + pw, MT + ph);
    if (first < 0) {
        ap_rprintf(r, "<text class=\"lbl\" x=\"%d\" y=\"%d\">no requests in "
                   "this range</text></svg></figure>\n", ML + 8, MT + 40);
        return;
    }
    bw = (double)pw / (last - first + 1);
    for (b = first; b <= last; ++b) {
        apr_interval_time_t lo, hi;
        double bh = (double)ph * (double)all->hist.n[b] / (double)top;
        double x = ML + (b - first) * bw;

        prof_hist_bounds((apr_uint32_t)b, &lo, &hi);
        ap_rprintf(r, "<rect class=\"bar hist\" x=\"%.1f\" y=\"%.1f\" "
                   "width=\"%.1f\" height=\"%.1f\"><title>%s to %s: %"
                   APR_UINT64_T_FMT "</title></rect>", x, MT + ph - bh,
                   bw > 1.5 ? bw - 0.5 : bw, bh, ms_txt(p, lo),
                   ms_txt(p, hi), all->hist.n[b]);
        if (b == first || b == last
            || ((b - first) % 16 == 0 && last - b >= 16)) {
            ap_rprintf(r, "<text class=\"lbl\" x=\"%.1f\" y=\"%d\"%s>%s"
                       "</text>", b == last && b != first ? x + bw : x,
                       CH - 8, b == last && b != first
                               ? " text-anchor=\"end\"" : "", ms_txt(p, lo));
        }
    }
    /* The percentiles, each on a line of its own so that close ones stay
     * readable; the label goes left of the marker near the right edge. */
    for (k = 0; k < 3; ++k) {
        int mb = (int)prof_hist_bucket(marks[k].us);
        double x;

        mb = mb < first ? first : mb > last ? last : mb;
        x = ML + (mb - first + 0.5) * bw;
        ap_rprintf(r, "<line class=\"pct\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" "
                   "y2=\"%d\"/><text class=\"lbl pct\" x=\"%.1f\" y=\"%d\"%s>"
                   "%s %s</text>", x, MT, x, MT + ph,
                   x > ML + pw * 0.75 ? x - 3 : x + 3, MT + 10 + 13 * k,
                   x > ML + pw * 0.75 ? " text-anchor=\"end\"" : "",
                   marks[k].name, ms_txt(p, marks[k].us));
    }
    ap_rprintf(r, "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">"
               "%" APR_UINT64_T_FMT "</text></svg></figure>\n", ML - 4,
               MT + 10, top);
}

/* A label for an SVG text, which cannot wrap: at most max characters
 * (UTF-8 sequences kept whole), with an ellipsis when cut. */
static const char *svg_label(apr_pool_t *p, const char *s, apr_size_t max)
{
    apr_size_t i = 0, chars = 0;

    if (!s) {
        return "";
    }
    while (s[i] && chars < max) {
        ++i;
        while (((unsigned char)s[i] & 0xC0) == 0x80) {
            ++i;
        }
        ++chars;
    }
    return s[i] ? apr_pstrcat(p, apr_pstrmemdup(p, s, i), "\xE2\x80\xA6",
                              NULL)
                : s;
}

/* Whether a group has phase durations at all (rows of a store that kept
 * none, or a group made without them): without, the bar would claim that
 * all the time was spent in no phase. */
static int group_has_phases(const prof_report_group_t *g)
{
    int k;

    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        if (g->phase_sum_us[k]) {
            return 1;
        }
    }
    return 0;
}

/* The share of a group's time in no phase: between our hooks, in httpd and
 * in other modules' hooks that run before ours (phases are disjoint, so
 * their sum never exceeds the total). */
static apr_int64_t group_nophase_us(const prof_report_group_t *g)
{
    apr_uint64_t in = 0;
    int k;

    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        in += g->phase_sum_us[k];
    }
    return g->sum_us > in ? (apr_int64_t)(g->sum_us - in) : 0;
}

/* One stacked bar of a group's phases, normalised to the group's own
 * total: the segments are shares, the caller writes the absolute mean. */
static void phase_bar(request_rec *r, const prof_report_group_t *g,
                      double x, double y, double w, int bh)
{
    apr_pool_t *p = r->pool;
    apr_int64_t gap = group_nophase_us(g);
    int k;

    if (!g->count || !g->sum_us || !group_has_phases(g)) {
        ap_rprintf(r, "<text class=\"lbl\" x=\"%.1f\" y=\"%.1f\">no phase "
                   "durations recorded</text>", x + 4, y + bh - 4.5);
        return;
    }
    for (k = 0; k <= PROF_REPORT_PHASES; ++k) {
        apr_uint64_t us = k < PROF_REPORT_PHASES ? g->phase_sum_us[k]
                                                 : (apr_uint64_t)gap;
        double share = (double)us / (double)g->sum_us;
        double sw = w * share;
        const char *name = k < PROF_REPORT_PHASES ? prof_phase_name(k)
                                                  : "(no phase)";

        if (sw < 0.2) {
            continue;
        }
        ap_rprintf(r, "<rect class=\"seg ph %s\" x=\"%.1f\" y=\"%.1f\" "
                   "width=\"%.1f\" height=\"%d\"><title>%s %s: %s mean, "
                   "%.1f %%</title></rect>",
                   k < PROF_REPORT_PHASES
                   ? apr_pstrcat(p, "ph-", name, NULL) : "gap", x, y, sw, bh,
                   h(r, g->route), name,
                   ms_txt(p, (apr_int64_t)(us / g->count)), share * 100);
        if (sw >= 36) {
            ap_rprintf(r, "<text class=\"lbl in\" x=\"%.1f\" y=\"%.1f\" "
                       "text-anchor=\"middle\">%.0f %%</text>", x + sw / 2,
                       y + bh - 4.5, share * 100);
        }
        x += sw;
    }
}

static void phase_legend(request_rec *r, int y0)
{
    int k;

    for (k = 0; k <= PROF_REPORT_PHASES; ++k) {
        int x = 20 + (k % 7) * 100, y = y0 + (k / 7) * 16;

        ap_rprintf(r, "<rect class=\"swatch ph %s%s\" x=\"%d\" y=\"%d\" "
                   "width=\"10\" height=\"10\"/><text class=\"lbl\" x=\"%d\" "
                   "y=\"%d\">%s</text>", k < PROF_REPORT_PHASES ? "ph-" : "gap",
                   k < PROF_REPORT_PHASES ? prof_phase_name(k) : "", x, y,
                   x + 14, y + 9,
                   k < PROF_REPORT_PHASES ? prof_phase_name(k)
                                          : "(no phase)");
    }
}

/* Where the mean request of each route spends its time: a bar per route
 * (the ten with the most total time), a segment per phase. Each bar is its
 * own route's mean, drawn full width, with that mean written beside it: on
 * one shared scale a route a thousand times slower than the others leaves
 * them a pixel each, and a log scale would not do either, because the log
 * of a sum is not the sum of the logs: stacked segments on it cannot be
 * compared. Shares per route and the absolute number keep both readable. */
static void chart_phases(request_rec *r, const prof_report_view_t *v,
                         const apr_array_header_t *summary)
{
    apr_pool_t *p = r->pool;
    int n = summary->nelts < 10 ? summary->nelts : 10, i;
    int rowh = 22, lw = 200, rw = 86, pw = CW - lw - rw - 10;
    int height = MT + n * rowh + 8 + 3 * 16;

    ap_rprintf(r, "<figure><figcaption>Phases of the mean request, per route: "
               "each bar is that route's mean (100 %%), the number its mean "
               "in ms</figcaption><svg class=\"chart\" id=\"chart-phases\" "
               "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"phase "
               "breakdown per route\">", CW, height);
    for (i = 0; i < n; ++i) {
        const prof_report_group_t *g =
            APR_ARRAY_IDX(summary, i, prof_report_group_t *);
        double y = MT + i * rowh;
        const char *over[] = { "route", g->route, "group", NULL, NULL };

        ap_rprintf(r, "%s<text class=\"lbl route\" x=\"%d\" y=\"%.0f\" "
                   "text-anchor=\"end\">%s<title>%s</title></text>%s",
                   v->live ? "" : apr_pstrcat(p, "<a href=\"", h(r, v->base),
                                              "/requests",
                                              h(r, link_args(r, v, over)),
                                              "\">", NULL),
                   lw - 6, y + 14, h(r, svg_label(p, g->route, 27)),
                   h(r, g->route), v->live ? "" : "</a>");
        phase_bar(r, g, lw, y + 3, pw, rowh - 6);
        ap_rprintf(r, "<text class=\"lbl num mean\" x=\"%d\" y=\"%.0f\" "
                   "text-anchor=\"end\">%s</text>", CW - 4, y + 14,
                   ms_txt(p, mean_us(g)));
    }
    phase_legend(r, MT + n * rowh + 8);
    ap_rputs("</svg></figure>\n", r);
}

/* ---- pages ------------------------------------------------------------ */

static const char *const sum_cols[][2] = {
    { "count", "Requests" }, { "total", "Total" }, { "mean", "Mean" },
    { "p50", "p50" }, { "p95", "p95" }, { "p99", "p99" }, { "max", "Max" },
    { "errors", "5xx" }, { NULL, NULL }
};

static void summary_table(request_rec *r, const prof_report_view_t *v,
                          const apr_array_header_t *summary)
{
    apr_pool_t *p = r->pool;
    const prof_report_filter_t *f = v->f;
    const char *cur = v->sort ? v->sort : "total";
    int i, k;

    ap_rputs("<div class=\"scroll\"><table class=\"summary\" id=\"summary\">"
             "<thead><tr>", r);
    {
        const char *over[] = { "sort", "route", "order",
                               !strcmp(cur, "route") && !f->desc ? "desc"
                                                                 : "asc",
                               NULL };

        ap_rprintf(r, "<th><a href=\"%s/%s\">Route</a></th>", h(r, v->base),
                   h(r, link_args(r, v, over)));
    }
    if (f->group & PROF_GROUP_METHOD) ap_rputs("<th>Method</th>", r);
    if (f->group & PROF_GROUP_STATUS) ap_rputs("<th>Status</th>", r);
    if (f->group & PROF_GROUP_VHOST) ap_rputs("<th>Vhost</th>", r);
    if (f->group & PROF_GROUP_SERVER) ap_rputs("<th>Server</th>", r);
    for (k = 0; sum_cols[k][0]; ++k) {
        const char *over[] = { "sort", sum_cols[k][0], "order",
                               !strcmp(cur, sum_cols[k][0]) && f->desc
                               ? "asc" : "desc", NULL };

        ap_rprintf(r, "<th class=\"num%s\"><a href=\"%s/%s\">%s</a></th>",
                   !strcmp(cur, sum_cols[k][0]) ? " sorted" : "",
                   h(r, v->base), h(r, link_args(r, v, over)),
                   sum_cols[k][1]);
    }
    ap_rputs("<th class=\"num\">4xx</th></tr></thead><tbody>\n", r);
    for (i = 0; i < summary->nelts; ++i) {
        const prof_report_group_t *g =
            APR_ARRAY_IDX(summary, i, prof_report_group_t *);
        const char *over[] = { "route", g->route, "sort", NULL, "order",
                               NULL, "group", NULL, NULL };

        if (v->live) {
            ap_rprintf(r, "<tr><td class=\"route\">%s</td>", h(r, g->route));
        }
        else {
            ap_rprintf(r, "<tr><td><a class=\"route\" href=\"%s/requests%s\">"
                       "%s</a></td>", h(r, v->base),
                       h(r, link_args(r, v, over)), h(r, g->route));
        }
        if (f->group & PROF_GROUP_METHOD)
            ap_rprintf(r, "<td>%s</td>", h(r, g->method));
        if (f->group & PROF_GROUP_STATUS)
            ap_rprintf(r, "<td>%dxx</td>", g->status_class);
        if (f->group & PROF_GROUP_VHOST)
            ap_rprintf(r, "<td>%s</td>", h(r, g->vhost));
        if (f->group & PROF_GROUP_SERVER)
            ap_rprintf(r, "<td>%s</td>", h(r, g->server));
        ap_rprintf(r, "<td class=\"num\">%" APR_UINT64_T_FMT "</td><td "
                   "class=\"num\">%s</td><td class=\"num\">%s</td><td "
                   "class=\"num\">%s</td><td class=\"num\">%s</td><td "
                   "class=\"num\">%s</td><td class=\"num\">%s</td><td "
                   "class=\"num\">%s</td><td class=\"num\">%s</td></tr>\n",
                   g->count,
                   ms_txt(p, (apr_int64_t)g->sum_us),
                   ms_txt(p, mean_us(g)),
                   ms_txt(p, g->p50_us), ms_txt(p, g->p95_us),
                   ms_txt(p, g->p99_us), ms_txt(p, g->max_us),
                   pct_txt(p, g->errors, g->count),
                   pct_txt(p, g->client_errors, g->count));
    }
    if (summary->nelts == 0) {
        ap_rputs("<tr><td colspan=\"10\">No requests recorded in this range."
                 "</td></tr>", r);
    }
    ap_rputs("</tbody></table></div>\n", r);
}

static const char *age_txt(apr_pool_t *p, apr_int64_t us)
{
    if (us <= 0) {
        return "off";
    }
    if (us % apr_time_from_sec(86400) == 0) {
        return apr_psprintf(p, "%" APR_INT64_T_FMT " days",
                            us / apr_time_from_sec(86400));
    }
    return apr_psprintf(p, "%" APR_INT64_T_FMT " s", apr_time_sec(us));
}

static void health_box(request_rec *r, const prof_report_view_t *v,
                       const prof_report_health_t *hl)
{
    apr_pool_t *p = r->pool;

    ap_rputs("<section class=\"health\" id=\"health\"><h2>Store</h2>", r);
    if (!hl->ok) {
        ap_rputs("<p class=\"error\">The store's counters cannot be read."
                 "</p></section>\n", r);
        return;
    }
    ap_rprintf(r, "<dl><dt>Database</dt><dd>%s, tables %s*</dd>"
               "<dt>Requests</dt><dd id=\"health-requests\">%" APR_INT64_T_FMT
               "</dd><dt>Spans</dt><dd>%" APR_INT64_T_FMT "</dd>"
               "<dt>Rollup rows</dt><dd>%" APR_INT64_T_FMT "</dd>"
               "<dt>Oldest, newest</dt><dd>%s, %s</dd>"
               "<dt>Writers</dt><dd>%d: %" APR_INT64_T_FMT " rows written, "
               "<span id=\"health-dropped\">%" APR_INT64_T_FMT "</span> "
               "dropped (queue full), %" APR_INT64_T_FMT " failed</dd>"
               "<dt>Retention</dt><dd>requests %s, rollups %s, at most %"
               APR_INT64_T_FMT " requests</dd></dl>",
               h(r, hl->dialect), h(r, hl->prefix), hl->requests, hl->spans,
               hl->rollups,
               hl->oldest_us ? time_txt(p, hl->oldest_us) : "-",
               hl->newest_us ? time_txt(p, hl->newest_us) : "-",
               hl->writers, hl->written, hl->dropped, hl->failed,
               age_txt(p, hl->retention_us),
               age_txt(p, hl->rollup_retention_us), hl->retention_rows);
    ap_rprintf(r, "<form method=\"post\" action=\"%s/actions/prune\" "
               "class=\"inline\"><button type=\"submit\">Apply retention "
               "now</button></form> <form method=\"post\" action=\"%s/"
               "actions/clear\" class=\"inline danger\"><button type=\""
               "submit\" data-confirm=\"Delete every recorded request and "
               "rollup?\">Clear the store</button></form></section>\n",
               h(r, v->base), h(r, v->base));
}

/* The key numbers of a group, as numbers. */
static void stat_cards(request_rec *r, const prof_report_group_t *g,
                       const char *id)
{
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "<section class=\"cards\" id=\"%s\"><div><b id=\"%s-count\">"
               "%" APR_UINT64_T_FMT "</b>requests</div><div><b>%s</b>mean"
               "</div><div><b>%s</b>p50</div><div><b>%s</b>p95</div><div><b>"
               "%s</b>p99</div><div><b>%s</b>max</div><div><b>%s</b>5xx</div>"
               "<div><b>%s</b>4xx</div></section>\n", id, id, g->count,
               ms_txt(p, mean_us(g)),
               ms_txt(p, g->p50_us), ms_txt(p, g->p95_us),
               ms_txt(p, g->p99_us), ms_txt(p, g->count ? g->max_us : 0),
               pct_txt(p, g->errors, g->count),
               pct_txt(p, g->client_errors, g->count));
}

/* A route's mean request, phase by phase: one bar (shares) and a table
 * (the mean of each phase and its share), "(no phase)" included. */
static void route_phases(request_rec *r, const prof_report_group_t *g)
{
    apr_pool_t *p = r->pool;
    apr_int64_t gap = group_nophase_us(g);
    int k, pw = CW - 40;

    ap_rprintf(r, "<figure><figcaption>Phases of the mean request (%s)"
               "</figcaption><svg class=\"chart\" id=\"route-phases\" "
               "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"phase "
               "breakdown of the route\">",
               ms_txt(p, mean_us(g)),
               CW, 28 + 8 + 3 * 16);
    phase_bar(r, g, 20, 4, pw, 22);
    phase_legend(r, 36);
    ap_rputs("</svg></figure><div class=\"scroll\"><table class=\"phases\" "
             "id=\"route-phase-table\">"
             "<thead><tr><th>Phase</th><th class=\"num\">Mean</th>"
             "<th class=\"num\">Share</th></tr></thead><tbody>", r);
    for (k = 0; k <= PROF_REPORT_PHASES && g->count && group_has_phases(g);
         ++k) {
        apr_uint64_t us = k < PROF_REPORT_PHASES ? g->phase_sum_us[k]
                                                 : (apr_uint64_t)gap;

        if (!us) {
            continue;
        }
        ap_rprintf(r, "<tr><td>%s</td><td class=\"num\">%s</td><td "
                   "class=\"num\">%s</td></tr>",
                   k < PROF_REPORT_PHASES ? prof_phase_name(k)
                                          : "(no phase)",
                   ms_txt(p, (apr_int64_t)(us / g->count)),
                   pct_txt(p, us, g->sum_us));
    }
    ap_rputs("</tbody></table></div>\n", r);
}

/* ProfilerModuleTiming on a route: each module's share of the phase it
 * ran in (of handler and body together for the output filters), over the
 * stored requests that have module times, drawn as a bar per module. */
static void route_modules(request_rec *r,
                          const prof_report_route_modules_t *rm)
{
    apr_pool_t *p = r->pool;
    apr_int64_t n = rm->requests > 0 ? rm->requests : 1;
    int i, bw = 240;

    ap_rprintf(r, "<section class=\"route-modules\" id=\"route-modules\">"
               "<h2>Modules</h2><p class=\"note\">Each module's own time in "
               "a phase (ProfilerModuleTiming), per request and as a share "
               "of that phase, over the %" APR_INT64_T_FMT " stored request%s "
               "of the route that have module times. Output filters' shares "
               "are of handler and body together.</p><div class=\"scroll\">"
               "<table class=\"modules\" id=\"route-module-table\"><thead><tr>"
               "<th>Phase</th><th>Module</th><th class=\"num\">Per request"
               "</th><th class=\"num\">Calls per request</th><th>Share of "
               "the phase</th></tr></thead><tbody>", rm->requests,
               rm->requests == 1 ? "" : "s");
    for (i = 0; i < rm->modules->nelts; ++i) {
        const prof_report_module_t *m =
            APR_ARRAY_IDX(rm->modules, i, prof_report_module_t *);
        int filter = !strcmp(m->phase, "filter");
        apr_int64_t of = 0;
        int k;
        double share;

        for (k = 0; k < PROF_REPORT_PHASES; ++k) {
            if (filter ? (k == PROF_PHASE_HANDLER || k == PROF_PHASE_BODY)
                       : !strcmp(m->phase, prof_phase_name(k))) {
                of += rm->phase_us[k];
            }
        }
        share = of > 0 ? (double)m->dur_us / (double)of : 0.0;
        share = share > 1.0 ? 1.0 : share;
        ap_rprintf(r, "<tr><td>%s</td><td>%s%s</td><td class=\"num\">%s"
                   "</td><td class=\"num\">%.2f</td><td><svg class=\"share\" "
                   "width=\"%d\" height=\"14\" viewBox=\"0 0 %d 14\" role="
                   "\"img\" aria-label=\"%.1f %%\"><rect class=\"track\" "
                   "x=\"0\" y=\"2\" width=\"%d\" height=\"10\"/><rect "
                   "class=\"ph-%s\" x=\"0\" y=\"2\" width=\"%.1f\" height="
                   "\"10\"/><text class=\"lbl in\" x=\"%d\" y=\"11\" "
                   "text-anchor=\"end\">%.1f %%</text></svg></td></tr>",
                   h(r, m->phase), filter ? "filter." : "", h(r, m->module),
                   ms_txt(p, m->dur_us / n), (double)m->calls / (double)n,
                   bw, bw, share * 100.0, bw,
                   filter ? "handler" : h(r, m->phase), share * bw, bw - 2,
                   share * 100.0);
    }
    ap_rputs("</tbody></table></div></section>\n", r);
}

void prof_report_page_dashboard(request_rec *r, const prof_report_view_t *v,
                                const apr_array_header_t *summary,
                                const apr_array_header_t *series,
                                apr_int64_t bucket_us,
                                const prof_report_group_t *all,
                                const prof_report_health_t *health)
{
    apr_pool_t *p = r->pool;

    head(r, v, "Summary");
    ap_rprintf(r, "<h1>Where the time goes</h1><p class=\"range\">%s to %s"
               "</p>", time_txt(p, v->f->from_us), time_txt(p, v->f->to_us));
    if (v->live) {
        ap_rputs("<p class=\"note\" id=\"live-note\">Live: every request "
                 "counted in shared memory since the server started (a "
                 "graceful restart keeps the counts). There is no database "
                 "(no DBDriver): the request list, time series and the "
                 "store's health need ProfilerStore's database.</p>", r);
    }
    filters(r, v, "/", 0);
    stat_cards(r, all, "cards");
    ap_rputs("<section class=\"charts\">", r);
    if (!v->live) {
        chart_series(r, series, bucket_us);
    }
    chart_hist(r, all);
    chart_phases(r, v, summary);
    ap_rputs("</section><h2>Routes</h2>", r);
    summary_table(r, v, summary);
    {
        const char *over[] = { "sort", v->sort, "order",
                               v->f->desc ? "desc" : "asc", NULL };

        ap_rprintf(r, "<p class=\"export\"><a href=\"%s/api/v1/summary%s\">"
                   "JSON</a> <a href=\"%s/api/v1/summary%s%sformat=csv\">CSV"
                   "</a></p>", h(r, v->base), h(r, link_args(r, v, over)),
                   h(r, v->base), h(r, link_args(r, v, over)),
                   *link_args(r, v, over) ? "&amp;" : "?");
    }
    if (health) {
        health_box(r, v, health);
    }
    foot(r, v);
}

void prof_report_page_requests(request_rec *r, const prof_report_view_t *v,
                               const apr_array_header_t *reqs,
                               const char *next_cursor,
                               const prof_report_group_t *route_stats,
                               const prof_report_route_modules_t *route_mods)
{
    static const char *const cols[][2] = {
        { "start", "Start" }, { NULL, "Method" }, { NULL, "Protocol" },
        { NULL, "Path" },
        { NULL, "Route" }, { "status", "Status" }, { "total", "Total" },
        { "ttfb", "TTFB" }, { "bytes", "Bytes" }, { NULL, NULL }
    };
    apr_pool_t *p = r->pool;
    const prof_report_filter_t *f = v->f;
    const char *cur = prof_report_sort_name(f->sort);
    const char *args;
    int i, k;

    head(r, v, "Requests");
    ap_rprintf(r, "<h1>Requests%s%s</h1>", f->route ? " of " : "",
               f->route ? h(r, f->route) : "");
    filters(r, v, "/requests", 1);
    if (route_stats) {
        ap_rprintf(r, "<section class=\"route-stats\" id=\"route-stats\">"
                   "<h2>The route from %s to %s</h2>",
                   time_txt(p, f->from_us), time_txt(p, f->to_us));
        stat_cards(r, route_stats, "route-cards");
        ap_rputs("<section class=\"charts\">", r);
        chart_hist(r, route_stats);
        route_phases(r, route_stats);
        ap_rputs("</section>", r);
        if (route_mods) {
            route_modules(r, route_mods);
        }
        ap_rputs("</section><h2>Requests</h2>", r);
    }
    ap_rputs("<div class=\"scroll\"><table class=\"requests\" id=\"requests\">"
             "<thead><tr>", r);
    for (k = 0; cols[k][1]; ++k) {
        if (cols[k][0]) {
            const char *over[] = { "sort", cols[k][0], "order",
                                   !strcmp(cur, cols[k][0]) && f->desc
                                   ? "asc" : "desc", NULL };

            ap_rprintf(r, "<th%s><a href=\"%s/requests%s\">%s</a></th>",
                       !strcmp(cur, cols[k][0]) ? " class=\"sorted\"" : "",
                       h(r, v->base), h(r, link_args(r, v, over)),
                       cols[k][1]);
        }
        else {
            ap_rprintf(r, "<th>%s</th>", cols[k][1]);
        }
    }
    ap_rputs("</tr></thead><tbody>\n", r);
    for (i = 0; i < reqs->nelts; ++i) {
        const prof_report_req_t *q =
            APR_ARRAY_IDX(reqs, i, prof_report_req_t *);

        ap_rprintf(r, "<tr><td class=\"time\">%s</td><td>%s</td><td "
                   "class=\"proto\">%s</td><td><a class=\"req\" "
                   "href=\"%s/requests/%" APR_INT64_T_FMT "\">%s</a></td>"
                   "<td>%s</td><td class=\"num\">%d</td><td class=\"num\">%s"
                   "</td><td class=\"num\">%s</td><td class=\"num\">%"
                   APR_INT64_T_FMT "</td></tr>\n", time_ms_txt(p, q->start_us),
                   h(r, q->method), h(r, q->protocol ? q->protocol : ""),
                   h(r, v->base), q->id, h(r, q->path),
                   h(r, q->route), q->status, ms_txt(p, q->total_us),
                   ms_txt(p, q->ttfb_us), q->bytes_sent);
    }
    if (reqs->nelts == 0) {
        ap_rputs("<tr><td colspan=\"9\">No requests match.</td></tr>", r);
    }
    ap_rputs("</tbody></table></div>", r);
    {
        const char *over[] = { "sort", cur, "order",
                               f->desc ? "desc" : "asc", NULL };

        args = link_args(r, v, over);
    }
    if (f->min_us >= 0) {
        args = apr_pstrcat(p, args, *args ? "&" : "?", "min_ms=",
                           apr_psprintf(p, "%.3f", (double)f->min_us / 1e3),
                           NULL);
    }
    if (f->max_us >= 0) {
        args = apr_pstrcat(p, args, *args ? "&" : "?", "max_ms=",
                           apr_psprintf(p, "%.3f", (double)f->max_us / 1e3),
                           NULL);
    }
    if (next_cursor) {
        ap_rprintf(r, "<p class=\"pager\"><a id=\"next\" href=\"%s/requests"
                   "%s%scursor=%s\">Next page</a></p>", h(r, v->base),
                   h(r, args), *args ? "&amp;" : "?",
                   h(r, qv(p, next_cursor)));
    }
    ap_rprintf(r, "<p class=\"export\"><a href=\"%s/api/v1/requests%s\">JSON"
               "</a> <a href=\"%s/api/v1/requests%s%sformat=csv\">CSV</a>"
               "</p>", h(r, v->base), h(r, args), h(r, v->base), h(r, args),
               *args ? "&amp;" : "?");
    foot(r, v);
}

void prof_report_phase_offsets(const prof_report_req_t *req,
                               apr_int64_t *out)
{
    apr_int64_t t = 0;
    int k;

    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        out[k] = t;
        t += req->dur_us[k] > 0 ? req->dur_us[k] : 0;
    }
}

/* A stretch of a request's time: a phase, or time in no phase. */
typedef struct {
    int phase;                  /**< -1: no phase */
    apr_int64_t at_us, dur_us;
} wf_piece_t;

/* The request's phases and the gaps between them, in the order of their
 * start; at[] is where each phase is drawn (-1: nowhere). A gap is time
 * inside the request that no phase covers: httpd between our hooks, and
 * the hooks of other modules that run before ours. A phase that ran more
 * than once (an internal redirect) is drawn from its first start with its
 * summed duration, so it may hide a gap: the sum stays exact only for the
 * usual single run. Returns the number of pieces (at most
 * 2 * PROF_REPORT_PHASES + 1). */
static int wf_pieces(const prof_report_req_t *q, const apr_int64_t *at,
                     wf_piece_t *out)
{
    int idx[PROF_REPORT_PHASES], n = 0, i, j, k, np = 0;
    apr_int64_t cur = 0;

    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        if (at[k] < 0 || q->dur_us[k] <= 0) {
            continue;
        }
        for (i = n; i > 0 && at[idx[i - 1]] > at[k]; --i) {
            idx[i] = idx[i - 1];
        }
        idx[i] = k;
        ++n;
    }
    for (j = 0; j < n; ++j) {
        k = idx[j];
        if (at[k] > cur) {
            out[np].phase = -1;
            out[np].at_us = cur;
            out[np++].dur_us = at[k] - cur;
        }
        out[np].phase = k;
        out[np].at_us = at[k];
        out[np++].dur_us = q->dur_us[k];
        cur = at[k] + q->dur_us[k] > cur ? at[k] + q->dur_us[k] : cur;
    }
    if (q->total_us > cur) {
        out[np].phase = -1;
        out[np].at_us = cur;
        out[np++].dur_us = q->total_us - cur;
    }
    return np;
}

#define WW 960      /* the waterfall's width */
#define WL 180      /* its labels */
#define WR 84       /* its durations, right of the bars */

/* One row of the waterfall: the label, bars (x and width in µs), and the
 * duration written out at the right. */
static void wf_row(request_rec *r, int y, const char *label,
                   const char *cls, const char *dur)
{
    ap_rprintf(r, "<text class=\"lbl %s\" x=\"%d\" y=\"%d\" text-anchor=\""
               "end\">%s</text><text class=\"lbl num dur\" x=\"%d\" y=\"%d\" "
               "text-anchor=\"end\">%s</text>", cls, WL - 6, y + 14, label,
               WW - 4, y + 14, dur);
}

static void wf_bar(request_rec *r, const char *cls, apr_int64_t at,
                   apr_int64_t dur, apr_int64_t scale, int y,
                   const char *title)
{
    int pw = WW - WL - WR - 8;

    ap_rprintf(r, "<rect class=\"wf %s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
               "height=\"14\"><title>%s</title></rect>", cls,
               WL + (double)pw * (double)at / (double)scale, y + 3,
               (double)pw * (double)dur / (double)scale + 0.5, title);
}

/* ---- profiles -------------------------------------------------------- */

static const char *ns_txt(apr_pool_t *p, apr_int64_t ns)
{
    return ns > 0 ? ms_txt(p, ns / 1000) : "0";
}

/* The top functions of a profile: self and total, in time (where the
 * profile has it) and share. */
static void top_table(request_rec *r, const prof_stacks_t *s, const char *id)
{
    apr_pool_t *p = r->pool;
    apr_int64_t all_s = 0, all_ns = 0;
    apr_array_header_t *top = prof_flame_top(s, 30, &all_s, &all_ns, p);
    int i;

    ap_rprintf(r, "<div class=\"scroll\"><table class=\"top\" id=\"%s\">"
               "<thead><tr><th>Function</th><th class=\"num\">Self</th>"
               "<th class=\"num\">Self %%</th><th class=\"num\">Total</th>"
               "<th class=\"num\">Total %%</th><th class=\"num\">Samples "
               "(self / total)</th></tr></thead><tbody>", id);
    for (i = 0; i < top->nelts; ++i) {
        const prof_flame_fn_t *fn = &APR_ARRAY_IDX(top, i, prof_flame_fn_t);

        ap_rprintf(r, "<tr><td>%s</td><td class=\"num\">%s</td>"
                   "<td class=\"num\">%s</td><td class=\"num\">%s</td>"
                   "<td class=\"num\">%s</td><td class=\"num\">%"
                   APR_INT64_T_FMT " / %" APR_INT64_T_FMT "</td></tr>",
                   prof_flame_escape(p, fn->name),
                   all_ns > 0 ? ns_txt(p, fn->self_ns) : "",
                   pct_txt(p, (apr_uint64_t)fn->self_samples,
                           (apr_uint64_t)all_s),
                   all_ns > 0 ? ns_txt(p, fn->total_ns) : "",
                   pct_txt(p, (apr_uint64_t)fn->total_samples,
                           (apr_uint64_t)all_s),
                   fn->self_samples, fn->total_samples);
    }
    if (top->nelts == 0) {
        ap_rputs("<tr><td colspan=\"6\">No samples.</td></tr>", r);
    }
    ap_rputs("</tbody></table></div>", r);
}

static void request_profile(request_rec *r, const prof_report_view_t *v,
                            const prof_report_req_t *q,
                            const prof_stacks_t *s)
{
    apr_pool_t *p = r->pool;
    prof_flame_opts_t o = { 1060, -1, NULL, "request-flame" };
    apr_int64_t samples = 0, waiting = 0;
    const char *api;
    int i;

    for (i = 0; i < s->stacks->nelts; ++i) {
        const prof_stack_t *st = &APR_ARRAY_IDX(s->stacks, i, prof_stack_t);

        samples += st->samples;
        waiting += st->state == PROF_STACK_WAITING ? st->samples : 0;
    }
    api = apr_psprintf(p, "%s/api/v1/requests/%" APR_INT64_T_FMT "/profile",
                       h(r, v->base), q->id);
    ap_rprintf(r, "<h2>Profile</h2><figure id=\"profile\"><figcaption>"
               "%s profile: %" APR_INT64_T_FMT " samples at %s Hz",
               s->wall ? "Wall-clock" : "CPU", samples,
               s->period_ns > 0 ? apr_psprintf(p, "%" APR_INT64_T_FMT,
                                               APR_INT64_C(1000000000)
                                               / s->period_ns) : "?");
    if (s->wall) {
        ap_rprintf(r, "; on the CPU %s, waiting %s (blue)",
                   pct_txt(p, (apr_uint64_t)(samples - waiting),
                           (apr_uint64_t)samples),
                   pct_txt(p, (apr_uint64_t)waiting, (apr_uint64_t)samples));
    }
    ap_rprintf(r, ". Hover a frame for its total and self time.</figcaption>"
               "%s</figure><p class=\"export\">Download: <a href=\"%s\">"
               "pprof</a> (go tool pprof) <a href=\"%s?format=folded\">"
               "folded stacks</a> <a href=\"%s?format=json\">JSON</a></p>"
               "<h3>Top functions</h3>",
               prof_flame_svg(s, &o, p), api, api, api);
    top_table(r, s, "request-top");
}

void prof_report_page_cpu(request_rec *r, const prof_report_view_t *v,
                          int seconds, int hz, const prof_report_cpu_t *cpu)
{
    apr_pool_t *p = r->pool;

    head(r, v, "CPU profile");
    ap_rprintf(r, "<h1>CPU profile of the whole server</h1>"
               "<form class=\"filters\" id=\"cpu-form\" method=\"get\" "
               "action=\"%s/cpu\"><label>Seconds <input name=\"seconds\" "
               "type=\"number\" min=\"1\" max=\"300\" value=\"%d\">"
               "</label><label>Samples per second <input name=\"hz\" "
               "type=\"number\" min=\"1\" max=\"1000\" value=\"%d\">"
               "</label><button type=\"submit\">Take a profile</button>"
               "</form><p class=\"note\">Every child process samples the CPU "
               "time of all its threads for that long, through the "
               "profiler-profile handler%s%s%s; the page loads when it is "
               "done. One profile runs at a time.</p>",
               h(r, v->base), seconds > 0 ? seconds : 10, hz,
               cpu && cpu->url ? " at <code>" : "",
               cpu && cpu->url ? h(r, cpu->url) : "",
               cpu && cpu->url ? "</code>" : "");
    if (cpu && cpu->status != HTTP_OK) {
        ap_rprintf(r, "<p class=\"error\" id=\"cpu-error\">%s</p>",
                   h(r, cpu->msg ? cpu->msg : "The profile failed."));
    }
    else if (cpu && cpu->stacks) {
        prof_flame_opts_t o = { 1060, -1, NULL, "cpu-flame" };
        apr_int64_t all_s = 0;
        int i;

        for (i = 0; i < cpu->stacks->stacks->nelts; ++i) {
            all_s += APR_ARRAY_IDX(cpu->stacks->stacks, i,
                                   prof_stack_t).samples;
        }
        ap_rprintf(r, "<figure id=\"cpu\"><figcaption>%d s at %d Hz: %"
                   APR_INT64_T_FMT " samples from %s. Hover a frame for its "
                   "total and self time.</figcaption>%s</figure>"
                   "<p class=\"export\">For pprof: <code>go tool pprof "
                   "'http://&lt;host&gt;%s?seconds=%d&amp;hz=%d'</code></p>"
                   "<h2>Top functions</h2>", seconds, hz, all_s,
                   cpu->processes >= 0
                   ? apr_psprintf(p, "%d process%s", cpu->processes,
                                  cpu->processes == 1 ? "" : "es")
                   : "the server's processes",
                   prof_flame_svg(cpu->stacks, &o, p), h(r, cpu->url),
                   seconds, hz);
        top_table(r, cpu->stacks, "cpu-top");
    }
    foot(r, v);
}

/* The module times of phase `name` (or "filter"), the longest first, as
 * the query gave them. */
static int modules_of(const apr_array_header_t *modules, const char *name,
                      const prof_report_module_t **out, int max)
{
    int i, n = 0;

    for (i = 0; modules && i < modules->nelts && n < max; ++i) {
        const prof_report_module_t *m =
            APR_ARRAY_IDX(modules, i, prof_report_module_t *);

        if (m->phase && strcmp(m->phase, name) == 0) {
            out[n++] = m;
        }
    }
    return n;
}

/* The most module rows drawn under one phase of the waterfall. */
#define WF_MODULES 12

void prof_report_page_request(request_rec *r, const prof_report_view_t *v,
                              const prof_report_req_t *q,
                              const apr_array_header_t *spans,
                              const apr_array_header_t *modules,
                              const prof_stacks_t *profile)
{
    const prof_report_module_t *mods[WF_MODULES];
    int nmods;
    apr_pool_t *p = r->pool;
    apr_int64_t at[PROF_REPORT_PHASES], scale = q->total_us, nophase = 0;
    wf_piece_t pieces[2 * PROF_REPORT_PHASES + 1];
    int i, k, np, gaps = 0, rows = 2, rowh = 20, y, height;

    /* Where each phase began: stored since schema 4; before, only where
     * it would have begun had the phases followed each other. */
    if (q->has_starts) {
        for (k = 0; k < PROF_REPORT_PHASES; ++k) {
            at[k] = q->start_offset_us[k];
        }
    }
    else {
        prof_report_phase_offsets(q, at);
    }
    np = wf_pieces(q, at, pieces);
    for (i = 0; i < np; ++i) {
        if (pieces[i].phase < 0) {
            nophase += pieces[i].dur_us;
            ++gaps;
        }
        scale = pieces[i].at_us + pieces[i].dur_us > scale
                ? pieces[i].at_us + pieces[i].dur_us : scale;
    }
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        rows += q->dur_us[k] > 0;
        if (q->dur_us[k] > 0) {
            rows += modules_of(modules, prof_phase_name(k), mods,
                               WF_MODULES);
        }
    }
    nmods = modules_of(modules, "filter", mods, WF_MODULES);
    rows += nmods ? nmods + 1 : 0;
    for (i = 0; i < spans->nelts; ++i) {
        const prof_report_span_t *sp =
            APR_ARRAY_IDX(spans, i, prof_report_span_t *);

        ++rows;
        scale = sp->start_us + sp->dur_us > scale ? sp->start_us + sp->dur_us
                                                  : scale;
    }
    scale = scale > 0 ? scale : 1;
    head(r, v, "Request");
    ap_rprintf(r, "<h1>%s %s</h1><dl class=\"request\" id=\"request\">"
               "<dt>Status</dt><dd>%d</dd><dt>Total</dt><dd class=\"num\">%s"
               "</dd><dt>Time to first byte</dt><dd class=\"num\">%s</dd>"
               "<dt>Started</dt><dd class=\"time\" id=\"started\">%s UTC</dd>"
               "<dt>Route</dt><dd>%s</dd><dt>Query</dt>"
               "<dd>%s</dd><dt>Vhost, server</dt><dd>%s, %s</dd>"
               "<dt>Protocol</dt><dd id=\"protocol\">%s</dd><dt>Bytes sent"
               "</dt><dd class=\"num\">%" APR_INT64_T_FMT "</dd><dt>Sample "
               "weight</dt><dd>%d</dd><dt>Id</dt><dd>%" APR_INT64_T_FMT
               "</dd></dl>",
               h(r, q->method), h(r, q->path), q->status,
               ms_txt(p, q->total_us), ms_txt(p, q->ttfb_us),
               time_ms_txt(p, q->start_us), h(r, q->route),
               q->query ? h(r, q->query) : "(not recorded)", h(r, q->vhost),
               h(r, q->server), h(r, q->protocol ? q->protocol : ""),
               q->bytes_sent, q->weight, q->id);
    height = MT + rows * rowh + 24;
    ap_rprintf(r, "<figure><figcaption>Waterfall: the phases where they ran, "
               "the time in no phase (httpd between hooks, and other modules' "
               "hooks that run before ours), then the spans modules added; "
               "durations on the right</figcaption>%s"
               "<svg class=\"chart\" id=\"waterfall\" viewBox=\"0 0 %d %d\" "
               "role=\"img\" aria-label=\"waterfall\">",
               q->has_starts ? ""
               : "<p class=\"note\" id=\"approximate\">Approximate offsets: "
                 "this request was recorded before the store kept when each "
                 "phase began, so each phase is drawn where the one before "
                 "it ended, and the time in no phase is drawn after the "
                 "last phase, not where it was spent.</p>", WW, height);
    y = MT;
    wf_row(r, y, "total", "", ms_txt(p, q->total_us));
    wf_bar(r, "total", 0, q->total_us, scale, y,
           apr_pstrcat(p, "total ", ms_txt(p, q->total_us), NULL));
    y += rowh;
    for (k = 0; k < PROF_REPORT_PHASES; ++k) {
        if (q->dur_us[k] <= 0) {
            continue;
        }
        wf_row(r, y, prof_phase_name(k), "", ms_txt(p, q->dur_us[k]));
        if (at[k] >= 0) {
            wf_bar(r, apr_pstrcat(p, "ph ph-", prof_phase_name(k), NULL),
                   at[k], q->dur_us[k], scale, y,
                   apr_psprintf(p, "%s: %s at %s%s", prof_phase_name(k),
                                ms_txt(p, q->dur_us[k]), q->has_starts
                                ? "" : "about ", ms_txt(p, at[k])));
        }
        y += rowh;
        /* ProfilerModuleTiming: each module's own time in the phase,
         * nested under it, drawn one after the other from the phase's
         * start (their order within the phase is not stored). */
        nmods = modules_of(modules, prof_phase_name(k), mods, WF_MODULES);
        {
            apr_int64_t mat = at[k] >= 0 ? at[k] : 0;

            for (i = 0; i < nmods; ++i) {
                wf_row(r, y, apr_pstrcat(p, "\xe2\x80\x83",
                                         h(r, svg_label(p, mods[i]->module,
                                                        22)), NULL),
                       "mod", ms_txt(p, mods[i]->dur_us));
                wf_bar(r, apr_pstrcat(p, "mod ph-", prof_phase_name(k),
                                      NULL), mat, mods[i]->dur_us, scale, y,
                       apr_psprintf(p, "%s in %s: %s, %" APR_INT64_T_FMT
                                    " call%s", h(r, mods[i]->module),
                                    prof_phase_name(k),
                                    ms_txt(p, mods[i]->dur_us),
                                    mods[i]->calls,
                                    mods[i]->calls == 1 ? "" : "s"));
                mat += mods[i]->dur_us;
                y += rowh;
            }
        }
    }
    /* The output filters' own times (they run in handler and body). */
    nmods = modules_of(modules, "filter", mods, WF_MODULES);
    if (nmods) {
        apr_int64_t fat = at[PROF_PHASE_HANDLER] >= 0
                          ? at[PROF_PHASE_HANDLER] : 0;

        wf_row(r, y, "output filters", "", "");
        y += rowh;
        for (i = 0; i < nmods; ++i) {
            wf_row(r, y, apr_pstrcat(p, "\xe2\x80\x83" "filter.",
                                     h(r, svg_label(p, mods[i]->module, 18)),
                                     NULL),
                   "mod", ms_txt(p, mods[i]->dur_us));
            wf_bar(r, "mod filter", fat, mods[i]->dur_us, scale, y,
                   apr_psprintf(p, "filter %s: %s, %" APR_INT64_T_FMT
                                " call%s", h(r, mods[i]->module),
                                ms_txt(p, mods[i]->dur_us), mods[i]->calls,
                                mods[i]->calls == 1 ? "" : "s"));
            fat += mods[i]->dur_us;
            y += rowh;
        }
    }
    wf_row(r, y, "(no phase)", "gap", ms_txt(p, nophase));
    for (i = 0; i < np; ++i) {
        if (pieces[i].phase < 0) {
            wf_bar(r, "gap", pieces[i].at_us, pieces[i].dur_us, scale, y,
                   apr_psprintf(p, "(no phase): %s at %s%s",
                                ms_txt(p, pieces[i].dur_us), q->has_starts
                                ? "" : "about ", ms_txt(p, pieces[i].at_us)));
        }
    }
    y += rowh;
    for (i = 0; i < spans->nelts; ++i) {
        const prof_report_span_t *sp =
            APR_ARRAY_IDX(spans, i, prof_report_span_t *);

        wf_row(r, y, h(r, svg_label(p, sp->name, 26)), "span",
               ms_txt(p, sp->dur_us));
        wf_bar(r, "span", sp->start_us, sp->dur_us, scale, y,
               apr_psprintf(p, "%s%s%s: %s at %s", h(r, sp->name),
                            sp->desc ? " " : "",
                            sp->desc ? h(r, sp->desc) : "",
                            ms_txt(p, sp->dur_us), ms_txt(p, sp->start_us)));
        y += rowh;
    }
    ap_rprintf(r, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
               "y2=\"%d\"/><text class=\"lbl\" x=\"%d\" y=\"%d\">0</text>"
               "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"end\">%s"
               "</text></svg></figure>\n", WL, y + 2, WW - WR - 8, y + 2, WL,
               y + 16, WW - WR - 8, y + 16, ms_txt(p, scale));
    /* The same as numbers, in the order the time was spent. */
    ap_rprintf(r, "<h2>Phases</h2><div class=\"scroll\"><table "
               "class=\"phases\" id=\"phases\">"
               "<thead><tr><th>Phase</th><th class=\"num\">Start%s</th>"
               "<th class=\"num\">Duration</th><th class=\"num\">Share</th>"
               "</tr></thead><tbody>", q->has_starts ? "" : " (approximate)");
    for (i = 0; i < np; ++i) {
        ap_rprintf(r, "<tr%s><td>%s</td><td class=\"num\">%s</td><td "
                   "class=\"num\">%s</td><td class=\"num\">%s</td></tr>",
                   pieces[i].phase < 0 ? " class=\"gap\"" : "",
                   pieces[i].phase < 0 ? "(no phase)"
                                       : prof_phase_name(pieces[i].phase),
                   ms_txt(p, pieces[i].at_us), ms_txt(p, pieces[i].dur_us),
                   pct_txt(p, (apr_uint64_t)pieces[i].dur_us,
                           (apr_uint64_t)(q->total_us > 0 ? q->total_us
                                                          : 0)));
    }
    ap_rprintf(r, "</tbody><tfoot><tr><td>in no phase, %d gap%s</td><td>"
               "</td><td class=\"num\" id=\"nophase-total\">%s</td><td "
               "class=\"num\">%s</td></tr></tfoot></table></div>", gaps,
               gaps == 1 ? "" : "s", ms_txt(p, nophase),
               pct_txt(p, (apr_uint64_t)nophase,
                       (apr_uint64_t)(q->total_us > 0 ? q->total_us : 0)));
    ap_rputs("<h2>Spans</h2><div class=\"scroll\"><table class=\"spans\" "
             "id=\"spans\"><thead><tr>"
             "<th>#</th><th>Name</th><th>Description</th><th>Parent</th>"
             "<th class=\"num\">Start</th><th class=\"num\">Duration</th>"
             "</tr></thead><tbody>", r);
    for (i = 0; i < spans->nelts; ++i) {
        const prof_report_span_t *sp =
            APR_ARRAY_IDX(spans, i, prof_report_span_t *);

        ap_rprintf(r, "<tr><td>%d</td><td>%s</td><td>%s</td><td>%s</td>"
                   "<td class=\"num\">%s</td><td class=\"num\">%s</td></tr>",
                   sp->seq, h(r, sp->name), sp->desc ? h(r, sp->desc) : "",
                   sp->parent >= 0 ? apr_itoa(p, sp->parent) : "",
                   ms_txt(p, sp->start_us), ms_txt(p, sp->dur_us));
    }
    if (spans->nelts == 0) {
        ap_rputs("<tr><td colspan=\"6\">No spans.</td></tr>", r);
    }
    ap_rprintf(r, "</tbody></table></div><p class=\"export\"><a "
               "href=\"%s/api/v1/"
               "requests/%" APR_INT64_T_FMT "\">JSON</a></p>", h(r, v->base),
               q->id);
    if (profile) {
        request_profile(r, v, q, profile);
    }
    foot(r, v);
}

void prof_report_page_error(request_rec *r, const prof_report_view_t *v,
                            const char *msg)
{
    ap_set_content_type(r, "text/html; charset=utf-8");
    head(r, v, "Error");
    ap_rprintf(r, "<h1>%d</h1><p class=\"error\" id=\"error\">%s</p>",
               r->status, h(r, msg));
    foot(r, v);
}

/* ---- the dashboard's own files ------------------------------------------ */

static const char app_css[] =
"*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;"
"color:#1d2330;background:#f6f7f9}header{display:flex;gap:24px;"
"align-items:center;padding:10px 20px;background:#1d2330}header a{color:#fff;"
"text-decoration:none;margin-right:16px}.brand{font-weight:700}"
"main{max-width:1100px;margin:0 auto;padding:12px 20px}h1{font-size:22px;"
"overflow-wrap:anywhere}"
"h2{font-size:17px;margin-top:28px}.range{color:#566}"
".filters{display:flex;flex-wrap:wrap;gap:8px;align-items:end}"
".filters label{display:flex;flex-direction:column;font-size:12px;color:#566}"
".filters input{width:150px;padding:4px}.ranges a{margin-right:6px}"
".cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}"
".cards div{background:#fff;"
"border:1px solid #dde;border-radius:6px;padding:8px 14px;color:#566}"
".cards b{display:block;font-size:20px;color:#1d2330}"
"figure{background:#fff;border:1px solid #dde;border-radius:6px;margin:12px 0;"
"padding:8px}figcaption{font-weight:600;margin-bottom:4px}"
".chart{width:100%;height:auto}.axis{stroke:#889;stroke-width:1}"
".lbl{font-size:11px;fill:#566}.bar{fill:#a8c4e8}.bar.hist{fill:#8fbf8f}"
/* The p95 line: dark and saturated against the pale bars, drawn on top. */
".p95{fill:none;stroke:#b0123b;stroke-width:2.5;stroke-linejoin:round}"
".lbl.p95{fill:#b0123b;stroke:none;font-weight:600}.p95-dot{fill:#b0123b}"
".axis.p95-axis{stroke:#b0123b}"
".key{font-weight:400;font-size:12px;color:#566;margin-left:12px}"
".key i{display:inline-block;vertical-align:middle;margin:0 4px 0 10px}"
".key-bar{width:12px;height:10px;background:#a8c4e8}"
".key-p95{width:18px;height:3px;background:#b0123b}"
".pct{stroke:#1d2330;stroke-width:1;stroke-dasharray:3 2}"
/* A white halo keeps the percentile labels readable over the bars. */
".lbl.pct{fill:#1d2330;font-weight:600;paint-order:stroke;stroke:#fff;"
"stroke-width:3px;stroke-linejoin:round}"
".lbl.num{fill:#1d2330;font-weight:600}.lbl.in{fill:#1d2330;font-size:10px}"
".lbl.gap{font-style:italic}"
"rect.gap{fill:#e4e6ea;stroke:#788;stroke-width:.6;stroke-dasharray:2 2}"
".wf.total{fill:#c9ced8}.wf.span{fill:#f0ad4e}"
".wf.mod{fill-opacity:.55;stroke:#1d2330;stroke-width:.4}"
"svg.share rect.track{fill:#eef0f3}"
".wf.mod.filter{fill:#9c755f}.lbl.mod{font-size:11px}"
".ph-read{fill:#4e79a7}.ph-postread{fill:#a0cbe8}.ph-quick{fill:#f28e2b}"
".ph-translate{fill:#ffbe7d}.ph-storage{fill:#59a14f}.ph-headers{fill:#8cd17d}"
".ph-access{fill:#b6992d}.ph-authn{fill:#f1ce63}.ph-authz{fill:#499894}"
".ph-type{fill:#86bcb6}.ph-fixups{fill:#e15759}.ph-handler{fill:#ff9d9a}"
".ph-body{fill:#79706e}.ph-log{fill:#bab0ac}"
"table{border-collapse:collapse;width:100%;background:#fff}"
/* A table wider than a narrow window scrolls by itself, not the page. */
".scroll{overflow-x:auto;max-width:100%}"
"th,td{padding:4px 8px;border-bottom:1px solid #e3e5ea;text-align:left;"
"vertical-align:top;overflow-wrap:anywhere}td.num,th.num{text-align:right}"
"th a{color:inherit}"
/* Numbers and times never break inside, and their digits line up. */
".num,.time,.cards b,.lbl.num{white-space:nowrap;"
"font-variant-numeric:tabular-nums}th{white-space:nowrap}"
"tr.gap td{color:#566;font-style:italic}"
/* Routes and paths break anywhere, but only once their column has a
 * useful width: a narrow window scrolls the table instead. */
".summary td:first-child,.requests td:nth-child(4),.requests td:nth-child(5)"
"{min-width:10em}"
"table.phases{width:auto;min-width:50%}"
".note{background:#fff8e1;border-left:3px solid #f0ad4e;padding:6px 10px;"
"margin:4px 0}"
"th.sorted{background:#eef2f8}td a{word-break:break-all}"
".health dl{display:grid;grid-template-columns:160px 1fr;gap:2px 12px}"
".health dd{margin:0}.inline{display:inline}.danger button{color:#a00}"
".error{color:#a00;font-weight:600}footer{max-width:1100px;margin:20px auto;"
"padding:0 20px;color:#788;font-size:12px}"
"dl.request{display:grid;grid-template-columns:160px 1fr;gap:2px 12px}"
"dl.request dd{margin:0;overflow-wrap:anywhere}"
/* Flame graphs (prof_flame.c): drawn to the page's width; the frame under
 * the pointer outlined. */
"svg.flame{width:100%;height:auto;display:block}"
"svg.flame g.f:hover rect{stroke:#1d2330;stroke-width:1}"
"table.top td:first-child{font-family:ui-monospace,monospace}\n";

/* Progressive enhancement only: everything works without it. */
static const char app_js[] =
"'use strict';\n"
"document.addEventListener('DOMContentLoaded', function () {\n"
"  document.querySelectorAll('button[data-confirm]').forEach(function (b) {\n"
"    b.addEventListener('click', function (e) {\n"
"      if (!window.confirm(b.getAttribute('data-confirm'))) {\n"
"        e.preventDefault();\n"
"      }\n"
"    });\n"
"  });\n"
"  var charts = document.querySelectorAll('svg.chart');\n"
"  document.documentElement.setAttribute('data-charts', String(charts.length));\n"
"});\n";

int prof_report_asset(request_rec *r, const char *name)
{
    const char *body, *type;

    if (!strcmp(name, "app.css")) {
        body = app_css;
        type = "text/css; charset=utf-8";
    }
    else if (!strcmp(name, "app.js")) {
        body = app_js;
        type = "text/javascript; charset=utf-8";
    }
    else {
        return 0;
    }
    ap_set_content_type(r, type);
    ap_set_content_length(r, (apr_off_t)strlen(body));
    if (!r->header_only) {
        ap_rputs(body, r);
    }
    return 1;
}
