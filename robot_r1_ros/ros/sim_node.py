"""sim_node: the MuJoCo Panda tabletop as a ROS 2 robot driver.

Steps the physics in real time and looks like a ros2_control Franka from outside.

Publishes (stamps are **sim time**, also on ``/clock``; run other nodes with
``use_sim_time:=true`` for exact agreement.  Sim time starts at the wall-clock time of start-up
(``clock_epoch: wall``, so nodes on wall time see current stamps while the real-time factor is
1) or at 0 (``clock_epoch: zero``), and never jumps back, also across resets):
  - ``/camera/image_raw`` (sensor_msgs/Image, rgb8, sensor-data QoS) and
    ``/camera/camera_info`` (sensor_msgs/CameraInfo, same stamp and QoS), frame
    ``front_cam_optical_frame``, at ``camera_rate_hz``
  - ``/joint_states`` (sensor_msgs/JointState: <joint_prefix>_joint1..7,
    <joint_prefix>_finger_joint1/2; ``joint_prefix`` panda or fr3) and ``gripper_state_topic``
    (fingers only, ``/panda_gripper/joint_states``) at ``joint_state_rate_hz``
  - ``/clock`` (rosgraph_msgs/Clock) at ``joint_state_rate_hz`` when ``publish_clock``
  - ``task`` (std_msgs/String, transient local): the task instruction (relative: launch and
    ``robot-r1 bringup`` remap it to ``/<namespace>/task``, the reasoning node's)
  - ``/sim/task_success`` (std_msgs/Bool, transient local): task solved, at ``success_rate_hz``

Action servers (:mod:`robot_r1_ros.ros.sim_controllers`; with control_msgs / franka_msgs):
  - ``/<arm_controller>/follow_joint_trajectory`` (control_msgs/FollowJointTrajectory), as
    joint_trajectory_controller's action, with error codes from the simulated arm
  - ``/<gripper_node>/grasp``, ``move``, ``homing`` (franka_msgs) and ``gripper_action``
    (control_msgs/GripperCommand), with results from the simulated fingers

Subscribes:
  - ``/<arm_controller>/joint_trajectory`` (trajectory_msgs/JointTrajectory), as
    joint_trajectory_controller's topic interface: all 7 arm joints, any order; an empty
    trajectory stops (holds the current set-point).  Malformed or unsafe trajectories are
    rejected with a logged reason (the node keeps running).
  - ``gripper_command_topic`` (std_msgs/Float64, ``/panda_gripper/command``): finger distance in
    metres, 0 .. 0.08.

Services:
  - ``/sim/reset`` (robot_r1_ros/srv/ResetSim): task name ('' = current) + seed (< 0 = next).

Parameters: :mod:`robot_r1_ros.ros.sim_params` (the node runs with none set); they are read
at start-up, so changing one at run time is refused (``/sim/reset`` changes task and seed).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time

os.environ.setdefault('MUJOCO_GL', 'egl')   # before anything imports mujoco

import numpy as np
import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, JointState
from sensor_msgs.msg import Image as ImageMsg
from std_msgs.msg import Bool, Float64, Header, String
from trajectory_msgs.msg import JointTrajectory

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.ros.conversions import array_to_image_msg, s_to_stamp
from robot_r1_ros.ros.sim_params import (DEFAULTS, PARAMETERS,  # noqa: F401  (API: DEFAULTS)
                                         config_from_values, declare_parameters, read_config)
from robot_r1_ros.ros.spin import init_ros, release_node, spin_until_shutdown
from robot_r1_ros.sim.recording import CAMERA_FRAME
from robot_r1_ros.sim.scene import (GRIPPER_MAX_WIDTH_M, JOINT_NAMES, PandaScene, SceneConfig,
                                    SnapshotRenderer)
from robot_r1_ros.sim.tasks import UnknownTaskError, make_task, task_names
from robot_r1_ros.sim.trajectory import JointTrajectoryPlan, TrajectoryError, validate_trajectory


class _RenderWorker(threading.Thread):
    """Renders camera frames off the stepping thread (MuJoCo releases the GIL while rendering)
    and publishes them; a request arriving while busy replaces the pending one."""

    def __init__(self, node: 'SimNode') -> None:
        super().__init__(name='sim_render', daemon=True)
        self.node = node
        self._cv = threading.Condition()
        self._pending: tuple | None = None
        self._stopping = False
        self.frames = 0
        self.dropped = 0

    def request(self, t_s: float, qpos: np.ndarray, mocap_pos: np.ndarray,
                mocap_quat: np.ndarray) -> None:
        with self._cv:
            if self._pending is not None:
                self.dropped += 1
            self._pending = (t_s, qpos, mocap_pos, mocap_quat)
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify()

    def run(self) -> None:
        n = self.node
        cam = n.scene.cfg.camera
        renderer = SnapshotRenderer(n.scene.model, cam.name, cam.width, cam.height)
        try:
            while True:
                with self._cv:
                    while self._pending is None and not self._stopping:
                        self._cv.wait()
                    if self._stopping:
                        return
                    job, self._pending = self._pending, None
                t_s, qpos, mocap_pos, mocap_quat = job
                rgb = renderer.render(qpos, mocap_pos, mocap_quat)
                n.publish_image(rgb, t_s)
                self.frames += 1
        except Exception as exc:  # noqa: BLE001 - keep the node alive, report once
            if rclpy.ok(context=n.context) and not self._stopping:
                n.get_logger().error(f'render thread stopped: {exc!r}')
        finally:
            renderer.close()


class SimNode(Node):
    """The simulated Panda (see the module docstring for the interface)."""

    def __init__(self, **kwargs) -> None:
        super().__init__('sim_node', **kwargs)
        declare_parameters(self)
        self.config = p = read_config(self)   # ConfigError names a bad parameter
        cfg = SceneConfig.from_yaml(p.scene_config) if p.scene_config else SceneConfig()
        cfg = cfg.with_camera_size(p.camera_width, p.camera_height)
        self.scene = PandaScene(cfg)
        self.camera = self.scene.camera
        self.rtf = p.real_time_factor
        self.max_catch_up_s = p.max_catch_up_s
        self.camera_period_s = 1.0 / p.camera_rate_hz
        self.joint_period_s = 1.0 / p.joint_state_rate_hz
        self.success_period_s = 1.0 / p.success_rate_hz
        self.publish_clock = p.publish_clock
        # Names as the robot calls them <-> the scene's panda_* names.
        self.joint_names = [n.replace('panda_', f'{p.joint_prefix}_', 1) for n in JOINT_NAMES]
        self._to_scene_name = dict(zip(self.joint_names, JOINT_NAMES))
        self.plan_serial = 0
        self.limits = {'lower_rad': np.array(p.joint_lower_rad),
                       'upper_rad': np.array(p.joint_upper_rad),
                       'velocity_limits_rad_s': np.array(p.joint_max_velocity_rad_s)}

        latched = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.pub_image = self.create_publisher(ImageMsg, '/camera/image_raw',
                                               qos_profile_sensor_data)
        self.pub_info = self.create_publisher(CameraInfo, '/camera/camera_info',
                                              qos_profile_sensor_data)
        self.pub_joints = self.create_publisher(JointState, '/joint_states', 10)
        self.pub_gripper = self.create_publisher(JointState, p.gripper_state_topic, 10)
        self.pub_clock = self.create_publisher(Clock, '/clock', 10) if self.publish_clock \
            else None
        # Relative: launch remaps it into the reasoning node's namespace (system.py).
        self.pub_task = self.create_publisher(String, 'task', latched)
        self.pub_success = self.create_publisher(Bool, '/sim/task_success', latched)
        arm_controller = p.arm_controller.strip('/')
        self.create_subscription(JointTrajectory, f'/{arm_controller}/joint_trajectory',
                                 self._on_trajectory, 10)
        self.create_subscription(Float64, p.gripper_command_topic, self._on_gripper, 10)
        self._trigger_reset = False  # True: /sim/reset is std_srvs/Trigger (no interfaces)
        self._make_reset_service()
        from robot_r1_ros.ros.sim_controllers import SimControllers
        self.controllers = SimControllers(
            self, arm_controller, p.gripper_node, tuple(self.joint_names[:7]),
            p.goal_tolerance_rad, p.goal_time_s)

        # Offset of the published sim time; grows at every reset so time never jumps back.
        self._time_offset_s = time.time() if p.clock_epoch == 'wall' else 0.0
        self._trajectory = None
        self.task = None
        self.episode = None
        self._last_success: bool | None = None
        self.n_trajectories_accepted = 0
        self.n_trajectories_rejected = 0
        try:
            self._reset(p.task, p.seed)
        except UnknownTaskError as exc:
            raise ConfigError(f'parameter task: {exc}', 'task') from None
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._renderer = _RenderWorker(self)
        self._renderer.start()
        self._wall0 = time.monotonic()
        self._sim0 = self.sim_time_s
        # The last stamps sent: a tick that did not advance the sim (behind real time, or right
        # after a reset) must not send the same stamp twice (tf and the tests need them to grow).
        self._joint_stamp_s = self._cam_stamp_s = -math.inf
        self._next_joint_s = self._next_cam_s = self._next_success_s = self.sim_time_s
        self._timer = self.create_timer(min(self.joint_period_s, 0.01), self._tick)
        self.get_logger().info(
            f'sim_node up: task {self.task.name!r} seed {self.episode.seed}, camera '
            f'{cfg.camera.width}x{cfg.camera.height} @ {p.camera_rate_hz} Hz, joint states @ '
            f'{p.joint_state_rate_hz} Hz, /clock {"on" if self.publish_clock else "off"}')

    def _on_set_parameters(self, params) -> SetParametersResult:
        """Parameters are read at start-up: refuse changes (with the Trigger fallback of
        ``/sim/reset``, task and seed are read at each reset, so those are checked and taken)."""
        ours = {spec.name for spec in PARAMETERS}
        changed = [q for q in params if q.name in ours]
        if self._trigger_reset and all(q.name in ('task', 'seed') for q in changed):
            try:
                config_from_values({q.name: q.value for q in changed})
                if any(q.name == 'task' and q.value not in task_names() for q in changed):
                    raise ConfigError(f'task must be one of {", ".join(task_names())}', 'task')
            except ConfigError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
            return SetParametersResult(successful=True)
        if changed:
            return SetParametersResult(
                successful=False,
                reason=f'{", ".join(q.name for q in changed)}: sim_node reads its parameters '
                       'at start-up; restart it, or call /sim/reset to change task and seed')
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ time
    @property
    def sim_time_s(self) -> float:
        """Published sim time (monotonic across resets), seconds."""
        return self._time_offset_s + self.scene.time_s

    def _header(self, t_s: float, frame_id: str = '') -> Header:
        return Header(stamp=s_to_stamp(t_s), frame_id=frame_id)

    # --------------------------------------------------------------- stepping
    def _tick(self) -> None:
        sc = self.scene
        wall = time.monotonic()
        target = self._sim0 + (wall - self._wall0) * self.rtf
        lag = target - self.sim_time_s
        if lag > self.max_catch_up_s:
            # Too far behind (a slow machine, a long callback): drop the debt, stay smooth.
            self._sim0, self._wall0 = self.sim_time_s + self.max_catch_up_s, wall
            lag = self.max_catch_up_s
        n = int(lag / sc.cfg.physics_dt_s)
        for _ in range(n):
            if self._trajectory is not None:
                sc.set_arm_target(self._trajectory.sample(self.sim_time_s))
            sc.step_physics(1)
        if n and sc.is_unstable():
            self.get_logger().error('physics became unstable; resetting the episode')
            self._reset(self.task.name, self.episode.seed)
            return
        t = self.sim_time_s
        if self._trajectory is not None and t > self._trajectory.end_s:
            sc.set_arm_target(self._trajectory.final_positions)
            self._trajectory = None
        if self.pub_clock is not None and n:
            self.pub_clock.publish(Clock(clock=s_to_stamp(t)))
        self.controllers.on_tick(t)
        if t + 1e-9 >= self._next_joint_s and t > self._joint_stamp_s:
            self._publish_joints(t)
            self._joint_stamp_s = t
            self._next_joint_s = max(self._next_joint_s + self.joint_period_s, t)
        if t + 1e-9 >= self._next_cam_s and t > self._cam_stamp_s:
            self._cam_stamp_s = t
            d = sc.data
            self._renderer.request(t, d.qpos.copy(), d.mocap_pos.copy(), d.mocap_quat.copy())
            self._next_cam_s = max(self._next_cam_s + self.camera_period_s, t)
        if t + 1e-9 >= self._next_success_s:
            self._publish_success()
            self._next_success_s = max(self._next_success_s + self.success_period_s, t)

    # ------------------------------------------------------------- publishing
    def _publish_joints(self, t_s: float) -> None:
        js = self.scene.joint_state()
        msg = JointState(header=self._header(t_s), name=list(self.joint_names),
                         position=js.position.tolist(), velocity=js.velocity.tolist(),
                         effort=js.effort.tolist())
        self.pub_joints.publish(msg)
        self.pub_gripper.publish(JointState(
            header=msg.header, name=self.joint_names[7:], position=js.position[7:].tolist(),
            velocity=js.velocity[7:].tolist(), effort=js.effort[7:].tolist()))

    def publish_image(self, rgb: np.ndarray, t_s: float) -> None:
        """Publish one frame + its CameraInfo (called from the render thread)."""
        header = self._header(t_s, CAMERA_FRAME)
        self.pub_image.publish(array_to_image_msg(rgb, 'rgb8', header))
        f = self.camera.camera_info_fields()
        self.pub_info.publish(CameraInfo(header=header, width=f['width'], height=f['height'],
                                         distortion_model=f['distortion_model'], d=f['d'],
                                         k=f['k'], r=f['r'], p=f['p']))

    def _publish_success(self) -> None:
        ok = bool(self.task.success(self.scene, self.episode))
        if ok != self._last_success:
            self.get_logger().info(f'task success: {ok}')
        self._last_success = ok
        self.pub_success.publish(Bool(data=ok))

    # --------------------------------------------------------------- commands
    def check_trajectory(self, names, positions, times_s, velocities,
                         start_s: float | None = None) -> JointTrajectoryPlan:
        """Validate a trajectory (robot joint names) from the current set-point.

        Raises:
            TrajectoryError: why it is refused.
        """
        unknown = [n for n in names if n not in self._to_scene_name]
        if unknown:
            raise TrajectoryError(f'unknown joint names {unknown}; expected '
                                  f'{self.joint_names[:7]}')
        now = self.sim_time_s
        current = (self._trajectory.sample(now) if self._trajectory is not None
                   else self.scene.arm_target)
        return validate_trajectory(
            [self._to_scene_name[n] for n in names], positions, times_s, velocities,
            current_q_rad=current, start_s=now if start_s is None else start_s, **self.limits)

    def accept_trajectory(self, names, positions, times_s, velocities,
                          start_s: float | None = None) -> tuple[JointTrajectoryPlan, int]:
        """Validate and follow a trajectory; returns it with its serial number.

        Raises:
            TrajectoryError: why it is refused (counted and logged).
        """
        try:
            plan = self.check_trajectory(names, positions, times_s, velocities, start_s)
        except TrajectoryError as exc:
            self.n_trajectories_rejected += 1
            self.get_logger().error(f'rejected joint trajectory: {exc}')
            raise
        self.n_trajectories_accepted += 1
        self.plan_serial += 1
        self._trajectory = plan
        self.get_logger().info(f'accepted joint trajectory: {len(positions)} points, '
                               f'{plan.times_s[-1]:.2f} s')
        return plan, self.plan_serial

    def hold(self) -> None:
        """Stop the arm at its current set-point (as an empty trajectory does)."""
        self._trajectory = None
        self.plan_serial += 1
        self.scene.set_arm_target(self.scene.arm_q())

    def _on_trajectory(self, msg: JointTrajectory) -> None:
        now = self.sim_time_s
        if not msg.points:
            # joint_trajectory_controller: an empty trajectory stops the current motion.
            self.hold()
            self.get_logger().info('empty trajectory: holding the current position')
            return
        start = now
        stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if stamp > 0.0 and now < stamp <= now + 10.0:
            start = stamp                   # scheduled start in sim time
        try:
            self.accept_trajectory(
                msg.joint_names, [pt.positions for pt in msg.points],
                [pt.time_from_start.sec + pt.time_from_start.nanosec * 1e-9
                 for pt in msg.points],
                [pt.velocities for pt in msg.points], start_s=start)
        except TrajectoryError:
            return

    def _on_gripper(self, msg: Float64) -> None:
        w = float(msg.data)
        if not np.isfinite(w) or not -1e-6 <= w <= GRIPPER_MAX_WIDTH_M + 1e-6:
            self.get_logger().error(f'rejected gripper command {w!r}: width must be within '
                                    f'0 .. {GRIPPER_MAX_WIDTH_M} m')
            return
        self.scene.set_gripper_width(w)

    # ------------------------------------------------------------------ reset
    def _make_reset_service(self) -> None:
        try:
            from robot_r1_ros.srv import ResetSim
        except ImportError:
            # Interfaces not built: std_srvs/Trigger resets to the 'task'/'seed' parameters.
            from std_srvs.srv import Trigger

            self.get_logger().warning('robot_r1_ros interfaces not built; /sim/reset is '
                                      'std_srvs/Trigger (task and seed from parameters)')
            self.create_service(Trigger, '/sim/reset', self._on_trigger_reset)
            self._trigger_reset = True
            return
        self.create_service(ResetSim, '/sim/reset', self._on_reset)

    def _on_reset(self, request, response):
        task = request.task or self.task.name
        seed = int(request.seed) if request.seed >= 0 else self.episode.seed + 1
        try:
            self._reset(task, seed)
        except (UnknownTaskError, ValueError) as exc:
            response.success, response.message = False, str(exc)
            response.instruction = self.episode.instruction if self.episode else ''
            self.get_logger().error(f'reset refused: {exc}')
            return response
        response.success = True
        response.message = f'reset to {task} seed {seed}'
        response.instruction = self.episode.instruction
        return response

    def _on_trigger_reset(self, request, response):
        task = str(self.get_parameter('task').value)
        seed = int(self.get_parameter('seed').value)
        try:
            self._reset(task, seed)
            response.success, response.message = True, self.episode.instruction
        except (UnknownTaskError, ValueError) as exc:
            response.success, response.message = False, str(exc)
        return response

    def _reset(self, task_name: str, seed: int) -> None:
        task = make_task(task_name)          # raises UnknownTaskError before touching state
        if seed < 0:
            raise ValueError(f'seed must be >= 0, got {seed}')
        self._time_offset_s += self.scene.time_s
        self._trajectory = None
        self.plan_serial += 1               # a running follow_joint_trajectory goal ends
        self.task = task
        self.episode = task.reset(self.scene, seed)
        # reset() settled the scene and zeroed its clock; keep the wall/sim pacing aligned.
        self._wall0 = time.monotonic()
        self._sim0 = self.sim_time_s
        self._next_joint_s = self._next_cam_s = self._next_success_s = self.sim_time_s
        self._last_success = None
        self.pub_task.publish(String(data=self.episode.instruction))
        self.get_logger().info(f'reset: {task_name} seed {seed}: {self.episode.instruction!r}'
                               f' (tasks: {", ".join(task_names())})')

    def destroy_node(self) -> None:
        """Stop the render thread, then the node."""
        if getattr(self, 'controllers', None) is not None:
            self.controllers.destroy()
        if getattr(self, '_renderer', None) is not None:
            self._renderer.stop()
            self._renderer.join(timeout=2.0)
        self.scene.close()
        super().destroy_node()


def main(args=None) -> int:
    """Entry point (`ros2 run robot_r1_ros sim_node`, `python -m robot_r1_ros.ros.sim_node`);
    a bad parameter exits with code 2 and a message naming it."""
    init_ros(args)
    node = None
    try:
        node = SimNode()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C while the node was still being constructed
    except ConfigError as exc:
        sys.stderr.write(f'sim_node: {exc}\n')
        return 2
    finally:
        release_node(node)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
