"""Joint trajectory following, as ros2_control's joint_trajectory_controller does it, in pure
numpy (the sim node converts ``trajectory_msgs/JointTrajectory`` into the arguments).

A trajectory starts at the current set-point (time 0) and passes through its points at their
``time_from_start``; positions are interpolated linearly, or with cubic Hermite splines when
every point carries velocities.  After the last point the final position is held.

:func:`validate_trajectory` rejects what would make a real controller refuse the goal (or hurt
the robot): unknown, missing or duplicate joint names, empty/NaN/mis-sized values, positions
beyond the joint limits, non-increasing ``time_from_start``, and segments faster than the
Panda's joint velocity limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from robot_r1_ros.sim.scene import ARM_JOINTS, ARM_LOWER_RAD, ARM_UPPER_RAD

#: Panda joint velocity limits (franka_description), rad/s.
ARM_VELOCITY_LIMITS_RADPS = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])

try:
    from robot_r1_ros.core.errors import BadInputError as _Base
except ImportError:  # pragma: no cover - core not installed
    _Base = ValueError


class TrajectoryError(_Base):
    """A malformed or unsafe joint trajectory (the message says why)."""


@dataclass(frozen=True)
class JointTrajectoryPlan:
    """A validated trajectory in ``ARM_JOINTS`` order.

    Attributes:
        start_s: sim time of the trajectory start.
        times_s: (N+1,) times from start, beginning with 0 (the start set-point).
        positions: (N+1, 7) rad.
        velocities: (N+1, 7) rad/s, or None for linear interpolation.
    """

    start_s: float
    times_s: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None

    @property
    def end_s(self) -> float:
        """Sim time of the last point."""
        return self.start_s + float(self.times_s[-1])

    @property
    def final_positions(self) -> np.ndarray:
        """Positions of the last point (rad)."""
        return self.positions[-1].copy()

    def sample(self, t_s: float) -> np.ndarray:
        """Set-point (7,) at sim time ``t_s``."""
        tau = t_s - self.start_s
        ts = self.times_s
        if tau <= 0.0:
            return self.positions[0].copy()
        if tau >= ts[-1]:
            return self.positions[-1].copy()
        i = int(np.searchsorted(ts, tau, side='right')) - 1
        h = ts[i + 1] - ts[i]
        s = (tau - ts[i]) / h
        p0, p1 = self.positions[i], self.positions[i + 1]
        if self.velocities is None:
            return p0 + s * (p1 - p0)
        v0, v1 = self.velocities[i] * h, self.velocities[i + 1] * h
        h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
        h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
        return h00 * p0 + h10 * v0 + h01 * p1 + h11 * v1


def validate_trajectory(joint_names: Sequence[str], positions: Sequence[Sequence[float]],
                        times_from_start_s: Sequence[float],
                        velocities: Sequence[Sequence[float]] | None = None,
                        current_q_rad: Sequence[float] | None = None, start_s: float = 0.0,
                        velocity_margin: float = 1.0,
                        limit_tolerance_rad: float = 1e-6,
                        lower_rad: Sequence[float] | None = None,
                        upper_rad: Sequence[float] | None = None,
                        velocity_limits_rad_s: Sequence[float] | None = None
                        ) -> JointTrajectoryPlan:
    """Check a joint trajectory and turn it into a :class:`JointTrajectoryPlan`.

    Args:
        joint_names: the message's ``joint_names`` (the 7 arm joints, any order).
        positions: per point, one position per joint name.
        times_from_start_s: per point, seconds from the start.
        velocities: per point, one velocity per joint, or empty/None (linear interpolation).
        current_q_rad: where the trajectory starts (the current set-point), ARM_JOINTS order.
        start_s: sim time at which the trajectory starts.
        velocity_margin: allowed fraction of the joint velocity limits per segment.
        limit_tolerance_rad: slack on the position limits.
        lower_rad, upper_rad, velocity_limits_rad_s: the robot's limits (an FR3's), applied
            together with the Panda scene's own (the stricter of both holds); None = the scene's.

    Raises:
        TrajectoryError: with the reason.
    """
    names = list(joint_names)
    if len(set(names)) != len(names):
        raise TrajectoryError(f'duplicate joint names in {names}')
    unknown = [n for n in names if n not in ARM_JOINTS]
    if unknown:
        raise TrajectoryError(f'unknown joint names {unknown}; expected {list(ARM_JOINTS)}')
    missing = [n for n in ARM_JOINTS if n not in names]
    if missing:
        raise TrajectoryError(f'missing joints {missing} (partial goals are not accepted)')
    n_pts = len(positions)
    if n_pts == 0:
        raise TrajectoryError('trajectory has no points')
    if len(times_from_start_s) != n_pts:
        raise TrajectoryError('one time_from_start per point is required')
    order = [names.index(j) for j in ARM_JOINTS]
    pos = np.full((n_pts, 7), np.nan)
    for i, p in enumerate(positions):
        p = np.asarray(p, float).reshape(-1)
        if p.shape != (len(names),):
            raise TrajectoryError(f'point {i} has {p.size} positions for {len(names)} joints')
        pos[i] = p[order]
    if not np.all(np.isfinite(pos)):
        raise TrajectoryError('positions contain NaN or infinity')
    lower = ARM_LOWER_RAD if lower_rad is None else np.maximum(ARM_LOWER_RAD, lower_rad)
    upper = ARM_UPPER_RAD if upper_rad is None else np.minimum(ARM_UPPER_RAD, upper_rad)
    vmax = (ARM_VELOCITY_LIMITS_RADPS if velocity_limits_rad_s is None
            else np.minimum(ARM_VELOCITY_LIMITS_RADPS, velocity_limits_rad_s))
    low = lower - limit_tolerance_rad
    high = upper + limit_tolerance_rad
    bad = np.argwhere((pos < low) | (pos > high))
    if len(bad):
        i, j = bad[0]
        raise TrajectoryError(f'point {i}: {ARM_JOINTS[j]} = {pos[i, j]:.4f} rad is beyond its '
                              f'limits [{lower[j]:.4f}, {upper[j]:.4f}]')
    times = np.asarray(times_from_start_s, float).reshape(-1)
    if not np.all(np.isfinite(times)):
        raise TrajectoryError('time_from_start contains NaN or infinity')
    if times[0] < 0.0 or np.any(np.diff(times) <= 0.0):
        raise TrajectoryError(f'time_from_start must be non-negative and strictly increasing, '
                              f'got {np.round(times, 4).tolist()}')
    vel = None
    if velocities is not None and len(velocities) > 0 and any(len(v) for v in velocities):
        if len(velocities) != n_pts or any(len(v) != len(names) for v in velocities):
            raise TrajectoryError('velocities must be empty or given for every joint and point')
        vel = np.asarray(velocities, float)[:, order]
        if not np.all(np.isfinite(vel)):
            raise TrajectoryError('velocities contain NaN or infinity')
        if np.any(np.abs(vel) > vmax * velocity_margin):
            raise TrajectoryError('point velocities exceed the joint velocity limits')
    q0 = np.asarray(pos[0] if current_q_rad is None else current_q_rad, float).reshape(-1)
    if q0.shape != (7,) or not np.all(np.isfinite(q0)):
        raise TrajectoryError('current joint positions are not 7 finite values')
    if times[0] == 0.0:
        # A first point at t=0 replaces the start point (as JTC does when it is the state).
        all_t, all_p = times, pos
        if np.any(np.abs(pos[0] - q0) > 0.05):
            raise TrajectoryError('first point has time_from_start 0 but is '
                                  f'{np.abs(pos[0] - q0).max():.3f} rad from the current state')
        all_v = vel
    else:
        all_t = np.concatenate([[0.0], times])
        all_p = np.vstack([q0, pos])
        all_v = None if vel is None else np.vstack([np.zeros(7), vel])
    seg_v = np.abs(np.diff(all_p, axis=0)) / np.diff(all_t)[:, None]
    too_fast = np.argwhere(seg_v > vmax * velocity_margin)
    if len(too_fast):
        i, j = too_fast[0]
        raise TrajectoryError(f'segment {i} needs {seg_v[i, j]:.2f} rad/s on {ARM_JOINTS[j]}, '
                              f'above its limit {vmax[j]:.2f} rad/s')
    return JointTrajectoryPlan(start_s=float(start_s), times_s=all_t, positions=all_p,
                               velocities=all_v)
