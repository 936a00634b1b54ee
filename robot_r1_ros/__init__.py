"""robot_r1_ros: Robot-R1 next-keypoint reasoning for ROS 2 (arXiv 2506.00070).

The source tree holds the pure-Python layers (core, model, sim, motion, training, ros); the colcon
install adds the generated interfaces (``robot_r1_ros.msg``, ``.srv``, ``.action``). Extending
``__path__`` lets the two halves meet whichever copy is first on ``sys.path`` (e.g. ``python -m
pytest`` run from the repository root puts the source first).
"""
__path__ = __import__('pkgutil').extend_path(__path__, __name__)

__version__ = '0.2.0'
