"""A dataset from randomised sim scenes, asked at the moments the closed loop asks (issue 13).

The closed loop (``training.closed_loop``, the node's step) asks for the next keypoint when the
arm has stopped: at home, then after each reached keypoint. Recorded demos ask mostly in
between, and with a few dozen episodes the language model memorises each episode's positions.
Here the scripted expert runs in many freshly reset ``pick_place`` scenes and, at the start and
after each expert waypoint, the camera frame, the TCP as the node reads it (core FK of the joint
state), the gripper state and every object's position are recorded. Each scene becomes one
``core.qa.Episode`` whose frames are those moments and whose keyframes are every waypoint but
``lifted`` (where a demo's arm does not stop); the dataset's own code turns it into rows
(``QABuilder`` -> ``training.dataset.sample_row``): the same prompts, answers and reasoning as
``robot-r1 dataset``.

Splits come from disjoint seed ranges (``training.seeds``): train from ``vision_pretrain``,
validation from ``scene_validation`` (both training-side), test from ``vision_test`` (never
trained on). ``keep_still`` keeps only that share of the open-keypoint train rows whose target
keeps the gripper's x-y (go down, close, lift, release: the answer copies the stated gripper
position), so that most open keypoints are the ones the image decides (experiment E28).
``start_scenes`` adds train scenes asked at the start only (:func:`start_episode`: no rollout,
the expert's first waypoint as the open keypoint's target): the closed loop's first keypoint, the
grasp that decides an episode, is asked at the start, and more layouts there cost a render each.

    python -m robot_r1_ros.training.scene_data --out outputs/scenes/dataset \\
        --train-scenes 600 --validation-scenes 20 --test-scenes 30 --keep-still 0.25
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.training.seeds import seed_range

_LOG = logging.getLogger(__name__)
SKIPPED_LABELS = ('lifted',)
"""Expert waypoints the demos' arm passes through without stopping: no keyframe there."""
MOVE_M = 0.01
"""An open keypoint "moves" when its target is more than this far from the gripper in x-y."""
DEFAULT_TASKS = ('open_keypoint', 'object_position', 'next_waypoint')
SPLIT_SEEDS = {'train': 'vision_pretrain', 'validation': 'scene_validation',
               'test': 'vision_test'}
"""Seed range (``training.seeds``) of each split."""


@dataclass(frozen=True)
class SceneDataConfig:
    """How many scenes each split rolls out, and which rows it keeps.

    Attributes:
        train_scenes: Expert rollouts for the train split.
        validation_scenes: Rollouts for the validation split (the curriculum's quick eval).
        test_scenes: Rollouts for the test split (``robot-r1 eval``; seeds never trained on).
        tasks: Question kinds asked (``core.qa`` task names).
        keep_still: Share of the train split's open-keypoint rows that keep the gripper's x-y.
        seed: Seed of the ``keep_still`` draw.
        start_scenes: Extra train scenes asked at the start only (:func:`start_episode`),
            seeded after the ``train_scenes``.
        skip_scenes: Train seeds skipped at the start of the range, so that a second dataset
            rolls out layouts the first one did not.
        ask_lifted: Also ask at the ``lifted`` moment (the arm stopped over the grasp with the
            cube in hand; not a keyframe: its target is the next one). The closed loop stops
            there when the model lifts first, which the demos never show.
        jitter_copies: Extra open-keypoint questions per train moment with the stated gripper
            position moved by up to ``jitter_m`` (same image, same target), because the
            executor reports a keypoint reached within its goal tolerance, not on it.
        jitter_m: Radius of that move (the direct backend's ``goal_tolerance_m``).
    """

    train_scenes: int = 600
    validation_scenes: int = 20
    test_scenes: int = 30
    tasks: tuple[str, ...] = DEFAULT_TASKS
    keep_still: float = 0.25
    seed: int = 28
    start_scenes: int = 0
    skip_scenes: int = 0
    ask_lifted: bool = False
    jitter_copies: int = 0
    jitter_m: float = 0.005

    def __post_init__(self) -> None:
        for name in ('train_scenes', 'validation_scenes', 'test_scenes'):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f'{name} must be >= 1, got {getattr(self, name)}', name)
        for name in ('start_scenes', 'skip_scenes', 'jitter_copies'):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f'{name} must be >= 0, got {getattr(self, name)}', name)
        if not 0.0 < float(self.jitter_m) <= 0.05:
            raise ConfigError(f'jitter_m must be in (0, 0.05] m, got {self.jitter_m}', 'jitter_m')
        if not 0.0 <= self.keep_still <= 1.0:
            raise ConfigError(f'keep_still must be in [0, 1], got {self.keep_still}', 'keep_still')
        from robot_r1_ros.core.types import TaskKind
        known = {t.value for t in TaskKind}
        bad = [t for t in self.tasks if t not in known]
        if bad or not self.tasks:
            raise ConfigError(f'unknown tasks {bad} (known: {", ".join(sorted(known))})',
                              'tasks')
        object.__setattr__(self, 'tasks', tuple(self.tasks))

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> 'SceneDataConfig':
        """Build from a recipe section; unknown keys are a ConfigError."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f'unknown scene data keys {unknown} (known: {sorted(known)})',
                              unknown[0])
        return cls(**values)

    def scenes(self, split: str) -> int:
        """Rollouts of one split."""
        return int(getattr(self, f'{split}_scenes'))


def _moment(scene: Any, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, bool, dict]:
    """Camera frame, TCP (node's reading), gripper open (node's rule), object positions now."""
    from robot_r1_ros.core.config import WorkspaceConfig
    from robot_r1_ros.core.reading import reading_from_joints
    from robot_r1_ros.model.step import Observation, StepSettings
    from robot_r1_ros.sim.objects import object_positions

    js = scene.joint_state()
    reading = reading_from_joints(js.name, js.position, js.stamp_s)
    obs = Observation(image_rgb=scene.render(), reading=reading, task='')
    settings = StepSettings.from_workspace_config(WorkspaceConfig())
    is_open = obs.gripper_state(settings).value == 'open'
    pos = object_positions(scene)
    return (obs.image_rgb, np.asarray(obs.current_xyz_base_m, float), is_open,
            {n: np.asarray(pos[n], float) for n in names})


def scene_episode(scene: Any, task: Any, seed: int, prefix: str, ask_lifted: bool = False,
                  jitter_copies: int = 0, jitter_m: float = 0.005
                  ) -> tuple[Any, list[np.ndarray], set[int]] | None:
    """One expert rollout as a ``core.qa.Episode`` (frames = the moments), its images and the
    frame indices that are jittered copies (see :class:`SceneDataConfig`), or None when the
    expert failed the task. Copies follow their moment and share its image; ``lifted`` (when
    asked) is a frame but not a keyframe, so both are asked for the next keyframe."""
    from robot_r1_ros.core.qa import Episode
    from robot_r1_ros.sim.experts import CartesianController, plan
    from robot_r1_ros.sim.objects import object_names

    rng = np.random.default_rng(int(seed))
    episode = task.reset(scene, int(seed))
    names = tuple(object_names(scene))
    moments = [(_moment(scene, names), True)]
    ctl = CartesianController(scene)
    gripper_open = True
    for wp in plan(scene, task, episode):
        if wp.gripper_open != gripper_open:
            ctl.grip(wp.gripper_open)
            gripper_open = wp.gripper_open
        else:
            ctl.move_to(wp.xyz_base_m, wp.quat_wxyz, wp.speed_mps)
        skipped = wp.label in SKIPPED_LABELS
        if not skipped or ask_lifted:
            ctl.wait(0.2)  # settle, as the executor reports REACHED only when still
            moments.append((_moment(scene, names), not skipped))
    ctl.wait(0.3)
    if not task.success(scene, episode):
        return None
    tcp, grip, objects, image_of, keys, copies = [], [], [], [], [], set()
    for i, ((_, xyz, is_open, objs), is_key) in enumerate(moments):
        if is_key and i:
            keys.append(len(tcp))
        for c in range(1 + (jitter_copies if i + 1 < len(moments) else 0)):
            if c:
                copies.add(len(tcp))
            tcp.append(xyz + (_ball(rng, jitter_m) if c else 0.0))
            grip.append(is_open)
            objects.append(objs)
            image_of.append(i)
    ep = Episode(episode_id=f'{prefix}_{seed:06d}', instruction=episode.instruction,
                 ee_xyz_base_m=np.stack(tcp), gripper_open=np.array(grip),
                 keyframes=tuple(keys), image_indices=np.array(image_of),
                 object_xyz_base_m={n: np.stack([o[n] for o in objects]) for n in names})
    return ep, [m[0][0] for m in moments], copies


def _ball(rng: np.random.Generator, radius_m: float) -> np.ndarray:
    """A uniform draw inside a ball of ``radius_m``."""
    v = rng.normal(size=3)
    return v / np.linalg.norm(v) * radius_m * rng.random() ** (1 / 3)


def start_episode(scene: Any, task: Any, seed: int, prefix: str
                  ) -> tuple[Any, list[np.ndarray]]:
    """One scene at its start as a ``core.qa.Episode`` of two frames: the start moment and the
    expert's first waypoint as planned (nothing has moved yet, so the objects stay put).

    Only the start frame has an image (``image_indices`` -1: no questions at the second); the
    planned waypoint stands for the reached TCP (the controller settles within millimetres of
    it, checked in the tests).
    """
    from robot_r1_ros.core.qa import Episode
    from robot_r1_ros.sim.experts import plan
    from robot_r1_ros.sim.objects import object_names

    episode = task.reset(scene, int(seed))
    names = tuple(object_names(scene))
    image, tcp_base_m, is_open, objects = _moment(scene, names)
    first = next(wp for wp in plan(scene, task, episode) if wp.label not in SKIPPED_LABELS)
    ep = Episode(episode_id=f'{prefix}_{seed:06d}', instruction=episode.instruction,
                 ee_xyz_base_m=np.stack([tcp_base_m, np.asarray(first.xyz_base_m, float)]),
                 gripper_open=np.array([is_open, bool(first.gripper_open)]),
                 keyframes=(1,), image_indices=np.array([0, -1]),
                 object_xyz_base_m={n: np.stack([objects[n], objects[n]]) for n in names})
    return ep, [image]


def png_image(image_rgb: np.ndarray) -> dict[str, Any]:
    """An RGB frame encoded once as the dataset stores it: the PNG bytes ``datasets`` writes for
    a PIL image (the same bytes, so the dataset is unchanged), for rows that share the frame.

    Why: ``datasets`` encodes each row's PIL image on its own, so every question of a frame
    paid a PNG encoding (about 6 ms): 11.4 of 29.9 CPU-s building the rows of 12 rollouts and
    60 start scenes."""
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image_rgb, np.uint8)).save(buffer, format='PNG')
    return {'bytes': buffer.getvalue(), 'path': None}


def episode_rows(loaded: Sequence[tuple[Any, list[np.ndarray]]], tasks: Sequence[str],
                 distractors: Sequence[str] = ('random', 'hard')) -> list[dict]:
    """Dataset rows (``training.dataset.sample_row``) of loaded ``(episode, images)`` pairs,
    hard distractors drawn from these episodes."""
    from robot_r1_ros.core.config import QAConfig, WorkspaceConfig
    from robot_r1_ros.core.qa import DistractorPool, QABuilder
    from robot_r1_ros.training.dataset import POSITION_MCQ, sample_row

    base = QAConfig(tasks=tuple(tasks), frame_interval=1, drop_static=False)
    pool = DistractorPool.from_episodes([ep for ep, _ in loaded], base)
    rows = []
    # One encoded image per frame, shared by all its rows: a copy per row was 9 GB at 60,000
    # rows, and an image per row was encoded per row.
    encoded = [[png_image(im) for im in images] for _, images in loaded]
    for offset, kind in enumerate(distractors):
        kind_tasks = tuple(t for t in tasks if kind != 'hard' or t in POSITION_MCQ)
        if not kind_tasks:
            continue
        qa = base.replace(tasks=kind_tasks, distractor_kind=kind, seed=offset)
        builder = QABuilder(qa, qa.distractor_space(), WorkspaceConfig().env_frame(), pool=pool)
        for (ep, _), frames in zip(loaded, encoded):
            for sample in builder.build_episode(ep):
                rows.append(sample_row(sample, frames[sample.image_index], 'pick_place'))
    return rows


def build_rows(scenes: int, seeds: str, tasks: Sequence[str], prefix: str,
               distractors: Sequence[str] = ('random', 'hard'), start_scenes: int = 0,
               skip_scenes: int = 0, ask_lifted: bool = False, jitter_copies: int = 0,
               jitter_m: float = 0.005) -> tuple[list[dict], list[int]]:
    """Dataset rows of ``scenes`` expert rollouts from the ``seeds`` range (after its first
    ``skip_scenes``), then of ``start_scenes`` scenes asked at the start only
    (:func:`start_episode`). Jittered copies are asked the open keypoint only.

    Returns:
        The rows, and the seeds whose rollout the expert failed (skipped, logged).
    """
    import robot_r1_ros.sim  # noqa: F401  (MUJOCO_GL before mujoco)
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task

    task = make_task('pick_place')
    loaded, failed, copies = [], [], set()
    every = seed_range(seeds, skip_scenes + scenes + start_scenes)
    with PandaScene() as scene:
        for seed in every[skip_scenes:skip_scenes + scenes]:
            got = scene_episode(scene, task, seed, prefix, ask_lifted, jitter_copies, jitter_m)
            if got is None:
                _LOG.warning('seed %d: the expert failed; skipped', seed)
                failed.append(int(seed))
                continue
            loaded.append(got[:2])
            copies |= {(got[0].episode_id, f) for f in got[2]}
            if len(loaded) % 50 == 0:
                _LOG.info('%s: %d scenes rolled out', prefix, len(loaded))
        for seed in every[skip_scenes + scenes:]:
            loaded.append(start_episode(scene, task, seed, f'{prefix}_start'))
    rows = [r for r in episode_rows(loaded, tasks, distractors)
            if r['task_kind'] == 'open_keypoint' or (r['episode_id'], r['frame_index']) not in copies]
    return rows, failed


def moving(target_xyz_env_m: Sequence[Sequence[float]],
           current_xyz_env_m: Sequence[Sequence[float]]) -> np.ndarray:
    """Boolean per row: target x-y farther than :data:`MOVE_M` from the current x-y."""
    target = np.asarray(target_xyz_env_m, float).reshape(-1, 3)[:, :2]
    current = np.asarray(current_xyz_env_m, float).reshape(-1, 3)[:, :2]
    return np.hypot(*(target - current).T) > MOVE_M


def keep_mask(task_kinds: Sequence[str], target_xyz_env_m: Sequence[Any],
              current_xyz_env_m: Sequence[Any], keep_still: float, seed: int) -> np.ndarray:
    """Rows to keep: every row of the other tasks, every open keypoint that moves in x-y, and a
    seeded ``keep_still`` share of the open keypoints that do not."""
    kinds = np.asarray(task_kinds)
    is_open = kinds == 'open_keypoint'
    moves = np.zeros(len(kinds), dtype=bool)
    idx = np.flatnonzero(is_open)
    if len(idx):
        moves[idx] = moving([target_xyz_env_m[i] for i in idx],
                            [current_xyz_env_m[i] for i in idx])
    draw = np.random.default_rng(seed).random(len(kinds)) < keep_still
    return ~is_open | moves | (is_open & draw)


def rows_dataset(rows: list[dict], chunk_rows: int = 2000) -> Any:
    """A ``datasets.Dataset`` of ``rows``, converted ``chunk_rows`` at a time: one
    ``Dataset.from_list`` over 600 scenes + 3,000 start scenes (~60,000 rows) was killed for
    memory at 15 GB beside a training run on a 24 GB machine."""
    from datasets import Dataset, concatenate_datasets

    from robot_r1_ros.training.dataset import features

    parts = [Dataset.from_list(rows[i:i + chunk_rows], features=features())
             for i in range(0, len(rows), chunk_rows)]
    if not parts:
        return Dataset.from_dict({name: [] for name in features()}, features=features())
    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def build_scene_dataset(cfg: SceneDataConfig, out: str | os.PathLike) -> dict[str, Any]:
    """Roll out every split's scenes and save the dataset (``save_to_disk`` layout) to ``out``.

    Returns:
        The summary also written to ``out/scene_data.json`` (seeds, rows, failed rollouts,
        seconds).
    """
    from datasets import DatasetDict

    t0 = time.time()
    splits = {}
    summary: dict[str, Any] = {'config': {**asdict(cfg), 'tasks': list(cfg.tasks)}, 'splits': {}}
    for split, seeds in SPLIT_SEEDS.items():
        train = split == 'train'
        rows, failed = build_rows(cfg.scenes(split), seeds, cfg.tasks,
                                  'scene' if train else f'{split}_scene',
                                  start_scenes=cfg.start_scenes if train else 0,
                                  skip_scenes=cfg.skip_scenes if train else 0,
                                  ask_lifted=cfg.ask_lifted and train,
                                  jitter_copies=cfg.jitter_copies if train else 0,
                                  jitter_m=cfg.jitter_m)
        ds = rows_dataset(rows)
        built = kept = len(ds)
        del rows
        if split == 'train':
            keep = keep_mask(ds['task_kind'], ds['target_xyz_env_m'], ds['current_xyz_env_m'],
                             cfg.keep_still, cfg.seed)
            ds = ds.select(np.flatnonzero(keep).tolist())
            kept = len(ds)
        splits[split] = ds
        scene_seeds = seed_range(seeds, cfg.skip_scenes * train + cfg.scenes(split))[
            cfg.skip_scenes * train:]
        summary['splits'][split] = {
            'seeds': seeds, 'first_seed': scene_seeds.start, 'scenes': cfg.scenes(split),
            'failed_seeds': failed, 'rows_built': built, 'rows': kept,
            'start_scenes': cfg.start_scenes if split == 'train' else 0}
        _LOG.info('%s: %d rows from %d scenes (%s seeds %d-%d; %d failed)', split, kept,
                  cfg.scenes(split), seeds, scene_seeds.start, scene_seeds.stop - 1,
                  len(failed))
    out = Path(out)
    DatasetDict(splits).save_to_disk(str(out))
    summary['seconds'] = round(time.time() - t0, 1)
    (out / 'scene_data.json').write_text(json.dumps(summary, indent=1))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build a scene dataset (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True, type=Path)
    defaults = SceneDataConfig()
    for split in SPLIT_SEEDS:
        p.add_argument(f'--{split}-scenes', type=int, default=defaults.scenes(split))
    p.add_argument('--tasks', default=','.join(defaults.tasks))
    p.add_argument('--keep-still', type=float, default=defaults.keep_still)
    p.add_argument('--seed', type=int, default=defaults.seed)
    p.add_argument('--start-scenes', type=int, default=defaults.start_scenes,
                   help='extra train scenes asked at the start only')
    p.add_argument('--skip-scenes', type=int, default=0,
                   help='train seeds skipped (new layouts for a second dataset)')
    p.add_argument('--ask-lifted', action='store_true', help='also ask at the lifted moment')
    p.add_argument('--jitter-copies', type=int, default=0,
                   help='open-keypoint copies per moment with the stated position jittered')
    p.add_argument('--jitter-m', type=float, default=defaults.jitter_m)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    try:
        cfg = SceneDataConfig(args.train_scenes, args.validation_scenes, args.test_scenes,
                              tuple(t for t in args.tasks.split(',') if t), args.keep_still,
                              args.seed, args.start_scenes, args.skip_scenes,
                              args.ask_lifted, args.jitter_copies, args.jitter_m)
    except ConfigError as exc:
        p.error(str(exc))
    summary = build_scene_dataset(cfg, args.out)
    _LOG.info('scene dataset -> %s in %.0f s', args.out, summary['seconds'])
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
