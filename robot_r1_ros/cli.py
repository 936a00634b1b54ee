"""`robot-r1`: one command for pip-only users (no ros2cli needed).

Each subcommand lives in its own module and is imported only when used, so `robot-r1 watch` does
not pay for torch and `robot-r1 train` does not need rclpy. Run `robot-r1 --help` for the list.
"""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

# subcommand -> (module with main(argv) -> int, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    'demo': ('robot_r1_ros.ros.demo', 'run sim + reasoning + executor on a task, save a video'),
    'bringup': ('robot_r1_ros.ros.bringup', 'start the nodes as franka.launch.py does (no launch)'),
    'watch': ('robot_r1_ros.ros.watch', 'print /robot_r1/next_keypoint (like ros2 topic echo)'),
    'interfaces': ('robot_r1_ros.ros.interfaces', 'show the package msg/srv/action definitions'),
    'record': ('robot_r1_ros.sim.record', 'record scripted expert demos to rosbag2 (MCAP)'),
    'render': ('robot_r1_ros.sim.pictures', 'render a picture of each sim task'),
    'build-tiny': ('robot_r1_ros.model.build_tiny', 'build the tiny random Qwen2.5-VL checkpoint'),
    'dataset': ('robot_r1_ros.training.dataset', 'turn rosbag2 demos into keypoint QA datasets'),
    'sft': ('robot_r1_ros.training.sft', 'SFT warm-up on the QA dataset (TRL SFTTrainer)'),
    'train': ('robot_r1_ros.training.grpo', 'GRPO training from a recipe YAML (TRL GRPOTrainer)'),
    'eval': ('robot_r1_ros.training.evaluate', 'evaluate a checkpoint: accuracy, L1, closed loop'),
    'pipeline': ('robot_r1_ros.training.pipeline',
                 'demos -> dataset -> SFT -> GRPO -> eval -> checkpoint, resumable'),
    'learn': ('robot_r1_ros.training.learn',
              'the small model that learns: curriculum SFT chain -> eval -> checkpoint'),
}


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ['usage: robot-r1 <command> [args...]', '', 'commands:']
    lines += [f'  {name:<{width}}  {help_}' for name, (_, help_) in COMMANDS.items()]
    return '\n'.join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``robot-r1 <command> ...`` to the command's module."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ('-h', '--help', 'help'):
        sys.stdout.write(_usage() + '\n')
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        sys.stderr.write(f"robot-r1: unknown command '{name}'\n\n{_usage()}\n")
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest) or 0)


if __name__ == '__main__':
    sys.exit(main())
