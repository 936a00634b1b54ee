"""The reasoning node across processes over real DDS (scripted reasoner selected by model.id).

- A peer process publishes camera + joint states; the node (another process) publishes
  KeypointPrediction with the base frame, the image's stamp and status OK, plus the pose,
  markers, debug image and diagnostics.
- Every camera encoding (rgb8, bgr8, rgba8, bgra8, mono8, padded rows) is accepted.
- Every bad input yields its status and reason, is counted, and the node keeps running.
- Model exception, unparseable and out-of-workspace answers yield MODEL_ERROR, FORMAT_ERROR,
  OUT_OF_WORKSPACE (never an OK keypoint outside the workspace).
- Trigger modes: continuous (rate cap), on_reached (waits for the executor), on_demand.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from r1_testing import require, require_ros_interfaces
from reasoning_harness import (ARM, NODE_MODULE, READY_Q, ReasoningProbe, image_msg,
                               joint_state_msg, node_args)

pytestmark = pytest.mark.ros

PEER = 'test/peers/reasoning_camera_peer.py'
SCRIPTED_XYZ_ENV = (0.1, -0.05, 0.2)  # -> base (0.45, -0.05, 0.2) with the default env frame


@pytest.fixture
def probe(rclpy_node):
    require('rclpy')
    require_ros_interfaces()
    return ReasoningProbe(rclpy_node('reasoning_probe'))


def _scripted(mode: str = 'valid', **query) -> str:
    query.setdefault('xyz', ','.join(str(v) for v in SCRIPTED_XYZ_ENV))
    return f'scripted:{mode}?' + '&'.join(f'{k}={v}' for k, v in query.items())


def _alive(child) -> None:
    assert child.alive(), child.output()[-3000:]


def test_predictions_from_a_camera_peer(spawn, probe):
    from robot_r1_ros.core.geometry import panda_fk

    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    camera_stamps = []
    probe.node.create_subscription(
        Image, '/camera/image_raw',
        lambda m: camera_stamps.append((m.header.stamp.sec, m.header.stamp.nanosec)),
        qos_profile_sensor_data)
    task = 'stack the blue cube on the red cube'
    from std_msgs.msg import String
    probe.task_pub.publish(String(data=task))
    spawn(PEER, '--rate-hz', '20')
    node = spawn(NODE_MODULE, *node_args(
        _scripted(gripper='closed', reasoning='the cube is left of the gripper'),
        trigger__max_rate_hz=5.0, camera__xyz_base_m=[1.05, 0.3, 0.8],
        camera__quat_xyzw=[-0.48166, -0.77934, 0.34093, 0.21071]))
    KP = probe.KP

    def seen_ok() -> list:
        # an OK prediction on a frame this process also received (discovery of the test's own
        # camera subscription may lag the node's under load)
        # (and the latched task: until it arrives the node uses its task parameter)
        return [p for p in probe.predictions if p.status == KP.STATUS_OK and p.task == task
                and (p.header.stamp.sec, p.header.stamp.nanosec) in camera_stamps]

    assert probe.wait_for(lambda: len(seen_ok()) >= 2, 25.0), (
        [(p.status, p.status_reason) for p in probe.predictions], len(camera_stamps),
        node.output()[-3000:])
    msg = seen_ok()[-1]
    assert msg.header.frame_id == 'panda_link0'
    assert msg.status_reason == ''
    assert (msg.position.x, msg.position.y, msg.position.z) == pytest.approx(
        (0.35 + SCRIPTED_XYZ_ENV[0], SCRIPTED_XYZ_ENV[1], SCRIPTED_XYZ_ENV[2]), abs=1e-9)
    assert msg.gripper_command == KP.GRIPPER_CLOSED
    tcp, _ = panda_fk(np.array(READY_Q))
    cur = msg.current_position
    assert (cur.x, cur.y, cur.z) == pytest.approx(tuple(tcp), abs=1e-6)
    assert any(msg.prediction_id.uuid)
    assert msg.task == task
    assert msg.reasoning == 'the cube is left of the gripper'
    assert '<answer>' in msg.raw_answer and 'closed' in msg.raw_answer
    assert msg.model_id.startswith('scripted:valid') and msg.generated_tokens > 0
    # the other outputs
    assert probe.wait_for(lambda: probe.poses and probe.markers and probe.debug_images
                          and probe.diag_values().get('count_ok', '0') != '0', 10.0)
    pose = probe.poses[-1]
    assert pose.header.frame_id == 'panda_link0'
    assert pose.pose.position.x == pytest.approx(0.35 + SCRIPTED_XYZ_ENV[0])
    ids = {m.id for m in probe.markers[-1].markers}
    assert ids == {0, 1, 2, 3}
    debug = probe.debug_images[-1]
    assert (debug.encoding, debug.width, debug.height) == ('rgb8', 64, 48)
    assert debug.header.frame_id == 'camera_optical_frame'
    # On a loaded machine a camera frame can arrive past input.max_image_age_s, and the newest
    # status then rightly reports that STALE_INPUT rejection: take a status after an OK one.
    def after_ok() -> dict[str, str] | None:
        for status in reversed(probe.diagnostics):
            found = {kv.key: kv.value for kv in status.values}
            if found.get('last_status') == 'OK':
                return found
        return None

    assert probe.wait_for(lambda: after_ok() is not None, 10.0), probe.diag_values()
    values = after_ok()
    assert values['state'] == 'active' and values['model_loaded'] == 'true'
    assert int(values['count_ok']) >= 1
    assert float(values['end_to_end_ms_last']) > 0.0
    assert float(values['frame_age_ms_p50']) >= 0.0
    _alive(node)


@pytest.mark.parametrize('encoding,pad', [('bgr8', 0), ('rgba8', 0), ('bgra8', 0),
                                          ('mono8', 0), ('rgb8', 5)])
def test_every_camera_encoding_is_accepted(spawn, probe, encoding, pad):
    node = spawn(NODE_MODULE, *node_args(_scripted(), trigger__max_rate_hz=20.0))

    def feed():
        stamp = probe.now()
        probe.publish_inputs(image=image_msg(probe.rgb, stamp, encoding, pad=pad))

    # A stalled CPU can pair a frame with an earlier joint state (STATUS_STALE_INPUT: timing,
    # tested on its own below); an encoding the node cannot read gives STATUS_BAD_INPUT.
    got = probe.wait_prediction(lambda p: p.status != probe.KP.STATUS_STALE_INPUT, 25.0, feed)
    assert got is not None, node.output()[-3000:]
    assert got.status == probe.KP.STATUS_OK, got.status_reason


def test_bad_inputs_each_give_their_status_and_the_node_survives(spawn, probe):
    KP = probe.KP
    node = spawn(NODE_MODULE, *node_args(_scripted(), trigger__max_rate_hz=20.0,
                                         input__max_image_age_s=0.5))
    assert probe.wait_prediction(lambda p: p.status == KP.STATUS_OK, 25.0) is not None, \
        node.output()[-3000:]

    def bad_image(**fields):
        def feed():
            msg = image_msg(probe.rgb, probe.now())
            for key, value in fields.items():
                setattr(msg, key, value)
            probe.publish_inputs(image=msg)
        return feed

    def bad_joints(names=ARM, q=READY_Q):
        return lambda: probe.publish_inputs(joints=joint_state_msg(probe.now(), q, names))

    cases = [
        ('wrong encoding', bad_image(encoding='yuv422'), KP.STATUS_BAD_INPUT,
         "unsupported image encoding 'yuv422'"),
        ('unconvertible encoding', bad_image(encoding='32FC1', step=64 * 4,
                                             data=bytes(64 * 4 * 48)),
         KP.STATUS_BAD_INPUT, 'cannot convert 32FC1 to rgb8'),
        ('short data', bad_image(data=bytes(64 * 48 * 3 - 7)), KP.STATUS_BAD_INPUT,
         'data has 9209 B, expected step x height'),
        ('zero size', bad_image(width=0, height=0, step=0, data=b''), KP.STATUS_BAD_INPUT,
         'zero-size image'),
        ('old image', lambda: probe.publish_inputs(age_s=3.0), KP.STATUS_STALE_INPUT,
         'image is 3.0'),
        ('NaN joint', bad_joints(q=(0.0, float('nan'), 0.0, -2.0, 0.0, 1.5, 0.7)),
         KP.STATUS_BAD_INPUT, 'non-finite joint position for panda_joint2'),
        ('missing joint', bad_joints(names=ARM[:6], q=READY_Q[:6]), KP.STATUS_BAD_INPUT,
         'lacks panda_joint7'),
        ('joint names do not match', bad_joints(names=tuple(f'fr3_joint{i}'
                                                            for i in range(1, 8))),
         KP.STATUS_BAD_INPUT, 'lacks panda_joint1'),
        ('stale joint state', lambda: probe.publish_inputs(
            joints=joint_state_msg(_shifted(probe.now(), -5.0))), KP.STATUS_STALE_INPUT,
         'joint state is 5.0'),
    ]
    for name, feed, status, reason in cases:
        got = probe.wait_prediction(lambda p: p.status != KP.STATUS_OK, 10.0, feed)
        assert got is not None, f'{name}: no rejection published\n{node.output()[-2000:]}'
        assert got.status == status, f'{name}: {got.status} {got.status_reason}'
        assert reason in got.status_reason, f'{name}: {got.status_reason!r}'
        assert got.header.frame_id == 'panda_link0'
        _alive(node)
        # after every bad input, good input gives OK again
        assert probe.wait_prediction(lambda p: p.status == KP.STATUS_OK, 10.0) is not None, name
    # counted
    assert probe.wait_for(lambda: int(probe.diag_values().get('count_bad_input', 0)) >= 7
                          and int(probe.diag_values().get('count_stale_input', 0)) >= 2, 5.0), \
        probe.diag_values()
    log = node.output()
    assert 'prediction rejected: BAD_INPUT' in log and 'prediction rejected: STALE_INPUT' in log
    _alive(node)


def _shifted(stamp, seconds: float):
    from builtin_interfaces.msg import Time

    ns = stamp.sec * 10**9 + stamp.nanosec + int(seconds * 1e9)
    return Time(sec=ns // 10**9, nanosec=ns % 10**9)


@pytest.mark.parametrize('model_id,status_name,reason', [
    ('scripted:error', 'STATUS_MODEL_ERROR', 'model raised GenerationError'),
    ('scripted:garbage', 'STATUS_FORMAT_ERROR', 'missing <think>'),
    ('scripted:out_of_workspace', 'STATUS_OUT_OF_WORKSPACE', 'above the workspace maximum'),
    (_scripted(fail_every=2), 'STATUS_MODEL_ERROR', 'scripted failure'),
])
def test_bad_model_outputs_give_their_status(spawn, probe, model_id, status_name, reason):
    KP = probe.KP
    node = spawn(NODE_MODULE, *node_args(model_id, trigger__max_rate_hz=20.0))
    status = getattr(KP, status_name)
    got = probe.wait_prediction(lambda p: p.status == status, 25.0)
    assert got is not None, node.output()[-3000:]
    assert reason in got.status_reason
    # a second attempt is made: the node keeps running and keeps predicting
    assert probe.wait_prediction(lambda p: True, 10.0) is not None
    assert all(not (p.status == KP.STATUS_OK and p.position.x > 0.8)
               for p in probe.predictions)
    if status == KP.STATUS_OUT_OF_WORKSPACE:
        assert got.position.x == pytest.approx(9.35)  # shown, but not OK
        assert not probe.poses  # the PoseStamped topic carries OK keypoints only
    _alive(node)


def test_on_reached_waits_for_the_executor(spawn, probe):
    KP, ES = probe.KP, probe.ES
    node = spawn(NODE_MODULE, *node_args(_scripted(), trigger__mode='on_reached',
                                         trigger__max_rate_hz=20.0))
    first = probe.wait_prediction(lambda p: p.status == KP.STATUS_OK, 25.0)
    assert first is not None, node.output()[-3000:]

    def report(state, pred, goal_id=None):
        msg = ES(state=state)
        msg.header.stamp = probe.now()
        msg.goal_stamp = pred.header.stamp
        msg.goal_id.uuid = list(goal_id or bytes(pred.prediction_id.uuid))
        probe.exec_pub.publish(msg)

    # moving, or a report about another goal, does not trigger a new prediction
    report(ES.STATE_MOVING, first)
    assert probe.wait_prediction(lambda p: True, 1.5) is None
    # another goal from the same image (same goal_stamp, another goal_id): not this one
    report(ES.STATE_REACHED, first, goal_id=bytes(range(16)))
    assert probe.wait_prediction(lambda p: True, 1.0) is None
    # reached on this goal: exactly one new prediction follows
    report(ES.STATE_REACHED, first)
    second = probe.wait_prediction(lambda p: True, 10.0)
    assert second is not None and second.header.stamp != first.header.stamp
    assert probe.wait_prediction(lambda p: True, 1.0) is None
    # failed / rejected also re-arm the trigger
    report(ES.STATE_REJECTED, second)
    assert probe.wait_prediction(lambda p: True, 10.0) is not None
    assert 'next prediction armed' in node.output()
    _alive(node)


def test_continuous_rate_cap_and_on_demand_mode(spawn, probe):
    node = spawn(NODE_MODULE, *node_args(_scripted(), trigger__max_rate_hz=2.0))
    assert probe.wait_prediction(lambda p: True, 25.0) is not None, node.output()[-3000:]
    start = len(probe.predictions)
    t0 = time.monotonic()
    probe.wait_for(lambda: False, 3.0, probe.publish_inputs)
    elapsed = time.monotonic() - t0
    n = len(probe.predictions) - start
    assert 1 <= n <= 2.0 * elapsed + 1, n  # inputs at 20 Hz, predictions capped at 2 Hz
    node.stop()
    probe.predictions.clear()
    on_demand = spawn(NODE_MODULE, *node_args(_scripted(), trigger__mode='on_demand'))
    assert probe.wait_node(20.0)
    probe.wait_for(lambda: probe.get_state() == 'active', 20.0)
    assert probe.wait_prediction(lambda p: True, 2.0) is None  # images alone trigger nothing
    _alive(on_demand)
