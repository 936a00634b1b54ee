"""The request a remote (OpenAI-compatible) backend sends: pure functions, no network, no torch.

- :func:`smart_resize` / :func:`resize_for_model`: the Qwen2-VL image resize (sides multiples of
  28, area within ``[min_pixels, max_pixels]``, aspect ratio kept), done on the robot so that
  the server receives exactly the pixels the local path would feed the model (and the server's
  own resize is then the identity);
- :func:`image_data_url`: the frame as a ``data:image/png;base64,...`` URL;
- :func:`openai_messages`: the chat messages of ``core.prompts`` (the ones the local path
  renders with the chat template) with the image slot as an ``image_url`` part;
- :func:`grammar_regex`: the whole-completion regex from ``core.parsing`` (the local constraint's
  grammar source);
- :func:`chat_request_body`: the JSON body of ``POST /v1/chat/completions`` as vLLM documents it
  (``structured_outputs.regex``, or ``guided_regex`` for vLLM < 0.12, or no constraint).
"""
from __future__ import annotations

import base64
import io
import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

from robot_r1_ros.core import parsing
from robot_r1_ros.core.config import GenerationOptions
from robot_r1_ros.core.remote_config import RemoteConfig
from robot_r1_ros.core.types import TaskKind
from robot_r1_ros.model.regex_analysis import regex_width

PATCH_FACTOR = 28
"""Qwen2-VL / Qwen2.5-VL: patch 14 x spatial merge 2."""
QWEN_MIN_PIXELS = 56 * 56
"""The Qwen2.5-VL processor's default lower bound of the resized area."""
QWEN_MAX_PIXELS = 28 * 28 * 1280
"""The Qwen2.5-VL-7B-Instruct preprocessor's default upper bound of the resized area."""

ANSWER_RESERVE_CHARS = 16
"""Slack added to ``max_tokens`` beyond the regex's longest close + answer (end token, BPE)."""


def smart_resize(height: int, width: int, min_pixels: int = QWEN_MIN_PIXELS,
                 max_pixels: int = QWEN_MAX_PIXELS, factor: int = PATCH_FACTOR
                 ) -> tuple[int, int]:
    """(height, width) the Qwen2-VL image processor resizes an image to.

    Both sides are rounded to multiples of ``factor``; if the area exceeds ``max_pixels`` (or
    falls below ``min_pixels``) both sides are scaled by the same factor first.
    """
    if max(height, width) / max(1, min(height, width)) > 200:
        raise ValueError(f'aspect ratio of {height}x{width} is above 200')
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return int(h_bar), int(w_bar)


def resize_for_model(image_rgb: np.ndarray, min_pixels: int | None, max_pixels: int | None
                     ) -> np.ndarray:
    """The frame resized as the model's processor would (bicubic, as Qwen's processor);
    unchanged when no bound is set (the server's processor then applies its own)."""
    if min_pixels is None and max_pixels is None:
        return image_rgb
    height, width = image_rgb.shape[:2]
    size = smart_resize(height, width, min_pixels or QWEN_MIN_PIXELS,
                        max_pixels or max(QWEN_MAX_PIXELS, min_pixels or 0))
    if size == (height, width):
        return image_rgb
    from PIL import Image
    resized = Image.fromarray(image_rgb).resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return np.asarray(resized)


def image_data_url(image_rgb: np.ndarray, image_format: str = 'png',
                   jpeg_quality: int = 90) -> str:
    """``data:image/<format>;base64,...`` of an HxWx3 uint8 RGB frame."""
    from PIL import Image
    buf = io.BytesIO()
    pil = Image.fromarray(image_rgb)
    if image_format == 'jpeg':
        pil.save(buf, format='JPEG', quality=int(jpeg_quality))
    else:
        pil.save(buf, format='PNG', compress_level=1)  # speed over size: loopback / LAN
    return f'data:image/{image_format};base64,{base64.b64encode(buf.getvalue()).decode("ascii")}'


def openai_messages(messages: Sequence[Mapping[str, Any]], image_url: str
                    ) -> list[dict[str, Any]]:
    """Hugging Face chat messages -> OpenAI chat messages: text parts kept, the one
    ``{'type': 'image'}`` slot becomes ``{'type': 'image_url', 'image_url': {'url': ...}}``."""
    out = []
    for message in messages:
        content = message.get('content')
        if isinstance(content, str) or content is None:
            out.append({'role': message['role'], 'content': content or ''})
            continue
        parts = []
        for part in content:
            if part.get('type') == 'image':
                parts.append({'type': 'image_url', 'image_url': {'url': image_url}})
            elif part.get('type') == 'text':
                parts.append({'type': 'text', 'text': part.get('text', '')})
            else:
                raise ValueError(f'unsupported message part type {part.get("type")!r}')
        out.append({'role': message['role'], 'content': parts})
    return out


def grammar_regex(kind: TaskKind, max_think_chars: int | None,
                  answer_regex: str | None = None) -> str:
    """The whole completion as a regex: ``core.parsing.completion_regex`` with the reasoning
    bounded to ``max_think_chars`` characters (None = unbounded), or an ANSWER override."""
    think = r'[^<]*' if max_think_chars is None else '[^<]{0,%d}' % int(max_think_chars)
    if answer_regex is None:
        return parsing.completion_regex(kind, think)
    return f'<think>{think}</think><answer>(?:{answer_regex})</answer>'


_GRAMMAR_RE = re.compile(r'\A<think>\[\^<\](?:\*|\{0,(\d+)\})</think><answer>(.*)</answer>\Z',
                         re.DOTALL)


def split_grammar_regex(pattern: str) -> tuple[str, int | None]:
    """Inverse of :func:`grammar_regex`: (ANSWER regex, reasoning character bound or None).

    Raises:
        ValueError: ``pattern`` is not of the ``<think>[^<]...</think><answer>...</answer>``
            family.
    """
    match = _GRAMMAR_RE.match(pattern)
    if match is None:
        raise ValueError('only the <think>[^<]{0,N}</think><answer>ANSWER</answer> regex family '
                         'is supported by this server')
    answer = match.group(2)
    if answer.startswith('(?:') and answer.endswith(')') and _balanced(answer[3:-1]):
        answer = answer[3:-1]  # the group wraps the whole ANSWER
    re.compile(answer)
    bound = match.group(1)
    return answer, (int(bound) if bound is not None else None)


def _balanced(text: str) -> bool:
    depth, escaped = 0, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == '\\':
            escaped = True
        elif ch == '(':
            depth += 1
        elif ch == ')':
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def think_chars(opts: GenerationOptions, remote: RemoteConfig) -> int:
    """The reasoning character bound sent in the regex."""
    return remote.max_think_chars or 4 * opts.think_budget_tokens


def max_tokens_for(kind: TaskKind, opts: GenerationOptions, remote: RemoteConfig,
                   answer_regex: str | None = None) -> int:
    """``max_tokens`` of a request: ``generation.max_new_tokens``, raised when constrained so
    that the longest allowed completion fits (every token holds at least one character)."""
    if remote.constraint == 'none' or not opts.constrained:
        return opts.max_new_tokens
    longest = regex_width(grammar_regex(kind, 0, answer_regex))[1]
    if longest is None:
        return opts.max_new_tokens
    return max(opts.max_new_tokens, think_chars(opts, remote) + longest + ANSWER_RESERVE_CHARS)


def chat_request_body(messages: list[dict[str, Any]], kind: TaskKind, opts: GenerationOptions,
                      remote: RemoteConfig, model: str, stream: bool = True) -> dict[str, Any]:
    """The JSON body of ``POST {base_url}/chat/completions``.

    Standard OpenAI fields (``model``, ``messages``, ``max_completion_tokens`` (``max_tokens``
    for ``guided_regex`` / ``none``: older servers), ``temperature``,
    ``top_p``, ``seed``, ``stream``, ``stream_options``) plus vLLM's documented extra fields
    ``top_k``, ``repetition_penalty`` and the constraint (``structured_outputs: {regex}`` or
    ``guided_regex``). Greedy decoding is ``temperature 0``.
    """
    # vLLM >= 0.12 (structured_outputs) deprecates max_tokens for max_completion_tokens;
    # older vLLM and other servers know max_tokens.
    max_key = 'max_completion_tokens' if remote.constraint == 'structured_outputs' \
        else 'max_tokens'
    body: dict[str, Any] = {
        'model': model, 'messages': messages,
        max_key: max_tokens_for(kind, opts, remote, opts.answer_regex),
        'temperature': float(opts.temperature) if opts.do_sample else 0.0,
        'top_p': float(opts.top_p) if opts.do_sample else 1.0,
        'stream': bool(stream),
    }
    if stream:
        body['stream_options'] = {'include_usage': True}
    if opts.seed is not None:
        body['seed'] = int(opts.seed)
    if opts.do_sample and opts.top_k:
        body['top_k'] = int(opts.top_k)
    if opts.repetition_penalty != 1.0:
        body['repetition_penalty'] = float(opts.repetition_penalty)
    if opts.constrained and remote.constraint != 'none':
        pattern = grammar_regex(kind, think_chars(opts, remote), opts.answer_regex)
        if remote.constraint == 'structured_outputs':
            body['structured_outputs'] = {'regex': pattern}
        else:
            body['guided_regex'] = pattern
    return body
