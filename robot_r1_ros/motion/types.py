"""Plain data exchanged between the executor and a motion backend (no ROS types).

The ROS node converts messages to and from these; the benchmark and the closed-loop evaluation use
them directly. Positions are TCP (``panda_hand_tcp``) positions in the robot base frame in metres,
quaternions are ``wxyz`` (MuJoCo order; ROS messages are ``xyzw``), times are seconds on the
clock the caller passes in (the node clock: wall or sim time).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

import numpy as np

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.types import GripperState


class MotionState(str, enum.Enum):
    """Lifecycle of one goal inside a backend (mirrors ``ExecutorState.STATE_*``)."""

    IDLE = 'idle'
    MOVING = 'moving'
    REACHED = 'reached'
    FAILED = 'failed'


@dataclass(frozen=True)
class MotionGoal:
    """Move the TCP to a base-frame pose, then set the gripper.

    Attributes:
        xyz_base_m: Target TCP position in the base frame, metres.
        gripper: Gripper state to reach once the arm has arrived.
        quat_wxyz: Target TCP orientation (unit quaternion, ``wxyz``), or None to keep the
            current orientation.
        stamp_s: Stamp of the prediction this goal comes from (for bookkeeping only).
    """

    xyz_base_m: tuple[float, float, float]
    gripper: GripperState
    quat_wxyz: tuple[float, float, float, float] | None = None
    stamp_s: float = 0.0

    def __post_init__(self) -> None:
        xyz = tuple(float(v) for v in self.xyz_base_m)
        if len(xyz) != 3 or not all(math.isfinite(v) for v in xyz):
            raise BadInputError(f'xyz_base_m must be 3 finite numbers, got {self.xyz_base_m!r}')
        object.__setattr__(self, 'xyz_base_m', xyz)
        if not isinstance(self.gripper, GripperState):
            raise BadInputError(f'gripper must be a GripperState, got {self.gripper!r}')
        if self.quat_wxyz is not None:
            quat = np.asarray(self.quat_wxyz, float).reshape(-1)
            norm = float(np.linalg.norm(quat)) if quat.shape == (4,) else 0.0
            if quat.shape != (4,) or not np.all(np.isfinite(quat)) or abs(norm - 1.0) > 1e-3:
                raise BadInputError(
                    f'quat_wxyz must be a finite unit quaternion, got {self.quat_wxyz!r}')
            object.__setattr__(self, 'quat_wxyz', tuple(float(v) for v in quat / norm))


@dataclass(frozen=True)
class MotionProgress:
    """What a backend reports when polled.

    Attributes:
        state: Where the current (or last) goal stands.
        reason: Why it failed (empty otherwise).
        tcp_error_m: Distance between the measured TCP and the goal, when known.
        elapsed_s: Time since the goal started.
    """

    state: MotionState
    reason: str = ''
    tcp_error_m: float = float('nan')
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class JointTrajectoryData:
    """A joint trajectory in the shape of ``trajectory_msgs/JointTrajectory``.

    Attributes:
        joint_names: Names of the commanded joints, in column order.
        positions_rad: (N, J) positions of the N points.
        velocities_rad_s: (N, J) velocities of the N points.
        time_from_start_s: (N,) strictly increasing times from the trajectory start.
    """

    joint_names: tuple[str, ...]
    positions_rad: np.ndarray
    velocities_rad_s: np.ndarray
    time_from_start_s: np.ndarray

    @property
    def duration_s(self) -> float:
        """Time of the last point."""
        return float(self.time_from_start_s[-1]) if len(self.time_from_start_s) else 0.0

    def sample(self, t_s: float) -> np.ndarray:
        """Positions at ``t_s`` by linear interpolation (what a trajectory follower tracks)."""
        t = np.asarray(self.time_from_start_s, float)
        if t_s <= t[0]:
            return self.positions_rad[0].copy()
        if t_s >= t[-1]:
            return self.positions_rad[-1].copy()
        return np.array([np.interp(t_s, t, self.positions_rad[:, j])
                         for j in range(self.positions_rad.shape[1])])


@dataclass(frozen=True)
class GripperCommandData:
    """A gripper command: finger opening and the effort allowed to reach it.

    Attributes:
        state: The requested binary state.
        width_m: Distance between the fingers to command (Panda: 0 closed .. 0.08 open).
        max_effort_n: Grasp force limit in newtons (used by force-controlled grippers).
    """

    state: GripperState
    width_m: float
    max_effort_n: float = 20.0


@dataclass
class JointStateSample:
    """One ``/joint_states`` reading reduced to what the backends need.

    Attributes:
        positions_rad: Joint name -> position.
        velocities_rad_s: Joint name -> velocity (may be empty: not every driver fills it).
        stamp_s: Message stamp (or receive time when the stamp is zero).
    """

    positions_rad: dict[str, float] = field(default_factory=dict)
    velocities_rad_s: dict[str, float] = field(default_factory=dict)
    stamp_s: float = 0.0

    def arm_q(self, names: tuple[str, ...]) -> np.ndarray | None:
        """Positions of ``names`` in order, or None when one is missing or not finite."""
        try:
            q = np.array([self.positions_rad[n] for n in names], float)
        except KeyError:
            return None
        return q if np.all(np.isfinite(q)) else None

    def max_speed(self, names: tuple[str, ...]) -> float | None:
        """Largest absolute velocity of ``names``, or None when velocities are not reported."""
        vals = [self.velocities_rad_s.get(n) for n in names]
        if any(v is None for v in vals):
            return None
        return float(np.max(np.abs(vals)))
