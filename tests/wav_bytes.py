"""Raw WAV bytes written by hand (struct): headers that libsndfile would never write."""

from __future__ import annotations

import struct

import numpy as np

PCM = 1
IEEE_FLOAT = 3


def wav_bytes(data: bytes, *, channels: int = 1, rate: int = 16_000, bits: int = 16,
              fmt: int = PCM, data_size: int | None = None, riff_size: int | None = None,
              block_align: int | None = None) -> bytes:
    """A RIFF/WAVE file: a 16-byte fmt chunk and one data chunk holding `data`.

    `data_size` and `riff_size` override the sizes the header declares (a declared size larger
    than the file); `block_align` overrides channels * bits / 8.
    """
    align = block_align if block_align is not None else channels * bits // 8
    fmt_chunk = struct.pack("<4sIHHIIHH", b"fmt ", 16, fmt, channels, rate, rate * align,
                            align, bits)
    size = len(data) if data_size is None else data_size
    data_chunk = struct.pack("<4sI", b"data", size) + data
    body = b"WAVE" + fmt_chunk + data_chunk
    riff = len(body) if riff_size is None else riff_size
    return struct.pack("<4sI", b"RIFF", riff) + body


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as little-endian int16 bytes."""
    return np.clip(np.round(np.asarray(samples) * 32767), -32768, 32767).astype("<i2").tobytes()


def pcm8(samples: np.ndarray) -> bytes:
    """Float samples as unsigned 8-bit bytes (WAV's 8-bit PCM is offset by 128)."""
    values = np.clip(np.round(np.asarray(samples) * 127), -128, 127) + 128
    return values.astype(np.uint8).tobytes()


def pcm24(samples: np.ndarray) -> bytes:
    """Float samples as little-endian packed 24-bit integers."""
    values = np.clip(np.round(np.asarray(samples) * 8_388_607), -8_388_608, 8_388_607)
    packed = values.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
    return packed.tobytes()


def float32(samples: np.ndarray) -> bytes:
    """Samples as little-endian IEEE float32 bytes (NaN and Inf kept)."""
    return np.asarray(samples, dtype="<f4").tobytes()
