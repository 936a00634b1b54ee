"""Issue 13: does a tower read the frames the questions show, or only the vision stage's frames?

Runs a checkpoint's vision tower (with its merger: the image tokens the language model gets) and
a vision stage's readout heads (``heads.pt``) on a scene dataset's ``object_position`` rows and
reports the heads' error for the object each question asks about, split by the episode's start
frame and the later frames (arm in view, a cube in the gripper). E40's tower, trained on start
frames only, read its own held-out frames to 1.0 cm but these rows' later frames to 10 cm; the
``rollout`` frames of ``training.vision_pretrain`` (E42) are the fix.

    python experiments/tools/heads_on_rows.py --model outputs/vision/h64d4_roll/final \\
        --heads outputs/vision/h64d4_roll/heads.pt --frames outputs/vision/h64d4_roll/frames.npz \\
        --dataset outputs/scenes/dataset
"""
from __future__ import annotations

import argparse
import json
import logging
import re

import numpy as np

_LOG = logging.getLogger('heads_on_rows')
_ASKED = re.compile(r'Where is the (.+?) now\?')


def asked_objects(prompts: list) -> list[str]:
    """The sim object name each ``object_position`` prompt asks about ('red cube' -> red_cube,
    'yellow zone' -> target_zone)."""
    names = []
    for prompt in prompts:
        text = next(c['text'] for c in prompt[-1]['content'] if c.get('type') == 'text')
        asked = _ASKED.search(text).group(1)
        names.append('target_zone' if asked.endswith('zone') else asked.replace(' ', '_'))
    return names


def main() -> int:
    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.core.config import DEFAULT_WORKSPACE
    from robot_r1_ros.model.processor import load_processor
    from robot_r1_ros.training.vision_pretrain import Heads, encode_images

    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', required=True, help='checkpoint folder (Qwen2.5-VL)')
    parser.add_argument('--heads', required=True,
                        help="a vision stage's heads.pt, or a curriculum run's resume/state.pt "
                             "(its vision_aux heads)")
    parser.add_argument('--frames', required=True,
                        help="that stage's frames.npz (the heads' position normalisation)")
    parser.add_argument('--dataset', required=True, help='a training.scene_data dataset')
    parser.add_argument('--split', default='test')
    parser.add_argument('--rows', type=int, default=400)
    parser.add_argument('--image-pixels', type=int, default=12544)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    torch.set_num_threads(1)
    frames = np.load(args.frames)
    names = [str(n) for n in frames['names']]
    xy = torch.tensor(frames['tr_pos'][..., :2])
    mean, std = xy.mean(0), xy.std(0).clamp_min(1e-3)
    processor = load_processor(args.model, min_pixels=args.image_pixels,
                               max_pixels=args.image_pixels, local_files_only=True)
    model = AutoModelForImageTextToText.from_pretrained(args.model, local_files_only=True).eval()
    rows = load_from_disk(args.dataset)[args.split].filter(
        lambda kind: kind == 'object_position', input_columns='task_kind')
    rows = rows.select(range(min(args.rows, len(rows))))
    images = np.stack([np.asarray(im.convert('RGB')) for im in rows['image']])
    pix, grid = encode_images(processor, images)
    n_tokens = int(grid[0].prod()) // 4
    heads = Heads.build(n_tokens, int(model.config.text_config.hidden_size), len(names))
    saved = torch.load(args.heads, weights_only=False)
    heads.load_state_dict(saved.get('vision_aux', saved), strict=False)
    with torch.no_grad():
        tokens = model.model.visual(pix, grid_thw=grid).pooler_output
        flat, attend, _ = heads(tokens.view(len(images), n_tokens, -1))
    asked = np.array([names.index(n) for n in asked_objects(rows['prompt'])])
    truth = DEFAULT_WORKSPACE.env_frame().env_to_base(np.array(rows['target_xyz_env_m']))[:, :2]
    start = np.array(rows['frame_index']) == 0
    report = {'model': args.model, 'rows': len(rows), 'start_rows': int(start.sum())}
    for head, pred in (('flatten', flat), ('attend', attend)):
        xy_pred = (pred * std + mean).numpy()[np.arange(len(asked)), asked]
        err_cm = np.linalg.norm(xy_pred - truth, axis=1) * 100
        report[head] = {'mean_cm': round(float(err_cm.mean()), 2),
                        'start_frames_cm': round(float(err_cm[start].mean()), 2),
                        'later_frames_cm': round(float(err_cm[~start].mean()), 2),
                        'within_2cm': round(float((err_cm < 2).mean()), 3),
                        'per_object_cm': {n: round(float(err_cm[asked == k].mean()), 2)
                                          for k, n in enumerate(names) if (asked == k).any()}}
    _LOG.info('%s', json.dumps(report))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
