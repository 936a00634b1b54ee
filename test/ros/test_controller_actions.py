"""The real robot's controller interfaces over DDS: the sim node's action servers
(control_msgs/FollowJointTrajectory, franka_gripper Grasp/Move/Homing, control_msgs/GripperCommand)
and the executor driving the sim through them.

Needs control_msgs and franka_msgs (a ROS 2 install, or the overlay built from
../shared/vendor/ros2: CI has it, so these never skip there).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from r1_testing import require, require_ros_interfaces

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'peers'))
from executor_probe import ExecutorProbe  # noqa: E402

pytestmark = pytest.mark.ros
READY = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]


def _interfaces():
    require_ros_interfaces()
    return (require('control_msgs.action', 'build the overlay (README, "Tests")'),
            require('franka_msgs.action', 'build the overlay (README, "Tests")'))


def _goal_result(probe: ExecutorProbe, client, goal, timeout_s: float = 20.0):
    """Send ``goal``; returns (accepted, status, result)."""
    assert client.wait_for_server(timeout_sec=20.0), 'action server not found'
    future = client.send_goal_async(goal)
    probe.executor.spin_until_future_complete(future, timeout_sec=timeout_s)
    handle = future.result()
    if not handle.accepted:
        return False, None, None
    res = handle.get_result_async()
    probe.executor.spin_until_future_complete(res, timeout_sec=timeout_s)
    return True, res.result().status, res.result().result


def _trajectory(names, q_end, t_end_s):
    from builtin_interfaces.msg import Duration
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
    return JointTrajectory(joint_names=list(names), points=[JointTrajectoryPoint(
        positions=[float(v) for v in q_end],
        time_from_start=Duration(sec=int(t_end_s), nanosec=int(t_end_s % 1 * 1e9)))])


@pytest.mark.parametrize('prefix', ['panda', 'fr3'])
def test_sim_action_servers_report_what_the_sim_did(spawn, rclpy_node, prefix):
    cm, fm = _interfaces()
    from action_msgs.msg import GoalStatus
    from control_msgs.msg import JointTolerance
    from rclpy.action import ActionClient

    sim = spawn('robot_r1_ros.ros.sim_node', '--ros-args', '-p', f'joint_prefix:={prefix}',
                '-p', f'arm_controller:={prefix}_arm_controller')
    probe = ExecutorProbe(rclpy_node('actions_test'))
    arm_names = [f'{prefix}_joint{i}' for i in range(1, 8)]
    fjt = ActionClient(probe.node, cm.FollowJointTrajectory,
                       f'/{prefix}_arm_controller/follow_joint_trajectory')
    # A reachable goal succeeds with SUCCESSFUL.
    q1 = np.array(READY) + [0.3, 0.1, 0.0, 0.1, 0.0, 0.0, 0.0]
    goal = cm.FollowJointTrajectory.Goal(trajectory=_trajectory(arm_names, q1, 2.0))
    accepted, status, result = _goal_result(probe, fjt, goal)
    assert accepted and status == GoalStatus.STATUS_SUCCEEDED, (status, result, sim.output()[-2000:])
    assert result.error_code == result.SUCCESSFUL
    # Panda names on an FR3 (or the reverse) and limit violations are rejected.
    other = 'panda' if prefix == 'fr3' else 'fr3'
    goal = cm.FollowJointTrajectory.Goal(trajectory=_trajectory(
        [f'{other}_joint{i}' for i in range(1, 8)], q1, 2.0))
    assert _goal_result(probe, fjt, goal)[0] is False
    # A goal tolerance the arm cannot meet in time: GOAL_TOLERANCE_VIOLATED.
    goal = cm.FollowJointTrajectory.Goal(trajectory=_trajectory(arm_names, READY, 0.3))
    goal.goal_tolerance = [JointTolerance(name=n, position=1e-6) for n in arm_names]
    goal.goal_time_tolerance.nanosec = 10_000_000
    accepted, status, result = _goal_result(probe, fjt, goal)
    assert accepted and status == GoalStatus.STATUS_ABORTED
    assert result.error_code == result.GOAL_TOLERANCE_VIOLATED and 'rad from the goal' in \
        result.error_string
    # franka_gripper: grasp on an empty gripper fails, move and homing succeed.
    grasp = ActionClient(probe.node, fm.Grasp, '/franka_gripper/grasp')
    move = ActionClient(probe.node, fm.Move, '/franka_gripper/move')
    homing = ActionClient(probe.node, fm.Homing, '/franka_gripper/homing')
    g = fm.Grasp.Goal(width=0.04, speed=0.1, force=20.0)
    g.epsilon.inner = g.epsilon.outer = 0.01
    accepted, status, result = _goal_result(probe, grasp, g)
    assert accepted and status == GoalStatus.STATUS_ABORTED and not result.success
    assert 'nothing grasped' in result.error
    finger = dict(zip(probe.joint_state.name, probe.joint_state.position))[
        f'{prefix}_finger_joint1']
    assert finger < 0.002                      # the fingers really closed
    accepted, status, result = _goal_result(probe, move, fm.Move.Goal(width=0.06, speed=0.1))
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success, result.error
    accepted, status, result = _goal_result(probe, homing, fm.Homing.Goal())
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success
    probe.spin(0.3)
    width = sum(p for n, p in zip(probe.joint_state.name, probe.joint_state.position)
                if 'finger' in n)
    assert width == pytest.approx(0.08, abs=0.003)


@pytest.fixture
def exec_rig(spawn, rclpy_node):
    """sim_node + executor_node on the action interfaces; returns (probe, executor)."""
    _interfaces()

    def start(*params: str):
        spawn('robot_r1_ros.ros.sim_node', '--ros-args', '-p', 'clock_epoch:=wall')
        args = ['--ros-args', '-r', '__ns:=/robot_r1', '-p', 'arm.interface:=action']
        for p in params:
            args += ['-p', p]
        executor = spawn('robot_r1_ros.ros.executor_node', *args)
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


def test_executor_without_arm_action_server_fails_with_the_name(spawn, rclpy_node):
    _interfaces()
    spawn(str(Path(__file__).resolve().parents[1] / 'peers' / 'executor_fake_robot.py'))
    executor = spawn('robot_r1_ros.ros.executor_node', '--ros-args', '-r', '__ns:=/robot_r1',
                     '-p', 'gripper.interface:=topic')
    probe = ExecutorProbe(rclpy_node('executor_noserver_test'))
    assert probe.wait_ready(30.0), executor.output()[-3000:]
    probe.send(probe.prediction([0.45, 0.1, 0.3]))
    assert probe.wait_state(lambda s: s.state == s.STATE_FAILED, 20.0), executor.output()[-3000:]
    assert 'action server /panda_arm_controller/follow_joint_trajectory is not available' in \
        probe.last_state().reason
