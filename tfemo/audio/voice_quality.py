"""The `voice` feature family: Praat voice-quality descriptors on the 40 ms record frames.

Nine columns per frame, the eGeMAPS parameter groups of voice quality and formants computed
with Praat (parselmouth) instead of openSMILE, whose licence bars product use:
- jitter: local jitter, the mean |T_i - T_{i+1}| of consecutive glottal periods divided by
  their mean period;
- shimmer: local shimmer, the mean |A_i - A_{i+1}| of consecutive glottal pulses' peak
  amplitudes divided by their mean amplitude;
- hnr: harmonics-to-noise ratio in dB (Praat's cross-correlation harmonicity, 4.5 periods of
  75 Hz per window);
- f1, f2, f3 and b1, b2, b3: the first three formants and their bandwidths in Hz (Praat's
  Burg method: 5 formants up to 5,500 Hz, 25 ms effective window, pre-emphasis from 50 Hz).

Jitter and shimmer are taken over the glottal pulses (Praat's "To PointProcess (cc)" from
the same pitch track as the `pitch` family: 75-600 Hz, 40 ms step) of the consecutive period
pairs whose midpoint lies within VOICE_WINDOW (120 ms, three frames) centred on the frame, with
Praat's own period limits (0.1 to 20 ms, consecutive periods within a factor 1.3, amplitudes
within 1.6); fewer than two pairs gives 0. Every column is 0 on an unvoiced frame (no F0 in
the pitch track), where neither voice quality nor formants are defined, so the functionals
over voiced frames (tfemo/models/functionals.py) see voiced speech only.

Each Praat analysis runs on the audio zero-padded by 1.25 frames per side, like `pitch`, and
its frames are linearly interpolated at our frame centres 640 i + 320 (exact when Praat's
grid falls on them, as it does for formants and harmonicity at these settings).
Cost: about 75 x real time on one core (CPU time, 30 EMO-DB files; the 8 families of the
classify benchmark together run at about 590 x in the same measurement), so the
family is opt-in by name and not part of `--features all`.
"""

from __future__ import annotations

import numpy as np
import parselmouth

from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE

VOICE_COLUMNS = ("jitter", "shimmer", "hnr", "f1", "f2", "f3", "b1", "b2", "b3")
VOICE_DIM = len(VOICE_COLUMNS)
VOICE_WINDOW = 3 * FRAME_SECONDS  # seconds of pulses per frame for jitter and shimmer
PITCH_FLOOR, PITCH_CEILING = 75.0, 600.0  # the `pitch` family's range
PERIOD_FLOOR, PERIOD_CEILING = 1e-4, 0.02  # Praat's jitter/shimmer defaults
PERIOD_FACTOR, AMPLITUDE_FACTOR = 1.3, 1.6
MAX_FORMANTS, MAX_FORMANT_HZ, FORMANT_WINDOW = 5.0, 5500.0, 0.025
PAD = FRAME_LENGTH + FRAME_LENGTH // 4  # 1.25 frames of zeros per side
_UNDEFINED_HNR = -100.0  # Praat writes -200 dB where there is no periodicity


def _on_frames(times: np.ndarray, values: np.ndarray, num_frames: int) -> np.ndarray:
    """values [n, D] at Praat frame `times` (padded timeline) interpolated at our frame centres."""
    centres = (np.arange(num_frames) + 0.5) * FRAME_SECONDS + PAD / SAMPLE_RATE
    values = np.nan_to_num(np.asarray(values, np.float64))
    if len(times) == 0:
        return np.zeros((num_frames, values.shape[1]))
    return np.stack([np.interp(centres, times, column) for column in values.T], axis=1)


def _formants(sound: parselmouth.Sound, num_frames: int) -> np.ndarray:
    """[num_frames, 6]: F1-F3 and B1-B3 in Hz (0 where Praat finds no such formant)."""
    formant = sound.to_formant_burg(time_step=FRAME_SECONDS, max_number_of_formants=MAX_FORMANTS,
                                    maximum_formant=MAX_FORMANT_HZ, window_length=FORMANT_WINDOW,
                                    pre_emphasis_from=50.0)
    times = formant.xs()
    rows = [[formant.get_value_at_time(k, t) for k in (1, 2, 3)]
            + [formant.get_bandwidth_at_time(k, t) for k in (1, 2, 3)] for t in times]
    return _on_frames(times, np.array(rows).reshape(len(times), 6), num_frames)


def _hnr(sound: parselmouth.Sound, num_frames: int) -> np.ndarray:
    """[num_frames, 1] harmonics-to-noise ratio in dB (0 where undefined)."""
    harmonicity = sound.to_harmonicity_cc(time_step=FRAME_SECONDS, minimum_pitch=PITCH_FLOOR)
    values = harmonicity.values[0]
    values = np.where(values < _UNDEFINED_HNR, 0.0, values)
    return _on_frames(harmonicity.xs(), values[:, None], num_frames)


def _pair_measures(audio: np.ndarray, pulses: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per pair of consecutive periods: midpoint time, |dT|, mean T, |dA|, mean A and whether
    the pair passes Praat's period and amplitude limits. A pulse's amplitude is the peak |x|
    between the midpoints to its neighbouring pulses (wherever in the cycle Praat marks it)."""
    periods = np.diff(pulses)
    bounds = np.rint(np.r_[pulses[0], (pulses[1:] + pulses[:-1]) / 2, pulses[-1]]
                     * SAMPLE_RATE).astype(int)
    bounds = np.clip(bounds, 0, len(audio))
    peaks = np.array([np.abs(audio[a:max(b, a + 1)]).max() if a < len(audio) else 0.0
                      for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    t0, t1 = periods[:-1], periods[1:]
    a0, a1 = peaks[1:-1], peaks[2:]  # the pulses that end period 0 and period 1 of the pair
    in_range = ((t0 >= PERIOD_FLOOR) & (t0 <= PERIOD_CEILING)
                & (t1 >= PERIOD_FLOOR) & (t1 <= PERIOD_CEILING))
    ratio = np.maximum(t0, t1) / np.maximum(np.minimum(t0, t1), 1e-12)
    amplitude_ratio = np.maximum(a0, a1) / np.maximum(np.minimum(a0, a1), 1e-12)
    valid = in_range & (ratio <= PERIOD_FACTOR) & (amplitude_ratio <= AMPLITUDE_FACTOR)
    return (pulses[1:-1], np.abs(t0 - t1), (t0 + t1) / 2, np.abs(a0 - a1), (a0 + a1) / 2,
            valid)


def _jitter_shimmer(sound: parselmouth.Sound, pitch: parselmouth.Pitch, audio: np.ndarray,
                    num_frames: int) -> np.ndarray:
    """[num_frames, 2]: local jitter and shimmer over the period pairs near each frame."""
    out = np.zeros((num_frames, 2))
    pulses = parselmouth.praat.call([sound, pitch], "To PointProcess (cc)")
    if parselmouth.praat.call(pulses, "Get number of points") < 4:
        return out
    times = np.asarray(parselmouth.praat.call(pulses, "To Matrix").values[0], np.float64)
    middle, d_period, period, d_amplitude, amplitude, valid = _pair_measures(audio, times)
    middle = middle[valid]
    sums = [np.concatenate([[0.0], np.cumsum(v[valid])])
            for v in (d_period, period, d_amplitude, amplitude)]
    centres = (np.arange(num_frames) + 0.5) * FRAME_SECONDS + PAD / SAMPLE_RATE
    low = np.searchsorted(middle, centres - VOICE_WINDOW / 2)
    high = np.searchsorted(middle, centres + VOICE_WINDOW / 2)
    enough = high - low >= 2
    d_t, t, d_a, a = (s[high] - s[low] for s in sums)
    out[:, 0] = np.where(enough, d_t / np.maximum(t, 1e-12), 0.0)
    out[:, 1] = np.where(enough, d_a / np.maximum(a, 1e-12), 0.0)
    return out


def voice_quality(frame_audio: np.ndarray, num_frames: int) -> np.ndarray:
    """float32 [num_frames, VOICE_DIM] (VOICE_COLUMNS) of audio already cut to num_frames * 640
    samples at 16 kHz; 0 on unvoiced frames (see the module docstring)."""
    if num_frames == 0:
        return np.zeros((0, VOICE_DIM), np.float32)
    padded = np.zeros(len(frame_audio) + 2 * PAD)
    padded[PAD:PAD + len(frame_audio)] = frame_audio
    sound = parselmouth.Sound(padded, sampling_frequency=SAMPLE_RATE)
    pitch = sound.to_pitch(time_step=FRAME_SECONDS, pitch_floor=PITCH_FLOOR,
                           pitch_ceiling=PITCH_CEILING)
    f0 = _on_frames(pitch.xs(), pitch.selected_array["frequency"][:, None], num_frames)[:, 0]
    out = np.concatenate([_jitter_shimmer(sound, pitch, padded, num_frames),
                          _hnr(sound, num_frames), _formants(sound, num_frames)], axis=1)
    out[f0 <= 0] = 0.0
    return out.astype(np.float32)


__all__ = ["VOICE_COLUMNS", "VOICE_DIM", "voice_quality"]
