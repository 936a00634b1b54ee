"""GRPO rewards in TRL's signature ``f(completions, **columns) -> list[float | None]``.

``completions`` is a list of strings, or (TRL, conversational datasets) a list of message lists
``[{'role': 'assistant', 'content': '...'}]``. Every other keyword is a dataset column with one
value per completion (TRL repeats each prompt's row for its generations).

Ground-truth columns (written by ``QASample.reward_columns()``; one value per completion):

- ``task_kind`` (str, a ``TaskKind`` value): which task the prompt asked;
- ``answer_letter`` (``'A'``..``'D'`` or None): the correct option of a multiple-choice task;
- ``target_xyz_env_m`` (3 floats or None): the next keypoint, env frame, metres (open task), or
  the asked object's position (object-position question);
- ``target_gripper`` (``'open'``/``'closed'`` or None): gripper state there (open task).

Rewards (registry names in :data:`REWARDS`):

- ``format`` (:func:`format_reward`): 1.0 if the completion is
  ``<think>...</think><answer>...</answer>`` *and* the answer follows the grammar of the
  sample's task (a letter ``[[B]]`` or ``[x, y, z] open``), else 0.0. Without ``task_kind`` only
  the tags are checked. Applies to every sample (the paper's r_f).
- ``think_format`` (:func:`think_format_reward`): 1.0 for the tag structure alone.
- ``choice_accuracy`` (:func:`choice_accuracy_reward`): 1.0 if the chosen letter equals
  ``answer_letter`` (the paper's exact-match r_a); None for the open task.
- ``position`` (:func:`position_reward`): ``clip(1 - L1, 0, 1)`` with L1 the sum of absolute
  coordinate errors in metres (the paper's open-ended reward), for both open questions (the next
  keypoint and the object position, ``[x, y, z]`` without a gripper word); None for
  multiple-choice tasks.
- ``gripper`` (:func:`gripper_reward`): 1.0 if the gripper word equals ``target_gripper``; None
  for multiple-choice tasks.

Contract: a reward never raises. A malformed completion scores 0.0; a sample whose task the
reward does not apply to (or that lacks the reward's ground truth) gets None, which TRL ignores
for that function. Parsing is cached, so the several rewards of one batch parse each completion
once.
"""
from __future__ import annotations

import functools
import logging
import math
from typing import Any, Callable, Sequence

from robot_r1_ros.core.errors import AnswerFormatError, ConfigError
from robot_r1_ros.core.parsing import (OPTION_LETTERS, completion_text, parse_completion,
                                       parse_open_keypoint, parse_option, parse_xyz_answer)
from robot_r1_ros.core.types import TaskKind

_LOG = logging.getLogger(__name__)

RewardFunc = Callable[..., list]

_MCQ_KINDS = frozenset(k.value for k in TaskKind if k.is_multiple_choice)
_OPEN = TaskKind.OPEN_KEYPOINT.value
_XYZ_ONLY = TaskKind.OBJECT_POSITION.value
_OPEN_KINDS = frozenset((_OPEN, _XYZ_ONLY))


@functools.lru_cache(maxsize=65536)
def _parse_cached(text: str) -> tuple[bool, str | None, Any]:
    """(tags ok, option letter or None, (xyz, gripper value) or None); never raises."""
    try:
        answer = parse_completion(text).answer
    except AnswerFormatError:
        return (False, None, None)
    try:
        return (True, parse_option(answer), None)
    except AnswerFormatError:
        pass
    try:
        xyz, gripper = parse_open_keypoint(answer)
        return (True, None, (xyz, gripper.value))
    except AnswerFormatError:
        pass
    try:
        return (True, None, (parse_xyz_answer(answer), None))
    except AnswerFormatError:
        return (True, None, None)


_UNREADABLE = (False, None, None)


def _parsed(completion: Any) -> tuple[bool, str | None, Any]:
    """Parse one completion in any TRL form (see :func:`_parse_cached`)."""
    try:
        text = completion_text(completion)
    except Exception:  # noqa: BLE001 - rewards never raise, whatever callers pass
        return _UNREADABLE
    if not isinstance(text, str):
        return _UNREADABLE
    return _parse_cached(text)


def _column(kwargs: dict[str, Any], name: str, n: int) -> list[Any]:
    """Column ``name`` as a list of length n (missing or malformed -> Nones)."""
    values = kwargs.get(name)
    if values is None:
        return [None] * n
    try:
        values = list(values)
    except TypeError:
        return [None] * n
    if len(values) != n:
        _warn_once(f'column {name!r} has {len(values)} values for {n} completions; ignored')
        return [None] * n
    return values


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        _LOG.warning(message)


def _kind(value: Any) -> str | None:
    """Normalised task kind string, or None if missing/unknown."""
    if isinstance(value, TaskKind):
        return value.value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _MCQ_KINDS or text in _OPEN_KINDS:
            return text
    return None


def _grammar_ok(kind: str, keypoint: Any) -> bool:
    """The parsed position answer has its task's form: a gripper word for the open keypoint,
    none for the object position."""
    if keypoint is None:
        return False
    return (keypoint[1] is None) == (kind == _XYZ_ONLY)


def _letter(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().upper() in OPTION_LETTERS:
        return value.strip().upper()
    return None


def _xyz(value: Any) -> tuple[float, float, float] | None:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        return None
    return values  # type: ignore[return-value]


def _gripper(value: Any) -> str | None:
    if isinstance(value, str) and value.strip().lower() in ('open', 'closed'):
        return value.strip().lower()
    if hasattr(value, 'value') and value.value in ('open', 'closed'):
        return value.value
    return None


def _safe(name: str, completions: Any) -> tuple[list[Any], int] | None:
    try:
        items = list(completions)
    except TypeError:
        _warn_once(f'{name}: completions is not iterable')
        return None
    return items, len(items)


def _never_raise(func: RewardFunc) -> RewardFunc:
    """Keep a reward's promise not to raise, whatever objects a caller passes.

    Anything unexpected is logged (once per message) and scores 0.0 for every completion.
    """
    @functools.wraps(func)
    def wrapper(completions: Any, **kwargs: Any) -> list[float | None]:
        try:
            return func(completions, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the reward contract is "never raise"
            _warn_once(f'{func.__name__} failed on its input ({type(exc).__name__}: {exc}); '
                       'scoring 0.0')
            try:
                return [0.0] * len(completions)
            except Exception:  # noqa: BLE001
                return []
    return wrapper


@_never_raise
def think_format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 for ``<think>...</think><answer>...</answer>`` (tags only), else 0.0.

    Example:
        >>> think_format_reward(['<think>ok</think><answer>[[A]]</answer>', 'A'])
        [1.0, 0.0]
    """
    got = _safe('think_format_reward', completions)
    if got is None:
        return []
    items, _ = got
    return [1.0 if _parsed(c)[0] else 0.0 for c in items]


@_never_raise
def format_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 if the tags are right and the answer follows the task's grammar, else 0.0.

    Uses the ``task_kind`` column; without it (or for an unknown kind) only the tags count.

    Example:
        >>> format_reward(['<think>x</think><answer>[[B]]</answer>'], task_kind=['movement'])
        [1.0]
    """
    got = _safe('format_reward', completions)
    if got is None:
        return []
    items, n = got
    kinds = _column(kwargs, 'task_kind', n)
    out: list[float | None] = []
    for completion, kind_value in zip(items, kinds):
        tags_ok, option, keypoint = _parsed(completion)
        kind = _kind(kind_value)
        if not tags_ok:
            out.append(0.0)
        elif kind is None:
            out.append(1.0)
        elif kind in _OPEN_KINDS:
            out.append(1.0 if _grammar_ok(kind, keypoint) else 0.0)
        else:
            out.append(1.0 if option is not None else 0.0)
    return out


@_never_raise
def choice_accuracy_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """Exact match of the chosen option letter with ``answer_letter`` (multiple-choice tasks).

    Returns None for the open task and for rows without a valid ``answer_letter``.

    Example:
        >>> choice_accuracy_reward(['<think></think><answer>[[C]]</answer>'] * 2,
        ...                        task_kind=['next_waypoint', 'open_keypoint'],
        ...                        answer_letter=['C', None])
        [1.0, None]
    """
    got = _safe('choice_accuracy_reward', completions)
    if got is None:
        return []
    items, n = got
    kinds = _column(kwargs, 'task_kind', n)
    letters = _column(kwargs, 'answer_letter', n)
    out: list[float | None] = []
    for completion, kind_value, letter_value in zip(items, kinds, letters):
        kind, letter = _kind(kind_value), _letter(letter_value)
        if kind in _OPEN_KINDS or letter is None:
            out.append(None)
            continue
        out.append(1.0 if _parsed(completion)[1] == letter else 0.0)
    return out


@_never_raise
def position_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """``clip(1 - L1, 0, 1)``, L1 in metres between the answer and ``target_xyz_env_m``.

    Returns None for multiple-choice tasks and rows without a valid target.

    Example:
        >>> position_reward(['<think></think><answer>[0.100, 0.000, 0.200] open</answer>'],
        ...                 task_kind=['open_keypoint'], target_xyz_env_m=[[0.1, 0.05, 0.25]])
        [0.9]
    """
    got = _safe('position_reward', completions)
    if got is None:
        return []
    items, n = got
    kinds = _column(kwargs, 'task_kind', n)
    targets = _column(kwargs, 'target_xyz_env_m', n)
    out: list[float | None] = []
    for completion, kind_value, target_value in zip(items, kinds, targets):
        kind, target = _kind(kind_value), _xyz(target_value)
        if (kind is not None and kind not in _OPEN_KINDS) or target is None:
            out.append(None)
            continue
        keypoint = _parsed(completion)[2]
        if keypoint is None or (kind is not None and not _grammar_ok(kind, keypoint)):
            out.append(0.0)
            continue
        l1 = sum(abs(a - b) for a, b in zip(keypoint[0], target))
        out.append(round(min(1.0, max(0.0, 1.0 - l1)), 9))
    return out


@_never_raise
def gripper_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """1.0 if the answer's gripper word equals ``target_gripper`` (open task), else 0.0.

    Returns None for multiple-choice tasks and rows without a valid target.

    Example:
        >>> gripper_reward(['<think></think><answer>[0.100, 0.000, 0.200] open</answer>'],
        ...                task_kind=['open_keypoint'], target_gripper=['closed'])
        [0.0]
    """
    got = _safe('gripper_reward', completions)
    if got is None:
        return []
    items, n = got
    kinds = _column(kwargs, 'task_kind', n)
    targets = _column(kwargs, 'target_gripper', n)
    out: list[float | None] = []
    for completion, kind_value, target_value in zip(items, kinds, targets):
        kind, target = _kind(kind_value), _gripper(target_value)
        if (kind is not None and kind != _OPEN) or target is None:
            out.append(None)
            continue
        keypoint = _parsed(completion)[2]
        out.append(1.0 if keypoint is not None and keypoint[1] == target else 0.0)
    return out


REWARDS: dict[str, RewardFunc] = {
    'format': format_reward,
    'think_format': think_format_reward,
    'choice_accuracy': choice_accuracy_reward,
    'position': position_reward,
    'gripper': gripper_reward,
}
"""Registry: config name -> reward function (``__name__`` is ``<name>_reward``)."""

DEFAULT_REWARDS: tuple[str, ...] = ('format', 'choice_accuracy', 'position', 'gripper')
"""The paper's R = r_f + r_a, with the open task's position and gripper terms."""


def get_reward_funcs(names: Sequence[str] | str) -> list[RewardFunc]:
    """Reward functions by registry name, in the given order.

    Args:
        names: Names from :data:`REWARDS` (a list, or one comma-separated string).

    Returns:
        The functions, ready for ``GRPOTrainer(reward_funcs=...)``.

    Raises:
        ConfigError: An unknown or repeated name, or no names (the message lists the valid
            ones; field ``reward_funcs``).
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(',') if n.strip()]
    names = list(names)
    valid = ', '.join(REWARDS)
    if not names:
        raise ConfigError(f'reward_funcs is empty; valid names: {valid}', 'reward_funcs')
    funcs = []
    for name in names:
        if name not in REWARDS:
            raise ConfigError(f'unknown reward {name!r}; valid names: {valid}', 'reward_funcs')
        if names.count(name) > 1:
            raise ConfigError(f'reward {name!r} is listed twice', 'reward_funcs')
        funcs.append(REWARDS[name])
    return funcs
