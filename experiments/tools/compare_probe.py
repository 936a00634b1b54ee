"""Issue 13: can the small language model learn to pick the option nearest a stated aim?

E74-E77 stated the aim of a hard next-waypoint question right and then judged the options as if
they had not read it, even on training questions. This probe takes the image out: the real hard
next-waypoint rows' options and current state, with the aim written into the prompt (the gold
target; an object aim moved up to ``--jitter-m`` in x-y, as a read from the image would be), and
trains the checkpoint's language model on one reasoning format alone. If a format is not learned
here, no scene run can teach it; if it is, the scene runs know what to write.

Formats (the reasoning; the answer is the row's ``[[X]]``):
- ``check``: ``A [x, y, z] no. B [x, y, z] yes. ...`` (E74's verdicts; the aim is tokens back);
- ``pair``: ``A [x,y] [ax,ay] no. ...``: the aim's x-y copied beside every option's, so each
  verdict compares two neighbouring numbers (the think kind ``aim_pair``'s verdicts);
- ``axis``: ``A x 0.211 0.107 y 0.136 -0.149 no. ...``: the same, one axis at a time;
- ``key``: ``[0.211,0.136] A. [0.107,-0.149] B. ... Next: [0.107,-0.149] B.``: every option's
  x-y with its letter after it, then the aim (exact: pass ``--jitter-m 0``) and its letter, an
  induction copy (the think kind ``aim_key``);
- ``key_cm``: ``key`` in whole centimetres, ``[21,14] A. ... Next: [11,-15] B.``, so the
  digits that tell close options apart sit right before each letter (the prompt's aim too);
- ``pair_cm``: ``pair`` in whole centimetres, ``A [21,14] [11,-15] no. ...``;
- ``lead_cm``: ``key_cm`` with each letter before its x-y, ``A [21,14]. B [11,-15]. ... Next:
  [11,-15] B.``: the entry whose digits match the aim's holds its letter already (a head looking
  a fixed few tokens back can carry it there), instead of one token after the match.

    python experiments/tools/compare_probe.py --model checkpoints/robot-r1-tiny-see \\
        --dataset outputs/recipe_see/dataset --format pair --cpu-minutes 12 --out outputs/probe/pair
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import time
from pathlib import Path
from typing import Any

_LOG = logging.getLogger('compare_probe')
LETTERS = 'ABCD'


def _f(v: float) -> str:
    return f'{v:.3f}'


def _xyz(v: Any) -> str:
    return '[' + ', '.join(_f(float(x)) for x in v) + ']'


def _parse(opt: str) -> list[float]:
    return [float(x) for x in opt.strip('[]').split(',')]


def _cm(v: Any) -> str:
    """``[11,-15]``: an x-y in whole centimetres."""
    return f'[{round(float(v[0]) * 100)},{round(float(v[1]) * 100)}]'


def aim_of(row: dict[str, Any], jitter_m: float, rng: random.Random | None) -> list[float]:
    """The stated aim: the gold target, an object aim moved in x-y (random per draw with ``rng``,
    else fixed per row) the way a read from the image would be."""
    from robot_r1_ros.core.geometry import xy_gap_m
    target = [float(v) for v in row['next_xyz_env_m']]
    if xy_gap_m(row['current_xyz_env_m'], target) <= 0.01:
        return target  # a gripper aim: the prompt states it exactly
    if rng is None:
        d = hashlib.sha256(f"{row['episode_id']}/{row['frame_index']}".encode()).digest()
        u = [d[0] / 255.0, d[1] / 255.0]
    else:
        u = [rng.random(), rng.random()]
    return [target[0] + (2 * u[0] - 1) * jitter_m, target[1] + (2 * u[1] - 1) * jitter_m,
            target[2]]


def texts(row: dict[str, Any], fmt: str, aim: list[float]) -> tuple[str, str]:
    """(prompt, completion) of one row in one format."""
    opts = list(row['options'])
    shown_aim = _cm(aim[:2]) if fmt in ('key_cm', 'pair_cm', 'lead_cm') else _xyz(aim)
    prompt = (f"Current gripper position: {_xyz(row['current_xyz_env_m'])} "
              f"({row['current_gripper']}).\nOptions:\n"
              + ''.join(f'[[{L}]] {o}\n' for L, o in zip(LETTERS, opts))
              + f'Aim: {shown_aim}.\nWhich option is the aim?')
    if fmt in ('key', 'key_cm', 'lead_cm'):
        show = _cm if fmt in ('key_cm', 'lead_cm') else (lambda v: f'[{_f(v[0])},{_f(v[1])}]')
        gold = _parse(opts[LETTERS.index(row['answer_letter'])])
        if fmt == 'lead_cm':
            listed = ' '.join(f'{L} {show(_parse(o))}.' for L, o in zip(LETTERS, opts))
        else:
            listed = ' '.join(f'{show(_parse(o))} {L}.' for L, o in zip(LETTERS, opts))
        think = f"{listed} Next: {show(gold)} {row['answer_letter']}."
        return prompt, f"<think>{think}</think><answer>{row['answer_text']}</answer>"
    parts = []
    for L, o in zip(LETTERS, opts):
        v = 'yes' if L == row['answer_letter'] else 'no'
        p = _parse(o)
        if fmt == 'check':
            parts.append(f'{L} {o} {v}.')
        elif fmt == 'pair':
            parts.append(f'{L} [{_f(p[0])},{_f(p[1])}] [{_f(aim[0])},{_f(aim[1])}] {v}.')
        elif fmt == 'pair_cm':
            parts.append(f'{L} {_cm(p)} {_cm(aim)} {v}.')
        elif fmt == 'axis':
            parts.append(f'{L} x {_f(p[0])} {_f(aim[0])} y {_f(p[1])} {_f(aim[1])} {v}.')
        else:
            raise ValueError(fmt)
    return prompt, f"<think>{' '.join(parts)}</think><answer>{row['answer_text']}</answer>"


def weighted_loss(model: Any, batch: dict[str, Any], letter_ids: Any, weight: float) -> Any:
    """Next-token cross-entropy over the labelled tokens, the option letters ``weight`` times
    (the curriculum's ``letter_loss_weight`` added on top of the mean, as there)."""
    import torch
    labels = batch['labels']
    out = model(input_ids=batch['input_ids'], attention_mask=batch['attention_mask'])
    logits, target = out.logits[:, :-1], labels[:, 1:]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                           target.reshape(-1), ignore_index=-100,
                                           reduction='none').view_as(target)
    seen = target != -100
    loss = ce[seen].mean()
    is_letter = torch.isin(target, letter_ids) & seen
    if weight != 1.0 and bool(is_letter.any()):
        loss = loss + weight * ce[is_letter].mean()
    return loss


def main() -> int:
    """CLI (see the module docstring)."""
    import torch
    from datasets import load_from_disk
    from transformers import Qwen2_5_VLForConditionalGeneration

    from robot_r1_ros.core.geometry import xy_gap_m
    from robot_r1_ros.core.parsing import parse_completion
    from robot_r1_ros.model.processor import load_processor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--dataset', required=True)
    ap.add_argument('--format', required=True, choices=('check', 'pair', 'axis', 'key',
                                                        'key_cm', 'pair_cm', 'lead_cm'))
    ap.add_argument('--cpu-minutes', type=float, default=12.0)
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--batch-size', type=int, default=16)
    ap.add_argument('--jitter-m', type=float, default=0.02)
    ap.add_argument('--eval-rows', type=int, default=120)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--letter-weight', type=float, default=1.0,
                    help='loss weight of the option letters the completion writes (1: plain)')
    ap.add_argument('--out', required=True, type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    torch.set_num_threads(1)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)

    ds = load_from_disk(args.dataset)

    def hard_rows(split: str) -> list[dict[str, Any]]:
        d = ds[split]
        keep = [i for i, (t, k) in enumerate(zip(d['task_kind'], d['distractor_kind']))
                if t == 'next_waypoint' and k == 'hard']
        return [d[i] for i in keep]
    cols = ('options', 'answer_letter', 'answer_text', 'current_xyz_env_m', 'current_gripper',
            'next_xyz_env_m', 'episode_id', 'frame_index')
    train = [{c: r[c] for c in cols} for r in hard_rows('train')]
    test = [{c: r[c] for c in cols} for r in hard_rows('test')]
    _LOG.info('%d train, %d test hard next-waypoint rows', len(train), len(test))

    proc = load_processor(args.model, local_files_only=True)
    tok = proc.tokenizer
    end_id = tok.convert_tokens_to_ids('<|im_end|>')
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(args.model,
                                                                dtype=torch.float32)

    def prompt_ids(prompt: str) -> list[int]:
        text = proc.apply_chat_template(
            [{'role': 'user', 'content': [{'type': 'text', 'text': prompt}]}],
            tokenize=False, add_generation_prompt=True)
        return tok(text, add_special_tokens=False)['input_ids']

    def batch(rows: list[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
        seqs, labs = [], []
        for r in rows:
            p, c = texts(r, args.format, aim_of(r, args.jitter_m, rng))
            pi, ci = prompt_ids(p), tok(c, add_special_tokens=False)['input_ids'] + [end_id]
            seqs.append(pi + ci)
            labs.append([-100] * len(pi) + ci)
        n = max(map(len, seqs))
        pad = tok.pad_token_id or 0
        ids = torch.full((len(rows), n), pad)
        lab = torch.full((len(rows), n), -100)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for j, (s, la) in enumerate(zip(seqs, labs)):
            ids[j, :len(s)], lab[j, :len(s)], mask[j, :len(s)] = (
                torch.tensor(s), torch.tensor(la), 1)
        return {'input_ids': ids, 'attention_mask': mask, 'labels': lab}

    def evaluate(rows: list[dict[str, Any]], tag: str) -> dict[str, Any]:
        model.eval()
        right = {'gripper': [0, 0], 'moves_xy': [0, 0]}
        letters = {L: 0 for L in LETTERS + '?'}
        example = ''
        with torch.no_grad():
            for r in rows:
                p, gold = texts(r, args.format, aim_of(r, args.jitter_m, None))
                ids = torch.tensor([prompt_ids(p)])
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                     max_new_tokens=200, do_sample=False)
                comp = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
                example = example or f'{comp}\n  gold: {gold}'
                try:
                    letter = parse_completion(comp).answer.strip('[] ')
                except ValueError:
                    letter = '?'
                letter = letter if letter in LETTERS else '?'
                letters[letter] += 1
                group = ('gripper' if xy_gap_m(r['current_xyz_env_m'], r['next_xyz_env_m'])
                         <= 0.01 else 'moves_xy')
                right[group][0] += int(letter == r['answer_letter'])
                right[group][1] += 1
        model.train()
        total = sum(v[0] for v in right.values()) / max(1, sum(v[1] for v in right.values()))
        res = {'tag': tag, 'accuracy': total, 'letters': letters,
               **{f'{g}_accuracy': v[0] / max(1, v[1]) for g, v in right.items()},
               **{f'{g}_n': v[1] for g, v in right.items()}, 'example': example}
        _LOG.info('%s: %.3f (gripper %.3f of %d, moves_xy %.3f of %d) %s', tag, total,
                  res['gripper_accuracy'], res['gripper_n'], res['moves_xy_accuracy'],
                  res['moves_xy_n'], letters)
        _LOG.info('example: %s', example)
        return res

    letter_ids = torch.tensor([tok.convert_tokens_to_ids(L) for L in LETTERS])
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    rng = random.Random(args.seed)
    t0, step, losses, results = time.process_time(), 0, [], []
    model.train()
    while time.process_time() - t0 < args.cpu_minutes * 60:
        for g in opt.param_groups:
            g['lr'] = args.lr * min(1.0, (step + 1) / 30)
        b = batch(rng.sample(train, args.batch_size), rng)
        loss = weighted_loss(model, b, letter_ids, args.letter_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
        step += 1
        if step % 50 == 0:
            _LOG.info('step %d loss %.4f cpu %.1f min', step, sum(losses[-50:]) / 50,
                      (time.process_time() - t0) / 60)
    cpu_min = (time.process_time() - t0) / 60
    results.append(evaluate(test[:args.eval_rows], 'test'))
    results.append(evaluate(train[:60], 'train'))
    (args.out / 'result.json').write_text(json.dumps(
        {'format': args.format, 'steps': step, 'cpu_minutes': cpu_min, 'model': args.model,
         'final_loss': sum(losses[-50:]) / max(1, len(losses[-50:])), 'results': results},
        indent=1))
    model.save_pretrained(args.out / 'final')
    proc.save_pretrained(args.out / 'final')  # so the probe's model loads as a checkpoint
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
