"""How good are generated examples, before any accuracy: distance, detectability, usefulness,
spread and copying, each against the real TRAIN examples the generator learned from.

Every measure is on what the default recipe reads: the "full" utterance functionals
(tfemo.models.functionals), z-scored with the real vectors' mean and std, except the
spread, which is on the frames.

- `mmd` per class: squared maximum mean discrepancy (unbiased, Gaussian kernel, bandwidth
  the median distance between real vectors) between the class's generated and real vectors;
  `mmd_reference` is the same between two random halves of the real vectors, the value a
  perfect generator would get at that sample size.
- `c2st_auc`: a classifier two-sample test, the cross-validated AUC of logistic regression
  telling real from generated vectors (0.5: indistinguishable; 1: always told apart).
- `nn_accuracy`: leave-one-out 1-nearest-neighbour accuracy of the same question on equal
  numbers of each (0.5 ideal; near 1: told apart; near 0: copies of the training set, whose
  nearest neighbour is their own original).
- `copy_ratio`: median distance from a generated vector to its nearest real one, over the
  median distance from a real vector to its nearest other real one (about 1 for new samples
  of the same distribution; near 0: copies).
- `tgtr_uar`: "train on generated, test on real": UAR on the real vectors of logistic
  regression fitted on the generated ones (chance 1 / classes: the classes are not there).
- `spread`: per feature family, the generated frames' std over the real frames' std, averaged
  over the family's columns (1: the same spread; the VAE's were about 0.5).

`verdicts` turns them into plain warnings (thresholds below), which tfemo.generate_samples
prints after writing.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FOLDS = 5  # cross-validation folds of the classifier two-sample test
AUC_WARN = 0.8  # above: generated vectors are easy to tell from real ones
COPY_WARN = 0.5  # copy_ratio below: generated vectors sit on training vectors
NN_COPY_WARN = 0.3  # nn_accuracy below: nearest neighbours are the originals
TGTR_MARGIN = 0.1  # tgtr_uar below chance + this share of (1 - chance): no classes
SPREAD_WARN = (0.67, 1.5)  # a family's spread outside this range
Z_CLIP = 10.0  # |z| of a functional, at most (against one degenerate column)
CONSTANT_STD = 1e-6  # a functional whose real std is below this (relative) is left out
MAX_ITER = 500  # lbfgs iterations of the logistic regressions
MAX_PAIRS = 2000  # vectors per set in the distance computations (subsampled, seeded)


@dataclass
class SampleQuality:
    """The measures of one set of generated examples (see the module docstring)."""

    classes: list[str]
    mmd: dict[str, float]
    mmd_reference: dict[str, float]
    c2st_auc: float
    nn_accuracy: float
    copy_ratio: float
    tgtr_uar: float
    spread: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)

    def verdicts(self) -> list[str]:
        """Plain warnings for the measures outside their thresholds (empty: none)."""
        out = []
        if self.copy_ratio < COPY_WARN or self.nn_accuracy < NN_COPY_WARN:
            out.append(f"generated examples sit on training examples (copy ratio "
                       f"{self.copy_ratio:.2f}, 1-NN accuracy {self.nn_accuracy:.2f}): the "
                       "generator copies its training set")
        if self.c2st_auc > AUC_WARN:
            out.append(f"a linear classifier tells generated from real (AUC "
                       f"{self.c2st_auc:.2f} > {AUC_WARN})")
        chance = 1.0 / max(len(self.classes), 1)
        if self.tgtr_uar < chance + TGTR_MARGIN * (1 - chance):
            out.append(f"train on generated, test on real is near chance (UAR "
                       f"{self.tgtr_uar:.2f}, chance {chance:.2f}): the classes are not there")
        off = {k: v for k, v in self.spread.items() if not SPREAD_WARN[0] <= v <= SPREAD_WARN[1]}
        if off:
            out.append("spread (generated std / real std) off in " + ", ".join(
                f"{k} {v:.2f}" for k, v in off.items()))
        return out

    def lines(self) -> list[str]:
        """The measures as plain text lines (no control characters)."""
        per_class = ", ".join(f"{c} {self.mmd[c]:.3f} (ref {self.mmd_reference[c]:.3f})"
                              for c in self.classes if c in self.mmd)
        spread = ", ".join(f"{k} {v:.2f}" for k, v in self.spread.items())
        return [f"MMD^2 per class (generated vs real train; ref: real half vs half): {per_class}",
                f"two-sample AUC {self.c2st_auc:.3f} (0.5 = indistinguishable); "
                f"1-NN accuracy {self.nn_accuracy:.3f} (0.5 ideal, ~0 copies); "
                f"copy ratio {self.copy_ratio:.2f} (~1 new samples, ~0 copies)",
                f"train on generated, test on real: UAR {self.tgtr_uar:.3f} "
                f"(chance {1 / max(len(self.classes), 1):.3f})",
                f"spread (generated std / real std) per family: {spread}",
                *(f"warning: {v}" for v in self.verdicts())]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _standardised(real: np.ndarray, generated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both sets z-scored with the real vectors' statistics, over the columns that vary among
    the real vectors, clipped at ±Z_CLIP (one wild column must not be the whole distance);
    non-finite values set to 0."""
    real = np.nan_to_num(real, nan=0.0, posinf=0.0, neginf=0.0)
    generated = np.nan_to_num(generated, nan=0.0, posinf=0.0, neginf=0.0)
    std = real.std(axis=0)
    varies = std > CONSTANT_STD * np.maximum(np.abs(real.mean(axis=0)), 1.0)
    mean, std = real.mean(axis=0)[varies], std[varies]
    return tuple(np.clip((x[:, varies] - mean) / std, -Z_CLIP, Z_CLIP)
                 for x in (real, generated))


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)


def mmd_squared(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """Unbiased squared MMD between samples x [N, D] and y [M, D], Gaussian kernel."""
    if len(x) < 2 or len(y) < 2:
        return float("nan")
    gamma = 1.0 / (2 * bandwidth ** 2)
    kxx, kyy = np.exp(-gamma * _squared_distances(x, x)), np.exp(-gamma * _squared_distances(y, y))
    kxy = np.exp(-gamma * _squared_distances(x, y))
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) +
                 (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def _median_bandwidth(x: np.ndarray) -> float:
    distances = np.sqrt(_squared_distances(x, x))
    upper = distances[np.triu_indices(len(x), 1)]
    return float(np.median(upper)) if upper.size and np.median(upper) > 0 else 1.0


def _nn_measures(real: np.ndarray, generated: np.ndarray,
                 rng: np.random.Generator) -> tuple[float, float]:
    """Leave-one-out 1-NN accuracy on equal numbers of each, and the copy ratio."""
    n = min(len(real), len(generated), MAX_PAIRS)
    r = real[rng.choice(len(real), n, replace=False)]
    g = generated[rng.choice(len(generated), n, replace=False)]
    both = np.concatenate([r, g])
    distances = _squared_distances(both, both)
    np.fill_diagonal(distances, np.inf)
    nearest = distances.argmin(axis=1)
    is_generated = np.arange(2 * n) >= n
    accuracy = float(np.mean(is_generated[nearest] == is_generated))
    real_real = _squared_distances(real, real)
    np.fill_diagonal(real_real, np.inf)
    real_gap = np.median(np.sqrt(real_real.min(axis=1)))
    generated_gap = np.median(np.sqrt(_squared_distances(generated, real).min(axis=1)))
    return accuracy, float(generated_gap / max(real_gap, 1e-12))


@contextmanager
def _no_convergence_warnings() -> Iterator[None]:
    """Separable sets stop lbfgs at MAX_ITER: its warning would only clutter the log."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def _c2st_auc(real: np.ndarray, generated: np.ndarray, seed: int) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = np.concatenate([real, generated])
    y = np.concatenate([np.zeros(len(real)), np.ones(len(generated))])
    folds = min(FOLDS, len(real), len(generated))
    if folds < 2:
        return float("nan")
    with _no_convergence_warnings():
        scores = cross_val_predict(LogisticRegression(C=0.1, max_iter=MAX_ITER), x, y,
                                   cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                                   method="decision_function")
    return float(roc_auc_score(y, scores))


def _tgtr_uar(generated: np.ndarray, generated_labels: np.ndarray, real: np.ndarray,
              real_labels: np.ndarray, classes: int) -> float:
    from sklearn.linear_model import LogisticRegression

    from tfemo.scoring.metrics import classification_scores

    if len(np.unique(generated_labels)) < 2:
        return float("nan")
    with _no_convergence_warnings():
        model = LogisticRegression(C=0.1, max_iter=MAX_ITER).fit(generated, generated_labels)
    return float(classification_scores(real_labels, model.predict(real), classes)["uar"])


def _spread(real_frames: np.ndarray, generated_frames: np.ndarray,
            families: dict[str, int]) -> dict[str, float]:
    ratio = generated_frames.std(axis=0) / np.maximum(real_frames.std(axis=0), 1e-6)
    out, start = {}, 0
    for name, dim in families.items():
        out[name] = float(np.mean(ratio[start:start + dim]))
        start += dim
    return out


def sample_quality(real: dict[str, np.ndarray], generated: dict[str, np.ndarray],
                   class_names: list[str], families: dict[str, int],
                   pitch_column: int | None, frame_seconds: float = 0.04,
                   seed: int = 0) -> SampleQuality:
    """The measures of `generated` against `real`: each a dict of `features` [B, T, F],
    `mask` [B, T] and `label` [B] (a reader batch's arrays)."""
    from tfemo.models.functionals import utterance_functionals

    rng = np.random.default_rng(seed)
    vectors = [utterance_functionals(d["features"], d["mask"], pitch_column, frame_seconds)
               for d in (real, generated)]
    real_vectors, generated_vectors = _standardised(*vectors)
    real_labels, generated_labels = (np.asarray(d["label"]) for d in (real, generated))
    bandwidth = _median_bandwidth(real_vectors[rng.permutation(len(real_vectors))[:MAX_PAIRS]])
    mmd, reference, counts = {}, {}, {}
    for c, name in enumerate(class_names):
        r, g = real_vectors[real_labels == c], generated_vectors[generated_labels == c]
        counts[name] = int(len(g))
        if len(g) < 2 or len(r) < 4:
            continue
        mmd[name] = mmd_squared(r, g, bandwidth)
        half = rng.permutation(len(r))
        reference[name] = mmd_squared(r[half[:len(r) // 2]], r[half[len(r) // 2:]], bandwidth)
    accuracy, copy_ratio = _nn_measures(real_vectors, generated_vectors, rng)
    frames = [np.asarray(d["features"])[np.asarray(d["mask"], bool)] for d in (real, generated)]
    return SampleQuality(
        classes=list(class_names), mmd=mmd, mmd_reference=reference,
        c2st_auc=_c2st_auc(real_vectors, generated_vectors, seed), nn_accuracy=accuracy,
        copy_ratio=copy_ratio,
        tgtr_uar=_tgtr_uar(generated_vectors, generated_labels, real_vectors, real_labels,
                           len(class_names)),
        spread=_spread(frames[0], frames[1], families), counts=counts)


def read_portion_arrays(tfrecords: str | Path, portion: str) -> dict[str, np.ndarray]:
    """features [B, T, F] (raw units), mask [B, T] and label [B] of a whole portion."""
    from tfemo.records.reader import make_dataset

    batches = list(make_dataset(tfrecords, portion, sequence_length=None, batch_size=64,
                                shuffle=False, seed=0, features=("features",)))
    longest = max(int(b["features"].shape[1]) for b in batches)
    pad = [((0, 0), (0, longest - int(b["features"].shape[1])), (0, 0)) for b in batches]
    return {"features": np.concatenate([np.pad(b["features"].numpy(), p)
                                        for b, p in zip(batches, pad, strict=True)]),
            "mask": np.concatenate([np.pad(b["mask"].numpy(), p[:2]) for b, p in
                                    zip(batches, pad, strict=True)]),
            "label": np.concatenate([b["label"].numpy() for b in batches])}


def portion_quality(tfrecords: str | Path, seed: int = 0) -> SampleQuality:
    """The measures of a records folder's `generated` portion against its `train` portion."""
    from tfemo.models.estimator import pitch_column
    from tfemo.records.description import DatasetDescription
    from tfemo.records.generated import GENERATED

    description = DatasetDescription.read(tfrecords)
    return sample_quality(read_portion_arrays(tfrecords, "train"),
                          read_portion_arrays(tfrecords, GENERATED),
                          list(description.label_names), dict(description.features),
                          pitch_column(description), description.frame_seconds, seed)
