/* Output layer: activation, error and loss in one pass.
 * Template body: included by kernels.h once per element type (no include guard).
 *
 * The pairs are matched so that dL/dU = O - Y:
 *   softmax  + cross-entropy          L_i = -sum_j y_ij log softmax(u_i)_j
 *   logistic + binary cross-entropy   L_i = sum_j [log(1 + exp(u_ij)) - y_ij u_ij]
 *   identity + squared error          L_i = 1/2 sum_j (u_ij - y_ij)^2
 *   exp      + half Poisson deviance  L_i = sum_j [exp(u_ij) - y_ij u_ij + y_ij log y_ij - y_ij]
 * Each loss is computed from the pre-activation U, in a form that stays finite for
 * |u| up to the largest float (log-sum-exp, softplus), so no probability is clipped.
 */

/* Given Z (rows x cols, the output gemm without bias), bias b, targets Y and optional
 * sample weights w (NULL: all ones), write D[i, j] = (O[i, j] - Y[i, j]) * w_i * scale,
 * O = out_act(Z + b), and return sum_i w_i L_i (accumulated in double).
 * D and Z must not overlap. */
CYMLP_DISPATCH static double CYMLP_FN(cymlp_output_error)(const CYMLP_REAL *Z, const CYMLP_REAL *b,
                                           const CYMLP_REAL *Y, const CYMLP_REAL *w,
                                           CYMLP_REAL scale, CYMLP_REAL *D,
                                           cymlp_index rows, cymlp_index cols,
                                           int out_act)
{
    cymlp_index i, j;
    double total = 0;
    for (i = 0; i < rows; i++) {
        const CYMLP_REAL *z = Z + i * cols;
        const CYMLP_REAL *y = Y + i * cols;
        CYMLP_REAL *d = D + i * cols;
        CYMLP_REAL wi = w ? w[i] : (CYMLP_REAL)1;
        CYMLP_REAL ws = wi * scale;
        double row = 0;
        if (out_act == CYMLP_SOFTMAX) {
            CYMLP_REAL m = z[0] + b[0], s = 0;
            double log_s;
            for (j = 1; j < cols; j++) {
                CYMLP_REAL u = z[j] + b[j];
                m = (u > m) ? u : m;
            }
            for (j = 0; j < cols; j++) {
                d[j] = CYMLP_EXP(z[j] + b[j] - m);
                s += d[j];
            }
            log_s = log((double)s);
            for (j = 0; j < cols; j++) {
                if (y[j] != 0)
                    row -= (double)y[j] * ((double)(z[j] + b[j] - m) - log_s);
                d[j] = (d[j] / s - y[j]) * ws;
            }
        } else if (out_act == CYMLP_LOGISTIC) {
            for (j = 0; j < cols; j++) {
                CYMLP_REAL u = z[j] + b[j];
                double ud = (double)u;
                row += (ud > 0 ? ud : 0) - (double)y[j] * ud + log1p(exp(-fabs(ud)));
                d[j] = (CYMLP_FN(cymlp_logistic)(u) - y[j]) * ws;
            }
        } else if (out_act == CYMLP_EXP_OUTPUT) {
            for (j = 0; j < cols; j++) {
                CYMLP_REAL u = z[j] + b[j];
                CYMLP_REAL o = CYMLP_EXP(u);
                double yd = (double)y[j];
                row += (double)o - yd * (double)u + (yd > 0 ? yd * log(yd) : 0.0) - yd;
                d[j] = (o - y[j]) * ws;
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
