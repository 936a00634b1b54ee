"""The reasoning node: camera + joint states in, next keypoint out.

A lifecycle node in the manner of llama_ros: ``configure`` reads the parameters
(:mod:`robot_r1_ros.ros.reasoning_params`) and loads the model, ``activate`` starts predicting,
``deactivate`` stops (cancelling a running prediction), ``cleanup`` unloads the model. With the
``autostart`` parameter (default true) it configures and activates itself on start-up, so
``ros2 run`` and launch just work.

Per prediction: the freshest camera frame (sensor-data QoS, depth 1) and joint state are
converted (:mod:`robot_r1_ros.ros.conversions`), the TCP position comes from the core's FK, the
prompt from ``core.prompts`` (open-ended next-keypoint task, env frame), the model runs in a
worker thread (one prediction in flight; ROS callbacks never wait for it), the answer is parsed
by ``core.parsing``, converted from the env frame to the base frame and checked against the
workspace. Every attempt is published on ``next_keypoint`` with a status; only OK keypoints are
published as ``next_keypoint_pose``.

Topics (relative names resolve in the node namespace, ``robot_r1`` by default):

=========================== ============================== ===================================
name                        type                           notes
=========================== ============================== ===================================
``topics.image``            sensor_msgs/Image              in; rgb8/bgr8/rgba8/bgra8/mono8
``topics.camera_info``      sensor_msgs/CameraInfo         in; optional (debug projection)
``topics.joint_states``     sensor_msgs/JointState         in
``topics.task``             std_msgs/String                in; transient local
``topics.executor_state``   robot_r1_ros/ExecutorState     in; trigger.mode on_reached
``next_keypoint``           robot_r1_ros/KeypointPrediction out; every attempt, with status
``next_keypoint_pose``      geometry_msgs/PoseStamped      out; OK keypoints only
``markers``                 visualization_msgs/MarkerArray out
``debug_image``             sensor_msgs/Image              out; rgb8, annotated
``/diagnostics``            diagnostic_msgs/DiagnosticArray out; counts, latency, stage times
``predict_keypoint``        robot_r1_ros/PredictKeypoint   action; reasoning streamed
=========================== ============================== ===================================
"""
from __future__ import annotations

import collections
import gc
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy)
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header, String
from visualization_msgs.msg import MarkerArray

from robot_r1_ros.action import PredictKeypoint
from robot_r1_ros.core.errors import BadInputError, ConfigError, RobotR1Error
from robot_r1_ros.core.geometry import project_points
from robot_r1_ros.core.types import Keypoint
from robot_r1_ros.model.errors import GenerationCancelledError
from robot_r1_ros.model.step import Observation, StepSettings, predict_step
from robot_r1_ros.msg import ExecutorState, KeypointPrediction
from robot_r1_ros.ros import conversions as conv
from robot_r1_ros.ros.names import IDLE_OR_DONE_STATES, state_name
from robot_r1_ros.ros.reasoning_params import (PARAMETERS, ReasoningNodeConfig,
                                               declare_parameters, read_config)

NODE_NAME = 'reasoning_node'
DEFAULT_NAMESPACE = 'robot_r1'
"""Namespace used when none is given (``-r __ns:=/other`` overrides it)."""

OK = KeypointPrediction.STATUS_OK
FORMAT_ERROR = KeypointPrediction.STATUS_FORMAT_ERROR
OUT_OF_WORKSPACE = KeypointPrediction.STATUS_OUT_OF_WORKSPACE
STALE_INPUT = KeypointPrediction.STATUS_STALE_INPUT
BAD_INPUT = KeypointPrediction.STATUS_BAD_INPUT
MODEL_ERROR = KeypointPrediction.STATUS_MODEL_ERROR
CANCELLED = -1  # internal: an action goal cancelled mid-generation (never published)

_COUNT_KEYS = ('ok', 'format_error', 'out_of_workspace', 'stale_input', 'bad_input',
               'model_error', 'cancelled')
_STATUS_KEY = {OK: 'ok', FORMAT_ERROR: 'format_error', OUT_OF_WORKSPACE: 'out_of_workspace',
               STALE_INPUT: 'stale_input', BAD_INPUT: 'bad_input', MODEL_ERROR: 'model_error',
               CANCELLED: 'cancelled'}
STAGES = ('frame_age', 'frame_wait', 'conversion', 'prompt_processor', 'model', 'parse',
          'model_call', 'publish', 'end_to_end', 'overhead', 'overhead_vs_generate',
          'debug_image')
"""Per-prediction timings kept for diagnostics (milliseconds):

- frame_age: prediction start - image stamp (transport + time in the node);
- frame_wait: prediction start - image arrival (at most about one frame period: the node
  always takes the newest frame, nothing queues);
- conversion: Image -> RGB array + JointState -> FK;
- prompt_processor: prompt, chat template, image processor (the reasoner's preprocess);
- model: generate (prefill + decoding + constraint);
- parse: completion parse, env -> base frame, workspace check;
- model_call: the whole reasoner call (prompt_processor + model + its parse);
- publish: KeypointPrediction + PoseStamped + MarkerArray build and publish;
- end_to_end: next_keypoint published - image stamp;
- overhead: end_to_end - model_call (what the node adds around the reasoner);
- overhead_vs_generate: end_to_end - model;
- debug_image: drawing + publishing the debug image (after next_keypoint).
"""

# The camera: sensor-data QoS with depth 1, so the node only ever sees the newest frame.
_SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.VOLATILE)
_LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.TRANSIENT_LOCAL)
_RELIABLE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                           reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE)
_DEBUG_IMAGE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                              reliability=ReliabilityPolicy.RELIABLE,
                              durability=DurabilityPolicy.VOLATILE)


@dataclass
class _Job:
    """One prediction request for the worker thread."""

    source: str  # 'trigger' or 'action'
    task: str = ''
    on_text: Callable[[str], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    wait_inputs_s: float = 0.0
    result: Any = None  # the KeypointPrediction (or None when cancelled)
    status: int = OK


@dataclass
class _Inputs:
    """Latest inputs, replaced by the subscription callbacks (under the node's lock)."""

    image: Image | None = None
    image_seq: int = 0
    image_rx_ns: int = 0
    joint_state: JointState | None = None
    joint_rx_ns: int = 0
    k: np.ndarray | None = None
    info_size: tuple[int, int] | None = None


class _Stage:
    """Running statistics of one timing (bounded window for percentiles)."""

    def __init__(self, window: int = 2000) -> None:
        self.values: collections.deque[float] = collections.deque(maxlen=window)
        self.count = 0
        self.total = 0.0
        self.last = float('nan')

    def add(self, value_ms: float) -> None:
        self.values.append(value_ms)
        self.count += 1
        self.total += value_ms
        self.last = value_ms

    def summary(self) -> dict[str, float]:
        if not self.values:
            return {}
        arr = np.fromiter(self.values, dtype=float)
        return {'last': self.last, 'mean': self.total / self.count,
                'p50': float(np.percentile(arr, 50)), 'p95': float(np.percentile(arr, 95)),
                'max': float(arr.max())}


class ReasoningNode(LifecycleNode):
    """Lifecycle node that predicts the robot's next keypoint with a Robot-R1 reasoner."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs: Any) -> None:
        """Create the node (unconfigured) and declare its parameters.

        Args:
            node_name: Node name.
            **kwargs: Passed to ``rclpy.lifecycle.LifecycleNode`` (``namespace``,
                ``parameter_overrides``, ``context``, ``cli_args``...).
        """
        super().__init__(node_name, **kwargs)
        declare_parameters(self)
        self.config: ReasoningNodeConfig | None = None
        self._step_settings: StepSettings | None = None
        self.reasoner: Any = None
        # One lock for the shared state; the worker waits on the condition for a trigger
        # (new frame, executor report, action goal, rate-cap deadline) and callbacks notify it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._inputs = _Inputs()
        self._task = ''
        self._active = False
        self._busy = False
        self._goal_active = False
        self._next_allowed_ns = 0
        self._consumed_seq = 0
        self._wait_goal_stamp: tuple[int, int] | None = None
        self._wait_since_ns = 0
        self._action_jobs: collections.deque[_Job] = collections.deque()
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._current_job: _Job | None = None
        self._counts = dict.fromkeys(_COUNT_KEYS, 0)
        self._stages = {name: _Stage() for name in STAGES}
        self._last_status = ''
        self._last_reason = ''
        self._load_error = ''
        self._load_time_s = float('nan')
        self._entities: list[tuple[str, Any]] = []
        self._action_server: ActionServer | None = None
        self._inputs_group = ReentrantCallbackGroup()
        self._action_group = ReentrantCallbackGroup()
        self._diag_group = MutuallyExclusiveCallbackGroup()
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 1)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics,
                                             callback_group=self._diag_group)
        self.add_on_set_parameters_callback(self._on_set_parameters)

    # ----------------------------------------------------------------------------- lifecycle

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the parameters, load the model, create publishers, subscriptions, the action."""
        try:
            config = read_config(self)
        except ConfigError as exc:
            self._load_error = str(exc)
            self.get_logger().error(f'configure failed: bad parameter: {exc}')
            return TransitionCallbackReturn.FAILURE
        self.config = config
        self._step_settings = StepSettings(env_frame=config.env_frame,
                                           workspace=config.workspace)
        self._task = config.task
        t0 = time.perf_counter()
        reasoner = None
        try:
            from robot_r1_ros.model.reasoner import load_reasoner
            self.get_logger().info(f'loading model {config.reasoner.model_id!r} ...')
            reasoner = load_reasoner(config.reasoner)
            if config.warmup:
                reasoner.warmup()
        except Exception as exc:  # noqa: BLE001  (any load failure: report, stay unconfigured)
            if reasoner is not None:  # loaded, but the warm-up failed: free it now
                reasoner.close()
                reasoner = None
                gc.collect()
            self._load_error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'configure failed: cannot load model '
                                    f'{config.reasoner.model_id!r}: {self._load_error}')
            self.config = None
            return TransitionCallbackReturn.FAILURE
        self.reasoner = reasoner
        self._load_time_s = time.perf_counter() - t0
        self._load_error = ''
        self._create_entities(config)
        self._start_worker()
        self._diag_timer.cancel()
        self.destroy_timer(self._diag_timer)
        self._diag_timer = self.create_timer(config.diagnostics_period_s,
                                             self._publish_diagnostics,
                                             callback_group=self._diag_group)
        described = ', '.join(f'{k}={v}' for k, v in self.reasoner.describe().items())
        self.get_logger().info(f'configured in {self._load_time_s:.1f} s ({described}); '
                               f'trigger {config.trigger_mode}, task {self._task!r}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start predicting (enables the lifecycle publishers)."""
        result = super().on_activate(state)
        with self._cond:
            self._active = True
            self._next_allowed_ns = 0
            self._wait_goal_stamp = None
            # The first prediction uses a frame that arrives after activation.
            self._consumed_seq = self._inputs.image_seq
            self._cond.notify_all()
        self.get_logger().info('active: predicting')
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop predicting; a running prediction is cancelled."""
        with self._lock:
            self._active = False
            job = self._current_job
        if job is not None:
            job.cancel.set()
        self._wait_idle(5.0)
        self.get_logger().info('inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Unload the model and remove publishers, subscriptions and the action server."""
        self._teardown()
        self.get_logger().info('cleaned up: model unloaded')
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything."""
        with self._lock:
            self._active = False
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything and go back to unconfigured."""
        self.get_logger().error(f'error while in state {state.label}; cleaning up')
        with self._lock:
            self._active = False
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    @property
    def is_active(self) -> bool:
        """True while predictions are enabled."""
        return self._active

    # ------------------------------------------------------------------------------ set-up

    def _create_entities(self, config: ReasoningNodeConfig) -> None:
        group = self._inputs_group
        self._pub_keypoint = self.create_lifecycle_publisher(
            KeypointPrediction, 'next_keypoint', _RELIABLE_QOS)
        self._pub_pose = self.create_lifecycle_publisher(
            PoseStamped, 'next_keypoint_pose', _RELIABLE_QOS)
        self._pub_markers = self.create_lifecycle_publisher(MarkerArray, 'markers',
                                                            _RELIABLE_QOS)
        self._pub_debug = self.create_lifecycle_publisher(Image, 'debug_image',
                                                          _DEBUG_IMAGE_QOS)
        for pub in (self._pub_keypoint, self._pub_pose, self._pub_markers, self._pub_debug):
            self._entities.append(('lifecycle_publisher', pub))
        subs = [
            self.create_subscription(Image, config.image_topic, self._on_image, _SENSOR_QOS,
                                     callback_group=group),
            self.create_subscription(CameraInfo, config.camera_info_topic, self._on_camera_info,
                                     _SENSOR_QOS, callback_group=group),
            self.create_subscription(JointState, config.joint_states_topic, self._on_joints,
                                     _SENSOR_QOS, callback_group=group),
            self.create_subscription(String, config.task_topic, self._on_task, _LATCHED_QOS,
                                     callback_group=group),
            self.create_subscription(ExecutorState, config.executor_state_topic,
                                     self._on_executor_state, _LATCHED_QOS,
                                     callback_group=group),
        ]
        self._entities.extend(('subscription', s) for s in subs)
        self._action_server = ActionServer(
            self, PredictKeypoint, 'predict_keypoint', self._execute_action,
            goal_callback=self._on_goal, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=self._action_group)

    def _teardown(self) -> None:
        with self._lock:
            self._active = False
            job = self._current_job
        if job is not None:
            job.cancel.set()
        self._stop_worker()
        if self._action_server is not None:
            self._action_server.destroy()
            self._action_server = None
        for kind, entity in self._entities:
            if kind == 'lifecycle_publisher':
                self.destroy_lifecycle_publisher(entity)
            else:
                self.destroy_subscription(entity)
        self._entities.clear()
        if self.reasoner is not None:
            try:
                self.reasoner.close()
            except Exception as exc:  # noqa: BLE001
                self.get_logger().warning(f'closing the model raised {exc!r}')
            self.reasoner = None
            gc.collect()
        self.config = None
        with self._lock:
            self._inputs = _Inputs()

    def _start_worker(self) -> None:
        with self._cond:
            self._stopping = False
            self._action_jobs.clear()
        self._worker = threading.Thread(target=self._worker_loop, name='reasoning-worker',
                                        daemon=True)
        self._worker.start()

    def _stop_worker(self, timeout_s: float = 10.0) -> None:
        worker = self._worker
        if worker is None:
            return
        with self._cond:
            self._stopping = True
            queued = list(self._action_jobs)
            self._action_jobs.clear()
            if self._current_job is not None:
                self._current_job.cancel.set()
            self._cond.notify_all()
        for job in queued:  # goals that never started end as cancelled
            job.cancel.set()
            job.status = CANCELLED
            job.done.set()
        worker.join(timeout_s)
        if worker.is_alive():
            self.get_logger().warning(f'worker still running after {timeout_s} s')
        self._worker = None
        with self._cond:
            self._busy = False
            self._goal_active = False

    def _wait_idle(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._busy and time.monotonic() < deadline:
                self._cond.wait(0.05)

    def _on_set_parameters(self, params: Sequence[Any]) -> SetParametersResult:
        """Parameters are read on configure: refuse changes while configured."""
        ours = {p.name for p in PARAMETERS}
        changed = [p.name for p in params if p.name in ours]
        if changed and self.config is not None:
            return SetParametersResult(
                successful=False,
                reason=f'{", ".join(changed)}: parameters are read on configure; run the '
                       'cleanup transition first, then set them and configure again')
        return SetParametersResult(successful=True)

    # ---------------------------------------------------------------------------- callbacks

    def _on_image(self, msg: Image) -> None:
        """Keep the newest frame; start a prediction when the trigger allows (never blocks)."""
        now_ns = self.get_clock().now().nanoseconds
        with self._cond:
            self._inputs.image = msg
            self._inputs.image_seq += 1
            self._inputs.image_rx_ns = now_ns
            self._cond.notify_all()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        k = conv.camera_info_to_k(msg)
        with self._lock:
            self._inputs.k = k
            self._inputs.info_size = (int(msg.width), int(msg.height))

    def _on_joints(self, msg: JointState) -> None:
        now_ns = self.get_clock().now().nanoseconds
        with self._cond:
            first = self._inputs.joint_state is None
            self._inputs.joint_state = msg
            self._inputs.joint_rx_ns = now_ns
            if first:
                self._cond.notify_all()

    def _on_task(self, msg: String) -> None:
        text = ' '.join(msg.data.split())
        if not text:
            self.get_logger().warning('ignoring an empty task instruction')
            return
        with self._lock:
            changed = text != self._task
            self._task = text
        if changed:
            self.get_logger().info(f'task: {text!r}')

    def _on_executor_state(self, msg: ExecutorState) -> None:
        with self._lock:
            waiting = self._wait_goal_stamp
            if waiting is None or msg.state not in IDLE_OR_DONE_STATES:
                return
            if (msg.goal_stamp.sec, msg.goal_stamp.nanosec) != waiting:
                return
            self._wait_goal_stamp = None
            self._cond.notify_all()
        reason = f' ({msg.reason})' if msg.reason else ''
        self.get_logger().info(f'executor: {state_name(msg.state)}{reason}; '
                               'next prediction armed')

    def _trigger_wait_locked(self, now_ns: int) -> float | None:
        """0 when a trigger prediction may start now, else seconds to wait (None = until
        notified). Called by the worker with the lock held."""
        cfg = self.config
        if cfg is None or not self._active or cfg.trigger_mode == 'on_demand':
            return None
        if self._inputs.image_seq <= self._consumed_seq:
            return None  # no new frame since the last prediction
        if self._inputs.joint_state is None:
            # start-up order: wait for the first joint state rather than report STALE_INPUT
            self.get_logger().info(f'waiting for joint states on {cfg.joint_states_topic}',
                                   throttle_duration_sec=5.0)
            return None
        if cfg.trigger_mode == 'on_reached' and self._wait_goal_stamp is not None:
            timeout_ns = int(cfg.reached_timeout_s * 1e9)
            if not timeout_ns:
                return None
            remaining_ns = self._wait_since_ns + timeout_ns - now_ns
            if remaining_ns > 0:
                return remaining_ns * 1e-9
            self.get_logger().warning(
                f'no executor report on the last goal after {cfg.reached_timeout_s:.1f} s; '
                'predicting again')
            self._wait_goal_stamp = None
        remaining_ns = self._next_allowed_ns - now_ns  # rate cap
        return remaining_ns * 1e-9 if remaining_ns > 0 else 0.0

    # ------------------------------------------------------------------------------- action

    def _on_goal(self, goal: Any) -> GoalResponse:
        with self._lock:
            if not self._active:
                self.get_logger().warning('predict_keypoint goal rejected: node is not active')
                return GoalResponse.REJECT
            if self._goal_active:
                self.get_logger().warning('predict_keypoint goal rejected: one goal at a time')
                return GoalResponse.REJECT
            self._goal_active = True
        return GoalResponse.ACCEPT

    def _execute_action(self, goal_handle: Any) -> Any:
        """Run one prediction for the goal, streaming the reasoning as feedback."""
        cfg = self.config
        deltas: queue.Queue[str] = queue.Queue()
        job = _Job(source='action', task=' '.join(goal_handle.request.task.split()),
                   on_text=deltas.put, wait_inputs_s=cfg.action_wait_s if cfg else 0.0)
        result = PredictKeypoint.Result()
        with self._cond:
            running = cfg is not None and self._worker is not None and not self._stopping
            if running:
                self._action_jobs.append(job)  # runs before any trigger prediction
                self._cond.notify_all()
            else:
                self._goal_active = False
        if not running:
            goal_handle.abort()
            result.prediction = conv.keypoint_prediction_msg(
                Header(), MODEL_ERROR, status_reason='node is not configured')
            return result
        completion = ''
        n_deltas = 0
        sent = (None, -1)
        while True:
            finished = job.done.wait(0.05)
            while True:
                try:
                    completion += deltas.get_nowait()
                    n_deltas += 1
                except queue.Empty:
                    break
            if goal_handle.is_cancel_requested and not job.cancel.is_set():
                job.cancel.set()
            reasoning = _reasoning_so_far(completion)
            if n_deltas and (reasoning, n_deltas) != sent and goal_handle.is_active:
                goal_handle.publish_feedback(
                    PredictKeypoint.Feedback(reasoning=reasoning, tokens=n_deltas))
                sent = (reasoning, n_deltas)
            if finished:
                break
        if job.result is not None:
            result.prediction = job.result
        if job.status == CANCELLED or job.result is None:
            result.prediction.status_reason = 'cancelled'
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
            else:  # the node was deactivated or cleaned up under the goal
                goal_handle.abort()
        else:
            goal_handle.succeed()
        return result

    # ------------------------------------------------------------------------------- worker

    def _worker_loop(self) -> None:
        """Run one prediction at a time: action goals first, then triggers when allowed."""
        while True:
            with self._cond:
                job = None
                while job is None:
                    if self._stopping:
                        return
                    if self._action_jobs:
                        job = self._action_jobs.popleft()
                        break
                    now_ns = self.get_clock().now().nanoseconds
                    wait_s = self._trigger_wait_locked(now_ns)
                    if wait_s == 0.0:
                        job = _Job(source='trigger')
                        self._next_allowed_ns = now_ns + int(1e9 / self.config.max_rate_hz)
                        break
                    # re-check at least twice a second (sim time, parameters of the clock)
                    self._cond.wait(0.5 if wait_s is None else min(wait_s, 0.5))
                self._current_job = job
                self._busy = True
            try:
                self._run_job(job)
            except Exception as exc:  # noqa: BLE001  (the worker must never die)
                self.get_logger().error(f'prediction crashed: {exc!r}')
            finally:
                with self._cond:
                    self._current_job = None
                    self._busy = False
                    if job.source == 'action':
                        self._goal_active = False
                    self._cond.notify_all()
                job.done.set()

    def _snapshot(self, job: _Job) -> tuple[Image | None, JointState | None, _Inputs, str]:
        """The inputs for a job; an action job waits up to ``wait_inputs_s`` for fresh ones."""
        cfg = self.config
        deadline = time.monotonic() + job.wait_inputs_s
        while True:
            now_ns = self.get_clock().now().nanoseconds
            with self._lock:
                inputs = self._inputs
                image, joints, seq = inputs.image, inputs.joint_state, inputs.image_seq
                task = job.task or self._task
                snapshot = _Inputs(image=image, image_seq=seq, image_rx_ns=inputs.image_rx_ns,
                                   joint_state=joints, joint_rx_ns=inputs.joint_rx_ns,
                                   k=inputs.k, info_size=inputs.info_size)
                self._consumed_seq = max(self._consumed_seq, seq)
            fresh = (image is not None and joints is not None and cfg is not None
                     and now_ns - _stamp_ns(image.header.stamp)
                     <= cfg.max_image_age_s * 1e9)
            if fresh or time.monotonic() >= deadline or job.cancel.is_set():
                return image, joints, snapshot, task
            time.sleep(0.01)

    def _run_job(self, job: _Job) -> None:
        cfg = self.config
        reasoner = self.reasoner
        if cfg is None or reasoner is None:
            return
        image_msg, joint_msg, inputs, task = self._snapshot(job)
        t_start_ns = self.get_clock().now().nanoseconds
        header = Header(frame_id=cfg.base_frame)
        ctx = _Attempt(task=task, model_id=reasoner.model_id)
        if image_msg is not None:
            header.stamp = image_msg.header.stamp
            ctx.image_header = image_msg.header
        try:
            rgb, reading = self._check_inputs(cfg, image_msg, joint_msg, inputs, t_start_ns, ctx)
        except _Rejected as rej:
            self._finish(job, cfg, header, rej.status, rej.reason, ctx)
            return
        ctx.reading = reading
        ctx.rgb = rgb
        observation = Observation(image_rgb=rgb, reading=reading, task=task,
                                  request_id=f'{header.stamp.sec}.{header.stamp.nanosec:09d}')
        try:
            result = predict_step(reasoner, observation, self._step_settings,
                                  on_text=job.on_text, cancel=job.cancel)
        except GenerationCancelledError:
            job.status = CANCELLED
            self._count(CANCELLED, 'cancelled', '')
            if self.context.ok():  # not during process shutdown (rosout is gone)
                self.get_logger().info('prediction cancelled')
            return
        ctx.inference_s = result.inference_s
        ctx.output = result.output
        ctx.keypoint = result.keypoint
        if result.output is not None:
            timings = result.output.timings
            ctx.stage_ms['prompt_processor'] = timings.preprocess_s * 1e3
            ctx.stage_ms['model'] = timings.generate_s * 1e3
            ctx.stage_ms['parse'] = (timings.parse_s + result.judge_s) * 1e3
            t_start = t_start_ns
        else:
            t_start = None
        self._finish(job, cfg, header, int(result.status), result.reason, ctx,
                     t_start_ns=t_start)

    def _check_inputs(self, cfg: ReasoningNodeConfig, image_msg: Image | None,
                      joint_msg: JointState | None, inputs: _Inputs, now_ns: int,
                      ctx: '_Attempt') -> tuple[np.ndarray, conv.JointReading]:
        """Validate and convert the inputs, or raise :class:`_Rejected`."""
        if image_msg is None:
            raise _Rejected(STALE_INPUT, f'no image received on {cfg.image_topic}')
        image_ns = _stamp_ns(image_msg.header.stamp)
        age_s = (now_ns - image_ns) * 1e-9
        ctx.stage_ms['frame_age'] = age_s * 1e3
        if inputs.image_rx_ns:
            ctx.stage_ms['frame_wait'] = max(0.0, (now_ns - inputs.image_rx_ns) * 1e-6)
        if image_ns == 0:
            raise _Rejected(STALE_INPUT, 'image has no time stamp (header.stamp is 0)')
        if age_s > cfg.max_image_age_s:
            raise _Rejected(STALE_INPUT, f'image is {age_s:.2f} s old (input.max_image_age_s '
                                         f'= {cfg.max_image_age_s:.2f} s)')
        t0 = time.perf_counter()
        try:
            rgb = conv.image_msg_to_array(image_msg, 'rgb8')
        except BadInputError as exc:
            raise _Rejected(BAD_INPUT, f'bad image: {exc}') from None
        if joint_msg is None:
            raise _Rejected(STALE_INPUT, f'no joint state received on {cfg.joint_states_topic}')
        try:
            reading = conv.joint_state_to_reading(joint_msg, cfg.arm_joint_names,
                                                  cfg.finger_joint_names,
                                                  tcp_offset_m=cfg.tcp_offset_m)
        except BadInputError as exc:
            raise _Rejected(BAD_INPUT, f'bad joint state: {exc}') from None
        ctx.stage_ms['conversion'] = (time.perf_counter() - t0) * 1e3
        ctx.current_xyz_base_m = reading.robot_state.ee_xyz_base_m
        ctx.tcp_quat_xyzw = reading.tcp_quat_xyzw
        joint_ns = _stamp_ns(joint_msg.header.stamp)
        if joint_ns:
            lag_s = (image_ns - joint_ns) * 1e-9
        else:  # unstamped joint states: use their arrival time
            lag_s = (now_ns - inputs.joint_rx_ns) * 1e-9
        if lag_s > cfg.max_joint_state_age_s:
            raise _Rejected(STALE_INPUT, f'joint state is {lag_s:.2f} s older than the image '
                                         f'(input.max_joint_state_age_s = '
                                         f'{cfg.max_joint_state_age_s:.2f} s)')
        return rgb, reading

    def _finish(self, job: _Job, cfg: ReasoningNodeConfig, header: Header, status: int,
                reason: str, ctx: '_Attempt', t_start_ns: int | None = None) -> None:
        """Publish the attempt (every status), update counts and the on_reached state."""
        output = ctx.output
        t0 = time.perf_counter()
        msg = conv.keypoint_prediction_msg(
            header, status, status_reason=reason, keypoint=ctx.keypoint,
            tcp_quat_xyzw=ctx.tcp_quat_xyzw, current_xyz_base_m=ctx.current_xyz_base_m,
            task=ctx.task, reasoning=output.reasoning if output is not None else '',
            raw_answer=output.completion if output is not None else '',
            model_id=ctx.model_id, inference_time_s=ctx.inference_s,
            generated_tokens=output.generated_tokens if output is not None else 0)
        job.status = status
        job.result = msg
        with self._lock:
            publish = self._active
            if publish and status == OK:
                # on_reached: wait for the executor to report on this goal
                self._wait_goal_stamp = (header.stamp.sec, header.stamp.nanosec)
                self._wait_since_ns = self.get_clock().now().nanoseconds
        if publish:
            self._pub_keypoint.publish(msg)
            t_pub_ns = self.get_clock().now().nanoseconds
            if status == OK and ctx.keypoint is not None:
                self._pub_pose.publish(conv.keypoint_pose_msg(
                    header, ctx.keypoint.xyz_base_m, ctx.tcp_quat_xyzw or (0.0, 0.0, 0.0, 1.0)))
            if ctx.current_xyz_base_m is not None:
                label = (f'{conv.STATUS_NAMES[status]} {ctx.keypoint.gripper.value}'
                         if ctx.keypoint is not None else conv.STATUS_NAMES[status])
                self._pub_markers.publish(conv.keypoint_markers(
                    header, ctx.current_xyz_base_m, ctx.keypoint, status == OK,
                    text=label, lifetime_s=cfg.marker_lifetime_s))
            ctx.stage_ms['publish'] = (time.perf_counter() - t0) * 1e3
            image_ns = _stamp_ns(header.stamp)
            if image_ns and t_start_ns is not None:
                e2e_ms = (t_pub_ns - image_ns) * 1e-6
                ctx.stage_ms['end_to_end'] = e2e_ms
                if 'model' in ctx.stage_ms:
                    ctx.stage_ms['model_call'] = ctx.inference_s * 1e3
                    ctx.stage_ms['overhead'] = e2e_ms - ctx.inference_s * 1e3
                    ctx.stage_ms['overhead_vs_generate'] = e2e_ms - ctx.stage_ms['model']
            # drawing a 640x480 frame costs milliseconds: only when someone listens
            if (cfg.debug_image and ctx.rgb is not None
                    and self._pub_debug.get_subscription_count() > 0):
                t1 = time.perf_counter()
                self._publish_debug(cfg, ctx, status, reason)
                ctx.stage_ms['debug_image'] = (time.perf_counter() - t1) * 1e3
        name = conv.STATUS_NAMES[status]
        with self._lock:
            for stage, value in ctx.stage_ms.items():
                self._stages[stage].add(value)
        self._count(status, name, reason)
        if status == OK:
            kp = ctx.keypoint
            self.get_logger().info(
                f'keypoint [{kp.xyz_base_m[0]:.3f}, {kp.xyz_base_m[1]:.3f}, '
                f'{kp.xyz_base_m[2]:.3f}] {kp.gripper.value} ({ctx.inference_s * 1e3:.0f} ms, '
                f'{job.source})')
        else:
            self.get_logger().warning(f'prediction rejected: {name}: {reason}')

    def _count(self, status: int, name: str, reason: str) -> None:
        with self._lock:
            self._counts[_STATUS_KEY[status]] += 1
            self._last_status = name if status != CANCELLED else 'CANCELLED'
            self._last_reason = reason

    def _publish_debug(self, cfg: ReasoningNodeConfig, ctx: '_Attempt', status: int,
                       reason: str) -> None:
        rgb = ctx.rgb
        lines = [f'{conv.STATUS_NAMES[status]}  task: {ctx.task}']
        points: list[Any] = []
        colors: list[tuple[int, int, int]] = []
        if ctx.keypoint is not None:
            x, y, z = ctx.keypoint.xyz_base_m
            lines.append(f'keypoint [{x:.3f}, {y:.3f}, {z:.3f}] {ctx.keypoint.gripper.value} '
                         f'({cfg.base_frame})')
        if reason:
            lines.append(reason)
        reasoning = ctx.output.reasoning if ctx.output is not None else ''
        if reasoning and cfg.reasoning_chars:
            excerpt = ' '.join(reasoning.split())[:cfg.reasoning_chars]
            width = max(16, rgb.shape[1] // 6)
            lines.extend(excerpt[i:i + width] for i in range(0, len(excerpt), width))
        with self._lock:
            k, size = self._inputs.k, self._inputs.info_size
        if (k is not None and cfg.T_base_cam is not None
                and (size is None or size == (rgb.shape[1], rgb.shape[0]) or size == (0, 0))):
            targets = [ctx.current_xyz_base_m]
            colors.append((60, 120, 255))
            if ctx.keypoint is not None:
                targets.append(ctx.keypoint.xyz_base_m)
                colors.append((40, 220, 60) if status == OK else (230, 40, 40))
            uv, depth = project_points(np.asarray(targets, dtype=float), k,
                                       np.asarray(cfg.T_base_cam))
            points = [tuple(p) if d > 0 else None for p, d in zip(uv, depth)]
        annotated = conv.debug_image(rgb, lines, points, colors)
        self._pub_debug.publish(conv.array_to_image_msg(annotated, 'rgb8', ctx.image_header))

    # -------------------------------------------------------------------------- diagnostics

    def stats(self) -> dict[str, Any]:
        """Counts, last status and per-stage timing summaries (ms)."""
        with self._lock:
            return {'counts': dict(self._counts), 'last_status': self._last_status,
                    'last_reason': self._last_reason,
                    'stages_ms': {k: s.summary() for k, s in self._stages.items()}}

    def _publish_diagnostics(self) -> None:
        cfg = self.config
        stats = self.stats()
        loaded = self.reasoner is not None
        with self._lock:
            image = self._inputs.image
            images_received = self._inputs.image_seq
            active = self._active
        now_ns = self.get_clock().now().nanoseconds
        values = {
            'state': 'active' if active else ('inactive' if loaded else 'unconfigured'),
            'model_loaded': str(loaded).lower(),
            'model_id': self.reasoner.model_id if loaded else '',
            'model_load_time_s': f'{self._load_time_s:.2f}',
            'trigger_mode': cfg.trigger_mode if cfg else '',
            'task': self._task,
            'predictions': str(sum(v for k, v in stats['counts'].items() if k != 'cancelled')),
            **{f'count_{k}': str(v) for k, v in stats['counts'].items()},
            'last_status': stats['last_status'],
            'last_reason': stats['last_reason'],
            'image_age_s': (f'{(now_ns - _stamp_ns(image.header.stamp)) * 1e-9:.3f}'
                            if image is not None else 'none'),
            'images_received': str(images_received),
        }
        for stage, summary in stats['stages_ms'].items():
            for key, value in summary.items():
                values[f'{stage}_ms_{key}'] = f'{value:.3f}'
        if 'end_to_end' in stats['stages_ms'] and stats['stages_ms']['end_to_end']:
            values['last_latency_ms'] = values['end_to_end_ms_last']
        if self._load_error:
            level, message = DiagnosticStatus.ERROR, f'configure failed: {self._load_error}'
        elif not loaded:
            level, message = DiagnosticStatus.WARN, 'unconfigured'
        elif not active:
            level, message = DiagnosticStatus.WARN, 'inactive'
        elif image is None:
            level, message = DiagnosticStatus.WARN, 'waiting for camera images'
        elif stats['last_status'] in ('MODEL_ERROR',):
            level, message = DiagnosticStatus.ERROR, f'last prediction: {stats["last_reason"]}'
        elif stats['last_status'] not in ('', 'OK', 'CANCELLED'):
            level, message = DiagnosticStatus.WARN, (f'last prediction {stats["last_status"]}: '
                                                     f'{stats["last_reason"]}')
        else:
            level, message = DiagnosticStatus.OK, 'predicting'
        status = DiagnosticStatus(level=level, name=f'{self.get_name()}: reasoning',
                                  message=message[:500], hardware_id=values['model_id'],
                                  values=[KeyValue(key=k, value=str(v)) for k, v in
                                          values.items()])
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status.append(status)
        self._diag_pub.publish(array)

    def close(self) -> None:
        """Stop the worker and release the model (for shutdown without a transition)."""
        with self._lock:
            self._active = False
        self._teardown()


@dataclass
class _Attempt:
    """What is known about one prediction attempt so far."""

    task: str
    model_id: str
    reading: conv.JointReading | None = None
    rgb: np.ndarray | None = None
    image_header: Header | None = None  # the camera image's header (for the debug image)
    output: Any = None
    keypoint: Keypoint | None = None
    current_xyz_base_m: Sequence[float] | None = None
    tcp_quat_xyzw: Sequence[float] | None = None
    inference_s: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)


class _Rejected(Exception):
    """An input check failed (internal control flow)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _reasoning_so_far(completion: str) -> str:
    """The reasoning part of a partial completion: after ``<think>``, before ``</think>``.

    Text arrives in arbitrary pieces, so a tag may be cut (``'<thi'``, ``'...</t'``): partial
    tags are hidden, which keeps successive results growing by appending only.
    """
    open_tag, close_tag = '<think>', '</think>'
    text = completion.lstrip()
    if len(text) < len(open_tag) and open_tag.startswith(text):
        return ''
    if text.startswith(open_tag):
        text = text[len(open_tag):]
    end = text.find(close_tag)
    if end >= 0:
        text = text[:end]
    else:
        for n in range(len(close_tag) - 1, 0, -1):  # a cut closing tag at the end
            if text.endswith(close_tag[:n]):
                text = text[:-n]
                break
    return text.strip()


def main(args: Sequence[str] | None = None) -> int:
    """Run the node until Ctrl-C (``ros2 run robot_r1_ros reasoning_node --ros-args ...``).

    With ``autostart`` (default true) the node configures and activates itself; otherwise it
    waits for lifecycle requests. Returns 0 on a clean shutdown.
    """
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = ReasoningNode(namespace=DEFAULT_NAMESPACE)
        executor = MultiThreadedExecutor(num_threads=4)
        executor.add_node(node)
        if node.get_parameter('autostart').value:
            if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                node.trigger_activate()
            else:
                node.get_logger().error('autostart: configure failed; fix the parameters and '
                                        'call the configure transition')
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RobotR1Error as exc:
        sys.stderr.write(f'reasoning_node: {exc}\n')
        code = 1
    finally:
        if node is not None:
            node.close()
            node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    sys.exit(main())
