/* Branch-free exp for float and double that gcc vectorises at -O3 with plain SSE2.
 *
 * exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 (|r| <= ln2 / 2), with
 * exp(r) from a polynomial.  The input is clamped to the range where 2^n is a normal
 * number, so the result is always finite and positive for finite x: exp(-1e4) gives
 * the smallest normal value instead of 0, exp(1e4) the largest finite power instead
 * of inf.  NaN propagates (the clamps are written so that a NaN compares false and
 * passes through).  Accuracy (checked in tests/test_kernels.py against numpy):
 * about 2 ulp for float, about 4 ulp for double, over the unclamped range.
 */
#ifndef CYMLP_FASTEXP_H
#define CYMLP_FASTEXP_H

#include <stdint.h>

#ifndef CYMLP_INLINE  /* kernels.h defines it; standalone use gets plain inline */
#define CYMLP_INLINE
#endif
#include <string.h>

CYMLP_INLINE static inline float cymlp_exp_f(float x)
{
    /* 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits. */
    const float shifter = 12582912.0f;
    float t, n, r, p;
    uint32_t ti, si;
    x = (x < -87.0f) ? -87.0f : x;
    x = (x > 88.0f) ? 88.0f : x;
    t = x * 1.44269504088896341f + shifter;
    n = t - shifter;
    memcpy(&ti, &t, sizeof ti);
    si = (ti - 0x4B400000u + 127u) << 23;  /* unsigned: no UB for NaN bits */
    r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    memcpy(&t, &si, sizeof t);
    return p * t;
}

CYMLP_INLINE static inline double cymlp_exp_d(double x)
{
    /* 1.5 * 2^52, as above for double. */
    const double shifter = 6755399441055744.0;
    double t, n, r, p;
    uint64_t ti, si;
    x = (x < -708.0) ? -708.0 : x;
    x = (x > 709.0) ? 709.0 : x;
    t = x * 1.4426950408889634074 + shifter;
    n = t - shifter;
    memcpy(&ti, &t, sizeof ti);
    si = (ti - UINT64_C(0x4338000000000000) + 1023u) << 52;
    r = x - n * 6.93147180369123816490e-01;
    r = r - n * 1.90821492927058770002e-10;
    /* Taylor series of exp(r) to degree 13; |r| <= 0.347 makes the remainder < 2e-17. */
    p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    memcpy(&t, &si, sizeof t);
    return p * t;
}

#endif
