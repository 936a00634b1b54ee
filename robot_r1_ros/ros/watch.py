"""``robot-r1 watch``: print predictions as they arrive, the pip-only ``ros2 topic echo``.

Equivalent to ``ros2 topic echo /robot_r1/next_keypoint`` (robot_r1_ros/KeypointPrediction), but
readable: status, keypoint and step from the current position, gripper, task, reasoning, model
time. ``--state`` also prints the executor's state changes (``/robot_r1/executor_state``).

    robot-r1 watch                        # until Ctrl-C
    robot-r1 watch --count 5 --timeout-s 60 --reasoning-chars 0
"""
from __future__ import annotations

import argparse
import math
import sys
import textwrap
import time
from typing import Sequence, TextIO

from robot_r1_ros.core.status import PredictionStatus
from robot_r1_ros.ros.names import GRIPPER_NAMES, state_name, status_name


def _xyz(p) -> str:
    return f'[{p.x:.3f}, {p.y:.3f}, {p.z:.3f}]'


def format_prediction(msg, index: int, reasoning_chars: int = 400, width: int = 100) -> str:
    """A readable block for one KeypointPrediction."""
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    status = status_name(msg.status)
    lines = [f'--- prediction #{index}  stamp {stamp:.3f}  frame {msg.header.frame_id or "?"}'
             f'  model {msg.model_id or "?"}',
             f'status:    {status}' + (f' ({msg.status_reason})' if msg.status_reason else '')]
    pos, cur = msg.pose.position, msg.current_position
    step = math.dist((pos.x, pos.y, pos.z), (cur.x, cur.y, cur.z))
    if msg.status == PredictionStatus.OK:
        lines.append(f'keypoint:  {_xyz(pos)} m   from {_xyz(cur)} (step {step:.3f} m)')
        lines.append(f'gripper:   {GRIPPER_NAMES.get(msg.gripper_command, "?")}')
    else:
        lines.append(f'current:   {_xyz(cur)} m')
    if msg.task:
        lines.append(f'task:      {msg.task}')
    if reasoning_chars and msg.reasoning:
        text = msg.reasoning.strip().replace('\n', ' ')
        if len(text) > reasoning_chars:
            text = text[:reasoning_chars].rstrip() + ' ...'
        lines += textwrap.wrap(text, width=width, initial_indent='reasoning: ',
                               subsequent_indent=' ' * 11)
    if reasoning_chars and msg.status != PredictionStatus.OK and msg.raw_answer:
        lines.append(f'answer:    {msg.raw_answer.strip()[:reasoning_chars]!r}')
    lines.append(f'model:     {msg.inference_time_s:.2f} s, {msg.generated_tokens} tokens')
    return '\n'.join(lines)


def format_state(msg) -> str:
    """One line for an ExecutorState."""
    name = state_name(msg.state)
    text = (f'--- executor: {name}  target {_xyz(msg.target_position)}  received '
            f'{msg.received_count}, executed {msg.executed_count}, rejected '
            f'{msg.rejected_count}  [{msg.backend}{", dry run" if msg.dry_run else ""}]')
    return text + (f'\n    reason: {msg.reason}' if msg.reason else '')


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """Run until Ctrl-C, ``--count`` predictions, or ``--timeout-s`` without any (exit 1)."""
    parser = argparse.ArgumentParser(prog='robot-r1 watch', description=__doc__.split('\n')[0])
    parser.add_argument('--namespace', default='robot_r1', help='node namespace (robot_r1)')
    parser.add_argument('--topic', default='', help='topic (default /<namespace>/next_keypoint)')
    parser.add_argument('--count', type=int, default=0, help='exit after N predictions')
    parser.add_argument('--timeout-s', type=float, default=0.0,
                        help='exit 1 if no prediction arrives for this long (0 = wait forever)')
    parser.add_argument('--reasoning-chars', type=int, default=400,
                        help='reasoning characters shown (0 = none)')
    parser.add_argument('--state', action='store_true', help='also print executor states')
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.count < 0 or args.timeout_s < 0 or args.reasoning_chars < 0:
        parser.error('--count, --timeout-s and --reasoning-chars must be >= 0')

    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from robot_r1_ros.msg import ExecutorState, KeypointPrediction

    ns = '/' + args.namespace.strip('/') if args.namespace.strip('/') else ''
    topic = args.topic or f'{ns}/next_keypoint'
    rclpy.init(args=['robot_r1_watch'])
    node = rclpy.create_node('robot_r1_watch', start_parameter_services=False)
    seen = {'n': 0, 'last': time.monotonic()}

    def on_prediction(msg) -> None:
        seen['n'] += 1
        seen['last'] = time.monotonic()
        out.write(format_prediction(msg, seen['n'], args.reasoning_chars) + '\n')
        out.flush()

    def on_state(msg) -> None:
        out.write(format_state(msg) + '\n')
        out.flush()

    node.create_subscription(KeypointPrediction, topic, on_prediction, 10)
    if args.state:
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(ExecutorState, f'{ns}/executor_state', on_state, latched)
    out.write(f'watching {topic} (Ctrl-C to stop)\n')
    out.flush()
    code = 0
    try:
        while rclpy.ok():
            rclpy.spin_once(node, timeout_sec=0.1)
            if args.count and seen['n'] >= args.count:
                break
            if args.timeout_s and time.monotonic() - seen['last'] > args.timeout_s:
                sys.stderr.write(f'robot-r1 watch: no prediction on {topic} for '
                                 f'{args.timeout_s:.0f} s (is the reasoning node running, in '
                                 f'the same ROS_DOMAIN_ID?)\n')
                code = 1
                break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return code


if __name__ == '__main__':
    sys.exit(main())
