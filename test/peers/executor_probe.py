"""Test-side helper of the executor and end-to-end tests (imported from test/peers).

:class:`ExecutorProbe` is the test side of a cross-process executor test: it publishes
KeypointPrediction messages stamped with its own clock, and records ExecutorState, joint states
(TCP through the core's FK), published trajectories and gripper commands.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from robot_r1_ros.core.geometry import matrix_to_quat_wxyz, panda_fk, quat_wxyz_to_xyzw

ARM = tuple(f'panda_joint{i}' for i in range(1, 8))


class ExecutorProbe:
    """Publishes predictions and records what the executor and the robot do.

    Args:
        node: An rclpy node (``rclpy_node`` fixture) in the test's domain.
        namespace: Namespace of the executor node.
    """

    def __init__(self, node, namespace: str = '/robot_r1') -> None:
        import rclpy
        from rclpy.qos import (DurabilityPolicy, QoSProfile, ReliabilityPolicy,
                               qos_profile_sensor_data)
        from sensor_msgs.msg import JointState
        from std_msgs.msg import Float64, Int32
        from std_srvs.srv import Trigger
        from trajectory_msgs.msg import JointTrajectory

        from robot_r1_ros.msg import ExecutorState, KeypointPrediction

        from rclpy.executors import SingleThreadedExecutor

        self.rclpy, self.node, self.ns = rclpy, node, namespace
        # The node may live on a private context (rclpy_node fixture): spin it with its own.
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)
        self.KP, self.ES = KeypointPrediction, ExecutorState
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.pub = node.create_publisher(KeypointPrediction, f'{namespace}/next_keypoint', 10)
        self.states: list = []
        self.trajectories: list = []
        self.gripper_cmds: list[float] = []
        self.joint_state = None
        self.fake_count = None
        node.create_subscription(ExecutorState, f'{namespace}/executor_state',
                                 self.states.append, latched)
        node.create_subscription(JointTrajectory, '/panda_arm_controller/joint_trajectory',
                                 self.trajectories.append, 10)
        node.create_subscription(Float64, '/panda_gripper/command',
                                 lambda m: self.gripper_cmds.append(m.data), 10)
        node.create_subscription(JointState, '/joint_states', self._on_js,
                                 qos_profile_sensor_data)
        node.create_subscription(Int32, '/fake_robot/trajectory_count',
                                 lambda m: setattr(self, 'fake_count', m.data), latched)
        self.stop_cli = node.create_client(Trigger, f'{namespace}/executor_node/stop')
        self.resume_cli = node.create_client(Trigger, f'{namespace}/executor_node/resume')
        self.Trigger = Trigger

    def _on_js(self, msg) -> None:
        self.joint_state = msg

    def spin(self, seconds: float = 0.05) -> None:
        """Process callbacks for about ``seconds``."""
        end = time.monotonic() + seconds
        while True:
            self.executor.spin_once(timeout_sec=0.01)
            if time.monotonic() >= end:
                break

    def wait(self, predicate: Callable[[], bool], timeout_s: float) -> bool:
        """Spin until ``predicate()`` or the timeout."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.02)
            if predicate():
                return True
        return predicate()

    # -- robot ----------------------------------------------------------------------------------
    def arm_q(self) -> np.ndarray | None:
        """Latest measured arm joints (or None)."""
        js = self.joint_state
        if js is None:
            return None
        pos = dict(zip(js.name, js.position))
        if not all(n in pos for n in ARM):
            return None
        return np.array([pos[n] for n in ARM])

    def tcp(self) -> tuple[np.ndarray, np.ndarray]:
        """(xyz_base_m, quat_xyzw) of the measured TCP (core FK)."""
        xyz, rot = panda_fk(self.arm_q())
        return xyz, quat_wxyz_to_xyzw(matrix_to_quat_wxyz(rot))

    # -- executor ------------------------------------------------------------------------------
    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    def prediction(self, xyz, gripper_open: bool = True, *, status: int | None = None,
                   frame_id: str = 'panda_link0', age_s: float = 0.0, prediction_id=None):
        """A KeypointPrediction (status OK unless given; a fresh random prediction_id)."""
        import uuid

        msg = self.KP()
        t = self.now_s() - age_s
        msg.header.stamp.sec = int(math.floor(t))
        msg.header.stamp.nanosec = int((t - math.floor(t)) * 1e9)
        msg.header.frame_id = frame_id
        msg.position.x, msg.position.y, msg.position.z = (float(v) for v in xyz)
        msg.prediction_id.uuid = list(prediction_id or uuid.uuid4().bytes)
        msg.gripper_command = self.KP.GRIPPER_OPEN if gripper_open else self.KP.GRIPPER_CLOSED
        msg.status = self.KP.STATUS_OK if status is None else status
        msg.task = 'test'
        return msg

    def send(self, msg) -> None:
        self.pub.publish(msg)

    def wait_ready(self, timeout_s: float, fake_robot: bool = True) -> bool:
        """Wait until the executor is up, subscribed to predictions and joint states, and has
        had time to receive a few joint states."""
        node = self.node
        ok = self.wait(lambda: self.joint_state is not None and bool(self.states)
                       and (not fake_robot or self.fake_count == 0)
                       and node.count_subscribers(f'{self.ns}/next_keypoint') >= 1
                       and node.count_subscribers('/joint_states') >= 2, timeout_s)
        self.spin(0.3)
        return ok

    def last_state(self):
        return self.states[-1] if self.states else None

    def wait_state(self, predicate, timeout_s: float) -> bool:
        """Wait for an ExecutorState (the latest) that satisfies ``predicate``."""
        return self.wait(lambda: bool(self.states) and predicate(self.states[-1]), timeout_s)

    def call(self, client, timeout_s: float = 5.0):
        """Call a Trigger service; returns the response."""
        assert client.wait_for_service(timeout_sec=timeout_s), 'service not available'
        future = client.call_async(self.Trigger.Request())
        self.executor.spin_until_future_complete(future, timeout_sec=timeout_s)
        return future.result()
