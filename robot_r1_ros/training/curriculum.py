"""Fast curriculum SFT for the small CPU model (issue 9: make the tiny model learn keypoints).

    python -m robot_r1_ros.training.curriculum --config config/train/learn_compare.yaml \
        --out outputs/learn/compare --threads 1

Why a separate loop: on 2 shared CPU cores, step *throughput* limits what a 0.3-5 M parameter
model learns (``small-model-learnability`` study). TRL's SFTTrainer re-runs the chat template,
the image processor and the collator every step; here every row is tokenised and its image
processed **once** (images are shared by the questions of one frame), so a step is only the
forward and backward pass. Prompts are the dataset's own ``prompt`` messages (the node's), so a
checkpoint trained here is evaluated by ``robot-r1 eval`` and run by the reasoning node unchanged.

What a config sets (``config/train/learn_*.yaml``):

- ``model``: the start checkpoint, optionally re-initialised with other text/vision dimensions
  (same tokenizer, chat template and processor: still a ``Qwen2_5_VLForConditionalGeneration``);
  ``model.vision_from`` puts another checkpoint's vision tower in (:func:`apply_tower_options`).
- ``think``: the reasoning the SFT targets contain (:func:`reasoning`, one of
  :data:`THINK_KINDS`: ``template`` is the dataset's ``gold_think``; ``compare``, ``plan`` and
  ``aim`` copy the options with verdicts; ``aim`` names what an open keypoint goes to).
- ``stages``: the curriculum: per stage the tasks, optional per-task sampling ``weights``
  (replay of earlier tasks), distractor kinds, learning rate and a CPU-time budget
  (``time.process_time``, so a neighbour on the other core does not shorten a stage), or a
  fixed number of ``steps`` where runs must compare step for step (a CPU budget buys fewer steps
  on a slower day).
  Besides the dataset's tasks a stage may draw ``aim_compare`` (with ``think: aim_pair``): the
  next-waypoint rows without their image, the aim stated in the prompt (``training.aim_compare``),
  and ``aim_follow``: the next-waypoint rows with a distractor stated as the aim, the verdicts
  and the answer following it, no loss on that aim (``training.aim_follow``).
- ``train.digit_loss_weight``: adds the number-token loss (``training.number_loss``, ordinal on
  the digits) times this weight to the cross-entropy; 0 (default) leaves it out.
- ``train.sign_loss_weight``: adds each number's sign as a two-way cross-entropy (``' -'`` against
  ``' '``, ``training.number_loss``) times this weight; 0 (default) leaves it out.
- ``train.word_loss_weight``: adds the cross-entropy at the reasoning's object words (``The
  **blue** cube is at``, copied from the question or the task; ``training.number_loss``) times
  this weight; 0 (default) leaves it out.
- ``train.gripper_word_loss_weight``: the same at the gripper words (``..., open.`` and the
  answer's ``open`` / ``closed``); 0 (default) leaves it out.
- ``train.verdict_loss_weight``: the same at a multiple-choice reasoning's verdicts (``A [..]
  [..] yes.``); 0 (default) leaves it out.
- ``train.letter_loss_weight``: the same at the option letters (``A``-``D``) a completion
  writes (``[0.107,-0.149] B.``, ``[[B]]``); 0 (default) leaves it out.
- ``train.freeze_vision``: the vision tower and merger take no gradient steps.
- ``train.compact_prompt``: this share of the batches (0-1) leaves out the prompt's constant
  lines, the other tokens at their full-prompt positions (``training.compact_prompt``; about
  half the CPU per step); the rest, evaluation and the node keep the full prompt.
- ``train.length_groups``: draw this many batches at once and cut their rows, sorted by length,
  into as many batches (``training.encoded.LengthGroups``): less padding, the same rows and
  task weights; 1 (default) serves the batches as drawn. Resume points fall between regroupings.
- ``vision_aux``: the vision stage's object-position readouts stay in the loss
  (``training.vision_aux``), so the tower keeps its map while the language model learns.
- ``grid_aux``: each image token's hidden state after one decoder layer must tell its own place
  in the image (``training.grid_aux``): the tiny model's rotary encoding cannot.
- ``bind_aux``: each object word's hidden state after one decoder layer must tell where that
  object is (``training.bind_aux``): the task's cube, not just a cube.
- ``model.aux_heads_from``: a run's ``aux_heads.pt``; the heads it holds start from it (a
  chain's later link: the readouts its model was trained with, not fresh ones).

Outputs under ``--out``: ``log.jsonl`` (loss, letter and quick greedy validation accuracy),
``final/`` (a checkpoint for ``robot-r1 eval`` / ``robot-r1 train``), ``run_info.json``,
``aux_heads.pt`` (the auxiliary heads, training-only, never in ``final/``), and
``resume/`` (model, optimiser, RNG and schedule position, written every
``train.checkpoint_every_cpu_s``): the same command continues a killed run from there.
``--workers N`` trains in N data-parallel processes (``training.workers``).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from robot_r1_ros.core.config import GenerationOptions
from robot_r1_ros.core.errors import ConfigError, RobotR1Error
from robot_r1_ros.training import common
from robot_r1_ros.training.curriculum_config import (LearnConfig, Stage,  # noqa: F401  (API)
                                                     load_config)
from robot_r1_ros.training.aim_compare import AIM_COMPARE
from robot_r1_ros.training.aim_follow import AIM_FOLLOW
from robot_r1_ros.training.encoded import Encoded, LengthGroups, stage_sampler  # noqa: F401  (API)
from robot_r1_ros.training.number_loss import (choice_letter_ids, completion_loss,
                                                 digit_token_ids, gripper_word_ids,
                                                 sign_token_pairs, verdict_word_ids)
from robot_r1_ros.training.recipe import ModelSpec
from robot_r1_ros.training.workers import SINGLE, Workers, launch, seed_worker_rngs, split_batch
# The SFT targets (reasoning kinds, gold completions) live in training.think_targets.
from robot_r1_ros.training.think_targets import (LETTERS, MC_TASKS,  # noqa: F401  (API)
                                                 FACT_KINDS, THINK_KINDS, completion, frame_facts,
                                                 reasoning)

_LOG = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ model
def word_loss_terms(cfg: LearnConfig, rows: Any, tokenizer: Any
                    ) -> list[tuple[list[int] | list[tuple[int, ...]], float]]:
    """The ``(token ids, weight)`` word losses of a run (``completion_loss``'s ``word_terms``):
    the object words the rows name (``train.word_loss_weight``), the gripper words
    (``train.gripper_word_loss_weight``), the verdicts (``train.verdict_loss_weight``) and the
    option letters (``train.letter_loss_weight``); a term with weight 0 has no ids.

    Raises:
        ConfigError: ``word_loss_weight`` is set but the rows' reasoning names no object.
    """
    word_ids: list[int] = []
    if cfg.word_loss_weight:
        from robot_r1_ros.training.bind_aux import object_word_ids
        word_ids = object_word_ids(rows, tokenizer)
        if not word_ids:
            raise ConfigError('word_loss_weight: the training rows name no object (their '
                              'reasoning states no "The <colour> <object> is at [..]")',
                              'word_loss_weight')
        _LOG.info('object-word loss on %d tokens: %s', len(word_ids),
                  tokenizer.convert_ids_to_tokens(word_ids))
    grip_ids = gripper_word_ids(tokenizer) if cfg.gripper_word_loss_weight else []
    verdict_ids = verdict_word_ids(tokenizer) if cfg.verdict_loss_weight else []
    letter_ids = choice_letter_ids(tokenizer) if cfg.letter_loss_weight else []
    return [(word_ids, cfg.word_loss_weight), (grip_ids, cfg.gripper_word_loss_weight),
            (verdict_ids, cfg.verdict_loss_weight), (letter_ids, cfg.letter_loss_weight)]


def describe_length(stages: Sequence[Stage]) -> str:
    """The stages' length for the log: CPU-minutes of the budgeted ones, steps of the pinned."""
    minutes = sum(s.cpu_minutes for s in stages)  # 0 for a pinned stage
    steps = sum(s.steps for s in stages)
    parts = ([f'{minutes:.1f} CPU-minutes'] if minutes or not steps else []) + (
        [f'{steps:,} steps'] if steps else [])
    return ' + '.join(parts)


def build_model(cfg: LearnConfig) -> Any:
    """The start model: the checkpoint, or a re-initialised one with the config's dims; then
    ``model.vision_from`` and ``train.freeze_vision`` applied (:func:`apply_tower_options`)."""
    spec = ModelSpec(path=cfg.model_path, image_min_pixels=cfg.image_pixels,
                     image_max_pixels=cfg.image_pixels)
    model = (_reinitialised(cfg) if cfg.text_dims or cfg.vision_dims
             else common.load_model(spec))
    return apply_tower_options(model, cfg.vision_from, cfg.freeze_vision)


def _reinitialised(cfg: LearnConfig) -> Any:
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    config = Qwen2_5_VLConfig.from_pretrained(cfg.model_path)
    for key, value in cfg.text_dims.items():
        setattr(config.text_config, key, value)
    for key, value in cfg.vision_dims.items():
        setattr(config.vision_config, key, value)
    config.vision_config.out_hidden_size = config.text_config.hidden_size
    head_dim = config.text_config.hidden_size // config.text_config.num_attention_heads
    quarter = head_dim // 2 // 4  # mrope_section must sum to head_dim / 2
    mrope = [head_dim // 2 - 2 * (3 * quarter // 2), 3 * quarter // 2, 3 * quarter // 2]
    config.text_config.rope_parameters = dict(config.text_config.rope_parameters or {},
                                              mrope_section=mrope)
    config.text_config.layer_types = ['full_attention'] * config.text_config.num_hidden_layers
    torch.manual_seed(cfg.seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig.from_pretrained(cfg.model_path)
    return model


def apply_tower_options(model: Any, vision_from: str, freeze: bool) -> Any:
    """Swap in another checkpoint's vision tower (with its merger) and/or freeze it.

    Why: the VLM stages blur a pre-trained tower (``experiments/tools/tower_probe.py``: a linear
    readout of the image tokens goes from 0.7 cm to 3-3.5 cm), so a stage can restore the
    pre-trained tower and keep it fixed while the language model learns to read it.

    Raises:
        ConfigError: ``vision_from`` is missing or its tower does not fit this model.
    """
    if vision_from:
        donor = common.load_model(ModelSpec(path=vision_from))
        try:
            model.model.visual.load_state_dict(donor.model.visual.state_dict())
        except RuntimeError as exc:
            raise ConfigError(f'the vision tower of {vision_from} does not fit the model '
                              f'({str(exc).splitlines()[0]})', 'model.vision_from') from exc
    for param in model.model.visual.parameters():
        param.requires_grad_(not freeze)
    return model


# ------------------------------------------------------------------------------ training
def train(cfg: LearnConfig, out: str | os.PathLike, workers: Workers = SINGLE) -> Path:
    """Run the curriculum; returns the ``final/`` checkpoint folder.

    With several ``workers`` (:func:`robot_r1_ros.training.workers.launch`) each process draws
    ``batch_size / workers`` rows a step and the gradients are averaged; the stages' budgets
    are the workers' CPU summed, and only the main worker logs, evaluates and writes.
    """
    import numpy as np
    import torch

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    spec = ModelSpec(path=cfg.model_path, image_min_pixels=cfg.image_pixels,
                     image_max_pixels=cfg.image_pixels)
    processor = common.load_processor_for(spec)
    eval_processor = common.load_processor_for(spec, padding_side='left')
    model = build_model(cfg)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    ds = common.load_dataset_dict(cfg.dataset)
    tasks = sorted({t for s in cfg.stages for t in s.tasks})
    aim_compare = AIM_COMPARE in tasks  # text-only rows built from the next-waypoint rows
    aim_follow = AIM_FOLLOW in tasks  # next-waypoint rows that follow a distractor's aim
    if aim_compare or aim_follow:
        tasks = sorted((set(tasks) - {AIM_COMPARE, AIM_FOLLOW}) | {'next_waypoint'})
    t0 = time.process_time()
    train_rows = common.select_rows(ds['train'], tuple(tasks), 'any')
    compactor = None
    if cfg.compact_prompt > 0:
        from robot_r1_ros.training.compact_prompt import build_compactor
        compactor = build_compactor(processor, train_rows, model)
    enc = Encoded(processor, train_rows, cfg.think, compactor, aim_compare, aim_follow, workers,
                  out / 'encoded_shares')
    encode_s = time.process_time() - t0
    _LOG.info('encoded %d rows, %d frames in %.0f s', len(enc.rows), len(enc.pixels), encode_s)
    budget = GenerationOptions().think_budget_tokens  # the node forces the answer after it
    long_think = sum(n > budget for n in enc.think_tokens)
    if long_think:  # reasoning the node would cut (E59)
        _LOG.warning('%d of %d rows reason longer than the node\'s %d-token budget (longest %d)',
                     long_think, len(enc.rows), budget, max(enc.think_tokens))
    # Quick eval: a fixed seeded subset of the validation split, per group.
    val_rows = common.per_group_subset(common.select_rows(ds['validation'], tuple(tasks), 'any'),
                                       cfg.eval_rows_per_group, cfg.seed)
    max_comp = max(len(r['comp_ids']) for r in enc.rows) + 8
    from robot_r1_ros.training.evaluate import quick_eval

    from robot_r1_ros.training.aux_heads import AuxHeads
    heads = AuxHeads(cfg, model, processor, train_rows)
    if heads.heads:
        _LOG.info('auxiliary losses: %s %s', sorted(heads.heads), heads.held_out())
    trainable = [p for p in model.parameters() if p.requires_grad]  # freeze_vision: no tower
    trainable += heads.parameters()
    opt = torch.optim.AdamW(trainable, lr=cfg.stages[0].learning_rate, betas=(0.9, 0.98),
                            weight_decay=cfg.weight_decay)
    per_worker = workers.per_worker(cfg.batch_size)
    pad_id = processor.tokenizer.pad_token_id
    digit_ids = digit_token_ids(processor.tokenizer) if (
        cfg.digit_loss_weight or cfg.sign_loss_weight) else []
    sign_pairs = sign_token_pairs(processor.tokenizer) if cfg.sign_loss_weight else []
    if cfg.sign_loss_weight and not sign_pairs:
        raise ConfigError('sign_loss_weight: this tokenizer has no sign tokens (" -" / " ")',
                          'sign_loss_weight')
    word_terms = word_loss_terms(cfg, train_rows, processor.tokenizer)
    # Where the schedule stands; ``resume/`` holds it with the weights, so a killed run goes on.
    pos = {'step': 0, 'stage': 0, 'stage_cpu_s': 0.0, 'stage_steps': 0, 'cpu_train': 0.0,
           'cpu_before': 0.0, 'compact_steps': 0}
    resume_dir = out / 'resume'
    state: dict[str, Any] = {}
    if (resume_dir / 'state.pt').is_file():
        state = torch.load(resume_dir / 'state.pt', weights_only=False)
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['optimizer'])
        heads.load_state_dict(state)
        random.setstate(state['python_rng'])
        np.random.set_state(state['numpy_rng'])
        torch.set_rng_state(state['torch_rng'])
        pos.update(state['position'])
        _LOG.info('resumed from %s at step %d (stage %d)', resume_dir, pos['step'], pos['stage'])
    if workers.world > 1:  # one start for all, then each worker its own batches
        workers.broadcast(list(model.parameters()) + heads.parameters())
        seed_worker_rngs(workers, cfg.seed, pos['step'], state.get('worker_rngs'))
    log = (out / 'log.jsonl').open('a', encoding='utf-8') if workers.main else None
    step = pos['step']
    # This process's CPU seconds; the run's totals (earlier processes of a resumed run, all
    # workers) are kept by the main worker, so a sum over the workers counts each once.
    cpu_train = pos['cpu_train'] if workers.main else 0.0
    cpu_before = pos['cpu_before'] if workers.main else 0.0
    compact_steps = pos['compact_steps']
    wall0 = time.time()

    def run_cpu() -> float:  # collective: every worker calls it at the same step
        return workers.sum(cpu_before + time.process_time() - t0)

    last_eval = last_ckpt = run_cpu()

    def write(rec: dict[str, Any]) -> None:
        if log is not None:
            log.write(json.dumps(rec) + '\n')
            log.flush()

    def save_resume(si: int, stage_cpu_s: float, stage_steps: int) -> None:
        # collective (the workers' RNG states and CPU): every worker calls it at the same step
        rngs = workers.gather((random.getstate(), np.random.get_state(), torch.get_rng_state()))
        position = {'step': step, 'stage': si, 'stage_cpu_s': stage_cpu_s,
                    'stage_steps': stage_steps, 'cpu_train': workers.sum(cpu_train),
                    'cpu_before': run_cpu(), 'compact_steps': compact_steps}
        if not workers.main:
            return
        tmp = out / '.resume.tmp'
        tmp.mkdir(exist_ok=True)
        torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(),
                    'python_rng': random.getstate(), 'numpy_rng': np.random.get_state(),
                    'torch_rng': torch.get_rng_state(), 'position': position,
                    'worker_rngs': rngs if workers.world > 1 else None,
                    **heads.state_dict()},
                   tmp / 'state.pt')
        if resume_dir.exists():
            shutil.rmtree(resume_dir)
        tmp.rename(resume_dir)  # atomic: a kill leaves the previous resume point intact

    for si, stage in enumerate(cfg.stages):
        if si < pos['stage']:
            continue
        resumed = si == pos['stage']
        draw = LengthGroups(stage_sampler(enc, stage, per_worker, si), enc.lengths,
                            cfg.length_groups, f'{cfg.seed}/{si}',
                            (pos['stage_steps'] if resumed else 0) // cfg.length_groups)
        budget = stage.cpu_minutes * 60.0
        # the stage's CPU (all workers) is the run's CPU since this start
        s_cpu0 = run_cpu() - (pos['stage_cpu_s'] if resumed else 0.0)
        s_step0 = step - (pos['stage_steps'] if resumed else 0)
        # Cosine schedule over the stage's steps: its ``steps``, else re-estimated from its pace.
        expected = None
        losses: list[float] = []
        while True:
            now = run_cpu()  # every worker calls it once a turn: it sums their clocks
            done = step - s_step0
            used = now - s_cpu0
            if (done >= stage.steps) if stage.steps else (used >= budget):
                break
            if stage.steps:
                expected = stage.steps
            elif done >= 20:
                expected = max(done + 1, int(budget / (used / done)))
            warm = min(1.0, (done + 1) / cfg.warmup_steps)
            frac = done / expected if expected else 0.0
            cosine = 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
            lr = stage.learning_rate * warm * (0.1 + 0.9 * cosine)
            for g in opt.param_groups:
                g['lr'] = lr
            # train.compact_prompt: this share of the batches without the constant lines
            compact = cfg.compact_prompt > 0 and random.random() < cfg.compact_prompt
            idx = draw()
            batch = enc.batch(idx, pad_id, compact)
            c0 = time.process_time()
            loss = completion_loss(model, batch, digit_ids, cfg.digit_loss_weight,
                                   sign_pairs, cfg.sign_loss_weight, word_terms)
            # the heads read the hidden states of the forward pass just run
            loss = loss + heads.loss(batch, idx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            workers.average_gradients(trainable)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            cpu_train += time.process_time() - c0
            step += 1
            compact_steps += compact
            losses.append(float(loss.detach()))
            if step % 10 == 0:  # every worker is at this step: the mean is over them all
                write({'step': step, 'stage': si, 'lr': lr, 'cpu_s': now,
                       'loss': workers.sum(sum(losses) / len(losses)) / workers.world,
                       'wall_s': time.time() - wall0, **heads.log_record()})
                losses = []
            # Evaluations: the main worker, on its own CPU clock (the others wait for it).
            if workers.main and now - last_eval > cfg.eval_every_cpu_s * workers.world:
                e0 = time.process_time()
                res = quick_eval(model, eval_processor, val_rows, max_comp)
                eval_cpu_s = time.process_time() - e0
                last_eval = now + eval_cpu_s
                res.update(heads.held_out())
                write({'step': step, 'stage': si, 'eval': res, 'eval_cpu_s': eval_cpu_s,
                       'cpu_s': last_eval})
                _LOG.info('step %d: %s', step, {k: v.get('accuracy', v)
                                                for k, v in res.items()})
            # only between regroupings: a resumed stage then draws as the run would have
            if now - last_ckpt > cfg.checkpoint_every_cpu_s * workers.world and draw.at_boundary:
                save_resume(si, now - s_cpu0, step - s_step0)
                last_ckpt = now
        # The next stage starts fresh (only the stage a resume point was taken in is part-done).
        pos.update(stage=si + 1, stage_cpu_s=0.0, stage_steps=0)
        save_resume(si + 1, 0.0, 0)
    cpu_train, encode_s = workers.sum(cpu_train), workers.sum(encode_s)
    # The other workers stop here (their CPU is counted now); the main one evaluates, exports.
    others_cpu = workers.sum(0.0 if workers.main else time.process_time() - t0)
    if not workers.main:
        heads.close()
        return out / 'final'
    res = quick_eval(model, eval_processor, val_rows, max_comp)
    res.update(heads.held_out())
    if heads.heads:  # training-only: beside final/, for a later link's model.aux_heads_from
        torch.save(heads.state_dict(), out / 'aux_heads.pt')
    heads.close()
    cpu_total = others_cpu + cpu_before + time.process_time() - t0
    write({'step': step, 'stage': len(cfg.stages) - 1, 'eval': res, 'final': True,
           'cpu_s': cpu_total})
    log.close()
    info = {'name': cfg.name, 'model_path': cfg.model_path, 'steps': step,
            'parameters': n_params,
            'cpu_minutes_total': cpu_total / 60, 'cpu_minutes_encode': encode_s / 60,
            'cpu_minutes_train_steps': cpu_train / 60,
            'samples_per_cpu_s': step * cfg.batch_size / max(cpu_train, 1e-9),
            'wall_minutes': (time.time() - wall0) / 60, 'final_quick_eval': res,
            'workers': workers.world,
            'think': cfg.think, 'stages': [vars(s) for s in cfg.stages],
            'text_dims': cfg.text_dims, 'vision_dims': cfg.vision_dims,
            'train_rows': len(enc.rows), 'frames': len(enc.pixels),
            'think_tokens_max': max(enc.think_tokens), 'rows_over_node_think_budget': long_think,
            'compact_prompt': {'share': cfg.compact_prompt, 'steps': compact_steps,
                               'rows': compactor.summary() if compactor else ''}}
    (out / 'run_info.json').write_text(json.dumps(info, indent=2, default=str) + '\n',
                                       encoding='utf-8')
    return common.export_checkpoint(model, cfg.model_path, out / 'final', spec,
                                    extra_files={'train_info.json': info})


def train_worker(workers: Workers, cfg: LearnConfig, out: str | os.PathLike) -> None:
    """One worker of a :func:`robot_r1_ros.training.workers.launch`-ed run of :func:`train`."""
    train(cfg, out, workers)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point."""
    p = argparse.ArgumentParser(prog='python -m robot_r1_ros.training.curriculum',
                                description=__doc__.split('\n\n')[0])
    p.add_argument('--config', required=True, help='learn_*.yaml path or name under config/train')
    p.add_argument('--out', required=True, help='run folder')
    p.add_argument('--dataset', default=None, help='override data.path')
    p.add_argument('--threads', type=int, default=1, help='torch threads per worker')
    p.add_argument('--workers', type=int, default=1,
                   help='data-parallel processes (each draws batch_size / workers rows a step)')
    p.add_argument('--log-level', default='INFO')
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    try:
        common.configure_threads(args.threads)
        cfg = load_config(args.config)
        if args.dataset:
            cfg.dataset = args.dataset
        split_batch(cfg.batch_size, args.workers)  # refused here, before any process starts
        launch(train_worker, args.workers, cfg, args.out, threads=args.threads,
               log_level=args.log_level)
        final = Path(args.out) / 'final'
    except RobotR1Error as exc:
        print(f'curriculum: error: {exc}', file=sys.stderr)
        return 2
    print(f'done -> {final}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
