"""Padded frames never enter the training loss or the logged CCC (docs/design.md, defect 2).

The reader pads the last chunk of every sequence with zeros and marks the real frames in
`mask`; the train stream must hand that mask to Keras as the sample weight, and the compiled
loss and metrics must use it. Keras 3 passes the sample weight only to `weighted_metrics`, so a
metric compiled under `metrics` would log a CCC over padded frames too. These tests go through
the code tfemo.train runs: `_loss_and_metrics` with `model.fit`, and `tfemo.train.main` itself.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.records_factory import write_synthetic_records
from tfemo import train
from tfemo.records.schema import read_examples, serialize
from tfemo.records.writer import shard_paths, write_shard
from tfemo.scoring.metrics import ccc
from tfemo.training.loop import _loss_and_metrics

LABELS = ("arousal", "valence")


class _Passthrough(keras.Model):
    """Outputs its `prediction` input times a trainable scale (1): predictions we choose."""

    def __init__(self) -> None:
        super().__init__(name="passthrough")
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, inputs):
        return inputs["prediction"] * self.scale


def _padded_batch(seed: int = 0):
    """Predictions close to the labels on real frames, far from the zero labels on padding."""
    rng = np.random.default_rng(seed)
    lengths, frames = [60, 35, 20, 12], 60
    labels = np.zeros((len(lengths), frames, len(LABELS)), np.float32)
    predictions = np.full_like(labels, 2.5)  # a model that does not zero its padded outputs
    mask = np.zeros((len(lengths), frames), bool)
    for row, length in enumerate(lengths):
        walk = np.cumsum(rng.normal(scale=0.1, size=(length, len(LABELS))), axis=0)
        labels[row, :length] = walk
        predictions[row, :length] = walk + rng.normal(scale=0.05, size=walk.shape)
        mask[row, :length] = True
    return predictions, labels, mask


def test_logged_ccc_of_fit_is_the_masked_ccc_of_a_padded_batch():
    keras.utils.set_random_seed(0)
    predictions, labels, mask = _padded_batch()
    masked, unmasked = ccc(predictions, labels, mask), ccc(predictions, labels)
    assert masked.min() > 0.9 and unmasked.max() < 0.3  # the padding matters a lot here

    model = _Passthrough()
    description = SimpleNamespace(task="continuous", label_names=list(LABELS))
    model.compile(optimizer=keras.optimizers.SGD(0.0), **_loss_and_metrics(description))
    data = tf.data.Dataset.from_tensors(({"prediction": predictions}, labels, mask))
    logs = model.fit(data, epochs=1, shuffle=False, verbose=0).history
    for d, name in enumerate(LABELS):
        assert logs[f"ccc_{name}"][0] == pytest.approx(masked[d], abs=1e-5)
    assert logs["loss"][0] == pytest.approx(1.0 - masked.mean(), abs=1e-5)


# ---------------------------------------------------------------- the real train stream

# every train sequence is shorter than one chunk: each chunk is mostly zero padding, and one
# batch of all eight chunks is exactly one pass over the train portion (in shuffled order)
TRAIN_LENGTHS = {"train": [14, 9, 17, 11, 8, 15, 12, 10], "devel": [30]}
CHUNK = 40
FLAGS = ["--model", "gru_regressor", "--hidden", "8", "--gru_layers", "1", "--dropout", "0",
         "--batch_size", "8", "--sequence_length", str(CHUNK), "--learning_rate", "3e-2",
         "--save_interval_secs", "1000", "--save_summaries_secs", "1000", "--verbose", "0",
         "--device", "-1"]


LABEL_OFFSET = np.array([2.0, -1.5], np.float32)


@pytest.fixture(scope="module")
def short_records(tmp_path_factory) -> Path:
    """Synthetic records whose labels sit far from the zeros that pad them."""
    folder = tmp_path_factory.mktemp("short-records")
    description = write_synthetic_records(folder, TRAIN_LENGTHS, seed=3)
    for portion in description.portions:
        for path in shard_paths(folder, portion):
            examples = [dataclasses.replace(e, labels=e.labels + LABEL_OFFSET)
                        for e in read_examples([path])]
            write_shard([serialize(e) for e in examples], path)
    stats = description.normalisation["labels"]
    stats["mean"] = (np.array(stats["mean"]) + LABEL_OFFSET).tolist()
    description.write(folder)
    return folder


def _first_training_batch(records: Path) -> tuple:
    """The first element of tfemo.training.loop.training_stream for FLAGS (the real stream).

    The only direct call of training_stream in this file: its arguments follow train_one's.
    """
    from tfemo.models.registry import build_model
    from tfemo.records.description import DatasetDescription
    from tfemo.training.loop import model_description, training_stream

    settings = train.parse_args(["--tfrecords", str(records), *FLAGS])
    description = DatasetDescription.read(records)
    model = build_model(settings.model, model_description(description, settings.train),
                        settings.model_config)
    data, _ = training_stream(settings.train, records, description, model)
    return next(iter(data))


def test_the_train_stream_gives_the_reader_mask_as_sample_weight(short_records):
    element = _first_training_batch(short_records)
    assert len(element) == 3, "the train stream must yield (inputs, labels, mask)"
    inputs, labels, weights = element
    mask = inputs["mask"].numpy()
    np.testing.assert_array_equal(weights.numpy(), mask)
    np.testing.assert_array_equal(labels.numpy(), inputs["labels"].numpy())
    assert sorted(mask.sum(axis=1).tolist()) == sorted(TRAIN_LENGTHS["train"])
    assert not mask.all()


def _scalars(summaries: Path, step: int) -> dict[str, float]:
    """The TensorBoard scalars PeriodicSummaries wrote at `step`."""
    values = {}
    for path in sorted(summaries.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            if event.step == step:
                for value in event.summary.value:
                    values[value.tag] = float(tf.make_ndarray(value.tensor))
    return values


def test_train_logs_the_masked_loss_and_ccc_of_its_padded_batches(short_records, tmp_path):
    """Resume a trained model for one step: the logged loss and CCC are the masked ones.

    The one step's batch holds every train chunk, so the logged values can be recomputed
    from the checkpoint before it (the weights the step's forward pass used) and the reader.
    """
    from tfemo.models.registry import model_from_config
    from tfemo.records.reader import make_dataset
    from tfemo.training.checkpoints import restore_model

    common = ["--tfrecords", str(short_records), "--train_dir", str(tmp_path), *FLAGS]
    assert train.main([*common, "--max_steps", "10"]) == 0
    assert train.main([*common, "--max_steps", "11"]) == 0
    logged = _scalars(tmp_path / "train", 11)

    spec = json.loads((tmp_path / "model.json").read_text())
    model = model_from_config(spec["model"], spec["config"])
    restore_model(model, str(tmp_path / "model.ckpt-10"))
    batch = next(iter(make_dataset(short_records, "train", sequence_length=CHUNK,
                                   batch_size=100, shuffle=False, seed=0,
                                   features=("features", "labels"))))
    predictions = model(batch, training=False).numpy()
    labels, mask = batch["labels"].numpy(), batch["mask"].numpy()
    masked, unmasked = ccc(predictions, labels, mask), ccc(predictions, labels)
    # the padding changes both dimensions (arousal by about 0.3)
    assert np.abs(masked - unmasked).min() > 0.02 and np.abs(masked - unmasked).max() > 0.2
    assert logged["loss"] == pytest.approx(1.0 - masked.mean(), abs=1e-4)
    for d, name in enumerate(LABELS):
        assert logged[f"ccc_{name}"] == pytest.approx(masked[d], abs=1e-4)
