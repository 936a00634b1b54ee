"""Training throughput of the curriculum SFT loop (issue 9's recipe) on this CPU: samples/s.

    source scripts/env.sh
    python bench/bench_curriculum.py --config learn_compare --dataset outputs/tiny/dataset

Encodes ``--rows`` training rows of the config's first stage once (as the run does), then times
``--steps`` optimiser steps of ``batch_size`` rows after 2 warm-up steps, through
``robot_r1_ros.training.curriculum`` (one torch thread unless ``--threads``). Reports samples per
CPU-second and per wall-second (the CPU is shared: the load average is recorded beside them),
and writes bench/results/curriculum.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')


def main() -> int:
    """Run the benchmark, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='learn_compare')
    parser.add_argument('--dataset', default=None, help='override data.path')
    parser.add_argument('--rows', type=int, default=256)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--out', type=Path,
                        default=REPO / 'bench' / 'results' / 'curriculum.json')
    args = parser.parse_args()

    import torch

    from robot_r1_ros.training import common
    from robot_r1_ros.training.curriculum import Encoded, build_model, load_config
    from robot_r1_ros.training.recipe import ModelSpec

    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    if args.dataset:
        cfg.dataset = args.dataset
    load0 = os.getloadavg()[0]
    spec = ModelSpec(path=cfg.model_path, image_min_pixels=cfg.image_pixels,
                     image_max_pixels=cfg.image_pixels)
    processor = common.load_processor_for(spec)
    stage = cfg.stages[0]
    rows = common.select_rows(common.load_dataset_dict(cfg.dataset)['train'], stage.tasks, 'any')
    rows = rows.select(range(min(args.rows, len(rows))))
    c0 = time.process_time()
    enc = Encoded(processor, rows, cfg.think)
    encode_cpu_s = time.process_time() - c0
    pool = enc.indices(stage.tasks, stage.distractors)
    model = build_model(cfg)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=stage.learning_rate)
    pad = processor.tokenizer.pad_token_id
    rng = random.Random(0)
    tokens = 0
    for i in range(args.steps + 2):
        if i == 2:
            c0, w0, tokens = time.process_time(), time.perf_counter(), 0
        batch = enc.batch(rng.sample(pool, min(cfg.batch_size, len(pool))), pad)
        loss = model(**batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tokens += int(batch['attention_mask'].sum())
    cpu_s, wall_s = time.process_time() - c0, time.perf_counter() - w0
    samples = args.steps * cfg.batch_size
    result = {
        'config': cfg.name, 'think': cfg.think, 'batch_size': cfg.batch_size,
        'parameters': sum(p.numel() for p in model.parameters()), 'steps': args.steps,
        'samples_per_cpu_s': samples / cpu_s, 'samples_per_wall_s': samples / wall_s,
        's_per_step_cpu': cpu_s / args.steps, 'tokens_per_cpu_s': tokens / cpu_s,
        'encode_ms_per_row_cpu': 1000 * encode_cpu_s / max(len(enc.rows), 1),
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'threads': args.threads, 'load_avg_start': load0, 'load_avg_end': os.getloadavg()[0],
        'torch': torch.__version__,
    }
    print(f"{'metric':<24} value")
    for key in ('config', 'parameters', 'batch_size', 'samples_per_cpu_s', 'samples_per_wall_s',
                's_per_step_cpu', 'tokens_per_cpu_s', 'encode_ms_per_row_cpu', 'peak_rss_mb',
                'load_avg_start', 'load_avg_end'):
        value = result[key]
        print(f'{key:<24} {value:.2f}' if isinstance(value, float) else f'{key:<24} {value}')
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + '\n', encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main())
