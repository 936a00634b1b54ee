"""Scripted experts solve every task; joint trajectory validation (the sim node's checks)."""
from __future__ import annotations

import numpy as np
import pytest

from robot_r1_ros.sim.experts import run_expert
from robot_r1_ros.sim.scene import ARM_JOINTS, HOME_Q_RAD, PandaScene
from robot_r1_ros.sim.tasks import make_task, task_names
from robot_r1_ros.sim.trajectory import TrajectoryError, validate_trajectory


@pytest.fixture(scope='module')
def scene():
    with PandaScene() as sc:
        yield sc


@pytest.mark.parametrize('task_name', task_names())
def test_expert_succeeds(scene, task_name):
    task = make_task(task_name)
    for seed in (0, 1):
        episode = task.reset(scene, seed)
        steps = []
        result = run_expert(scene, task, episode, on_step=lambda s: steps.append(s.time_s))
        assert result.success, (task_name, seed, result.error)
        assert result.n_steps == len(steps) > 50
        assert len(result.keyframe_steps) == len(result.waypoints) >= 2
        assert task.success(scene, episode)


def test_expert_failure_is_reported_not_raised(scene):
    """A cube moved out of reach after reset: the expert reports failure with a reason."""
    task = make_task('pick_lift')
    episode = task.reset(scene, 0)
    scene.set_cube_pose(episode.objects['object'], (1.4, 0.0, 0.02))
    scene.forward()
    result = run_expert(scene, task, episode)
    assert not result.success and 'out of reach' in result.error


def _traj(**kw):
    args = dict(joint_names=list(ARM_JOINTS), positions=[HOME_Q_RAD + 0.1],
                times_from_start_s=[1.0], current_q_rad=HOME_Q_RAD, start_s=5.0)
    args.update(kw)
    return validate_trajectory(**args)


def test_valid_trajectory_interpolates_and_holds():
    names = list(reversed(ARM_JOINTS))
    plan = _traj(joint_names=names, positions=[(HOME_Q_RAD + 0.1)[::-1],
                                               (HOME_Q_RAD + 0.2)[::-1]],
                 times_from_start_s=[1.0, 2.0])
    np.testing.assert_allclose(plan.sample(5.0), HOME_Q_RAD)
    np.testing.assert_allclose(plan.sample(5.5), HOME_Q_RAD + 0.05)
    np.testing.assert_allclose(plan.sample(6.5), HOME_Q_RAD + 0.15)
    np.testing.assert_allclose(plan.sample(99.0), HOME_Q_RAD + 0.2)
    assert plan.end_s == 7.0
    cubic = _traj(velocities=[np.zeros(7)])
    np.testing.assert_allclose(cubic.sample(5.5), HOME_Q_RAD + 0.05)   # symmetric Hermite


@pytest.mark.parametrize('kwargs, reason', [
    (dict(joint_names=[f'joint{i}' for i in range(7)]), 'unknown joint'),
    (dict(joint_names=list(ARM_JOINTS[:6]), positions=[HOME_Q_RAD[:6]]), 'missing joints'),
    (dict(joint_names=list(ARM_JOINTS[:6]) + ['panda_joint1']), 'duplicate'),
    (dict(positions=[np.full(7, np.nan)]), 'NaN'),
    (dict(positions=[HOME_Q_RAD + np.array([0, 0, 0, 3.0, 0, 0, 0])]), 'beyond its limits'),
    (dict(positions=[HOME_Q_RAD, HOME_Q_RAD + 0.1], times_from_start_s=[1.0, 1.0]),
     'strictly increasing'),
    (dict(positions=[HOME_Q_RAD, HOME_Q_RAD + 0.1], times_from_start_s=[2.0, 1.0]),
     'strictly increasing'),
    (dict(positions=[HOME_Q_RAD + 1.0], times_from_start_s=[0.1]), 'rad/s'),
    (dict(positions=[], times_from_start_s=[]), 'no points'),
    (dict(positions=[HOME_Q_RAD[:5]]), 'positions for'),
])
def test_malformed_trajectories_are_rejected(kwargs, reason):
    with pytest.raises(TrajectoryError, match=reason):
        _traj(**kwargs)


def test_pick_place_succeeds_at_the_release_not_while_the_cube_is_held(scene):
    """A cube lowered into the zone is placed once the fingers let go (E98's closed loop had
    counted it while still gripped, one keypoint before the release)."""
    from robot_r1_ros.sim.experts import CartesianController, plan
    from robot_r1_ros.sim.ik import get_kinematics

    task = make_task('pick_place')
    episode = task.reset(scene, 0)
    waypoints = plan(scene, task, episode)
    release = next(i for i, wp in enumerate(waypoints) if wp.label == 'release')
    ctl = CartesianController(scene, get_kinematics(scene))
    gripper_open = True
    for wp in waypoints[:release]:
        if wp.gripper_open != gripper_open:
            ctl.grip(wp.gripper_open)
            gripper_open = wp.gripper_open
        else:
            ctl.move_to(wp.xyz_base_m, wp.quat_wxyz, wp.speed_mps)
    ctl.wait(0.3)
    # in the zone, resting height, still between the closed fingers
    assert task._in_zone(scene, episode.objects['object'])
    assert not task.success(scene, episode)
    ctl.grip(True)
    ctl.wait(0.3)
    assert task.success(scene, episode)
