"""Fixtures of the ROS tests (the shared ones are in test/conftest.py).

- ``tiny_checkpoint``: the project's tiny Qwen2.5-VL checkpoint for the end-to-end tests.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from r1_testing import IN_CI, REPO


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory) -> Path:
    """The project's tiny checkpoint: models/ (built by setup.sh), else built here once."""
    path = REPO / 'models' / 'tiny-qwen2.5-vl'
    if (path / 'config.json').is_file():
        return path
    if not IN_CI:
        pytest.importorskip('transformers')
    from robot_r1_ros.model import build_tiny
    return Path(build_tiny.build(tmp_path_factory.mktemp('e2e') / 'tiny-qwen2.5-vl', seed=0))
