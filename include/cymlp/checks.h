/* Input checks that must cost little next to a small prediction.
 * Template body: included by kernels.h once per element type (no include guard).
 */

/* 1 when none of x[0:n] is NaN or infinite, else 0.  Tests the exponent bits (all ones
 * means NaN or infinity), so it reads each element once and vectorises without
 * reassociating floating-point sums. */
CYMLP_DISPATCH static int CYMLP_FN(cymlp_all_finite)(const CYMLP_REAL *restrict x, cymlp_index n)
{
    cymlp_index i;
    CYMLP_BITS bad = 0;
    for (i = 0; i < n; i++) {
        CYMLP_BITS u;
        memcpy(&u, &x[i], sizeof u);
        bad |= (CYMLP_BITS)((u & CYMLP_EXP_BITS) == CYMLP_EXP_BITS);
    }
    return bad == 0;
}
