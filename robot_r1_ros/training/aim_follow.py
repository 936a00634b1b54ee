"""Rows whose answer follows a stated aim that is not the gold one (the task ``aim_follow``).

An ``aim_pair`` next-waypoint answer states its aim (``Next: the red cube at [x, y].``), then
judges each option by the pair ``A [ox,oy] [x,y] no.`` and answers the letter of its one
``yes``. E101 stated an aim nearest the gold option in 50 of 50 hard test questions and still
answered 22: its single ``yes`` went to another option in 28, often beside an identical pair
(``A [0.047,0.110] [0.047,0.110] no.``). In every training row the ``yes`` sits on the option
the scene makes plausible, so a verdict may come from that plausibility and never read its
pair; the text-only ``aim_compare`` rows teach the comparison in another context, and E102 did
not carry it over.

These rows take that shortcut away. Each next-waypoint training row, with its own image and
prompt, gets a completion whose stated aim is a distractor's x-y (with the row's own jitter);
the verdicts and the answer follow that aim. The loss skips the aim sentence, so the model is
never taught to aim at a distractor; it is taught that the verdicts and the answer follow the
aim it stated, whatever it was. A stage mixes them in by weight like any task; they are
training-only, never asked by the node or the evaluation.
"""
from __future__ import annotations

import hashlib
from typing import Any

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.geometry import xy_gap_m
from robot_r1_ros.core.parsing import format_completion, format_option, parse_xyz_answer
from robot_r1_ros.training.think_targets import (AIM_JITTER_M, LETTERS, PAIR_KINDS, pair_aim,
                                                 pair_verdict)

#: The task name of these rows in a stage's ``tasks`` and ``weights``.
AIM_FOLLOW = 'aim_follow'
#: A distractor is the stated aim only when no other option is within this of it (x-y, the
#: larger axis gap, metres): twice the largest jitter, so the aim's nearest option is unique.
UNIQUE_GAP_M = 2 * AIM_JITTER_M


def follow_texts(row: dict[str, Any], facts: dict[tuple[str, int], dict[str, str]],
                 think: str = 'aim_pair') -> tuple[str, str, str] | None:
    """``(aim prefix, completion, followed letter)`` of one next-waypoint row: the completion
    states a distractor's x-y as the aim and follows it; the prefix (``<think>`` and the aim
    sentence) is the part the loss skips. None for a row without a stated aim, without four
    options, or without a distractor that stands apart from the other options. ``think``: the
    reasoning kind (an exact-aim kind states the distractor's x-y unjittered)."""
    options = row.get('options') or []
    if row.get('task_kind') != 'next_waypoint' or len(options) != len(LETTERS):
        return None
    if not pair_aim(row, facts, think=think)[1]:
        return None
    points = [list(parse_xyz_answer(opt))[:2] for opt in options]
    gold = LETTERS.index(str(row['answer_letter']))
    apart = [i for i in range(len(LETTERS)) if i != gold and all(
        xy_gap_m(points[i], points[j]) >= UNIQUE_GAP_M for j in range(len(LETTERS)) if j != i)]
    if not apart:
        return None
    # A fixed distractor per frame and question (not per epoch), like the jitter.
    digest = hashlib.sha256(f"{row.get('episode_id')}/{row.get('frame_index')}/"
                            f"{row.get('distractor_kind')}/follow".encode()).digest()
    pick = apart[digest[0] % len(apart)]
    stated, follow_xy = pair_aim(row, facts, at_xy=points[pick], think=think)
    verdicts = [pair_verdict(letter, opt, follow_xy, 'yes' if i == pick else 'no')
                for i, (letter, opt) in enumerate(zip(LETTERS, options))]
    letter = LETTERS[pick]
    return ('<think>' + stated,
            format_completion(' '.join([stated] + verdicts), format_option(letter)), letter)


def encode_follow_rows(processor: Any, dataset: Any, think: str,
                       facts: dict[tuple[str, int], dict[str, str]], encoded_rows: list[dict],
                       grids: dict[tuple[str, int], Any], end_id: int,
                       compactor: Any = None) -> list[dict[str, Any]]:
    """The ``aim_follow`` rows of ``dataset``'s next-waypoint rows, sharing the prompt and image
    of the encoded row at the same index of ``encoded_rows`` (:class:`training.encoded.Encoded`;
    ``grids``: each frame's ``image_grid_thw``); ``loss_from`` counts the completion tokens the
    loss skips (the aim sentence).

    Raises:
        ConfigError: ``think`` is not an ``aim_pair`` kind, or no row can follow a distractor.
    """
    import torch
    if think not in PAIR_KINDS:
        raise ConfigError(f'the {AIM_FOLLOW} task follows the aim_pair verdicts (think '
                          f'{PAIR_KINDS}); think is {think!r}', 'think')
    tok = processor.tokenizer
    rows: list[dict[str, Any]] = []
    skipped = 0
    columns = [c for c in dataset.column_names if c != 'image']
    for src, row in zip(encoded_rows, dataset.select_columns(columns)):
        texts = follow_texts(row, facts, think) if row['task_kind'] == 'next_waypoint' else None
        if texts is None:
            continue
        prefix, target, letter = texts
        comp = tok(target, add_special_tokens=False)['input_ids']
        skip = tok(prefix, add_special_tokens=False)['input_ids']
        if comp[:len(skip)] != skip:  # the aim's tokens must be the completion's first ones
            skipped += 1
            continue
        comp_ids = torch.tensor(comp + [end_id])
        compact = None
        if compactor is not None:
            c_ids, c_mm, p_pos, c_pos = compactor.compact(
                src['prompt_ids'], src['mm'], grids[src['key']], comp_ids)
            compact = {'prompt_ids': c_ids, 'mm': c_mm, 'pos': torch.cat([p_pos, c_pos], dim=1)}
        rows.append({'prompt_ids': src['prompt_ids'], 'mm': src['mm'], 'comp_ids': comp_ids,
                     'key': src['key'], 'compact': compact,
                     'loss_from': len(skip), 'task_kind': AIM_FOLLOW,
                     'distractor_kind': row['distractor_kind'] or '', 'answer_letter': letter})
    if not rows:
        raise ConfigError(f'the {AIM_FOLLOW} task needs next-waypoint rows with a stated aim '
                          f'and a distractor apart from the others; the dataset has none '
                          f'({skipped} split the aim\'s tokens)', 'stages')
    return rows
