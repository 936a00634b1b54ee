"""TRL and PEFT configs of a recipe: ``GRPOConfig``, ``SFTConfig`` and ``LoraConfig`` built from
a :class:`~robot_r1_ros.training.recipe.Recipe` (TRL's own option names pass through)."""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Mapping

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.training.recipe import Recipe

_LOG = logging.getLogger(__name__)


def _accelerator_available() -> bool:
    import torch
    return bool(torch.cuda.is_available()) or bool(
        getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available())


def _trl_config(cls: type, kwargs: dict[str, Any], section: str) -> Any:
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(kwargs) - valid)
    if unknown:
        raise ConfigError(f'{section}: unknown {cls.__name__} argument(s) '
                          f'{", ".join(unknown)}', f'{section}.{unknown[0]}')
    if not _accelerator_available() and kwargs.get('bf16') and not kwargs.get('use_cpu'):
        # TRL raises for bf16 without a GPU unless use_cpu is set; the recipe stays buildable
        # (and checkable) on a CPU machine, where it then runs with CPU bf16 autocast.
        _LOG.warning('%s: bf16 requested but no GPU is available; setting use_cpu=True',
                     section)
        kwargs['use_cpu'] = True
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f'{section}: {cls.__name__} rejected the recipe: {exc}',
                          section) from None


def _common_defaults(recipe: Recipe, output_dir: str | os.PathLike) -> dict[str, Any]:
    return {
        'output_dir': str(output_dir),
        'seed': recipe.seed,
        'report_to': ['tensorboard'],
        'logging_steps': 1,
        'save_strategy': 'steps',
        'save_steps': 50,
        'save_total_limit': 3,
    }


def build_grpo_config(recipe: Recipe, output_dir: str | os.PathLike,
                      overrides: Mapping[str, Any] | None = None) -> Any:
    """The ``trl.GRPOConfig`` of a recipe.

    Pipeline-owned values: ``output_dir`` (argument), ``seed`` (recipe), ``reward_weights``
    (recipe rewards). Defaults that the recipe may override: TensorBoard reporting, logging every
    step, a checkpoint every 50 steps keeping the last 3, and ``remove_unused_columns=False`` (the
    rewards read the dataset's ground-truth columns).

    Args:
        recipe: The recipe.
        output_dir: Run folder (checkpoints, logs).
        overrides: Last-word values (e.g. ``{'max_steps': 3}`` from the command line).

    Raises:
        ConfigError: Unknown argument, or TRL rejected a value.
    """
    from trl import GRPOConfig
    recipe.training_config()  # the core's rules on the shared fields
    kwargs = _common_defaults(recipe, output_dir)
    kwargs['remove_unused_columns'] = False
    kwargs.update(recipe.grpo)
    kwargs.update(overrides or {})
    kwargs['reward_weights'] = recipe.reward_weights
    return _trl_config(GRPOConfig, kwargs, 'grpo')


def build_sft_config(recipe: Recipe, output_dir: str | os.PathLike,
                     overrides: Mapping[str, Any] | None = None) -> Any:
    """The ``trl.SFTConfig`` of a recipe's warm-up (same defaults as :func:`build_grpo_config`).

    Raises:
        ConfigError: The recipe has no ``sft`` section, unknown argument, or TRL rejected a value.
    """
    from trl import SFTConfig
    if recipe.sft is None:
        raise ConfigError(f'recipe {recipe.name!r} has no sft section', 'sft')
    kwargs = _common_defaults(recipe, output_dir)
    kwargs.update(recipe.sft)
    kwargs.update(overrides or {})
    return _trl_config(SFTConfig, kwargs, 'sft')


def build_lora_config(recipe: Recipe) -> Any:
    """The ``peft.LoraConfig`` of a recipe, or None when it has no ``lora`` section."""
    if recipe.lora is None:
        return None
    from peft import LoraConfig
    target = recipe.lora.target_modules
    return LoraConfig(r=recipe.lora.r, lora_alpha=recipe.lora.alpha,
                      lora_dropout=recipe.lora.dropout,
                      target_modules=list(target) if isinstance(target, tuple) else target,
                      task_type='CAUSAL_LM')
