"""Make the feature store of a corpus: featurise every item (in workers), durably, then write.

Kill safety (issue 15 item 1, issue 11 item 5).  Writing the HDF5 file in place and flushing
after every item is NOT kill-safe: with h5py 3.16 / HDF5 2.0, a writer SIGKILLed 1-2 s into a
loop of `create_group` + chunked gzip datasets + attributes + `flush()` left a file that
h5py could not open ("bad object header version number") in 1 of 40 trials, and in 2 of 25
trials of three kills each; deleting half-written groups cannot repair that.  So an item's
completion is made durable outside HDF5: each finished item is one small file in
`<store>.parts/` written with write_atomic (temp, fsync, rename; tfemo.store.parts), and the
HDF5 file is written in one pass from the parts into `<store>.partial`, fsynced and renamed
(tfemo.store.writer).  A run killed at any point and started again reuses every finished part,
deletes a half-written `.partial`, and writes the same file contents as an uninterrupted run;
the parts folder is removed when the store is complete.  The options are fingerprinted: parts
or a store made with other options are refused rather than mixed.

Bad items (InputError: missing, corrupt, empty or non-finite audio) are reported through
`on_skip` and listed in `/_skipped`; with `strict` the first one stops the run (finished parts
are kept for a resumed run).  Everything else in the file is what a run without the bad file
writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py

import tfemo
from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.features import (
    FEATURE_FAMILIES,
    KNOWN_FAMILIES,
    N_MELS,
    N_MFCC,
    feature_dims,
    parse_families,
)
from tfemo.core.errors import InputError, TfemoError, UserError
from tfemo.core.parallel import ordered_map
from tfemo.corpora.base import Corpus, Item
from tfemo.store.featurise import ItemFeatures, featurise, item_attributes
from tfemo.store.layout import RESERVED, STORE_VERSION, item_group
from tfemo.store.parts import Parts, Skip, describe_difference, parts_dir, remove_parts
from tfemo.store.reader import FeatureStore, PortionSummary
from tfemo.store.writer import partial_path, write_store


@dataclass(frozen=True)
class StoreOptions:
    """Everything about a run that changes the store's contents (and so its fingerprint)."""

    task: str
    features: tuple[str, ...] = FEATURE_FAMILIES


@dataclass
class StoreReport:
    """What a run did: per-portion contents of the store, skips, and work done or reused."""

    output: Path
    portions: dict[str, PortionSummary] = field(default_factory=dict)
    skipped: list[Skip] = field(default_factory=list)
    computed: int = 0  # items featurised by this run
    reused: int = 0  # items whose part an earlier, interrupted run had finished
    up_to_date: bool = False  # the store was already complete: nothing was done
    wall_seconds: float = 0.0


def parse_features(text: str) -> tuple[str, ...]:
    """The store's `--features`: at least one family (tfemo.audio.features.parse_families)."""
    return parse_families(text, allow_empty=False)


def feature_options() -> dict[str, int]:
    """The extraction settings the frames depend on (all fixed by tfemo.audio.features)."""
    return {"sample_rate": SAMPLE_RATE, "frame_length": FRAME_LENGTH, "n_mfcc": N_MFCC,
            "n_mels": N_MELS}


def options_json(corpus: str, options: StoreOptions) -> str:
    """Canonical JSON of the run's options and code versions (what a resumed run must match)."""
    return json.dumps({"store_version": STORE_VERSION, "tfemo_version": tfemo.__version__,
                       "corpus": corpus, "task": options.task,
                       "features": list(options.features),
                       "feature_options": feature_options()}, sort_keys=True)


def item_key(item: Item) -> str:
    """What a finished item depends on: its fields, metadata and audio file (size, mtime)."""
    try:
        stat = os.stat(item.audio_path)
        audio = [stat.st_size, stat.st_mtime_ns]
    except OSError:
        audio = None
    return json.dumps([item_attributes(item), audio], sort_keys=True)


def file_attributes(corpus: str, options: StoreOptions, fingerprint: str) -> dict[str, object]:
    """The store's file-level attributes (tfemo.store.layout.FILE_ATTRS).

    Only what the contents depend on: how the command was typed (--workers, paths) is not
    recorded, so two runs of the same options over the same files write the same bytes.
    """
    dims = feature_dims(options.features)
    stats_families = [name for name in KNOWN_FAMILIES if name in dims]
    return {"store_version": STORE_VERSION, "tfemo_version": tfemo.__version__,
            "corpus": corpus, "task": options.task, "families": list(dims),
            "family_dims": list(dims.values()), "frame_dim": sum(dims.values()),
            "stats_families": stats_families, "stats_dim": 2 * sum(dims.values()),
            "frame_rate": 1.0 / FRAME_SECONDS, "frame_seconds": FRAME_SECONDS,
            "sample_rate": SAMPLE_RATE, "feature_options": json.dumps(feature_options()),
            "options": options_json(corpus, options), "fingerprint": fingerprint}


def make_feature_store(corpus: Corpus, output: str | Path, options: StoreOptions, *,
                       workers: int = 1, strict: bool = False,
                       items: Sequence[Item] | None = None,
                       on_progress: Callable[[int], None] | None = None,
                       on_skip: Callable[[Skip], None] | None = None) -> StoreReport:
    """Write the HDF5 feature store of `items` (default: the corpus's items for the task).

    Resumes an interrupted run with the same options; refuses parts or a store made with
    other options.  on_progress(n) is called as n more items are done, on_skip for each item
    left out.  With `strict` the first bad item raises its InputError.
    """
    started = time.perf_counter()
    output = Path(output)
    items = sorted(items if items is not None else corpus.items(options.task), key=lambda i: i.id)
    if not items:
        raise TfemoError(f"corpus {corpus.name!r} has no items for task {options.task!r}")
    _check_items(items)
    try:
        feature_dims(options.features)
    except ValueError as error:
        raise UserError(f"features: {error}", "use known feature families") from None
    if not options.features:
        raise UserError("no feature families to store", "name at least one")
    keys = [item_key(item) for item in items]
    run_options = options_json(corpus.name, options)
    fingerprint = hashlib.sha256(json.dumps([run_options, keys]).encode()).hexdigest()
    report = StoreReport(output)

    if _up_to_date(output, run_options, fingerprint):
        remove_parts(output)  # a kill may have struck between the rename and the cleanup
        report.up_to_date = True
        _summarise(report, strict, on_skip)
        if on_progress:
            on_progress(len(items))
        report.wall_seconds = time.perf_counter() - started
        return report

    output.parent.mkdir(parents=True, exist_ok=True)
    parts = Parts(parts_dir(output), run_options)
    skips: dict[str, Skip] = {}  # the features wait in the parts, not in memory
    todo = []
    for item, key in zip(items, keys, strict=True):
        saved = parts.load(item.id, key)
        if saved is None:
            todo.append((item, key))
            continue
        if isinstance(saved, Skip):
            _skipped(saved, strict, on_skip)
            skips[item.id] = saved
        report.reused += 1
        if on_progress:
            on_progress(1)

    outcomes = _featurise_all([item for item, _ in todo], options.features, workers)
    try:
        for item, key in todo:
            outcome = next(outcomes)
            if isinstance(outcome, InputError):
                if strict:
                    raise outcome
                outcome = Skip(item.id, outcome.path, outcome.reason, outcome.detail)
                _skipped(outcome, False, on_skip)
                skips[item.id] = outcome
            parts.save(item.id, key, outcome)
            report.computed += 1
            if on_progress:
                on_progress(1)
    finally:
        outcomes.close()

    write_store(output, file_attributes(corpus.name, options, fingerprint),
                ((item, _features(parts, item, key)) for item, key in zip(items, keys, strict=True)
                 if item.id not in skips),
                [skips[item.id] for item in items if item.id in skips])
    parts.remove()
    _summarise(report, False, None)
    report.wall_seconds = time.perf_counter() - started
    return report


def _features(parts: Parts, item: Item, key: str) -> ItemFeatures:
    """An item's features, read back from its part while the store is written."""
    saved = parts.load(item.id, key)
    if not isinstance(saved, ItemFeatures):
        raise RuntimeError(f"the part of {item.id!r} vanished from {parts.folder}")
    return saved


def _check_items(items: Sequence[Item]) -> None:
    """Every item needs its own group, and no corpus may take a reserved top-level name."""
    seen: dict[str, str] = {}
    for item in items:
        if item.corpus in RESERVED:
            raise TfemoError(f"corpus name {item.corpus!r} is reserved in the feature store")
        try:
            group = item_group(item.corpus, item.speaker, item.id)
        except ValueError as error:
            raise InputError(item.audio_path, "bad item", str(error)) from None
        if group in seen:
            raise TfemoError(f"items {seen[group]!r} and {item.id!r} would share {group}")
        seen[group] = item.id


def _up_to_date(output: Path, run_options: str, fingerprint: str) -> bool:
    """Whether `output` is already this run's store; refuses a store made with other options."""
    partial_path(output).unlink(missing_ok=True)  # a kill struck while it was written
    if not output.exists():
        return False
    try:
        with h5py.File(output, "r") as file:
            saved_options, saved = file.attrs.get("options"), file.attrs.get("fingerprint")
    except OSError as error:
        raise UserError(f"{output} exists but is not an HDF5 file ({error})",
                        "choose another --output or delete it") from None
    if saved_options != run_options:
        raise UserError(f"{output} is a feature store made with other options "
                        f"({describe_difference(saved_options, run_options)})",
                        "choose another --output, or delete it to make it again")
    return saved == fingerprint


def _skipped(skip: Skip, strict: bool, on_skip: Callable[[Skip], None] | None) -> None:
    """Report a skipped item, or with `strict` stop the run with it."""
    if strict:
        raise InputError(skip.path, skip.reason, skip.detail)
    if on_skip:
        on_skip(skip)


def _summarise(report: StoreReport, strict: bool, on_skip) -> None:
    """Fill the report from the finished store (also when it was already up to date)."""
    with FeatureStore(report.output) as store:
        report.portions = store.summary()
        report.skipped = store.skipped()
    for skip in report.skipped:
        _skipped(skip, strict, on_skip)


# --- featurising in workers ------------------------------------------------------------------

_worker_state: dict = {}


def _init_worker(families: tuple[str, ...]) -> None:
    _worker_state["families"] = families


def _featurise_one(item: Item) -> ItemFeatures | InputError:
    """One item's features in a worker; a bad input comes back as its error."""
    try:
        return featurise(item, _worker_state["families"])
    except InputError as error:
        return error


def _featurise_all(items: list[Item], families: tuple[str, ...],
                   workers: int) -> Iterator[ItemFeatures | InputError]:
    """Outcomes of `items` in order, from `workers` processes with a bounded look-ahead."""
    return ordered_map(_featurise_one, items, workers, _init_worker, (families,))
