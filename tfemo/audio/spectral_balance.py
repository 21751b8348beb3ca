"""The `tilt` feature family: loudness and spectral balance per 40 ms record frame.

Six columns, the eGeMAPS loudness and spectral-balance parameters computed by tfemo from the
shared STFT's mel band powers (openSMILE, which defines them, has a licence that bars product
use; these follow its definitions on mel bands instead of FFT bins):
- loudness: the sum of the band powers to the power 0.3 (Zwicker's compression);
- alpha_ratio: the energy from 50 to 1,000 Hz over that from 1 to 5 kHz, in dB;
- hammarberg: the strongest band below 2 kHz minus the strongest from 2 to 5 kHz, in dB;
- slope_0_500, slope_500_1500: the least-squares slope of the band levels (dB) over the band
  centre frequencies (Hz) in 0-500 Hz and in 500-1,500 Hz;
- flux: the squared change of the frame's band powers, each frame's normalised to sum 1, from
  the previous frame's (0 for the first frame).

Spectral tilt separates high- from low-arousal speech in every language (a tense voice has
more energy above 1 kHz), and unlike the 40 mel levels it is six numbers, so the compact
`gemaps` functionals (tfemo/models/functionals.py) can use it without drowning the prosody.
"""

from __future__ import annotations

from functools import lru_cache

import librosa
import numpy as np

from tfemo.audio import SAMPLE_RATE

TILT_COLUMNS = ("loudness", "alpha_ratio", "hammarberg", "slope_0_500", "slope_500_1500",
                "flux")
TILT_DIM = len(TILT_COLUMNS)
LOUDNESS_EXPONENT = 0.3
_FLOOR = 1e-10  # the mel_db family's amin


@lru_cache(maxsize=4)
def _band_centres(n_mels: int) -> np.ndarray:
    """Centre frequencies (Hz) of the mel bands of librosa.filters.mel (slaney, 0 to 8 kHz)."""
    return librosa.mel_frequencies(n_mels + 2, fmin=0.0, fmax=SAMPLE_RATE / 2)[1:-1]


def _bands(n_mels: int, low: float, high: float) -> np.ndarray:
    """The mel bands whose centre lies in [low, high) Hz (at least one)."""
    centres = _band_centres(n_mels)
    inside = (centres >= low) & (centres < high)
    if not inside.any():
        inside[np.argmin(np.abs(centres - (low + high) / 2))] = True
    return inside


def _slope(level_db: np.ndarray, bands: np.ndarray, n_mels: int) -> np.ndarray:
    """Least-squares slope (dB per Hz) of level_db [T, n_mels] over the `bands` centres."""
    frequencies = _band_centres(n_mels)[bands]
    frequencies = frequencies - frequencies.mean()
    levels = level_db[:, bands]
    centred = levels - levels.mean(axis=1, keepdims=True)
    return centred @ frequencies / max(float(frequencies @ frequencies), _FLOOR)


def spectral_balance(mel_power: np.ndarray, previous: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """float32 [T, TILT_DIM] (TILT_COLUMNS) of mel band powers [T, n_mels], and the last frame's
    normalised bands, to pass as `previous` for the next block of the same file (flux)."""
    mel_power = np.asarray(mel_power, np.float64)
    frames, n_mels = mel_power.shape
    if frames == 0:
        return np.zeros((0, TILT_DIM), np.float32), previous
    level_db = 10.0 * np.log10(np.maximum(mel_power, _FLOOR))
    total = mel_power.sum(axis=1)
    low = mel_power[:, _bands(n_mels, 50.0, 1000.0)].sum(axis=1)
    high = mel_power[:, _bands(n_mels, 1000.0, 5000.0)].sum(axis=1)
    shares = mel_power / np.maximum(total, _FLOOR)[:, None]
    before = np.concatenate([shares[:1] if previous is None else previous[None], shares[:-1]])
    out = np.stack([
        total ** LOUDNESS_EXPONENT,
        10.0 * np.log10(np.maximum(low, _FLOOR) / np.maximum(high, _FLOOR)),
        level_db[:, _bands(n_mels, 0.0, 2000.0)].max(axis=1)
        - level_db[:, _bands(n_mels, 2000.0, 5000.0)].max(axis=1),
        _slope(level_db, _bands(n_mels, 0.0, 500.0), n_mels),
        _slope(level_db, _bands(n_mels, 500.0, 1500.0), n_mels),
        np.sum((shares - before) ** 2, axis=1),
    ], axis=1)
    return out.astype(np.float32), shares[-1]


__all__ = ["TILT_COLUMNS", "TILT_DIM", "spectral_balance"]
