"""Which of the model's classes each class of the scored records is, before anything is scored.

A model predicts over the classes it was trained on; records of another corpus may name their
classes otherwise, in another order, or hold classes the model never saw. Scoring them by class
index mixes two label sets (issue 22), so `match_classes` refuses records whose class list is
not the model's, unless a label map reconciles them: the same TOML as make_tfrecords
(`[corpus]` then `record class = "model class"`), its table for the records' corpus applied to
the records' classes. A records class with no mapping is dropped (counted, and said); a mapping
onto a class the model does not have is refused. `records_tag` names the records a result was
computed on, so a second evaluation never overwrites another one's result files.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfemo.core.errors import UserError
from tfemo.corpora.merged import read_label_map
from tfemo.records.description import DatasetDescription


@dataclass(frozen=True)
class ClassMatch:
    """Per class of the records, the index of the model's class it is scored as (-1: dropped)."""

    model: tuple[str, ...]
    records: tuple[str, ...]
    index: tuple[int, ...]
    label_map: str = ""  # the map file that reconciled them ("" for the same class list)
    dropped_files: Counter = field(default_factory=Counter)  # filled when files are matched

    @property
    def dropped(self) -> tuple[str, ...]:
        """The records' classes with no class of the model (their files are not scored)."""
        return tuple(name for name, k in zip(self.records, self.index, strict=True) if k < 0)

    def apply(self, files: list) -> list:
        """The files whose class maps onto a model class, their labels set to its index (the
        others counted in `dropped_files`)."""
        kept = []
        for file in files:
            target = self.index[int(file.labels)]
            if target < 0:
                self.dropped_files[self.records[int(file.labels)]] += 1
                continue
            file.labels = np.int64(target)
            kept.append(file)
        return kept

    def summary(self) -> dict:
        """What the JSON result keeps of the match (nothing when the lists are the same)."""
        if not self.label_map:
            return {}
        return {"label_map": self.label_map, "records_classes": list(self.records),
                "mapped": {r: self.model[k] for r, k in zip(self.records, self.index,
                                                             strict=True) if k >= 0},
                "dropped": dict(sorted(self.dropped_files.items()))}


def read_label_table(path: Path, corpus: str) -> dict[str, str]:
    """The table of `corpus` in label map `path` (records class -> model class); the file's
    other tables (e.g. those make_tfrecords used for the training corpora) are not used."""
    try:
        tables = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"--label_map {path}: {error}") from None
    if corpus not in tables:
        raise UserError(f"--label_map {path}: no [{corpus}] table for the records' corpus "
                        f"{corpus} (its tables: {', '.join(sorted(tables)) or 'none'})",
                        f"add [\"{corpus}\"] with lines `record class = \"model class\"`")
    return read_label_map(path, sorted(tables))[corpus]


def match_classes(model: DatasetDescription, records: DatasetDescription, where: str,
                  label_map: Path | None = None) -> ClassMatch:
    """The ClassMatch of scoring `records` (at `where`) with a model trained on `model`'s
    classes: identity for the same list, else through `label_map` (UserError without one)."""
    ours, theirs = tuple(model.label_names), tuple(records.label_names)
    if label_map is None:
        if ours != theirs:
            raise UserError(f"{where}: the records' classes [{', '.join(theirs)}] are not the "
                            f"model's [{', '.join(ours)}]; scoring them would mix two label "
                            "sets", "give --label_map FILE (TOML, a table for the records' "
                            f"corpus [{records.corpus or records.name}]: record class = "
                            "\"model class\")")
        return ClassMatch(ours, theirs, tuple(range(len(ours))))
    corpus = records.corpus or records.name
    table = read_label_table(label_map, corpus)
    unknown = sorted({v for k, v in table.items() if k in theirs and v not in ours})
    if unknown:
        raise UserError(f"--label_map {label_map}: [{corpus}] maps onto {', '.join(unknown)}, "
                        f"not a class of the model [{', '.join(ours)}]",
                        "map each record class onto one of the model's classes")
    index = tuple(ours.index(table[c]) if c in table else -1 for c in theirs)
    if all(k < 0 for k in index):
        raise UserError(f"--label_map {label_map}: [{corpus}] maps none of the records' "
                        f"classes [{', '.join(theirs)}] onto the model's [{', '.join(ours)}]",
                        "name the records' classes on the left of each line")
    return ClassMatch(ours, theirs, index, str(label_map))


def records_tag(description: DatasetDescription) -> str:
    """A short name of the records a description describes: corpus and a digest of what they
    hold (ids per portion, statistics), the same for the same records wherever they are."""
    data = description.to_dict()
    data.pop("command", None)
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.+]+", "_", description.corpus or description.name)[:40]
    return f"{name}-{digest}"


def folds_tag(descriptions: list[DatasetDescription]) -> str:
    """One tag for several folds' records: the first's corpus and a digest of every fold's."""
    tags = [records_tag(d) for d in descriptions]
    digest = hashlib.sha256("+".join(tags).encode("utf-8")).hexdigest()[:8]
    return f"{tags[0].rsplit('-', 1)[0]}-{digest}"


__all__ = ["ClassMatch", "folds_tag", "match_classes", "read_label_table", "records_tag"]
