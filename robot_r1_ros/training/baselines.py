"""Baselines that stand beside every accuracy: chance, constant letter and text-only rules.

A small model that collapses onto one answer letter scores that letter's share of the split,
and with the paper's random workspace distractors the correct option is often recognisable
from the text alone (research note on small-model learnability: ~95 % on next waypoint). So
every accuracy is reported next to:

- ``chance``: 1 / 4;
- ``constant``: the best "always answer X" score on the split (and the letter);
- ``text_only``: a rule that never looks at the image and "learns" only a nearest-neighbour
  table from the training split (the rules of the study):

  - next waypoint: the displacement of the nearest training state (current position + gripper)
    added to the current position, then the nearest option;
  - current state (no position in the text): the option nearest to any training-set current
    position;
  - movement: the label of the nearest training state if it is among the options, else the
    option naming the training set's most common label, else A;
  - open keypoint: current position + nearest training displacement (L1 in cm, and the
    gripper state of that neighbour's target).

All positions are env-frame metres as shown in the prompt (the dataset's columns).
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from robot_r1_ros.core.parsing import OPTION_LETTERS
from robot_r1_ros.core.types import TaskKind

CHANCE = 1.0 / len(OPTION_LETTERS)
_GRIPPER_PENALTY_M = 1.0  # a state with the other gripper state is never the nearest


def _parse_xyz_option(text: str) -> np.ndarray | None:
    """``'[0.1, -0.2, 0.3]'`` -> array, or None for a non-position option (movement)."""
    try:
        values = [float(v) for v in text.strip().strip('[]').split(',')]
    except ValueError:
        return None
    return np.array(values) if len(values) == 3 else None


@dataclass
class TextOnlyRules:
    """The text-only rules, fitted on training rows.

    Attributes:
        states: (N, 4) current position (3) + gripper open flag of training observations.
        displacements: (N, 3) next keypoint minus current position.
        target_gripper: (N,) gripper open flag at the next keypoint.
        current_positions: (M, 3) every training current position.
        movement_labels: (K,) movement answer texts, with ``movement_states`` (K, 4).
        majority_movement: The most common movement answer text.
    """

    states: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    displacements: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    target_gripper: np.ndarray = field(default_factory=lambda: np.zeros((0,), bool))
    current_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    movement_states: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    movement_labels: list[str] = field(default_factory=list)
    majority_movement: str = ''
    object_mean: np.ndarray | None = None

    @classmethod
    def fit(cls, rows: Iterable[dict[str, Any]]) -> 'TextOnlyRules':
        """Fit on training rows (columns ``task_kind``, ``current_xyz_env_m``,
        ``current_gripper``, ``answer_xyz_env_m``, ``options``, ``answer_letter``)."""
        states, disp, grip, currents, mstates, mlabels = [], [], [], [], [], []
        objects = []
        seen_obs = set()
        for row in rows:
            if (row['task_kind'] == TaskKind.OBJECT_POSITION.value
                    and row.get('answer_xyz_env_m') is not None):
                objects.append(np.asarray(row['answer_xyz_env_m'], float))
                continue
            if TaskKind.parse(row['task_kind']).is_grounding:
                continue
            cur = row.get('current_xyz_env_m')
            if cur is None:
                continue
            cur = np.asarray(cur, float)
            state = np.append(cur, 1.0 if row.get('current_gripper') == 'open' else 0.0)
            kind = row['task_kind']
            key = (row.get('episode_id'), row.get('frame_index'))
            if key not in seen_obs:
                seen_obs.add(key)
                currents.append(cur)
            if kind == TaskKind.OPEN_KEYPOINT.value and row.get('answer_xyz_env_m') is not None:
                states.append(state)
                disp.append(np.asarray(row['answer_xyz_env_m'], float) - cur)
                grip.append(row.get('target_gripper') == 'open')
            elif (kind == TaskKind.NEXT_WAYPOINT.value
                  and row.get('answer_xyz_env_m') is not None):
                if (key, 'wp') in seen_obs:
                    continue
                seen_obs.add((key, 'wp'))
                states.append(state)
                disp.append(np.asarray(row['answer_xyz_env_m'], float) - cur)
                grip.append(bool(state[3]))
            elif kind == TaskKind.MOVEMENT.value and row.get('answer_letter'):
                mstates.append(state)
                mlabels.append(row['options'][OPTION_LETTERS.index(row['answer_letter'])])
        majority = collections.Counter(mlabels).most_common(1)
        return cls(states=np.array(states).reshape(-1, 4),
                   displacements=np.array(disp).reshape(-1, 3),
                   target_gripper=np.array(grip, bool),
                   current_positions=np.array(currents).reshape(-1, 3),
                   movement_states=np.array(mstates).reshape(-1, 4), movement_labels=mlabels,
                   majority_movement=majority[0][0] if majority else '',
                   object_mean=np.mean(objects, axis=0) if objects else None)

    @staticmethod
    def _nearest(table: np.ndarray, state: np.ndarray) -> int | None:
        if len(table) == 0:
            return None
        d = np.linalg.norm(table[:, :3] - state[:3], axis=1)
        d = d + _GRIPPER_PENALTY_M * (table[:, 3] != state[3])
        return int(np.argmin(d))

    def _state(self, row: dict[str, Any]) -> np.ndarray | None:
        cur = row.get('current_xyz_env_m')
        if cur is None:
            return None
        return np.append(np.asarray(cur, float), 1.0 if row.get('current_gripper') == 'open'
                         else 0.0)

    def predict_position(self, row: dict[str, Any]) -> tuple[np.ndarray, bool] | None:
        """Text-only guess of the next keypoint (env frame) and gripper open flag; for a
        grounding question, the mean object position of the training split."""
        if TaskKind.parse(row['task_kind']).is_grounding:
            if self.object_mean is None:
                return None
            return self.object_mean, True
        state = self._state(row)
        if state is None:
            return None
        i = self._nearest(self.states, state)
        if i is None:
            return state[:3], bool(state[3])
        return state[:3] + self.displacements[i], bool(self.target_gripper[i])

    def predict_letter(self, row: dict[str, Any]) -> str:
        """Text-only answer letter of a multiple-choice row."""
        kind = row['task_kind']
        options = list(row.get('options') or [])
        if len(options) != len(OPTION_LETTERS):
            return OPTION_LETTERS[0]
        if kind == TaskKind.MOVEMENT.value:
            state = self._state(row)
            i = self._nearest(self.movement_states, state) if state is not None else None
            for label in ([self.movement_labels[i]] if i is not None else []) + [
                    self.majority_movement]:
                if label in options:
                    return OPTION_LETTERS[options.index(label)]
            return OPTION_LETTERS[0]
        positions = [_parse_xyz_option(o) for o in options]
        if any(p is None for p in positions):
            return OPTION_LETTERS[0]
        pos = np.stack(positions)
        if kind == TaskKind.CURRENT_STATE.value:
            if len(self.current_positions) == 0:
                return OPTION_LETTERS[0]
            d = np.linalg.norm(pos[:, None, :] - self.current_positions[None], axis=2).min(1)
            return OPTION_LETTERS[int(np.argmin(d))]
        guess = self.predict_position(row)
        if guess is None:
            return OPTION_LETTERS[0]
        return OPTION_LETTERS[int(np.argmin(np.linalg.norm(pos - guess[0], axis=1)))]


def constant_letter_scores(gold_letters: Sequence[str]) -> dict[str, float]:
    """Accuracy of "always answer X" for every letter (0.0 for an empty list)."""
    n = len(gold_letters)
    counts = collections.Counter(gold_letters)
    return {x: (counts.get(x, 0) / n if n else 0.0) for x in OPTION_LETTERS}


def baseline_scores(rows: Sequence[dict[str, Any]], rules: TextOnlyRules) -> dict[str, Any]:
    """Chance, best constant letter and text-only rule on a group of rows of one task.

    Returns:
        For multiple-choice rows: ``{'chance', 'constant': {'letter', 'accuracy', 'all'},
        'text_only'}``; for open-ended rows: ``{'text_only_l1_cm', 'text_only_gripper_acc',
        'copy_current_l1_cm'}``.
    """
    if not rows:
        return {}
    if not TaskKind.parse(rows[0]['task_kind']).is_multiple_choice:
        l1, grip_ok, copy_l1 = [], [], []
        for row in rows:
            target = np.asarray(row['answer_xyz_env_m'], float)
            guess = rules.predict_position(row)
            if guess is not None:
                l1.append(float(np.abs(guess[0] - target).sum()) * 100.0)
                if row.get('target_gripper') is not None:
                    grip_ok.append(('open' if guess[1] else 'closed') == row['target_gripper'])
            if row.get('current_xyz_env_m') is not None:
                copy_l1.append(float(np.abs(np.asarray(row['current_xyz_env_m']) - target).sum())
                               * 100.0)
        return {'text_only_l1_cm': float(np.mean(l1)) if l1 else None,
                'text_only_gripper_acc': float(np.mean(grip_ok)) if grip_ok else None,
                'copy_current_l1_cm': float(np.mean(copy_l1)) if copy_l1 else None}
    gold = [row['answer_letter'] for row in rows]
    scores = constant_letter_scores(gold)
    best = max(OPTION_LETTERS, key=lambda x: (scores[x], -OPTION_LETTERS.index(x)))
    text = float(np.mean([rules.predict_letter(row) == row['answer_letter'] for row in rows]))
    return {'chance': CHANCE, 'constant': {'letter': best, 'accuracy': scores[best],
                                           'all': scores},
            'text_only': text}
