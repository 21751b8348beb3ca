"""Partitions as views of one set of records: a fold is a small file of ids, not a copy.

The records of a corpus are written once (tfemo.records.plan: `examples/`, each shard's
entries, `records.json`). A partition is one `description.json` per fold: the records folder
itself for a single partition (`--partition official`, fixed speakers), `fold-NN/` otherwise.
It is the description every reader already reads, plus `partition`:

    {"records": "..",                     the records folder, relative to this one
     "files": ["examples/...", ...],      the shards, in id order
     "portions": {"train": [{"ids": [...], "files": [first, stop]}, ...], ...}}

Each portion is read as the shards a separate copy of the fold would have had (its items
sorted by id, `examples_per_shard` to a shard); each such shard is the given slice of the
examples' shards, filtered by id inside tf.data. Its train-only statistics are folded from the
items' stored sufficient statistics in that same order, so the description, the stream of
examples and so the scores equal those of a copy, to the last digit; a new partition costs a
read of the entries and no audio.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfemo.core import storage
from tfemo.core.errors import SchemaError
from tfemo.corpora.base import Item
from tfemo.corpora.partition import Fold, check_speaker_independent
from tfemo.records.description import DatasetDescription, RunningStats, description_path
from tfemo.records.plan import EXAMPLES, plan_shards, read_entries, read_records_file
from tfemo.records.schema import ExampleArrays, read_examples
from tfemo.records.writer import shard_paths

SPEAKER_STATS_NOTE = ("per speaker: mean and std of all of the speaker's frames in every portion, "
                      "computed from the audio only (no labels)")
_STATS = ("label_stats", "audio_stats", "feature_stats")


@dataclass
class Entries:
    """Every item of the records: written ones (entry, and the index of their shard) and
    skipped ones."""

    written: dict[str, dict]
    shard_of: dict[str, int]
    skipped: dict[str, dict]

    def items(self, corpus: str) -> list[Item]:
        """The items as a partition protocol needs them (id, speaker, portion, metadata)."""
        found = [*self.written.values(), *self.skipped.values()]
        return [Item(id=e.get("id", e.get("item_id")), speaker=e["speaker"],
                     corpus=e.get("metadata", {}).get("corpus", corpus),
                     portion=e["portion"], audio_path=Path(e.get("path", "")),
                     metadata=dict(e.get("metadata", {})))
                for e in sorted(found, key=lambda e: e.get("id", e.get("item_id")))]


def read_all_entries(records_dir: storage.Location,
                     base: DatasetDescription | None = None) -> Entries:
    """The entries of every shard of the records in `records_dir`."""
    base = base or read_records_file(records_dir)
    entries = Entries({}, {}, {})
    for index, key in enumerate(base.partition["files"]):
        shard = read_entries(records_dir, key)
        for entry in shard["items"]:
            entries.written[entry["id"]] = entry
            entries.shard_of[entry["id"]] = index
        for skip in shard["skipped"]:
            entries.skipped[skip["item_id"]] = skip
    return entries


def write_partition(records_dir: storage.Location, folds: Sequence[Fold],
                    view_dir: storage.Location | None = None, *,
                    base: DatasetDescription | None = None, entries: Entries | None = None,
                    ) -> list[tuple[Fold, storage.Location, DatasetDescription]]:
    """Write each fold's view (`<view_dir>/description.json` for a fold named "", else
    `<view_dir>/<fold name>/description.json`; view_dir defaults to the records folder).

    Every item of a fold must be an item of the records; a fold with a speaker in two
    portions is refused when the corpus can be split by speaker.
    """
    base = base or read_records_file(records_dir)
    entries = entries or read_all_entries(records_dir, base)
    view_dir = records_dir if view_dir is None else view_dir
    known = set(entries.written) | set(entries.skipped)
    written = []
    for fold in folds:
        unknown = sorted({i.id for i in fold.items} - known)
        if unknown:
            raise SchemaError(f"{records_dir}: the partition names items the records do not "
                              f"hold ({', '.join(unknown[:3])}): make the records again")
        if base.extra.get("speaker_independent", True):
            check_speaker_independent(fold.items, base.corpus)
        folder = storage.join(view_dir, fold.name) if fold.name else view_dir
        description = view_description(base, entries, {i.id: i.portion for i in fold.items},
                                       _relative(records_dir, folder))
        storage.makedirs(folder)
        description.write(description_path(folder))
        written.append((fold, folder, description))
    return written


def remove_other_views(records_dir: storage.Location, folds: Sequence[Fold]) -> None:
    """Remove the partitions in the records folder that are not `folds` (those of an earlier
    run with another --partition), so that the folder holds exactly the one asked for."""
    names = {fold.name for fold in folds}
    stale = [] if "" in names else [description_path(records_dir)]
    stale += [path for path in storage.glob(records_dir, "fold-*/description.json")
              if storage.name(storage.parent(path)) not in names]
    for path in stale:
        storage.remove(path)


def _relative(records_dir: storage.Location, folder: storage.Location) -> str:
    """The records folder as seen from a view folder ("." or "..", or deeper)."""
    return posixpath.relpath(str(records_dir).rstrip("/"), str(folder).rstrip("/"))


def records_root(folder: storage.Location, description: DatasetDescription) -> storage.Location:
    """The records folder a view reads (the folder itself when the view lives there)."""
    relative = description.partition.get("records", ".")
    if relative == ".":
        return storage.location(folder)
    text = str(folder)
    if storage.is_url(text):
        scheme, _, rest = text.partition("://")
        return f"{scheme}://{posixpath.normpath(posixpath.join(rest, relative))}"
    return Path(posixpath.normpath(posixpath.join(text, relative)))


def view_description(base: DatasetDescription, entries: Entries, portions: Mapping[str, str],
                     relative: str) -> DatasetDescription:
    """The description of one fold: its portions, read as the shards a copy of the fold would
    have, with the statistics such a copy would have had (train-only), float for float."""
    members = [Item(id=i, speaker="", corpus="", portion=portions[i], audio_path=Path())
               for i in sorted(portions)]
    plans = plan_shards(members, int(base.extra["examples_per_shard"]))
    files = list(base.partition["files"])
    records, slices = [], {}
    for plan in plans:
        record, ids = _empty_record(), []
        for item in plan.items:
            if item.id in entries.skipped:
                record["skipped"].append(entries.skipped[item.id])
            else:
                _add_entry(record, entries.written[item.id])
                ids.append(item.id)
        records.append(record)
        shards = [entries.shard_of[i] for i in ids]
        span = [min(shards), max(shards) + 1] if shards else [0, 0]
        slices.setdefault(plan.portion, []).append({"ids": ids, "files": span})
    description = _describe(base, plans, records)
    used = {p: sorted({files[k] for s in parts for k in range(*s["files"])})
            for p, parts in slices.items()}
    for portion, entry in description.portions.items():
        entry["files"] = used[portion]
    description.partition = {"records": relative, "files": files, "portions": slices}
    return description


def _empty_record() -> dict:
    return {"examples": 0, "frames": 0, "seconds": 0.0, "speakers": [], "skipped": [],
            "word_tokens": 0, "oov_tokens": 0, "alignment": {}, "label_stats": None,
            "audio_stats": None, "feature_stats": None, "speaker_feature_stats": {},
            "classes": {}}


def _add_entry(record: dict, entry: dict) -> None:
    """Fold one item's entry into a shard's record, in the order a copy's writer folded it."""
    record["examples"] += 1
    record["frames"] += entry["frames"]
    record["seconds"] += entry["seconds"]
    if entry["speaker"] not in record["speakers"]:
        record["speakers"].append(entry["speaker"])
    record["word_tokens"] += entry["word_tokens"]
    record["oov_tokens"] += entry["oov_tokens"]
    record["alignment"][entry["alignment"]] = record["alignment"].get(entry["alignment"], 0) + 1
    if entry["class"] is not None:
        record["classes"][entry["class"]] = record["classes"].get(entry["class"], 0) + 1
    for key in _STATS:
        if entry[key] is not None:
            record[key] = _folded(record[key], RunningStats.from_dict(entry[key]))
    if entry["feature_stats"] is not None:
        by_speaker = record["speaker_feature_stats"]
        by_speaker[entry["speaker"]] = _folded(by_speaker.get(entry["speaker"]),
                                               RunningStats.from_dict(entry["feature_stats"]))


def _folded(total: RunningStats | None, stats: RunningStats) -> RunningStats:
    return (RunningStats(stats.dim) if total is None else total).merge(stats)


def _describe(base: DatasetDescription, plans: list, records: list[dict]) -> DatasetDescription:
    """The fold's description from its shards' records (train-only statistics)."""
    portions, skipped, alignment = {}, {}, Counter()
    totals = Counter()
    label_stats = audio_stats = feature_stats = None
    speaker_stats: dict[str, RunningStats] = {}
    for plan, record in zip(plans, records, strict=True):
        entry = portions.setdefault(plan.portion, {"examples": 0, "frames": 0, "seconds": 0.0,
                                                   "speakers": [], "files": []})
        entry["examples"] += record["examples"]
        entry["frames"] += record["frames"]
        entry["seconds"] = round(entry["seconds"] + record["seconds"], 3)
        entry["speakers"] = sorted(set(entry["speakers"]) | set(record["speakers"]))
        for skip in record["skipped"]:
            reasons = skipped.setdefault(plan.portion, {})
            reasons[skip["reason"]] = reasons.get(skip["reason"], 0) + 1
        for label, count in record["classes"].items():
            classes = entry.setdefault("classes", {})
            classes[label] = classes.get(label, 0) + count
        for speaker, stats in record["speaker_feature_stats"].items():
            speaker_stats[speaker] = _merge(speaker_stats.get(speaker), stats)
        totals.update(word_tokens=record["word_tokens"], oov_tokens=record["oov_tokens"])
        alignment.update(record["alignment"])
        if plan.portion == "train":
            label_stats = _merge(label_stats, record["label_stats"])
            audio_stats = _merge(audio_stats, record["audio_stats"])
            feature_stats = _merge(feature_stats, record["feature_stats"])
    class_names = base.label_names if base.num_classes else []
    for entry in portions.values():
        if "classes" in entry:  # in class-index order
            entry["classes"] = {c: entry["classes"][c] for c in class_names
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
    return dataclasses.replace(
        base, portions=portions, normalisation=normalisation,
        alignment=dict(sorted(alignment.items())),
        oov={"types": base.oov.get("types", 0), "tokens": totals["oov_tokens"],
             "word_tokens": totals["word_tokens"]},
        skipped=skipped, partition={})


def _merge(total: RunningStats | None, stats: RunningStats | None) -> RunningStats | None:
    """`total` with a shard's statistics merged in (a copy: shard records stay as they are)."""
    if stats is None:
        return total
    stats = RunningStats.from_dict(stats.to_dict())
    return stats if total is None else total.merge(stats)


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in np.atleast_1d(values)]


# --- reading a portion -------------------------------------------------------------------------

@dataclass(frozen=True)
class Slice:
    """One shard of a portion as the reader reads it: files, and the ids to keep (None: all)."""

    files: tuple[storage.Location, ...]
    ids: tuple[str, ...] | None


def portion_slices(folder: storage.Location, description: DatasetDescription,
                   portion: str) -> list[Slice] | None:
    """The slices of one portion of a view, in shard order; None when the portion is not a
    view's (a `generated` portion has its own shards in `<folder>/<portion>/`)."""
    parts = description.partition.get("portions", {}).get(portion)
    if parts is None:
        return None
    root = records_root(folder, description)
    files = [storage.join(root, *key.split("/")) for key in description.partition["files"]]
    return [Slice(tuple(files[part["files"][0]:part["files"][1]]), tuple(part["ids"]))
            for part in parts]


def check_examples(folder: storage.Location, description: DatasetDescription) -> None:
    """The view's shards must all be there (one line saying what to do when they are not)."""
    root = records_root(folder, description)
    missing = [key for key in description.partition.get("files", [])
               if not storage.isfile(storage.join(root, *key.split("/")))]
    if missing:
        raise SchemaError(f"{folder}: {len(missing)} shards of the records in {root} are "
                          f"missing (first: {missing[0]}): run tools/make_tfrecords.py again")


def read_portion(folder: storage.Location, portion: str) -> Iterator[ExampleArrays]:
    """A portion's examples as NumPy arrays, in reading order (for tests and tools)."""
    description = DatasetDescription.read(folder)
    slices = portion_slices(folder, description, portion)
    if slices is None:
        yield from read_examples(shard_paths(folder, portion))
        return
    for part in slices:
        keep = set(part.ids)
        yield from (e for e in read_examples(part.files) if e.id in keep)


__all__ = ["EXAMPLES", "Entries", "Slice", "check_examples", "portion_slices",
           "read_all_entries", "read_portion", "records_root", "remove_other_views",
           "view_description", "write_partition"]
