"""Joint positions -> the robot state the prompt needs (TCP by the core's FK, gripper width).

ROS-free: the reasoning node feeds it a ``sensor_msgs/JointState`` (``ros.conversions``), the
closed-loop evaluation and the benches the sim's joint state, so both compute the TCP position
and the gripper state of the prompt with the same code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.geometry import matrix_to_quat_wxyz, panda_fk, quat_wxyz_to_xyzw
from robot_r1_ros.core.gripper import PANDA_OPEN_WIDTH_M
from robot_r1_ros.core.types import RobotState

PANDA_ARM_JOINTS: tuple[str, ...] = tuple(f'panda_joint{i}' for i in range(1, 8))
"""The Panda's arm joints in kinematic order (``/joint_states`` names)."""
PANDA_FINGER_JOINTS: tuple[str, ...] = ('panda_finger_joint1', 'panda_finger_joint2')
"""The Franka Hand's finger joints (each 0-0.04 m)."""


class JointStateError(BadInputError):
    """A JointState lacks a configured joint, or has a non-finite or missing position."""


@dataclass(frozen=True)
class JointReading:
    """What a prediction needs from one joint state.

    Attributes:
        robot_state: Arm joints, TCP position (from FK) and gripper opening.
        tcp_quat_xyzw: TCP orientation in the base frame (ROS order x, y, z, w).
    """

    robot_state: RobotState
    tcp_quat_xyzw: tuple[float, float, float, float]


def rotation_to_quat_xyzw(rot: object) -> tuple[float, float, float, float]:
    """3x3 rotation matrix -> unit quaternion in ROS order (x, y, z, w)."""
    q = quat_wxyz_to_xyzw(matrix_to_quat_wxyz(np.asarray(rot, dtype=float)))
    return (float(q[0]), float(q[1]), float(q[2]), float(q[3]))


def reading_from_joints(names: Sequence[str], positions: Sequence[float], stamp_s: float,
                        arm_joint_names: Sequence[str] = PANDA_ARM_JOINTS,
                        finger_joint_names: Sequence[str] = PANDA_FINGER_JOINTS,
                        default_gripper_opening_m: float = PANDA_OPEN_WIDTH_M,
                        tcp_offset_m: float | None = None) -> JointReading:
    """Named joint positions -> :class:`JointReading` with the Panda FK of ``core.geometry``.

    Joints are looked up by name (any order, others ignored). The gripper opening is the sum
    of the finger joint positions; without finger joints configured the default opening is
    used.

    Args:
        names: Joint names, as in ``JointState.name``.
        positions: Positions, as in ``JointState.position`` (rad; m for fingers).
        stamp_s: Time stamp of the reading, seconds.
        arm_joint_names: The 7 arm joint names in kinematic order.
        finger_joint_names: Finger joint names; each one configured must be present.
        default_gripper_opening_m: Opening reported when no finger joints are configured.
        tcp_offset_m: Flange-to-TCP offset for the FK; None = the core's Panda value.

    Raises:
        JointStateError: A configured joint is missing, ``positions`` is shorter than
            ``names``, or a position is NaN or infinite.
    """
    names = list(names)
    if len(positions) != len(names):
        raise JointStateError(
            f'joint state has {len(names)} names but {len(positions)} positions')
    index = {name: i for i, name in enumerate(names)}
    missing = [n for n in (*arm_joint_names, *finger_joint_names) if n not in index]
    if missing:
        shown = ', '.join(names[:12]) + (' ...' if len(names) > 12 else '')
        raise JointStateError(
            f'joint state lacks {", ".join(missing)} (has: {shown or "no joints"}); set the '
            'joint name parameters to match the robot')
    q_rad = [float(positions[index[n]]) for n in arm_joint_names]
    fingers_m = [float(positions[index[n]]) for n in finger_joint_names]
    bad = [n for n, v in zip((*arm_joint_names, *finger_joint_names), (*q_rad, *fingers_m))
           if not math.isfinite(v)]
    if bad:
        raise JointStateError(f'non-finite joint position for {", ".join(bad)}')
    q = np.asarray(q_rad, dtype=float)
    xyz_base_m, rot_base_tcp = (panda_fk(q) if tcp_offset_m is None
                                else panda_fk(q, tcp_offset_m=tcp_offset_m))
    opening_m = max(0.0, sum(fingers_m)) if finger_joint_names else default_gripper_opening_m
    state = RobotState(joint_positions_rad=tuple(q_rad),
                       ee_xyz_base_m=tuple(float(v) for v in xyz_base_m),
                       gripper_opening_m=opening_m, stamp_s=float(stamp_s))
    return JointReading(robot_state=state, tcp_quat_xyzw=rotation_to_quat_xyzw(rot_base_tcp))
