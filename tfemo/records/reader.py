"""The tf.data reader: batches of fixed-length chunks (training) or whole sequences (evaluation).

Every batch is a dict of tensors:
- `audio` float32 [B, T, frame_length] in [-1, 1); `words` float32 [B, T, word_dim];
  `features` float32 [B, T, F] (raw, or per-speaker standardised on request); `labels`
  float32 [B, T, D]; `ratings` float32 [B, T, D, R]: the requested per-frame features the
  records carry;
- `word_sequence` float32 [B, W, word_dim] (when asked for; whole-sequence mode only): each
  row's words in spoken order, once each, zero-padded to the most words of the batch, with
  `word_mask` bool [B, W] True on the real words (asking for `word_mask` asks for both);
- `mask` bool [B, T]: True on real frames of the example, False on the zero padding that
  fills the last chunk of a sequence (chunk mode) or the end of every shorter sequence of a
  batch (whole-sequence mode). Losses and metrics must use only frames where `mask` is True:
  padded frames carry zeros, not data (design section 6, bug 2);
- `num_frames` int32 [B]: the number of real frames in each row (the row's `mask` sum);
- `label` int32 [B] (class index, -1 for none), `id` string [B], `speaker` string [B];
- `chunk_index` int32 [B] (chunk mode only): position of the chunk in its sequence, so chunk
  k of `id` covers frames k*T .. k*T + num_frames - 1.

Nothing runs in Python per element: parsing, chunking and padding are TF ops only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tfemo.core import storage
from tfemo.core.errors import SchemaError
from tfemo.core.storage import Location
from tfemo.records.description import DatasetDescription
from tfemo.records.partitions import Slice, check_examples, portion_slices
from tfemo.records.schema import FRAME_FEATURES, WORD_FEATURES, parse
from tfemo.records.writer import shard_paths

AUTOTUNE = tf.data.AUTOTUNE
DEFAULT_FEATURES = ("audio", "words", "labels")
WORD_MASK = "word_mask"  # derived from word_sequence: True on the real words of a row
STD_FLOOR = 1e-6  # a feature constant over a speaker's frames is centred, not blown up


def speaker_normaliser(description: DatasetDescription):
    """Map function standardising `features` with the statistics of the example's speaker.

    The statistics (description normalisation `features_by_speaker`) come from each speaker's
    own frames, audio only, no labels. A speaker without statistics fails the pipeline.
    """
    stats = description.normalisation.get("features_by_speaker")
    if not stats:
        raise SchemaError(f"dataset {description.name!r} has no per-speaker feature statistics: "
                          "make the records with --features")
    speakers = sorted(stats)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(speakers),
                                            tf.range(len(speakers), dtype=tf.int64)),
        default_value=-1)
    means = tf.constant([stats[s]["mean"] for s in speakers], dtype=tf.float32)
    stds = tf.constant([max(v, STD_FLOOR) for s in speakers for v in stats[s]["std"]],
                       dtype=tf.float32)
    stds = tf.reshape(stds, [len(speakers), -1])

    def normalise(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        index = table.lookup(example["speaker"])
        tf.debugging.assert_non_negative(
            index, message="speaker without per-speaker feature statistics")
        example = dict(example)
        example["features"] = (example["features"] - means[index]) / stds[index]
        return example

    return normalise


def _check_files(description: DatasetDescription, paths: list[Location],
                 folder: Location) -> None:
    """Make sure the shards on disk are the ones the description lists (when it lists any)."""
    if not description.portions:
        return
    listed = {Path(name).name
              for name in description.portion(storage.name(folder)).get("files", [])}
    if not listed:
        return
    found = {storage.name(path) for path in paths}
    if listed != found:
        missing = sorted(listed - found)
        extra = sorted(found - listed)
        raise SchemaError(
            f"{folder}: shards do not match the dataset description "
            f"(missing: {missing[:3]}, not described: {extra[:3]}): "
            "run tools/make_tfrecords.py again"
        )


def _add_mask(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Whole-sequence mode: every frame (and every word) of the sequence is real."""
    example = dict(example)
    example["mask"] = tf.ones([example["num_frames"]], dtype=tf.bool)
    if "word_sequence" in example:
        example[WORD_MASK] = tf.ones([tf.shape(example["word_sequence"])[0]], dtype=tf.bool)
    return example


def _cropper(length: int, frame_keys: tuple[str, ...]):
    """Map function keeping a window of at most `length` frames at a seeded random start."""

    def crop(example: dict[str, tf.Tensor], seed: tf.Tensor) -> dict[str, tf.Tensor]:
        frames = example["num_frames"]
        start = tf.random.stateless_uniform([], seed=seed, minval=0,
                                            maxval=tf.maximum(frames - length, 0) + 1,
                                            dtype=tf.int32)
        end = tf.minimum(start + length, frames)
        example = dict(example)
        for key in frame_keys:
            example[key] = example[key][start:end]
        example["num_frames"] = end - start
        return example

    return crop


def _chunker(length: int, frame_keys: tuple[str, ...]):
    """Map function cutting one sequence into [C, length, ...] chunks, the last zero-padded."""

    def chunk(example: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        frames = example["num_frames"]
        count = (frames + length - 1) // length
        total = count * length
        out = {}
        for key in frame_keys:
            value = example[key]
            padding = [[0, total - frames]] + [[0, 0]] * (value.shape.rank - 1)
            value = tf.pad(value, padding)
            out[key] = tf.reshape(value, [-1, length, *value.shape[1:].as_list()])
        mask = tf.reshape(tf.range(total) < frames, [-1, length])
        out["mask"] = mask
        out["num_frames"] = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        out["chunk_index"] = tf.range(count, dtype=tf.int32)
        for key in ("id", "speaker", "label"):
            out[key] = tf.fill([count], example[key])
        return out

    return chunk


def portion_sources(output_dir: str | Path, description: DatasetDescription,
                    portion: str) -> list[Slice]:
    """The shards of a portion ("a+b" joins portions) in order, each as the files it reads
    and the ids it keeps (a view's portion, tfemo.records.partitions), or as its own file (a
    portion with a folder of its own, such as `generated`)."""
    sources: list[Slice] = []
    checked = False
    for part in portion.split("+"):
        slices = portion_slices(output_dir, description, part)
        if slices is None:
            found = shard_paths(output_dir, part)
            _check_files(description, found, storage.join(output_dir, part))
            slices = [Slice((path,), None) for path in found]
        elif not checked:
            check_examples(output_dir, description)
            checked = True
        sources.extend(slices)
    return sources


def portion_shard_count(output_dir: str | Path, portion: str) -> int:
    """How many shards a portion is read as (what a worker of several can be given)."""
    return len(portion_sources(output_dir, DatasetDescription.read(output_dir), portion))


def _example_id(record: tf.Tensor) -> tf.Tensor:
    """The id of a serialized example, parsing nothing else."""
    context, _ = tf.io.parse_single_sequence_example(
        record, context_features={"id": tf.io.FixedLenFeature([], tf.string)})
    return context["id"]


def _records(sources: list[Slice], compression: str, shuffle: bool, seed: int,
             num_parallel: int) -> tf.data.Dataset:
    """The serialized examples of `sources`, shard after shard (or interleaved, shuffled).

    Shard k of a view reads its slice of the examples' files and keeps the records whose id
    the static table maps to k: the records of a copy's shard k, in the same order, so the
    stream equals a copy's for the same seed. No Python runs per record.
    """
    count = len(sources)
    if all(source.ids is None for source in sources):
        shards = tf.data.Dataset.from_tensor_slices([str(s.files[0]) for s in sources])

        def read(path: tf.Tensor) -> tf.data.Dataset:
            return tf.data.TFRecordDataset(path, compression_type=compression)
    else:
        flat = [str(path) for source in sources for path in source.files]
        stops = np.cumsum([len(source.files) for source in sources])
        starts = tf.constant(stops - [len(source.files) for source in sources], tf.int64)
        stops = tf.constant(stops, tf.int64)
        flat = tf.constant(flat, tf.string) if flat else tf.zeros([0], tf.string)
        keep_all = tf.constant([source.ids is None for source in sources])
        keys = [i for source in sources for i in source.ids or ()]
        values = [k for k, source in enumerate(sources) for _ in source.ids or ()]
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string),
                                                tf.constant(values, tf.int64)),
            default_value=-1)
        shards = tf.data.Dataset.range(count)

        def read(k: tf.Tensor) -> tf.data.Dataset:
            files = flat[starts[k]:stops[k]]
            return tf.data.TFRecordDataset(files, compression_type=compression).filter(
                lambda record: tf.logical_or(keep_all[k],
                                             tf.equal(table.lookup(_example_id(record)), k)))

    if shuffle:
        shards = shards.shuffle(count, seed=seed, reshuffle_each_iteration=True)
        return shards.interleave(read, cycle_length=min(count, 8), block_length=1,
                                 num_parallel_calls=num_parallel, deterministic=True)
    return shards.flat_map(read)


def make_dataset(
    output_dir: str | Path,
    portion: str,
    *,
    sequence_length: int | None,
    batch_size: int,
    shuffle: bool,
    seed: int,
    repeat: bool = False,
    features: tuple[str, ...] = DEFAULT_FEATURES,
    drop_remainder: bool = False,
    num_parallel: int = AUTOTUNE,
    shuffle_buffer: int = 256,
    cache: bool | str = False,
    speaker_normalise: bool = False,
    balance_classes: tuple[int, ...] = (),
    crop_frames: int = 0,
) -> tf.data.Dataset:
    """Batches of one portion's records, as described in the module docstring.

    `output_dir` is a local folder or a tf.io.gfile URL (gs://...: the description and the
    shard list are read through tfemo.core.storage, the shards by TFRecordDataset).
    `portion` may join portions with "+" ("train+devel" reads both).
    `sequence_length=L` cuts every sequence into consecutive chunks of L frames (the last
    zero-padded; `mask` marks the real frames); `None` yields whole sequences padded to the
    longest of each batch. With `shuffle=False` the order is the shard order and the order
    within shards, and every frame of every example appears exactly once per pass (what
    evaluation needs). With `shuffle=True` shard order, interleaving and a buffer of
    `shuffle_buffer` chunks/sequences are shuffled, deterministically for a given `seed`, and
    reshuffled every epoch. `features` names the per-frame features wanted; those the records
    do not carry are left out. `cache=True` keeps parsed sequences in memory (a str: a cache
    file); the cache replays the first epoch's record order, so with it only the chunk buffer
    is reshuffled in later epochs. `repeat=True` repeats forever, epoch after epoch.
    `speaker_normalise=True` standardises `features` per speaker (see `speaker_normaliser`).
    `balance_classes=(c0, c1, ...)` (with shuffle and repeat) draws examples of those class
    indices equally often, each class's examples reshuffled as they repeat (balanced sampling
    for training); every class listed must have examples, or the stream would never end.
    `crop_frames=L` (whole-sequence mode) keeps a random window of L frames of every longer
    sequence, drawn anew each time the sequence comes round (augmentation for classifiers).
    """
    known = (*FRAME_FEATURES, *WORD_FEATURES, WORD_MASK)
    unknown = sorted(set(features) - set(known))
    if unknown:
        raise ValueError(f"unknown features {unknown}: choose from {known}")
    if WORD_MASK in features:
        features = (*features, *WORD_FEATURES)
    if sequence_length is not None and set(features) & set(WORD_FEATURES):
        raise ValueError("word_sequence is read in whole-sequence mode only (sequence_length "
                         "None): chunks of frames have no word sequence of their own")
    if sequence_length is not None and sequence_length <= 0:
        raise ValueError(f"sequence_length must be positive or None, got {sequence_length}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")

    description = DatasetDescription.read(output_dir)
    spec = description.record_spec()
    sources = portion_sources(output_dir, description, portion)
    wanted = tuple(key for key in spec.features if key in features)  # per-frame keys
    parsed = wanted + tuple(key for key in spec.word_features if key in features)
    compression = description.compression
    records = _records(sources, compression, shuffle, seed, num_parallel)

    dataset = records.map(
        lambda record: parse(record, spec, features=parsed),
        num_parallel_calls=num_parallel,
        deterministic=True,
    )
    if speaker_normalise and "features" in wanted:
        dataset = dataset.map(speaker_normaliser(description), num_parallel_calls=num_parallel,
                              deterministic=True)
    if cache:
        dataset = dataset.cache("" if cache is True else str(cache))

    if balance_classes:
        if not (shuffle and repeat):
            raise ValueError("balance_classes needs shuffle=True and repeat=True")
        per_class = [
            dataset.filter(lambda example, c=c: tf.equal(example["label"], c))
            .shuffle(shuffle_buffer, seed=seed + c, reshuffle_each_iteration=True).repeat()
            for c in balance_classes]
        share = 1.0 / len(balance_classes)
        dataset = tf.data.Dataset.sample_from_datasets(
            per_class, weights=[share] * len(balance_classes), seed=seed)
        repeat = False  # already endless

    if sequence_length is not None:
        chunk = _chunker(sequence_length, wanted)
        dataset = dataset.map(chunk, num_parallel_calls=num_parallel, deterministic=True)
        dataset = dataset.unbatch()

    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if sequence_length is None:
        if crop_frames:
            # after repeat, so every epoch draws new windows; seeds come from the data seed
            seeds = tf.data.Dataset.random(seed=seed).batch(2)
            dataset = tf.data.Dataset.zip((dataset, seeds)).map(
                _cropper(crop_frames, wanted), num_parallel_calls=num_parallel,
                deterministic=True)
        dataset = dataset.map(_add_mask, num_parallel_calls=num_parallel, deterministic=True)
        dataset = dataset.padded_batch(batch_size, drop_remainder=drop_remainder)
    else:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.prefetch(AUTOTUNE)


def portion_frame_count(output_dir: str | Path, portion: str) -> int:
    """Number of real frames in a portion, from the dataset description."""
    description = DatasetDescription.read(output_dir)
    counts = description.portion(portion)
    if "frames" not in counts:
        raise SchemaError(f"{output_dir}: description gives no frame count for {portion!r}")
    return int(counts["frames"])


__all__ = ["AUTOTUNE", "DEFAULT_FEATURES", "make_dataset", "portion_frame_count",
           "portion_shard_count", "portion_sources"]
