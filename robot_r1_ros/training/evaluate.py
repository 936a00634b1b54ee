"""``robot-r1 eval``: held-out accuracy with baselines, open-ended L1, format failures, closed
loop.

    robot-r1 eval --model runs/tiny/grpo/final --dataset outputs/dataset --out runs/tiny/eval
                  [--split test] [--tasks ...] [--max-rows-per-group N] [--batch-size 16]
                  [--run-dir runs/tiny/sft runs/tiny/grpo] [--closed-loop-episodes 10]

Offline part, on one split of a ``robot-r1 dataset`` folder (held-out episodes: ``test``):

- every row's prompt (the node's exact messages) and image go through the checkpoint with
  greedy decoding and *no* answer constraint, so format failures are the model's own
  (``--constrained``: the reasoning node's answer-constrained decoding instead, to measure what
  a deployed node answers);
- scoring uses the training rewards themselves (``core.rewards``: ``format``,
  ``choice_accuracy``, ``position``, ``gripper``) and ``core.parsing``;
- per task and distractor kind (the paper's random ones and hard same-phase ones): accuracy,
  format-failure rate, mean reasoning length, the histogram of predicted letters, and the
  baselines of :mod:`~robot_r1_ros.training.baselines` (chance, best constant letter, text-only
  rule fitted on the train split); for the open-ended task the L1 error in cm and the gripper
  accuracy next to the text-only rule.

Closed-loop part (``--closed-loop-episodes N``): the MuJoCo scene, fixed seeds that no
recorded demo used, the reasoner the reasoning node uses (``model.reasoner.load_reasoner``) on
the open-ended task, and the executor node's logic (``motion.GoalExecutor`` +
``motion.DirectBackend``) moving the arm to each predicted keypoint (see :func:`closed_loop`);
the scripted expert's success on the same seeds stands beside it; ``--closed-loop-gif PATH``
writes one episode as an annotated GIF (camera frames, predicted keypoint, outcome).

Outputs in ``--out``: ``report.json`` (everything), ``report.md`` (the tables), and PNG plots:
``per_task_accuracy.png`` (bars with baselines), ``letter_histogram.png``, and, with
``--run-dir``, ``reward_curve.png`` and ``accuracy_curve.png`` from the runs' ``log.jsonl``.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from robot_r1_ros.core.config import GenerationOptions
from robot_r1_ros.core.errors import AnswerFormatError, ConfigError, RobotR1Error
from robot_r1_ros.core.parsing import (OPTION_LETTERS, parse_completion, parse_open_keypoint,
                                       parse_option)
from robot_r1_ros.core.rewards import REWARDS
from robot_r1_ros.core.types import TaskKind
from robot_r1_ros.training import baselines, common, image_gap, runlog, seeds

_LOG = logging.getLogger(__name__)

OPEN = TaskKind.OPEN_KEYPOINT.value
_NODE_GENERATION = GenerationOptions()
INVALID = 'invalid'
# Dataset columns that scoring and baselines read (everything but the prompt and image).
_META_COLUMNS = ('task_kind', 'answer_letter', 'target_xyz_env_m', 'target_gripper',
                 'answer_text', 'options', 'distractor_kind', 'answer_xyz_env_m',
                 'current_xyz_env_m', 'current_gripper', 'episode_id', 'frame_index',
                 'task_name')


@dataclass(frozen=True)
class EvalSettings:
    """How the offline evaluation runs.

    Attributes:
        split: Dataset split to evaluate (held-out episodes: ``test``).
        tasks: Task kinds to keep (empty: all).
        max_rows_per_group: Seeded subsample per (task, distractor kind) group; None = all.
        batch_size: Prompts per ``generate`` call.
        max_new_tokens: Token cap of a completion.
        seed: Seed of the subsample.
        image_min_pixels: Processor bound override (None: the checkpoint's).
        image_max_pixels: Processor bound override (None: the checkpoint's).
        constrained: Decode with the reasoning node's answer constraint
            (:mod:`robot_r1_ros.model.constrained`) instead of free greedy decoding.
        think_budget_tokens: Constrained decoding: reasoning tokens before the answer is
            forced.
        image_gap: Also answer every question with an image of another episode and with a
            blank image (:mod:`robot_r1_ros.training.image_gap`).

    Generation defaults (``max_new_tokens``, ``constrained``, ``think_budget_tokens``) are the
    reasoning node's (``core.config.GenerationOptions``), so the figures are what the node
    answers.
    """

    split: str = 'test'
    tasks: tuple[str, ...] = ()
    max_rows_per_group: int | None = None
    batch_size: int = 16
    max_new_tokens: int = _NODE_GENERATION.max_new_tokens
    seed: int = 0
    image_min_pixels: int | None = None
    image_max_pixels: int | None = None
    constrained: bool = _NODE_GENERATION.constrained
    think_budget_tokens: int = _NODE_GENERATION.think_budget_tokens
    image_gap: bool = True


def group_key(row: dict[str, Any]) -> str:
    """``task`` or ``task/distractor_kind`` (the report's group names)."""
    kind = row.get('distractor_kind') or ''
    return f'{row["task_kind"]}/{kind}' if kind else row['task_kind']


def select_eval_rows(dataset: Any, settings: EvalSettings) -> Any:
    """The rows to evaluate: task filter, then a seeded subsample per group."""
    rows = common.select_rows(dataset, settings.tasks, 'any')
    if settings.max_rows_per_group is None:
        return rows
    meta = rows.select_columns(['task_kind', 'distractor_kind'])
    groups: dict[str, list[int]] = collections.defaultdict(list)
    for i, row in enumerate(meta):
        groups[group_key(row)].append(i)
    rng = np.random.default_rng(settings.seed)
    keep: list[int] = []
    for key in sorted(groups):
        idx = groups[key]
        if len(idx) > settings.max_rows_per_group:
            idx = sorted(rng.choice(idx, settings.max_rows_per_group, replace=False).tolist())
        keep.extend(idx)
    return rows.select(sorted(keep))


# ------------------------------------------------------------------------------ generation
def load_eval_model(model_dir: str | os.PathLike, settings: EvalSettings) -> tuple[Any, Any]:
    """Model (eval mode) and processor (left padding) of a checkpoint folder."""
    from robot_r1_ros.training.recipe import ModelSpec
    spec = ModelSpec(path=str(model_dir), image_min_pixels=settings.image_min_pixels,
                     image_max_pixels=settings.image_max_pixels)
    processor = common.load_processor_for(spec, padding_side='left')
    model = common.load_model(spec).eval()
    return model, processor


def generate_completions(model: Any, processor: Any, dataset: Any, batch_size: int = 16,
                         max_new_tokens: int = _NODE_GENERATION.max_new_tokens,
                         progress: bool = True, constrained: bool = False,
                         think_budget_tokens: int | None = None) -> list[dict[str, Any]]:
    """Greedy completions of every row (prompt messages + image).

    Unconstrained by default (format failures are the model's own); ``constrained`` applies the
    reasoning node's answer grammar per task kind (the reasoning may use every token the answer
    leaves room for, or ``think_budget_tokens``), as a deployed node decodes.

    Returns:
        One ``{'text', 'tokens', 'finished'}`` per row (``finished``: an end token was made).
    """
    import torch
    from tqdm import tqdm

    config = model.config
    suppress = [int(t) for t in (config.image_token_id, getattr(config, 'video_token_id', None),
                                 getattr(config, 'vision_start_token_id', None),
                                 getattr(config, 'vision_end_token_id', None)) if t is not None]
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, (list, tuple)) else [eos])
    tok = processor.tokenizer
    pad = model.generation_config.pad_token_id
    if pad is None:
        pad = tok.pad_token_id
    factory = None
    kinds = list(dataset['task_kind'])
    if constrained:
        from robot_r1_ros.model.constrained import ConstraintFactory
        text_cfg = config.get_text_config() if hasattr(config, 'get_text_config') else config
        factory = ConstraintFactory(tok, int(text_cfg.vocab_size), sorted(eos_ids))
    # Batches hold one task kind (a constraint processor has one grammar); order is restored.
    order = sorted(range(len(dataset)), key=lambda i: (kinds[i], i)) if constrained \
        else list(range(len(dataset)))
    chunks: list[list[int]] = []
    for i in order:
        if chunks and len(chunks[-1]) < batch_size and (
                factory is None or kinds[chunks[-1][0]] == kinds[i]):
            chunks[-1].append(i)
        else:
            chunks.append([i])
    out: list[dict[str, Any] | None] = [None] * len(dataset)
    bar = tqdm(total=len(dataset), desc='eval generate', unit='q', disable=not progress)
    for chunk in chunks:
        batch = dataset.select(chunk)[:]
        texts = [processor.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 for p in batch['prompt']]
        enc = processor(text=texts, images=[[im] for im in batch['image']], padding=True,
                        return_tensors='pt')
        kwargs: dict[str, Any] = {'suppress_tokens': suppress}
        if factory is not None:
            budget = max_new_tokens if think_budget_tokens is None else think_budget_tokens
            kwargs = {'logits_processor': [factory.processor(kinds[chunk[0]], budget,
                                                             max_new_tokens)]}
        with torch.inference_mode():
            seq = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens,
                                 pad_token_id=pad, **kwargs)
        comp = seq[:, enc['input_ids'].shape[1]:].tolist()
        for i, ids in zip(chunk, comp):
            n = len(ids)
            finished = False
            for j, t in enumerate(ids):
                if t in eos_ids:
                    n, finished = j + 1, True
                    break
            text = tok.decode(ids[:n], skip_special_tokens=True)
            out[i] = {'text': text, 'tokens': n, 'finished': finished}
        bar.update(len(comp))
    bar.close()
    return out  # type: ignore[return-value]  (every row's slot is filled above)


# ------------------------------------------------------------------------------ scoring
def score_rows(rows: Sequence[dict[str, Any]], completions: Sequence[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """Per-row scores, computed by the training rewards and ``core.parsing``.

    Returns:
        One record per row: ``group``, ``format_ok`` (the ``format`` reward), ``correct``
        (``choice_accuracy``; None for the open task), ``pred_letter`` ('A'..'D' or
        ``'invalid'``), ``l1_cm`` / ``gripper_ok`` (open task, when parsed), ``think_chars``,
        ``tokens``.
    """
    texts = [c['text'] for c in completions]
    columns = {k: [r.get(k) for r in rows] for k in ('task_kind', 'answer_letter',
                                                    'target_xyz_env_m', 'target_gripper')}
    fmt = REWARDS['format'](texts, **columns)
    acc = REWARDS['choice_accuracy'](texts, **columns)
    pos = REWARDS['position'](texts, **columns)
    grip = REWARDS['gripper'](texts, **columns)
    records = []
    for i, (row, text) in enumerate(zip(rows, texts)):
        rec: dict[str, Any] = {'group': group_key(row), 'task_kind': row['task_kind'],
                               'format_ok': bool(fmt[i]), 'tokens': completions[i]['tokens'],
                               'finished': completions[i]['finished'], 'think_chars': None,
                               'pred_letter': None, 'correct': None, 'l1_cm': None,
                               'gripper_ok': None, 'text': text}
        try:
            parsed = parse_completion(text)
            rec['think_chars'] = len(parsed.think)
        except AnswerFormatError:
            parsed = None
        if row['task_kind'] == OPEN:
            if parsed is not None and fmt[i]:
                xyz, _gripper = parse_open_keypoint(parsed.answer)
                rec['l1_cm'] = 100.0 * float(np.abs(np.subtract(
                    xyz, row['answer_xyz_env_m'])).sum())
                rec['gripper_ok'] = bool(grip[i])
                rec['position_reward'] = pos[i]
        else:
            rec['correct'] = bool(acc[i]) if acc[i] is not None else False
            letter = INVALID
            if parsed is not None:
                try:
                    letter = parse_option(parsed.answer)
                except AnswerFormatError:
                    letter = INVALID
            rec['pred_letter'] = letter
        records.append(rec)
    return records


def _mean(values: Iterable[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def summarize_groups(rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]],
                     rules: baselines.TextOnlyRules) -> dict[str, dict[str, Any]]:
    """Metrics and baselines per group (see the module docstring)."""
    by_group: dict[str, list[int]] = collections.defaultdict(list)
    for i, rec in enumerate(records):
        by_group[rec['group']].append(i)
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(by_group, key=_group_order):
        idx = by_group[key]
        recs = [records[i] for i in idx]
        grp_rows = [rows[i] for i in idx]
        first = grp_rows[0]
        m: dict[str, Any] = {
            'task_kind': first['task_kind'], 'distractor_kind': first.get('distractor_kind') or '',
            'n': len(idx),
            'format_failure_rate': 1.0 - float(np.mean([r['format_ok'] for r in recs])),
            'mean_think_chars': _mean(r['think_chars'] for r in recs),
            'mean_completion_tokens': _mean(r['tokens'] for r in recs),
            'baselines': baselines.baseline_scores(grp_rows, rules),
        }
        if first['task_kind'] == OPEN:
            l1 = [r['l1_cm'] for r in recs if r['l1_cm'] is not None]
            m.update(l1_cm_mean=_mean(l1), l1_cm_median=float(np.median(l1)) if l1 else None,
                     gripper_accuracy=_mean(r['gripper_ok'] for r in recs
                                            if r['gripper_ok'] is not None),
                     within_5cm=(float(np.mean([v <= 5.0 for v in l1])) if l1 else None))
        else:
            m['accuracy'] = float(np.mean([r['correct'] for r in recs]))
            pred = collections.Counter(r['pred_letter'] for r in recs)
            gold = collections.Counter(row['answer_letter'] for row in grp_rows)
            m['predicted_letters'] = {x: pred.get(x, 0) for x in (*OPTION_LETTERS, INVALID)}
            m['gold_letters'] = {x: gold.get(x, 0) for x in OPTION_LETTERS}
            top = max(m['predicted_letters'].items(), key=lambda kv: kv[1])
            m['most_predicted_share'] = top[1] / len(idx)
        out[key] = m
    return out


def _group_order(key: str) -> tuple[int, str]:
    order = [TaskKind.NEXT_WAYPOINT.value, TaskKind.CURRENT_STATE.value,
             TaskKind.MOVEMENT.value, OPEN]
    task = key.split('/')[0]
    return (order.index(task) if task in order else 9, key)


# ------------------------------------------------------------------------------ closed loop
@dataclass
class ClosedLoopSettings:
    """Closed-loop evaluation in the MuJoCo scene.

    Attributes:
        task: Sim task name.
        episodes: Number of seeds.
        seed_offset: First seed (far from the recorder's 0..N so no demo shares a layout).
        max_keypoints: Predictions per episode before giving up.
        max_new_tokens: Token cap per prediction.
        constrained: Let the reasoner enforce the answer grammar (as the node does by default).
        expert: Also run the scripted expert on the same seeds.
        gif_path: Write episode ``gif_episode`` as an annotated GIF there (None: no GIF).
        gif_episode: Index (0-based, in seed order) of the episode drawn into the GIF.
        gif_frame_every_s: Sim seconds between GIF frames while the arm moves.
    """

    task: str = 'pick_place'
    episodes: int = 10
    seed_offset: int = 100_000
    max_keypoints: int = 10
    max_new_tokens: int = 160
    constrained: bool = False
    expert: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    gif_path: str | None = None
    gif_episode: int = 0
    gif_frame_every_s: float = 0.4


class _TrajectoryFollower:
    """The sim's joint-trajectory controller, in-process: what ``sim_node`` does with the
    executor's ``JointTrajectory`` and gripper commands, without DDS in between."""

    def __init__(self, scene: Any) -> None:
        from robot_r1_ros.sim.trajectory import validate_trajectory
        self.scene, self.plan, self._validate = scene, None, validate_trajectory

    def on_trajectory(self, traj: Any) -> None:
        self.plan = self._validate(traj.joint_names, traj.positions_rad, traj.time_from_start_s,
                                   traj.velocities_rad_s, current_q_rad=self.scene.arm_target,
                                   start_s=self.scene.time_s)

    def on_gripper(self, cmd: Any) -> None:
        self.scene.set_gripper_width(cmd.width_m)

    def step(self) -> None:
        if self.plan is not None:
            self.scene.set_arm_target(self.plan.sample(self.scene.time_s))
        self.scene.step()

    def joint_state(self) -> Any:
        from robot_r1_ros.motion.types import JointStateSample
        js = self.scene.joint_state()
        return JointStateSample(dict(zip(js.name, map(float, js.position))),
                                dict(zip(js.name, map(float, js.velocity))), self.scene.time_s)


class _GifRecorder:
    """Annotated frames of one closed-loop episode (``sim.media``, as the demo's GIF)."""

    def __init__(self, scene: Any, seed: int, instruction: str) -> None:
        from robot_r1_ros.sim.media import CameraGeometry
        cam = scene.camera
        self.scene, self.seed, self.instruction = scene, seed, instruction
        self.camera = CameraGeometry(K=np.asarray(cam.K, float),
                                     T_base_cam=np.asarray(cam.T_base_cam, float))
        self.frames: list[np.ndarray] = []

    def add(self, rgb: np.ndarray, caption: str, keypoint_xyz_base_m: Sequence[float] | None,
            ok: bool, hold: int = 1) -> None:
        """Append ``rgb`` with the keypoint marker, the TCP and a caption (``hold`` times)."""
        from robot_r1_ros.sim.media import Overlay, annotate
        tcp_xyz, _ = self.scene.tcp_pose()
        frame = annotate(rgb, Overlay(lines=[f'seed {self.seed}  {caption}',
                                             self.instruction[:60]],
                                      keypoint_xyz=keypoint_xyz_base_m, keypoint_ok=ok,
                                      tcp_xyz=tcp_xyz), self.camera)
        self.frames.extend([frame] * hold)

    def write(self, path: str | os.PathLike) -> str | None:
        """Write the GIF (None when no frame was recorded)."""
        from robot_r1_ros.sim.media import write_gif
        if not self.frames:
            return None
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return str(write_gif(self.frames, path, fps=4.0))


def closed_loop(model_dir: str | os.PathLike, settings: ClosedLoopSettings,
                progress: bool = True) -> dict[str, Any]:
    """Closed-loop success rate of a checkpoint in the sim (and of the scripted expert).

    The code path of the nodes, without DDS: each cycle renders the front camera, asks the
    reasoner (``model.reasoner.load_reasoner``, open-ended task, prompt from ``core.prompts``
    with the current TCP position and commanded gripper state in the env frame), turns the
    answer into a base-frame keypoint (current TCP orientation, as the reasoning node does), and
    hands it to the executor node's logic (``motion.GoalExecutor`` validating it, the
    ``motion.DirectBackend`` planning IK + a timed joint trajectory); the trajectory is played
    by the sim's trajectory follower until the executor reports the outcome. An episode ends at
    task success, after ``max_keypoints`` cycles, or at an unparsable answer (a format failure).
    """
    import robot_r1_ros.sim  # noqa: F401  (MUJOCO_GL before mujoco)
    from tqdm import tqdm

    from robot_r1_ros.core.config import WorkspaceConfig
    from robot_r1_ros.core.prompts import PromptMetadata
    from robot_r1_ros.core.types import GripperState
    from robot_r1_ros.model.reasoner import (GenerationOptions, ReasonerConfig,
                                             ReasonerRequest, load_reasoner)
    from robot_r1_ros.motion.direct import DirectBackend, DirectBackendConfig
    from robot_r1_ros.motion.executor import ExecState, ExecutionConfig, GoalExecutor
    from robot_r1_ros.motion.validation import PredictionInput
    from robot_r1_ros.sim.experts import run_expert
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task

    ws_cfg = WorkspaceConfig()
    env_frame = ws_cfg.env_frame()
    reasoner = load_reasoner(ReasonerConfig(
        model_id=str(model_dir), device='cpu', dtype='float32',
        generation=GenerationOptions(max_new_tokens=settings.max_new_tokens, do_sample=False,
                                     constrained=settings.constrained)))
    task = make_task(settings.task)
    seeds = [settings.seed_offset + i for i in range(settings.episodes)]
    episodes_out = []
    scene = PandaScene()
    gif: _GifRecorder | None = None
    try:
        for ep_index, seed in enumerate(tqdm(seeds, desc='closed loop', unit='ep',
                                             disable=not progress)):
            episode = task.reset(scene, seed)
            gif = _GifRecorder(scene, seed, episode.instruction) \
                if settings.gif_path and ep_index == settings.gif_episode else gif
            robot = _TrajectoryFollower(scene)
            backend = DirectBackend(DirectBackendConfig(), robot.on_trajectory,
                                    robot.on_gripper)
            executor = GoalExecutor(backend, ws_cfg.workspace(), ExecutionConfig())
            backend.update_joint_state(robot.joint_state())
            rec: dict[str, Any] = {'seed': seed, 'success': False, 'keypoints': 0,
                                   'format_failures': 0, 'rejected': 0, 'predictions': []}
            for _ in range(settings.max_keypoints):
                tcp_xyz, quat_wxyz = scene.tcp_pose()
                # The commanded width, as the dataset builder reads it from the bags.
                grip = GripperState.from_opening(scene.gripper_command_m, 0.039)
                metadata = PromptMetadata.from_env_frame(
                    env_frame, env_frame.base_to_env(tcp_xyz), grip)
                image = scene.render()
                out = reasoner.predict(ReasonerRequest(
                    image_rgb=image, kind=TaskKind.OPEN_KEYPOINT,
                    instruction=episode.instruction, metadata=metadata))
                recording = gif is not None and gif.seed == seed
                if not out.ok:
                    if recording:
                        gif.add(image, 'format failure: no keypoint', None, False)
                    rec['format_failures'] += 1
                    rec['predictions'].append({'completion': out.completion[:200],
                                               'error': out.parse_error})
                    break
                keypoint = out.to_prediction(env_frame).keypoint
                w, x, y, z = (float(v) for v in quat_wxyz)
                pred = PredictionInput(
                    status=0, frame_id='panda_link0', stamp_s=scene.time_s,
                    xyz_base_m=tuple(float(v) for v in keypoint.xyz_base_m),
                    quat_xyzw=(x, y, z, w), gripper_command=0 if keypoint.gripper.is_open else 1)
                rejection = executor.submit(pred, scene.time_s)
                entry = {'xyz_base_m': [round(v, 4) for v in pred.xyz_base_m],
                         'gripper': keypoint.gripper.value}
                caption = (f'cycle {rec["keypoints"] + 1}: {keypoint.gripper.value} at '
                           + '[' + ', '.join(f'{v:.3f}' for v in out.xyz_env_m or ()) + ']')
                if rejection is not None:
                    rec['rejected'] += 1
                    entry['rejected'] = str(rejection)
                    rec['predictions'].append(entry)
                    if recording:
                        gif.add(image, f'{caption} rejected', pred.xyz_base_m, False)
                    break  # greedy decoding would ask the same again from the same state
                if recording:
                    gif.add(image, f'{caption} (predicted)', pred.xyz_base_m, True)
                sim0 = last_frame = scene.time_s
                while executor.busy and scene.time_s - sim0 < 30.0:
                    robot.step()
                    backend.update_joint_state(robot.joint_state())
                    executor.tick(scene.time_s)
                    if recording and scene.time_s - last_frame >= settings.gif_frame_every_s:
                        gif.add(scene.render(), f'{caption} moving', pred.xyz_base_m, True)
                        last_frame = scene.time_s
                entry['outcome'] = ExecState(executor.state).name
                if recording:
                    gif.add(scene.render(), f'{caption} {entry["outcome"].lower()}',
                            pred.xyz_base_m, entry['outcome'] == 'REACHED')
                rec['predictions'].append(entry)
                rec['keypoints'] += 1
                if task.success(scene, episode):
                    rec['success'] = True
                    break
            if gif is not None and gif.seed == seed:
                gif.add(scene.render(), 'task success' if rec['success'] else
                        f'episode over: no task success ({rec["keypoints"]} keypoints)', None,
                        rec['success'], hold=5)
            episodes_out.append(rec)
        expert = None
        if settings.expert:
            wins = []
            for seed in seeds:
                episode = task.reset(scene, seed)
                wins.append(bool(run_expert(scene, task, episode).success))
            expert = {'success_rate': float(np.mean(wins)), 'successes': int(sum(wins))}
    finally:
        scene.close()
        reasoner.close()
    n = len(episodes_out)
    gif_file = gif.write(settings.gif_path) if gif is not None and settings.gif_path else None
    return {
        'task': settings.task, 'seeds': seeds, 'episodes': n, 'gif': gif_file,
        'gif_seed': gif.seed if gif is not None else None,
        'success_rate': float(np.mean([e['success'] for e in episodes_out])) if n else None,
        'successes': int(sum(e['success'] for e in episodes_out)),
        'format_failure_episodes': int(sum(e['format_failures'] > 0 for e in episodes_out)),
        'rejected_keypoints': int(sum(e['rejected'] for e in episodes_out)),
        'mean_keypoints': _mean(e['keypoints'] for e in episodes_out),
        'expert': expert,
        'controller': 'motion.GoalExecutor + motion.DirectBackend (the executor node\'s code), '
                      'trajectories played by the sim\'s follower in-process',
        'constrained_decoding': settings.constrained, 'per_episode': episodes_out,
    }


# ------------------------------------------------------------------------------ curves
def training_curves(run_dirs: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """Series from the runs' ``log.jsonl``: SFT loss, GRPO rewards (total and per function),
    training and held-out (``eval_*``) accuracy, per step."""
    curves: dict[str, Any] = {}
    for run in run_dirs:
        records = runlog.read_jsonl(Path(run) / runlog.LOG_NAME)
        if not records:
            _LOG.warning('no %s in %s', runlog.LOG_NAME, run)
            continue
        phase = records[0].get('phase', 'train')
        series: dict[str, list[tuple[int, float]]] = collections.defaultdict(list)
        for r in records:
            for k, v in r.items():
                if k in ('step', 'epoch', 'time_s', 'phase') or not isinstance(v, (int, float)):
                    continue
                if k == 'loss' or k == 'reward' or k.startswith(('rewards/', 'eval_')) or \
                        k in ('completions/mean_length', 'entropy', 'kl'):
                    if isinstance(v, float) and not math.isfinite(v):
                        continue
                    series[k].append((int(r['step']), float(v)))
        curves[f'{phase}:{Path(run).name}'] = {'phase': phase, 'run_dir': str(run),
                                               'series': dict(series),
                                               'steps': max(int(r['step']) for r in records),
                                               'wall_s': max(float(r.get('time_s') or 0)
                                                             for r in records)}
    return curves


# ------------------------------------------------------------------------------ report
def evaluate(model_dir: str | os.PathLike, dataset_dir: str | os.PathLike,
             out_dir: str | os.PathLike, settings: EvalSettings | None = None,
             run_dirs: Sequence[str | os.PathLike] = (),
             closed_loop_settings: ClosedLoopSettings | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Run the evaluation and write ``report.json``, ``report.md`` and the plots.

    Raises:
        ConfigError: Missing model, dataset or split.
    """
    settings = settings or EvalSettings()
    t0 = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dsd = common.load_dataset_dict(dataset_dir)
    if settings.split not in dsd:
        raise ConfigError(f'dataset {dataset_dir} has no split {settings.split!r}; it has '
                          f'{", ".join(dsd)}', 'split')
    if 'train' not in dsd:
        raise ConfigError(f'dataset {dataset_dir} has no train split (the text-only baseline '
                          'is fitted on it)', 'split')
    eval_ds = select_eval_rows(dsd[settings.split], settings)
    if len(eval_ds) == 0:
        raise ConfigError(f'no rows to evaluate in split {settings.split!r}', 'tasks')
    rows = eval_ds.select_columns(list(_META_COLUMNS)).to_list()
    rules = baselines.TextOnlyRules.fit(
        dsd['train'].select_columns(list(_META_COLUMNS)).to_list())
    model, processor = load_eval_model(model_dir, settings)
    t_gen = time.monotonic()
    def answer(ds: Any) -> list[dict[str, Any]]:
        return generate_completions(model, processor, ds, settings.batch_size,
                                    settings.max_new_tokens, progress,
                                    constrained=settings.constrained,
                                    think_budget_tokens=settings.think_budget_tokens)

    completions = answer(eval_ds)
    gen_s = time.monotonic() - t_gen
    records = score_rows(rows, completions)
    groups = summarize_groups(rows, records, rules)
    gaps = None
    if settings.image_gap:
        variant_groups = {v: summarize_groups(rows, score_rows(rows, answer(
            image_gap.swap_images(eval_ds, v, settings.seed))), rules)
            for v in image_gap.VARIANTS}
        gaps = {'table': image_gap.gap_table(groups, variant_groups), 'groups': variant_groups}
    report: dict[str, Any] = {
        'model': str(model_dir), 'dataset': str(dataset_dir), 'split': settings.split,
        'settings': settings.__dict__ | {'tasks': list(settings.tasks)},
        'episodes': sorted({r['episode_id'] for r in rows}),
        'n_rows': len(rows),
        'overall': {
            'format_failure_rate': 1.0 - float(np.mean([r['format_ok'] for r in records])),
            'mean_think_chars': _mean(r['think_chars'] for r in records),
            'generated_tokens': int(sum(r['tokens'] for r in records)),
            'generate_s': round(gen_s, 2),
        },
        'groups': groups,
        'image_gap': gaps,
        'seed_ranges': {'train': dict(seeds.TRAIN_SEEDS), 'eval': dict(seeds.EVAL_SEEDS)},
        'examples': [{'group': r['group'], 'completion': r['text'][:300]}
                     for r in _examples(records)],
        # What the format failures look like (truncated, degenerate copy, ...): the first 10.
        'format_failure_examples': [{'group': r['group'], 'completion': r['text'][-300:]}
                                    for r in records if not r['format_ok']][:10],
        'parameters': int(sum(p.numel() for p in model.parameters())),
        'git_commit': runlog.git_commit(),
    }
    del model
    if run_dirs:
        report['curves'] = training_curves(run_dirs)
    if closed_loop_settings is not None and closed_loop_settings.episodes > 0:
        report['closed_loop'] = closed_loop(model_dir, closed_loop_settings, progress)
    report['plots'] = write_plots(report, out)
    report['wall_s'] = round(time.monotonic() - t0, 1)
    runlog.write_json(out / 'report.json', report)
    (out / 'report.md').write_text(markdown_report(report), encoding='utf-8')
    return report


def _examples(records: Sequence[dict[str, Any]], per_group: int = 2) -> list[dict[str, Any]]:
    seen: dict[str, int] = collections.Counter()
    out = []
    for r in records:
        if seen[r['group']] < per_group:
            seen[r['group']] += 1
            out.append(r)
    return out


def _pct(value: Any) -> str:
    return '–' if value is None else f'{100.0 * value:.1f} %'


def _num(value: Any, fmt: str = '.1f') -> str:
    return '–' if value is None else format(value, fmt)


def markdown_tables(report: dict[str, Any]) -> str:
    """The multiple-choice and open-ended tables (also used by the model card)."""
    lines = ['| task | distractors | n | accuracy | chance | best constant letter | '
             'text-only rule | accuracy minus best baseline | format failures | '
             'mean think (chars) | predicted A/B/C/D/invalid |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    open_lines = []
    for key, g in report['groups'].items():
        b = g.get('baselines', {})
        if g['task_kind'] == OPEN:
            open_lines.append(
                f'| {g["task_kind"]} | {g["n"]} | {_num(g.get("l1_cm_mean"))} | '
                f'{_num(g.get("l1_cm_median"))} | {_pct(g.get("gripper_accuracy"))} | '
                f'{_num(b.get("text_only_l1_cm"))} | {_pct(b.get("text_only_gripper_acc"))} | '
                f'{_num(b.get("copy_current_l1_cm"))} | {_pct(g["format_failure_rate"])} |')
            continue
        const = b.get('constant', {})
        pred = g['predicted_letters']
        hist = '/'.join(str(pred[x]) for x in (*OPTION_LETTERS, INVALID))
        best = max(v for v in (b.get('chance'), const.get('accuracy'), b.get('text_only'))
                   if v is not None)
        lines.append(
            f'| {g["task_kind"]} | {g["distractor_kind"] or "adjacent labels"} | {g["n"]} | '
            f'**{_pct(g["accuracy"])}** | {_pct(b.get("chance"))} | '
            f'{_pct(const.get("accuracy"))} ({const.get("letter", "–")}) | '
            f'{_pct(b.get("text_only"))} | {100.0 * (g["accuracy"] - best):+.1f} pts | '
            f'{_pct(g["format_failure_rate"])} | '
            f'{_num(g.get("mean_think_chars"), ".0f")} | {hist} |')
    text = '\n'.join(lines)
    if open_lines:
        text += ('\n\n| task | n | L1 mean (cm) | L1 median (cm) | gripper acc. | text-only L1 '
                 '(cm) | text-only gripper | copy-current L1 (cm) | format failures |\n'
                 '|---|---:|---:|---:|---:|---:|---:|---:|---:|\n' + '\n'.join(open_lines))
    return text


def closed_loop_table(cl: dict[str, Any]) -> str:
    """The closed-loop table (model vs scripted expert on the same seeds)."""
    expert = cl.get('expert') or {}
    return ('| task | seeds | model success | scripted expert | episodes ending in a format '
            'failure | keypoints rejected by the executor | mean keypoints executed |\n'
            '|---|---:|---:|---:|---:|---:|---:|\n'
            f'| {cl["task"]} | {cl["episodes"]} ({cl["seeds"][0]}..{cl["seeds"][-1]}) | '
            f'{_pct(cl["success_rate"])} | {_pct(expert.get("success_rate"))} | '
            f'{cl["format_failure_episodes"]} | {cl.get("rejected_keypoints", 0)} | '
            f'{_num(cl.get("mean_keypoints"))} |')


def markdown_report(report: dict[str, Any]) -> str:
    """``report.md``: what was evaluated, the tables and the plots."""
    o = report['overall']
    parts = [f'# Evaluation of `{report["model"]}`', '',
             f'Split `{report["split"]}` of `{report["dataset"]}`: {report["n_rows"]} questions '
             f'from {len(report["episodes"])} held-out episodes. Greedy decoding, '
             + ('with the reasoning node\'s answer constraint'
                if report['settings'].get('constrained') else 'no answer constraint')
             + f'. Overall format failures: {_pct(o["format_failure_rate"])}; mean '
             f'reasoning length {_num(o["mean_think_chars"], ".0f")} characters.', '',
             'Baselines: chance = 1/4; best constant letter = the share of the most frequent '
             'correct letter in the group (what a model stuck on one letter scores); text-only '
             'rule = nearest-neighbour rules on the train split that never see the image.', '',
             markdown_tables(report)]
    if report.get('image_gap'):
        parts += ['', '## Image gap: the same questions with another image', '',
                  'The real image, an image of another held-out episode (a model that scores '
                  'the same with it does not read the scene) and a blank grey image (only a '
                  'fragility check).', '', image_gap.markdown(report['image_gap']['table'])]
    if 'closed_loop' in report:
        parts += ['', '## Closed loop in the MuJoCo scene', '',
                  closed_loop_table(report['closed_loop']), '',
                  f'Controller: {report["closed_loop"]["controller"]}.']
    if report.get('plots'):
        parts += ['', '## Plots', ''] + [f'![{Path(p).stem}]({Path(p).name})'
                                         for p in report['plots']]
    return '\n'.join(parts) + '\n'


def write_plots(report: dict[str, Any], out: Path) -> list[str]:
    """PNG plots of the report; returns their paths."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    paths: list[str] = []
    mcq = [(k, g) for k, g in report['groups'].items() if g['task_kind'] != OPEN]
    if mcq:
        fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(mcq) + 2), 4.2))
        x = np.arange(len(mcq))
        acc = [g['accuracy'] for _, g in mcq]
        const = [g['baselines']['constant']['accuracy'] for _, g in mcq]
        text = [g['baselines']['text_only'] for _, g in mcq]
        ax.bar(x - 0.27, acc, 0.27, label='model', color='tab:blue')
        ax.bar(x, const, 0.27, label='best constant letter', color='tab:gray')
        ax.bar(x + 0.27, text, 0.27, label='text-only rule', color='tab:orange')
        ax.axhline(baselines.CHANCE, color='k', ls='--', lw=1, label='chance')
        ax.set_xticks(x, [k.replace('/', '\n') for k, _ in mcq], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_ylabel('accuracy')
        ax.set_title(f'held-out accuracy ({report["split"]}, n per bar in report)')
        ax.legend(fontsize=8, loc='upper right')
        fig.tight_layout()
        paths.append(_save(fig, out / 'per_task_accuracy.png'))
        fig, axes = plt.subplots(1, len(mcq), figsize=(2.4 * len(mcq), 2.8), squeeze=False)
        for ax, (k, g) in zip(axes[0], mcq):
            labels = [*OPTION_LETTERS, INVALID]
            ax.bar(range(5), [g['predicted_letters'][lab] for lab in labels], color='tab:blue',
                   label='predicted')
            ax.plot(range(4), [g['gold_letters'][lab] for lab in OPTION_LETTERS], 'k_',
                    markersize=14, mew=2, label='correct')
            ax.set_xticks(range(5), ['A', 'B', 'C', 'D', 'inv'], fontsize=8)
            ax.set_title(k, fontsize=8)
        axes[0][0].legend(fontsize=7)
        fig.tight_layout()
        paths.append(_save(fig, out / 'letter_histogram.png'))
    curves = report.get('curves') or {}
    grpo = [c for c in curves.values() if c['phase'] == 'grpo']
    sft = [c for c in curves.values() if c['phase'] == 'sft']
    if grpo or sft:
        fig, axes = plt.subplots(1, 2 if (grpo and sft) else 1, figsize=(10 if grpo and sft
                                                                        else 5.5, 3.8),
                                 squeeze=False)
        col = 0
        if sft:
            ax = axes[0][col]
            for c in sft:
                s = c['series'].get('loss', [])
                ax.plot([p[0] for p in s], [p[1] for p in s], label='SFT loss')
            ax.set_xlabel('SFT step')
            ax.set_ylabel('loss per completion token')
            ax.set_yscale('log')
            ax.set_title('SFT warm-up')
            ax.legend(fontsize=8)
            col += 1
        if grpo:
            ax = axes[0][col]
            for c in grpo:
                for key, label in (('reward', 'total reward'),
                                   ('rewards/format_reward/mean', 'format'),
                                   ('rewards/choice_accuracy_reward/mean', 'choice accuracy'),
                                   ('rewards/position_reward/mean', 'position'),
                                   ('rewards/gripper_reward/mean', 'gripper')):
                    s = c['series'].get(key, [])
                    if s:
                        ax.plot([p[0] for p in s], _smooth([p[1] for p in s]), label=label)
            ax.set_xlabel('GRPO step')
            ax.set_ylabel('mean reward (moving average)')
            ax.set_title('GRPO rewards')
            ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out / 'reward_curve.png'))
    if grpo:
        fig, ax = plt.subplots(figsize=(5.5, 3.8))
        for c in grpo:
            s = c['series'].get('rewards/choice_accuracy_reward/mean', [])
            if s:
                ax.plot([p[0] for p in s], _smooth([p[1] for p in s]),
                        label='train (sampled, moving avg.)')
            s = c['series'].get('eval_rewards/choice_accuracy_reward/mean', [])
            if s:
                ax.plot([p[0] for p in s], [p[1] for p in s], 'o-', label='validation (sampled)')
        final = [g['accuracy'] for g in report['groups'].values() if 'accuracy' in g]
        if final:
            ax.axhline(float(np.mean(final)), color='tab:green', ls=':',
                       label=f'{report["split"]} greedy, mean of tasks')
        ax.axhline(baselines.CHANCE, color='k', ls='--', lw=1, label='chance')
        ax.set_ylim(0, 1.05)
        ax.set_xlabel('GRPO step')
        ax.set_ylabel('multiple-choice accuracy')
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(_save(fig, out / 'accuracy_curve.png'))
    return paths


def _smooth(values: Sequence[float], window: int = 10) -> list[float]:
    out, acc = [], collections.deque(maxlen=window)
    for v in values:
        acc.append(v)
        out.append(float(np.mean(acc)))
    return out


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


# ------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    """Command-line arguments of ``robot-r1 eval``."""
    p = argparse.ArgumentParser(prog='robot-r1 eval', description=__doc__.split('\n\n')[0])
    p.add_argument('--model', required=True, help='checkpoint folder (e.g. a run\'s final/)')
    p.add_argument('--dataset', required=True, help='robot-r1 dataset output folder')
    p.add_argument('--out', required=True, help='report folder')
    p.add_argument('--split', default='test')
    p.add_argument('--tasks', default='', help='comma-separated task kinds (default: all)')
    p.add_argument('--max-rows-per-group', type=int, default=None)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--max-new-tokens', type=int, default=_NODE_GENERATION.max_new_tokens,
                   help='token cap (default: the reasoning node\'s generation.max_new_tokens)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--constrained', dest='constrained', action='store_true',
                   default=_NODE_GENERATION.constrained,
                   help='decode with the reasoning node\'s answer constraint (the node\'s '
                        'default, and this command\'s)')
    p.add_argument('--free', dest='constrained', action='store_false',
                   help='free greedy decoding, so format failures are the model\'s own')
    p.add_argument('--no-image-gap', dest='image_gap', action='store_false',
                   help='skip answering with another episode\'s image and a blank image')
    p.add_argument('--run-dir', nargs='*', default=[],
                   help='training run folders (log.jsonl) for the reward / accuracy curves')
    p.add_argument('--closed-loop-episodes', type=int, default=0,
                   help='closed-loop episodes in the sim (0: skip)')
    p.add_argument('--closed-loop-task', default='pick_place')
    p.add_argument('--closed-loop-seed-offset', type=int, default=100_000)
    p.add_argument('--closed-loop-max-keypoints', type=int, default=10)
    p.add_argument('--closed-loop-constrained', action='store_true',
                   help='constrained decoding in the closed loop (the node default)')
    p.add_argument('--closed-loop-gif', default=None, metavar='PATH',
                   help='write one closed-loop episode as an annotated GIF')
    p.add_argument('--closed-loop-gif-episode', type=int, default=0,
                   help='which episode (0-based, in seed order) the GIF shows')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--log-level', default='WARNING')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``robot-r1 eval`` entry point; prints the markdown tables."""
    args = build_parser().parse_args(argv)
    common.configure_logging(args.log_level)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    try:
        common.configure_threads(args.threads)
        tasks = tuple(TaskKind.parse(t).value for t in args.tasks.split(',') if t.strip())
        settings = EvalSettings(split=args.split, tasks=tasks,
                                max_rows_per_group=args.max_rows_per_group,
                                batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                                seed=args.seed, constrained=args.constrained,
                                image_gap=args.image_gap)
        cl = None
        shared = [s for s in range(args.closed_loop_seed_offset,
                                   args.closed_loop_seed_offset + args.closed_loop_episodes)
                  if seeds.is_training_seed(s)]
        if shared:
            raise ConfigError(f'closed-loop seeds {shared[0]}.. are training seeds '
                              f'(training.seeds.TRAIN_SEEDS); use seeds from '
                              f'{seeds.EVAL_SEEDS["closed_loop"]}', 'closed_loop_seed_offset')
        if args.closed_loop_episodes > 0:
            cl = ClosedLoopSettings(task=args.closed_loop_task,
                                    episodes=args.closed_loop_episodes,
                                    seed_offset=args.closed_loop_seed_offset,
                                    max_keypoints=args.closed_loop_max_keypoints,
                                    max_new_tokens=args.max_new_tokens,
                                    constrained=args.closed_loop_constrained,
                                    gif_path=args.closed_loop_gif,
                                    gif_episode=args.closed_loop_gif_episode)
        report = evaluate(args.model, args.dataset, args.out, settings, args.run_dir, cl,
                          progress=not args.no_progress)
    except (RobotR1Error, ValueError) as exc:
        return common.cli_error('robot-r1 eval', exc)
    print(markdown_tables(report))
    if report.get('image_gap'):
        print()
        print(image_gap.markdown(report['image_gap']['table']))
    if 'closed_loop' in report:
        print()
        print(closed_loop_table(report['closed_loop']))
    print(f'\nreport: {Path(args.out) / "report.md"} ({report["wall_s"]} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
