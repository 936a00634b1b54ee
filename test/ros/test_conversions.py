"""robot_r1_ros.ros.conversions: numpy <-> sensor_msgs/Image with cv_bridge semantics (every
encoding, row padding, byte order, errors), JointState -> RobotState through the core FK, and the
published messages (KeypointPrediction, PoseStamped, MarkerArray, debug image)."""
from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from r1_testing import require, require_ros_interfaces

pytestmark = pytest.mark.ros

require('rclpy')
from rclpy.serialization import deserialize_message, serialize_message  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, JointState  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

from robot_r1_ros.core.errors import BadInputError  # noqa: E402
from robot_r1_ros.core.geometry import (EnvFrame, matrix_to_quat_wxyz, panda_fk,  # noqa: E402
                                        quat_wxyz_to_matrix)
from robot_r1_ros.core.gripper import current_gripper_state  # noqa: E402
from robot_r1_ros.core.types import GripperState, Keypoint  # noqa: E402
from robot_r1_ros.ros import conversions as conv  # noqa: E402

RNG = np.random.default_rng(7)
ARM = [f'panda_joint{i}' for i in range(1, 8)]
FINGERS = ['panda_finger_joint1', 'panda_finger_joint2']
Q = [0.1, -0.5, 0.2, -2.0, 0.1, 1.6, 0.7]

# encoding -> (dtype, channels) of every named encoding the module supports
NAMED = {'rgb8': (np.uint8, 3), 'bgr8': (np.uint8, 3), 'rgba8': (np.uint8, 4),
         'bgra8': (np.uint8, 4), 'mono8': (np.uint8, 1), 'rgb16': (np.uint16, 3),
         'bgr16': (np.uint16, 3), 'rgba16': (np.uint16, 4), 'bgra16': (np.uint16, 4),
         'mono16': (np.uint16, 1)}
CV_TYPES = {f'{d}C{c}': (dt, c) for d, dt in [('8U', np.uint8), ('8S', np.int8),
                                               ('16U', np.uint16), ('16S', np.int16),
                                               ('32S', np.int32), ('32F', np.float32),
                                               ('64F', np.float64)] for c in (1, 2, 3, 4)}


def _random(shape, dtype) -> np.ndarray:
    if np.issubdtype(dtype, np.floating):
        return RNG.normal(size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


def _shape(h: int, w: int, c: int) -> tuple[int, ...]:
    return (h, w) if c == 1 else (h, w, c)


def _over_the_wire(msg: Image) -> Image:
    """What a subscriber receives: serialize + deserialize with rclpy."""
    return deserialize_message(serialize_message(msg), Image)


# ----------------------------------------------------------------------------- round trips

@pytest.mark.parametrize('encoding', [*NAMED, *CV_TYPES])
def test_round_trip_every_encoding(encoding):
    dtype, channels = {**NAMED, **CV_TYPES}[encoding]
    array = _random(_shape(5, 7, channels), dtype)
    msg = conv.array_to_image_msg(array, encoding)
    assert (msg.height, msg.width, msg.encoding) == (5, 7, encoding)
    assert msg.step == 7 * channels * np.dtype(dtype).itemsize
    assert len(msg.data) == msg.step * msg.height
    assert msg.is_bigendian == (sys.byteorder == 'big')
    back = conv.image_msg_to_array(_over_the_wire(msg))
    assert back.dtype == np.dtype(dtype) and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize('shape,dtype,expected', [
    ((4, 6), np.uint8, '8UC1'), ((4, 6, 3), np.uint8, '8UC3'), ((4, 6, 4), np.uint16, '16UC4'),
    ((4, 6), np.float32, '32FC1'), ((4, 6, 2), np.int16, '16SC2'), ((4, 6, 1), np.float64,
                                                                     '64FC1')])
def test_passthrough_names_the_opencv_type(shape, dtype, expected):
    array = _random(shape, dtype)
    msg = conv.array_to_image_msg(array)
    assert msg.encoding == expected
    back = conv.image_msg_to_array(msg)
    np.testing.assert_array_equal(back.reshape(shape), array)


def test_non_contiguous_array_is_packed():
    array = _random((6, 8, 3), np.uint8)[:, ::2]  # strided view, 6x4x3
    msg = conv.array_to_image_msg(array, 'rgb8')
    assert msg.step == 12 and len(msg.data) == 6 * 12
    np.testing.assert_array_equal(conv.image_msg_to_array(msg), array)


def test_header_is_copied():
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = conv.array_to_image_msg(np.zeros((2, 3, 3), np.uint8), 'rgb8', header)
    assert msg.header.frame_id == 'cam' and msg.header.stamp.nanosec == 345


# ----------------------------------------------------------------------------- step padding

@pytest.mark.parametrize('encoding,pad', [('rgb8', 1), ('rgb8', 4), ('mono8', 3), ('bgra8', 8),
                                          ('mono16', 2), ('32FC1', 4), ('rgb16', 10)])
def test_step_padding_is_dropped(encoding, pad):
    dtype, channels = {**NAMED, **CV_TYPES}[encoding]
    array = _random(_shape(4, 5, channels), dtype)
    packed = conv.array_to_image_msg(array, encoding)
    rows = np.frombuffer(bytes(packed.data), np.uint8).reshape(4, packed.step)
    padded = np.full((4, packed.step + pad), 0xAB, np.uint8)
    padded[:, :packed.step] = rows
    msg = Image(height=4, width=5, encoding=encoding, step=packed.step + pad,
                is_bigendian=packed.is_bigendian, data=padded.tobytes())
    back = conv.image_msg_to_array(_over_the_wire(msg))
    np.testing.assert_array_equal(back, array)
    assert back.flags.c_contiguous


def test_odd_width_rgb8_with_4_byte_row_alignment():
    # 5 px * 3 B = 15 B rows padded to 16 B: step is not a multiple of the pixel size
    array = _random((3, 5, 3), np.uint8)
    padded = np.zeros((3, 16), np.uint8)
    padded[:, :15] = array.reshape(3, 15)
    msg = Image(height=3, width=5, encoding='rgb8', step=16, data=padded.tobytes())
    np.testing.assert_array_equal(conv.image_msg_to_array(msg), array)


# ----------------------------------------------------------------------------- byte order

@pytest.mark.parametrize('encoding,dtype', [('mono16', '>u2'), ('32FC1', '>f4'), ('rgb16', '>u2'),
                                            ('16SC3', '>i2'), ('64FC1', '>f8')])
def test_big_endian_messages_are_read_in_native_order(encoding, dtype):
    _, channels = {**NAMED, **CV_TYPES}[encoding]
    native = _random(_shape(3, 4, channels), np.dtype(dtype).newbyteorder('='))
    big = native.astype(dtype)
    msg = conv.array_to_image_msg(big, encoding)
    assert msg.is_bigendian is True
    assert bytes(msg.data) == big.tobytes()  # bytes on the wire are big-endian
    back = conv.image_msg_to_array(_over_the_wire(msg))
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, native)


def test_little_endian_flag_on_a_hand_built_message():
    values = np.array([[1, 256, 65535]], dtype='<u2')
    msg = Image(height=1, width=3, encoding='mono16', step=6, is_bigendian=False,
                data=values.tobytes())
    assert conv.image_msg_to_array(msg).tolist() == [[1, 256, 65535]]
    swapped = Image(height=1, width=3, encoding='mono16', step=6, is_bigendian=True,
                    data=values.tobytes())
    assert conv.image_msg_to_array(swapped).tolist() == [[256, 1, 65535]]


# ----------------------------------------------------------------------------- colour

def _rgb() -> np.ndarray:
    return _random((4, 6, 3), np.uint8)


@pytest.mark.parametrize('src', ['rgb8', 'bgr8', 'rgba8', 'bgra8'])
def test_colour_encodings_convert_to_rgb8(src):
    rgb = _rgb()
    alpha = _random((4, 6), np.uint8)
    arrays = {'rgb8': rgb, 'bgr8': rgb[..., ::-1], 'rgba8': np.dstack([rgb, alpha]),
              'bgra8': np.dstack([rgb[..., ::-1], alpha])}
    msg = conv.array_to_image_msg(np.ascontiguousarray(arrays[src]), src)
    np.testing.assert_array_equal(conv.image_msg_to_array(msg, 'rgb8'), rgb)
    np.testing.assert_array_equal(conv.image_msg_to_array(msg, 'bgr8'), rgb[..., ::-1])
    rgba = conv.image_msg_to_array(msg, 'rgba8')
    np.testing.assert_array_equal(rgba[..., :3], rgb)
    # cvtColor keeps an existing alpha channel and sets 255 when the source has none
    np.testing.assert_array_equal(rgba[..., 3], alpha if 'a' in src else 255)


def test_mono8_to_rgb_replicates_and_rgb_to_mono_uses_bt601():
    grey = _random((4, 6), np.uint8)
    msg = conv.array_to_image_msg(grey, 'mono8')
    rgb = conv.image_msg_to_array(msg, 'rgb8')
    assert rgb.shape == (4, 6, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey)
    colour = _rgb()
    mono = conv.image_msg_to_array(conv.array_to_image_msg(colour, 'rgb8'), 'mono8')
    expected = colour @ np.array([0.299, 0.587, 0.114])
    assert mono.dtype == np.uint8 and mono.shape == (4, 6)
    assert np.max(np.abs(mono.astype(float) - expected)) <= 0.5 + 1e-3
    bgr_mono = conv.image_msg_to_array(
        conv.array_to_image_msg(np.ascontiguousarray(colour[..., ::-1]), 'bgr8'), 'mono8')
    np.testing.assert_array_equal(bgr_mono, mono)


def test_passthrough_shares_memory_without_padding():
    msg = conv.array_to_image_msg(_rgb(), 'rgb8')
    arr = conv.image_msg_to_array(msg)
    assert np.shares_memory(arr, np.frombuffer(msg.data, np.uint8))


def test_list_data_is_accepted():
    msg = Image(height=1, width=2, encoding='mono8', step=2)
    msg.data = [3, 4]
    assert conv.image_msg_to_array(msg).tolist() == [[3, 4]]


# ----------------------------------------------------------------------------- errors

def _msg(**fields) -> Image:
    base = dict(height=2, width=3, encoding='rgb8', step=9, data=bytes(18))
    base.update(fields)
    return Image(**base)


@pytest.mark.parametrize('fields,match', [
    (dict(encoding='yuv422'), "unsupported image encoding 'yuv422'"),
    (dict(encoding=''), 'unsupported image encoding'),
    (dict(encoding='bayer_rggb8'), 'unsupported image encoding'),
    (dict(data=bytes(17)), 'data has 17 B, expected step x height = 9 x 2 = 18 B'),
    (dict(data=bytes(19)), 'data has 19 B'),
    (dict(height=0, data=b''), 'zero-size image'),
    (dict(width=0, step=0, data=b''), 'zero-size image'),
    (dict(step=8, data=bytes(16)), 'step 8 B is smaller than one row'),
    (dict(encoding='mono16', width=3, step=7, data=bytes(14)),
     'not a multiple of the 2-byte element'),
])
def test_malformed_messages_raise_typed_errors(fields, match):
    with pytest.raises(conv.ImageConversionError, match=match) as info:
        conv.image_msg_to_array(_msg(**fields))
    assert isinstance(info.value, BadInputError) and isinstance(info.value, TypeError)


def test_unsupported_colour_conversion():
    msg = conv.array_to_image_msg(np.zeros((2, 2), np.float32), '32FC1')
    with pytest.raises(conv.ImageConversionError, match='cannot convert 32FC1 to rgb8'):
        conv.image_msg_to_array(msg, 'rgb8')


@pytest.mark.parametrize('array,encoding,match', [
    ([[1, 2]], 'mono8', 'expected a numpy array'),
    (np.zeros((2, 2, 2, 2), np.uint8), 'passthrough', r'expected an \(H, W\)'),
    (np.zeros((2, 2, 5), np.uint8), 'passthrough', r'expected an \(H, W\)'),
    (np.zeros((3,), np.uint8), 'passthrough', r'expected an \(H, W\)'),
    (np.zeros((0, 4, 3), np.uint8), 'rgb8', 'zero-size image'),
    (np.zeros((2, 2), bool), 'passthrough', 'unsupported dtype bool'),
    (np.zeros((2, 2), np.complex64), 'passthrough', 'unsupported dtype complex64'),
    (np.zeros((2, 2, 3), np.uint8), 'rgba8', 'encoding specified as rgba8, but the image has '
                                             'incompatible type 8UC3'),
    (np.zeros((2, 2, 3), np.float32), 'rgb8', 'incompatible type 32FC3'),
    (np.zeros((2, 2), np.uint8), 'mono16', 'incompatible type 8UC1'),
    (np.zeros((2, 2), np.uint8), 'jpeg', 'unsupported image encoding'),
])
def test_bad_arrays_raise_typed_errors(array, encoding, match):
    with pytest.raises(conv.ImageConversionError, match=match):
        conv.array_to_image_msg(array, encoding)


# ----------------------------------------------------------------------------- joint states

def _joints(names=None, positions=None) -> JointState:
    msg = JointState()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 5, 500_000_000
    msg.name = list(names if names is not None else [*FINGERS, *reversed(ARM), 'extra'])
    if positions is None:
        lookup = dict(zip(ARM, Q)) | {FINGERS[0]: 0.03, FINGERS[1]: 0.02, 'extra': 9.0}
        positions = [lookup[n] for n in msg.name]
    msg.position = [float(v) for v in positions]
    return msg


def test_joint_state_to_reading_uses_names_and_the_core_fk():
    reading = conv.joint_state_to_reading(_joints(), ARM, FINGERS)
    state = reading.robot_state
    assert state.joint_positions_rad == pytest.approx(Q)
    xyz, rot = panda_fk(np.array(Q))
    assert state.ee_xyz_base_m == pytest.approx(tuple(xyz))
    assert state.gripper_opening_m == pytest.approx(0.05)
    # 0.05 m of 0.08 m: not fully open, so closed by the one gripper rule (core.gripper)
    assert current_gripper_state(state.gripper_opening_m) is GripperState.CLOSED
    assert state.stamp_s == pytest.approx(5.5)
    x, y, z, w = reading.tcp_quat_xyzw
    assert math.isclose(x * x + y * y + z * z + w * w, 1.0, rel_tol=1e-9)
    np.testing.assert_allclose(quat_wxyz_to_matrix((w, x, y, z)), rot, atol=1e-9)


def test_joint_state_tcp_offset_and_no_fingers():
    flange = conv.joint_state_to_reading(_joints(), ARM, (), tcp_offset_m=0.0)
    assert flange.robot_state.ee_xyz_base_m == pytest.approx(
        tuple(panda_fk(np.array(Q), tcp_offset_m=0.0)[0]))
    assert flange.robot_state.gripper_opening_m == pytest.approx(0.08)


@pytest.mark.parametrize('names,positions,match', [
    ([*ARM[:6], *FINGERS], [0.0] * 8, 'lacks panda_joint7'),
    ([f'fr3_joint{i}' for i in range(1, 8)] + FINGERS, [0.0] * 9,
     'lacks panda_joint1, panda_joint2'),
    ([*ARM, *FINGERS], [0.0] * 8, '9 names but 8 positions'),
    ([*ARM, *FINGERS], [0.0, float('nan')] + [0.0] * 7, 'non-finite joint position for '
                                                        'panda_joint2'),
    ([*ARM, *FINGERS], [0.0] * 8 + [float('inf')], 'panda_finger_joint2'),
    ([], [], 'has: no joints'),
])
def test_bad_joint_states_raise(names, positions, match):
    with pytest.raises(conv.JointStateError, match=match):
        conv.joint_state_to_reading(_joints(names, positions), ARM, FINGERS)


def test_rotation_to_quat_matches_the_core():
    _, rot = panda_fk(np.array(Q))
    w, x, y, z = matrix_to_quat_wxyz(rot)
    assert conv.rotation_to_quat_xyzw(rot) == pytest.approx((x, y, z, w))


# ----------------------------------------------------------------------------- messages

def test_keypoint_prediction_msg_fields():
    require_ros_interfaces()
    from robot_r1_ros.msg import KeypointPrediction

    header = Header(frame_id='panda_link0')
    header.stamp.sec = 42
    kp = Keypoint((0.4, -0.1, 0.2), GripperState.CLOSED)
    msg = conv.keypoint_prediction_msg(
        header, KeypointPrediction.STATUS_OK, keypoint=kp, tcp_quat_xyzw=(1.0, 0.0, 0.0, 0.0),
        current_xyz_base_m=(0.3, 0.0, 0.5), task='stack', reasoning='r', raw_answer='c',
        model_id='m', inference_time_s=0.25, generated_tokens=17)
    assert msg.header.stamp.sec == 42 and msg.header.frame_id == 'panda_link0'
    assert (msg.pose.position.x, msg.pose.position.y, msg.pose.position.z) == (0.4, -0.1, 0.2)
    assert msg.pose.orientation.x == 1.0 and msg.pose.orientation.w == 0.0
    assert msg.gripper_command == KeypointPrediction.GRIPPER_CLOSED
    assert msg.current_position.z == 0.5
    assert (msg.task, msg.reasoning, msg.raw_answer, msg.model_id) == ('stack', 'r', 'c', 'm')
    assert msg.inference_time_s == pytest.approx(0.25) and msg.generated_tokens == 17
    empty = conv.keypoint_prediction_msg(header, KeypointPrediction.STATUS_BAD_INPUT,
                                         status_reason='bad image')
    assert empty.status == KeypointPrediction.STATUS_BAD_INPUT
    assert empty.status_reason == 'bad image' and empty.pose.orientation.w == 1.0
    assert conv.STATUS_NAMES[KeypointPrediction.STATUS_OUT_OF_WORKSPACE] == 'OUT_OF_WORKSPACE'


def test_markers_and_pose():
    from visualization_msgs.msg import Marker

    header = Header(frame_id='panda_link0')
    kp = Keypoint((0.5, 0.1, 0.2), GripperState.OPEN)
    markers = conv.keypoint_markers(header, (0.3, 0.0, 0.5), kp, ok=True, text='OK open')
    by_id = {m.id: m for m in markers.markers}
    assert set(by_id) == {0, 1, 2, 3}
    assert by_id[0].type == Marker.SPHERE and by_id[0].pose.position.x == 0.5
    assert by_id[1].pose.position.z == 0.5
    assert [p.x for p in by_id[2].points] == [0.3, 0.5] and by_id[2].type == Marker.ARROW
    assert by_id[3].text == 'OK open'
    rejected = conv.keypoint_markers(header, (0.3, 0.0, 0.5), kp, ok=False)
    assert rejected.markers[1].color.r > 0.5 and rejected.markers[1].color.g < 0.5
    none = conv.keypoint_markers(header, (0.3, 0.0, 0.5), None, ok=False)
    assert sorted(m.id for m in none.markers if m.action == Marker.DELETE) == [0, 2, 3]
    pose = conv.keypoint_pose_msg(header, kp.xyz_base_m, (0.0, 0.0, 0.0, 1.0))
    assert pose.header.frame_id == 'panda_link0' and pose.pose.position.y == 0.1


def test_camera_info_k_and_debug_image_projection():
    info = CameraInfo(width=64, height=48)
    assert conv.camera_info_to_k(info) is None  # all-zero K: unset
    info.k = [50.0, 0.0, 32.0, 0.0, 50.0, 24.0, 0.0, 0.0, 1.0]
    k = conv.camera_info_to_k(info)
    assert k.shape == (3, 3) and k[0, 2] == 32.0
    rgb = np.full((48, 64, 3), 128, np.uint8)
    out = conv.debug_image(rgb, [], [(40.0, 30.0), None, (float('nan'), 1.0)],
                           [(0, 255, 0)])
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(rgb, np.full((48, 64, 3), 128, np.uint8))  # input untouched
    changed = np.argwhere(np.any(out != 128, axis=2))
    assert len(changed) > 0
    assert np.all(np.abs(changed - [30, 40]).max(axis=1) <= 12)  # only around the point
    texted = conv.debug_image(rgb, ['OK  task: stack the cubes'])
    assert np.any(texted[:12] != 128) and np.all(texted[20:] == 128)


def test_env_frame_round_trip_used_by_the_node():
    frame = EnvFrame.from_axes((0.35, 0.0, 0.0), ('-y', '+x', '+z'))
    xyz_env = frame.base_to_env((0.5, 0.1, 0.2))
    np.testing.assert_allclose(frame.env_to_base(xyz_env), (0.5, 0.1, 0.2), atol=1e-12)
