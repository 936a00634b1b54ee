"""Grounding questions (where is an object) from recorded object poses."""
import collections

import numpy as np
import pytest

from robot_r1_ros.core.config import QAConfig
from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.geometry import EnvFrame
from robot_r1_ros.core.grounding import object_label
from robot_r1_ros.core.parsing import OPTION_LETTERS, parse_answer
from robot_r1_ros.core.prompts import PromptMetadata, build_user_text
from robot_r1_ros.core.qa import DistractorPool, Episode, build_qa_samples
from robot_r1_ros.core.rewards import REWARDS
from robot_r1_ros.core.types import TaskKind

FRAME = EnvFrame()
T = 40


def _episode(i: int, objects: bool = True) -> Episode:
    xyz = np.zeros((T, 3))
    xyz[:, 0] = np.linspace(0.3, 0.5, T)
    xyz[:, 2] = 0.3
    grip = np.ones(T, bool)
    grip[25:] = False
    rng = np.random.default_rng(i)
    track = {name: np.tile([rng.uniform(0.35, 0.62), rng.uniform(-0.25, 0.25), z], (T, 1))
             for name, z in (('red_cube', 0.02), ('green_cube', 0.02), ('blue_cube', 0.02),
                             ('target_zone', 0.0))}
    track['red_cube'][30:] = [0.45, 0.0, 0.2]          # picked up: it moves with the gripper
    return Episode(f'ep{i}', 'put the red cube in the yellow zone', xyz, grip,
                   keyframes=(10, 25, 39), object_xyz_base_m=track if objects else None)


CFG = QAConfig(tasks=('next_waypoint', 'object_position', 'object_choice'))


def _build(episodes):
    return build_qa_samples(episodes, CFG, CFG.distractor_space(), FRAME,
                            DistractorPool.from_episodes(episodes, CFG))


def test_one_question_per_object_frame_and_kind_with_true_positions():
    eps = [_episode(i) for i in range(4)]
    samples = _build(eps)
    kinds = collections.Counter(s.kind for s in samples)
    frames = kinds[TaskKind.NEXT_WAYPOINT]
    assert kinds[TaskKind.OBJECT_POSITION] == kinds[TaskKind.OBJECT_CHOICE] == 4 * frames
    for s in samples:
        if not s.kind.is_grounding:
            continue
        ep = eps[int(s.episode_id[2:])]
        truth = FRAME.base_to_env(ep.object_xyz_base_m[s.extra['subject']][s.frame_index])
        assert np.allclose(s.target_xyz_env_m, truth, atol=6e-4)
        assert f'Where is the {object_label(s.extra["subject"])} now?' in \
            s.messages[1]['content'][1]['text']
        if s.kind is TaskKind.OBJECT_POSITION:
            assert parse_answer(s.kind, s.answer_text) == s.target_xyz_env_m


def test_choice_distractors_sit_at_the_answers_height_apart_and_include_other_objects():
    eps = [_episode(i) for i in range(4)]
    samples = [s for s in _build(eps) if s.kind is TaskKind.OBJECT_CHOICE]
    letters = collections.Counter(s.answer_letter for s in samples)
    assert set(letters) == set(OPTION_LETTERS) and max(letters.values()) - min(letters.values()) <= 1
    shares_other_object = 0
    for s in samples:
        options = [np.array(parse_answer(TaskKind.OBJECT_POSITION, o)) for o in s.options]
        answer = options[OPTION_LETTERS.index(s.answer_letter)]
        assert all(abs(o[2] - answer[2]) < 1e-9 for o in options)   # z gives nothing away
        for i in range(4):
            for j in range(i):
                assert np.linalg.norm(options[i] - options[j]) >= CFG.min_separation_m - 1e-9
        ep = eps[int(s.episode_id[2:])]
        others = [FRAME.base_to_env(t[s.frame_index])[:2]
                  for n, t in ep.object_xyz_base_m.items() if n != s.extra['subject']]
        shares_other_object += any(np.allclose(o[:2], x, atol=6e-4) for o in options for x in others)
    assert shares_other_object > 0.8 * len(samples)


def test_rewards_score_grounding_answers():
    s = next(x for x in _build([_episode(0), _episode(1)]) if x.kind is TaskKind.OBJECT_POSITION)
    cols = s.reward_columns()
    x, y, z = s.target_xyz_env_m
    good = f'<think></think><answer>[{x:.3f}, {y:.3f}, {z:.3f}]</answer>'
    off = f'<think></think><answer>[{x + 0.1:.3f}, {y:.3f}, {z:.3f}]</answer>'
    with_gripper = f'<think></think><answer>[{x:.3f}, {y:.3f}, {z:.3f}] open</answer>'
    kw = {k: [v] * 3 for k, v in cols.items()}
    assert REWARDS['format']([good, off, with_gripper], **kw) == [1.0, 1.0, 0.0]
    assert REWARDS['position']([good, off, with_gripper], **kw) == pytest.approx([1.0, 0.9, 0.0])
    assert REWARDS['gripper']([good], **{k: [v] for k, v in cols.items()}) == [None]


def test_episodes_without_object_poses_yield_no_grounding_questions():
    samples = _build([_episode(0, objects=False), _episode(1, objects=False)])
    assert samples and not any(s.kind.is_grounding for s in samples)


def test_bad_object_tracks_and_subjects_are_refused():
    with pytest.raises(BadInputError, match='red_cube'):
        Episode('e', 'go', np.zeros((5, 3)), np.ones(5, bool), keyframes=(2,),
                object_xyz_base_m={'red_cube': np.zeros((4, 3))})
    meta = PromptMetadata(current_xyz_env_m=(0.0, 0.0, 0.3))
    with pytest.raises(BadInputError, match='subject'):
        build_user_text(TaskKind.OBJECT_POSITION, 'go', meta)
    with pytest.raises(BadInputError, match='subject'):
        build_user_text(TaskKind.OPEN_KEYPOINT, 'go', meta, subject='red cube')
