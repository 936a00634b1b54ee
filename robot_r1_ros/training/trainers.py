"""TRL trainers with a working resume for Qwen-VL checkpoints.

transformers 5.x saves Qwen2.5-VL weights in the hub layout (``model.layers.*``, ``visual.*``)
while the module tree is ``model.language_model.*`` / ``model.visual.*``; ``from_pretrained``
converts between the two, but ``Trainer._load_from_checkpoint`` loads the file with
``load_state_dict(strict=False)`` and no conversion. Every key then misses, a warning is logged
and the resumed run silently continues from the *initial* weights with the restored optimizer
(huggingface/transformers#43701). The trainers here reload the checkpoint through
``from_pretrained`` (the conversion the checkpoint was written for) and copy it in with
``strict=True``, so a resumed run matches an uninterrupted one.
"""
from __future__ import annotations

import logging
from typing import Any

from transformers import PreTrainedModel
from trl import GRPOTrainer, SFTTrainer

_LOG = logging.getLogger(__name__)


class _ResumeFix:
    """Mixin over ``transformers.Trainer``: checkpoint weights load through ``from_pretrained``."""

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        target = self.model if model is None else model
        plain = (isinstance(target, PreTrainedModel)
                 and not getattr(self, 'is_deepspeed_enabled', False)
                 and not getattr(self, 'is_fsdp_enabled', False)
                 and not _is_peft(target))
        if not plain:
            # DeepSpeed / FSDP restore their own sharded states; PEFT reloads adapters.
            super()._load_from_checkpoint(resume_from_checkpoint, model)  # type: ignore[misc]
            return
        dtype = next(target.parameters()).dtype
        fresh = type(target).from_pretrained(resume_from_checkpoint, dtype=dtype)
        target.load_state_dict(fresh.state_dict(), strict=True)
        del fresh
        _LOG.info('loaded the weights of %s', resume_from_checkpoint)


def _is_peft(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:
        return False
    return isinstance(model, PeftModel)


class RobotR1GRPOTrainer(_ResumeFix, GRPOTrainer):
    """``trl.GRPOTrainer`` whose resume restores the model weights (see the module docstring)."""


class RobotR1SFTTrainer(_ResumeFix, SFTTrainer):
    """``trl.SFTTrainer`` whose resume restores the model weights (see the module docstring)."""
