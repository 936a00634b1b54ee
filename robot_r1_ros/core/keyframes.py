"""Keyframes (waypoints) of a recorded demonstration and the observation frames before them.

Two detectors, both on per-frame arrays (gripper open flag, joint velocities):

``method='arm'`` (default; the paper's choice): ARM's ``_keypoint_discovery``
(stepjam/ARM ``arm/demo_loading_utils.py``), which Robot-R1 uses. Frame ``i > 0`` is a keyframe
if

(a) the gripper open/closed state changes at ``i``, or
(b) ``i`` is the last frame, or
(c) the arm is *stopped*: every joint velocity is within ``stopping_delta`` (0.1 rad/s) of zero,
    the gripper state is the same at ``i - 2 .. i + 1``, ``i`` is not the second-to-last frame,
    and no stop was detected in the previous ``stopped_buffer`` (4) frames.

If the last two keyframes are adjacent frames, the earlier one is dropped. Differences from ARM:
neighbours before frame 0 are clamped to frame 0 (ARM's negative indices wrap to the end of the
demo, which only affects frames 0 and 1).

``method='hysteresis'``: for logs at a high control rate where a single 0.1 rad/s threshold fires
while the arm is still several millimetres short of the waypoint (servo lag; see the MuJoCo
research note). A keyframe is the first frame whose max |joint velocity| is below
``still_delta`` (0.02 rad/s) after the arm moved faster than ``stopping_delta`` (0.1 rad/s),
plus every gripper change, plus the last frame if the episode ends while moving.

Observation frames (:func:`sample_observation_frames`): the paper takes the current frame every
``interval`` (10) frames before each keyframe, as ARM's demo augmentation does; the target of
frame t is the next keyframe ``min{k in K : k > t}``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from robot_r1_ros.core.errors import BadInputError

DEFAULT_STOPPING_DELTA = 0.1
"""rad/s: joint velocities within this of zero count as stopped (ARM / RLBench value)."""
DEFAULT_STOPPED_BUFFER = 4
"""Frames after a detected stop during which no new stop is detected (ARM value)."""
DEFAULT_STILL_DELTA = 0.02
"""rad/s: the 'arrived' threshold of the hysteresis method."""
DEFAULT_FRAME_INTERVAL = 10
"""Frames between observation samples before a keyframe (the paper's t = 10)."""


def _inputs(gripper_open: Sequence[bool], joint_velocities: object
            ) -> tuple[np.ndarray, np.ndarray]:
    grip = np.asarray(gripper_open)
    vel = np.asarray(joint_velocities, dtype=float)
    if grip.ndim != 1 or len(grip) == 0:
        raise BadInputError(f'gripper_open must be a non-empty 1-D sequence, got {grip.shape}')
    if vel.ndim != 2 or vel.shape[0] != len(grip):
        raise BadInputError(f'joint_velocities must have shape ({len(grip)}, n_joints), '
                            f'got {vel.shape}')
    if not np.all(np.isfinite(vel)):
        raise BadInputError('joint_velocities must be finite')
    return grip.astype(bool), vel


def discover_keyframes(gripper_open: Sequence[bool], joint_velocities: object,
                       method: str = 'arm', stopping_delta: float = DEFAULT_STOPPING_DELTA,
                       stopped_buffer: int = DEFAULT_STOPPED_BUFFER,
                       still_delta: float = DEFAULT_STILL_DELTA) -> list[int]:
    """Keyframe indices of one demonstration.

    Args:
        gripper_open: (T,) gripper open flag per frame.
        joint_velocities: (T, J) arm joint velocities per frame, rad/s.
        method: ``'arm'`` (the paper's) or ``'hysteresis'`` (see the module docstring).
        stopping_delta: Stop threshold in rad/s (``'hysteresis'``: the "moving" threshold).
        stopped_buffer: ``'arm'`` only: frames to wait after a stop before the next one.
        still_delta: ``'hysteresis'`` only: the "arrived" threshold in rad/s.

    Returns:
        Sorted frame indices (all > 0; the last frame is always included when T > 1).

    Raises:
        BadInputError: Mismatched shapes, non-finite velocities or an unknown method.
    """
    grip, vel = _inputs(gripper_open, joint_velocities)
    if method == 'arm':
        return _arm_keyframes(grip, vel, stopping_delta, stopped_buffer)
    if method == 'hysteresis':
        if not 0 <= still_delta <= stopping_delta:
            raise BadInputError(f'need 0 <= still_delta <= stopping_delta, got {still_delta}, '
                                f'{stopping_delta}')
        return _hysteresis_keyframes(grip, vel, still_delta, stopping_delta)
    raise BadInputError(f"method must be 'arm' or 'hysteresis', got {method!r}")


def _arm_keyframes(grip: np.ndarray, vel: np.ndarray, delta: float, buffer: int) -> list[int]:
    n = len(grip)
    speed = np.abs(vel).max(axis=1) if vel.shape[1] else np.zeros(n)
    keys: list[int] = []
    stopped_buffer = 0
    prev_open = grip[0]
    for i in range(n):
        # ARM's _is_stopped, with neighbours before frame 0 clamped to frame 0.
        im1, im2 = max(i - 1, 0), max(i - 2, 0)
        gripper_unchanged = (i < n - 2 and grip[i] == grip[i + 1] and grip[i] == grip[im1]
                             and grip[im2] == grip[im1])
        stopped = (stopped_buffer <= 0 and speed[i] <= delta and i != n - 2
                   and gripper_unchanged)
        stopped_buffer = buffer if stopped else stopped_buffer - 1
        last = i == n - 1
        if i != 0 and (grip[i] != prev_open or last or stopped):
            keys.append(i)
        prev_open = grip[i]
    if len(keys) > 1 and keys[-1] - 1 == keys[-2]:
        keys.pop(-2)
    return keys


def _hysteresis_keyframes(grip: np.ndarray, vel: np.ndarray, still: float,
                          moving: float) -> list[int]:
    n = len(grip)
    speed = np.abs(vel).max(axis=1) if vel.shape[1] else np.zeros(n)
    keys: list[int] = []
    was_moving = False
    for i in range(1, n):
        arrived = was_moving and speed[i] < still
        if speed[i] > moving:
            was_moving = True
        elif arrived:
            was_moving = False
        if arrived or grip[i] != grip[i - 1]:
            keys.append(i)
    if n > 1 and (not keys or keys[-1] != n - 1) and (was_moving or not keys):
        keys.append(n - 1)
    return keys


def next_keyframe(frame: int, keyframes: Sequence[int]) -> int | None:
    """The first keyframe strictly after ``frame``, or None."""
    for key in sorted(keyframes):
        if key > frame:
            return int(key)
    return None


def sample_observation_frames(keyframes: Sequence[int], interval: int = DEFAULT_FRAME_INTERVAL,
                              include_segment_start: bool = True,
                              max_per_segment: int | None = None) -> list[tuple[int, int]]:
    """Observation frames before each keyframe, paired with their target keyframe.

    For keyframe k with previous keyframe p (0 for the first one) the frames are
    ``k - interval, k - 2 * interval, ...`` while they are > p, plus p itself when
    ``include_segment_start`` (the state at the start of the segment: the first frame or the
    arrival at the previous keyframe). Each frame's target is k = its next keyframe.

    Args:
        keyframes: Keyframe indices (sorted or not; duplicates ignored; all >= 1).
        interval: Frames between samples (the paper's t = 10).
        include_segment_start: Also sample frame p of each segment.
        max_per_segment: Keep at most this many frames per segment (the ones nearest k).

    Returns:
        Sorted ``(frame, keyframe)`` pairs, frame < keyframe.

    Raises:
        BadInputError: ``interval`` < 1, a negative keyframe or a bad ``max_per_segment``.
    """
    if int(interval) < 1:
        raise BadInputError(f'interval must be >= 1, got {interval}')
    if max_per_segment is not None and max_per_segment < 1:
        raise BadInputError(f'max_per_segment must be >= 1 or None, got {max_per_segment}')
    keys = sorted({int(k) for k in keyframes})
    if keys and keys[0] < 1:
        raise BadInputError(f'keyframes must be >= 1 (frame 0 is the start), got {keys[0]}')
    pairs: list[tuple[int, int]] = []
    prev = 0
    for key in keys:
        frames = list(range(key - interval, prev, -interval))
        if max_per_segment is not None:
            frames = frames[:max_per_segment]
        if include_segment_start and (max_per_segment is None or len(frames) < max_per_segment):
            frames.append(prev)
        pairs.extend((f, key) for f in frames)
        prev = key
    return sorted(set(pairs))
