"""Shared test helpers for robot_r1_ros (import them as ``from r1_testing import ...``).

Kept out of conftest.py on purpose: several test folders have their own conftest.py, so
``from r1_testing import ...`` would resolve to whichever conftest pytest loaded last.

Dependency policy: a test whose *installable* dependency is missing is skipped on a developer
machine but FAILS when ``CI=true`` (CI installs everything this platform has). Only what cannot be
installed here (moveit_py, tf2_ros, a GPU) may skip in CI, with the reason shown. The real launch
and ros2 tools run in subprocesses from the overlay of ``ros2_tools.py`` (they fail in CI when
absent).
"""
from __future__ import annotations

import importlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
# Not installable on this platform: these may skip even in CI.
UNINSTALLABLE = {'moveit', 'tf2_ros', 'cv_bridge'}

os.environ.setdefault('MUJOCO_GL', 'egl')
os.environ.setdefault('PYOPENGL_PLATFORM', 'egl')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
os.environ.setdefault('OMP_NUM_THREADS', '1')


def require(module: str, reason: str = ''):
    """Import ``module`` or skip (fail in CI unless it is uninstallable here)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # includes ModuleNotFoundError
        msg = f'{module} not importable ({exc}){": " + reason if reason else ""}'
        if IN_CI and module.split('.')[0] not in UNINSTALLABLE:
            pytest.fail(f'CI=true and an installable dependency is missing: {msg}')
        pytest.skip(msg)


def require_ros_interfaces():
    """The colcon-built interfaces (run scripts/setup.sh, source scripts/env.sh)."""
    require('rclpy')
    return require('robot_r1_ros.msg', 'run `bash scripts/setup.sh` and `source scripts/env.sh`')


class Child:
    """A child process started by the ``spawn`` fixture."""

    def __init__(self, popen: subprocess.Popen, log_path: Path):
        self.popen = popen
        self.log_path = log_path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log_path.read_text(errors='replace') if self.log_path.exists() else ''

    def stop(self, timeout_s: float = 10.0) -> int:
        if self.alive():
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


def wait_for(predicate: Callable[[], bool], timeout_s: float, spin=None,
             period_s: float = 0.05) -> bool:
    """Poll ``predicate`` (spinning ``spin()`` between polls) until true or timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if spin is not None:
            spin()
        if predicate():
            return True
        if spin is None:
            time.sleep(period_s)
    return predicate()


def readme_ros_commands() -> list[str]:
    """The commands of the README's full-ROS block ("Using it with a full ROS 2 install", its
    first ```bash block), one a line, without comment lines and trailing ``  # ...`` notes."""
    import re
    readme = (REPO / 'README.md').read_text(encoding='utf-8')
    section = readme.split('## Using it with a full ROS 2 install', 1)[1].split('\n## ', 1)[0]
    block = re.search(r'```bash\n(.*?)```', section, re.S).group(1)
    return [line.split('  #')[0].strip() for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith('#')]
