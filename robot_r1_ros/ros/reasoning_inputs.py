"""The reasoning node's inputs and one attempt: from the latest messages to a judged result.

:func:`check_inputs` turns the camera image and joint state a prediction uses into the RGB
array and the joint reading of the prediction step (``model.step``), or rejects them with
``STALE_INPUT`` / ``BAD_INPUT`` and a reason (message age, missing messages, encodings, joint
names): the checks only the node can make, since only it sees messages. :func:`run_attempt`
runs the checks and then the prediction step, and records what the publishing needs.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Header

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.reading import JointReading
from robot_r1_ros.core.status import PredictionStatus
from robot_r1_ros.core.types import Keypoint
from robot_r1_ros.model.step import Observation, StepSettings, predict_step
from robot_r1_ros.ros import conversions as conv


def stamp_ns(stamp: Any) -> int:
    """A ``builtin_interfaces/Time`` in integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


@dataclass
class Inputs:
    """Latest inputs, replaced by the subscription callbacks (under the node's lock)."""

    image: Image | None = None
    image_seq: int = 0
    image_rx_ns: int = 0
    joint_state: JointState | None = None
    joint_rx_ns: int = 0
    k: np.ndarray | None = None
    info_size: tuple[int, int] | None = None

    def copy(self) -> 'Inputs':
        """A shallow copy (the messages are never modified, only replaced)."""
        return Inputs(self.image, self.image_seq, self.image_rx_ns, self.joint_state,
                      self.joint_rx_ns, self.k, self.info_size)


@dataclass
class Job:
    """One prediction request for the worker thread."""

    source: str  # 'trigger' or 'action'
    task: str = ''
    on_text: Callable[[str], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)  # set: stop generating
    done: threading.Event = field(default_factory=threading.Event)    # set: the job is over
    wait_inputs_s: float = 0.0
    result: Any = None   # the KeypointPrediction (or None when cancelled)
    status: int = PredictionStatus.OK


@dataclass
class Attempt:
    """What is known about one prediction attempt so far."""

    task: str
    model_id: str
    reading: JointReading | None = None
    rgb: np.ndarray | None = None
    image_header: Header | None = None  # the camera image's header (for the debug image)
    output: Any = None
    keypoint: Keypoint | None = None
    current_xyz_base_m: Sequence[float] | None = None
    tcp_quat_xyzw: Sequence[float] | None = None
    inference_s: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)


class Rejected(Exception):
    """An input check failed: the attempt ends with ``status`` and ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_inputs(cfg: Any, image_msg: Image | None, joint_msg: JointState | None,
                 inputs: Inputs, now_ns: int, ctx: Attempt) -> tuple[np.ndarray, JointReading]:
    """Validate and convert the inputs of one attempt, or raise :class:`Rejected`.

    Args:
        cfg: The node's ``ReasoningNodeConfig`` (topics, age limits, joint names, TCP offset).
        image_msg: The camera frame.
        joint_msg: The joint state.
        inputs: The snapshot they came from (arrival times).
        now_ns: The prediction's start (node clock).
        ctx: The attempt: stage timings, current TCP and orientation are filled in.
    """
    stale, bad = PredictionStatus.STALE_INPUT, PredictionStatus.BAD_INPUT
    if image_msg is None:
        raise Rejected(stale, f'no image received on {cfg.image_topic}')
    image_ns = stamp_ns(image_msg.header.stamp)
    age_s = (now_ns - image_ns) * 1e-9
    ctx.stage_ms['frame_age'] = age_s * 1e3
    if inputs.image_rx_ns:
        ctx.stage_ms['frame_wait'] = max(0.0, (now_ns - inputs.image_rx_ns) * 1e-6)
    if image_ns == 0:
        raise Rejected(stale, 'image has no time stamp (header.stamp is 0)')
    if age_s > cfg.max_image_age_s:
        raise Rejected(stale, f'image is {age_s:.2f} s old (input.max_image_age_s '
                              f'= {cfg.max_image_age_s:.2f} s)')
    t0 = time.perf_counter()
    try:
        rgb = conv.image_msg_to_array(image_msg, 'rgb8')
    except BadInputError as exc:
        raise Rejected(bad, f'bad image: {exc}') from None
    if joint_msg is None:
        raise Rejected(stale, f'no joint state received on {cfg.joint_states_topic}')
    try:
        reading = conv.joint_state_to_reading(joint_msg, cfg.arm_joint_names,
                                              cfg.finger_joint_names,
                                              tcp_offset_m=cfg.tcp_offset_m)
    except BadInputError as exc:
        raise Rejected(bad, f'bad joint state: {exc}') from None
    ctx.stage_ms['conversion'] = (time.perf_counter() - t0) * 1e3
    ctx.current_xyz_base_m = reading.robot_state.ee_xyz_base_m
    ctx.tcp_quat_xyzw = reading.tcp_quat_xyzw
    joint_ns = stamp_ns(joint_msg.header.stamp)
    if joint_ns:
        lag_s = (image_ns - joint_ns) * 1e-9
    else:  # unstamped joint states: use their arrival time
        lag_s = (now_ns - inputs.joint_rx_ns) * 1e-9
    if lag_s > cfg.max_joint_state_age_s:
        raise Rejected(stale, f'joint state is {lag_s:.2f} s older than the image '
                              f'(input.max_joint_state_age_s = '
                              f'{cfg.max_joint_state_age_s:.2f} s)')
    return rgb, reading


@dataclass
class AttemptResult:
    """One finished attempt, ready to publish.

    Attributes:
        header: Stamp of the image used (0 when none), base frame.
        status: ``KeypointPrediction`` status.
        reason: Why it is not OK.
        ctx: What the attempt saw and produced.
        t_start_ns: Prediction start when the model ran (end-to-end timing), else None.
    """

    header: Header
    status: int
    reason: str
    ctx: Attempt
    t_start_ns: int | None = None


def run_attempt(cfg: Any, reasoner: Any, settings: StepSettings, inputs: Inputs, task: str,
                now_ns: int, job: Job) -> AttemptResult:
    """Check the inputs, run the prediction step, record stage timings.

    Raises:
        GenerationCancelledError: The job was cancelled while the model generated.
    """
    image_msg = inputs.image
    header = Header(frame_id=cfg.base_frame)
    ctx = Attempt(task=task, model_id=reasoner.model_id)
    if image_msg is not None:
        header.stamp = image_msg.header.stamp
        ctx.image_header = image_msg.header
    try:
        rgb, reading = check_inputs(cfg, image_msg, inputs.joint_state, inputs, now_ns, ctx)
    except Rejected as rej:
        return AttemptResult(header, int(rej.status), rej.reason, ctx)
    ctx.reading, ctx.rgb = reading, rgb
    observation = Observation(image_rgb=rgb, reading=reading, task=task,
                              request_id=f'{header.stamp.sec}.{header.stamp.nanosec:09d}')
    result = predict_step(reasoner, observation, settings, on_text=job.on_text,
                          cancel=job.cancel)
    ctx.inference_s, ctx.output, ctx.keypoint = (result.inference_s, result.output,
                                                 result.keypoint)
    t_start = None
    if result.output is not None:
        timings = result.output.timings
        ctx.stage_ms['prompt_processor'] = timings.preprocess_s * 1e3
        ctx.stage_ms['model'] = timings.generate_s * 1e3
        ctx.stage_ms['parse'] = (timings.parse_s + result.judge_s) * 1e3
        t_start = now_ns
    return AttemptResult(header, int(result.status), result.reason, ctx, t_start)
