"""FR3 joint limits under a fuzzed stream of goals (target: no commanded joint position or
velocity ever outside the FR3's limits). Prints a table, writes bench/results/fr3_limits.json.

    source scripts/env.sh
    python bench/bench_fr3_limits.py                    # 1,000 goals
    python bench/bench_fr3_limits.py -n 200 --seed 1

The executor's direct backend is built from config/fr3.yaml exactly as the node builds it
(``executor_params.config_from_values``: the FR3 RobotModel with its limits, the timing
settings). Goals are drawn uniformly in the workspace box with the gripper OPEN/CLOSED and a top-down
orientation with a random yaw (40 %), a uniformly random orientation (30 %) or the current
orientation kept (30 %); the arm
follows each planned trajectory perfectly and the next goal starts where it ended (10 % of the
goals start from a random configuration within 0.6 rad of home, inside the FR3 limits). Every point of
every trajectory sent to the controller is checked against the FR3 position limits and the
scaled velocity limits. The baseline row plans the same goals with the Panda's limits and only
the joint names changed, which is what the executor did on an FR3 before the robot description
became data (``joint_prefix: fr3``), and counts the points that leave the FR3 limits.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('OMP_NUM_THREADS', '1')


def executor_config(path: Path):
    """The executor node's config from a parameters file (its ``executor_node`` block)."""
    from robot_r1_ros.ros import executor_params as ep
    from robot_r1_ros.ros.params import params_file_values

    return ep.config_from_values(params_file_values(path, 'executor_node'))


def run(cfg, robot, fr3, goals, restarts, label: str) -> dict:
    """Plan every goal with ``robot``'s limits; check the commands against ``fr3``'s."""
    from robot_r1_ros.core.types import GripperState
    from robot_r1_ros.motion.backend import MotionError
    from robot_r1_ros.motion.direct import DirectBackend
    from robot_r1_ros.motion.types import JointStateSample, MotionGoal

    sent = []
    backend = DirectBackend(cfg.direct, sent.append, lambda cmd: None, robot=robot)
    names = robot.arm_joint_names
    lower, upper = np.array(fr3.lower_rad), np.array(fr3.upper_rad)
    vmax = np.array(fr3.max_velocity_rad_s) * cfg.direct.velocity_scale
    q = np.array(robot.home_q_rad)
    refused: Counter = Counter()
    points = outside = too_fast = planned = 0
    worst_margin = np.inf           # smallest distance to an FR3 position limit [rad]
    worst_joint = ''
    t0 = time.perf_counter()
    for i, ((xyz, quat, gripper), restart) in enumerate(zip(goals, restarts)):
        if restart is not None:
            q = restart
        backend.update_joint_state(JointStateSample(dict(zip(names, map(float, q))),
                                                    {n: 0.0 for n in names}, float(i)))
        backend.hold(float(i))                 # idle, no preemption from the last goal
        sent.clear()
        goal = MotionGoal(tuple(xyz), GripperState.OPEN if gripper else GripperState.CLOSED,
                          None if quat is None else tuple(quat))
        try:
            backend.start(goal, float(i))
        except MotionError as exc:
            refused[re.sub(r'[-\d.]+ rad', 'N rad', str(exc).split(':')[0].split(' at ')[0])] += 1
            continue
        planned += 1
        traj = sent[-1]
        pos, vel = traj.positions_rad, traj.velocities_rad_s
        points += len(pos)
        bad = (pos < lower - 1e-9) | (pos > upper + 1e-9)
        outside += int(np.any(bad, axis=1).sum())
        too_fast += int(np.any(np.abs(vel) > vmax + 1e-9, axis=1).sum())
        margin = np.minimum(pos - lower, upper - pos)
        j = int(np.argmin(margin.min(axis=0)))
        if margin.min() < worst_margin:
            worst_margin, worst_joint = float(margin.min()), f'joint{j + 1}'
        q = pos[-1].copy()
    elapsed = time.perf_counter() - t0
    return {'label': label, 'goals': len(goals), 'planned': planned,
            'refused': sum(refused.values()), 'refused_by_reason': dict(refused.most_common()),
            'points': points, 'points_outside_fr3_limits': outside,
            'points_above_scaled_fr3_velocity': too_fast,
            'closest_to_fr3_limit_rad': worst_margin, 'closest_joint': worst_joint,
            'ms_per_goal': 1e3 * elapsed / max(1, len(goals))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('-n', type=int, default=1000, help='goals')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--config', type=Path, default=REPO / 'config' / 'fr3.yaml')
    parser.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'fr3_limits.json')
    args = parser.parse_args()

    from robot_r1_ros.core.kinematics import PANDA, top_down_quat

    cfg = executor_config(args.config)
    fr3 = cfg.robot
    rng = np.random.default_rng(args.seed)
    lo, hi = np.array(cfg.workspace.min_xyz_base_m), np.array(cfg.workspace.max_xyz_base_m)
    goals, restarts = [], []
    home = np.array(fr3.home_q_rad)
    for _ in range(args.n):
        kind = rng.random()
        if kind < 0.4:                       # top down, any yaw (the tasks' grasps)
            quat = top_down_quat(rng.uniform(-np.pi, np.pi))
        elif kind < 0.7:                     # any orientation (MotionGoal accepts one)
            quat = rng.normal(size=4)
            quat /= np.linalg.norm(quat)
        else:                                # keep the current orientation (the node's goals)
            quat = None
        goals.append((rng.uniform(lo, hi), quat, bool(rng.random() < 0.5)))
        restarts.append(np.clip(home + rng.uniform(-0.6, 0.6, 7), fr3.lower_rad, fr3.upper_rad)
                        if rng.random() < 0.1 else None)
    panda_limits = replace(PANDA, name='panda-limits', joint_prefix=fr3.joint_prefix)
    rows = [run(cfg, fr3, fr3, goals, restarts, 'FR3 limits (config/fr3.yaml)'),
            run(cfg, panda_limits, fr3, goals, restarts, 'baseline: Panda limits, fr3 names')]
    result = {'machine': {'cpus': os.cpu_count(), 'python': platform.python_version()},
              'n': args.n, 'seed': args.seed, 'config': str(args.config.relative_to(REPO)),
              'fr3_limits': {'lower_rad': fr3.lower_rad, 'upper_rad': fr3.upper_rad,
                             'max_velocity_rad_s': fr3.max_velocity_rad_s,
                             'velocity_scale': cfg.direct.velocity_scale},
              'rows': rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + '\n')

    print(f'FR3 limits fuzz: {args.n} goals (seed {args.seed}), workspace {lo.tolist()} .. '
          f'{hi.tolist()}')
    print(f'{"":36}{"planned":>8}{"refused":>8}{"points":>9}{"outside":>9}{"too fast":>9}'
          f'{"closest":>9}{"ms/goal":>9}')
    for r in rows:
        print(f'{r["label"]:36}{r["planned"]:>8}{r["refused"]:>8}{r["points"]:>9}'
              f'{r["points_outside_fr3_limits"]:>9}{r["points_above_scaled_fr3_velocity"]:>9}'
              f'{r["closest_to_fr3_limit_rad"]:>9.4f}{r["ms_per_goal"]:>9.1f}')
    print(f'refused (FR3): {rows[0]["refused_by_reason"]}')
    print(f'wrote {args.out.relative_to(REPO)}')
    ok = rows[0]['points_outside_fr3_limits'] == 0 and \
        rows[0]['points_above_scaled_fr3_velocity'] == 0
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
