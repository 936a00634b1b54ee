"""Direct backend against the real MuJoCo Panda (no ROS): IK, timing, arrival, gripper, hold."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.backend import MotionError
from robot_r1_ros.motion.direct import PREEMPT_LEAD_S, DirectBackend, DirectBackendConfig
from robot_r1_ros.motion.types import MotionGoal, MotionState

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scene_robot import SceneRobot  # noqa: E402


@pytest.fixture(scope='module')
def robot() -> SceneRobot:
    return SceneRobot()


@pytest.fixture
def rig(robot):
    robot.scene.reset_home()
    robot.plan, robot.frozen = None, False
    robot.trajectories.clear()
    robot.gripper_cmds.clear()
    backend = DirectBackend(DirectBackendConfig(), robot.on_trajectory, robot.on_gripper)
    backend.update_joint_state(robot.joint_state())
    return robot, backend


def run(robot: SceneRobot, backend: DirectBackend, max_s: float = 15.0, reading=None):
    """Step the scene until the backend leaves MOVING; returns the final progress.

    ``reading``: what the driver reports for a joint state (default: the state as measured)."""
    progress = backend.poll(robot.now_s)
    end = robot.now_s + max_s
    while progress.state is MotionState.MOVING and robot.now_s < end:
        robot.step()
        js = robot.joint_state()
        backend.update_joint_state(reading(js) if reading is not None else js)
        progress = backend.poll(robot.now_s)
    return progress


def down_quat(robot: SceneRobot) -> tuple[float, ...]:
    return tuple(robot.scene.tcp_pose()[1])


@pytest.mark.parametrize('target', [
    (0.50, -0.15, 0.10), (0.45, 0.20, 0.20), (0.60, 0.10, 0.05), (0.35, -0.25, 0.30),
    (0.70, 0.00, 0.25),
])
def test_direct_reaches_targets_in_the_sim(rig, target):
    robot, backend = rig
    backend.start(MotionGoal(target, GripperState.OPEN, down_quat(robot)), robot.now_s)
    progress = run(robot, backend)
    assert progress.state is MotionState.REACHED, progress.reason
    assert np.linalg.norm(robot.tcp() - target) < 0.005
    assert progress.tcp_error_m < 0.005
    # The trajectory started at the measured configuration and passed the sim's checks
    # (joint names, limits, strictly increasing times, velocities).
    traj = robot.trajectories[0]
    assert traj.time_from_start_s[0] == 0.0
    assert len(robot.trajectories) == 1


def test_direct_tcp_follows_a_straight_line(rig):
    robot, backend = rig
    start = robot.tcp().copy()
    target = np.array([0.55, 0.15, 0.15])
    backend.start(MotionGoal(tuple(target), GripperState.OPEN, down_quat(robot)), robot.now_s)
    off_line = []
    direction = (target - start) / np.linalg.norm(target - start)
    while backend.poll(robot.now_s).state is MotionState.MOVING:
        robot.step()
        backend.update_joint_state(robot.joint_state())
        rel = robot.tcp() - start
        off_line.append(np.linalg.norm(rel - rel @ direction * direction))
    assert max(off_line) < 0.01, f'{max(off_line) * 1e3:.1f} mm off the line'


def test_direct_gripper_command_after_arrival_and_only_on_change(rig):
    robot, backend = rig
    goal = MotionGoal((0.5, 0.0, 0.2), GripperState.CLOSED, down_quat(robot))
    backend.start(goal, robot.now_s)
    assert robot.gripper_cmds == []          # not before the arm arrives
    assert run(robot, backend).state is MotionState.REACHED
    assert [c.width_m for c in robot.gripper_cmds] == [0.0]
    assert robot.scene.gripper_width() < 0.01
    # Same gripper state again: no new command, no gripper wait.
    backend.start(MotionGoal((0.5, 0.0, 0.25), GripperState.CLOSED, down_quat(robot)),
                  robot.now_s)
    assert run(robot, backend).state is MotionState.REACHED
    assert len(robot.gripper_cmds) == 1
    backend.start(MotionGoal((0.5, 0.0, 0.25), GripperState.OPEN, down_quat(robot)),
                  robot.now_s)
    assert run(robot, backend).state is MotionState.REACHED
    assert [c.width_m for c in robot.gripper_cmds] == [0.0, 0.08]


def test_direct_unreachable_target_fails_before_moving(rig):
    robot, backend = rig
    with pytest.raises(MotionError, match='IK failed'):
        backend.start(MotionGoal((1.5, 0.0, 0.2), GripperState.OPEN, down_quat(robot)),
                      robot.now_s)
    assert robot.trajectories == []


def test_direct_needs_a_fresh_joint_state(robot):
    backend = DirectBackend(DirectBackendConfig(), robot.on_trajectory, robot.on_gripper)
    goal = MotionGoal((0.5, 0.0, 0.2), GripperState.OPEN)
    with pytest.raises(MotionError, match='no joint state'):
        backend.start(goal, robot.now_s)
    backend.update_joint_state(robot.joint_state())
    with pytest.raises(MotionError, match='old'):
        backend.start(goal, robot.now_s + 5.0)


def test_direct_times_out_when_the_arm_does_not_follow(rig):
    robot, backend = rig
    robot.frozen = True
    backend.start(MotionGoal((0.5, 0.1, 0.2), GripperState.OPEN, down_quat(robot)), robot.now_s)
    duration = robot.trajectories[0].duration_s
    progress = run(robot, backend, max_s=duration + 10.0)
    assert progress.state is MotionState.FAILED
    assert progress.reason.startswith('timeout')
    assert progress.elapsed_s == pytest.approx(duration + 3.0, abs=0.05)


def test_direct_reports_reached_only_when_the_arm_is_at_rest_on_the_goal(rig):
    # The next prediction reads the TCP right after REACHED. At the old settle speed (0.05 rad/s)
    # a grasp goal read 1.3-1.9 mm high, between the demos' grasp (z 0.022) and release (0.026)
    # heights; the recorded keyframes are taken at rest.
    robot, backend = rig
    backend.start(MotionGoal((0.55, 0.10, 0.142), GripperState.OPEN, down_quat(robot)),
                  robot.now_s)
    assert run(robot, backend).state is MotionState.REACHED
    grasp = np.array([0.55, 0.10, 0.022])
    backend.start(MotionGoal(tuple(grasp), GripperState.OPEN, down_quat(robot)), robot.now_s)
    progress = run(robot, backend)
    assert progress.state is MotionState.REACHED, progress.reason
    assert abs(robot.tcp()[2] - grasp[2]) < 0.001, robot.tcp()
    assert max(abs(v) for v in robot.joint_state().velocities_rad_s.values()) <= 0.01


def test_direct_timeout_says_when_the_joints_never_come_to_rest(rig):
    robot, backend = rig
    backend.start(MotionGoal((0.5, 0.1, 0.2), GripperState.OPEN, down_quat(robot)), robot.now_s)
    duration = robot.trajectories[0].duration_s

    def noisy(js):  # a driver whose velocities never read below 0.02 rad/s
        return type(js)(js.positions_rad, {k: 0.02 for k in js.velocities_rad_s}, js.stamp_s)

    progress = run(robot, backend, max_s=duration + 10.0, reading=noisy)
    assert progress.state is MotionState.FAILED
    assert 'joints not at rest: 0.020 rad/s' in progress.reason, progress.reason


def test_direct_preempt_continues_from_the_commanded_point(rig):
    robot, backend = rig
    backend.start(MotionGoal((0.6, -0.2, 0.15), GripperState.OPEN, down_quat(robot)),
                  robot.now_s)
    robot.step(40)
    backend.update_joint_state(robot.joint_state())
    # the new trajectory starts PREEMPT_LEAD_S ahead on the old one, its first point that far in
    # the future, so the follower interpolates from its own set-point whatever the latency
    old_plan, t0 = robot.plan, robot.now_s
    ahead = old_plan.sample(t0 + PREEMPT_LEAD_S)
    backend.start(MotionGoal((0.4, 0.2, 0.3), GripperState.OPEN, down_quat(robot)), robot.now_s)
    second = robot.trajectories[1]
    assert second.time_from_start_s[0] == pytest.approx(PREEMPT_LEAD_S)
    # (linear vs the follower's Hermite interpolation differ by well under 1 mrad)
    np.testing.assert_allclose(second.positions_rad[0], ahead, atol=1e-3)
    # ... and the follower takes it without a jump: over the lead its set-point stays on the
    # old path (a t=0 first point sent with any latency would jump back along it)
    assert robot.plan is not old_plan
    for t in np.linspace(t0, t0 + PREEMPT_LEAD_S, 6):
        assert np.max(np.abs(robot.plan.sample(t) - old_plan.sample(t))) < 0.01
    assert run(robot, backend).state is MotionState.REACHED
    assert np.linalg.norm(robot.tcp() - [0.4, 0.2, 0.3]) < 0.005


def test_direct_hold_stops_the_arm(rig):
    robot, backend = rig
    backend.start(MotionGoal((0.6, -0.2, 0.15), GripperState.OPEN, down_quat(robot)),
                  robot.now_s)
    robot.step(40)
    backend.update_joint_state(robot.joint_state())
    backend.hold(robot.now_s)
    hold = robot.trajectories[-1]
    assert hold.positions_rad.shape == (1, 7) and not hold.velocities_rad_s.any()
    assert backend.poll(robot.now_s).state is MotionState.IDLE
    robot.step(50)
    tcp_a = robot.tcp().copy()
    robot.step(50)
    assert np.linalg.norm(robot.tcp() - tcp_a) < 1e-4
    assert np.linalg.norm(robot.tcp() - [0.6, -0.2, 0.15]) > 0.05


@pytest.mark.parametrize('kwargs,field', [
    ({'velocity_scale': 0.0}, 'velocity_scale'),
    ({'acceleration_scale': 1.5}, 'acceleration_scale'),
    ({'goal_tolerance_m': -0.001}, 'goal_tolerance_m'),
    ({'joint_prefix': 'a b'}, 'joint_prefix'),
    ({'stop_time_s': 0.0}, 'stop_time_s'),
    ({'settle_timeout_s': float('nan')}, 'settle_timeout_s'),
])
def test_direct_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ConfigError) as info:
        DirectBackendConfig(**kwargs)
    assert info.value.field == field


def test_motion_goal_rejects_bad_values():
    from robot_r1_ros.core.errors import BadInputError
    with pytest.raises(BadInputError):
        MotionGoal((0.5, float('nan'), 0.2), GripperState.OPEN)
    with pytest.raises(BadInputError):
        MotionGoal((0.5, 0.0, 0.2), 'open')
    with pytest.raises(BadInputError):
        MotionGoal((0.5, 0.0, 0.2), GripperState.OPEN, quat_wxyz=(0.0, 0.0, 0.0, 0.5))
