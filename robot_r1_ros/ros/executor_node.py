"""Executor node: ``next_keypoint`` predictions in, arm motion out.

Subscribes to ``next_keypoint`` (robot_r1_ros/KeypointPrediction) and ``/joint_states``; validates
every prediction (status, frame, staleness, workspace, step length, finite numbers) and rejects
with a logged, counted reason; executes one goal at a time through the motion backend (``direct``:
IK + a ``control_msgs/FollowJointTrajectory`` goal to the arm controller, or its topic, and the
gripper through franka_gripper's Grasp/Move, ``control_msgs/GripperCommand`` or a Float64 topic,
see :mod:`robot_r1_ros.ros.controller_clients`; ``moveit``: moveit_py); publishes ``executor_state``
(robot_r1_ros/ExecutorState, transient local) on every change and periodically.

Services: ``~/stop`` (std_srvs/Trigger) holds the arm where it is and rejects predictions until
``~/resume`` (std_srvs/Trigger). Parameters: :mod:`robot_r1_ros.ros.executor_params`.

Run: ``ros2 run robot_r1_ros executor_node --ros-args --params-file config/franka.yaml -r
__ns:=/robot_r1`` (or ``robot-r1 bringup franka``).
"""
from __future__ import annotations

import logging
import math
import sys
from typing import Sequence

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.motion.backend import MotionBackend, MotionError
from robot_r1_ros.motion.executor import ExecutorSnapshot, GoalExecutor
from robot_r1_ros.motion.types import JointStateSample
from robot_r1_ros.motion.validation import PredictionInput
from robot_r1_ros.msg import ExecutorState, KeypointPrediction
from robot_r1_ros.ros.executor_live import plan_change
from robot_r1_ros.ros.executor_params import (ExecutorNodeConfig, declare_parameters, read_config,
                                              read_values)
from robot_r1_ros.ros.spin import init_ros, release_node, spin_until_shutdown

NODE_NAME = 'executor_node'

#: ExecutorState is latched: a late subscriber (the reasoning node) gets the last state.
STATE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)


def prediction_input(msg: KeypointPrediction) -> PredictionInput:
    """The fields the validator reads (a point target: the TCP keeps its orientation)."""
    p = msg.position
    return PredictionInput(
        status=int(msg.status), frame_id=msg.header.frame_id,
        stamp_s=msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9,
        xyz_base_m=(p.x, p.y, p.z), quat_xyzw=None,
        gripper_command=int(msg.gripper_command), status_reason=msg.status_reason,
        stamp_ns=int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec),
        goal_id=bytes(bytearray(msg.prediction_id.uuid)))


class ExecutorNode(Node):
    """The executor node (see the module docstring).

    Raises:
        ConfigError: a bad parameter (the message names it).
    """

    def __init__(self, **node_kwargs) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        declare_parameters(self)
        self.cfg: ExecutorNodeConfig = read_config(self)
        cfg = self.cfg
        self._sinks: list = []
        self._startup_error = ''
        self._have_joint_state = False
        self.backend = self._make_backend(cfg)
        # moveit connects at start-up unless in dry run (see _make_backend)
        self._backend_connected = cfg.backend != 'moveit' or not cfg.execution.dry_run
        self.executor_logic = GoalExecutor(self.backend, cfg.workspace, cfg.execution,
                                           on_change=self._publish_state)
        self._state_pub = self.create_publisher(ExecutorState, cfg.state_topic, STATE_QOS)
        self.create_subscription(KeypointPrediction, cfg.prediction_topic, self._on_prediction,
                                 10)
        # Best effort matches both reliable (joint_state_broadcaster) and best-effort publishers.
        self.create_subscription(JointState, cfg.joint_states_topic, self._on_joint_state,
                                 qos_profile_sensor_data)
        self.create_service(Trigger, '~/stop', self._on_stop)
        self.create_service(Trigger, '~/resume', self._on_resume)
        self.create_timer(1.0 / cfg.control_rate_hz, self._on_control)
        self.create_timer(cfg.state_period_s, self._on_state_timer)
        if self._startup_error:
            self.executor_logic.fail(self._startup_error)
        self._publish_state(self.executor_logic.snapshot())
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.get_logger().info(
            f'executor ready: backend={self.backend.name} dry_run={cfg.execution.dry_run} '
            f'on_new_goal={cfg.execution.on_new_goal.value} listening on '
            f'{self.resolve_topic_name(cfg.prediction_topic)}')

    # -- set-up -------------------------------------------------------------------------------
    def _make_backend(self, cfg: ExecutorNodeConfig) -> MotionBackend:
        if cfg.backend == 'moveit':
            from robot_r1_ros.motion.moveit_backend import MoveItBackend
            backend = MoveItBackend(cfg.moveit)
            if not cfg.execution.dry_run:
                try:
                    backend.connect()   # report at start-up, not at the first prediction
                except MotionError as exc:
                    # Stay up: the reason goes on executor_state, each goal retries MoveIt.
                    self._startup_error = f'MoveIt unavailable: {exc}'
                    self.get_logger().error(self._startup_error)
            return backend
        from robot_r1_ros.motion.direct import DirectBackend
        from robot_r1_ros.ros.controller_clients import ArmTrajectorySink, GripperSink
        arm = ArmTrajectorySink(self, cfg.arm_interface, cfg.arm_controller)
        gripper = GripperSink(self, cfg.direct.gripper, cfg.gripper_action,
                              cfg.gripper_command_topic)
        self._sinks = [arm, gripper]
        self.get_logger().info(f'arm: {cfg.arm_interface} {arm.name}; gripper: '
                               f'{cfg.direct.gripper.interface} {", ".join(gripper.names)}')
        backend = DirectBackend(cfg.direct, arm, gripper, robot=cfg.robot)
        return backend

    def now_s(self) -> float:
        """Node clock (sim time when use_sim_time is set) in seconds."""
        return self.get_clock().now().nanoseconds * 1e-9

    # -- outputs ------------------------------------------------------------------------------
    @staticmethod
    def _goal_stamp_parts(snap: ExecutorSnapshot) -> tuple[int, int]:
        if snap.goal_stamp_ns is not None:
            return divmod(int(snap.goal_stamp_ns), 1_000_000_000)
        sec = math.floor(snap.goal_stamp_s)
        return int(sec), int(round((snap.goal_stamp_s - sec) * 1e9)) % 1_000_000_000

    def _publish_state(self, snap: ExecutorSnapshot) -> None:
        if not hasattr(self, '_state_pub'):
            return
        msg = ExecutorState()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.cfg.execution.validation.base_frame
        msg.state = int(snap.state)
        # The exact stamp of the prediction (the reasoning node compares sec/nanosec).
        sec, nanosec = self._goal_stamp_parts(snap)
        msg.goal_stamp.sec, msg.goal_stamp.nanosec = sec, nanosec
        msg.goal_id.uuid = list(snap.goal_id)
        if all(math.isfinite(v) for v in snap.target_xyz_base_m):
            (msg.target_position.x, msg.target_position.y,
             msg.target_position.z) = snap.target_xyz_base_m
        msg.reason = snap.reason
        msg.backend = self.backend.name
        msg.dry_run = self.cfg.execution.dry_run
        msg.received_count, msg.executed_count = snap.received, snap.executed
        msg.rejected_count = snap.rejected
        self._state_pub.publish(msg)

    # -- callbacks ----------------------------------------------------------------------------
    def _on_joint_state(self, msg: JointState) -> None:
        # Freshness is judged by receive time on this node's clock: a driver's stamps may use
        # another clock (sim time) than this node.
        pos = {n: float(p) for n, p in zip(msg.name, msg.position)}
        vel = ({n: float(v) for n, v in zip(msg.name, msg.velocity)}
               if len(msg.velocity) == len(msg.name) else {})
        self.backend.update_joint_state(JointStateSample(pos, vel, self.now_s()))
        if not self._have_joint_state:
            self._have_joint_state = True
            self.get_logger().info(f'first joint state received on '
                                   f'{self.resolve_topic_name(self.cfg.joint_states_topic)}')

    def _on_prediction(self, msg: KeypointPrediction) -> None:
        pred = prediction_input(msg)
        now_ns = self.get_clock().now().nanoseconds
        # On sim time the clock reads 0 until the first /clock message.
        rejection = self.executor_logic.submit(pred, now_ns * 1e-9, clock_running=now_ns > 0)
        if rejection is None:
            logic = self.executor_logic
            opening = ('open' if pred.gripper_command == KeypointPrediction.GRIPPER_OPEN
                       else 'closed')
            text = (f'accepted keypoint [{pred.xyz_base_m[0]:.3f}, {pred.xyz_base_m[1]:.3f}, '
                    f'{pred.xyz_base_m[2]:.3f}] gripper {opening} -> {logic.state.name.lower()}'
                    + (f': {logic.reason}' if logic.reason else ''))
            if logic.state.name == 'FAILED':
                self.get_logger().warning(text)
            else:
                self.get_logger().info(text)
        else:
            counts = self.executor_logic.rejections.nonzero()
            self.get_logger().warning(f'rejected prediction: {rejection} (rejections so far: '
                                      f'{counts})')

    def _on_control(self) -> None:
        before = self.executor_logic.state
        self.executor_logic.tick(self.now_s())
        after = self.executor_logic.state
        if after is not before:
            snap = self.executor_logic.snapshot()
            # (one call site per severity: rclpy refuses a call site changing severity)
            if snap.reason:
                self.get_logger().warning(f'goal {after.name.lower()}: {snap.reason}')
            else:
                self.get_logger().info(f'goal {after.name.lower()}')

    def _on_set_parameters(self, params):
        """``ros2 param set``: apply a live parameter now, refuse the rest with the reason."""
        from rcl_interfaces.msg import SetParametersResult
        decision = plan_change(read_values(self), {p.name: p.value for p in params},
                               backend_connected=self._backend_connected)
        if not decision.accepted:
            self.get_logger().warning(f'parameter change refused: {decision.reason}')
            return SetParametersResult(successful=False, reason=decision.reason)
        if decision.config is not None:
            self.cfg = decision.config
            self.executor_logic.reconfigure(self.cfg.workspace, self.cfg.execution, self.now_s())
            self.get_logger().info(
                f'parameters applied: {", ".join(p.name for p in params)} (dry_run='
                f'{self.cfg.execution.dry_run}, on_new_goal={self.cfg.execution.on_new_goal.value})')
        return SetParametersResult(successful=True)

    def _on_state_timer(self) -> None:
        self._publish_state(self.executor_logic.snapshot())

    def _on_stop(self, request: Trigger.Request, response: Trigger.Response
                 ) -> Trigger.Response:
        self.executor_logic.stop(self.now_s())
        self.get_logger().warning('stop: arm held; predictions are rejected until ~/resume')
        response.success, response.message = True, 'arm held; call ~/resume to continue'
        return response

    def _on_resume(self, request: Trigger.Request, response: Trigger.Response
                   ) -> Trigger.Response:
        self.executor_logic.resume()
        self.get_logger().info('resume: accepting predictions again')
        response.success, response.message = True, 'accepting predictions'
        return response

    def destroy_node(self) -> None:
        self.backend.close()
        super().destroy_node()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run robot_r1_ros executor_node`` (ROS arguments accepted)."""
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    args = list(sys.argv if argv is None else ['executor_node', *argv])
    init_ros(args)
    node = None
    try:
        try:
            node = ExecutorNode()
        except (ConfigError, MotionError) as exc:
            sys.stderr.write(f'executor_node: {exc}\n')
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spin_until_shutdown(executor)
        return 0
    finally:
        release_node(node)


if __name__ == '__main__':
    sys.exit(main())
