"""The curriculum encoder's cost per row on this CPU: a frame's image processed once, against the
processor (and the image's decoding) on every row as the encoder did before session 44.

    source scripts/env.sh
    python bench/bench_encode.py --dataset outputs/recipe_mm_frames/dataset --rows 4000 \
        --out bench/results/encode.json

Takes the first ``--rows`` train rows (a split's rows are stored frame by frame, so its
questions share frames as a run's do) and times, one torch thread, CPU seconds:

- ``per_row``: every row decoded with its image and passed to the processor (the old way);
- ``frame_once``: rows read without the image column; a frame's first row is processed with its
  image, the others' prompts expanded from the cached grid (``training.encoded``'s way);
- ``encoded``: the whole ``Encoded`` of one worker (completions, reasoning lengths and the
  compact prompts the recipe's links use) with ``--think``; with ``--workers 2`` each worker
  encodes half of it (``training.encoded``), so a link's encoding CPU is about this figure
  times its rows, not twice that.

Both ways' ids are checked equal on every row before anything is written.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dataset', required=True, help='a scene dataset folder (load_from_disk)')
    ap.add_argument('--model', default=str(REPO / 'models' / 'tiny-qwen2.5-vl'))
    ap.add_argument('--rows', type=int, default=4000)
    ap.add_argument('--think', default='aim_mm')
    ap.add_argument('--image-pixels', type=int, default=12544)
    ap.add_argument('--out', default=str(REPO / 'bench' / 'results' / 'encode.json'))
    args = ap.parse_args()

    import torch
    from datasets import load_from_disk

    from robot_r1_ros.training.common import load_model, load_processor_for
    from robot_r1_ros.training.compact_prompt import build_compactor
    from robot_r1_ros.training.encoded import Encoded, _FramePrompt
    from robot_r1_ros.training.recipe import ModelSpec

    torch.set_num_threads(1)
    split = load_from_disk(args.dataset)['train']
    rows = split.select(range(min(args.rows, len(split))))
    spec = ModelSpec(path=args.model, image_min_pixels=args.image_pixels,
                     image_max_pixels=args.image_pixels)
    processor = load_processor_for(spec)

    def template(row):
        return processor.apply_chat_template(row['prompt'], tokenize=False,
                                             add_generation_prompt=True)

    c0 = time.process_time()
    old = [processor(text=[template(row)], images=[[row['image']]], return_tensors='pt')
           ['input_ids'][0] for row in rows]
    per_row_s = time.process_time() - c0

    c0 = time.process_time()
    frame_prompt, grids, new = _FramePrompt(processor), {}, []
    for index, row in enumerate(rows.remove_columns('image')):
        key = (row['episode_id'], row['frame_index'])
        if key not in grids:
            enc = processor(text=[template(row)], images=[[rows[index]['image']]],
                            return_tensors='pt')
            grids[key] = enc['image_grid_thw']
        else:
            enc = frame_prompt.encode(template(row), grids[key])
        new.append(enc['input_ids'][0])
    frame_once_s = time.process_time() - c0
    if not all(torch.equal(a, b) for a, b in zip(old, new)):
        raise SystemExit('the two ways give different ids')

    compactor = build_compactor(processor, rows, load_model(spec))
    c0 = time.process_time()
    Encoded(processor, rows, args.think, compactor)
    encoded_s = time.process_time() - c0
    n = len(rows)
    result = {'rows': n, 'frames': len(grids), 'think': args.think,
              'image_pixels': args.image_pixels,
              'per_row_ms_cpu': 1000 * per_row_s / n, 'frame_once_ms_cpu': 1000 * frame_once_s / n,
              'speedup': per_row_s / frame_once_s, 'encoded_ms_per_row_cpu': 1000 * encoded_s / n,
              'load_average': os.getloadavg()[0]}
    print('| rows | frames | prompt + image, per row (ms CPU) | frame once (ms CPU) | speed-up | '
          'whole Encoded (ms CPU / row) |')
    print('|---:|---:|---:|---:|---:|---:|')
    print(f"| {n} | {len(grids)} | {result['per_row_ms_cpu']:.2f} | "
          f"{result['frame_once_ms_cpu']:.2f} | {result['speedup']:.2f}x | "
          f"{result['encoded_ms_per_row_cpu']:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + '\n', encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main())
