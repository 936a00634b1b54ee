"""The executor's logic without ROS: validate, execute one goal at a time, keep counts.

The executor node is a thin adapter around :class:`GoalExecutor` (messages in, state out); the
fuzz benchmark and the closed-loop evaluation drive it directly. Time is whatever clock the caller
passes (``now_s``), the same one the prediction stamps use.

States (``ExecutorState.STATE_*``): IDLE until the first goal or after a stop; MOVING while a goal
executes; REACHED / FAILED when it ended; REJECTED when the last prediction was rejected while no
goal was executing (a rejection during a motion is counted and logged but does not interrupt it).
``goal_stamp_s`` / ``target`` are those of the goal being or last executed, or of the prediction
just rejected (so a reasoning node waiting on its last prediction hears about it).
"""
from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field
from typing import Callable

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.status import ExecutorStateCode, GripperCommand
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.backend import MotionBackend, MotionError
from robot_r1_ros.motion.types import MotionGoal, MotionState
from robot_r1_ros.motion.validation import (PredictionInput, Rejection, RejectionCounter,
                                            ValidationConfig, WorkspaceLike, validate_prediction)

_LOG = logging.getLogger(__name__)


# ``ExecutorState.state`` values: the one ROS-free definition (checked against the message).
ExecState = ExecutorStateCode


class NewGoalPolicy(str, enum.Enum):
    """What a valid prediction arriving during a motion does."""

    PREEMPT = 'preempt'   # replace the running goal at once
    WAIT = 'wait'         # run after the current goal (only the newest waiting one is kept)


@dataclass(frozen=True)
class ExecutionConfig:
    """Behaviour of :class:`GoalExecutor`.

    Attributes:
        on_new_goal: ``preempt`` or ``wait``.
        dry_run: Validate and report, never move.
        gripper_open_value: ``KeypointPrediction.GRIPPER_OPEN``.
        validation: Limits applied to each prediction.
    """

    on_new_goal: NewGoalPolicy = NewGoalPolicy.PREEMPT
    dry_run: bool = False
    gripper_open_value: int = int(GripperCommand.OPEN)
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, 'on_new_goal', NewGoalPolicy(self.on_new_goal))
        except ValueError:
            raise ConfigError(f"on_new_goal must be 'preempt' or 'wait', got {self.on_new_goal!r}",
                              'on_new_goal') from None


@dataclass(frozen=True)
class ExecutorSnapshot:
    """Everything ``ExecutorState`` carries, plus the rejection counts by code."""

    state: ExecState
    reason: str
    goal_stamp_s: float
    goal_stamp_ns: int | None
    goal_id: bytes
    target_xyz_base_m: tuple[float, float, float]
    received: int
    executed: int
    rejected: int
    rejections: dict[str, int]
    superseded: int
    failed: int
    reached: int


class GoalExecutor:
    """Validate predictions and drive a motion backend, one goal at a time.

    Args:
        backend: The motion backend.
        workspace: Box every keypoint must lie in (``core.geometry.Workspace`` or alike).
        config: Behaviour.
        on_change: Called with the new snapshot whenever the state or a count changes.
    """

    def __init__(self, backend: MotionBackend, workspace: WorkspaceLike, config: ExecutionConfig,
                 on_change: Callable[[ExecutorSnapshot], None] | None = None) -> None:
        self.backend, self.workspace, self.cfg = backend, workspace, config
        self._on_change = on_change
        self.rejections = RejectionCounter()
        self.state = ExecState.IDLE
        self.reason = ''
        self.goal_stamp_s = 0.0
        self.goal_stamp_ns: int | None = 0
        self.goal_id = bytes(16)
        self.target = (math.nan, math.nan, math.nan)
        self.received = self.executed = self.superseded = self.failed = self.reached = 0
        self.stopped = False
        self._pending: PredictionInput | None = None

    # -- queries ------------------------------------------------------------------------------
    def snapshot(self) -> ExecutorSnapshot:
        """Current state and counts."""
        return ExecutorSnapshot(self.state, self.reason, self.goal_stamp_s, self.goal_stamp_ns,
                                self.goal_id, self.target,
                                self.received, self.executed, self.rejections.total,
                                self.rejections.as_dict(), self.superseded, self.failed,
                                self.reached)

    @property
    def busy(self) -> bool:
        """True while a goal executes."""
        return self.state is ExecState.MOVING

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.snapshot())

    # -- inputs -------------------------------------------------------------------------------
    def check(self, pred: PredictionInput, now_s: float,
              clock_running: bool = True) -> Rejection | None:
        """Validate without side effects (uses the backend's measured TCP for the step check)."""
        return validate_prediction(pred, self.cfg.validation, self.workspace, now_s,
                                   self.backend.tcp_position(), stopped=self.stopped,
                                   clock_running=clock_running)

    def submit(self, pred: PredictionInput, now_s: float,
               clock_running: bool = True) -> Rejection | None:
        """Handle one prediction: reject it, start it, or queue it (policy ``wait``).

        ``clock_running`` is False while the caller's clock has not started (sim time before
        the first ``/clock``): the prediction is then rejected as ``not_ready``.

        Returns:
            The rejection, or None when the prediction was accepted.
        """
        self.received += 1
        rejection = self.check(pred, now_s, clock_running)
        if rejection is not None:
            self._reject(rejection, pred)
            return rejection
        if self.busy and self.cfg.on_new_goal is NewGoalPolicy.WAIT:
            if self._pending is not None:
                self.superseded += 1
            self._pending = pred
            self._changed()
            return None
        self._execute(pred, now_s)
        return None

    def _reject(self, rejection: Rejection, pred: PredictionInput) -> None:
        self.rejections.add(rejection)
        _LOG.info('rejected prediction: %s', rejection)
        if not self.busy:
            self.state, self.reason = ExecState.REJECTED, str(rejection)
            # Report on the rejected prediction: a reasoning node waiting for the outcome of
            # its last prediction (trigger on_reached) matches it by this stamp.
            if math.isfinite(pred.stamp_s):
                self.goal_stamp_s, self.goal_stamp_ns = pred.stamp_s, pred.stamp_ns
            self.goal_id = pred.goal_id
            xyz = tuple(float(v) for v in pred.xyz_base_m)
            self.target = xyz if all(map(math.isfinite, xyz)) else (math.nan,) * 3
        self._changed()

    def _execute(self, pred: PredictionInput, now_s: float) -> None:
        quat = None
        if pred.quat_xyzw is not None:
            x, y, z, w = pred.quat_xyzw
            quat = (w, x, y, z)
        gripper = (GripperState.OPEN if pred.gripper_command == self.cfg.gripper_open_value
                   else GripperState.CLOSED)
        goal = MotionGoal(pred.xyz_base_m, gripper, quat_wxyz=quat, stamp_s=pred.stamp_s)
        self.goal_stamp_s, self.goal_stamp_ns = pred.stamp_s, pred.stamp_ns
        self.goal_id = pred.goal_id
        self.target = goal.xyz_base_m
        if self.cfg.dry_run:
            self.state, self.reason = ExecState.REACHED, 'dry run: validated, not executed'
            self._changed()
            return
        try:
            self.backend.start(goal, now_s)
        except MotionError as exc:
            self.failed += 1
            self.state, self.reason = ExecState.FAILED, str(exc)
            _LOG.info('goal failed to start: %s', exc)
        else:
            self.executed += 1
            self.state, self.reason = ExecState.MOVING, ''
        self._changed()

    def tick(self, now_s: float) -> None:
        """Poll the backend; on completion, start the waiting prediction (re-validated)."""
        if self.state is not ExecState.MOVING:
            return
        progress = self.backend.poll(now_s)
        if progress.state is MotionState.MOVING:
            return
        if progress.state is MotionState.REACHED:
            self.reached += 1
            self.state, self.reason = ExecState.REACHED, ''
        elif progress.state is MotionState.FAILED:
            self.failed += 1
            self.state, self.reason = ExecState.FAILED, progress.reason
            _LOG.info('goal failed: %s', progress.reason)
        else:
            self.state, self.reason = ExecState.IDLE, progress.reason
        self._changed()
        pending, self._pending = self._pending, None
        if pending is not None:
            # Validated again: time has passed (staleness) and the arm has moved (step length).
            rejection = self.check(pending, now_s)
            if rejection is not None:
                self._reject(rejection, pending)
            else:
                self._execute(pending, now_s)

    def fail(self, reason: str) -> None:
        """Report a failure outside any goal (e.g. the backend could not start)."""
        self.state, self.reason = ExecState.FAILED, reason
        self._changed()

    def stop(self, now_s: float) -> None:
        """Hold the arm, drop the current and waiting goals, reject predictions until resumed."""
        self.stopped = True
        self._pending = None
        if not self.cfg.dry_run:
            self.backend.hold(now_s)
        self.state, self.reason = ExecState.IDLE, 'stopped'
        self._changed()

    def reconfigure(self, workspace: WorkspaceLike, config: ExecutionConfig,
                    now_s: float) -> None:
        """Switch limits and policy for the next prediction (a run-time parameter change);
        turning dry run on during a motion holds the arm and drops the waiting goal.

        A dry-run toggle is reported at once in the state's reason, so an operator who sets
        the parameter sees it applied even while every prediction is being rejected."""
        toggled = config.dry_run != self.cfg.dry_run
        hold = config.dry_run and toggled and self.busy
        self.workspace, self.cfg = workspace, config
        if hold:
            self._pending = None
            self.backend.hold(now_s)
            self.state, self.reason = ExecState.IDLE, 'dry run set: motion held, predictions ' \
                'are validated, not executed'
        elif toggled and not self.busy:
            self.reason = ('dry run set: predictions are validated, not executed' if config.dry_run
                           else 'dry run cleared: predictions are executed')
        if toggled:
            self._changed()

    def resume(self) -> None:
        """Accept predictions again after :meth:`stop`."""
        self.stopped = False
        self.reason = ''
        self._changed()
