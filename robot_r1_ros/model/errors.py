"""Typed errors of the model layer.

All derive from :class:`robot_r1_ros.core.errors.RobotR1Error`, so a node callback that catches
that one class also catches model failures. Bad requests (image shape, dtype) raise the core's
``BadInputError`` and bad options its ``ConfigError``; the classes here cover what only a model
runtime can get wrong.
"""
from __future__ import annotations

from robot_r1_ros.core.errors import RobotR1Error


class ModelError(RobotR1Error):
    """Base class of model-runtime failures (loading, generation)."""


class ModelLoadError(ModelError):
    """A checkpoint could not be loaded: missing folder, non-safetensors weights, unsupported
    architecture, missing optional package (bitsandbytes, flash-attn), unknown hub id offline.

    Attributes:
        model_id: The model id or folder that failed.
    """

    def __init__(self, message: str, model_id: str = '') -> None:
        super().__init__(message)
        self.model_id = model_id


class GenerationError(ModelError):
    """The model raised while generating (out of memory, device error, ...), or a scripted
    reasoner was configured to fail."""


class GenerationCancelledError(ModelError):
    """A prediction was cancelled through its cancel event before it finished.

    Attributes:
        partial_text: The completion text generated before the cancel took effect.
    """

    def __init__(self, message: str = 'prediction cancelled', partial_text: str = '') -> None:
        super().__init__(message)
        self.partial_text = partial_text
