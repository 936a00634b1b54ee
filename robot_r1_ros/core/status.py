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
    """``KeypointPrediction.status``: what became of one prediction attempt."""

    OK = 0
    FORMAT_ERROR = 1
    OUT_OF_WORKSPACE = 2
    STALE_INPUT = 3
    BAD_INPUT = 4
    MODEL_ERROR = 5


class ExecutorStateCode(enum.IntEnum):
    """``ExecutorState.state``: where the executor is with the last goal."""

    IDLE = 0
    MOVING = 1
    REACHED = 2
    FAILED = 3
    REJECTED = 4


class GripperCommand(enum.IntEnum):
    """``KeypointPrediction.gripper_command``."""

    OPEN = 0
    CLOSED = 1
