"""The ROS side of ``robot-r1 demo``: an action client for the reasoning node's
``predict_keypoint`` and a recorder of camera frames, executor states, the task and its success
(:class:`DemoClient`), plus the demo's records."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robot_r1_ros.ros.names import DONE_STATES, state_name


class PipelineError(RuntimeError):
    """The system itself failed (not the model): the demo exits 1."""


@dataclass
class CycleRecord:
    """One predict -> execute cycle."""

    index: int
    status: str = ''
    status_reason: str = ''
    keypoint_xyz_base_m: list[float] | None = None
    gripper: str = ''
    current_xyz_base_m: list[float] | None = None
    reasoning: str = ''
    raw_answer: str = ''
    inference_time_s: float = 0.0
    generated_tokens: int = 0
    stamp_s: float = 0.0
    outcome: str = ''
    outcome_reason: str = ''
    execution_s: float = 0.0
    cycle_s: float = 0.0
    tcp_error_m: float | None = None
    frame_index: int = -1


@dataclass
class Frame:
    """One recorded camera frame with what was going on."""

    stamp_s: float
    rgb: np.ndarray
    tcp_xyz: list[float] | None
    cycle: int
    state: str


@dataclass
class DemoResult:
    """Everything the summary reports."""

    cycles: list[CycleRecord] = field(default_factory=list)
    task_success: bool | None = None
    instruction: str = ''
    rejections: dict[str, int] = field(default_factory=dict)
    executor_counts: dict[str, int] = field(default_factory=dict)

    @property
    def executed(self) -> int:
        return sum(1 for c in self.cycles if c.outcome in ('REACHED', 'FAILED'))


class DemoClient:
    """The demo's ROS side: action client, recorder of frames, states and success."""

    def __init__(self, namespace: str, frame_every: int) -> None:
        import rclpy
        from rclpy.action import ActionClient
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.parameter import Parameter
        from rclpy.qos import (DurabilityPolicy, QoSProfile, ReliabilityPolicy,
                               qos_profile_sensor_data)
        from sensor_msgs.msg import CameraInfo, Image, JointState
        from std_msgs.msg import Bool, String

        from robot_r1_ros.action import PredictKeypoint
        from robot_r1_ros.msg import ExecutorState

        self.rclpy = rclpy
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node('robot_r1_demo', context=self.context)
        self.node.set_parameters([Parameter('use_sim_time', value=True)])
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
        self.lock = threading.Lock()
        self.states: list[Any] = []
        self.frames: list[Frame] = []
        self.success: bool | None = None
        self.success_stamp = 0.0
        self.instruction = ''
        self.camera_info = None
        self.tcp_xyz: list[float] | None = None
        self.cycle = 0
        self.frame_every = max(1, int(frame_every))
        self._image_count = 0
        self.recording = False
        node = self.node
        node.create_subscription(ExecutorState, f'{ns}/executor_state', self._on_state, latched)
        node.create_subscription(Image, '/camera/image_raw', self._on_image,
                                 qos_profile_sensor_data)
        node.create_subscription(CameraInfo, '/camera/camera_info', self._on_info,
                                 qos_profile_sensor_data)
        node.create_subscription(JointState, '/joint_states', self._on_joints, 10)
        node.create_subscription(Bool, '/sim/task_success', self._on_success, latched)
        node.create_subscription(String, f'{ns}/task', self._on_task, latched)
        self.action = ActionClient(node, PredictKeypoint, f'{ns}/predict_keypoint')
        self.PredictKeypoint = PredictKeypoint
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(node)
        self._spinner = threading.Thread(target=self._spin, daemon=True, name='demo-spin')
        self._spinner.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown races end the thread quietly
            pass

    def now_s(self) -> float:
        return self.node.get_clock().now().nanoseconds * 1e-9

    # -- callbacks ----------------------------------------------------------------------------
    def _on_state(self, msg) -> None:
        with self.lock:
            self.states.append(msg)

    def _on_info(self, msg) -> None:
        self.camera_info = msg

    def _on_task(self, msg) -> None:
        self.instruction = msg.data

    def _on_success(self, msg) -> None:
        self.success, self.success_stamp = bool(msg.data), time.monotonic()

    def _on_joints(self, msg) -> None:
        from robot_r1_ros.core.geometry import panda_fk
        pos = dict(zip(msg.name, msg.position))
        names = [f'panda_joint{i}' for i in range(1, 8)]
        if all(n in pos for n in names):
            self.tcp_xyz = [float(v) for v in panda_fk([pos[n] for n in names])[0]]

    def _on_image(self, msg) -> None:
        self._image_count += 1
        if not self.recording or self._image_count % self.frame_every:
            return
        from robot_r1_ros.ros.conversions import image_msg_to_array
        try:
            rgb = image_msg_to_array(msg, 'rgb8')
        except Exception:  # noqa: BLE001 - a bad frame is skipped, not fatal
            return
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            state = state_name(self.states[-1].state) if self.states else 'IDLE'
            self.frames.append(Frame(stamp, rgb.copy(), self.tcp_xyz, self.cycle, state))

    # -- requests -----------------------------------------------------------------------------
    def predict(self, timeout_s: float) -> Any:
        """One prediction through the action; returns the KeypointPrediction."""
        if not self.action.wait_for_server(timeout_sec=timeout_s):
            raise PipelineError('the reasoning node\'s predict_keypoint action is not available')
        goal = self.PredictKeypoint.Goal(task='')
        future = self.action.send_goal_async(goal)
        handle = self._wait_future(future, timeout_s, 'the prediction request')
        if not handle.accepted:
            raise PipelineError('the reasoning node refused the prediction request')
        result = self._wait_future(handle.get_result_async(), timeout_s, 'the prediction')
        return result.result.prediction

    def _wait_future(self, future, timeout_s: float, what: str) -> Any:
        end = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > end:
                raise PipelineError(f'no answer to {what} within {timeout_s:.0f} s')
            time.sleep(0.01)
        return future.result()

    def outcome(self, stamp: Any, timeout_s: float, alive=lambda: True) -> Any:
        """The executor's final state for the prediction with ``stamp`` (REACHED/FAILED/
        REJECTED)."""
        key = (stamp.sec, stamp.nanosec)
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            with self.lock:
                for msg in reversed(self.states):
                    if (msg.goal_stamp.sec, msg.goal_stamp.nanosec) == key and \
                            msg.state in DONE_STATES:
                        return msg
            if not alive():
                raise PipelineError('a node died while executing')
            time.sleep(0.02)
        raise PipelineError(f'the executor did not report on the prediction within '
                            f'{timeout_s:.0f} s')

    def close(self) -> None:
        """Stop spinning, then destroy the action client, the node and the context (in this
        order: a context shut down under a spinning executor aborts the process)."""
        self.executor.shutdown(timeout_sec=2.0)
        self._spinner.join(timeout=5.0)
        self.action.destroy()
        self.node.destroy_node()
        self.rclpy.try_shutdown(context=self.context)
