"""Continuous label traces resampled onto the audio frame grid.

A label at time t holds from t until the next label time (sample and hold), the way frame-based
corpora write them (RECOLA and the demo write one label per 40 ms frame, at the frame's start).
Frame i spans [i * frame_seconds, (i + 1) * frame_seconds) and takes the label in force at its
centre. The label rate is read from the trace's own times and never assumed to equal the frame
rate (docs/design.md, defect 1).
"""

from __future__ import annotations

import numpy as np

from tfemo.core.errors import InputError
from tfemo.corpora.base import Item, Trace

# what a corpus reader's parsing raises on a label file's content, besides its own InputErrors
READ_ERRORS = (ValueError, KeyError, IndexError, UnicodeDecodeError, OSError)


def frame_centres(num_frames: int, frame_seconds: float) -> np.ndarray:
    """Centre time in seconds of each frame."""
    return (np.arange(num_frames) + 0.5) * frame_seconds


def load_item_trace(item: Item) -> Trace:
    """An item's continuous labels; a label file its reader cannot parse is an InputError.

    Readers report what they check as InputError; anything else a reader raises on a file's
    content (a number parser's ValueError, a UnicodeDecodeError, a short row's IndexError) is
    the file's fault too, so it becomes an InputError naming the label file, and a run skips
    the item like any other bad input.
    """
    if item.load_trace is None:
        raise InputError(item.audio_path, "missing labels", "the item has no continuous labels")
    try:
        return item.load_trace()
    except InputError:
        raise
    except READ_ERRORS as error:
        source = item.label_files[0] if item.label_files else item.audio_path
        detail = str(error).splitlines()[0] if str(error) else ""
        raise InputError(source, "bad labels", f"{type(error).__name__}"
                         + (f": {detail}" if detail else "")) from error


def label_period(trace: Trace) -> float:
    """The trace's median spacing in seconds."""
    if len(trace.times) < 2:
        raise InputError(trace.source, "bad labels", "fewer than two label times")
    return float(np.median(np.diff(trace.times)))


def check_trace(trace: Trace, audio_seconds: float, frame_seconds: float) -> None:
    """Raise InputError unless the trace is finite, increasing and covers the whole audio.

    Labels that start after the first frame or stop more than one frame before the audio ends
    are refused: those frames would otherwise get invented labels.
    """
    times = np.asarray(trace.times, dtype=np.float64)
    if times.ndim != 1 or len(times) != len(trace.values):
        raise InputError(trace.source, "bad labels", "times and values differ in length")
    if not np.all(np.isfinite(trace.values)):
        raise InputError(trace.source, "bad labels", "labels contain NaN or infinite values")
    if trace.ratings is not None and not np.all(np.isfinite(trace.ratings)):
        raise InputError(trace.source, "bad labels", "ratings contain NaN or infinite values")
    if np.any(np.diff(times) <= 0):
        raise InputError(trace.source, "bad labels", "label times are not increasing")
    if times[0] > frame_seconds / 2 + 1e-9:
        raise InputError(trace.source, "labels start late",
                         f"the first label is at {times[0]:.2f} s; the audio starts at 0 s")
    covered_until = times[-1] + label_period(trace)
    if covered_until + frame_seconds < audio_seconds - 1e-9:
        raise InputError(
            trace.source, "labels too short",
            f"labels cover {covered_until:.2f} s but the audio lasts {audio_seconds:.2f} s",
        )


def trace_on_frames(trace: Trace, num_frames: int, frame_seconds: float,
                    audio_seconds: float) -> tuple[np.ndarray, np.ndarray | None]:
    """Values [N, D] (and ratings [N, D, R]) in force at the frame centres of an item's audio."""
    check_trace(trace, audio_seconds, frame_seconds)
    times = np.asarray(trace.times, dtype=np.float64)
    index = np.searchsorted(times, frame_centres(num_frames, frame_seconds), side="right") - 1
    index = np.clip(index, 0, len(times) - 1)
    values = np.asarray(trace.values, dtype=np.float32)[index]
    ratings = None if trace.ratings is None else np.asarray(trace.ratings, np.float32)[index]
    return values, ratings
