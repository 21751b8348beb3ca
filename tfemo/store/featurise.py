"""One item -> its frame features and utterance statistics, with the code the records use.

Audio is loaded with tfemo.audio.io.load_audio (16 kHz mono), framed on the 40 ms record grid
(frame_count, as tfemo.records.example.build_example does), and featurised and checked by
tfemo.audio.frames, the code the records use; the statistics are utterance_statistics of the
same families.  Every bad input becomes an InputError naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfemo.audio import SAMPLE_RATE
from tfemo.audio.features import utterance_statistics
from tfemo.audio.frames import check_finite_features, family_features, join_families
from tfemo.audio.io import frame_count, load_audio
from tfemo.core.errors import InputError
from tfemo.corpora.base import Item


@dataclass
class ItemFeatures:
    """The arrays stored for one item."""

    frames: np.ndarray  # float32 [num_frames, sum of family widths]
    stats: np.ndarray  # float32 [2 * sum of family widths]
    num_frames: int
    seconds: float


def featurise(item: Item, families: tuple[str, ...]) -> ItemFeatures:
    """Load, frame and featurise one item's audio; the frames and stats are always finite."""
    audio = load_audio(item.audio_path)  # InputError for missing, corrupt, non-finite audio
    num_frames = frame_count(len(audio))
    parts = family_features(audio, num_frames, families)
    frames = join_families(parts, families)
    check_finite_features(frames, item.audio_path, audio)
    with np.errstate(over="ignore", invalid="ignore"):  # huge values: reported just below
        stats = utterance_statistics(parts)
    bad = ~np.isfinite(stats)
    if bad.any():
        raise InputError(item.audio_path, "non-finite features",
                         f"{int(bad.sum())} values of the stats are NaN or infinite "
                         f"(samples of magnitude up to {float(np.abs(audio).max()):.3g})")
    return ItemFeatures(frames, stats, num_frames, len(audio) / SAMPLE_RATE)


def item_attributes(item: Item) -> dict[str, str]:
    """Every field of the Item and every key of its metadata, as string attributes.

    A metadata key that clashes with a field name is stored as `metadata_<key>`.
    """
    attrs = {"id": item.id, "speaker": item.speaker, "corpus": item.corpus,
             "portion": item.portion, "label": item.label or "", "gender": item.gender or "",
             "language": item.language, "audio_path": str(item.audio_path),
             "transcript": " ".join(s.transcript for s in item.segments if s.transcript)}
    for key in sorted(item.metadata):
        name = f"metadata_{key}" if key in attrs or key in ("num_frames", "seconds") else key
        attrs[name] = str(item.metadata[key])
    return attrs
