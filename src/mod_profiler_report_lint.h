/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report_lint.h
 * @brief The configuration's report sections, found once per startup in
 *        the directive tree: whether the store must be opened for a
 *        report, where each report lives (its base), and warnings about
 *        reports anyone can read.
 *
 * A section sets the report by "SetHandler profiler-report" (quoted or
 * not, also inside <If>, <Files>, <FilesMatch>, <LocationMatch>,
 * <DirectoryMatch>), by "AddHandler profiler-report .ext", or by a
 * RewriteRule with [H=profiler-report]. Arguments are read as httpd reads
 * them (ap_getword_conf). Sections that set the metrics handler
 * (profiler-metrics) the same ways are found too, for the same warning
 * about access control.
 */

#ifndef MOD_PROFILER_REPORT_LINT_H
#define MOD_PROFILER_REPORT_LINT_H

#include "httpd.h"
#include "http_config.h"

/**
 * Scan the configuration (once per generation: a second call with the same
 * ptemp returns the first answer and logs nothing). Warns about report
 * sections without access control (and metrics sections without it), a
 * report for a whole server, and
 * "Require profiler-token" without ProfilerReportToken. Runs from
 * check_config, so "apachectl -t" shows the warnings.
 * @return the number of places that set the report handler.
 */
int prof_report_lint(apr_pool_t *ptemp, server_rec *s);

/** The path of the innermost <Location> (not a regex) that sets the
 * report handler and holds r->uri, in r's server or the main server; NULL
 * when no such section holds it. No trailing '/'; "" for <Location />. */
const char *prof_report_found_base(const request_rec *r);

/** The handler of the whole-server CPU profile (mod_profiler_profile.h's
 * PROF_PROFILE_HANDLER). */
#define PROF_REPORT_PROFILE_HANDLER "profiler-profile"

/** The path of a <Location> (not a regex) that sets the CPU profile's
 * handler, in r's server, else in the main server (which virtual hosts
 * inherit); NULL when there is none. Where the report's CPU page asks for
 * a profile. */
const char *prof_report_profile_url(const request_rec *r);

/** Does the section whose first directive is d control access itself: a
 * Require other than "all granted", Allow/Deny, AuthType or a Require
 * section? (The rule of the report's and the CPU profile's warnings.) */
int prof_lint_has_access_control(apr_pool_t *p, const ap_directive_t *d);

void prof_report_lint_register_hooks(apr_pool_t *p);

#endif /* MOD_PROFILER_REPORT_LINT_H */
