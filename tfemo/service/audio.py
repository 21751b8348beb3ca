"""Audio bytes from a client -> 16 kHz mono float32, in memory (no temporary files).

Uploads are decoded by libsndfile (WAV, FLAC, OGG, MP3, AIFF ...) and, failing that, by an
ffmpeg process reading stdin and writing raw float32 to stdout, then mixed down and resampled
like every other tfemo audio (tfemo.audio.io). Stream chunks are raw 16-bit little-endian PCM.
"""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import soundfile
import soxr

from tfemo.audio import SAMPLE_RATE
from tfemo.service.errors import ApiError

FFMPEG_TIMEOUT = 60.0


def _too_long(seconds: float, max_seconds: float, name: str) -> ApiError:
    return ApiError(413, "audio too long",
                    f"{name}: {seconds:.1f} s; this service takes at most {max_seconds:g} s")


def _with_libsndfile(data: bytes, name: str, max_seconds: float) -> np.ndarray | None:
    """Decoded samples, or None when libsndfile cannot read the bytes."""
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            if handle.samplerate > 0 and handle.frames / handle.samplerate > max_seconds:
                raise _too_long(handle.frames / handle.samplerate, max_seconds, name)
            samples = handle.read(dtype="float32", always_2d=True)
            rate = handle.samplerate
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError):
        return None
    if samples.shape[0] == 0:
        return np.zeros(0, np.float32)
    mono = samples.mean(axis=1)
    if rate != SAMPLE_RATE:
        mono = soxr.resample(mono, rate, SAMPLE_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _with_ffmpeg(data: bytes, name: str, max_seconds: float) -> np.ndarray:
    """Decoded by ffmpeg through pipes (stdin -> raw f32le mono 16 kHz on stdout)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ApiError(415, "unsupported audio",
                       f"{name}: libsndfile cannot read it and ffmpeg is not installed")
    command = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", "pipe:0",
               "-t", f"{max_seconds + 1:.3f}", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
               "-f", "f32le", "pipe:1"]
    try:
        done = subprocess.run(command, input=data, capture_output=True, timeout=FFMPEG_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        raise ApiError(415, "unsupported audio", f"{name}: decoding took too long") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise ApiError(415, "unsupported audio",
                       f"{name}: not audio that libsndfile or ffmpeg can decode"
                       + (f" ({reason[-1][:200]})" if reason else ""))
    return np.frombuffer(done.stdout[: len(done.stdout) // 4 * 4], dtype="<f4").astype(np.float32)


def decode_audio(data: bytes, name: str, max_seconds: float) -> np.ndarray:
    """16 kHz mono float32 of an uploaded file; ApiError (415, 400 or 413) for unusable audio."""
    if not data:
        raise ApiError(400, "empty audio", f"{name}: the upload holds no bytes")
    audio = _with_libsndfile(data, name, max_seconds)
    if audio is None:
        audio = _with_ffmpeg(data, name, max_seconds)
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
    if audio.size / SAMPLE_RATE > max_seconds:
        raise _too_long(audio.size / SAMPLE_RATE, max_seconds, name)


def pcm16_samples(data: bytes) -> np.ndarray:
    """A stream chunk of 16-bit little-endian PCM as float32 in [-1, 1)."""
    if len(data) % 2:
        raise ApiError(400, "malformed stream frame",
                       f"{len(data)} bytes: 16-bit PCM needs an even number of bytes")
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
