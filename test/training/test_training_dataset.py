"""The dataset builder on bags recorded in the test (MuJoCo expert -> rosbag2 -> datasets)."""
from __future__ import annotations

import collections
import json

import numpy as np
import pytest

from robot_r1_ros.core.errors import BadInputError, ConfigError
from robot_r1_ros.core.movement import movement_parts
from robot_r1_ros.core.parsing import OPTION_LETTERS, format_xyz
from robot_r1_ros.core.types import TaskKind
from robot_r1_ros.training.dataset import (DatasetBuildError, episode_from_bag, find_bags,
                                           main, split_episodes)


@pytest.fixture(scope='module')
def dsd(qa_dataset):
    from datasets import load_from_disk
    return load_from_disk(str(qa_dataset['path']))


def _meta(ds):
    return ds.remove_columns(['image', 'prompt']).to_list()


def test_splits_are_by_episode_fixed_and_complete(qa_dataset, demo_bags, dsd):
    info = qa_dataset['info']
    episodes = {s: set(info['splits'][s]['episodes']) for s in ('train', 'validation', 'test')}
    assert all(len(v) == 1 for v in episodes.values())
    assert set().union(*episodes.values()) == set(demo_bags['waypoints'])
    for split, ds in dsd.items():
        assert {r['episode_id'] for r in _meta(ds)} == episodes[split]
    # Same seed -> same assignment; another seed may differ but stays a partition.
    groups = {'pick_place': sorted(demo_bags['waypoints'])}
    assert split_episodes(groups, 0.34, 0.34, 0) == {k: sorted(v) for k, v in episodes.items()}
    other = split_episodes(groups, 0.34, 0.34, 5)
    assert sorted(sum(other.values(), [])) == sorted(demo_bags['waypoints'])
    saved = json.loads((qa_dataset['path'] / 'build_info.json').read_text())
    assert saved['splits']['train']['episodes'] == sorted(episodes['train'])


def test_counts_match_the_core_qa_builder_on_each_episode(qa_dataset, demo_bags, dsd):
    settings = qa_dataset['settings']
    for split, ds in dsd.items():
        rows = _meta(ds)
        (episode_id,) = {r['episode_id'] for r in rows}
        loaded = episode_from_bag(demo_bags['root'] / episode_id)
        observations = loaded.episode.observations(settings.qa)
        counts = collections.Counter((r['task_kind'], r['distractor_kind']) for r in rows)
        n = len(observations)
        assert n >= 10
        # Position tasks twice (random + hard distractors), open-ended once, movement once
        # per observation that moves beyond the dead band.
        for kind in ('next_waypoint', 'current_state'):
            assert counts[(kind, 'random')] == n
            assert counts[(kind, 'hard')] == n
        assert counts[('open_keypoint', '')] == n
        # Movement labels come from the prompt's (rounded, env-frame) positions.
        moving = sum(1 for r in rows if r['task_kind'] == 'open_keypoint'
                     and any(movement_parts(np.subtract(r['answer_xyz_env_m'],
                                                        r['current_xyz_env_m']))))
        assert 0 < counts[('movement', '')] == moving <= n
        summary = qa_dataset['info']['summary'][split]
        assert summary['rows'] == len(rows)


def test_gold_answers_are_the_known_keyframes(qa_dataset, demo_bags, dsd):
    """Targets are the expert's planned waypoints; letters point at the right option."""
    env = qa_dataset['settings'].workspace.env_frame()
    for split, ds in dsd.items():
        rows = _meta(ds)
        episode_id = rows[0]['episode_id']
        planned = np.array([w.xyz_base_m for w in demo_bags['waypoints'][episode_id]])
        targets = {tuple(r['target_xyz_base_m']) for r in rows}
        assert len(targets) >= 4  # approach, grasp, place, retreat at least
        for target in targets:
            dist = np.linalg.norm(planned - np.asarray(target), axis=1).min()
            assert dist < 0.015, f'{episode_id}: target {target} is {dist:.3f} m from a waypoint'
        for r in rows:
            kind = r['task_kind']
            if kind == TaskKind.OPEN_KEYPOINT.value:
                assert r['answer_letter'] is None
                assert r['target_xyz_env_m'] == pytest.approx(r['answer_xyz_env_m'])
                assert r['answer_text'].startswith(format_xyz(r['answer_xyz_env_m']))
                continue
            options, letter = r['options'], r['answer_letter']
            assert len(options) == 4 and letter in OPTION_LETTERS
            assert r['answer_text'] == f'[[{letter}]]'
            assert r['target_xyz_env_m'] is None  # reward columns: position only for open
            if kind == TaskKind.MOVEMENT.value:
                continue
            assert options[OPTION_LETTERS.index(letter)] == format_xyz(r['answer_xyz_env_m'])
            assert len(set(options)) == 4
            expected = (r['target_xyz_base_m'] if kind == TaskKind.NEXT_WAYPOINT.value else None)
            if expected is not None:
                np.testing.assert_allclose(env.base_to_env(np.asarray(expected)),
                                           r['answer_xyz_env_m'], atol=6e-4)
            else:
                assert r['answer_xyz_env_m'] == pytest.approx(r['current_xyz_env_m'])
            np.testing.assert_allclose(env.base_to_env(np.asarray(r['target_xyz_base_m'])),
                                       r['next_xyz_env_m'], atol=6e-4)


def test_prompt_and_image_are_the_nodes_and_the_bags(demo_bags, dsd):
    from robot_r1_ros.core.prompts import PromptMetadata, build_messages
    row = dsd['test'][0]
    loaded = episode_from_bag(demo_bags['root'] / row['episode_id'])
    np.testing.assert_array_equal(np.asarray(row['image']), loaded.images[row['frame_index']])
    # The prompt is exactly what core.prompts builds for the reasoning node.
    metadata = PromptMetadata(current_xyz_env_m=row['current_xyz_env_m'],
                              current_gripper=row['current_gripper'])
    options = row['options'] or None
    expected = build_messages(row['task_kind'], row['instruction'], metadata, options)
    assert [p['type'] for p in row['prompt'][1]['content']] == ['image', 'text']
    assert row['prompt'][0]['content'][0]['text'] == expected[0]['content'][0]['text']
    assert row['prompt'][1]['content'][1]['text'] == expected[1]['content'][1]['text']


def test_letters_are_balanced_per_task_and_kind(dsd):
    rows = _meta(dsd['train'])
    by_group = collections.defaultdict(collections.Counter)
    for r in rows:
        if r['answer_letter']:
            by_group[(r['task_kind'], r['distractor_kind'])][r['answer_letter']] += 1
    assert len(by_group) == 5
    for counts in by_group.values():
        assert max(counts.values()) - min(counts[x] for x in OPTION_LETTERS) <= 1


def test_cli_prints_counts_and_letter_balance(demo_bags, tmp_path, capsys):
    out = tmp_path / 'ds'
    assert main(['--bags', str(demo_bags['root']), '--out', str(out), '--val-frac', '0.34',
                 '--test-frac', '0.34', '--tasks', 'next_waypoint,movement']) == 0
    text = capsys.readouterr().out
    assert 'next_waypoint/random' in text and 'next_waypoint/hard' in text
    assert 'current_state' not in text
    assert '0.25' in text and 'train:' in text and 'test:' in text
    # A second build into the same folder is refused without --overwrite.
    assert main(['--bags', str(demo_bags['root']), '--out', str(out)]) == 2
    assert 'exists' in capsys.readouterr().err


def test_bad_inputs_raise_typed_errors(tmp_path):
    with pytest.raises(DatasetBuildError, match='no such bag folder'):
        find_bags([tmp_path / 'missing'])
    assert find_bags([tmp_path]) == []
    with pytest.raises(BadInputError, match='val_frac'):
        split_episodes({'t': ['a', 'b']}, 0.6, 0.5, 0)
    not_a_bag = tmp_path / 'empty_bag'
    not_a_bag.mkdir()
    from robot_r1_ros.sim.recording import BagError
    with pytest.raises(BagError):
        episode_from_bag(not_a_bag)
    assert main(['--bags', str(tmp_path), '--out', str(tmp_path / 'o')]) == 2
    assert main(['--bags', str(tmp_path), '--out', str(tmp_path / 'o'),
                 '--train-distractors', 'easy']) == 2
    with pytest.raises(ConfigError):
        from robot_r1_ros.training.dataset import build_parser, settings_from_args
        settings_from_args(build_parser().parse_args(
            ['--bags', 'x', '--out', 'y', '--frame-interval', '0']))
