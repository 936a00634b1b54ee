"""The tiny checkpoint: deterministic, hub layout, real Qwen tokens and chat template."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from robot_r1_ros.model import build_tiny


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.is_file()}


def test_build_is_deterministic(tiny_checkpoint, tmp_path):
    again = build_tiny.build(tmp_path / 'again', seed=0)
    first, second = _digests(tiny_checkpoint), _digests(again)
    assert set(first) == set(build_tiny.REQUIRED_FILES)
    assert first == second


def test_other_seed_gives_other_weights(tiny_checkpoint, tmp_path):
    other = build_tiny.build(tmp_path / 'seed1', seed=1)
    assert _digests(other)['model.safetensors'] != _digests(tiny_checkpoint)['model.safetensors']


def test_hub_layout_and_size(tiny_checkpoint):
    names = {p.name for p in tiny_checkpoint.iterdir()}
    assert set(build_tiny.REQUIRED_FILES) <= names
    assert not any(n.endswith(('.bin', '.pt', '.pth')) for n in names)
    total = sum(p.stat().st_size for p in tiny_checkpoint.iterdir())
    assert total < 5_000_000, f'tiny checkpoint is {total} bytes'
    # Qwen2.5-VL-7B-Instruct's processor files, same keys and processor class.
    pre = json.loads((tiny_checkpoint / 'preprocessor_config.json').read_text())
    assert pre['processor_class'] == 'Qwen2_5_VLProcessor'
    assert pre['image_processor_type'] == 'Qwen2VLImageProcessor'
    assert (pre['min_pixels'], pre['max_pixels'], pre['patch_size'], pre['merge_size']) == \
        (3136, 12845056, 14, 2)
    template = json.loads((tiny_checkpoint / 'chat_template.json').read_text())['chat_template']
    assert template == build_tiny.QWEN2_5_VL_CHAT_TEMPLATE
    config = json.loads((tiny_checkpoint / 'config.json').read_text())
    assert config['model_type'] == 'qwen2_5_vl'
    for path in tiny_checkpoint.iterdir():  # readable by a node running as another user
        assert path.stat().st_mode & 0o044 == 0o044


def test_tokenizer_has_qwen_tokens_and_compact_prompts(tiny_checkpoint):
    from robot_r1_ros.core import prompts
    from robot_r1_ros.core.types import TaskKind
    from robot_r1_ros.model.processor import load_processor

    processor = load_processor(str(tiny_checkpoint))
    tok = processor.tokenizer
    ids = [tok.convert_tokens_to_ids(t) for t, _ in build_tiny.QWEN_ADDED_TOKENS]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # Qwen's order, contiguous at the end
    assert tok.eos_token == '<|im_end|>' and tok.pad_token == '<|endoftext|>'
    special = {t for t, s in build_tiny.QWEN_ADDED_TOKENS if s}
    assert special <= set(tok.all_special_tokens)
    messages = prompts.build_messages(
        TaskKind.OPEN_KEYPOINT, 'put the red cube on the blue square',
        prompts.PromptMetadata(current_xyz_env_m=(0.1, 0.2, 0.3)))
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text.startswith('<|im_start|>system\n')
    assert '<|vision_start|><|image_pad|><|vision_end|>' in text
    assert text.endswith('<|im_start|>assistant\n')
    n_tokens = len(tok(text)['input_ids'])
    assert n_tokens < len(text) / 3, f'{n_tokens} tokens for {len(text)} chars: not compact'
    completion = '<think>The red cube is left.</think><answer>[0.123, -0.045, 0.210] open</answer>'
    assert tok.decode(tok(completion)['input_ids']) == completion


def test_cli_if_missing_skips_up_to_date_and_rebuilds_stale(tmp_path, capsys):
    out = tmp_path / 'cli'
    assert build_tiny.main(['--out', str(out), '--if-missing']) == 0
    assert 'built' in capsys.readouterr().out
    before = _digests(out)
    mtime = (out / 'model.safetensors').stat().st_mtime_ns
    assert build_tiny.main(['--out', str(out), '--if-missing']) == 0
    assert 'up to date' in capsys.readouterr().out
    assert (out / 'model.safetensors').stat().st_mtime_ns == mtime
    # A stale recipe (or a half-written folder) is rebuilt.
    info = json.loads((out / 'build_info.json').read_text())
    info['recipe_sha256'] = 'stale'
    (out / 'build_info.json').write_text(json.dumps(info))
    assert not build_tiny.is_up_to_date(out)
    assert build_tiny.main(['--out', str(out), '--if-missing']) == 0
    assert _digests(out) == before
    (out / 'tokenizer.json').unlink()
    assert not build_tiny.is_up_to_date(out)


def test_default_output_is_inside_the_repo():
    assert build_tiny.DEFAULT_OUT.parts[-2:] == ('models', 'tiny-qwen2.5-vl')
    assert (build_tiny.DEFAULT_OUT.parents[1] / 'robot_r1_ros').is_dir()


def test_model_loads_back_with_from_pretrained(tiny_checkpoint, torch_one_thread):
    from transformers import AutoModelForImageTextToText

    model = AutoModelForImageTextToText.from_pretrained(str(tiny_checkpoint),
                                                        use_safetensors=True)
    assert type(model).__name__ == 'Qwen2_5_VLForConditionalGeneration'
    assert model.generation_config.eos_token_id[0] == model.config.text_config.eos_token_id
    vocab_rows = model.config.text_config.vocab_size
    n_tokens = json.loads((tiny_checkpoint / 'build_info.json').read_text())['tokenizer_size']
    assert vocab_rows % 64 == 0 and n_tokens <= vocab_rows < n_tokens + 64
