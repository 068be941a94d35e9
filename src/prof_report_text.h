/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_report_text.h
 * @brief The report handler's text in and out: escapers for what it writes
 *        (JSON, HTML, CSV) and parsers for what a client sends it (times,
 *        status filters, paging cursors, integers, durations).
 *
 * Everything the report shows comes from requests, so from strangers: a
 * path, a route or a user agent can hold any byte. The escapers make such a
 * string safe in one output context each, whatever its bytes; the parsers
 * accept one strict syntax each and reject everything else with
 * APR_EINVAL, so that a query parameter is either understood exactly or
 * refused (the handler answers 400 and says which parameter), never half
 * read.
 *
 * Common rules:
 *  - Input strings are read up to their NUL and never past it, in linear
 *    time. Bytes are bytes: no locale, no ctype.h, ASCII rules only.
 *  - A result string lives in the caller's pool p, allocated once; the
 *    escapers may return their input itself when it needs no change, where
 *    documented (so that result then lives as long as the input). They
 *    return NULL only when the pool cannot allocate (as apr_pstrdup does).
 *  - The parsers write their outputs only on success; on failure the
 *    outputs are left as they were. A NULL output pointer is refused
 *    (APR_EINVAL, or 0) rather than written through, and a NULL input
 *    string is refused like any other bad input.
 *  - Surrounding whitespace is not skipped by any parser: the caller trims
 *    if it wants to, so that " 5" is refused rather than guessed at.
 *  - No global state: callable from any thread, each with its own pool.
 *
 * Invalid UTF-8. The JSON and HTML escapers decode their input as UTF-8 and
 * replace every ill-formed sequence by U+FFFD (the bytes EF BF BD), one per
 * maximal subpart, which is what the Unicode standard recommends (chapter
 * 3, "U+FFFD Substitution of Maximal Subparts") and what the WHATWG
 * Encoding Standard's decoder, and so every browser, does. A maximal
 * subpart is the longest run of bytes, from where decoding stands, that
 * starts some well-formed UTF-8 character without finishing it; a byte
 * that starts none is a subpart of its own. So:
 *  - a truncated character ("\xe2\x82" then "a") gives one U+FFFD;
 *  - a byte that can never be in UTF-8 (0xc0, 0xc1, 0xf5-0xff), and a
 *    continuation byte (0x80-0xbf) with no lead byte, give one U+FFFD each;
 *  - overlongs, surrogates and values past U+10FFFF are refused at their
 *    second byte (0xe0 needs 0xa0-0xbf after it, 0xed 0x80-0x9f, 0xf0
 *    0x90-0xbf, 0xf4 0x80-0x8f), so each of their bytes gives one U+FFFD:
 *    the surrogate "\xed\xa0\x80" becomes three, the overlong "\xc0\xaf"
 *    two, "\xf4\x90\x80\x80" (U+110000) four.
 * The results of these two escapers are therefore always valid UTF-8.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_REPORT_TEXT_H
#define PROF_REPORT_TEXT_H

#include "apr.h"
#include "apr_errno.h"
#include "apr_pools.h"

/** The latest time prof_report_time_parse() accepts, in microseconds since
 * the epoch: 9999-12-31T23:59:59.999999Z. The earliest is 0, 1970-01-01. */
#define PROF_REPORT_TIME_MAX_US APR_INT64_C(253402300799999999)

/** The longest duration prof_report_ms_parse() accepts, in milliseconds
 * (about 31.7 years). */
#define PROF_REPORT_MS_MAX APR_INT64_C(1000000000000)

/** The length of every cursor prof_report_cursor_encode() makes. */
#define PROF_REPORT_CURSOR_LEN 24

/* ------------------------------------------------------------- escapers */

/**
 * s as a JSON string literal, quotes included, safe to write as it stands
 * inside an HTML <script type="application/json"> element (and anywhere
 * else JSON goes).
 *
 * Escaped, so that none of these bytes or characters appears raw in the
 * result:
 *  - '"' as \" and '\' as \\ (JSON needs it);
 *  - U+0000-U+001F (JSON needs it): \b \t \n \f \r as such, the others as
 *    \u00XX;
 *  - '<', '>' and '&' as \u003c, \u003e and \u0026: the HTML parser ends a
 *    script element at "</script" and treats "<!--" specially whatever the
 *    type attribute says, and no '&' means the result is also inert where
 *    entities are decoded;
 *  - U+2028 and U+2029 as \u2028 and \u2029: they end a line in
 *    JavaScript before ES2019, so the result stays a valid JS expression
 *    if someone evaluates it;
 *  - U+007F-U+009F (DEL and the C1 controls) as \u00XX: HTML counts them
 *    as control characters and their presence as a parse error. Escaped,
 *    they survive as the same characters in the parsed JSON.
 * Hex digits in \u escapes are lowercase ("\u001b", "\u2028"). Ill-formed
 * UTF-8 becomes U+FFFD, as the file comment says; everything else, ASCII
 * and well-formed UTF-8, is copied byte for byte, '/' and '\'' included.
 *
 * @param p pool for the result
 * @param s NUL-terminated bytes, any; NULL gives the JSON literal null
 *          (without quotes), so that a missing value stays distinct from ""
 * @return a new string in p (never s; for a NULL s, a static "null"), or
 *         NULL if p cannot allocate.
 */
const char *prof_report_json_str(apr_pool_t *p, const char *s);

/**
 * s escaped for HTML text and for attribute values in single or double
 * quotes: '&' '<' '>' '"' '\'' become "&amp;" "&lt;" "&gt;" "&quot;"
 * "&#39;".
 *
 * Control characters other than tab and line feed, that is U+0000-U+0008,
 * U+000B-U+001F (carriage return too: the HTML parser would turn it into
 * a line feed anyway), U+007F and U+0080-U+009F, become U+FFFD, as does
 * ill-formed UTF-8 (see the file comment): a report must show that a
 * string held something strange, not pass it on to the browser. No
 * attribute name or URL context is handled here: an escaped string is
 * safe in an href's text, not as a javascript: URL.
 *
 * @param p pool for the result, if one is needed
 * @param s NUL-terminated bytes, any; NULL gives ""
 * @return s itself when nothing in it needs changing (well-formed UTF-8
 *         with none of the characters above), so the result then lives as
 *         long as s; otherwise a new string in p, or NULL if p cannot
 *         allocate.
 */
const char *prof_report_html(apr_pool_t *p, const char *s);

/**
 * s as one field of an RFC 4180 CSV record, defused against spreadsheet
 * formula injection.
 *
 * In this order:
 *  1. When s starts with '=', '+', '-', '@', tab or carriage return and is
 *     not a number, a '\'' is put in front of it: spreadsheets take such a
 *     cell for a formula (OWASP "CSV Injection"), and show a cell that
 *     starts with '\'' as the text after it. A number is, byte for byte,
 *     an optional '+' or '-', one or more digits 0-9, and optionally '.'
 *     followed by one or more digits: "-12", "+3", "-0.5", "-007.10" are
 *     numbers and stay as they are, so that negative values remain values;
 *     "-", "-.5", "-5.", "-1e3", "-1,5", "- 1", "-1+2" and "-0x10" are not,
 *     and get the '\''.
 *  2. When the field (with its '\'', if any) holds ',', '"', CR or LF, it
 *     is put in double quotes and each '"' in it is doubled.
 * Nothing else changes: the bytes are not decoded, so the field stays in
 * whatever encoding s was (the report's are UTF-8); other control bytes
 * and leading spaces are kept.
 *
 * @param p pool for the result, if one is needed
 * @param s NUL-terminated bytes, any; NULL gives "" (an empty field)
 * @return s itself when neither step applies, so the result then lives as
 *         long as s; otherwise a new string in p, or NULL if p cannot
 *         allocate.
 */
const char *prof_report_csv(apr_pool_t *p, const char *s);

/* -------------------------------------------------------------- parsers */

/**
 * The number of days from 1970-01-01 to the date y-m-d of the proleptic
 * Gregorian calendar, negative before it (Howard Hinnant's
 * days_from_civil). The date is not checked: m is 1-12 and d 1-31 as given
 * to it, and any y within +-1,000,000 years works. Exported for
 * prof_report_time_parse() and its tests.
 */
apr_int64_t prof_report_days_from_civil(int y, int m, int d);

/**
 * A point in time, as a report's from/to parameter gives it, in
 * microseconds since 1970-01-01T00:00:00Z.
 *
 * Accepted, exactly as written here (case matters, except as noted):
 *  - "now": now_us.
 *  - "-<n><unit>": n units before now_us; n is one or more decimal digits
 *    (leading zeros allowed, "-0s" is now_us), unit is s, m (minutes), h,
 *    d or w (weeks), lowercase only. "-15m", "-1h", "-7d", "-2w". No
 *    fractions ("-1.5h"), no months or years (their length varies), and
 *    no future: "+1h" is refused.
 *  - Epoch seconds: one or more decimal digits, optionally '.' and one or
 *    more digits: "1700000000", "1700000000.5". A bare number is always
 *    seconds, even "20240101". A time in milliseconds such as
 *    "1700000000000" is thus about year 55,800 and refused by the range
 *    below, not misread.
 *  - ISO 8601 / RFC 3339: "YYYY-MM-DD" (midnight UTC), or that followed by
 *    'T' ('t' or a space also) and "HH:MM" or "HH:MM:SS", the seconds
 *    optionally followed by '.' and one or more digits, and then
 *    optionally 'Z' ('z' also), "+HH:MM" or "-HH:MM" (hours 00-23,
 *    minutes 00-59; "-00:00" is UTC). No offset means UTC. Exactly as many
 *    digits as shown, so "2024-1-5" is refused, as are the basic format
 *    ("20240105T1200"), week and ordinal dates, an offset after a date
 *    alone, "+05", "+0530" and a fraction after minutes.
 *    Month 01-12, day 01 to the month's last (February 29 only in leap
 *    years), hour 00-23 (no "24:00"), minute 00-59, second 00-60: a leap
 *    second 60 is accepted, as RFC 3339 allows, and counted as the first
 *    second of the next minute, as POSIX time does.
 * Fractions (of epoch seconds or of ISO seconds) use their first 6 digits
 * and truncate the rest, which must still be digits: ".1234567" is 123456
 * microseconds.
 *
 * The result must lie within 0 and PROF_REPORT_TIME_MAX_US, that is from
 * 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z: years before 1970
 * and after 9999 are refused. The range applies to the instant, after the
 * offset, and to every form, "now" and relative times included (so a
 * now_us outside it makes even "now" fail): "1969-12-31T23:00-01:00" is
 * 1970-01-01T00:00Z and accepted, "1970-01-01T00:00+01:00" is not. No
 * arithmetic can overflow: numbers are checked against the range while
 * their digits are read, so "99999999999999999999" is refused, not
 * wrapped.
 *
 * Anything else is APR_EINVAL: "", NULL, surrounding spaces, trailing
 * bytes, signs where none are shown, out-of-range fields. Note for URLs:
 * form decoding turns a '+' into a space, so an offset "+05:30" must be
 * sent as "%2B05:30" (or use 'Z').
 *
 * @param s      the text
 * @param now_us the current time, for "now" and relative times
 * @param out_us where the time goes, on success only
 * @return APR_SUCCESS, or APR_EINVAL.
 */
apr_status_t prof_report_time_parse(const char *s, apr_int64_t now_us,
                                    apr_int64_t *out_us);

/**
 * A status filter: "404" is [404, 404], for a three-digit status 100-599
 * with no leading zero possible; "5xx" is [500, 599], for a class 1-5,
 * each 'x' in either case ("5XX", "5xX" too). Nothing else: "600", "099",
 * "6xx", "0xx", "40x", "4x", " 404", "+404", "4044", "", NULL.
 *
 * @param s  the text
 * @param lo where the lowest status goes, on success only
 * @param hi where the highest status goes, on success only
 * @return 1 when valid, 0 when not.
 */
int prof_report_status_parse(const char *s, int *lo, int *hi);

/**
 * An opaque keyset-paging cursor for the row after (key, id): the
 * PROF_REPORT_CURSOR_LEN characters of base64url (RFC 4648 section 5:
 * A-Z a-z 0-9 '-' '_', no padding) of 18 bytes, key and id as 64-bit big-
 * endian two's complement and a CRC-16/CCITT (polynomial 0x1021, initial
 * value 0xffff) of those 16 bytes. Safe in a URL and in HTML as it
 * stands. Any two values round-trip, negative ones and the int64 extremes
 * included.
 *
 * The check is there to reject garbled or made-up cursors with a clear
 * 400 instead of a confusing page; it is not a signature: anyone can make
 * a valid cursor for any values, so the handler must treat decoded values
 * as untrusted input (bind them as query parameters; they can only move
 * the page).
 *
 * @param p   pool for the result
 * @param key the sort key of the last row shown (a time, a duration)
 * @param id  its unique id, which breaks ties between equal keys
 * @return a new string in p, or NULL if p cannot allocate.
 */
const char *prof_report_cursor_encode(apr_pool_t *p, apr_int64_t key,
                                      apr_int64_t id);

/**
 * The values of a cursor made by prof_report_cursor_encode().
 *
 * Accepted are exactly the strings that encode produces: decode accepts s
 * only if encode(key, id) == s for the values it returns. Refused with
 * APR_EINVAL: NULL, a length other than PROF_REPORT_CURSOR_LEN, any byte
 * outside the base64url alphabet (padding '=', '+', '/', spaces
 * included), and a wrong check. The CRC catches every change confined to
 * 16 consecutive bits, so every single changed character and every swap
 * of two neighbouring characters is refused; a random string of the right
 * length and alphabet passes with a chance of 1 in 65,536.
 *
 * @param s   the cursor
 * @param key where the key goes, on success only
 * @param id  where the id goes, on success only
 * @return APR_SUCCESS, or APR_EINVAL.
 */
apr_status_t prof_report_cursor_decode(const char *s, apr_int64_t *key,
                                       apr_int64_t *id);

/**
 * A decimal integer within [min, max]: an optional '-', then one or more
 * digits 0-9 (leading zeros allowed: "007" is 7, "-0" is 0), and nothing
 * else (no '+', no spaces, no "0x"). Values beyond the int64 range are
 * refused, never wrapped, however many digits they have. A range with
 * min > max accepts nothing.
 *
 * @param s   the text
 * @param min the smallest value accepted
 * @param max the largest value accepted
 * @param out where the value goes, on success only
 * @return APR_SUCCESS, or APR_EINVAL.
 */
apr_status_t prof_report_int_parse(const char *s, apr_int64_t min,
                                   apr_int64_t max, apr_int64_t *out);

/**
 * A duration in milliseconds, as a threshold parameter gives it, in
 * microseconds: one or more digits 0-9, optionally followed by '.' and one
 * to three digits. "250" is 250000, "0.5" is 500, "12.125" is 12125,
 * "007" is 7000. At most PROF_REPORT_MS_MAX ms ("1000000000000.000" is the
 * largest). Refused: a sign ("-1", "+1"), ".5", "5.", more than three
 * decimals ("0.0005", even "1.0000"), exponents, spaces, "", NULL.
 *
 * @param s      the text
 * @param out_us where the duration goes, on success only
 * @return APR_SUCCESS, or APR_EINVAL.
 */
apr_status_t prof_report_ms_parse(const char *s, apr_int64_t *out_us);

/**
 * Is s a value the report's route parameter takes? A route is a folded
 * path, which starts with '/' (anything after it: the caller refuses
 * control bytes), or a ProfilerRoute name, which the directive checked
 * with prof_route_name_check() (prof_route.h): the same check here, so the
 * report accepts every name the directive does.
 *
 * @param s the text; NULL and "" are refused
 * @return 1 when valid, 0 when not.
 */
int prof_report_route_param_ok(const char *s);

/**
 * The store's phase_starts column (schema 4): PROF_PHASE_COUNT - 1 = 14
 * comma-separated fields, one per phase in prof_phase order (read ..
 * log), each the decimal µs from the start of the request at which the
 * phase was first entered, or empty when it did not run ("0,41,,,60,...").
 * Each field is at most 15 digits; no signs, no spaces.
 *
 * @param s   the text; NULL is refused
 * @param out n offsets, -1 for a phase that did not run; written on
 *            success only
 * @param n   the number of fields expected
 * @return APR_SUCCESS, or APR_EINVAL.
 */
apr_status_t prof_report_phase_starts_parse(const char *s, apr_int64_t *out,
                                            int n);

#endif /* PROF_REPORT_TEXT_H */
