#!/usr/bin/env bash
# Memory- and thread-safety runs of cymlp's compiled code, each in its own virtual
# environment with the sanitizer runtime preloaded into the ordinary Python:
#
#   bash scripts/check_sanitizers.sh address   # AddressSanitizer + UBSan (default)
#   bash scripts/check_sanitizers.sh thread    # ThreadSanitizer
#   bash scripts/check_sanitizers.sh all       # both
#
# address: the tests that drive the compiled code (kernels, BLAS wrappers, gradients,
# network, robustness, engine bounds, model files, estimators, the thread pool, the
# split epochs, the sparse kernels, dropout, the activations, AdamW and the schedules);
# any out-of-bounds access, use-after-free or undefined behaviour in our code aborts
# the run.  Leak detection is off: CPython itself keeps allocations alive
# at exit; leaks are covered by tests/test_robustness.py.
#
# thread: the pool (lock-free chunk claiming, sleep/wake), the row- and column-split
# epochs (dropout's masks in both included), small and large predictions from many
# threads.  Python, numpy and OpenBLAS
# are not instrumented: only our code's memory accesses are checked, while TSan's
# interceptors still see every lock.  OpenBLAS's worker threads synchronise through
# their own spin flags, invisible to TSan, so reports from interceptors called inside
# OpenBLAS are suppressed (scripts/tsan.supp); nothing of ours is.  Before the run, a
# deliberately racy C program proves that this toolchain's TSan reports races, and
# the installed modules are checked to be instrumented.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
MODE=${1:-address}

build() {  # $1: venv, $2: sanitizers
    "$PYTHON" -m venv "$1"
    "$1/bin/python" -m pip install -q --upgrade pip
    echo "== building with -fsanitize=$2 into $1"
    CYMLP_SANITIZE=$2 "$1/bin/python" -m pip install -q --no-cache-dir ".[test]"
}

run_address() {
    local venv=${VENV_ASAN:-.venv-asan}
    build "$venv" address,undefined
    local libasan libubsan
    libasan=$(gcc -print-file-name=libasan.so)
    libubsan=$(gcc -print-file-name=libubsan.so)
    echo "== tests under AddressSanitizer ($libasan)"
    LD_PRELOAD="$libasan $libubsan" \
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1 \
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        tests/test_kernels.py tests/test_blas.py tests/test_grad.py tests/test_network.py \
        tests/test_robustness.py tests/test_engine_bounds.py tests/test_model_io.py \
        tests/test_estimators.py tests/test_parallel.py tests/test_sparse.py \
        tests/test_dropout.py tests/test_activations.py tests/test_schedules_and_adamw.py \
        tests/test_group_epoch.py
}

run_thread() {
    local venv=${VENV_TSAN:-.venv-tsan}
    local libtsan logs
    libtsan=$(gcc -print-file-name=libtsan.so)
    logs=$(mktemp -d)
    echo "== positive control: TSan must report a known race"
    printf '%s\n' '#include <pthread.h>' 'static long shared;' \
        'static void *bump(void *p) { (void)p; for (int i = 0; i < 100000; i++) shared++; return 0; }' \
        'int main(void) { pthread_t a, b; pthread_create(&a, 0, bump, 0); pthread_create(&b, 0, bump, 0);' \
        '  pthread_join(a, 0); pthread_join(b, 0); return shared == 0; }' > "$logs/race.c"
    gcc -fsanitize=thread -g -O1 "$logs/race.c" -o "$logs/race" -lpthread
    if TSAN_OPTIONS=exitcode=66 "$logs/race" 2> "$logs/race.txt"; then
        echo "ThreadSanitizer did not report the control race"; exit 1
    fi
    grep -q "WARNING: ThreadSanitizer: data race" "$logs/race.txt"
    build "$venv" thread
    local site
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')/cymlp
    for module in _pool _engine; do
        # grep reads all of nm's output (with -q, nm could die of SIGPIPE under pipefail)
        if ! nm -D "$site"/$module.*.so | grep __tsan_ > /dev/null; then
            echo "$module is not built with ThreadSanitizer"; exit 1
        fi
    done
    echo "== tests under ThreadSanitizer ($libtsan)"
    local status=0
    LD_PRELOAD="$libtsan" \
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 log_path=$logs/tsan suppressions=$(pwd)/scripts/tsan.supp" \
        "$venv/bin/python" -m pytest -q -p no:cacheprovider \
        tests/test_parallel.py tests/test_network.py tests/test_robustness.py \
        tests/test_engine_bounds.py tests/test_sparse.py tests/test_dropout.py \
        tests/test_group_epoch.py || status=$?
    if ls "$logs"/tsan.* >/dev/null 2>&1; then
        cat "$logs"/tsan.*
        echo "ThreadSanitizer reported the above"; exit 1
    fi
    rm -rf "$logs"
    return $status
}

case "$MODE" in
    address) run_address ;;
    thread) run_thread ;;
    all) run_address; run_thread ;;
    *) echo "usage: $0 [address|thread|all]"; exit 2 ;;
esac
