"""The transformers backend on the tiny checkpoint: the 7B's loading path, every task parses,
outputs carry timings and token counts, streaming, cancel, seeds and pixel bounds."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from robot_r1_ros.core import parsing
from robot_r1_ros.core.errors import RobotR1Error
from robot_r1_ros.core.types import PAPER_TASKS, GripperState, TaskKind
from robot_r1_ros.model import (GenerationCancelledError, ReasonerConfig, ReasonerOutput,
                                ReasonerRequest, load_reasoner)


def test_loads_through_the_hub_checkpoint_path(tiny_reasoner, tiny_checkpoint):
    from robot_r1_ros.model.qwen_backend import QwenReasoner

    assert isinstance(tiny_reasoner, QwenReasoner)
    info = tiny_reasoner.describe()
    assert info['model_type'] == 'qwen2_5_vl'
    assert info['path'] == str(tiny_checkpoint)
    assert (info['device'], info['dtype'], info['attn_implementation']) == \
        ('cpu', 'float32', 'sdpa')
    # The same processor class the 7B folder gets here (no torchvision on this stack).
    from robot_r1_ros.model.processor import torchvision_usable
    expected = 'Qwen2_5_VLProcessor' if torchvision_usable() else 'Qwen2_5_VLImageOnlyProcessor'
    assert info['processor'] == expected
    assert info['max_pixels'] == 112 * 112


@pytest.mark.parametrize('kind', list(PAPER_TASKS))  # the node's tasks
def test_every_task_gives_a_parseable_prediction(tiny_reasoner, make_request, kind):
    out = tiny_reasoner.predict(make_request(kind))
    assert isinstance(out, ReasonerOutput)
    assert out.ok, out.parse_error
    assert out.kind is kind and out.request_id == f'test-{kind.value}'
    assert out.finish_reason == 'stop'
    # Consistent with core.parsing, the only code that knows the grammar.
    think, answer = parsing.parse_completion(out.completion)
    assert (out.reasoning, out.answer) == (think, answer)
    if kind.is_multiple_choice:
        assert out.option in parsing.OPTION_LETTERS and out.xyz_env_m is None
        assert parsing.parse_option(answer) == out.option
    else:
        assert out.option is None and isinstance(out.gripper, GripperState)
        assert len(out.xyz_env_m) == 3 and all(np.isfinite(out.xyz_env_m))
    assert 0 < out.image_tokens <= 16 < out.prompt_tokens  # max_pixels 112*112: <= 16 tokens
    assert 0 < out.generated_tokens <= 128
    t = out.timings
    assert t.preprocess_s > 0 and t.generate_s > 0 and t.parse_s > 0
    assert t.total_s >= t.preprocess_s + t.generate_s + t.parse_s - 1e-6
    assert out.tokens_per_s > 0
    assert out.model_id == tiny_reasoner.model_id


def test_prediction_converts_to_core_prediction(tiny_reasoner, make_request):
    from robot_r1_ros.core.types import Prediction

    class ShiftFrame:  # the EnvFrame protocol: env -> base is a translation here
        def env_to_base(self, xyz):
            return np.asarray(xyz) + (0.5, 0.0, 0.0)

    out = tiny_reasoner.predict(make_request(TaskKind.OPEN_KEYPOINT))
    pred = out.to_prediction(ShiftFrame())
    assert isinstance(pred, Prediction)
    assert pred.keypoint.xyz_base_m == pytest.approx(
        (out.xyz_env_m[0] + 0.5, out.xyz_env_m[1], out.xyz_env_m[2]))
    assert pred.keypoint.gripper is out.gripper and pred.reasoning == out.reasoning


def test_greedy_is_deterministic_and_seeded_sampling_repeats(tiny_reasoner, make_request):
    req = make_request(TaskKind.OPEN_KEYPOINT)
    assert tiny_reasoner.predict(req).completion == tiny_reasoner.predict(req).completion
    sampled = make_request(TaskKind.OPEN_KEYPOINT,
                           generation=tiny_reasoner.defaults.replace(do_sample=True, seed=7))
    a, b = tiny_reasoner.predict(sampled), tiny_reasoner.predict(sampled)
    assert a.completion == b.completion
    other = make_request(TaskKind.OPEN_KEYPOINT,
                         generation=tiny_reasoner.defaults.replace(do_sample=True, seed=8))
    assert tiny_reasoner.predict(other).completion != a.completion


def test_streaming_callback_and_iterator_give_the_completion(tiny_reasoner, make_request):
    req = make_request(TaskKind.NEXT_WAYPOINT,
                       generation=tiny_reasoner.defaults.replace(do_sample=True, seed=3))
    chunks: list[str] = []
    out = tiny_reasoner.predict(req, on_text=chunks.append)
    assert len(chunks) > 3 and all(chunks)
    assert ''.join(chunks) == out.completion
    assert out.completion.startswith('<think>')
    stream = tiny_reasoner.stream(req)
    streamed = list(stream)
    assert ''.join(streamed) == stream.output.completion == out.completion
    assert stream.result(timeout_s=5) is stream.output


def test_cancel_stops_generation_with_a_typed_error(tiny_reasoner, make_request):
    req = make_request(TaskKind.OPEN_KEYPOINT,
                       generation=tiny_reasoner.defaults.replace(think_budget_tokens=60))
    cancel = threading.Event()
    seen: list[str] = []

    def on_text(delta: str) -> None:
        seen.append(delta)
        if len(seen) == 2:
            cancel.set()

    with pytest.raises(GenerationCancelledError) as info:
        tiny_reasoner.predict(req, on_text=on_text, cancel=cancel)
    assert isinstance(info.value, RobotR1Error)
    assert info.value.partial_text.startswith(''.join(seen[:2]))
    assert len(info.value.partial_text) < 200
    # The stream form: cancel from the consumer side.
    stream = tiny_reasoner.stream(req)
    stream.cancel()
    with pytest.raises(GenerationCancelledError):
        list(stream)
    # The reasoner keeps working afterwards.
    assert tiny_reasoner.predict(req).ok


def test_per_call_pixel_bounds_change_image_tokens(tiny_reasoner, make_request):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    def expected_tokens(max_pixels: int) -> int:  # Qwen2-VL's published resize rule
        h, w = smart_resize(480, 640, factor=28, min_pixels=3136, max_pixels=max_pixels)
        return h * w // (28 * 28)

    image = np.zeros((480, 640, 3), np.uint8)
    req = make_request(TaskKind.OPEN_KEYPOINT, image=image)
    assert tiny_reasoner.predict(req).image_tokens == expected_tokens(112 * 112)
    bigger = make_request(TaskKind.OPEN_KEYPOINT, image=image,
                          generation=tiny_reasoner.defaults.replace(max_pixels=256 * 28 * 28))
    assert tiny_reasoner.predict(bigger).image_tokens == expected_tokens(256 * 28 * 28) == 234


def test_unconstrained_output_is_reported_not_raised(tiny_reasoner, make_request):
    req = make_request(TaskKind.OPEN_KEYPOINT, generation=tiny_reasoner.defaults.replace(
        constrained=False, max_new_tokens=24, do_sample=True, seed=0))
    out = tiny_reasoner.predict(req)
    assert not out.ok and 'expected' in out.parse_error
    assert out.finish_reason in ('length', 'stop')
    with pytest.raises(Exception) as info:
        out.raise_for_format()
    assert type(info.value).__name__ == 'AnswerFormatError'


def test_sample_returns_n_parseable_completions(tiny_reasoner, make_request):
    req = make_request(TaskKind.MOVEMENT,
                       generation=tiny_reasoner.defaults.replace(do_sample=True, seed=1))
    outs = tiny_reasoner.sample(req, 6)
    assert len(outs) == 6 and all(o.ok for o in outs)
    assert len({o.completion for o in outs}) > 1


def test_request_with_ready_messages(tiny_reasoner, scene_image):
    messages = [{'role': 'user', 'content': [
        {'type': 'image'}, {'type': 'text', 'text': 'Which option? [[A]] left [[B]] right'}]}]
    out = tiny_reasoner.predict(ReasonerRequest(scene_image, TaskKind.MOVEMENT,
                                                messages=messages))
    assert out.ok and out.option in parsing.OPTION_LETTERS


def test_config_mapping_with_flat_generation_keys(tiny_checkpoint):
    config = ReasonerConfig.from_mapping({'model_id': str(tiny_checkpoint), 'device': 'cpu',
                                          'generation.max_new_tokens': 100,
                                          'generation_think_budget_tokens': 5})
    assert config.generation.max_new_tokens == 100
    assert config.generation.think_budget_tokens == 5
    reasoner = load_reasoner(config)
    assert reasoner.defaults.think_budget_tokens == 5


def test_warmup_runs_a_constrained_prediction(tiny_reasoner):
    out = tiny_reasoner.warmup()
    assert out.ok and out.request_id == 'warmup' and out.kind is TaskKind.OPEN_KEYPOINT
    assert tiny_reasoner.constraints.grammar(TaskKind.OPEN_KEYPOINT).cache_size() > 0


def _hub_legacy_config(nested: dict) -> dict:
    """The tiny config.json rewritten in the flat layout of Qwen/Qwen2.5-VL-7B-Instruct's
    config.json (transformers 4.x: text fields at the top, ``rope_scaling`` of type mrope)."""
    text = nested['text_config']
    vision = {k: v for k, v in nested['vision_config'].items()
              if k not in ('model_type', 'rope_parameters', 'in_channels', 'initializer_range')}
    vision['spatial_patch_size'] = vision['patch_size']
    rope = text['rope_parameters']
    return {
        'architectures': ['Qwen2_5_VLForConditionalGeneration'], 'attention_dropout': 0.0,
        'bos_token_id': text['bos_token_id'], 'eos_token_id': text['eos_token_id'],
        'vision_start_token_id': nested['vision_start_token_id'],
        'vision_end_token_id': nested['vision_end_token_id'],
        'vision_token_id': nested['vision_start_token_id'] + 2,
        'image_token_id': nested['image_token_id'], 'video_token_id': nested['video_token_id'],
        'hidden_act': 'silu', 'hidden_size': text['hidden_size'], 'initializer_range': 0.02,
        'intermediate_size': text['intermediate_size'],
        'max_position_embeddings': text['max_position_embeddings'], 'max_window_layers': 28,
        'model_type': 'qwen2_5_vl', 'num_attention_heads': text['num_attention_heads'],
        'num_hidden_layers': text['num_hidden_layers'],
        'num_key_value_heads': text['num_key_value_heads'], 'rms_norm_eps': 1e-06,
        'rope_theta': rope['rope_theta'], 'sliding_window': 32768, 'tie_word_embeddings': False,
        'torch_dtype': 'float32', 'transformers_version': '4.41.2', 'use_cache': True,
        'use_sliding_window': False, 'vision_config': vision,
        'rope_scaling': {'type': 'mrope', 'mrope_section': rope['mrope_section']},
        'vocab_size': text['vocab_size'],
    }


def test_hub_7b_config_layout_loads_the_same_model(tiny_checkpoint, tiny_reasoner, make_request,
                                                   tmp_path):
    """The 7B's files use the flat transformers-4 config; the same weights under such a config
    load through the same path and give the same greedy completion."""
    import json
    import shutil

    folder = tmp_path / 'hub-layout'
    shutil.copytree(tiny_checkpoint, folder)
    nested = json.loads((tiny_checkpoint / 'config.json').read_text())
    (folder / 'config.json').write_text(json.dumps(_hub_legacy_config(nested), indent=2))
    legacy = load_reasoner({'model_id': str(folder), 'device': 'cpu',
                            'max_pixels': 112 * 112,
                            'generation': tiny_reasoner.defaults})
    req = make_request(TaskKind.OPEN_KEYPOINT)
    assert legacy.predict(req).completion == tiny_reasoner.predict(req).completion
    legacy.close()
