"""The curriculum's encoder (``training.encoded``): every row's tokens are the processor's own."""
from __future__ import annotations

from pathlib import Path

import pytest


def test_encoded_rows_equal_the_processors(tiny_model, qa_dataset):
    """A frame's image is processed once; its other questions' prompts expand the image
    placeholder from the cached grid, and their ids, token types and pixels equal what the
    processor gives for each row on its own."""
    import torch
    from datasets import load_from_disk

    from robot_r1_ros.training.common import load_model, load_processor_for
    from robot_r1_ros.training.compact_prompt import build_compactor
    from robot_r1_ros.training.encoded import Encoded
    from robot_r1_ros.training.recipe import ModelSpec

    rows = load_from_disk(str(qa_dataset['path']))['train'].select(range(60))
    spec = ModelSpec(path=str(tiny_model), image_min_pixels=12544, image_max_pixels=12544)
    processor = load_processor_for(spec)
    compactor = build_compactor(processor, rows, load_model(spec))
    enc = Encoded(processor, rows, 'aim', compactor)
    assert len(enc.pixels) < len(rows), 'the sample shares frames between questions'
    for row, done in zip(rows, enc.rows):
        text = processor.apply_chat_template(row['prompt'], tokenize=False,
                                             add_generation_prompt=True)
        want = processor(text=[text], images=[[row['image']]], return_tensors='pt')
        assert torch.equal(done['prompt_ids'], want['input_ids'][0])
        assert torch.equal(done['mm'], want['mm_token_type_ids'][0])
        pixels, grid = enc.pixels[done['key']]
        assert torch.equal(grid, want['image_grid_thw'])
        assert torch.equal(pixels, want['pixel_values'].to(torch.float16))
        ids, mm, p_pos, c_pos = compactor.compact(want['input_ids'][0],
                                                  want['mm_token_type_ids'][0],
                                                  want['image_grid_thw'], done['comp_ids'])
        assert torch.equal(done['compact']['prompt_ids'], ids)
        assert torch.equal(done['compact']['mm'], mm)
        assert torch.equal(done['compact']['pos'], torch.cat([p_pos, c_pos], dim=1))


def test_a_prompt_without_its_one_image_placeholder_is_refused(tiny_model):
    from robot_r1_ros.training.common import load_processor_for
    from robot_r1_ros.training.encoded import _FramePrompt
    from robot_r1_ros.training.recipe import ModelSpec

    processor = load_processor_for(ModelSpec(path=str(tiny_model), image_max_pixels=12544))
    import torch
    grid = torch.tensor([[1, 8, 8]])
    one = _FramePrompt(processor).encode('a <|image_pad|> b', grid)
    assert int(one['mm_token_type_ids'].sum()) == 16
    with pytest.raises(ValueError, match='found 2'):
        _FramePrompt(processor).encode('<|image_pad|><|image_pad|>', grid)


def _encode_share(workers, model: str, dataset: str, out: str) -> None:
    """A worker of the test below: encode with the others, save what every row became."""
    import torch
    from datasets import load_from_disk

    from robot_r1_ros.training.common import load_processor_for
    from robot_r1_ros.training.encoded import Encoded
    from robot_r1_ros.training.recipe import ModelSpec

    rows = load_from_disk(dataset)['train'].select(range(40))
    processor = load_processor_for(ModelSpec(path=model, image_min_pixels=12544,
                                             image_max_pixels=12544))
    enc = Encoded(processor, rows, 'aim', workers=workers,
                  exchange_dir=Path(out) / 'shares')
    torch.save(_digest(enc), Path(out) / f'rank{workers.rank}.pt')


def _digest(enc) -> tuple:
    return ([(r['prompt_ids'], r['comp_ids'], r['key'], r['task_kind']) for r in enc.rows],
            {k: v[0] for k, v in enc.pixels.items()}, enc.think_tokens, enc.lengths)


def test_two_workers_each_encode_half_and_hold_the_whole_set(tiny_model, qa_dataset, tmp_path):
    """With two workers each encodes half of the rows and reads the other's half: both hold
    the rows, frames and lengths one process encodes alone, in the same order, and the shares'
    folder is gone."""
    import torch
    from datasets import load_from_disk

    from robot_r1_ros.training import workers as wk
    from robot_r1_ros.training.common import load_processor_for
    from robot_r1_ros.training.encoded import Encoded
    from robot_r1_ros.training.recipe import ModelSpec

    wk.launch(_encode_share, 2, str(tiny_model), str(qa_dataset['path']), str(tmp_path))
    rows = load_from_disk(str(qa_dataset['path']))['train'].select(range(40))
    processor = load_processor_for(ModelSpec(path=str(tiny_model), image_min_pixels=12544,
                                             image_max_pixels=12544))
    alone = _digest(Encoded(processor, rows, 'aim'))
    for rank in (0, 1):
        got = torch.load(tmp_path / f'rank{rank}.pt', weights_only=False)
        assert len(got[0]) == len(alone[0]) == 40
        for (ids, comp, key, kind), (w_ids, w_comp, w_key, w_kind) in zip(got[0], alone[0]):
            assert torch.equal(ids, w_ids) and torch.equal(comp, w_comp)
            assert (key, kind) == (w_key, w_kind)
        assert got[1].keys() == alone[1].keys()
        assert all(torch.equal(got[1][k], alone[1][k]) for k in alone[1])
        assert got[2:] == alone[2:]
    assert not (tmp_path / 'shares').exists()
    with pytest.raises(ValueError, match='exchange_dir'):
        Encoded(processor, rows, 'aim', workers=wk.Workers(rank=0, world=2))
