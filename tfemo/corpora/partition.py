"""Speaker-independent partitions (docs/design.md, "Protocols") and the speaker-overlap check.

A protocol turns a corpus's items into one or more folds; each fold gives every item a portion
(train, devel or test) and no speaker may appear in two portions of a fold:
- `official`: the portions the corpus reader assigns (the corpus's own or documented split);
- `loso`: leave one speaker out: fold i tests speaker i, develops on the next speaker in
  sorted order and trains on the rest (EMO-DB, SAVEE);
- `kfold-by-speaker`: speakers shuffled with `seed` into k groups; fold i tests group i,
  develops on group i+1 and trains on the rest (RAVDESS: 6 folds of 4 actors);
- `sessions`: like loso over `metadata["session"]` (IEMOCAP leave-one-session-out);
- `fixed-speakers`: one fold from an explicit mapping, e.g. "train=03,08;devel=12;test=15";
- `leave-one-corpus-out` (several corpora, tfemo.corpora.merged): fold i tests corpus i; of
  each other corpus, its first speaker in sorted order develops and the rest train;
- `fixed-corpora`: one fold from corpus names, e.g. "train=emodb,emovo;test=casia" (a corpus in
  no portion is left out).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from tfemo.core.errors import TfemoError
from tfemo.corpora.base import Item

PROTOCOLS = ("official", "loso", "kfold-by-speaker", "sessions", "fixed-speakers",
             "leave-one-corpus-out", "fixed-corpora")


class PartitionError(TfemoError):
    """A partition that would leak speakers between portions, or a protocol used wrongly."""


@dataclass(frozen=True)
class Fold:
    """One partition of the items: `name` ("" for a single partition) and the re-portioned items."""

    name: str
    items: tuple[Item, ...]

    def speakers(self, portion: str) -> list[str]:
        """Sorted speakers of one portion."""
        return sorted({i.speaker for i in self.items if i.portion == portion})


def speaker_overlap(items: Iterable[Item]) -> dict[str, list[str]]:
    """Speakers found in more than one portion, with those portions."""
    portions: dict[str, set[str]] = defaultdict(set)
    for item in items:
        portions[item.speaker].add(item.portion)
    return {speaker: sorted(found) for speaker, found in sorted(portions.items())
            if len(found) > 1}


def check_speaker_independent(items: Iterable[Item], corpus: str) -> None:
    """Refuse a partition with a speaker in two portions (docs/design.md, defect 7)."""
    overlap = speaker_overlap(items)
    if overlap:
        listing = "; ".join(f"{s}: {', '.join(p)}" for s, p in list(overlap.items())[:10])
        raise PartitionError(f"corpus {corpus}: speakers appear in more than one portion "
                             f"({listing}); scores would not be speaker-independent")


def parse_split(spec: str) -> dict[str, list[str]]:
    """'train=03,08;devel=12;test=15' -> {"train": ["03", "08"], ...}."""
    split: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        portion, _, speakers = part.partition("=")
        if not speakers:
            raise PartitionError(f"--split {spec!r}: expected portion=speaker,speaker;...")
        split[portion.strip()] = [s.strip() for s in speakers.split(",") if s.strip()]
    return split


def make_folds(items: Sequence[Item], protocol: str, *, folds: int = 0, seed: int = 0,
               split: dict[str, list[str]] | None = None) -> list[Fold]:
    """The folds of `protocol` over `items` (see the module docstring)."""
    if protocol == "official":
        unassigned = sorted(i.id for i in items if not i.portion)
        if unassigned:
            raise PartitionError(f"{len(unassigned)} items have no portion (first: "
                                 f"{unassigned[0]}; a manifest without a portion column): give "
                                 "--partition loso, kfold-by-speaker or fixed-speakers, or add "
                                 "a portion column")
        return [Fold("", tuple(items))]
    if protocol == "leave-one-corpus-out":
        return _leave_one_corpus_out(items)
    if protocol == "fixed-corpora":
        if not split:
            raise PartitionError("fixed-corpora needs --split 'train=a,b;test=c' (corpus names)")
        mapping = _by_speaker(split)
        unknown = sorted(set(mapping) - {i.corpus for i in items})
        if unknown:
            raise PartitionError(f"fixed-corpora: no corpus named {', '.join(unknown)} "
                                 f"(the corpora: {', '.join(sorted({i.corpus for i in items}))})")
        return [Fold("", tuple(dataclasses.replace(i, portion=mapping[i.corpus])
                               for i in items if i.corpus in mapping))]
    if protocol == "fixed-speakers":
        if not split:
            raise PartitionError("fixed-speakers needs --split 'train=...;devel=...;test=...'")
        return [Fold("", _assign(items, _by_speaker(split), "fixed-speakers"))]
    key = (lambda i: i.metadata.get("session", "")) if protocol == "sessions" else \
        (lambda i: i.speaker)
    groups = sorted({key(i) for i in items})
    if protocol == "sessions" and groups == [""]:
        raise PartitionError("sessions needs items with a 'session' in their metadata")
    if protocol == "loso" or protocol == "sessions":
        rings = [[g] for g in groups]
    elif protocol == "kfold-by-speaker":
        if not 3 <= folds <= len(groups):
            raise PartitionError(f"kfold-by-speaker needs 3 <= --folds <= {len(groups)} "
                                 f"speakers, got {folds}")
        order = np.random.default_rng(seed).permutation(len(groups))
        rings = [[groups[j] for j in sorted(part)] for part in np.array_split(order, folds)]
    else:
        raise PartitionError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if len(rings) < 3:
        raise PartitionError(f"{protocol} needs at least 3 groups (train, devel, test), "
                             f"found {len(rings)}")
    result = []
    for index, test in enumerate(rings):
        devel = rings[(index + 1) % len(rings)]
        portions = {g: "test" for g in test} | {g: "devel" for g in devel}
        re_portioned = tuple(dataclasses.replace(i, portion=portions.get(key(i), "train"))
                             for i in items)
        result.append(Fold(f"fold-{index + 1:02d}", re_portioned))
    return result


def _leave_one_corpus_out(items: Sequence[Item]) -> list[Fold]:
    """Fold i tests corpus i; each other corpus's first speaker develops, the rest train."""
    corpora = sorted({i.corpus for i in items})
    if len(corpora) < 2:
        raise PartitionError("leave-one-corpus-out needs items of at least 2 corpora (give "
                             "--corpus NAME=PATH more than once)")
    first = {c: min(i.speaker for i in items if i.corpus == c) for c in corpora}
    folds = []
    for index, test in enumerate(corpora):
        def portion(item: Item, test: str = test) -> str:
            if item.corpus == test:
                return "test"
            return "devel" if item.speaker == first[item.corpus] else "train"
        folds.append(Fold(f"fold-{index + 1:02d}",
                          tuple(dataclasses.replace(i, portion=portion(i)) for i in items)))
    return folds


def _by_speaker(split: dict[str, list[str]]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for portion, speakers in split.items():
        for speaker in speakers:
            if speaker in mapping:
                raise PartitionError(f"speaker {speaker} is in {mapping[speaker]} and {portion}")
            mapping[speaker] = portion
    return mapping


def _assign(items: Sequence[Item], mapping: dict[str, str], protocol: str) -> tuple[Item, ...]:
    missing = sorted({i.speaker for i in items} - set(mapping))
    if missing:
        raise PartitionError(f"{protocol}: speakers in no portion: {', '.join(missing)}")
    return tuple(dataclasses.replace(i, portion=mapping[i.speaker]) for i in items)
