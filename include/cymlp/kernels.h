/* cymlp's C kernels, instantiated once for float (suffix _f) and once for double
 * (suffix _d).  The bodies live in activations.h, losses.h, optim.h, dropout.h,
 * rowproduct.h, sparse_indices.h (which includes sparse.h once per column-index type)
 * and checks.h, written once over the macros CYMLP_REAL (the element type), CYMLP_FN(name) (the suffixed
 * name), CYMLP_EXP (the vectorisable exp of fastexp.h), CYMLP_SQRT, CYMLP_NDTR (Phi),
 * CYMLP_LOG1P_UNIT (log1p on [0, 1]), CYMLP_EXPM1_NEG (expm1 on x <= 0; fastspecial.h),
 * and CYMLP_BITS /
 * CYMLP_EXP_BITS (the same-sized unsigned integer and its exponent mask).
 *
 * Conventions: every matrix is row-major and C-contiguous; `rows` is the number of
 * samples in the block, `cols` the layer width.  No kernel allocates or fails.
 */
#ifndef CYMLP_KERNELS_H
#define CYMLP_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* The scalar helpers (exp, logistic, tanh, softmax row) must be inlined into every
 * kernel, including the AVX2 clones below: otherwise each clone calls the baseline copy. */
#if defined(__GNUC__)
#define CYMLP_INLINE __attribute__((always_inline))
#else
#define CYMLP_INLINE
#endif
#include "cymlp/fastexp.h"
#include "cymlp/fastspecial.h"

typedef ptrdiff_t cymlp_index;

#if defined(_MSC_VER) && !defined(__cplusplus)
#define restrict __restrict
#endif

/* Runtime CPU dispatch for the element-wise loops: gcc compiles each kernel marked
 * CYMLP_DISPATCH twice, for the baseline x86-64 (SSE2) and for x86-64-v3 (AVX2, FMA),
 * and glibc's ifunc picks one by CPU *features* when the module loads (not
 * "arch=haswell", which dispatches on the CPU model name and so misses most CPUs).
 * On a 128 x 300 logistic block: 77-111 us baseline, 26 us with AVX2.  The build stays portable (no
 * -march); where ifunc or target_clones are missing (musl, macOS, MSVC, clang, other
 * CPUs) the kernels are compiled once, for the baseline.  Define CYMLP_NO_DISPATCH to
 * turn it off. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__GLIBC__) && !defined(CYMLP_NO_DISPATCH) && !defined(__cplusplus)
#define CYMLP_DISPATCH __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CYMLP_DISPATCH
#endif

/* Activation codes; the Python layer maps names to these (cymlp/_names.py). */
enum cymlp_activation {
    CYMLP_IDENTITY = 0,
    CYMLP_LOGISTIC = 1,
    CYMLP_TANH = 2,
    CYMLP_RELU = 3,
    CYMLP_SOFTMAX = 4,
    CYMLP_EXP_OUTPUT = 5,
    CYMLP_LEAKY_RELU = 6,
    CYMLP_ELU = 7,
    CYMLP_GELU = 8,
    CYMLP_SILU = 9,
    CYMLP_SOFTPLUS = 10,
    /* output steps whose loss is not the one paired with the activation (losses.h):
     * identity with absolute error, huber or pinball (quantile) loss; exp with the
     * half gamma deviance */
    CYMLP_ABSOLUTE_OUTPUT = 11,
    CYMLP_HUBER_OUTPUT = 12,
    CYMLP_QUANTILE_OUTPUT = 13,
    CYMLP_GAMMA_OUTPUT = 14
};

/* The output step: its code (activation and loss), the loss's parameter (the huber
 * threshold, the quantile level; unused otherwise) and, for a softmax, the column
 * groups that each get their own softmax: group g is columns [ends[g-1], ends[g])
 * (ends[-1] = 0), ends[n_groups - 1] = cols.  group_ends NULL: one group. */
typedef struct {
    int code;
    double param;
    const cymlp_index *group_ends;
    cymlp_index n_groups;
} cymlp_output;

/* Slope of leaky_relu for u < 0 (PyTorch's default). */
#define CYMLP_LEAKY_SLOPE 0.01

/* Whether f'(U) needs U itself: gelu and silu are not monotone, so their output does
 * not determine U; every other derivative is written from the output A = f(U). */
static inline int cymlp_keeps_input(int act)
{
    return act == CYMLP_GELU || act == CYMLP_SILU;
}

/* The 32-bit finaliser "lowbias32" (Chris Wellons' hash prospector: bias 0.17): a
 * bijection whose output bits each depend on every input bit.  Dropout's counter-based
 * generator: the mask bit of an element is a pure function of (key, its index), so it
 * is the same whichever thread computes it, in whatever order (dropout.h). */
static inline uint32_t cymlp_mix32(uint32_t h)
{
    h ^= h >> 16;
    h *= UINT32_C(0x7feb352d);
    h ^= h >> 15;
    h *= UINT32_C(0x846ca68b);
    h ^= h >> 16;
    return h;
}

#define CYMLP_REAL float
#define CYMLP_FN(name) name##_f
#define CYMLP_EXP cymlp_exp_f
#define CYMLP_SQRT sqrtf
#define CYMLP_NDTR cymlp_ndtr_f
#define CYMLP_LOG1P_UNIT cymlp_log1p_unit_f
#define CYMLP_EXPM1_NEG cymlp_expm1_neg_f
#define CYMLP_BITS uint32_t
#define CYMLP_EXP_BITS UINT32_C(0x7f800000)
#include "cymlp/activations.h"
#include "cymlp/losses.h"
#include "cymlp/optim.h"
#include "cymlp/dropout.h"
#include "cymlp/rowproduct.h"
#include "cymlp/sparse_indices.h"
#include "cymlp/checks.h"
#undef CYMLP_REAL
#undef CYMLP_FN
#undef CYMLP_EXP
#undef CYMLP_SQRT
#undef CYMLP_NDTR
#undef CYMLP_LOG1P_UNIT
#undef CYMLP_EXPM1_NEG
#undef CYMLP_BITS
#undef CYMLP_EXP_BITS

#define CYMLP_REAL double
#define CYMLP_FN(name) name##_d
#define CYMLP_EXP cymlp_exp_d
#define CYMLP_SQRT sqrt
#define CYMLP_NDTR cymlp_ndtr_d
#define CYMLP_LOG1P_UNIT cymlp_log1p_unit_d
#define CYMLP_EXPM1_NEG cymlp_expm1_neg_d
#define CYMLP_BITS uint64_t
#define CYMLP_EXP_BITS UINT64_C(0x7ff0000000000000)
#include "cymlp/activations.h"
#include "cymlp/losses.h"
#include "cymlp/optim.h"
#include "cymlp/dropout.h"
#include "cymlp/rowproduct.h"
#include "cymlp/sparse_indices.h"
#include "cymlp/checks.h"
#undef CYMLP_REAL
#undef CYMLP_FN
#undef CYMLP_EXP
#undef CYMLP_SQRT
#undef CYMLP_NDTR
#undef CYMLP_LOG1P_UNIT
#undef CYMLP_EXPM1_NEG
#undef CYMLP_BITS
#undef CYMLP_EXP_BITS

#endif
