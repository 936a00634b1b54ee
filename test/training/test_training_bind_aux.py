"""The which-object loss on the language model's object words (``training.bind_aux``, issue 13
E64): targets from the frames' stated facts, their places in a batch, the loss teaching the
first layers, a real curriculum run with it and ``grid_aux`` (logged, resumable, exported without
their heads) and both losses' config errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from robot_r1_ros.core.errors import ConfigError


def _tokenizer(tiny_model):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(tiny_model)


def test_word_targets_take_every_fact_of_the_frame_for_each_of_its_rows(tiny_model):
    from robot_r1_ros.training.bind_aux import word_targets

    tok = _tokenizer(tiny_model)
    rows = {'episode_id': ['a', 'a', 'a', 'b'], 'frame_index': [0, 0, 5, 0],
            'gold_think': ['The red cube is at [0.100, -0.200, 0.020].',
                           'The yellow zone is at [0.050, 0.150, 0.000]. The gripper is at '
                           '[0.000, 0.000, 0.400] and must move down.',
                           'The red cube is at [0.120, -0.180, 0.080].',
                           'The gripper is at [0.000, 0.000, 0.400].']}
    red = tok(' red', add_special_tokens=False)['input_ids'][0]
    yellow = tok(' yellow', add_special_tokens=False)['input_ids'][0]
    got = word_targets(rows, tok)
    # one frame's rows share its facts; another frame has its own; the gripper is no object
    assert got[0] == got[1] == {red: (0.1, -0.2), yellow: (0.05, 0.15)}
    assert got[2] == {red: (0.12, -0.18)}
    assert got[3] == {}
    # the words train.word_loss_weight scores: every object word any frame names, once
    from robot_r1_ros.training.bind_aux import object_word_ids
    assert object_word_ids(rows, tok) == sorted({red, yellow})


def test_a_runs_word_loss_terms_follow_its_two_weights(tiny_model):
    import dataclasses

    from robot_r1_ros.training.curriculum import word_loss_terms
    from robot_r1_ros.training.curriculum_config import LearnConfig, Stage

    tok = _tokenizer(tiny_model)
    rows = {'episode_id': ['a'], 'frame_index': [0],
            'gold_think': ['The blue cube is at [0.100, -0.200, 0.020]. The gripper is at '
                           '[0.000, 0.000, 0.400] and must move down to reach [0.100, -0.200, '
                           '0.142], open.']}
    blue, open_, closed = (tok(w, add_special_tokens=False)['input_ids'][0]
                           for w in (' blue', ' open', ' closed'))
    base = LearnConfig(name='t', model_path='m', dataset='d', think='aim',
                       stages=(Stage(tasks=('open_keypoint',), cpu_minutes=1.0,
                                     learning_rate=1e-3),))
    yes, no = (tuple(tok(w, add_special_tokens=False)['input_ids']) for w in (' yes.', ' no.'))
    off = [([], 0.0), ([], 0.0), ([], 0.0), ([], 0.0)]
    assert word_loss_terms(base, rows, tok) == off  # all off: no ids
    both = dataclasses.replace(base, word_loss_weight=1.0, gripper_word_loss_weight=0.5)
    assert word_loss_terms(both, rows, tok) == [([blue], 1.0), ([open_, closed], 0.5),
                                                ([], 0.0), ([], 0.0)]
    grip = dataclasses.replace(base, gripper_word_loss_weight=2.0)
    assert word_loss_terms(grip, rows, tok) == [([], 0.0), ([open_, closed], 2.0), ([], 0.0),
                                                ([], 0.0)]
    verdict = dataclasses.replace(base, verdict_loss_weight=3.0)
    assert word_loss_terms(verdict, rows, tok) == [([], 0.0), ([], 0.0), ([yes, no], 3.0),
                                                   ([], 0.0)]
    assert tok.decode(list(yes)) == ' yes.' and tok.decode(list(no)) == ' no.'
    letter = dataclasses.replace(base, letter_loss_weight=4.0)
    *_, (letter_ids, weight) = word_loss_terms(letter, rows, tok)
    # the letters as '[0.107,-0.149] B.' and '[[B]]' spell them, one token each
    assert weight == 4.0 and [tok.decode([i]) for i in letter_ids] == ['A', 'B', 'C', 'D']
    assert tok(' B.', add_special_tokens=False)['input_ids'][1] == letter_ids[1]
    assert letter_ids[1] in tok('[[B]]', add_special_tokens=False)['input_ids']
    # the object-word loss on rows that name no object is a config error, not a silent zero
    bare = {'episode_id': ['a'], 'frame_index': [0],
            'gold_think': ['The gripper is at [0.000, 0.000, 0.400].']}
    with pytest.raises(ConfigError, match='word_loss_weight'):
        word_loss_terms(both, bare, tok)


def test_word_places_follow_the_sequence_and_skip_padding():
    import torch

    from robot_r1_ros.training.bind_aux import XY_SCALE_PER_M, word_mask_targets

    red, blue = 7, 9
    ids = torch.tensor([[1, red, 2, blue, red, 0],
                        [1, blue, 2, 3, red, red]])
    attn = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0]])  # last of row 1 is padding
    targets = [{red: (0.1, 0.2), blue: (-0.1, 0.0)}, {red: (0.2, -0.2)}]
    mask, xy = word_mask_targets(ids, attn, targets)
    assert mask.tolist() == [[False, True, False, True, True, False],
                             [False, False, False, False, True, False]]
    expected = torch.tensor([[0.1, 0.2], [-0.1, 0.0], [0.1, 0.2], [0.2, -0.2]]) * XY_SCALE_PER_M
    assert torch.allclose(xy, expected)


def _encoded(tiny_model, qa_dataset, n=6):
    from robot_r1_ros.training import common
    from robot_r1_ros.training.curriculum import Encoded
    from robot_r1_ros.training.recipe import ModelSpec

    processor = common.load_processor_for(ModelSpec(path=str(tiny_model),
                                                    image_min_pixels=12544,
                                                    image_max_pixels=12544))
    rows = common.select_rows(common.load_dataset_dict(qa_dataset['path'])['train'],
                              ('open_keypoint',), 'any').select(range(n))
    return processor, rows, Encoded(processor, rows, 'template')


def test_bind_loss_teaches_the_object_words_where_their_objects_are(tiny_model, qa_dataset):
    """The recorded demos state where the task's objects are; a few optimiser steps on the loss
    alone, through the first two decoder layers, more than halve it."""
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training.bind_aux import BindAux, BindAuxConfig, word_targets

    processor, rows, enc = _encoded(tiny_model, qa_dataset)
    targets = word_targets(rows, processor.tokenizer)
    assert all(len(t) == 2 for t in targets), targets  # the task's cube and the zone
    idx = list(range(len(rows)))
    batch = enc.batch(idx, processor.tokenizer.pad_token_id)
    inputs = {k: v for k, v in batch.items() if k != 'labels'}
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    model.train()
    bind = BindAux(BindAuxConfig(layer=1), model, targets)
    layers = model.model.language_model.layers
    params = [p for layer in layers[:2] for p in layer.parameters()] + bind.parameters()
    opt = torch.optim.Adam(params, lr=3e-3)
    torch.manual_seed(0)
    losses = []
    for _ in range(60):
        model.model(**inputs, use_cache=False)
        loss = bind.loss(batch, idx)
        losses.append(float(loss.detach()))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.5 * losses[0], (losses[0], losses[-1])
    with pytest.raises(RuntimeError, match='no forward pass'):
        bind.loss(batch, idx)
    bind.close()


def test_curriculum_run_with_bind_aux_logs_it_and_exports_without_its_head(tiny_model, qa_dataset,
                                                                           tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training.curriculum import load_config, train

    data = {'name': 'bind-test', 'model': {'path': str(tiny_model), 'image_pixels': 12544},
            'data': {'path': str(qa_dataset['path'])}, 'think': 'aim',
            'grid_aux': {'layer': 1, 'weight': 0.5}, 'bind_aux': {'layer': 1, 'weight': 0.5},
            'stages': [{'tasks': ['open_keypoint'], 'cpu_minutes': 0.04,
                        'learning_rate': 3e-3}],
            'train': {'batch_size': 4, 'warmup_steps': 2, 'eval_every_cpu_s': 1e9,
                      'eval_rows_per_group': 2, 'seed': 0, 'word_loss_weight': 1.0,
                      'gripper_word_loss_weight': 0.5, 'verdict_loss_weight': 0.5,
                      'letter_loss_weight': 0.5}}
    path = tmp_path / 'learn.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    cfg = load_config(path)
    assert cfg.word_loss_weight == 1.0  # the object- and gripper-word losses ride along
    assert cfg.gripper_word_loss_weight == 0.5 and cfg.verdict_loss_weight == 0.5
    assert cfg.letter_loss_weight == 0.5
    assert cfg.bind_aux.layer == 1 and cfg.bind_aux.weight == 0.5
    assert cfg.grid_aux.layer == 1 and cfg.grid_aux.weight == 0.5
    final = train(cfg, tmp_path / 'run')
    records = [json.loads(line) for line in (tmp_path / 'run' / 'log.jsonl').open()]
    bind_losses = [r['bind_loss'] for r in records if 'bind_loss' in r]
    assert bind_losses and all(b > 0 for b in bind_losses)
    grid_losses = [r['grid_loss'] for r in records if 'bind_loss' in r]
    assert len(grid_losses) == len(bind_losses) and all(g > 0 for g in grid_losses)
    state = torch.load(tmp_path / 'run' / 'resume' / 'state.pt', weights_only=False)
    assert set(state['bind_aux']) == {'weight', 'bias'}
    assert set(state['grid_aux']) == {'weight', 'bias'}
    before = AutoModelForImageTextToText.from_pretrained(tiny_model).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(final).state_dict()
    assert before.keys() == after.keys()  # no head in the checkpoint


@pytest.mark.parametrize('key', ['grid_aux', 'bind_aux'])
@pytest.mark.parametrize('raw', [{'layer': -1}, {'weight': 0.0}, {'layer': 1, 'word': 'red'},
                                 'yes'])
def test_bad_layer_aux_is_a_config_error(tmp_path: Path, key, raw):
    from robot_r1_ros.training.curriculum import load_config

    data = {'name': 'b', 'model': {'path': 'm'}, 'data': {'path': 'd'}, key: raw,
            'stages': [{'tasks': ['next_waypoint']}]}
    path = tmp_path / 'learn.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    with pytest.raises(ConfigError, match=key):
        load_config(path)
