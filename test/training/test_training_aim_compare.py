"""The text-only comparison rows (task ``aim_compare``, issue 13): their texts, their encoding
beside image rows (a row's loss does not depend on its batch, compact or full), and a real
curriculum run that trains on them with the auxiliary heads on (the config check is beside
``aim_follow``'s, in ``test_training_aim_follow.py``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from training_helpers import WAYPOINT_FACTS, WAYPOINT_ROW


ROW, FACTS = WAYPOINT_ROW, WAYPOINT_FACTS


def test_compare_texts_state_the_rows_own_aim_and_target_its_aim_pair_completion():
    from robot_r1_ros.training.aim_compare import compare_texts
    from robot_r1_ros.training.think_targets import completion, reasoning

    prompt, target = compare_texts(dict(ROW), FACTS)
    assert target == completion(dict(ROW), 'aim_pair', FACTS)
    aim = reasoning(dict(ROW), 'aim_pair', FACTS).split('. ')[0] + '.'
    assert aim.startswith('Next: the red cube at [')
    assert f'Aim: {aim}\n' in prompt
    assert all(f'[[{letter}]] {opt}\n' in prompt for letter, opt in zip('ABCD', ROW['options']))
    assert 'Current gripper position: [0.300, 0.000, 0.200] (open)' in prompt
    assert target.count(' yes.') == 1 and 'B [0.107,-0.149]' in target
    assert compare_texts({**ROW, 'task_kind': 'movement'}, FACTS) is None
    assert compare_texts({**ROW, 'options': ROW['options'][:3]}, FACTS) is None


@pytest.mark.parametrize('think', ['aim_key', 'aim_key_cm'])
def test_compare_texts_of_a_key_reasoning_give_its_aim_and_target_its_listing(think):
    """With ``aim_key`` / ``aim_key_cm`` the prompt states the aim (the gold option's x-y,
    no letter) and the target is the row's own completion: the listing, the aim, the letter."""
    from robot_r1_ros.training.aim_compare import compare_texts
    from robot_r1_ros.training.think_targets import completion, reasoning

    prompt, target = compare_texts(dict(ROW), FACTS, think)
    assert target == completion(dict(ROW), think, FACTS)
    full = reasoning(dict(ROW), think, FACTS)
    aim = full[full.index('Next:'):-len(f" {ROW['answer_letter']}.")] + '.'
    gold = '[11,-15]' if think == 'aim_key_cm' else '[0.107,-0.149]'
    assert aim == f'Next: the red cube at {gold}.'
    assert f'Aim: {aim}\n' in prompt
    assert target.endswith(f"{gold} {ROW['answer_letter']}.</think><answer>[[B]]</answer>")
    assert compare_texts({**ROW, 'task_kind': 'movement'}, FACTS, think) is None


def _processor(model: Path):
    from robot_r1_ros.training import common
    from robot_r1_ros.training.recipe import ModelSpec
    return common.load_processor_for(ModelSpec(path=str(model), image_min_pixels=12544,
                                               image_max_pixels=12544))


def test_text_rows_train_beside_image_rows_with_the_same_loss_in_any_batch(tiny_model,
                                                                           qa_dataset):
    """A comparison row has no image and the task ``aim_compare``; its loss is the same alone,
    beside an image row, and as a compact batch (its positions are the model's own)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training import common
    from robot_r1_ros.training.compact_prompt import build_compactor
    from robot_r1_ros.training.encoded import Encoded

    processor = _processor(tiny_model)
    rows = common.select_rows(common.load_dataset_dict(qa_dataset['path'])['train'],
                              ('next_waypoint', 'open_keypoint'))
    model = AutoModelForImageTextToText.from_pretrained(tiny_model).eval()
    enc = Encoded(processor, rows, 'aim_pair', build_compactor(processor, rows, model),
                  aim_compare=True)
    text = enc.indices(('aim_compare',), ())
    image = [i for i in range(enc.dataset_rows) if enc.rows[i]['task_kind'] == 'open_keypoint']
    assert text and image and min(text) >= enc.dataset_rows == len(rows)
    assert len(text) == sum(t == 'next_waypoint' for t in rows['task_kind'])
    assert all(enc.rows[i]['key'] is None for i in text)
    pad = processor.tokenizer.pad_token_id

    def row_loss(idx, j, compact=False):
        batch = enc.batch(idx, pad, compact)
        if not any(enc.rows[i]['key'] for i in idx):
            assert 'pixel_values' not in batch
        labels = batch.pop('labels')
        with torch.no_grad():
            logits = model(**batch).logits[j, :-1]
        keep = labels[j, 1:] != -100
        return torch.nn.functional.cross_entropy(logits[keep], labels[j, 1:][keep]).item()

    alone = row_loss([text[0]], 0)
    assert alone > 0
    for idx, j, compact in (([image[0], text[0]], 1, False), ([text[0], text[1]], 0, True),
                            ([image[0], text[0]], 1, True)):
        assert row_loss(idx, j, compact) == pytest.approx(alone, rel=1e-4), (idx, compact)
    # the image row's loss does not change beside a text row either
    assert row_loss([image[0], text[0]], 0) == pytest.approx(row_loss([image[0]], 0), rel=1e-4)


@pytest.mark.parametrize('think', ['aim_pair', 'aim_key_cm'])
def test_curriculum_trains_on_comparison_rows_alone_with_the_aux_heads(tiny_model, qa_dataset,
                                                                       tmp_path, drawn_tasks,
                                                                       think):
    """A stage of comparison rows only: text-only batches (no image token for the grid head,
    no scene for the binding head) train and export, for the verdicts and the key match."""
    from robot_r1_ros.training import curriculum

    data = {'name': 'compare-test', 'model': {'path': str(tiny_model), 'image_pixels': 12544},
            'data': {'path': str(qa_dataset['path'])}, 'think': think,
            'grid_aux': {'layer': 1, 'weight': 0.5}, 'bind_aux': {'layer': 1, 'weight': 0.5},
            'stages': [{'tasks': ['aim_compare'], 'cpu_minutes': 0.03, 'learning_rate': 3e-3,
                        'weights': {'aim_compare': 1.0}}],
            'train': {'batch_size': 4, 'warmup_steps': 2, 'eval_every_cpu_s': 1e9,
                      'eval_rows_per_group': 2, 'seed': 0, 'compact_prompt': 0.5}}
    path = tmp_path / 'learn.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    final = curriculum.train(curriculum.load_config(path), tmp_path / 'run')
    assert drawn_tasks and set(drawn_tasks) == {'aim_compare'}
    records = [json.loads(line) for line in (tmp_path / 'run' / 'log.jsonl').open()]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert losses and all(loss > 0 for loss in losses)
    assert all(r['grid_loss'] == 0.0 and r['bind_loss'] == 0.0 for r in records
               if 'grid_loss' in r)
    assert (final / 'config.json').is_file()
