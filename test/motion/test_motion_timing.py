"""Time parameterisation: limits hold, rest-to-rest, exact endpoints, typed errors."""
from __future__ import annotations

import numpy as np
import pytest

from robot_r1_ros.core.errors import BadInputError, ConfigError
from robot_r1_ros.motion.limits import JointLimits, arm_joint_names
from robot_r1_ros.motion.timing import path_duration_s, time_parameterize

NAMES = arm_joint_names('panda')
READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


def _random_path(rng: np.random.Generator, k: int) -> np.ndarray:
    limits = JointLimits.panda()
    start = READY + rng.uniform(-0.3, 0.3, 7)
    steps = rng.uniform(-0.2, 0.2, (k, 7)) * rng.uniform(0.1, 1.0)
    path = np.vstack([start, start + np.cumsum(steps, axis=0)])
    return np.clip(path, limits.lower_rad + 0.01, limits.upper_rad - 0.01)


@pytest.mark.parametrize('seed', range(20))
def test_timing_respects_velocity_and_acceleration_limits(seed):
    rng = np.random.default_rng(seed)
    limits = JointLimits.panda().scaled(0.3, 0.3)
    path = _random_path(rng, int(rng.integers(1, 15)))
    traj = time_parameterize(path, NAMES, limits, sample_period_s=0.002)
    t, q = traj.time_from_start_s, traj.positions_rad
    assert t[0] == 0.0 and np.all(np.diff(t) > 0)
    np.testing.assert_allclose(q[0], path[0], atol=1e-12)
    np.testing.assert_allclose(q[-1], path[-1], atol=1e-12)
    assert np.all(traj.velocities_rad_s[0] == 0) and np.all(traj.velocities_rad_s[-1] == 0)
    # Finite differences of the sampled positions: velocity within the limit.
    v = np.diff(q, axis=0) / np.diff(t)[:, None]
    assert np.all(np.abs(v) <= limits.max_velocity_rad_s * 1.001)
    # Reported velocities agree with the finite differences (except across a waypoint, where
    # the piecewise-linear path changes direction: at most one interval per interior waypoint).
    mid = 0.5 * (traj.velocities_rad_s[1:] + traj.velocities_rad_s[:-1])
    mismatch = np.abs(mid - v).max(axis=1)
    assert np.sum(mismatch > 1e-3) <= len(path) - 2
    # Within each segment of the path (away from waypoints) the acceleration is limited.
    a = np.diff(traj.velocities_rad_s, axis=0) / np.diff(t)[:, None]
    if len(path) == 2:
        assert np.all(np.abs(a) <= limits.max_acceleration_rad_s2 * 1.01)


def test_timing_duration_grows_when_limits_shrink():
    path = np.vstack([READY, READY + 0.5])
    fast = path_duration_s(path, JointLimits.panda(), min_duration_s=0.0)
    slow = path_duration_s(path, JointLimits.panda().scaled(0.1, 0.1), min_duration_s=0.0)
    assert slow > 5 * fast
    # The binding velocity bound: 1.875 * 0.5 rad / (0.1 * 2.175 rad/s).
    assert slow == pytest.approx(1.875 * 0.5 / 0.2175, rel=1e-9)
    # The TCP speed limit applies too.
    tcp = path_duration_s(path, JointLimits.panda(), tcp_path_length_m=1.0,
                          max_tcp_speed_m_s=0.1, min_duration_s=0.0)
    assert tcp == pytest.approx(18.75)


def test_timing_zero_length_path_holds_still():
    traj = time_parameterize(np.vstack([READY, READY]), NAMES, JointLimits.panda(),
                             min_duration_s=0.3)
    assert traj.duration_s == pytest.approx(0.3)
    assert np.all(traj.positions_rad == READY) and np.all(traj.velocities_rad_s == 0)


@pytest.mark.parametrize('path,period,match', [
    (np.vstack([READY]), 0.05, 'waypoints must be'),
    (np.zeros((3, 6)), 0.05, 'waypoints must be'),
    (np.vstack([READY, READY + np.array([np.nan] + [0.0] * 6)]), 0.05, 'non-finite'),
    (np.vstack([READY, READY + np.array([0, 0, 0, 5.0, 0, 0, 0])]), 0.05, 'joint4'),
    (np.vstack([READY, READY]), 0.0, 'sample_period_s'),
])
def test_timing_bad_input_raises(path, period, match):
    with pytest.raises(BadInputError, match=match):
        time_parameterize(path, NAMES, JointLimits.panda(), sample_period_s=period)


@pytest.mark.parametrize('vel,acc', [(0.0, 0.5), (1.5, 0.5), (0.5, -1.0)])
def test_limits_scale_must_be_a_fraction(vel, acc):
    with pytest.raises(ConfigError):
        JointLimits.panda().scaled(vel, acc)
