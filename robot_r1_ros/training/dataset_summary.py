"""The summary ``robot-r1 dataset`` prints and stores: rows per split, task and distractor kind,
and the answer-letter balance."""
from __future__ import annotations

import collections
from typing import Any

from robot_r1_ros.core.parsing import OPTION_LETTERS


def summarize(dsd: Any) -> dict[str, Any]:
    """Per split: episodes, rows per task and distractor kind, answer-letter counts."""
    out: dict[str, Any] = {}
    for split, ds in dsd.items():
        cols = ds.select_columns(['task_kind', 'distractor_kind', 'answer_letter', 'episode_id',
                                  'task_name'])
        counts: dict[str, Any] = collections.defaultdict(lambda: collections.Counter())
        letters: dict[str, Any] = collections.defaultdict(lambda: collections.Counter())
        episodes = set()
        tasks = collections.Counter()
        for row in cols:
            key = row['task_kind'] + (f'/{row["distractor_kind"]}' if row['distractor_kind']
                                      else '')
            counts[row['task_kind']][row['distractor_kind'] or '-'] += 1
            if row['answer_letter']:
                letters[key][row['answer_letter']] += 1
            if row['episode_id'] not in episodes:
                tasks[row['task_name']] += 1
            episodes.add(row['episode_id'])
        out[split] = {
            'rows': len(ds), 'episodes': len(episodes), 'episodes_per_task': dict(tasks),
            'rows_per_task': {k: dict(v) for k, v in counts.items()},
            'letters': {k: {letter: v.get(letter, 0) for letter in OPTION_LETTERS}
                        for k, v in sorted(letters.items())},
        }
    return out


def format_summary(summary: dict[str, Any]) -> str:
    """The printed table: per split and task, rows and the answer-letter balance."""
    lines = []
    for split, s in summary.items():
        tasks = ', '.join(f'{k} {v}' for k, v in sorted(s['episodes_per_task'].items()))
        lines.append(f'{split}: {s["rows"]} rows from {s["episodes"]} episodes ({tasks})')
        lines.append(f'  {"task / distractors":<32} {"rows":>6}   A     B     C     D')
        for task, kinds in sorted(s['rows_per_task'].items()):
            for kind, n in sorted(kinds.items()):
                key = task + ('' if kind == '-' else f'/{kind}')
                let = s['letters'].get(key)
                bal = ('  '.join(f'{let[x] / max(n, 1):.2f}' for x in OPTION_LETTERS)
                       if let else '  (open-ended: no letters)')
                lines.append(f'  {key:<32} {n:>6}  {bal}')
    return '\n'.join(lines)
