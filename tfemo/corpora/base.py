"""The reader contract (`Corpus`) and the common records every reader yields (`Item`, ...)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from tfemo.core.errors import TfemoError
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


class TaskError(TfemoError, ValueError):
    """A task that the corpus does not have (a ValueError too, as the readers raised before)."""


def split_portions(split: Mapping[str, Sequence[Any]], known: Sequence[Any] | None,
                   corpus: str, unit: str = "speaker", lower: bool = False) -> dict[Any, str]:
    """Unit (speaker, word) -> portion; refuse unknown portions or units (if `known`), overlaps."""
    portions: dict[Any, str] = {}
    for portion, names in split.items():
        if portion not in PORTIONS:
            raise ValueError(f"{corpus} split: unknown portion {portion!r} (use {PORTIONS})")
        if isinstance(names, str):
            raise ValueError(f"{corpus} split: portion {portion!r} needs a list of {unit}s")
        for name in (n.lower() for n in names) if lower else names:
            if known is not None and name not in known:
                raise ValueError(f"{corpus} split: unknown {unit} {name!r} in {portion!r}; "
                                 f"known: {', '.join(map(str, known))}")
            if portions.get(name, portion) != portion:
                raise ValueError(f"{corpus} split: {unit} {name!r} is in both "
                                 f"{portions[name]!r} and {portion!r}")
            portions[name] = portion
    return portions


class Corpus(ABC):
    """The reader contract: everything callers use, and the behaviour all readers share.

    A reader declares `name`, `language`, `tasks`, `default_task`, `speaker_independent`
    (False when its portions cannot keep speakers apart: then no overlap check applies),
    `default_split` (portion -> speakers, words or sessions; empty when the portions come from
    the corpus's own files) and, for rated corpora, `rater_names`. It implements `_items_of`
    and `_label_names_of` for a task it has; `items` and `label_names` guard the task, and
    `items` resets `ignored`, which `skip` fills with the files it left out and why.
    """

    name: str
    title: str = ""  # how split errors name the corpus ("EMO-DB"); default: `name`
    language: str = "eng"
    tasks: tuple[str, ...]
    default_task: str
    speaker_independent: bool = True
    default_split: Mapping[str, tuple[Any, ...]] = MappingProxyType({})

    @property
    def rater_names(self) -> tuple[str, ...]:
        """The annotators, in the order of the ratings axis of the traces (none: no ratings)."""
        return ()

    @property
    def ignored(self) -> list[tuple[Path, str]]:
        """The files the last `items` call skipped, each with the reason."""
        return self.__dict__.setdefault("_ignored", [])

    def skip(self, path: Path, reason: str) -> None:
        """Leave a file out of the items, saying why (listed in `ignored`)."""
        self.ignored.append((Path(path), reason))

    def describe(self) -> str:
        """The corpus's name as messages write it."""
        return self.title or self.name

    def check_task(self, task: str | None = None) -> str:
        """`task`, or the default task when None; TaskError if the corpus has no such task."""
        task = self.default_task if task is None else task
        if task not in self.tasks:
            raise TaskError(f"corpus {self.name} has no {task} task "
                            f"(it has: {', '.join(str(t) for t in self.tasks)})")
        return task

    def items(self, task: str | None = None) -> list[Item]:
        """All items of the corpus for `task` (default: its own), sorted by id, with portions."""
        task = self.check_task(task)
        self.__dict__["_ignored"] = []
        return sorted(self._items_of(task), key=lambda item: item.id)

    def label_names(self, task: str | None = None) -> tuple[str, ...]:
        """Class names (categorical) or label dimensions (continuous), in index order."""
        return tuple(self._label_names_of(self.check_task(task)))

    def _use_split(self, split: Mapping[str, Sequence[Any]] | None,
                   known: Sequence[Any] | None, unit: str = "speaker",
                   lower: bool = False) -> dict[Any, str]:
        """Set `split` (the given one or `default_split`); return unit -> portion, checked."""
        chosen = self.default_split if split is None else split
        self.split = {portion: tuple(units) for portion, units in chosen.items()}
        return split_portions(self.split, known, self.describe(), unit, lower)

    @abstractmethod
    def _items_of(self, task: str) -> list[Item]:
        """The items of a task the corpus has (the task is checked already)."""

    @abstractmethod
    def _label_names_of(self, task: str) -> Sequence[str]:
        """The label names of a task the corpus has (the task is checked already)."""
