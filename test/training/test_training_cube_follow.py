"""The cube-follow probe (``training.cube_follow``): the real MuJoCo scene and the reasoning
node's prediction step, with two reference reasoners: one that reads the cube out of the very
image the step hands it (a positive control: it must follow), and one that answers a fixed place
(blind: it must not). A stale camera frame, one of the image-path bugs the probe exists to
catch, turns the seeing reasoner blind."""
from __future__ import annotations

import numpy as np
import pytest

from robot_r1_ros.core.types import GripperState
from robot_r1_ros.model.scripted import ScriptedReasoner
from robot_r1_ros.model.step import StepSettings
from robot_r1_ros.training.cube_follow import (FollowSettings, cube_follow, follow_episode,
                                               second_place_xy)

SEEDS = (100000, 100001, 100002)
APPROACH_Z_M = 0.14  # a first keypoint sits above the cube


class PixelReasoner(ScriptedReasoner):
    """Answers the open keypoint above the cube the instruction names, found by its colour in
    ``request.image_rgb`` and cast onto the table through the camera model: it knows nothing of
    the scene but the picture."""

    def __init__(self, camera, step_settings: StepSettings, cube_half_m: float) -> None:
        super().__init__('valid', gripper=GripperState.OPEN)
        self.camera, self.step_settings, self.cube_half_m = camera, step_settings, cube_half_m

    def _completion(self, request, call_index: int) -> str:
        from robot_r1_ros.core import parsing
        img = request.image_rgb.astype(int)
        r, g, b = img[..., 0], img[..., 1], img[..., 2]
        masks = {'red': (r > 1.5 * g) & (r > 1.5 * b) & (r > 60),
                 'green': (g > 1.3 * r) & (g > 1.3 * b) & (g > 60),
                 'blue': (b > 1.3 * r) & (b > 1.3 * g) & (b > 60)}
        colour = next(c for c in masks if f'the {c} cube' in request.instruction)
        rows, cols = np.nonzero(masks[colour])
        uv = np.array([[cols.mean() + 0.5, rows.mean() + 0.5]])
        # The pixel's ray, cut at the cube centre's height.
        near, far = self.camera.unproject(uv, [1.0])[0], self.camera.unproject(uv, [2.0])[0]
        d = (self.cube_half_m - near[2]) / (far[2] - near[2])
        xy = near[:2] + d * (far[:2] - near[:2])
        xyz_env = self.step_settings.env_frame.base_to_env([xy[0], xy[1], APPROACH_Z_M])
        return parsing.format_completion(self.reasoning,
                                         parsing.format_open_keypoint(xyz_env, self.gripper))


@pytest.fixture(scope='module')
def rig():
    from robot_r1_ros.core.config import WorkspaceConfig
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.training.closed_loop import SimRig
    scene = PandaScene()
    yield SimRig(scene, WorkspaceConfig().workspace())
    scene.close()


@pytest.fixture(scope='module')
def task():
    from robot_r1_ros.sim.tasks import make_task
    return make_task('pick_place')


def test_the_second_place_is_free_far_and_on_the_table(rig, task):
    from robot_r1_ros.sim.objects import object_positions
    for seed in SEEDS:
        episode = task.reset(rig.scene, seed)
        here = object_positions(rig.scene)
        cube = episode.objects['object']
        xy = second_place_xy(task, rig.scene, episode, seed, 0.12)
        assert np.linalg.norm(xy - here[cube][:2]) >= 0.12
        assert all(np.linalg.norm(xy - p[:2]) >= task.MIN_SEPARATION_M
                   for name, p in here.items() if name.endswith('_cube') and name != cube)
        assert task.X_RANGE_M[0] <= xy[0] <= task.X_RANGE_M[1]
        assert task.Y_RANGE_M[0] <= xy[1] <= task.Y_RANGE_M[1]
        assert np.array_equal(xy, second_place_xy(task, rig.scene, episode, seed, 0.12))


def test_a_reasoner_that_reads_the_image_follows_the_cube(rig, task):
    settings = StepSettings.from_workspace_config()
    seeing = PixelReasoner(rig.scene.camera, settings, rig.scene.cfg.cube_half_size_m)
    summary = cube_follow(rig, seeing, settings, task, SEEDS, FollowSettings())
    assert summary['episodes'] == summary['answered'] == summary['follows'] == len(SEEDS)
    assert 0.8 <= summary['median_along'] <= 1.2
    assert summary['median_to_cube_cm'] < 2.0
    for ep in summary['per_episode']:
        assert ep['cube_moved_cm'] >= 12.0 and ep['keypoint_moved_cm'] >= 10.0
        assert ep['status'] == ['OK', 'OK']


def test_a_blind_reasoner_and_a_stale_frame_do_not_follow(rig, task):
    settings = StepSettings.from_workspace_config()
    blind = ScriptedReasoner('valid', xyz_env_m=(0.1, 0.0, 0.2))
    summary = cube_follow(rig, blind, settings, task, SEEDS[:2], FollowSettings())
    assert summary['answered'] == 2 and summary['follows'] == 0
    assert summary['answer_moved'] == 0 and summary['median_along'] == 0.0

    class StaleCamera:  # hands the step the first frame it ever took
        def __init__(self, inner):
            self.inner, self.scene, self.frame = inner, inner.scene, None

        def observe(self, task_text):
            if self.frame is None:
                self.frame = self.inner.scene.render()
            return self.inner.observe(task_text, image_rgb=self.frame)

    seeing = PixelReasoner(rig.scene.camera, settings, rig.scene.cfg.cube_half_size_m)
    stale = follow_episode(StaleCamera(rig), seeing, settings, task, SEEDS[0], FollowSettings())
    assert stale['answered'] and not stale['follows'] and stale['keypoint_moved_cm'] == 0.0


def test_bad_follow_settings_are_refused():
    with pytest.raises(ValueError, match='episodes'):
        FollowSettings(episodes=-1)
    with pytest.raises(ValueError, match='near_m'):
        FollowSettings(near_m=0.2, min_move_m=0.12)


def test_the_closed_loop_report_carries_the_probe():
    from robot_r1_ros.training.closed_loop import ClosedLoopSettings, closed_loop
    from robot_r1_ros.training.eval_report import closed_loop_table
    report = closed_loop('scripted:echo', ClosedLoopSettings(
        episodes=1, max_keypoints=1, expert=False, follow_episodes=1), progress=False)
    follow = report['cube_follow']
    assert follow['episodes'] == 1 and follow['per_episode'][0]['seed'] == report['seeds'][0]
    assert follow['follows'] == 0  # echo answers where the arm is, not where the cube is
    assert 'Cube follow' in closed_loop_table(report)
    # echo keeps the arm where it is: no cube lifted, the one-keypoint budget ends the episode
    assert report['lifted_episodes'] == 0 and report['per_episode'][0]['lifted'] is False
    assert report['ended_by'] == {'success': 0, 'rejected': 0, 'no_keypoint': 0, 'budget': 1,
                                  'other': 0}
    assert ('lifted off the table in 0 of 1 episodes' in closed_loop_table(report)
            and 'the keypoint budget 1.' in closed_loop_table(report))


def test_ended_by_names_what_stopped_each_episode():
    from robot_r1_ros.training.closed_loop import ended_by
    base = {'success': False, 'rejected': 0, 'format_failures': 0, 'model_errors': 0,
            'keypoints': 3}
    episodes = [{**base, 'success': True}, {**base, 'rejected': 1}, {**base, 'model_errors': 1},
                {**base, 'format_failures': 1}, {**base, 'keypoints': 10}, base]
    assert ended_by(episodes, max_keypoints=10) == {
        'success': 1, 'rejected': 1, 'no_keypoint': 2, 'budget': 1, 'other': 1}


class PolicyReasoner(ScriptedReasoner):
    """A scripted pick-and-place read off the sim's own state (no image): above the cube, down,
    close, then either carry (up, over the zone, down) or slide along the table to the zone,
    and open. Each call answers the next keypoint of the list."""

    def __init__(self, scene, episode, settings: StepSettings, carry: bool) -> None:
        super().__init__('valid')
        from robot_r1_ros.sim.objects import object_positions
        cube = object_positions(scene)[episode.objects['object']]
        zone = scene.marker_pos('target_zone')
        grasp_z = float(scene.cfg.cube_half_size_m) + 0.002
        high = grasp_z + 0.12
        plan = [(cube[:2], high, 'open'), (cube[:2], grasp_z, 'open'),
                (cube[:2], grasp_z, 'closed')]
        if carry:
            plan += [(cube[:2], high, 'closed'), (zone[:2], high, 'closed')]
        plan += [(zone[:2], grasp_z + 0.004, 'closed'), (zone[:2], grasp_z + 0.004, 'open'),
                 (zone[:2], high, 'open')]
        self.keypoints = [(settings.env_frame.base_to_env([xy[0], xy[1], z]), GripperState(g))
                          for xy, z, g in plan]

    def _completion(self, request, call_index: int) -> str:
        from robot_r1_ros.core import parsing
        xyz, gripper = self.keypoints[min(call_index, len(self.keypoints) - 1)]
        return parsing.format_completion('scripted plan',
                                         parsing.format_open_keypoint(xyz, gripper))


def test_a_cube_slid_along_the_table_into_the_zone_is_no_pick_and_place(rig, task):
    """E100 closed its gripper on the cube and slid it to the zone at table height: the sim's
    end-state check held, but nothing was picked. The closed loop counts only a carried cube."""
    from robot_r1_ros.core.config import WorkspaceConfig
    from robot_r1_ros.training.closed_loop import ClosedLoopSettings, SimRig, _run_episode
    settings = StepSettings.from_workspace_config()
    loop = ClosedLoopSettings(episodes=1, max_keypoints=8, expert=False)
    seed = SEEDS[0]
    outcomes = {}
    for carry in (True, False):
        episode = task.reset(rig.scene, seed)
        policy = PolicyReasoner(rig.scene, episode, settings, carry)
        fresh = SimRig(rig.scene, WorkspaceConfig().workspace())  # as each closed-loop episode
        outcomes[carry] = _run_episode(fresh, policy, settings, task, episode, seed, loop, None)
    carried, slid = outcomes[True], outcomes[False]
    assert carried['success'] and carried['lifted'] and not carried['dragged']
    assert carried['keypoints'] == 7  # ends at the release
    assert slid['dragged'] and not slid['lifted'] and not slid['success']
    assert slid['keypoints'] == 8  # the budget: the sliding success was not taken
