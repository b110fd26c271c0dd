/* Vectorisable Phi (the normal CDF), log1p and expm1 for the activations (gelu, softplus, elu), written
 * like fastexp.h: branch-free (both pieces computed, one selected), so that gcc
 * vectorises the loops that call them; libm's are scalar calls.
 *
 * Phi(u), the normal distribution function, from erf and erfc at x = u / sqrt 2:
 * |x| <= 1, erfc(|x|) = 1 - |x| N(x^2); 1 < |x| <= 2, exp(-x^2) M(|x|) / |x|; 2 < |x|,
 * exp(-x^2) F(1/x^2) / |x|.  Phi(u) = erfc(|x|) / 2 for u < 0, so the left tail keeps
 * its relative accuracy (1 + erf(x) would cancel) down to where exp(-x^2) leaves the
 * normal range (fastexp.h clamps).
 * N, M and F are Chebyshev series on [0, 1], [1, 2] and [0, 1/4], fitted for cymlp
 * (scripts/fit_erf.py: least squares at 200 Chebyshev nodes against mpmath at 40
 * digits, degrees 12, 14 and 22) and summed by Clenshaw's recurrence; relative error of
 * the series about 1e-15 (tests/test_kernels.py checks gelu against scipy).
 *
 * log1p(t) for 0 <= t <= 1 (softplus: t = exp(-|u|)): 2 atanh(s), s = t / (2 + t), or
 * ln 2 + 2 atanh(s), s = (t - 1) / (t + 3) above sqrt 2 - 1, so that |s| <= 0.172; the
 * atanh series to s^23 is below double rounding there.
 *
 * expm1(x) for x <= 0 (elu, and softplus's derivative): exp(x) - 1 below -1/4, the
 * Taylor series to x^13 above (exp(x) - 1 would lose the digits of a small x).
 */
#ifndef CYMLP_FASTSPECIAL_H
#define CYMLP_FASTSPECIAL_H

#include "cymlp/fastexp.h"

static const double CYMLP_ERF_NEAR[13] = {
    0.97547693938265434,
    -0.14226120510371362,
    0.01003558218759985,
    -0.00057687646997670592,
    2.7419931252242735e-05,
    -1.1043175507208236e-06,
    3.8488755416121743e-08,
    -1.1808582070504949e-09,
    3.2334235289255284e-11,
    -7.9906359307102576e-13,
    1.8030021919912549e-14,
    -3.2196467714129553e-16,
    2.2204460492503138e-17
};
static const double CYMLP_ERFC_MIDDLE[15] = {
    0.47589038803249228,
    0.040698216094977743,
    -0.0065941156170418068,
    0.00089370672911328122,
    -0.00010758275571681463,
    1.1847238617683498e-05,
    -1.2144505346270431e-06,
    1.1722340112346743e-07,
    -1.0741333124342227e-08,
    9.4006652462397297e-10,
    -7.8954198734493309e-11,
    6.3879429523794351e-12,
    -4.994005209368881e-13,
    3.7839870126177309e-14,
    -2.7505775435088264e-15
};
static const double CYMLP_ERFC_FAR[23] = {
    0.53575896551014635,
    -0.026532434337606714,
    0.001711153977920868,
    -0.00016375166345851104,
    1.9871293500556253e-05,
    -2.8437124127547226e-06,
    4.6061613090843764e-07,
    -8.227753025527963e-08,
    1.5921418758719279e-08,
    -3.2950713570418898e-09,
    7.223439929336801e-10,
    -1.6648558050860879e-10,
    4.0103930146342528e-11,
    -1.004813875131056e-11,
    2.60827050892954e-12,
    -6.9910392120651403e-13,
    1.9296049118947539e-13,
    -5.4681953409740932e-14,
    1.5908108164097717e-14,
    -4.7161927141381491e-15,
    1.4585554986013005e-15,
    -4.3719368403305521e-16,
    1.4988010832439629e-16
};

/* Clenshaw's sum of a Chebyshev series; unrolled, so that the loop over the elements
 * around it (not this one) is the one gcc vectorises. */
#if defined(__GNUC__) && !defined(__clang__)
#define CYMLP_UNROLL _Pragma("GCC unroll 32")
#else
#define CYMLP_UNROLL
#endif
#define CYMLP_CLENSHAW(T, coef, n, y, out)                            \
    do {                                                              \
        T b1_ = 0, b2_ = 0, t_;                                       \
        int k_;                                                       \
        CYMLP_UNROLL                                                  \
        for (k_ = (n) - 1; k_ >= 1; k_--) {                           \
            t_ = 2 * (y) * b1_ - b2_ + (T)(coef)[k_];                 \
            b2_ = b1_;                                                \
            b1_ = t_;                                                 \
        }                                                             \
        (out) = (y) * b1_ - b2_ + (T)(coef)[0];                       \
    } while (0)

#define CYMLP_DEFINE_FASTSPECIAL(T, S, EXP)                                          \
CYMLP_INLINE static inline T cymlp_ndtr_##S(T u)                                   \
{                                                                                  \
    /* Phi(u) = 1 - erfc(|x|) / 2 or erfc(|x|) / 2, x = u / sqrt 2 */              \
    T x = u * (T)0.70710678118654752440;                                           \
    T ax = (x < 0) ? -x : x;                                                       \
    T s = (ax < 1) ? ax * ax : (T)1;                /* near: |x| in [0, 1] */      \
    T m = (ax < 1) ? (T)1 : ((ax > 2) ? (T)2 : ax); /* middle: |x| in [1, 2] */    \
    T f = (ax > 2) ? ax : (T)2;                     /* far: |x| in [2, inf) */     \
    T near, middle, far, y, tail;                                                  \
    y = 2 * s - 1;                                                                 \
    CYMLP_CLENSHAW(T, CYMLP_ERF_NEAR, 13, y, near);                                \
    y = 2 * m - 3;                                                                 \
    CYMLP_CLENSHAW(T, CYMLP_ERFC_MIDDLE, 15, y, middle);                           \
    y = (T)8 / (f * f) - 1;                         /* 1/x^2 in [0, 1/4] */        \
    CYMLP_CLENSHAW(T, CYMLP_ERFC_FAR, 23, y, far);                                 \
    far = (ax <= 2) ? middle : far;                                                \
    tail = (ax <= 1) ? (T)1 - ax * near             /* erfc(|x|) */                \
                     : EXP(-ax * ax) * far / ax;                                   \
    return (x < 0) ? (T)0.5 * tail : (T)1 - (T)0.5 * tail;                         \
}                                                                                  \
                                                                                   \
CYMLP_INLINE static inline T cymlp_log1p_unit_##S(T t)                             \
{                                                                                  \
    int high = t > (T)0.41421356237309504880;                                      \
    T s = high ? (t - 1) / (t + 3) : t / (t + 2);                                  \
    T s2 = s * s, p = (T)(1.0 / 23);                                               \
    int k;                                                                         \
    for (k = 21; k >= 1; k -= 2)                                                   \
        p = p * s2 + (T)1 / (T)k;                                                  \
    return (high ? (T)0.69314718055994530942 : (T)0) + 2 * s * p;                  \
}                                                                                  \
                                                                                   \
CYMLP_INLINE static inline T cymlp_expm1_neg_##S(T x)                              \
{                                                                                  \
    T p = (T)(1.0 / 6227020800.0);                  /* 1/13! */                    \
    T f = (T)6227020800.0;                                                         \
    int k;                                                                         \
    for (k = 13; k >= 2; k--) {                                                    \
        f /= (T)k;                                  /* (k-1)! */                   \
        p = p * x + (T)1 / f;                                                      \
    }                                                                              \
    p = p * x;                                                                     \
    return (x < (T)-0.25) ? EXP(x) - 1 : p;                                        \
}

CYMLP_DEFINE_FASTSPECIAL(float, f, cymlp_exp_f)
CYMLP_DEFINE_FASTSPECIAL(double, d, cymlp_exp_d)

#endif
