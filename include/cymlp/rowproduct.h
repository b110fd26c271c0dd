/* Products and checks for a handful of rows: the small-prediction path.
 * Template body: included by kernels.h once per element type (no include guard).
 *
 * For one row, OpenBLAS's gemm packs all of W per call and its gemv threads the
 * columns of W over its own pool; the row product below streams W row by row instead,
 * so that a block of W's rows can stay in one core's L2 cache between calls while
 * another core works on the next block (see predict_small in src/cymlp/_predict.pxi).
 */

/* y[0:n] := sum_{k<m} x[k] W[k, 0:n] for row-major W with row stride ldw.
 * Four rows of W per pass over y, so y stays in L1 and W is read once, in order. */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_row_product)(const CYMLP_REAL *restrict x,
                                                     const CYMLP_REAL *restrict W,
                                                     cymlp_index ldw, cymlp_index m,
                                                     cymlp_index n, CYMLP_REAL *restrict y)
{
    cymlp_index j, k = 0;
    for (j = 0; j < n; j++)
        y[j] = 0;
    for (; k + 4 <= m; k += 4) {
        const CYMLP_REAL a0 = x[k], a1 = x[k + 1], a2 = x[k + 2], a3 = x[k + 3];
        const CYMLP_REAL *restrict w0 = W + k * ldw;
        const CYMLP_REAL *restrict w1 = w0 + ldw;
        const CYMLP_REAL *restrict w2 = w1 + ldw;
        const CYMLP_REAL *restrict w3 = w2 + ldw;
        for (j = 0; j < n; j++)
            y[j] += a0 * w0[j] + a1 * w1[j] + a2 * w2[j] + a3 * w3[j];
    }
    for (; k < m; k++) {
        const CYMLP_REAL a = x[k];
        const CYMLP_REAL *restrict w = W + k * ldw;
        for (j = 0; j < n; j++)
            y[j] += a * w[j];
    }
}
