"""The README's full-ROS section against what the project installs and tests: consistency checks
that need no ROS install and run everywhere.

The block itself is run literally by test_readme_ros_block.py (against a stand-in for a
system ROS install built from the PyPI wheels, scripts/ros_system_standin.sh); here: every pip
requirement the set-up installs appears in the block with the same pins, PEP 668 is handled with
a venv, the build is a plain one run from another directory, and each ros2 command of the block is
one that test_ros2_cli_installed.py runs too."""
from __future__ import annotations

import re

from r1_testing import REPO, readme_ros_commands

COMMANDS = readme_ros_commands()
BLOCK = '\n'.join(COMMANDS)


def test_every_pip_dependency_of_the_set_up_is_in_the_block():
    setup = (REPO / 'scripts' / 'setup.sh').read_text()
    # the ML and sim requirement files (the ROS ones come from the ROS install) ...
    for req in ('requirements/ml.txt', 'requirements/sim.txt'):
        assert req in setup and f'src/robot_r1_ros/{req}' in BLOCK, req
    # ... and the --no-deps extra, with the same pin
    pinned = re.search(r'--no-deps (dm-robotics-panda==[\d.]+)', setup).group(1)
    assert f'pip install --no-deps {pinned}' in COMMANDS


def test_pep668_pip_runs_inside_a_venv_that_sees_the_ros_install():
    venv = next(i for i, c in enumerate(COMMANDS) if 'python3 -m venv' in c)
    first_pip = next(i for i, c in enumerate(COMMANDS) if c.startswith('pip install'))
    assert venv < first_pip and '--system-site-packages' in COMMANDS[venv]
    assert 'bin/activate' in COMMANDS[venv]
    assert COMMANDS[0].startswith('source /opt/ros/')


def test_the_block_builds_without_symlinks_and_runs_from_another_directory():
    build = next(c for c in COMMANDS if c.startswith('colcon build'))
    assert '--symlink-install' not in build
    assert COMMANDS.index(build) < COMMANDS.index('cd ~')


def test_each_ros2_command_of_the_block_is_run_by_the_cli_test():
    cli_test = (REPO / 'test' / 'ros' / 'test_ros2_cli_installed.py').read_text()
    ros2 = [c for c in COMMANDS if c.startswith('ros2 ')]
    assert len(ros2) >= 3
    for command in ros2:
        verb = command.split()[1:3]          # e.g. ['launch', 'robot_r1_ros'], ['topic', 'echo']
        assert f"'ros2', '{verb[0]}', '{verb[1]}'" in cli_test, command
