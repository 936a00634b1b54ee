"""Franka Panda joint limits (franka_description / Franka "Robot and interface specifications").

Used by the direct backend for joint-limit checks and velocity/acceleration-limited timing. The
joint-name prefix is a parameter (``panda`` for the Panda and moveit_resources, ``fr3`` for
franka_ros2 on an FR3), so nothing here hard-codes it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.kinematics import PANDA, RobotModel

# The Panda's limits are data of the core's robot model (``core.kinematics.PANDA``).
#: Joint position limits, rad (panda_joint1..7).
PANDA_LOWER_RAD = np.array(PANDA.lower_rad)
PANDA_UPPER_RAD = np.array(PANDA.upper_rad)
#: Maximum joint velocities, rad/s.
PANDA_MAX_VELOCITY_RAD_S = np.array(PANDA.max_velocity_rad_s)
#: Maximum joint accelerations, rad/s^2.
PANDA_MAX_ACCELERATION_RAD_S2 = np.array(PANDA.max_acceleration_rad_s2)
#: Distance between the fingers when fully open, metres.
PANDA_GRIPPER_MAX_WIDTH_M = PANDA.gripper_open_width_m


def arm_joint_names(prefix: str = 'panda') -> tuple[str, ...]:
    """``<prefix>_joint1`` .. ``<prefix>_joint7``."""
    return tuple(f'{prefix}_joint{i}' for i in range(1, 8))


def finger_joint_names(prefix: str = 'panda') -> tuple[str, ...]:
    """``<prefix>_finger_joint1``, ``<prefix>_finger_joint2``."""
    return (f'{prefix}_finger_joint1', f'{prefix}_finger_joint2')


@dataclass(frozen=True)
class JointLimits:
    """Position, velocity and acceleration limits of the 7 arm joints.

    Attributes:
        lower_rad, upper_rad: Position limits.
        max_velocity_rad_s: Hardware velocity limits.
        max_acceleration_rad_s2: Hardware acceleration limits.
    """

    lower_rad: np.ndarray
    upper_rad: np.ndarray
    max_velocity_rad_s: np.ndarray
    max_acceleration_rad_s2: np.ndarray

    @classmethod
    def panda(cls) -> 'JointLimits':
        """The Panda's published limits."""
        return cls.from_robot(PANDA)

    @classmethod
    def from_robot(cls, robot: RobotModel) -> 'JointLimits':
        """The limits a :class:`~robot_r1_ros.core.kinematics.RobotModel` carries."""
        return cls(np.array(robot.lower_rad), np.array(robot.upper_rad),
                   np.array(robot.max_velocity_rad_s), np.array(robot.max_acceleration_rad_s2))

    def scaled(self, velocity_scale: float, acceleration_scale: float) -> 'JointLimits':
        """Copy with velocity and acceleration limits scaled by factors in (0, 1].

        Raises:
            ConfigError: a factor outside (0, 1].
        """
        for name, value in (('velocity_scale', velocity_scale),
                            ('acceleration_scale', acceleration_scale)):
            if not 0.0 < float(value) <= 1.0:
                raise ConfigError(f'{name} must be in (0, 1], got {value}', name)
        return JointLimits(self.lower_rad, self.upper_rad,
                           self.max_velocity_rad_s * float(velocity_scale),
                           self.max_acceleration_rad_s2 * float(acceleration_scale))

    def violation(self, q_rad: np.ndarray, margin_rad: float = 0.0) -> str | None:
        """Why ``q_rad`` is outside the position limits (shrunk by ``margin_rad``), or None."""
        q = np.asarray(q_rad, float)
        low, high = self.lower_rad + margin_rad, self.upper_rad - margin_rad
        for i, (v, lo, hi) in enumerate(zip(q, low, high)):
            if not lo <= v <= hi:
                return f'joint{i + 1} at {v:.3f} rad outside [{lo:.3f}, {hi:.3f}]'
        return None
