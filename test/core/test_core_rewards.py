"""GRPO rewards (core.rewards): TRL signature, applicability, registry, never raising."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_r1_ros.core import rewards
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.rewards import (REWARDS, choice_accuracy_reward, format_reward,
                                       get_reward_funcs, gripper_reward, position_reward,
                                       think_format_reward)
from robot_r1_ros.core.types import TaskKind

MCQ = '<think>r</think><answer>[[B]]</answer>'
OPEN = '<think>r</think><answer>[0.100, 0.000, 0.200] open</answer>'


def conv(text):
    """A completion as TRL passes it for conversational datasets."""
    return [{'role': 'assistant', 'content': text}]


FORMAT_CASES = [
    # multiple-choice answer for a multiple-choice task
    (MCQ, 'next_waypoint', 1.0),
    # open answer given to a multiple-choice task: grammar of the task is violated
    (OPEN, 'movement', 0.0),
    # open answer for the open task
    (OPEN, 'open_keypoint', 1.0),
    # a letter for the open task
    (MCQ, 'open_keypoint', 0.0),
    # open answer without gripper word
    ('<think>r</think><answer>[0.1, 0.0, 0.2]</answer>', 'open_keypoint', 0.0),
    # no tags at all
    ('[[B]]', 'current_state', 0.0),
    # right tags, unknown task kind: only the tags count
    (OPEN, None, 1.0),
    # right tags, garbage answer, unknown kind
    ('<think>r</think><answer>blah</answer>', None, 1.0),
    # right tags, garbage answer, known kind
    ('<think>r</think><answer>blah</answer>', 'movement', 0.0),
]


@pytest.mark.parametrize('text,kind,expected', FORMAT_CASES)
def test_format_reward_table(text, kind, expected):
    assert format_reward([text], task_kind=[kind]) == [expected]
    assert format_reward([conv(text)], task_kind=[kind]) == [expected]


def test_think_format_reward_checks_tags_only():
    got = think_format_reward([MCQ, conv(OPEN), 'no tags', '<think>a</think>'])
    assert got == [1.0, 1.0, 0.0, 0.0]


def test_choice_accuracy_reward():
    completions = [MCQ, MCQ, conv(MCQ), OPEN, 'junk', MCQ]
    kinds = ['next_waypoint', 'current_state', 'movement', 'movement', 'movement',
             'open_keypoint']
    letters = ['B', 'A', 'b', 'B', 'B', None]
    got = choice_accuracy_reward(completions, task_kind=kinds, answer_letter=letters)
    # right letter; wrong letter; right (lower-case column); open answer to MCQ; malformed; n/a
    assert got == [1.0, 0.0, 1.0, 0.0, 0.0, None]


def test_position_reward_is_clipped_one_minus_l1():
    answers = ['<think></think><answer>[0.100, 0.000, 0.200] closed</answer>',
               '<think></think><answer>[0.100, 0.300, 0.200] open</answer>',
               '<think></think><answer>[2.000, 0.000, 0.200] open</answer>',
               OPEN, 'no tags', MCQ]
    kinds = ['open_keypoint'] * 5 + ['movement']
    targets = [[0.1, 0.0, 0.2], [0.1, 0.0, 0.25], [0.1, 0.0, 0.2], (0.1, 0.0, 0.2),
               [0.1, 0.0, 0.2], None]
    got = position_reward(answers, task_kind=kinds, target_xyz_env_m=targets)
    assert got[0] == pytest.approx(1.0)  # exact position (gripper is not this reward's job)
    assert got[1] == pytest.approx(1.0 - (0.3 + 0.05))  # L1 = 0.35 m
    assert got[2] == 0.0  # L1 = 1.9 m is clipped at 0
    assert got[3] == pytest.approx(1.0)
    assert got[4] == 0.0  # malformed
    assert got[5] is None  # not the open task


def test_gripper_reward():
    got = gripper_reward([OPEN, OPEN, conv(OPEN), MCQ, OPEN],
                         task_kind=['open_keypoint', 'open_keypoint', 'open_keypoint',
                                    'open_keypoint', 'next_waypoint'],
                         target_gripper=['open', 'closed', 'OPEN', 'open', 'open'])
    assert got == [1.0, 0.0, 1.0, 0.0, None]


def test_rewards_without_ground_truth_return_none():
    # no columns at all: accuracy-type rewards do not apply, format checks the tags only
    assert choice_accuracy_reward([MCQ]) == [None]
    assert position_reward([OPEN]) == [None]
    assert gripper_reward([OPEN]) == [None]
    assert format_reward([MCQ]) == [1.0]


def test_mismatched_column_length_is_ignored_not_raised():
    assert choice_accuracy_reward([MCQ, MCQ], task_kind=['movement'],
                                  answer_letter=['B', 'B']) == [1.0, 1.0]


def test_trl_extra_kwargs_are_accepted():
    got = format_reward([MCQ], prompts=['p'], completion_ids=[[1, 2]], trainer_state=None,
                        task_kind=[TaskKind.MOVEMENT])
    assert got == [1.0]


def test_registry_names_and_lookup():
    for name, func in REWARDS.items():
        assert func.__name__ == f'{name}_reward'
        assert get_reward_funcs([name]) == [func]
    assert get_reward_funcs('format, position') == [format_reward, position_reward]
    assert set(rewards.DEFAULT_REWARDS) <= set(REWARDS)


@pytest.mark.parametrize('names,message', [
    (['format', 'accuracy'], "unknown reward 'accuracy'"),  # typo
    ([], 'empty'),  # nothing selected
    (['format', 'format'], 'listed twice'),  # duplicate would double-weight silently
])
def test_registry_errors_list_valid_names(names, message):
    with pytest.raises(ConfigError, match=message) as info:
        get_reward_funcs(names)
    assert info.value.field == 'reward_funcs'
    if 'unknown' in message:
        assert 'choice_accuracy' in str(info.value)


# --- properties -------------------------------------------------------------------------------

ANY_VALUE = st.one_of(st.none(), st.text(max_size=20), st.integers(), st.floats(),
                      st.lists(st.floats(), max_size=4), st.sampled_from(list(TaskKind)),
                      st.sampled_from(['A', 'B', 'open', 'closed', 'open_keypoint', 'movement']))
COMPLETION = st.one_of(
    st.text(max_size=60),
    st.builds(lambda t: f'<think>x</think><answer>{t}</answer>', st.text(max_size=30)),
    st.builds(lambda a, b, c, g: f'<think></think><answer>[{a}, {b}, {c}] {g}</answer>',
              st.floats(-99, 99), st.floats(-99, 99), st.floats(-99, 99),
              st.sampled_from(['open', 'closed'])),
    st.builds(conv, st.text(max_size=30)),
    st.integers(), st.none(), st.lists(st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(COMPLETION, ANY_VALUE, ANY_VALUE, ANY_VALUE, ANY_VALUE),
                min_size=1, max_size=5))
def test_every_reward_returns_unit_interval_or_none(rows):
    completions = [r[0] for r in rows]
    columns = {'task_kind': [r[1] for r in rows], 'answer_letter': [r[2] for r in rows],
               'target_xyz_env_m': [r[3] for r in rows], 'target_gripper': [r[4] for r in rows]}
    for func in REWARDS.values():
        got = func(completions, **columns)
        assert len(got) == len(completions)
        for value in got:
            assert value is None or (isinstance(value, float) and 0.0 <= value <= 1.0)


class _Exploding:
    """A column value whose iteration fails with an unexpected error."""

    def __iter__(self):
        raise RuntimeError('boom')

    def __len__(self):
        return 1


def test_rewards_never_raise_on_hostile_columns():
    for func in REWARDS.values():
        out = func([MCQ], task_kind=_Exploding(), answer_letter=_Exploding(),
                   target_xyz_env_m=_Exploding(), target_gripper=_Exploding())
        assert len(out) == 1 and (out[0] is None or 0.0 <= out[0] <= 1.0)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.text(max_size=5)))
def test_rewards_survive_non_list_completions(completions):
    for func in REWARDS.values():
        out = func(completions)
        assert isinstance(out, list)


def test_docstring_examples_run():
    import doctest
    result = doctest.testmod(rewards)
    assert result.attempted >= 5 and result.failed == 0
