"""Spinning a node's executor until Ctrl-C or an external shutdown, shared by every entry point.

rclpy's SIGINT handler shuts the context down from another thread while the executor may be in
the middle of taking a message. On Jazzy (rclpy 7.1.6) that take then fails with a bare
``RuntimeError`` ("Unable to convert call argument '0' to Python object") instead of
``ExternalShutdownException``, so a node stopped by Ctrl-C exited with code 1 and a traceback,
seen as a flaky bringup test. An error raised once the context is no longer ok is part of the
shutdown, not a fault; one raised while the context is ok is still re-raised.
"""

from __future__ import annotations

import logging

import rclpy
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException

_LOG = logging.getLogger(__name__)


def spin_until_shutdown(executor: Executor, context: Context | None = None) -> None:
    """Spin ``executor`` until Ctrl-C or shutdown; errors caused by the shutdown itself are
    swallowed (logged at debug), any other error propagates."""
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        return
    except RuntimeError as exc:
        if rclpy.ok(context=context):
            raise
        _LOG.debug('error while the context was shutting down (ignored): %s', exc)
