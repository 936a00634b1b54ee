"""The README's full-ROS block ("Using it with a full ROS 2 install"), run LITERALLY in one bash
session, as a user with a system ROS 2 install types it, and the output that user sees checked.

The system install is a stand-in built from the PyPI wheels by ``scripts/ros_system_standin.sh``:
the ROS 2 wheels only (requirements/ros.txt, or ros-jazzy.txt under ROBOT_R1_ROS_DISTRO=jazzy),
colcon, and the real launch/ros2cli/control_msgs/franka_msgs built from the vendored source. It
has no torch, transformers or MuJoCo, so the block's own ``pip install`` lines must bring every
Python dependency. The block's commands run unchanged except for these substitutions, each
asserted to have happened:

- ``/opt/ros/jazzy/setup.bash`` (``# or kilted``) -> the stand-in's ``setup.bash``: Kilted, or
  Jazzy with ROBOT_R1_ROS_DISTRO=jazzy. CI runs it once, on Kilted (this file is not among the
  Jazzy stage's tests; ``ROBOT_R1_ROS_DISTRO=jazzy python -m pytest test/test_readme_ros_block.py``
  runs the Jazzy form);
- ``<this repo>`` -> this checkout (``git clone`` of it: its committed HEAD);
- ``~`` -> ``HOME`` set to a folder under ``~/.cache/robot_r1_ros/readme_home/``, keyed by the
  block's pip lines, the requirement files, the Python version and the stand-in. Its
  ``~/robot_r1_venv`` persists between runs, so a second run's ``pip install`` only finds
  everything satisfied; ``~/ros2_ws`` and ``~/.ros`` are fresh each run (``git clone`` into an
  existing folder fails);
- ``ros2 launch ...`` runs in the background (its own process group, as a terminal job) until the
  end of the session, then gets SIGINT as from Ctrl-C; ``ros2 topic echo ...`` runs until the
  first OK prediction has printed (typed again while the topic is not known yet), then SIGINT;
  ``ros2 action send_goal ...`` gets a 240 s timeout.

The environment is the caller's minus everything the repository's set-up adds (its venv, the ROS
and tools variables, MUJOCO_GL, HF_HUB_OFFLINE, ...), with ``python3`` the OS interpreter
(/usr/bin/python3, as on the Ubuntu the README targets; see _system_python_path), a private
ROS_DOMAIN_ID and
loopback-only discovery (this machine's DDS policy) and OMP_NUM_THREADS=1 (shared CPU). pip keeps
the machine's own configuration: PIP_* variables and the real user's pip.conf (PIP_CONFIG_FILE),
which on this machine is what resolves the ``torch==2.13.0`` pin of requirements/ml.txt to the
local CPU wheel (as for scripts/setup.sh); and the real pip cache (PIP_CACHE_DIR).
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from r1_testing import IN_CI, REPO, readme_ros_commands
from ros2_tools import LAUNCH_TIMEOUT_S, assert_clean_exit, echo_yaml, vendor_root

from robot_r1_ros.core.paths import shipped_model_id

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(2400)]
STANDIN = REPO / 'scripts' / 'ros_system_standin.sh'
HARNESS = Path(__file__).with_name('readme_block_harness.sh')
_DROP = re.compile(r'^(VIRTUAL_ENV|PYTHONPATH|PYTHONHOME|LD_LIBRARY_PATH|AMENT_.*|COLCON_.*|'
                   r'CMAKE_PREFIX_PATH|ROS_.*|RMW_.*|ROBOT_R1_.*|_ROS_WHEELS_.*|MUJOCO_GL|'
                   r'PYOPENGL_PLATFORM|HF_.*|TRANSFORMERS_.*|TOKENIZERS_.*|PYTEST_.*|COVERAGE_.*|'
                   r'FASTDDS_.*|OLDPWD|PWD)$')


def _distro() -> str:
    if os.environ.get('ROBOT_R1_ROS_DISTRO', 'kilted') == 'jazzy':
        return 'jazzy'
    return 'kilted'


def _cache_root() -> Path:
    return Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'robot_r1_ros'


def _standin_prefix() -> Path:
    if not vendor_root().is_dir():
        msg = f'no vendored ROS 2 tools at {vendor_root()} (the stand-in needs launch/ros2cli)'
        if IN_CI:
            pytest.fail(f'CI=true and the ROS 2 tools are unavailable: {msg}')
        pytest.skip(msg)
    env = {k: v for k, v in os.environ.items() if not _DROP.match(k)}
    env.update(PATH=_system_python_path(), ROBOT_R1_ROS2_TOOLS_SRC=str(vendor_root()))
    proc = subprocess.run(['bash', str(STANDIN), '--distro', _distro()], env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, f'stand-in build failed (rc {proc.returncode}):\n' \
                                 f'{proc.stderr[-3000:]}'
    return Path(proc.stdout.strip().splitlines()[-1])


def _user_path() -> str:
    """PATH without this checkout, its venv, the tools overlays and any sourced ROS prefix."""
    banned = [str(REPO), str(_cache_root())] + [
        p for var in ('VIRTUAL_ENV', 'AMENT_PREFIX_PATH', 'COLCON_PREFIX_PATH')
        for p in os.environ.get(var, '').split(os.pathsep) if p]
    return os.pathsep.join(p for p in os.environ.get('PATH', '').split(os.pathsep)
                           if p and not any(p == b or p.startswith(b + os.sep) for b in banned))


def _system_python_path() -> str:
    """PATH with ``python3`` = the OS interpreter (a stable symlink folder first on PATH).

    The README targets Ubuntu, whose ``python3`` is the system one; a ``--system-site-packages``
    venv of it sees only apt's Python packages. This machine's first ``python3`` is a pyenv build
    with ~100 pip packages in its base (sympy, jinja2, networkx, ...) that would hide a missing
    requirement. ROBOT_R1_README_PYTHON overrides the choice."""
    chosen = os.environ.get('ROBOT_R1_README_PYTHON', '/usr/bin/python3')
    ok = Path(chosen).is_file() and subprocess.run(
        [chosen, '-c', 'import venv, ensurepip'], capture_output=True).returncode == 0
    if not ok:
        return _user_path()
    folder = _cache_root() / 'readme_home' / 'system-python'
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / 'python3'
    if not link.is_symlink() or os.readlink(link) != chosen:
        link.unlink(missing_ok=True)
        link.symlink_to(chosen)
    return os.pathsep.join([str(folder), _user_path()])


def _user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not _DROP.match(k)}
    domain = 10 + (int(os.environ.get('ROS_DOMAIN_ID', '42')) + 53) % 90
    env.update(PATH=_system_python_path(), HOME=str(home), ROS_DOMAIN_ID=str(domain),
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', OMP_NUM_THREADS='1',
               PYTHONUNBUFFERED='1', RCUTILS_COLORIZED_OUTPUT='0')
    real_home = Path.home()
    for conf in (real_home / '.config' / 'pip' / 'pip.conf', real_home / '.pip' / 'pip.conf'):
        if 'PIP_CONFIG_FILE' not in env and conf.is_file():
            env['PIP_CONFIG_FILE'] = str(conf)
    env.setdefault('PIP_CACHE_DIR', str(Path(os.environ.get('XDG_CACHE_HOME')
                                             or real_home / '.cache') / 'pip'))
    return env


def literal_script(commands: list[str], standin_setup: Path, repo: Path) -> str:
    """The block as one bash session: each command verbatim but for the documented
    substitutions (each asserted), long-running ones wrapped by the harness functions."""
    subs = {'/opt/ros/jazzy/setup.bash': shlex.quote(str(standin_setup)),
            '<this repo>': shlex.quote(str(repo))}
    done = dict.fromkeys(subs, 0)
    lines = [f'source {shlex.quote(str(HARNESS))}']
    for i, command in enumerate(commands, 1):
        literal = command
        for old, new in subs.items():
            done[old] += literal.count(old)
            literal = literal.replace(old, new)
        if command.startswith('ros2 launch '):
            run = f'r1_launch {literal}'
        elif command.startswith('ros2 topic echo '):
            run = f'r1_echo_until_ok {literal}'
        elif command.startswith('ros2 action send_goal '):
            run = f'timeout -s INT 240 {literal}'
        else:
            run = literal
        lines += [f'r1_begin {i} {shlex.quote(command)}', run, 'r1_end $?']
    assert all(done.values()), f'substitutions that did not happen: {done}'
    assert any(c.startswith('ros2 launch ') for c in commands)
    assert any('~' in c for c in commands)       # resolved by HOME
    return '\n'.join(lines + ['r1_finish', ''])


def _home(standin: Path, commands: list[str]) -> Path:
    """HOME for the run: keyed by what decides ~/robot_r1_venv; other keys' folders removed."""
    digest = hashlib.sha256()
    for command in commands:
        if command.startswith(('pip ', 'python3 -m venv')):
            digest.update(command.encode())
    for req in ('ml.txt', 'sim.txt'):
        digest.update((REPO / 'requirements' / req).read_bytes())
    digest.update(f'{os.path.realpath(shutil.which("python3", path=_system_python_path()))} '
                  f'{standin.name}'.encode())
    root = _cache_root() / 'readme_home'
    home = root / f'{_distro()}-{digest.hexdigest()[:16]}'
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob(f'{_distro()}-*'):
        if old.is_dir() and old != home:
            with open(old.parent / f'{old.name}.lock', 'w') as lock:
                try:                        # not while another run uses it
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue
                shutil.rmtree(old, ignore_errors=True)
    home.mkdir(exist_ok=True)
    for fresh in ('ros2_ws', '.ros'):
        shutil.rmtree(home / fresh, ignore_errors=True)
    return home


@pytest.fixture(scope='module')
def session(tmp_path_factory) -> dict:
    """Runs the block: {'out', 'rc', 'sections': {i: (command, output, rc)}, 'commands',
    'launch' (the launch's output)}; the logs stay in the test's tmp folder."""
    commands = readme_ros_commands()
    standin = _standin_prefix()
    home = _home(standin, commands)
    logs = tmp_path_factory.mktemp('readme_block')
    script = logs / 'block.sh'
    script.write_text(literal_script(commands, standin / 'setup.bash', REPO))
    with open(home.parent / f'{home.name}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = _user_env(home)
        env['R1_LOGS'] = str(logs)
        env['R1_LAUNCH_TIMEOUT_S'] = str(int(LAUNCH_TIMEOUT_S) + 10)
        with open(logs / 'session.log', 'w') as log:
            # (SIGINT as in a terminal: conftest.py handles it here, so it is not ignored)
            proc = subprocess.Popen(['bash', str(script)], cwd=home, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
            try:
                rc = proc.wait(1500)
            except subprocess.TimeoutExpired:
                proc.terminate()             # the harness stops the launch on its way out
                rc = proc.wait(120)
    out = (logs / 'session.log').read_text(errors='replace')
    sections = {}
    for m in re.finditer(r'^@@@ (\d+) \$ ([^\n]*)\n(.*?)^@@@ rc (\d+)$', out, re.M | re.S):
        sections[int(m.group(1))] = (m.group(2), m.group(3), int(m.group(4)))
    launch_log = logs / 'launch.log'
    result = {'out': out, 'rc': rc, 'sections': sections, 'commands': commands,
              'launch': launch_log.read_text(errors='replace') if launch_log.exists() else ''}
    sys.stderr.write(f'[readme block] session log: {logs / "session.log"}\n')
    return result


def _section(session: dict, prefix: str) -> tuple[str, str, int]:
    for command, output, rc in session['sections'].values():
        if command.startswith(prefix):
            return command, output, rc
    pytest.fail(f'no command {prefix!r} ran:\n{session["out"][-5000:]}')


def test_every_command_of_the_block_ran_and_succeeded(session):
    assert session['rc'] == 0, session['out'][-6000:]
    assert len(session['sections']) == len(session['commands'])
    for i, (command, output, rc) in sorted(session['sections'].items()):
        assert rc == 0, f'{i}: {command} -> rc {rc}\n{output[-4000:]}'


def _requirement_names() -> set[str]:
    names = set()
    for req in ('ml.txt', 'sim.txt'):
        for line in (REPO / 'requirements' / req).read_text().splitlines():
            if line.strip() and not line.startswith('#'):
                names.add(re.split(r'[=<>~! ]', line.strip(), 1)[0].lower())
    return names


def test_pip_lines_bring_every_python_dependency(session):
    _, output, rc = _section(session, 'pip install -r ')
    assert rc == 0, output[-4000:]
    errors = [ln for ln in output.splitlines() if ln.startswith('ERROR')]
    # pip's resolver notice may list conflicts of what the ROS install put on PYTHONPATH (the
    # stand-in: colcon-core's setuptools pin, launch-ros's egg-info naming ament_index_python
    # where the wheel is ros-ament-index-python); none may be of the README's requirements.
    assert all(e.startswith("ERROR: pip's dependency resolver") for e in errors), errors
    conflicts = re.findall(r'^(\S+) \S+ requires (.*)$', output, re.M)
    ours = [c for c in conflicts if c[0].lower() in _requirement_names()]
    assert not ours, ours
    # the venv's torch: the CPU build of the pin (no CUDA download)
    assert re.search(r'^@@@ torch 2\.13\.0\+cpu$', session['out'], re.M), session['out'][-3000:]
    _, output, _ = _section(session, 'pip install --no-deps dm-robotics-panda')
    assert 'ERROR' not in output, output[-3000:]


def test_colcon_build_succeeds(session):
    _, output, rc = _section(session, 'colcon build')
    assert rc == 0 and re.search(r'Summary: 1 package finished', output), output[-4000:]


def test_launch_brings_up_sim_reasoning_and_executor_from_home(session):
    launch = session['launch']
    for node in ('sim_node', 'reasoning_node', 'executor_node'):
        assert re.search(rf'\[INFO\] \[{node}-\d+\]: process started', launch), launch[-4000:]
    assert 'active: predicting' in launch, launch[-4000:]
    assert 'not found' not in launch, launch[-4000:]


def test_topic_echo_prints_an_ok_prediction_of_the_shipped_model(session):
    _, output, rc = _section(session, 'ros2 topic echo ')
    assert rc == 0, output[-3000:]
    # typed once: with the type argument echo waits for the node (without it, echo typed before
    # the node is up exits with "does not appear to be published yet"; the harness would retype)
    assert 'typed again' not in output, output[-3000:]
    printed = output.rsplit('typed again)\n', 1)[-1]
    messages = [m for m in printed.split('\n---') if re.search(r'^status: 1$', m, re.M)]
    assert messages, output[-3000:]
    msg = echo_yaml(messages[0].strip('\n-') + '\n')
    assert msg['model_id'] == shipped_model_id()
    assert msg['header']['frame_id'] == 'panda_link0' and msg['task'] and msg['reasoning']


def test_action_send_goal_streams_feedback_and_succeeds(session):
    _, output, rc = _section(session, 'ros2 action send_goal ')
    assert rc == 0, output[-3000:]
    assert 'Goal accepted' in output, output[-3000:]
    assert re.search(r'Feedback:\s*\n\s*reasoning: ', output), output[-3000:]
    assert 'Goal finished with status: SUCCEEDED' in output, output[-3000:]
    assert 'task: stack the cubes' in output, output[-3000:]


def test_sigint_ends_the_launch_cleanly(session):
    m = re.search(r'^@@@ launch rc (\d+) after SIGINT$', session['out'], re.M)
    assert m and m.group(1) == '0', session['launch'][-4000:]
    assert_clean_exit(session['launch'], ('sim_node', 'reasoning_node', 'executor_node'))
