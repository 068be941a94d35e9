/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  mod_profiler_report_actions.h
 * @brief The dashboard's actions, L/actions/prune (one retention pass
 *        now) and L/actions/clear (delete every recorded row): POST only,
 *        and only from the report's own pages (same origin), so a
 *        cross-site form cannot delete anything.
 */

#ifndef MOD_PROFILER_REPORT_ACTIONS_H
#define MOD_PROFILER_REPORT_ACTIONS_H

#include "httpd.h"

/**
 * Run the action what ("prune", "clear") for the report at base.
 * @return the handler's answer: a 303 back to the dashboard when done; a
 *         JSON error (405, 403, 404, 500) otherwise, with OK.
 */
int prof_report_action(request_rec *r, const char *base, const char *what);

#endif /* MOD_PROFILER_REPORT_ACTIONS_H */
