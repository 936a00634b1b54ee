"""Issue 13: does a model read a lifted cube as well as one on the table?

Answers every test ``object_position`` question of a scene dataset with the reasoning node's
decoding (``training.eval_scoring``, as ``robot-r1 eval`` does) and splits the answers' L1 error
by where the asked object is: lifted (target z above 5 cm: the cube in the gripper) or on the
table / in the zone. Also counts answers whose x or y is the target's with the sign flipped.

    python experiments/tools/lifted_reads.py --model outputs/recipe_see/e80/final \\
        --dataset outputs/recipe_see/dataset
"""
from __future__ import annotations

import argparse
import logging
import re
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from position_digits import answer_object_questions  # noqa: E402

_LOG = logging.getLogger('lifted_reads')
_ANSWER = re.compile(r'<answer>\[(-?\d+\.\d+), (-?\d+\.\d+), (-?\d+\.\d+)\]')
LIFTED_Z_M = 0.05


def _flipped(true_m: float, said_m: float) -> bool:
    """``said_m`` is ``true_m`` with its sign flipped (within 1 cm), and the two are apart."""
    return abs(true_m) > 0.01 and abs(said_m + true_m) < 0.01 and abs(said_m - true_m) > 0.02


def split_by_height(rows: list[dict[str, Any]], records: list[dict[str, Any]]
                    ) -> dict[str, dict[str, Any]]:
    """Per place (``lifted`` / ``table or zone``): questions, L1 mean and median (cm), answers
    over 5 cm off, and sign flips of x and y."""
    out: dict[str, dict[str, Any]] = {}
    for row, rec in zip(rows, records):
        target = row['target_xyz_env_m']
        place = 'lifted' if target[2] > LIFTED_Z_M else 'table or zone'
        d = out.setdefault(place, {'n': 0, 'l1_cm': [], 'flip_x': 0, 'flip_y': 0})
        d['n'] += 1
        if rec['l1_cm'] is not None:
            d['l1_cm'].append(rec['l1_cm'])
        found = _ANSWER.search(rec['text'])
        if found:
            said = [float(v) for v in found.groups()]
            d['flip_x'] += _flipped(target[0], said[0])
            d['flip_y'] += _flipped(target[1], said[1])
    for d in out.values():
        errors = d.pop('l1_cm')
        d.update(l1_cm_mean=round(statistics.mean(errors), 2) if errors else None,
                 l1_cm_median=round(statistics.median(errors), 2) if errors else None,
                 over_5cm=sum(e > 5 for e in errors))
    return out


def main() -> int:
    """CLI (see the module docstring)."""
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', required=True)
    parser.add_argument('--dataset', required=True)
    parser.add_argument('--threads', type=int, default=1)
    args = parser.parse_args()

    from robot_r1_ros.training.eval_scoring import score_rows

    rows, completions = answer_object_questions(args.model, args.dataset, None, args.threads)
    for place, d in split_by_height(rows, score_rows(rows, completions)).items():
        _LOG.info('%s: %s', place, d)
    return 0


if __name__ == '__main__':
    sys.exit(main())
