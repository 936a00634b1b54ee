"""The one gripper rule (core.gripper.current_gripper_state)."""
from __future__ import annotations

import math

import pytest

from robot_r1_ros.core.gripper import current_gripper_state
from robot_r1_ros.core.types import GripperState

OPEN, CLOSED = GripperState.OPEN, GripperState.CLOSED


@pytest.mark.parametrize('measured,commanded,expected', [
    (0.08, None, OPEN),          # fully open hand
    (0.0795, None, OPEN),        # a real hand's "open" reading
    (0.04, None, CLOSED),        # closed on a 4 cm cube: measures ~0.04 m, still closed
    (0.0, None, CLOSED),
    (0.04, 0.08, OPEN),          # a known command wins (opening, fingers still on the cube)
    (0.08, 0.0, CLOSED),         # ... and closing
    (None, 0.0395, OPEN),        # commands above 0.039 m are open
    (None, None, OPEN),          # nothing known: open
    (math.nan, None, OPEN),
])
def test_rule(measured, commanded, expected):
    assert current_gripper_state(measured, commanded_width_m=commanded) is expected


def test_open_width_is_the_reference():
    # A recording whose widest opening is 0.05 m: 0.046 m is open there.
    assert current_gripper_state(0.046, open_width_m=0.05) is OPEN
    assert current_gripper_state(0.046) is CLOSED
