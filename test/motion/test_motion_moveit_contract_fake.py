"""MoveIt backend against a RECORDING CONTRACT FAKE of the moveit_py API (moveit_py cannot be
installed here): test/fixtures/moveit_contract_fake/moveit/planning.py copies the real call
shapes (MoveItPy, PlanningComponent, PlanRequestParameters, RobotTrajectory,
TrajectoryExecutionManager, Jazzy 2.12 / Kilted 2.14) and rejects anything else, so a wrong
keyword or a missing required argument fails here as it would on a robot. Behaviour (planning,
execution) is not simulated beyond success/failure: run the backend with a MoveIt Panda config
for that (README, "MoveIt 2 backend"). These run MoveIt in this process
(``planner_process=False``); test/ros/test_executor_moveit_process.py runs the node with the
fake in its child process.
"""
from __future__ import annotations

import math
import sys
import threading
import time
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from r1_testing import require
from robot_r1_ros.core.geometry import (PANDA_READY_Q_RAD, matrix_to_quat_wxyz, panda_fk,
                                        panda_flange_fk)
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.backend import MotionError
from robot_r1_ros.motion.moveit_backend import MoveItBackend, MoveItBackendConfig as _Config
from robot_r1_ros.motion.types import JointStateSample, MotionGoal, MotionState

FAKE_DIR = Path(__file__).resolve().parents[1] / 'fixtures' / 'moveit_contract_fake'


def _load_fake():
    spec = importlib.util.spec_from_file_location('moveit_contract_fake_planning',
                                                  FAKE_DIR / 'moveit' / 'planning.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FAKE = _load_fake()
FakeMoveItPy = FAKE.MoveItPy


def MoveItBackendConfig(**kwargs):  # noqa: N802 - in-process MoveIt for the recording fake
    return _Config(**{'planner_process': False, **kwargs})


@pytest.fixture
def fake_moveit(monkeypatch):
    """Install the fake as ``moveit`` / ``moveit.planning`` for this test only."""
    require('geometry_msgs.msg')
    import types
    moveit = types.ModuleType('moveit')
    moveit.planning = FAKE
    monkeypatch.setitem(sys.modules, 'moveit', moveit)
    monkeypatch.setitem(sys.modules, 'moveit.planning', FAKE)
    monkeypatch.delenv('MOVEIT_FAKE_PLAN_GIL_S', raising=False)
    monkeypatch.delenv('MOVEIT_FAKE_FAIL_INIT', raising=False)
    FakeMoveItPy.instances.clear()
    return FAKE


def wait_done(backend: MoveItBackend, timeout_s: float = 5.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        progress = backend.poll(time.monotonic())
        if progress.state is not MotionState.MOVING:
            return progress
        time.sleep(0.01)
    return backend.poll(time.monotonic())


def tcp_goal(gripper=GripperState.CLOSED) -> tuple[MotionGoal, np.ndarray, np.ndarray]:
    q = np.array(PANDA_READY_Q_RAD)
    xyz, rot = panda_fk(q)
    return MotionGoal(tuple(xyz), gripper, tuple(matrix_to_quat_wxyz(rot))), *panda_flange_fk(q)


def test_moveit_contract_pose_goal_plan_execute_then_hand(fake_moveit):
    backend = MoveItBackend(MoveItBackendConfig())
    goal, flange_xyz, flange_rot = tcp_goal(GripperState.CLOSED)
    backend.start(goal, 0.0)
    progress = wait_done(backend)
    assert progress.state is MotionState.REACHED, progress.reason
    robot = FakeMoveItPy.instances[0]
    assert robot.init_kwargs == {'node_name': 'moveit_py', 'config_dict': None}
    assert [(g, c) for g, c, _ in robot.calls] == [
        ('panda_arm', 'set_start_state_to_current_state'), ('panda_arm', 'set_goal_state'),
        ('panda_arm', 'plan'), ('panda_arm', 'apply_totg_time_parameterization'),
        ('robot', 'execute'),
        ('hand', 'set_start_state_to_current_state'), ('hand', 'set_goal_state'),
        ('hand', 'plan'), ('hand', 'apply_totg_time_parameterization'), ('robot', 'execute')]
    arm_goal = robot.calls[1][2]
    assert arm_goal['pose_link'] == 'panda_link8'
    msg = arm_goal['pose_stamped_msg']
    assert msg.header.frame_id == 'panda_link0'
    # The TCP goal became the flange (panda_link8) pose of the same configuration.
    p, o = msg.pose.position, msg.pose.orientation
    np.testing.assert_allclose([p.x, p.y, p.z], flange_xyz, atol=1e-9)
    q_link = np.array([o.w, o.x, o.y, o.z])
    assert abs(abs(q_link @ matrix_to_quat_wxyz(flange_rot)) - 1.0) < 1e-9
    assert robot.calls[4][2]['controllers'] == []
    assert robot.calls[6][2]['configuration_name'] == 'close'


def test_moveit_contract_open_state_and_plan_parameters(fake_moveit):
    cfg = MoveItBackendConfig(plan_request_namespace='ompl_rrtc', velocity_scale=0.2,
                              controllers=('panda_arm_controller',))
    backend = MoveItBackend(cfg, moveit_config={'robot_description': '<robot/>'})
    goal, _, _ = tcp_goal(GripperState.OPEN)
    backend.start(goal, 0.0)
    assert wait_done(backend).state is MotionState.REACHED
    robot = FakeMoveItPy.instances[0]
    assert robot.init_kwargs['config_dict'] == {'robot_description': '<robot/>'}
    params = robot.calls[2][2]['single_plan_parameters']
    assert params.namespace == 'ompl_rrtc'
    assert params.max_velocity_scaling_factor == 0.2
    assert robot.calls[4][2]['controllers'] == ['panda_arm_controller']
    assert robot.calls[6][2]['configuration_name'] == 'open'


@pytest.mark.parametrize('where,stage,match', [
    ('plan', 'panda_arm', 'arm: planning failed'),
    ('execute', 'panda_arm', 'arm: execution failed'),
    ('plan', 'hand', 'gripper: planning failed'),
    ('totg', 'panda_arm', 'arm: time parameterisation at velocity scale 0.3 failed'),
    ('raise', 'panda_arm', 'arm: MoveIt planning raised RuntimeError: no IK solution'),
])
def test_moveit_contract_failures_are_reported(fake_moveit, where, stage, match):
    backend = MoveItBackend(MoveItBackendConfig())
    backend.connect()
    robot = FakeMoveItPy.instances[0]
    if where == 'raise':
        robot.raise_plan[stage] = 'no IK solution\ndetails'
    else:
        {'plan': robot.fail_plan, 'execute': robot.fail_execute,
         'totg': robot.fail_totg}[where].add(stage)
    backend.start(tcp_goal()[0], 0.0)
    progress = wait_done(backend)
    assert progress.state is MotionState.FAILED
    assert progress.reason.startswith(match), progress.reason


def test_moveit_scaling_is_applied_without_a_plan_request_namespace(fake_moveit):
    # Before: with plan_request_namespace '' plan() ran at MoveIt's default scaling (1.0).
    backend = MoveItBackend(MoveItBackendConfig(velocity_scale=0.25, acceleration_scale=0.2))
    backend.start(tcp_goal()[0], 0.0)
    assert wait_done(backend).state is MotionState.REACHED
    robot = FakeMoveItPy.instances[0]
    totg = [c for c in robot.calls if c[1] == 'apply_totg_time_parameterization']
    assert [c[2] for c in totg] == [{'velocity_scaling_factor': 0.25,
                                     'acceleration_scaling_factor': 0.2}] * 2
    # ... and every execute ran a re-timed trajectory.
    names = [c[1] for c in robot.calls]
    for i, name in enumerate(names):
        if name == 'execute':
            assert names[i - 1] == 'apply_totg_time_parameterization'


def test_moveit_start_failure_is_a_motion_error_with_the_reason(fake_moveit, monkeypatch):
    # Before: only ImportError became a MotionError; MoveItPy's RuntimeError killed the node.
    monkeypatch.setenv('MOVEIT_FAKE_FAIL_INIT', 'Robot model not loaded')
    backend = MoveItBackend(MoveItBackendConfig())
    with pytest.raises(MotionError, match='MoveIt could not start: RuntimeError: Robot model '
                                          'not loaded .*moveit_config_file'):
        backend.connect()


def test_moveit_hold_returns_at_once_while_execute_blocks(fake_moveit):
    # Before: stopping joined the worker for up to 5 s on the ROS thread.
    backend = MoveItBackend(MoveItBackendConfig())
    backend.connect()
    robot = FakeMoveItPy.instances[0]
    robot.execute_s = 30.0
    robot.stop_event = type('NeverSet', (), {'set': lambda self: None, 'clear': lambda self: None,
                                             'wait': lambda self, t: time.sleep(3.0)})()
    backend.start(tcp_goal()[0], 0.0)
    time.sleep(0.3)
    t0 = time.monotonic()
    backend.hold(0.3)
    assert time.monotonic() - t0 < 0.2
    assert backend.poll(0.4).state is MotionState.IDLE
    time.sleep(3.5)                       # the old execute returns: its result is dropped
    assert backend.poll(4.0).state is MotionState.IDLE
    backend.close()


def test_moveit_contract_preempt_and_hold_stop_execution(fake_moveit):
    backend = MoveItBackend(MoveItBackendConfig())
    backend.connect()
    robot = FakeMoveItPy.instances[0]
    robot.execute_s = 2.0
    backend.start(tcp_goal()[0], 0.0)
    time.sleep(0.2)
    backend.start(tcp_goal(GripperState.OPEN)[0], 0.2)     # preempts the blocked execute
    assert ('tem', 'stop_execution', {'auto_clear': True}) in robot.calls
    assert backend.poll(0.3).state is MotionState.MOVING
    time.sleep(0.2)
    backend.hold(0.5)
    assert backend.poll(0.5).state is MotionState.IDLE
    assert [c for _, c, _ in robot.calls].count('stop_execution') == 2


def test_moveit_backend_measures_the_tcp_with_core_fk(fake_moveit):
    backend = MoveItBackend(MoveItBackendConfig())
    assert backend.tcp_position() is None
    q = np.array(PANDA_READY_Q_RAD)
    names = [f'panda_joint{i}' for i in range(1, 8)]
    backend.update_joint_state(JointStateSample(dict(zip(names, q)), {}, 0.0))
    np.testing.assert_allclose(backend.tcp_position(), panda_fk(q)[0])


def test_moveit_backend_without_moveit_py_says_what_to_do(monkeypatch):
    monkeypatch.setitem(sys.modules, 'moveit', None)     # import moveit -> ImportError
    monkeypatch.setitem(sys.modules, 'moveit.planning', None)
    backend = MoveItBackend(MoveItBackendConfig())
    with pytest.raises(MotionError, match='needs moveit_py'):
        backend.connect()


def test_tcp_offset_conversion_round_trip():
    from robot_r1_ros.motion.moveit_backend import tcp_goal_to_link_pose
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = np.array(PANDA_READY_Q_RAD) + rng.uniform(-0.5, 0.5, 7)
        xyz, rot = panda_fk(q)
        link_xyz, link_quat = tcp_goal_to_link_pose(xyz, matrix_to_quat_wxyz(rot), 0.1034,
                                                    -math.pi / 4)
        flange_xyz, flange_rot = panda_flange_fk(q)
        np.testing.assert_allclose(link_xyz, flange_xyz, atol=1e-9)
        assert abs(abs(link_quat @ matrix_to_quat_wxyz(flange_rot)) - 1) < 1e-9


def test_moveit_config_file_becomes_config_dict(fake_moveit, tmp_path):
    import yaml
    params = {'robot_description': '<robot name="panda"/>',
              'planning_pipelines': {'pipeline_names': ['ompl']}}
    wrapped = tmp_path / 'wrapped.yaml'
    wrapped.write_text(yaml.safe_dump({'moveit_py': {'ros__parameters': params}}))
    bare = tmp_path / 'bare.yaml'
    bare.write_text(yaml.safe_dump(params))
    for path in (wrapped, bare):
        MoveItBackend(MoveItBackendConfig(config_file=str(path))).connect()
        assert FakeMoveItPy.instances[-1].init_kwargs == {'node_name': 'moveit_py',
                                                          'config_dict': params}


@pytest.mark.parametrize('content,match', [(None, 'No such file'), ('[1, 2]', 'mapping'),
                                           ('a: [', 'not YAML')])
def test_moveit_config_file_errors(tmp_path, content, match):
    from robot_r1_ros.core.errors import ConfigError
    path = tmp_path / 'moveit.yaml'
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=match):
        MoveItBackend(MoveItBackendConfig(config_file=str(path)))


def test_moveit_point_target_keeps_the_measured_tcp_orientation(fake_moveit):
    backend = MoveItBackend(MoveItBackendConfig())
    q = np.array(PANDA_READY_Q_RAD) + [0.2, 0.0, 0.0, 0.1, 0.0, 0.0, 0.4]
    names = [f'panda_joint{i}' for i in range(1, 8)]
    backend.update_joint_state(JointStateSample(dict(zip(names, q)), {}, 0.0))
    goal = MotionGoal((0.5, 0.0, 0.3), GripperState.OPEN)          # no orientation
    backend.start(goal, 0.0)
    assert wait_done(backend).state is MotionState.REACHED
    msg = FakeMoveItPy.instances[0].calls[1][2]['pose_stamped_msg']
    o = msg.pose.orientation
    _, flange_rot = panda_flange_fk(q)
    assert abs(abs(np.array([o.w, o.x, o.y, o.z]) @ matrix_to_quat_wxyz(flange_rot)) - 1) < 1e-9
