"""Is there speech in this audio? A pitch-track test, so no emotion is forced on silence or tones.

From the Praat pitch track of the 40 ms frames (the `pitch` feature family, 75-600 Hz):
- the voiced fraction: voiced frames / all frames. Silence and noise have (almost) none;
- the pitch range of the voiced frames: 90th over 10th percentile of F0, in semitones. Speech
  has intonation (several semitones even for a flat speaker); a steady tone has none.
A file is `no_speech` when its voiced fraction is below MIN_VOICED_FRACTION (0.1) or its pitch
range below MIN_PITCH_RANGE (1 semitone).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfemo.audio import FRAME_LENGTH
from tfemo.audio.features import extract_features

MIN_VOICED_FRACTION = 0.1
MIN_PITCH_RANGE = 1.0  # semitones between the 10th and 90th percentile of the voiced F0


@dataclass(frozen=True)
class SpeechActivity:
    """The pitch-track evidence for speech in one file, and the verdict."""

    voiced_fraction: float
    pitch_range: float  # semitones; 0 with fewer than two voiced frames

    @classmethod
    def of(cls, f0: np.ndarray, frames: int) -> SpeechActivity:
        """The evidence from the voiced F0 values [V] of a file of `frames` frames."""
        if frames == 0:
            return cls(0.0, 0.0)
        spread = 0.0
        if len(f0) >= 2:
            low, high = np.percentile(f0, [10, 90])
            spread = float(12.0 * np.log2(high / low))
        return cls(float(len(f0) / frames), spread)

    @property
    def no_speech(self) -> bool:
        """True when the file holds no speech by the thresholds of this module."""
        return (self.voiced_fraction < MIN_VOICED_FRACTION
                or self.pitch_range < MIN_PITCH_RANGE)


def voiced_f0(audio: np.ndarray) -> np.ndarray:
    """The F0 (Hz) of the voiced 40 ms frames of mono 16 kHz `audio`, in order."""
    audio = np.asarray(audio, np.float32).reshape(-1)
    frames = len(audio) // FRAME_LENGTH
    if frames == 0:
        return np.zeros(0, np.float32)
    pitch = extract_features(audio, frames, ("pitch",))["pitch"]
    return pitch[pitch[:, 1] > 0, 0]


def speech_activity(audio: np.ndarray) -> SpeechActivity:
    """Voiced fraction and pitch range of mono 16 kHz `audio` (see the module docstring)."""
    audio = np.asarray(audio, np.float32).reshape(-1)
    return SpeechActivity.of(voiced_f0(audio), len(audio) // FRAME_LENGTH)
