"""The MuJoCo tabletop: a Franka Panda arm + hand on a table, coloured cubes, a target zone,
a reach-target marker and a fixed front camera.

Frames and units: the robot base ``panda_link0`` sits at the MuJoCo world origin, so world
coordinates *are* base-frame coordinates (metres, radians).  The table top is the plane z = 0.
The end-effector point is the ``TCP`` site of the hand (0.1034 m below the flange along the
flange z axis, i.e. ``panda_hand_tcp``).  Quaternions in this module are MuJoCo's ``wxyz``.

The robot model comes from the ``dm-robotics-panda`` wheel (installed with ``--no-deps``; only
its MJCF and meshes are used): franka_ros kinematics, ROS joint names.  It ships without arm
actuators, so position servos with the Menagerie Panda gains are added here.

Typical use (no ROS)::

    scene = PandaScene()                 # SceneConfig() defaults, 224x224 front camera
    scene.reset_home()
    scene.set_arm_target(q_rad)          # 7 joint position set-points
    scene.set_gripper_width(0.08)        # metres between the fingers (0 closed, 0.08 open)
    scene.step()                         # one control period (scene.control_dt seconds)
    rgb = scene.render()                 # (H, W, 3) uint8
    uv, depth = scene.camera.project(xyz_base_m)
"""

from __future__ import annotations

from dataclasses import dataclass

import robot_r1_ros.sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import mujoco
import numpy as np

# The model building lives in sim.scene_model; its names are re-exported here (their callers'
# import path).
from robot_r1_ros.sim.scene_model import (ARM_JOINTS, ARM_LOWER_RAD,  # noqa: F401  (API)
                                          ARM_UPPER_RAD, DEFAULT_CUBES, FINGER_JOINTS,
                                          FRONT_CAMERA, GRIPPER_MAX_WIDTH_M, HOME_Q_RAD,
                                          JOINT_NAMES, TCP_SITE, WRIST_CAMERA, CameraConfig,
                                          CameraModel, SceneConfig, SceneError, build_scene_spec,
                                          camera_model, compile_spec, panda_asset_dir,
                                          panda_spec)

@dataclass
class JointStateSample:
    """sensor_msgs/JointState fields for ``JOINT_NAMES`` (rad, rad/s, N m; m for fingers)."""

    stamp_s: float
    name: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    effort: np.ndarray


class PandaScene:
    """Compiled scene + physics state + a lazily created renderer.

    Not thread-safe: the EGL renderer belongs to the thread that first calls ``render``.
    """

    def __init__(self, cfg: SceneConfig | None = None) -> None:
        self.cfg = cfg or SceneConfig()
        self.spec = build_scene_spec(self.cfg)
        self.model = compile_spec(self.spec)
        self.data = mujoco.MjData(self.model)
        m = self.model
        self._arm_jid = np.array([m.joint(n).id for n in ARM_JOINTS])
        self._all_jid = np.array([m.joint(n).id for n in JOINT_NAMES])
        self.arm_qadr = m.jnt_qposadr[self._arm_jid]
        self.arm_dadr = m.jnt_dofadr[self._arm_jid]
        self.qadr = m.jnt_qposadr[self._all_jid]
        self.dadr = m.jnt_dofadr[self._all_jid]
        self.tcp_site = m.site(TCP_SITE).id
        self.hand_act = m.actuator('panda_hand_actuator').id
        self.arm_act = np.array([m.actuator(n.replace('joint', 'act')).id for n in ARM_JOINTS])
        self.arm_range = m.jnt_range[self._arm_jid].copy()
        self.n_substeps = int(round(self.cfg.control_dt_s / self.cfg.physics_dt_s))
        self.cube_names = tuple(f'{c}_cube' for c in self.cfg.cubes)
        self._cube_qadr = {n: m.jnt_qposadr[m.joint(n + '_free').id] for n in self.cube_names}
        self._cube_dadr = {n: m.jnt_dofadr[m.joint(n + '_free').id] for n in self.cube_names}
        self._mocap = {n: m.body_mocapid[m.body(n).id]
                       for n in ('target_zone', 'reach_target', 'probe')}
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._vopt = mujoco.MjvOption()
        self._vopt.sitegroup[:] = 0                    # hide TCP / joint sites in images
        self.reset_home()

    # ------------------------------------------------------------------ state
    @property
    def time_s(self) -> float:
        """Simulation time in seconds since the last reset."""
        return float(self.data.time)

    @property
    def control_dt(self) -> float:
        """Seconds of simulated time advanced by one ``step()``."""
        return self.cfg.control_dt_s

    def reset_home(self) -> None:
        """Arm at HOME, gripper open, cubes parked in a row, markers hidden, time 0."""
        m, d = self.model, self.data
        mujoco.mj_resetData(m, d)
        d.qpos[self.arm_qadr] = HOME_Q_RAD
        d.qpos[self.qadr[7:]] = GRIPPER_MAX_WIDTH_M / 2
        hs = self.cfg.cube_half_size_m
        for i, name in enumerate(self.cube_names):
            self.set_cube_pose(name, (0.35 + 0.1 * i, -0.45, hs), 0.0)
        d.mocap_pos[self._mocap['target_zone']] = [0.5, 0.25, 0.0]
        d.mocap_pos[self._mocap['reach_target']] = [0.5, 0.0, -0.5]
        d.mocap_pos[self._mocap['probe']] = [0.0, 0.0, -1.5]
        d.ctrl[self.arm_act] = HOME_Q_RAD
        d.ctrl[self.hand_act] = 1.0
        mujoco.mj_forward(m, d)

    def settle(self, seconds: float = 0.2) -> None:
        """Step physics with the current commands (lets cubes come to rest), then zero time."""
        mujoco.mj_step(self.model, self.data, nstep=max(1, int(seconds / self.cfg.physics_dt_s)))
        self.data.time = 0.0
        mujoco.mj_forward(self.model, self.data)

    def set_cube_pose(self, name: str, xyz_base_m, yaw_rad: float = 0.0) -> None:
        """Place cube ``name`` (e.g. ``'red_cube'``) at rest; call ``forward()`` afterwards."""
        if name not in self._cube_qadr:
            raise SceneError(f'unknown cube {name!r}; have {list(self._cube_qadr)}')
        a, v = self._cube_qadr[name], self._cube_dadr[name]
        self.data.qpos[a:a + 3] = xyz_base_m
        self.data.qpos[a + 3:a + 7] = [np.cos(yaw_rad / 2), 0.0, 0.0, np.sin(yaw_rad / 2)]
        self.data.qvel[v:v + 6] = 0.0

    def cube_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(xyz_base_m, quat_wxyz) of a cube."""
        if name not in self._cube_qadr:
            raise SceneError(f'unknown cube {name!r}; have {list(self._cube_qadr)}')
        a = self._cube_qadr[name]
        return self.data.qpos[a:a + 3].copy(), self.data.qpos[a + 3:a + 7].copy()

    def set_marker(self, name: str, xyz_base_m) -> None:
        """Move a mocap marker: ``'target_zone'``, ``'reach_target'`` or ``'probe'``."""
        if name not in self._mocap:
            raise SceneError(f'unknown marker {name!r}; have {list(self._mocap)}')
        self.data.mocap_pos[self._mocap[name]] = xyz_base_m

    def marker_pos(self, name: str) -> np.ndarray:
        """Position of a mocap marker in the base frame."""
        if name not in self._mocap:
            raise SceneError(f'unknown marker {name!r}; have {list(self._mocap)}')
        return self.data.mocap_pos[self._mocap[name]].copy()

    def forward(self) -> None:
        """Recompute derived quantities (positions, camera poses) after editing the state."""
        mujoco.mj_forward(self.model, self.data)

    # ---------------------------------------------------------------- control
    def set_arm_target(self, q_rad) -> None:
        """Joint position set-points of the 7 arm servos (clipped to the joint limits).

        Raises:
            SceneError: wrong shape or non-finite values.
        """
        q = np.asarray(q_rad, float).reshape(-1)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise SceneError(f'arm target must be 7 finite values, got {q_rad!r}')
        self.data.ctrl[self.arm_act] = np.clip(q, self.arm_range[:, 0], self.arm_range[:, 1])

    @property
    def arm_target(self) -> np.ndarray:
        """Current arm set-points (rad)."""
        return self.data.ctrl[self.arm_act].copy()

    def set_gripper_width(self, width_m: float) -> None:
        """Commanded distance between the fingers, metres (clipped to 0..0.08).

        Raises:
            SceneError: non-finite width.
        """
        w = float(width_m)
        if not np.isfinite(w):
            raise SceneError(f'gripper width must be finite, got {width_m!r}')
        self.data.ctrl[self.hand_act] = np.clip(w / GRIPPER_MAX_WIDTH_M, 0.0, 1.0)

    @property
    def gripper_command_m(self) -> float:
        """Commanded finger distance, metres."""
        return float(self.data.ctrl[self.hand_act] * GRIPPER_MAX_WIDTH_M)

    def step(self, n: int = 1) -> None:
        """Advance ``n`` control periods (``n * control_dt`` seconds of physics)."""
        mujoco.mj_step(self.model, self.data, nstep=int(n) * self.n_substeps)

    def step_physics(self, n: int = 1) -> None:
        """Advance ``n`` physics timesteps (for real-time stepping at any rate)."""
        if n > 0:
            mujoco.mj_step(self.model, self.data, nstep=int(n))

    # ----------------------------------------------------------------- sensing
    def arm_q(self) -> np.ndarray:
        """Measured arm joint positions (rad)."""
        return self.data.qpos[self.arm_qadr].copy()

    def arm_dq(self) -> np.ndarray:
        """Measured arm joint velocities (rad/s)."""
        return self.data.qvel[self.arm_dadr].copy()

    def gripper_width(self) -> float:
        """Measured distance between the fingers, metres."""
        return float(self.data.qpos[self.qadr[7]] + self.data.qpos[self.qadr[8]])

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(xyz_base_m, quat_wxyz) of the TCP site."""
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.tcp_site])
        return self.data.site_xpos[self.tcp_site].copy(), quat

    def joint_state(self) -> JointStateSample:
        """Joint positions, velocities and efforts of ``JOINT_NAMES``."""
        d = self.data
        effort = d.qfrc_actuator[self.dadr] + d.qfrc_gravcomp[self.dadr]
        return JointStateSample(stamp_s=float(d.time), name=JOINT_NAMES,
                                position=d.qpos[self.qadr].copy(),
                                velocity=d.qvel[self.dadr].copy(), effort=effort.copy())

    def is_unstable(self) -> bool:
        """True when the physics state holds NaN/inf or absurd speeds (a blown-up sim)."""
        return (not np.all(np.isfinite(self.data.qpos)) or not np.all(np.isfinite(self.data.qvel))
                or float(np.abs(self.data.qvel).max(initial=0.0)) > 1e3)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copy of the full physics state (restore with ``restore``)."""
        d = self.data
        return dict(time=np.array(d.time), qpos=d.qpos.copy(), qvel=d.qvel.copy(),
                    act=d.act.copy(), ctrl=d.ctrl.copy(), mocap_pos=d.mocap_pos.copy(),
                    mocap_quat=d.mocap_quat.copy())

    def restore(self, snap: dict[str, np.ndarray]) -> None:
        """Restore a ``snapshot()`` and recompute derived quantities."""
        d = self.data
        d.time = float(snap['time'])
        for key in ('qpos', 'qvel', 'act', 'ctrl', 'mocap_pos', 'mocap_quat'):
            getattr(d, key)[:] = snap[key]
        mujoco.mj_forward(self.model, d)

    # --------------------------------------------------------------- rendering
    @property
    def camera(self) -> CameraModel:
        """Pinhole model of the front camera at the configured resolution."""
        cam = self.cfg.camera
        return camera_model(self.model, self.data, cam.name, cam.width, cam.height)

    def camera_model(self, name: str | None = None, width: int | None = None,
                     height: int | None = None) -> CameraModel:
        """Pinhole model of any scene camera (defaults: the front camera's size)."""
        cam = self.cfg.camera
        return camera_model(self.model, self.data, name or cam.name, width or cam.width,
                            height or cam.height)

    def _renderer(self, width: int, height: int) -> mujoco.Renderer:
        key = (width, height)
        if key not in self._renderers:
            self._renderers[key] = mujoco.Renderer(self.model, height, width)
        return self._renderers[key]

    def render(self, camera: str | None = None, width: int | None = None,
               height: int | None = None, segmentation: bool = False) -> np.ndarray:
        """Render an RGB frame (H, W, 3) uint8 of the current state (front camera default).

        With ``segmentation=True`` returns (H, W, 2) int32 (object id, object type) instead.
        """
        cam = self.cfg.camera
        r = self._renderer(width or cam.width, height or cam.height)
        if segmentation:
            r.enable_segmentation_rendering()
        try:
            r.update_scene(self.data, camera or cam.name, self._vopt)
            return r.render().copy()
        finally:
            if segmentation:
                r.disable_segmentation_rendering()

    def geom_id(self, name: str) -> int:
        """Id of a named geom (for segmentation masks)."""
        return int(self.model.geom(name).id)

    def close(self) -> None:
        """Free the renderers (EGL contexts)."""
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()

    def __enter__(self) -> 'PandaScene':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SnapshotRenderer:
    """Renders frames from copied states on a private ``MjData``: lets a render thread work
    while another thread steps the physics.  Create it in the thread that renders.

    Args:
        model: the scene model (shared, read-only here).
        camera: camera name.
        width, height: image size.
    """

    def __init__(self, model: mujoco.MjModel, camera: str, width: int, height: int) -> None:
        self.model, self.camera = model, camera
        self.data = mujoco.MjData(model)
        self.renderer = mujoco.Renderer(model, height, width)
        self.opt = mujoco.MjvOption()
        self.opt.sitegroup[:] = 0

    def render(self, qpos: np.ndarray, mocap_pos: np.ndarray, mocap_quat: np.ndarray
               ) -> np.ndarray:
        """RGB (H, W, 3) uint8 of the given state."""
        d = self.data
        d.qpos[:] = qpos
        d.mocap_pos[:] = mocap_pos
        d.mocap_quat[:] = mocap_quat
        mujoco.mj_kinematics(self.model, d)
        mujoco.mj_camlight(self.model, d)
        self.renderer.update_scene(d, self.camera, self.opt)
        return self.renderer.render().copy()

    def close(self) -> None:
        """Free the EGL context."""
        self.renderer.close()
