"""``robot-r1 watch`` across processes: prints each prediction readably; times out with exit 1."""
from __future__ import annotations

import time

from r1_testing import require_ros_interfaces


def test_watch_prints_predictions_readably(spawn, rclpy_node):
    require_ros_interfaces()
    from robot_r1_ros.msg import KeypointPrediction
    watch = spawn('robot_r1_ros.cli', 'watch', '--count', '2', '--timeout-s', '60')
    node = rclpy_node('watch_test')
    pub = node.create_publisher(KeypointPrediction, '/robot_r1/next_keypoint', 10)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pub.get_subscription_count() == 1, watch.output()
    ok = KeypointPrediction(status=KeypointPrediction.STATUS_OK, task='put the red cube away',
                            reasoning='The red cube is left of the gripper. ' * 3,
                            gripper_command=KeypointPrediction.GRIPPER_CLOSED,
                            model_id='models/tiny-qwen2.5-vl', generated_tokens=42)
    ok.header.frame_id = 'panda_link0'
    ok.position.x, ok.position.y, ok.position.z = 0.45, -0.1, 0.02
    ok.current_position.x, ok.current_position.z = 0.45, 0.32
    bad = KeypointPrediction(status=KeypointPrediction.STATUS_FORMAT_ERROR,
                             status_reason='no <answer> tag', raw_answer='<think>hmm')
    pub.publish(ok)
    time.sleep(0.2)
    pub.publish(bad)
    watch.popen.wait(30)
    out = watch.output()
    assert watch.popen.returncode == 0, out
    assert 'watching /robot_r1/next_keypoint' in out
    assert 'status:    OK' in out
    assert 'keypoint:  [0.450, -0.100, 0.020] m' in out and '(step 0.316 m)' in out
    assert 'gripper:   closed' in out
    assert 'reasoning: The red cube is left of the gripper.' in out
    assert 'model:     0.00 s, 42 tokens' in out
    assert 'status:    FORMAT_ERROR (no <answer> tag)' in out
    assert "answer:    '<think>hmm'" in out
    assert out.index('prediction #1') < out.index('prediction #2')


def test_watch_times_out_without_predictions(spawn):
    require_ros_interfaces()
    watch = spawn('robot_r1_ros.cli', 'watch', '--timeout-s', '2', '--namespace', 'nobody')
    watch.popen.wait(60)
    assert watch.popen.returncode == 1
    assert 'no prediction on /nobody/next_keypoint' in watch.output()
