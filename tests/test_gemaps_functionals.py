"""The compact eGeMAPS-like functionals (tfemo/models/gemaps_functionals.py) and the estimator
statistics that use them (gemaps, full+gemaps): known values on hand-made frames, padding
that changes nothing, per-speaker vectors unchanged by the reader's rescaling, the weighted
block, and a clear error for records without the families."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tests.test_classifier_pipeline import fold_records, tonal_emodb  # noqa: F401
from tfemo.audio.features import feature_dims
from tfemo.models.estimator import UtteranceEstimator, family_columns, utterance_vectors
from tfemo.models.functionals import full_width, speaker_fallback, standardise_by_speaker
from tfemo.models.gemaps_functionals import gemaps_functionals, gemaps_width
from tfemo.models.registry import model_spec

FAMILIES = ("zcr", "mfcc", "pitch", "tilt")
DIMS = feature_dims(FAMILIES)
LAYOUT = family_columns(SimpleNamespace(features=DIMS))
WIDTH = sum(DIMS.values())
F0, VOICED = LAYOUT["pitch"][0], LAYOUT["pitch"][0] + 1
LOUDNESS = LAYOUT["tilt"][0]


def frames(batch: int = 6, length: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, length, WIDTH))
    x[..., VOICED] = (rng.random((batch, length)) > 0.4).astype(float)
    x[..., F0] = np.where(x[..., VOICED] > 0, 100 + 50 * rng.random((batch, length)), 0.0)
    return x, np.ones((batch, length), bool)


def test_widths():
    assert gemaps_width(LAYOUT) == 49
    with_voice = family_columns(SimpleNamespace(features=feature_dims((*FAMILIES, "voice"))))
    assert gemaps_width(with_voice) == 67
    x, mask = frames()
    assert gemaps_functionals(x, mask, LAYOUT, 0.04).shape == (6, 49)


def test_f0_contour_known_values():
    x = np.zeros((1, 10, WIDTH))
    # voiced frames 0-3 rise 100 -> 130, frame 4 unvoiced, frames 5-9 fall 150 -> 110
    f0 = [100, 110, 120, 130, 0, 150, 140, 130, 120, 110]
    x[0, :, F0] = f0
    x[0, :, VOICED] = [f > 0 for f in f0]
    out = gemaps_functionals(x, np.ones((1, 10), bool), LAYOUT, 0.04)[0]
    voiced = np.array([f for f in f0 if f > 0], float)
    mean, std, p20, p50, p80, span, up_mean, up_std, down_mean, down_std = out[:10]
    assert mean == pytest.approx(voiced.mean()) and std == pytest.approx(voiced.std())
    assert p50 == pytest.approx(np.percentile(voiced, 50))
    assert span == pytest.approx(p80 - p20)
    # rising: three steps of 10 Hz per 40 ms; falling: four of -10; the jump across the
    # unvoiced frame counts in neither
    assert up_mean == pytest.approx(250.0) and up_std == pytest.approx(0.0)
    assert down_mean == pytest.approx(-250.0) and down_std == pytest.approx(0.0)
    timing = out[-7:]
    # two voiced segments in 0.4 s, of 0.16 and 0.2 s; one unvoiced of 0.04 s; 9 of 10 voiced
    np.testing.assert_allclose(timing[1:], [5.0, 0.18, 0.02, 0.04, 0.0, 0.9])


def test_padding_changes_nothing():
    x, mask = frames(length=30)
    padded = np.concatenate([x, np.full((6, 12, WIDTH), 7.0)], axis=1)
    mask_padded = np.concatenate([mask, np.zeros((6, 12), bool)], axis=1)
    np.testing.assert_allclose(gemaps_functionals(padded, mask_padded, LAYOUT, 0.04),
                               gemaps_functionals(x, mask, LAYOUT, 0.04), atol=1e-12)


def test_per_speaker_vectors_ignore_the_readers_rescaling():
    x, mask = frames(batch=8)
    speakers = np.array(["a", "b"] * 4)
    rng = np.random.default_rng(3)
    scale, shift = rng.uniform(0.5, 2.0, WIDTH), rng.standard_normal(WIDTH)
    scale[VOICED], shift[VOICED] = 1.0, 0.0  # the flag stays a flag (its sign is what counts)
    rescaled = x * scale + shift

    def per_speaker(v):
        return standardise_by_speaker(v, speakers, speaker_fallback(v, speakers))

    np.testing.assert_allclose(per_speaker(gemaps_functionals(rescaled, mask, LAYOUT, 0.04)),
                               per_speaker(gemaps_functionals(x, mask, LAYOUT, 0.04)),
                               atol=1e-6)


def test_records_without_the_families_are_refused():
    layout = SimpleNamespace(label_names=("a", "b"), feature_dim=15,
                             features=feature_dims(("mfcc", "pitch")), frame_seconds=0.04)
    spec = model_spec("logreg")
    with pytest.raises(ValueError, match="lack tilt"):
        spec.build(layout, spec.config(statistics="gemaps"))
    few_coefficients = {"mfcc": (0, 3), "pitch": (3, 2), "tilt": (5, 6)}
    with pytest.raises(ValueError, match="at least 5 coefficients"):
        gemaps_functionals(np.zeros((1, 4, 11)), np.ones((1, 4), bool), few_coefficients, 0.04)


@pytest.mark.parametrize("other, width", [("full", full_width(WIDTH, F0)),
                                          ("basic", 2 * WIDTH), ("rich", 5 * WIDTH)])
def test_the_gemaps_block_is_weighted(other, width, tmp_path):
    x, mask = frames(batch=24)
    layout = SimpleNamespace(label_names=("a", "b"), feature_dim=WIDTH, features=DIMS,
                             frame_seconds=0.04)
    spec = model_spec("logreg")
    statistics = f"{other}+gemaps"
    estimator = spec.build(layout, spec.config(statistics=statistics, gemaps_weight=4.0,
                                               utterance_norm="speaker"))
    vectors = estimator.statistics_of({"features": x, "mask": mask})
    assert vectors.shape == (24, 49 + width)
    np.testing.assert_array_equal(vectors[:, 49:],
                                  utterance_vectors(other, x, mask, LAYOUT, 0.04))
    speakers = np.array(["a", "b", "c"] * 8)
    labels = np.arange(24) % 2
    estimator.fit(vectors, labels, speakers)
    scaled = estimator.pipeline[:-1].transform(
        standardise_by_speaker(vectors, speakers, estimator.fallback))
    spread = scaled.std(axis=0)
    assert np.median(spread[:49]) == pytest.approx(4.0, rel=1e-6)
    assert np.median(spread[49:]) == pytest.approx(1.0, rel=1e-6)
    path = tmp_path / "model.joblib"
    estimator.save(path)
    again = UtteranceEstimator.load(path)
    np.testing.assert_array_equal(again.probabilities(vectors, speakers),
                                  estimator.probabilities(vectors, speakers))


def test_an_estimator_saved_before_families_still_loads():
    spec = model_spec("logreg")
    layout = SimpleNamespace(label_names=("a", "b"), feature_dim=WIDTH, features=DIMS,
                             frame_seconds=0.04)
    estimator = spec.build(layout, spec.config(statistics="full"))
    state = dict(estimator.__dict__)
    del state["families"], state["gemaps_weight"]
    old = UtteranceEstimator.__new__(UtteranceEstimator)
    old.__setstate__(state)
    x, mask = frames()
    np.testing.assert_array_equal(old.statistics_of({"features": x, "mask": mask}),
                                  estimator.statistics_of({"features": x, "mask": mask}))


@pytest.fixture(scope="module")
def tilt_records(tonal_emodb, tmp_path_factory):  # noqa: F811
    from tfemo.make_tfrecords import main as make_tfrecords

    output = tmp_path_factory.mktemp("tilt-records")
    assert make_tfrecords(["--corpus", "emodb", "--data_dir", str(tonal_emodb),
                           "--output_dir", str(output), "--embeddings", "none",
                           "--features", "rms,mfcc,pitch,tilt", "--partition", "loso",
                           "--workers", "1", "--quiet"]) == 0
    return output


@pytest.mark.slow
def test_train_eval_predict_with_the_gemaps_block(tilt_records, tonal_emodb, tmp_path):  # noqa: F811
    import json

    from tfemo import eval as evaluate
    from tfemo import predict, train

    train_dir = tmp_path / "run"
    assert train.main(["--model", "logreg", "--statistics", "full+gemaps", "--gemaps_weight",
                       "4", "--utterance_norm", "speaker", "--calibration_folds", "3",
                       "--train_portions", "train+devel", "--tfrecords", str(tilt_records),
                       "--train_dir", str(train_dir), "--max_steps", "7", "--device", "-1",
                       "--verbose", "0"]) == 0
    estimator = UtteranceEstimator.load(train_dir / "fold-01" / "model.joblib")
    assert estimator.statistics == "full+gemaps" and estimator.gemaps_weight == 4.0
    assert evaluate.main(["--portion", "test", "--train_dir", str(train_dir),
                          "--tfrecords", str(tilt_records), "--device", "-1"]) == 0
    pooled = json.loads((train_dir / "eval-test-fitted-pooled.json").read_text())
    assert pooled["files"] == 24 and pooled["uar"] >= 0.9
    wav = sorted((tonal_emodb / "wav").glob("*.wav"))[0]
    out = tmp_path / "predictions"
    assert predict.main(["--train_dir", str(train_dir / "fold-01"), "--output_dir", str(out),
                         "--no_speech_check", str(wav)]) == 0
    assert (out / "predictions.csv").is_file()


def test_train_refuses_gemaps_on_records_without_tilt(fold_records, tmp_path, capsys):  # noqa: F811
    from tfemo import train

    code = train.main(["--model", "logreg", "--statistics", "gemaps", "--tfrecords",
                       str(fold_records), "--train_dir", str(tmp_path / "run"),
                       "--max_steps", "7", "--device", "-1", "--verbose", "0"])
    err = capsys.readouterr().err
    assert code != 0 and "tilt" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "fold-01" / "model.joblib").exists()
