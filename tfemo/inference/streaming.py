"""A long file's model inputs chunk by chunk, in bounded memory (an hour of audio in ~100 MB).

`stream_chunks` reads the file block by block (tfemo.audio.io.audio_blocks: the same 16 kHz
samples as load_audio), and yields the inputs of each model chunk of `chunk_frames` frames:
the chunk's int16 PCM frames as the model sees them, and its hand-crafted features computed on
the chunk plus `context_frames` frames of audio on each side. Only about one chunk of audio is
held at a time.

The audio frames are exactly those of the whole-file path (frames are independent). So are the
frame-local feature families (zcr, rms, mfcc, chroma, mel_db, entropy, mfb_*: each frame's
analysis windows reach at most 120 samples into its neighbours, within the context). Two
families look further: Praat's pitch (a Viterbi path and a silence threshold relative to the
loudest sample) and contrast (floored 80 dB below the loudest frame); in a stream they see
the chunk and its context only, which is why the Predictor streams only files longer than
`STREAM_FRAMES` and keeps the whole-file path for everything shorter. On real speech the
difference is nil: 5 minutes of EMO-DB utterances joined give the same pitch track (every
frame's voicing and F0) streamed in 60 s chunks as whole, and every other value within 2e-6.
`STREAM_FRAMES` is 2 minutes because the whole-file path holds Praat's analysis of the file
(~19 MB per minute) and its arrays (~8 MB per minute) over TensorFlow's ~665 MB: at 10
minutes, predict peaked at 1.07-1.09 GB (benchmarks/predict.py --memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tfemo.audio import FRAME_LENGTH
from tfemo.audio.io import audio_blocks, frame_count, to_pcm_frames
from tfemo.records.example import check_finite_features, frame_features
from tfemo.records.reader import STD_FLOOR
from tfemo.records.schema import AUDIO_SCALE

STREAM_FRAMES = 3000  # files longer than 2 minutes are read and featurised chunk by chunk
LONG_CONTEXT_FAMILIES = ("pitch", "contrast")  # features a stream computes differently
CONTEXT_FRAMES = 50  # 2 s of audio each side of a chunk for its features (>= 1 for mfb_*)


def stream_chunks(path: str | Path, chunk_frames: int, families: tuple[str, ...] = (),
                  context_frames: int = CONTEXT_FRAMES,
                  block_frames: int | None = None) -> Iterator[dict[str, np.ndarray]]:
    """{"audio": float32 [n, 640], "features": float32 [n, F] if families} per model chunk.

    Chunk k holds frames [k * chunk_frames, (k + 1) * chunk_frames) of the file (the last may
    be shorter). InputError (from the reader) if the file cannot be used.
    """
    if chunk_frames <= 0 or context_frames < 0:
        raise ValueError(f"chunk_frames must be positive and context_frames >= 0, got "
                         f"{chunk_frames}, {context_frames}")
    options = {} if block_frames is None else {"block_frames": block_frames}
    blocks = audio_blocks(path, **options)
    buffer = np.zeros(0, np.float32)  # samples from sample index `origin` on
    origin, exhausted, chunk = 0, False, 0
    while True:
        start = chunk * chunk_frames
        need = (start + chunk_frames + context_frames) * FRAME_LENGTH  # sample index to reach
        pieces = [buffer]
        have = origin + len(buffer)
        while not exhausted and have < need:
            block = next(blocks, None)
            if block is None:
                exhausted = True
            else:
                pieces.append(block)
                have += len(block)
        buffer = np.concatenate(pieces) if len(pieces) > 1 else buffer
        total_frames = frame_count(origin + len(buffer)) if exhausted else None
        if total_frames is not None and start >= total_frames:
            return
        stop = start + chunk_frames if total_frames is None else min(start + chunk_frames,
                                                                     total_frames)
        own = buffer[start * FRAME_LENGTH - origin:stop * FRAME_LENGTH - origin]
        inputs = {"audio": to_pcm_frames(own).astype(np.float32) / AUDIO_SCALE}
        if families:
            first = max(0, start - context_frames)
            last = stop + context_frames if total_frames is None else min(
                stop + context_frames, total_frames)
            window = buffer[first * FRAME_LENGTH - origin:last * FRAME_LENGTH - origin]
            features = frame_features(window, last - first, families)
            check_finite_features(features, Path(path), window)
            inputs["features"] = features[start - first:stop - first]
        yield inputs
        chunk += 1
        keep_from = max(0, chunk * chunk_frames - context_frames) * FRAME_LENGTH
        if keep_from > origin:  # drop what no later chunk needs
            buffer = buffer[keep_from - origin:]
            origin = keep_from


def speaker_normalised(chunks: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Chunks whose features are standardised with the whole file's own mean and std."""
    features = np.concatenate([c["features"] for c in chunks])
    mean, std = features.mean(axis=0), np.maximum(features.std(axis=0), STD_FLOOR)
    return [{**c, "features": ((c["features"] - mean) / std).astype(np.float32)}
            for c in chunks]
