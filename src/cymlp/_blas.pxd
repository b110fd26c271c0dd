# cython: language_level=3
"""Row-major BLAS level-1 and level-3 calls over scipy.linalg.cython_blas.

numpy arrays are row-major and Fortran BLAS is column-major.  A row-major
``C = op(A) op(B)`` is the column-major ``C^T = op(B)^T op(A)^T``, so the operands
and the sizes m, n are swapped here, once, and callers think in row-major only.
No array is ever transposed in memory.
"""
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, dgemv, ddot, sgemm, sgemv, sdot


# BLAS Level 1 ##############################################################

cdef inline floating dot(int n, const floating* x, const floating* y) noexcept nogil:
    """return x . y over n contiguous elements"""
    cdef int inc = 1
    if floating is float:
        return sdot(&n, <float*>x, &inc, <float*>y, &inc)
    else:
        return ddot(&n, <double*>x, &inc, <double*>y, &inc)


# BLAS Level 2 ##############################################################

cdef inline void gemv_rows(int n_in, int n_out, floating alpha, const floating* W,
                           const floating* x, floating beta, floating* y) noexcept nogil:
    """y := alpha * x . W + beta * y for one row x (n_in) and row-major W (n_in x n_out).

    Column-major, W is the n_out x n_in matrix W^T, so this is gemv 'N' on it."""
    cdef char trans = b'N'
    cdef int inc = 1
    if floating is float:
        sgemv(&trans, &n_out, &n_in, &alpha, <float*>W, &n_out, <float*>x, &inc, &beta, y,
              &inc)
    else:
        dgemv(&trans, &n_out, &n_in, &alpha, <double*>W, &n_out, <double*>x, &inc, &beta, y,
              &inc)


# BLAS Level 3 ##############################################################

cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating* A, int lda,
                      const floating* B, int ldb,
                      floating beta, floating* C, int ldc) noexcept nogil:
    """C := alpha * op(A) . op(B) + beta * C, row-major; C is m x n, op(A) m x k.

    lda, ldb and ldc are the row lengths of A, B and C as stored."""
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*>B, &ldb, <float*>A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*>B, &ldb, <double*>A, &lda,
              &beta, C, &ldc)
