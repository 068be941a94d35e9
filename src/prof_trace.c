/* Licensed under the Apache License, Version 2.0. */

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "apr_general.h"
#include "apr_time.h"

#include "prof_trace.h"

/* Hex digit values plus one; 0 for anything that is not a lower-case hex
 * digit (the specification refuses upper case). */
static const unsigned char hexval1[256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
    ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
    ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* n bytes from 2n hex digits; 0 when one is not a lower-case hex digit. */
static int unhex(const char *s, unsigned char *out, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        unsigned char hi = hexval1[(unsigned char)s[2 * i]];
        unsigned char lo = hexval1[(unsigned char)s[2 * i + 1]];

        if (!hi || !lo) {
            return 0;
        }
        out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
    }
    return 1;
}

static int all_zero(const unsigned char *b, apr_size_t n)
{
    apr_size_t i;

    for (i = 0; i < n; ++i) {
        if (b[i]) {
            return 0;
        }
    }
    return 1;
}

int prof_traceparent_parse(const char *value, prof_trace_ctx_t *out)
{
    prof_trace_ctx_t c;
    unsigned char version;
    apr_size_t len;

    if (value == NULL) {
        return 0;
    }
    len = strnlen(value, PROF_TRACEPARENT_LEN + 1);
    if (len < PROF_TRACEPARENT_LEN
        || !unhex(value, &version, 1) || version == 0xff
        || value[2] != '-' || value[35] != '-' || value[52] != '-') {
        return 0;
    }
    /* Version 00 is exactly this long; a later one may carry more, after
     * a '-' (what a version-00 reader must ignore). */
    if (len > PROF_TRACEPARENT_LEN
        && (version == 0 || value[PROF_TRACEPARENT_LEN] != '-')) {
        return 0;
    }
    if (!unhex(value + 3, c.trace_id, 16) || !unhex(value + 36, c.span_id, 8)
        || !unhex(value + 53, &c.flags, 1)
        || all_zero(c.trace_id, 16) || all_zero(c.span_id, 8)) {
        return 0;
    }
    *out = c;
    return 1;
}

/* Every byte's two hex digits: one two-byte copy a byte. */
static const char hexpairs[513] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* Four bytes' eight hex digits at once: each nibble spread to a byte of
 * its own, then '0' or 'a' - 10 added to all eight. */
static APR_INLINE void hex4(const unsigned char *b, char *out)
{
    apr_uint64_t x = (apr_uint64_t)b[0] << 24 | (apr_uint64_t)b[1] << 16
                     | (apr_uint64_t)b[2] << 8 | b[3], letters;

    x = (x | x << 16) & APR_UINT64_C(0x0000ffff0000ffff);
    x = (x | x << 8) & APR_UINT64_C(0x00ff00ff00ff00ff);
    x = (x | x << 4) & APR_UINT64_C(0x0f0f0f0f0f0f0f0f);
    letters = ((x + APR_UINT64_C(0x0606060606060606)) >> 4)
              & APR_UINT64_C(0x0101010101010101);
    x += APR_UINT64_C(0x3030303030303030) + letters * ('a' - '0' - 10);
#if !APR_IS_BIGENDIAN
    x = __builtin_bswap64(x);   /* the first digit in the lowest byte */
#endif
    memcpy(out, &x, 8);
}

#if defined(__SSE2__)
/* Eight bytes' sixteen hex digits at once (SSE2, which every x86-64 has):
 * the high and the low nibbles interleaved, then '0' added to each, and
 * 'a' - '0' - 10 more to those above 9. A trace id is two, a span id one. */
static APR_INLINE void hex8(const unsigned char *b, char *out)
{
    const __m128i low = _mm_set1_epi8(0x0f);
    __m128i x = _mm_loadl_epi64((const __m128i *)(const void *)b);
    __m128i nib = _mm_unpacklo_epi8(_mm_and_si128(_mm_srli_epi16(x, 4), low),
                                    _mm_and_si128(x, low));
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(nib, _mm_set1_epi8(9)),
                                   _mm_set1_epi8('a' - '0' - 10));

    _mm_storeu_si128((__m128i *)(void *)out,
                     _mm_add_epi8(nib, _mm_add_epi8(letter,
                                                    _mm_set1_epi8('0'))));
}
#endif

void prof_trace_hex(const unsigned char *bytes, apr_size_t n, char *out)
{
    apr_size_t i = 0;

#if defined(__SSE2__)
    for (; i + 8 <= n; i += 8) {
        hex8(bytes + i, out + 2 * i);
    }
#endif
    for (; i + 4 <= n; i += 4) {
        hex4(bytes + i, out + 2 * i);
    }
    for (; i < n; ++i) {
        memcpy(out + 2 * i, hexpairs + 2 * bytes[i], 2);
    }
    out[2 * n] = '\0';
}

void prof_traceparent_format(const prof_trace_ctx_t *ctx, char *buf)
{
    buf[0] = '0';
    buf[1] = '0';
    buf[2] = '-';
    prof_trace_hex(ctx->trace_id, 16, buf + 3);
    buf[35] = '-';
    prof_trace_hex(ctx->span_id, 8, buf + 36);
    buf[52] = '-';
    prof_trace_hex(&ctx->flags, 1, buf + 53);
}

/* ---- ids ---------------------------------------------------------------- */

/* xoshiro256** (Blackman and Vigna), one state per thread. A thread's state
 * lives in its TLS: no lock and no sharing. A forked child inherits its
 * parent thread's state, so the state also records the process's
 * generation (prof_trace_forked() bumps it in every new child) and is
 * seeded anew when that changed. */
typedef struct {
    apr_uint64_t s[4];
    apr_uint32_t gen;           /**< the generation it was seeded in; 0 none */
} rng_t;

static __thread __attribute__((tls_model("initial-exec"))) rng_t rng;
static volatile apr_uint32_t generation = 1;

void prof_trace_forked(void)
{
    __atomic_add_fetch(&generation, 1, __ATOMIC_RELAXED);
}

static APR_INLINE apr_uint64_t rotl(apr_uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static apr_uint64_t splitmix(apr_uint64_t *x)
{
    apr_uint64_t z = (*x += APR_UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * APR_UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * APR_UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void seed(rng_t *g, apr_uint32_t gen)
{
    apr_uint64_t mix;
    int i;

    if (apr_generate_random_bytes((unsigned char *)g->s, sizeof(g->s))
        != APR_SUCCESS || all_zero((unsigned char *)g->s, sizeof(g->s))) {
        /* No random source: the clock and where this thread's state is,
         * spread over the whole state. */
        mix = (apr_uint64_t)apr_time_now() ^ (apr_uint64_t)(apr_uintptr_t)g;
        for (i = 0; i < 4; ++i) {
            g->s[i] = splitmix(&mix);
        }
    }
    g->gen = gen;
}

static APR_INLINE apr_uint64_t step(rng_t *g)
{
    apr_uint64_t result, t;

    result = rotl(g->s[1] * 5, 7) * 9;
    t = g->s[1] << 17;
    g->s[2] ^= g->s[0];
    g->s[3] ^= g->s[1];
    g->s[1] ^= g->s[2];
    g->s[0] ^= g->s[3];
    g->s[2] ^= t;
    g->s[3] = rotl(g->s[3], 45);
    return result;
}

static APR_INLINE apr_uint64_t next(void)
{
    rng_t *g = &rng;
    apr_uint32_t gen = __atomic_load_n(&generation, __ATOMIC_RELAXED);

    if (g->gen != gen) {
        seed(g, gen);
    }
    return step(g);
}

void prof_trace_random(unsigned char *out, apr_size_t n)
{
    apr_size_t i;
    apr_uint64_t v;

    if (n == 8) {               /* a span id: the usual case, one draw */
        do {
            v = next();
        } while (v == 0);
        memcpy(out, &v, 8);
        return;
    }
    do {
        for (i = 0; i + 8 <= n; i += 8) {
            apr_uint64_t v = next();

            memcpy(out + i, &v, 8);
        }
    } while (all_zero(out, n));
}

void prof_trace_span_ids(unsigned char (*ids)[8], apr_size_t n)
{
    rng_t *g = &rng;            /* one look-up of this thread's state */
    apr_uint32_t gen = __atomic_load_n(&generation, __ATOMIC_RELAXED);
    apr_size_t i;
    apr_uint64_t v;

    rng_t l;

    if (g->gen != gen) {
        seed(g, gen);
    }
    /* The state in registers: the ids written may alias it, for all the
     * compiler knows. */
    l = *g;
    for (i = 0; i < n; ++i) {
        do {
            v = step(&l);
        } while (v == 0);
        memcpy(ids[i], &v, 8);
    }
    *g = l;
}

double prof_trace_draw(void)
{
    return (double)(next() >> 11) * (1.0 / 9007199254740992.0);
}
