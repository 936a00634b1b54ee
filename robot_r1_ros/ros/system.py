"""The one description of the robot_r1 system: which nodes run, with which parameters.

Both ``launch/franka.launch.py`` (launch_ros ``Node`` actions) and ``robot-r1 bringup franka``
(plain processes, for pip-only installs) are derived from :func:`describe_system`, so the two
start the same executables with the same parameters file, overrides and remappings
(``test/ros/test_launch_franka.py`` checks it). No rclpy import here: the launch file and the
bringup command import this module cheaply.

Launch arguments (:data:`LAUNCH_ARGUMENTS`): ``params_file`` (default: the installed
``config/franka.yaml``), ``namespace`` (``robot_r1``), ``model`` (``''`` keeps the params file's
``model.id``), ``backend`` (``direct`` | ``moveit``), ``use_sim`` (``true``: start the MuJoCo sim
node and run every node on its ``/clock``).

With ``use_sim`` on a machine without control_msgs / franka_msgs (a pip-only install: they are
not on PyPI), the executor is switched to the sim's topic interfaces (:func:`sim_fallback`) and
a warning says so; with them (any ROS 2 install, CI's overlay) the sim is driven through the
same actions as the real robot.
"""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.paths import REPO_ROOT

PACKAGE = 'robot_r1_ros'
_LOG = logging.getLogger(__name__)
#: Seconds a node gets to exit after SIGINT before SIGTERM (launch's ``sigterm_timeout``, the
#: bringup's ``--sigterm-timeout-s``): the reasoning node releases its model on the way out,
#: which took 4-7 s on a loaded 2-core machine, more than launch's default 5 s.
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument (also a ``robot-r1 bringup`` option of the same name).

    ``choices`` are checked case-insensitively by :func:`resolve_arguments` for launch and
    bringup alike (launch's own ``choices`` check is case-sensitive, so it is not used).
    """

    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()


ROBOT_PARAMS = {'panda': 'franka.yaml', 'fr3': 'fr3.yaml'}
"""Robot -> its parameters file in config/ (the robot description as data)."""

LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument('robot', 'panda', 'the arm: panda (config/franka.yaml) or fr3 '
                   '(config/fr3.yaml: fr3 joint names, /fr3_arm_controller, franka_gripper, '
                   'FR3 joint limits)', tuple(ROBOT_PARAMS)),
    LaunchArgument('params_file', '', 'parameters file with one block per node (default: the '
                   'installed config file of the robot argument)'),
    LaunchArgument('namespace', 'robot_r1', 'namespace of the reasoning and executor nodes '
                   '(topics /<namespace>/next_keypoint, /<namespace>/executor_state); / for the '
                   'root namespace'),
    LaunchArgument('model', '', 'reasoning model: checkpoint folder, hub id (e.g. '
                   'Qwen/Qwen2.5-VL-7B-Instruct) or scripted:<mode>; empty keeps model.id from '
                   'the params file'),
    LaunchArgument('backend', 'direct', 'executor motion backend: direct (IK + '
                   'JointTrajectory) or moveit (moveit_py); any case', ('direct', 'moveit')),
    LaunchArgument('use_sim', 'true', 'start the MuJoCo sim node and run all nodes on its '
                   '/clock (use_sim_time); false for a real robot; true/false in any case, '
                   'or 1/0', ('true', 'false', '1', '0')),
    LaunchArgument('moveit_config_file', '', 'backend moveit: YAML of MoveIt parameters (a '
                   'dumped MoveItConfigsBuilder(...).to_moveit_configs().to_dict(), README); '
                   'sets the executor\'s moveit.config_file'),
    LaunchArgument('camera_topic', '', 'sensor_msgs/Image topic of the scene camera (e.g. '
                   '/camera/camera/color/image_raw from realsense2_camera); empty keeps the '
                   'params file\'s topics.image'),
)


@dataclass(frozen=True)
class NodeDescription:
    """One node of the system, in the terms of ``launch_ros.actions.Node``.

    Attributes:
        name: Node name (``-r __node:=``).
        executable: Executable installed under ``lib/robot_r1_ros`` (``ros2 run`` name).
        module: Python module whose ``main()`` the executable calls.
        namespace: Namespace ('' = root).
        params_file: Parameters file passed first (``--params-file``).
        overrides: Parameters set on top of the file (launch writes them to a second file).
        remappings: ``(from, to)`` pairs (``-r from:=to``).
    """

    name: str
    executable: str
    module: str
    namespace: str
    params_file: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()

    @property
    def fully_qualified_name(self) -> str:
        """``/<namespace>/<name>`` (or ``/<name>``)."""
        ns = self.namespace.strip('/')
        return f'/{ns}/{self.name}' if ns else f'/{self.name}'


def default_params_file(robot: str = 'panda') -> str:
    """The installed ``share/robot_r1_ros/config/<robot's file>``, else the source tree's."""
    name = ROBOT_PARAMS[robot]
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
        try:
            path = Path(get_package_share_directory(PACKAGE)) / 'config' / name
            if path.is_file():
                return str(path)
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    return str(REPO_ROOT / 'config' / name)


def parse_bool(value: str | bool, name: str) -> bool:
    """``true``/``false`` (any case, or 1/0) as launch's IfCondition reads them.

    Raises:
        ConfigError: anything else.
    """
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ('true', '1'):
        return True
    if text in ('false', '0'):
        return False
    raise ConfigError(f'argument {name} must be true or false, got {value!r}', name)


def root_or_namespace(value: str) -> str:
    """The namespace without its slashes; ``/``, empty, ``''`` and ``""`` all mean the root
    namespace (``ros2 launch`` refuses an empty ``namespace:=``, so users type ``namespace:=/``;
    a shell-quoted ``namespace:="''"`` arrives as the two quote characters)."""
    text = value.strip()
    if text in ("''", '""'):
        return ''
    return text.strip('/')


def resolve_arguments(values: Mapping[str, str]) -> dict[str, str]:
    """Fill defaults and check choices of the launch arguments.

    Raises:
        ConfigError: an unknown argument or a value outside its choices.
    """
    known = {a.name: a for a in LAUNCH_ARGUMENTS}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f'unknown argument(s): {", ".join(unknown)}; expected '
                          f'{", ".join(known)}', unknown[0])
    out = {a.name: str(values.get(a.name, a.default)) for a in LAUNCH_ARGUMENTS}
    for arg in LAUNCH_ARGUMENTS:
        if arg.choices and out[arg.name].lower() not in arg.choices:
            raise ConfigError(f'argument {arg.name} must be one of {", ".join(arg.choices)}, '
                              f'got {out[arg.name]!r}', arg.name)
    return out


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def sim_fallback() -> tuple[dict[str, str], str]:
    """Executor overrides for the sim when the action interfaces are not installed.

    Returns:
        (overrides, why): empty when control_msgs and franka_msgs are importable; otherwise
        ``arm.interface``/``gripper.interface`` set to ``topic`` and the reason.
    """
    missing = [m for m in ('control_msgs', 'franka_msgs') if not _importable(f'{m}.action')]
    if not missing:
        return {}, ''
    return ({'arm.interface': 'topic', 'gripper.interface': 'topic'},
            f'{" and ".join(missing)} not installed (not on PyPI; part of any ROS 2 / '
            'franka_ros2 install): the executor drives the sim through its topic interfaces '
            '(JointTrajectory, Float64 gripper) instead of FollowJointTrajectory and '
            'franka_gripper actions')


def describe_system(params_file: str = '', namespace: str = 'robot_r1', model: str = '',
                    backend: str = 'direct', use_sim: str | bool = 'true',
                    moveit_config_file: str = '', robot: str = 'panda',
                    camera_topic: str = '') -> list[NodeDescription]:
    """The nodes to start for these launch-argument values (strings, as launch gives them).

    Returns:
        Reasoning node, executor node and (``use_sim``) the sim node, in start order: the sim
        first, so the other nodes find a clock, joint states and images.

    Raises:
        ConfigError: a bad argument value.
    """
    args = resolve_arguments({'params_file': params_file, 'namespace': namespace,
                              'model': model, 'backend': backend, 'use_sim': str(use_sim),
                              'moveit_config_file': moveit_config_file, 'robot': robot,
                              'camera_topic': camera_topic})
    sim = parse_bool(args['use_sim'], 'use_sim')
    params = args['params_file'] or default_params_file(args['robot'].lower())
    ns = root_or_namespace(args['namespace'])
    clock = {'use_sim_time': True} if sim else {}
    reasoning_overrides: dict[str, Any] = dict(clock)
    if args['model']:
        reasoning_overrides['model.id'] = args['model']
    if args['camera_topic']:
        if ' ' in args['camera_topic']:
            raise ConfigError(f'argument camera_topic must be a topic name, got '
                              f'{args["camera_topic"]!r}', 'camera_topic')
        reasoning_overrides['topics.image'] = args['camera_topic']
    nodes = []
    if sim:
        # The sim (root namespace: /joint_states, /camera/...) publishes the task on its relative
        # `task`: remapped into the reasoning node's namespace, whichever that is.
        nodes.append(NodeDescription('sim_node', 'sim_node', f'{PACKAGE}.ros.sim_node', '',
                                     params, remappings=(('task', f'/{ns}/task' if ns
                                                          else '/task'),)))
    nodes.append(NodeDescription('reasoning_node', 'reasoning_node',
                                 f'{PACKAGE}.ros.reasoning_node', ns, params,
                                 reasoning_overrides))
    executor_overrides: dict[str, Any] = {'backend': args['backend'].lower(), **clock}
    if args['moveit_config_file']:
        path = Path(args['moveit_config_file']).expanduser()
        if not path.is_file():
            raise ConfigError(f'argument moveit_config_file: no file {str(path)!r}',
                              'moveit_config_file')
        executor_overrides['moveit.config_file'] = str(path.resolve())
    if sim:
        fallback, why = sim_fallback()
        if fallback:
            _LOG.warning('%s', why)
            executor_overrides.update(fallback)
    nodes.append(NodeDescription('executor_node', 'executor_node',
                                 f'{PACKAGE}.ros.executor_node', ns, params,
                                 executor_overrides))
    return nodes
