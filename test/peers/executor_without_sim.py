"""The executor node (``robot_r1_ros.ros.executor_node``) in a process where mujoco,
dm-robotics-panda and the package's sim layer cannot be imported (see ``no_sim.py``): what runs
on a real robot's computer without the simulator installed. Arguments as for the node."""
import sys

from no_sim import block_simulator

block_simulator()

from robot_r1_ros.ros import executor_node  # noqa: E402

sys.exit(executor_node.main(sys.argv[1:]))
