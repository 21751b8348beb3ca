"""Speaker-independent partitions: a speaker may appear in one portion only."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from tfemo.corpora.base import Item
from tfemo.errors import TfemoError


class PartitionError(TfemoError):
    """A partition that would leak speakers between portions."""


def speaker_overlap(items: Iterable[Item]) -> dict[str, list[str]]:
    """Speakers found in more than one portion, with those portions."""
    portions: dict[str, set[str]] = defaultdict(set)
    for item in items:
        portions[item.speaker].add(item.portion)
    return {speaker: sorted(found) for speaker, found in sorted(portions.items())
            if len(found) > 1}


def check_speaker_independent(items: Iterable[Item], corpus: str) -> None:
    """Refuse a partition in which any speaker appears in two portions (DESIGN.md bug 7)."""
    overlap = speaker_overlap(items)
    if overlap:
        listing = "; ".join(f"{s}: {', '.join(p)}" for s, p in list(overlap.items())[:10])
        raise PartitionError(f"corpus {corpus}: speakers appear in more than one portion "
                             f"({listing}); scores would not be speaker-independent")
