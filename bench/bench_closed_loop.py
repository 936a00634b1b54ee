"""Closed-loop cycle time, split into model, validation, planning/IK and motion. Prints a table
and writes bench/results/closed_loop.json.

    source scripts/env.sh
    python bench/bench_closed_loop.py                  # 3 seeds, tiny model, + the ROS run
    python bench/bench_closed_loop.py --seeds 1 --no-ros

One cycle = render the camera frame, ask the model for the next keypoint, validate it, plan
(IK + time parameterisation), move until the executor reports the outcome. Rows:

- ``oracle``: the scripted expert's keypoints for pick_place (no model): the executor's own
  cost and the motion time of a real keypoint sequence (and whether it solves the task);
- ``tiny model``: the project's checkpoint (``models/tiny-qwen2.5-vl``, random weights on the
  CPU): model time per prediction; its keypoints are mostly rejected, which costs no motion;
- ``ros (demo)``: ``robot-r1 demo`` over DDS (sim, reasoning, executor nodes, scripted
  reasoner): the same cycle through the nodes, whose extra time is the ROS overhead
  (DDS, timers, the executor's 50 Hz arrival check, the sim running in real time).

Motion time is simulated time (what the arm takes on a robot: it runs in real time there);
``sim wall`` is how long the MuJoCo stepping took here. The model runs in-process with one torch
thread, through the same ``Reasoner`` / ``GoalExecutor`` / ``DirectBackend`` code the nodes use.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('MUJOCO_GL', 'egl')
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')


class Follower:
    """The sim's joint_trajectory_controller emulation in-process (no ROS)."""

    def __init__(self, scene) -> None:
        from robot_r1_ros.sim.trajectory import validate_trajectory
        self.scene, self.plan, self._validate = scene, None, validate_trajectory

    def on_trajectory(self, traj) -> None:
        self.plan = self._validate(traj.joint_names, traj.positions_rad,
                                   traj.time_from_start_s, traj.velocities_rad_s,
                                   current_q_rad=self.scene.arm_target,
                                   start_s=self.scene.time_s)

    def on_gripper(self, cmd) -> None:
        self.scene.set_gripper_width(cmd.width_m)

    def step(self) -> None:
        if self.plan is not None:
            self.scene.set_arm_target(self.plan.sample(self.scene.time_s))
        self.scene.step()

    def joint_state(self):
        from robot_r1_ros.motion.types import JointStateSample
        js = self.scene.joint_state()
        return JointStateSample(dict(zip(js.name, map(float, js.position))),
                                dict(zip(js.name, map(float, js.velocity))), self.scene.time_s)


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {'n': 0, 'mean': float('nan'), 'median': float('nan'), 'max': float('nan')}
    arr = np.asarray(values, float)
    return {'n': int(arr.size), 'mean': float(arr.mean()), 'median': float(np.median(arr)),
            'max': float(arr.max())}


def run_episode(seed: int, source: str, reasoner=None, max_cycles: int = 8) -> dict:
    """One pick_place episode; ``source`` is 'oracle' (expert keypoints) or 'model'."""
    from robot_r1_ros.core.config import WorkspaceConfig
    from robot_r1_ros.core.prompts import PromptMetadata
    from robot_r1_ros.core.types import GripperState
    from robot_r1_ros.model.reasoner import ReasonerRequest
    from robot_r1_ros.motion.direct import DirectBackend, DirectBackendConfig
    from robot_r1_ros.motion.executor import ExecState, GoalExecutor
    from robot_r1_ros.motion.validation import PredictionInput
    from robot_r1_ros.ros.executor_params import config_from_values
    from robot_r1_ros.sim import experts
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task

    node_cfg = config_from_values({})
    env = WorkspaceConfig().env_frame()
    task = make_task('pick_place')
    cycles = []
    with PandaScene() as scene:
        episode = task.reset(scene, seed)
        robot = Follower(scene)
        backend = DirectBackend(DirectBackendConfig(), robot.on_trajectory, robot.on_gripper)
        executor = GoalExecutor(backend, node_cfg.workspace, node_cfg.execution)
        backend.update_joint_state(robot.joint_state())
        backend.kinematics          # noqa: B018  (build the IK model outside the timings)
        scene.render()              # (and the renderer's GL context)
        waypoints = experts.plan(scene, task, episode) if source == 'oracle' else []
        n = len(waypoints) if source == 'oracle' else max_cycles
        for i in range(n):
            rec: dict = {'cycle': i + 1}
            t0 = time.perf_counter()
            rgb = scene.render()
            rec['render_s'] = time.perf_counter() - t0
            tcp, quat_wxyz = scene.tcp_pose()
            if source == 'oracle':
                wp = waypoints[i]
                xyz, quat, is_open = wp.xyz_base_m, wp.quat_wxyz, wp.gripper_open
                rec['model_s'] = 0.0
            else:
                gripper = GripperState.from_opening(scene.gripper_width())
                meta = PromptMetadata.from_env_frame(env, env.base_to_env(tcp), gripper)
                t0 = time.perf_counter()
                out = reasoner.predict(ReasonerRequest(image_rgb=rgb,
                                                       instruction=episode.instruction,
                                                       metadata=meta))
                rec['model_s'] = time.perf_counter() - t0
                rec['tokens'] = out.generated_tokens
                xyz = (tuple(env.env_to_base(out.xyz_env_m)) if out.xyz_env_m is not None
                       else (math.nan,) * 3)
                quat, is_open = tuple(quat_wxyz), out.gripper is not GripperState.CLOSED
            w, x, y, z = quat
            pred = PredictionInput(status=0, frame_id='panda_link0', stamp_s=scene.time_s,
                                   xyz_base_m=tuple(float(v) for v in xyz),
                                   quat_xyzw=(x, y, z, w), gripper_command=0 if is_open else 1)
            now = scene.time_s
            t0 = time.perf_counter()
            rejection = executor.check(pred, now)
            rec['validation_s'] = time.perf_counter() - t0
            backend.last_plan_time_s = 0.0
            executor.submit(pred, now)
            rec['planning_s'] = backend.last_plan_time_s
            sim0, wall0 = scene.time_s, time.perf_counter()
            while executor.busy and scene.time_s - sim0 < 30.0:
                robot.step()
                backend.update_joint_state(robot.joint_state())
                executor.tick(scene.time_s)
            rec['motion_s'] = scene.time_s - sim0
            rec['sim_wall_s'] = time.perf_counter() - wall0
            rec['outcome'] = ExecState(executor.state).name
            rec['reason'] = str(rejection) if rejection else executor.reason
            rec['cycle_s'] = (rec['render_s'] + rec['model_s'] + rec['validation_s']
                              + rec['planning_s'] + rec['motion_s'])
            cycles.append(rec)
        success = bool(task.success(scene, episode))
    return {'seed': seed, 'source': source, 'success': success, 'cycles': cycles}


def run_ros(cycles: int) -> dict:
    """``robot-r1 demo`` with a scripted reasoner whose keypoints the executor moves to."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ROS_DOMAIN_ID=str(60 + os.getpid() % 30),
                   ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]))
        # The scripted reasoner answers the same keypoint every time: cycle 1 is a real move
        # (+ the first gripper command), the later ones are minimum-length no-op trajectories.
        cmd = [sys.executable, '-m', 'robot_r1_ros.cli', 'demo', '--cycles', str(cycles),
               '--model', 'scripted:valid?xyz=0.15,-0.1,0.15&gripper=open', '--no-media',
               '--output-dir', tmp]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=600)
        summary_path = Path(tmp) / 'summary.json'
        if proc.returncode != 0 or not summary_path.is_file():
            return {'error': proc.stdout[-2000:] + proc.stderr[-2000:]}
        summary = json.loads(summary_path.read_text())
    recs = summary['cycle_records']
    return {'cycles': recs, 'elapsed_s': summary['elapsed_s']}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--model', default=str(REPO / 'models' / 'tiny-qwen2.5-vl'))
    parser.add_argument('--model-cycles', type=int, default=6)
    parser.add_argument('--no-ros', action='store_true', help='skip the run through the nodes')
    parser.add_argument('--ros-cycles', type=int, default=6)
    parser.add_argument('--out', type=Path,
                        default=REPO / 'bench' / 'results' / 'closed_loop.json')
    args = parser.parse_args()

    import torch
    torch.set_num_threads(1)
    from robot_r1_ros.model.reasoner import ReasonerConfig, load_reasoner

    results: dict = {'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(),
                                 'torch_threads': torch.get_num_threads()}}
    oracle = [run_episode(seed, 'oracle') for seed in range(args.seeds)]
    reasoner = load_reasoner(ReasonerConfig(model_id=args.model, device='cpu', num_threads=1))
    reasoner.warmup()
    model = [run_episode(seed, 'model', reasoner, args.model_cycles)
             for seed in range(args.seeds)]
    results['oracle'] = oracle
    results['tiny_model'] = {'model_id': args.model, 'episodes': model}
    rows = {}
    for label, episodes in (('oracle', oracle), ('tiny model', model)):
        cycles = [c for e in episodes for c in e['cycles']]
        moved = [c for c in cycles if c['outcome'] in ('REACHED', 'FAILED')]
        rows[label] = {
            'cycles': len(cycles), 'executed': len(moved),
            'rejected': sum(c['outcome'] == 'REJECTED' for c in cycles),
            'success': f'{sum(e["success"] for e in episodes)}/{len(episodes)}',
            'render_s': _stats([c['render_s'] for c in cycles]),
            'model_s': _stats([c['model_s'] for c in cycles]),
            'validation_s': _stats([c['validation_s'] for c in cycles]),
            'planning_s': _stats([c['planning_s'] for c in moved]),
            'motion_s': _stats([c['motion_s'] for c in cycles]),
            'sim_wall_s': _stats([c['sim_wall_s'] for c in cycles]),
            'cycle_s': _stats([c['cycle_s'] for c in cycles]),
        }
    if not args.no_ros:
        ros = run_ros(args.ros_cycles)
        results['ros_demo'] = ros
        if 'cycles' in ros:
            recs = ros['cycles']
            moved = [r for r in recs if r['outcome'] in ('REACHED', 'FAILED')]
            rows['ros (demo)'] = {
                'first_cycle_s': recs[0]['cycle_s'] if recs else float('nan'),
                'cycles': len(recs), 'executed': len(moved),
                'rejected': sum(r['outcome'] == 'REJECTED' for r in recs), 'success': '-',
                'model_s': _stats([r['inference_time_s'] for r in recs]),
                'execution_s': _stats([r['execution_s'] for r in recs]),
                'cycle_s': _stats([r['cycle_s'] for r in recs]),
            }
    results['summary'] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float) + '\n')

    def cell(row: dict, key: str, scale: float = 1.0, fmt: str = '{:.3f}') -> str:
        s = row.get(key)
        return fmt.format(s['mean'] * scale) if s and s['n'] else '-'

    print(f'closed loop on pick_place, {args.seeds} seed(s); means per cycle '
          f'(motion = simulated seconds, as on a robot)')
    head = (f'{"":12}{"cycles":>7}{"exec":>6}{"rej":>5}{"model s":>9}{"valid. us":>10}'
            f'{"IK+plan ms":>11}{"motion s":>9}{"cycle s":>9}{"success":>9}')
    print(head)
    for label, row in rows.items():
        motion = cell(row, 'motion_s') if 'motion_s' in row else \
            cell(row, 'execution_s') + '*'
        print(f'{label:12}{row["cycles"]:>7}{row["executed"]:>6}{row["rejected"]:>5}'
              f'{cell(row, "model_s"):>9}{cell(row, "validation_s", 1e6, "{:.0f}"):>10}'
              f'{cell(row, "planning_s", 1e3, "{:.1f}"):>11}{motion:>9}'
              f'{cell(row, "cycle_s"):>9}{row["success"]:>9}')
    if 'ros (demo)' in rows:
        ros_row = rows['ros (demo)']
        print('* ros (demo): validation + planning + motion + DDS, from the prediction to the '
              "executor's report; cycle 1 (a real move) "
              f'{ros_row["first_cycle_s"]:.2f} s, later no-op cycles median '
              f'{ros_row["cycle_s"]["median"]:.2f} s (0.5 s minimum trajectory)')
    print(f'render (front camera, 224x224): {cell(rows["oracle"], "render_s", 1e3, "{:.1f}")} ms;'
          f' MuJoCo stepping: {cell(rows["oracle"], "sim_wall_s")} s wall per cycle')
    print(f'wrote {args.out.relative_to(REPO)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
