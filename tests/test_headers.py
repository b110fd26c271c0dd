"""Our C headers compile with every warning on, as C99 and as C++, and warnings are errors
(the build itself silences some warnings that only Cython's generated code triggers)."""
import shutil
import subprocess
from pathlib import Path

import pytest

INCLUDE = Path(__file__).resolve().parent.parent / "include"
USE_EVERY_KERNEL = r"""
#include "cymlp/kernels.h"
#include "cymlp/sync.h"
long long use_sync(long long *word) {
    cymlp_atomic_store(word, 1);
    if (cymlp_atomic_cas(word, 1, 2))
        (void)cymlp_atomic_fetch_add(word, 1);
    cymlp_cpu_pause();
    cymlp_thread_yield();
    return cymlp_atomic_exchange(word, 0) + cymlp_atomic_load(word);
}
#define USE(S, T) \
    void use_##S(T *a, T *b, T *c, T *d, const cymlp_index *idx, const int32_t *idx32, \
                 cymlp_index n) { \
        cymlp_bias_activation_##S(a, b, n, n, CYMLP_TANH, NULL); \
        cymlp_bias_activation_##S(a, b, n, n, CYMLP_GELU, c); \
        cymlp_activation_derivative_##S(a, b, NULL, n, CYMLP_RELU); \
        cymlp_activation_derivative_##S(a, b, c, n, CYMLP_SILU); \
        (void)cymlp_keeps_input(CYMLP_SOFTPLUS); \
        cymlp_dropout_##S(a, b, n, n, n, cymlp_mix32(7u), 0, 0, n, UINT32_C(1) << 30, (T)2); \
        cymlp_dropout_##S(b, b, n, n, n, 7u, 1, 2, n, UINT32_C(1) << 31, (T)2); \
        cymlp_add_column_sums_##S(a, b, n, n, n); \
        cymlp_gather_rows_##S(a, b, idx, n, n); \
        { cymlp_output out = {CYMLP_SOFTMAX, 0.0, idx, 2}; \
          cymlp_output pinball = {CYMLP_QUANTILE_OUTPUT, 0.9, NULL, 0}; \
          (void)cymlp_output_error_##S(a, b, c, d, 1, d, n, n, &out); \
          (void)cymlp_output_error_##S(a, b, c, d, 1, d, n, n, &pinball); \
          cymlp_output_activation_##S(a, b, n, n, &out); } \
        cymlp_sgd_update_##S(a, b, NULL, c, n, 0, 1, 0, 1); \
        cymlp_sgd_update_##S(a, b, b, c, n, 0, 1, 0, 0); \
        cymlp_adam_update_##S(a, b, NULL, c, d, n, 0, 1, 0, 0, 1, 0); \
        cymlp_adam_update_##S(a, b, b, c, d, n, 0, 1, 0, 0, 1, (T)0.01); \
        cymlp_add_scaled_##S(a, b, n, 1); \
        cymlp_row_product_##S(a, b, n, n, n, c); \
        cymlp_csr_matmul_##S(a, idx, idx, idx, 0, n, b, n, n, c, n); \
        cymlp_csr_matmul_##S(a, idx, idx, NULL, 1, n, b, n, n, c, n); \
        cymlp_csr_grad_##S(a, idx, idx, idx, 0, n, b, n, 0, n, c, n); \
        cymlp_csr_matmul_i32_##S(a, idx32, idx, idx, 0, n, b, n, n, c, n); \
        cymlp_csr_grad_i32_##S(a, idx32, idx, NULL, 2, n, b, n, 0, n, c, n); \
        (void)cymlp_all_finite_##S(d, n); \
    }
USE(f, float)
USE(d, double)
"""


@pytest.mark.skipif(shutil.which("gcc") is None or not INCLUDE.is_dir(),
                    reason="needs gcc and the source tree's include/")
@pytest.mark.parametrize("language, std", [("c", "-std=c99"), ("c++", "-std=c++17")])
def test_headers_compile_without_warnings(tmp_path, language, std):
    source = tmp_path / ("use.c" if language == "c" else "use.cpp")
    source.write_text(USE_EVERY_KERNEL)
    compiler = "gcc" if language == "c" else "g++"
    if shutil.which(compiler) is None:
        pytest.skip("no " + compiler)
    extra = ["-Drestrict=__restrict"] if language == "c++" else []
    result = subprocess.run([compiler, std, "-O2", "-Wall", "-Wextra", "-Wpedantic",
                             "-Wshadow", "-Wconversion", "-Werror", *extra, "-I", str(INCLUDE),
                             "-c", str(source), "-o", str(tmp_path / "use.o")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
