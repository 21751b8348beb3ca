"""Semantic fusion model: shapes, ablations, padding causality, reload, attention, learning."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from tfemo.models.semantic_fusion import SemanticFusion, SemanticFusionConfig, build
from tfemo.scoring.metrics import ccc_loss

FRAME = 640
WORD_DIM = 12
LABELS = ("arousal", "valence")
MODALITY_SETS = [("audio", "text"), ("audio",), ("text",)]
SMALL = {"hidden": 16, "fusion_size": 8, "attention_units": 4}


def make_model(modalities=("audio", "text"), **options) -> SemanticFusion:
    """A small deterministic model with the test sizes."""
    keras.utils.set_random_seed(1234)
    sizes = {**SMALL, **options}
    return SemanticFusion(frame_length=FRAME, word_dim=WORD_DIM, label_names=LABELS,
                          modalities=modalities, audio_scale=0.1, **sizes)


def make_batch(batch: int, steps: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random raw frames in [-0.5, 0.5), word vectors (zeros in 'silence') and a full mask."""
    rng = np.random.default_rng(seed)
    words = rng.normal(size=(batch, steps, WORD_DIM)).astype("float32")
    words[rng.random((batch, steps)) < 0.3] = 0.0
    return {
        "audio": rng.uniform(-0.5, 0.5, (batch, steps, FRAME)).astype("float32"),
        "words": words,
        "mask": np.ones((batch, steps), bool),
    }


@pytest.mark.parametrize("modalities", MODALITY_SETS)
@pytest.mark.parametrize("steps", [7, 13])
def test_output_shape_and_range_for_any_length(modalities, steps):
    model = make_model(modalities, hidden=32)
    out = np.asarray(model(make_batch(3, steps), training=False))
    assert out.shape == (3, steps, len(LABELS))
    assert np.all(np.abs(out) < 1.0) and np.isfinite(out).all()


def test_default_sizes_and_parameter_count():
    model = SemanticFusion(frame_length=FRAME, word_dim=300, label_names=LABELS)
    # conv 450 + 37,625 + 187,750; projections 64,128 + 38,528; attention 8,320;
    # LSTM 394,240; output 514.
    assert model.count_params() == 731_555
    assert model.audio_encoder.output_dim == 500
    assert np.asarray(model(make_batch(1, 2) | {"words": np.zeros((1, 2, 300), "float32")},
                            training=False)).shape == (1, 2, 2)


def test_single_modality_models_read_only_their_inputs():
    audio_model, text_model = make_model(("audio",)), make_model(("text",))
    assert audio_model.input_keys == ("audio",) and text_model.input_keys == ("words",)
    assert not any("text" in w.path for w in audio_model.weights)
    assert not any("audio" in w.path or "attention" in w.path for w in text_model.weights)
    batch = make_batch(2, 5)
    assert audio_model({"audio": batch["audio"]}).shape == (2, 5, 2)
    assert text_model({"words": batch["words"]}).shape == (2, 5, 2)
    with pytest.raises(KeyError, match="words"):
        make_model()({"audio": batch["audio"]})
    with pytest.raises(ValueError, match="modalities"):
        make_model(("video",))


def test_extra_batch_keys_are_ignored():
    model = make_model()
    batch = make_batch(2, 6)
    full = batch | {"labels": np.ones((2, 6, 2), "float32"), "num_frames": np.array([6, 6]),
                    "id": np.array([b"a", b"b"])}
    np.testing.assert_array_equal(model(full, training=False),
                                  model({k: batch[k] for k in ("audio", "words")},
                                        training=False))


@pytest.mark.parametrize("modalities", MODALITY_SETS)
def test_frames_after_the_end_cannot_change_earlier_outputs(modalities):
    model = make_model(modalities)
    short, extra = make_batch(2, 7, seed=1), make_batch(2, 6, seed=2)
    extra["audio"] *= 2.0  # garbage, louder than anything real
    longer = {key: np.concatenate([short[key], extra[key]], axis=1) for key in short}
    longer["mask"][:, 7:] = False
    first = np.asarray(model(short, training=False))
    again = np.asarray(model(longer, training=False))[:, :7]
    np.testing.assert_allclose(again, first, rtol=0, atol=1e-6)


def test_emo18_batch_norm_statistics_ignore_padded_frames():
    model = make_model(audio_variant="emo18", dropout=0.0)
    batch = make_batch(2, 9, seed=3)
    batch["mask"][:, 6:] = False
    other = {key: value.copy() for key, value in batch.items()}
    other["audio"][:, 6:] = np.random.default_rng(4).uniform(-1, 1, (2, 3, FRAME))
    # training=True: BatchNorm uses the batch statistics, which must come from valid frames.
    one = np.asarray(model(batch, training=True))[:, :6]
    two = np.asarray(model(other, training=True))[:, :6]
    np.testing.assert_allclose(one, two, rtol=0, atol=1e-5)


@pytest.mark.parametrize("options", [{}, {"audio_variant": "emo18", "lstm_layers": 2}])
def test_save_and_reload_give_identical_outputs(tmp_path, options):
    model = make_model(**options)
    batch = make_batch(2, 8)
    expected = np.asarray(model(batch, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, SemanticFusion)
    assert reloaded.get_config() == model.get_config()
    np.testing.assert_array_equal(reloaded(batch, training=False), expected)
    clone = SemanticFusion.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone(batch, training=False), expected)


def test_attention_weights_sum_to_one_over_modalities():
    batch = make_batch(3, 10)
    weights = np.asarray(make_model().attention(batch))
    assert weights.shape == (3, 10, 2)
    assert np.all(weights > 0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    assert weights.std() > 0  # depends on the frame, not a constant
    single = np.asarray(make_model(("text",)).attention(batch))
    np.testing.assert_array_equal(single, np.ones((3, 10, 1)))


def test_sizes_come_from_the_description():
    description = SimpleNamespace(name="toy", frame_length=FRAME, word_dim=WORD_DIM,
                                  label_names=["arousal"], normalisation={"audio": {"std": 0.05}})
    model = build(description, SemanticFusionConfig(**SMALL))
    assert model.audio_scale == 0.05 and model.label_names == ("arousal",)
    assert (model.hidden, model.fusion_size, model.attention_units) == (16, 8, 4)
    description.normalisation = {}
    with pytest.raises(ValueError, match="audio std"):
        build(description, SemanticFusionConfig())
    text_only = build(description, SemanticFusionConfig(modalities=("text",)))
    assert text_only.word_dim == WORD_DIM and text_only.audio_scale == 1.0
    with pytest.raises(ValueError, match="too short"):
        SemanticFusion(frame_length=100, word_dim=0, label_names=LABELS, modalities=("audio",))


def toy_task(seed: int = 0):
    """Arousal = loud frame or not (audio), valence = sign of word feature 0 (text); padded rows."""
    rng = np.random.default_rng(seed)
    batch = make_batch(4, 20, seed)
    loud = rng.random((4, 20)) < 0.5
    batch["audio"] *= np.where(loud, 1.0, 0.1)[..., None].astype("float32")
    labels = np.stack([np.where(loud, 0.8, -0.8), 0.8 * np.sign(batch["words"][..., 0])], -1)
    for row, valid in enumerate((20, 15, 11, 20)):
        batch["mask"][row, valid:] = False
        batch["audio"][row, valid:] = batch["words"][row, valid:] = 0.0
    # y carries the mask as an extra channel, so a plain compiled loss can use ccc_loss.
    target = np.concatenate([labels, batch["mask"][..., None]], -1).astype("float32")
    return batch, target


def masked_ccc(y_true, y_pred):
    """The project's masked CCC loss, with the frame mask in the last channel of y_true."""
    return ccc_loss(y_true[..., :-1], y_pred, y_true[..., -1] > 0.5)


def test_loss_decreases_on_a_toy_task():
    model = make_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=masked_ccc)
    batch, target = toy_task()
    losses = [float(model.train_on_batch(batch, target)) for _ in range(30)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
