"""The "full" utterance functionals of --model svm|logreg (tfemo/models/functionals.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from tfemo.models.estimator import estimator_layout, pitch_column
from tfemo.models.functionals import PER_FEATURE, full_width, utterance_functionals

FRAME = 0.04


def _pitch_utterance() -> tuple[np.ndarray, np.ndarray]:
    """One utterance of 6 frames: [rms, F0 Hz, voiced], voiced at frames 0, 1 and 5."""
    f0 = np.array([200.0, 220.0, 0.0, 0.0, 0.0, 180.0])
    rms = np.array([0.5, 0.7, 0.1, 0.1, 0.1, 0.3])
    features = np.stack([rms, f0, (f0 > 0).astype(float)], axis=-1)[None].astype(np.float32)
    return features, np.ones((1, 6), bool)


def test_width_and_padding_do_not_change_the_vector():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((2, 11, 4)).astype(np.float32)
    features[..., 3] = features[..., 3] > 0  # a voiced flag after the "F0" column 2
    mask = np.ones((2, 11), bool)
    padded = np.concatenate([features, np.full((2, 7, 4), 1e6, np.float32)], axis=1)
    padded_mask = np.concatenate([mask, np.zeros((2, 7), bool)], axis=1)
    alone = utterance_functionals(features, mask, 2, FRAME)
    assert alone.shape == (2, full_width(4, 2)) == (2, PER_FEATURE * 4 + 12 + 8)
    np.testing.assert_allclose(utterance_functionals(padded, padded_mask, 2, FRAME), alone)
    assert utterance_functionals(features, mask, None, FRAME).shape == (2, PER_FEATURE * 4)


def test_known_values_of_a_ramp():
    t = np.linspace(-1.0, 1.0, 21)
    features = np.stack([3.0 + 2.0 * t, np.full_like(t, 5.0)], axis=-1)[None]
    vector = utterance_functionals(features, np.ones((1, 21), bool), None, FRAME)
    by_name = vector.reshape(PER_FEATURE, 2)  # functional-major: [mean, std, p10, p90, ...]
    assert by_name[0] == pytest.approx([3.0, 5.0])  # mean
    assert by_name[7] == pytest.approx([3.0, 5.0])  # median
    assert by_name[4] == pytest.approx([0.2, 0.0])  # mean |delta|: 2 * 2 / 20
    assert by_name[12] == pytest.approx([0.0, 0.0], abs=1e-9)  # skewness of a ramp, a constant
    assert by_name[15] == pytest.approx([2.0, 0.0])  # slope over time scaled to [-1, 1]


def test_f0_only_over_voiced_frames_and_voicing_rates():
    features, mask = _pitch_utterance()
    vector = utterance_functionals(features, mask, 1, FRAME)[0]
    f0 = vector[PER_FEATURE * 3:PER_FEATURE * 3 + 8]
    assert f0[0] == pytest.approx(200.0)  # the unvoiced 0 Hz frames are not in the mean
    assert f0[3] == pytest.approx(200.0)  # median of 200, 220, 180
    voicing = vector[PER_FEATURE * 3 + 8:PER_FEATURE * 3 + 12]
    seconds = 6 * FRAME
    assert voicing == pytest.approx([0.5, 2 / seconds, 1.5 * FRAME, 3 * FRAME])
    voiced_means = vector[PER_FEATURE * 3 + 12:PER_FEATURE * 3 + 15]
    unvoiced_means = vector[PER_FEATURE * 3 + 15:]
    assert voiced_means[0] == pytest.approx(0.5) and unvoiced_means[0] == pytest.approx(0.1)


def test_standardised_features_find_the_same_voiced_frames():
    features, mask = _pitch_utterance()
    scaled = (features - features.mean(axis=1)) / features.std(axis=1)
    raw = utterance_functionals(features, mask, 1, FRAME)[0]
    standardised = utterance_functionals(scaled, mask, 1, FRAME)[0]
    voicing = slice(PER_FEATURE * 3 + 8, PER_FEATURE * 3 + 12)
    np.testing.assert_allclose(standardised[voicing], raw[voicing])


def test_a_silent_utterance_gives_finite_zeros_for_its_f0():
    features = np.zeros((1, 5, 3), np.float32)
    vector = utterance_functionals(features, np.ones((1, 5), bool), 1, FRAME)[0]
    assert np.isfinite(vector).all()
    assert not vector[PER_FEATURE * 3:PER_FEATURE * 3 + 8].any()


def test_the_layout_comes_from_the_description():
    description = SimpleNamespace(features={"rms": 1, "mfcc": 13, "pitch": 2}, feature_dim=16,
                                  frame_seconds=0.04)
    assert pitch_column(description) == 14
    assert estimator_layout(description) == {"feature_dim": 16, "pitch_column": 14,
                                             "frame_seconds": 0.04}
    assert pitch_column(SimpleNamespace(features={"mfcc": 13})) is None
