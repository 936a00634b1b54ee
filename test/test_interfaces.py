"""The generated interfaces import, and round-trip between two processes over real DDS."""
import math

import pytest
from r1_testing import REPO, require_ros_interfaces, wait_for

pytestmark = pytest.mark.ros


def test_interfaces_import_with_constants():
    require_ros_interfaces()
    from robot_r1_ros.action import PredictKeypoint
    from robot_r1_ros.msg import ExecutorState, KeypointPrediction
    from robot_r1_ros.srv import ResetSim

    statuses = [KeypointPrediction.STATUS_OK, KeypointPrediction.STATUS_FORMAT_ERROR,
                KeypointPrediction.STATUS_OUT_OF_WORKSPACE, KeypointPrediction.STATUS_STALE_INPUT,
                KeypointPrediction.STATUS_BAD_INPUT, KeypointPrediction.STATUS_MODEL_ERROR]
    assert statuses == list(range(1, 7))
    # Interface 0.2: the zero values are UNSET, so a default message never reads as OK/OPEN.
    assert KeypointPrediction.STATUS_UNSET == 0 and KeypointPrediction.GRIPPER_UNSET == 0
    default = KeypointPrediction()
    assert default.status == KeypointPrediction.STATUS_UNSET != KeypointPrediction.STATUS_OK
    assert default.gripper_command == KeypointPrediction.GRIPPER_UNSET
    assert not hasattr(default, 'pose')        # a point target: no orientation to misread
    assert len(default.prediction_id.uuid) == 16 and hasattr(ExecutorState(), 'goal_id')
    assert hasattr(default, 'confidence')
    assert ExecutorState.STATE_REACHED != ExecutorState.STATE_MOVING
    assert hasattr(PredictKeypoint.Feedback(), 'reasoning')
    assert hasattr(PredictKeypoint.Result(), 'prediction')
    assert ResetSim.Request(task='pick_place', seed=3).seed == 3
    msg = KeypointPrediction(task='t', generated_tokens=7)
    assert msg.generated_tokens == 7 and msg.header.frame_id == ''


def test_keypoint_prediction_and_action_round_trip_across_processes(rclpy_node, spawn):
    require_ros_interfaces()
    import rclpy
    from rclpy.action import ActionClient
    from robot_r1_ros.action import PredictKeypoint
    from robot_r1_ros.msg import KeypointPrediction

    peer = spawn(str(REPO / 'test' / 'peers' / 'interface_peer.py'))
    node = rclpy_node('interface_test')
    executor = rclpy.executors.SingleThreadedExecutor(context=rclpy_node.context)
    executor.add_node(node)
    received = []
    node.create_subscription(KeypointPrediction, 'kp_out', received.append, 10)
    pub = node.create_publisher(KeypointPrediction, 'kp_in', 10)

    sent = KeypointPrediction()
    sent.header.frame_id = 'panda_link0'
    sent.header.stamp.sec = 12
    sent.position.x, sent.position.y, sent.position.z = 0.4, -0.1, 0.25
    sent.prediction_id.uuid = list(range(16))
    sent.gripper_command = KeypointPrediction.GRIPPER_CLOSED
    sent.task = 'put the red cube in the bin'
    sent.reasoning = 'the cube is left of the gripper'
    sent.raw_answer = '<think>x</think><answer>[0.400, -0.100, 0.250] closed</answer>'
    sent.status = KeypointPrediction.STATUS_OK
    sent.model_id = 'tiny'
    sent.inference_time_s = 0.25
    sent.generated_tokens = 42

    spin = lambda: executor.spin_once(timeout_sec=0.05)  # noqa: E731
    assert wait_for(lambda: pub.get_subscription_count() > 0, 20, spin), peer.output()

    def publish_and_check() -> bool:
        pub.publish(sent)
        return bool(received)

    assert wait_for(publish_and_check, 20, spin), peer.output()
    got = received[0]
    assert got.header.frame_id == 'panda_link0' and got.header.stamp.sec == 12
    assert math.isclose(got.position.y, -0.1, abs_tol=1e-9)
    assert list(got.prediction_id.uuid) == list(range(16))
    assert got.gripper_command == KeypointPrediction.GRIPPER_CLOSED
    assert (got.task, got.reasoning, got.raw_answer) == (sent.task, sent.reasoning, sent.raw_answer)
    assert got.generated_tokens == 42 and math.isclose(got.inference_time_s, 0.25, rel_tol=1e-6)

    client = ActionClient(node, PredictKeypoint, 'predict_keypoint')
    assert wait_for(lambda: client.server_is_ready(), 20, spin), peer.output()
    feedback = []
    goal_future = client.send_goal_async(
        PredictKeypoint.Goal(task='stack the cubes'),
        feedback_callback=lambda fb: feedback.append(fb.feedback.reasoning))
    assert wait_for(goal_future.done, 20, spin)
    handle = goal_future.result()
    assert handle.accepted
    result_future = handle.get_result_async()
    assert wait_for(result_future.done, 20, spin)
    result = result_future.result().result
    assert result.prediction.task == 'stack the cubes'
    assert result.prediction.status == KeypointPrediction.STATUS_OK
    assert math.isclose(result.prediction.position.x, 0.5)
    # Feedback may race with the result on a fast peer; the final reasoning carries all of it.
    assert result.prediction.reasoning == 'looking at cube'
    assert all(result.prediction.reasoning.startswith(f.strip()) for f in feedback)
    assert peer.alive(), peer.output()
