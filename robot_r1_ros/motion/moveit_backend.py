"""MoveIt 2 backend on moveit_py (MoveItPy, Jazzy 2.12 / Kilted 2.14; imported lazily).

The arm goal is a pose goal of the ``panda_arm`` planning component (``set_goal_state(
pose_stamped_msg=..., pose_link=...)``), planned with ``plan()`` and executed with
``MoveItPy.execute(trajectory, controllers=[...])``; the gripper is the ``hand`` group moved to
its named state (``open`` / ``close`` in moveit_resources' Panda SRDF). moveit_resources has no
``panda_hand_tcp`` link, so goals for the TCP are converted to ``panda_link8`` goals: the TCP
sits ``tcp_offset_m`` (0.1034 m) along the link's z axis and is turned ``tcp_yaw_offset_rad``
(-45 deg) about it. With franka_description's ``<arm>_hand_tcp`` as ``pose_link`` set both to 0.

``MoveItPy.execute`` blocks until the controller finishes, so each goal runs on a worker thread;
:meth:`MoveItBackend.poll` reports its progress and :meth:`MoveItBackend.hold` stops the
trajectory execution manager. See the README ("MoveIt 2 backend") for running it with a MoveIt
Panda config; ``test/motion/test_motion_moveit_contract_fake.py`` checks the calls against a
recording fake of the moveit_py API, since moveit_py cannot be installed here.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.geometry import matrix_to_quat_wxyz, panda_fk, quat_wxyz_to_matrix
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.backend import MotionBackend, MotionError
from robot_r1_ros.motion.limits import arm_joint_names
from robot_r1_ros.motion.types import JointStateSample, MotionGoal, MotionProgress, MotionState

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class MoveItBackendConfig:
    """Settings of the MoveIt backend (executor node parameters ``moveit.*``).

    Attributes:
        node_name: Name of the rclcpp node MoveItPy creates (``moveit_py``, as in the
            tutorials: parameter files keyed by that name configure it).
        config_file: YAML with the MoveIt parameters (``MoveItConfigsBuilder(...)
            .to_moveit_configs().to_dict()`` dumped, or a ``<node>: ros__parameters:`` file),
            passed as ``MoveItPy(config_dict=...)``; '' = MoveItPy reads the process's
            ``--params-file`` arguments.
        arm_group: Planning group of the arm.
        hand_group: Planning group of the gripper ('' = no gripper commands).
        pose_link: Link the pose goal is expressed for.
        base_frame: ``header.frame_id`` of the pose goal.
        tcp_offset_m: Distance of the TCP from ``pose_link`` along its z axis.
        tcp_yaw_offset_rad: Rotation of the TCP frame relative to ``pose_link`` about z.
        hand_open_state: Named SRDF state of the hand group for OPEN.
        hand_closed_state: Named SRDF state of the hand group for CLOSED.
        plan_request_namespace: ``PlanRequestParameters`` namespace ('' = ``plan()`` defaults).
        controllers: Controllers passed to ``execute`` (empty: MoveIt picks).
        velocity_scale: ``max_velocity_scaling_factor`` when a namespace is given.
        acceleration_scale: ``max_acceleration_scaling_factor`` when a namespace is given.
        joint_prefix: Joint-name prefix of ``/joint_states`` (for the measured TCP).
    """

    node_name: str = 'moveit_py'
    config_file: str = ''
    arm_group: str = 'panda_arm'
    hand_group: str = 'hand'
    pose_link: str = 'panda_link8'
    base_frame: str = 'panda_link0'
    tcp_offset_m: float = 0.1034
    tcp_yaw_offset_rad: float = -math.pi / 4
    hand_open_state: str = 'open'
    hand_closed_state: str = 'close'
    plan_request_namespace: str = ''
    controllers: tuple[str, ...] = ()
    velocity_scale: float = 0.3
    acceleration_scale: float = 0.3
    joint_prefix: str = 'panda'

    @property
    def arm_joints(self) -> tuple[str, ...]:
        """The 7 arm joint names."""
        return arm_joint_names(self.joint_prefix)

    def __post_init__(self) -> None:
        for name in ('node_name', 'arm_group', 'pose_link', 'base_frame'):
            if not getattr(self, name):
                raise ConfigError(f'{name} must not be empty', name)
        for name in ('velocity_scale', 'acceleration_scale'):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f'{name} must be in (0, 1], got {value}', name)
        if not math.isfinite(self.tcp_offset_m) or not math.isfinite(self.tcp_yaw_offset_rad):
            raise ConfigError('tcp_offset_m and tcp_yaw_offset_rad must be finite', 'tcp_offset_m')


def load_moveit_config(path: str) -> dict:
    """The MoveIt parameter dict in ``path`` (a bare dict, or one ``ros__parameters`` block).

    Raises:
        ConfigError: missing file, not YAML, or not a mapping.
    """
    import yaml
    from pathlib import Path

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f'moveit config_file {path!r}: {exc}', 'config_file') from None
    except yaml.YAMLError as exc:
        raise ConfigError(f'moveit config_file {path!r} is not YAML: {exc}',
                          'config_file') from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f'moveit config_file {path!r} must hold a mapping of parameters',
                          'config_file')
    if len(data) == 1:
        (only,) = data.values()
        if isinstance(only, dict) and isinstance(only.get('ros__parameters'), dict):
            return only['ros__parameters']
    return data


def tcp_goal_to_link_pose(xyz_base_m: np.ndarray, quat_wxyz: np.ndarray, tcp_offset_m: float,
                          tcp_yaw_offset_rad: float) -> tuple[np.ndarray, np.ndarray]:
    """Pose of the link carrying the TCP, given the TCP pose (both in the base frame).

    ``T_base_link = T_base_tcp @ inv(T_link_tcp)`` with ``T_link_tcp`` = rotation
    ``tcp_yaw_offset_rad`` about z and translation ``(0, 0, tcp_offset_m)``.

    Returns:
        (xyz_base_m, quat_wxyz) of the link.
    """
    r_tcp = quat_wxyz_to_matrix(quat_wxyz)
    c, s = math.cos(-tcp_yaw_offset_rad), math.sin(-tcp_yaw_offset_rad)
    rz_inv = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    xyz = np.asarray(xyz_base_m, float) - r_tcp @ np.array([0.0, 0.0, tcp_offset_m])
    return xyz, matrix_to_quat_wxyz(r_tcp @ rz_inv)


class MoveItBackend(MotionBackend):
    """Plan and execute with MoveItPy; one worker thread per goal.

    Args:
        config: Settings.
        moveit_config: Passed to ``MoveItPy(config_dict=...)`` (e.g. ``MoveItConfigsBuilder(...)
            .to_moveit_configs().to_dict()``); None lets MoveItPy read the ``--params-file``
            arguments of the process (the launch route).
        robot: An already constructed MoveItPy (tests, or a caller that shares one).
    """

    name = 'moveit'

    def __init__(self, config: MoveItBackendConfig, moveit_config: dict | None = None,
                 robot: Any = None) -> None:
        self.cfg = config
        if moveit_config is None and config.config_file:
            moveit_config = load_moveit_config(config.config_file)
        self._moveit_config = moveit_config
        self._robot = robot
        self._arm = self._hand = None
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._cancel = threading.Event()
        self._state, self._reason = MotionState.IDLE, ''
        self._t_start = 0.0
        self._goal: MotionGoal | None = None
        self._joint_state: JointStateSample | None = None
        self.last_plan_time_s = 0.0

    # -- MoveItPy, created on first use --------------------------------------------------------
    def connect(self) -> None:
        """Create MoveItPy and the planning components (imports moveit_py).

        Raises:
            MotionError: moveit_py is not installed or the configuration is unusable.
        """
        if self._robot is None:
            try:
                from moveit.planning import MoveItPy  # lazy: only with a MoveIt install
            except ImportError as exc:
                raise MotionError(
                    'backend "moveit" needs moveit_py (ros-<distro>-moveit-py) and a MoveIt '
                    'config for the robot; use backend "direct" without MoveIt') from exc
            kwargs: dict[str, Any] = {'node_name': self.cfg.node_name}
            if self._moveit_config is not None:
                kwargs['config_dict'] = self._moveit_config
            self._robot = MoveItPy(**kwargs)
        if self._arm is None:
            self._arm = self._robot.get_planning_component(self.cfg.arm_group)
        if self._hand is None and self.cfg.hand_group:
            self._hand = self._robot.get_planning_component(self.cfg.hand_group)

    def _plan_parameters(self) -> Any:
        if not self.cfg.plan_request_namespace:
            return None
        from moveit.planning import PlanRequestParameters  # lazy
        params = PlanRequestParameters(self._robot, self.cfg.plan_request_namespace)
        params.max_velocity_scaling_factor = self.cfg.velocity_scale
        params.max_acceleration_scaling_factor = self.cfg.acceleration_scale
        return params

    def pose_goal_msg(self, goal: MotionGoal) -> Any:
        """``geometry_msgs/PoseStamped`` of ``pose_link`` for a TCP goal."""
        from geometry_msgs.msg import PoseStamped  # lazy: ROS message
        quat = np.asarray(goal.quat_wxyz if goal.quat_wxyz is not None
                          else (0.0, 1.0, 0.0, 0.0), float)  # default: TCP pointing down
        xyz, q_link = tcp_goal_to_link_pose(np.asarray(goal.xyz_base_m), quat,
                                            self.cfg.tcp_offset_m, self.cfg.tcp_yaw_offset_rad)
        msg = PoseStamped()
        msg.header.frame_id = self.cfg.base_frame
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = map(float, xyz)
        (msg.pose.orientation.w, msg.pose.orientation.x, msg.pose.orientation.y,
         msg.pose.orientation.z) = map(float, q_link)
        return msg

    def _plan_and_execute(self, component: Any, what: str, cancel: threading.Event,
                          **goal_kwargs: Any) -> None:
        component.set_start_state_to_current_state()
        if not component.set_goal_state(**goal_kwargs):
            raise MotionError(f'{what}: goal state rejected by MoveIt')
        t0 = time.perf_counter()
        params = self._plan_parameters()
        result = (component.plan(single_plan_parameters=params) if params is not None
                  else component.plan())
        self.last_plan_time_s = time.perf_counter() - t0
        if not result:
            code = getattr(getattr(result, 'error_code', None), 'val', '?')
            raise MotionError(f'{what}: planning failed (MoveIt error code {code})')
        if cancel.is_set():
            raise MotionError(f'{what}: cancelled')
        status = self._robot.execute(result.trajectory, controllers=list(self.cfg.controllers))
        if not status:
            raise MotionError(f'{what}: execution failed ({getattr(status, "status", status)})')

    def _run(self, goal: MotionGoal, cancel: threading.Event) -> None:
        try:
            self._plan_and_execute(self._arm, 'arm', cancel,
                                   pose_stamped_msg=self.pose_goal_msg(goal),
                                   pose_link=self.cfg.pose_link)
            if self._hand is not None and not cancel.is_set():
                state = (self.cfg.hand_open_state if goal.gripper is GripperState.OPEN
                         else self.cfg.hand_closed_state)
                self._plan_and_execute(self._hand, 'gripper', cancel, configuration_name=state)
            outcome, reason = MotionState.REACHED, ''
        except MotionError as exc:
            outcome, reason = MotionState.FAILED, str(exc)
        except Exception as exc:  # noqa: BLE001 - a MoveIt exception must not kill the node
            _LOG.exception('moveit backend: unexpected error')
            outcome, reason = MotionState.FAILED, f'{type(exc).__name__}: {exc}'
        with self._lock:
            if self._goal is goal and not cancel.is_set():
                self._state, self._reason = outcome, reason

    # -- MotionBackend --------------------------------------------------------------------------
    def start(self, goal: MotionGoal, now_s: float) -> None:
        self.connect()
        self._stop_worker()
        with self._lock:
            self._cancel = threading.Event()
            self._goal, self._t_start = goal, now_s
            self._state, self._reason = MotionState.MOVING, ''
        self._worker = threading.Thread(target=self._run, args=(goal, self._cancel), daemon=True,
                                        name='moveit-goal')
        self._worker.start()

    def _stop_worker(self) -> None:
        worker = self._worker
        if worker is not None and worker.is_alive():
            self._cancel.set()
            self._robot.get_trajectory_execution_manager().stop_execution(auto_clear=True)
            worker.join(timeout=5.0)
        self._worker = None

    def poll(self, now_s: float) -> MotionProgress:
        with self._lock:
            return MotionProgress(self._state, self._reason,
                                  elapsed_s=now_s - self._t_start if self._goal else 0.0)

    def hold(self, now_s: float) -> None:
        if self._robot is not None:
            self._stop_worker()
        with self._lock:
            self._goal = None
            self._state, self._reason = MotionState.IDLE, ''

    def update_joint_state(self, sample: JointStateSample) -> None:
        self._joint_state = sample

    def tcp_position(self) -> tuple[float, float, float] | None:
        # The core's numpy FK (Panda kinematics): no MoveIt round trip for the step check.
        if self._joint_state is None:
            return None
        q = self._joint_state.arm_q(self.cfg.arm_joints)
        if q is None:
            return None
        xyz, _ = panda_fk(q)
        return tuple(float(v) for v in xyz)

    def close(self) -> None:
        if self._robot is not None:
            self._stop_worker()
