"""Parameters of the executor node: declared in one place, read once into a frozen config.

:data:`PARAMETERS` lists every parameter (name, default, meaning). The node declares them all at
start-up (:func:`declare_parameters`) and reads them into a validated :class:`ExecutorNodeConfig`
(:func:`read_config`); a bad value raises :class:`~robot_r1_ros.core.errors.ConfigError` naming
the parameter, and the node exits with that message. Defaults for the Franka scene are in the
``executor_node:`` block of ``config/franka.yaml``; the workspace box is the core's
:data:`~robot_r1_ros.core.config.DEFAULT_WORKSPACE` (the reasoning node's too), read into a
:class:`~robot_r1_ros.core.config.WorkspaceConfig`. The other settings are the motion layer's
frozen configs (validation limits, execution policy, backends), which this module composes.
``python -m robot_r1_ros.ros.executor_params`` prints the README table. The declaring, reading and
type checking are :mod:`robot_r1_ros.ros.params`, shared with the reasoning node.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping

from robot_r1_ros.core.config import DEFAULT_WORKSPACE, WorkspaceConfig
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.geometry import Workspace
from robot_r1_ros.motion.direct import DirectBackendConfig
from robot_r1_ros.motion.executor import ExecutionConfig
from robot_r1_ros.motion.moveit_backend import MoveItBackendConfig
from robot_r1_ros.motion.validation import ValidationConfig
from robot_r1_ros.ros.params import ParamSpec, ParamTable

BACKENDS = ('direct', 'moveit')


_D = DirectBackendConfig()
_M = MoveItBackendConfig()
_V = ValidationConfig()

PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec('backend', 'direct', 'motion backend: direct (IK + JointTrajectory to the arm '
              'controller) or moveit (moveit_py; needs MoveIt and a MoveIt config)'),
    ParamSpec('dry_run', False, 'validate and report every prediction, never move'),
    ParamSpec('on_new_goal', 'preempt', 'a valid prediction during a motion: preempt (replace '
              'the running goal) or wait (run it next; only the newest waiting one is kept)'),
    ParamSpec('control_rate_hz', 50.0, 'rate of the progress check (arrival, timeout) [Hz]'),
    ParamSpec('state_period_s', 1.0, 'executor_state is published on every change and at '
              'least this often [s]'),
    # topics
    ParamSpec('topics.prediction', 'next_keypoint', 'robot_r1_ros/KeypointPrediction input '
              '(relative: /robot_r1/next_keypoint in the robot_r1 namespace)'),
    ParamSpec('topics.state', 'executor_state', 'robot_r1_ros/ExecutorState output (transient '
              'local)'),
    ParamSpec('topics.joint_states', '/joint_states', 'sensor_msgs/JointState input'),
    ParamSpec('topics.arm_trajectory', '/panda_arm_controller/joint_trajectory',
              'direct: trajectory_msgs/JointTrajectory output (a joint_trajectory_controller\'s '
              '~/joint_trajectory, or the sim node)'),
    ParamSpec('topics.gripper_command', '/panda_gripper/command',
              'direct: std_msgs/Float64 finger opening output [m]; empty = no gripper'),
    # robot
    ParamSpec('robot.base_frame', 'panda_link0', 'frame_id every prediction must carry'),
    ParamSpec('robot.joint_prefix', 'panda', 'joint names are <prefix>_joint1..7 and '
              '<prefix>_finger_joint1/2 (fr3 on an FR3)'),
    # validation
    ParamSpec('workspace.min_xyz_base_m', list(DEFAULT_WORKSPACE.min_xyz_base_m),
              'lower corner of the allowed keypoint box in the base frame [m]'),
    ParamSpec('workspace.max_xyz_base_m', list(DEFAULT_WORKSPACE.max_xyz_base_m),
              'upper corner of the allowed keypoint box in the base frame [m]'),
    ParamSpec('validation.max_age_s', _V.max_age_s, 'reject predictions older than this '
              '(clock now minus the prediction stamp, i.e. its camera image) [s]'),
    ParamSpec('validation.max_future_s', _V.max_future_s,
              'reject stamps further than this ahead of the clock [s]'),
    ParamSpec('validation.max_step_m', _V.max_step_m,
              'reject keypoints farther than this from the measured TCP [m]'),
    # direct backend
    ParamSpec('direct.velocity_scale', _D.velocity_scale,
              'fraction of the Panda joint velocity limits used, (0, 1]'),
    ParamSpec('direct.acceleration_scale', _D.acceleration_scale,
              'fraction of the Panda joint acceleration limits used, (0, 1]'),
    ParamSpec('direct.max_tcp_speed_m_s', _D.max_tcp_speed_m_s, 'peak TCP speed [m/s]'),
    ParamSpec('direct.min_duration_s', _D.min_duration_s, 'shortest trajectory [s]'),
    ParamSpec('direct.sample_period_s', _D.sample_period_s, 'trajectory point spacing [s]'),
    ParamSpec('direct.cartesian_step_m', _D.cartesian_step_m,
              'IK waypoint spacing along the straight TCP line [m]'),
    ParamSpec('direct.goal_tolerance_m', _D.goal_tolerance_m,
              'arrival: measured TCP within this distance of the goal [m]'),
    ParamSpec('direct.settle_speed_rad_s', _D.settle_speed_rad_s,
              'arrival: every arm joint slower than this [rad/s]'),
    ParamSpec('direct.settle_timeout_s', _D.settle_timeout_s,
              'a goal fails if not reached this long after its trajectory ends [s]'),
    ParamSpec('direct.joint_state_timeout_s', _D.joint_state_timeout_s,
              'a goal fails to start if the last joint state is older than this [s]'),
    ParamSpec('direct.max_joint_jump_rad', _D.max_joint_jump_rad,
              'largest joint change between IK waypoints (IK branch switch guard) [rad]'),
    ParamSpec('direct.stop_time_s', _D.stop_time_s,
              'stop: time_from_start of the hold point [s]'),
    ParamSpec('direct.gripper_open_width_m', _D.gripper_open_width_m,
              'finger opening commanded for OPEN [m]'),
    ParamSpec('direct.gripper_closed_width_m', _D.gripper_closed_width_m,
              'finger opening commanded for CLOSED [m]'),
    ParamSpec('direct.gripper_time_s', _D.gripper_time_s,
              'time the gripper is given to act before the goal counts as reached [s]'),
    # moveit backend
    ParamSpec('moveit.node_name', _M.node_name, 'name of the node MoveItPy creates (its '
              'parameters come from files keyed by this name, or from moveit.config_file)'),
    ParamSpec('moveit.config_file', _M.config_file, 'YAML of MoveIt parameters (a dumped '
              'MoveItConfigsBuilder(...).to_moveit_configs().to_dict()); empty = the '
              '--params-file arguments of the process'),
    ParamSpec('moveit.arm_group', _M.arm_group, 'planning group of the arm'),
    ParamSpec('moveit.hand_group', _M.hand_group, 'planning group of the gripper; empty = none'),
    ParamSpec('moveit.pose_link', _M.pose_link, 'link of the pose goal (panda_link8 in '
              'moveit_resources; <arm>_hand_tcp with franka_description)'),
    ParamSpec('moveit.tcp_offset_m', _M.tcp_offset_m,
              'TCP distance from pose_link along its z axis [m] (0 if pose_link is the TCP)'),
    ParamSpec('moveit.tcp_yaw_offset_rad', _M.tcp_yaw_offset_rad,
              'TCP frame rotation about pose_link z [rad] (0 if pose_link is the TCP)'),
    ParamSpec('moveit.hand_open_state', _M.hand_open_state, 'named hand state for OPEN'),
    ParamSpec('moveit.hand_closed_state', _M.hand_closed_state, 'named hand state for CLOSED'),
    ParamSpec('moveit.plan_request_namespace', _M.plan_request_namespace,
              'PlanRequestParameters namespace (e.g. ompl_rrtc); empty = plan() defaults'),
    ParamSpec('moveit.controllers', [''], 'controllers for execute(); [""] = MoveIt chooses'),
    ParamSpec('moveit.velocity_scale', _M.velocity_scale,
              'max_velocity_scaling_factor (with a plan_request_namespace), (0, 1]'),
    ParamSpec('moveit.acceleration_scale', _M.acceleration_scale,
              'max_acceleration_scaling_factor (with a plan_request_namespace), (0, 1]'),
)
"""Every parameter of the executor node."""

_TABLE = ParamTable('executor_node', PARAMETERS)
declare_parameters = _TABLE.declare
read_values = _TABLE.read_values
main = _TABLE.main


@dataclass(frozen=True)
class ExecutorNodeConfig:
    """The executor node's settings, validated (built by :func:`config_from_values`).

    Attributes:
        backend: ``direct`` or ``moveit``.
        execution: Policy, dry run and validation limits.
        workspace: Allowed keypoint box.
        direct: Direct backend settings.
        moveit: MoveIt backend settings.
        control_rate_hz: Progress check rate.
        state_period_s: Longest gap between ExecutorState messages.
        prediction_topic, state_topic, joint_states_topic, arm_trajectory_topic,
            gripper_command_topic: Topic names ('' gripper topic = no gripper output).
    """

    backend: str = 'direct'
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    workspace: Workspace = field(default_factory=DEFAULT_WORKSPACE.workspace)
    direct: DirectBackendConfig = field(default_factory=DirectBackendConfig)
    moveit: MoveItBackendConfig = field(default_factory=MoveItBackendConfig)
    control_rate_hz: float = 50.0
    state_period_s: float = 1.0
    prediction_topic: str = 'next_keypoint'
    state_topic: str = 'executor_state'
    joint_states_topic: str = '/joint_states'
    arm_trajectory_topic: str = '/panda_arm_controller/joint_trajectory'
    gripper_command_topic: str = '/panda_gripper/command'


def _section(g: Callable[[str], Any], prefix: str, cls: type, extra: Mapping[str, Any]) -> Any:
    """Build ``cls`` from the parameters ``<prefix>.<field>``; errors name the parameter."""
    kwargs = dict(extra)
    for f in fields(cls):
        name = f'{prefix}.{f.name}'
        if name in _TABLE.by_name and f.name not in extra:
            kwargs[f.name] = g(name)
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        param = f'{prefix}.{exc.field}' if exc.field else prefix
        raise ConfigError(f'parameter {param}: {exc}', param) from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'parameter {prefix}.*: {exc}', prefix) from None


def config_from_values(values: Mapping[str, Any]) -> ExecutorNodeConfig:
    """Build the config from parameter values (missing names take their defaults).

    Raises:
        ConfigError: An unknown parameter name, or a bad value or type (``field`` is the
            parameter).
    """
    g = _TABLE.getter(values)
    backend = g('backend')
    if backend not in BACKENDS:
        raise ConfigError(f'parameter backend must be one of {", ".join(BACKENDS)}, got '
                          f'{backend!r}', 'backend')
    for name in ('control_rate_hz', 'state_period_s'):
        value = g(name)
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ConfigError(f'parameter {name} must be a finite number > 0, got {value!r}',
                              name)
    topics = {n: g(n) for n in ('topics.prediction', 'topics.state', 'topics.joint_states',
                                'topics.arm_trajectory')}
    for name, value in topics.items():
        if not isinstance(value, str) or not value.strip() or ' ' in value:
            raise ConfigError(f'parameter {name} must be a topic name, got {value!r}', name)
    if ' ' in g('topics.gripper_command'):
        raise ConfigError('parameter topics.gripper_command must be a topic name or empty',
                          'topics.gripper_command')
    try:
        validation = ValidationConfig(base_frame=g('robot.base_frame'),
                                      max_age_s=float(g('validation.max_age_s')),
                                      max_future_s=float(g('validation.max_future_s')),
                                      max_step_m=float(g('validation.max_step_m')))
    except ConfigError as exc:
        param = 'robot.base_frame' if exc.field == 'base_frame' else f'validation.{exc.field}'
        raise ConfigError(f'parameter {param}: {exc}', param) from None
    try:
        execution = ExecutionConfig(on_new_goal=g('on_new_goal'), dry_run=bool(g('dry_run')),
                                    validation=validation)
    except ConfigError as exc:
        raise ConfigError(f'parameter on_new_goal: {exc}', 'on_new_goal') from None
    try:
        workspace = WorkspaceConfig(min_xyz_base_m=g('workspace.min_xyz_base_m'),
                                    max_xyz_base_m=g('workspace.max_xyz_base_m')).workspace()
    except ConfigError as exc:
        param = 'workspace.' + exc.field.split('[')[0]
        raise ConfigError(f'parameter {param}: {str(exc).split(": ", 1)[-1]}', param) from None
    prefix = g('robot.joint_prefix')
    direct = _section(g, 'direct', DirectBackendConfig, {'joint_prefix': prefix})
    controllers = tuple(c for c in g('moveit.controllers') if c)
    moveit = _section(g, 'moveit', MoveItBackendConfig,
                      {'controllers': controllers, 'joint_prefix': prefix,
                       'base_frame': g('robot.base_frame')})
    return ExecutorNodeConfig(
        backend=backend, execution=execution, workspace=workspace, direct=direct, moveit=moveit,
        control_rate_hz=float(g('control_rate_hz')), state_period_s=float(g('state_period_s')),
        prediction_topic=g('topics.prediction'), state_topic=g('topics.state'),
        joint_states_topic=g('topics.joint_states'),
        arm_trajectory_topic=g('topics.arm_trajectory'),
        gripper_command_topic=g('topics.gripper_command'))


def read_config(node: Any) -> ExecutorNodeConfig:
    """Read the node's declared parameters into a validated config (a bad value: ConfigError)."""
    return config_from_values(_TABLE.read_values(node))


if __name__ == '__main__':
    sys.exit(main())
