"""CSV manifests: anyone's data as tfemo items, without writing a corpus reader.

A manifest is a CSV file (comma, semicolon or tab separated; the header decides) with one row
per item. Paths are absolute or relative to the manifest's folder. Column names are matched
without regard to case or surrounding spaces.

Categorical task: ``path, speaker, label[, transcript][, portion][, gender]``
    One item per row; the class names are the sorted unique labels, unless `classes` fixes
    their order (then every label must be one of them).

Continuous task: ``path, speaker, labels[, transcript][, portion][, gender]``
    `labels` names a label CSV per file: a ``time`` column (seconds, increasing; a label holds
    until the next label time), one column per dimension (the gold standard, e.g. ``arousal``)
    and optionally one column per dimension and annotator named ``<dimension>_<rater>`` (e.g.
    ``arousal_r1``). Every dimension must have the same raters. The dimension and rater names
    come from the FIRST label file of the manifest; a label file whose names differ is
    reported (InputError naming it) when its trace is read, like any other bad label file
    (the same names in another column order are fine).

The task is detected from the columns (``label`` -> categorical, ``labels`` -> continuous)
unless given. Item ids are the audio paths as written, without their extension (relative to
the manifest's folder when an absolute path lies inside it). A transcript becomes one segment
spanning the whole file: it ends at the duration in the audio file's header, or, when the
header cannot be read (the audio is reported later, per item), at `WHOLE_FILE_END`, a time
past any real audio that the readers of segments clip to the audio. Portions must be given in
a ``portion`` column (train, devel or test); listing the items of a manifest without one is
an error that says so.

Errors name the file: a bad manifest row raises InputError(manifest, "bad manifest",
"line N: ...").

`CsvTable` and `read_csv_table` are the CSV reading shared by the readers of label files: they
detect the delimiter, strip spaces around column names and report bad cells by line.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import soundfile

from tfemo.core.errors import InputError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, PORTIONS, TASKS, Item, Segment, Trace

WHOLE_FILE_END = 1.0e6  # seconds: the end of a segment that spans its whole file
TIME_COLUMN = "time"
_DELIMITERS = (",", ";", "\t")
_REQUIRED = {CATEGORICAL: ("path", "speaker", "label"), CONTINUOUS: ("path", "speaker", "labels")}
_OPTIONAL = ("transcript", "portion", "gender")


# ----------------------------------------------------------------------------- CSV tables


def detect_delimiter(header_line: str) -> str:
    """The most frequent of comma, semicolon and tab in a header line (comma if none)."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _clean_name(name: str) -> str:
    return name.strip().strip("'\"").strip()


@dataclass(frozen=True)
class CsvTable:
    """A CSV file's header (names stripped of spaces) and rows, with each row's line number."""

    path: Path
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    lines: tuple[int, ...]
    reason: str = "bad labels"

    def find(self, *names: str) -> int | None:
        """Index of the first column called one of `names` (case-insensitive), else None."""
        lowered = [h.lower() for h in self.header]
        for name in names:
            if name.lower() in lowered:
                return lowered.index(name.lower())
        return None

    def require(self, names: Sequence[str]) -> list[int]:
        """Indices of columns `names` (case-insensitive); InputError listing any missing."""
        found = [self.find(name) for name in names]
        missing = [name for name, index in zip(names, found, strict=True) if index is None]
        if missing:
            raise InputError(self.path, self.reason,
                             f"missing columns {missing}; the header has {list(self.header)}")
        return [int(index) for index in found]

    def text(self, column: int) -> list[str]:
        """The cells of one column, stripped of spaces and quotes."""
        return [_clean_name(row[column]) for row in self.rows]

    def numbers(self, columns: Sequence[int]) -> np.ndarray:
        """The cells of `columns` as float64 [rows, columns]; InputError naming a bad cell."""
        columns = list(columns)
        try:
            table = np.array([[row[c] for c in columns] for row in self.rows], dtype=np.float64)
        except ValueError:
            for line, row in zip(self.lines, self.rows, strict=True):
                for c in columns:
                    try:
                        float(row[c])
                    except ValueError:
                        raise InputError(self.path, self.reason,
                                         f"non-numeric {self.header[c]} {row[c]!r} at line "
                                         f"{line}") from None
            raise
        table = table.reshape(len(self.rows), len(columns))
        bad = ~np.isfinite(table)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise InputError(self.path, self.reason,
                             f"NaN or infinite {self.header[columns[column]]} at line "
                             f"{self.lines[row]}")
        return table

    def times(self, column: int) -> np.ndarray:
        """A column of times in seconds that must strictly increase."""
        times = self.numbers([column])[:, 0]
        steps = np.diff(times)
        if (steps <= 0).any():
            row = int(np.argmax(steps <= 0)) + 1
            raise InputError(self.path, self.reason,
                             f"{self.header[column]} does not increase at line {self.lines[row]}")
        return times


def _open_text(path: Path, reason: str, missing_reason: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as error:
        raise InputError(path, missing_reason, "file not found") from error
    except IsADirectoryError as error:
        raise InputError(path, reason, "is a folder, not a file") from error
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, reason, str(error)) from error


def parse_csv_text(path: Path, text: str, reason: str = "bad labels",
                   first_line: int = 1, delimiter: str | None = None,
                   header: Sequence[str] | None = None, quotechar: str = '"',
                   empty_reason: str | None = None) -> CsvTable:
    """Parse CSV text into a CsvTable (the first row is the header unless `header` is given).

    Blank lines are skipped; a row whose length differs from the header is an InputError
    naming its line (counted from `first_line`). A trailing empty column (every line ending in
    a delimiter) is dropped. A file without rows raises InputError(path, empty_reason or
    reason).
    """
    if delimiter is None:
        first = next((line for line in text.splitlines() if line.strip()), "")
        delimiter = detect_delimiter(first)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quotechar,
                        skipinitialspace=quotechar == "'")
    rows, lines = [], []
    try:
        for row in reader:
            if not row or not any(cell.strip() for cell in row):
                continue
            rows.append(row)
            lines.append(first_line + reader.line_num - 1)
    except csv.Error as error:
        line = first_line + reader.line_num - 1
        raise InputError(path, reason, f"line {line}: {error}") from error
    if header is None:
        if not rows:
            raise InputError(path, empty_reason or reason, "empty file")
        header, rows, lines = [_clean_name(h) for h in rows[0]], rows[1:], lines[1:]
    header = list(header)
    if len(header) > 1 and header[-1] == "" and all(
            len(r) == len(header) and not r[-1].strip() for r in rows):
        header, rows = header[:-1], [r[:-1] for r in rows]
    if not rows:
        raise InputError(path, empty_reason or reason, "no rows")
    for line, row in zip(lines, rows, strict=True):
        if len(row) != len(header):
            raise InputError(path, reason,
                             f"line {line} has {len(row)} fields, expected {len(header)}")
    return CsvTable(path, tuple(header), tuple(tuple(r) for r in rows), tuple(lines), reason)


def read_csv_table(path: str | Path, reason: str = "bad labels",
                   missing_reason: str = "missing labels",
                   empty_reason: str | None = None) -> CsvTable:
    """Read a CSV file whose delimiter is detected from its header line."""
    path = Path(path)
    return parse_csv_text(path, _open_text(path, reason, missing_reason), reason,
                          empty_reason=empty_reason)


# ----------------------------------------------------------------------------- label files


@dataclass(frozen=True)
class LabelColumns:
    """Where a label file's time, dimensions and ratings are: `ratings[dimension][rater]`."""

    time: int
    dimensions: tuple[str, ...]
    raters: tuple[str, ...]
    values: tuple[int, ...]
    ratings: tuple[tuple[int, ...], ...]


def split_label_columns(path: str | Path, header: Sequence[str]) -> LabelColumns:
    """Find the time, dimension and ``<dimension>_<rater>`` columns of a label file's header.

    Columns other than `time` are dimensions, except ``<dimension>_<rater>`` columns, which
    hold one annotator's ratings of a dimension; every dimension must have the same raters.
    """
    lowered = [h.lower() for h in header]
    if lowered.count(TIME_COLUMN) != 1:
        detail = "no time column" if TIME_COLUMN not in lowered else "two time columns"
        raise InputError(path, "bad labels", f"{detail}; the header has {list(header)}")
    if "" in header:
        raise InputError(path, "bad labels", f"a column has no name: {list(header)}")
    duplicates = sorted({h for h in header if list(header).count(h) > 1})
    if duplicates:
        raise InputError(path, "bad labels", f"duplicate columns {duplicates}")
    time_index = lowered.index(TIME_COLUMN)
    names = [h for k, h in enumerate(header) if k != time_index]
    dimensions = [c for c in names if not any(c.startswith(f"{d}_") for d in names if d != c)]
    raters: dict[str, list[str]] = {d: [] for d in dimensions}
    for column in names:
        if column in raters:
            continue
        owner = max((d for d in dimensions if column.startswith(f"{d}_")), key=len)
        raters[owner].append(column[len(owner) + 1:])
    if not dimensions:
        raise InputError(path, "bad labels", "no label columns besides time")
    first = raters[dimensions[0]]
    for dimension in dimensions:
        if sorted(raters[dimension]) != sorted(first):
            raise InputError(path, "bad labels",
                             f"{dimensions[0]} has raters {first} but {dimension} has "
                             f"{raters[dimension]}; every dimension needs the same raters")
    index = {h: k for k, h in enumerate(header)}
    return LabelColumns(time_index, tuple(dimensions), tuple(first),
                        tuple(index[d] for d in dimensions),
                        tuple(tuple(index[f"{d}_{r}"] for r in first) for d in dimensions))


def read_label_header(path: str | Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (dimensions, raters) of a label file, from its header line only."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            line = handle.readline()
    except FileNotFoundError as error:
        raise InputError(path, "missing labels", "file not found") from error
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(path, "bad labels", str(error)) from error
    if not line.strip():
        raise InputError(path, "bad labels", "empty file or header")
    header = [_clean_name(h) for h in next(csv.reader([line], delimiter=detect_delimiter(line)))]
    columns = split_label_columns(path, header)
    return columns.dimensions, columns.raters


def read_label_file(path: str | Path, dimensions: Sequence[str] | None = None,
                    raters: Sequence[str] | None = None) -> Trace:
    """Read a manifest label file into a Trace; with `dimensions`/`raters`, they must match.

    The expected names are those of the manifest's first label file: a file that names other
    dimensions or raters is an InputError naming it, so records never mix label layouts. The
    same names in another column order are put in the expected order.
    """
    path = Path(path)
    table = read_csv_table(path)
    columns = split_label_columns(path, table.header)
    if dimensions is not None and sorted(columns.dimensions) != sorted(dimensions):
        raise InputError(path, "bad labels",
                         f"dimensions {list(columns.dimensions)}, but the manifest's first "
                         f"label file has {list(dimensions)}")
    if raters is not None and sorted(columns.raters) != sorted(raters):
        raise InputError(path, "bad labels",
                         f"raters {list(columns.raters)}, but the manifest's first label file "
                         f"has {list(raters)}")
    dims = tuple(dimensions) if dimensions is not None else columns.dimensions
    order = tuple(raters) if raters is not None else columns.raters
    dim_at = {d: k for k, d in enumerate(columns.dimensions)}
    rater_at = {r: k for k, r in enumerate(columns.raters)}
    times = table.times(columns.time)
    values = table.numbers([columns.values[dim_at[d]] for d in dims]).astype(np.float32)
    ratings = None
    if order:
        flat = table.numbers([columns.ratings[dim_at[d]][rater_at[r]]
                              for d in dims for r in order])
        ratings = flat.reshape(len(times), len(dims), len(order)).astype(np.float32)
    return Trace(times=times, values=values, dimensions=dims, source=str(path),
                 ratings=ratings, raters=order)


# ----------------------------------------------------------------------------- manifests


@dataclass(frozen=True)
class _Row:
    line: int
    path: Path
    id: str
    speaker: str
    label: str  # the class (categorical) or the label file as written (continuous)
    transcript: str
    portion: str | None
    gender: str | None


def _resolve(folder: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else folder / path


def _item_id(folder: Path, value: str) -> str:
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute():
        try:
            path = PurePosixPath(Path(value).relative_to(folder).as_posix())
        except ValueError:
            path = PurePosixPath(*path.parts[1:])
    return str(path.with_suffix("") if path.suffix else path)


def _whole_file_end(path: Path) -> float:
    """The duration in an audio file's header (no samples read), else WHOLE_FILE_END."""
    try:
        seconds = float(soundfile.info(str(path)).duration)
    except (RuntimeError, OSError, ValueError, TypeError):
        return WHOLE_FILE_END
    return seconds if 0 < seconds < WHOLE_FILE_END else WHOLE_FILE_END


def _detect_task(manifest: Path, header: Sequence[str]) -> str:
    has_label, has_labels = "label" in header, "labels" in header
    if has_label and has_labels:
        raise InputError(manifest, "bad manifest",
                         "line 1: both a label and a labels column; give the task explicitly "
                         "(label = categorical class, labels = continuous label file)")
    if has_label:
        return CATEGORICAL
    if has_labels:
        return CONTINUOUS
    raise InputError(manifest, "bad manifest",
                     "line 1: no label column (categorical) or labels column (continuous); "
                     f"the header has {list(header)}")


class ManifestCorpus:
    """A corpus described by a CSV manifest (see the module docstring for the columns)."""

    speaker_independent: bool

    def __init__(self, manifest_path: str | Path, task: str | None = None, *,
                 classes: Sequence[str] | str | None = None, name: str | None = None,
                 language: str = "eng", speaker_independent: bool = True) -> None:
        self.manifest = Path(manifest_path)
        if not self.manifest.is_file():
            raise InputError(self.manifest, "missing corpus", "manifest file not found")
        self.folder = self.manifest.parent
        table = read_csv_table(self.manifest, reason="bad manifest",
                               missing_reason="missing corpus", empty_reason="missing corpus")
        header = [h.lower() for h in table.header]
        if task is None:
            task = _detect_task(self.manifest, header)
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, not {task!r}")
        self.task = task
        self.tasks = (task,)
        self.default_task = task
        self.name = name or self.manifest.stem
        self.language = language
        self.speaker_independent = speaker_independent
        allowed = (*_REQUIRED[task], *_OPTIONAL)
        unknown = [h for h in table.header if h.lower() not in allowed]
        if unknown or len(set(header)) != len(header):
            detail = (f"unknown columns {unknown}" if unknown
                      else f"duplicate columns in {list(table.header)}")
            raise InputError(self.manifest, "bad manifest",
                             f"line 1: {detail}; a {task} manifest has columns "
                             f"{', '.join(_REQUIRED[task])} and optionally "
                             f"{', '.join(_OPTIONAL)}")
        missing = [c for c in _REQUIRED[task] if c not in header]
        if missing:
            raise InputError(self.manifest, "bad manifest",
                             f"line 1: missing columns {missing} for the {task} task")
        self.has_portions = "portion" in header
        self._classes = self._parse_classes(classes)
        self._rows = self._parse_rows(table, header)
        self._header_cache: tuple[tuple[str, ...], tuple[str, ...]] | None = None

    def _parse_classes(self, classes: Sequence[str] | str | None) -> tuple[str, ...] | None:
        if classes is None:
            return None
        if self.task != CATEGORICAL:
            raise ValueError("classes apply to the categorical task only")
        if isinstance(classes, str):
            classes = classes.split(",")
        names = tuple(c.strip() for c in classes if c.strip())
        if not names or len(set(names)) != len(names):
            raise ValueError(f"classes must be non-empty and unique, got {list(classes)}")
        return names

    def _parse_rows(self, table: CsvTable, header: list[str]) -> list[_Row]:
        column = {name: k for k, name in enumerate(header)}
        label_column = "label" if self.task == CATEGORICAL else "labels"
        rows, seen = [], {}
        for line, cells in zip(table.lines, table.rows, strict=True):
            values = {name: cells[k].strip() for name, k in column.items()}

            def fail(detail: str, line: int = line) -> InputError:
                return InputError(self.manifest, "bad manifest", f"line {line}: {detail}")

            for required in _REQUIRED[self.task]:
                if not values[required]:
                    raise fail(f"empty {required}")
            label = values[label_column]
            if self._classes is not None and label not in self._classes:
                raise fail(f"label {label!r} is not one of the classes {list(self._classes)}")
            portion = values.get("portion")
            if portion is not None and portion not in PORTIONS:
                raise fail(f"portion {portion!r} is not one of {', '.join(PORTIONS)}")
            key = _item_id(self.folder, values["path"])
            if key in seen:
                raise fail(f"item {key!r} is listed twice (first at line {seen[key]})")
            seen[key] = line
            rows.append(_Row(line=line, path=_resolve(self.folder, values["path"]), id=key,
                             speaker=values["speaker"], label=label,
                             transcript=values.get("transcript", ""), portion=portion,
                             gender=values.get("gender") or None))
        return rows

    def _check_task(self, task: str) -> None:
        if task != self.task:
            raise ValueError(f"manifest {self.manifest} describes the {self.task} task, "
                             f"not {task!r}")

    def label_file(self, row: _Row) -> Path:
        """Where a continuous row's label file is (relative paths from the manifest folder)."""
        return _resolve(self.folder, row.label)

    def _label_header(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if self._header_cache is None:
            self._header_cache = read_label_header(self.label_file(self._rows[0]))
        return self._header_cache

    def items(self, task: str | None = None) -> list[Item]:
        """One item per manifest row, sorted by id; needs a portion column."""
        task = task or self.task
        self._check_task(task)
        if not self.has_portions:
            raise InputError(self.manifest, "no portions",
                             "the manifest has no portion column: add one (train, devel or "
                             "test per row) so that every item has a portion")
        dimensions, raters = self._label_header() if task == CONTINUOUS else ((), ())
        items = []
        for row in self._rows:
            segments = ()
            if row.transcript:
                segments = (Segment(0.0, _whole_file_end(row.path), row.transcript),)
            common = dict(id=row.id, speaker=row.speaker, corpus=self.name,
                          portion=row.portion, audio_path=row.path, segments=segments,
                          language=self.language, gender=row.gender,
                          metadata={"manifest": str(self.manifest), "line": str(row.line)})
            if task == CATEGORICAL:
                items.append(Item(label=row.label, **common))
            else:
                labels = self.label_file(row)
                items.append(Item(load_trace=functools.partial(read_label_file, labels,
                                                                dimensions, raters),
                                  label_files=(labels,), **common))
        return sorted(items, key=lambda item: item.id)

    def label_names(self, task: str | None = None) -> tuple[str, ...]:
        """Class names (sorted, or as given) or the dimensions of the first label file."""
        task = task or self.task
        self._check_task(task)
        if task == CATEGORICAL:
            return self._classes or tuple(sorted({row.label for row in self._rows}))
        return self._label_header()[0]

    @property
    def rater_names(self) -> tuple[str, ...]:
        """The annotators of the first label file, in the order of the ratings axis."""
        return self._label_header()[1] if self.task == CONTINUOUS else ()
