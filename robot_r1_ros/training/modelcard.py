"""Model card (README.md) of a checkpoint trained by the pipeline: recipe, data, seed, metrics
with baselines and both distractor kinds, closed-loop success, curves, how to reproduce."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from robot_r1_ros.training import evaluate, runlog
from robot_r1_ros.training.common import model_size_bytes

PLOTS = ('reward_curve.png', 'accuracy_curve.png', 'per_task_accuracy.png',
         'letter_histogram.png')


def _stage_summary(run_dir: Path) -> dict[str, Any]:
    info_path = run_dir / runlog.RUN_INFO_NAME
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    logs = runlog.read_jsonl(run_dir / runlog.LOG_NAME)
    steps = [r for r in logs if 'train_runtime' not in r]
    out: dict[str, Any] = {'steps': info.get('global_step'), 'wall_s': info.get('wall_s')}
    ends = [r for r in logs if 'train_runtime' in r]
    if ends:
        out['train_runtime_s'] = ends[-1].get('train_runtime')
    if steps:
        tail = steps[-20:]
        for key in ('loss', 'reward', 'rewards/format_reward/mean',
                    'rewards/choice_accuracy_reward/mean', 'rewards/position_reward/mean',
                    'rewards/gripper_reward/mean', 'completions/mean_length'):
            vals = [r[key] for r in tail if isinstance(r.get(key), (int, float))]
            if vals:
                out[f'last20_{key}'] = sum(vals) / len(vals)
    return out


def _findings(report: dict[str, Any]) -> list[str]:
    """Plain-language findings computed from the report (collapse, baselines, format)."""
    mcq = [g for g in report['groups'].values() if 'accuracy' in g and not g.get('subgroup_of')]
    if not mcq:
        return []
    out = []
    total = sum(g['n'] for g in mcq)
    letters: dict[str, int] = {}
    for g in mcq:
        for letter, n in g['predicted_letters'].items():
            letters[letter] = letters.get(letter, 0) + n
    top, count = max(letters.items(), key=lambda kv: kv[1])
    if total and count / total >= 0.9:
        out.append(f'**Finding: constant-letter collapse.** The model answers `[[{top}]]` to '
                   f'{100.0 * count / total:.0f} % of the multiple-choice questions, so each '
                   'accuracy equals that letter\'s share of the group (the letters are balanced: '
                   'about 25 %). This is the failure mode the CPU learnability study predicted '
                   'for models of this size and training budget.')
    beaten = []
    for key, g in report['groups'].items():
        if 'accuracy' not in g:
            continue
        b = g['baselines']
        best = max(b['chance'], b['constant']['accuracy'], b['text_only'])
        if g['accuracy'] > best:
            beaten.append(key)
    out.append('Groups where the model beats every baseline: '
               + (', '.join(beaten) if beaten else 'none') + '.')
    out.append('')
    return out


def write_model_card(checkpoint: str | Path, recipe: Any, report: dict[str, Any],
                     dataset_info: dict[str, Any], stages: dict[str, Path],
                     eval_dir: str | Path, command: str) -> Path:
    """Write ``README.md`` (and copy the evaluation plots) into ``checkpoint``.

    Args:
        checkpoint: The exported checkpoint folder.
        recipe: The :class:`~robot_r1_ros.training.recipe.Recipe` of the run.
        report: ``robot-r1 eval``'s report of the checkpoint.
        dataset_info: ``build_info.json`` of the dataset.
        stages: ``{'sft': run_dir, 'grpo': run_dir}`` (present stages only).
        eval_dir: The evaluation folder (plots are copied from it).
        command: The one command that reproduces the checkpoint.

    Returns:
        The README path.
    """
    ckpt = Path(checkpoint)
    for name in PLOTS:
        if (Path(eval_dir) / name).is_file():
            shutil.copy2(Path(eval_dir) / name, ckpt / name)
    base_info = Path(recipe.model.path) / 'build_info.json'
    build = json.loads(base_info.read_text()) if base_info.is_file() else {}
    splits = dataset_info.get('splits', {})
    summary = dataset_info.get('summary', {})
    o = report['overall']
    stage_rows = []
    short = {'last20_loss': 'loss', 'last20_reward': 'total reward',
             'last20_rewards/format_reward/mean': 'format',
             'last20_rewards/choice_accuracy_reward/mean': 'choice accuracy',
             'last20_rewards/position_reward/mean': 'position',
             'last20_rewards/gripper_reward/mean': 'gripper',
             'last20_completions/mean_length': 'completion tokens'}
    for name, run_dir in stages.items():
        s = _stage_summary(Path(run_dir))
        detail = ', '.join(f'{label} {s[key]:.3f}' for key, label in short.items() if key in s)
        stage_rows.append(f'| {name} | {s.get("steps")} | '
                          f'{(s.get("wall_s") or 0) / 60:.1f} | {detail} |')
    letter_rows = [f'| {split} | {group} | ' + ' | '.join(str(c.get(x, 0)) for x in 'ABCD')
                   + ' |' for split, v in summary.items()
                   for group, c in (v.get('letters') or {}).items()]
    n_bags = len(dataset_info.get('bags', []))
    cl = report.get('closed_loop')
    params = report.get('parameters')
    size_mb = model_size_bytes(ckpt) / 1e6
    recipe_yaml = yaml.safe_dump(recipe.to_dict(), sort_keys=False, width=99)
    lines = [
        f'# robot-r1-tiny-grpo: `{recipe.name}`',
        '',
        'A tiny Qwen2.5-VL (`Qwen2_5_VLForConditionalGeneration`, '
        f'{params:,} parameters, {size_mb:.1f} MB of fp32 safetensors) trained by this '
        "project's pipeline from MuJoCo sim demonstrations only: SFT warm-up on the answer "
        'format, then GRPO (TRL) with the core rewards. It loads through the same code as '
        'Qwen2.5-VL-7B (`robot_r1_ros.model.load_reasoner`) and answers '
        '`<think>...</think><answer>...</answer>`.',
        '',
        '**What it is for:** a trained default for the demo and for exercising the whole path '
        '(prompt -> model -> parser -> executor) with a model that follows the answer format. '
        '**What it is not:** a policy to trust. Read every accuracy against the baselines '
        'beside it (the "accuracy minus best baseline" column); learning to pick the right '
        'keypoint is follow-up work. Never use it to move a real robot.',
        '',
        '## Held-out evaluation',
        '',
        f'`robot-r1 eval` on the `{report["split"]}` split: {report["n_rows"]} questions from '
        f'{len(report["episodes"])} episodes (seeds) never seen in training. Greedy decoding, '
        'no answer constraint. Format failures overall: '
        f'**{evaluate.pct(o["format_failure_rate"])}**'
        f'; mean reasoning length {evaluate.num(o["mean_think_chars"], ".0f")} characters.',
        '',
        'Baselines beside every accuracy: chance (1/4); the best *constant letter* of the group '
        '(a model stuck on one letter scores exactly this); a *text-only rule* that never sees '
        'the image (nearest-neighbour rules on the train split; with the paper\'s random '
        'distractors the answer is often recognisable from the text alone). "hard" distractors '
        'are same-phase positions of other training episodes.',
        '',
        evaluate.markdown_tables(report),
        '',
        *_findings(report),
    ]
    if cl:
        lines += ['### Closed loop in the MuJoCo scene', '',
                  evaluate.closed_loop_table(cl), '',
                  f'{cl["controller"]}; open-ended task, greedy decoding'
                  f'{" with" if cl.get("constrained_decoding") else " without"} constrained '
                  'decoding; seeds far from the demonstration seeds.', '']
    lines += ['## Curves', '']
    lines += [f'![{Path(p).stem}]({p})' for p in PLOTS if (ckpt / p).is_file()]
    lines += ['', '## Training', '',
              '| stage | steps | wall minutes | final values |', '|---|---:|---:|---|',
              *stage_rows, '',
              f'Data: {dataset_info.get("settings", {}).get("qa", {}).get("tasks")} questions '
              f'from {n_bags} scripted-expert `{recipe.pipeline.task}` demos recorded to '
              'rosbag2 in the MuJoCo scene, split by episode (fixed seed): '
              + ', '.join(f'{s} {len(v.get("episodes", []))} episodes / {v.get("rows")} rows'
                          for s, v in splits.items()) + '.',
              '',
              f'Seed: {recipe.seed}. Base model: the project\'s tiny random checkpoint '
              f'(`robot_r1_ros.model.build_tiny`, recipe '
              f'`{str(build.get("recipe_sha256", "?"))[:12]}`). Git commit of the run: '
              f'`{report.get("git_commit", "")}`.', '',
              'Answer letters of the questions (balanced by the QA builder):', '',
              '| split | group | A | B | C | D |', '|---|---|---:|---:|---:|---:|',
              *letter_rows, '',
              '## Recipe', '', '```yaml', recipe_yaml.rstrip(), '```', '',
              '## Reproduce', '', 'One command (records the demos, builds the dataset, runs SFT '
              'and GRPO, evaluates and writes this folder; every stage resumes if interrupted):',
              '', '```bash', command, '```', '']
    path = ckpt / 'README.md'
    path.write_text(runlog.repo_relative_text('\n'.join(lines)), encoding='utf-8')
    return path
