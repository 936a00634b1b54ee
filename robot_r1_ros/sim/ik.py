"""Inverse kinematics of the Panda TCP with MuJoCo Jacobians (damped least squares).

Runs on a private, robot-only kinematic copy of the model (``mj_kinematics`` on its own
``MjData``): no physics, no side effects on any simulation.  The executor's direct backend can
call :func:`solve_ik` without a scene::

    from robot_r1_ros.sim.ik import solve_ik, top_down_quat
    q = solve_ik(None, xyz_base_m=[0.5, 0.0, 0.2], quat_wxyz=top_down_quat(0.3), q_init=q_now)

A target the arm cannot reach raises :class:`IKError` (a subclass of the core's
``OutOfWorkspaceError`` when the core is installed), carrying the best ``q`` found and the
residuals.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass

import robot_r1_ros.sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import mujoco
import numpy as np

from robot_r1_ros.sim.scene import (ARM_JOINTS, HOME_Q_RAD, TCP_SITE, PandaScene,
                                    compile_spec, panda_spec)

try:  # the core package is optional for the sim layer; use its error type when present
    from robot_r1_ros.core.errors import OutOfWorkspaceError as _IKBase
except ImportError:  # pragma: no cover - core not installed
    _IKBase = ValueError


class IKError(_IKBase):
    """No joint configuration reaches the target within tolerance.

    Attributes:
        q: best joint configuration found (rad, 7).
        pos_err_m: remaining position error, metres.
        rot_err_rad: remaining orientation error, radians (0 for position-only targets).
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
    converged: bool


def top_down_quat(yaw_rad: float = 0.0) -> np.ndarray:
    """``quat_wxyz`` of the TCP pointing straight down (the HOME orientation), turned by
    ``yaw_rad`` about the base z axis."""
    q = np.zeros(4)
    mujoco.mju_mulQuat(q, [np.cos(yaw_rad / 2), 0.0, 0.0, np.sin(yaw_rad / 2)],
                       [0.0, 1.0, 0.0, 0.0])
    return q


class PandaKinematics:
    """Robot-only kinematic model: forward kinematics, Jacobians and DLS IK of the TCP.

    Thread-safe: each instance holds one private ``MjData`` guarded by a lock.

    Args:
        model: an ``MjModel`` that contains the Panda joints and the ``TCP`` site (a scene
            model works: only the arm joints are touched); ``None`` builds the robot alone.
        damping: DLS damping (the larger, the smoother near singularities).
        null_gain: gain of the posture term pulling towards HOME in the null space.
    """

    def __init__(self, model: mujoco.MjModel | None = None, damping: float = 0.05,
                 null_gain: float = 0.1) -> None:
        self.model = model if model is not None else compile_spec(panda_spec())
        self.data = mujoco.MjData(self.model)
        m = self.model
        jids = [m.joint(j).id for j in ARM_JOINTS]
        self.qadr = m.jnt_qposadr[jids]
        self.dadr = m.jnt_dofadr[jids]
        self.lower, self.upper = m.jnt_range[jids].T.copy()
        self.site = m.site(TCP_SITE).id
        self.lam2, self.k0 = damping ** 2, null_gain
        self._lock = threading.Lock()

    def fk(self, q_rad) -> tuple[np.ndarray, np.ndarray]:
        """(xyz_base_m, quat_wxyz) of the TCP for arm joints ``q_rad``."""
        with self._lock:
            return self._fk(np.asarray(q_rad, float))

    def fk_matrix(self, q_rad) -> tuple[np.ndarray, np.ndarray]:
        """(xyz_base_m, R_base_tcp 3x3) of the TCP for arm joints ``q_rad``."""
        with self._lock:
            self._fk(np.asarray(q_rad, float))
            return (self.data.site_xpos[self.site].copy(),
                    self.data.site_xmat[self.site].reshape(3, 3).copy())

    def _fk(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.data.qpos[self.qadr] = q
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)         # mj_jacSite needs this as well
        quat = np.zeros(4)
        mujoco.mju_mat2Quat(quat, self.data.site_xmat[self.site])
        return self.data.site_xpos[self.site].copy(), quat

    def solve(self, xyz_base_m, quat_wxyz=None, q_init=None, *, pos_tol_m: float = 1e-4,
              rot_tol_rad: float = 1e-3, max_iters: int = 300) -> IKResult:
        """Damped least squares on the TCP Jacobian, posture in the exact null space.

        Args:
            xyz_base_m: target TCP position (3,).
            quat_wxyz: target TCP orientation, or ``None`` for a position-only target.
            q_init: start configuration (7,), default HOME.
            pos_tol_m, rot_tol_rad: convergence tolerances.
            max_iters: iteration cap.

        Raises:
            ValueError: malformed target (shape, NaN).
        """
        pos = np.asarray(xyz_base_m, float).reshape(-1)
        if pos.shape != (3,) or not np.all(np.isfinite(pos)):
            raise ValueError(f'xyz_base_m must be 3 finite values, got {xyz_base_m!r}')
        quat = None
        if quat_wxyz is not None:
            quat = np.asarray(quat_wxyz, float).reshape(-1)
            if quat.shape != (4,) or not np.all(np.isfinite(quat)) or np.linalg.norm(quat) < 1e-9:
                raise ValueError(f'quat_wxyz must be 4 finite values, got {quat_wxyz!r}')
            quat = quat / np.linalg.norm(quat)
        q = np.array(HOME_Q_RAD if q_init is None else q_init, float).reshape(-1)
        if q.shape != (7,) or not np.all(np.isfinite(q)):
            raise ValueError(f'q_init must be 7 finite values, got {q_init!r}')
        q = np.clip(q, self.lower, self.upper)
        nv = self.model.nv
        jp, jr = np.zeros((3, nv)), np.zeros((3, nv))
        eye7 = np.eye(7)
        with self._lock:
            pos_err = rot_err = np.inf
            it = 0
            for it in range(1, max_iters + 1):
                p, qc = self._fk(q)
                err_p = pos - p
                pos_err = float(np.linalg.norm(err_p))
                if quat is not None:
                    inv, dq4, err_r = np.zeros(4), np.zeros(4), np.zeros(3)
                    mujoco.mju_negQuat(inv, qc)
                    mujoco.mju_mulQuat(dq4, quat, inv)
                    mujoco.mju_quat2Vel(err_r, dq4, 1.0)   # world-frame rotation error
                    rot_err = float(np.linalg.norm(err_r))
                else:
                    rot_err = 0.0
                if pos_err < pos_tol_m and rot_err < rot_tol_rad:
                    break
                mujoco.mj_jacSite(self.model, self.data, jp, jr, self.site)
                if quat is not None:
                    J = np.vstack([jp[:, self.dadr], jr[:, self.dadr]])
                    err = np.concatenate([err_p, err_r])
                else:
                    J, err = jp[:, self.dadr], err_p
                dq = J.T @ np.linalg.solve(J @ J.T + self.lam2 * np.eye(len(err)), err)
                # The exact projector matters: the damped one stalls at mm-level errors.
                dq += (eye7 - np.linalg.pinv(J) @ J) @ (self.k0 * (HOME_Q_RAD - q))
                q = np.clip(q + dq, self.lower, self.upper)
            converged = pos_err < pos_tol_m and rot_err < rot_tol_rad
        return IKResult(q=q, pos_err_m=pos_err, rot_err_rad=rot_err, iterations=it,
                        converged=bool(converged))


@functools.lru_cache(maxsize=1)
def _default_kinematics() -> PandaKinematics:
    return PandaKinematics()


def get_kinematics(source: PandaKinematics | PandaScene | mujoco.MjModel | None = None
                   ) -> PandaKinematics:
    """A :class:`PandaKinematics` for ``source`` (``None``: a cached robot-only model)."""
    if isinstance(source, PandaKinematics):
        return source
    if source is None:
        return _default_kinematics()
    if isinstance(source, PandaScene):
        # Robot base == world origin in the scene, so the robot-only model is equivalent.
        return _default_kinematics()
    if isinstance(source, mujoco.MjModel):
        return PandaKinematics(source)
    raise TypeError(f'expected PandaKinematics, PandaScene, MjModel or None, got {type(source)}')


def solve_ik(source: PandaKinematics | PandaScene | mujoco.MjModel | None, xyz_base_m,
             quat_wxyz=None, q_init=None, *, pos_tol_m: float = 1e-4,
             rot_tol_rad: float = 1e-3, accept_pos_err_m: float = 2e-3,
             accept_rot_err_rad: float = 2e-2, max_iters: int = 300,
             restarts: int = 4, seed: int = 0) -> np.ndarray:
    """Joint configuration (7,) placing the TCP at ``xyz_base_m`` (and ``quat_wxyz``).

    Starts from ``q_init`` (default HOME); if that does not converge, retries from up to
    ``restarts`` seeded random configurations and keeps the closest to ``q_init``.

    Args:
        source: kinematics to use (see :func:`get_kinematics`); ``None`` is fine.
        xyz_base_m: target TCP position in the base frame, metres.
        quat_wxyz: target TCP orientation, or ``None`` (position only).
        q_init: start and reference configuration (rad, 7).
        pos_tol_m, rot_tol_rad: solver tolerances.
        accept_pos_err_m, accept_rot_err_rad: residuals above these raise ``IKError``.
        max_iters: iterations per attempt.
        restarts: random restarts after a failed first attempt.
        seed: seed of the restarts (deterministic).

    Raises:
        IKError: the target is out of reach.
        ValueError: malformed input.
    """
    kin = get_kinematics(source)
    res = kin.solve(xyz_base_m, quat_wxyz, q_init, pos_tol_m=pos_tol_m,
                    rot_tol_rad=rot_tol_rad, max_iters=max_iters)
    best = res

    def ok(r: IKResult) -> bool:
        return r.pos_err_m <= accept_pos_err_m and r.rot_err_rad <= accept_rot_err_rad

    if not ok(res) and restarts > 0:
        rng = np.random.default_rng(seed)
        ref = np.asarray(HOME_Q_RAD if q_init is None else q_init, float)
        candidates = []
        for _ in range(restarts):
            q0 = rng.uniform(kin.lower, kin.upper)
            r = kin.solve(xyz_base_m, quat_wxyz, q0, pos_tol_m=pos_tol_m,
                          rot_tol_rad=rot_tol_rad, max_iters=max_iters)
            if ok(r):
                candidates.append(r)
            elif r.pos_err_m + r.rot_err_rad < best.pos_err_m + best.rot_err_rad:
                best = r
        if candidates:
            best = min(candidates, key=lambda r: float(np.linalg.norm(r.q - ref)))
    if not ok(best):
        raise IKError(f'IK did not reach the target: position error {best.pos_err_m * 1e3:.1f} mm,'
                      f' orientation error {np.degrees(best.rot_err_rad):.1f} deg',
                      best.q, best.pos_err_m, best.rot_err_rad)
    return best.q
