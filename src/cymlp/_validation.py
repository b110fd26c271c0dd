"""Checks and conversions of user arrays before they reach compiled code.

Everything that can be wrong with an input fails here, with a message naming the
argument and the problem.  What passes is a new or unchanged C-contiguous array of
the requested dtype: the caller's array is never written to.
"""
import numbers

import numpy as np

from cymlp._checks import NOT_FINITE, READY, all_finite_array, ready_matrix_state


def check_float_matrix(X, name, dtype, n_cols=None, *, allow_empty=False):
    """Return ``X`` as a finite, C-contiguous 2-D array of ``dtype``.

    Parameters
    ----------
    X : array-like of shape (n_rows, n_cols)
    name : str
        Argument name used in error messages.
    dtype : numpy dtype
        float32 or float64.
    n_cols : int, optional
        Required number of columns.
    allow_empty : bool, default=False
        Whether zero rows are accepted.

    Returns
    -------
    ndarray of shape (n_rows, n_cols)

    Raises
    ------
    TypeError
        For non-numeric data (strings, objects, complex numbers).
    ValueError
        For a wrong number of dimensions or columns, no rows, NaN or infinity.
    """
    # the common case, kept cheap for small inputs (one compiled call)
    state = ready_matrix_state(X, dtype, -1 if n_cols is None else n_cols)
    if state == READY:
        return X
    if state == NOT_FINITE:
        raise ValueError("%s contains NaN or infinity" % name)
    array = np.asarray(X)
    if array.dtype.kind not in "biuf":
        raise TypeError("%s must hold real numbers, got dtype %s" % (name, array.dtype))
    if array.ndim != 2:
        raise ValueError("%s must be a 2-D array, got %d dimension(s) with shape %s"
                         % (name, array.ndim, array.shape))
    if n_cols is not None and array.shape[1] != n_cols:
        raise ValueError("%s has %d columns, the network expects %d"
                         % (name, array.shape[1], n_cols))
    if array.shape[0] == 0 and not allow_empty:
        raise ValueError("%s is empty (0 rows)" % name)
    # a copy when the order, dtype or byte order differ: compiled code gets native
    # C-contiguous memory and the caller's array is never touched
    array = np.ascontiguousarray(array, dtype=dtype)
    if not all_finite_array(array):
        raise ValueError("%s contains NaN or infinity" % name)
    return array


def check_sample_weight(sample_weight, n_rows, dtype):
    """Return sample weights as a finite, non-negative 1-D array, or None.

    Parameters
    ----------
    sample_weight : array-like of shape (n_rows,) or None
    n_rows : int
    dtype : numpy dtype

    Returns
    -------
    ndarray of shape (n_rows,) or None
    """
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf":
        raise TypeError("sample_weight must hold real numbers, got dtype %s" % weights.dtype)
    if weights.ndim != 1 or weights.shape[0] != n_rows:
        raise ValueError("sample_weight must have shape (%d,), got %s" % (n_rows, weights.shape))
    weights = np.ascontiguousarray(weights, dtype=dtype)
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    if weights.sum() <= 0:
        raise ValueError("sample_weight must not be all zero: the weights sum to zero")
    return weights


def check_positive_int(value, name):
    """Return ``value`` as an int >= 1, or raise.

    Parameters
    ----------
    value : int
    name : str

    Returns
    -------
    int
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError("%s must be an integer, got %r" % (name, value))
    if value < 1:
        raise ValueError("%s must be >= 1, got %d" % (name, value))
    return int(value)
