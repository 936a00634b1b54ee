"""Inverse kinematics of the Panda TCP with MuJoCo Jacobians (damped least squares).

Runs on a private, robot-only kinematic copy of the model (``mj_kinematics`` on its own
``MjData``): no physics, no side effects on any simulation.  The executor's direct backend can
call :func:`solve_ik` without a scene::

    from robot_r1_ros.sim.ik import solve_ik, top_down_quat
    q = solve_ik(None, xyz_base_m=[0.5, 0.0, 0.2], quat_wxyz=top_down_quat(0.3), q_init=q_now)

A target the arm cannot reach raises :class:`IKError` (the core's, a subclass of
``OutOfWorkspaceError``), carrying the best ``q`` found and the residuals. The executor plans
with the numpy solver of ``core.kinematics`` (same algorithm); this MuJoCo one serves the
scripted experts and is the reference the tests compare the numpy one with.
"""

from __future__ import annotations

import functools
import threading

import robot_r1_ros.sim  # noqa: F401  (sets MUJOCO_GL before mujoco is imported)
import mujoco
import numpy as np

from robot_r1_ros.sim.scene import (ARM_JOINTS, HOME_Q_RAD, TCP_SITE, PandaScene,
                                    compile_spec, panda_spec)

# One error/result type and one restart strategy for both solvers (the numpy one is the core's).
from robot_r1_ros.core.kinematics import IKError, IKResult  # noqa: E402,F401  (API)
from robot_r1_ros.core.kinematics import solve_ik as _solve_with_restarts  # noqa: E402
from robot_r1_ros.core.kinematics import validate_ik_target  # noqa: E402


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
        self.home = np.asarray(HOME_Q_RAD, float)
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
        pos, quat, q = validate_ik_target(xyz_base_m, quat_wxyz, q_init, self.home)
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
    return _solve_with_restarts(get_kinematics(source), xyz_base_m, quat_wxyz, q_init,
                                pos_tol_m=pos_tol_m, rot_tol_rad=rot_tol_rad,
                                accept_pos_err_m=accept_pos_err_m,
                                accept_rot_err_rad=accept_rot_err_rad, max_iters=max_iters,
                                restarts=restarts, seed=seed)
