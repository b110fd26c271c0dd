# Sourced by the scripts beside it: makes a fresh machine ready to run cymlp.
#  - Fashion-MNIST from Debian's dataset-fashion-mnist when apt-get is there and we are
#    root (otherwise cymlp downloads and verifies it into ~/.cache/cymlp on first use);
#  - a virtual environment in .venv with cymlp built from this checkout and EXTRAS
#    (rebuilt only when a source or build file, or EXTRAS, changed since the last time).
# Variables: PYTHON (default python3), EXTRAS (default: the test tools and every optional
# extra, whose tests skip where it is absent), VENV (default .venv).
set -euo pipefail
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-test,onnx,skops,distributed,ray,docs,parquet}
VENV=${VENV:-.venv}

if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's dataset-fashion-mnist"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "== creating the virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
# rebuild only when the sources, the build files or the extras changed since the last install
STAMP="$VENV/.cymlp-installed"
SOURCE_HASH=$( { echo "$EXTRAS"; find src include setup.py pyproject.toml MANIFEST.in -type f \
    ! -name '*.c' ! -name '*.so' ! -path '*/__pycache__/*' ! -path '*.egg-info/*' -print0 | sort -z | xargs -0 sha256sum; } \
    | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$SOURCE_HASH" ]; then
    echo "== cymlp[$EXTRAS] is installed from these sources already"
else
    echo "== building and installing cymlp[$EXTRAS]"
    rm -f "$STAMP"
    python -m pip install -q --upgrade pip
    python -m pip install -q ".[$EXTRAS]"
    echo "$SOURCE_HASH" > "$STAMP"
fi
