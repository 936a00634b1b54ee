"""Remote backend: the reasoner behind an OpenAI-compatible chat-completions server.

For a tethered GPU (the model on a machine next to the robot, or one server for a fleet): vLLM
(``vllm serve Qwen/Qwen2.5-VL-7B-Instruct ...``), SGLang, TGI, ``transformers serve``, or the
package's own :mod:`robot_r1_ros.model.openai_server`. Selected by ``backend: remote`` in the
:class:`~robot_r1_ros.core.config.ReasonerConfig` (the node's ``model.backend``).

Per prediction, with the official ``openai`` client:

1. the same chat messages as the local path (``core.prompts``), the frame resized on the robot
   as the model's processor would (``min_pixels``/``max_pixels``) and sent as a data URL;
2. the answer grammar of ``core.parsing`` as ``structured_outputs.regex`` (or ``guided_regex``,
   or nothing: then the local parser decides), see :mod:`robot_r1_ros.model.remote_request`;
3. the completion streamed: every text delta goes to ``on_text`` (the node forwards it into the
   ``predict_keypoint`` action's feedback); ``cancel`` closes the stream;
4. the completion parsed by ``core.parsing``: a completion that does not parse is a
   ``parse_error`` (the node's FORMAT_ERROR), exactly as for the local backend.

Failures never hang or crash the caller: connection refused, timeouts (``remote.timeout_s`` is a
deadline for the whole request), HTTP errors and malformed responses raise
:class:`~robot_r1_ros.model.errors.GenerationError` with the reason (the node's MODEL_ERROR).
Failures before any text arrived are retried ``remote.retries`` times with exponential backoff.
Nothing queues: one request at a time per reasoner, and each new prediction tries the server
afresh, so predictions resume by themselves when the server comes back. :meth:`health` gives
the state, the last latency and the last error for the node's diagnostics.

The API key is read from the environment variable ``remote.api_key_env`` and never logged.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import openai

from robot_r1_ros.core.config import ReasonerConfig
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.model import remote_request as rr
from robot_r1_ros.model.errors import (GenerationCancelledError, GenerationError,
                                       ModelLoadError)
from robot_r1_ros.model.interface import (Reasoner, ReasonerOutput, ReasonerRequest,
                                          ReasonerTimings, TextCallback, parse_output_fields)

_LOG = logging.getLogger(__name__)

_RETRYABLE = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError,
              openai.RateLimitError)
"""Errors worth another attempt (APITimeoutError is an APIConnectionError subclass)."""


class RemoteReasoner(Reasoner):
    """A :class:`Reasoner` whose model runs behind an OpenAI-compatible server.

    Args:
        config: ``backend='remote'``; ``remote`` holds the server settings, ``model_id`` the
            served model name unless ``remote.model`` is set, ``min_pixels``/``max_pixels``
            the on-robot resize, ``generation`` the default decoding options.

    Raises:
        ConfigError: ``remote.api_key_env`` names an unset environment variable.
    """

    def __init__(self, config: ReasonerConfig) -> None:
        self.config = config
        self.remote = config.remote
        self.model_id = config.model_id
        self.served_model = config.remote.model or config.model_id
        self.defaults = config.generation
        key = 'EMPTY'  # servers without --api-key ignore it; the client needs a value
        if self.remote.api_key_env:
            key = os.environ.get(self.remote.api_key_env, '')
            if not key:
                raise ConfigError(f'remote.api_key_env: the environment variable '
                                  f'{self.remote.api_key_env} is not set (or empty)',
                                  'remote.api_key_env')
        timeout = openai.Timeout(self.remote.timeout_s, connect=self.remote.connect_timeout_s)
        # Retries are ours (backoff, deadline, cancel); the client's own are off.
        self._client = openai.OpenAI(base_url=self.remote.base_url, api_key=key,
                                     timeout=timeout, max_retries=0)
        self._lock = threading.Lock()
        self._health_lock = threading.Lock()
        self._health: dict[str, Any] = {
            'state': 'unknown', 'requests': 0, 'failures': 0, 'consecutive_failures': 0,
            'retries': 0, 'last_latency_ms': None, 'last_error': '', 'last_ok_unix': None}

    # ------------------------------------------------------------------------------ facts

    def describe(self) -> dict[str, Any]:
        """See :meth:`Reasoner.describe` (never the key itself)."""
        return {'model_id': self.model_id, 'backend': 'remote',
                'base_url': self.remote.base_url, 'served_model': self.served_model,
                'constraint': self.remote.constraint, 'image_format': self.remote.image_format,
                'api_key_env': self.remote.api_key_env or '(none)',
                'min_pixels': self.config.min_pixels, 'max_pixels': self.config.max_pixels}

    def health(self) -> dict[str, str]:
        """The server's state as seen by the last requests (for /diagnostics).

        ``remote_state`` is ``ok`` (last request answered), ``down`` (last request failed) or
        ``unknown`` (no request yet).
        """
        with self._health_lock:
            h = dict(self._health)
        latency = h['last_latency_ms']
        return {'remote_state': h['state'], 'remote_base_url': self.remote.base_url,
                'remote_requests': str(h['requests']), 'remote_failures': str(h['failures']),
                'remote_consecutive_failures': str(h['consecutive_failures']),
                'remote_retries': str(h['retries']),
                'remote_last_latency_ms': f'{latency:.1f}' if latency is not None else 'none',
                'remote_last_error': h['last_error']}

    def _record(self, ok: bool, latency_s: float, error: str = '') -> None:
        with self._health_lock:
            h = self._health
            h['requests'] += 1
            h['last_latency_ms'] = latency_s * 1e3
            if ok:
                h['state'], h['consecutive_failures'] = 'ok', 0
                h['last_ok_unix'] = time.time()
            else:
                h['state'] = 'down'
                h['failures'] += 1
                h['consecutive_failures'] += 1
                h['last_error'] = error

    def warmup(self) -> ReasonerOutput | None:  # type: ignore[override]
        """Check the server lists the model (``GET /models``).

        A server that cannot be reached is only logged: the node starts anyway and its
        predictions are MODEL_ERROR until the server answers.

        Raises:
            ModelLoadError: The server answers but does not serve ``served_model``.
        """
        try:
            served = [m.id for m in self._client.models.list(timeout=self.remote.timeout_s)]
        except openai.APIError as exc:
            _LOG.warning('remote server %s not reachable at start-up (%s); predictions are '
                         'MODEL_ERROR until it answers', self.remote.base_url, _reason(exc))
            return None
        if self.served_model not in served:
            raise ModelLoadError(f'{self.remote.base_url} does not serve {self.served_model!r} '
                                 f'(it serves: {", ".join(served) or "nothing"})',
                                 self.served_model)
        return None

    # ------------------------------------------------------------------------- predict

    def encode(self, request: ReasonerRequest) -> tuple[dict[str, Any], float]:
        """The request body for ``request`` and the encode time [s] (prompt, resize, PNG)."""
        t0 = time.perf_counter()
        opts = request.generation or self.defaults
        min_px = opts.min_pixels or self.config.min_pixels
        max_px = opts.max_pixels or self.config.max_pixels
        image = rr.resize_for_model(request.image_rgb, min_px, max_px)
        url = rr.image_data_url(image, self.remote.image_format, self.remote.jpeg_quality)
        messages = rr.openai_messages(request.build_messages(), url)
        body = rr.chat_request_body(messages, request.kind, opts, self.remote,
                                    self.served_model)
        return body, time.perf_counter() - t0

    def predict(self, request: ReasonerRequest, *, on_text: TextCallback | None = None,
                cancel: threading.Event | None = None) -> ReasonerOutput:
        """See :meth:`Reasoner.predict`.

        Raises:
            GenerationError: The server could not be reached, timed out, failed or answered
                something that is not a chat completion (after the retries).
            GenerationCancelledError: ``cancel`` was set.
        """
        with self._lock:
            t0 = time.perf_counter()
            body, _ = self.encode(request)
            t1 = time.perf_counter()
            deadline = t1 + self.remote.timeout_s
            attempt = 0
            while True:
                sent: list[str] = []
                try:
                    result = self._stream(body, on_text, cancel, deadline, sent)
                    break
                except GenerationCancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001  (every failure: reason, no crash)
                    reason = _reason(exc)
                    retry = (isinstance(exc, _RETRYABLE) and not sent
                             and attempt < self.remote.retries)
                    wait = min(self.remote.backoff_max_s, self.remote.backoff_s * 2 ** attempt)
                    if retry and time.perf_counter() + wait < deadline:
                        attempt += 1
                        with self._health_lock:
                            self._health['retries'] += 1
                        _LOG.debug('remote attempt %d failed (%s); retrying in %.2f s',
                                   attempt, reason, wait)
                        if cancel is not None and cancel.wait(wait):
                            raise GenerationCancelledError(partial_text='') from None
                        if cancel is None:
                            time.sleep(wait)
                        continue
                    self._record(False, time.perf_counter() - t1, reason)
                    raise GenerationError(f'remote {self.remote.base_url}: {reason}'
                                          f'{" after %d retries" % attempt if attempt else ""}'
                                          ) from exc
            t2 = time.perf_counter()
            completion, finish, usage, server_s = result
            self._record(True, t2 - t1)
            fields = parse_output_fields(request.kind, completion)
            t3 = time.perf_counter()
            out = ReasonerOutput(
                kind=request.kind, completion=completion, finish_reason=finish,
                prompt_tokens=int(usage.get('prompt_tokens', 0)),
                generated_tokens=int(usage.get('completion_tokens', 0)),
                timings=ReasonerTimings(t1 - t0, t2 - t1, t3 - t2, t3 - t0),
                model_id=self.model_id, request_id=request.request_id, **fields)
            self.last_server_s = server_s
            return out

    last_server_timings: dict[str, float] = {}
    """The package server's ``robot_r1`` timings of the last prediction (server_s,
    preprocess_s, generate_s)."""
    last_server_s: float | None = None
    """Server-side time of the last prediction when the server reports it (the package's own
    server does, in the final chunk's ``robot_r1.server_s``), for the remote-overhead bench."""

    def _stream(self, body: dict[str, Any], on_text: TextCallback | None,
                cancel: threading.Event | None, deadline: float, sent: list[str]
                ) -> tuple[str, str, dict[str, int], float | None]:
        """One streamed attempt -> (completion, finish reason, usage, server time or None)."""
        standard = {k: v for k, v in body.items() if k in _OPENAI_FIELDS}
        extra = {k: v for k, v in body.items() if k not in _OPENAI_FIELDS}
        remaining = max(0.05, deadline - time.perf_counter())
        stream = self._client.chat.completions.create(
            **standard, extra_body=extra or None,
            timeout=openai.Timeout(remaining, connect=min(remaining,
                                                          self.remote.connect_timeout_s)))
        finish, usage, server_s = 'stop', {}, None
        try:
            for chunk in stream:
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelledError(partial_text=''.join(sent))
                if time.perf_counter() > deadline:
                    raise DeadlineExceeded(f'timed out: not finished within remote.timeout_s '
                                           f'= {self.remote.timeout_s:g} s')
                if chunk.usage is not None:
                    usage = {'prompt_tokens': chunk.usage.prompt_tokens or 0,
                             'completion_tokens': chunk.usage.completion_tokens or 0}
                extra_fields = chunk.model_extra or {}
                if isinstance(extra_fields.get('robot_r1'), dict):
                    self.last_server_timings = dict(extra_fields['robot_r1'])
                    server_s = extra_fields['robot_r1'].get('server_s')
                for choice in chunk.choices:
                    text = choice.delta.content if choice.delta is not None else None
                    if text:
                        sent.append(text)
                        if on_text is not None:
                            on_text(text)
                    if choice.finish_reason:
                        finish = 'length' if choice.finish_reason == 'length' else 'stop'
        finally:
            stream.close()
        return ''.join(sent), finish, usage, server_s

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()


class DeadlineExceeded(Exception):
    """The server was still streaming at the request's deadline."""


_OPENAI_FIELDS = frozenset({'model', 'messages', 'max_tokens', 'max_completion_tokens',
                            'temperature', 'top_p', 'seed', 'stream', 'stream_options'})
"""Body fields the ``openai`` client takes as arguments; the rest go in ``extra_body``."""


def _reason(exc: BaseException) -> str:
    """A short, key-free reason for logs and predictions."""
    if isinstance(exc, DeadlineExceeded):
        return str(exc)
    if isinstance(exc, openai.APITimeoutError):
        return 'timed out (no answer within remote.timeout_s)'
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f'{type(cause).__name__}: {str(cause)[:120]}' if cause else 'connection error'
        return f'cannot connect ({detail})'
    if isinstance(exc, openai.APIStatusError):
        message = str(getattr(exc, 'message', '') or exc)
        return f'HTTP {exc.status_code}: {message[:200]}'
    return f'{type(exc).__name__}: {str(exc)[:200]}'
