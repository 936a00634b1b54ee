"""Answer grammar: table-driven valid/invalid cases and property tests (core.parsing)."""
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_r1_ros.core.errors import AnswerFormatError, BadInputError
from robot_r1_ros.core.parsing import (OPTION_LETTERS, ParsedCompletion, answer_regex,
                                       completion_regex, completion_text, format_completion,
                                       format_number, format_open_keypoint, format_option,
                                       format_xyz, option_index, parse_answer, parse_completion,
                                       parse_open_keypoint, parse_option)
from robot_r1_ros.core.types import GripperState, TaskKind

VALID_COMPLETIONS = [
    # canonical form
    ('<think>look</think><answer>[[A]]</answer>', ('look', '[[A]]')),
    # chat templates add whitespace and newlines around tags
    ('\n<think>\nlook\n</think>\n\n<answer> [[A]] </answer>\n', ('look', '[[A]]')),
    # the paper's example output has spaces inside the tags
    ('<think> [detailed reasoning] </think> <answer> [[B]] </answer>',
     ('[detailed reasoning]', '[[B]]')),
    # empty reasoning is still the format (lean SFT variant)
    ('<think></think><answer>[0.100, 0.000, 0.200] open</answer>',
     ('', '[0.100, 0.000, 0.200] open')),
    # tag names in upper case
    ('<THINK>a</THINK><Answer>[[c]]</Answer>', ('a', '[[c]]')),
    # reasoning spanning several lines with brackets and maths
    ('<think>x: 0.1 -> 0.2\n[[not the answer]]</think><answer>[[D]]</answer>',
     ('x: 0.1 -> 0.2\n[[not the answer]]', '[[D]]')),
    # a "<" that is not a tag is fine inside the reasoning
    ('<think>z < 0.1</think><answer>[[A]]</answer>', ('z < 0.1', '[[A]]')),
]

INVALID_COMPLETIONS = [
    # plain answer without tags
    ('[[A]]', 'missing <think>'),
    # no closing </think>
    ('<think>hmm<answer>[[A]]</answer>', 'missing </think>'),
    # no answer block at all
    ('<think>hmm</think>', 'missing <answer>'),
    # answer not closed
    ('<think>hmm</think><answer>[[A]]', 'missing </answer>'),
    # two answer blocks: which one would the executor use?
    ('<think>a</think><answer>[[A]]</answer><answer>[[B]]</answer>', 'found <answer> 2 times'),
    # a second think block after the answer
    ('<think>a</think><answer>[[A]]</answer><think>b</think>', 'found <think> 2 times'),
    # answer before think
    ('<answer>[[A]]</answer><think>a</think>', 'must follow </think>'),
    # text before the think block
    ('Sure! <think>a</think><answer>[[A]]</answer>', 'before <think>'),
    # text after the answer block
    ('<think>a</think><answer>[[A]]</answer> Hope this helps', 'after </answer>'),
    # text between the blocks
    ('<think>a</think> so <answer>[[A]]</answer>', 'only whitespace'),
    # empty string
    ('', 'missing <think>'),
]


@pytest.mark.parametrize('text,expected', VALID_COMPLETIONS)
def test_parse_completion_valid(text, expected):
    assert parse_completion(text) == ParsedCompletion(*expected)


@pytest.mark.parametrize('text,message', INVALID_COMPLETIONS)
def test_parse_completion_invalid(text, message):
    with pytest.raises(AnswerFormatError, match=re.escape(message)) as info:
        parse_completion(text)
    assert 'expected' in str(info.value)
    assert info.value.text == text


def test_parse_completion_rejects_non_string():
    # a list of messages must be unpacked by completion_text first
    with pytest.raises(AnswerFormatError, match='string'):
        parse_completion([{'role': 'assistant', 'content': 'x'}])


VALID_OPTIONS = [
    ('[[A]]', 'A'),  # canonical
    (' [[B]] ', 'B'),  # surrounding whitespace
    ('[[ c ]]', 'C'),  # inner whitespace and lower case
    ('\n[[d]]\n', 'D'),  # newlines
]

INVALID_OPTIONS = [
    ('B', 'double brackets'),  # bare letter
    ('[B]', 'double brackets'),  # single brackets
    ('[[E]]', 'got [[E]]'),  # letter outside A-D
    ('[[AB]]', 'got [[AB]]'),  # two letters in one bracket
    ('[[A]] [[B]]', 'found 2 options'),  # two options: ambiguous action
    ('[[A]] because it is closest', 'nothing else'),  # trailing words
    ('option [[A]]', 'nothing else'),  # leading words
    ('', 'double brackets'),  # empty
    ('[[]]', 'got [[]]'),  # empty brackets
]


@pytest.mark.parametrize('answer,letter', VALID_OPTIONS)
def test_parse_option_valid(answer, letter):
    assert parse_option(answer) == letter


@pytest.mark.parametrize('answer,message', INVALID_OPTIONS)
def test_parse_option_invalid(answer, message):
    with pytest.raises(AnswerFormatError, match=re.escape(message)):
        parse_option(answer)


VALID_OPEN = [
    # canonical
    ('[0.123, -0.045, 0.210] open', ((0.123, -0.045, 0.210), GripperState.OPEN)),
    # no spaces after commas, upper-case gripper word
    ('[0.1,-0.2,0.3] CLOSED', ((0.1, -0.2, 0.3), GripperState.CLOSED)),
    # extra whitespace everywhere
    ('  [ 0.1234 ,  0.0 , 1.5 ]   Open ', ((0.1234, 0.0, 1.5), GripperState.OPEN)),
    # integers without decimals
    ('[0, 1, -1] closed', ((0.0, 1.0, -1.0), GripperState.CLOSED)),
    # two integer digits
    ('[10.000, -12.5, 0.001] open', ((10.0, -12.5, 0.001), GripperState.OPEN)),
]

INVALID_OPEN = [
    # gripper word missing: the action would be incomplete
    ('[0.1, 0.2, 0.3]', 'missing the gripper state'),
    # no position
    ('open', 'no [x, y, z]'),
    # two positions: ambiguous target
    ('[0.1, 0.2, 0.3] [0.2, 0.2, 0.3] open', 'found 2 bracketed groups'),
    # two gripper words
    ('[0.1, 0.2, 0.3] open closed', 'found 2 gripper words'),
    # 'close' is a command, not one of the two states
    ('[0.1, 0.2, 0.3] close', "got 'close'"),
    # only two coordinates
    ('[0.1, 0.2] open', 'has 2 values'),
    # four coordinates
    ('[0.1, 0.2, 0.3, 0.4] open', 'has 4 values'),
    # too many decimals
    ('[0.12345, 0.2, 0.3] open', 'more than 4 decimals'),
    # three integer digits (metres: an implausible, probably mis-scaled value)
    ('[123.0, 0.2, 0.3] open', 'more than 2 integer digits'),
    # scientific notation
    ('[1e-3, 0.2, 0.3] open', 'not a plain decimal'),
    # plus sign
    ('[+0.1, 0.2, 0.3] open', 'without a plus sign'),
    # gripper word before the position
    ('open [0.1, 0.2, 0.3]', 'must follow the position'),
    # extra words
    ('[0.1, 0.2, 0.3] open gripper', 'unexpected extra text'),
    # centimetres given as a unit word
    ('[0.1, 0.2, 0.3] m open', 'unexpected extra text'),
]


@pytest.mark.parametrize('answer,expected', VALID_OPEN)
def test_parse_open_keypoint_valid(answer, expected):
    xyz, gripper = parse_open_keypoint(answer)
    assert xyz == pytest.approx(expected[0])
    assert gripper is expected[1]


@pytest.mark.parametrize('answer,message', INVALID_OPEN)
def test_parse_open_keypoint_invalid(answer, message):
    with pytest.raises(AnswerFormatError, match=re.escape(message)) as info:
        parse_open_keypoint(answer)
    assert "expected '[x, y, z] open'" in str(info.value)


def test_parse_answer_dispatches_on_kind():
    assert parse_answer('movement', '[[B]]') == 'B'
    assert parse_answer(TaskKind.OPEN_KEYPOINT, '[0.1, 0.2, 0.3] open')[1] is GripperState.OPEN
    with pytest.raises(BadInputError, match='unknown task kind'):
        parse_answer('waypoint', '[[A]]')


@pytest.mark.parametrize('kind', list(TaskKind))
def test_answer_regex_matches_canonical_and_parser_accepts(kind):
    pattern = re.compile(answer_regex(kind))
    if kind.is_multiple_choice:
        gold = format_option('C')
        assert parse_option(gold) == 'C'
    elif kind is TaskKind.OBJECT_POSITION:
        gold = format_xyz((0.1234, -0.0456, 0.02))
        assert parse_answer(kind, gold) == (0.123, -0.046, 0.02)
        assert not pattern.fullmatch(gold + ' open')
    else:
        gold = format_open_keypoint((0.1234, -0.0456, 0.2), 'closed')
        assert gold == '[0.123, -0.046, 0.200] closed'
        assert parse_open_keypoint(gold)[1] is GripperState.CLOSED
    assert pattern.fullmatch(gold)
    whole = format_completion('r', gold)
    assert re.fullmatch(completion_regex(kind), whole)
    assert re.fullmatch(completion_regex(kind, r'[^<]{0,3}'), whole)
    assert not re.fullmatch(completion_regex(kind, r'[^<]{0,0}'), whole)


def test_answer_regex_rejects_non_canonical():
    assert not re.fullmatch(answer_regex('movement'), '[[b]]')
    assert not re.fullmatch(answer_regex('open_keypoint'), '[0.1, 0.2, 0.3] open')


def test_formatters():
    assert format_number(-0.0001) == '0.000'  # no negative zero in prompts
    assert format_xyz([1, -2.5, 0.0004]) == '[1.000, -2.500, 0.000]'
    assert option_index('D') == 3
    with pytest.raises(BadInputError, match='finite'):
        format_number(float('nan'))
    with pytest.raises(BadInputError, match='below 100'):
        format_number(123.0)
    with pytest.raises(BadInputError, match='3 coordinates'):
        format_xyz([0.1, 0.2])
    with pytest.raises(BadInputError, match='one of A, B, C, D'):
        format_option('E')
    with pytest.raises(BadInputError, match='one of A, B, C, D'):
        option_index('Z')


COMPLETION_FORMS = [
    # plain string (standard dataset)
    ('<think>a</think><answer>[[A]]</answer>', '<think>a</think><answer>[[A]]</answer>'),
    # TRL conversational: list with one assistant message
    ([{'role': 'assistant', 'content': 'hello'}], 'hello'),
    # content as typed parts
    ([{'role': 'assistant', 'content': [{'type': 'text', 'text': 'a'},
                                        {'type': 'text', 'text': 'b'}]}], 'ab'),
    # a single message dict
    ({'role': 'assistant', 'content': 'x'}, 'x'),
    # empty list
    ([], ''),
]


@pytest.mark.parametrize('completion,text', COMPLETION_FORMS)
def test_completion_text_forms(completion, text):
    assert completion_text(completion) == text


def test_completion_text_rejects_unknown_types():
    with pytest.raises(AnswerFormatError, match='cannot read'):
        completion_text(42)
    with pytest.raises(AnswerFormatError, match='cannot read message content'):
        completion_text([{'role': 'assistant', 'content': 3}])


# --- properties -------------------------------------------------------------------------------

# Text built from grammar fragments, so the parsers' deeper branches are reached often.
TAGGY_TEXT = st.lists(
    st.sampled_from(list('<>/[]., -0123456789ABCDabcd \n') + [
        '<think>', '</think>', '<answer>', '</answer>', 'open', 'closed', '[[', ']]']),
    max_size=30).map(''.join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), TAGGY_TEXT))
def test_arbitrary_text_raises_only_answer_format_error(text):
    for parse in (parse_completion, parse_option, parse_open_keypoint):
        try:
            parse(text)
        except AnswerFormatError:
            pass


COORD = st.floats(min_value=-9.9994, max_value=9.9994, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(st.tuples(COORD, COORD, COORD), st.sampled_from(list(GripperState)),
       st.text(alphabet=st.characters(blacklist_characters='<'), max_size=40),
       st.sampled_from(OPTION_LETTERS))
def test_canonical_answers_round_trip(xyz, gripper, think, letter):
    text = format_completion(think, format_open_keypoint(xyz, gripper))
    parsed = parse_completion(text)
    assert parsed.think == think.strip()
    got_xyz, got_gripper = parse_open_keypoint(parsed.answer)
    assert got_gripper is gripper
    assert got_xyz == pytest.approx(xyz, abs=5e-4 + 1e-12)
    assert re.fullmatch(answer_regex(TaskKind.OPEN_KEYPOINT), parsed.answer)
    option_text = format_completion(think, format_option(letter))
    assert parse_option(parse_completion(option_text).answer) == letter
