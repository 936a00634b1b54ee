"""The model runtime: keypoint reasoning with Qwen2.5-VL-family checkpoints (torch, no ROS).

Public API (importing this package does not import torch; the transformers backend loads on
first use through :func:`load_reasoner`):

- :class:`Reasoner` (``predict``, ``stream``, ``warmup``, ``describe``, ``close``),
  :class:`ReasonerRequest`, :class:`GenerationOptions`, :class:`ReasonerOutput`,
  :class:`ReasonerTimings`, :class:`PredictionStream`;
- :class:`ReasonerConfig` and :func:`load_reasoner` (``scripted:...`` -> :class:`ScriptedReasoner`,
  a folder or hub id -> ``qwen_backend.QwenReasoner``), :data:`DEFAULT_MODEL_ID`
  (``ReasonerConfig``, ``GenerationOptions`` and ``DEFAULT_MODEL_ID`` are defined in
  ``core.config`` and re-exported here);
- errors: :class:`ModelError`, :class:`ModelLoadError`, :class:`GenerationError`,
  :class:`GenerationCancelledError`;
- submodules ``constrained`` (answer-constrained decoding), ``processor`` (processor loading
  without torchvision), ``qwen_backend``, ``build_tiny`` (the tiny checkpoint CLI).
"""
from robot_r1_ros.model.errors import (GenerationCancelledError, GenerationError, ModelError,
                                       ModelLoadError)
from robot_r1_ros.model.reasoner import (DEFAULT_MODEL_ID, GenerationOptions, PredictionStream,
                                         Reasoner, ReasonerConfig, ReasonerOutput,
                                         ReasonerRequest, ReasonerTimings, ScriptedReasoner,
                                         load_reasoner, register_backend, resolve_model_path)

__all__ = [
    'DEFAULT_MODEL_ID', 'GenerationCancelledError', 'GenerationError', 'GenerationOptions',
    'ModelError', 'ModelLoadError', 'PredictionStream', 'Reasoner', 'ReasonerConfig',
    'ReasonerOutput', 'ReasonerRequest', 'ReasonerTimings', 'ScriptedReasoner', 'load_reasoner',
    'register_backend', 'resolve_model_path',
]
