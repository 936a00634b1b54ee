"""The sim node's controller action servers: the real robot's interfaces on the simulated Panda.

- ``/<arm_controller>/follow_joint_trajectory`` (``control_msgs/action/FollowJointTrajectory``),
  as ros2_control's joint_trajectory_controller: a goal the trajectory checks refuse is
  rejected (the reason is logged); an accepted one replaces the running trajectory (the older
  goal ends CANCELED, "preempted"); when the trajectory's time is over the goal SUCCEEDS once
  every joint is within its goal tolerance (the goal's ``goal_tolerance`` entries, else
  ``goal_tolerance_rad``) and is ABORTED with ``GOAL_TOLERANCE_VIOLATED`` if that has not
  happened ``goal_time_tolerance`` (else ``goal_time_s``) later. A cancel holds the arm.
- ``/<gripper_node>/grasp``, ``move``, ``homing`` (``franka_msgs/action/*``), as franka_gripper:
  the fingers are driven to the width (``Grasp``: closed until they stall) and the result is
  read once they stop: ``Move`` succeeds within 5 mm of the width, ``Grasp`` when they stopped
  inside
  ``[width - epsilon.inner, width + epsilon.outer]`` (closing on nothing fails), ``Homing``
  opens fully. ``~/gripper_action`` (``control_msgs/action/GripperCommand``, ``position`` =
  one finger, half the opening) reports ``position``, ``reached_goal`` and ``stalled``.

Each server exists only when its interface package is importable (control_msgs, franka_msgs:
with a ROS 2 install, or the overlay the tests build); otherwise the sim logs that only the
topic interfaces are offered. Goals are coroutines that wait on futures resolved by
:meth:`SimControllers.on_tick` (called from the sim's stepping timer), so one thread serves all.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import functools

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.node import Node
from rclpy.task import Future

from robot_r1_ros.sim.trajectory import JointTrajectoryPlan, TrajectoryError

#: Fingers slower than this (m/s, summed opening) count as stopped.
FINGER_STILL_M_S = 0.002
#: How long the fingers must be still, and the longest a gripper goal may take (sim s).
FINGER_STILL_S, GRIPPER_TIMEOUT_S = 0.1, 5.0
MOVE_TOLERANCE_M = 0.005


@dataclass
class _ArmGoal:
    handle: Any
    plan: JointTrajectoryPlan
    serial: int
    tolerance_rad: np.ndarray
    goal_time_s: float
    done: Future


@dataclass
class _GripperGoal:
    kind: str                          # grasp | move | homing | gripper_command
    handle: Any
    target_m: float
    start_s: float
    done: Future
    params: dict = field(default_factory=dict)


class SimControllers:
    """Action servers of the simulated arm controller and gripper.

    Args:
        node: The sim node; it provides ``accept_trajectory(names, positions, times,
            velocities) -> (plan, serial)`` (raises TrajectoryError), ``plan_serial``,
            ``hold()``, ``scene`` and ``sim_time_s``.
        arm_controller: Controller name (``panda_arm_controller``, ``fr3_arm_controller``).
        gripper_node: franka_gripper node name (``franka_gripper``).
        arm_joints: Arm joint names as the robot calls them (tolerance entries use them).
        goal_tolerance_rad: Default per-joint goal tolerance.
        goal_time_s: Default time after the trajectory's end to reach the tolerance.
    """

    def __init__(self, node: Node, arm_controller: str, gripper_node: str,
                 arm_joints: tuple[str, ...], goal_tolerance_rad: float = 0.02,
                 goal_time_s: float = 1.0) -> None:
        self.node, self.arm_joints = node, arm_joints
        self.goal_tolerance_rad, self.goal_time_s = goal_tolerance_rad, goal_time_s
        self._arm: _ArmGoal | None = None
        self._grip: _GripperGoal | None = None
        self._still_since: float | None = None
        self.servers: list[str] = []
        self._handles: list[ActionServer] = []
        arm, grip = arm_controller.strip('/'), gripper_node.strip('/')
        try:
            from control_msgs.action import FollowJointTrajectory, GripperCommand
        except ImportError:
            FollowJointTrajectory = GripperCommand = None
        try:
            from franka_msgs.action import Grasp, Homing, Move
        except ImportError:
            Grasp = Homing = Move = None
        if FollowJointTrajectory is not None:
            self._fjt = FollowJointTrajectory
            self._serve(FollowJointTrajectory, f'/{arm}/follow_joint_trajectory',
                        self._execute_arm, self._accept_arm)
            self._gc = GripperCommand
            self._serve(GripperCommand, f'/{grip}/gripper_action',
                        functools.partial(self._execute_gripper, 'gripper_command'))
        if Grasp is not None:
            self._franka = {'grasp': Grasp, 'move': Move, 'homing': Homing}
            for kind, action in self._franka.items():
                # partial, not lambda: rclpy awaits only coroutine functions
                self._serve(action, f'/{grip}/{kind}',
                            functools.partial(self._execute_gripper, kind))
        missing = [p for p, t in (('control_msgs', FollowJointTrajectory), ('franka_msgs', Grasp))
                   if t is None]
        if missing:
            node.get_logger().warning(
                f'{" and ".join(missing)} not installed: no '
                f'{"follow_joint_trajectory" if "control_msgs" in missing else ""}'
                f'{" / " if len(missing) == 2 else ""}'
                f'{"franka_gripper" if "franka_msgs" in missing else ""} action servers; '
                'the topic interfaces still work')

    def _serve(self, action: Any, name: str, execute: Callable, goal_cb: Callable | None = None
               ) -> None:
        kwargs = {'cancel_callback': lambda _h: CancelResponse.ACCEPT}
        if goal_cb is not None:
            kwargs['goal_callback'] = goal_cb
        self._handles.append(ActionServer(self.node, action, name, execute, **kwargs))
        self.servers.append(name)

    # -- arm -------------------------------------------------------------------------------
    @staticmethod
    def _trajectory_args(traj: Any) -> tuple:
        return (list(traj.joint_names), [list(p.positions) for p in traj.points],
                [p.time_from_start.sec + p.time_from_start.nanosec * 1e-9 for p in traj.points],
                [list(p.velocities) for p in traj.points])

    def _accept_arm(self, request: Any) -> GoalResponse:
        try:
            self.node.check_trajectory(*self._trajectory_args(request.trajectory))
        except TrajectoryError as exc:
            self.node.get_logger().error(f'follow_joint_trajectory: rejected goal: {exc}')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _tolerances(self, request: Any) -> tuple[np.ndarray, float]:
        tol = np.full(len(self.arm_joints), self.goal_tolerance_rad)
        for entry in request.goal_tolerance:
            if entry.name in self.arm_joints and entry.position > 0.0:
                tol[self.arm_joints.index(entry.name)] = entry.position
        t = request.goal_time_tolerance.sec + request.goal_time_tolerance.nanosec * 1e-9
        return tol, (t if t > 0.0 else self.goal_time_s)

    async def _execute_arm(self, handle: Any) -> Any:
        result = self._fjt.Result()
        try:
            plan, serial = self.node.accept_trajectory(
                *self._trajectory_args(handle.request.trajectory))
        except TrajectoryError as exc:           # the arm moved since the goal was accepted
            handle.abort()
            result.error_code, result.error_string = result.INVALID_GOAL, str(exc)
            return result
        self._finish_arm('canceled', 0, 'preempted by a new trajectory')
        tol, goal_time = self._tolerances(handle.request)
        goal = _ArmGoal(handle, plan, serial, tol, goal_time, Future())
        self._arm = goal
        status, code, text = await goal.done
        if status == 'succeeded':
            handle.succeed()
        elif status == 'canceled' and handle.is_cancel_requested:
            handle.canceled()
        else:                 # aborted, or preempted by a new goal (EXECUTING cannot cancel)
            handle.abort()
        result.error_code, result.error_string = code, text
        return result

    def _finish_arm(self, status: str, code: int, text: str) -> None:
        goal, self._arm = self._arm, None
        if goal is not None and not goal.done.done():
            goal.done.set_result((status, code, text))

    def _tick_arm(self, t_s: float) -> None:
        goal = self._arm
        if goal is None:
            return
        if goal.handle.is_cancel_requested:
            self.node.hold()
            self._finish_arm('canceled', 0, 'cancel requested: holding')
        elif self.node.plan_serial != goal.serial:
            self._finish_arm('canceled', 0, 'preempted by a new trajectory')
        elif t_s >= goal.plan.end_s:
            err = np.abs(self.node.scene.arm_q() - goal.plan.final_positions)
            if np.all(err <= goal.tolerance_rad):
                self._finish_arm('succeeded', 0, '')
            elif t_s > goal.plan.end_s + goal.goal_time_s:
                j = int(np.argmax(err - goal.tolerance_rad))
                self._finish_arm('aborted', self._fjt.Result.GOAL_TOLERANCE_VIOLATED,
                                 f'{self.arm_joints[j]} {err[j]:.4f} rad from the goal '
                                 f'(tolerance {goal.tolerance_rad[j]:.4f}) '
                                 f'{goal.goal_time_s:.2f} s after the trajectory end')

    # -- gripper ---------------------------------------------------------------------------
    async def _execute_gripper(self, kind: str, handle: Any) -> Any:
        req = handle.request
        if kind == 'gripper_command':
            target = 2.0 * float(req.command.position)
        elif kind == 'homing':
            target = 0.08
        else:
            target = float(req.width)
        if self._grip is not None and not self._grip.done.done():
            self._grip.done.set_result('preempted')
        goal = _GripperGoal(kind, handle, target, self.node.sim_time_s, Future())
        self._grip, self._still_since = goal, None
        # A grasp closes until the fingers stall (on an object, or on each other), then
        # judges the width, as libfranka does; the others drive to the width.
        command = 0.0 if kind == 'grasp' else min(max(target, 0.0), 0.08)
        self.node.scene.set_gripper_width(command)
        outcome = await goal.done
        width = self.node.scene.gripper_width()
        if kind == 'gripper_command':
            result = self._gc.Result()
            result.position, result.effort = width / 2.0, 0.0
            result.reached_goal = abs(width - target) <= MOVE_TOLERANCE_M
            result.stalled = outcome == 'still' and not result.reached_goal
            ok = outcome == 'still'
        else:
            result = self._franka[kind].Result()
            if outcome != 'still':
                ok, error = False, outcome
            elif kind == 'grasp':
                low, high = target - req.epsilon.inner, target + req.epsilon.outer
                ok = low <= width <= high
                error = '' if ok else (f'fingers stopped at {width * 1e3:.1f} mm, outside '
                                       f'[{low * 1e3:.1f}, {high * 1e3:.1f}] mm: nothing grasped'
                                       if width < low else f'fingers stopped at '
                                       f'{width * 1e3:.1f} mm, wider than {high * 1e3:.1f} mm')
            else:
                ok = abs(width - target) <= MOVE_TOLERANCE_M
                error = '' if ok else (f'fingers stopped at {width * 1e3:.1f} mm, target '
                                       f'{target * 1e3:.1f} mm')
            result.success, result.error = ok, error
        if handle.is_cancel_requested:
            handle.canceled()
        elif ok:
            handle.succeed()
        else:
            handle.abort()
        return result

    def _tick_gripper(self, t_s: float) -> None:
        goal = self._grip
        if goal is None or goal.done.done():
            return
        finger_velocity = self.node.scene.joint_state().velocity[7:9]
        speed = float(np.sum(np.abs(finger_velocity)))
        if goal.handle.is_cancel_requested:
            goal.done.set_result('canceled')
        elif speed < FINGER_STILL_M_S and t_s - goal.start_s >= FINGER_STILL_S:
            self._still_since = t_s if self._still_since is None else self._still_since
            if t_s - self._still_since >= FINGER_STILL_S:
                goal.done.set_result('still')
        else:
            self._still_since = None
            if t_s - goal.start_s > GRIPPER_TIMEOUT_S:
                goal.done.set_result(f'fingers still moving after {GRIPPER_TIMEOUT_S:.0f} s')

    # -- both ------------------------------------------------------------------------------
    def on_tick(self, t_s: float) -> None:
        """Advance the goals (call after each physics step batch, with the sim time)."""
        self._tick_arm(t_s)
        self._tick_gripper(t_s)

    def destroy(self) -> None:
        """Destroy the servers."""
        for server in self._handles:
            server.destroy()
