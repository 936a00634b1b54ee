"""Grounding questions: where is an object of the scene (dense spatial supervision).

The paper's four tasks can largely be answered from the text (research note on small-model
learnability: ~95 % of next-waypoint questions with its random distractors). These questions
cannot: the answer is where an object *is*, which only the image shows. They are built from
object poses recorded with the demo (the sim publishes ``/sim/object_poses``; a bag without
them yields none of these questions) for every observation frame the paper's tasks use:

- ``object_position`` (open): "Where is the red cube now?" -> ``[x, y, z]`` in the env frame,
  scored by the registry's ``position`` reward, clip(1 - L1, 0, 1) (the paper's open-ended
  reward);
- ``object_choice`` (4 options): the object's position among distractors that only the image
  separates: the *other* objects' (x, y) of the same frame, then the same object's (x, y) in
  other episodes, then random table points, all at the asked object's height (so the height
  does not give the answer away) and at least ``min_separation_m`` apart.

Subjects are every object the episode recorded (``red_cube``, ``green_cube``, ``blue_cube``,
``target_zone``), named in words (:func:`object_label`).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.parsing import format_number, format_option, format_xyz
from robot_r1_ros.core.prompts import PromptMetadata, build_messages
from robot_r1_ros.core.types import QASample, TaskKind

ZONE_NAME = 'target_zone'
"""The yellow zone's name in recorded object poses."""


def object_label(name: str) -> str:
    """How a prompt names an object: ``red_cube`` -> ``'red cube'``, zone -> ``'yellow zone'``."""
    if name == ZONE_NAME:
        return 'yellow zone'
    return name.replace('_', ' ').strip()


def _rounded_env(builder: Any, xyz_base_m: Any) -> tuple[float, float, float]:
    """Env-frame coordinates as they read back from the prompt (3 decimals, as qa's)."""
    xyz = builder.env_frame.base_to_env(np.asarray(xyz_base_m, float))
    return tuple(float(format_number(v)) for v in xyz)  # type: ignore[return-value]


def grounding_samples(builder: Any, objects_base_m: Mapping[str, np.ndarray],
                      other_episodes_base_m: Mapping[str, np.ndarray],
                      metadata: PromptMetadata, common: dict[str, Any],
                      extra: dict[str, Any]) -> list[QASample]:
    """The grounding questions of one observation frame.

    Args:
        builder: The ``core.qa.QABuilder`` (config, env frame, seeded generator, letter dealer,
            stats); typed ``Any`` because ``core.qa`` imports this module.
        objects_base_m: name -> (3,) position of every recorded object at this frame.
        other_episodes_base_m: name -> (N, 3) positions of the same object in other episodes
            (hard distractors; may be empty).
        metadata: The frame's prompt metadata.
        common: ``QASample`` fields shared by the frame's questions.
        extra: Analysis data shared by the frame's questions.

    Returns:
        ``object_position`` and/or ``object_choice`` samples (as ``config.task_kinds`` asks),
        one per object and kind.
    """
    kinds = [k for k in builder.config.task_kinds if k.is_grounding]
    out: list[QASample] = []
    for name in sorted(objects_base_m):
        answer = _rounded_env(builder, objects_base_m[name])
        subject = object_label(name)
        info = {**extra, 'subject': name}
        base = {**common, 'target_xyz_env_m': answer}
        for kind in kinds:
            if kind is TaskKind.OBJECT_POSITION:
                messages = build_messages(kind, common['instruction'], metadata,
                                          system_prompt=builder.system_prompt, subject=subject)
                out.append(QASample(kind=kind, messages=messages, answer_text=format_xyz(answer),
                                    extra=info, **base))
            else:
                others = [objects_base_m[n] for n in sorted(objects_base_m) if n != name]
                pool = other_episodes_base_m.get(name, np.zeros((0, 3)))
                distractors = _choice_distractors(builder, answer, others, pool)
                options, letter = builder._arrange(kind, format_xyz(answer),
                                                   [format_xyz(p) for p in distractors])
                messages = build_messages(kind, common['instruction'], metadata, options,
                                          system_prompt=builder.system_prompt, subject=subject)
                out.append(QASample(kind=kind, messages=messages,
                                    answer_text=format_option(letter), options=options,
                                    answer_letter=letter, distractor_kind='scene',
                                    extra=info, **base))
            builder.stats[kind.value] += 1
    return out


def _choice_distractors(builder: Any, answer: tuple[float, float, float],
                        others_base_m: list[np.ndarray], pool_base_m: np.ndarray
                        ) -> list[tuple[float, float, float]]:
    """Three positions at the answer's height: other objects, the object elsewhere, random."""
    rng = builder.rng
    candidates = [_rounded_env(builder, p) for p in others_base_m]
    candidates = [candidates[i] for i in rng.permutation(len(candidates))]
    if len(pool_base_m):
        picks = rng.permutation(len(pool_base_m))[:20]
        candidates += [_rounded_env(builder, pool_base_m[i]) for i in picks]
    chosen: list[tuple[float, float, float]] = []
    for xyz in candidates:
        at_height = (xyz[0], xyz[1], answer[2])
        if len(chosen) < 3 and builder._far_enough(at_height, [answer] + chosen):
            chosen.append(at_height)
    if len(chosen) < 3:
        builder.stats['grounding_random_fill'] += 1
    for _ in range(2000):
        if len(chosen) == 3:
            return chosen
        xyz = _rounded_env(builder, builder.distractor_space.sample(rng, 1)[0])
        at_height = (xyz[0], xyz[1], answer[2])
        if builder._far_enough(at_height, [answer] + chosen):
            chosen.append(at_height)
    raise BadInputError('could not place 3 grounding distractors apart from each other; '
                        'lower qa.min_separation_m')
