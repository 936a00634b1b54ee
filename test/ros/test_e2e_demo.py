"""``robot-r1 demo`` end to end (three nodes over DDS, the real tiny checkpoint), its pictures,
and its exit code when the pipeline fails."""
from __future__ import annotations

import json

import numpy as np
import pytest

from r1_testing import require_ros_interfaces

from robot_r1_ros.core.paths import shipped_model_id


def test_demo_runs_the_tiny_model_and_writes_its_outputs(spawn, tmp_path, tiny_checkpoint):
    require_ros_interfaces()
    out_dir = tmp_path / 'demo'
    demo = spawn('robot_r1_ros.cli', 'demo', '--cycles', '2', '--model', str(tiny_checkpoint),
                 '--output-dir', str(out_dir), '--timeout-s', '240')
    demo.popen.wait(300)
    out = demo.output()
    assert demo.popen.returncode == 0, out[-4000:]
    assert '[cycle 1/2]' in out and '[cycle 2/2]' in out and 'summary: 2 predictions' in out
    assert sorted(p.name for p in out_dir.iterdir()) == ['contact_sheet.png', 'episode.gif',
                                                         'logs', 'summary.json']
    assert sorted(p.name for p in (out_dir / 'logs').iterdir()) == [
        'executor_node.log', 'reasoning_node.log', 'sim_node.log']
    summary = json.loads((out_dir / 'summary.json').read_text())
    assert summary['pipeline_ok'] and summary['exit_code'] == 0
    assert summary['predictions'] == 2 and summary['model'] == str(tiny_checkpoint)
    assert summary['task'] == 'pick_place' and summary['instruction']
    assert summary['executed'] + summary['rejected'] == 2
    assert summary['task_success'] in (True, False)
    assert summary['executor_counts']['received'] == 2
    for rec in summary['cycle_records']:
        assert rec['outcome'] in ('REACHED', 'FAILED', 'REJECTED')
        assert rec['status'] in ('OK', 'OUT_OF_WORKSPACE')     # constrained decoding: parses
        assert rec['frame_index'] >= 0
    from PIL import Image
    with Image.open(out_dir / 'episode.gif') as gif:
        assert gif.n_frames >= 2
    with Image.open(out_dir / 'contact_sheet.png') as sheet:
        assert sheet.size[0] > 3 * 224            # 2 cycles + the final frame, side by side


def test_demo_exits_1_when_the_pipeline_fails(spawn, tmp_path):
    require_ros_interfaces()
    # The nodes cannot come up within one second: a pipeline failure, not a model failure.
    demo = spawn('robot_r1_ros.cli', 'demo', '--cycles', '1', '--model', 'scripted:echo',
                 '--output-dir', str(tmp_path / 'demo'), '--timeout-s', '1')
    demo.popen.wait(120)
    assert demo.popen.returncode == 1, demo.output()[-3000:]
    assert 'pipeline failed' in demo.output()
    summary = json.loads((tmp_path / 'demo' / 'summary.json').read_text())
    assert summary['pipeline_ok'] is False and summary['exit_code'] == 1


def test_demo_media_draws_markers_and_checks_inputs(tmp_path):
    from robot_r1_ros.core.geometry import intrinsics_from_fovy, make_transform
    from robot_r1_ros.sim.media import (CameraGeometry, Overlay, annotate, contact_sheet,
                                             write_gif)

    # A camera 1 m above the origin looking straight down (OpenCV axes: z forward = -z base).
    T = make_transform(np.diag([1.0, -1.0, -1.0]), [0.0, 0.0, 1.0])
    geo = CameraGeometry(intrinsics_from_fovy(60.0, 64, 64), T)
    assert geo.project([0.0, 0.0, 0.0]) == pytest.approx((32.0, 32.0))
    assert geo.project([0.0, 0.0, 2.0]) is None            # behind the camera
    assert geo.project([np.nan, 0.0, 0.0]) is None
    assert CameraGeometry().project([0.0, 0.0, 0.0]) is None
    frame = np.zeros((64, 64, 3), np.uint8)
    img = annotate(frame, Overlay(['cycle 1/1'], keypoint_xyz=[0.0, 0.0, 0.0]), geo, scale=2)
    assert img.shape == (128 + 46, 128, 3)
    assert tuple(img[64, 64 + 6]) == (40, 200, 60)          # the green cross at the centre
    bad = annotate(frame, Overlay([], keypoint_xyz=[0.0, 0.0, 0.0], keypoint_ok=False), geo)
    assert tuple(bad[64, 64 + 6]) == (230, 40, 40)
    gif = write_gif([img, img], tmp_path / 'a.gif', fps=4)
    sheet = contact_sheet([img, img, img], tmp_path / 'a.png', columns=2, title='t')
    assert gif.is_file() and sheet.is_file()
    with pytest.raises(ValueError):
        write_gif([], tmp_path / 'b.gif')
    with pytest.raises(ValueError):
        contact_sheet([img, frame], tmp_path / 'b.png')


def test_demo_picks_the_best_checkpoint(tmp_path, monkeypatch):
    from robot_r1_ros.ros import demo
    monkeypatch.delenv('ROBOT_R1_MODEL', raising=False)
    monkeypatch.setattr(demo, 'REPO_ROOT', tmp_path / 'repo')
    assert demo.best_checkpoint(tmp_path) is None
    # The shipped checkpoint (the node's default) is the demo's first choice.
    assert demo.DEMO_CHECKPOINTS[0] == shipped_model_id()
    # Worst first: each better candidate wins once it holds a config.json (an empty folder,
    # e.g. a checkpoint not pulled, does not count).
    for rel in reversed(demo.DEMO_CHECKPOINTS):
        (tmp_path / rel).mkdir(parents=True)
        assert demo.best_checkpoint(tmp_path) != (tmp_path / rel).resolve()
        (tmp_path / rel / 'config.json').write_text('{}')
        assert demo.best_checkpoint(tmp_path) == (tmp_path / rel).resolve()
    monkeypatch.setenv('ROBOT_R1_MODEL', str(tmp_path / 'models/tiny-qwen2.5-vl'))
    assert demo.best_checkpoint(tmp_path) == (tmp_path / 'models/tiny-qwen2.5-vl').resolve()
