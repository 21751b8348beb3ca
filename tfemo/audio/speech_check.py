"""Is there speech in a file fed chunk by chunk? The VAD (tfemo.audio.vad) finds at least one
speech segment; where its backend cannot be loaded, the Praat rule of tfemo.audio.speech
(voiced fraction and pitch range) decides instead."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.audio.speech import SpeechActivity, voiced_f0
from tfemo.audio.vad import DEFAULT_BACKEND, Segment, Vad, VadSettings, available_backend


@dataclass(frozen=True)
class SpeechVerdict:
    """The verdict of one file: no speech or some, the share of it that is speech, and how."""

    no_speech: bool
    fraction: float  # VAD: seconds in segments / seconds; Praat: voiced frames / frames
    backend: str
    segments: tuple[Segment, ...] = ()  # VAD segments (empty for the Praat rule)


class SpeechCheck:
    """Feed a file's audio in order (`add`), then read its `verdict`."""

    def __init__(self, backend: str = DEFAULT_BACKEND,
                 settings: VadSettings | None = None) -> None:
        self.backend = available_backend(backend)
        self._stream = (None if self.backend == "praat"
                        else Vad(self.backend, settings or VadSettings()).stream())
        self._segments: list[Segment] = []
        self._voiced: list[np.ndarray] = []
        self._samples = 0

    def add(self, audio: np.ndarray, voiced: np.ndarray | None = None) -> None:
        """The next block of 16 kHz mono float audio; `voiced` (the Praat rule only) is its
        voiced F0 when already known (from the features), else it is computed here."""
        audio = np.asarray(audio, np.float32).reshape(-1)
        self._samples += len(audio)
        if self._stream is not None:
            self._segments += self._stream.push(audio)
        else:
            self._voiced.append(voiced_f0(audio) if voiced is None else voiced)

    def verdict(self) -> SpeechVerdict:
        """No speech: no VAD segment (or, for the Praat rule, too few voiced frames or a flat
        pitch)."""
        if self._stream is None:
            frames = self._samples // FRAME_LENGTH
            f0 = np.concatenate(self._voiced) if self._voiced else np.zeros(0, np.float32)
            activity = SpeechActivity.of(f0, frames)
            return SpeechVerdict(activity.no_speech, activity.voiced_fraction, "praat")
        segments = tuple(self._segments + self._stream.finish())
        self._segments = list(segments)
        seconds = self._samples / SAMPLE_RATE
        spoken = sum(end - start for start, end in segments)
        return SpeechVerdict(not segments, min(1.0, spoken / seconds) if seconds else 0.0,
                             self.backend, segments)
