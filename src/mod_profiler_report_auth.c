/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_file_io.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"
#include "mod_auth.h"

#include "mod_profiler_private.h"
#include "mod_profiler_config.h"
#include "mod_profiler_report_auth.h"

/* Equal in time that does not depend on where the strings differ. */
static int equal_ct(const char *a, apr_size_t alen, const char *b,
                    apr_size_t blen)
{
    unsigned char d = alen != blen;
    apr_size_t i;

    for (i = 0; i < alen; ++i) {
        d |= (unsigned char)(a[i] ^ b[i < blen ? i : 0]);
    }
    return d == 0 && blen > 0;
}

static authz_status token_check(request_rec *r, const char *require_args,
                                const void *parsed)
{
    const prof_dir_conf_t *dc =
        ap_get_module_config(r->per_dir_config, &profiler_module);
    const char *auth = apr_table_get(r->headers_in, "Authorization");

    (void)require_args;
    (void)parsed;
    if (dc->report_token == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, PROFLOGNO(00021)
                      "Require profiler-token without ProfilerReportToken "
                      "for %s", r->uri);
        return AUTHZ_DENIED;
    }
    if (auth && !strncasecmp(auth, "Bearer ", 7)) {
        const char *tok = auth + 7;

        while (*tok == ' ') {
            ++tok;
        }
        if (equal_ct(tok, strlen(tok), dc->report_token,
                     strlen(dc->report_token))) {
            return AUTHZ_GRANTED;
        }
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, PROFLOGNO(00022)
                      "report: wrong bearer token");
    }
    return AUTHZ_DENIED;
}

static const authz_provider token_provider = {
    &token_check,
    NULL,
};

const char *prof_report_set_token(cmd_parms *cmd, void *dconf,
                                  const char *file)
{
    prof_dir_conf_t *conf = dconf;
    const char *path = ap_server_root_relative(cmd->pool, file);
    apr_file_t *f = NULL;
    char buf[1025];
    apr_size_t n = sizeof(buf) - 1;
    apr_status_t rv;

    if (path == NULL) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid path",
                            cmd->cmd->name, file);
    }
    rv = apr_file_open(&f, path, APR_FOPEN_READ, APR_OS_DEFAULT, cmd->temp_pool);
    if (rv == APR_SUCCESS) {
        rv = apr_file_read(f, buf, &n);
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(cmd->pool, "%s: cannot read '%s' (%pm)",
                            cmd->cmd->name, path, &rv);
    }
    if (rv == APR_EOF) {
        n = 0;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'
                     || buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
        buf[--n] = '\0';
    }
    if (n < 16 || n == sizeof(buf) - 1 || strpbrk(buf, " \t\r\n")) {
        return apr_psprintf(cmd->pool, "%s: '%s' must hold one secret of 16 "
                            "to 1023 characters without spaces (it has %"
                            APR_SIZE_T_FMT ")", cmd->cmd->name, path, n);
    }
    conf->report_token = apr_pstrdup(cmd->pool, buf);
    return NULL;
}

void prof_report_auth_register(apr_pool_t *p)
{
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "profiler-token",
                              AUTHZ_PROVIDER_VERSION, &token_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}
