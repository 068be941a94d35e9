/* Licensed under the Apache License, Version 2.0. */

/* prof_stacks: folded stacks and the pprof encoding of hand-made
 * profiles with known contents; the pprof bytes are read back by Go's own
 * profile parser (`go tool pprof -raw`, golang-go), not by ours. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "apr_strings.h"

#include "prof_stacks.h"
#include "unit.h"

static apr_uint32_t add_frame(prof_stacks_t *s, const char *name,
                              const char *file, apr_uint32_t line,
                              apr_uint64_t addr, apr_uint32_t mapping)
{
    prof_frame_t *f = apr_array_push(s->frames);

    f->name = name;
    f->file = file;
    f->line = line;
    f->addr = addr;
    f->mapping = mapping;
    return (apr_uint32_t)s->frames->nelts - 1;
}

static void add_stack(prof_stacks_t *s, const apr_uint32_t *leaf_first,
                      apr_uint32_t n, apr_int64_t samples, int state,
                      apr_int64_t pid, const char *route, const char *phase)
{
    prof_stack_t *st = apr_array_push(s->stacks);

    memset(st, 0, sizeof(*st));
    st->nframes = n;
    st->frames = apr_pmemdup(s->pool, leaf_first, n * sizeof(*leaf_first));
    st->samples = samples;
    st->nanos = samples * s->period_ns;
    st->state = state;
    st->pid = pid;
    st->route = route;
    st->phase = phase;
}

/* main -> handler -> burn (x5, pid 11), main -> handler -> burn (x2, pid
 * 12: the same names, summed in folded output), main -> idle (x3, waiting)
 * and a frame whose name holds the folded format's separators. */
static prof_stacks_t *sample_profile(int wall)
{
    prof_stacks_t *s = prof_stacks_make(unit_pool, wall, 1000000);
    prof_mapping_t *m = apr_array_push(s->mappings);
    apr_uint32_t f_main, f_handler, f_burn, f_idle, f_odd, f_burn2;
    apr_uint32_t st[3];

    m->start = 0x400000;
    m->limit = 0x500000;
    m->offset = 0;
    m->file = "/usr/sbin/apache2";
    m->build_id = "0123456789abcdef";
    f_main = add_frame(s, "main", "server/main.c", 700, 0x401000, 1);
    f_handler = add_frame(s, "ap_run_handler", "server/config.c", 169,
                          0x402000, 1);
    f_burn = add_frame(s, "burn", "mod_test.c", 42, 0x403000, 1);
    f_burn2 = add_frame(s, "burn", "mod_test.c", 43, 0x403010, 1);
    f_idle = add_frame(s, "idle", NULL, 0, 0x404000, 1);
    f_odd = add_frame(s, "weird;name\nx", NULL, 0, 0, 0);
    s->start = apr_time_from_sec(1700000000);
    s->duration_ns = APR_INT64_C(2000000000);

    st[0] = f_burn; st[1] = f_handler; st[2] = f_main;
    add_stack(s, st, 3, 5, PROF_STACK_ONCPU, 11, "/burn", "handler");
    st[0] = f_burn2;
    add_stack(s, st, 3, 2, PROF_STACK_ONCPU, 12, NULL, NULL);
    st[0] = f_idle; st[1] = f_main;
    add_stack(s, st, 2, 3, PROF_STACK_WAITING, 11, "/burn", "handler");
    st[0] = f_odd; st[1] = f_main;
    add_stack(s, st, 2, 1, PROF_STACK_ONCPU, 0, NULL, NULL);
    return s;
}

START_TEST(folded_root_first_summed_sorted)
{
    prof_stacks_t *s = sample_profile(1);

    ck_assert_str_eq(prof_stacks_folded(s, unit_pool, -1),
                     "main;ap_run_handler;burn 7\n"
                     "main;idle 3\n"
                     "main;weird:name x 1\n");
    ck_assert_str_eq(prof_stacks_folded(s, unit_pool, PROF_STACK_WAITING),
                     "main;idle 3\n");
    ck_assert_str_eq(prof_stacks_folded(s, unit_pool, PROF_STACK_ONCPU),
                     "main;ap_run_handler;burn 7\n"
                     "main;weird:name x 1\n");
    ck_assert_str_eq(prof_stacks_folded(prof_stacks_make(unit_pool, 0, 1),
                                        unit_pool, -1), "");
}
END_TEST

START_TEST(pprof_is_gzip_of_profile_proto)
{
    prof_stacks_t *s = sample_profile(0);
    const char *pb;
    apr_size_t len;
    unsigned char raw[65536];
    z_stream zs;

    ck_assert_int_eq(prof_stacks_pprof(s, unit_pool, &pb, &len),
                     APR_SUCCESS);
    ck_assert(len > 20);
    ck_assert_int_eq((unsigned char)pb[0], 0x1f);     /* gzip magic */
    ck_assert_int_eq((unsigned char)pb[1], 0x8b);
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)(apr_uintptr_t)pb;
    zs.avail_in = (uInt)len;
    zs.next_out = raw;
    zs.avail_out = sizeof(raw);
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    /* The first field: sample_type (1), length-delimited. */
    ck_assert_int_eq(raw[0], (1 << 3) | 2);
    /* Every string is in the table once. */
    ck_assert(memmem(raw, zs.total_out, "ap_run_handler", 14) != NULL);
    ck_assert(memmem(raw, zs.total_out, "/usr/sbin/apache2", 17) != NULL);
    inflateEnd(&zs);
}
END_TEST

/* The text `go tool pprof <flag>` prints for the profile s. */
static char *go_pprof(const prof_stacks_t *s, const char *flag)
{
    const char *pb;
    apr_size_t len;
    char path[] = "/tmp/prof_stacks_pprof_XXXXXX";
    char cmd[512], buf[4096];
    int fd;
    FILE *out;
    char *text = "";
    apr_size_t n;

    ck_assert_int_eq(prof_stacks_pprof(s, unit_pool, &pb, &len),
                     APR_SUCCESS);
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, pb, len), (ssize_t)len);
    close(fd);
    ck_assert_msg(system("command -v go >/dev/null 2>&1") == 0,
                  "`go` is missing: install Debian's golang-go");
    snprintf(cmd, sizeof(cmd), "HOME=/tmp go tool pprof %s %s 2>&1",
             flag, path);
    out = popen(cmd, "r");
    ck_assert(out != NULL);
    while ((n = fread(buf, 1, sizeof(buf) - 1, out)) > 0) {
        buf[n] = '\0';
        text = apr_pstrcat(unit_pool, text, buf, NULL);
    }
    ck_assert_msg(pclose(out) == 0, "go tool pprof failed:\n%s", text);
    unlink(path);
    return text;
}

START_TEST(pprof_read_by_go_tool_pprof_raw)
{
    char *text = go_pprof(sample_profile(0), "-raw");

    ck_assert_msg(strstr(text, "PeriodType: cpu nanoseconds") != NULL
                  && strstr(text, "Period: 1000000") != NULL
                  && strstr(text, "Duration: 2s") != NULL
                  && strstr(text, "samples/count cpu/nanoseconds") != NULL,
                  "header:\n%s", text);
    /* The samples' values in order (Go renumbers the locations). */
    ck_assert_msg(strstr(text, "5    5000000: ") != NULL
                  && strstr(text, "2    2000000: ") != NULL
                  && strstr(text, "3    3000000: ") != NULL
                  && strstr(text, "1    1000000: ") != NULL,
                  "samples:\n%s", text);
    ck_assert_msg(strstr(text, "pid:[11]") != NULL
                  && strstr(text, "pid:[12]") != NULL
                  && strstr(text, "route:[/burn]") != NULL
                  && strstr(text, "phase:[handler]") != NULL,
                  "labels:\n%s", text);
    /* CPU profiles carry no state label (every sample is on CPU). */
    ck_assert(strstr(text, "state:") == NULL);
    /* Locations with their mapping, function, file and line. */
    ck_assert_msg(strstr(text, "0x402000 M=1 ap_run_handler "
                               "server/config.c:169") != NULL
                  && strstr(text, "0x403010 M=1 burn mod_test.c:43") != NULL,
                  "locations:\n%s", text);
    ck_assert_msg(strstr(text, "0x400000/0x500000/0x0 /usr/sbin/apache2 "
                               "0123456789abcdef") != NULL,
                  "mappings:\n%s", text);
    /* The stacks, leaf first, as Go prints them. */
    text = go_pprof(sample_profile(0), "-traces");
    ck_assert_msg(strstr(text, "       5ms   burn\n"
                               "             ap_run_handler\n"
                               "             main\n") != NULL
                  && strstr(text, "       3ms   idle\n"
                                  "             main\n") != NULL
                  && strstr(text, "Total samples = 11ms") != NULL,
                  "traces:\n%s", text);
}
END_TEST

START_TEST(pprof_wall_profile_has_state_labels)
{
    char *text = go_pprof(sample_profile(1), "-raw");

    ck_assert_msg(strstr(text, "PeriodType: wall nanoseconds") != NULL
                  && strstr(text, "samples/count wall/nanoseconds") != NULL,
                  "%s", text);
    ck_assert_msg(strstr(text, "state:[waiting]") != NULL
                  && strstr(text, "state:[oncpu]") != NULL, "%s", text);
}
END_TEST

Suite *prof_stacks_suite(void)
{
    Suite *s = suite_create("stacks");
    TCase *tc = tcase_create("encode");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, folded_root_first_summed_sorted);
    tcase_add_test(tc, pprof_is_gzip_of_profile_proto);
    tcase_add_test(tc, pprof_read_by_go_tool_pprof_raw);
    tcase_add_test(tc, pprof_wall_profile_has_state_labels);
    suite_add_tcase(s, tc);
    return s;
}
