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
past any real audio that the readers of segments clip to the audio. Portions come from a
``portion`` column (train, devel or test); without one the items have no portion (""), which a
partition protocol (``--partition loso`` and the others) assigns; the corpus's own portions
(``--partition official``) are then refused in one line that says so.

Errors name the file: a bad manifest row raises InputError(manifest, "bad manifest",
"line N: ...").

The manifest and its label files are read with tfemo.corpora.tables, like every corpus's CSVs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import soundfile

from tfemo.core.errors import InputError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, PORTIONS, TASKS, Corpus, Item, Segment
from tfemo.corpora.tables import CsvTable, read_csv_table, read_label_file, read_label_header

WHOLE_FILE_END = 1.0e6  # seconds: the end of a segment that spans its whole file
_REQUIRED = {CATEGORICAL: ("path", "speaker", "label"), CONTINUOUS: ("path", "speaker", "labels")}
_OPTIONAL = ("transcript", "portion", "gender")


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


class ManifestCorpus(Corpus):
    """A corpus described by a CSV manifest (see the module docstring for the columns).

    Its name, task and `speaker_independent` are the constructor's, not fixed per class.
    """

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

    def label_file(self, row: _Row) -> Path:
        """Where a continuous row's label file is (relative paths from the manifest folder)."""
        return _resolve(self.folder, row.label)

    def _label_header(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        if self._header_cache is None:
            self._header_cache = read_label_header(self.label_file(self._rows[0]))
        return self._header_cache

    def _items_of(self, task: str) -> list[Item]:
        """One item per manifest row (portion "" without a portion column)."""
        dimensions, raters = self._label_header() if task == CONTINUOUS else ((), ())
        items = []
        for row in self._rows:
            segments = ()
            if row.transcript:
                segments = (Segment(0.0, _whole_file_end(row.path), row.transcript),)
            common = dict(id=row.id, speaker=row.speaker, corpus=self.name,
                          portion=row.portion or "", audio_path=row.path, segments=segments,
                          language=self.language, gender=row.gender,
                          metadata={"manifest": str(self.manifest), "line": str(row.line)})
            if task == CATEGORICAL:
                items.append(Item(label=row.label, **common))
            else:
                labels = self.label_file(row)
                items.append(Item(load_trace=functools.partial(read_label_file, labels,
                                                                dimensions, raters),
                                  label_files=(labels,), **common))
        return items

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """Class names (sorted, or as given) or the dimensions of the first label file."""
        if task == CATEGORICAL:
            return self._classes or tuple(sorted({row.label for row in self._rows}))
        return self._label_header()[0]

    @property
    def rater_names(self) -> tuple[str, ...]:
        """The annotators of the first label file, in the order of the ratings axis."""
        return self._label_header()[1] if self.task == CONTINUOUS else ()
