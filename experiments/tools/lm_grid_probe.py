"""Issue 13 (E54): does the language model know where each image token is in the image?

"The red cube is at x, y" needs the cube token's place in the image somewhere in the hidden
state the answer attends to. The tower's tokens say what they show, not where (relative rotary
encoding only); the tiny language model's M-RoPE turns a column by ~2e-4 rad (head size 16,
``rope_theta`` 1e6, sections [2, 3, 3]). This tool runs a checkpoint on test-split prompts (the
node's full prompt, one forward pass each), takes every decoder layer's hidden states at the
image tokens, and fits a closed-form ridge regression to each token's merged-grid row and
column on half of the rows; it prints the held-out R^2 per layer (1: the place is linear in the
hidden state; 0: no better than the mean).

    python experiments/tools/lm_grid_probe.py --model outputs/see_one/01_see_one_bind/final \\
        --dataset outputs/see_one/dataset --every 12
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tower_probe import ridge_fit, ridge_predict  # noqa: E402

_LOG = logging.getLogger('lm_grid_probe')


def main() -> int:
    """Print and return the per-layer R^2 of row and column."""
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training import common
    from robot_r1_ros.training.grid_aux import image_token_grid
    from robot_r1_ros.training.recipe import ModelSpec

    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--model', required=True)
    p.add_argument('--dataset', required=True)
    p.add_argument('--split', default='test')
    p.add_argument('--every', type=int, default=12, help='take every n-th row of the split')
    p.add_argument('--alpha', type=float, default=1e-2)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    torch.set_num_threads(1)
    model = AutoModelForImageTextToText.from_pretrained(args.model).eval()
    processor = common.load_processor_for(ModelSpec(path=args.model))
    rows = common.load_dataset_dict(args.dataset)[args.split]
    rows = rows.select(range(0, len(rows), args.every))
    merge = int(model.config.vision_config.spatial_merge_size)
    hidden: dict[int, list[np.ndarray]] = {}
    places = []
    with torch.no_grad():
        for row in rows:
            text = processor.apply_chat_template(row['prompt'], tokenize=False,
                                                 add_generation_prompt=True)
            enc = processor(text=[text], images=[[row['image']]], return_tensors='pt')
            out = model.model(**enc, output_hidden_states=True, use_cache=False)
            mask, rc = image_token_grid(enc['input_ids'], enc['image_grid_thw'],
                                        int(model.config.image_token_id), merge)
            for layer, h in enumerate(out.hidden_states):
                hidden.setdefault(layer, []).append(h[mask].numpy())
            places.append(rc.numpy())
    target = np.concatenate(places)
    half = len(target) // 2  # rows in order: the first half's frames fit, the second's test
    result = {'model': args.model, 'rows': len(rows), 'tokens': len(target), 'layers': {}}
    for layer, hs in hidden.items():
        x = np.concatenate(hs)
        pred = ridge_predict(x[half:], ridge_fit(x[:half], target[:half], args.alpha))
        test = target[half:]
        r2 = 1 - ((pred - test) ** 2).sum(0) / ((test - test.mean(0)) ** 2).sum(0)
        result['layers'][layer] = {'row_r2': round(float(r2[0]), 3),
                                   'col_r2': round(float(r2[1]), 3)}
        _LOG.info('hidden state %d (%s): R^2 row %.3f, column %.3f', layer,
                  'embeddings' if layer == 0 else f'after layer {layer - 1}', r2[0], r2[1])
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
