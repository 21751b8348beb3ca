"""Recognise the words of many corpus items, resumably, into a timed transcript CSV.

Each file's words are appended to the CSV as soon as they are recognised, so a run that is
stopped and started again recognises only the files the CSV lacks; the CSV is then an
ordinary transcript CSV (`tfemo.text.transcripts`) that any later run can be given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tfemo.audio.io import load_audio
from tfemo.core.errors import InputError
from tfemo.core.parallel import ordered_map
from tfemo.corpora.base import Item, WordTiming
from tfemo.text.transcription import has_recogniser, recognise
from tfemo.text.transcripts import (
    TranscriptTable,
    has_transcript,
    read_transcripts,
    write_timed_transcripts,
)


@dataclass
class RecognitionReport:
    """What a run recognised, took from the CSV, and could not recognise (and why)."""

    recognised: int = 0
    reused: int = 0
    failed: list[InputError] = field(default_factory=list)
    other_language: list[Item] = field(default_factory=list)


def _init() -> None:
    return None


def _recognise_item(item: Item) -> tuple[str, list[WordTiming]] | InputError:
    """One item's words (in a worker), or the InputError of its audio."""
    try:
        return str(item.audio_path), recognise(load_audio(item.audio_path), str(item.audio_path),
                                               item.language)
    except InputError as error:
        return error


def recognise_items(items: Sequence[Item], csv_path: str | Path, *, replace: bool = False,
                    workers: int = 1, on_progress: Callable[[int], None] | None = None,
                    ) -> tuple[TranscriptTable, RecognitionReport]:
    """Recognise the items without a transcript (every item with `replace`) into `csv_path`.

    Items in a language the recogniser lacks are left out (in `other_language`); files that
    cannot be read are left out too (in `failed`, their InputErrors), to be reported by the
    caller. Returns the CSV's table (every file recognised so far) and the report.
    """
    csv_path = Path(csv_path)
    report = RecognitionReport()
    done = read_transcripts(csv_path) if csv_path.is_file() else TranscriptTable({})
    todo = []
    for item in items:
        if not replace and has_transcript(item):
            continue
        if not has_recogniser(item.language):
            report.other_language.append(item)
        elif done.get(item.audio_path) is not None:
            report.reused += 1
        else:
            todo.append(item)
    if on_progress and report.reused:
        on_progress(report.reused)
    for outcome in ordered_map(_recognise_item, todo, workers, _init):
        if isinstance(outcome, InputError):
            report.failed.append(outcome)
        else:
            # absolute paths: the CSV is read relative to its own folder
            write_timed_transcripts(csv_path, [(str(Path(outcome[0]).resolve()), outcome[1])],
                                    append=True)
            report.recognised += 1
        if on_progress:
            on_progress(1)
    table = read_transcripts(csv_path) if csv_path.is_file() else TranscriptTable({})
    return table, report
