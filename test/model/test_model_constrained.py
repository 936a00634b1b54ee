"""Answer-constrained decoding: 0 format failures from the untrained tiny model, an exact
reasoning budget, and a grammar that is core.parsing's."""
from __future__ import annotations

import random
import re

import numpy as np
import pytest

from robot_r1_ros.core import parsing
from robot_r1_ros.core.errors import ConfigError
from robot_r1_ros.core.types import PAPER_TASKS, TaskKind
from robot_r1_ros.model import constrained
from robot_r1_ros.model.constrained import (ConstraintFactory, full_completion_regex, post_regex,
                                            regex_alphabet, regex_width)


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (int(rng.integers(40, 120)), int(rng.integers(40, 160)), 3),
                         dtype=np.uint8) for _ in range(n)]


def test_200_sampled_generations_have_zero_format_failures(tiny_reasoner, make_request):
    gen = tiny_reasoner.defaults.replace(do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                         think_budget_tokens=16, max_new_tokens=96)
    failures, total, budget_hits = [], 0, 0
    for i, image in enumerate(_images(5)):
        for kind in PAPER_TASKS:  # the node's tasks (grounding questions are offline)
            req = make_request(kind, image=image, generation=gen.replace(seed=100 * i + len(
                kind.value)))
            for out in tiny_reasoner.sample(req, 10):
                total += 1
                budget_hits += out.think_budget_hit
                strict = re.fullmatch(full_completion_regex(kind), out.completion, re.DOTALL)
                if not out.ok or strict is None or out.finish_reason != 'stop':
                    failures.append((kind.value, out.completion, out.parse_error))
    assert total == 200
    assert failures == []
    assert budget_hits > 0  # the untrained model never closes by itself: the budget does


def test_unconstrained_untrained_model_fails_the_format(tiny_reasoner, make_request):
    """The baseline the constraint fixes (so the test above is not vacuous)."""
    gen = tiny_reasoner.defaults.replace(constrained=False, do_sample=True, max_new_tokens=48,
                                         seed=0)
    outs = tiny_reasoner.sample(make_request(TaskKind.OPEN_KEYPOINT, generation=gen), 20)
    assert sum(not o.ok for o in outs) >= 18


@pytest.mark.parametrize('budget', [0, 1, 7, 20])
def test_reasoning_budget_is_exact(tiny_reasoner, make_request, budget, torch_one_thread):
    torch = torch_one_thread
    r = tiny_reasoner
    factory = r.constraints
    req = make_request(TaskKind.OPEN_KEYPOINT)
    inputs = r._encode(req, r.defaults)
    proc = factory.processor(TaskKind.OPEN_KEYPOINT, budget, max_new_tokens=200)
    torch.manual_seed(budget)
    with torch.inference_mode():
        seq = r.model.generate(**inputs, do_sample=True, top_k=0, top_p=1.0, temperature=1.0,
                               num_return_sequences=8, max_new_tokens=200,
                               logits_processor=[proc], eos_token_id=r.eos_token_ids,
                               pad_token_id=r.pad_token_id)
    table = factory.table
    for row, ids in enumerate(seq[:, inputs['input_ids'].shape[1]:].tolist()):
        text = ''
        think_start = close_at = None
        for k, t in enumerate(ids):
            piece = table.text[t] or ''
            if think_start is None:
                text += piece
                if text.startswith('<think>'):
                    think_start = k + 1
            elif '<' in piece:
                close_at = k
                break
        assert think_start is not None and close_at is not None
        # Reasoning tokens before the closing token: never more than the budget.
        assert close_at - think_start <= budget
        assert proc.rows[row].think_tokens == close_at - think_start + 1
        assert proc.rows[row].budget_hit == (close_at - think_start == budget)
        completion = r.tokenizer.decode(ids, skip_special_tokens=True)
        assert parsing.parse_open_keypoint(parsing.parse_completion(completion).answer)


def test_budget_shrinks_to_fit_max_new_tokens(tiny_reasoner):
    factory = tiny_reasoner.constraints
    grammar = factory.grammar(TaskKind.OPEN_KEYPOINT)
    reserve = grammar.reserve_tokens()
    assert reserve == len('<think>') + regex_width(post_regex(parsing.answer_regex(
        TaskKind.OPEN_KEYPOINT)))[1] + 1
    assert factory.processor(TaskKind.OPEN_KEYPOINT, 500, reserve + 10).think_budget == 10
    assert factory.processor(TaskKind.OPEN_KEYPOINT, 5, reserve + 10).think_budget == 5
    with pytest.raises(ConfigError) as info:
        factory.processor(TaskKind.OPEN_KEYPOINT, 5, reserve - 1)
    assert info.value.field == 'generation.max_new_tokens'


def test_short_max_new_tokens_still_parses(tiny_reasoner, make_request):
    reserve = tiny_reasoner.constraints.grammar(TaskKind.OPEN_KEYPOINT).reserve_tokens()
    gen = tiny_reasoner.defaults.replace(max_new_tokens=reserve, think_budget_tokens=100,
                                         do_sample=True, seed=5)
    for out in tiny_reasoner.sample(make_request(TaskKind.OPEN_KEYPOINT, generation=gen), 8):
        assert out.ok and out.generated_tokens <= reserve and out.finish_reason == 'stop'


@pytest.mark.parametrize('kind', list(TaskKind))
def test_grammar_is_core_parsing_answer_regex(kind):
    answer = parsing.answer_regex(kind)
    assert post_regex(answer) == \
        '</think><answer>(?:' + answer + ')</answer>'
    full = full_completion_regex(kind)
    # core's own whole-completion regex and ours accept the same canonical completions
    rng = random.Random(kind.value)
    for _ in range(50):
        if kind.is_multiple_choice:
            ans = parsing.format_option(rng.choice(parsing.OPTION_LETTERS))
        elif kind is TaskKind.OBJECT_POSITION:
            ans = parsing.format_xyz([rng.uniform(-99, 99) for _ in range(3)])
        else:
            ans = parsing.format_open_keypoint(
                [rng.uniform(-99, 99) for _ in range(3)], rng.choice(['open', 'closed']))
        text = parsing.format_completion('the cube is left of the gripper', ans)
        assert re.fullmatch(full, text) and re.fullmatch(parsing.completion_regex(kind), text)
    bounded = full_completion_regex(kind, max_think_chars=8)
    assert re.fullmatch(bounded, parsing.format_completion('12345678', ans))
    assert not re.fullmatch(bounded, parsing.format_completion('123456789', ans))


def test_regex_helpers():
    assert regex_width(r'\[\[[A-D]\]\]') == (5, 5)
    assert regex_width(r'a\s*') == (1, None)
    assert regex_alphabet(r'\[\[[A-D]\]\]') == frozenset('[]ABCD')
    alpha = regex_alphabet(post_regex(parsing.answer_regex(TaskKind.OPEN_KEYPOINT)))
    assert set('0123456789-.,[] opnclsd</>answerthik') <= alpha
    assert 'x' not in alpha and 'q' not in alpha
    assert regex_alphabet(r'a.b') is None and regex_alphabet(r'[^<]') is None
    assert constrained._digits_uniform(r'-?\d{1,2}\.\d{3}')
    assert constrained._digits_uniform(r'[0-9]{2}')
    assert not constrained._digits_uniform(r'0\.\d')


def test_digit_folding_preserves_prefix_validity():
    """Cache keys fold digits to 0: prefix validity must not depend on which digit it is."""
    import regex as regex_mod

    pattern = regex_mod.compile(post_regex(parsing.answer_regex(TaskKind.OPEN_KEYPOINT)),
                                regex_mod.ASCII)
    rng = random.Random(0)
    alphabet = '0123456789-., []opencld'
    for _ in range(2000):
        s = '</think><answer>[' + ''.join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        folded = re.sub('[0-9]', '0', s)
        assert (pattern.fullmatch(s, partial=True) is None) == \
            (pattern.fullmatch(folded, partial=True) is None)


def test_answer_regex_override_and_bad_override(tiny_reasoner, make_request):
    gen = tiny_reasoner.defaults.replace(answer_regex=r'\[\[[AB]\]\]', do_sample=True, seed=2)
    outs = tiny_reasoner.sample(make_request(TaskKind.MOVEMENT, generation=gen), 12)
    assert all(o.ok and o.option in ('A', 'B') for o in outs)
    bad = make_request(TaskKind.MOVEMENT,
                       generation=tiny_reasoner.defaults.replace(answer_regex='[unclosed'))
    with pytest.raises(ConfigError):
        tiny_reasoner.predict(bad)


def test_token_table_excludes_special_and_padded_rows(tiny_reasoner):
    factory: ConstraintFactory = tiny_reasoner.constraints
    table = factory.table
    tok = tiny_reasoner.tokenizer
    for token_id in tok.added_tokens_decoder:
        assert table.text[token_id] is None and not table.no_lt[token_id]
    assert all(t is None for t in table.text[len(tok):])
    grammar = factory.grammar(TaskKind.NEXT_WAYPOINT)
    assert not grammar.think_mask[len(tok):].any()
    for token_id in grammar.close_ids.tolist():
        assert table.text[token_id].startswith('<')
