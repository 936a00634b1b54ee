"""Training throughput of the curriculum SFT loop (issue 9's recipe) on this CPU: samples/s.

    source scripts/env.sh
    python bench/bench_curriculum.py --recipe recipe_learn --dataset outputs/tiny/dataset
    python bench/bench_curriculum.py --config learn_compare --dataset outputs/tiny/dataset
    python bench/bench_curriculum.py --config see_aim_pos --config see_aim_aux \
        --out bench/results/curriculum_vision_aux.json    # the cost of vision_aux
    python bench/bench_curriculum.py --config experiments/configs/see_primed_cm.yaml \
        --length-groups 1 --length-groups 8 --out bench/results/curriculum_length_groups.json
    python bench/bench_curriculum.py --config experiments/configs/see_mm_frames_full.yaml \
        --model outputs/recipe_mm_frames/00_grow --vision-aux-batch 16 --vision-aux-batch 8 \
        --out bench/results/curriculum_vision_aux_batch.json   # vision_aux frames a step

For every stage of every curriculum config of the learn recipe's chain (or of one ``--config``):
encodes ``--rows`` training rows of the stage's tasks once (as the run does), then times
``--steps`` optimiser steps of ``batch_size`` rows drawn as the run draws them (per-task
weights included) after 2 warm-up steps, through ``robot_r1_ros.training.curriculum`` (one
torch thread unless ``--threads``). A chain link whose start checkpoint is not on this machine
(``outputs/`` of an earlier link) is timed on ``models/tiny-qwen2.5-vl``: the same architecture,
so the same cost per step. With ``--vision`` (or a recipe that has a ``vision`` section) the
vision pre-training stage is timed too: a short real run of ``training.vision_pretrain`` on
``--vision-frames`` rendered scenes (its settings from the recipe, else the stage's defaults),
one sample = one image; a recipe's ``grow`` step is applied to the first link's start as
``robot-r1 learn`` does, so every stage is timed on the model it trains. Prints samples per
CPU-second and per wall-second per stage (the CPU is shared: the load average is recorded beside them) and writes bench/results/curriculum.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TOKENIZERS_PARALLELISM', 'false')


def bench_stage(cfg, stage, args) -> dict:
    """Time ``args.steps`` steps of one stage; returns the result row."""
    import torch

    from robot_r1_ros.training import common
    from robot_r1_ros.training.curriculum import (Encoded, LengthGroups, build_model,
                                                  stage_sampler, word_loss_terms)
    from robot_r1_ros.training.number_loss import (completion_loss, digit_token_ids,
                                                   sign_token_pairs)
    from robot_r1_ros.training.recipe import ModelSpec

    load0 = os.getloadavg()[0]
    spec = ModelSpec(path=cfg.model_path, image_min_pixels=cfg.image_pixels,
                     image_max_pixels=cfg.image_pixels)
    processor = common.load_processor_for(spec)
    rows = common.select_rows(common.load_dataset_dict(cfg.dataset)['train'], stage.tasks, 'any')
    rows = rows.shuffle(seed=0).select(range(min(args.rows, len(rows))))
    model = build_model(cfg)
    compactor = None
    if cfg.compact_prompt > 0:  # the run's compact prompts (training.compact_prompt)
        from robot_r1_ros.training.compact_prompt import build_compactor
        compactor = build_compactor(processor, rows, model)
    c0 = time.process_time()
    enc = Encoded(processor, rows, cfg.think, compactor)
    encode_cpu_s = time.process_time() - c0
    random.seed(0)
    # the run's batches: regrouped by length when the config says so (train.length_groups)
    draw = LengthGroups(stage_sampler(enc, stage, cfg.batch_size), enc.lengths,
                        cfg.length_groups, 'bench')
    model.train()
    # The run's auxiliary losses (vision_aux, grid_aux, bind_aux): part of every step of it.
    from robot_r1_ros.training.aux_heads import AuxHeads
    heads = AuxHeads(cfg, model, processor, rows)
    opt = torch.optim.AdamW(list(model.parameters()) + heads.parameters(),
                            lr=stage.learning_rate)
    pad = processor.tokenizer.pad_token_id
    digits = digit_token_ids(processor.tokenizer) if (
        cfg.digit_loss_weight or cfg.sign_loss_weight) else []
    signs = sign_token_pairs(processor.tokenizer) if cfg.sign_loss_weight else []
    words = word_loss_terms(cfg, rows, processor.tokenizer)
    tokens = padded = 0
    for i in range(args.steps + 2):
        if i == 2:
            c0, w0, tokens, padded = time.process_time(), time.perf_counter(), 0, 0
        idx = draw()
        batch = enc.batch(idx, pad, cfg.compact_prompt > 0 and
                          random.random() < cfg.compact_prompt)
        # the run's own step loss (training.number_loss.completion_loss)
        loss = completion_loss(model, batch, digits, cfg.digit_loss_weight, signs,
                               cfg.sign_loss_weight, words)
        loss = loss + heads.loss(batch, idx)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tokens += int(batch['attention_mask'].sum())
        padded += int(batch['attention_mask'].numel())
    cpu_s, wall_s = time.process_time() - c0, time.perf_counter() - w0
    samples = args.steps * cfg.batch_size
    return {
        'config': cfg.name, 'tasks': list(stage.tasks), 'weights': stage.weights,
        'think': cfg.think, 'batch_size': cfg.batch_size, 'compact_prompt': cfg.compact_prompt,
        'length_groups': cfg.length_groups, 'padding_share': 1.0 - tokens / max(padded, 1),
        'vision_aux_batch': cfg.vision_aux.batch_size if cfg.vision_aux else 0,
        'grid_aux': bool(cfg.grid_aux), 'bind_aux': bool(cfg.bind_aux),
        'word_loss_weight': cfg.word_loss_weight,
        'gripper_word_loss_weight': cfg.gripper_word_loss_weight,
        'parameters': sum(p.numel() for p in model.parameters()), 'steps': args.steps,
        'samples_per_cpu_s': samples / cpu_s, 'samples_per_wall_s': samples / wall_s,
        's_per_step_cpu': cpu_s / args.steps, 'tokens_per_cpu_s': tokens / cpu_s,
        'encode_ms_per_row_cpu': 1000 * encode_cpu_s / max(len(enc.rows), 1),
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'threads': args.threads, 'load_avg_start': load0, 'load_avg_end': os.getloadavg()[0],
        'torch': torch.__version__,
    }


def with_vision_aux_batches(cfg, batches: list[int] | None) -> list:
    """``cfg`` once per ``vision_aux.batch_size`` in ``batches`` (``cfg`` itself when none).

    Raises:
        SystemExit: ``batches`` given for a config without ``vision_aux``.
    """
    if not batches:
        return [cfg]
    if cfg.vision_aux is None:
        raise SystemExit(f'--vision-aux-batch: {cfg.name} has no vision_aux')
    return [dataclasses.replace(cfg, vision_aux=dataclasses.replace(cfg.vision_aux,
                                                                    batch_size=b))
            for b in batches]


def bench_vision(settings: dict, args, out: Path, base: str) -> dict:
    """Time the vision stage: a real ``vision_pretrain`` run of ``args.vision_cpu_s`` into
    ``out`` (its ``final/`` has the recipe's tower: the next stages are timed on it)."""
    from robot_r1_ros.training import vision_pretrain

    fields = {**settings, 'frames': args.vision_frames, 'test_frames': 8,
              'cpu_minutes': args.vision_cpu_s / 60, 'checkpoint_minutes': 1e6}
    cfg = vision_pretrain.VisionPretrainConfig(base=base, **fields)
    load0 = os.getloadavg()[0]
    t0 = time.time()
    report = vision_pretrain.train(cfg, out)
    wall = time.time() - t0
    step_s = report['cpu_minutes'] * 60 / max(report['steps'], 1)
    return {'config': 'vision stage', 'tasks': ['object positions (rendered scenes)'],
            'samples_per_cpu_s': report['frames_per_cpu_s'],
            'samples_per_wall_s': report['steps'] * cfg.batch_size / max(wall, 1e-9),
            's_per_step_cpu': step_s, 'tokens_per_cpu_s': 0.0, 'steps': report['steps'],
            'batch_size': cfg.batch_size, 'tower': f'hidden {cfg.hidden} depth {cfg.depth}',
            'digit_weight': cfg.digit_weight, 'load_avg_start': load0,
            'load_avg_end': os.getloadavg()[0],
            'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    """Run the benchmark, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--recipe', default=None, help='learn recipe (all chain links)')
    parser.add_argument('--config', action='append', default=None,
                        help='a curriculum config (repeat to time several in one run)')
    parser.add_argument('--dataset', default=None, help='override data.path')
    parser.add_argument('--model', default=None,
                        help="time every link on this checkpoint (e.g. a recipe's 00_grow)")
    parser.add_argument('--rows', type=int, default=256)
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--vision', action='store_true',
                        help='also time the vision stage (always, when the recipe has one)')
    parser.add_argument('--vision-frames', type=int, default=64)
    parser.add_argument('--vision-cpu-s', type=float, default=20.0)
    parser.add_argument('--length-groups', type=int, action='append', default=None,
                        help='time every stage with this train.length_groups (repeat to '
                             'compare in one run; default: the config\'s own)')
    parser.add_argument('--vision-aux-batch', type=int, action='append', default=None,
                        help="time every stage with this vision_aux.batch_size (frames per "
                             "process a step; repeat to compare in one run)")
    parser.add_argument('--out', type=Path,
                        default=REPO / 'bench' / 'results' / 'curriculum.json')
    args = parser.parse_args()

    import torch

    from robot_r1_ros.training.curriculum import load_config
    from robot_r1_ros.training.learn import load_learn_recipe

    torch.set_num_threads(args.threads)
    vision = {} if args.vision else None
    if args.config:
        names, title = args.config, ' + '.join(args.config)
    else:
        recipe = load_learn_recipe(args.recipe or 'recipe_learn')
        names, title = recipe.chain, recipe.name
        if recipe.vision is not None:
            vision = dict(recipe.vision)
    tmp = Path(tempfile.mkdtemp(prefix='bench_curriculum_'))
    try:
        # the vision stage starts from the first link's model, as in robot-r1 learn
        base = load_config(names[0]).model_path
        if not (Path(base) / 'config.json').is_file():
            base = str(REPO / 'models' / 'tiny-qwen2.5-vl')
        results = [bench_vision(vision, args, tmp / 'vision', base)] if vision is not None \
            else []
        start = tmp / 'vision' / 'final' if vision is not None else None
        if not args.config and recipe.grow is not None:  # the first link's model, grown
            from robot_r1_ros.training.grow_lm import grow
            grow(start or Path(base), recipe.grow, tmp / 'grow')
            start = tmp / 'grow'
        for index, name in enumerate(names):
            cfg = load_config(name)
            if args.dataset:
                cfg.dataset = args.dataset
            if args.model:
                cfg.model_path = args.model
            if index == 0 and start is not None:   # as robot-r1 learn starts its first link
                cfg.model_path = str(start)
            if vision is not None and cfg.vision_aux is not None:  # the timed stage's files
                cfg.vision_aux = dataclasses.replace(
                    cfg.vision_aux, frames=str(tmp / 'vision' / 'frames.npz'),
                    heads=str(tmp / 'vision' / 'heads.pt'))
            if not (Path(cfg.model_path) / 'config.json').is_file():
                cfg.model_path = str(REPO / 'models' / 'tiny-qwen2.5-vl')
            for stage in cfg.stages:
                for groups in args.length_groups or [cfg.length_groups]:
                    for timed in with_vision_aux_batches(
                            dataclasses.replace(cfg, length_groups=groups),
                            args.vision_aux_batch):
                        results.append(bench_stage(timed, stage, args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'curriculum training throughput: {title} (1 row = 1 question; CPU-s = process time)')
    print(f"{'config':<22} {'tasks':<48} {'samples/CPU-s':>13} {'samples/wall-s':>14} "
          f"{'CPU-s/step':>10} {'tokens/CPU-s':>12} {'groups':>6} {'padding':>7} {'aux':>4} "
          f"{'load':>9}")
    for r in results:
        tasks = '+'.join(t.replace('next_waypoint', 'nw').replace('current_state', 'cs')
                         .replace('open_keypoint', 'open') for t in r['tasks'])
        print(f"{r['config']:<22} {tasks:<48} {r['samples_per_cpu_s']:>13.1f} "
              f"{r['samples_per_wall_s']:>14.1f} {r['s_per_step_cpu']:>10.3f} "
              f"{r['tokens_per_cpu_s']:>12.0f} {r.get('length_groups', 1):>6} "
              f"{r.get('padding_share', 0.0):>7.1%} {r.get('vision_aux_batch', 0):>4} "
              f"{r['load_avg_start']:>4.1f}-{r['load_avg_end']:.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({'recipe': title, 'stages': results}, indent=2) + '\n',
                        encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main())
