"""Reader of a generated demo corpus folder: the two views of the same audio.

* categorical: one item per utterance, `label` = its emotion category, one segment spanning the
  file with the transcript and exact word timings;
* continuous: one item per session, its trace = the true arousal/valence (`values`) and the
  simulated annotators' ratings (`ratings`), one segment per utterance in it.

Only the CSV files are read (with tfemo.corpora.tables), so a damaged tree (a deleted WAV, a
truncated labels file) is reported downstream, item by item.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tfemo.core.errors import InputError
from tfemo.corpora.base import (
    CATEGORICAL,
    CONTINUOUS,
    PORTIONS,
    Corpus,
    Item,
    Segment,
    Trace,
    WordTiming,
)
from tfemo.corpora.demo import layout
from tfemo.corpora.demo.layout import DIMENSIONS
from tfemo.corpora.tables import CsvTable, read_csv_table


def read_session_labels(path: str | Path) -> Trace:
    """Read a session's labels CSV: the true trace in `values`, the annotators in `ratings`.

    Raises InputError(path, "bad labels", detail) on an unreadable file, missing columns,
    ragged or non-numeric rows, NaNs, or times that do not increase.
    """
    table = read_csv_table(path)
    time, *dimensions = table.require([layout.TIME_COLUMN, *DIMENSIONS])
    prefix = f"{DIMENSIONS[0]}_"
    raters = tuple(c[len(prefix):] for c in table.header if c.startswith(prefix))
    columns = [table.require([f"{d}_{r}" for r in raters]) for d in DIMENSIONS]
    times = table.times(time)
    values = table.numbers(dimensions).astype(np.float32)
    ratings = None
    if raters:  # [T, dimensions, raters]
        ratings = np.stack([table.numbers(c) for c in columns], axis=1).astype(np.float32)
    return Trace(times=times, values=values, dimensions=DIMENSIONS, source=str(table.path),
                 ratings=ratings, raters=raters)


class _Rows:
    """A metadata table's rows by column name; bad cells are InputErrors naming file and line."""

    def __init__(self, path: Path) -> None:
        self.table: CsvTable = read_csv_table(path, reason="bad metadata",
                                              missing_reason="missing metadata")

    def __iter__(self):
        return iter(zip(self.table.lines, self.table.records(), strict=True))

    def text(self, line_row: tuple[int, dict[str, str]], name: str) -> str:
        line, row = line_row
        if name not in row:
            raise InputError(self.table.path, "bad metadata", f"no column {name!r}")
        return row[name]

    def number(self, line_row: tuple[int, dict[str, str]], name: str) -> float:
        text = self.text(line_row, name)
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not np.isfinite(value):
            raise InputError(self.table.path, "bad metadata",
                             f"line {line_row[0]}: {name}={text!r} is not a finite number")
        return value


class DemoCorpus(Corpus):
    """Reader of a generated demo corpus folder (its layout: tfemo.corpora.demo.layout)."""

    name = "demo"
    language = "eng"
    tasks = (CONTINUOUS, CATEGORICAL)
    default_task = CONTINUOUS

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _rows(self, name: str) -> _Rows:
        return _Rows(self.root / name)

    def _portions(self) -> dict[str, str]:
        rows = self._rows(layout.PARTITION_CSV)
        portions = {rows.text(r, "speaker"): rows.text(r, "portion") for r in rows}
        for speaker, portion in portions.items():
            if portion not in PORTIONS:
                raise InputError(rows.table.path, "bad metadata",
                                 f"speaker {speaker}: portion {portion!r}")
        return portions

    def _portion(self, portions: dict[str, str], speaker: str) -> str:
        if speaker not in portions:
            raise InputError(self.root / layout.PARTITION_CSV, "bad metadata",
                             f"speaker {speaker} has no portion")
        return portions[speaker]

    def _words(self) -> dict[str, tuple[WordTiming, ...]]:
        rows = self._rows(layout.WORDS_CSV)
        words: dict[str, list[tuple[int, WordTiming]]] = {}
        for row in rows:
            timing = WordTiming(rows.text(row, "word"), rows.number(row, "start"),
                                rows.number(row, "end"))
            words.setdefault(rows.text(row, "utterance"), []).append(
                (int(rows.number(row, "index")), timing))
        return {key: tuple(t for _, t in sorted(value, key=lambda p: p[0]))
                for key, value in words.items()}

    def _items_of(self, task: str) -> list[Item]:
        """Utterances (categorical) or sessions (continuous)."""
        return self._utterance_items() if task == CATEGORICAL else self._session_items()

    def _utterance_items(self) -> list[Item]:
        portions, words = self._portions(), self._words()
        rows = self._rows(layout.UTTERANCES_CSV)
        items = []
        for row in rows:
            key, speaker = rows.text(row, "id"), rows.text(row, "speaker")
            segment = Segment(0.0, rows.number(row, "duration"), rows.text(row, "transcript"),
                              words.get(key))
            metadata = {name: rows.text(row, name) for name in
                        ("arousal", "valence", "intensity", "sentence_id", "sentence")}
            items.append(Item(
                id=key, speaker=speaker, corpus=self.name,
                portion=self._portion(portions, speaker),
                audio_path=self.root / rows.text(row, "path"), segments=(segment,),
                label=rows.text(row, "emotion"), language=self.language,
                gender=rows.text(row, "gender"), metadata=metadata))
        return items

    def _session_segments(self) -> dict[str, list[tuple[int, Segment]]]:
        words = self._words()
        utterances = self._rows(layout.UTTERANCES_CSV)
        transcripts = {utterances.text(r, "id"): utterances.text(r, "transcript")
                       for r in utterances}
        rows = self._rows(layout.SEGMENTS_CSV)
        segments: dict[str, list[tuple[int, Segment]]] = {}
        for row in rows:
            key = rows.text(row, "utterance")
            if key not in transcripts:
                raise InputError(rows.table.path, "bad metadata", f"unknown utterance {key}")
            start = rows.number(row, "start")
            shifted = None  # no rows in words.csv: no corpus timings (aligned instead)
            if key in words:
                shifted = tuple(WordTiming(w.word, round(start + w.start, 6),
                                           round(start + w.end, 6)) for w in words[key])
            segment = Segment(start, rows.number(row, "end"), transcripts[key], shifted)
            segments.setdefault(rows.text(row, "session"), []).append(
                (int(rows.number(row, "index")), segment))
        return segments

    def _session_items(self) -> list[Item]:
        portions, segments = self._portions(), self._session_segments()
        rows = self._rows(layout.SESSIONS_CSV)
        items = []
        for row in rows:
            key, speaker = rows.text(row, "session"), rows.text(row, "speaker")
            labels = self.root / rows.text(row, "labels")
            items.append(Item(
                id=key, speaker=speaker, corpus=self.name,
                portion=self._portion(portions, speaker),
                audio_path=self.root / rows.text(row, "path"),
                segments=tuple(s for _, s in sorted(segments.get(key, []), key=lambda p: p[0])),
                load_trace=functools.partial(read_session_labels, labels), label_files=(labels,),
                language=self.language, gender=rows.text(row, "gender"),
                metadata={"duration": rows.text(row, "duration")}))
        return items

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """Category names (categorical, in emotions.csv order) or the trace dimensions."""
        if task == CONTINUOUS:
            return DIMENSIONS
        rows = self._rows(layout.EMOTIONS_CSV)
        return tuple(rows.text(row, "emotion") for row in rows)

    @property
    def rater_names(self) -> tuple[str, ...]:
        """The simulated annotators, in the order of the ratings axis."""
        rows = self._rows(layout.RATERS_CSV)
        return tuple(rows.text(row, "rater") for row in rows)
