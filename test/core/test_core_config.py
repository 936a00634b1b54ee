"""Validated configuration (core.config) and the value types (core.types, core.errors)."""
import dataclasses

import numpy as np
import pytest

from robot_r1_ros.core import config as core_config
from robot_r1_ros.core.config import (DEFAULT_WORKSPACE, GenerationOptions, QAConfig,
                                      ReasonerConfig, TrainingConfig, WorkspaceConfig,
                                      task_kind_or_config_error)
from robot_r1_ros.core.errors import (AnswerFormatError, BadInputError, ConfigError,
                                      OutOfWorkspaceError, RobotR1Error)
from robot_r1_ros.core.gripper import current_gripper_state
from robot_r1_ros.core.types import GripperState, Keypoint, Prediction, RobotState, TaskKind

ALL_CONFIGS = [WorkspaceConfig, GenerationOptions, ReasonerConfig, QAConfig, TrainingConfig]


@pytest.mark.parametrize('cls', ALL_CONFIGS)
def test_defaults_are_valid_frozen_and_round_trip(cls):
    config = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, dataclasses.fields(config)[0].name, None)
    flat = config.to_dict()
    assert cls.from_dict(flat) == config  # the dotted form (ROS parameters) maps back


def test_one_config_class_per_concept():
    """The old duplicates are gone: the model settings are ReasonerConfig + GenerationOptions,
    the executor's are the motion layer's configs, the sim camera is sim.scene.CameraConfig."""
    for name in ('ModelConfig', 'GenerationConfig', 'ExecutorConfig', 'CameraConfig'):
        assert not hasattr(core_config, name), name
    from robot_r1_ros import model
    from robot_r1_ros.model import reasoner
    assert model.ReasonerConfig is reasoner.ReasonerConfig is ReasonerConfig
    assert model.GenerationOptions is reasoner.GenerationOptions is GenerationOptions
    assert model.DEFAULT_MODEL_ID == ReasonerConfig().model_id


def test_workspace_default_and_distractor_box():
    assert DEFAULT_WORKSPACE == WorkspaceConfig()
    assert DEFAULT_WORKSPACE.min_xyz_base_m == (0.15, -0.5, 0.0)
    assert DEFAULT_WORKSPACE.max_xyz_base_m == (0.8, 0.5, 0.7)
    # the random distractors' box ("valid state space") is named and lies inside the workspace
    space = QAConfig().distractor_space()
    box = DEFAULT_WORKSPACE.workspace()
    assert box.contains(space.min_xyz_base_m) and box.contains(space.max_xyz_base_m)
    assert space != box
    moved = QAConfig.from_dict({'distractor_min_xyz_base_m': [0, 0, 0],
                                'distractor_max_xyz_base_m': [1, 1, 1]})
    assert moved.distractor_space().max_xyz_base_m == (1.0, 1.0, 1.0)


def test_from_dict_nested_dotted_and_mixed():
    config = ReasonerConfig.from_dict({
        'generation': {'max_new_tokens': 64.0, 'top_k': 5},  # integral floats are taken as ints
        'generation.seed': 3,
        'min_pixels': 3136,
    }, device='cuda:1', dtype='bfloat16')
    assert config.generation.max_new_tokens == 64
    assert isinstance(config.generation.max_new_tokens, int)
    assert (config.generation.top_k, config.generation.seed) == (5, 3)
    assert (config.device, config.dtype, config.min_pixels) == ('cuda:1', 'bfloat16', 3136)
    ws = WorkspaceConfig.from_dict({'min_xyz_base_m': [0, -1, 0]})  # ints and lists, as YAML
    assert ws.min_xyz_base_m == (0.0, -1.0, 0.0)
    env = ws.env_frame()
    assert np.allclose(env.base_to_env(ws.reference_xyz_base_m), 0.0)
    assert ws.workspace().contains([0.5, 0.0, 0.3])


def test_reasoner_config_from_mapping():
    """from_mapping (what load_reasoner and the nodes use) takes flat, dotted, nested and
    underscore forms, and an options object with per-field overrides."""
    flat = ReasonerConfig.from_mapping({'model_id': 'scripted:valid', 'generation_top_k': 3,
                                        'generation.seed': 2, 'num_threads': 1})
    assert (flat.generation.top_k, flat.generation.seed, flat.num_threads) == (3, 2, 1)
    base = GenerationOptions(think_budget_tokens=7)
    over = ReasonerConfig.from_mapping({'generation': base, 'generation.max_new_tokens': 32})
    assert (over.generation.think_budget_tokens, over.generation.max_new_tokens) == (7, 32)
    assert ReasonerConfig.from_mapping({'generation': base}).generation is base
    assert GenerationOptions.from_mapping(None) == GenerationOptions()
    assert GenerationOptions.from_mapping(base) is base
    assert GenerationOptions.from_mapping({'top_p': 0.5}).top_p == 0.5
    assert ReasonerConfig(generation={'top_k': 2}).generation.top_k == 2


BAD = [
    # (config class, input dict, field named in the error)
    (ReasonerConfig, {'dtype': 'fp8'}, 'dtype'),
    (ReasonerConfig, {'attn_implementation': 'flash'}, 'attn_implementation'),
    (ReasonerConfig, {'device': 'gpu'}, 'device'),
    (ReasonerConfig, {'device': 'cuda:x'}, 'device'),
    (ReasonerConfig, {'model_id': '  '}, 'model_id'),
    (ReasonerConfig, {'model_id': 7}, 'model_id'),
    (ReasonerConfig, {'load_in_4bit': 1}, 'load_in_4bit'),
    (ReasonerConfig, {'min_pixels': 10}, 'min_pixels'),
    (ReasonerConfig, {'min_pixels': 10000, 'max_pixels': 5000}, 'min_pixels'),
    (ReasonerConfig, {'num_threads': 0}, 'num_threads'),
    (ReasonerConfig, {'generation.max_new_tokens': True}, 'generation.max_new_tokens'),
    (ReasonerConfig, {'generation.temperature': 'hot'}, 'generation.temperature'),
    (ReasonerConfig, {'generation.top_p': 0.0}, 'generation.top_p'),
    (ReasonerConfig, {'generation': {'max_pixels': 100}}, 'generation.max_pixels'),
    (ReasonerConfig, {'generation': 3}, 'generation'),
    (ReasonerConfig, {'unknown': 1}, 'unknown'),
    (ReasonerConfig, {'generation.unknown': 1}, 'generation.unknown'),
    (ReasonerConfig, {'dtype.x': 1}, 'dtype.x'),
    (GenerationOptions, {'max_new_tokens': 0}, 'generation.max_new_tokens'),
    (GenerationOptions, {'seed': 1.5}, 'generation.seed'),
    (GenerationOptions, {'max_tokens': 1}, 'generation.max_tokens'),
    (GenerationOptions, {'min_pixels': 5000, 'max_pixels': 1000}, 'generation.min_pixels'),
    (WorkspaceConfig, {'min_xyz_base_m': [1, 0, 0]}, 'min_xyz_base_m'),
    (WorkspaceConfig, {'max_xyz_base_m': [1, 0]}, 'max_xyz_base_m'),
    (WorkspaceConfig, {'reference_xyz_base_m': [0, float('nan'), 0]}, 'reference_xyz_base_m[1]'),
    (WorkspaceConfig, {'env_axes': ['+x', '+x', '+z']}, 'env_axes'),
    (QAConfig, {'tasks': []}, 'tasks'),
    (QAConfig, {'tasks': ['next_waypoint', 'waypoint']}, 'tasks[1]'),
    (QAConfig, {'tasks': ['movement', 'movement']}, 'tasks'),
    (QAConfig, {'distractor_kind': 'easy'}, 'distractor_kind'),
    (QAConfig, {'distractor_min_xyz_base_m': [0.9, 0, 0]}, 'distractor_min_xyz_base_m'),
    (QAConfig, {'distractor_max_xyz_base_m': 'box'}, 'distractor_max_xyz_base_m'),
    (QAConfig, {'keyframe_method': 'peaks'}, 'keyframe_method'),
    (QAConfig, {'still_delta': 0.5}, 'still_delta'),
    (QAConfig, {'frame_interval': 0}, 'frame_interval'),
    (QAConfig, {'min_separation_m': 0}, 'min_separation_m'),
    (QAConfig, {'movement_slight_ratio': 1.0}, 'movement_slight_ratio'),
    (QAConfig, {'include_segment_start': 'yes'}, 'include_segment_start'),
    (TrainingConfig, {'reward_funcs': ['format', 'accuracy']}, 'reward_funcs'),
    (TrainingConfig, {'reward_weights': [1.0]}, 'reward_weights'),
    (TrainingConfig, {'num_generations': 1}, 'num_generations'),
    (TrainingConfig, {'per_device_train_batch_size': 7}, 'per_device_train_batch_size'),
    (TrainingConfig, {'learning_rate': 0}, 'learning_rate'),
    (TrainingConfig, {'max_steps': 0}, 'max_steps'),
    (TrainingConfig, {'qa.seed': 'x'}, 'qa.seed'),
    (TrainingConfig, {'qa': {'tasks': ['x']}}, 'qa.tasks[0]'),
]


@pytest.mark.parametrize('cls,data,field', BAD)
def test_bad_values_name_the_field(cls, data, field):
    with pytest.raises(ConfigError) as info:
        cls.from_dict(data)
    assert info.value.field == field
    assert str(info.value).startswith(f'{field}: ')


def test_direct_construction_validates_too():
    with pytest.raises(ConfigError, match='dtype: must be one of'):
        ReasonerConfig(dtype='int4')
    with pytest.raises(ConfigError, match='generation.top_k: must be an integer >= 0') as info:
        GenerationOptions(top_k=-1)
    assert info.value.field == 'generation.top_k'
    with pytest.raises(ConfigError, match='valid names here'):
        TrainingConfig.from_dict({'reward_funcs': ['format'], 'lr': 1e-5})
    with pytest.raises(ConfigError, match='given both as a whole and as sub-settings'):
        ReasonerConfig.from_dict({'generation': GenerationOptions(), 'generation.top_k': 1})
    with pytest.raises(ConfigError, match='expected a mapping'):
        ReasonerConfig.from_mapping(['model_id'])  # type: ignore[arg-type]
    config = GenerationOptions().replace(do_sample=True)
    assert config.do_sample is True
    with pytest.raises(ConfigError, match='temperature'):
        config.replace(temperature=0.0)
    assert task_kind_or_config_error('movement') is TaskKind.MOVEMENT
    with pytest.raises(ConfigError, match='unknown task kind'):
        task_kind_or_config_error('nope')


# --- types and errors -------------------------------------------------------------------------


def test_error_hierarchy():
    for cls in (AnswerFormatError, ConfigError, BadInputError, OutOfWorkspaceError):
        assert issubclass(cls, RobotR1Error) and issubclass(cls, ValueError)
    assert AnswerFormatError('m', 'txt').text == 'txt'
    assert ConfigError('m', 'a.b').field == 'a.b'
    assert OutOfWorkspaceError('too high').reason == 'too high'


def test_robot_state_and_keypoint():
    state = RobotState(np.zeros(7), np.array([0.3, 0, 0.5]), 0.08)
    assert state.joint_positions_rad == (0.0,) * 7 and state.ee_xyz_base_m == (0.3, 0.0, 0.5)
    assert current_gripper_state(state.gripper_opening_m) is GripperState.OPEN
    assert current_gripper_state(0.01) is GripperState.CLOSED
    kp = Keypoint([0.5, 0.1, 0.2], 'closed')
    assert kp.gripper is GripperState.CLOSED and kp.xyz_base_m == (0.5, 0.1, 0.2)
    assert hash(kp) == hash(Keypoint((0.5, 0.1, 0.2), GripperState.CLOSED))
    pred = Prediction(kp, 'because', '[0.1, 0.2, 0.3] closed', latency_s=0.5)
    assert pred.kind is TaskKind.OPEN_KEYPOINT and pred.option is None


@pytest.mark.parametrize('make,message', [
    (lambda: RobotState([0] * 6, [0, 0, 0], 0.0), '7 values'),
    (lambda: RobotState([0] * 7, [0, 0], 0.0), '3 values'),
    (lambda: RobotState([0] * 7, [0, 0, np.nan], 0.0), 'finite'),
    (lambda: RobotState([0] * 7, [0, 0, 0], -0.01), '>= 0'),
    (lambda: RobotState([0] * 7, 'abc', 0.0), 'sequence of numbers'),
    (lambda: Keypoint([0, 0, 0], 'half'), "'open' or 'closed'"),
    (lambda: TaskKind.parse('waypoints'), 'unknown task kind'),
])
def test_bad_value_types(make, message):
    with pytest.raises(BadInputError, match=message):
        make()


def test_enums():
    assert GripperState('open') is GripperState.OPEN and GripperState.OPEN.is_open
    assert GripperState.from_opening(0.05) is GripperState.OPEN
    assert GripperState.from_bool(False) is GripperState.CLOSED
    assert TaskKind.parse(' Movement ') is TaskKind.MOVEMENT
    assert [k.is_multiple_choice for k in TaskKind] == [True, True, True, False, False, True]
    assert [k.is_grounding for k in TaskKind] == [False] * 4 + [True, True]
    assert {k.value for k in TaskKind} == {'next_waypoint', 'current_state', 'movement',
                                          'open_keypoint', 'object_position', 'object_choice'}
