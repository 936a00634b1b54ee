"""Fixtures of the model tests: the tiny checkpoint, built once per session into a temp folder,
and one CPU reasoner on it (fp32, one torch thread, small images to keep tests fast)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('OMP_NUM_THREADS', '1')

SMALL_MAX_PIXELS = 112 * 112  # 16 image tokens: the vision tower is not what these tests test


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory, torch_one_thread) -> Path:
    """A freshly built tiny Qwen2.5-VL checkpoint (hub layout) in a session temp folder."""
    from robot_r1_ros.model import build_tiny
    return build_tiny.build(tmp_path_factory.mktemp('ckpt') / 'tiny-qwen2.5-vl', seed=0)


@pytest.fixture(scope='session')
def tiny_reasoner(tiny_checkpoint):
    """A QwenReasoner on the tiny checkpoint, loaded through load_reasoner like the 7B."""
    from robot_r1_ros.model import load_reasoner
    reasoner = load_reasoner({'model_id': str(tiny_checkpoint), 'device': 'cpu',
                              'max_pixels': SMALL_MAX_PIXELS,
                              'generation': {'max_new_tokens': 128, 'think_budget_tokens': 24}})
    yield reasoner
    reasoner.close()


@pytest.fixture
def scene_image() -> np.ndarray:
    """A deterministic 96x128 RGB image with some structure (table, cube, gripper)."""
    img = np.full((96, 128, 3), 200, np.uint8)
    img[60:, :] = (120, 90, 60)
    img[40:55, 30:45] = (220, 30, 30)
    img[10:25, 80:90] = (30, 30, 220)
    return img


@pytest.fixture
def make_request(scene_image):
    """Factory: a ReasonerRequest of a task kind, built through core.prompts."""
    from robot_r1_ros.core.prompts import PromptMetadata
    from robot_r1_ros.core.types import TaskKind
    from robot_r1_ros.model import GenerationOptions, ReasonerRequest

    def make(kind, image=None, generation: GenerationOptions | None = None) -> ReasonerRequest:
        kind = TaskKind.parse(kind)
        meta = PromptMetadata(current_xyz_env_m=(0.1, -0.05, 0.25), current_gripper='open')
        if kind is TaskKind.MOVEMENT:
            options = ['move left', 'move right', 'move up', 'move down']
        elif kind.is_multiple_choice:
            options = [(0.1, 0.0, 0.2), (0.2, 0.1, 0.1), (-0.1, 0.3, 0.05), (0.0, 0.0, 0.3)]
        else:
            options = None
        return ReasonerRequest(scene_image if image is None else image, kind,
                               'put the red cube on the blue square', meta, options=options,
                               generation=generation,
                               request_id=f'test-{kind.value}')

    return make
