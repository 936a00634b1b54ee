"""Validated configuration (core.config) and the value types (core.types, core.errors)."""
import dataclasses

import numpy as np
import pytest

from robot_r1_ros.core.config import (CameraConfig, ExecutorConfig, GenerationConfig, ModelConfig,
                                      QAConfig, ReasonerConfig, TrainingConfig, WorkspaceConfig,
                                      task_kind_or_config_error)
from robot_r1_ros.core.errors import (AnswerFormatError, BadInputError, ConfigError,
                                      OutOfWorkspaceError, RobotR1Error)
from robot_r1_ros.core.types import GripperState, Keypoint, Prediction, RobotState, TaskKind

ALL_CONFIGS = [WorkspaceConfig, CameraConfig, ModelConfig, GenerationConfig, ReasonerConfig,
               ExecutorConfig, QAConfig, TrainingConfig]


@pytest.mark.parametrize('cls', ALL_CONFIGS)
def test_defaults_are_valid_frozen_and_round_trip(cls):
    config = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, dataclasses.fields(config)[0].name, None)
    flat = config.to_dict()
    assert cls.from_dict(flat) == config  # the dotted form (ROS parameters) maps back


def test_from_dict_nested_dotted_and_mixed():
    config = ReasonerConfig.from_dict({
        'model': {'dtype': 'bfloat16', 'device': 'cuda'},
        'generation.max_new_tokens': 64,
        'workspace.min_xyz_base_m': [0, -1, 0],  # ints and lists, as YAML gives them
        'camera': {'width_px': 640.0},  # an integral float is accepted for an int
    }, instruction='stack the cubes')
    assert config.model.dtype == 'bfloat16' and config.model.device == 'cuda'
    assert config.generation.max_new_tokens == 64
    assert config.workspace.min_xyz_base_m == (0.0, -1.0, 0.0)
    assert config.camera.width_px == 640 and isinstance(config.camera.width_px, int)
    assert config.instruction == 'stack the cubes'
    assert config.kind is TaskKind.OPEN_KEYPOINT
    env = config.workspace.env_frame()
    assert np.allclose(env.base_to_env(config.workspace.reference_xyz_base_m), 0.0)
    assert config.workspace.workspace().contains([0.5, 0.0, 0.3])


BAD = [
    # (config class, input dict, field named in the error)
    (ReasonerConfig, {'model.dtype': 'fp8'}, 'model.dtype'),
    (ReasonerConfig, {'model': {'backend': 'remote'}}, 'model.remote_url'),
    (ReasonerConfig, {'generation.max_new_tokens': True}, 'generation.max_new_tokens'),
    (ReasonerConfig, {'generation.temperature': 'hot'}, 'generation.temperature'),
    (ReasonerConfig, {'generation.top_p': 0.0}, 'generation.top_p'),
    (ReasonerConfig, {'task_kind': 'pointing'}, 'task_kind'),
    (ReasonerConfig, {'instruction': ''}, 'instruction'),
    (ReasonerConfig, {'period_s': -1}, 'period_s'),
    (ReasonerConfig, {'workspace.min_xyz_base_m': [1, 0, 0]}, 'workspace.min_xyz_base_m'),
    (ReasonerConfig, {'workspace.max_xyz_base_m': [1, 0]}, 'workspace.max_xyz_base_m'),
    (ReasonerConfig, {'workspace.env_axes': ['+x', '+x', '+z']}, 'workspace.env_axes'),
    (ReasonerConfig, {'camera.fovy_deg': 200}, 'camera.fovy_deg'),
    (ReasonerConfig, {'camera.image_topic': ' '}, 'camera.image_topic'),
    (ReasonerConfig, {'camera.width_px': 1.5}, 'camera.width_px'),
    (ReasonerConfig, {'camera': 3}, 'camera'),
    (ReasonerConfig, {'unknown': 1}, 'unknown'),
    (ReasonerConfig, {'model.unknown': 1}, 'model.unknown'),
    (ReasonerConfig, {'period_s.x': 1}, 'period_s.x'),
    (ExecutorConfig, {'backend': 'ros_control'}, 'backend'),
    (ExecutorConfig, {'out_of_workspace': 'ignore'}, 'out_of_workspace'),
    (ExecutorConfig, {'speed_m_s': 0}, 'speed_m_s'),
    (ExecutorConfig, {'gripper_open_m': 0.2}, 'gripper_open_m'),
    (ExecutorConfig, {'max_step_m': float('nan')}, 'max_step_m'),
    (QAConfig, {'tasks': []}, 'tasks'),
    (QAConfig, {'tasks': ['next_waypoint', 'waypoint']}, 'tasks[1]'),
    (QAConfig, {'tasks': ['movement', 'movement']}, 'tasks'),
    (QAConfig, {'distractor_kind': 'easy'}, 'distractor_kind'),
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
        ModelConfig(dtype='int4')
    with pytest.raises(ConfigError, match='valid names here'):
        TrainingConfig.from_dict({'reward_funcs': ['format'], 'lr': 1e-5})
    with pytest.raises(ConfigError, match='given both as a whole and as sub-settings'):
        ReasonerConfig.from_dict({'model': ModelConfig(), 'model.dtype': 'float32'})
    config = ExecutorConfig().replace(backend='moveit')
    assert config.backend == 'moveit'
    with pytest.raises(ConfigError, match='backend'):
        config.replace(backend='teleport')
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
    assert state.gripper_state() is GripperState.OPEN
    assert RobotState([0] * 7, [0, 0, 0], 0.01).gripper_state() is GripperState.CLOSED
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
    assert [k.is_multiple_choice for k in TaskKind] == [True, True, True, False]
    assert {k.value for k in TaskKind} == {'next_waypoint', 'current_state', 'movement',
                                          'open_keypoint'}
