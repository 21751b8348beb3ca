"""The Praat voice-quality family (tfemo/audio/voice_quality.py): known jitter, shimmer,
formants and HNR of synthetic voices, zeros where there is no voice, and its registration."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from tfemo.audio.features import FEATURE_FAMILIES, KNOWN_FAMILIES, extract_features, feature_dims
from tfemo.audio.voice_quality import VOICE_COLUMNS, VOICE_DIM, voice_quality

RATE = 16000
COLUMN = {name: k for k, name in enumerate(VOICE_COLUMNS)}


def pulses(seconds: float, f0: float, period_step: float = 0.0,
           amplitude_step: float = 0.0) -> np.ndarray:
    """A glottal-like pulse train (decaying pulses) whose periods alternate T (1 +- period_step)
    and peak amplitudes alternate 1 +- amplitude_step: local jitter 2 period_step / (1 + ...)."""
    out = np.zeros(int(seconds * RATE))
    t, k = 0.01, 0
    shape = np.exp(-np.arange(40) / 6.0)
    while t < seconds - 0.02:
        start = int(round(t * RATE))
        out[start:start + 40] += (1 + amplitude_step * (-1) ** k) * shape
        t += (1 + period_step * (-1) ** k) / f0
        k += 1
    return out


FORMANTS = ((700, 80), (1200, 90), (2600, 120), (3500, 200), (4500, 250))


def vowel(source: np.ndarray, formants=FORMANTS) -> np.ndarray:
    """`source` through second-order resonators at the given (frequency, bandwidth) in Hz."""
    for frequency, bandwidth in formants:
        radius = np.exp(-np.pi * bandwidth / RATE)
        theta = 2 * np.pi * frequency / RATE
        source = scipy.signal.lfilter([1 - radius], [1, -2 * radius * np.cos(theta),
                                                      radius ** 2], source)
    return 0.3 * source / np.abs(source).max()


def voiced(features: np.ndarray) -> np.ndarray:
    """The frames with voice measures (every column 0 elsewhere)."""
    return features[np.any(features != 0, axis=1)]


def test_it_is_registered_but_not_in_all():
    assert "voice" in KNOWN_FAMILIES and "voice" not in FEATURE_FAMILIES
    assert feature_dims(["voice"]) == {"voice": VOICE_DIM} and VOICE_DIM == 9
    audio = vowel(pulses(1.0, 120.0))
    out = extract_features(audio, 25, ["pitch", "voice"])
    assert out["voice"].shape == (25, 9) and out["voice"].dtype == np.float32
    expected = voice_quality(audio[:25 * 640].astype(np.float32), 25)
    np.testing.assert_allclose(out["voice"], expected, rtol=1e-4, atol=1e-4)


def test_known_jitter_and_shimmer():
    steady = voiced(voice_quality(pulses(1.2, 125.0), 30))
    jittery = voiced(voice_quality(pulses(1.2, 125.0, period_step=0.02), 30))
    shimmery = voiced(voice_quality(pulses(1.2, 125.0, amplitude_step=0.1), 30))
    assert len(steady) > 20 and len(jittery) > 20 and len(shimmery) > 20
    assert np.median(steady[:, COLUMN["jitter"]]) < 0.005
    assert np.median(jittery[:, COLUMN["jitter"]]) == pytest.approx(0.04, abs=0.008)
    assert np.median(steady[:, COLUMN["shimmer"]]) < 0.02
    assert np.median(shimmery[:, COLUMN["shimmer"]]) == pytest.approx(0.2, abs=0.03)


def test_formants_of_a_synthetic_vowel():
    out = voiced(voice_quality(vowel(pulses(1.2, 110.0)), 30))
    assert len(out) > 20
    for name, hertz in (("f1", 700), ("f2", 1200), ("f3", 2600)):
        assert np.median(out[:, COLUMN[name]]) == pytest.approx(hertz, rel=0.08)
    assert np.all(out[:, [COLUMN["b1"], COLUMN["b2"], COLUMN["b3"]]] > 0)


def test_noise_lowers_the_harmonics_to_noise_ratio():
    rng = np.random.default_rng(0)
    clean = vowel(pulses(1.2, 140.0))
    noisy = clean + 0.03 * rng.standard_normal(len(clean))
    hnr_clean = np.median(voiced(voice_quality(clean, 30))[:, COLUMN["hnr"]])
    hnr_noisy = np.median(voiced(voice_quality(noisy, 30))[:, COLUMN["hnr"]])
    assert hnr_clean > 20 and hnr_noisy < hnr_clean - 5


def test_silence_and_noise_give_zeros():
    rng = np.random.default_rng(1)
    assert not voice_quality(np.zeros(20 * 640), 20).any()
    assert (voice_quality(0.1 * rng.standard_normal(20 * 640), 20) == 0).mean() > 0.9
    assert voice_quality(np.zeros(0), 0).shape == (0, 9)
