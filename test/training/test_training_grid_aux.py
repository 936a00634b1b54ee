"""The where-am-I loss on the language model's image tokens (``training.grid_aux``, issue 13 E54):
token places, the loss teaching the first decoder layer, a real curriculum run with it (logged,
resumable, exported without its head) and config errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from robot_r1_ros.core.errors import ConfigError


def test_image_token_grid_is_raster_order_per_image():
    import torch

    from robot_r1_ros.training.grid_aux import image_token_grid

    img = 9
    ids = torch.tensor([[1, img, img, img, img, 2, 0],
                        [1, 2, img, img, img, img, img]])
    # 9 image tokens, but a 2 x 2 and a 2 x 3 merged grid hold 10
    with pytest.raises(ValueError, match='image tokens'):
        image_token_grid(ids, torch.tensor([[1, 4, 4], [1, 2, 6]]), img, 2)
    ids[1, 1] = img  # now 4 + 6 image tokens: a 2 x 2 and a 2 x 3 merged grid
    mask, places = image_token_grid(ids, torch.tensor([[1, 4, 4], [1, 4, 6]]), img, 2)
    assert int(mask.sum()) == 10
    assert places[:4].tolist() == [[-1, -1], [-1, 1], [1, -1], [1, 1]]
    assert places[4:].tolist() == [[-1, -1], [-1, 0], [-1, 1], [1, -1], [1, 0], [1, 1]]


def _batch(tiny_model, qa_dataset, n=4):
    from robot_r1_ros.training import common
    from robot_r1_ros.training.curriculum import Encoded
    from robot_r1_ros.training.recipe import ModelSpec

    processor = common.load_processor_for(ModelSpec(path=str(tiny_model),
                                                    image_min_pixels=12544,
                                                    image_max_pixels=12544))
    rows = common.load_dataset_dict(qa_dataset['path'])['train'].select(range(n))
    return Encoded(processor, rows, 'compare').batch(range(n), processor.tokenizer.pad_token_id)


def test_grid_loss_teaches_the_first_layer_where_its_image_tokens_are(tiny_model, qa_dataset):
    """A few optimiser steps on the loss alone halve it, through the first decoder layer (the
    tower's tokens alone do not tell their places: the random model starts near the variance)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training.grid_aux import GridAux, GridAuxConfig

    batch = _batch(tiny_model, qa_dataset)
    inputs = {k: v for k, v in batch.items() if k != 'labels'}
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    model.train()
    grid = GridAux(GridAuxConfig(layer=0), model)
    params = list(model.model.language_model.layers[0].parameters()) + grid.parameters()
    opt = torch.optim.Adam(params, lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(60):
        model.model(**inputs, use_cache=False)
        loss = grid.loss(batch)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[0] > 0.3, losses[0]  # targets in [-1, 1]: variance 5 / 9 per coordinate
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
    with pytest.raises(RuntimeError, match='no forward pass'):
        grid.loss(batch)
    grid.close()
    model.model(**inputs, use_cache=False)
    with pytest.raises(RuntimeError):  # the hook is gone with close()
        grid.loss(batch)


def test_curriculum_run_with_grid_aux_logs_it_and_exports_without_its_head(tiny_model, qa_dataset,
                                                                           tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training.curriculum import load_config, train

    data = {'name': 'grid-test', 'model': {'path': str(tiny_model), 'image_pixels': 12544},
            'data': {'path': str(qa_dataset['path'])}, 'think': 'compare',
            'grid_aux': {'layer': 1, 'weight': 0.5},
            'stages': [{'tasks': ['next_waypoint'], 'distractors': ['random'],
                        'cpu_minutes': 0.04, 'learning_rate': 3e-3}],
            'train': {'batch_size': 4, 'warmup_steps': 2, 'eval_every_cpu_s': 1e9,
                      'eval_rows_per_group': 2, 'seed': 0}}
    path = tmp_path / 'learn.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    cfg = load_config(path)
    assert cfg.grid_aux.layer == 1 and cfg.grid_aux.weight == 0.5
    final = train(cfg, tmp_path / 'run')
    records = [json.loads(line) for line in (tmp_path / 'run' / 'log.jsonl').open()]
    grid_losses = [r['grid_loss'] for r in records if 'grid_loss' in r]
    assert grid_losses and all(g > 0 for g in grid_losses)
    state = torch.load(tmp_path / 'run' / 'resume' / 'state.pt', weights_only=False)
    assert set(state['grid_aux']) == {'weight', 'bias'}
    before = AutoModelForImageTextToText.from_pretrained(tiny_model).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(final).state_dict()
    assert before.keys() == after.keys()  # no head in the checkpoint


@pytest.mark.parametrize('raw', [{'layer': -1}, {'weight': 0.0}, {'layer': 0, 'colour': 'red'},
                                 'yes'])
def test_bad_grid_aux_is_a_config_error(tmp_path: Path, raw):
    from robot_r1_ros.training.curriculum import load_config

    data = {'name': 'g', 'model': {'path': 'm'}, 'data': {'path': 'd'}, 'grid_aux': raw,
            'stages': [{'tasks': ['next_waypoint']}]}
    path = tmp_path / 'learn.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    with pytest.raises(ConfigError, match='grid_aux'):
        load_config(path)
