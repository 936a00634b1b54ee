"""Benchmark of the MuJoCo scene: expert success per task, render time, sim-node real-time
factor, demos recorded per minute.  Prints a table and writes bench/results/sim.json.

    source scripts/env.sh
    python bench/bench_sim.py                 # 50 seeds per task (~2 min of expert runs)
    python bench/bench_sim.py --seeds 10 --node-seconds 5 --demos 2    # quick

The sim-node part starts ``python -m robot_r1_ros.ros.sim_node`` (224x224 camera at 15 Hz,
joint states at 100 Hz) in its own ROS domain and measures, from a subscriber, how fast its
``/clock`` advances against the wall clock, and the image and joint-state rates received.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('MUJOCO_GL', 'egl')
os.environ.setdefault('OMP_NUM_THREADS', '1')


def bench_experts(seeds: int) -> dict:
    from robot_r1_ros.sim.experts import run_expert
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task, task_names

    out = {}
    with PandaScene() as scene:
        for name in task_names():
            task = make_task(name)
            ok, t0, sim_s, failed = 0, time.perf_counter(), 0.0, []
            for seed in range(seeds):
                res = run_expert(scene, task, task.reset(scene, seed))
                ok += res.success
                sim_s += res.sim_time_s
                if not res.success:
                    failed.append(seed)
            wall = time.perf_counter() - t0
            out[name] = {'success': ok, 'seeds': seeds, 'rate': ok / seeds,
                         'failed_seeds': failed, 'wall_s_per_episode': wall / seeds,
                         'sim_s_per_episode': sim_s / seeds}
    return out


def bench_render(frames: int) -> dict:
    from robot_r1_ros.sim.scene import PandaScene, SceneConfig
    from robot_r1_ros.sim.tasks import make_task

    out = {}
    for label, cfg in (('224x224', SceneConfig()),
                       ('224x224_shadows', SceneConfig(shadows=True)),
                       ('640x480', SceneConfig().with_camera_size(640, 480))):
        with PandaScene(cfg) as scene:
            make_task('pick_place').reset(scene, 0)
            scene.render()                      # context creation outside the timing
            t0 = time.perf_counter()
            for _ in range(frames):
                scene.render()
            out[label] = 1e3 * (time.perf_counter() - t0) / frames
    return out


def bench_node(seconds: float) -> dict:
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image, JointState

    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(80 + os.getpid() % 20)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['ROS_LOG_DIR'] = str(REPO / 'log' / 'ros')
    env['PYTHONPATH'] = os.pathsep.join(p for p in (str(REPO), env.get('PYTHONPATH', '')) if p)
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')})
    child = subprocess.Popen([sys.executable, '-m', 'robot_r1_ros.ros.sim_node', '--ros-args',
                              '-p', 'camera_rate_hz:=15.0', '-p', 'joint_state_rate_hz:=100.0'],
                             env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    rclpy.init()
    node = rclpy.create_node('bench_sim_probe')
    got = {'img': [], 'js': [], 'clock': []}
    node.create_subscription(Image, '/camera/image_raw',
                             lambda m: got['img'].append(time.monotonic()),
                             qos_profile_sensor_data)
    node.create_subscription(JointState, '/joint_states',
                             lambda m: got['js'].append(time.monotonic()), 10)
    node.create_subscription(Clock, '/clock', lambda m: got['clock'].append(
        (time.monotonic(), m.clock.sec + m.clock.nanosec * 1e-9)), 10)
    try:
        deadline = time.monotonic() + 60
        while len(got['img']) < 5 and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
        for v in got.values():
            v.clear()
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            rclpy.spin_once(node, timeout_sec=0.05)
        wall = time.monotonic() - t0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        child.send_signal(2)
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
    clock = got['clock']
    rtf = ((clock[-1][1] - clock[0][1]) / (clock[-1][0] - clock[0][0])) if len(clock) > 1 \
        else 0.0
    return {'real_time_factor': rtf, 'image_hz': len(got['img']) / wall,
            'joint_state_hz': len(got['js']) / wall, 'seconds': wall,
            'camera': '224x224 @ 15 Hz', 'joint_states': '100 Hz'}


def bench_record(demos: int) -> dict:
    from robot_r1_ros.sim.episodes import record_expert_episode
    from robot_r1_ros.sim.scene import PandaScene

    with tempfile.TemporaryDirectory() as tmp, PandaScene() as scene:
        t0 = time.perf_counter()
        ok, size = 0, 0
        for seed in range(demos):
            res = record_expert_episode(scene, 'pick_place', seed, tmp, camera_hz=10.0,
                                        joint_state_hz=50.0)
            ok += res.success
            size += sum(f.stat().st_size for f in res.path.iterdir())
        wall = time.perf_counter() - t0
    return {'task': 'pick_place', 'demos': demos, 'success': ok,
            'demos_per_minute': 60.0 * demos / wall, 'mb_per_demo': size / demos / 1e6,
            'camera': '224x224 @ 10 Hz', 'joint_states': '50 Hz'}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--seeds', type=int, default=50)
    p.add_argument('--frames', type=int, default=60)
    p.add_argument('--node-seconds', type=float, default=15.0)
    p.add_argument('--demos', type=int, default=5)
    p.add_argument('--skip-node', action='store_true')
    p.add_argument('--out', type=Path, default=REPO / 'bench' / 'results' / 'sim.json')
    args = p.parse_args()

    results = {'machine': {'cpus': os.cpu_count(), 'python': platform.python_version(),
                           'MUJOCO_GL': os.environ.get('MUJOCO_GL')}}
    results['experts'] = bench_experts(args.seeds)
    results['render_ms_per_frame'] = bench_render(args.frames)
    results['record'] = bench_record(args.demos)
    if not args.skip_node:
        results['sim_node'] = bench_node(args.node_seconds)

    print(f'{"task":<14}{"success":>10}{"rate":>8}{"wall s/ep":>11}{"sim s/ep":>10}')
    for name, r in results['experts'].items():
        print(f'{name:<14}{r["success"]:>6}/{r["seeds"]:<3}{r["rate"]:>8.0%}'
              f'{r["wall_s_per_episode"]:>11.2f}{r["sim_s_per_episode"]:>10.1f}')
    print('render ms/frame: ' + ', '.join(f'{k} {v:.1f}'
                                          for k, v in results['render_ms_per_frame'].items()))
    rec = results['record']
    print(f'recording: {rec["demos_per_minute"]:.1f} demos/min ({rec["camera"]}), '
          f'{rec["mb_per_demo"]:.2f} MB/demo')
    if 'sim_node' in results:
        n = results['sim_node']
        print(f'sim_node: real-time factor {n["real_time_factor"]:.3f}, images '
              f'{n["image_hz"]:.1f} Hz, joint states {n["joint_state_hz"]:.1f} Hz')
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
