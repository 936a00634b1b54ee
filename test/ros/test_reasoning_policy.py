"""The reasoning node's pure parts, without rclpy: trigger policy, counters and diagnostics,
the action's reasoning excerpt (judging is model.step's: test/model/test_model_step.py)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from robot_r1_ros.ros.reasoning_trigger import TriggerPolicy

S = 1_000_000_000  # ns


def test_these_modules_do_not_import_rclpy():
    code = ('import sys; import robot_r1_ros.ros.reasoning_trigger, '
            'robot_r1_ros.ros.reasoning_stats, robot_r1_ros.ros.reasoning_worker; '
            'print("rclpy" in sys.modules)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == 'False', out.stderr


def test_continuous_needs_a_new_frame_and_a_joint_state_and_respects_the_rate_cap():
    p = TriggerPolicy('continuous', max_rate_hz=2.0)
    p.reset(image_seq=5)
    assert p.decide(0, image_seq=5, have_joint_state=True).wait_s is None   # no new frame
    d = p.decide(0, image_seq=6, have_joint_state=False)
    assert d.wait_s is None and d.note == 'waiting_for_joint_states'
    assert p.decide(0, image_seq=6, have_joint_state=True).wait_s == 0.0
    p.started(0)
    p.consumed(6)
    assert p.decide(S // 10, image_seq=7, have_joint_state=True).wait_s == pytest.approx(0.4)
    assert p.decide(S // 2, image_seq=7, have_joint_state=True).wait_s == 0.0


def test_on_reached_waits_for_the_report_on_its_goal():
    p = TriggerPolicy('on_reached', max_rate_hz=100.0)
    p.published_ok(b"goal-5", now_ns=0)
    assert p.decide(S, image_seq=1, have_joint_state=True).wait_s is None
    assert not p.executor_report(b"goal-6", ends_goal=True)    # another goal
    assert not p.executor_report(b"goal-5", ends_goal=False)   # MOVING
    assert p.executor_report(b"goal-5", ends_goal=True)
    assert p.decide(S, image_seq=1, have_joint_state=True).wait_s == 0.0


def test_on_reached_timeout_and_on_demand():
    p = TriggerPolicy('on_reached', reached_timeout_s=2.0)
    p.published_ok(b"goal-1", now_ns=0)
    assert p.decide(S, image_seq=1, have_joint_state=True).wait_s == pytest.approx(1.0)
    d = p.decide(3 * S, image_seq=1, have_joint_state=True)
    assert d.wait_s == 0.0 and d.note == 'reached_timeout' and p.wait_goal_id is None
    demand = TriggerPolicy('on_demand')
    assert demand.decide(S, image_seq=9, have_joint_state=True).wait_s is None
    with pytest.raises(ValueError):
        TriggerPolicy('sometimes')


def test_on_reached_predicts_again_when_the_goal_was_never_reported_on():
    # a prediction published before the executor's subscription matched is lost: without an
    # acknowledgement timeout on_reached would wait for its report forever
    p = TriggerPolicy('on_reached', max_rate_hz=100.0, ack_timeout_s=5.0)
    p.published_ok(b"lost", now_ns=0)
    assert p.decide(2 * S, image_seq=1, have_joint_state=True).wait_s == pytest.approx(3.0)
    d = p.decide(6 * S, image_seq=1, have_joint_state=True)
    assert d.wait_s == 0.0 and d.note == 'not_acknowledged' and p.wait_goal_id is None
    # an acknowledged goal (MOVING) is waited for, however long it moves
    p.published_ok(b"slow", now_ns=10 * S)
    assert not p.executor_report(b"slow", ends_goal=False)
    assert p.decide(100 * S, image_seq=2, have_joint_state=True).wait_s is None
    assert p.executor_report(b"slow", ends_goal=True)
    # both timeouts: the earlier deadline decides
    q = TriggerPolicy('on_reached', reached_timeout_s=2.0, ack_timeout_s=5.0)
    q.published_ok(b"g", now_ns=0)
    assert q.decide(0, image_seq=1, have_joint_state=True).wait_s == pytest.approx(2.0)
    assert q.decide(3 * S, image_seq=1, have_joint_state=True).note == 'reached_timeout'


def test_stats_and_diagnostics_levels():
    from robot_r1_ros.core.status import PredictionStatus
    from robot_r1_ros.ros.reasoning_stats import (CANCELLED, NodeState, ReasoningStats,
                                                  diagnostic_summary)
    stats = ReasoningStats()
    stats.count(PredictionStatus.OK, 'OK', '')
    stats.add_stages({'model': 10.0, 'end_to_end': 30.0})
    stats.add_stages({'model': 20.0, 'end_to_end': 50.0})
    snap = stats.snapshot()
    assert snap['counts']['ok'] == 1 and snap['stages_ms']['model']['mean'] == 15.0
    active = NodeState(loaded=True, active=True, model_id='m', image_age_s=0.1)
    level, message, values = diagnostic_summary(active, snap, {})
    assert (level, message) == ('OK', 'predicting')
    assert values['last_latency_ms'] == '50.000' and values['predictions'] == '1'
    stats.count(PredictionStatus.OUT_OF_WORKSPACE, 'OUT_OF_WORKSPACE', 'z too high')
    assert diagnostic_summary(active, stats.snapshot(), {})[:2] == (
        'WARN', 'last prediction OUT_OF_WORKSPACE: z too high')
    stats.count(CANCELLED, 'cancelled', '')
    assert diagnostic_summary(active, stats.snapshot(), {})[0] == 'OK'
    stats.count(PredictionStatus.MODEL_ERROR, 'MODEL_ERROR', 'boom')
    assert diagnostic_summary(active, stats.snapshot(), {})[:2] == (
        'ERROR', 'last prediction: boom')
    down = {'remote_state': 'down', 'remote_base_url': 'http://h', 'remote_last_error': 'x',
            'remote_consecutive_failures': '3'}
    assert 'remote model server http://h failing (3 in a row)' in diagnostic_summary(
        active, stats.snapshot(), down)[1]
    assert diagnostic_summary(NodeState(loaded=False, active=False, load_error='bad'),
                              stats.snapshot(), {})[:2] == ('ERROR', 'configure failed: bad')
    assert diagnostic_summary(NodeState(loaded=True, active=True), stats.snapshot(),
                              {})[1] == 'waiting for camera images'


@pytest.mark.parametrize('completion,expected', [
    ('<thi', ''), ('<think>the cube', 'the cube'),
    ('<think>the cube is left</t', 'the cube is left'),
    ('<think>done</think><answer>[0', 'done'), ('no tags yet', 'no tags yet'),
])
def test_reasoning_so_far(completion, expected):
    from robot_r1_ros.ros.reasoning_action import reasoning_so_far
    assert reasoning_so_far(completion) == expected
