"""Curriculum SFT (issue 9): config parsing, the ``compare`` and ``plan`` reasoning, real short
runs on the session's dataset and tiny checkpoint (export, per-task weights, kill and resume),
and a re-initialised wider model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from robot_r1_ros.core.errors import ConfigError


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / 'learn.yaml'
    path.write_text(yaml.safe_dump(data), encoding='utf-8')
    return path


def _config(model: Path, dataset: Path, **extra) -> dict:
    data = {'name': 'learn-test', 'model': {'path': str(model), 'image_pixels': 12544},
            'data': {'path': str(dataset)}, 'think': 'compare',
            'stages': [{'tasks': ['next_waypoint'], 'distractors': ['random'],
                        'cpu_minutes': 0.04, 'learning_rate': 3e-3},
                       {'tasks': ['next_waypoint', 'current_state'],
                        'distractors': ['random', 'hard'], 'cpu_minutes': 0.03}],
            'train': {'batch_size': 4, 'warmup_steps': 2, 'eval_every_cpu_s': 1e9,
                      'eval_rows_per_group': 2, 'seed': 0}}
    data.update(extra)
    return data


def test_shipped_learn_configs_parse():
    from robot_r1_ros.training.curriculum import load_config
    root = Path(__file__).resolve().parents[2]
    paths = sorted((root / 'config' / 'train').glob('learn_*.yaml'))
    assert paths, 'no learn_*.yaml shipped'
    experiments = sorted(p for p in (root / 'experiments' / 'configs').glob('*.yaml')
                         if 'stages' in p.read_text(encoding='utf-8'))
    assert experiments, 'no experiment configs'
    paths += experiments
    for path in paths:
        cfg = load_config(path)
        # every stage has one length: a CPU budget or a pinned step count
        assert cfg.stages and all((s.cpu_minutes > 0) != (s.steps > 0) for s in cfg.stages)


def test_bad_configs_raise_config_error(tmp_path):
    from robot_r1_ros.training.curriculum import load_config
    with pytest.raises(ConfigError):
        load_config(tmp_path / 'missing.yaml')
    with pytest.raises(ConfigError):
        load_config(_write(tmp_path, _config(Path('m'), Path('d'), think='telepathy')))
    with pytest.raises(ConfigError):
        load_config(_write(tmp_path, {'name': 'x', 'model': {'path': 'm'}}))
    for train in ({'batch_size': 0}, {'eval_every_cpu_s': 'often'}, {'warmup_steps': -1},
                  {'batch_size': 4, 'epochs': 3}, {'digit_loss_weight': -0.5},
                  {'sign_loss_weight': -1.0}, {'sign_loss_weight': 'yes'},
                  {'word_loss_weight': -1.0}, {'word_loss_weight': 'copy'},
                  {'gripper_word_loss_weight': -1.0}, {'gripper_word_loss_weight': 'open'},
                  {'verdict_loss_weight': -1.0}, {'verdict_loss_weight': 'yes'},
                  {'freeze_vision': 'false'}, {'compact_prompt': 1.5},
                  {'compact_prompt': 'half'}, {'compact_prompt': float('nan')},
                  {'length_groups': 0}, {'length_groups': 'four'}):
        data = _config(Path('m'), Path('d'))
        data['train'].update(train)
        with pytest.raises(ConfigError):
            load_config(_write(tmp_path, data))
    for aux, train in (({'frames': 'f.npz', 'weight': 0.0}, {}),
                       ({'frames': 'f.npz', 'colour': 'red'}, {}),
                       ({'heads': 'h.pt'}, {}),
                       ({'frames': 'f.npz'}, {'freeze_vision': True})):
        data = _config(Path('m'), Path('d'), vision_aux=aux)
        data['train'].update(train)
        with pytest.raises(ConfigError):
            load_config(_write(tmp_path, data))
    data = _config(Path('m'), Path('d'))
    data['model']['aux_heads_from'] = 'aux_heads.pt'  # no head to start
    with pytest.raises(ConfigError, match='needs a head to start'):
        load_config(_write(tmp_path, data))
    data = _config(Path('m'), Path('d'))
    data['stages'][0]['cpu_minutes'] = 0
    with pytest.raises(ConfigError, match='cpu_minutes'):
        load_config(_write(tmp_path, data))
    # YAML reads 1.0e9 (no exponent sign) as a string; the loader converts it.
    data = _config(Path('m'), Path('d'))
    path = _write(tmp_path, data)
    path.write_text(path.read_text().replace('1000000000.0', '1.0e9'))
    assert '1.0e9' in path.read_text()
    assert load_config(path).eval_every_cpu_s == 1e9
    for steps in (0, -3, 'many', True, 2.5):  # a stage's pinned step count: a whole number
        data = _config(Path('m'), Path('d'))
        data['stages'][0]['steps'] = steps
        del data['stages'][0]['cpu_minutes']
        with pytest.raises(ConfigError, match='steps'):
            load_config(_write(tmp_path, data))
    data = _config(Path('m'), Path('d'))
    data['stages'][0]['steps'] = 5  # beside its cpu_minutes: one of them would be ignored
    with pytest.raises(ConfigError, match='steps or cpu_minutes'):
        load_config(_write(tmp_path, data))
    for weights in ({'movement': 1.0}, {'next_waypoint': -1.0}, {'next_waypoint': 0.0},
                    {'next_waypoint': float('nan')},
                    # a kind the stage does not keep, a kind that is none, a task not in it
                    {'next_waypoint/hard': 1.0}, {'next_waypoint/odd': 1.0}, {'next_waypoint/': 1.0},
                    {'movement/random': 1.0}):
        data = _config(Path('m'), Path('d'))
        data['stages'][0]['weights'] = weights
        with pytest.raises(ConfigError, match='weights'):
            load_config(_write(tmp_path, data))


def test_compare_reasoning_states_every_option_and_one_yes(qa_dataset):
    from robot_r1_ros.training import common
    from robot_r1_ros.training.curriculum import completion, reasoning

    rows = common.select_rows(common.load_dataset_dict(qa_dataset['path'])['train'],
                              ('next_waypoint', 'current_state', 'movement'), 'any')
    assert len(rows) > 0
    for row in rows:
        think = reasoning(row, 'compare')
        for letter, option in zip('ABCD', row['options']):
            verdict = 'yes' if letter == row['answer_letter'] else 'no'
            assert f'{letter} {option} {verdict}.' in think
        assert think.count(' yes.') == 1
        assert think.startswith('now [') == (row['task_kind'] != 'current_state')
        text = completion(row, 'compare')
        assert text.endswith(f"<answer>{row['answer_text']}</answer>")
    with pytest.raises(ConfigError):
        reasoning(rows[0], 'telepathy')


def test_plan_reasoning_states_the_expected_movement_before_the_verdicts(qa_dataset):
    from robot_r1_ros.training import common
    from robot_r1_ros.training.curriculum import reasoning

    rows = common.select_rows(common.load_dataset_dict(qa_dataset['path'])['train'],
                              ('next_waypoint', 'current_state', 'movement'), 'any')
    movement = 0
    for row in rows:
        plan, compare = reasoning(row, 'plan'), reasoning(row, 'compare')
        if row['task_kind'] != 'movement':
            assert plan == compare
            continue
        movement += 1
        gold = row['options']['ABCD'.index(row['answer_letter'])]
        assert plan.startswith('now [')
        assert plan == compare.replace('. A ', f'. expect {gold}. A ', 1)
        assert plan.count(' yes.') == 1
    assert movement > 0


def test_short_curriculum_run_exports_a_loadable_checkpoint(tiny_model, qa_dataset, tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training.curriculum import load_config, train

    data = _config(tiny_model, qa_dataset['path'])
    data['train']['digit_loss_weight'] = 0.3  # the ordinal digit loss rides along
    data['train']['sign_loss_weight'] = 1.0  # and the numbers' signs
    data['train']['compact_prompt'] = 0.5  # and half the batches without the constant lines
    cfg = load_config(_write(tmp_path, data))
    assert cfg.digit_loss_weight == 0.3 and cfg.compact_prompt == 0.5
    assert cfg.sign_loss_weight == 1.0
    before = AutoModelForImageTextToText.from_pretrained(tiny_model).state_dict()
    final = train(cfg, tmp_path / 'run')
    records = [json.loads(line) for line in (tmp_path / 'run' / 'log.jsonl').open()]
    evals = [r for r in records if 'eval' in r]
    assert evals and evals[-1].get('final')
    for group in evals[-1]['eval'].values():
        assert group['n'] > 0 and 0.0 <= group['accuracy'] <= 1.0
        assert sum(group['letters'].values()) == group['n']
    info = json.loads((tmp_path / 'run' / 'run_info.json').read_text())
    assert info['steps'] >= 2 and info['train_rows'] > 0
    assert info['think_tokens_max'] > 0 and 0 <= info['rows_over_node_think_budget'] \
        <= info['train_rows']
    assert 0 < info['compact_prompt']['steps'] < info['steps'], info['compact_prompt']
    after = AutoModelForImageTextToText.from_pretrained(final).state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (final / 'preprocessor_config.json').is_file()
    assert json.loads((final / 'preprocessor_config.json').read_text())['max_pixels'] == 12544


def test_a_stage_with_steps_takes_exactly_that_many_whatever_its_cpu(tiny_model, qa_dataset,
                                                                     tmp_path):
    from robot_r1_ros.training.curriculum import describe_length, load_config, train

    data = _config(tiny_model, qa_dataset['path'])
    data['stages'] = [{'tasks': ['next_waypoint'], 'steps': 5, 'learning_rate': 3e-3}]
    cfg = load_config(_write(tmp_path, data))
    assert cfg.stages[0].steps == 5 and cfg.stages[0].cpu_minutes == 0.0  # no budget
    assert describe_length(cfg.stages) == '5 steps'
    train(cfg, tmp_path / 'run')
    info = json.loads((tmp_path / 'run' / 'run_info.json').read_text())
    assert info['steps'] == 5 and info['stages'][0]['steps'] == 5
    logged = [r for r in map(json.loads, (tmp_path / 'run' / 'log.jsonl').open()) if 'lr' in r]
    assert logged == [] or logged[-1]['step'] <= 5
    budgeted = _config(tiny_model, qa_dataset['path'])
    assert describe_length(load_config(_write(tmp_path, budgeted)).stages) == '0.1 CPU-minutes'


def test_completion_loss_equals_the_models_own_loss_and_gradients(tiny_model, qa_dataset):
    """The training step's loss (logits only where a label is scored) is the model's full
    forward loss, number-token term included, with the same gradients."""
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training import common
    from robot_r1_ros.training.curriculum import Encoded
    from robot_r1_ros.training.number_loss import (completion_loss, digit_token_ids,
                                                   with_number_loss)
    from robot_r1_ros.training.recipe import ModelSpec

    processor = common.load_processor_for(ModelSpec(path=str(tiny_model),
                                                    image_min_pixels=12544,
                                                    image_max_pixels=12544))
    rows = common.load_dataset_dict(qa_dataset['path'])['train'].select(range(4))
    enc = Encoded(processor, rows, 'compare')
    batch = enc.batch(range(4), processor.tokenizer.pad_token_id)
    assert int((batch['labels'] == -100).sum()) > int((batch['labels'] != -100).sum())
    digits = digit_token_ids(processor.tokenizer)
    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    model.train()
    for weight in (0.0, 0.3):
        grads = []
        for loss_of in (lambda: with_number_loss(model(**batch), batch['labels'], digits, weight),
                        lambda: completion_loss(model, batch, digits, weight)):
            model.zero_grad(set_to_none=True)
            torch.manual_seed(0)
            loss = loss_of()
            loss.backward()
            grads.append((loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()
                                        if p.grad is not None}))
        (full, g_full), (compact, g_compact) = grads
        assert full > 0 and abs(full - compact) < 1e-5 * full, (weight, full, compact)
        assert g_full.keys() == g_compact.keys() and 'lm_head.weight' in g_full
        for name, g in g_full.items():
            assert torch.allclose(g, g_compact[name], rtol=1e-4, atol=1e-7), name


def test_frozen_swapped_tower_is_the_donors_after_training(tiny_model, qa_dataset, tmp_path):
    """``model.vision_from`` puts the donor's tower in; ``freeze_vision`` keeps it bit-exact
    through a real run while the language model trains."""
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training.curriculum import load_config, train

    donor = AutoModelForImageTextToText.from_pretrained(tiny_model)
    with torch.no_grad():
        for param in donor.model.visual.parameters():
            param.add_(0.01 * torch.randn_like(param))
    donor.save_pretrained(tmp_path / 'donor')
    data = _config(tiny_model, qa_dataset['path'])
    data['model']['vision_from'] = str(tmp_path / 'donor')
    data['train']['freeze_vision'] = True
    final = train(load_config(_write(tmp_path, data)), tmp_path / 'run')
    before = AutoModelForImageTextToText.from_pretrained(tiny_model).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(final)
    want = donor.model.visual.state_dict()
    got = after.model.visual.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    language = {k: v for k, v in after.state_dict().items() if 'visual' not in k}
    assert any(not torch.equal(before[k], v) for k, v in language.items() if k in before)


def test_reinitialised_dims_build_a_working_qwen_vl(tiny_model, tmp_path):
    import torch

    from robot_r1_ros.training.curriculum import build_model, load_config

    data = _config(tiny_model, tmp_path)
    data['model']['text_dims'] = {'hidden_size': 96, 'num_hidden_layers': 3,
                                  'num_attention_heads': 4, 'num_key_value_heads': 2,
                                  'intermediate_size': 192}
    model = build_model(load_config(_write(tmp_path, data)))
    assert type(model).__name__ == 'Qwen2_5_VLForConditionalGeneration'
    assert model.config.text_config.hidden_size == 96
    assert len(model.model.language_model.layers) == 3
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    assert logits.shape[:2] == (1, 4) and torch.isfinite(logits).all()


def test_stage_weights_draw_rows_of_the_weighted_tasks_only(tiny_model, qa_dataset, tmp_path,
                                                            drawn_tasks):
    from robot_r1_ros.training import curriculum

    data = _config(tiny_model, qa_dataset['path'])
    data['stages'] = [{'tasks': ['next_waypoint', 'movement'], 'cpu_minutes': 0.03,
                       'weights': {'movement': 1.0, 'next_waypoint': 0.0}}]
    cfg = curriculum.load_config(_write(tmp_path, data))
    curriculum.train(cfg, tmp_path / 'run')
    assert drawn_tasks and set(drawn_tasks) == {'movement'}


def test_a_task_kind_weight_draws_that_distractor_kind_only(tiny_model, qa_dataset, tmp_path,
                                                           monkeypatch):
    from robot_r1_ros.training import curriculum
    from robot_r1_ros.training.encoded import Encoded

    seen: list[tuple[str, str]] = []
    batch = Encoded.batch

    def spy(self, idx, pad_id, compact=False):
        seen.extend((self.rows[i]['task_kind'], self.rows[i]['distractor_kind']) for i in idx)
        return batch(self, idx, pad_id, compact)

    monkeypatch.setattr(Encoded, 'batch', spy)
    data = _config(tiny_model, qa_dataset['path'])
    data['stages'] = [{'tasks': ['next_waypoint', 'current_state'],
                       'distractors': ['random', 'hard'], 'cpu_minutes': 0.03,
                       'weights': {'next_waypoint/hard': 1.0, 'current_state/random': 0.5}}]
    cfg = curriculum.load_config(_write(tmp_path, data))
    curriculum.train(cfg, tmp_path / 'run')
    # both weighted keys are drawn, and nothing else: no random next waypoint, no hard state
    assert set(seen) == {('next_waypoint', 'hard'), ('current_state', 'random')}



def test_length_groups_regroup_the_drawn_rows_by_length_and_keep_them_all():
    """``train.length_groups``: the rows of ``groups`` drawn batches, cut by length into as many
    batches; every drawn row is kept, padding falls, and two workers with the same seed serve
    their batches in the same length order."""
    import random

    from robot_r1_ros.training.encoded import LengthGroups

    lengths = [random.Random(i).randint(200, 560) for i in range(400)]

    def sampler(seed):
        rng = random.Random(seed)
        return lambda: [rng.randrange(400) for _ in range(8)]

    first = sampler(1)
    plain = [first() for _ in range(32)]
    grouped_draw = LengthGroups(sampler(1), lengths, 8, 'run/0')
    grouped = []
    for k in range(32):
        assert grouped_draw.at_boundary == (k % 8 == 0)
        grouped.append(grouped_draw())
    for r in range(4):  # each round holds exactly the rows its 8 draws gave
        assert sorted(i for b in grouped[8 * r:8 * r + 8] for i in b) == sorted(
            i for b in plain[8 * r:8 * r + 8] for i in b)
        spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b))
                       for b in grouped[8 * r:8 * r + 8])
        assert all(hi <= nxt_lo for (_, hi), (nxt_lo, _) in zip(spans, spans[1:]))

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert padded(grouped) < 0.9 * padded(plain)
    # another worker (other rows, the same seed): its k-th batch has the same length rank
    other = LengthGroups(sampler(2), lengths, 8, 'run/0')
    ranks = [sorted(range(8), key=lambda j: max(lengths[i] for i in grouped[j]))
             for grouped in (grouped[:8], [other() for _ in range(8)])]
    assert ranks[0] == ranks[1]
    as_drawn = LengthGroups(sampler(1), lengths, 1, 'run/0')
    assert [as_drawn() for _ in range(32)] == plain


def test_a_length_grouped_run_resumes_with_the_batches_it_would_have_drawn(
        tiny_model, qa_dataset, tmp_path, monkeypatch):
    """A killed run with ``length_groups`` resumes from a point between regroupings, and its
    batches after the resume are those of a run that was never killed."""
    from robot_r1_ros.training import curriculum

    def run(out, die_at=None):
        data = _config(tiny_model, qa_dataset['path'])
        data['stages'] = [{'tasks': ['next_waypoint', 'current_state'],
                           'distractors': ['random', 'hard'], 'steps': 8,
                           'learning_rate': 1e-3}]
        data['train'].update(checkpoint_every_cpu_s=0.0, length_groups=4)
        cfg = curriculum.load_config(_write(tmp_path, data))
        assert cfg.length_groups == 4
        batch = curriculum.Encoded.batch
        seen: list[list[int]] = []

        def spy(self, idx, pad_id, compact=False):
            if len(seen) + 1 == die_at:
                raise KeyboardInterrupt('killed')
            seen.append(list(idx))
            return batch(self, idx, pad_id, compact)

        monkeypatch.setattr(curriculum.Encoded, 'batch', spy)
        try:
            curriculum.train(cfg, out)
        finally:
            monkeypatch.setattr(curriculum.Encoded, 'batch', batch)
        return seen

    whole = run(tmp_path / 'whole')
    assert len(whole) == 8
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / 'killed', die_at=7)  # in the second regrouping: resume point at step 4
    import torch
    state = torch.load(tmp_path / 'killed' / 'resume' / 'state.pt', weights_only=False)
    assert state['position']['step'] == 4
    assert run(tmp_path / 'killed') == whole[4:]

def test_killed_run_resumes_from_its_last_resume_point(tiny_model, qa_dataset, tmp_path,
                                                       monkeypatch):
    from robot_r1_ros.training import curriculum

    data = _config(tiny_model, qa_dataset['path'])
    data['train']['checkpoint_every_cpu_s'] = 0.0  # a resume point after every step
    # Stage 1's budget is shorter than the CPU stage 0 has used when the run is killed, so a
    # resume that charged stage 0's time to stage 1 would run no step of stage 1.
    data['stages'][0]['cpu_minutes'] = 0.06
    data['stages'][1]['cpu_minutes'] = 0.005
    cfg = curriculum.load_config(_write(tmp_path, data))
    batch = curriculum.Encoded.batch
    calls = {'n': 0}

    def dies_at_step_12(self, idx, pad_id, compact=False):
        calls['n'] += 1
        if calls['n'] == 12:
            raise KeyboardInterrupt('killed')
        return batch(self, idx, pad_id, compact)

    monkeypatch.setattr(curriculum.Encoded, 'batch', dies_at_step_12)
    with pytest.raises(KeyboardInterrupt):
        curriculum.train(cfg, tmp_path / 'run')
    state = (tmp_path / 'run' / 'resume' / 'state.pt')
    assert state.is_file() and not (tmp_path / 'run' / 'final').exists()
    monkeypatch.setattr(curriculum.Encoded, 'batch', batch)
    sampler = curriculum.stage_sampler
    drawn: list[int] = []

    def recording_sampler(enc, stage, batch_size, index=0):
        draw = sampler(enc, stage, batch_size, index)

        def recorded():
            drawn.append(index)
            return draw()
        return recorded

    monkeypatch.setattr(curriculum, 'stage_sampler', recording_sampler)
    final = curriculum.train(cfg, tmp_path / 'run')
    assert (final / 'model.safetensors').is_file()
    steps = [json.loads(line)['step'] for line in (tmp_path / 'run' / 'log.jsonl').open()]
    info = json.loads((tmp_path / 'run' / 'run_info.json').read_text())
    # The second process went on from step 11 (no step counted twice, none lost).
    assert info['steps'] == max(steps) and info['steps'] == 11 + len(drawn)
    # It finished stage 0, then gave stage 1 its own whole budget.
    assert drawn[0] == 0 and 1 in drawn
    import torch
    position = torch.load(state, weights_only=False)['position']
    assert position['stage'] == len(cfg.stages) and position['step'] == info['steps']
    # Running it again finds every stage done: no new step, the same final checkpoint.
    again = curriculum.train(cfg, tmp_path / 'run')
    assert json.loads((tmp_path / 'run' / 'run_info.json').read_text())['steps'] == info['steps']
    assert again == final


def _frames(path: Path, n_train: int = 24, n_test: int = 8) -> Path:
    """A small ``frames.npz`` like the vision stage's: four coloured squares on grey, and
    their (x, y, z) from their pixel position."""
    import numpy as np
    rng = np.random.default_rng(0)
    colours = [(220, 30, 30), (30, 200, 30), (30, 30, 220), (230, 220, 40)]

    def make(n):
        images = np.full((n, 112, 112, 3), 128, np.uint8)
        pos = np.zeros((n, 4, 3), np.float32)
        for i in range(n):
            for k, colour in enumerate(colours):
                r, c = rng.integers(8, 96, size=2)
                images[i, r:r + 12, c:c + 12] = colour
                pos[i, k] = (0.3 + r / 224, c / 224 - 0.25, 0.02)
        return images, pos
    tr_img, tr_pos = make(n_train)
    te_img, te_pos = make(n_test)
    np.savez_compressed(path, tr_img=tr_img, tr_pos=tr_pos, te_img=te_img, te_pos=te_pos,
                        names=np.array(['red_cube', 'green_cube', 'blue_cube', 'target_zone']))
    return path


def test_vision_aux_run_trains_the_heads_and_exports_without_them(tiny_model, qa_dataset,
                                                                   tmp_path):
    """``vision_aux``: the position loss rides along, is logged with the held-out error, its
    heads are in the resume state and not in the exported checkpoint."""
    import torch
    from transformers import AutoModelForImageTextToText

    from robot_r1_ros.training.curriculum import load_config, train

    frames = _frames(tmp_path / 'frames.npz')
    data = _config(tiny_model, qa_dataset['path'],
                   vision_aux={'frames': str(frames), 'weight': 1.0, 'batch_size': 4})
    cfg = load_config(_write(tmp_path, data))
    final = train(cfg, tmp_path / 'run')
    records = [json.loads(line) for line in (tmp_path / 'run' / 'log.jsonl').open()]
    held_out = records[-1]['eval']['vision_aux']
    assert held_out['flatten_cm'] > 0 and 0 <= held_out['attend_within_2cm'] <= 1
    state = torch.load(tmp_path / 'run' / 'resume' / 'state.pt', weights_only=False)
    assert 'flatten.weight' in state['vision_aux']
    before = AutoModelForImageTextToText.from_pretrained(tiny_model).state_dict()
    after = AutoModelForImageTextToText.from_pretrained(final).state_dict()
    assert before.keys() == after.keys()  # no head in the checkpoint
    tower = [k for k in before if 'visual' in k]
    assert any(not torch.equal(before[k], after[k]) for k in tower)
    # The trained heads are written beside final/ (never inside), for a later link to start from
    held = tmp_path / 'run' / 'aux_heads.pt'
    saved = torch.load(held, weights_only=True)
    assert all(torch.equal(saved['vision_aux'][k], v) for k, v in state['vision_aux'].items())
    assert not (final / 'aux_heads.pt').exists()


def test_a_later_link_starts_its_heads_from_the_previous_links(tiny_model, qa_dataset,
                                                               tmp_path):
    """``model.aux_heads_from``: the heads a run wrote (``aux_heads.pt``) are the next run's
    start, not fresh ones; a missing file or heads of another model fail clearly."""
    import torch

    from robot_r1_ros.model.processor import load_processor
    from robot_r1_ros.training import common
    from robot_r1_ros.training.aux_heads import AuxHeads
    from robot_r1_ros.training.curriculum import load_config
    from robot_r1_ros.training.recipe import ModelSpec

    frames = _frames(tmp_path / 'frames.npz')
    model = common.load_model(ModelSpec(path=str(tiny_model)))
    processor = load_processor(str(tiny_model), min_pixels=12544, max_pixels=12544)
    data = _config(tiny_model, qa_dataset['path'],
                   vision_aux={'frames': str(frames), 'batch_size': 4})
    fresh = AuxHeads(load_config(_write(tmp_path, data)), model, processor, [])
    trained = {'vision_aux': {k: v + 1.0 for k, v in fresh.state_dict()['vision_aux'].items()}}
    torch.save(trained, tmp_path / 'aux_heads.pt')
    data['model']['aux_heads_from'] = str(tmp_path / 'aux_heads.pt')
    started = AuxHeads(load_config(_write(tmp_path, data)), model, processor, [])
    assert all(torch.equal(started.state_dict()['vision_aux'][k], v)
               for k, v in trained['vision_aux'].items())
    data['model']['aux_heads_from'] = str(tmp_path / 'missing.pt')
    with pytest.raises(ConfigError, match='no aux heads file'):
        AuxHeads(load_config(_write(tmp_path, data)), model, processor, [])
    torch.save({'vision_aux': {'flatten.weight': torch.zeros(3, 3)}}, tmp_path / 'other.pt')
    data['model']['aux_heads_from'] = str(tmp_path / 'other.pt')
    with pytest.raises(ConfigError, match='do not fit this model'):
        AuxHeads(load_config(_write(tmp_path, data)), model, processor, [])


def test_vision_aux_loss_teaches_the_tower_and_heads(tiny_model, tmp_path):
    """The readouts learn from the loss: a few optimiser steps on it alone lower it."""
    import random

    import torch

    from robot_r1_ros.model.processor import load_processor
    from robot_r1_ros.training import common
    from robot_r1_ros.training.curriculum_config import VisionAuxConfig
    from robot_r1_ros.training.recipe import ModelSpec
    from robot_r1_ros.training.vision_aux import VisionAux

    frames = _frames(tmp_path / 'frames.npz')
    model = common.load_model(ModelSpec(path=str(tiny_model)))
    processor = load_processor(str(tiny_model), min_pixels=12544, max_pixels=12544)
    aux = VisionAux(VisionAuxConfig(frames=str(frames), batch_size=24), model, processor)
    assert aux.n_tokens == 16 and len(aux.names) == 4
    params = list(model.model.visual.parameters()) + aux.parameters()
    opt = torch.optim.Adam(params, lr=3e-3)
    random.seed(0)
    first = None
    for _ in range(40):
        loss = aux.loss()   # batch 24 = all training frames: the same batch every step
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        assert float(aux.loss()) < 0.5 * first
    torch.save({'flatten.weight': torch.zeros(3, 3)}, tmp_path / 'bad.pt')
    with pytest.raises(ConfigError, match='do not fit'):
        VisionAux(VisionAuxConfig(frames=str(frames), heads=str(tmp_path / 'bad.pt')), model,
                  processor)


def test_aim_choice_encodes_waypoint_rows_with_the_frames_objects(tiny_model, qa_dataset):
    """``think: aim_choice``: the curriculum's encoder gathers each frame's object statements
    from the whole split (``frame_facts``) and trains next-waypoint rows on an aim before the
    verdicts; the open keypoints keep the ``aim`` reasoning."""
    from datasets import load_from_disk

    from robot_r1_ros.training.common import load_processor_for
    from robot_r1_ros.training.curriculum import Encoded
    from robot_r1_ros.training.recipe import ModelSpec
    from robot_r1_ros.core.config import GenerationOptions
    from robot_r1_ros.training.think_targets import completion, frame_facts, reasoning

    rows = load_from_disk(str(qa_dataset['path']))['train']
    keys = {(r['episode_id'], r['frame_index']) for r in rows.select(range(40))
            if r['task_kind'] == 'next_waypoint'}
    pick = [i for i, (e, f) in enumerate(zip(rows['episode_id'], rows['frame_index']))
            if (e, f) in keys][:24]
    part = rows.select(pick)
    processor = load_processor_for(ModelSpec(path=str(tiny_model), image_max_pixels=12544))
    enc = Encoded(processor, part, 'aim_choice')
    facts = frame_facts(part['episode_id'], part['frame_index'], part['gold_think'])
    assert facts, 'the demo rows state objects'
    tok = processor.tokenizer
    waypoint = 0
    for row, done, done_think in zip(part, enc.rows, enc.think_tokens):
        text = tok.decode(done['comp_ids'][:-1])
        assert done_think == len(tok(reasoning(row, 'aim_choice', facts),
                                     add_special_tokens=False)['input_ids'])
        assert text == completion(row, 'aim_choice', facts)
        if row['task_kind'] == 'next_waypoint':
            waypoint += 1
            think = text.split('<think>')[1]
            assert think.index('Next: ') < think.index(' A [') and ' yes.' in think
            if facts.get((row['episode_id'], row['frame_index'])):
                assert think.startswith('The ') and 'The gripper is at [' in think
                # longer than the node's reasoning budget: what the run's warning counts (E59)
                assert done_think > GenerationOptions().think_budget_tokens
        elif row['task_kind'] == 'open_keypoint':
            assert text == completion(row, 'aim')
    assert waypoint
