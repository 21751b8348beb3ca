"""Transcript CSVs from any recogniser: read, look up by audio file, write, and apply to items.

Two layouts, paths relative to the CSV's folder (or absolute):
- `path,transcript`: one row per file, the words to be aligned;
- `path,word,start,end`: one row per word, times in seconds from the start of the file (a file
  in which no word was heard has one row with an empty word). These words go straight onto
  the frames, with no alignment pass; `tfemo.text.transcription` writes this layout.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tfemo.core.errors import UserError
from tfemo.corpora.base import Item, Segment, WordTiming
from tfemo.corpora.files import audio_duration

TIMED_COLUMNS = ("path", "word", "start", "end")


@dataclass(frozen=True)
class Transcript:
    """What was said in one file: its text, and its timed words when known."""

    text: str
    words: tuple[WordTiming, ...] | None = None
    source: str = ""  # who timed the words, when not the caller ("asr": the recogniser)


def _key(path: str | Path) -> str:
    return os.path.normcase(os.path.abspath(os.path.normpath(str(path))))


class TranscriptTable:
    """Transcripts by audio file: looked up by path, or by file name when that is unique."""

    def __init__(self, entries: Mapping[str, Transcript], source: str = "") -> None:
        self.source = source
        self._by_path = {_key(path): entry for path, entry in entries.items()}
        names: dict[str, list[str]] = {}
        for path in self._by_path:
            names.setdefault(os.path.basename(path), []).append(path)
        self._by_name = {name: self._by_path[paths[0]] for name, paths in names.items()
                         if len(paths) == 1}

    def __len__(self) -> int:
        return len(self._by_path)

    def get(self, audio_path: str | Path) -> Transcript | None:
        """The transcript of `audio_path`, or None when the table has none."""
        return self._by_path.get(_key(audio_path)) or self._by_name.get(
            os.path.basename(str(audio_path)))


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UserError(f"{path}: line {line}: {column} {text!r} is not a time in seconds",
                        "give word times as non-negative seconds from the start of the file")
    return value


def read_transcripts(path: str | Path) -> TranscriptTable:
    """A transcript CSV (either layout); UserError naming the file and line when it is bad."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            columns = rows[0].keys() if rows else ()
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: cannot read the transcript CSV: {error}") from None
    timed = all(c in columns for c in TIMED_COLUMNS)
    if not rows or "path" not in columns or not (timed or "transcript" in columns):
        raise UserError(f"{path}: a transcript CSV needs the columns path,transcript or "
                        f"path,word,start,end (it has: {', '.join(columns) or 'no rows'})")
    words: dict[str, list[WordTiming]] = {}
    texts: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        where = row["path"] or ""
        if not where.strip():
            raise UserError(f"{path}: line {line}: empty path")
        audio = str(path.parent / where)
        if not timed:
            texts[audio] = (row["transcript"] or "").strip()
            continue
        entry = words.setdefault(audio, [])
        word = (row["word"] or "").strip()
        if not word:
            continue
        start = _number(row["start"] or "", path, line, "start")
        end = _number(row["end"] or "", path, line, "end")
        if end < start:
            raise UserError(f"{path}: line {line}: the word {word!r} ends ({end}) before it "
                            f"starts ({start})")
        entry.append(WordTiming(word, start, end))
    if timed:
        entries = {audio: Transcript(" ".join(w.word for w in found), tuple(found))
                   for audio, found in words.items()}
    else:
        entries = {audio: Transcript(text) for audio, text in texts.items()}
    return TranscriptTable(entries, str(path))


def timed_rows(audio_path: str, words: Sequence[WordTiming]) -> list[dict[str, str]]:
    """The CSV rows of one file's timed words (one empty row when no word was heard)."""
    if not words:
        return [{"path": audio_path, "word": "", "start": "", "end": ""}]
    return [{"path": audio_path, "word": w.word, "start": f"{w.start:.3f}", "end": f"{w.end:.3f}"}
            for w in words]


def write_timed_transcripts(path: str | Path, files: Iterable[tuple[str, Sequence[WordTiming]]],
                            append: bool = False) -> None:
    """Write (or append) files' timed words in the `path,word,start,end` layout."""
    path = Path(path)
    new = not append or not path.exists()
    with open(path, "w" if new else "a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(TIMED_COLUMNS))
        if new:
            writer.writeheader()
        for audio, words in files:
            writer.writerows(timed_rows(audio, words))


def has_transcript(item: Item) -> bool:
    """Whether the corpus gives words for the item (a transcript or timed words)."""
    return any(s.transcript.strip() or s.words for s in item.segments)


def with_transcript(item: Item, transcript: Transcript) -> Item:
    """The item with one segment over the whole file holding `transcript`."""
    if transcript.words is not None:
        end = max((w.end for w in transcript.words), default=0.0)
    else:
        end = audio_duration(item.audio_path)  # 0.0 if unreadable: reported when built
    segment = Segment(0.0, end, transcript.text, transcript.words)
    return dataclasses.replace(item, segments=(segment,))


def apply_transcripts(items: Sequence[Item], table: TranscriptTable,
                      replace: bool = True) -> list[Item]:
    """Items with the table's transcripts: every item the table has (`replace`), or only the
    items that have none of their own; items the table lacks are kept as they are."""
    out = []
    for item in items:
        transcript = table.get(item.audio_path)
        if transcript is not None and (replace or not has_transcript(item)):
            item = with_transcript(item, transcript)
        out.append(item)
    return out
