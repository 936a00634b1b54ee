"""Does the model read the image? The same questions with the image replaced.

``robot-r1 eval`` answers every held-out question three times (``--image-gap``, the default):

- ``real``: the question's own image;
- ``other``: an image of **another episode** of the split (a seeded derangement over
  episodes, frames matched by rank: every row gets an image of a different scene, from the same
  camera, the same distribution and a similar phase of the task). A model that scores the same here does not read the scene;
  the ``real - other`` gap per task is the measure of seeing;
- ``blank``: a uniform grey image. Only a fragility check: an out-of-distribution input may
  break a model that never looks at the scene, so a drop here proves nothing about seeing.

Scoring, grouping and baselines are the evaluation's own (``training.evaluate``); this module
only swaps images and tabulates the gaps.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

VARIANTS: tuple[str, ...] = ('other', 'blank')
"""Image variants evaluated beside the real image."""

BLANK_GREY = 128
"""Pixel value of the blank image (mid grey, every channel)."""


def other_episode_order(episode_ids: Sequence[str], seed: int = 0) -> list[int]:
    """For each row, the index of a row from a *different* episode.

    Rows are matched by rank within their episode (the k-th frame of episode E gets the k-th
    frame, modulo length, of the episode E maps to), through a seeded derangement of the
    episodes, so no row keeps an image of its own scene.

    Raises:
        ValueError: fewer than two episodes (there is no other scene to show).
    """
    episodes = sorted(set(episode_ids))
    if len(episodes) < 2:
        raise ValueError('the image-gap evaluation needs at least two episodes in the split')
    rng = np.random.default_rng(seed)
    while True:
        perm = rng.permutation(len(episodes))
        if all(perm[i] != i for i in range(len(episodes))):
            break
    target = {e: episodes[int(perm[i])] for i, e in enumerate(episodes)}
    rows_of: dict[str, list[int]] = {e: [] for e in episodes}
    for i, e in enumerate(episode_ids):
        rows_of[e].append(i)
    rank = {i: k for e in episodes for k, i in enumerate(rows_of[e])}
    return [rows_of[target[e]][rank[i] % len(rows_of[target[e]])]
            for i, e in enumerate(episode_ids)]


def swap_images(dataset: Any, variant: str, seed: int = 0, donors: Any = None) -> Any:
    """A copy of an evaluation ``datasets.Dataset`` whose ``image`` column is replaced.

    Args:
        dataset: Rows with ``image`` (PIL) and ``episode_id`` columns.
        variant: ``'other'`` or ``'blank'`` (see the module docstring).
        seed: Seed of the episode derangement.
        donors: Rows (``image``, ``episode_id``) to take other scenes from when ``dataset``
            holds a single episode (e.g. the train split); their episodes differ from the
            evaluated one, since splits are by episode.

    Raises:
        ValueError: A single episode and no donors.
    """
    from PIL import Image

    if variant not in VARIANTS:
        raise ValueError(f'unknown image variant {variant!r}; use one of {VARIANTS}')
    images = list(dataset['image'])
    if variant == 'blank':
        new = [Image.new('RGB', im.size, (BLANK_GREY,) * 3) for im in images]
    elif len(set(dataset['episode_id'])) < 2 and donors is not None and len(donors):
        rng = np.random.default_rng(seed)
        own = set(dataset['episode_id'])
        pool = [i for i, e in enumerate(donors['episode_id']) if e not in own]
        if not pool:
            raise ValueError('no donor rows from another episode for the image-gap evaluation')
        picks = rng.choice(pool, len(images))
        new = [donors[int(i)]['image'] for i in picks]
    else:
        order = other_episode_order(list(dataset['episode_id']), seed)
        new = [images[j] for j in order]
    feature = dataset.features['image']
    encoded = [feature.encode_example(im) for im in new]
    return dataset.remove_columns('image').add_column('image', encoded, feature=feature)


def headline(group: dict[str, Any]) -> float | None:
    """The group's main score: accuracy (multiple choice) or mean L1 in cm (open tasks)."""
    if group.get('accuracy') is not None:
        return float(group['accuracy'])
    if group.get('l1_cm_mean') is not None:
        return float(group['l1_cm_mean'])
    return None


def gap_table(real: dict[str, dict[str, Any]],
              variants: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per group: the headline score with each image and ``gap_other`` = real - other.

    For L1 groups (lower is better) the gap is other - real, so a positive gap always means the
    real image helps.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, group in real.items():
        row: dict[str, Any] = {'metric': 'accuracy' if group.get('accuracy') is not None
                               else 'l1_cm_mean', 'real': headline(group)}
        for name, groups in variants.items():
            row[name] = headline(groups.get(key, {}))
        if row['real'] is not None and row.get('other') is not None:
            diff = row['real'] - row['other']
            row['gap_other'] = diff if row['metric'] == 'accuracy' else -diff
        out[key] = row
    return out


def markdown(table: dict[str, dict[str, Any]]) -> str:
    """The image-gap table as markdown."""
    lines = ['| group | metric | real image | image of another episode | blank image | '
             'gap (real vs other) |', '|---|---|---:|---:|---:|---:|']

    def fmt(metric: str, v: Any) -> str:
        if v is None:
            return '-'
        return f'{100 * v:.1f} %' if metric == 'accuracy' else f'{v:.1f} cm'

    for key, row in table.items():
        m = row['metric']
        gap = row.get('gap_other')
        gap_s = '-' if gap is None else (f'{100 * gap:+.1f} pts' if m == 'accuracy'
                                         else f'{gap:+.1f} cm')
        lines.append(f'| {key} | {m} | {fmt(m, row["real"])} | {fmt(m, row.get("other"))} | '
                     f'{fmt(m, row.get("blank"))} | {gap_s} |')
    return '\n'.join(lines)
