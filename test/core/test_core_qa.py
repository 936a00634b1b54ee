"""QA building (core.qa): gold letters, distractors, balance, reproducibility, rewards."""
import collections
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_r1_ros.core.config import QAConfig
from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.geometry import EnvFrame, Workspace
from robot_r1_ros.core.movement import movement_parts, movement_text, parse_movement
from robot_r1_ros.core.parsing import OPTION_LETTERS, format_xyz, parse_completion
from robot_r1_ros.core.qa import (DistractorPool, Episode, QABuilder, build_qa_samples,
                                  template_reasoning)
from robot_r1_ros.core.rewards import REWARDS
from robot_r1_ros.core.types import PAPER_TASKS, TaskKind

WORKSPACE = QAConfig().distractor_space()  # the random-distractor box
FRAME = EnvFrame(origin_base_m=(0.35, 0.0, 0.0))


def make_episodes(demo_factory, waypoints, n=4, seed=0):
    """n episodes of the same task with shifted waypoints, keyframes found by ARM's rule."""
    rng = np.random.default_rng(seed)
    episodes = []
    for i in range(n):
        shift = np.append(rng.uniform(-0.08, 0.08, 2), 0.0)
        moved = [(tuple(np.add(xyz, shift)), grip) for xyz, grip in waypoints]
        demo = demo_factory(moved, seed=i)
        episodes.append(Episode(f'ep{i}', 'put the red cube on the yellow square',
                                demo.ee_xyz_base_m, demo.gripper_open, demo.joint_velocities))
    return episodes


def true_option(sample):
    """The option text that is right by construction, recomputed from the episode data."""
    if sample.kind is TaskKind.MOVEMENT:
        return movement_text(movement_parts(np.subtract(sample.target_xyz_env_m,
                                                        sample.current_xyz_env_m)))
    if sample.kind is TaskKind.CURRENT_STATE:
        return format_xyz(sample.current_xyz_env_m)
    return format_xyz(sample.target_xyz_env_m)


@pytest.fixture
def episodes(demo_factory, pick_place_waypoints):
    return make_episodes(demo_factory, pick_place_waypoints)


def test_all_four_tasks_are_built(episodes):
    samples = build_qa_samples(episodes, QAConfig(), WORKSPACE, FRAME)
    kinds = collections.Counter(s.kind for s in samples)
    assert set(kinds) == set(PAPER_TASKS)  # grounding questions need recorded objects
    for sample in samples:
        ep = episodes[int(sample.episode_id[2:])]
        # positions in the prompt are the episode's, in the env frame
        expected_cur = FRAME.base_to_env(ep.ee_xyz_base_m[sample.frame_index])
        assert np.allclose(sample.current_xyz_env_m, expected_cur, atol=5e-4)
        assert sample.frame_index < sample.keyframe_index
        user_text = sample.messages[1]['content'][1]['text']
        if sample.kind.is_multiple_choice:
            assert len(sample.options) == 4
            gold_option = sample.options[OPTION_LETTERS.index(sample.answer_letter)]
            assert f'{sample.answer_text} {gold_option}' in user_text
        else:
            assert sample.answer_letter is None and sample.target_gripper in ('open', 'closed')


def test_gold_letter_points_at_the_true_option(episodes):
    for sample in build_qa_samples(episodes, QAConfig(distractor_kind='mixed'), WORKSPACE,
                                   FRAME):
        if sample.kind.is_multiple_choice:
            assert sample.options[OPTION_LETTERS.index(sample.answer_letter)] == \
                true_option(sample)
            assert true_option(sample) not in [o for i, o in enumerate(sample.options)
                                               if OPTION_LETTERS[i] != sample.answer_letter]


def test_gold_completions_score_full_marks(episodes):
    samples = build_qa_samples(episodes, QAConfig(), WORKSPACE, FRAME)
    completions = [[{'role': 'assistant', 'content': s.gold_completion(template_reasoning(s))}]
                   for s in samples]
    columns = {k: [s.reward_columns()[k] for s in samples] for k in samples[0].reward_columns()}
    for name, func in REWARDS.items():
        scores = func(completions, **columns)
        for sample, score in zip(samples, scores):
            applies = {'choice_accuracy': sample.kind.is_multiple_choice,
                       'position': not sample.kind.is_multiple_choice,
                       'gripper': not sample.kind.is_multiple_choice}.get(name, True)
            assert score == (1.0 if applies else None), (name, sample.kind)


def test_options_are_separated(episodes):
    config = QAConfig(min_separation_m=0.08, distractor_kind='mixed')
    for sample in build_qa_samples(episodes, config, WORKSPACE, FRAME):
        if sample.kind in (TaskKind.NEXT_WAYPOINT, TaskKind.CURRENT_STATE):
            points = [np.array([float(v) for v in o.strip('[]').split(', ')])
                      for o in sample.options]
            for a, b in itertools.combinations(points, 2):
                assert np.linalg.norm(a - b) >= 0.08 - 1e-9
        if sample.kind is TaskKind.MOVEMENT:
            assert len({parse_movement(o) for o in sample.options}) == 4


def test_answer_letters_are_balanced(episodes):
    samples = build_qa_samples(episodes, QAConfig(), WORKSPACE, FRAME)
    for kind in (TaskKind.NEXT_WAYPOINT, TaskKind.CURRENT_STATE, TaskKind.MOVEMENT):
        counts = collections.Counter(s.answer_letter for s in samples if s.kind is kind)
        assert set(counts) == set(OPTION_LETTERS)
        assert max(counts.values()) - min(counts.values()) <= 1


def test_build_is_seeded_and_reproducible(episodes):
    def texts(seed):
        config = QAConfig(seed=seed, distractor_kind='mixed')
        return [(s.answer_text, s.options) for s in build_qa_samples(episodes, config,
                                                                     WORKSPACE, FRAME)]
    assert texts(1) == texts(1)
    assert texts(1) != texts(2)


def test_hard_distractors_come_from_same_phase_of_other_episodes(episodes):
    config = QAConfig(distractor_kind='hard', tasks=('next_waypoint', 'current_state'))
    pool = DistractorPool.from_episodes(episodes, config)
    builder = QABuilder(config, WORKSPACE, FRAME, pool)
    samples = builder.build(episodes)
    assert samples
    for sample in samples:
        cand = pool.candidates(sample.kind, sample.phase, sample.episode_id)
        allowed = {format_xyz(p) for p in FRAME.base_to_env(cand)}
        wrong = [o for i, o in enumerate(sample.options)
                 if OPTION_LETTERS[i] != sample.answer_letter]
        if sample.distractor_kind == 'hard':
            assert len(set(wrong) & allowed) >= 3 - sample.extra['random_distractors']
    assert sum(s.extra['random_distractors'] for s in samples) < 3 * len(samples)
    own = {format_xyz(FRAME.base_to_env(p)) for p in episodes[0].ee_xyz_base_m}
    assert not (own & {format_xyz(p) for p in FRAME.base_to_env(
        pool.candidates(TaskKind.NEXT_WAYPOINT, 0, 'ep0'))})


def test_hard_distractors_fall_back_to_random_when_pool_is_small(demo_factory,
                                                                  pick_place_waypoints):
    single = make_episodes(demo_factory, pick_place_waypoints, n=1)
    builder = QABuilder(QAConfig(distractor_kind='hard', tasks=('next_waypoint',)), WORKSPACE,
                        FRAME, DistractorPool.from_episodes(single))
    samples = builder.build(single)
    assert samples and builder.stats['hard_fallback'] == len(samples)
    assert all(len(set(s.options)) == 4 for s in samples)


def test_static_observations_have_no_movement_question(demo_factory):
    # the gripper closes in place: frames between arrival and the change do not move
    demo = demo_factory([((0.5, 0.0, 0.2), True), ((0.5, 0.0, 0.2), False),
                         ((0.5, 0.0, 0.3), False)])
    ep = Episode('static', 'grasp', demo.ee_xyz_base_m, demo.gripper_open,
                 demo.joint_velocities)
    builder = QABuilder(QAConfig(frame_interval=1), WORKSPACE, FRAME)
    samples = builder.build([ep])
    assert builder.stats['dropped_static'] > 0
    for sample in samples:
        if sample.kind is TaskKind.MOVEMENT:
            assert any(sample.extra['movement_parts'])


def test_frames_without_images_are_skipped(episodes):
    ep = episodes[0]
    images = np.full(len(ep), -1)
    keys = ep.find_keyframes()
    images[keys] = np.arange(len(keys))  # only keyframes were rendered
    images[0] = 99
    sparse = Episode(ep.episode_id, ep.instruction, ep.ee_xyz_base_m, ep.gripper_open,
                     ep.joint_velocities, images)
    samples = build_qa_samples([sparse], QAConfig(), WORKSPACE, FRAME)
    assert samples
    assert all(sparse.image_indices[s.frame_index] == s.image_index >= 0 for s in samples)
    assert {s.keyframe_index for s in samples} == set(keys)


@pytest.mark.parametrize('kwargs,message', [
    ({'ee_xyz_base_m': np.zeros((1, 3))}, r'\(T>=2, 3\)'),
    ({'ee_xyz_base_m': np.full((3, 3), np.nan)}, 'finite'),
    ({'gripper_open': np.ones(2, bool)}, 'gripper_open must be'),
    ({'joint_velocities': np.zeros((2, 7))}, 'joint_velocities must be'),
    ({'image_indices': np.zeros(2)}, 'image_indices must be'),
    ({'keyframes': (0, 2)}, 'keyframes must be in'),
    ({'instruction': ' '}, 'instruction'),
])
def test_bad_episodes(kwargs, message):
    base = dict(episode_id='bad', instruction='x', ee_xyz_base_m=np.zeros((3, 3)),
                gripper_open=np.ones(3, bool))
    with pytest.raises(BadInputError, match=message):
        Episode(**{**base, **kwargs})


def test_builder_errors(episodes):
    with pytest.raises(BadInputError, match='needs a DistractorPool'):
        QABuilder(QAConfig(distractor_kind='hard'), WORKSPACE, FRAME)
    tiny = Workspace((0.3, 0.0, 0.1), (0.31, 0.01, 0.11))
    with pytest.raises(BadInputError, match='min_separation_m'):
        build_qa_samples(episodes[:1], QAConfig(tasks=('next_waypoint',)), tiny, FRAME)
    no_keys = Episode('k', 'x', np.zeros((3, 3)), np.ones(3, bool))
    with pytest.raises(BadInputError, match='needs keyframes or joint_velocities'):
        no_keys.find_keyframes()


def test_template_reasoning_is_tag_free(episodes):
    for sample in build_qa_samples(episodes[:1], QAConfig(), WORKSPACE, FRAME):
        think = template_reasoning(sample)
        assert '<' not in think and think
        assert parse_completion(sample.gold_completion(think)).think == think


WAYPOINT = st.tuples(st.floats(0.3, 0.7), st.floats(-0.3, 0.3), st.floats(0.02, 0.5),
                     st.booleans())


@settings(max_examples=25, deadline=None)
@given(st.lists(WAYPOINT, min_size=2, max_size=5), st.integers(0, 10_000),
       st.sampled_from(['random', 'hard', 'mixed']))
def test_property_gold_letter_matches_true_option(demo_factory, waypoints, seed, kind):
    eps = make_episodes(demo_factory, [((x, y, z), g) for x, y, z, g in waypoints], n=3,
                        seed=seed)
    samples = build_qa_samples(eps, QAConfig(seed=seed, distractor_kind=kind), WORKSPACE, FRAME)
    for sample in samples:
        if sample.kind.is_multiple_choice:
            assert sample.options[OPTION_LETTERS.index(sample.answer_letter)] == \
                true_option(sample)
            assert len(set(sample.options)) == 4
