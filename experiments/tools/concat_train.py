"""Issue 13: one scene dataset whose train split is several datasets' train splits together.

E58 goes on from E56 with closed-loop rows (``ask_lifted``, ``jitter_copies``; built in two
processes over disjoint seeds with ``--skip-scenes``) beside E56's own rows. The curriculum
reads one dataset; this writes it: the train splits concatenated, validation and test taken
from the first dataset unchanged (the held-out test seeds stay the ones every run is scored on).

    python experiments/tools/concat_train.py --out outputs/see_cl/dataset \\
        outputs/see_one/dataset outputs/see_cl/ds_a outputs/see_cl/ds_b
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

_LOG = logging.getLogger('concat_train')


def main() -> int:
    """CLI (see the module docstring)."""
    from datasets import DatasetDict, concatenate_datasets, load_from_disk

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', required=True, type=Path)
    ap.add_argument('datasets', nargs='+', type=Path, help='the first gives validation and test')
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    parts = [load_from_disk(str(d)) for d in args.datasets]
    ids = [set(p['train']['episode_id']) for p in parts]
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if a & b:
                raise SystemExit(f'the datasets share train episodes, e.g. {sorted(a & b)[0]}')
    train = concatenate_datasets([p['train'] for p in parts])
    DatasetDict(train=train, validation=parts[0]['validation'],
                test=parts[0]['test']).save_to_disk(str(args.out))
    info = {'train_from': [str(d) for d in args.datasets],
            'train_rows': [len(p['train']) for p in parts],
            'validation_and_test_from': str(args.datasets[0])}
    (args.out / 'concat_train.json').write_text(json.dumps(info, indent=1))
    _LOG.info('%d train rows -> %s', len(train), args.out)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
