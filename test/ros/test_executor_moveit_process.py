"""The executor node with backend moveit over DDS, against the moveit_py CONTRACT FAKE
(test/fixtures/moveit_contract_fake, put on the node's PYTHONPATH: moveit_py cannot be
installed here). The fake's plan() holds the Python GIL like the real binding; MoveItPy runs in
the executor's child process, so ~/stop answers and executor_state keeps coming while it plans.
Before: planning ran on a thread of the node's own process, and stopping joined it for up to
5 s on the ROS thread."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from r1_testing import require_ros_interfaces

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'peers'))
from executor_probe import ExecutorProbe  # noqa: E402

pytestmark = pytest.mark.ros
PEERS = Path(__file__).resolve().parents[1] / 'peers'
FAKE = Path(__file__).resolve().parents[1] / 'fixtures' / 'moveit_contract_fake'


def _start(spawn, rclpy_node, ros_env, *params: str, **fake_env: str):
    require_ros_interfaces()
    env = dict(ros_env, PYTHONPATH=os.pathsep.join([str(FAKE), ros_env['PYTHONPATH']]),
               **fake_env)
    spawn(str(PEERS / 'executor_fake_robot.py'))
    args = ['--ros-args', '-r', '__ns:=/robot_r1', '-p', 'backend:=moveit',
            '-p', 'state_period_s:=0.2']
    for p in params:
        args += ['-p', p]
    executor = spawn('robot_r1_ros.ros.executor_node', *args, env=env)
    probe = ExecutorProbe(rclpy_node('moveit_process_test'))
    assert probe.wait_ready(60.0), executor.output()[-3000:]
    return probe, executor


def _stop_while_planning(probe: ExecutorProbe) -> tuple[float, int]:
    probe.send(probe.prediction([0.45, 0.1, 0.3]))
    assert probe.wait_state(lambda s: s.state == s.STATE_MOVING, 10.0)
    n0 = len(probe.states)
    probe.spin(1.0)                              # planning (GIL held in the planner) ...
    states_during_plan = len(probe.states) - n0
    t0 = time.monotonic()
    response = probe.call(probe.stop_cli, timeout_s=20.0)
    assert response.success
    return time.monotonic() - t0, states_during_plan


def test_stop_answers_during_a_long_plan(spawn, rclpy_node, ros_env):
    probe, executor = _start(spawn, rclpy_node, ros_env, MOVEIT_FAKE_PLAN_GIL_S='6')
    stop_s, states = _stop_while_planning(probe)
    assert stop_s < 1.0, f'~/stop took {stop_s:.2f} s during planning'
    assert states >= 3, f'only {states} executor_state messages in 1 s of planning'
    assert probe.wait_state(lambda s: s.state == s.STATE_IDLE and s.reason == 'stopped', 5.0)
    probe.spin(6.0)                              # the plan ends; its goal must not run
    assert probe.last_state().state == probe.ES.STATE_IDLE, probe.last_state()


def test_the_fake_really_holds_the_gil_in_process(spawn, rclpy_node, ros_env):
    """Control: with MoveItPy in the node's process the same plan freezes ~/stop."""
    probe, executor = _start(spawn, rclpy_node, ros_env, 'moveit.planner_process:=false',
                             MOVEIT_FAKE_PLAN_GIL_S='4')
    stop_s, _ = _stop_while_planning(probe)
    assert stop_s > 1.5, f'~/stop answered in {stop_s:.2f} s: the fake did not hold the GIL'


def test_moveit_start_failure_is_on_executor_state(spawn, rclpy_node, ros_env):
    probe, executor = _start(spawn, rclpy_node, ros_env,
                             MOVEIT_FAKE_FAIL_INIT='Robot model not loaded')
    assert probe.wait_state(lambda s: s.state == s.STATE_FAILED, 10.0), executor.output()[-3000:]
    reason = probe.last_state().reason
    assert reason.startswith('MoveIt unavailable: MoveIt could not start: RuntimeError: Robot '
                             'model not loaded'), reason
    assert 'moveit_config_file' in reason
    assert executor.alive()
    probe.send(probe.prediction([0.45, 0.1, 0.3]))     # each goal retries, and says why
    assert probe.wait_state(lambda s: s.received_count == 1 and s.state == s.STATE_FAILED, 20.0)
    assert 'Robot model not loaded' in probe.last_state().reason
