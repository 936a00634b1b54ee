"""Typed errors of robot_r1_ros.

Every error raised on purpose by the project is a :class:`RobotR1Error`, so a node callback can
catch that one class, log it and keep spinning. The value-like errors also derive from
``ValueError`` so generic callers (argparse, dataclass users) handle them naturally. Messages say
what was expected and, where there is a closed set, list the valid choices.
"""
from __future__ import annotations


class RobotR1Error(Exception):
    """Base class of all errors raised on purpose by robot_r1_ros."""


class AnswerFormatError(RobotR1Error, ValueError):
    """A model completion or answer does not follow the answer grammar (see ``core.parsing``).

    Attributes:
        text: The offending text (possibly truncated by the caller for logging).
    """

    def __init__(self, message: str, text: str = '') -> None:
        super().__init__(message)
        self.text = text


class ConfigError(RobotR1Error, ValueError):
    """A configuration value is invalid; the message names the field.

    Attributes:
        field: Dotted name of the bad field (e.g. ``'workspace.min_xyz_base_m'``), or ''.
    """

    def __init__(self, message: str, field: str = '') -> None:
        super().__init__(message)
        self.field = field


class BadInputError(RobotR1Error, ValueError):
    """An input array or value has the wrong shape, type or is not finite."""


class OutOfWorkspaceError(RobotR1Error, ValueError):
    """A target point lies outside the configured workspace.

    Attributes:
        reason: Human-readable reason (which axis, by how much).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
