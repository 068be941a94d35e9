/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_st_parse.h
 * @brief Reading W3C Server-Timing header values, as browsers read them.
 *
 * The grammar is the one prof_st.h writes:
 *   Server-Timing = #server-timing-metric
 *   server-timing-metric = metric-name *( OWS ";" OWS server-timing-param )
 *   server-timing-param = server-timing-param-name OWS "=" OWS
 *                         server-timing-param-value
 * but values from upstream servers and from other modules are not always
 * valid, and a browser does not reject them: it keeps what it can. This
 * parser keeps what a browser keeps. The reference is the web-platform-tests
 * suite server-timing/server_timing_header-parsing (cases 0-84 under
 * server-timing/resources/parsing/), which test/unit/test_st_parse.c carries
 * over into its own table. The rules, in the order they apply:
 *
 *  - The value is a list of elements split on ',' outside quoted-strings. A
 *    quoted-string starts at any '"' outside one, a '\' inside one escapes
 *    the next byte, whatever it is; one that is not closed runs to the end of
 *    the value, so it swallows any ',' after it.
 *  - Elements that are empty or only OWS (SP, HTAB) are skipped; OWS around
 *    elements, names, ';', '=' and values is skipped.
 *  - The metric name is the longest run of tchars at the start of an element,
 *    case kept. An element without one ("=", "[", ";", "\"x\"") is skipped
 *    whole.
 *  - Anything after the name, or after a parameter value, that is not ';' or
 *    ',' is junk, skipped up to the next ';' or ',' outside quoted-strings
 *    (WPT 63-68: "metric==   \"\"foo;dur=123.4" still has dur 123.4).
 *  - A parameter name is a run of tchars, compared ASCII case-insensitively
 *    (WPT 51). A ';' with no name after it is junk up to the next ';' (not a
 *    WPT case; "a;;dur=1" keeps its dur, as the junk rule would).
 *  - A parameter value is a quoted-string (unescaped) or a token; a parameter
 *    without '=' has the empty value (WPT 59, 61, 69), and so has one whose
 *    value is neither (WPT 20: "desc=\\" is "").
 *  - An unterminated quoted-string is the empty value (WPT 21, 24, 30, 31,
 *    42, 44), and consumes the rest of the value.
 *  - Only dur and desc are kept; other parameters are dropped (WPT 55). The
 *    FIRST of each counts, even when empty or not a number; later ones never
 *    replace it (WPT 56-62).
 *  - dur is read, token or quoted-string alike (WPT 3: dur="123.4" is 123.4),
 *    as HTML's "rules for parsing floating-point number values", which the
 *    Server-Timing specification names and Chromium follows: leading ASCII
 *    whitespace, an optional sign, digits with an optional '.' and fraction
 *    (".5" and "5." are numbers), an optional exponent, and the longest such
 *    prefix counts: "123.4abc" is 123.4, "1e" is 1. The WPT cases do not
 *    decide trailing junk; they only say that "foo" is 0 (WPT 53, 54). No
 *    digits, "inf", "nan", or a value that overflows a double are 0. The
 *    radix is '.' whatever LC_NUMERIC says: strtod() is not used.
 *
 * Bounded and linear: at most PROF_ST_PARSE_MAX_INPUT bytes are looked at,
 * at most PROF_ST_PARSE_MAX_ENTRIES entries are returned, every byte is read
 * a bounded number of times, nothing recurses. The pool receives at most one
 * copy of the bytes looked at (and a NUL per string); out grows by one
 * element per metric.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_ST_PARSE_H
#define PROF_ST_PARSE_H

#include "apr.h"
#include "apr_errno.h"
#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"

/** One metric of a Server-Timing value. */
typedef struct {
    /** NUL-terminated copy in the pool: a non-empty RFC 9110 token, case
     *  kept. */
    const char *name;
    /** A dur parameter was present (the first one counts). */
    int has_dur;
    /** Its value in milliseconds; 0 when there is none, when it is empty or
     *  not a number. Always finite; may be negative, as a header may say. */
    double dur_ms;
    /** A desc parameter was present (the first one counts). */
    int has_desc;
    /** Its value, unescaped, as a NUL-terminated copy in the pool; "" when
     *  there is none, when it is empty or an unterminated quoted-string. A
     *  NUL byte inside a quoted desc ends it there (a C string cannot hold
     *  it); the rest of the quoted-string is consumed all the same. */
    const char *desc;
} prof_st_entry_t;

/** Bytes of a value looked at, at most. */
#define PROF_ST_PARSE_MAX_INPUT   16384

/** Entries one call returns, at most. */
#define PROF_ST_PARSE_MAX_ENTRIES 128

/** The largest duration prof_st_entry_dur_us() returns: 10^15 us, about
 *  31.7 years, far from any overflow of apr_interval_time_t. */
#define PROF_ST_PARSE_MAX_DUR_US  APR_INT64_C(1000000000000000)

/**
 * Parse a Server-Timing field value and append its metrics to out.
 *
 * @param p     pool for the names and descriptions; entries point into it
 *              and live as long as it does
 * @param value the field value, len bytes; it need NOT be NUL-terminated,
 *              and value[len] and beyond are never read (nor anything past
 *              PROF_ST_PARSE_MAX_INPUT bytes). May be NULL when len is 0.
 * @param len   its length in bytes; NUL bytes within it are bytes like any
 *              other non-tchar
 * @param out   an array of prof_st_entry_t (elt_size must match), from
 *              apr_array_make(); entries are appended after what it holds
 *
 * Several header fields must be joined by the caller with ", " first, as
 * RFC 9110 5.3 combines them. Linear time in min(len, PROF_ST_PARSE_MAX_INPUT),
 * no recursion, no global state: callable from any thread with its own pool.
 *
 * @return APR_SUCCESS; APR_INCOMPLETE when a bound cut the parse short: len
 *         was over PROF_ST_PARSE_MAX_INPUT (the metric that the cut falls in
 *         is dropped, since its dur or desc may be cut too) or there were
 *         more than PROF_ST_PARSE_MAX_ENTRIES metrics (the first ones are
 *         kept). Entries appended up to then are complete and valid.
 *         APR_EINVAL when p or out is NULL, out holds another type, or value
 *         is NULL with len > 0; nothing is appended then.
 */
apr_status_t prof_st_parse(apr_pool_t *p, const char *value, apr_size_t len,
                           apr_array_header_t *out);

/**
 * prof_st_parse(), also storing in *reads how many times it examined a byte
 * of value (a byte examined twice counts twice; copies count too). For the
 * unit tests, which hold the parser to linear time with this count instead
 * of with a clock. reads may be NULL.
 */
apr_status_t prof_st_parse_counted(apr_pool_t *p, const char *value,
                                   apr_size_t len, apr_array_header_t *out,
                                   apr_size_t *reads);

/**
 * The entry's dur_ms as whole microseconds, for prof_st_add(): rounded to
 * the nearest (halves up); negative, zero, NaN and infinite give 0; anything
 * over PROF_ST_PARSE_MAX_DUR_US gives that. Integer for every double, so it
 * never overflows. Does not look at has_dur.
 */
apr_interval_time_t prof_st_entry_dur_us(const prof_st_entry_t *e);

#endif /* PROF_ST_PARSE_H */
