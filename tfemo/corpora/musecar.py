"""Reader of MuSe-CaR (Multimodal Sentiment Analysis in Car Reviews) in the MuSe 2020/2021 layout.

MuSe-CaR (Stappen et al., 2021): English YouTube car reviews, continuous arousal and valence
annotated by several raters and fused into a gold standard at 4 Hz (one label every 250 ms),
used by the MuSe 2020 (MuSe-Wild) and MuSe 2021 (MuSe-Wilder) challenges.

On-disk layout (`root` = the corpus folder, e.g. ``MuSe-CAR`` or ``c1_muse_wild``)
---------------------------------------------------------------------------------
    audio/<video>/<video>_<segment>.wav   one file per video segment (``audio_segments/`` too),
      or audio/<video>.wav                one file per video (both kinds may be mixed)
    label/arousal/<video>.csv             ``timestamp,value,segment_id``: timestamp in ms on the
    label/valence/<video>.csv             video's timeline, 4 Hz; ``label_segments/`` too
    transcription/<video>/<segment>.csv   ``start,end,segment_id,word`` in ms on the video's
                                          timeline; the file is named ``<video>_<segment>.csv``
                                          (as distributed) or ``<segment>.csv``
    partition.csv                         ``Id,Proposal`` (MuSe 2020) or ``id,partition``: the
                                          video and its official portion (train, devel, test);
                                          also looked for in ``metadata/`` and ``../metadata/``
Sources (public code that reads this layout): the MuSe 2020 end2you baseline
(lstappen/MuSe2020 ``end2you/generator``: ``audio_segments/<video>/<video>_<seg>.wav``,
``label_segments/<dim>/<video>.csv`` rows ``timestamp, value, segment_id``,
``metadata/partition.csv``), the MuSe 2021 baseline (lstappen/MuSe2021 ``data_parser.py``:
video = first column, partition = last column of partition.csv) and the voicebot built on the
Semantic SER code (dsi-icl/do-voice-interaction ``emotion_recognition_service``: ``audio/``,
``label/{arousal,valence}/``, ``transcription/<video>/<video>_<seg>.csv`` with ``start, end,
segment_id, word`` in ms, ``<filler>`` tokens, ``partition.csv`` with ``train/devel/test``).

Alignment of segments to the label timeline (assumption, documented because nothing in the
files states it): a segment's audio starts at the FIRST label timestamp carrying its
segment_id, as the upstream code assumed (end2you computes a segment's duration from its first
to its last label time; the voicebot shifts each segment's labels by its first timestamp).
For a per-segment item, label times and word times are both shifted by that same start and
converted from ms to seconds, so both sit on the segment audio's own clock (the voicebot shifted
words by the segment's first WORD instead, which moved every word earlier by the leading
silence: a rate/offset mix-up of the kind docs/design.md, defect 1, warns about). Words
ending before the segment start are dropped, starts before it are clipped to 0. For a per-video item
nothing is shifted: times are the ms timestamps / 1000 and there is one Segment per
transcription file, spanning that segment's labels.

Items: one per audio file of a video of the official train or devel partition that has both
label files: id = the audio file's stem (``<video>_<segment>`` or ``<video>``), task
continuous, dimensions ("arousal", "valence"), the gold standard as distributed (no rescaling).
The trace is read when needed (`load_trace`, in the worker): arousal and valence files must
have the same rows (timestamps and segment ids); a jump between consecutive label times of more
than twice their median spacing is an InputError (the audio in the gap would otherwise be given
the label held from before it: per-video audio with labels only on some segments fails this;
use per-segment audio). Listing reads the arousal file (segment starts) and the transcripts; a
malformed file raises InputError naming the file and line. Skipped files (no partition entry,
official test video, no labels, no labels for that segment, badly named) are in `ignored`.
Official test videos are always skipped: their labels were never published, and the protocol
(docs/design.md, "Protocols") makes tfemo's test portion from the official devel videos.

Portions: official train -> train; the official devel videos, as listed in partition.csv
(whether or not their files are present, so that the split does not depend on what is
installed), are sorted (numerically: the ids are numbers), permuted with
``numpy.random.default_rng(seed)`` and split in half: the first len // 2 -> devel, the rest ->
test (`split_devel`). Deterministic for a given `seed` (constructor argument, default 0) and
disjoint by video.

Speakers: MuSe-CaR distributes no reviewer ids, so `speaker` is the video id and the
speaker-overlap check of make_records guarantees only that no VIDEO is in two portions. One
reviewer may present several videos, so scores are video-independent, not strictly
speaker-independent. Language "eng".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfemo.core.errors import InputError
from tfemo.corpora.base import CONTINUOUS, Corpus, Item, Segment, Trace, WordTiming
from tfemo.corpora.files import audio_duration, collect_items, corpus_files
from tfemo.corpora.tables import CsvTable, read_csv_table

DIMENSIONS = ("arousal", "valence")
LABEL_PERIOD_MS = 250.0  # 4 Hz, used when a segment has a single label
AUDIO_FOLDERS = ("audio", "audio_segments")
LABEL_FOLDERS = ("label", "label_segments")
TRANSCRIPT_FOLDERS = ("transcription", "transcription_segments", "transcriptions")
OFFICIAL_PORTIONS = {"train": "train", "devel": "devel", "dev": "devel", "test": "test"}
MAX_STEP_RATIO = 2.0  # a label step longer than this many median steps is a gap


def segment_key(text: str) -> str:
    """A segment id as compared across files: "3", "3.0" and "03" are all "3"."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def _video_order(video: str) -> tuple[int, int | str]:
    """Sort key of video ids: numbers numerically, then other names alphabetically."""
    return (0, int(video)) if video.isdigit() else (1, video)


def split_devel(videos: Sequence[str], seed: int = 0) -> tuple[list[str], list[str]]:
    """The official devel videos split by video into (devel, test), deterministic in `seed`."""
    ordered = sorted(set(videos), key=_video_order)
    order = np.random.default_rng(seed).permutation(len(ordered))
    shuffled = [ordered[i] for i in order]
    half = len(shuffled) // 2
    return (sorted(shuffled[:half], key=_video_order),
            sorted(shuffled[half:], key=_video_order))


def read_partition(path: str | Path) -> dict[str, str]:
    """Video -> official portion (train, devel, test) from partition.csv."""
    table = read_csv_table(path, reason="bad partition", missing_reason="missing corpus")
    video_column = table.find("id", "video", "video_id", "vid")
    video_column = 0 if video_column is None else video_column
    portion_column = table.find("proposal", "partition")
    portion_column = len(table.header) - 1 if portion_column is None else portion_column
    if portion_column == video_column:
        raise InputError(table.path, "bad partition",
                         f"needs a video id and a partition column; header {list(table.header)}")
    videos: dict[str, str] = {}
    rows = zip(table.lines, table.text(video_column), table.text(portion_column), strict=True)
    for line, video, official in rows:
        portion = OFFICIAL_PORTIONS.get(official.lower())
        if not video or portion is None:
            raise InputError(table.path, "bad partition",
                             f"line {line}: expected '<video>,<train|devel|test>', got "
                             f"{video!r}, {official!r}")
        if videos.get(video, portion) != portion:
            raise InputError(table.path, "bad partition",
                             f"line {line}: video {video} is in both {videos[video]} and "
                             f"{portion}")
        videos[video] = portion
    return videos


@dataclass(frozen=True)
class LabelRows:
    """One label file: times (ms), values, segment ids and file line of every row."""

    path: Path
    times_ms: np.ndarray
    values: np.ndarray
    segments: tuple[str, ...]
    lines: tuple[int, ...]

    def segment_rows(self, segment: str) -> np.ndarray:
        """Indices of the rows of one segment."""
        return np.flatnonzero(np.array(self.segments) == segment)

    def period_ms(self) -> float:
        """The median spacing of the labels in ms (LABEL_PERIOD_MS for a single row)."""
        return float(np.median(np.diff(self.times_ms))) if len(self.times_ms) > 1 \
            else LABEL_PERIOD_MS


def read_label_rows(path: str | Path) -> LabelRows:
    """Read a MuSe label CSV (timestamp in ms, value, segment_id); InputError naming bad lines."""
    table: CsvTable = read_csv_table(path)
    time_column = table.find("timestamp", "time")
    if time_column is None:
        raise InputError(table.path, "bad labels",
                         f"missing columns ['timestamp']; the header has {list(table.header)}")
    value_column, segment_column = table.require(["value", "segment_id"])
    segments = tuple(segment_key(s) for s in table.text(segment_column))
    if "" in segments:
        line = table.lines[segments.index("")]
        raise InputError(table.path, "bad labels", f"empty segment_id at line {line}")
    return LabelRows(table.path, table.times(time_column),
                     table.numbers([value_column])[:, 0], segments, table.lines)


def _agree(reference: LabelRows, other: LabelRows) -> None:
    """The arousal and valence files of a video must have the same rows."""
    if len(other.times_ms) != len(reference.times_ms):
        raise InputError(other.path, "bad labels",
                         f"{len(other.times_ms)} label rows, but {reference.path} has "
                         f"{len(reference.times_ms)}")
    differ = (np.abs(other.times_ms - reference.times_ms) > 1e-6) | (
        np.array(other.segments) != np.array(reference.segments))
    if differ.any():
        row = int(np.argmax(differ))
        raise InputError(other.path, "bad labels",
                         f"line {other.lines[row]} (timestamp {other.times_ms[row]:g}, segment "
                         f"{other.segments[row]}) differs from {reference.path} line "
                         f"{reference.lines[row]} (timestamp {reference.times_ms[row]:g}, "
                         f"segment {reference.segments[row]})")


def read_trace(arousal: str | Path, valence: str | Path, segment: str | None = None) -> Trace:
    """The (arousal, valence) trace of a video, or of one segment relative to its start, in s.

    Module level (picklable): `Item.load_trace` is a functools.partial of it.
    """
    rows, other = read_label_rows(arousal), read_label_rows(valence)
    _agree(rows, other)
    if segment is None:
        index, offset = np.arange(len(rows.times_ms)), 0.0
    else:
        index = rows.segment_rows(segment)
        if not len(index):
            raise InputError(rows.path, "missing labels", f"no rows of segment {segment}")
        offset = float(rows.times_ms[index[0]])
    times_ms = rows.times_ms[index]
    if len(times_ms) > 2:
        steps = np.diff(times_ms)
        long = steps > MAX_STEP_RATIO * float(np.median(steps))
        if long.any():
            k = int(np.argmax(long))
            raise InputError(rows.path, "bad labels",
                             f"the labels jump from {times_ms[k]:g} ms (line "
                             f"{rows.lines[index[k]]}) to {times_ms[k + 1]:g} ms: a gap the "
                             f"audio would be labelled across (use per-segment audio)")
    values = np.stack([rows.values[index], other.values[index]], axis=1).astype(np.float32)
    return Trace(times=(times_ms - offset) / 1000.0, values=values, dimensions=DIMENSIONS,
                 source=str(rows.path))


def read_words(path: str | Path, offset_ms: float = 0.0) -> tuple[WordTiming, ...]:
    """Word timings of a transcription CSV (start, end, word in ms), in s from `offset_ms`."""
    try:
        table = read_csv_table(path, reason="bad transcript", missing_reason="missing transcript",
                               empty_reason="empty transcript")
    except InputError as error:
        if error.reason == "empty transcript":
            return ()
        raise
    start_column, end_column, word_column = table.require(["start", "end", "word"])
    times = table.numbers([start_column, end_column])
    words = []
    for line, (start, end), word in zip(table.lines, times, table.text(word_column),
                                        strict=True):
        if end < start:
            raise InputError(table.path, "bad transcript",
                             f"line {line}: word {word!r} ends ({end:g}) before it starts "
                             f"({start:g})")
        if not word or word.startswith("<"):  # "<filler>" and other non-words
            continue
        start_s, end_s = (start - offset_ms) / 1000.0, (end - offset_ms) / 1000.0
        if end_s <= 0:
            continue
        words.append(WordTiming(word, round(max(start_s, 0.0), 6), round(end_s, 6)))
    return tuple(words)


def _first_dir(root: Path, names: Sequence[str]) -> Path:
    """The first of root/name that is a folder (else root/names[0])."""
    return next((root / n for n in names if (root / n).is_dir()), root / names[0])


class MuseCarCorpus(Corpus):
    """MuSe-CaR reader: one continuous item per segment (or video) audio file.

    `speaker_independent` holds by video only (no reviewer ids): see the module docstring.
    """

    name = "musecar"
    title = "MuSe-CaR"
    language = "eng"
    tasks = (CONTINUOUS,)
    default_task = CONTINUOUS

    def __init__(self, root: str | Path, *, seed: int = 0,
                 partition_file: str | Path | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(self.root, "missing corpus", "folder not found")
        self.seed = seed
        self.audio_dir = _first_dir(self.root, AUDIO_FOLDERS)
        self.label_dir = _first_dir(self.root, LABEL_FOLDERS)
        self.transcript_dir = _first_dir(self.root, TRANSCRIPT_FOLDERS)
        self.partition_file = Path(partition_file) if partition_file else self._find_partition()
        self.official = read_partition(self.partition_file)
        devel, test = split_devel([v for v, p in self.official.items() if p == "devel"], seed)
        self.portions = {v: "train" for v, p in self.official.items() if p == "train"}
        self.portions.update({v: "devel" for v in devel} | {v: "test" for v in test})
        self._labels: dict[str, LabelRows] = {}

    def _find_partition(self) -> Path:
        candidates = (self.root / "partition.csv", self.root / "metadata" / "partition.csv",
                      self.root.parent / "metadata" / "partition.csv")
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise InputError(self.root, "missing corpus",
                             "no partition.csv (looked in the corpus folder, metadata/ and "
                             "../metadata/)")
        return found

    def label_files(self, video: str) -> tuple[Path, Path]:
        """The arousal and valence label files of a video."""
        return tuple(self.label_dir / d / f"{video}.csv" for d in DIMENSIONS)

    def transcript_file(self, video: str, segment: str) -> Path | None:
        """The transcription file of a segment (``<video>_<seg>.csv`` or ``<seg>.csv``)."""
        folder = self.transcript_dir / video
        for name in (f"{video}_{segment}.csv", f"{segment}.csv"):
            if (folder / name).is_file():
                return folder / name
        return None

    def _rows(self, video: str) -> LabelRows:
        if video not in self._labels:
            self._labels[video] = read_label_rows(self.label_files(video)[0])
        return self._labels[video]

    def _parse_name(self, path: Path) -> tuple[str, str | None] | str:
        """(video, segment or None) of an audio file, or the reason it is skipped."""
        if path.suffix.lower() != ".wav":
            return "not a .wav file"
        if path.parent == self.audio_dir:
            return path.stem, None
        video = path.parent.name
        if path.parent.parent != self.audio_dir or not path.stem.startswith(f"{video}_") \
                or path.stem == f"{video}_":
            return (f"not audio/<video>.wav or audio/<video>/<video>_<segment>.wav "
                    f"(in {self.audio_dir})")
        return video, segment_key(path.stem[len(video) + 1:])

    def _segment_words(self, video: str, segment: str, offset_ms: float,
                       ) -> tuple[str, tuple[WordTiming, ...]] | None:
        path = self.transcript_file(video, segment)
        if path is None:
            return None
        words = read_words(path, offset_ms)
        return (" ".join(w.word for w in words), words) if words else None

    def _video_segments(self, video: str, rows: LabelRows) -> tuple[Segment, ...]:
        """One Segment per transcription file of a video, on the video's clock."""
        folder = self.transcript_dir / video
        files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
        segments = []
        period = rows.period_ms()
        for path in files:
            if path.name.startswith("."):
                continue
            stem = path.stem
            key = segment_key(stem[len(video) + 1:] if stem.startswith(f"{video}_") else stem)
            words = read_words(path)
            if not words:
                continue
            index = rows.segment_rows(key)
            start = float(rows.times_ms[index[0]]) / 1000 if len(index) else words[0].start
            end = (float(rows.times_ms[index[-1]]) + period) / 1000 if len(index) \
                else words[-1].end
            segments.append(Segment(round(start, 6), round(end, 6),
                                    " ".join(w.word for w in words), words))
        return tuple(sorted(segments, key=lambda s: s.start))

    def _item(self, path: Path) -> Item | str:
        """The item of one audio file, or the reason it is skipped."""
        parsed = self._parse_name(path)
        if isinstance(parsed, str):
            return parsed
        video, segment = parsed
        official = self.official.get(video)
        if official is None:
            return f"video {video} is not in {self.partition_file}"
        if official == "test":
            return (f"video {video} is in the official test partition (labels not published; "
                    f"tfemo's test portion is half of the official devel videos)")
        arousal, valence = self.label_files(video)
        for label_file in (arousal, valence):
            if not label_file.is_file():
                return f"missing labels {label_file}"
        rows = self._rows(video)
        period = rows.period_ms()
        metadata = {"video": video, "official_portion": official}
        if segment is None:
            duration = audio_duration(path) or (float(rows.times_ms[-1]) + period) / 1000
            segments = self._video_segments(video, rows)
        else:
            index = rows.segment_rows(segment)
            if not len(index):
                return f"no labels of segment {segment} in {arousal}"
            first, last = float(rows.times_ms[index[0]]), float(rows.times_ms[index[-1]])
            duration = audio_duration(path) or (last - first + period) / 1000
            found = self._segment_words(video, segment, first)
            segments = () if found is None else (Segment(0.0, duration, *found),)
            metadata |= {"segment": segment, "segment_start": f"{first / 1000:g}"}
        return Item(id=path.stem, speaker=video, corpus=self.name, portion=self.portions[video],
                    audio_path=path, segments=segments,
                    load_trace=functools.partial(read_trace, arousal, valence, segment),
                    label_files=(arousal, valence), language=self.language, metadata=metadata)

    def _items_of(self, task: str) -> list[Item]:
        """One item per labelled train/devel audio file; skips go to `ignored`."""
        files = corpus_files(self.audio_dir)
        try:
            return collect_items(self.audio_dir, files, self._item, self.skip,
                                 "MuSe-CaR audio of labelled train/devel videos (like "
                                 "audio/<video>/<video>_<segment>.wav)")
        finally:
            self._labels = {}

    def _label_names_of(self, task: str) -> tuple[str, ...]:
        """The label dimensions: arousal and valence."""
        return DIMENSIONS
