"""launch/franka.launch.py against RECORDING STAND-INS of launch / launch_ros (they cannot be
installed here), and against the bringup command and config/franka.yaml.

The stand-ins copy the real call shapes (keyword-only ``Node`` with launch_ros' accepted keyword
set, ``DeclareLaunchArgument``'s choices check, ``OpaqueFunction(function=...)``, one positional
argument for ``LaunchConfiguration`` / ``PathJoinSubstitution`` / ``FindPackageShare``; see
ros2-apis-moveit-launch.md section 1.5), so a wrong keyword fails here as on a ROS install.
Where the real launch_ros is importable, the last test loads the file with it as well.
"""
from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import pytest
import yaml

from robot_r1_ros.ros.system import describe_system

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILE = REPO / 'launch' / 'franka.launch.py'
CONFIG = REPO / 'config' / 'franka.yaml'

NODE_KWARGS = {
    'executable', 'package', 'name', 'namespace', 'exec_name', 'parameters', 'remappings',
    'ros_arguments', 'arguments', 'prefix', 'cwd', 'env', 'additional_env', 'shell',
    'sigterm_timeout', 'sigkill_timeout', 'emulate_tty', 'output', 'output_format',
    'cached_output', 'log_cmd', 'on_exit', 'respawn', 'respawn_delay', 'respawn_max_retries',
    'condition'}


class Substitution:
    """Base of the stand-in substitutions."""


class LaunchConfiguration(Substitution):
    def __init__(self, variable_name, *, default=None):
        self.variable_name, self.default = variable_name, default

    def perform(self, context):
        return context.launch_configurations[self.variable_name]


class PathJoinSubstitution(Substitution):
    def __init__(self, substitutions):
        self.substitutions = list(substitutions)


class FindPackageShare(Substitution):
    def __init__(self, package):
        self.package = package


class DeclareLaunchArgument:
    def __init__(self, name, *, default_value=None, description=None, choices=None,
                 condition=None):
        if choices is not None and len(choices) == 0:
            raise RuntimeError('choices cannot be empty')
        if (choices is not None and default_value is not None
                and not isinstance(default_value, Substitution)
                and default_value not in choices):
            raise RuntimeError(f'default {default_value!r} not in choices {choices}')
        self.name, self.default_value = name, default_value
        self.description, self.choices = description, choices


class OpaqueFunction:
    def __init__(self, *, function, args=None, kwargs=None):
        self.function, self.args, self.kwargs = function, args or [], kwargs or {}


class Node:
    def __init__(self, **kwargs):
        unexpected = set(kwargs) - NODE_KWARGS
        if unexpected:
            raise TypeError(f'Action.__init__() got an unexpected keyword argument '
                            f'{sorted(unexpected)[0]!r}')
        if 'executable' not in kwargs:
            raise TypeError("Node missing required keyword-only argument: 'executable'")
        if 'parameters' in kwargs and not isinstance(kwargs['parameters'], list):
            raise TypeError('parameters must be a list')
        self.kwargs = kwargs


class LaunchDescription:
    def __init__(self, initial_entities=None, *, deprecated_reason=None):
        self.entities = list(initial_entities or [])


class FakeContext:
    def __init__(self, configurations):
        self.launch_configurations = dict(configurations)


@pytest.fixture
def launch_file(monkeypatch):
    """The launch module loaded against the stand-ins."""
    mods = {
        'launch': {'LaunchDescription': LaunchDescription},
        'launch.actions': {'DeclareLaunchArgument': DeclareLaunchArgument,
                           'OpaqueFunction': OpaqueFunction},
        'launch.substitutions': {'LaunchConfiguration': LaunchConfiguration,
                                 'PathJoinSubstitution': PathJoinSubstitution},
        'launch_ros': {},
        'launch_ros.actions': {'Node': Node},
        'launch_ros.substitutions': {'FindPackageShare': FindPackageShare},
    }
    for name, attrs in mods.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location('franka_launch_under_test', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch_nodes(launch_file, values: dict[str, str]) -> list[dict]:
    ld = launch_file.generate_launch_description()
    declared = {e.name: e for e in ld.entities if isinstance(e, DeclareLaunchArgument)}
    config = {}
    for name, arg in declared.items():
        default = arg.default_value
        if isinstance(default, Substitution):   # params_file: the installed share path
            default = str(CONFIG)
        config[name] = values.get(name, default)
    opaque = [e for e in ld.entities if isinstance(e, OpaqueFunction)]
    assert len(opaque) == 1
    actions = opaque[0].function(FakeContext(config), *opaque[0].args, **opaque[0].kwargs)
    return [a.kwargs for a in actions]


def _flatten(tree: dict, prefix: str = '') -> dict:
    out = {}
    for key, value in tree.items():
        name = f'{prefix}.{key}' if prefix else str(key)
        if isinstance(value, dict):
            out.update(_flatten(value, name))
        else:
            out[name] = value
    return out


def _params_of(node_fqn: str, files: list, overrides: list[dict]) -> dict:
    """Effective parameters of a node from files (rcl's key forms we use) and override dicts."""
    name = node_fqn.rsplit('/', 1)[-1]
    out = {}
    for path in files:
        data = yaml.safe_load(Path(path).read_text()) or {}
        for key in (f'/**/{name}', name, node_fqn, '/**'):
            if key in data:
                out.update(_flatten(data[key].get('ros__parameters', {})))
    for extra in overrides:
        out.update(_flatten(extra))
    return out


def test_launch_declares_the_arguments_with_defaults_and_descriptions(launch_file):
    ld = launch_file.generate_launch_description()
    declared = [e for e in ld.entities if isinstance(e, DeclareLaunchArgument)]
    assert [d.name for d in declared] == ['params_file', 'namespace', 'model', 'backend',
                                          'use_sim']
    by_name = {d.name: d for d in declared}
    assert all(d.description for d in declared)
    params = by_name['params_file'].default_value
    assert isinstance(params, PathJoinSubstitution)
    share, *rest = params.substitutions
    assert isinstance(share, FindPackageShare) and share.package == 'robot_r1_ros'
    assert rest == ['config', 'franka.yaml']
    assert by_name['namespace'].default_value == 'robot_r1'
    assert by_name['backend'].choices == ['direct', 'moveit']
    assert by_name['backend'].default_value == 'direct'
    assert by_name['use_sim'].choices == ['true', 'false']


ARG_SETS = [
    {},
    {'use_sim': 'false', 'backend': 'moveit', 'model': 'Qwen/Qwen2.5-VL-7B-Instruct'},
    {'namespace': 'arm2', 'model': 'scripted:echo'},
]


@pytest.mark.parametrize('values', ARG_SETS)
def test_launch_and_bringup_start_the_same_nodes_with_the_same_parameters(launch_file, tmp_path,
                                                                         values):
    from robot_r1_ros.ros.bringup import plan_processes

    launched = _launch_nodes(launch_file, values)
    nodes = describe_system(**{'params_file': str(CONFIG), **values})
    plans = plan_processes(nodes, str(tmp_path))
    assert len(launched) == len(plans) == (2 if values.get('use_sim') == 'false' else 3)
    for kwargs, plan in zip(launched, plans):
        cmd = list(plan.cmd)
        # Executable: bringup runs the installed lib/robot_r1_ros/<exe> (or its module).
        assert kwargs['package'] == 'robot_r1_ros'
        assert (Path(cmd[1]).name == kwargs['executable']
                or cmd[1:3] == ['-m', f'robot_r1_ros.ros.{kwargs["executable"]}'])
        ros_args = cmd[cmd.index('--ros-args') + 1:]
        pairs = list(zip(ros_args[::2], ros_args[1::2]))
        remaps = [v for k, v in pairs if k == '-r']
        assert f'__node:={kwargs["name"]}' in remaps
        ns = kwargs['namespace']
        assert (f'__ns:=/{ns}' in remaps) == bool(ns)
        assert [r for r in remaps if not r.startswith('__')] == [
            f'{a}:={b}' for a, b in kwargs['remappings']]
        files = [v for k, v in pairs if k == '--params-file']
        launch_files = [p for p in kwargs['parameters'] if isinstance(p, str)]
        launch_dicts = [p for p in kwargs['parameters'] if isinstance(p, dict)]
        assert files[0] == launch_files[0] == str(CONFIG)
        fqn = f'/{ns}/{kwargs["name"]}' if ns else f'/{kwargs["name"]}'
        assert _params_of(fqn, files, []) == _params_of(fqn, launch_files, launch_dicts)
    names = [k['name'] for k in launched]
    assert names[-2:] == ['reasoning_node', 'executor_node']
    by_name = {k['name']: k for k in launched}
    executor_overrides = by_name['executor_node']['parameters'][1]
    assert executor_overrides['backend'] == values.get('backend', 'direct')
    sim = values.get('use_sim', 'true') == 'true'
    assert executor_overrides.get('use_sim_time', False) is sim
    model = values.get('model')
    reasoning_dicts = by_name['reasoning_node']['parameters'][1:]
    assert (reasoning_dicts[0].get('model.id') if reasoning_dicts else None) == model


def _declared_parameters() -> dict[str, dict[str, object]]:
    from robot_r1_ros.ros import executor_params, reasoning_params
    from robot_r1_ros.ros.sim_params import DEFAULTS as SIM_DEFAULTS
    return {
        'executor_node': {p.name: p.default for p in executor_params.PARAMETERS},
        'reasoning_node': {p.name: p.default for p in reasoning_params.PARAMETERS},
        'sim_node': dict(SIM_DEFAULTS),
    }


def _same_type(value, default) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return type(value) is type(default)
    if isinstance(default, (list, tuple)):
        return isinstance(value, list) and all(_same_type(v, default[0]) for v in value)
    if isinstance(default, float):
        return isinstance(value, float)       # an int in YAML fails a double parameter
    return type(value) is type(default)


@pytest.mark.parametrize('values', ARG_SETS)
def test_every_parameter_given_is_declared_by_its_node(launch_file, values):
    """No parameter in config/franka.yaml or the launch overrides that a node would ignore,
    and every value has the declared type (rclpy refuses a mismatch)."""
    declared = _declared_parameters()
    for kwargs in _launch_nodes(launch_file, values):
        name = kwargs['name']
        ns = kwargs['namespace']
        fqn = f'/{ns}/{name}' if ns else f'/{name}'
        files = [p for p in kwargs['parameters'] if isinstance(p, str)]
        dicts = [p for p in kwargs['parameters'] if isinstance(p, dict)]
        given = _params_of(fqn, files, dicts)
        known = {**declared[name], 'use_sim_time': False}
        ignored = sorted(set(given) - set(known))
        assert not ignored, f'{name} would ignore {ignored}'
        wrong = {k: v for k, v in given.items() if not _same_type(v, known[k])}
        assert not wrong, f'{name}: values of the wrong type {wrong}'


def test_config_documents_every_executor_and_sim_parameter():
    data = yaml.safe_load(CONFIG.read_text())
    declared = _declared_parameters()
    for name in ('executor_node', 'sim_node'):
        given = _flatten(data[f'/**/{name}']['ros__parameters'])
        assert set(given) == set(declared[name]), name
        # The file restates the defaults (the nodes also run without it).
        for key, value in given.items():
            default = declared[name][key]
            assert value == (list(default) if isinstance(default, tuple) else default), key


def test_system_description_rejects_bad_arguments():
    from robot_r1_ros.core.errors import ConfigError
    with pytest.raises(ConfigError, match='backend'):
        describe_system(backend='ik')
    with pytest.raises(ConfigError, match='use_sim'):
        describe_system(use_sim='maybe')


def test_launch_file_loads_with_the_real_launch_ros():
    """Only where launch_ros is installed (a ROS 2 install): the real classes accept the file."""
    from r1_testing import require
    require('launch_ros', 'launch_ros is not installable with pip')
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument as RealDeclare
    from launch.actions import OpaqueFunction as RealOpaque

    spec = importlib.util.spec_from_file_location('franka_launch_real', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ld = module.generate_launch_description()
    context = LaunchContext()
    for entity in ld.entities:
        if isinstance(entity, RealDeclare):
            entity.visit(context)
    context.launch_configurations['params_file'] = str(CONFIG)
    opaque = [e for e in ld.entities if isinstance(e, RealOpaque)][0]
    actions = opaque.execute(context)
    assert [a.node_executable for a in actions] == ['sim_node', 'reasoning_node',
                                                     'executor_node']
