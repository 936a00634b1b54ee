"""``ros2 launch robot_r1_ros franka.launch.py robot:=fr3 use_sim:=true`` with the real ros2
launch (tools overlay from ../shared/vendor/ros2, with control_msgs and franka_msgs): the sim
poses as an FR3 (fr3 joint names, /fr3_arm_controller, franka_gripper) and the executor drives
it through FollowJointTrajectory with the FR3's limits, from config/fr3.yaml."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from r1_testing import REPO, require_ros_interfaces
from ros2_tools import tools_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'peers'))
from executor_probe import ExecutorProbe  # noqa: E402

pytestmark = pytest.mark.ros
TARGET = np.array([0.50, 0.10, 0.25])        # base frame; the env frame origin is (0.35, 0, 0)


def test_launch_robot_fr3_use_sim(ros_env, rclpy_node, tmp_path):
    require_ros_interfaces()
    env = tools_env(ros_env, extra=('control_msgs', 'franka_msgs'))
    log_path = tmp_path / 'launch.log'
    xyz_env = ','.join(f'{v:.3f}' for v in TARGET - [0.35, 0.0, 0.0])
    with open(log_path, 'w') as log:
        launch = subprocess.Popen(
            ['ros2', 'launch', 'robot_r1_ros', 'franka.launch.py', 'robot:=fr3', 'use_sim:=true',
             f'model:=scripted:valid?xyz={xyz_env}&gripper=open'],
            env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        from rclpy.parameter import Parameter
        node = rclpy_node('fr3_launch_probe')
        node.set_parameters([Parameter('use_sim_time', value=True)])
        probe = ExecutorProbe(node)
        out = log_path.read_text
        assert probe.wait(lambda: probe.joint_state is not None, 90.0), out()[-4000:]
        names = list(probe.joint_state.name)
        assert names[:7] == [f'fr3_joint{i}' for i in range(1, 8)], names
        assert names[7:] == ['fr3_finger_joint1', 'fr3_finger_joint2']
        assert probe.wait_state(lambda s: s.state == s.STATE_REACHED
                                and abs(s.target_position.x - TARGET[0]) < 1e-6, 120.0), \
            out()[-4000:]
        state = probe.last_state()
        assert state.header.frame_id == 'fr3_link0' and state.backend == 'direct'
        text = out()
        assert 'arm: action /fr3_arm_controller/follow_joint_trajectory' in text
        assert 'gripper: franka /franka_gripper/grasp, /franka_gripper/move' in text
        assert 'accepted joint trajectory' in text            # the sim's FJT server
        q = dict(zip(probe.joint_state.name, probe.joint_state.position))
        xyz, _ = __import__('robot_r1_ros.core.geometry', fromlist=['panda_fk']).panda_fk(
            np.array([q[f'fr3_joint{i}'] for i in range(1, 8)]))
        assert np.linalg.norm(xyz - TARGET) < 0.01
    finally:
        launch.send_signal(signal.SIGINT)
        try:
            launch.wait(30)
        except subprocess.TimeoutExpired:
            launch.kill()
            launch.wait(5)
