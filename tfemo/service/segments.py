"""Emotion over time in the service: `?segments=vad|window:SECONDS` on an upload gives the
per-segment result of `tfemo.predict --segments`; `?segments=vad` on a stream answers each
utterance once the VAD finds its end (a pause of `min_silence`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soxr

from tfemo.audio import SAMPLE_RATE
from tfemo.audio.vad import DEFAULT_BACKEND, Segment, Vad, VadSettings
from tfemo.core.errors import UserError
from tfemo.inference.predictor import Predictor
from tfemo.inference.segments import SegmentedResult, SegmentMode
from tfemo.service.errors import ApiError
from tfemo.service.results import file_result, summary


def segment_mode(value: str | None, predictor: Predictor) -> SegmentMode | None:
    """The `segments` query parameter (None: one result per file); ApiError 400 if bad."""
    if value is None:
        return None
    try:
        mode = SegmentMode.parse(value[:40])
    except UserError as error:
        raise ApiError(400, "bad segments", f"{error}") from None
    if mode is not None and predictor.reads_words:
        raise ApiError(400, "segments unsupported",
                       "the model reads words; segments need an audio-only model")
    return mode


def segmented_result(result: SegmentedResult, predictor: Predictor) -> dict[str, Any]:
    """The file's response (as without segments), its speech segments (`speech`: the VAD's
    (start, end) pairs) and one entry per segment; a regressor's trace gets `speech_frames`."""
    names, categorical = predictor.label_names, predictor.categorical
    out = file_result(result.whole, names, categorical, predictor.description.frame_seconds)
    if categorical:
        out["no_speech"] = bool(result.whole.no_speech)
        if result.whole.no_speech:
            out["top"] = None
    elif result.whole.speech is not None:
        out["speech_frames"] = result.whole.speech.astype(int).tolist()
    out["speech"] = [list(segment) for segment in result.voice]
    out["segments"] = []
    for k, (start, end) in enumerate(result.segments):
        entry: dict[str, Any] = {"start": start, "end": end, "speech": result.speech[k]}
        if categorical:
            entry.update(summary(names, True, probabilities=result.probabilities[k]))
            entry["no_speech"] = bool(result.no_speech[k])
            if result.no_speech[k]:
                entry["top"] = None
        else:
            entry["means"] = {n: float(v) for n, v in zip(names, result.means[k], strict=True)}
            entry.update({k: v for k, v in summary(names, False, trace=result.means[k][None])
                          .items() if k == "quadrant"})
        out["segments"].append(entry)
    return out


class UtteranceTracker:
    """A stream's VAD: keeps the audio of the open utterance and answers each closed one with
    the model run on its audio (probabilities, or the means of its trace)."""

    def __init__(self, predictor: Predictor, input_rate: int = SAMPLE_RATE,
                 backend: str = DEFAULT_BACKEND, settings: VadSettings | None = None) -> None:
        self.predictor = predictor
        self.settings = settings or VadSettings()
        self._vad = Vad(backend, self.settings).stream()
        self._resampler = (None if input_rate == SAMPLE_RATE else
                           soxr.ResampleStream(input_rate, SAMPLE_RATE, 1, dtype="float32",
                                               quality="HQ"))
        self._audio = np.zeros(0, np.float32)  # samples from `_offset` on
        self._offset = 0
        self._received = 0

    def feed(self, samples: np.ndarray) -> list[dict[str, Any]]:
        """Take the next samples (at the input rate); the utterances they close."""
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples.astype(np.float32), last=False)
        return self._take(np.asarray(samples, np.float32), self._vad.push(samples))

    def finish(self) -> list[dict[str, Any]]:
        """At the end of the stream: the utterance still open, if long enough."""
        tail = np.zeros(0, np.float32)
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(tail, last=True)
        closed = self._vad.push(tail) + self._vad.finish()
        return self._take(tail, closed)

    def _take(self, samples: np.ndarray, closed: list[Segment]) -> list[dict[str, Any]]:
        self._audio = np.concatenate([self._audio, samples])
        self._received += len(samples)
        answers = [self._answer(segment) for segment in closed]
        # keep only what an utterance can still use: from the open one's padded start, or
        # (none open) from the earliest padded start of one beginning at the next window
        since = self._vad.open_since
        keep = self._vad.seconds if since is None else since
        keep = int((keep - self.settings.padding - 0.1) * SAMPLE_RATE)
        keep = min(max(keep, self._offset), self._received)
        self._audio = self._audio[keep - self._offset:]
        self._offset = keep
        return answers

    def _answer(self, segment: Segment) -> dict[str, Any]:
        start, end = segment
        first = max(0, int(start * SAMPLE_RATE) - self._offset)
        piece = self._audio[first:int(end * SAMPLE_RATE) - self._offset]
        predictor = self.predictor
        result = predictor.run(Path("utterance"), predictor.inputs_from_audio(piece, "utterance"),
                               speech_check=False)  # the VAD found it
        out: dict[str, Any] = {"start": start, "end": end}
        out.update(summary(predictor.label_names, predictor.categorical,
                           result.probabilities, result.trace))
        return out
