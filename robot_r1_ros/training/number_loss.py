"""Number-token loss: an ordinal penalty on the digits a model writes.

Why: the answers are coordinates written digit by digit (``[0.047, 0.110, 0.020]``), and the
token cross-entropy scores a hundredths digit off by one as wrong as one off by nine. A small
model trained on it alone learns the 10 cm digit and guesses the 1 cm one (issue 13, E18-E22).
The number-token loss (NTL-WAS; Zausinger et al., "Regress, Don't Guess", ICML 2025) adds, at
every position whose target token is a digit, the Wasserstein-1 distance between the model's
distribution over the ten digit tokens and the true digit, so probability on a near digit costs
less than on a far one. It needs no change to the tokenizer, the answer format or decoding.
"""
from __future__ import annotations

from typing import Any, Sequence

DIGITS = tuple(str(d) for d in range(10))


def digit_token_ids(tokenizer: Any) -> list[int]:
    """The token ids of ``0`` ... ``9``.

    Raises:
        ValueError: A digit is not a single token of ``tokenizer`` (the loss reads one token per
            digit).
    """
    ids = []
    for d in DIGITS:
        found = tokenizer.encode(d, add_special_tokens=False)
        if len(found) != 1 or found[0] == getattr(tokenizer, 'unk_token_id', None):
            raise ValueError(f'digit {d!r} is not one token of this tokenizer: {found}')
        ids.append(int(found[0]))
    return ids


def gripper_word_ids(tokenizer: Any) -> list[int]:
    """The token ids of ``' open'`` and ``' closed'``, the gripper words of the reasoning and the
    answer (``..., open.`` / ``[x, y, z] open``): the words ``train.gripper_word_loss_weight``
    scores.

    Raises:
        ValueError: A gripper word is not a single token of ``tokenizer``.
    """
    return _single_token_ids(tokenizer, (' open', ' closed'), 'gripper word')


def verdict_word_ids(tokenizer: Any) -> list[tuple[int, ...]]:
    """The token sequences of ``' yes.'`` and ``' no.'``, the verdicts of a multiple-choice
    reasoning (``A [..] [..] no.``), scored at their first token (where they differ) by
    ``train.verdict_loss_weight``.

    Why sequences: the small models' tokenizer splits them (``' yes'`` is ``'Ġy' 'es'``, ``' no'``
    ``'Ġ' 'n' 'o'``), and ``'Ġ'`` alone starts most words; with the full stop, ``' now ['`` of a
    movement reasoning does not match.

    Raises:
        ValueError: The two verdicts start with the same token.
    """
    seqs = [tuple(int(i) for i in tokenizer.encode(w, add_special_tokens=False))
            for w in (' yes.', ' no.')]
    if seqs[0][0] == seqs[1][0]:
        raise ValueError(f'the verdicts start with the same token: {seqs}')
    return seqs


def choice_letter_ids(tokenizer: Any) -> list[int]:
    """The token ids of the option letters (``A`` ... ``D``, :data:`core.parsing.OPTION_LETTERS`)
    as the completions write them (``[0.107,-0.149] B.``, ``[[B]]``): the letters
    ``train.letter_loss_weight`` scores.

    Raises:
        ValueError: A letter is not a single token of ``tokenizer``.
    """
    from robot_r1_ros.core.parsing import OPTION_LETTERS
    return _single_token_ids(tokenizer, OPTION_LETTERS, 'option letter')


def _single_token_ids(tokenizer: Any, words: Sequence[str], what: str) -> list[int]:
    ids = []
    for word in words:
        found = tokenizer.encode(word, add_special_tokens=False)
        if len(found) != 1:
            raise ValueError(f'{what} {word!r} is not one token of this tokenizer: {found}')
        ids.append(int(found[0]))
    return ids


def number_token_loss(logits: Any, labels: Any, digit_ids: Sequence[int]) -> Any:
    """Mean NTL-WAS over the label positions whose token is a digit.

    Args:
        logits: (B, T, V) next-token logits of a causal LM (position t predicts token t + 1).
        labels: (B, T) input-aligned labels, ``-100`` where no loss is taken (as for the
            model's own cross-entropy).
        digit_ids: The token ids of ``0`` ... ``9`` (:func:`digit_token_ids`).

    Returns:
        A scalar tensor: 0 (with a gradient path) when no label is a digit.
    """
    target = labels[:, 1:]
    mask = target != -100
    return _digit_wasserstein(logits[:, :-1][mask], target[mask], digit_ids)


def _digit_wasserstein(logits: Any, target: Any, digit_ids: Sequence[int]) -> Any:
    """NTL-WAS of (N, V) logits against (N,) target tokens, over the targets that are digits."""
    import torch

    ids = torch.as_tensor(list(digit_ids), device=logits.device)
    value = torch.full_like(target, -1)
    for d, tok in enumerate(ids.tolist()):
        value[target == tok] = d
    mask = value >= 0
    if not bool(mask.any()):
        return logits.sum() * 0.0
    probs = logits[mask][:, ids].float().softmax(-1)  # (N, 10) over the digit tokens
    steps = torch.arange(10, device=logits.device)
    cdf_true = (steps[None, :] >= value[mask][:, None]).float()
    return (probs.cumsum(-1) - cdf_true).abs().sum(-1).mean()


def with_number_loss(result: Any, labels: Any, digit_ids: Sequence[int], weight: float) -> Any:
    """``result.loss`` (a causal LM's output, cross-entropy) plus ``weight`` times the
    :func:`number_token_loss` of its logits; just the cross-entropy when ``weight`` is 0."""
    if not weight:
        return result.loss
    return result.loss + weight * number_token_loss(result.logits, labels, digit_ids)


def sign_token_pairs(tokenizer: Any) -> list[tuple[int, int]]:
    """The (negative, positive) token pairs that start a number: ``' -'`` / ``' '``,
    ``'>[-'`` / ``'>['``, ...: every token ending in ``-`` whose text without it is one token too.

    Why: the tokenizer merges a number's sign into the token before its first digit, so a
    coordinate's sign is one choice between two such tokens (``[0.262, -0.084`` is ``,``,
    ``' -'``, ``0``...; ``[0.262, 0.084`` is ``,``, ``' '``, ``0``...). A token in two pairs is left
    out (its pair would be ambiguous).
    """
    vocab = tokenizer.get_vocab()
    pieces = {}
    for tok_id in vocab.values():
        text = tokenizer.decode([tok_id])
        if text:
            pieces.setdefault(text, tok_id)
    pairs = [(pieces[text], pieces[text[:-1]]) for text in sorted(pieces)
             if len(text) >= 2 and text.endswith('-') and text[:-1] in pieces]
    seen: dict[int, int] = {}
    for pair in pairs:
        for tok_id in pair:
            seen[tok_id] = seen.get(tok_id, 0) + 1
    return [pair for pair in pairs if all(seen[t] == 1 for t in pair)]


def _sign_loss(logits: Any, target: Any, mask: Any, pairs: Sequence[tuple[int, int]],
               digit_ids: Sequence[int]) -> Any:
    """Cross-entropy of each number's sign: at every scored position whose target is a token of
    ``pairs`` followed by a digit, the two-way choice between the pair's negative and positive
    token. ``logits`` (N, V) are the scored positions of ``target`` (B, T) under ``mask``."""
    import torch

    neg = torch.as_tensor([n for n, _ in pairs], device=target.device)
    pos = torch.as_tensor([p for _, p in pairs], device=target.device)
    digits = torch.as_tensor(list(digit_ids), device=target.device)
    next_is_digit = torch.zeros_like(mask)
    next_is_digit[:, :-1] = torch.isin(target[:, 1:], digits)
    is_neg = torch.isin(target, neg)
    at_sign = ((is_neg | torch.isin(target, pos)) & next_is_digit)[mask]
    if not bool(at_sign.any()):
        return logits.sum() * 0.0
    tokens = target[mask][at_sign]
    lookup = torch.full((int(logits.shape[-1]),), -1, dtype=torch.long, device=target.device)
    lookup[neg] = torch.arange(len(pairs), device=target.device)
    lookup[pos] = torch.arange(len(pairs), device=target.device)
    k = lookup[tokens]
    chosen = logits[at_sign]
    two = torch.stack([chosen.gather(1, neg[k][:, None])[:, 0],
                       chosen.gather(1, pos[k][:, None])[:, 0]], dim=-1)
    label = (~is_neg[mask][at_sign]).long()  # 0: the negative token is the target
    return torch.nn.functional.cross_entropy(two.float(), label)


def completion_loss(model: Any, batch: dict[str, Any], digit_ids: Sequence[int],
                    weight: float, sign_pairs: Sequence[tuple[int, int]] = (),
                    sign_weight: float = 0.0,
                    word_terms: Sequence[tuple[Sequence[int | tuple[int, ...]], float]] = ()
                    ) -> Any:
    """The same loss as ``with_number_loss(model(**batch), ...)`` with logits only where a label
    is scored.

    Why: a scene question's prompt is ~370 tokens and its completion ~80; the model's own
    forward projects every position onto the vocabulary and takes a log-softmax over all of them,
    about a sixth of a training step of the small CPU model. Here the language model's hidden
    states are projected only at the positions that predict a label.

    Args:
        model: A ``Qwen2_5_VLForConditionalGeneration`` (its ``model`` and ``lm_head``).
        batch: Teacher-forcing inputs with ``labels`` (``-100`` where no loss is taken).
        digit_ids: The digit token ids (:func:`digit_token_ids`; unused when ``weight`` and
            ``sign_weight`` are 0: the sign loss finds a number's start by its first digit).
        weight: The number-token loss weight.
        sign_pairs: The sign tokens (:func:`sign_token_pairs`; unused when ``sign_weight`` is 0).
        sign_weight: Weight of the numbers' sign cross-entropy (:func:`_sign_loss`), added.
        word_terms: ``(words, weight)`` pairs: per pair, the weight times the cross-entropy at
            the positions whose target is one of the words (:func:`_word_loss`; a word is a
            token id, or a token sequence scored at its first token), added. The curriculum
            passes the object words (``train.word_loss_weight``), the gripper words
            (``train.gripper_word_loss_weight``) and the verdicts (``verdict_loss_weight``).
    """
    import torch

    labels = batch['labels']
    inputs = {k: v for k, v in batch.items() if k != 'labels'}
    hidden = model.model(**inputs, use_cache=False).last_hidden_state
    target = labels[:, 1:]
    mask = target != -100
    logits = model.lm_head(hidden[:, :-1][mask])  # (N, V): position t predicts label t + 1
    loss = torch.nn.functional.cross_entropy(logits.float(), target[mask])
    if weight:
        loss = loss + weight * _digit_wasserstein(logits, target[mask], digit_ids)
    if sign_weight:
        loss = loss + sign_weight * _sign_loss(logits, target, mask, sign_pairs, digit_ids)
    for word_ids, word_weight in word_terms:
        if word_weight:
            loss = loss + word_weight * _word_loss(logits, target[mask], word_ids)
    return loss


def _word_loss(logits: Any, target: Any, word_ids: Sequence[int | tuple[int, ...]]) -> Any:
    """Mean cross-entropy of (N, V) ``logits`` over the (N,) targets that are ``word_ids`` (a
    token id, or a token sequence matched in ``target`` and scored at its first token).

    Why: the reasoning names the object before its place (``The blue cube is at [..]``) and that
    word must be copied from the question or the task. It is one token in about 80 of a scene
    row, so its share of the mean cross-entropy is small, and E93 (issue 13) trained to the end
    writing ``The green cube`` for every cube, with the green cube's place right to 1.6 cm: the
    which-object failure was this copy, not the image. The gripper word (``..., open.``) has the
    same shape, one token that decides an action: with the object words alone weighted, E94 and
    E95 answered ``closed`` where the cube must be released. So have the verdicts (``yes`` /
    ``no``) of a multiple-choice reasoning.
    """
    import torch

    singles = [int(w) for w in word_ids if not isinstance(w, tuple)]
    at_word = torch.isin(target, torch.as_tensor(singles, dtype=target.dtype,
                                                 device=target.device))
    for seq in (w for w in word_ids if isinstance(w, tuple)):
        at_word |= _starts_of(target, seq)
    if not bool(at_word.any()):
        return logits.sum() * 0.0
    return torch.nn.functional.cross_entropy(logits[at_word].float(), target[at_word])


def _starts_of(target: Any, seq: tuple[int, ...]) -> Any:
    """A (N,) mask of the positions of ``target`` where the token sequence ``seq`` starts."""
    import torch

    n = target.shape[0] - len(seq) + 1
    hit = torch.zeros_like(target, dtype=torch.bool)
    if n <= 0:
        return hit
    run = torch.ones(n, dtype=torch.bool, device=target.device)
    for k, tok in enumerate(seq):
        run &= target[k:k + n] == tok
    hit[:n] = run
    return hit
