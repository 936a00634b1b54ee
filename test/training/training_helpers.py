"""Helpers shared by the training tests and their conftest (not a test module)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

IMAGE_PIXELS = 112 * 112  # 16 image tokens: the vision tower is not what these tests test


def recipe_dict(model: Path, dataset: Path, **grpo: Any) -> dict[str, Any]:
    """A small CPU recipe (test sizes) for the given model and dataset."""
    return {
        'name': 'test-tiny', 'seed': 0,
        'model': {'path': str(model), 'dtype': 'float32', 'attn_implementation': 'sdpa',
                  'image_min_pixels': IMAGE_PIXELS, 'image_max_pixels': IMAGE_PIXELS},
        'data': {'path': str(dataset), 'tasks': ['next_waypoint', 'current_state', 'movement'],
                 'distractor_kind': 'random', 'sft_think': 'empty'},
        'rewards': [{'name': 'format', 'weight': 1.0},
                    {'name': 'choice_accuracy', 'weight': 2.0}],
        'sft': {'learning_rate': 5e-3, 'lr_scheduler_type': 'constant_with_warmup',
                'warmup_steps': 5, 'per_device_train_batch_size': 8, 'max_steps': 50,
                'use_cpu': True, 'bf16': False, 'gradient_checkpointing': False,
                'save_steps': 1000, 'logging_steps': 10, 'disable_tqdm': True,
                'report_to': ['tensorboard']},
        'grpo': {'learning_rate': 1e-3, 'lr_scheduler_type': 'constant',
                 'per_device_train_batch_size': 8, 'num_generations': 4,
                 'max_completion_length': 24, 'temperature': 1.0, 'beta': 0.0, 'max_steps': 3,
                 'use_cpu': True, 'bf16': False, 'gradient_checkpointing': False,
                 'save_steps': 1000, 'disable_tqdm': True, **grpo},
    }


#: One next-waypoint row (gold ``B``, at the red cube) and the frame facts that name its cube:
#: the verdict rows (``aim_compare``, ``aim_follow``) are built from such rows.
WAYPOINT_ROW: dict[str, Any] = {
    'task_kind': 'next_waypoint', 'episode_id': 'ep1', 'frame_index': 4,
    'distractor_kind': 'hard',
    'options': ['[0.211, 0.136, 0.050]', '[0.107, -0.149, 0.020]', '[0.300, 0.010, 0.200]',
                '[0.050, 0.050, 0.100]'],
    'answer_letter': 'B', 'answer_text': '[[B]]', 'gold_think': '',
    'current_xyz_env_m': [0.3, 0.0, 0.2], 'current_gripper': 'open',
    'next_xyz_env_m': [0.107, -0.149, 0.02]}
WAYPOINT_FACTS = {('ep1', 4): {'red cube': '[0.107, -0.149, 0.020]'}}
