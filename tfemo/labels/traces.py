"""Continuous label traces resampled onto the audio frame grid.

Frame i spans [i * frame_seconds, (i + 1) * frame_seconds); it takes the trace's value at its
centre, linearly interpolated between label times. The label rate is read from the trace's own
times and is never assumed to equal the frame rate (DESIGN.md section 6, bug 1).
"""

from __future__ import annotations

import numpy as np

from tfemo.corpora.base import Trace
from tfemo.errors import InputError


def frame_centres(num_frames: int, frame_seconds: float) -> np.ndarray:
    """Centre time in seconds of each frame."""
    return (np.arange(num_frames) + 0.5) * frame_seconds


def label_period(trace: Trace) -> float:
    """The trace's median spacing in seconds."""
    if len(trace.times) < 2:
        raise InputError(trace.source, "bad labels", "fewer than two label times")
    return float(np.median(np.diff(trace.times)))


def trace_on_frames(trace: Trace, num_frames: int, frame_seconds: float,
                    audio_seconds: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Values [N, D] (and ratings [N, D, R]) at the frame centres of an item's audio.

    Each label holds for one label period after its time. Raises InputError when the labels
    stop more than one frame before the audio ends: such frames would get invented labels.
    """
    times = np.asarray(trace.times, dtype=np.float64)
    if times.ndim != 1 or len(times) != len(trace.values):
        raise InputError(trace.source, "bad labels", "times and values differ in length")
    if not np.all(np.isfinite(trace.values)):
        raise InputError(trace.source, "bad labels", "labels contain NaN or infinite values")
    if np.any(np.diff(times) <= 0):
        raise InputError(trace.source, "bad labels", "label times are not increasing")
    covered_until = times[-1] + label_period(trace)  # a label holds for one label period
    if covered_until + frame_seconds < audio_seconds - 1e-9:
        raise InputError(
            trace.source, "labels too short",
            f"labels cover {covered_until:.2f} s but the audio lasts {audio_seconds:.2f} s",
        )
    centres = frame_centres(num_frames, frame_seconds)
    values = _interpolate(times, np.asarray(trace.values, dtype=np.float64), centres)
    ratings = None
    if trace.ratings is not None:
        flat = np.asarray(trace.ratings, dtype=np.float64).reshape(len(times), -1)
        if not np.all(np.isfinite(flat)):
            raise InputError(trace.source, "bad labels", "ratings contain NaN or infinite values")
        ratings = _interpolate(times, flat, centres).reshape(
            (num_frames,) + tuple(trace.ratings.shape[1:]))
    return values.astype(np.float32), None if ratings is None else ratings.astype(np.float32)


def _interpolate(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Column-wise linear interpolation of values [T, K] at times `at` (ends held)."""
    values = values.reshape(len(times), -1)
    out = np.empty((len(at), values.shape[1]), dtype=np.float64)
    for column in range(values.shape[1]):
        out[:, column] = np.interp(at, times, values[:, column])
    return out
