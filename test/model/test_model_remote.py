"""The remote backend against real HTTP servers on loopback, started and stopped by the tests:

- the package's own OpenAI-compatible server (``model.openai_server``) around the tiny
  checkpoint: same completion as the local path, streaming, the regex constraint honoured
  (0 format failures from the untrained checkpoint), recovery after a restart;
- small failure servers (refused, silent, garbage, HTTP 500) for the failure behaviour;
- a recording server that pins the exact body the ``openai`` client puts on the wire against
  vLLM's documented chat-completions fields.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from robot_r1_ros.core import parsing
from robot_r1_ros.core.config import GenerationOptions
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.types import TaskKind
from robot_r1_ros.model import load_reasoner
from robot_r1_ros.model.errors import GenerationError
from robot_r1_ros.model.remote_request import (chat_request_body, smart_resize,
                                               split_grammar_regex)

SMALL_MAX_PIXELS = 112 * 112  # as the tiny_reasoner fixture (test/model/conftest.py)

# vLLM's chat-completions request (docs: "OpenAI-Compatible Server" > Chat API + "Extra
# Parameters", and "Structured Outputs": since v0.12 `structured_outputs` replaces the
# removed `guided_*` fields). Every field the backend sends must be one of these.
VLLM_CHAT_FIELDS = frozenset({
    'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'seed',
    'stream', 'stream_options', 'n', 'stop',
    # vLLM extra sampling parameters
    'top_k', 'min_p', 'repetition_penalty', 'min_tokens', 'skip_special_tokens',
    'structured_outputs', 'mm_processor_kwargs',
})
VLLM_OLD_FIELDS = frozenset({'guided_regex'})  # vLLM < 0.12
GEN = GenerationOptions(max_new_tokens=128, think_budget_tokens=24)
STRUCTURED_OUTPUT_KEYS = frozenset({'json', 'regex', 'choice', 'grammar', 'json_object',
                                    'structural_tag'})


def _serve(handler_cls, port: int = 0) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(('127.0.0.1', port), handler_cls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def package_server(tiny_reasoner):
    """The package's server around the tiny checkpoint's reasoner, on a free loopback port."""
    from robot_r1_ros.model.openai_server import make_server
    server = make_server(tiny_reasoner, '127.0.0.1', 0, served_name='tiny')
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    _stop(server)


def _remote(port: int, **remote):
    return load_reasoner({
        'model_id': 'tiny', 'backend': 'remote', 'max_pixels': SMALL_MAX_PIXELS,
        'generation': GEN,
        'remote': {'base_url': f'http://127.0.0.1:{port}/v1', 'timeout_s': 20.0, **remote}})


# ------------------------------------------------------------------------- request contents


def test_smart_resize_matches_the_transformers_image_processor():
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf
    for h, w in [(480, 640), (96, 128), (1080, 1920), (30, 500), (224, 224), (57, 85)]:
        for lo, hi in [(56 * 56, 28 * 28 * 1280), (56 * 56, 112 * 112), (256 * 28 * 28,
                                                                         256 * 28 * 28)]:
            assert smart_resize(h, w, lo, hi) == tuple(hf(h, w, 28, lo, hi)), (h, w, lo, hi)


def test_request_body_uses_only_documented_vllm_fields(make_request):
    from robot_r1_ros.core.remote_config import RemoteConfig
    req = make_request('open_keypoint')
    opts = GEN.replace(think_budget_tokens=40, do_sample=True, top_k=5, seed=3)
    body = chat_request_body([{'role': 'user', 'content': 'x'}], req.kind, opts,
                             RemoteConfig(), 'm')
    assert set(body) <= VLLM_CHAT_FIELDS
    assert set(body['structured_outputs']) <= STRUCTURED_OUTPUT_KEYS
    # The grammar is core.parsing's, with the reasoning bounded to 4 x the token budget.
    assert body['structured_outputs'] == {
        'regex': parsing.completion_regex(TaskKind.OPEN_KEYPOINT, '[^<]{0,160}')}
    assert body['max_completion_tokens'] >= 160 + len('</think><answer>[-00.000, -00.000, -00.000] '
                                           'closed</answer>')
    assert (body['temperature'], body['top_k'], body['seed']) == (1.0, 5, 3)
    old = chat_request_body([], req.kind, opts, RemoteConfig(constraint='guided_regex'), 'm')
    assert set(old) <= VLLM_CHAT_FIELDS | VLLM_OLD_FIELDS and 'structured_outputs' not in old
    assert old['guided_regex'] == body['structured_outputs']['regex']
    free = chat_request_body([], req.kind, opts, RemoteConfig(constraint='none'), 'm')
    assert 'structured_outputs' not in free and 'guided_regex' not in free
    assert free['max_tokens'] == opts.max_new_tokens and 'max_completion_tokens' not in free
    greedy = chat_request_body([], req.kind, opts.replace(do_sample=False), RemoteConfig(), 'm')
    assert greedy['temperature'] == 0.0 and 'top_k' not in greedy


def test_request_body_for_the_7b_is_pinned():
    """The exact body for Qwen2.5-VL-7B-Instruct with config/remote.yaml's settings (checked
    against vLLM 0.32.0's ChatCompletionRequest; see docs/tethered.md)."""
    from pathlib import Path

    from robot_r1_ros.core.prompts import PromptMetadata
    from robot_r1_ros.model import ReasonerRequest
    fixture = Path(__file__).resolve().parents[1] / 'fixtures' / 'model' / \
        'vllm_chat_request.json'
    remote = load_reasoner({'model_id': 'Qwen/Qwen2.5-VL-7B-Instruct', 'backend': 'remote',
                            'max_pixels': 200704})
    request = ReasonerRequest(np.full((96, 128, 3), 200, np.uint8), 'open_keypoint',
                              'put the red cube in the yellow zone', PromptMetadata(
                                  current_xyz_env_m=(0.1, -0.05, 0.25), current_gripper='open'))
    body, _ = remote.encode(request)
    for message in body['messages']:
        for part in message['content']:
            if part['type'] == 'image_url':
                assert part['image_url']['url'].startswith('data:image/png;base64,')
                part['image_url']['url'] = '<data:image/png;base64,...>'
    assert body == json.loads(fixture.read_text())
    assert set(body) <= VLLM_CHAT_FIELDS


def test_grammar_regex_round_trips_through_the_server_parser():
    for kind in TaskKind:
        pattern = parsing.completion_regex(kind, '[^<]{0,96}')
        assert split_grammar_regex(pattern) == (parsing.answer_regex(kind), 96)
    with pytest.raises(ValueError, match='regex family'):
        split_grammar_regex('[a-z]+')


class _Recorder(BaseHTTPRequestHandler):
    """Records the body and headers, answers one canned streamed completion."""

    bodies: list = []
    headers_seen: list = []

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        type(self).bodies.append(json.loads(self.rfile.read(int(self.headers['Content-Length']))))
        type(self).headers_seen.append(dict(self.headers))
        text = parsing.format_completion('r', parsing.format_open_keypoint((0.1, 0, 0.2), 'open'))
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.end_headers()
        for payload in ({'choices': [{'index': 0, 'delta': {'content': text},
                                      'finish_reason': 'stop'}]},):
            payload.update(id='x', object='chat.completion.chunk', created=0, model='m')
            self.wfile.write(f'data: {json.dumps(payload)}\n\n'.encode())
        self.wfile.write(b'data: [DONE]\n\n')


def test_wire_body_is_pinned_and_the_api_key_comes_from_the_environment(make_request,
                                                                        monkeypatch):
    monkeypatch.setenv('R1_TEST_KEY', 'sk-secret-123')
    server = _serve(_Recorder)
    try:
        remote = _remote(server.server_address[1], api_key_env='R1_TEST_KEY')
        out = remote.predict(make_request('open_keypoint'))
        assert out.ok and out.xyz_env_m == (0.1, 0.0, 0.2)
        body = _Recorder.bodies[-1]
        assert set(body) <= VLLM_CHAT_FIELDS, set(body) - VLLM_CHAT_FIELDS
        assert body['model'] == 'tiny' and body['stream'] is True
        assert body['stream_options'] == {'include_usage': True}
        assert body['structured_outputs']['regex'] == parsing.completion_regex(
            TaskKind.OPEN_KEYPOINT, '[^<]{0,96}')
        # Same prompt text as the local path; the image as a PNG data URL, resized on the robot.
        user = body['messages'][-1]['content']
        image = [p for p in user if p['type'] == 'image_url'][0]['image_url']['url']
        assert image.startswith('data:image/png;base64,')
        from robot_r1_ros.model.openai_server import decode_data_url
        assert decode_data_url(image).shape[:2] == smart_resize(96, 128, 56 * 56,
                                                                SMALL_MAX_PIXELS)
        local_text = [p['text'] for m in make_request('open_keypoint').build_messages()
                      for p in m['content'] if p.get('type') == 'text']
        assert [p['text'] for m in body['messages'] for p in m['content']
                if p['type'] == 'text'] == local_text
        auth = {k.lower(): v for k, v in _Recorder.headers_seen[-1].items()}['authorization']
        assert auth == 'Bearer sk-secret-123'
        assert 'sk-secret' not in json.dumps(remote.describe()) + json.dumps(remote.health())
        remote.close()
        monkeypatch.delenv('R1_TEST_KEY')
        with pytest.raises(ConfigError, match='R1_TEST_KEY is not set'):
            _remote(server.server_address[1], api_key_env='R1_TEST_KEY')
    finally:
        _stop(server)


# ------------------------------------------------------------------ the package's own server


def test_remote_equals_local_on_the_same_checkpoint(package_server, tiny_reasoner, make_request):
    remote = _remote(package_server.server_address[1])
    remote.warmup()  # the server lists 'tiny'
    free = GEN.replace(constrained=False)
    request = make_request('open_keypoint', generation=free)
    local_out = tiny_reasoner.predict(request)
    chunks: list[str] = []
    remote_out = remote.predict(request, on_text=chunks.append)
    assert remote_out.completion == local_out.completion  # same prompt, pixels, greedy
    assert remote_out.prompt_tokens == local_out.prompt_tokens
    assert ''.join(chunks) == remote_out.completion and len(chunks) > 1  # streamed
    assert remote.last_server_s is not None and remote.last_server_s > 0
    assert remote.health()['remote_state'] == 'ok'
    remote.close()


def test_constraining_server_gives_zero_format_failures_from_the_untrained_model(
        package_server, make_request):
    remote = _remote(package_server.server_address[1])
    kinds = [TaskKind.OPEN_KEYPOINT, TaskKind.NEXT_WAYPOINT, TaskKind.MOVEMENT]
    outs = []
    for i in range(12):
        gen = GEN.replace(do_sample=True, temperature=1.0, seed=i)
        outs.append(remote.predict(make_request(kinds[i % 3], generation=gen)))
    assert [o.parse_error for o in outs] == [None] * len(outs)
    # The regex's reasoning bound (4 x 24 characters) is honoured exactly.
    lengths = [len(parsing.parse_completion(o.completion).think) for o in outs]
    assert max(lengths) <= 96, [(n, o.completion) for n, o in zip(lengths, outs) if n > 96]
    unconstrained = _remote(package_server.server_address[1], constraint='none')
    failed = sum(not unconstrained.predict(make_request('open_keypoint')).ok for _ in range(3))
    assert failed == 3  # the untrained model never writes the format by itself
    remote.close()
    unconstrained.close()


def test_server_refuses_what_it_cannot_honour(package_server, make_request):
    import openai
    client = openai.OpenAI(base_url=f'http://127.0.0.1:{package_server.server_address[1]}/v1',
                           api_key='EMPTY', max_retries=0)
    messages = [{'role': 'user', 'content': [{'type': 'text', 'text': 'hi'}]}]
    with pytest.raises(openai.BadRequestError, match='exactly one image'):
        client.chat.completions.create(model='tiny', messages=messages)
    from robot_r1_ros.model.remote_request import image_data_url
    messages = [{'role': 'user', 'content': [
        {'type': 'image_url', 'image_url': {'url': image_data_url(np.zeros((56, 56, 3),
                                                                           np.uint8))}},
        {'type': 'text', 'text': 'hi'}]}]
    with pytest.raises(openai.BadRequestError, match='regex family'):
        client.chat.completions.create(model='tiny', messages=messages,
                                       extra_body={'structured_outputs': {'regex': 'a+'}})
    with pytest.raises(openai.BadRequestError, match='json'):
        client.chat.completions.create(model='tiny', messages=messages,
                                       extra_body={'structured_outputs': {'json': {}}})
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model='other', messages=messages)
    client.close()


# ------------------------------------------------------------------------- failure behaviour


class _Silent(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        time.sleep(3.0)  # longer than the client's deadline


class _Garbage(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.end_headers()
        self.wfile.write(b'data: {not json at all\n\n')


class _Error500(BaseHTTPRequestHandler):
    calls = 0

    def log_message(self, *args):
        pass

    def do_POST(self):  # noqa: N802
        type(self).calls += 1
        data = b'{"error": {"message": "CUDA out of memory", "code": 500}}'
        self.send_response(500)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_failures_are_generation_errors_with_a_reason_never_hangs(make_request):
    request = make_request('open_keypoint')
    silent, garbage, error500 = _serve(_Silent), _serve(_Garbage), _serve(_Error500)
    try:
        slow = _remote(silent.server_address[1], timeout_s=1.0, retries=0)
        t0 = time.monotonic()
        with pytest.raises(GenerationError, match='timed out'):
            slow.predict(request)
        assert time.monotonic() - t0 < 2.5
        assert slow.health()['remote_state'] == 'down'
        bad = _remote(garbage.server_address[1], retries=0)
        with pytest.raises(GenerationError, match='remote'):
            bad.predict(request)
        failing = _remote(error500.server_address[1], retries=2, backoff_s=0.05)
        with pytest.raises(GenerationError, match='HTTP 500.*after 2 retries'):
            failing.predict(request)
        assert _Error500.calls == 3 and failing.health()['remote_retries'] == '2'
    finally:
        for server in (silent, garbage, error500):
            _stop(server)


def test_server_down_then_back_recovers_by_itself(tiny_reasoner, make_request):
    from robot_r1_ros.model.openai_server import make_server
    server = make_server(tiny_reasoner, '127.0.0.1', 0, served_name='tiny')
    port = server.server_address[1]
    server.server_close()  # the port is free: nothing listens
    remote = _remote(port, retries=1, backoff_s=0.05)
    remote.warmup()  # unreachable at start-up: logged, not raised
    request = make_request('open_keypoint')
    t0 = time.monotonic()
    with pytest.raises(GenerationError, match='cannot connect'):
        remote.predict(request)
    assert time.monotonic() - t0 < 1.5
    health = remote.health()
    assert health['remote_state'] == 'down' and health['remote_consecutive_failures'] == '1'
    server = make_server(tiny_reasoner, '127.0.0.1', port, served_name='tiny')
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert remote.predict(request).ok
        assert remote.health()['remote_state'] == 'ok'
    finally:
        _stop(server)
        remote.close()


def test_scene_image_round_trips_losslessly(scene_image):
    from robot_r1_ros.model.openai_server import decode_data_url
    from robot_r1_ros.model.remote_request import image_data_url
    assert np.array_equal(decode_data_url(image_data_url(scene_image)), scene_image)


def test_jpeg_option_sends_a_jpeg_the_server_decodes(scene_image):
    from robot_r1_ros.model.openai_server import decode_data_url
    from robot_r1_ros.model.remote_request import image_data_url
    url = image_data_url(scene_image, 'jpeg', 90)
    assert url.startswith('data:image/jpeg;base64,')
    decoded = decode_data_url(url)
    assert decoded.shape == scene_image.shape
    assert np.abs(decoded.astype(int) - scene_image.astype(int)).mean() < 8  # lossy, close
