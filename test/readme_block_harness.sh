# shellcheck shell=bash
# Harness of test_readme_ros_block.py, sourced first by the session script it generates from the
# README's full-ROS block. Between the block's (verbatim) commands it only marks where each
# command's output starts and ends, and it wraps the long-running ones as a user at a terminal
# runs them: `ros2 launch` as a background job, `ros2 topic echo` until the first OK prediction
# then Ctrl-C, and at the end Ctrl-C (SIGINT) to the launch.
# Needs R1_LOGS (a folder for the background commands' output) and R1_LAUNCH_TIMEOUT_S.
exec 2>&1          # one stream, in order, as a terminal shows it
set -m             # background commands are jobs in their own process group, SIGINT not ignored
R1_LAUNCH_PID=''
trap 'exit 143' TERM INT
trap 'r1_stop_launch >/dev/null 2>&1; ros2 daemon stop >/dev/null 2>&1' EXIT

r1_alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }

r1_begin() { R1_T0=$SECONDS; printf '@@@ %s $ %s\n' "$1" "$2"; }

r1_end() {
  local rc=$1
  printf '\n@@@ rc %s\n@@@ took %s s\n' "$rc" "$((SECONDS - R1_T0))"
  [ "$rc" = 0 ] || exit 1
}

r1_launch() {
  "$@" > "$R1_LOGS/launch.log" 2>&1 &
  R1_LAUNCH_PID=$!
  echo "(running in the background as job $R1_LAUNCH_PID; its output: launch.log)"
}

r1_echo_until_ok() {
  local log="$R1_LOGS/echo.log" deadline=$((SECONDS + 240)) pid
  while [ $SECONDS -lt $deadline ]; do
    "$@" > "$log" 2>&1 &
    pid=$!
    while r1_alive "$pid" && [ $SECONDS -lt $deadline ]; do
      if sed -n '/^status: 1$/,$p' "$log" | grep -q '^---$'; then
        kill -INT "$pid"; wait "$pid"; cat "$log"; return 0
      fi
      sleep 1
    done
    if r1_alive "$pid"; then kill -INT "$pid"; wait "$pid"; break; fi
    wait "$pid"
    r1_alive "$R1_LAUNCH_PID" || { cat "$log"; echo '(ros2 launch is not running)'; return 1; }
    echo "(exited: $(head -n 1 "$log"); typed again)"
    sleep 2
  done
  cat "$log"
  return 124
}

r1_stop_launch() {
  [ -n "$R1_LAUNCH_PID" ] || return 0
  local pid=$R1_LAUNCH_PID rc watchdog
  R1_LAUNCH_PID=''
  kill -INT "$pid" 2>/dev/null
  ( sleep "${R1_LAUNCH_TIMEOUT_S:-35}"; kill -KILL -- "-$pid" 2>/dev/null ) &
  watchdog=$!
  wait "$pid"
  rc=$?
  if r1_alive "$watchdog"; then
    kill -- "-$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null
    echo "@@@ launch rc $rc after SIGINT"
  else
    echo "@@@ launch rc $rc KILLED ${R1_LAUNCH_TIMEOUT_S:-35} s after SIGINT"
  fi
  [ "$rc" = 0 ]
}

r1_finish() {
  printf '@@@ torch %s\n' "$(python -c 'import torch; print(torch.__version__)' 2>&1 | tail -n 1)"
  r1_stop_launch
  local rc=$?
  ros2 daemon stop >/dev/null 2>&1
  exit "$rc"
}
