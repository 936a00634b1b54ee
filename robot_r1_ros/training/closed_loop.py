"""Closed loop in the MuJoCo scene: the nodes' code path without DDS.

:class:`SimRig` is the executor node's logic on the sim, in-process: ``motion.GoalExecutor``
validating each keypoint and ``motion.DirectBackend`` planning IK + a timed joint trajectory,
played by :class:`TrajectoryFollower` (what ``sim_node`` does with the executor's
``JointTrajectory`` and gripper commands). Its :meth:`SimRig.observe` builds the prediction
step's observation from the sim's joint state the way the reasoning node builds it from
``/joint_states`` (core FK, measured gripper width), so :func:`closed_loop` (``robot-r1 eval
--closed-loop-episodes``) and ``bench/bench_closed_loop.py`` run the node's prediction step
(:func:`robot_r1_ros.model.step.predict_step`) on the node's inputs.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from robot_r1_ros.core.grounding import ZONE_NAME
from robot_r1_ros.core.reading import reading_from_joints
from robot_r1_ros.core.status import GripperCommand, PredictionStatus
from robot_r1_ros.core.types import Keypoint
from robot_r1_ros.model.step import Observation, StepSettings, predict_step
from robot_r1_ros.training.eval_scoring import mean_or_none

BASE_FRAME = 'panda_link0'
LIFTED_M = 0.03
"""The task's cube counts as lifted (grasped) once it is this far above its start."""


@dataclass
class ClosedLoopSettings:
    """Closed-loop evaluation in the MuJoCo scene.

    Attributes:
        task: Sim task name.
        episodes: Number of seeds.
        seed_offset: First seed (far from the recorder's 0..N so no demo shares a layout).
        max_keypoints: Predictions per episode before giving up.
        max_new_tokens: Token cap per prediction.
        constrained: Let the reasoner enforce the answer grammar (as the node does by default).
        expert: Also run the scripted expert on the same seeds.
        gif_path: Write episode ``gif_episode`` as an annotated GIF there (None: no GIF).
        gif_episode: Index (0-based, in seed order) of the episode drawn into the GIF.
        gif_frame_every_s: Sim seconds between GIF frames while the arm moves.
        follow_episodes: Also run the cube-follow probe (``training.cube_follow``) on this many
            of the seeds (0: skip).
    """

    task: str = 'pick_place'
    episodes: int = 10
    seed_offset: int = 100_000
    max_keypoints: int = 10
    max_new_tokens: int = 160
    constrained: bool = False
    expert: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    gif_path: str | None = None
    gif_episode: int = 0
    gif_frame_every_s: float = 0.4
    follow_episodes: int = 0


class TrajectoryFollower:
    """The sim's joint-trajectory controller, in-process: what ``sim_node`` does with the
    executor's ``JointTrajectory`` and gripper commands, without DDS in between."""

    def __init__(self, scene: Any) -> None:
        from robot_r1_ros.sim.trajectory import validate_trajectory
        self.scene, self.plan, self._validate = scene, None, validate_trajectory

    def on_trajectory(self, traj: Any) -> None:
        """Play a ``motion.types`` joint trajectory from now on."""
        self.plan = self._validate(traj.joint_names, traj.positions_rad, traj.time_from_start_s,
                                   traj.velocities_rad_s, current_q_rad=self.scene.arm_target,
                                   start_s=self.scene.time_s)

    def on_gripper(self, cmd: Any) -> None:
        """Command the finger opening."""
        self.scene.set_gripper_width(cmd.width_m)

    def step(self) -> None:
        """One control step: the trajectory's setpoint, then physics."""
        if self.plan is not None:
            self.scene.set_arm_target(self.plan.sample(self.scene.time_s))
        self.scene.step()

    def joint_state(self) -> Any:
        """The sim's joint state as the executor's backend reads it."""
        from robot_r1_ros.motion.types import JointStateSample
        js = self.scene.joint_state()
        return JointStateSample(dict(zip(js.name, map(float, js.position))),
                                dict(zip(js.name, map(float, js.velocity))), self.scene.time_s)


@dataclass
class Execution:
    """What became of one keypoint handed to the executor logic.

    Attributes:
        outcome: ``REACHED``, ``FAILED`` or ``REJECTED`` (``ExecState`` names).
        reason: The rejection or failure reason ('' when reached).
        validation_s: Wall time of the executor's validation.
        planning_s: Wall time of IK + time parameterisation.
        motion_s: Simulated time until the outcome (what the arm takes on a robot).
        sim_wall_s: Wall time of the MuJoCo stepping.
    """

    outcome: str
    reason: str = ''
    validation_s: float = 0.0
    planning_s: float = 0.0
    motion_s: float = 0.0
    sim_wall_s: float = 0.0

    @property
    def rejected(self) -> bool:
        """True when the executor refused the keypoint."""
        return self.outcome == 'REJECTED'


class SimRig:
    """The executor node's logic on one sim scene, in-process (see the module docstring)."""

    def __init__(self, scene: Any, workspace: Any, execution: Any = None,
                 backend_config: Any = None) -> None:
        from robot_r1_ros.motion.direct import DirectBackend, DirectBackendConfig
        from robot_r1_ros.motion.executor import ExecutionConfig, GoalExecutor
        self.scene = scene
        self.follower = TrajectoryFollower(scene)
        self.backend = DirectBackend(backend_config or DirectBackendConfig(),
                                     self.follower.on_trajectory, self.follower.on_gripper)
        self.executor = GoalExecutor(self.backend, workspace, execution or ExecutionConfig())
        self.backend.update_joint_state(self.follower.joint_state())

    def observe(self, task: str, image_rgb: np.ndarray | None = None) -> Observation:
        """The prediction step's observation now: camera frame + the joint state as the
        reasoning node reads ``/joint_states`` (core FK, measured finger width)."""
        js = self.scene.joint_state()
        reading = reading_from_joints(js.name, js.position, js.stamp_s)
        image = self.scene.render() if image_rgb is None else image_rgb
        return Observation(image_rgb=image, reading=reading, task=task,
                           request_id=f'{js.stamp_s:.3f}')

    def execute(self, xyz_base_m: Sequence[float], quat_xyzw: Sequence[float], gripper_open: bool,
                status: int = PredictionStatus.OK, status_reason: str = '',
                timeout_s: float = 30.0, on_step: Callable[[], None] | None = None
                ) -> Execution:
        """Hand one keypoint to the executor and step the sim until it reports the outcome.

        Args:
            xyz_base_m: Target TCP position, base frame.
            quat_xyzw: Target TCP orientation (the node sends the current one).
            gripper_open: The gripper state at the target.
            status: The prediction's status (the executor rejects anything but OK).
            status_reason: The prediction's status reason.
            timeout_s: Simulated seconds to wait for the outcome.
            on_step: Called after every control step while the arm moves.
        """
        from robot_r1_ros.motion.executor import ExecState
        from robot_r1_ros.motion.validation import PredictionInput
        scene, executor = self.scene, self.executor
        pred = PredictionInput(
            status=int(status), frame_id=BASE_FRAME, stamp_s=scene.time_s,
            xyz_base_m=tuple(float(v) for v in xyz_base_m),
            quat_xyzw=tuple(float(v) for v in quat_xyzw),  # type: ignore[arg-type]
            gripper_command=int(GripperCommand.OPEN if gripper_open else GripperCommand.CLOSED),
            status_reason=status_reason)
        t0 = time.perf_counter()
        rejection = executor.check(pred, scene.time_s)
        validation_s = time.perf_counter() - t0
        self.backend.last_plan_time_s = 0.0
        executor.submit(pred, scene.time_s)
        planning_s = self.backend.last_plan_time_s
        sim0, wall0 = scene.time_s, time.perf_counter()
        while executor.busy and scene.time_s - sim0 < timeout_s:
            self.follower.step()
            self.backend.update_joint_state(self.follower.joint_state())
            executor.tick(scene.time_s)
            if on_step is not None:
                on_step()
        return Execution(outcome=ExecState(executor.state).name,
                         reason=str(rejection) if rejection else executor.reason,
                         validation_s=validation_s, planning_s=planning_s,
                         motion_s=scene.time_s - sim0, sim_wall_s=time.perf_counter() - wall0)


class _GifRecorder:
    """Annotated frames of one closed-loop episode (``sim.media``, as the demo's GIF)."""

    def __init__(self, scene: Any, seed: int, instruction: str) -> None:
        from robot_r1_ros.sim.media import CameraGeometry
        cam = scene.camera
        self.scene, self.seed, self.instruction = scene, seed, instruction
        self.camera = CameraGeometry(K=np.asarray(cam.K, float),
                                     T_base_cam=np.asarray(cam.T_base_cam, float))
        self.frames: list[np.ndarray] = []

    def add(self, rgb: np.ndarray, caption: str, keypoint_xyz_base_m: Sequence[float] | None,
            ok: bool, hold: int = 1) -> None:
        """Append ``rgb`` with the keypoint marker, the TCP and a caption (``hold`` times)."""
        from robot_r1_ros.sim.media import Overlay, annotate
        tcp_xyz, _ = self.scene.tcp_pose()
        frame = annotate(rgb, Overlay(lines=[f'seed {self.seed}  {caption}',
                                             self.instruction[:60]],
                                      keypoint_xyz=keypoint_xyz_base_m, keypoint_ok=ok,
                                      tcp_xyz=tcp_xyz), self.camera)
        self.frames.extend([frame] * hold)

    def write(self, path: str | os.PathLike) -> str | None:
        """Write the GIF (None when no frame was recorded)."""
        from robot_r1_ros.sim.media import write_gif
        if not self.frames:
            return None
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return str(write_gif(self.frames, path, fps=4.0))


def first_keypoint_aim(keypoint_xyz_base_m: Sequence[float],
                       objects_xyz_base_m: dict[str, Sequence[float]],
                       task_object: str | None) -> dict[str, Any]:
    """Which object an episode's first keypoint went for (x-y distance, base frame).

    Why: in pick_place the first keypoint is the pre-grasp pose over the task's cube, so it says
    apart the two ways a closed loop fails: aiming at the wrong object (the instruction's colour
    not bound to the image) or at the right one too coarsely (the grasp needs ~2 cm).

    Returns:
        ``nearest`` (object name), ``aimed_at`` (``task_object``, ``zone``, ``other_object``),
        ``to_task_object_cm`` (None without a task object) and ``xy_cm`` (the keypoint's x-y,
        whole centimetres: equal values over different scenes are a memorised answer).
    """
    xy = np.asarray(keypoint_xyz_base_m, dtype=float)[:2]
    dist_cm = {name: float(np.linalg.norm(xy - np.asarray(p, dtype=float)[:2]) * 100)
               for name, p in objects_xyz_base_m.items()}
    nearest = min(dist_cm, key=dist_cm.__getitem__)
    aimed = ('task_object' if nearest == task_object else
             'zone' if nearest == ZONE_NAME else 'other_object')
    return {'nearest': nearest, 'aimed_at': aimed,
            'to_task_object_cm': (round(dist_cm[task_object], 2)
                                  if task_object in dist_cm else None),
            'xy_cm': [int(round(v * 100)) for v in xy]}


def ended_by(episodes: list[dict[str, Any]], max_keypoints: int) -> dict[str, int]:
    """How many episodes ended by each cause: task success, a rejected keypoint, an answer
    without a keypoint (format failure or model error), or the ``max_keypoints`` budget."""
    def cause(e: dict[str, Any]) -> str:
        if e['success']:
            return 'success'
        if e['rejected']:
            return 'rejected'
        if e['format_failures'] or e['model_errors']:
            return 'no_keypoint'
        return 'budget' if e['keypoints'] >= max_keypoints else 'other'
    causes = [cause(e) for e in episodes]
    return {k: causes.count(k) for k in ('success', 'rejected', 'no_keypoint', 'budget',
                                          'other')}


def aim_summary(episodes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Counts of :func:`first_keypoint_aim` over episodes, the median distance to the task
    object of those aimed at it, and how many different x-y positions (whole cm) the first
    keypoints took: a model that does not read the scene answers a few positions whatever the
    layout (None when no episode has a first keypoint)."""
    aims = [e['first_keypoint_aim'] for e in episodes if e.get('first_keypoint_aim')]
    if not aims:
        return None
    counts = {k: sum(a['aimed_at'] == k for a in aims)
              for k in ('task_object', 'other_object', 'zone')}
    hits = [a['to_task_object_cm'] for a in aims
            if a['aimed_at'] == 'task_object' and a['to_task_object_cm'] is not None]
    return {'episodes': len(aims), 'aimed_at': counts,
            'task_object_median_cm': round(float(np.median(hits)), 2) if hits else None,
            'within_2cm': sum(d < 2.0 for d in hits),
            'distinct_xy': len({tuple(a['xy_cm']) for a in aims if 'xy_cm' in a})}


def _run_episode(rig: SimRig, reasoner: Any, step_settings: StepSettings, task: Any,
                 episode: Any, seed: int, settings: ClosedLoopSettings,
                 gif: _GifRecorder | None) -> dict[str, Any]:
    """One episode: predict (the node's step) -> execute, until success or a stop."""
    from robot_r1_ros.sim.objects import object_positions

    scene = rig.scene
    objects_at_start = object_positions(scene)
    rec: dict[str, Any] = {'seed': seed, 'success': False, 'keypoints': 0,
                           'format_failures': 0, 'model_errors': 0, 'rejected': 0,
                           'lifted': False, 'dragged': False, 'predictions': []}
    task_object = episode.objects.get('object')
    for _ in range(settings.max_keypoints):
        observation = rig.observe(episode.instruction)
        image = observation.image_rgb
        result = predict_step(reasoner, observation, step_settings)
        out = result.output
        if result.keypoint is None:  # FORMAT_ERROR, or the model / its input failed
            key = ('format_failures' if result.status is PredictionStatus.FORMAT_ERROR
                   else 'model_errors')
            rec[key] += 1
            rec['predictions'].append({'completion': out.completion[:200] if out else '',
                                       'status': result.status.name, 'error': result.reason})
            if gif is not None:
                gif.add(image, f'{result.status.name.lower()}: no keypoint', None, False)
            break
        keypoint: Keypoint = result.keypoint
        entry: dict[str, Any] = {'xyz_base_m': [round(v, 4) for v in keypoint.xyz_base_m],
                                 'gripper': keypoint.gripper.value,
                                 'completion': out.completion if out else ''}
        if not rec['predictions']:
            rec['first_keypoint_aim'] = first_keypoint_aim(
                keypoint.xyz_base_m, objects_at_start, episode.objects.get('object'))
        caption = (f'cycle {rec["keypoints"] + 1}: {keypoint.gripper.value} at '
                   + '[' + ', '.join(f'{v:.3f}' for v in (out.xyz_env_m or ())) + ']')
        last_frame = [scene.time_s]

        def on_step() -> None:
            if gif is not None and scene.time_s - last_frame[0] >= settings.gif_frame_every_s:
                gif.add(scene.render(), f'{caption} moving', keypoint.xyz_base_m, True)
                last_frame[0] = scene.time_s

        if gif is not None and result.ok:
            gif.add(image, f'{caption} (predicted)', keypoint.xyz_base_m, True)
        done = rig.execute(keypoint.xyz_base_m, observation.reading.tcp_quat_xyzw,
                           keypoint.gripper.is_open, status=result.status,
                           status_reason=result.reason, on_step=on_step)
        if done.rejected:
            rec['rejected'] += 1
            entry['rejected'] = done.reason
            rec['predictions'].append(entry)
            if gif is not None:
                gif.add(image, f'{caption} rejected', keypoint.xyz_base_m, False)
            break  # greedy decoding would ask the same again from the same state
        entry['outcome'] = done.outcome
        if gif is not None:
            gif.add(scene.render(), f'{caption} {done.outcome.lower()}', keypoint.xyz_base_m,
                    done.outcome == 'REACHED')
        rec['predictions'].append(entry)
        rec['keypoints'] += 1
        if task_object in objects_at_start:  # the grasp worked: the cube left the table
            rec['lifted'] |= bool(object_positions(scene)[task_object][2]
                                  > objects_at_start[task_object][2] + LIFTED_M)
        if task.success(scene, episode):
            if getattr(task, 'carries', False) and not rec['lifted']:
                # E100 slid the gripped cube along the table into the zone: not a pick-and-place
                rec['dragged'] = True
                continue
            rec['success'] = True
            break
    if gif is not None:
        gif.add(scene.render(), 'task success' if rec['success'] else
                f'episode over: no task success ({rec["keypoints"]} keypoints)', None,
                rec['success'], hold=5)
    return rec


def closed_loop(model_dir: str | os.PathLike, settings: ClosedLoopSettings,
                progress: bool = True) -> dict[str, Any]:
    """Closed-loop success rate of a checkpoint in the sim (and of the scripted expert).

    Each cycle runs the reasoning node's prediction step (``model.step.predict_step``: prompt
    from the current TCP by the core FK and the gripper by the one rule, the reasoner
    ``model.reasoner.load_reasoner`` loads, judging in the base frame) on the sim's camera
    frame and joint state, and hands an executable keypoint (with the current TCP orientation,
    as the node publishes it) to the executor node's logic (:class:`SimRig`). An episode ends
    at task success, after ``max_keypoints`` cycles, at a rejected keypoint, or at an answer
    without a keypoint (a format failure).
    """
    import robot_r1_ros.sim  # noqa: F401  (MUJOCO_GL before mujoco)
    from tqdm import tqdm

    from robot_r1_ros.core.config import WorkspaceConfig
    from robot_r1_ros.model.reasoner import GenerationOptions, ReasonerConfig, load_reasoner
    from robot_r1_ros.sim.experts import run_expert
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task

    ws_cfg = WorkspaceConfig()
    step_settings = StepSettings.from_workspace_config(ws_cfg)
    reasoner = load_reasoner(ReasonerConfig(
        model_id=str(model_dir), device='cpu', dtype='float32',
        generation=GenerationOptions(max_new_tokens=settings.max_new_tokens, do_sample=False,
                                     constrained=settings.constrained)))
    task = make_task(settings.task)
    seeds = [settings.seed_offset + i for i in range(settings.episodes)]
    episodes_out = []
    scene = PandaScene()
    gif: _GifRecorder | None = None
    try:
        for ep_index, seed in enumerate(tqdm(seeds, desc='closed loop', unit='ep',
                                             disable=not progress)):
            episode = task.reset(scene, seed)
            ep_gif = None
            if settings.gif_path and ep_index == settings.gif_episode:
                gif = ep_gif = _GifRecorder(scene, seed, episode.instruction)
            rig = SimRig(scene, ws_cfg.workspace())
            rec = _run_episode(rig, reasoner, step_settings, task, episode, seed, settings,
                               ep_gif)
            episodes_out.append(rec)
        follow = None
        if settings.follow_episodes > 0 and 'object' in task.reset(scene, seeds[0]).objects:
            from robot_r1_ros.training.cube_follow import FollowSettings, cube_follow
            follow = cube_follow(SimRig(scene, ws_cfg.workspace()), reasoner, step_settings,
                                 task, seeds[:settings.follow_episodes],
                                 FollowSettings(episodes=settings.follow_episodes))
        expert = None
        if settings.expert:
            wins = []
            for seed in seeds:
                episode = task.reset(scene, seed)
                wins.append(bool(run_expert(scene, task, episode).success))
            expert = {'success_rate': float(np.mean(wins)), 'successes': int(sum(wins))}
    finally:
        scene.close()
        reasoner.close()
    n = len(episodes_out)
    gif_file = gif.write(settings.gif_path) if gif is not None and settings.gif_path else None
    return {
        'task': settings.task, 'seeds': seeds, 'episodes': n, 'gif': gif_file,
        'gif_seed': gif.seed if gif is not None else None,
        'success_rate': float(np.mean([e['success'] for e in episodes_out])) if n else None,
        'successes': int(sum(e['success'] for e in episodes_out)),
        'format_failure_episodes': int(sum(e['format_failures'] > 0 for e in episodes_out)),
        'model_error_episodes': int(sum(e['model_errors'] > 0 for e in episodes_out)),
        'rejected_keypoints': int(sum(e['rejected'] for e in episodes_out)),
        'mean_keypoints': mean_or_none(e['keypoints'] for e in episodes_out),
        'lifted_episodes': int(sum(e.get('lifted', False) for e in episodes_out)),
        # the sim's end-state check held while the cube had never left the table
        'dragged_episodes': int(sum(e.get('dragged', False) for e in episodes_out)),
        'ended_by': ended_by(episodes_out, settings.max_keypoints),
        'expert': expert, 'first_keypoint_aim': aim_summary(episodes_out),
        'cube_follow': follow,
        'controller': 'model.step.predict_step (the reasoning node\'s prediction step) + '
                      'motion.GoalExecutor + motion.DirectBackend (the executor node\'s code), '
                      'trajectories played by the sim\'s follower in-process',
        'constrained_decoding': settings.constrained, 'per_episode': episodes_out,
    }
