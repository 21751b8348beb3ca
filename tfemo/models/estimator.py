"""Classical (scikit-learn) classifiers on utterance statistics: the `svm` and `logreg` models.

An `UtteranceEstimator` turns each utterance's per-frame features (the reader's batch dict:
`features` [B, T, F] and `mask` [B, T]) into the statistics conv1d's utterance variants pool
(the same masked functions: mean and std; "rich" adds the 10th/90th percentiles and the mean
absolute frame-to-frame change) or the "full" functionals (tfemo/models/functionals.py: 16
per feature, plus F0 over the voiced frames and voicing rates), then a scikit-learn pipeline:
StandardScaler -> classifier.
The scaler is fit on the training utterances only (the portions tfemo.train trains on).
With `utterance_norm = "speaker"` each speaker's vectors are first z-scored with that
speaker's own statistics (tfemo/models/functionals.py), at fit time and when a portion is
scored (every file of a speaker gives its statistics); a file scored alone (tfemo.predict)
has no speaker statistics and gets the training speakers' pooled mean and average
within-speaker std instead.
It is not a Keras model: it is fitted once (tfemo/training/estimator.py) and saved as one
joblib file per step; `predict_batch` gives class probabilities like the Keras models' call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from tfemo.core.options import Options, option
from tfemo.models.conv1d import (
    masked_mean_abs_delta,
    masked_mean_std,
    masked_percentiles,
)
from tfemo.models.functionals import (
    full_width,
    speaker_fallback,
    standardise_by_speaker,
    utterance_functionals,
)
from tfemo.models.gemaps_functionals import gemaps_functionals, gemaps_width, missing_families

STATISTICS = ("basic", "rich", "full", "gemaps", "basic+gemaps", "rich+gemaps", "full+gemaps")
STATISTICS_HELP = ("utterance statistics: basic (mean, std), rich (also 10th/90th percentiles "
                   "and mean abs delta), full (16 functionals per feature, plus F0 over the "
                   "voiced frames and voicing rates when the records hold pitch), gemaps (a "
                   "compact eGeMAPS-like set: needs the pitch, mfcc and tilt families), or "
                   "basic, rich or full +gemaps (both, the gemaps block weighted by "
                   "gemaps_weight)")


UTTERANCE_NORMS = ("train", "speaker")


@dataclass(frozen=True)
class EstimatorOptions(Options):
    """The options every estimator model shares (SVMConfig and LogRegConfig derive from it)."""

    utterance_norm: str = option(
        "train", "utterance vectors: standardised with the training utterances' statistics "
        "only (train), or first z-scored per speaker with that speaker's own statistics "
        "(speaker; a file predicted alone gets the training speakers' average statistics)",
        choices=UTTERANCE_NORMS)
    gemaps_weight: float = option(
        4.0, "with statistics basic/rich/full+gemaps: the weight of the gemaps block after "
        "scaling (an L2 model then penalises its coefficients gemaps_weight^2 times less than "
        "the other block's)")
    calibration_folds: int = option(
        0, "fit the calibration temperature on out-of-fold predictions of this many inner "
        "speaker folds of the training speakers (0: none; then calibrate on a devel portion "
        "with tfemo.eval --calibrate)")


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


def family_columns(description: Any) -> dict[str, tuple[int, int]]:
    """{family: (first column, width)} of the records' features, in their order."""
    columns, start = {}, 0
    for name, dim in description.features.items():
        columns[name] = (start, int(dim))
        start += int(dim)
    return columns


def estimator_layout(description: Any) -> dict[str, Any]:
    """The record layout an estimator needs: feature width, families, frame length."""
    return {"feature_dim": description.feature_dim, "pitch_column": pitch_column(description),
            "families": family_columns(description),
            "frame_seconds": float(getattr(description, "frame_seconds", 0.04))}


def utterance_vectors(statistics: str, features: np.ndarray, mask: np.ndarray,
                      families: dict[str, tuple[int, int]], frame_seconds: float
                      ) -> np.ndarray:
    """The utterance vectors [B, D] of `statistics` (STATISTICS) of features [B, T, F] over
    the real frames (mask [B, T]); "<other>+gemaps" is the gemaps block, then the other."""
    parts = []
    for name in sorted(statistics.split("+"), key=lambda part: part != "gemaps"):
        if name == "gemaps":
            parts.append(gemaps_functionals(features, mask, families, frame_seconds))
        elif name == "full":
            pitch = families["pitch"][0] if "pitch" in families else None
            parts.append(utterance_functionals(features, mask, pitch, frame_seconds))
        else:
            parts.append(utterance_statistics(features, mask, name == "rich"))
    return np.concatenate(parts, axis=1)


def statistics_width(statistics: str, feature_dim: int,
                     families: dict[str, tuple[int, int]]) -> int:
    """The length of the utterance vector of `statistics` (STATISTICS) for these records."""
    pitch = families["pitch"][0] if "pitch" in families else None
    widths = {"basic": 2 * feature_dim, "rich": 5 * feature_dim,
              "full": full_width(feature_dim, pitch)}
    return sum(gemaps_width(families) if name == "gemaps" else widths[name]
               for name in statistics.split("+"))


def scale_columns(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """vectors [N, D] times per-column weights [D] (a pipeline step: picklable by name)."""
    return np.asarray(vectors) * weights


class UtteranceEstimator:
    """Utterance statistics -> StandardScaler -> a scikit-learn classifier with predict_proba."""

    input_keys = ("features",)

    def __init__(self, *, name: str, class_names: Sequence[str], feature_dim: int,
                 statistics: str, classifier: Any, pitch_column: int | None = None,
                 frame_seconds: float = 0.04, utterance_norm: str = "train",
                 families: dict[str, tuple[int, int]] | None = None,
                 gemaps_weight: float = 1.0) -> None:
        if statistics not in STATISTICS:
            raise ValueError(f"statistics must be one of {STATISTICS}, got {statistics!r}")
        if utterance_norm not in UTTERANCE_NORMS:
            raise ValueError(f"utterance_norm must be one of {UTTERANCE_NORMS}, "
                             f"got {utterance_norm!r}")
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer, StandardScaler

        if families is None:  # a layout without family names: pitch is all that is known
            families = {} if pitch_column is None else {"pitch": (pitch_column, 2)}
        if "gemaps" in statistics and missing_families(families):
            raise ValueError(f"statistics {statistics} needs the feature families pitch, mfcc "
                             f"and tilt; the records lack "
                             f"{', '.join(missing_families(families))} (write them with "
                             "make_tfrecords --features ...,tilt)")

        self.name = name
        self.class_names = tuple(str(c) for c in class_names)
        self.feature_dim = int(feature_dim)
        self.statistics = statistics
        self.pitch_column = pitch_column
        self.frame_seconds = float(frame_seconds)
        self.utterance_norm = utterance_norm
        self.families = dict(families)
        self.gemaps_weight = float(gemaps_weight)
        self.fallback: tuple[np.ndarray, ...] | None = None  # per speaker: lone files
        steps = [StandardScaler()]
        if "+gemaps" in statistics:
            width = gemaps_width(self.families)
            weights = np.ones(statistics_width(statistics, self.feature_dim, self.families))
            weights[:width] = self.gemaps_weight
            steps.append(FunctionTransformer(scale_columns, kw_args={"weights": weights}))
        self.pipeline = make_pipeline(*steps, classifier)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Load an estimator saved before the families and gemaps_weight existed."""
        pitch = state.get("pitch_column")
        state.setdefault("families", {} if pitch is None else {"pitch": (pitch, 2)})
        state.setdefault("gemaps_weight", 1.0)
        self.__dict__.update(state)

    @property
    def per_speaker(self) -> bool:
        """Whether scoring needs every file of a speaker together (utterance_norm speaker)."""
        return self.utterance_norm == "speaker"

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
        return utterance_vectors(self.statistics, features, mask, self.families,
                                 self.frame_seconds)

    def set_seed(self, seed: int) -> None:
        """Seed the classifier's randomness, where it has any (logreg's solver)."""
        classifier = self.pipeline.steps[-1][1]
        if "random_state" in classifier.get_params():
            classifier.set_params(random_state=seed)

    def fit(self, vectors: np.ndarray, labels: np.ndarray,
            speakers: Sequence[str] | None = None) -> UtteranceEstimator:
        """Fit scaler and classifier on training utterance vectors and class indices (and,
        with utterance_norm speaker, each vector's speaker)."""
        if self.per_speaker:
            if speakers is None:
                raise ValueError(f"{self.name} with utterance_norm speaker needs the speakers")
            speakers = np.asarray(speakers)
            self.fallback = speaker_fallback(vectors, speakers)
            vectors = standardise_by_speaker(vectors, speakers, self.fallback)
        classifier = self.pipeline.steps[-1][1]
        if isinstance(classifier.get_params().get("cv"), int):  # cross-validated calibration
            smallest = int(np.unique(labels, return_counts=True)[1].min())
            if smallest < 2:
                raise ValueError(f"{self.name} calibrates its probabilities on folds of the "
                                 "training utterances: every class needs at least 2")
            classifier.set_params(cv=min(classifier.get_params()["cv"], smallest))
        self.pipeline.fit(vectors, labels)
        return self

    def probabilities(self, vectors: np.ndarray,
                      speakers: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities [B, C] in class_names order (0 for a class never trained on).
        With utterance_norm speaker, `speakers` groups the vectors by speaker (None: each
        vector alone, standardised with the training speakers' average statistics)."""
        if self.per_speaker:
            if self.fallback is None:
                raise ValueError(f"{self.name}: not fitted")
            vectors = standardise_by_speaker(
                vectors, None if speakers is None else np.asarray(speakers), self.fallback)
        proba = self.pipeline.predict_proba(vectors)
        out = np.zeros((len(vectors), len(self.class_names)), np.float32)
        out[:, self.pipeline.classes_.astype(int)] = proba
        return out

    def predict_batch(self, batch: Mapping[str, Any]) -> np.ndarray:
        """Class probabilities [B, C] of a reader batch: the estimator's forward pass (each
        file alone; `predict_speakers` scores a portion with per-speaker statistics)."""
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
                "utterance_norm": self.utterance_norm, "gemaps_weight": self.gemaps_weight,
                "classifier": type(classifier).__name__, "params": params}
