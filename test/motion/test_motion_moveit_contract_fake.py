"""MoveIt backend against a RECORDING FAKE of the moveit_py API (moveit_py cannot be installed
here). The fake copies the real call shapes (names and keyword arguments of MoveItPy,
PlanningComponent, PlanRequestParameters and TrajectoryExecutionManager, Jazzy 2.12 / Kilted
2.14; see the research note ros2-apis-moveit-launch.md section 2) and rejects anything else, so
a wrong keyword or a missing required argument fails here as it would on a robot. Behaviour
(planning, execution) is not simulated beyond success/failure: run the backend with a MoveIt
Panda config for that (README, "MoveIt 2 backend").
"""
from __future__ import annotations

import math
import sys
import threading
import time
import types

import numpy as np
import pytest

from r1_testing import require
from robot_r1_ros.core.geometry import (PANDA_READY_Q_RAD, matrix_to_quat_wxyz, panda_fk,
                                        panda_flange_fk)
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.backend import MotionError
from robot_r1_ros.motion.moveit_backend import MoveItBackend, MoveItBackendConfig
from robot_r1_ros.motion.types import JointStateSample, MotionGoal, MotionState

_UNSET = object()


class FakeMotionPlanResponse:
    """moveit.planning MotionPlanResponse: .trajectory, .error_code, bool()."""

    def __init__(self, ok: bool, trajectory: object) -> None:
        self.trajectory = trajectory if ok else None
        self.error_code = types.SimpleNamespace(val=1 if ok else -1)
        self._ok = ok

    def __bool__(self) -> bool:
        return self._ok


class FakeExecutionStatus:
    """moveit.core.controller_manager.ExecutionStatus: .status and bool()."""

    def __init__(self, ok: bool) -> None:
        self.status = 'SUCCEEDED' if ok else 'ABORTED'
        self._ok = ok

    def __bool__(self) -> bool:
        return self._ok


class FakePlanningComponent:
    def __init__(self, robot: 'FakeMoveItPy', name: str) -> None:
        self.robot, self.name = robot, name

    def set_start_state_to_current_state(self) -> None:
        self.robot.calls.append((self.name, 'set_start_state_to_current_state', {}))

    def set_goal_state(self, configuration_name=None, robot_state=None, pose_stamped_msg=None,
                       pose_link=None, motion_plan_constraints=None) -> bool:
        kinds = [configuration_name is not None, robot_state is not None,
                 pose_stamped_msg is not None, motion_plan_constraints is not None]
        if sum(kinds) != 1:
            raise ValueError('exactly one goal kind is required')   # std::invalid_argument
        if (pose_stamped_msg is None) != (pose_link is None):
            raise ValueError('pose_stamped_msg and pose_link must be given together')
        if pose_stamped_msg is not None:
            from geometry_msgs.msg import PoseStamped
            if not isinstance(pose_stamped_msg, PoseStamped):
                raise TypeError('pose_stamped_msg must be a geometry_msgs/PoseStamped')
        self.robot.calls.append((self.name, 'set_goal_state', {
            'configuration_name': configuration_name, 'pose_stamped_msg': pose_stamped_msg,
            'pose_link': pose_link}))
        return True

    def plan(self, single_plan_parameters=None, multi_plan_parameters=None, planning_scene=None,
             solution_selection_function=None, stopping_criterion_callback=None):
        if single_plan_parameters is not None and multi_plan_parameters is not None:
            raise ValueError('both single and multi plan parameters')
        if planning_scene is not None and single_plan_parameters is None:
            raise ValueError('planning_scene needs plan parameters')
        self.robot.calls.append((self.name, 'plan',
                                 {'single_plan_parameters': single_plan_parameters}))
        ok = self.name not in self.robot.fail_plan
        return FakeMotionPlanResponse(ok, f'trajectory:{self.name}')


class FakeTrajectoryExecutionManager:
    def __init__(self, robot: 'FakeMoveItPy') -> None:
        self.robot = robot

    def stop_execution(self, auto_clear=True) -> None:
        self.robot.calls.append(('tem', 'stop_execution', {'auto_clear': auto_clear}))
        self.robot.stop_event.set()


class FakeMoveItPy:
    """moveit.planning.MoveItPy (Kilted signature)."""

    instances: list['FakeMoveItPy'] = []

    def __init__(self, node_name='moveit_py', name_space='', launch_params_filepaths=_UNSET,
                 config_dict=None, provide_planning_service=True, remappings=None) -> None:
        self.init_kwargs = {'node_name': node_name, 'config_dict': config_dict}
        self.calls: list[tuple[str, str, dict]] = []
        self.fail_plan: set[str] = set()
        self.fail_execute: set[str] = set()
        self.execute_s = 0.05
        self.stop_event = threading.Event()
        self._tem = FakeTrajectoryExecutionManager(self)
        FakeMoveItPy.instances.append(self)

    def get_planning_component(self, planning_component_name):
        return FakePlanningComponent(self, planning_component_name)

    def execute(self, robot_trajectory, controllers):   # Jazzy/Kilted: controllers required
        self.calls.append(('robot', 'execute', {'robot_trajectory': robot_trajectory,
                                                'controllers': controllers}))
        self.stop_event.clear()
        stopped = self.stop_event.wait(self.execute_s)   # blocks like the real call
        group = str(robot_trajectory).split(':')[-1]
        return FakeExecutionStatus(not stopped and group not in self.fail_execute)

    def get_trajectory_execution_manager(self):
        return self._tem


class FakePlanRequestParameters:
    def __init__(self, moveit_py, namespace) -> None:   # positional, as in the binding
        self.namespace = namespace
        self.planner_id = self.planning_pipeline = ''
        self.planning_attempts, self.planning_time = 5, 1.0
        self.max_velocity_scaling_factor = self.max_acceleration_scaling_factor = 1.0


@pytest.fixture
def fake_moveit(monkeypatch):
    """Install the fake as ``moveit`` / ``moveit.planning`` for this test only."""
    require('geometry_msgs.msg')
    moveit = types.ModuleType('moveit')
    planning = types.ModuleType('moveit.planning')
    planning.MoveItPy = FakeMoveItPy
    planning.PlanRequestParameters = FakePlanRequestParameters
    moveit.planning = planning
    monkeypatch.setitem(sys.modules, 'moveit', moveit)
    monkeypatch.setitem(sys.modules, 'moveit.planning', planning)
    FakeMoveItPy.instances.clear()
    return planning


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
        ('panda_arm', 'plan'), ('robot', 'execute'),
        ('hand', 'set_start_state_to_current_state'), ('hand', 'set_goal_state'),
        ('hand', 'plan'), ('robot', 'execute')]
    arm_goal = robot.calls[1][2]
    assert arm_goal['pose_link'] == 'panda_link8'
    msg = arm_goal['pose_stamped_msg']
    assert msg.header.frame_id == 'panda_link0'
    # The TCP goal became the flange (panda_link8) pose of the same configuration.
    p, o = msg.pose.position, msg.pose.orientation
    np.testing.assert_allclose([p.x, p.y, p.z], flange_xyz, atol=1e-9)
    q_link = np.array([o.w, o.x, o.y, o.z])
    assert abs(abs(q_link @ matrix_to_quat_wxyz(flange_rot)) - 1.0) < 1e-9
    assert robot.calls[3][2]['controllers'] == []
    assert robot.calls[5][2]['configuration_name'] == 'close'


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
    assert robot.calls[3][2]['controllers'] == ['panda_arm_controller']
    assert robot.calls[5][2]['configuration_name'] == 'open'


@pytest.mark.parametrize('where,stage,match', [
    ('plan', 'panda_arm', 'arm: planning failed'),
    ('execute', 'panda_arm', 'arm: execution failed'),
    ('plan', 'hand', 'gripper: planning failed'),
])
def test_moveit_contract_failures_are_reported(fake_moveit, where, stage, match):
    backend = MoveItBackend(MoveItBackendConfig())
    backend.connect()
    robot = FakeMoveItPy.instances[0]
    (robot.fail_plan if where == 'plan' else robot.fail_execute).add(stage)
    backend.start(tcp_goal()[0], 0.0)
    progress = wait_done(backend)
    assert progress.state is MotionState.FAILED
    assert progress.reason.startswith(match), progress.reason


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
