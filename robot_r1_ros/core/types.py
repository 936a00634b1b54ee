"""Plain value types shared by every layer.

All positions carry their frame and unit in the field name: ``*_base_m`` is the robot base frame
(``panda_link0``) in metres, ``*_env_m`` the paper's environment frame (see
``core.geometry.EnvFrame``) in metres. Vectors are stored as tuples of Python floats so the
dataclasses stay frozen, hashable (where they hold no messages) and cheap to compare.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from robot_r1_ros.core.errors import BadInputError

XYZ = tuple[float, float, float]


class GripperState(str, enum.Enum):
    """Binary gripper state as the model names it in an answer."""

    OPEN = 'open'
    CLOSED = 'closed'

    @classmethod
    def from_opening(cls, opening_m: float, threshold_m: float = 0.04) -> 'GripperState':
        """State from the finger opening (distance between the fingers).

        Args:
            opening_m: Distance between the two finger pads in metres (Panda: 0 to 0.08).
            threshold_m: Openings strictly above this count as open.

        Returns:
            ``OPEN`` or ``CLOSED``.
        """
        return cls.OPEN if float(opening_m) > threshold_m else cls.CLOSED

    @classmethod
    def from_bool(cls, is_open: bool) -> 'GripperState':
        """``OPEN`` for a truthy value, else ``CLOSED``."""
        return cls.OPEN if bool(is_open) else cls.CLOSED

    @property
    def is_open(self) -> bool:
        """True for ``OPEN``."""
        return self is GripperState.OPEN


class TaskKind(str, enum.Enum):
    """The question kinds: the paper's four (three multiple-choice tasks plus the open one) and
    two grounding questions about the scene's objects (training and evaluation only; built
    from recorded object poses, ``core.grounding``)."""

    NEXT_WAYPOINT = 'next_waypoint'
    CURRENT_STATE = 'current_state'
    MOVEMENT = 'movement'
    OPEN_KEYPOINT = 'open_keypoint'
    OBJECT_POSITION = 'object_position'
    OBJECT_CHOICE = 'object_choice'

    @property
    def is_multiple_choice(self) -> bool:
        """True for the tasks answered with an option letter ``[[A]]``..``[[D]]``."""
        return self not in (TaskKind.OPEN_KEYPOINT, TaskKind.OBJECT_POSITION)

    @property
    def is_grounding(self) -> bool:
        """True for the questions about where an object is (they name a subject object)."""
        return self in (TaskKind.OBJECT_POSITION, TaskKind.OBJECT_CHOICE)

    @classmethod
    def parse(cls, value: 'TaskKind | str') -> 'TaskKind':
        """A ``TaskKind`` from itself or its string value.

        Raises:
            BadInputError: ``value`` names no task kind (the message lists the valid ones).
        """
        if isinstance(value, TaskKind):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            valid = ', '.join(k.value for k in cls)
            raise BadInputError(f'unknown task kind {value!r}; expected one of: {valid}') from None


def as_xyz(values: Any, name: str = 'xyz') -> XYZ:
    """Validate and convert a 3-vector to a tuple of finite floats.

    Args:
        values: Any sequence or array with exactly three numbers.
        name: Field name used in the error message.

    Returns:
        ``(x, y, z)`` as Python floats.

    Raises:
        BadInputError: Wrong length, non-numeric or non-finite values.
    """
    return as_floats(values, 3, name)  # type: ignore[return-value]


def as_floats(values: Any, length: int | None, name: str) -> tuple[float, ...]:
    """Validate a flat numeric sequence (optionally of a fixed length) of finite floats.

    Raises:
        BadInputError: Wrong length, non-numeric or non-finite values.
    """
    if isinstance(values, (str, bytes)):
        raise BadInputError(f'{name} must be a sequence of numbers, got {values!r}')
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise BadInputError(f'{name} must be a sequence of numbers, got {values!r}') from None
    if length is not None and len(out) != length:
        raise BadInputError(f'{name} must have {length} values, got {len(out)}')
    if not all(math.isfinite(v) for v in out):
        raise BadInputError(f'{name} must be finite, got {out}')
    return out


@dataclass(frozen=True)
class RobotState:
    """The robot state at one instant.

    Attributes:
        joint_positions_rad: The 7 arm joint angles (panda_joint1..7) in radians.
        ee_xyz_base_m: TCP position (``panda_hand_tcp``) in the base frame, metres.
        gripper_opening_m: Distance between the fingers in metres (0 closed, 0.08 fully open).
        stamp_s: Time stamp in seconds (0.0 when unknown).
    """

    joint_positions_rad: tuple[float, ...]
    ee_xyz_base_m: XYZ
    gripper_opening_m: float
    stamp_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, 'joint_positions_rad',
                           as_floats(self.joint_positions_rad, 7, 'joint_positions_rad'))
        object.__setattr__(self, 'ee_xyz_base_m', as_xyz(self.ee_xyz_base_m, 'ee_xyz_base_m'))
        opening = as_floats([self.gripper_opening_m], 1, 'gripper_opening_m')[0]
        if opening < 0.0:
            raise BadInputError(f'gripper_opening_m must be >= 0, got {opening}')
        object.__setattr__(self, 'gripper_opening_m', opening)
        object.__setattr__(self, 'stamp_s', as_floats([self.stamp_s], 1, 'stamp_s')[0])



@dataclass(frozen=True)
class Keypoint:
    """A target for the executor: TCP position in the base frame plus the gripper command.

    Attributes:
        xyz_base_m: TCP position in the base frame, metres.
        gripper: Gripper state to reach at (after arriving at) the position.
    """

    xyz_base_m: XYZ
    gripper: GripperState

    def __post_init__(self) -> None:
        object.__setattr__(self, 'xyz_base_m', as_xyz(self.xyz_base_m, 'xyz_base_m'))
        if not isinstance(self.gripper, GripperState):
            try:
                object.__setattr__(self, 'gripper', GripperState(str(self.gripper).lower()))
            except ValueError:
                raise BadInputError(
                    f"gripper must be 'open' or 'closed', got {self.gripper!r}") from None


@dataclass(frozen=True)
class Prediction:
    """What a reasoner returns for one query.

    Attributes:
        keypoint: The predicted next keypoint in the base frame, or None when the task's answer
            is not a position (e.g. the movement task) or could not be parsed.
        reasoning: The text inside ``<think>``.
        raw_answer: The text inside ``<answer>`` (or the whole completion when unparseable).
        kind: The task that was asked.
        option: The chosen letter for multiple-choice tasks, else None.
        latency_s: Wall time of the model call in seconds.
    """

    keypoint: Keypoint | None
    reasoning: str
    raw_answer: str
    kind: TaskKind = TaskKind.OPEN_KEYPOINT
    option: str | None = None
    latency_s: float = 0.0


@dataclass(frozen=True)
class QASample:
    """One question of the training / evaluation set, with everything needed to score it.

    ``messages`` are Hugging Face chat messages with one ``{'type': 'image'}`` slot; the image is
    frame ``image_index`` of episode ``episode_id``. ``answer_text`` is the canonical ANSWER
    (``[[B]]`` or ``[0.123, -0.045, 0.210] open``), the part between ``<answer>`` tags of a gold
    completion. :meth:`reward_columns` gives the dataset columns the rewards read.

    Attributes:
        kind: The task.
        episode_id: Identifier of the source episode.
        frame_index: Index of the observation frame in the episode.
        image_index: Index of the image for that frame (often equal to ``frame_index``).
        keyframe_index: Frame index of the target (next) keyframe.
        phase: Ordinal of the target keyframe in its episode (0 = first keyframe).
        instruction: The natural-language task description.
        messages: Chat messages (system + user with one image slot).
        answer_text: Canonical answer (without tags).
        options: The four option texts for multiple-choice tasks, in letter order; () otherwise.
        answer_letter: 'A'..'D' for multiple-choice tasks, else None.
        target_xyz_env_m: The next keypoint's position in the env frame (every task; a
            reward column only for the open task), or None.
        target_gripper: ``'open'``/``'closed'`` for the open task, else None.
        current_xyz_env_m: The current TCP position in the env frame.
        distractor_kind: ``'random'``, ``'hard'`` or ``''`` (no distractors).
        extra: Analysis data (e.g. ``movement_parts``, ``random_distractors``).
    """

    kind: TaskKind
    episode_id: str
    frame_index: int
    image_index: int
    keyframe_index: int
    phase: int
    instruction: str
    messages: list[dict[str, Any]]
    answer_text: str
    options: tuple[str, ...] = ()
    answer_letter: str | None = None
    target_xyz_env_m: XYZ | None = None
    target_gripper: str | None = None
    current_xyz_env_m: XYZ | None = None
    distractor_kind: str = ''
    extra: dict[str, Any] = field(default_factory=dict)

    def reward_columns(self) -> dict[str, Any]:
        """The ground-truth columns read by ``core.rewards`` (see its module docstring)."""
        return {
            'task_kind': self.kind.value,
            'answer_letter': self.answer_letter,
            'target_xyz_env_m': (list(self.target_xyz_env_m)
                                 if self.target_xyz_env_m is not None
                                 and not self.kind.is_multiple_choice else None),
            'target_gripper': self.target_gripper,
        }

    def gold_completion(self, think: str = '') -> str:
        """A completion that scores full marks: ``<think>think</think><answer>ANSWER</answer>``."""
        return f'<think>{think}</think><answer>{self.answer_text}</answer>'


PAPER_TASKS: tuple[TaskKind, ...] = (TaskKind.NEXT_WAYPOINT, TaskKind.CURRENT_STATE,
                                     TaskKind.MOVEMENT, TaskKind.OPEN_KEYPOINT)
"""The paper's four tasks (the default question set)."""
