#!/usr/bin/env bash
# Builds the upstream ROS 2 tools (launch, launch_ros, ros2cli: `ros2 launch/topic/param/action/
# lifecycle/...`, rosidl_runtime_py, composition_interfaces) and, on request, interface packages
# (control_msgs, franka_msgs) from vendored source into a colcon overlay cached OUTSIDE the clone.
# Test tooling for machines where ROS 2 comes from PyPI wheels (which lack these packages); a
# system ROS 2 install already has all of it and needs none of this.
#
# Interface (stable; tests and other scripts rely on it):
#   bash scripts/ros2_tools_overlay.sh [options]      builds or reuses the overlay and prints its
#                                                     prefix (one line) on stdout; progress on stderr
#   source scripts/ros2_tools_overlay.sh [options]    the same, then sources <prefix>/setup.bash in
#                                                     the calling shell and exports
#                                                     ROBOT_R1_ROS2_TOOLS_OVERLAY=<prefix>
# Options:
#   --distro rolling|jazzy   vendored source set; default: from the venv's ros-rclpy version
#                            (9.x Kilted -> rolling, 7.x Jazzy -> jazzy)
#   --with 'PKG ...'         add packages to the default tool set, e.g. --with 'control_msgs franka_msgs'
#                            (commas or spaces); control_msgs takes ~7 min on 2 cores, so only the
#                            tests that need it should ask for it
#   --packages 'PKG ...'     build exactly these packages (plus what they depend on in the vendored
#                            set) instead of the default tool set, e.g. --packages control_msgs
#   --list                   print the packages the selection resolves to, build nothing
# Environment:
#   ROBOT_R1_ROS2_TOOLS_SRC    folder holding rolling/ and jazzy/ (default: <repo>/../shared/vendor/ros2)
#   ROBOT_R1_ROS2_TOOLS_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/robot_r1_ros/ros2_tools)
#   VIRTUAL_ENV                the Python environment (ROS wheels) to build for; default <repo>/.venv
# The overlay is one merged colcon install prefix:
#   <cache>/<distro>-<sha256 of (selected sources, python version, ros-* wheel versions, the
#   build recipe's RECIPE_ID)>. A finished overlay holds .robot_r1_complete; concurrent callers wait on a lock.
# Exit codes: 0 ok, 2 usage error, 3 vendored source absent, 1 build failure (log path printed).
# Needs the venv to hold the tools' pure-Python dependencies (requirements/test.txt:
# osrf-pycommon, importlib-metadata, argcomplete, lark, packaging, psutil) and colcon.

_r1_tools_main() {
  set -euo pipefail
  local repo; repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local say_prefix='[ros2-tools]'
  say() { printf '%s %s\n' "$say_prefix" "$*" >&2; }
  die() { local code=$1; shift; printf '%s error: %s\n' "$say_prefix" "$*" >&2; exit "$code"; }

  local distro='' with='' packages='' list_only=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --distro) distro="${2:?--distro needs a value}"; shift 2 ;;
      --with) with="${with} ${2:?--with needs a value}"; shift 2 ;;
      --packages) packages="${packages} ${2:?--packages needs a value}"; shift 2 ;;
      --list) list_only=1; shift ;;
      -h|--help) sed -n '2,31p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
      *) die 2 "unknown option '$1' (see --help)" ;;
    esac
  done
  with="${with//,/ }"; packages="${packages//,/ }"

  local venv="${VIRTUAL_ENV:-$repo/.venv}"
  local py="$venv/bin/python"
  [ -x "$py" ] || die 2 "no Python environment at $venv (run 'bash scripts/setup.sh' or set VIRTUAL_ENV)"
  # Everything that decides binary compatibility: interpreter version and the ROS wheel versions.
  local pyinfo
  pyinfo="$("$py" - <<'EOF'
import importlib.metadata as md, sys
print('python=%d.%d' % sys.version_info[:2])
for d in sorted({(d.metadata['Name'] or '').lower() for d in md.distributions()}):
    if d.startswith('ros-') or d.startswith('colcon-'):
        print(d + '==' + md.version(d))
EOF
)"
  local rclpy_ver; rclpy_ver="$(printf '%s\n' "$pyinfo" | sed -n 's/^ros-rclpy==//p')"
  [ -n "$rclpy_ver" ] || die 2 "ros-rclpy is not installed in $venv"
  if [ -z "$distro" ]; then
    case "$rclpy_ver" in
      7.*) distro=jazzy ;;
      *) distro=rolling ;;
    esac
  fi
  case "$distro" in rolling|jazzy) ;; *) die 2 "--distro must be rolling or jazzy, not '$distro'" ;; esac

  local src_root="${ROBOT_R1_ROS2_TOOLS_SRC:-$repo/../shared/vendor/ros2}"
  local src="$src_root/$distro"
  [ -d "$src" ] || die 3 "no vendored ROS 2 source at $src (set ROBOT_R1_ROS2_TOOLS_SRC to the folder holding rolling/ and jazzy/)"
  src="$(cd "$src" && pwd)"

  local colcon="$venv/bin/colcon"
  [ -x "$colcon" ] || die 2 "colcon is not installed in $venv"
  local tmp; tmp="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT

  # The default selection: every vendored package except the interface sets built on request.
  local all; all="$("$colcon" --log-base /dev/null list --base-paths "$src" --names-only)"
  local selection
  if [ -n "${packages// /}" ]; then
    selection="$packages"
  else
    selection="$(printf '%s\n' "$all" | grep -vxE 'control_msgs|franka_msgs' | tr '\n' ' ') $with"
  fi
  local p
  for p in $selection; do
    # (a here-string, not `printf | grep -q`: under pipefail grep's early exit can SIGPIPE the
    # writer and fail the pipeline although the package is there)
    grep -qx -- "$p" <<< "$all" || die 2 "package '$p' is not in $src (have: $(echo $all))"
  done
  # name -> folder, from one listing
  local listing; listing="$("$colcon" --log-base /dev/null list --base-paths "$src")"
  pkg_dir() { printf '%s\n' "$listing" | awk -v n="$1" '$1 == n {print $2}'; }
  # shellcheck disable=SC2086
  local closure; closure="$("$colcon" --log-base /dev/null list --base-paths "$src" --names-only \
    --packages-up-to $selection | sort)"
  if [ "$list_only" = 1 ]; then printf '%s\n' "$closure"; exit 0; fi

  # Cache key: the selected packages' files, the environment's versions and this recipe.
  # RECIPE_ID names the build recipe (the colcon flags, the install layout, the shebang rewrite):
  # change it with any edit that changes what gets built. (It is the sha256 of this script when
  # the recipe last changed, so overlays cached since then stay valid across edits that do not.)
  local RECIPE_ID=0b4156bb14307a68f39574710dfe4039f71d990abe7845b51d680b4ae1916ea5
  local key
  key="$({
    printf '%s\n' "$pyinfo"
    printf '%s\n' "$RECIPE_ID"
    local pkg_path
    for p in $closure; do
      pkg_path="$(pkg_dir "$p")"
      (cd "$pkg_path" && find . -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sed "s|  \./|  $p/|")
    done
  } | sha256sum | cut -c1-16)"

  local cache="${ROBOT_R1_ROS2_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/robot_r1_ros/ros2_tools}"
  mkdir -p "$cache"
  local label; label="$(printf '%s\n' $closure | { grep -xE 'control_msgs|franka_msgs' || true; } | tr '\n' '+' | sed 's/+$//')"
  local prefix="$cache/$distro${label:+-$label}-$key"
  exec 9>"$prefix.lock"
  flock 9
  if [ -f "$prefix/.robot_r1_complete" ]; then
    say "cached overlay ($distro: $(echo $closure | wc -w) packages): $prefix"
  else
    rm -rf "$prefix"
    say "building $(echo $closure | wc -w) packages from $src into $prefix"
    local log="$cache/$(basename "$prefix").build.log"
    # The vendored folder is read-only: build from a copy.
    mkdir -p "$tmp/src"
    for p in $closure; do
      cp -r "$(pkg_dir "$p")" "$tmp/src/$p"
    done
    local t0=$SECONDS
    # Without BUILD_TESTING=OFF composition_interfaces wants ament_cppcheck. The wheels' packages
    # are found through the venv prefix.
    if ! (export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv" \
            CMAKE_PREFIX_PATH="$venv" PYTHONPATH='' COLCON_PREFIX_PATH=''
          cd "$tmp" && "$colcon" --log-base "$tmp/log" build --merge-install \
            --base-paths "$tmp/src" --build-base "$tmp/build" --install-base "$prefix" \
            --event-handlers console_cohesion- console_direct- \
            --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$py") >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      die 1 "colcon build of the vendored tools failed (full log: $log)"
    fi
    # Console scripts carry the building venv's interpreter; make them use the active python so
    # the overlay serves any venv with the same versions (a fresh clone's .venv included).
    local f
    for f in "$prefix"/bin/* "$prefix"/lib/*/*; do
      [ -f "$f" ] || continue
      local first; first="$(head -n 1 "$f" | tr -d '\0')"
      if [[ "$first" == '#!'*python* ]]; then
        sed -i '1s|^#!.*python[0-9.]*.*$|#!/usr/bin/env python3|' "$f"
      fi
    done
    touch "$prefix/.robot_r1_complete"
    say "built in $((SECONDS - t0)) s (log: $log)"
  fi
  printf '%s\n' "$prefix"
}

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # Sourced: build in a child shell (its `set -e`/traps stay there), then source the overlay.
  _r1_tools_prefix="$(bash "${BASH_SOURCE[0]}" "$@")" || return $?
  case $- in *u*) _r1_u=1; set +u ;; *) _r1_u=0 ;; esac
  # shellcheck disable=SC1091
  source "$_r1_tools_prefix/setup.bash"
  [ "$_r1_u" = 1 ] && set -u
  export ROBOT_R1_ROS2_TOOLS_OVERLAY="$_r1_tools_prefix"
  unset _r1_tools_prefix _r1_u
else
  _r1_tools_main "$@"
fi
