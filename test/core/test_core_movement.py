"""Movement vocabulary (core.movement): the paper's rule, joining, parse-back, distractors."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_r1_ros.core.errors import AnswerFormatError, BadInputError
from robot_r1_ros.core.movement import (DEFAULT_DEAD_BAND_M, NO_MOVEMENT, adjacent_movements,
                                        describe_movement, movement_parts, movement_text,
                                        parse_movement)

CASES = [
    # single axis, +z is up
    ((0.0, 0.0, 0.2), 'move up'),
    # +x is forward (toward the camera), -y is left
    ((0.3, -0.1, 0.0), 'move forward and slightly move left'),
    # exactly half of the largest change is "slightly" (<= 0.5 * max)
    ((0.1, 0.0, -0.2), 'slightly move forward and move down'),
    # just above half is a full move
    ((0.11, 0.0, -0.2), 'move forward and move down'),
    # three axes, joined like the paper ("..., ..., and ...")
    ((-0.05, 0.04, -0.3), 'slightly move backward, slightly move right, and move down'),
    # an axis inside the 2 cm dead band is ignored
    ((0.019, 0.0, 0.1), 'move up'),
    # everything inside the dead band
    ((0.01, -0.01, 0.015), NO_MOVEMENT),
]


@pytest.mark.parametrize('delta,text', CASES)
def test_movement_text_table(delta, text):
    assert describe_movement((0.0, 0.0, 0.0), delta) == text
    assert movement_text(parse_movement(text)) == text


PARSE_VARIANTS = [
    # case and whitespace
    ('  Slightly MOVE  up ', (0, 0, 1)),
    # the paper's own words "front" and "back"
    ('slightly move front, slightly move left, and move down', (1, -1, -2)),
    ('move back', (-2, 0, 0)),
    # trailing full stop
    ('move up.', (0, 0, 2)),
    # "and" without comma for three phrases
    ('move up and move left and move forward', (2, -2, 2)),
]


@pytest.mark.parametrize('text,parts', PARSE_VARIANTS)
def test_parse_movement_variants(text, parts):
    assert parse_movement(text) == parts


@pytest.mark.parametrize('text,message', [
    ('move sideways', 'WORD one of'),  # unknown direction
    ('go up', 'WORD one of'),  # wrong verb
    ('move up and move down', 'named twice'),  # contradictory
    ('', 'expected a movement'),  # empty
    ('move', 'WORD one of'),  # no direction
])
def test_parse_movement_invalid(text, message):
    with pytest.raises(AnswerFormatError, match=message):
        parse_movement(text)


def test_bad_inputs():
    with pytest.raises(BadInputError, match='3 finite'):
        movement_parts([0.1, 0.2])
    with pytest.raises(BadInputError, match='3 finite'):
        movement_parts([0.1, np.nan, 0.0])
    with pytest.raises(BadInputError, match='dead_band_m'):
        movement_parts([0.1, 0.0, 0.0], dead_band_m=-1)
    with pytest.raises(BadInputError, match='integers in -2..2'):
        movement_text((3, 0, 0))
    with pytest.raises(AnswerFormatError, match='string'):
        parse_movement(None)


DELTA = st.floats(min_value=-0.6, max_value=0.6, allow_nan=False)


@settings(max_examples=400, deadline=None)
@given(st.tuples(DELTA, DELTA, DELTA))
def test_movement_words_round_trip_within_thresholds(delta):
    parts = movement_parts(delta)
    text = movement_text(parts)
    assert parse_movement(text) == parts
    biggest = max(abs(v) for v in delta)
    for value, part in zip(delta, parts):
        if abs(value) < DEFAULT_DEAD_BAND_M:
            assert part == 0
        else:
            assert np.sign(part) == np.sign(value)
            assert (abs(part) == 1) == (abs(value) <= 0.5 * biggest)
    if any(parts):  # the largest change is never "slightly"
        assert 2 in [abs(p) for p in parts]


@settings(max_examples=200, deadline=None)
@given(st.tuples(DELTA, DELTA, DELTA).filter(lambda d: max(map(abs, d)) >= 0.02),
       st.integers(0, 2**31 - 1))
def test_adjacent_movements_are_distinct_valid_labels(delta, seed):
    parts = movement_parts(delta)
    neighbours = adjacent_movements(parts, np.random.default_rng(seed))
    texts = [movement_text(p) for p in neighbours]
    assert len(set(texts)) == 3
    assert movement_text(parts) not in texts
    for p in neighbours:
        assert any(p) and 2 in [abs(v) for v in p]
        assert parse_movement(movement_text(p)) == p


def test_adjacent_movements_is_seeded():
    a = adjacent_movements((0, 0, 2), np.random.default_rng(3))
    b = adjacent_movements((0, 0, 2), np.random.default_rng(3))
    assert a == b
    with pytest.raises(BadInputError, match='integers'):
        adjacent_movements((0, 0, 5), np.random.default_rng(0))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.lists(st.sampled_from(
    ['move', 'slightly', 'up', 'down', 'left', 'right', 'forward', 'backward', 'front', ',',
     'and', ' ', '.', 'stay in place', 'x']), max_size=12).map(' '.join)))
def test_parse_movement_raises_only_answer_format_error(text):
    try:
        parts = parse_movement(text)
    except AnswerFormatError:
        return
    assert len(parts) == 3 and all(-2 <= p <= 2 for p in parts)
