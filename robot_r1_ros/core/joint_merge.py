"""Joint states from two sources merged into one (ROS-free).

franka_ros2 publishes the arm on ``/joint_states`` and the fingers on the gripper node's own
``/franka_gripper/joint_states``; a prediction needs both. :func:`merge_missing_joints` adds
the joints of the second reading that the first one lacks (the first wins where both have one).
"""
from __future__ import annotations

from typing import Sequence


def merge_missing_joints(names: Sequence[str], positions: Sequence[float],
                         extra_names: Sequence[str], extra_positions: Sequence[float],
                         wanted: Sequence[str]) -> tuple[list[str], list[float]] | None:
    """``names``/``positions`` plus the joints of ``wanted`` found only in the extra reading.

    Args:
        names, positions: The main reading (``/joint_states``).
        extra_names, extra_positions: The second reading (the gripper's joint states).
        wanted: Joints the caller needs (the finger joints).

    Returns:
        The merged (names, positions), or None when nothing was missing or the extra reading
        has none of the missing joints (the caller keeps the main reading and reports it).
    """
    have = set(names)
    missing = [n for n in wanted if n not in have]
    if not missing or len(extra_positions) < len(extra_names):
        return None
    extra = dict(zip(extra_names, extra_positions))
    found = [n for n in missing if n in extra]
    if not found:
        return None
    return list(names) + found, list(positions)[:len(names)] + [float(extra[n]) for n in found]


def merged_joint_state(msg, gripper_msg, wanted: Sequence[str]):
    """``msg`` (a ``sensor_msgs/JointState``) with the ``wanted`` joints it lacks taken from
    ``gripper_msg`` (positions only), or ``msg`` itself when nothing is to be merged."""
    if gripper_msg is None:
        return msg
    merged = merge_missing_joints(msg.name, msg.position, gripper_msg.name,
                                  gripper_msg.position, wanted)
    if merged is None:
        return msg
    return type(msg)(header=msg.header, name=merged[0], position=merged[1])
