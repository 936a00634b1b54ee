"""Issue 13: a scene dataset with more start-frame layouts, without rolling out again.

The closed loop's first keypoint (the grasp that decides an episode) is asked at the start, and
the 600-scene dataset has 600 start frames. This appends the rows of ``--start-scenes`` more
train scenes asked at the start only (``training.scene_data.start_episode``: one render each,
seeds of the ``vision_pretrain`` range after ``--after`` rolled-out scenes) to a dataset's train
split; validation and test are copied unchanged. The product path is the ``start_scenes`` key of
``SceneDataConfig``; this tool differs from it only in drawing the new rows' hard distractors
from the new scenes alone.

    python experiments/tools/add_start_scenes.py --dataset outputs/scenes/dataset \\
        --after 600 --start-scenes 3000 --out outputs/scenes/dataset_start
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

_LOG = logging.getLogger('add_start_scenes')


def main() -> int:
    """CLI (see the module docstring)."""
    import robot_r1_ros.sim  # noqa: F401  (MUJOCO_GL before mujoco)
    from datasets import Dataset, DatasetDict, concatenate_datasets, load_from_disk

    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task
    from robot_r1_ros.training.dataset import features
    from robot_r1_ros.training.scene_data import DEFAULT_TASKS, episode_rows, start_episode
    from robot_r1_ros.training.seeds import seed_range

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--dataset', required=True, type=Path)
    ap.add_argument('--after', type=int, required=True,
                    help='train scenes the dataset already rolled out (their seeds are skipped)')
    ap.add_argument('--start-scenes', type=int, required=True)
    ap.add_argument('--out', required=True, type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
    t0 = time.time()
    seeds = seed_range('vision_pretrain', args.after + args.start_scenes)[args.after:]
    task = make_task('pick_place')
    loaded = []
    with PandaScene() as scene:
        for seed in seeds:
            loaded.append(start_episode(scene, task, seed, 'scene_start'))
            if len(loaded) % 500 == 0:
                _LOG.info('%d start scenes', len(loaded))
    rows = episode_rows(loaded, DEFAULT_TASKS)
    old = load_from_disk(str(args.dataset))
    new = Dataset.from_list(rows, features=features())
    out = DatasetDict({'train': concatenate_datasets([old['train'], new]),
                       'validation': old['validation'], 'test': old['test']})
    out.save_to_disk(str(args.out))
    info = {'from': str(args.dataset), 'start_scenes': args.start_scenes,
            'seeds': [seeds.start, seeds.stop - 1], 'rows_added': len(new),
            'train_rows': len(out['train']), 'seconds': round(time.time() - t0, 1)}
    summary_file = args.dataset / 'scene_data.json'
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    summary['start_scenes_added'] = info
    (args.out / 'scene_data.json').write_text(json.dumps(summary, indent=1))
    _LOG.info('%s', info)
    return 0


if __name__ == '__main__':
    sys.exit(main())
