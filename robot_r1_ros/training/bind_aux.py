"""Which-object loss on the language model's object words (issue 13, E64).

Why: E47-E62 found a cube but often not the one the task names: "put the **red** cube ..." must
pull the red cube's place out of the image tokens, a two-step lookup (the word, then the image
token that shows its colour) that the answer's loss alone teaches only after about two CPU-hours
(E56: 125 language minutes for a 2.5 cm median). This loss supervises the first step directly:
wherever a colour word of an object the frame's facts place (``The red cube is at [..]`` in the
rows' template reasoning, ``training.think_targets.frame_facts``) stands in a sequence (the
instruction, the question, the reasoning), a linear head must read that object's table x-y from
the word's hidden state after one decoder layer. With ``grid_aux`` the image tokens know their
place after layer 0; this asks the object word to fetch it at the next layer.

The head is training-only (kept in the run's ``resume/`` state, never exported); the model stays a
stock ``Qwen2_5_VLForConditionalGeneration``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from robot_r1_ros.core.errors import AnswerFormatError
from robot_r1_ros.core.parsing import parse_xyz_answer
from robot_r1_ros.training.layer_readout import LayerReadout
from robot_r1_ros.training.think_targets import frame_facts

#: Env-frame x-y (metres) times this is about [-1, 1] on the table.
XY_SCALE_PER_M = 4.0


@dataclass(frozen=True)
class BindAuxConfig:
    """The which-object loss (``bind_aux:`` in a learn config).

    Attributes:
        layer: Decoder layer (0-based) whose output hidden state is read at the object words.
        weight: Multiplies the loss before it is added to the language loss.
    """

    layer: int = 1
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.layer < 0:
            raise ValueError(f'bind_aux.layer must be >= 0, got {self.layer}')
        if not self.weight > 0:
            raise ValueError(f'bind_aux.weight must be > 0, got {self.weight}')


def word_targets(rows: Any, tokenizer: Any) -> list[dict[int, tuple[float, float]]]:
    """Per row: colour-word token id -> env-frame x-y (metres) of the object it names.

    Args:
        rows: A dataset with ``episode_id``, ``frame_index`` and ``gold_think`` columns; a frame's
            facts are those any of its rows states.
        tokenizer: The model's tokenizer; a word is used only where ``' <colour>'`` is one token.

    Returns:
        One mapping per row, in the rows' order (empty where the frame states no object).
    """
    facts = frame_facts(rows['episode_id'], rows['frame_index'], rows['gold_think'])
    token_of: dict[str, int | None] = {}

    def token(word: str) -> int | None:
        if word not in token_of:
            ids = tokenizer(' ' + word, add_special_tokens=False)['input_ids']
            token_of[word] = int(ids[0]) if len(ids) == 1 else None
        return token_of[word]

    per_frame: dict[tuple[str, int], dict[int, tuple[float, float]]] = {}
    for key, named in facts.items():
        targets = {}
        for name, xyz_text in named.items():
            tid = token(name.split()[0])
            try:
                x, y, _z = parse_xyz_answer(xyz_text)  # the prompt's one position format
            except AnswerFormatError:
                continue
            if tid is not None:
                targets[tid] = (x, y)
        per_frame[key] = targets
    return [per_frame.get((str(ep), int(fr)), {})
            for ep, fr in zip(rows['episode_id'], rows['frame_index'])]


def object_word_ids(rows: Any, tokenizer: Any) -> list[int]:
    """The token ids of every object word the rows' frames name (``' red'``, ``' yellow'``, ...;
    as :func:`word_targets` finds them), sorted: the words ``train.word_loss_weight`` scores."""
    return sorted({tid for targets in word_targets(rows, tokenizer) for tid in targets})


def word_mask_targets(input_ids: Any, attention_mask: Any,
                      targets: Sequence[dict[int, tuple[float, float]]]) -> tuple[Any, Any]:
    """Where the object words stand in a batch and the x-y they name.

    Returns:
        ``mask`` (``(batch, seq)`` bool) and ``xy`` (``(n, 2)`` float, scaled by
        :data:`XY_SCALE_PER_M`, in ``mask``'s order).
    """
    import torch

    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    rows_xy = []
    for j, row_targets in enumerate(targets):
        for tid, xy in row_targets.items():
            hit = (input_ids[j] == tid) & attention_mask[j].bool()
            mask[j] |= hit
        # in sequence order, as ``hidden[mask]`` reads them
        for p in torch.nonzero(mask[j]).flatten().tolist():
            rows_xy.append(row_targets[int(input_ids[j, p])])
    xy = torch.tensor(rows_xy, dtype=torch.float32).reshape(-1, 2) * XY_SCALE_PER_M
    return mask, xy


class BindAux(LayerReadout):
    """Linear x-y readout of one decoder layer's hidden state at the object words.

    Args:
        cfg: Layer and weight.
        model: The ``Qwen2_5_VLForConditionalGeneration`` being trained.
        targets: Per encoded row, :func:`word_targets`.
    """

    def __init__(self, cfg: BindAuxConfig, model: Any,
                 targets: Sequence[dict[int, tuple[float, float]]]) -> None:
        super().__init__('bind_aux', cfg.layer, model, 2)
        self.cfg = cfg
        self.targets = list(targets)

    def loss(self, batch: dict[str, Any], idx: Sequence[int]) -> Any:
        """Weighted MSE at the object words of the forward pass just run on ``batch`` (rows
        ``idx`` of the encoded set); zero (with a graph) where the batch names no object."""
        hidden = self.take_hidden()
        mask, target = word_mask_targets(batch['input_ids'], batch['attention_mask'],
                                         # rows past the targets: text-only, no scene
                                         [self.targets[i] if i < len(self.targets) else {}
                                          for i in idx])
        if not len(target):
            return hidden.sum() * 0.0
        pred = self.head(hidden[mask])
        return self.cfg.weight * ((pred - target.to(pred.dtype)) ** 2).mean()
