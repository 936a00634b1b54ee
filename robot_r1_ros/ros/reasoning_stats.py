"""The reasoning node's counters, stage timings and diagnostics summary (pure, no rclpy).

:class:`ReasoningStats` keeps per-status counts, the last status and reason, and running
statistics of each timing stage (:data:`STAGES`); :func:`diagnostic_summary` turns them and the
node's state into the ``/diagnostics`` level, message and key/values.
"""
from __future__ import annotations

import collections
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from robot_r1_ros.core.status import PredictionStatus

CANCELLED = -1
"""Internal status of an action goal cancelled mid-generation (never published)."""

COUNT_KEYS = ('ok', 'format_error', 'out_of_workspace', 'stale_input', 'bad_input',
              'model_error', 'cancelled')
"""Keys of the per-status counters (``count_<key>`` in the diagnostics)."""

STAGES = ('frame_age', 'frame_wait', 'conversion', 'prompt_processor', 'model', 'parse',
          'model_call', 'publish', 'end_to_end', 'overhead', 'overhead_vs_generate',
          'debug_image')
"""Per-prediction timings kept for diagnostics (milliseconds):

- frame_age: prediction start - image stamp (transport + time in the node);
- frame_wait: prediction start - image arrival (at most about one frame period: the node
  always takes the newest frame, nothing queues);
- conversion: Image -> RGB array + JointState -> FK;
- prompt_processor: prompt, chat template, image processor (the reasoner's preprocess);
- model: generate (prefill + decoding + constraint);
- parse: completion parse, env -> base frame, workspace check;
- model_call: the whole reasoner call (prompt_processor + model + its parse);
- publish: KeypointPrediction + PoseStamped + MarkerArray build and publish;
- end_to_end: next_keypoint published - image stamp;
- overhead: end_to_end - model_call (what the node adds around the reasoner);
- overhead_vs_generate: end_to_end - model;
- debug_image: drawing + publishing the debug image (after next_keypoint).
"""


def status_key(status: int) -> str:
    """Counter key of a status code (``'ok'``, ..., ``'cancelled'``)."""
    return 'cancelled' if status == CANCELLED else PredictionStatus(status).name.lower()


class StageStats:
    """Running statistics of one timing (bounded window for percentiles)."""

    def __init__(self, window: int = 2000) -> None:
        self.values: collections.deque[float] = collections.deque(maxlen=window)
        self.count = 0
        self.total = 0.0
        self.last = float('nan')

    def add(self, value_ms: float) -> None:
        """Record one value."""
        self.values.append(value_ms)
        self.count += 1
        self.total += value_ms
        self.last = value_ms

    def summary(self) -> dict[str, float]:
        """last, mean, p50, p95, max ({} before the first value)."""
        if not self.values:
            return {}
        arr = np.fromiter(self.values, dtype=float)
        return {'last': self.last, 'mean': self.total / self.count,
                'p50': float(np.percentile(arr, 50)), 'p95': float(np.percentile(arr, 95)),
                'max': float(arr.max())}


class ReasoningStats:
    """Counts, last status and stage timings; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNT_KEYS, 0)
        self._stages = {name: StageStats() for name in STAGES}
        self._last_status = ''
        self._last_reason = ''

    def count(self, status: int, name: str, reason: str) -> None:
        """One finished attempt with ``status`` (its message name) and reason."""
        with self._lock:
            self._counts[status_key(status)] += 1
            self._last_status = name if status != CANCELLED else 'CANCELLED'
            self._last_reason = reason

    def add_stages(self, stage_ms: Mapping[str, float]) -> None:
        """The timings of one attempt."""
        with self._lock:
            for stage, value in stage_ms.items():
                self._stages[stage].add(value)

    def snapshot(self) -> dict[str, Any]:
        """``counts``, ``last_status``, ``last_reason``, ``stages_ms`` (summaries)."""
        with self._lock:
            return {'counts': dict(self._counts), 'last_status': self._last_status,
                    'last_reason': self._last_reason,
                    'stages_ms': {k: s.summary() for k, s in self._stages.items()}}


@dataclass(frozen=True)
class NodeState:
    """What the diagnostics report about the node besides the statistics."""

    loaded: bool
    active: bool
    load_error: str = ''
    model_id: str = ''
    load_time_s: float = float('nan')
    trigger_mode: str = ''
    task: str = ''
    image_age_s: float | None = None
    images_received: int = 0


def diagnostic_summary(state: NodeState, stats: Mapping[str, Any],
                       health: Mapping[str, str]) -> tuple[str, str, dict[str, str]]:
    """``(level, message, values)`` of the node's diagnostics; level is 'OK', 'WARN' or
    'ERROR' (``DiagnosticStatus`` names).

    Args:
        state: Node state.
        stats: :meth:`ReasoningStats.snapshot`.
        health: The reasoner's ``health()`` (remote backend: server state, last error).
    """
    values = {
        'state': 'active' if state.active else ('inactive' if state.loaded else 'unconfigured'),
        'model_loaded': str(state.loaded).lower(),
        'model_id': state.model_id,
        'model_load_time_s': f'{state.load_time_s:.2f}',
        'trigger_mode': state.trigger_mode,
        'task': state.task,
        'predictions': str(sum(v for k, v in stats['counts'].items() if k != 'cancelled')),
        **{f'count_{k}': str(v) for k, v in stats['counts'].items()},
        'last_status': stats['last_status'],
        'last_reason': stats['last_reason'],
        'image_age_s': (f'{state.image_age_s:.3f}' if state.image_age_s is not None
                        else 'none'),
        'images_received': str(state.images_received),
    }
    values.update(health)
    for stage, summary in stats['stages_ms'].items():
        for key, value in summary.items():
            values[f'{stage}_ms_{key}'] = f'{value:.3f}'
    if stats['stages_ms'].get('end_to_end'):
        values['last_latency_ms'] = values['end_to_end_ms_last']
    last_status, last_reason = stats['last_status'], stats['last_reason']
    if state.load_error:
        level, message = 'ERROR', f'configure failed: {state.load_error}'
    elif not state.loaded:
        level, message = 'WARN', 'unconfigured'
    elif not state.active:
        level, message = 'WARN', 'inactive'
    elif state.image_age_s is None:
        level, message = 'WARN', 'waiting for camera images'
    elif health.get('remote_state') == 'down':
        level, message = 'ERROR', (
            f'remote model server {health.get("remote_base_url")} failing '
            f'({health.get("remote_consecutive_failures")} in a row): '
            f'{health.get("remote_last_error")}')
    elif last_status == 'MODEL_ERROR':
        level, message = 'ERROR', f'last prediction: {last_reason}'
    elif last_status not in ('', 'OK', 'CANCELLED'):
        level, message = 'WARN', f'last prediction {last_status}: {last_reason}'
    else:
        level, message = 'OK', 'predicting'
    return level, message, values
