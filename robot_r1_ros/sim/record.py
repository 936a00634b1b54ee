"""Record scripted expert demos as rosbag2 MCAP bags, one bag per episode.

    python -m robot_r1_ros.sim.record --task pick_place --episodes 50 --out data/demos
    python -m robot_r1_ros.sim.record --task all --episodes 20 --out data/demos --workers 2

Resumable and parallel-safe: finished bags (``<out>/<task>_<seed>/``) are skipped; each
episode is claimed with an exclusive lock file (``<out>/.partial/<name>.lock``), so several
processes can share an output folder; a lock left by a dead process is taken over.  Bags are
written under ``<out>/.partial/`` and renamed when complete.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

import robot_r1_ros.sim  # noqa: F401  (MUJOCO_GL before mujoco)
from robot_r1_ros.sim.episodes import episode_name, record_expert_episode
from robot_r1_ros.sim.scene import SceneConfig
from robot_r1_ros.sim.tasks import task_names

_SCENE = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(out: Path, name: str) -> Path | None:
    """Create the episode's lock file; None if another live process holds it."""
    lock = out / '.partial' / f'{name}.lock'
    lock.parent.mkdir(parents=True, exist_ok=True)
    me = f'{socket.gethostname()} {os.getpid()}'
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                host, pid = lock.read_text().split()
            except (OSError, ValueError):
                return None                     # being written right now
            if host == socket.gethostname() and not _pid_alive(int(pid)):
                lock.unlink(missing_ok=True)    # stale: its owner died
                continue
            return None
        with os.fdopen(fd, 'w') as f:
            f.write(me)
        return lock
    return None


def _work(job: tuple) -> dict:
    """Record one episode in this process (keeps one scene per process)."""
    global _SCENE
    out, task, seed, cfg_path, width, height, camera_hz, joint_hz = job
    out = Path(out)
    name = episode_name(task, seed)
    if (out / name / 'metadata.yaml').is_file():
        return {'name': name, 'status': 'skipped'}
    lock = _claim(out, name)
    if lock is None:
        return {'name': name, 'status': 'busy'}
    try:
        if (out / name / 'metadata.yaml').is_file():   # finished while we were claiming
            return {'name': name, 'status': 'skipped'}
        if _SCENE is None:
            from robot_r1_ros.sim.scene import PandaScene

            cfg = SceneConfig.from_yaml(cfg_path) if cfg_path else SceneConfig()
            if width or height:
                cfg = cfg.with_camera_size(width or cfg.camera.width,
                                           height or cfg.camera.height)
            _SCENE = PandaScene(cfg)
        res = record_expert_episode(_SCENE, task, seed, out, camera_hz=camera_hz,
                                    joint_state_hz=joint_hz)
        return {'name': name, 'status': 'ok' if res.success else 'failed',
                'images': res.n_images, 'sim_time_s': round(res.sim_time_s, 3)}
    finally:
        lock.unlink(missing_ok=True)


def build_parser() -> argparse.ArgumentParser:
    """CLI arguments."""
    p = argparse.ArgumentParser(prog='python -m robot_r1_ros.sim.record', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--task', default='pick_place',
                   help=f'task name or "all" ({", ".join(task_names())})')
    p.add_argument('--episodes', type=int, default=10, help='episodes per task')
    p.add_argument('--seed-offset', type=int, default=0, help='first seed')
    p.add_argument('--out', required=True, type=Path, help='output folder')
    p.add_argument('--config', type=Path, default=None, help='YAML with a scene: section')
    p.add_argument('--width', type=int, default=0, help='camera width (default: config)')
    p.add_argument('--height', type=int, default=0, help='camera height (default: config)')
    p.add_argument('--camera-hz', type=float, default=10.0)
    p.add_argument('--joint-state-hz', type=float, default=50.0)
    p.add_argument('--workers', type=int, default=1, help='parallel processes')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (1 when any episode failed)."""
    args = build_parser().parse_args(argv)
    tasks = task_names() if args.task == 'all' else [args.task]
    unknown = [t for t in tasks if t not in task_names()]
    if unknown:
        print(f'error: unknown task {unknown[0]!r}; known: {", ".join(task_names())}',
              file=sys.stderr)
        return 2
    if args.episodes < 1 or args.seed_offset < 0 or args.workers < 1:
        print('error: --episodes and --workers must be >= 1, --seed-offset >= 0',
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(str(args.out), t, args.seed_offset + i, str(args.config or ''), args.width,
             args.height, args.camera_hz, args.joint_state_hz)
            for t in tasks for i in range(args.episodes)]
    from tqdm import tqdm

    t0 = time.perf_counter()
    results = []
    bar = tqdm(total=len(jobs), unit='ep', disable=args.no_progress, desc='recording')
    if args.workers == 1:
        for job in jobs:
            results.append(_work(job))
            bar.update()
    else:
        import multiprocessing as mp

        with mp.get_context('spawn').Pool(args.workers) as pool:
            for res in pool.imap_unordered(_work, jobs):
                results.append(res)
                bar.update()
    bar.close()
    counts = {s: sum(r['status'] == s for r in results) for s in ('ok', 'failed', 'skipped',
                                                                     'busy')}
    elapsed = time.perf_counter() - t0
    summary = {'out': str(args.out), 'elapsed_s': round(elapsed, 2), **counts}
    print(json.dumps(summary))
    return 1 if counts['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
