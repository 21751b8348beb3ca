"""A WebSocket stream for a model that reads words: audio in, the words heard so far out, and
at the end the words of the whole utterance and the model's answer over it.

A model that reads words needs them for every frame it answers, and the words of the end of a
stream are not known until it ends, so such a stream answers once, at its end, as an upload of
the same audio is answered (the recogniser's words of the whole audio, tfemo.inference.words).
While the audio comes, each message gets the live hypothesis of an incremental decoder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soxr

from tfemo.audio import SAMPLE_RATE
from tfemo.core.errors import InputError
from tfemo.inference.predictor import Predictor
from tfemo.service.errors import ApiError, from_input_error
from tfemo.service.results import file_result, summary
from tfemo.service.streaming import StreamSession
from tfemo.text.transcription import StreamRecogniser
from tfemo.text.transcripts import Transcript

UTTERANCE = "utterance"
STREAM_NAME = "stream"


class UtteranceSession:
    """One connection's recogniser and audio (nothing shared with other streams)."""

    mode = UTTERANCE

    def __init__(self, predictor: Predictor, max_seconds: float,
                 input_rate: int = SAMPLE_RATE) -> None:
        self.predictor = predictor
        self.rate = predictor.description.sample_rate
        self.input_rate = input_rate
        self.resampler = (None if input_rate == self.rate else
                          soxr.ResampleStream(input_rate, self.rate, 1, dtype="float32",
                                              quality="HQ"))
        self.max_input = int(max_seconds * input_rate)
        self.max_seconds = max_seconds
        self.taken = 0
        try:
            self.recogniser = StreamRecogniser(STREAM_NAME, predictor.language)
        except InputError as error:
            raise ApiError(400, "stream unsupported", error.detail) from None

    def hello(self) -> dict[str, Any]:
        """The first message: what the stream answers."""
        description = self.predictor.description
        return {"type": "ready", "mode": self.mode, "task": description.task,
                "labels": list(self.predictor.label_names), "sample_rate": self.input_rate,
                "frame_seconds": description.frame_seconds, "format": "pcm_s16le mono"}

    def feed(self, samples: np.ndarray) -> dict[str, Any]:
        """Take a chunk of samples; answer with the words heard so far (they may change)."""
        if not np.isfinite(samples).all():
            raise ApiError(400, "non-finite audio", "the chunk has NaN or infinite samples")
        if self.taken + samples.size > self.max_input:
            raise ApiError(413, "stream too long", f"more than --max_seconds "
                                                   f"({self.max_seconds:g} s)")
        self.taken += samples.size
        samples = samples.astype(np.float32)
        if self.resampler is not None:
            samples = self.resampler.resample_chunk(samples, last=False)
        text = self.recogniser.feed(samples)
        return {"type": "words", "seconds": round(self.taken / self.input_rate, 3),
                "text": text, "final": False}

    def finish(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """At the end: the result over the whole utterance (with its words) and a summary."""
        if self.resampler is not None:
            self.recogniser.feed(self.resampler.resample_chunk(np.zeros(0, np.float32),
                                                               last=True))
        audio = self.recogniser.audio()
        predictor = self.predictor
        try:
            words = self.recogniser.finish()
            text = " ".join(w.word for w in words)
            inputs = predictor.inputs_from_audio(audio, STREAM_NAME,
                                                 Transcript(text, tuple(words), "asr"))
            result = predictor.run(Path(STREAM_NAME), inputs)
        except InputError as error:
            raise from_input_error(error) from None
        names, categorical = predictor.label_names, predictor.categorical
        answer = file_result(result, names, categorical, predictor.description.frame_seconds)
        total = {"type": "summary", "seconds": round(result.seconds, 3), "frames": result.frames,
                 "transcript": answer["transcript"],
                 **summary(names, categorical, result.probabilities, result.trace)}
        return {"type": "result", **answer}, total


def open_session(predictor: Predictor, max_seconds: float, window_seconds: float,
                 hop_seconds: float, run_chunk=None, input_rate: int = SAMPLE_RATE
                 ) -> StreamSession | UtteranceSession:
    """The stream of a model that reads words (one answer per utterance), else frames or
    windows (tfemo.service.streaming)."""
    if predictor.reads_words:
        return UtteranceSession(predictor, max_seconds, input_rate)
    return StreamSession(predictor, max_seconds, window_seconds, hop_seconds, run_chunk,
                         input_rate)
