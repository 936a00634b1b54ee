"""Issue 13: where do a model's object positions go wrong? Per axis, per object, per digit.

``robot-r1 eval`` gives the mean L1 of the open questions. This tool answers the questions of a
dataset's test split the same way (the reasoning node's constrained decoding and token budgets,
``training.eval_scoring``) and breaks the error down: mean absolute error per axis and object,
the share within 2 cm in x-y (the grasp's tolerance in the sim: the expert still grasps with a
2 cm offset, not with 3 cm), and how often the sign, the tenths digit and the hundredths digit of
x and y are right.

    python experiments/tools/position_digits.py --model outputs/learn/e19_deep/final \\
        --dataset outputs/unseen/scenes_test --rows 200
"""
from __future__ import annotations

import argparse
import logging
import re

import numpy as np

_LOG = logging.getLogger('position_digits')
_XYZ = re.compile(r'\[(-?[\d.]+), (-?[\d.]+), (-?[\d.]+)\]')
_SUBJECT = re.compile(r'Where is the (.+?) now\?')


def digit_table(pred_env_m: np.ndarray, true_env_m: np.ndarray) -> dict[str, dict[str, float]]:
    """Share of right signs, tenths and hundredths digits (cumulative) for x and y."""
    out = {}
    for axis, name in ((0, 'x'), (1, 'y')):
        p, t = pred_env_m[:, axis], true_env_m[:, axis]
        sign = np.sign(np.round(p, 3)) == np.sign(np.round(t, 3))
        tenths = sign & (np.floor(np.abs(p) * 10 + 1e-9) == np.floor(np.abs(t) * 10 + 1e-9))
        hundredths = tenths & (np.floor(np.abs(p) * 100 + 1e-9)
                               == np.floor(np.abs(t) * 100 + 1e-9))
        out[name] = {'sign': float(sign.mean()), 'tenths': float(tenths.mean()),
                     'hundredths': float(hundredths.mean())}
    return out


def answer_object_questions(model_dir: str, dataset_dir: str, max_rows: int | None,
                            threads: int = 1) -> tuple[list[dict], list[dict]]:
    """The test split's ``object_position`` rows (a seeded subsample of ``max_rows``; None:
    all) and a checkpoint's completions of them with the reasoning node's decoding."""
    import torch
    torch.set_num_threads(threads)
    from robot_r1_ros.training import common
    from robot_r1_ros.training.eval_scoring import generate_completions, load_eval_model
    from robot_r1_ros.training.evaluate import EvalSettings, select_eval_rows

    settings = EvalSettings(max_rows_per_group=max_rows, tasks=('object_position',))
    rows = select_eval_rows(common.load_dataset_dict(dataset_dir)['test'], settings)
    model, processor = load_eval_model(model_dir, settings)
    completions = generate_completions(model, processor, rows, settings.batch_size,
                                       settings.max_new_tokens, False,
                                       constrained=settings.constrained,
                                       think_budget_tokens=settings.think_budget_tokens)
    return list(rows), completions


def main() -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--dataset', required=True)
    ap.add_argument('--rows', type=int, default=200, help='object_position rows of the test split')
    args = ap.parse_args()
    rows, completions = answer_object_questions(args.model, args.dataset, args.rows)
    pred, true, subject = [], [], []
    for row, completion in zip(rows, completions):
        text = completion['text'] if isinstance(completion, dict) else str(completion)
        found = _XYZ.findall(text.split('<answer>')[-1])
        if not found:
            continue
        pred.append([float(v) for v in found[0]])
        true.append(row['target_xyz_env_m'])
        subject.append(_SUBJECT.search(row['prompt'][-1]['content'][-1]['text']).group(1))
    p, t = np.array(pred), np.array(true)
    err_cm = np.abs(p - t) * 100
    print(f'{args.model}: {len(p)} answers of {len(rows)} rows')
    print('| object | n | x error (cm) | y error (cm) | z error (cm) | within 2 cm (x-y) |')
    print('|---|---:|---:|---:|---:|---:|')
    for name in sorted(set(subject)) + ['all']:
        mask = np.array([name in ('all', s) for s in subject])
        e = err_cm[mask]
        print(f'| {name} | {mask.sum()} | {e[:, 0].mean():.1f} | {e[:, 1].mean():.1f} | '
              f'{e[:, 2].mean():.1f} | {(np.hypot(e[:, 0], e[:, 1]) < 2).mean() * 100:.0f} % |')
    digits = digit_table(p, t)
    print('| axis | sign right | tenths right | hundredths right |')
    print('|---|---:|---:|---:|')
    for axis, d in digits.items():
        print(f"| {axis} | {d['sign'] * 100:.0f} % | {d['tenths'] * 100:.0f} % | "
              f"{d['hundredths'] * 100:.0f} % |")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
