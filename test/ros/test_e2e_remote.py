"""End to end over DDS with the remote backend: sim + reasoning node (``model.backend: remote``,
``config/remote.yaml`` over ``config/franka.yaml``) + executor, the model behind the package's
OpenAI-compatible server (``python -m robot_r1_ros.model.openai_server``) on loopback, started,
killed and restarted by the test.

Done-when of the tethered setup: cycles complete against the real server; killing it mid-run
gives MODEL_ERROR predictions (with the reason, diagnostics ERROR) and no motion; predictions
resume by themselves within 5 s of the server's return.
"""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import numpy as np

from r1_testing import REPO, require_ros_interfaces
from ros2_tools import tools_env

from robot_r1_ros.core.paths import shipped_model_id

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'peers'))
from executor_probe import ExecutorProbe  # noqa: E402

CHECKPOINT = shipped_model_id()  # the shipped model: its keypoints get executed
SERVED = 'robot-r1'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _node_args(name: str, namespace: str, files: list[str], params: dict[str, str]) -> list[str]:
    args = ['--ros-args', '-r', f'__node:={name}']
    for file in files:
        args += ['--params-file', str(REPO / 'config' / file)]
    if namespace:
        args += ['-r', f'__ns:=/{namespace}']
    for key, value in params.items():
        args += ['-p', f'{key}:={value}']
    return args


def _start_server(spawn, port: int):
    server = spawn('robot_r1_ros.model.openai_server', '--model', CHECKPOINT, '--port',
                   str(port), '--served-model-name', SERVED, '--device', 'cpu',
                   '--num-threads', '1', '--max-pixels', str(112 * 112))
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline and 'serving' not in server.output():
        assert server.alive(), server.output()[-3000:]
        time.sleep(0.1)
    assert 'serving' in server.output(), server.output()[-3000:]
    return server


def test_e2e_remote_backend_cycles_survives_a_server_kill_and_recovers(spawn, rclpy_node, ros_env):
    require_ros_interfaces()
    # The executor's default arm interface is the FollowJointTrajectory action (control_msgs).
    env = tools_env(ros_env, extra=('control_msgs', 'franka_msgs'))
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.parameter import Parameter

    from robot_r1_ros.msg import KeypointPrediction

    port = _free_port()
    server = _start_server(spawn, port)
    clock = {'use_sim_time': 'true'}
    reasoning_params = {
        **clock, 'model.id': SERVED, 'model.max_pixels': str(112 * 112),
        'remote.base_url': f'http://127.0.0.1:{port}/v1', 'remote.timeout_s': '20.0',
        'remote.backoff_s': '0.1', 'trigger.mode': 'on_reached'}
    children = {
        'sim': spawn('robot_r1_ros.ros.sim_node', *_node_args('sim_node', '', ['franka.yaml'],
                                                              {}), env=env),
        'reasoning': spawn('robot_r1_ros.ros.reasoning_node', *_node_args(
            'reasoning_node', 'robot_r1', ['franka.yaml', 'remote.yaml'], reasoning_params),
            env=env),
        'executor': spawn('robot_r1_ros.ros.executor_node', *_node_args(
            'executor_node', 'robot_r1', ['franka.yaml'], clock), env=env),
    }
    node = rclpy_node('e2e_remote_probe')
    node.set_parameters([Parameter('use_sim_time', value=True)])
    probe = ExecutorProbe(node)
    received: list[tuple[float, KeypointPrediction]] = []
    node.create_subscription(KeypointPrediction, '/robot_r1/next_keypoint',
                             lambda m: received.append((time.monotonic(), m)), 50)
    diagnostics: list = []
    node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: diagnostics.extend(
        s for s in m.status if 'reasoning' in s.name), 50)

    def logs() -> str:
        everything = {**children, 'server': server}
        return '\n'.join(f'--- {k}\n{c.output()[-2500:]}' for k, c in everything.items())

    assert probe.wait_ready(120.0, fake_robot=False), logs()
    statuses = lambda: [m.status for _, m in received]  # noqa: E731

    # 1. Cycles against the real server: OK predictions, executed and reached.
    assert probe.wait_state(lambda s: s.executed_count >= 2, 240.0), logs()
    # (the executor runs OK predictions only; this probe, a late joiner on a volatile topic,
    # may have missed the first of them)
    assert probe.wait(lambda: KeypointPrediction.STATUS_OK in statuses(), 30.0), logs()
    assert all(m.model_id == SERVED for _, m in received)

    # 2. Kill the server mid-run: MODEL_ERROR with the reason, diagnostics ERROR, no motion.
    server.popen.kill()
    server.popen.wait(10.0)
    n_before = len(received)
    assert probe.wait(lambda: any(m.status == KeypointPrediction.STATUS_MODEL_ERROR
                                  for _, m in received[n_before:]), 60.0), logs()
    # The goal that was running when the server died may finish; after that nothing moves.
    assert probe.wait_state(lambda s: s.state != s.STATE_MOVING, 30.0), logs()
    executed, q0 = probe.last_state().executed_count, probe.arm_q().copy()
    n_down = len(received)
    probe.wait(lambda: len(received) >= n_down + 3, 20.0)
    down = [m for _, m in received[n_down:]]
    assert len(down) >= 3, logs()
    assert all(m.status == KeypointPrediction.STATUS_MODEL_ERROR for m in down), \
        [(m.status, m.status_reason) for m in down]
    assert all('cannot connect' in m.status_reason for m in down), down[0].status_reason
    assert probe.last_state().executed_count == executed
    # No new motion: a keypoint is a move of tens of milliradians; a goal that ended touching
    # the cube (the shipped model descends onto it) still settles by about one (1.4 seen).
    assert np.max(np.abs(probe.arm_q() - q0)) < 5e-3, 'the arm moved without a prediction'
    errors = [s for s in diagnostics if s.level == s.ERROR and 'remote model server' in s.message]
    assert errors, [s.message for s in diagnostics[-3:]]
    values = {kv.key: kv.value for kv in errors[-1].values}
    assert values['remote_state'] == 'down' and 'cannot connect' in values['remote_last_error']
    assert float(values['remote_last_latency_ms']) < 5000.0
    assert all(c.alive() for c in children.values()), logs()

    # 3. The server comes back on the same port: predictions resume by themselves within 5 s.
    server = _start_server(spawn, port)
    t_back = time.monotonic()
    assert probe.wait(lambda: any(t >= t_back and m.status == KeypointPrediction.STATUS_OK
                                  for t, m in received), 30.0), logs()
    first_ok = min(t for t, m in received if t >= t_back
                   and m.status == KeypointPrediction.STATUS_OK)
    assert first_ok - t_back < 5.0, f'resumed after {first_ok - t_back:.2f} s'
    assert probe.wait_state(lambda s: s.executed_count > executed, 120.0), logs()
    assert all(c.alive() for c in children.values()), logs()
