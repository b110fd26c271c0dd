#!/usr/bin/env bash
# Memory-safety run: build cymlp's extensions with AddressSanitizer (and UBSan), install
# into a separate virtual environment, and run the tests that drive the compiled code
# (kernels, BLAS wrappers, gradients, network, robustness, model files, the thread pool
# and the split epochs) with libasan preloaded into the ordinary Python.  Any
# out-of-bounds access, use-after-free or undefined behaviour in our code aborts the run.
# Leak detection is off: CPython itself keeps allocations alive at exit; leaks are
# covered by tests/test_robustness.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-asan}
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
echo "== building with -fsanitize=address,undefined"
CYMLP_SANITIZE=address,undefined "$VENV/bin/python" -m pip install -q --no-cache-dir ".[test]"
LIBASAN=$(gcc -print-file-name=libasan.so)
LIBUBSAN=$(gcc -print-file-name=libubsan.so)
echo "== tests under AddressSanitizer ($LIBASAN)"
LD_PRELOAD="$LIBASAN $LIBUBSAN" \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
    tests/test_kernels.py tests/test_blas.py tests/test_grad.py tests/test_network.py \
    tests/test_robustness.py tests/test_model_io.py tests/test_estimators.py \
    tests/test_parallel.py
