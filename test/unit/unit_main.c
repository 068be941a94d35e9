/* Licensed under the Apache License, Version 2.0. */

/*
 * Runs every suite of the core. The exit status is what make and CI look at;
 * check's own summary line ("100%: Checks: N, Failures: 0, Errors: 0") is
 * what a human looks at, so the output mode stays CK_NORMAL.
 *
 * CK_FORK comes from the environment: the plain run forks per test so that a
 * crash is reported as one error, the sanitizer run does not fork so that
 * ASan/UBSan see the whole process and stop at the first report.
 */

#include <stdlib.h>
#include "unit.h"

int main(void)
{
    SRunner *sr;
    int failed;

    sr = srunner_create(prof_clock_suite());
    srunner_add_suite(sr, prof_phase_suite());
    srunner_add_suite(sr, prof_st_suite());
    srunner_add_suite(sr, prof_st_parse_suite());
    srunner_add_suite(sr, prof_span_suite());
    srunner_add_suite(sr, prof_queue_suite());
    srunner_add_suite(sr, prof_hist_suite());
    srunner_add_suite(sr, prof_route_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
