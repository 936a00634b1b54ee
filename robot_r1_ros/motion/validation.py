"""Validation of keypoint predictions before anything moves.

Every prediction is checked, in this order, and the first failing check names the rejection:

| code | rejected when |
|---|---|
| ``status_not_ok`` | the reasoning node's status is not OK (format error, out of workspace, ...) |
| ``wrong_frame`` | ``header.frame_id`` is not the robot base frame |
| ``not_finite`` | a position or orientation component is NaN or infinite |
| ``bad_orientation`` | the orientation is not a unit quaternion (norm off by more than 1 %) |
| ``bad_gripper`` | the gripper command is neither OPEN nor CLOSED |
| ``not_ready`` | the executor's clock has not started (sim time before the first ``/clock``) |
| ``stale`` | the prediction is older than ``max_age_s`` (its stamp is the camera image's) |
| ``future_stamp`` | the stamp lies more than ``max_future_s`` ahead of the clock |
| ``out_of_workspace`` | the keypoint is outside the workspace box |
| ``step_too_long`` | the keypoint is more than ``max_step_m`` from the measured TCP |
| ``stopped`` | the executor was stopped (``stop`` service) and not resumed |

No ROS types here: the node converts the message into :class:`PredictionInput`.
"""
from __future__ import annotations

import enum
import math
from collections import Counter
from dataclasses import dataclass
from typing import Protocol, Sequence

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.status import GripperCommand, PredictionStatus


class RejectCode(str, enum.Enum):
    """Why a prediction was rejected (values are the codes logged and counted)."""

    STATUS_NOT_OK = 'status_not_ok'
    WRONG_FRAME = 'wrong_frame'
    NOT_FINITE = 'not_finite'
    BAD_ORIENTATION = 'bad_orientation'
    BAD_GRIPPER = 'bad_gripper'
    NOT_READY = 'not_ready'
    STALE = 'stale'
    FUTURE_STAMP = 'future_stamp'
    OUT_OF_WORKSPACE = 'out_of_workspace'
    STEP_TOO_LONG = 'step_too_long'
    STOPPED = 'stopped'


class WorkspaceLike(Protocol):
    """What the validator needs from a workspace (``core.geometry.Workspace`` fits)."""

    def check(self, xyz_base_m: Sequence[float]) -> str | None:
        """None inside, else the reason."""


@dataclass(frozen=True)
class Rejection:
    """A rejected prediction: the code and a human-readable detail."""

    code: RejectCode
    detail: str

    def __str__(self) -> str:
        return f'{self.code.value}: {self.detail}'


@dataclass(frozen=True)
class ValidationConfig:
    """Limits applied to every prediction.

    Attributes:
        base_frame: Expected ``header.frame_id``.
        max_age_s: Oldest accepted prediction (clock now minus the prediction stamp).
        max_future_s: Largest accepted stamp ahead of the clock (clock skew allowance).
        max_step_m: Longest accepted distance between the measured TCP and the keypoint.
        status_ok: The status value meaning OK (``KeypointPrediction.STATUS_OK``).
        gripper_values: Accepted gripper command values (OPEN, CLOSED).
    """

    base_frame: str = 'panda_link0'
    max_age_s: float = 5.0
    max_future_s: float = 0.5
    max_step_m: float = 0.7
    status_ok: int = int(PredictionStatus.OK)
    gripper_values: tuple[int, ...] = (int(GripperCommand.OPEN), int(GripperCommand.CLOSED))

    def __post_init__(self) -> None:
        if not self.base_frame:
            raise ConfigError('base_frame must not be empty', 'base_frame')
        for name in ('max_age_s', 'max_future_s', 'max_step_m'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'{name} must be a finite number > 0, got {value}', name)


@dataclass(frozen=True)
class PredictionInput:
    """The fields of a ``KeypointPrediction`` the validator reads.

    Attributes:
        status: ``status`` field.
        frame_id: ``header.frame_id``.
        stamp_s: ``header.stamp`` in seconds.
        xyz_base_m: ``position``.
        quat_xyzw: Target orientation (ROS order), or None to keep the TCP's (the message
            predicts a point: the node passes None).
        gripper_command: ``gripper_command``.
        status_reason: ``status_reason`` (quoted in the rejection detail).
        stamp_ns: ``header.stamp`` as integer nanoseconds (exact, for reporting it back), or
            None.
        goal_id: ``prediction_id`` (16 bytes; echoed as ``ExecutorState.goal_id``).
    """

    status: int
    frame_id: str
    stamp_s: float
    xyz_base_m: tuple[float, float, float]
    quat_xyzw: tuple[float, float, float, float] | None
    gripper_command: int
    status_reason: str = ''
    stamp_ns: int | None = None
    goal_id: bytes = bytes(16)


def _finite(values: Sequence[float]) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def validate_prediction(pred: PredictionInput, cfg: ValidationConfig, workspace: WorkspaceLike,
                        now_s: float, tcp_xyz_base_m: Sequence[float] | None,
                        stopped: bool = False, clock_running: bool = True) -> Rejection | None:
    """Check one prediction; None when it is safe to execute.

    Args:
        pred: The prediction.
        cfg: Limits.
        workspace: Box the keypoint must lie in.
        now_s: Current time on the same clock as the prediction stamps.
        tcp_xyz_base_m: Measured TCP position, or None when unknown (the step check is then
            skipped; the motion backend refuses to move without a joint state anyway).
        stopped: True while the executor is stopped.
        clock_running: False while the clock has not started (a node on sim time before its
            first ``/clock``): stamps cannot be judged yet, so the prediction is not ready.
    """
    if stopped:
        return Rejection(RejectCode.STOPPED, 'executor stopped; call the resume service')
    if pred.status != cfg.status_ok:
        why = f' ({pred.status_reason})' if pred.status_reason else ''
        if pred.status == PredictionStatus.UNSET:
            why = ' (unset: a default-constructed message)'
        return Rejection(RejectCode.STATUS_NOT_OK, f'prediction status {pred.status}{why}')
    if pred.frame_id != cfg.base_frame:
        return Rejection(RejectCode.WRONG_FRAME,
                         f'frame_id {pred.frame_id!r}, expected {cfg.base_frame!r}')
    quat = pred.quat_xyzw
    if not _finite(pred.xyz_base_m) or (quat is not None and not _finite(quat)) \
            or not _finite([pred.stamp_s]):
        return Rejection(RejectCode.NOT_FINITE, f'position {tuple(pred.xyz_base_m)}' + (
            f', orientation {tuple(quat)}' if quat is not None else ''))
    if quat is not None:
        norm = math.sqrt(sum(v * v for v in quat))
        if abs(norm - 1.0) > 0.01:
            return Rejection(RejectCode.BAD_ORIENTATION, f'quaternion norm {norm:.4f}, expected 1')
    if pred.gripper_command not in cfg.gripper_values:
        what = ' (unset)' if pred.gripper_command == GripperCommand.UNSET else ''
        return Rejection(RejectCode.BAD_GRIPPER, f'gripper_command {pred.gripper_command}{what}')
    if not clock_running:
        # Judging the stamp against a clock at 0 would call every prediction "in the future".
        return Rejection(RejectCode.NOT_READY,
                         'clock not started yet (use_sim_time and no /clock received)')
    age = now_s - pred.stamp_s
    if age > cfg.max_age_s:
        return Rejection(RejectCode.STALE, f'{age:.2f} s old (max {cfg.max_age_s:.2f} s)')
    if -age > cfg.max_future_s:
        return Rejection(RejectCode.FUTURE_STAMP,
                         f'stamp {-age:.2f} s in the future (max {cfg.max_future_s:.2f} s)')
    why = workspace.check(pred.xyz_base_m)
    if why:
        return Rejection(RejectCode.OUT_OF_WORKSPACE, why)
    if tcp_xyz_base_m is not None:
        step = math.dist(pred.xyz_base_m, tuple(tcp_xyz_base_m))
        if step > cfg.max_step_m:
            return Rejection(RejectCode.STEP_TOO_LONG,
                             f'{step:.3f} m from the TCP (max {cfg.max_step_m:.3f} m)')
    return None


class RejectionCounter:
    """Counts of rejections by code (all codes present, zero included)."""

    def __init__(self) -> None:
        self._counts: Counter[RejectCode] = Counter({code: 0 for code in RejectCode})

    def add(self, rejection: Rejection) -> None:
        """Count one rejection."""
        self._counts[rejection.code] += 1

    @property
    def total(self) -> int:
        """All rejections."""
        return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        """Code value -> count, every code included."""
        return {code.value: self._counts[code] for code in RejectCode}

    def nonzero(self) -> dict[str, int]:
        """Code value -> count for the codes that occurred."""
        return {k: v for k, v in self.as_dict().items() if v}
