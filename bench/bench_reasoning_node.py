"""Benchmark of the reasoning node: 640x480 camera at 30 Hz in, next keypoints out.

Three processes over real DDS (loopback, a private domain): a camera process publishing
640x480 rgb8 frames at 30 Hz plus joint states, the reasoning node (continuous trigger, as fast
as the model allows) and this process, which records the predictions and the node's
/diagnostics and samples the node's memory. Prints a table and writes
bench/results/reasoning_node.json.

    source scripts/env.sh
    python bench/bench_reasoning_node.py                     # tiny checkpoint, 2 minutes
    python bench/bench_reasoning_node.py --minutes 10        # the RSS-flatness run
    python bench/bench_reasoning_node.py --model scripted:valid --minutes 1   # node cost only
    python bench/bench_reasoning_node.py --shm-profile       # Fast DDS 16 MiB SHM segment

Measured (milliseconds; per prediction, by the node unless marked):

- ``conversion``: Image -> RGB array (cv_bridge semantics) + JointState -> FK;
- ``prompt_processor``: prompt (core.prompts), chat template, image processor;
- ``model``: ``generate`` (prefill, decoding, constraint);
- ``parse``: completion parse (core.parsing), env -> base, workspace check;
- ``model_call``: the whole reasoner call (prompt + processor + generate + parse);
- ``publish``: KeypointPrediction + PoseStamped + MarkerArray build and publish;
- ``end_to_end``: image stamp -> next_keypoint published (node clock; same host);
- ``overhead``: end_to_end - model_call: what the node adds around the reasoner (frame
  transport and wait, conversion, publish); ``overhead_vs_generate``: end_to_end - generate;
- ``frame_age``: image stamp -> prediction start (DDS transport + time in the node);
- ``frame_wait``: image arrival -> prediction start (bounded by one frame period when the node
  always takes the newest frame: no queue);
- ``end_to_end_subscriber`` (this process): image stamp -> KeypointPrediction received;
- RSS of the node after 1 minute and at the end (``--minutes``).

On the tiny model the model time is framework overhead, not FLOPs. Timings on 2 shared cores
swing; nothing asserts on them.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('HF_HUB_OFFLINE', '1')

STAGES = ('conversion', 'prompt_processor', 'model', 'parse', 'model_call', 'publish',
          'debug_image', 'end_to_end', 'overhead', 'overhead_vs_generate', 'frame_age',
          'frame_wait')
SHM_PROFILE = """<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor><transport_id>shm_big</transport_id><type>SHM</type>
        <segment_size>16777216</segment_size></transport_descriptor>
      <transport_descriptor><transport_id>udp_lo</transport_id><type>UDPv4</type>
        <interfaceWhiteList><address>127.0.0.1</address></interfaceWhiteList>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="shm_participant" is_default_profile="true">
      <rtps><userTransports><transport_id>shm_big</transport_id>
        <transport_id>udp_lo</transport_id></userTransports>
        <useBuiltinTransports>false</useBuiltinTransports></rtps>
    </participant>
  </profiles>
</dds>
"""


# ------------------------------------------------------------------------------ camera role

def run_camera(width: int, height: int, rate_hz: float) -> None:
    """Publish a synthetic scene at ``rate_hz`` until SIGINT; print the frame count."""
    import numpy as np
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image, JointState

    from robot_r1_ros.ros.conversions import array_to_image_msg

    rclpy.init()
    node = rclpy.create_node('bench_camera')
    image_pub = node.create_publisher(Image, '/camera/image_raw', qos_profile_sensor_data)
    info_pub = node.create_publisher(CameraInfo, '/camera/camera_info', qos_profile_sensor_data)
    joint_pub = node.create_publisher(JointState, '/joint_states', qos_profile_sensor_data)
    frame = np.full((height, width, 3), 190, np.uint8)
    frame[height * 2 // 3:, :] = (120, 90, 60)
    frame[height // 2:height // 2 + 40, width // 4:width // 4 + 40] = (220, 30, 30)
    f = 0.5 * height / np.tan(np.radians(55.0) / 2)
    info = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
    info.k = [f, 0.0, width / 2, 0.0, f, height / 2, 0.0, 0.0, 1.0]
    names = [f'panda_joint{i}' for i in range(1, 8)] + ['panda_finger_joint1',
                                                        'panda_finger_joint2']
    q = [0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785, 0.04, 0.04]
    count = [0]

    def tick() -> None:
        stamp = node.get_clock().now().to_msg()
        joints = JointState(name=names, position=q)
        joints.header.stamp = stamp
        joint_pub.publish(joints)
        msg = array_to_image_msg(frame, 'rgb8')
        msg.header.stamp = stamp
        msg.header.frame_id = 'front_cam_optical_frame'
        image_pub.publish(msg)
        info.header = msg.header
        info_pub.publish(info)
        count[0] += 1

    node.create_timer(1.0 / rate_hz, tick)
    t0 = time.monotonic()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        elapsed = time.monotonic() - t0
        sys.stdout.write(json.dumps({'frames': count[0], 'elapsed_s': elapsed}) + '\n')
        sys.stdout.flush()
        node.destroy_node()
        rclpy.try_shutdown()


# ------------------------------------------------------------------------------ main role

def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {'mean': statistics.fmean(values), 'p50': pct(50), 'p95': pct(95),
            'max': ordered[-1], 'count': len(values)}


def _stop(proc: subprocess.Popen, timeout_s: float = 15.0) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.stdout.read() if proc.stdout else ''


def run_bench(args: argparse.Namespace) -> dict:
    import psutil
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    from robot_r1_ros.msg import KeypointPrediction

    model = args.model
    if not model.startswith('scripted:') and model == 'models/tiny-qwen2.5-vl':
        from robot_r1_ros.model import build_tiny
        build_tiny.ensure_built(REPO / model)
    env = dict(os.environ)
    env.update({'ROS_DOMAIN_ID': str(random.randint(10, 99)),
                'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST', 'PYTHONUNBUFFERED': '1',
                'OMP_NUM_THREADS': '1', 'PYTHONPATH': os.pathsep.join(
                    p for p in [str(REPO), env.get('PYTHONPATH', '')] if p)})
    profile_path = None
    if args.shm_profile:
        profile_path = Path(tempfile.mkstemp(suffix='.xml', prefix='fastdds_shm_')[1])
        profile_path.write_text(SHM_PROFILE)
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(profile_path)
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')})
    if profile_path is not None:
        os.environ['FASTDDS_DEFAULT_PROFILES_FILE'] = str(profile_path)
    log_dir = REPO / 'log' / 'bench'
    log_dir.mkdir(parents=True, exist_ok=True)
    node_log = open(log_dir / 'reasoning_node.log', 'w')  # noqa: SIM115
    params = ['--ros-args', '-p', f'model.id:={model}', '-p', 'model.num_threads:=1',
              '-p', f'model.device:={args.device}',
              '-p', f'trigger.max_rate_hz:={args.max_rate_hz}',
              '-p', f'generation.max_new_tokens:={args.max_new_tokens}',
              '-p', f'generation.think_budget_tokens:={args.think_budget}',
              '-p', 'diagnostics.period_s:=1.0', '-p', 'input.max_image_age_s:=2.0']
    if args.max_pixels:
        params += ['-p', f'model.max_pixels:={args.max_pixels}']
    node_proc = subprocess.Popen([sys.executable, '-m', 'robot_r1_ros.ros.reasoning_node',
                                  *params], cwd=REPO, env=env, stdout=node_log,
                                 stderr=subprocess.STDOUT, start_new_session=True)
    camera_proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), '--role',
                                    'camera', '--width', str(args.width), '--height',
                                    str(args.height), '--rate-hz', str(args.rate_hz)],
                                   cwd=REPO, env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True,
                                   start_new_session=True)
    rclpy.init()
    node = rclpy.create_node('bench_reasoning_probe')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    received: list[tuple[int, int, float, int]] = []  # (stamp_ns, rx_ns, inference_s, status)
    diag: list[dict[str, str]] = []

    def on_prediction(msg: KeypointPrediction) -> None:
        rx_ns = node.get_clock().now().nanoseconds
        stamp_ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        received.append((stamp_ns, rx_ns, msg.inference_time_s, msg.status))

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith('reasoning_node: reasoning'):
                diag.append({kv.key: kv.value for kv in status.values})

    node.create_subscription(KeypointPrediction, '/robot_r1/next_keypoint', on_prediction, 100)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    proc = psutil.Process(node_proc.pid)
    rss_series: list[tuple[float, float]] = []
    try:
        # wait for the first prediction (model load, warm-up, discovery)
        t_wait = time.monotonic()
        while not received and time.monotonic() - t_wait < args.start_timeout_s:
            executor.spin_once(timeout_sec=0.1)
            if node_proc.poll() is not None:
                raise RuntimeError(f'the node exited: see {node_log.name}')
        if not received:
            raise RuntimeError(f'no prediction within {args.start_timeout_s} s')
        startup_s = time.monotonic() - t_wait
        first = len(received)
        t0 = time.monotonic()
        next_sample = t0
        duration_s = args.minutes * 60.0
        while time.monotonic() - t0 < duration_s:
            executor.spin_once(timeout_sec=0.1)
            if time.monotonic() >= next_sample:
                rss_series.append((time.monotonic() - t0, proc.memory_info().rss / 2**20))
                next_sample += 10.0
        rss_series.append((time.monotonic() - t0, proc.memory_info().rss / 2**20))
        elapsed_s = time.monotonic() - t0
        n_diag = len(diag)
        t_end = time.monotonic()
        while len(diag) <= n_diag and time.monotonic() - t_end < 5.0:
            executor.spin_once(timeout_sec=0.1)
    finally:
        _stop(node_proc)
        camera_out = _stop(camera_proc)
        node.destroy_node()
        rclpy.try_shutdown()
        node_log.close()
        if profile_path is not None:
            profile_path.unlink(missing_ok=True)
    window = received[first:]
    final = diag[-1] if diag else {}
    stages = {}
    for stage in STAGES:
        values = {k: float(final[f'{stage}_ms_{k}']) for k in ('mean', 'p50', 'p95', 'max')
                  if f'{stage}_ms_{k}' in final}
        stages[stage] = values
    e2e_sub = [(rx - st) * 1e-6 for st, rx, _, _ in window]
    statuses: dict[str, int] = {}
    names = {0: 'OK', 1: 'FORMAT_ERROR', 2: 'OUT_OF_WORKSPACE', 3: 'STALE_INPUT',
             4: 'BAD_INPUT', 5: 'MODEL_ERROR'}
    for _, _, _, status in window:
        statuses[names.get(status, str(status))] = statuses.get(names.get(status, str(status)),
                                                                0) + 1
    camera = {}
    for line in camera_out.splitlines():
        if line.startswith('{'):
            camera = json.loads(line)
    rss_1min = next((mb for t, mb in rss_series if t >= 60.0), None)
    rss_end = rss_series[-1][1]
    return {
        'machine': {'python': platform.python_version(), 'cpu_count': os.cpu_count(),
                    'platform': platform.platform(), 'torch_threads': 1},
        'config': {'model': model, 'device': args.device, 'image': f'{args.width}x{args.height} '
                   'rgb8', 'camera_rate_hz': args.rate_hz, 'max_rate_hz': args.max_rate_hz,
                   'max_new_tokens': args.max_new_tokens, 'think_budget_tokens':
                   args.think_budget, 'max_pixels': args.max_pixels or 'checkpoint default',
                   'minutes': args.minutes, 'fastdds': '16 MiB SHM profile' if args.shm_profile
                   else 'defaults', 'trigger': 'continuous'},
        'startup_to_first_prediction_s': round(startup_s, 2),
        'duration_s': round(elapsed_s, 1),
        'predictions': len(window),
        'prediction_rate_hz': round(len(window) / elapsed_s, 3),
        'statuses': statuses,
        'stages_ms': stages,
        'end_to_end_subscriber_ms': _summary(e2e_sub),
        'frame_period_ms': round(1000.0 / args.rate_hz, 2),
        'camera': {'frames': camera.get('frames'), 'rate_hz': round(
            camera['frames'] / camera['elapsed_s'], 2) if camera.get('elapsed_s') else None},
        'rss_mb': {'after_1_min': None if rss_1min is None else round(rss_1min, 1),
                   'end': round(rss_end, 1),
                   'change_pct': None if rss_1min is None else round(
                       100.0 * (rss_end - rss_1min) / rss_1min, 2),
                   'series': [(round(t, 1), round(mb, 1)) for t, mb in rss_series]},
        'node_counts': {k[len('count_'):]: int(v) for k, v in final.items()
                        if k.startswith('count_')},
        'node_images_received': int(final.get('images_received', 0)),
    }


def print_table(result: dict) -> None:
    cfg = result['config']
    print(f"reasoning node: {cfg['model']} on {cfg['device']}, {cfg['image']} at "
          f"{cfg['camera_rate_hz']:g} Hz, {cfg['minutes']:g} min, Fast DDS {cfg['fastdds']}")
    print(f"predictions: {result['predictions']} ({result['prediction_rate_hz']:.2f} Hz), "
          f"statuses {result['statuses']}, camera {result['camera']['rate_hz']} Hz")
    print(f"{'stage [ms]':<30}{'mean':>10}{'p50':>10}{'p95':>10}{'max':>10}")
    labels = {'conversion': 'conversion', 'prompt_processor': 'prompt + processor',
              'model': 'model (generate)', 'parse': 'parse + frames + workspace',
              'model_call': 'model call (all of above 3)', 'publish': 'publish',
              'debug_image': 'debug image (after)', 'end_to_end': 'end-to-end (node)',
              'overhead': 'overhead = e2e - model call',
              'overhead_vs_generate': 'e2e - generate', 'frame_age': 'frame age at start',
              'frame_wait': 'frame wait in node'}
    rows = [(labels[k], result['stages_ms'].get(k, {})) for k in STAGES]
    rows.append(('end-to-end (subscriber)', result['end_to_end_subscriber_ms']))
    for label, s in rows:
        if not s:
            print(f'{label:<30}{"n/a":>10}')
            continue
        print(f"{label:<30}{s['mean']:>10.2f}{s['p50']:>10.2f}{s['p95']:>10.2f}"
              f"{s['max']:>10.2f}")
    rss = result['rss_mb']
    print(f"frame period {result['frame_period_ms']} ms; node RSS after 1 min "
          f"{rss['after_1_min']} MB, at end {rss['end']} MB ({rss['change_pct']} %)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--role', choices=['bench', 'camera'], default='bench',
                        help=argparse.SUPPRESS)
    parser.add_argument('--minutes', type=float, default=2.0,
                        help='measured duration after the first prediction (default 2)')
    parser.add_argument('--model', default='models/tiny-qwen2.5-vl',
                        help='model.id of the node (default: the tiny checkpoint)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--rate-hz', type=float, default=30.0)
    parser.add_argument('--max-rate-hz', type=float, default=100.0,
                        help='trigger.max_rate_hz (default 100: no cap, as fast as the model '
                             'and the camera allow; the node still waits for a new frame)')
    parser.add_argument('--max-new-tokens', type=int, default=128)
    parser.add_argument('--think-budget', type=int, default=32)
    parser.add_argument('--max-pixels', type=int, default=0,
                        help='model.max_pixels (0 = checkpoint default: 391 image tokens)')
    parser.add_argument('--shm-profile', action='store_true',
                        help='Fast DDS profile with a 16 MiB shared-memory segment')
    parser.add_argument('--start-timeout-s', type=float, default=180.0)
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results' /
                                             'reasoning_node.json'))
    args = parser.parse_args(argv)
    if args.role == 'camera':
        run_camera(args.width, args.height, args.rate_hz)
        return 0
    result = run_bench(args)
    print_table(result)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + '\n')
    print(f'wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
