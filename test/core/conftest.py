"""Synthetic demonstrations with known keyframes, shared by the core tests."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

MOVE_SPEED_RAD_S = 0.5  # clearly above the 0.1 rad/s stop threshold


@dataclass
class SyntheticDemo:
    """Per-frame arrays of a scripted demo plus the keyframes implied by its construction."""

    ee_xyz_base_m: np.ndarray
    gripper_open: np.ndarray
    joint_velocities: np.ndarray
    arrivals: list[int]  # first still frame at each waypoint
    gripper_changes: list[int]  # frames where the gripper flag flips
    last: int

    def expected_arm_keyframes(self) -> list[int]:
        """ARM's rule applied to how the demo was built (see build_demo)."""
        keys = sorted(set(self.arrivals) | set(self.gripper_changes) | {self.last})
        if len(keys) > 1 and keys[-1] - 1 == keys[-2]:
            keys.pop(-2)
        return keys

    def expected_hysteresis_keyframes(self) -> list[int]:
        # the demo ends at rest, so the last frame is not added
        return sorted(set(self.arrivals) | set(self.gripper_changes))


def build_demo(waypoints, start=(0.3, 0.0, 0.45), move_frames=12, still_frames=3,
               seed=0, jitter=0.0) -> SyntheticDemo:
    """A demo visiting ``waypoints`` = [(xyz, gripper_open_after_arrival), ...].

    Each segment moves for ``move_frames`` frames (joint speed 0.5 rad/s, linear TCP path), then
    holds still for ``still_frames`` frames (at most 4, so ARM's 4-frame stop buffer cannot fire
    twice); where the gripper flag changes at a waypoint the hold is 4 frames and the flag flips
    on the third. ``jitter`` adds uniform joint-speed noise of that amplitude while still (keep
    it below the thresholds under test).
    """
    rng = np.random.default_rng(seed)
    xyz = [np.array(start, float)]
    grip = [True]
    vel = [np.zeros(7)]
    arrivals, changes = [], []
    for target, open_after in waypoints:
        target = np.array(target, float)
        begin = xyz[-1]
        for j in range(1, move_frames + 1):
            xyz.append(begin + (target - begin) * j / move_frames)
            grip.append(grip[-1])
            vel.append(np.full(7, MOVE_SPEED_RAD_S) * rng.choice([-1, 1], 7))
        # hold still; a gripper change happens on the third still frame (after ARM's stop at
        # the arrival), followed by one more still frame
        change = open_after != grip[-1]
        for h in range(4 if change else still_frames):
            xyz.append(target.copy())
            grip.append(open_after if change and h >= 2 else grip[-1])
            vel.append(rng.uniform(-jitter, jitter, 7))
            if h == 0:
                arrivals.append(len(xyz) - 1)
            if change and h == 2:
                changes.append(len(xyz) - 1)
    return SyntheticDemo(np.array(xyz), np.array(grip), np.array(vel), arrivals, changes,
                         len(xyz) - 1)


PICK_PLACE = [((0.5, -0.1, 0.15), True), ((0.5, -0.1, 0.02), False), ((0.5, -0.1, 0.2), False),
              ((0.45, 0.25, 0.2), False), ((0.45, 0.25, 0.05), True), ((0.45, 0.25, 0.25), True)]


@pytest.fixture
def pick_place_demo() -> SyntheticDemo:
    """Six waypoints: above, grasp (close), lift, over target, lower (open), retreat."""
    return build_demo(PICK_PLACE)


@pytest.fixture(scope='session')
def pick_place_waypoints():
    """The waypoint list of ``pick_place_demo`` (for variants built with demo_factory)."""
    return list(PICK_PLACE)


@pytest.fixture(scope='session')
def demo_factory():
    """``build_demo`` itself, to build variants."""
    return build_demo
