"""Recipes: the shipped YAMLs parse and build TRL configs; bad recipes raise ConfigError."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.training.recipe import RECIPE_DIR, load_recipe, recipe_from_dict
from robot_r1_ros.training.trl_configs import (build_grpo_config, build_lora_config,
                                               build_sft_config)

REPO = Path(__file__).resolve().parents[2]


def _minimal(**changes):
    raw = {'model': {'path': 'models/tiny'}, 'data': {'path': 'outputs/ds'},
           'rewards': ['format', 'choice_accuracy'], 'grpo': {'max_steps': 2}}
    raw.update(changes)
    return raw


def test_paper_recipe_builds_a_grpo_config_with_the_paper_settings(tmp_path):
    recipe = load_recipe('paper_7b')
    assert recipe.model.path == 'Qwen/Qwen2.5-VL-7B-Instruct'  # a hub id stays a hub id
    assert recipe.reward_names == ['format', 'choice_accuracy']
    config = build_grpo_config(recipe, tmp_path)
    assert config.num_generations == 5
    assert config.temperature == 1.0
    assert config.learning_rate == pytest.approx(1e-6)
    assert config.weight_decay == pytest.approx(1e-2)
    assert config.beta == pytest.approx(1e-2)
    assert config.num_train_epochs == 5
    assert config.bf16 is True
    assert config.gradient_checkpointing is True
    assert config.reward_weights == [1.0, 1.0]
    assert config.use_vllm is True and config.vllm_mode == 'colocate'
    # Global batch of the paper: 128 prompts x 5 completions on the 4 GPUs of the accelerate
    # config (TRL counts completions).
    accel = yaml.safe_load((RECIPE_DIR / 'accelerate_zero3.yaml').read_text())
    completions = (accel['num_processes'] * config.per_device_train_batch_size
                   * config.gradient_accumulation_steps)
    assert completions == 128 * config.num_generations
    assert config.output_dir == str(tmp_path)
    assert config.seed == recipe.seed


def test_tiny_recipe_builds_sft_and_grpo_configs_for_the_cpu(tmp_path):
    recipe = load_recipe('tiny_cpu')
    grpo = build_grpo_config(recipe, tmp_path / 'g', {'max_steps': 7})
    assert grpo.max_steps == 7  # command-line override wins
    assert grpo.use_cpu and not grpo.bf16
    assert grpo.per_device_train_batch_size % grpo.num_generations == 0
    assert grpo.remove_unused_columns is False  # rewards read the ground-truth columns
    assert grpo.report_to == ['tensorboard']
    sft = build_sft_config(recipe, tmp_path / 's')
    assert sft.learning_rate == pytest.approx(recipe.sft['learning_rate'])
    assert sft.output_dir == str(tmp_path / 's') and sft.seed == recipe.seed
    assert recipe.pipeline.task == 'pick_place' and recipe.pipeline.episodes > 0
    assert build_lora_config(recipe) is None
    # The recipe's GRPO values also satisfy the core's TrainingConfig rules.
    training = recipe.training_config()
    assert training.reward_funcs == tuple(recipe.reward_names)
    assert grpo.reward_weights == recipe.reward_weights
    assert training.num_generations == grpo.num_generations


def test_accelerate_and_deepspeed_configs_parse_and_point_at_each_other():
    accel = yaml.safe_load((RECIPE_DIR / 'accelerate_zero3.yaml').read_text())
    assert accel['distributed_type'] == 'DEEPSPEED'
    ds_file = REPO / accel['deepspeed_config']['deepspeed_config_file']
    ds = json.loads(ds_file.read_text())
    assert ds['zero_optimization']['stage'] == 3
    assert ds['bf16']['enabled'] == 'auto'


def test_lora_section_builds_a_peft_config():
    recipe = recipe_from_dict(_minimal(lora={'r': 4, 'alpha': 8, 'target_modules':
                                             ['q_proj', 'v_proj']}))
    lora = build_lora_config(recipe)
    assert lora.r == 4 and lora.lora_alpha == 8
    assert set(lora.target_modules) == {'q_proj', 'v_proj'}


def test_relative_paths_resolve_against_the_base_folder(tmp_path):
    (tmp_path / 'models' / 'tiny').mkdir(parents=True)
    recipe = recipe_from_dict(_minimal(), base_dir=tmp_path)
    assert recipe.model.path == str(tmp_path / 'models' / 'tiny')
    assert recipe.data.path == str(tmp_path / 'outputs' / 'ds')
    changed = recipe.with_paths('other/model', tmp_path / 'd2')
    assert changed.model.path == 'other/model' and changed.data.path == str(tmp_path / 'd2')


@pytest.mark.parametrize('changes, field', [
    ({'colour': 1}, 'colour'),
    ({'model': {}}, 'model.path'),
    ({'model': {'path': 'm', 'dtype': 'float8'}}, 'model.dtype'),
    ({'model': {'path': 'm', 'image_min_pixels': 5000, 'image_max_pixels': 1000}},
     'model.image_min_pixels'),
    ({'data': {'path': 'd', 'tasks': ['grasping']}}, 'data.tasks'),
    ({'data': {'path': 'd', 'distractor_kind': 'easy'}}, 'data.distractor_kind'),
    ({'data': {'path': 'd', 'sft_think': 'long'}}, 'data.sft_think'),
    ({'rewards': []}, 'rewards'),
    ({'rewards': ['format', 'format']}, 'rewards'),
    ({'rewards': [{'name': 'format', 'weight': 'high'}]}, 'rewards[0].weight'),
    ({'grpo': {'seed': 3}}, 'grpo.seed'),
    ({'grpo': {'reward_weights': [1, 1]}}, 'grpo.reward_weights'),
    ({'lora': {'r': 0}}, 'lora.r'),
    ({'seed': -1}, 'seed'),
    ({'pipeline': {'episodes': 0}}, 'pipeline.episodes'),
    ({'pipeline': {'val_frac': 0.6, 'test_frac': 0.5}}, 'pipeline.val_frac'),
    ({'pipeline': {'clouds': 1}}, 'pipeline.clouds'),
    ({'data': {'path': 'd', 'max_eval_samples': 0}}, 'data.max_eval_samples'),
])
def test_bad_recipes_raise_config_error_naming_the_field(changes, field):
    with pytest.raises(ConfigError) as info:
        recipe_from_dict(_minimal(**changes))
    assert info.value.field == field


def test_unknown_reward_and_unknown_trl_argument_fail_when_building(tmp_path):
    with pytest.raises(ConfigError, match='unknown reward'):
        recipe_from_dict(_minimal(rewards=['format', 'telepathy'])).training_config()
    recipe = recipe_from_dict(_minimal(grpo={'num_generation': 4}))
    with pytest.raises(ConfigError, match='num_generation') as info:
        build_grpo_config(recipe, tmp_path)
    assert info.value.field == 'grpo.num_generation'
    with pytest.raises(ConfigError, match='no sft section'):
        build_sft_config(recipe, tmp_path)


def test_missing_recipe_lists_the_shipped_ones(tmp_path):
    with pytest.raises(ConfigError, match='tiny_cpu'):
        load_recipe(tmp_path / 'nope.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('model: [unclosed\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_recipe(bad)


def test_committed_artefacts_get_repo_relative_paths():
    from robot_r1_ros.training import runlog
    root = runlog.REPO_ROOT
    text = f'source: {root}/config/train/tiny_cpu.yaml, cwd {root}, elsewhere /opt/x'
    assert runlog.repo_relative_text(text) == \
        'source: config/train/tiny_cpu.yaml, cwd ., elsewhere /opt/x'
