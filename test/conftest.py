"""Shared pytest fixtures and helpers for robot_r1_ros.

Dependency policy: a test whose *installable* dependency is missing is skipped on a developer
machine but FAILS when ``CI=true`` (CI installs everything this platform has). Only what cannot be
installed here (moveit_py, launch_ros, a GPU) may skip in CI, with the reason shown.

Cross-process ROS helpers:
- ``ros_env``: a copy of ``os.environ`` for child processes with a fresh ``ROS_DOMAIN_ID`` per test,
  loopback-only discovery and logs inside the repo's log/ folder; also applied to this process.
- ``rclpy_node``: an rclpy node on its own context in that domain (shut down after the test).
- ``spawn``: starts ``python -m <module> [args]`` children with that environment, captures their
  output to a log file, and stops them (SIGINT, then SIGKILL) after the test.
"""
from __future__ import annotations

import importlib
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')
# Not installable on this platform: these may skip even in CI.
UNINSTALLABLE = {'moveit', 'launch', 'launch_ros', 'ros2cli', 'tf2_ros', 'cv_bridge'}

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


_base_domain = int(os.environ.get('ROS_DOMAIN_ID', '42')) % 90 + 10
_domains = itertools.count()


@pytest.fixture
def ros_env(monkeypatch) -> dict[str, str]:
    """Environment for a cross-process ROS test: its own domain, loopback discovery, local logs."""
    domain = 10 + (_base_domain + next(_domains)) % 90
    log_dir = REPO / 'log' / 'ros'
    log_dir.mkdir(parents=True, exist_ok=True)
    values = {
        'ROS_DOMAIN_ID': str(domain),
        'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
        'ROS_LOG_DIR': str(log_dir),
        'PYTHONUNBUFFERED': '1',
        'OMP_NUM_THREADS': '1',
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    env = dict(os.environ)
    # Children import the source tree first, then the overlay's generated interfaces.
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in [str(REPO), os.environ.get('PYTHONPATH', '')] if p)
    return env


@pytest.fixture
def rclpy_node(ros_env) -> Iterator[Callable[[str], object]]:
    """Factory for rclpy nodes on a private context in the test's domain."""
    rclpy = require('rclpy')
    require_ros_interfaces()
    context = rclpy.context.Context()
    rclpy.init(context=context)
    nodes = []

    def make(name: str):
        node = rclpy.create_node(name, context=context)
        nodes.append(node)
        return node

    make.context = context  # type: ignore[attr-defined]
    try:
        yield make
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


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


@pytest.fixture
def spawn(ros_env, request) -> Iterator[Callable[..., Child]]:
    """Start ``python -m module args...`` children; they are stopped after the test."""
    children: list[Child] = []
    log_dir = REPO / 'log' / 'test'
    log_dir.mkdir(parents=True, exist_ok=True)

    def start(module: str, *args: str, env: dict[str, str] | None = None) -> Child:
        """``module`` is a dotted module name, or a path ending in .py run as a script."""
        stem = Path(module).stem if module.endswith('.py') else module.rsplit('.', 1)[-1]
        name = f'{request.node.name}-{stem}-{len(children)}'
        name = ''.join(c if c.isalnum() or c in '-_.' else '_' for c in name)[:120]
        log_path = log_dir / f'{name}.log'
        log = open(log_path, 'w')  # noqa: SIM115 (closed with the process)
        popen = subprocess.Popen(
            [sys.executable, *([module] if module.endswith('.py') else ['-m', module]), *args],
            cwd=REPO, env=env or ros_env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        child = Child(popen, log_path)
        children.append(child)
        return child

    try:
        yield start
    finally:
        for child in children:
            child.stop()
        if getattr(request.node, 'rep_call_failed', False):
            for child in children:
                sys.stderr.write(f'--- {child.log_path.name} ---\n{child.output()[-4000:]}\n')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == 'call':
        item.rep_call_failed = rep.failed


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
