"""The text-only comparison probe (``experiments/tools/compare_probe.py``, issue 13): its
``key`` / ``key_cm`` / ``pair_cm`` / ``lead_cm`` reasoning formats and its letter-weighted loss."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest

_TOOL = Path(__file__).resolve().parents[2] / 'experiments' / 'tools' / 'compare_probe.py'


@pytest.fixture(scope='module')
def probe():
    spec = importlib.util.spec_from_file_location('compare_probe', _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row() -> dict:
    return {'options': ['[0.021, -0.056, 0.142]', '[0.047, 0.110, 0.142]',
                        '[0.185, -0.106, 0.142]', '[0.042, -0.229, 0.142]'],
            'answer_letter': 'B', 'answer_text': '[[B]]',
            'current_xyz_env_m': [-0.043, 0.0, 0.487], 'current_gripper': 'open',
            'next_xyz_env_m': [0.047, 0.110, 0.142], 'episode_id': 'scene_1', 'frame_index': 3}


def test_key_formats_list_every_option_with_its_letter_then_aim_at_the_gold_one(probe):
    row = _row()
    aim = probe.aim_of(row, 0.0, None)
    _, metres = probe.texts(row, 'key', aim)
    assert metres == ('<think>[0.021,-0.056] A. [0.047,0.110] B. [0.185,-0.106] C. '
                      '[0.042,-0.229] D. Next: [0.047,0.110] B.</think><answer>[[B]]</answer>')
    prompt, cm = probe.texts(row, 'key_cm', aim)
    assert cm == ('<think>[2,-6] A. [5,11] B. [18,-11] C. [4,-23] D. Next: [5,11] B.</think>'
                  '<answer>[[B]]</answer>')
    assert 'Aim: [5,11].' in prompt  # the aim in the reasoning's units
    _, pair = probe.texts(row, 'pair_cm', aim)
    assert pair.startswith('<think>A [2,-6] [5,11] no. B [5,11] [5,11] yes. C [18,-11]')
    _, lead = probe.texts(row, 'lead_cm', aim)  # the letter before its entry
    assert lead == ('<think>A [2,-6]. B [5,11]. C [18,-11]. D [4,-23]. Next: [5,11] B.</think>'
                    '<answer>[[B]]</answer>')


def test_letter_weight_adds_the_letters_cross_entropy(probe):
    import torch
    torch.manual_seed(0)
    vocab, letter_ids = 12, torch.tensor([3, 4])
    logits = torch.randn(1, 5, vocab)
    batch = {'input_ids': torch.zeros(1, 5, dtype=torch.long),
             'attention_mask': torch.ones(1, 5, dtype=torch.long),
             'labels': torch.tensor([[-100, 7, 3, 9, 4]])}

    def model(**_kw):
        return SimpleNamespace(logits=logits)
    ce = torch.nn.functional.cross_entropy(logits[0, :-1], batch['labels'][0, 1:],
                                           reduction='none')
    plain = probe.weighted_loss(model, batch, letter_ids, 1.0)
    assert torch.isclose(plain, ce.mean())
    weighted = probe.weighted_loss(model, batch, letter_ids, 5.0)
    assert torch.isclose(weighted, ce.mean() + 5.0 * ce[[1, 3]].mean())
