"""Peer process for the executor node tests: a kinematic Panda behind a trajectory topic.

Behaves like ros2_control's joint_trajectory_controller + joint_state_broadcaster with perfect
tracking, in numpy (no simulator): a ``trajectory_msgs/JointTrajectory`` on
``/panda_arm_controller/joint_trajectory`` replaces the current one at receipt (a first point at
t = 0 is the start, otherwise the current position is prepended), and ``/joint_states`` (7 arm +
2 finger joints, with velocities) is published at 100 Hz. A ``std_msgs/Float64`` on
``/panda_gripper/command`` moves the fingers towards that opening at 0.1 m/s. Every received
trajectory is counted on ``/fake_robot/trajectory_count`` (std_msgs/Int32, transient local).
Runs until SIGINT.
"""
import numpy as np
from rclpy.qos import DurabilityPolicy, QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Int32
from trajectory_msgs.msg import JointTrajectory

from peer_main import peer_node, spin_until_shutdown

ARM = [f'panda_joint{i}' for i in range(1, 8)]
FINGERS = ['panda_finger_joint1', 'panda_finger_joint2']
READY = np.array([0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785])


def main() -> None:
    node = peer_node('fake_robot')
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    js_pub = node.create_publisher(JointState, '/joint_states', 10)
    count_pub = node.create_publisher(Int32, '/fake_robot/trajectory_count', latched)
    now = lambda: node.get_clock().now().nanoseconds * 1e-9  # noqa: E731
    state = {'q': READY.copy(), 'dq': np.zeros(7), 'traj': None, 'count': 0,
             'finger': 0.04, 'finger_goal': 0.04}
    count_pub.publish(Int32(data=0))

    def on_traj(msg: JointTrajectory) -> None:
        order = [list(msg.joint_names).index(j) for j in ARM]
        times = np.array([p.time_from_start.sec + p.time_from_start.nanosec * 1e-9
                          for p in msg.points])
        pos = np.array([[p.positions[i] for i in order] for p in msg.points])
        if times[0] > 0.0:
            times, pos = np.concatenate([[0.0], times]), np.vstack([state['q'], pos])
        state['traj'] = (now(), times, pos)
        state['count'] += 1
        count_pub.publish(Int32(data=state['count']))

    def on_gripper(msg: Float64) -> None:
        state['finger_goal'] = float(np.clip(msg.data / 2.0, 0.0, 0.04))

    def tick() -> None:
        t = now()
        q_prev = state['q'].copy()
        if state['traj'] is not None:
            t0, times, pos = state['traj']
            tau = t - t0
            state['q'] = np.array([np.interp(tau, times, pos[:, j]) for j in range(7)])
            if tau > times[-1]:
                state['traj'] = None
        state['dq'] = (state['q'] - q_prev) / 0.01
        step = float(np.clip(state['finger_goal'] - state['finger'], -0.001, 0.001))
        state['finger'] += step
        msg = JointState()
        msg.header.stamp = node.get_clock().now().to_msg()
        msg.name = ARM + FINGERS
        msg.position = [*map(float, state['q']), state['finger'], state['finger']]
        msg.velocity = [*map(float, state['dq']), step / 0.01, step / 0.01]
        js_pub.publish(msg)

    node.create_subscription(JointTrajectory, '/panda_arm_controller/joint_trajectory',
                             on_traj, 10)
    node.create_subscription(Float64, '/panda_gripper/command', on_gripper, 10)
    node.create_timer(0.01, tick)
    spin_until_shutdown(node)


if __name__ == '__main__':
    main()
