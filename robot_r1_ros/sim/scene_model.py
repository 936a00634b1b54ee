"""The MuJoCo model of the tabletop: the Panda from the dm-robotics-panda wheel with position
servos, the table, cubes, target zone, marker and cameras (:func:`build_scene_spec`), its
settings (:class:`SceneConfig`) and the pinhole camera model (:class:`CameraModel`).
:mod:`robot_r1_ros.sim.scene` runs it (:class:`~robot_r1_ros.sim.scene.PandaScene`).

Frames: the robot base ``panda_link0`` is the MuJoCo world origin (metres, radians); quaternions
are MuJoCo's ``wxyz``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import robot_r1_ros.sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import mujoco
import numpy as np

from robot_r1_ros.core.kinematics import PANDA

_LOG = logging.getLogger(__name__)

ARM_JOINTS: tuple[str, ...] = tuple(f'panda_joint{i}' for i in range(1, 8))
FINGER_JOINTS: tuple[str, ...] = ('panda_finger_joint1', 'panda_finger_joint2')
JOINT_NAMES: tuple[str, ...] = ARM_JOINTS + FINGER_JOINTS
# The robot's data (home posture, limits, gripper opening) is the core's robot model's.
HOME_Q_RAD = np.array(PANDA.home_q_rad)
#: Joint position limits of the Panda (franka_description), rad; same as the MJCF ranges.
ARM_LOWER_RAD = np.array(PANDA.lower_rad)
ARM_UPPER_RAD = np.array(PANDA.upper_rad)
GRIPPER_MAX_WIDTH_M = PANDA.gripper_open_width_m
TCP_SITE = 'TCP'
FRONT_CAMERA = 'front_cam'
WRIST_CAMERA = 'wrist_cam'

_KP = (4500.0, 4500.0, 3500.0, 3500.0, 2000.0, 2000.0, 2000.0)   # Menagerie Panda servo gains
_TAU_MAX = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)             # Panda torque limits, N m
_HAND_MOUNT_QUAT = (0.92387953, 0.0, 0.0, -0.38268343)  # -45 deg about z, as on the robot

DEFAULT_CUBES: dict[str, tuple[float, float, float, float]] = {
    'red': (0.85, 0.15, 0.15, 1.0),
    'green': (0.15, 0.70, 0.20, 1.0),
    'blue': (0.15, 0.30, 0.85, 1.0),
}


class SceneError(ValueError):
    """Invalid scene configuration or command (bad shape, NaN, unknown name)."""


def panda_asset_dir() -> Path:
    """Folder with the Panda MJCF and meshes from the ``dm-robotics-panda`` wheel.

    Raises:
        SceneError: when the wheel is not installed.
    """
    try:
        path = Path(str(files('dm_robotics.panda') / 'assets' / 'panda'))
    except ModuleNotFoundError as exc:
        raise SceneError('dm-robotics-panda is not installed: run scripts/setup.sh '
                         '(pip install --no-deps dm-robotics-panda==0.4.8)') from exc
    if not (path / 'panda.xml').is_file():
        raise SceneError(f'no panda.xml in {path}')
    return path


@dataclass(frozen=True)
class CameraConfig:
    """A fixed camera looking from ``eye_m`` at ``target_m`` (base frame)."""

    name: str = FRONT_CAMERA
    width: int = 224
    height: int = 224
    fovy_deg: float = 58.0
    eye_m: tuple[float, float, float] = (1.05, 0.30, 0.80)
    target_m: tuple[float, float, float] = (0.45, 0.0, 0.18)


@dataclass(frozen=True)
class SceneConfig:
    """Scene and robot parameters (``config/sim.yaml`` holds the same defaults).

    Attributes:
        camera: the front camera.
        shadows: render shadows (about 3x slower on llvmpipe; off for real-time use).
        physics_dt_s: MuJoCo timestep.
        control_dt_s: one ``PandaScene.step()``; experts and recordings run at this period.
        cube_half_size_m: half the edge of the cubes.
        cubes: colour name -> RGBA of the cubes (bodies are named ``<colour>_cube``).
        zone_half_size_m: half the edge of the square target zone.
        table_half_size_m: half extents (x, y) of the table top.
        table_center_m: (x, y) of the table centre in the base frame.
    """

    camera: CameraConfig = field(default_factory=CameraConfig)
    shadows: bool = False
    physics_dt_s: float = 0.002
    control_dt_s: float = 0.02
    cube_half_size_m: float = 0.02
    cubes: dict[str, tuple[float, float, float, float]] = field(
        default_factory=lambda: dict(DEFAULT_CUBES))
    zone_half_size_m: float = 0.05
    table_half_size_m: tuple[float, float] = (0.45, 0.6)
    table_center_m: tuple[float, float] = (0.35, 0.0)

    def __post_init__(self) -> None:
        cam = self.camera
        if not (16 <= cam.width <= 2048 and 16 <= cam.height <= 2048):
            raise SceneError(f'camera size {cam.width}x{cam.height} outside 16..2048')
        if not 1.0 < cam.fovy_deg < 170.0:
            raise SceneError(f'camera fovy_deg {cam.fovy_deg} outside (1, 170)')
        if not 0 < self.physics_dt_s <= self.control_dt_s:
            raise SceneError('need 0 < physics_dt_s <= control_dt_s')
        ratio = self.control_dt_s / self.physics_dt_s
        if abs(ratio - round(ratio)) > 1e-6:
            raise SceneError('control_dt_s must be a multiple of physics_dt_s')
        if len(self.cubes) < 2:
            raise SceneError('at least two cubes are needed (stack task)')

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> 'SceneConfig':
        """Build from a plain mapping (the ``scene:`` section of ``config/sim.yaml``).

        Raises:
            SceneError: on unknown keys or invalid values.
        """
        raw = dict(raw or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise SceneError(f'unknown scene keys: {sorted(unknown)}')
        if 'camera' in raw:
            cam_raw = dict(raw['camera'] or {})
            cam_known = {f.name for f in dataclasses.fields(CameraConfig)}
            if set(cam_raw) - cam_known:
                raise SceneError(f'unknown camera keys: {sorted(set(cam_raw) - cam_known)}')
            for key in ('eye_m', 'target_m'):
                if key in cam_raw:
                    cam_raw[key] = tuple(float(v) for v in cam_raw[key])
            raw['camera'] = CameraConfig(**cam_raw)
        for key in ('table_half_size_m', 'table_center_m'):
            if key in raw:
                raw[key] = tuple(float(v) for v in raw[key])
        if 'cubes' in raw:
            raw['cubes'] = {str(k): tuple(float(c) for c in v) for k, v in raw['cubes'].items()}
        try:
            return cls(**raw)
        except TypeError as exc:
            raise SceneError(str(exc)) from exc

    @classmethod
    def from_yaml(cls, path: str | Path) -> 'SceneConfig':
        """Read the ``scene:`` section of a YAML file (missing section = defaults)."""
        import yaml

        data = yaml.safe_load(Path(path).read_text()) or {}
        return cls.from_dict(data.get('scene'))

    def with_camera_size(self, width: int, height: int) -> 'SceneConfig':
        """Copy with another camera resolution."""
        return dataclasses.replace(
            self, camera=dataclasses.replace(self.camera, width=int(width), height=int(height)))


def _look_at_quat(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """MuJoCo camera quaternion (camera looks along its -z, +y up) for a look-at pose."""
    z = eye - target
    z = z / np.linalg.norm(z)
    x = np.cross([0.0, 0.0, 1.0], z)
    if np.linalg.norm(x) < 1e-9:                       # looking straight down
        x = np.array([0.0, -1.0, 0.0])
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, np.column_stack([x, y, z]).ravel())
    return quat


_ATTACH_WARNING = 'Attaching a spec with an empty prefix'


@contextlib.contextmanager
def _quiet_attach() -> Iterator[None]:
    """Mute MuJoCo's empty-prefix attach warning (C handler + Python warning); others pass.

    Without this, MuJoCo writes the warning to stderr and to ``MUJOCO_LOG.TXT`` in the
    current directory.
    """
    previous = mujoco.get_mju_user_warning()

    def handler(msg: str) -> None:
        if _ATTACH_WARNING not in msg:
            _LOG.warning('MuJoCo: %s', msg)

    mujoco.set_mju_user_warning(handler)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', message=_ATTACH_WARNING)
            yield
    finally:
        mujoco.set_mju_user_warning(previous)


def panda_spec() -> mujoco.MjSpec:
    """The Panda arm + hand with 7 joint position servos and the hand actuator.

    Actuator order: ``ctrl[0:7]`` arm joint targets (rad), ``ctrl[7]`` the hand
    (0 closed .. 1 open = 0.08 m between the fingers).
    """
    asset_dir = panda_asset_dir()
    arm = mujoco.MjSpec.from_file(str(asset_dir / 'panda.xml'))
    hand = mujoco.MjSpec.from_file(str(asset_dir / 'panda_hand.xml'))
    # Euler integration goes unstable with these stiff servos; implicitfast is required.
    arm.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    for name, kp, tau in zip(ARM_JOINTS, _KP, _TAU_MAX):
        joint = arm.joint(name)
        joint.armature = 0.1
        joint.damping[0] = max(joint.damping[0], 0.0)   # joint 6 ships with a negative damping
        act = arm.add_actuator(name=name.replace('joint', 'act'), target=name,
                               trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=kp, kv=kp / 10)
        act.ctrlrange = joint.range
        act.forcerange = [-tau, tau]
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    mount = arm.body('panda_link8').add_site(name='hand_mount', quat=list(_HAND_MOUNT_QUAT))
    hand.delete(hand.material('panda'))               # the arm defines the same names
    hand.delete(hand.texture('panda'))
    hand.site('wrist_site').name = 'hand_wrist_site'
    # No prefix, so the hand keeps its ROS joint names.  MuJoCo warns that such a spec may not
    # save to XML correctly; it is never saved, so the warning is muted (see _quiet_attach).
    with _quiet_attach():
        mount.attach_body(hand.body('panda_hand'))
    return arm


def build_scene_spec(cfg: SceneConfig) -> mujoco.MjSpec:
    """The full tabletop scene as an ``MjSpec`` (compile with ``.compile()``)."""
    spec = panda_spec()
    spec.option.timestep = cfg.physics_dt_s
    spec.visual.global_.offwidth = max(640, cfg.camera.width)
    spec.visual.global_.offheight = max(480, cfg.camera.height)
    spec.visual.quality.shadowsize = 2048
    wb, geom = spec.worldbody, mujoco.mjtGeom
    wb.add_light(pos=[0.5, 0.0, 2.0], dir=[0, 0, -1], diffuse=[0.65] * 3,
                 castshadow=bool(cfg.shadows))
    wb.add_light(pos=[1.8, -0.8, 1.5], dir=[-1, 0.5, -0.8], diffuse=[0.35] * 3, castshadow=False)
    spec.visual.headlight.ambient = [0.25] * 3
    spec.visual.headlight.diffuse = [0.25] * 3
    wb.add_geom(name='floor', type=geom.mjGEOM_PLANE, size=[3, 3, 0.1], pos=[0, 0, -0.75],
                rgba=[0.35, 0.35, 0.38, 1])
    tx, ty = cfg.table_center_m
    hx, hy = cfg.table_half_size_m
    wb.add_geom(name='table', type=geom.mjGEOM_BOX, size=[hx, hy, 0.375],
                pos=[tx, ty, -0.375], rgba=[0.62, 0.48, 0.33, 1])
    hs = cfg.cube_half_size_m
    for colour, rgba in cfg.cubes.items():
        body = wb.add_body(name=f'{colour}_cube', pos=[0.5, 0.0, hs])
        body.add_freejoint(name=f'{colour}_cube_free')
        body.add_geom(name=f'{colour}_cube_geom', type=geom.mjGEOM_BOX, size=[hs] * 3,
                      rgba=list(rgba), mass=0.05, friction=[1.5, 0.005, 0.0001], condim=4)
    # Mocap bodies: moved per reset through data.mocap_pos, never collide.
    zone = wb.add_body(name='target_zone', mocap=True, pos=[0.5, 0.25, 0.0])
    zs = cfg.zone_half_size_m
    zone.add_geom(name='target_zone_geom', type=geom.mjGEOM_BOX, size=[zs, zs, 0.0005],
                  pos=[0, 0, 0.0005], rgba=[0.95, 0.85, 0.1, 1], contype=0, conaffinity=0)
    marker = wb.add_body(name='reach_target', mocap=True, pos=[0.5, 0.0, -0.5])
    marker.add_geom(name='reach_target_geom', type=geom.mjGEOM_SPHERE, size=[0.02, 0, 0],
                    rgba=[0.9, 0.2, 0.2, 1], contype=0, conaffinity=0)
    # Projection-test marker, hidden below the floor unless moved.
    probe = wb.add_body(name='probe', mocap=True, pos=[0.0, 0.0, -1.5])
    probe.add_geom(name='probe_geom', type=geom.mjGEOM_SPHERE, size=[0.008, 0, 0],
                   rgba=[1, 0, 1, 1], contype=0, conaffinity=0)
    cam = cfg.camera
    eye = np.asarray(cam.eye_m, float)
    wb.add_camera(name=cam.name, pos=eye.tolist(),
                  quat=_look_at_quat(eye, np.asarray(cam.target_m, float)).tolist(),
                  fovy=cam.fovy_deg)
    # Optional wrist camera on the hand, looking along the TCP z axis (not rendered by default).
    spec.body('panda_hand').add_camera(name=WRIST_CAMERA, pos=[0.05, 0.0, 0.0],
                                       quat=[0.0, 1.0, 0.0, 0.0], fovy=70.0)
    return spec


def compile_spec(spec: mujoco.MjSpec) -> mujoco.MjModel:
    """Compile a spec built by this module (mutes the empty-prefix attach warning)."""
    with _quiet_attach():
        return spec.compile()


@dataclass(frozen=True)
class CameraModel:
    """Pinhole model of a rendered camera (square pixels, no distortion).

    Attributes:
        name: MuJoCo camera name.
        width, height: image size in pixels.
        K: 3x3 intrinsics; pixel (u right, v down), pixel (i, j) covers [i, i+1) x [j, j+1).
        T_base_cam: 4x4 pose of the camera *optical* frame (x right, y down, z forward, the
            ROS ``*_optical_frame`` convention) in the base frame: p_base = T @ p_cam.
    """

    name: str
    width: int
    height: int
    K: np.ndarray
    T_base_cam: np.ndarray

    def project(self, xyz_base_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Base-frame points (N, 3) or (3,) -> pixels (N, 2) and depth along z (N,), metres."""
        pts = np.atleast_2d(np.asarray(xyz_base_m, float))
        if pts.shape[-1] != 3:
            raise SceneError(f'points must have shape (N, 3), got {pts.shape}')
        R, t = self.T_base_cam[:3, :3], self.T_base_cam[:3, 3]
        p_cam = (pts - t) @ R
        depth = p_cam[:, 2]
        with np.errstate(divide='ignore', invalid='ignore'):
            uv = np.stack([self.K[0, 0] * p_cam[:, 0] / depth + self.K[0, 2],
                           self.K[1, 1] * p_cam[:, 1] / depth + self.K[1, 2]], axis=1)
        return uv, depth

    def unproject(self, uv: np.ndarray, depth_m: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) + depth along the optical axis (N,) -> base-frame points (N, 3)."""
        uv = np.atleast_2d(np.asarray(uv, float))
        d = np.asarray(depth_m, float).reshape(-1)
        x = (uv[:, 0] - self.K[0, 2]) * d / self.K[0, 0]
        y = (uv[:, 1] - self.K[1, 2]) * d / self.K[1, 1]
        p_cam = np.stack([x, y, d], axis=1)
        return p_cam @ self.T_base_cam[:3, :3].T + self.T_base_cam[:3, 3]

    def camera_info_fields(self) -> dict[str, Any]:
        """sensor_msgs/CameraInfo fields (plumb_bob, no distortion) as plain Python lists."""
        K = self.K
        return dict(width=self.width, height=self.height, distortion_model='plumb_bob',
                    d=[0.0] * 5, k=K.ravel().tolist(), r=np.eye(3).ravel().tolist(),
                    p=[K[0, 0], 0.0, K[0, 2], 0.0, 0.0, K[1, 1], K[1, 2], 0.0,
                       0.0, 0.0, 1.0, 0.0])


def camera_model(model: mujoco.MjModel, data: mujoco.MjData, name: str,
                 width: int, height: int) -> CameraModel:
    """Pinhole model of MuJoCo camera ``name`` rendered at ``width`` x ``height``.

    MuJoCo's ``fovy`` is the vertical field of view and pixels are square.
    """
    cid = model.camera(name).id
    f = 0.5 * height / np.tan(np.radians(model.cam_fovy[cid]) / 2.0)
    K = np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]])
    R_mj = data.cam_xmat[cid].reshape(3, 3)            # columns: camera x, y (up), z (back)
    T = np.eye(4)
    T[:3, :3] = R_mj @ np.diag([1.0, -1.0, -1.0])      # -> optical: x right, y down, z forward
    T[:3, 3] = data.cam_xpos[cid]
    return CameraModel(name=name, width=width, height=height, K=K, T_base_cam=T)
