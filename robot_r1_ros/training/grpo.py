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

import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from robot_r1_ros.training import common, runlog
from robot_r1_ros.training.recipe import Recipe
from robot_r1_ros.training.trl_configs import build_grpo_config

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

    output_dir = common.start_run(recipe, output_dir)
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
    trainer = common.make_trainer(
        RobotR1GRPOTrainer, recipe, output_dir, 'grpo', callbacks, model=model,
        reward_funcs=reward_funcs, args=args, train_dataset=train, eval_dataset=eval_rows,
        processing_class=processor)
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


def main(argv: Sequence[str] | None = None) -> int:
    """``robot-r1 train`` entry point."""
    return common.training_main('robot-r1 train', __doc__.split('\n\n')[0], train, argv)


if __name__ == '__main__':
    sys.exit(main())
