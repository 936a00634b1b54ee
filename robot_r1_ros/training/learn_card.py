"""The model card ``robot-r1 learn`` writes into the checkpoint it exports (``README.md``):
what the model is, the command that reproduces it, the recipe's stages with their CPU-minutes,
both held-out evaluations, the closed loop and the experiment table."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from robot_r1_ros.core.paths import REPO_ROOT, shipped_model_id
from robot_r1_ros.training import common, evaluate, runlog

if TYPE_CHECKING:
    from robot_r1_ros.training.learn import LearnRecipe

# The result tables of experiments/README.md sit between these markers; the card repeats them.
RESULT_MARKERS = (('<!-- experiments:begin -->', '<!-- experiments:end -->'),
                  ('<!-- see:begin -->', '<!-- see:end -->'))


def chain_table(recipe: LearnRecipe, runs: Sequence[Path]) -> str:
    """The card's table of the recipe's stages: vision, grow, each link; steps and CPU-min."""
    lines = ['| # | config | think | stages (tasks, CPU min, lr) | steps | CPU min |',
             '|---|---|---|---|---:|---:|']
    total_steps, total_cpu = 0, 0.0
    vision = runs[0].parent / '00_vision' / 'report.json' if runs else None
    if recipe.vision is not None and vision is not None and vision.is_file():
        rep = json.loads(vision.read_text())
        c = rep['config']
        total_steps += int(rep['steps'])
        total_cpu += float(rep['cpu_minutes'])
        lines.append(f"| 0 | vision stage | - | tower hidden {c['hidden']} depth {c['depth']}, "
                     f"{c['frames']} {c.get('frames_from', 'start')} frames, lr {c['lr']:g}; the "
                     f"language model of `{_repo_relative(c['base'])}` "
                     '(its own training not counted) | '
                     f"{rep['steps']:,} | {rep['cpu_minutes']:.1f} |")
    if recipe.grow is not None and runs and (runs[0].parent / '00_grow' / 'grow.json').is_file():
        lines.append(f'| 0 | grow | - | language model {recipe.grow.describe()}, new parts '
                     'silent | - | 0.0 |')
    for i, (name, run_dir) in enumerate(zip(recipe.chain, runs)):
        info = json.loads((run_dir / 'run_info.json').read_text())
        stages = '; '.join(
            f"{'+'.join(s['tasks'])} ({'/'.join(s['distractors'])}) "
            f"{_stage_length(s)} "
            f"lr {s['learning_rate']:g}" for s in info['stages'])
        total_steps += int(info['steps'])
        total_cpu += float(info['cpu_minutes_total'])
        lines.append(f"| {i + 1} | `{Path(name).stem}` | {info['think']} | {stages} | {info['steps']:,} | "
                     f"{info['cpu_minutes_total']:.1f} |")
    lines.append(f'| | **total** | | | **{total_steps:,}** | **{total_cpu:.1f}** |')
    return '\n'.join(lines)


def _experiments_table() -> str:
    doc = REPO_ROOT / 'experiments' / 'README.md'
    text = doc.read_text(encoding='utf-8') if doc.is_file() else ''
    return '\n\n'.join(text.split(begin, 1)[1].split(end, 1)[0].strip()
                       for begin, end in RESULT_MARKERS if begin in text and end in text)


def _repo_relative(path: str | os.PathLike) -> str:
    """``path`` relative to the repository when inside it (no machine paths in a card)."""
    resolved = Path(path).resolve()
    return (resolved.relative_to(REPO_ROOT).as_posix() if resolved.is_relative_to(REPO_ROOT)
            else Path(path).name)


def _default_note(checkpoint: Path) -> str:
    """Whether ``checkpoint`` is the node's default model (``config/franka.yaml``)."""
    default = shipped_model_id()
    if (REPO_ROOT / default).resolve() == checkpoint.resolve():
        return 'it is the reasoning node\'s and the demo\'s default'
    return (f'it is not the default (`config/franka.yaml` names `{default}`); '
            f'`ros2 launch robot_r1_ros franka.launch.py model:={_repo_relative(checkpoint)}` '
            'runs it')


def write_card(recipe: LearnRecipe, checkpoint: Path, runs: Sequence[Path],
               reports: dict[str, Any], command: str, target: Path | None = None) -> Path:
    """``README.md`` in ``checkpoint`` (a staging folder that becomes ``target``)."""
    free, cons = reports['free'], reports['constrained']
    size_mb = common.model_size_bytes(checkpoint) / 1e6
    parts = [
        f'# {recipe.name}', '',
        f'A {free["parameters"] / 1e6:.2f} M-parameter Qwen2.5-VL '
        '(`Qwen2_5_VLForConditionalGeneration`, the 7B\'s architecture at toy size) trained on '
        + ('this project\'s MuJoCo pick-and-place expert demos' if recipe.scenes is None else
           'the scripted expert\'s rollouts in randomised MuJoCo scenes')
        + ' to answer Robot-R1\'s keypoint '
        'questions. It loads through the same `from_pretrained` path as the 7B; '
        f'{_default_note(target or checkpoint)}. Weights: {size_mb:.1f} MB (safetensors).',
        '', '## Reproduce', '', '```bash', command, '```', '',
        (f'Without `--dataset` the command first records the demos and builds the dataset as '
         f'the `{recipe.data_recipe}` recipe says' if recipe.scenes is None else
         'Without `--dataset` the command first rolls out the scripted expert in randomised '
         f'scenes ({recipe.scenes.train_scenes} train, {recipe.scenes.validation_scenes} '
         f'validation, {recipe.scenes.test_scenes} test; disjoint seed ranges)')
        + '; every step resumes or is skipped when done.',
        '',
        f'Recipe: `{_repo_relative(recipe.source)}`. Chain of curriculum SFT runs '
        '(`robot_r1_ros.training.curriculum`, one torch thread per process, CPU minutes are '
        '`time.process_time`, summed over the processes):', '', chain_table(recipe, runs), '',
        '## Held-out evaluation (`robot-r1 eval`, test split, unseen episodes)', '',
        '### Free greedy decoding (format failures are the model\'s own)', '',
        f'Format failures overall: {free["overall"]["format_failure_rate"] * 100:.1f} %.', '',
        evaluate.markdown_tables(free), '',
        '### The reasoning node\'s constrained decoding (what a deployed node answers)', '',
        f'Format failures overall: {cons["overall"]["format_failure_rate"] * 100:.1f} %.', '',
        evaluate.markdown_tables(cons), '']
    if 'closed_loop' in cons:
        cl = cons['closed_loop']
        parts += ['## Closed loop in the MuJoCo scene', '',
                  evaluate.closed_loop_table(cl), '',
                  f'Controller: {cl["controller"]}; decoding: the reasoning node\'s '
                  '(constrained), open-ended keypoint question.', '']
        if cl.get('gif'):
            parts += [f'One episode (seed {cl["gif_seed"]}): the blue circle is the TCP, the '
                      'cross the predicted keypoint (green: executed, red: rejected).', '',
                      '![closed loop](closed_loop.gif)', '']
    table = _experiments_table()
    if table:
        parts += ['## Every experiment (from experiments/README.md)', '', table, '']
    parts += ['## Limits', '',
              '- Trained and evaluated only on this project\'s simulated pick-and-place scene '
              '(one camera, 112 x 112 input); it is a reference for the pipeline, not a model '
              'for a real robot.',
              '- Read the hard-distractor and closed-loop rows before relying on it: a model of '
              'this size learns what a plausible waypoint looks like sooner than where the cube '
              'is.', '']
    path = checkpoint / 'README.md'
    path.write_text(runlog.repo_relative_text('\n'.join(parts)), encoding='utf-8')
    return path


def _stage_length(stage: dict) -> str:
    """A stage's length as its config set it: ``N steps``, or its CPU-minute budget."""
    return f"{stage['steps']:,} steps" if stage.get('steps') else f"{stage['cpu_minutes']:g} min"
