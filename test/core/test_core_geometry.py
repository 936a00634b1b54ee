"""Frames, workspace, quaternions, projection and Panda FK (core.geometry)."""
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_r1_ros.core.errors import BadInputError, ConfigError, OutOfWorkspaceError
from robot_r1_ros.core.geometry import (PANDA_JOINT_LIMITS_RAD, PANDA_READY_Q_RAD, EnvFrame,
                                        Workspace, intrinsics_from_fovy, invert_transform,
                                        l1_distance_m, make_transform, matrix_to_quat_wxyz,
                                        panda_flange_fk, panda_fk, project_points,
                                        quat_wxyz_multiply, quat_wxyz_to_matrix,
                                        quat_wxyz_to_xyzw, quat_xyzw_to_wxyz, transform_points)

# --- Panda FK ---------------------------------------------------------------------------------


def _rpy(roll, pitch, yaw):
    cr, sr, cp, sp, cy, sy = (math.cos(roll), math.sin(roll), math.cos(pitch), math.sin(pitch),
                              math.cos(yaw), math.sin(yaw))
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    return rz @ ry @ rx


def _urdf_fk(q):
    """Independent reference: the joint origins of franka_description's panda URDF."""
    joints = [((0, 0, 0.333), (0, 0, 0)), ((0, 0, 0), (-math.pi / 2, 0, 0)),
              ((0, -0.316, 0), (math.pi / 2, 0, 0)), ((0.0825, 0, 0), (math.pi / 2, 0, 0)),
              ((-0.0825, 0.384, 0), (-math.pi / 2, 0, 0)), ((0, 0, 0), (math.pi / 2, 0, 0)),
              ((0.088, 0, 0), (math.pi / 2, 0, 0))]
    t = np.eye(4)
    for (xyz, rpy), angle in zip(joints, q):
        t = t @ make_transform(_rpy(*rpy), xyz) @ make_transform(_rpy(0, 0, angle), (0, 0, 0))
    flange = t @ make_transform(np.eye(3), (0, 0, 0.107))  # panda_joint8 (fixed)
    tcp = flange @ make_transform(_rpy(0, 0, -math.pi / 4), (0, 0, 0))  # panda_hand_joint
    tcp = tcp @ make_transform(np.eye(3), (0, 0, 0.1034))  # panda_hand_tcp_joint
    return flange, tcp


def test_fk_ready_configuration_within_1mm():
    flange_xyz, flange_rot = panda_flange_fk(PANDA_READY_Q_RAD)
    tcp_xyz, tcp_rot = panda_fk(PANDA_READY_Q_RAD)
    # reference values of the "ready" pose (flange 0.307 m in front, 0.590 m up)
    assert np.abs(flange_xyz - [0.307, 0.0, 0.590]).max() < 1e-3
    assert np.abs(tcp_xyz - [0.307, 0.0, 0.487]).max() < 1e-3
    # gripper points straight down, fingers closing along the base y axis
    assert np.allclose(tcp_rot[:, 2], [0, 0, -1], atol=1e-9)
    assert np.allclose(np.abs(tcp_rot[:, 0]), [1, 0, 0], atol=1e-9)
    assert np.allclose(flange_rot @ flange_rot.T, np.eye(3))


def test_fk_zero_configuration():
    # all links stacked: z = 0.333 + 0.316 + 0.384 - 0.107 (flange points down), x = 0.088
    flange_xyz, _ = panda_flange_fk(np.zeros(7))
    assert np.allclose(flange_xyz, [0.088, 0.0, 0.926], atol=1e-9)
    tcp_xyz, _ = panda_fk(np.zeros(7))
    assert np.allclose(tcp_xyz, [0.088, 0.0, 0.926 - 0.1034], atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7))
def test_fk_matches_urdf_joint_chain(fractions):
    lo, hi = np.array(PANDA_JOINT_LIMITS_RAD)
    q = lo + np.array(fractions) * (hi - lo)
    flange_ref, tcp_ref = _urdf_fk(q)
    flange_xyz, flange_rot = panda_flange_fk(q)
    tcp_xyz, tcp_rot = panda_fk(q)
    assert np.allclose(flange_xyz, flange_ref[:3, 3], atol=1e-9)
    assert np.allclose(flange_rot, flange_ref[:3, :3], atol=1e-9)
    assert np.allclose(tcp_xyz, tcp_ref[:3, 3], atol=1e-9)
    assert np.allclose(tcp_rot, tcp_ref[:3, :3], atol=1e-9)
    # the TCP is 0.1034 m from the flange along the flange z axis
    assert np.allclose(tcp_xyz - flange_xyz, 0.1034 * flange_rot[:, 2], atol=1e-12)


@pytest.mark.parametrize('q', [np.zeros(6), np.full(7, np.nan), 'abc'])
def test_fk_bad_input(q):
    with pytest.raises(BadInputError, match='7 finite joint angles|must be numeric'):
        panda_fk(q)


# --- Env frame --------------------------------------------------------------------------------


def test_default_env_frame_is_shifted_base_frame():
    frame = EnvFrame(origin_base_m=(0.35, 0.0, 0.0))
    assert np.allclose(frame.base_to_env([0.5, 0.1, 0.2]), [0.15, 0.1, 0.2])
    assert np.allclose(frame.env_to_base([[0, 0, 0], [0.1, 0, 0]]), [[0.35, 0, 0], [0.45, 0, 0]])
    lines = frame.axis_lines()
    assert lines[0].startswith('X-axis: back of table (negative) to front of table')
    assert lines[2] == ('Z-axis: down toward the table (negative) to up toward the ceiling '
                        '(positive)')


def test_env_frame_from_signed_axes():
    # a camera on the robot's left: env x (toward the camera) is base +y
    frame = EnvFrame.from_axes((0.4, 0.0, 0.0), ('+y', '-x', '+z'))
    assert np.allclose(frame.base_to_env([0.4, 0.2, 0.0]), [0.2, 0.0, 0.0])
    assert np.allclose(frame.base_to_env([0.5, 0.0, 0.0]), [0.0, -0.1, 0.0])
    assert np.allclose(frame.delta_base_to_env([0, 0, 0.3]), [0, 0, 0.3])


@pytest.mark.parametrize('axes', [('+x', '+x', '+z'), ('x', 'y'), ('+x', '+y', '+w')])
def test_env_frame_bad_axes(axes):
    with pytest.raises(ConfigError, match='signed permutation|3 entries') as info:
        EnvFrame.from_axes((0, 0, 0), axes)
    assert info.value.field == 'env_axes'


def test_env_frame_bad_rotation_and_points():
    with pytest.raises(BadInputError, match='orthonormal'):
        EnvFrame(R_base_env=((1, 0, 0), (0, 2, 0), (0, 0, 1)))
    with pytest.raises(BadInputError, match=r'shape \(3,\) or \(N, 3\)'):
        EnvFrame().base_to_env([1, 2])
    with pytest.raises(BadInputError, match='finite'):
        EnvFrame().env_to_base([1, np.inf, 2])


@settings(max_examples=100, deadline=None)
@given(st.permutations(['x', 'y', 'z']), st.lists(st.sampled_from('+-'), min_size=3,
                                                    max_size=3),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3),
       st.lists(st.floats(-2, 2), min_size=3, max_size=3))
def test_env_frame_round_trip(names, signs, origin, point):
    frame = EnvFrame.from_axes(origin, [s + n for s, n in zip(signs, names)])
    env = frame.base_to_env(point)
    assert np.allclose(frame.env_to_base(env), point, atol=1e-12)
    # distances are preserved
    assert np.isclose(np.linalg.norm(env), np.linalg.norm(np.subtract(point, origin)))


# --- Workspace --------------------------------------------------------------------------------

WS = Workspace((0.2, -0.4, 0.0), (0.8, 0.4, 0.6))


def test_workspace_contains_check_clip():
    assert WS.contains([0.5, 0.0, 0.3]) is True
    assert WS.contains([0.2, -0.4, 0.0]) is True  # bounds inclusive
    assert list(WS.contains([[0.5, 0, 0.3], [0.9, 0, 0.3]])) == [True, False]
    assert WS.check([0.5, 0.0, 0.3]) is None
    assert WS.check([0.5, 0.0, 0.7]) == 'z=0.700 m is above the workspace maximum 0.600 m'
    assert WS.check([0.1, 0.0, 0.3]) == 'x=0.100 m is below the workspace minimum 0.200 m'
    assert 'finite' in WS.check([np.nan, 0, 0])
    assert 'one point' in WS.check([[0.5, 0, 0.3]])
    assert np.allclose(WS.clip([1.0, -1.0, 0.3]), [0.8, -0.4, 0.3])
    assert np.allclose(WS.center_base_m, [0.5, 0.0, 0.3])
    with pytest.raises(OutOfWorkspaceError, match='y=0.500 m is above') as info:
        WS.require([0.5, 0.5, 0.3])
    assert info.value.reason.startswith('y=0.500')
    samples = WS.sample(np.random.default_rng(0), 500)
    assert samples.shape == (500, 3) and WS.contains(samples).all()


def test_workspace_bad_bounds():
    with pytest.raises(BadInputError, match='workspace y: min 0.4 must be below max 0.4'):
        Workspace((0, 0.4, 0), (1, 0.4, 1))
    with pytest.raises(BadInputError, match='3 values'):
        Workspace((0, 0), (1, 1, 1))


# --- Quaternions and transforms ---------------------------------------------------------------

QUAT = st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(
    lambda q: np.linalg.norm(q) > 0.1)


@settings(max_examples=200, deadline=None)
@given(QUAT, QUAT)
def test_quaternion_round_trips(q, p):
    q = np.array(q) / np.linalg.norm(q)
    rot = quat_wxyz_to_matrix(q)
    assert np.allclose(rot @ rot.T, np.eye(3), atol=1e-9) and np.isclose(np.linalg.det(rot), 1)
    back = matrix_to_quat_wxyz(rot)
    assert np.allclose(back, q if q[0] >= 0 else -q, atol=1e-7) or np.allclose(
        quat_wxyz_to_matrix(back), rot, atol=1e-9)
    assert np.allclose(quat_xyzw_to_wxyz(quat_wxyz_to_xyzw(q)), q)
    # product of quaternions = product of rotations
    assert np.allclose(quat_wxyz_to_matrix(quat_wxyz_multiply(q, p)),
                       rot @ quat_wxyz_to_matrix(p), atol=1e-9)


def test_quaternion_orders_and_errors():
    assert np.allclose(quat_xyzw_to_wxyz([0, 0, 0, 1]), [1, 0, 0, 0])  # ROS identity
    assert np.allclose(quat_wxyz_to_xyzw([1, 0, 0, 0]), [0, 0, 0, 1])  # MuJoCo identity
    with pytest.raises(BadInputError, match='zero quaternion'):
        quat_wxyz_to_matrix([0, 0, 0, 0])
    with pytest.raises(BadInputError, match='4 finite'):
        quat_xyzw_to_wxyz([0, 0, 1])
    with pytest.raises(BadInputError, match='determinant'):
        matrix_to_quat_wxyz(np.diag([1.0, 1.0, -1.0]))


def test_transforms():
    t = make_transform(_rpy(0.1, -0.2, 0.3), (1, 2, 3))
    p = np.array([[0.1, 0.2, 0.3], [1, 1, 1]])
    assert np.allclose(transform_points(invert_transform(t), transform_points(t, p)), p)
    assert l1_distance_m([0, 0, 0], [0.1, -0.2, 0.3]) == pytest.approx(0.6)
    with pytest.raises(BadInputError, match='4x4'):
        invert_transform(np.eye(3))


# --- Projection -------------------------------------------------------------------------------


def _look_at_gl(eye, target):
    """MuJoCo-style camera rotation: looks along its -z, +y up (as the sim builds cameras)."""
    z = np.subtract(eye, target) / np.linalg.norm(np.subtract(eye, target))
    x = np.cross([0, 0, 1], z)
    x /= np.linalg.norm(x)
    return np.column_stack([x, np.cross(z, x), z])


def test_project_points_opengl_camera():
    eye, target = np.array([1.25, 0.5, 1.05]), np.array([0.4, 0.0, 0.25])
    k = intrinsics_from_fovy(55.0, 320, 240)
    t_base_cam = make_transform(_look_at_gl(eye, target), eye)
    uv, depth = project_points([target, eye + (eye - target)], k, t_base_cam, 'opengl')
    assert np.allclose(uv[0], [160.0, 120.0])  # the look-at point is the image centre
    assert depth[0] == pytest.approx(np.linalg.norm(eye - target))
    assert np.isnan(uv[1]).all() and depth[1] < 0  # behind the camera
    # a point higher up in the world appears higher in the image (smaller v)
    uv_up, _ = project_points(target + [0, 0, 0.1], k, t_base_cam, 'opengl')
    assert uv_up[0, 1] < 120.0
    # moving along the camera's right vector raises u
    right = _look_at_gl(eye, target)[:, 0]
    uv_right, _ = project_points(target + 0.05 * right, k, t_base_cam, 'opengl')
    assert uv_right[0, 0] > 160.0


def test_project_points_opencv_matches_pinhole():
    k = np.array([[100.0, 0, 50], [0, 100.0, 40], [0, 0, 1]])
    uv, depth = project_points([[0.1, -0.2, 2.0]], k, np.eye(4))
    assert np.allclose(uv, [[55.0, 30.0]]) and np.allclose(depth, [2.0])


@pytest.mark.parametrize('kwargs,message', [
    ({'K': np.eye(2)}, 'K must be 3x3'),
    ({'convention': 'ros'}, 'convention'),
])
def test_project_points_errors(kwargs, message):
    args = {'xyz_base_m': [0, 0, 1], 'K': np.eye(3), 'T_base_cam': np.eye(4), **kwargs}
    with pytest.raises(BadInputError, match=message):
        project_points(**args)


@pytest.mark.parametrize('fovy,w,h', [(0, 10, 10), (55, 0, 10), (180, 10, 10)])
def test_intrinsics_errors(fovy, w, h):
    with pytest.raises(BadInputError, match='bad camera'):
        intrinsics_from_fovy(fovy, w, h)


def test_signed_permutations_cover_all_frames():
    # every signed permutation is accepted and yields an orthonormal frame
    for names in itertools.permutations('xyz'):
        for signs in itertools.product('+-', repeat=3):
            frame = EnvFrame.from_axes((0, 0, 0), [s + n for s, n in zip(signs, names)])
            rot = frame.rotation_base_env
            assert np.allclose(rot @ rot.T, np.eye(3))


def test_xy_gap_is_the_larger_table_plane_difference_whatever_the_heights():
    from robot_r1_ros.core.geometry import xy_gap_m
    assert xy_gap_m([0.10, 0.20, 0.50], [0.13, 0.19, 0.02]) == pytest.approx(0.03)
    assert xy_gap_m([0.0, -0.05, 0.0], [0.01, 0.05, 0.3]) == pytest.approx(0.10)
    assert xy_gap_m([0.1, 0.1, 0.0], [0.1, 0.1, 0.4]) == 0.0
