"""Experiment E20 (issue 13): questions at the moments the closed loop asks, from many scenes.

The closed loop (``training.closed_loop``, the node's step) asks for the next keypoint when the
arm has stopped: at home, then after each reached keypoint. The demos' datasets ask mostly in
between, and with 32 training episodes the language model memorises each episode's positions
(E15). This tool runs the scripted expert in ``--scenes`` freshly reset ``pick_place`` scenes
and records, at the start and after each expert waypoint, the camera frame, the TCP as the node
reads it (core FK of the joint state), the gripper state and every object's position. Each
scene becomes one ``core.qa.Episode`` whose frames are those moments and whose keyframes are
the dataset's (every waypoint but ``lifted``, where the demos' arm does not stop), and the
dataset's own code turns it into rows (``QABuilder`` -> ``training.dataset.sample_row``): the
same prompts, answers and reasoning as ``robot-r1 dataset``, for the tasks asked.

    python experiments/tools/scene_episodes.py --dataset outputs/tiny/dataset_ground \\
        --scenes 1000 --seeds vision_pretrain --out outputs/tiny/dataset_scene_keys

Rows are appended to ``--dataset``'s train split (``--only-scenes``: they replace it, so that no
demo episode is left to memorise); with ``--test`` they replace its test split instead (use an
evaluation seed range such as ``vision_test`` for that).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from robot_r1_ros.training.seeds import seed_range

_LOG = logging.getLogger('scene_episodes')
_SKIPPED_LABELS = ('lifted',)  # the demos' arm passes through without stopping: no keyframe


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


def scene_episode(scene: Any, task: Any, seed: int, prefix: str) -> tuple[Any, list] | None:
    """One expert rollout as a ``core.qa.Episode`` (frames = the moments), or None on failure."""
    from robot_r1_ros.core.qa import Episode
    from robot_r1_ros.sim.experts import CartesianController, plan
    from robot_r1_ros.sim.objects import object_names

    episode = task.reset(scene, int(seed))
    names = tuple(object_names(scene))
    frames = [_moment(scene, names)]
    ctl = CartesianController(scene)
    gripper_open = True
    for wp in plan(scene, task, episode):
        if wp.gripper_open != gripper_open:
            ctl.grip(wp.gripper_open)
            gripper_open = wp.gripper_open
        else:
            ctl.move_to(wp.xyz_base_m, wp.quat_wxyz, wp.speed_mps)
        if wp.label not in _SKIPPED_LABELS:
            ctl.wait(0.2)  # settle, as the executor reports REACHED only when still
            frames.append(_moment(scene, names))
    ctl.wait(0.3)
    if not task.success(scene, episode):
        return None
    images = [f[0] for f in frames]
    ep = Episode(episode_id=f'{prefix}_{seed:06d}', instruction=episode.instruction,
                 ee_xyz_base_m=np.stack([f[1] for f in frames]),
                 gripper_open=np.array([f[2] for f in frames]),
                 keyframes=tuple(range(1, len(frames))),
                 object_xyz_base_m={n: np.stack([f[3][n] for f in frames]) for n in names})
    return ep, images


def build_rows(scenes: int, seeds: str, tasks: tuple[str, ...], prefix: str,
               distractors: tuple[str, ...] = ('random', 'hard')) -> list[dict]:
    """Dataset rows of ``scenes`` expert rollouts from the ``seeds`` range."""
    import robot_r1_ros.sim  # noqa: F401  (MUJOCO_GL before mujoco)
    from robot_r1_ros.core.config import QAConfig, WorkspaceConfig
    from robot_r1_ros.core.qa import DistractorPool, QABuilder
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task
    from robot_r1_ros.training.dataset import POSITION_MCQ, sample_row

    task = make_task('pick_place')
    loaded = []
    with PandaScene() as scene:
        for seed in seed_range(seeds, scenes):
            got = scene_episode(scene, task, seed, prefix)
            if got is None:
                _LOG.warning('seed %d: the expert failed; skipped', seed)
                continue
            loaded.append(got)
            if len(loaded) % 50 == 0:
                _LOG.info('%d scenes rolled out', len(loaded))
    ws = WorkspaceConfig()
    base = QAConfig(tasks=tasks, frame_interval=1, drop_static=False)
    pool = DistractorPool.from_episodes([ep for ep, _ in loaded], base)
    rows = []
    for offset, kind in enumerate(distractors):
        kind_tasks = tuple(t for t in tasks if kind != 'hard' or t in POSITION_MCQ)
        if not kind_tasks:
            continue
        qa = base.replace(tasks=kind_tasks, distractor_kind=kind, seed=offset)
        builder = QABuilder(qa, qa.distractor_space(), ws.env_frame(), pool=pool)
        for ep, images in loaded:
            for sample in builder.build_episode(ep):
                rows.append(sample_row(sample, images[sample.image_index], 'pick_place'))
    return rows


def main() -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dataset', required=True, help='the dataset whose splits are kept')
    ap.add_argument('--scenes', type=int, default=500)
    ap.add_argument('--seeds', default='vision_pretrain', help='a training.seeds range name')
    ap.add_argument('--tasks', default='open_keypoint,object_position,next_waypoint')
    ap.add_argument('--test', action='store_true', help='replace the test split instead')
    ap.add_argument('--only-scenes', action='store_true', help='replace the train split')
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
    dsd = load_from_disk(args.dataset)
    feats = dsd['train'].features
    prefix = 'test_scene' if args.test else 'scene'
    rows = build_rows(args.scenes, args.seeds, tuple(args.tasks.split(',')), prefix)
    new = Dataset.from_list(rows, features=feats)
    splits = dict(dsd)
    if args.test:
        splits['test'] = new
    else:
        splits['train'] = new if args.only_scenes else concatenate_datasets([dsd['train'], new])
    DatasetDict(splits).save_to_disk(str(Path(args.out)))
    _LOG.info('%d rows from %d scenes (%s) -> %s (%s)', len(rows), args.scenes, args.seeds,
              args.out, 'test split' if args.test else 'added to train')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
