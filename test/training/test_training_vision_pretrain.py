"""Vision pre-training: rendered frames with object positions, a resumable run, an export that
is a plain Qwen2.5-VL checkpoint (new tower, the base's language model, no auxiliary heads)."""
import json

import pytest


def test_vision_stage_renders_trains_resumes_and_exports(tiny_model, tmp_path):
    from safetensors import safe_open
    from transformers import Qwen2_5_VLForConditionalGeneration

    from robot_r1_ros.training import seeds, vision_pretrain

    cfg = vision_pretrain.VisionPretrainConfig(
        base=str(tiny_model), frames=4, test_frames=2, hidden=32, depth=2, heads=2, mlp=64,
        batch_size=2, cpu_minutes=0.02, checkpoint_minutes=0.01)
    out = tmp_path / 'vision'
    report = vision_pretrain.train(cfg, out)
    assert report['objects'] == ['red_cube', 'green_cube', 'blue_cube', 'target_zone']
    assert report['steps'] >= 1 and (out / 'resume.pt').is_file()
    held = report['held_out']
    assert all(held[f'flatten_{n}_cm'] > 0 for n in report['objects'])
    assert report['seeds']['test'][0] == seeds.EVAL_SEEDS['vision_test'][0]
    # The same command again resumes (nothing left in the budget) and re-exports.
    again = vision_pretrain.train(cfg, out)
    assert again['steps'] == report['steps']

    final = out / 'final'
    with safe_open(str(final / 'model.safetensors'), 'pt') as f:
        keys = list(f.keys())
    assert not any('flatten' in k or 'query' in k or '.read.' in k for k in keys)
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(final)
    base = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model)
    assert model.config.vision_config.depth == 2 and model.config.vision_config.hidden_size == 32
    lm, base_lm = model.model.language_model.state_dict(), base.model.language_model.state_dict()
    assert all((lm[k] == base_lm[k]).all() for k in base_lm)
    assert json.loads((out / 'report.json').read_text())['tower_params'] > 0

    # A digit-head run continues from this one: its tower starts from the saved weights.
    import torch
    digits = vision_pretrain.train(vision_pretrain.VisionPretrainConfig(
        **{**cfg.__dict__, 'digit_weight': 1.0, 'init': str(out)}), tmp_path / 'digits')
    assert 0.0 <= digits['held_out']['attend_digits_acc'] <= 1.0
    first = torch.load(out / 'resume.pt', weights_only=False)['tower']
    second = torch.load(tmp_path / 'digits' / 'resume.pt', weights_only=False)['tower']
    assert first.keys() == second.keys()


def test_digit_targets_follow_the_prompt_text():
    import numpy as np

    from robot_r1_ros.core.parsing import format_number
    from robot_r1_ros.training.vision_pretrain import digit_targets

    xy = np.array([[-0.102, 0.262], [0.0996, -0.0004]])
    got = digit_targets(xy)
    assert got.tolist() == [[[1, 1, 0], [0, 2, 6]], [[0, 1, 0], [0, 0, 0]]]
    # The classes spell the 3-decimal text: sign, then the first two decimals.
    for value, (sign, tenths, hundredths) in zip(xy.ravel(), got.reshape(-1, 3)):
        text = format_number(value).lstrip('-')
        assert (format_number(value).startswith('-'), text[2], text[3]) == (
            bool(sign), str(tenths), str(hundredths))


def test_bad_vision_config_is_refused():
    from robot_r1_ros.training.vision_pretrain import VisionPretrainConfig
    with pytest.raises(ValueError, match='multiple'):
        VisionPretrainConfig(base='x', hidden=30, heads=4)
    with pytest.raises(ValueError, match='positive'):
        VisionPretrainConfig(base='x', frames=0)
