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

``--test-scenes N`` (E18/E19) replaces the test split with the same kind of rows from N scenes of
the ``vision_test`` evaluation range (never used in training), which measures object position on
many unseen scenes instead of a few held-out episodes; ``--scenes 0`` then leaves train as is.
"""
from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path


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


def scene_rows(train, scenes: int, seeds: str = 'vision_pretrain',
               prefix: str = 'scene') -> list[dict]:
    """The new rows: one per (scene, object), scenes from the ``seeds`` range."""
    from PIL import Image
    images, positions, names = render_frames('pick_place', seed_range(seeds, scenes))
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
                       episode_id=f'{prefix}_{s:06d}', frame_index=0)
            rows.append(row)
    return rows


def main() -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dataset', required=True)
    ap.add_argument('--scenes', type=int, default=1500)
    ap.add_argument('--test-scenes', type=int, default=0,
                    help='replace the test split with rows of this many vision_test scenes')
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
    dsd = load_from_disk(args.dataset)
    train = dsd['train']
    rows = scene_rows(train, args.scenes) if args.scenes > 0 else []
    splits = dict(dsd)
    if rows:
        splits['train'] = concatenate_datasets(
            [train, Dataset.from_list(rows, features=train.features)])
    if args.test_scenes > 0:
        test = scene_rows(train, args.test_scenes, 'vision_test', 'test_scene')
        splits['test'] = Dataset.from_list(test, features=train.features)
        _LOG.info('test split: %d rows from %d vision_test scenes', len(test), args.test_scenes)
    out = DatasetDict(splits)
    out.save_to_disk(str(Path(args.out)))
    _LOG.info('%d scene rows added to %d train rows -> %s', len(rows), len(train), args.out)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
