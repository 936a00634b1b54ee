"""Which sim seeds each stage uses, so that evaluation never sees a training scene.

Every consumer of sim seeds takes its range from here, and :func:`check_disjoint` proves the
evaluation ranges share no seed with a training range. ``robot-r1 eval`` writes the ranges it
used into its report (``seeds`` block), so a reader can see which scenes were held out.

Ranges are half-open ``[start, stop)``; a pick_place layout is a deterministic function of
(task, seed) (``sim.tasks``).
"""
from __future__ import annotations

from typing import Mapping

TRAIN_SEEDS: Mapping[str, tuple[int, int]] = {
    'demos': (0, 10_000),                    # robot-r1 record (recipes record from seed 0)
    'vision_pretrain': (10_000, 60_000),     # rendered frames of the vision stage, scene rows
    'scene_validation': (60_000, 70_000),    # scene rows of the quick-eval split (never tested)
}
"""Seed ranges used for training data."""

EVAL_SEEDS: Mapping[str, tuple[int, int]] = {
    'closed_loop': (100_000, 200_000),       # robot-r1 eval --closed-loop-episodes
    'vision_test': (500_000, 510_000),       # held-out frames of the vision stage
    'test_demos': (900_000, 1_000_000),      # recorded held-out test demos (robot-r1 record)
}
"""Seed ranges used only for evaluation."""


def seed_range(name: str, count: int) -> range:
    """The first ``count`` seeds of a named range.

    Raises:
        KeyError: unknown name; ValueError: ``count`` exceeds the range.
    """
    start, stop = {**TRAIN_SEEDS, **EVAL_SEEDS}[name]
    if count < 0 or start + count > stop:
        raise ValueError(f'seed range {name!r} holds {stop - start} seeds, asked for {count}')
    return range(start, start + count)


def check_disjoint() -> None:
    """Raise ``AssertionError`` if any training range overlaps any evaluation range."""
    for tname, (a0, a1) in TRAIN_SEEDS.items():
        for ename, (b0, b1) in EVAL_SEEDS.items():
            if a0 < b1 and b0 < a1:
                raise AssertionError(f'training seeds {tname} {a0}-{a1} overlap evaluation '
                                     f'seeds {ename} {b0}-{b1}')


def is_training_seed(seed: int) -> bool:
    """True if ``seed`` lies in any training range."""
    return any(a <= seed < b for a, b in TRAIN_SEEDS.values())
