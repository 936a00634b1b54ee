"""Experiment E20 (issue 13): questions at the moments the closed loop asks, from many scenes.

The closed loop (``training.closed_loop``, the node's step) asks for the next keypoint when the
arm has stopped: at home, then after each reached keypoint. The demos' datasets ask mostly in
between, and with 32 training episodes the language model memorises each episode's positions
(E15). This tool runs the scripted expert in ``--scenes`` freshly reset ``pick_place`` scenes
and records, at the start and after each expert waypoint, the camera frame, the TCP as the node
reads it (core FK of the joint state), the gripper state and every object's position. Each
scene becomes one ``core.qa.Episode`` whose frames are those moments and whose keyframes are
the dataset's (every waypoint but ``lifted``, where the demos' arm does not stop), and the
dataset's own code turns it into rows (``QABuilder`` -> ``training.dataset.sample_row``): the
same prompts, answers and reasoning as ``robot-r1 dataset``, for the tasks asked. The rollout
and the rows are ``training.scene_data``'s (which builds a whole dataset from scenes alone);
this tool adds them to an existing dataset, as E20 did.

    python experiments/tools/scene_episodes.py --dataset outputs/tiny/dataset_ground \\
        --scenes 1000 --seeds vision_pretrain --out outputs/tiny/dataset_scene_keys

Rows are appended to ``--dataset``'s train split (``--only-scenes``: they replace it, so that no
demo episode is left to memorise); with ``--test`` they replace its test split instead (use an
evaluation seed range such as ``vision_test`` for that).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from robot_r1_ros.training.scene_data import build_rows

_LOG = logging.getLogger('scene_episodes')


def main() -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dataset', required=True, help='the dataset whose splits are kept')
    ap.add_argument('--scenes', type=int, default=500)
    ap.add_argument('--seeds', default='vision_pretrain', help='a training.seeds range name')
    ap.add_argument('--tasks', default='open_keypoint,object_position,next_waypoint')
    ap.add_argument('--test', action='store_true', help='replace the test split instead')
    ap.add_argument('--only-scenes', action='store_true', help='replace the train split')
    ap.add_argument('--out', required=True)
    args = ap.parse_args()
    from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk
    dsd = load_from_disk(args.dataset)
    feats = dsd['train'].features
    prefix = 'test_scene' if args.test else 'scene'
    rows, _ = build_rows(args.scenes, args.seeds, tuple(args.tasks.split(',')), prefix)
    new = Dataset.from_list(rows, features=feats)
    splits = dict(dsd)
    if args.test:
        splits['test'] = new
    else:
        splits['train'] = new if args.only_scenes else concatenate_datasets([dsd['train'], new])
    DatasetDict(splits).save_to_disk(str(Path(args.out)))
    _LOG.info('%d rows from %d scenes (%s) -> %s (%s)', len(rows), args.scenes, args.seeds,
              args.out, 'test split' if args.test else 'added to train')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
