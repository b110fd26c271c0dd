"""The row-major BLAS wrappers agree with numpy."""
import numpy as np
import pytest

from cymlp._blas import compile_flags, dot_memview, gemm_memview


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_numpy(dtype, rtol, trans_a, trans_b):
    rng = np.random.default_rng(0)
    m, n, k = 7, 5, 3
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    expected = 2.0 * (A.T if trans_a else A) @ (B.T if trans_b else B) + 0.5 * C
    gemm_memview(trans_a, trans_b, 2.0, A, B, 0.5, C)
    np.testing.assert_allclose(C, expected, rtol=rtol, atol=rtol)


def test_gemm_rejects_mismatched_shapes():
    A = np.ones((2, 3))
    with pytest.raises(ValueError, match="shapes"):
        gemm_memview(False, False, 1.0, A, np.ones((4, 2)), 0.0, np.zeros((2, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dot_matches_numpy(dtype):
    x = np.arange(10, dtype=dtype)
    assert dot_memview(x, x) == pytest.approx(float(x @ x))


def test_compile_flags_are_portable():
    flags = compile_flags()
    assert "-O" in flags or "/O" in flags
    assert "-march=native" not in flags or __import__("os").environ.get("CYMLP_NATIVE") == "1"
