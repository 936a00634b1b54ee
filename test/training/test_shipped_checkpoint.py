"""The shipped default checkpoint (issue 9): the node's and demo's default, under 10 MB, loads
through ``from_pretrained`` and picks next waypoints on freshly recorded demos far above chance."""
from __future__ import annotations

import json
import re

import yaml
from r1_testing import REPO

from robot_r1_ros.core.paths import shipped_model_id
from robot_r1_ros.training import evaluate


def _default_model_dir():
    return REPO / shipped_model_id()


def test_node_and_demo_default_is_the_shipped_learned_checkpoint():
    from robot_r1_ros.ros import demo

    path = _default_model_dir()
    assert path.parent == REPO / 'checkpoints', path  # a committed checkpoint
    fr3 = yaml.safe_load((REPO / 'config' / 'fr3.yaml').read_text())
    assert REPO / fr3['/**/reasoning_node']['ros__parameters']['model']['id'] == path
    assert demo.DEMO_CHECKPOINTS[0] == f'checkpoints/{path.name}'
    weights = path / 'model.safetensors'
    assert weights.is_file() and weights.stat().st_size <= 10 * 1024 * 1024
    assert not list(path.glob('*.bin')) and not list(path.glob('*.pt'))
    card = (path / 'README.md').read_text()
    assert 'robot-r1 learn' in card and '## Closed loop in the MuJoCo scene' in card
    report = json.loads((path / 'eval_report_constrained.json').read_text())
    assert report['closed_loop']['episodes'] >= 20 and report['closed_loop']['expert']
    assert str(REPO) not in card
    assert not re.search(r'(?<![\w.])/(?:tmp|root|home|work)/', card)  # no machine paths


def test_shipped_checkpoint_answers_fresh_next_waypoint_questions(qa_dataset):
    """On the session's freshly recorded demos (3 episodes), free greedy decoding."""
    from robot_r1_ros.training import common

    settings = evaluate.EvalSettings(split='train', tasks=('next_waypoint',),
                                     max_new_tokens=200)
    dsd = common.load_dataset_dict(qa_dataset['path'])
    rows = common.select_rows(dsd['train'], ('next_waypoint',), 'random')
    model, processor = evaluate.load_eval_model(_default_model_dir(), settings)
    completions = evaluate.generate_completions(model, processor, rows, batch_size=8,
                                                max_new_tokens=200, progress=False)
    meta = rows.select_columns(list(evaluate.META_COLUMNS)).to_list()
    scored = evaluate.score_rows(meta, completions)
    accuracy = sum(bool(r['correct']) for r in scored) / len(scored)
    assert len(scored) >= 8
    assert accuracy >= 0.5, f'{accuracy:.2f} on {len(scored)} questions (chance 0.25)'
