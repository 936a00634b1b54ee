"""Start and end of a peer process (the scripts in this folder, run as ``python <script>``).

The scripts import this as ``from peer_main import ...``: a script's own folder is on sys.path.
"""
from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def peer_node(name: str) -> Node:
    """Initialise rclpy (with the process's ``--ros-args``) and create the peer's node."""
    rclpy.init()
    return rclpy.create_node(name)


def spin_until_shutdown(node: Node) -> None:
    """Spin ``node`` until SIGINT or an external shutdown, then destroy it and shut rclpy down."""
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
