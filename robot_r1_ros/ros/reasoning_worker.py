"""The reasoning node's worker: one thread running prediction jobs one at a time, action goals
first, then triggered predictions when the trigger policy allows (no rclpy: the node passes in
its condition, the job runner and the trigger)."""
from __future__ import annotations

import collections
import threading
import time
from typing import Callable

from robot_r1_ros.ros.reasoning_inputs import Job
from robot_r1_ros.ros.reasoning_stats import CANCELLED


class PredictionWorker:
    """Runs :class:`Job` s in a thread; ROS callbacks only queue and notify.

    Args:
        cond: The node's condition (its lock guards the node state and this queue).
        run_job: Runs one job (in the worker thread, without the lock).
        next_trigger_job: Called with the lock held when no action job waits: a trigger job
            to run now, or None and how long to wait at most (None: until notified).
        on_crash: Told about an exception a job raised (the worker keeps running).
    """

    def __init__(self, cond: threading.Condition, run_job: Callable[[Job], None],
                 next_trigger_job: Callable[[], tuple[Job | None, float | None]],
                 on_crash: Callable[[BaseException], None]) -> None:
        self.cond = cond
        self._run_job = run_job
        self._next_trigger_job = next_trigger_job
        self._on_crash = on_crash
        self.jobs: collections.deque[Job] = collections.deque()
        self.stopping = False
        self.busy = False
        self.goal_active = False
        self.current: Job | None = None
        self.thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self.thread is not None and not self.stopping

    def start(self) -> None:
        """Start the thread."""
        with self.cond:
            self.stopping = False
            self.jobs.clear()
        self.thread = threading.Thread(target=self._loop, name='reasoning-worker', daemon=True)
        self.thread.start()

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Cancel the running job and queued goals, join the thread; False if it hangs."""
        thread = self.thread
        if thread is None:
            return True
        with self.cond:
            self.stopping = True
            queued = list(self.jobs)
            self.jobs.clear()
            if self.current is not None:
                self.current.cancel.set()
            self.cond.notify_all()
        for job in queued:  # goals that never started end as cancelled
            job.cancel.set()
            job.status = CANCELLED
            job.done.set()
        thread.join(timeout_s)
        self.thread = None
        with self.cond:
            self.busy = False
            self.goal_active = False
        return not thread.is_alive()

    def cancel_current(self) -> None:
        """Cancel the job now running (if any)."""
        with self.cond:
            job = self.current
        if job is not None:
            job.cancel.set()

    def wait_idle(self, timeout_s: float) -> None:
        """Wait until no job runs (at most ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while self.busy and time.monotonic() < deadline:
                self.cond.wait(0.05)

    def submit(self, job: Job) -> bool:
        """Queue an action job ahead of any trigger; False (goal slot freed) when stopped."""
        with self.cond:
            if not self.running:
                self.goal_active = False
                return False
            self.jobs.append(job)
            self.cond.notify_all()
            return True

    def _loop(self) -> None:
        while True:
            with self.cond:
                job = None
                while job is None:
                    if self.stopping:
                        return
                    if self.jobs:
                        job = self.jobs.popleft()
                        break
                    job, wait_s = self._next_trigger_job()
                    if job is None:
                        # re-check at least twice a second (sim time, parameters of the clock)
                        self.cond.wait(0.5 if wait_s is None else min(wait_s, 0.5))
                self.current = job
                self.busy = True
            try:
                self._run_job(job)
            except Exception as exc:  # noqa: BLE001  (the worker must never die)
                self._on_crash(exc)
            finally:
                with self.cond:
                    self.current = None
                    self.busy = False
                    if job.source == 'action':
                        self.goal_active = False
                    self.cond.notify_all()
                job.done.set()
