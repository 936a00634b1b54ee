"""Issue 13: does a closed loop's answer say what its reasoning planned?

The ``aim`` reasonings end with the plan, ``Next: the gripper at [x, y, z], closed.``, and the
answer should repeat it. This reads the closed loop of one or more ``robot-r1 eval`` reports
(``report.json`` with ``closed_loop.per_episode``) and counts, per report, the answers whose
position or gripper differs from the plan: those that differ only in the sign of one or more
coordinates, the others, and the failed episodes that hold one.

    python experiments/tools/answer_vs_plan.py outputs/recipe_see/e80_settle_cl50/report.json
"""
from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

_LOG = logging.getLogger('answer_vs_plan')
_XYZ = r'\[(-?\d+\.\d+), (-?\d+\.\d+), (-?\d+\.\d+)\]'
_PLAN = re.compile(r'Next: [^\[]*' + _XYZ + r', (open|closed)')
_ANSWER = re.compile(r'<answer>' + _XYZ + r' (open|closed)')


def compare(report: dict[str, Any]) -> dict[str, Any]:
    """Counts for one report: predictions with both a plan and an answer, how many differ
    (``sign_<axes>`` when only signs differ, else ``other``), and the failed episodes with one."""
    counts: dict[str, int] = {'predictions': 0, 'with_plan': 0, 'differ': 0}
    failed_with, failed = [], 0
    for episode in report['closed_loop']['per_episode']:
        failed += not episode['success']
        hit = False
        for prediction in episode['predictions']:
            counts['predictions'] += 1
            plan = _PLAN.search(prediction['completion'])
            answer = _ANSWER.search(prediction['completion'])
            if not (plan and answer):
                continue
            counts['with_plan'] += 1
            said, done = plan.groups(), answer.groups()
            if said == done:
                continue
            counts['differ'] += 1
            hit = True
            axes = [i for i in range(4) if said[i] != done[i]]
            only_sign = all(i < 3 and said[i].lstrip('-') == done[i].lstrip('-') for i in axes)
            kind = 'sign_' + ''.join('xyz'[i] for i in axes) if only_sign else 'other'
            counts[kind] = counts.get(kind, 0) + 1
        if hit and not episode['success']:
            failed_with.append(episode['seed'])
    return {**counts, 'episodes': len(report['closed_loop']['per_episode']),
            'failed': failed, 'failed_with_a_difference': failed_with}


def main() -> int:
    """CLI (see the module docstring)."""
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('reports', nargs='+', type=Path)
    args = parser.parse_args()
    for path in args.reports:
        _LOG.info('%s: %s', path, json.dumps(compare(json.loads(path.read_text()))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
