/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "prof_phase.h"

static const char *const phase_names[PROF_PHASE_COUNT] = {
    "read", "postread", "quick", "translate", "storage", "headers", "access",
    "authn", "authz", "type", "fixups", "handler", "body", "log", "total"
};

/* "name;dur=" of each phase, padded to 16 bytes so that one fixed-size
 * copy (two moves) places it; the length says how much of it counts. */
static const char phase_st_prefix[PROF_PHASE_COUNT][16] = {
    "read;dur=", "postread;dur=", "quick;dur=", "translate;dur=",
    "storage;dur=", "headers;dur=", "access;dur=", "authn;dur=",
    "authz;dur=", "type;dur=", "fixups;dur=", "handler;dur=", "body;dur=",
    "log;dur=", "total;dur="
};

static const apr_size_t phase_name_lens[PROF_PHASE_COUNT] = {
    4, 8, 5, 9, 7, 7, 6, 5, 5, 4, 6, 7, 4, 3, 5
};

const char *prof_phase_name(int phase)
{
    if (phase < 0 || phase >= PROF_PHASE_COUNT) {
        return NULL;
    }
    return phase_names[phase];
}

prof_mono_us_t prof_phase_fold(prof_phase_rec_t *rec)
{
    unsigned i;

    for (i = 0; i < rec->nmarks; ++i) {
        const prof_phase_mark_t *m = &rec->marks[i];
        prof_mono_us_t t = prof_clock_ts_us(&m->ts);

        rec->last_us = t;
        if (m->what & PROF_MARK_LEAVE) {
            prof_phase_leave(rec, (prof_phase_t)(m->what & ~PROF_MARK_LEAVE), t);
        }
        else {
            prof_phase_enter(rec, (prof_phase_t)m->what, t);
        }
    }
    rec->nmarks = 0;
    return rec->last_us;
}

apr_interval_time_t prof_phase_total(prof_phase_rec_t *rec,
                                     prof_mono_us_t now_us)
{
    apr_interval_time_t t = rec->dur_us[PROF_PHASE_READ];

    if (now_us > rec->start_us) {
        t += now_us - rec->start_us;
    }
    rec->dur_us[PROF_PHASE_TOTAL] = t;
    rec->seen |= 1u << PROF_PHASE_TOTAL;
    return t;
}

/* Room the fast path may touch for one entry: ", ", a 16-byte prefix copy,
 * 20 digits, ".", 3 decimals and the NUL. */
#define ST_ENTRY_ROOM (2 + 16 + 20 + 4 + 1)

static void write_st_entry(prof_st_buf_t *st, int phase, apr_interval_time_t d)
{
    char *p;

    if (st->buf == NULL || st->cap - st->len < ST_ENTRY_ROOM) {
        /* Near the cap: the exact, checked path decides what fits. */
        prof_st_add_token_dur(st, phase_names[phase], phase_name_lens[phase], d);
        return;
    }
    p = st->buf + st->len;
    if (st->entries) {
        *p++ = ',';
        *p++ = ' ';
    }
    memcpy(p, phase_st_prefix[phase], 16);
    p = prof_st_put_dur(p + phase_name_lens[phase] + 5, d, prof_st_dur_len(d));
    *p = '\0';
    st->len = (apr_size_t)(p - st->buf);
    st->entries++;
}

void prof_phase_write_st(const prof_phase_rec_t *rec,
                         apr_interval_time_t total_us, prof_st_buf_t *st)
{
    int i;

    for (i = 0; i < PROF_PHASE_BODY; ++i) {
        if (rec->dur_us[i] > 0) {
            write_st_entry(st, i, rec->dur_us[i]);
        }
    }
    write_st_entry(st, PROF_PHASE_TOTAL, total_us);
}
