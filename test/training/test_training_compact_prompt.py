"""Compact training prompts (training.compact_prompt): the constant lines are dropped, every
other token keeps the position the full prompt gives it, and a run can mix both kinds."""
from __future__ import annotations

import re

import pytest


@pytest.fixture(scope='module')
def encoded(tiny_model, qa_dataset):
    """The session dataset's first 8 train rows, encoded with and without a compactor."""
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training import common
    from robot_r1_ros.training.compact_prompt import PromptCompactor, build_compactor
    from robot_r1_ros.training.curriculum import Encoded
    from robot_r1_ros.training.recipe import ModelSpec

    processor = common.load_processor_for(ModelSpec(path=str(tiny_model),
                                                    image_min_pixels=12544,
                                                    image_max_pixels=12544))
    rows = common.load_dataset_dict(qa_dataset['path'])['train'].select(range(8))
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    compactor = build_compactor(processor, rows, model)
    nothing_dropped = PromptCompactor(processor.tokenizer, [], model.model.get_rope_index)
    return {'processor': processor, 'rows': rows, 'model': model, 'compactor': compactor,
            'enc': Encoded(processor, rows, 'compare', compactor),
            'same': Encoded(processor, rows, 'compare', nothing_dropped)}


def test_constant_lines_are_the_shared_ones_without_role_names():
    from robot_r1_ros.training.compact_prompt import constant_lines

    texts = ['<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nAxes: x fwd.\nTask: a'
             '<|im_end|>\n<|im_start|>assistant\n',
             '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nAxes: x fwd.\nTask: b'
             '<|im_end|>\n<|im_start|>assistant\n']
    assert constant_lines(texts) == ['Axes: x fwd.', 'Be brief.']


def test_compact_rows_drop_exactly_the_constant_lines(encoded):
    from robot_r1_ros.training.compact_prompt import constant_lines

    processor, enc = encoded['processor'], encoded['enc']
    tok = processor.tokenizer
    constant = set(constant_lines([processor.apply_chat_template(
        p, tokenize=False, add_generation_prompt=True) for p in encoded['rows']['prompt']]))
    assert encoded['compactor'].uncompacted == 0 and encoded['compactor'].rows == 8
    lines = [ln for ln in processor.apply_chat_template(
        encoded['rows'][0]['prompt'], tokenize=False).split('\n') if 'metres' in ln]
    assert lines, 'the prompt states its coordinate frame'
    for row in enc.rows:
        full = tok.decode(row['prompt_ids'])
        kept = tok.decode(row['compact']['prompt_ids'])
        assert len(row['compact']['prompt_ids']) < 0.8 * len(row['prompt_ids'])
        # what differs between rows stays: the image, every non-constant line, the roles
        assert '<|image_pad|>' in kept and kept.endswith('assistant\n')
        assert 'Coordinates (metres)' in full and 'Coordinates (metres)' not in kept
        for line in re.split(r'\n|<\|[^|]*\|>', full):
            if line.strip() and line not in constant:
                assert line in kept, line
        # every kept token is in the full prompt, in order
        it = iter(row['prompt_ids'].tolist())
        assert all(t in it for t in row['compact']['prompt_ids'].tolist())


def test_compact_positions_are_the_full_prompts_and_nothing_dropped_is_the_full_loss(encoded):
    import torch

    from robot_r1_ros.training.number_loss import completion_loss

    model, pad = encoded['model'], encoded['processor'].tokenizer.pad_token_id
    idx = list(range(4))
    full, same = encoded['same'].batch(idx, pad), encoded['same'].batch(idx, pad, compact=True)
    assert torch.equal(full['input_ids'], same['input_ids'])
    with torch.no_grad():
        pos, _ = model.model.get_rope_index(full['input_ids'], full['mm_token_type_ids'],
                                            image_grid_thw=full['image_grid_thw'],
                                            attention_mask=full['attention_mask'])
        real = full['attention_mask'].bool()
        assert torch.equal(pos[:, real], same['position_ids'][:, real])
        loss_full = completion_loss(model, full, [], 0.0)
        loss_same = completion_loss(model, same, [], 0.0)
        assert abs(float(loss_full) - float(loss_same)) < 1e-6
        compact = encoded['enc'].batch(idx, pad, compact=True)
        assert compact['input_ids'].shape[1] < full['input_ids'].shape[1]
        # the image's grid positions are the full prompt's
        image = encoded['model'].config.image_token_id
        for j in idx:
            assert torch.equal(pos[:, j][:, full['input_ids'][j] == image],
                               compact['position_ids'][:, j][:, compact['input_ids'][j] == image])
        assert torch.isfinite(completion_loss(model, compact, [], 0.0))
    with pytest.raises(ValueError, match='compactor'):
        encoded['enc'].__class__(encoded['processor'], encoded['rows'].select(range(1)),
                                 'compare').batch([0], pad, compact=True)
