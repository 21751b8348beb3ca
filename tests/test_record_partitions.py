"""Folds without copies (issue 21): a corpus is written once and a fold is a view of it.

A view must read exactly as the copy of its fold that records of schema v2 held (each
portion's items sorted by id in shards of their own): the same statistics, the same stream
of examples for a seed, and so the same scores. `_copy_of` writes that copy from a view.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tfemo import eval as evaluate
from tfemo import train
from tfemo.core.errors import SchemaError
from tfemo.make_partition import main as make_partition_main
from tfemo.make_tfrecords import main as make_tfrecords_main
from tfemo.records.description import DatasetDescription, RunningStats
from tfemo.records.partitions import portion_slices, read_portion
from tfemo.records.reader import make_dataset
from tfemo.records.schema import read_examples, serialize
from tfemo.records.writer import shard_path, write_shard
from tfemo.training.loop import fold_record_dirs

SPEAKERS = ("03", "08", "09", "10")
TONES = {"W": (440.0, 0.5), "T": (150.0, 0.08), "N": (250.0, 0.2)}
FAMILIES = "rms,mfcc,pitch"
SMALL = ["--model", "conv1d", "--batch_size", "4", "--filters", "8", "--hidden", "8",
         "--blocks", "1", "--learning_rate", "3e-3", "--max_steps", "12",
         "--save_interval_secs", "100", "--verbose", "0", "--device", "-1"]


@pytest.fixture(scope="module")
def emodb(tmp_path_factory) -> Path:
    """A tiny EMO-DB tree of tones: 4 speakers x 3 classes x 3 texts."""
    root = tmp_path_factory.mktemp("emodb")
    rng = np.random.default_rng(3)
    for speaker in SPEAKERS:
        for letter, (hertz, amplitude) in TONES.items():
            for text in ("a01", "a02", "a04"):
                seconds = rng.uniform(0.5, 1.0)
                t = np.arange(int(seconds * 16000)) / 16000
                audio = amplitude * np.sin(2 * np.pi * hertz * t) + \
                    0.01 * rng.standard_normal(len(t))
                path = root / "wav" / f"{speaker}{text}{letter}a.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                soundfile.write(path, audio.astype(np.float32), 16000, subtype="PCM_16")
    return root


def _make(root: Path, output: Path, *extra: str) -> None:
    assert make_tfrecords_main(["--corpus", "emodb", "--data_dir", str(root), "--output_dir",
                                str(output), "--embeddings", "none", "--features", FAMILIES,
                                "--examples_per_shard", "5", "--workers", "1", "--quiet",
                                *extra]) == 0


@pytest.fixture(scope="module")
def loso(emodb, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("records")
    _make(emodb, output, "--partition", "loso")
    return output


def _copy_of(view: Path, target: Path) -> Path:
    """The fold as schema v2 wrote it: each portion's items, sorted by id, in shards of their
    own (as many as the view reads the portion as), with the view's description."""
    description = DatasetDescription.read(view)
    portions = {}
    for portion, parts in description.partition["portions"].items():
        files = []
        for k, (part, source) in enumerate(zip(parts, portion_slices(view, description, portion),
                                               strict=True)):
            keep = set(part["ids"])
            examples = [e for e in read_examples(source.files) if e.id in keep]
            assert [e.id for e in examples] == part["ids"]
            path = shard_path(target, portion, description.name, k, len(parts))
            write_shard([serialize(e) for e in examples], path)
            files.append(path.name)
        portions[portion] = {**description.portions[portion], "files": files}
    dataclasses.replace(description, portions=portions, partition={}).write(target)
    return target


def _batches(folder: Path, portion: str, count: int, **options) -> list[dict]:
    data = make_dataset(folder, portion, batch_size=3, seed=5, features=("features",),
                        **options)
    return [{k: v.numpy() for k, v in batch.items()} for batch in data.take(count)]


def test_the_examples_are_written_once_and_each_fold_is_a_small_file(loso):
    shards = sorted((loso / "examples").glob("*.tfrecord"))
    assert len(shards) == 8  # 36 items, 5 to a shard: one set for every fold
    folds = fold_record_dirs(loso)
    assert [f.name for f in folds] == ["fold-01", "fold-02", "fold-03", "fold-04"]
    ids = []
    for fold in folds:
        description = DatasetDescription.read(fold)
        assert sorted(p.name for p in fold.iterdir()) == ["description.json"]
        assert description.portions["test"]["speakers"] == [SPEAKERS[len(ids)]]
        ids.append(sorted(i for parts in description.partition["portions"].values()
                          for part in parts for i in part["ids"]))
    assert all(fold_ids == ids[0] for fold_ids in ids) and len(ids[0]) == 36


def test_train_statistics_are_those_a_copy_of_the_fold_had(loso, tmp_path):
    """Each copy shard folds its items' statistics in id order; shards merge in order."""
    view = loso / "fold-02"
    description = DatasetDescription.read(view)
    copy = _copy_of(view, tmp_path / "copy")
    total, speakers = None, {}
    for path in sorted((copy / "train").glob("*.tfrecord")):
        shard = None
        for example in read_examples([path]):
            stats = RunningStats.of(example.features)
            shard = stats if shard is None else RunningStats.from_dict(shard.to_dict()).merge(
                stats)
        total = shard if total is None else total.merge(shard)
    for portion in ("train", "devel", "test"):
        for example in read_portion(copy, portion):
            own = speakers.setdefault(example.speaker, RunningStats(example.features.shape[1]))
            own.merge(RunningStats.of(example.features))
    features = description.normalisation["features"]
    assert features["mean"] == [round(float(v), 6) for v in total.mean()]
    assert features["std"] == [round(float(v), 6) for v in total.std()]
    by_speaker = description.normalisation["features_by_speaker"]
    assert sorted(by_speaker) == sorted(speakers)
    for speaker, own in speakers.items():
        assert by_speaker[speaker]["frames"] == own.count
        np.testing.assert_allclose(by_speaker[speaker]["mean"], own.mean(), atol=2e-6)
    assert description.portions["train"]["examples"] == 18
    assert description.normalisation["fit_on"] == "train"


def test_a_view_streams_what_a_copy_of_its_fold_streams(loso, tmp_path):
    view = loso / "fold-03"
    copy = _copy_of(view, tmp_path / "copy")
    for portion, options in (
            ("train", {"sequence_length": None, "shuffle": True, "repeat": True,
                       "crop_frames": 9}),
            ("train", {"sequence_length": 7, "shuffle": True, "repeat": True}),
            ("train+devel", {"sequence_length": None, "shuffle": True, "repeat": True,
                             "speaker_normalise": True}),
            ("test", {"sequence_length": None, "shuffle": False})):
        ours, theirs = (_batches(f, portion, 20, **options) for f in (view, copy))
        assert len(ours) == len(theirs) > 0
        for a, b in zip(ours, theirs, strict=True):
            assert sorted(a) == sorted(b)
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.slow
def test_training_and_evaluation_on_a_view_equal_a_copy_to_the_last_digit(loso, tmp_path):
    view = loso / "fold-01"
    copy = _copy_of(view, tmp_path / "copy")
    scores = []
    for records in (view, copy):
        train_dir = tmp_path / f"train-{records.name}"
        assert train.main(["--tfrecords", str(records), "--train_dir", str(train_dir),
                           *SMALL]) == 0
        assert evaluate.main(["--portion", "test", "--train_dir", str(train_dir),
                              "--tfrecords", str(records)]) == 0
        (result,) = train_dir.glob("eval-test-*.json")
        score = json.loads(result.read_text())
        assert {score.pop("checkpoint"), score.pop("tfrecords")} == {
            str(train_dir / "model.ckpt-12"), str(records)}
        scores.append(score)
    assert scores[0] == scores[1] and 0 < scores[0]["uar"] <= 1


def test_make_partition_adds_folds_to_records_without_their_audio(emodb, loso, tmp_path):
    corpus = tmp_path / "emodb"
    os.symlink(emodb, corpus)
    records = tmp_path / "records"
    _make(corpus, records)  # the official single partition
    corpus.unlink()  # no audio from here on
    started = time.perf_counter()
    assert make_partition_main(["--tfrecords", str(records), "--partition", "loso",
                                "--output_dir", str(records / "loso")]) == 0
    assert time.perf_counter() - started < 10
    folds = fold_record_dirs(records / "loso")
    assert [f.name for f in folds] == ["fold-01", "fold-02", "fold-03", "fold-04"]
    for fold in folds:  # the folds make_tfrecords --partition loso wrote, item for item
        added, made = (DatasetDescription.read(f).to_dict() for f in (fold, loso / fold.name))
        for description in (added, made):
            description.pop("command")
        assert added.pop("partition").pop("records") == "../.."
        assert made.pop("partition").pop("records") == ".."
        assert added == made
    first = _batches(folds[0], "test", 4, sequence_length=None, shuffle=False)
    assert first and all(set(b["speaker"]) == {b"03"} for b in first)
    assert make_partition_main(["--tfrecords", str(records), "--partition", "loso"]) == 2


def test_records_of_the_old_layout_are_refused_in_one_line(loso, tmp_path, capsys):
    old = json.loads((loso / "fold-01" / "description.json").read_text())
    old["schema_version"] = 2
    del old["partition"]
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "description.json").write_text(json.dumps(old))
    with pytest.raises(SchemaError, match="schema v2, this tfemo reads v3.*make_tfrecords"):
        make_dataset(tmp_path / "old", "train", sequence_length=None, batch_size=2,
                     shuffle=False, seed=0)
    code = train.main(["--tfrecords", str(tmp_path / "old"), "--train_dir",
                       str(tmp_path / "run"), *SMALL])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "make_tfrecords" in lines[0]


def test_writing_over_the_old_layout_removes_its_copies(emodb, tmp_path):
    output = tmp_path / "records"
    old_shard = output / "fold-01" / "train" / "emodb-00000-of-00001.tfrecord"
    old_shard.parent.mkdir(parents=True)
    old_shard.write_bytes(b"old")
    (output / "fold-01" / "description.json").write_text('{"schema_version": 2}')
    _make(emodb, output, "--partition", "loso")
    assert not old_shard.exists()
    assert DatasetDescription.read(output / "fold-01").partition["records"] == ".."


_KILLABLE = """
import sys
from tfemo.make_tfrecords import main
sys.exit(main(sys.argv[1:]))
"""


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_build_killed_at_a_random_moment_then_rerun_writes_the_same_files(emodb, tmp_path):
    args = ["--corpus", "emodb", "--data_dir", str(emodb), "--embeddings", "none",
            "--features", FAMILIES, "--examples_per_shard", "2", "--workers", "1", "--quiet",
            "--partition", "loso"]
    whole = tmp_path / "whole"
    _make(emodb, whole, "--partition", "loso", "--examples_per_shard", "2")
    rng = random.Random(21)
    for attempt in range(2):  # benchmarks/partitions.py --kill 5 does five
        output = tmp_path / f"killed-{attempt}"
        command = [sys.executable, "-c", _KILLABLE, *args, "--output_dir", str(output)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(4.0, 9.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        killed, expected = _tree(output), _tree(whole)
        for tree in (killed, expected):  # the command line names the output folder
            for name in [n for n in tree if n.endswith(".json") and "items" not in n]:
                data = json.loads(tree[name])
                data.pop("command", None)
                tree[name] = json.dumps(data).encode()
        assert killed == expected


def _manifest(emodb: Path, path: Path, speakers: tuple[str, ...] = SPEAKERS) -> Path:
    """path,speaker,label rows (no portion column) over the tone tree."""
    names = {"W": "anger", "T": "sadness", "N": "neutral"}
    rows = ["path,speaker,label"]
    for wav in sorted((emodb / "wav").glob("*.wav")):
        if wav.name[:2] in speakers:
            rows.append(f"{wav},{wav.name[:2]},{names[wav.name[5]]}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_manifest_without_portions_takes_a_partition(emodb, tmp_path, capsys):
    manifest = _manifest(emodb, tmp_path / "corpus.csv")
    common = ["--corpus", "manifest", "--data_dir", str(manifest), "--embeddings", "none",
              "--features", "rms", "--workers", "1", "--quiet"]
    assert make_tfrecords_main([*common, "--output_dir", str(tmp_path / "a")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no portion" in lines[0] and "--partition loso" in lines[0]
    assert make_tfrecords_main([*common, "--output_dir", str(tmp_path / "b"),
                                "--partition", "loso"]) == 0
    folds = fold_record_dirs(tmp_path / "b")
    assert len(folds) == 4
    assert DatasetDescription.read(folds[1]).portions["test"]["speakers"] == ["08"]


@pytest.fixture(scope="module")
def two_corpora(emodb, tmp_path_factory) -> dict[str, Path]:
    """An EMO-DB tree (speakers 03, 08) and a manifest of other labels (speakers 09, 10)."""
    folder = tmp_path_factory.mktemp("two")
    tree = folder / "emodb"
    (tree / "wav").mkdir(parents=True)
    for wav in (emodb / "wav").glob("*.wav"):
        if wav.name[:2] in ("03", "08"):
            (tree / "wav" / wav.name).symlink_to(wav)
    names = {"W": "angry", "T": "sad", "N": "calm"}
    rows = ["path,speaker,label"] + [
        f"{wav},s{wav.name[:2]},{names[wav.name[5]]}"
        for wav in sorted((emodb / "wav").glob("*.wav")) if wav.name[:2] in ("09", "10")]
    (folder / "other.csv").write_text("\n".join(rows) + "\n")
    (folder / "map.toml").write_text('[emodb]\nanger = "angry"\nsadness = "sad"\n\n'
                                     '[other]\nangry = "angry"\nsad = "sad"\n')
    return {"emodb": tree, "other": folder / "other.csv", "map": folder / "map.toml"}


def _merged(two_corpora: dict[str, Path], output: Path, *extra: str) -> int:
    return make_tfrecords_main([
        "--corpus", f"emodb={two_corpora['emodb']}", "--corpus", f"other={two_corpora['other']}",
        "--label_map", str(two_corpora["map"]), "--output_dir", str(output), "--embeddings",
        "none", "--features", "rms", "--workers", "1", "--quiet", *extra])


def test_several_corpora_leave_one_corpus_out(two_corpora, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    assert _merged(two_corpora, tmp_path / "loco", "--partition", "leave-one-corpus-out") == 0
    printed = capsys.readouterr().out
    assert "other: angry 6, sad 6; dropped: calm 6" in printed
    assert "emodb: angry 6, sad 6; dropped: neutral 6" in printed
    folds = fold_record_dirs(tmp_path / "loco")
    assert [f.name for f in folds] == ["fold-01", "fold-02"]
    first, second = (DatasetDescription.read(f) for f in folds)
    assert first.label_names == ["angry", "sad"] and first.corpus == "emodb+other"
    assert first.portions["test"]["speakers"] == ["emodb/03", "emodb/08"]
    assert first.portions["devel"]["speakers"] == ["other/s09"]
    assert first.portions["train"]["speakers"] == ["other/s10"]
    assert second.portions["test"]["speakers"] == ["other/s09", "other/s10"]
    assert first.portions["test"]["classes"] == {"angry": 6, "sad": 6}
    assert first.extra["corpora"]["other"]["dropped"] == {"calm": 6}
    ids = {e.id for e in read_portion(folds[1], "test")}
    assert len(ids) == 12 and all(i.startswith("other/") for i in ids)
    (shard,) = (tmp_path / "loco" / "examples").glob("*.tfrecord")  # 24 items, written once
    assert len(list(read_examples([shard]))) == 24
    # the same partition added afterwards, from the records alone
    assert make_partition_main(["--tfrecords", str(tmp_path / "loco"), "--partition",
                                "leave-one-corpus-out", "--output_dir",
                                str(tmp_path / "loco" / "again")]) == 0
    again = DatasetDescription.read(tmp_path / "loco" / "again" / "fold-01")
    assert again.normalisation == first.normalisation and again.portions == first.portions


def test_several_corpora_fixed_split_and_loso(two_corpora, tmp_path):
    assert _merged(two_corpora, tmp_path / "fixed", "--partition", "fixed-corpora",
                   "--split", "train=emodb;test=other") == 0
    fixed = DatasetDescription.read(tmp_path / "fixed")
    assert sorted(fixed.portions) == ["test", "train"]
    assert fixed.portions["train"]["speakers"] == ["emodb/03", "emodb/08"]
    assert _merged(two_corpora, tmp_path / "loso", "--partition", "loso") == 0
    folds = fold_record_dirs(tmp_path / "loso")
    assert [DatasetDescription.read(f).portions["test"]["speakers"] for f in folds] == [
        ["emodb/03"], ["emodb/08"], ["other/s09"], ["other/s10"]]


def test_a_records_folder_holds_the_partition_last_asked_for(emodb, tmp_path):
    output = tmp_path / "records"
    _make(emodb, output)
    assert (output / "description.json").exists()
    shards = _tree(output / "examples")
    _make(emodb, output, "--partition", "loso")  # the same examples, another partition
    assert not (output / "description.json").exists() and len(fold_record_dirs(output)) == 4
    assert _tree(output / "examples") == shards
    _make(emodb, output)
    assert (output / "description.json").exists()
    assert not list(output.glob("fold-*/description.json"))
