"""``robot-r1 learn``: one command to the shipped small checkpoint (issues 9 and 13).

    robot-r1 learn --recipe recipe_tiny_see --work-dir outputs/recipe_tiny_see \\
        --checkpoint-dir checkpoints/robot-r1-tiny-see  # the defaults

(``recipe_learn`` makes its base, ``checkpoints/robot-r1-tiny-learn``). A learn recipe names

- ``data.recipe``: the TRL recipe whose ``pipeline`` records expert demos and builds the dataset
  (issue 8's ``tiny_cpu``: 60 pick-and-place demos; ``--dataset``: an existing folder instead),
  or ``data.scenes``: :class:`robot_r1_ros.training.scene_data.SceneDataConfig` (the scripted
  expert in randomised scenes, asked where the closed loop asks; disjoint seed ranges per split);
- ``vision`` (optional): a vision pre-training stage (:mod:`robot_r1_ros.training.vision_pretrain`)
  giving the first link's ``model.path`` a trained, larger tower, at the first link's image
  size; a link with ``vision_aux`` keeps its position loss (said aloud);
- ``grow`` (optional): ``add_layers`` / ``mlp`` / ``hidden`` / ``attention_scale`` /
  ``rope_theta`` of
  :class:`robot_r1_ros.training.grow_lm.GrowConfig`: the first link's start (the vision stage's
  output, or its ``model.path``) gets a bigger language model whose new parts start silent;
- ``chain``: curriculum configs (``config/train/learn_*.yaml``, see
  :mod:`robot_r1_ros.training.curriculum`) run one after the other, each from the previous
  one's ``final/`` (the first from its own ``model.path``);
- ``eval``: ``robot-r1 eval`` (free greedy and the node's constrained decoding), the closed loop
  in the sim (the node's decoding, the scripted expert on the same seeds, a GIF, the cube-follow
  probe on the first ``follow_episodes`` seeds); ``max_rows_per_group`` caps questions per group.

Every step is skipped when its output is complete, and a curriculum run resumes from its
``resume/`` point, so the same command continues a killed run. ``--workers N``: the links train
in N data-parallel processes (:mod:`robot_r1_ros.training.workers`; the same CPU-minutes in
about 1/N of the time). The checkpoint folder gets the weights, both evaluation reports, the
plots, the GIF and a ``README.md`` model card.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from robot_r1_ros.core.errors import ConfigError, RobotR1Error
from robot_r1_ros.core.paths import REPO_ROOT
from robot_r1_ros.training import common, curriculum, evaluate, runlog
from robot_r1_ros.training.grow_lm import GrowConfig
from robot_r1_ros.training.learn_card import write_card
from robot_r1_ros.training.workers import launch, split_batch

_LOG = logging.getLogger(__name__)
_CONFIG_DIR = REPO_ROOT / 'config' / 'train'


@dataclass
class LearnRecipe:
    """A parsed ``recipe_learn.yaml`` (see the module docstring)."""

    name: str
    data_recipe: str
    chain: list[str]
    max_new_tokens: int = 256
    eval_batch_size: int = 16
    closed_loop_task: str = 'pick_place'
    closed_loop_episodes: int = 20
    closed_loop_max_keypoints: int = 10
    gif_episode: int = 0
    max_rows_per_group: int | None = None
    follow_episodes: int = 10
    source: str = ''
    extra: dict[str, Any] = field(default_factory=dict)
    vision: dict[str, Any] | None = None
    # data.scenes: a SceneDataConfig (rolled out in randomised scenes), or None (data.recipe)
    scenes: Any = None
    grow: Any = None  # a GrowConfig for the first link's start (after the vision stage), or None


_VISION_KEYS = ('frames', 'test_frames', 'hidden', 'depth', 'heads', 'mlp', 'lr', 'batch_size',
                'cpu_minutes', 'checkpoint_minutes', 'seed', 'digit_weight', 'frames_from',
                'image_pixels')


def load_learn_recipe(path: str | os.PathLike) -> LearnRecipe:
    """Parse a learn recipe (a path, or a name under ``config/train``).

    Raises:
        ConfigError: Missing file or keys, or a chain config that does not parse.
    """
    path = Path(path)
    if not path.is_file():
        path = _CONFIG_DIR / f'{path}.yaml'
        if not path.is_file():
            raise ConfigError(f'no learn recipe {path.stem!r} (looked in {_CONFIG_DIR.name}/)',
                              'recipe')
    raw = yaml.safe_load(path.read_text(encoding='utf-8')) or {}
    ev = raw.get('eval') or {}
    data = raw.get('data') or {}
    if not isinstance(data, dict) or set(data) - {'recipe', 'scenes'} or \
            ('recipe' in data) == ('scenes' in data):
        raise ConfigError(f'{path}: data needs exactly one of recipe (record demos) or scenes '
                          f'(roll out randomised scenes), got {data!r}', 'data')
    scenes = None
    if 'scenes' in data:
        from robot_r1_ros.training.scene_data import SceneDataConfig
        if not isinstance(data['scenes'], dict):
            raise ConfigError(f'{path}: data.scenes must be a mapping of scene data settings',
                              'data.scenes')
        scenes = SceneDataConfig.from_mapping(data['scenes'])
    try:
        recipe = LearnRecipe(
            name=str(raw['name']), data_recipe=str(data.get('recipe', '')), scenes=scenes,
            chain=[str(c) for c in raw['chain']],
            max_new_tokens=int(ev.get('max_new_tokens', 256)),
            eval_batch_size=int(ev.get('batch_size', 16)),
            closed_loop_task=str(ev.get('closed_loop_task', 'pick_place')),
            closed_loop_episodes=int(ev.get('closed_loop_episodes', 20)),
            closed_loop_max_keypoints=int(ev.get('closed_loop_max_keypoints', 10)),
            gif_episode=int(ev.get('gif_episode', 0)), source=str(path),
            max_rows_per_group=(None if ev.get('max_rows_per_group') is None
                                else int(ev['max_rows_per_group'])),
            follow_episodes=int(ev.get('follow_episodes', 10)),
            vision=raw.get('vision'),
            grow=None if raw.get('grow') is None else GrowConfig.from_mapping(raw['grow']))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f'{path}: bad learn recipe ({exc!r})', 'recipe') from exc
    if not recipe.chain:
        raise ConfigError(f'{path}: chain needs at least one curriculum config', 'chain')
    if recipe.vision is not None:
        _vision_config(recipe, base='')  # fail before hours of training (base set at run)
    if recipe.max_new_tokens < 80 or recipe.closed_loop_episodes < 0 or \
            recipe.follow_episodes < 0 or (recipe.max_rows_per_group is not None
                                         and recipe.max_rows_per_group < 1):
        raise ConfigError(f'{path}: eval.max_new_tokens must be >= 80 (room for an answer), '
                          'closed_loop_episodes and follow_episodes >= 0, max_rows_per_group '
                          '>= 1', 'eval')
    for name in recipe.chain:
        curriculum.load_config(name)  # fail before hours of training, not after
    return recipe


def _vision_config(recipe: LearnRecipe, base: str) -> Any:
    """The recipe's ``vision`` section as a validated ``VisionPretrainConfig`` at the first
    link's ``model.image_pixels`` (the tower is trained at the size it will see).

    Raises:
        ConfigError: Not a mapping, an unknown key, a bad value, another ``image_pixels``.
    """
    from robot_r1_ros.training.vision_pretrain import VisionPretrainConfig
    raw = recipe.vision
    if not isinstance(raw, dict):
        raise ConfigError(f'vision must be a mapping of stage settings, got {raw!r}', 'vision')
    unknown = sorted(set(raw) - set(_VISION_KEYS))
    if unknown:
        raise ConfigError(f'vision: unknown keys {unknown}; known: {", ".join(_VISION_KEYS)}',
                          'vision')
    link_pixels = curriculum.load_config(recipe.chain[0]).image_pixels
    if 'image_pixels' in raw and raw['image_pixels'] != link_pixels:
        raise ConfigError(f"vision: image_pixels {raw['image_pixels']} is not the first link's "
                          f'model.image_pixels {link_pixels} (the size the tower will see)',
                          'vision.image_pixels')
    try:
        return VisionPretrainConfig(base=base, **{**raw, 'image_pixels': link_pixels})
    except (TypeError, ValueError) as exc:
        raise ConfigError(f'vision: {exc}', 'vision') from None


def run_vision(recipe: LearnRecipe, work: Path) -> Path | None:
    """The vision stage (when the recipe has one): its ``final/`` checkpoint, the first link's
    start. Its base is the first link's ``model.path`` (language model and tokenizer kept)."""
    if recipe.vision is None:
        return None
    from robot_r1_ros.training import vision_pretrain
    base = curriculum.load_config(recipe.chain[0]).model_path
    cfg = _vision_config(recipe, base)
    out = work / '00_vision'
    if (out / 'report.json').is_file() and (out / 'final' / 'config.json').is_file():
        _say('vision stage: done before, kept')
    elif not (Path(base) / 'config.json').is_file():
        raise ConfigError(f'{recipe.chain[0]}: model.path {base} (the vision stage\'s base) is '
                          'not a checkpoint folder (no config.json)', 'model.path')
    else:
        _say(f'vision stage: {cfg.cpu_minutes:g} CPU-minutes, {cfg.frames} {cfg.frames_from} '
             f'frames, tower hidden {cfg.hidden} depth {cfg.depth}, from {base}')
        vision_pretrain.train(cfg, out)
    return out / 'final'


def _dataset_entry(recipe: LearnRecipe, work: Path) -> None:
    ensure_dataset(recipe, work, None)


def prepare(recipe: LearnRecipe, work: Path, dataset: Path | None,
            workers: int = 1) -> tuple[Path | None, Path]:
    """The vision stage's checkpoint (or None) and the dataset folder.

    With ``workers`` > 1 and both still to build, the scene data is rolled out in a second
    process while this one runs the vision stage (they do not depend on each other), so the
    recipe's first steps take the longer one's time, not their sum.

    Raises:
        RobotR1Error: The dataset's process failed (its traceback is in the log).
    """
    side = None
    if (workers > 1 and recipe.vision is not None and dataset is None
            and recipe.scenes is not None and not (work / 'dataset' / 'scene_data.json').is_file()
            and not (work / '00_vision' / 'report.json').is_file()):
        import multiprocessing
        side = multiprocessing.get_context('spawn').Process(
            target=_dataset_entry, args=(recipe, work), name='scene-data')
        side.start()
        _say('dataset: rolled out in a second process, beside the vision stage')
    try:
        vision = run_vision(recipe, work)  # before the data: a missing base fails first
    except BaseException:
        if side is not None:  # no half-built dataset keeps running behind an error
            side.terminate()
            side.join()
        raise
    if side is not None:
        side.join()
        if side.exitcode != 0:
            raise RobotR1Error(f'the scene data process failed (exit code {side.exitcode}); '
                               'its error is in the log above')
    return vision, ensure_dataset(recipe, work, dataset)


def run_grow(recipe: LearnRecipe, work: Path, start: Path | None) -> Path | None:
    """The grow step (when the recipe has one): ``start`` (or the first link's ``model.path``)
    with its language model grown, new parts silent (``training.grow_lm``); else ``start``."""
    if recipe.grow is None:
        return start
    from robot_r1_ros.training.grow_lm import grow
    base = start or Path(curriculum.load_config(recipe.chain[0]).model_path)
    out = work / '00_grow'
    done = out / 'grow.json'
    want = {'base': str(base), **dataclasses.asdict(recipe.grow)}
    # A grow step written before these fields existed is kept.
    for field, unchanged in (('attention_scale', 1), ('rope_theta', 0)):
        if want[field] == unchanged:
            del want[field]
    if done.is_file() and json.loads(done.read_text()) == want:
        _say('grow step: done before, kept')
        return out
    _say(f'grow step: language model of {base}: {recipe.grow.describe()} (new parts silent)')
    grow(base, recipe.grow, out)
    done.write_text(json.dumps(want))
    return out


def _say(message: str) -> None:
    print(f'[learn {time.strftime("%H:%M:%S")}] {message}', flush=True)


def _link_dir(work: Path, index: int, name: str) -> Path:
    return work / f'{index + 1:02d}_{Path(name).stem}'


def _link_done(run_dir: Path) -> bool:
    return (run_dir / 'run_info.json').is_file() and (run_dir / 'final' / 'config.json').is_file()


def ensure_dataset(recipe: LearnRecipe, work: Path, dataset: Path | None) -> Path:
    """The dataset folder: ``dataset`` when given, else recorded and built under ``work``."""
    if dataset is not None:
        if not (dataset / 'dataset_dict.json').is_file():
            raise ConfigError(f'{dataset} is not a robot-r1 dataset folder (no '
                              'dataset_dict.json)', 'dataset')
        return dataset
    if recipe.scenes is not None:
        out = work / 'dataset'
        if (out / 'dataset_dict.json').is_file() and (out / 'scene_data.json').is_file():
            _say('dataset: rolled out before, kept')
            return out
        from robot_r1_ros.training.scene_data import build_scene_dataset
        cfg = recipe.scenes
        _say(f'dataset: expert rollouts in {cfg.train_scenes} / {cfg.validation_scenes} / '
             f'{cfg.test_scenes} randomised scenes (train / validation / test)')
        info = build_scene_dataset(cfg, out)
        _say('dataset: ' + ', '.join(f'{s} {v["rows"]} rows' for s, v in info['splits'].items()))
        return out
    from robot_r1_ros.training import pipeline
    from robot_r1_ros.training.recipe import load_recipe
    data_recipe = load_recipe(recipe.data_recipe)
    _say(f'demos: {data_recipe.pipeline.episodes} x {data_recipe.pipeline.task} '
         f'(recipe {recipe.data_recipe})')
    pipeline.record_demos(data_recipe, work / 'demos')
    info = pipeline.make_dataset(data_recipe, work / 'demos', work / 'dataset')
    _say('dataset: ' + ', '.join(f'{s} {v["rows"]} rows' for s, v in info['splits'].items()))
    return work / 'dataset'


def run_chain(recipe: LearnRecipe, work: Path, dataset: Path, start: Path | None = None,
              workers: int = 1, threads: int = 1) -> list[Path]:
    """Train every curriculum config of the chain (in ``workers`` processes of ``threads``
    torch threads); returns the run folders.

    ``start``: the first link's start checkpoint instead of its ``model.path`` (the vision
    stage's or the grow step's output). With a vision stage, a link with ``vision_aux`` trains
    on that stage's frames and heads; a later link's auxiliary heads start from the ones the
    previous link trained (its ``aux_heads.pt``).
    """
    runs: list[Path] = []
    previous: Path | None = None
    vision_dir = work / '00_vision' if recipe.vision is not None else None
    for i, name in enumerate(recipe.chain):
        run_dir = _link_dir(work, i, name)
        cfg = curriculum.load_config(name)
        # The chain decides the data and (after the first link) the start model: say so, never
        # replace a config's value silently.
        overrides = {'data.path': (cfg.dataset, str(dataset))}
        begin = previous / 'final' if previous is not None else start
        if begin is not None:
            overrides['model.path'] = (cfg.model_path, str(begin))
        if vision_dir is not None and cfg.vision_aux is not None:
            overrides['vision_aux.frames'] = (cfg.vision_aux.frames,
                                              str(vision_dir / 'frames.npz'))
            overrides['vision_aux.heads'] = (cfg.vision_aux.heads, str(vision_dir / 'heads.pt'))
        held = previous / 'aux_heads.pt' if previous is not None else None
        if held is not None and held.is_file() and cfg.has_aux_heads:
            # the heads the previous link trained, not fresh ones its model never met
            overrides['model.aux_heads_from'] = (cfg.aux_heads_from, str(held))
        for key, (was, now) in overrides.items():
            if was != now:
                _say(f'{name}: {key} {was} -> {now} (set by the chain)')
        cfg.dataset = str(dataset)
        if begin is not None:
            cfg.model_path = str(begin)
        if 'model.aux_heads_from' in overrides:
            cfg.aux_heads_from = overrides['model.aux_heads_from'][1]
        if 'vision_aux.frames' in overrides:
            cfg.vision_aux = dataclasses.replace(
                cfg.vision_aux, frames=overrides['vision_aux.frames'][1],
                heads=overrides['vision_aux.heads'][1])
        if _link_done(run_dir):
            _say(f'{i + 1}/{len(recipe.chain)} {name}: done before, kept')
        else:
            _say(f'{i + 1}/{len(recipe.chain)} {name}: '
                 f'{curriculum.describe_length(cfg.stages)} from {cfg.model_path}')
            launch(curriculum.train_worker, workers, cfg, run_dir, threads=threads,
                   log_level=logging.getLevelName(logging.getLogger().level))
        runs.append(run_dir)
        previous = run_dir
    return runs


def run_eval(recipe: LearnRecipe, final: Path, dataset: Path, work: Path) -> dict[str, Any]:
    """Free and constrained held-out evaluations, and the closed loop with its GIF."""
    reports: dict[str, Any] = {}
    for mode in ('free', 'constrained'):
        out = work / f'eval_{mode}'
        saved = out / 'report.json'
        if saved.is_file() and saved.stat().st_mtime > \
                (final / 'model.safetensors').stat().st_mtime:
            report = json.loads(saved.read_text())
            if report.get('model') == str(final):  # the same checkpoint, evaluated after it
                reports[mode] = report
                continue
        _say(f'evaluation ({mode} decoding)')
        cl = None
        if mode == 'constrained' and recipe.closed_loop_episodes > 0:
            # The closed loop decodes as the reasoning node does (constrained, its default).
            cl = evaluate.ClosedLoopSettings(
                task=recipe.closed_loop_task, episodes=recipe.closed_loop_episodes,
                max_keypoints=recipe.closed_loop_max_keypoints,
                max_new_tokens=recipe.max_new_tokens, constrained=True,
                gif_path=str(out / 'closed_loop.gif'), gif_episode=recipe.gif_episode,
                follow_episodes=min(recipe.follow_episodes, recipe.closed_loop_episodes))
        settings = evaluate.EvalSettings(
            split='test', batch_size=recipe.eval_batch_size, max_new_tokens=recipe.max_new_tokens,
            constrained=mode == 'constrained', image_gap=mode == 'constrained',
            max_rows_per_group=recipe.max_rows_per_group)
        reports[mode] = evaluate.evaluate(final, dataset, out, settings,
                                          closed_loop_settings=cl, progress=False)
    return reports


def export(recipe: LearnRecipe, runs: Sequence[Path], reports: dict[str, Any], work: Path,
           checkpoint: Path, command: str) -> Path:
    """Copy the last run's checkpoint with reports, plots, GIF and card into ``checkpoint``."""
    final = runs[-1] / 'final'
    tmp = checkpoint.with_name(f'.{checkpoint.name}.tmp')
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(final, tmp)
    for mode, report in reports.items():
        data = {k: v for k, v in report.items() if k != 'examples'}
        (tmp / f'eval_report_{mode}.json').write_text(
            runlog.repo_relative_text(json.dumps(data, indent=1, default=str)) + '\n',
            encoding='utf-8')
    for name in ('per_task_accuracy.png', 'letter_histogram.png', 'closed_loop.gif'):
        src = work / 'eval_constrained' / name if name.endswith('.gif') else \
            work / 'eval_free' / name
        if src.is_file():
            shutil.copy2(src, tmp / name)
    write_card(recipe, tmp, runs, reports, command, target=checkpoint)
    if checkpoint.exists():
        shutil.rmtree(checkpoint)
    tmp.rename(checkpoint)
    return checkpoint


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``robot-r1 learn``."""
    p = argparse.ArgumentParser(prog='robot-r1 learn', description=__doc__.split('\n\n')[0])
    p.add_argument('--recipe', default='recipe_tiny_see', help='learn recipe path or name')
    p.add_argument('--work-dir', default='outputs/recipe_tiny_see', help='data, runs, evals')
    p.add_argument('--checkpoint-dir', default='checkpoints/robot-r1-tiny-see')
    p.add_argument('--dataset', default=None,
                   help='an existing robot-r1 dataset folder (skips recording the demos)')
    p.add_argument('--threads', type=int, default=1, help='torch threads per process')
    p.add_argument('--workers', type=int, default=1, help='data-parallel processes per link')
    p.add_argument('--log-level', default='WARNING')
    args = p.parse_args(argv)
    common.configure_logging(args.log_level)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    command = 'robot-r1 learn ' + ' '.join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    t0 = time.monotonic()
    try:
        common.configure_threads(args.threads)
        recipe = load_learn_recipe(args.recipe)
        for name in recipe.chain:  # every link's batch must split, before hours of work
            split_batch(curriculum.load_config(name).batch_size, args.workers)
        work = Path(args.work_dir)
        work.mkdir(parents=True, exist_ok=True)
        vision, dataset = prepare(recipe, work, Path(args.dataset) if args.dataset else None,
                                  args.workers)
        start = run_grow(recipe, work, vision)
        runs = run_chain(recipe, work, dataset, start, args.workers, args.threads)
        reports = run_eval(recipe, runs[-1] / 'final', dataset, work)
        out = export(recipe, runs, reports, work, Path(args.checkpoint_dir), command)
    except (RobotR1Error, ValueError) as exc:
        return common.cli_error('robot-r1 learn', exc)
    _say(f'done in {(time.monotonic() - t0) / 60:.1f} min: {out}')
    print(evaluate.markdown_tables(reports['free']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
