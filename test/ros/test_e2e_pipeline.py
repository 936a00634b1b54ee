"""End to end across three processes over real DDS: sim node, reasoning node, executor node.

The nodes run as ``robot-r1 bringup`` / the launch file run them (config/franka.yaml, namespace
robot_r1, use_sim_time on the sim's /clock) with per-test overrides. The scripted reasoner (a
test double selected by the reasoning node's ``model.id``) makes the deterministic parts
deterministic; the last test closes the loop with the real tiny Qwen2.5-VL checkpoint.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from r1_testing import REPO, require_ros_interfaces
from ros2_tools import tools_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'peers'))
from executor_probe import ExecutorProbe  # noqa: E402

CONFIG = str(REPO / 'config' / 'franka.yaml')
ENV_ORIGIN = np.array([0.35, 0.0, 0.0])     # env frame origin in the base frame (franka.yaml)


def _args(name: str, namespace: str, params: dict[str, str]) -> list[str]:
    args = ['--ros-args', '-r', f'__node:={name}', '--params-file', CONFIG]
    if namespace:
        args += ['-r', f'__ns:=/{namespace}']
    for key, value in params.items():
        args += ['-p', f'{key}:={value}']
    return args


@pytest.fixture
def system(spawn, rclpy_node, ros_env):
    """Start sim + reasoning + executor with overrides; returns a probe on sim time. The nodes
    have control_msgs/franka_msgs (tools overlay), so the executor drives the sim through the
    real robot's FollowJointTrajectory and franka_gripper actions (config/franka.yaml)."""
    require_ros_interfaces()
    env = tools_env(ros_env, extra=('control_msgs', 'franka_msgs'))

    def start(reasoning: dict[str, str], executor: dict[str, str] | None = None,
              ready_timeout_s: float = 60.0):
        clock = {'use_sim_time': 'true'}
        children = {
            'sim': spawn('robot_r1_ros.ros.sim_node', *_args('sim_node', '', {}), env=env),
            'reasoning': spawn('robot_r1_ros.ros.reasoning_node', *_args(
                'reasoning_node', 'robot_r1', {**clock, **reasoning}), env=env),
            'executor': spawn('robot_r1_ros.ros.executor_node', *_args(
                'executor_node', 'robot_r1', {**clock, **(executor or {})}), env=env),
        }
        from rclpy.parameter import Parameter
        node = rclpy_node('e2e_probe')
        node.set_parameters([Parameter('use_sim_time', value=True)])   # stamps in sim time
        probe = ExecutorProbe(node)
        probe.predictions = []
        from robot_r1_ros.msg import KeypointPrediction
        node.create_subscription(KeypointPrediction, '/robot_r1/next_keypoint',
                                 probe.predictions.append, 10)
        logs = lambda: '\n'.join(f'--- {k}\n{c.output()[-2500:]}'  # noqa: E731
                                 for k, c in children.items())
        assert probe.wait_ready(ready_timeout_s, fake_robot=False), logs()
        assert probe.wait(lambda: 'first joint state received' in
                          children['executor'].output(), 30.0), logs()
        probe.logs = logs
        return probe, children

    return start


def _env(xyz_base) -> str:
    return ','.join(f'{v:.3f}' for v in np.asarray(xyz_base) - ENV_ORIGIN)


def test_e2e_ok_keypoint_moves_the_sim_tcp_within_1cm(system):
    target = np.array([0.50, 0.10, 0.25])
    probe, children = system({'model.id': f'scripted:valid?xyz={_env(target)}&gripper=open',
                              'trigger.mode': 'on_reached', 'model.warmup': 'false'})
    assert probe.wait_state(lambda s: s.state == s.STATE_REACHED
                            and math.isclose(s.target_position.x, target[0], abs_tol=1e-6)
                            and math.isclose(s.target_position.y, target[1], abs_tol=1e-6),
                            60.0), probe.logs()
    probe.spin(0.3)
    err = float(np.linalg.norm(probe.tcp()[0] - target))
    assert err < 0.01, f'sim TCP {err * 1e3:.1f} mm from the keypoint'
    # (The probe may miss the first prediction to a late subscription match; the scripted
    # model repeats the same keypoint after REACHED.)
    assert probe.wait(lambda: bool(probe.predictions), 30.0), probe.logs()
    first = probe.predictions[0]
    assert first.status == first.STATUS_OK and first.header.frame_id == 'panda_link0'
    assert np.allclose([first.position.x, first.position.y, first.position.z],
                       target, atol=1e-6)
    # The real robot's path: a FollowJointTrajectory goal the sim accepted (not the topic).
    assert 'arm: action /panda_arm_controller/follow_joint_trajectory' in \
        children['executor'].output()
    assert 'accepted joint trajectory' in children['sim'].output(), probe.logs()
    assert probe.trajectories == []
    state = probe.last_state()
    assert state.executed_count >= 1 and state.rejected_count == 0
    # on_reached: the reasoning node predicted again after REACHED (the loop keeps cycling).
    assert probe.wait(lambda: len(probe.predictions) >= 2, 30.0), probe.logs()


def test_e2e_unsafe_keypoints_are_rejected_and_nothing_moves(system):
    # The reasoning node itself flags this answer OUT_OF_WORKSPACE (status != OK).
    probe, children = system({'model.id': 'scripted:out_of_workspace',
                              'trigger.mode': 'on_reached', 'model.warmup': 'false'})
    assert probe.wait_state(lambda s: s.rejected_count >= 1, 60.0), probe.logs()
    assert probe.last_state().reason.startswith('status_not_ok')
    # The executor may have matched the first prediction before the probe's subscription did;
    # on_reached keeps predicting after each REJECTED, so the probe sees the next ones.
    assert probe.wait(lambda: bool(probe.predictions), 30.0), probe.logs()
    assert probe.predictions[0].status == probe.predictions[0].STATUS_OUT_OF_WORKSPACE
    q0 = probe.arm_q().copy()
    n = probe.last_state().rejected_count
    # Predictions that claim OK but are unsafe, published into the running system (sim time).
    cases = [
        (probe.prediction([0.50, 0.0, 0.95]), 'out_of_workspace'),      # above the box
        (probe.prediction([0.50, math.nan, 0.25]), 'not_finite'),
        (probe.prediction([0.50, 0.0, 0.25], age_s=20.0), 'stale'),
    ]
    # (The reasoning node keeps predicting after each REJECTED: match the executor's log line
    # of each case rather than counting.)
    for msg, code in cases:
        probe.send(msg)
        assert probe.wait(lambda c=code: f'rejected prediction: {c}' in
                          children['executor'].output(), 20.0), probe.logs()
    assert probe.wait_state(lambda s: s.rejected_count >= n + len(cases), 10.0)
    probe.spin(1.0)
    state = probe.last_state()
    assert state.executed_count == 0
    assert probe.trajectories == [] and probe.gripper_cmds == []
    assert np.max(np.abs(probe.arm_q() - q0)) < 1e-3, 'the arm moved'


def test_e2e_full_loop_with_the_real_tiny_model(system, tiny_checkpoint):
    probe, children = system({'model.id': str(tiny_checkpoint), 'trigger.mode': 'on_reached',
                              'model.device': 'cpu', 'model.num_threads': '1',
                              'generation.max_new_tokens': '96',
                              'generation.think_budget_tokens': '24'},
                             ready_timeout_s=120.0)
    # Three predictions from the untrained model: each one parses (constrained decoding) and
    # the executor decides about each (executes, or rejects an unsafe one), and the loop goes on.
    broken = lambda: 'configure failed' in children['reasoning'].output()  # noqa: E731
    probe.wait(lambda: broken() or (len(probe.predictions) >= 3
                                    and probe.last_state().received_count >= 3), 240.0)
    assert not broken() and len(probe.predictions) >= 3, probe.logs()
    assert all(p.model_id == str(tiny_checkpoint) for p in probe.predictions)
    assert all(p.status in (p.STATUS_OK, p.STATUS_OUT_OF_WORKSPACE) for p in probe.predictions)
    state = probe.last_state()
    assert state.received_count >= 3
    assert all(c.alive() for c in children.values()), probe.logs()
