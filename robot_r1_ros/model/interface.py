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

The backends (``model.scripted``, ``model.qwen_backend``, ``model.remote_backend``) implement
this interface and import only it; :func:`robot_r1_ros.model.reasoner.load_reasoner` is the one
place that picks a backend. This module imports no torch.

Positions in requests and outputs are in the env frame (the prompt's frame); converting a
keypoint to the base frame is the caller's job (``ReasonerOutput.to_prediction(env_frame)``,
or the whole prediction step in ``model.step``).
"""
from __future__ import annotations

import abc
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from robot_r1_ros.core import parsing, prompts
from robot_r1_ros.core.config import GenerationOptions
from robot_r1_ros.core.errors import AnswerFormatError, BadInputError
from robot_r1_ros.core.types import XYZ, GripperState, Keypoint, Prediction, TaskKind
from robot_r1_ros.model.errors import GenerationCancelledError, GenerationError

_LOG = logging.getLogger(__name__)

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

    def health(self) -> dict[str, str]:
        """Backend state for diagnostics (the remote backend: server state, last latency and
        error); empty for in-process backends."""
        return {}

    def close(self) -> None:
        """Release the model (memory is freed when the last reference goes)."""

    def __enter__(self) -> 'Reasoner':
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
