#!/usr/bin/env bash
# Set up a fresh machine (data, virtual environment, cymlp with its test extras and every
# optional extra, whose tests skip where the extra is absent) and run the test suite
# against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_env.sh
python -m pytest -q "$@"
