"""Records: schema round trips, chunking and masks, atomic shards, the description, statistics."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfemo.core.errors import SchemaError
from tfemo.records.description import (
    DatasetDescription,
    RunningStats,
    description_path,
)
from tfemo.records.reader import make_dataset, portion_frame_count
from tfemo.records.schema import (
    SCHEMA_VERSION,
    ExampleArrays,
    RecordSpec,
    deserialize,
    float_feature_list_bytes,
    parse,
    read_examples,
    serialize,
)
from tfemo.records.writer import (
    ShardWriter,
    remove_stale_temp_files,
    shard_path,
    shard_paths,
    temp_path,
    write_shard,
)

FRAME = 8  # samples per frame: small keeps the tests fast; the code does not care
WORD_DIM = 5
DIMS = 2
RATERS = 3
ALL = ("audio", "words", "labels", "ratings")


def make_example(
    rng: np.random.Generator,
    example_id: str,
    frames: int,
    *,
    words: bool = True,
    labels: bool = True,
    ratings: bool = True,
    label: int = -1,
    portion: str = "train",
) -> ExampleArrays:
    """A random example with the requested per-frame arrays."""
    return ExampleArrays(
        id=example_id,
        speaker=f"spk-{example_id}",
        corpus="fake",
        portion=portion,
        sample_rate=16000,
        audio=rng.integers(-32768, 32768, size=(frames, FRAME), dtype=np.int16),
        words=rng.standard_normal((frames, WORD_DIM)).astype(np.float32) if words else None,
        labels=rng.uniform(-1, 1, (frames, DIMS)).astype(np.float32) if labels else None,
        ratings=rng.uniform(-1, 1, (frames, DIMS, RATERS)).astype(np.float32) if ratings else None,
        label=label,
        gender="f",
    )


def write_dataset(
    output_dir: Path,
    portions: dict[str, list[ExampleArrays]],
    *,
    shards: int = 2,
    word_dim: int = WORD_DIM,
    raters: tuple[str, ...] = ("r1", "r2", "r3"),
    task: str = "continuous",
    label_names: tuple[str, ...] = ("arousal", "valence"),
    compression: str = "",
) -> DatasetDescription:
    """Write each portion's examples into `shards` contiguous shards plus the description."""
    summary = {}
    for portion, examples in portions.items():
        bounds = np.linspace(0, len(examples), shards + 1).astype(int)
        files = []
        for shard in range(shards):
            chunk = examples[bounds[shard] : bounds[shard + 1]]
            path = write_shard(
                (serialize(e) for e in chunk),
                shard_path(output_dir, portion, "fake", shard, shards),
                compression=compression,
            )
            files.append(path.name)
        frames = sum(e.num_frames for e in examples)
        summary[portion] = {
            "examples": len(examples),
            "frames": frames,
            "seconds": frames * 0.04,
            "shards": shards,
            "files": files,
        }
    description = DatasetDescription(
        name="fake",
        corpus="fake",
        task=task,
        sample_rate=16000,
        frame_length=FRAME,
        frame_seconds=0.04,
        word_dim=word_dim,
        label_names=list(label_names),
        raters=raters,
        portions=summary,
        compression=compression,
        command=["tools/make_tfrecords.py", "fake"],
    )
    description.write(output_dir)
    return description


def assert_same(a: ExampleArrays, b: ExampleArrays) -> None:
    """Every field of two examples is identical."""
    for name in ("id", "speaker", "corpus", "portion", "sample_rate", "label", "gender"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.audio.dtype == b.audio.dtype == np.int16
    np.testing.assert_array_equal(a.audio, b.audio)
    for name in ("words", "labels", "ratings"):
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype == np.float32
            np.testing.assert_array_equal(x, y)


def mixed_examples(rng: np.random.Generator) -> list[ExampleArrays]:
    """Examples of several lengths with and without the optional arrays."""
    return [
        make_example(rng, "a", 23),
        make_example(rng, "b", 1, words=False),
        make_example(rng, "c", 10, labels=False, ratings=False, label=2),
        make_example(rng, "d", 7, ratings=False),
        make_example(rng, "e", 31, words=False, labels=False, ratings=False, label=0),
    ]


def to_numpy(dataset: tf.data.Dataset) -> list[dict[str, np.ndarray]]:
    """All batches of a dataset as NumPy dicts."""
    return list(dataset.as_numpy_iterator())


def stitch(batches: list[dict[str, np.ndarray]], key: str) -> dict[str, np.ndarray]:
    """Per id, the real frames of `key` from every row, concatenated in order of arrival."""
    pieces: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        for row in range(len(batch["id"])):
            mask = batch["mask"][row]
            pieces.setdefault(batch["id"][row].decode(), []).append(batch[key][row][mask])
    return {k: np.concatenate(v) for k, v in pieces.items()}


def row_order(batches: list[dict[str, np.ndarray]]) -> list[tuple[str, int]]:
    """(id, chunk_index) of every row, in order (chunk_index 0 in whole-sequence mode)."""
    order = []
    for batch in batches:
        chunk = batch.get("chunk_index", np.zeros(len(batch["id"]), dtype=int))
        order += [(i.decode(), int(c)) for i, c in zip(batch["id"], chunk, strict=True)]
    return order


# ---------------------------------------------------------------- schema


def test_serialize_round_trip_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    examples = mixed_examples(rng)
    path = write_shard([serialize(e) for e in examples], shard_path(tmp_path, "train", "x", 0, 1))
    back = list(read_examples([path]))
    assert [e.id for e in back] == [e.id for e in examples]
    for original, read in zip(examples, back, strict=True):
        assert_same(original, read)


def test_serialize_is_deterministic_and_matches_protobuf_api() -> None:
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((6, 4)).astype(np.float32)
    fast = tf.train.FeatureList.FromString(float_feature_list_bytes(rows))
    slow = tf.train.FeatureList()
    for row in rows.tolist():
        slow.feature.add().float_list.value.extend(row)
    assert fast.SerializeToString() == slow.SerializeToString()
    example = make_example(rng, "x", 5)
    assert serialize(example) == serialize(example)


def test_audio_is_int16_pcm_bytes() -> None:
    example = make_example(np.random.default_rng(2), "x", 3)
    proto = tf.train.SequenceExample.FromString(serialize(example))
    frames = proto.feature_lists.feature_list["audio"].feature
    assert len(frames) == 3
    assert frames[1].bytes_list.value[0] == example.audio[1].astype("<i2").tobytes()
    assert len(frames[1].bytes_list.value[0]) == 2 * FRAME


def test_parse_graph_matches_numpy() -> None:
    example = make_example(np.random.default_rng(3), "x", 9, label=4)
    spec = RecordSpec(frame_length=FRAME, word_dim=WORD_DIM, label_dims=DIMS, raters=RATERS)
    parsed = parse(tf.constant(serialize(example)), spec)
    assert parsed["id"].numpy() == b"x"
    assert parsed["speaker"].numpy() == b"spk-x"
    assert int(parsed["label"]) == 4 and int(parsed["num_frames"]) == 9
    audio = parsed["audio"].numpy()
    assert audio.dtype == np.float32 and audio.min() >= -1 and audio.max() < 1
    np.testing.assert_array_equal(np.round(audio * 32768).astype(np.int16), example.audio)
    np.testing.assert_array_equal(parsed["words"].numpy(), example.words)
    np.testing.assert_array_equal(parsed["labels"].numpy(), example.labels)
    np.testing.assert_array_equal(parsed["ratings"].numpy(), example.ratings)
    only = parse(tf.constant(serialize(example)), spec, features=("labels",))
    assert "audio" not in only and "words" not in only and "labels" in only


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"audio": np.zeros((4, FRAME), np.float32)}, "int16"),
        ({"audio": np.zeros((0, FRAME), np.int16)}, "no samples"),
        ({"words": np.zeros((3, WORD_DIM), np.float32)}, "3 frames but audio has 4"),
        ({"labels": np.zeros((4, DIMS), np.float64)}, "float32"),
        ({"labels": np.full((4, DIMS), np.nan, np.float32)}, "NaN"),
        ({"ratings": np.zeros((4, DIMS + 1, RATERS), np.float32)}, "dimensions"),
        ({"label": -2}, "class index"),
        ({"id": ""}, "empty"),
    ],
)
def test_example_validation(change: dict, message: str) -> None:
    fields = {
        "id": "x",
        "speaker": "s",
        "corpus": "c",
        "portion": "train",
        "sample_rate": 16000,
        "audio": np.zeros((4, FRAME), np.int16),
        "labels": np.zeros((4, DIMS), np.float32),
    }
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        ExampleArrays(**fields)


def test_deserialize_rejects_other_schema_version() -> None:
    proto = tf.train.SequenceExample.FromString(
        serialize(make_example(np.random.default_rng(4), "x", 2))
    )
    proto.context.feature["schema_version"].int64_list.value[0] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaError, match=f"schema v{SCHEMA_VERSION + 1}"):
        deserialize(proto.SerializeToString(), source="some.tfrecord")


# ---------------------------------------------------------------- reader


def test_make_dataset_whole_sequences_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    examples = [make_example(rng, f"u{i}", n, label=i) for i, n in enumerate([4, 23, 1, 9, 12])]
    write_dataset(tmp_path, {"train": examples})
    batches = to_numpy(
        make_dataset(
            tmp_path,
            "train",
            sequence_length=None,
            batch_size=2,
            shuffle=False,
            seed=0,
            features=ALL,
        )
    )
    assert [len(b["id"]) for b in batches] == [2, 2, 1]
    assert row_order(batches) == [(e.id, 0) for e in examples]
    labels = np.concatenate([b["label"] for b in batches])
    np.testing.assert_array_equal(labels, np.arange(5))
    audio, words = stitch(batches, "audio"), stitch(batches, "words")
    frame_labels, ratings = stitch(batches, "labels"), stitch(batches, "ratings")
    for example in examples:
        pcm = np.round(audio[example.id] * 32768).astype(np.int16)
        np.testing.assert_array_equal(pcm, example.audio)
        np.testing.assert_array_equal(words[example.id], example.words)
        np.testing.assert_array_equal(frame_labels[example.id], example.labels)
        np.testing.assert_array_equal(ratings[example.id], example.ratings)
    assert batches[0]["audio"].shape == (2, 23, FRAME)
    assert batches[0]["ratings"].shape == (2, 23, DIMS, RATERS)


def test_padded_batch_mask(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    lengths = [5, 9, 2]
    write_dataset(
        tmp_path, {"devel": [make_example(rng, f"d{i}", n) for i, n in enumerate(lengths)]}
    )
    (batch,) = to_numpy(
        make_dataset(tmp_path, "devel", sequence_length=None, batch_size=3, shuffle=False, seed=0)
    )
    assert batch["mask"].dtype == bool and batch["mask"].shape == (3, 9)
    expected = np.arange(9)[None, :] < np.array(lengths)[:, None]
    np.testing.assert_array_equal(batch["mask"], expected)
    np.testing.assert_array_equal(batch["num_frames"], lengths)
    assert not batch["audio"][~expected].any()  # padding is zeros
    assert not batch["labels"][~expected].any()
    assert "ratings" not in batch  # not requested by default
    assert "chunk_index" not in batch


def test_chunking_23_frames_into_10(tmp_path: Path) -> None:
    example = make_example(np.random.default_rng(7), "long", 23)
    write_dataset(tmp_path, {"train": [example]}, shards=1)
    batches = to_numpy(
        make_dataset(tmp_path, "train", sequence_length=10, batch_size=8, shuffle=False, seed=0)
    )
    (batch,) = batches
    assert batch["audio"].shape == (3, 10, FRAME)
    assert batch["words"].shape == (3, 10, WORD_DIM)
    assert batch["labels"].shape == (3, 10, DIMS)
    np.testing.assert_array_equal(batch["mask"].sum(axis=1), [10, 10, 3])
    np.testing.assert_array_equal(batch["num_frames"], [10, 10, 3])
    np.testing.assert_array_equal(batch["chunk_index"], [0, 1, 2])
    assert set(batch["id"]) == {b"long"}
    np.testing.assert_array_equal(batch["mask"][2], np.arange(10) < 3)
    assert not batch["labels"][2, 3:].any() and not batch["audio"][2, 3:].any()
    frames = batch["labels"].reshape(-1, DIMS)[:23]
    np.testing.assert_array_equal(frames, example.labels)
    pcm = np.round(batch["audio"].reshape(-1, FRAME)[:23] * 32768).astype(np.int16)
    np.testing.assert_array_equal(pcm, example.audio)


def test_every_frame_exactly_once_in_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    lengths = [23, 1, 7, 14, 30, 6, 13, 2]
    examples = [make_example(rng, f"f{i}", n) for i, n in enumerate(lengths)]
    write_dataset(tmp_path, {"test": examples}, shards=3)
    assert portion_frame_count(tmp_path, "test") == sum(lengths)
    for length in (7, None):
        batches = to_numpy(
            make_dataset(
                tmp_path, "test", sequence_length=length, batch_size=3, shuffle=False, seed=0
            )
        )
        assert sum(int(b["mask"].sum()) for b in batches) == sum(lengths)
        order = row_order(batches)
        if length is not None:
            expected = [(e.id, k) for e in examples for k in range(-(-e.num_frames // length))]
            assert order == expected  # file order, chunks consecutive, none twice
        labels = stitch(batches, "labels")
        assert list(labels) == [e.id for e in examples]
        for example in examples:
            np.testing.assert_array_equal(labels[example.id], example.labels)


def test_shuffle_is_seeded_and_complete(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    examples = [make_example(rng, f"s{i}", n) for i, n in enumerate(rng.integers(1, 40, 12))]
    write_dataset(tmp_path, {"train": examples}, shards=4)

    def order(seed: int, shuffle: bool = True) -> list[tuple[str, int]]:
        dataset = make_dataset(
            tmp_path, "train", sequence_length=5, batch_size=4, shuffle=shuffle, seed=seed
        )
        return row_order(to_numpy(dataset))

    plain = order(0, shuffle=False)
    first = order(3)
    assert first == order(3)
    assert first != plain
    assert sorted(first) == sorted(plain)


def test_repeat_and_drop_remainder(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    write_dataset(tmp_path, {"train": [make_example(rng, f"r{i}", 4) for i in range(3)]})
    dataset = make_dataset(
        tmp_path,
        "train",
        sequence_length=4,
        batch_size=2,
        shuffle=False,
        seed=0,
        repeat=True,
        drop_remainder=True,
    )
    assert dataset.element_spec["audio"].shape == (2, 4, FRAME)
    ids = [i.decode() for b in dataset.take(3).as_numpy_iterator() for i in b["id"]]
    assert ids == ["r0", "r1", "r2", "r0", "r1", "r2"]


def test_features_absent_from_records_are_left_out(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    examples = [
        make_example(rng, "c0", 6, words=False, labels=False, ratings=False, label=1),
        make_example(rng, "c1", 3, words=False, labels=False, ratings=False, label=0),
    ]
    write_dataset(
        tmp_path,
        {"train": examples},
        word_dim=0,
        raters=(),
        task="categorical",
        label_names=("neutral", "angry"),
    )
    (batch,) = to_numpy(
        make_dataset(tmp_path, "train", sequence_length=None, batch_size=4, shuffle=False, seed=0)
    )
    assert set(batch) == {"audio", "mask", "label", "id", "speaker", "num_frames"}
    np.testing.assert_array_equal(batch["label"], [1, 0])
    with pytest.raises(ValueError, match="unknown features"):
        make_dataset(
            tmp_path,
            "train",
            sequence_length=None,
            batch_size=1,
            shuffle=False,
            seed=0,
            features=("mfcc",),
        )


def test_gzip_shards(tmp_path: Path) -> None:
    rng = np.random.default_rng(12)
    examples = [make_example(rng, "g0", 5), make_example(rng, "g1", 8)]
    write_dataset(tmp_path, {"train": examples}, compression="GZIP")
    paths = shard_paths(tmp_path, "train")
    assert paths[0].read_bytes()[:2] == b"\x1f\x8b"
    for original, read in zip(examples, read_examples(paths), strict=True):
        assert_same(original, read)
    batches = to_numpy(
        make_dataset(tmp_path, "train", sequence_length=4, batch_size=8, shuffle=False, seed=0)
    )
    assert sum(int(b["mask"].sum()) for b in batches) == 13


# ---------------------------------------------------------------- description and layout


def test_schema_version_mismatch_names_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(13)
    write_dataset(tmp_path, {"train": [make_example(rng, "v", 3)]})
    path = description_path(tmp_path)
    data = json.loads(path.read_text())
    data["schema_version"] = SCHEMA_VERSION + 1
    path.write_text(json.dumps(data))
    expected = f"schema v{SCHEMA_VERSION + 1}, this tfemo reads v{SCHEMA_VERSION}"
    with pytest.raises(SchemaError, match=expected) as error:
        make_dataset(tmp_path, "train", sequence_length=None, batch_size=1, shuffle=False, seed=0)
    assert str(path) in str(error.value)
    assert "make_tfrecords.py" in str(error.value)


def test_description_missing_or_invalid(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no dataset description") as error:
        DatasetDescription.read(tmp_path)
    assert str(description_path(tmp_path)) in str(error.value)
    description_path(tmp_path).write_text("{not json")
    with pytest.raises(SchemaError, match="not valid JSON"):
        DatasetDescription.read(tmp_path)
    description_path(tmp_path).write_text(json.dumps({"schema_version": SCHEMA_VERSION}))
    with pytest.raises(SchemaError, match="lacks name"):
        DatasetDescription.read(tmp_path)


def test_description_json_is_deterministic(tmp_path: Path) -> None:
    def build(reverse: bool) -> DatasetDescription:
        portions = {"train": {"examples": 2, "frames": 10}, "devel": {"examples": 1, "frames": 4}}
        if reverse:
            portions = {k: dict(reversed(v.items())) for k, v in reversed(portions.items())}
        return DatasetDescription(
            name="fake",
            task="continuous",
            sample_rate=16000,
            frame_length=640,
            frame_seconds=0.04,
            label_names=["arousal", "valence"],
            portions=portions,
            normalisation={"labels": {"mean": np.array([0.1, -0.2]), "std": np.float64(0.5)}},
            command=("tools/make_tfrecords.py", Path("recola")),
        )

    first, second = build(False), build(True)
    assert first.to_json() == second.to_json()
    a = first.write(tmp_path / "a")
    b = second.write(tmp_path / "b")
    assert a.read_bytes() == b.read_bytes()
    assert first.write(tmp_path / "a").read_bytes() == a.read_bytes()
    assert not list((tmp_path / "a").glob(".*"))  # no temp file left
    back = DatasetDescription.read(a)
    assert back.to_json() == first.to_json()
    assert back.record_spec() == RecordSpec(frame_length=640, word_dim=0, label_dims=2, raters=0)
    assert "time" not in first.to_json()


def test_description_keeps_the_feature_order_through_json(tmp_path: Path) -> None:
    # JSON keys are sorted on writing; the families' order is the records' column order
    description = DatasetDescription(
        name="fake", task="categorical", sample_rate=16000, frame_length=640,
        frame_seconds=0.04, label_names=["a", "b"], features={"zcr": 1, "mfcc": 13, "chroma": 12})
    back = DatasetDescription.read(description.write(tmp_path))
    assert list(back.features.items()) == [("zcr", 1), ("mfcc", 13), ("chroma", 12)]
    assert back.feature_dim == 26 and back.record_spec().feature_dim == 26
    assert back.to_json() == description.to_json()


def test_description_files_must_match_shards(tmp_path: Path) -> None:
    rng = np.random.default_rng(14)
    write_dataset(tmp_path, {"train": [make_example(rng, "m", 3)]}, shards=1)
    write_shard([serialize(make_example(rng, "o", 2))], shard_path(tmp_path, "train", "o", 0, 1))
    with pytest.raises(SchemaError, match="do not match the dataset description"):
        make_dataset(tmp_path, "train", sequence_length=None, batch_size=1, shuffle=False, seed=0)
    with pytest.raises(SchemaError, match="no portion 'devel'"):
        portion_frame_count(tmp_path, "devel")


def test_shard_paths_errors_name_the_folder(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="no .tfrecord shards") as error:
        shard_paths(tmp_path, "train")
    assert str(tmp_path / "train") in str(error.value)
    write_shard([b"x"], shard_path(tmp_path, "train", "fake", 0, 3))
    write_shard([b"x"], shard_path(tmp_path, "train", "fake", 2, 3))
    with pytest.raises(SchemaError, match="1 of 3 shards of 'fake' are missing"):
        shard_paths(tmp_path, "train")
    write_shard([b"x"], shard_path(tmp_path, "train", "fake", 1, 3))
    assert [p.name for p in shard_paths(tmp_path, "train")] == [
        f"fake-0000{i}-of-00003.tfrecord" for i in range(3)
    ]
    write_shard([b"x"], shard_path(tmp_path, "train", "fake", 0, 1))
    with pytest.raises(SchemaError, match="different runs"):
        shard_paths(tmp_path, "train")


def test_interrupted_writer_leaves_no_final_shard(tmp_path: Path) -> None:
    final = shard_path(tmp_path, "train", "fake", 0, 1)
    rng = np.random.default_rng(15)

    def records():
        yield serialize(make_example(rng, "ok", 3))
        raise RuntimeError("worker died")

    with pytest.raises(RuntimeError, match="worker died"):
        write_shard(records(), final)
    assert not final.exists()
    assert not list(final.parent.iterdir())  # the temp file went with the error

    # A killed process never reaches cleanup: its temp file stays, under a non-final name.
    writer = ShardWriter(final).__enter__()
    writer.write(serialize(make_example(rng, "half", 3)))
    assert temp_path(final).exists() and not final.exists()
    with pytest.raises(SchemaError, match="no .tfrecord shards"):
        shard_paths(tmp_path, "train")
    assert remove_stale_temp_files(final.parent) == [temp_path(final)]
    assert not list(final.parent.iterdir())
    writer._abort()  # release the handle the "killed" writer held

    path = write_shard([serialize(make_example(rng, "ok", 2))], final)
    assert path == final and [e.id for e in read_examples([final])] == ["ok"]


def test_description_promising_absent_feature_fails_clearly(tmp_path: Path) -> None:
    rng = np.random.default_rng(17)
    examples = [make_example(rng, "n", 4, ratings=False)]
    write_dataset(tmp_path, {"train": examples}, shards=1)  # description lists 3 raters
    dataset = make_dataset(
        tmp_path,
        "train",
        sequence_length=None,
        batch_size=1,
        shuffle=False,
        seed=0,
        features=ALL,
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="'ratings' is required"):
        to_numpy(dataset)


# ---------------------------------------------------------------- statistics


def test_running_stats_match_numpy_on_split_data() -> None:
    rng = np.random.default_rng(16)
    data = rng.normal(1000.0, 0.01, size=(1000, 3))  # large mean, tiny spread
    parts = np.split(data, [10, 11, 400])
    workers = [RunningStats.of(part) for part in parts]
    workers = [pickle.loads(pickle.dumps(w)) for w in workers]  # crossed a process boundary
    total = RunningStats(dim=3)
    for worker in workers:
        total.merge(worker)
    total.merge(RunningStats(dim=3))  # an empty worker changes nothing
    assert total.count == 1000
    np.testing.assert_allclose(total.mean(), data.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(total.std(), data.std(axis=0), rtol=1e-7)
    summary = total.summary()
    assert summary["count"] == 1000 and len(summary["std"]) == 3

    # Through JSON (the writer's progress file) and back: exactly the same state.
    again = RunningStats.from_dict(json.loads(json.dumps(total.to_dict())))
    assert again.count == total.count
    np.testing.assert_array_equal(again.mean(), total.mean())
    np.testing.assert_array_equal(again.std(), total.std())

    audio = RunningStats.of(np.arange(10, dtype=np.int16))  # 1-D: samples of one dimension
    assert audio.dim == 1
    audio.update(np.arange(10, 20, dtype=np.int16).reshape(2, 5))
    np.testing.assert_allclose(audio.std(), [np.arange(20).std()])
    with pytest.raises(ValueError, match="no values"):
        RunningStats(dim=2).mean()
    with pytest.raises(ValueError, match="last axis 2"):
        RunningStats(dim=2).update(np.zeros((4, 3)))
