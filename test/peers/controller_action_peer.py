"""Peer process for test/ros/test_controller_actions.py: a client of the sim's controller
action servers (control_msgs/FollowJointTrajectory, franka_msgs Grasp/Move/Homing), run in a
process that has control_msgs/franka_msgs (the test process may not). Usage:
``controller_action_peer.py <joint_prefix> --ros-args ...``; prints one JSON line per goal:
``{"name", "accepted", "status", "error_code", "error_string", "success", "error",
"fingers_m"}``, then ``{"done": true}``.
"""
import json
import sys

import rclpy
from action_msgs.msg import GoalStatus  # noqa: F401  (status values in the output)
from builtin_interfaces.msg import Duration
from control_msgs.action import FollowJointTrajectory
from control_msgs.msg import JointTolerance
from franka_msgs.action import Grasp, Homing, Move
from rclpy.action import ActionClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from peer_main import peer_node

READY = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]


def trajectory(names, q, t_s):
    return JointTrajectory(joint_names=list(names), points=[JointTrajectoryPoint(
        positions=[float(v) for v in q],
        time_from_start=Duration(sec=int(t_s), nanosec=int(round(t_s % 1 * 1e9))))])


def main() -> None:
    prefix = sys.argv[1]
    node = peer_node('controller_action_peer')
    fingers = {}
    node.create_subscription(
        JointState, '/joint_states',
        lambda m: fingers.update({n: p for n, p in zip(m.name, m.position) if 'finger' in n}),
        qos_profile_sensor_data)

    def run(name, client, goal):
        out = {'name': name, 'accepted': False}
        if not client.wait_for_server(timeout_sec=30.0):
            out['error'] = 'no server'
        else:
            future = client.send_goal_async(goal)
            rclpy.spin_until_future_complete(node, future, timeout_sec=30.0)
            handle = future.result()
            if handle is not None and handle.accepted:
                res = handle.get_result_async()
                rclpy.spin_until_future_complete(node, res, timeout_sec=30.0)
                r = res.result()
                out.update(accepted=True, status=r.status)
                for field in ('error_code', 'error_string', 'success', 'error'):
                    if hasattr(r.result, field):
                        out[field] = getattr(r.result, field)
        end = node.get_clock().now().nanoseconds + 300_000_000
        while node.get_clock().now().nanoseconds < end:
            rclpy.spin_once(node, timeout_sec=0.02)
        out['fingers_m'] = sum(fingers.values())
        print(json.dumps(out), flush=True)

    arm = [f'{prefix}_joint{i}' for i in range(1, 8)]
    other = [f'{"panda" if prefix == "fr3" else "fr3"}_joint{i}' for i in range(1, 8)]
    fjt = ActionClient(node, FollowJointTrajectory,
                       f'/{prefix}_arm_controller/follow_joint_trajectory')
    q1 = [a + b for a, b in zip(READY, [0.3, 0.1, 0.0, 0.1, 0.0, 0.0, 0.0])]
    run('reachable', fjt, FollowJointTrajectory.Goal(trajectory=trajectory(arm, q1, 2.0)))
    run('wrong_names', fjt, FollowJointTrajectory.Goal(trajectory=trajectory(other, q1, 2.0)))
    beyond = list(q1)
    beyond[3] = 0.5                                       # joint4 upper limit < 0
    run('beyond_limits', fjt, FollowJointTrajectory.Goal(trajectory=trajectory(arm, beyond, 4.0)))
    tight = FollowJointTrajectory.Goal(trajectory=trajectory(arm, READY, 0.3))
    tight.goal_tolerance = [JointTolerance(name=n, position=1e-6) for n in arm]
    tight.goal_time_tolerance.nanosec = 10_000_000
    run('tight_tolerance', fjt, tight)
    grasp = Grasp.Goal(width=0.04, speed=0.1, force=20.0)
    grasp.epsilon.inner = grasp.epsilon.outer = 0.01
    run('grasp_empty', ActionClient(node, Grasp, '/franka_gripper/grasp'), grasp)
    run('move', ActionClient(node, Move, '/franka_gripper/move'), Move.Goal(width=0.06, speed=0.1))
    run('homing', ActionClient(node, Homing, '/franka_gripper/homing'), Homing.Goal())
    print(json.dumps({'done': True}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
