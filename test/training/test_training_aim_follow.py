"""The rows that follow a distractor stated as the aim (task ``aim_follow``, issue 13): their
texts, the loss that skips the stated aim, the config check, and a real curriculum run on them
with the auxiliary heads on."""
from __future__ import annotations

import json
import re

import pytest
import yaml
from training_helpers import WAYPOINT_FACTS, WAYPOINT_ROW

from robot_r1_ros.core.errors import ConfigError

ROW, FACTS = WAYPOINT_ROW, WAYPOINT_FACTS


def _xy(text: str) -> list[float]:
    return [float(v) for v in text.strip('[]').split(',')]


def test_a_follow_row_states_a_distractor_with_the_rows_jitter_and_follows_it():
    from robot_r1_ros.training.aim_follow import follow_texts
    from robot_r1_ros.training.think_targets import reasoning

    prefix, target, letter = follow_texts(dict(ROW), FACTS)
    gold_aim = reasoning(dict(ROW), 'aim_over', FACTS).split('. ')[0]
    stated = prefix.split(' at ')[1].rstrip('.')
    assert letter != 'B' and prefix.startswith('<think>Next: the red cube at [')
    assert target.startswith(prefix + ' A [') and target.endswith(f'<answer>[[{letter}]]</answer>')
    # the distractor's x-y moved by the gold aim's own jitter (the same offset, to the mm)
    offset = [a - t for a, t in zip(_xy(gold_aim.split(' at ')[1]), ROW['next_xyz_env_m'])]
    option = _xy(ROW['options']['ABCD'.index(letter)])
    assert _xy(stated) == pytest.approx([option[0] + offset[0], option[1] + offset[1]],
                                        abs=1.5e-3)
    assert target.count(' yes.') == 1
    assert f'{letter} [{option[0]:.3f},{option[1]:.3f}] [{_xy(stated)[0]:.3f},' in target
    assert re.search(rf'{letter} \[[^\]]*\] \[[^\]]*\] yes\.', target)
    # deterministic: the same distractor every epoch
    assert follow_texts(dict(ROW), FACTS) == (prefix, target, letter)


def test_an_exact_aim_follow_row_states_the_distractors_own_xy():
    from robot_r1_ros.training.aim_follow import follow_texts

    prefix, target, letter = follow_texts(dict(ROW), FACTS, 'aim_exact')
    option = ROW['options']['ABCD'.index(letter)]
    x, y = _xy(option)[:2]
    assert prefix == f'<think>Next: the red cube at [{x:.3f}, {y:.3f}].'
    assert f'{letter} [{x:.3f},{y:.3f}] [{x:.3f},{y:.3f}] yes.' in target


def test_no_follow_row_where_the_aim_would_be_ambiguous_or_missing():
    from robot_r1_ros.training.aim_follow import follow_texts

    near = {**ROW, 'options': ['[0.211, 0.136, 0.050]', '[0.107, -0.149, 0.020]',
                               '[0.231, 0.150, 0.200]', '[0.200, 0.120, 0.100]']}
    assert follow_texts(near, FACTS) is None   # every distractor has another within 4 cm
    assert follow_texts({**ROW, 'task_kind': 'movement'}, FACTS) is None
    assert follow_texts({**ROW, 'options': ROW['options'][:3]}, FACTS) is None
    assert follow_texts({**ROW, 'next_xyz_env_m': None}, FACTS) is None


def test_follow_rows_share_their_rows_image_and_skip_the_stated_aim_in_the_loss(tiny_model,
                                                                               qa_dataset):
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training import common
    from robot_r1_ros.training.compact_prompt import build_compactor
    from robot_r1_ros.training.encoded import Encoded
    from robot_r1_ros.training.recipe import ModelSpec

    processor = common.load_processor_for(ModelSpec(path=str(tiny_model), image_min_pixels=12544,
                                                    image_max_pixels=12544))
    rows = common.select_rows(common.load_dataset_dict(qa_dataset['path'])['train'],
                              ('next_waypoint', 'open_keypoint'))
    model = AutoModelForImageTextToText.from_pretrained(tiny_model).eval()
    enc = Encoded(processor, rows, 'aim_over', build_compactor(processor, rows, model),
                  aim_follow=True)
    follow = enc.indices(('aim_follow',), ('random', 'hard'))
    assert follow and min(follow) >= enc.dataset_rows
    tok, pad = processor.tokenizer, processor.tokenizer.pad_token_id
    keys = {enc.rows[i]['key'] for i in range(enc.dataset_rows)}
    for compact in (False, True):
        batch = enc.batch(follow[:2], pad, compact)
        assert 'pixel_values' in batch
        for j, i in enumerate(follow[:2]):
            row = enc.rows[i]
            assert row['key'] in keys and row['loss_from'] > 0
            labels = batch['labels'][j]
            taken = labels[labels != -100]
            # the loss starts at the first verdict: the stated aim is context only
            assert taken.tolist() == row['comp_ids'][row['loss_from']:].tolist()
            skipped = tok.decode(row['comp_ids'][:row['loss_from']])
            assert skipped.startswith('<think>Next: ') and skipped.endswith('].')
            assert tok.decode(taken).lstrip().startswith('A [')
    # a dataset row keeps its whole completion in the loss
    plain = enc.batch([0], pad)['labels'][0]
    assert (plain != -100).sum().item() == len(enc.rows[0]['comp_ids'])


@pytest.mark.parametrize('task, refused, accepted', [
    # the text-only rows copy aim_pair's jittered aims or aim_key's listing: not for aim_exact
    ('aim_compare', ('compare', 'aim_check', 'aim_exact'),
     ('aim_pair', 'aim_rel', 'aim_over', 'aim_key', 'aim_key_cm')),
    ('aim_follow', ('compare', 'aim_check'), ('aim_pair', 'aim_rel', 'aim_over', 'aim_exact')),
])
def test_the_verdict_rows_need_a_reasoning_with_aim_pair_verdicts(tmp_path, task, refused,
                                                                  accepted):
    from robot_r1_ros.training.curriculum import load_config

    data = {'name': 'c', 'model': {'path': 'm'}, 'data': {'path': 'd'},
            'stages': [{'tasks': ['next_waypoint', task]}]}
    path = tmp_path / 'learn.yaml'
    for think in refused + accepted:
        path.write_text(yaml.safe_dump({**data, 'think': think}), encoding='utf-8')
        if think in refused:
            with pytest.raises(ConfigError, match=task):
                load_config(path)
        else:
            assert load_config(path).stages[0].tasks == ('next_waypoint', task)


def test_curriculum_trains_on_follow_rows_with_the_aux_heads(tiny_model, qa_dataset, tmp_path,
                                                            drawn_tasks):
    """A stage of follow rows beside open keypoints: image batches with skipped aims train,
    with the grid and binding heads on, and export."""
    from robot_r1_ros.training import curriculum

    data = {'name': 'follow-test', 'model': {'path': str(tiny_model), 'image_pixels': 12544},
            'data': {'path': str(qa_dataset['path'])}, 'think': 'aim_over',
            'grid_aux': {'layer': 1, 'weight': 0.5}, 'bind_aux': {'layer': 1, 'weight': 0.5},
            'stages': [{'tasks': ['aim_follow', 'open_keypoint'], 'steps': 10,
                        'learning_rate': 3e-3, 'weights': {'aim_follow': 0.7,
                                                           'open_keypoint': 0.3}}],
            'train': {'batch_size': 4, 'warmup_steps': 2, 'eval_every_cpu_s': 1e9,
                      'eval_rows_per_group': 2, 'seed': 0, 'compact_prompt': 0.5}}
    path = tmp_path / 'learn.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    final = curriculum.train(curriculum.load_config(path), tmp_path / 'run')
    assert drawn_tasks and 'aim_follow' in set(drawn_tasks)
    records = [json.loads(line) for line in (tmp_path / 'run' / 'log.jsonl').open()]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert losses and all(loss > 0 for loss in losses)
    assert (final / 'config.json').is_file()
