"""The paper's movement vocabulary: position delta <-> words such as "slightly move up".

Rule (arXiv 2506.00070, Sec. 3.2): every env axis whose change is not negligible adds a phrase
``move <word>``; if that axis's change is at most half of the largest change, the phrase is
prefixed with ``slightly``. Phrases are in x, y, z order and joined like the paper's example
("slightly move forward, slightly move left, and move down"): one phrase alone, two with
``and``, three with commas and ``, and``.

Thresholds (documented, configurable):

- ``dead_band_m`` (default :data:`DEFAULT_DEAD_BAND_M` = 0.02 m): an axis whose absolute change
  is below this is ignored. 2 cm is below the Panda's visible motion at 224 px and matches the
  dead band of the learnability study (research note); a delta with every axis in the dead band
  is described as :data:`NO_MOVEMENT`.
- ``slight_ratio`` (default 0.5): ``|delta_axis| <= slight_ratio * max |delta|`` is "slightly".
  The axis with the largest change is therefore never "slightly".

Words per env axis (negative, positive): x (``backward``, ``forward``), y (``left``, ``right``),
z (``down``, ``up``); "forward" is toward the camera, as in the env frame's axis description.
A movement is summarised by *parts*: one integer per axis in {-2, -1, 0, 1, 2} (sign =
direction, 1 = slightly, 2 = full, 0 = no movement).
"""
from __future__ import annotations

import re
from typing import Sequence

import numpy as np

from robot_r1_ros.core.errors import AnswerFormatError, BadInputError

DEFAULT_DEAD_BAND_M = 0.02
DEFAULT_SLIGHT_RATIO = 0.5
AXIS_WORDS: tuple[tuple[str, str], ...] = (('backward', 'forward'), ('left', 'right'),
                                           ('down', 'up'))
"""(negative, positive) direction word per env axis x, y, z."""
NO_MOVEMENT = 'stay in place'
"""The label of a delta below the dead band on every axis."""

Parts = tuple[int, int, int]

_WORD_TO_AXIS = {word: (axis, sign) for axis, pair in enumerate(AXIS_WORDS)
                 for sign, word in zip((-1, 1), pair)}
_PHRASE_RE = re.compile(r'(slightly\s+)?move\s+([a-z]+)')


def movement_parts(delta_env_m: Sequence[float], dead_band_m: float = DEFAULT_DEAD_BAND_M,
                   slight_ratio: float = DEFAULT_SLIGHT_RATIO) -> Parts:
    """Quantise a displacement into per-axis parts.

    Args:
        delta_env_m: Target minus current position in the env frame (3,), metres.
        dead_band_m: Axes with ``|delta| < dead_band_m`` count as no movement.
        slight_ratio: Axes with ``|delta| <= slight_ratio * max|delta|`` are "slightly".

    Returns:
        ``(px, py, pz)`` each in {-2, -1, 0, 1, 2}.

    Raises:
        BadInputError: ``delta_env_m`` is not 3 finite numbers, or a threshold is negative.
    """
    delta = np.asarray(delta_env_m, dtype=float)
    if delta.shape != (3,) or not np.all(np.isfinite(delta)):
        raise BadInputError(f'delta_env_m must be 3 finite numbers, got {delta_env_m!r}')
    if dead_band_m < 0 or not 0 <= slight_ratio <= 1:
        raise BadInputError(f'need dead_band_m >= 0 and 0 <= slight_ratio <= 1, got '
                            f'{dead_band_m}, {slight_ratio}')
    magnitude = np.abs(delta)
    biggest = float(magnitude.max())
    parts = []
    for value, size in zip(delta, magnitude):
        if size < dead_band_m or size == 0.0:
            parts.append(0)
        else:
            level = 1 if size <= slight_ratio * biggest else 2
            parts.append(level if value > 0 else -level)
    return tuple(parts)  # type: ignore[return-value]


def movement_text(parts: Sequence[int]) -> str:
    """Words for movement parts, e.g. ``(1, 0, -2)`` -> ``'slightly move forward and move down'``.

    Raises:
        BadInputError: ``parts`` is not three integers in {-2..2}.
    """
    parts = _check_parts(parts)
    phrases = []
    for axis, part in enumerate(parts):
        if part == 0:
            continue
        word = AXIS_WORDS[axis][part > 0]
        phrases.append(('slightly ' if abs(part) == 1 else '') + 'move ' + word)
    if not phrases:
        return NO_MOVEMENT
    if len(phrases) == 1:
        return phrases[0]
    if len(phrases) == 2:
        return f'{phrases[0]} and {phrases[1]}'
    return f'{phrases[0]}, {phrases[1]}, and {phrases[2]}'


def describe_movement(from_xyz_env_m: Sequence[float], to_xyz_env_m: Sequence[float],
                      dead_band_m: float = DEFAULT_DEAD_BAND_M,
                      slight_ratio: float = DEFAULT_SLIGHT_RATIO) -> str:
    """The movement label from one position to another (both env frame, metres)."""
    delta = np.asarray(to_xyz_env_m, dtype=float) - np.asarray(from_xyz_env_m, dtype=float)
    return movement_text(movement_parts(delta, dead_band_m, slight_ratio))


def parse_movement(text: str) -> Parts:
    """Read a movement label back into parts (inverse of :func:`movement_text`).

    Accepts any case and whitespace, the paper's ``front``/``back`` as synonyms of
    ``forward``/``backward``, and phrases joined by commas and/or ``and``.

    Raises:
        AnswerFormatError: Unknown words, an axis named twice, or no phrase at all.
    """
    if not isinstance(text, str):
        raise AnswerFormatError(f'expected a movement label string, got {type(text).__name__}')
    cleaned = ' '.join(text.lower().replace(',', ' , ').split()).rstrip('.')
    if cleaned.strip() == NO_MOVEMENT:
        return (0, 0, 0)
    chunks = [c.strip() for c in re.split(r'\s*,\s*(?:and\s+)?|\s+and\s+', cleaned) if c.strip()]
    if not chunks:
        raise AnswerFormatError(f'expected a movement such as "slightly move up", got {text!r}')
    parts = [0, 0, 0]
    for chunk in chunks:
        match = _PHRASE_RE.fullmatch(chunk)
        word = match.group(2) if match else ''
        word = {'front': 'forward', 'back': 'backward'}.get(word, word)
        if match is None or word not in _WORD_TO_AXIS:
            valid = ', '.join(w for pair in AXIS_WORDS for w in pair)
            raise AnswerFormatError(f'expected phrases "[slightly] move WORD" with WORD one of '
                                    f'{valid}; got {chunk!r}', text)
        axis, sign = _WORD_TO_AXIS[word]
        if parts[axis] != 0:
            raise AnswerFormatError(f'axis {"xyz"[axis]} is named twice in {text!r}', text)
        parts[axis] = sign * (1 if match.group(1) else 2)
    return tuple(parts)  # type: ignore[return-value]


def _check_parts(parts: Sequence[int]) -> Parts:
    values = tuple(parts)
    if len(values) != 3 or not all(isinstance(v, (int, np.integer)) and -2 <= v <= 2
                                   for v in values):
        raise BadInputError(f'movement parts must be 3 integers in -2..2, got {parts!r}')
    return tuple(int(v) for v in values)  # type: ignore[return-value]


def adjacent_movements(parts: Sequence[int], rng: np.random.Generator, k: int = 3) -> list[Parts]:
    """``k`` distinct movement labels near ``parts`` (the paper's "adjacent" distractors).

    Neighbours differ from ``parts`` on one or two axes by one level (-2..2, e.g. "move up" ->
    "slightly move up" or "slightly move down"), never equal ``parts``, never the empty
    movement, and keep the paper's rule that the largest change is never "slightly".

    Raises:
        BadInputError: ``parts`` is invalid or fewer than ``k`` neighbours exist.
    """
    base = _check_parts(parts)
    candidates: set[Parts] = set()
    for first in range(3):
        for d1 in (-1, 1):
            one = list(base)
            one[first] += d1
            if -2 <= one[first] <= 2:
                candidates.add(tuple(one))  # type: ignore[arg-type]
                for second in range(first + 1, 3):
                    for d2 in (-1, 1):
                        two = list(one)
                        two[second] += d2
                        if -2 <= two[second] <= 2:
                            candidates.add(tuple(two))  # type: ignore[arg-type]
    valid = sorted(c for c in candidates if c != base and _is_valid_label(c))
    if len(valid) < k:
        raise BadInputError(f'only {len(valid)} adjacent movements exist for {base}')
    # Prefer single-axis neighbours (truly adjacent), fill up with two-axis ones.
    single = [c for c in valid if sum(a != b for a, b in zip(c, base)) == 1]
    double = [c for c in valid if c not in single]
    order = list(rng.permutation(len(single)))
    chosen = [single[i] for i in order[:k]]
    if len(chosen) < k:
        extra = list(rng.permutation(len(double)))
        chosen += [double[i] for i in extra[:k - len(chosen)]]
    return chosen


def _is_valid_label(parts: Parts) -> bool:
    """Non-empty, and some axis is a full move (the largest change is never "slightly")."""
    return any(parts) and any(abs(p) == 2 for p in parts)
