"""The scripted reasoner: a deterministic test double with no model (``scripted:<mode>``).

Selected by ``load_reasoner`` for model ids starting with :data:`SCRIPTED_PREFIX`; tests and the
demo's ROS benchmark use it where a model's answers would be random.
"""
from __future__ import annotations

import threading
import time
import urllib.parse
from typing import Any, Mapping, Sequence

from robot_r1_ros.core import parsing
from robot_r1_ros.core.config import GenerationOptions
from robot_r1_ros.core.errors import BadInputError, ConfigError
from robot_r1_ros.core.types import GripperState
from robot_r1_ros.model.errors import GenerationCancelledError, GenerationError
from robot_r1_ros.model.interface import (Reasoner, ReasonerOutput, ReasonerRequest,
                                          ReasonerTimings, TextCallback, _content_parts,
                                          parse_output_fields)

SCRIPTED_PREFIX = 'scripted:'
"""Model ids starting with this select the :class:`ScriptedReasoner`."""


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
