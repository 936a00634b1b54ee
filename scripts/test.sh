#!/usr/bin/env bash
# The test command (README, CI): set up (idempotent), build, then run the whole suite once with
# pytest. Extra arguments go to pytest (e.g. `bash scripts/test.sh test/core -k parsing`).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
# shellcheck disable=SC1091
source scripts/env.sh
# A fresh domain per run so concurrent runs on one machine never see each other.
export ROS_DOMAIN_ID=$(( (RANDOM % 90) + 10 ))
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
exec python -m pytest "${@:-test}"
