"""Score a model on every frame of every file of a portion, in order, nothing dropped.

Whole sequences are read unshuffled and padded per batch; predictions are cut back to each
file's real frames with the mask, so no padded frame is scored and no frame is scored twice
(docs/design.md, defects 2 and 3). A classifier gives one probability vector per file.
The model is a Keras model or a fitted estimator (models.registry.forward_function).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tfemo.core.tasks import Task
from tfemo.models.registry import forward_function
from tfemo.records.description import DatasetDescription
from tfemo.records.reader import make_dataset
from tfemo.scoring.metrics import ccc, classification_scores


@dataclass
class FilePrediction:
    """One file's predictions and labels: [N, D] each over its real frames (continuous), or
    class probabilities [C] and the class index (categorical)."""

    id: str
    speaker: str
    frames: int
    predictions: np.ndarray
    labels: np.ndarray


def predict_portion(model: Any, records: str | Path, portion: str,
                    batch_size: int = 4, speaker_normalise: bool = False) -> list[FilePrediction]:
    """Predictions for every frame (or every file, for a classifier) of `portion`, in order."""
    description = DatasetDescription.read(records)
    categorical = description.task == Task.CATEGORICAL
    keys = tuple(getattr(model, "input_keys", ("audio", "words")))
    data = make_dataset(records, portion, sequence_length=None, batch_size=batch_size,
                        shuffle=False, seed=0, features=keys + ("labels",),
                        speaker_normalise=speaker_normalise)
    # one trace for every batch shape: batch and time sizes are left unknown
    spec = {k: v for k, v in data.element_spec.items() if k in (*keys, "mask")}
    forward = forward_function(model, spec)
    if getattr(model, "per_speaker", False):  # an estimator standardising each speaker's vectors
        forward = model.statistics_of
    files = []
    for batch in data:
        predictions = np.asarray(forward({k: batch[k] for k in spec}))
        for row, count in enumerate(batch["num_frames"].numpy()):
            files.append(FilePrediction(
                id=batch["id"][row].numpy().decode(),
                speaker=batch["speaker"][row].numpy().decode(),
                frames=int(count),
                predictions=predictions[row] if categorical else predictions[row, :count],
                labels=(batch["label"][row].numpy() if categorical
                        else batch["labels"][row, :count].numpy())))
    if getattr(model, "per_speaker", False):  # every file of a speaker gives its statistics
        probabilities = model.probabilities(np.stack([f.predictions for f in files]),
                                            [f.speaker for f in files])
        for file, row in zip(files, probabilities, strict=True):
            file.predictions = row
    return files


def continuous_scores(files: list[FilePrediction], label_names: tuple[str, ...]) -> dict:
    """Per dimension: CCC of the portion concatenated and the mean of per-file CCCs."""
    predictions = np.concatenate([f.predictions for f in files])
    labels = np.concatenate([f.labels for f in files])
    concatenated = ccc(predictions, labels)
    per_file = np.array([ccc(f.predictions, f.labels) for f in files])
    scores = {"files": len(files), "frames": int(len(labels)), "dimensions": {}}
    for d, name in enumerate(label_names):
        scores["dimensions"][name] = {"ccc": float(concatenated[d]),
                                      "mean_file_ccc": float(per_file[:, d].mean())}
    scores["mean_ccc"] = float(np.mean(concatenated))
    return scores


def categorical_scores(files: list[FilePrediction], class_names: tuple[str, ...]) -> dict:
    """UAR, WA, macro F1 and the confusion matrix (rows: true class) over the files."""
    truth = np.array([int(f.labels) for f in files])
    predicted = np.array([int(np.argmax(f.predictions)) for f in files])
    scores = classification_scores(truth, predicted, len(class_names))
    return {"files": len(files), "frames": int(sum(f.frames for f in files)),
            "uar": scores["uar"], "wa": scores["wa"], "macro_f1": scores["macro_f1"],
            "classes": list(class_names), "confusion": scores["confusion"].tolist()}


def check_coverage(files: list[FilePrediction], description: DatasetDescription,
                   portion: str) -> None:
    """Fail if the frames scored are not exactly the frames the records hold."""
    expected = description.portion(portion)
    frames = sum(f.frames for f in files)
    if len(files) != expected["examples"] or frames != expected["frames"]:
        raise RuntimeError(f"scored {len(files)} files / {frames} frames of {portion}, but the "
                           f"records hold {expected['examples']} / {expected['frames']}")
    if len({f.id for f in files}) != len(files):
        raise RuntimeError(f"a file of {portion} was scored twice")
