"""The ``predict_keypoint`` action's streaming: the reasoning so far as feedback, the result.

:func:`reasoning_so_far` (pure) cuts the reasoning out of a partial completion; :func:`serve_goal`
follows one queued prediction job, publishes feedback while it generates, forwards a cancel
request to it and ends the goal (succeeded, canceled or aborted).
"""
from __future__ import annotations

import queue
from typing import Any

from robot_r1_ros.action import PredictKeypoint
from robot_r1_ros.ros.reasoning_inputs import Job
from robot_r1_ros.ros.reasoning_stats import CANCELLED


def reasoning_so_far(completion: str) -> str:
    """The reasoning part of a partial completion: after ``<think>``, before ``</think>``.

    Text arrives in arbitrary pieces, so a tag may be cut (``'<thi'``, ``'...</t'``): partial
    tags are hidden, which keeps successive results growing by appending only.
    """
    open_tag, close_tag = '<think>', '</think>'
    text = completion.lstrip()
    if len(text) < len(open_tag) and open_tag.startswith(text):
        return ''
    if text.startswith(open_tag):
        text = text[len(open_tag):]
    end = text.find(close_tag)
    if end >= 0:
        text = text[:end]
    else:
        for n in range(len(close_tag) - 1, 0, -1):  # a cut closing tag at the end
            if text.endswith(close_tag[:n]):
                text = text[:-n]
                break
    return text.strip()


def serve_goal(goal_handle: Any, job: Job, deltas: 'queue.Queue[str]') -> Any:
    """Stream one queued job's reasoning as feedback until it is done; return the result.

    Args:
        goal_handle: The accepted goal.
        job: Its job (queued for the worker; ``job.on_text`` puts text into ``deltas``).
        deltas: Completion text pieces as they are generated.
    """
    result = PredictKeypoint.Result()
    completion = ''
    n_deltas = 0
    sent: tuple[str | None, int] = (None, -1)
    while True:
        finished = job.done.wait(0.05)
        while True:
            try:
                completion += deltas.get_nowait()
                n_deltas += 1
            except queue.Empty:
                break
        if goal_handle.is_cancel_requested and not job.cancel.is_set():
            job.cancel.set()
        reasoning = reasoning_so_far(completion)
        if n_deltas and (reasoning, n_deltas) != sent and goal_handle.is_active:
            goal_handle.publish_feedback(
                PredictKeypoint.Feedback(reasoning=reasoning, tokens=n_deltas))
            sent = (reasoning, n_deltas)
        if finished:
            break
    if job.result is not None:
        result.prediction = job.result
    if job.status == CANCELLED or job.result is None:
        result.prediction.status_reason = 'cancelled'
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:  # the node was deactivated or cleaned up under the goal
            goal_handle.abort()
    else:
        goal_handle.succeed()
    return result
