"""Relative model ids resolve against the installed package share, then the working directory
(then a source checkout); the error of a missing folder names every path tried."""
from __future__ import annotations

from pathlib import Path

import pytest

from robot_r1_ros.core import paths as locate


@pytest.fixture
def share(tmp_path, monkeypatch) -> Path:
    share = tmp_path / 'install' / 'share' / 'robot_r1_ros'
    (share / 'checkpoints' / 'm').mkdir(parents=True)
    monkeypatch.setattr(locate, 'package_share', lambda: share)
    return share


def test_share_first_then_cwd(share, tmp_path):
    cwd = tmp_path / 'elsewhere'
    (cwd / 'checkpoints' / 'm').mkdir(parents=True)
    (cwd / 'only_here').mkdir()
    assert locate.resolve_model_path('checkpoints/m', cwd) == str(share / 'checkpoints' / 'm')
    assert locate.resolve_model_path('only_here', cwd) == str(cwd / 'only_here')
    assert locate.search_roots(cwd)[:2] == [share, cwd]


def test_absolute_and_hub_ids_pass_unchanged(share, tmp_path):
    assert locate.resolve_model_path(str(tmp_path / 'x')) == str(tmp_path / 'x')
    assert locate.resolve_model_path('Qwen/Qwen2.5-VL-7B-Instruct', tmp_path) == \
        'Qwen/Qwen2.5-VL-7B-Instruct'


def test_not_found_names_the_paths_tried(share, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hint = locate.not_found_hint('checkpoints/missing')
    assert str(share / 'checkpoints' / 'missing') in hint
    assert str(tmp_path / 'checkpoints' / 'missing') in hint


def test_the_reasoner_error_names_the_paths_tried(share, tmp_path, monkeypatch,
                                                 torch_one_thread):
    pytest.importorskip('transformers')
    from robot_r1_ros.model import load_reasoner
    from robot_r1_ros.model.errors import ModelLoadError
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelLoadError) as err:
        load_reasoner({'model_id': 'checkpoints/missing/'})
    assert str(share / 'checkpoints' / 'missing') in str(err.value)
    assert str(tmp_path / 'checkpoints' / 'missing') in str(err.value)


def test_outside_a_ros_environment_a_relative_id_resolves_against_the_cwd(tmp_path, monkeypatch):
    """No AMENT_PREFIX_PATH (a plain venv shell): no package share, no OSError from the ament
    index; the working directory still resolves the id."""
    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    (tmp_path / 'checkpoints' / 'm').mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert locate.package_share() is None
    assert locate.resolve_model_path('checkpoints/m') == str(tmp_path / 'checkpoints' / 'm')
