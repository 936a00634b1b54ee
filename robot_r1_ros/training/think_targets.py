"""The SFT targets of the curriculum (``robot-r1 learn``): the reasoning written before the
answer (:data:`THINK_KINDS`) and the gold completion of a dataset row."""
from __future__ import annotations

from typing import Any, Sequence

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.parsing import format_completion

THINK_KINDS = ('template', 'empty', 'compare', 'plan')
LETTERS = 'ABCD'
MC_TASKS = ('next_waypoint', 'current_state', 'movement')


def _fmt_xyz(xyz: Sequence[float]) -> str:
    return '[' + ', '.join(f'{float(v):.3f}' for v in xyz) + ']'


def reasoning(row: dict[str, Any], think: str) -> str:
    """The SFT reasoning of a row.

    ``compare`` (multiple-choice tasks): ``now [x, y, z] open. A [..] no. B [..] yes. ...``
    -- the current state (not for ``current_state``, whose prompt has none), then every
    option copied from the prompt with a verdict.
    Copying an option is dense supervision for the attention pattern that selection needs
    (find ``[[A]]`` in the prompt, read what follows), each verdict sits right after the
    coordinates it judges, and the final letter is the one before the single ``yes``. Other
    tasks fall back to the template reasoning.

    ``plan`` is ``compare``, except that a movement question states the gold movement before the
    verdicts (``now [..] open. expect move forward and move down. A move up no. ...``): the
    movement is predicted once, with a supervised token per axis word, and each verdict is then
    a string match against it rather than a fresh prediction per option.

    Raises:
        ConfigError: Unknown ``think``.
    """
    if think == 'empty':
        return ''
    if think == 'template':
        return str(row.get('gold_think') or '')
    if think not in ('compare', 'plan'):
        raise ConfigError(f'unknown think kind {think!r}', 'think')
    options = row.get('options') or []
    if row.get('task_kind') not in MC_TASKS or len(options) != 4:
        return str(row.get('gold_think') or '')
    answer = str(row['answer_letter'])
    parts = []
    # The current-state prompt has no state in its text (the answer is in the image).
    if row.get('task_kind') != 'current_state' and row.get('current_xyz_env_m') is not None:
        parts.append(f"now {_fmt_xyz(row['current_xyz_env_m'])} {row.get('current_gripper')}.")
    if think == 'plan' and row.get('task_kind') == 'movement':
        parts.append(f"expect {options[LETTERS.index(answer)]}.")
    for letter, opt in zip(LETTERS, options):
        parts.append(f"{letter} {opt} {'yes' if letter == answer else 'no'}.")
    return ' '.join(parts)


def completion(row: dict[str, Any], think: str) -> str:
    """The gold completion (``<think>..</think><answer>..</answer>``) of a row."""
    return format_completion(reasoning(row, think), str(row['answer_text']))
