"""The MuJoCo scene: model contents, rendering, camera model, deterministic task resets, IK."""
from __future__ import annotations

import numpy as np
import pytest

from robot_r1_ros.sim.ik import IKError, PandaKinematics, solve_ik, top_down_quat
from robot_r1_ros.sim.scene import (ARM_JOINTS, FINGER_JOINTS, HOME_Q_RAD, JOINT_NAMES,
                                    CameraConfig, PandaScene, SceneConfig, SceneError)
from robot_r1_ros.sim.tasks import UnknownTaskError, make_task, task_names


@pytest.fixture(scope='module')
def scene():
    with PandaScene() as sc:
        yield sc


def test_model_has_ros_joint_names_actuators_and_tcp(scene):
    m = scene.model
    names = [m.joint(i).name for i in range(m.njnt)]
    assert names[:9] == list(ARM_JOINTS + FINGER_JOINTS)
    assert JOINT_NAMES == ARM_JOINTS + FINGER_JOINTS
    assert m.nu == 8                          # 7 arm servos + hand
    assert m.site('TCP').id >= 0
    js = scene.joint_state()
    assert js.name == JOINT_NAMES and js.position.shape == (9,)


def test_render_is_rgb_uint8_of_configured_size():
    cfg = SceneConfig().with_camera_size(96, 64)
    with PandaScene(cfg) as sc:
        rgb = sc.render()
        assert rgb.shape == (64, 96, 3) and rgb.dtype == np.uint8
        assert rgb.std() > 5                  # a real picture, not a blank buffer
        K = sc.camera.K
        assert K[0, 2] == 48 and K[1, 2] == 32 and K[0, 0] == pytest.approx(K[1, 1])


def test_config_validation_errors():
    with pytest.raises(SceneError):
        SceneConfig(camera=CameraConfig(width=4))
    with pytest.raises(SceneError):
        SceneConfig(physics_dt_s=0.003, control_dt_s=0.02)
    with pytest.raises(SceneError, match='unknown scene keys'):
        SceneConfig.from_dict({'not_a_key': 1})
    cfg = SceneConfig.from_dict({'camera': {'width': 128, 'eye_m': [1, 0, 1]}, 'shadows': True})
    assert cfg.camera.width == 128 and cfg.camera.eye_m == (1.0, 0.0, 1.0) and cfg.shadows


def test_bad_commands_raise(scene):
    with pytest.raises(SceneError):
        scene.set_arm_target([0.0] * 6)
    with pytest.raises(SceneError):
        scene.set_arm_target([np.nan] * 7)
    with pytest.raises(SceneError):
        scene.set_gripper_width(float('inf'))
    with pytest.raises(SceneError):
        scene.set_cube_pose('purple_cube', (0.5, 0, 0.02))


@pytest.mark.parametrize('task_name', task_names())
def test_reset_is_deterministic_per_seed(scene, task_name):
    task = make_task(task_name)
    ep_a = task.reset(scene, 7)
    state_a = scene.data.qpos.copy(), scene.data.mocap_pos.copy()
    rgb_a = scene.render()
    ep_b = task.reset(scene, 7)
    np.testing.assert_array_equal(scene.data.qpos, state_a[0])
    np.testing.assert_array_equal(scene.data.mocap_pos, state_a[1])
    np.testing.assert_array_equal(scene.render(), rgb_a)
    assert ep_a == ep_b and ep_a.instruction
    assert not task.success(scene, ep_b)      # the initial state does not solve the task
    task.reset(scene, 8)
    assert not np.array_equal(scene.data.qpos, state_a[0])


def test_unknown_task_and_bad_seed(scene):
    with pytest.raises(UnknownTaskError, match='known tasks'):
        make_task('juggle')
    with pytest.raises(ValueError):
        make_task('stack').reset(scene, -1)
    assert len(task_names()) >= 4


def test_projection_within_one_pixel_of_rendered_marker(scene):
    """The probe sphere's rendered centroid vs CameraModel.project, at random points."""
    rng = np.random.default_rng(0)
    make_task('pick_place').reset(scene, 0)
    gid = scene.geom_id('probe_geom')
    cam = scene.camera
    errors = []
    for _ in range(12):
        p = np.array([rng.uniform(0.3, 0.65), rng.uniform(-0.25, 0.25), rng.uniform(0.05, 0.4)])
        scene.set_marker('probe', p)
        scene.forward()
        seg = scene.render(segmentation=True)
        mask = (seg[..., 0] == gid) & (seg[..., 1] == 5)     # mjOBJ_GEOM
        if mask.sum() < 8:                                    # hidden behind the arm
            continue
        vs, us = np.nonzero(mask)
        centroid = np.array([us.mean() + 0.5, vs.mean() + 0.5])
        uv, depth = cam.project(p)
        assert depth[0] > 0
        errors.append(np.linalg.norm(uv[0] - centroid))
    scene.set_marker('probe', (0, 0, -1.5))
    assert len(errors) >= 8
    assert max(errors) < 1.0, errors
    # unproject is the inverse of project
    uv, depth = cam.project(np.array([[0.5, 0.1, 0.2], [0.4, -0.2, 0.0]]))
    np.testing.assert_allclose(cam.unproject(uv, depth), [[0.5, 0.1, 0.2], [0.4, -0.2, 0.0]],
                               atol=1e-9)


def test_ik_reaches_top_down_targets_without_touching_the_scene(scene):
    qpos_before = scene.data.qpos.copy()
    kin = PandaKinematics()
    rng = np.random.default_rng(1)
    for _ in range(20):
        xyz = np.array([rng.uniform(0.3, 0.65), rng.uniform(-0.25, 0.25), rng.uniform(0.03, 0.4)])
        quat = top_down_quat(rng.uniform(-np.pi / 2, np.pi / 2))
        q = solve_ik(scene, xyz, quat, HOME_Q_RAD)
        p, qc = kin.fk(q)
        assert np.linalg.norm(p - xyz) < 1e-3
        assert abs(abs(np.dot(qc, quat)) - 1.0) < 1e-4
    q = solve_ik(None, [0.5, 0.1, 0.3], None, None)     # position only
    assert np.linalg.norm(kin.fk(q)[0] - [0.5, 0.1, 0.3]) < 1e-3
    np.testing.assert_array_equal(scene.data.qpos, qpos_before)


def test_ik_errors():
    with pytest.raises(IKError) as info:
        solve_ik(None, [1.5, 0.0, 0.2], top_down_quat(), restarts=1)
    assert info.value.pos_err_m > 0.1 and info.value.q.shape == (7,)
    with pytest.raises(ValueError):
        solve_ik(None, [0.5, np.nan, 0.2])
    with pytest.raises(ValueError):
        solve_ik(None, [0.5, 0.0, 0.2], [0, 0, 0, 0])
    with pytest.raises(TypeError):
        solve_ik('panda', [0.5, 0.0, 0.2])


def test_config_file_matches_built_in_defaults():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / 'config' / 'sim.yaml'
    assert SceneConfig.from_yaml(path) == SceneConfig()
