"""Issue 13: when the language model misreads an object, is it the wrong object or a near miss?

Answers a scene dataset's ``object_position`` test rows with a checkpoint (node decoding:
``training.eval_scoring``'s defaults, constrained) and scores each answer against every object
of the same frame (the dataset asks about each object at each moment, so the rows of one
``(episode, frame)`` give all positions). An answer nearer another object than the asked one is
a *binding* miss (the closed loop's wrong-cube first keypoints); the rest are near misses.
Reports mean / median error and the binding-miss rate, split by start frame vs later frames and
by the asked object.

    python experiments/tools/lm_reads.py --model outputs/learn/e44_roll_cont2/final \\
        --dataset outputs/scenes/dataset --rows 300
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from heads_on_rows import asked_objects  # noqa: E402

_LOG = logging.getLogger('lm_reads')
_TASK_OBJECT = re.compile(r'the (\w+ cube)')  # 'put the red cube in the yellow zone'


def summary(errors: list[float], nearest: list[str]) -> dict:
    """Mean / median error (cm), within-2 cm rate, binding-miss rate and what the answers were
    nearest to (``asked``, ``task_object`` when that is not the asked one, ``other``)."""
    e = np.asarray(errors)
    counts = {k: nearest.count(k) for k in ('asked', 'task_object', 'other')}
    return {'n': len(e), 'mean_cm': round(float(e.mean()), 2),
            'median_cm': round(float(np.median(e)), 2),
            'within_2cm': round(float((e < 2).mean()), 3),
            'wrong_object': round(1.0 - counts['asked'] / len(e), 3), 'nearest': counts}


def main() -> int:
    import torch
    from datasets import load_from_disk

    from robot_r1_ros.core.errors import AnswerFormatError
    from robot_r1_ros.core.parsing import parse_completion, parse_xyz_answer
    from robot_r1_ros.training.eval_scoring import (EvalSettings, generate_completions,
                                                    load_eval_model)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--dataset', required=True)
    ap.add_argument('--rows', type=int, default=300)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--split', default='test',
                    help="'train' beside 'test' tells learning the binding from memorising it")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    torch.set_num_threads(args.threads)
    test = load_from_disk(args.dataset)[args.split]
    rows = test.filter(lambda k: k == 'object_position', input_columns='task_kind')
    names = asked_objects(rows['prompt'])
    truth: dict[tuple, dict[str, np.ndarray]] = defaultdict(dict)
    for name, ep, fr, xyz in zip(names, rows['episode_id'], rows['frame_index'],
                                 rows['answer_xyz_env_m']):
        truth[(ep, fr)][name] = np.asarray(xyz)
    # the first --rows rows whose frame has every object asked
    full = max(len(v) for v in truth.values())
    keep = [i for i in range(len(rows))
            if len(truth[(rows[i]['episode_id'], rows[i]['frame_index'])]) == full][:args.rows]
    sub = rows.select(keep)
    settings = EvalSettings()
    model, processor = load_eval_model(args.model, settings)
    comps = generate_completions(model, processor, sub, batch_size=settings.batch_size,
                                 max_new_tokens=settings.max_new_tokens, progress=False,
                                 constrained=settings.constrained,
                                 think_budget_tokens=settings.think_budget_tokens)
    groups: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    failures = 0
    for j, i in enumerate(keep):
        row, asked = sub[j], names[i]
        try:
            xyz = np.asarray(parse_xyz_answer(parse_completion(comps[j]['text']).answer))
        except AnswerFormatError:  # a format failure: counted, not scored
            failures += 1
            continue
        objs = truth[(row['episode_id'], row['frame_index'])]
        err = {n: float(np.abs(xyz - p).sum() * 100) for n, p in objs.items()}
        task_object = _TASK_OBJECT.search(row['instruction']).group(1).replace(' ', '_')
        near = min(err, key=err.get)
        kind = 'asked' if near == asked else 'task_object' if near == task_object else 'other'
        asks_task = 'asks_task_object' if asked == task_object else 'asks_other_object'
        for key in ('all', 'start' if row['frame_index'] == 0 else 'later', asked, asks_task):
            groups[key][0].append(err[asked])
            groups[key][1].append(kind)
    report = {'model': args.model, 'split': args.split, 'rows': len(keep), 'format_failures': failures,
              'groups': {k: summary(*v) for k, v in groups.items()}}
    print(json.dumps(report, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
