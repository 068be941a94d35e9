/* Licensed under the Apache License, Version 2.0. */

/*
 * Unit tests for W3C Trace Context (src/prof_trace.c): traceparent values
 * from the specification's rules (https://www.w3.org/TR/trace-context/,
 * section 3.2), written out here by hand, not by the formatter; the
 * formatter against the parser; ids from several threads and after a fork
 * all different.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>

#include "apr_general.h"

#include "prof_trace.h"
#include "unit.h"

#define TP_OK "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

static const struct {
    const char *value;
    int valid;
} tp_cases[] = {
    { TP_OK, 1 },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", 1 },
    /* a later version may be longer, after a '-' */
    { "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what", 1 },
    { "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09", 1 },
    /* version 00 is exactly 55 characters */
    { TP_OK "-x", 0 },
    { TP_OK "x", 0 },
    { "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", 0 },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", 0 },
    /* version ff is invalid */
    { "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0 },
    /* upper case, other characters */
    { "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", 0 },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01", 0 },
    { "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0 },
    { "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", 0 },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0z", 0 },
    /* all-zero ids */
    { "00-00000000000000000000000000000000-00f067aa0ba902b7-01", 0 },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", 0 },
    /* separators */
    { "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", 0 },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01", 0 },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01", 0 },
    /* what httpd makes of two traceparent fields: one joined value */
    { TP_OK ", " TP_OK, 0 },
    { "", 0 },
    { "00", 0 },
    { " " TP_OK, 0 },
};

START_TEST(traceparent_rules)
{
    prof_trace_ctx_t c;
    size_t len = strlen(tp_cases[_i].value);
    unit_guard_t g;
    char *v = unit_guard_alloc(&g, len + 1);

    /* right before a PROT_NONE page: a read past the NUL faults */
    memcpy(v, tp_cases[_i].value, len + 1);
    memset(&c, 0x5a, sizeof(c));
    ck_assert_msg(prof_traceparent_parse(v, &c) == tp_cases[_i].valid,
                  "%s", tp_cases[_i].value);
    if (!tp_cases[_i].valid) {
        unsigned char untouched[sizeof(c)];

        memset(untouched, 0x5a, sizeof(untouched));
        ck_assert(memcmp(&c, untouched, sizeof(c)) == 0);
    }
    unit_guard_free(&g);
}
END_TEST

START_TEST(traceparent_fields)
{
    static const unsigned char trace[16] = {
        0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
        0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36 };
    static const unsigned char span[8] = {
        0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7 };
    prof_trace_ctx_t c;
    char buf[PROF_TRACEPARENT_LEN + 1];

    ck_assert(prof_traceparent_parse(TP_OK, &c));
    ck_assert(memcmp(c.trace_id, trace, 16) == 0);
    ck_assert(memcmp(c.span_id, span, 8) == 0);
    ck_assert_uint_eq(c.flags, 1);
    prof_traceparent_format(&c, buf);
    ck_assert_str_eq(buf, TP_OK);
    /* a later version is written back as 00, its extra fields dropped */
    ck_assert(prof_traceparent_parse(
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-x", &c));
    ck_assert_uint_eq(c.flags, 9);
    prof_traceparent_format(&c, buf);
    ck_assert_str_eq(buf,
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09");
    ck_assert(!prof_traceparent_parse(NULL, &c));
}
END_TEST

START_TEST(trace_hex)
{
    static const unsigned char b[4] = { 0x00, 0x0f, 0xa0, 0xff };
    char out[9];

    prof_trace_hex(b, 4, out);
    ck_assert_str_eq(out, "000fa0ff");
}
END_TEST

/* Every byte value, at every position of ids of every length up to 24
 * (four bytes at a time, then the rest), against snprintf's "%02x". */
START_TEST(trace_hex_all)
{
    unsigned char b[24];
    char out[49], ref[49];
    apr_size_t n, i;
    int v;

    for (v = 0; v < 256; ++v) {
        for (n = 0; n <= sizeof(b); ++n) {
            for (i = 0; i < n; ++i) {
                b[i] = (unsigned char)(v + 37 * i);
                snprintf(ref + 2 * i, 3, "%02x", b[i]);
            }
            ref[2 * n] = '\0';
            memset(out, 'X', sizeof(out));
            prof_trace_hex(b, n, out);
            ck_assert_str_eq(out, ref);
        }
    }
}
END_TEST

#define PER_THREAD 2000
#define THREADS 4

/* Each thread's ids, then the forked child's and this thread's after the
 * fork, one after the other. */
static unsigned char ids[(THREADS + 1) * PER_THREAD][8];

static void *make_ids(void *arg)
{
    unsigned char (*mine)[8] = arg;
    int i;

    for (i = 0; i < PER_THREAD; ++i) {
        prof_trace_random(mine[i], 8);
    }
    return NULL;
}

static ssize_t read_all(int fd, void *buf, size_t n)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);

        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int cmp8(const void *a, const void *b)
{
    return memcmp(a, b, 8);
}

START_TEST(trace_ids_unique)
{
    pthread_t t[THREADS];
    unsigned char trace[16];
    int i, fds[2];
    pid_t pid;
    int status;

    for (i = 0; i < THREADS; ++i) {
        ck_assert_int_eq(pthread_create(&t[i], NULL, make_ids,
                                        ids + i * PER_THREAD), 0);
    }
    for (i = 0; i < THREADS; ++i) {
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
    }
    /* This thread's generator, then a forked child's first ids: the child
     * must not repeat what this thread makes next. */
    prof_trace_random(trace, 16);
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        unsigned char c[PER_THREAD / 2][8];

        prof_trace_forked();
        for (i = 0; i < PER_THREAD / 2; ++i) {
            prof_trace_random(c[i], 8);
        }
        _exit(write(fds[1], c, sizeof(c)) == (ssize_t)sizeof(c) ? 0 : 1);
    }
    close(fds[1]);
    ck_assert_int_eq(read_all(fds[0], ids + THREADS * PER_THREAD,
                              PER_THREAD / 2 * 8), PER_THREAD / 2 * 8);
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (i = PER_THREAD / 2; i < PER_THREAD; ++i) {
        prof_trace_random(ids[THREADS * PER_THREAD + i], 8);
    }
    qsort(ids, (THREADS + 1) * PER_THREAD, 8, cmp8);
    for (i = 1; i < (THREADS + 1) * PER_THREAD; ++i) {
        ck_assert_msg(memcmp(ids[i - 1], ids[i], 8) != 0,
                      "id %d repeated", i);
    }
    for (i = 0; i < 16 && !trace[i]; ++i) {
    }
    ck_assert_int_lt(i, 16);
}
END_TEST

Suite *prof_trace_suite(void)
{
    Suite *s = suite_create("prof_trace");
    TCase *tc = tcase_create("trace");

    tcase_add_checked_fixture(tc, unit_pool_setup, unit_pool_teardown);
    tcase_add_loop_test(tc, traceparent_rules, 0,
                        (int)(sizeof(tp_cases) / sizeof(tp_cases[0])));
    tcase_add_test(tc, traceparent_fields);
    tcase_add_test(tc, trace_hex);
    tcase_add_test(tc, trace_hex_all);
    tcase_add_test(tc, trace_ids_unique);
    suite_add_tcase(s, tc);
    return s;
}
