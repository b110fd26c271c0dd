/* Activations, their derivatives and the bias/gather helpers of a dense layer.
 * Template body: included by kernels.h once per element type (no include guard).
 */

/* logistic(z) = 1 / (1 + exp(-z)) */
CYMLP_INLINE static inline CYMLP_REAL CYMLP_FN(cymlp_logistic)(CYMLP_REAL z)
{
    return (CYMLP_REAL)1 / ((CYMLP_REAL)1 + CYMLP_EXP(-z));
}

/* tanh(z) = sign(z) (1 - e) / (1 + e), e = exp(-2|z|); absolute error ~ machine epsilon. */
CYMLP_INLINE static inline CYMLP_REAL CYMLP_FN(cymlp_tanh)(CYMLP_REAL z)
{
    CYMLP_REAL a = (z < 0) ? -z : z;
    CYMLP_REAL e = CYMLP_EXP(-2 * a);
    CYMLP_REAL t = ((CYMLP_REAL)1 - e) / ((CYMLP_REAL)1 + e);
    return (z < 0) ? -t : t;
}

/* Row softmax in place after adding the bias: z := exp(z + b - max) / sum(...). */
CYMLP_INLINE static inline void CYMLP_FN(cymlp_softmax_row)(CYMLP_REAL *z, const CYMLP_REAL *b,
                                               cymlp_index cols)
{
    cymlp_index j;
    CYMLP_REAL m, s = 0;
    for (j = 0; j < cols; j++)
        z[j] += b[j];
    m = z[0];
    for (j = 1; j < cols; j++)
        m = (z[j] > m) ? z[j] : m;
    for (j = 0; j < cols; j++) {
        z[j] = CYMLP_EXP(z[j] - m);
        s += z[j];
    }
    for (j = 0; j < cols; j++)
        z[j] /= s;
}

/* gelu(u) = u Phi(u) = u (1 + erf(u / sqrt 2)) / 2: the exact (erf) form, PyTorch's
 * default, not the tanh approximation. */
CYMLP_INLINE static inline CYMLP_REAL CYMLP_FN(cymlp_gelu)(CYMLP_REAL u)
{
    return u * CYMLP_NDTR(u);
}

/* silu(u) = u logistic(u) (swish with beta = 1) */
CYMLP_INLINE static inline CYMLP_REAL CYMLP_FN(cymlp_silu)(CYMLP_REAL u)
{
    return u * CYMLP_FN(cymlp_logistic)(u);
}

/* softplus(u) = log(1 + exp(u)) = max(u, 0) + log1p(exp(-|u|)), exact for any u */
CYMLP_INLINE static inline CYMLP_REAL CYMLP_FN(cymlp_softplus)(CYMLP_REAL u)
{
    CYMLP_REAL a = (u < 0) ? -u : u;
    return ((u > 0) ? u : 0) + CYMLP_LOG1P_UNIT(CYMLP_EXP(-a));
}

/* One activation of a hidden or output unit: f(u). */
CYMLP_INLINE static inline CYMLP_REAL CYMLP_FN(cymlp_activate)(CYMLP_REAL u, int act)
{
    switch (act) {
    case CYMLP_LOGISTIC:
        return CYMLP_FN(cymlp_logistic)(u);
    case CYMLP_TANH:
        return CYMLP_FN(cymlp_tanh)(u);
    case CYMLP_RELU:
        return (u < 0) ? 0 : u;                  /* written so that NaN stays NaN */
    case CYMLP_LEAKY_RELU:
        return (u < 0) ? (CYMLP_REAL)CYMLP_LEAKY_SLOPE * u : u;
    case CYMLP_ELU:
        return (u > 0) ? u : CYMLP_EXPM1_NEG(u);
    case CYMLP_GELU:
        return CYMLP_FN(cymlp_gelu)(u);
    case CYMLP_SILU:
        return CYMLP_FN(cymlp_silu)(u);
    case CYMLP_SOFTPLUS:
        return CYMLP_FN(cymlp_softplus)(u);
    case CYMLP_EXP_OUTPUT:
    case CYMLP_GAMMA_OUTPUT:
        return CYMLP_EXP(u);
    default: /* identity */
        return u;
    }
}

/* z[j] := f(U) for the row's j < cols, U the expression given (of j).  Each case of
 * cymlp_bias_activation names its activation as a constant, so that the always-inlined
 * cymlp_activate folds to that one formula and the loop vectorises on its own. */
#ifndef CYMLP_ACTIVATE_ROW
#define CYMLP_ACTIVATE_ROW(U, ACT)                                    \
    for (j = 0; j < cols; j++)                                        \
        z[j] = CYMLP_FN(cymlp_activate)(U, ACT)
#endif

/* O := f(Z + b) in place, b broadcast over the rows: the forward step after the gemm.
 * If P is not NULL, P := Z + b too (the pre-activation U, same layout as Z): the
 * backward pass of gelu and silu needs it (cymlp_keeps_input). */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_bias_activation)(CYMLP_REAL *Z, const CYMLP_REAL *b,
                                            cymlp_index rows, cymlp_index cols, int act,
                                            CYMLP_REAL *P)
{
    cymlp_index i, j;
    for (i = 0; i < rows; i++) {
        CYMLP_REAL *restrict z = Z + i * cols;
        const CYMLP_REAL *restrict bias = b;
        if (act == CYMLP_SOFTMAX) {
            CYMLP_FN(cymlp_softmax_row)(z, bias, cols);
            continue;
        }
        if (P != NULL) {
            /* keep U, then O := f(U) */
            CYMLP_REAL *restrict p = P + i * cols;
            for (j = 0; j < cols; j++)
                p[j] = z[j] + bias[j];
            switch (act) {
            case CYMLP_GELU:
                CYMLP_ACTIVATE_ROW(p[j], CYMLP_GELU);
                break;
            case CYMLP_SILU:
                CYMLP_ACTIVATE_ROW(p[j], CYMLP_SILU);
                break;
            default:
                CYMLP_ACTIVATE_ROW(p[j], act);
                break;
            }
            continue;
        }
        switch (act) {
        case CYMLP_LOGISTIC:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_LOGISTIC);
            break;
        case CYMLP_TANH:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_TANH);
            break;
        case CYMLP_RELU:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_RELU);
            break;
        case CYMLP_LEAKY_RELU:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_LEAKY_RELU);
            break;
        case CYMLP_ELU:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_ELU);
            break;
        case CYMLP_GELU:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_GELU);
            break;
        case CYMLP_SILU:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_SILU);
            break;
        case CYMLP_SOFTPLUS:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_SOFTPLUS);
            break;
        case CYMLP_EXP_OUTPUT:
        case CYMLP_GAMMA_OUTPUT:
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_EXP_OUTPUT);
            break;
        default: /* identity */
            CYMLP_ACTIVATE_ROW(z[j] + bias[j], CYMLP_IDENTITY);
            break;
        }
    }
}

/* D := D * f'(U).  f' is written from the activation's output A = f(U):
 * logistic a(1 - a), tanh 1 - a^2, relu [a > 0], leaky_relu a > 0 ? 1 : slope,
 * elu a > 0 ? 1 : a + 1 (= exp(u)), softplus 1 - exp(-a) (= logistic(u)), identity 1;
 * from the pre-activation P = U (with A) for gelu, a / u + u phi(u) = Phi(u) + u phi(u),
 * and silu,
 * s (1 + u (1 - s)) with s = logistic(u) (P may be NULL for the others).  n = rows * cols. */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_activation_derivative)(CYMLP_REAL *restrict D,
                                                  const CYMLP_REAL *restrict A,
                                                  const CYMLP_REAL *restrict P,
                                                  cymlp_index n, int act)
{
    cymlp_index i;
    switch (act) {
    case CYMLP_LOGISTIC:
        for (i = 0; i < n; i++)
            D[i] *= A[i] * ((CYMLP_REAL)1 - A[i]);
        break;
    case CYMLP_TANH:
        for (i = 0; i < n; i++)
            D[i] *= (CYMLP_REAL)1 - A[i] * A[i];
        break;
    case CYMLP_RELU:
        for (i = 0; i < n; i++)
            D[i] = (A[i] > 0) ? D[i] : 0;
        break;
    case CYMLP_LEAKY_RELU:
        for (i = 0; i < n; i++)
            D[i] = (A[i] > 0) ? D[i] : (CYMLP_REAL)CYMLP_LEAKY_SLOPE * D[i];
        break;
    case CYMLP_ELU:
        for (i = 0; i < n; i++)
            D[i] = (A[i] > 0) ? D[i] : D[i] * (A[i] + (CYMLP_REAL)1);
        break;
    case CYMLP_SOFTPLUS:
        for (i = 0; i < n; i++)
            D[i] *= -CYMLP_EXPM1_NEG(-A[i]);
        break;
    case CYMLP_GELU:
        /* Phi(u) from the output a = u Phi(u) (a / u; 1/2 at u = 0): no second Phi */
        for (i = 0; i < n; i++) {
            CYMLP_REAL u = P[i];
            CYMLP_REAL cdf = (u != 0) ? A[i] / u : (CYMLP_REAL)0.5;
            CYMLP_REAL pdf = (CYMLP_REAL)0.39894228040143267794 * CYMLP_EXP((CYMLP_REAL)-0.5 * u * u);
            D[i] *= cdf + u * pdf;
        }
        break;
    case CYMLP_SILU:
        for (i = 0; i < n; i++) {
            CYMLP_REAL s = CYMLP_FN(cymlp_logistic)(P[i]);
            D[i] *= s * ((CYMLP_REAL)1 + P[i] * ((CYMLP_REAL)1 - s));
        }
        break;
    default: /* identity: f' = 1 */
        break;
    }
}

/* out[j] += sum_i D[i, j] for j < cols, rows of D ld apart: the bias gradient
 * db = sum over the batch of delta (ld = cols; a column slice of delta: ld > cols). */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_add_column_sums)(CYMLP_REAL *restrict out,
                                            const CYMLP_REAL *restrict D,
                                            cymlp_index rows, cymlp_index cols,
                                            cymlp_index ld)
{
    cymlp_index i, j;
    for (i = 0; i < rows; i++) {
        const CYMLP_REAL *restrict d = D + i * ld;
        for (j = 0; j < cols; j++)
            out[j] += d[j];
    }
}

/* out[r, :] := src[idx[r], :] for r < rows: gathers a shuffled mini-batch. */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_gather_rows)(CYMLP_REAL *restrict out,
                                        const CYMLP_REAL *restrict src,
                                        const cymlp_index *idx,
                                        cymlp_index rows, cymlp_index cols)
{
    cymlp_index r;
    for (r = 0; r < rows; r++)
        memcpy(out + r * cols, src + idx[r] * cols, (size_t)cols * sizeof(CYMLP_REAL));
}
