"""Issue 13: does a checkpoint's vision tower still know where the objects are?

The language model reads object positions to ~8 cm, while the pre-trained tower's own heads read
them to ~1 cm. Either the VLM stages blurred the tower, or the language model loses what the
tower gives it. This tool separates the two: it runs a checkpoint's tower (with its merger, i.e.
exactly the image tokens the language model sees) on the vision stage's rendered frames and fits
a closed-form ridge regression from the flattened image tokens to every object's (x, y) on the
training frames, then reports the held-out error. A tower whose tokens still give ~1-2 cm has
kept the position; the loss is in the language model.

    python experiments/tools/tower_probe.py --model outputs/learn/e29_aim/final \\
        --frames outputs/vision/h64d4_long/frames.npz --image-pixels 12544
"""
from __future__ import annotations

import argparse
import json
import logging

import numpy as np

_LOG = logging.getLogger('tower_probe')


def ridge_fit(features: np.ndarray, targets: np.ndarray, alpha: float) -> np.ndarray:
    """Weights W (with a bias row) minimising |[X 1] W - Y|^2 + alpha |W|^2 (bias unpenalised)."""
    x = np.hstack([features, np.ones((len(features), 1))])
    reg = alpha * np.eye(x.shape[1])
    reg[-1, -1] = 0.0
    return np.linalg.solve(x.T @ x + reg, x.T @ targets)


def ridge_predict(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Predictions of :func:`ridge_fit`'s weights."""
    return np.hstack([features, np.ones((len(features), 1))]) @ weights


def image_tokens(model_path: str, images: np.ndarray, image_pixels: int,
                 batch: int = 50) -> np.ndarray:
    """(N, tokens * width) merged image tokens of ``images`` from the checkpoint's tower."""
    import torch
    from PIL import Image
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.model.processor import load_processor

    processor = load_processor(model_path, min_pixels=image_pixels, max_pixels=image_pixels,
                               local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(model_path, local_files_only=True).eval()
    tower = model.model.visual
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch):
            chunk = [Image.fromarray(im) for im in images[start:start + batch]]
            enc = processor.image_processor(images=chunk, return_tensors='pt')
            tokens = tower(enc['pixel_values'], grid_thw=enc['image_grid_thw']).pooler_output
            out.append(tokens.reshape(len(chunk), -1).float().numpy())
    return np.concatenate(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', required=True, help='checkpoint folder (Qwen2.5-VL)')
    parser.add_argument('--frames', required=True,
                        help="the vision stage's frames.npz (tr_img, tr_pos, te_img, te_pos)")
    parser.add_argument('--image-pixels', type=int, default=12544,
                        help='image area the curriculum trained at (112 x 112 = 12544)')
    parser.add_argument('--alphas', default='0.01,0.1,1,10,100',
                        help='ridge strengths tried; the best on held-out frames is reported')
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    data = np.load(args.frames)
    names = [str(n) for n in data['names']]
    # One model load for both splits: encode them together, then split.
    tokens = image_tokens(args.model, np.concatenate([data['tr_img'], data['te_img']]),
                          args.image_pixels)
    tr_x, te_x = tokens[:len(data['tr_img'])], tokens[len(data['tr_img']):]
    mu, sd = tr_x.mean(0), tr_x.std(0) + 1e-6
    tr_x, te_x = (tr_x - mu) / sd, (te_x - mu) / sd
    tr_y = data['tr_pos'][..., :2].reshape(len(tr_x), -1)
    te_xy = data['te_pos'][..., :2]
    results = {}
    for alpha in (float(a) for a in args.alphas.split(',')):
        pred = ridge_predict(te_x, ridge_fit(tr_x, tr_y, alpha)).reshape(te_xy.shape)
        err_cm = np.linalg.norm(pred - te_xy, axis=-1) * 100  # (N, K)
        results[alpha] = {'mean_cm': {n: round(float(err_cm[:, k].mean()), 2)
                                      for k, n in enumerate(names)},
                          'all_mean_cm': round(float(err_cm.mean()), 2),
                          'within_2cm': round(float((err_cm < 2).mean()), 3)}
    best = min(results, key=lambda a: results[a]['all_mean_cm'])
    baseline = np.linalg.norm(tr_y.reshape(-1, len(names), 2).mean(0) - te_xy, axis=-1) * 100
    report = {'model': args.model, 'features': int(tr_x.shape[1]), 'train_frames': len(tr_x),
              'test_frames': len(te_x), 'best_alpha': best, 'best': results[best],
              'mean_position_baseline_cm': round(float(baseline.mean()), 2)}
    _LOG.info('%s', json.dumps(report))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
