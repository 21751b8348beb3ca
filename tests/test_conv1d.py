"""Conv1D classifier: learning, padding invariance, normalisation, reload, builder."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from tfemo.models.conv1d import Conv1DClassifier, Conv1DConfig, FeatureStandardiser, build

FEATURES = 6
CLASSES = ("anger", "neutral", "sadness")
VARIANTS = ("frames", "utterance")
# Raw features live on their own scales (like F0 in Hz next to a zero-crossing rate).
RAW_MEAN = np.array([100.0, -3.0, 0.5, 0.0, 40.0, 2.0], "float32")
RAW_STD = np.array([20.0, 0.01, 1.0, 5.0, 0.5, 3.0], "float32")
SMALL = {"filters": 16, "hidden": 16, "blocks": 2}


def make_model(variant: str = "frames", stats: bool = True, **options) -> Conv1DClassifier:
    """A small deterministic classifier for the test features."""
    keras.utils.set_random_seed(1234)
    normalisation = ({"feature_mean": RAW_MEAN.tolist(), "feature_std": RAW_STD.tolist()}
                     if stats else {})
    return Conv1DClassifier(feature_dim=FEATURES, class_names=CLASSES, variant=variant,
                            **normalisation, **{**SMALL, **options})


def make_task(count: int, seed: int, steps: int = 30) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Padded batch: class k shifts the mean of feature 0 by 2 (k - 1) stds; 8-30 real frames."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), count).astype("int32")
    lengths = rng.integers(8, steps + 1, count)
    standard = rng.normal(size=(count, steps, FEATURES))
    standard[..., 0] += 2.0 * (labels[:, None] - 1)
    mask = np.arange(steps)[None, :] < lengths[:, None]
    features = np.where(mask[..., None], standard * RAW_STD + RAW_MEAN, 0.0).astype("float32")
    return {"features": features, "mask": mask, "num_frames": lengths.astype("int32"),
            "label": labels}, labels


@pytest.mark.parametrize(("variant", "epochs"), [("frames", 8), ("utterance", 20)])
def test_learns_an_easy_task_on_padded_batches(variant, epochs):
    train, train_labels = make_task(150, seed=0)
    test, test_labels = make_task(90, seed=1)
    model = make_model(variant, dropout=0.1)  # one informative dimension: little dropout
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(train, train_labels, batch_size=16, epochs=epochs, shuffle=True, verbose=0)
    probabilities = model.predict(test, batch_size=32, verbose=0)
    assert probabilities.shape == (90, len(CLASSES))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    accuracy = np.mean(probabilities.argmax(-1) == test_labels)
    assert accuracy >= 0.95, accuracy


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("padding", ["garbage", "zeros"])
def test_padding_never_changes_the_probabilities(variant, padding):
    model = make_model(variant, dilations=(1, 3))
    batch, _ = make_task(3, seed=2, steps=40)
    length = int(batch["num_frames"][1])
    alone = {"features": batch["features"][1:2, :length]}  # no mask key: every frame is real
    if padding == "garbage":
        rng = np.random.default_rng(3)
        garbage = rng.normal(scale=1e4, size=batch["features"].shape).astype("float32")
        garbage[0, -1, 0] = np.nan
        batch["features"] = np.where(batch["mask"][..., None], batch["features"], garbage)
    expected = np.asarray(model(alone, training=False))[0]
    padded = np.asarray(model(batch, training=False))[1]
    assert np.isfinite(np.asarray(model(batch, training=False))).all()
    np.testing.assert_allclose(padded, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_row_without_real_frames_gives_finite_probabilities(variant):
    batch, _ = make_task(2, seed=4)
    batch["mask"][0] = False
    probabilities = np.asarray(make_model(variant)(batch, training=False))
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_standardises_with_the_given_statistics(variant):
    with_stats = make_model(variant)
    identity = Conv1DClassifier.from_config(
        {**with_stats.get_config(), "feature_mean": None, "feature_std": None})
    identity.set_weights(with_stats.get_weights())
    batch, _ = make_task(4, seed=5)
    standard = {"features": (batch["features"] - RAW_MEAN) / RAW_STD, "mask": batch["mask"]}
    np.testing.assert_allclose(np.asarray(with_stats(batch, training=False)),
                               np.asarray(identity(standard, training=False)), atol=1e-5)
    # The raw features are far from standard, so the statistics do change the output.
    assert not np.allclose(np.asarray(identity(batch, training=False)),
                           np.asarray(with_stats(batch, training=False)), atol=1e-3)


def test_standardiser_floors_the_std_and_zeroes_padded_frames():
    layer = FeatureStandardiser(mean=[1.0, 0.0], std=[0.0, 2.0], min_std=1e-3)
    features = np.array([[[1.002, 4.0], [5.0, 5.0]]], "float32")
    out = np.asarray(layer(features, np.array([[True, False]])))
    np.testing.assert_allclose(out, [[[2.0, 2.0], [0.0, 0.0]]], rtol=1e-3)
    with pytest.raises(ValueError, match="both"):
        FeatureStandardiser(mean=[0.0])


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_round_trip_and_keras_file_give_identical_outputs(tmp_path, variant):
    model = make_model(variant, dropout=0.2)
    batch, _ = make_task(3, seed=6)
    expected = np.asarray(model(batch, training=False))
    config = model.get_config()
    assert config["feature_dim"] == FEATURES and config["class_names"] == list(CLASSES)
    np.testing.assert_allclose(config["feature_mean"], RAW_MEAN)
    np.testing.assert_allclose(config["feature_std"], RAW_STD)
    clone = Conv1DClassifier.from_config(config)
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(batch, training=False)), expected)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, Conv1DClassifier)
    np.testing.assert_array_equal(np.asarray(reloaded(batch, training=False)), expected)


def test_reads_only_the_features_and_mask():
    model = make_model()
    assert model.input_keys == ("features",)
    batch, _ = make_task(2, seed=7)
    extra = batch | {"labels": np.ones((2, 30, 2), "float32"), "id": np.array([b"a", b"b"])}
    np.testing.assert_array_equal(
        np.asarray(model(extra, training=False)),
        np.asarray(model({"features": batch["features"], "mask": batch["mask"]},
                         training=False)))
    with pytest.raises(KeyError, match="features"):
        model({"audio": batch["features"]})


def test_default_size_suits_a_small_corpus():
    # EMO-DB-like: 277 feature dims, 7 classes. projection 35,584; 3 convs 82,048 each;
    # 3 layer norms 256 each; pooled batch norm 1,024; dense 32,896; output 903.
    model = Conv1DClassifier(feature_dim=277, class_names=[f"c{k}" for k in range(7)])
    assert model.count_params() == 317_319
    baseline = Conv1DClassifier(feature_dim=277, class_names=[f"c{k}" for k in range(7)],
                                variant="utterance")
    assert baseline.count_params() == 4 * 554 + 554 * 128 + 128 + 128 * 7 + 7
    assert not any("/conv_" in weight.path for weight in baseline.weights)


@pytest.mark.parametrize("options", [{"variant": "lstm"}, {"dilations": (1, 2)},
                                     {"dropout": 1.0}, {"filters": 0}])
def test_rejects_bad_options(options):
    with pytest.raises(ValueError):
        make_model(**{"blocks": 3, **options})


def description(**fields) -> SimpleNamespace:
    """A stand-in DatasetDescription with the fields the builder reads."""
    values = {"name": "toy", "task": "categorical", "label_names": list(CLASSES),
              "features": {"mfcc": 4, "pitch": 2},
              "normalisation": {"features": {"mean": RAW_MEAN.tolist(),
                                             "std": RAW_STD.tolist()}}}
    return SimpleNamespace(**{**values, **fields})


def test_builder_takes_sizes_statistics_and_classes_from_the_description():
    model = build(description(), Conv1DConfig(variant="utterance", hidden=8))
    assert model.feature_dim == FEATURES and model.class_names == CLASSES
    assert model.variant == "utterance" and model.hidden == 8
    np.testing.assert_allclose(model.feature_mean, RAW_MEAN)
    np.testing.assert_allclose(model.feature_std, RAW_STD)
    assert build(description(), Conv1DConfig(dilations=(1, 2, 4))).dilations == (1, 2, 4)


@pytest.mark.parametrize(("fields", "message"), [
    ({"features": {}}, "no per-frame features"),
    ({"normalisation": {}}, "statistics"),
    ({"features": {"mfcc": 5}}, "5 dims"),
])
def test_builder_rejects_descriptions_it_cannot_use(fields, message):
    with pytest.raises(ValueError, match=message):
        build(description(**fields), Conv1DConfig())


def test_builder_works_on_a_description_without_the_features_field():
    legacy = description()
    del legacy.features
    with pytest.raises(ValueError, match="no per-frame features"):
        build(legacy, Conv1DConfig())


def test_rich_utterance_statistics_are_masked_percentiles_and_deltas():
    from tfemo.models.conv1d import masked_mean_abs_delta, masked_percentiles

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 3)).astype("float32")
    mask = np.ones((2, 9), bool)
    mask[1, 6:] = False
    x[1, 6:] = 99.0  # padding must not count
    low, high = masked_percentiles(x, mask)
    deltas = masked_mean_abs_delta(x, mask)
    for row, n in ((0, 9), (1, 6)):
        ordered = np.sort(x[row, :n], axis=0)
        np.testing.assert_allclose(low[row], ordered[int(np.floor(0.1 * (n - 1)))])
        np.testing.assert_allclose(high[row], ordered[int(np.floor(0.9 * (n - 1)))])
        np.testing.assert_allclose(deltas[row], np.abs(np.diff(x[row, :n], axis=0)).mean(0),
                                   atol=1e-6)
    model = Conv1DClassifier(feature_dim=3, class_names=["a", "b"], variant="utterance_rich")
    alone = model({"features": x[1:, :6], "mask": mask[1:, :6]}).numpy()
    padded = model({"features": x, "mask": mask}).numpy()[1:]
    np.testing.assert_allclose(alone, padded, atol=1e-5)
