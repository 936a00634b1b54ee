"""Episodes as rosbag2 (MCAP) bags, written and read in pure Python with ``rosbags``.

A simulated episode is recorded with the same topics a real Panda on ROS 2 records, so the
training data builder reads sim bags and ``ros2 bag record`` bags through one path
(:func:`read_episode`).

Topics (absolute names; types are the standard ROS 2 messages):

==============================  ==========================  =========  ===========================
topic                           type                        required   content
==============================  ==========================  =========  ===========================
``/camera/image_raw``           sensor_msgs/msg/Image       yes        ``rgb8`` (``bgr8`` accepted)
``/joint_states``               sensor_msgs/msg/JointState  yes        panda_joint1..7 (+ fingers)
``/robot_r1/task``              std_msgs/msg/String         yes        the task instruction
``/camera/camera_info``         sensor_msgs/msg/CameraInfo  optional   intrinsics ``K``
``/panda_gripper/joint_states`` sensor_msgs/msg/JointState  optional   finger joints (measured)
``/panda_gripper/command``      std_msgs/msg/Float64        optional   commanded width, metres
``/sim/task_success``           std_msgs/msg/Bool           optional   episode outcome, at the end
``/tf_static``                  tf2_msgs/msg/TFMessage      optional   panda_link0 -> camera frame
``/sim/object_poses``           tf2_msgs/msg/TFMessage      optional   objects (``sim.objects``)
==============================  ==========================  =========  ===========================

On a real robot, record them with::

    ros2 bag record -s mcap /camera/image_raw /camera/camera_info /joint_states \\
        /panda_gripper/joint_states /panda_gripper/command /robot_r1/task /tf_static

(remap the camera driver's topics to ``/camera/...`` or pass ``topics=BagTopics(...)``).
The gripper state used for keyframes is, in order of preference: the commanded width
(``/panda_gripper/command``), else the finger width measured in ``/joint_states`` or
``/panda_gripper/joint_states``.  Streams are aligned on ``header.stamp`` (sim time in sim
bags), never on the bag's log time.

Sim bags: one bag per episode, written under a temporary name and renamed when complete;
stamps are ``SIM_EPOCH_NS`` + simulation time, so bags are reproducible.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability
from rosbags.interfaces import QosTime
from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore, get_types_from_msg

from robot_r1_ros.core.gripper import PANDA_OPEN_WIDTH_M, current_gripper_state
from robot_r1_ros.sim.bag_messages import (BagError, _deserialize,  # noqa: F401  (API)
                                           _image_to_rgb, _stamp_ns)
from robot_r1_ros.sim.objects import (OBJECT_POSES_TOPIC, object_poses_message, object_positions,
                                      positions_from_messages)
from robot_r1_ros.sim.scene import FINGER_JOINTS, CameraModel, PandaScene

_LOG = logging.getLogger(__name__)

#: Fixed time base of sim bags (2023-11-14T22:13:20Z): stamps look like epoch times.
SIM_EPOCH_NS = 1_700_000_000 * 10**9
BASE_FRAME = 'panda_link0'
CAMERA_FRAME = 'front_cam_optical_frame'

_INF = QosTime(9223372036, 854775807)          # "infinite", as rosbag2 stores it
QOS_DEFAULT = Qos(QosHistory.KEEP_LAST, 10, QosReliability.RELIABLE, QosDurability.VOLATILE,
                  _INF, _INF, QosLiveliness.AUTOMATIC, _INF, False)
QOS_LATCHED = Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE,
                  QosDurability.TRANSIENT_LOCAL, _INF, _INF, QosLiveliness.AUTOMATIC, _INF, False)


@dataclass(frozen=True)
class BagTopics:
    """Topic names used in bags (override for a robot with other names)."""

    image: str = '/camera/image_raw'
    camera_info: str = '/camera/camera_info'
    joint_states: str = '/joint_states'
    gripper_state: str = '/panda_gripper/joint_states'
    gripper_command: str = '/panda_gripper/command'
    task: str = '/robot_r1/task'
    success: str = '/sim/task_success'
    tf_static: str = '/tf_static'
    object_poses: str = OBJECT_POSES_TOPIC


_TYPES = {
    'image': 'sensor_msgs/msg/Image', 'camera_info': 'sensor_msgs/msg/CameraInfo',
    'joint_states': 'sensor_msgs/msg/JointState', 'gripper_state': 'sensor_msgs/msg/JointState',
    'gripper_command': 'std_msgs/msg/Float64', 'task': 'std_msgs/msg/String',
    'success': 'std_msgs/msg/Bool', 'tf_static': 'tf2_msgs/msg/TFMessage',
    'object_poses': 'tf2_msgs/msg/TFMessage',
}


def _stamp(ts: Any, t_ns: int) -> Any:
    return ts.types['builtin_interfaces/msg/Time'](sec=int(t_ns // 10**9),
                                                   nanosec=int(t_ns % 10**9))


def rotation_to_quat_xyzw(R: np.ndarray) -> np.ndarray:
    """3x3 rotation -> ``quat_xyzw`` (ROS order)."""
    import mujoco

    q = np.zeros(4)
    mujoco.mju_mat2Quat(q, np.ascontiguousarray(R, float).ravel())
    return np.array([q[1], q[2], q[3], q[0]])


class BagRecorder:
    """Writes one episode to a rosbag2 MCAP directory.

    Use as a context manager; data goes to ``<parent>/.partial/<name>`` and is renamed to
    ``path`` on a clean exit (an exception leaves no half-written bag at ``path``).

    Args:
        path: bag directory to create (must not exist).
        camera: camera model (intrinsics + extrinsics) of the recorded images.
        instruction: task text, written once at the start on ``topics.task``.
        camera_hz: image rate (frames are sampled from control steps).
        joint_state_hz: joint state rate.
        compress: zstd MCAP chunk compression (rendered images shrink ~10x).
        topics: topic names.
        metadata: extra ``custom_data`` strings for ``metadata.yaml``.
    """

    def __init__(self, path: str | Path, camera: CameraModel, instruction: str,
                 camera_hz: float = 10.0, joint_state_hz: float = 50.0, compress: bool = True,
                 topics: BagTopics | None = None, metadata: dict[str, str] | None = None) -> None:
        if camera_hz <= 0 or joint_state_hz <= 0:
            raise ValueError('camera_hz and joint_state_hz must be positive')
        self.path = Path(path)
        # A temporary directory with the same bag name, so the MCAP file inside keeps the
        # final name after the rename.
        self.tmp_path = self.path.parent / '.partial' / self.path.name
        self.camera, self.instruction = camera, instruction
        self.camera_period_s, self.joint_period_s = 1.0 / camera_hz, 1.0 / joint_state_hz
        self.compress, self.topics = compress, topics or BagTopics()
        self.metadata = dict(metadata or {})
        self.ts = get_typestore(Stores.ROS2_KILTED)
        self._writer: Writer | None = None
        self._conn: dict[str, Any] = {}
        self._next_cam_s = self._next_joint_s = 0.0
        self._last_gripper_cmd: float | None = None
        self.n_images = self.n_joint_states = 0

    # --------------------------------------------------------------- lifecycle
    def __enter__(self) -> 'BagRecorder':
        if self.path.exists():
            raise FileExistsError(f'bag {self.path} exists already')
        if self.tmp_path.exists():
            shutil.rmtree(self.tmp_path)       # leftover of a crashed run
        self.tmp_path.parent.mkdir(parents=True, exist_ok=True)
        w = Writer(self.tmp_path, version=9, storage_plugin=StoragePlugin.MCAP)
        if self.compress:
            w.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        for key, value in self.metadata.items():
            w.set_custom_data(f'robot_r1_ros.{key}', str(value))
        w.open()
        self._writer = w
        latched = {'task', 'tf_static', 'success'}
        for key, msgtype in _TYPES.items():
            self._conn[key] = w.add_connection(
                getattr(self.topics, key), msgtype, typestore=self.ts,
                offered_qos_profiles=[QOS_LATCHED if key in latched else QOS_DEFAULT])
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        w, self._writer = self._writer, None
        if w is None:
            return
        if exc_type is not None:
            w.close()
            shutil.rmtree(self.tmp_path, ignore_errors=True)
            return
        w.close()
        os.replace(self.tmp_path, self.path)

    def _write(self, key: str, t_ns: int, msg: Any) -> None:
        assert self._writer is not None, 'use BagRecorder as a context manager'
        self._writer.write(self._conn[key], t_ns, self.ts.serialize_cdr(msg, _TYPES[key]))

    # ----------------------------------------------------------------- writing
    def start(self, scene: PandaScene) -> None:
        """Write the latched topics (task, tf_static) and the first samples."""
        T = self.ts.types
        t_ns = SIM_EPOCH_NS + int(round(scene.time_s * 1e9))
        self._write('task', t_ns, T['std_msgs/msg/String'](data=self.instruction))
        cam = self.camera
        q = rotation_to_quat_xyzw(cam.T_base_cam[:3, :3])
        tf = T['geometry_msgs/msg/TransformStamped'](
            header=T['std_msgs/msg/Header'](stamp=_stamp(self.ts, t_ns), frame_id=BASE_FRAME),
            child_frame_id=CAMERA_FRAME,
            transform=T['geometry_msgs/msg/Transform'](
                translation=T['geometry_msgs/msg/Vector3'](*cam.T_base_cam[:3, 3].tolist()),
                rotation=T['geometry_msgs/msg/Quaternion'](*q.tolist())))
        self._write('tf_static', t_ns, T['tf2_msgs/msg/TFMessage'](transforms=[tf]))
        self.on_step(scene)

    def on_step(self, scene: PandaScene) -> None:
        """Record what is due at the scene's current time (call after every control step)."""
        t = scene.time_s
        eps = 1e-9
        cmd = scene.gripper_command_m
        t_ns = SIM_EPOCH_NS + int(round(t * 1e9))
        if self._last_gripper_cmd is None or cmd != self._last_gripper_cmd:
            self._write('gripper_command', t_ns, self.ts.types['std_msgs/msg/Float64'](data=cmd))
            self._last_gripper_cmd = cmd
        if t + eps >= self._next_joint_s:
            self.write_joint_state(scene, t_ns)
            self._next_joint_s += self.joint_period_s * max(
                1, int(np.floor((t + eps - self._next_joint_s) / self.joint_period_s)) + 1)
        if t + eps >= self._next_cam_s:
            self.write_image(scene.render(self.camera.name, self.camera.width,
                                          self.camera.height), t_ns)
            self.write_objects(scene, t_ns)
            self._next_cam_s += self.camera_period_s * max(
                1, int(np.floor((t + eps - self._next_cam_s) / self.camera_period_s)) + 1)

    def write_joint_state(self, scene: PandaScene, t_ns: int) -> None:
        """One /joint_states + /panda_gripper/joint_states sample."""
        T = self.ts.types
        js = scene.joint_state()
        hdr = T['std_msgs/msg/Header'](stamp=_stamp(self.ts, t_ns), frame_id='')
        msg = T['sensor_msgs/msg/JointState'](header=hdr, name=list(js.name),
                                              position=js.position, velocity=js.velocity,
                                              effort=js.effort)
        self._write('joint_states', t_ns, msg)
        grip = T['sensor_msgs/msg/JointState'](header=hdr, name=list(FINGER_JOINTS),
                                               position=js.position[7:9],
                                               velocity=js.velocity[7:9],
                                               effort=js.effort[7:9])
        self._write('gripper_state', t_ns, grip)
        self.n_joint_states += 1

    def write_image(self, rgb: np.ndarray, t_ns: int) -> None:
        """One image + camera_info pair."""
        T = self.ts.types
        h, w = rgb.shape[:2]
        hdr = T['std_msgs/msg/Header'](stamp=_stamp(self.ts, t_ns), frame_id=CAMERA_FRAME)
        img = T['sensor_msgs/msg/Image'](header=hdr, height=h, width=w, encoding='rgb8',
                                         is_bigendian=0, step=w * 3,
                                         data=np.ascontiguousarray(rgb, np.uint8).reshape(-1))
        self._write('image', t_ns, img)
        f = self.camera.camera_info_fields()
        roi = T['sensor_msgs/msg/RegionOfInterest'](x_offset=0, y_offset=0, height=0, width=0,
                                                    do_rectify=False)
        info = T['sensor_msgs/msg/CameraInfo'](
            header=hdr, height=h, width=w, distortion_model=f['distortion_model'],
            d=np.array(f['d'], float), k=np.array(f['k'], float), r=np.array(f['r'], float),
            p=np.array(f['p'], float), binning_x=0, binning_y=0, roi=roi)
        self._write('camera_info', t_ns, info)
        self.n_images += 1

    def write_objects(self, scene: PandaScene, t_ns: int) -> None:
        """One ``/sim/object_poses`` sample (every cube and the zone, base frame)."""
        self._write('object_poses', t_ns, object_poses_message(
            self.ts.types, _stamp(self.ts, t_ns), BASE_FRAME, object_positions(scene)))

    def finish(self, scene: PandaScene, success: bool) -> None:
        """Final joint state + image, then the episode outcome."""
        t_ns = SIM_EPOCH_NS + int(round(scene.time_s * 1e9))
        self.write_joint_state(scene, t_ns)
        self.write_image(scene.render(self.camera.name, self.camera.width, self.camera.height),
                         t_ns)
        self.write_objects(scene, t_ns)
        self._write('success', t_ns, self.ts.types['std_msgs/msg/Bool'](data=bool(success)))


# ---------------------------------------------------------------------- reading
@dataclass
class EpisodeData:
    """What the training data builder needs from one bag (times in ns of ``header.stamp``).

    Attributes:
        path: the bag.
        instruction: task text ('' if the bag has none and ``require_task=False``).
        image_stamps_ns: (N,) int64.
        images: (N, H, W, 3) uint8 RGB.
        joint_names: names of the ``joint_positions`` columns (arm first, then fingers if any).
        joint_stamps_ns: (M,) int64.
        joint_positions: (M, J) float64.
        joint_velocities: (M, J) float64 (NaN where the bag has none).
        gripper_width_m: (M,) measured finger distance at the joint samples (NaN if unknown).
        gripper_command_stamps_ns, gripper_command_m: commanded widths (may be empty).
        K: 3x3 intrinsics or None.
        T_base_cam: 4x4 camera optical frame pose in the base frame, or None.
        success: episode outcome or None.
        metadata: ``custom_data`` of the bag.
        object_stamps_ns, object_xyz_base_m: recorded object poses (``/sim/object_poses``):
            stamps (K,) and name -> (K, 3) base-frame positions; empty when the bag has none.
    """

    path: Path
    instruction: str
    image_stamps_ns: np.ndarray
    images: np.ndarray
    joint_names: list[str]
    joint_stamps_ns: np.ndarray
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    gripper_width_m: np.ndarray
    gripper_command_stamps_ns: np.ndarray
    gripper_command_m: np.ndarray
    K: np.ndarray | None = None
    T_base_cam: np.ndarray | None = None
    success: bool | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    object_stamps_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    object_xyz_base_m: dict[str, np.ndarray] = field(default_factory=dict)

    def gripper_open_at(self, t_ns: int) -> bool:
        """Gripper state at time ``t_ns`` by the one rule (``core.gripper``).

        With recorded commands, the last command before ``t_ns`` decides; otherwise the measured
        finger width against the widest opening seen in the episode (a gripper closed on a 4 cm
        cube still measures ~0.04 m, so a fixed half-width threshold would fail).
        """
        commanded = None
        if len(self.gripper_command_stamps_ns):
            i = int(np.searchsorted(self.gripper_command_stamps_ns, t_ns, side='right')) - 1
            commanded = float(self.gripper_command_m[max(i, 0)])
        widths = self.gripper_width_m
        if commanded is None and not np.any(np.isfinite(widths)):
            return True                      # no gripper information at all: assume open
        measured = open_width = None
        if commanded is None:
            i = int(np.clip(np.searchsorted(self.joint_stamps_ns, t_ns), 0,
                            len(self.joint_stamps_ns) - 1))
            measured, open_width = float(widths[i]), float(np.nanmax(widths))
        return current_gripper_state(measured, commanded_width_m=commanded,
                                     open_width_m=open_width or PANDA_OPEN_WIDTH_M).is_open

    def joint_index_at(self, t_ns: int) -> int:
        """Index of the joint sample nearest to ``t_ns``."""
        i = int(np.searchsorted(self.joint_stamps_ns, t_ns))
        cands = [j for j in (i - 1, i) if 0 <= j < len(self.joint_stamps_ns)]
        return min(cands, key=lambda j: abs(int(self.joint_stamps_ns[j]) - t_ns))


def read_episode(path: str | Path, topics: BagTopics | None = None,
                 require_task: bool = True) -> EpisodeData:
    """Read one episode bag (sim or ``ros2 bag record``; MCAP or sqlite3).

    Only the wanted topics are decoded, with types built from the definitions stored in the
    bag (so bags holding other, unparsable topics still read).

    Raises:
        BagError: missing bag, or a required topic (image, joint states, task) is absent.
    """
    from rosbags.rosbag2 import Reader

    topics = topics or BagTopics()
    path = Path(path)
    if not (path / 'metadata.yaml').is_file() and not path.suffix == '.mcap':
        raise BagError(f'{path} is not a rosbag2 directory (no metadata.yaml)')
    wanted = {getattr(topics, k): k for k in _TYPES}
    fallback = get_typestore(Stores.ROS2_KILTED)
    out: dict[str, list] = {k: [] for k in _TYPES}
    try:
        reader_cm = Reader(path)
    except Exception as exc:  # noqa: BLE001 - rosbags raises several types
        raise BagError(f'cannot open bag {path}: {exc}') from exc
    with reader_cm as reader:
        conns = [c for c in reader.connections if c.topic in wanted]
        stores: dict[int, Any] = {}
        for c in conns:
            # Types come from the definition stored in the bag; old bags without one fall
            # back to the standard Kilted definitions (identical for these messages).
            text = getattr(c.msgdef, 'data', '') or ''
            store = fallback
            if text:
                try:
                    store = get_typestore(Stores.EMPTY)
                    store.register(get_types_from_msg(text, c.msgtype))
                except Exception:  # noqa: BLE001 - unparsable definition
                    store = fallback
            stores[c.id] = store
        for c, _log_ns, raw in reader.messages(connections=conns):
            try:
                out[wanted[c.topic]].append(_deserialize(stores[c.id], raw, c.msgtype))
            except Exception as exc:  # noqa: BLE001 - one bad message must not drop the episode
                _LOG.warning('%s: skipping undecodable message on %s: %s', path, c.topic, exc)
    metadata = _custom_data(path)
    for key in ('image', 'joint_states') + (('task',) if require_task else ()):
        if not out[key]:
            raise BagError(f'{path}: no messages on required topic {getattr(topics, key)}')
    images = sorted(out['image'], key=_stamp_ns)
    img_stamps = np.array([_stamp_ns(m) for m in images], np.int64)
    frames = np.stack([_image_to_rgb(m) for m in images])
    joints = sorted(out['joint_states'], key=_stamp_ns)
    names = list(joints[0].name)
    if not names:
        raise BagError(f'{path}: /joint_states messages have no joint names')
    pos = np.full((len(joints), len(names)), np.nan)
    vel = np.full((len(joints), len(names)), np.nan)
    for i, m in enumerate(joints):
        idx = {n: j for j, n in enumerate(m.name)}
        for j, n in enumerate(names):
            if n in idx and idx[n] < len(m.position):
                pos[i, j] = m.position[idx[n]]
                if idx[n] < len(m.velocity):
                    vel[i, j] = m.velocity[idx[n]]
    j_stamps = np.array([_stamp_ns(m) for m in joints], np.int64)
    width = np.full(len(joints), np.nan)
    if all(f in names for f in FINGER_JOINTS):
        width = pos[:, names.index(FINGER_JOINTS[0])] + pos[:, names.index(FINGER_JOINTS[1])]
    elif out['gripper_state']:
        gs = sorted(out['gripper_state'], key=_stamp_ns)
        g_t = np.array([_stamp_ns(m) for m in gs], np.int64)
        g_w = np.array([float(np.sum(np.asarray(m.position)[:2])) for m in gs])
        width = np.interp(j_stamps, g_t, g_w)
    cmds = out['gripper_command']   # Float64 has no header: use the order written
    cmd_stamps = np.array([], np.int64)
    cmd_vals = np.array([], float)
    if cmds:
        # Sim bags write the command at the stamp of the control step; take log order.
        cmd_vals = np.array([float(m.data) for m in cmds])
        cmd_stamps = _command_stamps(path, topics, len(cmds))
    K = None
    if out['camera_info']:
        K = np.asarray(out['camera_info'][0].k, float).reshape(3, 3)
    T = None
    for m in out['tf_static']:
        for tf in m.transforms:
            if tf.child_frame_id == CAMERA_FRAME or tf.child_frame_id.endswith('optical_frame'):
                T = _transform_to_matrix(tf.transform)
    success = bool(out['success'][-1].data) if out['success'] else None
    instruction = out['task'][-1].data if out['task'] else ''
    obj_stamps, obj_xyz = positions_from_messages(out['object_poses'])
    return EpisodeData(path=path, instruction=instruction, image_stamps_ns=img_stamps,
                       images=frames, joint_names=names, joint_stamps_ns=j_stamps,
                       joint_positions=pos, joint_velocities=vel, gripper_width_m=width,
                       gripper_command_stamps_ns=cmd_stamps, gripper_command_m=cmd_vals,
                       K=K, T_base_cam=T, success=success, metadata=metadata,
                       object_stamps_ns=obj_stamps, object_xyz_base_m=obj_xyz)


def _custom_data(path: Path) -> dict[str, str]:
    import yaml

    meta = path / 'metadata.yaml'
    if not meta.is_file():
        return {}
    try:
        info = yaml.safe_load(meta.read_text()).get('rosbag2_bagfile_information', {})
        return {str(k): str(v) for k, v in (info.get('custom_data') or {}).items()}
    except Exception:  # noqa: BLE001 - metadata is optional here
        return {}


def _command_stamps(path: Path, topics: BagTopics, n: int) -> np.ndarray:
    """Log times of the gripper commands (std_msgs/Float64 carries no header stamp)."""
    from rosbags.rosbag2 import Reader

    with Reader(path) as reader:
        conns = [c for c in reader.connections if c.topic == topics.gripper_command]
        stamps = [t for _c, t, _raw in reader.messages(connections=conns)]
    return np.array(sorted(stamps)[:n], np.int64)


def _transform_to_matrix(tf: Any) -> np.ndarray:
    import mujoco

    r = tf.rotation
    R = np.zeros(9)
    mujoco.mju_quat2Mat(R, np.array([r.w, r.x, r.y, r.z], float))
    T = np.eye(4)
    T[:3, :3] = R.reshape(3, 3)
    T[:3, 3] = [tf.translation.x, tf.translation.y, tf.translation.z]
    return T
