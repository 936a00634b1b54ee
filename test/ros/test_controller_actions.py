"""The real robot's controller interfaces over DDS: the sim node's action servers
(control_msgs/FollowJointTrajectory, franka_gripper Grasp/Move/Homing, control_msgs/GripperCommand)
and the executor driving the sim through them.

The nodes and the action-client peer run with control_msgs and franka_msgs from the tools
overlay (scripts/ros2_tools_overlay.sh --with 'control_msgs franka_msgs', built from
../shared/vendor/ros2: CI has it, so these never skip there); this process needs neither.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from r1_testing import require_ros_interfaces, wait_for
from ros2_tools import tools_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'peers'))
from executor_probe import ExecutorProbe  # noqa: E402

pytestmark = pytest.mark.ros
PEERS = Path(__file__).resolve().parents[1] / 'peers'


def _interfaces(ros_env) -> dict[str, str]:
    """Environment for children with control_msgs + franka_msgs (the tools overlay)."""
    require_ros_interfaces()
    return tools_env(ros_env, extra=('control_msgs', 'franka_msgs'))


def _results(child) -> dict:
    out = {}
    for line in child.output().splitlines():
        if line.startswith('{'):
            item = json.loads(line)
            out[item.get('name', 'done')] = item
    return out


@pytest.mark.parametrize('prefix', ['panda', 'fr3'])
def test_sim_action_servers_report_what_the_sim_did(spawn, ros_env, prefix):
    env = _interfaces(ros_env)
    sim = spawn('robot_r1_ros.ros.sim_node', '--ros-args', '-p', f'joint_prefix:={prefix}',
                '-p', f'arm_controller:={prefix}_arm_controller', env=env)
    peer = spawn(str(PEERS / 'controller_action_peer.py'), prefix, env=env)
    assert wait_for(lambda: 'done' in _results(peer) or not peer.alive(), 180.0)
    res = _results(peer)
    assert 'done' in res, peer.output()[-3000:] + sim.output()[-3000:]
    succeeded, aborted = 4, 6                    # action_msgs/GoalStatus
    # A reachable goal succeeds with SUCCESSFUL (0).
    assert res['reachable']['status'] == succeeded and res['reachable']['error_code'] == 0
    # Panda names on an FR3 (or the reverse) and a joint beyond its limits: rejected.
    assert not res['wrong_names']['accepted'] and not res['beyond_limits']['accepted']
    assert 'rejected goal: unknown joint names' in sim.output()
    # A tolerance the arm cannot meet in time: ABORTED with GOAL_TOLERANCE_VIOLATED (-5).
    tight = res['tight_tolerance']
    assert tight['status'] == aborted and tight['error_code'] == -5
    assert 'rad from the goal' in tight['error_string']
    # franka_gripper: a grasp on an empty gripper closes the fingers and fails ...
    grasp = res['grasp_empty']
    assert grasp['status'] == aborted and not grasp['success']
    assert 'nothing grasped' in grasp['error'] and grasp['fingers_m'] < 0.004
    # ... move and homing succeed where the fingers really went.
    assert res['move']['status'] == succeeded and res['move']['success']
    assert res['move']['fingers_m'] == pytest.approx(0.06, abs=0.004)
    assert res['homing']['status'] == succeeded and res['homing']['fingers_m'] > 0.076


@pytest.fixture
def exec_rig(spawn, rclpy_node, ros_env):
    """sim_node + executor_node on the action interfaces; returns (probe, executor)."""
    env = _interfaces(ros_env)

    def start(*params: str):
        spawn('robot_r1_ros.ros.sim_node', '--ros-args', '-p', 'clock_epoch:=wall', env=env)
        args = ['--ros-args', '-r', '__ns:=/robot_r1', '-p', 'arm.interface:=action']
        for p in params:
            args += ['-p', p]
        executor = spawn('robot_r1_ros.ros.executor_node', *args, env=env)
        probe = ExecutorProbe(rclpy_node('executor_actions_test'))
        assert probe.wait_ready(60.0, fake_robot=False), executor.output()[-3000:]
        assert probe.wait(lambda: 'first joint state received' in executor.output(), 30.0)
        probe.spin(1.0)                          # the executor discovers the action servers
        return probe, executor

    return start


def test_executor_drives_the_sim_through_actions_and_reports_an_empty_grasp(exec_rig):
    probe, executor = exec_rig('gripper.interface:=franka')
    assert 'arm: action /panda_arm_controller/follow_joint_trajectory' in executor.output()
    # CLOSED in mid-air: the arm arrives (FollowJointTrajectory SUCCESSFUL), the grasp closes on
    # nothing, franka_gripper reports failure and the goal is FAILED with its reason.
    target = np.array([0.45, 0.10, 0.35])
    probe.send(probe.prediction(target, gripper_open=False))
    assert probe.wait_state(lambda s: s.state == s.STATE_FAILED, 40.0), executor.output()[-3000:]
    state = probe.last_state()
    assert state.reason.startswith('grasp failed:') and 'nothing grasped' in state.reason
    assert np.linalg.norm(probe.tcp()[0] - target) < 0.005
    assert probe.trajectories == [] and probe.gripper_cmds == []   # no topic was used
    # OPEN: franka_gripper Move succeeds: REACHED.
    probe.send(probe.prediction([0.50, 0.0, 0.30], gripper_open=True))
    assert probe.wait_state(lambda s: s.state == s.STATE_REACHED, 40.0), executor.output()[-3000:]
    width = sum(p for n, p in zip(probe.joint_state.name, probe.joint_state.position)
                if 'finger' in n)
    assert width > 0.075


def test_executor_gripper_command_client_against_the_sim_server(exec_rig):
    probe, executor = exec_rig('gripper.interface:=gripper_command',
                               'gripper.action:=/franka_gripper/gripper_action')
    probe.send(probe.prediction([0.45, 0.05, 0.35], gripper_open=False))
    assert probe.wait_state(lambda s: s.state == s.STATE_FAILED, 40.0), executor.output()[-3000:]
    assert probe.last_state().reason.startswith('grasp failed: fingers closed to')
    probe.send(probe.prediction([0.45, 0.05, 0.30], gripper_open=True))
    assert probe.wait_state(lambda s: s.state == s.STATE_REACHED, 40.0), executor.output()[-3000:]


def test_executor_without_arm_action_server_fails_with_the_name(spawn, rclpy_node, ros_env):
    env = _interfaces(ros_env)
    spawn(str(PEERS / 'executor_fake_robot.py'))
    executor = spawn('robot_r1_ros.ros.executor_node', '--ros-args', '-r', '__ns:=/robot_r1',
                     '-p', 'gripper.interface:=topic', env=env)
    probe = ExecutorProbe(rclpy_node('executor_noserver_test'))
    assert probe.wait_ready(30.0), executor.output()[-3000:]
    probe.send(probe.prediction([0.45, 0.1, 0.3]))
    assert probe.wait_state(lambda s: s.state == s.STATE_FAILED, 20.0), executor.output()[-3000:]
    assert 'action server /panda_arm_controller/follow_joint_trajectory is not available' in \
        probe.last_state().reason
