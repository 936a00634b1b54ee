"""The one rule for the gripper state shown in the prompt ("current gripper: open/closed").

Everything that tells the model the current gripper state uses :func:`current_gripper_state`:
the reasoning node (measured finger width from ``/joint_states``), the closed-loop evaluation
and the benches (the sim's measured width, as the node would see it), and the dataset builder
(recorded gripper commands when a bag has them, else the measured width).

Rule: a known *commanded* width decides (open when wider than
:data:`OPEN_COMMAND_THRESHOLD_M`); otherwise the *measured* width is open when it is at least
:data:`MEASURED_OPEN_FRACTION` of the hand's full opening. A fixed half-width threshold on the
measured width fails on a gripper closed around a 4 cm cube, which still measures ~0.04 m.
"""
from __future__ import annotations

import math

from robot_r1_ros.core.types import GripperState

PANDA_OPEN_WIDTH_M = 0.08
"""Distance between the fingers of a fully open Franka Hand, metres."""
OPEN_COMMAND_THRESHOLD_M = 0.039
"""A commanded width above this is an open command (the executor commands 0.08 or 0.0)."""
MEASURED_OPEN_FRACTION = 0.9
"""A measured width of at least this fraction of the full opening counts as open."""


def current_gripper_state(measured_width_m: float | None = None, *,
                          commanded_width_m: float | None = None,
                          open_width_m: float = PANDA_OPEN_WIDTH_M) -> GripperState:
    """The gripper state to show the model.

    Args:
        measured_width_m: Measured distance between the fingers (sum of the finger joints).
        commanded_width_m: The last commanded width, when known (recorded bags); it wins.
        open_width_m: The hand's full opening (for a recording: the widest width seen).

    Returns:
        ``OPEN`` or ``CLOSED``; ``OPEN`` when neither width is known (no gripper information).
    """
    if commanded_width_m is not None and math.isfinite(commanded_width_m):
        return GripperState.from_bool(float(commanded_width_m) > OPEN_COMMAND_THRESHOLD_M)
    if measured_width_m is None or not math.isfinite(measured_width_m) or open_width_m <= 0:
        return GripperState.OPEN
    return GripperState.from_bool(
        float(measured_width_m) >= MEASURED_OPEN_FRACTION * float(open_width_m))
