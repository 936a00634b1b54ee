"""The image-gap evaluation: rows get images of other scenes; gaps are tabulated."""
import pytest

from robot_r1_ros.training import image_gap, seeds


def test_other_episode_order_never_keeps_a_rows_own_scene():
    episodes = ['a'] * 5 + ['b'] * 3 + ['c'] * 4
    for seed in range(5):
        order = image_gap.other_episode_order(episodes, seed)
        assert len(order) == len(episodes)
        assert all(episodes[j] != episodes[i] for i, j in enumerate(order))
    assert image_gap.other_episode_order(episodes, 1) == image_gap.other_episode_order(episodes, 1)
    with pytest.raises(ValueError, match='two episodes'):
        image_gap.other_episode_order(['a', 'a'])


def test_gap_table_signs_accuracy_and_l1():
    real = {'next_waypoint/hard': {'accuracy': 0.8}, 'open_keypoint': {'l1_cm_mean': 3.0}}
    variants = {'other': {'next_waypoint/hard': {'accuracy': 0.3},
                          'open_keypoint': {'l1_cm_mean': 12.0}},
                'blank': {'next_waypoint/hard': {'accuracy': 0.1},
                          'open_keypoint': {'l1_cm_mean': 20.0}}}
    table = image_gap.gap_table(real, variants)
    assert table['next_waypoint/hard']['gap_other'] == pytest.approx(0.5)
    assert table['open_keypoint']['gap_other'] == pytest.approx(9.0)   # real image helps: > 0
    md = image_gap.markdown(table)
    assert '+50.0 pts' in md and '+9.0 cm' in md


def test_training_and_evaluation_seed_ranges_are_disjoint():
    seeds.check_disjoint()
    assert seeds.is_training_seed(5) and not seeds.is_training_seed(100_000)
    assert list(seeds.seed_range('vision_test', 3)) == [500_000, 500_001, 500_002]
    with pytest.raises(ValueError):
        seeds.seed_range('demos', 10**6)


def test_a_single_episode_split_takes_other_scenes_from_donors():
    from datasets import Dataset, Image as ImageFeature
    from PIL import Image

    def rows(episode, shade, n):
        return {'image': [Image.new('RGB', (8, 8), (shade,) * 3)] * n, 'episode_id': [episode] * n}

    one = Dataset.from_dict(rows('test0', 10, 3)).cast_column('image', ImageFeature())
    donors = Dataset.from_dict(rows('train0', 200, 4)).cast_column('image', ImageFeature())
    swapped = image_gap.swap_images(one, 'other', donors=donors)
    assert [im.getpixel((0, 0))[0] for im in swapped['image']] == [200] * 3
    with pytest.raises(ValueError):
        image_gap.swap_images(one, 'other')
    blank = image_gap.swap_images(one, 'blank')
    assert blank['image'][0].getpixel((0, 0)) == (image_gap.BLANK_GREY,) * 3
