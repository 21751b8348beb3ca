"""Raw continuous annotations in the MuSe-Toolbox input layout: one CSV per recording and dimension.

MuSe-Toolbox (Stappen et al., 2021; github.com/lstappen/MuSe-Toolbox) fuses raw annotations
into gold standards. Its `gold_standard` module reads ``<input>/<dimension>/*.csv``: a time
column (named by its ``--ts`` flag, default ``timeStamp``; the example files call it
``timestamp``) and one column per annotator, named by the annotator's id (e.g. ``1,2,3``).
The example files hold the time in milliseconds (``500,1000,...``: 2 Hz), which is the default
here (`time_unit="ms"`; `time_unit="s"` for seconds). Raw values are on the annotation tool's
own scale (not necessarily [-1, 1]).

Layout (`root` = the input folder)
    <root>/<dimension>/<recording>.csv      timeStamp (or timestamp, time), <rater ids...>
    <root>/partition.csv                    optional ``id,partition`` (also looked for in
                                            ``metadata/`` and ``../metadata/``, as in the
                                            toolbox's examples); without it, every item is
                                            in portion "train"
    <audio_dir>/<recording>.wav             optional audio (default ``<root>/audio``)

Dimensions are the sub-folders holding CSV files, arousal and valence first, then the others
by name. Every recording needs a file in every dimension folder, each with the same times and
the same rater ids (in any column order; the first dimension's order is kept). MuSe-Toolbox
drops the rows where any rater is missing; this reader refuses them instead, so that nothing
is silently cut: a NaN or empty cell, a rater column that stops before the others (raters of
different lengths), or dimension files of different lengths raise InputError naming the file.
Different recordings may have different raters.

The Trace of a recording: times in seconds, `ratings` [T, D, R], `raters` the ids, and
`values` = the raters' plain mean (the layout has no gold standard of its own).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from tfemo.core.errors import InputError
from tfemo.corpora.base import CONTINUOUS, Corpus, Item, Trace
from tfemo.corpora.musecar import read_partition
from tfemo.corpora.tables import CsvTable, read_csv_table

TIME_NAMES = ("timeStamp", "timestamp", "time")
TIME_UNITS = {"ms": 1000.0, "s": 1.0}
PREFERRED_DIMENSIONS = ("arousal", "valence")
DEFAULT_PORTION = "train"
_TIME_TOLERANCE = 1e-6


def _rater_table(path: Path, time_unit: str) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    """Read one dimension file: times (s) [T], rater ids (R) and ratings [T, R]."""
    table: CsvTable = read_csv_table(path)
    time_column = table.find(*TIME_NAMES)
    if time_column is None:
        raise InputError(path, "bad labels", f"no time column (one of {list(TIME_NAMES)}); "
                                             f"the header has {list(table.header)}")
    raters = tuple(h for k, h in enumerate(table.header) if k != time_column)
    if len(raters) < 1:
        raise InputError(path, "bad labels", "no rater columns beside the time column")
    if len(set(raters)) != len(raters) or "" in raters:
        raise InputError(path, "bad labels", f"rater ids must be unique and named: {raters}")
    columns = [k for k in range(len(table.header)) if k != time_column]
    for column in columns:
        cells = table.text(column)
        empty = [k for k, cell in enumerate(cells) if cell == "" or cell.lower() == "nan"]
        if not empty:
            continue
        name = table.header[column]
        if empty == list(range(empty[0], len(cells))):
            raise InputError(path, "bad labels",
                             f"rater {name} has no values from line {table.lines[empty[0]]} "
                             f"to the end ({len(empty)} of {len(cells)} rows): raters of "
                             f"different lengths")
        raise InputError(path, "bad labels",
                         f"rater {name} has {len(empty)} missing (empty or NaN) values, the "
                         f"first at line {table.lines[empty[0]]}")
    times = table.times(time_column) / TIME_UNITS[time_unit]
    return times, raters, table.numbers(columns)


def read_recording(paths: tuple[Path, ...], dimensions: tuple[str, ...],
                   time_unit: str = "ms") -> Trace:
    """The trace of one recording from its file per dimension (module level: picklable)."""
    times, raters, first = _rater_table(paths[0], time_unit)
    parts = [first]
    for path in paths[1:]:
        other_times, other_raters, ratings = _rater_table(path, time_unit)
        if len(other_times) != len(times):
            raise InputError(path, "bad labels", f"{len(other_times)} rows, but {paths[0]} "
                                                 f"has {len(times)}")
        differ = np.abs(other_times - times) > _TIME_TOLERANCE
        if differ.any():
            row = int(np.argmax(differ))
            raise InputError(path, "bad labels", f"row {row + 1} is at {other_times[row]:g} s, "
                                                 f"but in {paths[0]} at {times[row]:g} s")
        if sorted(other_raters) != sorted(raters):
            raise InputError(path, "bad labels", f"raters {list(other_raters)}, but {paths[0]} "
                                                 f"has {list(raters)}")
        parts.append(ratings[:, [other_raters.index(r) for r in raters]])
    ratings = np.stack(parts, axis=1)  # [T, D, R]
    return Trace(times=times, values=ratings.mean(axis=2).astype(np.float32),
                 dimensions=dimensions, source=str(paths[0]),
                 ratings=ratings.astype(np.float32), raters=raters)


def _dimension_order(names: list[str]) -> tuple[str, ...]:
    first = [d for d in PREFERRED_DIMENSIONS if d in names]
    return (*first, *sorted(n for n in names if n not in first))


class MuseToolboxCorpus(Corpus):
    """Reader of raw annotations in the MuSe-Toolbox layout (module docstring).

    `rater_names` is empty: recordings may have different raters, so records get no ratings
    axis (each trace still carries its own raters for the gold-standard tools).
    """

    name = "musetoolbox"
    title = "MuSe-Toolbox"
    language = "und"
    tasks = (CONTINUOUS,)
    default_task = CONTINUOUS
    speaker_independent = False  # no speaker ids: each recording is its own speaker

    def __init__(self, root: str | Path, *, audio_dir: str | Path | None = None,
                 time_unit: str = "ms", partition_file: str | Path | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "missing corpus", "folder not found")
        if time_unit not in TIME_UNITS:
            raise ValueError(f"time_unit must be one of {sorted(TIME_UNITS)}, not {time_unit!r}")
        self.time_unit = time_unit
        self.audio_dir = Path(audio_dir) if audio_dir is not None else self.root / "audio"
        folders = [p.name for p in self.root.iterdir() if p.is_dir()
                   and not p.name.startswith(".") and any(p.glob("*.csv"))]
        self.dimensions = _dimension_order(folders)
        if not self.dimensions:
            raise InputError(self.root, "missing corpus",
                             "no <dimension>/<recording>.csv files (e.g. arousal/1.csv)")
        stems = set()
        for dimension in self.dimensions:
            stems |= {p.stem for p in (self.root / dimension).glob("*.csv")
                      if not p.name.startswith(".")}
        self._recordings = tuple(sorted(stems))
        partition = Path(partition_file) if partition_file else self._find_partition()
        self.partition_file = partition
        self.portions = read_partition(partition) if partition is not None else {}

    def _find_partition(self) -> Path | None:
        candidates = (self.root / "partition.csv", self.root / "metadata" / "partition.csv",
                      self.root.parent / "metadata" / "partition.csv")
        return next((p for p in candidates if p.is_file()), None)

    def recordings(self) -> list[str]:
        """The recording ids (file stems over all dimension folders), sorted."""
        return list(self._recordings)

    def label_files(self, recording: str) -> tuple[Path, ...]:
        """The file of a recording in each dimension folder (DIMENSIONS order)."""
        return tuple(self.root / d / f"{recording}.csv" for d in self.dimensions)

    def read_recording_trace(self, recording: str) -> Trace:
        """The ratings of a recording, without audio."""
        return read_recording(self.label_files(recording), self.dimensions, self.time_unit)

    def _items_of(self, task: str) -> list[Item]:
        """One item per recording; the audio is <audio_dir>/<id>.wav (if any)."""
        items = []
        for recording in self._recordings:
            files = self.label_files(recording)
            items.append(Item(
                id=recording, speaker=recording, corpus=self.name,
                portion=self.portions.get(recording, DEFAULT_PORTION),
                audio_path=self.audio_dir / f"{recording}.wav",
                load_trace=functools.partial(read_recording, files, self.dimensions,
                                             self.time_unit),
                label_files=files, language=self.language))
        return items

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """The dimensions: the sub-folders holding CSV files."""
        return self.dimensions
