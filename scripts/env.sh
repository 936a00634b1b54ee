# shellcheck shell=bash
# Source this file (`source scripts/env.sh`) for a shell with ROS 2 and robot_r1_ros: activates the
# repo's .venv, sets the ROS 2 variables for an isolated, loopback-only graph and sources the colcon
# overlay. Safe under `set -u` and when sourced twice. Override any variable by exporting it first.
# ROBOT_R1_ROS_DISTRO=jazzy: the Jazzy environment (.venv-jazzy, install-jazzy/) instead of Kilted.
_r1_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_r1_sfx=''
[ "${ROBOT_R1_ROS_DISTRO:-kilted}" = jazzy ] && _r1_sfx=-jazzy
if [ ! -x "$_r1_repo/.venv$_r1_sfx/bin/python" ]; then
  echo "robot_r1_ros: no .venv$_r1_sfx yet; run '${_r1_sfx:+ROBOT_R1_ROS_DISTRO=jazzy }bash scripts/setup.sh' first" >&2
  return 1 2>/dev/null || exit 1
fi
export VIRTUAL_ENV="$_r1_repo/.venv$_r1_sfx"
case ":$PATH:" in *":$VIRTUAL_ENV/bin:"*) ;; *) export PATH="$VIRTUAL_ENV/bin:$PATH" ;; esac
# Discovery stays on this machine (ROS_LOCALHOST_ONLY is ignored since Kilted).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
# A domain per user session, so two checkouts on one machine do not talk (0..101 with Fast DDS).
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( ($$ % 90) + 10 ))}"
export ROS_LOG_DIR="${ROS_LOG_DIR:-$_r1_repo/log/ros}"
export RMW_IMPLEMENTATION="${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}"
# Optional: large-message shared memory + loopback-only UDP (config/fastdds_shm_loopback.xml).
if [ "${ROBOT_R1_DDS_PROFILE:-}" = shm ]; then
  export FASTDDS_DEFAULT_PROFILES_FILE="$_r1_repo/config/fastdds_shm_loopback.xml"
fi
# Headless rendering; must be set before the first `import mujoco`.
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
# No model hub: everything loads from local folders.
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TRANSFORMERS_OFFLINE="${TRANSFORMERS_OFFLINE:-1}"
export HF_HUB_DISABLE_TELEMETRY=1
mkdir -p "$ROS_LOG_DIR"
if [ -f "$_r1_repo/install$_r1_sfx/setup.bash" ]; then
  # The colcon setup scripts break under `set -u`.
  case $- in *u*) _r1_u=1; set +u ;; *) _r1_u=0 ;; esac
  # shellcheck disable=SC1091
  source "$_r1_repo/install$_r1_sfx/setup.bash"
  [ "$_r1_u" = 1 ] && set -u
fi
# colcon does not chain the venv (it has no local_setup.*): ament_index lookups of the wheels'
# packages (e.g. sensor_msgs) need it.
case ":${AMENT_PREFIX_PATH:-}:" in
  *":$VIRTUAL_ENV:"*) ;;
  *) export AMENT_PREFIX_PATH="${AMENT_PREFIX_PATH:+$AMENT_PREFIX_PATH:}$VIRTUAL_ENV" ;;
esac
export CMAKE_PREFIX_PATH="${CMAKE_PREFIX_PATH:-$VIRTUAL_ENV}"
unset _r1_repo _r1_u _r1_sfx
