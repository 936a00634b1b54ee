"""The executor's connections to the robot's controllers: action clients and topic publishers.

Each ``*Sink`` is a callable the direct motion backend sends commands through; it returns a
:class:`~robot_r1_ros.motion.commands.CommandTicket` that the action's result resolves, or None
for a topic (no result). Interfaces (parameters ``arm.interface``, ``gripper.interface``):

- arm ``action`` (default): ``control_msgs/action/FollowJointTrajectory`` goal to
  ``<controller>/follow_joint_trajectory`` (ros2_control's joint_trajectory_controller, the sim
  node); ``topic``: ``trajectory_msgs/JointTrajectory`` on ``<controller>/joint_trajectory``.
- gripper ``franka``: franka_gripper's ``<ns>/grasp`` (CLOSED) and ``<ns>/move`` (OPEN)
  (``franka_msgs/action/Grasp``, ``Move``); ``gripper_command``:
  ``control_msgs/action/GripperCommand``; ``topic``: ``std_msgs/Float64`` opening; ``none``.

control_msgs and franka_msgs come with a ROS 2 install (ros-<distro>-control-msgs,
franka_ros2) but not from PyPI; asking for an action interface without them is a
:class:`~robot_r1_ros.core.errors.ConfigError` that says which package and which parameter.
Callbacks run on the node's executor (the ROS thread); tickets are thread-safe.
"""
from __future__ import annotations

import math
from typing import Any

from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.node import Node
from std_msgs.msg import Float64
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.commands import (CommandTicket, GripperConfig, follow_joint_trajectory_outcome,
                                          franka_outcome, gripper_command_outcome)
from robot_r1_ros.motion.types import GripperCommandData, JointTrajectoryData

#: Longest wait for an undiscovered action server when a command is sent [s].
SERVER_WAIT_S = 1.0
STATUS_WORDS = {GoalStatus.STATUS_SUCCEEDED: 'succeeded', GoalStatus.STATUS_ABORTED: 'aborted',
                GoalStatus.STATUS_CANCELED: 'canceled'}


def import_interface(module: str, what: str, parameter: str) -> Any:
    """Import a ROS interface module, or explain which package and parameter to change.

    Raises:
        ConfigError: the package is not installed.
    """
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split('.')[0]
        raise ConfigError(
            f'{parameter} needs {package} ({what}), which is not installed: it comes with ROS 2 '
            f'(ros-<distro>-{package.replace("_", "-")}) but not from PyPI. Install it, or '
            f'set {parameter} to topic', parameter) from None


def duration_msg(t_s: float) -> Any:
    """``builtin_interfaces/Duration`` of ``t_s`` seconds."""
    from builtin_interfaces.msg import Duration
    sec = int(math.floor(t_s))
    return Duration(sec=sec, nanosec=int(round((t_s - sec) * 1e9)) % 1_000_000_000)


def trajectory_msg(traj: JointTrajectoryData) -> JointTrajectory:
    """``trajectory_msgs/JointTrajectory`` with a zero stamp (start on receipt, as JTC does)."""
    msg = JointTrajectory()
    msg.joint_names = list(traj.joint_names)
    for pos, vel, t in zip(traj.positions_rad, traj.velocities_rad_s, traj.time_from_start_s):
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in pos],
                                               velocities=[float(v) for v in vel],
                                               time_from_start=duration_msg(float(t))))
    return msg


def send_action_goal(client: ActionClient, name: str, goal: Any, ticket: CommandTicket,
                     judge) -> CommandTicket:
    """Send ``goal`` to action ``name``; ``judge(status_word, result)`` -> (ok, reason) resolves
    ``ticket`` (``result`` is None for a rejected goal)."""
    # Normally discovered long before; a short wait covers a server that just started.
    if not client.server_is_ready() and not client.wait_for_server(timeout_sec=SERVER_WAIT_S):
        ticket.fail(f'{ticket.what}: action server {name} is not available')
        return ticket

    def on_result(future) -> None:
        response = future.result()
        if response is None:
            ticket.fail(f'{ticket.what}: no result')
            return
        word = STATUS_WORDS.get(response.status, f'status {response.status}')
        ok, reason = judge(word, response.result)
        ticket.succeed() if ok else ticket.fail(reason)

    def on_goal(future) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            ok, reason = judge('rejected', None)
            ticket.fail(reason)
            return
        ticket.set_canceller(handle.cancel_goal_async)
        handle.get_result_async().add_done_callback(on_result)

    client.send_goal_async(goal).add_done_callback(on_goal)
    return ticket


class ArmTrajectorySink:
    """Sends arm trajectories to a joint trajectory controller.

    Args:
        node: The executor node.
        interface: ``action`` or ``topic``.
        controller: Controller namespace, e.g. ``/panda_arm_controller``.

    Raises:
        ConfigError: ``action`` without control_msgs, or an unknown interface.
    """

    INTERFACES = ('action', 'topic')

    def __init__(self, node: Node, interface: str, controller: str) -> None:
        if interface not in self.INTERFACES:
            raise ConfigError(f'arm.interface must be action or topic, got {interface!r}',
                              'arm.interface')
        self.interface = interface
        base = controller.rstrip('/')
        if interface == 'action':
            mod = import_interface('control_msgs.action', 'FollowJointTrajectory',
                                   'arm.interface')
            self._action = mod.FollowJointTrajectory
            self.name = f'{base}/follow_joint_trajectory'
            self._client = ActionClient(node, self._action, self.name)
        else:
            self.name = f'{base}/joint_trajectory'
            self._pub = node.create_publisher(JointTrajectory, self.name, 10)

    def __call__(self, traj: JointTrajectoryData) -> CommandTicket | None:
        msg = trajectory_msg(traj)
        if self.interface == 'topic':
            self._pub.publish(msg)
            return None
        goal = self._action.Goal()
        goal.trajectory = msg

        def judge(word: str, result: Any) -> tuple[bool, str]:
            if result is None:
                return follow_joint_trajectory_outcome(word, 0, '')
            return follow_joint_trajectory_outcome(word, result.error_code, result.error_string)

        return send_action_goal(self._client, self.name, goal,
                                CommandTicket('follow_joint_trajectory'), judge)

    def destroy(self) -> None:
        """Release the client."""
        if self.interface == 'action':
            self._client.destroy()


class GripperSink:
    """Sends gripper commands through the configured interface (see the module docstring).

    Args:
        node: The executor node.
        cfg: Gripper settings (``interface``, widths, speed, force, epsilon).
        action_namespace: franka_gripper node (``/franka_gripper``) for ``franka``, or the
            full GripperCommand action name for ``gripper_command``.
        command_topic: Float64 topic for ``topic``.

    Raises:
        ConfigError: an action interface without its package.
    """

    def __init__(self, node: Node, cfg: GripperConfig, action_namespace: str,
                 command_topic: str) -> None:
        self.cfg = cfg
        self.names: list[str] = []
        self._clients: list[ActionClient] = []
        if cfg.interface == 'franka':
            mod = import_interface('franka_msgs.action', 'franka_gripper Grasp/Move',
                                   'gripper.interface')
            base = action_namespace.rstrip('/')
            self._Grasp, self._Move = mod.Grasp, mod.Move
            self._grasp = ActionClient(node, mod.Grasp, f'{base}/grasp')
            self._move = ActionClient(node, mod.Move, f'{base}/move')
            self._clients = [self._grasp, self._move]
            self.names = [f'{base}/grasp', f'{base}/move']
        elif cfg.interface == 'gripper_command':
            mod = import_interface('control_msgs.action', 'GripperCommand', 'gripper.interface')
            self._GripperCommand = mod.GripperCommand
            self._command = ActionClient(node, mod.GripperCommand, action_namespace)
            self._clients = [self._command]
            self.names = [action_namespace]
        elif cfg.interface == 'topic' and command_topic:
            self._pub = node.create_publisher(Float64, command_topic, 10)
            self.names = [command_topic]

    def __call__(self, cmd: GripperCommandData) -> CommandTicket | None:
        cfg = self.cfg
        if cfg.interface == 'franka':
            if cmd.state is GripperState.CLOSED:
                goal = self._Grasp.Goal(width=cfg.grasp_width_m, speed=cfg.speed_m_s,
                                        force=cfg.force_n)
                goal.epsilon.inner, goal.epsilon.outer = cfg.epsilon_inner_m, cfg.epsilon_outer_m
                client, action = self._grasp, 'grasp'
            else:
                goal = self._Move.Goal(width=cmd.width_m, speed=cfg.speed_m_s)
                client, action = self._move, 'move'
            return send_action_goal(
                client, self.names[0 if action == 'grasp' else 1], goal, CommandTicket(f'franka_gripper {action}'),
                lambda word, res: franka_outcome(action, word, bool(res and res.success),
                                                 res.error if res is not None else ''))
        if cfg.interface == 'gripper_command':
            goal = self._GripperCommand.Goal()
            goal.command.position = cmd.width_m / 2.0 if cfg.position_per_finger else cmd.width_m
            goal.command.max_effort = cmd.max_effort_n

            def judge(word: str, res: Any) -> tuple[bool, str]:
                if res is None:
                    return gripper_command_outcome(cfg, cmd.state, word, math.nan, False, False)
                return gripper_command_outcome(cfg, cmd.state, word, res.position,
                                               res.reached_goal, res.stalled)

            return send_action_goal(self._command, self.names[0], goal,
                                    CommandTicket('gripper_command'), judge)
        if cfg.interface == 'topic' and self.names:
            self._pub.publish(Float64(data=float(cmd.width_m)))
        return None

    def destroy(self) -> None:
        """Release the clients."""
        for client in self._clients:
            client.destroy()
