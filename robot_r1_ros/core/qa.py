"""From recorded demonstrations to QA samples of the four tasks (the paper's Sec. 3.2 and 4.1).

Pipeline for one :class:`Episode` (per-frame TCP positions, gripper flags, joint velocities,
image indices):

1. keyframes: given with the episode, or found by ``core.keyframes.discover_keyframes``;
2. observation frames: every ``frame_interval`` frames before each keyframe (plus the segment
   start), each paired with its next keyframe (``sample_observation_frames``); frames without an
   image (``image_indices == -1``) are skipped;
3. one question per task kind and observation:

   - ``next_waypoint``: options = the next keyframe's position + 3 distractors;
   - ``current_state``: options = the current position + 3 distractors (no state in the text);
   - ``movement``: options = the movement label + 3 adjacent labels (``core.movement``);
     observations whose move is inside the dead band on every axis are dropped
     (``drop_static``), since their label would be empty;
   - ``open_keypoint``: the answer ``[x, y, z] open|closed`` of the next keyframe.

Distractors (positions, env frame, rounded to the 3 decimals shown):

- ``random`` (the paper's): uniform in the distractor box (its "valid state space",
  ``QAConfig.distractor_space()``, a sub-box of the workspace);
- ``hard``: positions of the same phase (keyframe ordinal) in *other* episodes, from a
  :class:`DistractorPool`; with random distractors a text-only rule answers ~95 % of
  waypoint questions (research note on small-model learnability), same-phase positions remove
  that shortcut. When the pool has too few candidates, random ones fill up (counted in
  ``QABuilder.stats['hard_fallback']``);
- ``mixed``: each question draws ``random`` or ``hard`` with equal probability.

No two options are closer than ``min_separation_m`` (Euclidean, on the rounded values).

Answer letters are balanced: for each task kind the builder deals letters from shuffled blocks
of A-D, so over a whole build every letter's count differs by at most one per kind. Everything
random comes from one ``numpy`` generator seeded by ``QAConfig.seed``: the same episodes in the
same order give the same samples.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from robot_r1_ros.core.config import QAConfig
from robot_r1_ros.core.errors import BadInputError
from robot_r1_ros.core.geometry import EnvFrame, Workspace
from robot_r1_ros.core.grounding import grounding_samples, object_label
from robot_r1_ros.core.keyframes import discover_keyframes, sample_observation_frames
from robot_r1_ros.core.movement import adjacent_movements, movement_parts, movement_text
from robot_r1_ros.core.parsing import (OPTION_LETTERS, format_number, format_open_keypoint,
                                       format_option, format_xyz)
from robot_r1_ros.core.prompts import (DEFAULT_GRIPPER_TEXT, SYSTEM_PROMPT, PromptMetadata,
                                       build_messages)
from robot_r1_ros.core.types import XYZ, GripperState, QASample, TaskKind

_MAX_TRIES = 2000


@dataclass(frozen=True, eq=False)
class Episode:
    """One recorded demonstration.

    Attributes:
        episode_id: Unique identifier (e.g. the bag name).
        instruction: Task description shown in the prompt.
        ee_xyz_base_m: (T, 3) TCP positions in the base frame, metres.
        gripper_open: (T,) gripper open flag per frame.
        joint_velocities: (T, J) joint velocities in rad/s (needed only to find keyframes).
        image_indices: (T,) index of each frame's image, -1 where none; None = frame index.
        keyframes: Precomputed keyframe indices, or None to detect them.
        object_xyz_base_m: name -> (T, 3) position of each recorded object per frame (base
            frame), the source of the grounding questions (``core.grounding``); None or empty
            when the recording has no object poses (then none are built).
    """

    episode_id: str
    instruction: str
    ee_xyz_base_m: np.ndarray
    gripper_open: np.ndarray
    joint_velocities: np.ndarray | None = None
    image_indices: np.ndarray | None = None
    keyframes: tuple[int, ...] | None = None
    object_xyz_base_m: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        xyz = np.asarray(self.ee_xyz_base_m, dtype=float)
        if xyz.ndim != 2 or xyz.shape[1] != 3 or len(xyz) < 2:
            raise BadInputError(f'episode {self.episode_id}: ee_xyz_base_m must be (T>=2, 3), '
                                f'got {xyz.shape}')
        if not np.all(np.isfinite(xyz)):
            raise BadInputError(f'episode {self.episode_id}: ee_xyz_base_m must be finite')
        n = len(xyz)
        grip = np.asarray(self.gripper_open).astype(bool)
        if grip.shape != (n,):
            raise BadInputError(f'episode {self.episode_id}: gripper_open must be ({n},), '
                                f'got {grip.shape}')
        object.__setattr__(self, 'ee_xyz_base_m', xyz)
        object.__setattr__(self, 'gripper_open', grip)
        if self.joint_velocities is not None:
            vel = np.asarray(self.joint_velocities, dtype=float)
            if vel.ndim != 2 or len(vel) != n:
                raise BadInputError(f'episode {self.episode_id}: joint_velocities must be '
                                    f'({n}, J), got {vel.shape}')
            object.__setattr__(self, 'joint_velocities', vel)
        images = (np.arange(n) if self.image_indices is None
                  else np.asarray(self.image_indices).astype(int))
        if images.shape != (n,):
            raise BadInputError(f'episode {self.episode_id}: image_indices must be ({n},), '
                                f'got {images.shape}')
        object.__setattr__(self, 'image_indices', images)
        if self.keyframes is not None:
            keys = tuple(sorted({int(k) for k in self.keyframes}))
            if keys and (keys[0] < 1 or keys[-1] >= n):
                raise BadInputError(f'episode {self.episode_id}: keyframes must be in '
                                    f'[1, {n - 1}], got {keys}')
            object.__setattr__(self, 'keyframes', keys)
        objects = {}
        for name, track in (self.object_xyz_base_m or {}).items():
            arr = np.asarray(track, dtype=float)
            if arr.shape != (n, 3) or not np.all(np.isfinite(arr)):
                raise BadInputError(f'episode {self.episode_id}: object {name!r} positions must '
                                    f'be finite ({n}, 3), got {arr.shape}')
            objects[str(name)] = arr
        object.__setattr__(self, 'object_xyz_base_m', objects)
        if not isinstance(self.instruction, str) or not self.instruction.strip():
            raise BadInputError(f'episode {self.episode_id}: instruction must be non-empty')

    def __len__(self) -> int:
        return len(self.ee_xyz_base_m)

    def find_keyframes(self, config: QAConfig | None = None) -> list[int]:
        """The episode's keyframes (given, or detected with the config's method)."""
        if self.keyframes is not None:
            return list(self.keyframes)
        if self.joint_velocities is None:
            raise BadInputError(f'episode {self.episode_id}: needs keyframes or joint_velocities')
        cfg = config or QAConfig()
        return discover_keyframes(self.gripper_open, self.joint_velocities,
                                  method=cfg.keyframe_method, stopping_delta=cfg.stopping_delta,
                                  still_delta=cfg.still_delta)

    def observations(self, config: QAConfig | None = None) -> list[tuple[int, int, int]]:
        """``(frame, keyframe, phase)`` triples that have an image."""
        cfg = config or QAConfig()
        keys = self.find_keyframes(cfg)
        phase_of = {k: i for i, k in enumerate(keys)}
        pairs = sample_observation_frames(
            keys, cfg.frame_interval, cfg.include_segment_start,
            cfg.max_frames_per_segment or None)
        has_image = self.image_indices >= 0  # type: ignore[operator]
        chosen = [(f, k) for f, k in pairs if has_image[f]]
        covered = {k for _, k in chosen}
        prev = 0
        for key in keys:  # a segment whose sampled frames have no image: use any imaged frame
            if key not in covered:
                chosen += [(f, key) for f in range(prev, key) if has_image[f]]
            prev = key
        return sorted((f, k, phase_of[k]) for f, k in set(chosen))


@dataclass
class DistractorPool:
    """Positions per phase from many episodes, the source of "hard" distractors.

    Attributes:
        targets: phase -> (episode ids (N,), keyframe positions (N, 3) base frame).
        currents: phase -> (episode ids (N,), observation positions (N, 3) base frame).
    """

    targets: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    currents: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    objects: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_episodes(cls, episodes: Iterable[Episode],
                      config: QAConfig | None = None) -> 'DistractorPool':
        """Collect keyframe and observation positions by phase."""
        cfg = config or QAConfig()
        targets: dict[int, list] = collections.defaultdict(list)
        currents: dict[int, list] = collections.defaultdict(list)
        objects: dict[str, list] = collections.defaultdict(list)
        for ep in episodes:
            for name, track in (ep.object_xyz_base_m or {}).items():
                objects[name].append((ep.episode_id, track[0]))
            for i, key in enumerate(ep.find_keyframes(cfg)):
                targets[i].append((ep.episode_id, ep.ee_xyz_base_m[key]))
            for frame, _, phase in ep.observations(cfg):
                currents[phase].append((ep.episode_id, ep.ee_xyz_base_m[frame]))

        def pack(table: dict[int, list]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
            return {p: (np.array([e for e, _ in rows]), np.array([x for _, x in rows]))
                    for p, rows in table.items()}

        return cls(pack(targets), pack(currents), pack(objects))  # type: ignore[arg-type]

    def object_candidates(self, name: str, exclude_episode: str) -> np.ndarray:
        """(N, 3) initial positions of object ``name`` in episodes other than the given one."""
        if name not in self.objects:
            return np.zeros((0, 3))
        ids, xyz = self.objects[name]
        return xyz[ids != exclude_episode]

    def candidates(self, kind: TaskKind, phase: int, exclude_episode: str) -> np.ndarray:
        """(N, 3) base-frame positions of ``phase`` from episodes other than the given one."""
        table = self.currents if kind is TaskKind.CURRENT_STATE else self.targets
        if phase not in table:
            return np.zeros((0, 3))
        ids, xyz = table[phase]
        return xyz[ids != exclude_episode]


def _rounded(xyz: Sequence[float]) -> XYZ:
    """Coordinates as they read back from the prompt (3 decimals)."""
    return tuple(float(format_number(v)) for v in xyz)  # type: ignore[return-value]


class QABuilder:
    """Builds QA samples episode by episode with balanced letters and seeded randomness.

    Args:
        config: QA settings.
        distractor_space: Box that random distractors are drawn from (base frame), normally
            ``config.distractor_space()``.
        env_frame: Frame of every position in the prompts and answers.
        pool: Source of hard distractors (required for ``'hard'``/``'mixed'``).
        gripper_text: Gripper-size sentence of the prompt metadata.
        system_prompt: System prompt of the messages.

    Attributes:
        stats: Counters: samples per kind, ``dropped_static``, ``hard_fallback``.
    """

    def __init__(self, config: QAConfig, distractor_space: Workspace, env_frame: EnvFrame,
                 pool: DistractorPool | None = None, gripper_text: str = DEFAULT_GRIPPER_TEXT,
                 system_prompt: str = SYSTEM_PROMPT) -> None:
        if config.distractor_kind in ('hard', 'mixed') and pool is None:
            raise BadInputError(f"distractor_kind '{config.distractor_kind}' needs a "
                                'DistractorPool')
        self.config = config
        self.distractor_space = distractor_space
        self.env_frame = env_frame
        self.pool = pool
        self.gripper_text = gripper_text
        self.system_prompt = system_prompt
        self.rng = np.random.default_rng(config.seed)
        self.stats: collections.Counter[str] = collections.Counter()
        self._letters: dict[TaskKind, list[str]] = collections.defaultdict(list)

    def _next_letter(self, kind: TaskKind) -> str:
        queue = self._letters[kind]
        if not queue:
            queue.extend(OPTION_LETTERS[i] for i in self.rng.permutation(len(OPTION_LETTERS)))
        return queue.pop()

    def _far_enough(self, xyz: XYZ, chosen: list[XYZ]) -> bool:
        limit = self.config.min_separation_m
        return all(np.linalg.norm(np.subtract(xyz, c)) >= limit for c in chosen)

    def _random_positions(self, chosen: list[XYZ], k: int) -> list[XYZ]:
        out: list[XYZ] = []
        for _ in range(_MAX_TRIES):
            if len(out) == k:
                return out
            base = self.distractor_space.sample(self.rng, 1)[0]
            xyz = _rounded(self.env_frame.base_to_env(base))
            if self._far_enough(xyz, chosen + out):
                out.append(xyz)
        if len(out) == k:
            return out
        raise BadInputError(f'could not place {k} distractors {self.config.min_separation_m} m '
                            'apart in the distractor box; lower qa.min_separation_m')

    def _hard_positions(self, kind: TaskKind, phase: int, episode_id: str,
                        chosen: list[XYZ], k: int) -> tuple[list[XYZ], int]:
        """Up to k same-phase positions, topped up with random ones; returns (positions,
        number of random ones)."""
        assert self.pool is not None
        base = self.pool.candidates(kind, phase, episode_id)
        out: list[XYZ] = []
        if len(base):
            env = self.env_frame.base_to_env(base)
            for i in self.rng.permutation(len(env)):
                xyz = _rounded(env[i])
                if self._far_enough(xyz, chosen + out):
                    out.append(xyz)
                    if len(out) == k:
                        return out, 0
        self.stats['hard_fallback'] += 1
        return out + self._random_positions(chosen + out, k - len(out)), k - len(out)

    def _position_options(self, kind: TaskKind, answer: XYZ, phase: int,
                          episode_id: str) -> tuple[list[XYZ], str, int]:
        """Three distractors, the kind used, and how many are random top-ups."""
        mode = self.config.distractor_kind
        if mode == 'mixed':
            mode = 'hard' if self.rng.random() < 0.5 else 'random'
        if mode == 'hard':
            positions, n_random = self._hard_positions(kind, phase, episode_id, [answer], 3)
            return positions, 'hard', n_random
        return self._random_positions([answer], 3), 'random', 3

    def _arrange(self, kind: TaskKind, answer: str, distractors: list[str]
                 ) -> tuple[tuple[str, ...], str]:
        letter = self._next_letter(kind)
        slot = OPTION_LETTERS.index(letter)
        others = [distractors[i] for i in self.rng.permutation(len(distractors))]
        options = others[:slot] + [answer] + others[slot:]
        return tuple(options), letter

    def build_episode(self, episode: Episode) -> list[QASample]:
        """All questions of one episode, in (frame, task) order."""
        cfg = self.config
        samples: list[QASample] = []
        for frame, key, phase in episode.observations(cfg):
            cur_env = _rounded(self.env_frame.base_to_env(episode.ee_xyz_base_m[frame]))
            tgt_env = _rounded(self.env_frame.base_to_env(episode.ee_xyz_base_m[key]))
            cur_grip = GripperState.from_bool(episode.gripper_open[frame])
            tgt_grip = GripperState.from_bool(episode.gripper_open[key])
            parts = movement_parts(np.subtract(tgt_env, cur_env), cfg.movement_dead_band_m,
                                   cfg.movement_slight_ratio)
            metadata = PromptMetadata.from_env_frame(self.env_frame, cur_env, cur_grip,
                                                     self.gripper_text)
            common = dict(episode_id=episode.episode_id, frame_index=int(frame),
                          image_index=int(episode.image_indices[frame]),  # type: ignore[index]
                          keyframe_index=int(key), phase=int(phase),
                          instruction=episode.instruction, current_xyz_env_m=cur_env,
                          target_xyz_env_m=tgt_env)
            extra = {'movement_parts': parts, 'current_gripper': cur_grip.value,
                     'target_xyz_base_m': tuple(map(float, episode.ee_xyz_base_m[key]))}
            if episode.object_xyz_base_m:
                # Where the objects the instruction names are: the open keypoint's reasoning
                # states them first (``template_reasoning``), so that it reads the image.
                extra['objects_env_m'] = {
                    n: _rounded(self.env_frame.base_to_env(t[frame]))
                    for n, t in episode.object_xyz_base_m.items()
                    if object_label(n) in episode.instruction}
            if episode.object_xyz_base_m and any(k.is_grounding for k in cfg.task_kinds):
                objects = {n: t[frame] for n, t in episode.object_xyz_base_m.items()}
                elsewhere = {n: self.pool.object_candidates(n, episode.episode_id)
                             for n in objects} if self.pool is not None else {}
                samples.extend(grounding_samples(self, objects, elsewhere, metadata, common,
                                                 dict(extra)))
            for kind in cfg.task_kinds:
                if kind.is_grounding:
                    continue
                if kind is TaskKind.OPEN_KEYPOINT:
                    answer_text = format_open_keypoint(tgt_env, tgt_grip)
                    messages = build_messages(kind, episode.instruction, metadata,
                                              system_prompt=self.system_prompt)
                    samples.append(QASample(kind=kind, messages=messages, answer_text=answer_text,
                                            target_gripper=tgt_grip.value, extra=dict(extra),
                                            **common))
                elif kind is TaskKind.MOVEMENT:
                    if not any(parts):
                        self.stats['dropped_static'] += 1
                        continue
                    answer = movement_text(parts)
                    wrong = [movement_text(p) for p in adjacent_movements(parts, self.rng)]
                    options, letter = self._arrange(kind, answer, wrong)
                    samples.append(self._mcq(kind, metadata, options, letter, '', common,
                                             dict(extra)))
                else:
                    right = tgt_env if kind is TaskKind.NEXT_WAYPOINT else cur_env
                    positions, mode, n_random = self._position_options(
                        kind, right, phase, episode.episode_id)
                    options, letter = self._arrange(kind, format_xyz(right),
                                                    [format_xyz(p) for p in positions])
                    samples.append(self._mcq(kind, metadata, options, letter, mode, common,
                                             {**extra, 'random_distractors': n_random}))
                self.stats[kind.value] += 1
        return samples

    def _mcq(self, kind: TaskKind, metadata: PromptMetadata, options: tuple[str, ...],
             letter: str, mode: str, common: dict, extra: dict) -> QASample:
        messages = build_messages(kind, common['instruction'], metadata, options,
                                  system_prompt=self.system_prompt)
        return QASample(kind=kind, messages=messages, answer_text=format_option(letter),
                        options=options, answer_letter=letter, distractor_kind=mode,
                        extra=extra, **common)

    def build(self, episodes: Iterable[Episode]) -> list[QASample]:
        """Questions of several episodes, in order."""
        out: list[QASample] = []
        for episode in episodes:
            out.extend(self.build_episode(episode))
        return out


def build_qa_samples(episodes: Sequence[Episode], config: QAConfig,
                     distractor_space: Workspace, env_frame: EnvFrame,
                     pool: DistractorPool | None = None) -> list[QASample]:
    """Build the QA samples of a set of episodes.

    For ``'hard'``/``'mixed'`` distractors without a ``pool``, the pool is built from
    ``episodes`` themselves (a sample never takes distractors from its own episode).

    Args:
        episodes: The demonstrations.
        config: QA settings (tasks, distractors, seed...).
        distractor_space: Box of the random distractors (``config.distractor_space()``).
        env_frame: Frame of the prompt positions.
        pool: Optional hard-distractor pool (e.g. from the training split only).

    Returns:
        The samples, episode by episode.
    """
    if pool is None and config.distractor_kind in ('hard', 'mixed'):
        pool = DistractorPool.from_episodes(episodes, config)
    return QABuilder(config, distractor_space, env_frame, pool).build(episodes)


def template_reasoning(sample: QASample) -> str:
    """A short scripted reasoning for SFT warm-up.

    With recorded object poses, the open keypoint's reasoning first says where the objects the
    instruction names are (``The red cube is at [..]. The yellow zone is at [..].``), facts only
    the image shows, so that the keypoint that follows can build on them; grounding questions
    state the object's position (and the option letter).

    Returns:
        e.g. ``'The gripper is at [0.1, 0.0, 0.3] and must slightly move forward and move down
        to reach [0.15, 0.0, 0.1], which is option C.'``
    """
    cur = format_xyz(sample.current_xyz_env_m) if sample.current_xyz_env_m else '?'
    move = movement_text(sample.extra.get('movement_parts', (0, 0, 0)))
    target = format_xyz(sample.target_xyz_env_m) if sample.target_xyz_env_m else '?'
    letter = sample.answer_letter
    if sample.kind.is_grounding:
        where = f'The {object_label(sample.extra.get("subject", "object"))} is at {target}'
        return f'{where}, option {letter}.' if letter else f'{where}.'
    if sample.kind is TaskKind.CURRENT_STATE:
        shown = sample.options[OPTION_LETTERS.index(letter)] if letter else '?'
        return f'The gripper appears at {shown}, which is option {letter}.'
    if sample.kind is TaskKind.MOVEMENT:
        return (f'From {cur} the gripper must {move} to reach the next waypoint, '
                f'which is option {letter}.')
    if sample.kind is TaskKind.NEXT_WAYPOINT:
        return f'The gripper is at {cur} and must {move} to reach {target}, option {letter}.'
    seen = ''.join(f'The {object_label(n)} is at {format_xyz(xyz)}. '
                   for n, xyz in sorted(sample.extra.get('objects_env_m', {}).items()))
    return (f'{seen}The gripper is at {cur} and must {move} to reach {target}, '
            f'{sample.target_gripper}.')
