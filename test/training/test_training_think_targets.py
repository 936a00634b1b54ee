"""The curriculum's SFT reasoning kinds (``training.think_targets``), on rows whose template
reasoning is written by ``core.qa.template_reasoning`` itself."""
from __future__ import annotations

import re

import pytest

from robot_r1_ros.core.grounding import ZONE_NAME
from robot_r1_ros.core.qa import template_reasoning
from robot_r1_ros.core.types import QASample, TaskKind
from robot_r1_ros.training.think_targets import completion, reasoning

CUBE = (0.107, -0.149, 0.020)
ZONE = (0.247, 0.044, 0.000)


def _row(current, target, current_gripper, target_gripper, objects=True, cube=CUBE) -> dict:
    """An open-keypoint dataset row as ``training.dataset`` writes it (the green cube at
    ``cube``)."""
    sample = QASample(
        kind=TaskKind.OPEN_KEYPOINT, episode_id='scene_1', frame_index=0, image_index=0,
        keyframe_index=1, phase=0, instruction='put the green cube in the yellow zone',
        messages=[], answer_text='', target_xyz_env_m=target, target_gripper=target_gripper,
        current_xyz_env_m=current,
        extra={'movement_parts': (1, -1, -2),
               'objects_env_m': {'green_cube': cube, ZONE_NAME: ZONE} if objects else {}})
    return {'task_kind': 'open_keypoint', 'gold_think': template_reasoning(sample),
            'target_xyz_env_m': list(target), 'current_xyz_env_m': list(current),
            'current_gripper': current_gripper, 'target_gripper': target_gripper,
            'answer_text': f'[{target[0]:.3f}, {target[1]:.3f}, {target[2]:.3f}] {target_gripper}'}


@pytest.mark.parametrize('current, target, grippers, aim', [
    ((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), ('open', 'open'), 'green cube'),
    ((0.107, -0.149, 0.022), (0.107, -0.149, 0.022), ('open', 'closed'), 'gripper'),
    ((0.107, -0.149, 0.022), (0.247, 0.043, 0.146), ('closed', 'closed'), 'yellow zone'),
    ((0.247, 0.044, 0.146), (0.247, 0.044, 0.026), ('closed', 'closed'), 'gripper'),
])
def test_aim_reasoning_names_what_the_keypoint_goes_to_right_before_it(
        current, target, grippers, aim):
    row = _row(current, target, *grippers)
    think = reasoning(row, 'aim')
    stated = ('The green cube is at [0.107, -0.149, 0.020]. '
              'The yellow zone is at [0.247, 0.044, 0.000]. ')
    assert think.startswith(stated)
    xyz = ', '.join(f'{v:.3f}' for v in target)
    assert think.endswith(f'Next: the {aim} at [{xyz}], {grippers[1]}.')
    assert f'The gripper is at [{current[0]:.3f}, {current[1]:.3f}, {current[2]:.3f}], ' \
           f'{grippers[0]}.' in think
    # The named object's stated x-y is the keypoint's x-y (what the copy relies on).
    if aim != 'gripper':
        named = think.split(f'The {aim} is at [')[1].split(',')[:2]
        assert [float(v) for v in named] == pytest.approx(list(target[:2]), abs=0.01)
    assert completion(row, 'aim').endswith(f'<answer>{row["answer_text"]}</answer>')


def test_aim_reasoning_falls_back_to_the_template_without_objects():
    row = _row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), 'open', 'open', objects=False)
    assert reasoning(row, 'aim') == row['gold_think']
    mc = {'task_kind': 'movement', 'options': ['move up', 'move down', 'move left', 'stay'],
          'answer_letter': 'B', 'current_xyz_env_m': [0.0, 0.0, 0.3], 'current_gripper': 'open'}
    assert reasoning(mc, 'aim') == reasoning(mc, 'plan')


def _waypoint_row(current, nxt, episode='scene_1', frame=0) -> dict:
    """A hard next-waypoint row: options of the same phase, the gold one ``B``."""
    fmt = '[{:.3f}, {:.3f}, {:.3f}]'.format
    return {'task_kind': 'next_waypoint', 'episode_id': episode, 'frame_index': frame,
            'instruction': 'put the green cube in the yellow zone', 'answer_letter': 'B',
            'options': [fmt(0.021, -0.056, nxt[2]), fmt(*nxt), fmt(0.185, -0.106, nxt[2]),
                        fmt(0.042, -0.229, nxt[2])],
            'current_xyz_env_m': list(current), 'current_gripper': 'open',
            'next_xyz_env_m': list(nxt), 'gold_think': 'must move ..., option B.',
            'answer_text': '[[B]]'}


def _waypoint_case() -> tuple[dict, dict, dict]:
    """An open-keypoint row, the facts its frame states, and a hard next-waypoint row of the
    same frame whose gold option (B) is the keypoint."""
    from robot_r1_ros.training.think_targets import frame_facts

    key_row = _row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), 'open', 'open')
    facts = frame_facts(['scene_1'], [0], [key_row['gold_think']])
    return key_row, facts, _waypoint_row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142))


def test_aim_choice_aims_a_waypoint_question_from_the_frames_objects_then_judges_options():
    """``aim_choice``: the objects of the same frame (stated by its open-keypoint and
    object-position rows, in the instruction's order), the gripper, the aim, then verdicts."""
    from robot_r1_ros.training.think_targets import frame_facts

    key_row = _row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), 'open', 'open')
    other = 'The blue cube is at [0.300, 0.200, 0.020].'   # another object's row, same frame
    facts = frame_facts(['scene_1', 'scene_1', 'scene_2'], [0, 0, 0],
                        [key_row['gold_think'], other, 'The red cube is at [0.1, 0.1, 0.02].'])
    assert facts[('scene_1', 0)]['blue cube'] == '[0.300, 0.200, 0.020]'
    assert 'gripper' not in facts[('scene_1', 0)]
    row = _waypoint_row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142))
    think = reasoning(row, 'aim_choice', facts)
    assert think == ('The green cube is at [0.107, -0.149, 0.020]. '
                     'The yellow zone is at [0.247, 0.044, 0.000]. '
                     'The gripper is at [-0.043, 0.000, 0.487], open. '
                     'Next: the green cube at [0.107, -0.149, 0.142]. '
                     'A [0.021, -0.056, 0.142] no. B [0.107, -0.149, 0.142] yes. '
                     'C [0.185, -0.106, 0.142] no. D [0.042, -0.229, 0.142] no.')
    assert completion(row, 'aim_choice', facts).endswith('<answer>[[B]]</answer>')
    # 'aim' (no facts needed) keeps the plain verdicts; the open keypoint is aim's own.
    assert reasoning(row, 'aim').startswith('now [-0.043, 0.000, 0.487] open. A ')
    assert reasoning(key_row, 'aim_choice') == reasoning(key_row, 'aim')
    # A frame nobody stated: the aim without objects, still before the verdicts.
    lone = _waypoint_row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), frame=5)
    assert reasoning(lone, 'aim_choice', facts).startswith(
        'Next: [0.107, -0.149, 0.142]. A [0.021, -0.056, 0.142] no. B ')


def test_aim_pick_aims_a_waypoint_question_without_verdicts_and_stays_in_the_node_budget():
    """``aim_pick``: ``aim_choice``'s aim and nothing after it (the letter is the answer's), so
    the reasoning is as long as an open keypoint's; the other tasks reason as with ``aim``."""

    key_row, facts, row = _waypoint_case()
    think = reasoning(row, 'aim_pick', facts)
    assert think == ('The green cube is at [0.107, -0.149, 0.020]. '
                     'The yellow zone is at [0.247, 0.044, 0.000]. '
                     'The gripper is at [-0.043, 0.000, 0.487], open. '
                     'Next: the green cube at [0.107, -0.149, 0.142].')
    assert reasoning(row, 'aim_choice', facts).startswith(think + ' A [')
    assert completion(row, 'aim_pick', facts) == f'<think>{think}</think><answer>[[B]]</answer>'
    assert reasoning(key_row, 'aim_pick') == reasoning(key_row, 'aim')
    lone = _waypoint_row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), frame=5)
    assert reasoning(lone, 'aim_pick', facts) == 'Next: [0.107, -0.149, 0.142].'


def test_aim_check_reads_the_aim_in_one_sentence_then_judges_every_option():
    """``aim_check``: ``Next: the <aim> at [..].`` (no objects stated first) and ``aim``'s
    verdicts; ``aim_check_jitter`` moves an object aim at most 2 cm in x-y, fixed per frame,
    and keeps the gold option's ``yes``; a gripper aim (descend) is never moved."""
    from robot_r1_ros.training.think_targets import AIM_JITTER_M

    key_row, facts, row = _waypoint_case()
    think = reasoning(row, 'aim_check', facts)
    assert think == ('Next: the green cube at [0.107, -0.149, 0.142]. '
                     'A [0.021, -0.056, 0.142] no. B [0.107, -0.149, 0.142] yes. '
                     'C [0.185, -0.106, 0.142] no. D [0.042, -0.229, 0.142] no.')
    assert completion(row, 'aim_check', facts).endswith('<answer>[[B]]</answer>')
    jittered = reasoning(row, 'aim_check_jitter', facts)
    assert jittered == reasoning(row, 'aim_check_jitter', facts)   # fixed per frame
    assert jittered.startswith('Next: the green cube at [')
    aim = [float(v) for v in jittered.split(' at [')[1].split(']')[0].split(',')]
    assert aim != [0.107, -0.149, 0.142] and aim[2] == 0.142
    assert max(abs(aim[0] - 0.107), abs(aim[1] + 0.149)) <= AIM_JITTER_M + 1e-9
    assert jittered.endswith(think.split('. ', 1)[1])               # the same verdicts
    # Descend: the target keeps the gripper's x-y, so the aim is the gripper's, unmoved.
    down = _waypoint_row((0.107, -0.149, 0.142), (0.107, -0.149, 0.022))
    assert reasoning(down, 'aim_check_jitter', facts).startswith(
        'Next: the gripper at [0.107, -0.149, 0.022]. A ')
    # Other tasks reason as with ``aim``; a frame nobody stated aims without a name.
    assert reasoning(key_row, 'aim_check') == reasoning(key_row, 'aim')
    lone = _waypoint_row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), frame=5)
    assert reasoning(lone, 'aim_check', facts).startswith('Next: [0.107, -0.149, 0.142]. A [')


def test_aim_pair_copies_the_aims_xy_beside_every_options_xy():
    """``aim_pair``: the x-y aim alone, then each option's x-y beside the aim's (no space after
    the commas) with its verdict; the aim is ``aim_check_jitter``'s, so the pairs differ; a
    gripper aim is copied exactly; other tasks keep the ``plan`` verdicts."""
    from robot_r1_ros.training.think_targets import AIM_JITTER_M

    key_row, facts, row = _waypoint_case()
    think = reasoning(row, 'aim_pair', facts)
    head, rest = think.split('. ', 1)
    aim = [float(v) for v in head.split(' at [')[1].rstrip(']').split(',')]
    assert head.startswith('Next: the green cube at [') and len(aim) == 2
    assert max(abs(aim[0] - 0.107), abs(aim[1] + 0.149)) <= AIM_JITTER_M + 1e-9
    pair = f'[{aim[0]:.3f},{aim[1]:.3f}]'
    assert rest == (f'A [0.021,-0.056] {pair} no. B [0.107,-0.149] {pair} yes. '
                    f'C [0.185,-0.106] {pair} no. D [0.042,-0.229] {pair} no.')
    assert completion(row, 'aim_pair', facts).endswith('<answer>[[B]]</answer>')
    down = _waypoint_row((0.107, -0.149, 0.142), (0.107, -0.149, 0.022))
    assert reasoning(down, 'aim_pair', facts).startswith(
        'Next: the gripper at [0.107, -0.149]. A [0.021,-0.056] [0.107,-0.149] no. ')
    assert reasoning(key_row, 'aim_pair') == reasoning(key_row, 'aim')


@pytest.mark.parametrize('current, target, grippers, place, aim', [
    # away from everything: no place
    ((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), ('open', 'open'), '', 'green cube'),
    # over the cube, open: the cube is a place (about to be grasped)
    ((0.107, -0.149, 0.022), (0.107, -0.149, 0.022), ('open', 'closed'), 'green cube',
     'gripper'),
    # carrying the cube it holds (at its height): no place, so go to the zone's approach
    ((0.107, -0.149, 0.022), (0.247, 0.043, 0.146), ('closed', 'closed'), '', 'yellow zone'),
    # arrived over the zone, still closed: lower (E95 aimed at the approach height again)
    ((0.247, 0.044, 0.146), (0.247, 0.044, 0.026), ('closed', 'closed'), 'yellow zone',
     'gripper'),
    # lowered onto the zone: open in place
    ((0.247, 0.044, 0.026), (0.247, 0.044, 0.026), ('closed', 'open'), 'yellow zone',
     'gripper'),
])
def test_aim_rel_states_what_the_gripper_is_over_right_after_its_state(
        current, target, grippers, place, aim):
    """``aim_rel``: ``aim``'s open-keypoint reasoning with the gripper's place among the
    stated objects after its state; the carried cube is no place; multiple-choice reasoning is
    ``aim_pair``'s."""
    row = _row(current, target, *grippers)
    think = reasoning(row, 'aim_rel')
    xyz = ', '.join(f'{v:.3f}' for v in current)
    suffix = f', over the {place}' if place else ''
    assert f'The gripper is at [{xyz}], {grippers[0]}{suffix}. Next: the {aim} at ' in think
    # everything else is the aim reasoning's
    assert think.replace(suffix, '') == reasoning(row, 'aim')
    assert completion(row, 'aim_rel').endswith(f'<answer>{row["answer_text"]}</answer>')


def test_aim_rel_keeps_the_aim_pair_verdicts_of_a_waypoint_question():

    key_row, facts, row = _waypoint_case()
    assert reasoning(row, 'aim_rel', facts) == reasoning(row, 'aim_pair', facts)


def test_aim_over_tells_the_grasp_from_the_release_by_the_zone_under_the_gripper():
    """``aim_over`` names every stated object under the gripper: down and open at the cube
    (grasp next) reads ``over the green cube``, down and open at the cube let go in the zone
    (up next) ``over the green cube and the yellow zone``; ``aim_rel`` says the same words for
    both. Otherwise ``aim_over`` is ``aim_rel``."""
    grasp = _row((0.107, -0.149, 0.022), (0.107, -0.149, 0.022), 'open', 'closed')
    placed = (0.247, 0.044, 0.026)
    release = _row(placed, (0.247, 0.044, 0.146), 'open', 'open', cube=(0.247, 0.044, 0.026))
    assert ', open, over the green cube. Next: the gripper at ' in reasoning(grasp, 'aim_over')
    assert (', open, over the green cube and the yellow zone. Next: the gripper at '
            in reasoning(release, 'aim_over'))
    assert reasoning(release, 'aim_rel').replace(' and the yellow zone', '') == reasoning(
        release, 'aim_over').replace(' and the yellow zone', '')
    assert reasoning(grasp, 'aim_rel') == reasoning(grasp, 'aim_over')
    carry = _row((0.107, -0.149, 0.022), (0.247, 0.043, 0.146), 'closed', 'closed')
    assert reasoning(carry, 'aim_over') == reasoning(carry, 'aim_rel') == reasoning(carry, 'aim')
    assert completion(release, 'aim_over').endswith(
        f'<answer>{release["answer_text"]}</answer>')


def test_aim_exact_states_the_gold_options_own_xy_so_the_yes_pair_is_equal():
    """``aim_exact``: ``aim_over`` with the next-waypoint aim unjittered: the ``yes`` pair holds
    two equal numbers (a copy-match, not a 2 cm nearness); open keypoints read as ``aim_over``."""

    key_row, facts, row = _waypoint_case()
    pair = '[0.107,-0.149]'
    assert reasoning(row, 'aim_exact', facts) == (
        f'Next: the green cube at [0.107, -0.149]. A [0.021,-0.056] {pair} no. '
        f'B [0.107,-0.149] {pair} yes. C [0.185,-0.106] {pair} no. D [0.042,-0.229] {pair} no.')
    # the jittered kinds state another x-y for the same row
    assert reasoning(row, 'aim_over', facts) != reasoning(row, 'aim_exact', facts)
    release = _row((0.247, 0.044, 0.026), (0.247, 0.044, 0.146), 'open', 'open',
                   cube=(0.247, 0.044, 0.026))
    assert reasoning(release, 'aim_exact') == reasoning(release, 'aim_over')


def test_aim_key_lists_the_options_with_letters_after_and_aims_at_the_gold_one():
    """``aim_key``: every option's x-y copied with its letter after it, then the exact aim
    with the gold letter; the answer repeats it, the stated aim implies it, no verdicts; open
    keypoints read as ``aim_over``; no list without a target."""
    from robot_r1_ros.training.think_targets import completion, implied_letter

    key_row, facts, row = _waypoint_case()
    think = reasoning(row, 'aim_key', facts)
    xy = [','.join(opt.split(', ')[:2]) + ']' for opt in row['options']]
    listed = [f'{pair} {letter}.' for letter, pair in zip('ABCD', xy)]
    gold = xy['ABCD'.index(row['answer_letter'])]
    assert think == ' '.join(listed) + f' Next: the green cube at {gold} {row["answer_letter"]}.'
    assert ' yes.' not in think and ' no.' not in think
    assert implied_letter(think, row['options']) == row['answer_letter']
    assert completion(row, 'aim_key', facts).endswith(
        f'</think><answer>[[{row["answer_letter"]}]]</answer>')
    release = _row((0.247, 0.044, 0.026), (0.247, 0.044, 0.146), 'open', 'open',
                   cube=(0.247, 0.044, 0.026))
    assert reasoning(release, 'aim_key') == reasoning(release, 'aim_over')
    untargeted = dict(row, next_xyz_env_m=None)
    assert reasoning(untargeted, 'aim_key', facts) == str(row.get('gold_think') or '')


def test_aim_key_cm_is_aim_key_in_whole_centimetres():
    """``aim_key_cm``: the same list and aim in whole centimetres; the stated aim still implies
    the gold letter (read as centimetres); open keypoints read as ``aim_key``."""
    from robot_r1_ros.training.think_targets import completion, implied_letter

    key_row, facts, row = _waypoint_case()
    think = reasoning(row, 'aim_key_cm', facts)
    cm = []
    for opt in row['options']:
        x, y = (float(v) for v in opt.strip('[]').split(',')[:2])
        cm.append(f'[{round(x * 100)},{round(y * 100)}]')
    listed = ' '.join(f'{pair} {letter}.' for letter, pair in zip('ABCD', cm))
    gold = cm['ABCD'.index(row['answer_letter'])]
    assert gold == '[11,-15]'
    assert think == listed + f' Next: the green cube at {gold} {row["answer_letter"]}.'
    assert '.' not in think.replace('. ', ' ').rstrip('.')  # no decimal point anywhere
    assert implied_letter(think, row['options']) == row['answer_letter']
    assert completion(row, 'aim_key_cm', facts).endswith(
        f'</think><answer>[[{row["answer_letter"]}]]</answer>')
    assert reasoning(key_row, 'aim_key_cm', facts) == reasoning(key_row, 'aim_key', facts)



def test_aim_cm_writes_every_reasoning_position_as_the_metres_first_two_decimals():
    """``aim_cm``: the next-waypoint listing and aim, the open keypoint's statements and an object
    position's statement all in centimetres cut to two decimals (a copy of digits); the answers
    stay in metres, and the stated aim still implies the gold letter."""
    from robot_r1_ros.training.think_targets import (completion, cm_digits, frame_facts,
                                                      implied_letter)

    assert cm_digits([0.107, -0.149, 0.142]) == '[10,-14,14]'
    assert cm_digits([-0.099, 0.0, 0.009]) == '[-09,00,00]'
    assert cm_digits([1.234, -0.0004, 0.5]) == '[123,-00,50]'
    key_row = _row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), 'open', 'open')
    facts = frame_facts(['scene_1'], [0], [key_row['gold_think']])
    think = reasoning(key_row, 'aim_cm', facts)
    assert think == ('The green cube is at [10,-14,02]. The yellow zone is at [24,04,00]. '
                     'The gripper is at [-04,00,48], open. Next: the green cube at [10,-14,14], '
                     'open.')
    assert completion(key_row, 'aim_cm', facts).endswith(
        '<answer>[0.107, -0.149, 0.142] open</answer>')
    row = _waypoint_row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142))
    think = reasoning(row, 'aim_cm', facts)
    assert think == ('[02,-05] A. [10,-14] B. [18,-10] C. [04,-22] D. '
                     'Next: the green cube at [10,-14] B.')
    assert implied_letter(think, row['options']) == 'B'
    position = {'task_kind': 'object_position', 'answer_text': '[0.079, -0.090, 0.020]',
                'gold_think': 'The blue cube is at [0.079, -0.090, 0.020].'}
    assert reasoning(position, 'aim_cm') == 'The blue cube is at [07,-09,02].'
    assert completion(position, 'aim_cm').endswith('<answer>[0.079, -0.090, 0.020]</answer>')

def test_aim_mm_writes_the_places_in_millimetres_and_keeps_the_listing_in_centimetres():
    """``aim_mm``: the open keypoint's and an object position's statements carry the metres'
    three decimals (the answer is a copy of them); the next-waypoint listing and aim are
    ``aim_cm``'s, and the stated aim still implies the gold letter."""
    from robot_r1_ros.training.think_targets import (completion, frame_facts, implied_letter,
                                                      mm_digits)

    assert mm_digits([0.107, -0.149, 0.142]) == '[107,-149,142]'
    assert mm_digits([-0.009, 0.0, 1.234]) == '[-009,000,1234]'
    key_row = _row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142), 'open', 'open')
    facts = frame_facts(['scene_1'], [0], [key_row['gold_think']])
    think = reasoning(key_row, 'aim_mm', facts)
    assert think == ('The green cube is at [107,-149,020]. The yellow zone is at [247,044,000]. '
                     'The gripper is at [-043,000,487], open. Next: the green cube at '
                     '[107,-149,142], open.')
    answer = completion(key_row, 'aim_mm', facts).split('<answer>')[1]
    assert answer == '[0.107, -0.149, 0.142] open</answer>'
    row = _waypoint_row((-0.043, 0.0, 0.487), (0.107, -0.149, 0.142))
    assert reasoning(row, 'aim_mm', facts) == reasoning(row, 'aim_cm', facts)
    assert implied_letter(reasoning(row, 'aim_mm', facts), row['options']) == 'B'
    position = {'task_kind': 'object_position', 'answer_text': '[0.079, -0.090, 0.020]',
                'gold_think': 'The blue cube is at [0.079, -0.090, 0.020].'}
    assert reasoning(position, 'aim_mm') == 'The blue cube is at [079,-090,020].'
    assert reasoning(position, 'aim_cm') == 'The blue cube is at [07,-09,02].'



def test_aim_mm_pair_judges_each_option_beside_the_aim_at_a_fixed_offset():
    """``aim_mm_pair``: the exact aim, then per option its x-y beside the aim's in signed
    centimetres (nine tokens each, whatever the signs), the letter and the verdict; the one
    ``yes`` is the gold option's, the stated aim implies it, and the places are ``aim_mm``'s."""
    from robot_r1_ros.training.think_targets import completion, implied_letter, signed_cm_digits

    assert signed_cm_digits([0.107, -0.149]) == '[+10,-14]'
    assert signed_cm_digits([-0.009, 0.0]) == '[-00,+00]'
    key_row, facts, row = _waypoint_case()
    think = reasoning(row, 'aim_mm_pair', facts)
    assert think == ('Next: the green cube at [+10,-14]. '
                     'A [+02,-05] [+10,-14] A no. B [+10,-14] [+10,-14] B yes. '
                     'C [+18,-10] [+10,-14] C no. D [+04,-22] [+10,-14] D no.')
    assert think.count('yes') == 1
    assert implied_letter(think, row['options']) == 'B'
    assert completion(row, 'aim_mm_pair', facts).endswith('<answer>[[B]]</answer>')
    # Every bracket is nine characters: an option's digits and the aim's sit a fixed distance
    # apart, whatever their signs.
    assert {len(b) for b in re.findall(r'\[[^\]]*\]', think)} == {9}
    assert reasoning(key_row, 'aim_mm_pair', facts) == reasoning(key_row, 'aim_mm', facts)
    position = {'task_kind': 'object_position', 'answer_text': '[0.079, -0.090, 0.020]',
                'gold_think': 'The blue cube is at [0.079, -0.090, 0.020].'}
    assert reasoning(position, 'aim_mm_pair') == reasoning(position, 'aim_mm')

def test_gripper_relation_skips_far_objects_and_the_one_held():
    from robot_r1_ros.training.think_targets import AIM_XY_TOL_M, gripper_relation

    seen = [('green cube', '[0.100, 0.000, 0.136]'), ('yellow zone', '[0.100, 0.000, 0.000]')]
    assert gripper_relation(seen, (0.100, 0.0, 0.146), 'closed') == 'yellow zone'
    assert gripper_relation(seen, (0.100, 0.0, 0.146), 'open') == 'green cube'
    off = 0.100 + AIM_XY_TOL_M + 0.002
    assert gripper_relation(seen, (off, 0.0, 0.146), 'closed') == ''
    assert gripper_relation([], (0.100, 0.0, 0.146), 'closed') == ''
    from robot_r1_ros.training.think_targets import gripper_relations
    assert gripper_relations(seen, (0.100, 0.0, 0.146), 'open') == ['green cube', 'yellow zone']
    assert gripper_relations(seen, (0.100, 0.0, 0.146), 'closed') == ['yellow zone']
