"""``robot-r1 train``: GRPO on TRL's ``GRPOTrainer``, driven by a recipe YAML.

    robot-r1 train --recipe tiny_cpu [--model DIR] [--dataset DIR] --output-dir runs/grpo
                   [--max-steps N] [--no-resume] [--threads N]

The reward functions are the core's own objects (``core.rewards.get_reward_funcs``), weighted
as the recipe says (``GRPOConfig.reward_weights``); they read the dataset's ground-truth columns
(``task_kind``, ``answer_letter``, ``target_xyz_env_m``, ``target_gripper``), which TRL passes as
keyword arguments. The prompt column holds the exact chat messages ``core.prompts`` builds for
the reasoning node, and the image column the camera frame.

Output folder: ``checkpoint-N/`` (resumable; see :mod:`~robot_r1_ros.training.runlog`),
``log.jsonl`` (every logged step), ``tensorboard/`` (``tensorboard --logdir``), ``run_info.json``
(recipe, data, versions, commit) and, at the end, ``final/``: a self-contained checkpoint that
the reasoning node and ``robot-r1 eval`` load. Running the same command again resumes a killed
run at the step after its last checkpoint.

Multi-GPU (not runnable on the project's CPU machine)::

    accelerate launch --config_file config/train/accelerate_zero3.yaml \\
        -m robot_r1_ros.training.grpo --recipe paper_7b --dataset DATA --output-dir runs/p7b
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from robot_r1_ros.core.errors import RobotR1Error
from robot_r1_ros.training import common, runlog
from robot_r1_ros.training.recipe import (Recipe, build_grpo_config, build_lora_config,
                                          load_recipe)

_LOG = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a finished (or stopped) training run produced.

    Attributes:
        output_dir: The run folder.
        final_dir: The exported checkpoint (``output_dir/final``), or None when the run was
            stopped early by a signal (resume it to finish).
        global_step: Optimizer steps done in total.
        resumed_from: The checkpoint the run resumed from, or None.
        wall_s: Wall time of this invocation in seconds.
        stopped_early: True when a signal stopped the run before ``max_steps``.
    """

    output_dir: Path
    final_dir: Path | None
    global_step: int
    resumed_from: Path | None
    wall_s: float
    stopped_early: bool = False


def build_trainer(recipe: Recipe, output_dir: str | os.PathLike,
                  overrides: dict[str, Any] | None = None,
                  callbacks: Sequence[Any] = ()) -> Any:
    """A ready ``trl.GRPOTrainer`` for the recipe (model, processor, data, core rewards).

    The trainer carries two extra attributes: ``robot_r1_recipe`` and ``robot_r1_stop`` (the
    :class:`~robot_r1_ros.training.runlog.GracefulStopCallback`).

    Raises:
        ConfigError: Bad recipe, unknown reward name, missing model / dataset / split.
    """
    from robot_r1_ros.core.rewards import get_reward_funcs
    from robot_r1_ros.training.trainers import RobotR1GRPOTrainer

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    runlog.seed_everything(recipe.seed)
    reward_funcs = get_reward_funcs(recipe.reward_names)
    args = build_grpo_config(recipe, output_dir, overrides)
    train = common.load_split(recipe.data, recipe.data.train_split,
                              max_rows=recipe.data.max_train_samples, seed=recipe.seed)
    eval_rows = None
    strategy = getattr(args, 'eval_strategy', 'no')
    if str(getattr(strategy, 'value', strategy)) != 'no':
        # Held-out reward / accuracy during training (sampled, like training).
        eval_rows = common.load_split(recipe.data, recipe.data.eval_split,
                                      max_rows=recipe.data.max_eval_samples, seed=recipe.seed)
    processor = common.load_processor_for(recipe.model, padding_side='left')
    model = common.load_model(recipe.model)
    # TensorBoardCallback reads its folder from the environment when it is created.
    os.environ['TENSORBOARD_LOGGING_DIR'] = str(output_dir / 'tensorboard')
    stop = runlog.GracefulStopCallback()
    trainer = RobotR1GRPOTrainer(
        model=model, reward_funcs=reward_funcs, args=args, train_dataset=train,
        eval_dataset=eval_rows, processing_class=processor, peft_config=build_lora_config(recipe),
        callbacks=[runlog.JsonlLoggerCallback(output_dir / runlog.LOG_NAME, 'grpo'), stop,
                   *callbacks])
    trainer.robot_r1_recipe = recipe
    trainer.robot_r1_stop = stop
    _LOG.info('GRPO: %d training rows, rewards %s (weights %s), %s', len(train),
              recipe.reward_names, recipe.reward_weights,
              'LoRA' if recipe.lora else 'full fine-tune')
    return trainer


def run_info(recipe: Recipe, output_dir: Path, stage: str, **extra: Any) -> dict[str, Any]:
    """The provenance record written as ``run_info.json``."""
    import datasets
    import torch
    import transformers
    import trl
    return {
        'stage': stage,
        'recipe': recipe.to_dict(),
        'output_dir': str(output_dir),
        'git_commit': runlog.git_commit(),
        'versions': {'torch': torch.__version__, 'transformers': transformers.__version__,
                     'trl': trl.__version__, 'datasets': datasets.__version__,
                     'python': sys.version.split()[0]},
        'torch_threads': torch.get_num_threads(),
        'command': ' '.join(sys.argv),
        **extra,
    }


def run_trainer(trainer: Any, recipe: Recipe, output_dir: Path, stage: str,
                resume: bool = True) -> TrainResult:
    """Train (resuming from the newest complete checkpoint), then export ``final/``.

    Shared by GRPO and the SFT warm-up.
    """
    t0 = time.monotonic()
    checkpoint = runlog.find_resumable_checkpoint(output_dir) if resume else None
    if checkpoint is not None:
        _LOG.info('resuming from %s', checkpoint)
    info = run_info(recipe, output_dir, stage,
                    resumed_from=str(checkpoint) if checkpoint else None,
                    started_unix_s=time.time())
    runlog.write_json(output_dir / runlog.RUN_INFO_NAME, info)
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    stop = getattr(trainer, 'robot_r1_stop', None)
    stopped = bool(stop is not None and stop.requested)
    step = int(trainer.state.global_step)
    final_dir = None
    if not stopped:
        final_dir = common.export_checkpoint(
            trainer.model, recipe.model.path, output_dir / 'final', recipe.model,
            extra_files={'train_info.json': {**info, 'global_step': step,
                                             'finished_unix_s': time.time()}})
    info.update(global_step=step, wall_s=round(time.monotonic() - t0, 1),
                finished=not stopped, final_dir=str(final_dir) if final_dir else None)
    runlog.write_json(output_dir / runlog.RUN_INFO_NAME, info)
    return TrainResult(output_dir=output_dir, final_dir=final_dir, global_step=step,
                       resumed_from=checkpoint, wall_s=time.monotonic() - t0,
                       stopped_early=stopped)


def train(recipe: Recipe, output_dir: str | os.PathLike, *, resume: bool = True,
          overrides: dict[str, Any] | None = None, callbacks: Sequence[Any] = ()
          ) -> TrainResult:
    """Run GRPO for a recipe (see the module docstring for the output folder)."""
    output_dir = Path(output_dir)
    trainer = build_trainer(recipe, output_dir, overrides, callbacks)
    return run_trainer(trainer, recipe, output_dir, 'grpo', resume)


def add_common_arguments(parser: argparse.ArgumentParser, default_recipe: str) -> None:
    """Arguments shared by ``robot-r1 train`` and ``robot-r1 sft``."""
    parser.add_argument('--recipe', default=default_recipe,
                        help='recipe YAML, or the name of one in config/train/ '
                             f'(default: {default_recipe})')
    parser.add_argument('--model', help='override model.path (e.g. the SFT output/final)')
    parser.add_argument('--dataset', help='override data.path (robot-r1 dataset output)')
    parser.add_argument('--output-dir', required=True, help='run folder (resumed if present)')
    parser.add_argument('--max-steps', type=int, help='override max_steps')
    parser.add_argument('--save-steps', type=int, help='override save_steps')
    parser.add_argument('--no-resume', action='store_true',
                        help='start from scratch even if the run folder has checkpoints')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch default)')
    parser.add_argument('--log-level', default='INFO')


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """TRL config overrides from the shared command-line arguments."""
    out: dict[str, Any] = {}
    if args.max_steps is not None:
        out['max_steps'] = args.max_steps
    if args.save_steps is not None:
        out['save_steps'] = args.save_steps
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``robot-r1 train`` entry point."""
    parser = argparse.ArgumentParser(prog='robot-r1 train', description=__doc__.split('\n\n')[0])
    add_common_arguments(parser, 'tiny_cpu')
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    try:
        common.configure_threads(args.threads)
        recipe = load_recipe(args.recipe).with_paths(args.model, args.dataset)
        result = train(recipe, args.output_dir, resume=not args.no_resume,
                       overrides=overrides_from_args(args))
    except RobotR1Error as exc:
        print(f'robot-r1 train: error: {exc}', file=sys.stderr)
        return 2
    if result.stopped_early:
        print(f'stopped at step {result.global_step}; run the same command to resume')
        return 130
    print(f'done: {result.global_step} steps in {result.wall_s:.0f} s -> {result.final_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
