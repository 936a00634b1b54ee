"""Choosing and loading a reasoner: the one place a backend is picked (:func:`load_reasoner`).

Backends by :class:`ReasonerConfig`: ``backend: remote`` -> an OpenAI-compatible server
(``model.remote_backend``); a model id ``scripted:<mode>[?k=v&...]`` -> the test double
(``model.scripted``); a prefix registered with :func:`register_backend` -> its factory; anything
else a Qwen2-VL / Qwen2.5-VL checkpoint (local folder or hub id) through
``model.qwen_backend.QwenReasoner`` (torch and transformers are imported only then).

The backends import the interface (``model.interface``), never this module, so there is no
import circle; the interface's names are re-exported here, where callers look for them.
"""
from __future__ import annotations

import gc
from typing import Any, Callable, Mapping

from robot_r1_ros.core.config import (DEFAULT_MODEL_ID, GenerationOptions,  # noqa: F401
                                      ReasonerConfig)
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.paths import REPO_ROOT, resolve_model_path  # noqa: F401  (API)
from robot_r1_ros.model.interface import (PredictionStream, Reasoner,  # noqa: F401  (API)
                                          ReasonerOutput, ReasonerRequest, ReasonerTimings,
                                          TextCallback, parse_output_fields, validate_image)
from robot_r1_ros.model.scripted import (SCRIPTED_MODES, SCRIPTED_PREFIX,  # noqa: F401  (API)
                                         ScriptedReasoner)


def _scripted(config: ReasonerConfig) -> Reasoner:
    return ScriptedReasoner.from_model_id(config.model_id.strip(), defaults=config.generation)


def _remote(config: ReasonerConfig) -> Reasoner:
    from robot_r1_ros.model.remote_backend import RemoteReasoner  # (no torch either)
    return RemoteReasoner(config)


def _qwen(config: ReasonerConfig) -> Reasoner:
    from robot_r1_ros.model.qwen_backend import QwenReasoner  # torch + transformers load here
    return QwenReasoner(config)


_BACKENDS: dict[str, Callable[[ReasonerConfig], Reasoner]] = {SCRIPTED_PREFIX: _scripted}
"""Model-id prefix -> factory (the scripted double, plus any registered backend)."""


def register_backend(prefix: str, factory: Callable[[ReasonerConfig], Reasoner]) -> None:
    """Route model ids starting with ``prefix`` (e.g. ``'vllm:'``) to ``factory``."""
    _BACKENDS[prefix] = factory


def backend_factory(config: ReasonerConfig) -> Callable[[ReasonerConfig], Reasoner]:
    """The factory :func:`load_reasoner` uses for ``config`` (the dispatch rule, in one place):
    ``backend: remote`` first, then a model-id prefix of the table, else the Qwen checkpoint."""
    if config.backend == 'remote':
        return _remote
    model_id = config.model_id.strip()
    for prefix, factory in _BACKENDS.items():
        if model_id.startswith(prefix):
            return factory
    return _qwen


def load_reasoner(config: ReasonerConfig | Mapping[str, Any] | str | None = None, *,
                  warmup: bool = False) -> Reasoner:
    """Create the reasoner a config names (see :func:`backend_factory`).

    Args:
        config: A :class:`ReasonerConfig`, a mapping of its fields, a bare model id, or None
            for the default (the tiny checkpoint).
        warmup: Also run :meth:`Reasoner.warmup`; when that fails the model is released
            before the error propagates.

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
    reasoner = backend_factory(config)(config)
    if warmup:
        try:
            reasoner.warmup()
        except BaseException:
            reasoner.close()  # loaded, but the warm-up failed: free it now
            del reasoner
            gc.collect()
            raise
    return reasoner
