"""Prompt text of the four tasks, as Hugging Face chat messages with one image slot.

Modelled on the paper's prompt (arXiv 2506.00070, App. B.2): a system prompt naming the answer
format, then the task description, the image, the environment metadata (reference point, axis
directions, gripper size), the current position and the question. Kept compact on purpose:
small models train on these on CPU, and every constant token costs steps.

What each task shows (as in the paper):

=============== ======== ============= ============ ================== =====================
task            metadata current state  options      answer             question
=============== ======== ============= ============ ================== =====================
next_waypoint   full     yes           4 positions  ``[[B]]``          next waypoint
current_state   full     no            4 positions  ``[[B]]``          current position
movement        axes     yes           4 movements  ``[[B]]``          how to move next
open_keypoint   full     yes           none         ``[x, y, z] open`` next waypoint+gripper
object_position full     yes           none         ``[x, y, z]``      where an object is
object_choice   full     yes           4 positions  ``[[B]]``          where an object is
=============== ======== ============= ============ ================== =====================

The two grounding questions (``object_*``) name their subject (``'red cube'``, ``'yellow
zone'``); they are built from recorded object poses for training and evaluation
(``core.grounding``), never asked by the node.

All positions are env-frame metres with 3 decimals (``core.parsing.format_xyz``). The golden
files ``test/fixtures/core/prompt_<task>.txt`` show the exact text of each task.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.parsing import OPTION_LETTERS, format_option, format_xyz
from robot_r1_ros.core.types import XYZ, GripperState, TaskKind, as_xyz

SYSTEM_PROMPT = (
    'You are Franka Robot Assistant, the task planning and execution system of a Franka Panda '
    'robot arm. Look at the image and think about the scene, the task and the gripper before '
    'answering. The reasoning process MUST BE enclosed within <think> </think> tags. The final '
    'answer MUST BE enclosed within <answer> </answer> tags, i.e. '
    '<think> reasoning </think><answer> answer </answer>.'
)
"""The system prompt shared by all tasks (the answer format of ``core.parsing``)."""

DEFAULT_REFERENCE_TEXT = 'the center of the table surface'
"""What the env-frame origin is, in words."""

DEFAULT_AXIS_LINES: tuple[str, str, str] = (
    'X-axis: back of table (negative) to front of table, toward the camera (positive)',
    'Y-axis: left (negative) to right (positive), as seen from the camera',
    'Z-axis: down toward the table (negative) to up toward the ceiling (positive)',
)
"""Axis directions in words, for the default env frame (see ``core.geometry.EnvFrame``)."""

DEFAULT_GRIPPER_TEXT = (
    'Gripper: hand 0.20 m wide, 0.07 m deep, 0.09 m tall; fingers 0.05 m long, opening up to '
    '0.08 m. Positions are of the point between the fingertips.'
)
"""Size of the always-visible gripper, for scale (the paper's third kind of metadata)."""

IMAGE_LINE = 'Image: front view of the workspace.'

_QUESTIONS = {
    TaskKind.NEXT_WAYPOINT: ('Predict the next waypoint position [x, y, z] of the gripper. '
                             'Choose the most accurate option:'),
    TaskKind.CURRENT_STATE: ('What is the current position [x, y, z] of the gripper? '
                             'Choose the most accurate option:'),
    TaskKind.MOVEMENT: ('How should the gripper move to reach the next waypoint? '
                        'Choose the most accurate option:'),
    TaskKind.OPEN_KEYPOINT: ('Predict the next waypoint of the gripper: its position [x, y, z] '
                             'in metres with 3 decimals, and whether the gripper is open or '
                             'closed there.'),
    TaskKind.OBJECT_POSITION: ('Where is the {subject} now? Give its position [x, y, z] in '
                               'metres with 3 decimals.'),
    TaskKind.OBJECT_CHOICE: 'Where is the {subject} now? Choose the most accurate option:',
}
_MCQ_FORMAT = 'Answer with one option: [[A]], [[B]], [[C]] or [[D]].'
_OPEN_FORMAT = 'Answer as [x, y, z] open or [x, y, z] closed.'
_XYZ_FORMAT = 'Answer as [x, y, z].'


@dataclass(frozen=True)
class PromptMetadata:
    """The environment metadata and robot state shown in a prompt.

    Attributes:
        current_xyz_env_m: Current TCP position in the env frame (metres); required by every
            task except ``current_state``, which never shows it.
        current_gripper: Current gripper state, shown next to the position when given.
        reference_text: What the env origin is, in words.
        axis_lines: One line per env axis naming its directions (see ``EnvFrame.axis_lines``).
        gripper_text: Gripper size sentence (scale reference).
    """

    current_xyz_env_m: XYZ | None = None
    current_gripper: GripperState | None = None
    reference_text: str = DEFAULT_REFERENCE_TEXT
    axis_lines: tuple[str, str, str] = DEFAULT_AXIS_LINES
    gripper_text: str = DEFAULT_GRIPPER_TEXT

    def __post_init__(self) -> None:
        if self.current_xyz_env_m is not None:
            object.__setattr__(self, 'current_xyz_env_m',
                               as_xyz(self.current_xyz_env_m, 'current_xyz_env_m'))
        if self.current_gripper is not None and not isinstance(self.current_gripper,
                                                               GripperState):
            try:
                object.__setattr__(self, 'current_gripper',
                                   GripperState(str(self.current_gripper).lower()))
            except ValueError:
                raise BadInputError("current_gripper must be 'open' or 'closed', got "
                                    f'{self.current_gripper!r}') from None
        lines = tuple(str(line) for line in self.axis_lines)
        if len(lines) != 3:
            raise BadInputError(f'axis_lines must have 3 lines, got {len(lines)}')
        object.__setattr__(self, 'axis_lines', lines)

    @classmethod
    def from_env_frame(cls, env_frame: Any, current_xyz_env_m: Sequence[float] | None = None,
                       current_gripper: GripperState | None = None,
                       gripper_text: str = DEFAULT_GRIPPER_TEXT) -> 'PromptMetadata':
        """Metadata whose reference and axis wording come from a ``core.geometry.EnvFrame``."""
        return cls(current_xyz_env_m=None if current_xyz_env_m is None
                   else as_xyz(current_xyz_env_m, 'current_xyz_env_m'),
                   current_gripper=current_gripper,
                   reference_text=env_frame.reference_text,
                   axis_lines=env_frame.axis_lines(),
                   gripper_text=gripper_text)


def format_options(options: Sequence[str | Sequence[float]]) -> tuple[str, ...]:
    """Option texts: positions become ``[x, y, z]`` (3 decimals); strings are kept (stripped).

    Raises:
        BadInputError: Not exactly four options, an empty or duplicate option, or a bad
            position.
    """
    if options is None or len(options) != len(OPTION_LETTERS):
        n = 'no' if options is None else len(options)
        raise BadInputError(f'multiple-choice tasks need exactly {len(OPTION_LETTERS)} options, '
                            f'got {n}')
    texts = []
    for option in options:
        if isinstance(option, str):
            text = option.strip()
            if not text or '\n' in text:
                raise BadInputError(f'option text must be one non-empty line, got {option!r}')
        else:
            text = format_xyz(as_xyz(option, 'option'))
        texts.append(text)
    if len(set(texts)) != len(texts):
        raise BadInputError(f'options must be distinct as written, got {texts}')
    return tuple(texts)


def build_user_text(kind: TaskKind | str, instruction: str, metadata: PromptMetadata,
                    options: Sequence[str | Sequence[float]] | None = None,
                    subject: str | None = None) -> str:
    """The user-turn text of one question (without the image slot).

    Args:
        kind: The task.
        instruction: The task description, e.g. ``'put the red cube on the yellow square'``.
        metadata: Environment metadata and current state.
        options: Four options for multiple-choice tasks (positions as 3-sequences in the env
            frame, or already-written texts such as movement phrases); None for the open task.
        subject: The object a grounding question asks about (e.g. ``'red cube'``); required by
            ``object_position`` / ``object_choice``, refused by the other tasks.

    Returns:
        The text, lines separated by ``\\n``.

    Raises:
        BadInputError: Missing current position where the task needs it, wrong number of
            options, options given to the open task, or an empty instruction.
    """
    kind = TaskKind.parse(kind)
    if not isinstance(instruction, str) or not instruction.strip():
        raise BadInputError(f'instruction must be a non-empty string, got {instruction!r}')
    lines = [f'Task: {" ".join(instruction.split())}', IMAGE_LINE, 'Coordinates (metres):']
    if kind is not TaskKind.MOVEMENT:
        lines.append(f'- Origin [0, 0, 0] is {metadata.reference_text}.')
    lines.extend(f'- {line}.' for line in metadata.axis_lines)
    if kind is not TaskKind.MOVEMENT:
        lines.append(metadata.gripper_text)
    if kind is not TaskKind.CURRENT_STATE:
        if metadata.current_xyz_env_m is None:
            raise BadInputError(f'metadata.current_xyz_env_m is required for the {kind.value} '
                                'task')
        state = f'Current gripper position: {format_xyz(metadata.current_xyz_env_m)}'
        if metadata.current_gripper is not None:
            state += f' ({metadata.current_gripper.value})'
        lines.append(state + '.')
    if kind.is_grounding != (subject is not None):
        raise BadInputError(f'the {kind.value} task ' + (
            'needs a subject object' if kind.is_grounding else 'takes no subject'))
    if subject is not None and (not isinstance(subject, str) or not subject.strip()
                                or '\n' in subject):
        raise BadInputError(f'subject must be one non-empty line, got {subject!r}')
    lines.append(_QUESTIONS[kind].format(subject=subject.strip()) if subject
                 else _QUESTIONS[kind])
    if kind.is_multiple_choice:
        texts = format_options(options)  # type: ignore[arg-type]
        lines.extend(f'{format_option(letter)} {text}'
                     for letter, text in zip(OPTION_LETTERS, texts))
        lines.append(_MCQ_FORMAT)
    else:
        if options is not None:
            raise BadInputError(f'the {kind.value} task takes no options')
        lines.append(_XYZ_FORMAT if kind is TaskKind.OBJECT_POSITION else _OPEN_FORMAT)
    return '\n'.join(lines)


def build_messages(kind: TaskKind | str, instruction: str, metadata: PromptMetadata,
                   options: Sequence[str | Sequence[float]] | None = None,
                   system_prompt: str = SYSTEM_PROMPT,
                   subject: str | None = None) -> list[dict[str, Any]]:
    """Hugging Face chat messages for one question, with exactly one image slot.

    Args:
        kind: The task.
        instruction: The task description.
        metadata: Environment metadata and current state.
        options: Four options for multiple-choice tasks, None for the open task.
        system_prompt: Override of :data:`SYSTEM_PROMPT` (keep the answer-format sentences).
        subject: The object of a grounding question (see :func:`build_user_text`).

    Returns:
        ``[{'role': 'system', 'content': [{'type': 'text', 'text': ...}]},
        {'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': ...}]}]``;
        the processor fills the image slot.

    Raises:
        BadInputError: See :func:`build_user_text`.
    """
    text = build_user_text(kind, instruction, metadata, options, subject)
    return [
        {'role': 'system', 'content': [{'type': 'text', 'text': system_prompt}]},
        {'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': text}]},
    ]


def messages_to_text(messages: Sequence[dict[str, Any]]) -> str:
    """Readable plain-text rendering of chat messages (for logs and golden files).

    Each message starts with ``=== role ===``; an image slot is written ``<image>``.
    """
    out = []
    for message in messages:
        out.append(f'=== {message.get("role", "?")} ===')
        content = message.get('content')
        if isinstance(content, str):
            out.append(content)
            continue
        for part in content or ():
            if part.get('type') == 'image':
                out.append('<image>')
            elif part.get('type') == 'text':
                out.append(str(part.get('text', '')))
    return '\n'.join(out) + '\n'
