"""Checks and conversions of user arrays before they reach compiled code (and the
estimators' policy for sparse input: when a sparse X is densified).

Everything that can be wrong with an input fails here, with a message naming the
argument and the problem.  What passes is a new or unchanged C-contiguous array of
the requested dtype: the caller's array is never written to.
"""
import numbers

import numpy as np
import scipy.sparse

from cymlp._checks import NOT_FINITE, READY, all_finite_array, ready_matrix_state


class CSRRows:
    """A CSR matrix in the form the compiled engine reads: ``data`` in the network's
    dtype, ``indices`` int32 or intp, ``indptr`` intp, all C-contiguous (made by
    ``check_float_matrix`` from any scipy sparse matrix or array).

    Attributes
    ----------
    data, indices, indptr : ndarray
    shape : tuple of int
    """

    __slots__ = ("data", "indices", "indptr", "shape")

    def __init__(self, data, indices, indptr, shape):
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = tuple(shape)

    @property
    def engine_input(self):
        """The ``(data, indices, indptr)`` triple ``Engine`` methods take for X."""
        return (self.data, self.indices, self.indptr)

    @property
    def nnz(self):
        """Number of stored values."""
        return self.data.shape[0]

    def __repr__(self):
        return "CSRRows(shape=%s, nnz=%d, dtype=%s)" % (self.shape, self.nnz, self.data.dtype)


def c_array(a, dtype=None):
    """Return ``a`` as a base-class ndarray that is C-contiguous and aligned.

    Copied only when it is not one already.  Alignment matters beyond
    ``np.ascontiguousarray``: arrays rebuilt from bytes (Dask or pickle protocol 5
    buffers, ``np.frombuffer``) can start at any address.

    Parameters
    ----------
    a : array-like
    dtype : numpy dtype, optional

    Returns
    -------
    ndarray
    """
    return np.require(a, dtype=dtype, requirements=("C", "A", "E"))


def engine_input(X):
    """What an ``Engine`` method takes for a checked X: the array, or a CSR triple."""
    return X.engine_input if isinstance(X, CSRRows) else X


def check_sparse_structure(X, name):
    """Return a scipy sparse ``X`` whose index arrays describe a matrix of its shape:
    ``X`` itself (CSR, CSC, COO), or a COO copy of another format.

    scipy's C converters (``tocsr``, ``toarray``) trust the index arrays: a column
    index past the end, a negative one or a decreasing ``indptr`` (all possible by
    writing into a matrix's arrays) made them read or write out of bounds.  The checks
    only read; the caller's matrix is not changed (scipy's ``check_format`` would prune
    it).

    Parameters
    ----------
    X : scipy sparse matrix or array
    name : str
        For messages.

    Returns
    -------
    scipy sparse matrix or array
        In CSR, CSC or COO format.
    """
    fmt = X.format
    try:
        if fmt not in ("csr", "csc", "coo"):
            X = X.tocoo()   # from BSR, DIA, LIL, DOK: numpy and Python code only
        problem = _compressed_problem(X) if X.format in ("csr", "csc") else _coo_problem(X)
    except (ValueError, TypeError, IndexError) as exc:
        problem = str(exc)
    if problem:
        raise ValueError("%s is not a valid %s sparse matrix of shape %s: %s"
                         % (name, fmt.upper(), X.shape, problem))
    return X


def _compressed_problem(X):
    """What is inconsistent in a CSR or CSC matrix's arrays, or None."""
    major, minor = X.shape if X.format == "csr" else X.shape[::-1]
    indptr, indices, data = X.indptr, X.indices, X.data
    if indptr.dtype.kind not in "iu" or indices.dtype.kind not in "iu":
        return "its index arrays are not integers"
    if indptr.ndim != 1 or indices.ndim != 1 or data.ndim != 1 or indptr.size != major + 1:
        return "indptr needs %d entries and indices and data one dimension" % (major + 1)
    nnz = int(indptr[-1])
    if indptr[0] != 0 or (np.diff(indptr) < 0).any() or nnz > min(indices.size, data.size):
        return ("indptr must run from 0 to at most %d without decreasing"
                % min(indices.size, data.size))
    if nnz and (int(indices[:nnz].min()) < 0 or int(indices[:nnz].max()) >= minor):
        return "its indices must lie in [0, %d)" % minor
    return None


def _coo_problem(X):
    """What is inconsistent in a COO matrix's arrays, or None."""
    for axis, (coord, size) in enumerate(zip((X.row, X.col), X.shape)):
        if coord.dtype.kind not in "iu" or coord.ndim != 1 or coord.size != X.data.size:
            return "its coordinates must be integer arrays as long as data"
        if coord.size and (int(coord.min()) < 0 or int(coord.max()) >= size):
            return "its %s indices must lie in [0, %d)" % (("row", "column")[axis], size)
    return None


def check_csr_matrix(X, name, dtype, n_cols=None, *, allow_empty=False):
    """Return a scipy sparse matrix or array as ``CSRRows``, never densified.

    CSC, COO and the other formats are converted to CSR once; the values are converted
    to ``dtype`` and must be finite.  The caller's matrix is never written to.

    Parameters
    ----------
    X : scipy sparse matrix or array of shape (n_rows, n_cols)
    name : str
    dtype : numpy dtype
    n_cols : int, optional
    allow_empty : bool, default=False

    Returns
    -------
    CSRRows
    """
    if X.ndim != 2:
        raise ValueError("%s must be 2-D, got shape %s" % (name, X.shape))
    if X.dtype.kind not in "biuf":
        raise TypeError("%s must hold real numbers, got dtype %s" % (name, X.dtype))
    if n_cols is not None and X.shape[1] != n_cols:
        raise ValueError("%s has %d columns, the network expects %d"
                         % (name, X.shape[1], n_cols))
    if X.shape[0] == 0 and not allow_empty:
        raise ValueError("%s is empty (0 rows)" % name)
    return csr_rows(check_sparse_structure(X, name), name, dtype)


def csr_rows(X, name, dtype):
    """``CSRRows`` of a scipy sparse matrix whose index arrays ``check_sparse_structure``
    passed: converted to CSR once, the values to ``dtype`` (they must be finite).

    Parameters
    ----------
    X : scipy sparse matrix or array
    name : str
    dtype : numpy dtype

    Returns
    -------
    CSRRows
    """
    csr = X.tocsr() if X.format != "csr" else X
    data = c_array(csr.data, dtype=dtype)
    if not all_finite_array(data):
        raise ValueError("%s contains NaN or infinity" % name)
    # int32 column indices (scipy's usual) are read as they are; others become intp
    index_dtype = np.int32 if csr.indices.dtype == np.int32 else np.intp
    return CSRRows(data, c_array(csr.indices, dtype=index_dtype),
                   c_array(csr.indptr, dtype=np.intp), csr.shape)


def check_float_matrix(X, name, dtype, n_cols=None, *, allow_empty=False):
    """Return ``X`` as a finite, C-contiguous 2-D array of ``dtype`` (a scipy sparse X
    as ``CSRRows``, see ``check_csr_matrix``).

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_rows, n_cols)
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
    ndarray or CSRRows of shape (n_rows, n_cols)

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
    if isinstance(X, CSRRows):
        if X.data.dtype != dtype or (n_cols is not None and X.shape[1] != n_cols):
            raise ValueError("%s (%r) does not fit: the network expects %s columns of %s"
                             % (name, X, n_cols, np.dtype(dtype)))
        return X
    if scipy.sparse.issparse(X):
        return check_csr_matrix(X, name, dtype, n_cols, allow_empty=allow_empty)
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
    array = c_array(array, dtype=dtype)
    if not all_finite_array(array):
        raise ValueError("%s contains NaN or infinity" % name)
    return array


def check_sample_weight(sample_weight, n_rows, dtype):
    """Return sample weights as a 1-D array in ``dtype`` that training can use, or None.

    Parameters
    ----------
    sample_weight : array-like of shape (n_rows,) or None
    n_rows : int
    dtype : numpy dtype

    Returns
    -------
    ndarray of shape (n_rows,) or None

    Raises
    ------
    TypeError
        For weights that are not real numbers.
    ValueError
        For the wrong shape, or values ``check_weight_values`` refuses.
    """
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf":
        raise TypeError("sample_weight must hold real numbers, got dtype %s" % weights.dtype)
    if weights.ndim != 1 or weights.shape[0] != n_rows:
        raise ValueError("sample_weight must have shape (%d,), got %s" % (n_rows, weights.shape))
    with np.errstate(over="ignore"):   # a weight past float32's range is refused next
        weights = c_array(weights, dtype=dtype)
    return check_weight_values(weights, "sample_weight")


def weight_total(weights):
    """The sum of ``weights`` in float64 (float32 weights may sum past float32's range).

    Parameters
    ----------
    weights : ndarray

    Returns
    -------
    float
    """
    with np.errstate(over="ignore"):   # the callers refuse an infinite sum by name
        return float(weights.sum(dtype=np.float64))


def check_weight_values(weights, name):
    """Return ``weights`` if training can use them: finite and non-negative in their
    dtype, a sum that is positive and finite, and no positive weight below the dtype's
    smallest normal number (1 / a batch's sum must not overflow).

    A batch whose weights are all zero makes no step; a sum of zero over all rows
    leaves nothing to fit.

    Parameters
    ----------
    weights : ndarray
        1-D, float32 or float64.
    name : str
        For messages.

    Returns
    -------
    ndarray
        ``weights``.
    """
    info = np.finfo(weights.dtype)
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError("%s must be finite and non-negative in %s, the network's dtype "
                         "(its largest number is %.3g)" % (name, weights.dtype, info.max))
    total = weight_total(weights)
    if total <= 0:
        raise ValueError("%s must not be all zero: the weights sum to zero" % name)
    if not np.isfinite(total):
        raise ValueError("%s sums past the largest float64: divide every weight by one "
                         "factor, and alpha by the same factor to keep the same fit"
                         % name)
    if ((weights > 0) & (weights < info.tiny)).any():
        raise ValueError("%s has weights between 0 and %.3g, the smallest normal %s: "
                         "set them to 0, or multiply every weight by one factor (and "
                         "alpha by the same factor)" % (name, info.tiny, weights.dtype))
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


# -- the estimators' input policy: sparse or dense, classes as indices ----------------

#: A sparse X at least this dense trains and predicts densified (when that fits in
#: ``DENSE_BYTES_LIMIT``): measured crossover, see benchmarks/sparse_input.py and docs/performance.md.
SPARSE_DENSITY_CROSSOVER = 0.1
DENSE_BYTES_LIMIT = 2 << 30


def sparse_training_input(X, dtype):
    """A sparse training X as CSR in ``dtype``, or densified where that is faster."""
    n_rows, n_cols = X.shape
    density = X.nnz / max(1, n_rows * n_cols)
    if (density >= SPARSE_DENSITY_CROSSOVER
            and n_rows * n_cols * np.dtype(dtype).itemsize <= DENSE_BYTES_LIMIT):
        return c_array(X.toarray(), dtype=dtype)
    return X.tocsr().astype(dtype, copy=False)


def class_index(Y, n_classes):
    """Each sample's class, as an index into ``classes_``, from the encoded targets
    (one-hot rows; one 0/1 column for two classes; for one class, always 0)."""
    if n_classes == 1:
        return np.zeros(Y.shape[0], dtype=np.intp)
    return Y.argmax(axis=1) if Y.shape[1] > 1 else (Y[:, 0] > 0).astype(np.intp)


def engine_ready(X, dtype):
    """X as the network takes it: a C-contiguous array, or ``CSRRows`` for sparse X (its
    index arrays checked on the way in, by the estimators' ``_validate_xy`` or ``_check_predict_input``,
    or made by scipy from such a matrix)."""
    if scipy.sparse.issparse(X):
        return csr_rows(X, "X", dtype)
    return c_array(X, dtype=dtype)
