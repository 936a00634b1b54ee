"""Velocity- and acceleration-limited time parameterisation of a joint-space path.

The path is piecewise linear in joint space through the waypoints ``q_0 .. q_K`` (the IK
solutions along a straight Cartesian line). It is traversed with one quintic (minimum-jerk) time
scaling ``s(t)`` over the whole path, so the arm starts and stops at rest with zero acceleration.
For ``s(t) = 10 u^3 - 15 u^4 + 6 u^5`` with ``u = t / T``, the peak ``ds/dt`` is ``1.875 / T`` and
the peak ``|d2s/dt2|`` is ``5.7735 / T^2``. A joint's velocity on segment k is
``(dq_k / ds_k) * ds/dt``, so the duration

    T = max(T_min, 1.875 * max_kj |dq_kj / ds_k| / v_max_j,
            sqrt(5.7735 * max_kj |dq_kj / ds_k| / a_max_j),
            1.875 * L_tcp / v_tcp_max)

keeps every joint within its velocity limit and, on each segment, within its acceleration limit
(the direction change at a waypoint is not smoothed: the waypoints lie on a straight line in
Cartesian space, so consecutive joint directions differ little).
"""
from __future__ import annotations

import math

import numpy as np

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.motion.limits import JointLimits
from robot_r1_ros.motion.types import JointTrajectoryData

_PEAK_SPEED = 1.875            # max ds/du of the quintic
_PEAK_ACCEL = 10.0 / math.sqrt(3.0)   # max |d2s/du2| of the quintic (5.7735)


def _quintic(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """s(u) and ds/du of the minimum-jerk scaling on u in [0, 1]."""
    s = 10 * u ** 3 - 15 * u ** 4 + 6 * u ** 5
    ds = 30 * u ** 2 - 60 * u ** 3 + 30 * u ** 4
    return s, ds


def path_duration_s(waypoints_rad: np.ndarray, limits: JointLimits, *,
                    tcp_path_length_m: float = 0.0, max_tcp_speed_m_s: float = 0.0,
                    min_duration_s: float = 0.2) -> float:
    """Shortest quintic duration that respects the velocity/acceleration limits (see module doc).

    Args:
        waypoints_rad: (K+1, 7) joint waypoints, the first being the current configuration.
        limits: Joint limits (already scaled).
        tcp_path_length_m: Cartesian length of the TCP path (0 disables the TCP speed limit).
        max_tcp_speed_m_s: TCP speed limit (0 disables it).
        min_duration_s: Lower bound on the duration.
    """
    q = np.asarray(waypoints_rad, float)
    steps = np.diff(q, axis=0)                                   # (K, 7)
    seg_len = np.linalg.norm(steps, axis=1)                      # joint-space arc length per seg
    total = float(seg_len.sum())
    duration = float(min_duration_s)
    if total > 1e-12:
        # dq/ds with s in [0, 1] proportional to joint-space arc length.
        rates = np.abs(steps) / np.maximum(seg_len[:, None], 1e-12) * total   # (K, 7)
        rates = np.where(seg_len[:, None] > 1e-12, rates, 0.0)
        peak = rates.max(axis=0)                                 # (7,)
        duration = max(duration,
                       float(np.max(_PEAK_SPEED * peak / limits.max_velocity_rad_s)),
                       float(np.sqrt(np.max(_PEAK_ACCEL * peak / limits.max_acceleration_rad_s2))))
    if tcp_path_length_m > 0.0 and max_tcp_speed_m_s > 0.0:
        duration = max(duration, _PEAK_SPEED * tcp_path_length_m / max_tcp_speed_m_s)
    return duration


def time_parameterize(waypoints_rad: np.ndarray, joint_names: tuple[str, ...],
                      limits: JointLimits, *, sample_period_s: float = 0.05,
                      tcp_path_length_m: float = 0.0, max_tcp_speed_m_s: float = 0.0,
                      min_duration_s: float = 0.2) -> JointTrajectoryData:
    """Turn joint waypoints into a timed trajectory sampled every ``sample_period_s``.

    The first point (t = 0) is the first waypoint, i.e. the current configuration, so a
    ``joint_trajectory_controller`` starts from where the arm is.

    Raises:
        BadInputError: fewer than two waypoints, wrong width, non-finite values, a waypoint
            outside the joint position limits, or a non-positive sample period.
    """
    q = np.asarray(waypoints_rad, float)
    if q.ndim != 2 or q.shape[0] < 2 or q.shape[1] != len(joint_names):
        raise BadInputError(f'waypoints must be (K>=2, {len(joint_names)}), got {q.shape}')
    if not np.all(np.isfinite(q)):
        raise BadInputError('waypoints contain non-finite values')
    if not sample_period_s > 0.0:
        raise BadInputError(f'sample_period_s must be > 0, got {sample_period_s}')
    for k, qk in enumerate(q):
        why = limits.violation(qk, margin_rad=-1e-6)
        if why:
            raise BadInputError(f'waypoint {k}: {why}')
    duration = path_duration_s(q, limits, tcp_path_length_m=tcp_path_length_m,
                               max_tcp_speed_m_s=max_tcp_speed_m_s, min_duration_s=min_duration_s)
    n = max(2, int(math.ceil(duration / sample_period_s)) + 1)
    t = np.linspace(0.0, duration, n)
    s, ds_du = _quintic(t / duration)
    # Piecewise-linear path q(s) with s proportional to joint-space arc length.
    seg_len = np.linalg.norm(np.diff(q, axis=0), axis=1)
    total = float(seg_len.sum())
    if total < 1e-12:
        positions = np.repeat(q[:1], n, axis=0)
        velocities = np.zeros_like(positions)
    else:
        knots = np.concatenate([[0.0], np.cumsum(seg_len) / total])
        positions = np.stack([np.interp(s, knots, q[:, j]) for j in range(q.shape[1])], axis=1)
        seg = np.clip(np.searchsorted(knots, s, side='right') - 1, 0, len(seg_len) - 1)
        dq_ds = np.diff(q, axis=0) / np.maximum(seg_len[:, None] / total, 1e-12)  # (K, 7)
        velocities = dq_ds[seg] * (ds_du / duration)[:, None]
    positions[-1], velocities[-1], velocities[0] = q[-1], 0.0, 0.0
    return JointTrajectoryData(tuple(joint_names), positions, velocities, t)
