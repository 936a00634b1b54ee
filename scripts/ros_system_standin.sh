#!/usr/bin/env bash
# Builds a stand-in for a system ROS 2 install (`/opt/ros/<distro>`) from the PyPI wheels, so a
# test can follow the README's "full ROS 2 install" section literally on a machine without one.
# Test tooling: a user with a real ROS 2 install needs none of this.
#
#   bash scripts/ros_system_standin.sh [--distro kilted|jazzy]
#       builds or reuses the stand-in and prints its prefix (one line) on stdout; progress on
#       stderr. `source <prefix>/setup.bash` then does what `source /opt/ros/<distro>/setup.bash`
#       does: ROS_DISTRO, PATH (colcon, ros2), PYTHONPATH (rclpy, the message packages, launch,
#       ros2cli), LD_LIBRARY_PATH, AMENT_PREFIX_PATH and CMAKE_PREFIX_PATH. No venv is activated.
#
# What it holds, and nothing more (so that a test shows the README's own pip lines are complete):
# - a venv with the ROS 2 wheels of requirements/ros.txt (kilted) or requirements/ros-jazzy.txt
#   (jazzy), colcon, and the pure-Python dependencies of the ROS tools that a system install
#   brings as apt packages (pins from requirements/test.txt); the wheels' CMake exports patched
#   as scripts/setup.sh does (scripts/fix_ros_wheel_cmake.py). No torch, transformers or MuJoCo.
# - the real launch, launch_ros, ros2cli, control_msgs and franka_msgs, built from the vendored
#   source by scripts/ros2_tools_overlay.sh (its own cache, keyed by the sources' hash).
# - PYTHONPATH: site/, the venv's site-packages without pip/setuptools/wheel (a system install
#   puts no pip on the user's PYTHONPATH; the venv keeps them for colcon builds); PATH: bin/
#   (colcon only) and the tools.
# Cache: ${ROBOT_R1_ROS_STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robot_r1_ros/ros_standin}/
#   <distro>-<sha256 of (interpreter version and prefix, requirement pins, fix_ros_wheel_cmake.py, this script)>.
# Environment: PYTHON (default python3: the interpreter the user's venv will use),
#   ROBOT_R1_ROS2_TOOLS_SRC (see scripts/ros2_tools_overlay.sh).
# Exit codes: 0 ok, 2 usage error, 3 vendored source absent, 1 build failure.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { printf '[ros-standin] %s\n' "$*" >&2; }
die() { local code=$1; shift; printf '[ros-standin] error: %s\n' "$*" >&2; exit "$code"; }

distro=kilted
while [ $# -gt 0 ]; do
  case "$1" in
    --distro) distro="${2:?--distro needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) die 2 "unknown option '$1' (see --help)" ;;
  esac
done
case "$distro" in
  kilted) ros_req="$REPO/requirements/ros.txt" tools_distro=rolling ;;
  jazzy) ros_req="$REPO/requirements/ros-jazzy.txt" tools_distro=jazzy ;;
  *) die 2 "--distro must be kilted or jazzy, not '$distro'" ;;
esac
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || die 2 "no '$PYTHON' on PATH"
pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
pyid="$("$PYTHON" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)')"
# The ROS tools' pure-Python dependencies (apt packages on a system install), as test.txt pins them.
tool_reqs="$(grep -E '^(osrf-pycommon|importlib-metadata|argcomplete|packaging|pyyaml|psutil)==' \
             "$REPO/requirements/test.txt" "$REPO/requirements/ros.txt" | sed 's/^[^:]*://; s/[[:space:]].*//' | sort -u)"

key="$({ echo "$distro python=$pyid"; grep -vE '^\s*(#|$)' "$ros_req"; echo "$tool_reqs"
         cat "$REPO/scripts/fix_ros_wheel_cmake.py" "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)"
cache="${ROBOT_R1_ROS_STANDIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robot_r1_ros/ros_standin}"
prefix="$cache/$distro-$key"
mkdir -p "$cache"
exec 9>"$prefix.lock"
flock 9

if [ -f "$prefix/.robot_r1_complete" ]; then
  say "cached $distro stand-in: $prefix"
else
  t0=$SECONDS
  rm -rf "$prefix"
  say "building the $distro stand-in (ROS wheels + colcon + tool dependencies) in $prefix"
  "$PYTHON" -m venv "$prefix/venv"
  vpy="$prefix/venv/bin/python"
  # shellcheck disable=SC2086
  "$vpy" -m pip install -q -r "$ros_req" $tool_reqs 2>&1 \
    | sed '/WARNING: Location .* is ignored/d' >&2 || true
  "$vpy" -c 'import rclpy, colcon_core' || die 1 "pip install of $ros_req failed"
  "$vpy" "$REPO/scripts/fix_ros_wheel_cmake.py" >&2
  # What PYTHONPATH exposes must not carry a pip: the user's `pip install` would run it. (A
  # system install puts only ROS packages there; its dependencies are apt packages.) The venv
  # keeps them: the tools overlay below builds with it (ament_python needs setuptools), also
  # when its own cache is rebuilt later; PYTHONPATH gets a view of site-packages without them.
  mkdir -p "$prefix/site"
  for e in "$prefix/venv/lib/python$pyver/site-packages"/*; do
    case "$(basename "$e")" in
      pip|pip-*|setuptools|setuptools-*|wheel|wheel-*|pkg_resources|_distutils_hack|*.pth) ;;
      *) ln -s "$e" "$prefix/site/" ;;
    esac
  done
  mkdir -p "$prefix/bin"
  ln -s ../venv/bin/colcon "$prefix/bin/colcon"
  touch "$prefix/.robot_r1_complete"
  say "built in $((SECONDS - t0)) s"
fi

# The tools overlay (cached by scripts/ros2_tools_overlay.sh, keyed by the vendored sources).
rc=0
overlay="$(VIRTUAL_ENV="$prefix/venv" bash "$REPO/scripts/ros2_tools_overlay.sh" \
           --distro "$tools_distro" --with 'control_msgs franka_msgs')" || rc=$?
[ "$rc" = 0 ] || exit "$rc"

site_rel="lib/python$pyver/site-packages"
# /opt/ros/<distro>/lib holds every ROS library; the wheels keep theirs in venv/lib and in
# site-packages/ros_*.libs, which their ros_wheels_bootstrapper.pth adds to LD_LIBRARY_PATH by
# re-executing the venv's own python. A .pth is not read from PYTHONPATH: set it here instead.
ld_dirs="\$_standin/venv/lib"
for d in "$prefix/venv/$site_rel"/ros_*.libs; do
  [ -d "$d" ] && ld_dirs="$ld_dirs:\$_standin/venv/$site_rel/$(basename "$d")"
done
cat > "$prefix/setup.bash.tmp" <<EOF
# generated by scripts/ros_system_standin.sh: stands in for /opt/ros/$distro/setup.bash
_standin="$prefix"
export ROS_DISTRO=$distro ROS_VERSION=2 ROS_PYTHON_VERSION=3
export PATH="\$_standin/bin\${PATH:+:\$PATH}"
export PYTHONPATH="\$_standin/site\${PYTHONPATH:+:\$PYTHONPATH}"
export LD_LIBRARY_PATH="$ld_dirs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export AMENT_PREFIX_PATH="\$_standin/venv\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="\$_standin/venv\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}"
unset _standin
# the real launch / ros2cli / control_msgs / franka_msgs
source "$overlay/setup.bash"
EOF
mv "$prefix/setup.bash.tmp" "$prefix/setup.bash"
printf '%s\n' "$prefix"
