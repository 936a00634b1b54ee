"""Episodes to rosbag2 MCAP and back; the resumable record CLI."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from robot_r1_ros.sim import record
from robot_r1_ros.sim.experts import run_expert
from robot_r1_ros.sim.episodes import list_episodes
from robot_r1_ros.sim.recording import BagError, BagRecorder, BagTopics, read_episode
from robot_r1_ros.sim.scene import JOINT_NAMES, PandaScene, SceneConfig
from robot_r1_ros.sim.tasks import make_task


@pytest.fixture(scope='module')
def scene():
    with PandaScene(SceneConfig().with_camera_size(64, 48)) as sc:
        yield sc


def test_bag_round_trip_same_frames_joints_and_text(scene, tmp_path):
    task = make_task('reach_target')
    episode = task.reset(scene, 4)
    written_images, written_joints = [], []
    path = tmp_path / 'ep'
    with BagRecorder(path, scene.camera, episode.instruction, camera_hz=10.0,
                     joint_state_hz=25.0) as rec:
        # Spy on what the recorder writes (the real writer still runs).
        write_image, write_joint_state = rec.write_image, rec.write_joint_state

        def image_spy(rgb, t_ns):
            written_images.append((t_ns, rgb.copy()))
            write_image(rgb, t_ns)

        def joint_spy(sc, t_ns):
            written_joints.append((t_ns, sc.joint_state().position.copy()))
            write_joint_state(sc, t_ns)

        rec.write_image, rec.write_joint_state = image_spy, joint_spy
        rec.start(scene)
        result = run_expert(scene, task, episode, on_step=rec.on_step)
        rec.finish(scene, result.success)
    assert result.success
    assert not (tmp_path / '.partial' / 'ep').exists()

    data = read_episode(path)
    assert data.instruction == episode.instruction
    assert data.success is True
    assert data.images.shape == (len(written_images), 48, 64, 3)
    for (t_ns, rgb), stamp, got in zip(written_images, data.image_stamps_ns, data.images):
        assert stamp == t_ns
        np.testing.assert_array_equal(got, rgb)
    assert data.joint_names == list(JOINT_NAMES)
    np.testing.assert_array_equal(data.joint_stamps_ns, [t for t, _ in written_joints])
    np.testing.assert_allclose(data.joint_positions, np.stack([q for _, q in written_joints]))
    # ~10 Hz images and ~25 Hz joint states in sim time
    dt_img = np.diff(data.image_stamps_ns[:-1]) / 1e9
    assert np.allclose(dt_img, 0.1, atol=0.021)
    np.testing.assert_allclose(data.K, scene.camera.K)
    np.testing.assert_allclose(data.T_base_cam, scene.camera.T_base_cam, atol=1e-9)
    assert data.gripper_open_at(int(data.joint_stamps_ns[-1]))
    assert np.all(data.gripper_width_m > 0.07)


def test_reader_errors(scene, tmp_path):
    with pytest.raises(BagError, match='not a rosbag2'):
        read_episode(tmp_path / 'nothing')
    task = make_task('reach_target')
    episode = task.reset(scene, 0)
    path = tmp_path / 'no_task'
    with BagRecorder(path, scene.camera, episode.instruction,
                     topics=BagTopics(task='/other/task')) as rec:
        rec.start(scene)
        scene.step(3)
        rec.on_step(scene)
    with pytest.raises(BagError, match='/robot_r1/task'):
        read_episode(path)
    assert read_episode(path, topics=BagTopics(task='/other/task')).instruction \
        == episode.instruction


def test_recorder_leaves_no_bag_on_error(scene, tmp_path):
    path = tmp_path / 'broken'
    with pytest.raises(RuntimeError):
        with BagRecorder(path, scene.camera, 'x') as rec:
            rec.start(scene)
            raise RuntimeError('controller crashed')
    assert not path.exists() and not (tmp_path / '.partial' / 'broken').exists()
    path.mkdir()
    with pytest.raises(FileExistsError):
        with BagRecorder(path, scene.camera, 'x'):
            pass


def test_record_cli_is_resumable(tmp_path, capsys):
    out = tmp_path / 'demos'
    args = ['--task', 'reach_target', '--episodes', '2', '--out', str(out), '--width', '32',
            '--height', '32', '--camera-hz', '2', '--no-progress']
    assert record.main(args) == 0
    assert '"ok": 2' in capsys.readouterr().out
    bags = list_episodes(out)
    assert [b.name for b in bags] == ['reach_target_000000', 'reach_target_000001']
    shutil.rmtree(bags[1])                      # e.g. deleted, or never finished
    assert record.main(args + ['--episodes', '3']) == 0
    summary = capsys.readouterr().out
    assert '"ok": 2' in summary and '"skipped": 1' in summary
    assert len(list_episodes(out)) == 3
    assert not any((out / '.partial').iterdir())
    ep = read_episode(bags[0])
    assert ep.images.shape[1:] == (32, 32, 3) and ep.instruction.startswith('reach the')


def test_record_cli_rejects_unknown_task(tmp_path, capsys):
    assert record.main(['--task', 'juggle', '--out', str(tmp_path)]) == 2
    assert 'unknown task' in capsys.readouterr().err


def test_gripper_state_from_commands_or_measured_width(scene, tmp_path):
    """pick_lift closes on the cube: the command says closed at once, and a bag without the
    command topic falls back to the measured finger width (closed on a cube = ~0.04 m)."""
    task = make_task('pick_lift')
    episode = task.reset(scene, 2)
    path = tmp_path / 'lift'
    with BagRecorder(path, scene.camera, episode.instruction, camera_hz=2.0) as rec:
        rec.start(scene)
        result = run_expert(scene, task, episode, on_step=rec.on_step)
        rec.finish(scene, result.success)
    data = read_episode(path)
    t_end = int(data.joint_stamps_ns[-1])
    t_start = int(data.joint_stamps_ns[0])
    assert data.gripper_open_at(t_start) and not data.gripper_open_at(t_end)
    assert 0.03 < data.gripper_width_m[-1] < 0.045
    data.gripper_command_stamps_ns = np.array([], np.int64)     # as if not recorded
    data.gripper_command_m = np.array([])
    assert data.gripper_open_at(t_start) and not data.gripper_open_at(t_end)
