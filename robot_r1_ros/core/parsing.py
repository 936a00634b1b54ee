"""The answer grammar: the only code that knows how a completion is written and read.

A completion is ``<think>REASONING</think>`` then optional whitespace then
``<answer>ANSWER</answer>`` (surrounding whitespace allowed; tag names are case-insensitive).

- Multiple-choice tasks: ANSWER is one letter A-D in double brackets, ``[[B]]``; whitespace
  around and inside the brackets and a lower-case letter are accepted.
- Open-ended next keypoint: ANSWER is ``[x, y, z] GRIPPER`` with x, y, z in the env frame in
  metres and GRIPPER ``open`` or ``closed`` (case-insensitive). Canonical numbers have exactly 3
  decimals; the parser accepts 0-4 decimals and at most two integer digits.

Tolerance policy: variations a model produces without changing the meaning (whitespace, case,
decimals) are accepted. Anything that could change the action is rejected with an
:class:`AnswerFormatError` that says what was expected: two letters, two positions, a missing or
repeated gripper word, extra words, nested or repeated tags.

Canonical writers (``format_*``) produce exactly what :func:`answer_regex` matches, so gold
answers, constrained decoding and parsing cannot drift apart.
"""
from __future__ import annotations

import math
import re
from typing import Any, NamedTuple, Sequence

from robot_r1_ros.core.errors import AnswerFormatError, BadInputError
from robot_r1_ros.core.types import XYZ, GripperState, TaskKind

OPTION_LETTERS: tuple[str, ...] = ('A', 'B', 'C', 'D')
"""The option letters of the multiple-choice tasks, in order."""

# Canonical ANSWER patterns (what gold answers look like and what constrained decoding allows).
_CANON_NUM = r'-?\d{1,2}\.\d{3}'
_OPTION_CANON = r'\[\[[A-D]\]\]'
_XYZ_CANON = r'\[' + _CANON_NUM + ', ' + _CANON_NUM + ', ' + _CANON_NUM + r'\]'
_OPEN_CANON = _XYZ_CANON + r' (open|closed)'

# Tolerant parsing patterns.
_COMPLETION_RE = re.compile(
    r'\A\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*\Z', re.DOTALL | re.IGNORECASE)
_TAG_RE = re.compile(r'<\s*(/?)\s*(think|answer)\s*>', re.IGNORECASE)
_OPTION_RE = re.compile(r'\s*\[\[\s*([A-Da-d])\s*\]\]\s*')
_ANY_OPTION_RE = re.compile(r'\[\[\s*([^\[\]\s]*)\s*\]\]')
_NUM = r'(-?\d{1,2}(?:\.\d{1,4})?)'
_OPEN_RE = re.compile(
    r'\s*\[\s*' + _NUM + r'\s*,\s*' + _NUM + r'\s*,\s*' + _NUM + r'\s*\]\s*(open|closed)\s*',
    re.IGNORECASE)
_XYZ_RE = re.compile(r'\s*\[\s*' + _NUM + r'\s*,\s*' + _NUM + r'\s*,\s*' + _NUM + r'\s*\]\s*')
_BRACKET_RE = re.compile(r'\[([^\[\]]*)\]')
_GRIPPER_WORD_RE = re.compile(r'\b(open|opened|closed|close)\b', re.IGNORECASE)
_LOOSE_NUM_RE = re.compile(r'^[+-]?(\d+)(?:\.(\d+))?$')

_MAX_SHOWN = 80


class ParsedCompletion(NamedTuple):
    """The two parts of a well-formed completion.

    Attributes:
        think: The reasoning between ``<think>`` tags, stripped of surrounding whitespace.
        answer: The text between ``<answer>`` tags, stripped of surrounding whitespace.
    """

    think: str
    answer: str


def _shown(text: str) -> str:
    """Short repr of ``text`` for error messages."""
    return repr(text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + '...')


def parse_completion(text: str) -> ParsedCompletion:
    """Split a completion into reasoning and answer.

    Args:
        text: The decoded completion, e.g. ``'<think>...</think> <answer>[[B]]</answer>'``.

    Returns:
        The stripped think and answer parts.

    Raises:
        AnswerFormatError: ``text`` is not exactly one think block followed by one answer block
            (only whitespace around them), or a tag appears inside a block.
    """
    if not isinstance(text, str):
        raise AnswerFormatError(f'expected the completion as a string, got {type(text).__name__}')
    match = _COMPLETION_RE.match(text)
    if match is not None:
        think, answer = match.group(1), match.group(2)
        # Fast path: a stray tag inside a block would make the split ambiguous.
        if '<' not in think and '<' not in answer:
            return ParsedCompletion(think.strip(), answer.strip())
        if not _TAG_RE.search(think) and not _TAG_RE.search(answer):
            return ParsedCompletion(think.strip(), answer.strip())
    raise AnswerFormatError(_diagnose_completion(text), text)


def _diagnose_completion(text: str) -> str:
    """Message saying why ``text`` is not ``<think>...</think><answer>...</answer>``."""
    expected = "expected '<think>REASONING</think><answer>ANSWER</answer>'"
    counts: dict[str, int] = {}
    for m in _TAG_RE.finditer(text):
        key = ('</' if m.group(1) else '<') + m.group(2).lower() + '>'
        counts[key] = counts.get(key, 0) + 1
    for tag in ('<think>', '</think>', '<answer>', '</answer>'):
        n = counts.get(tag, 0)
        if n == 0:
            return f'{expected}; missing {tag} in {_shown(text)}'
        if n > 1:
            return f'{expected}; found {tag} {n} times'
    lowered = text.lower()
    if lowered.find('<answer') < lowered.find('</think'):
        return f'{expected}; the answer block must follow </think>'
    if not re.match(r'\s*<\s*think\s*>', text, re.IGNORECASE):
        return f'{expected}; unexpected text before <think>: {_shown(text)}'
    if re.search(r'</\s*answer\s*>\s*\S', text, re.IGNORECASE):
        return f'{expected}; unexpected text after </answer>: {_shown(text)}'
    if not re.search(r'</\s*think\s*>\s*<\s*answer\s*>', text, re.IGNORECASE):
        return f'{expected}; only whitespace may separate </think> and <answer>'
    return f'{expected}; malformed tags in {_shown(text)}'


def parse_option(answer: str) -> str:
    """Read the option letter of a multiple-choice answer.

    Args:
        answer: The text between the answer tags, e.g. ``' [[b]] '``.

    Returns:
        The upper-case letter, ``'A'`` to ``'D'``.

    Raises:
        AnswerFormatError: Not exactly one bracketed letter A-D and nothing else.
    """
    if not isinstance(answer, str):
        raise AnswerFormatError(f'expected the answer as a string, got {type(answer).__name__}')
    match = _OPTION_RE.fullmatch(answer)
    if match is not None:
        return match.group(1).upper()
    expected = 'expected exactly one option letter A-D in double brackets, like [[B]]'
    found = _ANY_OPTION_RE.findall(answer)
    if len(found) > 1:
        return _raise(f'{expected}; found {len(found)} options: '
                      + ', '.join(f'[[{f}]]' for f in found), answer)
    if len(found) == 1:
        inner = found[0]
        if not re.fullmatch(r'[A-Da-d]', inner):
            return _raise(f'{expected}; got [[{inner}]]', answer)
        return _raise(f'{expected} and nothing else; got {_shown(answer)}', answer)
    return _raise(f'{expected}; got {_shown(answer)}', answer)


def _raise(message: str, text: str) -> Any:
    raise AnswerFormatError(message, text)


def parse_open_keypoint(answer: str) -> tuple[XYZ, GripperState]:
    """Read the answer of the open-ended next-keypoint task.

    Args:
        answer: The text between the answer tags, e.g. ``'[0.123, -0.045, 0.210] open'``.

    Returns:
        ``((x, y, z), gripper)`` with the position in the env frame, metres.

    Raises:
        AnswerFormatError: Not exactly one ``[x, y, z]`` followed by exactly one of ``open`` /
            ``closed``, or a number outside the accepted form (at most 2 integer digits and
            4 decimals).
    """
    if not isinstance(answer, str):
        raise AnswerFormatError(f'expected the answer as a string, got {type(answer).__name__}')
    match = _OPEN_RE.fullmatch(answer)
    if match is not None:
        xyz = (float(match.group(1)), float(match.group(2)), float(match.group(3)))
        return xyz, GripperState(match.group(4).lower())
    return _raise(_diagnose_open(answer), answer)


def parse_xyz_answer(answer: str) -> XYZ:
    """Read the answer of the open object-position question: exactly one ``[x, y, z]``.

    Raises:
        AnswerFormatError: Anything else (the message says what).
    """
    if not isinstance(answer, str):
        raise AnswerFormatError(f'expected the answer as a string, got {type(answer).__name__}')
    match = _XYZ_RE.fullmatch(answer)
    if match is not None:
        return (float(match.group(1)), float(match.group(2)), float(match.group(3)))
    return _raise("expected one position '[x, y, z]' (metres, e.g. 0.123); got "
                  f'{_shown(answer)}', answer)


def _diagnose_open(answer: str) -> str:
    """Message saying why ``answer`` is not ``[x, y, z] open|closed``."""
    expected = "expected '[x, y, z] open' or '[x, y, z] closed' (metres, e.g. 0.123)"
    brackets = _BRACKET_RE.findall(answer)
    if not brackets:
        return f'{expected}; no [x, y, z] position in {_shown(answer)}'
    if len(brackets) > 1:
        return f'{expected}; found {len(brackets)} bracketed groups, expected exactly one position'
    parts = [p.strip() for p in brackets[0].split(',')]
    if len(parts) != 3:
        return f'{expected}; the position has {len(parts)} values, expected 3'
    for part in parts:
        num = _LOOSE_NUM_RE.match(part)
        if num is None:
            return f'{expected}; {part!r} is not a plain decimal number'
        if part.startswith('+'):
            return f'{expected}; write {part!r} without a plus sign'
        if len(num.group(1)) > 2:
            return f'{expected}; {part!r} has more than 2 integer digits'
        if num.group(2) is not None and len(num.group(2)) > 4:
            return f'{expected}; {part!r} has more than 4 decimals'
    words = [w.lower() for w in _GRIPPER_WORD_RE.findall(answer)]
    if not words:
        return f'{expected}; missing the gripper state (open or closed) after the position'
    if len(words) > 1:
        return f'{expected}; found {len(words)} gripper words ({", ".join(words)}), expected one'
    if words[0] not in ('open', 'closed'):
        return f"{expected}; gripper word must be 'open' or 'closed', got {words[0]!r}"
    if answer.lower().find(words[0]) < answer.find('['):
        return f'{expected}; the gripper word must follow the position'
    return f'{expected}; unexpected extra text in {_shown(answer)}'


def parse_answer(kind: TaskKind | str, answer: str) -> str | XYZ | tuple[XYZ, GripperState]:
    """Parse an ANSWER according to its task kind.

    Returns:
        The option letter for multiple-choice tasks, ``(xyz_env_m, gripper)`` for the open task,
        ``xyz_env_m`` for the object-position question.

    Raises:
        AnswerFormatError: The answer does not follow the grammar of ``kind``.
        BadInputError: ``kind`` is not a task kind.
    """
    kind = TaskKind.parse(kind)
    if kind.is_multiple_choice:
        return parse_option(answer)
    if kind is TaskKind.OBJECT_POSITION:
        return parse_xyz_answer(answer)
    return parse_open_keypoint(answer)


def answer_regex(kind: TaskKind | str) -> str:
    """The canonical ANSWER regex (text between the answer tags) of a task kind.

    This is what gold answers match and what constrained decoding (a local logits processor or
    a remote ``guided_regex``) should enforce. The parser accepts a superset of it.

    Args:
        kind: The task kind.

    Returns:
        A Python ``re`` pattern without anchors, e.g. ``r'\\[\\[[A-D]\\]\\]'``.
    """
    kind = TaskKind.parse(kind)
    if kind.is_multiple_choice:
        return _OPTION_CANON
    return _XYZ_CANON if kind is TaskKind.OBJECT_POSITION else _OPEN_CANON


def completion_regex(kind: TaskKind | str, think_regex: str = r'[^<]*') -> str:
    """The canonical regex of a whole completion of a task kind.

    Args:
        kind: The task kind.
        think_regex: Pattern for the reasoning; the default excludes ``<`` so the first
            ``</think>`` ends it (e.g. pass ``r'[^<]{0,400}'`` to bound its length).

    Returns:
        ``<think>THINK</think><answer>ANSWER</answer>`` as a pattern without anchors.
    """
    return f'<think>{think_regex}</think><answer>{answer_regex(kind)}</answer>'


def format_number(value: float) -> str:
    """One coordinate in canonical form: 3 decimals, no negative zero.

    Raises:
        BadInputError: Not finite, or too large for two integer digits.
    """
    value = float(value)
    if not math.isfinite(value) or abs(value) >= 99.9995:
        raise BadInputError(f'coordinate must be finite and below 100 m in magnitude, got {value}')
    text = f'{value:.3f}'
    return '0.000' if text == '-0.000' else text


def format_xyz(xyz: Sequence[float]) -> str:
    """A position in canonical form, ``[0.123, -0.045, 0.210]``.

    Raises:
        BadInputError: Not three finite numbers below 100 in magnitude.
    """
    values = list(xyz)
    if len(values) != 3:
        raise BadInputError(f'expected 3 coordinates, got {len(values)}')
    return '[' + ', '.join(format_number(v) for v in values) + ']'


def format_option(letter: str) -> str:
    """The canonical multiple-choice answer, ``[[B]]``.

    Raises:
        BadInputError: ``letter`` is not one of A-D.
    """
    if letter not in OPTION_LETTERS:
        raise BadInputError(f'option letter must be one of {", ".join(OPTION_LETTERS)}, '
                            f'got {letter!r}')
    return f'[[{letter}]]'


def format_open_keypoint(xyz_env_m: Sequence[float], gripper: GripperState | str) -> str:
    """The canonical open-task answer, ``[0.123, -0.045, 0.210] open``."""
    state = gripper if isinstance(gripper, GripperState) else GripperState(str(gripper))
    return f'{format_xyz(xyz_env_m)} {state.value}'


def format_completion(think: str, answer: str) -> str:
    """A completion in canonical form: ``<think>THINK</think><answer>ANSWER</answer>``."""
    return f'<think>{think}</think><answer>{answer}</answer>'


def option_index(letter: str) -> int:
    """0-based index of an option letter (``'C'`` -> 2).

    Raises:
        BadInputError: ``letter`` is not one of A-D.
    """
    try:
        return OPTION_LETTERS.index(letter)
    except ValueError:
        raise BadInputError(f'option letter must be one of {", ".join(OPTION_LETTERS)}, '
                            f'got {letter!r}') from None


def completion_text(completion: Any) -> str:
    """The text of a completion as TRL passes it.

    TRL passes plain strings for standard datasets and a list of messages
    (``[{'role': 'assistant', 'content': '...'}]``) for conversational ones; ``content`` may
    itself be a list of ``{'type': 'text', 'text': ...}`` parts.

    Raises:
        AnswerFormatError: No text can be found in ``completion``.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return _content_text(completion.get('content'))
    if isinstance(completion, (list, tuple)):
        if not completion:
            return ''
        last = completion[-1]
        if isinstance(last, dict):
            return _content_text(last.get('content'))
        if isinstance(last, str):
            return ''.join(completion) if all(isinstance(c, str) for c in completion) else last
    raise AnswerFormatError(f'cannot read a completion of type {type(completion).__name__}')


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, (list, tuple)):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get('text'), str):
                parts.append(part['text'])
        return ''.join(parts)
    raise AnswerFormatError(f'cannot read message content of type {type(content).__name__}')
