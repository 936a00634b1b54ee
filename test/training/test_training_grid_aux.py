"""The where-am-I loss on the language model's image tokens (``training.grid_aux``, issue 13 E54):
token places, the loss teaching the first decoder layer, a real curriculum run with it (logged,
resumable, exported without its head: ``test_training_bind_aux``, which runs both)."""
from __future__ import annotations

import pytest


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
