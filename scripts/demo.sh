#!/usr/bin/env bash
# The README's first command: set up (idempotent), then run the demo.
#   bash scripts/demo.sh [robot-r1 demo options, e.g. --cycles 4 --seed 3]
# Sim + reasoning + executor on the pick-and-place task with the best checkpoint the project has;
# prints each prediction and a summary, writes outputs/demo-<timestamp>/ (episode.gif,
# contact_sheet.png, summary.json, logs/). Exit code: non-zero only if the pipeline failed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash scripts/setup.sh
# shellcheck disable=SC1091
set +u; source scripts/env.sh; set -u
# `python -m` (not the robot-r1 console script): setup.sh does not pip-install the package.
exec python -m robot_r1_ros.cli demo "$@"
