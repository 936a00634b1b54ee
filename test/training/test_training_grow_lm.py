"""``training.grow_lm``: a checkpoint grown deeper and wider answers exactly as before (new parts
start silent), loads as a plain Qwen2.5-VL, and a bad size is refused before anything is built."""
from __future__ import annotations

import numpy as np
import pytest

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.training.grow_lm import GrowConfig, grow


def _logits(model_dir):
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from robot_r1_ros.model.processor import load_processor
    processor = load_processor(str(model_dir))
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir).eval()
    image = np.random.default_rng(0).integers(0, 255, (56, 56, 3), dtype=np.uint8)
    messages = [{'role': 'user', 'content': [
        {'type': 'image'}, {'type': 'text', 'text': 'Where is the red cube? [0.412, -0.1'}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=[text], images=[image], return_tensors='pt')
    with torch.no_grad():
        return model(**inputs).logits[0].numpy(), model


def test_grown_model_answers_as_before(tiny_model, tmp_path):
    before, _ = _logits(tiny_model)
    cfg = GrowConfig(add_layers=2, mlp=256, hidden=128)
    out = grow(tiny_model, cfg, tmp_path / 'grown')
    after, model = _logits(out)
    text = model.config.text_config
    assert (text.num_hidden_layers, text.intermediate_size, text.hidden_size) == (4, 256, 128)
    assert model.config.vision_config.out_hidden_size == 128
    assert np.abs(after - before).max() < 1e-4
    assert cfg.describe() == '+2 layers, MLP 256, stream 128'
    # The new parts are trainable, not frozen at zero: their inputs are random-initialised.
    layer = model.model.language_model.layers[-1]
    assert float(layer.mlp.up_proj.weight.abs().sum()) > 0
    assert float(layer.mlp.down_proj.weight.abs().sum()) == 0


def test_attention_scale_multiplies_every_layers_queries_and_keys(tiny_model, tmp_path):
    """The one grow option that changes the answers: every layer's query and key projections
    (the old layers' and the new ones') times the factor, nothing else."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration
    before, old = _logits(tiny_model)
    cfg = GrowConfig.from_mapping({'add_layers': 1, 'attention_scale': 4})
    assert cfg.describe() == '+1 layers, attention x4'
    after, new = _logits(grow(tiny_model, cfg, tmp_path / 'sharp'))
    old_state, new_state = old.state_dict(), new.state_dict()
    scaled = [k for k in new_state if '.q_proj.' in k or '.k_proj.' in k]
    assert len(scaled) == 4 * new.config.text_config.num_hidden_layers  # weights and biases
    for key, value in old_state.items():
        want = value * 4 if key in scaled and 'visual' not in key else value
        assert torch.allclose(new_state[key], want), key
    new_layer = new.model.language_model.layers[-1].self_attn
    plain = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        grow(tiny_model, GrowConfig(add_layers=1), tmp_path / 'plain'))
    ratio = (new_layer.q_proj.weight.norm()
             / plain.model.language_model.layers[-1].self_attn.q_proj.weight.norm())
    assert 3.0 < float(ratio) < 5.3  # the new layer's random init, scaled too
    assert np.abs(after - before).max() > 1e-3  # unlike the other options, the answers change


def test_rope_theta_sets_the_language_models_rotary_base_and_nothing_else(tiny_model, tmp_path):
    """``rope_theta``: the grown checkpoint's language model turns its rotary frequencies on the
    new base (loaded back through transformers), its weights unchanged, the tower's rotary kept."""
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration
    before, old = _logits(tiny_model)
    cfg = GrowConfig.from_mapping({'rope_theta': 10000})
    assert cfg.describe() == 'rotary base 10000'
    after, new = _logits(grow(tiny_model, cfg, tmp_path / 'theta'))
    inv_freq = new.model.language_model.rotary_emb.inv_freq
    head = new.config.text_config.hidden_size // new.config.text_config.num_attention_heads
    want = 1.0 / 10000.0 ** (torch.arange(0, head, 2, dtype=torch.float32) / head)
    assert torch.allclose(inv_freq, want)
    assert not torch.allclose(old.model.language_model.rotary_emb.inv_freq, want)
    assert new.config.vision_config.to_dict() == old.config.vision_config.to_dict() | {
        'out_hidden_size': new.config.vision_config.out_hidden_size}
    for key, value in old.state_dict().items():
        assert torch.equal(new.state_dict()[key], value), key
    assert np.abs(after - before).max() > 1e-4  # positions turn differently: the answers change
    plain = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        grow(tiny_model, GrowConfig(add_layers=1), tmp_path / 'plain'))
    assert torch.allclose(plain.model.language_model.rotary_emb.inv_freq,
                          old.model.language_model.rotary_emb.inv_freq)

@pytest.mark.parametrize('values,field', [
    ({'attention_scale': 0}, 'attention_scale'),
    ({'attention_scale': True}, 'attention_scale'),
    ({'attention_scale': '4'}, 'attention_scale'),
    ({'rope_theta': 0.5}, 'rope_theta'),
    ({'rope_theta': '1e4'}, 'rope_theta'),
    ({'rope_theta': True}, 'rope_theta'),
    ({'add_layers': -1}, 'add_layers'),
    ({'mlp': 1.5}, 'mlp'),
    ({'hidden': True}, 'hidden'),
    ({'layers': 2}, 'layers'),
])
def test_grow_config_refuses_bad_values(values, field):
    with pytest.raises(ConfigError) as info:
        GrowConfig.from_mapping(values)
    assert info.value.field == field


@pytest.mark.parametrize('cfg,field', [
    (GrowConfig(mlp=64), 'mlp'),            # narrower than 128
    (GrowConfig(hidden=32), 'hidden'),      # narrower than 64
    (GrowConfig(hidden=72), 'hidden'),      # not whole heads of 16
    (GrowConfig(hidden=80), 'hidden'),      # 5 heads cannot share 2:1 key/value heads
])
def test_grow_refuses_to_shrink_or_split_a_head(tiny_model, tmp_path, cfg, field):
    with pytest.raises(ConfigError) as info:
        grow(tiny_model, cfg, tmp_path / 'out')
    assert info.value.field == field
    assert not (tmp_path / 'out').exists()
