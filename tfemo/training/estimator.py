"""The scikit-learn side of training and restoring: fit an estimator once, save it once.

`fit_estimator` is `train_one` for `--model svm|logreg`: the same model.json check, run.toml,
description copy and log as a Keras run, then one pass over the training portions to collect
utterance statistics, one fit (scaler on those portions only), and one file `model.joblib`:
an estimator is fitted, not stepped, so it carries no step (--max_steps does not apply;
tfemo.training.restore loads it back as `latest`, and still reads the
`model.ckpt-<step>.joblib` of older train dirs); with
`--calibration_folds N` also the temperature from N inner speaker folds
(tfemo/training/inner_calibration.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.core.errors import UserError
from tfemo.core.options import option_values
from tfemo.training.config import TrainConfig, write_run_config
from tfemo.training.inner_calibration import calibrate_on_train_speakers
from tfemo.training.result import TrainResult
from tfemo.training.run_dir import (
    DESCRIPTION_COPY,
    ESTIMATOR_FILE,
    FITTED,
    TRAIN_LOG,
    check_model_file,
    checkpoint_prefix,
)


def portion_vectors(estimator: Any, tfrecords: Path, portions: str,
                    speaker_normalise: bool, batch_size: int = 64
                    ) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """Utterance vectors, class indices, ids and speakers of every record of `portions`."""
    from tfemo.records.reader import make_dataset

    data = make_dataset(tfrecords, portions, sequence_length=None, batch_size=batch_size,
                        shuffle=False, seed=0, features=("features",),
                        speaker_normalise=speaker_normalise)
    vectors, labels, ids, speakers = [], [], [], []
    for batch in data:
        vectors.append(estimator.statistics_of({"features": batch["features"].numpy(),
                                                "mask": batch["mask"].numpy()}))
        labels.append(batch["label"].numpy())
        ids += [v.decode() for v in batch["id"].numpy()]
        speakers += [v.decode() for v in batch["speaker"].numpy()]
    return np.concatenate(vectors), np.concatenate(labels).astype(int), ids, speakers


def fit_estimator(train: TrainConfig, model_name: str, model_config: Any, tfrecords: Path,
                  train_dir: Path) -> TrainResult:
    """Fit (once) estimator `model_name` on the training portions of `tfrecords`, save it in
    `train_dir`; nothing to do when it is already saved (or an older train dir's step is)."""
    from tfemo.models.registry import build_model
    from tfemo.records.description import DatasetDescription
    from tfemo.training.checkpoints import available_steps

    description = DatasetDescription.read(tfrecords)
    if not description.features:
        raise UserError(f"{tfrecords}: --model {model_name} needs per-frame features",
                        "make the records with tools/make_tfrecords.py --features ...")
    try:
        estimator = build_model(model_name, description, model_config)
    except ValueError as error:
        raise UserError(f"{tfrecords}: {error}") from error
    estimator.set_seed(train.seed)
    train_dir.mkdir(parents=True, exist_ok=True)
    speaker_normalise = train.normalise == "speaker"
    data = {"records": description.name, "portions": description.portions,
            "seed": train.seed, "speaker_normalise": speaker_normalise,
            "train_portions": train.train_portions}
    check_model_file(train_dir, model_name, estimator.get_config(), data)
    write_run_config(train_dir, model_name, replace(train, tfrecords=tfrecords,
                                                    train_dir=train_dir), model_config)
    description.write(train_dir / DESCRIPTION_COPY)
    path = train_dir / ESTIMATOR_FILE
    if path.is_file():
        return TrainResult(train_dir, model_name, 0, 0, str(path), trained=False,
                           estimator=True)
    done = max(available_steps(train_dir), default=0)
    if done >= train.max_steps:  # an older train dir: model.ckpt-<step>.joblib
        return TrainResult(train_dir, model_name, done, done,
                           f"{checkpoint_prefix(train_dir, done)}.joblib", trained=False,
                           estimator=True)
    started = time.perf_counter()
    vectors, labels, _, speakers = portion_vectors(estimator, tfrecords, train.train_portions,
                                                   speaker_normalise)
    estimator.fit(vectors, labels, speakers)
    estimator.save(path)
    calibrate_on_train_speakers(
        train_dir, FITTED, lambda: build_model(model_name, description, model_config),
        vectors, labels, speakers, getattr(model_config, "calibration_folds", 0), train.seed)
    flags = {"model": model_name, **option_values(train), **option_values(model_config)}
    with open(train_dir / TRAIN_LOG, "a") as log:
        log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} fitted {model_name} on "
                  f"{tfrecords} {train.train_portions} ({len(labels)} utterances, "
                  f"{vectors.shape[1]} statistics) in {time.perf_counter() - started:.1f} s; "
                  f"saved {path.name}\nflags: {json.dumps(flags, default=str, sort_keys=True)}\n")
    return TrainResult(train_dir, model_name, 0, 0, str(path), trained=True, estimator=True,
                       examples=len(labels))
