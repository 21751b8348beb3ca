"""RECOLA (Ringeval et al., FG 2013) as used in AVEC 2016: continuous arousal and valence.

Each recording is five minutes of one French-speaking participant in a remote dyadic task,
rated every 40 ms by six annotators (3 male FM1-FM3, 3 female FF1-FF3) on arousal and valence
in [-1, 1]; 7501 labels from 0 to 300 s. One item per recording: `speaker` is the recording
(one participant each), the portion is the official AVEC 2016 split from the name
(``train_N`` -> train, ``dev_N`` -> devel, ``test_N`` -> test; test labels were never
published, so test recordings appear only when their labels are present). File names of
another form (e.g. a concatenated ``train_all.arff`` or the RECOLA release's ``P16.csv``) are
ignored: they have no official portion.

Layout "avec2016" (the AVEC 2016 release; ``X`` = arousal or valence)
    recordings_audio/<rec>.wav                  audio (not read here)
    ratings_gold_standard/X/<rec>.arff          ARFF, attributes Instance_name, frameTime,
                                                GoldStandard (``.csv`` with the same columns
                                                is accepted too)
    ratings_individual/X/<rec>.csv              ``time;FM1;FM2;FM3;FF1;FF2;FF3`` (semicolon,
                                                but the delimiter is detected)
  A folder doubled by unzipping (``recordings_audio/recordings_audio/``) is followed. The
  gold standard is required; without a ``ratings_individual`` folder the traces carry no
  ratings and `rater_names` is empty.

Layout "combined" (e.g. ../shared/data/recola_ratings)
    arousal/<rec>.csv, valence/<rec>.csv        ``Instance_name, frameTime, GoldStandard, time,
                                                FM1 , FM2 , FM3 , FF1 , FF2 , FF3`` (spaces
                                                around names are stripped)
  There is no audio: `items()` points each item at ``<root>/recordings_audio/<rec>.wav``, where
  the AVEC release keeps it (or at ``<audio_dir>/<rec>.wav``), so the items can be written to
  records once the audio is put there; `recordings()` and `read_recording_trace()` give the
  ratings without any audio.

The Trace of a recording: `values` [T, 2] = the gold standard (arousal, valence), `ratings`
[T, 2, 6] with raters in the order FM1 FM2 FM3 FF1 FF2 FF3, times (seconds) from the files.
The files of a recording must agree: the same number of rows and the same times in every
file, each file naming the recording in its Instance_name column (if any), all six raters
present. A disagreement raises InputError naming the file, when the trace is read. An item's
`label_files` lists all of its label files (gold standard and individual ratings, both
dimensions), the arousal gold standard or combined file first.

The AVEC 2016 gold standard is the mean of the six ratings after "CCC centring" (each rating
minus its own mean, plus the mean rating weighted by each rater's mean CCC with the others), so
it equals the plain mean plus a constant per file.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfemo.core.errors import InputError
from tfemo.corpora.base import CONTINUOUS, Corpus, Item, Trace
from tfemo.corpora.tables import CsvTable, parse_csv_text, read_csv_table, read_text

DIMENSIONS = ("arousal", "valence")
RATERS = ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")
LAYOUT_AVEC2016 = "avec2016"
LAYOUTS = (LAYOUT_AVEC2016, "combined")
PORTION_OF_PREFIX = {"train": "train", "dev": "devel", "test": "test"}
AUDIO_FOLDER = "recordings_audio"
GOLD_FOLDER = "ratings_gold_standard"
INDIVIDUAL_FOLDER = "ratings_individual"
_RECORDING = re.compile(r"^(train|dev|test)_\d+$")
_TIME_NAMES = ("frameTime", "time")
_TIME_TOLERANCE = 1e-6


def recording_portion(recording: str) -> str:
    """The official AVEC 2016 portion of a recording name (train_N, dev_N or test_N)."""
    if not _RECORDING.match(recording):
        raise ValueError(f"{recording!r} is not a RECOLA recording name (train_N, dev_N, test_N)")
    return PORTION_OF_PREFIX[recording.split("_", 1)[0]]


@dataclass(frozen=True)
class RecordingFiles:
    """The label files of one recording, one per dimension in DIMENSIONS order.

    Layout "combined" fills `combined`; layout "avec2016" fills `gold_standard` and, when the
    corpus has individual ratings, `individual`.
    """

    recording: str
    combined: tuple[Path, ...] = ()
    gold_standard: tuple[Path, ...] = ()
    individual: tuple[Path, ...] = ()

    @property
    def paths(self) -> tuple[Path, ...]:
        """Every file the trace is read from."""
        return (*self.combined, *self.gold_standard, *self.individual)


# ----------------------------------------------------------------------------- file readers


def _check_instance(table: CsvTable, recording: str) -> None:
    """Every row's Instance_name (if the file has the column) must be the recording."""
    column = table.find("Instance_name")
    if column is None:
        return
    names = set(table.text(column))
    if names != {recording}:
        other = sorted(names - {recording})[:3]
        raise InputError(table.path, "bad labels",
                         f"Instance_name {other}: expected {recording!r} only")


def _time_column(table: CsvTable) -> int:
    column = table.find(*_TIME_NAMES)
    if column is None:
        raise InputError(table.path, "bad labels",
                         f"missing columns ['time']; the header has {list(table.header)}")
    return column


def _rater_columns(table: CsvTable, allowed: tuple[str, ...]) -> list[int]:
    """The six raters' columns in RATERS order; other unknown columns are refused."""
    known = {name.lower() for name in (*allowed, *RATERS)}
    unknown = [h for h in table.header if h.lower() not in known]
    if unknown:
        raise InputError(table.path, "bad labels",
                         f"unknown columns {unknown}; expected {', '.join(allowed)} and the "
                         f"raters {', '.join(RATERS)}")
    return table.require(RATERS)


def _same_times(table: CsvTable, times: np.ndarray, column: int) -> None:
    """A second time column of the same file must hold the same times."""
    other = table.numbers([column])[:, 0]
    differ = np.abs(other - times) > _TIME_TOLERANCE
    if differ.any():
        row = int(np.argmax(differ))
        raise InputError(table.path, "bad labels",
                         f"{table.header[column]} {other[row]} differs from "
                         f"{table.header[_time_column(table)]} {times[row]} at line "
                         f"{table.lines[row]}")


def read_combined_file(path: str | Path, recording: str,
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a "combined" file: times [T], gold standard [T] and ratings [T, 6] (RATERS order)."""
    table = read_csv_table(path)
    _check_instance(table, recording)
    allowed = ("Instance_name", "frameTime", "GoldStandard", "time")
    raters = _rater_columns(table, allowed)
    time_column = _time_column(table)
    times = table.times(time_column)
    for column in (table.find(name) for name in _TIME_NAMES):
        if column is not None and column != time_column:
            _same_times(table, times, column)
    gold = table.numbers(table.require(["GoldStandard"]))[:, 0]
    return times, gold, table.numbers(raters)


def read_arff(path: str | Path) -> CsvTable:
    """Read a numeric/string ARFF file (as AVEC writes them) into a CsvTable."""
    path = Path(path)
    lines = read_text(path, "bad labels", "missing labels").splitlines()
    header: list[str] = []
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        lowered = stripped.lower()
        if lowered.startswith("@attribute"):
            rest = stripped[len("@attribute"):].strip()
            quoted = rest[:1] in ("'", '"') and rest.find(rest[0], 1) > 0
            header.append(rest[1:rest.find(rest[0], 1)] if quoted else rest.split()[0])
        elif lowered.startswith("@data"):
            if not header:
                raise InputError(path, "bad labels", "no @attribute lines before @data")
            data = "\n".join(x for x in lines[number:] if not x.lstrip().startswith("%"))
            kept = [k for k, x in enumerate(lines[number:]) if not x.lstrip().startswith("%")]
            table = parse_csv_text(path, data, delimiter=",", header=header, quotechar="'")
            actual = tuple(number + 1 + kept[n - 1] for n in table.lines)
            return CsvTable(table.path, table.header, table.rows, actual, table.reason)
    raise InputError(path, "bad labels", "not an ARFF file: no @data line")


def read_gold_standard(path: str | Path, recording: str) -> tuple[np.ndarray, np.ndarray]:
    """Read an AVEC gold-standard file (ARFF or CSV): times [T] and gold standard [T]."""
    path = Path(path)
    table = read_arff(path) if path.suffix.lower() == ".arff" else read_csv_table(path)
    _check_instance(table, recording)
    times = table.times(_time_column(table))
    return times, table.numbers(table.require(["GoldStandard"]))[:, 0]


def read_individual_ratings(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an AVEC individual-ratings CSV: times [T] and ratings [T, 6] (RATERS order)."""
    table = read_csv_table(path)
    raters = _rater_columns(table, _TIME_NAMES)
    return table.times(_time_column(table)), table.numbers(raters)


def _agree(reference: Path, times: np.ndarray, path: Path, other: np.ndarray) -> None:
    """Two files of a recording must have the same rows at the same times."""
    if len(other) != len(times):
        raise InputError(path, "bad labels",
                         f"{len(other)} label rows, but {reference} has {len(times)}")
    differ = np.abs(other - times) > _TIME_TOLERANCE
    if differ.any():
        row = int(np.argmax(differ))
        raise InputError(path, "bad labels",
                         f"row {row + 1} is at {other[row]} s, but in {reference} at "
                         f"{times[row]} s")


def read_recording_files(files: RecordingFiles) -> Trace:
    """Read a recording's trace from its files (module level: it runs in worker processes)."""
    if len(files.combined) == len(DIMENSIONS):
        sources = files.combined
        parts = [read_combined_file(path, files.recording) for path in sources]
    elif len(files.gold_standard) == len(DIMENSIONS):
        sources = files.gold_standard
        parts = [(*read_gold_standard(path, files.recording), None) for path in sources]
    else:
        raise ValueError(f"{files} names no label file per dimension")
    times = parts[0][0]
    for part, path in zip(parts[1:], sources[1:], strict=True):
        _agree(sources[0], times, path, part[0])
    if files.individual:
        rated = [read_individual_ratings(path) for path in files.individual]
        for source, path, (rating_times, _) in zip(sources, files.individual, rated, strict=True):
            _agree(source, times, path, rating_times)
        parts = [(t, gold, r) for (t, gold, _), (_, r) in zip(parts, rated, strict=True)]
    ratings = None
    if parts[0][2] is not None:
        ratings = np.stack([p[2] for p in parts], axis=1)  # [T, dimensions, raters]
    values = np.stack([p[1] for p in parts], axis=1).astype(np.float32)
    return Trace(times=times, values=values, dimensions=DIMENSIONS, source=str(sources[0]),
                 ratings=None if ratings is None else ratings.astype(np.float32),
                 raters=RATERS if ratings is not None else ())


# ----------------------------------------------------------------------------- the corpus


def _child(folder: Path, name: str) -> Path:
    """folder/name, or folder/name/name when unzipping doubled the folder."""
    path = folder / name
    return path / name if (path / name).is_dir() else path


def _stems(folder: Path, suffixes: tuple[str, ...]) -> set[str]:
    if not folder.is_dir():
        return set()
    return {p.stem for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes}


class RecolaCorpus(Corpus):
    """Reader of RECOLA (AVEC 2016) ratings and audio in either layout (module docstring)."""

    name = "recola"
    title = "RECOLA"
    language = "fra"
    tasks = (CONTINUOUS,)
    default_task = CONTINUOUS

    def __init__(self, root: str | Path, *, audio_dir: str | Path | None = None,
                 layout: str | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "missing corpus", "folder not found")
        self.gold_dir = _child(self.root, GOLD_FOLDER)
        self.individual_dir = _child(self.root, INDIVIDUAL_FOLDER)
        if layout is None:
            avec = self.gold_dir.is_dir() or self.individual_dir.is_dir()
            layout = LAYOUT_AVEC2016 if avec else "combined"
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, not {layout!r}")
        self.layout = layout
        self.audio_dir = Path(audio_dir) if audio_dir is not None else _child(self.root,
                                                                               AUDIO_FOLDER)
        self._has_individual = layout == LAYOUT_AVEC2016 and self.individual_dir.is_dir()
        self._recordings = self._find_recordings()

    def _label_folders(self) -> list[tuple[Path, tuple[str, ...]]]:
        if self.layout == LAYOUT_AVEC2016:
            return [*((self.gold_dir / d, (".arff", ".csv")) for d in DIMENSIONS),
                    *((self.individual_dir / d, (".csv",)) for d in DIMENSIONS)]
        return [(self.root / d, (".csv",)) for d in DIMENSIONS]

    def _find_recordings(self) -> tuple[str, ...]:
        folders = self._label_folders()
        found = set().union(*(_stems(folder, suffixes) for folder, suffixes in folders))
        recordings = sorted(s for s in found if _RECORDING.match(s))
        if not recordings:
            looked = ", ".join(str(f.relative_to(self.root)) + "/" for f, _ in folders)
            ignored = sorted(found)[:5]
            detail = f"no label files named train_N, dev_N or test_N in {looked}"
            if ignored:
                detail += f" (ignored {ignored}: no official portion)"
            raise InputError(self.root, "missing corpus", detail)
        return tuple(recordings)

    def recordings(self) -> list[str]:
        """The names of the labelled recordings (train_N, dev_N, test_N), sorted."""
        return list(self._recordings)

    def recording_files(self, recording: str) -> RecordingFiles:
        """The label files of a recording (they need not exist: reading reports what is missing)."""
        if recording not in self._recordings:
            raise KeyError(f"no labels for recording {recording!r} in {self.root}")
        if self.layout != LAYOUT_AVEC2016:
            return RecordingFiles(recording, combined=tuple(self.root / d / f"{recording}.csv"
                                                            for d in DIMENSIONS))
        gold = []
        for dimension in DIMENSIONS:
            arff = self.gold_dir / dimension / f"{recording}.arff"
            csv_path = arff.with_suffix(".csv")
            gold.append(csv_path if not arff.is_file() and csv_path.is_file() else arff)
        individual = ()
        if self._has_individual:
            individual = tuple(self.individual_dir / d / f"{recording}.csv" for d in DIMENSIONS)
        return RecordingFiles(recording, gold_standard=tuple(gold), individual=individual)

    def read_recording_trace(self, recording: str) -> Trace:
        """The gold standard and ratings of a recording, without its audio."""
        return read_recording_files(self.recording_files(recording))

    def audio_path(self, recording: str) -> Path:
        """Where the audio of a recording is (or would be: layout "combined" has none)."""
        return self.audio_dir / f"{recording}.wav"

    def _items_of(self, task: str) -> list[Item]:
        """One item per labelled recording, with its official portion."""
        items = []
        for recording in self._recordings:
            files = self.recording_files(recording)
            items.append(Item(
                id=recording, speaker=recording, corpus=self.name,
                portion=recording_portion(recording), audio_path=self.audio_path(recording),
                load_trace=functools.partial(read_recording_files, files),
                label_files=tuple(files.paths), language=self.language,
                metadata={"layout": self.layout}))
        return items

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """The label dimensions: arousal and valence."""
        return DIMENSIONS

    @property
    def rater_names(self) -> tuple[str, ...]:
        """The six annotators in the order of the ratings axis (none without ratings)."""
        return RATERS if self.layout != LAYOUT_AVEC2016 or self._has_individual else ()
