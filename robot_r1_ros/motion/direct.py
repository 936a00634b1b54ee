"""Direct backend: IK + limited time parameterisation -> arm controller + gripper command.

The TCP moves on a straight line from where it is to the goal (orientation slerped), sampled
every ``cartesian_step_m``; each sample is solved with damped-least-squares IK seeded from the
previous one (the core's numpy kinematics, ``core.kinematics``, of the backend's
``RobotModel``: the executor never loads the simulator), then the joint path is timed by
:mod:`robot_r1_ros.motion.timing` and handed to ``send_trajectory``: the node sends it as a
``control_msgs/FollowJointTrajectory`` goal to the arm controller's ``follow_joint_trajectory``
action (ros2_control's joint_trajectory_controller, the sim node), or publishes it on the
controller's ``joint_trajectory`` topic.

Arrival: with the action, the controller's result must be SUCCESSFUL (an error code fails the
goal with its name and ``error_string``), then the TCP computed from ``/joint_states`` must be
within ``goal_tolerance_m`` of the goal with the joints settled; with the topic, only the
measured arrival counts. Either before ``duration + settle_timeout_s``. Then the gripper command
(:class:`~robot_r1_ros.motion.commands.GripperConfig`) is sent if it changes the gripper: an
action interface (franka_gripper Grasp/Move, control_msgs GripperCommand) decides REACHED or
FAILED (a grasp that closes on nothing fails); the topic interface is given ``gripper.time_s``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import numpy as np

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.kinematics import PANDA, RobotModel, kinematics_for
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.backend import MotionBackend, MotionError
from robot_r1_ros.motion.commands import CommandTicket, GripperConfig, TicketState
from robot_r1_ros.motion.limits import JointLimits, arm_joint_names, finger_joint_names
from robot_r1_ros.motion.timing import time_parameterize
from robot_r1_ros.motion.types import (GripperCommandData, JointStateSample, JointTrajectoryData,
                                       MotionGoal, MotionProgress, MotionState)

_LOG = logging.getLogger(__name__)
#: A preempted trajectory's commanded point counts as followed within this of the measured one.
FOLLOWING_TOLERANCE_RAD = 0.2
#: A trajectory that preempts a moving one starts this far ahead of "now", on the old one, and
#: its first point is that far in the future: the controller (JTC, the sim) interpolates from its
#: own set-point on receipt. A first point at t=0 would be behind the set-point by the message
#: latency times the joint speed: a jump back on the robot, a start-state refusal in the sim.
PREEMPT_LEAD_S = 0.25


@dataclass(frozen=True)
class DirectBackendConfig:
    """Settings of the direct backend (the executor node's parameters of the same names).

    Attributes:
        joint_prefix: Joint-name prefix (``panda`` -> ``panda_joint1``; ``fr3`` on an FR3).
        velocity_scale: Fraction of the hardware joint velocity limits used, (0, 1].
        acceleration_scale: Fraction of the hardware joint acceleration limits used, (0, 1].
        max_tcp_speed_m_s: Peak TCP speed along the line.
        min_duration_s: Shortest trajectory.
        sample_period_s: Spacing of the trajectory points.
        cartesian_step_m: Spacing of the IK waypoints along the line.
        goal_tolerance_m: Arrival: measured TCP within this distance of the goal.
        settle_speed_rad_s: Arrival: every arm joint slower than this (when velocities are
            reported). 0.01 rad/s: at 0.05 the sim's arm was still 1.3-1.9 mm above a grasp
            goal when REACHED came, and the next prediction read that state; the recorded
            demos' keyframes are taken at rest.
        settle_timeout_s: Time after the trajectory's end before the goal fails.
        joint_state_timeout_s: Oldest joint state a goal may start from.
        max_joint_jump_rad: Largest joint change between consecutive IK waypoints (a larger one
            means the IK switched branches: the goal fails instead of swinging the arm).
        stop_time_s: ``time_from_start`` of the single hold point sent by :meth:`hold`.
        gripper: How the gripper is commanded and judged.
    """

    joint_prefix: str = 'panda'
    velocity_scale: float = 0.3
    acceleration_scale: float = 0.3
    max_tcp_speed_m_s: float = 0.25
    min_duration_s: float = 0.5
    sample_period_s: float = 0.05
    cartesian_step_m: float = 0.02
    goal_tolerance_m: float = 0.005
    settle_speed_rad_s: float = 0.01
    settle_timeout_s: float = 3.0
    joint_state_timeout_s: float = 1.0
    max_joint_jump_rad: float = 0.5
    stop_time_s: float = 0.2
    gripper: GripperConfig = field(default_factory=GripperConfig)

    def __post_init__(self) -> None:
        if not self.joint_prefix or not self.joint_prefix.replace('_', '').isalnum():
            raise ConfigError('joint_prefix must be a name like "panda", got '
                              f'{self.joint_prefix!r}', 'joint_prefix')
        for name in ('velocity_scale', 'acceleration_scale'):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ConfigError(f'{name} must be in (0, 1], got {value}', name)
        for name in ('max_tcp_speed_m_s', 'min_duration_s', 'sample_period_s', 'cartesian_step_m',
                     'goal_tolerance_m', 'settle_speed_rad_s', 'settle_timeout_s',
                     'joint_state_timeout_s', 'max_joint_jump_rad', 'stop_time_s'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'{name} must be a finite number > 0, got {value}', name)

    @property
    def arm_joints(self) -> tuple[str, ...]:
        """The 7 arm joint names."""
        return arm_joint_names(self.joint_prefix)

    @property
    def finger_joints(self) -> tuple[str, ...]:
        """The 2 finger joint names."""
        return finger_joint_names(self.joint_prefix)


def slerp_wxyz(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    """Spherical interpolation of unit quaternions (shortest arc), ``s`` in [0, 1]."""
    q0, q1 = np.asarray(q0, float), np.asarray(q1, float)
    if np.dot(q0, q1) < 0.0:
        q1 = -q1
    theta = math.acos(float(np.clip(np.dot(q0, q1), -1.0, 1.0)))
    if theta < 1e-6:
        q = q0 + s * (q1 - q0)
    else:
        q = (math.sin((1 - s) * theta) * q0 + math.sin(s * theta) * q1) / math.sin(theta)
    return q / np.linalg.norm(q)


def quat_angle_rad(q0: np.ndarray, q1: np.ndarray) -> float:
    """Rotation angle between two unit quaternions."""
    return 2.0 * math.acos(min(1.0, abs(float(np.dot(q0, q1)))))


class DirectBackend(MotionBackend):
    """IK + time parameterisation; commands the robot through the two callables it is given.

    Args:
        config: Settings.
        publish_trajectory: Sends a :class:`JointTrajectoryData` to the arm controller; returns
            a :class:`CommandTicket` the controller's result resolves (action), or None (topic:
            no result, arrival is measured).
        publish_gripper: Sends a :class:`GripperCommandData` to the gripper; returns a ticket
            (action) or None (topic: ``gripper.time_s`` is waited).
        kinematics: FK/IK solver with ``fk``/``solve`` (default: ``core.kinematics`` of
            ``robot``).
        robot: The arm's model, whose joint limits the plans respect (default: the Panda with
            the config's joint prefix).
    """

    name = 'direct'

    def __init__(self, config: DirectBackendConfig,
                 publish_trajectory: Callable[[JointTrajectoryData], Optional[CommandTicket]],
                 publish_gripper: Callable[[GripperCommandData], Optional[CommandTicket]],
                 kinematics: Any = None, robot: RobotModel | None = None) -> None:
        self.cfg = config
        self.robot = robot or replace(PANDA, joint_prefix=config.joint_prefix)
        self._publish_trajectory = publish_trajectory
        self._publish_gripper = publish_gripper
        self._kin = kinematics
        self.limits = JointLimits.from_robot(self.robot).scaled(config.velocity_scale,
                                                                config.acceleration_scale)
        self._joint_state: JointStateSample | None = None
        self._goal: MotionGoal | None = None
        self._traj: JointTrajectoryData | None = None
        self._state = MotionState.IDLE
        self._reason = ''
        self._phase = ''               # 'arm' | 'gripper' while MOVING
        self._t_start = self._t_phase = 0.0
        self._last_err = float('nan')
        self._gripper_sent: GripperState | None = None
        self._arm_ticket: CommandTicket | None = None
        self._grip_ticket: CommandTicket | None = None
        self.last_plan_time_s = 0.0    # wall time of the last IK + timing (for benchmarks)

    # -- kinematics ---------------------------------------------------------------------------
    @property
    def kinematics(self) -> Any:
        """The IK/FK solver (numpy, ``core.kinematics``)."""
        if self._kin is None:
            self._kin = kinematics_for(self.robot)
        return self._kin

    def fk(self, q_rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(xyz_base_m, quat_wxyz) of the TCP for the 7 arm joints."""
        return self.kinematics.fk(q_rad)

    # -- inputs ------------------------------------------------------------------------------
    def update_joint_state(self, sample: JointStateSample) -> None:
        self._joint_state = sample

    def measured_q(self) -> np.ndarray | None:
        """Arm joint positions from the latest joint state, or None."""
        if self._joint_state is None:
            return None
        return self._joint_state.arm_q(self.cfg.arm_joints)

    def tcp_position(self) -> tuple[float, float, float] | None:
        q = self.measured_q()
        if q is None:
            return None
        xyz, _ = self.fk(q)
        return tuple(float(v) for v in xyz)

    # -- planning ----------------------------------------------------------------------------
    def plan(self, goal: MotionGoal, q_start: np.ndarray) -> tuple[JointTrajectoryData, float]:
        """Joint trajectory from ``q_start`` to ``goal`` along a straight TCP line.

        Returns:
            The trajectory and the Cartesian path length in metres.

        Raises:
            MotionError: IK fails or jumps between branches, or a limit is violated.
        """
        import time

        t0 = time.perf_counter()
        kin = self.kinematics
        p0, quat0 = kin.fk(q_start)
        p1 = np.asarray(goal.xyz_base_m, float)
        quat1 = np.asarray(goal.quat_wxyz, float) if goal.quat_wxyz is not None else quat0
        length = float(np.linalg.norm(p1 - p0))
        n = max(1, int(math.ceil(length / self.cfg.cartesian_step_m)),
                int(math.ceil(quat_angle_rad(quat0, quat1) / 0.1)))
        waypoints = [np.asarray(q_start, float)]
        q = waypoints[0]
        for k in range(1, n + 1):
            s = k / n
            target_p = p0 + s * (p1 - p0)
            target_q = slerp_wxyz(quat0, quat1, s)
            last = k == n
            res = kin.solve(target_p, target_q, q, max_iters=300 if last else 100,
                            pos_tol_m=1e-4 if last else 5e-4)
            pos_tol, rot_tol = (2e-3, 2e-2) if last else (5e-3, 5e-2)
            if res.pos_err_m > pos_tol or res.rot_err_rad > rot_tol:
                raise MotionError(
                    f'IK failed at {s:.0%} of the path to {np.round(p1, 3).tolist()}: position '
                    f'error {res.pos_err_m * 1e3:.1f} mm, orientation error '
                    f'{math.degrees(res.rot_err_rad):.1f} deg')
            jump = float(np.max(np.abs(res.q - q)))
            if jump > self.cfg.max_joint_jump_rad:
                raise MotionError(f'IK jumped {jump:.2f} rad between waypoints at {s:.0%} of the '
                                  f'path (max {self.cfg.max_joint_jump_rad:.2f}): refusing to '
                                  'swing')
            q = res.q
            waypoints.append(q)
        try:
            traj = time_parameterize(
                np.stack(waypoints), self.cfg.arm_joints, self.limits,
                sample_period_s=self.cfg.sample_period_s, tcp_path_length_m=length,
                max_tcp_speed_m_s=self.cfg.max_tcp_speed_m_s,
                min_duration_s=self.cfg.min_duration_s)
        except ValueError as exc:
            raise MotionError(f'time parameterisation failed: {exc}') from exc
        self.last_plan_time_s = time.perf_counter() - t0
        return traj, length

    # -- execution ---------------------------------------------------------------------------
    def start(self, goal: MotionGoal, now_s: float) -> None:
        js = self._joint_state
        q_meas = self.measured_q()
        if js is None or q_meas is None:
            raise MotionError('no joint state with all arm joints '
                              f'({", ".join(self.cfg.arm_joints)}) received yet')
        if now_s - js.stamp_s > self.cfg.joint_state_timeout_s:
            raise MotionError(f'joint state is {now_s - js.stamp_s:.2f} s old '
                              f'(max {self.cfg.joint_state_timeout_s:.2f} s)')
        # When preempting a running trajectory, start on it (PREEMPT_LEAD_S ahead while it
        # still moves), so the follower sees no position jump; otherwise from the measured
        # configuration.
        q_start, lead_s = q_meas, 0.0
        if self._state is MotionState.MOVING and self._phase == 'arm' and self._traj is not None:
            t_old = now_s - self._t_start
            q_cmd = self._traj.sample(t_old)
            # ... unless the arm is not following it (the controller refused it: a topic has
            # no result): then from where the arm is, or every later plan would be refused too.
            if float(np.max(np.abs(q_cmd - q_meas))) <= FOLLOWING_TOLERANCE_RAD:
                moving = t_old < self._traj.duration_s
                lead_s = PREEMPT_LEAD_S if moving else 0.0
                q_start = self._traj.sample(t_old + lead_s)
        traj, _ = self.plan(goal, q_start)
        if lead_s:
            traj = delayed(traj, lead_s)
        # A new goal replaces a running one (the controller preempts its goal itself); a
        # gripper action still running is cancelled.
        self._cancel_gripper()
        self._goal, self._traj = goal, traj
        self._state, self._reason, self._phase = MotionState.MOVING, '', 'arm'
        self._t_start = self._t_phase = now_s
        self._arm_ticket = self._publish_trajectory(traj)
        _LOG.debug('direct: %d points over %.2f s to %s', len(traj.time_from_start_s),
                   traj.duration_s, goal.xyz_base_m)

    def _fail(self, reason: str) -> None:
        self._state, self._reason, self._phase = MotionState.FAILED, reason, ''

    def poll(self, now_s: float) -> MotionProgress:
        if self._state is MotionState.MOVING and self._goal is not None:
            q = self.measured_q()
            if q is not None:
                xyz, _ = self.fk(q)
                self._last_err = float(np.linalg.norm(xyz - np.asarray(self._goal.xyz_base_m)))
            if self._phase == 'arm':
                self._poll_arm(now_s)
            if self._phase == 'gripper':
                self._poll_gripper(now_s)
        return MotionProgress(self._state, self._reason, self._last_err,
                              now_s - self._t_start if self._goal is not None else 0.0)

    def _poll_arm(self, now_s: float) -> None:
        ticket = self._arm_ticket
        if ticket is not None and ticket.state is TicketState.FAILED:
            self._arm_ticket = None
            self._fail(ticket.reason)
            return
        speed = (self._joint_state.max_speed(self.cfg.arm_joints)
                 if self._joint_state is not None else None)
        settled = speed is None or speed <= self.cfg.settle_speed_rad_s
        done = (ticket.state is TicketState.SUCCEEDED if ticket is not None
                else now_s - self._t_start >= self._traj.duration_s)
        if done and self._last_err <= self.cfg.goal_tolerance_m and settled:
            self._arm_ticket = None
            self._start_gripper(now_s)
        elif now_s - self._t_start > self._traj.duration_s + self.cfg.settle_timeout_s:
            waiting = (' (no result from the arm controller)'
                       if ticket is not None and ticket.state is TicketState.PENDING else '')
            if ticket is not None:
                ticket.cancel()
            self._arm_ticket = None
            if not waiting and not settled and self._last_err <= self.cfg.goal_tolerance_m:
                waiting = (f' (joints not at rest: {speed:.3f} rad/s, settle speed '
                           f'{self.cfg.settle_speed_rad_s} rad/s)')
            self._fail(f'timeout: TCP {self._last_err * 1e3:.1f} mm from the goal '
                       f'{now_s - self._t_start:.1f} s after the start (tolerance '
                       f'{self.cfg.goal_tolerance_m * 1e3:.1f} mm){waiting}')

    def _poll_gripper(self, now_s: float) -> None:
        ticket, grip = self._grip_ticket, self.cfg.gripper
        if ticket is None:                       # topic interface: no result, a fixed time
            if now_s - self._t_phase >= grip.time_s:
                self._state, self._phase = MotionState.REACHED, ''
            return
        if ticket.state is TicketState.SUCCEEDED:
            self._grip_ticket = None
            self._state, self._phase = MotionState.REACHED, ''
        elif ticket.state is TicketState.FAILED:
            self._grip_ticket = None
            self._gripper_sent = None            # unknown now: send the next command again
            self._fail(ticket.reason)
        elif now_s - self._t_phase > grip.timeout_s:
            ticket.cancel()
            self._grip_ticket = None
            self._gripper_sent = None
            self._fail(f'gripper: no result within {grip.timeout_s:.1f} s ({ticket.what})')

    def _start_gripper(self, now_s: float) -> None:
        goal, grip = self._goal, self.cfg.gripper
        if goal is None or grip.interface == 'none' or goal.gripper is self._gripper_sent:
            self._state, self._phase = MotionState.REACHED, ''
            return
        self._grip_ticket = self._publish_gripper(GripperCommandData(
            goal.gripper, grip.width_for(goal.gripper), grip.force_n))
        self._gripper_sent = goal.gripper
        self._phase, self._t_phase = 'gripper', now_s

    def _cancel_gripper(self) -> None:
        if self._grip_ticket is not None:
            self._grip_ticket.cancel()
            self._grip_ticket = None
            self._gripper_sent = None

    def hold(self, now_s: float) -> None:
        q = self.measured_q()
        if q is None and self._traj is not None:
            q = self._traj.sample(now_s - self._t_start)
        self._cancel_gripper()
        self._arm_ticket = None
        if q is not None:
            # A one-point trajectory at the current position replaces (preempts) the running one.
            self._publish_trajectory(JointTrajectoryData(
                self.cfg.arm_joints, q[None, :].copy(), np.zeros((1, 7)),
                np.array([self.cfg.stop_time_s])))
        self._goal, self._traj = None, None
        self._state, self._reason, self._phase = MotionState.IDLE, '', ''


def delayed(traj: JointTrajectoryData, lead_s: float) -> JointTrajectoryData:
    """``traj`` with every point ``lead_s`` later (its first point no longer at t=0)."""
    return replace(traj, time_from_start_s=np.asarray(traj.time_from_start_s, float)
                   + float(lead_s))
