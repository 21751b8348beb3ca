"""Items whose input files travel with the run, for Beam workers that cannot see the corpus.

A corpus reader runs on the launcher and its items name local files: the audio (read by
load_audio) and the label files behind `load_trace`; transcripts and word timings are already
in the item. `stage_item` copies the audio into the run's staging folder (local or gs://) and
reads the continuous labels there and then: `load_trace` is an opaque callable of each reader
(a partial over one, two or many files, or over no file at all), and a trace is small, so the
staged item carries the trace, or the InputError its label file gave. In a worker,
`build_staged` copies the audio to a local temporary file and runs the unchanged build code on
it; error messages name the corpus's own file again, so the examples and the skip reports are
those of an unstaged run, byte for byte.
"""

from __future__ import annotations

import dataclasses
import functools
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tfemo.core import storage
from tfemo.core.errors import InputError
from tfemo.corpora.base import Item, Trace
from tfemo.labels.traces import load_item_trace
from tfemo.records.example import BuildOptions, BuildResult, build_serialized

COPY_THREADS = 8  # staging is network-bound on the launcher: copy several files at once


@dataclass(frozen=True)
class StagedItem:
    """A planned item with its inputs in the staging folder.

    `audio` is the staged copy of `item.audio_path` (None when the launcher has no such file:
    the worker then reports it missing, as an unstaged run would); `trace` is the item's
    continuous labels or their InputError (None for an item without `load_trace`).
    """

    item: Item
    audio: str | None
    trace: Trace | InputError | None


def stage_item(item: Item, folder: str | Path) -> StagedItem:
    """Copy `item`'s audio into `folder` (a folder of its own) and read its labels."""
    audio = None
    if Path(item.audio_path).is_file():
        audio = str(storage.join(folder, Path(item.audio_path).name))  # the name, for its format
        storage.copy(item.audio_path, audio)
    trace = None
    if item.load_trace is not None:
        try:
            trace = load_item_trace(item)
        except InputError as error:  # reported by the worker, at the point the build reads it
            trace = error
    return StagedItem(item, audio, trace)


def stage_items(items: list[Item], folder: str | Path, first: int = 0) -> list[StagedItem]:
    """`stage_item` for each item, item k in `folder/<first + k>/`, copied in parallel."""
    with ThreadPoolExecutor(COPY_THREADS) as pool:
        return list(pool.map(
            lambda pair: stage_item(pair[1], storage.join(folder, f"{first + pair[0]:07d}")),
            enumerate(items)))


def _replay(trace: Trace | InputError) -> Trace:
    """The `load_trace` of a staged item: the labels the launcher read, or their error."""
    if isinstance(trace, InputError):
        raise trace
    return trace


def build_staged(staged: StagedItem, options: BuildOptions,
                 table: dict) -> tuple[bytes, BuildResult] | InputError:
    """`build_serialized` of the item, reading its staged inputs; errors name the corpus's files."""
    item, changes = staged.item, {}
    if staged.trace is not None:
        changes["load_trace"] = functools.partial(_replay, staged.trace)
    with tempfile.TemporaryDirectory(prefix="tfemo-item-") as folder:
        local = Path(folder) / Path(item.audio_path).name
        if staged.audio is not None:
            storage.copy(staged.audio, local)
            changes["audio_path"] = local
        outcome = build_serialized(dataclasses.replace(item, **changes), options, table)
    if isinstance(outcome, InputError) and "audio_path" in changes:
        temp, original = str(local), str(item.audio_path)
        outcome = InputError(outcome.path.replace(temp, original), outcome.reason,
                             outcome.detail.replace(temp, original))
    return outcome


__all__ = ["StagedItem", "build_staged", "stage_item", "stage_items"]
