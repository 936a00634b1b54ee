"""Shared pytest fixtures for robot_r1_ros (helpers to import live in ``r1_testing.py``).

- ``torch_one_thread``: torch with one intra-op thread (the CPU is shared), or a skip.

Cross-process ROS helpers:
- ``ros_env``: a copy of ``os.environ`` for child processes with a fresh ``ROS_DOMAIN_ID`` per test,
  loopback-only discovery and logs inside the repo's log/ folder; also applied to this process.
- ``rclpy_node``: an rclpy node on its own context in that domain (shut down after the test).
- ``spawn``: starts ``python -m <module> [args]`` children with that environment, captures their
  output to a log file, and stops them (SIGINT, then SIGKILL) after the test.

SIGINT is handled in this process (Python's default handler) even when the suite was started
in the background, where a shell starts it with SIGINT ignored: an ignored SIGINT is inherited
through exec by every process a test starts, and ``ros2 launch`` (whose ROS adapter's rclpy
handler chains to the ignored disposition) then never sees the Ctrl-C a test sends it.
A handled signal is reset to its default on exec, so the children see SIGINT as a terminal's
job does.
"""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest
from r1_testing import REPO, Child, require, require_ros_interfaces

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_base_domain = int(os.environ.get('ROS_DOMAIN_ID', '42')) % 90 + 10
_domains = itertools.count()


@pytest.fixture(scope='session')
def torch_one_thread():
    """torch, pinned to one intra-op thread (skips when torch is missing)."""
    torch = pytest.importorskip('torch')
    torch.set_num_threads(1)
    return torch


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
