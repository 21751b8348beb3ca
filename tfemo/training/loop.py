"""Train one model on one records folder: the stream, loss, metrics, checkpoints and logs.

`train_one` is the whole of training for `python -m tfemo.train`: it builds the model from the
records' description and the typed configs (TrainConfig and the model's own), refuses to resume
a train dir made with other settings, writes run.toml, restores the latest checkpoint, skips
the steps already taken in the seeded stream (so a resumed run continues exactly where it
stopped) and fits with the periodic checkpoint and summary callbacks. It returns what it did
(a TrainResult) and raises errors (tfemo.core.errors); it writes log_train.txt, and the
command prints.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tfemo.core import storage
from tfemo.core.errors import UserError
from tfemo.core.options import option_values
from tfemo.core.tasks import Task
from tfemo.training.config import TrainConfig, write_run_config
from tfemo.training.result import TrainResult
from tfemo.training.run_dir import DESCRIPTION_COPY, SUMMARIES_DIR, TRAIN_LOG, check_model_file

if TYPE_CHECKING:
    from tfemo.records.description import DatasetDescription

def model_description(description: DatasetDescription, train: TrainConfig) -> DatasetDescription:
    """The description the model is built from. With --normalise speaker the reader
    standardises each speaker's features, so the model's own statistics are the identity."""
    if train.normalise != "speaker" or not description.feature_dim:
        return description
    identity = {"mean": [0.0] * description.feature_dim, "std": [1.0] * description.feature_dim}
    return replace(description, normalisation={**description.normalisation, "features": identity})


def fold_record_dirs(tfrecords: str | Path) -> list[storage.Location]:
    """The fold-NN record folders under `tfrecords` (local or a URL) when it holds folds."""
    if storage.exists(storage.join(tfrecords, "description.json")):
        return []
    return [p for p in storage.glob(tfrecords, "fold-*")
            if storage.exists(storage.join(p, "description.json"))]


def _distribution(strategy: Any, train: TrainConfig, tfrecords: Path) -> tuple[int, int]:
    """(workers, train shards: 0 for one worker) of a run; the global batch must split evenly
    among the replicas."""
    from tfemo.records.reader import portion_shard_count
    from tfemo.training.strategies import worker_count

    replicas = strategy.num_replicas_in_sync
    if train.batch_size % replicas:
        raise UserError(f"--batch_size {train.batch_size}: the global batch must split evenly "
                        f"among the {replicas} replicas of --strategy {train.strategy}",
                        f"give a multiple of {replicas}")
    workers = worker_count(strategy)
    if workers == 1:
        return 1, 0
    return workers, portion_shard_count(tfrecords, train.train_portions)


def check_speaker_normalisation(train: TrainConfig, tfrecords: storage.Location) -> None:
    """Refuse --normalise speaker with generated samples: they belong to no speaker (the
    generator decodes them in the train portion's global feature scale), so per-speaker
    statistics of them are not defined."""
    from tfemo.records.generated import GENERATED

    if train.normalise == "speaker" and GENERATED in train.train_portions.split("+"):
        raise UserError(f"{tfrecords}: --normalise speaker with --train_portions "
                        f"{train.train_portions}: generated samples have no speaker and so no "
                        "per-speaker feature statistics",
                        "use --normalise train with generated samples, or leave them out")


def _silent(message: str) -> None:
    """The default `notify`: say nothing."""


def train_one(train: TrainConfig, model_name: str, model_config: Any,
              tfrecords: Path | None = None, train_dir: Path | None = None,
              verbose: int = 1, notify: Callable[[str], None] = _silent,
              command: str = "") -> TrainResult:
    """Train (or resume) model `model_name` with `model_config` on the records in `tfrecords`
    (default: train.tfrecords), into `train_dir` (default: train.train_dir).

    `notify` hears what a run does before its long fit (e.g. the checkpoint it resumes from);
    `command` is the command line logged in log_train.txt."""
    from tfemo.models.registry import model_spec

    tfrecords = storage.location(tfrecords or train.tfrecords)
    train_dir = Path(train_dir or train.train_dir)
    check_speaker_normalisation(train, tfrecords)
    if model_spec(model_name).is_estimator:  # fitted once by scikit-learn, no Keras loop
        from tfemo.training.estimator import fit_estimator

        return fit_estimator(train, model_name, model_config, tfrecords, train_dir)
    return _train_keras(train, model_name, model_config, tfrecords, train_dir, verbose, notify,
                        command)


def _train_keras(train: TrainConfig, model_name: str, model_config: Any, tfrecords: Path,
                 train_dir: Path, verbose: int, notify: Callable[[str], None],
                 command: str) -> TrainResult:
    """train_one for a Keras model: fit step by step with checkpoints (see the module doc)."""
    import keras

    from tfemo.models.registry import build_model, model_spec
    from tfemo.records.description import DatasetDescription
    from tfemo.training.augment import check as check_augment
    from tfemo.training.augment import settings as augment_settings
    from tfemo.training.callbacks import (
        PeriodicCheckpoint,
        PeriodicSummaries,
        StopAtStep,
        global_step,
    )
    from tfemo.training.checkpoints import make_manager, training_checkpoint
    from tfemo.training.strategies import is_chief, make_strategy, shard_stream, weights_digest

    strategy = make_strategy(train.strategy)  # before any other TensorFlow op
    chief, workers, files = is_chief(strategy), *_distribution(strategy, train, tfrecords)
    keras.utils.set_random_seed(train.seed)
    description = DatasetDescription.read(tfrecords)
    if train.normalise == "speaker" and not description.features:
        raise UserError(f"{tfrecords}: --normalise speaker needs per-frame features",
                        "make the records with tools/make_tfrecords.py --features ...")
    try:
        with strategy.scope():
            model = build_model(model_name, model_description(description, train), model_config)
    except ValueError as error:
        raise UserError(f"{tfrecords}: {error}") from error
    categorical = description.task == Task.CATEGORICAL
    try:
        check_augment(train, tuple(getattr(model, "input_keys", ("audio", "words"))))
    except ValueError as error:
        raise UserError(f"{tfrecords}: {error}", "see python -m tfemo.train --help") from error
    train_dir.mkdir(parents=True, exist_ok=True)
    data_stream = {"records": description.name, "portions": description.portions,
                   "seed": train.seed, "batch_size": train.batch_size,
                   "sequence_length": None if categorical else train.sequence_length,
                   "speaker_normalise": train.normalise == "speaker",
                   "balance": train.balance if categorical else "none",
                   "crop_frames": train.crop_frames if categorical else 0,
                   "train_portions": train.train_portions,
                   **({"file_sharded_workers": workers} if files >= workers > 1 else {}),
                   **({"augment": augment_settings(train)} if augment_settings(train) else {})}
    check_model_file(train_dir, model_name, model.get_config(), data_stream, write=chief)
    if chief:
        write_run_config(train_dir, model_name, replace(train, tfrecords=tfrecords,
                                                        train_dir=train_dir), model_config)
        description.write(train_dir / DESCRIPTION_COPY)

    own_loss = model_spec(model_name).own_loss  # e.g. a VAE: compute_loss, no labels
    with strategy.scope():
        if train.weight_decay > 0:
            optimizer = keras.optimizers.AdamW(train.learning_rate,
                                               weight_decay=train.weight_decay)
        else:
            optimizer = keras.optimizers.Adam(train.learning_rate)
        optimizer.build(model.trainable_variables)
        model.compile(optimizer=optimizer,
                      **({} if own_loss else _loss_and_metrics(description)))
    checkpoint = training_checkpoint(model, optimizer)
    manager = make_manager(checkpoint, train_dir, train.max_to_keep)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start_step = global_step(model)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    flags = {"model": model_name, **option_values(train), **option_values(model_config)}
    if chief:
        _log_start(flags, command, tfrecords, train_dir, description, start_step, started)
    if start_step:
        notify(f"resuming from {manager.latest_checkpoint} (step {start_step})")
    if start_step >= train.max_steps:
        return TrainResult(train_dir, model_name, start_step, start_step,
                           manager.latest_checkpoint, trained=False, workers=workers,
                           chief=chief)

    data, steps_per_epoch = training_stream(train, tfrecords, description, model)
    # The stream is a fixed function of the seed: skipping the steps already taken puts a
    # resumed run at the same data position as an uninterrupted one.
    # (With file sharding each worker's stream is its own: one of its batches lasts `workers`
    # steps, each taking batch_size / workers of it.)
    data = shard_stream(data.skip(start_step // workers if files >= workers > 1
                                  else start_step), files, workers)
    remaining = train.max_steps - start_step
    callbacks = [StopAtStep(train.max_steps)]
    if chief:  # the checkpoint holds mirrored variables only: saving needs no collective op
        callbacks += [PeriodicCheckpoint(manager, train.save_interval_secs),
                      PeriodicSummaries(str(train_dir / SUMMARIES_DIR), train.save_summaries_secs)]
    model.fit(data, steps_per_epoch=min(steps_per_epoch, remaining),
              epochs=math.ceil(remaining / min(steps_per_epoch, remaining)),
              callbacks=callbacks, shuffle=False, verbose=verbose)
    final_step = global_step(model)
    if chief:
        _log_end(train_dir, final_step, manager.latest_checkpoint)
    return TrainResult(train_dir, model_name, start_step, final_step, manager.latest_checkpoint,
                       trained=True, workers=workers, chief=chief,
                       weights_digest=weights_digest(model) if workers > 1 else "")


def _loss_and_metrics(description) -> dict:
    """Masked 1 - CCC and per-dimension CCC (continuous), or cross-entropy and accuracy."""
    import keras

    from tfemo.scoring.losses import MaskedCCCLoss
    from tfemo.scoring.metrics import StreamingCCC

    if description.task == "categorical":
        return {"loss": keras.losses.SparseCategoricalCrossentropy(),
                "weighted_metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
    # weighted_metrics, not metrics: Keras 3 passes the sample weight (here the frame mask) only
    # to weighted metrics, so plain metrics would count padded frames in the logged CCC
    return {"loss": MaskedCCCLoss(),
            "weighted_metrics": [StreamingCCC(d, name=f"ccc_{n}")
                                 for d, n in enumerate(description.label_names)]}


def class_weights(description, portions: str = "train") -> list[float]:
    """Inverse-frequency weights n / (C * n_c) of the training classes (0 if absent)."""
    counts: dict[str, int] = {}
    for portion in portions.split("+"):
        for name, count in description.portion(portion).get("classes", {}).items():
            counts[name] = counts.get(name, 0) + count
    total, present = sum(counts.values()), sum(1 for n in counts.values() if n)
    return [total / (present * counts[c]) if counts.get(c) else 0.0
            for c in description.label_names]


def training_stream(train: TrainConfig, tfrecords: Path, description: DatasetDescription,
                    model: Any):
    """The endless, seeded (inputs, targets, sample weights) stream and the steps per epoch."""
    import tensorflow as tf

    from tfemo.records.reader import make_dataset
    from tfemo.training.augment import augment

    keys = tuple(getattr(model, "input_keys", ("audio", "words")))
    speaker_normalise = train.normalise == "speaker"
    portions = [description.portion(p) for p in train.train_portions.split("+")]
    totals = {key: sum(p[key] for p in portions) for key in ("examples", "frames")}
    if description.task != Task.CATEGORICAL:
        data = make_dataset(tfrecords, train.train_portions,
                            sequence_length=train.sequence_length, batch_size=train.batch_size,
                            shuffle=True, seed=train.seed, repeat=True, drop_remainder=True,
                            features=keys + ("labels",), cache=train.cache,
                            speaker_normalise=speaker_normalise)
        steps = round(totals["frames"] / (train.sequence_length * train.batch_size))
        data = augment(data, train, description, keys)  # train stream only; off by default
        return data.map(lambda b: (b, b["labels"], b["mask"])), max(1, steps)

    weights = class_weights(description, train.train_portions)
    balance = tuple(c for c, w in enumerate(weights) if w) if train.balance == "sampling" else ()
    data = make_dataset(tfrecords, train.train_portions, sequence_length=None,
                        batch_size=train.batch_size,
                        shuffle=True, seed=train.seed, repeat=True, drop_remainder=True,
                        features=keys, cache=train.cache, speaker_normalise=speaker_normalise,
                        balance_classes=balance, crop_frames=train.crop_frames)
    data = augment(data, train, description, keys)  # train stream only; off by default
    if train.balance == "weights":
        table = tf.constant(weights, dtype=tf.float32)
        data = data.map(lambda b: (b, b["label"], tf.gather(table, b["label"])))
    else:
        data = data.map(lambda b: (b, b["label"]))
    return data, max(1, math.ceil(totals["examples"] / train.batch_size))


def _log_start(flags: dict[str, Any], command: str, tfrecords: Path, train_dir: Path,
               description: DatasetDescription, start_step: int, started: str) -> None:
    """Append this run's block to log_train.txt: hyperparameters and the data it trains on."""
    flags = {k: str(v) for k, v in sorted(flags.items())}
    portions = {p: {k: v for k, v in e.items() if k in ("examples", "frames", "seconds")}
                for p, e in description.portions.items()}
    lines = [
        f"=== run started {started} at step {start_step}",
        *([f"command: {command}"] if command else []),
        "flags: " + json.dumps(flags, sort_keys=True),
        f"data: {tfrecords} name={description.name} corpus={description.corpus} "
        f"task={description.task} labels={list(description.label_names)} "
        f"word_vectors={description.word_vectors} ({description.word_dim}-d) "
        f"features={description.features}",
        "portions: " + json.dumps(portions, sort_keys=True),
        "normalisation: " + json.dumps(description.normalisation, sort_keys=True),
    ]
    with open(train_dir / TRAIN_LOG, "a") as log:
        log.write("\n".join(lines) + "\n")


def _log_end(train_dir: Path, step: int, checkpoint: str | None) -> None:
    with open(train_dir / TRAIN_LOG, "a") as log:
        log.write(f"=== run ended {time.strftime('%Y-%m-%d %H:%M:%S')} at step {step}; "
                  f"checkpoint {checkpoint}\n")
