"""sim_node across processes: images + joint states arrive, a JointTrajectory moves the TCP to
the commanded pose (within 5 mm), malformed trajectories are rejected while the node keeps
running, and the reset service switches tasks."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from r1_testing import require, require_ros_interfaces, wait_for

pytestmark = pytest.mark.ros


def _duration(t_s: float):
    from builtin_interfaces.msg import Duration

    return Duration(sec=int(t_s), nanosec=int(round((t_s % 1.0) * 1e9)))


def _trajectory(names, points):
    from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

    msg = JointTrajectory(joint_names=list(names))
    for q, t in points:
        msg.points.append(JointTrajectoryPoint(positions=[float(v) for v in q],
                                               time_from_start=_duration(t)))
    return msg


def test_sim_node_end_to_end(spawn, rclpy_node):
    rclpy = require('rclpy')
    require_ros_interfaces()
    from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image, JointState
    from std_msgs.msg import Bool, Float64, String
    from trajectory_msgs.msg import JointTrajectory

    from robot_r1_ros.core.geometry import panda_fk
    from robot_r1_ros.sim.ik import solve_ik, top_down_quat
    from robot_r1_ros.sim.scene import ARM_JOINTS, JOINT_NAMES
    from robot_r1_ros.srv import ResetSim

    child = spawn('robot_r1_ros.ros.sim_node')
    node = rclpy_node('sim_probe')
    executor = rclpy.executors.SingleThreadedExecutor(context=rclpy_node.context)
    executor.add_node(node)
    spin = lambda: executor.spin_once(timeout_sec=0.05)  # noqa: E731

    got = {'images': [], 'infos': [], 'joints': [], 'task': [], 'success': []}
    node.create_subscription(Image, '/camera/image_raw', got['images'].append,
                             qos_profile_sensor_data)
    node.create_subscription(CameraInfo, '/camera/camera_info', got['infos'].append,
                             qos_profile_sensor_data)
    node.create_subscription(JointState, '/joint_states', got['joints'].append, 10)
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    node.create_subscription(String, '/task', got['task'].append, latched)  # relative, root ns
    node.create_subscription(Bool, '/sim/task_success', got['success'].append, latched)
    pub_traj = node.create_publisher(JointTrajectory, '/panda_arm_controller/joint_trajectory',
                                     10)
    pub_grip = node.create_publisher(Float64, '/panda_gripper/command', 10)

    assert wait_for(lambda: len(got['images']) >= 3 and len(got['joints']) >= 20, 60, spin), \
        child.output()[-3000:]
    img = got['images'][-1]
    assert (img.height, img.width, img.encoding) == (224, 224, 'rgb8')
    assert len(img.data) == 224 * 224 * 3
    assert got['infos'][-1].k[2] == 112.0
    js = got['joints'][-1]
    assert list(js.name) == list(JOINT_NAMES)
    assert wait_for(lambda: got['task'] and got['success'], 10, spin)
    assert 'yellow zone' in got['task'][-1].data
    # Sim-time stamps increase.
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in got['joints']]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert abs(stamps[-1] - time.time()) < 10.0     # clock_epoch 'wall' (the default)

    def current_q():
        m = got['joints'][-1]
        idx = {n: i for i, n in enumerate(m.name)}
        return np.array([m.position[idx[n]] for n in ARM_JOINTS])

    # 1. A valid trajectory to an IK solution: the TCP (core FK of the measured joints)
    #    ends within 5 mm of the commanded point.
    q0 = current_q()
    target = np.array([0.45, 0.12, 0.22])
    q_goal = solve_ik(None, target, top_down_quat(0.2), q0)
    names = list(reversed(ARM_JOINTS))            # any order is accepted
    pub_traj.publish(_trajectory(names, [(q_goal[::-1], 2.0)]))
    pub_grip.publish(Float64(data=0.02))

    def tcp_error():
        return float(np.linalg.norm(panda_fk(current_q())[0] - target))

    assert wait_for(lambda: tcp_error() < 0.005 and np.abs(
        np.array(got['joints'][-1].velocity[:7])).max() < 0.01, 15, spin), tcp_error()
    width = lambda: sum(got['joints'][-1].position[7:9])  # noqa: E731
    assert wait_for(lambda: abs(width() - 0.02) < 0.003, 5, spin), width()

    # 2. Malformed trajectories are rejected, the node stays alive and the arm stays put.
    q_hold = current_q()
    bad = [
        _trajectory([f'joint{i}' for i in range(1, 8)], [(q_hold, 1.0)]),
        _trajectory(ARM_JOINTS, [(np.full(7, math.nan), 1.0)]),
        _trajectory(ARM_JOINTS, [(q_hold + np.array([0, 0, 0, 5.0, 0, 0, 0]), 1.0)]),
        _trajectory(ARM_JOINTS, [(q_hold + 0.1, 1.0), (q_hold + 0.2, 0.5)]),
    ]
    for msg in bad:
        pub_traj.publish(msg)
    pub_grip.publish(Float64(data=float('nan')))
    assert wait_for(lambda: child.output().count('rejected joint trajectory') >= 4, 10, spin), \
        child.output()[-3000:]
    n_before = len(got['joints'])
    assert wait_for(lambda: len(got['joints']) > n_before + 50, 10, spin)
    assert child.alive()
    assert np.abs(current_q() - q_hold).max() < 2e-3
    out = child.output()
    for reason in ('unknown joint names', 'NaN', 'beyond its limits', 'strictly increasing',
                   'rejected gripper command'):
        assert reason in out, reason

    # 3. Reset to another task through the service; the instruction is republished.
    client = node.create_client(ResetSim, '/sim/reset')
    assert client.wait_for_service(timeout_sec=10)
    future = client.call_async(ResetSim.Request(task='stack', seed=3))
    assert wait_for(future.done, 20, spin)
    assert future.result().success and 'stack the' in future.result().instruction
    assert wait_for(lambda: got['task'][-1].data == future.result().instruction, 10, spin)
    future = client.call_async(ResetSim.Request(task='juggle', seed=0))
    assert wait_for(future.done, 20, spin)
    assert not future.result().success and 'unknown task' in future.result().message
    stamp_after = got['joints'][-1].header.stamp
    assert stamp_after.sec + stamp_after.nanosec * 1e-9 >= stamps[-1]   # no time jump back
    assert child.alive()
    executor.remove_node(node)


def test_a_tick_that_does_not_advance_the_sim_repeats_no_stamp(rclpy_node, monkeypatch):
    """Behind real time (or right after a reset) a timer tick may step no physics: it must not
    send the joint state or request the frame of a stamp already sent (one CI run, loaded, got
    two joint states with one stamp)."""
    require_ros_interfaces()
    from robot_r1_ros.ros import sim_node as sim_node_module
    node = sim_node_module.SimNode(context=rclpy_node.context)
    joints, frames = [], []
    node._publish_joints = joints.append
    node._renderer.request = lambda t, *state: frames.append(t)
    wall = [time.monotonic()]
    monkeypatch.setattr(sim_node_module.time, 'monotonic', lambda: wall[0])
    try:
        node._tick()
        node._tick()                  # the wall clock did not move: no physics step
        node._reset(node.task.name, 1)   # sim time unchanged by the reset
        node._tick()
        wall[0] += 0.2
        node._tick()
        assert len(joints) == 2 and len(frames) == 2, (joints, frames)
        assert joints[1] > joints[0] and frames[1] > frames[0]
    finally:
        node.destroy_node()
