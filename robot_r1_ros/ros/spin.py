"""Spinning a node's executor until Ctrl-C or an external shutdown, shared by every entry point.

rclpy's SIGINT handler shuts the context down from another thread while the executor may be in
the middle of taking a message. On Jazzy (rclpy 7.1.6) that take then fails with a bare
``RuntimeError`` ("Unable to convert call argument '0' to Python object") instead of
``ExternalShutdownException``, so a node stopped by Ctrl-C exited with code 1 and a traceback,
seen as a flaky bringup test. The take can fail a moment before the handler has marked the
context shut down (seen once on Kilted, under load, in the README launch's Ctrl-C test), so an
error is part of the shutdown when the context stops being ok within a short grace period; one
raised while the context stays ok is still re-raised.

Python's own SIGINT handler raises ``KeyboardInterrupt`` in the main thread at whatever bytecode
it is running. Inside a multi-threaded executor's spin that can be between a lock's acquire and
the ``with`` block that releases it (``concurrent.futures``' idle semaphore): the pool threads
then block on that lock forever and the interpreter's exit hangs joining them (seen in a SIGTERM
stack dump after a Ctrl-C on Jazzy). So :func:`init_ros` installs, before ``rclpy.init``, a
handler that raises ``KeyboardInterrupt`` only while the node is not spinning (model loading
stays interruptible); while it spins, rclpy's handler, which chains to this one, shuts the
context down and the spin returns by itself.

rclpy's signal thread wakes the executor (its SIGINT guard condition) *before* it shuts the
contexts down, and that shutdown does not wake it again. A wait that consumes the wake-up while
the context still reads ok, in a node with nothing else ready (no timer, no message), then
blocked forever: the node ignored Ctrl-C and launch escalated to SIGTERM after 15 s (seen in CI
on both distributions, the executor and reasoning nodes). So the spin here is a loop of
``spin_once`` with a timeout of :data:`SPIN_POLL_S` that checks the context between waits: a
missed wake-up costs at most one timeout.

A node that has not exited by launch's ``sigterm_timeout`` gets SIGTERM: every thread's stack is
then written to stderr first (``faulthandler``, chained to the handler rclpy installed), so a
hang at shutdown says where it hung.
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
import threading
import time
from typing import Callable, Sequence

import rclpy
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException
from rclpy.node import Node

_LOG = logging.getLogger(__name__)
# How long an error's context may still read ok while a Ctrl-C shutdown is under way.
SHUTDOWN_GRACE_S = 1.0
# Longest wait of one spin step: the bound on how late a missed Ctrl-C wake-up ends the spin.
SPIN_POLL_S = 0.25


# Set while spin_until_shutdown spins: Ctrl-C then only shuts the context down (see module doc).
_SPINNING = threading.Event()


def _interrupt_unless_spinning(signum: int, frame: object) -> None:
    """SIGINT's Python-level handler: ``KeyboardInterrupt`` outside the spin, nothing inside it
    (rclpy's C handler has already shut the context down, which ends the spin cleanly)."""
    del signum, frame
    if not _SPINNING.is_set():
        raise KeyboardInterrupt


def init_ros(args: Sequence[str] | None = None, context: Context | None = None) -> None:
    """``rclpy.init`` for a node's ``main``. On the main thread it first installs
    :func:`_interrupt_unless_spinning` as SIGINT's Python handler; the order matters, because
    ``rclpy.init`` installs its C handler on top and chains to this one, whereas a
    ``signal.signal`` after it would replace rclpy's handler."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt_unless_spinning)
    rclpy.init(args=list(args) if args is not None else None, context=context)


def _stays_ok(context: Context | None, grace_s: float = SHUTDOWN_GRACE_S) -> bool:
    """True when the context is still ok after ``grace_s`` (no shutdown under way)."""
    deadline = time.monotonic() + grace_s
    while rclpy.ok(context=context):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.01)
    return False


def spin_until_shutdown(executor: Executor, context: Context | None = None) -> None:
    """Spin ``executor`` until Ctrl-C or shutdown; errors caused by the shutdown itself are
    swallowed (logged at debug), any other error propagates."""
    if hasattr(signal, 'SIGTERM') and sys.stderr is not None:
        faulthandler.register(signal.SIGTERM, file=sys.stderr, all_threads=True, chain=True)
    _SPINNING.set()
    try:
        # rclpy's own spin() also stops at the executor's shutdown (a private flag, read the same
        # way); without that check a shut-down executor would make this loop spin hot.
        while rclpy.ok(context=context) and not getattr(executor, '_is_shutdown', False):
            executor.spin_once(timeout_sec=SPIN_POLL_S)
    except (KeyboardInterrupt, ExternalShutdownException):
        return
    except RuntimeError as exc:
        if _stays_ok(context):
            raise
        _LOG.debug('error while the context was shutting down (ignored): %s', exc)
    finally:
        _SPINNING.clear()


def release_node(node: Node | None, close: Callable[[], None] | None = None,
                 context: Context | None = None) -> None:
    """End of a node's ``main``: run ``close`` (the node's own teardown), destroy the node and
    shut rclpy down. After Ctrl-C the context is already shut down and a teardown call may fail
    for that reason alone: such an error is part of the shutdown (logged at debug, exit code
    unchanged); one raised while the context is ok propagates. (The executor is not shut down
    here: a multi-threaded one joins its threads, and a callback blocked on a goal would hang
    the exit.)"""
    try:
        if node is not None:
            if close is not None:
                close()
            node.destroy_node()
    except Exception as exc:  # noqa: BLE001  (re-raised unless caused by the shutdown)
        if rclpy.ok(context=context):
            raise
        _LOG.debug('error while releasing the node after shutdown (ignored): %r', exc)
    finally:
        rclpy.try_shutdown(context=context)
