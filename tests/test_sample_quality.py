"""The sample-quality measures catch a generator that copies its training set and one that
returns noise, and pass fresh samples of the real distribution."""

from __future__ import annotations

import numpy as np
import pytest

from tfemo.evaluation.sample_quality import mmd_squared, sample_quality

CLASSES = ["angry", "calm", "sad"]
FAMILIES = {"rms": 1, "mfcc": 3}


def _utterances(rng: np.random.Generator, per_class: int) -> dict[str, np.ndarray]:
    """Class-dependent frames: each class its own mean and spread, 20-40 frames each."""
    labels = np.repeat(np.arange(len(CLASSES)), per_class)
    lengths = rng.integers(20, 41, len(labels))
    features = np.zeros((len(labels), 40, 4), np.float32)
    mask = np.arange(40)[None, :] < lengths[:, None]
    for n, label in enumerate(labels):
        centre = np.array([1.0, -2.0, 0.5, 3.0]) * (label + 1)
        features[n, :lengths[n]] = centre + (0.5 + 0.5 * label) * rng.standard_normal(
            (lengths[n], 4))
    return {"features": features * mask[..., None], "mask": mask, "label": labels}


@pytest.fixture(scope="module")
def real():
    return _utterances(np.random.default_rng(0), 30)


def _quality(real, generated):
    return sample_quality(real, generated, CLASSES, FAMILIES, pitch_column=None, seed=0)


def test_fresh_samples_of_the_real_distribution_pass(real):
    fresh = _quality(real, _utterances(np.random.default_rng(1), 30))
    assert fresh.c2st_auc < 0.75 and 0.3 < fresh.nn_accuracy < 0.7
    assert 0.7 < fresh.copy_ratio < 1.5 and fresh.tgtr_uar > 0.9
    assert all(0.8 < v < 1.25 for v in fresh.spread.values())
    assert fresh.verdicts() == []


def test_a_generator_that_returns_its_training_set_is_caught(real):
    copies = _quality(real, {k: v.copy() for k, v in real.items()})
    assert copies.copy_ratio < 1e-3 and copies.nn_accuracy < 0.05
    assert any("copies its training set" in v for v in copies.verdicts())


def test_a_generator_that_returns_noise_is_caught(real):
    rng = np.random.default_rng(2)
    frames = real["features"][real["mask"]]
    noise = {**real, "features": (frames.mean(0) + frames.std(0) * rng.standard_normal(
        real["features"].shape)).astype(np.float32) * real["mask"][..., None],
             "label": rng.permutation(real["label"])}
    caught = _quality(real, noise)
    assert caught.c2st_auc > 0.95 and caught.nn_accuracy > 0.9
    assert caught.tgtr_uar < 0.5  # chance is 1/3
    assert min(caught.mmd.values()) > 10 * max(caught.mmd_reference.values())
    verdicts = " ".join(caught.verdicts())
    assert "tells generated from real" in verdicts and "near chance" in verdicts


def test_shrunken_samples_show_in_the_spread(real):
    shrunk = {**real, "features": real["features"] * 0.5}
    assert all(v == pytest.approx(0.5, rel=1e-3) for v in _quality(real, shrunk).spread.values())


def test_mmd_is_zero_in_expectation_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((200, 5)), rng.standard_normal((200, 5))
    assert abs(mmd_squared(x, y, 2.0)) < 0.02
    assert mmd_squared(x, y + 1.0, 2.0) > 0.2
