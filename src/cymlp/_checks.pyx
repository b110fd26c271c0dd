# cython: language_level=3, boundscheck=False, wraparound=False
"""Input checks that must cost little next to a small prediction.

The validation layer (``_validation.py``) calls these and words the errors; they
only look.  One row of 784 float32 values: ``np.isfinite(X).all()`` takes ~2 us (it
allocates a boolean copy), ``ready_matrix_state`` under 0.2 us for the whole check.
"""
import numpy as np

cimport numpy as cnp

from cymlp._kernels cimport all_finite

cnp.import_array()

cdef enum:
    # Release the GIL for the finiteness check from this many elements on.
    NOGIL_ELEMENTS = 65536

# ready_matrix_state results
NEEDS_CONVERSION = 0
READY = 1
NOT_FINITE = 2


cdef bint typed_all_finite(const void* data, Py_ssize_t n, bint is_float) noexcept nogil:
    if is_float:
        return all_finite(<const float*>data, n)
    return all_finite(<const double*>data, n)


cdef bint array_all_finite(cnp.ndarray X, bint is_float):
    """Whether no element of a C-contiguous float array is NaN or infinite."""
    cdef Py_ssize_t n = cnp.PyArray_SIZE(X)
    cdef void* data = cnp.PyArray_DATA(X)
    cdef bint ok
    if n < NOGIL_ELEMENTS:
        return typed_all_finite(data, n, is_float)
    with nogil:
        ok = typed_all_finite(data, n, is_float)
    return ok


def all_finite_array(cnp.ndarray X):
    """Return whether no element of X is NaN or infinite.

    One pass, no temporary array.

    Parameters
    ----------
    X : ndarray, float32 or float64 in native byte order, C-contiguous

    Returns
    -------
    bool

    Raises
    ------
    TypeError
        For another dtype or byte order.
    ValueError
        For an array that is not C-contiguous.
    """
    cdef int typenum = cnp.PyArray_TYPE(X)
    if not cnp.PyArray_ISNOTSWAPPED(X) or typenum not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64):
        raise TypeError("all_finite_array needs float32 or float64 in native byte order, "
                        "got %s" % X.dtype)
    if not cnp.PyArray_IS_C_CONTIGUOUS(X):
        raise ValueError("all_finite_array needs a C-contiguous array")
    return array_all_finite(X, typenum == cnp.NPY_FLOAT32)


def ready_matrix_state(object X, object dtype, Py_ssize_t n_cols=-1):
    """Say whether X can go to compiled code as it is.

    Parameters
    ----------
    X : object
    dtype : numpy dtype or anything ``np.dtype`` accepts
        float32 or float64 (native byte order).
    n_cols : int, default=-1
        Required number of columns; -1 for any.

    Returns
    -------
    int
        ``READY``: an ndarray (not a subclass) of ``dtype``, 2-D, with at least one row,
        ``n_cols`` columns, C-contiguous and aligned, every element finite.
        ``NOT_FINITE``: all that but some element is NaN or infinite.  ``NEEDS_CONVERSION``: anything else
        (the caller's general path checks and converts it).
    """
    cdef cnp.ndarray A
    cdef cnp.dtype descr = dtype if isinstance(dtype, cnp.dtype) else np.dtype(dtype)
    if type(X) is not np.ndarray:
        return NEEDS_CONVERSION
    A = <cnp.ndarray>X
    if (cnp.PyArray_TYPE(A) != descr.type_num or not cnp.PyArray_ISNOTSWAPPED(A)
            or cnp.PyArray_NDIM(A) != 2 or cnp.PyArray_DIM(A, 0) == 0
            or (n_cols >= 0 and cnp.PyArray_DIM(A, 1) != n_cols)
            or not cnp.PyArray_IS_C_CONTIGUOUS(A) or not cnp.PyArray_ISALIGNED(A)):
        return NEEDS_CONVERSION
    if descr.type_num not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64):
        return NEEDS_CONVERSION
    return READY if array_all_finite(A, descr.type_num == cnp.NPY_FLOAT32) else NOT_FINITE
