/* Licensed under the Apache License, Version 2.0. */

#include "prof_sample.h"

double prof_sample_weight(double fraction, double u, int always_keep)
{
    if (always_keep || fraction >= 1.0) {
        return 1.0;
    }
    if (!(fraction > 0.0)) {    /* also NaN */
        return 0.0;
    }
    if (fraction < PROF_SAMPLE_MIN_FRACTION) {
        fraction = PROF_SAMPLE_MIN_FRACTION;
    }
    return u < fraction ? 1.0 / fraction : 0.0;
}

double prof_sample_u01(apr_uint64_t *state)
{
    /* splitmix64 (Steele, Lea, Flood 2014; Vigna's constants): one add and
     * two multiplies, any seed, period 2^64. */
    apr_uint64_t z = (*state += APR_UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * APR_UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * APR_UINT64_C(0x94d049bb133111eb);
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);     /* 2^-53 */
}
