"""A real GRPO run of a few steps on the tiny model, through the recipe path (TRL GRPOTrainer)."""
from __future__ import annotations

import json
import math

import pytest
import torch

from robot_r1_ros.core import rewards as core_rewards
from robot_r1_ros.training import grpo, runlog
from robot_r1_ros.training.recipe import load_recipe
from training_helpers import recipe_dict


def test_grpo_steps_use_core_rewards_on_dataset_columns_and_change_weights(
        sft_model, qa_dataset, write_recipe, tmp_path, monkeypatch):
    recipe = load_recipe(write_recipe(sft_model, qa_dataset['path'], max_steps=3))
    # Spy on the columns the core rewards read (the reward functions themselves stay the
    # core's objects: the spy sits on the module helper they all call).
    seen: dict[str, list] = {}
    real_column = core_rewards._column

    def spy(kwargs, name, n):
        seen.setdefault(name, []).extend(kwargs.get(name) or [])
        return real_column(kwargs, name, n)

    monkeypatch.setattr(core_rewards, '_column', spy)
    out = tmp_path / 'run'
    trainer = grpo.build_trainer(recipe, out)

    # Identity: the very registry objects, in recipe order, with the recipe's weights.
    assert trainer.reward_funcs[0] is core_rewards.REWARDS['format']
    assert trainer.reward_funcs[1] is core_rewards.REWARDS['choice_accuracy']
    assert trainer.reward_funcs == core_rewards.get_reward_funcs(['format', 'choice_accuracy'])
    assert trainer.reward_weights.tolist() == [1.0, 2.0]

    before = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    result = grpo.run_trainer(trainer, recipe, out, 'grpo')
    assert result.global_step == 3 and not result.stopped_early

    # The rewards were called with the dataset's ground-truth columns.
    train = trainer.train_dataset
    letters = set(train['answer_letter'])
    assert seen['task_kind'] and set(seen['task_kind']) <= set(train['task_kind'])
    assert seen['answer_letter'] and set(seen['answer_letter']) <= letters
    assert len(seen['answer_letter']) >= 3 * 8  # 3 steps x 8 completions

    logs = runlog.read_jsonl(out / runlog.LOG_NAME)
    steps = [r for r in logs if 'loss' in r and 'train_runtime' not in r]
    assert [r['step'] for r in steps] == [1, 2, 3]
    for r in steps:
        assert math.isfinite(r['loss'])
        assert 'rewards/format_reward/mean' in r and 'rewards/choice_accuracy_reward/mean' in r
    # The warm-started model follows the format, so rewards vary inside groups and there is a
    # gradient: the weights move.
    assert max(r['rewards/format_reward/mean'] for r in steps) > 0
    changed = [k for k, v in trainer.model.named_parameters()
               if not torch.equal(v.detach(), before[k])]
    assert changed, 'no parameter changed after 3 GRPO steps'

    # The exported checkpoint is self-contained, with the recipe's image bounds.
    final = result.final_dir
    assert (final / 'model.safetensors').is_file()
    pre = json.loads((final / 'preprocessor_config.json').read_text())
    assert pre['max_pixels'] == recipe.model.image_max_pixels
    info = json.loads((out / runlog.RUN_INFO_NAME).read_text())
    assert info['finished'] and info['global_step'] == 3
    assert info['recipe']['rewards'][1] == {'name': 'choice_accuracy', 'weight': 2.0}
    assert any((out / 'tensorboard').iterdir())


def test_unknown_reward_name_fails_before_loading_anything(tiny_model, qa_dataset, tmp_path):
    from robot_r1_ros.core.errors import ConfigError
    from robot_r1_ros.training.recipe import recipe_from_dict

    raw = recipe_dict(tiny_model, qa_dataset['path'])
    raw['rewards'] = ['format', 'clairvoyance']
    with pytest.raises(ConfigError, match='unknown reward'):
        grpo.build_trainer(recipe_from_dict(raw), tmp_path / 'run')
    raw = recipe_dict(tiny_model, tmp_path / 'no_dataset')
    with pytest.raises(ConfigError, match='no dataset'):
        grpo.build_trainer(recipe_from_dict(raw), tmp_path / 'run')
