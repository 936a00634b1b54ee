"""Experiments E18/E19 (issue 13): give the small language model more layers without forgetting.

E16/E17 showed the 2-layer language model reading a coarse position from the vision tower and
stalling far above the tower's own accuracy. With two layers, the first can only gather the text
context (which object, which coordinate is next) and the second must both attend to the image
and turn what it read into a digit. This tool appends ``--add`` decoder layers to a checkpoint's
language model. Each new layer starts as the identity (its attention output projection and MLP
down projection are zero, so the residual stream passes through unchanged): the deepened model
answers exactly as the original until training moves the new layers.

    python experiments/tools/deepen_lm.py --model outputs/learn/e17_see_scenes_cont/final \\
        --add 2 --out outputs/learn/e19_deep/init

``--mlp N`` (E22) also widens every layer's MLP to N hidden units, the new ones starting silent
(their down-projection columns are zero), so again the answers do not change at step 0. E18/E19
showed the language model reading the tenths digit and guessing the hundredths: turning a
position feature into a 1 cm digit takes many more MLP units than 128 per layer.

``--hidden N`` (E26) widens the residual stream itself (64 -> N), with more heads of the same
size: the tiny stream has to carry the text context and a position read to 1 cm at once. New
dimensions start at zero (everything that writes into them is zero, the RMS norms are rescaled
for the wider mean), so again the answers do not change at step 0.

``--tower DIR`` also replaces the vision tower with the one of checkpoint ``DIR`` (same tower
size; E18: a tower pre-trained further with digit heads, ``training.vision_pretrain``).

The result is a plain ``Qwen2_5_VLForConditionalGeneration`` checkpoint (tokenizer and
processor files copied), loadable by the node and by ``training.curriculum``.
"""
from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

_LOG = logging.getLogger('deepen_lm')
_FILES = ('tokenizer.json', 'tokenizer_config.json', 'chat_template.json',
          'preprocessor_config.json', 'generation_config.json')


_WRITES_STREAM = ('down_proj.weight', 'o_proj.weight', 'embed_tokens.weight',
                  'merger.mlp.2.weight', 'merger.mlp.2.bias')
_READS_STREAM = ('gate_proj.weight', 'up_proj.weight', 'q_proj.weight', 'k_proj.weight',
                 'v_proj.weight', 'q_proj.bias', 'k_proj.bias', 'v_proj.bias', 'lm_head.weight')


def deepen(model_dir: Path, add: int, out: Path, tower: Path | None = None,
           mlp: int = 0, hidden: int = 0) -> Path:
    """Write ``model_dir`` with ``add`` identity-initialised decoder layers appended to ``out``.

    ``tower``: a checkpoint whose vision tower (weights and config) replaces ``model_dir``'s.
    """
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    if add < 0:
        raise ValueError(f'--add must be >= 0, got {add}')
    old = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir)
    cfg = Qwen2_5_VLConfig.from_pretrained(model_dir).to_dict()
    if tower is not None:
        cfg['vision_config'] = Qwen2_5_VLConfig.from_pretrained(tower).to_dict()['vision_config']
    text = dict(cfg['text_config'])
    n_old = int(text['num_hidden_layers'])
    old_mlp = int(text['intermediate_size'])
    if mlp and mlp < old_mlp:
        raise ValueError(f'--mlp {mlp} is narrower than the model\'s {old_mlp}')
    text['intermediate_size'] = mlp or old_mlp
    old_hidden = int(text['hidden_size'])
    if hidden and (hidden < old_hidden or hidden % (old_hidden // int(text['num_attention_heads']))):
        raise ValueError(f'--hidden {hidden}: not a widening of {old_hidden} by whole heads')
    if hidden and hidden != old_hidden:
        # Same head size, more heads (and key/value heads in the same ratio), so the rotary
        # sections stay valid; the image tokens (the merger's output) widen with the stream.
        head_dim = old_hidden // int(text['num_attention_heads'])
        kv_ratio = int(text['num_attention_heads']) // int(text['num_key_value_heads'])
        text['hidden_size'] = hidden
        # RMS norm: mean over the wider stream is old/new times the old one; the same factor on
        # eps keeps the normalised values exact (token embeddings are small, eps matters).
        text['rms_norm_eps'] = float(text['rms_norm_eps']) * old_hidden / hidden
        text['num_attention_heads'] = hidden // head_dim
        text['num_key_value_heads'] = hidden // head_dim // kv_ratio
        cfg['vision_config'] = {**cfg['vision_config'], 'out_hidden_size': hidden}
    text['num_hidden_layers'] = n_old + add
    text['layer_types'] = list(text.get('layer_types') or ['full_attention'] * n_old)
    text['layer_types'] += [text['layer_types'][-1]] * add
    new = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(**{**cfg, 'text_config': text}))
    state = new.state_dict()
    for key, value in old.state_dict().items():
        if key not in state:
            raise RuntimeError(f'unexpected weight: {key}')
        target = state[key]
        block = tuple(slice(0, n) for n in value.shape)
        if target.shape == value.shape:
            target.copy_(value)
        elif key.endswith(_WRITES_STREAM):
            # Writes into the residual stream: new units/heads write nothing and nothing is
            # written into the new stream dimensions, so the answers do not change at step 0.
            target.zero_()
            target[block] = value
        elif key.endswith(_READS_STREAM):
            target[block] = value  # new rows/columns keep their random init (they read zeros)
        elif key.endswith('layernorm.weight') or key.endswith('language_model.norm.weight'):
            # RMS over the wider stream (new dimensions zero) is sqrt(old/new) times smaller.
            scale = (value.shape[0] / target.shape[0]) ** 0.5
            target.fill_(scale)
            target[block] = value * scale
        else:
            raise RuntimeError(f'{key}: shape {tuple(value.shape)} -> {tuple(target.shape)}')
    missing = [k for k in state if k not in old.state_dict()]
    new_prefixes = tuple(f'layers.{i}.' for i in range(n_old, n_old + add))
    if any(not any(p in k for p in new_prefixes) for k in missing):
        raise RuntimeError(f'weights missing outside the new layers: {missing[:5]}')
    with torch.no_grad():
        for layer in new.model.language_model.layers[n_old:]:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    if tower is not None:
        donor = Qwen2_5_VLForConditionalGeneration.from_pretrained(tower)
        new.model.visual.load_state_dict(donor.model.visual.state_dict())
    new.generation_config = old.generation_config
    out.mkdir(parents=True, exist_ok=True)
    new.save_pretrained(out)
    for name in _FILES:
        if (model_dir / name).exists() and not (out / name).exists():
            shutil.copy(model_dir / name, out / name)
    _LOG.info('%s: %d -> %d language-model layers -> %s', model_dir, n_old, n_old + add, out)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', required=True, type=Path)
    p.add_argument('--add', type=int, default=2)
    p.add_argument('--out', required=True, type=Path)
    p.add_argument('--mlp', type=int, default=0, help='widen every MLP to this many units')
    p.add_argument('--hidden', type=int, default=0,
                   help='widen the language model\'s residual stream to this width (more heads)')
    p.add_argument('--tower', type=Path, default=None,
                   help='a checkpoint whose vision tower replaces the model\'s')
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    deepen(args.model, args.add, args.out, args.tower, args.mlp, args.hidden)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
