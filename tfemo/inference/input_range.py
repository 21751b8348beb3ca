"""Whether a file's inputs lie far outside what the model was trained on, said in words.

A model labels anything it is given; a recording much louder or quieter than the training
audio, or whose features sit several training standard deviations away from their training
means (another microphone, another language, music), gets labels that mean little. The records'
description keeps the train-only statistics (`normalisation`: the audio's standard deviation,
the features' mean and standard deviation per column); `InputRange` gathers a file's own,
chunk by chunk, and `verdict` names what is far off ("" when nothing is).
"""

from __future__ import annotations

from typing import Any

import numpy as np

LEVEL_FACTOR = 20.0  # the file's RMS this many times above or below the training audio's (26 dB)
FEATURE_SD = 3.0  # the file's feature means this many training SDs from the training means


class InputRange:
    """Running sums of one file's audio power and feature values, chunk by chunk."""

    def __init__(self) -> None:
        self.samples, self.power = 0, 0.0
        self.frames, self.feature_sum = 0, None

    def add(self, chunk: dict[str, np.ndarray], raw_features: bool) -> None:
        """One chunk of model inputs; its features count when they are the raw (not
        per-file standardised) values the training statistics describe."""
        audio = np.asarray(chunk["audio"], np.float64)
        self.samples += audio.size
        self.power += float(np.square(audio).sum())
        if raw_features and "features" in chunk:
            features = np.asarray(chunk["features"], np.float64)
            total = features.sum(axis=0)
            self.feature_sum = total if self.feature_sum is None else self.feature_sum + total
            self.frames += len(features)

    def verdict(self, normalisation: dict[str, Any]) -> str:
        """What lies far outside the training statistics `normalisation`, or ""."""
        found = []
        audio = normalisation.get("audio") or {}
        if self.samples and audio.get("std"):
            ratio = np.sqrt(self.power / self.samples) / float(audio["std"])
            if ratio > LEVEL_FACTOR:
                found.append(f"{ratio:.0f}x louder than the training audio")
            elif ratio < 1 / LEVEL_FACTOR:
                found.append(f"{1 / max(ratio, 1e-9):.0f}x quieter than the training audio")
        features = normalisation.get("features") or {}
        if self.frames and features.get("std"):
            mean = np.asarray(features["mean"], np.float64)
            std = np.maximum(np.asarray(features["std"], np.float64), 1e-6)
            shift = float(np.mean(np.abs(self.feature_sum / self.frames - mean) / std))
            if shift > FEATURE_SD:
                found.append(f"features {shift:.1f} SD from the training means")
        return "; ".join(found)
