"""Executor rejection rate on a fuzzed stream of predictions (target: 100 % of unsafe ones
rejected, 0 % of safe ones). Prints a table and writes bench/results/executor_fuzz.json.

    source scripts/env.sh
    python bench/bench_executor_fuzz.py                 # 10,000 predictions
    python bench/bench_executor_fuzz.py -n 2000 --seed 1

Each prediction is generated safe (status OK, base frame, finite, unit quaternion, OPEN/CLOSED,
fresh, inside the workspace box, within the step limit of the TCP), then, for about half of
them, made unsafe by one or more mutations of a known kind (NaN/inf, out of the box, too far,
stale, future stamp, wrong frame, bad status, bad gripper value, non-unit quaternion); the
label comes from the generator, never from the validator. Boundary cases are included: safe
points up to the box faces and the step limit, unsafe ones just beyond (>= 0.1 mm / 1 ms).
The stream goes through the executor's real logic (``GoalExecutor.submit``, dry run, the direct
backend measuring the TCP from a joint state with the MuJoCo kinematics).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('MUJOCO_GL', 'egl')
os.environ.setdefault('OMP_NUM_THREADS', '1')

MUTATIONS = ('nan', 'inf', 'out_of_workspace', 'step_too_long', 'stale', 'future_stamp',
             'wrong_frame', 'status_not_ok', 'bad_gripper', 'bad_orientation')


def _unit_quat(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


def generate(n: int, seed: int, ws, tcp: np.ndarray, cfg, now: float):
    """``n`` (PredictionInput, unsafe, mutation kinds) triples."""
    from robot_r1_ros.motion.validation import PredictionInput

    rng = np.random.default_rng(seed)
    lo, hi = np.array(ws.min_xyz_base_m), np.array(ws.max_xyz_base_m)
    out = []
    while len(out) < n:
        # Safe: in the box and within the step limit of the TCP (rejection-sample the ball).
        if rng.random() < 0.1:      # boundary: on a face of the box
            xyz = rng.uniform(lo, hi)
            axis = rng.integers(3)
            xyz[axis] = lo[axis] if rng.random() < 0.5 else hi[axis]
        else:
            xyz = rng.uniform(lo, hi)
        if np.linalg.norm(xyz - tcp) > cfg.max_step_m:
            continue
        age = rng.uniform(-cfg.max_future_s, cfg.max_age_s) if rng.random() < 0.9 else \
            rng.choice([cfg.max_age_s - 1e-3, -cfg.max_future_s + 1e-3])
        fields = {'status': 0, 'frame_id': cfg.base_frame, 'stamp_s': now - age,
                  'xyz_base_m': tuple(xyz), 'quat_xyzw': tuple(_unit_quat(rng)),
                  'gripper_command': int(rng.integers(2))}
        kinds: list[str] = []
        if rng.random() < 0.5:
            k = 1 if rng.random() < 0.8 else int(rng.integers(2, 4))
            kinds = list(rng.choice(MUTATIONS, size=k, replace=False))
        for kind in kinds:
            if kind in ('nan', 'inf'):
                bad = math.nan if kind == 'nan' else rng.choice([math.inf, -math.inf])
                target = rng.choice(['xyz', 'quat'])
                vals = list(fields['xyz_base_m' if target == 'xyz' else 'quat_xyzw'])
                vals[rng.integers(len(vals))] = bad
                fields['xyz_base_m' if target == 'xyz' else 'quat_xyzw'] = tuple(vals)
            elif kind == 'out_of_workspace':
                p = np.array(fields['xyz_base_m'], float)
                axis = rng.integers(3)
                margin = 10 ** rng.uniform(-4, 0.5)          # 0.1 mm .. 3 m beyond a face
                p[axis] = hi[axis] + margin if rng.random() < 0.5 else lo[axis] - margin
                fields['xyz_base_m'] = tuple(p)
            elif kind == 'step_too_long':
                # Inside the box, beyond the step limit (by at least 0.1 mm).
                for _ in range(1000):
                    p = rng.uniform(lo, hi)
                    if np.linalg.norm(p - tcp) > cfg.max_step_m + 1e-4:
                        fields['xyz_base_m'] = tuple(p)
                        break
            elif kind == 'stale':
                fields['stamp_s'] = now - cfg.max_age_s - 10 ** rng.uniform(-3, 3)
            elif kind == 'future_stamp':
                fields['stamp_s'] = now + cfg.max_future_s + 10 ** rng.uniform(-3, 3)
            elif kind == 'wrong_frame':
                fields['frame_id'] = str(rng.choice(['world', '', 'panda_link8', 'map',
                                                     cfg.base_frame + ' ']))
            elif kind == 'status_not_ok':
                fields['status'] = int(rng.integers(1, 6))
            elif kind == 'bad_gripper':
                fields['gripper_command'] = int(rng.integers(2, 256))
            elif kind == 'bad_orientation':
                q = np.array(fields['quat_xyzw'], float)
                scale = rng.choice([0.0, rng.uniform(0.0, 0.985), rng.uniform(1.015, 10.0)])
                with np.errstate(invalid='ignore'):     # inf * 0 -> nan: still unsafe
                    fields['quat_xyzw'] = tuple(q * scale)
        out.append((PredictionInput(**fields), bool(kinds), kinds))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('-n', type=int, default=10_000, help='predictions (10,000)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', type=Path,
                        default=REPO / 'bench' / 'results' / 'executor_fuzz.json')
    args = parser.parse_args()

    from robot_r1_ros.core.geometry import Workspace
    from robot_r1_ros.motion.direct import DirectBackend, DirectBackendConfig
    from robot_r1_ros.motion.executor import ExecutionConfig, GoalExecutor
    from robot_r1_ros.motion.types import JointStateSample
    from robot_r1_ros.ros.executor_params import config_from_values

    node_cfg = config_from_values({})          # the executor node's defaults
    ws = node_cfg.workspace
    vcfg = node_cfg.execution.validation
    backend = DirectBackend(DirectBackendConfig(), lambda t: None, lambda g: None)
    ready = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785]
    now = 1_800_000_000.0
    backend.update_joint_state(JointStateSample(
        {f'panda_joint{i + 1}': q for i, q in enumerate(ready)}, {}, now))
    tcp = np.array(backend.tcp_position())
    executor = GoalExecutor(backend, ws, ExecutionConfig(dry_run=True, validation=vcfg))
    assert isinstance(ws, Workspace)

    stream = generate(args.n, args.seed, ws, tcp, vcfg, now)
    t0 = time.perf_counter()
    decisions = [executor.submit(pred, now) for pred, _, _ in stream]
    elapsed = time.perf_counter() - t0

    unsafe = [(r, kinds) for (_, bad, kinds), r in zip(stream, decisions) if bad]
    safe = [r for (_, bad, _), r in zip(stream, decisions) if not bad]
    missed = [kinds for r, kinds in unsafe if r is None]
    false_rejects = [str(r) for r in safe if r is not None]
    by_kind: dict[str, dict[str, int]] = {}
    for r, kinds in unsafe:
        for kind in kinds:
            entry = by_kind.setdefault(kind, {'n': 0, 'rejected': 0})
            entry['n'] += 1
            entry['rejected'] += r is not None
    codes = Counter(r.code.value for r in decisions if r is not None)
    result = {
        'machine': {'cpus': os.cpu_count(), 'python': platform.python_version()},
        'n': args.n, 'seed': args.seed, 'unsafe': len(unsafe), 'safe': len(safe),
        'unsafe_rejected_pct': 100.0 * (len(unsafe) - len(missed)) / max(1, len(unsafe)),
        'safe_rejected_pct': 100.0 * len(false_rejects) / max(1, len(safe)),
        'missed_examples': missed[:10], 'false_reject_examples': false_rejects[:10],
        'by_mutation': by_kind, 'rejection_codes': dict(codes),
        'executor_counts': {'received': executor.received, 'rejected':
                            executor.rejections.total},
        'predictions_per_s': args.n / elapsed, 'us_per_prediction': 1e6 * elapsed / args.n,
        'limits': {'workspace_min': ws.min_xyz_base_m, 'workspace_max': ws.max_xyz_base_m,
                   'max_step_m': vcfg.max_step_m, 'max_age_s': vcfg.max_age_s,
                   'max_future_s': vcfg.max_future_s, 'tcp_xyz_base_m': tcp.tolist()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + '\n')

    print(f'executor fuzz: {args.n} predictions (seed {args.seed}), '
          f'{result["us_per_prediction"]:.1f} us each ({result["predictions_per_s"]:.0f}/s)')
    print(f'{"":22}{"n":>7}{"rejected":>10}{"rate":>9}')
    print(f'{"unsafe (all)":22}{len(unsafe):>7}{len(unsafe) - len(missed):>10}'
          f'{result["unsafe_rejected_pct"]:>8.2f}%')
    for kind in MUTATIONS:
        e = by_kind.get(kind, {'n': 0, 'rejected': 0})
        print(f'{"  " + kind:22}{e["n"]:>7}{e["rejected"]:>10}'
              f'{100.0 * e["rejected"] / max(1, e["n"]):>8.2f}%')
    print(f'{"safe":22}{len(safe):>7}{len(false_rejects):>10}'
          f'{result["safe_rejected_pct"]:>8.2f}%')
    print(f'rejection codes: {dict(sorted(codes.items()))}')
    print(f'wrote {args.out.relative_to(REPO)}')
    return 0 if not missed and not false_rejects else 1


if __name__ == '__main__':
    sys.exit(main())
