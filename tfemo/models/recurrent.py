"""The steps a per-frame recurrent model is made of, so inference calls them instead of copying.

A sequence model here is `frames` (per-frame vectors: everything before the recurrent layers),
its forward recurrent layers, and `outputs` (per-frame predictions from their last sequence).
`step` runs a chunk of frames from an explicit state and returns the state after each row's
last real frame (frames where `mask` is False leave it unchanged), so a stream fed chunk by
chunk equals one pass over the whole sequence. A model's own `call` is `step` from the zero
state: export (`serve_chunk`) and streaming run the same code as training, and a change to a
model's layers is made once, in its module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RecurrentSteps:
    """Mixin of a Keras model: frames -> recurrent layers -> outputs, and one chunk `step`.

    The model sets `recurrent` ("gru" or "lstm") and `recurrent_layers` (built with
    `return_sequences=True, return_state=True`), and defines `input_mask`, `frames` and
    `outputs` (and `between_layers` when something runs between two recurrent layers).
    """

    recurrent: str = ""
    recurrent_layers: list

    def input_mask(self, inputs: Mapping[str, Any]) -> Any:
        """The batch's frame mask [B, T] as bool (or None when the model needs none)."""
        raise NotImplementedError

    def frames(self, inputs: Mapping[str, Any], mask: Any, training: Any = None) -> Any:
        """Per-frame vectors [B, T, E]: what the first recurrent layer reads."""
        raise NotImplementedError

    def outputs(self, x: Any, mask: Any, training: Any = None) -> Any:
        """Per-frame predictions [B, T, D] from the last recurrent layer's sequence."""
        raise NotImplementedError

    def between_layers(self, x: Any, training: Any = None) -> Any:
        """What runs between two recurrent layers (nothing, unless the model says so)."""
        return x

    @property
    def state_parts(self) -> tuple[str, ...]:
        """The names of one layer's state tensors: ("state",) for a GRU, ("h", "c") an LSTM."""
        return ("state",) if self.recurrent == "gru" else ("h", "c")

    @property
    def state_sizes(self) -> dict[str, int]:
        """Width of each explicit state tensor [B, H] of `step`, by name (`h_0`, `state_1`...)."""
        return {f"{part}_{index}": int(layer.units)
                for index, layer in enumerate(self.recurrent_layers)
                for part in self.state_parts}

    def advance(self, x: Any, mask: Any, state: Mapping[str, Any] | None = None,
                training: Any = None) -> tuple[Any, dict[str, Any]]:
        """Recurrent layers from `state` (None: zeros) on frames `x`, then `outputs`:
        (predictions [B, T, D], the state after each row's last real frame)."""
        after: dict[str, Any] = {}
        for index, layer in enumerate(self.recurrent_layers):
            names = [f"{part}_{index}" for part in self.state_parts]
            if index:
                x = self.between_layers(x, training=training)
            initial = None if state is None else [state[name] for name in names]
            x, *states = layer(x, mask=mask, initial_state=initial, training=training)
            after.update(zip(names, states, strict=True))
        return self.outputs(x, mask, training=training), after

    def step(self, inputs: Mapping[str, Any], state: Mapping[str, Any] | None = None,
             training: Any = None) -> tuple[Any, dict[str, Any]]:
        """One chunk: inputs (the batch dict with `mask`) + state -> predictions + state."""
        mask = self.input_mask(inputs)
        return self.advance(self.frames(inputs, mask, training=training), mask, state,
                            training=training)
