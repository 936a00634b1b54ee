"""Experiment E28 (issue 13): train the open keypoint mostly where the image decides it.

In E20/E25's closed-loop rows, 7 of 10 open-keypoint questions ask for a keypoint with the same
x-y as the gripper (go down, close, lift, release): the answer copies the "gripper is at"
position of the reasoning. Only the home question (go over the cube) and the one after the lift
(go over the zone) move in x-y, and there the answer must copy the object position the reasoning
stated first. E25 states the task's cube 12 / 20 times but its keypoint goes to a few fixed
values instead. This tool keeps every open-keypoint row that moves in x-y and ``--keep-still``
of the others (seeded), and every row of the other tasks; validation and test are unchanged (the rule is ``training.scene_data.keep_mask``).

    python experiments/tools/keep_moves.py --dataset outputs/tiny/dataset_scene_keys \\
        --keep-still 0.25 --out outputs/tiny/dataset_scene_moves
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from robot_r1_ros.training.scene_data import keep_mask

_LOG = logging.getLogger('keep_moves')


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--dataset', required=True)
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--keep-still', type=float, default=0.25,
                   help='share of the open-keypoint rows that do not move in x-y to keep')
    p.add_argument('--seed', type=int, default=28)
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    if not 0.0 <= args.keep_still <= 1.0:
        raise SystemExit(f'--keep-still must be in [0, 1], got {args.keep_still}')
    from datasets import DatasetDict, load_from_disk

    data = load_from_disk(args.dataset)
    train = data['train']
    keep = keep_mask(train['task_kind'], train['target_xyz_env_m'], train['current_xyz_env_m'],
                     args.keep_still, args.seed)
    _LOG.info('kept %d of %d train rows', int(keep.sum()), len(train))
    splits = dict(data)
    splits['train'] = train.select(np.flatnonzero(keep).tolist())
    DatasetDict(splits).save_to_disk(str(args.out))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
