"""A training-only linear head on one decoder layer's output hidden state (the base of
``grid_aux`` and ``bind_aux``): a forward hook keeps the state of the pass just run, the head
reads it, and the head lives in the run's resume point, never in the exported checkpoint."""
from __future__ import annotations

from typing import Any


class LayerReadout:
    """A linear head on the hidden state after decoder layer ``layer`` (0-based).

    Args:
        name: The config key, for messages (``grid_aux``, ``bind_aux``).
        layer: The decoder layer whose output is read.
        model: The ``Qwen2_5_VLForConditionalGeneration`` being trained.
        out_dim: The head's outputs.

    Raises:
        ValueError: The model has no such layer.
    """

    def __init__(self, name: str, layer: int, model: Any, out_dim: int) -> None:
        import torch

        layers = model.model.language_model.layers
        if layer >= len(layers):
            raise ValueError(f'{name}.layer {layer}: the model has {len(layers)} layers')
        self.name = name
        self.head = torch.nn.Linear(int(model.config.text_config.hidden_size), out_dim)
        self._hidden: Any = None
        self._hook = layers[layer].register_forward_hook(self._keep)

    def _keep(self, _module: Any, _inputs: Any, output: Any) -> None:
        # Decoder layers return a tensor or a tuple led by it, depending on the version.
        self._hidden = output[0] if isinstance(output, tuple) else output

    def take_hidden(self) -> Any:
        """The kept hidden state, dropped as it is taken (a second loss without a new forward
        pass fails instead of reading a stale state).

        Raises:
            RuntimeError: No forward pass since the last call.
        """
        hidden, self._hidden = self._hidden, None
        if hidden is None:
            raise RuntimeError(f'{self.name}: no forward pass since the last loss')
        return hidden

    def parameters(self) -> list[Any]:
        """The head's parameters (the optimiser trains them with the model)."""
        return list(self.head.parameters())

    def state_dict(self) -> dict[str, Any]:
        """The head (for the run's resume point)."""
        return self.head.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the head from a resume point."""
        self.head.load_state_dict(state)

    def close(self) -> None:
        """Remove the forward hook (the model is exported without it)."""
        self._hook.remove()
