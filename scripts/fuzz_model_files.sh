#!/usr/bin/env bash
# The model-file fuzzer (tests/test_model_fuzz.py) at length: N examples (default 3000)
# of each kind of damage (byte flips, truncation, header mutations and member-size lies
# with recomputed checksums), against the cymlp installed in .venv (scripts/setup_env.sh).
# Prints hypothesis's statistics and the count of cases run, refused and loaded (the
# pytest run fails on any other outcome).
set -euo pipefail
cd "$(dirname "$0")/.."
EXAMPLES=${1:-3000}
. scripts/setup_env.sh
echo "== model-file fuzzer: $EXAMPLES examples per kind of damage"
REPORT=$(mktemp)
CYMLP_FUZZ_EXAMPLES=$EXAMPLES CYMLP_FUZZ_REPORT=$REPORT python -m pytest -q -p no:cacheprovider \
    --hypothesis-show-statistics tests/test_model_fuzz.py
python - "$REPORT" <<'PY'
import json, sys
counts = json.load(open(sys.argv[1]))
total = counts.get("refused", 0) + counts.get("loaded", 0)
print("model-file fuzzer: %d cases run, %d refused with ModelFileError, %d loaded and "
      "predicted finite values, 0 failures" % (total, counts.get("refused", 0),
                                             counts.get("loaded", 0)))
PY
rm -f "$REPORT"
