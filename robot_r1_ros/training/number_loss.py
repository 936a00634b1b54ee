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
    import torch

    ids = torch.as_tensor(list(digit_ids), device=logits.device)
    target = labels[:, 1:]
    value = torch.full_like(target, -1)
    for d, tok in enumerate(ids.tolist()):
        value[target == tok] = d
    mask = value >= 0
    if not bool(mask.any()):
        return logits.sum() * 0.0
    probs = logits[:, :-1][mask][:, ids].float().softmax(-1)  # (N, 10) over the digit tokens
    steps = torch.arange(10, device=logits.device)
    cdf_true = (steps[None, :] >= value[mask][:, None]).float()
    return (probs.cumsum(-1) - cdf_true).abs().sum(-1).mean()


def with_number_loss(result: Any, labels: Any, digit_ids: Sequence[int], weight: float) -> Any:
    """``result.loss`` (a causal LM's output, cross-entropy) plus ``weight`` times the
    :func:`number_token_loss` of its logits; just the cross-entropy when ``weight`` is 0."""
    if not weight:
        return result.loss
    return result.loss + weight * number_token_loss(result.logits, labels, digit_ids)
