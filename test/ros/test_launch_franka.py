"""The system description behind launch/franka.launch.py and `robot-r1 bringup`, and
config/franka.yaml, checked without launch.

The launch file itself runs for real (the vendored launch/launch_ros, built by
scripts/ros2_tools_overlay.sh) in test_ros2_cli_installed.py: its processes are compared there
with bringup's, argument by argument. Here: every parameter the description hands a node is
declared by it with the declared type, for argument sets that cannot run here (moveit), and the
config file restates every default.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from robot_r1_ros.ros.system import describe_system

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / 'config' / 'franka.yaml'

ARG_SETS = [
    {},
    {'use_sim': 'false', 'backend': 'moveit', 'model': 'Qwen/Qwen2.5-VL-7B-Instruct'},
    {'namespace': 'arm2', 'model': 'scripted:echo', 'use_sim': 'True', 'backend': 'Direct'},
    {'namespace': '/'},
]


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
def test_every_parameter_given_is_declared_by_its_node(values):
    """No parameter in config/franka.yaml or the argument overrides that a node would ignore,
    and every value has the declared type (rclpy refuses a mismatch)."""
    declared = _declared_parameters()
    for node in describe_system(**{'params_file': str(CONFIG), **values}):
        given = _params_of(node.fully_qualified_name, [node.params_file], [dict(node.overrides)])
        known = {**declared[node.name], 'use_sim_time': False}
        ignored = sorted(set(given) - set(known))
        assert not ignored, f'{node.name} would ignore {ignored}'
        wrong = {k: v for k, v in given.items() if not _same_type(v, known[k])}
        assert not wrong, f'{node.name}: values of the wrong type {wrong}'


def test_arguments_are_case_insensitive_and_the_sim_task_follows_the_namespace():
    nodes = {n.name: n for n in describe_system(use_sim='True', backend='Direct',
                                                namespace='arm2')}
    assert nodes['executor_node'].overrides == {'backend': 'direct', 'use_sim_time': True}
    assert nodes['sim_node'].remappings == (('task', '/arm2/task'),)
    assert nodes['reasoning_node'].namespace == 'arm2'
    for root_ns in ('/', '', "''", '""'):
        root = {n.name: n for n in describe_system(namespace=root_ns)}
        assert root['sim_node'].remappings == (('task', '/task'),)
        assert root['reasoning_node'].fully_qualified_name == '/reasoning_node'
    assert [n.name for n in describe_system(use_sim='FALSE')] == ['reasoning_node',
                                                                 'executor_node']


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
