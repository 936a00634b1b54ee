"""``training.scene_data``: a dataset from expert rollouts in randomised scenes, split by seed
range, with the open-keypoint rows that keep the gripper's x-y thinned out."""
from __future__ import annotations

import json

import numpy as np
import pytest

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.training import scene_data, seeds
from robot_r1_ros.training.scene_data import SceneDataConfig, keep_mask, moving


def test_scene_data_moving_is_judged_in_x_y_only():
    target = [[0.50, 0.10, 0.02], [0.50, 0.10, 0.30], [0.52, 0.10, 0.30]]
    current = [[0.50, 0.10, 0.30], [0.505, 0.105, 0.30], [0.50, 0.10, 0.30]]
    assert moving(target, current).tolist() == [False, False, True]


def test_scene_data_keep_mask_keeps_moves_other_tasks_and_a_share_of_still_rows():
    n = 2000
    kinds = ['open_keypoint'] * n + ['object_position'] * 10
    still = [[0.5, 0.1, 0.2]] * (n + 10)
    target = [[0.5, 0.1, 0.05]] * (n // 2) + [[0.3, -0.1, 0.2]] * (n // 2) + still[:10]
    keep = keep_mask(kinds, target, still, keep_still=0.25, seed=3)
    assert keep[n // 2:].all()                      # every mover, every other task's row
    share = keep[:n // 2].mean()
    assert 0.2 < share < 0.3                        # about a quarter of the still rows
    assert (keep == keep_mask(kinds, target, still, 0.25, 3)).all()    # seeded
    assert not keep_mask(kinds, target, still, 0.0, 3)[:n // 2].any()
    assert keep_mask(kinds, target, still, 1.0, 3).all()


@pytest.mark.parametrize('values,field', [
    ({'train_scenes': 0}, 'train_scenes'),
    ({'test_scenes': -1}, 'test_scenes'),
    ({'keep_still': 1.5}, 'keep_still'),
    ({'start_scenes': -2}, 'start_scenes'),
    ({'skip_scenes': -1}, 'skip_scenes'),
    ({'jitter_copies': -1}, 'jitter_copies'),
    ({'jitter_m': 0.0}, 'jitter_m'),
    ({'jitter_m': 0.2}, 'jitter_m'),
    ({'tasks': ('open_keypoint', 'fly')}, 'tasks'),
    ({'tasks': ()}, 'tasks'),
    ({'scenes': 10}, 'scenes'),
])
def test_scene_data_config_refuses_bad_values(values, field):
    with pytest.raises(ConfigError) as info:
        SceneDataConfig.from_mapping(values)
    assert info.value.field == field


def test_scene_data_splits_use_disjoint_seed_ranges():
    seeds.check_disjoint()
    assert scene_data.SPLIT_SEEDS['test'] in seeds.EVAL_SEEDS
    assert scene_data.SPLIT_SEEDS['train'] in seeds.TRAIN_SEEDS
    assert scene_data.SPLIT_SEEDS['validation'] in seeds.TRAIN_SEEDS


def test_scene_data_builds_every_split_from_its_own_scenes(tmp_path):
    from datasets import load_from_disk

    cfg = SceneDataConfig(train_scenes=1, validation_scenes=1, test_scenes=1, keep_still=0.0)
    summary = scene_data.build_scene_dataset(cfg, tmp_path / 'ds')
    dsd = load_from_disk(str(tmp_path / 'ds'))
    assert set(dsd) == {'train', 'validation', 'test'}
    assert json.loads((tmp_path / 'ds' / 'scene_data.json').read_text()) == summary
    for split, first in (('train', 10_000), ('validation', 60_000), ('test', 500_000)):
        info = summary['splits'][split]
        assert info['first_seed'] == first and info['failed_seeds'] == []
        assert info['rows'] == len(dsd[split]) > 0
        assert {'open_keypoint', 'object_position', 'next_waypoint'} <= set(
            dsd[split]['task_kind'])
        assert all(str(first) in e for e in dsd[split]['episode_id'])
    # keep_still 0: only the open keypoints that move in x-y stay in train, not elsewhere.
    train = dsd['train']
    idx = [i for i, k in enumerate(train['task_kind']) if k == 'open_keypoint']
    assert idx and moving([train['target_xyz_env_m'][i] for i in idx],
                          [train['current_xyz_env_m'][i] for i in idx]).all()
    assert summary['splits']['train']['rows_built'] > len(train)
    assert summary['splits']['test']['rows_built'] == len(dsd['test'])
    # The object-position answers are where the sim put the objects (env frame, not constant).
    pos = [np.asarray(t) for t, k in zip(dsd['test']['target_xyz_env_m'],
                                         dsd['test']['task_kind']) if k == 'object_position']
    assert len({tuple(np.round(p, 3)) for p in pos}) > 1


def test_scene_data_start_episode_asks_the_start_only_and_targets_the_reached_waypoint():
    """A start-only scene's questions are the rollout's start-frame questions: same image, same
    objects, and the planned first waypoint within millimetres of where the expert's arm
    settled (the rollout's second frame, read as the node reads it)."""
    import robot_r1_ros.sim  # noqa: F401
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task

    task = make_task('pick_place')
    with PandaScene() as scene:
        full, full_images, _ = scene_data.scene_episode(scene, task, 10_007, 'scene')
        start, start_images = scene_data.start_episode(scene, task, 10_007, 'scene_start')
    assert len(start) == 2 and len(start_images) == 1
    assert list(start.image_indices) == [0, -1]
    np.testing.assert_array_equal(start_images[0], full_images[0])
    np.testing.assert_allclose(start.ee_xyz_base_m[0], full.ee_xyz_base_m[0])
    np.testing.assert_allclose(start.ee_xyz_base_m[1], full.ee_xyz_base_m[1], atol=0.005)
    assert start.gripper_open.tolist() == full.gripper_open[:2].tolist()
    for name, track in start.object_xyz_base_m.items():
        np.testing.assert_allclose(track, full.object_xyz_base_m[name][:2], atol=0.002)


def test_scene_data_start_scenes_add_start_frame_rows_to_train_only(tmp_path):
    from datasets import load_from_disk

    cfg = SceneDataConfig(train_scenes=1, validation_scenes=1, test_scenes=1, keep_still=1.0,
                          start_scenes=2)
    summary = scene_data.build_scene_dataset(cfg, tmp_path / 'ds')
    dsd = load_from_disk(str(tmp_path / 'ds'))
    train = dsd['train']
    start_rows = [i for i, e in enumerate(train['episode_id']) if e.startswith('scene_start_')]
    # seeds after the rolled-out train scene, never the other splits'
    assert {train['episode_id'][i] for i in start_rows} == {'scene_start_010001',
                                                            'scene_start_010002'}
    assert all(train['frame_index'][i] == 0 for i in start_rows)
    kinds = {train['task_kind'][i] for i in start_rows}
    assert kinds == {'open_keypoint', 'object_position', 'next_waypoint'}
    assert summary['splits']['train']['start_scenes'] == 2
    assert not any('start' in e for s in ('validation', 'test') for e in dsd[s]['episode_id'])


def test_scene_data_rows_convert_in_chunks_to_the_same_dataset():
    # Converting chunk by chunk (the memory fix for ~60,000 rows) changes nothing in the data.
    from datasets import Dataset

    from robot_r1_ros.training.dataset import features
    rows, failed = scene_data.build_rows(1, 'vision_test', ('object_position', 'next_waypoint'),
                                         't')
    assert not failed and len(rows) > 5
    whole = Dataset.from_list(rows, features=features())
    chunked = scene_data.rows_dataset(rows, chunk_rows=3)
    assert len(chunked) == len(whole)
    for column in ('episode_id', 'task_kind', 'target_xyz_env_m', 'answer_text'):
        assert chunked[column] == whole[column]
    assert chunked[len(rows) - 1]['image'] == whole[len(rows) - 1]['image']
    assert len(scene_data.rows_dataset([])) == 0


def test_a_frame_is_encoded_once_into_the_bytes_datasets_writes_for_it():
    """The rows of a frame share one PNG (``scene_data.png_image``): the same bytes ``datasets``
    encodes from the PIL image, so a dataset built this way is the one built before, and the
    stored image decodes to the frame."""
    from datasets import Dataset, Features, Image as ImageFeature
    from PIL import Image

    from robot_r1_ros.training.scene_data import png_image
    frame = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    encoded = png_image(frame)
    assert encoded == ImageFeature().encode_example(Image.fromarray(frame))
    stored = Dataset.from_list([{'image': encoded}, {'image': encoded}],
                               features=Features({'image': ImageFeature()}))
    assert all(np.array_equal(np.asarray(im), frame) for im in stored['image'])


def test_scene_data_lifted_moment_and_jittered_copies_are_asked_for_the_next_keyframe():
    """``ask_lifted`` adds the stop over the grasp (cube in hand) as a frame, not a keyframe;
    ``jitter_copies`` repeats each moment with the stated TCP moved by <= ``jitter_m`` and the
    same image, so both are asked for the moment's next keyframe (the closed loop's states)."""
    import robot_r1_ros.sim  # noqa: F401
    from robot_r1_ros.core.config import QAConfig
    from robot_r1_ros.sim.scene import PandaScene
    from robot_r1_ros.sim.tasks import make_task

    task = make_task('pick_place')
    with PandaScene() as scene:
        plain, plain_images, none = scene_data.scene_episode(scene, task, 10_007, 'scene')
        ep, images, copies = scene_data.scene_episode(scene, task, 10_007, 'scene',
                                                      ask_lifted=True, jitter_copies=2,
                                                      jitter_m=0.005)
    assert none == set() and len(plain) == len(plain_images)
    moments = len(plain_images) + 1                     # + lifted
    assert len(images) == moments and len(ep) == 3 * moments - 2   # no copies of the last
    assert len(ep.keyframes) == len(plain.keyframes)    # lifted and copies are not keyframes
    originals = [i for i in range(len(ep)) if i not in copies]
    assert len(originals) == moments and len(copies) == 2 * (moments - 1)
    for i in copies:                                    # a copy: its moment's image and state
        j = max(o for o in originals if o < i)
        assert ep.image_indices[i] == ep.image_indices[j]
        assert ep.gripper_open[i] == ep.gripper_open[j]
        assert 0 < np.linalg.norm(ep.ee_xyz_base_m[i] - ep.ee_xyz_base_m[j]) <= 0.005
    lifted = originals[4]                               # start, above, at grasp, grasp, lifted
    assert not ep.gripper_open[lifted] and ep.ee_xyz_base_m[lifted][2] > 0.1
    target = {f: k for f, k, _ in ep.observations(QAConfig(frame_interval=1))}
    above_goal = ep.keyframes[3]
    assert target[lifted] == target[lifted + 1] == target[lifted - 1] == above_goal
    rows, failed = scene_data.build_rows(1, 'vision_pretrain', ('open_keypoint',
                                         'object_position'), 'scene', ask_lifted=True,
                                         jitter_copies=1, skip_scenes=7)
    assert not failed and {r['episode_id'] for r in rows} == {'scene_010007'}
    at_copies = {r['task_kind'] for r in rows if r['frame_index'] % 2 == 1}
    assert at_copies == {'open_keypoint'}               # copies ask the open keypoint only
    assert sum(r['task_kind'] == 'open_keypoint' for r in rows) == 2 * moments - 2
