"""Pieces shared by SFT, GRPO, evaluation and the benchmark: loading the model, the processor and
the dataset splits of a recipe, setting a trainer up with the run's logging, exporting a trained
model as a self-contained checkpoint, and the start and error exit of the command-line tools.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from robot_r1_ros.core.errors import ConfigError, RobotR1Error
from robot_r1_ros.training import runlog
from robot_r1_ros.training.recipe import DataSpec, ModelSpec, Recipe, load_recipe
from robot_r1_ros.training.trl_configs import build_lora_config

_LOG = logging.getLogger(__name__)

# Files of a checkpoint that describe the processor (tokenizer, chat template, image settings).
PROCESSOR_FILES = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
                   'vocab.json', 'merges.txt', 'added_tokens.json', 'chat_template.json',
                   'chat_template.jinja', 'preprocessor_config.json', 'processor_config.json')


def configure_threads(num_threads: int | None) -> None:
    """Pin torch's intra-op threads (the CPU is shared; tests and benches use 1)."""
    if num_threads is None:
        return
    import torch
    torch.set_num_threads(int(num_threads))


def configure_logging(log_level: str, timestamps: bool = False) -> None:
    """Log to stderr at ``log_level`` (a command-line tool's ``--log-level``)."""
    stamp = '%(asctime)s ' if timestamps else ''
    logging.basicConfig(level=log_level.upper(),
                        format=stamp + '%(levelname)s %(name)s: %(message)s')


def cli_error(prog: str, exc: Exception) -> int:
    """Report a command-line tool's error on stderr; returns its exit status (2)."""
    sys.stderr.write(f'{prog}: error: {exc}\n')
    return 2


def torch_dtype(name: str) -> Any:
    """``'float32'`` -> ``torch.float32`` (``'auto'`` passes through)."""
    import torch
    if name == 'auto':
        return 'auto'
    return {'float32': torch.float32, 'bfloat16': torch.bfloat16,
            'float16': torch.float16}[name]


def load_processor_for(spec: ModelSpec, padding_side: str | None = None) -> Any:
    """The processor of ``spec.path`` with the recipe's image bounds (``model.processor``)."""
    from robot_r1_ros.model.processor import load_processor
    return load_processor(spec.path, model_type=_model_type(spec.path),
                          min_pixels=spec.image_min_pixels, max_pixels=spec.image_max_pixels,
                          padding_side=padding_side,
                          local_files_only=Path(spec.path).exists())


def _model_type(path: str) -> str:
    config = Path(path) / 'config.json'
    if config.is_file():
        try:
            return str(json.loads(config.read_text(encoding='utf-8')).get('model_type',
                                                                         'qwen2_5_vl'))
        except ValueError:
            pass
    return 'qwen2_5_vl'


def load_model(spec: ModelSpec) -> Any:
    """The vision-language model of ``spec`` (``AutoModelForImageTextToText``), in train mode.

    Raises:
        ConfigError: The folder does not exist (and is not a hub id).
    """
    from transformers import AutoModelForImageTextToText
    path = Path(spec.path)
    if not path.exists() and (path.is_absolute() or str(spec.path).startswith('.')):
        raise ConfigError(f'model folder {spec.path} does not exist', 'model.path')
    kwargs: dict[str, Any] = {'dtype': torch_dtype(spec.dtype)}
    if spec.attn_implementation:
        kwargs['attn_implementation'] = spec.attn_implementation
    return AutoModelForImageTextToText.from_pretrained(spec.path, **kwargs)


def load_dataset_dict(path: str | os.PathLike) -> Any:
    """The ``DatasetDict`` written by ``robot-r1 dataset``.

    Raises:
        ConfigError: No dataset at ``path``.
    """
    from datasets import load_from_disk
    path = Path(path)
    if not (path / 'dataset_dict.json').is_file():
        raise ConfigError(f'no dataset at {path} (expected the output folder of '
                          '`robot-r1 dataset`, with dataset_dict.json)', 'data.path')
    return load_from_disk(str(path))


def select_rows(dataset: Any, tasks: tuple[str, ...] = (), distractor_kind: str = 'any',
                max_rows: int | None = None, seed: int = 0) -> Any:
    """Filter a split by task kind and distractor variant, then cap its size.

    Args:
        dataset: One split (``datasets.Dataset``).
        tasks: Task kind values to keep; empty keeps all.
        distractor_kind: ``random`` / ``hard`` keep the position questions of that variant
            plus every row without position distractors (movement, open-ended); ``any``
            keeps all rows.
        max_rows: Keep a seeded random subset of this size (None: all).
        seed: Seed of the subset.
    """
    kinds = set(tasks)
    if kinds or distractor_kind != 'any':
        def keep(task_kind: str, kind: str | None) -> bool:
            if kinds and task_kind not in kinds:
                return False
            # Movement and open-ended rows have no position distractors (kind ''): always kept.
            return distractor_kind == 'any' or not kind or kind == distractor_kind
        dataset = dataset.filter(keep, input_columns=['task_kind', 'distractor_kind'])
    if max_rows is not None and len(dataset) > max_rows:
        dataset = dataset.shuffle(seed=seed).select(range(max_rows))
    return dataset


def per_group_subset(dataset: Any, per_group: int, seed: int) -> Any:
    """A fixed seeded subset of a split with at most ``per_group`` rows of each
    ``task_kind/distractor_kind`` group (the curriculum's quick eval)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(dataset.select_columns(['task_kind', 'distractor_kind'])):
        groups.setdefault(f"{r['task_kind']}/{r['distractor_kind']}", []).append(i)
    keep: list[int] = []
    for key in sorted(groups):
        idx = groups[key]
        keep.extend(rng.choice(idx, min(per_group, len(idx)), replace=False).tolist())
    return dataset.select(sorted(keep))


def load_split(spec: DataSpec, split: str, *, distractor_kind: str | None = None,
               max_rows: int | None = None, seed: int = 0) -> Any:
    """One split of the recipe's dataset, filtered as the recipe says.

    Raises:
        ConfigError: Missing dataset or split, or nothing left after filtering.
    """
    dsd = load_dataset_dict(spec.path)
    if split not in dsd:
        raise ConfigError(f'dataset {spec.path} has no split {split!r}; it has '
                          f'{", ".join(dsd)}', 'data.train_split')
    rows = select_rows(dsd[split], spec.tasks,
                       spec.distractor_kind if distractor_kind is None else distractor_kind,
                       max_rows, seed)
    if len(rows) == 0:
        raise ConfigError(f'no rows left in split {split!r} of {spec.path} after filtering '
                          f'(tasks={list(spec.tasks)}, distractor_kind={spec.distractor_kind})',
                          'data.tasks')
    return rows


def export_checkpoint(model: Any, processor_source: str | os.PathLike, out_dir: str | os.PathLike,
                      spec: ModelSpec, extra_files: dict[str, Any] | None = None) -> Path:
    """Write a self-contained checkpoint that the reasoning node loads like the source one.

    The weights come from ``model`` (a LoRA model is merged first), the processor files are
    copied from ``processor_source`` (training never changes them), and the recipe's image
    bounds are written into ``preprocessor_config.json`` so that inference sees images at the
    resolution the model was trained on. Files are made world-readable (a node may run as
    another user).

    Args:
        model: The trained model (``PreTrainedModel`` or a peft model).
        processor_source: The checkpoint folder the run started from.
        out_dir: Destination (replaced if it exists).
        spec: The recipe's model spec (image bounds).
        extra_files: ``name -> JSON data`` written next to the weights (e.g. train_info.json).

    Returns:
        The output folder.
    """
    out = Path(out_dir)
    tmp = out.with_name(f'.{out.name}.tmp')
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if hasattr(model, 'merge_and_unload'):
        model = model.merge_and_unload()
    model.save_pretrained(tmp, safe_serialization=True)
    source = Path(processor_source)
    for name in PROCESSOR_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, tmp / name)
    _set_image_bounds(tmp / 'preprocessor_config.json', spec.image_min_pixels,
                      spec.image_max_pixels)
    for name, data in (extra_files or {}).items():
        text = runlog.repo_relative_text(json.dumps(data, indent=2, default=str) + '\n')
        (tmp / name).write_text(text, encoding='utf-8')
    for path in tmp.iterdir():
        path.chmod(0o644)
    tmp.chmod(0o755)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def _set_image_bounds(path: Path, min_pixels: int | None, max_pixels: int | None) -> None:
    if not path.is_file() or (min_pixels is None and max_pixels is None):
        return
    cfg = json.loads(path.read_text(encoding='utf-8'))
    for key, value, edge in (('min_pixels', min_pixels, 'shortest_edge'),
                             ('max_pixels', max_pixels, 'longest_edge')):
        if value is None:
            continue
        cfg[key] = int(value)
        if isinstance(cfg.get('size'), dict):
            cfg['size'][edge] = int(value)
    path.write_text(json.dumps(cfg, indent=2) + '\n', encoding='utf-8')


def model_size_bytes(folder: str | os.PathLike) -> int:
    """Total size of the weight files of a checkpoint folder."""
    return sum(p.stat().st_size for p in Path(folder).glob('*.safetensors'))


def start_run(recipe: Recipe, output_dir: str | os.PathLike) -> Path:
    """Create the run folder and seed every random generator from the recipe."""
    from robot_r1_ros.training import runlog
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    runlog.seed_everything(recipe.seed)
    return output_dir


def make_trainer(trainer_cls: type, recipe: Recipe, output_dir: Path, stage: str,
                 callbacks: Sequence[Any] = (), **trainer_kwargs: Any) -> Any:
    """A TRL trainer with the run's logging, LoRA from the recipe and a graceful stop.

    The trainer logs to TensorBoard (``output_dir/tensorboard``) and to the run's JSONL log, and
    carries two extra attributes: ``robot_r1_recipe`` and ``robot_r1_stop`` (the
    :class:`~robot_r1_ros.training.runlog.GracefulStopCallback`).

    Args:
        trainer_cls: The trainer class (a ``trl`` trainer subclass).
        recipe: The run's recipe (``lora`` section).
        output_dir: The run folder.
        stage: Stage name written into each log record (``sft``, ``grpo``).
        callbacks: Further trainer callbacks.
        **trainer_kwargs: The trainer's other arguments (model, args, datasets, processor...).
    """
    from robot_r1_ros.training import runlog
    # TensorBoardCallback reads its folder from the environment when it is created.
    os.environ['TENSORBOARD_LOGGING_DIR'] = str(output_dir / 'tensorboard')
    stop = runlog.GracefulStopCallback()
    trainer = trainer_cls(
        **trainer_kwargs, peft_config=build_lora_config(recipe),
        callbacks=[runlog.JsonlLoggerCallback(output_dir / runlog.LOG_NAME, stage), stop,
                   *callbacks])
    trainer.robot_r1_recipe = recipe
    trainer.robot_r1_stop = stop
    return trainer


def add_training_arguments(parser: argparse.ArgumentParser, default_recipe: str) -> None:
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
    """TRL config overrides from the shared training arguments."""
    out: dict[str, Any] = {}
    if args.max_steps is not None:
        out['max_steps'] = args.max_steps
    if args.save_steps is not None:
        out['save_steps'] = args.save_steps
    return out


def training_main(prog: str, description: str, train: Callable[..., Any],
                  argv: Sequence[str] | None = None) -> int:
    """The command line of ``robot-r1 train`` and ``robot-r1 sft`` (one training stage).

    Args:
        prog: Program name (usage and error lines).
        description: ``--help`` description.
        train: The stage's ``train(recipe, output_dir, *, resume, overrides)``, returning a
            ``TrainResult``.
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status: 0 done, 2 error, 130 stopped by a signal (run again to resume).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_training_arguments(parser, 'tiny_cpu')
    args = parser.parse_args(argv)
    configure_logging(args.log_level, timestamps=True)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    try:
        configure_threads(args.threads)
        recipe = load_recipe(args.recipe).with_paths(args.model, args.dataset)
        result = train(recipe, args.output_dir, resume=not args.no_resume,
                       overrides=overrides_from_args(args))
    except RobotR1Error as exc:
        return cli_error(prog, exc)
    if result.stopped_early:
        print(f'stopped at step {result.global_step}; run the same command to resume')
        return 130
    print(f'done: {result.global_step} steps in {result.wall_s:.0f} s -> {result.final_dir}')
    return 0
