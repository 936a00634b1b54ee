"""Throughput of answer parsing and the GRPO rewards (robot_r1_ros.core) on one CPU core.

Samples 10,000 distinct completions across the four tasks (canonical, wrong, sloppy-but-valid
and malformed answers; half as plain strings, half in TRL's conversational form; reasoning of
150-400 characters as in the paper's training curves), then times:

- parse: ``parse_completion`` + the task's answer parser, per completion;
- each reward alone over the batch, with an empty parse cache;
- all rewards of the default recipe on the same batch (cache emptied once, as one GRPO step).

Prints a table and writes bench/results/core_rewards.json. The target is > 20,000
completions/s for "all rewards", so scoring never limits GRPO.

    python bench/bench_core_rewards.py [--n 10000] [--repeats 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from robot_r1_ros.core import rewards  # noqa: E402
from robot_r1_ros.core.errors import AnswerFormatError  # noqa: E402
from robot_r1_ros.core.parsing import (OPTION_LETTERS, completion_text,  # noqa: E402
                                       format_open_keypoint, format_option, parse_answer,
                                       parse_completion)
from robot_r1_ros.core.types import TaskKind  # noqa: E402

TARGET_PER_S = 20_000
WORDS = ('the gripper is above the red cube so it should move down toward the table then close '
         'the fingers and lift the cube up before moving right to the yellow square').split()


def sample_completions(n: int, seed: int = 0) -> tuple[list, dict[str, list]]:
    """``n`` distinct completions and their ground-truth columns."""
    import random
    rng = random.Random(seed)
    kinds = list(TaskKind)
    completions: list = []
    columns: dict[str, list] = {'task_kind': [], 'answer_letter': [], 'target_xyz_env_m': [],
                                'target_gripper': []}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        think = ' '.join(rng.choice(WORDS) for _ in range(rng.randint(25, 70))) + f' #{i}'
        target = [round(rng.uniform(-0.4, 0.4), 3) for _ in range(3)]
        gripper = rng.choice(['open', 'closed'])
        letter = rng.choice(OPTION_LETTERS)
        roll = rng.random()
        if kind.is_multiple_choice:
            answer = format_option(letter if roll < 0.5 else rng.choice(OPTION_LETTERS))
            if 0.7 < roll < 0.8:
                answer = f' [[{answer[2].lower()}]] '  # sloppy but valid
            elif 0.8 < roll < 0.9:
                answer = '[[A]] [[B]]'  # ambiguous
        else:
            xyz = [v + rng.gauss(0, 0.05) for v in target]
            answer = format_open_keypoint(xyz, gripper if roll < 0.6 else 'open')
            if 0.8 < roll < 0.9:
                answer = answer.rsplit(' ', 1)[0]  # missing gripper word
        text = f'<think>{think}</think><answer>{answer}</answer>'
        if roll > 0.95:
            text = text.replace('<answer>', '')  # broken tags
        completions.append(text if i % 2 else [{'role': 'assistant', 'content': text}])
        columns['task_kind'].append(kind.value)
        columns['answer_letter'].append(letter if kind.is_multiple_choice else None)
        columns['target_xyz_env_m'].append(None if kind.is_multiple_choice else target)
        columns['target_gripper'].append(None if kind.is_multiple_choice else gripper)
    return completions, columns


def parse_all(completions: list, kinds: list[str]) -> int:
    ok = 0
    for completion, kind in zip(completions, kinds):
        try:
            parse_answer(kind, parse_completion(completion_text(completion)).answer)
            ok += 1
        except AnswerFormatError:
            pass
    return ok


def timed(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs (the cache is emptied before each)."""
    times = []
    for _ in range(repeats):
        rewards._parse_cached.cache_clear()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=10_000, help='completions to sample')
    parser.add_argument('--repeats', type=int, default=5, help='timed repetitions (median)')
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results' / 'core_rewards.json'))
    args = parser.parse_args(argv)
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core

    completions, columns = sample_completions(args.n)
    n = len(completions)
    rows = []
    valid = parse_all(completions, columns['task_kind'])
    rows.append(('parse (completion + answer)', timed(
        lambda: parse_all(completions, columns['task_kind']), args.repeats)))
    for name, func in rewards.REWARDS.items():
        rows.append((f'reward {name}', timed(lambda f=func: f(completions, **columns),
                                             args.repeats)))
    funcs = rewards.get_reward_funcs(rewards.DEFAULT_REWARDS)
    rows.append((f'all rewards ({", ".join(rewards.DEFAULT_REWARDS)})', timed(
        lambda: [f(completions, **columns) for f in funcs], args.repeats)))
    all_funcs = list(rewards.REWARDS.values())
    rows.append(('all 5 registered rewards', timed(
        lambda: [f(completions, **columns) for f in all_funcs], args.repeats)))

    width = max(len(r[0]) for r in rows)
    print(f'{n} completions ({valid} parse cleanly), median of {args.repeats}, 1 core, '
          f'Python {platform.python_version()}')
    print(f'{"step":<{width}}  {"seconds":>8}  {"completions/s":>14}')
    results = []
    for label, seconds in rows:
        per_s = n / seconds
        print(f'{label:<{width}}  {seconds:8.4f}  {per_s:14,.0f}')
        results.append({'step': label, 'seconds': seconds, 'completions_per_s': per_s})
    headline = n / rows[-2][1]
    verdict = 'meets' if headline > TARGET_PER_S else 'MISSES'
    print(f'default rewards: {headline:,.0f} completions/s ({verdict} the {TARGET_PER_S:,}/s '
          'target)')
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        'benchmark': 'core_rewards', 'n_completions': n, 'parse_ok': valid,
        'repeats': args.repeats, 'cores': 1, 'python': platform.python_version(),
        'machine': platform.machine(), 'target_completions_per_s': TARGET_PER_S,
        'default_rewards_completions_per_s': headline, 'rows': results,
    }, indent=2) + '\n')
    print(f'wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
