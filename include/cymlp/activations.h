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

/* O := f(Z + b) in place, b broadcast over the rows: the forward step after the gemm. */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_bias_activation)(CYMLP_REAL *Z, const CYMLP_REAL *b,
                                            cymlp_index rows, cymlp_index cols, int act)
{
    cymlp_index i, j;
    for (i = 0; i < rows; i++) {
        CYMLP_REAL *restrict z = Z + i * cols;
        const CYMLP_REAL *restrict bias = b;
        switch (act) {
        case CYMLP_LOGISTIC:
            for (j = 0; j < cols; j++)
                z[j] = CYMLP_FN(cymlp_logistic)(z[j] + bias[j]);
            break;
        case CYMLP_TANH:
            for (j = 0; j < cols; j++)
                z[j] = CYMLP_FN(cymlp_tanh)(z[j] + bias[j]);
            break;
        case CYMLP_RELU:
            /* written so that NaN stays NaN */
            for (j = 0; j < cols; j++) {
                CYMLP_REAL u = z[j] + bias[j];
                z[j] = (u < 0) ? 0 : u;
            }
            break;
        case CYMLP_SOFTMAX:
            CYMLP_FN(cymlp_softmax_row)(z, bias, cols);
            break;
        case CYMLP_EXP_OUTPUT:
            for (j = 0; j < cols; j++)
                z[j] = CYMLP_EXP(z[j] + bias[j]);
            break;
        default: /* identity */
            for (j = 0; j < cols; j++)
                z[j] += bias[j];
            break;
        }
    }
}

/* D := D * f'(U), with f' written from the activation's output A = f(U):
 * logistic a(1 - a), tanh 1 - a^2, relu [a > 0], identity 1.  n = rows * cols. */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_activation_derivative)(CYMLP_REAL *restrict D,
                                                  const CYMLP_REAL *restrict A,
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
