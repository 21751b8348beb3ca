"""The partition check refuses speakers shared between portions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfemo.corpora.base import Item
from tfemo.partition import PartitionError, check_speaker_independent, speaker_overlap


def _item(speaker: str, portion: str, n: int) -> Item:
    return Item(id=f"{speaker}_{n}", speaker=speaker, corpus="fake", portion=portion,
                audio_path=Path(f"{speaker}_{n}.wav"))


def test_disjoint_speakers_pass():
    items = [_item("a", "train", 0), _item("a", "train", 1), _item("b", "devel", 0)]
    check_speaker_independent(items, "fake")
    assert speaker_overlap(items) == {}


def test_a_speaker_in_two_portions_is_refused():
    items = [_item("a", "train", 0), _item("b", "devel", 0), _item("a", "test", 1)]
    with pytest.raises(PartitionError, match="a: test, train"):
        check_speaker_independent(items, "fake")
