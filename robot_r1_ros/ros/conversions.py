"""Conversions between ROS messages and the core's plain types.

Images: :func:`image_msg_to_array` and :func:`array_to_image_msg` follow cv_bridge's
``imgmsg_to_cv2`` / ``cv2_to_imgmsg`` (cv_bridge for ROS 2 is not installable from PyPI), so users
of a full ROS install see the same arrays:

- ``passthrough`` returns the data in the message's own layout: ``(H, W)`` for one channel,
  ``(H, W, C)`` otherwise, the dtype of the encoding, native byte order.
- a ``desired_encoding`` among rgb8/bgr8/rgba8/bgra8/mono8 converts channels as OpenCV's
  ``cvtColor`` does (grey uses OpenCV's fixed-point BT.601 weights, alpha is set to 255).
- row padding (``step`` larger than ``width * channels * itemsize``) is dropped, and
  ``is_bigendian`` is honoured for multi-byte encodings.
- on the way out, ``passthrough`` names the encoding after the array type (``8UC3``), a named
  encoding must agree with the array's dtype and channels, ``step`` is the packed row size and
  ``msg.data = array.tobytes()`` (assigning an ndarray to ``data`` is 250x slower in rclpy).

Unlike cv_bridge, a malformed message raises a typed :class:`ImageConversionError` naming the
problem (cv_bridge raises whatever numpy raises), and the data length must equal
``step * height`` exactly, as sensor_msgs/Image specifies.

The rest turns JointState into the core's ``RobotState`` (with the Panda forward kinematics of
``core.geometry``) and a ``Prediction`` into the messages the reasoning node publishes:
KeypointPrediction, PoseStamped, MarkerArray and an annotated debug image.
"""
from __future__ import annotations

import math
import re
import sys
from typing import Any, Sequence

import numpy as np
from builtin_interfaces.msg import Duration as DurationMsg
from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import Point, Pose, PoseStamped, Quaternion
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.reading import (JointReading, JointStateError,  # noqa: F401  (API)
                                       reading_from_joints, rotation_to_quat_xyzw)
from robot_r1_ros.core.types import GripperState, Keypoint
from robot_r1_ros.ros.names import STATUS_NAMES  # noqa: F401  (API; defined in ros/names)

__all__ = [
    'ENCODINGS', 'ImageConversionError', 'JointStateError', 'JointReading', 'array_to_image_msg',
    'encoding_info', 'image_msg_to_array', 'joint_state_to_reading', 'keypoint_markers',
    'keypoint_pose_msg', 'stamp_to_s', 's_to_stamp', 'debug_image', 'camera_info_to_k',
]


class ImageConversionError(BadInputError, TypeError):
    """An image message or array cannot be converted (cv_bridge's ``CvBridgeError`` is also a
    ``TypeError``); the message says what was expected."""


# Named encodings of sensor_msgs/image_encodings.hpp: name -> (dtype, channels).
_NAMED: dict[str, tuple[str, int]] = {
    'rgb8': ('uint8', 3), 'bgr8': ('uint8', 3), 'rgba8': ('uint8', 4), 'bgra8': ('uint8', 4),
    'mono8': ('uint8', 1), 'rgb16': ('uint16', 3), 'bgr16': ('uint16', 3),
    'rgba16': ('uint16', 4), 'bgra16': ('uint16', 4), 'mono16': ('uint16', 1),
}
# OpenCV matrix types (8UC3, 32FC1, ...): the names cv_bridge's passthrough produces.
_CV_DEPTHS: dict[str, str] = {'8U': 'uint8', '8S': 'int8', '16U': 'uint16', '16S': 'int16',
                              '32S': 'int32', '32F': 'float32', '64F': 'float64'}
_DTYPE_TO_CV: dict[str, str] = {v: k for k, v in _CV_DEPTHS.items()}
_CV_RE = re.compile(r'^(8U|8S|16U|16S|32S|32F|64F)(?:C([1-4]))?$')

ENCODINGS: dict[str, tuple[str, int]] = dict(_NAMED)
ENCODINGS.update({f'{depth}C{c}': (dtype, c) for depth, dtype in _CV_DEPTHS.items()
                  for c in (1, 2, 3, 4)})
"""Every encoding this module reads and writes: name -> (numpy dtype name, channels)."""

# Channel order of the colour encodings cvtColor converts between ('L' = grey).
_COLOR_ORDER = {'rgb8': 'RGB', 'bgr8': 'BGR', 'rgba8': 'RGBA', 'bgra8': 'BGRA', 'mono8': 'L'}
# OpenCV's 8-bit RGB->grey: fixed point with a 14-bit shift, BT.601 weights, rounding.
_GRAY_SHIFT = 14
_GRAY_R, _GRAY_G, _GRAY_B = 4899, 9617, 1868


def encoding_info(encoding: str) -> tuple[np.dtype, int]:
    """The numpy dtype (native order) and channel count of an image encoding.

    Raises:
        ImageConversionError: Unknown encoding (the message lists the supported ones).
    """
    info = ENCODINGS.get(encoding)
    if info is None:
        match = _CV_RE.match(encoding or '')
        if match is None:
            named = ', '.join(_NAMED)
            raise ImageConversionError(
                f'unsupported image encoding {encoding!r}; expected one of {named} or an '
                'OpenCV type such as 8UC3 or 32FC1')
        info = (_CV_DEPTHS[match.group(1)], int(match.group(2) or 1))
    return np.dtype(info[0]), info[1]


def image_msg_to_array(msg: Image, desired_encoding: str = 'passthrough') -> np.ndarray:
    """sensor_msgs/Image -> numpy array, as cv_bridge's ``imgmsg_to_cv2``.

    Args:
        msg: The image message.
        desired_encoding: ``'passthrough'`` (the message's layout) or one of rgb8, bgr8, rgba8,
            bgra8, mono8 (converted from any of those five).

    Returns:
        ``(H, W)`` for one channel, else ``(H, W, C)``, native byte order. Without padding or
        byte swapping the array shares memory with ``msg.data``; copy it before changing either.

    Raises:
        ImageConversionError: Unknown encoding, zero size, ``step`` smaller than a row or not a
            multiple of the element size, data length other than ``step * height``, or a colour
            conversion that is not supported.
    """
    encoding = msg.encoding
    dtype, channels = encoding_info(encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f'zero-size image: {width}x{height} ({encoding})')
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageConversionError(
            f'step {step} B is smaller than one row of {width} px x {channels} ch x '
            f'{dtype.itemsize} B = {row_bytes} B ({encoding})')
    if step % dtype.itemsize:
        raise ImageConversionError(
            f'step {step} B is not a multiple of the {dtype.itemsize}-byte element ({encoding})')
    data = msg.data
    n_bytes = len(data) * (data.itemsize if isinstance(data, memoryview) else 1)
    if n_bytes != step * height:
        raise ImageConversionError(
            f'data has {n_bytes} B, expected step x height = {step} x {height} = '
            f'{step * height} B ({width}x{height} {encoding}, {channels} ch)')
    if isinstance(data, list):  # a message built by hand from a list of ints
        data = bytes(data)
    big = bool(msg.is_bigendian)
    wire = dtype.newbyteorder('>' if big else '<')
    shape = (height, width) if channels == 1 else (height, width, channels)
    if step == row_bytes:
        array = np.frombuffer(data, dtype=wire).reshape(shape)
    else:
        strides = ((step, dtype.itemsize) if channels == 1
                   else (step, channels * dtype.itemsize, dtype.itemsize))
        array = np.ascontiguousarray(
            np.ndarray(shape=shape, dtype=wire, buffer=data, strides=strides))
    if dtype.itemsize > 1 and big != (sys.byteorder == 'big'):
        array = array.byteswap().view(dtype)
    elif array.dtype != dtype:
        array = array.view(dtype)  # same bytes, native-order dtype object
    if desired_encoding in ('passthrough', encoding):
        return array
    return _convert_color(array, encoding, desired_encoding)


def _convert_color(array: np.ndarray, src: str, dst: str) -> np.ndarray:
    """cvtColor between the 8-bit colour encodings (rgb8/bgr8/rgba8/bgra8/mono8)."""
    if src not in _COLOR_ORDER or dst not in _COLOR_ORDER:
        supported = ', '.join(_COLOR_ORDER)
        raise ImageConversionError(
            f'cannot convert {src} to {dst}: conversions are supported between {supported}')
    src_order, dst_order = _COLOR_ORDER[src], _COLOR_ORDER[dst]
    if src_order == 'L':
        grey = array
        planes = {'R': grey, 'G': grey, 'B': grey}
    else:
        planes = {name: array[..., src_order.index(name)] for name in 'RGB'}
    if dst_order == 'L':
        if src_order == 'L':
            return array
        total = (planes['R'].astype(np.uint32) * _GRAY_R + planes['G'].astype(np.uint32) * _GRAY_G
                 + planes['B'].astype(np.uint32) * _GRAY_B + (1 << (_GRAY_SHIFT - 1)))
        return (total >> _GRAY_SHIFT).astype(np.uint8)
    out = np.empty(array.shape[:2] + (len(dst_order),), dtype=np.uint8)
    for i, name in enumerate(dst_order):
        if name == 'A':
            out[..., i] = array[..., src_order.index('A')] if 'A' in src_order else 255
        else:
            out[..., i] = planes[name]
    return out


def array_to_image_msg(array: np.ndarray, encoding: str = 'passthrough',
                       header: Header | None = None) -> Image:
    """numpy array -> sensor_msgs/Image, as cv_bridge's ``cv2_to_imgmsg``.

    Args:
        array: ``(H, W)`` or ``(H, W, C)`` array (C 1-4) of a dtype OpenCV knows (uint8, int8,
            uint16, int16, int32, float32, float64), any byte order and memory layout.
        encoding: ``'passthrough'`` (named after the array type, e.g. ``8UC3``) or an encoding
            whose dtype and channel count match the array (``rgb8`` for ``(H, W, 3)`` uint8).
        header: Header to copy into the message.

    Returns:
        A packed image: ``step = width * channels * itemsize``, ``is_bigendian`` set from the
        array's byte order.

    Raises:
        ImageConversionError: Not an ndarray, wrong number of dimensions or channels, zero size,
            unsupported dtype, or an encoding that does not match the array.
    """
    if not isinstance(array, np.ndarray):
        raise ImageConversionError(
            f'expected a numpy array, got {type(array).__name__}')
    if array.ndim not in (2, 3) or (array.ndim == 3 and not 1 <= array.shape[2] <= 4):
        raise ImageConversionError(
            f'expected an (H, W) or (H, W, C<=4) array, got shape {array.shape}')
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageConversionError(f'zero-size image of shape {array.shape}')
    cv_depth = _DTYPE_TO_CV.get(array.dtype.name)
    if cv_depth is None:
        raise ImageConversionError(
            f'unsupported dtype {array.dtype}; expected one of {", ".join(_DTYPE_TO_CV)}')
    channels = 1 if array.ndim == 2 else int(array.shape[2])
    cv_type = f'{cv_depth}C{channels}'
    if encoding != 'passthrough':
        dtype, enc_channels = encoding_info(encoding)
        if dtype != array.dtype.newbyteorder('=') or enc_channels != channels:
            raise ImageConversionError(
                f'encoding specified as {encoding}, but the image has incompatible type '
                f'{cv_type} (shape {array.shape}, dtype {array.dtype})')
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(array.shape[0]), int(array.shape[1])
    msg.encoding = cv_type if encoding == 'passthrough' else encoding
    order = array.dtype.byteorder
    msg.is_bigendian = bool(order == '>' or (order == '=' and sys.byteorder == 'big'))
    # tobytes() packs any layout (C order); assigning bytes is the fast path in rclpy.
    msg.data = np.ascontiguousarray(array).tobytes()
    msg.step = len(msg.data) // msg.height
    return msg


# ---------------------------------------------------------------------------------------------
# Time stamps


def stamp_to_s(stamp: TimeMsg) -> float:
    """builtin_interfaces/Time -> seconds (float)."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def s_to_stamp(t_s: float) -> TimeMsg:
    """Seconds -> builtin_interfaces/Time (rounded to the nanosecond)."""
    ns = int(round(float(t_s) * 1e9))
    return TimeMsg(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


# ---------------------------------------------------------------------------------------------
# Joint states


def joint_state_to_reading(msg: JointState, arm_joint_names: Sequence[str],
                           finger_joint_names: Sequence[str] = (),
                           default_gripper_opening_m: float = 0.08,
                           tcp_offset_m: float | None = None) -> JointReading:
    """JointState -> :class:`JointReading` (``core.reading.reading_from_joints``: the Panda FK
    of ``core.geometry``; the same code the closed-loop evaluation runs on the sim's joints).

    Raises:
        JointStateError: A configured joint is missing, ``position`` is shorter than ``name``,
            or a position is NaN or infinite.
    """
    return reading_from_joints(list(msg.name), list(msg.position), stamp_to_s(msg.header.stamp),
                               arm_joint_names, finger_joint_names,
                               default_gripper_opening_m=default_gripper_opening_m,
                               tcp_offset_m=tcp_offset_m)


def keypoint_pose_msg(header: Header, xyz_base_m: Sequence[float],
                      quat_xyzw: Sequence[float]) -> PoseStamped:
    """PoseStamped of a keypoint (position in ``header.frame_id``, orientation xyzw)."""
    msg = PoseStamped()
    msg.header = header
    msg.pose = pose_msg(xyz_base_m, quat_xyzw)
    return msg


def pose_msg(xyz_m: Sequence[float], quat_xyzw: Sequence[float]) -> Pose:
    """geometry_msgs/Pose from a position and an xyzw quaternion."""
    x, y, z = (float(v) for v in xyz_m)
    qx, qy, qz, qw = (float(v) for v in quat_xyzw)
    return Pose(position=Point(x=x, y=y, z=z), orientation=Quaternion(x=qx, y=qy, z=qz, w=qw))


def point_msg(xyz_m: Sequence[float]) -> Point:
    """geometry_msgs/Point from three floats."""
    x, y, z = (float(v) for v in xyz_m)
    return Point(x=x, y=y, z=z)


_GREEN = ColorRGBA(r=0.1, g=0.8, b=0.2, a=0.9)
_RED = ColorRGBA(r=0.9, g=0.1, b=0.1, a=0.9)
_BLUE = ColorRGBA(r=0.2, g=0.4, b=1.0, a=0.9)
_YELLOW = ColorRGBA(r=1.0, g=0.85, b=0.1, a=0.9)


def keypoint_markers(header: Header, current_xyz_base_m: Sequence[float],
                     keypoint: Keypoint | None, ok: bool, namespace: str = 'robot_r1',
                     text: str = '', lifetime_s: float = 0.0) -> MarkerArray:
    """MarkerArray: the keypoint (sphere), the current TCP (sphere), an arrow between them and
    a text label. A prediction without a keypoint deletes the keypoint markers.

    Args:
        header: Frame and stamp of every marker.
        current_xyz_base_m: Current TCP position.
        keypoint: The predicted keypoint, or None.
        ok: True when the keypoint is safe (green), False when it was rejected (red).
        namespace: Marker namespace.
        text: Label shown above the keypoint (status, gripper).
        lifetime_s: Marker lifetime; 0 keeps them until replaced.

    Returns:
        Markers with fixed ids 0-3 so each prediction replaces the previous one.
    """
    lifetime = DurationMsg(sec=int(lifetime_s), nanosec=int((lifetime_s % 1.0) * 1e9))
    out = MarkerArray()

    def marker(marker_id: int, kind: int) -> Marker:
        m = Marker()
        m.header = header
        m.ns = namespace
        m.id = marker_id
        m.type = kind
        m.action = Marker.ADD
        m.pose.orientation.w = 1.0
        m.lifetime = lifetime
        return m

    current = marker(1, Marker.SPHERE)
    current.pose.position = point_msg(current_xyz_base_m)
    current.scale.x = current.scale.y = current.scale.z = 0.03
    current.color = _BLUE
    out.markers.append(current)
    if keypoint is None:
        for marker_id in (0, 2, 3):
            m = marker(marker_id, Marker.SPHERE)
            m.action = Marker.DELETE
            out.markers.append(m)
        return out
    target = marker(0, Marker.SPHERE)
    target.pose.position = point_msg(keypoint.xyz_base_m)
    target.scale.x = target.scale.y = target.scale.z = 0.04
    target.color = (_GREEN if keypoint.gripper is GripperState.OPEN else _YELLOW) if ok else _RED
    arrow = marker(2, Marker.ARROW)
    arrow.points = [point_msg(current_xyz_base_m), point_msg(keypoint.xyz_base_m)]
    arrow.scale.x, arrow.scale.y, arrow.scale.z = 0.008, 0.016, 0.02  # shaft, head diameters
    arrow.color = _GREEN if ok else _RED
    label = marker(3, Marker.TEXT_VIEW_FACING)
    label.pose.position = point_msg(np.asarray(keypoint.xyz_base_m, dtype=float)
                                    + np.array([0.0, 0.0, 0.06]))
    label.scale.z = 0.03
    label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    label.text = text or keypoint.gripper.value
    out.markers.extend([target, arrow, label])
    return out


def camera_info_to_k(info: CameraInfo) -> np.ndarray | None:
    """The 3x3 intrinsic matrix of a CameraInfo, or None when it is unset (all zero)."""
    k = np.asarray(info.k, dtype=float).reshape(3, 3)
    if k[0, 0] <= 0.0 or k[1, 1] <= 0.0 or not np.all(np.isfinite(k)):
        return None
    return k


def debug_image(rgb: np.ndarray, lines: Sequence[str], points_uv: Sequence[Any] = (),
                colors: Sequence[tuple[int, int, int]] = ()) -> np.ndarray:
    """An annotated copy of an RGB image: projected points (circles) and text lines.

    Args:
        rgb: ``(H, W, 3)`` uint8 RGB image (not modified).
        lines: Text lines drawn top-left on a dark band (status, keypoint, reasoning excerpt).
        points_uv: Pixel positions ``(u, v)`` to mark; None entries are skipped.
        colors: RGB colour of each point (default green).

    Returns:
        A new ``(H, W, 3)`` uint8 RGB image.
    """
    from PIL import Image as PILImage
    from PIL import ImageDraw

    canvas = PILImage.fromarray(np.ascontiguousarray(rgb[..., :3], dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    height, width = rgb.shape[:2]
    radius = max(3, min(width, height) // 60)
    for i, uv in enumerate(points_uv):
        if uv is None:
            continue
        u, v = float(uv[0]), float(uv[1])
        if not (math.isfinite(u) and math.isfinite(v)):
            continue
        color = tuple(colors[i]) if i < len(colors) else (40, 220, 60)
        draw.ellipse((u - radius, v - radius, u + radius, v + radius), outline=color,
                     width=max(1, radius // 2))
        draw.line((u - 2 * radius, v, u + 2 * radius, v), fill=color, width=1)
        draw.line((u, v - 2 * radius, u, v + 2 * radius), fill=color, width=1)
    if lines:
        line_h = 11
        band_h = min(height, line_h * len(lines) + 4)
        draw.rectangle((0, 0, width, band_h), fill=(0, 0, 0))
        max_chars = max(8, width // 6)
        for i, line in enumerate(lines):
            text = line if len(line) <= max_chars else line[:max_chars - 3] + '...'
            draw.text((3, 2 + i * line_h), text, fill=(255, 255, 255))
    return np.asarray(canvas)


def keypoint_prediction_msg(header: Header, status: int, *, status_reason: str = '',
                            keypoint: Keypoint | None = None,
                            tcp_quat_xyzw: Sequence[float] | None = None,
                            current_xyz_base_m: Sequence[float] | None = None, task: str = '',
                            reasoning: str = '', raw_answer: str = '', model_id: str = '',
                            inference_time_s: float = 0.0, generated_tokens: int = 0) -> Any:
    """A robot_r1_ros/KeypointPrediction.

    Args:
        header: Stamp of the camera image used; frame_id the robot base frame.
        status: One of ``KeypointPrediction.STATUS_*``.
        status_reason: Why, when ``status`` is not OK.
        keypoint: The parsed keypoint (base frame), also for a rejected one (out of workspace),
            so consumers can show it; None leaves the pose at the origin.
        tcp_quat_xyzw: Orientation written into the pose (the current TCP orientation);
            None = identity.
        current_xyz_base_m: TCP position when the image was taken.
        task: The instruction given to the model.
        reasoning: Text inside ``<think>``.
        raw_answer: The model's full completion.
        model_id: What produced it.
        inference_time_s: Wall time of the model call.
        generated_tokens: Tokens generated.

    Returns:
        The message (``robot_r1_ros.msg.KeypointPrediction``).
    """
    from robot_r1_ros.msg import KeypointPrediction

    msg = KeypointPrediction()
    msg.header = header
    msg.status = int(status)
    msg.status_reason = status_reason
    quat = tuple(tcp_quat_xyzw) if tcp_quat_xyzw is not None else (0.0, 0.0, 0.0, 1.0)
    if keypoint is not None:
        msg.pose = pose_msg(keypoint.xyz_base_m, quat)
        msg.gripper_command = (KeypointPrediction.GRIPPER_OPEN
                               if keypoint.gripper is GripperState.OPEN
                               else KeypointPrediction.GRIPPER_CLOSED)
    else:
        msg.pose.orientation = Quaternion(x=quat[0], y=quat[1], z=quat[2], w=quat[3])
    if current_xyz_base_m is not None:
        msg.current_position = point_msg(current_xyz_base_m)
    msg.task = task
    msg.reasoning = reasoning
    msg.raw_answer = raw_answer
    msg.model_id = model_id
    msg.inference_time_s = float(inference_time_s)
    msg.generated_tokens = max(0, int(generated_tokens))
    return msg


