"""Turn one corpus item into the per-frame arrays of one SequenceExample.

Runs in worker processes: load audio -> frames, hand-crafted features on the same frames, word
timings (corpus, aeneas or uniform) -> word vectors on frames and the word sequence (each word's
vector once, in spoken order), labels on frames. Every bad input
becomes an InputError naming the file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.frames import check_finite_features, frame_features
from tfemo.audio.io import load_audio, to_pcm_frames
from tfemo.core.errors import InputError
from tfemo.corpora.base import Item, Trace, WordTiming
from tfemo.labels.traces import load_item_trace, trace_on_frames
from tfemo.records.description import RunningStats
from tfemo.records.schema import ExampleArrays, serialize
from tfemo.text.alignment import align_aeneas, align_uniform
from tfemo.text.frames import word_vectors_on_frames
from tfemo.text.tokens import tokenize

ALIGNMENTS = ("auto", "corpus", "aeneas", "uniform")
# bump whenever the arrays built from the same inputs change (features too); v5: word_sequence
EXAMPLE_VERSION = 5


@dataclass(frozen=True)
class BuildOptions:
    """How items become examples; the same for every item of a run."""

    task: str
    alignment: str = "auto"
    class_names: tuple[str, ...] = ()
    word_dim: int = 0
    dimensions: tuple[str, ...] = ()  # continuous label dimensions every trace must have
    raters: tuple[str, ...] = ()  # annotators every trace must have, in this order
    features: tuple[str, ...] = ()  # hand-crafted feature families, concatenated in this order


@dataclass
class BuildResult:
    """One built example with what the run summary and the train statistics need."""

    example: ExampleArrays | None
    num_frames: int
    seconds: float
    words: list[str]
    label_stats: RunningStats | None
    audio_stats: RunningStats
    alignment: str
    feature_stats: RunningStats | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)


def normalise_word(word: str) -> str | None:
    """The lookup form of a corpus-provided word (as `tokenize` gives it), or None."""
    tokens = tokenize(word)
    return " ".join(tokens) if tokens else None


def item_words(item: Item, alignment: str) -> list[str]:
    """Every word of an item in lookup form (the vocabulary the run needs vectors for)."""
    words: list[str] = []
    for segment in item.segments:
        if _use_corpus_timings(segment.words, alignment):
            words.extend(w for w in (normalise_word(t.word) for t in segment.words) if w)
        else:
            words.extend(tokenize(segment.transcript))
    return words


def build_example(item: Item, options: BuildOptions,
                  vectors: Mapping[str, np.ndarray]) -> BuildResult:
    """Load, frame, align, embed and label one item."""
    stages: dict[str, float] = {}
    started = time.perf_counter()
    audio = load_audio(item.audio_path)
    pcm = to_pcm_frames(audio, FRAME_LENGTH)
    num_frames, seconds = len(pcm), len(audio) / SAMPLE_RATE
    stages["load"] = time.perf_counter() - started

    features = feature_stats = None
    if options.features:
        started = time.perf_counter()
        features = frame_features(audio, num_frames, options.features)
        check_finite_features(features, item.audio_path, audio)
        feature_stats = RunningStats.of(features)
        stages["features"] = time.perf_counter() - started

    words_on_frames, word_sequence, used = None, None, "none"
    timings: list[WordTiming] = []
    if options.word_dim:
        started = time.perf_counter()
        timings, used = _word_timings(item, audio, options.alignment)
        stages["align"] = time.perf_counter() - started
        started = time.perf_counter()
        words_on_frames = word_vectors_on_frames(timings, vectors, num_frames, options.word_dim,
                                                 FRAME_SECONDS)
        word_sequence = word_vector_sequence(timings, vectors, options.word_dim)
        stages["embed"] = time.perf_counter() - started

    labels = ratings = None
    label_stats = None
    label_index = -1
    started = time.perf_counter()
    if item.load_trace is not None:
        trace = load_item_trace(item)
        _check_trace_names(trace, options)
        labels, ratings = trace_on_frames(trace, num_frames, FRAME_SECONDS, seconds)
        label_stats = RunningStats.of(labels)
    if options.class_names:
        if item.label not in options.class_names:
            raise InputError(item.audio_path, "unknown label",
                             f"{item.label!r} is not one of {', '.join(options.class_names)}")
        label_index = options.class_names.index(item.label)
    stages["labels"] = time.perf_counter() - started

    example = ExampleArrays(
        id=item.id, speaker=item.speaker, corpus=item.corpus, portion=item.portion,
        sample_rate=SAMPLE_RATE, audio=pcm, words=words_on_frames, labels=labels,
        ratings=ratings, label=label_index, gender=item.gender or "", features=features,
        word_sequence=word_sequence,
    )
    return BuildResult(example, num_frames, seconds, [t.word for t in timings], label_stats,
                       RunningStats.of(audio.reshape(-1, 1)), used, feature_stats, stages)


def build_serialized(item: Item, options: BuildOptions,
                     vectors: Mapping[str, np.ndarray]) -> tuple[bytes, BuildResult] | InputError:
    """One item's serialized example and build result, or its InputError (every runner)."""
    try:
        result = build_example(item, options, vectors)
    except InputError as error:
        return error
    started = time.perf_counter()
    data = serialize(result.example)
    result.stage_seconds["serialize"] = time.perf_counter() - started
    result.example = None  # the arrays travel serialized only
    return data, result


def word_vector_sequence(timings: list[WordTiming], vectors: Mapping[str, np.ndarray],
                         dim: int) -> np.ndarray:
    """Each word's vector once, in spoken order (by start time, ties in transcript order):
    float32 [W, dim], the text input that does not depend on how long a word lasts."""
    ordered = sorted(range(len(timings)), key=lambda k: (timings[k].start, k))
    if not ordered:
        return np.zeros((0, dim), np.float32)
    return np.stack([np.asarray(vectors[timings[k].word], np.float32) for k in ordered])


def _check_trace_names(trace: Trace, options: BuildOptions) -> None:
    """The trace must have the run's dimensions and raters, in the same order."""
    if options.dimensions and tuple(trace.dimensions) != options.dimensions:
        raise InputError(trace.source, "bad labels",
                         f"dimensions {', '.join(trace.dimensions)}; expected "
                         f"{', '.join(options.dimensions)}")
    if tuple(trace.raters) != options.raters:
        raise InputError(trace.source, "bad labels",
                         f"raters {', '.join(trace.raters) or 'none'}; expected "
                         f"{', '.join(options.raters) or 'none'}")


def _use_corpus_timings(words: tuple[WordTiming, ...] | None, alignment: str) -> bool:
    """Whether a segment's own word timings are used under the chosen alignment mode."""
    return words is not None and alignment in ("auto", "corpus")


def _word_timings(item: Item, audio: np.ndarray, alignment: str) -> tuple[list[WordTiming], str]:
    """Word timings of every segment in item time, and which method gave them."""
    if not item.segments:
        raise InputError(item.audio_path, "empty transcript", "the item has no transcript")
    timings: list[WordTiming] = []
    methods = set()
    for segment in item.segments:
        if _use_corpus_timings(segment.words, alignment):
            timings.extend(WordTiming(w, t.start, t.end) for t in segment.words
                           if (w := normalise_word(t.word)))
            methods.add("corpus")
            continue
        if alignment == "corpus":
            raise InputError(item.audio_path, "no word timings",
                             "--alignment corpus, but the corpus gives no word timings here")
        words = tokenize(segment.transcript)
        if not words:
            raise InputError(item.audio_path, "empty transcript",
                             f"no words in the transcript of "
                             f"{segment.start:.2f}-{segment.end:.2f} s")
        if not (np.isfinite(segment.start) and np.isfinite(segment.end)):
            raise InputError(item.audio_path, "bad transcript",
                             f"a segment's times are {segment.start}-{segment.end} s")
        first = max(0, int(round(segment.start * SAMPLE_RATE)))
        last = min(len(audio), int(round(segment.end * SAMPLE_RATE)))
        if last <= first:
            raise InputError(item.audio_path, "alignment failed",
                             f"segment {segment.start:.2f}-{segment.end:.2f} s lies outside the "
                             f"audio ({len(audio) / SAMPLE_RATE:.2f} s)")
        piece = audio[first:last]
        if alignment == "uniform":
            timings.extend(align_uniform(piece, words, str(item.audio_path), first / SAMPLE_RATE))
            methods.add("uniform")
        else:
            timings.extend(align_aeneas(piece, words, item.language, str(item.audio_path),
                                        first / SAMPLE_RATE))
            methods.add("aeneas")
    return timings, "+".join(sorted(methods))
