"""``robot-r1 learn`` (issue 9's one command): recipe parsing, and a real two-link chain on the
session's dataset and tiny checkpoint through evaluation, closed loop, GIF and model card."""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml
from PIL import Image

from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.paths import shipped_model_id
from robot_r1_ros.training import learn, learn_card


def _link(tmp_path: Path, name: str, model: Path, dataset: Path, tasks: list[str]) -> Path:
    path = tmp_path / f'{name}.yaml'
    path.write_text(yaml.safe_dump({
        'name': name, 'model': {'path': str(model), 'image_pixels': 12544},
        'data': {'path': str(dataset)}, 'think': 'plan',
        'stages': [{'tasks': tasks, 'distractors': ['random'], 'cpu_minutes': 0.03}],
        'train': {'batch_size': 4, 'warmup_steps': 2, 'eval_every_cpu_s': 1e9,
                  'eval_rows_per_group': 1}}), encoding='utf-8')
    return path


def test_shipped_learn_recipe_parses_and_names_existing_configs():
    recipe = learn.load_learn_recipe('recipe_learn')
    assert recipe.chain and recipe.closed_loop_episodes >= 20
    assert recipe.closed_loop_task == 'pick_place' and recipe.data_recipe == 'tiny_cpu'


def test_the_default_recipe_makes_the_shipped_model_from_committed_files(monkeypatch):
    """``robot-r1 learn`` with no arguments rebuilds the reasoning node's default model; its
    first link's start (the vision stage's base) is a committed checkpoint, so the command runs
    on a fresh clone (an earlier run's output folder would not be there)."""
    import argparse

    from robot_r1_ros.core.paths import REPO_ROOT
    from robot_r1_ros.training import curriculum

    defaults: dict = {}

    def read_defaults(parser, args=None, namespace=None):
        defaults.update({a.dest: a.default for a in parser._actions})
        raise SystemExit(0)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', read_defaults)
    with pytest.raises(SystemExit):
        learn.main([])
    recipe = learn.load_learn_recipe(defaults['recipe'])
    assert defaults['checkpoint_dir'] == shipped_model_id()
    assert recipe.vision is not None and recipe.closed_loop_episodes >= 20
    base = Path(curriculum.load_config(recipe.chain[0]).model_path)
    assert (REPO_ROOT / base / 'config.json').is_file(), base
    assert (REPO_ROOT / base).parent == REPO_ROOT / 'checkpoints'


def test_experiment_learn_recipes_parse():
    # experiments/configs holds learn recipes (a `chain:`) beside curriculum configs: they must
    # stay runnable, so a renamed key or a missing chain link fails here, not hours into a run.
    root = Path(__file__).resolve().parents[2] / 'experiments' / 'configs'
    recipes = sorted(p for p in root.glob('*.yaml')
                     if 'chain' in (yaml.safe_load(p.read_text(encoding='utf-8')) or {}))
    assert recipes, 'no experiment learn recipes'
    for path in recipes:
        recipe = learn.load_learn_recipe(path)
        assert recipe.chain and recipe.closed_loop_episodes >= 20, path.name


@pytest.mark.parametrize('change, match', [
    ({'chain': []}, 'chain'),
    ({'chain': ['no_such_config']}, 'no_such_config'),
    ({'eval': {'max_new_tokens': 20}}, 'max_new_tokens'),
    ({'eval': {'max_rows_per_group': 0}}, 'max_rows_per_group'),
    ({'eval': {'follow_episodes': -1}}, 'follow_episodes'),
    ({'data': {}}, 'data needs exactly one'),
    ({'data': {'recipe': 'tiny_cpu', 'scenes': {}}}, 'data needs exactly one'),
    ({'data': {'scenes': {'train_scenes': 0}}}, 'train_scenes must be >= 1'),
    ({'data': {'scenes': {'episodes': 5}}}, 'unknown scene data keys'),
    ({'data': {'scenes': 600}}, 'data.scenes must be a mapping'),
    ({'vision': {'frames': 10, 'resolution': 224}}, 'unknown keys'),
    ({'vision': {'frames': 0}}, 'frames must be positive'),
    ({'vision': 'yes'}, 'mapping'),
    ({'vision': {'image_pixels': 50176}}, "not the first link's model.image_pixels 12544"),
    ({'grow': {'layers': 2}}, 'unknown keys'),
    ({'grow': {'add_layers': -2}}, 'add_layers must be'),
])
def test_bad_learn_recipes_fail_before_training(tmp_path, change, match):
    raw = {'name': 'x', 'data': {'recipe': 'tiny_cpu'}, 'chain': ['learn_compare']}
    raw.update(change)
    path = tmp_path / 'recipe.yaml'
    path.write_text(yaml.safe_dump(raw), encoding='utf-8')
    with pytest.raises(ConfigError, match=match):
        learn.load_learn_recipe(path)
    with pytest.raises(ConfigError):
        learn.load_learn_recipe(tmp_path / 'missing')


def test_learn_recipe_with_scene_data_rolls_out_scenes_once(tmp_path, capsys):
    path = tmp_path / 'recipe.yaml'
    path.write_text(yaml.safe_dump({
        'name': 'scenes', 'chain': ['learn_compare'],
        'data': {'scenes': {'train_scenes': 3, 'validation_scenes': 1, 'test_scenes': 2}}}),
        encoding='utf-8')
    recipe = learn.load_learn_recipe(path)
    assert (recipe.scenes.train_scenes, recipe.scenes.test_scenes) == (3, 2)
    assert recipe.scenes.tasks == ('open_keypoint', 'object_position', 'next_waypoint')
    # A dataset rolled out before (its summary beside it) is kept, not rolled out again.
    done = tmp_path / 'work' / 'dataset'
    done.mkdir(parents=True)
    (done / 'dataset_dict.json').write_text('{"splits": ["train", "validation", "test"]}')
    (done / 'scene_data.json').write_text('{}')
    assert learn.ensure_dataset(recipe, tmp_path / 'work', None) == done
    assert 'dataset: rolled out before, kept' in capsys.readouterr().out


def test_learn_runs_the_chain_evaluates_and_exports_a_card(tiny_model, qa_dataset, tmp_path,
                                                           capsys):
    dataset = Path(qa_dataset['path'])
    first = _link(tmp_path, 'first', tiny_model, dataset, ['next_waypoint'])
    second = _link(tmp_path, 'second', tmp_path / 'unused', dataset,
                   ['next_waypoint', 'movement', 'open_keypoint'])
    recipe = tmp_path / 'recipe.yaml'
    recipe.write_text(yaml.safe_dump({
        'name': 'learn-test', 'data': {'recipe': 'tiny_cpu'}, 'chain': [str(first), str(second)],
        'eval': {'max_new_tokens': 80, 'batch_size': 8, 'closed_loop_episodes': 1,
                 'closed_loop_max_keypoints': 1, 'max_rows_per_group': 3}}), encoding='utf-8')
    work, ckpt = tmp_path / 'work', tmp_path / 'ckpt'
    args = ['--recipe', str(recipe), '--work-dir', str(work), '--checkpoint-dir', str(ckpt),
            '--dataset', str(dataset)]
    assert learn.main(args) == 0
    # The second link started from the first one's final checkpoint, not its own model.path.
    runs = sorted(p.name for p in work.iterdir() if p.name[:2].isdigit())
    assert runs == ['01_first', '02_second']
    assert (ckpt / 'model.safetensors').is_file() and (ckpt / 'config.json').is_file()
    free = json.loads((ckpt / 'eval_report_free.json').read_text())
    cons = json.loads((ckpt / 'eval_report_constrained.json').read_text())
    assert cons['overall']['format_failure_rate'] == 0.0
    assert cons['settings']['constrained'] and not free['settings']['constrained']
    assert cons['closed_loop']['episodes'] == 1 and cons['closed_loop']['expert']
    assert cons['closed_loop']['cube_follow']['episodes'] == 1  # the probe rides along
    assert cons['settings']['max_rows_per_group'] == 3
    assert all(g['n'] <= 3 for g in cons['groups'].values())
    with Image.open(ckpt / 'closed_loop.gif') as gif:
        assert gif.n_frames >= 2
    card = (ckpt / 'README.md').read_text()
    for text in ('## Reproduce', 'robot-r1 learn', '| 1 | `first`', '| 2 | `second`',
                 'constrained decoding', '## Closed loop in the MuJoCo scene',
                 '![closed loop](closed_loop.gif)', '| next_waypoint | random |',
                 'Cube follow'):
        assert text in card
    assert str(learn.runlog.REPO_ROOT) not in card  # no machine paths in a committed card
    # Not the node's default, and the card says so (and how to run it); the recipe by name.
    assert f'it is not the default (`config/franka.yaml` names `{shipped_model_id()}`)' \
        in card and 'franka.launch.py model:=ckpt` runs it' in card
    assert 'Recipe: `recipe.yaml`.' in card
    # The same command again finds every step done and only re-exports.
    stamp = (work / '02_second' / 'final' / 'model.safetensors').stat().st_mtime_ns
    assert learn.main(args) == 0
    assert (work / '02_second' / 'final' / 'model.safetensors').stat().st_mtime_ns == stamp
    second = capsys.readouterr().out.split('done before, kept', 1)
    assert len(second) == 2
    assert 'evaluation (' not in second[1]  # the reports of this very checkpoint are kept
    # A retrained last link (newer weights) is evaluated again, not served a stale report.
    report = work / 'eval_free' / 'report.json'
    before = report.stat().st_mtime_ns
    weights = work / '02_second' / 'final' / 'model.safetensors'
    os.utime(weights, ns=(before + 10**9, before + 10**9))
    assert learn.main(args) == 0
    assert report.stat().st_mtime_ns > before


def test_learn_rejects_a_folder_that_is_not_a_dataset(tmp_path):
    assert learn.main(['--recipe', 'recipe_learn', '--work-dir', str(tmp_path / 'w'),
                       '--checkpoint-dir', str(tmp_path / 'c'),
                       '--dataset', str(tmp_path)]) == 2


def test_learn_fails_first_when_the_vision_stage_base_is_missing(qa_dataset, tmp_path, capsys):
    """A recipe whose first link starts from a folder that only an earlier run made (its
    ``model.path`` is the vision stage's base) fails at once with the reason, before any
    demos are recorded, on a fresh work folder."""
    first = _link(tmp_path, 'first', tmp_path / 'made-by-another-run', Path(qa_dataset['path']),
                  ['next_waypoint'])
    path = tmp_path / 'recipe.yaml'
    path.write_text(yaml.safe_dump({
        'name': 'vision-test', 'data': {'recipe': 'tiny_cpu'}, 'chain': [str(first)],
        'vision': {'frames': 4, 'test_frames': 2, 'cpu_minutes': 0.02}}), encoding='utf-8')
    work = tmp_path / 'work'
    assert learn.main(['--recipe', str(path), '--work-dir', str(work),
                       '--checkpoint-dir', str(tmp_path / 'c')]) == 2
    err = capsys.readouterr().err
    assert "the vision stage's base) is not a checkpoint folder" in err
    assert 'made-by-another-run' in err
    assert not (work / 'demos').exists() and not (work / '00_vision').exists()


def test_learn_vision_stage_and_grow_start_the_chain(tiny_model, qa_dataset, tmp_path, capsys):
    """A recipe's ``vision`` section pre-trains a new tower on rendered scenes first, ``grow``
    then widens and deepens its language model; the first link starts from that checkpoint (said
    aloud), and the card's table counts both steps."""
    from transformers import Qwen2_5_VLConfig

    dataset = Path(qa_dataset['path'])
    first = _link(tmp_path, 'first', tiny_model, dataset, ['next_waypoint'])
    link = yaml.safe_load(first.read_text())
    link['vision_aux'] = {'frames': 'set-by-the-chain.npz', 'batch_size': 2}
    first.write_text(yaml.safe_dump(link), encoding='utf-8')
    path = tmp_path / 'recipe.yaml'
    path.write_text(yaml.safe_dump({
        'name': 'vision-test', 'data': {'recipe': 'tiny_cpu'}, 'chain': [str(first)],
        'vision': {'frames': 4, 'test_frames': 2, 'hidden': 32, 'depth': 2, 'heads': 2,
                   'mlp': 64, 'batch_size': 2, 'cpu_minutes': 0.02,
                   'checkpoint_minutes': 0.01},
        'grow': {'add_layers': 1, 'mlp': 256}}), encoding='utf-8')
    recipe = learn.load_learn_recipe(path)
    work = tmp_path / 'work'
    vision_final = learn.run_vision(recipe, work)
    assert vision_final == work / '00_vision' / 'final'
    start = learn.run_grow(recipe, work, vision_final)
    assert start == work / '00_grow'
    runs = learn.run_chain(recipe, work, dataset, start)
    said = capsys.readouterr().out
    assert (runs[0] / 'aux_heads.pt').is_file()  # the link's trained heads, beside final/
    assert f'language model of {vision_final}: +1 layers, MLP 256' in said
    assert f'model.path {tiny_model} -> {start} (set by the chain)' in said
    vision = work / '00_vision'
    assert f'vision_aux.frames set-by-the-chain.npz -> {vision / "frames.npz"}' in said
    assert f'vision_aux.heads  -> {vision / "heads.pt"}' in said
    # the link trained with the vision stage's position loss on that stage's frames and heads
    records = [json.loads(line) for line in (runs[0] / 'log.jsonl').open()]
    assert records[-1]['eval']['vision_aux']['flatten_cm'] > 0
    info = json.loads((runs[0] / 'run_info.json').read_text())
    assert info['model_path'] == str(start)
    trained = Qwen2_5_VLConfig.from_pretrained(runs[0] / 'final')
    assert trained.vision_config.hidden_size == 32 and trained.vision_config.depth == 2
    assert (trained.text_config.num_hidden_layers, trained.text_config.intermediate_size) == (
        3, 256)
    table = learn_card.chain_table(recipe, runs)
    assert '| 0 | vision stage | - | tower hidden 32 depth 2, 4 rollout frames' in table
    assert '| 0 | grow | - | language model +1 layers, MLP 256, new parts silent |' in table
    # Run again: both steps are kept, not redone.
    assert learn.run_vision(recipe, work) == vision_final
    assert learn.run_grow(recipe, work, vision_final) == start
    said = capsys.readouterr().out
    assert 'vision stage: done before, kept' in said and 'grow step: done before, kept' in said
    # A second link starts its heads from the ones the first link trained (said aloud).
    second = tmp_path / 'second.yaml'
    second.write_text(first.read_text(), encoding='utf-8')
    recipe = dataclasses.replace(recipe, chain=[str(first), str(second)])
    runs = learn.run_chain(recipe, work, dataset, start)
    said = capsys.readouterr().out
    assert f'1/2 {first}: done before, kept' in said
    assert f'model.aux_heads_from  -> {runs[0] / "aux_heads.pt"} (set by the chain)' in said
    assert (runs[1] / 'aux_heads.pt').is_file()


def test_two_workers_roll_out_the_scenes_beside_the_vision_stage_and_train_the_link(
        tiny_model, qa_dataset, tmp_path, capsys):
    """With ``--workers 2`` the scene data is rolled out in a second process while the vision
    stage trains (neither needs the other), and the chain's link trains in two processes; a
    vision stage that fails stops the scene data's process at once."""
    first = _link(tmp_path, 'first', tiny_model, Path(qa_dataset['path']), ['next_waypoint'])
    path = tmp_path / 'recipe.yaml'
    path.write_text(yaml.safe_dump({
        'name': 'workers-test', 'chain': [str(first)],
        'data': {'scenes': {'train_scenes': 2, 'validation_scenes': 1, 'test_scenes': 1}},
        'vision': {'frames': 4, 'test_frames': 2, 'hidden': 32, 'depth': 2, 'heads': 2,
                   'mlp': 64, 'batch_size': 2, 'cpu_minutes': 0.02}}), encoding='utf-8')
    recipe = learn.load_learn_recipe(path)
    work = tmp_path / 'work'
    vision, dataset = learn.prepare(recipe, work, None, workers=2)
    assert 'dataset: rolled out in a second process' in capsys.readouterr().out
    assert vision == work / '00_vision' / 'final' and (vision / 'config.json').is_file()
    assert dataset == work / 'dataset' and (dataset / 'scene_data.json').is_file()
    runs = learn.run_chain(recipe, work, Path(qa_dataset['path']), vision, workers=2)
    assert json.loads((runs[0] / 'run_info.json').read_text())['workers'] == 2

    broken = _link(tmp_path, 'broken', tmp_path / 'no-such-model', Path(qa_dataset['path']),
                   ['next_waypoint'])
    recipe.chain[0] = str(broken)
    with pytest.raises(ConfigError, match="the vision stage's base"):
        learn.prepare(recipe, tmp_path / 'work2', None, workers=2)
    assert not (tmp_path / 'work2' / 'dataset' / 'scene_data.json').exists()
