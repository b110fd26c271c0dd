/* The first layer's products for a CSR input: the forward product and the weight
 * gradient, on rows of the CSR matrix picked by index (a batch in shuffled order).
 * Template body: included by kernels.h once per element type and column-index type
 * (CYMLP_IDX: cymlp_index or int32_t, scipy's usual; CYMLP_SFN names the pair), no
 * include guard.  indptr and pick are always cymlp_index.
 *
 * A block of the input is `rows` rows of a CSR matrix (data, indices, indptr): row r of
 * the block is CSR row `pick[r]`, or `row0 + r` when `pick` is NULL.  Column indices
 * are trusted to lie in [0, n_in): the engine checks them once per matrix.
 */

/* U[r, 0:n] := sum over the non-zeros (j, v) of row r: v * W[j, c0:c0 + n], for the
 * columns c0 .. c0 + n of row-major W with row stride ldw; U has row stride ldu. */
CYMLP_DISPATCH static void CYMLP_SFN(cymlp_csr_matmul)(
    const CYMLP_REAL *restrict data, const CYMLP_IDX *restrict indices,
    const cymlp_index *restrict indptr, const cymlp_index *restrict pick, cymlp_index row0,
    cymlp_index rows, const CYMLP_REAL *restrict W, cymlp_index ldw, cymlp_index n,
    CYMLP_REAL *restrict U, cymlp_index ldu)
{
    cymlp_index r, p, c;
    for (r = 0; r < rows; r++) {
        const cymlp_index row = pick ? pick[r] : row0 + r;
        CYMLP_REAL *restrict u = U + r * ldu;
        for (c = 0; c < n; c++)
            u[c] = 0;
        for (p = indptr[row]; p < indptr[row + 1]; p++) {
            const CYMLP_REAL v = data[p];
            const CYMLP_REAL *restrict w = W + (cymlp_index)indices[p] * ldw;
            for (c = 0; c < n; c++)
                u[c] += v * w[c];
        }
    }
}

/* dW[j, 0:n] += sum over the rows r whose non-zeros include (j, v): v * D[r, 0:n]
 * (dW = X^T D for the block), for the rows j in [j0, j1) of dW only; dW has row stride
 * ldw and points at row 0.  Rows are taken in block order, so the sums do not depend
 * on who else computes other rows of dW. */
CYMLP_DISPATCH static void CYMLP_SFN(cymlp_csr_grad)(
    const CYMLP_REAL *restrict data, const CYMLP_IDX *restrict indices,
    const cymlp_index *restrict indptr, const cymlp_index *restrict pick, cymlp_index row0,
    cymlp_index rows, const CYMLP_REAL *restrict D, cymlp_index n, cymlp_index j0,
    cymlp_index j1, CYMLP_REAL *restrict dW, cymlp_index ldw)
{
    cymlp_index r, p, c;
    for (r = 0; r < rows; r++) {
        const cymlp_index row = pick ? pick[r] : row0 + r;
        const CYMLP_REAL *restrict d = D + r * n;
        for (p = indptr[row]; p < indptr[row + 1]; p++) {
            const cymlp_index j = (cymlp_index)indices[p];
            const CYMLP_REAL v = data[p];
            CYMLP_REAL *restrict g;
            if (j < j0 || j >= j1)
                continue;
            g = dW + j * ldw;
            for (c = 0; c < n; c++)
                g[c] += v * d[c];
        }
    }
}
