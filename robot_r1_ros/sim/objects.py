"""Where the scene's objects are: the sim's ground truth for grounding questions.

One function, :func:`object_positions`, is used by the sim node (it publishes them), the demo
recorder (it writes them into the bag) and the vision pre-training stage (dense targets), so the
three agree on names and frames. Names are the scene's body/marker names: ``red_cube``,
``green_cube``, ``blue_cube`` and ``target_zone`` (the yellow zone, a marker on the table).
Positions are in the robot base frame (``panda_link0``), metres; the zone's is its centre on the
table surface.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from robot_r1_ros.core.grounding import ZONE_NAME, object_label  # noqa: F401  (re-exported)


def object_names(scene: Any) -> tuple[str, ...]:
    """The names :func:`object_positions` reports for ``scene``: its cubes, then the zone."""
    return tuple(scene.cube_names) + (ZONE_NAME,)


def object_positions(scene: Any) -> dict[str, np.ndarray]:
    """``name -> xyz_base_m`` (3,) of every cube and of the zone centre, in the current state."""
    out = {name: np.asarray(scene.cube_pose(name)[0], dtype=float) for name in scene.cube_names}
    out[ZONE_NAME] = np.asarray(scene.marker_pos(ZONE_NAME), dtype=float)
    return out


OBJECT_POSES_TOPIC = '/sim/object_poses'
"""Topic (``tf2_msgs/msg/TFMessage``) of the sim's object poses: one transform per object,
``header.frame_id`` = the base frame, ``child_frame_id`` = the object's name. A real robot with
a perception or motion-capture system can publish the same; bags without it simply yield no
grounding questions."""


def object_poses_message(types: Any, stamp: Any, base_frame: str,
                         positions: dict[str, np.ndarray]) -> Any:
    """A ``tf2_msgs/msg/TFMessage`` of ``positions`` built from a message-class table.

    Args:
        types: ``name -> class`` of ROS message types (a rosbags typestore's ``types``; rclpy
            callers pass the imported classes under the same names).
        stamp: ``builtin_interfaces/msg/Time`` of every transform.
        base_frame: ``header.frame_id`` (the robot base frame).
        positions: name -> xyz_base_m.
    """
    T = types
    transforms = [T['geometry_msgs/msg/TransformStamped'](
        header=T['std_msgs/msg/Header'](stamp=stamp, frame_id=base_frame),
        child_frame_id=name,
        transform=T['geometry_msgs/msg/Transform'](
            translation=T['geometry_msgs/msg/Vector3'](*map(float, xyz)),
            rotation=T['geometry_msgs/msg/Quaternion'](0.0, 0.0, 0.0, 1.0)))
        for name, xyz in positions.items()]
    return T['tf2_msgs/msg/TFMessage'](transforms=transforms)


def positions_from_messages(messages: list[Any]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Stamps (ns, sorted) and name -> (N, 3) positions from ``TFMessage`` object poses.

    Objects missing from some message are dropped (a track must cover every stamp).
    """
    rows = []
    for msg in messages:
        if not msg.transforms:
            continue
        st = msg.transforms[0].header.stamp
        rows.append((int(st.sec) * 10**9 + int(st.nanosec),
                     {tf.child_frame_id: (tf.transform.translation.x, tf.transform.translation.y,
                                          tf.transform.translation.z) for tf in msg.transforms}))
    rows.sort(key=lambda r: r[0])
    if not rows:
        return np.zeros(0, np.int64), {}
    names = set.intersection(*(set(r[1]) for r in rows))
    stamps = np.array([r[0] for r in rows], np.int64)
    return stamps, {n: np.array([r[1][n] for r in rows], float) for n in sorted(names)}
