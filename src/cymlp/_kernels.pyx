# cython: language_level=3, boundscheck=False, wraparound=False
"""Python-callable twins of the C kernels, so the test suite can check each one."""
from cython cimport floating

def row_product_memview(const floating[::1] x, const floating[:, ::1] W, floating[::1] y):
    """Compute ``y := x . W`` with the small-prediction kernel (rowproduct.h).

    Parameters
    ----------
    x : ndarray of shape (m,)
    W : ndarray of shape (m, n)
    y : ndarray of shape (n,), written
    """
    cdef Py_ssize_t j
    if x.shape[0] != W.shape[0] or y.shape[0] != W.shape[1]:
        raise ValueError("x, W and y shapes do not match")
    if y.shape[0] == 0:
        return
    with nogil:
        if x.shape[0] == 0:
            for j in range(y.shape[0]):
                y[j] = 0
        else:
            row_product(&x[0], &W[0, 0], W.shape[1], W.shape[0], W.shape[1], &y[0])


def exp_memview(floating[::1] x):
    """Apply the vectorisable exp of fastexp.h to ``x`` in place.

    Parameters
    ----------
    x : ndarray of shape (n,), float32 or float64, C-contiguous, written in place
    """
    cdef Py_ssize_t i
    with nogil:
        for i in range(x.shape[0]):
            x[i] = exp_(x[i])


def bias_activation_memview(floating[:, ::1] Z, const floating[::1] b, int act,
                            floating[:, ::1] P=None):
    """Compute ``Z := f(Z + b)`` in place, ``f`` given by its activation code.

    Parameters
    ----------
    Z : ndarray of shape (rows, cols), written in place
    b : ndarray of shape (cols,)
    act : int
        Activation code (``cymlp._names.ACTIVATION_CODES``).
    P : ndarray of shape (rows, cols), optional
        Receives the pre-activation ``Z + b``.
    """
    cdef floating* p = NULL
    if b.shape[0] != Z.shape[1]:
        raise ValueError("b must have Z.shape[1] elements")
    if P is not None:
        if P.shape[0] != Z.shape[0] or P.shape[1] != Z.shape[1]:
            raise ValueError("P must have the shape of Z")
    if Z.shape[0] == 0 or Z.shape[1] == 0:
        return
    if P is not None:
        p = &P[0, 0]
    with nogil:
        bias_activation(&Z[0, 0], &b[0], Z.shape[0], Z.shape[1], act, p)


def activation_derivative_memview(floating[:, ::1] D, const floating[:, ::1] A, int act,
                                  const floating[:, ::1] P=None):
    """Compute ``D := D * f'(U)`` in place, ``f'`` written from ``A = f(U)``, or from
    the pre-activation ``P = U`` for the activations that need it (gelu, silu).

    Parameters
    ----------
    D : ndarray of shape (rows, cols), written in place
    A : ndarray of shape (rows, cols)
    act : int
        Activation code.
    P : ndarray of shape (rows, cols), optional
        Required where ``keeps_input(act)``.
    """
    cdef const floating* p = NULL
    if D.shape[0] != A.shape[0] or D.shape[1] != A.shape[1]:
        raise ValueError("D and A must have the same shape")
    if P is None and cymlp_keeps_input(act):
        raise ValueError("activation %d needs the pre-activation P" % act)
    if P is not None and (P.shape[0] != D.shape[0] or P.shape[1] != D.shape[1]):
        raise ValueError("P must have the shape of D")
    if D.shape[0] == 0 or D.shape[1] == 0:
        return
    if P is not None:
        p = &P[0, 0]
    with nogil:
        activation_derivative(&D[0, 0], &A[0, 0], p, D.shape[0] * D.shape[1], act)


def keeps_input(int act):
    """Whether the derivative of activation ``act`` needs its input (gelu, silu).

    Parameters
    ----------
    act : int
        Activation code.

    Returns
    -------
    bool
    """
    return bool(cymlp_keeps_input(act))


def output_error_memview(const floating[:, ::1] Z, const floating[::1] b,
                         const floating[:, ::1] Y, floating scale,
                         floating[:, ::1] D, int out_act, double param=0.0,
                         const Py_ssize_t[::1] group_ends=None):
    """Write the output error ``dL/dU * scale`` into D; return the loss sum.

    Parameters
    ----------
    Z, Y, D : ndarray of shape (rows, cols); D is written
    b : ndarray of shape (cols,)
    scale : float
    out_act : int
        Output code: an activation and its loss (``cymlp._names.LOSS_CODES``).
    param : float, default=0.0
        The huber threshold or the quantile level.
    group_ends : ndarray of intp, optional
        Softmax only: the end column of each group, increasing, the last ``cols``.

    Returns
    -------
    float
        ``sum_i loss_i`` for the loss.
    """
    cdef double total
    cdef cymlp_output out
    if not (Z.shape[0] == Y.shape[0] == D.shape[0] and
            Z.shape[1] == Y.shape[1] == D.shape[1] == b.shape[0]):
        raise ValueError("Z, Y, D and b shapes do not match")
    out.code = out_act
    out.param = param
    out.group_ends = NULL
    out.n_groups = 0
    if group_ends is not None:
        check_group_ends(group_ends, Z.shape[1])
        out.group_ends = &group_ends[0]
        out.n_groups = group_ends.shape[0]
    if Z.shape[0] == 0 or Z.shape[1] == 0:
        return 0.0
    with nogil:
        total = output_error(&Z[0, 0], &b[0], &Y[0, 0], NULL, scale, &D[0, 0],
                             Z.shape[0], Z.shape[1], &out)
    return total


cdef check_group_ends(const Py_ssize_t[::1] ends, Py_ssize_t cols):
    cdef Py_ssize_t g, start = 0
    if ends.shape[0] == 0 or ends[ends.shape[0] - 1] != cols:
        raise ValueError("group_ends must end at the number of columns, %d" % cols)
    for g in range(ends.shape[0]):
        if ends[g] <= start:
            raise ValueError("group_ends must be increasing and positive")
        start = ends[g]


def dropout_memview(const floating[:, ::1] src, floating[:, ::1] dst, unsigned int key,
                    Py_ssize_t row0, Py_ssize_t col0, Py_ssize_t width, double rate):
    """``dst := src * mask / (1 - rate)``: the dropout kernel on a block of rows
    ``row0..`` and columns ``col0..`` of a layer of ``width`` units (dropout.h).

    Parameters
    ----------
    src, dst : ndarray of shape (rows, cols); dst is written (it may be src)
    key : int
        The mask key (32 bits).
    row0, col0 : int
        The block's first row (in the batch) and first unit.
    width : int
        The layer's units (>= col0 + cols).
    rate : float
        In (0, 1).
    """
    cdef unsigned int threshold
    if src.shape[0] != dst.shape[0] or src.shape[1] != dst.shape[1]:
        raise ValueError("src and dst must have the same shape")
    if not 0 < rate < 1 or row0 < 0 or col0 < 0 or width < col0 + src.shape[1]:
        raise ValueError("need 0 < rate < 1, row0, col0 >= 0 and width >= col0 + cols")
    if src.shape[0] == 0 or src.shape[1] == 0:
        return
    threshold = <unsigned int>min(max(round(rate * 2.0 ** 32), 1), 2.0 ** 32 - 1)
    with nogil:
        dropout(&src[0, 0], &dst[0, 0], src.shape[0], src.shape[1], src.shape[1], key,
                row0, col0, width, threshold, <floating>(1.0 / (1.0 - rate)))
