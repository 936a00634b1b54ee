#!/usr/bin/env bash
# The test command (README, CI): set up (idempotent), build, then run the whole suite once with
# pytest. Extra arguments go to pytest (e.g. `bash scripts/test.sh test/core -k parsing`).
#
# With CI=true and no arguments (`.ci/run`) it runs the design card's CI form instead:
#   1. Jazzy: a second environment from the Jazzy wheels (ROBOT_R1_ROS_DISTRO=jazzy) builds the
#      package and runs the ROS tests and the launch/CLI tests with the jazzy tools
#      (ROBOT_R1_JAZZY=0 skips this step);
#   2. Kilted: the whole suite through `colcon test --return-code-on-test-failure` (the
#      package's ament_add_pytest_test) and `colcon test-result --verbose`, the suite's pytest
#      summary line re-printed last (ROBOT_R1_COLCON_TEST=0: plain pytest instead).
#   The exit status is non-zero if any step failed.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
ci_form=0
if [ "${CI:-}" = true ] && [ $# -eq 0 ]; then
  ci_form=1
  export ROBOT_R1_BUILD_TESTING=ON   # the ament_add_pytest_test that colcon test runs
fi
bash scripts/setup.sh
# A fresh domain per run so concurrent runs on one machine never see each other.
export ROS_DOMAIN_ID=$(( (RANDOM % 90) + 10 ))
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
if [ "$ci_form" = 0 ]; then
  # shellcheck disable=SC1091
  source scripts/env.sh
  exec python -m pytest "${@:-test}"
fi

# The ROS tests for the second distribution: everything that talks ROS 2 or runs ros2 tools.
JAZZY_TESTS=(test/ros test/test_interfaces.py test/sim/test_sim_node.py)
rc=0
if [ "${ROBOT_R1_JAZZY:-1}" != 0 ]; then
  t0=$SECONDS
  echo "[test] Jazzy: set-up, build and ${JAZZY_TESTS[*]}"
  ROBOT_R1_ROS_DISTRO=jazzy ROBOT_R1_BUILD_TESTING=OFF bash scripts/setup.sh || rc=1
  if [ "$rc" = 0 ]; then
    # Before the Kilted environment is sourced: its overlay on PYTHONPATH/LD_LIBRARY_PATH would
    # shadow the Jazzy build's interfaces.
    ( export ROBOT_R1_ROS_DISTRO=jazzy
      set +u; source scripts/env.sh; set -u
      exec python -m pytest -p no:cacheprovider "${JAZZY_TESTS[@]}" ) || rc=1
  fi
  echo "[test] Jazzy done in $((SECONDS - t0)) s (rc $rc)"
fi

# shellcheck disable=SC1091
source scripts/env.sh
t0=$SECONDS
if [ "${ROBOT_R1_COLCON_TEST:-1}" = 0 ]; then
  # The whole suite with plain pytest (its summary line closes the output).
  echo "[test] Kilted: the whole suite"
  set +e
  python -m pytest test
  test_rc=$?
  set -e
  echo "[test] Kilted done in $((SECONDS - t0)) s (rc $test_rc); Jazzy rc $rc"
  [ "$test_rc" = 0 ] && [ "$rc" = 0 ] && exit 0
  exit 1
fi
echo "[test] Kilted: colcon test (the whole suite)"
log=log/colcon_test.out
set +e
colcon --log-base log/colcon test --event-handlers console_direct+ \
  --return-code-on-test-failure 2>&1 | tee "$log"
test_rc=${PIPESTATUS[0]}
colcon test-result --verbose
set -e
[ "$test_rc" = 0 ] || rc=1
echo "[test] Kilted done in $((SECONDS - t0)) s (rc $test_rc)"
# The suite's pytest summary closes the output (the line colcon test printed above).
# (ctest prefixes each line of the test's output with its number: "1: ")
summary="$(grep -E '^([0-9]+: )?=+ .*(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$log" \
           | tail -n 1 | sed -E 's/^[0-9]+: //')"
if [ -z "$summary" ]; then
  echo "[test] no pytest summary in the colcon test output" >&2
  exit 1
fi
echo "$summary"
exit "$rc"
