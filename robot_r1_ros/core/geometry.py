"""Frames, workspace and camera projection (numpy only); quaternions and transforms come from
``core.rotations``, the Panda FK from ``core.kinematics`` (both re-exported here).

Conventions:

- Robot base frame ``panda_link0``: x forward (away from the robot base), y left, z up; metres.
- Env frame (the paper's "environment metadata" frame, :class:`EnvFrame`): origin at a reference
  point (default: the table centre), axes given by a rotation ``R_base_env`` (columns = env axes
  in base coordinates). The default is aligned with the base frame, and the axis words assume a
  front-view camera standing in front of the robot and looking back at it: +x points toward the
  camera ("front of table"), +y is the camera's right (the robot's left), +z is up. This matches
  the paper's wording ("X-axis: Front of table (positive) to back of table (negative)", "Y-axis:
  Left (negative) to right (positive)") and its movement words (+x "forward", +y "right", +z
  "up"). For another camera placement, rotate the env frame so these words stay true in the image.
- Quaternions: ROS messages use ``xyzw``, MuJoCo uses ``wxyz``; every name says which.
- Transforms ``T_a_b`` (4x4) map coordinates in frame b to frame a: ``p_a = T_a_b @ p_b``.
- Cameras: :func:`project_points` takes the camera pose ``T_base_cam`` in the OpenCV convention
  (x right, y down, z forward) or the OpenGL/MuJoCo one (x right, y up, looking along -z).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from robot_r1_ros.core.errors import BadInputError, ConfigError, OutOfWorkspaceError
from robot_r1_ros.core.types import XYZ, as_xyz
from robot_r1_ros.core.rotations import (_array, _points, _rotation,  # noqa: F401  (API)
                                        invert_transform, make_transform, matrix_to_quat_wxyz,
                                        quat_wxyz_multiply, quat_wxyz_to_matrix,
                                        quat_wxyz_to_xyzw, quat_xyzw_to_wxyz, transform_points)
# The Panda's kinematics live in core.kinematics (one FK); re-exported here for their callers.
from robot_r1_ros.core.kinematics import (PANDA_DH_MODIFIED,  # noqa: F401  (API)
                                          PANDA_HAND_YAW_RAD, PANDA_JOINT_LIMITS_RAD,
                                          PANDA_READY_Q_RAD, PANDA_TCP_OFFSET_M, panda_fk,
                                          panda_flange_fk, panda_flange_transform,
                                          panda_tcp_transform)

# ---------------------------------------------------------------------------------------------
# Env frame

DEFAULT_AXIS_WORDS: tuple[tuple[str, str], ...] = (
    ('back of table', 'front of table, toward the camera'),
    ('left', 'right'),
    ('down toward the table', 'up toward the ceiling'),
)
"""(negative, positive) direction words per env axis, for the prompt's axis lines."""

_AXIS_SUFFIX = ('', ', as seen from the camera', '')
_AXIS_NAMES = ('x', 'y', 'z')


@dataclass(frozen=True)
class EnvFrame:
    """The paper's environment frame: a reference origin and named axis directions.

    Attributes:
        origin_base_m: The reference point (e.g. the table centre) in the base frame, metres.
        R_base_env: 3x3 rotation (or signed axis permutation) whose columns are the env axes in
            base coordinates, stored row-major as nested tuples. Identity by default.
        reference_text: What the origin is, in words (shown in the prompt).
        axis_words: ``(negative, positive)`` words per env axis (shown in the prompt).
    """

    origin_base_m: XYZ = (0.35, 0.0, 0.0)
    R_base_env: tuple[tuple[float, float, float], ...] = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0),
                                                          (0.0, 0.0, 1.0))
    reference_text: str = 'the center of the table surface'
    axis_words: tuple[tuple[str, str], ...] = DEFAULT_AXIS_WORDS
    _rot: np.ndarray = field(init=False, repr=False, compare=False)
    _origin: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, 'origin_base_m', as_xyz(self.origin_base_m, 'origin_base_m'))
        rot = _rotation(self.R_base_env, 'R_base_env')
        object.__setattr__(self, 'R_base_env', tuple(tuple(float(v) for v in row) for row in rot))
        words = tuple((str(neg), str(pos)) for neg, pos in self.axis_words)
        if len(words) != 3:
            raise BadInputError(f'axis_words needs 3 (negative, positive) pairs, got {len(words)}')
        object.__setattr__(self, 'axis_words', words)
        object.__setattr__(self, '_rot', rot)
        object.__setattr__(self, '_origin', np.array(self.origin_base_m))

    @classmethod
    def from_axes(cls, origin_base_m: Sequence[float], axes: Sequence[str] = ('+x', '+y', '+z'),
                  **kwargs: object) -> 'EnvFrame':
        """Env frame whose axes are signed base axes, e.g. ``('-y', '+x', '+z')``.

        Args:
            origin_base_m: The reference point in the base frame.
            axes: For env x, y, z: which base axis (with sign) it points along.
            **kwargs: Further fields (``reference_text``, ``axis_words``).

        Raises:
            ConfigError: ``axes`` is not a signed permutation of x, y, z (field ``env_axes``).
        """
        rot = np.zeros((3, 3))
        used = set()
        if len(axes) != 3:
            raise ConfigError(f'env_axes needs 3 entries like "+x", got {list(axes)}', 'env_axes')
        for col, spec in enumerate(axes):
            text = str(spec).strip().lower()
            sign = -1.0 if text.startswith('-') else 1.0
            name = text.lstrip('+-')
            if name not in _AXIS_NAMES or name in used:
                raise ConfigError('env_axes must be a signed permutation of x, y, z such as '
                                  f'["+x", "+y", "+z"], got {list(axes)}', 'env_axes')
            used.add(name)
            rot[_AXIS_NAMES.index(name), col] = sign
        return cls(origin_base_m=as_xyz(origin_base_m, 'origin_base_m'),
                   R_base_env=tuple(map(tuple, rot)), **kwargs)  # type: ignore[arg-type]

    @property
    def rotation_base_env(self) -> np.ndarray:
        """``R_base_env`` as a (3, 3) array (copy)."""
        return self._rot.copy()

    def base_to_env(self, xyz_base_m: object) -> np.ndarray:
        """Points from the base frame to the env frame; (3,) or (N, 3) in, same shape out."""
        pts = _points(xyz_base_m, 'xyz_base_m')
        return (pts - self._origin) @ self._rot

    def env_to_base(self, xyz_env_m: object) -> np.ndarray:
        """Points from the env frame to the base frame; (3,) or (N, 3) in, same shape out."""
        pts = _points(xyz_env_m, 'xyz_env_m')
        return pts @ self._rot.T + self._origin

    def delta_base_to_env(self, delta_base_m: object) -> np.ndarray:
        """A displacement (no origin shift) from base to env axes."""
        return _points(delta_base_m, 'delta_base_m') @ self._rot

    def axis_lines(self) -> tuple[str, str, str]:
        """One prompt line per env axis, e.g. ``'Y-axis: left (negative) to right (positive)'``."""
        return tuple(  # type: ignore[return-value]
            f'{name.upper()}-axis: {neg} (negative) to {pos} (positive){suffix}'
            for name, (neg, pos), suffix in zip(_AXIS_NAMES, self.axis_words, _AXIS_SUFFIX))


# ---------------------------------------------------------------------------------------------
# Workspace


@dataclass(frozen=True)
class Workspace:
    """An axis-aligned box in the base frame where targets are allowed.

    Attributes:
        min_xyz_base_m: Lower corner, metres.
        max_xyz_base_m: Upper corner, metres.
    """

    min_xyz_base_m: XYZ
    max_xyz_base_m: XYZ

    def __post_init__(self) -> None:
        lo = as_xyz(self.min_xyz_base_m, 'min_xyz_base_m')
        hi = as_xyz(self.max_xyz_base_m, 'max_xyz_base_m')
        for axis, a, b in zip(_AXIS_NAMES, lo, hi):
            if not a < b:
                raise BadInputError(f'workspace {axis}: min {a} must be below max {b}')
        object.__setattr__(self, 'min_xyz_base_m', lo)
        object.__setattr__(self, 'max_xyz_base_m', hi)

    @property
    def size_m(self) -> np.ndarray:
        """Edge lengths (3,)."""
        return np.subtract(self.max_xyz_base_m, self.min_xyz_base_m)

    @property
    def center_base_m(self) -> np.ndarray:
        """Centre point (3,)."""
        return (np.asarray(self.min_xyz_base_m) + np.asarray(self.max_xyz_base_m)) / 2.0

    def check(self, xyz_base_m: object) -> str | None:
        """Why a point is not allowed, or None when it is inside (bounds inclusive).

        Returns:
            e.g. ``'z=0.612 m is above the workspace maximum 0.600 m'``, or None.
        """
        try:
            pts = _points(xyz_base_m, 'xyz_base_m')
        except BadInputError as exc:
            return str(exc)
        if pts.ndim != 1:
            return f'expected one point of shape (3,), got {pts.shape}'
        for axis, value, lo, hi in zip(_AXIS_NAMES, pts, self.min_xyz_base_m,
                                       self.max_xyz_base_m):
            if value < lo:
                return f'{axis}={value:.3f} m is below the workspace minimum {lo:.3f} m'
            if value > hi:
                return f'{axis}={value:.3f} m is above the workspace maximum {hi:.3f} m'
        return None

    def contains(self, xyz_base_m: object) -> bool | np.ndarray:
        """True where inside (bounds inclusive); (3,) -> bool, (N, 3) -> (N,) bool array."""
        pts = _points(xyz_base_m, 'xyz_base_m')
        inside = np.all((pts >= self.min_xyz_base_m) & (pts <= self.max_xyz_base_m), axis=-1)
        return bool(inside) if pts.ndim == 1 else inside

    def require(self, xyz_base_m: object) -> np.ndarray:
        """The point as an array if inside.

        Raises:
            OutOfWorkspaceError: With the reason from :meth:`check`.
        """
        reason = self.check(xyz_base_m)
        if reason is not None:
            raise OutOfWorkspaceError(reason)
        return np.asarray(xyz_base_m, dtype=float)

    def clip(self, xyz_base_m: object) -> np.ndarray:
        """The nearest point(s) inside the box; (3,) or (N, 3)."""
        pts = _points(xyz_base_m, 'xyz_base_m')
        return np.clip(pts, self.min_xyz_base_m, self.max_xyz_base_m)

    def sample(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` points uniformly inside the box, shape (n, 3)."""
        return rng.uniform(self.min_xyz_base_m, self.max_xyz_base_m, size=(int(n), 3))


# ---------------------------------------------------------------------------------------------
# Camera projection

# OpenGL/MuJoCo camera axes (x right, y up, looking along -z) -> OpenCV (x right, y down, z fwd).
_GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def intrinsics_from_fovy(fovy_deg: float, width_px: int, height_px: int) -> np.ndarray:
    """Pinhole K (3, 3) of a MuJoCo camera: vertical field of view, square pixels, centred.

    Pixel (i, j) covers [i, i + 1) x [j, j + 1), so the principal point is (W/2, H/2).
    """
    if not 0.0 < float(fovy_deg) < 180.0 or int(width_px) <= 0 or int(height_px) <= 0:
        raise BadInputError(f'bad camera: fovy_deg={fovy_deg}, size={width_px}x{height_px}')
    f = 0.5 * height_px / math.tan(math.radians(fovy_deg) / 2.0)
    return np.array([[f, 0.0, width_px / 2.0], [0.0, f, height_px / 2.0], [0.0, 0.0, 1.0]])


def project_points(xyz_base_m: object, K: object, T_base_cam: object,
                   convention: str = 'opencv') -> tuple[np.ndarray, np.ndarray]:
    """Project base-frame points into an image.

    Args:
        xyz_base_m: (3,) or (N, 3) points in the base frame.
        K: (3, 3) intrinsics.
        T_base_cam: (4, 4) camera pose in the base frame (maps camera to base coordinates).
        convention: ``'opencv'`` (z forward, y down) or ``'opengl'`` (MuJoCo: looks along -z,
            y up) for the camera axes of ``T_base_cam``.

    Returns:
        ``(uv_px, depth_m)``: (N, 2) pixel coordinates (u right, v down) and (N,) depth along
        the optical axis. Points at or behind the camera get ``nan`` pixels and depth <= 0.

    Raises:
        BadInputError: Bad shapes or an unknown convention.
    """
    pts = np.atleast_2d(_points(xyz_base_m, 'xyz_base_m'))
    k = _array(K, 'K')
    if k.shape != (3, 3):
        raise BadInputError(f'K must be 3x3, got {k.shape}')
    if convention not in ('opencv', 'opengl'):
        raise BadInputError(f"convention must be 'opencv' or 'opengl', got {convention!r}")
    cam = transform_points(invert_transform(T_base_cam), pts)
    if convention == 'opengl':
        cam = cam @ _GL_TO_CV.T
    depth = cam[:, 2]
    uv = np.full((len(pts), 2), np.nan)
    front = depth > 1e-9
    proj = cam[front] @ k.T
    uv[front] = proj[:, :2] / proj[:, 2:3]
    return uv, depth


def l1_distance_m(a_xyz_m: object, b_xyz_m: object) -> float:
    """Sum of absolute coordinate differences of two points (metres)."""
    return float(np.abs(_points(a_xyz_m, 'a') - _points(b_xyz_m, 'b')).sum())


def xy_gap_m(a_xyz_m: Sequence[float], b_xyz_m: Sequence[float]) -> float:
    """The larger of the x and the y difference of two points (metres): how far apart they
    stand on the table, whatever their heights."""
    return max(abs(float(a_xyz_m[0]) - float(b_xyz_m[0])),
               abs(float(a_xyz_m[1]) - float(b_xyz_m[1])))
