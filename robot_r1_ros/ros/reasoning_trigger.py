"""When the reasoning node starts its next prediction: the trigger policy (pure, no rclpy).

Modes (parameter ``trigger.mode``):

- ``continuous``: a prediction on every new camera frame, at most ``trigger.max_rate_hz``;
- ``on_reached``: after an OK prediction, wait until the executor reports on that goal
  (REACHED / FAILED / REJECTED, or IDLE after a reset), or ``trigger.reached_timeout_s``
  (0: wait forever); then as continuous. A goal the executor has not reported on at all (not
  even MOVING) within ``trigger.ack_timeout_s`` was lost on the way (a message published before
  the executor's subscription matched, a dropped link): predict again rather than wait forever;
- ``on_demand``: never by itself, only through the ``predict_keypoint`` action.

The node feeds it events (frame arrival count, executor reports, published predictions) under
its lock and asks :meth:`TriggerPolicy.decide` how long to wait.
"""
from __future__ import annotations

from dataclasses import dataclass

TRIGGER_MODES = ('continuous', 'on_reached', 'on_demand')


@dataclass(frozen=True)
class TriggerDecision:
    """What the worker should do now.

    Attributes:
        wait_s: 0.0: predict now; > 0: wait at most this long, then ask again; None: wait until
            an event arrives.
        note: ``'waiting_for_joint_states'``, ``'reached_timeout'`` or ``'not_acknowledged'``
            when the node should log it, else ''.
    """

    wait_s: float | None
    note: str = ''


@dataclass
class TriggerPolicy:
    """The trigger state of one active period (see the module docstring).

    Attributes:
        mode: One of :data:`TRIGGER_MODES`.
        max_rate_hz: Prediction rate cap.
        reached_timeout_s: ``on_reached``: predict again after this long without a report.
        ack_timeout_s: ``on_reached``: predict again after this long without any report on the
            goal (0: never).
        consumed_seq: Number of the last frame a prediction used.
        next_allowed_ns: Earliest start of the next triggered prediction (rate cap).
        wait_goal_id: ``on_reached``: prediction_id (16 bytes) of the goal awaiting a report
            (``ExecutorState.goal_id`` echoes it; stamps collide when two predictions share
            an image).
        wait_since_ns: When that goal was published.
        wait_acked: The executor has reported on that goal (it arrived).
    """

    mode: str = 'continuous'
    max_rate_hz: float = 2.0
    reached_timeout_s: float = 0.0
    ack_timeout_s: float = 0.0
    consumed_seq: int = 0
    next_allowed_ns: int = 0
    wait_goal_id: bytes | None = None
    wait_since_ns: int = 0
    wait_acked: bool = False

    def __post_init__(self) -> None:
        if self.mode not in TRIGGER_MODES:
            raise ValueError(f'trigger mode must be one of {", ".join(TRIGGER_MODES)}, '
                             f'got {self.mode!r}')
        if not self.max_rate_hz > 0:
            raise ValueError(f'max_rate_hz must be > 0, got {self.max_rate_hz}')

    def reset(self, image_seq: int) -> None:
        """Activation: the first prediction uses a frame that arrives after this."""
        self.next_allowed_ns = 0
        self.wait_goal_id = None
        self.consumed_seq = image_seq

    def decide(self, now_ns: int, image_seq: int, have_joint_state: bool) -> TriggerDecision:
        """May a triggered prediction start now? (Call with the node's lock held.)"""
        if self.mode == 'on_demand' or image_seq <= self.consumed_seq:
            return TriggerDecision(None)  # no new frame since the last prediction
        if not have_joint_state:
            # start-up order: wait for the first joint state rather than report STALE_INPUT
            return TriggerDecision(None, 'waiting_for_joint_states')
        note = ''
        if self.mode == 'on_reached' and self.wait_goal_id is not None:
            deadlines = []   # (deadline, note)
            if self.reached_timeout_s > 0:
                deadlines.append((self.wait_since_ns + int(self.reached_timeout_s * 1e9),
                                  'reached_timeout'))
            if self.ack_timeout_s > 0 and not self.wait_acked:
                deadlines.append((self.wait_since_ns + int(self.ack_timeout_s * 1e9),
                                  'not_acknowledged'))
            if not deadlines:
                return TriggerDecision(None)
            deadline_ns, note = min(deadlines)
            if deadline_ns > now_ns:
                return TriggerDecision((deadline_ns - now_ns) * 1e-9)
            self.wait_goal_id = None
        remaining_ns = self.next_allowed_ns - now_ns  # rate cap
        return TriggerDecision(remaining_ns * 1e-9 if remaining_ns > 0 else 0.0, note)

    def started(self, now_ns: int) -> None:
        """A triggered prediction starts now (the rate cap counts from here)."""
        self.next_allowed_ns = now_ns + int(1e9 / self.max_rate_hz)

    def consumed(self, image_seq: int) -> None:
        """A prediction took the frame numbered ``image_seq``."""
        self.consumed_seq = max(self.consumed_seq, image_seq)

    def published_ok(self, goal_id: bytes, now_ns: int) -> None:
        """An OK keypoint with this prediction_id went out: ``on_reached`` waits for its
        report."""
        self.wait_goal_id = goal_id
        self.wait_since_ns = now_ns
        self.wait_acked = False

    def executor_report(self, goal_id: bytes, ends_goal: bool) -> bool:
        """The executor reported on ``goal_id``; True when that releases the trigger."""
        if self.wait_goal_id is None or goal_id != self.wait_goal_id:
            return False
        self.wait_acked = True
        if not ends_goal:
            return False
        self.wait_goal_id = None
        return True
