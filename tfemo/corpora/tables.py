"""CSV tables, the one CSV reading every corpus reader uses (label files, metadata, manifests).

A table's delimiter (comma, semicolon or tab) is detected from its header line, spaces around
column names are stripped, and a bad cell or a ragged row is an InputError naming the file and
line. The label-file format read here (a ``time`` column, one column per dimension, optional
``<dimension>_<rater>`` columns) is the one manifests and gold standards use.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfemo.core.errors import InputError
from tfemo.corpora.base import Trace

TIME_COLUMN = "time"
_DELIMITERS = (",", ";", "\t")


def detect_delimiter(header_line: str) -> str:
    """The most frequent of comma, semicolon and tab in a header line (comma if none)."""
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def clean_cell(name: str) -> str:
    """A header name or cell without surrounding spaces and quotes."""
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

    def records(self) -> list[dict[str, str]]:
        """The rows as {column name: raw cell}, for tables read by column name."""
        return [dict(zip(self.header, row, strict=True)) for row in self.rows]

    def text(self, column: int) -> list[str]:
        """The cells of one column, stripped of spaces and quotes."""
        return [clean_cell(row[column]) for row in self.rows]

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


def read_text(path: Path, reason: str, missing_reason: str) -> str:
    """A text file's contents (UTF-8, BOM dropped); InputError(path, reason) if unreadable."""
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
        header, rows, lines = [clean_cell(h) for h in rows[0]], rows[1:], lines[1:]
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
    return parse_csv_text(path, read_text(path, reason, missing_reason), reason,
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
    header = [clean_cell(h) for h in next(csv.reader([line], delimiter=detect_delimiter(line)))]
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
