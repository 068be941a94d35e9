/* Licensed under the Apache License, Version 2.0. */

#include <string.h>
#include "prof_st.h"

/* RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA. A table, because
 * the formatter asks for every byte of every name. */
static const unsigned char tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1,
    ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1,
    ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

int prof_st_is_tchar(unsigned char c)
{
    return tchar_table[c];
}

int prof_st_is_token(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (len == 0) {
        return 0;
    }
    for (i = 0; i < len; ++i) {
        if (!tchar_table[(unsigned char)s[i]]) {
            return 0;
        }
    }
    return 1;
}

void prof_st_init(prof_st_buf_t *b, char *buf, apr_size_t size)
{
    /* No room even for the NUL: every entry will be dropped, and nothing
     * may be written. */
    b->buf = size ? buf : NULL;
    b->cap = size ? size - 1 : 0;
    b->len = 0;
    b->entries = 0;
    b->dropped = 0;
    if (size) {
        buf[0] = '\0';
    }
}

apr_size_t prof_st_format_dur(char *out, apr_interval_time_t dur_us)
{
    apr_size_t n = prof_st_dur_len(dur_us);

    prof_st_put_dur(out, dur_us, n)[0] = '\0';
    return n;
}

int prof_st_add_token_dur(prof_st_buf_t *b, const char *name, apr_size_t len,
                          apr_interval_time_t dur_us)
{
    /* Our own entries go out on every response: no temporary buffers (they
     * would cost a stack-protector check) and no per-byte checks; digits
     * are written straight into place. */
    apr_size_t dlen = prof_st_dur_len(dur_us), sep, need, i;
    char *p;

    if (b->buf == NULL || len == 0) {
        b->dropped++;
        return 0;
    }
    sep = b->entries ? 2 : 0;
    need = sep + len + (dur_us < 0 ? 0 : 5 + dlen);
    if (need > b->cap - b->len) {
        b->dropped++;
        return 0;
    }
    p = b->buf + b->len;
    if (sep) {
        *p++ = ',';
        *p++ = ' ';
    }
    for (i = 0; i < len; ++i) {
        *p++ = name[i];
    }
    if (dur_us >= 0) {          /* else PROF_ST_NO_DUR, as in prof_st_add() */
        memcpy(p, ";dur=", 5);
        p = prof_st_put_dur(p + 5, dur_us, dlen);
    }
    *p = '\0';
    b->len += need;
    b->entries++;
    return 1;
}

/* Appends while there is room; on overflow the caller rolls the entry back. */
#define PUT(c) do { if (p >= end) goto overflow; *p++ = (char)(c); } while (0)

int prof_st_add(prof_st_buf_t *b, const char *name, apr_interval_time_t dur_us,
                const char *desc)
{
    char *p, *end;
    const unsigned char *s;

    if (name == NULL || name[0] == '\0' || b->buf == NULL) {
        b->dropped++;
        return 0;
    }
    p = b->buf + b->len;
    end = b->buf + b->cap;
    if (b->entries) {
        PUT(',');
        PUT(' ');
    }
    for (s = (const unsigned char *)name; *s; ++s) {
        PUT(tchar_table[*s] ? *s : '_');
    }
    if (dur_us >= 0) {
        char d[PROF_ST_DUR_MAX];
        apr_size_t n = prof_st_format_dur(d, dur_us), i;

        PUT(';'); PUT('d'); PUT('u'); PUT('r'); PUT('=');
        for (i = 0; i < n; ++i) {
            PUT(d[i]);
        }
    }
    if (desc != NULL) {
        apr_size_t dlen = strlen(desc);

        PUT(';'); PUT('d'); PUT('e'); PUT('s'); PUT('c'); PUT('=');
        if (prof_st_is_token(desc, dlen)) {
            for (s = (const unsigned char *)desc; *s; ++s) {
                PUT(*s);
            }
        }
        else {
            PUT('"');
            for (s = (const unsigned char *)desc; *s; ++s) {
                if (*s == '"' || *s == '\\') {
                    PUT('\\');
                    PUT(*s);
                }
                else if ((*s < 0x20 && *s != '\t') || *s == 0x7f) {
                    /* The bytes a quoted-string cannot hold: CR/LF would
                     * split the header, NUL would cut it. */
                    PUT(' ');
                }
                else {
                    /* qdtext (RFC 9110 5.6.4): HTAB, SP, VCHAR and
                     * obs-text, kept byte for byte. */
                    PUT(*s);
                }
            }
            PUT('"');
        }
    }
    *p = '\0';
    b->len = (apr_size_t)(p - b->buf);
    b->entries++;
    return 1;

overflow:
    b->buf[b->len] = '\0';
    b->dropped++;
    return 0;
}
