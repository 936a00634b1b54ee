"""The reasoning node: camera + joint states in, next keypoint out.

A lifecycle node in the manner of llama_ros: ``configure`` reads the parameters
(:mod:`robot_r1_ros.ros.reasoning_params`) and loads the model, ``activate`` starts predicting,
``deactivate`` stops (cancelling a running prediction), ``cleanup`` unloads the model. With the
``autostart`` parameter (default true) it configures and activates itself on start-up, so
``ros2 run`` and launch just work.

Per prediction, in a worker thread (``reasoning_worker``; callbacks never wait for it): the
newest camera frame and joint state are checked (``reasoning_inputs``), the ROS-free prediction
step runs (``model.step.predict_step``, as in the closed-loop evaluation and the benches), and
every attempt is published with its status (``reasoning_output``). When to predict:
``reasoning_trigger``; action streaming: ``reasoning_action``; counters and diagnostics:
``reasoning_stats``. This module is the ROS wiring: lifecycle, subscriptions, action server.

Topics (relative names resolve in the node namespace, ``robot_r1`` by default): in
``topics.image`` (sensor_msgs/Image), ``topics.camera_info``, ``topics.joint_states``,
``topics.task`` (std_msgs/String, transient local + volatile), ``topics.executor_state``; out
``next_keypoint`` (robot_r1_ros/KeypointPrediction, every attempt with its status),
``next_keypoint_pose`` (OK only), ``markers``, ``debug_image``, ``/diagnostics``; action
``predict_keypoint`` (reasoning streamed). The README's interface table has the details.
"""
from __future__ import annotations

import gc
import queue
import sys
import threading
import time
from typing import Any, Sequence

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Header, String

from robot_r1_ros.action import PredictKeypoint
from robot_r1_ros.core.errors import ConfigError, RobotR1Error
from robot_r1_ros.core.joint_merge import merged_joint_state
from robot_r1_ros.core.status import PredictionStatus
from robot_r1_ros.model.errors import GenerationCancelledError
from robot_r1_ros.model.reasoner import load_reasoner
from robot_r1_ros.model.step import StepSettings
from robot_r1_ros.msg import ExecutorState
from robot_r1_ros.ros import conversions as conv
from robot_r1_ros.ros.qos import DEBUG_IMAGE_QOS, LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS
from robot_r1_ros.ros.names import IDLE_OR_DONE_STATES, state_name, status_name
from robot_r1_ros.ros.reasoning_action import serve_goal
from robot_r1_ros.ros.reasoning_inputs import Attempt, Inputs, Job, run_attempt, stamp_ns
from robot_r1_ros.ros.reasoning_output import (PredictionPublisher, diagnostics_msg,
                                               prediction_msg)
from robot_r1_ros.ros.reasoning_params import (PARAMETERS, ReasoningNodeConfig,
                                               declare_parameters, read_config)
from robot_r1_ros.ros.reasoning_stats import (CANCELLED, STAGES,  # noqa: F401  (API)
                                              NodeState, ReasoningStats, diagnostic_summary)
from robot_r1_ros.ros.reasoning_trigger import TriggerPolicy
from robot_r1_ros.ros.reasoning_worker import PredictionWorker
from robot_r1_ros.ros.spin import init_ros, release_node, spin_until_shutdown

NODE_NAME = 'reasoning_node'
DEFAULT_NAMESPACE = 'robot_r1'
"""Namespace used when none is given (``-r __ns:=/other`` overrides it)."""
CLOSE_JOIN_TIMEOUT_S = 5.0
"""How long :meth:`ReasoningNode.close` (process shutdown) waits for a running prediction."""


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
        self._trigger = TriggerPolicy()
        self.reasoner: Any = None
        # One lock for the shared state; the worker waits on the condition for a trigger
        # (new frame, executor report, action goal, rate-cap deadline) and callbacks notify it.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._inputs = Inputs()
        self._task = ''
        self._active = False
        self._worker = PredictionWorker(self._cond, self._run_job, self._next_trigger_job,
                                        lambda exc: self.get_logger().error(
                                            f'prediction crashed: {exc!r}'))
        self._stats = ReasoningStats()
        self._load_error = ''
        self._load_time_s = float('nan')
        self._out: PredictionPublisher | None = None
        self._input_subs: list[Any] = []
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
        self._trigger = TriggerPolicy(config.trigger_mode, config.max_rate_hz,
                                      config.reached_timeout_s, config.ack_timeout_s)
        self._task = config.task
        t0 = time.perf_counter()
        try:
            self.get_logger().info(f'loading model {config.reasoner.model_id!r} ...')
            reasoner = load_reasoner(config.reasoner, warmup=config.warmup)
        except Exception as exc:  # noqa: BLE001  (any load failure: report, stay unconfigured)
            self._load_error = f'{type(exc).__name__}: {exc}'
            self.get_logger().error(f'configure failed: cannot load model '
                                    f'{config.reasoner.model_id!r}: {self._load_error}')
            self.config = None
            return TransitionCallbackReturn.FAILURE
        self.reasoner = reasoner
        self._load_time_s = time.perf_counter() - t0
        self._load_error = ''
        self._create_entities(config)
        self._worker.start()
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
            # The first prediction uses a frame that arrives after activation.
            self._trigger.reset(self._inputs.image_seq)
            self._cond.notify_all()
        self.get_logger().info('active: predicting')
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop predicting; a running prediction is cancelled."""
        with self._lock:
            self._active = False
        self._worker.cancel_current()
        self._worker.wait_idle(5.0)
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
        self._out = PredictionPublisher(self, RELIABLE_QOS, DEBUG_IMAGE_QOS)
        self._input_subs = [
            self.create_subscription(Image, config.image_topic, self._on_image, SENSOR_QOS,
                                     callback_group=group),
            self.create_subscription(CameraInfo, config.camera_info_topic, self._on_camera_info,
                                     SENSOR_QOS, callback_group=group),
            self.create_subscription(JointState, config.joint_states_topic, self._on_joints,
                                     SENSOR_QOS, callback_group=group),
            # Latched: the last task on start-up; volatile: `ros2 topic pub` (volatile by
            # default, which a transient-local subscription never matches).
            self.create_subscription(String, config.task_topic, self._on_task, LATCHED_QOS,
                                     callback_group=group),
            self.create_subscription(String, config.task_topic, self._on_task, RELIABLE_QOS,
                                     callback_group=group),
            self.create_subscription(ExecutorState, config.executor_state_topic,
                                     self._on_executor_state, LATCHED_QOS,
                                     callback_group=group),
        ]
        if config.gripper_joint_states_topic:   # franka_ros2: the fingers' own topic
            self._input_subs.append(self.create_subscription(
                JointState, config.gripper_joint_states_topic, self._on_gripper_joints,
                SENSOR_QOS, callback_group=group))
        self._action_server = ActionServer(
            self, PredictKeypoint, 'predict_keypoint', self._execute_action,
            goal_callback=self._on_goal, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=self._action_group)

    def _teardown(self, join_timeout_s: float = 10.0) -> None:
        with self._lock:
            self._active = False
        if not self._worker.stop(join_timeout_s):
            self.get_logger().warning(f'worker still running after {join_timeout_s:g} s')
        if self._action_server is not None:
            self._action_server.destroy()
            self._action_server = None
        if self._out is not None:
            for pub in self._out.all:
                self.destroy_lifecycle_publisher(pub)
            self._out = None
        for sub in self._input_subs:
            self.destroy_subscription(sub)
        self._input_subs.clear()
        if self.reasoner is not None:
            try:
                self.reasoner.close()
            except Exception as exc:  # noqa: BLE001
                self.get_logger().warning(f'closing the model raised {exc!r}')
            self.reasoner = None
            gc.collect()
        self.config = None
        with self._lock:
            self._inputs = Inputs()

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

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_image(self, msg: Image) -> None:
        """Keep the newest frame; start a prediction when the trigger allows (never blocks)."""
        now_ns = self._now_ns()
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

    def _on_gripper_joints(self, msg: JointState) -> None:
        self._gripper_joints = msg

    def _on_joints(self, msg: JointState) -> None:
        now_ns = self._now_ns()
        if self.config is not None:   # fingers from topics.gripper_joint_states (franka_ros2)
            msg = merged_joint_state(msg, getattr(self, '_gripper_joints', None),
                                     self.config.finger_joint_names)
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
        goal_id = bytes(bytearray(msg.goal_id.uuid))     # the prediction_id it reports on
        with self._lock:
            if not self._trigger.executor_report(goal_id, msg.state in IDLE_OR_DONE_STATES):
                return
            self._cond.notify_all()
        reason = f' ({msg.reason})' if msg.reason else ''
        self.get_logger().info(f'executor: {state_name(msg.state)}{reason}; '
                               'next prediction armed')

    # ------------------------------------------------------------------------------- action

    def _on_goal(self, goal: Any) -> GoalResponse:
        with self._lock:
            if not self._active:
                self.get_logger().warning('predict_keypoint goal rejected: node is not active')
                return GoalResponse.REJECT
            if self._worker.goal_active:
                self.get_logger().warning('predict_keypoint goal rejected: one goal at a time')
                return GoalResponse.REJECT
            self._worker.goal_active = True
        return GoalResponse.ACCEPT

    def _execute_action(self, goal_handle: Any) -> Any:
        """Run one prediction for the goal, streaming the reasoning as feedback."""
        cfg = self.config
        deltas: queue.Queue[str] = queue.Queue()
        job = Job(source='action', task=' '.join(goal_handle.request.task.split()),
                  on_text=deltas.put, wait_inputs_s=cfg.action_wait_s if cfg else 0.0)
        if cfg is None or not self._worker.submit(job):  # (runs before any trigger prediction)
            goal_handle.abort()
            result = PredictKeypoint.Result()
            result.prediction = conv.keypoint_prediction_msg(
                Header(), PredictionStatus.MODEL_ERROR, status_reason='node is not configured')
            return result
        return serve_goal(goal_handle, job, deltas)

    # ------------------------------------------------------------------------------- worker

    def _next_trigger_job(self) -> tuple[Job | None, float | None]:
        """A trigger job when the policy allows one now (worker, lock held), else how long
        to wait."""
        cfg = self.config
        if cfg is None or not self._active:
            return None, None
        now_ns = self._now_ns()
        decision = self._trigger.decide(now_ns, self._inputs.image_seq,
                                        self._inputs.joint_state is not None)
        if decision.note == 'waiting_for_joint_states':
            self.get_logger().info(f'waiting for joint states on {cfg.joint_states_topic}',
                                   throttle_duration_sec=5.0)
        elif decision.note:   # reached_timeout, or not_acknowledged: the goal was lost
            self.get_logger().warning(f'{decision.note}: no executor report on the last goal '
                                      'in time; predicting again')
        if decision.wait_s == 0.0:
            self._trigger.started(now_ns)
            return Job(source='trigger'), None
        return None, decision.wait_s

    def _snapshot(self, job: Job) -> tuple[Inputs, str]:
        """The inputs for a job; an action job waits up to ``wait_inputs_s`` for fresh ones."""
        cfg = self.config
        deadline = time.monotonic() + job.wait_inputs_s
        while True:
            now_ns = self._now_ns()
            with self._lock:
                snapshot = self._inputs.copy()
                task = job.task or self._task
                self._trigger.consumed(snapshot.image_seq)
            image = snapshot.image
            fresh = (image is not None and snapshot.joint_state is not None and cfg is not None
                     and now_ns - stamp_ns(image.header.stamp) <= cfg.max_image_age_s * 1e9)
            if fresh or time.monotonic() >= deadline or job.cancel.is_set():
                return snapshot, task
            time.sleep(0.01)

    def _run_job(self, job: Job) -> None:
        cfg, reasoner = self.config, self.reasoner
        if cfg is None or reasoner is None:
            return
        inputs, task = self._snapshot(job)
        try:
            done = run_attempt(cfg, reasoner, self._step_settings, inputs, task, self._now_ns(),
                               job)
        except GenerationCancelledError:
            job.status = CANCELLED
            self._stats.count(CANCELLED, 'cancelled', '')
            if self.context.ok():  # not during process shutdown (rosout is gone)
                self.get_logger().info('prediction cancelled')
            return
        self._finish(job, cfg, done.header, done.status, done.reason, done.ctx,
                     t_start_ns=done.t_start_ns)

    def _finish(self, job: Job, cfg: ReasoningNodeConfig, header: Header, status: int,
                reason: str, ctx: Attempt, t_start_ns: int | None = None) -> None:
        """Publish the attempt (every status), update counts and the on_reached state."""
        msg = prediction_msg(header, status, reason, ctx)
        job.status = status
        job.result = msg
        with self._lock:
            publish = self._active and self._out is not None
            if publish and status == PredictionStatus.OK:
                # on_reached: wait for the executor to report on this goal
                self._trigger.published_ok(bytes(bytearray(msg.prediction_id.uuid)),
                                           self._now_ns())
            camera = (self._inputs.k, self._inputs.info_size)
        if publish:
            self._out.publish(cfg, header, msg, reason, ctx, t_start_ns, self._now_ns, camera)
        name = status_name(status)
        self._stats.add_stages(ctx.stage_ms)
        self._stats.count(status, name, reason)
        if status == PredictionStatus.OK:
            kp = ctx.keypoint
            self.get_logger().info(
                f'keypoint [{kp.xyz_base_m[0]:.3f}, {kp.xyz_base_m[1]:.3f}, '
                f'{kp.xyz_base_m[2]:.3f}] {kp.gripper.value} ({ctx.inference_s * 1e3:.0f} ms, '
                f'{job.source})')
        else:
            self.get_logger().warning(f'prediction rejected: {name}: {reason}')

    # -------------------------------------------------------------------------- diagnostics

    def stats(self) -> dict[str, Any]:
        """Counts, last status and per-stage timing summaries (ms)."""
        return self._stats.snapshot()

    def _publish_diagnostics(self) -> None:
        cfg = self.config
        reasoner = self.reasoner
        loaded = reasoner is not None
        with self._lock:
            image = self._inputs.image
            images_received = self._inputs.image_seq
            active = self._active
        now_ns = self._now_ns()
        state = NodeState(
            loaded=loaded, active=active, load_error=self._load_error,
            model_id=reasoner.model_id if loaded else '', load_time_s=self._load_time_s,
            trigger_mode=cfg.trigger_mode if cfg else '', task=self._task,
            image_age_s=((now_ns - stamp_ns(image.header.stamp)) * 1e-9
                         if image is not None else None),
            images_received=images_received)
        health = reasoner.health() if loaded else {}  # remote: server state, last error
        level, message, values = diagnostic_summary(state, self.stats(), health)
        self._diag_pub.publish(diagnostics_msg(f'{self.get_name()}: reasoning', level, message,
                                               values, self.get_clock().now().to_msg()))

    def close(self) -> None:
        """Stop the worker and release the model (for shutdown without a transition)."""
        with self._lock:
            self._active = False
        # A daemon thread ends with the process: the wait fits in launch's STOP_TIMEOUT_S.
        self._teardown(join_timeout_s=CLOSE_JOIN_TIMEOUT_S)


def main(args: Sequence[str] | None = None) -> int:
    """Run the node until Ctrl-C (``ros2 run robot_r1_ros reasoning_node --ros-args ...``).
    With ``autostart`` (default true) the node configures and activates itself; otherwise it
    waits for lifecycle requests. Returns 0 on a clean shutdown."""
    init_ros(args)
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
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C while the model was still loading
    except RobotR1Error as exc:
        sys.stderr.write(f'reasoning_node: {exc}\n')
        code = 1
    finally:
        release_node(node, close=node.close if node is not None else None)
    return code


if __name__ == '__main__':
    sys.exit(main())
