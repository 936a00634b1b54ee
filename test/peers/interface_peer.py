"""Peer process for test_interfaces.py: echoes KeypointPrediction and serves PredictKeypoint.

Subscribes to ``kp_in`` and republishes each message unchanged on ``kp_out``; serves the
``predict_keypoint`` action by streaming three feedback messages and returning a prediction whose
task echoes the goal. Runs until SIGINT.
"""
from rclpy.action import ActionServer

from robot_r1_ros.action import PredictKeypoint
from robot_r1_ros.msg import KeypointPrediction

from peer_main import peer_node, spin_until_shutdown


def main() -> None:
    node = peer_node('interface_peer')
    pub = node.create_publisher(KeypointPrediction, 'kp_out', 10)
    node.create_subscription(KeypointPrediction, 'kp_in', pub.publish, 10)

    def execute(goal_handle):
        text = ''
        for word in ('looking', 'at', 'cube'):
            text += word + ' '
            goal_handle.publish_feedback(
                PredictKeypoint.Feedback(reasoning=text, tokens=len(text.split())))
        goal_handle.succeed()
        result = PredictKeypoint.Result()
        result.prediction.task = goal_handle.request.task
        result.prediction.reasoning = text.strip()
        result.prediction.status = KeypointPrediction.STATUS_OK
        result.prediction.position.x = 0.5
        return result

    ActionServer(node, PredictKeypoint, 'predict_keypoint', execute)
    spin_until_shutdown(node)


if __name__ == '__main__':
    main()
