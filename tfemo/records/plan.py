"""The run plan and progress ledger of a records build, shared by every runner.

A runner (the local process pool in tfemo.records.build, the Beam pipeline in
tfemo.records.beam_pipeline) asks this module what to write (`plan_run`: items, shards, word
vectors, build options; `fingerprint`), what is already done (`load_progress`,
`pending_shards`), folds each built item into its shard's record (`empty_record`,
`add_to_record`), records finished shards (`save_progress`) and turns the records into the
description (`describe`). The runners differ only in how items are built and shards written.
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

import numpy as np

import tfemo
from tfemo.audio import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE
from tfemo.audio.features import feature_dims
from tfemo.core import storage
from tfemo.core.errors import TfemoError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, PORTIONS, Corpus, Item
from tfemo.corpora.partition import check_speaker_independent
from tfemo.corpora.tables import read_label_file
from tfemo.records.description import DatasetDescription, RunningStats, description_path
from tfemo.records.example import EXAMPLE_VERSION, BuildOptions, BuildResult, item_words
from tfemo.records.schema import SCHEMA_VERSION
from tfemo.records.writer import shard_path
from tfemo.text.embeddings import load_word_vectors, vector_table

PROGRESS_FILE = ".progress.json"
NO_EMBEDDINGS = "none"
SPEAKER_STATS_NOTE = ("per speaker: mean and std of all of the speaker's frames in every portion, "
                      "computed from the audio only (no labels)")


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
    """One shard to write: its portion, index, count and items."""

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


def plan_shards(items: Sequence[Item], examples_per_shard: int) -> list[ShardPlan]:
    """Split each portion's items (sorted by id) into contiguous shards of equal size."""
    plans = []
    for portion in portions_of(items):
        members = sorted((i for i in items if i.portion == portion), key=lambda i: i.id)
        count = max(1, math.ceil(len(members) / examples_per_shard))
        size = math.ceil(len(members) / count)
        plans.extend(ShardPlan(portion, k, count, members[k * size:(k + 1) * size])
                     for k in range(count))
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
    if corpus.speaker_independent:
        check_speaker_independent(items, corpus.name)
    per_shard = options.examples_per_shard or (256 if options.task == CATEGORICAL else 8)
    plans = plan_shards(items, per_shard)

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


# --- the ledger: what is done ----------------------------------------------------------------

def shard_key(output_dir: storage.Location, name: str, plan: ShardPlan) -> str:
    """A shard's path relative to the output folder: its key in the ledger (and in Beam)."""
    path = shard_path(output_dir, plan.portion, name, plan.index, plan.count)
    return storage.relative(path, output_dir)


def pending_shards(run: RunPlan, output_dir: storage.Location, progress: dict,
                   ) -> tuple[list[tuple[str, ShardPlan]], dict[str, dict]]:
    """(shards still to write, with their keys; finished shards' records by key), in plan
    order. A shard is finished when the ledger lists it and its file is there."""
    todo, done = [], {}
    for plan in run.plans:
        key = shard_key(output_dir, run.name, plan)
        if key in progress["shards"] and storage.isfile(storage.join(output_dir, key)):
            done[key] = progress["shards"][key]
        else:
            todo.append((key, plan))
    return todo, done


def load_progress(output_dir: storage.Location, key: str) -> dict:
    """The finished shards of an earlier run with the same fingerprint, else a fresh start
    (removing the records of a different run)."""
    path = storage.join(output_dir, PROGRESS_FILE)
    try:
        progress = json.loads(storage.read_text(path))
        if progress.get("fingerprint") == key:
            return progress
    except (OSError, ValueError):
        pass
    if storage.exists(path) or storage.exists(description_path(output_dir)):
        print(f"{output_dir}: holds records of a different run; rewriting them", file=sys.stderr)
        _remove_old_records(output_dir)
    return {"fingerprint": key, "shards": {}}


def _remove_old_records(output_dir: storage.Location) -> None:
    """Delete the shards, description and progress of an earlier, different run."""
    for shard in storage.glob(output_dir, "*/*.tfrecord"):  # in the portion folders
        storage.remove(shard)
    for path in (storage.join(output_dir, PROGRESS_FILE), description_path(output_dir)):
        storage.remove(path)


def save_progress(output_dir: storage.Location, progress: dict) -> None:
    """Atomically record the finished shards."""
    storage.write_atomic(storage.join(output_dir, PROGRESS_FILE),
                         json.dumps(progress, indent=1, sort_keys=True))


def empty_record() -> dict:
    """The record of a shard before any item is folded in."""
    return {"examples": 0, "frames": 0, "seconds": 0.0, "speakers": [], "skipped": [],
            "word_tokens": 0, "oov_tokens": 0, "alignment": {}, "label_stats": None,
            "audio_stats": None, "feature_stats": None, "speaker_feature_stats": {},
            "classes": {}}


def add_to_record(record: dict, item: Item, result: BuildResult, oov: set[str]) -> None:
    """Fold one built example into its shard's record (counts and train statistics)."""
    record["examples"] += 1
    record["frames"] += result.num_frames
    record["seconds"] += result.seconds
    if item.speaker not in record["speakers"]:
        record["speakers"].append(item.speaker)
    record["word_tokens"] += len(result.words)
    record["oov_tokens"] += sum(w in oov for w in result.words)
    record["alignment"][result.alignment] = record["alignment"].get(result.alignment, 0) + 1
    if item.label is not None and item.load_trace is None:
        record["classes"][item.label] = record["classes"].get(item.label, 0) + 1
    for key, stats in (("label_stats", result.label_stats), ("audio_stats", result.audio_stats),
                       ("feature_stats", result.feature_stats)):
        if stats is not None:
            record[key] = _folded(record[key], stats)
    if result.feature_stats is not None:
        by_speaker = record["speaker_feature_stats"]
        by_speaker[item.speaker] = _folded(by_speaker.get(item.speaker), result.feature_stats)


def add_skip(record: dict, skip: Skip) -> None:
    """Note a skipped item in its shard's record."""
    record["skipped"].append(dataclasses.asdict(skip))


def _folded(saved: dict | None, stats: RunningStats) -> dict:
    """Saved statistics (a to_dict, or None) with `stats` merged in, as a to_dict again."""
    total = RunningStats(stats.dim) if saved is None else RunningStats.from_dict(saved)
    return total.merge(stats).to_dict()


# --- the description: what was written -------------------------------------------------------

def describe(corpus: Corpus, run: RunPlan, options: MakeOptions, progress: dict,
             output_dir: storage.Location, command: Sequence[str]) -> DatasetDescription:
    """The description of what was written, from the shard records (train-only statistics)."""
    build = run.build_options
    portions, skipped, alignment = {}, {}, Counter()
    totals = Counter()
    label_stats = audio_stats = feature_stats = None
    speaker_stats: dict[str, RunningStats] = {}
    for plan in run.plans:
        path = shard_path(output_dir, plan.portion, run.name, plan.index, plan.count)
        record = progress["shards"][storage.relative(path, output_dir)]
        entry = portions.setdefault(plan.portion, {"examples": 0, "frames": 0, "seconds": 0.0,
                                                   "speakers": [], "files": []})
        entry["examples"] += record["examples"]
        entry["frames"] += record["frames"]
        entry["seconds"] = round(entry["seconds"] + record["seconds"], 3)
        entry["speakers"] = sorted(set(entry["speakers"]) | set(record["speakers"]))
        entry["files"].append(storage.name(path))
        for skip in record["skipped"]:
            reasons = skipped.setdefault(plan.portion, {})
            reasons[skip["reason"]] = reasons.get(skip["reason"], 0) + 1
        for label, count in record.get("classes", {}).items():
            classes = entry.setdefault("classes", {})
            classes[label] = classes.get(label, 0) + count
        for speaker, stats in record.get("speaker_feature_stats", {}).items():
            speaker_stats[speaker] = _merge(speaker_stats.get(speaker), stats)
        totals.update(word_tokens=record["word_tokens"], oov_tokens=record["oov_tokens"])
        alignment.update(record["alignment"])
        if plan.portion == "train":
            label_stats = _merge(label_stats, record["label_stats"])
            audio_stats = _merge(audio_stats, record["audio_stats"])
            feature_stats = _merge(feature_stats, record.get("feature_stats"))
    for entry in portions.values():
        if "classes" in entry:  # in class-index order
            entry["classes"] = {c: entry["classes"][c] for c in build.class_names
                                if c in entry["classes"]}
    normalisation = {"fit_on": "train"}
    if label_stats is not None:
        normalisation["labels"] = {"mean": _rounded(label_stats.mean()),
                                   "std": _rounded(label_stats.std())}
    if audio_stats is not None:
        normalisation["audio"] = {"mean": _rounded(audio_stats.mean())[0],
                                  "std": _rounded(audio_stats.std())[0]}
    if feature_stats is not None:
        normalisation["features"] = {"mean": _rounded(feature_stats.mean()),
                                     "std": _rounded(feature_stats.std())}
    if speaker_stats:
        normalisation["features_by_speaker_fit_on"] = SPEAKER_STATS_NOTE
        normalisation["features_by_speaker"] = {
            speaker: {"frames": stats.count, "mean": _rounded(stats.mean()),
                      "std": _rounded(stats.std())}
            for speaker, stats in sorted(speaker_stats.items())}
    return DatasetDescription(
        name=run.name, corpus=corpus.name, task=options.task, sample_rate=SAMPLE_RATE,
        frame_length=FRAME_LENGTH, frame_seconds=FRAME_SECONDS, word_dim=run.word_dim,
        features=feature_dims(build.features),
        word_vectors=run.vectors_name, label_names=list(build.class_names or build.dimensions),
        raters=list(build.raters), portions=portions,
        normalisation=normalisation, alignment=dict(sorted(alignment.items())),
        oov={"types": len(run.oov), "tokens": totals["oov_tokens"],
             "word_tokens": totals["word_tokens"]},
        skipped=skipped, command=list(command), tfemo_version=tfemo.__version__,
        extra={"examples_per_shard": run.per_shard, "alignment_option": options.alignment,
               "embeddings_option": options.embeddings, "labels_option": options.labels},
    )


def _merge(total: RunningStats | None, record: dict | None) -> RunningStats | None:
    if record is None:
        return total
    stats = RunningStats.from_dict(record)
    return stats if total is None else total.merge(stats)


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in np.atleast_1d(values)]


__all__ = ["NO_EMBEDDINGS", "PROGRESS_FILE", "MakeOptions", "RunPlan", "RunReport", "ShardPlan",
           "Skip", "add_skip", "add_to_record", "describe", "empty_record", "fingerprint",
           "load_progress", "pending_shards", "plan_run", "plan_shards", "portions_of",
           "save_progress", "shard_key", "with_gold_standard"]
