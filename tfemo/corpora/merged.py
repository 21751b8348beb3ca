"""Several corpora as one: sources `NAME=PATH`, corpus-qualified speakers, a label map.

A source is a name of your choice and a path: a registered reader when the name is one
(`emodb=DIR`), else a manifest CSV (`emovo=path/manifest.csv`). Items keep their corpus
(`Item.corpus`); ids and speakers become `<corpus>/<id>` and `<corpus>/<speaker>`, so that
partitions, statistics and reports never mix two corpora's speakers. A label map (TOML, one
table per corpus name: `source label = "shared class"`) puts every corpus's classes onto one
class set, applied here and only here; an item whose class has no mapping is dropped, and what
is dropped is counted per corpus and class (`dropped`), like a skip.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from tfemo.core.errors import UserError
from tfemo.corpora.base import CATEGORICAL, CONTINUOUS, Corpus, Item


def parse_source(text: str) -> tuple[str, str, Path]:
    """'NAME=PATH' -> (name, reader, path): the reader named NAME, else a manifest CSV."""
    from tfemo.corpora import CORPUS_NAMES

    name, _, path = text.partition("=")
    name = name.strip()
    if not name or not path or "/" in name:
        raise UserError(f"--corpus {text}: expected NAME=PATH for one of several corpora",
                        "e.g. --corpus emodb=data/emodb --corpus emovo=data/emovo.csv")
    if name in CORPUS_NAMES:
        return name, name, Path(path)
    if Path(path).suffix.lower() == ".csv":
        return name, "manifest", Path(path)
    raise UserError(f"--corpus {text}: {name} is no reader ({', '.join(CORPUS_NAMES)}) and "
                    f"{path} is not a manifest CSV", "name a reader, or give a .csv manifest")


def read_label_map(path: Path, names: Sequence[str]) -> dict[str, dict[str, str]]:
    """A TOML label map: one table per corpus name of `names`, source label = shared class."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UserError(f"--label_map {path}: {error}") from None
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UserError(f"--label_map {path}: tables for corpora not given: "
                        f"{', '.join(unknown)}", f"the corpora are {', '.join(names)}")
    maps = {}
    for name in names:
        table = data.get(name, {})
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise UserError(f"--label_map {path}: [{name}] must map labels to class names "
                            "(angry = \"angry\")")
        maps[name] = {str(k): v for k, v in table.items()}
    return maps


class MergedCorpus(Corpus):
    """The items of several corpora, qualified by corpus, with labels mapped onto one set."""

    def __init__(self, sources: Sequence[tuple[str, Corpus]],
                 label_map: Mapping[str, Mapping[str, str]] | None = None) -> None:
        names = [name for name, _ in sources]
        if len(set(names)) != len(names):
            raise UserError(f"--corpus: a name given twice ({', '.join(names)})")
        self.sources = list(sources)
        self.label_map = dict(label_map) if label_map else None
        self.name = "+".join(names)
        self.language = sources[0][1].language
        self.tasks = tuple(t for t in sources[0][1].tasks
                           if all(t in c.tasks for _, c in sources))
        first = sources[0][1].default_task
        self.default_task = first if first in self.tasks else (self.tasks or (first,))[0]
        self.speaker_independent = all(c.speaker_independent for _, c in sources)
        self.dropped: dict[str, Counter] = {}
        self.counts: dict[str, Counter] = {}

    def _items_of(self, task: str) -> list[Item]:
        items = []
        self.dropped = {name: Counter() for name, _ in self.sources}
        self.counts = {name: Counter() for name, _ in self.sources}
        for name, corpus in self.sources:
            mapping = self.label_map.get(name, {}) if self.label_map else None
            for item in corpus.items(task):
                label = item.label
                if task == CATEGORICAL and mapping is not None:
                    label = mapping.get(item.label)
                    if label is None:
                        self.dropped[name][item.label] += 1
                        continue
                self.counts[name][label if task == CATEGORICAL else "items"] += 1
                items.append(dataclasses.replace(
                    item, id=f"{name}/{item.id}", speaker=f"{name}/{item.speaker}",
                    corpus=name, label=label, metadata={**item.metadata, "corpus": name}))
            for path, reason in corpus.ignored:
                self.skip(path, reason)
        return items

    def _label_names_of(self, task: str) -> Sequence[str]:
        if task == CONTINUOUS:
            names = [tuple(c.label_names(task)) for _, c in self.sources]
            if any(n != names[0] for n in names):
                raise UserError("the corpora have different label dimensions: "
                                + "; ".join(", ".join(n) for n in names))
            return names[0]
        shared: list[str] = []
        for name, corpus in self.sources:
            if self.label_map:
                classes = [c for label in corpus.label_names(task)
                           if (c := self.label_map.get(name, {}).get(label)) is not None]
            else:
                classes = list(corpus.label_names(task))
            shared += [c for c in classes if c not in shared]
        return shared

    def summary(self) -> dict[str, dict]:
        """Per corpus: items per class (per `items` for continuous tasks) and dropped classes."""
        return {name: {"classes": dict(sorted(self.counts.get(name, {}).items())),
                       "dropped": dict(sorted(self.dropped.get(name, {}).items()))}
                for name, _ in self.sources}


def open_sources(texts: Sequence[str], label_map: Path | None = None) -> MergedCorpus:
    """The merged corpus of `--corpus NAME=PATH` arguments and an optional label map."""
    from tfemo.corpora import open_corpus

    parsed = [parse_source(text) for text in texts]
    sources = [(name, open_corpus(reader, path)) for name, reader, path in parsed]
    names = [name for name, _ in sources]
    return MergedCorpus(sources, read_label_map(label_map, names) if label_map else None)


__all__ = ["MergedCorpus", "open_sources", "parse_source", "read_label_map"]
