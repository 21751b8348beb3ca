"""Hand-crafted per-frame features on the 40 ms record frame grid, for the Conv1D classifier.

Every family returns a float32 array [num_frames, dim] whose row i describes record frame i,
which covers samples [640 i, 640 (i + 1)) at 16 kHz; every analysis window is centred on the
frame centre 640 i + 320.  The audio is first zero-padded (or trimmed) to num_frames * 640
samples, so a final partial frame is analysed with trailing zeros.

Alignment: librosa's `center=True` would centre window t on sample 640 t (a frame *boundary*)
and reflect-pad the edges, so every transform here is librosa's `center=False` on a signal
that is explicitly zero-padded by (n_fft / 2 - 320) samples on each side (the code cuts those
same windows directly); window t then starts at 640 t - (n_fft / 2 - 320) and its centre is
640 t + 320.  Zero padding (not reflection) keeps each frame's features a function of audio
near that frame only.

Families (default dims):
- zcr (1), rms (1): over exactly the frame's own 640 samples, as librosa defines them (zcr:
  the fraction of neighbouring pairs whose sign differs, |x| <= 1e-10 counting as 0, i.e.
  positive; rms: the root mean square).
- mfcc (13), chroma (12), mel_db (40), contrast (7), entropy (1): one shared STFT
  (n_fft 1024, 40 ms Hann window = the frame itself, hop 640).  mel_db is power_to_db with
  ref 1.0, amin 1e-10 and no top_db clipping (so it is not utterance-relative; digital silence
  is -100 dB); mfcc is the DCT of that same 40-band mel_db; chroma uses tuning 0 (no
  per-utterance tuning estimate); contrast uses fmin 100 Hz and 6 bands (200 Hz would exceed
  Nyquist at 16 kHz) and is librosa's spectral_contrast, including its power_to_db top_db 80:
  peaks and valleys are floored 80 dB below the utterance's loudest, so in near-silent frames
  contrast depends on the rest of the utterance.
- entropy: Shannon entropy (bits) of the frame's normalised power spectrum divided by
  log2(n_bins), so it lies in [0, 1]; a frame without energy (digital silence) is defined as 0.
- tilt (6): loudness, alpha ratio, Hammarberg index, spectral slopes 0-500 and 500-1500 Hz
  and spectral flux from the shared STFT's 40 mel band powers (tfemo.audio.spectral_balance).
- pitch (2): [F0 in Hz, voiced flag]; Praat autocorrelation pitch (parselmouth
  Sound.to_pitch, time step 0.04 s, 75-600 Hz) sampled exactly at the frame centres; F0 is 0
  where unvoiced.
- voice (9): Praat jitter, shimmer, HNR, F1-F3 and their bandwidths, 0 on unvoiced frames
  (tfemo.audio.voice_quality).  Opt-in by name: slow (~75 x real time), so not in `all`.
- egemaps (25), compare (65), compare_de (65): openSMILE's eGeMAPSv02 and ComParE_2016
  low-level descriptors (and the ComParE deltas), 10 ms sub-frames averaged 4 to a frame, from
  the optional `tfemo[opensmile]` extra (tfemo.audio.opensmile_features).  Opt-in by name: not
  in FEATURE_FAMILIES, so `all` does not include them.
- mfb_mean (40), mfb_cat (160): RECOLA-style natural-log mel filter banks (25 ms Hann windows,
  10 ms hop, n_fft 512, log floor 1e-10) on 4 sub-frames per frame centred at
  640 i + 80 + 160 j (j = 0..3, symmetric about the frame centre); mfb_mean averages the 4
  sub-frames, mfb_cat concatenates them sub-frame-major ([j * 40 + band]).

Implementation: numpy reproductions of the librosa calls that defined these families, for
speed (librosa's per-call overhead and float64 FFTs cost more than the arithmetic on clips of a
few seconds).  Every STFT is a float32 scipy.fft of Hann-windowed rows (the 640-sample record
frames themselves, or 400-sample sub-frames), the mel products use the mel bank as a sparse
matrix, and the cached filter banks are built once per process.  tests/test_features.py checks
each family against librosa or a direct float64 computation.  Against the librosa version on
all 535 EMO-DB files: zcr, rms and pitch are identical; the float32 FFT moves mel_db by at most
5e-4 dB, mfcc by 5e-4, contrast by 0.02 dB (in the valleys of quiet frames), the mfb log
energies by 3.4e-4, chroma by 6e-7 and entropy by 2e-7.

Cost (benchmarks/features.py: one core, one thread, 100 EMO-DB files, 4.8 min of speech, wall
clock, best of 7): the full set runs at ~560-580 x real time (the librosa version at ~300-350 x;
a naive per-file librosa loop of a similar set plus the same Praat pitch at ~110-130 x).  Praat
pitch is ~65 % of the time (~800-900 x alone: per 40 ms frame two FFTs and, for up to 15
autocorrelation peaks, sinc interpolation and Brent refinement, then the Viterbi path); the
shared-STFT group is ~17 % (the FFT and contrast's per-band sorts are the largest parts), the
filter-bank group ~15 %, zcr and rms ~2 %.  Praat's max_number_of_candidates 8 (its own floor
for 75-600 Hz) would make pitch ~10 % faster but changes 27 of 38,530 EMO-DB frames, so it is
not used.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import librosa
import numpy as np
import parselmouth
import scipy.fft
import scipy.signal
import scipy.sparse

from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.opensmile_features import (
    OPENSMILE_DIMS,
    OPENSMILE_FAMILIES,
    import_opensmile,
    opensmile_features,
)
from tfemo.audio.spectral_balance import TILT_DIM, spectral_balance
from tfemo.audio.voice_quality import VOICE_DIM, voice_quality
from tfemo.core.errors import UserError

FEATURE_FAMILIES: tuple[str, ...] = (
    "zcr",
    "rms",
    "mfcc",
    "chroma",
    "mel_db",
    "contrast",
    "entropy",
    "pitch",
    "tilt",
    "mfb_mean",
    "mfb_cat",
)
# Opt-in by name (not in `--features all`): Praat voice quality (tfemo.audio.voice_quality,
# ~75 x real time, slower than every family above together).
SLOW_FAMILIES: tuple[str, ...] = ("voice",)
# Every family extract_features knows: FEATURE_FAMILIES (`--features all`), the slow ones and
# the opt-in openSMILE families of the `tfemo[opensmile]` extra.
KNOWN_FAMILIES: tuple[str, ...] = FEATURE_FAMILIES + SLOW_FAMILIES + OPENSMILE_FAMILIES

N_FFT = 1024  # shared STFT: 64 ms FFT of the 40 ms frame (zero-padded)
N_MFCC = 13
N_MELS = 40
N_CHROMA = 12
N_MFB = 40  # RECOLA filter banks
MFB_WINDOW = 400  # 25 ms
MFB_HOP = 160  # 10 ms
MFB_N_FFT = 512
SUBFRAMES = FRAME_LENGTH // MFB_HOP  # 4 sub-frames of 10 ms per 40 ms frame
MFB_PAD = MFB_WINDOW // 2 - MFB_HOP // 2  # sub-frame 0's window starts 120 samples early
CONTRAST_BANDS = 6
CONTRAST_FMIN = 100.0
CONTRAST_QUANTILE = 0.02  # librosa's default
SPECTRAL_BLOCK = 1500  # frames (60 s) of the shared STFT computed at a time
CONTRAST_TOP_DB = 80.0  # librosa's power_to_db default inside spectral_contrast
ZCR_THRESHOLD = np.float32(1e-10)  # librosa's default: |x| <= 1e-10 counts as 0
PITCH_FLOOR = 75.0
PITCH_CEILING = 600.0
PITCH_PAD = FRAME_LENGTH + FRAME_LENGTH // 4  # 1.25 frames of zeros per side (see _pitch)
MEL_AMIN = 1e-10
MFB_LOG_FLOOR = 1e-10
_TINY = np.finfo(np.float32).tiny

_SPECTRAL = {"mfcc", "chroma", "mel_db", "contrast", "entropy", "tilt"}


def feature_dims(
    families: Iterable[str] = FEATURE_FAMILIES, n_mfcc: int = N_MFCC, n_mels: int = N_MELS
) -> dict[str, int]:
    """Width of each requested family, so models can be built before any audio is read
    (the openSMILE widths are the documented LLD counts: no opensmile needed here)."""
    dims = {
        "zcr": 1,
        "rms": 1,
        "mfcc": n_mfcc,
        "chroma": N_CHROMA,
        "mel_db": n_mels,
        "contrast": CONTRAST_BANDS + 1,
        "entropy": 1,
        "pitch": 2,
        "tilt": TILT_DIM,
        "mfb_mean": N_MFB,
        "mfb_cat": N_MFB * SUBFRAMES,
        "voice": VOICE_DIM,
        **OPENSMILE_DIMS,
    }
    families = tuple(families)
    unknown = [name for name in families if name not in dims]
    if unknown:
        raise ValueError(f"unknown feature families {unknown}; known: {list(KNOWN_FAMILIES)}")
    return {name: dims[name] for name in families}


def parse_families(text: str, *, allow_empty: bool = True) -> tuple[str, ...]:
    """Feature families from a `--features` comma list ('all' = FEATURE_FAMILIES, without the
    opt-in openSMILE ones), checked: an unknown or repeated name (or, unless allowed, none at
    all), or an openSMILE family without the extra installed, is a one-line user error."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("all",):
        return FEATURE_FAMILIES
    if not names and not allow_empty:
        raise UserError("--features is empty",
                        f"name families from {', '.join(KNOWN_FAMILIES)} or 'all'")
    try:
        feature_dims(names)
    except ValueError as error:
        raise UserError(f"--features: {error}", "use the names listed") from None
    if len(set(names)) != len(names):
        raise UserError(f"--features names a family twice: {text}", "name each once")
    if set(names) & set(OPENSMILE_FAMILIES):
        import_opensmile()  # fail before any work, not at the first item
    return names


def _frozen(array: np.ndarray) -> np.ndarray:
    """Contiguous read-only copy, so a cached table cannot be changed by a caller."""
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@lru_cache(maxsize=8)
def _hann(length: int) -> np.ndarray:
    """Periodic Hann window (librosa's default STFT window) as float32."""
    return _frozen(scipy.signal.get_window("hann", length, fftbins=True).astype(np.float32))


@lru_cache(maxsize=8)
def _mel_basis(n_fft: int, n_mels: int) -> np.ndarray:
    """Cached librosa mel filter bank [n_mels, bins] (building it costs more than applying it)."""
    return _frozen(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels))


@lru_cache(maxsize=8)
def _mel_sparse(n_fft: int, n_mels: int) -> scipy.sparse.csr_matrix:
    """The mel filter bank as a sparse matrix: each bin feeds at most 2 bands (~3x faster)."""
    return scipy.sparse.csr_matrix(_mel_basis(n_fft, n_mels))


def _mel_power(power: np.ndarray, n_fft: int, n_mels: int) -> np.ndarray:
    """Mel band powers [T, n_mels] of a time-major power spectrogram [T, bins]."""
    return (_mel_sparse(n_fft, n_mels) @ power.T).T


@lru_cache(maxsize=8)
def _dct_t(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II as a matrix [n_mels, n_mfcc] (librosa.feature.mfcc's transform)."""
    dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]
    return _frozen(dct.T.astype(np.float32))


@lru_cache(maxsize=1)
def _chroma_basis_t() -> np.ndarray:
    """librosa's chroma filter bank for the shared STFT (tuning 0), transposed [bins, 12]."""
    basis = librosa.filters.chroma(sr=SAMPLE_RATE, n_fft=N_FFT, tuning=0.0, n_chroma=N_CHROMA)
    return _frozen(basis.T)


@lru_cache(maxsize=1)
def _contrast_bands() -> tuple[tuple[int, int, int], ...]:
    """(first bin, end bin, quantile count) per band, exactly as librosa's spectral_contrast.

    librosa adds the bin below each band (k > 0), extends the last band to Nyquist, drops
    each band's top bin except in the last band, and sizes the quantile before that drop.
    """
    freq = librosa.fft_frequencies(sr=SAMPLE_RATE, n_fft=N_FFT)
    edges = np.zeros(CONTRAST_BANDS + 2)
    edges[1:] = CONTRAST_FMIN * 2.0 ** np.arange(CONTRAST_BANDS + 1)
    bands = []
    for k, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        in_band = (freq >= low) & (freq <= high)
        first, last = np.flatnonzero(in_band)[[0, -1]]
        if k > 0:
            in_band[first - 1] = True
        if k == CONTRAST_BANDS:
            in_band[last + 1 :] = True
        count = max(int(np.rint(CONTRAST_QUANTILE * in_band.sum())), 1)
        rows = np.flatnonzero(in_band)
        if k < CONTRAST_BANDS:
            rows = rows[:-1]
        bands.append((int(rows[0]), int(rows[-1]) + 1, count))
    return tuple(bands)


def _power_spectrum(frames: np.ndarray, n_fft: int) -> np.ndarray:
    """|FFT|^2 of Hann-windowed frames [T, window] zero-padded to n_fft: float32 [T, bins]."""
    windowed = np.zeros((frames.shape[0], n_fft), dtype=np.float32)
    np.multiply(frames, _hann(frames.shape[1]), out=windowed[:, : frames.shape[1]])
    spectrum = scipy.fft.rfft(windowed, axis=1, overwrite_x=True)
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    return power


def _chroma(power: np.ndarray) -> np.ndarray:
    """Chroma [T, 12] scaled so each frame's maximum is 1 (librosa's norm=inf); silence is 0."""
    raw = power @ _chroma_basis_t()
    peak = np.abs(raw).max(axis=1, keepdims=True).astype(np.float64)
    peak[peak < _TINY] = 1.0
    return (raw / peak).astype(np.float32)


def _band_db(values: np.ndarray) -> np.ndarray:
    """librosa.power_to_db defaults (ref 1, amin 1e-10, top_db 80 below the array's maximum)."""
    db = 10.0 * np.log10(np.maximum(values, MEL_AMIN))
    return np.maximum(db, db.max() - CONTRAST_TOP_DB)


def _spectral_contrast(magnitude: np.ndarray) -> np.ndarray:
    """librosa's spectral contrast [T, bands + 1] (dB peak - valley per octave band)."""
    return _contrast_db(*_peaks_valleys(magnitude))


def _contrast_db(peaks: np.ndarray, valleys: np.ndarray) -> np.ndarray:
    """Contrast [T, bands + 1] of the band peaks and valleys of a whole utterance (the 80 dB
    floor is relative to its loudest)."""
    return (_band_db(peaks) - _band_db(valleys)).astype(np.float32)


def _peaks_valleys(magnitude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per frame and octave band, the mean of the highest and of the lowest magnitudes."""
    peaks = np.empty((magnitude.shape[0], CONTRAST_BANDS + 1))
    valleys = np.empty_like(peaks)
    for k, (first, end, count) in enumerate(_contrast_bands()):
        band = magnitude[:, first:end]
        if count == 1:
            valleys[:, k] = band.min(axis=1)
            peaks[:, k] = band.max(axis=1)
        else:  # a full sort is faster than np.partition with two kth at these sizes
            ordered = np.sort(band, axis=1)
            valleys[:, k] = ordered[:, :count].mean(axis=1)
            peaks[:, k] = ordered[:, -count:].mean(axis=1)
    return peaks, valleys


def _spectral_entropy(power: np.ndarray) -> np.ndarray:
    """Normalised spectral entropy [T, 1] of a power spectrogram [T, bins]; 0 for silence."""
    total = power.sum(axis=1, keepdims=True)
    has_energy = total > 0.0
    prob = power / np.where(has_energy, total, 1.0).astype(np.float32)
    terms = prob * np.log2(np.maximum(prob, _TINY))
    entropy = terms.sum(axis=1, keepdims=True) * np.float32(-1.0 / np.log2(power.shape[1]))
    return np.clip(np.where(has_energy, entropy, 0.0), 0.0, 1.0).astype(np.float32)


def _spectral_families(
    frames: np.ndarray, wanted: set[str], n_mfcc: int, n_mels: int
) -> dict[str, np.ndarray]:
    """mfcc, chroma, mel_db, contrast, entropy, tilt from one shared STFT of the record frames,
    `SPECTRAL_BLOCK` frames at a time: every value is a frame's own, but for contrast's floor
    (relative to the whole utterance's loudest, applied once at the end), so a long file's
    spectrogram is never held whole (10 minutes: ~200 MB at once, ~65 MB in blocks)."""
    parts: dict[str, list[Any]] = {}
    previous = None  # the last frame's normalised mel bands (tilt's flux across blocks)
    for start in range(0, len(frames), SPECTRAL_BLOCK):
        power = _power_spectrum(frames[start:start + SPECTRAL_BLOCK], N_FFT)  # window t = frame t
        block: dict[str, Any] = {}
        if {"mfcc", "mel_db", "tilt"} & wanted:
            mel_power = _mel_power(power, N_FFT, n_mels)
        if "tilt" in wanted:
            block["tilt"], previous = spectral_balance(mel_power, previous)
        if {"mfcc", "mel_db"} & wanted:
            mel_db = 10.0 * np.log10(np.maximum(mel_power, MEL_AMIN))
            if "mfcc" in wanted:
                block["mfcc"] = mel_db @ _dct_t(n_mels, n_mfcc)
            block["mel_db"] = mel_db
        if "chroma" in wanted:
            block["chroma"] = _chroma(power)
        if "contrast" in wanted:
            block["contrast"] = _peaks_valleys(np.sqrt(power))
        if "entropy" in wanted:
            block["entropy"] = _spectral_entropy(power)
        for name, value in block.items():
            parts.setdefault(name, []).append(value)
    out = {name: np.concatenate(values) for name, values in parts.items() if name != "contrast"}
    if "contrast" in parts:
        out["contrast"] = _contrast_db(*(np.concatenate(values)
                                         for values in zip(*parts["contrast"], strict=True)))
    return out


def _pitch(frame_audio: np.ndarray, num_frames: int) -> np.ndarray:
    """[F0 Hz, voiced] per frame from Praat, with its analysis frames placed on our frame centres.

    Praat centres its frame grid on the signal's midpoint.  Padding 2.5 frames of zeros
    (1.25 per side) makes it return num_frames + 2 frames spaced 40 ms and symmetric about
    the same midpoint as our grid, i.e. exactly our centres plus one extra frame per side.
    """
    padded = np.zeros(len(frame_audio) + 2 * PITCH_PAD)
    padded[PITCH_PAD : PITCH_PAD + len(frame_audio)] = frame_audio
    sound = parselmouth.Sound(padded, sampling_frequency=SAMPLE_RATE)
    pitch = sound.to_pitch(
        time_step=FRAME_SECONDS, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING
    )
    f0 = pitch.selected_array["frequency"]
    times = pitch.xs() - PITCH_PAD / SAMPLE_RATE  # back to the unpadded timeline
    position = (times - FRAME_SECONDS / 2) / FRAME_SECONDS
    index = np.rint(position).astype(int)
    if not np.allclose(position, index, atol=1e-3):
        raise RuntimeError("Praat pitch frames are not on the 40 ms frame centres")
    keep = (index >= 0) & (index < num_frames)
    out = np.zeros((num_frames, 2), dtype=np.float32)
    out[index[keep], 0] = f0[keep]
    out[:, 1] = out[:, 0] > 0.0
    return out


def _mfb(frame_audio: np.ndarray, num_frames: int) -> np.ndarray:
    """RECOLA log mel filter banks on 4 x 10 ms sub-frames per frame: [num_frames, 4, 40]."""
    padded = np.zeros(len(frame_audio) + 2 * MFB_PAD, dtype=np.float32)
    padded[MFB_PAD : MFB_PAD + len(frame_audio)] = frame_audio
    # sub-frame s = 4 i + j covers samples [160 s - 120, 160 s + 280): centre 640 i + 160 j + 80
    frames = np.lib.stride_tricks.sliding_window_view(padded, MFB_WINDOW)[::MFB_HOP]
    mel = _mel_power(_power_spectrum(frames, MFB_N_FFT), MFB_N_FFT, N_MFB)
    return np.log(np.maximum(mel, MFB_LOG_FLOOR)).reshape(num_frames, SUBFRAMES, N_MFB)


def extract_features(
    audio: np.ndarray,
    num_frames: int,
    families: Iterable[str] = FEATURE_FAMILIES,
    n_mfcc: int = N_MFCC,
    n_mels: int = N_MELS,
) -> dict[str, np.ndarray]:
    """Per-frame features {family: float32 [num_frames, dim]} in `families` order (see module doc).

    `audio` is mono 16 kHz; it is zero-padded or trimmed to num_frames * 640 samples.
    """
    dims = feature_dims(families, n_mfcc=n_mfcc, n_mels=n_mels)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio of shape [samples], got {audio.shape}")
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    if num_frames == 0:
        return {name: np.zeros((0, dim), dtype=np.float32) for name, dim in dims.items()}
    length = num_frames * FRAME_LENGTH
    frame_audio = np.zeros(length, dtype=np.float32)
    frame_audio[: min(length, len(audio))] = audio[:length]
    frames = frame_audio.reshape(num_frames, FRAME_LENGTH)  # row i = record frame i

    out: dict[str, np.ndarray] = {}
    if "zcr" in dims:
        negative = frames < -ZCR_THRESHOLD
        crossings = np.count_nonzero(negative[:, 1:] != negative[:, :-1], axis=1)
        out["zcr"] = (crossings / FRAME_LENGTH).astype(np.float32)[:, np.newaxis]
    if "rms" in dims:
        out["rms"] = np.sqrt(np.mean(np.square(frames), axis=1, keepdims=True))
    if _SPECTRAL & dims.keys():
        out.update(_spectral_families(frames, _SPECTRAL & dims.keys(), n_mfcc, n_mels))
    if "pitch" in dims:
        out["pitch"] = _pitch(frame_audio, num_frames)
    if {"mfb_mean", "mfb_cat"} & dims.keys():
        mfb = _mfb(frame_audio, num_frames)
        if "mfb_mean" in dims:
            out["mfb_mean"] = mfb.mean(axis=1)
        if "mfb_cat" in dims:
            out["mfb_cat"] = mfb.reshape(num_frames, -1)
    if "voice" in dims:
        out["voice"] = voice_quality(frame_audio, num_frames)
    smile = [name for name in dims if name in OPENSMILE_DIMS]
    if smile:
        out.update(opensmile_features(frame_audio, num_frames, smile))
    return {name: np.ascontiguousarray(out[name], dtype=np.float32) for name in dims}


def utterance_statistics(features: dict[str, np.ndarray]) -> np.ndarray:
    """Utterance vector [mean_f, std_f for each family in KNOWN_FAMILIES order] for a baseline.

    Families absent from `features` are skipped; an utterance with no frames gives zeros.
    """
    unknown = [name for name in features if name not in KNOWN_FAMILIES]
    if unknown:
        raise ValueError(f"unknown feature families {unknown}; known: {list(KNOWN_FAMILIES)}")
    parts: list[np.ndarray] = []
    for name in KNOWN_FAMILIES:
        if name not in features:
            continue
        values = np.asarray(features[name], dtype=np.float64)
        if values.ndim != 2:
            raise ValueError(f"feature {name!r} must be [frames, dim], got {values.shape}")
        if values.shape[0] == 0:
            parts.extend([np.zeros(values.shape[1]), np.zeros(values.shape[1])])
        else:
            parts.extend([values.mean(axis=0), values.std(axis=0)])
    if not parts:
        return np.zeros(0, dtype=np.float32)
    return np.concatenate(parts).astype(np.float32)
