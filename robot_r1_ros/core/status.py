"""Prediction status and executor state codes, ROS-free.

The values are those of the message constants (``KeypointPrediction.STATUS_*``,
``ExecutorState.STATE_*``, ``KeypointPrediction.GRIPPER_*``); ``ros/names.py`` reads the names
from the generated message classes and ``test/ros/test_names.py`` checks that these enums agree
with them, so ROS-free code (the prediction step, evaluation, benches) and the nodes share one
set of codes.
"""
from __future__ import annotations

import enum


class PredictionStatus(enum.IntEnum):
    """``KeypointPrediction.status``: what became of one prediction attempt (0 = unset)."""

    UNSET = 0
    OK = 1
    FORMAT_ERROR = 2
    OUT_OF_WORKSPACE = 3
    STALE_INPUT = 4
    BAD_INPUT = 5
    MODEL_ERROR = 6


class ExecutorStateCode(enum.IntEnum):
    """``ExecutorState.state``: where the executor is with the last goal."""

    IDLE = 0
    MOVING = 1
    REACHED = 2
    FAILED = 3
    REJECTED = 4


class GripperCommand(enum.IntEnum):
    """``KeypointPrediction.gripper_command`` (0 = unset)."""

    UNSET = 0
    OPEN = 1
    CLOSED = 2
