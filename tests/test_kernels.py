"""The C kernels of include/cymlp agree with numpy and stay finite at extreme inputs."""
import numpy as np
import pytest
from scipy.special import expit, ndtr, xlogy

from cymlp._checks import (NEEDS_CONVERSION, NOT_FINITE, READY, all_finite_array,
                           ready_matrix_state)
from cymlp._kernels import (activation_derivative_memview, bias_activation_memview,
                            exp_memview, keeps_input, output_error_memview,
                            row_product_memview)
from cymlp._names import ACTIVATION_CODES, OUTPUT_CODES

DTYPES = [(np.float32, 3e-7), (np.float64, 2e-15)]


@pytest.mark.parametrize("dtype, rtol", DTYPES)
def test_exp_accuracy_over_the_normal_range(dtype, rtol):
    hi = 88.0 if dtype == np.float32 else 709.0
    x = np.linspace(-80.0 if dtype == np.float32 else -700.0, hi, 200001).astype(dtype)
    got = x.copy()
    exp_memview(got)
    np.testing.assert_allclose(got, np.exp(x.astype(np.float64)), rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_is_finite_at_extremes_and_keeps_nan(dtype):
    x = np.array([-1e4, 1e4, -np.inf, np.inf, np.nan, 0.0], dtype=dtype)
    exp_memview(x)
    assert np.isfinite(x[:4]).all() and (x[:4] > 0).all()
    assert np.isnan(x[4]) and x[5] == 1.0


REFERENCE = {
    "identity": lambda u: u,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda u: np.maximum(u, 0),
    "leaky_relu": lambda u: np.where(u < 0, 0.01 * u, u),
    "elu": lambda u: np.where(u > 0, u, np.expm1(np.minimum(u, 0))),
    "gelu": lambda u: u * ndtr(u),
    "silu": lambda u: u * expit(u),
    "softplus": lambda u: np.logaddexp(0, u),
}
# f'(u), as a function of u
DERIVATIVE = {
    "identity": lambda u: np.ones_like(u),
    "logistic": lambda u: expit(u) * (1 - expit(u)),
    "tanh": lambda u: 1 - np.tanh(u) ** 2,
    "relu": lambda u: (u > 0).astype(u.dtype),
    "leaky_relu": lambda u: np.where(u > 0, 1.0, 0.01),
    "elu": lambda u: np.where(u > 0, 1.0, np.exp(np.minimum(u, 0))),
    "gelu": lambda u: ndtr(u) + u * np.exp(-u * u / 2) / np.sqrt(2 * np.pi),
    "silu": lambda u: expit(u) * (1 + u * (1 - expit(u))),
    "softplus": expit,
}


def test_every_activation_has_a_reference():
    assert set(REFERENCE) == set(DERIVATIVE) == set(ACTIVATION_CODES)
    assert {name for name, code in ACTIVATION_CODES.items() if keeps_input(code)} == {
        "gelu", "silu"}


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-14)])
def test_bias_activation_matches_numpy(name, dtype, tol):
    rng = np.random.default_rng(1)
    Z = rng.normal(scale=4, size=(9, 13)).astype(dtype)
    b = rng.normal(size=13).astype(dtype)
    expected = REFERENCE[name](Z.astype(np.float64) + b)
    bias_activation_memview(Z, b, ACTIVATION_CODES[name])
    np.testing.assert_allclose(Z, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_rows_sum_to_one_and_are_finite_at_1e4(dtype):
    Z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1.0, 2.0, 3.0]], dtype=dtype)
    bias_activation_memview(Z, np.zeros(3, dtype), OUTPUT_CODES["softmax"])
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(Z.sum(axis=1), 1.0, rtol=1e-6)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(Z[2], e / e.sum(), rtol=1e-6)


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hidden_activations_finite_at_1e4(name, dtype):
    Z = np.array([[-1e4, 1e4, -3e4, 3e4]], dtype=dtype)
    bias_activation_memview(Z, np.zeros(4, dtype), ACTIVATION_CODES[name])
    assert np.isfinite(Z).all()


def test_activations_propagate_nan():
    for code in ACTIVATION_CODES.values():
        Z = np.array([[np.nan, 1.0]])
        bias_activation_memview(Z, np.zeros(2), code)
        assert np.isnan(Z[0, 0])


@pytest.mark.parametrize("name", sorted(REFERENCE))
@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_activation_derivative(name, dtype, tol):
    # from the outputs A = f(U), or from U itself where the derivative needs it; the
    # forward kernel keeps U when asked to
    rng = np.random.default_rng(2)
    U = rng.normal(scale=3, size=(6, 5)).astype(dtype)
    A = U.copy()
    kept = np.full_like(U, np.nan)
    bias_activation_memview(A, np.zeros(5, dtype), ACTIVATION_CODES[name], kept)
    np.testing.assert_array_equal(kept, U)
    D = rng.normal(size=(6, 5)).astype(dtype)
    expected = D.astype(np.float64) * DERIVATIVE[name](U.astype(np.float64))
    code = ACTIVATION_CODES[name]
    activation_derivative_memview(D, A, code, U if keeps_input(code) else None)
    np.testing.assert_allclose(D, expected, rtol=tol, atol=tol)


def test_derivatives_that_need_the_input_refuse_to_run_without_it():
    D = A = np.ones((2, 2))
    with pytest.raises(ValueError, match="pre-activation"):
        activation_derivative_memview(D, A, ACTIVATION_CODES["gelu"])


def _reference_output(name, U, Y):
    if name == "softmax":
        shifted = U - U.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return np.exp(log_p), -(Y * log_p).sum()
    if name == "logistic":
        return expit(U), (np.logaddexp(0, U) - Y * U).sum()
    if name == "exp":
        return np.exp(U), (xlogy(Y, Y / np.exp(U)) - Y + np.exp(U)).sum()
    return U, 0.5 * ((U - Y) ** 2).sum()


@pytest.mark.parametrize("name", sorted(OUTPUT_CODES))
def test_output_error_is_output_minus_target(name):
    rng = np.random.default_rng(3)
    Z = rng.normal(scale=3, size=(8, 4))
    b = rng.normal(size=4)
    Y = {"identity": rng.normal(size=(8, 4)), "exp": rng.poisson(3.0, size=(8, 4)) * 1.0
         }.get(name, np.eye(4)[rng.integers(0, 4, 8)])
    D = np.empty_like(Z)
    loss = output_error_memview(Z, b, Y, 0.25, D, OUTPUT_CODES[name])
    out, expected_loss = _reference_output(name, Z + b, Y)
    np.testing.assert_allclose(D, (out - Y) * 0.25, rtol=1e-12, atol=1e-15)
    assert loss == pytest.approx(expected_loss, rel=1e-12)


@pytest.mark.parametrize("name", ["softmax", "logistic"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_loss_finite_at_1e4(name, dtype):
    Z = np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype)
    Y = np.array([[0, 1], [0, 1]], dtype=dtype)
    D = np.empty_like(Z)
    loss = output_error_memview(Z, np.zeros(2, dtype), Y, 1.0, D, OUTPUT_CODES[name])
    assert np.isfinite(loss) and np.isfinite(D).all()
    # the first row is confidently wrong by a margin of 2e4: its loss is 2e4, the second 0
    assert loss == pytest.approx(2e4, rel=1e-3)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("m, n", [(1, 1), (3, 5), (4, 8), (7, 17), (392, 200), (784, 10)])
def test_row_product_matches_numpy(dtype, rtol, m, n):
    rng = np.random.default_rng(m * 1000 + n)
    x, W = rng.normal(size=m).astype(dtype), rng.normal(size=(m, n)).astype(dtype)
    y = np.full(n, np.nan, dtype=dtype)      # fully overwritten, never accumulated into
    row_product_memview(x, W, y)
    expected = x.astype(np.float64) @ W.astype(np.float64)
    np.testing.assert_allclose(y, expected, rtol=rtol, atol=rtol * np.abs(x).sum())


def test_row_product_of_an_empty_row_is_zero_and_checks_shapes():
    y = np.full(3, np.nan)
    row_product_memview(np.empty(0), np.empty((0, 3)), y)
    np.testing.assert_array_equal(y, 0.0)
    with pytest.raises(ValueError, match="shapes"):
        row_product_memview(np.ones(2), np.ones((3, 3)), np.ones(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [1, 7, 8, 33, 784, 70000])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_every_non_finite_value_anywhere(dtype, size, bad):
    x = np.random.default_rng(size).normal(size=size).astype(dtype)
    x[size // 2] = np.finfo(dtype).max      # huge but finite
    if size > 1:
        x[0] = np.finfo(dtype).tiny / 4     # subnormal, finite
    assert all_finite_array(x)
    for position in {0, size // 2, size - 1}:
        y = x.copy()
        y[position] = bad
        assert not all_finite_array(y)


def test_all_finite_rejects_what_it_cannot_read():
    with pytest.raises(TypeError, match="float32 or float64"):
        all_finite_array(np.ones(3, dtype=np.int64))
    with pytest.raises(TypeError, match="byte order"):
        all_finite_array(np.ones(3, dtype=">f8"))
    with pytest.raises(ValueError, match="C-contiguous"):
        all_finite_array(np.ones((4, 4))[:, ::2])
    assert all_finite_array(np.empty((0, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ready_matrix_state(dtype):
    d = np.dtype(dtype)
    X = np.ones((2, 3), dtype=dtype)
    assert ready_matrix_state(X, d, 3) == READY
    assert ready_matrix_state(X, d) == READY
    bad = X.copy()
    bad[1, 2] = np.nan
    assert ready_matrix_state(bad, d, 3) == NOT_FINITE
    other = np.float64 if dtype == np.float32 else np.float32
    for candidate in (X.astype(other), X.tolist(), np.ones((2, 6), dtype)[:, ::2],
                      np.ones((0, 3), dtype), np.ones(3, dtype),
                      np.ones((1, 2, 3), dtype), X.view(np.matrix), X.astype(d.newbyteorder())):
        assert ready_matrix_state(candidate, d, 3) == NEEDS_CONVERSION
    assert ready_matrix_state(np.asfortranarray(np.ones((3, 3), dtype)), d, 3) == NEEDS_CONVERSION
    assert ready_matrix_state(X, d, 4) == NEEDS_CONVERSION


@pytest.mark.parametrize("name, low, high", [("gelu", -40, 40), ("softplus", -80, 80),
                                             ("elu", -60, 5)])
@pytest.mark.parametrize("dtype, tol", [(np.float32, 3e-5), (np.float64, 1e-14)])
def test_vectorised_special_functions_over_the_whole_range(name, low, high, dtype, tol):
    # (float32: the far left tail of gelu, values near 1e-31, carries exp's relative
    # error at arguments near -70; elsewhere within a few float roundings)
    # fastspecial.h's erf, log1p and expm1 (branch-free, vectorised) against numpy/scipy
    u = np.linspace(low, high, 40001).astype(dtype)[None, :]
    got = u.copy()
    bias_activation_memview(got, np.zeros(u.shape[1], dtype), ACTIVATION_CODES[name])
    expected = REFERENCE[name](u.astype(np.float64))
    # (below the smallest normal number the fast exp clamps instead of going to 0)
    np.testing.assert_allclose(got, expected, rtol=tol,
                               atol=1e-300 if dtype == np.float64 else 1e-36)
