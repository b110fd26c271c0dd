# cython: language_level=3
"""The C kernels of include/cymlp/kernels.h, with one fused float/double name each."""
from cython cimport floating

cdef extern from "cymlp/kernels.h" nogil:
    ctypedef Py_ssize_t cymlp_index
    ctypedef struct cymlp_output:
        int code
        double param
        const cymlp_index* group_ends
        cymlp_index n_groups
    float cymlp_exp_f(float x)
    double cymlp_exp_d(double x)
    int cymlp_keeps_input(int act)
    unsigned int cymlp_mix32(unsigned int h)
    void cymlp_dropout_f(const float* src, float* dst, cymlp_index rows, cymlp_index cols,
                         cymlp_index ld, unsigned int key, cymlp_index row0,
                         cymlp_index col0, cymlp_index width, unsigned int threshold,
                         float scale)
    void cymlp_dropout_d(const double* src, double* dst, cymlp_index rows,
                         cymlp_index cols, cymlp_index ld, unsigned int key,
                         cymlp_index row0, cymlp_index col0, cymlp_index width,
                         unsigned int threshold, double scale)
    void cymlp_bias_activation_f(float* Z, const float* b, cymlp_index rows,
                                 cymlp_index cols, int act, float* P)
    void cymlp_bias_activation_d(double* Z, const double* b, cymlp_index rows,
                                 cymlp_index cols, int act, double* P)
    void cymlp_activation_derivative_f(float* D, const float* A, const float* P,
                                       cymlp_index n, int act)
    void cymlp_activation_derivative_d(double* D, const double* A, const double* P,
                                       cymlp_index n, int act)
    void cymlp_add_column_sums_f(float* out, const float* D, cymlp_index rows,
                                 cymlp_index cols, cymlp_index ld)
    void cymlp_add_column_sums_d(double* out, const double* D, cymlp_index rows,
                                 cymlp_index cols, cymlp_index ld)
    void cymlp_gather_rows_f(float* out, const float* src, const cymlp_index* idx,
                             cymlp_index rows, cymlp_index cols)
    void cymlp_gather_rows_d(double* out, const double* src, const cymlp_index* idx,
                             cymlp_index rows, cymlp_index cols)
    double cymlp_output_error_f(const float* Z, const float* b, const float* Y,
                                const float* w, float scale, float* D,
                                cymlp_index rows, cymlp_index cols,
                                const cymlp_output* out)
    double cymlp_output_error_d(const double* Z, const double* b, const double* Y,
                                const double* w, double scale, double* D,
                                cymlp_index rows, cymlp_index cols,
                                const cymlp_output* out)
    void cymlp_output_activation_f(float* Z, const float* b, cymlp_index rows,
                                   cymlp_index cols, const cymlp_output* out)
    void cymlp_output_activation_d(double* Z, const double* b, cymlp_index rows,
                                   cymlp_index cols, const cymlp_output* out)
    void cymlp_sgd_update_f(float* p, const float* g, const float* g2, float* v,
                            cymlp_index n, float l2, float lr, float momentum, int nesterov)
    void cymlp_sgd_update_d(double* p, const double* g, const double* g2, double* v,
                            cymlp_index n, double l2, double lr, double momentum,
                            int nesterov)
    void cymlp_adam_update_f(float* p, const float* g, const float* g2, float* m, float* v,
                             cymlp_index n, float l2, float lr_t, float beta1,
                             float beta2, float eps, float decay)
    void cymlp_adam_update_d(double* p, const double* g, const double* g2, double* m,
                             double* v, cymlp_index n, double l2, double lr_t, double beta1,
                             double beta2, double eps, double decay)
    void cymlp_add_scaled_f(float* g, const float* p, cymlp_index n, float alpha)
    void cymlp_add_scaled_d(double* g, const double* p, cymlp_index n, double alpha)
    void cymlp_row_product_f(const float* x, const float* W, cymlp_index ldw,
                             cymlp_index m, cymlp_index n, float* y)
    void cymlp_row_product_d(const double* x, const double* W, cymlp_index ldw,
                             cymlp_index m, cymlp_index n, double* y)
    void cymlp_csr_matmul_f(const float* data, const cymlp_index* indices,
                            const cymlp_index* indptr, const cymlp_index* pick,
                            cymlp_index row0, cymlp_index rows, const float* W,
                            cymlp_index ldw, cymlp_index n, float* U, cymlp_index ldu)
    void cymlp_csr_grad_f(const float* data, const cymlp_index* indices,
                          const cymlp_index* indptr, const cymlp_index* pick,
                          cymlp_index row0, cymlp_index rows, const float* D, cymlp_index n,
                          cymlp_index j0, cymlp_index j1, float* dW, cymlp_index ldw)
    void cymlp_csr_matmul_d(const double* data, const cymlp_index* indices,
                            const cymlp_index* indptr, const cymlp_index* pick,
                            cymlp_index row0, cymlp_index rows, const double* W,
                            cymlp_index ldw, cymlp_index n, double* U, cymlp_index ldu)
    void cymlp_csr_grad_d(const double* data, const cymlp_index* indices,
                          const cymlp_index* indptr, const cymlp_index* pick,
                          cymlp_index row0, cymlp_index rows, const double* D, cymlp_index n,
                          cymlp_index j0, cymlp_index j1, double* dW, cymlp_index ldw)
    void cymlp_csr_matmul_i32_f(const float* data, const int* indices,
                            const cymlp_index* indptr, const cymlp_index* pick,
                            cymlp_index row0, cymlp_index rows, const float* W,
                            cymlp_index ldw, cymlp_index n, float* U, cymlp_index ldu)
    void cymlp_csr_grad_i32_f(const float* data, const int* indices,
                          const cymlp_index* indptr, const cymlp_index* pick,
                          cymlp_index row0, cymlp_index rows, const float* D, cymlp_index n,
                          cymlp_index j0, cymlp_index j1, float* dW, cymlp_index ldw)
    void cymlp_csr_matmul_i32_d(const double* data, const int* indices,
                            const cymlp_index* indptr, const cymlp_index* pick,
                            cymlp_index row0, cymlp_index rows, const double* W,
                            cymlp_index ldw, cymlp_index n, double* U, cymlp_index ldu)
    void cymlp_csr_grad_i32_d(const double* data, const int* indices,
                          const cymlp_index* indptr, const cymlp_index* pick,
                          cymlp_index row0, cymlp_index rows, const double* D, cymlp_index n,
                          cymlp_index j0, cymlp_index j1, double* dW, cymlp_index ldw)
    int cymlp_all_finite_f(const float* x, cymlp_index n)
    int cymlp_all_finite_d(const double* x, cymlp_index n)


cdef inline floating exp_(floating x) noexcept nogil:
    """return exp(x), clamped to the normal range (fastexp.h)"""
    if floating is float:
        return cymlp_exp_f(x)
    else:
        return cymlp_exp_d(x)


cdef inline void bias_activation(floating* Z, const floating* b, Py_ssize_t rows,
                                 Py_ssize_t cols, int act, floating* P) noexcept nogil:
    """Z := f(Z + b) row-wise; if P is not NULL, P := Z + b (the pre-activation) too"""
    if floating is float:
        cymlp_bias_activation_f(Z, b, rows, cols, act, P)
    else:
        cymlp_bias_activation_d(Z, b, rows, cols, act, P)


cdef inline void activation_derivative(floating* D, const floating* A, const floating* P,
                                       Py_ssize_t n, int act) noexcept nogil:
    """D := D * f'(U), f' from A = f(U), or from P = U where ``cymlp_keeps_input(act)``"""
    if floating is float:
        cymlp_activation_derivative_f(D, A, P, n, act)
    else:
        cymlp_activation_derivative_d(D, A, P, n, act)


cdef inline void dropout(const floating* src, floating* dst, Py_ssize_t rows,
                         Py_ssize_t cols, Py_ssize_t ld, unsigned int key, Py_ssize_t row0,
                         Py_ssize_t col0, Py_ssize_t width, unsigned int threshold,
                         floating scale) noexcept nogil:
    """dst := src * mask * scale, the counter-based mask of elements (row0 + i, col0 + j)
    of a layer of ``width`` units (dropout.h); src may be dst"""
    if floating is float:
        cymlp_dropout_f(src, dst, rows, cols, ld, key, row0, col0, width, threshold, scale)
    else:
        cymlp_dropout_d(src, dst, rows, cols, ld, key, row0, col0, width, threshold, scale)


cdef inline void add_column_sums(floating* out, const floating* D, Py_ssize_t rows,
                                 Py_ssize_t cols, Py_ssize_t ld) noexcept nogil:
    """out[j] += sum_i D[i, j] for j < cols, the rows of D ld elements apart"""
    if floating is float:
        cymlp_add_column_sums_f(out, D, rows, cols, ld)
    else:
        cymlp_add_column_sums_d(out, D, rows, cols, ld)


cdef inline void gather_rows(floating* out, const floating* src, const Py_ssize_t* idx,
                             Py_ssize_t rows, Py_ssize_t cols) noexcept nogil:
    """out[r] := src[idx[r]]"""
    if floating is float:
        cymlp_gather_rows_f(out, src, idx, rows, cols)
    else:
        cymlp_gather_rows_d(out, src, idx, rows, cols)


cdef inline double output_error(const floating* Z, const floating* b, const floating* Y,
                                const floating* w, floating scale, floating* D,
                                Py_ssize_t rows, Py_ssize_t cols,
                                const cymlp_output* out) noexcept nogil:
    """D := dL/dU * w * scale (``O - Y`` for the paired losses); return sum_i w_i loss_i"""
    if floating is float:
        return cymlp_output_error_f(Z, b, Y, w, scale, D, rows, cols, out)
    else:
        return cymlp_output_error_d(Z, b, Y, w, scale, D, rows, cols, out)


cdef inline void output_activation(floating* Z, const floating* b, Py_ssize_t rows,
                                   Py_ssize_t cols, const cymlp_output* out) noexcept nogil:
    """Z := f(Z + b) for the output step (one softmax per column group, if any)"""
    if floating is float:
        cymlp_output_activation_f(Z, b, rows, cols, out)
    else:
        cymlp_output_activation_d(Z, b, rows, cols, out)


cdef inline void sgd_update(floating* p, const floating* g, const floating* g2, floating* v,
                            Py_ssize_t n, floating l2, floating lr, floating momentum,
                            bint nesterov) noexcept nogil:
    """v := momentum v - lr (g [+ g2] + l2 p); p += v (or the Nesterov step); g2 may be NULL"""
    if floating is float:
        cymlp_sgd_update_f(p, g, g2, v, n, l2, lr, momentum, nesterov)
    else:
        cymlp_sgd_update_d(p, g, g2, v, n, l2, lr, momentum, nesterov)


cdef inline void adam_update(floating* p, const floating* g, const floating* g2, floating* m,
                             floating* v, Py_ssize_t n, floating l2, floating lr_t,
                             floating beta1, floating beta2, floating eps,
                             floating decay) noexcept nogil:
    """Adam step on the gradient g [+ g2] + l2 p, bias correction folded into lr_t;
    g2 may be NULL; decay > 0: AdamW's decoupled decay p := p (1 - decay) first"""
    if floating is float:
        cymlp_adam_update_f(p, g, g2, m, v, n, l2, lr_t, beta1, beta2, eps, decay)
    else:
        cymlp_adam_update_d(p, g, g2, m, v, n, l2, lr_t, beta1, beta2, eps, decay)


cdef inline void add_scaled(floating* g, const floating* p, Py_ssize_t n,
                            floating alpha) noexcept nogil:
    """g := g + alpha p"""
    if floating is float:
        cymlp_add_scaled_f(g, p, n, alpha)
    else:
        cymlp_add_scaled_d(g, p, n, alpha)


cdef inline void row_product(const floating* x, const floating* W, Py_ssize_t ldw,
                             Py_ssize_t m, Py_ssize_t n, floating* y) noexcept nogil:
    """y[0:n] := sum_{k<m} x[k] W[k, 0:n], W row-major with row stride ldw"""
    if floating is float:
        cymlp_row_product_f(x, W, ldw, m, n, y)
    else:
        cymlp_row_product_d(x, W, ldw, m, n, y)


cdef inline void csr_matmul(const floating* data, const void* indices, bint idx32,
                            const Py_ssize_t* indptr, const Py_ssize_t* pick,
                            Py_ssize_t row0, Py_ssize_t rows, const floating* W,
                            Py_ssize_t ldw, Py_ssize_t n, floating* U,
                            Py_ssize_t ldu) noexcept nogil:
    """U[r, 0:n] := X[row r] W[:, 0:n] for CSR rows pick[r] (or row0 + r), with int32
    (``idx32``) or intp column indices; sparse.h"""
    if floating is float:
        if idx32:
            cymlp_csr_matmul_i32_f(data, <const int*>indices, indptr, pick, row0, rows, W,
                                   ldw, n, U, ldu)
        else:
            cymlp_csr_matmul_f(data, <const Py_ssize_t*>indices, indptr, pick, row0, rows,
                               W, ldw, n, U, ldu)
    else:
        if idx32:
            cymlp_csr_matmul_i32_d(data, <const int*>indices, indptr, pick, row0, rows, W,
                                   ldw, n, U, ldu)
        else:
            cymlp_csr_matmul_d(data, <const Py_ssize_t*>indices, indptr, pick, row0, rows,
                               W, ldw, n, U, ldu)


cdef inline void csr_grad(const floating* data, const void* indices, bint idx32,
                          const Py_ssize_t* indptr, const Py_ssize_t* pick, Py_ssize_t row0,
                          Py_ssize_t rows, const floating* D, Py_ssize_t n, Py_ssize_t j0,
                          Py_ssize_t j1, floating* dW, Py_ssize_t ldw) noexcept nogil:
    """dW[j0:j1, 0:n] += X^T D over the block's CSR rows (columns j0..j1 only); int32
    (``idx32``) or intp column indices; sparse.h"""
    if floating is float:
        if idx32:
            cymlp_csr_grad_i32_f(data, <const int*>indices, indptr, pick, row0, rows, D, n,
                                 j0, j1, dW, ldw)
        else:
            cymlp_csr_grad_f(data, <const Py_ssize_t*>indices, indptr, pick, row0, rows, D,
                             n, j0, j1, dW, ldw)
    else:
        if idx32:
            cymlp_csr_grad_i32_d(data, <const int*>indices, indptr, pick, row0, rows, D, n,
                                 j0, j1, dW, ldw)
        else:
            cymlp_csr_grad_d(data, <const Py_ssize_t*>indices, indptr, pick, row0, rows, D,
                             n, j0, j1, dW, ldw)


cdef inline bint all_finite(const floating* x, Py_ssize_t n) noexcept nogil:
    """whether no element of x[0:n] is NaN or infinite"""
    if floating is float:
        return cymlp_all_finite_f(x, n)
    else:
        return cymlp_all_finite_d(x, n)
