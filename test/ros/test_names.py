"""Status / state / gripper names come from the generated message classes, and the ROS-free
mirrors in core.status agree with them."""
from __future__ import annotations

import pytest
from r1_testing import require_ros_interfaces


@pytest.fixture(scope='module')
def msgs():
    require_ros_interfaces()
    from robot_r1_ros.msg import ExecutorState, KeypointPrediction
    return KeypointPrediction, ExecutorState


def test_names_are_the_message_constants(msgs):
    from robot_r1_ros.ros import names
    kp, state = msgs
    assert names.STATUS_NAMES[kp.STATUS_OUT_OF_WORKSPACE] == 'OUT_OF_WORKSPACE'
    assert names.STATUS_NAMES == {getattr(kp, f'STATUS_{n}'): n for n in names.STATUS_NAMES.values()}
    assert len(names.STATUS_NAMES) == 6 and len(names.STATE_NAMES) == 5
    assert names.STATE_NAMES[state.STATE_REJECTED] == 'REJECTED'
    assert names.GRIPPER_NAMES == {kp.GRIPPER_OPEN: 'open', kp.GRIPPER_CLOSED: 'closed'}
    assert state.STATE_IDLE not in names.DONE_STATES
    assert names.IDLE_OR_DONE_STATES == names.DONE_STATES | {state.STATE_IDLE}
    assert names.status_name(99) == 'UNKNOWN(99)' and names.state_name(99) == '99'


def test_core_status_mirrors_the_messages(msgs):
    from robot_r1_ros.core.status import ExecutorStateCode, GripperCommand, PredictionStatus
    from robot_r1_ros.ros import names
    assert {s.value: s.name for s in PredictionStatus} == names.STATUS_NAMES
    assert {s.value: s.name for s in ExecutorStateCode} == names.STATE_NAMES
    assert {s.value: s.name.lower() for s in GripperCommand} == names.GRIPPER_NAMES
