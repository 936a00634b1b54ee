"""Experiment E16 (issue 13): grounding questions on many randomised scenes.

E15 showed that grounding questions built from the 32 training demos are memorised: within an
episode the cubes stand still and the prompt's text identifies the episode. This tool adds rows
whose text cannot identify anything: for each of ``--scenes`` freshly reset ``pick_place`` scenes
(seeds from the ``vision_pretrain`` training range, disjoint from every evaluation range) it takes
the dataset's own first-frame ``object_position`` row of each object (the arm at home, so the
text is the same in every scene) and replaces the image with the scene's render and the answer
with that object's position there. Validation and test splits are copied unchanged.

    python experiments/tools/scene_grounding.py --dataset outputs/tiny/dataset_ground \
        --scenes 1500 --out outputs/tiny/dataset_ground_scenes
"""
from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import numpy as np

from robot_r1_ros.core.config import DEFAULT_WORKSPACE
from robot_r1_ros.core.grounding import object_label
from robot_r1_ros.core.parsing import format_number, format_xyz
from robot_r1_ros.training.seeds import seed_range
from robot_r1_ros.training.vision_pretrain import render_frames

_LOG = logging.getLogger('scene_grounding')


def _templates(train, labels: list[str]) -> dict[str, dict]:
    """One first-frame ``object_position`` row per object label."""
    out: dict[str, dict] = {}
    for i, (kind, frame) in enumerate(zip(train['task_kind'], train['frame_index'])):
        if kind != 'object_position' or frame != 0:
            continue
        row = train[i]
        text = row['prompt'][-1]['content'][-1]['text']
        match = re.search(r'Where is the (.+?) now\?', text)
        if match and match.group(1) in labels and match.group(1) not in out:
            out[match.group(1)] = row
        if len(out) == len(labels):
            break
    return out


def scene_rows(train, scenes: int) -> list[dict]:
    """The new rows: one per (scene, object)."""
    from PIL import Image
    images, positions, names = render_frames('pick_place', seed_range('vision_pretrain', scenes))
    labels = [object_label(n) for n in names]
    templates = _templates(train, labels)
    missing = sorted(set(labels) - set(templates))
    if missing:
        raise SystemExit(f'no first-frame object_position row for {missing} in the dataset')
    env_frame = DEFAULT_WORKSPACE.env_frame()
    rows = []
    for s, (image, pos) in enumerate(zip(images, positions)):
        for name, label, xyz_base_m in zip(names, labels, pos):
            xyz_env = [float(format_number(v)) for v in env_frame.base_to_env(xyz_base_m)]
            answer = format_xyz(xyz_env)
            row = dict(templates[label])
            row.update(image=Image.fromarray(image), answer_text=answer,
                       gold_think=f'The {label} is at {answer}.', answer_xyz_env_m=xyz_env,
                       target_xyz_env_m=xyz_env, next_xyz_env_m=xyz_env,
                       target_xyz_base_m=[float(v) for v in xyz_base_m],
                       episode_id=f'scene_{s:06d}', frame_index=0)
            rows.append(row)
    return rows


def main() -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dataset', required=True)
    ap.add_argument('--scenes', type=int, default=1500)
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
    dsd = load_from_disk(args.dataset)
    train = dsd['train']
    rows = scene_rows(train, args.scenes)
    extra = Dataset.from_list(rows, features=train.features)
    out = DatasetDict({**dsd, 'train': concatenate_datasets([train, extra])})
    out.save_to_disk(str(Path(args.out)))
    _LOG.info('%d scene rows added to %d train rows -> %s', len(rows), len(train), args.out)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
