"""Training recipes: one YAML file describes a whole run (model, data, rewards, LoRA, SFT, GRPO).

A recipe has these top-level keys (``config/train/*.yaml`` are complete, commented examples)::

    name: tiny-cpu                 # free text, copied into run_info.json and the model card
    seed: 0                        # seeds torch / numpy / random and TRL's data order
    model:
      path: models/tiny-qwen2.5-vl # folder (or hub id on a machine with a hub) to start from
      dtype: float32               # float32 | bfloat16 | float16 | auto
      attn_implementation: sdpa    # optional (sdpa | eager | flash_attention_2)
      image_min_pixels: 50176      # optional processor bounds (area); baked into the output
      image_max_pixels: 50176
    data:
      path: outputs/dataset        # `robot-r1 dataset` output folder (save_to_disk layout)
      train_split: train
      eval_split: validation
      tasks: [next_waypoint, current_state, movement]   # empty or absent: every task
      distractor_kind: random      # random | hard | any: which multiple-choice variant trains
      max_train_samples: null      # optional cap (after filtering), for smoke runs
      sft_think: template          # SFT reasoning: template (core.qa) | empty
      max_eval_samples: 32         # validation rows for in-training eval (grpo.eval_strategy)
    rewards:                       # names from core.rewards.REWARDS, with weights
      - {name: format, weight: 1.0}
      - {name: accuracy, weight: 1.0}
    lora: null                     # or {r: 8, alpha: 16, dropout: 0.0, target_modules: all-linear}
    sft: {...}                     # keyword arguments of trl.SFTConfig (warm-up), or null
    grpo: {...}                    # keyword arguments of trl.GRPOConfig
    pipeline: {...}                # optional: demos, dataset and evaluation of the one-command
                                   # run (training.pipeline; see PipelineSpec)

``sft`` and ``grpo`` are passed to TRL's config classes after validation, so every TRL option
(vLLM generation, DeepSpeed, gradient checkpointing, ...) is available by its TRL name. The keys
that the pipeline owns (``output_dir``, ``seed``, ``reward_weights``) may not appear there.
Relative paths are resolved against the current working directory at load time.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.paths import REPO_ROOT

_LOG = logging.getLogger(__name__)

RECIPE_DIR = REPO_ROOT / 'config' / 'train'
"""Folder of the shipped recipes; ``--recipe tiny_cpu`` means ``config/train/tiny_cpu.yaml``."""
EXPERIMENTS_DIR = REPO_ROOT / 'experiments' / 'configs'
"""Experiment configs (not the product's recipe): found by name too."""

DTYPES = ('float32', 'bfloat16', 'float16', 'auto')
DISTRACTOR_KINDS = ('random', 'hard', 'any')
SFT_THINK = ('template', 'empty')
# Keys of the TRL config sections that the pipeline sets itself.
_OWNED_KEYS = ('output_dir', 'seed', 'reward_weights')
_TOP_KEYS = ('name', 'seed', 'model', 'data', 'rewards', 'lora', 'sft', 'grpo', 'notes',
             'pipeline')


@dataclass(frozen=True)
class ModelSpec:
    """Where the model comes from and how it is loaded.

    Attributes:
        path: Checkpoint folder (or hub id where a hub is reachable).
        dtype: Weight dtype name (``float32``, ``bfloat16``, ``float16`` or ``auto``).
        attn_implementation: Attention kernel name, or None for the transformers default.
        image_min_pixels: Lower bound of the resized image area, or None (checkpoint's).
        image_max_pixels: Upper bound of the resized image area, or None (checkpoint's).
    """

    path: str
    dtype: str = 'float32'
    attn_implementation: str | None = None
    image_min_pixels: int | None = None
    image_max_pixels: int | None = None


@dataclass(frozen=True)
class DataSpec:
    """Which dataset and which rows train.

    Attributes:
        path: Folder written by ``robot-r1 dataset`` (a ``DatasetDict`` saved to disk).
        train_split: Split used for training.
        eval_split: Split used for evaluation during / after training.
        tasks: Task kinds kept (values of ``core.types.TaskKind``); empty keeps all.
        distractor_kind: ``random`` / ``hard`` keep multiple-choice rows of that variant (open
            rows have none and are always kept); ``any`` keeps every row.
        max_train_samples: Optional cap on training rows after filtering.
        max_eval_samples: Rows of ``eval_split`` used by in-training evaluation (when the
            ``grpo`` section sets ``eval_strategy``); a seeded subset.
        sft_think: Reasoning of the SFT targets: ``template`` (the dataset's ``gold_think``,
            ``core.qa.template_reasoning``) or ``empty`` (``<think></think>``: shortest
            completions, format only).
    """

    path: str
    train_split: str = 'train'
    eval_split: str = 'validation'
    tasks: tuple[str, ...] = ()
    distractor_kind: str = 'random'
    max_train_samples: int | None = None
    sft_think: str = 'template'
    max_eval_samples: int = 32


@dataclass(frozen=True)
class RewardSpec:
    """One reward function of ``core.rewards.REWARDS`` and its weight in the sum."""

    name: str
    weight: float = 1.0


@dataclass(frozen=True)
class LoraSpec:
    """LoRA adapter settings (``peft.LoraConfig``)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | tuple[str, ...] = 'all-linear'


@dataclass(frozen=True)
class PipelineSpec:
    """What ``python -m robot_r1_ros.training.pipeline`` does around SFT and GRPO.

    Attributes:
        task: Sim task whose expert demos are recorded.
        episodes: Demos recorded (seeds ``seed_offset`` ..).
        seed_offset: First demo seed.
        frame_interval: Camera frames between observations (``robot-r1 dataset``).
        val_frac: Share of episodes held out for validation.
        test_frac: Share of episodes held out for the final test.
        eval_max_rows_per_group: Cap per (task, distractor) group in the evaluation (None: all).
        eval_max_new_tokens: Token cap of evaluation completions.
        closed_loop_episodes: Closed-loop episodes in the sim (seeds far from the demos').
        closed_loop_max_keypoints: Predictions per closed-loop episode.
    """

    task: str = 'pick_place'
    episodes: int = 60
    seed_offset: int = 0
    frame_interval: int = 5
    val_frac: float = 0.1
    test_frac: float = 0.1
    eval_max_rows_per_group: int | None = None
    eval_max_new_tokens: int = 160
    closed_loop_episodes: int = 10
    closed_loop_max_keypoints: int = 10


@dataclass(frozen=True)
class Recipe:
    """A validated training recipe (see the module docstring for the YAML layout).

    Attributes:
        name: Recipe name.
        seed: Global seed.
        model: Model source.
        data: Dataset selection.
        rewards: Reward functions and weights (GRPO).
        lora: LoRA settings, or None for full fine-tuning.
        sft: ``trl.SFTConfig`` keyword arguments, or None when the recipe has no warm-up.
        grpo: ``trl.GRPOConfig`` keyword arguments.
        source: The YAML file it was read from, if any.
        notes: Free text.
    """

    name: str
    seed: int
    model: ModelSpec
    data: DataSpec
    rewards: tuple[RewardSpec, ...]
    lora: LoraSpec | None = None
    sft: dict[str, Any] | None = None
    grpo: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    notes: str = ''
    pipeline: PipelineSpec = field(default_factory=PipelineSpec)

    @property
    def reward_names(self) -> list[str]:
        """Reward names in recipe order."""
        return [r.name for r in self.rewards]

    @property
    def reward_weights(self) -> list[float]:
        """Reward weights in recipe order."""
        return [r.weight for r in self.rewards]

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (YAML / JSON serialisable), as written into run_info.json."""
        out = dataclasses.asdict(self)
        out['rewards'] = [dataclasses.asdict(r) for r in self.rewards]
        out['pipeline'] = dataclasses.asdict(self.pipeline)
        return out

    def training_config(self) -> Any:
        """The core's ``TrainingConfig`` of this recipe (its validation rules apply).

        Fields the recipe's ``grpo`` section leaves out take TRL's ``GRPOConfig`` defaults.

        Raises:
            ConfigError: A value the core rejects (unknown reward name, batch not a multiple
                of the group size, ...); ``field`` names it.
        """
        from trl import GRPOConfig

        from robot_r1_ros.core.config import TrainingConfig
        defaults = {f.name: f.default for f in dataclasses.fields(GRPOConfig)}
        shared = ('learning_rate', 'num_generations', 'per_device_train_batch_size',
                  'max_completion_length', 'temperature', 'beta', 'num_train_epochs',
                  'max_steps')
        values = {name: self.grpo.get(name, defaults[name]) for name in shared}
        try:
            return TrainingConfig(reward_funcs=tuple(self.reward_names),
                                  reward_weights=tuple(self.reward_weights), seed=self.seed,
                                  **values)
        except ConfigError as exc:
            raise ConfigError(f'grpo: {exc}', f'grpo.{exc.field}' if exc.field else 'grpo'
                              ) from None

    def replace(self, **changes: Any) -> 'Recipe':
        """A copy with top-level fields replaced (``model=``, ``data=``, ``grpo=``...)."""
        return dataclasses.replace(self, **changes)

    def with_paths(self, model_path: str | os.PathLike | None = None,
                   data_path: str | os.PathLike | None = None) -> 'Recipe':
        """A copy whose model and/or dataset paths are replaced (CLI overrides)."""
        model = self.model if model_path is None else dataclasses.replace(
            self.model, path=str(model_path))
        data = self.data if data_path is None else dataclasses.replace(
            self.data, path=str(data_path))
        return dataclasses.replace(self, model=model, data=data)


def _section(raw: Mapping[str, Any], key: str, allowed: tuple[str, ...],
             required: tuple[str, ...] = ()) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        raise ConfigError(f'{key} must be a mapping, got {type(value).__name__}', key)
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ConfigError(f'unknown key(s) {", ".join(unknown)} in {key}; valid: '
                          f'{", ".join(allowed)}', f'{key}.{unknown[0]}')
    for name in required:
        if value.get(name) in (None, ''):
            raise ConfigError(f'{key}.{name} is required', f'{key}.{name}')
    return dict(value)


def _positive_int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f'{name} must be a positive integer or null, got {value!r}', name)
    return value


def _resolve(path: str, base: Path | None, local: bool) -> str:
    """Relative paths are taken relative to ``base`` (the working directory).

    A model path that does not exist locally is kept as written: it may be a hub id such as
    ``Qwen/Qwen2.5-VL-7B-Instruct`` (``local=False``).
    """
    p = Path(os.path.expanduser(str(path)))
    if p.is_absolute() or base is None:
        return str(p)
    if local or (base / p).exists():
        return str(base / p)
    return str(path)


def _trl_kwargs(value: Any, key: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f'{key} must be a mapping of TRL config arguments, got '
                          f'{type(value).__name__}', key)
    owned = sorted(set(value) & set(_OWNED_KEYS))
    if owned:
        raise ConfigError(f'{key}.{owned[0]} is set by the pipeline, not the recipe (seed: the '
                          'top-level seed; reward_weights: the rewards list; output_dir: the '
                          'command line)', f'{key}.{owned[0]}')
    return dict(value)


def recipe_from_dict(raw: Mapping[str, Any], base_dir: str | os.PathLike | None = None,
                     source: str | None = None) -> Recipe:
    """Validate a recipe given as plain data.

    Args:
        raw: The parsed YAML mapping.
        base_dir: Folder that relative paths are resolved against (None: leave them as is).
        source: Where it came from (for messages and run_info.json).

    Returns:
        The recipe.

    Raises:
        ConfigError: Unknown or missing keys, wrong types, bad values; ``field`` names the key.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f'a recipe must be a mapping, got {type(raw).__name__}')
    unknown = sorted(set(raw) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(f'unknown top-level key(s) {", ".join(unknown)}; valid: '
                          f'{", ".join(_TOP_KEYS)}', unknown[0])
    base = Path(base_dir) if base_dir is not None else None
    name = str(raw.get('name') or (Path(source).stem if source else 'recipe'))
    seed = raw.get('seed', 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f'seed must be a non-negative integer, got {seed!r}', 'seed')

    m = _section(raw, 'model', tuple(f.name for f in dataclasses.fields(ModelSpec)), ('path',))
    dtype = str(m.get('dtype', 'float32'))
    if dtype not in DTYPES:
        raise ConfigError(f'model.dtype must be one of {", ".join(DTYPES)}, got {dtype!r}',
                          'model.dtype')
    model = ModelSpec(
        path=_resolve(m['path'], base, local=False), dtype=dtype,
        attn_implementation=m.get('attn_implementation'),
        image_min_pixels=_positive_int_or_none(m.get('image_min_pixels'),
                                               'model.image_min_pixels'),
        image_max_pixels=_positive_int_or_none(m.get('image_max_pixels'),
                                               'model.image_max_pixels'))
    if (model.image_min_pixels and model.image_max_pixels
            and model.image_min_pixels > model.image_max_pixels):
        raise ConfigError('model.image_min_pixels must not exceed model.image_max_pixels',
                          'model.image_min_pixels')

    d = _section(raw, 'data', tuple(f.name for f in dataclasses.fields(DataSpec)), ('path',))
    tasks = d.get('tasks') or ()
    if isinstance(tasks, str) or not isinstance(tasks, (list, tuple)):
        raise ConfigError(f'data.tasks must be a list of task kinds, got {tasks!r}', 'data.tasks')
    from robot_r1_ros.core.types import TaskKind
    try:
        tasks = tuple(TaskKind.parse(t).value for t in tasks)
    except ValueError as exc:
        raise ConfigError(f'data.tasks: {exc}', 'data.tasks') from None
    kind = str(d.get('distractor_kind', 'random'))
    if kind not in DISTRACTOR_KINDS:
        raise ConfigError(f'data.distractor_kind must be one of {", ".join(DISTRACTOR_KINDS)}, '
                          f'got {kind!r}', 'data.distractor_kind')
    sft_think = str(d.get('sft_think', 'template'))
    if sft_think not in SFT_THINK:
        raise ConfigError(f'data.sft_think must be one of {", ".join(SFT_THINK)}, got '
                          f'{sft_think!r}', 'data.sft_think')
    max_eval = d.get('max_eval_samples', 32)
    if isinstance(max_eval, bool) or not isinstance(max_eval, int) or max_eval < 1:
        raise ConfigError(f'data.max_eval_samples must be a positive integer, got {max_eval!r}',
                          'data.max_eval_samples')
    data = DataSpec(path=_resolve(d['path'], base, local=True), sft_think=sft_think,
                    max_eval_samples=max_eval,
                    train_split=str(d.get('train_split', 'train')),
                    eval_split=str(d.get('eval_split', 'validation')), tasks=tasks,
                    distractor_kind=kind,
                    max_train_samples=_positive_int_or_none(d.get('max_train_samples'),
                                                            'data.max_train_samples'))

    raw_rewards = raw.get('rewards')
    if not isinstance(raw_rewards, (list, tuple)) or not raw_rewards:
        raise ConfigError('rewards must be a non-empty list of {name, weight}', 'rewards')
    rewards = []
    for i, item in enumerate(raw_rewards):
        if isinstance(item, str):
            item = {'name': item}
        if not isinstance(item, Mapping) or 'name' not in item:
            raise ConfigError(f'rewards[{i}] must be a name or {{name, weight}}, got {item!r}',
                              f'rewards[{i}]')
        extra = sorted(set(item) - {'name', 'weight'})
        if extra:
            raise ConfigError(f'rewards[{i}] has unknown key(s) {", ".join(extra)}',
                              f'rewards[{i}].{extra[0]}')
        weight = item.get('weight', 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ConfigError(f'rewards[{i}].weight must be a number, got {weight!r}',
                              f'rewards[{i}].weight')
        rewards.append(RewardSpec(str(item['name']), float(weight)))
    names = [r.name for r in rewards]
    if len(set(names)) != len(names):
        raise ConfigError(f'rewards lists a name twice: {names}', 'rewards')

    lora = None
    if raw.get('lora') is not None:
        lo = _section(raw, 'lora', tuple(f.name for f in dataclasses.fields(LoraSpec)))
        target = lo.get('target_modules', 'all-linear')
        if isinstance(target, list):
            target = tuple(str(t) for t in target)
        r = _positive_int_or_none(lo.get('r', 8), 'lora.r')
        alpha = _positive_int_or_none(lo.get('alpha', 16), 'lora.alpha')
        dropout = lo.get('dropout', 0.0)
        if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f'lora.dropout must be in [0, 1), got {dropout!r}', 'lora.dropout')
        lora = LoraSpec(r=r or 8, alpha=alpha or 16, dropout=float(dropout),
                        target_modules=target)

    grpo = _trl_kwargs(raw.get('grpo') or {}, 'grpo') or {}
    sft = _trl_kwargs(raw.get('sft'), 'sft')
    pipeline = _pipeline(raw)
    return Recipe(name=name, seed=seed, model=model, data=data, rewards=tuple(rewards),
                  lora=lora, sft=sft, grpo=grpo, source=source, notes=str(raw.get('notes') or ''),
                  pipeline=pipeline)


def _pipeline(raw: Mapping[str, Any]) -> PipelineSpec:
    p = _section(raw, 'pipeline', tuple(f.name for f in dataclasses.fields(PipelineSpec)))
    defaults = PipelineSpec()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(PipelineSpec):
        value = p.get(f.name, getattr(defaults, f.name))
        name = f'pipeline.{f.name}'
        if f.name == 'task':
            if not isinstance(value, str) or not value:
                raise ConfigError(f'{name} must be a task name, got {value!r}', name)
        elif f.name in ('val_frac', 'test_frac'):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value < 1:
                raise ConfigError(f'{name} must be in [0, 1), got {value!r}', name)
            value = float(value)
        elif f.name == 'eval_max_rows_per_group':
            value = _positive_int_or_none(value, name)
        elif f.name in ('seed_offset', 'closed_loop_episodes'):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f'{name} must be an integer >= 0, got {value!r}', name)
        elif _positive_int_or_none(value, name) is None:
            raise ConfigError(f'{name} must be a positive integer, got {value!r}', name)
        values[f.name] = value
    if values['val_frac'] + values['test_frac'] >= 1:
        raise ConfigError('pipeline.val_frac + pipeline.test_frac must be below 1',
                          'pipeline.val_frac')
    return PipelineSpec(**values)


def resolve_recipe_path(name_or_path: str | os.PathLike) -> Path:
    """A recipe file from a path, or a shipped recipe's name (``tiny_cpu``).

    Raises:
        ConfigError: No such file; the message lists the shipped recipes.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    for candidate in (RECIPE_DIR / f'{name_or_path}.yaml', RECIPE_DIR / str(name_or_path),
                      EXPERIMENTS_DIR / f'{name_or_path}.yaml'):
        if candidate.is_file():
            return candidate
    shipped = sorted(p.stem for p in RECIPE_DIR.glob('*.yaml') if _looks_like_recipe(p))
    raise ConfigError(f'no recipe {str(name_or_path)!r}; shipped recipes: {", ".join(shipped)}',
                      'recipe')


def _looks_like_recipe(path: Path) -> bool:
    try:
        raw = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(raw, Mapping) and 'rewards' in raw


def load_recipe(name_or_path: str | os.PathLike, base_dir: str | os.PathLike | None = '.'
                ) -> Recipe:
    """Read and validate a recipe YAML.

    Args:
        name_or_path: A YAML path or the name of a shipped recipe.
        base_dir: Folder relative paths are resolved against (default: the working directory).

    Raises:
        ConfigError: Missing file, invalid YAML or invalid recipe.
    """
    path = resolve_recipe_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text(encoding='utf-8'))
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path} is not valid YAML: {exc}', 'recipe') from None
    base = Path(base_dir).resolve() if base_dir is not None else None
    return recipe_from_dict(raw or {}, base_dir=base, source=str(path))
