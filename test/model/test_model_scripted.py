"""The scripted test double and the factory: selection by model id, modes, streaming, cancel,
request/option validation (no torch needed)."""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

from robot_r1_ros.core import parsing
from robot_r1_ros.core.errors import BadInputError, ConfigError, RobotR1Error
from robot_r1_ros.core.prompts import PromptMetadata
from robot_r1_ros.core.types import PAPER_TASKS, GripperState, TaskKind
from robot_r1_ros.model import (GenerationCancelledError, GenerationError, GenerationOptions,
                                ReasonerConfig, ReasonerRequest, ScriptedReasoner,
                                load_reasoner)


def test_scripted_is_selected_by_model_id_without_torch_import():
    torch_loaded_before = 'torch' in sys.modules
    reasoner = load_reasoner('scripted:valid?xyz=0.1,-0.2,0.3&gripper=closed&delay_s=0')
    assert isinstance(reasoner, ScriptedReasoner)
    assert reasoner.describe() == {'model_id': reasoner.model_id, 'backend': 'scripted',
                                   'mode': 'valid'}
    if not torch_loaded_before:
        assert 'torch' not in sys.modules


@pytest.mark.parametrize('kind', list(PAPER_TASKS))  # the node's tasks
def test_valid_mode_answers_every_task(make_request, kind):
    reasoner = load_reasoner('scripted:valid?xyz=0.1,-0.2,0.3&gripper=closed&option=C')
    out = reasoner.predict(make_request(kind))
    assert out.ok and out.finish_reason == 'stop'
    if kind.is_multiple_choice:
        assert out.option == 'C'
    else:
        assert out.xyz_env_m == (0.1, -0.2, 0.3) and out.gripper is GripperState.CLOSED
    assert parsing.parse_completion(out.completion).answer == out.answer
    assert out.prompt_tokens > 0 and out.timings.total_s >= out.timings.parse_s > 0


def test_other_modes(make_request):
    req = make_request(TaskKind.OPEN_KEYPOINT)
    garbage = load_reasoner('scripted:garbage').predict(req)
    assert not garbage.ok and 'missing <think>' in garbage.parse_error
    far = load_reasoner('scripted:out_of_workspace').predict(req)
    assert far.ok and far.xyz_env_m == (9.0, 9.0, 9.0)
    echo = load_reasoner('scripted:echo').predict(req)
    assert echo.xyz_env_m == req.metadata.current_xyz_env_m
    with pytest.raises(GenerationError) as info:
        load_reasoner('scripted:error').predict(req)
    assert isinstance(info.value, RobotR1Error)
    flaky = load_reasoner('scripted:valid?fail_every=3')
    results = []
    for _ in range(6):
        try:
            results.append(flaky.predict(req).ok)
        except GenerationError:
            results.append('error')
    assert results == [True, True, 'error', True, True, 'error']
    script = ScriptedReasoner('script', completions=[
        '<think>a</think><answer>[[B]]</answer>', 'nonsense'])
    mc = req.__class__(req.image_rgb, TaskKind.MOVEMENT, messages=[
        {'role': 'user', 'content': [{'type': 'image'}, {'type': 'text', 'text': 'q'}]}])
    assert [script.predict(mc).option for _ in range(3)] == ['B', None, 'B']


def test_stream_chunks_and_cancel(make_request):
    reasoner = load_reasoner('scripted:valid?delay_s=0.01&chunk_chars=5')
    req = make_request(TaskKind.NEXT_WAYPOINT)
    stream = reasoner.stream(req)
    chunks = list(stream)
    assert len(chunks) > 5 and all(len(c) <= 5 for c in chunks)
    assert ''.join(chunks) == stream.output.completion
    slow = load_reasoner('scripted:valid?delay_s=0.2')
    stream = slow.stream(req)
    t0 = time.perf_counter()
    first = next(stream)
    stream.cancel()
    with pytest.raises(GenerationCancelledError) as info:
        list(stream)
    assert time.perf_counter() - t0 < 1.5
    assert info.value.partial_text.startswith(first)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelledError):
        slow.predict(req, cancel=cancel)


def test_stream_result_times_out_cleanly(make_request):
    slow = load_reasoner('scripted:valid?delay_s=0.3')
    stream = slow.stream(make_request(TaskKind.OPEN_KEYPOINT))
    with pytest.raises(TimeoutError):
        stream.result(timeout_s=0.05)
    stream.cancel()
    with pytest.raises(GenerationCancelledError):
        stream.result(timeout_s=5)


@pytest.mark.parametrize('model_id', [
    'scripted:nonsense', 'scripted:valid?xyz=1,2', 'scripted:valid?colour=red',
    'scripted:valid?gripper=ajar', 'scripted:valid?option=E', 'scripted:valid?delay_s=-1',
    'scripted:script',
])
def test_bad_scripted_ids_raise_config_error(model_id):
    with pytest.raises(ConfigError) as info:
        load_reasoner(model_id)
    assert info.value.field == 'model_id'


@pytest.mark.parametrize('image, message', [
    (np.zeros((10, 10), np.uint8), 'HxWx3'),
    (np.zeros((10, 10, 4), np.uint8), 'HxWx3'),
    (np.zeros((0, 10, 3), np.uint8), 'empty'),
    (np.zeros((10, 10, 3), np.float32), 'uint8'),
    ([[0, 0, 0]], 'numpy array'),
])
def test_bad_images_raise_bad_input(image, message):
    meta = PromptMetadata(current_xyz_env_m=(0, 0, 0))
    with pytest.raises(BadInputError, match=message):
        ReasonerRequest(image, TaskKind.OPEN_KEYPOINT, 'go', meta)


def test_bad_requests_raise_bad_input(scene_image):
    meta = PromptMetadata(current_xyz_env_m=(0, 0, 0))
    with pytest.raises(BadInputError, match='unknown task kind'):
        ReasonerRequest(scene_image, 'juggle', 'go', meta)
    with pytest.raises(BadInputError, match='messages or instruction'):
        ReasonerRequest(scene_image, TaskKind.OPEN_KEYPOINT, 'go')
    with pytest.raises(BadInputError, match='exactly one image slot'):
        ReasonerRequest(scene_image, messages=[{'role': 'user', 'content': 'no image'}])
    reasoner = load_reasoner('scripted:valid')
    no_options = ReasonerRequest(scene_image, TaskKind.NEXT_WAYPOINT, 'go', meta)
    with pytest.raises(BadInputError, match='exactly 4 options'):
        reasoner.predict(no_options)
    # A non-contiguous view is accepted (copied), e.g. a BGR->RGB flip.
    flipped = ReasonerRequest(scene_image[:, :, ::-1], TaskKind.OPEN_KEYPOINT, 'go', meta)
    assert flipped.image_rgb.flags['C_CONTIGUOUS']


@pytest.mark.parametrize('field, value', [
    ('max_new_tokens', 0), ('think_budget_tokens', -1), ('temperature', 0.0), ('top_p', 0.0),
    ('top_p', 1.5), ('top_k', -1), ('repetition_penalty', 0.0), ('min_pixels', 10),
    ('max_time_s', 0.0), ('seed', 1.5),
])
def test_bad_generation_options_raise_config_error(field, value):
    with pytest.raises(ConfigError) as info:
        GenerationOptions(**{field: value})
    assert info.value.field == f'generation.{field}'


def test_bad_reasoner_config_raises_config_error():
    with pytest.raises(ConfigError, match='dtype'):
        ReasonerConfig(dtype='float8')
    with pytest.raises(ConfigError, match='attn_implementation'):
        ReasonerConfig(attn_implementation='flash')
    with pytest.raises(ConfigError, match='device'):
        ReasonerConfig(device='gpu')
    with pytest.raises(ConfigError, match='min_pixels: must be <= max_pixels'):
        ReasonerConfig(min_pixels=10000, max_pixels=5000)
    with pytest.raises(ConfigError, match='model_id'):
        ReasonerConfig(model_id='  ')
    with pytest.raises(ConfigError, match='temprature: unknown setting'):
        ReasonerConfig.from_mapping({'model_id': 'scripted:valid', 'temprature': 1})
    with pytest.raises(ConfigError, match='generation.max_tokens'):
        ReasonerConfig.from_mapping({'generation': {'max_tokens': 1}})
    with pytest.raises(ConfigError):
        load_reasoner(42)  # type: ignore[arg-type]
    config = ReasonerConfig.from_mapping({'model_id': 'scripted:valid',
                                          'generation': {'think_budget_tokens': 3}})
    assert load_reasoner(config).defaults.think_budget_tokens == 3


def test_warmup_and_context_manager():
    with load_reasoner('scripted:valid') as reasoner:
        reasoner.warmup()
        assert reasoner.calls == 1
