"""The calibration temperature of a final Keras model, from inner speaker folds of its records.

An estimator takes its temperature from inner speaker folds as it is fit
(tfemo/training/inner_calibration.py); a Keras classifier cannot be refit in memory, so here
each inner fold is a model of the same settings trained on a view of the records without one
group of speakers (`<train dir>/inner/fold-NN/`, records written once, views only) that then
predicts that group. The temperature is fit on these out-of-fold predictions, so every speaker
is scored by a model that never heard them, and the final model keeps training on all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.corpora.partition import Fold
from tfemo.evaluation.portion import predict_portion
from tfemo.records.partitions import read_all_entries, write_partition
from tfemo.records.plan import read_records_file
from tfemo.scoring.calibration import fit_temperature
from tfemo.training.config import TrainConfig
from tfemo.training.final import records_folder
from tfemo.training.inner_calibration import INNER_PORTION, InnerTemperature, speaker_groups
from tfemo.training.loop import train_one
from tfemo.training.restore import restore_train_dir
from tfemo.training.temperature import save_temperature

INNER_DIR = "inner"


def calibrate_from_inner_models(train: TrainConfig, model_name: str, model_config: Any,
                                records: Path, train_dir: Path, step: int, folds: int,
                                notify: Callable[[str], None] = print) -> InnerTemperature:
    """Train one model per inner speaker group of the items of `records` (a view of every
    item as train), predict the group, fit the temperature on all out-of-fold predictions and
    save it for `step` in `train_dir`. ValueError with fewer than two speakers or folds."""
    root = records_folder(records)
    base = read_records_file(root)
    entries = read_all_entries(root, base)
    items = entries.items(base.corpus)
    written = [i for i in items if i.id in entries.written]
    speakers = sorted({i.speaker for i in written})
    if len(speakers) < 2 or folds < 2:
        raise ValueError(f"inner-fold calibration needs 2 or more folds and training speakers "
                         f"(got {folds} folds, {len(speakers)} speakers)")
    groups = speaker_groups([i.speaker for i in written], folds, train.seed)
    probabilities, labels = [], []
    for k, group in enumerate(groups):
        held = set(group.tolist())
        inner_dir = Path(train_dir) / INNER_DIR / f"fold-{k + 1:02d}"
        fold = Fold("", tuple(dataclasses.replace(i, portion="test" if i.speaker in held
                                                  else "train") for i in items))
        ((_, view, _),) = write_partition(root, [fold], inner_dir / "records", base=base,
                                          entries=entries)
        notify(f"inner fold {k + 1}/{len(groups)}: {len(held)} speaker(s) held out")
        train_one(dataclasses.replace(train, tfrecords=Path(view), train_dir=inner_dir,
                                      train_portions="train"),
                  model_name, model_config, Path(view), inner_dir, verbose=0)
        restored = restore_train_dir(inner_dir, "latest")
        files = predict_portion(restored.model, view, "test",
                                speaker_normalise=restored.speaker_normalise)
        probabilities += [f.predictions for f in files]
        labels += [int(f.labels) for f in files]
    temperature = fit_temperature(np.stack(probabilities), np.array(labels))
    save_temperature(train_dir, step, temperature, INNER_PORTION, len(labels))
    return InnerTemperature(temperature, len(labels), len(speakers), len(groups))


__all__ = ["INNER_DIR", "calibrate_from_inner_models"]
