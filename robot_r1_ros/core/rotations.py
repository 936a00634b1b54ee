"""Quaternions, rotation matrices and rigid transforms (numpy only), with input checks.

Quaternions: ROS messages use ``xyzw``, MuJoCo uses ``wxyz``; every name says which. Transforms
``T_a_b`` (4x4) map coordinates in frame b to frame a: ``p_a = T_a_b @ p_b``. Bad input raises
``BadInputError`` (never numpy's ValueError/TypeError).
"""
from __future__ import annotations

import math

import numpy as np

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.types import as_xyz

# ---------------------------------------------------------------------------------------------
# Array checks


def _array(value: object, name: str) -> np.ndarray:
    """``value`` as a float array, or BadInputError (never numpy's ValueError/TypeError)."""
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise BadInputError(f'{name} must be numeric, got {value!r:.80}') from None


def _points(xyz: object, name: str) -> np.ndarray:
    """(3,) or (N, 3) finite float array."""
    arr = _array(xyz, name)
    if arr.ndim not in (1, 2) or arr.shape[-1] != 3:
        raise BadInputError(f'{name} must have shape (3,) or (N, 3), got {arr.shape}')
    if not np.all(np.isfinite(arr)):
        raise BadInputError(f'{name} must be finite')
    return arr


def _rotation(matrix: object, name: str, atol: float = 1e-6) -> np.ndarray:
    """A 3x3 orthonormal matrix (rotation or signed axis permutation)."""
    rot = _array(matrix, name)
    if rot.shape == (9,):
        rot = rot.reshape(3, 3)
    if rot.shape != (3, 3) or not np.all(np.isfinite(rot)):
        raise BadInputError(f'{name} must be a finite 3x3 matrix, got shape {rot.shape}')
    if not np.allclose(rot @ rot.T, np.eye(3), atol=atol):
        raise BadInputError(f'{name} must be orthonormal (a rotation or signed permutation)')
    return rot


# ---------------------------------------------------------------------------------------------
# Quaternions and transforms


def _quat(q: object, name: str) -> np.ndarray:
    arr = _array(q, name)
    if arr.shape != (4,) or not np.all(np.isfinite(arr)):
        raise BadInputError(f'{name} must be 4 finite numbers, got shape {arr.shape}')
    norm = float(np.linalg.norm(arr))
    if norm < 1e-12:
        raise BadInputError(f'{name} must not be the zero quaternion')
    return arr / norm


def quat_xyzw_to_wxyz(quat_xyzw: object) -> np.ndarray:
    """ROS order ``(x, y, z, w)`` to MuJoCo order ``(w, x, y, z)`` (normalised)."""
    q = _quat(quat_xyzw, 'quat_xyzw')
    return np.array([q[3], q[0], q[1], q[2]])


def quat_wxyz_to_xyzw(quat_wxyz: object) -> np.ndarray:
    """MuJoCo order ``(w, x, y, z)`` to ROS order ``(x, y, z, w)`` (normalised)."""
    q = _quat(quat_wxyz, 'quat_wxyz')
    return np.array([q[1], q[2], q[3], q[0]])


def quat_wxyz_to_matrix(quat_wxyz: object) -> np.ndarray:
    """Rotation matrix (3, 3) of a unit quaternion ``(w, x, y, z)``."""
    w, x, y, z = _quat(quat_wxyz, 'quat_wxyz')
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quat_wxyz(rotation: object) -> np.ndarray:
    """Unit quaternion ``(w, x, y, z)`` with w >= 0 of a rotation matrix (Shepperd's method)."""
    m = _rotation(rotation, 'rotation', atol=1e-5)
    if np.linalg.det(m) < 0:
        raise BadInputError('rotation must have determinant +1 to have a quaternion')
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * math.sqrt(trace + 1.0)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    quat = np.asarray(q)
    quat /= np.linalg.norm(quat)
    return -quat if quat[0] < 0 else quat


def quat_wxyz_multiply(a_wxyz: object, b_wxyz: object) -> np.ndarray:
    """Hamilton product ``a * b`` (rotation b first, then a), both ``(w, x, y, z)``."""
    w1, x1, y1, z1 = _quat(a_wxyz, 'a_wxyz')
    w2, x2, y2, z2 = _quat(b_wxyz, 'b_wxyz')
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
                     w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                     w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


def make_transform(rotation: object, translation: object) -> np.ndarray:
    """4x4 homogeneous transform from a (3, 3) rotation and a (3,) translation."""
    transform = np.eye(4)
    transform[:3, :3] = _rotation(rotation, 'rotation', atol=1e-5)
    transform[:3, 3] = as_xyz(translation, 'translation')
    return transform


def invert_transform(transform: object) -> np.ndarray:
    """Inverse of a rigid 4x4 transform."""
    t = _array(transform, 'transform')
    if t.shape != (4, 4):
        raise BadInputError(f'transform must be 4x4, got {t.shape}')
    inv = np.eye(4)
    inv[:3, :3] = t[:3, :3].T
    inv[:3, 3] = -t[:3, :3].T @ t[:3, 3]
    return inv


def transform_points(transform: object, xyz: object) -> np.ndarray:
    """Apply a 4x4 transform to (3,) or (N, 3) points."""
    t = _array(transform, 'transform')
    if t.shape != (4, 4):
        raise BadInputError(f'transform must be 4x4, got {t.shape}')
    pts = _points(xyz, 'xyz')
    return pts @ t[:3, :3].T + t[:3, 3]
