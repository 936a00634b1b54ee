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
from robot_r1_ros.core.kinematics import PANDA
from robot_r1_ros.ros.params import ParamSpec, ParamTable

DEFAULT_TASK = 'pick_place'  # sim.tasks.DEFAULT_TASK (checked by test_sim_params)
CLOCK_EPOCHS = ('wall', 'zero')
JOINT_PREFIXES = ('panda', 'fr3')

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
    # The robot the sim poses as (the scene is a Panda; an FR3 has the same kinematics).
    ParamSpec('joint_prefix', 'panda', 'joint names <prefix>_joint1..7, '
              '<prefix>_finger_joint1/2: panda or fr3'),
    ParamSpec('arm_controller', 'panda_arm_controller', 'controller name: '
              '/<name>/follow_joint_trajectory (control_msgs action) and /<name>/joint_trajectory'),
    ParamSpec('gripper_node', 'franka_gripper', 'franka_gripper node: /<name>/grasp, move, '
              'homing (franka_msgs) and gripper_action (control_msgs/GripperCommand)'),
    ParamSpec('gripper_command_topic', '/panda_gripper/command',
              'std_msgs/Float64 finger opening input [m] (the simple interface)'),
    ParamSpec('gripper_state_topic', '/panda_gripper/joint_states',
              'sensor_msgs/JointState of the fingers only'),
    ParamSpec('joint_lower_rad', list(PANDA.lower_rad), 'the robot\'s joint lower limits '
              '[rad]: trajectories must respect them and the scene\'s own (config/fr3.yaml: FR3)'),
    ParamSpec('joint_upper_rad', list(PANDA.upper_rad), 'the robot\'s joint upper limits [rad]'),
    ParamSpec('joint_max_velocity_rad_s', list(PANDA.max_velocity_rad_s),
              'the robot\'s joint velocity limits [rad/s]'),
    ParamSpec('goal_tolerance_rad', 0.02, 'follow_joint_trajectory: per-joint goal tolerance '
              'when the goal gives none [rad]'),
    ParamSpec('goal_time_s', 1.0, 'follow_joint_trajectory: time after the trajectory end to '
              'reach the tolerance when the goal gives none [s]'),
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
    joint_prefix: str = 'panda'
    arm_controller: str = 'panda_arm_controller'
    gripper_node: str = 'franka_gripper'
    gripper_command_topic: str = '/panda_gripper/command'
    gripper_state_topic: str = '/panda_gripper/joint_states'
    joint_lower_rad: tuple[float, ...] = PANDA.lower_rad
    joint_upper_rad: tuple[float, ...] = PANDA.upper_rad
    joint_max_velocity_rad_s: tuple[float, ...] = PANDA.max_velocity_rad_s
    goal_tolerance_rad: float = 0.02
    goal_time_s: float = 1.0

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
        if self.joint_prefix not in JOINT_PREFIXES:
            raise bad('joint_prefix', f'must be one of {", ".join(JOINT_PREFIXES)}')
        for name in ('arm_controller', 'gripper_node', 'gripper_command_topic',
                     'gripper_state_topic'):
            if not getattr(self, name).strip() or ' ' in getattr(self, name):
                raise bad(name, 'must be a name')
        for name in ('joint_lower_rad', 'joint_upper_rad', 'joint_max_velocity_rad_s'):
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) != 7 or not all(math.isfinite(v) for v in values):
                raise bad(name, 'must be 7 finite numbers')
            object.__setattr__(self, name, values)
        if any(lo >= hi for lo, hi in zip(self.joint_lower_rad, self.joint_upper_rad)):
            raise bad('joint_lower_rad', 'must be below joint_upper_rad')
        if any(v <= 0 for v in self.joint_max_velocity_rad_s):
            raise bad('joint_max_velocity_rad_s', 'must be > 0')
        for name in ('goal_tolerance_rad', 'goal_time_s'):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise bad(name, 'must be a finite number > 0')


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
