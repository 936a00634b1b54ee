"""The curriculum's config: ``config/train/learn_*.yaml`` and ``experiments/configs/*.yaml``.

Parsed into :class:`LearnConfig` by :func:`load_config` (a path, or a name found under
``config/train`` or ``experiments/configs``); every key is type-checked and range-checked, so a
typo fails before hours of training, not after. The keys are described in
``training.curriculum``'s docstring.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.paths import REPO_ROOT
from robot_r1_ros.training.bind_aux import BindAuxConfig
from robot_r1_ros.training.grid_aux import GridAuxConfig
from robot_r1_ros.training.aim_compare import AIM_COMPARE, AIM_COMPARE_THINKS
from robot_r1_ros.training.aim_follow import AIM_FOLLOW
from robot_r1_ros.training.think_targets import PAIR_KINDS, THINK_KINDS


@dataclass
class Stage:
    """One curriculum stage.

    Attributes:
        tasks: Task kinds of the rows trained on.
        distractors: Distractor kinds kept for position tasks (``random``, ``hard``).
        cpu_minutes: CPU-time budget of the stage (all workers together); 0 where ``steps``
            is set.
        steps: If > 0, the stage takes exactly this many optimiser steps instead of a CPU
            budget (a stage sets one of ``steps`` and ``cpu_minutes``). Why: a CPU budget buys
            a different number of steps on a slower day; E96 (issue 13) took 4,963 steps where
            E95, the same link on the same machine hours before, took 8,066.
        learning_rate: Peak learning rate (linear warm-up, then cosine to 10 %).
        weights: Task -> sampling weight (a batch row picks a task by weight, then a row of
            it); empty: rows are drawn uniformly from all the stage's rows. A key
            ``task/kind`` (``next_waypoint/hard``) weighs one distractor kind of a position
            task on its own; a bare ``task`` draws from all the stage's kinds by row count.
            Why: E118 (issue 13) needed hard questions' share raised without losing the
            random ones, and the row counts fix the two kinds' mix.
    """

    tasks: tuple[str, ...]
    distractors: tuple[str, ...] = ('random',)
    cpu_minutes: float = 3.0
    learning_rate: float = 2e-3
    weights: dict[str, float] = field(default_factory=dict)
    steps: int = 0


@dataclass(frozen=True)
class VisionAuxConfig:
    """The auxiliary object-position loss on the vision tower (``training.vision_aux``).

    Attributes:
        frames: A vision stage's ``frames.npz`` (rendered scenes and object positions).
        heads: That stage's ``heads.pt`` to start the readouts from ('' = fresh heads).
        weight: Multiplies the position loss before it is added to the language loss.
        batch_size: Frames per step.
    """

    frames: str
    heads: str = ''
    weight: float = 1.0
    batch_size: int = 16

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise ValueError(f'vision_aux.weight must be > 0, got {self.weight}')
        if self.batch_size < 1:
            raise ValueError(f'vision_aux.batch_size must be >= 1, got {self.batch_size}')


@dataclass
class LearnConfig:
    """A curriculum-SFT config (see the module docstring)."""

    name: str
    model_path: str
    dataset: str
    stages: list[Stage]
    think: str = 'compare'
    text_dims: dict[str, Any] = field(default_factory=dict)
    vision_dims: dict[str, Any] = field(default_factory=dict)
    image_pixels: int = 12544
    batch_size: int = 16
    warmup_steps: int = 30
    weight_decay: float = 0.01
    eval_every_cpu_s: float = 60.0
    eval_rows_per_group: int = 24
    seed: int = 0
    checkpoint_every_cpu_s: float = 300.0
    digit_loss_weight: float = 0.0  # training.number_loss on the digits, added to the CE
    sign_loss_weight: float = 0.0  # training.number_loss on each number's sign, added
    word_loss_weight: float = 0.0  # cross-entropy at the reasoning's object words, added
    gripper_word_loss_weight: float = 0.0  # the same at the gripper words (open / closed)
    verdict_loss_weight: float = 0.0  # the same at the verdicts (yes / no)
    letter_loss_weight: float = 0.0  # the same at the option letters (A-D) of a completion
    vision_from: str = ''  # a checkpoint whose vision tower (with merger) replaces the model's
    freeze_vision: bool = False  # the tower and merger take no gradient steps
    vision_aux: VisionAuxConfig | None = None  # keeps the tower's object map (vision_aux)
    compact_prompt: float = 0.0  # share of batches without the prompt's constant lines
    length_groups: int = 1  # batches drawn at once and regrouped by length (encoded.LengthGroups)
    grid_aux: GridAuxConfig | None = None  # image tokens' own place (training.grid_aux)
    bind_aux: BindAuxConfig | None = None  # object words' object place (training.bind_aux)
    # A run's ``aux_heads.pt``: the heads it holds start from it (a chain's later links), so
    # a continuation does not restart readouts its tower and language model were trained with.
    aux_heads_from: str = ''

    @property
    def has_aux_heads(self) -> bool:
        """Whether the run trains any auxiliary head (vision_aux, grid_aux, bind_aux)."""
        return bool(self.vision_aux or self.grid_aux or self.bind_aux)


def _strict_bool(value: Any) -> bool:
    """YAML's true/false only: ``bool('false')`` is True, so a quoted string must fail."""
    if not isinstance(value, bool):
        raise ValueError(f'expected true or false, got {value!r}')
    return value


# ``train:`` keys and their types (YAML reads ``1e9`` as a string: convert, or fail clearly).
_TRAIN_KEYS: dict[str, Any] = {
    'batch_size': int, 'warmup_steps': int, 'weight_decay': float, 'eval_every_cpu_s': float,
    'eval_rows_per_group': int, 'seed': int, 'checkpoint_every_cpu_s': float,
    'digit_loss_weight': float, 'sign_loss_weight': float, 'word_loss_weight': float,
    'gripper_word_loss_weight': float, 'verdict_loss_weight': float,
    'letter_loss_weight': float, 'freeze_vision': _strict_bool,
    'compact_prompt': float, 'length_groups': int}


def _stage_steps(raw: dict[str, Any]) -> int:
    """A stage's ``steps:`` (absent: 0, run by ``cpu_minutes``); a whole number >= 1 else."""
    if 'steps' not in raw:
        return 0
    if 'cpu_minutes' in raw:
        raise ValueError('a stage sets steps or cpu_minutes, not both')
    steps = raw['steps']
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f'a stage\'s steps must be a whole number >= 1, got {steps!r}')
    return steps


def _vision_aux(raw: Any) -> VisionAuxConfig | None:
    """``vision_aux:`` (absent or empty: none); unknown keys fail."""
    if not raw:
        return None
    if not isinstance(raw, dict) or 'frames' not in raw:
        raise ValueError(f'vision_aux needs a mapping with frames:, got {raw!r}')
    extra = set(raw) - {'frames', 'heads', 'weight', 'batch_size'}
    if extra:
        raise ValueError(f'vision_aux: unknown keys {sorted(extra)}')
    return VisionAuxConfig(frames=str(raw['frames']), heads=str(raw.get('heads') or ''),
                           weight=float(raw.get('weight', 1.0)),
                           batch_size=int(raw.get('batch_size', 16)))


def _layer_aux(raw: Any, key: str, kind: Any, default_layer: int) -> Any:
    """``grid_aux:`` / ``bind_aux:`` (absent or empty: none); unknown keys fail."""
    if not raw:
        return None
    if not isinstance(raw, dict) or set(raw) - {'layer', 'weight'}:
        raise ValueError(f'{key} takes layer: and weight:, got {raw!r}')
    return kind(layer=int(raw.get('layer', default_layer)), weight=float(raw.get('weight', 1.0)))


def weight_key(key: str) -> tuple[str, str]:
    """A stage weight's key as ``(task, distractor kind)``; the kind is '' for a bare task."""
    task, _, kind = key.partition('/')
    return task, kind


def load_config(path: str | os.PathLike) -> LearnConfig:
    """Parse a ``learn_*.yaml``.

    Raises:
        ConfigError: Missing keys or bad values.
    """
    path = Path(path)
    if not path.is_file():
        root = REPO_ROOT
        found = [d / f'{path}.yaml' for d in (root / 'config' / 'train',
                                              root / 'experiments' / 'configs')
                 if (d / f'{path}.yaml').is_file()]
        if not found:
            raise ConfigError(f'no learn config {path} (a path, or a name under config/train '
                              'or experiments/configs)', 'config')
        path = found[0]
    raw = yaml.safe_load(path.read_text(encoding='utf-8')) or {}
    try:
        stages = [Stage(tasks=tuple(s['tasks']),
                        distractors=tuple(s.get('distractors', ('random',))),
                        cpu_minutes=float(s.get('cpu_minutes', 0.0 if 'steps' in s else 3.0)),
                        learning_rate=float(s.get('learning_rate', 2e-3)),
                        weights={str(k): float(v) for k, v in (s.get('weights') or {}).items()},
                        steps=_stage_steps(s))
                  for s in raw['stages']]
        model = raw['model']
        cfg = LearnConfig(
            name=str(raw['name']), model_path=str(model['path']),
            dataset=str(raw['data']['path']), stages=stages,
            think=str(raw.get('think', 'compare')),
            text_dims=dict(model.get('text_dims') or {}),
            vision_dims=dict(model.get('vision_dims') or {}),
            image_pixels=int(model.get('image_pixels', 12544)),
            vision_from=str(model.get('vision_from') or ''),
            aux_heads_from=str(model.get('aux_heads_from') or ''),
            vision_aux=_vision_aux(raw.get('vision_aux')),
            grid_aux=_layer_aux(raw.get('grid_aux'), 'grid_aux', GridAuxConfig, 0),
            bind_aux=_layer_aux(raw.get('bind_aux'), 'bind_aux', BindAuxConfig, 1),
            **{k: _TRAIN_KEYS[k](v) for k, v in (raw.get('train') or {}).items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f'{path}: bad learn config ({exc!r})', 'learn') from exc
    for key in ('batch_size', 'eval_rows_per_group', 'image_pixels', 'length_groups'):
        if getattr(cfg, key) < 1:
            raise ConfigError(f'{path}: {key} must be >= 1, got {getattr(cfg, key)}', key)
    for key in ('warmup_steps', 'weight_decay', 'eval_every_cpu_s', 'checkpoint_every_cpu_s',
                'digit_loss_weight', 'sign_loss_weight', 'word_loss_weight',
                'gripper_word_loss_weight', 'verdict_loss_weight', 'letter_loss_weight'):
        if not getattr(cfg, key) >= 0:
            raise ConfigError(f'{path}: {key} must be >= 0, got {getattr(cfg, key)}', key)
    if any(not ((st.steps or st.cpu_minutes > 0) and st.learning_rate > 0) for st in stages):
        raise ConfigError(f'{path}: every stage needs cpu_minutes > 0 (or steps) and '
                          'learning_rate > 0',
                          'stages')
    if not 0.0 <= cfg.compact_prompt <= 1.0:
        raise ConfigError(f'{path}: compact_prompt is a share of batches in [0, 1], got '
                          f'{cfg.compact_prompt}', 'compact_prompt')
    if cfg.freeze_vision and cfg.vision_aux:
        raise ConfigError('vision_aux trains the tower, freeze_vision forbids it: pick one',
                          'vision_aux')
    if cfg.aux_heads_from and not cfg.has_aux_heads:
        raise ConfigError(f'{path}: model.aux_heads_from needs a head to start '
                          '(vision_aux, grid_aux or bind_aux)', 'model.aux_heads_from')
    if cfg.think not in THINK_KINDS:
        raise ConfigError(f'think must be one of {THINK_KINDS}, got {cfg.think!r}', 'think')
    if not stages:
        raise ConfigError('at least one stage is needed', 'stages')
    for i, stage in enumerate(stages):
        keys = {key: weight_key(key) for key in stage.weights}
        extra = {key for key, (task, kind) in keys.items() if task not in stage.tasks
                 or kind not in (stage.distractors if '/' in key else ('',))}
        if extra or any(not (w >= 0.0) for w in stage.weights.values()) or (
                stage.weights and sum(stage.weights.values()) <= 0.0):
            raise ConfigError(f'stage {i}: weights must be >= 0 for the stage\'s own tasks '
                              f'{stage.tasks} (or task/kind of its distractors '
                              f'{stage.distractors}), got {stage.weights}', 'stages')
        if AIM_FOLLOW in stage.tasks and cfg.think not in PAIR_KINDS:
            raise ConfigError(f'stage {i}: the {AIM_FOLLOW} task follows the aim_pair '
                              f'verdicts (think {PAIR_KINDS}); think is {cfg.think!r}', 'stages')
        if AIM_COMPARE in stage.tasks and cfg.think not in AIM_COMPARE_THINKS:
            raise ConfigError(f'stage {i}: the {AIM_COMPARE} task teaches the aim_pair '
                              f'verdicts or the aim_key match (think {AIM_COMPARE_THINKS}); '
                              f'think is {cfg.think!r}', 'stages')
    return cfg
