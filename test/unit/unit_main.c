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
#include <sys/mman.h>
#include <unistd.h>
#include "unit.h"

/* The measurement store's core units (declared here, not in unit.h). */
Suite *prof_row_suite(void);       /* test_row.c: a finished request, copied */
Suite *prof_rollup_suite(void);    /* test_rollup.c: per-minute aggregates */
Suite *prof_sql_suite(void);       /* test_sql.c: the SQL, against SQLite */
/* Live metrics (issue 11). */
Suite *prof_agg_suite(void);       /* test_agg.c: shared-memory aggregates */
Suite *prof_prom_suite(void);
Suite *prof_rate_suite(void);      /* test_rate.c: ProfilerStoreRate */      /* test_prom.c: Prometheus exposition */
/* CPU profiles (issue 12). */
Suite *prof_cpuprof_suite(void);   /* test_cpuprof.c: the sampler */
Suite *prof_stacks_suite(void);    /* test_stacks.c: folded and pprof */
Suite *prof_stacks_text_suite(void); /* test_stacks_text.c: the store's form */
Suite *prof_flame_suite(void);     /* test_flame.c: flame graph SVG */
Suite *prof_trace_suite(void);     /* test_trace.c: W3C trace context */
Suite *prof_otlp_suite(void);      /* test_otlp.c: the OTLP encoder */
Suite *prof_otlp_rec_suite(void);  /* test_otlp_rec.c: a request's record */

apr_pool_t *unit_pool;

void unit_pool_setup(void)
{
    ck_assert_int_eq(apr_initialize(), APR_SUCCESS);
    ck_assert_int_eq(apr_pool_create(&unit_pool, NULL), APR_SUCCESS);
}

void unit_pool_teardown(void)
{
    apr_pool_destroy(unit_pool);
    unit_pool = NULL;
    apr_terminate();
}

char *unit_guard_alloc(unit_guard_t *g, size_t len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t data = (len + page - 1) / page * page;

    g->maplen = data + page;
    g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED) {
        ck_abort_msg("mmap of %zu bytes failed", g->maplen);
    }
    if (mprotect((char *)g->map + data, page, PROT_NONE) != 0) {
        ck_abort_msg("mprotect failed");
    }
    return (char *)g->map + data - len;
}

void unit_guard_free(unit_guard_t *g)
{
    if (munmap(g->map, g->maplen) != 0) {
        ck_abort_msg("munmap failed");
    }
}

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
    srunner_add_suite(sr, prof_row_suite());
    srunner_add_suite(sr, prof_rollup_suite());
    srunner_add_suite(sr, prof_sql_suite());
    srunner_add_suite(sr, prof_report_text_suite());
    srunner_add_suite(sr, prof_agg_suite());
    srunner_add_suite(sr, prof_prom_suite());
    srunner_add_suite(sr, prof_rate_suite());
    srunner_add_suite(sr, prof_cpuprof_suite());
    srunner_add_suite(sr, prof_stacks_suite());
    srunner_add_suite(sr, prof_stacks_text_suite());
    srunner_add_suite(sr, prof_flame_suite());
    srunner_add_suite(sr, prof_trace_suite());
    srunner_add_suite(sr, prof_otlp_suite());
    srunner_add_suite(sr, prof_otlp_rec_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
