"""Lifecycle of the reasoning node through the lifecycle_msgs services of another process:
unconfigured -> configure (model loaded) -> inactive (nothing published) -> active (predicts)
-> deactivate (stops) -> cleanup (unloaded) -> configure + activate again; a bad parameter makes
configure fail with a message naming it; parameters cannot change while configured."""
from __future__ import annotations

import pytest

from r1_testing import require, require_ros_interfaces
from reasoning_harness import NODE_MODULE, ReasoningProbe, node_args

pytestmark = pytest.mark.ros


@pytest.fixture
def probe(rclpy_node):
    require('rclpy')
    require_ros_interfaces()
    return ReasoningProbe(rclpy_node('reasoning_lifecycle_probe'))


def test_lifecycle_transitions(spawn, probe):
    from lifecycle_msgs.msg import Transition as T

    node = spawn(NODE_MODULE, *node_args('scripted:valid', autostart=False,
                                         trigger__max_rate_hz=10.0, diagnostics__period_s=0.2))
    assert probe.wait_node(20.0), node.output()[-3000:]
    assert probe.get_state() == 'unconfigured'
    assert probe.wait_prediction(lambda p: True, 1.0) is None
    assert probe.wait_for(lambda: probe.diag_values().get('state') == 'unconfigured', 5.0)

    assert probe.change_state(T.TRANSITION_CONFIGURE)
    assert probe.get_state() == 'inactive'
    assert probe.wait_prediction(lambda p: True, 1.0) is None  # configured but not active
    assert probe.wait_for(lambda: probe.diag_values().get('model_loaded') == 'true', 5.0)

    assert probe.change_state(T.TRANSITION_ACTIVATE)
    assert probe.get_state() == 'active'
    assert probe.wait_prediction(lambda p: p.status == probe.KP.STATUS_OK, 10.0) is not None

    # parameters are read on configure: a change while configured is refused with a reason
    refused = probe.set_parameter('trigger.mode', 'on_demand')
    assert refused is not None and not refused.successful
    assert 'read on configure' in refused.reason

    assert probe.change_state(T.TRANSITION_DEACTIVATE)
    assert probe.get_state() == 'inactive'
    probe.wait_for(lambda: False, 0.3, probe.publish_inputs)  # let in-flight messages land
    probe.predictions.clear()
    assert probe.wait_prediction(lambda p: True, 1.0) is None

    assert probe.change_state(T.TRANSITION_CLEANUP)
    assert probe.get_state() == 'unconfigured'
    assert probe.wait_for(lambda: probe.diag_values().get('model_loaded') == 'false', 5.0)
    accepted = probe.set_parameter('trigger.mode', 'on_demand')
    assert accepted is not None and accepted.successful

    assert probe.change_state(T.TRANSITION_CONFIGURE)
    assert probe.change_state(T.TRANSITION_ACTIVATE)
    assert probe.get_state() == 'active'
    assert probe.wait_for(lambda: probe.diag_values().get('trigger_mode') == 'on_demand', 5.0)
    assert probe.wait_prediction(lambda p: True, 1.0) is None  # on_demand now

    assert probe.change_state(T.TRANSITION_ACTIVE_SHUTDOWN)
    assert probe.get_state() == 'finalized'
    log = node.output()
    assert log.count("loading model 'scripted:valid'") == 2 and 'model unloaded' in log
    assert node.alive()


def test_bad_parameter_fails_configure_with_a_clear_error(spawn, probe):
    from lifecycle_msgs.msg import Transition as T

    node = spawn(NODE_MODULE, *node_args('scripted:valid', autostart=False,
                                         trigger__mode='sometimes',
                                         diagnostics__period_s=0.2))
    assert probe.wait_node(20.0), node.output()[-3000:]
    assert not probe.change_state(T.TRANSITION_CONFIGURE)
    assert probe.get_state() == 'unconfigured'
    assert probe.wait_for(lambda: 'trigger.mode' in node.output(), 5.0)
    assert ('configure failed: bad parameter: parameter trigger.mode must be one of continuous, '
            "on_reached, on_demand, got 'sometimes'") in node.output()
    assert probe.wait_for(lambda: probe.diagnostics
                          and probe.diagnostics[-1].level == b'\x02', 5.0)
    assert 'trigger.mode' in probe.diagnostics[-1].message
    # fixed in place, configure succeeds
    assert probe.set_parameter('trigger.mode', 'continuous').successful
    assert probe.change_state(T.TRANSITION_CONFIGURE)
    assert probe.get_state() == 'inactive'
    assert node.alive()


def test_missing_model_fails_autostart_but_the_node_stays_up(spawn, probe, tmp_path):
    node = spawn(NODE_MODULE, *node_args(str(tmp_path / 'no-such-checkpoint')))
    assert probe.wait_node(20.0), node.output()[-3000:]
    assert probe.wait_for(lambda: 'configure failed: cannot load model' in node.output(), 20.0)
    assert probe.get_state() == 'unconfigured'
    assert node.alive()
