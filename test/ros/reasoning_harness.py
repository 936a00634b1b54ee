"""Shared helpers of the reasoning-node tests (not a test module: no ``test_`` prefix).

:class:`ReasoningProbe` is the test side of a cross-process reasoning-node test: it publishes
camera images, joint states, camera info, the task and executor states, records what the node
publishes, and calls the node's lifecycle services and its ``predict_keypoint`` action.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

ARM = tuple(f'panda_joint{i}' for i in range(1, 8))
FINGERS = ('panda_finger_joint1', 'panda_finger_joint2')
READY_Q = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
NODE_MODULE = 'robot_r1_ros.ros.reasoning_node'


def node_args(model_id: str = 'scripted:valid', **params: Any) -> list[str]:
    """Command-line arguments for ``python -m robot_r1_ros.ros.reasoning_node``.

    Args:
        model_id: The ``model.id`` parameter.
        **params: Further parameters; ``__`` in a keyword becomes ``.`` (``trigger__mode``).
    """
    args = ['--ros-args', '-p', f'model.id:={model_id}', '-p', 'model.warmup:=false']
    for key, value in params.items():
        name = key.replace('__', '.')
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, (list, tuple)):
            value = '[' + ','.join(repr(v) if isinstance(v, str) else str(v)
                                   for v in value) + ']'
        args += ['-p', f'{name}:={value}']
    return args


def scene_rgb(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    """A small deterministic RGB test image."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    img[height // 2:, :] = (120, 90, 60)
    return img


def image_msg(rgb: np.ndarray, stamp: Any, encoding: str = 'rgb8', pad: int = 0,
              frame_id: str = 'camera_optical_frame'):
    """An Image in ``encoding`` (rgb8/bgr8/rgba8/bgra8/mono8) of an RGB array, rows padded by
    ``pad`` bytes."""
    from robot_r1_ros.ros.conversions import array_to_image_msg

    if encoding == 'bgr8':
        arr = rgb[..., ::-1]
    elif encoding == 'rgba8':
        arr = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    elif encoding == 'bgra8':
        arr = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])
    elif encoding == 'mono8':
        arr = rgb[..., 1].copy()
    else:
        arr = rgb
    msg = array_to_image_msg(np.ascontiguousarray(arr), encoding)
    if pad:
        rows = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)
        padded = np.zeros((msg.height, msg.step + pad), np.uint8)
        padded[:, :msg.step] = rows
        msg.data = padded.tobytes()
        msg.step += pad
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    return msg


def joint_state_msg(stamp: Any, q: tuple[float, ...] = READY_Q, names: tuple[str, ...] = ARM,
                    fingers_m: tuple[float, float] = (0.04, 0.04)):
    """A JointState with the arm joints ``names`` (values ``q``) and the two fingers."""
    from sensor_msgs.msg import JointState

    msg = JointState()
    msg.header.stamp = stamp
    msg.name = list(names) + list(FINGERS)
    msg.position = [float(v) for v in q] + [float(v) for v in fingers_m]
    return msg


class ReasoningProbe:
    """Publishes the node's inputs and records its outputs.

    Args:
        node: An rclpy node (``rclpy_node`` fixture) in the test's domain.
        namespace: Namespace of the reasoning node.
    """

    def __init__(self, node: Any, namespace: str = '/robot_r1') -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import PoseStamped
        from lifecycle_msgs.srv import ChangeState, GetState
        from rcl_interfaces.srv import SetParameters
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import (DurabilityPolicy, QoSProfile, ReliabilityPolicy,
                               qos_profile_sensor_data)
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import String
        from visualization_msgs.msg import MarkerArray

        from robot_r1_ros.action import PredictKeypoint
        from robot_r1_ros.msg import ExecutorState, KeypointPrediction

        self.node, self.ns = node, namespace
        self.KP, self.ES, self.PK = KeypointPrediction, ExecutorState, PredictKeypoint
        self.executor = SingleThreadedExecutor(context=node.context)
        self.executor.add_node(node)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                             reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = node.create_publisher(Image, '/camera/image_raw',
                                               qos_profile_sensor_data)
        self.info_pub = node.create_publisher(CameraInfo, '/camera/camera_info',
                                              qos_profile_sensor_data)
        self.joint_pub = node.create_publisher(JointState, '/joint_states',
                                               qos_profile_sensor_data)
        self.task_pub = node.create_publisher(String, f'{namespace}/task', latched)
        self.exec_pub = node.create_publisher(ExecutorState, f'{namespace}/executor_state',
                                              latched)
        self.predictions: list = []
        self.poses: list = []
        self.markers: list = []
        self.debug_images: list = []
        self.diagnostics: list = []
        self.camera_stamps: list = []
        node.create_subscription(KeypointPrediction, f'{namespace}/next_keypoint',
                                 self.predictions.append, 10)
        node.create_subscription(PoseStamped, f'{namespace}/next_keypoint_pose',
                                 self.poses.append, 10)
        node.create_subscription(MarkerArray, f'{namespace}/markers', self.markers.append, 10)
        node.create_subscription(Image, f'{namespace}/debug_image', self.debug_images.append,
                                 10)
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.get_state_cli = node.create_client(GetState,
                                                f'{namespace}/reasoning_node/get_state')
        self.change_state_cli = node.create_client(ChangeState,
                                                   f'{namespace}/reasoning_node/change_state')
        self.set_params_cli = node.create_client(SetParameters,
                                                 f'{namespace}/reasoning_node/set_parameters')
        self.action = ActionClient(node, PredictKeypoint, f'{namespace}/predict_keypoint')
        self.rgb = scene_rgb()

    # ------------------------------------------------------------------ spinning and inputs

    def _on_diag(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.endswith('reasoning_node: reasoning'):
                self.diagnostics.append(status)

    def spin(self, seconds: float = 0.05) -> None:
        """Process callbacks for about ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            self.executor.spin_once(timeout_sec=0.01)
            if time.monotonic() >= deadline:
                return

    def now(self) -> Any:
        """The probe node's clock as a Time message."""
        return self.node.get_clock().now().to_msg()

    def publish_inputs(self, image: Any = None, joints: Any = None, age_s: float = 0.0) -> Any:
        """Publish one camera frame and one joint state (defaults: fresh and valid).

        Returns:
            The image stamp used.
        """
        from builtin_interfaces.msg import Time

        now_ns = self.node.get_clock().now().nanoseconds - int(age_s * 1e9)
        stamp = Time(sec=now_ns // 10**9, nanosec=now_ns % 10**9)
        self.joint_pub.publish(joint_state_msg(stamp) if joints is None else joints)
        img = image_msg(self.rgb, stamp) if image is None else image
        if image is not None and img.header.stamp.sec == 0 and img.header.stamp.nanosec == 0:
            img.header.stamp = stamp
        self.image_pub.publish(img)
        self.camera_stamps.append((stamp.sec, stamp.nanosec))
        return stamp

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float,
                 feed: Callable[[], Any] | None = None, period_s: float = 0.05) -> bool:
        """Spin (calling ``feed`` every ``period_s``) until ``predicate()`` or timeout."""
        deadline = time.monotonic() + timeout_s
        next_feed = 0.0
        while time.monotonic() < deadline:
            if feed is not None and time.monotonic() >= next_feed:
                feed()
                next_feed = time.monotonic() + period_s
            self.spin(0.01)
            if predicate():
                return True
        return predicate()

    def wait_prediction(self, match: Callable[[Any], bool], timeout_s: float = 10.0,
                        feed: Callable[[], Any] | None = 'default') -> Any:
        """Feed inputs until a new prediction satisfying ``match`` arrives; return it (or None).

        Args:
            match: Predicate on KeypointPrediction.
            timeout_s: How long to wait.
            feed: Called every 50 ms (default: :meth:`publish_inputs`); None = only spin.
        """
        if feed == 'default':
            feed = self.publish_inputs
        start = len(self.predictions)
        found: list = []

        def check() -> bool:
            found[:] = [p for p in self.predictions[start:] if match(p)]
            return bool(found)

        self.wait_for(check, timeout_s, feed)
        return found[0] if found else None

    def wait_node(self, timeout_s: float = 20.0) -> bool:
        """Wait until the node's lifecycle services are up."""
        return self.get_state_cli.wait_for_service(timeout_sec=timeout_s)

    # ------------------------------------------------------------------ services and action

    def call(self, client: Any, request: Any, timeout_s: float = 20.0) -> Any:
        """Call a service and return its response (None on timeout)."""
        future = client.call_async(request)
        self.executor.spin_until_future_complete(future, timeout_sec=timeout_s)
        return future.result() if future.done() else None

    def get_state(self) -> str:
        """The node's lifecycle state label ('unconfigured', 'inactive', 'active', ...)."""
        from lifecycle_msgs.srv import GetState

        response = self.call(self.get_state_cli, GetState.Request())
        return response.current_state.label if response is not None else 'no response'

    def change_state(self, transition_id: int) -> bool:
        """Request a lifecycle transition; True when it succeeded."""
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState

        response = self.call(self.change_state_cli,
                             ChangeState.Request(transition=Transition(id=transition_id)))
        return bool(response is not None and response.success)

    def set_parameter(self, name: str, value: str) -> Any:
        """Set a string parameter; returns the SetParametersResult."""
        from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
        from rcl_interfaces.srv import SetParameters

        request = SetParameters.Request(parameters=[Parameter(
            name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING,
                                            string_value=value))])
        response = self.call(self.set_params_cli, request)
        return response.results[0] if response is not None else None

    def diag_values(self) -> dict[str, str]:
        """Key/values of the newest diagnostics status of the node ({} if none yet)."""
        if not self.diagnostics:
            return {}
        return {kv.key: kv.value for kv in self.diagnostics[-1].values}
