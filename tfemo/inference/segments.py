"""Emotion over time: a long recording cut into speech segments (VAD) or fixed windows, and the
model's answer per segment.

- `vad`: the speech segments of tfemo.audio.vad; `window:SECONDS`: consecutive windows of that
  length (the last one shorter), each with the share of it the VAD finds speech in;
- a classifier is run on each segment's audio and gives its class probabilities (a window
  without any speech is flagged `no_speech`, as a whole file is);
- a regressor is run once on the whole recording: its per-frame trace is kept whole, every
  frame marked speech or not (VAD), and a segment gets the means of its frames.
The whole file's result (the `FileResult` predictions.csv gets) comes with it: the classifier's
probabilities averaged over the speech segments by length (no segment: `no_speech`), the
regressor's trace with its speech mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfemo.audio import SAMPLE_RATE
from tfemo.audio.io import load_audio
from tfemo.audio.vad import DEFAULT_BACKEND, Segment, Vad, VadSettings, speech_mask
from tfemo.core.errors import InputError, UserError
from tfemo.inference.predictor import FileResult, Predictor

MODES = ("none", "vad", "window:SECONDS")


@dataclass(frozen=True)
class SegmentMode:
    """How a recording is cut: by the VAD, or in windows of `window` seconds."""

    kind: str  # "vad" | "window"
    window: float = 0.0

    @classmethod
    def parse(cls, text: str) -> SegmentMode | None:
        """`none` (None: one result per file), `vad` or `window:SECONDS` (UserError else)."""
        text = text.strip().lower()
        if text == "none":
            return None
        if text == "vad":
            return cls("vad")
        if text.startswith("window:"):
            try:
                seconds = float(text.split(":", 1)[1])
            except ValueError:
                seconds = 0.0
            if seconds > 0 and np.isfinite(seconds):
                return cls("window", seconds)
        raise UserError(f"--segments {text!r}", "give vad, window:SECONDS (a positive length) "
                                                 "or none")


@dataclass
class SegmentedResult:
    """One recording cut into segments: per segment its span, speech share and the answer."""

    path: Path
    seconds: float
    segments: list[Segment]
    speech: list[float]  # share of each segment the VAD finds speech in
    whole: FileResult  # the recording's result (predictions.csv)
    voice: list[Segment] = field(default_factory=list)  # the VAD's speech segments
    probabilities: list[np.ndarray] = field(default_factory=list)  # classifier, per segment
    no_speech: list[bool] = field(default_factory=list)  # classifier, per segment
    means: list[np.ndarray] = field(default_factory=list)  # regressor, per segment


def windows(seconds: float, length: float) -> list[Segment]:
    """Consecutive windows of `length` covering `seconds` (the last one shorter)."""
    starts = np.arange(0.0, seconds, length)
    return [(round(float(s), 3), round(min(float(s) + length, seconds), 3)) for s in starts
            if seconds - s > 1e-6]


def speech_share(segment: Segment, speech: list[Segment]) -> float:
    """The share of `segment` that overlaps the speech segments."""
    start, end = segment
    covered = sum(max(0.0, min(end, b) - max(start, a)) for a, b in speech)
    return round(covered / (end - start), 4) if end > start else 0.0


def predict_segments(predictor: Predictor, path: str | Path, mode: SegmentMode,
                     audio: np.ndarray | None = None, backend: str = DEFAULT_BACKEND,
                     settings: VadSettings | None = None) -> SegmentedResult:
    """The model per segment of one recording (a file, or `audio` decoded in memory)."""
    path = Path(path)
    if predictor.reads_words:
        raise UserError(f"--segments with {predictor.checkpoint}",
                        "the model reads word vectors; segments need an audio-only model")
    if audio is None:
        audio = load_audio(path, SAMPLE_RATE)
    audio = np.asarray(audio, np.float32).reshape(-1)
    if audio.size == 0:
        raise InputError(str(path), "empty audio", "the audio holds no samples")
    if not np.isfinite(audio).all():
        raise InputError(str(path), "non-finite audio", "the audio has NaN or infinite samples")
    seconds = len(audio) / SAMPLE_RATE
    speech = Vad(backend, settings or VadSettings()).segments(audio)
    cut = speech if mode.kind == "vad" else windows(seconds, mode.window)
    shares = [1.0 if mode.kind == "vad" else speech_share(s, speech) for s in cut]
    if predictor.categorical:
        return _classified(predictor, path, audio, cut, shares, speech)
    whole = predictor.predict_audio(audio, str(path))
    whole.path = path
    whole.speech = speech_mask(speech, whole.frames, predictor.description.frame_seconds)
    result = SegmentedResult(path, seconds, cut, shares, whole, speech)
    frame = predictor.description.frame_seconds
    for start, end in cut:
        rows = whole.trace[int(start / frame):max(int(start / frame) + 1,
                                                    int(np.ceil(end / frame)))]
        result.means.append(rows.mean(axis=0))
    return result


def _classified(predictor: Predictor, path: Path, audio: np.ndarray, cut: list[Segment],
                shares: list[float], speech: list[Segment]) -> SegmentedResult:
    """A classifier run on each segment's audio; the file's result from the speech ones."""
    probabilities, sizes, flags = [], [], []
    for (start, end), share in zip(cut, shares, strict=True):
        piece = audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        result = predictor.run(path, predictor.inputs_from_audio(piece, path),
                               speech_check=False)  # the VAD has spoken
        probabilities.append(result.probabilities)
        flags.append(share == 0.0)
        sizes.append(result.frames if share > 0 else 0)
    frames = int(np.ceil(len(audio) / (predictor.description.frame_seconds * SAMPLE_RATE)))
    whole = FileResult(path, len(audio) / SAMPLE_RATE, frames, len(cut))
    if sum(sizes):
        whole.probabilities = np.average(np.stack(probabilities), axis=0, weights=sizes)
        whole.voiced_fraction = float(np.average(shares, weights=[e - s for s, e in cut]))
    else:  # no speech anywhere: no class (the probabilities are uniform, never used)
        whole.probabilities = np.full(len(predictor.label_names), 1 / len(predictor.label_names),
                                      np.float32)
        whole.no_speech, whole.voiced_fraction = True, 0.0
    return SegmentedResult(path, whole.seconds, cut, shares, whole, speech, probabilities,
                           flags)
