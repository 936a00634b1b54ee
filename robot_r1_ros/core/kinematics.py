"""Forward and inverse kinematics of a Franka arm in numpy (no MuJoCo, no ROS).

A :class:`RobotModel` holds an arm as data: modified DH parameters, hand mounting, TCP offset,
joint names and limits (position, velocity, acceleration), home posture and gripper opening;
:data:`PANDA` is the Franka Emika Panda from Franka's datasheet. A robot with other limits (an
FR3, a safety-reduced cell) is another ``RobotModel`` instance, passed to whatever needs it.

:class:`Kinematics` computes the TCP pose (``panda_hand_tcp``), its geometric Jacobian and a
damped-least-squares IK with the posture held towards home in the exact null space, the same
algorithm as the MuJoCo solver in ``sim/ik.py`` (which the tests use as the reference: FK and IK
agree with the MuJoCo model within 1 mm). The executor's direct backend plans with it, so the
real-robot executor never loads the simulator.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from robot_r1_ros.core.errors import BadInputError, ConfigError, OutOfWorkspaceError
from robot_r1_ros.core.rotations import matrix_to_quat_wxyz, quat_wxyz_to_matrix

# ---------------------------------------------------------------------------------------------
# The Franka Panda (modified DH parameters and limits from Franka's documentation)

PANDA_DH_MODIFIED: tuple[tuple[float, float, float], ...] = (
    # (a_m, d_m, alpha_rad) of joints 1..7, then the flange (theta = 0)
    (0.0, 0.333, 0.0),
    (0.0, 0.0, -math.pi / 2),
    (0.0, 0.316, math.pi / 2),
    (0.0825, 0.0, math.pi / 2),
    (-0.0825, 0.384, -math.pi / 2),
    (0.0, 0.0, math.pi / 2),
    (0.088, 0.0, math.pi / 2),
    (0.0, 0.107, 0.0),
)
"""Craig's convention: T_i = RotX(alpha) TransX(a) RotZ(theta) TransZ(d)."""

PANDA_TCP_OFFSET_M = 0.1034
"""Distance from the flange to ``panda_hand_tcp`` along the flange z axis."""

PANDA_HAND_YAW_RAD = -math.pi / 4
"""The hand is mounted rotated -45 degrees about the flange z axis."""

PANDA_READY_Q_RAD: tuple[float, ...] = (0.0, -math.pi / 4, 0.0, -3 * math.pi / 4, 0.0,
                                        math.pi / 2, math.pi / 4)
"""The "ready" configuration of Franka's examples (also MoveIt's ``ready`` state)."""

PANDA_JOINT_LIMITS_RAD: tuple[tuple[float, ...], tuple[float, ...]] = (
    (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175, -2.8973),
    (2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973),
)
"""(lower, upper) joint position limits from Franka's datasheet."""

PANDA_MAX_VELOCITY_RAD_S: tuple[float, ...] = (2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61)
"""Maximum joint velocities of the Panda, rad/s (datasheet)."""
PANDA_MAX_ACCELERATION_RAD_S2: tuple[float, ...] = (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0)
"""Maximum joint accelerations of the Panda, rad/s^2 (datasheet)."""
PANDA_HOME_Q_RAD: tuple[float, ...] = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
"""The home ("ready") posture the IK's null-space term pulls towards (the sim's HOME)."""


def _floats(values: Sequence[float], n: int, name: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ConfigError(f'{name} must be {n} numbers, got {values!r}', name) from None
    if len(out) != n or not all(math.isfinite(v) for v in out):
        raise ConfigError(f'{name} must be {n} finite numbers, got {values!r}', name)
    return out


@dataclass(frozen=True)
class RobotModel:
    """A 7-joint Franka arm with its hand, as data.

    Attributes:
        name: Model name (for logs).
        joint_prefix: Joint name prefix (``panda``; ``fr3`` for franka_ros2 on an FR3).
        dh_modified: ``(a_m, d_m, alpha_rad)`` of joints 1..7, then the flange (Craig).
        hand_yaw_rad: Hand mounting rotation about the flange z axis.
        tcp_offset_m: Flange-to-TCP distance along the flange z axis.
        lower_rad: Joint position lower limits (7).
        upper_rad: Joint position upper limits (7).
        max_velocity_rad_s: Joint velocity limits (7).
        max_acceleration_rad_s2: Joint acceleration limits (7).
        home_q_rad: Home posture (the IK's null-space target), inside the limits.
        gripper_open_width_m: Distance between the fingers when fully open.
    """

    name: str = 'panda'
    joint_prefix: str = 'panda'
    dh_modified: tuple[tuple[float, float, float], ...] = PANDA_DH_MODIFIED
    hand_yaw_rad: float = PANDA_HAND_YAW_RAD
    tcp_offset_m: float = PANDA_TCP_OFFSET_M
    lower_rad: tuple[float, ...] = PANDA_JOINT_LIMITS_RAD[0]
    upper_rad: tuple[float, ...] = PANDA_JOINT_LIMITS_RAD[1]
    max_velocity_rad_s: tuple[float, ...] = PANDA_MAX_VELOCITY_RAD_S
    max_acceleration_rad_s2: tuple[float, ...] = PANDA_MAX_ACCELERATION_RAD_S2
    home_q_rad: tuple[float, ...] = PANDA_HOME_Q_RAD
    gripper_open_width_m: float = 0.08

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        dh = tuple(_floats(row, 3, 'dh_modified') for row in self.dh_modified)
        if len(dh) != 8:
            raise ConfigError(f'dh_modified needs 8 rows (7 joints + flange), got {len(dh)}',
                              'dh_modified')
        set_(self, 'dh_modified', dh)
        for name in ('lower_rad', 'upper_rad', 'max_velocity_rad_s', 'max_acceleration_rad_s2',
                     'home_q_rad'):
            set_(self, name, _floats(getattr(self, name), 7, name))
        for name in ('hand_yaw_rad', 'tcp_offset_m', 'gripper_open_width_m'):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ConfigError(f'{name} must be finite, got {value!r}', name)
            set_(self, name, value)
        if any(lo >= hi for lo, hi in zip(self.lower_rad, self.upper_rad)):
            raise ConfigError('every lower_rad must be below its upper_rad', 'lower_rad')
        if any(v <= 0 for v in (*self.max_velocity_rad_s, *self.max_acceleration_rad_s2)):
            raise ConfigError('velocity and acceleration limits must be > 0',
                              'max_velocity_rad_s')
        if any(not lo <= q <= hi for q, lo, hi in zip(self.home_q_rad, self.lower_rad,
                                                      self.upper_rad)):
            raise ConfigError('home_q_rad must lie inside the joint limits', 'home_q_rad')
        if self.gripper_open_width_m <= 0:
            raise ConfigError('gripper_open_width_m must be > 0', 'gripper_open_width_m')
        if not self.joint_prefix or not self.joint_prefix.isidentifier():
            raise ConfigError(f'joint_prefix must be a name, got {self.joint_prefix!r}',
                              'joint_prefix')

    @property
    def arm_joint_names(self) -> tuple[str, ...]:
        """``<prefix>_joint1`` .. ``<prefix>_joint7``."""
        return tuple(f'{self.joint_prefix}_joint{i}' for i in range(1, 8))

    @property
    def finger_joint_names(self) -> tuple[str, ...]:
        """``<prefix>_finger_joint1``, ``<prefix>_finger_joint2``."""
        return (f'{self.joint_prefix}_finger_joint1', f'{self.joint_prefix}_finger_joint2')


PANDA = RobotModel()
"""The Franka Emika Panda (datasheet limits)."""


class IKError(OutOfWorkspaceError):
    """No joint configuration reaches the target within tolerance.

    Attributes:
        q: Best joint configuration found (rad, 7).
        pos_err_m: Remaining position error, metres.
        rot_err_rad: Remaining orientation error, radians (0 for position-only targets).
    """

    def __init__(self, message: str, q: np.ndarray, pos_err_m: float, rot_err_rad: float):
        super().__init__(message)
        self.q, self.pos_err_m, self.rot_err_rad = q, pos_err_m, rot_err_rad


@dataclass(frozen=True)
class IKResult:
    """Joint solution and residuals of one IK solve."""

    q: np.ndarray
    pos_err_m: float
    rot_err_rad: float
    iterations: int
    converged: bool = field(default=False)


def _dh(a: float, d: float, alpha: float, theta: float) -> np.ndarray:
    """Craig's modified DH transform: RotX(alpha) TransX(a) RotZ(theta) TransZ(d)."""
    ca, sa, ct, st = math.cos(alpha), math.sin(alpha), math.cos(theta), math.sin(theta)
    return np.array([[ct, -st, 0.0, a],
                     [st * ca, ct * ca, -sa, -d * sa],
                     [st * sa, ct * sa, ca, d * ca],
                     [0.0, 0.0, 0.0, 1.0]])


def _rotation_error(target_wxyz: np.ndarray, current_wxyz: np.ndarray) -> np.ndarray:
    """Rotation vector (base frame) taking ``current`` to ``target`` (shortest way)."""
    w0, x0, y0, z0 = target_wxyz
    w1, x1, y1, z1 = current_wxyz[0], -current_wxyz[1], -current_wxyz[2], -current_wxyz[3]
    w = w0 * w1 - x0 * x1 - y0 * y1 - z0 * z1
    v = np.array([w0 * x1 + x0 * w1 + y0 * z1 - z0 * y1,
                  w0 * y1 - x0 * z1 + y0 * w1 + z0 * x1,
                  w0 * z1 + x0 * y1 - y0 * x1 + z0 * w1])
    if w < 0.0:
        w, v = -w, -v
    norm = float(np.linalg.norm(v))
    if norm < 1e-12:
        return np.zeros(3)
    return v * (2.0 * math.atan2(norm, w) / norm)


def validate_ik_target(xyz_base_m: object, quat_wxyz: object, q_init: object,
                       home: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """An IK target as arrays: position (3,), unit quaternion or None, start q (7,).

    Raises:
        BadInputError: A shape is wrong or a value is not finite.
    """
    pos = np.asarray(xyz_base_m, float).reshape(-1)
    if pos.shape != (3,) or not np.all(np.isfinite(pos)):
        raise BadInputError(f'xyz_base_m must be 3 finite values, got {xyz_base_m!r}')
    quat = None
    if quat_wxyz is not None:
        quat = np.asarray(quat_wxyz, float).reshape(-1)
        if quat.shape != (4,) or not np.all(np.isfinite(quat)) or np.linalg.norm(quat) < 1e-9:
            raise BadInputError(f'quat_wxyz must be 4 finite values, got {quat_wxyz!r}')
        quat = quat / np.linalg.norm(quat)
    q = np.array(home if q_init is None else q_init, float).reshape(-1)
    if q.shape != (7,) or not np.all(np.isfinite(q)):
        raise BadInputError(f'q_init must be 7 finite values, got {q_init!r}')
    return pos, quat, q


class Kinematics:
    """FK, Jacobian and damped-least-squares IK of a :class:`RobotModel`'s TCP.

    Stateless apart from its settings, so one instance may be shared between threads.

    Args:
        robot: The arm (default :data:`PANDA`).
        damping: DLS damping (the larger, the smoother near singularities).
        null_gain: Gain of the posture term pulling towards home in the null space.
    """

    def __init__(self, robot: RobotModel = PANDA, damping: float = 0.05,
                 null_gain: float = 0.1) -> None:
        self.robot = robot
        self.lower = np.array(robot.lower_rad)
        self.upper = np.array(robot.upper_rad)
        self.home = np.array(robot.home_q_rad)
        self.lam2, self.k0 = damping ** 2, null_gain
        c, s = math.cos(robot.hand_yaw_rad), math.sin(robot.hand_yaw_rad)
        self._flange_T_tcp = np.array([[c, -s, 0.0, 0.0], [s, c, 0.0, 0.0],
                                       [0.0, 0.0, 1.0, robot.tcp_offset_m],
                                       [0.0, 0.0, 0.0, 1.0]])

    def _joints(self, q_rad: object) -> np.ndarray:
        try:
            q = np.asarray(q_rad, dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise BadInputError(f'q_rad must be numeric: 7 joint angles, got {q_rad!r}') from None
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise BadInputError(f'q_rad must be 7 finite joint angles, got shape {q.shape}')
        return q

    def _chain(self, q_rad: object) -> list[np.ndarray]:
        """``T_base_joint_i`` for i = 1..7 (z = the joint axis), then ``T_base_flange``."""
        q = self._joints(q_rad)
        transform = np.eye(4)
        chain = []
        for (a, d, alpha), theta in zip(self.robot.dh_modified, (*q, 0.0)):
            transform = transform @ _dh(a, d, alpha, theta)
            chain.append(transform)
        return chain

    def frames(self, q_rad: object, tcp_offset_m: float | None = None
               ) -> tuple[list[np.ndarray], np.ndarray]:
        """Joint frames ``T_base_joint_i`` (i = 1..7, z = the joint axis) and ``T_base_tcp``."""
        chain = self._chain(q_rad)
        flange_T_tcp = self._flange_T_tcp
        if tcp_offset_m is not None:
            flange_T_tcp = flange_T_tcp.copy()
            flange_T_tcp[2, 3] = float(tcp_offset_m)
        return chain[:7], chain[7] @ flange_T_tcp

    def tcp_transform(self, q_rad: object, tcp_offset_m: float | None = None) -> np.ndarray:
        """``T_base_tcp`` (4, 4); ``tcp_offset_m`` overrides the model's (0: the flange)."""
        return self.frames(q_rad, tcp_offset_m)[1]

    def flange_transform(self, q_rad: object) -> np.ndarray:
        """``T_base_flange`` (4, 4) (``panda_link8``)."""
        return self._chain(q_rad)[7]

    def fk_matrix(self, q_rad: object) -> tuple[np.ndarray, np.ndarray]:
        """``(xyz_base_m, R_base_tcp)`` of the TCP."""
        t = self.tcp_transform(q_rad)
        return t[:3, 3].copy(), t[:3, :3].copy()

    def fk(self, q_rad: object) -> tuple[np.ndarray, np.ndarray]:
        """``(xyz_base_m, quat_wxyz)`` of the TCP."""
        xyz, rot = self.fk_matrix(q_rad)
        return xyz, matrix_to_quat_wxyz(rot)

    def jacobian(self, q_rad: object) -> np.ndarray:
        """Geometric Jacobian (6, 7) of the TCP in the base frame: linear rows, then angular."""
        joints, tcp = self.frames(q_rad)
        return self._jacobian(joints, tcp[:3, 3])

    @staticmethod
    def _jacobian(joints: list[np.ndarray], p_tcp: np.ndarray) -> np.ndarray:
        z = np.stack([t[:3, 2] for t in joints], axis=1)
        o = np.stack([t[:3, 3] for t in joints], axis=1)
        return np.vstack([np.cross(z.T, (p_tcp[:, None] - o).T).T, z])

    def solve(self, xyz_base_m: object, quat_wxyz: object = None, q_init: object = None, *,
              pos_tol_m: float = 1e-4, rot_tol_rad: float = 1e-3,
              max_iters: int = 300) -> IKResult:
        """Damped least squares on the TCP Jacobian, posture in the exact null space.

        Args:
            xyz_base_m: Target TCP position (3,).
            quat_wxyz: Target TCP orientation, or None for a position-only target.
            q_init: Start configuration (7,), default home.
            pos_tol_m: Position tolerance.
            rot_tol_rad: Orientation tolerance.
            max_iters: Iteration cap.

        Raises:
            BadInputError: Malformed target (shape, NaN).
        """
        pos, quat, q = validate_ik_target(xyz_base_m, quat_wxyz, q_init, self.home)
        q = np.clip(q, self.lower, self.upper)
        eye7 = np.eye(7)
        pos_err = rot_err = math.inf
        it = 0
        for it in range(1, max_iters + 1):
            joints, tcp = self.frames(q)
            p = tcp[:3, 3]
            err_p = pos - p
            pos_err = float(np.linalg.norm(err_p))
            if quat is not None:
                err_r = _rotation_error(quat, matrix_to_quat_wxyz(tcp[:3, :3]))
                rot_err = float(np.linalg.norm(err_r))
            else:
                rot_err = 0.0
            if pos_err < pos_tol_m and rot_err < rot_tol_rad:
                break
            jac = self._jacobian(joints, p)
            if quat is not None:
                err = np.concatenate([err_p, err_r])
            else:
                jac, err = jac[:3], err_p
            dq = jac.T @ np.linalg.solve(jac @ jac.T + self.lam2 * np.eye(len(err)), err)
            # The exact projector matters: the damped one stalls at mm-level errors.
            dq += (eye7 - np.linalg.pinv(jac) @ jac) @ (self.k0 * (self.home - q))
            q = np.clip(q + dq, self.lower, self.upper)
        converged = pos_err < pos_tol_m and rot_err < rot_tol_rad
        return IKResult(q=q, pos_err_m=pos_err, rot_err_rad=rot_err, iterations=it,
                        converged=bool(converged))


@functools.lru_cache(maxsize=8)
def kinematics_for(robot: RobotModel = PANDA) -> Kinematics:
    """A shared :class:`Kinematics` of ``robot`` (models are frozen, so cacheable)."""
    return Kinematics(robot)


def solve_ik(kinematics: Any, xyz_base_m: object, quat_wxyz: object = None,
             q_init: object = None, *, pos_tol_m: float = 1e-4, rot_tol_rad: float = 1e-3,
             accept_pos_err_m: float = 2e-3, accept_rot_err_rad: float = 2e-2,
             max_iters: int = 300, restarts: int = 4, seed: int = 0) -> np.ndarray:
    """Joint configuration (7,) placing the TCP at ``xyz_base_m`` (and ``quat_wxyz``).

    Starts from ``q_init`` (default home); if that does not converge, retries from up to
    ``restarts`` seeded random configurations and keeps the one closest to ``q_init``.
    ``kinematics`` is a :class:`Kinematics` (None: the Panda's) or any solver with ``solve``,
    ``lower``, ``upper`` and ``home`` (the MuJoCo reference in ``sim/ik.py``).

    Raises:
        IKError: The target is out of reach.
        BadInputError: Malformed input.
    """
    kin = kinematics or kinematics_for(PANDA)
    best = res = kin.solve(xyz_base_m, quat_wxyz, q_init, pos_tol_m=pos_tol_m,
                           rot_tol_rad=rot_tol_rad, max_iters=max_iters)

    def ok(r: IKResult) -> bool:
        return r.pos_err_m <= accept_pos_err_m and r.rot_err_rad <= accept_rot_err_rad

    if not ok(res) and restarts > 0:
        rng = np.random.default_rng(seed)
        ref = np.asarray(kin.home if q_init is None else q_init, float)
        candidates = []
        for _ in range(restarts):
            r = kin.solve(xyz_base_m, quat_wxyz, rng.uniform(kin.lower, kin.upper),
                          pos_tol_m=pos_tol_m, rot_tol_rad=rot_tol_rad, max_iters=max_iters)
            if ok(r):
                candidates.append(r)
            elif r.pos_err_m + r.rot_err_rad < best.pos_err_m + best.rot_err_rad:
                best = r
        if candidates:
            best = min(candidates, key=lambda r: float(np.linalg.norm(r.q - ref)))
    if not ok(best):
        raise IKError(f'IK did not reach the target: position error {best.pos_err_m * 1e3:.1f} '
                      f'mm, orientation error {math.degrees(best.rot_err_rad):.1f} deg',
                      best.q, best.pos_err_m, best.rot_err_rad)
    return best.q


def top_down_quat(yaw_rad: float = 0.0) -> np.ndarray:
    """``quat_wxyz`` of the TCP pointing straight down, turned by ``yaw_rad`` about base z."""
    yaw = np.array([[math.cos(yaw_rad), -math.sin(yaw_rad), 0.0],
                    [math.sin(yaw_rad), math.cos(yaw_rad), 0.0], [0.0, 0.0, 1.0]])
    down = quat_wxyz_to_matrix([0.0, 1.0, 0.0, 0.0])
    return matrix_to_quat_wxyz(yaw @ down)


# ---------------------------------------------------------------------------------------------
# The Panda's FK as functions (``core.geometry`` re-exports them)


def panda_flange_transform(q_rad: object) -> np.ndarray:
    """T_base_flange (4, 4) of the Panda for 7 joint angles (``panda_link8``)."""
    return kinematics_for(PANDA).flange_transform(q_rad)


def panda_tcp_transform(q_rad: object, tcp_offset_m: float = PANDA_TCP_OFFSET_M) -> np.ndarray:
    """T_base_tcp (4, 4): the flange, yawed by the hand mounting, shifted along its z axis."""
    return kinematics_for(PANDA).tcp_transform(q_rad, tcp_offset_m)


def panda_fk(q_rad: object, tcp_offset_m: float = PANDA_TCP_OFFSET_M
             ) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics of the Franka Panda to its TCP (``panda_hand_tcp``).

    Args:
        q_rad: The 7 arm joint angles in radians.
        tcp_offset_m: Flange-to-TCP distance along the flange z axis (0 gives the flange point).

    Returns:
        ``(xyz_base_m, R_base_tcp)``: TCP position (3,) and orientation (3, 3) in the base frame.

    Raises:
        BadInputError: ``q_rad`` is not 7 finite numbers.
    """
    transform = panda_tcp_transform(q_rad, tcp_offset_m)
    return transform[:3, 3].copy(), transform[:3, :3].copy()


def panda_flange_fk(q_rad: object) -> tuple[np.ndarray, np.ndarray]:
    """``(xyz_base_m, R_base_flange)`` of the flange (``panda_link8``)."""
    transform = panda_flange_transform(q_rad)
    return transform[:3, 3].copy(), transform[:3, :3].copy()
