"""Word vectors placed on the audio frame grid: the text input of the semantic fusion model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from tfemo.audio import FRAME_SECONDS
from tfemo.corpora.base import WordTiming

# A frame centre computed as (i + 0.5) * frame_seconds can miss a boundary it sits on by a
# rounding error (0.25 -> 0.24999999999999997); centres are nudged this much later so that a
# centre on a boundary always belongs to the word that starts there ([start, end) intervals).
_TIE_SECONDS = 1e-9


def word_vectors_on_frames(words: Sequence[WordTiming], table: Mapping[str, np.ndarray],
                           num_frames: int, dim: int,
                           frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """A [num_frames, dim] float32 array: each frame holds the vector of the word it is in.

    Frame i spans [i * frame_seconds, (i + 1) * frame_seconds) and belongs to the word whose
    [start, end) contains its centre; frames in silence (no such word) are zeros. The frame
    length is the caller's frame grid, never a label rate (docs/design.md, defect 1).
    Words are expected in sequence (not nested); where two overlap, the later one wins;
    zero-length words cover no frame. `table` maps every word to its vector
    (see `tfemo.text.embeddings.vector_table`).
    """
    if frame_seconds <= 0:
        raise ValueError(f"frame_seconds must be positive, got {frame_seconds}")
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames}")
    out = np.zeros((num_frames, dim), dtype=np.float32)
    if not words or num_frames == 0:
        return out
    missing = sorted({w.word for w in words if w.word not in table})
    if missing:
        raise KeyError(f"no vector for {len(missing)} words (e.g. {missing[:5]}); "
                       "build the table with vector_table() over the same words")
    starts = np.array([w.start for w in words], dtype=np.float64)
    ends = np.array([w.end for w in words], dtype=np.float64)
    vectors = np.stack([np.asarray(table[w.word], dtype=np.float32) for w in words])
    if vectors.ndim != 2 or vectors.shape[1] != dim:
        raise ValueError(f"word vectors have shape {vectors.shape[1:]}, expected ({dim},)")
    # zero-length words would otherwise hide the word before them from later centres
    order = np.flatnonzero(ends > starts)
    order = order[np.argsort(starts[order], kind="stable")]
    starts, ends, vectors = starts[order], ends[order], vectors[order]
    if len(order) == 0:
        return out
    centres = (np.arange(num_frames, dtype=np.float64) + 0.5) * frame_seconds + _TIE_SECONDS
    # the last word starting at or before each centre; the frame is in it if it has not ended
    index = np.searchsorted(starts, centres, side="right") - 1
    inside = index >= 0
    inside[inside] = centres[inside] < ends[index[inside]]
    out[inside] = vectors[index[inside]]
    return out
