"""Validated, frozen configuration of the reasoner, executor, workspace, camera and training.

Every config is a frozen dataclass validated in ``__post_init__``; a bad value raises
:class:`ConfigError` whose message and ``field`` attribute name the field with its dotted path
(``'workspace.min_xyz_base_m'``). Values are coerced the way ROS parameters and YAML deliver
them: lists become tuples, ints become floats; bools are never taken for numbers.

``Config.from_dict(data)`` accepts nested dicts, dotted keys (``{'model.dtype': 'bfloat16'}``,
as ROS parameter groups are named) or a mix; unknown keys are rejected with the valid names.
``Config.to_dict()`` gives the flat dotted form (e.g. to declare ROS parameters).

Groups (dotted names are the ROS parameter names of ``config/franka.yaml``):

- :class:`WorkspaceConfig` ``workspace.*``: target box and the env frame (reference point, axes).
- :class:`CameraConfig` ``camera.*``: topics, render size, field of view, model input size.
- :class:`ModelConfig` ``model.*`` and :class:`GenerationConfig` ``generation.*``.
- :class:`ReasonerConfig`: the reasoning node (model, generation, camera, workspace, task).
- :class:`ExecutorConfig`: the executor node (motion backend, limits, workspace policy).
- :class:`QAConfig` ``qa.*``: keyframes, observation sampling, distractors.
- :class:`TrainingConfig`: GRPO/SFT settings and the QA settings.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from robot_r1_ros.core.errors import BadInputError, ConfigError
from robot_r1_ros.core.types import TaskKind

_DTYPES = ('float32', 'bfloat16', 'float16')
_DEVICES = ('cpu', 'cuda', 'auto')


def _fail(path: str, message: str) -> ConfigError:
    return ConfigError(f'{path}: {message}', path)


class _Config:
    """Mixin: type coercion, ``from_dict`` and ``to_dict`` for the config dataclasses."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = _coerce(getattr(self, f.name), hints[f.name], f.name)
            object.__setattr__(self, f.name, value)
        self._validate()

    def _validate(self) -> None:
        """Field checks beyond types (overridden per class)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None = None, **overrides: Any) -> Any:
        """Build from nested and/or dotted keys; unknown keys raise :class:`ConfigError`.

        Args:
            data: e.g. ``{'model': {'dtype': 'bfloat16'}, 'generation.max_new_tokens': 64}``.
            **overrides: Top-level fields (applied after ``data``).
        """
        return _from_dict(cls, {**(data or {}), **overrides}, '')

    def to_dict(self) -> dict[str, Any]:
        """Flat dotted dict of all values (tuples become lists), e.g. ``{'model.dtype': ...}``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, _Config):
                out.update({f'{f.name}.{k}': v for k, v in value.to_dict().items()})
            elif isinstance(value, tuple):
                out[f.name] = list(value)
            else:
                out[f.name] = value
        return out

    def replace(self, **changes: Any) -> Any:
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


def _from_dict(cls: type, data: Mapping[str, Any], prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise _fail(prefix.rstrip('.') or cls.__name__, f'expected a mapping, got {data!r}')
    names = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    nested: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        head, _, rest = str(key).partition('.')
        if head not in names:
            valid = ', '.join(sorted(names))
            raise _fail(prefix + str(key), f'unknown setting; valid names here: {valid}')
        sub = _config_class(hints[head])
        if rest:
            if sub is None:
                raise _fail(prefix + str(key), f'{head} has no sub-settings')
            nested.setdefault(head, {})[rest] = value
        elif sub is not None and isinstance(value, Mapping):
            nested.setdefault(head, {}).update(value)
        else:
            kwargs[head] = value
    for head, values in nested.items():
        sub = _config_class(hints[head])
        if head in kwargs:
            raise _fail(prefix + head, 'given both as a whole and as sub-settings')
        kwargs[head] = _from_dict(sub, values, f'{prefix}{head}.')  # type: ignore[arg-type]
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if prefix and not exc.field.startswith(prefix):
            raise _fail(prefix + exc.field, str(exc).split(': ', 1)[-1]) from None
        raise


def _config_class(hint: Any) -> type | None:
    return hint if isinstance(hint, type) and issubclass(hint, _Config) else None


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """Convert ``value`` to the annotated type or raise ConfigError naming ``path``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], path)
    sub = _config_class(hint)
    if sub is not None:
        if isinstance(value, sub):
            return value
        if isinstance(value, Mapping):
            return _from_dict(sub, value, path + '.')
        raise _fail(path, f'expected {sub.__name__} or a mapping, got {value!r}')
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise _fail(path, f'expected true or false, got {value!r}')
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value.is_integer()):
            raise _fail(path, f'expected an integer, got {value!r}')
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(path, f'expected a number, got {value!r}')
        if not math.isfinite(value):
            raise _fail(path, f'expected a finite number, got {value!r}')
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _fail(path, f'expected a string, got {value!r}')
        return value
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _fail(path, f'expected a list, got {value!r}')
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f'{path}[{i}]') for i, v in enumerate(value))
        if len(value) != len(args):
            raise _fail(path, f'expected {len(args)} values, got {len(value)}')
        return tuple(_coerce(v, a, f'{path}[{i}]') for i, (v, a) in enumerate(zip(value, args)))
    return value


def _check(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise _fail(path, message)


def _one_of(value: str, choices: tuple[str, ...], path: str) -> None:
    _check(value in choices, path, f'must be one of {", ".join(choices)}; got {value!r}')


XYZ3 = tuple[float, float, float]


@dataclass(frozen=True)
class WorkspaceConfig(_Config):
    """Where targets may go, and the env frame the prompt talks in.

    Attributes:
        min_xyz_base_m: Lower corner of the allowed TCP box, base frame.
        max_xyz_base_m: Upper corner.
        reference_xyz_base_m: Env-frame origin (the table centre) in the base frame.
        env_axes: Env x, y, z as signed base axes (see ``EnvFrame.from_axes``).
        reference_text: The origin in words, for the prompt.
    """

    min_xyz_base_m: XYZ3 = (0.2, -0.45, 0.0)
    max_xyz_base_m: XYZ3 = (0.8, 0.45, 0.6)
    reference_xyz_base_m: XYZ3 = (0.35, 0.0, 0.0)
    env_axes: tuple[str, str, str] = ('+x', '+y', '+z')
    reference_text: str = 'the center of the table surface'

    def _validate(self) -> None:
        for axis, lo, hi in zip('xyz', self.min_xyz_base_m, self.max_xyz_base_m):
            _check(lo < hi, 'min_xyz_base_m',
                   f'{axis} minimum {lo} must be below the maximum {hi}')
        try:
            self.env_frame()
        except (ConfigError, BadInputError) as exc:
            raise _fail('env_axes', str(exc)) from None

    def workspace(self) -> Any:
        """The ``core.geometry.Workspace`` box."""
        from robot_r1_ros.core.geometry import Workspace
        return Workspace(self.min_xyz_base_m, self.max_xyz_base_m)

    def env_frame(self) -> Any:
        """The ``core.geometry.EnvFrame`` (origin, axes, reference wording)."""
        from robot_r1_ros.core.geometry import EnvFrame
        return EnvFrame.from_axes(self.reference_xyz_base_m, self.env_axes,
                                  reference_text=self.reference_text)


@dataclass(frozen=True)
class CameraConfig(_Config):
    """The front-view camera.

    Attributes:
        name: Camera name (MuJoCo camera / frame id suffix).
        image_topic: Relative image topic.
        info_topic: Relative CameraInfo topic.
        width_px: Rendered / captured width.
        height_px: Rendered / captured height.
        fovy_deg: Vertical field of view (MuJoCo convention).
        model_image_size_px: Square side the image is resized to for the model (paper: 224).
    """

    name: str = 'front_cam'
    image_topic: str = 'camera/image_raw'
    info_topic: str = 'camera/camera_info'
    width_px: int = 320
    height_px: int = 240
    fovy_deg: float = 55.0
    model_image_size_px: int = 224

    def _validate(self) -> None:
        _check(self.width_px > 0, 'width_px', f'must be > 0, got {self.width_px}')
        _check(self.height_px > 0, 'height_px', f'must be > 0, got {self.height_px}')
        _check(0.0 < self.fovy_deg < 180.0, 'fovy_deg',
               f'must be in (0, 180), got {self.fovy_deg}')
        _check(28 <= self.model_image_size_px <= 2048, 'model_image_size_px',
               f'must be in [28, 2048], got {self.model_image_size_px}')
        for name in ('image_topic', 'info_topic', 'name'):
            _check(bool(getattr(self, name).strip()), name, 'must not be empty')


@dataclass(frozen=True)
class ModelConfig(_Config):
    """Which model answers and how it is loaded.

    Attributes:
        backend: ``'local'`` (transformers in-process), ``'remote'`` (OpenAI-compatible server)
            or ``'scripted'`` (a deterministic stand-in for tests and demos).
        path: Local checkpoint directory (never downloaded); '' = the package default.
        device: ``'cpu'``, ``'cuda'`` or ``'auto'``.
        dtype: ``'float32'``, ``'bfloat16'`` or ``'float16'``.
        remote_url: Base URL of the remote server (remote backend only).
        timeout_s: Per-request time limit.
    """

    backend: str = 'local'
    path: str = ''
    device: str = 'cpu'
    dtype: str = 'float32'
    remote_url: str = ''
    timeout_s: float = 120.0

    def _validate(self) -> None:
        _one_of(self.backend, ('local', 'remote', 'scripted'), 'backend')
        _one_of(self.device, _DEVICES, 'device')
        _one_of(self.dtype, _DTYPES, 'dtype')
        _check(self.timeout_s > 0, 'timeout_s', f'must be > 0, got {self.timeout_s}')
        if self.backend == 'remote':
            _check(self.remote_url.startswith(('http://', 'https://')), 'remote_url',
                   f'the remote backend needs an http(s) URL, got {self.remote_url!r}')


@dataclass(frozen=True)
class GenerationConfig(_Config):
    """Decoding settings.

    Attributes:
        max_new_tokens: Upper bound on generated tokens.
        temperature: 0 for greedy decoding (the paper's evaluation), else sampling temperature.
        top_p: Nucleus sampling mass (sampling only).
        constrained: Enforce ``core.parsing.completion_regex`` while decoding.
        max_think_chars: Bound on the reasoning length under constrained decoding.
        seed: Sampling seed.
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    constrained: bool = True
    max_think_chars: int = 600
    seed: int = 0

    def _validate(self) -> None:
        _check(1 <= self.max_new_tokens <= 32768, 'max_new_tokens',
               f'must be in [1, 32768], got {self.max_new_tokens}')
        _check(0.0 <= self.temperature <= 10.0, 'temperature',
               f'must be in [0, 10], got {self.temperature}')
        _check(0.0 < self.top_p <= 1.0, 'top_p', f'must be in (0, 1], got {self.top_p}')
        _check(self.max_think_chars >= 0, 'max_think_chars',
               f'must be >= 0, got {self.max_think_chars}')


@dataclass(frozen=True)
class ReasonerConfig(_Config):
    """The reasoning node: what to ask, which model, which camera.

    Attributes:
        task_kind: The question asked each cycle (a ``TaskKind`` value; the node needs a
            position, so ``open_keypoint`` by default).
        instruction: The task description shown in the prompt.
        period_s: Seconds between automatic predictions; 0 = only on request.
        gripper_threshold_m: Finger openings above this count as open.
        model: Model settings.
        generation: Decoding settings.
        camera: Camera settings.
        workspace: Workspace and env frame.
    """

    task_kind: str = TaskKind.OPEN_KEYPOINT.value
    instruction: str = 'put the red cube on the yellow square'
    period_s: float = 0.0
    gripper_threshold_m: float = 0.039
    model: ModelConfig = field(default_factory=ModelConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)

    def _validate(self) -> None:
        _one_of(self.task_kind, tuple(k.value for k in TaskKind), 'task_kind')
        _check(bool(self.instruction.strip()), 'instruction', 'must not be empty')
        _check(self.period_s >= 0.0, 'period_s', f'must be >= 0, got {self.period_s}')
        _check(0.0 <= self.gripper_threshold_m <= 0.08, 'gripper_threshold_m',
               f'must be in [0, 0.08], got {self.gripper_threshold_m}')

    @property
    def kind(self) -> TaskKind:
        """``task_kind`` as a :class:`TaskKind`."""
        return TaskKind(self.task_kind)


@dataclass(frozen=True)
class ExecutorConfig(_Config):
    """The executor node: how predicted keypoints become motion.

    Attributes:
        backend: ``'ik'`` (numpy/MuJoCo IK) or ``'moveit'`` (moveit_py when importable).
        out_of_workspace: ``'clip'`` targets into the workspace or ``'reject'`` them.
        max_step_m: Targets farther than this from the current TCP are rejected.
        speed_m_s: Cartesian speed of the TCP.
        position_tolerance_m: Arrival tolerance.
        timeout_s: Give up on a motion after this long.
        gripper_open_m: Finger opening commanded for "open".
        workspace: Workspace and env frame (the same as the reasoner's).
    """

    backend: str = 'ik'
    out_of_workspace: str = 'clip'
    max_step_m: float = 0.5
    speed_m_s: float = 0.15
    position_tolerance_m: float = 0.005
    timeout_s: float = 20.0
    gripper_open_m: float = 0.08
    workspace: WorkspaceConfig = field(default_factory=WorkspaceConfig)

    def _validate(self) -> None:
        _one_of(self.backend, ('ik', 'moveit'), 'backend')
        _one_of(self.out_of_workspace, ('clip', 'reject'), 'out_of_workspace')
        _check(self.max_step_m > 0, 'max_step_m', f'must be > 0, got {self.max_step_m}')
        _check(0 < self.speed_m_s <= 2.0, 'speed_m_s', f'must be in (0, 2], got {self.speed_m_s}')
        _check(0 < self.position_tolerance_m <= 0.1, 'position_tolerance_m',
               f'must be in (0, 0.1], got {self.position_tolerance_m}')
        _check(self.timeout_s > 0, 'timeout_s', f'must be > 0, got {self.timeout_s}')
        _check(0 < self.gripper_open_m <= 0.08, 'gripper_open_m',
               f'must be in (0, 0.08], got {self.gripper_open_m}')


@dataclass(frozen=True)
class QAConfig(_Config):
    """How demonstrations become questions (``core.keyframes`` and ``core.qa``).

    Attributes:
        tasks: Task kinds to generate (``TaskKind`` values).
        keyframe_method: ``'arm'`` (the paper's) or ``'hysteresis'``.
        stopping_delta: Joint-speed stop threshold, rad/s.
        still_delta: Arrival threshold of the hysteresis method, rad/s.
        frame_interval: Frames between observations before a keyframe (paper: 10).
        include_segment_start: Also ask at the segment's first frame.
        max_frames_per_segment: Cap per segment (0 = no cap).
        distractor_kind: ``'random'`` (workspace, the paper's), ``'hard'`` (same phase of other
            episodes) or ``'mixed'`` (each question picks one at random).
        min_separation_m: No two options closer than this (Euclidean, metres).
        movement_dead_band_m: Movement axes below this are ignored.
        movement_slight_ratio: "slightly" when an axis moves at most this share of the largest.
        drop_static: Skip observations whose movement to the target is within the dead band.
        seed: Seed of all random choices.
    """

    tasks: tuple[str, ...] = tuple(k.value for k in TaskKind)
    keyframe_method: str = 'arm'
    stopping_delta: float = 0.1
    still_delta: float = 0.02
    frame_interval: int = 10
    include_segment_start: bool = True
    max_frames_per_segment: int = 0
    distractor_kind: str = 'random'
    min_separation_m: float = 0.05
    movement_dead_band_m: float = 0.02
    movement_slight_ratio: float = 0.5
    drop_static: bool = True
    seed: int = 0

    def _validate(self) -> None:
        valid = tuple(k.value for k in TaskKind)
        _check(len(self.tasks) > 0, 'tasks', f'must not be empty; valid: {", ".join(valid)}')
        for i, task in enumerate(self.tasks):
            _one_of(task, valid, f'tasks[{i}]')
        _check(len(set(self.tasks)) == len(self.tasks), 'tasks', 'must not repeat a task')
        _one_of(self.keyframe_method, ('arm', 'hysteresis'), 'keyframe_method')
        _one_of(self.distractor_kind, ('random', 'hard', 'mixed'), 'distractor_kind')
        _check(self.stopping_delta > 0, 'stopping_delta',
               f'must be > 0, got {self.stopping_delta}')
        _check(0 <= self.still_delta <= self.stopping_delta, 'still_delta',
               f'must be in [0, stopping_delta], got {self.still_delta}')
        _check(self.frame_interval >= 1, 'frame_interval',
               f'must be >= 1, got {self.frame_interval}')
        _check(self.max_frames_per_segment >= 0, 'max_frames_per_segment',
               f'must be >= 0, got {self.max_frames_per_segment}')
        _check(0.0 < self.min_separation_m < 0.5, 'min_separation_m',
               f'must be in (0, 0.5), got {self.min_separation_m}')
        _check(0.0 <= self.movement_dead_band_m < 0.5, 'movement_dead_band_m',
               f'must be in [0, 0.5), got {self.movement_dead_band_m}')
        _check(0.0 < self.movement_slight_ratio < 1.0, 'movement_slight_ratio',
               f'must be in (0, 1), got {self.movement_slight_ratio}')

    @property
    def task_kinds(self) -> tuple[TaskKind, ...]:
        """``tasks`` as :class:`TaskKind` members."""
        return tuple(TaskKind(t) for t in self.tasks)


@dataclass(frozen=True)
class TrainingConfig(_Config):
    """GRPO (and SFT warm-up) settings; field names follow TRL's ``GRPOConfig`` where shared.

    Attributes:
        reward_funcs: Names from ``core.rewards.REWARDS``.
        reward_weights: One weight per reward (empty = all 1.0).
        learning_rate: Optimiser learning rate (paper: 1e-6 for the 7B model).
        num_generations: Completions per prompt (paper: 5).
        per_device_train_batch_size: Completions per device step (multiple of
            ``num_generations``).
        max_completion_length: Token limit of a completion.
        temperature: Sampling temperature of rollouts (paper: 1.0).
        beta: KL coefficient (0 disables the reference model).
        num_train_epochs: Passes over the dataset.
        max_steps: Stop after this many steps (-1 = use epochs).
        seed: Training seed.
        output_dir: Where checkpoints and logs go (relative paths are relative to the CWD).
        qa: Dataset construction settings.
    """

    reward_funcs: tuple[str, ...] = ('format', 'choice_accuracy', 'position', 'gripper')
    reward_weights: tuple[float, ...] = ()
    learning_rate: float = 1e-6
    num_generations: int = 5
    per_device_train_batch_size: int = 5
    max_completion_length: int = 256
    temperature: float = 1.0
    beta: float = 0.0
    num_train_epochs: float = 5.0
    max_steps: int = -1
    seed: int = 0
    output_dir: str = 'runs/grpo'
    qa: QAConfig = field(default_factory=QAConfig)

    def _validate(self) -> None:
        from robot_r1_ros.core.rewards import get_reward_funcs
        try:
            get_reward_funcs(self.reward_funcs)
        except ConfigError as exc:
            raise _fail('reward_funcs', str(exc)) from None
        _check(not self.reward_weights or len(self.reward_weights) == len(self.reward_funcs),
               'reward_weights', f'needs {len(self.reward_funcs)} values (one per reward) or '
               f'none, got {len(self.reward_weights)}')
        _check(0 < self.learning_rate < 1, 'learning_rate',
               f'must be in (0, 1), got {self.learning_rate}')
        _check(self.num_generations >= 2, 'num_generations',
               f'GRPO needs >= 2 completions per prompt, got {self.num_generations}')
        _check(self.per_device_train_batch_size >= 1
               and self.per_device_train_batch_size % self.num_generations == 0,
               'per_device_train_batch_size',
               f'must be a positive multiple of num_generations ({self.num_generations}), got '
               f'{self.per_device_train_batch_size}')
        _check(self.max_completion_length >= 8, 'max_completion_length',
               f'must be >= 8, got {self.max_completion_length}')
        _check(0 < self.temperature <= 10, 'temperature',
               f'must be in (0, 10], got {self.temperature}')
        _check(self.beta >= 0, 'beta', f'must be >= 0, got {self.beta}')
        _check(self.num_train_epochs > 0, 'num_train_epochs',
               f'must be > 0, got {self.num_train_epochs}')
        _check(self.max_steps == -1 or self.max_steps >= 1, 'max_steps',
               f'must be -1 or >= 1, got {self.max_steps}')
        _check(bool(self.output_dir.strip()), 'output_dir', 'must not be empty')


def task_kind_or_config_error(value: str, path: str = 'task_kind') -> TaskKind:
    """``TaskKind`` from a config string, raising :class:`ConfigError` naming ``path``."""
    try:
        return TaskKind.parse(value)
    except BadInputError as exc:
        raise _fail(path, str(exc)) from None
