"""Text-only comparison rows: the ``aim_pair`` verdicts with the aim given (the task ``aim_compare``).

An ``aim_pair`` next-waypoint answer reads the aim from the image (``Next: the red cube at
[x, y].``) and then judges each option by the pair ``A [ox,oy] [x,y] no.``. The two skills fail
apart: E90 read positions to 0.8 cm on open keypoints and still chose the right next waypoint
on 56 / 40 % (random / hard) of the questions. A text-only probe with the aim written in the
prompt learned the verdicts in 12 CPU-minutes, and priming a trained model with it lifted hard
next waypoint from 52 to 73 % (E78 against E79). These rows are that probe as a curriculum task:
each next-waypoint training row, without its image, with the aim its reasoning states (the same
jittered aim) written into a short prompt, and the row's own ``aim_pair`` completion as the
target. A stage mixes them in by weight like any task; they are training-only, never asked by
the node or the evaluation.

With ``think: aim_key`` or ``aim_key_cm`` the rows teach that reasoning's match instead: the
aim's sentence (``Next: the red cube at [5,11].``, the gold option's x-y) in the prompt, and the
row's own listing, aim and letter as the target. In the text-only probe a q/k x4 start learned
the centimetre form's letter on 87.5 % of unseen hard questions in 32 CPU-minutes, but 12
CPU-minutes of these short prompts did not carry over to the scene prompt (P9, E116 in
``experiments/issue13_keycm.md``): mix them beside scene rows, not instead of them.
"""
from __future__ import annotations

from typing import Any

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.parsing import format_completion, format_xyz
from robot_r1_ros.training.think_targets import KEY_KINDS, LETTERS, reasoning

#: The task name of the text-only comparison rows in a stage's ``tasks`` and ``weights``.
AIM_COMPARE = 'aim_compare'
#: The only reasoning kind whose verdicts these rows teach.
AIM_COMPARE_THINK = 'aim_pair'
#: The think kinds whose next-waypoint reasoning is ``aim_pair``'s (jittered aims, as its rows)
#: or a listing with letters (:data:`think_targets.KEY_KINDS`), so a run may mix these rows in.
AIM_COMPARE_THINKS = ('aim_pair', 'aim_rel', 'aim_over') + KEY_KINDS


def compare_prompt(row: dict[str, Any], aim_sentence: str) -> str:
    """The text-only prompt of one next-waypoint row: the gripper now, the four options and the
    stated aim (``aim_sentence``, the first sentence of the row's ``aim_pair`` reasoning)."""
    options = ''.join(f'[[{letter}]] {opt}\n' for letter, opt in zip(LETTERS, row['options']))
    return (f"Current gripper position: {format_xyz(row['current_xyz_env_m'])} "
            f"({row['current_gripper']}).\nOptions:\n"
            f"{options}Aim: {aim_sentence}\nWhich option is the aim?")


def compare_texts(row: dict[str, Any], facts: dict[tuple[str, int], dict[str, str]],
                  think_kind: str = AIM_COMPARE_THINK) -> tuple[str, str] | None:
    """``(prompt, completion)`` of one next-waypoint row, or None for a row without a stated
    aim or without four options (nothing to compare).

    ``think_kind``: ``aim_pair`` (the verdicts; also for ``aim_rel`` / ``aim_over``, whose
    next-waypoint reasoning is the same) or a :data:`think_targets.KEY_KINDS` kind (the
    listing, then the aim with its letter).
    """
    if row.get('task_kind') != 'next_waypoint' or len(row.get('options') or []) != 4:
        return None
    if think_kind in KEY_KINDS:
        think = reasoning(row, think_kind, facts)
        at = think.find('Next:')
        letter = f" {row.get('answer_letter')}."
        if at < 0 or not think.endswith(letter):
            return None
        aim_sentence = think[at:-len(letter)] + '.'
    else:
        think = reasoning(row, AIM_COMPARE_THINK, facts)
        if not think.startswith('Next:') or '. ' not in think:
            return None
        aim_sentence = think.split('. ', 1)[0] + '.'
    return compare_prompt(row, aim_sentence), format_completion(think, str(row['answer_text']))


def encode_compare_rows(processor: Any, dataset: Any, think: str,
                        facts: dict[tuple[str, int], dict[str, str]], end_id: int
                        ) -> list[dict[str, Any]]:
    """The comparison rows of ``dataset``'s next-waypoint rows, encoded the way
    :class:`training.encoded.Encoded` encodes a row (``key`` None: no image; the row is its
    own compact prompt, positions ``0..n-1`` on all three rotary axes).

    Raises:
        ConfigError: ``think`` is not in :data:`AIM_COMPARE_THINKS` (the rows teach
            ``aim_pair``'s verdicts or the ``aim_key`` match), or the dataset has no
            next-waypoint row with a stated aim.
    """
    import torch
    if think not in AIM_COMPARE_THINKS:
        raise ConfigError(f'the {AIM_COMPARE} task teaches the {AIM_COMPARE_THINK} verdicts or '
                          f'the aim_key match (think {AIM_COMPARE_THINKS}); think is {think!r}',
                          'think')
    kind = think if think in KEY_KINDS else AIM_COMPARE_THINK
    tok = processor.tokenizer
    keep = [i for i, t in enumerate(dataset['task_kind']) if t == 'next_waypoint']
    rows: list[dict[str, Any]] = []
    for row in dataset.select(keep).remove_columns('image'):
        texts = compare_texts(row, facts, kind)
        if texts is None:
            continue
        prompt, target = texts
        chat = processor.apply_chat_template(
            [{'role': 'user', 'content': [{'type': 'text', 'text': prompt}]}],
            tokenize=False, add_generation_prompt=True)
        ids = torch.tensor(tok(chat, add_special_tokens=False)['input_ids'])
        comp_ids = torch.tensor(tok(target, add_special_tokens=False)['input_ids'] + [end_id])
        mm = torch.zeros_like(ids)
        pos = torch.arange(len(ids) + len(comp_ids)).expand(3, -1).clone()
        rows.append({'prompt_ids': ids, 'mm': mm, 'comp_ids': comp_ids, 'key': None,
                     'compact': {'prompt_ids': ids, 'mm': mm, 'pos': pos},
                     'task_kind': AIM_COMPARE, 'distractor_kind': '',
                     'answer_letter': row['answer_letter']})
    if not rows:
        raise ConfigError(f'the {AIM_COMPARE} task needs next-waypoint rows with a stated aim; '
                          'the dataset has none', 'stages')
    return rows
