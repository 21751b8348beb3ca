"""Per-frame predictions against the gold standard, for the report's trace plots.

tfemo.eval keeps per-file scores; a continuous experiment also wants to see the traces. This
restores each model's (each fold's) checkpoint as tfemo.eval does, predicts every frame of every
file of the scored portion and writes `<run>/traces/<model>/<file id>.csv` with `time`,
`<dimension>_gold` and `<dimension>_predicted` per 40 ms frame. Run by `tfemo.experiment
--traces RUN_DIR` (the runner's traces step), in its own process like every step.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from tfemo.core.reports import write_csv
from tfemo.experiments.layout import RunFolder


def _train_dirs(train_dir: Path, records: Path) -> list[tuple[Path, Path]]:
    """(train dir, records) of each fold, or the one pair without folds."""
    folds = sorted(p for p in train_dir.glob("fold-*") if (p / "model.json").is_file())
    return [(fold, records / fold.name) for fold in folds] or [(train_dir, records)]


def trace_table(file, names: list[str], frame_seconds: float) -> pd.DataFrame:
    """One file's frames: time (the frame centre), then gold and predicted per dimension."""
    table = pd.DataFrame({"time": (np.arange(file.frames) + 0.5) * frame_seconds})
    for d, name in enumerate(names):
        table[f"{name}_gold"] = file.labels[:, d]
        table[f"{name}_predicted"] = file.predictions[:, d]
    return table


def write_model_traces(train_dir: Path, records: Path, portion: str, output: Path) -> int:
    """Write the traces of every file of `portion` for one model; return how many."""
    from tfemo.evaluation.portion import predict_portion
    from tfemo.records.description import DatasetDescription
    from tfemo.training.restore import restore_train_dir

    written = 0
    for folder, fold_records in _train_dirs(train_dir, records):
        restored = restore_train_dir(folder, "latest")
        description = DatasetDescription.read(fold_records)
        names = list(description.label_names)
        files = predict_portion(restored.model, fold_records, portion,
                                speaker_normalise=restored.speaker_normalise)
        for file in files:
            write_csv(trace_table(file, names, description.frame_seconds),
                      output / f"{file.id}.csv")
            written += 1
    return written


def write_traces(run: RunFolder) -> dict[str, int]:
    """The traces of every model of the run (its experiment.toml); files written per model."""
    experiment = tomllib.loads(run.experiment_file.read_text())
    portion = experiment.get("eval", {}).get("portion", "test")
    return {name: write_model_traces(run.train_dir(name), run.records, portion,
                                     run.traces(name))
            for name in experiment.get("models", {})}
