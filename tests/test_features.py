"""Per-frame hand-crafted features: known signals, frame alignment, shapes and statistics."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.fft
import scipy.signal

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.audio.features import (
    FEATURE_FAMILIES,
    N_FFT,
    extract_features,
    feature_dims,
    utterance_statistics,
)
from tfemo.audio.features import _mel_basis as mel_basis
from tfemo.audio.io import frame_count

SECOND = np.arange(SAMPLE_RATE) / SAMPLE_RATE
FRAMES_PER_SECOND = SAMPLE_RATE // FRAME_LENGTH


def sine(freq: float = 220.0) -> np.ndarray:
    """One second of a 0.5-amplitude sine, the simplest voiced signal."""
    return (0.5 * np.sin(2 * np.pi * freq * SECOND)).astype(np.float32)


@pytest.fixture(scope="module")
def sine_features() -> dict[str, np.ndarray]:
    """All families of a 220 Hz sine, computed once for the module."""
    return extract_features(sine(), FRAMES_PER_SECOND)


def direct_frame_power(audio: np.ndarray, index: int) -> np.ndarray:
    """Power spectrum of record frame `index` computed by hand (periodic Hann, FFT 1024)."""
    frame = audio[index * FRAME_LENGTH : (index + 1) * FRAME_LENGTH].astype(np.float64)
    window = scipy.signal.get_window("hann", FRAME_LENGTH, fftbins=True)
    return np.abs(np.fft.rfft(frame * window, n=N_FFT)) ** 2


def test_families_have_declared_dims_and_dtype(sine_features: dict[str, np.ndarray]) -> None:
    """Every family is float32 [frames, dim] with dim from feature_dims, in family order."""
    dims = feature_dims()
    assert tuple(sine_features) == FEATURE_FAMILIES
    for name, values in sine_features.items():
        assert values.dtype == np.float32
        assert values.shape == (FRAMES_PER_SECOND, dims[name])
        assert np.all(np.isfinite(values)), name


@pytest.mark.parametrize("length", [300, 640, 1000, 6400, 16_123])
def test_frame_counts_agree_across_families(length: int) -> None:
    """Every family has exactly ceil(len / 640) rows, also for partial and very short clips."""
    audio = np.random.default_rng(length).standard_normal(length).astype(np.float32) * 0.1
    num_frames = frame_count(length)
    features = extract_features(audio, num_frames)
    assert {values.shape[0] for values in features.values()} == {num_frames}


def test_audio_is_padded_or_trimmed_to_num_frames() -> None:
    """num_frames rules: longer audio is trimmed, shorter is zero-padded."""
    audio = sine()
    trimmed = extract_features(audio, 5, ["rms"])["rms"]
    padded = extract_features(audio[:640], 3, ["rms"])["rms"]
    assert trimmed.shape == (5, 1) and padded.shape == (3, 1)
    assert padded[0, 0] > 0.3 and np.all(padded[1:] == 0.0)
    assert extract_features(audio, 0)["mfcc"].shape == (0, 13)


def test_zcr_and_rms_match_direct_computation(sine_features: dict[str, np.ndarray]) -> None:
    """zcr ~ 2 f / sr and rms = sqrt(mean(x^2)) over each frame's own 640 samples."""
    frames = sine().reshape(-1, FRAME_LENGTH).astype(np.float64)
    np.testing.assert_allclose(
        sine_features["rms"][:, 0], np.sqrt((frames**2).mean(axis=1)), rtol=1e-4
    )
    assert np.all(np.abs(sine_features["zcr"][:, 0] - 2 * 220 / SAMPLE_RATE) < 2 / FRAME_LENGTH)
    assert abs(sine_features["zcr"].mean() - 2 * 220 / SAMPLE_RATE) < 1e-3


def test_silence() -> None:
    """Digital silence: rms, zcr, pitch, chroma, contrast and entropy 0 (documented choice)."""
    features = extract_features(np.zeros(2000, dtype=np.float32), 4)
    for name in ("rms", "zcr", "pitch", "chroma", "contrast", "entropy"):
        assert np.all(features[name] == 0.0), name
    np.testing.assert_allclose(features["mel_db"], -100.0, atol=1e-3)


def test_mel_db_mfcc_entropy_match_direct_computation() -> None:
    """Shared-STFT families equal a by-hand FFT of the frame's own samples."""
    audio = np.random.default_rng(1).standard_normal(5 * FRAME_LENGTH).astype(np.float32)
    features = extract_features(audio, 5, ["mfcc", "mel_db", "entropy"])
    for index in (0, 2, 4):
        power = direct_frame_power(audio, index)
        mel_db = 10 * np.log10(np.maximum(mel_basis(N_FFT, 40) @ power, 1e-10))
        np.testing.assert_allclose(features["mel_db"][index], mel_db, atol=1e-3)
        mfcc = scipy.fft.dct(mel_db, type=2, norm="ortho")[:13]
        np.testing.assert_allclose(features["mfcc"][index], mfcc, atol=1e-2)
        prob = power / power.sum()
        entropy = -(prob * np.log2(prob)).sum() / np.log2(len(prob))
        assert features["entropy"][index, 0] == pytest.approx(entropy, abs=1e-5)


def test_entropy_noise_near_one_sine_low(sine_features: dict[str, np.ndarray]) -> None:
    """White noise has a flat spectrum (entropy near 1); a sine's is concentrated (low)."""
    noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32)
    entropy = extract_features(noise, FRAMES_PER_SECOND, ["entropy"])["entropy"]
    assert np.all(entropy > 0.9) and np.all(entropy <= 1.0)
    assert np.all(sine_features["entropy"] < 0.3)


def test_window_is_centred_on_its_frame() -> None:
    """A click in frame 3 shows up in frame 3 only (no half-frame shift between families)."""
    audio = np.zeros(8 * FRAME_LENGTH, dtype=np.float32)
    audio[3 * FRAME_LENGTH + 320] = 1.0
    features = extract_features(audio, 8, ["rms", "mel_db", "mfb_mean", "mfb_cat"])
    assert np.flatnonzero(features["rms"][:, 0]).tolist() == [3]
    assert np.argmax(features["mel_db"].mean(axis=1)) == 3
    assert np.argmax(features["mfb_mean"].mean(axis=1)) == 3
    sub = features["mfb_cat"].reshape(8, 4, 40).mean(axis=2)
    assert np.unravel_index(np.argmax(sub), sub.shape)[0] == 3


def test_chroma_and_contrast_of_a_sine(sine_features: dict[str, np.ndarray]) -> None:
    """220 Hz is A3: chroma peaks on pitch class A; a pure tone has positive contrast."""
    assert np.all(np.argmax(sine_features["chroma"], axis=1) == 9)
    assert np.all(sine_features["contrast"].max(axis=1) > 10.0)


def test_numpy_families_match_librosa() -> None:
    """zcr, chroma, contrast and mfb (numpy for speed) equal librosa on the documented windows."""
    rng = np.random.default_rng(3)
    audio = 0.3 * sine(180.0)[: 8 * FRAME_LENGTH] + 0.05 * rng.standard_normal(8 * FRAME_LENGTH)
    audio = audio.astype(np.float32)
    audio[-FRAME_LENGTH:] *= 1e-9  # a quiet frame: contrast clips 80 dB below the loudest
    audio[100:104] = [1e-11, -1e-11, -0.0, 0.0]  # within the zcr threshold: count as zero
    features = extract_features(audio, 8, ["zcr", "chroma", "contrast", "mfb_cat"])
    frame_kwargs = {"frame_length": FRAME_LENGTH, "hop_length": FRAME_LENGTH, "center": False}
    zcr = librosa.feature.zero_crossing_rate(audio, **frame_kwargs)
    np.testing.assert_array_equal(features["zcr"][:, 0], zcr[0].astype(np.float32))
    padded = np.pad(audio, (N_FFT // 2 - 320, N_FFT // 2 - 320))
    magnitude = np.abs(librosa.stft(padded, n_fft=N_FFT, hop_length=FRAME_LENGTH,
                                    win_length=FRAME_LENGTH, center=False))
    chroma = librosa.feature.chroma_stft(S=magnitude**2, sr=SAMPLE_RATE, n_fft=N_FFT, tuning=0.0)
    np.testing.assert_allclose(features["chroma"], chroma.T, atol=1e-5)
    contrast = librosa.feature.spectral_contrast(S=magnitude, sr=SAMPLE_RATE, n_fft=N_FFT,
                                                 fmin=100.0, n_bands=6)
    np.testing.assert_allclose(features["contrast"], contrast.T, atol=1e-3)
    sub = np.abs(librosa.stft(np.pad(audio, (176, 176)), n_fft=512, hop_length=160,
                              win_length=400, center=False))
    mfb = np.log(np.maximum(mel_basis(512, 40) @ sub**2, 1e-10)).T.reshape(8, 160)
    np.testing.assert_allclose(features["mfb_cat"], mfb, atol=1e-4)


def test_pitch_of_a_sine(sine_features: dict[str, np.ndarray]) -> None:
    """A 220 Hz sine is voiced everywhere with F0 ~ 220 Hz."""
    np.testing.assert_allclose(sine_features["pitch"][:, 0], 220.0, rtol=0.01)
    assert np.all(sine_features["pitch"][:, 1] == 1.0)


def test_chirp_pitch_rises_and_is_sampled_at_frame_centres() -> None:
    """A 150 -> 400 Hz linear chirp: F0 rises monotonically and equals the frame-centre value."""
    audio = (0.5 * scipy.signal.chirp(SECOND, 150.0, 1.0, 400.0)).astype(np.float32)
    pitch = extract_features(audio, FRAMES_PER_SECOND, ["pitch"])["pitch"]
    voiced = pitch[:, 1] == 1.0
    assert voiced[2:-2].all()
    assert np.all(np.diff(pitch[voiced, 0]) > 0.0)
    centres = (np.arange(FRAMES_PER_SECOND) * FRAME_LENGTH + 320) / SAMPLE_RATE
    expected = 150.0 + 250.0 * centres
    np.testing.assert_allclose(pitch[voiced, 0], expected[voiced], rtol=0.01)


def test_pitch_unvoiced_is_zero() -> None:
    """Noise then a tone: F0 is 0 with flag 0 on the noise, voiced on the tone."""
    audio = sine()
    audio[: SAMPLE_RATE // 2] = np.random.default_rng(2).uniform(-0.5, 0.5, SAMPLE_RATE // 2)
    pitch = extract_features(audio, FRAMES_PER_SECOND, ["pitch"])["pitch"]
    assert np.all(pitch[:10] == 0.0)
    assert np.all(pitch[15:, 1] == 1.0)
    assert np.all((pitch[:, 0] > 0) == (pitch[:, 1] == 1.0))


def test_mfb_cat_subframe_mean_is_mfb_mean(sine_features: dict[str, np.ndarray]) -> None:
    """mfb_cat is 4 x 40 sub-frame banks; their mean is mfb_mean."""
    cat = sine_features["mfb_cat"].reshape(FRAMES_PER_SECOND, 4, 40)
    np.testing.assert_allclose(cat.mean(axis=1), sine_features["mfb_mean"], rtol=1e-5, atol=1e-5)


def test_feature_dims_and_unknown_family() -> None:
    """feature_dims follows the options; an unknown name is an error, not a silent skip."""
    assert feature_dims(["mfcc", "mel_db"], n_mfcc=20, n_mels=64) == {"mfcc": 20, "mel_db": 64}
    features = extract_features(sine()[:3200], 5, ["mfcc", "mel_db"], n_mfcc=20, n_mels=64)
    assert features["mfcc"].shape == (5, 20) and features["mel_db"].shape == (5, 64)
    with pytest.raises(ValueError, match="unknown"):
        feature_dims(["mfcc", "loudness"])
    with pytest.raises(ValueError, match="mono"):
        extract_features(np.zeros((2, 640), dtype=np.float32), 1)


def test_utterance_statistics(sine_features: dict[str, np.ndarray]) -> None:
    """Mean then std per family, in family order: 2 * total dims values."""
    stats = utterance_statistics(sine_features)
    assert stats.shape == (2 * sum(feature_dims().values()),)
    assert stats.dtype == np.float32
    assert stats[0] == pytest.approx(sine_features["zcr"].mean(), rel=1e-5)
    assert stats[1] == pytest.approx(sine_features["zcr"].std(), rel=1e-4)
    reordered = {"rms": sine_features["rms"], "zcr": sine_features["zcr"]}
    np.testing.assert_allclose(utterance_statistics(reordered), stats[:4])
    empty = extract_features(np.zeros(0, dtype=np.float32), 0, ["rms", "mfcc"])
    assert np.all(utterance_statistics(empty) == 0.0) and utterance_statistics(empty).size == 28
