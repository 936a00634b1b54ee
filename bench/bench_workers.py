"""Data-parallel curriculum training (``training.workers``): the same link with 1 and with N
worker processes, in one run. Prints a table and writes bench/results/workers.json.

    source scripts/env.sh
    python bench/bench_workers.py --config see_fast --dataset outputs/recipe_fast/dataset \\
        --model outputs/recipe_fast/00_grow --vision-dir outputs/recipe_fast/00_vision
    python bench/bench_workers.py     # the tiny model on 3 recorded demos (a smoke run)

Each run is the real ``curriculum.train`` (through ``workers.launch``, one torch thread per
process) on the config's first stage, cut to ``--cpu-s`` CPU-seconds (all workers' CPU summed,
as a stage's budget is). Rates are steady-state, from the run's own ``log.jsonl`` (its records
every 10 steps, after the first): questions per CPU-second (all processes) and per wall-second.
The ratio column is the run's wall rate over the one-worker run's. Without ``--vision-dir`` a
config's ``vision_aux`` head is left out (it needs the vision stage's frames). The CPU is shared
with whatever else runs on this machine: the load average is recorded beside each run.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')
os.environ.setdefault('MUJOCO_GL', 'egl')


def _rates(run: Path, batch_size: int) -> dict:
    """Steady-state questions per CPU-s and per wall-s from a run's 10-step log records."""
    records = [json.loads(line) for line in (run / 'log.jsonl').open()
               if 'loss' in json.loads(line)]
    if len(records) < 3:
        raise SystemExit(f'{run}: only {len(records)} log records; raise --cpu-s')
    first, last = records[1], records[-1]
    questions = (last['step'] - first['step']) * batch_size
    return {'steps': last['step'], 'questions': questions,
            'questions_per_cpu_s': questions / (last['cpu_s'] - first['cpu_s']),
            'questions_per_wall_s': questions / (last['wall_s'] - first['wall_s'])}


def main() -> int:
    """Time the link with each worker count, print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=None, help='curriculum config (default: a tiny one)')
    parser.add_argument('--dataset', default=None, help='dataset folder (default: 3 demos)')
    parser.add_argument('--model', default=None, help="start checkpoint (default: the config's)")
    parser.add_argument('--vision-dir', default=None, help="a vision stage's run folder")
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--cpu-s', type=float, default=120.0)
    parser.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'workers.json')
    args = parser.parse_args()

    from robot_r1_ros.training import curriculum
    from robot_r1_ros.training.workers import launch

    tmp = Path(tempfile.mkdtemp(prefix='bench_workers_'))
    results = []
    try:
        if args.dataset is None:
            from bench_training import _record_dataset
            args.dataset = str(_record_dataset(tmp))
        cfg = curriculum.load_config(args.config or 'learn_compare')
        cfg.dataset = args.dataset
        if args.model:
            cfg.model_path = args.model
        elif not (Path(cfg.model_path) / 'config.json').is_file():
            cfg.model_path = str(REPO / 'models' / 'tiny-qwen2.5-vl')
        if cfg.vision_aux is not None:
            cfg.vision_aux = None if args.vision_dir is None else dataclasses.replace(
                cfg.vision_aux, frames=str(Path(args.vision_dir) / 'frames.npz'),
                heads=str(Path(args.vision_dir) / 'heads.pt'))
        cfg.stages = [dataclasses.replace(cfg.stages[0], cpu_minutes=args.cpu_s / 60)]
        cfg.eval_every_cpu_s = cfg.checkpoint_every_cpu_s = 1e9
        cfg.eval_rows_per_group = 1
        for world in args.workers:
            load0 = os.getloadavg()[0]
            launch(curriculum.train_worker, world, cfg, tmp / f'w{world}', threads=1,
                   log_level='WARNING')
            results.append({'workers': world, 'batch_size': cfg.batch_size,
                            'per_worker_batch': cfg.batch_size // world,
                            **_rates(tmp / f'w{world}', cfg.batch_size),
                            'load_avg_start': load0, 'load_avg_end': os.getloadavg()[0]})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = results[0]['questions_per_wall_s']
    print(f'data-parallel curriculum: {cfg.name}, batch {cfg.batch_size}, '
          f'vision_aux {"on" if cfg.vision_aux else "off"} ({args.cpu_s:g} CPU-s per run)')
    print(f"{'workers':>7} {'steps':>6} {'q/CPU-s':>8} {'q/wall-s':>9} {'wall x':>7} {'load':>9}")
    for r in results:
        r['wall_ratio'] = r['questions_per_wall_s'] / base
        print(f"{r['workers']:>7} {r['steps']:>6} {r['questions_per_cpu_s']:>8.1f} "
              f"{r['questions_per_wall_s']:>9.1f} {r['wall_ratio']:>7.2f} "
              f"{r['load_avg_start']:>4.1f}-{r['load_avg_end']:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({'config': cfg.name, 'cpu_s': args.cpu_s,
                                    'vision_aux': cfg.vision_aux is not None,
                                    'runs': results}, indent=2) + '\n', encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main())
