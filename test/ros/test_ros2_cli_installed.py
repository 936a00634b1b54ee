"""The design card's commands, typed as a user types them, with the REAL ``ros2`` tools (launch,
topic, action, param, lifecycle; built from the vendored upstream source) against a plain
(non-symlink) ``colcon build`` of this package, from a directory outside the repository.

One ``ros2 launch robot_r1_ros franka.launch.py`` (default arguments: sim + the shipped checkpoint,
found in the installed share folder) serves the command tests in order; a second launch checks the
argument forms ``use_sim:=True model:=... backend:=direct`` in another namespace, a third
``namespace:=''``. Each ends with SIGINT to ``ros2 launch``. Runs with the Kilted wheels (.venv)
and the Jazzy ones (``ROBOT_R1_ROS_DISTRO=jazzy``, .venv-jazzy) alike.
"""
from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import time

import pytest
from r1_testing import require_ros_interfaces
from ros2_tools import LAUNCH_TIMEOUT_S, assert_clean_exit, echo_yaml
from ros2_user import (UserShell, effective_parameters, launched_commands, plain_colcon_build,
                       ros_arguments, user_shell)

from robot_r1_ros.core.paths import shipped_model_id

_domains = itertools.count()
SCRIPTED = 'scripted:valid?xyz=0.1,0.05,0.2&gripper=open&delay_s=0.2&chunk_chars=4'


def _domain() -> int:
    return 10 + (int(os.environ.get('ROS_DOMAIN_ID', '42')) + 37 + next(_domains)) % 90


@pytest.fixture(scope='module')
def install(tmp_path_factory):
    """A plain colcon build of the package (the README's ROS section: no --symlink-install)."""
    require_ros_interfaces()
    from ros2_user import without_checkout_install
    from ros2_tools import tools_env
    root = tmp_path_factory.mktemp('ws')
    env = tools_env(without_checkout_install(os.environ))   # skip/fail early without the tools
    return plain_colcon_build(root, env)


def _echo_once(sh: UserShell, topic: str, timeout_s: float = 60.0) -> dict:
    """``ros2 topic echo --once <topic>`` parsed (the YAML the user sees)."""
    for _ in range(3):   # right after the CLI daemon starts it may not know the topic yet
        out = sh.run('ros2', 'topic', 'echo', '--once', topic, timeout_s=timeout_s)
        if out.returncode == 0 and out.stdout.strip():
            break
        time.sleep(2.0)
    assert out.returncode == 0, f'rc {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}'
    return echo_yaml(out.stdout)


def _declared_parameters() -> dict[str, set[str]]:
    from robot_r1_ros.ros import executor_params, reasoning_params
    from robot_r1_ros.ros.sim_node import DEFAULTS as SIM_DEFAULTS
    return {'executor_node': {p.name for p in executor_params.PARAMETERS} | {'use_sim_time'},
            'reasoning_node': {p.name for p in reasoning_params.PARAMETERS} | {'use_sim_time'},
            'sim_node': set(SIM_DEFAULTS) | {'use_sim_time'}}


def _assert_launch_matches_bringup(launch_pid: int, values: dict[str, str], workdir) -> None:
    """The processes the real launch started == what `robot-r1 bringup` starts for the same
    arguments: executable, node name, namespace, remappings and effective parameters (read
    from the parameter files launch wrote); and no parameter a node does not declare."""
    from robot_r1_ros.ros.bringup import plan_processes
    from robot_r1_ros.ros.system import describe_system

    launched = launched_commands(launch_pid)
    _, launch_files = ros_arguments(next(iter(launched.values())))
    nodes = describe_system(**{**values, 'params_file': launch_files[0]})
    plans = plan_processes(nodes, str(workdir))
    assert sorted(launched) == sorted(p.node.name for p in plans), launched
    declared = _declared_parameters()
    for plan in plans:
        argv = launched[plan.node.name]
        assert any(a.endswith(f'lib/robot_r1_ros/{plan.node.executable}') for a in argv), argv
        remaps_l, files_l = ros_arguments(argv)
        remaps_b, files_b = ros_arguments(list(plan.cmd))
        assert sorted(r for r in remaps_l if not r.startswith('__ns')) == \
            sorted(r for r in remaps_b if not r.startswith('__ns')), (argv, plan.cmd)
        fqn = plan.node.fully_qualified_name
        params = effective_parameters(fqn, files_l)
        assert params == effective_parameters(fqn, files_b), fqn
        ignored = sorted(set(params) - declared[plan.node.name])
        assert not ignored, f'{fqn} would ignore {ignored}'


def _wait_ok_prediction(sh: UserShell, topic: str, timeout_s: float, logs) -> dict:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        out = sh.run('ros2', 'topic', 'echo', '--once', topic,
                     timeout_s=max(5.0, deadline - time.monotonic()))
        if out.returncode == 0 and out.stdout.strip():
            last = echo_yaml(out.stdout)
            if last['status'] == 1:                   # KeypointPrediction.STATUS_OK
                return last
        else:
            time.sleep(1.0)
    pytest.fail(f'no OK prediction on {topic} in {timeout_s} s (last: {last})\n{logs()}')


def _stop_launch(proc: subprocess.Popen, log_path) -> str:
    """SIGINT to `ros2 launch` (as Ctrl-C does); returns its output."""
    proc.send_signal(signal.SIGINT)
    try:
        rc = proc.wait(LAUNCH_TIMEOUT_S + 10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f'ros2 launch still running after SIGINT\n{log_path.read_text()[-4000:]}')
    out = log_path.read_text()
    assert rc == 0, f'ros2 launch exited {rc}\n{out[-4000:]}'
    return out


@pytest.fixture(scope='module')
def default_launch(install, tmp_path_factory):
    """`ros2 launch robot_r1_ros franka.launch.py` from a directory outside the repository."""
    sh = user_shell(tmp_path_factory.mktemp('user'), _domain(), install)
    proc, log = sh.start('ros2', 'launch', 'robot_r1_ros', 'franka.launch.py',
                         log_name='launch_default')
    sh.launch, sh.launch_log = proc, log   # type: ignore[attr-defined]
    sh.logs = lambda: log.read_text()[-5000:]  # type: ignore[attr-defined]
    try:
        yield sh
    finally:
        sh.close()


def test_1_launch_and_topic_echo_show_an_ok_prediction_from_the_shipped_model(default_launch):
    sh = default_launch
    msg = _wait_ok_prediction(sh, '/robot_r1/next_keypoint', 240.0, sh.logs)
    assert msg['header']['frame_id'] == 'panda_link0'
    assert msg['model_id'] == shipped_model_id()
    assert msg['task'] and msg['reasoning']
    log = sh.launch_log.read_text()
    # the checkpoint came from the installed share folder (the cwd has none)
    assert not (sh.cwd / 'checkpoints').exists()
    assert 'not found' not in log, log[-3000:]
    _assert_launch_matches_bringup(sh.launch.pid, {}, sh.cwd)


def _pub_task(sh: UserShell, task: str) -> None:
    """`ros2 topic pub --once /robot_r1/task ...` until the node logs the new task.

    `--once` publishes as soon as the publisher sees the subscription and exits 0.1 s later
    (--keep-alive), which on a loaded machine can be before the node has matched the new
    publisher (ros2cli behaviour; the sample is then lost): typed again up to three times, as a
    user would. With the old transient-local-only subscription no try ever arrives."""
    seen = sh.launch_log.read_text().count(f"task: '{task}'")
    for _ in range(3):
        out = sh.run('ros2', 'topic', 'pub', '--once', '/robot_r1/task', 'std_msgs/msg/String',
                     f'{{data: "{task}"}}', timeout_s=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert 'publishing #1' in out.stdout
        if sh.wait_until(lambda: sh.launch_log.read_text().count(f"task: '{task}'") > seen,
                         20.0):
            return
    pytest.fail(f'the task never reached the node\n{sh.logs()}')


def test_2_topic_pub_once_changes_the_task(default_launch):
    sh = default_launch
    original = _echo_once(sh, '/robot_r1/next_keypoint')['task']
    task = 'push the red cube to the left'
    _pub_task(sh, task)
    assert sh.wait_until(lambda: _echo_once(sh, '/robot_r1/next_keypoint')['task'] == task,
                         120.0), sh.logs()
    _pub_task(sh, original)   # back to the task the shipped model was trained on


def test_3_action_send_goal_streams_reasoning_as_feedback(default_launch):
    sh = default_launch
    out = sh.run('ros2', 'action', 'send_goal', '/robot_r1/predict_keypoint',
                 'robot_r1_ros/action/PredictKeypoint', '{task: "pick up the red cube"}',
                 '--feedback', timeout_s=180)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'Goal accepted' in out.stdout
    feedback = re.findall(r'Feedback:\s*\n\s*reasoning: (.*)\n\s*tokens: (\d+)', out.stdout)
    assert len(feedback) >= 2, out.stdout[-3000:]
    tokens = [int(t) for _, t in feedback]
    assert tokens == sorted(tokens) and tokens[-1] > tokens[0]
    assert 'Goal finished with status: SUCCEEDED' in out.stdout
    assert 'task: pick up the red cube' in out.stdout


def test_4_param_set_is_applied_or_refused_with_the_reason(default_launch):
    sh = default_launch
    node = '/robot_r1/executor_node'
    out = sh.run('ros2', 'param', 'set', node, 'dry_run', 'true')
    assert out.returncode == 0 and 'Set parameter successful' in out.stdout, out.stdout + out.stderr
    assert 'Boolean value is: True' in sh.run('ros2', 'param', 'get', node, 'dry_run').stdout
    # applied: the executor reports dry run (at once, even if the model's answers are being
    # rejected) and then validates without moving: its executed count stays put
    assert sh.wait_until(
        lambda: _echo_once(sh, '/robot_r1/executor_state')['dry_run'] is True, 60.0), sh.logs()
    before = _echo_once(sh, '/robot_r1/executor_state')
    assert sh.wait_until(lambda: _echo_once(sh, '/robot_r1/executor_state')['received_count']
                         > before['received_count'], 120.0), sh.logs()
    after = _echo_once(sh, '/robot_r1/executor_state')
    assert after['executed_count'] == before['executed_count'], (before, after, sh.logs())
    assert 'dry run' in after['reason'] or after['state'] == 4, after   # 4: STATE_REJECTED
    out = sh.run('ros2', 'param', 'set', node, 'backend', 'moveit')
    shown = out.stdout + out.stderr   # the CLI prints failures on stderr
    assert 'Setting parameter failed: backend: read at start-up' in shown, shown
    assert 'String value is: direct' in sh.run('ros2', 'param', 'get', node, 'backend').stdout
    out = sh.run('ros2', 'param', 'set', node, 'on_new_goal', 'sometimes')
    shown = out.stdout + out.stderr
    assert 'Setting parameter failed: parameter on_new_goal' in shown, shown
    out = sh.run('ros2', 'param', 'set', '/robot_r1/reasoning_node', 'generation.max_new_tokens',
                 '64')
    shown = out.stdout + out.stderr
    assert 'Setting parameter failed: generation.max_new_tokens: parameters are read on ' \
           'configure' in shown, shown


def test_5_lifecycle_deactivate_stops_predictions(default_launch):
    sh = default_launch
    node = '/robot_r1/reasoning_node'
    assert sh.run('ros2', 'lifecycle', 'get', node).stdout.startswith('active')
    out = sh.run('ros2', 'lifecycle', 'set', node, 'deactivate', timeout_s=60)
    assert out.returncode == 0 and 'Transitioning successful' in out.stdout, out.stdout + out.stderr
    assert sh.run('ros2', 'lifecycle', 'get', node).stdout.startswith('inactive')
    quiet = sh.run('ros2', 'topic', 'echo', '/robot_r1/next_keypoint',
                   'robot_r1_ros/msg/KeypointPrediction', '--field', 'status', timeout_s=12)
    assert quiet.returncode == 124 and quiet.stdout.strip() == '', quiet.stdout[-2000:]


def test_6_sigint_to_launch_ends_every_node_cleanly(default_launch):
    out = _stop_launch(default_launch.launch, default_launch.launch_log)
    assert_clean_exit(out, ('sim_node', 'reasoning_node', 'executor_node'))


def test_launch_arguments_use_sim_true_model_backend_in_another_namespace(install,
                                                                         tmp_path_factory):
    """`use_sim:=True` (any case) is accepted, and a namespace other than robot_r1 gets the
    sim's task."""
    sh = user_shell(tmp_path_factory.mktemp('user'), _domain(), install)
    try:
        proc, log = sh.start('ros2', 'launch', 'robot_r1_ros', 'franka.launch.py', 'use_sim:=True',
                             f'model:={SCRIPTED}', 'backend:=direct', 'namespace:=arm2',
                             log_name='launch_args')
        msg = _wait_ok_prediction(sh, '/arm2/next_keypoint', 180.0,
                                  lambda: log.read_text()[-5000:])
        assert msg['model_id'] == SCRIPTED
        # the sim's task (pick_place in config/franka.yaml) reached /arm2
        assert 'yellow zone' in msg['task']
        assert _echo_once(sh, '/arm2/task')['data'] == msg['task']
        _assert_launch_matches_bringup(proc.pid, {'use_sim': 'True', 'model': SCRIPTED,
                                                  'backend': 'direct', 'namespace': 'arm2'},
                                       sh.cwd)
        assert_clean_exit(_stop_launch(proc, log), ('sim_node', 'reasoning_node',
                                                     'executor_node'))
    finally:
        sh.close()


def test_launch_in_the_root_namespace_matches_bringup(install, tmp_path_factory):
    """`namespace:=/` (ros2 launch refuses an empty `namespace:=`, as the test shows) places
    the nodes in the root namespace, as `robot-r1 bringup franka namespace:=/` does."""
    sh = user_shell(tmp_path_factory.mktemp('user'), _domain(), install)
    try:
        empty = sh.run('ros2', 'launch', 'robot_r1_ros', 'franka.launch.py', 'namespace:=')
        assert empty.returncode != 0
        assert "malformed launch argument 'namespace:='" in empty.stdout + empty.stderr
        proc, log = sh.start('ros2', 'launch', 'robot_r1_ros', 'franka.launch.py', 'namespace:=/',
                             f'model:={SCRIPTED}', log_name='launch_root')
        msg = _wait_ok_prediction(sh, '/next_keypoint', 180.0, lambda: log.read_text()[-5000:])
        assert 'yellow zone' in msg['task']
        nodes = set(sh.run('ros2', 'node', 'list').stdout.split())
        assert {'/sim_node', '/reasoning_node', '/executor_node'} <= nodes, nodes
        for value in ('/', "''"):
            printed = sh.run('robot-r1', 'bringup', 'franka', f'namespace:={value}',
                             f'model:={SCRIPTED}', '--print')
            assert printed.returncode == 0, printed.stderr
            for name in ('sim_node', 'reasoning_node', 'executor_node'):
                assert f'__node:={name}' in printed.stdout
            assert '__ns:=' not in printed.stdout   # bringup: the root namespace too
        _assert_launch_matches_bringup(proc.pid, {'namespace': '/', 'model': SCRIPTED}, sh.cwd)
        assert_clean_exit(_stop_launch(proc, log), ('sim_node', 'reasoning_node',
                                                     'executor_node'))
    finally:
        sh.close()


def test_show_args_lists_every_argument_with_default_and_description(install, tmp_path_factory):
    from robot_r1_ros.ros.system import LAUNCH_ARGUMENTS
    sh = user_shell(tmp_path_factory.mktemp('user'), _domain(), install)
    try:
        out = sh.run('ros2', 'launch', 'robot_r1_ros', 'franka.launch.py', '--show-args')
    finally:
        sh.close()
    assert out.returncode == 0, out.stderr
    for arg in LAUNCH_ARGUMENTS:
        block = out.stdout.split(f"'{arg.name}':", 1)[1].split("\n\n", 1)[0]
        assert arg.description.split(';')[0][:40] in ' '.join(block.split()), block
        # (params_file '' = the robot's config file in the package share, chosen by the nodes'
        # description: config/franka.yaml or config/fr3.yaml)
        assert f"(default: '{arg.default}')" in block, block
        for choice in arg.choices:
            assert choice in block


def test_colcon_test_runs_the_suite_and_fails_on_a_failing_test(install, tmp_path):
    """`colcon test` (the package's ament_add_pytest_test) on the plain build: passes with a
    passing test; with a failure injected into the same test (a pytest plugin), exits non-zero
    with --return-code-on-test-failure, and `colcon test-result --verbose` shows it."""
    from r1_testing import REPO
    from ros2_user import without_checkout_install
    ws = install.parent
    (tmp_path / 'r1_inject_failure.py').write_text(
        'import pytest\n\n\n@pytest.hookimpl(tryfirst=True)\n'
        'def pytest_runtest_call(item):\n'
        '    raise AssertionError("injected failure in " + item.name)\n')
    env = without_checkout_install(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(tmp_path), env.get('PYTHONPATH')) if p)
    one = '-p no:cacheprovider -k test_readme_opens_with_the_demo_and_test_commands_ci_runs'
    colcon = ['colcon', '--log-base', str(tmp_path / 'log'), 'test', '--base-paths', str(REPO),
              '--build-base', str(ws / 'build'), '--install-base', str(install),
              '--return-code-on-test-failure', '--event-handlers', 'console_direct+']
    result = ['colcon', 'test-result', '--verbose', '--test-result-base', str(ws / 'build')]

    ok = subprocess.run(colcon, env={**env, 'PYTEST_ADDOPTS': one}, capture_output=True,
                        text=True, timeout=900, cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-2000:]
    assert re.search(r'=+ 1 passed, \d+ deselected', ok.stdout), ok.stdout[-3000:]
    bad = subprocess.run(colcon, env={**env, 'PYTEST_ADDOPTS': one + ' -p r1_inject_failure'},
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert bad.returncode != 0, bad.stdout[-3000:]
    assert re.search(r'=+ 1 failed, \d+ deselected', bad.stdout), bad.stdout[-3000:]
    shown = subprocess.run(result, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert shown.returncode != 0
    assert 'injected failure in test_readme_opens' in shown.stdout, shown.stdout[-3000:]
    # (ctest's entry and pytest's junit file both count the failure)
    assert re.search(r'Summary: \d+ tests, 0 errors, [12] failures?, 0 skipped', shown.stdout), \
        shown.stdout


def test_launch_robot_fr3_drives_the_sim_as_an_fr3(install, tmp_path_factory):
    """`ros2 launch robot_r1_ros franka.launch.py robot:=fr3 use_sim:=true` (config/fr3.yaml):
    the sim poses as an FR3 (fr3 names, /fr3_arm_controller, franka_gripper) and the executor
    drives it through FollowJointTrajectory and franka_gripper (control_msgs/franka_msgs in
    the user's ROS 2, here the tools overlay), within the FR3's joint limits."""
    sh = user_shell(tmp_path_factory.mktemp('user'), _domain(), install,
                    extra_tools=('control_msgs', 'franka_msgs'))
    try:
        proc, log = sh.start('ros2', 'launch', 'robot_r1_ros', 'franka.launch.py', 'robot:=fr3',
                             'use_sim:=true', 'model:=scripted:valid?xyz=0.1,0.05,0.2&gripper=open',
                             log_name='launch_fr3')
        joints = _echo_once(sh, '/joint_states', timeout_s=120.0)
        assert joints['name'] == [f'fr3_joint{i}' for i in range(1, 8)] + [
            'fr3_finger_joint1', 'fr3_finger_joint2'], joints['name']
        import numpy as np

        from robot_r1_ros.core.geometry import panda_fk   # an FR3 has the Panda's kinematics
        target = np.array([0.45, 0.05, 0.2])               # env (0.1, 0.05, 0.2) in fr3_link0

        def arrived() -> bool:
            q = dict(zip(*(lambda m: (m['name'], m['position']))(
                _echo_once(sh, '/joint_states'))))
            xyz, _ = panda_fk(np.array([q[f'fr3_joint{i}'] for i in range(1, 8)]))
            return float(np.linalg.norm(xyz - target)) < 0.01

        assert sh.wait_until(arrived, 180.0, period_s=2.0), log.read_text()[-5000:]
        assert _echo_once(sh, '/robot_r1/executor_state')['header']['frame_id'] == 'fr3_link0'
        text = log.read_text()
        assert 'arm: action /fr3_arm_controller/follow_joint_trajectory' in text, text[-4000:]
        assert 'gripper: franka /franka_gripper/grasp, /franka_gripper/move' in text
        assert 'accepted joint trajectory' in text           # the sim's FJT action server
        assert 'rejected joint trajectory' not in text       # nothing outside the FR3 limits
    finally:
        sh.close()
