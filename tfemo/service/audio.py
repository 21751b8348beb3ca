"""Audio bytes from a client -> 16 kHz mono float32; stream chunks of 16-bit PCM -> float32.

Uploads libsndfile reads (WAV, FLAC, OGG, MP3, AIFF ...) are decoded in memory, after their
header has passed the sample-rate range and the length limit. Anything else goes to a
temporary file for ffmpeg (tfemo.audio.ffmpeg): MP4/M4A keeps its index at the end, which
only a seekable input reaches, and ffprobe gives the length before any decoding. Both are
mixed down and resampled like every other tfemo audio (tfemo.audio.io).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

from tfemo.audio import SAMPLE_RATE, ffmpeg
from tfemo.audio.io import check_sample_rate, check_seconds, load_audio
from tfemo.core.errors import InputError
from tfemo.service.errors import ApiError, from_input_error


def _with_libsndfile(data: bytes, name: str, max_seconds: float) -> np.ndarray | None:
    """Decoded samples, or None when libsndfile cannot read the bytes."""
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            rate = handle.samplerate
            check_sample_rate(rate, name)
            check_seconds(handle.frames / rate, max_seconds, name)
            samples = handle.read(dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError):
        return None
    if samples.shape[0] == 0:
        return np.zeros(0, np.float32)
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _with_ffmpeg(data: bytes, name: str, max_seconds: float) -> np.ndarray:
    """Decoded by ffmpeg from a temporary file (probed first: rate range, length)."""
    if not ffmpeg.available():
        raise ApiError(415, "unsupported audio",
                       f"{name}: libsndfile cannot read it and ffmpeg is not installed")
    with tempfile.TemporaryDirectory(prefix="tfemo-upload-") as folder:
        path = Path(folder) / "upload"
        path.write_bytes(data)
        try:
            return load_audio(path, SAMPLE_RATE, max_seconds)
        except InputError as error:
            error.path = name
            raise


def decode_audio(data: bytes, name: str, max_seconds: float) -> np.ndarray:
    """16 kHz mono float32 of an uploaded file; ApiError (415, 400 or 413) for unusable audio."""
    if not data:
        raise ApiError(400, "empty audio", f"{name}: the upload holds no bytes")
    try:
        audio = _with_libsndfile(data, name, max_seconds)
        if audio is None:
            audio = _with_ffmpeg(data, name, max_seconds)
    except InputError as error:
        raise from_input_error(error) from None
    check_samples(audio, name, max_seconds)
    return audio


def check_samples(audio: np.ndarray, name: str, max_seconds: float) -> None:
    """Refuse empty, non-finite or too long audio."""
    if audio.size == 0:
        raise ApiError(400, "empty audio", f"{name}: the audio holds no samples")
    if not np.isfinite(audio).all():
        bad = int((~np.isfinite(audio)).sum())
        raise ApiError(400, "non-finite audio",
                       f"{name}: {bad} NaN or infinite samples")
    try:
        check_seconds(audio.size / SAMPLE_RATE, max_seconds, name)
    except InputError as error:
        raise from_input_error(error) from None


def pcm16_samples(data: bytes) -> np.ndarray:
    """A stream chunk of 16-bit little-endian PCM as float32 in [-1, 1)."""
    if len(data) % 2:
        raise ApiError(400, "malformed stream frame",
                       f"{len(data)} bytes: 16-bit PCM needs an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
