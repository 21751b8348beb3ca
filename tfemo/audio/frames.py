"""The per-frame features of one recording: the families side by side, checked finite.

What records (tfemo.records.example), the feature store (tfemo.store.featurise) and
prediction (tfemo.inference) all do to audio, in one place and free of TensorFlow, so that
the feature store's workers do not load it. Adding a family is tfemo.audio.features only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfemo.audio import FRAME_SECONDS
from tfemo.audio.features import extract_features
from tfemo.core.errors import InputError


def family_features(audio: np.ndarray, num_frames: int,
                    families: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Each family's features [num_frames, width] on the 40 ms frame grid (not yet checked)."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported by the caller
        return extract_features(audio, num_frames, families)


def join_families(parts: dict[str, np.ndarray], families: tuple[str, ...]) -> np.ndarray:
    """The families side by side in the order asked: float32 [num_frames, sum of widths]."""
    return np.concatenate([parts[name] for name in families], axis=1).astype(np.float32)


def frame_features(audio: np.ndarray, num_frames: int, families: tuple[str, ...]) -> np.ndarray:
    """The families' per-frame features side by side, float32 [num_frames, sum of widths]."""
    return join_families(family_features(audio, num_frames, families), families)


def check_finite_features(features: np.ndarray, path: str | Path, audio: np.ndarray) -> None:
    """InputError naming the file when a frame's features are NaN or infinite: finite audio
    can still overflow float32 features (a float file with huge values)."""
    finite = np.isfinite(features)
    if not finite.all():
        frame = int(np.argmax(~finite.all(axis=1)))
        raise InputError(path, "bad audio",
                         f"features are NaN or infinite from {frame * FRAME_SECONDS:.2f} s on "
                         f"(peak amplitude {float(np.max(np.abs(audio))):.3g}; expected [-1, 1])")


__all__ = ["check_finite_features", "family_features", "frame_features", "join_families"]
