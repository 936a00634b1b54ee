"""The real ROS 2 tools (``ros2 launch/topic/param/action/lifecycle``) for tests.

PyPI has no launch/launch_ros/ros2cli: ``scripts/ros2_tools_overlay.sh`` builds them from the
vendored upstream source (``ROBOT_R1_ROS2_TOOLS_SRC``, default ``<repo>/../shared/vendor/ros2``)
into an overlay cached outside the clone. :func:`tools_env` returns an environment with that
overlay sourced on top of the caller's, so tests run the commands as a user types them.

Without the vendored source the tests skip with the reason, except under ``CI=true``, where
they fail (``.ci/run`` sets ``ROBOT_R1_ROS2_TOOLS_SRC`` when ../shared/vendor/ros2 exists).

Usage::

    from ros2_tools import tools_env
    env = tools_env(base_env)                                  # default tools
    env = tools_env(base_env, extra=('control_msgs', 'franka_msgs'))  # + interface packages

Also what their output tests share: :func:`echo_yaml` (``ros2 topic echo``),
:func:`assert_clean_exit` and ``LAUNCH_TIMEOUT_S`` (``ros2 launch`` after SIGINT).
"""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Mapping, Sequence

import pytest
from r1_testing import IN_CI, REPO

SCRIPT = REPO / 'scripts' / 'ros2_tools_overlay.sh'
# launch: SIGINT, then SIGTERM after sigterm_timeout (STOP_TIMEOUT_S), then SIGKILL 5 s later
LAUNCH_TIMEOUT_S = 25.0
_cache: dict[tuple, str] = {}


def vendor_root() -> Path:
    """The folder holding ``rolling/`` and ``jazzy/`` (it may not exist)."""
    value = os.environ.get('ROBOT_R1_ROS2_TOOLS_SRC', '')
    return Path(value) if value else REPO.parent / 'shared' / 'vendor' / 'ros2'


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f'CI=true and the ROS 2 tools are unavailable: {reason}')
    pytest.skip(reason)


def overlay_prefix(extra: Sequence[str] = (), distro: str | None = None) -> str:
    """Build (or reuse) the tools overlay and return its prefix (skip/fail as documented)."""
    root = vendor_root()
    if not root.is_dir():
        _missing(f'no vendored ROS 2 tools at {root} (set ROBOT_R1_ROS2_TOOLS_SRC to the folder '
                 'holding rolling/ and jazzy/)')
    key = (str(root), tuple(extra), distro)
    if key not in _cache:
        cmd = ['bash', str(SCRIPT)]
        if distro:
            cmd += ['--distro', distro]
        if extra:
            cmd += ['--with', ' '.join(extra)]
        env = dict(os.environ, ROBOT_R1_ROS2_TOOLS_SRC=str(root))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
        if proc.returncode == 3:
            _missing(proc.stderr.strip())
        if proc.returncode != 0:
            pytest.fail(f'building the ROS 2 tools overlay failed (rc {proc.returncode}):\n'
                        f'{proc.stderr[-3000:]}')
        _cache[key] = proc.stdout.strip().splitlines()[-1]
    return _cache[key]


def sourced_env(setup_bash: str | Path, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` after ``source <setup_bash>`` (as a user's shell would have it)."""
    proc = subprocess.run(
        ['bash', '-c', f'set +u; source "{setup_bash}" >/dev/null && env -0'],
        env=dict(base), capture_output=True, timeout=120)
    if proc.returncode != 0:
        pytest.fail(f'sourcing {setup_bash} failed: {proc.stderr.decode(errors="replace")}')
    env = {}
    for item in proc.stdout.split(b'\0'):
        if b'=' in item:
            key, _, value = item.decode(errors='replace').partition('=')
            env[key] = value
    return env


def tools_env(base: Mapping[str, str] | None = None, extra: Sequence[str] = (),
              distro: str | None = None) -> dict[str, str]:
    """``base`` (default ``os.environ``) with the tools overlay sourced on top."""
    prefix = overlay_prefix(extra, distro)
    env = sourced_env(Path(prefix) / 'setup.bash', os.environ if base is None else base)
    env['ROBOT_R1_ROS2_TOOLS_OVERLAY'] = prefix
    return env


def echo_yaml(text: str) -> dict:
    """The first message of `ros2 topic echo` output, without the tool's notices (Jazzy's echo
    prints 'A message was lost!!!' and a tab-indented count when DDS reports a lost sample)."""
    import yaml
    lines = text.split('\n---')[0].splitlines()
    kept = [ln for ln in lines if not ln.startswith(('A message was lost', '\ttotal count'))]
    return yaml.safe_load('\n'.join(kept))


def assert_clean_exit(out: str, nodes: Sequence[str]) -> None:
    """`ros2 launch` output: each node's process finished cleanly, nothing escalated."""
    for node in nodes:
        assert re.search(rf'\[INFO\] \[{node}-\d+\]: process has finished cleanly', out), \
            f'{node} did not exit cleanly:\n{out[-4000:]}'
    assert 'escalating to' not in out and 'SIGKILL' not in out, out[-4000:]
