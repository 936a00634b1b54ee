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


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {'n': 0, 'mean': float('nan'), 'median': float('nan'), 'max': float('nan')}
    arr = np.asarray(values, float)
    return {'n': int(arr.size), 'mean': float(arr.mean()), 'median': float(np.median(arr)),
            'max': float(arr.max())}


def run_episode(seed: int, source: str, reasoner=None, max_cycles: int = 8) -> dict:
    """One pick_place episode; ``source`` is 'oracle' (expert keypoints) or 'model' (the
    reasoning node's prediction step, ``model.step.predict_step``)."""
    from robot_r1_ros.core.geometry import quat_wxyz_to_xyzw
    from robot_r1_ros.model.step import StepSettings, predict_step
    from robot_r1_ros.ros.executor_params import config_from_values
    from robot_r1_ros.sim import experts
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task
    from robot_r1_ros.training.closed_loop import SimRig

    node_cfg = config_from_values({})
    step_settings = StepSettings.from_workspace_config()
    task = make_task('pick_place')
    cycles = []
    with PandaScene() as scene:
        episode = task.reset(scene, seed)
        rig = SimRig(scene, node_cfg.workspace, node_cfg.execution)
        rig.backend.kinematics      # noqa: B018  (build the IK model outside the timings)
        scene.render()              # (and the renderer's GL context)
        waypoints = experts.plan(scene, task, episode) if source == 'oracle' else []
        n = len(waypoints) if source == 'oracle' else max_cycles
        for i in range(n):
            rec: dict = {'cycle': i + 1}
            t0 = time.perf_counter()
            observation = rig.observe(episode.instruction)
            rec['render_s'] = time.perf_counter() - t0
            if source == 'oracle':
                wp = waypoints[i]
                xyz, quat_xyzw = wp.xyz_base_m, tuple(quat_wxyz_to_xyzw(wp.quat_wxyz))
                is_open, status, reason = wp.gripper_open, 0, ''
                rec['model_s'] = 0.0
            else:
                result = predict_step(reasoner, observation, step_settings)
                rec['model_s'] = result.inference_s
                rec['tokens'] = result.output.generated_tokens if result.output else 0
                kp = result.keypoint
                xyz = kp.xyz_base_m if kp is not None else (math.nan,) * 3
                is_open = kp is None or kp.gripper.is_open
                quat_xyzw = observation.reading.tcp_quat_xyzw
                status, reason = int(result.status), result.reason
            done = rig.execute(xyz, quat_xyzw, is_open, status=status, status_reason=reason)
            rec.update(validation_s=done.validation_s, planning_s=done.planning_s,
                       motion_s=done.motion_s, sim_wall_s=done.sim_wall_s,
                       outcome=done.outcome, reason=done.reason)
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
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
