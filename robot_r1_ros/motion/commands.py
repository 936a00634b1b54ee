"""Commands sent to the robot's controllers, and what their results mean (no ROS types).

A motion backend hands an arm trajectory or a gripper command to a *sink* (the node's action
client or topic publisher) and gets a :class:`CommandTicket` back. With an action interface the
ticket is resolved by the action's result (``control_msgs/FollowJointTrajectory``,
``control_msgs/GripperCommand``, franka_gripper's ``Grasp``/``Move``); with a topic interface the
ticket is ``None`` and the backend judges arrival itself (measured joint states, a timer).

The functions here turn action results into an outcome and a reason a person can act on; the
ROS layer (:mod:`robot_r1_ros.ros.controller_clients`) only copies message fields into them.
"""
from __future__ import annotations

import enum
import math
import threading
from dataclasses import dataclass

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.types import GripperState


class TicketState(str, enum.Enum):
    """Where a command sent to a controller stands."""

    PENDING = 'pending'        # sent, no result yet
    SUCCEEDED = 'succeeded'    # the controller reported success
    FAILED = 'failed'          # rejected, aborted, an error code, or no server


class CommandTicket:
    """Result of one command, filled in by whoever talks to the controller (thread-safe).

    Attributes:
        what: What was commanded (for messages), e.g. ``follow_joint_trajectory``.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self._lock = threading.Lock()
        self._state = TicketState.PENDING
        self._reason = ''
        self._cancel = None

    @property
    def state(self) -> TicketState:
        """Current state."""
        with self._lock:
            return self._state

    @property
    def reason(self) -> str:
        """Why it failed (empty otherwise)."""
        with self._lock:
            return self._reason

    def succeed(self) -> None:
        """Mark as succeeded (only from PENDING)."""
        self._resolve(TicketState.SUCCEEDED, '')

    def fail(self, reason: str) -> None:
        """Mark as failed with ``reason`` (only from PENDING)."""
        self._resolve(TicketState.FAILED, reason)

    def _resolve(self, state: TicketState, reason: str) -> None:
        with self._lock:
            if self._state is TicketState.PENDING:
                self._state, self._reason = state, reason

    def set_canceller(self, cancel) -> None:
        """Callable that asks the controller to cancel this command."""
        self._cancel = cancel

    def cancel(self) -> None:
        """Ask the controller to cancel (no-op without a canceller or once resolved)."""
        if self._cancel is not None and self.state is TicketState.PENDING:
            self._cancel()


# control_msgs/action/FollowJointTrajectory Result.error_code (jazzy 5.x and master 6.x).
FJT_ERROR_NAMES = {
    0: 'SUCCESSFUL', -1: 'INVALID_GOAL', -2: 'INVALID_JOINTS', -3: 'OLD_HEADER_TIMESTAMP',
    -4: 'PATH_TOLERANCE_VIOLATED', -5: 'GOAL_TOLERANCE_VIOLATED',
}


def follow_joint_trajectory_outcome(status: str, error_code: int, error_string: str
                                    ) -> tuple[bool, str]:
    """(success, reason) of a FollowJointTrajectory result.

    Args:
        status: Goal status as a word: ``succeeded``, ``aborted``, ``canceled``, ``rejected``.
        error_code: ``Result.error_code``.
        error_string: ``Result.error_string``.
    """
    name = FJT_ERROR_NAMES.get(int(error_code), f'error code {int(error_code)}')
    detail = f': {error_string}' if error_string else ''
    if status == 'succeeded' and int(error_code) == 0:
        return True, ''
    if status == 'rejected':
        return False, f'arm controller rejected the trajectory{detail}'
    if int(error_code) != 0:
        return False, f'arm controller: {name}{detail}'
    return False, f'arm trajectory {status}{detail}'


@dataclass(frozen=True)
class GripperConfig:
    """How the gripper is commanded (executor node parameters ``gripper.*``).

    Attributes:
        interface: ``franka`` (franka_gripper ``~/grasp`` + ``~/move`` actions),
            ``gripper_command`` (``control_msgs/GripperCommand`` action: ros2_control's
            gripper_action_controller, franka_gripper's ``~/gripper_action``, MoveIt),
            ``topic`` (``std_msgs/Float64`` finger opening: the sim's simple interface, no
            feedback) or ``none``.
        open_width_m: Finger opening for OPEN.
        closed_width_m: Finger opening commanded for CLOSED (``topic``, ``gripper_command``).
        speed_m_s: Finger speed (franka Grasp/Move).
        force_n: Grasp force (franka Grasp) and ``max_effort`` (GripperCommand).
        grasp_width_m: Expected object width (franka Grasp ``width``).
        epsilon_inner_m: A grasp succeeds if the fingers stop at most this much narrower than
            ``grasp_width_m`` (franka Grasp ``epsilon.inner``).
        epsilon_outer_m: ... or at most this much wider (``epsilon.outer``).
        empty_width_m: ``gripper_command``: a CLOSED command whose fingers end narrower than
            this held nothing: the grasp failed.
        position_per_finger: ``gripper_command``: ``position`` is one finger's joint position
            (half the opening: franka_gripper, moveit_resources' panda_hand_controller) rather
            than the opening.
        timeout_s: A gripper action without a result after this long fails.
        time_s: ``topic``: time the gripper is given before the goal counts as reached.
    """

    interface: str = 'franka'
    open_width_m: float = 0.08
    closed_width_m: float = 0.0
    speed_m_s: float = 0.1
    force_n: float = 20.0
    grasp_width_m: float = 0.04
    epsilon_inner_m: float = 0.035
    epsilon_outer_m: float = 0.035
    empty_width_m: float = 0.005
    position_per_finger: bool = True
    timeout_s: float = 10.0
    time_s: float = 1.0

    INTERFACES = ('franka', 'gripper_command', 'topic', 'none')

    def __post_init__(self) -> None:
        if self.interface not in self.INTERFACES:
            raise ConfigError(f'interface must be one of {", ".join(self.INTERFACES)}, got '
                              f'{self.interface!r}', 'interface')
        for name in ('open_width_m', 'closed_width_m', 'grasp_width_m', 'epsilon_inner_m',
                     'epsilon_outer_m', 'empty_width_m'):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 0.2):
                raise ConfigError(f'{name} must be in [0, 0.2] m, got {value}', name)
        for name in ('speed_m_s', 'force_n', 'timeout_s', 'time_s'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ConfigError(f'{name} must be a finite number > 0, got {value}', name)

    @property
    def has_feedback(self) -> bool:
        """True when the interface reports a result (an action)."""
        return self.interface in ('franka', 'gripper_command')

    def width_for(self, state: GripperState) -> float:
        """Commanded opening for a binary state."""
        return self.open_width_m if state is GripperState.OPEN else self.closed_width_m


def gripper_command_outcome(cfg: GripperConfig, state: GripperState, status: str,
                            position: float, reached_goal: bool, stalled: bool
                            ) -> tuple[bool, str]:
    """(success, reason) of a ``control_msgs/GripperCommand`` result.

    OPEN succeeds when the action succeeded (or the fingers reached the goal). CLOSED succeeds
    when the fingers stopped on something: not aborted, and the opening is at least
    ``empty_width_m`` (closing fully means nothing was grasped).
    """
    opening = 2.0 * position if cfg.position_per_finger else position
    if status in ('rejected', 'canceled'):
        return False, f'gripper command {status}'
    if state is GripperState.OPEN:
        if status == 'succeeded' or reached_goal:
            return True, ''
        return False, (f'gripper did not open: {status}, opening {opening * 1e3:.1f} mm'
                       + (', stalled' if stalled else ''))
    if opening < cfg.empty_width_m:
        return False, (f'grasp failed: fingers closed to {opening * 1e3:.1f} mm '
                       f'(< {cfg.empty_width_m * 1e3:.1f} mm), nothing held')
    if status != 'succeeded' and not stalled:
        return False, f'grasp failed: gripper command {status} at {opening * 1e3:.1f} mm'
    return True, ''


def franka_outcome(action: str, status: str, success: bool, error: str) -> tuple[bool, str]:
    """(success, reason) of a franka_gripper ``Grasp``/``Move``/``Homing`` result."""
    if status == 'succeeded' and success:
        return True, ''
    label = {'grasp': 'grasp failed', 'move': 'gripper move failed',
             'homing': 'gripper homing failed'}.get(action, f'{action} failed')
    detail = error or (f'action {status}' if status != 'succeeded' else 'success = false')
    return False, f'{label}: {detail}'
