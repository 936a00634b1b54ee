"""One MoveItPy and the goals run on it: plan + execute the arm, then the hand (no rclpy).

:class:`MoveItSession` makes every MoveIt call (MoveItPy, Jazzy 2.12 / Kilted 2.14, imported
lazily) and turns every failure into a :class:`~robot_r1_ros.motion.backend.MotionError` with
the reason; :class:`GoalLoop` runs goals one at a time on a worker thread, newest first. The
backend (:mod:`robot_r1_ros.motion.moveit_backend`) runs both either in the executor's process
or, by default, in a child process (:func:`process_main`): ``PlanningComponent.plan`` holds the
Python GIL while it plans, so in the executor's process it would freeze the node's callbacks
(``~/stop``, joint states) for the whole planning time.

The arm goal is a pose goal of ``arm_group`` for ``pose_link`` (moveit_resources has no
``panda_hand_tcp``: the TCP sits ``tcp_offset_m`` along the link's z axis, turned
``tcp_yaw_offset_rad``); the planned trajectory is always re-timed with
``apply_totg_time_parameterization(velocity_scale, acceleration_scale)`` before it runs, so
the speed limit holds whatever the MoveIt config's plan defaults are (``plan_request_namespace``
additionally selects ``PlanRequestParameters`` with the same scaling). The gripper is
``hand_group`` moved to its named state.
"""
from __future__ import annotations

import logging
import math
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.geometry import matrix_to_quat_wxyz, quat_wxyz_to_matrix
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.backend import MotionError
from robot_r1_ros.motion.limits import arm_joint_names
from robot_r1_ros.motion.types import MotionGoal

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
        velocity_scale: Velocity scaling of every trajectory (TOTG re-timing, and
            ``max_velocity_scaling_factor`` with a namespace).
        acceleration_scale: The same for accelerations.
        joint_prefix: Joint-name prefix of ``/joint_states`` (for the measured TCP).
        planner_process: Run MoveItPy in a child process (a long plan cannot stall the node).
        connect_timeout_s: Longest wait for MoveItPy to start.
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
    planner_process: bool = True
    connect_timeout_s: float = 60.0

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
        if not (math.isfinite(self.connect_timeout_s) and self.connect_timeout_s > 0):
            raise ConfigError('connect_timeout_s must be > 0', 'connect_timeout_s')


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


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f'{type(exc).__name__}: {text[0] if text else ""}'.rstrip(': ')


class MoveItSession:
    """MoveItPy, its planning components and one goal's MoveIt calls.

    Args:
        config: Settings.
        moveit_config: ``MoveItPy(config_dict=...)``; None: from ``config.config_file``, else
            MoveItPy reads the process's ``--params-file`` arguments (the launch route).
        robot: An already constructed MoveItPy (tests, or a caller that shares one).
    """

    def __init__(self, config: MoveItBackendConfig, moveit_config: dict | None = None,
                 robot: Any = None) -> None:
        self.cfg = config
        if moveit_config is None and config.config_file:
            moveit_config = load_moveit_config(config.config_file)
        self.moveit_config = moveit_config
        self.robot = robot
        self._arm = self._hand = None
        self.last_plan_time_s = 0.0

    def connect(self) -> None:
        """Create MoveItPy and the planning components.

        Raises:
            MotionError: moveit_py missing, or MoveIt refused the configuration (the reason).
        """
        if self.robot is None:
            try:
                from moveit.planning import MoveItPy  # lazy: only with a MoveIt install
            except ImportError as exc:
                raise MotionError(
                    'backend "moveit" needs moveit_py (ros-<distro>-moveit-py) and a MoveIt '
                    'config for the robot; use backend "direct" without MoveIt') from exc
            kwargs: dict[str, Any] = {'node_name': self.cfg.node_name}
            if self.moveit_config is not None:
                kwargs['config_dict'] = self.moveit_config
            try:
                self.robot = MoveItPy(**kwargs)
            except Exception as exc:  # noqa: BLE001 - the binding throws RuntimeError & co.
                hint = ('' if self.moveit_config is not None else
                        ' (moveit.config_file is empty, so MoveItPy read the process\'s '
                        'parameter files, which hold no robot_description/SRDF/pipelines: '
                        'pass moveit_config_file:=<dumped MoveItConfigsBuilder(...).to_dict()>'
                        ', see the README)')
                raise MotionError(f'MoveIt could not start: {_describe(exc)}{hint}') from exc
        try:
            if self._arm is None:
                self._arm = self.robot.get_planning_component(self.cfg.arm_group)
            if self._hand is None and self.cfg.hand_group:
                self._hand = self.robot.get_planning_component(self.cfg.hand_group)
        except Exception as exc:  # noqa: BLE001
            raise MotionError(f'MoveIt planning group missing: {_describe(exc)}') from exc

    def _plan_parameters(self) -> Any:
        if not self.cfg.plan_request_namespace:
            return None
        from moveit.planning import PlanRequestParameters  # lazy
        params = PlanRequestParameters(self.robot, self.cfg.plan_request_namespace)
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
        try:
            component.set_start_state_to_current_state()
            if not component.set_goal_state(**goal_kwargs):
                raise MotionError(f'{what}: goal state rejected by MoveIt')
            t0 = time.perf_counter()
            params = self._plan_parameters()
            result = (component.plan(single_plan_parameters=params) if params is not None
                      else component.plan())
            self.last_plan_time_s = time.perf_counter() - t0
        except MotionError:
            raise
        except Exception as exc:  # noqa: BLE001 - a MoveIt exception becomes the reason
            raise MotionError(f'{what}: MoveIt planning raised {_describe(exc)}') from exc
        if not result:
            code = getattr(getattr(result, 'error_code', None), 'val', '?')
            raise MotionError(f'{what}: planning failed (MoveIt error code {code})')
        if cancel.is_set():
            raise MotionError(f'{what}: cancelled')
        trajectory = result.trajectory
        try:
            retimed = trajectory.apply_totg_time_parameterization(
                velocity_scaling_factor=self.cfg.velocity_scale,
                acceleration_scaling_factor=self.cfg.acceleration_scale)
        except Exception as exc:  # noqa: BLE001
            raise MotionError(f'{what}: time parameterisation raised {_describe(exc)}') from exc
        if not retimed:
            raise MotionError(f'{what}: time parameterisation at velocity scale '
                              f'{self.cfg.velocity_scale} failed; not executing unscaled')
        try:
            status = self.robot.execute(trajectory, controllers=list(self.cfg.controllers))
        except Exception as exc:  # noqa: BLE001
            raise MotionError(f'{what}: execution raised {_describe(exc)}') from exc
        if not status:
            raise MotionError(f'{what}: execution failed ({getattr(status, "status", status)})')

    def run(self, goal: MotionGoal, cancel: threading.Event) -> None:
        """Plan and execute the arm, then the hand.

        Raises:
            MotionError: any failure, with the stage and MoveIt's reason.
        """
        self.connect()
        self._plan_and_execute(self._arm, 'arm', cancel,
                               pose_stamped_msg=self.pose_goal_msg(goal),
                               pose_link=self.cfg.pose_link)
        if self._hand is not None and not cancel.is_set():
            state = (self.cfg.hand_open_state if goal.gripper is GripperState.OPEN
                     else self.cfg.hand_closed_state)
            self._plan_and_execute(self._hand, 'gripper', cancel, configuration_name=state)

    def stop(self) -> None:
        """Stop the running trajectory execution (safe while idle)."""
        if self.robot is not None:
            try:
                self.robot.get_trajectory_execution_manager().stop_execution(auto_clear=True)
            except Exception:  # noqa: BLE001 - stopping must never raise into the caller
                _LOG.exception('moveit: stop_execution failed')


class GoalLoop:
    """Runs goals on one worker thread; a new goal or :meth:`stop` cancels the running one
    without waiting for it (its result is dropped).

    Args:
        session: The MoveIt session.
        report: ``report(goal_id, ok, reason)`` for each goal that ran to its end uncancelled.
    """

    def __init__(self, session: MoveItSession,
                 report: Callable[[int, bool, str], None]) -> None:
        self.session, self._report = session, report
        self._lock = threading.Lock()
        self._slot: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self._epoch = 0                  # bumped by stop(): older goals never start
        self._running = False
        self._thread = threading.Thread(target=self._loop, name='moveit-goals', daemon=True)
        self._thread.start()

    def submit(self, goal_id: int, goal: MotionGoal) -> None:
        """Cancel what runs, then run ``goal`` next."""
        self.stop()
        with self._lock:
            self._slot.put((self._epoch, goal_id, goal))

    def stop(self) -> None:
        """Cancel the running goal (stop_execution) and drop waiting ones; returns at once."""
        with self._lock:
            self._epoch += 1
            self._cancel.set()
            while not self._slot.empty():
                try:
                    self._slot.get_nowait()
                except queue.Empty:
                    break
            running = self._running
        if running:
            self.session.stop()

    def close(self) -> None:
        """Stop and end the worker."""
        self.stop()
        self._slot.put(None)

    def _loop(self) -> None:
        while True:
            item = self._slot.get()
            if item is None:
                return
            epoch, goal_id, goal = item
            with self._lock:
                if epoch != self._epoch:
                    continue
                self._cancel = cancel = threading.Event()
                self._running = True
            try:
                self.session.run(goal, cancel)
                ok, reason = True, ''
            except MotionError as exc:
                ok, reason = False, str(exc)
            except Exception as exc:  # noqa: BLE001 - never kill the worker
                _LOG.exception('moveit: unexpected error')
                ok, reason = False, _describe(exc)
            finally:
                with self._lock:
                    self._running = False
            if not cancel.is_set():
                self._report(goal_id, ok, reason)


def process_main(conn: Any, config: MoveItBackendConfig, moveit_config: dict | None) -> None:
    """Body of the MoveIt child process: messages in, results out over ``conn``.

    In: ``('goal', id, MotionGoal)``, ``('stop',)``, ``('close',)``. Out: ``('connected',)`` or
    ``('error', reason)`` once, then ``('done', id, ok, reason)`` per goal.
    """
    send_lock = threading.Lock()

    def send(msg: tuple) -> None:
        with send_lock:
            conn.send(msg)

    session = MoveItSession(config, moveit_config)
    try:
        session.connect()
    except MotionError as exc:
        send(('error', str(exc)))
        return
    send(('connected',))
    loop = GoalLoop(session, lambda gid, ok, reason: send(('done', gid, ok, reason)))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break
        if msg[0] == 'goal':
            loop.submit(msg[1], msg[2])
        elif msg[0] == 'stop':
            loop.stop()
        elif msg[0] == 'close':
            break
    loop.close()
