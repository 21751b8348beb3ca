"""tfemo.core.storage: local paths and tf.io.gfile URLs behave alike (ram:// is in-process).

And what is built on it: shards and descriptions written to and read from a URL, and the
tf.data reader streaming records from one exactly as from a local folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.records_factory import write_synthetic_records
from tfemo.core import storage
from tfemo.core.errors import StorageError
from tfemo.records.description import DatasetDescription
from tfemo.records.reader import make_dataset
from tfemo.records.writer import ShardWriter, remove_stale_temp_files, shard_paths, write_shard


def test_urls_stay_urls_and_local_paths_stay_paths():
    assert storage.location("gs://bucket/records/") == "gs://bucket/records"
    assert storage.location("records") == Path("records")
    assert not storage.is_url(Path("gs:/bucket")) and not storage.is_url("C:/x")
    assert storage.join("gs://b/r", "", "train", "x.tfrecord") == "gs://b/r/train/x.tfrecord"
    assert storage.join("r", "", "train") == Path("r/train")
    assert storage.name("gs://b/r/x.json") == "x.json"
    assert storage.parent("gs://b/r/x.json") == "gs://b/r"
    assert storage.relative("gs://b/r/train/x", "gs://b/r/") == "train/x"
    assert storage.absolute("gs://b/r") == "gs://b/r"
    with pytest.raises(ValueError, match="not inside"):
        storage.relative("gs://b/other/x", "gs://b/r")


@pytest.mark.parametrize("kind", ["local", "ram"])
def test_every_operation_does_the_same_on_both(kind, tmp_path, ram):
    base = tmp_path / "out" if kind == "local" else ram
    target = storage.join(base, "a", "b.json")
    assert not storage.exists(target)
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(target)
    assert storage.write_atomic(target, "{}\n") == target
    assert storage.read_text(target) == "{}\n" and storage.isfile(target)
    assert storage.isdir(storage.join(base, "a")) and not storage.isfile(storage.join(base, "a"))
    assert storage.glob(storage.join(base, "a"), ".*.tmp-*") == []  # no temp file left
    storage.write_bytes(storage.join(base, "a", "c.bin"), b"\x00\x01")
    assert [storage.name(p) for p in storage.glob(base, "*/*")] == ["b.json", "c.bin"]
    storage.rename(storage.join(base, "a", "c.bin"), target)  # replaces
    assert storage.read_bytes(target) == b"\x00\x01"
    copied = tmp_path / "copied" / "c.bin"
    storage.copy(target, copied)  # to local, from either
    assert copied.read_bytes() == b"\x00\x01"
    storage.remove(target)
    storage.remove(target)  # already gone: nothing
    assert not storage.exists(target)
    storage.rmtree(base)
    storage.rmtree(base)
    assert not storage.exists(base) and storage.glob(base, "*") == []


def test_shards_on_a_url_are_renamed_into_place_and_temp_files_cleared(ram):
    path = storage.join(ram, "train", "x-00000-of-00001.tfrecord")
    assert write_shard([b"one", b"two"], path) == path
    assert storage.glob(storage.join(ram, "train"), ".*") == []
    assert list(tf.data.TFRecordDataset(path).as_numpy_iterator()) == [b"one", b"two"]
    assert shard_paths(ram, "train") == [path]
    with pytest.raises(RuntimeError), ShardWriter(storage.join(ram, "train", "y.tfrecord")) as w:
        w.write(b"half")
        raise RuntimeError("killed")
    assert storage.glob(storage.join(ram, "train"), "*") == [path]  # nothing of y
    stale = storage.join(ram, "train", ".x-00000-of-00001.tfrecord.tmp-99")
    storage.write_bytes(stale, b"left by a killed run")
    assert remove_stale_temp_files(storage.join(ram, "train")) == [stale]
    assert remove_stale_temp_files(storage.join(ram, "devel")) == []


def test_the_reader_streams_records_from_a_url_as_from_a_local_folder(tmp_path, ram):
    lengths = {"train": [30, 20, 12], "test": [25]}
    local = write_synthetic_records(tmp_path / "records", lengths)
    remote = write_synthetic_records(ram, lengths)
    assert remote.to_json() == local.to_json()
    assert storage.read_text(storage.join(ram, "description.json")) == \
        (tmp_path / "records" / "description.json").read_text()
    assert DatasetDescription.read(ram) == DatasetDescription.read(tmp_path / "records")
    for portion, length in (("train", 8), ("test", None)):
        batches = [list(make_dataset(folder, portion, sequence_length=length, batch_size=2,
                                     shuffle=length is not None, seed=3,
                                     features=("audio", "words", "labels", "features")))
                   for folder in (tmp_path / "records", ram)]
        assert len(batches[0]) == len(batches[1]) > 0
        for expected, got in zip(*batches, strict=True):
            assert sorted(expected) == sorted(got)
            for key in expected:
                np.testing.assert_array_equal(expected[key].numpy(), got[key].numpy())


def test_a_url_filesystems_failure_is_a_storage_error_naming_the_path(ram, monkeypatch):
    storage.write_bytes(storage.join(ram, "folder", "file"), b"1")
    with pytest.raises(StorageError, match="is a directory"):
        storage.read_bytes(storage.join(ram, "folder"))

    def denied(*args, **kwargs):
        raise tf.errors.PermissionDeniedError(None, None, "no credentials")

    monkeypatch.setattr(tf.io.gfile, "exists", denied)
    with pytest.raises(StorageError, match=r"^gs://bucket/records: no credentials$"):
        storage.exists("gs://bucket/records")
    assert storage.exists(Path("."))  # local paths never reach tf.io.gfile
