"""The motion-backend interface the executor drives.

A backend moves the TCP to a base-frame pose, then sets the gripper, one goal at a time, and
reports progress when polled. It never blocks the caller for longer than its planning step: the
executor node calls :meth:`MotionBackend.start` from a callback and :meth:`MotionBackend.poll`
from a timer. Backends hold no rclpy objects; the node hands them plain callables to publish
with and feeds them ``/joint_states`` through :meth:`MotionBackend.update_joint_state`.
"""
from __future__ import annotations

import abc

from robot_r1_ros.core.errors import RobotR1Error
from robot_r1_ros.motion.types import JointStateSample, MotionGoal, MotionProgress


class MotionError(RobotR1Error):
    """A goal cannot be executed (no joint state, IK failure, planning failure, ...)."""


class MotionBackend(abc.ABC):
    """Move the end-effector to a base-frame pose with a gripper command."""

    #: Name reported in ``ExecutorState.backend``.
    name: str = ''

    @abc.abstractmethod
    def start(self, goal: MotionGoal, now_s: float) -> None:
        """Begin executing ``goal``, replacing (preempting) any goal in progress.

        Raises:
            MotionError: the goal cannot be started; nothing was sent to the robot.
        """

    @abc.abstractmethod
    def poll(self, now_s: float) -> MotionProgress:
        """Progress of the current (or last) goal."""

    @abc.abstractmethod
    def hold(self, now_s: float) -> None:
        """Stop the arm where it is and drop the current goal."""

    def update_joint_state(self, sample: JointStateSample) -> None:
        """Latest ``/joint_states`` reading (backends that track arrival themselves use it)."""

    def tcp_position(self) -> tuple[float, float, float] | None:
        """Measured TCP position in the base frame, when the backend knows it."""
        return None

    def close(self) -> None:
        """Release resources (threads, connections)."""
