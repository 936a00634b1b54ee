"""Run-time parameter changes of the executor node (``ros2 param set``): applied or refused.

A change is never accepted and then ignored. The execution policy and the validation limits are
*live*: ``dry_run``, ``on_new_goal``, ``validation.*``, ``workspace.*`` and ``robot.base_frame``
take effect for the next prediction (turning ``dry_run`` on during a motion also holds the arm).
Everything else (backend, topics, rates, IK and MoveIt settings, joint names) shapes publishers,
timers or the motion backend built at start-up: a change is refused with that reason, so the
user restarts the node with the new value instead. ROS-free: the node calls :func:`plan_change`
from its ``on_set_parameters`` callback.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.ros.executor_params import PARAMETERS, ExecutorNodeConfig, config_from_values

_OURS = frozenset(p.name for p in PARAMETERS)
LIVE_PREFIXES = ('validation.', 'workspace.')
LIVE_NAMES = frozenset({'dry_run', 'on_new_goal', 'robot.base_frame'})


def _plain(value: Any) -> Any:
    """ROS arrays (tuples, array.array, numpy) as lists, so equal values compare equal."""
    if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
        return value
    return [v.item() if hasattr(v, 'item') else v for v in value]


def is_live(name: str) -> bool:
    """True for a parameter the running node applies."""
    return name in LIVE_NAMES or name.startswith(LIVE_PREFIXES)


@dataclass(frozen=True)
class ChangeDecision:
    """What to do with one ``set_parameters`` request.

    Attributes:
        config: The config to switch to (None: refused, or nothing of ours changed).
        reason: Why it was refused ('' when accepted).
    """

    config: ExecutorNodeConfig | None
    reason: str = ''

    @property
    def accepted(self) -> bool:
        """True unless refused."""
        return not self.reason


def plan_change(current: Mapping[str, Any], changes: Mapping[str, Any], *,
                backend_connected: bool = True) -> ChangeDecision:
    """Decide a parameter change.

    Args:
        current: Every executor parameter's current value.
        changes: The requested values (other nodes' parameters such as ``use_sim_time`` may be
            included; they are not ours and pass).
        backend_connected: False when the moveit backend was started in dry-run mode and never
            connected (then ``dry_run`` cannot be turned off without a restart).

    Returns:
        The new config, or the refusal reason naming the parameter(s).
    """
    ours = {k: _plain(v) for k, v in changes.items() if k in _OURS}
    current = {k: _plain(v) for k, v in current.items()}
    if not ours:
        return ChangeDecision(None)
    fixed = sorted(k for k, v in ours.items() if not is_live(k) and current.get(k) != v)
    if fixed:
        return ChangeDecision(None, f'{", ".join(fixed)}: read at start-up (publishers, timers '
                                    'or the motion backend depend on it); restart the node '
                                    'with the new value. Changeable while running: dry_run, '
                                    'on_new_goal, robot.base_frame, validation.*, workspace.*')
    try:
        config = config_from_values({**current, **ours})
    except ConfigError as exc:
        return ChangeDecision(None, str(exc))
    if (config.backend == 'moveit' and not backend_connected
            and not config.execution.dry_run):
        return ChangeDecision(None, 'dry_run: the moveit backend was started in dry-run mode '
                                    'and is not connected; restart the node with dry_run false')
    return ChangeDecision(config)
