#!/usr/bin/env bash
# Set up a fresh machine (data, virtual environment, cymlp with its test extras) and run
# the test suite against the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test . scripts/setup_env.sh
python -m pytest -q "$@"
