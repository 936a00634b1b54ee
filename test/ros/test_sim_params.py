"""The sim node's parameters on the shared ParamSpec machinery: types, validation, refusal of
run-time changes, a bad value exits with a message naming the parameter."""
from __future__ import annotations

import pytest
from r1_testing import require_ros_interfaces

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.ros import sim_params


def test_defaults_and_the_registry_default_task():
    from robot_r1_ros.sim.tasks import DEFAULT_TASK, task_names
    cfg = sim_params.config_from_values({})
    assert cfg == sim_params.SimNodeConfig()
    assert sim_params.DEFAULT_TASK == DEFAULT_TASK and cfg.task in task_names()
    assert sim_params.DEFAULTS['camera_rate_hz'] == 15.0


@pytest.mark.parametrize('values,param', [
    ({'camera_rate_hz': 0.0}, 'camera_rate_hz'),
    ({'real_time_factor': -1.0}, 'real_time_factor'),
    ({'clock_epoch': 'monday'}, 'clock_epoch'),
    ({'seed': -3}, 'seed'),
    ({'camera_width': 2}, 'camera_width'),
    ({'camera_rate_hz': 'fast'}, 'camera_rate_hz'),      # wrong type
    ({'publish_clock': 1}, 'publish_clock'),
    ({'no_such': 1}, 'no_such'),
])
def test_bad_values_name_the_parameter(values, param):
    with pytest.raises(ConfigError) as err:
        sim_params.config_from_values(values)
    assert err.value.field == param and param in str(err.value)


def test_bad_parameter_exits_with_its_name(spawn):
    require_ros_interfaces()
    child = spawn('robot_r1_ros.ros.sim_node', '--ros-args', '-p', 'camera_rate_hz:=0.0')
    child.popen.wait(60)
    assert child.popen.returncode == 2, child.output()[-2000:]
    assert 'parameter camera_rate_hz must be a finite number > 0' in child.output()


def test_unknown_task_exits_with_its_name(spawn):
    require_ros_interfaces()
    child = spawn('robot_r1_ros.ros.sim_node', '--ros-args', '-p', 'task:=juggle')
    child.popen.wait(60)
    assert child.popen.returncode == 2, child.output()[-2000:]
    assert 'parameter task' in child.output() and 'juggle' in child.output()


def test_run_time_changes_are_refused(rclpy_node):
    require_ros_interfaces()
    from rclpy.parameter import Parameter

    from robot_r1_ros.ros.sim_node import SimNode
    node = SimNode(context=rclpy_node.context)
    try:
        result = node.set_parameters([Parameter('camera_rate_hz', value=30.0)])[0]
        assert not result.successful and 'restart' in result.reason
        assert node.get_parameter('camera_rate_hz').value == 15.0
    finally:
        node.destroy_node()
