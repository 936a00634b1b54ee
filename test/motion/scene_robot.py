"""A MuJoCo Panda behind the motion layer's plain-data outputs (test helper, no ROS).

Plays each :class:`JointTrajectoryData` the way the sim node does (through
``robot_r1_ros.sim.trajectory.validate_trajectory``, the sim's joint_trajectory_controller
emulation, which also rejects anything a real controller would refuse), applies gripper
commands, and reports ``/joint_states``-like samples on sim time.
"""
from __future__ import annotations

import numpy as np

from robot_r1_ros.motion.types import GripperCommandData, JointStateSample, JointTrajectoryData
from robot_r1_ros.sim.scene import PandaScene
from robot_r1_ros.sim.trajectory import validate_trajectory


class SceneRobot:
    """The scene, a trajectory follower and a log of what was commanded."""

    def __init__(self, scene: PandaScene | None = None) -> None:
        self.scene = scene or PandaScene()
        self.scene.reset_home()
        self.plan = None
        self.trajectories: list[JointTrajectoryData] = []
        self.gripper_cmds: list[GripperCommandData] = []
        self.frozen = False     # True: the arm ignores commands (a jammed robot)

    @property
    def now_s(self) -> float:
        return self.scene.time_s

    def on_trajectory(self, traj: JointTrajectoryData) -> None:
        self.trajectories.append(traj)
        self.plan = validate_trajectory(
            traj.joint_names, traj.positions_rad, traj.time_from_start_s,
            traj.velocities_rad_s, current_q_rad=self.scene.arm_target, start_s=self.now_s)

    def on_gripper(self, cmd: GripperCommandData) -> None:
        self.gripper_cmds.append(cmd)
        self.scene.set_gripper_width(cmd.width_m)

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            if self.plan is not None and not self.frozen:
                self.scene.set_arm_target(self.plan.sample(self.now_s))
            self.scene.step()

    def joint_state(self) -> JointStateSample:
        js = self.scene.joint_state()
        return JointStateSample(dict(zip(js.name, map(float, js.position))),
                                dict(zip(js.name, map(float, js.velocity))), self.now_s)

    def tcp(self) -> np.ndarray:
        return self.scene.tcp_pose()[0]
