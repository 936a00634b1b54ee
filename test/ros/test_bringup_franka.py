"""``robot-r1 bringup franka`` across processes: starts sim + reasoning + executor with the
params file, predictions flow, Ctrl-C stops all cleanly; a node that dies makes it exit 1."""
from __future__ import annotations

import os
import re
import signal
import sys
import time
from pathlib import Path


from r1_testing import require_ros_interfaces

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'peers'))
from executor_probe import ExecutorProbe  # noqa: E402

# The scripted reasoner answers "stay where you are" (a valid, executable no-op keypoint).
ARGS = ('franka', 'model:=scripted:echo', '--sigterm-timeout-s', '10')


def _pids(output: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r'started (\w+) \(pid (\d+)\)', output)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by bringup) counts as gone.
    try:
        return Path(f'/proc/{pid}/stat').read_text().split()[2] != 'Z'
    except FileNotFoundError:
        return False


def _wait(predicate, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_bringup_runs_the_loop_and_stops_cleanly(spawn, rclpy_node):
    require_ros_interfaces()
    bringup = spawn('robot_r1_ros.ros.bringup', *ARGS)
    probe = ExecutorProbe(rclpy_node('bringup_test'))
    # Predictions flow from the reasoning node through the executor (sim time, scripted model).
    assert probe.wait_state(lambda s: s.received_count >= 2 and s.executed_count >= 1, 90.0), \
        bringup.output()[-4000:]
    state = probe.last_state()
    assert state.backend == 'direct' and not state.dry_run
    # The only rejections allowed: predictions that came before the executor's first /clock
    # (sim time at 0: "not ready", never judged as stamped in the future).
    def rejected() -> list[str]:
        return re.findall(r'rejected prediction: (\w+)', bringup.output())
    # (the state is published before the node logs the rejection)
    assert _wait(lambda: len(rejected()) >= state.rejected_count, 10.0), bringup.output()[-4000:]
    assert set(rejected()) <= {'not_ready'}, bringup.output()[-4000:]
    # The executor runs with the file's parameters and the bringup's overrides.
    from rcl_interfaces.srv import GetParameters
    client = probe.node.create_client(GetParameters, '/robot_r1/executor_node/get_parameters')
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(GetParameters.Request(
        names=['use_sim_time', 'backend', 'direct.velocity_scale']))
    probe.executor.spin_until_future_complete(future, timeout_sec=10.0)
    values = [v for v in future.result().values]
    assert (values[0].bool_value, values[1].string_value, values[2].double_value) == (
        True, 'direct', 0.3)
    pids = _pids(bringup.output())
    assert set(pids) == {'sim_node', 'reasoning_node', 'executor_node'}
    assert all(_alive(pid) for pid in pids.values())
    # Ctrl-C: forwarded to every node, all exit, bringup exits 0.
    code = bringup.stop(timeout_s=60.0)
    out = bringup.output()
    assert code == 0, out[-4000:]
    assert 'SIGINT: stopping all nodes' in out and 'all nodes stopped' in out
    assert 'SIGKILL' not in out and 'SIGTERM' not in out.split('SIGINT: stopping')[1]
    assert not any(_alive(pid) for pid in pids.values())
    # Logs carry the node-name prefix.
    assert re.search(r'^\[executor_node\s*\] ', out, re.M)
    assert re.search(r'^\[reasoning_node\s*\] ', out, re.M)


def test_bringup_exits_nonzero_when_a_node_dies(spawn):
    require_ros_interfaces()
    bringup = spawn('robot_r1_ros.ros.bringup', *ARGS)
    assert _wait(lambda: len(_pids(bringup.output())) == 3, 30.0), bringup.output()[-3000:]
    pids = _pids(bringup.output())
    assert _wait(lambda: 'executor ready' in bringup.output(), 60.0), bringup.output()[-3000:]
    os.kill(pids['executor_node'], signal.SIGKILL)
    bringup.popen.wait(60)
    out = bringup.output()
    assert bringup.popen.returncode == 1, out[-3000:]
    assert 'executor_node exited unexpectedly with code -9' in out
    assert 'failed: executor_node died' in out
    assert not any(_alive(pid) for pid in pids.values())


def test_bringup_print_and_bad_arguments(spawn, tmp_path):
    require_ros_interfaces()
    printed = spawn('robot_r1_ros.ros.bringup', 'franka', 'use_sim:=false', '--print')
    printed.popen.wait(30)
    out = printed.output()
    assert printed.popen.returncode == 0
    assert 'sim_node' not in out and out.count('--ros-args') == 2
    bad = spawn('robot_r1_ros.ros.bringup', 'franka', 'backend:=ik')
    bad.popen.wait(30)
    assert bad.popen.returncode == 2 and 'backend' in bad.output()
    missing = spawn('robot_r1_ros.ros.bringup', 'franka', f'params_file:={tmp_path}/no.yaml')
    missing.popen.wait(30)
    assert missing.popen.returncode == 2 and 'not found' in missing.output()
