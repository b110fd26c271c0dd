# cython: language_level=3, boundscheck=False, wraparound=False
"""Python-callable twins of the BLAS calls in ``_blas.pxd``, for the test suite."""
from cython cimport floating

from cymlp._blas cimport dot, gemm


def dot_memview(const floating[::1] x, const floating[::1] y):
    """Return ``x . y`` computed by BLAS ``sdot``/``ddot``.

    Parameters
    ----------
    x, y : ndarray of shape (n,), float32 or float64, C-contiguous

    Returns
    -------
    float
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError("x and y must have the same length")
    if x.shape[0] == 0:
        return 0.0
    return dot(<int>x.shape[0], &x[0], &y[0])


def gemm_memview(bint trans_a, bint trans_b, double alpha,
                 const floating[:, ::1] A, const floating[:, ::1] B,
                 double beta, floating[:, ::1] C):
    """Compute ``C := alpha * op(A) @ op(B) + beta * C`` in place with BLAS gemm.

    Parameters
    ----------
    trans_a, trans_b : bool
        Whether ``op`` transposes A, B.
    alpha, beta : float
    A, B : ndarray, C-contiguous, same dtype as C
    C : ndarray of shape (m, n), C-contiguous, written in place

    The GIL is released during the product.
    """
    cdef int m = A.shape[1] if trans_a else A.shape[0]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    cdef int kb = B.shape[1] if trans_b else B.shape[0]
    cdef int n = B.shape[0] if trans_b else B.shape[1]
    if k != kb or C.shape[0] != m or C.shape[1] != n:
        raise ValueError("gemm shapes do not match")
    if m == 0 or n == 0 or k == 0:
        raise ValueError("gemm needs non-empty matrices")
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating>alpha, &A[0, 0], <int>A.shape[1],
             &B[0, 0], <int>B.shape[1], <floating>beta, &C[0, 0], n)


cdef extern from *:
    """
    #ifndef CYMLP_CFLAGS
    #define CYMLP_CFLAGS "unknown"
    #endif
    """
    const char* CYMLP_CFLAGS


def compile_flags():
    """Return the C compiler flags this extension was built with.

    Returns
    -------
    str
    """
    return CYMLP_CFLAGS.decode()
