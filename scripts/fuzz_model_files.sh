#!/usr/bin/env bash
# The model-file fuzzer (tests/test_model_fuzz.py) at length: N examples (default 3000)
# of each kind of damage (byte flips, truncation, header mutations and member-size lies
# with recomputed checksums), against the cymlp installed in .venv (scripts/setup_env.sh).
# Prints hypothesis's statistics: cases run, and how many were refused or loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-3000}
. scripts/setup_env.sh
echo "== model-file fuzzer: $EXAMPLES examples per kind of damage"
CYMLP_FUZZ_EXAMPLES=$EXAMPLES python -m pytest -q -p no:cacheprovider \
    --hypothesis-show-statistics tests/test_model_fuzz.py
