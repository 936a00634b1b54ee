"""``robot-r1 sft``: supervised warm-up (TRL ``SFTTrainer``) so a model follows the answer format.

    robot-r1 sft --recipe tiny_cpu [--model DIR] [--dataset DIR] --output-dir runs/sft
                 [--max-steps N] [--no-resume] [--threads N]

A random or small model never writes ``<think>...</think><answer>...</answer>``, so every GRPO
reward is 0, every advantage is 0 and GRPO has nothing to learn from. The warm-up trains on gold
completions (prompt-completion pairs, loss on the completion only): the reasoning is the row's
``gold_think`` column when the dataset has one, and the answer the canonical ``answer_text``, put
together by ``core.parsing.format_completion``. Same run folder layout, logs, checkpointing and
resume as ``robot-r1 train``; its ``final/`` is the ``--model`` of the GRPO run.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from robot_r1_ros.core.parsing import format_completion
from robot_r1_ros.training import common
from robot_r1_ros.training.grpo import TrainResult, run_trainer
from robot_r1_ros.training.recipe import Recipe
from robot_r1_ros.training.trl_configs import build_sft_config

_LOG = logging.getLogger(__name__)


def gold_completion(row: dict[str, Any], think: str = 'template') -> str:
    """The target completion of one dataset row.

    Args:
        row: A dataset row (``answer_text``, ``gold_think``).
        think: ``template`` uses the row's ``gold_think``; ``empty`` writes no reasoning.
    """
    reasoning = str(row.get('gold_think') or '') if think == 'template' else ''
    return format_completion(reasoning, str(row['answer_text']))


def to_sft_dataset(dataset: Any, think: str = 'template') -> Any:
    """Add the ``completion`` column (one assistant message) that ``SFTTrainer`` trains on."""
    def add(row: dict[str, Any]) -> dict[str, Any]:
        return {'completion': [{'role': 'assistant', 'content': gold_completion(row, think)}]}
    return dataset.map(add)


def build_trainer(recipe: Recipe, output_dir: str | os.PathLike,
                  overrides: dict[str, Any] | None = None, callbacks: Sequence[Any] = ()
                  ) -> Any:
    """A ready ``trl.SFTTrainer`` for the recipe's warm-up.

    Raises:
        ConfigError: The recipe has no ``sft`` section, or bad model / dataset.
    """
    from robot_r1_ros.training.trainers import RobotR1SFTTrainer

    output_dir = common.start_run(recipe, output_dir)
    args = build_sft_config(recipe, output_dir, overrides)
    rows = common.load_split(recipe.data, recipe.data.train_split,
                             max_rows=recipe.data.max_train_samples, seed=recipe.seed)
    train = to_sft_dataset(rows, recipe.data.sft_think)
    # Right padding for teacher forcing (the collator pads prompts left itself).
    processor = common.load_processor_for(recipe.model)
    model = common.load_model(recipe.model)
    trainer = common.make_trainer(RobotR1SFTTrainer, recipe, output_dir, 'sft', callbacks,
                                  model=model, args=args, train_dataset=train,
                                  processing_class=processor)
    _LOG.info('SFT: %d training rows', len(train))
    return trainer


def train(recipe: Recipe, output_dir: str | os.PathLike, *, resume: bool = True,
          overrides: dict[str, Any] | None = None, callbacks: Sequence[Any] = ()
          ) -> TrainResult:
    """Run the SFT warm-up of a recipe; ``final/`` is a checkpoint for GRPO."""
    output_dir = Path(output_dir)
    trainer = build_trainer(recipe, output_dir, overrides, callbacks)
    return run_trainer(trainer, recipe, output_dir, 'sft', resume)


def main(argv: Sequence[str] | None = None) -> int:
    """``robot-r1 sft`` entry point."""
    return common.training_main('robot-r1 sft', __doc__.split('\n\n')[0], train, argv)


if __name__ == '__main__':
    sys.exit(main())
