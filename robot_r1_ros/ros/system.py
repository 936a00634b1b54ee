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
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.paths import REPO_ROOT

PACKAGE = 'robot_r1_ros'
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


LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument('params_file', '', 'parameters file with one block per node (default: the '
                   'installed config/franka.yaml)'),
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


def default_params_file() -> str:
    """The installed ``share/robot_r1_ros/config/franka.yaml``, else the source tree's."""
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
        try:
            path = Path(get_package_share_directory(PACKAGE)) / 'config' / 'franka.yaml'
            if path.is_file():
                return str(path)
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    return str(REPO_ROOT / 'config' / 'franka.yaml')


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


def describe_system(params_file: str = '', namespace: str = 'robot_r1', model: str = '',
                    backend: str = 'direct', use_sim: str | bool = 'true'
                    ) -> list[NodeDescription]:
    """The nodes to start for these launch-argument values (strings, as launch gives them).

    Returns:
        Reasoning node, executor node and (``use_sim``) the sim node, in start order: the sim
        first, so the other nodes find a clock, joint states and images.

    Raises:
        ConfigError: a bad argument value.
    """
    args = resolve_arguments({'params_file': params_file, 'namespace': namespace,
                              'model': model, 'backend': backend, 'use_sim': str(use_sim)})
    sim = parse_bool(args['use_sim'], 'use_sim')
    params = args['params_file'] or default_params_file()
    ns = root_or_namespace(args['namespace'])
    clock = {'use_sim_time': True} if sim else {}
    reasoning_overrides: dict[str, Any] = dict(clock)
    if args['model']:
        reasoning_overrides['model.id'] = args['model']
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
    nodes.append(NodeDescription('executor_node', 'executor_node',
                                 f'{PACKAGE}.ros.executor_node', ns, params,
                                 {'backend': args['backend'].lower(), **clock}))
    return nodes
