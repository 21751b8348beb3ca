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
    assert estimator_layout(description) == {
        "feature_dim": 16, "pitch_column": 14, "frame_seconds": 0.04,
        "families": {"rms": (0, 1), "mfcc": (1, 13), "pitch": (14, 2)}}
    assert pitch_column(SimpleNamespace(features={"mfcc": 13})) is None


def test_each_speaker_is_standardised_with_its_own_statistics():
    from tfemo.models.functionals import speaker_fallback, standardise_by_speaker

    rng = np.random.default_rng(1)
    speakers = np.repeat(["a", "b", "c"], 8)
    # each speaker has its own offset and scale: per-speaker z-scores remove both
    vectors = (rng.standard_normal((24, 5)) * np.repeat([1.0, 5.0, 0.5], 8)[:, None]
               + np.repeat([0.0, 100.0, -30.0], 8)[:, None])
    fallback = speaker_fallback(vectors, speakers)
    out = standardise_by_speaker(vectors, speakers, fallback)
    for speaker in "abc":
        rows = out[speakers == speaker]
        np.testing.assert_allclose(rows.mean(axis=0), 0.0, atol=1e-9)
        np.testing.assert_allclose(rows.std(axis=0), 1.0, atol=1e-9)
    # the order of the rows does not matter, nor do the other speakers in the batch
    alone = standardise_by_speaker(vectors[speakers == "b"], speakers[speakers == "b"], fallback)
    np.testing.assert_allclose(alone, out[speakers == "b"], atol=1e-12)
    np.testing.assert_allclose(fallback[0], vectors.mean(axis=0))


def test_a_lone_file_gets_the_training_speakers_average_statistics():
    from tfemo.models.functionals import speaker_fallback, standardise_by_speaker

    vectors = np.array([[0.0], [2.0], [10.0], [14.0]])
    speakers = np.array(["a", "a", "b", "b"])
    mean, std, floor = speaker_fallback(vectors, speakers)
    assert mean[0] == pytest.approx(6.5) and std[0] == pytest.approx(1.5)  # stds 1 and 2
    new = np.array([[8.0], [9.5]])
    expected = (new - 6.5) / 1.5
    np.testing.assert_allclose(standardise_by_speaker(new, None, (mean, std, floor)), expected)
    # one file of a speaker (fewer than MIN_SPEAKER_FILES) is treated the same way
    np.testing.assert_allclose(standardise_by_speaker(new[:1], np.array(["z"]),
                                                      (mean, std, floor)), expected[:1])


def test_a_functional_flat_within_a_speaker_is_not_blown_up():
    from tfemo.models.functionals import (
        RELATIVE_FLOOR,
        speaker_fallback,
        standardise_by_speaker,
    )

    # column 0 is 0 in every file of speaker a but one, where it is 1e-9 (a voice measure)
    vectors = np.array([[0.0], [1e-9], [0.0], [3.0], [5.0], [4.0]])
    speakers = np.array(["a", "a", "a", "b", "b", "b"])
    fallback = speaker_fallback(vectors, speakers)
    within = (vectors[:3].std() + vectors[3:].std()) / 2
    assert fallback[2][0] == pytest.approx(RELATIVE_FLOOR * within)
    out = standardise_by_speaker(vectors, speakers, fallback)
    assert np.abs(out[:3]).max() < 1e-6  # centred, not scaled to +-1.4
