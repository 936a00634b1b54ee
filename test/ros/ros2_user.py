"""A ROS 2 user's shell for tests: a plain ``colcon build`` of this package, the real ``ros2``
tools, and a working directory outside the repository.

The Python environment stands in for ``/opt/ros/<distro>`` (its ROS wheels) with the tools
overlay of ``scripts/ros2_tools_overlay.sh`` on top (see ``ros2_tools.py``); the package is built
without ``--symlink-install`` into a temporary workspace and sourced as a user would
(``source install/setup.bash``). The source tree's own colcon install is removed from the
environment, so nothing resolves through the checkout.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pytest
from r1_testing import REPO
from ros2_tools import sourced_env, tools_env

_PATH_VARS = ('PATH', 'PYTHONPATH', 'AMENT_PREFIX_PATH', 'CMAKE_PREFIX_PATH', 'LD_LIBRARY_PATH',
              'COLCON_PREFIX_PATH')


def without_checkout_install(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` minus the checkout's own install/ and source folder on the search paths."""
    out = dict(env)
    banned = (str(REPO / 'install'), str(REPO / 'build'))
    for var in _PATH_VARS:
        if var in out:
            parts = [p for p in out[var].split(os.pathsep)
                     if p and not p.startswith(banned) and p != str(REPO)]
            if parts:
                out[var] = os.pathsep.join(parts)
            else:
                del out[var]
    return out


def plain_colcon_build(workspace: Path, env: Mapping[str, str]) -> Path:
    """``colcon build`` (copies, no symlinks) of this package into ``workspace``; the log on
    failure. Returns the install folder (``build/`` is beside it)."""
    workspace.mkdir(parents=True, exist_ok=True)
    venv = env.get('VIRTUAL_ENV', '')
    build_env = {**env, 'AMENT_PREFIX_PATH': env.get('AMENT_PREFIX_PATH', venv),
                 'CMAKE_PREFIX_PATH': env.get('CMAKE_PREFIX_PATH', venv)}
    # As the README types it (BUILD_TESTING on by default: `colcon test` can run the suite).
    cmd = ['colcon', '--log-base', str(workspace / 'log'), 'build', '--base-paths', str(REPO),
           '--build-base', str(workspace / 'build'), '--install-base',
           str(workspace / 'install'), '--event-handlers', 'console_cohesion-']
    proc = subprocess.run(cmd, cwd=workspace, env=build_env, capture_output=True, text=True,
                          timeout=1500)
    assert proc.returncode == 0, f'plain colcon build failed:\n{proc.stdout[-3000:]}' \
                                 f'\n{proc.stderr[-3000:]}'
    return workspace / 'install'


class UserShell:
    """Runs commands as typed in a shell with the ROS tools and the built workspace sourced.

    Args:
        env: The sourced environment.
        cwd: Working directory (outside the repository).
    """

    def __init__(self, env: Mapping[str, str], cwd: Path) -> None:
        self.env = dict(env)
        self.cwd = cwd
        self.background: list[tuple[subprocess.Popen, Path]] = []

    def run(self, *cmd: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
        """Run to completion; a timeout returns rc 124 with what was printed so far."""
        try:
            return subprocess.run(list(cmd), cwd=self.cwd, env=self.env, capture_output=True,
                                  text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors='replace') if isinstance(exc.stdout, bytes) else (
                exc.stdout or '')
            err = exc.stderr.decode(errors='replace') if isinstance(exc.stderr, bytes) else (
                exc.stderr or '')
            return subprocess.CompletedProcess(list(cmd), 124, out, err)

    def start(self, *cmd: str, log_name: str) -> tuple[subprocess.Popen, Path]:
        """Start in the background (own session, as a terminal's job); output to a log."""
        log_path = self.cwd / f'{log_name}.log'
        with open(log_path, 'w') as log:
            proc = subprocess.Popen(list(cmd), cwd=self.cwd, env=self.env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.background.append((proc, log_path))
        return proc, log_path

    def wait_until(self, check: Callable[[], bool], timeout_s: float,
                   period_s: float = 1.0) -> bool:
        """Poll ``check`` until true or the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(period_s)
        return check()

    def close(self) -> None:
        """Stop what is still running (SIGINT, then SIGKILL) and the CLI daemon."""
        for proc, _ in self.background:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        self.run('ros2', 'daemon', 'stop', timeout_s=30)


def user_shell(tmp_dir: Path, domain_id: int, install: Path | None = None,
               extra_tools: Sequence[str] = ()) -> UserShell:
    """A shell in ``tmp_dir/home`` with the tools (and ``install``) sourced, its own domain."""
    base = without_checkout_install(os.environ)
    base.update({'ROS_DOMAIN_ID': str(domain_id), 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                 'ROS_LOG_DIR': str(tmp_dir / 'ros_log'), 'PYTHONUNBUFFERED': '1',
                 'OMP_NUM_THREADS': '1', 'RCUTILS_COLORIZED_OUTPUT': '0'})
    env = tools_env(base, extra=extra_tools)
    if install is not None:
        env = sourced_env(install / 'setup.bash', env)
    home = tmp_dir / 'home'
    home.mkdir(parents=True, exist_ok=True)
    if str(home).startswith(str(REPO)):
        pytest.fail('the user shell must run outside the repository')
    return UserShell(env, home)


def launched_commands(launch_pid: int) -> dict[str, list[str]]:
    """Command lines of the nodes a running ``ros2 launch`` started: node name -> argv."""
    import psutil
    out = {}
    for child in psutil.Process(launch_pid).children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue
        names = [a.split(':=', 1)[1] for a in argv if a.startswith('__node:=')]
        if names:
            out[names[0]] = argv
    return out


def ros_arguments(argv: list[str]) -> tuple[list[str], list[str]]:
    """(``-r`` rules, ``--params-file`` paths) after ``--ros-args``."""
    args = argv[argv.index('--ros-args') + 1:]
    remaps, files = [], []
    for flag, value in zip(args, args[1:]):
        if flag == '-r':
            remaps.append(value)
        elif flag == '--params-file':
            files.append(value)
    return remaps, files


def _flatten(tree: dict, prefix: str = '') -> dict:
    out = {}
    for key, value in tree.items():
        name = f'{prefix}.{key}' if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


def effective_parameters(node_fqn: str, files: list[str]) -> dict:
    """A node's parameters from its ``--params-file`` files, for the key forms rcl matches
    (``/**``, ``/**/<name>``, ``<name>``, the fully qualified name, ``/<ns>: {<name>: ...}``)."""
    import yaml
    ns, name = node_fqn.rsplit('/', 1)
    out = {}
    for path in files:
        data = yaml.safe_load(Path(path).read_text()) or {}
        nested = data.get(ns or '/', {}) if isinstance(data.get(ns or '/'), dict) else {}
        for block in (data.get('/**'), data.get(f'/**/{name}'), data.get(name),
                      data.get(node_fqn), nested.get(name)):
            if isinstance(block, dict):
                out.update(_flatten(block.get('ros__parameters', {})))
    return out
