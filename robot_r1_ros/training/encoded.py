"""The curriculum's training rows, tokenised once, and the per-stage batch sampler.

Every dataset row is tokenised and its image processed once (the questions of one frame share
the pixels), so a training step is only the forward and backward pass. With ``aim_compare``
the set also holds the text-only comparison rows of :mod:`training.aim_compare` (no image; the
aim stated in the prompt), which a stage draws as the task ``aim_compare``; with ``aim_follow``
the rows of :mod:`training.aim_follow` (a distractor stated as the aim, the loss after it).
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any, Callable, Sequence

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.training.curriculum_config import Stage, weight_key
from robot_r1_ros.training.think_targets import FACT_KINDS, completion, frame_facts, reasoning
from robot_r1_ros.training.workers import SINGLE, Workers

_LOG = logging.getLogger(__name__)


class _FramePrompt:
    """A prompt's ids for an image already processed: the processor's own expansion of the
    image placeholder (one pad token per merged patch of the frame's grid), without processing
    the image again.

    Why its own: the processor call on every row re-processed the frame's pixels
    (``bench/bench_encode.py``; ``test_encoded_rows_equal_the_processors`` checks the ids and
    token types equal the processor's)."""

    def __init__(self, processor: Any) -> None:
        self.tok = processor.tokenizer
        self.pad = processor.image_token
        self.pad_id = self.tok.convert_tokens_to_ids(self.pad)
        self.merge = processor.image_processor.merge_size ** 2

    def encode(self, text: str, grid_thw: Any) -> dict[str, Any]:
        """``input_ids`` (1, N), ``mm_token_type_ids`` (1, N: 1 on image tokens) and
        ``image_grid_thw`` of ``text`` with its one image placeholder expanded to
        ``grid_thw``'s merged patches (the processor's output, less the pixels)."""
        if text.count(self.pad) != 1:
            raise ValueError(f'a prompt with one image has one {self.pad}, '
                             f'found {text.count(self.pad)}')
        count = int(grid_thw[0].prod()) // self.merge
        ids = self.tok(text.replace(self.pad, self.pad * count), return_tensors='pt')['input_ids']
        return {'input_ids': ids, 'mm_token_type_ids': (ids == self.pad_id).long(),
                'image_grid_thw': grid_thw}


class Encoded:
    """Rows tokenised once: prompt ids, completion ids and one pixel tensor per frame; with a
    ``compactor`` (:mod:`training.compact_prompt`) also each row's compact prompt and its
    positions.

    Args:
        processor: The model's processor.
        dataset: The training rows (a ``datasets.Dataset`` split).
        think: The reasoning kind of the completions (:data:`THINK_KINDS`).
        compactor: The compact-prompt builder, or None.
        aim_compare: Also encode the text-only comparison rows (task ``aim_compare``; rows
            without an image have ``key`` None).
        aim_follow: Also encode the rows that follow a distractor stated as the aim (task
            ``aim_follow``; ``loss_from`` completion tokens without loss).
        workers: This process's place among the run's workers: each encodes ``1 / world`` of
            the rows and reads the others' share.
        exchange_dir: A folder for the shares (needed with several workers; removed after).
    """

    def __init__(self, processor: Any, dataset: Any, think: str,
                 compactor: Any = None, aim_compare: bool = False,
                 aim_follow: bool = False, workers: Workers = SINGLE,
                 exchange_dir: Path | None = None) -> None:
        if workers.world > 1 and exchange_dir is None:
            raise ValueError('several workers share their encoded rows through exchange_dir')
        self.end_id = processor.tokenizer.convert_tokens_to_ids('<|im_end|>')
        self.rows: list[dict[str, Any]] = []
        self.pixels: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.compact = compactor is not None
        self.think_tokens: list[int] = []  # reasoning length per row (the node's budget)
        facts = (frame_facts(dataset['episode_id'], dataset['frame_index'], dataset['gold_think'])
                 if think in FACT_KINDS else None)
        # Each worker encodes its share of the rows and reads the others' (the same rows in the
        # same order on every worker, at 1 / workers of the CPU).
        lo = len(dataset) * workers.rank // workers.world
        hi = len(dataset) * (workers.rank + 1) // workers.world
        share = dataset if workers.world == 1 else dataset.select(range(lo, hi))
        own = _encode_rows(processor, share, think, facts, compactor, self.end_id)
        if compactor is not None:
            _LOG.info('compact prompts (this worker\'s share): %s', compactor.summary())
        for rows, pixels, think_tokens in workers.exchange(own, exchange_dir):
            self.rows.extend(rows)
            self.think_tokens.extend(think_tokens)
            for key, value in pixels.items():  # a frame at a share's edge is in two
                self.pixels.setdefault(key, value)
        #: Rows encoded from the dataset (the auxiliary heads' per-row targets cover these).
        self.dataset_rows = len(self.rows)
        if aim_compare:
            from robot_r1_ros.training.aim_compare import encode_compare_rows
            extra = encode_compare_rows(processor, dataset, think, facts or {}, self.end_id)
            self.rows.extend(extra)  # think_tokens stays the dataset rows' (the node's budget)
        if aim_follow:
            from robot_r1_ros.training.aim_follow import encode_follow_rows
            follow = encode_follow_rows(
                processor, dataset, think, facts or {}, self.rows[:self.dataset_rows],
                {k: v[1] for k, v in self.pixels.items()}, self.end_id, compactor)
            _LOG.info('%s rows: %d', 'aim_follow', len(follow))
            self.rows.extend(follow)
        #: Each row's full-prompt tokens plus its completion's (:class:`LengthGroups`).
        self.lengths = [len(r['prompt_ids']) + len(r['comp_ids']) for r in self.rows]
        self.by_group: dict[tuple[str, str], list[int]] = {}
        for i, r in enumerate(self.rows):
            self.by_group.setdefault((r['task_kind'], r['distractor_kind']), []).append(i)

    def indices(self, tasks: Sequence[str], distractors: Sequence[str]) -> list[int]:
        """Row indices of the given tasks (position tasks filtered by distractor kind)."""
        out: list[int] = []
        for (task, kind), idx in self.by_group.items():
            if task in tasks and (kind == '' or kind in distractors):
                out.extend(idx)
        return out

    def batch(self, idx: Sequence[int], pad_id: int, compact: bool = False) -> dict[str, Any]:
        """Right-padded teacher-forcing batch, loss on the completion and its end token (after
        a row's first ``loss_from`` completion tokens).

        ``compact``: the rows' compact prompts, with the full prompts' ``position_ids`` (a
        text-only row is its own compact prompt). A batch of text-only rows has no
        ``pixel_values``.
        """
        import torch
        if compact and not self.compact:
            raise ValueError('compact batch asked of rows encoded without a compactor')
        seqs, mms, labs = [], [], []
        for i in idx:
            r = self.rows[i]
            p = r['compact'] if compact else r
            seqs.append(torch.cat([p['prompt_ids'], r['comp_ids']]))
            mms.append(torch.cat([p['mm'], torch.zeros_like(r['comp_ids'])]))
            target = r['comp_ids'].clone()
            target[:r.get('loss_from', 0)] = -100
            labs.append(torch.cat([torch.full_like(p['prompt_ids'], -100), target]))
        n = max(len(s) for s in seqs)
        ids = torch.full((len(idx), n), pad_id, dtype=torch.long)
        mask = torch.zeros((len(idx), n), dtype=torch.long)
        mm = torch.zeros((len(idx), n), dtype=torch.long)
        labels = torch.full((len(idx), n), -100, dtype=torch.long)
        for j, (s, m, lab) in enumerate(zip(seqs, mms, labs)):
            ids[j, :len(s)] = s
            mask[j, :len(s)] = 1
            mm[j, :len(s)] = m
            labels[j, :len(s)] = lab
        out = {'input_ids': ids, 'attention_mask': mask, 'mm_token_type_ids': mm,
               'labels': labels}
        pix = [self.pixels[self.rows[i]['key']] for i in idx if self.rows[i]['key'] is not None]
        if pix:
            out['pixel_values'] = torch.cat([p[0] for p in pix]).float()
            out['image_grid_thw'] = torch.cat([p[1] for p in pix])
        else:
            out['image_grid_thw'] = torch.zeros((0, 3), dtype=torch.long)
        if compact:  # the full prompt's positions of the kept tokens (padding: 0)
            pos = torch.zeros((3, len(idx), n), dtype=torch.long)
            for j, i in enumerate(idx):
                row_pos = self.rows[i]['compact']['pos']
                pos[:, j, :row_pos.shape[1]] = row_pos
            out['position_ids'] = pos
        return out


def _encode_rows(processor: Any, dataset: Any, think: str, facts: Any, compactor: Any,
                 end_id: int) -> tuple[list[dict[str, Any]], dict[Any, Any], list[int]]:
    """``(rows, pixels, think_tokens)`` of ``dataset``'s rows (see :class:`Encoded`)."""
    import torch
    tok = processor.tokenizer
    rows_out: list[dict[str, Any]] = []
    pixels: dict[tuple[str, int], tuple[Any, Any]] = {}
    think_tokens: list[int] = []
    frame_prompt = _FramePrompt(processor)
    # Iterating without the image column: decoding each row's image (a PNG) and running the
    # image processor on it was most of the encoding, and a frame's questions share one.
    text_rows = (dataset.remove_columns('image') if 'image' in dataset.column_names
                 else dataset)
    for index, row in enumerate(text_rows):
        key = (str(row['episode_id']), int(row['frame_index']))
        text = processor.apply_chat_template(row['prompt'], tokenize=False,
                                             add_generation_prompt=True)
        if key not in pixels:
            enc = processor(text=[text], images=[[dataset[index]['image']]],
                            return_tensors='pt')
            pixels[key] = (enc['pixel_values'].to(torch.float16), enc['image_grid_thw'])
        else:
            enc = frame_prompt.encode(text, pixels[key][1])
        comp = tok(completion(row, think, facts), add_special_tokens=False)['input_ids']
        think_tokens.append(len(tok(reasoning(row, think, facts),
                                    add_special_tokens=False)['input_ids']))
        ids, mm = enc['input_ids'][0], enc['mm_token_type_ids'][0]
        comp_ids = torch.tensor(comp + [end_id])
        compact = None
        if compactor is not None:
            c_ids, c_mm, p_pos, c_pos = compactor.compact(ids, mm, enc['image_grid_thw'],
                                                          comp_ids)
            compact = {'prompt_ids': c_ids, 'mm': c_mm,
                       'pos': torch.cat([p_pos, c_pos], dim=1)}
        rows_out.append({
            'prompt_ids': ids, 'mm': mm, 'comp_ids': comp_ids, 'key': key,
            'compact': compact,
            'task_kind': row['task_kind'], 'distractor_kind': row['distractor_kind'] or '',
            'answer_letter': row['answer_letter']})
    return rows_out, pixels, think_tokens


def stage_sampler(enc: Encoded, stage: Stage, batch_size: int, index: int = 0
                  ) -> Callable[[], list[int]]:
    """A function drawing one batch of row indices for ``stage`` (module ``random``, so a
    resumed run continues the same sequence).

    With ``stage.weights`` each row picks a task by weight, then a row of that task (of one
    distractor kind for a ``task/kind`` key); without, rows are drawn uniformly (no repeats)
    from all the stage's rows.

    Raises:
        ConfigError: The stage (or a weighted task of it) has no rows.
    """
    pools = {t: enc.indices((t,), stage.distractors) for t in stage.tasks}
    pool = [i for t in stage.tasks for i in pools[t]]
    for key in stage.weights:
        if key not in pools:  # task/kind: that kind's rows only
            pools[key] = list(enc.by_group.get(weight_key(key), []))
    weighted = [(t, w) for t, w in stage.weights.items() if w > 0]
    if not pool or any(not pools[t] for t, _ in weighted):
        raise ConfigError(f'stage {index}: no rows for {stage.tasks} {stage.distractors}',
                          'stages')
    if not weighted:
        return lambda: random.sample(pool, min(batch_size, len(pool)))
    tasks, weights = [t for t, _ in weighted], [w for _, w in weighted]

    def draw() -> list[int]:
        return [random.choice(pools[t]) for t in random.choices(tasks, weights, k=batch_size)]
    return draw


class LengthGroups:
    """A stage sampler's batches drawn ``groups`` at a time and regrouped by length.

    Why: a batch pads every row to its longest (about 15 % of a scene batch's tokens, and
    attention grows with the square of the length). Sorting ``groups`` batches' rows by length
    and cutting them into ``groups`` batches again keeps every drawn row and the stage's task
    weights exactly; only which rows share a batch changes. The regrouped batches are served in
    an order seeded by ``seed`` and the round, the same in every worker, so the workers' batches
    at a step are of about the same length (no worker waits long for another's gradients).

    Args:
        draw: The stage's sampler (:func:`stage_sampler`).
        lengths: Each row's tokens (:attr:`Encoded.lengths`).
        groups: Batches per regrouping; 1 serves ``draw``'s batches as they come.
        seed: The order's seed (the run's seed and the stage).
        first_round: The round to start at (a resumed stage: its steps over ``groups``).
    """

    def __init__(self, draw: Callable[[], list[int]], lengths: Sequence[int], groups: int,
                 seed: str, first_round: int = 0) -> None:
        self.draw, self.lengths, self.groups, self.seed = draw, lengths, groups, seed
        self.round = first_round
        self.queue: list[list[int]] = []

    @property
    def at_boundary(self) -> bool:
        """No regrouped batch waits: a resume point here loses nothing."""
        return not self.queue

    def __call__(self) -> list[int]:
        if self.groups <= 1:
            return self.draw()
        if not self.queue:
            batches = [self.draw() for _ in range(self.groups)]
            size = len(batches[0])
            rows = sorted((i for b in batches for i in b), key=lambda i: (self.lengths[i], i))
            regrouped = [rows[k * size:(k + 1) * size] for k in range(self.groups)]
            random.Random(f'{self.seed}/{self.round}').shuffle(regrouped)
            self.round += 1
            self.queue = regrouped
        return self.queue.pop()
