"""Where the letter after a right aim goes wrong: hard next-waypoint questions, the node's decoding.

    python experiments/tools/letter_attention.py --model RUN/final --dataset DATASET \
        --rows 100 --out letter_attention.json

Generates the answers of the first ``--rows`` hard next-waypoint questions of the test split (the
evaluation's seeded subsample, constrained decoding, the node's token budgets) and reports:

- how many state the right aim (``think_targets.implied_letter``), how many answer right, by the
  gold letter and by whether the answer leaves the gripper's x-y (``moves_xy``);
- with the model's own reasoning fed back up to the space before the letter after its aim (eager
  attention), the share of rows in which each layer's heads, from that last position, put the
  most weight on the listing entry of the gold option (an entry: its ``[x,y]`` and its letter),
  and the weight all four entries get. A head that looks the letter up would pick the gold entry
  in nearly every row whose aim is right; chance is about one in four.

Session 41 (``experiments/issue13_full.md``): E128 stated the right aim in 100 of 100 hard
questions and answered 46; no head at the letter's position picked the gold entry above chance.
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

_LOG = logging.getLogger('letter_attention')
LETTERS = 'ABCD'
_AIM_RE = re.compile(r'(Next: .*?\]) ([A-D])\.')


def generate(model_dir: str, dataset_dir: str, rows: int
             ) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The hard questions (with images), the processor and one record per question: gold
    letter, options, the reasoning's text, whether it answered right and whether the answer
    moves in x-y."""
    from robot_r1_ros.training import common
    from robot_r1_ros.training.eval_scoring import (EvalSettings, generate_completions,
                                                    load_eval_model, score_rows,
                                                    select_eval_rows, subgroup_key)
    settings = EvalSettings(tasks=('next_waypoint',), max_rows_per_group=rows)
    test = select_eval_rows(common.load_dataset_dict(dataset_dir)['test'], settings)
    hard = test.filter(lambda r: r['distractor_kind'] == 'hard')
    meta = hard.remove_columns(['image']).to_list()
    model, processor = load_eval_model(model_dir, settings)
    completions = generate_completions(model, processor, hard, settings.batch_size,
                                       settings.max_new_tokens, False,
                                       constrained=settings.constrained,
                                       think_budget_tokens=settings.think_budget_tokens)
    records = []
    for row, rec in zip(meta, score_rows(meta, completions)):
        records.append({'gold': row['answer_letter'], 'options': row['options'],
                        'text': rec['text'], 'correct': bool(rec['correct']),
                        'aim_correct': rec.get('aim_correct'),
                        'moves_xy': subgroup_key(row) is not None})
    return hard, processor, records


def attention(model_dir: str, processor: Any, hard: Any,
              records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per layer and head: rows whose most-attended listing entry is the gold one, and the
    mean weight on the four entries, from the position before the letter after the aim."""
    import numpy as np
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        model_dir, attn_implementation='eager').eval()  # eager: the weights are returned
    tok = processor.tokenizer
    letter_ids = [tok.encode(x)[0] for x in LETTERS]
    picks: dict[str, list[bool]] = collections.defaultdict(list)
    mass: dict[str, list[float]] = collections.defaultdict(list)
    for i, rec in enumerate(records):
        match = _AIM_RE.search(rec['text'])
        if match is None or not rec['aim_correct']:
            continue
        row = hard[i]
        text = processor.apply_chat_template(row['prompt'], tokenize=False,
                                             add_generation_prompt=True)
        enc = processor(text=[text + rec['text'][:match.end(1)] + ' '],
                        images=[[row['image']]], return_tensors='pt')
        ids = enc['input_ids'][0].tolist()
        start = max(j for j, t in enumerate(ids) if tok.decode([t]) == '<think')
        ends = {}
        for j in range(start, len(ids)):  # each listed letter, first time it is written
            if ids[j] in letter_ids:
                ends.setdefault(LETTERS[letter_ids.index(ids[j])], j)
        if len(ends) != len(LETTERS):
            continue
        spans, begin = [], start + 1
        for x in LETTERS:
            spans.append((begin, ends[x] + 1))
            begin = ends[x] + 1
        gold = LETTERS.index(rec['gold'])
        with torch.inference_mode():
            out = model(**enc, output_attentions=True)
        for layer, weights in enumerate(out.attentions):
            last = weights[0, :, -1, :]  # heads x positions
            for head in range(last.shape[0]):
                per_entry = [float(last[head, a:b].sum()) for a, b in spans]
                key = f'layer {layer} head {head}'
                picks[key].append(int(np.argmax(per_entry)) == gold)
                mass[key].append(sum(per_entry))
    return {key: {'gold_entry_top': float(np.mean(picks[key])), 'rows': len(picks[key]),
                  'weight_on_entries': float(np.mean(mass[key]))} for key in picks}


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts: all rows, right aims, right answers; by gold letter and by ``moves_xy``."""
    def count(rows: list[dict[str, Any]]) -> dict[str, int]:
        return {'rows': len(rows), 'aim_right': sum(bool(r['aim_correct']) for r in rows),
                'answer_right': sum(r['correct'] for r in rows)}
    return {'all': count(records),
            'by_gold_letter': {x: count([r for r in records if r['gold'] == x])
                               for x in LETTERS},
            'moves_xy': count([r for r in records if r['moves_xy']]),
            'keeps_xy': count([r for r in records if not r['moves_xy']])}


def main() -> int:
    """Run both measures, log them, write the JSON."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', required=True)
    p.add_argument('--dataset', required=True)
    p.add_argument('--rows', type=int, default=100, help='hard questions (seeded subsample)')
    p.add_argument('--out', type=Path, default=Path('letter_attention.json'))
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    import torch
    torch.set_num_threads(1)
    hard, processor, records = generate(args.model, args.dataset, args.rows)
    result = {'model': args.model, 'summary': summary(records),
              'heads': attention(args.model, processor, hard, records)}
    _LOG.info('%s', json.dumps(result['summary'], indent=1))
    for key, value in result['heads'].items():
        _LOG.info('%s: gold entry most attended in %.0f %% of %d rows, weight on the entries '
                  '%.2f', key, 100 * value['gold_entry_top'], value['rows'],
                  value['weight_on_entries'])
    args.out.write_text(json.dumps(result, indent=1) + '\n', encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main())
