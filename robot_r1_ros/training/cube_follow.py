"""Does the first keypoint follow the cube? The image path's end-to-end probe (issue 13).

For each seed the sim task is reset and the reasoning node's own prediction step
(:func:`robot_r1_ros.model.step.predict_step`) answers the open keypoint on the start frame;
then only the task's cube is moved to another free place on the table and the same step answers
again. Between the two questions nothing but the image changes (the arm stays at home, the text,
the joint state and the other objects are the same), so a difference between the two answers can
only come from the image: a model that reads the scene puts its two first keypoints near the two
cube places; one that ignores it answers the same twice. This is also the test of the image path
itself: a wrong crop, colour order, resize or a stale frame breaks it for a model that sees.

Distances are in the table plane (x-y, base frame): a first keypoint sits above its cube.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from robot_r1_ros.model.step import StepSettings, predict_step


@dataclass(frozen=True)
class FollowSettings:
    """The probe's settings.

    Attributes:
        episodes: Seeds probed (the closed loop's first ones).
        min_move_m: The cube's second place is at least this far (x-y) from its first.
        near_m: A first keypoint this close (x-y) to its cube counts as on it.
        moved_m: Two answers this far apart (x-y) count as different.
    """

    episodes: int = 10
    min_move_m: float = 0.12
    near_m: float = 0.03
    moved_m: float = 0.01

    def __post_init__(self) -> None:
        if self.episodes < 0:
            raise ValueError(f'follow episodes must be >= 0, got {self.episodes}')
        if not 0.0 < self.near_m < self.min_move_m:
            raise ValueError(f'need 0 < near_m < min_move_m, got {self.near_m}, '
                             f'{self.min_move_m}')


def second_place_xy(task: Any, scene: Any, episode: Any, seed: int,
                    min_move_m: float) -> np.ndarray:
    """A free place (x-y, base frame) for the task's cube, deterministic per seed: inside the
    task's sampling box, as far from the other cubes and the zone as the layout keeps them, and
    ``min_move_m`` from where the cube is now."""
    from robot_r1_ros.sim.objects import object_positions

    cube = episode.objects['object']
    here = object_positions(scene)
    start = np.asarray(here[cube][:2], float)
    others = [np.asarray(p[:2], float) for name, p in here.items()
              if name != cube and name.endswith('_cube')]
    zone = np.asarray(scene.marker_pos('target_zone')[:2], float)
    rng = np.random.default_rng([seed, 13])
    for _ in range(2000):
        xy = np.array([rng.uniform(*task.X_RANGE_M), rng.uniform(*task.Y_RANGE_M)])
        if (np.linalg.norm(xy - start) >= min_move_m
                and all(np.linalg.norm(xy - o) >= task.MIN_SEPARATION_M for o in others)
                and np.linalg.norm(xy - zone) >= 0.13):
            return xy
    raise RuntimeError(f'seed {seed}: no free second place for {cube}')  # pragma: no cover


def _answer_xy(rig: Any, reasoner: Any, step_settings: StepSettings,
               instruction: str) -> tuple[np.ndarray | None, str]:
    result = predict_step(reasoner, rig.observe(instruction), step_settings)
    if result.keypoint is None:
        return None, result.status.name
    return np.asarray(result.keypoint.xyz_base_m[:2], float), result.status.name


def follow_episode(rig: Any, reasoner: Any, step_settings: StepSettings, task: Any,
                   seed: int, settings: FollowSettings) -> dict[str, Any]:
    """One seed: the first keypoint with the cube where the task put it, then moved."""
    scene = rig.scene
    episode = task.reset(scene, seed)
    cube = episode.objects['object']
    cube_a, quat = scene.cube_pose(cube)
    kp_a, status_a = _answer_xy(rig, reasoner, step_settings, episode.instruction)
    xy_b = second_place_xy(task, scene, episode, seed, settings.min_move_m)
    yaw = 2.0 * float(np.arctan2(quat[3], quat[0]))
    scene.set_cube_pose(cube, (xy_b[0], xy_b[1], cube_a[2]), yaw)
    scene.forward()
    scene.settle(0.2)
    cube_b = scene.cube_pose(cube)[0]
    kp_b, status_b = _answer_xy(rig, reasoner, step_settings, episode.instruction)
    cubes = [np.asarray(cube_a[:2], float), np.asarray(cube_b[:2], float)]
    rec: dict[str, Any] = {
        'seed': seed, 'object': cube, 'status': [status_a, status_b],
        'cube_xy_m': [[round(float(v), 4) for v in c] for c in cubes],
        'keypoint_xy_m': [None if k is None else [round(float(v), 4) for v in k]
                          for k in (kp_a, kp_b)],
        'cube_moved_cm': round(float(np.linalg.norm(cubes[1] - cubes[0])) * 100, 2)}
    if kp_a is None or kp_b is None:
        rec.update(answered=False, follows=False)
        return rec
    errors = [float(np.linalg.norm(k - c)) for k, c in zip((kp_a, kp_b), cubes)]
    shift = cubes[1] - cubes[0]
    rec.update(
        answered=True,
        to_cube_cm=[round(e * 100, 2) for e in errors],
        keypoint_moved_cm=round(float(np.linalg.norm(kp_b - kp_a)) * 100, 2),
        # 1: the answer moved with the cube; 0: it stayed (the component along the cube's move).
        along=round(float(np.dot(kp_b - kp_a, shift) / np.dot(shift, shift)), 3),
        follows=bool(max(errors) <= settings.near_m
                     and np.linalg.norm(kp_b - kp_a) >= settings.moved_m))
    return rec


def follow_summary(episodes: Sequence[dict[str, Any]], settings: FollowSettings
                   ) -> dict[str, Any]:
    """Counts and medians over :func:`follow_episode` records."""
    answered = [e for e in episodes if e['answered']]

    def median(values: list[float]) -> float | None:
        return round(float(np.median(values)), 3) if values else None

    return {
        'episodes': len(episodes), 'answered': len(answered),
        'follows': sum(e['follows'] for e in episodes),
        'answer_moved': sum(e['keypoint_moved_cm'] >= settings.moved_m * 100 for e in answered),
        'median_along': median([e['along'] for e in answered]),
        'median_to_cube_cm': median([x for e in answered for x in e['to_cube_cm']]),
        'near_m': settings.near_m, 'min_move_m': settings.min_move_m,
        'per_episode': list(episodes)}


def cube_follow(rig: Any, reasoner: Any, step_settings: StepSettings, task: Any,
                seeds: Sequence[int], settings: FollowSettings) -> dict[str, Any]:
    """The probe on ``seeds`` (see the module docstring); the rig's scene is reset per seed."""
    return follow_summary([follow_episode(rig, reasoner, step_settings, task, s, settings)
                           for s in seeds], settings)
