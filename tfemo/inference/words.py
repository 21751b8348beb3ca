"""The words of new audio as a model's inputs: a given transcript (aligned), given timed words,
or, when none is given, the words the recogniser hears (tfemo.text.transcription).

A model reads words as frame-aligned vectors (`words` [N, word_dim], semantic fusion) or as
each word's vector once in spoken order (`word_sequence` [W, word_dim] and `word_mask` [W],
the multimodal classifier), built as the records build them. The words themselves travel in
the inputs under `SAID` (not a model input), so that the result can report them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.audio import FRAME_SECONDS
from tfemo.core.errors import InputError
from tfemo.corpora.base import WordTiming
from tfemo.records.example import word_vector_sequence
from tfemo.text.transcripts import Transcript

WORD_KEYS = ("words", "word_sequence", "word_mask")
SAID = "said"  # the inputs' entry holding the `Said` words of the file (not a model input)
WORD_FRAME = "word_frame"  # the frame each word of `word_sequence` starts in (for chunks)


@dataclass(frozen=True)
class Said:
    """The words a file's prediction used, and where they came from."""

    words: tuple[WordTiming, ...]
    source: str  # "transcript" (aligned here), "timed" (the caller's times), "asr"

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)

    def as_json(self) -> dict[str, Any]:
        """The response's `transcript`: its source, text and timed words."""
        return {"source": self.source, "text": self.text,
                "words": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)}
                          for w in self.words]}


class WordInputs:
    """Words -> the word inputs of one model (its keys, word size, vectors and alignment)."""

    def __init__(self, keys: tuple[str, ...], word_dim: int, embeddings: str, alignment: str,
                 alignment_seconds: float | None, language: str) -> None:
        self.keys = keys
        self.word_dim = word_dim
        self.embeddings = embeddings
        self.alignment = alignment
        self.alignment_seconds = alignment_seconds
        self.language = language
        self._vectors = None

    def said(self, audio: np.ndarray, source: str, transcript: str | Transcript) -> Said:
        """The file's words: the given timed words, the given text aligned, or recognised."""
        if isinstance(transcript, Transcript):
            if transcript.words is not None:
                return Said(tuple(transcript.words), transcript.source or "timed")
            transcript = transcript.text
        if transcript.strip():
            return Said(tuple(self._aligned(audio, source, transcript)), "transcript")
        from tfemo.text.transcription import recognise

        return Said(tuple(recognise(audio, source, self.language)), "asr")

    def said_in_file(self, path: Path, transcript: str | Transcript) -> Said:
        """As `said` for a file read block by block (a given transcript: timed, or aligned
        window by window), never holding the whole audio."""
        from tfemo.audio.io import audio_blocks

        if isinstance(transcript, Transcript):
            if transcript.words is not None:
                return Said(tuple(transcript.words), transcript.source or "timed")
            transcript = transcript.text
        source = str(path)
        words = self._words(transcript, source)
        return Said(tuple(self._in_windows(lambda: audio_blocks(path), words, source)),
                    "transcript")

    def _in_windows(self, blocks: Callable[[], Iterable[np.ndarray]], words: Sequence[str],
                    source: str) -> list[WordTiming]:
        """`words` aligned window by window over the audio `blocks()` yields (called twice:
        the speech profile, then the windows), in bounded memory."""
        from tfemo.text.piecewise_alignment import (
            AudioCursor,
            align_piecewise,
            energy_profile,
            speech_frames,
        )

        energy, total = energy_profile(blocks())
        return align_piecewise(AudioCursor(blocks()), total, speech_frames(energy), words,
                               self._window_aligner(source), source)

    @staticmethod
    def _words(transcript: str, source: str) -> list[str]:
        from tfemo.text.tokens import tokenize

        words = tokenize(transcript)
        if not words:
            raise InputError(source, "empty transcript", "no words in the transcript")
        return words

    def _window_aligner(self, source: str) -> Callable[[np.ndarray, Sequence[str], float],
                                                       list[WordTiming]]:
        """(audio, words, offset) -> word times, by the chosen aligner (aeneas in a child
        killed after `alignment_seconds` when set)."""
        def align(audio: np.ndarray, words: Sequence[str], offset: float) -> list[WordTiming]:
            # imported here: aeneas (~50 MB) stays out of a process whose child aligns
            if self.alignment == "uniform":
                from tfemo.text.alignment import align_uniform

                timings = align_uniform(audio, words, source)
            elif self.alignment_seconds is not None:
                from tfemo.text.timed_alignment import align_aeneas_within

                timings = align_aeneas_within(audio, words, self.language, source,
                                              self.alignment_seconds)
            else:
                from tfemo.text.alignment import align_aeneas

                timings = align_aeneas(audio, words, self.language, source)
            return [WordTiming(w.word, w.start + offset, w.end + offset) for w in timings]

        return align

    def _aligned(self, audio: np.ndarray, source: str, transcript: str) -> list[WordTiming]:
        """The transcript's words aligned to `audio`: in one call up to WINDOW_SECONDS,
        window by window beyond (tfemo.text.piecewise_alignment: bounded memory)."""
        from tfemo.audio import SAMPLE_RATE
        from tfemo.text.piecewise_alignment import WINDOW_SECONDS

        words = self._words(transcript, source)
        if len(audio) <= WINDOW_SECONDS * SAMPLE_RATE:
            return self._window_aligner(source)(audio, words, 0.0)
        blocks = [audio[i:i + SAMPLE_RATE * 10] for i in range(0, len(audio), SAMPLE_RATE * 10)]
        return self._in_windows(lambda: blocks, words, source)

    def _word_vectors(self) -> Any:
        """The word-vector lookup, loaded on first use (once per predictor)."""
        from tfemo.text.embeddings import load_word_vectors

        if self._vectors is None:
            self._vectors = load_word_vectors(self.embeddings)
        return self._vectors

    @staticmethod
    def _lookup_forms(said: Said) -> list[WordTiming]:
        """The lookup form of each word, as the records have it (recognisers write "don't")."""
        from tfemo.text.tokens import tokenize

        words = [WordTiming(" ".join(tokenize(w.word)), w.start, w.end) for w in said.words]
        return [w for w in words if w.word]

    def on_chunks(self, chunks: Iterable[dict[str, np.ndarray]], said: Said,
                  chunk_frames: int) -> Iterator[dict[str, np.ndarray]]:
        """Each chunk of a file read chunk by chunk (chunk k: frames from k * chunk_frames)
        with its word inputs, as `chunks` cuts those of the whole file: `words` per frame,
        and the words starting in it as `word_sequence` and `word_mask`."""
        from tfemo.text.embeddings import vector_table
        from tfemo.text.frames import word_vectors_on_frames

        words = sorted(self._lookup_forms(said), key=lambda w: w.start)
        vectors = self._word_vectors()
        first_frames = np.array([int(w.start / FRAME_SECONDS) for w in words], np.int64)
        for k, chunk in enumerate(chunks):
            start, size = k * chunk_frames, len(chunk["audio"])
            begin, end = start * FRAME_SECONDS, (start + size) * FRAME_SECONDS
            near = [w for w in words if w.end > begin and w.start < end]
            table = vector_table([w.word for w in near], vectors)[0]
            out = dict(chunk)
            if "words" in self.keys:
                shifted = [WordTiming(w.word, w.start - begin, w.end - begin) for w in near]
                out["words"] = word_vectors_on_frames(shifted, table, size, self.word_dim,
                                                      FRAME_SECONDS)
            if "word_sequence" in self.keys:
                starting = [w for w, f in zip(words, first_frames, strict=True)
                            if start <= f < start + size]
                if starting:
                    table = vector_table([w.word for w in starting], vectors)[0]
                    out["word_sequence"] = word_vector_sequence(starting, table, self.word_dim)
                    out["word_mask"] = np.ones(len(starting), bool)
                else:  # as `chunks`: one padded word the model masks out
                    out["word_sequence"] = np.zeros((1, self.word_dim), np.float32)
                    out["word_mask"] = np.zeros(1, bool)
            yield out

    def arrays(self, said: Said, num_frames: int) -> dict[str, Any]:
        """The model's word inputs of `said` on `num_frames` frames, and `said` itself."""
        from tfemo.text.embeddings import vector_table
        from tfemo.text.frames import word_vectors_on_frames

        words = self._lookup_forms(said)
        vectors = self._word_vectors()
        table = vector_table([w.word for w in words], vectors)[0]
        out: dict[str, Any] = {SAID: said}
        if "words" in self.keys:
            out["words"] = word_vectors_on_frames(words, table, num_frames, self.word_dim,
                                                  FRAME_SECONDS)
        if "word_sequence" in self.keys:
            ordered = sorted(words, key=lambda w: w.start)
            out["word_sequence"] = word_vector_sequence(ordered, table, self.word_dim)
            out[WORD_FRAME] = np.array([min(int(w.start / FRAME_SECONDS), max(num_frames - 1, 0))
                                        for w in ordered], np.int64)
        return out


def chunks(inputs: dict[str, Any], chunk_frames: int) -> Iterator[dict[str, np.ndarray]]:
    """A file's inputs chunk by chunk: per-frame arrays sliced, and each chunk's words (those
    starting in it) as `word_sequence` with its `word_mask` (one masked row when none)."""
    frames = len(inputs["audio"])
    per_frame = {k: v for k, v in inputs.items()
                 if k not in (SAID, WORD_FRAME, "word_sequence", "word_mask")}
    for start in range(0, frames, chunk_frames):
        chunk = {k: v[start:start + chunk_frames] for k, v in per_frame.items()}
        if "word_sequence" in inputs:
            sequence = inputs["word_sequence"]
            inside = (inputs[WORD_FRAME] >= start) & (inputs[WORD_FRAME] < start + chunk_frames)
            words = sequence[inside]
            mask = np.ones(len(words), bool)
            if not len(words):  # a chunk without words: one padded word the model masks out
                words, mask = np.zeros((1, sequence.shape[1]), np.float32), np.zeros(1, bool)
            chunk["word_sequence"], chunk["word_mask"] = words, mask
        yield chunk
