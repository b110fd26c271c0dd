/* Output layer: activation, error and loss in one pass.
 * Template body: included by kernels.h once per element type (no include guard).
 *
 * The paired losses, matched so that dL/dU = O - Y:
 *   softmax  + cross-entropy          L_i = -sum_j y_ij log softmax(u_i)_j
 *              (with column groups: one softmax and one cross-entropy per group, summed)
 *   logistic + binary cross-entropy   L_i = sum_j [log(1 + exp(u_ij)) - y_ij u_ij]
 *   identity + squared error          L_i = 1/2 sum_j (u_ij - y_ij)^2
 *   exp      + half Poisson deviance  L_i = sum_j [exp(u_ij) - y_ij u_ij + y_ij log y_ij - y_ij]
 * and the others, with r = u - y and their gradient dL/du:
 *   identity + absolute error   |r|                                 sign(r)
 *   identity + huber (d)        r^2/2 if |r| <= d, d|r| - d^2/2      r clipped to [-d, d]
 *   identity + pinball (q)      q max(-r, 0) + (1 - q) max(r, 0)    1 - q if r > 0, -q if r < 0
 *   exp      + half gamma deviance  u + y exp(-u) - log y - 1       1 - y exp(-u)
 * At the kink r = 0 of the absolute and pinball losses the subgradient used is 0 (numpy's
 * sign(0)), inside the subdifferential [-1, 1] and [-q, 1 - q].  Each loss is computed
 * from the pre-activation U, in a form that stays finite for |u| up to the largest float
 * (log-sum-exp, softplus), so no probability is clipped.
 */

/* Softmax and cross-entropy of columns [g0, g1) of one row: d := (softmax - y) * ws
 * there; returns the group's -sum_j y_j log softmax_j. */
CYMLP_INLINE static inline double CYMLP_FN(cymlp_softmax_error)(const CYMLP_REAL *z,
                                                  const CYMLP_REAL *b, const CYMLP_REAL *y,
                                                  CYMLP_REAL *d, cymlp_index g0,
                                                  cymlp_index g1, CYMLP_REAL ws)
{
    cymlp_index j;
    CYMLP_REAL m = z[g0] + b[g0], s = 0;
    double log_s, row = 0;
    for (j = g0 + 1; j < g1; j++) {
        CYMLP_REAL u = z[j] + b[j];
        m = (u > m) ? u : m;
    }
    for (j = g0; j < g1; j++) {
        d[j] = CYMLP_EXP(z[j] + b[j] - m);
        s += d[j];
    }
    log_s = log((double)s);
    for (j = g0; j < g1; j++) {
        if (y[j] != 0)
            row -= (double)y[j] * ((double)(z[j] + b[j] - m) - log_s);
        d[j] = (d[j] / s - y[j]) * ws;
    }
    return row;
}

/* Given Z (rows x cols, the output gemm without bias), bias b, targets Y and optional
 * sample weights w (NULL: all ones), write D[i, j] = dL_i/du_ij * w_i * scale (for the
 * paired losses (O[i, j] - Y[i, j]) * w_i * scale, O = f(Z + b)), and return
 * sum_i w_i L_i (accumulated in double).  D and Z must not overlap. */
CYMLP_DISPATCH static double CYMLP_FN(cymlp_output_error)(const CYMLP_REAL *Z, const CYMLP_REAL *b,
                                           const CYMLP_REAL *Y, const CYMLP_REAL *w,
                                           CYMLP_REAL scale, CYMLP_REAL *D,
                                           cymlp_index rows, cymlp_index cols,
                                           const cymlp_output *out)
{
    cymlp_index i, j, g;
    const int code = out->code;
    const CYMLP_REAL p = (CYMLP_REAL)out->param;
    double total = 0;
    for (i = 0; i < rows; i++) {
        const CYMLP_REAL *z = Z + i * cols;
        const CYMLP_REAL *y = Y + i * cols;
        CYMLP_REAL *d = D + i * cols;
        CYMLP_REAL wi = w ? w[i] : (CYMLP_REAL)1;
        CYMLP_REAL ws = wi * scale;
        double row = 0;
        if (code == CYMLP_SOFTMAX) {
            if (out->group_ends == NULL) {
                row = CYMLP_FN(cymlp_softmax_error)(z, b, y, d, 0, cols, ws);
            } else {
                cymlp_index g0 = 0;
                for (g = 0; g < out->n_groups; g++) {
                    row += CYMLP_FN(cymlp_softmax_error)(z, b, y, d, g0,
                                                         out->group_ends[g], ws);
                    g0 = out->group_ends[g];
                }
            }
        } else if (code == CYMLP_LOGISTIC) {
            for (j = 0; j < cols; j++) {
                CYMLP_REAL u = z[j] + b[j];
                double ud = (double)u;
                row += (ud > 0 ? ud : 0) - (double)y[j] * ud + log1p(exp(-fabs(ud)));
                d[j] = (CYMLP_FN(cymlp_logistic)(u) - y[j]) * ws;
            }
        } else if (code == CYMLP_EXP_OUTPUT) {
            for (j = 0; j < cols; j++) {
                CYMLP_REAL u = z[j] + b[j];
                CYMLP_REAL o = CYMLP_EXP(u);
                double yd = (double)y[j];
                row += (double)o - yd * (double)u + (yd > 0 ? yd * log(yd) : 0.0) - yd;
                d[j] = (o - y[j]) * ws;
            }
        } else if (code == CYMLP_GAMMA_OUTPUT) {
            for (j = 0; j < cols; j++) {
                CYMLP_REAL u = z[j] + b[j];
                CYMLP_REAL yo = y[j] * CYMLP_EXP(-u);   /* y / prediction */
                double ud = (double)u, yd = (double)y[j];
                row += ud + yd * exp(-ud) - log(yd) - 1.0;
                d[j] = ((CYMLP_REAL)1 - yo) * ws;
            }
        } else if (code == CYMLP_ABSOLUTE_OUTPUT) {
            for (j = 0; j < cols; j++) {
                CYMLP_REAL r = z[j] + b[j] - y[j];
                row += fabs((double)r);
                d[j] = ((r > 0) ? ws : ((r < 0) ? -ws : (CYMLP_REAL)0));
            }
        } else if (code == CYMLP_HUBER_OUTPUT) {
            for (j = 0; j < cols; j++) {
                CYMLP_REAL r = z[j] + b[j] - y[j];
                double a = fabs((double)r);
                row += (a <= (double)p) ? 0.5 * a * a : (double)p * (a - 0.5 * (double)p);
                d[j] = ((r > p) ? p : ((r < -p) ? -p : r)) * ws;
            }
        } else if (code == CYMLP_QUANTILE_OUTPUT) {
            for (j = 0; j < cols; j++) {
                CYMLP_REAL r = z[j] + b[j] - y[j];
                double rd = (double)r;
                row += (rd > 0) ? (1.0 - (double)p) * rd : -(double)p * rd;
                d[j] = ((r > 0) ? ((CYMLP_REAL)1 - p) : ((r < 0) ? -p : (CYMLP_REAL)0)) * ws;
            }
        } else { /* identity */
            for (j = 0; j < cols; j++) {
                CYMLP_REAL diff = z[j] + b[j] - y[j];
                row += 0.5 * (double)diff * (double)diff;
                d[j] = diff * ws;
            }
        }
        total += (double)wi * row;
    }
    return total;
}

/* O := f(Z + b) in place for the output step: with softmax column groups, one softmax
 * per group; otherwise the activation of the step's code (cymlp_bias_activation). */
static void CYMLP_FN(cymlp_output_activation)(CYMLP_REAL *Z, const CYMLP_REAL *b,
                                              cymlp_index rows, cymlp_index cols,
                                              const cymlp_output *out)
{
    cymlp_index i, g;
    if (out->code != CYMLP_SOFTMAX || out->group_ends == NULL) {
        CYMLP_FN(cymlp_bias_activation)(Z, b, rows, cols, out->code, NULL);
        return;
    }
    for (i = 0; i < rows; i++) {
        cymlp_index g0 = 0;
        for (g = 0; g < out->n_groups; g++) {
            CYMLP_FN(cymlp_softmax_row)(Z + i * cols + g0, b + g0, out->group_ends[g] - g0);
            g0 = out->group_ends[g];
        }
    }
}
