#!/usr/bin/env bash
# Build the documentation site into docs/_build/html (entry page: index.html), with
# every warning an error: the API reference from the docstrings (numpydoc, autosummary),
# the pages in docs/ (the manual), the example gallery (each
# examples/plot_*.py run), from scratch.  Sets up .venv first (scripts/setup_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup_env.sh
rm -rf docs/_build docs/generated docs/auto_examples docs/sg_execution_times.rst
echo "== documentation: sphinx-build -W (warnings are errors)"
MPLBACKEND=Agg python -m sphinx -E -W --keep-going -q -b html docs docs/_build/html
echo "documentation built: docs/_build/html/index.html"
