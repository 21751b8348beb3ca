"""Hand-crafted per-frame features on the 40 ms record frame grid, for the Conv1D classifier.

Every family returns a float32 array [num_frames, dim] whose row i describes record frame i,
which covers samples [640 i, 640 (i + 1)) at 16 kHz; every analysis window is centred on the
frame centre 640 i + 320.  The audio is first zero-padded (or trimmed) to num_frames * 640
samples, so a final partial frame is analysed with trailing zeros.

Alignment: librosa's `center=True` would centre window t on sample 640 t (a frame *boundary*)
and reflect-pad the edges, so every transform here uses `center=False` on a signal that is
explicitly zero-padded by (n_fft / 2 - 320) samples on each side; window t then starts at
640 t - (n_fft / 2 - 320) and its centre is 640 t + 320.  Zero padding (not reflection) keeps
each frame's features a function of audio near that frame only.

Families (default dims):
- zcr (1), rms (1): librosa over exactly the frame's own 640 samples.
- mfcc (13), chroma (12), mel_db (40), contrast (7), entropy (1): one shared STFT
  (n_fft 1024, 40 ms Hann window = the frame itself, hop 640).  mel_db is power_to_db with
  ref 1.0, amin 1e-10 and no top_db clipping (so it is not utterance-relative; digital silence
  is -100 dB); mfcc is the DCT of that same 40-band mel_db; chroma uses tuning 0 (no
  per-utterance tuning estimate); contrast uses fmin 100 Hz and 6 bands (200 Hz would exceed
  Nyquist at 16 kHz).
- entropy: Shannon entropy (bits) of the frame's normalised power spectrum divided by
  log2(n_bins), so it lies in [0, 1]; a frame without energy (digital silence) is defined as 0.
- pitch (2): [F0 in Hz, voiced flag]; Praat autocorrelation pitch (parselmouth
  Sound.to_pitch, time step 0.04 s, 75-600 Hz) sampled exactly at the frame centres; F0 is 0
  where unvoiced.
- mfb_mean (40), mfb_cat (160): RECOLA-style natural-log mel filter banks (25 ms Hann windows,
  10 ms hop, n_fft 512, log floor 1e-10) on 4 sub-frames per frame centred at
  640 i + 80 + 160 j (j = 0..3, symmetric about the frame centre); mfb_mean averages the 4
  sub-frames, mfb_cat concatenates them sub-frame-major ([j * 40 + band]).

Cost (one core, 30 s of audio, all families ~0.1 s, ~300x real time): Praat pitch is about
half; the shared STFT (computed once for all five spectral families) and the 10 ms filter-bank
STFT (once for both mfb families) take most of the rest; the float64 entropy log is next.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import librosa
import numpy as np
import parselmouth

from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE

FEATURE_FAMILIES: tuple[str, ...] = (
    "zcr",
    "rms",
    "mfcc",
    "chroma",
    "mel_db",
    "contrast",
    "entropy",
    "pitch",
    "mfb_mean",
    "mfb_cat",
)

N_FFT = 1024  # shared STFT: 64 ms FFT of the 40 ms frame (zero-padded inside librosa)
N_MFCC = 13
N_MELS = 40
N_MFB = 40  # RECOLA filter banks
MFB_WINDOW = 400  # 25 ms
MFB_HOP = 160  # 10 ms
MFB_N_FFT = 512
SUBFRAMES = FRAME_LENGTH // MFB_HOP  # 4 sub-frames of 10 ms per 40 ms frame
CONTRAST_BANDS = 6
CONTRAST_FMIN = 100.0
PITCH_FLOOR = 75.0
PITCH_CEILING = 600.0
MEL_AMIN = 1e-10
MFB_LOG_FLOOR = 1e-10

_SPECTRAL = {"mfcc", "chroma", "mel_db", "contrast", "entropy"}


def feature_dims(
    families: Iterable[str] = FEATURE_FAMILIES, n_mfcc: int = N_MFCC, n_mels: int = N_MELS
) -> dict[str, int]:
    """Width of each requested family, so models can be built before any audio is read."""
    dims = {
        "zcr": 1,
        "rms": 1,
        "mfcc": n_mfcc,
        "chroma": 12,
        "mel_db": n_mels,
        "contrast": CONTRAST_BANDS + 1,
        "entropy": 1,
        "pitch": 2,
        "mfb_mean": N_MFB,
        "mfb_cat": N_MFB * SUBFRAMES,
    }
    families = tuple(families)
    unknown = [name for name in families if name not in dims]
    if unknown:
        raise ValueError(f"unknown feature families {unknown}; known: {list(FEATURE_FAMILIES)}")
    return {name: dims[name] for name in families}


def _fit_frames(matrix: np.ndarray, num_frames: int) -> np.ndarray:
    """Return [num_frames, dim] float32 from [dim, T]: trim extra frames, zero-pad missing ones."""
    rows = np.asarray(matrix, dtype=np.float32).T[:num_frames]
    if rows.shape[0] < num_frames:
        rows = np.pad(rows, ((0, num_frames - rows.shape[0]), (0, 0)))
    return np.ascontiguousarray(rows)


def _centred_pad(frame_audio: np.ndarray, n_fft: int, centre: int) -> np.ndarray:
    """Zero-pad both sides by n_fft/2 - centre so centre=False window t centres on hop*t+centre."""
    pad = n_fft // 2 - centre
    return np.pad(frame_audio, (pad, pad))


@lru_cache(maxsize=8)
def _mel_basis(n_fft: int, n_mels: int) -> np.ndarray:
    """Cached mel filter bank (building it costs more than applying it for short clips)."""
    return librosa.filters.mel(sr=SAMPLE_RATE, n_fft=n_fft, n_mels=n_mels)


def _spectral_entropy(power: np.ndarray) -> np.ndarray:
    """Normalised spectral entropy per column of a power spectrogram [bins, T]; 0 for silence."""
    power = power.astype(np.float64)
    total = power.sum(axis=0)
    voiced = total > 0.0
    prob = np.divide(power, total, out=np.zeros_like(power), where=voiced)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(prob > 0.0, -prob * np.log2(prob), 0.0)
    entropy = terms.sum(axis=0) / np.log2(power.shape[0])
    return np.clip(np.where(voiced, entropy, 0.0), 0.0, 1.0)[np.newaxis, :]


def _pitch(frame_audio: np.ndarray, num_frames: int) -> np.ndarray:
    """[F0 Hz, voiced] per frame from Praat, with its analysis frames placed on our frame centres.

    Praat centres its frame grid on the signal's midpoint.  Padding 2.5 frames of zeros
    (1.25 per side) makes it return num_frames + 2 frames spaced 40 ms and symmetric about
    the same midpoint as our grid, i.e. exactly our centres plus one extra frame per side.
    """
    pad = FRAME_LENGTH + FRAME_LENGTH // 4
    padded = np.pad(frame_audio.astype(np.float64), (pad, pad))
    sound = parselmouth.Sound(padded, sampling_frequency=SAMPLE_RATE)
    pitch = sound.to_pitch(
        time_step=FRAME_SECONDS, pitch_floor=PITCH_FLOOR, pitch_ceiling=PITCH_CEILING
    )
    f0 = pitch.selected_array["frequency"]
    times = pitch.xs() - pad / SAMPLE_RATE  # back to the unpadded timeline
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
    sub_centre = MFB_HOP // 2  # sub-frame j of frame i is centred on 640 i + 160 j + 80
    padded = _centred_pad(frame_audio, MFB_N_FFT, sub_centre)
    spec = librosa.stft(
        padded, n_fft=MFB_N_FFT, hop_length=MFB_HOP, win_length=MFB_WINDOW, center=False
    )
    mel = _mel_basis(MFB_N_FFT, N_MFB) @ (np.abs(spec) ** 2)
    logmel = _fit_frames(np.log(np.maximum(mel, MFB_LOG_FLOOR)), num_frames * SUBFRAMES)
    return logmel.reshape(num_frames, SUBFRAMES, N_MFB)


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

    out: dict[str, np.ndarray] = {}
    frame_kwargs = {"frame_length": FRAME_LENGTH, "hop_length": FRAME_LENGTH, "center": False}
    if "zcr" in dims:
        zcr = librosa.feature.zero_crossing_rate(frame_audio, **frame_kwargs)
        out["zcr"] = _fit_frames(zcr, num_frames)
    if "rms" in dims:
        out["rms"] = _fit_frames(librosa.feature.rms(y=frame_audio, **frame_kwargs), num_frames)

    if _SPECTRAL & dims.keys():
        # The one shared STFT: window t is exactly frame t (40 ms Hann), FFT size 1024.
        padded = _centred_pad(frame_audio, N_FFT, FRAME_LENGTH // 2)
        spec = librosa.stft(
            padded, n_fft=N_FFT, hop_length=FRAME_LENGTH, win_length=FRAME_LENGTH, center=False
        )
        magnitude = np.abs(spec)
        power = magnitude**2
        if {"mfcc", "mel_db"} & dims.keys():
            mel_db = librosa.power_to_db(
                _mel_basis(N_FFT, n_mels) @ power, ref=1.0, amin=MEL_AMIN, top_db=None
            )
            if "mfcc" in dims:
                mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=n_mfcc)
                out["mfcc"] = _fit_frames(mfcc, num_frames)
            if "mel_db" in dims:
                out["mel_db"] = _fit_frames(mel_db, num_frames)
        if "chroma" in dims:
            chroma = librosa.feature.chroma_stft(S=power, sr=SAMPLE_RATE, n_fft=N_FFT, tuning=0.0)
            out["chroma"] = _fit_frames(chroma, num_frames)
        if "contrast" in dims:
            contrast = librosa.feature.spectral_contrast(
                S=magnitude,
                sr=SAMPLE_RATE,
                n_fft=N_FFT,
                fmin=CONTRAST_FMIN,
                n_bands=CONTRAST_BANDS,
            )
            out["contrast"] = _fit_frames(contrast, num_frames)
        if "entropy" in dims:
            out["entropy"] = _fit_frames(_spectral_entropy(power), num_frames)

    if "pitch" in dims:
        out["pitch"] = _pitch(frame_audio, num_frames)
    if {"mfb_mean", "mfb_cat"} & dims.keys():
        mfb = _mfb(frame_audio, num_frames)
        if "mfb_mean" in dims:
            out["mfb_mean"] = np.ascontiguousarray(mfb.mean(axis=1), dtype=np.float32)
        if "mfb_cat" in dims:
            out["mfb_cat"] = np.ascontiguousarray(mfb.reshape(num_frames, -1))
    return {name: out[name] for name in dims}


def utterance_statistics(features: dict[str, np.ndarray]) -> np.ndarray:
    """Utterance vector [mean_f, std_f for each family in FEATURE_FAMILIES order] for a baseline.

    Families absent from `features` are skipped; an utterance with no frames gives zeros.
    """
    unknown = [name for name in features if name not in FEATURE_FAMILIES]
    if unknown:
        raise ValueError(f"unknown feature families {unknown}; known: {list(FEATURE_FAMILIES)}")
    parts: list[np.ndarray] = []
    for name in FEATURE_FAMILIES:
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
