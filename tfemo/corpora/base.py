"""The common records every corpus reader yields; the rest of tfemo sees only these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from tfemo.core.tasks import Task

CONTINUOUS = Task.CONTINUOUS
CATEGORICAL = Task.CATEGORICAL
TASKS = tuple(Task)
PORTIONS = ("train", "devel", "test")


@dataclass(frozen=True)
class WordTiming:
    """A word and where it is spoken, in seconds from the start of the item's audio."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech inside an item, with its transcript and, if known, word timings.

    Times are seconds from the start of the item's audio. An utterance is one segment that
    spans the whole file; a recording has one segment per spoken turn.
    """

    start: float
    end: float
    transcript: str
    words: tuple[WordTiming, ...] | None = None


@dataclass(frozen=True)
class Trace:
    """Continuous labels of an item: `values[t, d]` at `times[t]` seconds.

    `ratings[t, d, r]` holds the individual annotators' ratings when the corpus has them.
    `source` is the file the trace was read from (for error messages).
    """

    times: np.ndarray
    values: np.ndarray
    dimensions: tuple[str, ...]
    source: str
    ratings: np.ndarray | None = None
    raters: tuple[str, ...] = ()


@dataclass(frozen=True)
class Item:
    """One unit of a corpus that becomes one SequenceExample: an utterance or a recording.

    `load_trace` is a picklable callable (a module-level function or a functools.partial of
    one) that reads the continuous labels; it is called in the worker so that a bad label
    file is reported and skipped like any other bad input. `label_files` names the files it
    reads, so that a changed label file is noticed when records are made again.
    """

    id: str
    speaker: str
    corpus: str
    portion: str
    audio_path: Path
    segments: tuple[Segment, ...] = ()
    label: str | None = None
    load_trace: Callable[[], Trace] | None = None
    label_files: tuple[Path, ...] = ()
    language: str = "eng"
    gender: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class Corpus(Protocol):
    """What every corpus reader offers: its items per task and the names of its labels."""

    name: str
    language: str
    tasks: tuple[str, ...]
    default_task: str

    def items(self, task: str) -> list[Item]:
        """All items of the corpus for `task`, sorted by id, with their portion set."""
        ...

    def label_names(self, task: str) -> tuple[str, ...]:
        """Class names (categorical) or label dimensions (continuous), in index order."""
        ...
