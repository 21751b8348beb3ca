"""Centred moving average of a gold standard ("GenS": the generator's GS smoothed over 1 s).

The window is centred on each frame, so smoothing adds no lag; it spans an odd number of frames
(2 * round(smooth_secs * rate / 2) + 1, e.g. 25 frames for 1 s at 25 Hz). Near the ends the
window is cut to the frames that exist and the average is taken over those, so the output has
the input's length and a constant stays exactly constant.
"""

from __future__ import annotations

import numpy as np

from tfemo.audio import FRAME_SECONDS

DEFAULT_SMOOTH_SECONDS = 1.0


def window_frames(smooth_secs: float, frame_rate: float) -> int:
    """The odd window length in frames for `smooth_secs` at `frame_rate` Hz (1 = no smoothing)."""
    if not (np.isfinite(smooth_secs) and smooth_secs >= 0):
        raise ValueError(f"smooth_secs must be >= 0, got {smooth_secs}")
    if not (np.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"frame_rate must be > 0, got {frame_rate}")
    return 2 * int(round(smooth_secs * frame_rate / 2)) + 1


def smooth_gold_standard(gold: np.ndarray, smooth_secs: float = DEFAULT_SMOOTH_SECONDS,
                         frame_rate: float = 1.0 / FRAME_SECONDS) -> np.ndarray:
    """Centred moving average of a GS [T, D] (or [T]) over `smooth_secs`; same shape, no lag."""
    values = np.asarray(gold, np.float64)
    if values.ndim not in (1, 2) or len(values) == 0:
        raise ValueError(f"gold must be [frames] or [frames, dimensions], got {values.shape}")
    half = window_frames(smooth_secs, frame_rate) // 2
    if half == 0:
        return values.copy()
    frames = len(values)
    table = values.reshape(frames, -1)
    sums = np.concatenate([np.zeros((1, table.shape[1])), np.cumsum(table, axis=0)])
    start = np.clip(np.arange(frames) - half, 0, frames)
    stop = np.clip(np.arange(frames) + half + 1, 0, frames)
    smoothed = (sums[stop] - sums[start]) / (stop - start)[:, None]
    return smoothed.reshape(values.shape)
