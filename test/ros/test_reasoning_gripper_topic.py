"""Finger joints from the gripper's own topic (franka_ros2 publishes the arm on /joint_states
and the fingers on /franka_gripper/joint_states). Before: every prediction was BAD_INPUT
("lacks panda_finger_joint1") with the default robot.finger_joint_names."""
from __future__ import annotations

import pytest

from r1_testing import require, require_ros_interfaces
from reasoning_harness import ARM, FINGERS, NODE_MODULE, READY_Q, ReasoningProbe, node_args

from robot_r1_ros.core.joint_merge import merge_missing_joints

pytestmark = pytest.mark.ros


def _arm_only(stamp):
    from sensor_msgs.msg import JointState
    return JointState(header=_header(stamp), name=list(ARM), position=list(READY_Q))


def _header(stamp):
    from std_msgs.msg import Header
    return Header(stamp=stamp)


@pytest.mark.parametrize('gripper_topic,expected', [('/franka_gripper/joint_states', 'OK'),
                                                    ('', 'BAD_INPUT')])
def test_fingers_merged_from_the_gripper_topic(spawn, rclpy_node, gripper_topic, expected):
    require('rclpy')
    require_ros_interfaces()
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import JointState

    probe = ReasoningProbe(rclpy_node('gripper_topic_probe'))
    grip_pub = probe.node.create_publisher(JointState, '/franka_gripper/joint_states',
                                           qos_profile_sensor_data)
    node = spawn(NODE_MODULE, *node_args('scripted:valid?xyz=0.1,-0.05,0.2',
                                         trigger__max_rate_hz=10.0,
                                         topics__gripper_joint_states=gripper_topic or '""'))

    def feed():
        stamp = probe.now()
        grip_pub.publish(JointState(header=_header(stamp), name=list(FINGERS),
                                    position=[0.01, 0.01]))
        probe.publish_inputs(joints=_arm_only(stamp))

    pred = probe.wait_prediction(lambda p: True, 30.0, feed=feed)
    assert pred is not None, node.output()[-3000:]
    status = getattr(probe.KP, f'STATUS_{expected}')
    pred = probe.wait_prediction(lambda p: p.status == status, 20.0, feed=feed)
    assert pred is not None, node.output()[-3000:]
    if expected == 'BAD_INPUT':
        assert 'lacks panda_finger_joint1' in pred.status_reason


def test_merge_missing_joints():
    names, pos = ['a', 'b'], [1.0, 2.0]
    assert merge_missing_joints(names, pos, ['f1', 'f2', 'x'], [0.1, 0.2, 9.0], ['f1', 'f2']) \
        == (['a', 'b', 'f1', 'f2'], [1.0, 2.0, 0.1, 0.2])
    # Nothing missing, or nothing to add: None (the main reading stands as it is).
    assert merge_missing_joints(['a', 'f1', 'f2'], [1, 2, 3], ['f1'], [0.5], ['f1', 'f2']) is None
    assert merge_missing_joints(names, pos, ['y'], [0.5], ['f1']) is None
    # The main reading wins where both have a joint.
    assert merge_missing_joints(['a', 'f1'], [1.0, 0.3], ['f1', 'f2'], [0.9, 0.2],
                                ['f1', 'f2']) == (['a', 'f1', 'f2'], [1.0, 0.3, 0.2])
