"""The run plan and progress ledger of a records build, shared by every runner.

A corpus is written once: every item, sorted by id, into `<output_dir>/examples/<name>-<k>-of-
<n>.tfrecord`, whatever the partition. Beside each shard, `<shard>.items.json` holds each
written item's entry (id, speaker, portion, class, frames, and its sufficient statistics:
RunningStats count, mean and M2 of its audio, labels and features) and the skipped items, so
that any partition's train-only statistics are folded from them without reading audio again
(tfemo.records.partitions). `records.json` says what the records hold.

A runner (the local process pool in tfemo.records.build, the Beam pipeline in
tfemo.records.beam_pipeline) asks this module what to write (`plan_run`: items, shards, word
vectors, build options; `fingerprint`), what is already done (`load_progress`,
`pending_shards`), turns each built item into its entry (`item_entry`, `skip_entry`), writes a
shard's entries (`write_entries`) before the shard, records finished shards (`save_progress`)
and describes the records (`describe_records`). The runners differ only in how items are
built and shards written.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import tfemo
from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.features import feature_dims
from tfemo.core import storage
from tfemo.core.errors import SchemaError, TfemoError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, PORTIONS, Corpus, Item
from tfemo.corpora.merged import MergedCorpus
from tfemo.corpora.partition import Fold, check_speaker_independent
from tfemo.corpora.tables import read_label_file
from tfemo.records.description import (
    DESCRIPTION_FILE,
    DatasetDescription,
    RunningStats,
    description_path,
)
from tfemo.records.example import EXAMPLE_VERSION, BuildOptions, BuildResult, item_words
from tfemo.records.schema import SCHEMA_VERSION
from tfemo.records.writer import SHARD_SUFFIX, shard_name
from tfemo.text.embeddings import load_word_vectors, vector_table

PROGRESS_FILE = ".progress.json"
RECORDS_FILE = "records.json"
EXAMPLES = "examples"  # the folder of the shards: every item once
ENTRIES_SUFFIX = ".items.json"  # beside each shard: its items' entries and skips
NO_EMBEDDINGS = "none"


@dataclass(frozen=True)
class MakeOptions:
    """Everything about a run that changes its output (and so its fingerprint)."""

    task: str
    alignment: str = "auto"
    embeddings: str = "spacy-md"  # "none": no word vectors in the records
    examples_per_shard: int = 0  # 0: 8 per shard for recordings, 256 for utterances
    name: str = ""  # output name used in shard file names; default: the corpus name
    features: tuple[str, ...] = ()  # hand-crafted feature families to store per frame
    labels: str = ""  # folder of <item id>.csv gold standards replacing the corpus's own labels


@dataclass
class ShardPlan:
    """One shard: its folder (EXAMPLES; a portion in a partition), index, count and items."""

    portion: str
    index: int
    count: int
    items: list[Item]


@dataclass
class Skip:
    """An item left out of the records, and why."""

    item_id: str
    path: str
    reason: str
    detail: str


@dataclass
class RunReport:
    """What a run did, for the summary: per-stage seconds and the items skipped now."""

    written_shards: int = 0
    reused_shards: int = 0
    stage_seconds: Counter = field(default_factory=Counter)
    wall_seconds: float = 0.0
    views: list = field(default_factory=list)  # (fold, folder, description) of each partition


@dataclass
class RunPlan:
    """What a run will write, decided before any item is built; the same for every runner."""

    name: str
    items: list[Item]
    per_shard: int
    plans: list[ShardPlan]
    build_options: BuildOptions
    table: dict
    oov: set[str]
    vectors_name: str
    word_dim: int


def split_shards(folder: str, members: Sequence[Item], per_shard: int) -> list[ShardPlan]:
    """Contiguous shards of equal size over `members`, in their order."""
    count = max(1, math.ceil(len(members) / per_shard))
    size = math.ceil(len(members) / count)
    return [ShardPlan(folder, k, count, list(members[k * size:(k + 1) * size]))
            for k in range(count)]


def plan_shards(items: Sequence[Item], examples_per_shard: int) -> list[ShardPlan]:
    """Split each portion's items (sorted by id) into contiguous shards of equal size: the
    shards a partition's portions are read as (each one a slice of the examples)."""
    plans = []
    for portion in portions_of(items):
        members = sorted((i for i in items if i.portion == portion), key=lambda i: i.id)
        plans.extend(split_shards(portion, members, examples_per_shard))
    return plans


def portions_of(items: Sequence[Item]) -> list[str]:
    """Portions present, in the canonical order train, devel, test, then any others."""
    present = {i.portion for i in items}
    return [p for p in PORTIONS if p in present] + sorted(present - set(PORTIONS))


def _file_key(path: str | Path | None) -> list | None:
    """Size and modification time of a file (None when absent): a change means new content."""
    if path is None:
        return None
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [str(path), stat.st_size, stat.st_mtime_ns]


def fingerprint(corpus: Corpus, items: Sequence[Item], options: MakeOptions,
                vectors_name: str) -> str:
    """A hash of everything that determines the output: code versions, options, the word
    vectors, and every item with its audio and label files, transcripts and word timings."""
    entries = []
    for item in sorted(items, key=lambda i: i.id):
        entries.append([item.id, item.speaker, item.portion, _file_key(item.audio_path),
                        [_file_key(p) for p in item.label_files], item.label,
                        [[s.start, s.end, s.transcript, s.words] for s in item.segments]])
    versions = [SCHEMA_VERSION, EXAMPLE_VERSION, tfemo.__version__]
    embeddings = [vectors_name, _file_key(options.embeddings)]
    blob = json.dumps([versions, corpus.name, options.__dict__, embeddings, entries], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def with_gold_standard(items: Sequence[Item], folder: Path, dimensions: tuple[str, ...],
                       task: str) -> list[Item]:
    """Items whose labels come from `folder/<item id>.csv` (tools/make_gold_standard.py output).

    A missing file is reported when its item is built (an InputError naming the file), like any
    other bad label file; the files must have the corpus's label dimensions.
    """
    if task != CONTINUOUS:
        raise TfemoError("--labels replaces continuous labels; the task is " + task)
    if not folder.is_dir():
        raise TfemoError(f"{folder}: --labels must be a folder of <item id>.csv gold standards")
    return [dataclasses.replace(
        item, load_trace=functools.partial(read_label_file, folder / f"{item.id}.csv",
                                           dimensions, ()),
        label_files=(folder / f"{item.id}.csv",)) for item in items]


def plan_run(corpus: Corpus, options: MakeOptions,
             items: Sequence[Item] | None = None) -> RunPlan:
    """Items, shards, build options and word vectors of a run (every runner alike)."""
    name = options.name or corpus.name
    items = list(items) if items is not None else corpus.items(options.task)
    if not items:
        raise TfemoError(f"corpus {corpus.name!r} has no items for task {options.task!r}")
    continuous = options.task == CONTINUOUS
    dimensions = tuple(corpus.label_names(CONTINUOUS)) if continuous else ()
    if options.labels:
        items = with_gold_standard(items, Path(options.labels), dimensions, options.task)
    ids = Counter(i.id for i in items)
    repeated = sorted(i for i, n in ids.items() if n > 1)
    if repeated:
        raise TfemoError(f"corpus {corpus.name!r}: item ids must be unique; repeated: "
                         f"{', '.join(repeated[:5])}")
    per_shard = options.examples_per_shard or (256 if options.task == CATEGORICAL else 8)
    plans = split_shards(EXAMPLES, sorted(items, key=lambda i: i.id), per_shard)

    has_text = options.embeddings != NO_EMBEDDINGS and any(
        s.transcript.strip() or s.words for i in items for s in i.segments)
    vocabulary = sorted({w for i in items for w in item_words(i, options.alignment)})
    vectors_name, word_dim, table, oov = "", 0, {}, set()
    if has_text:
        word_vectors = load_word_vectors(options.embeddings)
        vectors_name, word_dim = word_vectors.name, word_vectors.dim
        table, oov = vector_table(vocabulary, word_vectors)
    class_names = () if continuous else tuple(corpus.label_names(CATEGORICAL))
    raters = tuple(corpus.rater_names) if continuous else ()
    if options.labels:
        raters = ()  # a gold standard has no per-annotator ratings
    feature_dims(options.features)  # unknown families fail here, before any work
    build_options = BuildOptions(options.task, options.alignment, class_names, word_dim,
                                 dimensions, raters, tuple(options.features))
    return RunPlan(name, items, per_shard, plans, build_options, table, oov, vectors_name,
                   word_dim)


def check_folds(corpus: Corpus, run: RunPlan, folds: Sequence[Fold] | None) -> list[Fold]:
    """The run's folds (default: one, the items' own portions), each checked for a speaker
    in two portions before any work (when the corpus can be split by speaker)."""
    folds = list(folds) if folds is not None else [Fold("", tuple(run.items))]
    if corpus.speaker_independent:
        for fold in folds:
            check_speaker_independent(fold.items, corpus.name)
    return folds


# --- the ledger: what is done ----------------------------------------------------------------

def shard_key(name: str, plan: ShardPlan) -> str:
    """A shard's path relative to the output folder: its key in the ledger (and in Beam)."""
    return f"{plan.portion}/{shard_name(name, plan.index, plan.count)}"


def entries_key(key: str) -> str:
    """Where a shard's entries live, relative to the output folder."""
    return key.removesuffix(SHARD_SUFFIX) + ENTRIES_SUFFIX


def pending_shards(run: RunPlan, output_dir: storage.Location, progress: dict,
                   ) -> tuple[list[tuple[str, ShardPlan]], list[tuple[str, ShardPlan]]]:
    """(shards still to write, finished shards), each as (key, plan), in plan order. A shard
    is finished when the ledger lists it and it and its entries are there."""
    todo, done = [], []
    finished = set(progress["shards"])
    for plan in run.plans:
        key = shard_key(run.name, plan)
        if key in finished and storage.isfile(storage.join(output_dir, key)) and \
                storage.isfile(storage.join(output_dir, entries_key(key))):
            done.append((key, plan))
        else:
            todo.append((key, plan))
    return todo, done


def load_progress(output_dir: storage.Location, key: str) -> dict:
    """The finished shards of an earlier run with the same fingerprint, else a fresh start
    (removing the records and partitions of a different run, or of an older layout)."""
    path = storage.join(output_dir, PROGRESS_FILE)
    try:
        progress = json.loads(storage.read_text(path))
        if progress.get("fingerprint") == key and isinstance(progress.get("shards"), list):
            return progress
    except (OSError, ValueError):
        pass
    old = [path, description_path(output_dir), storage.join(output_dir, RECORDS_FILE)]
    if any(storage.exists(p) for p in old) or storage.glob(output_dir, "*/" + DESCRIPTION_FILE):
        print(f"{output_dir}: holds records of a different run; rewriting them", file=sys.stderr)
        _remove_old_records(output_dir)
    return {"fingerprint": key, "shards": []}


def _remove_old_records(output_dir: storage.Location) -> None:
    """Delete the shards, entries, partitions and ledger of an earlier, different run (and the
    per-portion and per-fold shards of the layout before schema v3)."""
    for pattern in ("*/*.tfrecord", "*/*/*.tfrecord", f"*/*{ENTRIES_SUFFIX}",
                    "*/" + DESCRIPTION_FILE, "*/" + PROGRESS_FILE):
        for path in storage.glob(output_dir, pattern):
            storage.remove(path)
    for path in (storage.join(output_dir, PROGRESS_FILE), description_path(output_dir),
                 storage.join(output_dir, RECORDS_FILE)):
        storage.remove(path)


def save_progress(output_dir: storage.Location, progress: dict) -> None:
    """Atomically record the finished shards (keys, sorted)."""
    progress = {"fingerprint": progress["fingerprint"], "shards": sorted(set(progress["shards"]))}
    storage.write_atomic(storage.join(output_dir, PROGRESS_FILE),
                         json.dumps(progress, indent=1, sort_keys=True))


def item_entry(item: Item, result: BuildResult, oov: set[str]) -> dict:
    """One written item: what partitions need of it, with its sufficient statistics."""
    return {"id": item.id, "speaker": item.speaker, "portion": item.portion,
            "metadata": dict(item.metadata),
            "class": item.label if item.label is not None and item.load_trace is None else None,
            "frames": result.num_frames, "seconds": result.seconds,
            "word_tokens": len(result.words), "oov_tokens": sum(w in oov for w in result.words),
            "alignment": result.alignment,
            "label_stats": _stats(result.label_stats), "audio_stats": _stats(result.audio_stats),
            "feature_stats": _stats(result.feature_stats)}


def skip_entry(item: Item, skip: Skip) -> dict:
    """One skipped item: the skip, and where the item would sit in a partition."""
    return {**dataclasses.asdict(skip), "speaker": item.speaker, "portion": item.portion,
            "metadata": dict(item.metadata)}


def as_skip(entry: dict) -> Skip:
    """The Skip of a skip entry."""
    return Skip(**{f.name: entry[f.name] for f in dataclasses.fields(Skip)})


def write_entries(output_dir: storage.Location, key: str, entries: Sequence[dict],
                  skips: Sequence[dict]) -> None:
    """Write a shard's entries and skips (before the shard itself, so a finished shard always
    has them); deterministic JSON, so any runner writes the same bytes."""
    text = json.dumps({"items": list(entries), "skipped": list(skips)}, sort_keys=True,
                      allow_nan=False)
    storage.write_atomic(storage.join(output_dir, entries_key(key)), text + "\n")


def read_entries(output_dir: storage.Location, key: str) -> dict:
    """A shard's entries and skips."""
    return json.loads(storage.read_text(storage.join(output_dir, entries_key(key))))


def _stats(stats: RunningStats | None) -> dict | None:
    return None if stats is None else stats.to_dict()


# --- what the records hold ------------------------------------------------------------------

def describe_records(corpus: Corpus, run: RunPlan, options: MakeOptions,
                     command: Sequence[str]) -> DatasetDescription:
    """What the records hold, for every partition of them (no portions, no statistics: those
    are the partitions'); `partition["files"]` lists the shards in id order."""
    build = run.build_options
    return DatasetDescription(
        name=run.name, corpus=corpus.name, task=options.task, sample_rate=SAMPLE_RATE,
        frame_length=FRAME_LENGTH, frame_seconds=FRAME_SECONDS, word_dim=run.word_dim,
        features=feature_dims(build.features),
        word_vectors=run.vectors_name, label_names=list(build.class_names or build.dimensions),
        raters=list(build.raters), oov={"types": len(run.oov)},
        command=list(command), tfemo_version=tfemo.__version__,
        extra={"examples_per_shard": run.per_shard, "alignment_option": options.alignment,
               "embeddings_option": options.embeddings, "labels_option": options.labels,
               "speaker_independent": corpus.speaker_independent,
               **({"corpora": corpus.summary()} if isinstance(corpus, MergedCorpus) else {})},
        partition={"files": [shard_key(run.name, plan) for plan in run.plans]},
    )


def write_records_file(output_dir: storage.Location, description: DatasetDescription) -> None:
    """Write records.json (atomically; last of the records, before any partition)."""
    storage.write_atomic(storage.join(output_dir, RECORDS_FILE), description.to_json())


def read_records_file(output_dir: storage.Location) -> DatasetDescription:
    """The records.json of a records folder."""
    path = storage.join(output_dir, RECORDS_FILE)
    try:
        text = storage.read_text(path)
    except FileNotFoundError:
        raise SchemaError(f"{output_dir}: no {RECORDS_FILE}: not a folder of records made by "
                          "tools/make_tfrecords.py (or its run did not finish)") from None
    return DatasetDescription.from_dict(json.loads(text), source=str(path))


__all__ = ["EXAMPLES", "NO_EMBEDDINGS", "PROGRESS_FILE", "RECORDS_FILE", "MakeOptions",
           "RunPlan", "RunReport", "ShardPlan", "Skip", "as_skip", "check_folds",
           "describe_records",
           "entries_key", "fingerprint", "item_entry", "load_progress", "pending_shards",
           "plan_run", "plan_shards", "portions_of", "read_entries", "read_records_file",
           "save_progress", "shard_key", "skip_entry", "split_shards", "with_gold_standard",
           "write_entries", "write_records_file"]
