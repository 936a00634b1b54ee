"""The vision stage's object-position loss, kept during the VLM stages (issue 13).

Why: the VLM stages train the tower with the language model's loss and learning rate, and a
linear probe of its image tokens goes from 0.7 cm (after the vision stage) to 3-3.5 cm (E29;
``experiments/tools/tower_probe.py``). Adding the vision stage's own readouts (``flatten`` and
``attend`` of :class:`training.vision_pretrain.Heads`) on the rendered frames of that stage to
every step's loss keeps the object map in the tokens while the language model learns to read
them. The heads are training-only: they are kept in the run's ``resume/`` state, never in the
exported checkpoint.
"""
from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import numpy as np

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.training.curriculum_config import VisionAuxConfig
from robot_r1_ros.training.vision_pretrain import Heads, encode_images

_LOG = logging.getLogger(__name__)


class VisionAux:
    """Object-position readouts on the model's merged image tokens.

    Args:
        cfg: Frames, heads, weight and batch size.
        model: The ``Qwen2_5_VLForConditionalGeneration`` being trained (its tower is used).
        processor: The curriculum's processor (same image size as the VLM rows).

    Raises:
        ConfigError: Missing frames, or heads that do not fit the model's tokens.
    """

    def __init__(self, cfg: VisionAuxConfig, model: Any, processor: Any) -> None:
        import torch

        if not Path(cfg.frames).is_file():
            raise ConfigError(f'no frames file {cfg.frames}', 'vision_aux.frames')
        self.cfg, self.model = cfg, model
        data = np.load(cfg.frames)
        self.names = [str(n) for n in data['names']]
        pix, grid = encode_images(processor, data['tr_img'])
        te_pix, _ = encode_images(processor, data['te_img'])
        self.per_image = int(grid[0].prod())
        self._grid = grid[:1]
        merge = int(model.config.vision_config.spatial_merge_size)
        self.n_tokens = self.per_image // (merge * merge)
        # float16, as encode_images keeps them: 2,000 frames of 112 x 112 are 300 MB, not 600
        self.pix = pix.view(len(grid), self.per_image, -1)
        self.te_pix = te_pix.view(len(te_pix) // self.per_image, self.per_image, -1)
        self.xy = torch.tensor(data['tr_pos'][..., :2])
        self.te_xy = torch.tensor(data['te_pos'][..., :2])
        self.mean, self.std = self.xy.mean(0), self.xy.std(0).clamp_min(1e-3)
        width = int(model.config.text_config.hidden_size)
        self.heads = Heads.build(self.n_tokens, width, len(self.names))
        if cfg.heads:
            self._load_heads(cfg.heads)

    def _load_heads(self, path: str) -> None:
        """Start from a vision stage's heads. A head whose shape depends on the token count
        (``flatten``) does not fit when that stage used another image size: it starts fresh
        (logged); when no tensor fits, the heads are for another model: ConfigError."""
        import torch

        try:
            saved = torch.load(path, weights_only=True)
        except (OSError, RuntimeError) as exc:
            raise ConfigError(f'heads {path}: cannot load ({exc})', 'vision_aux.heads') from exc
        own = self.heads.state_dict()
        fits = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
        if not fits:
            raise ConfigError(f'heads {path} do not fit this model (no tensor of '
                              f'{sorted(own)} has the shape saved)', 'vision_aux.heads')
        self.heads.load_state_dict(fits, strict=False)
        fresh = sorted(set(own) - set(fits))
        if fresh:
            _LOG.warning('vision_aux: %s from %s do not fit (%d image tokens here); they start '
                         'fresh', fresh, path, self.n_tokens)

    def parameters(self) -> list[Any]:
        """The heads' parameters (the optimiser trains them with the model)."""
        return list(self.heads.parameters())

    def _readouts(self, pix: Any) -> tuple[Any, Any]:
        n = len(pix)
        grid = self._grid.repeat(n, 1)
        out = self.model.model.visual(pix.reshape(n * self.per_image, -1).float(),
                                      grid_thw=grid)
        tokens = out.pooler_output.view(n, self.n_tokens, -1)
        flat, attend, _ = self.heads(tokens)
        return flat, attend

    def loss(self) -> Any:
        """Weighted position loss (MSE of both readouts, normalised targets) of one batch drawn
        with the module ``random`` (so a resumed run continues the same sequence)."""
        import torch

        idx = torch.tensor(random.sample(range(len(self.xy)), self.cfg.batch_size))
        flat, attend = self._readouts(self.pix[idx])
        target = (self.xy[idx] - self.mean) / self.std
        return self.cfg.weight * (((flat - target) ** 2).mean() + ((attend - target) ** 2).mean())

    def held_out(self) -> dict[str, float]:
        """Mean error [cm] of each readout on the held-out frames, and the share within 2 cm."""
        import torch

        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            flat, attend = self._readouts(self.te_pix)
        if was_training:
            self.model.train()
        res: dict[str, float] = {}
        for head, pred in (('flatten', flat), ('attend', attend)):
            err_cm = (pred * self.std + self.mean - self.te_xy).norm(dim=-1) * 100
            res[f'{head}_cm'] = round(float(err_cm.mean()), 2)
            res[f'{head}_within_2cm'] = round(float((err_cm < 2).float().mean()), 3)
        return res

    def state_dict(self) -> dict[str, Any]:
        """The heads (for the run's resume point)."""
        return self.heads.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the heads from a resume point."""
        self.heads.load_state_dict(state)
