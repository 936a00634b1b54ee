"""Scripted experts: a plan of Cartesian waypoints per task, executed with IK at every control
step (straight lines with minimum-jerk timing), as a human-written RLBench demo would be.

    scene = PandaScene()
    task = make_task('pick_place')
    episode = task.reset(scene, seed=0)
    result = run_expert(scene, task, episode, on_step=lambda s: ...)   # no ROS, fast
    result.success, result.waypoints

``on_step(scene)`` is called after every control step (``scene.control_dt`` seconds); the
recorder uses it to sample camera frames and joint states.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from robot_r1_ros.sim.ik import IKError, PandaKinematics, get_kinematics, top_down_quat
from robot_r1_ros.sim.scene import GRIPPER_MAX_WIDTH_M, PandaScene
from robot_r1_ros.sim.tasks import Episode, Task

_LOG = logging.getLogger(__name__)

StepCallback = Callable[[PandaScene], None]


@dataclass(frozen=True)
class Waypoint:
    """One expert keypoint: TCP pose + gripper, reached by a straight-line move.

    Attributes:
        xyz_base_m: TCP position, base frame.
        quat_wxyz: TCP orientation.
        gripper_open: gripper state to command *after* arriving.
        speed_mps: peak Cartesian speed of the move to this waypoint.
        label: short description (for pictures and logs).
    """

    xyz_base_m: tuple[float, float, float]
    quat_wxyz: tuple[float, float, float, float]
    gripper_open: bool
    speed_mps: float = 0.3
    label: str = ''


@dataclass
class ExpertResult:
    """Outcome of one expert episode."""

    success: bool
    waypoints: list[Waypoint]
    n_steps: int
    sim_time_s: float
    error: str = ''
    keyframe_steps: list[int] = field(default_factory=list)


def _yaw_of(quat_wxyz: np.ndarray) -> float:
    w, x, y, z = quat_wxyz
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def _fold(yaw: float, period: float) -> float:
    """Fold an angle into [-period/2, period/2) (symmetric grasps)."""
    return float((yaw + period / 2) % period - period / 2)


def _wp(xyz, yaw, gripper_open, speed=0.3, label='') -> Waypoint:
    return Waypoint(tuple(float(v) for v in xyz), tuple(float(v) for v in top_down_quat(yaw)),
                    bool(gripper_open), float(speed), label)


def plan(scene: PandaScene, task: Task, episode: Episode) -> list[Waypoint]:
    """The expert's waypoints for ``episode`` from the current scene state."""
    hs = scene.cfg.cube_half_size_m
    hover = 0.12
    name = task.name
    if name == 'reach_target':
        goal = np.asarray(episode.goal_xyz_base_m)
        return [_wp(goal + [0, 0, 0.05], 0.0, True, label='above ball'),
                _wp(goal, 0.0, True, 0.15, 'at ball')]
    obj = episode.objects['object']
    c, q = scene.cube_pose(obj)
    yaw = _fold(_yaw_of(q), np.pi / 2)
    grasp = np.array([c[0], c[1], hs + 0.002])
    pick = [_wp(grasp + [0, 0, hover], yaw, True, label='above cube'),
            _wp(grasp, yaw, True, 0.15, 'at grasp'),
            _wp(grasp, yaw, False, 0.15, 'grasp'),
            _wp(grasp + [0, 0, hover], yaw, False, 0.15, 'lifted')]
    if name == 'pick_lift':
        pick[-1] = _wp(grasp + [0, 0, 0.18], yaw, False, 0.15, 'lifted')
        return pick
    if name in ('pick_place', 'stack'):
        if name == 'pick_place':
            goal = np.array(episode.goal_xyz_base_m[:2] + (hs + 0.006,))
        else:
            b, _ = scene.cube_pose(episode.objects['base'])
            goal = np.array([b[0], b[1], b[2] + 2 * hs + 0.006])
        return pick + [_wp(goal + [0, 0, hover], yaw, False, label='above goal'),
                       _wp(goal, yaw, False, 0.1, 'at goal'),
                       _wp(goal, yaw, True, 0.1, 'release'),
                       _wp(goal + [0, 0, hover], yaw, True, 0.2, 'retreat')]
    if name == 'push':
        zone = np.asarray(episode.goal_xyz_base_m[:2])
        d = zone - c[:2]
        d = d / np.linalg.norm(d)
        # Push with the closed fingers' wide face: hand x along the push direction.
        pyaw = _fold(float(np.arctan2(d[1], d[0])), np.pi)
        z = hs + 0.005
        start = c[:2] - d * (hs + 0.045)
        end = zone - d * (hs + 0.012)
        return [_wp([*start, z + hover], pyaw, False, label='above start'),
                _wp([*start, z], pyaw, False, 0.15, 'at start'),
                _wp([*end, z], pyaw, False, 0.08, 'pushed'),
                _wp([*end, z + hover], pyaw, False, 0.2, 'retreat')]
    raise ValueError(f'no expert for task {name!r}')


def _slerp(q0: np.ndarray, q1: np.ndarray, s: float) -> np.ndarray:
    q0, q1 = np.asarray(q0, float), np.asarray(q1, float)
    if np.dot(q0, q1) < 0:
        q1 = -q1
    th = np.arccos(np.clip(np.dot(q0, q1), -1.0, 1.0))
    q = q0 + s * (q1 - q0) if th < 1e-3 else (np.sin((1 - s) * th) * q0 + np.sin(s * th) * q1) \
        / np.sin(th)
    return q / np.linalg.norm(q)


class CartesianController:
    """Moves the scene's TCP along straight lines (IK each control step) and runs the gripper.

    Args:
        scene: the scene to drive.
        kinematics: IK model (default: the cached robot-only model).
        on_step: called after every control step.
    """

    def __init__(self, scene: PandaScene, kinematics: PandaKinematics | None = None,
                 on_step: StepCallback | None = None) -> None:
        self.scene = scene
        self.kin = kinematics or get_kinematics(None)
        self.on_step = on_step
        self.n_steps = 0

    def step(self) -> None:
        """One control step + callback."""
        self.scene.step()
        self.n_steps += 1
        if self.on_step is not None:
            self.on_step(self.scene)

    def move_to(self, xyz_base_m, quat_wxyz, speed_mps: float = 0.3,
                settle_steps: int = 50) -> float:
        """Straight line with minimum-jerk timing, then wait until the arm is still.

        Returns:
            remaining TCP position error, metres.

        Raises:
            IKError: a point of the line is out of reach.
        """
        sc = self.scene
        target = np.asarray(xyz_base_m, float)
        p0, q0 = sc.tcp_pose()
        dt = sc.control_dt
        n = int(np.ceil(max(0.3, 1.875 * np.linalg.norm(target - p0) / speed_mps) / dt))
        q_cmd = sc.arm_target
        for k in range(1, n + 1):
            s = k / n
            s = 10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5
            res = self.kin.solve(p0 + s * (target - p0), _slerp(q0, quat_wxyz, s), q_cmd,
                                 max_iters=50)
            if res.pos_err_m > 5e-3 or res.rot_err_rad > 5e-2:
                raise IKError(f'waypoint {target.round(3).tolist()} out of reach',
                              res.q, res.pos_err_m, res.rot_err_rad)
            q_cmd = res.q
            sc.set_arm_target(q_cmd)
            self.step()
        for _ in range(settle_steps):
            if np.abs(sc.arm_dq()).max() < 0.02:
                break
            self.step()
        return float(np.linalg.norm(sc.tcp_pose()[0] - target))

    def grip(self, open_: bool, seconds: float = 0.5) -> None:
        """Command the gripper fully open or closed and wait ``seconds``."""
        self.scene.set_gripper_width(GRIPPER_MAX_WIDTH_M if open_ else 0.0)
        for _ in range(max(1, int(round(seconds / self.scene.control_dt)))):
            self.step()

    def wait(self, seconds: float) -> None:
        """Hold the current commands for ``seconds``."""
        for _ in range(max(1, int(round(seconds / self.scene.control_dt)))):
            self.step()


def run_expert(scene: PandaScene, task: Task, episode: Episode,
               on_step: StepCallback | None = None,
               kinematics: PandaKinematics | None = None) -> ExpertResult:
    """Execute the expert plan for ``episode`` on ``scene`` (already reset) and check success.

    Never raises on an unreachable waypoint: the result then has ``success=False`` and
    ``error`` set.
    """
    waypoints = plan(scene, task, episode)
    ctl = CartesianController(scene, kinematics, on_step)
    gripper_open = True
    keyframe_steps: list[int] = []
    error = ''
    try:
        for wp in waypoints:
            if wp.gripper_open != gripper_open:
                ctl.grip(wp.gripper_open)
                gripper_open = wp.gripper_open
            else:
                ctl.move_to(wp.xyz_base_m, wp.quat_wxyz, wp.speed_mps)
            keyframe_steps.append(ctl.n_steps)
        ctl.wait(0.3)
    except IKError as exc:
        error = str(exc)
        _LOG.warning('expert %s seed %d: %s', task.name, episode.seed, exc)
    ok = not error and task.success(scene, episode)
    return ExpertResult(success=bool(ok), waypoints=waypoints, n_steps=ctl.n_steps,
                        sim_time_s=scene.time_s, error=error, keyframe_steps=keyframe_steps)
