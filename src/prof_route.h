/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_route.h
 * @brief What a request contributes to the measurement store besides its
 *        timings: its route, and its path and query string made safe to
 *        keep. (Which requests are kept, and with which weight, is
 *        prof_sample.h.)
 *
 * Two promises of the store rest on this unit:
 *
 *  - Bounded cardinality. Requests are grouped by route. Unless a
 *    ProfilerRoute regex names the route, prof_route_fold() derives it from
 *    the path by folding segments that look like identifiers to ":id", so
 *    /item/123 and /item/456 share the route /item/:id.
 *  - Nothing sensitive by default. Only the path is kept (cut to a bound);
 *    the query string is kept only when configured, and then with the values
 *    of the named parameters replaced (prof_query_redact()). Headers, cookies
 *    and bodies never come here.
 *
 * Every string function here reads its input only up to its NUL (the
 * truncation not even that far), in linear time, allocates its result once
 * from the caller's pool, at most max_len + 1 bytes, and returns a new
 * NUL-terminated string there, never the input itself: the result lives as
 * long as the pool, whatever becomes of the input. Lengths are in bytes, without the
 * NUL. Bytes are bytes: no locale, no decoding of the result, no check that
 * the input is valid UTF-8; the cuts only make sure they do not split a
 * UTF-8 character themselves. No global state: callable from any thread,
 * each with its own pool (APR pools are not thread-safe).
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_ROUTE_H
#define PROF_ROUTE_H

#include "apr.h"
#include "apr_pools.h"
#include "apr_tables.h"

/** What an identifier-like path segment folds to. */
#define PROF_ROUTE_ID ":id"

/** What the value of a redacted query parameter becomes. */
#define PROF_QUERY_REDACTED "REDACTED"

/** The longest parameter name, decoded, that prof_query_redact() compares
 * part by part; a longer one is redacted unread (fails closed). */
#define PROF_QUERY_NAME_MAX 256

/** The longest ProfilerRoute name, in bytes (the store's route column keeps
 * PROF_ROW_ROUTE_MAX = as many; a unit test holds them equal). */
#define PROF_ROUTE_NAME_MAX 256

/** What prof_route_name_check() accepts, for error messages. */
#define PROF_ROUTE_NAME_RULE "1 to 256 bytes of UTF-8: letters, digits, " \
    "spaces (not first or last) and ! # $ & ( ) * + , - . / : ? @ [ ] ^ _ " \
    "{ | } ~"

/**
 * Is name a route name that the store keeps and the report takes back as
 * its route parameter? The one rule for both: the ProfilerRoute directive
 * refuses what this refuses, and the report accepts every name it accepts,
 * so every link the dashboard makes to a route answers.
 *
 * Accepted: 1 to PROF_ROUTE_NAME_MAX bytes of valid UTF-8 (shortest forms,
 * no surrogates, at most U+10FFFF) made of ASCII letters and digits, any
 * character beyond ASCII, spaces, and the punctuation
 * ! # $ & ( ) * + , - . / : ? @ [ ] ^ _ { | } ~ -- so "/item/:id",
 * "checkout page", "api.v2", "Bestellung (alt)", "search & more?", "user $1"
 * and "caf\xc3\xa9" are names. Refused: control bytes (HTAB included) and
 * DEL; the quotes, a backslash, '`', ';', '=', '<', '>' and '%', which no
 * route needs and which the report turns away as probing (SQL, HTML, a
 * value encoded twice) in every text parameter; and a space at either end (a name that differs from another
 * only there would look the same in every list). A leading '/' is allowed:
 * such a name reads like a folded path, and the report takes it like one.
 *
 * Part of the APR-only core: no allocation, no locale, linear in the name.
 *
 * @param name the name, NUL-terminated; NULL is refused
 * @return NULL when accepted, else why not: a static English phrase
 *         ("is empty", "holds a control character", ...) to follow the
 *         name in an error message.
 */
const char *prof_route_name_check(const char *name);

/**
 * The default route of a URL path: the path with every segment that looks
 * like an identifier replaced by PROF_ROUTE_ID.
 *
 * The path is split on '/'. A segment folds, whole or not at all, when it
 * is, byte for byte as it stands:
 *  (a) one or more decimal digits: "123", "0", "20240101";
 *  (b) a UUID: 8-4-4-4-12 hex digits with '-' between, any case, nothing
 *      around it ("{...}" or "urn:uuid:..." do not fold);
 *  (c) 16 or more hex digits, any case: hashes, object ids, session-like
 *      tokens, and 32-digit UUIDs without dashes;
 *  (d) 8 to 15 hex digits, any case, with at least one decimal digit:
 *      "5f3a9c1e", short hashes. A digit is required because English and
 *      hex share words ("deadbeef", "accede", "facade", "decade" stay),
 *      while a random 8-digit hex string lacks a decimal digit only once
 *      in about 2,600 times. Git's default 7-digit short hashes do not fold;
 *      a ProfilerRoute can name those routes.
 * Nothing else folds: "v2", "-1", "1.5", "123.json", "user-42", "0x1f",
 * percent-encoded digits ("%31" is three bytes, and '%' is not a hex digit)
 * and bytes >= 0x80 stay as they are. PROF_ROUTE_ID itself does not fold,
 * so folding a route again changes nothing.
 *
 * Everything else is kept byte for byte: empty segments (so "//x" and "/x"
 * stay two routes, as they are two paths: httpd's MergeSlashes decides that,
 * not the profiler), a leading and a trailing '/', percent-encodings, "."
 * and "..". The query string is not looked for: the caller passes the path
 * only (r->parsed_uri.path, or r->uri), and a '?' in it is an ordinary byte.
 * A segment is classified on its bytes up to the next '/' or NUL.
 *
 * @param p       pool for the result
 * @param path    the path, NUL-terminated; NULL is taken as ""
 * @param max_len the most bytes the result may have. When the folded path
 *                is longer, it is cut before its last '/' that stands at
 *                an index from 1 to max_len, so that the result ends on a
 *                whole segment and without the '/' ("/a/b/c" with max_len 4
 *                is "/a/b", with max_len 3 is "/a"). When there is no such
 *                '/' (the first segment alone does not fit), it is cut as
 *                prof_path_truncate() cuts: at max_len, moved back to the
 *                start of a UTF-8 character that max_len would split.
 *                A cut route carries no mark; choose max_len so that cuts
 *                are rare. Cutting happens after folding, so "/item/<UUID>"
 *                with max_len 9 is "/item/:id".
 * @return the route, in p, at most max_len bytes.
 */
const char *prof_route_fold(apr_pool_t *p, const char *path,
                            apr_size_t max_len);

/**
 * prof_route_fold() for the request path: the same route, but the path
 * itself (not a copy, nothing allocated) when no segment folds and it is
 * at most max_len bytes long, which is what most paths are; a copy in p
 * from prof_route_fold() otherwise. Either way NUL-terminated, and *len is
 * its length: prof_agg_str_setn() hashes it without measuring it again.
 * One pass over the path, a few instructions a byte. Unlike the other
 * functions here, the result may be path: it lives as long as both path
 * and p do.
 */
const char *prof_route_fold_len(apr_pool_t *p, const char *path,
                                apr_size_t max_len, apr_size_t *len);

/**
 * The path as the store's path column keeps it: a copy, cut to max_len
 * bytes, never in the middle of a UTF-8 character.
 *
 * A path of at most max_len bytes is copied unchanged, whatever its bytes
 * (this cuts, it does not repair). A longer one keeps its first n bytes,
 * where n is max_len unless the bytes before max_len end with a UTF-8 lead
 * byte (110xxxxx, 1110xxxx, 11110xxx) followed by fewer continuation bytes
 * (10xxxxxx) than it announces: then n is the index of that lead byte, and
 * the partial character is dropped whole (so is a lead byte that was
 * already short of continuation bytes in the path, such as a Latin-1 0xe9
 * right before the cut). Only the 3 bytes before the cut are looked at:
 * when they hold no lead byte, as with a byte that starts no character
 * (0xf8-0xff) or a run of stray continuation bytes, invalid input is cut
 * like ASCII, at max_len. For valid UTF-8 the result is the longest prefix
 * of whole characters that fits.
 *
 * @param p       pool for the result
 * @param path    NUL-terminated, or at least max_len + 1 bytes long: NULL is
 *                taken as "", and at most max_len + 1 bytes are read.
 * @param max_len the most bytes the result may have
 * @return the path, in p, at most max_len bytes.
 */
const char *prof_path_truncate(apr_pool_t *p, const char *path,
                               apr_size_t max_len);

/**
 * How many bytes of s prof_path_truncate() keeps: its length when that is
 * at most max_len, else the cut described there. For callers that copy
 * into memory of their own. NULL counts as "". Reads at most max_len + 1
 * bytes.
 */
apr_size_t prof_utf8_prefix_len(const char *s, apr_size_t max_len);

/**
 * The query string with the values of sensitive parameters replaced.
 *
 * Parameters are separated by '&' and by ';' (the HTML 4 recommendation,
 * and what PHP's arg_separator.input, Perl's CGI.pm, Python's parse_qs
 * before 3.10 and many Java servlet containers split on): whatever the
 * application splits on, a secret after a ';' is hidden. A parameter's
 * name is what comes before its first '=', its value what follows it.
 * Every parameter whose name matches becomes name=PROF_QUERY_REDACTED, the
 * name and the separator kept as written; an empty value is replaced too,
 * so the result does not tell an empty secret from another. Everything else
 * is kept byte for byte, in order: parameters without '=' (whatever their
 * name: there is no value to hide), empty parameters ("a=1&&b=2", a
 * trailing '&'), empty names ("=x"), repeated names (each occurrence is
 * redacted).
 *
 * A name matches an entry of redact_names when, compared ASCII
 * case-insensitively and with '-' and '_' taken as the same byte, the entry
 * equals
 *  - the name as written, or
 *  - the name decoded ("%XX" with two hex digits is that byte, '+' is a
 *    space; any other '%' stays), or
 *  - a part of the decoded name in brackets notation: the part before its
 *    first '[', or what stands between a '[' and the next ']' (or the end):
 *    "user[password]", "a[b][token]", "password[]" and
 *    "user%5Bpassword%5D" all match "password".
 * So "Password", "pass%77ord", "PASS%57ORD" and "pass-word" all match
 * "pass_word", and "X-Amz-Signature" matches "x_amz_signature". Case-
 * insensitive, decoded and by part, because the application that reads the
 * query may be (ASP.NET compares names case-insensitively, every framework
 * decodes them, PHP and Rails make nested parameters of brackets), and a
 * value wrongly hidden costs one profile column while a value wrongly kept
 * leaks a secret. For the same reason a name longer than
 * PROF_QUERY_NAME_MAX bytes after decoding has its value hidden whenever
 * any entry is given.
 *
 * @param p            pool for the result
 * @param args         the query string without the '?' (r->args),
 *                     NUL-terminated; NULL (the request had none) gives
 *                     NULL, "" (a bare '?') gives "".
 * @param redact_names an array of const char * (plain names, not encoded),
 *                     or NULL / empty for none; NULL or empty entries are
 *                     skipped. An array whose elt_size is not
 *                     sizeof(const char *) fails closed: every value is
 *                     redacted.
 * @param max_len      the most bytes the result may have. The result is the
 *                     longest run of whole (redacted) parameters from the
 *                     start, with their separators, that fits: it is cut
 *                     just before the separator of the first parameter that
 *                     does not
 *                     fit, never inside a parameter, so a value is never
 *                     partly shown. When the first parameter does not fit,
 *                     the result is "". A cut result carries no mark.
 * @return the redacted query string in p, at most max_len bytes, or NULL.
 */
const char *prof_query_redact(apr_pool_t *p, const char *args,
                              const apr_array_header_t *redact_names,
                              apr_size_t max_len);

#endif /* PROF_ROUTE_H */
