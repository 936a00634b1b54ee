"""scripts/setup.sh stops early with a clear message on an unsupported platform, and is a no-op
when everything is already installed and built."""
import os
import stat
import subprocess
from pathlib import Path

import pytest
from r1_testing import REPO

SETUP = REPO / 'scripts' / 'setup.sh'


def _shim(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f'#!/bin/sh\n{body}\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _run(env_extra: dict[str, str], path_prefix: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    if path_prefix is not None:
        env['PATH'] = f'{path_prefix}:{env["PATH"]}'
    return subprocess.run(['bash', str(SETUP)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)


def test_unsupported_python_version_is_refused(tmp_path):
    _shim(tmp_path, 'python3.9', 'echo 3.9')
    res = _run({'PYTHON': 'python3.9'}, tmp_path)
    assert res.returncode != 0
    assert 'Python 3.9 is not supported' in res.stderr and '3.10-3.14' in res.stderr


def test_non_x86_64_machine_is_refused(tmp_path):
    _shim(tmp_path, 'uname', 'echo aarch64')
    res = _run({}, tmp_path)
    assert res.returncode != 0 and 'x86_64 only' in res.stderr


def test_missing_python_is_reported(tmp_path):
    res = _run({'PYTHON': 'no-such-python-robot-r1'})
    assert res.returncode != 0 and "no 'no-such-python-robot-r1' on PATH" in res.stderr


@pytest.mark.slow
def test_second_setup_run_is_a_quick_no_op():
    # The suite itself was started by scripts/test.sh after a set-up, so this is a second run.
    if not (REPO / '.venv' / '.robot_r1_requirements.sha256').exists():
        pytest.skip('set-up has not run in this checkout (run via scripts/test.sh)')
    res = _run({})
    assert res.returncode == 0, res.stderr
    # The requirements stamp matched, so pip was not run again (its timing is in the README).
    assert 'requirements up to date' in res.stdout
    assert 'installing requirements' not in res.stdout
