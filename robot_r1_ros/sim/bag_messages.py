"""Decoding the messages of a recorded episode bag (rosbags, no ROS installation needed)."""
from __future__ import annotations

from typing import Any

import numpy as np


class BagError(ValueError):
    """A bag is missing, unreadable or lacks a required topic."""


def _stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 10**9 + int(msg.header.stamp.nanosec)


def _deserialize(ts: Any, raw: bytes, typename: str) -> Any:
    try:
        return ts.deserialize_cdr(raw, typename)
    except Exception:  # noqa: BLE001 - Fast-CDR (rclpy) may leave trailing padding bytes
        md = ts.get_msgdef(typename)           # internal API of rosbags 0.11.x
        if bytes(raw[:2]) != b'\x00\x01':
            raise
        return md.deserialize_cdr_le(memoryview(raw)[4:], 0, md.cls, ts)[0]


def _image_to_rgb(msg: Any) -> np.ndarray:
    enc = msg.encoding.lower()
    data = np.asarray(msg.data, np.uint8)
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if enc in ('rgb8', 'bgr8'):
        rows = data.reshape(h, step)[:, :w * 3].reshape(h, w, 3)
        return (rows[..., ::-1] if enc == 'bgr8' else rows).copy()
    if enc in ('rgba8', 'bgra8'):
        rows = data.reshape(h, step)[:, :w * 4].reshape(h, w, 4)[..., :3]
        return (rows[..., ::-1] if enc == 'bgra8' else rows).copy()
    raise BagError(f'unsupported image encoding {msg.encoding!r} (need rgb8/bgr8/rgba8/bgra8)')
