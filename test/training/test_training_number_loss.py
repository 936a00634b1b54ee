"""The number-token loss (training.number_loss): ordinal on digits, blind to everything else."""
from __future__ import annotations

import math

import pytest
import torch
from r1_testing import REPO

from robot_r1_ros.training.number_loss import (_sign_loss, _word_loss, completion_loss,
                                               digit_token_ids, gripper_word_ids,
                                               number_token_loss, sign_token_pairs,
                                               verdict_word_ids, with_number_loss)

DIGIT_IDS = list(range(15, 25))  # the shipped tokenizer's ids of 0..9 (checked below)
VOCAB = 40


def _logits_for(next_tokens: list[int]) -> torch.Tensor:
    """(1, T, V) logits that put (almost) all mass on ``next_tokens[t]`` at position t."""
    logits = torch.full((1, len(next_tokens), VOCAB), -30.0)
    for t, tok in enumerate(next_tokens):
        logits[0, t, tok] = 30.0
    return logits


def test_the_shipped_tokenizer_writes_each_digit_as_one_token():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(REPO / 'checkpoints' / 'robot-r1-tiny-learn')
    assert digit_token_ids(tokenizer) == DIGIT_IDS


def test_the_loss_grows_with_the_distance_between_digits():
    labels = torch.tensor([[-100, 15 + 3]])  # the target at position 1 is the digit 3
    for predicted, expected in ((3, 0.0), (4, 1.0), (2, 1.0), (8, 5.0), (0, 3.0)):
        loss = number_token_loss(_logits_for([15 + predicted, 0]), labels, DIGIT_IDS)
        assert math.isclose(float(loss), expected, abs_tol=1e-4), (predicted, float(loss))


def test_non_digit_and_masked_labels_add_nothing():
    logits = _logits_for([7, 7, 7]).requires_grad_()
    # Non-digit targets and -100 only: the loss is zero and still backpropagates.
    loss = number_token_loss(logits, torch.tensor([[-100, 7, -100]]), DIGIT_IDS)
    assert float(loss) == 0.0
    loss.backward()
    assert logits.grad is not None and float(logits.grad.abs().sum()) == 0.0
    # One digit among other tokens: only it counts (predicted 5 for a true 1: distance 4).
    labels = torch.tensor([[-100, 9, 15 + 1]])
    assert math.isclose(float(number_token_loss(_logits_for([9, 15 + 5, 0]), labels,
                                                DIGIT_IDS)), 4.0, abs_tol=1e-4)


def test_with_number_loss_adds_the_weighted_term_only_when_asked():
    class Result:
        loss = torch.tensor(2.0)
        logits = _logits_for([15 + 9, 0])

    labels = torch.tensor([[-100, 15 + 7]])
    assert float(with_number_loss(Result, labels, DIGIT_IDS, 0.0)) == 2.0
    assert math.isclose(float(with_number_loss(Result, labels, DIGIT_IDS, 0.5)), 3.0,
                        abs_tol=1e-4)


def test_the_shipped_tokenizer_writes_a_numbers_sign_in_the_token_before_its_digits():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(REPO / 'checkpoints' / 'robot-r1-tiny-see')
    pairs = {(tokenizer.decode([n]), tokenizer.decode([p])) for n, p in sign_token_pairs(tokenizer)}
    assert {(' -', ' '), (' [-', ' ['), ('>[-', '>[')} <= pairs
    # the pairs are where the answer's signs are written: one token each, before the digits
    tokens = [tokenizer.decode([t]) for t in
              tokenizer.encode('<answer>[-0.262, -0.084, 0.026]', add_special_tokens=False)]
    assert tokens[2:4] == ['>[-', '0'] and tokens[9:11] == [' -', '0'] and \
        tokens[16:18] == [' ', '0'], tokens


NEG, POS = 30, 31  # a sign pair (' -', ' ') in the toy vocabulary


def _sign_case(chosen: int, next_token: int) -> torch.Tensor:
    """The sign loss of one scored position whose target is ``' -'`` followed by
    ``next_token``, where the model puts its mass on ``chosen``."""
    target = torch.tensor([[NEG, next_token]])
    mask = torch.tensor([[True, True]])
    logits = torch.full((2, VOCAB), -5.0)
    logits[0, chosen] = 5.0
    return _sign_loss(logits, target, mask, [(NEG, POS)], DIGIT_IDS)


def test_the_sign_loss_scores_the_two_way_choice_at_a_numbers_start():
    right, wrong = float(_sign_case(NEG, 15)), float(_sign_case(POS, 15))
    assert right < 1e-3 and math.isclose(wrong, 10.0, abs_tol=1e-3), (right, wrong)
    # mass on an unrelated token leaves the two sign tokens tied: log 2
    assert math.isclose(float(_sign_case(7, 15)), math.log(2), abs_tol=1e-4)
    # ' -' not followed by a digit is not a number's sign: nothing, with a gradient path
    logits = torch.zeros((2, VOCAB), requires_grad=True)
    loss = _sign_loss(logits, torch.tensor([[NEG, 7]]), torch.tensor([[True, True]]),
                      [(NEG, POS)], DIGIT_IDS)
    loss.backward()
    assert float(loss) == 0.0 and float(logits.grad.abs().sum()) == 0.0


def test_the_sign_loss_moves_only_the_two_sign_logits_of_scored_positions():
    target = torch.tensor([[9, POS, 15, NEG, 16]])  # '?', ' ', '0', ' -', '1'
    mask = torch.tensor([[True, True, True, False, True]])  # the second sign is not scored
    logits = torch.zeros((int(mask.sum()), VOCAB), requires_grad=True)
    _sign_loss(logits, target, mask, [(NEG, POS)], DIGIT_IDS).backward()
    moved = {(row, col) for row, col in (logits.grad.abs() > 0).nonzero().tolist()}
    assert moved == {(1, NEG), (1, POS)}  # scored row 1 is the ' ' before '0'
    assert float(logits.grad[1, POS]) < 0 < float(logits.grad[1, NEG])  # towards ' '


WORDS = [32, 33]  # two object words (' red', ' green') in the toy vocabulary


def test_the_word_loss_is_the_cross_entropy_at_the_object_words_only():
    target = torch.tensor([9, 32, 15, 33])  # '?', ' red', '0', ' green'
    logits = torch.zeros((4, VOCAB), requires_grad=True)
    loss = _word_loss(logits, target, WORDS)
    assert math.isclose(float(loss), math.log(VOCAB), abs_tol=1e-4)  # uniform: log V
    loss.backward()
    assert {row for row, _ in (logits.grad.abs() > 0).nonzero().tolist()} == {1, 3}
    assert float(logits.grad[1, 32]) < 0 and float(logits.grad[3, 33]) < 0  # towards the word
    # the wrong colour with all the mass costs far more than the right one
    sure = torch.full((1, VOCAB), -10.0)
    sure[0, 33] = 10.0
    assert float(_word_loss(sure, torch.tensor([32]), WORDS)) > 10.0
    assert float(_word_loss(sure, torch.tensor([33]), WORDS)) < 1e-3
    # no object word among the targets: nothing, with a gradient path
    logits = torch.zeros((2, VOCAB), requires_grad=True)
    loss = _word_loss(logits, torch.tensor([9, 15]), WORDS)
    loss.backward()
    assert float(loss) == 0.0 and float(logits.grad.abs().sum()) == 0.0


def test_the_gripper_words_are_single_tokens_of_the_shipped_tokenizer():
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(REPO / 'checkpoints' / 'robot-r1-tiny-learn')
    ids = gripper_word_ids(tokenizer)
    assert tokenizer.convert_ids_to_tokens(ids) == ['\u0120open', '\u0120closed']
    # the reasoning's decision and the answer's gripper are both these tokens
    tokens = tokenizer.tokenize('reach [0.1, 0.2, 0.3], open. <answer>[0.1, 0.2, 0.3] closed')
    assert tokens.count('\u0120open') == 1 and tokens.count('\u0120closed') == 1

    class Split:  # a tokenizer that cuts ' closed' in two: the loss cannot score it
        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return [1] if text == ' open' else [2, 3]
    with pytest.raises(ValueError, match='closed'):
        gripper_word_ids(Split())


def test_the_verdict_loss_scores_the_first_token_of_each_verdict_only():
    """The shipped tokenizer splits the verdicts (``' yes.'`` = ``'Ġy' 'es' '.'``, ``' no.'`` =
    ``'Ġ' 'n' 'o' '.'``): the loss is taken where a verdict starts, not at every ``'Ġ'`` and not
    at the ``' no'`` of ``' now ['``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(REPO / 'checkpoints' / 'robot-r1-tiny-learn')
    yes, no = verdict_word_ids(tokenizer)
    assert tokenizer.decode(list(yes)) == ' yes.' and tokenizer.decode(list(no)) == ' no.'
    text = 'now [0.1, 0.2] open. A [0.1,0.2] [0.1,0.2] yes. B [0.3,0.1] [0.1,0.2] no.'
    ids = tokenizer.encode(text, add_special_tokens=False)
    target = torch.tensor(ids)
    logits = torch.zeros((len(ids), len(tokenizer)), requires_grad=True)
    loss = _word_loss(logits, target, [yes, no])
    assert math.isclose(float(loss), math.log(len(tokenizer)), abs_tol=1e-4)
    loss.backward()
    scored = sorted({row for row, _ in (logits.grad.abs() > 0).nonzero().tolist()})
    assert [tokenizer.decode(ids[i:]).split('.')[0] for i in scored] == [' yes', ' no']

    class Same:  # a tokenizer whose verdicts share their first token: nothing to decide there
        def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
            return [1, 2] if 'yes' in text else [1, 3]
    with pytest.raises(ValueError, match='same token'):
        verdict_word_ids(Same())


def test_completion_loss_adds_each_word_term_times_its_weight():
    class Toy(torch.nn.Module):
        """Hidden state = a fixed embedding; lm_head a linear map: enough for the loss path."""

        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.emb = torch.nn.Embedding(VOCAB, 8)
            self.lm_head = torch.nn.Linear(8, VOCAB)
            toy = self

            class Inner(torch.nn.Module):
                def forward(self, input_ids, attention_mask=None, use_cache=False):
                    return type('Out', (), {'last_hidden_state': toy.emb(input_ids)})

            self.model = Inner()

    model = Toy()
    ids = torch.tensor([[9, 32, 15, 33, 5]])
    labels = torch.tensor([[-100, 32, 15, 33, 5]])
    batch = {'input_ids': ids, 'attention_mask': torch.ones_like(ids), 'labels': labels}
    base = completion_loss(model, batch, [], 0.0)
    grip = [5]  # stands in for ' open'
    both = completion_loss(model, batch, [], 0.0, word_terms=[(WORDS, 1.0), (grip, 0.5)])
    with torch.no_grad():
        logits = model.lm_head(model.emb(ids[:, :-1]))[0]
    target = labels[0, 1:]
    expected = (base + _word_loss(logits, target, WORDS)
                + 0.5 * _word_loss(logits, target, grip))
    assert math.isclose(float(both), float(expected), rel_tol=1e-5)
    assert float(both) > float(base)
    # a zero weight leaves the loss as it was, whatever its ids
    zero = completion_loss(model, batch, [], 0.0, word_terms=[(WORDS, 0.0), (grip, 0.0)])
    assert math.isclose(float(zero), float(base), rel_tol=1e-6)
