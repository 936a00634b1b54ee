"""The SFT targets of the curriculum (``robot-r1 learn``): the reasoning written before the
answer (:data:`THINK_KINDS`) and the gold completion of a dataset row."""
from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Sequence

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.geometry import xy_gap_m
from robot_r1_ros.core.parsing import format_completion

THINK_KINDS = ('template', 'empty', 'compare', 'plan', 'aim', 'aim_choice', 'aim_pick',
               'aim_check', 'aim_check_jitter', 'aim_pair', 'aim_rel', 'aim_over', 'aim_exact',
               'aim_key', 'aim_key_cm', 'aim_cm', 'aim_mm', 'aim_mm_pair')
#: Think kinds whose next-waypoint reasoning needs each frame's objects (:func:`frame_facts`).
FACT_KINDS = ('aim_choice', 'aim_pick', 'aim_check', 'aim_check_jitter', 'aim_pair',
              'aim_rel', 'aim_over', 'aim_exact', 'aim_key', 'aim_key_cm', 'aim_cm', 'aim_mm',
              'aim_mm_pair')
#: Think kinds with ``aim_pair``'s multiple-choice reasoning (the ``aim_compare`` verdicts).
PAIR_KINDS = ('aim_pair', 'aim_rel', 'aim_over', 'aim_exact')
#: Think kinds whose next-waypoint aim is the gold target's own x-y, not jittered.
EXACT_AIM_KINDS = ('aim_check', 'aim_exact', 'aim_key', 'aim_key_cm', 'aim_cm', 'aim_mm',
                   'aim_mm_pair')
#: Think kinds whose next-waypoint reasoning lists the options with their letters after them.
KEY_KINDS = ('aim_key', 'aim_key_cm', 'aim_cm', 'aim_mm')
#: Think kinds whose open-keypoint reasoning says what the gripper is over, and how many of
#: the objects under it they name (:func:`gripper_relations`).
RELATION_KINDS = {'aim_rel': 1, 'aim_over': None, 'aim_exact': None, 'aim_key': None,
                  'aim_key_cm': None, 'aim_cm': None, 'aim_mm': None, 'aim_mm_pair': None}
#: ``aim_check_jitter``'s largest x-y offset of the stated aim from the gold target (metres).
AIM_JITTER_M = 0.02
LETTERS = 'ABCD'
MC_TASKS = ('next_waypoint', 'current_state', 'movement')
# An object statement of the template reasoning (``core.qa.template_reasoning``).
_SEEN_RE = re.compile(r'The ([a-z][a-z ]*?) is at (\[[^\]]*\])\.')
# A bracketed position of a reasoning (``[0.065, 0.042, 0.020]``).
_BRACKET_RE = re.compile(r'\[-?\d[^\]]*\]')
# A target whose x-y is within this of an object's (or the gripper's) is "at" it (metres).
AIM_XY_TOL_M = 0.01
# A closed gripper holds an object under it whose centre is at most this far below or above
# the gripper's point (metres): the cube it carries, not the zone it is lowered onto.
HELD_DZ_M = 0.015


def _fmt_xyz(xyz: Sequence[float]) -> str:
    return '[' + ', '.join(f'{float(v):.3f}' for v in xyz) + ']'


def _parse_xyz(text: str) -> list[float]:
    """The numbers of a ``[x, y, z]`` string (an option or a stated position)."""
    return [float(v) for v in str(text).strip('[]').split(',')]


def reasoning(row: dict[str, Any], think: str,
              facts: dict[tuple[str, int], dict[str, str]] | None = None) -> str:
    """The SFT reasoning of a row.

    ``compare`` (multiple-choice tasks): ``now [x, y, z] open. A [..] no. B [..] yes. ...``
    -- the current state (not for ``current_state``, whose prompt has none), then every
    option copied from the prompt with a verdict.
    Copying an option is dense supervision for the attention pattern that selection needs
    (find ``[[A]]`` in the prompt, read what follows), each verdict sits right after the
    coordinates it judges, and the final letter is the one before the single ``yes``. Other
    tasks fall back to the template reasoning.

    ``aim`` is ``plan`` for multiple-choice tasks; an open keypoint with recorded objects says
    where the objects are, where the gripper is, then what the keypoint goes to, named the way it
    was stated, right before the target: ``The red cube is at [..]. The yellow zone is at [..].
    The gripper is at [..], open. Next: the red cube at [x, y, z'], open.`` The keypoint's x-y is
    then a copy of the numbers that followed the same name earlier (an induction copy); in the
    template the keypoint follows a movement phrase and must find the right object by itself.

    ``plan`` is ``compare``, except that a movement question states the gold movement before the
    verdicts (``now [..] open. expect move forward and move down. A move up no. ...``): the
    movement is predicted once, with a supervised token per axis word, and each verdict is then
    a string match against it rather than a fresh prediction per option.

    ``aim_choice`` is ``aim``, except that a next-waypoint question first aims as an open
    keypoint does (the instruction's objects where ``facts`` (:func:`frame_facts`) has them, the
    gripper, ``Next: the red cube at [..].``) and then judges the options: with same-phase
    (hard) distractors only the image separates them, and the aim puts the image's answer in
    the reasoning, where each verdict becomes a copy-match against it.

    ``aim_pick`` is ``aim_choice`` without the verdicts: the aim alone, then the answer's letter,
    the option that repeats the aimed position. ``aim_choice``'s verdicts made the reasoning
    longer than the node's 160-token budget (E59: the node cut it, 25 % on next waypoint); the
    aim alone is as long as an open keypoint's.

    ``aim_check`` (E67 could not find the letter after ``aim_pick``'s aim): a next-waypoint
    question names its aim and reads it in one sentence, ``Next: the red cube at [..].``, the
    way an object-position answer reads a cube (no objects stated first, so it fits the node's
    budget), then judges every option as ``aim`` does. Each verdict compares the option it
    follows with the aim a few tokens back instead of with a position the model never wrote.
    ``aim_check_jitter`` states the aim up to :data:`AIM_JITTER_M` off the gold target in x-y
    (deterministic per frame) while the gold option keeps its ``yes``: the node's aim is read
    from the image to about 3 cm, so the verdict must pick the nearest option, not an exact
    copy.

    ``aim_pair`` is ``aim_check_jitter`` with the aim's x-y alone (``Next: the red cube at
    [0.107, -0.149].``) copied beside every option's x-y (``A [0.211,0.136] [0.107,-0.149]
    no.``), so each verdict compares two neighbouring numbers. A text-only probe
    (``experiments/tools/compare_probe.py``) learned this comparison in 12 CPU-minutes, beside
    the verdicts 20-60 tokens after the aim that E74-E77 did not learn inside the scene runs.

    ``aim_rel`` is ``aim_pair`` with the gripper's place among the stated objects in an open
    keypoint's reasoning: ``The gripper is at [..], closed, over the yellow zone. Next: ...``
    (:func:`gripper_relation`). E95 stalled above the zone in 20 of 20 closed-loop episodes:
    with the gripper closed it always aimed at the zone's approach height, since only the
    gripper's x-y against the zone's, a dozen tokens back, tells carrying (go to the zone) from
    arrived (lower, then open). The relation word makes that comparison a supervised token right
    after the numbers it compares, and the next aim a copy of it.

    ``aim_over`` names every stated object under the gripper (``open, over the red cube and the
    yellow zone``). With ``aim_rel``, the grasp (open, down at the cube) and the release (open,
    down at the cube now in the zone) read alike, ``open, over the red cube``, two millimetres
    of height apart: E99's gripper was right in 1 of 29 test grasps (it mostly lifted the open
    gripper, the release's next keypoint), and it closed no episode.

    ``aim_exact`` is ``aim_over`` with the next-waypoint aim stated exactly at the gold option's
    x-y (no jitter), so a ``yes`` pair holds two equal numbers. E101's verdicts did not follow
    their pairs (teacher-forced, all four right in 77 of 120 training rows): nearness within
    2 cm is arithmetic on digits, equality is a copy-match. E101 also wrote its aim as an exact
    copy of an option in 33 of 50 hard test answers.

    ``aim_key`` drops the verdicts (E101-E110: no verdict followed its pair): a next-waypoint
    reasoning first copies every option's x-y with its letter after it (``[0.211,0.136] A.``),
    then aims exactly at the gold option's x-y, letter included (``Next: the red cube at
    [0.107,-0.149] B.``), and the answer repeats that letter. The aim can snap to a listed
    option as it is written, and the letter after it is an induction copy: the token that
    followed the same digits in the list. The x-y alone: the stated aims' x-y were right in
    94-100 % of E101-E110's answers, and a wrong z would break the match the letter keys on
    (no two options of the dataset's questions share their x-y within 1 cm). Open keypoints
    read as in ``aim_over``.

    ``aim_key_cm`` is ``aim_key`` with the listed and aimed x-y in whole centimetres
    (``[21,14] A. ... Next: the red cube at [11,-15] B.``): four tokens of digits instead of
    eight before each letter, the ones that tell options apart. In the text-only probe
    (``experiments/tools/compare_probe.py``, issue13_keycm.md) the letter after the aim was
    learned in this form; answers, open keypoints and object positions stay in metres.

    ``aim_cm`` writes every position of every reasoning in centimetres, cut (not rounded) to
    the metres' first two decimals (:func:`cm_digits`: ``0.107`` -> ``10``, ``-0.099`` ->
    ``-09``): the next-waypoint listing and aim as in ``aim_key_cm``, and the open keypoints'
    and object positions' statements too (``The red cube is at [06,04,02]. ... Next: the red
    cube at [06,04,14], open.``); answers stay in metres. E121's hard rows (their aim in
    centimetres) made the open keypoints' reading in metres worse: with one unit both practise
    the same reading. Cutting makes each conversion a copy of digits (metres to centimetres
    drops ``0.`` and the third decimal; the answer's metres repeat the two and add one).

    ``aim_mm`` is ``aim_cm`` with the places (open keypoints, object positions) in millimetres,
    the metres' three decimals (:func:`mm_digits`: ``0.047`` -> ``047``): the answer is again
    a copy of the reasoning's digits (E122's answers lost their third decimal, 92.8 % of the
    answer's tokens right teacher-forced against 99 %+), and the gripper's place is judged on
    the digits that decide it (1 cm apart is ten units, not a cut digit). The next-waypoint
    listing and aim stay in centimetres (``[04,11] B``): its keys are the first two digits.

    ``aim_mm_pair`` is ``aim_mm`` with a next-waypoint reasoning of verdicts instead of the
    letter after the aim (E128/E129 stated the right aim in 100 of 100 hard questions, and the
    letter after it followed the options' order): the exact aim, then per option its x-y beside
    the aim's, each in signed whole centimetres so the two sit a fixed nine tokens apart
    (:func:`signed_cm_digits`), the letter again and the verdict (``Next: the red cube at
    [+04,+11]. A [+21,-14] [+04,+11] A no. B [+04,+11] [+04,+11] B yes. ...``). The verdict is an
    equality of neighbours at a fixed offset, and the answer's letter the token before the one
    ``yes``.

    Raises:
        ConfigError: Unknown ``think``.
    """
    if think == 'empty':
        return ''
    if think == 'template':
        return str(row.get('gold_think') or '')
    if think not in THINK_KINDS:
        raise ConfigError(f'unknown think kind {think!r}', 'think')
    if think in ('aim',) + FACT_KINDS and row.get('task_kind') == 'open_keypoint':
        return _aim_reasoning(row, think=think)
    if think in PLACE_DIGITS and row.get('task_kind') not in MC_TASKS:
        # A place question (object position): its statement in the kind's unit.
        return _BRACKET_RE.sub(lambda m: PLACE_DIGITS[think](_parse_xyz(m.group(0))),
                               str(row.get('gold_think') or ''))
    if think == 'aim_pick' and row.get('task_kind') == 'next_waypoint':
        return _choice_aim(row, facts or {})
    if think == 'aim_mm_pair' and row.get('task_kind') == 'next_waypoint':
        return _signed_pair_reasoning(row, facts or {})
    if think in KEY_KINDS and row.get('task_kind') == 'next_waypoint':
        # aim_mm keys the letters on centimetres too: the options differ in their first digits.
        show = {'aim_key_cm': _centimetres, 'aim_cm': cm_digits, 'aim_mm': cm_digits}
        return _key_reasoning(row, facts or {}, show=show.get(think, _compact))
    checking = (think in ('aim_check', 'aim_check_jitter') + PAIR_KINDS
                and row.get('task_kind') == 'next_waypoint')
    options = row.get('options') or []
    if row.get('task_kind') not in MC_TASKS or len(options) != 4:
        return str(row.get('gold_think') or '')
    answer = str(row['answer_letter'])
    parts = []
    aim_xy: list[float] = []
    # The current-state prompt has no state in its text (the answer is in the image).
    if checking:
        text, aim_xy = _short_aim(row, facts or {}, jitter=think not in EXACT_AIM_KINDS,
                                  xy_only=think in PAIR_KINDS)
        parts.append(text)
    elif row.get('task_kind') != 'current_state' and row.get('current_xyz_env_m') is not None:
        parts.append(f"now {_fmt_xyz(row['current_xyz_env_m'])} {row.get('current_gripper')}.")
    if think in ('plan', 'aim') + FACT_KINDS and row.get('task_kind') == 'movement':
        parts.append(f"expect {options[LETTERS.index(answer)]}.")
    if think == 'aim_choice' and row.get('task_kind') == 'next_waypoint':
        parts = [_choice_aim(row, facts or {})]
    for letter, opt in zip(LETTERS, options):
        verdict = 'yes' if letter == answer else 'no'
        if think in PAIR_KINDS and checking and aim_xy:
            parts.append(pair_verdict(letter, opt, aim_xy, verdict))
        else:
            parts.append(f'{letter} {opt} {verdict}.')
    return ' '.join(parts)


def _compact(xyz: Sequence[float]) -> str:
    """``[0.107,-0.149]``: no spaces, so four options and an aim fit the token budget."""
    return _fmt_xyz(xyz).replace(', ', ',')


def _centimetres(xy: Sequence[float]) -> str:
    """``[11,-15]``: an x-y in whole centimetres (``aim_key_cm``)."""
    return '[' + ','.join(str(round(float(v) * 100)) for v in xy) + ']'


def _metre_digits(xyz: Sequence[float], decimals: int) -> str:
    """The digits of each 3-decimal metres (as the prompt writes them, sign included) with
    ``0.`` and the decimals past ``decimals`` left out, so writing one is a copy of digits."""
    out = []
    for v in xyz:
        text = f'{float(v):.3f}'
        sign = '-' if text.startswith('-') else ''
        whole, frac = text.lstrip('-').split('.')
        out.append(sign + (whole if whole != '0' else '') + frac[:decimals])
    return '[' + ','.join(out) + ']'


def cm_digits(xyz: Sequence[float]) -> str:
    """``[10,-09,14]``: metres as centimetres cut to the metres' first two decimals
    (``aim_cm``)."""
    return _metre_digits(xyz, 2)


def mm_digits(xyz: Sequence[float]) -> str:
    """``[107,-099,142]``: metres as millimetres, the metres' three decimals (``aim_mm``'s
    places)."""
    return _metre_digits(xyz, 3)


def signed_cm_digits(xy: Sequence[float]) -> str:
    """``[+10,-09]``: :func:`cm_digits` with every number signed, so an x-y of two cut
    metres (below 1 m) is always nine tokens (``aim_mm_pair``)."""
    parts = cm_digits(xy).strip('[]').split(',')
    return '[' + ','.join(p if p.startswith('-') else '+' + p for p in parts) + ']'


#: The think kinds that write the places' positions as digits, and how.
PLACE_DIGITS: dict[str, Callable[[Sequence[float]], str]] = {'aim_cm': cm_digits,
                                                              'aim_mm': mm_digits,
                                                              'aim_mm_pair': mm_digits}


def _key_reasoning(row: dict[str, Any], facts: dict[tuple[str, int], dict[str, str]],
                   show: Callable[[Sequence[float]], str] | None = None) -> str:
    """``aim_key``'s next-waypoint reasoning (``show``: how an x-y is written, ``aim_key``'s
    :func:`_compact` by default, :func:`reasoning`); the template reasoning for a row without
    four options or a target."""
    options = row.get('options') or []
    text, aim_xy = _short_aim(row, facts, jitter=False, xy_only=True)
    if len(options) != 4 or not aim_xy:
        return str(row.get('gold_think') or '')
    show = show or _compact
    answer = str(row['answer_letter'])
    listed = ' '.join(f'{show(_parse_xyz(opt)[:2])} {letter}.'
                      for letter, opt in zip(LETTERS, options))
    gold = show(_parse_xyz(options[LETTERS.index(answer)])[:2])
    aim = text.replace(_fmt_xyz(aim_xy) + '.', f'{gold} {answer}.')
    return f'{listed} {aim}'


def _signed_pair_reasoning(row: dict[str, Any],
                           facts: dict[tuple[str, int], dict[str, str]]) -> str:
    """``aim_mm_pair``'s next-waypoint reasoning (:func:`reasoning`); the template reasoning
    for a row without four options or a target."""
    options = row.get('options') or []
    text, aim_xy = _short_aim(row, facts, jitter=False, xy_only=True)
    if len(options) != 4 or not aim_xy:
        return str(row.get('gold_think') or '')
    answer = str(row['answer_letter'])
    # The aim is the gold option's own digits, so its pair holds two equal numbers.
    gold = signed_cm_digits(_parse_xyz(options[LETTERS.index(answer)])[:2])
    pairs = ' '.join(f"{letter} {signed_cm_digits(_parse_xyz(opt)[:2])} {gold} {letter} "
                     f"{'yes' if letter == answer else 'no'}."
                     for letter, opt in zip(LETTERS, options))
    return f"{text.replace(_fmt_xyz(aim_xy) + '.', gold + '.')} {pairs}"


# The aim a next-waypoint reasoning states (``Next: the red cube at [0.107, -0.149].``).
_STATED_AIM_RE = re.compile(r'Next: (?:the [a-z][a-z ]*? at )?\[([^\]]*)\]')


def implied_letter(think: str, options: Sequence[str]) -> str | None:
    """The option nearest (x-y) to the aim a multiple-choice reasoning states, or None when it
    states no readable aim.

    This is the answer the reasoning's own aim implies. Set beside the answer given, it
    measures reading the image apart from comparing the aim with the options: E101 stated an
    aim whose nearest option was the gold one in 50 of 50 hard questions and answered 22.
    An aim written without a decimal point is in whole centimetres (``aim_key_cm``).
    """
    match = _STATED_AIM_RE.search(str(think or ''))
    if match is None or len(options) != len(LETTERS):
        return None
    try:
        aim = _parse_xyz(match.group(1))
        if '.' not in match.group(1):
            aim = [v / 100.0 for v in aim]
        points = [_parse_xyz(opt) for opt in options]
    except ValueError:
        return None
    if len(aim) < 2 or any(len(p) < 2 for p in points):
        return None
    if '.' not in match.group(1):
        # An aim written as an option's own centimetres (rounded or cut) is that option.
        written = '[' + match.group(1).replace(' ', '') + ']'
        for letter, p in zip(LETTERS, points):
            if written in (_centimetres(p[:2]), cm_digits(p[:2])):
                return letter
    gaps = [xy_gap_m(aim, p) for p in points]
    return LETTERS[gaps.index(min(gaps))]


def pair_verdict(letter: str, option: str, aim_xy: Sequence[float], verdict: str) -> str:
    """One ``aim_pair`` verdict: the option's x-y beside the aim's, ``A [0.211,0.136]
    [0.107,-0.149] no.``, so the verdict compares neighbouring numbers."""
    xy = _parse_xyz(option)[:2]
    # No space after the commas: four pairs fit the node's 160-token budget.
    pair = ' '.join(_compact(v) for v in (xy, aim_xy))
    return f'{letter} {pair} {verdict}.'


def pair_aim(row: dict[str, Any], facts: dict[tuple[str, int], dict[str, str]],
             at_xy: Sequence[float] | None = None, think: str = 'aim_pair'
             ) -> tuple[str, list[float]]:
    """A next-waypoint row's ``aim_pair`` aim sentence (``Next: the red cube at [x, y].``) and
    its stated x-y; ``('', [])`` for a row without a target.

    ``at_xy``: state that x-y instead of the gold target's, with the row's own jitter (the
    same name and offset: ``training.aim_follow``); ``think`` an :data:`EXACT_AIM_KINDS` kind:
    no jitter.
    """
    text, aim_xy = _short_aim(row, facts, jitter=think not in EXACT_AIM_KINDS, xy_only=True)
    if not aim_xy or at_xy is None:
        return text, aim_xy
    target = [float(v) for v in row['next_xyz_env_m']]
    moved = [float(at_xy[i]) + aim_xy[i] - target[i] for i in range(2)]
    return text.replace(_fmt_xyz(aim_xy), _fmt_xyz(moved)), moved


def first_named_object(text: str) -> str | None:
    """The first object a reasoning places (``The blue cube is at [..]`` -> ``'blue cube'``;
    the gripper is no object), or None when it places none."""
    for name, _xyz in _SEEN_RE.findall(str(text or '')):
        if name != 'gripper':
            return name
    return None


def frame_facts(episode_ids: Sequence[str], frame_indices: Sequence[int],
                gold_thinks: Sequence[str]) -> dict[tuple[str, int], dict[str, str]]:
    """Object statements per frame, ``(episode_id, frame_index) -> {name: '[x, y, z]'}``, from
    every row's template reasoning (open keypoints and object positions state them)."""
    facts: dict[tuple[str, int], dict[str, str]] = {}
    for ep, frame, gold in zip(episode_ids, frame_indices, gold_thinks):
        for name, xyz in _SEEN_RE.findall(str(gold or '')):
            if name != 'gripper':
                facts.setdefault((str(ep), int(frame)), {})[name] = xyz
    return facts


def _choice_aim(row: dict[str, Any], facts: dict[tuple[str, int], dict[str, str]]) -> str:
    """The aim of a next-waypoint row (:func:`reasoning`, ``aim_choice``) before its verdicts."""
    known = facts.get((str(row.get('episode_id')), int(row.get('frame_index') or 0)), {})
    text = str(row.get('instruction') or '')
    named = sorted((text.find(name), name) for name in known if name in text)
    gold = ' '.join(f'The {name} is at {known[name]}.' for _, name in named)
    pseudo = {'gold_think': gold, 'target_xyz_env_m': row.get('next_xyz_env_m'),
              'current_xyz_env_m': row.get('current_xyz_env_m'),
              'current_gripper': row.get('current_gripper')}
    if not gold or pseudo['target_xyz_env_m'] is None or pseudo['current_xyz_env_m'] is None:
        nxt = row.get('next_xyz_env_m')
        return f'Next: {_fmt_xyz(nxt)}.' if nxt is not None else ''
    return _aim_reasoning(pseudo, with_gripper=False)


def _aim_name(seen: Sequence[tuple[str, str]], current: Sequence[float],
              target: Sequence[float], unnamed: str = 'gripper') -> str:
    """What a target is aimed at: ``gripper`` when it keeps the gripper's x-y (descend, grasp,
    lift; checked first, since there the gripper and the object it holds share their x-y), else
    the first object of ``seen`` under it, else ``unnamed``."""
    if xy_gap_m(current, target) <= AIM_XY_TOL_M:
        return 'gripper'
    for name, xyz in seen:
        if xy_gap_m(_parse_xyz(xyz), target) <= AIM_XY_TOL_M:
            return name
    return unnamed


def _short_aim(row: dict[str, Any], facts: dict[tuple[str, int], dict[str, str]],
               jitter: bool, xy_only: bool = False) -> tuple[str, list[float]]:
    """``aim_check``'s aim of a next-waypoint row, ``Next: the red cube at [x, y, z].``, and
    the stated aim's x-y (empty without a target); ``xy_only`` states the x-y alone."""
    target, current = row.get('next_xyz_env_m'), row.get('current_xyz_env_m')
    if target is None:
        return '', []
    target = [float(v) for v in target]
    known = facts.get((str(row.get('episode_id')), int(row.get('frame_index') or 0)), {})
    # No stated object under a target that leaves the gripper: the aim goes unnamed.
    name = (_aim_name(list(known.items()), current, target, unnamed='')
            if current is not None else '')
    if jitter and name not in ('', 'gripper'):
        # A fixed offset per frame (not per epoch): the verdicts, not the aim, learn tolerance.
        digest = hashlib.sha256(f"{row.get('episode_id')}/{row.get('frame_index')}".encode())
        u = [b / 255.0 for b in digest.digest()[:2]]
        target = [target[0] + (2 * u[0] - 1) * AIM_JITTER_M,
                  target[1] + (2 * u[1] - 1) * AIM_JITTER_M, target[2]]
    stated = _fmt_xyz(target[:2] if xy_only else target)
    text = f'Next: the {name} at {stated}.' if name else f'Next: {stated}.'
    return text, target[:2]


def gripper_relations(seen: Sequence[tuple[str, str]], current: Sequence[float],
                      gripper: str) -> list[str]:
    """The stated objects the gripper is over (x-y within :data:`AIM_XY_TOL_M`), in the
    reasoning's order, skipping one a closed gripper holds (within :data:`HELD_DZ_M` of its
    height).

    ``seen`` holds ``(name, '[x, y, z]')`` statements in the reasoning's order and ``current``
    the gripper's env-frame point (metres).
    """
    names = []
    for name, xyz in seen:
        obj = _parse_xyz(xyz)
        if xy_gap_m(current, obj) > AIM_XY_TOL_M:
            continue
        if gripper == 'closed' and abs(float(current[2]) - obj[2]) <= HELD_DZ_M:
            continue  # the carried object moves with the gripper: no place
        names.append(name)
    return names


def gripper_relation(seen: Sequence[tuple[str, str]], current: Sequence[float],
                     gripper: str) -> str:
    """The first of :func:`gripper_relations` (``aim_rel``), '' when there is none."""
    names = gripper_relations(seen, current, gripper)
    return names[0] if names else ''


def _aim_reasoning(row: dict[str, Any], with_gripper: bool = True, think: str = 'aim') -> str:
    """The ``aim`` reasoning of an open-keypoint row (template reasoning without objects);
    ``with_gripper`` False leaves the target's gripper state out (a position question); a
    ``think`` of :data:`RELATION_KINDS` states what the gripper is over, naming as many objects
    as it says."""
    gold = str(row.get('gold_think') or '')
    seen = [(name, xyz) for name, xyz in _SEEN_RE.findall(gold) if name != 'gripper']
    target, current = row.get('target_xyz_env_m'), row.get('current_xyz_env_m')
    if not seen or target is None or current is None:
        return gold
    aim = _aim_name(seen, current, target)
    grip = f", {row.get('target_gripper')}" if with_gripper else ''
    state = str(row.get('current_gripper'))
    over = (gripper_relations(seen, current, state)[:RELATION_KINDS[think]]
            if think in RELATION_KINDS else [])
    place = f", over the {' and the '.join(over)}" if over else ''
    digits = PLACE_DIGITS.get(think)
    show = digits or _fmt_xyz
    # The metres' statements are kept as the dataset wrote them.
    stated = ' '.join(f'The {name} is at {digits(_parse_xyz(xyz)) if digits else xyz}.'
                      for name, xyz in seen)
    return (f"{stated} The gripper is at {show(current)}, {state}{place}. "
            f"Next: the {aim} at {show(target)}{grip}.")


def completion(row: dict[str, Any], think: str,
               facts: dict[tuple[str, int], dict[str, str]] | None = None) -> str:
    """The gold completion (``<think>..</think><answer>..</answer>``) of a row."""
    return format_completion(reasoning(row, think, facts), str(row['answer_text']))
