"""A small OpenAI-compatible chat-completions server around the package's own Reasoner.

For a tethered GPU without vLLM, for the project's own checkpoints, and for tests on loopback:

    python -m robot_r1_ros.model.openai_server --model checkpoints/robot-r1-tiny-see \\
        --host 0.0.0.0 --port 8000 --max-pixels 200704

Endpoints: ``GET /v1/models``, ``GET /health``, ``POST /v1/chat/completions`` (streaming with
server-sent events, or not). A request carries OpenAI chat messages with one image as a
``data:`` URL (``image_url``); ``max_tokens``, ``temperature`` (0 = greedy), ``top_p``,
``top_k``, ``seed`` and ``repetition_penalty`` map onto
:class:`~robot_r1_ros.core.config.GenerationOptions`.

Output constraint: ``structured_outputs: {"regex": ...}`` (vLLM >= 0.12) or ``guided_regex``
(older vLLM) is honoured with the package's constrained decoding
(:mod:`robot_r1_ros.model.constrained`) for the regex family the remote backend sends,
``<think>[^<]{0,N}</think><answer>ANSWER</answer>`` (the reasoning bounded to N characters);
another regex, or another ``structured_outputs`` kind, is refused with HTTP 400 (never silently
ignored). Without one, decoding is free.

The final streamed chunk (and a non-streamed response) carries ``robot_r1.server_s``, the time
the server spent on the request, so a client can split its latency into network and server.
The server answers one generation at a time (requests queue on the model's lock).
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import logging
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Mapping

import numpy as np

from robot_r1_ros.core.config import GenerationOptions, ReasonerConfig
from robot_r1_ros.core.errors import BadInputError, ConfigError, RobotR1Error
from robot_r1_ros.core.types import TaskKind
from robot_r1_ros.model.errors import GenerationCancelledError
from robot_r1_ros.model.reasoner import Reasoner, ReasonerRequest, load_reasoner
from robot_r1_ros.model.remote_request import split_grammar_regex

_LOG = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024


class RequestError(Exception):
    """A bad request (HTTP 400) with its reason."""


def decode_data_url(url: str) -> np.ndarray:
    """``data:image/...;base64,...`` -> HxWx3 uint8 RGB.

    Raises:
        RequestError: Not a base64 data URL of a decodable image.
    """
    if not isinstance(url, str) or not url.startswith('data:image/') or ';base64,' not in url:
        raise RequestError('images must be data:image/...;base64 URLs (no remote fetches)')
    from PIL import Image, UnidentifiedImageError
    try:
        raw = base64.b64decode(url.split(';base64,', 1)[1], validate=True)
        with Image.open(io.BytesIO(raw)) as pil:
            return np.asarray(pil.convert('RGB'))
    except (ValueError, UnidentifiedImageError, OSError) as exc:
        raise RequestError(f'cannot decode the image: {exc}') from None


def to_request(body: Mapping[str, Any], defaults: GenerationOptions) -> ReasonerRequest:
    """An OpenAI chat-completions body -> a :class:`ReasonerRequest`.

    Raises:
        RequestError: Missing/invalid fields, not exactly one image, an unsupported constraint.
    """
    messages = body.get('messages')
    if not isinstance(messages, list) or not messages:
        raise RequestError('messages must be a non-empty list')
    hf_messages, images = [], []
    for message in messages:
        if not isinstance(message, Mapping) or 'role' not in message:
            raise RequestError('every message needs a role')
        content = message.get('content')
        if isinstance(content, str) or content is None:
            hf_messages.append({'role': message['role'],
                                'content': [{'type': 'text', 'text': content or ''}]})
            continue
        parts = []
        for part in content:
            kind = part.get('type') if isinstance(part, Mapping) else None
            if kind == 'text':
                parts.append({'type': 'text', 'text': str(part.get('text', ''))})
            elif kind == 'image_url':
                url = part.get('image_url')
                images.append(decode_data_url(url.get('url') if isinstance(url, Mapping)
                                              else url))
                parts.append({'type': 'image'})
            else:
                raise RequestError(f'unsupported content part type {kind!r}')
        hf_messages.append({'role': message['role'], 'content': parts})
    if len(images) != 1:
        raise RequestError(f'exactly one image is needed, got {len(images)}')
    try:
        opts = generation_options(body, defaults)
        return ReasonerRequest(images[0], TaskKind.OPEN_KEYPOINT, messages=hf_messages,
                               generation=opts, request_id=str(body.get('request_id', '')))
    except (ConfigError, BadInputError) as exc:
        raise RequestError(str(exc)) from None


def generation_options(body: Mapping[str, Any], defaults: GenerationOptions
                       ) -> GenerationOptions:
    """Sampling fields and the regex constraint of a body -> GenerationOptions."""
    max_tokens = body.get('max_completion_tokens', body.get('max_tokens'))
    temperature = float(body.get('temperature', 1.0) if body.get('temperature') is not None
                        else 1.0)
    changes: dict[str, Any] = {
        'max_new_tokens': int(max_tokens) if max_tokens is not None else defaults.max_new_tokens,
        'do_sample': temperature > 0, 'temperature': temperature if temperature > 0 else 1.0,
        'top_p': float(body.get('top_p') or 1.0), 'top_k': int(body.get('top_k') or 0),
        'repetition_penalty': float(body.get('repetition_penalty') or 1.0),
        'seed': int(body['seed']) if body.get('seed') is not None else None,
        'constrained': False, 'answer_regex': None, 'think_budget_chars': None}
    pattern = None
    structured = body.get('structured_outputs')
    if structured is not None:
        if not isinstance(structured, Mapping):
            raise RequestError('structured_outputs must be an object')
        other = sorted(k for k, v in structured.items() if v is not None and k != 'regex')
        if other:
            raise RequestError(f'structured_outputs {", ".join(other)} not supported (regex is)')
        pattern = structured.get('regex')
    if body.get('guided_regex') is not None:
        pattern = body['guided_regex']
    for key in ('guided_json', 'guided_choice', 'guided_grammar', 'response_format'):
        if body.get(key) is not None and not (key == 'response_format'
                                              and body[key] == {'type': 'text'}):
            raise RequestError(f'{key} is not supported by this server (regex is)')
    if pattern is not None:
        try:
            answer_regex, max_chars = split_grammar_regex(str(pattern))
        except (ValueError, re.error) as exc:
            raise RequestError(f'structured_outputs.regex: {exc}') from None
        changes.update(constrained=True, answer_regex=answer_regex,
                       think_budget_chars=max_chars,
                       think_budget_tokens=changes['max_new_tokens'])
    return defaults.replace(**changes)


class _Handler(BaseHTTPRequestHandler):
    server: '_Server'
    protocol_version = 'HTTP/1.1'

    def log_message(self, fmt: str, *args: Any) -> None:
        _LOG.debug('%s %s', self.address_string(), fmt % args)

    def _json(self, status: int, payload: Mapping[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        kind = 'invalid_request_error' if status < 500 else 'server_error'
        self._json(status, {'error': {'message': message, 'type': kind, 'code': status}})

    def do_GET(self) -> None:  # noqa: N802  (http.server's name)
        if self.path.rstrip('/') in ('/v1/models', '/models'):
            self._json(200, {'object': 'list', 'data': [
                {'id': self.server.served_name, 'object': 'model', 'created': 0,
                 'owned_by': 'robot_r1_ros'}]})
        elif self.path.rstrip('/') == '/health':
            self._json(200, {'status': 'ok'})
        else:
            self._error(404, f'no route {self.path}')

    def do_POST(self) -> None:  # noqa: N802
        t0 = time.perf_counter()
        if self.path.rstrip('/') not in ('/v1/chat/completions', '/chat/completions'):
            self._error(404, f'no route {self.path}')
            return
        try:
            length = int(self.headers.get('Content-Length') or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                raise RequestError(f'body must be 1..{MAX_BODY_BYTES} bytes, got {length}')
            body = json.loads(self.rfile.read(length))
            if not isinstance(body, dict):
                raise RequestError('the body must be a JSON object')
            model = body.get('model')
            if model not in (None, self.server.served_name):
                self._error(404, f'model {model!r} is not served here '
                                 f'({self.server.served_name!r} is)')
                return
            request = to_request(body, self.server.reasoner.defaults)
        except (RequestError, json.JSONDecodeError, ValueError, TypeError) as exc:
            self._error(400, str(exc))
            return
        if body.get('stream'):
            self._stream(request, body, t0)
        else:
            self._complete(request, t0)

    def _complete(self, request: ReasonerRequest, t0: float) -> None:
        try:
            out = self.server.reasoner.predict(request)
        except RobotR1Error as exc:
            self._error(500, f'{type(exc).__name__}: {exc}')
            return
        self._json(200, {
            'id': f'chatcmpl-{uuid.uuid4().hex}', 'object': 'chat.completion',
            'created': int(time.time()), 'model': self.server.served_name,
            'choices': [{'index': 0, 'finish_reason': _finish(out.finish_reason),
                         'message': {'role': 'assistant', 'content': out.completion}}],
            'usage': _usage(out), 'robot_r1': _timings(out, t0)})

    def _stream(self, request: ReasonerRequest, body: Mapping[str, Any], t0: float) -> None:
        cid, created = f'chatcmpl-{uuid.uuid4().hex}', int(time.time())
        self.send_response(200)
        self.send_header('Content-Type', 'text/event-stream')
        self.send_header('Cache-Control', 'no-cache')
        self.send_header('Connection', 'close')
        self.end_headers()
        self.close_connection = True
        cancel = threading.Event()

        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> None:
            payload = {'id': cid, 'object': 'chat.completion.chunk', 'created': created,
                       'model': self.server.served_name,
                       'choices': [] if delta is None else [
                           {'index': 0, 'delta': delta, 'finish_reason': finish}], **extra}
            try:
                self.wfile.write(f'data: {json.dumps(payload)}\n\n'.encode())
                self.wfile.flush()
            except OSError:  # the client went away: stop generating
                cancel.set()

        chunk({'role': 'assistant', 'content': ''})
        try:
            out = self.server.reasoner.predict(
                request, on_text=lambda text: chunk({'content': text}), cancel=cancel)
        except GenerationCancelledError:
            return
        except RobotR1Error as exc:  # headers are sent: report in-band, as vLLM does
            chunk(None, error={'message': f'{type(exc).__name__}: {exc}', 'code': 500})
            return
        chunk({}, _finish(out.finish_reason))
        extra: dict[str, Any] = {'robot_r1': _timings(out, t0)}
        if (body.get('stream_options') or {}).get('include_usage'):
            extra['usage'] = _usage(out)
        chunk(None, **extra)
        try:
            self.wfile.write(b'data: [DONE]\n\n')
            self.wfile.flush()
        except OSError:
            pass


def _finish(reason: str) -> str:
    return 'length' if reason in ('length', 'time') else 'stop'


def _timings(out: Any, t0: float) -> dict[str, float]:
    """The server's own time on a request and the model's share of it [s]."""
    return {'server_s': time.perf_counter() - t0, 'preprocess_s': out.timings.preprocess_s,
            'generate_s': out.timings.generate_s}


def _usage(out: Any) -> dict[str, int]:
    return {'prompt_tokens': out.prompt_tokens, 'completion_tokens': out.generated_tokens,
            'total_tokens': out.prompt_tokens + out.generated_tokens}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    reasoner: Reasoner
    served_name: str


def make_server(reasoner: Reasoner, host: str = '127.0.0.1', port: int = 8000,
                served_name: str | None = None) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving: call ``serve_forever``) answering for ``reasoner``;
    ``port`` 0 picks a free one (``server.server_address[1]``)."""
    server = _Server((host, port), _Handler)
    server.reasoner = reasoner
    server.served_name = served_name or reasoner.model_id
    return server


def main(argv: list[str] | None = None) -> int:
    """``python -m robot_r1_ros.model.openai_server --model PATH [--port N] ...``"""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', required=True, help='checkpoint folder or hub id')
    parser.add_argument('--served-model-name', default=None,
                        help='name clients use (default: --model)')
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8000, help='0 = any free port')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--dtype', default='auto')
    parser.add_argument('--min-pixels', type=int, default=None)
    parser.add_argument('--max-pixels', type=int, default=None)
    parser.add_argument('--num-threads', type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s: %(message)s')
    reasoner = load_reasoner(ReasonerConfig(
        model_id=args.model, device=args.device, dtype=args.dtype, min_pixels=args.min_pixels,
        max_pixels=args.max_pixels, num_threads=args.num_threads))
    reasoner.warmup()
    server = make_server(reasoner, args.host, args.port, args.served_model_name)
    host, port = server.server_address[:2]
    print(f'serving {server.served_name!r} on http://{host}:{port}/v1', flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        reasoner.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
