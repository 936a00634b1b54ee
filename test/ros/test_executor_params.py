"""Executor-node parameters: read once into a frozen validated config whose workspace box is the
core's WorkspaceConfig (same default as the reasoning node); a bad value gives a ConfigError
naming the parameter; config/franka.yaml's blocks of both nodes hold the core default box."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from robot_r1_ros.core.config import DEFAULT_WORKSPACE
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.ros import executor_params as ep
from robot_r1_ros.ros import reasoning_params as rp

REPO = Path(__file__).resolve().parents[2]


def _node_values(node: str) -> dict:
    tree = yaml.safe_load((REPO / 'config' / 'franka.yaml').read_text())

    def flatten(sub: dict, prefix: str = '') -> dict:
        out = {}
        for key, value in sub.items():
            if isinstance(value, dict):
                out.update(flatten(value, f'{prefix}{key}.'))
            else:
                out[f'{prefix}{key}'] = value
        return out

    return flatten(tree[f'/**/{node}']['ros__parameters'])


def test_defaults_build_a_frozen_config_with_the_core_workspace():
    cfg = ep.config_from_values({})
    assert cfg.backend == 'direct'
    assert cfg.workspace == DEFAULT_WORKSPACE.workspace() == ep.ExecutorNodeConfig().workspace
    defaults = {p.name: p.default for p in ep.PARAMETERS}
    assert tuple(defaults['workspace.min_xyz_base_m']) == DEFAULT_WORKSPACE.min_xyz_base_m
    assert tuple(defaults['workspace.max_xyz_base_m']) == DEFAULT_WORKSPACE.max_xyz_base_m
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.backend = 'moveit'  # type: ignore[misc]


def test_values_reach_the_config():
    cfg = ep.config_from_values({
        'backend': 'moveit', 'dry_run': True, 'on_new_goal': 'wait',
        'workspace.min_xyz_base_m': [0.2, -0.4, 0],  # an int from YAML is fine in a list
        'workspace.max_xyz_base_m': [0.7, 0.4, 0.5], 'validation.max_step_m': 0.3,
        'robot.joint_prefix': 'fr3', 'direct.velocity_scale': 0.5})
    assert cfg.backend == 'moveit' and cfg.execution.dry_run
    assert cfg.execution.on_new_goal.value == 'wait'
    assert cfg.workspace.min_xyz_base_m == (0.2, -0.4, 0.0)
    assert cfg.workspace.max_xyz_base_m == (0.7, 0.4, 0.5)
    assert cfg.execution.validation.max_step_m == 0.3
    assert cfg.direct.joint_prefix == cfg.moveit.joint_prefix == 'fr3'
    assert cfg.direct.velocity_scale == 0.5


@pytest.mark.parametrize('name,value,match', [
    ('workspace.min_xyz_base_m', [0.9, -0.5, 0.0], 'x minimum 0.9 must be below the maximum 0.8'),
    ('workspace.max_xyz_base_m', [0.8, 0.5], 'expected 3 values, got 2'),
    ('workspace.min_xyz_base_m', [0.1, float('nan'), 0.0], 'expected a finite number'),
    ('backend', 'ik', 'must be one of direct, moveit'),
    ('on_new_goal', 'queue', "'preempt' or 'wait'"),
    ('validation.max_step_m', 0.0, 'finite number > 0'),
    ('robot.base_frame', '', 'must not be empty'),
    ('direct.velocity_scale', 2.0, r'must be in \(0, 1\]'),
    ('control_rate_hz', 0.0, 'finite number > 0'),
    ('topics.state', 'a b', 'topic name'),
    ('no.such.parameter', 1, 'unknown executor_node parameter'),
    # wrong types: the same check as the reasoning node's (parameters are dynamically typed)
    ('validation.max_age_s', 'x', 'must be of type double'),
    ('control_rate_hz', 'fast', 'must be of type double'),
    ('direct.velocity_scale', '0.5', 'must be of type double'),
    ('dry_run', 'yes', 'must be of type bool'),
    ('gripper.command_topic', 3, 'must be of type string'),
    ('gripper.interface', 'suction', 'interface must be one of'),
    ('arm.interface', 'service', 'arm.interface must be one of'),
    ('gripper.force_n', -1.0, 'force_n must be a finite number'),
    ('workspace.max_xyz_base_m', ['a', 'b', 'c'], r'must be of type double\[\]'),
    ('moveit.controllers', 'ctrl', r'must be of type string\[\]'),
])
def test_bad_values_raise_config_error_naming_the_parameter(name, value, match):
    with pytest.raises(ConfigError, match=match) as info:
        ep.config_from_values({name: value})
    assert info.value.field == name
    assert name in str(info.value)


def test_franka_yaml_workspace_of_both_nodes_is_the_core_default():
    """config/franka.yaml repeats the box for readers; it must not drift from the core."""
    executor = _node_values('executor_node')
    reasoning = _node_values('reasoning_node')
    for values in (executor, reasoning):
        assert tuple(values['workspace.min_xyz_base_m']) == DEFAULT_WORKSPACE.min_xyz_base_m
        assert tuple(values['workspace.max_xyz_base_m']) == DEFAULT_WORKSPACE.max_xyz_base_m
    assert tuple(reasoning['env_frame.origin_base_m']) == DEFAULT_WORKSPACE.reference_xyz_base_m
    assert tuple(reasoning['env_frame.axes']) == DEFAULT_WORKSPACE.env_axes
    assert reasoning['env_frame.reference_text'] == DEFAULT_WORKSPACE.reference_text
    # and both blocks build, with the same box and the core's env frame
    executor_cfg = ep.config_from_values(executor)
    reasoning_cfg = rp.config_from_values(reasoning)
    assert executor_cfg.workspace == reasoning_cfg.workspace == DEFAULT_WORKSPACE.workspace()
    assert reasoning_cfg.env_frame == DEFAULT_WORKSPACE.env_frame()


def test_an_int_for_a_double_is_accepted_as_a_float():
    cfg = ep.config_from_values({'control_rate_hz': 25, 'validation.max_age_s': 2})
    assert cfg.control_rate_hz == 25.0 and isinstance(cfg.control_rate_hz, float)
    assert cfg.execution.validation.max_age_s == 2.0


def test_declare_and_read_on_a_real_node(rclpy_node):
    from rclpy.parameter import Parameter

    node = rclpy_node('executor_params_probe')
    ep.declare_parameters(node)
    assert 'Hz' in node.describe_parameter('control_rate_hz').description
    # a YAML `25` for a double is accepted and converted; a string is a ConfigError
    node.set_parameters([Parameter('control_rate_hz', value=25),
                         Parameter('robot.joint_prefix', value='fr3')])
    cfg = ep.read_config(node)
    assert cfg.control_rate_hz == 25.0 and cfg.direct.joint_prefix == 'fr3'
    node.set_parameters([Parameter('validation.max_age_s', value='old')])
    with pytest.raises(ConfigError, match='validation.max_age_s must be of type double'):
        ep.read_config(node)


def test_markdown_table_lists_every_parameter(capsys):
    assert ep.main([]) == 0
    table = capsys.readouterr().out
    for spec in ep.PARAMETERS:
        assert f'| `{spec.name}` | {spec.type_name} |' in table
    assert '| `workspace.min_xyz_base_m` | double[] | `[0.15, -0.5, 0.0]` |' in table
