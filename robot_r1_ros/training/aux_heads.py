"""The training-only auxiliary losses of a learn config, behind one interface for the loop.

``vision_aux`` (the tower keeps its object map), ``grid_aux`` (image tokens know their place)
and ``bind_aux`` (object words fetch their object's place) each add a weighted loss read from
the forward pass just run; their heads train with the model, live in the run's resume point
and in ``aux_heads.pt`` beside the run's ``final/`` (a later link's ``model.aux_heads_from``),
never in the exported checkpoint.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

from robot_r1_ros.core.errors import ConfigError

_LOG = logging.getLogger(__name__)

#: The log.jsonl key of each head's mean loss.
LOG_KEYS = {'vision_aux': 'aux_loss', 'grid_aux': 'grid_loss', 'bind_aux': 'bind_loss'}


class AuxHeads:
    """The auxiliary heads a config asks for (none: a zero-cost no-op).

    Args:
        cfg: The ``LearnConfig``.
        model: The model being trained (the heads hook its decoder layers).
        processor: Its processor (``vision_aux`` preprocesses the vision stage's frames with it,
            ``bind_aux`` tokenises the object words).
        rows: The encoded training rows, in order (``bind_aux`` reads their facts).
    """

    def __init__(self, cfg: Any, model: Any, processor: Any, rows: Any) -> None:
        self.heads: dict[str, Any] = {}
        if cfg.vision_aux is not None:
            from robot_r1_ros.training.vision_aux import VisionAux
            self.heads['vision_aux'] = VisionAux(cfg.vision_aux, model, processor)
        if cfg.grid_aux is not None:
            from robot_r1_ros.training.grid_aux import GridAux
            self.heads['grid_aux'] = GridAux(cfg.grid_aux, model)
        if cfg.bind_aux is not None:
            from robot_r1_ros.training.bind_aux import BindAux, word_targets
            self.heads['bind_aux'] = BindAux(cfg.bind_aux, model,
                                             word_targets(rows, processor.tokenizer))
        self._losses: dict[str, list[float]] = {name: [] for name in self.heads}
        if cfg.aux_heads_from:
            self.start_from(cfg.aux_heads_from)

    def start_from(self, path: str) -> None:
        """Start each head that ``path`` (a run's ``aux_heads.pt``) holds from its state; the
        others keep their start (fresh, or a vision stage's ``vision_aux.heads``).

        Raises:
            ConfigError: No such file, or a held head that does not fit this model.
        """
        import torch

        if not Path(path).is_file():
            raise ConfigError(f'no aux heads file {path} (a run writes aux_heads.pt beside '
                              'its final/)', 'model.aux_heads_from')
        saved = torch.load(path, weights_only=True)
        for name, head in self.heads.items():
            if not saved.get(name):
                continue
            try:
                head.load_state_dict(saved[name])
            except RuntimeError as exc:
                raise ConfigError(f'{name} heads of {path} do not fit this model: {exc}',
                                  'model.aux_heads_from') from None
        _LOG.info('auxiliary heads %s start from %s', sorted(set(saved) & set(self.heads)),
                  path)

    def parameters(self) -> list[Any]:
        """All heads' parameters."""
        return [p for head in self.heads.values() for p in head.parameters()]

    def loss(self, batch: dict[str, Any], idx: Sequence[int]) -> Any:
        """The sum of the heads' weighted losses on the forward pass just run (0 with none)."""
        total: Any = 0.0
        for name, head in self.heads.items():
            if name == 'vision_aux':
                part = head.loss()  # its own batch of the vision stage's frames
            elif name == 'grid_aux':
                part = head.loss(batch)
            else:
                part = head.loss(batch, idx)
            self._losses[name].append(float(part.detach()))
            total = total + part
        return total

    def log_record(self) -> dict[str, float]:
        """Mean loss per head since the last call (log keys :data:`LOG_KEYS`)."""
        rec = {LOG_KEYS[n]: sum(v) / len(v) for n, v in self._losses.items() if v}
        for v in self._losses.values():
            v.clear()
        return rec

    def held_out(self) -> dict[str, Any]:
        """``{'vision_aux': ...}`` held-out readout error when that head is on, else ``{}``."""
        head = self.heads.get('vision_aux')
        return {'vision_aux': head.held_out()} if head is not None else {}

    def state_dict(self) -> dict[str, Any]:
        """Each head's state by config name (for the resume point)."""
        return {name: head.state_dict() for name, head in self.heads.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the heads a resume point holds (a head added since starts fresh)."""
        for name, head in self.heads.items():
            if state.get(name):
                head.load_state_dict(state[name])

    def close(self) -> None:
        """Remove the heads' forward hooks (the model is exported without them)."""
        for head in self.heads.values():
            if hasattr(head, 'close'):
                head.close()
