/* Optimizer steps as single loops over flat parameter buffers.
 * Template body: included by kernels.h once per element type (no include guard).
 *
 * The gradient of element i is g_i (+ g2_i when g2 is not NULL: the data-parallel
 * epoch hands the second chunk's gradient here instead of adding it in its own pass)
 * plus the L2 term l2 * p_i (l2 = alpha / batch weight for the coefficients, 0 for
 * the intercepts), so neither the sum nor the penalty costs an extra pass.  The sum
 * is (g_i + g2_i) + l2 p_i, the same rounding as adding g2 into g first.
 */

/* SGD with momentum (scikit-learn's form), one element:
 *   v := momentum v - lr g;  p := p + v,  or with Nesterov  p := p + momentum v - lr g. */
static inline CYMLP_INLINE void CYMLP_FN(cymlp_sgd_element)(CYMLP_REAL *p, CYMLP_REAL *v,
                                                            CYMLP_REAL g, CYMLP_REAL lr,
                                                            CYMLP_REAL momentum, int nesterov)
{
    CYMLP_REAL vi = momentum * *v - lr * g;
    *v = vi;
    *p += nesterov ? momentum * vi - lr * g : vi;
}

CYMLP_DISPATCH static void CYMLP_FN(cymlp_sgd_update)(CYMLP_REAL *restrict p, const CYMLP_REAL *restrict g,
                                       const CYMLP_REAL *restrict g2, CYMLP_REAL *restrict v,
                                       cymlp_index n, CYMLP_REAL l2, CYMLP_REAL lr,
                                       CYMLP_REAL momentum, int nesterov)
{
    cymlp_index i;
    if (g2 != NULL) {
        for (i = 0; i < n; i++)
            CYMLP_FN(cymlp_sgd_element)(p + i, v + i, (g[i] + g2[i]) + l2 * p[i], lr, momentum,
                                        nesterov);
    } else {
        for (i = 0; i < n; i++)
            CYMLP_FN(cymlp_sgd_element)(p + i, v + i, g[i] + l2 * p[i], lr, momentum, nesterov);
    }
}

/* Adam with the bias correction folded into lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t),
 * one element:
 *   m := beta1 m + (1 - beta1) g;  v := beta2 v + (1 - beta2) g^2;
 *   p := keep p - lr_t m / (sqrt(v) + eps).
 * keep = 1 - decay: AdamW's decoupled weight decay (Loshchilov and Hutter), decay =
 * scheduled lr * weight_decay, applied to the p the gradient was taken at, as PyTorch's
 * AdamW; keep = 1 for Adam (1 * p is p exactly). */
static inline CYMLP_INLINE void CYMLP_FN(cymlp_adam_element)(CYMLP_REAL *p, CYMLP_REAL *m,
                                                             CYMLP_REAL *v, CYMLP_REAL g,
                                                             CYMLP_REAL lr_t, CYMLP_REAL beta1,
                                                             CYMLP_REAL beta2, CYMLP_REAL eps,
                                                             CYMLP_REAL keep)
{
    CYMLP_REAL mi = beta1 * *m + ((CYMLP_REAL)1 - beta1) * g;
    CYMLP_REAL vi = beta2 * *v + ((CYMLP_REAL)1 - beta2) * g * g;
    *m = mi;
    *v = vi;
    *p = keep * *p - lr_t * mi / (CYMLP_SQRT(vi) + eps);
}

CYMLP_DISPATCH static void CYMLP_FN(cymlp_adam_update)(CYMLP_REAL *restrict p, const CYMLP_REAL *restrict g,
                                        const CYMLP_REAL *restrict g2, CYMLP_REAL *restrict m,
                                        CYMLP_REAL *restrict v, cymlp_index n, CYMLP_REAL l2,
                                        CYMLP_REAL lr_t, CYMLP_REAL beta1, CYMLP_REAL beta2,
                                        CYMLP_REAL eps, CYMLP_REAL decay)
{
    cymlp_index i;
    CYMLP_REAL keep = (CYMLP_REAL)1 - decay;
    if (g2 != NULL) {
        for (i = 0; i < n; i++)
            CYMLP_FN(cymlp_adam_element)(p + i, m + i, v + i, (g[i] + g2[i]) + l2 * p[i], lr_t,
                                         beta1, beta2, eps, keep);
    } else {
        for (i = 0; i < n; i++)
            CYMLP_FN(cymlp_adam_element)(p + i, m + i, v + i, g[i] + l2 * p[i], lr_t, beta1,
                                         beta2, eps, keep);
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
