/* Licensed under the Apache License, Version 2.0. */

/**
 * @file  prof_st.h
 * @brief Writing W3C Server-Timing header values.
 *
 * The grammar (https://w3c.github.io/server-timing/#the-server-timing-header-field):
 *   Server-Timing = #server-timing-metric
 *   server-timing-metric = metric-name *( OWS ";" OWS server-timing-param )
 *   metric-name = token
 *   server-timing-param = server-timing-param-name OWS "=" OWS
 *                         server-timing-param-value
 *   server-timing-param-value = token / quoted-string
 *
 * Whatever bytes a caller passes, the writer produces a value of that grammar:
 * names are RFC 9110 tokens (other bytes become '_'), a description is a token
 * or a quoted-string (RFC 9110 5.6.4) with '"' and '\' escaped and every
 * other byte a quoted-string may hold (HTAB, SP, VCHAR, obs-text) kept byte for
 * byte; only the bytes it cannot hold (the controls other than HTAB, and DEL)
 * become a space, durations are milliseconds with a '.' radix and three decimals
 * (microseconds), never negative, NaN or in exponent form, whatever the locale.
 * The value is bounded: an entry that does not fit is dropped whole, never cut.
 *
 * Part of the APR-only core: no httpd header may be included here.
 */

#ifndef PROF_ST_H
#define PROF_ST_H

#include "apr.h"
#include "apr_time.h"

/** Pass as dur_us to write an entry without a dur parameter. */
#define PROF_ST_NO_DUR ((apr_interval_time_t)-1)

/** Room prof_st_format_dur() needs, with its NUL. */
#define PROF_ST_DUR_MAX 24

/** A Server-Timing value being written into a caller's buffer. */
typedef struct {
    char *buf;          /**< the caller's buffer, always NUL-terminated */
    apr_size_t cap;     /**< most bytes of value, not counting the NUL */
    apr_size_t len;     /**< bytes written so far */
    unsigned entries;   /**< entries written */
    unsigned dropped;   /**< entries dropped: no room, or no usable name */
} prof_st_buf_t;

/**
 * Start an empty value in buf, which has room for size bytes, its NUL
 * included. With size 0 nothing is ever written and every entry is dropped.
 */
void prof_st_init(prof_st_buf_t *b, char *buf, apr_size_t size);

/**
 * Append one entry. name is made a token; dur_us < 0 (PROF_ST_NO_DUR) writes
 * no dur; desc NULL writes no desc. Returns 1 when the entry was written, 0
 * when it was dropped (it would not fit in the cap, or name was empty).
 */
int prof_st_add(prof_st_buf_t *b, const char *name, apr_interval_time_t dur_us,
                const char *desc);

/**
 * Append an entry name;dur=... whose name the caller guarantees to be an
 * RFC 9110 token of len bytes (a canonical phase name, say): the fast path
 * for our own entries, which copies the name instead of checking it byte by
 * byte. dur_us and dropping work as in prof_st_add(); the output is the
 * same byte for byte. Returns 1 if written, else 0.
 */
int prof_st_add_token_dur(prof_st_buf_t *b, const char *name, apr_size_t len,
                          apr_interval_time_t dur_us);

/**
 * Write dur_us as milliseconds with three decimals ("1.204") into out, which
 * has at least PROF_ST_DUR_MAX bytes. Negative durations write "0". Returns
 * the length written.
 */
apr_size_t prof_st_format_dur(char *out, apr_interval_time_t dur_us);

/**
 * How many bytes prof_st_put_dur() writes for dur_us (> 0: "ms.fff"; 0 or
 * negative: "0").
 */
static APR_INLINE apr_size_t prof_st_dur_len(apr_interval_time_t dur_us)
{
    apr_uint64_t ms;
    apr_size_t n = 1;

    if (dur_us <= 0) {
        return 1;
    }
    for (ms = (apr_uint64_t)dur_us / 1000; ms >= 10; ms /= 10) {
        n++;
    }
    return n + 4;
}

/**
 * Write dur_us as prof_st_format_dur() does, without a NUL, into p, which
 * has room for len = prof_st_dur_len(dur_us) bytes; returns p + len.
 * Integer arithmetic only: printf("%f") would follow LC_NUMERIC and could
 * write a ',' radix or an exponent. Shared by every writer of durations.
 */
static APR_INLINE char *prof_st_put_dur(char *p, apr_interval_time_t dur_us,
                                        apr_size_t len)
{
    apr_uint64_t v, ms;
    unsigned frac;
    char *q;

    if (dur_us <= 0) {
        *p = '0';
        return p + 1;
    }
    v = (apr_uint64_t)dur_us;
    ms = v / 1000;
    frac = (unsigned)(v - ms * 1000);
    q = p + len - 4;            /* the ms digits end here */
    do {
        *--q = (char)('0' + ms % 10);
        ms /= 10;
    } while (ms);
    q = p + len - 4;
    q[0] = '.';
    q[1] = (char)('0' + frac / 100);
    q[2] = (char)('0' + frac / 10 % 10);
    q[3] = (char)('0' + frac % 10);
    return p + len;
}

/** Is c an RFC 9110 tchar? */
int prof_st_is_tchar(unsigned char c);

/** Is s[0..len) a non-empty RFC 9110 token? */
int prof_st_is_token(const char *s, apr_size_t len);

#endif /* PROF_ST_H */
