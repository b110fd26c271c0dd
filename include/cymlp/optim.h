/* Optimizer steps as single loops over flat parameter buffers.
 * Template body: included by kernels.h once per element type (no include guard).
 *
 * g_i is the gradient plus the L2 term l2 * p_i (l2 = alpha / batch weight for the
 * coefficients, 0 for the intercepts), so the penalty costs no extra pass.
 */

/* SGD with momentum (scikit-learn's form):
 *   v := momentum v - lr g;  p := p + v,  or with Nesterov  p := p + momentum v - lr g. */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_sgd_update)(CYMLP_REAL *restrict p, const CYMLP_REAL *restrict g,
                                       CYMLP_REAL *restrict v, cymlp_index n, CYMLP_REAL l2,
                                       CYMLP_REAL lr, CYMLP_REAL momentum, int nesterov)
{
    cymlp_index i;
    if (nesterov) {
        for (i = 0; i < n; i++) {
            CYMLP_REAL gi = g[i] + l2 * p[i];
            CYMLP_REAL vi = momentum * v[i] - lr * gi;
            v[i] = vi;
            p[i] += momentum * vi - lr * gi;
        }
    } else {
        for (i = 0; i < n; i++) {
            CYMLP_REAL gi = g[i] + l2 * p[i];
            CYMLP_REAL vi = momentum * v[i] - lr * gi;
            v[i] = vi;
            p[i] += vi;
        }
    }
}

/* Adam with the bias correction folded into lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t):
 *   m := beta1 m + (1 - beta1) g;  v := beta2 v + (1 - beta2) g^2;
 *   p := p - lr_t m / (sqrt(v) + eps). */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_adam_update)(CYMLP_REAL *restrict p, const CYMLP_REAL *restrict g,
                                        CYMLP_REAL *restrict m, CYMLP_REAL *restrict v,
                                        cymlp_index n, CYMLP_REAL l2, CYMLP_REAL lr_t,
                                        CYMLP_REAL beta1, CYMLP_REAL beta2, CYMLP_REAL eps)
{
    cymlp_index i;
    for (i = 0; i < n; i++) {
        CYMLP_REAL gi = g[i] + l2 * p[i];
        CYMLP_REAL mi = beta1 * m[i] + ((CYMLP_REAL)1 - beta1) * gi;
        CYMLP_REAL vi = beta2 * v[i] + ((CYMLP_REAL)1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= lr_t * mi / (CYMLP_SQRT(vi) + eps);
    }
}

/* g := g + alpha p: adds the L2 term to a gradient (full-batch paths, lbfgs). */
CYMLP_DISPATCH static void CYMLP_FN(cymlp_add_scaled)(CYMLP_REAL *restrict g, const CYMLP_REAL *restrict p,
                                       cymlp_index n, CYMLP_REAL alpha)
{
    cymlp_index i;
    for (i = 0; i < n; i++)
        g[i] += alpha * p[i];
}
