"""``robot-r1 eval``: held-out accuracy with baselines, open-ended L1, format failures, closed
loop.

    robot-r1 eval --model runs/tiny/grpo/final --dataset outputs/dataset --out runs/tiny/eval
                  [--split test] [--tasks ...] [--max-rows-per-group N] [--batch-size 16]
                  [--run-dir runs/tiny/sft runs/tiny/grpo] [--closed-loop-episodes 10]

Offline part, on one split of a ``robot-r1 dataset`` folder (held-out episodes: ``test``):

- every row's prompt (the node's exact messages) and image go through the checkpoint with
  greedy decoding and *no* answer constraint, so format failures are the model's own
  (``--constrained``: the reasoning node's answer-constrained decoding instead, to measure what
  a deployed node answers);
- scoring uses the training rewards themselves (``core.rewards``: ``format``,
  ``choice_accuracy``, ``position``, ``gripper``) and ``core.parsing``;
- per task and distractor kind (the paper's random ones and hard same-phase ones): accuracy,
  format-failure rate, mean reasoning length, the histogram of predicted letters, and the
  baselines of :mod:`~robot_r1_ros.training.baselines` (chance, best constant letter, text-only
  rule fitted on the train split); for the open-ended task the L1 error in cm and the gripper
  accuracy next to the text-only rule.

Closed-loop part (``--closed-loop-episodes N``): the MuJoCo scene, fixed seeds that no
recorded demo used, the reasoner the reasoning node uses (``model.reasoner.load_reasoner``) on
the open-ended task, and the executor node's logic (``motion.GoalExecutor`` +
``motion.DirectBackend``) moving the arm to each predicted keypoint (see :func:`closed_loop`);
the scripted expert's success on the same seeds stands beside it; ``--closed-loop-gif PATH``
writes one episode as an annotated GIF (camera frames, predicted keypoint, outcome).

Outputs in ``--out``: ``report.json`` (everything), ``report.md`` (the tables), and PNG plots:
``per_task_accuracy.png`` (bars with baselines), ``letter_histogram.png``, and, with
``--run-dir``, ``reward_curve.png`` and ``accuracy_curve.png`` from the runs' ``log.jsonl``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from robot_r1_ros.core.errors import ConfigError, RobotR1Error
from robot_r1_ros.core.types import TaskKind
from robot_r1_ros.training import baselines, common, image_gap, runlog, seeds
# The parts (scoring, closed loop, report) live in their own modules; their public names are
# re-exported here, where callers of ``robot-r1 eval``'s functions look for them.
from robot_r1_ros.training.closed_loop import ClosedLoopSettings, closed_loop  # noqa: F401
from robot_r1_ros.training.eval_report import (closed_loop_table, markdown_report,  # noqa: F401
                                               markdown_tables, num, pct, report_examples,
                                               training_curves, write_plots)
from robot_r1_ros.training.eval_scoring import (INVALID, META_COLUMNS, OPEN,  # noqa: F401
                                                NODE_GENERATION, EvalSettings, generate_completions, group_key,
                                                load_eval_model, mean_or_none,
                                                open_keypoint_by_phase, score_rows,
                                                select_eval_rows, states_current, summarize_groups)

def evaluate(model_dir: str | os.PathLike, dataset_dir: str | os.PathLike,
             out_dir: str | os.PathLike, settings: EvalSettings | None = None,
             run_dirs: Sequence[str | os.PathLike] = (),
             closed_loop_settings: ClosedLoopSettings | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Run the evaluation and write ``report.json``, ``report.md`` and the plots.

    Raises:
        ConfigError: Missing model, dataset or split.
    """
    settings = settings or EvalSettings()
    t0 = time.monotonic()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dsd = common.load_dataset_dict(dataset_dir)
    if settings.split not in dsd:
        raise ConfigError(f'dataset {dataset_dir} has no split {settings.split!r}; it has '
                          f'{", ".join(dsd)}', 'split')
    if 'train' not in dsd:
        raise ConfigError(f'dataset {dataset_dir} has no train split (the text-only baseline '
                          'is fitted on it)', 'split')
    eval_ds = select_eval_rows(dsd[settings.split], settings)
    if len(eval_ds) == 0:
        raise ConfigError(f'no rows to evaluate in split {settings.split!r}', 'tasks')
    rows = eval_ds.select_columns(list(META_COLUMNS)).to_list()
    rules = baselines.TextOnlyRules.fit(
        dsd['train'].select_columns(list(META_COLUMNS)).to_list())
    model, processor = load_eval_model(model_dir, settings)
    t_gen = time.monotonic()
    def answer(ds: Any) -> list[dict[str, Any]]:
        return generate_completions(model, processor, ds, settings.batch_size,
                                    settings.max_new_tokens, progress,
                                    constrained=settings.constrained,
                                    think_budget_tokens=settings.think_budget_tokens)

    completions = answer(eval_ds)
    gen_s = time.monotonic() - t_gen
    records = score_rows(rows, completions)
    groups = summarize_groups(rows, records, rules)
    gaps = None
    if settings.image_gap:
        donors = dsd['train'].select_columns(['image', 'episode_id'])
        variant_groups = {v: summarize_groups(rows, score_rows(rows, answer(
            image_gap.swap_images(eval_ds, v, settings.seed, donors=donors))), rules)
            for v in image_gap.VARIANTS}
        gaps = {'table': image_gap.gap_table(groups, variant_groups), 'groups': variant_groups}
    report: dict[str, Any] = {
        'model': str(model_dir), 'dataset': str(dataset_dir), 'split': settings.split,
        'settings': settings.__dict__ | {'tasks': list(settings.tasks)},
        'episodes': sorted({r['episode_id'] for r in rows}),
        'n_rows': len(rows),
        'overall': {
            'format_failure_rate': 1.0 - float(np.mean([r['format_ok'] for r in records])),
            'mean_think_chars': mean_or_none(r['think_chars'] for r in records),
            'generated_tokens': int(sum(r['tokens'] for r in records)),
            'generate_s': round(gen_s, 2),
        },
        'groups': groups,
        'open_keypoint_by_phase': open_keypoint_by_phase(records),
        'image_gap': gaps,
        'seed_ranges': {'train': dict(seeds.TRAIN_SEEDS), 'eval': dict(seeds.EVAL_SEEDS)},
        'examples': [{'group': r['group'], 'completion': r['text'][:300]}
                     for r in report_examples(records)],
        # What the format failures look like (truncated, degenerate copy, ...): the first 10.
        'format_failure_examples': [{'group': r['group'], 'completion': r['text'][-300:]}
                                    for r in records if not r['format_ok']][:10],
        'parameters': int(sum(p.numel() for p in model.parameters())),
        'git_commit': runlog.git_commit(),
    }
    del model
    if run_dirs:
        report['curves'] = training_curves(run_dirs)
    if closed_loop_settings is not None and closed_loop_settings.episodes > 0:
        report['closed_loop'] = closed_loop(model_dir, closed_loop_settings, progress)
    report['plots'] = write_plots(report, out)
    report['wall_s'] = round(time.monotonic() - t0, 1)
    runlog.write_json(out / 'report.json', report)
    (out / 'report.md').write_text(markdown_report(report), encoding='utf-8')
    return report


# ------------------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    """Command-line arguments of ``robot-r1 eval``."""
    p = argparse.ArgumentParser(prog='robot-r1 eval', description=__doc__.split('\n\n')[0])
    p.add_argument('--model', required=True, help='checkpoint folder (e.g. a run\'s final/)')
    p.add_argument('--dataset', required=True, help='robot-r1 dataset output folder')
    p.add_argument('--out', required=True, help='report folder')
    p.add_argument('--split', default='test')
    p.add_argument('--tasks', default='', help='comma-separated task kinds (default: all)')
    p.add_argument('--max-rows-per-group', type=int, default=None)
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--max-new-tokens', type=int, default=NODE_GENERATION.max_new_tokens,
                   help='token cap (default: the reasoning node\'s generation.max_new_tokens)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--constrained', dest='constrained', action='store_true',
                   default=NODE_GENERATION.constrained,
                   help='decode with the reasoning node\'s answer constraint (the node\'s '
                        'default, and this command\'s)')
    p.add_argument('--free', dest='constrained', action='store_false',
                   help='free greedy decoding, so format failures are the model\'s own')
    p.add_argument('--no-image-gap', dest='image_gap', action='store_false',
                   help='skip answering with another episode\'s image and a blank image')
    p.add_argument('--run-dir', nargs='*', default=[],
                   help='training run folders (log.jsonl) for the reward / accuracy curves')
    p.add_argument('--closed-loop-episodes', type=int, default=0,
                   help='closed-loop episodes in the sim (0: skip)')
    p.add_argument('--closed-loop-task', default='pick_place')
    p.add_argument('--closed-loop-seed-offset', type=int,
                   default=seeds.EVAL_SEEDS['closed_loop'][0],
                   help='first closed-loop seed (must not be a training seed)')
    p.add_argument('--closed-loop-max-keypoints', type=int, default=10)
    p.add_argument('--closed-loop-constrained', dest='closed_loop_constrained',
                   action='store_true', default=NODE_GENERATION.constrained,
                   help='constrained decoding in the closed loop (the node default, and this '
                        'command\'s)')
    p.add_argument('--closed-loop-free', dest='closed_loop_constrained', action='store_false',
                   help='free decoding in the closed loop')
    p.add_argument('--follow-episodes', type=int, default=10,
                   help='of the closed-loop seeds, this many also get the cube-follow probe '
                        '(the task\'s cube moved between two first-keypoint questions; 0: skip)')
    p.add_argument('--closed-loop-gif', default=None, metavar='PATH',
                   help='write one closed-loop episode as an annotated GIF')
    p.add_argument('--closed-loop-gif-episode', type=int, default=0,
                   help='which episode (0-based, in seed order) the GIF shows')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--log-level', default='WARNING')
    return p


def quick_eval(model: Any, processor: Any, rows: Any, max_new_tokens: int) -> dict[str, Any]:
    """The curriculum's quick evaluation: greedy accuracy, format failures, letter histogram
    and (position answers) L1 in cm per task/distractor group, scored as ``robot-r1 eval``
    scores."""
    was_training = model.training
    model.eval()
    comps = generate_completions(model, processor, rows, batch_size=32,
                                 max_new_tokens=max_new_tokens, progress=False)
    if was_training:
        model.train()
    out: dict[str, Any] = {}
    l1: dict[str, list[Any]] = {}
    for row, rec in zip(rows, score_rows(list(rows), comps)):
        key = f"{row['task_kind']}/{row['distractor_kind'] or '-'}"
        g = out.setdefault(key, {'n': 0, 'correct': 0, 'format_fail': 0,
                                 'letters': {c: 0 for c in 'ABCD-'}})
        g['n'] += 1
        g['format_fail'] += int(not rec['format_ok'])
        letter = rec['pred_letter']
        g['letters'][letter if letter not in (None, INVALID) else '-'] += 1
        g['correct'] += int(bool(rec['format_ok'] and rec['correct']))
        l1.setdefault(key, []).append(rec['l1_cm'])
    for key, g in out.items():
        g['accuracy'] = g['correct'] / max(g['n'], 1)
        if any(v is not None for v in l1[key]):
            g['l1_cm_mean'] = mean_or_none(l1[key])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``robot-r1 eval`` entry point; prints the markdown tables."""
    args = build_parser().parse_args(argv)
    common.configure_logging(args.log_level)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    try:
        common.configure_threads(args.threads)
        tasks = tuple(TaskKind.parse(t).value for t in args.tasks.split(',') if t.strip())
        settings = EvalSettings(split=args.split, tasks=tasks,
                                max_rows_per_group=args.max_rows_per_group,
                                batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                                seed=args.seed, constrained=args.constrained,
                                image_gap=args.image_gap)
        cl = None
        shared = [s for s in range(args.closed_loop_seed_offset,
                                   args.closed_loop_seed_offset + args.closed_loop_episodes)
                  if seeds.is_training_seed(s)]
        if shared:
            raise ConfigError(f'closed-loop seeds {shared[0]}.. are training seeds '
                              f'(training.seeds.TRAIN_SEEDS); use seeds from '
                              f'{seeds.EVAL_SEEDS["closed_loop"]}', 'closed_loop_seed_offset')
        if args.closed_loop_episodes > 0:
            cl = ClosedLoopSettings(task=args.closed_loop_task,
                                    episodes=args.closed_loop_episodes,
                                    seed_offset=args.closed_loop_seed_offset,
                                    max_keypoints=args.closed_loop_max_keypoints,
                                    max_new_tokens=args.max_new_tokens,
                                    constrained=args.closed_loop_constrained,
                                    gif_path=args.closed_loop_gif,
                                    gif_episode=args.closed_loop_gif_episode,
                                    follow_episodes=min(args.follow_episodes,
                                                        args.closed_loop_episodes))
        report = evaluate(args.model, args.dataset, args.out, settings, args.run_dir, cl,
                          progress=not args.no_progress)
    except (RobotR1Error, ValueError) as exc:
        return common.cli_error('robot-r1 eval', exc)
    print(markdown_tables(report))
    if report.get('image_gap'):
        print()
        print(image_gap.markdown(report['image_gap']['table']))
    if 'closed_loop' in report:
        print()
        print(closed_loop_table(report['closed_loop']))
    print(f'\nreport: {Path(args.out) / "report.md"} ({report["wall_s"]} s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

