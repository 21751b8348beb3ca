"""Classical (scikit-learn) classifiers on utterance statistics: the `svm` and `logreg` models.

An `UtteranceEstimator` turns each utterance's per-frame features (the reader's batch dict:
`features` [B, T, F] and `mask` [B, T]) into the statistics conv1d's utterance variants pool
(the same masked functions: mean and std; "rich" adds the 10th/90th percentiles and the mean
absolute frame-to-frame change) or the "full" functionals (tfemo/models/functionals.py: 16
per feature, plus F0 over the voiced frames and voicing rates), then a scikit-learn pipeline:
StandardScaler -> classifier.
The scaler is fit on the training utterances only (the portions tfemo.train trains on).
It is not a Keras model: it is fitted once (tfemo/training/estimator.py) and saved as one
joblib file per step; `predict_batch` gives class probabilities like the Keras models' call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from tfemo.models.conv1d import (
    masked_mean_abs_delta,
    masked_mean_std,
    masked_percentiles,
)
from tfemo.models.functionals import utterance_functionals

STATISTICS = ("basic", "rich", "full")
STATISTICS_HELP = ("utterance statistics: basic (mean, std), rich (also 10th/90th percentiles "
                   "and mean abs delta) or full (16 functionals per feature, plus F0 over the "
                   "voiced frames and voicing rates when the records hold pitch)")


def utterance_statistics(features: np.ndarray, mask: np.ndarray, rich: bool = True) -> np.ndarray:
    """[B, S*F] statistics of features [B, T, F] over the real frames (mask [B, T]): mean and
    std, plus (rich) 10th/90th percentiles and mean |delta|; conv1d's own masked functions."""
    features = np.asarray(features, np.float32)
    mask = np.asarray(mask, bool)
    parts = list(masked_mean_std(features, mask))
    if rich:
        parts += [*masked_percentiles(features, mask), masked_mean_abs_delta(features, mask)]
    return np.concatenate([np.asarray(p, np.float64) for p in parts], axis=-1)


def pitch_column(description: Any) -> int | None:
    """The F0 column of the records' features (the `pitch` family: F0, voiced), or None."""
    start = 0
    for name, dim in description.features.items():
        if name == "pitch":
            return start
        start += dim
    return None


def estimator_layout(description: Any) -> dict[str, Any]:
    """The record layout an estimator needs: feature width, pitch column, frame length."""
    return {"feature_dim": description.feature_dim, "pitch_column": pitch_column(description),
            "frame_seconds": float(getattr(description, "frame_seconds", 0.04))}


class UtteranceEstimator:
    """Utterance statistics -> StandardScaler -> a scikit-learn classifier with predict_proba."""

    input_keys = ("features",)

    def __init__(self, *, name: str, class_names: Sequence[str], feature_dim: int,
                 statistics: str, classifier: Any, pitch_column: int | None = None,
                 frame_seconds: float = 0.04) -> None:
        if statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got {statistics!r}")
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.name = name
        self.class_names = tuple(str(c) for c in class_names)
        self.feature_dim = int(feature_dim)
        self.statistics = statistics
        self.pitch_column = pitch_column
        self.frame_seconds = float(frame_seconds)
        self.pipeline = make_pipeline(StandardScaler(), classifier)

    def statistics_of(self, batch: Mapping[str, Any]) -> np.ndarray:
        """The utterance vectors [B, S*F] of a reader batch (dict with features and mask)."""
        if "features" not in batch:
            raise KeyError(f"{self.name} needs batch key 'features' (records written without "
                           f"per-frame features?); got keys {sorted(batch)}")
        features = np.asarray(batch["features"])
        if features.shape[-1] != self.feature_dim:
            raise ValueError(f"{self.name} was fitted on {self.feature_dim} features, the "
                             f"batch has {features.shape[-1]}")
        mask = batch.get("mask")
        mask = np.ones(features.shape[:2], bool) if mask is None else np.asarray(mask, bool)
        if self.statistics == "full":
            return utterance_functionals(features, mask, self.pitch_column, self.frame_seconds)
        return utterance_statistics(features, mask, self.statistics == "rich")

    def set_seed(self, seed: int) -> None:
        """Seed the classifier's randomness, where it has any (logreg's solver)."""
        classifier = self.pipeline.steps[-1][1]
        if "random_state" in classifier.get_params():
            classifier.set_params(random_state=seed)

    def fit(self, vectors: np.ndarray, labels: np.ndarray) -> UtteranceEstimator:
        """Fit scaler and classifier on training utterance vectors and class indices."""
        classifier = self.pipeline.steps[-1][1]
        if isinstance(classifier.get_params().get("cv"), int):  # cross-validated calibration
            smallest = int(np.unique(labels, return_counts=True)[1].min())
            if smallest < 2:
                raise ValueError(f"{self.name} calibrates its probabilities on folds of the "
                                 "training utterances: every class needs at least 2")
            classifier.set_params(cv=min(classifier.get_params()["cv"], smallest))
        self.pipeline.fit(vectors, labels)
        return self

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities [B, C] in class_names order (0 for a class never trained on)."""
        proba = self.pipeline.predict_proba(vectors)
        out = np.zeros((len(vectors), len(self.class_names)), np.float32)
        out[:, self.pipeline.classes_.astype(int)] = proba
        return out

    def predict_batch(self, batch: Mapping[str, Any]) -> np.ndarray:
        """Class probabilities [B, C] of a reader batch: the estimator's forward pass."""
        return self.probabilities(self.statistics_of(batch))

    def save(self, path: str | Path) -> None:
        """Write the fitted estimator to `path` (joblib), atomically."""
        path = Path(path)
        partial = path.with_name(path.name + ".partial")
        joblib.dump(self, partial)
        partial.replace(path)

    @staticmethod
    def load(path: str | Path) -> UtteranceEstimator:
        """A fitted estimator saved by `save`; TypeError if the file holds something else."""
        estimator = joblib.load(path)
        if not isinstance(estimator, UtteranceEstimator):
            raise TypeError(f"{path}: not a tfemo estimator ({type(estimator).__name__})")
        return estimator

    def get_config(self) -> dict[str, Any]:
        """What model.json records: the statistics, sizes and the classifier's parameters."""
        classifier = self.pipeline.steps[-1][1]
        params = {k: v for k, v in classifier.get_params().items()
                  if isinstance(v, int | float | str | bool) or v is None}
        return {"name": self.name, "class_names": list(self.class_names),
                "feature_dim": self.feature_dim, "statistics": self.statistics,
                "pitch_column": self.pitch_column, "frame_seconds": self.frame_seconds,
                "classifier": type(classifier).__name__, "params": params}
