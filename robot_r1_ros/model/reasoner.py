"""The keypoint-reasoning interface: image + task in, reasoning + parsed answer out.

A :class:`Reasoner` turns one :class:`ReasonerRequest` (an RGB image, the task kind, the
instruction and the prompt metadata built by ``core.prompts``, or ready chat messages, plus
:class:`GenerationOptions`) into a :class:`ReasonerOutput`: the completion, its reasoning and
raw answer, the answer parsed by ``core.parsing`` (option letter or env-frame keypoint + gripper),
the reason when it does not parse, per-stage timings and token counts.

Three ways to call it:

- ``predict(request)``: blocking.
- ``predict(request, on_text=callback, cancel=event)``: the callback receives completion text
  deltas as they are generated (in the generating thread); setting ``event`` stops generation
  and raises :class:`~robot_r1_ros.model.errors.GenerationCancelledError`.
- ``stream(request)``: a :class:`PredictionStream` iterator of text deltas (generation runs in a
  worker thread); after the loop, ``stream.output`` holds the result, ``stream.cancel()`` stops.

Backends are picked by model id in :func:`load_reasoner`: ``scripted:<mode>[?k=v&...]`` gives a
:class:`ScriptedReasoner` (deterministic test double, no torch), anything else a Qwen2-VL /
Qwen2.5-VL checkpoint (local folder or hub id) through
:class:`~robot_r1_ros.model.qwen_backend.QwenReasoner`. This module imports no torch, so nodes
running scripted reasoners start fast.

Positions in requests and outputs are in the env frame (the prompt's frame); converting a
keypoint to the base frame is the caller's job (``ReasonerOutput.to_prediction(env_frame)``).
"""
from __future__ import annotations

import abc
import logging
import queue
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from robot_r1_ros.core import parsing, prompts
# The settings dataclasses live in the ROS-free core (one config class per concept); they are
# re-exported here because this is where callers of load_reasoner look for them.
from robot_r1_ros.core.config import (DEFAULT_MODEL_ID, GenerationOptions,  # noqa: F401
                                      ReasonerConfig)
from robot_r1_ros.core.errors import AnswerFormatError, BadInputError, ConfigError
from robot_r1_ros.core.types import XYZ, GripperState, Keypoint, Prediction, TaskKind
from robot_r1_ros.model.errors import GenerationCancelledError, GenerationError
from robot_r1_ros.model.locate import resolve_model_path  # noqa: F401 (public here too)

_LOG = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]

SCRIPTED_PREFIX = 'scripted:'

TextCallback = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# Request / options / output


def validate_image(image_rgb: Any) -> np.ndarray:
    """Check an RGB image: HxWx3 uint8 numpy array with nonzero size.

    Returns:
        The same array, C-contiguous (copied only when it was not).

    Raises:
        BadInputError: Not an array, wrong dtype, shape or zero size.
    """
    if not isinstance(image_rgb, np.ndarray):
        raise BadInputError(f'image_rgb must be a numpy array, got {type(image_rgb).__name__}')
    if image_rgb.dtype != np.uint8:
        raise BadInputError(f'image_rgb must be uint8, got {image_rgb.dtype}')
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        raise BadInputError(f'image_rgb must be HxWx3 (RGB), got shape {image_rgb.shape}')
    if image_rgb.shape[0] == 0 or image_rgb.shape[1] == 0:
        raise BadInputError(f'image_rgb must not be empty, got shape {image_rgb.shape}')
    return np.ascontiguousarray(image_rgb)


@dataclass(frozen=True)
class ReasonerRequest:
    """One question for a reasoner.

    Give either ``messages`` (Hugging Face chat messages with exactly one ``{'type': 'image'}``
    slot) or ``instruction`` + ``metadata`` (+ ``options`` for multiple-choice tasks), from which
    ``core.prompts.build_messages`` builds them.

    Attributes:
        image_rgb: HxWx3 uint8 RGB image (the camera frame).
        kind: The task (decides the answer grammar and parser).
        instruction: Task description, e.g. ``'put the red cube on the yellow square'``.
        metadata: Env metadata and current state (``core.prompts.PromptMetadata``).
        options: The four options of a multiple-choice task (positions or texts).
        messages: Ready chat messages (override instruction/metadata/options).
        generation: Per-request generation options; None = the reasoner's defaults.
        request_id: Free-form id echoed in the output (for logs).
    """

    image_rgb: np.ndarray
    kind: TaskKind = TaskKind.OPEN_KEYPOINT
    instruction: str = ''
    metadata: prompts.PromptMetadata | None = None
    options: Sequence[Any] | None = None
    messages: Sequence[Mapping[str, Any]] | None = None
    generation: GenerationOptions | None = None
    request_id: str = ''

    def __post_init__(self) -> None:
        object.__setattr__(self, 'image_rgb', validate_image(self.image_rgb))
        object.__setattr__(self, 'kind', TaskKind.parse(self.kind))
        if self.messages is None and self.metadata is None:
            raise BadInputError('a request needs either messages or instruction + metadata')
        if self.messages is not None:
            n_images = sum(1 for m in self.messages for part in _content_parts(m)
                           if isinstance(part, Mapping) and part.get('type') == 'image')
            if n_images != 1:
                raise BadInputError(f'messages must hold exactly one image slot, got {n_images}')
        if self.generation is not None and not isinstance(self.generation, GenerationOptions):
            object.__setattr__(self, 'generation',
                               GenerationOptions.from_mapping(self.generation))

    def build_messages(self) -> list[dict[str, Any]]:
        """The chat messages of this request (``core.prompts`` unless given).

        Raises:
            BadInputError: See ``core.prompts.build_messages``.
        """
        if self.messages is not None:
            return [dict(m) for m in self.messages]
        return prompts.build_messages(self.kind, self.instruction, self.metadata, self.options)


def _content_parts(message: Mapping[str, Any]) -> list[Any]:
    content = message.get('content')
    return [] if isinstance(content, str) or content is None else list(content)


@dataclass(frozen=True)
class ReasonerTimings:
    """Wall times of one prediction, seconds.

    Attributes:
        preprocess_s: Prompt building, chat template, image processor, tensors to device.
        generate_s: ``model.generate`` (prefill + decoding + constraint).
        parse_s: Decoding ids to text and ``core.parsing``.
        total_s: The whole ``predict`` call.
    """

    preprocess_s: float = 0.0
    generate_s: float = 0.0
    parse_s: float = 0.0
    total_s: float = 0.0


@dataclass(frozen=True)
class ReasonerOutput:
    """The result of one prediction.

    Attributes:
        kind: The task asked.
        completion: The decoded completion (special tokens removed).
        reasoning: Text inside ``<think>`` (stripped); '' when unparseable.
        answer: Raw text inside ``<answer>`` (stripped); '' when unparseable.
        option: 'A'..'D' for multiple-choice tasks when parsed, else None.
        xyz_env_m: Keypoint position (env frame, metres) for the open task when parsed.
        gripper: Keypoint gripper state for the open task when parsed.
        parse_error: Why the completion does not parse (``AnswerFormatError`` message), or
            None when it parsed.
        finish_reason: ``'stop'`` (end token), ``'length'`` (max_new_tokens) or ``'time'``
            (max_time_s).
        think_budget_hit: Constrained decoding closed the reasoning because its budget ran out.
        prompt_tokens: Tokens in the prompt (image tokens included).
        image_tokens: Image placeholder tokens in the prompt.
        generated_tokens: Tokens generated (end token included).
        timings: Per-stage wall times.
        model_id: The reasoner's model id.
        request_id: Echo of the request's id.
    """

    kind: TaskKind
    completion: str
    reasoning: str = ''
    answer: str = ''
    option: str | None = None
    xyz_env_m: XYZ | None = None
    gripper: GripperState | None = None
    parse_error: str | None = None
    finish_reason: str = 'stop'
    think_budget_hit: bool = False
    prompt_tokens: int = 0
    image_tokens: int = 0
    generated_tokens: int = 0
    timings: ReasonerTimings = field(default_factory=ReasonerTimings)
    model_id: str = ''
    request_id: str = ''

    @property
    def ok(self) -> bool:
        """True when the completion parsed for its task."""
        return self.parse_error is None

    @property
    def tokens_per_s(self) -> float:
        """Generated tokens per second of ``generate_s`` (0 when not measured)."""
        g = self.timings.generate_s
        return self.generated_tokens / g if g > 0 else 0.0

    def raise_for_format(self) -> 'ReasonerOutput':
        """Return self, or raise ``AnswerFormatError`` when the completion did not parse."""
        if self.parse_error is not None:
            raise AnswerFormatError(self.parse_error, self.completion)
        return self

    def to_prediction(self, env_frame: Any = None) -> Prediction:
        """The core ``Prediction`` (keypoint in the base frame).

        Args:
            env_frame: A ``core.geometry.EnvFrame`` (anything with ``env_to_base(xyz)``);
                required to fill the keypoint of the open task.

        Raises:
            AnswerFormatError: The completion did not parse.
        """
        self.raise_for_format()
        keypoint = None
        if self.xyz_env_m is not None and self.gripper is not None and env_frame is not None:
            xyz_base_m = tuple(float(v) for v in env_frame.env_to_base(self.xyz_env_m))
            keypoint = Keypoint(xyz_base_m, self.gripper)  # type: ignore[arg-type]
        return Prediction(keypoint=keypoint, reasoning=self.reasoning, raw_answer=self.answer,
                          kind=self.kind, option=self.option, latency_s=self.timings.total_s)


def parse_output_fields(kind: TaskKind, completion: str) -> dict[str, Any]:
    """Parse a completion with ``core.parsing`` into :class:`ReasonerOutput` fields.

    Returns:
        ``reasoning``, ``answer``, ``option``, ``xyz_env_m``, ``gripper``, ``parse_error``.
    """
    out: dict[str, Any] = {'reasoning': '', 'answer': '', 'option': None, 'xyz_env_m': None,
                           'gripper': None, 'parse_error': None}
    try:
        parsed = parsing.parse_completion(completion)
        out['reasoning'], out['answer'] = parsed.think, parsed.answer
        if kind.is_multiple_choice:
            out['option'] = parsing.parse_option(parsed.answer)
        else:
            out['xyz_env_m'], out['gripper'] = parsing.parse_open_keypoint(parsed.answer)
    except AnswerFormatError as exc:
        out['parse_error'] = str(exc)
    return out


# --------------------------------------------------------------------------------------------
# Interface


class PredictionStream:
    """Iterator over the completion text deltas of a prediction running in a worker thread.

    ``''.join(stream)`` equals ``stream.output.completion``. Errors of the prediction
    (including :class:`GenerationCancelledError`) are raised from the iteration once the text
    before them has been yielded.
    """

    _DONE = object()

    def __init__(self, reasoner: 'Reasoner', request: ReasonerRequest,
                 cancel: threading.Event | None = None) -> None:
        self._queue: queue.Queue = queue.Queue()
        self._cancel = cancel if cancel is not None else threading.Event()
        self._output: ReasonerOutput | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(reasoner, request),
                                        name='reasoner-stream', daemon=True)
        self._thread.start()

    def _run(self, reasoner: 'Reasoner', request: ReasonerRequest) -> None:
        try:
            self._output = reasoner.predict(request, on_text=self._queue.put,
                                            cancel=self._cancel)
        except BaseException as exc:  # noqa: BLE001  (re-raised in the consumer thread)
            self._error = exc
        finally:
            self._queue.put(self._DONE)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        item = self._queue.get()
        if item is self._DONE:
            self._queue.put(self._DONE)  # further next() calls stop too
            self._thread.join()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            raise StopIteration
        return item

    def cancel(self) -> None:
        """Ask the prediction to stop (iteration then raises ``GenerationCancelledError``)."""
        self._cancel.set()

    def result(self, timeout_s: float | None = None) -> ReasonerOutput:
        """Wait for the end and return the output (raises the prediction's error)."""
        for _ in iter(lambda: self._next_or_none(timeout_s), None):
            pass
        if self._output is None:
            raise GenerationError('prediction produced no output')
        return self._output

    def _next_or_none(self, timeout_s: float | None) -> str | None:
        try:
            item = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f'prediction still running after {timeout_s} s') from None
        if item is self._DONE:
            self._queue.put(self._DONE)
            self._thread.join()
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return None
        return item

    @property
    def output(self) -> ReasonerOutput | None:
        """The result once the iteration has finished, else None."""
        return self._output


class Reasoner(abc.ABC):
    """Keypoint-reasoning model interface (thread-safe: calls are serialised per instance).

    Attributes:
        model_id: What was loaded (folder, hub id or ``scripted:...``).
        defaults: Generation options used when a request carries none.
    """

    model_id: str
    defaults: GenerationOptions

    @abc.abstractmethod
    def predict(self, request: ReasonerRequest, *, on_text: TextCallback | None = None,
                cancel: threading.Event | None = None) -> ReasonerOutput:
        """Run one prediction.

        Args:
            request: The question.
            on_text: Called with each new piece of completion text, in the generating thread.
            cancel: When set during generation, stop and raise ``GenerationCancelledError``.

        Returns:
            The output; a completion that does not parse is reported in ``parse_error``,
            not raised.

        Raises:
            BadInputError: Bad request (image, prompt fields).
            GenerationError: The model failed.
            GenerationCancelledError: ``cancel`` was set.
        """

    def stream(self, request: ReasonerRequest,
               cancel: threading.Event | None = None) -> PredictionStream:
        """Start a prediction in a worker thread and iterate over its text deltas."""
        return PredictionStream(self, request, cancel)

    def warmup(self) -> ReasonerOutput:
        """Pay first-call costs (allocations, the constraint's token table and answer masks)
        with a small open-keypoint prediction: the default options, a 4-token reasoning."""
        image = np.zeros((56, 56, 3), np.uint8)
        meta = prompts.PromptMetadata(current_xyz_env_m=(0.0, 0.0, 0.0))
        gen = self.defaults.replace(think_budget_tokens=min(4, self.defaults.think_budget_tokens))
        return self.predict(ReasonerRequest(image, TaskKind.OPEN_KEYPOINT, 'warm up', meta,
                                            generation=gen, request_id='warmup'))

    def describe(self) -> dict[str, Any]:
        """Facts for logs and diagnostics (model id, backend, device, dtype...)."""
        return {'model_id': self.model_id, 'backend': type(self).__name__}

    def close(self) -> None:
        """Release the model (memory is freed when the last reference goes)."""

    def __enter__(self) -> 'Reasoner':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# --------------------------------------------------------------------------------------------
# Scripted test double


SCRIPTED_MODES = ('valid', 'garbage', 'error', 'out_of_workspace', 'echo', 'script')
"""Modes of :class:`ScriptedReasoner`:

- ``valid``: a canonical answer (``option`` / ``xyz`` + ``gripper`` parameters).
- ``garbage``: a completion that never parses.
- ``error``: ``predict`` raises ``GenerationError``.
- ``out_of_workspace``: a well-formed keypoint far outside any workspace ([9.000, 9.000, 9.000]).
- ``echo``: the open task answers the current position from the metadata (a no-op move).
- ``script``: cycle through the given completions.
"""


class ScriptedReasoner(Reasoner):
    """Deterministic reasoner for tests and demos: configured completions, no model.

    It builds the prompt with ``core.prompts`` and parses with ``core.parsing`` like a real
    backend, streams its completion in chunks (``delay_s`` apart, honouring ``cancel``), and
    reports timings; token counts are character counts / 4 (an estimate).

    Select it by model id ``scripted:<mode>[?key=value&...]``, e.g.
    ``scripted:valid?xyz=0.1,0.0,0.2&gripper=closed&delay_s=0.05``. Keys: ``xyz``, ``gripper``,
    ``option``, ``reasoning``, ``delay_s`` (per chunk), ``chunk_chars``, ``fail_every`` (every
    n-th call raises ``GenerationError``).
    """

    def __init__(self, mode: str = 'valid', *, completions: Sequence[str] = (),
                 xyz_env_m: Sequence[float] = (0.0, 0.0, 0.1), gripper: GripperState | str =
                 GripperState.OPEN, option: str = 'A',
                 reasoning: str = 'The gripper is above the table; the next waypoint follows.',
                 delay_s: float = 0.0, chunk_chars: int = 8, fail_every: int = 0,
                 model_id: str = '', defaults: GenerationOptions | None = None) -> None:
        if mode not in SCRIPTED_MODES:
            raise ConfigError(f'unknown scripted mode {mode!r}; expected one of: '
                              f'{", ".join(SCRIPTED_MODES)}', 'model_id')
        if mode == 'script' and not completions:
            raise ConfigError('scripted mode "script" needs completions', 'model_id')
        if delay_s < 0 or chunk_chars < 1 or fail_every < 0:
            raise ConfigError('delay_s >= 0, chunk_chars >= 1 and fail_every >= 0 are required',
                              'model_id')
        self.mode = mode
        self.completions = tuple(completions)
        self.xyz_env_m = tuple(float(v) for v in xyz_env_m)
        self.gripper = GripperState(gripper) if not isinstance(gripper, GripperState) else gripper
        self.option = parsing.format_option(option)[2]  # validates the letter
        self.reasoning = reasoning
        self.delay_s = float(delay_s)
        self.chunk_chars = int(chunk_chars)
        self.fail_every = int(fail_every)
        self.model_id = model_id or f'{SCRIPTED_PREFIX}{mode}'
        self.defaults = defaults or GenerationOptions()
        self.calls = 0
        self._lock = threading.Lock()

    @classmethod
    def from_model_id(cls, model_id: str, defaults: GenerationOptions | None = None
                      ) -> 'ScriptedReasoner':
        """Parse ``scripted:<mode>[?key=value&...]``.

        Raises:
            ConfigError: Unknown mode or key, or a bad value.
        """
        spec = model_id[len(SCRIPTED_PREFIX):] if model_id.startswith(SCRIPTED_PREFIX) \
            else model_id
        mode, _, query = spec.partition('?')
        kwargs: dict[str, Any] = {}
        try:
            for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True,
                                                     strict_parsing=bool(query)):
                if key == 'xyz':
                    kwargs['xyz_env_m'] = tuple(float(v) for v in value.split(','))
                    if len(kwargs['xyz_env_m']) != 3:
                        raise ValueError('xyz needs 3 comma-separated numbers')
                elif key in ('gripper', 'option', 'reasoning'):
                    kwargs[key] = value
                elif key == 'delay_s':
                    kwargs[key] = float(value)
                elif key in ('chunk_chars', 'fail_every'):
                    kwargs[key] = int(value)
                else:
                    raise ValueError(f'unknown key {key!r} (xyz, gripper, option, reasoning, '
                                     'delay_s, chunk_chars, fail_every)')
            return cls(mode or 'valid', model_id=model_id, defaults=defaults, **kwargs)
        except (ValueError, BadInputError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f'bad scripted model id {model_id!r}: {exc}', 'model_id') from None

    def _completion(self, request: ReasonerRequest, call_index: int) -> str:
        kind = request.kind
        if self.mode == 'script':
            return self.completions[call_index % len(self.completions)]
        if self.mode == 'garbage':
            return 'I am not sure what to do here.'
        if kind.is_multiple_choice:
            return parsing.format_completion(self.reasoning, parsing.format_option(self.option))
        xyz = self.xyz_env_m
        if self.mode == 'out_of_workspace':
            xyz = (9.0, 9.0, 9.0)
        elif self.mode == 'echo' and request.metadata is not None \
                and request.metadata.current_xyz_env_m is not None:
            xyz = request.metadata.current_xyz_env_m
        return parsing.format_completion(self.reasoning,
                                         parsing.format_open_keypoint(xyz, self.gripper))

    def predict(self, request: ReasonerRequest, *, on_text: TextCallback | None = None,
                cancel: threading.Event | None = None) -> ReasonerOutput:
        """See :meth:`Reasoner.predict`."""
        with self._lock:
            t0 = time.perf_counter()
            messages = request.build_messages()
            prompt_chars = sum(len(str(part.get('text', ''))) for m in messages
                               for part in _content_parts(m) if isinstance(part, Mapping))
            call_index = self.calls
            self.calls += 1
            if self.mode == 'error' or (self.fail_every and (call_index + 1) % self.fail_every
                                        == 0):
                raise GenerationError(f'{self.model_id}: scripted failure (call {call_index})')
            completion = self._completion(request, call_index)
            t1 = time.perf_counter()
            sent = 0
            for start in range(0, len(completion), self.chunk_chars):
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelledError(partial_text=completion[:sent])
                if self.delay_s:
                    if cancel is not None:
                        cancel.wait(self.delay_s)
                    else:
                        time.sleep(self.delay_s)
                    if cancel is not None and cancel.is_set():
                        raise GenerationCancelledError(partial_text=completion[:sent])
                chunk = completion[start:start + self.chunk_chars]
                sent += len(chunk)
                if on_text is not None:
                    on_text(chunk)
            t2 = time.perf_counter()
            fields = parse_output_fields(request.kind, completion)
            t3 = time.perf_counter()
            return ReasonerOutput(
                kind=request.kind, completion=completion, finish_reason='stop',
                prompt_tokens=prompt_chars // 4, generated_tokens=max(1, len(completion) // 4),
                timings=ReasonerTimings(t1 - t0, t2 - t1, t3 - t2, t3 - t0),
                model_id=self.model_id, request_id=request.request_id, **fields)

    def describe(self) -> dict[str, Any]:
        """See :meth:`Reasoner.describe`."""
        return {'model_id': self.model_id, 'backend': 'scripted', 'mode': self.mode}


# --------------------------------------------------------------------------------------------
# Configuration and factory


_BACKENDS: dict[str, Callable[[ReasonerConfig], Reasoner]] = {}


def register_backend(prefix: str, factory: Callable[[ReasonerConfig], Reasoner]) -> None:
    """Route model ids starting with ``prefix`` (e.g. ``'vllm:'``) to ``factory``."""
    _BACKENDS[prefix] = factory


def load_reasoner(config: ReasonerConfig | Mapping[str, Any] | str | None = None) -> Reasoner:
    """Create the reasoner a config names.

    Args:
        config: A :class:`ReasonerConfig`, a mapping of its fields, a bare model id, or None
            for the default (the tiny checkpoint).

    Returns:
        ``ScriptedReasoner`` for ``scripted:...``, a registered backend for its prefix, else a
        ``QwenReasoner`` (torch + transformers are imported only then).

    Raises:
        ConfigError: Bad settings.
        ModelLoadError: The checkpoint cannot be loaded (missing folder, .bin weights, ...).
    """
    if config is None:
        config = ReasonerConfig()
    elif isinstance(config, str):
        config = ReasonerConfig(model_id=config)
    elif isinstance(config, Mapping):
        config = ReasonerConfig.from_mapping(config)
    elif not isinstance(config, ReasonerConfig):
        raise ConfigError(f'expected a ReasonerConfig, mapping or model id, got '
                          f'{type(config).__name__}', 'model_id')
    model_id = config.model_id.strip()
    if model_id.startswith(SCRIPTED_PREFIX):
        return ScriptedReasoner.from_model_id(model_id, defaults=config.generation)
    for prefix, factory in _BACKENDS.items():
        if model_id.startswith(prefix):
            return factory(config)
    from robot_r1_ros.model.qwen_backend import QwenReasoner
    return QwenReasoner(config)
