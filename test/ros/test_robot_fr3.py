"""The FR3 as data: config/fr3.yaml (fr3 names, /fr3_arm_controller, franka_gripper, the FR3's
joint limits), the robot launch argument, and plans that never leave the FR3 limits. Before,
``joint_prefix: fr3`` only renamed the joints: IK and timing used the Panda's limits, so goals
like the ones below commanded joint 6 below the FR3's 0.5445 rad (its safety stop)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from r1_testing import REPO

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.kinematics import PANDA
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.motion.backend import MotionError
from robot_r1_ros.motion.direct import DirectBackend
from robot_r1_ros.motion.types import JointStateSample, MotionGoal
from robot_r1_ros.ros import executor_params as ep
from robot_r1_ros.ros import reasoning_params as rp
from robot_r1_ros.ros.params import params_file_values
from robot_r1_ros.ros.system import describe_system

FR3 = REPO / 'config' / 'fr3.yaml'
PANDA_YAML = REPO / 'config' / 'franka.yaml'
# franka_description robots/fr3/joint_limits.yaml (the numbers)
FR3_LOWER = (-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159)
FR3_UPPER = (2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159)
FR3_VELOCITY = (2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26)
# Goals (TCP xyz, quat wxyz) whose Panda-limited plan from home leaves the FR3 limits.
LIMIT_GOALS = [((0.446, 0.087, 0.588), (-0.3901, -0.6309, 0.1578, 0.6518)),
               ((0.299, 0.246, 0.671), (0.5319, -0.3661, -0.2907, 0.7061)),
               ((0.528, 0.042, 0.294), (0.6451, 0.2827, -0.0295, -0.7092)),
               ((0.249, -0.398, 0.25), (-0.4173, 0.1815, -0.4646, -0.7596))]


def _block(path: Path, node: str) -> dict:
    return params_file_values(path, node)


def test_fr3_yaml_is_the_fr3_and_sets_what_franka_yaml_sets():
    for node in ('reasoning_node', 'executor_node', 'sim_node'):
        assert set(_block(FR3, node)) == set(_block(PANDA_YAML, node)), node
    cfg = ep.config_from_values(_block(FR3, 'executor_node'))
    assert cfg.robot.arm_joint_names == tuple(f'fr3_joint{i}' for i in range(1, 8))
    assert (cfg.robot.lower_rad, cfg.robot.upper_rad) == (FR3_LOWER, FR3_UPPER)
    assert cfg.robot.max_velocity_rad_s == FR3_VELOCITY
    assert cfg.arm_controller == '/fr3_arm_controller' and cfg.arm_interface == 'action'
    assert (cfg.direct.gripper.interface, cfg.gripper_action) == ('franka', '/franka_gripper')
    assert cfg.execution.validation.base_frame == 'fr3_link0'
    assert cfg.moveit.pose_link == 'fr3_hand_tcp' and cfg.moveit.tcp_offset_m == 0.0
    reasoning = rp.config_from_values(_block(FR3, 'reasoning_node'))
    assert reasoning.arm_joint_names[0] == 'fr3_joint1' and reasoning.base_frame == 'fr3_link0'
    assert reasoning.finger_joint_names == ('fr3_finger_joint1', 'fr3_finger_joint2')
    assert reasoning.gripper_joint_states_topic == '/franka_gripper/joint_states'
    sim = _block(FR3, 'sim_node')
    assert sim['joint_prefix'] == 'fr3' and sim['arm_controller'] == 'fr3_arm_controller'
    assert tuple(sim['joint_lower_rad']) == FR3_LOWER and tuple(sim['joint_upper_rad']) == \
        FR3_UPPER


def test_robot_argument_selects_the_parameters_file():
    assert all(n.params_file.endswith('fr3.yaml') for n in describe_system(robot='fr3'))
    assert all(n.params_file.endswith('franka.yaml') for n in describe_system(robot='panda'))
    assert describe_system(robot='fr3', params_file=str(PANDA_YAML))[0].params_file == \
        str(PANDA_YAML)
    with pytest.raises(ConfigError, match='robot must be one of panda, fr3'):
        describe_system(robot='ur5')


def test_moveit_config_file_argument_reaches_the_executor(tmp_path):
    path = tmp_path / 'moveit.yaml'
    path.write_text('robot_description: <robot/>\n')
    executor = describe_system(moveit_config_file=str(path), backend='moveit')[-1]
    assert executor.overrides['moveit.config_file'] == str(path.resolve())
    with pytest.raises(ConfigError, match='moveit_config_file'):
        describe_system(moveit_config_file=str(tmp_path / 'missing.yaml'))


def test_camera_topic_argument_sets_the_reasoning_image_topic():
    nodes = {n.name: n for n in describe_system(robot='fr3', use_sim='false',
                                                camera_topic='/camera/camera/color/image_raw')}
    assert nodes['reasoning_node'].overrides['topics.image'] == '/camera/camera/color/image_raw'
    assert 'topics.image' not in dict(describe_system()[1].overrides)
    with pytest.raises(ConfigError, match='camera_topic'):
        describe_system(camera_topic='a b')


def test_robot_limits_are_validated_and_name_the_parameter():
    with pytest.raises(ConfigError) as info:
        ep.config_from_values({'robot.lower_rad': [0.0] * 6})
    assert info.value.field == 'robot.lower_rad'
    with pytest.raises(ConfigError) as info:
        ep.config_from_values({'robot.upper_rad': [-3.0] * 7})
    assert 'robot.' in str(info.value)


@pytest.mark.parametrize('xyz,quat', LIMIT_GOALS)
def test_fr3_plans_never_leave_the_fr3_limits(xyz, quat):
    cfg = ep.config_from_values(_block(FR3, 'executor_node'))
    lower, upper = np.array(FR3_LOWER), np.array(FR3_UPPER)
    outside = {}
    for label, robot in (('fr3', cfg.robot), ('panda limits', replace(PANDA, joint_prefix='fr3'))):
        sent = []
        backend = DirectBackend(cfg.direct, sent.append, lambda cmd: None, robot=robot)
        names = robot.arm_joint_names
        backend.update_joint_state(JointStateSample(dict(zip(names, robot.home_q_rad)),
                                                    {n: 0.0 for n in names}, 0.0))
        try:
            backend.start(MotionGoal(xyz, GripperState.OPEN, quat), 0.0)
        except MotionError:
            outside[label] = 0                 # refused: nothing commanded
            continue
        pos = sent[-1].positions_rad
        outside[label] = int(((pos < lower) | (pos > upper)).any(axis=1).sum())
        vel = np.abs(sent[-1].velocities_rad_s)
        if label == 'fr3':
            assert np.all(vel <= np.array(FR3_VELOCITY) * cfg.direct.velocity_scale + 1e-9)
    assert outside['fr3'] == 0
    assert outside['panda limits'] > 0          # the old behaviour: the test can fail
