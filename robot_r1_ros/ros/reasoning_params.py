"""Parameters of the reasoning node: declared in one place, read once into a frozen config.

:data:`PARAMETERS` is the single list of every parameter (name, default, meaning). The node
declares them all at start-up (:func:`declare_parameters`) and reads them on ``configure`` into a
validated, frozen :class:`ReasoningNodeConfig` (:func:`read_config`) that holds the core's
:class:`~robot_r1_ros.core.config.ReasonerConfig` (model loading and its default
:class:`~robot_r1_ros.core.config.GenerationOptions`), and the
:class:`~robot_r1_ros.core.geometry.EnvFrame` and :class:`~robot_r1_ros.core.geometry.Workspace`
of a :class:`~robot_r1_ros.core.config.WorkspaceConfig` (defaults:
:data:`~robot_r1_ros.core.config.DEFAULT_WORKSPACE`, shared with the executor node).
A bad value raises :class:`~robot_r1_ros.core.errors.ConfigError` naming the parameter, so the
configure transition fails with a clear message instead of the node failing later.

The README's parameter table is printed by :func:`main` (``python -m
robot_r1_ros.ros.reasoning_params``); the declaring, reading and type checking are
:mod:`robot_r1_ros.ros.params`, shared with the executor node. Defaults for the Franka scene
are in the ``reasoning_node:`` block of ``config/franka.yaml``.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from robot_r1_ros.core.config import (DEFAULT_MODEL_ID, DEFAULT_WORKSPACE, GenerationOptions,
                                      ReasonerConfig, WorkspaceConfig)
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.reading import PANDA_ARM_JOINTS, PANDA_FINGER_JOINTS  # noqa: F401  (API)
from robot_r1_ros.core.remote_config import RemoteConfig
from robot_r1_ros.core.geometry import EnvFrame, Workspace, make_transform, quat_wxyz_to_matrix
from robot_r1_ros.ros.params import ParamSpec, ParamTable, coerce  # noqa: F401 (re-exported)
from robot_r1_ros.ros.reasoning_trigger import TRIGGER_MODES  # (the modes are described there)

DEFAULT_TASK = 'put the red cube in the yellow zone'


_GEN = GenerationOptions()
_REMOTE = RemoteConfig()
_WS = DEFAULT_WORKSPACE

PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec('autostart', True,
              'configure and activate right after start-up (as llama_ros does), so `ros2 run` '
              'and launch need no lifecycle calls; false waits for change_state'),
    ParamSpec('task', DEFAULT_TASK,
              'task instruction used until one arrives on topics.task (or in an action goal)'),
    # model (ReasonerConfig)
    ParamSpec('model.id', DEFAULT_MODEL_ID,
              'checkpoint folder (relative to the working directory or the repo), hub id such '
              'as Qwen/Qwen2.5-VL-7B-Instruct, or scripted:<mode>[?k=v] for the test double'),
    ParamSpec('model.dtype', 'auto', 'auto, float32, bfloat16 or float16 (auto: bf16 on CUDA, '
              'fp32 on CPU)'),
    ParamSpec('model.device', 'auto', 'auto, cpu, cuda, cuda:N or mps'),
    ParamSpec('model.device_map', '', 'from_pretrained device_map (e.g. auto to spread over '
              'GPUs); empty places the model on model.device'),
    ParamSpec('model.attn_implementation', 'auto',
              'auto, sdpa, eager or flash_attention_2 (auto: flash-attn when installed on CUDA)'),
    ParamSpec('model.load_in_4bit', False, 'NF4 4-bit weights through bitsandbytes (CUDA)'),
    ParamSpec('model.min_pixels', 0, 'lower bound of the resized image area [px]; 0 = '
              'checkpoint default'),
    ParamSpec('model.max_pixels', 0, 'upper bound of the resized image area [px]; 0 = '
              'checkpoint default (the main prefill-cost knob)'),
    ParamSpec('model.local_files_only', False, 'never contact the model hub'),
    ParamSpec('model.revision', '', 'hub revision; empty = default branch'),
    ParamSpec('model.num_threads', 0, 'torch CPU threads; 0 = leave as is'),
    ParamSpec('model.backend', 'transformers', 'transformers (the model in this process) or '
              'remote (an OpenAI-compatible server, remote.*; model.id is the served name)'),
    # remote backend (RemoteConfig)
    ParamSpec('remote.base_url', _REMOTE.base_url, 'OpenAI API root of the server, e.g. '
              'http://gpu-host:8000/v1'),
    ParamSpec('remote.model', _REMOTE.model, 'served model name; empty = model.id'),
    ParamSpec('remote.api_key_env', _REMOTE.api_key_env, 'environment variable holding the API '
              'key (the key itself is never a parameter); empty = no key'),
    ParamSpec('remote.connect_timeout_s', _REMOTE.connect_timeout_s, 'TCP connect timeout [s]'),
    ParamSpec('remote.timeout_s', _REMOTE.timeout_s, 'deadline of one request, streaming '
              'included [s]'),
    ParamSpec('remote.retries', _REMOTE.retries, 'retries before any text arrived '
              '(connection refused, timeout, HTTP 5xx/429)'),
    ParamSpec('remote.backoff_s', _REMOTE.backoff_s, 'first retry wait, doubling [s]'),
    ParamSpec('remote.backoff_max_s', _REMOTE.backoff_max_s, 'longest retry wait [s]'),
    ParamSpec('remote.constraint', _REMOTE.constraint, 'structured_outputs (vLLM >= 0.12), '
              'guided_regex (older vLLM) or none (the local parser decides)'),
    ParamSpec('remote.max_think_chars', _REMOTE.max_think_chars, 'reasoning characters the '
              'regex allows; 0 = 4 x generation.think_budget_tokens'),
    ParamSpec('remote.image_format', _REMOTE.image_format, 'png (lossless) or jpeg'),
    ParamSpec('model.warmup', True, 'run one small prediction on configure so the first real '
              'one is not slow'),
    # generation (GenerationOptions)
    ParamSpec('generation.max_new_tokens', _GEN.max_new_tokens,
              'hard cap on generated tokens [tokens]'),
    ParamSpec('generation.think_budget_tokens', _GEN.think_budget_tokens,
              'reasoning tokens after which </think><answer> is forced (constrained decoding) '
              '[tokens]'),
    ParamSpec('generation.constrained', _GEN.constrained,
              'enforce the answer grammar so every completion parses'),
    ParamSpec('generation.do_sample', _GEN.do_sample, 'sample (true) or greedy (false)'),
    ParamSpec('generation.temperature', float(_GEN.temperature), 'sampling temperature (> 0)'),
    ParamSpec('generation.top_p', float(_GEN.top_p), 'nucleus sampling mass in (0, 1]'),
    ParamSpec('generation.top_k', _GEN.top_k, 'top-k sampling; 0 = off'),
    ParamSpec('generation.repetition_penalty', float(_GEN.repetition_penalty), '1.0 = off'),
    ParamSpec('generation.seed', -1, 'sampling seed; -1 = unseeded'),
    ParamSpec('generation.max_time_s', 0.0, 'wall-clock cap on one generation [s]; 0 = none'),
    # trigger
    ParamSpec('trigger.mode', 'continuous', 'continuous, on_reached or on_demand (the '
              'predict_keypoint action works in every mode)'),
    ParamSpec('trigger.max_rate_hz', 2.0, 'continuous / on_reached: at most this many '
              'predictions per second [Hz]'),
    ParamSpec('trigger.reached_timeout_s', 0.0, 'on_reached: predict again if the executor has '
              'not reported on the last goal after this long [s]; 0 = wait forever'),
    ParamSpec('trigger.ack_timeout_s', 5.0, 'on_reached: predict again if the executor has '
              'not reported on the last goal at all (not even MOVING or REJECTED) after this '
              'long: the prediction was lost on the way [s]; 0 = never'),
    # inputs
    ParamSpec('topics.image', '/camera/image_raw', 'camera image (sensor_msgs/Image: rgb8, '
              'bgr8, rgba8, bgra8 or mono8; sensor-data QoS)'),
    ParamSpec('topics.camera_info', '/camera/camera_info',
              'camera intrinsics (optional; used for the debug image projection)'),
    ParamSpec('topics.joint_states', '/joint_states', 'sensor_msgs/JointState'),
    ParamSpec('topics.gripper_joint_states', '/franka_gripper/joint_states',
              'sensor_msgs/JointState of the gripper: its finger joints are merged into '
              'topics.joint_states messages that lack them (franka_ros2); empty = none'),
    ParamSpec('topics.task', 'task', 'std_msgs/String task instruction (transient local); '
              'relative, so /robot_r1/task in the robot_r1 namespace'),
    ParamSpec('topics.executor_state', 'executor_state',
              'robot_r1_ros/ExecutorState of the executor (trigger.mode on_reached)'),
    ParamSpec('input.max_image_age_s', 1.0, 'an image older than this when a prediction '
              'starts gives STALE_INPUT [s]'),
    ParamSpec('input.max_joint_state_age_s', 1.0, 'a joint state older than this (relative to '
              'the image stamp) gives STALE_INPUT [s]'),
    ParamSpec('input.action_wait_s', 2.0, 'predict_keypoint: wait this long for a first / '
              'fresh image and joint state before answering STALE_INPUT [s]'),
    # robot and frames
    ParamSpec('robot.base_frame', 'panda_link0', 'frame_id of every published pose'),
    ParamSpec('robot.arm_joint_names', list(PANDA_ARM_JOINTS),
              '7 arm joints in kinematic order (fr3_joint1..7 on an FR3)'),
    ParamSpec('robot.finger_joint_names', list(PANDA_FINGER_JOINTS),
              'finger joints; the opening is their sum. [""] = none (opening 0.08 m)'),
    ParamSpec('robot.tcp_offset_m', 0.1034, 'flange to TCP along the flange z axis [m]'),
    ParamSpec('workspace.min_xyz_base_m', list(_WS.min_xyz_base_m),
              'lower corner of the allowed keypoint box in the base frame [m]'),
    ParamSpec('workspace.max_xyz_base_m', list(_WS.max_xyz_base_m),
              'upper corner of the allowed keypoint box in the base frame [m]'),
    ParamSpec('env_frame.origin_base_m', list(_WS.reference_xyz_base_m),
              "origin of the prompt's environment frame in the base frame [m]"),
    ParamSpec('env_frame.axes', list(_WS.env_axes),
              'base axis (with sign) each env axis points along'),
    ParamSpec('env_frame.reference_text', _WS.reference_text,
              'what the env origin is, in words (shown in the prompt)'),
    ParamSpec('camera.xyz_base_m', [0.0, 0.0, 0.0],
              'camera optical frame position in the base frame [m] (debug image projection)'),
    ParamSpec('camera.quat_xyzw', [0.0, 0.0, 0.0, 0.0],
              'camera optical frame orientation (x right, y down, z forward) in the base frame; '
              'all zero = pose unknown, no projection'),
    # outputs
    ParamSpec('debug_image.enabled', True, 'publish the annotated debug_image'),
    ParamSpec('debug_image.reasoning_chars', 160,
              'characters of reasoning drawn on the debug image'),
    ParamSpec('markers.lifetime_s', 0.0, 'marker lifetime [s]; 0 = until replaced'),
    ParamSpec('diagnostics.period_s', 1.0, 'period of /diagnostics [s]'),
)
"""Every parameter of the reasoning node."""

_TABLE = ParamTable('reasoning_node', PARAMETERS)
declare_parameters = _TABLE.declare
main = _TABLE.main


@dataclass(frozen=True)
class ReasoningNodeConfig:
    """The reasoning node's settings, validated (built by :func:`config_from_values`).

    Attributes:
        reasoner: Model and generation settings.
        task: Default task instruction.
        autostart: Configure + activate on start.
        warmup: Warm the model up on configure.
        trigger_mode: One of :data:`TRIGGER_MODES`.
        max_rate_hz: Prediction rate cap.
        reached_timeout_s: on_reached re-trigger timeout (0 = none).
        ack_timeout_s: on_reached re-trigger timeout for a goal never reported on (0 = none).
        image_topic, camera_info_topic, joint_states_topic, task_topic, executor_state_topic:
            Input topic names.
        max_image_age_s: Image age limit at prediction start.
        max_joint_state_age_s: Joint state age limit relative to the image.
        action_wait_s: Action's wait for inputs.
        base_frame: Frame of published poses.
        arm_joint_names: The 7 arm joints.
        finger_joint_names: Finger joints (may be empty).
        tcp_offset_m: FK flange-to-TCP offset.
        workspace: Allowed keypoint box.
        env_frame: The prompt's frame.
        T_base_cam: Camera optical frame pose (4x4, nested tuples) or None when unknown.
        debug_image: Publish the debug image.
        reasoning_chars: Reasoning excerpt length on the debug image.
        marker_lifetime_s: Marker lifetime.
        diagnostics_period_s: Diagnostics period.
    """

    reasoner: ReasonerConfig = field(default_factory=ReasonerConfig)
    task: str = DEFAULT_TASK
    autostart: bool = True
    warmup: bool = True
    trigger_mode: str = 'continuous'
    max_rate_hz: float = 2.0
    reached_timeout_s: float = 0.0
    ack_timeout_s: float = 5.0
    image_topic: str = '/camera/image_raw'
    camera_info_topic: str = '/camera/camera_info'
    joint_states_topic: str = '/joint_states'
    gripper_joint_states_topic: str = '/franka_gripper/joint_states'
    task_topic: str = 'task'
    executor_state_topic: str = 'executor_state'
    max_image_age_s: float = 1.0
    max_joint_state_age_s: float = 1.0
    action_wait_s: float = 2.0
    base_frame: str = 'panda_link0'
    arm_joint_names: tuple[str, ...] = PANDA_ARM_JOINTS
    finger_joint_names: tuple[str, ...] = PANDA_FINGER_JOINTS
    tcp_offset_m: float = 0.1034
    workspace: Workspace = field(default_factory=DEFAULT_WORKSPACE.workspace)
    env_frame: EnvFrame = field(default_factory=DEFAULT_WORKSPACE.env_frame)
    T_base_cam: tuple[tuple[float, ...], ...] | None = None
    debug_image: bool = True
    reasoning_chars: int = 160
    marker_lifetime_s: float = 0.0
    diagnostics_period_s: float = 1.0

    def __post_init__(self) -> None:
        def bad(param: str, why: str, value: Any) -> ConfigError:
            return ConfigError(f'parameter {param} {why}, got {value!r}', param)

        if self.trigger_mode not in TRIGGER_MODES:
            raise bad('trigger.mode', f'must be one of {", ".join(TRIGGER_MODES)}',
                      self.trigger_mode)
        positive = {'trigger.max_rate_hz': self.max_rate_hz,
                    'input.max_image_age_s': self.max_image_age_s,
                    'input.max_joint_state_age_s': self.max_joint_state_age_s,
                    'diagnostics.period_s': self.diagnostics_period_s}
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise bad(name, 'must be a finite number > 0', value)
        non_negative = {'trigger.reached_timeout_s': self.reached_timeout_s,
                        'trigger.ack_timeout_s': self.ack_timeout_s,
                        'input.action_wait_s': self.action_wait_s,
                        'markers.lifetime_s': self.marker_lifetime_s,
                        'robot.tcp_offset_m': self.tcp_offset_m}
        for name, value in non_negative.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise bad(name, 'must be a finite number >= 0', value)
        if not isinstance(self.task, str) or not self.task.strip():
            raise bad('task', 'must be a non-empty instruction', self.task)
        topics = {'topics.image': self.image_topic, 'topics.camera_info': self.camera_info_topic,
                  'topics.joint_states': self.joint_states_topic, 'topics.task': self.task_topic,
                  'topics.executor_state': self.executor_state_topic,
                  'robot.base_frame': self.base_frame}
        for name, value in topics.items():
            if not isinstance(value, str) or not value.strip() or ' ' in value:
                raise bad(name, 'must be a non-empty name without spaces', value)
        arm = tuple(self.arm_joint_names)
        if len(arm) != 7 or any(not n for n in arm) or len(set(arm)) != 7:
            raise bad('robot.arm_joint_names', 'must be 7 distinct non-empty joint names',
                      list(arm))
        fingers = tuple(n for n in self.finger_joint_names if n)
        if set(fingers) & set(arm) or len(set(fingers)) != len(fingers):
            raise bad('robot.finger_joint_names', 'must be distinct and not arm joints',
                      list(self.finger_joint_names))
        object.__setattr__(self, 'arm_joint_names', arm)
        object.__setattr__(self, 'finger_joint_names', fingers)
        if not isinstance(self.reasoning_chars, int) or self.reasoning_chars < 0:
            raise bad('debug_image.reasoning_chars', 'must be an integer >= 0',
                      self.reasoning_chars)


def _none_if(value: Any, empty: Any) -> Any:
    return None if value == empty else value


def config_from_values(values: Mapping[str, Any]) -> ReasoningNodeConfig:
    """Build the config from parameter values (missing names take their defaults).

    Args:
        values: Parameter name -> value, e.g. from :func:`read_config` or a test.

    Returns:
        The validated config.

    Raises:
        ConfigError: An unknown parameter name, or a bad value (``field`` is the parameter).
    """
    g = _TABLE.getter(values)
    try:
        generation = GenerationOptions(
            max_new_tokens=g('generation.max_new_tokens'),
            think_budget_tokens=g('generation.think_budget_tokens'),
            constrained=bool(g('generation.constrained')),
            do_sample=bool(g('generation.do_sample')),
            temperature=float(g('generation.temperature')),
            top_p=float(g('generation.top_p')), top_k=g('generation.top_k'),
            repetition_penalty=float(g('generation.repetition_penalty')),
            seed=None if g('generation.seed') < 0 else g('generation.seed'),
            max_time_s=_none_if(float(g('generation.max_time_s')), 0.0))
        reasoner = ReasonerConfig(
            model_id=g('model.id'), dtype=g('model.dtype'), device=g('model.device'),
            device_map=_none_if(g('model.device_map'), ''),
            attn_implementation=g('model.attn_implementation'),
            load_in_4bit=bool(g('model.load_in_4bit')),
            min_pixels=_none_if(g('model.min_pixels'), 0),
            max_pixels=_none_if(g('model.max_pixels'), 0),
            local_files_only=bool(g('model.local_files_only')),
            revision=_none_if(g('model.revision'), ''),
            num_threads=_none_if(g('model.num_threads'), 0), generation=generation,
            backend=g('model.backend'), remote=RemoteConfig(
                base_url=g('remote.base_url'), model=g('remote.model'),
                api_key_env=g('remote.api_key_env'),
                connect_timeout_s=float(g('remote.connect_timeout_s')),
                timeout_s=float(g('remote.timeout_s')), retries=g('remote.retries'),
                backoff_s=float(g('remote.backoff_s')),
                backoff_max_s=float(g('remote.backoff_max_s')),
                constraint=g('remote.constraint'), max_think_chars=g('remote.max_think_chars'),
                image_format=g('remote.image_format')))
    except ConfigError as exc:
        raise _param_error(exc, _model_param_name(exc.field)) from None
    try:
        ws_config = WorkspaceConfig(
            min_xyz_base_m=g('workspace.min_xyz_base_m'),
            max_xyz_base_m=g('workspace.max_xyz_base_m'),
            reference_xyz_base_m=g('env_frame.origin_base_m'), env_axes=g('env_frame.axes'),
            reference_text=g('env_frame.reference_text'))
    except ConfigError as exc:
        raise _param_error(exc, _WORKSPACE_PARAMS[exc.field.split('[')[0]]) from None
    workspace, env_frame = ws_config.workspace(), ws_config.env_frame()
    t_base_cam = _camera_pose(g('camera.xyz_base_m'), g('camera.quat_xyzw'))
    return ReasoningNodeConfig(
        reasoner=reasoner, task=g('task'), autostart=bool(g('autostart')),
        warmup=bool(g('model.warmup')), trigger_mode=g('trigger.mode'),
        max_rate_hz=float(g('trigger.max_rate_hz')),
        reached_timeout_s=float(g('trigger.reached_timeout_s')),
        ack_timeout_s=float(g('trigger.ack_timeout_s')),
        image_topic=g('topics.image'), camera_info_topic=g('topics.camera_info'),
        joint_states_topic=g('topics.joint_states'), task_topic=g('topics.task'),
        gripper_joint_states_topic=g('topics.gripper_joint_states'),
        executor_state_topic=g('topics.executor_state'),
        max_image_age_s=float(g('input.max_image_age_s')),
        max_joint_state_age_s=float(g('input.max_joint_state_age_s')),
        action_wait_s=float(g('input.action_wait_s')),
        base_frame=g('robot.base_frame'), arm_joint_names=tuple(g('robot.arm_joint_names')),
        finger_joint_names=tuple(g('robot.finger_joint_names')),
        tcp_offset_m=float(g('robot.tcp_offset_m')), workspace=workspace, env_frame=env_frame,
        T_base_cam=t_base_cam, debug_image=bool(g('debug_image.enabled')),
        reasoning_chars=g('debug_image.reasoning_chars'),
        marker_lifetime_s=float(g('markers.lifetime_s')),
        diagnostics_period_s=float(g('diagnostics.period_s')))


def read_config(node: Any) -> ReasoningNodeConfig:
    """Read the node's declared parameters into a validated config (a bad value: ConfigError)."""
    return config_from_values(_TABLE.read_values(node))


_WORKSPACE_PARAMS = {'min_xyz_base_m': 'workspace.min_xyz_base_m',
                     'max_xyz_base_m': 'workspace.max_xyz_base_m',
                     'reference_xyz_base_m': 'env_frame.origin_base_m',
                     'env_axes': 'env_frame.axes', 'reference_text': 'env_frame.reference_text'}
"""WorkspaceConfig field -> ROS parameter name."""


def _param_error(exc: ConfigError, param: str) -> ConfigError:
    """The config's error renamed to the ROS parameter (``'parameter model.dtype: must ...'``)."""
    return ConfigError(f'parameter {param}: {str(exc).split(": ", 1)[-1]}', param)


def _model_param_name(field_name: str) -> str:
    """ReasonerConfig / GenerationOptions field -> ROS parameter name."""
    if field_name.startswith(('generation.', 'remote.')):
        return field_name
    return {'model_id': 'model.id'}.get(field_name, f'model.{field_name}' if field_name
                                        else 'model.id')


def _camera_pose(xyz: Sequence[float], quat_xyzw: Sequence[float]
                 ) -> tuple[tuple[float, ...], ...] | None:
    xyz, quat = [float(v) for v in xyz], [float(v) for v in quat_xyzw]
    if len(xyz) != 3 or not all(map(math.isfinite, xyz)):
        raise ConfigError(f'parameter camera.xyz_base_m must be 3 finite numbers, got {xyz}',
                          'camera.xyz_base_m')
    if len(quat) != 4 or not all(map(math.isfinite, quat)):
        raise ConfigError(f'parameter camera.quat_xyzw must be 4 finite numbers, got {quat}',
                          'camera.quat_xyzw')
    norm = math.sqrt(sum(v * v for v in quat))
    if norm == 0.0:
        return None  # pose unknown
    if abs(norm - 1.0) > 1e-3:
        raise ConfigError(f'parameter camera.quat_xyzw must be a unit quaternion (or all zero '
                          f'for unknown), got norm {norm:.4f}', 'camera.quat_xyzw')
    x, y, z, w = (v / norm for v in quat)
    transform = make_transform(quat_wxyz_to_matrix((w, x, y, z)), xyz)
    return tuple(tuple(float(v) for v in row) for row in transform)


if __name__ == '__main__':
    sys.exit(main())
