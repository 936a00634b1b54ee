"""Peer process for the reasoning-node tests: a camera and a robot, over real DDS.

Publishes ``/camera/image_raw`` (sensor-data QoS, stamped with this process's clock),
``/camera/camera_info`` and ``/joint_states`` (panda_joint1..7 at the ready pose + fingers) at a
fixed rate until SIGINT.

Usage: ``python test/peers/reasoning_camera_peer.py [--width 64] [--height 48] [--rate-hz 20]
[--encoding rgb8]``
"""
import argparse

import numpy as np
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, JointState

from robot_r1_ros.ros.conversions import array_to_image_msg

from peer_main import peer_node, spin_until_shutdown

ARM = [f'panda_joint{i}' for i in range(1, 8)]
FINGERS = ['panda_finger_joint1', 'panda_finger_joint2']
READY_Q = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--width', type=int, default=64)
    parser.add_argument('--height', type=int, default=48)
    parser.add_argument('--rate-hz', type=float, default=20.0)
    parser.add_argument('--encoding', default='rgb8', choices=['rgb8', 'bgr8', 'mono8'])
    args = parser.parse_args()

    node = peer_node('reasoning_camera_peer')
    image_pub = node.create_publisher(Image, '/camera/image_raw', qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, '/camera/camera_info', qos_profile_sensor_data)
    joint_pub = node.create_publisher(JointState, '/joint_states', qos_profile_sensor_data)
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (args.height, args.width, 3), dtype=np.uint8)
    if args.encoding == 'bgr8':
        frame = np.ascontiguousarray(frame[..., ::-1])
    elif args.encoding == 'mono8':
        frame = np.ascontiguousarray(frame[..., 0])
    f = 0.8 * args.width
    info = CameraInfo(width=args.width, height=args.height, distortion_model='plumb_bob')
    info.k = [f, 0.0, args.width / 2.0, 0.0, f, args.height / 2.0, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, args.width / 2.0, 0.0, 0.0, f, args.height / 2.0, 0.0, 0.0, 0.0, 1.0, 0.0]

    def tick() -> None:
        stamp = node.get_clock().now().to_msg()
        joints = JointState(name=ARM + FINGERS, position=READY_Q + [0.04, 0.04])
        joints.header.stamp = stamp
        joint_pub.publish(joints)
        msg = array_to_image_msg(frame, args.encoding)
        msg.header.stamp = stamp
        msg.header.frame_id = 'camera_optical_frame'
        image_pub.publish(msg)
        info.header = msg.header
        info_pub.publish(info)

    node.create_timer(1.0 / args.rate_hz, tick)
    spin_until_shutdown(node)


if __name__ == '__main__':
    main()
