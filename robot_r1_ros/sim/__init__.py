"""MuJoCo Franka Panda tabletop simulation (no rclpy here).

MuJoCo reads ``MUJOCO_GL`` once, when it is first imported, and the default (glfw) needs a
display.  Every module of this package imports mujoco only after this file ran, so headless
EGL rendering works without the user setting anything.  An explicit ``MUJOCO_GL`` (for example
``osmesa``) set by the user still wins.
"""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')
