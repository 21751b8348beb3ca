"""Partition protocols: every fold speaker-disjoint, every speaker tested once; overlap refused."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tfemo.corpora.base import Item
from tfemo.corpora.partition import (
    PartitionError,
    check_speaker_independent,
    make_folds,
    parse_split,
    speaker_overlap,
)


def _item(speaker: str, portion: str, n: int, session: str = "") -> Item:
    return Item(id=f"{speaker}_{n}", speaker=speaker, corpus="fake", portion=portion,
                audio_path=Path(f"{speaker}_{n}.wav"),
                metadata={"session": session} if session else {})


SPEAKERS = [f"s{k:02d}" for k in range(10)]
ITEMS = [_item(s, "train", n) for s in SPEAKERS for n in range(3)]


def test_disjoint_speakers_pass():
    items = [_item("a", "train", 0), _item("a", "train", 1), _item("b", "devel", 0)]
    check_speaker_independent(items, "fake")
    assert speaker_overlap(items) == {}


def test_a_speaker_in_two_portions_is_refused():
    items = [_item("a", "train", 0), _item("b", "devel", 0), _item("a", "test", 1)]
    with pytest.raises(PartitionError, match="a: test, train"):
        check_speaker_independent(items, "fake")


def _tested(folds) -> Counter:
    return Counter(s for fold in folds for s in fold.speakers("test"))


@pytest.mark.parametrize(("protocol", "folds", "count"), [("loso", 0, 10),
                                                          ("kfold-by-speaker", 5, 5)])
def test_every_speaker_is_tested_exactly_once(protocol, folds, count):
    result = make_folds(ITEMS, protocol, folds=folds, seed=3)
    assert len(result) == count
    assert _tested(result) == Counter(SPEAKERS)
    for fold in result:
        check_speaker_independent(fold.items, "fake")
        assert len(fold.items) == len(ITEMS) and fold.speakers("devel")
        assert set(fold.speakers("test")).isdisjoint(fold.speakers("devel"))


def test_kfold_is_deterministic_for_a_seed_and_changes_with_it():
    first = [f.speakers("test") for f in make_folds(ITEMS, "kfold-by-speaker", folds=5, seed=1)]
    again = [f.speakers("test") for f in make_folds(ITEMS, "kfold-by-speaker", folds=5, seed=1)]
    other = [f.speakers("test") for f in make_folds(ITEMS, "kfold-by-speaker", folds=5, seed=2)]
    assert first == again != other


def test_sessions_leave_one_session_out():
    items = [_item(f"Ses{s}_{g}", "train", n, session=f"Session{s}")
             for s in range(1, 6) for g in "FM" for n in range(2)]
    folds = make_folds(items, "sessions")
    assert len(folds) == 5
    assert folds[0].speakers("test") == ["Ses1_F", "Ses1_M"]
    assert folds[0].speakers("devel") == ["Ses2_F", "Ses2_M"]


def test_fixed_speakers_and_bad_specifications():
    spec = parse_split("train=s00,s01,s02,s03,s04,s05,s06;devel=s07;test=s08,s09")
    (fold,) = make_folds(ITEMS, "fixed-speakers", split=spec)
    assert fold.speakers("test") == ["s08", "s09"]
    with pytest.raises(PartitionError, match="speakers in no portion: s02, s03"):
        make_folds(ITEMS, "fixed-speakers", split=parse_split("train=s00;test=s01"))
    with pytest.raises(PartitionError, match="is in train and test"):
        make_folds(ITEMS, "fixed-speakers", split=parse_split("train=s00;test=s00"))
    with pytest.raises(PartitionError, match="--folds"):
        make_folds(ITEMS, "kfold-by-speaker", folds=20)
    with pytest.raises(PartitionError, match="session"):
        make_folds(ITEMS, "sessions")


def _manifest(folder: Path, overlap: bool) -> Path:
    """A categorical manifest; with `overlap`, speaker s1 is in train and in test."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,speaker,label,portion", "a.wav,s1,happy,train", "b.wav,s2,sad,devel",
            f"c.wav,{'s1' if overlap else 's3'},sad,test"]
    path = folder / "overlap.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _said(capsys) -> str:
    """What a command printed on stdout and stderr, with rich's line wrapping undone."""
    printed = capsys.readouterr()
    return " ".join((printed.out + printed.err).split())


def test_make_partition_refuses_a_speaker_in_two_portions(tmp_path, capsys):
    from tfemo.make_partition import main

    output = tmp_path / "partition.csv"
    argv = ["--corpus", "manifest", "--data_dir", str(_manifest(tmp_path, overlap=True)),
            "--output", str(output)]
    assert main(argv) == 2
    said = _said(capsys)
    assert "speakers appear in more than one portion (s1: test, train)" in said
    assert not output.exists()
    argv[3] = str(_manifest(tmp_path / "disjoint", overlap=False))
    assert main(argv) == 0 and output.is_file()


def test_make_tfrecords_refuses_a_speaker_in_two_portions(tmp_path, capsys):
    from tfemo.make_tfrecords import main

    output = tmp_path / "records"
    argv = ["--corpus", "manifest", "--data_dir", str(_manifest(tmp_path, overlap=True)),
            "--output_dir", str(output), "--embeddings", "none", "--workers", "1", "--quiet"]
    assert main(argv) == 2
    said = _said(capsys)
    assert "corpus overlap: speakers appear in more than one portion (s1: test, train)" in said
    assert not list(output.rglob("*.tfrecord*")) and not list(output.rglob("*.json"))
