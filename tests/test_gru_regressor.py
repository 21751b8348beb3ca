"""GRU regressor: shapes, padding causality, normalisation, reload, builder, learning with CCC."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfemo.models.gru_regressor import GRURegressor, GRURegressorConfig, build
from tfemo.scoring.losses import MaskedCCCLoss
from tfemo.scoring.metrics import ccc

FEATURES = 4
LABELS = ("arousal", "valence")
RAW_MEAN = np.array([200.0, -1.0, 0.0, 3.0], "float32")
RAW_STD = np.array([50.0, 0.02, 1.0, 4.0], "float32")
SMALL = {"hidden": 24, "dropout": 0.0}


def make_model(stats: bool = True, **options) -> GRURegressor:
    """A small deterministic regressor for the test features."""
    keras.utils.set_random_seed(1234)
    normalisation = ({"feature_mean": RAW_MEAN.tolist(), "feature_std": RAW_STD.tolist()}
                     if stats else {})
    return GRURegressor(feature_dim=FEATURES, label_names=LABELS, **normalisation,
                        **{**SMALL, **options})


def make_task(count: int, seed: int, steps: int = 40):
    """Raw padded sequences; arousal = feature 0 now, valence = feature 1 one frame earlier."""
    rng = np.random.default_rng(seed)
    standard = rng.normal(size=(count, steps, FEATURES)).astype("float32")
    lengths = rng.integers(steps // 2, steps + 1, count)
    mask = np.arange(steps)[None, :] < lengths[:, None]
    previous = np.concatenate([np.zeros_like(standard[:, :1, 1]), standard[:, :-1, 1]], axis=1)
    labels = 0.5 * np.stack([standard[..., 0], previous], axis=-1)
    features = np.where(mask[..., None], standard * RAW_STD + RAW_MEAN, 0.0).astype("float32")
    labels = np.where(mask[..., None], labels, 0.0).astype("float32")
    return {"features": features, "mask": mask, "labels": labels,
            "num_frames": lengths.astype("int32")}


def test_outputs_one_value_per_frame_and_label_zero_on_padding():
    batch = make_task(3, seed=0, steps=17)
    out = np.asarray(make_model(hidden=128, gru_layers=2)(batch, training=False))
    assert out.shape == (3, 17, len(LABELS)) and np.isfinite(out).all()
    assert np.all(out[~batch["mask"]] == 0.0)
    assert np.all(np.abs(out[batch["mask"]]).sum(-1) > 0)


def test_frames_after_the_end_cannot_change_outputs_on_real_frames():
    model = make_model(gru_layers=2)
    batch = make_task(3, seed=1, steps=30)
    length = int(batch["num_frames"][2])
    alone = {"features": batch["features"][2:, :length]}  # no mask: every frame is real
    garbage = np.random.default_rng(2).normal(scale=1e4, size=batch["features"].shape)
    batch["features"] = np.where(batch["mask"][..., None], batch["features"],
                                 garbage).astype("float32")
    expected = np.asarray(model(alone, training=False))[0]
    padded = np.asarray(model(batch, training=False))[2, :length]
    np.testing.assert_allclose(padded, expected, rtol=0, atol=1e-5)


def test_model_standardises_with_the_given_statistics():
    with_stats = make_model()
    identity = GRURegressor.from_config(
        {**with_stats.get_config(), "feature_mean": None, "feature_std": None})
    identity.set_weights(with_stats.get_weights())
    batch = make_task(2, seed=3)
    standard = {"features": (batch["features"] - RAW_MEAN) / RAW_STD, "mask": batch["mask"]}
    np.testing.assert_allclose(np.asarray(with_stats(batch, training=False)),
                               np.asarray(identity(standard, training=False)), atol=1e-5)
    assert not np.allclose(np.asarray(identity(batch, training=False)),
                           np.asarray(with_stats(batch, training=False)), atol=1e-3)


def test_config_round_trip_and_keras_file_give_identical_outputs(tmp_path):
    model = make_model(gru_layers=2, dropout=0.2)
    batch = make_task(2, seed=4)
    expected = np.asarray(model(batch, training=False))
    config = model.get_config()
    assert config["label_names"] == list(LABELS) and config["gru_layers"] == 2
    clone = GRURegressor.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(batch, training=False)), expected)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, GRURegressor)
    np.testing.assert_array_equal(np.asarray(reloaded(batch, training=False)), expected)


def test_learns_a_per_frame_mapping_with_the_masked_ccc_loss():
    train, test = make_task(64, seed=5), make_task(32, seed=6)
    model = make_model(gru_layers=1)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MaskedCCCLoss())
    # As tfemo/train.py feeds it: (batch, labels, mask), the mask as the sample weight.
    data = (tf.data.Dataset.from_tensor_slices(train).shuffle(64, seed=0).batch(16)
            .map(lambda batch: (batch, batch["labels"], batch["mask"])))
    model.fit(data, epochs=8, shuffle=False, verbose=0)
    predictions = np.asarray(model(test, training=False))
    scores = ccc(predictions, test["labels"], test["mask"])
    assert np.all(scores > 0.9), scores


def description(**fields) -> SimpleNamespace:
    """A stand-in DatasetDescription with the fields the builder reads."""
    values = {"name": "toy", "task": "continuous", "label_names": list(LABELS),
              "features": {"pitch": 2, "rms": 1, "zcr": 1},
              "normalisation": {"features": {"mean": RAW_MEAN.tolist(),
                                             "std": RAW_STD.tolist()}}}
    return SimpleNamespace(**{**values, **fields})


def test_builder_takes_sizes_statistics_and_labels_from_the_description():
    model = build(description(label_names=["arousal"]), GRURegressorConfig(hidden=8))
    assert model.feature_dim == FEATURES and model.label_names == ("arousal",)
    assert model.hidden == 8 and model.gru_layers == 2 and model.input_keys == ("features",)
    np.testing.assert_allclose(model.get_config()["feature_std"], RAW_STD)
    default = build(description(), GRURegressorConfig())
    assert default.hidden == 128 and len(default.grus) == 2


@pytest.mark.parametrize(("fields", "message"), [
    ({"features": {}}, "no per-frame features"),
    ({"label_names": []}, "label dimensions"),
    ({"normalisation": {"audio": {"std": 0.1}}}, "statistics"),
])
def test_builder_rejects_descriptions_it_cannot_use(fields, message):
    with pytest.raises(ValueError, match=message):
        build(description(**fields), GRURegressorConfig())
