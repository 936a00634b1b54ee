"""Validated, frozen configuration: the one home of every settings dataclass of the package.

Every config is a frozen dataclass validated in ``__post_init__``; a bad value raises
:class:`ConfigError` whose message and ``field`` attribute name the field with its dotted path
(``'workspace.min_xyz_base_m'``). Values are coerced the way ROS parameters and YAML deliver
them: lists become tuples, ints become floats; bools are never taken for numbers.

``Config.from_dict(data)`` accepts nested dicts, dotted keys (``{'generation.top_k': 5}``, as ROS
parameter groups are named) or a mix; unknown keys are rejected with the valid names.
``Config.to_dict()`` gives the flat dotted form (e.g. to declare ROS parameters).

Configs (the nodes, training and evaluation all import them from here):

- :class:`WorkspaceConfig`: the allowed target box and the env frame (reference point, axes);
  :data:`DEFAULT_WORKSPACE` is the Franka scene's, the default of both nodes' ``workspace.*`` /
  ``env_frame.*`` parameters (``config/franka.yaml`` repeats it).
- :class:`ReasonerConfig` (model loading: id, dtype, device, attention, 4-bit, image pixels) with
  its default :class:`GenerationOptions` (decoding): what ``model.load_reasoner`` takes; the
  reasoning node reads its ``model.*`` / ``generation.*`` parameters into them.
- :class:`QAConfig`: keyframes, observation sampling, distractors (and the box random
  distractors are drawn from, ``distractor_*_xyz_base_m``).
- :class:`TrainingConfig`: GRPO/SFT settings and the QA settings.

The executor's settings are the motion layer's own frozen configs (``motion.validation``,
``motion.executor``, ``motion.direct``, ``motion.moveit_backend``), composed by
``ros.executor_params``; its workspace box is a :class:`WorkspaceConfig` too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from robot_r1_ros.core.config_base import (_check, _coerce, _Config,  # noqa: F401  (API)
                                           _fail, _from_dict, _one_of)
from robot_r1_ros.core.errors import BadInputError, ConfigError
from robot_r1_ros.core.types import PAPER_TASKS, TaskKind

DEFAULT_MODEL_ID = 'models/tiny-qwen2.5-vl'
"""Default model: the tiny checkpoint built by ``python -m robot_r1_ros.model.build_tiny``
(relative paths are tried against the working directory, then the repository root)."""

BACKENDS = ('transformers', 'remote')
"""Where the model runs: in this process, or behind an OpenAI-compatible server."""
_DTYPES = ('auto', 'float32', 'bfloat16', 'float16')
_ATTENTION = ('auto', 'sdpa', 'eager', 'flash_attention_2')
_MIN_IMAGE_PIXELS = 28 * 28  # one 28x28 patch group of Qwen2-VL


XYZ3 = tuple[float, float, float]

DEFAULT_WORKSPACE_MIN_XYZ_BASE_M: XYZ3 = (0.15, -0.5, 0.0)
"""Lower corner of the Franka scene's allowed target box, base frame (both nodes' default)."""
DEFAULT_WORKSPACE_MAX_XYZ_BASE_M: XYZ3 = (0.8, 0.5, 0.7)
"""Upper corner of the Franka scene's allowed target box, base frame."""
DEFAULT_DISTRACTOR_MIN_XYZ_BASE_M: XYZ3 = (0.2, -0.45, 0.0)
"""Lower corner of the box random QA distractors are drawn from (the paper's "valid state
space"): a sub-box of the workspace above the table, so wrong options look plausible."""
DEFAULT_DISTRACTOR_MAX_XYZ_BASE_M: XYZ3 = (0.8, 0.45, 0.6)
"""Upper corner of the random-distractor box."""


def _check_box(lo: XYZ3, hi: XYZ3, path: str) -> None:
    for axis, a, b in zip('xyz', lo, hi):
        _check(a < b, path, f'{axis} minimum {a} must be below the maximum {b}')


@dataclass(frozen=True)
class WorkspaceConfig(_Config):
    """Where targets may go, and the env frame the prompt talks in.

    The defaults are the Franka scene's (:data:`DEFAULT_WORKSPACE`): the reasoning node's
    ``workspace.*`` / ``env_frame.*`` parameters and the executor node's ``workspace.*``.

    Attributes:
        min_xyz_base_m: Lower corner of the allowed TCP box, base frame.
        max_xyz_base_m: Upper corner.
        reference_xyz_base_m: Env-frame origin (the table centre) in the base frame.
        env_axes: Env x, y, z as signed base axes (see ``EnvFrame.from_axes``).
        reference_text: The origin in words, for the prompt.
    """

    min_xyz_base_m: XYZ3 = DEFAULT_WORKSPACE_MIN_XYZ_BASE_M
    max_xyz_base_m: XYZ3 = DEFAULT_WORKSPACE_MAX_XYZ_BASE_M
    reference_xyz_base_m: XYZ3 = (0.35, 0.0, 0.0)
    env_axes: tuple[str, str, str] = ('+x', '+y', '+z')
    reference_text: str = 'the center of the table surface'

    def _validate(self) -> None:
        _check_box(self.min_xyz_base_m, self.max_xyz_base_m, 'min_xyz_base_m')
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


DEFAULT_WORKSPACE = WorkspaceConfig()
"""The Franka scene's workspace and env frame (the nodes' defaults; ``config/franka.yaml``)."""


def _check_pixels(min_pixels: int | None, max_pixels: int | None) -> None:
    for name, value in (('min_pixels', min_pixels), ('max_pixels', max_pixels)):
        _check(value is None or value >= _MIN_IMAGE_PIXELS, name,
               f'must be None or an integer >= {_MIN_IMAGE_PIXELS} (one 28x28 patch group), '
               f'got {value!r}')
    _check(min_pixels is None or max_pixels is None or min_pixels <= max_pixels, 'min_pixels',
           f'must be <= max_pixels ({max_pixels}), got {min_pixels}')


@dataclass(frozen=True)
class GenerationOptions(_Config):
    """How to generate one completion (errors name ``generation.<field>``).

    Attributes:
        max_new_tokens: Hard cap on generated tokens (reasoning + answer + end token).
        think_budget_tokens: Constrained decoding: reasoning tokens (counted after the token
            that completes ``<think>``) after which ``</think><answer>`` is forced. Shrunk when
            ``max_new_tokens`` could not hold the reasoning plus the longest answer.
        constrained: Enforce ``<think>..</think><answer>ANSWER</answer>`` with ANSWER from
            ``core.parsing.answer_regex(kind)``, so every completion parses.
        do_sample: Sample (True) or greedy (False).
        temperature: Sampling temperature (> 0; used when sampling).
        top_p: Nucleus sampling mass in (0, 1].
        top_k: Top-k sampling (0 = off).
        repetition_penalty: 1.0 = off (the checkpoint's own default is not used).
        seed: Seed for sampling (``torch.manual_seed`` before the call); None = unseeded.
        min_pixels: Per-call lower bound of the resized image area; None = reasoner default.
        max_pixels: Per-call upper bound of the resized image area; None = reasoner default.
        max_time_s: Wall-clock cap on generation (the output is then truncated); None = none.
        answer_regex: Override of the ANSWER grammar (a ``re`` pattern); None = the task's.
        think_budget_chars: Constrained decoding: also bound the reasoning to this many
            characters (UTF-8 bytes, counted conservatively), as a regex ``[^<]{0,N}`` does;
            None = tokens only.
    """

    _FIELD_PREFIX: ClassVar[str] = 'generation.'

    max_new_tokens: int = 256
    think_budget_tokens: int = 160
    constrained: bool = True
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    min_pixels: int | None = None
    max_pixels: int | None = None
    max_time_s: float | None = None
    answer_regex: str | None = None
    think_budget_chars: int | None = None

    def _validate(self) -> None:
        _check(self.think_budget_chars is None or self.think_budget_chars >= 0,
               'think_budget_chars', f'must be None or >= 0, got {self.think_budget_chars}')
        _check(self.max_new_tokens >= 1, 'max_new_tokens',
               f'must be an integer >= 1, got {self.max_new_tokens}')
        _check(self.think_budget_tokens >= 0, 'think_budget_tokens',
               f'must be an integer >= 0, got {self.think_budget_tokens}')
        _check(self.temperature > 0, 'temperature', f'must be > 0, got {self.temperature}')
        _check(0.0 < self.top_p <= 1.0, 'top_p', f'must be in (0, 1], got {self.top_p}')
        _check(self.top_k >= 0, 'top_k', f'must be an integer >= 0, got {self.top_k}')
        _check(self.repetition_penalty > 0, 'repetition_penalty',
               f'must be > 0, got {self.repetition_penalty}')
        _check_pixels(self.min_pixels, self.max_pixels)
        _check(self.max_time_s is None or self.max_time_s > 0, 'max_time_s',
               f'must be None or > 0, got {self.max_time_s}')

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | 'GenerationOptions' | None
                     ) -> 'GenerationOptions':
        """Options from a mapping of field names (unknown names raise ``ConfigError``); an
        instance is returned as is, None gives the defaults."""
        if values is None:
            return cls()
        if isinstance(values, GenerationOptions):
            return values
        return cls.from_dict(values)


@dataclass(frozen=True)
class ReasonerConfig(_Config):
    """Everything ``model.load_reasoner`` needs: which model, how it is loaded, how it decodes.

    Attributes:
        model_id: ``scripted:<mode>[?...]``, a local checkpoint folder, or a hub id
            (e.g. ``Qwen/Qwen2.5-VL-7B-Instruct``; only if already cached or downloads allowed).
        dtype: ``'auto'`` (bf16 on CUDA where supported, else fp16 on CUDA, fp32 on CPU),
            ``'float32'``, ``'bfloat16'`` or ``'float16'``.
        device: ``'auto'`` (CUDA when available), ``'cpu'``, ``'cuda'``, ``'cuda:N'``, ``'mps'``.
        device_map: Passed to ``from_pretrained`` (e.g. ``'auto'`` to spread over GPUs);
            None places the whole model on ``device``.
        attn_implementation: ``'auto'`` (flash_attention_2 when installed and on CUDA, else
            sdpa), ``'sdpa'``, ``'eager'`` or ``'flash_attention_2'``.
        load_in_4bit: NF4 4-bit weights via bitsandbytes (CUDA).
        min_pixels: Lower bound of the resized image area (None = checkpoint default).
        max_pixels: Upper bound of the resized image area (None = checkpoint default; the main
            prefill-cost knob: 640x480 gives 391 image tokens at the default).
        local_files_only: Never contact the hub (HF_HUB_OFFLINE=1 has the same effect).
        revision: Hub revision (None = default branch).
        num_threads: torch CPU threads (None = leave as is).
        generation: Default :class:`GenerationOptions`.
        backend: ``'transformers'`` (the model in this process) or ``'remote'`` (an
            OpenAI-compatible server, ``remote``; ``model_id`` is then the served name).
        remote: The server settings (:class:`~robot_r1_ros.core.remote_config.RemoteConfig`).
    """

    model_id: str = DEFAULT_MODEL_ID
    dtype: str = 'auto'
    device: str = 'auto'
    device_map: str | None = None
    attn_implementation: str = 'auto'
    load_in_4bit: bool = False
    min_pixels: int | None = None
    max_pixels: int | None = None
    local_files_only: bool = False
    revision: str | None = None
    num_threads: int | None = None
    generation: GenerationOptions = field(default_factory=GenerationOptions)
    backend: str = 'transformers'
    remote: RemoteConfig = field(default_factory=lambda: RemoteConfig())

    def _validate(self) -> None:
        _one_of(self.backend, BACKENDS, 'backend')
        _check(bool(self.model_id.strip()), 'model_id',
               f'must be a non-empty string, got {self.model_id!r}')
        _one_of(self.dtype, _DTYPES, 'dtype')
        _one_of(self.attn_implementation, _ATTENTION, 'attn_implementation')
        dev = self.device
        _check(dev in ('auto', 'cpu', 'cuda', 'mps') or (
            dev.startswith('cuda:') and dev[5:].isdigit()), 'device',
            f"must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {dev!r}")
        _check_pixels(self.min_pixels, self.max_pixels)
        _check(self.num_threads is None or self.num_threads >= 1, 'num_threads',
               f'must be None or >= 1, got {self.num_threads!r}')

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> 'ReasonerConfig':
        """Config from a mapping (e.g. ROS parameters); ``generation`` may be a nested mapping,
        a :class:`GenerationOptions` (then ``generation.<field>`` keys override its fields) or
        flat ``generation.<field>`` / ``generation_<field>`` keys.

        Raises:
            ConfigError: Unknown keys or bad values (naming them).
        """
        if not isinstance(values, Mapping):
            raise _fail('ReasonerConfig', f'expected a mapping, got {values!r}')
        flat: dict[str, Any] = {}
        for key, value in values.items():
            key = str(key)
            if key.startswith('generation_'):
                key = 'generation.' + key[len('generation_'):]
            flat[key] = value
        base = flat.get('generation')
        if isinstance(base, GenerationOptions):
            overrides = {k: flat.pop(k) for k in list(flat) if k.startswith('generation.')}
            if overrides:
                flat['generation'] = GenerationOptions.from_dict(
                    {**base.to_dict(), **{k.split('.', 1)[1]: v for k, v in overrides.items()}})
        return cls.from_dict(flat)


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
        distractor_kind: ``'random'`` (uniform in the distractor box, the paper's), ``'hard'``
            (same phase of other episodes) or ``'mixed'`` (each question picks one at random).
        distractor_min_xyz_base_m: Lower corner of the box random distractors are drawn from
            (base frame; the paper's "valid state space", a sub-box of the workspace).
        distractor_max_xyz_base_m: Upper corner of that box.
        min_separation_m: No two options closer than this (Euclidean, metres).
        movement_dead_band_m: Movement axes below this are ignored.
        movement_slight_ratio: "slightly" when an axis moves at most this share of the largest.
        drop_static: Skip observations whose movement to the target is within the dead band.
        seed: Seed of all random choices.
    """

    tasks: tuple[str, ...] = tuple(k.value for k in PAPER_TASKS)
    keyframe_method: str = 'arm'
    stopping_delta: float = 0.1
    still_delta: float = 0.02
    frame_interval: int = 10
    include_segment_start: bool = True
    max_frames_per_segment: int = 0
    distractor_kind: str = 'random'
    distractor_min_xyz_base_m: XYZ3 = DEFAULT_DISTRACTOR_MIN_XYZ_BASE_M
    distractor_max_xyz_base_m: XYZ3 = DEFAULT_DISTRACTOR_MAX_XYZ_BASE_M
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
        _check_box(self.distractor_min_xyz_base_m, self.distractor_max_xyz_base_m,
                   'distractor_min_xyz_base_m')
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

    def distractor_space(self) -> Any:
        """The ``core.geometry.Workspace`` box random distractors are drawn from."""
        from robot_r1_ros.core.geometry import Workspace
        return Workspace(self.distractor_min_xyz_base_m, self.distractor_max_xyz_base_m)


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


# Defined beside _Config, which it builds on (imported last: that module imports this one).
from robot_r1_ros.core.remote_config import RemoteConfig  # noqa: E402
