"""Offline scoring of ``robot-r1 eval``: row selection, greedy generation, per-row scores by the
training rewards, per-group metrics with baselines (see :mod:`robot_r1_ros.training.evaluate`).
"""
from __future__ import annotations

import collections
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from robot_r1_ros.core.config import GenerationOptions
from robot_r1_ros.core.errors import AnswerFormatError
from robot_r1_ros.core.geometry import xy_gap_m
from robot_r1_ros.core.parsing import (OPTION_LETTERS, parse_completion, parse_open_keypoint,
                                       parse_option, parse_xyz_answer)
from robot_r1_ros.core.rewards import REWARDS
from robot_r1_ros.core.types import TaskKind
from robot_r1_ros.training import baselines, common
from robot_r1_ros.training.think_targets import (cm_digits, first_named_object, implied_letter,
                                                 mm_digits)

NODE_GENERATION = GenerationOptions()
"""The reasoning node's generation defaults (the evaluation's defaults too)."""

OPEN = TaskKind.OPEN_KEYPOINT.value
OPEN_KINDS = (OPEN, TaskKind.OBJECT_POSITION.value)
"""Task kinds answered with a position (scored by L1), not a letter."""
INVALID = 'invalid'
# A next waypoint farther than this from the gripper's x-y goes somewhere new (metres).
MOVES_XY_TOL_M = 0.01
MOVES_XY_SUFFIX = '/moves_xy'
# The kinds of object a place question may ask for (the last word of its name): the issue's
# target is the cube's place, which the zones' (larger, flat) would hide in one mean.
OBJECT_KINDS = ('cube', 'zone')
# Dataset columns that scoring and baselines read (everything but the prompt and image).
# Where a reasoning says the gripper is now (every open-keypoint think kind states it so).
_STATED_GRIPPER_RE = re.compile(r'The gripper is at \[([^\]]*)\]')
# A stated metres position within this of the prompt's (per axis) is a copy of it (metres).
STATED_CURRENT_TOL_M = 0.0015
META_COLUMNS = ('task_kind', 'answer_letter', 'target_xyz_env_m', 'target_gripper',
                 'answer_text', 'options', 'distractor_kind', 'answer_xyz_env_m',
                 'current_xyz_env_m', 'current_gripper', 'episode_id', 'frame_index',
                 'task_name', 'gold_think', 'phase')


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
    answers (a cap of 160 tokens cut the next-waypoint reasoning before).
    """

    split: str = 'test'
    tasks: tuple[str, ...] = ()
    max_rows_per_group: int | None = None
    batch_size: int = 16
    max_new_tokens: int = NODE_GENERATION.max_new_tokens
    seed: int = 0
    image_min_pixels: int | None = None
    image_max_pixels: int | None = None
    constrained: bool = NODE_GENERATION.constrained
    think_budget_tokens: int = NODE_GENERATION.think_budget_tokens
    image_gap: bool = True


def group_key(row: dict[str, Any]) -> str:
    """``task`` or ``task/distractor_kind`` (the report's group names)."""
    kind = row.get('distractor_kind') or ''
    return f'{row["task_kind"]}/{kind}' if kind else row['task_kind']


def subgroup_key(row: dict[str, Any]) -> str | None:
    """``next_waypoint/<distractors>/moves_xy`` for a next-waypoint row whose answer leaves the
    gripper's x-y (to a cube or the zone, a place only the image shows);
    ``object_position/cube`` or ``object_position/zone`` for a place question, by the kind of
    object it asks for; else None.

    The other next waypoints (descend, grasp, lift, release) keep the x-y the prompt states, so
    their options are separable from the text alone: a wrong-image gap can only come from this
    subgroup.
    """
    if row.get('task_kind') == TaskKind.OBJECT_POSITION.value:
        asked = first_named_object(row.get('gold_think') or '') or ''
        kind = asked.rsplit(' ', 1)[-1]
        return f'{group_key(row)}/{kind}' if kind in OBJECT_KINDS else None
    if row.get('task_kind') != TaskKind.NEXT_WAYPOINT.value:
        return None
    nxt, cur = row.get('answer_xyz_env_m'), row.get('current_xyz_env_m')
    if nxt is None or cur is None:
        return None
    return group_key(row) + MOVES_XY_SUFFIX if xy_gap_m(nxt, cur) > MOVES_XY_TOL_M else None


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
                         max_new_tokens: int = NODE_GENERATION.max_new_tokens,
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
def states_current(think: str, current_xyz_env_m: Sequence[float]) -> bool | None:
    """Whether the gripper position a reasoning states is the prompt's current one.

    E131 wrote the gripper above the cube (``[..,142]``) after the descent in 13 of 30
    phase-2 test rows whose prompt said ``0.022`` (E129: 1), and its closed loop asked for the
    descent again until the keypoint budget ran out (14 of 20 episodes); the answer's L1 on the
    test rows hid it, as the target was the same place. Metres are compared to the millimetre;
    digit places (``aim_cm``, ``aim_mm``) must be the current position's own digits.

    Returns:
        None when the reasoning states no gripper position.
    """
    match = _STATED_GRIPPER_RE.search(str(think or ''))
    if match is None:
        return None
    stated = match.group(1).replace(' ', '')
    if '.' not in stated:
        return f'[{stated}]' in (cm_digits(current_xyz_env_m), mm_digits(current_xyz_env_m))
    try:
        values = [float(v) for v in stated.split(',')]
    except ValueError:
        return False
    return len(values) == 3 and bool(np.all(
        np.abs(np.subtract(values, current_xyz_env_m)) <= STATED_CURRENT_TOL_M))


def score_rows(rows: Sequence[dict[str, Any]], completions: Sequence[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """Per-row scores, computed by the training rewards and ``core.parsing``.

    Returns:
        One record per row: ``group``, ``format_ok`` (the ``format`` reward), ``correct``
        (``choice_accuracy``; None for the open task), ``pred_letter`` ('A'..'D' or
        ``'invalid'``), ``l1_cm`` / ``gripper_ok`` (open task, when parsed), ``names_object``
        (open tasks whose template reasoning places an object: the reasoning places that object
        first, the question's or the task's, not another; absent elsewhere), ``think_chars``,
        ``tokens``, ``phase`` (the target keyframe's ordinal, None when the row has none);
        open-keypoint rows add ``states_current`` (:func:`states_current`);
        multiple-choice rows add ``aim_correct`` (the option nearest the aim the reasoning
        states is the gold one; None when it states no aim).
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
        rec: dict[str, Any] = {'group': group_key(row), 'subgroup': subgroup_key(row),
                               'task_kind': row['task_kind'],
                               'format_ok': bool(fmt[i]), 'tokens': completions[i]['tokens'],
                               'finished': completions[i]['finished'], 'think_chars': None,
                               'pred_letter': None, 'correct': None, 'l1_cm': None,
                               'gripper_ok': None, 'phase': row.get('phase'), 'text': text}
        try:
            parsed = parse_completion(text)
            rec['think_chars'] = len(parsed.think)
        except AnswerFormatError:
            parsed = None
        if row['task_kind'] in OPEN_KINDS:
            if parsed is not None and fmt[i]:
                if row['task_kind'] == OPEN:
                    xyz, _gripper = parse_open_keypoint(parsed.answer)
                    rec['gripper_ok'] = bool(grip[i])
                    if row.get('current_xyz_env_m') is not None:
                        rec['states_current'] = states_current(parsed.think,
                                                               row['current_xyz_env_m'])
                else:
                    xyz = parse_xyz_answer(parsed.answer)
                rec['l1_cm'] = 100.0 * float(np.abs(np.subtract(
                    xyz, row['answer_xyz_env_m'])).sum())
                rec['position_reward'] = pos[i]
            # Which object: a right place of the wrong cube (E93) shows here, not in the L1 alone.
            asked = first_named_object(row.get('gold_think') or '')
            if asked is not None:
                rec['names_object'] = first_named_object(parsed.think if parsed else '') == asked
        else:
            rec['correct'] = bool(acc[i]) if acc[i] is not None else False
            letter = INVALID
            if parsed is not None:
                try:
                    letter = parse_option(parsed.answer)
                except AnswerFormatError:
                    letter = INVALID
            rec['pred_letter'] = letter
            # The answer the reasoning's stated aim implies (None: it states none).
            aim = implied_letter(parsed.think if parsed else '', row.get('options') or [])
            rec['aim_correct'] = None if aim is None else aim == row['answer_letter']
        records.append(rec)
    return records


def mean_or_none(values: Iterable[Any]) -> float | None:
    """Mean of the values that are not None (None when there are none)."""
    vals = [float(v) for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def summarize_groups(rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]],
                     rules: baselines.TextOnlyRules) -> dict[str, dict[str, Any]]:
    """Metrics and baselines per group (see the module docstring)."""
    by_group: dict[str, list[int]] = collections.defaultdict(list)
    parents: dict[str, str] = {}
    for i, rec in enumerate(records):
        by_group[rec['group']].append(i)
        if rec.get('subgroup'):
            by_group[rec['subgroup']].append(i)
            parents[rec['subgroup']] = rec['group']
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
            'mean_think_chars': mean_or_none(r['think_chars'] for r in recs),
            'mean_completion_tokens': mean_or_none(r['tokens'] for r in recs),
            'baselines': baselines.baseline_scores(grp_rows, rules),
        }
        if first['task_kind'] in OPEN_KINDS:
            l1 = [r['l1_cm'] for r in recs if r['l1_cm'] is not None]
            m.update(l1_cm_mean=mean_or_none(l1),
                     l1_cm_median=float(np.median(l1)) if l1 else None,
                     gripper_accuracy=mean_or_none(r['gripper_ok'] for r in recs
                                                   if r['gripper_ok'] is not None),
                     within_5cm=(float(np.mean([v <= 5.0 for v in l1])) if l1 else None),
                     names_object_rate=mean_or_none(r.get('names_object') for r in recs),
                     states_current_rate=mean_or_none(r.get('states_current') for r in recs))
        else:
            m['accuracy'] = float(np.mean([r['correct'] for r in recs]))
            # Over the rows whose reasoning states an aim; None when none does.
            m['aim_implied_accuracy'] = mean_or_none(r.get('aim_correct') for r in recs)
            # The letter written after a right aim: E128 aimed right at all 100 hard questions
            # and answered 46, losing 21 of the 26 whose answer is A (session 41).
            m['accuracy_given_right_aim'] = mean_or_none(
                r['correct'] for r in recs if r.get('aim_correct'))
            m['accuracy_by_gold_letter'] = {
                x: mean_or_none(r['correct'] for r, row in zip(recs, grp_rows)
                                if row['answer_letter'] == x) for x in OPTION_LETTERS}
            pred = collections.Counter(r['pred_letter'] for r in recs)
            gold = collections.Counter(row['answer_letter'] for row in grp_rows)
            m['predicted_letters'] = {x: pred.get(x, 0) for x in (*OPTION_LETTERS, INVALID)}
            m['gold_letters'] = {x: gold.get(x, 0) for x in OPTION_LETTERS}
            top = max(m['predicted_letters'].items(), key=lambda kv: kv[1])
            m['most_predicted_share'] = top[1] / len(idx)
        if key in parents:   # rows of its parent group, counted there too
            m['subgroup_of'] = parents[key]
        out[key] = m
    return out


def open_keypoint_by_phase(records: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The open-keypoint scores per demo phase (the target keyframe's ordinal, as a string key).

    A model can score a fair mean L1 while it gets one step of the task wrong every time: E95
    aimed at the zone's approach height in all of phases 4 and 5 of pick_place (lower onto the
    zone, open) and was right elsewhere, and the closed loop then stalled above the zone. The
    per-phase table shows that step; records without a phase are left out.
    """
    by_phase: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
    for rec in records:
        if rec['task_kind'] == OPEN and rec.get('phase') is not None:
            by_phase[int(rec['phase'])].append(rec)
    out = {}
    for phase in sorted(by_phase):
        recs = by_phase[phase]
        l1 = [r['l1_cm'] for r in recs if r['l1_cm'] is not None]
        out[str(phase)] = {
            'n': len(recs), 'l1_cm_mean': mean_or_none(l1),
            'l1_cm_median': float(np.median(l1)) if l1 else None,
            'gripper_accuracy': mean_or_none(r['gripper_ok'] for r in recs
                                             if r['gripper_ok'] is not None),
            'states_current_rate': mean_or_none(r.get('states_current') for r in recs),
            'format_failure_rate': 1.0 - float(np.mean([r['format_ok'] for r in recs]))}
    return out


def _group_order(key: str) -> tuple[int, str]:
    order = [TaskKind.NEXT_WAYPOINT.value, TaskKind.CURRENT_STATE.value,
             TaskKind.MOVEMENT.value, OPEN, TaskKind.OBJECT_POSITION.value,
             TaskKind.OBJECT_CHOICE.value]
    task = key.split('/')[0]
    return (order.index(task) if task in order else 9, key)


