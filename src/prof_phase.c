/* Licensed under the Apache License, Version 2.0. */

#include "prof_phase.h"

static const char *const phase_names[PROF_PHASE_COUNT] = {
    "read", "postread", "quick", "translate", "storage", "headers", "access",
    "authn", "authz", "type", "fixups", "handler", "body", "log", "total"
};

const char *prof_phase_name(int phase)
{
    if (phase < 0 || phase >= PROF_PHASE_COUNT) {
        return NULL;
    }
    return phase_names[phase];
}

void prof_phase_rec_start(prof_phase_rec_t *rec, prof_mono_us_t now_us,
                          apr_interval_time_t read_us)
{
    int i;

    for (i = 0; i < PROF_PHASE_COUNT; ++i) {
        rec->dur_us[i] = 0;
    }
    rec->dur_us[PROF_PHASE_READ] = read_us > 0 ? read_us : 0;
    rec->seen = 1u << PROF_PHASE_READ;
    rec->start_us = now_us;
    rec->open_us = now_us;
    rec->open = PROF_PHASE_NONE;
}

void prof_phase_close(prof_phase_rec_t *rec, prof_mono_us_t now_us)
{
    if (rec->open != PROF_PHASE_NONE) {
        /* A clock that went backwards (it must not, but a record shared by
         * mistake across threads could see it) adds nothing rather than a
         * negative duration. */
        if (now_us > rec->open_us) {
            rec->dur_us[rec->open] += now_us - rec->open_us;
        }
        rec->open = PROF_PHASE_NONE;
    }
}

void prof_phase_enter(prof_phase_rec_t *rec, prof_phase_t phase,
                      prof_mono_us_t now_us)
{
    prof_phase_close(rec, now_us);
    /* "read" is measured by the caller before the record starts and "total"
     * is computed: neither is entered. Time added to "read" after the start
     * would be counted twice by prof_phase_total(), once as read time and
     * once as elapsed time. */
    if (phase != PROF_PHASE_READ && (unsigned)phase < PROF_PHASE_TOTAL) {
        rec->open = (int)phase;
        rec->open_us = now_us;
        rec->seen |= 1u << phase;
    }
}

void prof_phase_leave(prof_phase_rec_t *rec, prof_phase_t phase,
                      prof_mono_us_t now_us)
{
    if (rec->open == (int)phase) {
        prof_phase_close(rec, now_us);
    }
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
