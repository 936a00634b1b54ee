"""Grow a checkpoint's language model without changing its answers (issue 13, E19 / E22 / E26).

The small language model has to read a position from the vision tower and turn it into
centimetre digits; experiments E19, E22 and E26 showed depth, MLP width and stream width each
help. Training a bigger model from scratch would throw away what the small one learned, so the
model is grown in place, with every new part starting silent:

- ``add_layers``: decoder layers appended as the identity (attention output and MLP down
  projections zero, so the residual stream passes through unchanged);
- ``mlp``: every MLP widened to this many units, the new units' down-projection columns zero;
- ``hidden``: the residual stream widened (same head size, more heads); everything that writes
  into the new dimensions is zero and the RMS norms are rescaled for the wider mean, so the
  normalised values, and the answers, are unchanged;
- ``attention_scale``: every decoder layer's query and key projections (weights and biases)
  multiplied by this, so the attention logits start ``attention_scale ** 2`` times larger. Unlike
  the rest this changes the answers; it is for a language model that has not been trained yet.
  Why: the tiny build's ``initializer_range`` 0.02 is sized for the 7B's 3,584-wide stream, about
  six times below 1 / sqrt(64) for the tiny one's, and its attention stays flat for thousands of
  steps: after E111's link (issue 13) no head gave any token more than 7 % of its weight where
  the answer copies a letter six tokens back, and that letter was at chance.
- ``rope_theta``: the language model's rotary base (0: unchanged). Also changes the answers, for
  an untrained language model. Why: the 7B's base 1e6 spreads its 64 frequency pairs from one
  turn in six tokens to one in millions; the tiny model's head of 16 keeps 8 of them, of which
  only two turn by more than a radian within 30 tokens, so a head can hardly look a fixed few
  tokens back (issue 13, session 42: the comparison probe at base 1e4 against 1e6).

The result is a plain ``Qwen2_5_VLForConditionalGeneration`` checkpoint (tokenizer and processor
files copied) that the node and ``training.curriculum`` load as any other.

    python -m robot_r1_ros.training.grow_lm --model outputs/vision/h64d4/final \\
        --add-layers 2 --mlp 512 --out outputs/learn/grown
"""
from __future__ import annotations

import argparse
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from robot_r1_ros.core.errors import ConfigError

_LOG = logging.getLogger(__name__)
_FILES = ('tokenizer.json', 'tokenizer_config.json', 'chat_template.json',
          'preprocessor_config.json', 'generation_config.json')
_WRITES_STREAM = ('down_proj.weight', 'o_proj.weight', 'embed_tokens.weight',
                  'merger.mlp.2.weight', 'merger.mlp.2.bias')
_READS_STREAM = ('gate_proj.weight', 'up_proj.weight', 'q_proj.weight', 'k_proj.weight',
                 'v_proj.weight', 'q_proj.bias', 'k_proj.bias', 'v_proj.bias', 'lm_head.weight')


@dataclass(frozen=True)
class GrowConfig:
    """How much to grow (0: leave that dimension as it is).

    Attributes:
        add_layers: Decoder layers appended (identity at the start).
        mlp: Units of every MLP after growing (>= the model's).
        hidden: Residual stream width after growing (>= the model's, whole heads).
        attention_scale: Factor on every layer's query and key projections (> 0; 1: unchanged;
            changes the answers, for an untrained language model).
        rope_theta: The language model's rotary base (> 1; 0: unchanged; changes the answers,
            for an untrained language model).
    """

    add_layers: int = 0
    mlp: int = 0
    hidden: int = 0
    attention_scale: float = 1.0
    rope_theta: float = 0.0

    def __post_init__(self) -> None:
        for name in ('add_layers', 'mlp', 'hidden'):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f'{name} must be an integer >= 0, got {value!r}', name)
        scale = self.attention_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < 1e3:
            raise ConfigError(f'attention_scale must be a number > 0 (and < 1000), got {scale!r}',
                              'attention_scale')
        theta = self.rope_theta
        if isinstance(theta, bool) or not isinstance(theta, (int, float)) or not (
                theta == 0 or 1 < theta < 1e9):
            raise ConfigError(f'rope_theta must be 0 (unchanged) or a number > 1 (and < 1e9), '
                              f'got {theta!r}', 'rope_theta')

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> 'GrowConfig':
        """Build from a recipe section; unknown keys are a ConfigError."""
        if not isinstance(values, dict):
            raise ConfigError(f'grow must be a mapping, got {values!r}', 'grow')
        unknown = sorted(set(values) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f'grow: unknown keys {unknown} (known: '
                              f'{", ".join(cls.__dataclass_fields__)})', unknown[0])
        return cls(**values)

    def describe(self) -> str:
        """One line for logs and model cards."""
        parts = [f'+{self.add_layers} layers' if self.add_layers else '',
                 f'MLP {self.mlp}' if self.mlp else '', f'stream {self.hidden}' if self.hidden
                 else '',
                 f'attention x{self.attention_scale:g}' if self.attention_scale != 1 else '',
                 f'rotary base {self.rope_theta:g}' if self.rope_theta else '']
        return ', '.join(p for p in parts if p) or 'unchanged'


def _grown_text_config(text: dict[str, Any], cfg: GrowConfig) -> dict[str, Any]:
    """The language model's config after growing (ConfigError when it would shrink)."""
    text = dict(text)
    old_mlp, old_hidden = int(text['intermediate_size']), int(text['hidden_size'])
    heads = int(text['num_attention_heads'])
    if cfg.mlp and cfg.mlp < old_mlp:
        raise ConfigError(f'mlp {cfg.mlp} is narrower than the model\'s {old_mlp}', 'mlp')
    text['intermediate_size'] = cfg.mlp or old_mlp
    head_dim = old_hidden // heads
    if cfg.hidden and (cfg.hidden < old_hidden or cfg.hidden % head_dim):
        raise ConfigError(f'hidden {cfg.hidden}: not a widening of {old_hidden} by whole heads '
                          f'of {head_dim}', 'hidden')
    kv_ratio = heads // int(text['num_key_value_heads'])
    if cfg.hidden and (cfg.hidden // head_dim) % kv_ratio:
        raise ConfigError(f'hidden {cfg.hidden}: {cfg.hidden // head_dim} heads do not share '
                          f'key/value heads {kv_ratio} to 1 as the model\'s do', 'hidden')
    if cfg.hidden and cfg.hidden != old_hidden:
        # Same head size, more heads (key/value heads in the same ratio), so the rotary sections
        # stay valid.
        text['hidden_size'] = cfg.hidden
        # RMS norm: the mean over the wider stream is old/new times the old one; the same factor
        # on eps keeps the normalised values exact (token embeddings are small, eps matters).
        text['rms_norm_eps'] = float(text['rms_norm_eps']) * old_hidden / cfg.hidden
        text['num_attention_heads'] = cfg.hidden // head_dim
        text['num_key_value_heads'] = cfg.hidden // head_dim // kv_ratio
    n_old = int(text['num_hidden_layers'])
    text['num_hidden_layers'] = n_old + cfg.add_layers
    text['layer_types'] = list(text.get('layer_types') or ['full_attention'] * n_old)
    text['layer_types'] += [text['layer_types'][-1]] * cfg.add_layers
    if cfg.rope_theta:
        # Both spellings: transformers 5 reads rope_parameters, older ones rope_theta.
        text['rope_parameters'] = {**(text.get('rope_parameters') or {}),
                                   'rope_theta': float(cfg.rope_theta)}
        if 'rope_theta' in text:
            text['rope_theta'] = float(cfg.rope_theta)
    return text


def _copy_into(key: str, value: Any, target: Any) -> None:
    """Put an old weight into its (same or larger) new tensor so the answers do not change."""
    block = tuple(slice(0, n) for n in value.shape)
    if target.shape == value.shape:
        target.copy_(value)
    elif key.endswith(_WRITES_STREAM):
        # New units / heads write nothing, and nothing is written into new stream dimensions.
        target.zero_()
        target[block] = value
    elif key.endswith(_READS_STREAM):
        target[block] = value  # new rows / columns keep their random init (they read zeros)
    elif key.endswith('layernorm.weight') or key.endswith('language_model.norm.weight'):
        # RMS over the wider stream (new dimensions zero) is sqrt(old/new) times smaller.
        scale = (value.shape[0] / target.shape[0]) ** 0.5
        target.fill_(scale)
        target[block] = value * scale
    else:
        raise RuntimeError(f'{key}: shape {tuple(value.shape)} -> {tuple(target.shape)}')


def grow(model_dir: str | Path, cfg: GrowConfig, out: str | Path,
         tower: str | Path | None = None) -> Path:
    """Write ``model_dir`` grown by ``cfg`` to ``out``; returns ``out``.

    Args:
        model_dir: The checkpoint to grow.
        cfg: How much.
        out: Output folder (created).
        tower: A checkpoint whose vision tower (weights and config) replaces ``model_dir``'s.

    Raises:
        ConfigError: ``cfg`` would shrink the model.
    """
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    model_dir, out = Path(model_dir), Path(out)
    old = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir)
    full = Qwen2_5_VLConfig.from_pretrained(model_dir).to_dict()
    if tower is not None:
        full['vision_config'] = Qwen2_5_VLConfig.from_pretrained(tower).to_dict()['vision_config']
    n_old = int(full['text_config']['num_hidden_layers'])
    text = _grown_text_config(full['text_config'], cfg)
    # The image tokens (the merger's output) widen with the stream.
    full['vision_config'] = {**full['vision_config'], 'out_hidden_size': text['hidden_size']}
    new = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**{**full, 'text_config': text}))
    state, old_state = new.state_dict(), old.state_dict()
    with torch.no_grad():
        for key, value in old_state.items():
            if key not in state:
                raise RuntimeError(f'unexpected weight: {key}')
            _copy_into(key, value, state[key])
        new_prefixes = tuple(f'layers.{i}.' for i in range(n_old, n_old + cfg.add_layers))
        missing = [k for k in state if k not in old_state]
        if any(not any(p in k for p in new_prefixes) for k in missing):
            raise RuntimeError(f'weights missing outside the new layers: {missing[:5]}')
        for layer in new.model.language_model.layers[n_old:]:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        if cfg.attention_scale != 1:
            for layer in new.model.language_model.layers:
                for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj):
                    proj.weight.mul_(cfg.attention_scale)
                    if proj.bias is not None:
                        proj.bias.mul_(cfg.attention_scale)
        if tower is not None:
            donor = Qwen2_5_VLForConditionalGeneration.from_pretrained(tower)
            new.model.visual.load_state_dict(donor.model.visual.state_dict())
    new.generation_config = old.generation_config
    out.mkdir(parents=True, exist_ok=True)
    new.save_pretrained(out)
    for name in _FILES:
        if (model_dir / name).exists() and not (out / name).exists():
            shutil.copy(model_dir / name, out / name)
    _LOG.info('%s grown (%s): %.2f M -> %.2f M parameters -> %s', model_dir, cfg.describe(),
              sum(p.numel() for p in old.parameters()) / 1e6,
              sum(p.numel() for p in new.parameters()) / 1e6, out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', required=True, type=Path)
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--add-layers', type=int, default=0)
    p.add_argument('--mlp', type=int, default=0, help='widen every MLP to this many units')
    p.add_argument('--hidden', type=int, default=0, help='widen the residual stream to this')
    p.add_argument('--attention-scale', type=float, default=1.0,
                   help='factor on the query and key projections (changes the answers)')
    p.add_argument('--rope-theta', type=float, default=0.0,
                   help='the language model\'s rotary base (0: unchanged; changes the answers)')
    p.add_argument('--tower', type=Path, default=None,
                   help='a checkpoint whose vision tower replaces the model\'s')
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    try:
        grow(args.model, GrowConfig(args.add_layers, args.mlp, args.hidden, args.attention_scale,
                                    args.rope_theta), args.out, args.tower)
    except ConfigError as exc:
        p.error(str(exc))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
