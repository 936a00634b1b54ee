"""Status, executor-state and gripper names, read from the generated message classes.

The one place the nodes, ``robot-r1 demo`` and ``robot-r1 watch`` take these names from: the
constants of ``KeypointPrediction`` (``STATUS_*``, ``GRIPPER_*``) and ``ExecutorState``
(``STATE_*``), so a constant added to a ``.msg`` file shows up here without another copy. The
ROS-free mirrors in ``core.status`` are checked against these by a test.
"""
from __future__ import annotations

from robot_r1_ros.msg import ExecutorState, KeypointPrediction


def _constants(msg_class: type, prefix: str) -> dict[int, str]:
    """``{value: NAME}`` of the message constants ``<prefix>NAME`` (generated class attrs)."""
    return {int(getattr(msg_class, attr)): attr[len(prefix):]
            for attr in dir(msg_class)
            if attr.startswith(prefix) and attr[len(prefix):].isupper()
            and isinstance(getattr(msg_class, attr), int)}


STATUS_NAMES: dict[int, str] = _constants(KeypointPrediction, 'STATUS_')
"""KeypointPrediction status code -> name (``0: 'OK'``, ...)."""
GRIPPER_NAMES: dict[int, str] = {code: name.lower() for code, name in
                                 _constants(KeypointPrediction, 'GRIPPER_').items()}
"""KeypointPrediction gripper_command -> ``'open'`` / ``'closed'`` (the answer's words)."""
STATE_NAMES: dict[int, str] = _constants(ExecutorState, 'STATE_')
"""ExecutorState state code -> name (``0: 'IDLE'``, ...)."""
DONE_STATES: frozenset[int] = frozenset({ExecutorState.STATE_REACHED, ExecutorState.STATE_FAILED,
                                         ExecutorState.STATE_REJECTED})
"""Executor states that end a goal (the demo waits for one of these on its goal)."""
IDLE_OR_DONE_STATES: frozenset[int] = DONE_STATES | {ExecutorState.STATE_IDLE}
"""States after which the reasoning node's ``on_reached`` trigger may predict again (IDLE too:
an executor that was reset or restarted will never report on the old goal)."""


def status_name(code: int) -> str:
    """Name of a status code, ``UNKNOWN(<code>)`` for one the message does not define."""
    return STATUS_NAMES.get(int(code), f'UNKNOWN({code})')


def state_name(code: int) -> str:
    """Name of an executor state code, its number as text for an unknown one."""
    return STATE_NAMES.get(int(code), str(code))
