"""Fixtures of the training tests, built once per session in temp folders (all real: MuJoCo
expert demos recorded to rosbag2, the core's QA builder, the tiny Qwen2.5-VL checkpoint, TRL).

- ``demo_bags``: 3 pick-and-place expert episodes (seeds 0-2) recorded to MCAP bags, with the
  expert's planned waypoints (the "known keyframes").
- ``qa_dataset``: ``robot-r1 dataset`` on those bags (1 train / 1 validation / 1 test episode).
- ``tiny_model``: the random tiny checkpoint (``model.build_tiny``).
- ``sft_model``: the tiny checkpoint after a short SFT warm-up (format learned, ~40 s), so that
  GRPO gets non-zero rewards.
- ``write_recipe``: writes a small recipe YAML pointing at those folders.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from training_helpers import IMAGE_PIXELS, recipe_dict

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')

DEMO_SEEDS = (0, 1, 2)
CAMERA_PX = 112


@pytest.fixture(scope='session')
def demo_bags(tmp_path_factory) -> dict[str, Any]:
    """Bags of 3 expert episodes and the expert's waypoints per episode id."""
    import robot_r1_ros.sim  # noqa: F401  (MUJOCO_GL before mujoco)
    from robot_r1_ros.sim.experts import plan
    from robot_r1_ros.sim.episodes import episode_name, record_expert_episode
    from robot_r1_ros.sim.scene import PandaScene, SceneConfig
    from robot_r1_ros.sim.tasks import make_task

    out = tmp_path_factory.mktemp('bags')
    waypoints: dict[str, list] = {}
    task = make_task('pick_place')
    with PandaScene(SceneConfig().with_camera_size(CAMERA_PX, CAMERA_PX)) as scene:
        for seed in DEMO_SEEDS:
            episode = task.reset(scene, seed)
            waypoints[episode_name('pick_place', seed)] = plan(scene, task, episode)
            result = record_expert_episode(scene, 'pick_place', seed, out)
            assert result.success, f'expert failed on seed {seed}'
    return {'root': out, 'waypoints': waypoints}


@pytest.fixture(scope='session')
def qa_dataset(demo_bags, tmp_path_factory) -> dict[str, Any]:
    """The dataset built from ``demo_bags`` (and its build_info)."""
    from robot_r1_ros.core.config import QAConfig, WorkspaceConfig
    from robot_r1_ros.training.dataset import (DEFAULT_FRAME_INTERVAL, DEFAULT_KEYFRAME_METHOD,
                                               BuildSettings, build_dataset)

    out = tmp_path_factory.mktemp('dataset') / 'ds'
    settings = BuildSettings(
        qa=QAConfig(frame_interval=DEFAULT_FRAME_INTERVAL,
                    keyframe_method=DEFAULT_KEYFRAME_METHOD, seed=0),
        workspace=WorkspaceConfig(), val_frac=0.34, test_frac=0.34, seed=0)
    info = build_dataset([demo_bags['root']], out, settings)
    return {'path': out, 'info': info, 'settings': settings}


@pytest.fixture(scope='session')
def tiny_model(tmp_path_factory, torch_one_thread) -> Path:
    from robot_r1_ros.model import build_tiny
    return build_tiny.build(tmp_path_factory.mktemp('tiny') / 'tiny-qwen2.5-vl', seed=0)


@pytest.fixture
def write_recipe(tmp_path) -> Callable[..., Path]:
    """Write a recipe YAML (``recipe_dict`` plus GRPO overrides) into the test's temp folder."""
    def write(model: Path, dataset: Path, **grpo: Any) -> Path:
        path = tmp_path / 'recipe.yaml'
        path.write_text(yaml.safe_dump(recipe_dict(model, dataset, **grpo)), encoding='utf-8')
        return path
    return write


@pytest.fixture(scope='session')
def sft_model(tiny_model, qa_dataset, tmp_path_factory) -> Path:
    """The tiny model after 50 SFT steps on empty-reasoning gold completions."""
    from robot_r1_ros.training import sft
    from robot_r1_ros.training.recipe import recipe_from_dict

    recipe = recipe_from_dict(recipe_dict(tiny_model, qa_dataset['path']))
    result = sft.train(recipe, tmp_path_factory.mktemp('sft') / 'run')
    assert result.final_dir is not None
    return result.final_dir


@pytest.fixture
def drawn_tasks(monkeypatch) -> list[str]:
    """The task kind of every row the curriculum puts into a training batch (a spy on
    ``Encoded.batch``), in order."""
    from robot_r1_ros.training.encoded import Encoded

    seen: list[str] = []
    batch = Encoded.batch

    def spy(self, idx, pad_id, compact=False):
        seen.extend(self.rows[i]['task_kind'] for i in idx)
        return batch(self, idx, pad_id, compact)

    monkeypatch.setattr(Encoded, 'batch', spy)
    return seen
