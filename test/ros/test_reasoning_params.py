"""Reasoning-node parameters: one declaration list, read into a frozen validated config; every
bad value gives a ConfigError naming the parameter; config/franka.yaml's block is valid and
complete; the parameters declare on a real rclpy node with their descriptions."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from robot_r1_ros.core.config import DEFAULT_WORKSPACE, GenerationOptions, ReasonerConfig
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.ros import reasoning_params as rp

REPO = Path(__file__).resolve().parents[2]


def _flatten(tree: dict, prefix: str = '') -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


def _yaml_values(name: str = 'franka.yaml') -> dict:
    tree = yaml.safe_load((REPO / 'config' / name).read_text())
    return _flatten(tree['/**/reasoning_node']['ros__parameters'])


def test_defaults_build_a_frozen_config():
    cfg = rp.config_from_values({})
    assert cfg.trigger_mode == 'continuous' and cfg.autostart is True
    assert cfg.reasoner.model_id == rp.DEFAULT_MODEL_ID
    assert cfg.reasoner.min_pixels is None and cfg.reasoner.generation.seed is None
    assert cfg.T_base_cam is None  # zero quaternion = camera pose unknown
    assert cfg.workspace.contains(cfg.env_frame.env_to_base((0.0, 0.0, 0.1)))
    # the box and env frame defaults are the core's (shared with the executor node)
    assert cfg.workspace == DEFAULT_WORKSPACE.workspace() == rp.ReasoningNodeConfig().workspace
    assert cfg.env_frame == DEFAULT_WORKSPACE.env_frame() == rp.ReasoningNodeConfig().env_frame
    assert cfg.reasoner == ReasonerConfig() and cfg.reasoner.generation == GenerationOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.trigger_mode = 'on_reached'  # type: ignore[misc]


def test_values_reach_the_model_config():
    cfg = rp.config_from_values({
        'model.id': 'scripted:valid', 'model.dtype': 'bfloat16', 'model.device': 'cuda:1',
        'model.device_map': 'auto', 'model.attn_implementation': 'flash_attention_2',
        'model.load_in_4bit': True, 'model.min_pixels': 3136, 'model.max_pixels': 200704,
        'model.num_threads': 2, 'model.revision': 'main', 'generation.max_new_tokens': 64,
        'generation.think_budget_tokens': 32, 'generation.seed': 3, 'generation.top_k': 5,
        'generation.max_time_s': 2, 'trigger.max_rate_hz': 5})
    r = cfg.reasoner
    assert (r.dtype, r.device, r.device_map, r.attn_implementation) == (
        'bfloat16', 'cuda:1', 'auto', 'flash_attention_2')
    assert r.load_in_4bit and (r.min_pixels, r.max_pixels, r.num_threads) == (3136, 200704, 2)
    assert r.revision == 'main'
    g = r.generation
    assert (g.max_new_tokens, g.think_budget_tokens, g.seed, g.top_k) == (64, 32, 3, 5)
    assert g.max_time_s == 2.0 and isinstance(g.max_time_s, float)
    assert cfg.max_rate_hz == 5.0 and isinstance(cfg.max_rate_hz, float)  # int accepted


@pytest.mark.parametrize('name,value,match', [
    ('trigger.mode', 'sometimes', 'must be one of continuous, on_reached, on_demand'),
    ('trigger.max_rate_hz', 0.0, 'finite number > 0'),
    ('trigger.max_rate_hz', float('inf'), 'finite number > 0'),
    ('trigger.reached_timeout_s', -1.0, '>= 0'),
    ('input.max_image_age_s', -0.5, '> 0'),
    ('input.max_joint_state_age_s', 0.0, '> 0'),
    ('input.action_wait_s', -1.0, '>= 0'),
    ('diagnostics.period_s', 0.0, '> 0'),
    ('task', '   ', 'non-empty instruction'),
    ('topics.image', '', 'non-empty name'),
    ('topics.joint_states', 'joint states', 'without spaces'),
    ('robot.base_frame', '', 'non-empty name'),
    ('robot.arm_joint_names', ['a', 'b'], '7 distinct'),
    ('robot.arm_joint_names', ['j'] * 7, '7 distinct'),
    ('robot.finger_joint_names', ['panda_joint1'], 'not arm joints'),
    ('robot.tcp_offset_m', -0.1, '>= 0'),
    ('workspace.min_xyz_base_m', [0.9, -0.5, 0.0],
     'workspace.min_xyz_base_m: x minimum 0.9 must be below the maximum 0.8'),
    ('workspace.max_xyz_base_m', [0.8, 0.5], 'max_xyz_base_m: expected 3 values, got 2'),
    ('env_frame.axes', ['+x', '+y', '+y'], 'signed permutation'),
    ('env_frame.origin_base_m', [0.0, float('nan'), 0.0], 'origin_base_m: expected a finite'),
    ('env_frame.reference_text', 7, 'must be of type string'),
    ('camera.quat_xyzw', [1.0, 1.0, 0.0, 0.0], 'unit quaternion'),
    ('camera.quat_xyzw', [0.0, 0.0, 1.0], '4 finite numbers'),
    ('camera.xyz_base_m', [0.0, 0.0], '3 finite numbers'),
    ('debug_image.reasoning_chars', -1, '>= 0'),
    ('model.id', '', 'model.id: must be a non-empty string'),
    ('model.dtype', 'int8', 'model.dtype: must be one of'),
    ('model.device', 'tpu', 'model.device: must be'),
    ('model.attn_implementation', 'flash', 'attn_implementation: must be one of'),
    ('model.max_pixels', 100, '>= 784'),
    ('model.min_pixels', 100, 'model.min_pixels: must be None or an integer >= 784'),
    ('model.num_threads', -2, 'num_threads: must be None or >= 1'),
    ('generation.max_new_tokens', 0, 'max_new_tokens: must be an integer >= 1'),
    ('generation.top_p', 1.5, 'top_p: must be in'),
    ('generation.temperature', 0.0, 'temperature: must be > 0'),
    ('generation.max_time_s', -1.0, 'max_time_s: must be None or > 0'),
    # wrong types (parameters are declared with dynamic typing, so they reach the check)
    ('model.id', 7, 'must be of type string'),
    ('trigger.max_rate_hz', 'fast', 'must be of type double'),
    ('trigger.max_rate_hz', True, 'must be of type double'),
    ('generation.max_new_tokens', 12.5, 'must be of type int'),
    ('autostart', 'yes', 'must be of type bool'),
    ('robot.arm_joint_names', 'panda_joint1', r'must be of type string\[\]'),
    ('workspace.min_xyz_base_m', ['a', 'b', 'c'], r'must be of type double\[\]'),
    ('no.such.parameter', 1, 'unknown reasoning_node parameter'),
])
def test_bad_values_raise_config_error_naming_the_parameter(name, value, match):
    with pytest.raises(ConfigError, match=match) as info:
        rp.config_from_values({name: value})
    assert info.value.field == name
    assert f'parameter {name}' in str(info.value) or 'unknown' in str(info.value)


def test_franka_yaml_block_is_complete_and_valid():
    values = _yaml_values()
    names = {p.name for p in rp.PARAMETERS}
    assert set(values) <= names, sorted(set(values) - names)
    cfg = rp.config_from_values(values)
    assert cfg.T_base_cam is not None  # the sim camera pose is configured
    # the configured camera looks at the workspace centre: it projects in front of the camera
    import numpy as np

    from robot_r1_ros.core.geometry import invert_transform, transform_points
    centre_cam = transform_points(invert_transform(np.asarray(cfg.T_base_cam)),
                                  cfg.workspace.center_base_m[None])
    assert centre_cam[0, 2] > 0.3
    # the YAML documents every parameter except those left to their defaults on purpose
    missing = names - set(values) - {n for n in names if n.startswith('remote.')}
    assert missing <= {'model.device_map', 'model.local_files_only', 'model.revision',
                       'model.num_threads', 'generation.temperature', 'generation.top_p',
                       'generation.top_k', 'generation.repetition_penalty',
                       'generation.max_time_s'}, sorted(missing)


def test_remote_yaml_overlay_is_complete_and_selects_the_remote_backend():
    values = {**_yaml_values(), **_yaml_values('remote.yaml')}
    names = {p.name for p in rp.PARAMETERS}
    assert set(values) <= names, sorted(set(values) - names)
    remote_names = {n for n in names if n.startswith('remote.')}
    assert remote_names <= set(_yaml_values('remote.yaml')), sorted(remote_names - set(values))
    cfg = rp.config_from_values(values)
    assert cfg.reasoner.backend == 'remote' and cfg.reasoner.max_pixels == 256 * 28 * 28
    assert cfg.reasoner.remote.constraint == 'structured_outputs'
    with pytest.raises(ConfigError, match='remote.timeout_s'):
        rp.config_from_values({**values, 'remote.timeout_s': 0.0})


def test_markdown_table_lists_every_parameter(capsys):
    assert rp.main([]) == 0
    table = capsys.readouterr().out
    for spec in rp.PARAMETERS:
        assert f'| `{spec.name}` | {spec.type_name} |' in table
        assert spec.description
    assert '| `trigger.mode` | string | `continuous` |' in table
    assert '| `robot.arm_joint_names` | string[] |' in table


def test_declare_and_read_on_a_real_node(rclpy_node):
    from rclpy.parameter import Parameter

    node = rclpy_node('reasoning_params_probe')
    rp.declare_parameters(node)
    descriptor = node.describe_parameter('trigger.max_rate_hz')
    assert 'Hz' in descriptor.description
    # an int for a double parameter (a YAML `3`) is accepted and converted
    node.set_parameters([Parameter('trigger.max_rate_hz', value=3),
                         Parameter('trigger.mode', value='on_reached'),
                         Parameter('robot.arm_joint_names',
                                   value=[f'fr3_joint{i}' for i in range(1, 8)])])
    cfg = rp.read_config(node)
    assert cfg.max_rate_hz == 3.0 and cfg.trigger_mode == 'on_reached'
    assert cfg.arm_joint_names[0] == 'fr3_joint1'
    node.set_parameters([Parameter('trigger.mode', value=5)])
    with pytest.raises(ConfigError, match='trigger.mode must be of type string'):
        rp.read_config(node)
