"""Training rows without the prompt's constant text, at the positions the full prompt gives.

Why: a scene question's prompt is ~370 tokens on average (up to ~580) of the small model's
near-character vocabulary, and about 60 % of it is text every row shares (the system prompt,
the frame's axis directions, the gripper's size). Those lines carry no information that differs
between rows, yet attention over them is most of a training step's cost. A compact row drops
them and keeps every other token (the image, the task, the current state, the question, the
options, the answer) at the multimodal rotary position it has in the full prompt (Qwen2.5-VL's
3-D positions, ``get_rope_index``), so the distances between the kept tokens, the image's grid
included, are the ones the reasoning node's full prompt gives. What the model loses is only the
attention to the dropped constant tokens; the batches left with full prompts keep it used to
them.

It is a training option (curriculum ``train.compact_prompt``): evaluation, the node and the
exported checkpoint always use the full prompt.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any, Sequence

_LOG = logging.getLogger(__name__)
# Chat-template tokens split lines too; a turn's role name ('system', 'assistant') is kept:
# it is constant but it is what starts the answer.
_SPECIAL = re.compile(r'<\|im_start\|>[^\n]*|<\|[^|]*\|>')


def constant_lines(texts: Sequence[str]) -> list[str]:
    """Lines (without their newline; a chat-template token also ends a line) found in every one
    of ``texts``, role names excluded, longest first (so a line that contains another is matched first)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update({ln for ln in _SPECIAL.sub('\n', text).split('\n') if ln.strip()})
    return sorted((ln for ln, c in counts.items() if c == len(texts)), key=len, reverse=True)


class PromptCompactor:
    """Finds the constant lines' tokens in a row and computes the full sequence's positions.

    Args:
        tokenizer: The processor's tokenizer.
        lines: The constant lines (:func:`constant_lines` of a sample of rendered prompts).
        rope_index: ``model.model.get_rope_index`` of the model being trained.
    """

    def __init__(self, tokenizer: Any, lines: Sequence[str], rope_index: Any) -> None:
        self.rope_index = rope_index
        # A line's last character can merge with the newline after it ('.\n' is one token):
        # each line is looked for with its newline first, then alone.
        self.patterns = [tuple(self._key(tokenizer(text, add_special_tokens=False)['input_ids'])
                               for text in (ln + '\n', ln)) for ln in lines]
        self.rows = 0
        self.uncompacted = 0

    @staticmethod
    def _key(ids: Sequence[int]) -> bytes:
        return b''.join(int(i).to_bytes(4, 'little') for i in ids)

    def keep_mask(self, prompt_ids: Sequence[int]) -> list[bool] | None:
        """True for the prompt tokens to keep; None when a constant line is not found exactly
        once in the row's tokens (the row is then trained on its full prompt)."""
        hay = self._key(prompt_ids)
        keep = [True] * len(prompt_ids)
        for candidates in self.patterns:
            for pat in candidates:
                hits = [i for i in _find_all(hay, pat) if i % 4 == 0]
                if len(hits) == 1:
                    break
            else:
                return None
            start = hits[0] // 4
            for t in range(start, start + len(pat) // 4):
                keep[t] = False
        return keep

    def compact(self, prompt_ids: Any, mm: Any, grid: Any, comp_ids: Any
                ) -> tuple[Any, Any, Any, Any]:
        """``(prompt_ids, mm, prompt_positions, completion_positions)`` of one row: the kept
        prompt tokens and the full sequence's (3, T) positions of what is kept."""
        import torch

        self.rows += 1
        ids = torch.cat([prompt_ids, comp_ids])
        mm_full = torch.cat([mm, torch.zeros_like(comp_ids)])
        pos, _ = self.rope_index(ids[None], mm_token_type_ids=mm_full[None],
                                 image_grid_thw=grid, attention_mask=torch.ones_like(ids)[None])
        pos = pos[:, 0]
        n = len(prompt_ids)
        mask = self.keep_mask(prompt_ids.tolist())
        if mask is None:
            self.uncompacted += 1
            return prompt_ids, mm, pos[:, :n], pos[:, n:]
        keep = torch.tensor(mask)
        return prompt_ids[keep], mm[keep], pos[:, :n][:, keep], pos[:, n:]

    def summary(self) -> str:
        """How many rows were compacted (for the run's log)."""
        return (f'{self.rows - self.uncompacted} / {self.rows} rows without {len(self.patterns)} '
                f'constant prompt lines')


def _find_all(hay: bytes, pat: bytes) -> list[int]:
    out, i = [], hay.find(pat)
    while i >= 0:
        out.append(i)
        i = hay.find(pat, i + 1)
    return out


def build_compactor(processor: Any, rows: Any, model: Any, sample: int = 300) -> PromptCompactor:
    """A compactor for ``rows`` (a dataset with a ``prompt`` column): the constant lines of
    ``sample`` rendered prompts spread over the rows, positions from ``model``'s own rotary
    index. (A row where a line is not found exactly once keeps its full prompt, counted.)"""
    step = max(1, len(rows) // sample)
    texts = [processor.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
             for p in rows.select(range(0, len(rows), step))['prompt']]
    lines = constant_lines(texts)
    _LOG.info('compact prompts: %d constant lines (%d characters) dropped from every row',
              len(lines), sum(len(ln) for ln in lines))
    return PromptCompactor(processor.tokenizer, lines, model.model.get_rope_index)
