"""scripts/ros2_tools_overlay.sh: the vendored ROS 2 tools as a cached overlay, and its interface."""
from __future__ import annotations

import os
import subprocess

from r1_testing import REPO, require_ros_interfaces
from ros2_tools import SCRIPT, overlay_prefix, tools_env, vendor_root


def _run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(['bash', str(SCRIPT), *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=1800)


def test_overlay_is_cached_outside_the_clone_and_reused():
    prefix = overlay_prefix()
    assert not prefix.startswith(str(REPO) + os.sep)
    again = _run(ROBOT_R1_ROS2_TOOLS_SRC=str(vendor_root()))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == prefix
    assert 'cached overlay' in again.stderr


def test_selection_and_errors_follow_the_documented_interface(tmp_path):
    root = str(vendor_root())
    overlay_prefix()  # skips/fails without the vendored source
    listed = _run('--list', '--with', 'franka_msgs', ROBOT_R1_ROS2_TOOLS_SRC=root)
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert 'franka_msgs' in names and 'ros2topic' in names and 'control_msgs' not in names
    only = _run('--list', '--packages', 'control_msgs,franka_msgs', ROBOT_R1_ROS2_TOOLS_SRC=root)
    assert only.stdout.split() == ['control_msgs', 'franka_msgs']
    bad = _run('--with', 'no_such_pkg', ROBOT_R1_ROS2_TOOLS_SRC=root)
    assert bad.returncode == 2 and "package 'no_such_pkg' is not in" in bad.stderr
    absent = _run(ROBOT_R1_ROS2_TOOLS_SRC=str(tmp_path / 'nothing'))
    assert absent.returncode == 3 and 'no vendored ROS 2 source' in absent.stderr


def test_ros2_cli_from_the_overlay_sees_the_package_interfaces(ros_env):
    require_ros_interfaces()
    env = tools_env(ros_env)
    out = subprocess.run(['ros2', 'interface', 'show', 'robot_r1_ros/action/PredictKeypoint'],
                         env=env, cwd='/', capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'string task' in out.stdout
