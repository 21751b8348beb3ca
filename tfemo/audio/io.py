"""Read audio as real corpora ship it: 16 kHz mono float32, or an error naming the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import soxr

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.core.errors import InputError


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Load any file libsndfile reads (WAV, AIFF, FLAC, OGG, MP3; detected by content, not name).

    Channels are averaged to mono and the signal is resampled with soxr to `sample_rate`.
    Raises InputError for a missing, unreadable or empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "missing audio", "no such file")
    try:
        samples, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as error:
        raise InputError(path, "corrupt audio", str(error).splitlines()[0]) from error
    if samples.shape[0] == 0:
        raise InputError(path, "empty audio", "the file holds no samples")
    mono = samples.mean(axis=1)
    if file_rate != sample_rate:
        mono = soxr.resample(mono, file_rate, sample_rate, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def frame_count(num_samples: int, frame_length: int = FRAME_LENGTH) -> int:
    """Frames needed to cover `num_samples` (a final partial frame counts as one)."""
    return -(-num_samples // frame_length)


def to_pcm_frames(audio: np.ndarray, frame_length: int = FRAME_LENGTH) -> np.ndarray:
    """Cut float audio in [-1, 1] into int16 frames [N, frame_length]; the last is zero-padded."""
    num_frames = frame_count(len(audio), frame_length)
    padded = np.zeros(num_frames * frame_length, dtype=np.float32)
    padded[: len(audio)] = audio
    pcm = np.clip(np.round(padded * 32768.0), -32768, 32767).astype(np.int16)
    return pcm.reshape(num_frames, frame_length)
