/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report_auth.h
 * @brief Access to the report without a user database: "Require
 *        profiler-token" grants a request whose "Authorization: Bearer
 *        <secret>" holds the secret of ProfilerReportToken's file.
 */

#ifndef MOD_PROFILER_REPORT_AUTH_H
#define MOD_PROFILER_REPORT_AUTH_H

#include "httpd.h"
#include "http_config.h"

/** ProfilerReportToken <file>: read the secret now, so that a missing or
 * bad file stops the configuration (and "apachectl -t") with a message
 * naming the directive and the file. */
const char *prof_report_set_token(cmd_parms *cmd, void *dconf,
                                  const char *file);

/** Register the "profiler-token" authz provider. */
void prof_report_auth_register(apr_pool_t *p);

#endif /* MOD_PROFILER_REPORT_AUTH_H */
