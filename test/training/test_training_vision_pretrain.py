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
    # Trained at the links' image size (112 x 112: 16 merged tokens), though the untrained base's
    # processor would keep the rendered frames' own 224 x 224 (64 tokens), and exported so.
    assert json.loads((tiny_model / 'preprocessor_config.json').read_text())['max_pixels'] > 12544
    assert report['tokens_per_image'] == 16
    pre = json.loads((final / 'preprocessor_config.json').read_text())
    assert pre['min_pixels'] == pre['max_pixels'] == cfg.image_pixels == 12544

    # A digit-head run continues from this one: its tower starts from the saved weights.
    import torch
    digits = vision_pretrain.train(vision_pretrain.VisionPretrainConfig(
        **{**cfg.__dict__, 'digit_weight': 1.0, 'init': str(out)}), tmp_path / 'digits')
    assert 0.0 <= digits['held_out']['attend_digits_acc'] <= 1.0
    first = torch.load(out / 'resume.pt', weights_only=False)['tower']
    second = torch.load(tmp_path / 'digits' / 'resume.pt', weights_only=False)['tower']
    assert first.keys() == second.keys()


def test_rollout_frames_show_the_moments_the_questions_ask_at():
    """'rollout' frames are the scene datasets' moments: the start frame of each seed (the same
    scene as 'start' renders), then the settled waypoints, with the cube moved by the expert."""
    import numpy as np

    from robot_r1_ros.training.vision_pretrain import render_frames

    seeds = range(7000, 7003)
    start_img, start_pos, names = render_frames('pick_place', seeds, 'start')
    roll_img, roll_pos, roll_names = render_frames('pick_place', seeds, 'rollout', 10)
    assert roll_names == names and roll_img.shape == (10,) + start_img.shape[1:]
    np.testing.assert_allclose(roll_pos[0], start_pos[0], atol=1e-6)
    assert (roll_img[0] == start_img[0]).all()
    # Within the first episode some cube leaves its start position (picked and carried).
    moved_cm = np.linalg.norm(roll_pos[1:8, :3] - roll_pos[0, :3], axis=-1).max() * 100
    assert moved_cm > 5.0
    # The second seed's rollout starts where its own scene starts.
    later = [i for i in range(1, 10) if np.allclose(roll_pos[i], start_pos[1], atol=1e-6)]
    assert later, 'the second seed\'s start frame is among the rollout frames'
    with pytest.raises(ValueError, match='frames'):
        render_frames('pick_place', range(7000, 7001), 'rollout', 50)
    with pytest.raises(ValueError, match='source'):
        render_frames('pick_place', seeds, 'everywhere')


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
    with pytest.raises(ValueError, match='frames_from'):
        VisionPretrainConfig(base='x', frames_from='anywhere')
