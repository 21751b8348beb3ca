"""The `tilt` family (tfemo/audio/spectral_balance.py): loudness and spectral balance of
tones whose answers are known, flux at a change only, and equal values however the file's
spectrum is cut into blocks."""

from __future__ import annotations

import numpy as np
import pytest

from tfemo.audio import features
from tfemo.audio.features import FEATURE_FAMILIES, extract_features, feature_dims
from tfemo.audio.spectral_balance import TILT_COLUMNS, TILT_DIM, spectral_balance

RATE = 16000
COLUMN = {name: k for k, name in enumerate(TILT_COLUMNS)}


def tone(frequency: float, seconds: float = 1.0, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def tilt(audio: np.ndarray) -> np.ndarray:
    return extract_features(audio, len(audio) // 640, ["tilt"])["tilt"]


def test_registered_in_all_with_six_columns():
    assert "tilt" in FEATURE_FAMILIES and feature_dims(["tilt"]) == {"tilt": 6} == {
        "tilt": TILT_DIM}
    out = tilt(tone(300.0))
    assert out.shape == (25, 6) and out.dtype == np.float32 and np.isfinite(out).all()


def test_low_and_high_tones_tilt_opposite_ways():
    low, high = tilt(tone(300.0))[2:-2], tilt(tone(3000.0))[2:-2]
    # energy below 1 kHz: alpha ratio and Hammarberg index are large and positive; above:
    # negative
    assert low[:, COLUMN["alpha_ratio"]].min() > 30 and high[:, COLUMN["alpha_ratio"]].max() < -30
    assert low[:, COLUMN["hammarberg"]].min() > 30 and high[:, COLUMN["hammarberg"]].max() < -30
    # 0-500 Hz rises towards a 450 Hz tone; 500-1500 Hz falls away from a 550 Hz one
    assert tilt(tone(450.0))[2:-2, COLUMN["slope_0_500"]].min() > 0
    assert tilt(tone(550.0))[2:-2, COLUMN["slope_500_1500"]].max() < 0


def test_loudness_is_power_to_the_0_3():
    quiet, loud = tilt(tone(500.0, amplitude=0.1)), tilt(tone(500.0, amplitude=0.2))
    ratio = loud[:, COLUMN["loudness"]] / quiet[:, COLUMN["loudness"]]
    np.testing.assert_allclose(ratio, 4.0 ** 0.3, rtol=1e-4)  # twice the amplitude: 4 x power


def test_flux_marks_the_change_only():
    audio = np.concatenate([tone(300.0, 0.4), tone(2000.0, 0.4)])  # frames 0-9, then 10-19
    flux = tilt(audio)[:, COLUMN["flux"]]
    assert flux[0] == 0.0  # nothing before the first frame
    steady = np.r_[flux[1:9], flux[12:]]
    assert steady.max() < 1e-3 and flux[9:12].max() > 0.5


def test_blocks_give_the_same_values(monkeypatch):
    rng = np.random.default_rng(0)
    audio = (tone(220.0, 3.0) + 0.05 * rng.standard_normal(3 * RATE)).astype(np.float32)
    whole = tilt(audio)
    monkeypatch.setattr(features, "SPECTRAL_BLOCK", 7)  # 75 frames in 11 blocks
    np.testing.assert_array_equal(tilt(audio), whole)


def test_silence_and_empty_input_are_finite():
    out, last = spectral_balance(np.zeros((4, 40)))
    assert np.isfinite(out).all() and out[:, COLUMN["flux"]].max() == 0.0 and last.shape == (40,)
    empty, previous = spectral_balance(np.zeros((0, 40)))
    assert empty.shape == (0, 6) and previous is None


@pytest.mark.parametrize("n_mels", [20, 64])
def test_other_band_counts(n_mels):
    power = np.abs(np.random.default_rng(1).standard_normal((5, n_mels))) + 1e-3
    out, _ = spectral_balance(power)
    assert out.shape == (5, 6) and np.isfinite(out).all()
