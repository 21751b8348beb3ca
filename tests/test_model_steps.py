"""Models own their steps: export and streaming run the model's own `step`, so a model whose
layers are reordered still exports and streams exactly what its `call` computes."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from tfemo.inference.export import streams, write_saved_model
from tfemo.models.gru_regressor import GRURegressor
from tfemo.models.semantic_fusion import SemanticFusion

LABELS = ("arousal", "valence")


class TanhBeforeStandardising(GRURegressor):
    """A GRU regressor with one step of its `frames` reordered: tanh, then the standardiser."""

    def frames(self, inputs, mask, training=None):
        return self.standardiser(ops.tanh(inputs["features"]), mask)


class LSTMsSwapped(SemanticFusion):
    """Semantic fusion with its two LSTMs run in the other order (same sizes, same weights)."""

    @property
    def recurrent_layers(self) -> list:
        return self.lstms[::-1]


def _gru(cls):
    keras.utils.set_random_seed(7)
    return cls(feature_dim=4, label_names=LABELS, feature_mean=[1.0, 0.0, -1.0, 2.0],
               feature_std=[2.0, 1.0, 0.5, 3.0], hidden=8, gru_layers=2, dropout=0.0)


def _fusion(cls):
    keras.utils.set_random_seed(7)
    return cls(frame_length=640, word_dim=6, label_names=LABELS, hidden=8, lstm_layers=2,
               fusion_size=8, attention_units=4, dropout=0.0, audio_variant="emo18")


CASES = {"gru": (_gru, GRURegressor, TanhBeforeStandardising, {"features": (4, 3.0)}),
         "fusion": (_fusion, SemanticFusion, LSTMsSwapped,
                    {"audio": (640, 0.1), "words": (6, 0.5)})}


def _batch(keys: dict, lengths: list[int], seed: int) -> dict[str, np.ndarray]:
    """A padded batch of rows of the given lengths (garbage in the padding)."""
    rng = np.random.default_rng(seed)
    steps = max(lengths)
    batch = {k: (rng.normal(size=(len(lengths), steps, width)) * scale).astype(np.float32)
             for k, (width, scale) in keys.items()}
    batch["mask"] = np.arange(steps)[None, :] < np.array(lengths)[:, None]
    return batch


def _export(model, keys: dict, directory: Path):
    """The model's SavedModel (serve and serve_chunk), loaded with TensorFlow alone."""
    specs = {k: ([None, None, width], "float32") for k, (width, _) in keys.items()}
    specs["mask"] = ([None, None], "bool")
    states = {name: [None, width] for name, width in model.state_sizes.items()}
    write_saved_model(model, specs, "predictions", states, directory)
    return tf.saved_model.load(str(directory))


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_model_with_reordered_layers_exports_and_streams_its_own_output(case, tmp_path):
    make, original_class, reordered_class, keys = CASES[case]
    original, reordered = make(original_class), make(reordered_class)
    reordered.set_weights(original.get_weights())
    assert streams(reordered)
    batch = _batch(keys, [23, 15], seed=3)
    valid = batch["mask"]
    expected = np.asarray(reordered(batch, training=False))
    # the reordering matters: a copy of the original layer order would not give these outputs
    assert np.abs(np.asarray(original(batch, training=False))[valid] - expected[valid]).max() > 1e-3

    loaded = _export(reordered, keys, tmp_path / "1")
    served = loaded.serve(batch)["predictions"].numpy()
    assert np.abs(served[valid] - expected[valid]).max() < 1e-5

    state = {name: np.zeros((2, width), np.float32)
             for name, width in reordered.state_sizes.items()}
    pieces, start = [], 0
    for size in (1, 6, 9, 7):  # chunk by chunk, past the end of the shorter row
        chunk = {k: v[:, start:start + size] for k, v in batch.items()}
        out = loaded.serve_chunk({**chunk, **state})
        state = {name: out[name].numpy() for name in state}
        pieces.append(out["predictions"].numpy())
        start += size
    streamed = np.concatenate(pieces, axis=1)
    assert np.abs(streamed[valid] - expected[valid]).max() < 1e-5


@pytest.mark.parametrize("case", sorted(CASES))
def test_call_is_the_chunk_step_from_the_zero_state(case):
    make, original_class, _, keys = CASES[case]
    model = make(original_class)
    batch = _batch(keys, [12, 9], seed=4)
    zeros = {name: np.zeros((2, width), np.float32) for name, width in model.state_sizes.items()}
    predictions, after = model.step(batch, zeros, training=False)
    assert np.array_equal(np.asarray(predictions), np.asarray(model(batch, training=False)))
    assert set(after) == set(model.state_sizes)
    # the state after the shorter row is the state at its own last real frame
    alone = {k: v[1:, :9] for k, v in batch.items()}
    _, state_alone = model.step(alone, {k: v[1:] for k, v in zeros.items()}, training=False)
    for name in after:
        assert np.abs(np.asarray(after[name])[1] - np.asarray(state_alone[name])[0]).max() < 1e-6
