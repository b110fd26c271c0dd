#!/usr/bin/env bash
# Set up a fresh machine (data, virtual environment, cymlp with its command-line extras)
# and run the main job: train 784-200-100-10 on Fashion-MNIST and report.
# Extra arguments go to `cymlp train` (see `cymlp train --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=cli . scripts/setup_env.sh
cymlp train "$@"
