"""``robot-r1 demo``: the whole system on a pick-and-place task, with a video and a summary.

Starts the sim, reasoning and executor nodes as ``robot-r1 bringup franka`` does (same
description, parameters file and executables; logs go to the output folder), resets the MuJoCo
scene to the task and seed, then runs a fixed number of predict -> execute cycles: each cycle
asks the reasoning node for one prediction (the ``predict_keypoint`` action; the prediction is
also published on ``/robot_r1/next_keypoint`` like any other) and waits until the executor
reports on it (REACHED, FAILED or REJECTED). Each prediction is printed, then a summary
(predictions, executed, rejected with reasons, task success). The model is the best checkpoint
the project has (:data:`DEMO_CHECKPOINTS`; the tiny random one until a trained one exists), so
the task usually fails: that is not an error. The exit code is non-zero only when the pipeline
itself failed (a node died, no prediction, no executor report, a time-out).

Output folder (``outputs/demo-<YYYYmmdd-HHMMSS>/`` unless ``--output-dir``)::

    episode.gif          annotated camera video (keypoint cross, TCP ring, caption)
    contact_sheet.png    one tile per cycle (the model's input frame + its keypoint) + final
    summary.json         settings, every prediction and outcome, counts, success, timings
    logs/<node>.log      output of each node
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from robot_r1_ros.ros.demo_client import (CycleRecord, DemoClient,  # noqa: F401  (API)
                                          DemoResult, Frame, PipelineError)
from robot_r1_ros.ros.names import GRIPPER_NAMES, state_name, status_name
from robot_r1_ros.ros.system import REPO_ROOT, describe_system

#: Checkpoints the demo looks for, best first (folders with a config.json; relative paths are
#: tried under the working directory, then the repository).
DEMO_CHECKPOINTS: tuple[str, ...] = (
    'checkpoints/robot-r1-tiny-see',    # the shipped checkpoint (robot-r1 learn, recipe_tiny_see)
    'checkpoints/robot-r1-tiny-learn',  # its base: text questions only (recipe_learn)
    'checkpoints/robot-r1-tiny-grpo',   # issue 8's pipeline checkpoint (tiny_cpu; collapsed)
    'outputs/tiny/grpo/final',          # a local run of that pipeline: GRPO result
    'outputs/tiny/sft/final',           # ... its SFT warm-up
    'models/tiny-qwen2.5-vl',           # built by scripts/setup.sh (random weights)
)


def best_checkpoint(cwd: Path | None = None) -> Path | None:
    """The first of :data:`DEMO_CHECKPOINTS` that exists (``$ROBOT_R1_MODEL`` wins)."""
    env = os.environ.get('ROBOT_R1_MODEL', '')
    candidates = [env] if env else []
    candidates += list(DEMO_CHECKPOINTS)
    for cand in candidates:
        for base in (cwd or Path.cwd(), REPO_ROOT):
            path = (base / cand) if not Path(cand).is_absolute() else Path(cand)
            if (path / 'config.json').is_file():
                return path.resolve()
    return None


def _camera_geometry(client: DemoClient, params_file: str):
    """K from CameraInfo; the camera pose from the reasoning node's ``camera.*`` parameters."""
    import yaml

    from robot_r1_ros.core.geometry import make_transform, quat_wxyz_to_matrix
    from robot_r1_ros.sim.media import CameraGeometry

    geo = CameraGeometry()
    info = client.camera_info
    if info is not None and any(info.k):
        geo.K = np.asarray(info.k, float).reshape(3, 3)
    try:
        data = yaml.safe_load(Path(params_file).read_text()) or {}
        block = next(v for k, v in data.items() if str(k).endswith('reasoning_node'))
        cam = block['ros__parameters']['camera']
        x, y, z, w = (float(v) for v in cam['quat_xyzw'])
        if abs(math.sqrt(x * x + y * y + z * z + w * w) - 1.0) < 1e-3:
            geo.T_base_cam = make_transform(quat_wxyz_to_matrix((w, x, y, z)),
                                            [float(v) for v in cam['xyz_base_m']])
    except (OSError, KeyError, StopIteration, TypeError, ValueError):
        pass
    return geo


def _fmt(xyz: Sequence[float] | None) -> str:
    return '[' + ', '.join(f'{v:.3f}' for v in xyz) + ']' if xyz is not None else '-'


def _record_prediction(rec: CycleRecord, pred: Any) -> None:
    p, c = pred.position, pred.current_position
    rec.status = status_name(pred.status)
    rec.status_reason = pred.status_reason
    rec.keypoint_xyz_base_m = [p.x, p.y, p.z] if all(map(math.isfinite, (p.x, p.y, p.z))) \
        else None
    rec.gripper = GRIPPER_NAMES.get(pred.gripper_command, '?')
    rec.current_xyz_base_m = [c.x, c.y, c.z]
    rec.reasoning, rec.raw_answer = pred.reasoning, pred.raw_answer
    rec.inference_time_s, rec.generated_tokens = float(pred.inference_time_s), \
        int(pred.generated_tokens)
    rec.stamp_s = pred.header.stamp.sec + pred.header.stamp.nanosec * 1e-9


def _print_cycle(rec: CycleRecord, total: int, out) -> None:
    head = f'[cycle {rec.index}/{total}] {rec.status}'
    if rec.status == 'OK' or rec.keypoint_xyz_base_m is not None:
        head += f'  keypoint {_fmt(rec.keypoint_xyz_base_m)} gripper {rec.gripper}'
    head += f'  ({rec.inference_time_s:.1f} s, {rec.generated_tokens} tokens)'
    out.write(head + '\n')
    if rec.status_reason:
        out.write(f'    why:       {rec.status_reason}\n')
    if rec.reasoning:
        text = ' '.join(rec.reasoning.split())
        out.write(f'    reasoning: {text[:160]}{" ..." if len(text) > 160 else ""}\n')
    tail = f'    executor:  {rec.outcome}'
    if rec.outcome in ('REACHED', 'FAILED'):
        tail += f' after {rec.execution_s:.1f} s'
        if rec.tcp_error_m is not None:
            tail += f' (TCP {rec.tcp_error_m * 1e3:.1f} mm from the keypoint)'
    if rec.outcome_reason:
        tail += f': {rec.outcome_reason}'
    out.write(tail + '\n')
    out.flush()


def _write_media(result: DemoResult, client: DemoClient, out_dir: Path, params_file: str,
                 total: int, fps: float) -> dict[str, str]:
    from robot_r1_ros.sim.media import Overlay, annotate, contact_sheet, write_gif

    geo = _camera_geometry(client, params_file)
    with client.lock:
        frames = list(client.frames)
    files: dict[str, str] = {}
    if not frames:
        return files
    by_cycle = {c.index: c for c in result.cycles}

    def overlay_for(frame: Frame, extra: str = '') -> Overlay:
        rec = by_cycle.get(frame.cycle)
        lines = [f'cycle {frame.cycle}/{total}  executor {frame.state}' + extra]
        kp, ok = None, True
        if rec is not None and rec.status:
            kp = rec.keypoint_xyz_base_m
            ok = rec.outcome in ('REACHED', '') and rec.status == 'OK'
            lines.append(f'{rec.status} {_fmt(kp)} {rec.gripper}'
                         + (f' -> {rec.outcome}' if rec.outcome else ''))
        if result.instruction:
            lines.append(result.instruction[:60])
        return Overlay(lines=lines, keypoint_xyz=kp, keypoint_ok=ok, tcp_xyz=frame.tcp_xyz)

    video = [annotate(f.rgb, overlay_for(f), geo) for f in frames]
    files['gif'] = str(write_gif(video, out_dir / 'episode.gif', fps=fps))
    tiles = []
    stamps = np.array([f.stamp_s for f in frames])
    for rec in result.cycles:
        # The recorded frame closest to the image the model saw (the prediction's stamp).
        rec.frame_index = int(np.argmin(np.abs(stamps - rec.stamp_s)))
        if 0 <= rec.frame_index < len(frames):
            frame = frames[rec.frame_index]
            tiles.append(annotate(frame.rgb, overlay_for(Frame(
                frame.stamp_s, frame.rgb, rec.current_xyz_base_m, rec.index,
                rec.outcome or frame.state)), geo))
    last = frames[-1]
    success = {True: 'yes', False: 'no', None: 'unknown'}[result.task_success]
    tiles.append(annotate(last.rgb, Overlay(lines=[f'final  task success: {success}',
                                                   result.instruction[:60]],
                                            tcp_xyz=last.tcp_xyz), geo))
    title = (f'robot-r1 demo: {result.instruction}  |  {len(result.cycles)} predictions, '
             f'{result.executed} executed, success {success}')
    files['contact_sheet'] = str(contact_sheet(tiles, out_dir / 'contact_sheet.png',
                                               columns=4, title=title))
    return files


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog='robot-r1 demo', description='Run sim + reasoning + executor on a task for a fixed '
        'number of predict -> execute cycles; print each prediction and a summary; save an '
        'annotated GIF, a contact sheet and summary.json.')
    parser.add_argument('--task', default='pick_place', help='sim task (pick_place)')
    parser.add_argument('--seed', type=int, default=0, help='initial-state seed (0)')
    parser.add_argument('--cycles', type=int, default=8, help='predict -> execute cycles (8)')
    parser.add_argument('--model', default='', help='checkpoint folder or hub id (default: the '
                        'best checkpoint found, see DEMO_CHECKPOINTS)')
    parser.add_argument('--backend', default='direct', choices=['direct', 'moveit'])
    parser.add_argument('--params-file', default='', help='parameters file (config/franka.yaml)')
    parser.add_argument('--output-dir', default='', help='output folder '
                        '(default outputs/demo-<timestamp>)')
    parser.add_argument('--timeout-s', type=float, default=270.0,
                        help='give up (exit 1) if the episode takes longer (270)')
    parser.add_argument('--fps', type=float, default=5.0, help='GIF frame rate (5)')
    parser.add_argument('--no-media', action='store_true', help='skip the GIF and contact sheet')
    args = parser.parse_args(list(argv))
    if args.cycles < 1 or args.timeout_s <= 0 or args.fps <= 0:
        parser.error('--cycles >= 1, --timeout-s > 0 and --fps > 0 are required')
    return args


def main(argv: Sequence[str] | None = None, out=sys.stdout) -> int:
    """``robot-r1 demo``; 0 unless the pipeline failed (1), bad arguments (2), Ctrl-C (130)."""
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    from robot_r1_ros.ros.bringup import Supervisor, plan_processes

    t_start = time.monotonic()
    model = args.model
    if not model:
        found = best_checkpoint()
        if found is None:
            sys.stderr.write('robot-r1 demo: no checkpoint found (looked for '
                             f'{", ".join(DEMO_CHECKPOINTS)}); run scripts/setup.sh, which builds '
                             'models/tiny-qwen2.5-vl, or pass --model\n')
            return 2
        model = str(found)
    out_dir = Path(args.output_dir or Path('outputs') /
                   f'demo-{datetime.now().strftime("%Y%m%d-%H%M%S")}').resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    nodes = describe_system(params_file=args.params_file, model=model, backend=args.backend,
                            use_sim='true')
    params_file = nodes[0].params_file
    out.write(f'robot-r1 demo: task {args.task} (seed {args.seed}), {args.cycles} cycles\n'
              f'  model:  {model}\n  output: {out_dir}\n')
    out.flush()
    overrides = {'sim_node': {'task': args.task, 'seed': args.seed},
                 'reasoning_node': {'trigger.mode': 'on_demand'}}
    result = DemoResult()
    code = 0
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set())
    client = None
    with tempfile.TemporaryDirectory(prefix='robot_r1_demo_') as workdir:
        sup = Supervisor(plan_processes(nodes, workdir, overrides), out=out,
                         log_dir=str(out_dir / 'logs'), echo=False)
        sup.say = lambda name, line: None  # the demo prints its own lines; logs keep the rest
        try:
            sup.start()
            client = DemoClient(nodes[-1].namespace, frame_every=max(1, round(15 / args.fps)))
            alive = lambda: not sup.dead() and not interrupted.is_set()  # noqa: E731
            deadline = t_start + args.timeout_s

            def left() -> float:
                if interrupted.is_set():
                    raise KeyboardInterrupt
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PipelineError(f'the demo took longer than {args.timeout_s:.0f} s')
                return remaining

            out.write('starting the nodes (sim, reasoning model, executor) ...\n')
            out.flush()
            client.recording = True
            while (not client.action.server_is_ready() or client.tcp_xyz is None
                   or not client.frames or not client.instruction):
                if not alive():
                    raise PipelineError('a node exited during start-up (see logs/)')
                left()
                time.sleep(0.1)
            with client.lock:
                del client.frames[:-1]    # the video starts at the first cycle
            out.write(f'ready after {time.monotonic() - t_start:.1f} s: '
                      f'{client.instruction or args.task!r}\n')
            out.flush()
            for i in range(1, args.cycles + 1):
                rec = CycleRecord(index=i)
                t0 = time.monotonic()
                client.cycle = i
                pred = client.predict(min(120.0, left()))
                _record_prediction(rec, pred)
                t1 = time.monotonic()
                state = client.outcome(pred.prediction_id, min(60.0, left()), alive)
                rec.outcome = state_name(state.state)
                rec.outcome_reason = state.reason
                rec.execution_s = time.monotonic() - t1
                rec.cycle_s = time.monotonic() - t0
                if rec.outcome in ('REACHED', 'FAILED') and rec.keypoint_xyz_base_m \
                        and client.tcp_xyz is not None:
                    rec.tcp_error_m = float(math.dist(client.tcp_xyz, rec.keypoint_xyz_base_m))
                result.cycles.append(rec)
                _print_cycle(rec, args.cycles, out)
            time.sleep(0.6)   # one more /sim/task_success report (2 Hz)
            result.task_success = client.success
            result.instruction = client.instruction
            with client.lock:
                last = client.states[-1] if client.states else None
            if last is not None:
                result.executor_counts = {'received': last.received_count,
                                          'executed': last.executed_count,
                                          'rejected': last.rejected_count}
        except PipelineError as exc:
            out.write(f'robot-r1 demo: pipeline failed: {exc}\n')
            code = 1
        except KeyboardInterrupt:
            out.write('robot-r1 demo: interrupted\n')
            code = 130
        finally:
            if client is not None:
                client.recording = False
            died = [n for n, _ in sup.dead()] if sup.procs else []
            if sup.procs:
                sup.shutdown()
            signal.signal(signal.SIGINT, previous)
        if died and code == 0:
            out.write(f'robot-r1 demo: pipeline failed: {", ".join(died)} exited early\n')
            code = 1
    for rec in result.cycles:
        if rec.outcome == 'REJECTED':
            why = rec.outcome_reason.split(':', 1)[0] or 'unknown'
            result.rejections[why] = result.rejections.get(why, 0) + 1
    media: dict[str, str] = {}
    if client is not None:
        if not args.no_media and result.cycles:
            try:
                media = _write_media(result, client, out_dir, params_file, args.cycles,
                                     args.fps)
            except (OSError, ValueError) as exc:
                out.write(f'robot-r1 demo: could not write the pictures: {exc}\n')
        client.close()
    success = {True: 'yes', False: 'no', None: 'unknown'}[result.task_success]
    reached = sum(1 for c in result.cycles if c.outcome == 'REACHED')
    failed = sum(1 for c in result.cycles if c.outcome == 'FAILED')
    rejected = sum(result.rejections.values())
    reasons = ', '.join(f'{k}: {v}' for k, v in sorted(result.rejections.items())) or 'none'
    elapsed = time.monotonic() - t_start
    out.write(f'\nsummary: {len(result.cycles)} predictions, {result.executed} executed '
              f'({reached} reached, {failed} failed), {rejected} rejected ({reasons}); '
              f'task success: {success}; {elapsed:.0f} s\n')
    summary = {
        'task': args.task, 'seed': args.seed, 'instruction': result.instruction,
        'model': model, 'backend': args.backend, 'cycles_requested': args.cycles,
        'predictions': len(result.cycles), 'executed': result.executed, 'reached': reached,
        'failed': failed, 'rejected': rejected, 'rejections': result.rejections,
        'executor_counts': result.executor_counts, 'task_success': result.task_success,
        'pipeline_ok': code == 0, 'exit_code': code, 'elapsed_s': round(elapsed, 2),
        'params_file': params_file, 'files': {k: Path(v).name for k, v in media.items()},
        'cycle_records': [asdict(c) for c in result.cycles],
    }
    (out_dir / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    listing = ', '.join(sorted(p.name for p in out_dir.iterdir()))
    out.write(f'wrote {out_dir}/ ({listing})\n')
    out.flush()
    return code


if __name__ == '__main__':
    sys.exit(main())
