"""The sim node's parameters: one table (:data:`PARAMETERS`) that declares them, reads them
into a frozen, validated :class:`SimNodeConfig` (a bad value is a ``ConfigError`` naming the
parameter) and prints the README table (``python -m robot_r1_ros.ros.sim_params``): the same
machinery (:mod:`robot_r1_ros.ros.params`) as the reasoning and executor nodes."""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Mapping

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.ros.params import ParamSpec, ParamTable

DEFAULT_TASK = 'pick_place'  # sim.tasks.DEFAULT_TASK (checked by test_sim_params)
CLOCK_EPOCHS = ('wall', 'zero')

PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec('task', DEFAULT_TASK, 'task from the registry at start-up (reach_target, '
              'pick_lift, pick_place, stack, push)'),
    ParamSpec('seed', 0, 'seed of the initial state at start-up (>= 0)'),
    ParamSpec('scene_config', '', 'YAML with a `scene:` section (`config/sim.yaml`); empty = '
              'built-in defaults'),
    ParamSpec('camera_width', 224, 'front camera width [px] (the paper\'s 224x224)'),
    ParamSpec('camera_height', 224, 'front camera height [px]'),
    ParamSpec('camera_rate_hz', 15.0, 'camera publishing rate [Hz]'),
    ParamSpec('joint_state_rate_hz', 100.0, 'joint state (and /clock) publishing rate [Hz]'),
    ParamSpec('success_rate_hz', 2.0, '/sim/task_success publishing rate [Hz]'),
    ParamSpec('publish_clock', True, 'publish `/clock` (nodes run with `use_sim_time` when '
              '`use_sim:=true`)'),
    ParamSpec('real_time_factor', 1.0, 'sim seconds per wall second'),
    ParamSpec('max_catch_up_s', 0.1, 'beyond this lag the sim slows down instead of bursting '
              '[s]'),
    ParamSpec('clock_epoch', 'wall', 'sim time starts at the wall clock (`wall`) or at zero '
              '(`zero`)'),
)
"""Every parameter of the sim node."""

DEFAULTS: dict[str, Any] = {p.name: p.default for p in PARAMETERS}
"""Parameter name -> default (launch files and tests compare against these)."""

_TABLE = ParamTable('sim_node', PARAMETERS)
declare_parameters = _TABLE.declare
main = _TABLE.main


@dataclass(frozen=True)
class SimNodeConfig:
    """The sim node's settings, validated (built by :func:`config_from_values`).

    Attributes mirror the parameters of the same names.
    """

    task: str = DEFAULT_TASK
    seed: int = 0
    scene_config: str = ''
    camera_width: int = 224
    camera_height: int = 224
    camera_rate_hz: float = 15.0
    joint_state_rate_hz: float = 100.0
    success_rate_hz: float = 2.0
    publish_clock: bool = True
    real_time_factor: float = 1.0
    max_catch_up_s: float = 0.1
    clock_epoch: str = 'wall'

    def __post_init__(self) -> None:
        def bad(param: str, why: str) -> ConfigError:
            return ConfigError(f'parameter {param} {why}, got {getattr(self, param)!r}', param)

        for name in ('camera_rate_hz', 'joint_state_rate_hz', 'success_rate_hz',
                     'real_time_factor'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise bad(name, 'must be a finite number > 0')
        if not (math.isfinite(self.max_catch_up_s) and self.max_catch_up_s >= 0):
            raise bad('max_catch_up_s', 'must be a finite number >= 0')
        for name in ('camera_width', 'camera_height'):
            if not 16 <= getattr(self, name) <= 4096:
                raise bad(name, 'must be in 16..4096 px')
        if self.seed < 0:
            raise bad('seed', 'must be >= 0')
        if self.clock_epoch not in CLOCK_EPOCHS:
            raise bad('clock_epoch', f'must be one of {", ".join(CLOCK_EPOCHS)}')
        if not self.task.strip():
            raise bad('task', 'must name a task')


def config_from_values(values: Mapping[str, Any]) -> SimNodeConfig:
    """Build the config from parameter values (missing names take their defaults).

    Raises:
        ConfigError: An unknown parameter name, a wrong type or a bad value (``field`` is the
            parameter).
    """
    g = _TABLE.getter(values)
    return SimNodeConfig(**{p.name: g(p.name) for p in PARAMETERS})


def read_config(node: Any) -> SimNodeConfig:
    """Read the node's declared parameters into a validated config (a bad value: ConfigError)."""
    return config_from_values(_TABLE.read_values(node))


if __name__ == '__main__':
    sys.exit(main())
