"""Prompt text (core.prompts): golden files per task, message structure, round trips.

Regenerate the golden files after an intended prompt change with
``ROBOT_R1_UPDATE_GOLDEN=1 python -m pytest -q test/core/test_core_prompts.py`` and review the
diff: every token of these files is seen by the model on every training step.
"""
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.geometry import EnvFrame
from robot_r1_ros.core.parsing import (OPTION_LETTERS, format_completion, format_open_keypoint,
                                       format_option, format_xyz, parse_completion,
                                       parse_open_keypoint, parse_option)
from robot_r1_ros.core.prompts import (SYSTEM_PROMPT, PromptMetadata, build_messages,
                                       build_user_text, messages_to_text)
from robot_r1_ros.core.types import PAPER_TASKS, GripperState, TaskKind

GOLDEN_DIR = Path(__file__).resolve().parents[1] / 'fixtures' / 'core'
UPDATE = os.environ.get('ROBOT_R1_UPDATE_GOLDEN', '') == '1'

INSTRUCTION = 'put the red cube on the yellow square'
METADATA = PromptMetadata(current_xyz_env_m=(0.152, -0.043, 0.21), current_gripper='open')
POSITION_OPTIONS = [(0.15, 0.2, 0.05), (-0.2, 0.31, 0.4), (0.02, -0.12, 0.25),
                    (0.31, -0.05, 0.12)]
MOVEMENT_OPTIONS = ['move down', 'slightly move forward and move down', 'move up',
                    'slightly move backward, slightly move left, and move down']
GOLDEN_INPUTS = {
    TaskKind.NEXT_WAYPOINT: POSITION_OPTIONS,
    TaskKind.CURRENT_STATE: POSITION_OPTIONS,
    TaskKind.MOVEMENT: MOVEMENT_OPTIONS,
    TaskKind.OPEN_KEYPOINT: None,
}


@pytest.mark.parametrize('kind', list(PAPER_TASKS))
def test_golden_prompt_text(kind):
    messages = build_messages(kind, INSTRUCTION, METADATA, GOLDEN_INPUTS[kind])
    text = messages_to_text(messages)
    path = GOLDEN_DIR / f'prompt_{kind.value}.txt'
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f'missing golden file {path.name}; run with ROBOT_R1_UPDATE_GOLDEN=1'
    assert text == path.read_text(), f'{path.name} differs; regenerate if the change is intended'


@pytest.mark.parametrize('kind', list(PAPER_TASKS))
def test_messages_have_hf_structure_with_one_image(kind):
    messages = build_messages(kind, INSTRUCTION, METADATA, GOLDEN_INPUTS[kind])
    assert [m['role'] for m in messages] == ['system', 'user']
    assert messages[0]['content'] == [{'type': 'text', 'text': SYSTEM_PROMPT}]
    user = messages[1]['content']
    assert [part['type'] for part in user] == ['image', 'text']
    assert sum(part['type'] == 'image' for m in messages for part in m['content']) == 1


def test_task_specific_content():
    texts = {k: build_user_text(k, INSTRUCTION, METADATA, GOLDEN_INPUTS[k]) for k in PAPER_TASKS}
    current = '[0.152, -0.043, 0.210]'
    # the current-state task must not leak the answer
    assert current not in texts[TaskKind.CURRENT_STATE]
    for kind in (TaskKind.NEXT_WAYPOINT, TaskKind.MOVEMENT, TaskKind.OPEN_KEYPOINT):
        assert f'Current gripper position: {current} (open).' in texts[kind]
    # movement shows the axis conventions only (as in the paper), no origin or gripper size
    assert 'Origin' not in texts[TaskKind.MOVEMENT]
    assert 'Gripper:' not in texts[TaskKind.MOVEMENT]
    for kind in PAPER_TASKS:
        assert 'X-axis:' in texts[kind] and 'Z-axis:' in texts[kind]
    for letter in OPTION_LETTERS:
        assert f'[[{letter}]] ' in texts[TaskKind.NEXT_WAYPOINT]
    assert '[[A]] [0.150, 0.200, 0.050]' in texts[TaskKind.NEXT_WAYPOINT]
    assert '[x, y, z] open or [x, y, z] closed' in texts[TaskKind.OPEN_KEYPOINT]


def test_system_prompt_states_the_answer_format():
    assert 'Franka Robot Assistant' in SYSTEM_PROMPT
    assert '<think> </think>' in SYSTEM_PROMPT and '<answer> </answer>' in SYSTEM_PROMPT
    assert 'MUST BE enclosed' in SYSTEM_PROMPT


def test_metadata_from_env_frame_uses_its_words():
    frame = EnvFrame(reference_text='the robot base',
                     axis_words=(('rear', 'front'), ('west', 'east'), ('down', 'up')))
    meta = PromptMetadata.from_env_frame(frame, (0.0, 0.0, 0.1))
    text = build_user_text(TaskKind.OPEN_KEYPOINT, 'go', meta)
    assert 'Origin [0, 0, 0] is the robot base.' in text
    assert 'Y-axis: west (negative) to east (positive)' in text


BAD_CALLS = [
    # movement needs the current position
    (TaskKind.MOVEMENT, INSTRUCTION, PromptMetadata(), MOVEMENT_OPTIONS, 'current_xyz_env_m'),
    # three options instead of four
    (TaskKind.NEXT_WAYPOINT, INSTRUCTION, METADATA, POSITION_OPTIONS[:3], 'exactly 4'),
    # multiple-choice without options
    (TaskKind.CURRENT_STATE, INSTRUCTION, METADATA, None, 'exactly 4'),
    # the open task takes no options
    (TaskKind.OPEN_KEYPOINT, INSTRUCTION, METADATA, POSITION_OPTIONS, 'no options'),
    # duplicate options after rounding would make two letters correct
    (TaskKind.NEXT_WAYPOINT, INSTRUCTION, METADATA,
     [(0.1, 0.1, 0.1), (0.1, 0.1, 0.1001), (0.3, 0, 0), (0.4, 0, 0)], 'distinct'),
    # empty instruction
    (TaskKind.NEXT_WAYPOINT, '  ', METADATA, POSITION_OPTIONS, 'instruction'),
    # multi-line option text would break the layout
    (TaskKind.MOVEMENT, INSTRUCTION, METADATA, ['a', 'b', 'c', 'd\ne'], 'one non-empty line'),
    # an unknown task
    ('pointing', INSTRUCTION, METADATA, None, 'unknown task kind'),
]


@pytest.mark.parametrize('kind,instruction,metadata,options,message', BAD_CALLS)
def test_bad_prompt_inputs_raise(kind, instruction, metadata, options, message):
    with pytest.raises(BadInputError, match=message):
        build_messages(kind, instruction, metadata, options)


def test_bad_metadata_raises():
    with pytest.raises(BadInputError, match='current_xyz_env_m'):
        PromptMetadata(current_xyz_env_m=(0.1, float('nan'), 0.0))
    with pytest.raises(BadInputError, match='current_gripper'):
        PromptMetadata(current_gripper='half')
    with pytest.raises(BadInputError, match='3 lines'):
        PromptMetadata(axis_lines=('a', 'b'))


COORD = st.floats(min_value=-0.9, max_value=0.9, allow_nan=False)
XYZ = st.tuples(COORD, COORD, COORD)


@settings(max_examples=150, deadline=None)
@given(st.lists(XYZ, min_size=4, max_size=4, unique_by=format_xyz),
       st.sampled_from(OPTION_LETTERS), XYZ, st.sampled_from(list(GripperState)))
def test_prompt_gold_answer_parse_round_trip(options, letter, target, gripper):
    """The option shown under the gold letter is the one the parsed gold answer points at."""
    messages = build_messages(TaskKind.NEXT_WAYPOINT, INSTRUCTION, METADATA, options)
    text = messages[1]['content'][1]['text']
    gold = format_completion('because', format_option(letter))
    chosen = parse_option(parse_completion(gold).answer)
    line = next(l for l in text.splitlines() if l.startswith(f'[[{chosen}]] '))
    shown = [float(v) for v in line.split(' ', 1)[1].strip('[]').split(', ')]
    assert shown == pytest.approx(options[OPTION_LETTERS.index(letter)], abs=5e-4 + 1e-12)
    # open task: gold answer written, parsed back to the same keypoint
    answer = parse_completion(format_completion('', format_open_keypoint(target, gripper)))
    xyz, got_gripper = parse_open_keypoint(answer.answer)
    assert xyz == pytest.approx(target, abs=5e-4 + 1e-12) and got_gripper is gripper
