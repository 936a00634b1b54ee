"""Executor node across processes over real DDS, with the simulator unimportable.

Three processes: the executor node (``python -m robot_r1_ros.ros.executor_node`` in namespace
/robot_r1), a fake robot peer (test/peers/executor_fake_robot.py: trajectory follower +
/joint_states), and this test, which publishes predictions and watches ExecutorState, the
published trajectories and the measured TCP.
"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from r1_testing import require_ros_interfaces

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'peers'))
from executor_probe import ExecutorProbe  # noqa: E402

PEERS = Path(__file__).resolve().parents[1] / 'peers'
NODE = 'robot_r1_ros.ros.executor_node'
# The node as it runs on a robot without the simulator: mujoco, dm-robotics-panda and the sim
# layer unimportable (the direct backend plans with the core's numpy kinematics).
NODE_WITHOUT_SIM = str(PEERS / 'executor_without_sim.py')


def _executor_args(*params: str) -> list[str]:
    args = ['--ros-args', '-r', '__ns:=/robot_r1']
    for p in params:
        args += ['-p', p]
    return args


@pytest.fixture
def rig(spawn, rclpy_node):
    """Start the fake robot + executor with extra ``-p`` params; return (probe, executor)."""
    require_ros_interfaces()

    def start(*params: str):
        spawn(str(PEERS / 'executor_fake_robot.py'))
        executor = spawn(NODE_WITHOUT_SIM, *_executor_args(*params))
        probe = ExecutorProbe(rclpy_node('executor_test'))
        assert probe.wait_ready(30.0), executor.output()[-3000:]
        assert probe.wait(lambda: 'first joint state received' in executor.output(), 30.0), \
            executor.output()[-3000:]
        return probe, executor

    return start


def _sent_trajectories(probe: ExecutorProbe) -> int:
    return len(probe.trajectories)


def test_executor_moves_to_ok_keypoint_then_gripper(rig):
    probe, executor = rig()
    assert probe.last_state().state == probe.ES.STATE_IDLE
    assert probe.last_state().backend == 'direct'
    target = np.array([0.45, 0.10, 0.30])
    msg = probe.prediction(target, gripper_open=False)
    probe.send(msg)
    assert probe.wait_state(lambda s: s.state == s.STATE_MOVING, 10.0), executor.output()[-3000:]
    assert probe.wait_state(lambda s: s.state == s.STATE_REACHED, 20.0), executor.output()[-3000:]
    err = float(np.linalg.norm(probe.tcp()[0] - target))
    assert err < 0.005, f'TCP {err * 1e3:.1f} mm from the target'
    state = probe.last_state()
    assert (state.received_count, state.executed_count, state.rejected_count) == (1, 1, 0)
    assert math.isclose(state.target_position.x, 0.45, abs_tol=1e-9)
    # The exact stamp of the prediction (the reasoning node's on_reached trigger matches it).
    assert (state.goal_stamp.sec, state.goal_stamp.nanosec) == (msg.header.stamp.sec,
                                                               msg.header.stamp.nanosec)
    # One trajectory, starting at the measured configuration, within the velocity limits.
    assert len(probe.trajectories) == 1
    traj = probe.trajectories[0]
    assert list(traj.joint_names) == [f'panda_joint{i}' for i in range(1, 8)]
    times = [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in traj.points]
    assert times[0] == 0.0 and all(b > a for a, b in zip(times, times[1:]))
    vel = np.abs([p.velocities for p in traj.points])
    assert vel.max(axis=0).tolist() <= (0.3 * np.array([2.175] * 4 + [2.61] * 3) + 1e-9).tolist()
    # The gripper command (closed) came after the arrival.
    assert probe.gripper_cmds == [0.0]


@pytest.mark.parametrize('case,code', [
    ('nan', 'not_finite'),
    ('out_of_workspace', 'out_of_workspace'),
    ('stale', 'stale'),
])
def test_executor_rejects_unsafe_predictions(rig, case, code):
    probe, executor = rig()
    q_before = probe.arm_q()
    msg = {'nan': lambda: probe.prediction([0.45, math.nan, 0.3]),
           'out_of_workspace': lambda: probe.prediction([0.45, 0.0, 1.5]),
           'stale': lambda: probe.prediction([0.45, 0.0, 0.3], age_s=30.0)}[case]()
    probe.send(msg)
    assert probe.wait_state(lambda s: s.state == s.STATE_REJECTED, 10.0), executor.output()[-3000:]
    state = probe.last_state()
    assert state.reason.startswith(code), state.reason
    assert (state.received_count, state.executed_count, state.rejected_count) == (1, 0, 1)
    assert (state.goal_stamp.sec, state.goal_stamp.nanosec) == (msg.header.stamp.sec,
                                                               msg.header.stamp.nanosec)
    probe.spin(1.0)
    assert probe.trajectories == [] and probe.gripper_cmds == []
    assert np.allclose(probe.arm_q(), q_before, atol=1e-9)
    assert f'rejected prediction: {code}' in executor.output()


def test_executor_rejects_every_other_reason_and_keeps_running(rig):
    probe, executor = rig()
    tcp = probe.tcp()[0]
    cases = [
        (probe.prediction([0.45, 0.0, 0.3], status=probe.KP.STATUS_FORMAT_ERROR), 'status_not_ok'),
        (probe.prediction([0.45, 0.0, 0.3], frame_id='world'), 'wrong_frame'),
        (probe.prediction([0.45, 0.0, 0.3], quat_xyzw=[0.0, 0.0, 0.0, 2.0]), 'bad_orientation'),
        (probe.prediction([0.45, 0.0, 0.3], age_s=-60.0), 'future_stamp'),
        (probe.prediction([0.75, -0.45, 0.02]), 'step_too_long'),
    ]
    assert float(np.linalg.norm(np.array([0.75, -0.45, 0.02]) - tcp)) > 0.5
    for i, (msg, code) in enumerate(cases, start=1):
        probe.send(msg)
        assert probe.wait_state(lambda s, i=i: s.rejected_count == i, 10.0), code
        assert probe.last_state().reason.startswith(code), probe.last_state().reason
    assert probe.trajectories == []
    # Still alive and accepting a good prediction.
    probe.send(probe.prediction([0.40, 0.0, 0.35]))
    assert probe.wait_state(lambda s: s.state == s.STATE_REACHED, 20.0), executor.output()[-3000:]
    assert probe.last_state().rejected_count == len(cases)


def test_executor_dry_run_validates_without_moving(rig):
    probe, executor = rig('dry_run:=true')
    q_before = probe.arm_q()
    probe.send(probe.prediction([0.45, 0.1, 0.3]))
    assert probe.wait_state(lambda s: s.state == s.STATE_REACHED, 10.0)
    state = probe.last_state()
    assert state.dry_run and state.executed_count == 0 and state.received_count == 1
    probe.send(probe.prediction([0.45, 0.1, 1.3]))
    assert probe.wait_state(lambda s: s.state == s.STATE_REJECTED, 10.0)
    probe.spin(1.0)
    assert probe.trajectories == [] and probe.gripper_cmds == []
    assert np.allclose(probe.arm_q(), q_before, atol=1e-9)


def test_executor_stop_holds_the_arm_until_resume(rig):
    probe, executor = rig()
    probe.send(probe.prediction([0.60, -0.20, 0.15]))
    assert probe.wait_state(lambda s: s.state == s.STATE_MOVING, 10.0)
    probe.spin(0.5)
    response = probe.call(probe.stop_cli)
    assert response.success
    assert probe.wait_state(lambda s: s.state == s.STATE_IDLE and s.reason == 'stopped', 5.0)
    # The hold command: one point, zero velocity, near where the arm was when stopped.
    assert probe.wait(lambda: len(probe.trajectories) == 2, 5.0)
    hold = probe.trajectories[1]
    assert len(hold.points) == 1 and not any(hold.points[0].velocities)
    probe.spin(1.0)
    q_held = probe.arm_q()
    probe.spin(1.0)
    assert np.allclose(probe.arm_q(), q_held, atol=1e-6), 'the arm kept moving after stop'
    xyz = probe.tcp()[0]
    assert np.linalg.norm(xyz - [0.60, -0.20, 0.15]) > 0.02, 'stop came too late to test'
    # Rejected while stopped, accepted again after resume.
    probe.send(probe.prediction([0.45, 0.0, 0.3]))
    assert probe.wait_state(lambda s: s.state == s.STATE_REJECTED, 5.0)
    assert probe.last_state().reason.startswith('stopped')
    assert probe.call(probe.resume_cli).success
    probe.send(probe.prediction([0.45, 0.0, 0.3]))
    assert probe.wait_state(lambda s: s.state == s.STATE_REACHED, 20.0), executor.output()[-3000:]


@pytest.mark.parametrize('policy', ['preempt', 'wait'])
def test_executor_new_goal_policy(rig, policy):
    probe, executor = rig(f'on_new_goal:={policy}')
    first, second = np.array([0.60, -0.20, 0.20]), np.array([0.45, 0.15, 0.35])
    probe.send(probe.prediction(first))
    assert probe.wait_state(lambda s: s.state == s.STATE_MOVING, 10.0)
    probe.spin(0.5)
    probe.send(probe.prediction(second))
    if policy == 'preempt':
        # Replaced at once: a second trajectory while the first was still running.
        assert probe.wait(lambda: len(probe.trajectories) == 2, 3.0)
        assert probe.wait_state(lambda s: s.state == s.STATE_REACHED, 20.0)
        assert np.linalg.norm(probe.tcp()[0] - first) > 0.02  # never got there
    else:
        probe.spin(1.0)
        assert len(probe.trajectories) == 1, 'wait policy must not interrupt the motion'
        assert probe.wait(lambda: len(probe.trajectories) == 2, 20.0)
        reached = [s for s in probe.states if s.state == s.STATE_REACHED]
        assert reached and math.isclose(reached[0].target_position.x, first[0], abs_tol=1e-9)
        assert probe.wait_state(lambda s: s.state == s.STATE_REACHED
                                and math.isclose(s.target_position.x, second[0]), 20.0)
    assert np.linalg.norm(probe.tcp()[0] - second) < 0.005
    assert probe.last_state().executed_count == 2


def test_executor_bad_parameter_exits_with_the_parameter_name(spawn):
    require_ros_interfaces()
    child = spawn(NODE, *_executor_args('direct.velocity_scale:=3.0'))
    child.popen.wait(30)
    assert child.popen.returncode == 2
    assert 'direct.velocity_scale' in child.output()


def test_executor_moveit_backend_without_moveit_py_exits_with_a_hint(spawn):
    require_ros_interfaces()
    if importlib.util.find_spec('moveit') is not None:
        pytest.skip('moveit_py is installed: the node would really connect')
    child = spawn(NODE, *_executor_args('backend:=moveit'))
    child.popen.wait(30)
    assert child.popen.returncode == 2
    assert 'needs moveit_py' in child.output()
