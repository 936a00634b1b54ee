"""Controller results decide a goal (no ROS): the direct backend against the MuJoCo Panda with
action-style tickets, and the mapping of FollowJointTrajectory / GripperCommand / franka_gripper
results to outcomes. Before the action interfaces, a goal was REACHED after a fixed gripper
time whatever the gripper did, and the arm's controller result was never read."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.commands import (CommandTicket, GripperConfig, TicketState,
                                          follow_joint_trajectory_outcome, franka_outcome,
                                          gripper_command_outcome)
from robot_r1_ros.motion.direct import DirectBackend, DirectBackendConfig
from robot_r1_ros.motion.types import MotionGoal, MotionState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scene_robot import SceneRobot  # noqa: E402


class TicketRobot:
    """SceneRobot whose arm/gripper callables hand out tickets the test resolves."""

    def __init__(self, robot: SceneRobot) -> None:
        self.robot = robot
        self.arm_tickets: list[CommandTicket] = []
        self.grip_tickets: list[CommandTicket] = []
        self.cancelled: list[str] = []

    def arm(self, traj):
        self.robot.on_trajectory(traj)
        ticket = CommandTicket('follow_joint_trajectory')
        ticket.set_canceller(lambda: self.cancelled.append('arm'))
        self.arm_tickets.append(ticket)
        return ticket

    def gripper(self, cmd):
        self.robot.on_gripper(cmd)
        ticket = CommandTicket('franka_gripper grasp')
        ticket.set_canceller(lambda: self.cancelled.append('gripper'))
        self.grip_tickets.append(ticket)
        return ticket


@pytest.fixture(scope='module')
def scene_robot() -> SceneRobot:
    return SceneRobot()


@pytest.fixture
def rig(scene_robot):
    scene_robot.scene.reset_home()
    scene_robot.plan, scene_robot.frozen = None, False
    scene_robot.trajectories.clear()
    scene_robot.gripper_cmds.clear()
    tr = TicketRobot(scene_robot)
    backend = DirectBackend(DirectBackendConfig(), tr.arm, tr.gripper)
    backend.update_joint_state(scene_robot.joint_state())
    return tr, backend


def step_until(tr: TicketRobot, backend: DirectBackend, cond, max_s: float = 15.0):
    robot = tr.robot
    end = robot.now_s + max_s
    progress = backend.poll(robot.now_s)
    while not cond(progress) and robot.now_s < end:
        robot.step()
        backend.update_joint_state(robot.joint_state())
        progress = backend.poll(robot.now_s)
    return progress


def goal(gripper=GripperState.OPEN, xyz=(0.5, 0.0, 0.2)):
    return MotionGoal(xyz, gripper, (0.0, 1.0, 0.0, 0.0))


def test_arm_error_code_fails_the_goal_with_its_name(rig):
    tr, backend = rig
    backend.start(goal(), tr.robot.now_s)
    tr.robot.step(10)
    ok, reason = follow_joint_trajectory_outcome('aborted', -4, 'shoulder_lift_joint off path')
    tr.arm_tickets[0].fail(reason)
    progress = step_until(tr, backend, lambda p: p.state is not MotionState.MOVING, 1.0)
    assert progress.state is MotionState.FAILED
    assert progress.reason == 'arm controller: PATH_TOLERANCE_VIOLATED: shoulder_lift_joint off path'
    assert tr.robot.gripper_cmds == []


def test_arm_arrival_waits_for_the_action_result(rig):
    tr, backend = rig
    backend.start(goal(), tr.robot.now_s)
    duration = tr.robot.trajectories[0].duration_s
    # The arm arrives, but the controller has not reported: still MOVING.
    progress = step_until(tr, backend, lambda p: False, duration + 1.0)
    assert progress.tcp_error_m < 0.005 and progress.state is MotionState.MOVING
    assert tr.robot.gripper_cmds == []                # the gripper waits for the arm too
    tr.arm_tickets[0].succeed()
    step_until(tr, backend, lambda p: len(tr.grip_tickets) == 1, 3.0)
    assert [c.width_m for c in tr.robot.gripper_cmds] == [0.08]
    tr.grip_tickets[0].succeed()
    progress = step_until(tr, backend, lambda p: p.state is not MotionState.MOVING, 1.0)
    assert progress.state is MotionState.REACHED, progress.reason


def test_arm_without_result_times_out_and_cancels(rig):
    tr, backend = rig
    backend.start(goal(), tr.robot.now_s)
    progress = step_until(tr, backend, lambda p: p.state is not MotionState.MOVING, 20.0)
    assert progress.state is MotionState.FAILED
    assert 'no result from the arm controller' in progress.reason
    assert tr.cancelled == ['arm']


def test_failed_grasp_fails_the_goal_and_the_next_grasp_is_sent_again(rig):
    tr, backend = rig
    backend.start(goal(GripperState.CLOSED), tr.robot.now_s)
    tr.arm_tickets[0].succeed()
    progress = step_until(tr, backend, lambda p: len(tr.grip_tickets) == 1, 10.0)
    assert progress.state is MotionState.MOVING       # gripper not answered yet
    ok, reason = franka_outcome('grasp', 'aborted', False, 'object not grasped: width 0.0002')
    tr.grip_tickets[0].fail(reason)
    progress = step_until(tr, backend, lambda p: p.state is not MotionState.MOVING, 1.0)
    assert progress.state is MotionState.FAILED
    assert progress.reason == 'grasp failed: object not grasped: width 0.0002'
    backend.start(goal(GripperState.CLOSED, (0.5, 0.0, 0.22)), tr.robot.now_s)
    tr.arm_tickets[1].succeed()
    step_until(tr, backend, lambda p: len(tr.grip_tickets) == 2, 10.0)
    assert len(tr.grip_tickets) == 2                  # not skipped as "already closed"
    tr.grip_tickets[1].succeed()
    progress = step_until(tr, backend, lambda p: p.state is not MotionState.MOVING, 1.0)
    assert progress.state is MotionState.REACHED


def test_gripper_without_result_times_out(rig):
    tr, backend = rig
    backend.cfg = DirectBackendConfig(gripper=GripperConfig(timeout_s=0.5))
    backend.start(goal(GripperState.CLOSED), tr.robot.now_s)
    tr.arm_tickets[0].succeed()
    progress = step_until(tr, backend, lambda p: p.state is not MotionState.MOVING, 10.0)
    assert progress.state is MotionState.FAILED
    assert progress.reason.startswith('gripper: no result within 0.5 s')
    assert tr.cancelled == ['gripper']


def test_ticket_resolves_once():
    t = CommandTicket('x')
    t.fail('first')
    t.succeed()
    assert (t.state, t.reason) == (TicketState.FAILED, 'first')


@pytest.mark.parametrize('status,code,text,expected', [
    ('succeeded', 0, '', (True, '')),
    ('aborted', -5, 'joint4 0.1 rad off', (False, 'arm controller: GOAL_TOLERANCE_VIOLATED: '
                                                   'joint4 0.1 rad off')),
    ('aborted', -2, '', (False, 'arm controller: INVALID_JOINTS')),
    ('rejected', 0, '', (False, 'arm controller rejected the trajectory')),
    ('canceled', 0, 'new goal', (False, 'arm trajectory canceled: new goal')),
])
def test_follow_joint_trajectory_outcomes(status, code, text, expected):
    assert follow_joint_trajectory_outcome(status, code, text) == expected


def test_gripper_command_outcomes():
    cfg = GripperConfig(interface='gripper_command')
    closed, opened = GripperState.CLOSED, GripperState.OPEN
    # Closed on nothing: the fingers meet (position is one finger: 0.0005 m -> 1 mm opening).
    ok, reason = gripper_command_outcome(cfg, closed, 'succeeded', 0.0005, True, False)
    assert not ok and reason.startswith('grasp failed: fingers closed to 1.0 mm')
    # Stalled on a 4 cm cube (gripper_action_controller aborts a stalled goal unless allowed).
    assert gripper_command_outcome(cfg, closed, 'aborted', 0.02, False, True) == (True, '')
    assert gripper_command_outcome(cfg, opened, 'succeeded', 0.04, True, False) == (True, '')
    assert not gripper_command_outcome(cfg, opened, 'aborted', 0.01, False, True)[0]
    assert gripper_command_outcome(cfg, closed, 'rejected', 0.0, False, False) == \
        (False, 'gripper command rejected')


def test_gripper_config_rejects_bad_values():
    with pytest.raises(ConfigError) as info:
        GripperConfig(interface='suction')
    assert info.value.field == 'interface'
    with pytest.raises(ConfigError) as info:
        GripperConfig(force_n=0.0)
    assert info.value.field == 'force_n'


def test_preempting_a_trajectory_the_arm_did_not_follow_starts_from_the_measured_arm(rig):
    """Topic interface, controller refused the first trajectory (no result to say so): the
    next plan must start where the arm is, or the controller refuses every later one too."""
    tr, backend = rig
    tr.robot.frozen = True                      # the arm does not follow (refused)
    backend = DirectBackend(DirectBackendConfig(), tr.robot.on_trajectory, tr.robot.on_gripper)
    backend.update_joint_state(tr.robot.joint_state())
    q0 = tr.robot.scene.arm_q().copy()
    backend.start(goal(xyz=(0.6, -0.2, 0.15)), tr.robot.now_s)
    tr.robot.step(100)                          # 2 s: the plan says the arm is far along
    backend.update_joint_state(tr.robot.joint_state())
    backend.start(goal(xyz=(0.45, 0.1, 0.3)), tr.robot.now_s)
    np.testing.assert_allclose(tr.robot.trajectories[-1].positions_rad[0], q0, atol=0.02)
