/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_strings.h"
#include "apr_tables.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"

#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_report_lint.h"

/* A base found in the configuration: the path of a <Location> that sets
 * the report handler, in the server it belongs to (NULL: the main
 * server's, which every virtual host inherits). */
typedef struct {
    const server_rec *s;
    const char *path;           /* no trailing '/'; "" for <Location /> */
} base_t;

/* Written in check_config, before any child exists; read-only after. */
static apr_array_header_t *bases;
/* The same for the whole-server CPU profile's handler (profiler-profile):
 * where the report's CPU page asks for a profile. */
static apr_array_header_t *profile_urls;

/* The n-th word of a directive's arguments, as httpd reads them (quotes
 * removed), or "" when there are fewer. */
static const char *word(apr_pool_t *p, const char *args, int n)
{
    const char *w = "";

    if (args == NULL) {
        return "";
    }
    while (n-- >= 0) {
        w = ap_getword_conf(p, &args);
    }
    return w;
}

/* A section's first argument: its path, without the '>' that ends the
 * opening tag. */
static const char *section_arg(apr_pool_t *p, const ap_directive_t *d)
{
    char *a = apr_pstrdup(p, d->args ? d->args : "");
    apr_size_t n = strlen(a);

    if (n && a[n - 1] == '>') {
        a[n - 1] = '\0';
    }
    return word(p, a, 0);
}

static int is(const ap_directive_t *d, const char *name)
{
    return !strcasecmp(d->directive, name);
}

/* Does this directive make requests go to handler? "SetHandler <handler>"
 * (quoted or not), "AddHandler <handler> .ext", a RewriteRule with
 * [H=<handler>]. */
static const char *sets_handler(apr_pool_t *p, const ap_directive_t *d,
                                const char *handler)
{
    if (is(d, "SetHandler") || is(d, "AddHandler")) {
        return strcasecmp(word(p, d->args, 0), handler) ? NULL : d->directive;
    }
    if (is(d, "RewriteRule")) {
        char *flags = apr_pstrdup(p, word(p, d->args, 2)), *f, *last;

        /* [L,H=profiler-report] or [handler=profiler-report] */
        for (f = apr_strtok(flags, "[,]", &last); f;
             f = apr_strtok(NULL, "[,]", &last)) {
            char *eq = strchr(f, '=');

            if (eq && !strcasecmp(eq + 1, handler)
                && (!strncasecmp(f, "H=", 2)
                    || !strncasecmp(f, "handler=", 8))) {
                return d->directive;
            }
        }
    }
    return NULL;
}

/* Does this section itself control access? */
int prof_lint_has_access_control(apr_pool_t *p, const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (is(d, "Require")) {
            /* "Require all granted" alone opens the report to anyone. */
            if (!strcasecmp(word(p, d->args, 0), "all")
                && !strcasecmp(word(p, d->args, 1), "granted")) {
                continue;
            }
            return 1;
        }
        if (is(d, "Allow") || is(d, "Deny") || is(d, "AuthType")
            || is(d, "<RequireAll") || is(d, "<RequireAny")
            || is(d, "<RequireNone")) {
            return 1;
        }
    }
    return 0;
}

static int is_vhost(const ap_directive_t *d)
{
    return d && is(d, "<VirtualHost");
}

/* Does d's section, or one it is in (up to its virtual host), hold a
 * directive for which fn says yes? */
static int in_chain(apr_pool_t *p, const ap_directive_t *section,
                    int (*fn)(apr_pool_t *, const ap_directive_t *))
{
    for (; section && !is_vhost(section); section = section->parent) {
        if (fn(p, section->first_child)) {
            return 1;
        }
    }
    return 0;
}

static int has_token(apr_pool_t *p, const ap_directive_t *d)
{
    (void)p;
    for (; d; d = d->next) {
        if (is(d, "ProfilerReportToken")) {
            return 1;
        }
    }
    return 0;
}

/* The server a <VirtualHost> section made: httpd notes where each was
 * defined. */
static const server_rec *vhost_of(const ap_directive_t *vh, server_rec *s)
{
    server_rec *v;

    for (v = s->next; vh && v; v = v->next) {
        if (v->defn_name && vh->filename && (int)v->defn_line_number == vh->line_num
            && !strcmp(v->defn_name, vh->filename)) {
            return v;
        }
    }
    return NULL;
}

typedef struct {
    apr_pool_t *p;              /* scratch */
    apr_pool_t *pconf;          /* for what outlives the scan */
    server_rec *s;
    int n;
    int quiet;                  /* find, but do not warn */
} scan_t;

static void found_report(scan_t *sc, const ap_directive_t *d,
                         const char *how, const ap_directive_t *vh)
{
    const ap_directive_t *section = d->parent, *loc;

    ++sc->n;
    if (sc->quiet) {
        ;
    }
    else if (section == NULL || is_vhost(section)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sc->s, PROFLOGNO(00024)
                     "the profiler report is set for the whole %s by %s "
                     "(%s:%d), with no section to control access to it",
                     section ? "virtual host" : "server", how,
                     d->filename ? d->filename : "?", d->line_num);
    }
    else if (!in_chain(sc->p, section, prof_lint_has_access_control)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sc->s, PROFLOGNO(00023)
                     "the profiler report at %s %s (%s:%d) has no access "
                     "control: anyone who can reach it sees every recorded "
                     "URL. Add \"Require ip ...\", authentication, or "
                     "\"Require profiler-token\" with ProfilerReportToken",
                     section->directive, section->args ? section->args : "",
                     section->filename ? section->filename : "?",
                     section->line_num);
    }
    /* The report's base: the innermost <Location> (not a regex) around
     * its SetHandler; elsewhere (and for AddHandler or a RewriteRule, which
     * serve URLs below it or anywhere) ProfilerReportBase says it, or the
     * handler guesses from the URI. */
    for (loc = is(d, "SetHandler") ? section : NULL; loc && !is_vhost(loc); loc = loc->parent) {
        if (is(loc, "<Location")) {
            const char *path = section_arg(sc->p, loc);
            apr_size_t n = strlen(path);
            base_t *b;

            if (*path != '/') {
                break;          /* <Location ~ "regex"> */
            }
            while (n > 0 && path[n - 1] == '/') {
                --n;
            }
            b = apr_array_push(bases);
            b->s = vhost_of(vh, sc->s);
            b->path = apr_pstrndup(sc->pconf, path, n);
            break;
        }
    }
}

/* The metrics endpoint: the same rule as the report's, a warning where
 * anyone may read it (it names every route and vhost). Only found, not
 * counted: the count is of reports, which need the database. */
static void found_metrics(scan_t *sc, const ap_directive_t *d,
                          const char *how)
{
    const ap_directive_t *section = d->parent;

    if (sc->quiet) {
        return;
    }
    if (section == NULL || is_vhost(section)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sc->s, PROFLOGNO(00225)
                     "the profiler metrics are set for the whole %s by %s "
                     "(%s:%d), with no section to control access to them",
                     section ? "virtual host" : "server", how,
                     d->filename ? d->filename : "?", d->line_num);
    }
    else if (!in_chain(sc->p, section, prof_lint_has_access_control)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sc->s, PROFLOGNO(00226)
                     "the profiler metrics at %s %s (%s:%d) have no access "
                     "control: anyone who can reach them sees every route "
                     "and virtual host. Add \"Require ip ...\" (your "
                     "Prometheus servers) or authentication",
                     section->directive, section->args ? section->args : "",
                     section->filename ? section->filename : "?",
                     section->line_num);
    }
}

/* The CPU profile's handler: its <Location>, for the report's CPU page.
 * (Its access control is that handler's own concern: it warns.) */
static void found_profile(scan_t *sc, const ap_directive_t *d,
                          const ap_directive_t *vh)
{
    const ap_directive_t *loc;

    for (loc = is(d, "SetHandler") ? d->parent : NULL;
         loc && !is_vhost(loc); loc = loc->parent) {
        if (is(loc, "<Location")) {
            const char *path = section_arg(sc->p, loc);
            base_t *b;

            if (*path != '/') {
                break;          /* <Location ~ "regex"> */
            }
            b = apr_array_push(profile_urls);
            b->s = vhost_of(vh, sc->s);
            b->path = apr_pstrdup(sc->pconf, path);
            break;
        }
    }
}

static void scan(scan_t *sc, const ap_directive_t *d,
                 const ap_directive_t *vh)
{
    const char *how;

    for (; d; d = d->next) {
        if ((how = sets_handler(sc->p, d, PROF_REPORT_HANDLER))) {
            found_report(sc, d, how, vh);
        }
        else if ((how = sets_handler(sc->p, d, PROF_METRICS_HANDLER))) {
            found_metrics(sc, d, how);
        }
        else if (sets_handler(sc->p, d, PROF_REPORT_PROFILE_HANDLER)) {
            found_profile(sc, d, vh);
        }
        else if (!sc->quiet && is(d, "Require")
                 && !strcasecmp(word(sc->p, d->args, 0), "profiler-token")
                 && !in_chain(sc->p, d->parent, has_token)) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sc->s,
                         PROFLOGNO(00140) "Require profiler-token (%s:%d) "
                         "has no ProfilerReportToken in its section: it "
                         "grants no one", d->filename ? d->filename : "?",
                         d->line_num);
        }
        if (d->first_child) {
            scan(sc, d->first_child, is_vhost(d) ? d : vh);
        }
    }
}

int prof_report_lint(apr_pool_t *ptemp, server_rec *s)
{
    static const char key[] = "mod_profiler_report_lint";
    void *done = NULL;
    scan_t sc;

    /* check_config scans and warns (so "apachectl -t" shows it); the
     * store's post_config asks again in the same generation: the answer,
     * without the warnings twice. */
    apr_pool_userdata_get(&done, key, ptemp);
    if (done) {
        return *(int *)done;
    }
    sc.p = ptemp;
    sc.pconf = s->process->pconf;
    sc.s = s;
    sc.n = 0;
    /* httpd reads its configuration twice at startup: warn in the pass
     * that serves (its warnings reach the error log), or in "-t", which
     * has only the first. */
    sc.quiet = ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
               && ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST;
    bases = apr_array_make(sc.pconf, 4, sizeof(base_t));
    profile_urls = apr_array_make(sc.pconf, 2, sizeof(base_t));
    scan(&sc, ap_conftree, NULL);
    done = apr_pmemdup(ptemp, &sc.n, sizeof(sc.n));
    apr_pool_userdata_set(done, key, apr_pool_cleanup_null, ptemp);
    return sc.n;
}

const char *prof_report_found_base(const request_rec *r)
{
    const char *best = NULL;
    apr_size_t best_n = 0;
    int i;

    for (i = 0; bases && i < bases->nelts; ++i) {
        const base_t *b = &APR_ARRAY_IDX(bases, i, base_t);
        apr_size_t n = strlen(b->path);

        if ((b->s && b->s != r->server) || strncmp(r->uri, b->path, n)
            || (r->uri[n] != '/' && r->uri[n] != '\0')) {
            continue;
        }
        if (best == NULL || n > best_n) {
            best = b->path;
            best_n = n;
        }
    }
    return best;
}

const char *prof_report_profile_url(const request_rec *r)
{
    const char *main_url = NULL;
    int i;

    for (i = 0; profile_urls && i < profile_urls->nelts; ++i) {
        const base_t *b = &APR_ARRAY_IDX(profile_urls, i, base_t);

        if (b->s == r->server) {
            return b->path;
        }
        if (b->s == NULL && main_url == NULL) {
            main_url = b->path;
        }
    }
    return main_url;
}

static int lint_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf; (void)plog;
    prof_report_lint(ptemp, s);
    return OK;
}

void prof_report_lint_register_hooks(apr_pool_t *p)
{
    (void)p;
    /* check_config, not post_config: "apachectl -t" runs it, so a warning
     * is seen before a graceful restart, not after. */
    ap_hook_check_config(lint_check_config, NULL, NULL, APR_HOOK_MIDDLE);
}
