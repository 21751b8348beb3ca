"""The β-VAE: its masked loss by hand, padding, β, learning, the condition and reloading."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tfemo.models.beta_vae import BetaVAE, BetaVAEConfig, vae_terms
from tfemo.models.registry import MODELS, build_model

F = 3
CLASSES = ("angry", "neutral")


def make_model(**options) -> BetaVAE:
    keras.utils.set_random_seed(0)
    options = {"latent_dim": 4, "hidden": 16, "blocks": 1, "kernel_size": 3, **options}
    return BetaVAE(feature_dim=F, feature_mean=[1.0, -2.0, 0.5], feature_std=[2.0, 1.0, 0.5],
                   class_names=CLASSES, speaker_names=("s1", "s2"), **options)


def batch(lengths: list[int], frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.arange(frames)[None, :] < np.asarray(lengths)[:, None]
    features = rng.normal(size=(len(lengths), frames, F)).astype(np.float32) * 2 + 1
    features[~mask] = 0.0
    return {"features": features, "mask": mask,
            "label": np.arange(len(lengths), dtype=np.int32) % 2,
            "speaker": np.array(["s1", "s2", "s9"][:1] * len(lengths))}


def test_masked_loss_equals_a_hand_computation():
    model = make_model(beta=2.5)
    data = batch([5, 3], 6)
    out = model(data, training=False)
    loss = float(model.compute_loss(data, None, out))
    x = (data["features"] - np.array([1.0, -2.0, 0.5])) / np.array([2.0, 1.0, 0.5])
    rec, mean, log_var = (np.asarray(out[k]) for k in ("reconstruction", "mean", "log_var"))
    expected = []
    for row, n in enumerate([5, 3]):
        error = ((x[row, :n] - rec[row, :n]) ** 2).sum() / n
        kl = 0.5 * (mean[row] ** 2 + np.exp(log_var[row]) - 1 - log_var[row]).sum()
        expected.append(error + 2.5 * kl)
    assert loss == pytest.approx(float(np.mean(expected)), rel=1e-5)
    assert np.all(rec[1, 3:] == 0.0)  # padded frames are not reconstructed


def test_padded_frames_do_not_change_the_loss_or_the_latents():
    model = make_model()
    short = batch([4], 4)
    padded = {**batch([4], 9), "features": np.zeros((1, 9, F), np.float32)}
    padded["features"][0, :4] = short["features"][0]
    padded["features"][0, 4:] = 1e6  # garbage on padding must not leak
    a, b = model(short, training=False), model(padded, training=False)
    np.testing.assert_allclose(a["mean"], b["mean"], atol=1e-5)
    np.testing.assert_allclose(float(model.compute_loss(short, None, a)),
                               float(model.compute_loss(padded, None, b)), rtol=1e-5)


def test_kl_term_scales_with_beta():
    data = batch([6, 4], 6)
    losses = {}
    for beta in (0.0, 1.0, 4.0):
        model = make_model(beta=beta)  # same seed: same weights
        out = model(data, training=False)
        losses[beta] = float(model.compute_loss(data, None, out))
        target, mask = model.standardise(data)
        _, kl = vae_terms(target, out["reconstruction"], mask, out["mean"], out["log_var"])
        kl_mean = float(np.mean(kl))
    assert kl_mean > 0
    assert losses[1.0] - losses[0.0] == pytest.approx(kl_mean, rel=1e-4)
    assert losses[4.0] - losses[0.0] == pytest.approx(4 * kl_mean, rel=1e-4)


def test_loss_decreases_on_a_toy_task():
    """Two kinds of utterance (a rising and a falling ramp) the VAE must learn to rebuild."""
    rng = np.random.default_rng(1)
    n, frames = 32, 12
    lengths = rng.integers(6, frames + 1, size=n)
    mask = np.arange(frames)[None, :] < lengths[:, None]
    kind = rng.integers(0, 2, size=n)
    ramp = np.linspace(-1, 1, frames)[None, :, None] * np.where(kind, 1, -1)[:, None, None]
    features = (ramp * np.array([2.0, 1.0, 0.5]) + np.array([1.0, -2.0, 0.5])
                + rng.normal(scale=0.05, size=(n, frames, F))).astype(np.float32)
    features[~mask] = 0.0
    data = {"features": features, "mask": mask}
    model = make_model(beta=0.1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(data, batch_size=8, epochs=25, verbose=0, shuffle=False)
    loss = history.history["loss"]
    assert set(history.history) >= {"loss", "reconstruction", "kl"}
    assert loss[-1] < 0.5 * loss[0]


@pytest.mark.parametrize("conditional,key,values", [
    ("class", "label", (np.array([0], np.int32), np.array([1], np.int32))),
    ("speaker", "speaker", (np.array(["s1"]), np.array(["s2"]))),
])
def test_the_conditional_decoder_uses_the_condition(conditional, key, values):
    model = make_model(conditional=conditional)
    data = batch([5], 5)
    z = np.zeros((1, 4), np.float32)
    first, second = (np.asarray(model.decode(z, data["mask"], model.condition_index(
        {**data, key: v}))) for v in values)
    assert np.abs(first - second).max() > 1e-4
    plain = make_model()
    same = [np.asarray(plain({**data, key: v}, training=False)["reconstruction"]) for v in values]
    np.testing.assert_array_equal(same[0], same[1])


def test_unknown_speakers_and_missing_labels_map_to_index_zero():
    model = make_model(conditional="speaker")
    index = np.asarray(model.condition_index({"speaker": np.array(["s1", "s2", "new"])}))
    assert index.tolist() == [1, 2, 0]
    model = make_model(conditional="class")
    index = np.asarray(model.condition_index({"label": np.array([-1, 0, 1], np.int32)}))
    assert index.tolist() == [0, 1, 2]


def test_config_round_trip_gives_identical_outputs(tmp_path):
    model = make_model(conditional="class")
    data = batch([5, 3], 5)
    path = tmp_path / "vae.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    for key in ("reconstruction", "mean", "log_var"):
        np.testing.assert_allclose(model(data)[key], again(data)[key], atol=1e-6)


def test_registry_builds_it_from_a_description_and_refuses_missing_names():
    from tfemo.records.description import DatasetDescription

    description = DatasetDescription(
        name="d", task="categorical", sample_rate=16000, frame_length=640, frame_seconds=0.04,
        features={"mel_db": F}, label_names=list(CLASSES),
        portions={"train": {"examples": 2, "frames": 9, "speakers": ["b", "a"]}},
        normalisation={"features": {"mean": [0.0] * F, "std": [1.0] * F}})
    assert MODELS["beta_vae"].own_loss and not MODELS["beta_vae"].predicts_labels
    model = build_model("beta_vae", description, BetaVAEConfig(conditional="speaker"))
    assert model.speaker_names == ("a", "b")
    with pytest.raises(ValueError, match="needs the speaker names"):
        BetaVAE(feature_dim=F, conditional="speaker")


@pytest.mark.slow
def test_train_then_encode_into_the_store_on_a_ravdess_tree(tmp_path, capsys):
    """tfemo.train --model beta_vae, then tfemo.encode_latents writes every item's latents."""
    from tests.corpus_trees import ravdess_tree
    from tfemo.encode_latents import main as encode_main
    from tfemo.make_feature_store import main as store_main
    from tfemo.make_tfrecords import main as make_tfrecords_main
    from tfemo.store import FeatureStore
    from tfemo.train import main as train_main

    root = ravdess_tree(tmp_path / "ravdess")
    records, store, train_dir = tmp_path / "records", tmp_path / "store.h5", tmp_path / "vae"
    assert make_tfrecords_main(["--corpus", "ravdess", "--data_dir", str(root),
                                "--output_dir", str(records), "--embeddings", "none",
                                "--features", "rms,mfcc", "--workers", "1", "--quiet"]) == 0
    assert store_main(["--corpus", "ravdess", "--data_dir", str(root), "--features", "rms",
                       "--output", str(store), "--workers", "1", "--quiet"]) == 0
    assert train_main(["--model", "beta_vae", "--tfrecords", str(records), "--train_dir",
                       str(train_dir), "--max_steps", "3", "--batch_size", "2", "--latent_dim",
                       "3", "--hidden", "8", "--blocks", "1", "--beta", "4",
                       "--conditional", "speaker"]) == 0
    assert "beta = 4.0" in (train_dir / "run.toml").read_text()
    capsys.readouterr()
    assert encode_main(["--train_dir", str(train_dir), "--store", str(store),
                        "--name", "vae"]) == 0
    assert "latents (3-d)" in capsys.readouterr().out
    with FeatureStore(store) as opened:
        latents = opened.latents("vae")
        assert sorted(latents.item_ids) == sorted(item.id for item in opened.items())
        assert latents.mean.shape == latents.log_var.shape == (len(latents.item_ids), 3)
        assert np.isfinite(latents.mean).all()
        assert latents.provenance["beta"] == 4.0
        assert latents.provenance["computed_from"] == "records"
    assert encode_main(["--train_dir", str(tmp_path / "none"), "--store", str(store)]) == 2
