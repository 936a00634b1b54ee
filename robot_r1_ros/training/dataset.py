"""``robot-r1 dataset``: rosbag2 demonstrations -> keypoint QA -> a Hugging Face dataset on disk.

    robot-r1 dataset --bags data/demos --out outputs/dataset [--val-frac 0.1 --test-frac 0.1]
                     [--seed 0] [--tasks next_waypoint,current_state,movement,open_keypoint]
                     [--frame-interval 5] [--keyframe-method hysteresis] [--qa-config YAML]

Pipeline, all of it the core's or the sim's code:

1. every bag under ``--bags`` (sim recorder bags or ``ros2 bag record`` bags with the topics in
   :mod:`robot_r1_ros.sim.recording`) is read by ``sim.recording.read_episode``;
2. one frame per camera image: the nearest joint state gives the TCP position
   (``core.geometry.panda_fk``) and joint velocities, the gripper command (or finger width) the
   open flag -> ``core.qa.Episode``;
3. episodes are split by episode into train / validation / test with a fixed seed (stratified by
   task, so every split has every task when there are enough episodes);
4. ``core.qa`` finds the keyframes and builds the questions of every task with balanced answer
   letters. Multiple-choice position tasks are built twice in every split: with the paper's
   random workspace distractors (``distractor_kind='random'``) and with hard ones, same-phase
   positions of other *training* episodes (``'hard'``). Movement questions have their own
   adjacent-label distractors and open-ended ones none (``distractor_kind=''``);
5. rows are written with ``datasets`` (``save_to_disk``): the image, the prompt messages exactly
   as the reasoning node builds them, the reward columns (``QASample.reward_columns``) and the
   provenance of every question. ``build_info.json`` records the bags of each split and the
   settings; the command prints per-task counts and the answer-letter balance.

Columns (one row per question):

====================  =====================================================================
``prompt``            chat messages (system + user with one ``{'type': 'image'}`` slot)
``image``             the camera frame (PNG)
``task_kind``         ``next_waypoint`` / ``current_state`` / ``movement`` / ``open_keypoint``
``answer_letter``     ``'A'``..``'D'`` (multiple choice) or None     (reward column)
``target_xyz_env_m``  next keypoint, env frame, metres (open task) or None (reward column)
``target_gripper``    ``'open'`` / ``'closed'`` (open task) or None   (reward column)
``answer_text``       canonical answer (``[[B]]`` / ``[x, y, z] open``)
``gold_think``        scripted reasoning for the SFT warm-up (``core.qa.template_reasoning``)
``options``           the four option texts in letter order ([] for the open task)
``distractor_kind``   ``random`` / ``hard`` / '' (see step 4)
``answer_xyz_env_m``  the position the correct answer names (current or next), env frame
``next_xyz_env_m``    the next keypoint, env frame, for every row (analysis)
``current_xyz_env_m`` TCP position at the frame, env frame
``target_xyz_base_m`` next keyframe's TCP position, base frame (closed-loop analysis)
``episode_id`` ``task_name`` ``instruction`` ``frame_index`` ``keyframe_index`` ``phase``
``current_gripper`` ``movement_parts``  provenance and analysis columns
====================  =====================================================================
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from robot_r1_ros.core.config import QAConfig, WorkspaceConfig
from robot_r1_ros.core.errors import BadInputError, ConfigError, RobotR1Error
from robot_r1_ros.core.geometry import panda_fk
from robot_r1_ros.core.qa import DistractorPool, Episode, QABuilder, template_reasoning
from robot_r1_ros.core.types import QASample, TaskKind
from robot_r1_ros.training import common
from robot_r1_ros.training.dataset_summary import format_summary, summarize

_LOG = logging.getLogger(__name__)

SPLITS = ('train', 'validation', 'test')
POSITION_MCQ = (TaskKind.NEXT_WAYPOINT.value, TaskKind.CURRENT_STATE.value)
DEFAULT_FRAME_INTERVAL = 5
"""Frames (camera images) between observations before a keyframe. Sim bags have 10 images/s,
so 5 frames = 0.5 s; the paper's 10 frames were at RLBench's higher rate."""
DEFAULT_KEYFRAME_METHOD = 'hysteresis'
"""Servo-driven arms (the sim, a real Panda under a Cartesian controller) slow down gradually, so
ARM's single threshold fires several times per waypoint; see ``core.keyframes``."""


class DatasetBuildError(RobotR1Error):
    """No usable episode, or a split would be empty."""


@dataclass(frozen=True)
class LoadedEpisode:
    """A bag turned into a ``core.qa.Episode`` plus its images and provenance.

    Attributes:
        episode: The core episode (frames = camera images).
        images: (N, H, W, 3) uint8 RGB, indexed by the episode's image indices.
        task_name: Sim task name (bag metadata), or the instruction for robot bags.
        bag: Path of the bag.
        success: Recorded outcome, or None.
    """

    episode: Episode
    images: np.ndarray
    task_name: str
    bag: Path
    success: bool | None


def episode_from_bag(bag: str | os.PathLike, arm_joints: int = 7) -> LoadedEpisode:
    """Read one bag and express it at the camera rate.

    Args:
        bag: A rosbag2 folder (``metadata.yaml`` + MCAP / sqlite3 file).
        arm_joints: Number of arm joints at the start of ``/joint_states`` (Panda: 7).

    Raises:
        BagError: Unreadable bag or missing required topic (from ``sim.recording``).
        BadInputError: Fewer than two images, or joint states without arm joints.
    """
    from robot_r1_ros.sim.recording import read_episode

    data = read_episode(bag)
    if len(data.images) < 2:
        raise BadInputError(f'{bag}: need at least 2 images, got {len(data.images)}')
    names = list(data.joint_names)
    arm = [i for i, n in enumerate(names) if 'finger' not in n][:arm_joints]
    if len(arm) != arm_joints:
        raise BadInputError(f'{bag}: expected {arm_joints} arm joints in /joint_states, got '
                            f'{names}')
    idx = np.array([data.joint_index_at(int(t)) for t in data.image_stamps_ns])
    q = data.joint_positions[idx][:, arm]
    vel = data.joint_velocities[idx][:, arm]
    if np.isnan(vel).any():
        # A bag without velocities: differentiate the positions at the joint-state rate.
        t_s = data.joint_stamps_ns.astype(float) * 1e-9
        dq = np.gradient(data.joint_positions[:, arm], t_s, axis=0)
        vel = np.where(np.isnan(vel), dq[idx], vel)
    if np.isnan(q).any():
        raise BadInputError(f'{bag}: joint positions missing at some camera frames')
    xyz = np.array([panda_fk(qi)[0] for qi in q])
    grip = np.array([data.gripper_open_at(int(t)) for t in data.image_stamps_ns])
    task_name = data.metadata.get('robot_r1_ros.task') or data.instruction
    objects = {}
    if len(data.object_stamps_ns):
        # Object poses at each camera frame: the nearest recorded sample (the sim writes them
        # with the image, at the same stamp).
        near = np.abs(data.image_stamps_ns[:, None] - data.object_stamps_ns[None, :]).argmin(1)
        objects = {name: track[near] for name, track in data.object_xyz_base_m.items()}
    episode = Episode(episode_id=Path(bag).name, instruction=data.instruction,
                      ee_xyz_base_m=xyz, gripper_open=grip, joint_velocities=vel,
                      object_xyz_base_m=objects)
    return LoadedEpisode(episode, data.images, task_name, Path(bag), data.success)


def find_bags(roots: Sequence[str | os.PathLike]) -> list[Path]:
    """Bag folders (with ``metadata.yaml``) at or directly under each root, sorted, unique.

    Raises:
        DatasetBuildError: A root does not exist.
    """
    out: set[Path] = set()
    for root in roots:
        root = Path(root)
        if not root.exists():
            raise DatasetBuildError(f'no such bag folder: {root}')
        if (root / 'metadata.yaml').is_file():
            out.add(root)
        out.update(p.parent for p in root.glob('*/metadata.yaml'))
    return sorted(out)


def split_episodes(groups: dict[str, list[str]], val_frac: float, test_frac: float,
                   seed: int) -> dict[str, list[str]]:
    """Assign episode ids to splits, per group (task), with a fixed seed.

    Within each group the ids are sorted, shuffled with ``seed`` and cut: ``round(n * frac)``
    episodes for validation and test, at least one each when the group has three or more.

    Returns:
        ``{'train': [...], 'validation': [...], 'test': [...]}`` (each sorted).

    Raises:
        BadInputError: Fractions outside [0, 1) or summing to 1 or more.
    """
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise BadInputError(f'val_frac and test_frac must be in [0, 1) with a sum below 1, got '
                            f'{val_frac}, {test_frac}')
    rng = np.random.default_rng(seed)
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for group in sorted(groups):
        ids = sorted(groups[group])
        ids = [ids[i] for i in rng.permutation(len(ids))]
        n = len(ids)
        n_val = int(round(n * val_frac))
        n_test = int(round(n * test_frac))
        if n >= 3:
            n_val = max(n_val, 1 if val_frac > 0 else 0)
            n_test = max(n_test, 1 if test_frac > 0 else 0)
        n_val = min(n_val, max(n - 1, 0))
        n_test = min(n_test, max(n - 1 - n_val, 0))
        out['validation'] += ids[:n_val]
        out['test'] += ids[n_val:n_val + n_test]
        out['train'] += ids[n_val + n_test:]
    return {s: sorted(v) for s, v in out.items()}


def features() -> Any:
    """The ``datasets.Features`` of the QA rows (stable across splits, None-safe)."""
    from datasets import Features, Image, List, Value
    content = {'type': Value('string'), 'text': Value('string')}
    return Features({
        'prompt': List({'role': Value('string'), 'content': List(content)}),
        'image': Image(),
        'task_kind': Value('string'),
        'answer_letter': Value('string'),
        'target_xyz_env_m': List(Value('float64')),
        'target_gripper': Value('string'),
        'answer_text': Value('string'),
        'gold_think': Value('string'),
        'options': List(Value('string')),
        'distractor_kind': Value('string'),
        'answer_xyz_env_m': List(Value('float64')),
        'next_xyz_env_m': List(Value('float64')),
        'current_xyz_env_m': List(Value('float64')),
        'target_xyz_base_m': List(Value('float64')),
        'current_gripper': Value('string'),
        'movement_parts': List(Value('int32')),
        'episode_id': Value('string'),
        'task_name': Value('string'),
        'instruction': Value('string'),
        'frame_index': Value('int32'),
        'keyframe_index': Value('int32'),
        'phase': Value('int32'),
    })


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat messages in the column layout (content always a list of typed parts)."""
    out = []
    for message in messages:
        content = message['content']
        if isinstance(content, str):
            content = [{'type': 'text', 'text': content}]
        out.append({'role': message['role'],
                    'content': [{'type': p['type'], 'text': p.get('text')} for p in content]})
    return out


def sample_row(sample: QASample, image: Any, task_name: str) -> dict[str, Any]:
    """One dataset row of a QA sample (see the module docstring for the columns).

    ``image``: an RGB array, or a PIL image or an encoded image (``{'bytes': PNG, 'path':
    None}``, :func:`training.scene_data.png_image`) that is used as it is (so the rows of one
    frame can share one image instead of a copy each).
    """
    from PIL import Image
    row = dict(sample.reward_columns())
    extra = sample.extra
    if not isinstance(image, (Image.Image, dict)):
        image = Image.fromarray(np.asarray(image, np.uint8))
    row.update(
        prompt=_messages(sample.messages), image=image,
        answer_text=sample.answer_text, gold_think=template_reasoning(sample),
        options=list(sample.options), distractor_kind=sample.distractor_kind,
        answer_xyz_env_m=_answer_position(sample),
        next_xyz_env_m=(list(sample.target_xyz_env_m) if sample.target_xyz_env_m is not None
                        else None),
        current_xyz_env_m=(list(sample.current_xyz_env_m)
                           if sample.current_xyz_env_m is not None else None),
        target_xyz_base_m=list(extra.get('target_xyz_base_m', ())) or None,
        current_gripper=extra.get('current_gripper'),
        movement_parts=list(extra.get('movement_parts', ())) or None,
        episode_id=sample.episode_id, task_name=task_name, instruction=sample.instruction,
        frame_index=sample.frame_index, keyframe_index=sample.keyframe_index, phase=sample.phase)
    return row


def _answer_position(sample: QASample) -> list[float] | None:
    """The position the correct answer names: the current one for ``current_state``, the next
    keypoint otherwise; None for movement questions (their answer is a phrase)."""
    if sample.kind is TaskKind.MOVEMENT:
        return None
    xyz = sample.current_xyz_env_m if sample.kind is TaskKind.CURRENT_STATE \
        else sample.target_xyz_env_m
    return list(xyz) if xyz is not None else None


@dataclass(frozen=True)
class BuildSettings:
    """Everything that decides the dataset's content (written to ``build_info.json``)."""

    qa: QAConfig
    workspace: WorkspaceConfig
    val_frac: float = 0.1
    test_frac: float = 0.1
    seed: int = 0
    train_distractors: tuple[str, ...] = ('random', 'hard')


def _split_samples(episodes: list[LoadedEpisode], settings: BuildSettings, split: str,
                   pool: DistractorPool) -> Iterator[tuple[QASample, LoadedEpisode]]:
    """The samples of one split: every task with random distractors, plus the position tasks
    again with hard ones (train: as ``train_distractors`` says)."""
    base_seed = settings.seed * 1000 + SPLITS.index(split) * 10
    kinds = ('random', 'hard') if split != 'train' else settings.train_distractors
    env_frame, distractor_space = settings.workspace.env_frame(), settings.qa.distractor_space()
    for offset, kind in enumerate(kinds):
        tasks = settings.qa.tasks
        if kind == 'hard':
            tasks = tuple(t for t in tasks if t in POSITION_MCQ)
        if not tasks:
            continue
        qa = settings.qa.replace(tasks=tasks, distractor_kind=kind, seed=base_seed + offset)
        builder = QABuilder(qa, distractor_space, env_frame, pool=pool)
        for loaded in episodes:
            for sample in builder.build_episode(loaded.episode):
                yield sample, loaded
        if builder.stats.get('hard_fallback'):
            _LOG.warning('%s/%s: %d questions fell back to random distractors (too few '
                         'same-phase positions)', split, kind, builder.stats['hard_fallback'])


def build_dataset(bags: Sequence[str | os.PathLike], out: str | os.PathLike,
                  settings: BuildSettings, overwrite: bool = False) -> dict[str, Any]:
    """Build and save the dataset; returns the ``build_info.json`` content.

    Raises:
        DatasetBuildError: No bags / usable episodes, or ``out`` exists (without overwrite).
    """
    from datasets import Dataset, DatasetDict

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise DatasetBuildError(f'{out} exists and is not empty (use --overwrite)')
    paths = find_bags(bags)
    if not paths:
        raise DatasetBuildError(f'no rosbag2 folders (with metadata.yaml) under {list(bags)}')
    loaded: list[LoadedEpisode] = []
    skipped: dict[str, str] = {}
    for path in paths:
        try:
            ep = episode_from_bag(path)
        except (RobotR1Error, ValueError, OSError) as exc:
            skipped[path.name] = str(exc)
            _LOG.warning('skipping %s: %s', path, exc)
            continue
        if ep.success is False:
            skipped[path.name] = 'recorded as failed'
            continue
        loaded.append(ep)
    if not loaded:
        raise DatasetBuildError('no usable episode in the bags')
    ids = [ep.episode.episode_id for ep in loaded]
    if len(set(ids)) != len(ids):
        raise DatasetBuildError('two bags have the same folder name (episode id); give each '
                                'episode its own name')
    groups: dict[str, list[str]] = collections.defaultdict(list)
    for ep in loaded:
        groups[ep.task_name].append(ep.episode.episode_id)
    assignment = split_episodes(groups, settings.val_frac, settings.test_frac, settings.seed)
    by_id = {ep.episode.episode_id: ep for ep in loaded}
    # Hard distractors always come from training episodes, so no split leaks into another.
    pool = DistractorPool.from_episodes([by_id[i].episode for i in assignment['train']],
                                        settings.qa)
    feats = features()
    splits = {}
    # Rows stream through a scratch cache next to the output (not the user's HF cache, and
    # never reused: a fresh fingerprint per build), so memory stays flat for large builds.
    scratch = Path(tempfile.mkdtemp(prefix='.build-', dir=out.parent if out.parent.exists()
                                    else None))
    for split in SPLITS:
        episodes = [by_id[i] for i in assignment[split]]
        if not episodes:
            continue

        def rows(episodes=episodes, split=split) -> Iterator[dict[str, Any]]:
            for sample, ep in _split_samples(episodes, settings, split, pool):
                image = ep.images[sample.image_index]
                yield sample_row(sample, image, ep.task_name)

        splits[split] = Dataset.from_generator(rows, features=feats, cache_dir=str(scratch),
                                               fingerprint=uuid.uuid4().hex, split=split)
    try:
        if 'train' not in splits or len(splits['train']) == 0:
            raise DatasetBuildError('the train split is empty (need more episodes)')
        dsd = DatasetDict(splits)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        dsd.save_to_disk(str(out))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    info = {
        'builder': 'robot_r1_ros.training.dataset',
        'created_unix_s': time.time(),
        'bags': [str(p) for p in paths],
        'skipped': skipped,
        'splits': {s: {'episodes': assignment[s],
                       'rows': len(splits[s]) if s in splits else 0} for s in SPLITS},
        'settings': {'qa': settings.qa.to_dict(), 'workspace': settings.workspace.to_dict(),
                     'val_frac': settings.val_frac, 'test_frac': settings.test_frac,
                     'seed': settings.seed,
                     'train_distractors': list(settings.train_distractors)},
        'summary': summarize(dsd),
    }
    (out / 'build_info.json').write_text(json.dumps(info, indent=2, default=str) + '\n',
                                         encoding='utf-8')
    return info


def settings_from_args(args: argparse.Namespace) -> BuildSettings:
    """Build settings from the command line (and the optional ``--qa-config`` YAML)."""
    import yaml
    raw: dict[str, Any] = {}
    if args.qa_config:
        try:
            raw = yaml.safe_load(Path(args.qa_config).read_text(encoding='utf-8')) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f'cannot read {args.qa_config}: {exc}', 'qa_config') from None
        if not isinstance(raw, dict):
            raise ConfigError(f'{args.qa_config} must be a mapping with qa: / workspace:',
                              'qa_config')
    qa_raw = dict(raw.get('qa') or {})
    qa_raw.setdefault('frame_interval', DEFAULT_FRAME_INTERVAL)
    qa_raw.setdefault('keyframe_method', DEFAULT_KEYFRAME_METHOD)
    if args.tasks:
        qa_raw['tasks'] = tuple(TaskKind.parse(t).value for t in args.tasks.split(','))
    if args.frame_interval is not None:
        qa_raw['frame_interval'] = args.frame_interval
    if args.keyframe_method is not None:
        qa_raw['keyframe_method'] = args.keyframe_method
    qa_raw['seed'] = args.seed
    qa = QAConfig.from_dict(qa_raw)
    workspace = WorkspaceConfig.from_dict(raw.get('workspace') or {})
    train_d = tuple(x for x in args.train_distractors.split(',') if x)
    bad = [x for x in train_d if x not in ('random', 'hard')]
    if bad or not train_d:
        raise ConfigError(f'--train-distractors takes random,hard or one of them, got '
                          f'{args.train_distractors!r}', 'train_distractors')
    return BuildSettings(qa=qa, workspace=workspace, val_frac=args.val_frac,
                         test_frac=args.test_frac, seed=args.seed, train_distractors=train_d)


def build_parser() -> argparse.ArgumentParser:
    """Command-line arguments of ``robot-r1 dataset``."""
    p = argparse.ArgumentParser(prog='robot-r1 dataset', description=__doc__.split('\n\n')[0])
    p.add_argument('--bags', nargs='+', required=True,
                   help='bag folders, or folders holding one bag per episode')
    p.add_argument('--out', required=True, help='output folder (datasets save_to_disk)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing output')
    p.add_argument('--val-frac', type=float, default=0.1, help='validation episodes share')
    p.add_argument('--test-frac', type=float, default=0.1, help='test episodes share')
    p.add_argument('--seed', type=int, default=0, help='split and question seed')
    p.add_argument('--tasks', default='',
                   help='comma-separated task kinds (default: the paper\'s four; the grounding '
                        'questions object_position,object_choice are opt-in)')
    p.add_argument('--frame-interval', type=int, default=None,
                   help=f'images between observations (default {DEFAULT_FRAME_INTERVAL})')
    p.add_argument('--keyframe-method', choices=('arm', 'hysteresis'), default=None,
                   help=f'keyframe detector (default {DEFAULT_KEYFRAME_METHOD})')
    p.add_argument('--train-distractors', default='random,hard',
                   help='distractor kinds of the train split (random,hard | random | hard)')
    p.add_argument('--qa-config', help='YAML with optional qa: and workspace: sections '
                                       '(core.config.QAConfig / WorkspaceConfig fields)')
    p.add_argument('--log-level', default='WARNING')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``robot-r1 dataset`` entry point."""
    args = build_parser().parse_args(argv)
    common.configure_logging(args.log_level)
    t0 = time.monotonic()
    try:
        settings = settings_from_args(args)
        info = build_dataset(args.bags, args.out, settings, overwrite=args.overwrite)
    except RobotR1Error as exc:
        return common.cli_error('robot-r1 dataset', exc)
    print(format_summary(info['summary']))
    if info['skipped']:
        print(f'skipped {len(info["skipped"])} bag(s): '
              + '; '.join(f'{k}: {v}' for k, v in info['skipped'].items()))
    print(f'wrote {args.out} in {time.monotonic() - t0:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
