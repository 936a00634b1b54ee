#!/usr/bin/env bash
# One set-up path for users, tests and CI: creates .venv in the repo, installs the pinned
# requirements (ROS 2 Kilted wheels, CPU torch + ML stack, MuJoCo), patches the ROS wheels'
# CMake exports, builds the package with colcon and builds the default model checkpoint.
# Idempotent: a second run only checks stamps and re-runs the (incremental) colcon build.
# ROBOT_R1_ROS_DISTRO=jazzy sets up a second environment from the Jazzy wheels instead
# (.venv-jazzy, build-jazzy/, install-jazzy/; `ROBOT_R1_ROS_DISTRO=jazzy source scripts/env.sh`).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PYTHON="${PYTHON:-python3}"
say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# --- platform checks -------------------------------------------------------------------------
[ "$(uname -m)" = x86_64 ] || die "ROS 2 wheels exist for x86_64 only (this is $(uname -m))."
command -v "$PYTHON" >/dev/null || die "no '$PYTHON' on PATH; install Python 3.10-3.14."
pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
case "$pyver" in
  3.10|3.11|3.12|3.13|3.14) ;;
  *) die "Python $pyver is not supported: the ROS 2 wheels exist for 3.10-3.14 (set PYTHON=...)." ;;
esac
for tool in cmake gcc g++ git; do
  command -v "$tool" >/dev/null || die "missing system tool '$tool' (Debian: apt-get install cmake build-essential git)."
done
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || die "Python lacks venv/ensurepip (Debian: apt-get install python3-venv)."

# --- virtual environment + pinned requirements ------------------------------------------------
case "${ROBOT_R1_ROS_DISTRO:-kilted}" in
  kilted) VENV=.venv ROS_REQ=requirements/ros.txt SUFFIX='' ;;
  jazzy) VENV=.venv-jazzy ROS_REQ=requirements/ros-jazzy.txt SUFFIX=-jazzy ;;
  *) die "ROBOT_R1_ROS_DISTRO must be kilted or jazzy, not '$ROBOT_R1_ROS_DISTRO'" ;;
esac
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with Python $pyver"
  "$PYTHON" -m venv "$VENV"
fi
VPY="$REPO/$VENV/bin/python"
stamp="$VENV/.robot_r1_requirements.sha256"
want="$(cat requirements/ml.txt "$ROS_REQ" requirements/sim.txt requirements/test.txt \
        scripts/setup.sh setup.py | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  t0=$SECONDS
  say "installing requirements (first run: a few minutes)"
  # (Some machines' pip configs name local indexes that may be absent: drop those warnings.)
  pipq() { "$VPY" -m pip install -q "$@" 2>&1 | sed '/WARNING: Location .* is ignored/d'; }
  pipq --upgrade pip
  # torch pinned in ml.txt (listed first), so nothing can pull a CUDA build.
  pipq -r requirements/ml.txt -r "$ROS_REQ" -r requirements/sim.txt -r requirements/test.txt
  # Only the Panda MJCF + meshes of this wheel are used; its own dependencies are not wanted.
  pipq --no-deps dm-robotics-panda==0.4.8
  "$VPY" scripts/fix_ros_wheel_cmake.py
  # The pure-Python part, editable, for the `robot-r1` console script (the colcon overlay adds
  # the generated interfaces; robot_r1_ros/__init__.py joins the two).
  pipq --no-deps -e .
  echo "$want" > "$stamp"
  say "requirements installed in $((SECONDS - t0)) s"
else
  say "requirements up to date"
fi

# --- build the package (messages, python, executables) ----------------------------------------
export VIRTUAL_ENV="$REPO/$VENV" PATH="$REPO/$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV" CMAKE_PREFIX_PATH="$VIRTUAL_ENV"
mkdir -p log
t0=$SECONDS
colcon --log-base "log/colcon$SUFFIX" build --symlink-install --event-handlers console_cohesion- \
  --build-base "build$SUFFIX" --install-base "install$SUFFIX" \
  --cmake-args -DBUILD_TESTING="${ROBOT_R1_BUILD_TESTING:-OFF}" -DPython3_EXECUTABLE="$VPY" \
  >"log/colcon_build$SUFFIX.out" 2>&1 \
  || { tail -n 40 "log/colcon_build$SUFFIX.out" >&2; die "colcon build failed (full log: log/colcon_build$SUFFIX.out)"; }
say "colcon build done in $((SECONDS - t0)) s"

# --- default model: the project's checkpoint (never a download) -------------------------------
if [ -f robot_r1_ros/model/build_tiny.py ]; then
  # shellcheck disable=SC1091
  set +u; source scripts/env.sh; set -u
  "$VPY" -m robot_r1_ros.model.build_tiny --if-missing
fi
say "ready: 'source scripts/env.sh' gives a shell with ROS 2 and the package"
