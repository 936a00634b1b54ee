"""One command from nothing to a trained, evaluated checkpoint with its model card.

    python -m robot_r1_ros.training.pipeline --recipe tiny_cpu --work-dir outputs/tiny \\
        --checkpoint-dir checkpoints/robot-r1-tiny-grpo [--threads 1]

Stages (each resumes or is skipped when its output is complete, so the same command continues
a killed run):

1. ``demos``: the recipe's ``pipeline.episodes`` scripted-expert episodes of
   ``pipeline.task`` recorded to rosbag2 (``robot_r1_ros.sim.record``);
2. ``dataset``: ``robot-r1 dataset`` on them (``pipeline.frame_interval``, ``val_frac``,
   ``test_frac``; split seed = the recipe seed);
3. ``sft``: the warm-up from ``model.path`` (when the recipe has an ``sft`` section);
4. ``grpo``: GRPO from the SFT result;
5. ``eval``: ``robot-r1 eval`` on the test split with the reward curves and the closed loop;
6. ``export``: the GRPO checkpoint, its plots and a ``README.md`` model card in
   ``--checkpoint-dir``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

from robot_r1_ros.core.config import QAConfig, WorkspaceConfig
from robot_r1_ros.core.errors import ConfigError, RobotR1Error
from robot_r1_ros.training import common, evaluate, grpo, modelcard, runlog, sft
from robot_r1_ros.training.dataset import (DEFAULT_KEYFRAME_METHOD, BuildSettings,
                                           build_dataset)
from robot_r1_ros.training.recipe import Recipe, load_recipe

_LOG = logging.getLogger(__name__)


def _say(message: str) -> None:
    print(f'[pipeline {time.strftime("%H:%M:%S")}] {message}', flush=True)


def record_demos(recipe: Recipe, out: Path) -> None:
    """Stage 1: record the demos (finished bags are skipped)."""
    from robot_r1_ros.sim import record
    p = recipe.pipeline
    code = record.main(['--task', p.task, '--episodes', str(p.episodes), '--seed-offset',
                        str(p.seed_offset), '--out', str(out), '--no-progress'])
    if code not in (0, 1):  # 1: some expert episodes failed; they are left out of the data
        raise RobotR1Error(f'recording the demos failed (exit status {code})')


def make_dataset(recipe: Recipe, bags: Path, out: Path) -> dict:
    """Stage 2: the dataset (rebuilt only when missing)."""
    info_path = out / 'build_info.json'
    if info_path.is_file() and (out / 'dataset_dict.json').is_file():
        return json.loads(info_path.read_text())
    p = recipe.pipeline
    settings = BuildSettings(
        qa=QAConfig(frame_interval=p.frame_interval, keyframe_method=DEFAULT_KEYFRAME_METHOD,
                    seed=recipe.seed),
        workspace=WorkspaceConfig(), val_frac=p.val_frac, test_frac=p.test_frac,
        seed=recipe.seed)
    return build_dataset([bags], out, settings, overwrite=True)


def _finished(run_dir: Path) -> bool:
    info = run_dir / runlog.RUN_INFO_NAME
    return info.is_file() and bool(json.loads(info.read_text()).get('finished')) and \
        (run_dir / 'final' / 'config.json').is_file()


def run(recipe: Recipe, work: Path, checkpoint_dir: Path, command: str) -> Path:
    """All stages; returns the exported checkpoint folder."""
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    _say(f'1/6 demos: {recipe.pipeline.episodes} x {recipe.pipeline.task}')
    record_demos(recipe, work / 'demos')
    _say('2/6 dataset')
    info = make_dataset(recipe, work / 'demos', work / 'dataset')
    _say('dataset: ' + ', '.join(f'{s} {v["rows"]} rows' for s, v in info['splits'].items()))
    recipe = recipe.with_paths(data_path=work / 'dataset')
    stages: dict[str, Path] = {}
    start_model = Path(recipe.model.path)
    if recipe.sft is not None:
        stages['sft'] = work / 'sft'
        if not _finished(stages['sft']):
            _say('3/6 SFT warm-up')
            sft.train(recipe, stages['sft'])
        start_model = stages['sft'] / 'final'
    stages['grpo'] = work / 'grpo'
    if not _finished(stages['grpo']):
        _say('4/6 GRPO')
        result = grpo.train(recipe.with_paths(start_model), stages['grpo'])
        if result.stopped_early:
            raise RobotR1Error('GRPO was stopped; run the same command to resume')
    final = stages['grpo'] / 'final'
    _say('5/6 evaluation')
    p = recipe.pipeline
    report = evaluate.evaluate(
        final, work / 'dataset', work / 'eval',
        evaluate.EvalSettings(split='test', max_rows_per_group=p.eval_max_rows_per_group,
                              max_new_tokens=p.eval_max_new_tokens),
        run_dirs=list(stages.values()),
        closed_loop_settings=evaluate.ClosedLoopSettings(
            task=p.task, episodes=p.closed_loop_episodes,
            max_keypoints=p.closed_loop_max_keypoints, max_new_tokens=p.eval_max_new_tokens),
        progress=False)
    _say(f'6/6 export to {checkpoint_dir}')
    if checkpoint_dir.exists():
        shutil.rmtree(checkpoint_dir)
    shutil.copytree(final, checkpoint_dir)
    (checkpoint_dir / 'eval_report.json').write_text(
        json.dumps({k: v for k, v in report.items() if k != 'examples'}, indent=1,
                   default=str) + '\n')
    modelcard.write_model_card(checkpoint_dir, recipe, report, info, stages, work / 'eval',
                               command)
    size_mb = common.model_size_bytes(checkpoint_dir) / 1e6
    _say(f'done in {(time.monotonic() - t0) / 60:.1f} min: {checkpoint_dir} '
         f'({size_mb:.1f} MB of weights)')
    return checkpoint_dir


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog='python -m robot_r1_ros.training.pipeline',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--recipe', default='tiny_cpu')
    parser.add_argument('--work-dir', default='outputs/tiny',
                        help='demos, dataset, runs and evaluation (git-ignored outputs/)')
    parser.add_argument('--checkpoint-dir', default='checkpoints/robot-r1-tiny-grpo')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--log-level', default='WARNING')
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    command = 'python -m robot_r1_ros.training.pipeline ' + ' '.join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        common.configure_threads(args.threads)
        recipe = load_recipe(args.recipe)
        run(recipe, Path(args.work_dir), Path(args.checkpoint_dir), command)
    except (RobotR1Error, ConfigError) as exc:
        print(f'pipeline: error: {exc}', file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
