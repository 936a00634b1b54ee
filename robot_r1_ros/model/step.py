"""The prediction step: observation -> prompt -> reasoner -> judged keypoint in the base frame.

The one implementation of what happens per prediction, ROS-free and torch-free (the reasoner is
passed in). The reasoning node, the closed-loop evaluation (``robot-r1 eval
--closed-loop-episodes``), ``bench/bench_closed_loop.py`` and, through the node,
``robot-r1 demo`` all call :func:`predict_step`, so the figures they report come from the
node's code:

1. :func:`build_request`: the prompt of the open-ended next-keypoint task (``core.prompts``):
   the TCP position (core FK, see ``core.reading``) in the env frame and the gripper state by
   the one gripper rule (``core.gripper.current_gripper_state``);
2. the reasoner's ``predict`` (streaming / cancellation pass through);
3. :func:`judge`: parsed? finite? converted to the base frame, inside the workspace? The
   result carries a :class:`~robot_r1_ros.core.status.PredictionStatus` (the
   ``KeypointPrediction.status`` codes) and the reason when not OK.

Input checks that only the node can make (message age, encodings) stay in the node; a
cancelled generation raises ``GenerationCancelledError`` to the caller.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from robot_r1_ros.core.config import WorkspaceConfig
from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.geometry import EnvFrame, Workspace
from robot_r1_ros.core.gripper import PANDA_OPEN_WIDTH_M, current_gripper_state
from robot_r1_ros.core.prompts import PromptMetadata
from robot_r1_ros.core.reading import JointReading
from robot_r1_ros.core.status import PredictionStatus
from robot_r1_ros.core.types import GripperState, Keypoint, TaskKind
from robot_r1_ros.model.errors import GenerationCancelledError
from robot_r1_ros.model.interface import ReasonerOutput, ReasonerRequest

__all__ = ['Judgement', 'Observation', 'StepResult', 'StepSettings', 'build_request', 'judge',
           'predict_step']


@dataclass(frozen=True)
class StepSettings:
    """What a prediction step needs besides the observation.

    Attributes:
        env_frame: The prompt's frame (reference point, axes) and its base-frame transform.
        workspace: The box a keypoint must lie in (base frame) to be OK.
        gripper_open_width_m: The hand's full opening (the gripper rule's reference).
    """

    env_frame: EnvFrame
    workspace: Workspace
    gripper_open_width_m: float = PANDA_OPEN_WIDTH_M

    @classmethod
    def from_workspace_config(cls, config: WorkspaceConfig | None = None) -> 'StepSettings':
        """Settings of a ``WorkspaceConfig`` (default: the Franka scene's, the node's default)."""
        config = config or WorkspaceConfig()
        return cls(env_frame=config.env_frame(), workspace=config.workspace())


@dataclass(frozen=True)
class Observation:
    """One moment of the robot: camera frame, joint reading, task.

    Attributes:
        image_rgb: HxWx3 uint8 RGB camera frame.
        reading: Joint reading (TCP by the core's FK, measured gripper width).
        task: The task instruction.
        request_id: Free-form id for logs (the node: the image stamp).
    """

    image_rgb: np.ndarray
    reading: JointReading
    task: str
    request_id: str = ''

    @property
    def current_xyz_base_m(self) -> tuple[float, float, float]:
        """TCP position when the frame was taken, base frame."""
        return self.reading.robot_state.ee_xyz_base_m

    def gripper_state(self, settings: StepSettings) -> GripperState:
        """The current gripper state by the one rule (measured width vs the full opening)."""
        return current_gripper_state(self.reading.robot_state.gripper_opening_m,
                                     open_width_m=settings.gripper_open_width_m)


@dataclass(frozen=True)
class Judgement:
    """The verdict on one model output.

    Attributes:
        status: OK, FORMAT_ERROR or OUT_OF_WORKSPACE.
        reason: Why it is not OK ('' when OK).
        keypoint: The keypoint in the base frame (also for OUT_OF_WORKSPACE), else None.
    """

    status: PredictionStatus
    reason: str = ''
    keypoint: Keypoint | None = None


@dataclass
class StepResult:
    """Everything one prediction step produced.

    Attributes:
        status: The ``KeypointPrediction.status`` code.
        reason: Why it is not OK ('' when OK).
        keypoint: Base-frame keypoint (OK and OUT_OF_WORKSPACE), else None.
        request: The reasoner request (prompt), None when it could not be built.
        output: The reasoner's output, None when the model raised.
        inference_s: Wall time of the reasoner call, seconds.
        judge_s: Wall time of the judging, seconds.
    """

    status: PredictionStatus
    reason: str = ''
    keypoint: Keypoint | None = None
    request: ReasonerRequest | None = None
    output: ReasonerOutput | None = None
    inference_s: float = 0.0
    judge_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the keypoint may be executed."""
        return self.status is PredictionStatus.OK

    def messages(self) -> list[dict[str, Any]]:
        """The chat messages the model saw ([] when no request was built)."""
        return self.request.build_messages() if self.request is not None else []


def build_request(observation: Observation, settings: StepSettings) -> ReasonerRequest:
    """The open-ended next-keypoint request of an observation (the node's prompt).

    Raises:
        BadInputError: The image or the prompt inputs are malformed.
    """
    current_env = settings.env_frame.base_to_env(observation.current_xyz_base_m)
    metadata = PromptMetadata.from_env_frame(
        settings.env_frame, current_xyz_env_m=current_env,
        current_gripper=observation.gripper_state(settings))
    return ReasonerRequest(image_rgb=observation.image_rgb, kind=TaskKind.OPEN_KEYPOINT,
                           instruction=observation.task, metadata=metadata,
                           request_id=observation.request_id)


def judge(output: ReasonerOutput, settings: StepSettings) -> Judgement:
    """Status of a model output: format, frame conversion, workspace (pure; no model)."""
    if not output.ok or output.xyz_env_m is None or output.gripper is None:
        return Judgement(PredictionStatus.FORMAT_ERROR,
                         output.parse_error or 'the answer has no keypoint')
    try:
        xyz_base = settings.env_frame.env_to_base(output.xyz_env_m)
    except BadInputError as exc:  # NaN / inf in the answer
        return Judgement(PredictionStatus.FORMAT_ERROR,
                         f'non-finite keypoint {tuple(output.xyz_env_m)}: {exc}')
    if not np.all(np.isfinite(xyz_base)):
        return Judgement(PredictionStatus.FORMAT_ERROR, f'non-finite keypoint {tuple(xyz_base)}')
    keypoint = Keypoint(tuple(float(v) for v in xyz_base), output.gripper)
    reason = settings.workspace.check(xyz_base)
    if reason is not None:
        return Judgement(PredictionStatus.OUT_OF_WORKSPACE, reason, keypoint)
    return Judgement(PredictionStatus.OK, '', keypoint)


def predict_step(reasoner: Any, observation: Observation, settings: StepSettings, *,
                 on_text: Callable[[str], None] | None = None,
                 cancel: Any = None) -> StepResult:
    """One prediction: prompt, model, judged keypoint.

    Args:
        reasoner: A ``model.reasoner.Reasoner`` (anything with ``predict(request, on_text=,
            cancel=)``).
        observation: Camera frame, joint reading, task.
        settings: Env frame, workspace, gripper opening.
        on_text: Receives completion text deltas while generating.
        cancel: A ``threading.Event``; set, it stops generation.

    Returns:
        The result; a model failure is ``MODEL_ERROR`` (``BAD_INPUT`` when the reasoner refused
        the input), a malformed prompt input ``BAD_INPUT``, never an exception.

    Raises:
        GenerationCancelledError: ``cancel`` was set during generation.
    """
    try:
        request = build_request(observation, settings)
    except BadInputError as exc:
        return StepResult(PredictionStatus.BAD_INPUT, f'bad prompt input: {exc}')
    t0 = time.perf_counter()
    try:
        output = reasoner.predict(request, on_text=on_text, cancel=cancel)
    except GenerationCancelledError:
        raise
    except Exception as exc:  # noqa: BLE001  (any model failure is a status, not a crash)
        status = (PredictionStatus.BAD_INPUT if isinstance(exc, BadInputError)
                  else PredictionStatus.MODEL_ERROR)
        return StepResult(status, f'model raised {type(exc).__name__}: {exc}', request=request,
                          inference_s=time.perf_counter() - t0)
    inference_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    verdict = judge(output, settings)
    return StepResult(verdict.status, verdict.reason, verdict.keypoint, request, output,
                      inference_s=inference_s, judge_s=time.perf_counter() - t1)
