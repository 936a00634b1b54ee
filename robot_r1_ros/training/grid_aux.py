"""Where-am-I loss on the language model's image tokens (issue 13, E54).

Why: the tiny language model (head size 16, ``rope_theta`` 1e6, M-RoPE sections [2, 3, 3]) turns
an image column by 2e-4 rad per token and a row by 0.03 rad: its attention cannot tell the image
tokens' places apart, and the tower's tokens hold what is in them, not where they are (its rotary
encoding is relative; a pooled readout of them learns no position: ../research vision-probe).
So "the red cube is at x" needs the place written into the image tokens' hidden states, which a
causal language model can do from its fixed prefix, but which the answer's loss alone teaches
slowly (E40-E53). This loss asks a linear head to read each image token's own place in the image
(merged-grid row and column, scaled to [-1, 1]) from the hidden state after one decoder layer.
The head is training-only (kept in the run's ``resume/`` state, never exported); the model stays a
stock ``Qwen2_5_VLForConditionalGeneration``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robot_r1_ros.training.layer_readout import LayerReadout


@dataclass(frozen=True)
class GridAuxConfig:
    """The where-am-I loss (``grid_aux:`` in a learn config).

    Attributes:
        layer: Decoder layer (0-based) whose output hidden state is read.
        weight: Multiplies the loss before it is added to the language loss.
    """

    layer: int = 0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.layer < 0:
            raise ValueError(f'grid_aux.layer must be >= 0, got {self.layer}')
        if not self.weight > 0:
            raise ValueError(f'grid_aux.weight must be > 0, got {self.weight}')


def image_token_grid(input_ids: Any, image_grid_thw: Any, image_token_id: int,
                     merge: int) -> tuple[Any, Any]:
    """Each image token's place in its image.

    Args:
        input_ids: ``(batch, seq)`` token ids; image tokens in raster order, images in order.
        image_grid_thw: ``(images, 3)`` patch grid (t, h, w) of each image, in the same order.
        image_token_id: The model's image placeholder id.
        merge: The tower's ``spatial_merge_size``.

    Returns:
        ``mask`` (``(batch, seq)`` bool, the image tokens) and ``rows_cols`` (``(n, 2)`` float,
        row and column of each masked token in ``mask``'s order, scaled to [-1, 1]).

    Raises:
        ValueError: The image tokens and the grids disagree in number.
    """
    import torch

    mask = input_ids == image_token_id
    places = []
    for t, h, w in image_grid_thw.tolist():
        rows, cols = h // merge, w // merge
        r = torch.arange(rows, dtype=torch.float32).repeat_interleave(cols).repeat(t)
        c = torch.arange(cols, dtype=torch.float32).repeat(rows * t)
        places.append(torch.stack([2 * r / max(rows - 1, 1) - 1,
                                   2 * c / max(cols - 1, 1) - 1], dim=-1))
    rows_cols = torch.cat(places) if places else torch.zeros(0, 2)
    if int(mask.sum()) != len(rows_cols):
        raise ValueError(f'{int(mask.sum())} image tokens but the grids hold {len(rows_cols)}')
    return mask, rows_cols


class GridAux(LayerReadout):
    """Linear where-am-I readout of one decoder layer's image-token hidden states.

    Args:
        cfg: Layer and weight.
        model: The ``Qwen2_5_VLForConditionalGeneration`` being trained.
    """

    def __init__(self, cfg: GridAuxConfig, model: Any) -> None:
        super().__init__('grid_aux', cfg.layer, model, 2)
        self.cfg = cfg
        self.image_token_id = int(model.config.image_token_id)
        self.merge = int(model.config.vision_config.spatial_merge_size)

    def loss(self, batch: dict[str, Any]) -> Any:
        """Weighted MSE of the head on the image tokens of the forward pass just run on
        ``batch``."""
        hidden = self.take_hidden()
        mask, target = image_token_grid(batch['input_ids'], batch['image_grid_thw'],
                                        self.image_token_id, self.merge)
        if not len(target):  # a batch of text-only rows has no image token
            return hidden.sum() * 0.0
        pred = self.head(hidden[mask])
        return self.cfg.weight * ((pred - target.to(pred.dtype)) ** 2).mean()
