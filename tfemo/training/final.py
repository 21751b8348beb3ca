"""A final model for new audio: the records' every item as one training portion.

After a protocol has scored a recipe, `tfemo.train --final` trains it on every speaker. The
records are written once; the final model reads a view of them (tfemo.records.partitions) in
its train dir, `records-all/description.json`, whose one portion, train, holds every item of
every portion and whose statistics are fit on all of them. No speaker is left out for a devel
portion, so the temperature comes from inner speaker folds: an estimator's as it is fit
(`--calibration_folds`), a Keras classifier's from models of the same settings trained on
views without one group of speakers each (tfemo/evaluation/inner_folds.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tfemo.core import storage
from tfemo.core.errors import UserError
from tfemo.corpora.partition import Fold
from tfemo.records.description import DatasetDescription
from tfemo.records.partitions import read_all_entries, records_root, write_partition
from tfemo.records.plan import RECORDS_FILE, read_records_file
from tfemo.training.run_dir import FINAL_RECORDS

DEFAULT_CALIBRATION_FOLDS = 3


def records_folder(tfrecords: storage.Location) -> storage.Location:
    """The records folder (examples written once) of `tfrecords`: itself, or the folder a
    fold's view reads."""
    if storage.exists(storage.join(tfrecords, RECORDS_FILE)):
        return tfrecords
    return records_root(tfrecords, DatasetDescription.read(tfrecords))


def all_speakers_view(tfrecords: storage.Location, train_dir: Path) -> Path:
    """Write the view of every item of the records in `tfrecords` (a records folder, or one
    fold of it) as the train portion, in `train_dir`/records-all; return that folder."""
    if storage.is_url(str(tfrecords)):
        raise UserError(f"--final with records at {tfrecords}: the view of every speaker is "
                        "kept in the train dir, which reads local records only",
                        "copy the records to this machine")
    root = records_folder(tfrecords)
    base = read_records_file(root)
    entries = read_all_entries(root, base)
    items = tuple(dataclasses.replace(item, portion="train")
                  for item in entries.items(base.corpus))
    view = Path(train_dir) / FINAL_RECORDS
    write_partition(root, [Fold("", items)], view, base=base, entries=entries)
    return view


__all__ = ["DEFAULT_CALIBRATION_FOLDS", "all_speakers_view", "records_folder"]
