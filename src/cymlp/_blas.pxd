# cython: language_level=3
"""Row-major BLAS level-1 and level-3 calls over scipy.linalg.cython_blas.

numpy arrays are row-major and Fortran BLAS is column-major.  A row-major
``C = op(A) op(B)`` is the column-major ``C^T = op(B)^T op(A)^T``, so the operands
and the sizes m, n are swapped here, once, and callers think in row-major only.
No array is ever transposed in memory.
"""
from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, ddot, sgemm, sdot


# BLAS Level 1 ##############################################################

cdef inline floating dot(int n, const floating* x, const floating* y) noexcept nogil:
    """return x . y over n contiguous elements"""
    cdef int inc = 1
    if floating is float:
        return sdot(&n, <float*>x, &inc, <float*>y, &inc)
    else:
        return ddot(&n, <double*>x, &inc, <double*>y, &inc)


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
