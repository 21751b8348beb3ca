"""One WebSocket stream: 16-bit PCM in, predictions of the frames it completes out.

A recurrent continuous model (an export with `serve_chunk`) answers every frame once it is
complete, carrying its recurrent state in the session (one per connection, nothing shared).
A classifier answers on a sliding window: every `hop` frames, the probabilities of the last
`window` frames (a shorter stream gets one answer over all its frames at the end).

Per-frame inputs are computed as the Predictor computes them for a file. Hand-crafted features
need context around a frame (their analysis windows reach past its edges), so a frame's
features are computed once `LOOKAHEAD` further frames have arrived, on audio reaching
`CONTEXT` frames back: the streamed features then equal the file's except for the parts
that depend on the whole utterance (Praat's pitch path, contrast's utterance-relative floor).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import soxr

from tfemo.audio import FRAME_LENGTH, SAMPLE_RATE
from tfemo.audio.io import frame_count, to_pcm_frames
from tfemo.inference.predictor import Predictor
from tfemo.records.example import frame_features
from tfemo.records.schema import AUDIO_SCALE
from tfemo.service.errors import ApiError
from tfemo.service.results import summary

LOOKAHEAD = 2  # frames of audio after a frame before its features are computed (80 ms)
CONTEXT = 8  # frames of audio before it that feature extraction sees (320 ms)


def stream_mode(predictor: Predictor) -> str:
    """"frames" (recurrent regressor), "window" (classifier), "utterance" (a model that reads
    words: tfemo.service.utterance), or ApiError if it cannot stream."""
    if predictor.needs_transcripts:
        raise ApiError(400, "stream unsupported",
                       "the model reads words, and a live stream has no aligned transcript; "
                       "use POST /v1/predict with a transcript")
    if predictor.reads_words:
        return "utterance"  # words heard as the audio comes, one answer at the end
    if predictor.speaker_normalise:
        raise ApiError(400, "stream unsupported",
                       "the model standardises features per speaker over the whole file; "
                       "use POST /v1/predict")
    if predictor.categorical:
        return "window"
    if predictor.exported is None or not predictor.exported.streams:
        raise ApiError(400, "stream unsupported", "the export has no serve_chunk endpoint")
    return "frames"


class StreamSession:
    """The audio, frame inputs and recurrent state of one connection."""

    def __init__(self, predictor: Predictor, max_seconds: float, window_seconds: float,
                 hop_seconds: float, run_chunk: Callable[[dict], dict] | None = None,
                 input_rate: int = SAMPLE_RATE) -> None:
        self.predictor = predictor
        self.mode = stream_mode(predictor)
        seconds = predictor.description.frame_seconds
        self.window = max(1, round(window_seconds / seconds))
        self.hop = max(1, round(hop_seconds / seconds))
        self.rate = predictor.description.sample_rate
        self.input_rate = input_rate  # the client's samples are resampled from this rate
        self.resampler = (None if input_rate == self.rate else
                          soxr.ResampleStream(input_rate, self.rate, 1, dtype="float32",
                                              quality="HQ"))
        self.max_input = int(max_seconds * input_rate)
        self.taken = 0  # samples received at the input rate
        self.max_samples = int(max_seconds * self.rate)
        self.families = tuple(predictor.description.features)
        self.lookahead = LOOKAHEAD if self.families else 0
        self.audio = np.zeros(0, np.float32)  # samples from frame `self.base` on
        self.base = 0
        self.received = 0  # samples received
        self.done = 0  # frames whose inputs are computed
        self.inputs: list[dict[str, np.ndarray]] = []  # window mode: the recent frame inputs
        self.next_end = self.window
        self.windows: list[np.ndarray] = []
        self.trace: list[np.ndarray] = []
        self.state = predictor.exported.initial_state() if self.mode == "frames" else {}
        # serve_chunk, or a ChunkBatcher that runs it for many streams at once
        self.run_chunk = run_chunk or (predictor.exported.serve_chunk if self.state else None)

    def hello(self) -> dict[str, Any]:
        """The first message: what the stream answers and on which grid."""
        description = self.predictor.description
        out = {"type": "ready", "mode": self.mode, "task": description.task,
               "labels": list(self.predictor.label_names),
               "sample_rate": self.input_rate, "frame_seconds":
               description.frame_seconds, "format": "pcm_s16le mono"}
        if self.mode == "window":
            out.update(window_seconds=round(self.window * description.frame_seconds, 6),
                       hop_seconds=round(self.hop * description.frame_seconds, 6))
        else:
            out["lookahead_seconds"] = self.lookahead * description.frame_seconds
        return out

    def feed(self, samples: np.ndarray) -> dict[str, Any]:
        """Take a chunk of samples; answer with the frames (or windows) it completed."""
        if not np.isfinite(samples).all():
            raise ApiError(400, "non-finite audio", "the chunk has NaN or infinite samples")
        if self.taken + samples.size > self.max_input:
            raise ApiError(413, "stream too long",
                           f"more than --max_seconds "
                           f"({self.max_samples / self.rate:g} s)")
        self.taken += samples.size
        if self.resampler is not None:
            samples = self.resampler.resample_chunk(samples.astype(np.float32), last=False)
        self.received += samples.size
        self.audio = np.concatenate([self.audio, samples.astype(np.float32)])
        complete = self.received // FRAME_LENGTH
        return self._advance(max(self.done, complete - self.lookahead), final=False)

    def finish(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """At the end of the stream: the remaining frames' answer and a summary of it all."""
        if self.resampler is not None:
            tail = self.resampler.resample_chunk(np.zeros(0, np.float32), last=True)
            self.received += tail.size
            self.audio = np.concatenate([self.audio, tail])
        last = self._advance(frame_count(self.received), final=True)
        if self.mode == "window" and not self.windows and self.inputs:
            last["windows"].append(self._window(self.done))
        return last, self.summary()

    def summary(self) -> dict[str, Any]:
        """Means over the stream (regressor), or the mean of the windows' probabilities."""
        names, seconds = self.predictor.label_names, self.received / self.rate
        out = {"type": "summary", "seconds": round(seconds, 3), "frames": self.done}
        if self.mode == "frames" and self.trace:
            out.update(summary(names, False, trace=np.concatenate(self.trace)))
        elif self.mode == "window" and self.windows:
            out.update(summary(names, True, probabilities=np.mean(self.windows, axis=0)))
        return out

    def _frame_inputs(self, end: int, final: bool) -> dict[str, np.ndarray]:
        """Inputs [end - done, ...] of frames done..end (features with their context)."""
        start = max(self.base, self.done - CONTEXT)
        first = (start - self.base) * FRAME_LENGTH
        if final:
            piece = self.audio[first:]
            frames = frame_count(piece.size) if piece.size else 0
        else:
            frames = end + self.lookahead - start
            piece = self.audio[first:first + frames * FRAME_LENGTH]
        out: dict[str, np.ndarray] = {}
        keys = self.predictor.keys
        if "audio" in keys:
            skip = (self.done - start) * FRAME_LENGTH
            pcm = to_pcm_frames(piece[skip:])[: end - self.done]
            out["audio"] = pcm.astype(np.float32) / AUDIO_SCALE
        if "features" in keys:
            out["features"] = frame_features(piece, frames, self.families)[
                self.done - start:end - start]
        # drop audio no later frame's context needs
        keep_from = max(self.base, end - CONTEXT)
        self.audio = self.audio[(keep_from - self.base) * FRAME_LENGTH:]
        self.base = keep_from
        return out

    def _advance(self, end: int, final: bool) -> dict[str, Any]:
        """Compute frames done..end and answer them."""
        start = self.done
        answer: dict[str, Any] = {"type": "frames" if self.mode == "frames" else "windows",
                                  "start": start, "seconds": round(self.received / self.rate, 3)}
        if end <= start:
            if self.mode == "frames":
                answer["values"] = []
            else:
                answer["windows"] = []
            return answer
        inputs = self._frame_inputs(end, final)
        self.done = end
        if self.mode == "frames":
            answer["values"] = self._run_chunk(inputs).tolist()
            return answer
        self.inputs.append(inputs)
        answer["windows"] = []
        while self.done >= self.next_end:
            answer["windows"].append(self._window(self.next_end))
            self.next_end += self.hop
        self._trim()
        return answer

    def _run_chunk(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """serve_chunk on the new frames, with this connection's state."""
        batch = {k: v[None] for k, v in inputs.items()}
        batch["mask"] = np.ones((1, len(next(iter(inputs.values())))), bool)
        out = self.run_chunk({**batch, **self.state})
        self.state = {k: out[k] for k in self.state}
        predictions = out["predictions"][0]
        self.trace.append(predictions)
        return predictions

    def _window(self, end: int) -> dict[str, Any]:
        """The classifier over the `window` frames before frame `end` (all frames if fewer)."""
        joined = {k: np.concatenate([i[k] for i in self.inputs]) for k in self.inputs[0]}
        held = len(next(iter(joined.values())))
        last = held - (self.done - end)
        first = max(0, last - self.window)
        batch = {k: v[None, first:last] for k, v in joined.items()}
        batch["mask"] = np.ones((1, last - first), bool)
        probabilities = self.predictor.forward(batch)[0]
        self.windows.append(probabilities)
        names = self.predictor.label_names
        out = summary(names, True, probabilities=probabilities)
        frame = self.predictor.description.frame_seconds
        return {"start": round((end - (last - first)) * frame, 3), "end": round(end * frame, 3),
                **out}

    def _trim(self) -> None:
        """Keep only the frame inputs a later window can still use."""
        joined = {k: np.concatenate([i[k] for i in self.inputs]) for k in self.inputs[0]}
        self.inputs = [{k: v[-self.window:] for k, v in joined.items()}]
